/* test-producer.c: the public API from send down to the disk
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "ep-event-private.h"
#include "ep-producer-private.h"
#include "ep-queue-private.h"
#include "ep-test-util.h"

/* Nothing is delivered in these tests: the consumer is a closed port and the
 * timers are far away. Delivery has its own test program. */
#define NOWHERE "http://127.0.0.1:9/api/event-batch"
#define NOWHERE_PUBLIC "http://127.0.0.1:9/api/public/event-batch"

#define new_producer_full(dir, error, ...) \
  ep_test_producer_new (dir, NOWHERE, NOWHERE_PUBLIC, error, __VA_ARGS__)

static EpProducer *
new_producer (const char *dir)
{
  return new_producer_full (dir, NULL, NULL);
}

/* The events stored in @dir, read straight from the queue. */
static GArray *
read_queue (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, G_MAXUINT64, FALSE, NULL, &error);
  g_autoptr(GPtrArray) items = NULL;
  GArray *events = g_array_new (FALSE, TRUE, sizeof (EpEvent));

  g_assert_no_error (error);
  g_array_set_clear_func (events, (GDestroyNotify) ep_event_clear);
  items = ep_queue_peek (queue, 0, G_MAXUINT);
  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = g_ptr_array_index (items, i);
      EpEvent event;

      g_assert_true (ep_event_parse (item->record, &event, &error));
      g_assert_no_error (error);
      g_array_append_val (events, event);
    }
  ep_queue_close (queue);
  return events;
}

static JsonObject *
parse_headers (JsonParser *parser,
               const char *json)
{
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

enum { CONSENT = 0, VALIDATION = 1, STORING = 2 };

/* ------------------------------------------------------------------------ */

static void
test_config_errors (void)
{
  g_autofree char *dir = ep_test_make_dir ("config");
  g_autofree char *file = g_build_filename (dir, "a-file", NULL);
  g_autofree char *under_file = g_build_filename (file, "queue", NULL);
  g_autoptr(GError) error = NULL;
  EpProducer *producer;

  producer = ep_producer_new (NULL, "1", NOWHERE, NOWHERE_PUBLIC, &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "app-name"));
  g_clear_error (&error);

  producer = ep_producer_new ("app", "1", "/api/event-batch", NOWHERE_PUBLIC, &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "consumer-uri"));
  g_clear_error (&error);

  producer = ep_producer_new ("app", "1", NOWHERE, "ftp://example.com/x", &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "public-consumer-uri"));
  g_clear_error (&error);

  /* app-version is required (TIDAL's spec), missing or empty. */
  producer = ep_producer_new ("app", NULL, NOWHERE, NOWHERE_PUBLIC, &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_assert_nonnull (strstr (error->message, "app-version"));
  g_clear_error (&error);
  producer = ep_producer_new ("app", "", NOWHERE, NOWHERE_PUBLIC, &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  producer = ep_producer_new ("../escape", "1", NOWHERE, NOWHERE_PUBLIC, &error);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
  g_clear_error (&error);

  g_file_set_contents (file, "x", 1, &error);
  g_assert_no_error (error);
  producer = new_producer_full (under_file, &error, NULL);
  g_assert_null (producer);
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
}

/* Issue 8 item 12: every init failure sets the GError; URIs are checked
 * strictly, so a bad one fails init instead of every request. */
static void
test_config_errors_strict (void)
{
  g_autofree char *dir = ep_test_make_dir ("config-strict");
  const char *bad_uris[] = {
    "http://127.0.0.1:9/api/event batch",
    "http://127.0.0.1:9/api/\"quoted\"",
    "http://127.0.0.1:9/caf\xc3\xa9",
    "http://127.0.0.1:9/%zz",
    "http:///no-host",
    "https://",
    "mailto:someone@example.com",
    "127.0.0.1:9/api",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad_uris); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EpProducer) producer = ep_test_producer_new (dir, bad_uris[i], NOWHERE_PUBLIC, &error, NULL);

      g_assert_null (producer);
      g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
      g_assert_nonnull (strstr (error->message, "consumer-uri"));
    }

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer = ep_test_producer_new ("", NOWHERE, NOWHERE_PUBLIC, &error, NULL);

    g_assert_null (producer);
    g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
    g_assert_nonnull (strstr (error->message, "queue-dir"));
  }
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer =
      ep_test_producer_new (dir, "http://127.0.0.1:9/api/event%20batch?x=1&y=%C3%A9", NOWHERE_PUBLIC,
                            &error, NULL);

    g_assert_no_error (error);
    /* A second init returns the first one's result. */
    g_assert_true (g_initable_init (G_INITABLE (producer), NULL, &error));
    g_assert_no_error (error);
  }
}

/* Using a producer that was never initialized is a programming error: the
 * critical says what to call. */
static void
test_not_initialized_critical (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(EpProducer) producer = g_object_new (EP_TYPE_PRODUCER,
                                                     "app-name", "uninitialized",
                                                     "app-version", "1",
                                                     "consumer-uri", NOWHERE,
                                                     "public-consumer-uri", NOWHERE_PUBLIC,
                                                     NULL);

      ep_producer_send_event (producer, "early", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*ep_producer_send_event_full: the producer is not "
                             "initialized: call g_initable_init() first*");
}

/* Issue 11: https without a TLS backend fails at construction, naming the
 * package that brings one. */
static void
test_https_without_tls_backend (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = ep_test_make_dir ("no-tls");
      g_autoptr(GError) error = NULL;
      g_autoptr(EpProducer) producer = NULL;

      /* Before anything asks GIO for its TLS backend. */
      g_setenv ("GIO_USE_TLS", "dummy", TRUE);
      producer = ep_test_producer_new (dir, "https://127.0.0.1:9/api", NOWHERE_PUBLIC, &error, NULL);
      g_assert_null (producer);
      g_assert_error (error, EP_ERROR, EP_ERROR_TLS_UNAVAILABLE);
      g_assert_nonnull (strstr (error->message, "glib-networking"));
      g_clear_error (&error);

      /* Plain http needs no TLS. */
      producer = ep_test_producer_new (dir, NOWHERE, NOWHERE_PUBLIC, &error, NULL);
      g_assert_no_error (error);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static void
test_default_queue_dir (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = ep_producer_new ("default-dir-app", "1.0", NOWHERE,
                                                    NOWHERE_PUBLIC, &error);
  g_autofree char *expected = g_build_filename (g_get_user_state_dir (), "ep-glib",
                                                "default-dir-app", NULL);

  g_assert_no_error (error);
  g_assert_cmpstr (ep_producer_get_queue_dir (producer), ==, expected);
  g_assert_true (g_file_test (expected, G_FILE_TEST_IS_DIR));
}

static void
on_notify_count (GObject    *object,
                 GParamSpec *pspec,
                 guint      *count)
{
  (*count)++;
}

static void
test_send_stored (void)
{
  g_autofree char *dir = ep_test_make_dir ("send");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autoptr(GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);
  guint notified = 0;
  guint64 length = 0;

  g_signal_connect (producer, "notify::queue-length", G_CALLBACK (on_notify_count), &notified);
  g_assert_cmpint (ep_producer_send_event (producer, "playback_session",
                                           EP_CONSENT_CATEGORY_NECESSARY, "{\"a\":1}", NULL),
                   ==, EP_SEND_RESULT_STORED);
  g_hash_table_insert (headers, "x-custom", "yes");
  g_assert_cmpint (ep_producer_send_event (producer, "second", EP_CONSENT_CATEGORY_NECESSARY,
                                           "2", headers),
                   ==, EP_SEND_RESULT_STORED);
  /* Correct at once, and notified from the main context later. */
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_object_get (producer, "queue-length", &length, NULL);
  g_assert_cmpuint (length, ==, 2);
  g_assert_cmpuint (ep_producer_get_queue_bytes (producer), >, 0);
  g_assert_cmpuint (notified, ==, 0);
  EP_TEST_SPIN_UNTIL (notified > 0);
  g_assert_false (ep_producer_get_outage (producer));
}

static gint64
header_timestamp (JsonParser    *parser,
                  const EpEvent *event)
{
  JsonObject *headers = parse_headers (parser, event->headers_json);

  return g_ascii_strtoll (json_object_get_string_member (headers, "requested-sent-timestamp"),
                          NULL, 10);
}

/* The clock offset moves the timestamps of events sent afterwards (not the
 * stored ones) and is persisted: the first events after a restart are
 * already corrected. */
static void
test_clock_offset (void)
{
  g_autofree char *dir = ep_test_make_dir ("clock-offset");
  g_autoptr(GArray) events = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  const gint64 hour = 3600 * 1000;
  gint64 before = g_get_real_time () / 1000, after;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);
    EpSubmitter *submitter = ep_producer_get_submitter_for_testing (producer);

    g_assert_cmpint (ep_submitter_get_clock_offset (submitter), ==, 0);
    ep_producer_send_event (producer, "local", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
    ep_producer_set_clock_offset (producer, hour);
    ep_producer_send_event (producer, "ahead", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  }
  {
    g_autoptr(EpProducer) producer = new_producer (dir);
    EpSubmitter *submitter = ep_producer_get_submitter_for_testing (producer);

    g_assert_cmpint (ep_submitter_get_clock_offset (submitter), ==, hour);
    ep_producer_send_event (producer, "restarted", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
    ep_producer_set_clock_offset (producer, -hour);
    ep_producer_send_event (producer, "behind", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  }
  after = g_get_real_time () / 1000;

  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, 4);
  g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, 0)), >=, before);
  g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, 0)), <=, after);
  for (guint i = 1; i <= 2; i++)
    {
      g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, i)), >=, before + hour);
      g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, i)), <=, after + hour);
    }
  g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, 3)), >=, before - hour);
  g_assert_cmpint (header_timestamp (parser, &g_array_index (events, EpEvent, 3)), <=, after - hour);
  /* The queue's own time (the event's age) stays on the local clock. */
  g_assert_cmpint (g_array_index (events, EpEvent, 3).created_us / 1000, >=, before);
}

/* SPEC 6, stamp-payload: the web producer's body form. */
static void
test_stamp_payload (void)
{
  g_autofree char *dir = ep_test_make_dir ("stamp");
  g_autoptr(GArray) events = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonParser) header_parser = json_parser_new ();
  const gint64 hour = 3600 * 1000;
  gint64 before, after;
  g_autofree char *id = NULL;
  g_autofree char *replaced_id = NULL;
  /* The last ones json-glib's parser takes, but they are not RFC 8259 JSON. */
  const char *not_objects[] = { "[1,2]", "\"text\"", "42", "not json", "{\"a\":", "null",
                                "{\"a\":01}", "{}{}", "var x = {}", "{'a':1}", "/*c*/{}",
                                "{\"a\":\"\\x41\"}", "{\"a\":.5}", "{\"a\":0x10}" };

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "stamp-payload", TRUE, NULL);
    gboolean stamp = FALSE;

    g_assert_no_error (error);
    g_object_get (producer, "stamp-payload", &stamp, NULL);
    g_assert_true (stamp);
    ep_producer_set_clock_offset (producer, hour);
    before = g_get_real_time () / 1000 + hour;
    g_assert_cmpint (ep_producer_send_event_full (producer, "obj", EP_CONSENT_CATEGORY_NECESSARY,
                                                  " {\"b\": [1, 2], \"a\":\"x\"} ", NULL, &id),
                     ==, EP_SEND_RESULT_STORED);
    g_assert_cmpint (ep_producer_send_event (producer, "empty_obj", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                     ==, EP_SEND_RESULT_STORED);
    g_assert_cmpint (ep_producer_send_event_full (producer, "own_uuid", EP_CONSENT_CATEGORY_NECESSARY,
                                                  "{\"uuid\":\"mine\",\"ts\":\"x\",\"c\":3}", NULL,
                                                  &replaced_id),
                     ==, EP_SEND_RESULT_STORED);
    after = g_get_real_time () / 1000 + hour;
    for (guint i = 0; i < G_N_ELEMENTS (not_objects); i++)
      g_assert_cmpint (ep_producer_send_event (producer, "not_object", EP_CONSENT_CATEGORY_NECESSARY,
                                               not_objects[i], NULL),
                       ==, EP_SEND_RESULT_VALIDATION_FAILED);
    g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, "not_object"), ==, G_N_ELEMENTS (not_objects));
  }

  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, 3);
  for (guint i = 0; i < events->len; i++)
    {
      const EpEvent *event = &g_array_index (events, EpEvent, i);
      g_autoptr(GError) error = NULL;
      JsonObject *body;
      gint64 ts;

      json_parser_load_from_data (parser, event->payload, -1, &error);
      g_assert_no_error (error);
      body = json_node_get_object (json_parser_get_root (parser));
      g_assert_cmpstr (json_object_get_string_member (body, "uuid"), ==, event->id);
      g_assert_true (JSON_NODE_TYPE (json_object_get_member (body, "ts")) == JSON_NODE_VALUE);
      g_assert_true (json_node_get_value_type (json_object_get_member (body, "ts")) == G_TYPE_INT64);
      ts = json_object_get_int_member (body, "ts");
      g_assert_cmpint (ts, >=, before);
      g_assert_cmpint (ts, <=, after);
      /* The same time as the header, on the consumer's clock. */
      g_assert_cmpint (ts, ==, header_timestamp (header_parser, event));
    }
  /* The caller's members are kept as given, after uuid and ts. */
  g_assert_cmpstr (g_array_index (events, EpEvent, 0).id, ==, id);
  g_assert_true (g_str_has_suffix (g_array_index (events, EpEvent, 0).payload,
                                   ",\"b\": [1, 2], \"a\":\"x\"} "));
  g_assert_true (g_str_has_prefix (g_array_index (events, EpEvent, 0).payload, " {\"uuid\":\""));
  {
    g_autofree char *expected = g_strdup_printf ("{\"uuid\":\"%s\",\"ts\":%s}",
                                                 g_array_index (events, EpEvent, 1).id,
                                                 strstr (g_array_index (events, EpEvent, 1).payload, "\"ts\":") + 5);
    expected[strlen (expected) - 1] = '\0';
    g_assert_cmpstr (g_array_index (events, EpEvent, 1).payload, ==, expected);
  }
  /* A caller's uuid and ts are replaced; its other members stay. */
  {
    const EpEvent *event = &g_array_index (events, EpEvent, 2);
    JsonObject *body;

    json_parser_load_from_data (parser, event->payload, -1, NULL);
    body = json_node_get_object (json_parser_get_root (parser));
    g_assert_cmpstr (json_object_get_string_member (body, "uuid"), ==, replaced_id);
    g_assert_cmpint (json_object_get_int_member (body, "c"), ==, 3);
    g_assert_cmpuint (json_object_get_size (body), ==, 3);
  }
}

/* A caller's "uuid" and "ts" (spelled with escapes too, repeated too) are
 * left out; its other members are copied byte for byte after the new ones. */
static void
test_stamp_payload_replaced (void)
{
  static const struct {
    const char *payload;
    const char *prefix;
    const char *rest;
  } cases[] = {
    { "{\"uuid\":\"mine\",\"ts\":\"x\",\"c\":3}", "{", ",\"c\":3}" },
    { " { \"a\" : [1, {\"uuid\":2}] , \"u\\u0075id\":1,\"\\u0074s\" :{}, \"uuid\":null,\"b\":1.50 } \n",
      " {", ",\"a\" : [1, {\"uuid\":2}],\"b\":1.50} \n" },
    { "{\"ts\":1}", "{", "}" },
    { "\t{\"uuid\":[{}],\"x\":{\"ts\":0}}", "\t{", ",\"x\":{\"ts\":0}}" },
  };
  g_autofree char *dir = ep_test_make_dir ("stamp-replaced");
  g_autoptr(JsonParser) header_parser = json_parser_new ();
  g_autoptr(GArray) events = NULL;

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "stamp-payload", TRUE, NULL);

    g_assert_no_error (error);
    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      g_assert_cmpint (ep_producer_send_event (producer, "replaced", EP_CONSENT_CATEGORY_NECESSARY,
                                               cases[i].payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
  }

  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, G_N_ELEMENTS (cases));
  for (guint i = 0; i < events->len; i++)
    {
      const EpEvent *event = &g_array_index (events, EpEvent, i);
      g_autofree char *expected = g_strdup_printf ("%s\"uuid\":\"%s\",\"ts\":%" G_GINT64_FORMAT "%s",
                                                   cases[i].prefix, event->id,
                                                   header_timestamp (header_parser, event),
                                                   cases[i].rest);

      g_assert_cmpstr (event->payload, ==, expected);
    }
}

static void
test_send_event_full_id (void)
{
  g_autofree char *dir = ep_test_make_dir ("full");
  g_autofree char *id = NULL;
  g_autofree char *none = NULL;
  g_autoptr(GArray) events = NULL;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    g_assert_cmpint (ep_producer_send_event_full (producer, "with_id", EP_CONSENT_CATEGORY_NECESSARY,
                                                  "{}", NULL, &id),
                     ==, EP_SEND_RESULT_STORED);
    g_assert_true (g_uuid_string_is_valid (id));
    g_assert_cmpint (ep_producer_send_event_full (producer, "blocked", EP_CONSENT_CATEGORY_TARGETING,
                                                  "{}", NULL, &none),
                     ==, EP_SEND_RESULT_CONSENT_FILTERED);
    g_assert_null (none);
    g_assert_cmpint (ep_producer_send_event_full (producer, "", EP_CONSENT_CATEGORY_NECESSARY,
                                                  "{}", NULL, &none),
                     ==, EP_SEND_RESULT_VALIDATION_FAILED);
    g_assert_null (none);
  }
  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, 1);
  g_assert_cmpstr (g_array_index (events, EpEvent, 0).id, ==, id);
}

static void
test_default_headers (void)
{
  g_autofree char *dir = ep_test_make_dir ("headers");
  g_autoptr(GArray) events = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  gint64 before = g_get_real_time () / 1000, after;
  JsonObject *headers;
  const EpEvent *event;

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer = new_producer_full (dir, &error,
                                                        "browser-name", "WebKit",
                                                        NULL);
    g_autoptr(EpCredentials) credentials = ep_credentials_new ("secret-token", "client-7");
    g_autoptr(GHashTable) caller = g_hash_table_new (g_str_hash, g_str_equal);

    g_assert_no_error (error);
    ep_producer_send_event (producer, "anonymous", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
    ep_producer_set_credentials (producer, credentials);
    g_hash_table_insert (caller, "os-name", "CallerOS");
    g_hash_table_insert (caller, "trace", "t-1");
    ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, FALSE);
    ep_producer_send_event (producer, "logged_in", EP_CONSENT_CATEGORY_TARGETING, "{}", caller);
  }
  after = g_get_real_time () / 1000;

  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, 2);

  event = &g_array_index (events, EpEvent, 0);
  g_assert_cmpstr (event->name, ==, "anonymous");
  g_assert_true (g_uuid_string_is_valid (event->id));
  {
    g_autofree char *lower = g_ascii_strdown (event->id, -1);
    g_assert_cmpstr (event->id, ==, lower);
  }
  headers = parse_headers (parser, event->headers_json);
  g_assert_cmpstr (json_object_get_string_member (headers, "app-name"), ==, "test-app");
  g_assert_cmpstr (json_object_get_string_member (headers, "app-version"), ==, "1.2.3");
  g_assert_cmpstr (json_object_get_string_member (headers, "consent-category"), ==, "NECESSARY");
  g_assert_cmpstr (json_object_get_string_member (headers, "device-vendor"), ==, "Vendor");
  g_assert_cmpstr (json_object_get_string_member (headers, "device-model"), ==, "Model 1");
  g_assert_cmpstr (json_object_get_string_member (headers, "os-name"), ==, "TestOS");
  g_assert_cmpstr (json_object_get_string_member (headers, "os-version"), ==, "42");
  g_assert_cmpstr (json_object_get_string_member (headers, "browser-name"), ==, "WebKit");
  /* Unknown values are omitted, never sent empty. */
  g_assert_false (json_object_has_member (headers, "client-id"));
  g_assert_false (json_object_has_member (headers, "authorization"));
  g_assert_false (json_object_has_member (headers, "browser-version"));
  {
    gint64 stamp = g_ascii_strtoll (json_object_get_string_member (headers, "requested-sent-timestamp"),
                                    NULL, 10);
    g_assert_cmpint (stamp, >=, before);
    g_assert_cmpint (stamp, <=, after);
  }

  event = &g_array_index (events, EpEvent, 1);
  headers = parse_headers (parser, event->headers_json);
  g_assert_cmpstr (json_object_get_string_member (headers, "client-id"), ==, "client-7");
  /* The raw token, no "Bearer ". */
  g_assert_cmpstr (json_object_get_string_member (headers, "authorization"), ==, "secret-token");
  g_assert_cmpstr (json_object_get_string_member (headers, "consent-category"), ==, "TARGETING");
  /* Caller headers win, key by key. */
  g_assert_cmpstr (json_object_get_string_member (headers, "os-name"), ==, "CallerOS");
  g_assert_cmpstr (json_object_get_string_member (headers, "os-version"), ==, "42");
  g_assert_cmpstr (json_object_get_string_member (headers, "trace"), ==, "t-1");
}

static void
test_size_boundary (void)
{
  g_autofree char *dir = ep_test_make_dir ("size");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autofree char *payload = NULL;
  guint64 probe_size;

  /* The size of a one-byte-payload event of this name and these headers
   * (an empty payload is invalid). */
  g_assert_cmpint (ep_producer_send_event (producer, "sized", EP_CONSENT_CATEGORY_NECESSARY, "p", NULL),
                   ==, EP_SEND_RESULT_STORED);
  probe_size = ep_producer_get_queue_bytes (producer);
  g_assert_cmpuint (probe_size, >, 37);

  payload = g_strnfill (EP_MAX_EVENT_SIZE - probe_size + 1, 'p');
  g_assert_cmpint (ep_producer_send_event (producer, "sized", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                   ==, EP_SEND_RESULT_STORED);
  g_assert_cmpuint (ep_producer_get_queue_bytes (producer), ==, probe_size + EP_MAX_EVENT_SIZE);

  g_free (payload);
  payload = g_strnfill (EP_MAX_EVENT_SIZE - probe_size + 2, 'p');
  g_assert_cmpint (ep_producer_send_event (producer, "sized", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, "sized"), ==, 1);
}

static void
test_invalid_events (void)
{
  g_autofree char *dir = ep_test_make_dir ("invalid");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autoptr(GHashTable) bad_header = g_hash_table_new (g_str_hash, g_str_equal);
  const char *bad_payloads[] = {
    "\x01", "a\x1f", "\xed\xa0\x80", "\xef\xbf\xbe", "\xef\xbf\xbf", "\xc3", "\xff",
  };

  g_assert_cmpint (ep_producer_send_event (producer, "", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, ""), ==, 1);

  for (guint i = 0; i < G_N_ELEMENTS (bad_payloads); i++)
    g_assert_cmpint (ep_producer_send_event (producer, "bad", EP_CONSENT_CATEGORY_NECESSARY,
                                             bad_payloads[i], NULL),
                     ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, "bad"), ==, G_N_ELEMENTS (bad_payloads));

  g_assert_cmpint (ep_producer_send_event (producer, "bad\x02name", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);

  g_hash_table_insert (bad_header, "x", "\xef\xbf\xbf");
  g_assert_cmpint (ep_producer_send_event (producer, "hdr", EP_CONSENT_CATEGORY_NECESSARY, "{}", bad_header),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);

  /* Tab, newline, carriage return and astral characters are fine. */
  g_assert_cmpint (ep_producer_send_event (producer, "ok", EP_CONSENT_CATEGORY_NECESSARY,
                                           "\t\n\r\xf0\x9f\x8e\xb5", NULL),
                   ==, EP_SEND_RESULT_STORED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
}

/* SPEC 1 and 2: the reserved headers (a consent label, a token) come from
 * the send call and the producer only; keys, names and payloads are never
 * empty. */
static void
test_reserved_headers_and_empty_fields (void)
{
  g_autofree char *dir = ep_test_make_dir ("reserved");
  g_autoptr(EpProducer) producer = new_producer (dir);
  const char *bad_keys[] = { "consent-category", "authorization", "" };

  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      g_autoptr(GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);

      g_hash_table_insert (headers, (gpointer) bad_keys[i], "TARGETING");
      g_assert_cmpint (ep_producer_send_event (producer, "relabel", EP_CONSENT_CATEGORY_NECESSARY,
                                               "{}", headers),
                       ==, EP_SEND_RESULT_VALIDATION_FAILED);
    }
  g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, "relabel"), ==, G_N_ELEMENTS (bad_keys));

  g_assert_cmpint (ep_producer_send_event (producer, "empty", EP_CONSENT_CATEGORY_NECESSARY, "", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, "empty"), ==, 1);
  g_assert_cmpint (ep_producer_send_event (producer, "", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);

  /* Other default headers may still be overridden. */
  {
    g_autoptr(GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);

    g_hash_table_insert (headers, "client-id", "caller-client");
    g_assert_cmpint (ep_producer_send_event (producer, "ok", EP_CONSENT_CATEGORY_NECESSARY, "{}", headers),
                     ==, EP_SEND_RESULT_STORED);
  }
}

/* A string at the very end of a readable page, followed by an unreadable
 * one: reading one byte past its terminator faults. */
static char *
string_before_guard_page (const char *text,
                          gpointer   *mapping,
                          gsize      *mapping_len)
{
  gsize page = sysconf (_SC_PAGESIZE);
  gsize len = strlen (text) + 1;
  char *base = mmap (NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  g_assert_true (base != MAP_FAILED);
  g_assert_cmpint (mprotect (base + page, page, PROT_NONE), ==, 0);
  memcpy (base + page - len, text, len);
  *mapping = base;
  *mapping_len = 2 * page;
  return base + page - len;
}

/* Issue 8 item 10: the drop path read 200 bytes of a name whatever its
 * length. A short name right before an unreadable page would fault. Every
 * drop reason shows the name (strict mode adds the critical, tested in a
 * subprocess below). */
static void
test_drop_reads_only_the_name (void)
{
  g_autofree char *dir = ep_test_make_dir ("overread");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  gpointer mapping;
  gsize mapping_len;
  char *invalid = string_before_guard_page ("b\x01", &mapping, &mapping_len);
  guint handler = ep_test_capture_log (lines, G_LOG_LEVEL_DEBUG);

  g_assert_cmpint (ep_producer_send_event (producer, invalid, EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
  g_assert_cmpint (ep_producer_send_event (producer, invalid, EP_CONSENT_CATEGORY_TARGETING, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);
  g_log_remove_handler ("Ep", handler);
  g_assert_true (ep_test_log_has (lines, "Event 'b*' dropped (validationFailed)*control character*"));
  munmap (mapping, mapping_len);
}

static void
test_strict_mode_overread (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = ep_test_make_dir ("strict-overread");
      g_autoptr(GError) error = NULL;
      g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "strict-mode", TRUE, NULL);
      gpointer mapping;
      gsize mapping_len;
      char *invalid = string_before_guard_page ("edge\x01", &mapping, &mapping_len);

      g_assert_no_error (error);
      ep_producer_send_event (producer, invalid, EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  /* A critical (fatal here) naming the event, not a crash reading past it. */
  g_test_trap_assert_stderr ("*CRITICAL*edge*control character*");
}

/* Issue 8 item 11: every drop says why at debug level, in every mode. */
static void
test_drop_debug_lines (void)
{
  g_autofree char *dir = ep_test_make_dir ("drop-debug");
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "max-disk-usage", (guint64) 200, NULL);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *big = g_strnfill (300, 'b');
  guint handler;

  g_assert_no_error (error);
  handler = ep_test_capture_log (lines, G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_MESSAGE);
  ep_producer_send_event (producer, "ad_click", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
  ep_producer_send_event (producer, "broken", EP_CONSENT_CATEGORY_NECESSARY, "\x01", NULL);
  ep_producer_send_event (producer, "too_big_for_disk", EP_CONSENT_CATEGORY_NECESSARY, big, NULL);
  g_log_remove_handler ("Ep", handler);

  g_assert_true (ep_test_log_has (lines, "Event 'ad_click' dropped (consentFiltered): 'TARGETING' is a blocked*"));
  g_assert_true (ep_test_log_has (lines, "Event 'broken' dropped (validationFailed): 'payload' contains a control*"));
  g_assert_true (ep_test_log_has (lines, "Event 'too_big_for_disk' dropped (storingFailed): it could not be stored:*budget*"));
  /* A storage outage is a message, never a warning. */
  g_assert_true (ep_test_log_has (lines, "Storage outage:*"));
}

/* Issue 11: G_MESSAGES_DEBUG=Ep tells the story: the queue opened (its
 * directory, the events restored, the records discarded). */
static void
test_queue_opened_debug_line (void)
{
  g_autofree char *dir = ep_test_make_dir ("opened-debug");
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *pattern = NULL;
  guint handler;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    for (guint i = 0; i < 3; i++)
      ep_producer_send_event (producer, "kept", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  }
  handler = ep_test_capture_log (lines, G_LOG_LEVEL_DEBUG);
  {
    g_autoptr(EpProducer) producer = new_producer (dir);
  }
  g_log_remove_handler ("Ep", handler);
  pattern = g_strdup_printf ("Queue opened in %s: 3 events (* bytes) restored, 0 corrupt records discarded*", dir);
  g_assert_true (ep_test_log_has (lines, pattern));
}

static void
test_strict_mode (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = ep_test_make_dir ("strict");
      g_autoptr(GError) error = NULL;
      g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "strict-mode", TRUE, NULL);

      g_assert_no_error (error);
      ep_producer_send_event (producer, "loud_event", EP_CONSENT_CATEGORY_NECESSARY, "\x01", NULL);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*loud_event*control character*");
}

static void
test_not_strict_is_quiet (void)
{
  g_autofree char *dir = ep_test_make_dir ("quiet");
  g_autoptr(EpProducer) producer = new_producer (dir);

  /* Criticals are fatal in this test program: this passing shows that a
   * non-strict producer only counts. */
  g_assert_cmpint (ep_producer_send_event (producer, "quiet", EP_CONSENT_CATEGORY_NECESSARY, "\x01", NULL),
                   ==, EP_SEND_RESULT_VALIDATION_FAILED);
}

static void
test_consent (void)
{
  g_autofree char *dir = ep_test_make_dir ("consent");
  g_autoptr(EpProducer) producer = new_producer (dir);

  /* Privacy by default. */
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_NECESSARY));
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));

  g_assert_cmpint (ep_producer_send_event (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);
  g_assert_cmpint (ep_producer_send_event (producer, "ad", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, 1);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "ad"), ==, 1);

  /* A blocked event is dropped before validation: an invalid one counts as
   * consent-filtered, not as invalid. */
  g_assert_cmpint (ep_producer_send_event (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, "\x01", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);

  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  g_assert_cmpint (ep_producer_send_event (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL),
                   ==, EP_SEND_RESULT_STORED);
  g_assert_cmpint (ep_producer_send_event (producer, "ad", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);

  /* Blocking again also deletes the stored "perf" (issue 10), counted. */
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_cmpint (ep_producer_send_event (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);

  /* NECESSARY can never be blocked. */
  g_test_expect_message ("Ep", G_LOG_LEVEL_WARNING, "*NECESSARY*cannot be blocked*");
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_NECESSARY, TRUE);
  g_test_assert_expected_messages ();
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_NECESSARY));
  g_assert_cmpint (ep_producer_send_event (producer, "need", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                   ==, EP_SEND_RESULT_STORED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, 4);
}

#define N_THREADS 8
#define SENDS_PER_THREAD 2000

static gpointer
send_many (gpointer data)
{
  EpProducer *producer = data;

  for (guint i = 0; i < SENDS_PER_THREAD; i++)
    {
      g_autofree char *payload = g_strdup_printf ("{\"thread\":%p,\"i\":%u}", (void *) g_thread_self (), i);

      g_assert_cmpint (ep_producer_send_event (producer, "threaded", EP_CONSENT_CATEGORY_NECESSARY,
                                               payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
    }
  return NULL;
}

static void
test_threads (void)
{
  g_autofree char *dir = ep_test_make_dir ("threads");
  g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GArray) events = NULL;
  GThread *threads[N_THREADS];

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    for (guint i = 0; i < N_THREADS; i++)
      threads[i] = g_thread_new ("sender", send_many, producer);
    for (guint i = 0; i < N_THREADS; i++)
      g_thread_join (threads[i]);
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, N_THREADS * SENDS_PER_THREAD);
  }

  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, N_THREADS * SENDS_PER_THREAD);
  for (guint i = 0; i < events->len; i++)
    g_assert_true (g_hash_table_add (ids, (gpointer) g_array_index (events, EpEvent, i).id));
}

static void
test_restore (void)
{
  g_autofree char *dir = ep_test_make_dir ("restore");
  g_autoptr(GArray) events = NULL;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    for (guint i = 0; i < 50; i++)
      {
        g_autofree char *payload = g_strdup_printf ("{\"n\":%u}", i);
        ep_producer_send_event (producer, "ordered", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL);
      }
    /* Dropped without close: nothing stored may be lost. */
  }

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    /* Correct as soon as construction returns. */
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 50);
    g_assert_cmpuint (ep_producer_get_discarded_records (producer), ==, 0);
  }

  events = read_queue (dir);
  for (guint i = 0; i < events->len; i++)
    {
      g_autofree char *expected = g_strdup_printf ("{\"n\":%u}", i);
      g_assert_cmpstr (g_array_index (events, EpEvent, i).payload, ==, expected);
    }
}

static void
test_locked (void)
{
  g_autofree char *dir = ep_test_make_dir ("locked");
  g_autoptr(EpProducer) first = new_producer (dir);
  g_autoptr(EpProducer) second = NULL;
  g_autoptr(GError) error = NULL;

  second = new_producer_full (dir, &error, NULL);
  g_assert_null (second);
  g_assert_error (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED);
  g_clear_error (&error);

  /* Disposing releases the lock at once. */
  g_clear_object (&first);
  second = new_producer_full (dir, &error, NULL);
  g_assert_no_error (error);
  g_assert_nonnull (second);
}

/* SPEC 8: the lock goes with the producer even while the monitor has a
 * save pending (its timer armed by a drop): the directory reopens at once,
 * with the count saved by the close. */
static void
test_locked_monitor_save_pending (void)
{
  g_autofree char *dir = ep_test_make_dir ("locked-save");
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GError) error = NULL;

  for (guint round = 1; round <= 20; round++)
    {
      producer = new_producer_full (dir, &error, NULL);
      g_assert_no_error (error);
      g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, ""), ==, round - 1);
      g_assert_cmpint (ep_producer_send_event (producer, "", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                       ==, EP_SEND_RESULT_VALIDATION_FAILED);
      /* Even rounds: the context also runs what is ready (a completion
       * left by an earlier producer's monitor, if any). */
      if (round % 2 == 0)
        for (guint i = 0; i < 50; i++)
          g_main_context_iteration (NULL, FALSE);
      g_clear_object (&producer);
    }
}

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   GArray     *changes)
{
  g_array_append_val (changes, outage);
}

static guint64
probe_event_size (const char *name)
{
  g_autofree char *dir = ep_test_make_dir ("probe");
  g_autoptr(EpProducer) producer = new_producer (dir);

  /* Minus its one-byte payload: the size of the name and the headers. */
  g_assert_cmpint (ep_producer_send_event (producer, name, EP_CONSENT_CATEGORY_NECESSARY, "x", NULL),
                   ==, EP_SEND_RESULT_STORED);
  return ep_producer_get_queue_bytes (producer) - 1;
}

static void
test_budget (void)
{
  g_autofree char *dir = ep_test_make_dir ("budget");
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (gboolean));
  g_autoptr(EpProducer) producer = NULL;
  g_autofree char *payload = g_strnfill (1000, 'b');
  guint64 small = probe_event_size ("fill");
  guint64 budget = 5 * (small + 1000) + small + 10;
  guint stored = 0;

  producer = new_producer_full (dir, &error, "max-disk-usage", budget, NULL);
  g_assert_no_error (error);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), changes);

  while (ep_producer_send_event (producer, "fill", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL) ==
         EP_SEND_RESULT_STORED)
    stored++;
  g_assert_cmpuint (stored, ==, 5);
  g_assert_cmpuint (ep_producer_get_queue_bytes (producer), ==, 5 * (small + 1000));
  /* Over budget: new events are dropped, old ones kept. */
  g_assert_cmpint (ep_producer_send_event (producer, "fill", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                   ==, EP_SEND_RESULT_STORING_FAILED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, stored);
  g_assert_cmpuint (ep_test_count_of (producer, STORING, "fill"), ==, 2);

  EP_TEST_SPIN_UNTIL (changes->len == 1);
  g_assert_true (g_array_index (changes, gboolean, 0));
  g_assert_true (ep_producer_get_outage (producer));

  /* A small event still fits: the next successful store ends the outage. */
  g_assert_cmpint (ep_producer_send_event (producer, "fill", EP_CONSENT_CATEGORY_NECESSARY, "x", NULL),
                   ==, EP_SEND_RESULT_STORED);
  EP_TEST_SPIN_UNTIL (changes->len == 2);
  g_assert_false (g_array_index (changes, gboolean, 1));
  g_assert_false (ep_producer_get_outage (producer));
}

typedef struct {
  EpProducer *producer;
  GThread    *signal_thread;
  guint       changes;
} ThreadedOutage;

static void
on_outage_record_thread (EpProducer     *producer,
                         gboolean        outage,
                         ThreadedOutage *data)
{
  data->signal_thread = g_thread_self ();
  data->changes++;
}

static gpointer
send_too_big (gpointer user_data)
{
  ThreadedOutage *data = user_data;

  g_assert_cmpint (ep_producer_send_event (data->producer, "big", EP_CONSENT_CATEGORY_NECESSARY,
                                           "{}", NULL),
                   ==, EP_SEND_RESULT_STORING_FAILED);
  return NULL;
}

/* A storage outage that starts on another thread is announced on the
 * producer's main context, once. */
static void
test_outage_signal_on_main_context (void)
{
  g_autofree char *dir = ep_test_make_dir ("outage-thread");
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "max-disk-usage", (guint64) 10, NULL);
  ThreadedOutage data = { producer, NULL, 0 };
  GThread *sender;

  g_assert_no_error (error);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_record_thread), &data);
  sender = g_thread_new ("sender", send_too_big, &data);
  g_thread_join (sender);
  g_assert_cmpuint (data.changes, ==, 0);

  EP_TEST_SPIN_UNTIL (data.changes == 1);
  g_assert_true (data.signal_thread == g_thread_self ());
  for (guint i = 0; i < 5; i++)
    ep_test_iterate ();
  g_assert_cmpuint (data.changes, ==, 1);
}

/* A disk error (here: the file size limit) is a storage outage; once the
 * disk works again the next store ends it. */
static void
test_disk_error (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *dir = ep_test_make_dir ("disk");
      g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (gboolean));
      g_autoptr(EpProducer) producer = new_producer (dir);
      g_autofree char *payload = g_strnfill (4000, 'd');
      struct rlimit limit;
      guint stored = 0;

      g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), changes);
      signal (SIGXFSZ, SIG_IGN);
      getrlimit (RLIMIT_FSIZE, &limit);
      limit.rlim_cur = 64 * 1024;
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);

      while (ep_producer_send_event (producer, "disk", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL) ==
             EP_SEND_RESULT_STORED)
        g_assert_cmpuint (++stored, <, 1000);
      g_assert_cmpuint (ep_test_count_of (producer, STORING, "disk"), ==, 1);
      EP_TEST_SPIN_UNTIL (changes->len == 1);
      g_assert_true (ep_producer_get_outage (producer));

      limit.rlim_cur = limit.rlim_max;
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &limit), ==, 0);
      g_assert_cmpint (ep_producer_send_event (producer, "disk", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
      EP_TEST_SPIN_UNTIL (changes->len == 2);
      g_assert_false (ep_producer_get_outage (producer));
      g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, stored + 1);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_counters_survive_restart (void)
{
  g_autofree char *dir = ep_test_make_dir ("counters");
  g_autofree char *json = NULL;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
    ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
    ep_producer_send_event (producer, "", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  }
  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "blocked"), ==, 2);
    g_assert_cmpuint (ep_test_count_of (producer, VALIDATION, ""), ==, 1);
    json = ep_producer_dup_counters_json (producer);
    g_assert_cmpstr (json, ==, "{\"consentFilteredEvents\":{\"blocked\":2},"
                               "\"validationFailedEvents\":{\"\":1},\"storingFailedEvents\":{}}");
  }
}

static void
test_outage_persisted (void)
{
  g_autofree char *dir = ep_test_make_dir ("outage");
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "max-disk-usage", (guint64) 10, NULL);

    g_assert_no_error (error);
    g_assert_cmpint (ep_producer_send_event (producer, "big", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                     ==, EP_SEND_RESULT_STORING_FAILED);
    EP_TEST_SPIN_UNTIL (ep_producer_get_outage (producer));
  }
  {
    g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (gboolean));
    g_autoptr(EpProducer) producer = new_producer (dir);

    /* Restored, and not announced. */
    g_assert_true (ep_producer_get_outage (producer));
    g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), changes);
    g_assert_cmpint (ep_producer_send_event (producer, "ok", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                     ==, EP_SEND_RESULT_STORED);
    EP_TEST_SPIN_UNTIL (changes->len == 1);
    g_assert_false (g_array_index (changes, gboolean, 0));
  }
}

static void
check_modes (const char *dir)
{
  g_autoptr(GDir) listing = g_dir_open (dir, 0, NULL);
  const char *name;
  GStatBuf st;
  guint files = 0;

  g_assert_cmpint (g_stat (dir, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
  while ((name = g_dir_read_name (listing)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_assert_cmpint (g_stat (path, &st), ==, 0);
      if (S_ISDIR (st.st_mode))
        g_assert_cmpint (st.st_mode & 0777, ==, 0700);
      else
        g_assert_cmpint (st.st_mode & 0777, ==, 0600);
      files++;
    }
  g_assert_cmpuint (files, >, 0);
}

static void
test_modes (void)
{
  g_autofree char *parent = ep_test_make_dir ("modes");
  g_autofree char *dir = g_build_filename (parent, "queue", NULL);
  mode_t old_mask = umask (0);

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    ep_producer_send_event (producer, "m", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
    ep_producer_send_event (producer, "m", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
  }
  umask (old_mask);
  check_modes (dir);
}

static void
test_feral (void)
{
  g_autofree char *dir = ep_test_make_dir ("feral");
  const char *feral[] = { "poison", NULL };
  g_autoptr(GArray) events = NULL;
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(EpProducer) producer = new_producer (dir);

    ep_producer_send_event (producer, "ok", EP_CONSENT_CATEGORY_NECESSARY, "1", NULL);
    ep_producer_send_event (producer, "poison", EP_CONSENT_CATEGORY_NECESSARY, "2", NULL);
    ep_producer_send_event (producer, "ok", EP_CONSENT_CATEGORY_NECESSARY, "3", NULL);
  }
  {
    g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "feral-event-types", feral, NULL);

    g_assert_no_error (error);
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  }
  /* Removed for good, not just skipped. */
  events = read_queue (dir);
  g_assert_cmpuint (events->len, ==, 2);
  g_assert_cmpstr (g_array_index (events, EpEvent, 0).payload, ==, "1");
  g_assert_cmpstr (g_array_index (events, EpEvent, 1).payload, ==, "3");
}

static void
test_closed (void)
{
  g_autofree char *dir = ep_test_make_dir ("closed");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  ep_producer_send_event (producer, "before", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_producer_send_event (producer, "blocked_before", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, &error));
  g_assert_no_error (error);

  /* Issue 8 item 11: quietly counted; no storage outage on a closed
   * producer, neither logged nor announced. */
  {
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
    g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (gboolean));
    guint handler = ep_test_capture_log (lines, G_LOG_LEVEL_MASK & ~G_LOG_LEVEL_DEBUG);
    gboolean outage = ep_producer_get_outage (producer);  /* the last delivery attempt failed */

    g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), changes);
    g_assert_cmpint (ep_producer_send_event (producer, "after", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL),
                     ==, EP_SEND_RESULT_STORING_FAILED);
    while (g_main_context_iteration (NULL, FALSE))
      ;
    g_log_remove_handler ("Ep", handler);
    g_assert_cmpuint (lines->len, ==, 0);
    g_assert_cmpuint (changes->len, ==, 0);
    g_assert_cmpint (ep_producer_get_outage (producer), ==, outage);
  }
  g_assert_cmpuint (ep_test_count_of (producer, STORING, "after"), ==, 1);

  /* The directory is free, the event sent before close is there, and so
   * are the counters (close saved them). */
  {
    g_autoptr(EpProducer) next = new_producer (dir);
    g_assert_cmpuint (ep_producer_get_queue_length (next), ==, 1);
    g_assert_cmpuint (ep_test_count_of (next, CONSENT, "blocked_before"), ==, 1);
    g_assert_cmpuint (ep_test_count_of (next, STORING, "after"), ==, 0);

    /* The closed producer, still alive, never writes in the directory that
     * has a new owner, not even when it is disposed. */
    ep_producer_send_event (producer, "late", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
    g_clear_object (&producer);
  }
  {
    g_autoptr(EpProducer) third = new_producer (dir);
    g_assert_cmpuint (ep_test_count_of (third, CONSENT, "late"), ==, 0);
    g_assert_cmpuint (ep_test_count_of (third, STORING, "after"), ==, 0);
    g_assert_cmpuint (ep_test_count_of (third, CONSENT, "blocked_before"), ==, 1);
  }
}

/* A store that fails and one that succeeds before the main context runs
 * still make an outage, announced once each way. */
static void
test_brief_outage_announced (void)
{
  g_autofree char *dir = ep_test_make_dir ("brief");
  g_autoptr(GArray) changes = g_array_new (FALSE, FALSE, sizeof (gboolean));
  g_autoptr(GError) error = NULL;
  guint64 small = probe_event_size ("s");
  g_autoptr(EpProducer) producer = new_producer_full (dir, &error, "max-disk-usage", small + 1, NULL);
  g_autofree char *big = g_strnfill (100, 'b');

  g_assert_no_error (error);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), changes);
  g_assert_cmpint (ep_producer_send_event (producer, "s", EP_CONSENT_CATEGORY_NECESSARY, big, NULL),
                   ==, EP_SEND_RESULT_STORING_FAILED);
  g_assert_cmpint (ep_producer_send_event (producer, "s", EP_CONSENT_CATEGORY_NECESSARY, "x", NULL),
                   ==, EP_SEND_RESULT_STORED);
  EP_TEST_SPIN_UNTIL (changes->len == 2);
  g_assert_true (g_array_index (changes, gboolean, 0));
  g_assert_false (g_array_index (changes, gboolean, 1));
  for (guint i = 0; i < 5; i++)
    ep_test_iterate ();
  g_assert_cmpuint (changes->len, ==, 2);
  g_assert_false (ep_producer_get_outage (producer));
}

static gpointer
set_credentials_in_thread (gpointer data)
{
  g_autoptr(EpCredentials) credentials = ep_credentials_new ("t", "c");

  ep_producer_set_credentials (data, credentials);
  return NULL;
}

static void
on_notify_record_thread (GObject    *object,
                         GParamSpec *pspec,
                         GThread   **thread)
{
  *thread = g_thread_self ();
}

static void
test_credentials_notify_on_main (void)
{
  g_autofree char *dir = ep_test_make_dir ("creds");
  g_autoptr(EpProducer) producer = new_producer (dir);
  g_autoptr(EpCredentials) current = NULL;
  GThread *notified_on = NULL;

  g_signal_connect (producer, "notify::credentials", G_CALLBACK (on_notify_record_thread), &notified_on);
  g_thread_join (g_thread_new ("setter", set_credentials_in_thread, producer));
  current = ep_producer_dup_credentials (producer);
  g_assert_cmpstr (ep_credentials_get_token (current), ==, "t");
  EP_TEST_SPIN_UNTIL (notified_on != NULL);
  g_assert_true (notified_on == g_thread_self ());
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/producer/config-errors", test_config_errors);
  g_test_add_func ("/ep/producer/config-errors-strict", test_config_errors_strict);
  g_test_add_func ("/ep/producer/https-without-tls-backend", test_https_without_tls_backend);
  g_test_add_func ("/ep/producer/not-initialized-critical", test_not_initialized_critical);
  g_test_add_func ("/ep/producer/default-queue-dir", test_default_queue_dir);
  g_test_add_func ("/ep/producer/send-stored", test_send_stored);
  g_test_add_func ("/ep/producer/default-headers", test_default_headers);
  g_test_add_func ("/ep/producer/send-event-full-id", test_send_event_full_id);
  g_test_add_func ("/ep/producer/clock-offset", test_clock_offset);
  g_test_add_func ("/ep/producer/stamp-payload", test_stamp_payload);
  g_test_add_func ("/ep/producer/stamp-payload-replaced", test_stamp_payload_replaced);
  g_test_add_func ("/ep/producer/size-boundary", test_size_boundary);
  g_test_add_func ("/ep/producer/invalid-events", test_invalid_events);
  g_test_add_func ("/ep/producer/strict-mode", test_strict_mode);
  g_test_add_func ("/ep/producer/reserved-headers-and-empty-fields", test_reserved_headers_and_empty_fields);
  g_test_add_func ("/ep/producer/drop-reads-only-the-name", test_drop_reads_only_the_name);
  g_test_add_func ("/ep/producer/strict-mode-overread", test_strict_mode_overread);
  g_test_add_func ("/ep/producer/drop-debug-lines", test_drop_debug_lines);
  g_test_add_func ("/ep/producer/queue-opened-debug-line", test_queue_opened_debug_line);
  g_test_add_func ("/ep/producer/not-strict-is-quiet", test_not_strict_is_quiet);
  g_test_add_func ("/ep/producer/consent", test_consent);
  g_test_add_func ("/ep/producer/threads", test_threads);
  g_test_add_func ("/ep/producer/restore", test_restore);
  g_test_add_func ("/ep/producer/locked", test_locked);
  g_test_add_func ("/ep/producer/locked-monitor-save-pending", test_locked_monitor_save_pending);
  g_test_add_func ("/ep/producer/budget", test_budget);
  g_test_add_func ("/ep/producer/disk-error", test_disk_error);
  g_test_add_func ("/ep/producer/outage-signal-on-main-context", test_outage_signal_on_main_context);
  g_test_add_func ("/ep/producer/counters-survive-restart", test_counters_survive_restart);
  g_test_add_func ("/ep/producer/outage-persisted", test_outage_persisted);
  g_test_add_func ("/ep/producer/modes", test_modes);
  g_test_add_func ("/ep/producer/feral", test_feral);
  g_test_add_func ("/ep/producer/closed", test_closed);
  g_test_add_func ("/ep/producer/brief-outage-announced", test_brief_outage_announced);
  g_test_add_func ("/ep/producer/credentials-notify-on-main", test_credentials_notify_on_main);

  return g_test_run ();
}
