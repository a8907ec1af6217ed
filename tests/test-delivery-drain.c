/* test-delivery-drain.c: the scheduler draining a queue: read-ahead, queue work on one
 * thread, settles that read the next batch, flushes in flush callbacks, order
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
  own->monitor = ep_monitor_new ();
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
  g_assert_cmpuint (ep_scheduler_get_worker_switches_for_testing (own.scheduler), ==, 0);
  g_assert_cmpuint (ep_scheduler_get_reads_on_settle_for_testing (own.scheduler), >, 0);
  g_assert_cmpuint (ep_scheduler_get_freed_elsewhere_for_testing (own.scheduler), ==, 0);
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
  g_assert_cmpuint (ep_scheduler_get_reads_on_settle_for_testing (own.scheduler), ==, 9);
  g_assert_cmpuint (ep_scheduler_get_freed_elsewhere_for_testing (own.scheduler), ==, 0);
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
  /* The poison waits aside (ep-witness-private.h), out of everyone's way. */
  assert_flush_fails (producer, "1 event is still queued*aside*");
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 3 * 40 + 9);

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
  /* Dropped once the evidence is in. */
  send_n (producer, "late", EP_WITNESS_MIN_CONFIRMED);
  flush_until_empty (producer, EP_WITNESS_MIN_SPECIFIC + 1);
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
  g_test_trap_assert_stdout ("*Delivery attempt failed (1 in a row): POST http://127.0.0.1:*/api/public/event-batch: HTTP 500*next attempt in * ms*");
  g_test_trap_assert_stdout ("*Batch 1 settled: 0 events removed (confirmed or refused), 3 kept*");
  g_test_trap_assert_stdout ("*Batch 2 settled: 3 events removed*");
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  ADD ("/ep/delivery/max-in-flight-clamped", test_max_in_flight_clamped);
  ADD ("/ep/delivery/read-ahead-bounded", test_read_ahead_bounded);
  ADD ("/ep/delivery/queue-work-one-thread", test_queue_work_one_thread);
  ADD ("/ep/delivery/settle-reads-next", test_settle_reads_next);
  ADD ("/ep/delivery/flush-in-flush-callback", test_flush_in_flush_callback);
  ADD ("/ep/delivery/order-per-thread", test_order_per_thread);
  ADD ("/ep/delivery/debug-story", test_debug_story);

  return g_test_run ();
}
