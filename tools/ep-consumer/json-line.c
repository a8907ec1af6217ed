/* json-line.c: the JSON line of an accepted event, written straight into a buffer
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The line is what json-glib's JsonGenerator wrote for a JsonBuilder
 * object of id, name, headers, payload, endpoint and received, byte for
 * byte, without the builder's nodes: strings are escaped exactly as
 * json-glib 1.6 escapes them (json_line_append_string), and the Headers
 * attribute, the one member that json-glib parsed and wrote again, is
 * copied as it came when it is a flat object (json_line_scan_flat_object:
 * string members of printable ASCII without escapes, names distinct and
 * not empty), which JsonParser and JsonGenerator give back unchanged.
 * Anything else in Headers still goes through JsonParser and
 * JsonGenerator as before. tests/test-consumer-json-line.c compares the two
 * ways on generated inputs; the gateway's profile put the builder, the
 * parser and their allocations at 17 % of its CPU per event.
 */
#include "config.h"

#include <string.h>

#include "ep-glib/ep-json-scan.h"
#include "json-line.h"

/* Bytes json-glib's json_strescape () writes unchanged: it escapes '"',
 * '\\', 0x01 to 0x1e and 0x7f (0x1f, and every byte from 0x80, go as they
 * are: its test is on a signed char) */
static inline gboolean
is_plain_byte (guchar c)
{
  return c != '"' && c != '\\' && (c >= 0x1f && c != 0x7f);
}

/* @str (a C string: json-glib stops at its first NUL) as a JSON string */
void
json_line_append_string (GString    *out,
                         const char *str)
{
  const guchar *p = (const guchar *) str;

  g_string_append_c (out, '"');
  while (*p != '\0')
    {
      const guchar *run = p;

      while (*p != '\0' && is_plain_byte (*p))
        p++;
      if (p > run)
        g_string_append_len (out, (const char *) run, p - run);
      if (*p == '\0')
        break;
      switch (*p)
        {
        case '"':
        case '\\':
          g_string_append_c (out, '\\');
          g_string_append_c (out, (char) *p);
          break;
        case '\b':
          g_string_append (out, "\\b");
          break;
        case '\f':
          g_string_append (out, "\\f");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          g_string_append_printf (out, "\\u00%02x", (guint) *p);
        }
      p++;
    }
  g_string_append_c (out, '"');
}

static inline gboolean
is_flat_char (guchar c)
{
  return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

/* A string of flat characters at text[*pos] (its opening quote); moves
 * *pos past the closing quote */
static gboolean
scan_flat_string (const char *text,
                  gsize       len,
                  gsize      *pos,
                  gsize      *start,
                  gsize      *end)
{
  gsize i = *pos;

  if (i >= len || text[i] != '"')
    return FALSE;
  *start = ++i;
  while (i < len && is_flat_char (text[i]))
    i++;
  if (i >= len || text[i] != '"')
    return FALSE;
  *end = i;
  *pos = i + 1;

  return TRUE;
}

#define FLAT_MAX_MEMBERS 64

/* Whether @text is {"name":"value",...} with no whitespace, every name and
 * value made of printable ASCII without '"' or '\\', every name distinct
 * and not empty (JsonParser refuses an empty one), at most 64 members: the
 * text JsonParser then JsonGenerator would give back byte for byte. When it
 * is, @func (nullable) hears of each member in order. */
gboolean
json_line_scan_flat_object (const char         *text,
                            gsize               len,
                            JsonLineMemberFunc  func,
                            gpointer            user_data)
{
  gsize names[FLAT_MAX_MEMBERS][2];
  gsize values[FLAT_MAX_MEMBERS][2];
  guint n = 0;
  gsize pos = 1;

  if (len < 2 || text[0] != '{')
    return FALSE;
  if (len == 2)
    return text[1] == '}';
  for (;;)
    {
      if (n == FLAT_MAX_MEMBERS
          || !scan_flat_string (text, len, &pos, &names[n][0], &names[n][1])
          || names[n][1] == names[n][0]
          || pos >= len || text[pos++] != ':'
          || !scan_flat_string (text, len, &pos, &values[n][0], &values[n][1]))
        return FALSE;
      for (guint i = 0; i < n; i++)
        if (names[i][1] - names[i][0] == names[n][1] - names[n][0]
            && memcmp (text + names[i][0], text + names[n][0],
                       names[n][1] - names[n][0]) == 0)
          return FALSE;
      n++;
      if (pos >= len)
        return FALSE;
      if (text[pos] == '}')
        break;
      if (text[pos++] != ',')
        return FALSE;
    }
  if (pos + 1 != len)
    return FALSE;

  for (guint i = 0; func != NULL && i < n; i++)
    func (text + names[i][0], names[i][1] - names[i][0],
          text + values[i][0], values[i][1] - values[i][0], user_data);

  return TRUE;
}

/* The Headers attribute: its JSON object, or the text when it is not one
 * strict JSON object (json-glib would read "{}{}" as {} and leak the
 * rest), or NULL without one */
JsonNode *
event_headers_node (const SqsEntry *entry)
{
  const SqsAttribute *headers = sqs_entry_find_string_attribute (entry, "Headers");
  g_autoptr(JsonParser) parser = NULL;
  JsonNode *node;

  if (headers == NULL)
    return NULL;

  parser = json_parser_new ();
  if (ep_json_scan_object (headers->string_value->str, headers->string_value->len,
                           NULL, NULL, NULL, NULL)
      && json_parser_load_from_data (parser, headers->string_value->str,
                                     headers->string_value->len, NULL))
    return json_node_copy (json_parser_get_root (parser));

  node = json_node_new (JSON_NODE_VALUE);
  json_node_set_string (node, headers->string_value->str);

  return node;
}

static void
append_headers (GString        *out,
                const SqsEntry *entry)
{
  const SqsAttribute *headers = sqs_entry_find_string_attribute (entry, "Headers");
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonGenerator) generator = NULL;

  if (headers == NULL)
    {
      g_string_append (out, "null");
      return;
    }
  /* A flat object with a NUL in it is not one: the NUL ends the scan */
  if (json_line_scan_flat_object (headers->string_value->str, headers->string_value->len,
                                  NULL, NULL))
    {
      g_string_append_len (out, headers->string_value->str, headers->string_value->len);
      return;
    }

  node = event_headers_node (entry);
  generator = json_generator_new ();
  json_generator_set_root (generator, node);
  json_generator_to_gstring (generator, out);
}

static void
append_member (GString    *out,
               const char *name,
               const char *value)
{
  g_string_append_c (out, '"');
  g_string_append (out, name);
  g_string_append (out, "\":");
  if (value != NULL)
    json_line_append_string (out, value);
  else
    g_string_append (out, "null");
}

/* Appends the event's JSON line (no newline) to @out */
void
event_append_json_line (GString        *out,
                        const SqsEntry *entry,
                        const char     *endpoint,
                        const char     *received)
{
  const SqsAttribute *name = sqs_entry_find_string_attribute (entry, "Name");

  g_string_append_c (out, '{');
  append_member (out, "id", entry->id->str);
  g_string_append_c (out, ',');
  append_member (out, "name", name != NULL ? name->string_value->str : NULL);
  g_string_append (out, ",\"headers\":");
  append_headers (out, entry);
  g_string_append_c (out, ',');
  append_member (out, "payload", entry->body->str);
  g_string_append_c (out, ',');
  append_member (out, "endpoint", endpoint);
  g_string_append_c (out, ',');
  append_member (out, "received", received);
  g_string_append_c (out, '}');
}

char *
event_to_json_line (const SqsEntry *entry,
                    const char     *endpoint,
                    const char     *received)
{
  GString *out = g_string_sized_new (256 + entry->body->len);

  event_append_json_line (out, entry, endpoint, received);

  return g_string_free (out, FALSE);
}
