/* test-delivery-refusals.c: refusals and the witness rule (SPEC section 4, issue 8):
 * splits, poison events, consumers that refuse everything, the ledger
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
#include "ep-test-delivery-util.h"
#include "ep-test-util.h"

/* Refusals and the witness rule (SPEC section 4, issue 8) ------------------ */

#define ENTRY_CODE_400 \
  "<ErrorResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>Sender</Type>" \
  "<Code>InvalidMessageContents</Code><Message>refused</Message></Error>" \
  "<RequestId>r</RequestId></ErrorResponse>"

/* An old queue may hold an event with an empty MessageBody (send refuses
 * them now): SQS refuses the whole batch for it with 400 MissingParameter.
 * Alone, it is kept (nothing witnesses that the fault is the event's);
 * among good events, the split isolates it, it waits aside while the
 * others are delivered, and it is dropped once the evidence is in
 * (ep-witness-private.h). */
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
    assert_flush_fails (producer, "1 event is still queued*aside*");
    g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 12);
    g_assert_false (ep_producer_get_outage (producer));
    send_n (producer, "good", EP_WITNESS_MIN_CONFIRMED);
    flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
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

/* A SenderFault entry alone in its reply is kept in its place; once it
 * shares a reply with events the consumer takes, it waits aside, and it is
 * dropped once the evidence is in. */
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
  assert_flush_fails (producer, "1 event is still queued*aside*");
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{}"));
  g_assert_false (ep_producer_get_outage (producer));
  send_n (producer, "fine", EP_WITNESS_MIN_CONFIRMED);
  flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
  g_assert_true (counters_have (producer, "\"validationFailedEvents\":{\"refused\":1}"));
  g_assert_false (ep_producer_get_outage (producer));
}

/* Two poison events among 28 good ones, four batches in flight: the lone
 * refused events wait for the rest of their split, which witnesses, then
 * aside; each is dropped once the evidence is in, without any outage
 * (neither one's refusals count as random against the other). */
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

  assert_flush_fails (producer, "2 events are still queued*2 refused*aside*");
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 28);
  send_n (producer, "good", EP_WITNESS_MIN_CONFIRMED);
  flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
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

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

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

  return g_test_run ();
}
