/* fuzz-json-scan.c: libFuzzer target for the strict JSON scans
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: any bytes. What ep_json_scan_value() accepts, JsonParser reads
 * (and, with nothing after the value, does not leak: LSan checks), as an
 * object exactly when ep_json_scan_object() accepts it too. What the object
 * scan accepts, JsonParser reads as an object with the same "uuid"/"ts"
 * members (json-glib takes more: comments, single quotes, 01...). Then the
 * members the scan reports are put back together, as stamp-payload splices
 * them: the result must scan again with the same counts and read as the
 * same JSON tree.
 */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "ep-json-scan.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static const char * const stamp_names[] = { "uuid", "ts", NULL };

typedef struct {
  const char *text;
  GString    *joined;
} Join;

static void
join_member (gsize    key_start,
             gsize    value_end,
             gboolean marked,
             gpointer user_data)
{
  Join *join = user_data;

  g_assert_cmpuint (key_start, <, value_end);
  g_assert_true (join->text[key_start] == '"');
  if (join->joined->len > 1)
    g_string_append_c (join->joined, ',');
  g_string_append_len (join->joined, join->text + key_start, value_end - key_start);
}

static JsonNode *
parse_value (const char *text,
             gsize       len)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, len, NULL))
    g_error ("the scan accepts what json-glib refuses: %.*s", (int) len, text);
  root = json_parser_get_root (parser);
  g_assert_nonnull (root);
  return json_node_copy (root);
}

static JsonNode *
parse (const char *text,
       gsize       len)
{
  JsonNode *root = parse_value (text, len);

  g_assert_true (JSON_NODE_HOLDS_OBJECT (root));
  return root;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  /* An exact-size copy: ASan catches a read past the end. */
  g_autofree char *text = g_memdup2 (data, size);
  Join join = { text, NULL };
  EpJsonObjectScan scan, again;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonNode) joined_root = NULL;
  JsonObject *object;

  if (!ep_json_scan_value (text, size))
    {
      g_assert_false (ep_json_scan_object (text, size, stamp_names, NULL, NULL, &scan));
      return 0;
    }
  root = parse_value (text, size);
  if (!ep_json_scan_object (text, size, stamp_names, NULL, NULL, &scan))
    {
      g_assert_false (JSON_NODE_HOLDS_OBJECT (root));
      return 0;
    }
  g_clear_pointer (&root, json_node_unref);

  g_assert_cmpuint (scan.open, <, scan.close);
  g_assert_true (text[scan.open] == '{' && text[scan.close] == '}');
  g_assert_cmpuint (scan.n_marked, <=, scan.n_members);
  root = parse (text, size);
  object = json_node_get_object (root);
  g_assert_cmpuint (scan.n_members, >=, json_object_get_size (object));
  /* json-glib cuts a key at an escaped NUL ("ts\u0000" reads as "ts"). */
  if (g_strstr_len (text, size, "\\u0000") == NULL)
    g_assert_cmpint (scan.n_marked > 0, ==,
                     json_object_has_member (object, "uuid") || json_object_has_member (object, "ts"));

  join.joined = g_string_new ("{");
  g_assert_true (ep_json_scan_object (text, size, stamp_names, join_member, &join, &again));
  g_assert_cmpuint (again.n_members, ==, scan.n_members);
  g_string_append_c (join.joined, '}');
  g_assert_true (ep_json_scan_object (join.joined->str, join.joined->len, stamp_names, NULL, NULL, &again));
  g_assert_cmpuint (again.n_members, ==, scan.n_members);
  g_assert_cmpuint (again.n_marked, ==, scan.n_marked);
  joined_root = parse (join.joined->str, join.joined->len);
  g_assert_true (json_node_equal (root, joined_root));
  g_string_free (join.joined, TRUE);
  return 0;
}
