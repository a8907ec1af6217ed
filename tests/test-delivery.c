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
#include "ep-producer-private.h"
#include "ep-queue-private.h"
#include "ep-scheduler-private.h"
#include "ep-witness-private.h"
#include "ep-test-server.h"
#include "ep-test-delivery-util.h"
#include "ep-test-util.h"

static const char *
header (EpTestRequest *req,
        const char    *name)
{
  return g_hash_table_lookup (req->http_headers, name);
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

  /* The refused event waits aside (ep-witness-private.h); the retryable
   * one is kept in its place. */
  assert_flush_fails (producer, "2 events are still queued*1 refused by the consumer*aside*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));

  /* Once the evidence is in, the refused one is deleted and counted. */
  ep_test_server_set_retryable_names (fx->consumer.server, NULL);
  send_n (producer, "fine", EP_WITNESS_MIN_CONFIRMED);
  flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
  counters = ep_producer_dup_counters_json (producer);
  g_assert_nonnull (strstr (counters, "\"validationFailedEvents\":{\"refused\":1}"));
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

  /* The split isolates it; it waits aside, the others are delivered. */
  assert_flush_fails (producer, "1 event is still queued*aside*");
  confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);
  g_assert_cmpuint (confirmed->len, ==, 9);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
  /* Dropped and counted once the evidence is in. */
  send_n (producer, "good", EP_WITNESS_MIN_CONFIRMED);
  flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
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
  /* SPEC 5: expiredEvents only with max-event-age */
  g_assert_false (json_object_has_member (object, "expiredEvents"));

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

/* A count that starts while a save of the producer's state is scheduled
 * (here a new consumer-clock offset, which any reply may bring; an outage
 * starting or ending does the same) still has the monitoring event sent:
 * it used to arm the monitoring timer only when the count was what
 * scheduled the save, so a lone drop in those 200 ms stayed unreported. */
static void
test_monitoring_count_during_pending_save (Fixture       *fx,
                                           gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "monitoring-interval", 20, NULL);
  EpTestEntry *entry;

  /* Nothing iterates in between: the state's save is still scheduled. */
  ep_producer_set_clock_offset (producer, 1000);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);

  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) >= 1);
  g_assert_cmpuint (request (fx, 0)->entries->len, ==, 1);
  entry = g_ptr_array_index (request (fx, 0)->entries, 0);
  g_assert_cmpstr (entry->name, ==, EP_MONITORING_EVENT_NAME);
  g_assert_nonnull (strstr (entry->body, "\"consentFilteredEvents\":{\"blocked\":1}"));
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

typedef struct {
  EpProducer   *producer;
  GAsyncResult *retried;   /* owned: the result of the flush started in the callback */
} FlushThenRetry;

static void
flush_then_retry (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  FlushThenRetry *data = user_data;

  g_assert_false (ep_producer_flush_finish (data->producer, result, NULL));
  ep_producer_flush_async (data->producer, NULL, ep_test_store_result, &data->retried);
}

/* A "Retry" button: a flush started from a failed flush's callback waits
 * for its own attempt (the consumer is back), not for the failed one's
 * error. */
static void
test_flush_from_failed_flush_callback (Fixture       *fx,
                                       gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  FlushThenRetry state = { producer, NULL };
  g_autoptr(GError) error = NULL;

  send_n (producer, "retrying", 5);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "once", NULL);
  ep_producer_flush_async (producer, NULL, flush_then_retry, &state);
  ep_test_wait_result (&state.retried);
  g_assert_true (ep_producer_flush_finish (producer, state.retried, &error));
  g_assert_no_error (error);
  g_clear_object (&state.retried);
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
  ADD ("/ep/delivery/monitoring-count-during-pending-save", test_monitoring_count_during_pending_save);
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
  ADD ("/ep/delivery/flush-from-failed-flush-callback", test_flush_from_failed_flush_callback);

  return g_test_run ();
}
