/* test-credentials.c: credentials-rejected once per token; new credentials
 * tried at once after a refusal, never before Retry-After
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-test-server.h"
#include "ep-test-util.h"

typedef struct {
  EpTestConsumer consumer;
  GArray       *rejected;   /* (element-type guint): credentials-rejected statuses */
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  ep_test_consumer_init (&fx->consumer, "credentials", NULL);
  fx->rejected = g_array_new (FALSE, FALSE, sizeof (guint));
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  ep_test_consumer_clear (&fx->consumer);
  g_array_unref (fx->rejected);
}

static void
on_credentials_rejected (EpProducer *producer,
                         guint       status,
                         Fixture    *fx)
{
  g_array_append_val (fx->rejected, status);
}

static EpProducer *
producer_new (Fixture *fx,
              guint    batch_interval_ms)
{
  EpProducer *producer;

  producer = ep_test_consumer_new_producer (&fx->consumer, "batch-interval", batch_interval_ms, NULL);
  g_signal_connect (producer, "credentials-rejected", G_CALLBACK (on_credentials_rejected), fx);
  return producer;
}

static void
set_token (EpProducer *producer,
           const char *token)
{
  g_autoptr(EpCredentials) credentials = ep_credentials_new (token, "client");

  ep_producer_set_credentials (producer, credentials);
}

static const char *
last_authorization (Fixture *fx)
{
  GPtrArray *requests = ep_test_server_get_requests (fx->consumer.server);
  EpTestRequest *last = g_ptr_array_index (requests, requests->len - 1);

  return g_hash_table_lookup (last->http_headers, "authorization");
}

static void
flush_fails (EpProducer *producer)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (ep_test_flush (producer, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_DELIVERY);
}

/* Scheduled retries that the consumer keeps refusing ask the application
 * once per token, not on every attempt; a new token is news again, and so
 * is a refusal of a token that worked in between. */
static void
test_rejected_once_per_token (Fixture       *fx,
                              gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 20);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 401, "expired", NULL);
  set_token (producer, "first");
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  /* Backoff from 20 ms: several attempts within a fraction of a second. */
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) >= 4);
  g_assert_cmpuint (fx->rejected->len, ==, 1);
  g_assert_cmpuint (g_array_index (fx->rejected, guint, 0), ==, 401);

  /* The same value again (a new object) was refused already. */
  set_token (producer, "first");
  flush_fails (producer);
  g_assert_cmpuint (fx->rejected->len, ==, 1);

  set_token (producer, "second");
  flush_fails (producer);
  g_assert_cmpstr (last_authorization (fx), ==, "Bearer second");
  g_assert_cmpuint (fx->rejected->len, ==, 2);
  flush_fails (producer);
  g_assert_cmpuint (fx->rejected->len, ==, 2);

  /* Accepted, then refused (it expired): the application hears of it. */
  ep_test_server_push_accept (fx->consumer.server);
  g_assert_true (ep_test_flush (producer, NULL));
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (fx->consumer.server, 403, "text/plain", "forbidden", NULL);
  flush_fails (producer);
  g_assert_cmpuint (fx->rejected->len, ==, 3);
  g_assert_cmpuint (g_array_index (fx->rejected, guint, 2), ==, 403);

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
}

/* A refusal of credentials the application has replaced meanwhile asks
 * nothing of it. */
static void
test_stale_rejection_not_reported (Fixture       *fx,
                                   gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 3600 * 1000);
  g_autoptr(GAsyncResult) result = NULL;

  set_token (producer, "old");
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_hang (fx->consumer.server);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 1);
  set_token (producer, "new");
  /* "old" is refused after it was replaced; "new" is not tried at once
   * (nothing refused it): the flush fails. */
  ep_test_server_release_hung_with_status (fx->consumer.server, 401);
  ep_test_wait_result (&result);
  g_assert_false (ep_producer_flush_finish (producer, result, NULL));
  g_assert_cmpstr (last_authorization (fx), ==, "Bearer old");
  g_assert_cmpuint (fx->rejected->len, ==, 0);
}

/* After a refusal, new credentials are tried within a second although the
 * backoff is an hour. */
static void
test_new_credentials_tried_at_once (Fixture       *fx,
                                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 3600 * 1000);
  gint64 start;

  set_token (producer, "expired");
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (fx->consumer.server, 401, "text/plain", "expired", NULL);
  flush_fails (producer);
  g_assert_cmpuint (fx->rejected->len, ==, 1);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);

  start = g_get_monotonic_time ();
  set_token (producer, "fresh");
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 2);
  g_assert_cmpstr (last_authorization (fx), ==, "Bearer fresh");
  g_assert_false (ep_producer_get_outage (producer));
}

/* Without a refusal, new credentials change nothing in the schedule. */
static void
test_new_credentials_no_refusal (Fixture       *fx,
                                 gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 3600 * 1000);

  set_token (producer, "one");
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "down", NULL);
  flush_fails (producer);
  set_token (producer, "two");
  /* Spin the context a while: the hour-long backoff holds. */
  for (guint i = 0; i < 20; i++)
    ep_test_iterate ();
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 1);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
}

/* ...but never before a Retry-After time. */
static void
test_new_credentials_wait_retry_after (Fixture       *fx,
                                       gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 3600 * 1000);
  gint64 before_retry_after;

  set_token (producer, "expired");
  ep_producer_send_event (producer, "auth", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  ep_test_server_push_reply (fx->consumer.server, 401, "text/plain", "expired", NULL);
  flush_fails (producer);
  /* Nothing was accepted since the refusal; now throttled for 2 s. */
  ep_test_server_push_reply (fx->consumer.server, 429, "text/plain", "slow down", "2");
  before_retry_after = g_get_monotonic_time ();
  flush_fails (producer);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 2);

  set_token (producer, "fresh");
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 3);
  g_assert_cmpint (g_get_monotonic_time () - before_retry_after, >=, 2 * G_USEC_PER_SEC);
  /* Well before the hour-long backoff. */
  g_assert_cmpint (g_get_monotonic_time () - before_retry_after, <, 30 * G_USEC_PER_SEC);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  g_assert_cmpstr (last_authorization (fx), ==, "Bearer fresh");
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/ep/credentials/rejected-once-per-token", test_rejected_once_per_token);
  ADD ("/ep/credentials/stale-rejection-not-reported", test_stale_rejection_not_reported);
  ADD ("/ep/credentials/new-tried-at-once", test_new_credentials_tried_at_once);
  ADD ("/ep/credentials/new-without-refusal", test_new_credentials_no_refusal);
  ADD ("/ep/credentials/new-waits-for-retry-after", test_new_credentials_wait_retry_after);

  return g_test_run ();
}
