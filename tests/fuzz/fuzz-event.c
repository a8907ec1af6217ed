/* fuzz-event.c: libFuzzer target for event validation
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: NUL-separated strings: a text to validate, then header keys and
 * values. Checks ep_event_text_is_valid() against an independent reference
 * of SPEC's rule (valid UTF-8, every character allowed by XML 1.0), and
 * that the headers JSON built from accepted headers is a JSON object that
 * json-glib reads back with the same members.
 */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "ep-event-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static gboolean
reference_is_valid (const char *text,
                    gsize       len)
{
  const char *p = text;

  if (!g_utf8_validate_len (text, len, NULL))
    return FALSE;
  while (p < text + len)
    {
      gunichar c = g_utf8_get_char (p);

      if (!(c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
            (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF)))
        return FALSE;
      p = g_utf8_next_char (p);
    }
  return TRUE;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  gsize len = strlen (text);
  const char *reason = NULL, *bad_key = NULL;
  g_autoptr(GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GString) json = g_string_new (NULL);
  g_autoptr(GPtrArray) parts = g_ptr_array_new ();
  static const EpHeader defaults[] = { { "app-name", "fuzz" }, { "os-name", "" } };

  /* 1. one text, with its explicit length (NUL bytes inside are invalid) */
  g_assert_cmpint (ep_event_text_is_valid ((const char *) data, size, &reason), ==,
                   memchr (data, '\0', size) == NULL && reference_is_valid ((const char *) data, size));

  /* 2. headers: the NUL-separated parts as key, value, key, value... */
  for (gsize start = 0; start <= size; )
    {
      const guint8 *end = memchr (data + start, '\0', size - start);
      gsize part_len = end != NULL ? (gsize) (end - data) - start : size - start;

      g_ptr_array_add (parts, g_strndup ((const char *) data + start, part_len));
      start += part_len + 1;
    }
  for (guint i = 0; i + 1 < parts->len; i += 2)
    g_hash_table_insert (headers, parts->pdata[i], parts->pdata[i + 1]);
  if (ep_event_build_headers_json (json, defaults, G_N_ELEMENTS (defaults), headers, &reason, &bad_key))
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *object;

      json_parser_load_from_data (parser, json->str, json->len, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      g_assert_nonnull (object);
      for (guint i = 0; i + 1 < parts->len; i += 2)
        if (g_hash_table_lookup (headers, parts->pdata[i]) == parts->pdata[i + 1] &&
            *(char *) parts->pdata[i + 1] != '\0')
          g_assert_cmpstr (json_object_get_string_member (object, parts->pdata[i]), ==,
                           parts->pdata[i + 1]);
    }
  else
    g_assert_nonnull (reason);
  g_ptr_array_set_free_func (parts, g_free);
  (void) len;
  return 0;
}
