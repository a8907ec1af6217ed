/* test-delivery.c: the scheduler, the transport and the producer together,
 * against a scripted SQS consumer on 127.0.0.1
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "ep-event-private.h"
#include "ep-queue-private.h"
#include "ep-scheduler-private.h"
#include "ep-witness-private.h"
#include "ep-test-server.h"
#include "ep-test-util.h"

typedef struct {
  EpTestConsumer consumer;
  GArray       *outages;    /* (element-type gboolean): outage-changed, in order */
  GArray       *rejected;   /* (element-type guint): credentials-rejected statuses */
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  ep_test_consumer_init (&fx->consumer, "delivery", EP_TEST_PUBLIC_PATH);
  fx->outages = g_array_new (FALSE, FALSE, sizeof (gboolean));
  fx->rejected = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  ep_test_consumer_clear (&fx->consumer);
  g_array_unref (fx->outages);
  g_array_unref (fx->rejected);
}

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   Fixture    *fx)
{
  g_array_append_val (fx->outages, outage);
}

static void
on_credentials_rejected (EpProducer *producer,
                         guint       status,
                         Fixture    *fx)
{
  g_array_append_val (fx->rejected, status);
}

static void
watch (Fixture    *fx,
       EpProducer *producer)
{
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), fx);
  g_signal_connect (producer, "credentials-rejected", G_CALLBACK (on_credentials_rejected), fx);
}

#define producer_new(fx, ...) \
  ep_test_consumer_new_producer (&(fx)->consumer, __VA_ARGS__)

static void
send_n (EpProducer *producer,
        const char *name,
        guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("{\"seq\":%u}", i);

      g_assert_cmpint (ep_producer_send_event (producer, name, EP_CONSENT_CATEGORY_NECESSARY,
                                               payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
    }
}

static EpTestRequest *
request (Fixture *fx,
         guint    i)
{
  GPtrArray *requests = ep_test_server_get_requests (fx->consumer.server);

  g_assert_cmpuint (i, <, requests->len);
  return g_ptr_array_index (requests, i);
}

static const char *
header (EpTestRequest *req,
        const char    *name)
{
  return g_hash_table_lookup (req->http_headers, name);
}

static gboolean
counters_have (EpProducer *producer,
               const char *fragment)
{
  g_autofree char *counters = ep_producer_dup_counters_json (producer);

  return strstr (counters, fragment) != NULL;
}

static void
assert_flush_fails (EpProducer *producer,
                    const char *pattern)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (ep_test_flush (producer, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_DELIVERY);
  if (pattern != NULL && !g_pattern_match_simple (pattern, error->message))
    g_error ("flush error '%s' does not match '%s'", error->message, pattern);
}

static void
assert_flush_ok (EpProducer *producer)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
}

/* ------------------------------------------------------------------------ */

static void
test_batches_in_order (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  GPtrArray *requests;
  guint seq = 0;

  send_n (producer, "ordered", 21);
  assert_flush_ok (producer);

  requests = ep_test_server_get_requests (fx->consumer.server);
  g_assert_cmpuint (requests->len, ==, 3);
  g_assert_cmpuint (request (fx, 0)->entries->len, ==, 10);
  g_assert_cmpuint (request (fx, 1)->entries->len, ==, 10);
  g_assert_cmpuint (request (fx, 2)->entries->len, ==, 1);
  for (guint r = 0; r < requests->len; r++)
    {
      EpTestRequest *req = request (fx, r);

      g_assert_cmpstr (req->path, ==, EP_TEST_PUBLIC_PATH);
      for (guint e = 0; e < req->entries->len; e++, seq++)
        {
          EpTestEntry *entry = g_ptr_array_index (req->entries, e);
          g_autofree char *expected = g_strdup_printf ("{\"seq\":%u}", seq);

          g_assert_cmpstr (entry->body, ==, expected);
          g_assert_cmpstr (entry->name, ==, "ordered");
          g_assert_true (g_uuid_string_is_valid (entry->id));
        }
    }
  EP_TEST_SPIN_UNTIL (TRUE);
  g_assert_cmpuint (fx->outages->len, ==, 0);
}

static void
test_request_shape (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char *expected_keys[] = {
    "SendMessageBatchRequestEntry.1.Id",
    "SendMessageBatchRequestEntry.1.MessageBody",
    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name",
    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue",
    "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType",
    "SendMessageBatchRequestEntry.1.MessageAttribute.2.Name",
    "SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.StringValue",
    "SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType",
  };
  EpTestRequest *req;
  EpTestEntry *entry;
  JsonObject *headers;

  ep_producer_send_event (producer, "shape", EP_CONSENT_CATEGORY_NECESSARY,
                          "{\"text\":\"a&b=c+d%e \xc3\xa9\"}", NULL);
  assert_flush_ok (producer);

  req = request (fx, 0);
  g_assert_cmpuint (req->form_keys->len, ==, G_N_ELEMENTS (expected_keys));
  for (guint i = 0; i < G_N_ELEMENTS (expected_keys); i++)
    g_assert_cmpstr (g_ptr_array_index (req->form_keys, i), ==, expected_keys[i]);
  g_assert_cmpstr (g_hash_table_lookup (req->form, "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name"), ==, "Name");
  g_assert_cmpstr (g_hash_table_lookup (req->form, "SendMessageBatchRequestEntry.1.MessageAttribute.2.Name"), ==, "Headers");
  g_assert_cmpstr (g_hash_table_lookup (req->form, "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType"), ==, "String");
  g_assert_false (g_hash_table_contains (req->form, "Action"));
  g_assert_false (g_hash_table_contains (req->form, "Version"));
  g_assert_cmpstr (header (req, "content-type"), ==, "application/x-www-form-urlencoded");
  g_assert_nonnull (strstr (header (req, "user-agent"), "ep-glib/"));
  g_assert_nonnull (strstr (header (req, "user-agent"), "test-app/1.2.3"));

  entry = g_ptr_array_index (req->entries, 0);
  g_assert_cmpstr (entry->body, ==, "{\"text\":\"a&b=c+d%e \xc3\xa9\"}");
  json_parser_load_from_data (parser, entry->headers_json, -1, &error);
  g_assert_no_error (error);
  headers = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (headers, "app-name"), ==, "test-app");
  g_assert_cmpstr (json_object_get_string_member (headers, "consent-category"), ==, "NECESSARY");
}

static void
test_token_paths (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(EpCredentials) anonymous = ep_credentials_new (NULL, "client-1");
  g_autoptr(EpCredentials) logged_in = ep_credentials_new ("tok-1", "client-1");
  g_autoptr(EpCredentials) refreshed = ep_credentials_new ("tok-2", "client-1");
  EpTestRequest *req;

  /* No credentials at all: the public endpoint, no token headers. */
  send_n (producer, "nobody", 1);
  assert_flush_ok (producer);
  req = request (fx, 0);
  g_assert_cmpstr (req->path, ==, EP_TEST_PUBLIC_PATH);
  g_assert_null (header (req, "authorization"));
  g_assert_null (header (req, "x-tidal-token"));

  ep_producer_set_credentials (producer, anonymous);
  send_n (producer, "anonymous", 1);
  assert_flush_ok (producer);
  req = request (fx, 1);
  g_assert_cmpstr (req->path, ==, EP_TEST_PUBLIC_PATH);
  g_assert_cmpstr (header (req, "x-tidal-token"), ==, "client-1");
  g_assert_null (header (req, "authorization"));

  ep_producer_set_credentials (producer, logged_in);
  send_n (producer, "logged_in", 1);
  /* A token refresh changes the HTTP header of later requests, not the
   * stored event's headers. */
  ep_producer_set_credentials (producer, refreshed);
  assert_flush_ok (producer);
  req = request (fx, 2);
  g_assert_cmpstr (req->path, ==, EP_TEST_EVENT_PATH);
  g_assert_cmpstr (header (req, "authorization"), ==, "Bearer tok-2");
  g_assert_nonnull (strstr (((EpTestEntry *) g_ptr_array_index (req->entries, 0))->headers_json,
                            "\"authorization\":\"tok-1\""));
}

static void
test_sender_faults_and_retryable (Fixture       *fx,
                                  gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  const char *faulty[] = { "refused", NULL };
  const char *retry[] = { "later", NULL };
  g_autofree char *counters = NULL;

  ep_test_server_set_sender_fault_names (fx->consumer.server, faulty);
  ep_test_server_set_retryable_names (fx->consumer.server, retry);
  send_n (producer, "fine", 3);
  send_n (producer, "refused", 1);
  send_n (producer, "later", 1);

  /* The refused event is deleted and counted; the retryable one is kept. */
  assert_flush_fails (producer, "1 events are still queued*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
  counters = ep_producer_dup_counters_json (producer);
  g_assert_nonnull (strstr (counters, "\"validationFailedEvents\":{\"refused\":1}"));

  ep_test_server_set_retryable_names (fx->consumer.server, NULL);
  assert_flush_ok (producer);
}

static void
test_unmentioned_ids_kept (Fixture       *fx,
                           gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  const char *none[] = { NULL };
  g_autofree char *body = ep_test_sqs_accept_body (none);

  send_n (producer, "unmentioned", 2);
  ep_test_server_push_reply (fx->consumer.server, 200, "text/xml", body, NULL);
  assert_flush_fails (producer, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  assert_flush_ok (producer);
}

static void
append_record (EpQueue    *queue,
               const char *id,
               const char *payload)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  ep_event_record_build (record, g_get_real_time (), id, "dup", 3, "{}", 2, payload, strlen (payload));
  g_assert_true (ep_queue_append (queue, record->data, record->len,
                                  36 + 3 + 2 + strlen (payload), &error));
  g_assert_no_error (error);
}

static void
test_ids_not_distinct (Fixture       *fx,
                       gconstpointer  data)
{
  const char *id = "11111111-2222-4333-8444-555555555555";
  GPtrArray *confirmed;

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpQueue) queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);

    g_assert_no_error (error);
    append_record (queue, id, "first");
    append_record (queue, id, "copy");
    append_record (queue, "66666666-2222-4333-8444-555555555555", "other");
    ep_queue_close (queue);
  }
  {
    g_autoptr(EpProducer) producer = producer_new (fx, NULL);

    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
    /* The test consumer refuses the batch as SQS does; the copy is removed
     * and the rest go through. */
    assert_flush_ok (producer);
  }
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 2);
  confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);
  g_assert_cmpuint (confirmed->len, ==, 2);
  g_assert_cmpstr (((EpTestEntry *) g_ptr_array_index (request (fx, 1)->entries, 0))->body, ==, "first");
}

static void
test_outage_once_per_change (Fixture       *fx,
                             gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);

  watch (fx, producer);
  send_n (producer, "o", 3);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 500, "oops", NULL);
  assert_flush_fails (producer, "*HTTP 500*");
  assert_flush_fails (producer, "*HTTP 500*");
  g_assert_true (ep_producer_get_outage (producer));
  g_assert_cmpuint (fx->outages->len, ==, 1);
  g_assert_true (g_array_index (fx->outages, gboolean, 0));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  assert_flush_ok (producer);
  g_assert_cmpuint (fx->outages->len, ==, 2);
  g_assert_false (g_array_index (fx->outages, gboolean, 1));
  assert_flush_ok (producer);
  g_assert_cmpuint (fx->outages->len, ==, 2);
}

static void
test_failure_classes (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "request-timeout", 2000, NULL);

  watch (fx, producer);
  send_n (producer, "f", 2);

  ep_test_server_push_reset (fx->consumer.server);
  assert_flush_fails (producer, NULL);
  ep_test_server_push_reset_mid_reply (fx->consumer.server);
  assert_flush_fails (producer, NULL);
  ep_test_server_push_reply (fx->consumer.server, 502, "text/html", "<html>Bad gateway</html>", NULL);
  assert_flush_fails (producer, "*HTTP 502*");
  ep_test_server_push_reply (fx->consumer.server, 200, "text/html", "<html>not SQS</html>", NULL);
  assert_flush_fails (producer, NULL);
  ep_test_server_push_reply (fx->consumer.server, 200, "text/xml", "", NULL);
  assert_flush_fails (producer, NULL);

  /* Nothing was lost, and one outage was announced. */
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_assert_cmpuint (fx->outages->len, ==, 1);
  assert_flush_ok (producer);
  g_assert_cmpuint (fx->outages->len, ==, 2);
}

/* A URI on a port that was just free: nobody listens there. */
static char *
unreachable_uri (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) error = NULL;
  guint16 port;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  address = g_inet_socket_address_new (loopback, 0);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  g_clear_object (&address);
  address = g_socket_get_local_address (socket, &error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  g_socket_close (socket, NULL);
  return g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch", port);
}

static void
test_connection_refused (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(EpProducer) producer = NULL;
  g_autofree char *uri = unreachable_uri ();

  producer = ep_test_producer_new (fx->consumer.dir, uri, uri, NULL, NULL);
  watch (fx, producer);
  send_n (producer, "refused", 3);
  assert_flush_fails (producer, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
  g_assert_cmpuint (fx->outages->len, ==, 1);
}

static void
test_hung_consumer (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "request-timeout", 1000, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  EpTestTicker ticker;

  watch (fx, producer);
  send_n (producer, "hung", 25);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);

  ep_test_ticker_start (&ticker);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  ep_test_ticker_stop (&ticker);

  g_assert_false (ep_producer_flush_finish (producer, result, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_DELIVERY);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 25);
  g_assert_true (ep_producer_get_outage (producer));
  /* The main loop went on while the consumer hung. Generous bounds: the
   * machines are shared (ASan, valgrind, other jobs), so a 1 ms ticker may
   * tick far less than 1000 times in the 1 s timeout; a blocked loop would
   * show a single gap of the whole timeout. */
  g_assert_cmpuint (ticker.ticks, >, 20);
  g_assert_cmpint (ticker.longest_gap_us, <, 250 * 1000);
}

static void
test_retry_after (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  guint requests;

  watch (fx, producer);
  send_n (producer, "throttled", 2);
  ep_test_server_push_reply (fx->consumer.server, 503, "text/plain", "slow down", "120");
  assert_flush_fails (producer, "*HTTP 503*");
  requests = ep_test_server_get_n_requests (fx->consumer.server);

  /* Flush skips backoff, never a Retry-After. */
  assert_flush_fails (producer, "*Retry-After*");
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, requests);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
}

static void
test_retry_after_429_date (Fixture       *fx,
                           gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) later = g_date_time_add_seconds (now, 300);
  g_autofree char *date = g_date_time_format (later, "%a, %d %b %Y %H:%M:%S GMT");

  send_n (producer, "throttled", 1);
  ep_test_server_push_reply (fx->consumer.server, 429, "text/plain", "too many", date);
  assert_flush_fails (producer, "*HTTP 429*");
  assert_flush_fails (producer, "*Retry-After*");
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 1);
}

static void
test_credentials_rejected (Fixture       *fx,
                           gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(EpCredentials) stale = ep_credentials_new ("stale", "client");
  g_autoptr(EpCredentials) fresh = ep_credentials_new ("fresh", "client");
  guint n;

  watch (fx, producer);
  ep_producer_set_credentials (producer, stale);
  send_n (producer, "auth", 2);

  ep_test_server_push_reply (fx->consumer.server, 401, "text/plain", "expired", NULL);
  assert_flush_fails (producer, "*HTTP 401*");
  g_assert_cmpuint (fx->rejected->len, ==, 1);
  g_assert_cmpuint (g_array_index (fx->rejected, guint, 0), ==, 401);
  g_assert_true (ep_producer_get_outage (producer));

  /* The same credentials refused again: announced once only (issue 10). */
  ep_test_server_push_reply (fx->consumer.server, 403, "text/plain", "forbidden", NULL);
  assert_flush_fails (producer, "*HTTP 403*");
  g_assert_cmpuint (fx->rejected->len, ==, 1);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);

  ep_producer_set_credentials (producer, fresh);
  assert_flush_ok (producer);
  n = ep_test_server_get_n_requests (fx->consumer.server);
  g_assert_cmpstr (header (request (fx, n - 1), "authorization"), ==, "Bearer fresh");
  g_assert_false (ep_producer_get_outage (producer));
}

static void
test_poison_split (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  const char *poison[] = { "poison", NULL };
  g_autofree char *counters = NULL;
  GPtrArray *confirmed;

  watch (fx, producer);
  ep_test_server_set_poison_names (fx->consumer.server, poison, GPOINTER_TO_UINT (data));
  send_n (producer, "good", 4);
  send_n (producer, "poison", 1);
  send_n (producer, "good", 5);

  assert_flush_ok (producer);
  confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);
  g_assert_cmpuint (confirmed->len, ==, 9);
  counters = ep_producer_dup_counters_json (producer);
  g_assert_nonnull (strstr (counters, "\"validationFailedEvents\":{\"poison\":1}"));
  /* The consumer answered every time: no outage. */
  g_assert_cmpuint (fx->outages->len, ==, 0);
}

static void
test_max_in_flight (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 4, "request-timeout", 10000, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *requests;

  send_n (producer, "parallel", 60);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);

  /* Four batches hang at once, never more, and no event is in two. */
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 4);
  for (guint i = 0; i < 20; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_hung (fx->consumer.server), ==, 4);
  requests = ep_test_server_get_requests (fx->consumer.server);
  for (guint r = 0; r < requests->len; r++)
    {
      EpTestRequest *req = g_ptr_array_index (requests, r);

      for (guint e = 0; e < req->entries->len; e++)
        g_assert_true (g_hash_table_add (ids, ((EpTestEntry *) g_ptr_array_index (req->entries, e))->id));
    }

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  ep_test_server_release_hung (fx->consumer.server);
  ep_test_wait_result (&result);
  g_assert_false (ep_producer_flush_finish (producer, result, &error));
  g_clear_error (&error);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 60);
}

static void
test_monitoring_event (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "monitoring-interval", 20, NULL);
  g_autoptr(EpCredentials) credentials = ep_credentials_new ("secret", "client-9");
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  EpTestRequest *req;
  EpTestEntry *entry;
  JsonObject *object;

  ep_producer_set_credentials (producer, credentials);
  ep_producer_send_event (producer, "ad_view", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
  ep_producer_send_event (producer, "ad_view", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) >= 1);
  req = request (fx, 0);
  g_assert_cmpstr (req->path, ==, EP_TEST_PUBLIC_PATH);
  g_assert_cmpstr (header (req, "x-tidal-token"), ==, "client-9");
  g_assert_null (header (req, "authorization"));
  g_assert_cmpuint (req->entries->len, ==, 1);
  entry = g_ptr_array_index (req->entries, 0);
  g_assert_cmpstr (entry->name, ==, EP_MONITORING_EVENT_NAME);

  json_parser_load_from_data (parser, entry->headers_json, -1, &error);
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (object, "client-id"), ==, "client-9");
  g_assert_cmpstr (json_object_get_string_member (object, "consent-category"), ==, "NECESSARY");
  g_assert_false (json_object_has_member (object, "authorization"));

  json_parser_load_from_data (parser, entry->body, -1, &error);
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (object, "consentFilteredEvents"),
                                               "ad_view"), ==, 2);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (object, "validationFailedEvents")), ==, 0);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (object, "storingFailedEvents")), ==, 0);

  /* Confirmed: the counts are subtracted, and nothing more is sent. */
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"consentFilteredEvents\":{}"));
}

static void
test_monitoring_failure_keeps_counts (Fixture       *fx,
                                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "monitoring-interval", 20, NULL);
  g_autofree char *counters = NULL;

  watch (fx, producer);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 500, "down", NULL);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) >= 3);
  counters = ep_producer_dup_counters_json (producer);
  g_assert_nonnull (strstr (counters, "\"consentFilteredEvents\":{\"blocked\":1}"));
  /* A failed monitoring post never changes the outage state. */
  g_assert_cmpuint (fx->outages->len, ==, 0);
  g_assert_false (ep_producer_get_outage (producer));

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"consentFilteredEvents\":{}"));
}

static void
test_close_dead_consumer (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "request-timeout", 300, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  gint64 start;

  send_n (producer, "closing", 5);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  start = g_get_monotonic_time ();
  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, &error));
  g_assert_no_error (error);
  /* Bounded by request-timeout (300 ms), with room for a slow machine. */
  g_assert_cmpint (g_get_monotonic_time () - start, <, 5 * G_USEC_PER_SEC);

  /* Nothing lost: the next producer has all five. */
  g_clear_object (&producer);
  producer = producer_new (fx, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 5);
}

static void
test_close_delivers (Fixture       *fx,
                     gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  send_n (producer, "last", 12);
  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, &error));
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 12);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
}

static void
test_restart_mid_delivery (Fixture       *fx,
                           gconstpointer  data)
{
  g_autoptr(GHashTable) stored = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GPtrArray *confirmed;

  {
    /* Delivery started by the timer, not by a flush: nothing but the
     * application holds the producer. */
    g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 2, "batch-interval", 10, NULL);

    send_n (producer, "restart", 45);
    ep_test_server_push_accept (fx->consumer.server);
    ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
    EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) >= 1 &&
                        ep_producer_get_queue_length (producer) == 35);
    /* Dropped with batches in flight: the directory must be free at once. */
  }

  {
    GPtrArray *requests = ep_test_server_get_requests (fx->consumer.server);

    for (guint r = 0; r < requests->len; r++)
      {
        EpTestRequest *req = g_ptr_array_index (requests, r);
        for (guint e = 0; e < req->entries->len; e++)
          g_hash_table_add (stored, g_strdup (((EpTestEntry *) g_ptr_array_index (req->entries, e))->id));
      }
  }

  {
    g_autoptr(EpProducer) producer = producer_new (fx, NULL);

    g_assert_nonnull (producer);
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 35);
    ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
    ep_test_server_release_hung (fx->consumer.server);
    assert_flush_ok (producer);
  }

  /* Every event was confirmed at least once. */
  confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);
  g_assert_cmpuint (confirmed->len, >=, 45);
  {
    g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint i = 0; i < confirmed->len; i++)
      g_hash_table_add (seen, g_ptr_array_index (confirmed, i));
    g_assert_cmpuint (g_hash_table_size (seen), ==, 45);
    GHashTableIter iter;
    gpointer id;
    g_hash_table_iter_init (&iter, stored);
    while (g_hash_table_iter_next (&iter, &id, NULL))
      g_assert_true (g_hash_table_contains (seen, id));
  }
}

static void
test_batch_timer (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "batch-interval", 20, NULL);

  /* No flush: the timer delivers. */
  send_n (producer, "timed", 3);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 3);
}

static void
test_backoff_after_failure (Fixture       *fx,
                            gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "batch-interval", 40, NULL);
  gint64 first_failure;
  gint64 retry;

  watch (fx, producer);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 500, "down", NULL);
  send_n (producer, "backoff", 1);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 1);
  first_failure = g_get_monotonic_time ();
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 2);
  retry = g_get_monotonic_time ();
  /* Never sooner than batch-interval after a failure. */
  g_assert_cmpint (retry - first_failure, >=, 40 * 1000 - 2000);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 3);
  /* The backoff grows: the second wait is at least twice the interval. */
  g_assert_cmpint (g_get_monotonic_time () - retry, >=, 2 * 40 * 1000 - 2000);
  g_assert_cmpuint (fx->outages->len, ==, 1);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  EP_TEST_SPIN_UNTIL (fx->outages->len == 2);
}

static void
test_budget_recovers_after_delivery (Fixture       *fx,
                                     gconstpointer  data)
{
  g_autofree char *payload = g_strnfill (2000, 'x');
  g_autoptr(EpProducer) producer = producer_new (fx, "max-disk-usage", (guint64) 10000, NULL);

  watch (fx, producer);
  while (ep_producer_send_event (producer, "fill", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL) ==
         EP_SEND_RESULT_STORED)
    ;
  EP_TEST_SPIN_UNTIL (fx->outages->len == 1);
  /* Delivering frees the budget; the storage outage lasts until a store
   * succeeds, even though the queue drained. */
  assert_flush_ok (producer);
  for (guint i = 0; i < 10; i++)
    ep_test_iterate ();
  g_assert_true (ep_producer_get_outage (producer));
  g_assert_cmpint (ep_producer_send_event (producer, "fill", EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                   ==, EP_SEND_RESULT_STORED);
  EP_TEST_SPIN_UNTIL (fx->outages->len == 2);
  g_assert_false (ep_producer_get_outage (producer));
}

/* A 400 that is not SQS refusing the entries (a proxy's page, a missing
 * queue) says nothing about the events: they are kept, and it is an
 * outage. */
static void
test_foreign_400_keeps_events (Fixture       *fx,
                               gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  const char *no_queue =
    "<ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>Sender</Type>"
    "<Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>gone</Message></Error>"
    "<RequestId>r</RequestId></ErrorResponse>";

  watch (fx, producer);
  send_n (producer, "kept", 7);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 400,
                              "<html><body>400 Request Header Or Cookie Too Large</body></html>", NULL);
  assert_flush_fails (producer, "*HTTP 400*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 7);
  g_assert_cmpuint (fx->outages->len, ==, 1);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 400, no_queue, NULL);
  assert_flush_fails (producer, "*NonExistentQueue*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 7);

  /* SQS's generic codes are request-level too: never a reason to drop. */
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 400,
                              "<ErrorResponse><Error><Type>Sender</Type><Code>MissingParameter</Code>"
                              "<Message>Action</Message></Error></ErrorResponse>", NULL);
  assert_flush_fails (producer, "*MissingParameter*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 7);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  assert_flush_ok (producer);
}

/* One batch fails while another goes through: the failing one still waits
 * at least batch-interval before it is tried again. */
static void
test_backoff_after_partial_success (Fixture       *fx,
                                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "batch-interval", 400, "max-in-flight", 2, NULL);
  gint64 failed_at, retried_at;
  guint n;

  send_n (producer, "partial", 20);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "one fails", NULL);
  ep_test_server_push_accept (fx->consumer.server);
  assert_flush_fails (producer, "*HTTP 500*");
  failed_at = g_get_monotonic_time ();
  n = ep_test_server_get_n_requests (fx->consumer.server);
  g_assert_cmpuint (n, ==, 2);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) > n);
  retried_at = g_get_monotonic_time ();
  g_assert_cmpint (retried_at - failed_at, >=, 400 * 1000 - 20 * 1000);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
}

/* A flush waits for the events queued before it, not for those sent
 * after: here the later ones hang, and the flush still succeeds. */
static void
test_flush_bounded (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 4, "request-timeout", 60000, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  send_n (producer, "before", 10);
  ep_test_server_push_accept (fx->consumer.server);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  send_n (producer, "after", 10);
  ep_test_wait_result (&result);
  ep_producer_flush_finish (producer, result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 10);
}

static void
test_flush_cancelled (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "request-timeout", 60000, NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  send_n (producer, "cancelled", 3);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_producer_flush_async (producer, cancellable, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 1);
  g_cancellable_cancel (cancellable);
  ep_test_wait_result (&result);
  g_assert_false (ep_producer_flush_finish (producer, result, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
}

/* 401 on the public endpoint is a failure, but no credentials were used:
 * nothing to refresh. */
static void
test_public_401_not_credentials (Fixture       *fx,
                                 gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(EpCredentials) anonymous = ep_credentials_new (NULL, "client");

  watch (fx, producer);
  ep_producer_set_credentials (producer, anonymous);
  send_n (producer, "public", 1);
  ep_test_server_push_reply (fx->consumer.server, 401, "text/plain", "who?", NULL);
  assert_flush_fails (producer, "*HTTP 401*");
  g_assert_cmpuint (fx->rejected->len, ==, 0);
  g_assert_true (ep_producer_get_outage (producer));
}

/* The monitoring counts are subtracted only for a confirmation of the
 * monitoring event itself. */
static void
test_monitoring_refused_keeps_counts (Fixture       *fx,
                                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "monitoring-interval", 20, NULL);
  const char *refused[] = { EP_MONITORING_EVENT_NAME, NULL };

  ep_test_server_set_sender_fault_names (fx->consumer.server, refused);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) >= 2);
  g_assert_true (counters_have (producer, "\"consentFilteredEvents\":{\"blocked\":1}"));

  ep_test_server_set_sender_fault_names (fx->consumer.server, NULL);
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"consentFilteredEvents\":{}"));
}

/* Records that cannot be parsed any more are dropped without ending the
 * drain: the readable events behind them are delivered in the same flush. */
static void
test_unreadable_records_skipped (Fixture       *fx,
                                 gconstpointer  data)
{
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpQueue) queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);
    const guint8 garbage[16] = "not a record!!!";

    g_assert_no_error (error);
    for (guint i = 0; i < 10; i++)
      {
        g_assert_true (ep_queue_append (queue, garbage, sizeof garbage, 16, &error));
        g_assert_no_error (error);
      }
    ep_queue_close (queue);
  }
  {
    g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);

    send_n (producer, "readable", 3);
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 13);
    g_test_expect_message ("Ep", G_LOG_LEVEL_MESSAGE, "*Dropping queued event*");
    assert_flush_ok (producer);
    g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 3);
  }
}

typedef struct {
  EpProducer   *producer;
  GAsyncResult *closed;
} FlushThenClose;

static void
flush_then_close (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FlushThenClose *data = user_data;

  g_assert_false (ep_producer_flush_finish (data->producer, result, NULL));
  ep_producer_close_async (data->producer, NULL, ep_test_store_result, &data->closed);
}

/* Closing from a flush callback still makes the last delivery attempt. */
static void
test_close_from_flush_callback (Fixture       *fx,
                                gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  FlushThenClose state = { producer, NULL };

  send_n (producer, "closing", 5);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "once", NULL);
  ep_producer_flush_async (producer, NULL, flush_then_close, &state);
  ep_test_wait_result (&state.closed);
  g_assert_true (ep_producer_close_finish (producer, state.closed, NULL));
  g_clear_object (&state.closed);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 5);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
}

/* Delivery stays on the producer's context even when the flush is asked
 * for while another context is pushed (a synchronous wrapper, say). */
static void
test_flush_from_pushed_context (Fixture       *fx,
                                gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GMainContext) other = g_main_context_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  send_n (producer, "pushed", 25);
  g_main_context_push_thread_default (other);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  g_main_context_pop_thread_default (other);

  /* Only the producer's context runs: delivery must complete on it. */
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 25);
  /* The flush's own callback comes on the context it was called from
   * (both contexts run: the flush completes on the producer's). */
  EP_TEST_SPIN_UNTIL ((g_main_context_iteration (other, FALSE), result != NULL));
  g_assert_true (ep_producer_flush_finish (producer, result, &error));
  g_assert_no_error (error);
}

/* max-in-flight can change while the producer lives. */
static void
test_max_in_flight_runtime (Fixture       *fx,
                            gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "request-timeout", 60000, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  guint max = 0;

  g_object_set (producer, "max-in-flight", 2, NULL);
  g_object_get (producer, "max-in-flight", &max, NULL);
  g_assert_cmpuint (max, ==, 2);
  send_n (producer, "runtime", 60);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 2);
  for (guint i = 0; i < 20; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_hung (fx->consumer.server), ==, 2);

  /* Raised during the drain: more batches go out at once. */
  g_object_set (producer, "max-in-flight", 5, NULL);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 5);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  ep_test_server_release_hung (fx->consumer.server);
  ep_test_wait_result (&result);
}

/* Refusals and the witness rule (SPEC section 4, issue 8) ------------------ */

#define ENTRY_CODE_400 \
  "<ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>Sender</Type>" \
  "<Code>InvalidMessageContents</Code><Message>refused</Message></Error>" \
  "<RequestId>r</RequestId></ErrorResponse>"

/* An old queue may hold an event with an empty MessageBody (send refuses
 * them now): SQS refuses the whole batch for it with 400 MissingParameter.
 * Alone, it is kept (nothing witnesses that the fault is the event's);
 * among good events, the split isolates it and the others witness. */
static void
test_empty_body_does_not_jam (Fixture       *fx,
                              gconstpointer  data)
{
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpQueue) queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);

    g_assert_no_error (error);
    append_record (queue, "00000000-0000-4000-8000-000000000000", "");
    ep_queue_close (queue);
  }
  {
    g_autoptr(EpProducer) producer = producer_new (fx, NULL);

    watch (fx, producer);
    assert_flush_fails (producer, "*HTTP 400*MissingParameter*");
    g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
    g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
    g_assert_true (ep_producer_get_outage (producer));

    send_n (producer, "good", 12);
    assert_flush_ok (producer);
    g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 12);
    g_assert_true (counters_have (producer, "\"validationFailedEvents\":{\"dup\":1}"));
    g_assert_false (ep_producer_get_outage (producer));
  }
}

typedef enum {
  REFUSE_413_EVERY_POST,
  REFUSE_400_EVERY_POST,
  REFUSE_SENDER_FAULT_EVERY_ENTRY,
} RefuseMode;

/* A consumer or middlebox that refuses everything alike drops nothing: it
 * is a delivery outage, and everything goes through once it recovers. */
static void
test_refuse_everything (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  const char *names[] = { "e", NULL };
  RefuseMode mode = GPOINTER_TO_UINT (data);

  watch (fx, producer);
  if (mode == REFUSE_413_EVERY_POST)
    ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 413,
                                "<html><body>413 Request Entity Too Large</body></html>", NULL);
  else if (mode == REFUSE_400_EVERY_POST)
    ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 400, ENTRY_CODE_400, NULL);
  else
    ep_test_server_set_sender_fault_names (fx->consumer.server, names);
  send_n (producer, "e", 25);

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      assert_flush_fails (producer, NULL);
      g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 25);
      g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
      g_assert_true (ep_producer_get_outage (producer));
    }
  g_assert_cmpuint (fx->outages->len, ==, 1);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 0);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  ep_test_server_set_sender_fault_names (fx->consumer.server, NULL);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 25);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
  g_assert_false (ep_producer_get_outage (producer));
}

/* A SenderFault entry alone in its reply is kept; once it shares a reply
 * with events the consumer takes, it is dropped. */
static void
test_sender_fault_needs_witness (Fixture       *fx,
                                 gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  const char *faulty[] = { "refused", NULL };

  ep_test_server_set_sender_fault_names (fx->consumer.server, faulty);
  send_n (producer, "refused", 1);
  assert_flush_fails (producer, "*confirmed none*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));

  send_n (producer, "fine", 2);
  assert_flush_ok (producer);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{\"refused\":1}"));
  g_assert_false (ep_producer_get_outage (producer));
}

/* Two poison events among 28 good ones, four batches in flight: the lone
 * refused events wait for the rest of their split, which witnesses, so
 * they are dropped without any outage. */
static void
test_poison_split_concurrent (Fixture       *fx,
                              gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 4, NULL);
  const char *poison[] = { "poison", NULL };

  watch (fx, producer);
  ep_test_server_set_poison_names (fx->consumer.server, poison, GPOINTER_TO_UINT (data));
  send_n (producer, "good", 3);
  send_n (producer, "poison", 1);
  send_n (producer, "good", 13);
  send_n (producer, "poison", 1);
  send_n (producer, "good", 12);

  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 28);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{\"poison\":2}"));
  g_assert_cmpuint (fx->outages->len, ==, 0);
}

/* The halves of a split batch take pipeline slots like any batch. */
static void
test_split_counts_against_max_in_flight (Fixture       *fx,
                                         gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  send_n (producer, "e", 10);
  ep_test_server_push_reply (fx->consumer.server, 413, "text/html", "<html>too large</html>", NULL);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 1);
  for (guint i = 0; i < 20; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_hung (fx->consumer.server), ==, 1);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 2);
  g_assert_cmpuint (request (fx, 1)->entries->len, ==, 5);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  ep_test_server_release_hung (fx->consumer.server);
  ep_test_wait_result (&result);
  g_assert_false (ep_producer_flush_finish (producer, result, &error));
  g_clear_error (&error);
  assert_flush_ok (producer);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
}

/* Applications run their tests with fatal warnings: a consumer that cannot
 * be reached is an outage, never a warning that aborts them. */
static void
test_outage_not_fatal (Fixture       *fx,
                       gconstpointer  data)
{
  if (g_test_subprocess ())
    {
      g_autofree char *uri = unreachable_uri ();
      g_autoptr(EpProducer) producer = NULL;

      g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL);
      producer = ep_test_producer_new (fx->consumer.dir, uri, uri, NULL, NULL);
      send_n (producer, "offline", 3);
      assert_flush_fails (producer, NULL);
      g_assert_true (ep_producer_get_outage (producer));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* The ledger itself: a witness must be a confirmation of a request posted
 * after the first refusal; later refusals keep the first mark. */
static void
test_witness_ledger (void)
{
  g_autoptr(EpWitness) witness = ep_witness_new ();

  g_assert_false (ep_witness_seen (witness, 7));
  ep_witness_note_confirmed (witness, 3);
  /* Refused when requests up to 5 were posted: request 3's confirmation
   * came before, it is no witness. */
  ep_witness_note_refused (witness, 7, 5);
  g_assert_false (ep_witness_seen (witness, 7));
  ep_witness_note_confirmed (witness, 5);
  g_assert_false (ep_witness_seen (witness, 7));
  ep_witness_note_refused (witness, 7, 9);   /* kept: the first mark counts */
  ep_witness_note_confirmed (witness, 6);
  g_assert_true (ep_witness_seen (witness, 7));
  g_assert_false (ep_witness_seen (witness, 8));
  g_assert_cmpuint (ep_witness_get_n_marked (witness), ==, 1);
  ep_witness_forget (witness, 7);
  g_assert_false (ep_witness_seen (witness, 7));
  g_assert_cmpuint (ep_witness_get_n_marked (witness), ==, 0);
}

/* A scheduler of its own over a queue of @n events of @payload_size
 * bytes, to watch how much of the queue it takes. */
typedef struct {
  EpQueue     *queue;
  EpMonitor   *monitor;
  EpTransport *transport;
  EpScheduler *scheduler;
} OwnScheduler;

static void
own_scheduler_start (OwnScheduler *own,
                     Fixture      *fx,
                     guint         n,
                     gsize         payload_size,
                     guint         max_in_flight)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *payload = g_strnfill (payload_size, 'x');
  EpSchedulerConfig config = {
    .consumer_uri = fx->consumer.uri,
    .public_consumer_uri = fx->consumer.public_uri,
    .batch_interval_ms = 3600 * 1000,
    .monitoring_interval_ms = 3600 * 1000,
    .request_timeout_ms = 60000,
    .max_in_flight = max_in_flight,
  };

  own->queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *id = g_uuid_string_random ();

      append_record (own->queue, id, payload);
    }
  own->monitor = ep_monitor_new (own->queue);
  own->transport = ep_transport_new ("ep-glib-test/1.0", 60000);
  own->scheduler = ep_scheduler_new (own->queue, own->monitor, own->transport, &config, NULL, NULL);
  ep_scheduler_start (own->scheduler);
}

static guint64
own_scheduler_taken (OwnScheduler *own)
{
  return ep_queue_get_length (own->queue) - ep_queue_get_pending (own->queue);
}

static void
own_scheduler_stop (OwnScheduler *own,
                    Fixture      *fx,
                    GAsyncResult **flushed)
{
  ep_scheduler_stop (own->scheduler);
  ep_test_server_release_hung (fx->consumer.server);
  ep_test_wait_result (flushed);
  g_clear_object (flushed);
  EP_TEST_SPIN_UNTIL (own_scheduler_taken (own) == 0);
  g_clear_object (&own->scheduler);
  g_clear_object (&own->transport);
  ep_monitor_close (own->monitor);
  g_clear_object (&own->monitor);
  ep_queue_close (own->queue);
  g_clear_object (&own->queue);
}

/* max-in-flight beyond what the session's connections can carry (32) is
 * clamped: a consumer that never answers gets 32 batches, and no more
 * events are read from the queue than those. */
static void
test_max_in_flight_clamped (Fixture       *fx,
                            gconstpointer  data)
{
  OwnScheduler own = { NULL, };
  g_autoptr(GAsyncResult) flushed = NULL;

  own_scheduler_start (&own, fx, 1000, 10, 1000000);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_scheduler_flush_async (own.scheduler, NULL, ep_test_store_result, &flushed);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == EP_TRANSPORT_MAX_CONNS_PER_HOST);
  for (guint i = 0; i < 50; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_hung (fx->consumer.server), ==, 32);
  g_assert_cmpuint (own_scheduler_taken (&own), ==, 32 * 10);
  own_scheduler_stop (&own, fx, &flushed);
}

/* Large events: the bytes read ahead stay bounded (4 MiB) before
 * max-in-flight is reached. */
static void
test_read_ahead_bounded (Fixture       *fx,
                         gconstpointer  data)
{
  OwnScheduler own = { NULL, };
  g_autoptr(GAsyncResult) flushed = NULL;
  guint hung;

  own_scheduler_start (&own, fx, 600, 19 * 1024, 32);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  ep_scheduler_flush_async (own.scheduler, NULL, ep_test_store_result, &flushed);
  /* Settled: every batch taken from the queue is posted and hangs. */
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) > 0 &&
                      own_scheduler_taken (&own) == ep_test_server_get_n_hung (fx->consumer.server) * 10);
  for (guint i = 0; i < 50; i++)
    ep_test_iterate ();
  /* What it read ahead meanwhile is posted too: wait for those posts to
   * reach the consumer (under load they may still be on their way). */
  g_assert_cmpuint (own_scheduler_taken (&own) * 19 * 1024, <=, 4 * 1024 * 1024);
  EP_TEST_SPIN_UNTIL (own_scheduler_taken (&own) == ep_test_server_get_n_hung (fx->consumer.server) * 10);
  hung = ep_test_server_get_n_hung (fx->consumer.server);
  g_assert_cmpuint (own_scheduler_taken (&own), ==, hung * 10);
  g_assert_cmpuint (hung, <, 32);
  g_assert_cmpuint (own_scheduler_taken (&own) * 19 * 1024, <=, 4 * 1024 * 1024);
  own_scheduler_stop (&own, fx, &flushed);
}

/* A drain with batches in parallel: every read and every settle runs on
 * the scheduler's one worker thread, so the events a read allocates are
 * freed by the thread that allocated them, and the main loop never gets
 * another thread's allocator caches to release. Settles read the next
 * batch in the same worker call, and every batch is freed by its worker. */
static void
test_queue_work_one_thread (Fixture       *fx,
                            gconstpointer  data)
{
  OwnScheduler own = { NULL, };
  g_autoptr(GAsyncResult) flushed = NULL;
  g_autoptr(GError) error = NULL;

  own_scheduler_start (&own, fx, 400, 10, 8);
  ep_scheduler_flush_async (own.scheduler, NULL, ep_test_store_result, &flushed);
  ep_test_wait_result (&flushed);
  g_assert_true (ep_scheduler_flush_finish (own.scheduler, flushed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (own.queue), ==, 0);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 400);
  g_assert_cmpuint (ep_scheduler_get_worker_switches (own.scheduler), ==, 0);
  g_assert_cmpuint (ep_scheduler_get_reads_on_settle (own.scheduler), >, 0);
  g_assert_cmpuint (ep_scheduler_get_freed_elsewhere (own.scheduler), ==, 0);
  own_scheduler_stop (&own, fx, &flushed);
}

typedef struct {
  OwnScheduler *own;
  gboolean      done;
} NestedFlush;

/* A flush's callback (run as a batch settles) queues more events and
 * waits for a second flush in a nested main loop: the batches it needs
 * settle meanwhile (the scheduler's queue work source recurses). */
static void
flush_then_flush_nested (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  NestedFlush *nested = user_data;
  g_autoptr(GAsyncResult) inner = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (ep_scheduler_flush_finish (EP_SCHEDULER (source), result, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 30; i++)
    {
      g_autofree char *id = g_uuid_string_random ();

      append_record (nested->own->queue, id, "nested");
    }
  ep_scheduler_flush_async (EP_SCHEDULER (source), NULL, ep_test_store_result, &inner);
  EP_TEST_SPIN_UNTIL (inner != NULL);
  g_assert_true (ep_scheduler_flush_finish (EP_SCHEDULER (source), inner, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (nested->own->queue), ==, 0);
  nested->done = TRUE;
}

static void
test_flush_in_flush_callback (Fixture       *fx,
                              gconstpointer  data)
{
  OwnScheduler own = { NULL, };
  NestedFlush nested = { &own, FALSE };
  g_autoptr(GAsyncResult) flushed = NULL;

  own_scheduler_start (&own, fx, 30, 10, 1);
  ep_scheduler_flush_async (own.scheduler, NULL, flush_then_flush_nested, &nested);
  EP_TEST_SPIN_UNTIL (nested.done);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 60);
  ep_scheduler_flush_async (own.scheduler, NULL, ep_test_store_result, &flushed);
  own_scheduler_stop (&own, fx, &flushed);
}

/* max-in-flight 1: the worker call that settles a batch reads the next
 * one, so a drain of 10 batches reads only the first on its own; each
 * batch is freed by the worker that read it, not on the main context. */
static void
test_settle_reads_next (Fixture       *fx,
                        gconstpointer  data)
{
  OwnScheduler own = { NULL, };
  g_autoptr(GAsyncResult) flushed = NULL;
  g_autoptr(GError) error = NULL;

  own_scheduler_start (&own, fx, 100, 10, 1);
  ep_scheduler_flush_async (own.scheduler, NULL, ep_test_store_result, &flushed);
  ep_test_wait_result (&flushed);
  g_assert_true (ep_scheduler_flush_finish (own.scheduler, flushed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (own.queue), ==, 0);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 100);
  g_assert_cmpuint (ep_scheduler_get_reads_on_settle (own.scheduler), ==, 9);
  g_assert_cmpuint (ep_scheduler_get_freed_elsewhere (own.scheduler), ==, 0);
  own_scheduler_stop (&own, fx, &flushed);
}

typedef struct {
  EpProducer *producer;
  guint       thread;
} OrderSender;

static gpointer
send_in_order (gpointer data)
{
  OrderSender *sender = data;

  for (guint i = 0; i < (sender->thread < 3 ? 40 : 10); i++)
    {
      g_autofree char *payload = g_strdup_printf ("{\"thread\":%u,\"seq\":%u}", sender->thread, i);
      const char *name = sender->thread == 3 && i == 2 ? "poison" : "ordered";

      g_assert_cmpint (ep_producer_send_event (sender->producer, name, EP_CONSENT_CATEGORY_NECESSARY,
                                               payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
    }
  return NULL;
}

/* max-in-flight 1: the consumer receives each thread's events in the
 * order that thread sent them, across a failed request and the split of a
 * refused batch. */
static void
test_order_per_thread (Fixture       *fx,
                       gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  g_autoptr(GHashTable) bodies = g_hash_table_new (g_str_hash, g_str_equal);
  const char *poison[] = { "poison", NULL };
  OrderSender senders[4];
  GThread *threads[3];
  GPtrArray *requests, *confirmed;
  gint last[4] = { -1, -1, -1, -1 };

  ep_test_server_set_poison_names (fx->consumer.server, poison, 413);
  for (guint t = 0; t < 3; t++)
    {
      senders[t].producer = producer;
      senders[t].thread = t;
      threads[t] = g_thread_new ("sender", send_in_order, &senders[t]);
    }
  for (guint t = 0; t < 3; t++)
    g_thread_join (threads[t]);
  /* Then one batch of ten from this thread, a poison event third: its
   * split must still deliver the events before it first. */
  senders[3].producer = producer;
  senders[3].thread = 3;
  send_in_order (&senders[3]);

  ep_test_server_push_accept (fx->consumer.server);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "down", NULL);
  assert_flush_fails (producer, NULL);
  assert_flush_ok (producer);

  requests = ep_test_server_get_requests (fx->consumer.server);
  for (guint r = 0; r < requests->len; r++)
    {
      EpTestRequest *req = g_ptr_array_index (requests, r);

      for (guint e = 0; e < req->entries->len; e++)
        {
          EpTestEntry *entry = g_ptr_array_index (req->entries, e);

          g_hash_table_insert (bodies, entry->id, entry->body);
        }
    }
  confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);
  g_assert_cmpuint (confirmed->len, ==, 3 * 40 + 9);
  for (guint i = 0; i < confirmed->len; i++)
    {
      const char *body = g_hash_table_lookup (bodies, g_ptr_array_index (confirmed, i));
      guint thread, seq;

      g_assert_nonnull (body);
      g_assert_cmpint (sscanf (body, "{\"thread\":%u,\"seq\":%u}", &thread, &seq), ==, 2);
      g_assert_cmpint ((gint) seq, >, last[thread]);
      last[thread] = seq;
    }
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{\"poison\":1}"));
}

/* G_MESSAGES_DEBUG=Ep tells the story of a delivery: each batch posted and
 * settled, and after a failure when the next attempt may come. */
static void
test_debug_story (Fixture       *fx,
                  gconstpointer  data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(EpProducer) producer = NULL;

      g_setenv ("G_MESSAGES_DEBUG", "Ep", TRUE);
      producer = producer_new (fx, "max-in-flight", 1, NULL);
      send_n (producer, "story", 3);
      ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "down", NULL);
      assert_flush_fails (producer, "*HTTP 500*");
      assert_flush_ok (producer);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*Batch 1: posting 3 events to the public endpoint*");
  g_test_trap_assert_stdout ("*Delivery attempt failed (1 in a row): HTTP 500*next attempt in * ms*");
  g_test_trap_assert_stdout ("*Batch 1 settled: 0 events removed (confirmed or refused), 3 kept*");
  g_test_trap_assert_stdout ("*Batch 2 settled: 3 events removed*");
}

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  ADD ("/ep/delivery/batches-in-order", test_batches_in_order);
  ADD ("/ep/delivery/request-shape", test_request_shape);
  ADD ("/ep/delivery/token-paths", test_token_paths);
  ADD ("/ep/delivery/sender-faults-and-retryable", test_sender_faults_and_retryable);
  ADD ("/ep/delivery/unmentioned-ids-kept", test_unmentioned_ids_kept);
  ADD ("/ep/delivery/ids-not-distinct", test_ids_not_distinct);
  ADD ("/ep/delivery/outage-once-per-change", test_outage_once_per_change);
  ADD ("/ep/delivery/failure-classes", test_failure_classes);
  ADD ("/ep/delivery/connection-refused", test_connection_refused);
  ADD ("/ep/delivery/hung-consumer", test_hung_consumer);
  ADD ("/ep/delivery/retry-after-503", test_retry_after);
  ADD ("/ep/delivery/retry-after-429-date", test_retry_after_429_date);
  ADD ("/ep/delivery/credentials-rejected", test_credentials_rejected);
  g_test_add ("/ep/delivery/poison-split-400", Fixture, GUINT_TO_POINTER (400),
              fixture_setup, test_poison_split, fixture_teardown);
  g_test_add ("/ep/delivery/poison-split-413", Fixture, GUINT_TO_POINTER (413),
              fixture_setup, test_poison_split, fixture_teardown);
  ADD ("/ep/delivery/max-in-flight", test_max_in_flight);
  ADD ("/ep/delivery/max-in-flight-runtime", test_max_in_flight_runtime);
  ADD ("/ep/delivery/monitoring-event", test_monitoring_event);
  ADD ("/ep/delivery/monitoring-failure-keeps-counts", test_monitoring_failure_keeps_counts);
  ADD ("/ep/delivery/close-dead-consumer", test_close_dead_consumer);
  ADD ("/ep/delivery/close-delivers", test_close_delivers);
  ADD ("/ep/delivery/restart-mid-delivery", test_restart_mid_delivery);
  ADD ("/ep/delivery/batch-timer", test_batch_timer);
  ADD ("/ep/delivery/backoff-after-failure", test_backoff_after_failure);
  ADD ("/ep/delivery/budget-recovers-after-delivery", test_budget_recovers_after_delivery);
  ADD ("/ep/delivery/foreign-400-keeps-events", test_foreign_400_keeps_events);
  ADD ("/ep/delivery/backoff-after-partial-success", test_backoff_after_partial_success);
  ADD ("/ep/delivery/flush-bounded", test_flush_bounded);
  ADD ("/ep/delivery/flush-cancelled", test_flush_cancelled);
  ADD ("/ep/delivery/public-401-not-credentials", test_public_401_not_credentials);
  ADD ("/ep/delivery/monitoring-refused-keeps-counts", test_monitoring_refused_keeps_counts);
  ADD ("/ep/delivery/unreadable-records-skipped", test_unreadable_records_skipped);
  ADD ("/ep/delivery/close-from-flush-callback", test_close_from_flush_callback);
  ADD ("/ep/delivery/flush-from-pushed-context", test_flush_from_pushed_context);
  ADD ("/ep/delivery/empty-body-does-not-jam", test_empty_body_does_not_jam);
  g_test_add ("/ep/delivery/refuse-everything/413", Fixture, GUINT_TO_POINTER (REFUSE_413_EVERY_POST),
              fixture_setup, test_refuse_everything, fixture_teardown);
  g_test_add ("/ep/delivery/refuse-everything/400", Fixture, GUINT_TO_POINTER (REFUSE_400_EVERY_POST),
              fixture_setup, test_refuse_everything, fixture_teardown);
  g_test_add ("/ep/delivery/refuse-everything/sender-fault", Fixture,
              GUINT_TO_POINTER (REFUSE_SENDER_FAULT_EVERY_ENTRY),
              fixture_setup, test_refuse_everything, fixture_teardown);
  ADD ("/ep/delivery/sender-fault-needs-witness", test_sender_fault_needs_witness);
  g_test_add ("/ep/delivery/poison-split-concurrent-413", Fixture, GUINT_TO_POINTER (413),
              fixture_setup, test_poison_split_concurrent, fixture_teardown);
  g_test_add ("/ep/delivery/poison-split-concurrent-422", Fixture, GUINT_TO_POINTER (422),
              fixture_setup, test_poison_split_concurrent, fixture_teardown);
  ADD ("/ep/delivery/split-counts-against-max-in-flight", test_split_counts_against_max_in_flight);
  ADD ("/ep/delivery/outage-not-fatal", test_outage_not_fatal);
  g_test_add_func ("/ep/delivery/witness-ledger", test_witness_ledger);
  ADD ("/ep/delivery/max-in-flight-clamped", test_max_in_flight_clamped);
  ADD ("/ep/delivery/read-ahead-bounded", test_read_ahead_bounded);
  ADD ("/ep/delivery/queue-work-one-thread", test_queue_work_one_thread);
  ADD ("/ep/delivery/settle-reads-next", test_settle_reads_next);
  ADD ("/ep/delivery/flush-in-flush-callback", test_flush_in_flush_callback);
  ADD ("/ep/delivery/order-per-thread", test_order_per_thread);
  ADD ("/ep/delivery/debug-story", test_debug_story);

  return g_test_run ();
}
