/* test-consumer-json-line.c: ep-consumer's JSON line against json-glib's
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * tools/ep-consumer/json-line.c writes the JSON line of an event straight
 * into a buffer; before, a JsonBuilder and JsonGenerator built it, the
 * Headers attribute parsed by JsonParser. reference_line () below is that
 * former code; every generated entry must give the same bytes both ways:
 * every byte value in every string member, random strings, and Headers
 * texts shaped like flat objects (the copied fast path) and near misses
 * (whitespace, escapes, UTF-8, duplicate or empty names, other values,
 * nesting, cut or mutated bytes). Deterministic: a fixed seed.
 */
#include "config.h"

#include <string.h>

#include "ep-glib/ep-json-scan.h"
#include "json-line.h"
#include "sqs-server-private.h"

/* Under AddressSanitizer (run-tests.sh: fast_unwind_on_malloc=0, every
 * malloc unwound) 40,000 took 83 s at load 4 and 176 s at load 12 of the
 * 360 s the ASan step allows: the first 10,000 of the same seeded sequence
 * there. */
#ifndef ITERATIONS
#if defined(__SANITIZE_ADDRESS__)
#define ITERATIONS 10000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ITERATIONS 10000
#endif
#endif
#endif
#ifndef ITERATIONS
#define ITERATIONS 40000
#endif

/* The former event_to_json_line () (output.c before json-line.c) */
static JsonNode *
reference_headers_node (const SqsEntry *entry)
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
reference_string_member (JsonBuilder *builder,
                         const char  *name,
                         const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static char *
reference_line (const SqsEntry *entry,
                const char     *endpoint,
                const char     *received)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  const SqsAttribute *name = sqs_entry_find_string_attribute (entry, "Name");
  JsonNode *headers = reference_headers_node (entry);

  json_builder_begin_object (builder);
  reference_string_member (builder, "id", entry->id->str);
  reference_string_member (builder, "name", name != NULL ? name->string_value->str : NULL);
  json_builder_set_member_name (builder, "headers");
  if (headers == NULL)
    json_builder_add_null_value (builder);
  else
    json_builder_add_value (builder, headers);
  reference_string_member (builder, "payload", entry->body->str);
  reference_string_member (builder, "endpoint", endpoint);
  reference_string_member (builder, "received", received);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);

  return json_generator_to_data (generator, NULL);
}

/* ------------------------------------------------------------------------ */

static SqsEntry *
entry_new (SqsBatch      *batch,
           const GString *body,
           const GString *name,
           const GString *headers)
{
  SqsEntry *entry = sqs_batch_lookup_entry (batch, 1);
  guint index = 1;

  entry->id = g_string_new ("0b7c1f3e-5d2a-4b6e-9f10-123456789abc");
  entry->body = g_string_new_len (body->str, body->len);
  if (name != NULL)
    {
      SqsAttribute *attribute = sqs_entry_lookup_attribute (entry, index++);

      attribute->name = g_string_new ("Name");
      attribute->data_type = g_string_new ("String");
      attribute->string_value = g_string_new_len (name->str, name->len);
    }
  if (headers != NULL)
    {
      SqsAttribute *attribute = sqs_entry_lookup_attribute (entry, index++);

      attribute->name = g_string_new ("Headers");
      attribute->data_type = g_string_new ("String");
      attribute->string_value = g_string_new_len (headers->str, headers->len);
    }
  sqs_batch_seal (batch);

  return entry;
}

typedef struct {
  JsonObject *object;
  guint       members;
} MemberCheck;

/* The members the flat scan reports are the parsed object's */
static void
check_member (const char *name,
              gsize       name_len,
              const char *value,
              gsize       value_len,
              gpointer    user_data)
{
  MemberCheck *check = user_data;
  g_autofree char *key = g_strndup (name, name_len);
  g_autofree char *text = g_strndup (value, value_len);

  g_assert_true (json_object_has_member (check->object, key));
  g_assert_cmpstr (json_object_get_string_member (check->object, key), ==, text);
  check->members++;
}

static guint fast_paths;

static void
compare (const GString *body,
         const GString *name,
         const GString *headers)
{
  g_autoptr(SqsBatch) batch = sqs_batch_new ();
  SqsEntry *entry = entry_new (batch, body, name, headers);
  g_autofree char *expected = reference_line (entry, "/api/event-batch",
                                              "2026-12-06T23:00:00.000Z");
  g_autofree char *line = event_to_json_line (entry, "/api/event-batch",
                                              "2026-12-06T23:00:00.000Z");

  if (g_strcmp0 (expected, line) != 0)
    g_error ("JSON lines differ\n  reference: %s\n  json-line: %s", expected, line);

  if (headers != NULL
      && json_line_scan_flat_object (headers->str, headers->len, NULL, NULL))
    {
      g_autoptr(JsonNode) node = reference_headers_node (entry);
      MemberCheck check = { NULL, 0 };

      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      check.object = json_node_get_object (node);
      g_assert_true (json_line_scan_flat_object (headers->str, headers->len,
                                                 check_member, &check));
      g_assert_cmpuint (check.members, ==, json_object_get_size (check.object));
      fast_paths++;
    }
}

/* Every byte value, alone and between letters, in each string member */
static void
test_json_line_bytes (void)
{
  for (guint c = 1; c < 256; c++)
    {
      g_autoptr(GString) alone = g_string_new (NULL);
      g_autoptr(GString) between = g_string_new ("a");
      g_autoptr(GString) text = g_string_new ("x");
      g_autoptr(GString) flat = g_string_new ("{\"k\":\"");

      g_string_append_c (alone, (char) c);
      g_string_append_c (between, (char) c);
      g_string_append (between, "b\xc3\xa9");
      g_string_append_c (flat, (char) c);
      g_string_append (flat, "\"}");
      compare (alone, NULL, NULL);
      compare (between, between, NULL);
      compare (text, alone, between);
      compare (text, NULL, flat);
    }
}

static const char *const fragments[] = {
  "{", "}", "\"", ":", ",", "a", "b", "k", "consent-category", "authorization",
  "requested-sent-timestamp", "NECESSARY", "1764000000000", " ", "\t", "\n", "\\",
  "\\\"", "\\u00e9", "\\n", "\\/", "/", "\xc3\xa9", "\xe2\x82\xac", "\xff", "\x1f", "\x7f",
  "\x01", "0", "-1", "1.5", "1e3", "true", "false", "null", "[", "]", "{}", "\"\"",
};

static void
random_text (GRand   *rand,
             GString *out,
             guint    max)
{
  guint n = g_rand_int_range (rand, 0, max);

  for (guint i = 0; i < n; i++)
    g_string_append (out, fragments[g_rand_int_range (rand, 0, G_N_ELEMENTS (fragments))]);
}

/* A flat-looking object, sometimes bent out of shape */
static void
random_object (GRand   *rand,
               GString *out)
{
  static const char *const names[] = {
    "app-name", "client-id", "authorization", "consent-category",
    "requested-sent-timestamp", "os-name", "a", "",
  };
  guint members = g_rand_int_range (rand, 0, 13);
  gboolean bend = g_rand_int_range (rand, 0, 3) == 0;

  g_string_append_c (out, '{');
  for (guint i = 0; i < members; i++)
    {
      if (i > 0)
        g_string_append_c (out, ',');
      if (bend && g_rand_int_range (rand, 0, 8) == 0)
        g_string_append_c (out, ' ');
      g_string_append_c (out, '"');
      if (g_rand_int_range (rand, 0, 4) == 0)
        g_string_append_printf (out, "h%u", g_rand_int_range (rand, 0, 40));
      else
        g_string_append (out, names[g_rand_int_range (rand, 0, G_N_ELEMENTS (names) - !bend)]);
      g_string_append (out, "\":");
      switch (bend ? g_rand_int_range (rand, 0, 6) : 0)
        {
        case 1:
          g_string_append_printf (out, "%d", g_rand_int (rand) % 1000);
          break;
        case 2:
          random_text (rand, out, 4);
          break;
        case 3:
          g_string_append (out, "{\"x\":\"y\"}");
          break;
        default:
          g_string_append_c (out, '"');
          for (guint j = g_rand_int_range (rand, 0, 24); j > 0; j--)
            {
              guint c = g_rand_int_range (rand, 0x20, 0x7f);

              /* A '"' or '\\' only when bending (else escaped) */
              if ((c == '"' || c == '\\') && !bend)
                c = '_';
              if (c == '\\' || c == '"')
                g_string_append_c (out, '\\');
              g_string_append_c (out, (char) c);
            }
          if (bend && g_rand_int_range (rand, 0, 6) == 0)
            random_text (rand, out, 3);
          g_string_append_c (out, '"');
        }
    }
  g_string_append_c (out, '}');
  if (bend && g_rand_int_range (rand, 0, 4) == 0 && out->len > 0)
    {
      guint at = g_rand_int_range (rand, 0, out->len);

      if (g_rand_boolean (rand))
        g_string_erase (out, at, 1);
      else
        g_string_insert (out, at, fragments[g_rand_int_range (rand, 0, G_N_ELEMENTS (fragments))]);
    }
}

static void
test_json_line_random (void)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (20261206);

  fast_paths = 0;
  for (guint i = 0; i < ITERATIONS; i++)
    {
      g_autoptr(GString) body = g_string_new (NULL);
      g_autoptr(GString) name = g_string_new (NULL);
      g_autoptr(GString) headers = g_string_new (NULL);

      random_text (rand, body, 12);
      if (body->len == 0)
        g_string_append (body, "{\"n\":1}");
      random_text (rand, name, 4);
      if (g_rand_int_range (rand, 0, 5) == 0)
        random_text (rand, headers, 16);
      else
        random_object (rand, headers);
      compare (body, g_rand_boolean (rand) ? name : NULL,
               g_rand_int_range (rand, 0, 10) > 0 ? headers : NULL);
    }
  /* Both ways were taken, many times */
  g_test_message ("%u of %u Headers texts took the flat path", fast_paths, ITERATIONS);
  g_assert_cmpuint (fast_paths, >, ITERATIONS / 8);
  g_assert_cmpuint (fast_paths, <, ITERATIONS * 3 / 4);
}

/* What ep-glib sends */
static void
test_json_line_producer (void)
{
  g_autoptr(GString) body = g_string_new ("{\"track\":\"t\\u00e9\",\"n\":[1,2.5e3,null]}");
  g_autoptr(GString) name = g_string_new ("playback_session");
  g_autoptr(GString) headers = g_string_new (
    "{\"app-name\":\"bench\",\"app-version\":\"1.0\",\"client-id\":\"c1\","
    "\"authorization\":\"Bearer t\",\"consent-category\":\"NECESSARY\","
    "\"requested-sent-timestamp\":\"1765062000000\",\"os-name\":\"Debian GNU/Linux\"}");

  fast_paths = 0;
  compare (body, name, headers);
  g_assert_cmpuint (fast_paths, ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/consumer/json-line/bytes", test_json_line_bytes);
  g_test_add_func ("/consumer/json-line/random", test_json_line_random);
  g_test_add_func ("/consumer/json-line/producer", test_json_line_producer);

  return g_test_run ();
}
