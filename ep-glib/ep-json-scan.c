/* ep-json-scan.c: a strict validating scan of one JSON object (or value)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * RFC 8259, strictly: whitespace is space, tab, LF and CR (no byte order
 * mark); strings hold no control character, only the eight short escapes and
 * \uXXXX, a high surrogate escape only followed by a low one, and valid UTF-8
 * (no overlong form, no encoded surrogate, nothing past U+10FFFF); numbers
 * are -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; literals are true, false
 * and null; nothing follows the object (or value) but whitespace.
 *
 * The scan is a state machine over labels, not a recursion: the nesting is
 * a bit stack (object or array) of EP_JSON_MAX_DEPTH levels on the C stack.
 * Strings, most of a payload, are crossed eight bytes at a time.
 *
 * The tests compare it with json-glib over a corpus and the fuzz target
 * fuzz-json-scan does so over generated inputs: what this scan accepts,
 * JsonParser accepts as an object with the same marked members.
 *
 * It is also the tools' guard (ep-consumer, ep-tool; built for them as the
 * static library ep-json-scan, see meson.build): json-glib 1.6 reads "{}{}"
 * or "1{}" as its first value and leaks the rest, so text goes to JsonParser
 * only once ep_json_scan_value() has accepted it.
 */
#include "config.h"

#include <string.h>

#include "ep-json-scan.h"

#define ONES  G_GUINT64_CONSTANT (0x0101010101010101)
#define HIGHS G_GUINT64_CONSTANT (0x8080808080808080)

/* Exact as a whole: some byte of @word is zero. */
static inline guint64
zero_bytes (guint64 word)
{
  return (word - ONES) & ~word & HIGHS;
}

/* Whether a string's next eight bytes hold a quote, a backslash, a control
 * byte or a non-ASCII byte: one of them needs a closer look. */
static inline gboolean
needs_a_look (guint64 word)
{
  return (zero_bytes (word ^ (ONES * '"')) | zero_bytes (word ^ (ONES * '\\')) |
          (((word - ONES * 0x20) | word) & HIGHS)) != 0;
}

static inline const guchar *
skip_whitespace (const guchar *p,
                 const guchar *end)
{
  while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
    p++;
  return p;
}

static inline const guchar *
skip_digits (const guchar *p,
             const guchar *end)
{
  while (p < end && *p >= '0' && *p <= '9')
    p++;
  return p;
}

/* Reads four hex digits at @p into @unit. */
static gboolean
read_hex4 (const guchar *p,
           const guchar *end,
           guint        *unit)
{
  if (end - p < 4)
    return FALSE;
  *unit = 0;
  for (guint i = 0; i < 4; i++)
    {
      int digit = g_ascii_xdigit_value (p[i]);

      if (digit < 0)
        return FALSE;
      *unit = (*unit << 4) | digit;
    }
  return TRUE;
}

/* @p is at a byte >= 0x80: one valid UTF-8 sequence. */
static const guchar *
skip_utf8 (const guchar *p,
           const guchar *end)
{
  guchar c = *p;
  gunichar ch, min;
  guint n;

  if (c >= 0xC2 && c <= 0xDF)
    n = 1, ch = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0)
    n = 2, ch = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 3, ch = c & 0x07, min = 0x10000;
  else
    return NULL;
  if ((gsize) (end - p) <= n)
    return NULL;
  for (guint i = 1; i <= n; i++)
    {
      if ((p[i] & 0xC0) != 0x80)
        return NULL;
      ch = (ch << 6) | (p[i] & 0x3F);
    }
  if (ch < min || ch > 0x10FFFF || (ch >= 0xD800 && ch <= 0xDFFF))
    return NULL;
  return p + n + 1;
}

/* @p is at a backslash: one escape (a surrogate pair counts as one). */
static const guchar *
skip_escape (const guchar *p,
             const guchar *end)
{
  guint unit;

  if (end - p < 2)
    return NULL;
  switch (p[1])
    {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
      return p + 2;
    case 'u':
      break;
    default:
      return NULL;
    }
  if (!read_hex4 (p + 2, end, &unit) || (unit >= 0xDC00 && unit <= 0xDFFF))
    return NULL;
  p += 6;
  if (unit < 0xD800 || unit > 0xDBFF)
    return p;
  if (end - p < 2 || p[0] != '\\' || p[1] != 'u' ||
      !read_hex4 (p + 2, end, &unit) || unit < 0xDC00 || unit > 0xDFFF)
    return NULL;
  return p + 6;
}

/* @p is at the opening quote: returns the byte after the closing one. */
static const guchar *
skip_string (const guchar *p,
             const guchar *end)
{
  p++;
  for (;;)
    {
      guint64 word;

      while (end - p >= 8)
        {
          memcpy (&word, p, 8);
          if (needs_a_look (word))
            break;
          p += 8;
        }
      if (p == end)
        return NULL;
      if (*p == '"')
        return p + 1;
      if (*p == '\\')
        p = skip_escape (p, end);
      else if (*p >= 0x80)
        p = skip_utf8 (p, end);
      else if (*p < 0x20)
        return NULL;
      else
        p++;
      if (p == NULL)
        return NULL;
    }
}

static const guchar *
skip_number (const guchar *p,
             const guchar *end)
{
  const guchar *digits;

  if (*p == '-')
    p++;
  if (p == end)
    return NULL;
  if (*p == '0')
    p++;
  else if (*p >= '1' && *p <= '9')
    p = skip_digits (p + 1, end);
  else
    return NULL;
  if (p < end && *p == '.')
    {
      digits = p + 1;
      p = skip_digits (digits, end);
      if (p == digits)
        return NULL;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      digits = p;
      p = skip_digits (digits, end);
      if (p == digits)
        return NULL;
    }
  return p;
}

static inline const guchar *
skip_literal (const guchar *p,
              const guchar *end,
              const char   *word,
              gsize         len)
{
  return (gsize) (end - p) >= len && memcmp (p, word, len) == 0 ? p + len : NULL;
}

/* What the valid escape \@c (not \u) stands for. */
static guint
short_escape_value (guchar c)
{
  switch (c)
    {
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:    /* '"', '\\' and '/' stand for themselves */
      return c;
    }
}

/* Whether the valid string @key..@key_end (quotes included) decodes to the
 * ASCII @name. */
static gboolean
key_equals (const guchar *key,
            const guchar *key_end,
            const char   *name)
{
  const guchar *p = key + 1;
  const guchar *end = key_end - 1;

  for (; *name != '\0'; name++)
    {
      guint c = 0;

      if (p == end)
        return FALSE;
      if (*p != '\\')
        c = *p++;
      else if (p[1] != 'u')
        {
          c = short_escape_value (p[1]);
          p += 2;
        }
      else
        {
          read_hex4 (p + 2, end, &c);
          p += 6;
        }
      if (c != (guchar) *name)
        return FALSE;
    }
  return p == end;
}

static gboolean
is_marked (const guchar       *key,
           const guchar       *key_end,
           const char * const *names)
{
  for (; names != NULL && *names != NULL; names++)
    if (key_equals (key, key_end, *names))
      return TRUE;
  return FALSE;
}

#define PUSH(is_object) \
  G_STMT_START { \
    if (depth == EP_JSON_MAX_DEPTH) \
      return FALSE; \
    if (is_object) \
      in_object[depth / 8] |= 1u << (depth % 8); \
    else \
      in_object[depth / 8] &= ~(1u << (depth % 8)); \
    depth++; \
  } G_STMT_END
#define TOP_IS_OBJECT() ((in_object[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1)

/* The scan of ep_json_scan_object() (@any_value FALSE) and
 * ep_json_scan_value() (@any_value TRUE: the top level may be any value;
 * members are only reported for an object). */
static gboolean
scan_text (const char         *text,
           gsize               len,
           gboolean            any_value,
           const char * const *marked_names,
           EpJsonMemberFunc    member_func,
           gpointer            user_data,
           EpJsonObjectScan   *scan)
{
  const guchar *start = (const guchar *) text;
  const guchar *end, *p;
  const guchar *key = NULL, *key_end = NULL;
  guint8 in_object[(EP_JSON_MAX_DEPTH + 7) / 8];
  EpJsonObjectScan found = { 0, };
  guint depth = 0;

  /* Empty text may come as NULL, and NULL + 0 is undefined. */
  if (len == 0)
    return FALSE;
  end = start + len;
  p = skip_whitespace (start, end);
  if (p == end || (!any_value && *p != '{'))
    return FALSE;
  found.open = p - start;
  goto value;

open_object:   /* at '{' */
  PUSH (TRUE);
  p = skip_whitespace (p + 1, end);
  if (p < end && *p == '}')
    goto closed;
  goto member;

open_array:    /* at '[' */
  PUSH (FALSE);
  p = skip_whitespace (p + 1, end);
  if (p < end && *p == ']')
    goto closed;
  goto value;

member:        /* at a key */
  if (p == end || *p != '"')
    return FALSE;
  if (depth == 1)
    key = p;
  p = skip_string (p, end);
  if (p == NULL)
    return FALSE;
  if (depth == 1)
    key_end = p;
  p = skip_whitespace (p, end);
  if (p == end || *p != ':')
    return FALSE;
  p = skip_whitespace (p + 1, end);
  goto value;

value:         /* at a value */
  if (p == end)
    return FALSE;
  switch (*p)
    {
    case '{':
      goto open_object;
    case '[':
      goto open_array;
    case '"':
      p = skip_string (p, end);
      break;
    case 't':
      p = skip_literal (p, end, "true", 4);
      break;
    case 'f':
      p = skip_literal (p, end, "false", 5);
      break;
    case 'n':
      p = skip_literal (p, end, "null", 4);
      break;
    default:
      p = skip_number (p, end);
      break;
    }
  if (p == NULL)
    return FALSE;
  goto after_value;

closed:        /* at the '}' or ']' that closes the innermost level */
  p++;
  depth--;
  if (depth == 0)
    goto done;
  goto after_value;

after_value:   /* just after a value */
  if (depth == 0)
    goto done;
  if (depth == 1 && TOP_IS_OBJECT ())
    {
      gboolean marked = is_marked (key, key_end, marked_names);

      found.n_members++;
      found.n_marked += marked;
      if (member_func != NULL)
        member_func (key - start, p - start, marked, user_data);
    }
  p = skip_whitespace (p, end);
  if (p == end)
    return FALSE;
  if (*p == ',')
    {
      p = skip_whitespace (p + 1, end);
      if (TOP_IS_OBJECT ())
        goto member;
      goto value;
    }
  if (*p == (TOP_IS_OBJECT () ? '}' : ']'))
    goto closed;
  return FALSE;

done:          /* just after the top-level value */
  found.close = p - 1 - start;
  if (skip_whitespace (p, end) != end)
    return FALSE;
  if (scan != NULL)
    *scan = found;
  return TRUE;
}

/* Whether @text (@len bytes, not necessarily nul-terminated) is exactly
 * one JSON object with whitespace around it, nested at most
 * EP_JSON_MAX_DEPTH levels deep. @marked_names (nullable) is a
 * NULL-terminated list of ASCII member names; @member_func (nullable) is
 * called for each top-level member. @scan (nullable) is set only on
 * success. */
gboolean
ep_json_scan_object (const char         *text,
                     gsize               len,
                     const char * const *marked_names,
                     EpJsonMemberFunc    member_func,
                     gpointer            user_data,
                     EpJsonObjectScan   *scan)
{
  return scan_text (text, len, FALSE, marked_names, member_func, user_data, scan);
}

/* Whether @text (@len bytes, not necessarily nul-terminated) is exactly
 * one JSON value of any kind (object, array, string, number, true, false
 * or null) with whitespace around it, nested at most EP_JSON_MAX_DEPTH
 * levels deep: what JsonParser can be given without leaking. */
gboolean
ep_json_scan_value (const char *text,
                    gsize       len)
{
  return scan_text (text, len, TRUE, NULL, NULL, NULL, NULL);
}
