/* test-json-scan.c: the strict JSON object scan of stamp-payload
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "ep-json-scan.h"

static const char * const stamp_names[] = { "uuid", "ts", NULL };

/* Scans @len bytes copied into a buffer of exactly that size, so that
 * ASan catches a read past the end. */
static gboolean
scan_len (const char       *text,
          gsize             len,
          EpJsonObjectScan *scan)
{
  g_autofree char *copy = g_memdup2 (text, len);
  EpJsonObjectScan ignored;

  return ep_json_scan_object (copy, len, stamp_names, NULL, NULL, scan != NULL ? scan : &ignored);
}

static gboolean
scan (const char *text)
{
  return scan_len (text, strlen (text), NULL);
}

/* The same for ep_json_scan_value (). */
static gboolean
scan_value_len (const char *text,
                gsize       len)
{
  g_autofree char *copy = g_memdup2 (text, len);

  return ep_json_scan_value (copy, len);
}

static gboolean
scan_value (const char *text)
{
  return scan_value_len (text, strlen (text));
}

/* Valid JSON objects (RFC 8259), and what json-glib also takes. */
static const char * const accepted[] = {
  "{}",
  " \t\r\n{ \t\r\n} \t\r\n",
  "{\"a\":1}",
  "{\"\":0}",
  "{\"a\":-0,\"b\":0.5,\"c\":-1.25e+10,\"d\":1E-3,\"e\":10e5,\"f\":123456789012345678901234567890}",
  "{\"a\":true,\"b\":false,\"c\":null}",
  "{\"a\":[],\"b\":{},\"c\":[[],{}],\"d\":[1,\"x\",null,{\"e\":[true]}]}",
  "{\"s\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u20AC \\ud83c\\udfb5 \\uFFFF \\u0000\"}",
  "{\"utf8\":\"\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80\"}",
  "{\"\xc3\xa9\":\"key\"}",
  "{\"a\":1,\"a\":2}",
  "{ \"a\" : [ 1 , 2 ] , \"b\" : { \"c\" : \"d\" } }",
  "{\"uuid\":\"mine\",\"ts\":\"x\",\"c\":3}",
  "{\"u\\u0075id\":1}",
  "{\"nested\":{\"uuid\":1,\"ts\":2}}",
  "{\"del\":\"\x7f\"}",
};

static const char * const rejected[] = {
  /* not an object */
  "", " ", "[]", "[1,2]", "\"text\"", "42", "null", "true", "not json",
  /* incomplete */
  "{", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":1,", "{\"a\":\"x", "{\"a\":[1}", "{\"a\":{}",
  /* structure */
  "{,}", "{\"a\":1,}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
  "{\"a\":[1 2]}", "{\"a\":true false}", "{\"a\":\"x\"y}", "{a:1}", "{1:1}", "{\"a\"::1}",
  "{\"a\":1]", "{\"a\":[1}]", "{\"a\":{]}",
  /* numbers */
  "{\"a\":01}", "{\"a\":-01}", "{\"a\":00}", "{\"a\":1.}", "{\"a\":0.}", "{\"a\":.5}", "{\"a\":-}",
  "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":1.e5}", "{\"a\":1.5e}", "{\"a\":0x10}",
  "{\"a\":1_000}", "{\"a\":--1}", "{\"a\":-a}", "{\"a\":1e5.5}", "{\"a\":NaN}", "{\"a\":Infinity}",
  "{\"a\":-Infinity}",
  /* literals */
  "{\"a\":TRUE}", "{\"a\":nul}", "{\"a\":nulls}", "{\"a\":tru}", "{\"a\":undefined}", "{\"a\":falsey}",
  /* strings and escapes */
  "{'a':1}", "{\"a\":'x'}", "{\"a\":\"\\x41\"}", "{\"a\":\"\\a\"}", "{\"a\":\"\\'\"}",
  "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\U00e9\"}", "{\"a\":\"\\\"}",
  "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\\ud800x\"}",
  "{\"a\":\"\\ud800\\ud800\"}", "{\"a\":\"\\udfff\\udc00\"}", "{\"a\":\"\\ud83d\\",
  "{\"a\":\"tab\there\"}", "{\"a\":\"new\nline\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\x1f\"}",
  /* invalid UTF-8 */
  "{\"a\":\"\x80\"}", "{\"a\":\"\xc0\x80\"}", "{\"a\":\"\xc1\xbf\"}", "{\"a\":\"\xe0\x80\x80\"}",
  "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf0\x80\x80\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
  "{\"a\":\"\xf5\x80\x80\x80\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":\"\xe2\x82\"}",
  "{\"a\":\"\xc3(\"}", "{\"\xc3\":1}", "{\"a\":1}\xc3\xa9", "\xc3\xa9{}",
  /* trailing data, and what json-glib also takes */
  "{} x", "{}{}", "{\"a\":1}{}", "{}[]", "{},", "{}}", "{}\"\"",
  "var x = {\"a\":1}", "var x = {\"a\":1};", "/*c*/{\"a\":1}", "{\"a\":1 /*c*/}", "{\"a\":1}//c",
  "\xef\xbb\xbf{}", "{}\xef\xbb\xbf",
  /* whitespace RFC 8259 does not have */
  "\f{}", "{\v}", "{\"a\":\f1}", "{}\x0b",
};

static void
test_accepts (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (accepted); i++)
    if (!scan (accepted[i]))
      g_error ("rejected: %s", accepted[i]);
}

static void
test_rejects (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (rejected); i++)
    if (scan (rejected[i]))
      g_error ("accepted: %s", rejected[i]);
  /* Empty text may come as NULL (g_memdup2 (x, 0) gives NULL). */
  g_assert_false (scan_len (NULL, 0, NULL));
  /* A NUL byte counts as a byte: outside a string and inside one. */
  g_assert_false (scan_len ("{}\0", 3, NULL));
  g_assert_false (scan_len ("{\"a\":\"\0\"}", 9, NULL));
  g_assert_true (scan_len ("{\"a\":\"\\u0000\"}", 14, NULL));
}

/* Values of any kind at the top level: what ep-consumer and ep-tool check
 * before JsonParser reads text (json-glib 1.6 reads "{}{}" or "1{}" as the
 * first value, says it succeeded and leaks the rest). */
static const char * const top_level_values[] = {
  /* the valid non-objects of `rejected` */
  "[]", "[1,2]", "\"text\"", "42", "null", "true",
  /* more */
  " \t\r\n[ {\"a\":[{}]} , -0.5e3 ]\n", "\"\"", "false", "-0", "1E+2", "\"\\u00e9\xc3\xa9\"",
  NULL
};

static void
test_values (void)
{
  static const char * const not_values[] = {
    "", " ", "\t\r\n", "x", "01", "1.", "-", "nul", "'x'", "[1,]", "[", "]", "\"", "1 /*c*/",
    /* one value, then more text */
    "{}{}", "1{}", "1 2", "[][]", "[] x", "\"a\"\"b\"", "null null", "true,", "0x", "-1-",
    "{\"QueueUrl\":\"q\",\"Entries\":[]}{\"Entries\":[]}", "[1]]", "\"a\" \"", "{}\xc3\xa9",
  };
  g_autoptr(GString) deep = g_string_new (NULL);

  for (guint i = 0; top_level_values[i] != NULL; i++)
    if (!scan_value (top_level_values[i]))
      g_error ("not a value: %s", top_level_values[i]);
  for (guint i = 0; i < G_N_ELEMENTS (not_values); i++)
    if (scan_value (not_values[i]))
      g_error ("a value: %s", not_values[i]);
  /* Every object is a value; of the rejected objects, only the valid
   * non-objects are. */
  for (guint i = 0; i < G_N_ELEMENTS (accepted); i++)
    g_assert_true (scan_value (accepted[i]));
  for (guint i = 0; i < G_N_ELEMENTS (rejected); i++)
    if (scan_value (rejected[i]) != g_strv_contains (top_level_values, rejected[i]))
      g_error ("%s: expected %s", rejected[i],
               g_strv_contains (top_level_values, rejected[i]) ? "a value" : "not a value");
  g_assert_false (scan_value_len (NULL, 0));
  g_assert_false (scan_value_len ("1\0", 2));
  g_assert_true (scan_value_len ("12", 1));
  /* A top-level array counts as a level, as an object does. */
  for (guint i = 0; i < EP_JSON_MAX_DEPTH; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < EP_JSON_MAX_DEPTH; i++)
    g_string_append_c (deep, ']');
  g_assert_true (scan_value (deep->str));
  g_string_prepend_c (deep, '[');
  g_string_append_c (deep, ']');
  g_assert_false (scan_value (deep->str));
}

/* The length is the end: what follows is not read. */
static void
test_length (void)
{
  const char *text = "{\"a\":[1,2]}garbage";
  gsize object_len = strlen ("{\"a\":[1,2]}");

  g_assert_true (scan_len (text, object_len, NULL));
  for (gsize len = 0; len < object_len; len++)
    g_assert_false (scan_len (text, len, NULL));
  g_assert_false (scan_len (text, object_len + 1, NULL));
  /* Cut inside an escape, a surrogate pair, a UTF-8 sequence, a literal, a number. */
  g_assert_false (scan_len ("{\"a\":\"\\u00e9\"}", 9, NULL));
  g_assert_false (scan_len ("{\"a\":\"\\ud83c\\udfb5\"}", 14, NULL));
  g_assert_false (scan_len ("{\"a\":\"\xe2\x82\xac\"}", 8, NULL));
  g_assert_false (scan_len ("{\"a\":true}", 8, NULL));
  g_assert_false (scan_len ("{\"a\":1e5}", 7, NULL));
}

/* Nesting up to EP_JSON_MAX_DEPTH levels (the top-level object is one),
 * objects and arrays mixed so that the bit stack is read back at every
 * level. */
static char *
nested (guint depth)
{
  GString *text = g_string_new ("{\"a\":");

  for (guint i = 1; i < depth; i++)
    g_string_append (text, i % 3 == 0 ? "{\"b\":" : "[0,");
  g_string_append (text, "0");
  for (guint i = depth - 1; i >= 1; i--)
    g_string_append (text, i % 3 == 0 ? ",\"c\":1}" : ",1]");
  g_string_append_c (text, '}');
  return g_string_free (text, FALSE);
}

static void
test_depth (void)
{
  g_autofree char *deepest = nested (EP_JSON_MAX_DEPTH);
  g_autofree char *too_deep = nested (EP_JSON_MAX_DEPTH + 1);
  g_autoptr(JsonParser) parser = json_parser_new ();
  GString *arrays = g_string_new ("{\"a\":");

  g_assert_true (scan (deepest));
  g_assert_true (json_parser_load_from_data (parser, deepest, -1, NULL));
  g_assert_false (scan (too_deep));
  for (guint i = 1; i < EP_JSON_MAX_DEPTH; i++)
    g_string_append_c (arrays, '[');
  for (guint i = 1; i < EP_JSON_MAX_DEPTH; i++)
    g_string_append_c (arrays, ']');
  g_string_append_c (arrays, '}');
  g_assert_true (scan (arrays->str));
  g_string_insert_c (arrays, 5, '[');
  g_string_insert_c (arrays, arrays->len - 1, ']');
  g_assert_false (scan (arrays->str));
  g_string_free (arrays, TRUE);
}

typedef struct {
  const char *text;
  GString    *members;
} Walk;

static void
note_member (gsize    key_start,
             gsize    value_end,
             gboolean marked,
             gpointer user_data)
{
  Walk *walk = user_data;

  g_string_append_printf (walk->members, "%s%.*s|", marked ? "*" : "",
                          (int) (value_end - key_start), walk->text + key_start);
}

static void
test_marked_members (void)
{
  struct {
    const char *text;
    guint       n_members;
    guint       n_marked;
    const char *members;
  } cases[] = {
    { "{}", 0, 0, "" },
    { " { } ", 0, 0, "" },
    { "{\"uuid\":1}", 1, 1, "*\"uuid\":1|" },
    { "{ \"ts\" : [1, {\"uuid\":2}] , \"x\" : \"uuid\" }", 2, 1,
      "*\"ts\" : [1, {\"uuid\":2}]|\"x\" : \"uuid\"|" },
    { "{\"u\\u0075id\":1,\"\\u0074\\u0073\":2,\"\\u0055uid\":3}", 3, 2,
      "*\"u\\u0075id\":1|*\"\\u0074\\u0073\":2|\"\\u0055uid\":3|" },
    { "{\"uuid \":1,\"uui\":2,\"uuidx\":3,\"t\":4,\"tss\":5,\"TS\":6,\"t\\u0000\":7}", 7, 0,
      "\"uuid \":1|\"uui\":2|\"uuidx\":3|\"t\":4|\"tss\":5|\"TS\":6|\"t\\u0000\":7|" },
    { "{\"uuid\":1,\"uuid\":{},\"ts\":\"\\\"\"}", 3, 3, "*\"uuid\":1|*\"uuid\":{}|*\"ts\":\"\\\"\"|" },
    { "{\"a\":{\"ts\":1},\"b\":[{\"uuid\":1}]}", 2, 0, "\"a\":{\"ts\":1}|\"b\":[{\"uuid\":1}]|" },
    { "{\"\\t\\/s\":1,\"\\ud83c\\udfb5\":2}", 2, 0, "\"\\t\\/s\":1|\"\\ud83c\\udfb5\":2|" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Walk walk = { cases[i].text, g_string_new (NULL) };
      EpJsonObjectScan found;
      const char *open = strchr (cases[i].text, '{');
      const char *close = strrchr (cases[i].text, '}');

      g_assert_true (ep_json_scan_object (cases[i].text, strlen (cases[i].text), stamp_names,
                                          note_member, &walk, &found));
      g_assert_cmpuint (found.n_members, ==, cases[i].n_members);
      g_assert_cmpuint (found.n_marked, ==, cases[i].n_marked);
      g_assert_cmpuint (found.open, ==, open - cases[i].text);
      g_assert_cmpuint (found.close, ==, close - cases[i].text);
      g_assert_cmpstr (walk.members->str, ==, cases[i].members);
      g_string_free (walk.members, TRUE);
    }
  /* Without names, nothing is marked. */
  {
    EpJsonObjectScan found;

    g_assert_true (ep_json_scan_object ("{\"uuid\":1}", 10, NULL, NULL, NULL, &found));
    g_assert_cmpuint (found.n_marked, ==, 0);
    g_assert_cmpuint (found.n_members, ==, 1);
  }
}

/* Strings are crossed eight bytes at a time: a byte that matters must be
 * seen at every position of a word. */
static void
test_string_word_positions (void)
{
  static const struct {
    const char *inner;
    gboolean    valid;
  } specials[] = {
    { "\\\"", TRUE }, { "\\\\", TRUE }, { "\\u00e9", TRUE }, { "\xc3\xa9", TRUE },
    { "\xf0\x9f\x8e\xb5", TRUE }, { "\x7f", TRUE }, { " ", TRUE },
    { "\x1f", FALSE }, { "\t", FALSE }, { "\x80", FALSE }, { "\xc3", FALSE }, { "\\", FALSE },
    { "\\q", FALSE }, { "\"", FALSE },
  };

  for (guint s = 0; s < G_N_ELEMENTS (specials); s++)
    for (guint before = 0; before < 20; before++)
      for (guint after = 0; after < 12; after += 5)
        {
          g_autofree char *text = g_strdup_printf ("{\"k\":\"%.*s%s%.*s\"}",
                                                   (int) before, "abcdefghijklmnopqrstuvwxyz",
                                                   specials[s].inner,
                                                   (int) after, "abcdefghijklmnopqrstuvwxyz");

          if (scan (text) != specials[s].valid)
            g_error ("%s: expected %s", text, specials[s].valid ? "valid" : "invalid");
        }
}

/* The differential check: over a corpus (the lists above and every
 * truncation, deletion and substitution of a few seeds), what the value
 * scan accepts json-glib parses (so it has nothing after the value to leak)
 * and what the object scan accepts it parses as an object with the same
 * marked members; what json-glib refuses, the scans refuse. json-glib takes
 * more (see `rejected`), so the converse is not checked. */
static void
check_against_json_glib (JsonParser *parser,
                         const char *text,
                         gsize       len,
                         guint      *n_accepted)
{
  EpJsonObjectScan found;
  gboolean is_object;
  JsonObject *object;
  JsonNode *root;

  is_object = scan_len (text, len, &found);
  if (!scan_value_len (text, len))
    {
      g_assert_false (is_object);
      return;
    }
  if (!json_parser_load_from_data (parser, text, len, NULL))
    g_error ("the scan accepts what json-glib refuses: %.*s", (int) len, text);
  root = json_parser_get_root (parser);
  g_assert_nonnull (root);
  g_assert_cmpint (is_object, ==, JSON_NODE_HOLDS_OBJECT (root));
  if (!is_object)
    return;
  (*n_accepted)++;
  object = json_node_get_object (root);
  g_assert_cmpint (found.n_marked > 0, ==,
                   json_object_has_member (object, "uuid") || json_object_has_member (object, "ts"));
  g_assert_cmpuint (found.n_members, >=, json_object_get_size (object));
}

static void
test_json_glib_differential (void)
{
  static const char * const seeds[] = {
    "{\"uuid\":\"mine\",\"ts\":-1.5e3,\"a\":[true,false,null]}",
    " { \"k\" : { \"n\" : [ 0 , -0.25E+2 ] } , \"s\" : \"\\u00e9\\n\\ud83c\\udfb5\xc3\xa9\" } ",
    "{\"a\":[{},[],\"\"],\"ts\":10}",
    "[-1.5e3,\"x\",{\"a\":null}] ",
  };
  static const char mutations[] = "{}[]\":,\\ 0-1.eEu+tfnal\x80\xc3";
  g_autoptr(JsonParser) parser = json_parser_new ();
  guint n_checked = 0, n_accepted = 0;

  for (guint i = 0; i < G_N_ELEMENTS (accepted); i++, n_checked++)
    check_against_json_glib (parser, accepted[i], strlen (accepted[i]), &n_accepted);
  for (guint i = 0; i < G_N_ELEMENTS (rejected); i++, n_checked++)
    check_against_json_glib (parser, rejected[i], strlen (rejected[i]), &n_accepted);
  g_assert_cmpuint (n_accepted, ==, G_N_ELEMENTS (accepted));
  for (guint i = 0; top_level_values[i] != NULL; i++, n_checked++)
    check_against_json_glib (parser, top_level_values[i], strlen (top_level_values[i]),
                             &n_accepted);
  g_assert_cmpuint (n_accepted, ==, G_N_ELEMENTS (accepted));

  for (guint s = 0; s < G_N_ELEMENTS (seeds); s++)
    {
      gsize len = strlen (seeds[s]);
      g_autofree char *text = g_malloc (len + 1);

      for (gsize cut = 0; cut <= len; cut++, n_checked++)
        check_against_json_glib (parser, seeds[s], cut, &n_accepted);
      for (gsize at = 0; at < len; at++)
        {
          /* deletion */
          memcpy (text, seeds[s], at);
          memcpy (text + at, seeds[s] + at + 1, len - at - 1);
          check_against_json_glib (parser, text, len - 1, &n_accepted);
          n_checked++;
          /* substitutions */
          for (guint m = 0; m < sizeof mutations - 1; m++, n_checked++)
            {
              memcpy (text, seeds[s], len);
              text[at] = mutations[m];
              check_against_json_glib (parser, text, len, &n_accepted);
            }
        }
    }
  g_test_message ("%u inputs, %u accepted by the scan", n_checked, n_accepted);
  g_assert_cmpuint (n_checked, >, 3000);
  g_assert_cmpuint (n_accepted, >, 100);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ep/json-scan/accepts", test_accepts);
  g_test_add_func ("/ep/json-scan/rejects", test_rejects);
  g_test_add_func ("/ep/json-scan/values", test_values);
  g_test_add_func ("/ep/json-scan/length", test_length);
  g_test_add_func ("/ep/json-scan/depth", test_depth);
  g_test_add_func ("/ep/json-scan/marked-members", test_marked_members);
  g_test_add_func ("/ep/json-scan/string-word-positions", test_string_word_positions);
  g_test_add_func ("/ep/json-scan/json-glib-differential", test_json_glib_differential);

  return g_test_run ();
}
