/* ep-event.c: building, validating and (de)serializing one event
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything here is on the send path and written for it: no allocation
 * beyond the caller's reusable buffers, one pass over each string.
 *
 * The record is written by hand in GVariant's serialization format instead
 * of through g_variant_new(): building a GVariant tree costs tens of
 * microseconds, which is the whole send budget. The layout of "(xssss)" in
 * normal form is:
 *
 *   [0..8)        created_us, host byte order (the tuple is 8-aligned)
 *   id\0 name\0 headers_json\0 payload\0
 *   end(headers_json) end(name) end(id)   framing offsets, little-endian,
 *                                         in reverse order, all of the
 *                                         same width: the smallest of 1,
 *                                         2, 4 or 8 bytes that can address
 *                                         the whole serialized tuple.
 *
 * The tests check it byte for byte against g_variant_new().
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"

#define ONES  G_GUINT64_CONSTANT (0x0101010101010101)
#define HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

/* Whether any byte of @word is >= 0x80 or < 0x20 (the classic "has a byte
 * less than n" trick; exact, since bytes >= 0x80 are caught first). */
static inline gboolean
has_high_or_control_byte (guint64 word)
{
  return ((word | ((word - ONES * 0x20) & ~word)) & HIGHS) != 0;
}

gboolean
ep_event_unichar_is_allowed (gunichar ch)
{
  return ch == 0x9 || ch == 0xA || ch == 0xD ||
         (ch >= 0x20 && ch <= 0xD7FF) ||
         (ch >= 0xE000 && ch <= 0xFFFD) ||
         (ch >= 0x10000 && ch <= 0x10FFFF);
}

gboolean
ep_event_text_is_valid (const char  *text,
                        gssize       len,
                        const char **reason)
{
  const guchar *p = (const guchar *) text;
  const guchar *end;

  if (len < 0)
    len = strlen (text);
  end = p + len;

  while (p < end)
    {
      guchar c;
      gunichar ch;
      guint n, i;

      /* Eight printable ASCII bytes at a time: the common case. */
      while (end - p >= 8)
        {
          guint64 word;

          memcpy (&word, p, 8);
          if (has_high_or_control_byte (word))
            break;
          p += 8;
        }
      if (p == end)
        break;

      c = *p;

      if (G_LIKELY (c >= 0x20 && c < 0x80))
        {
          p++;
          continue;
        }
      if (c < 0x20)
        {
          if (c == '\t' || c == '\n' || c == '\r')
            {
              p++;
              continue;
            }
          *reason = "contains a control character that XML 1.0 does not allow";
          return FALSE;
        }

      if (c >= 0xC2 && c <= 0xDF)
        n = 1, ch = c & 0x1F;
      else if ((c & 0xF0) == 0xE0)
        n = 2, ch = c & 0x0F;
      else if (c >= 0xF0 && c <= 0xF4)
        n = 3, ch = c & 0x07;
      else
        goto bad_utf8;

      if ((gsize) (end - p) <= n)
        goto bad_utf8;
      for (i = 1; i <= n; i++)
        {
          if ((p[i] & 0xC0) != 0x80)
            goto bad_utf8;
          ch = (ch << 6) | (p[i] & 0x3F);
        }
      if ((n == 2 && ch < 0x800) || (n == 3 && (ch < 0x10000 || ch > 0x10FFFF)))
        goto bad_utf8;
      if (ch >= 0xD800 && ch <= 0xDFFF)
        goto bad_utf8;
      if (!ep_event_unichar_is_allowed (ch))
        {
          *reason = "contains U+FFFE or U+FFFF, which XML 1.0 does not allow";
          return FALSE;
        }
      p += n + 1;
    }
  return TRUE;

bad_utf8:
  *reason = "is not valid UTF-8";
  return FALSE;
}

char *
ep_event_dup_shown_text (const char *text,
                         gsize       max_bytes)
{
  /* strnlen: never reads past the string's end nor past @max_bytes. */
  return g_utf8_make_valid (text, strnlen (text, max_bytes));
}

void
ep_event_append_json_string (GString    *out,
                             const char *text)
{
  static const char hex[] = "0123456789abcdef";
  const char *run = text;
  const char *p;

  g_string_append_c (out, '"');
  for (p = text; *p != '\0'; p++)
    {
      guchar c = (guchar) *p;

      if (G_LIKELY (c >= 0x20 && c != '"' && c != '\\'))
        continue;

      g_string_append_len (out, run, p - run);
      run = p + 1;
      switch (c)
        {
        case '"':  g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default:
          g_string_append (out, "\\u00");
          g_string_append_c (out, hex[c >> 4]);
          g_string_append_c (out, hex[c & 0xF]);
          break;
        }
    }
  g_string_append_len (out, run, p - run);
  g_string_append_c (out, '"');
}

static gboolean
append_member (GString     *out,
               const char  *key,
               const char  *value,
               const char **reason,
               const char **bad_key)
{
  if (!ep_event_text_is_valid (key, -1, reason) ||
      !ep_event_text_is_valid (value, -1, reason))
    {
      *bad_key = key;
      return FALSE;
    }
  if (out->len > 1)
    g_string_append_c (out, ',');
  ep_event_append_json_string (out, key);
  g_string_append_c (out, ':');
  ep_event_append_json_string (out, value);
  return TRUE;
}

static gboolean
is_default_key (const EpHeader *defaults,
                guint           n_defaults,
                const char     *key)
{
  for (guint i = 0; i < n_defaults; i++)
    if (strcmp (defaults[i].key, key) == 0)
      return TRUE;
  return FALSE;
}

gboolean
ep_event_build_headers_json (GString         *out,
                             const EpHeader  *defaults,
                             guint            n_defaults,
                             GHashTable      *caller,
                             const char     **reason,
                             const char     **bad_key)
{
  g_string_truncate (out, 0);
  g_string_append_c (out, '{');

  for (guint i = 0; i < n_defaults; i++)
    {
      const char *value = defaults[i].value;

      if (caller != NULL && g_hash_table_contains (caller, defaults[i].key))
        value = g_hash_table_lookup (caller, defaults[i].key);
      if (value == NULL || (*value == '\0' && value == defaults[i].value))
        continue;
      if (!append_member (out, defaults[i].key, value, reason, bad_key))
        return FALSE;
    }

  if (caller != NULL)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, caller);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          if (key == NULL || value == NULL)
            {
              *reason = "has a NULL header key or value";
              *bad_key = NULL;
              return FALSE;
            }
          if (*(const char *) key == '\0')
            {
              *reason = "has an empty header key";
              *bad_key = NULL;
              return FALSE;
            }
          if (is_default_key (defaults, n_defaults, key))
            continue;
          if (!append_member (out, key, value, reason, bad_key))
            return FALSE;
        }
    }

  g_string_append_c (out, '}');
  return TRUE;
}

static guint
offset_width (gsize body_len,
              guint n_offsets)
{
  if (body_len + n_offsets <= G_MAXUINT8)
    return 1;
  if (body_len + 2 * n_offsets <= G_MAXUINT16)
    return 2;
  if (body_len + 4 * n_offsets <= G_MAXUINT32)
    return 4;
  return 8;
}

static void
write_offset (guint8 *dest,
              gsize   value,
              guint   width)
{
  for (guint i = 0; i < width; i++)
    dest[i] = (value >> (8 * i)) & 0xFF;
}

void
ep_event_record_build (GByteArray *out,
                       gint64      created_us,
                       const char *id,
                       const char *name,
                       gsize       name_len,
                       const char *headers_json,
                       gsize       headers_len,
                       const char *payload,
                       gsize       payload_len)
{
  gsize id_len = strlen (id);
  gsize end_id = 8 + id_len + 1;
  gsize end_name = end_id + name_len + 1;
  gsize end_headers = end_name + headers_len + 1;
  gsize body_len = end_headers + payload_len + 1;
  guint width = offset_width (body_len, 3);
  guint8 *p;

  g_byte_array_set_size (out, body_len + 3 * width);
  p = out->data;
  memcpy (p, &created_us, 8);
  memcpy (p + 8, id, id_len + 1);
  memcpy (p + end_id, name, name_len);
  p[end_name - 1] = '\0';
  memcpy (p + end_name, headers_json, headers_len);
  p[end_headers - 1] = '\0';
  memcpy (p + end_headers, payload, payload_len);
  p[body_len - 1] = '\0';
  write_offset (p + body_len, end_headers, width);
  write_offset (p + body_len + width, end_name, width);
  write_offset (p + body_len + 2 * width, end_id, width);
}

static gsize read_offset (const guint8 *src, guint width);

/* Whether @data[0..@size) is a string in GVariant's normal form: valid
 * UTF-8, then one nul and no other. */
static gboolean
string_is_normal (const guint8 *data,
                  gsize         size)
{
  return size > 0 && data[size - 1] == '\0' &&
         g_utf8_validate_len ((const char *) data, size - 1, NULL);
}

/* Checks and reads the record by hand rather than through GVariant (no
 * GVariant, no varargs; this runs for every event a drain sends), with
 * exactly the checks g_variant_is_normal_form() makes on an "(xssss)": the
 * 8-byte integer at 0, then the four strings back to back, the first three
 * ending where the framing offsets at the end say (their width set by the
 * record's size), each in normal form; the last ends at the offsets.
 * test-event checks both agree on mangled records. */
gboolean
ep_event_parse (GBytes   *record,
                EpEvent  *out,
                GError  **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (record, &len);
  guint width = len > G_MAXUINT32 ? 8 : len > G_MAXUINT16 ? 4 : len > G_MAXUINT8 ? 2 : 1;
  const char *strings[4];
  gsize ends[4];
  gsize start = 8;

  memset (out, 0, sizeof *out);
  if (data == NULL || len < 8 + 3 * width)
    goto malformed;
  for (guint i = 0; i < 3; i++)
    ends[i] = read_offset (data + len - (i + 1) * width, width);
  ends[3] = len - 3 * width;
  for (guint i = 0; i < 4; i++)
    {
      if (ends[i] < start || ends[i] > ends[3] || !string_is_normal (data + start, ends[i] - start))
        goto malformed;
      strings[i] = (const char *) data + start;
      start = ends[i];
    }

  memcpy (&out->created_us, data, sizeof out->created_us);
  out->id = strings[0];
  out->name = strings[1];
  out->headers_json = strings[2];
  out->payload = strings[3];
  /* The four strings without their nuls. */
  out->logical_size = ends[3] - 8 - 4;
  out->record = g_bytes_ref (record);
  return TRUE;

malformed:
  g_set_error_literal (error, EP_ERROR, EP_ERROR_STORAGE,
                       "Stored event record is malformed (not a normal-form (xssss) GVariant)");
  return FALSE;
}

void
ep_event_clear (EpEvent *event)
{
  g_clear_pointer (&event->record, g_bytes_unref);
  memset (event, 0, sizeof *event);
}

static gsize
read_offset (const guint8 *src,
             guint         width)
{
  gsize value = 0;

  for (guint i = 0; i < width; i++)
    value |= (gsize) src[i] << (8 * i);
  return value;
}

const char *
ep_event_record_peek_name (const guint8 *data,
                           gsize         len)
{
  guint width = len > G_MAXUINT32 ? 8 : len > G_MAXUINT16 ? 4 : len > G_MAXUINT8 ? 2 : 1;
  gsize end_id, end_name;

  if (len < 8 + 3 * width)
    return NULL;
  end_id = read_offset (data + len - width, width);
  end_name = read_offset (data + len - 2 * width, width);
  if (end_id <= 8 || end_name <= end_id + 1 || end_name > len - 3 * width)
    return NULL;
  if (data[end_name - 1] != '\0' || memchr (data + end_id, '\0', end_name - end_id - 1) != NULL)
    return NULL;
  return (const char *) data + end_id;
}

const char *
ep_event_record_peek_id (const guint8 *data,
                         gsize         len)
{
  guint width = len > G_MAXUINT32 ? 8 : len > G_MAXUINT16 ? 4 : len > G_MAXUINT8 ? 2 : 1;
  gsize end_id;

  if (ep_event_record_peek_name (data, len) == NULL)
    return NULL;
  end_id = read_offset (data + len - width, width);
  if (data[end_id - 1] != '\0' || memchr (data + 8, '\0', end_id - 8 - 1) != NULL)
    return NULL;
  return (const char *) data + 8;
}

int
ep_event_record_peek_category (const guint8 *data,
                               gsize         len)
{
  static const char key[] = "\"consent-category\":\"";
  guint width = len > G_MAXUINT32 ? 8 : len > G_MAXUINT16 ? 4 : len > G_MAXUINT8 ? 2 : 1;
  const char *headers, *value;
  gsize end_name, end_headers;

  if (ep_event_record_peek_name (data, len) == NULL)
    return -1;
  end_name = read_offset (data + len - 2 * width, width);
  end_headers = read_offset (data + len - 3 * width, width);
  if (end_headers <= end_name || end_headers > len - 3 * width || data[end_headers - 1] != '\0')
    return -1;
  headers = (const char *) data + end_name;
  value = strstr (headers, key);
  if (value == NULL)
    return -1;
  value += sizeof key - 1;
  for (int category = EP_CONSENT_CATEGORY_NECESSARY; category <= EP_CONSENT_CATEGORY_TARGETING;
       category++)
    {
      const char *text = ep_consent_category_to_header (category);
      gsize n = strlen (text);

      if (strncmp (value, text, n) == 0 && value[n] == '"')
        return category;
    }
  return -1;
}

void
ep_event_format_uuid_v4 (GRand *rand,
                         char   out[EP_UUID_LEN + 1])
{
  static const char hex[] = "0123456789abcdef";
  guint8 bytes[16];
  guint o = 0;

  for (guint i = 0; i < 16; i += 4)
    {
      guint32 r = g_rand_int (rand);
      memcpy (bytes + i, &r, 4);
    }
  bytes[6] = (bytes[6] & 0x0F) | 0x40;   /* version 4 */
  bytes[8] = (bytes[8] & 0x3F) | 0x80;   /* RFC 4122 variant */

  for (guint i = 0; i < 16; i++)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        out[o++] = '-';
      out[o++] = hex[bytes[i] >> 4];
      out[o++] = hex[bytes[i] & 0xF];
    }
  out[o] = '\0';
}

gsize
ep_event_format_decimal (gint64 value,
                         char   out[24])
{
  char digits[24];
  guint64 v = value < 0 ? -(guint64) value : (guint64) value;
  gsize n = 0, len = 0;

  do
    digits[n++] = '0' + v % 10;
  while ((v /= 10) != 0);
  if (value < 0)
    out[len++] = '-';
  while (n > 0)
    out[len++] = digits[--n];
  out[len] = '\0';
  return len;
}

const char *
ep_consent_category_to_header (EpConsentCategory category)
{
  switch (category)
    {
    case EP_CONSENT_CATEGORY_NECESSARY:
      return "NECESSARY";
    case EP_CONSENT_CATEGORY_PERFORMANCE:
      return "PERFORMANCE";
    case EP_CONSENT_CATEGORY_TARGETING:
      return "TARGETING";
    default:
      return NULL;
    }
}
