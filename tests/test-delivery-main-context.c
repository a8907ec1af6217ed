/* test-delivery-main-context.c: the producer's main context never waits for the
 * queue's I/O
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Issue 18, item 5: in a drain the main thread was asleep 12.3 ms at a time,
 * waiting for the queue's mutex while a worker held it across a write. Here
 * a hook (ep_queue_set_io_hook_for_testing()) stops the scheduler's worker right before
 * it writes a confirmed batch's removal (or the sync thread right before its
 * fdatasync), with whatever it holds there, until the test lets it go. Meanwhile the main context must go on: a 1 ms timer
 * ticks, and every call an application makes there returns (send, the
 * queue's properties, the oldest event's time, consent, flush), as does the
 * update the producer makes on its context after a send. A watchdog thread
 * lets the worker go after 10 s if the main thread is stuck, so that the
 * test fails rather than hangs.
 */
#include "config.h"

#include "ep-producer-private.h"
#include "ep-queue-private.h"
#include "ep-test-delivery-util.h"
#include "ep-test-util.h"

#define WATCHDOG_US (10 * G_TIME_SPAN_SECOND)

typedef struct {
  GMutex     lock;
  GCond      cond;
  EpQueueIo  what;          /* the write to hold */
  GThread   *main_thread;   /* never held: only the queue's own threads */
  gboolean   armed;         /* hold the next one */
  gboolean   stuck;         /* a thread is held */
  gboolean   released;
  gboolean   done;          /* the main thread finished its checks */
  gboolean   watchdog_fired;
} Hold;

static void
hold_hook (EpQueue   *queue,
           EpQueueIo  what,
           gpointer   data)
{
  Hold *hold = data;

  if (what != hold->what || g_thread_self () == hold->main_thread)
    return;
  g_mutex_lock (&hold->lock);
  if (hold->armed)
    {
      hold->armed = FALSE;
      hold->stuck = TRUE;
      g_cond_broadcast (&hold->cond);
      while (!hold->released)
        g_cond_wait (&hold->cond, &hold->lock);
    }
  g_mutex_unlock (&hold->lock);
}

static void
hold_release (Hold *hold)
{
  g_mutex_lock (&hold->lock);
  hold->released = TRUE;
  g_cond_broadcast (&hold->cond);
  g_mutex_unlock (&hold->lock);
}

static gboolean
hold_is_stuck (Hold *hold)
{
  gboolean stuck;

  g_mutex_lock (&hold->lock);
  stuck = hold->stuck;
  g_mutex_unlock (&hold->lock);
  return stuck;
}

/* Lets the held thread go if the main thread has not finished its checks
 * in time (it is blocked behind the held thread). */
static gpointer
watchdog_main (gpointer data)
{
  Hold *hold = data;
  gint64 deadline = g_get_monotonic_time () + WATCHDOG_US;

  g_mutex_lock (&hold->lock);
  while (!hold->done && g_cond_wait_until (&hold->cond, &hold->lock, deadline))
    ;
  if (!hold->done)
    hold->watchdog_fired = TRUE;
  hold->released = TRUE;
  g_cond_broadcast (&hold->cond);
  g_mutex_unlock (&hold->lock);
  return NULL;
}

static gboolean
tick (gpointer data)
{
  guint *ticks = data;

  (*ticks)++;
  return G_SOURCE_CONTINUE;
}

/* Runs the main context until @n more ticks of the 1 ms timer came. */
static void
wait_ticks (guint *ticks,
            guint  n)
{
  guint until = *ticks + n;

  EP_TEST_SPIN_UNTIL (*ticks >= until);
}

static void
on_notify (GObject    *object,
           GParamSpec *pspec,
           guint      *count)
{
  (*count)++;
}

static void
test_worker_held_in_removal (Fixture       *fx,
                             gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  EpQueue *queue = ep_producer_get_queue_for_testing (producer);
  g_autoptr(GAsyncResult) first_flush = NULL;
  g_autoptr(GAsyncResult) second_flush = NULL;
  g_autoptr(GSource) ticker = g_timeout_source_new (1);
  g_autoptr(GThread) watchdog = NULL;
  Hold hold = { 0 };
  guint ticks = 0, length_notifies = 0;
  guint64 length;

  g_mutex_init (&hold.lock);
  g_cond_init (&hold.cond);
  hold.what = EP_QUEUE_IO_TOMBSTONE;
  hold.main_thread = g_thread_self ();
  hold.armed = TRUE;
  ep_queue_set_io_hook_for_testing (queue, hold_hook, &hold);
  g_source_set_callback (ticker, tick, &ticks, NULL);
  g_source_attach (ticker, g_main_context_get_thread_default ());
  g_signal_connect (producer, "notify::queue-length", G_CALLBACK (on_notify), &length_notifies);

  send_n (producer, "before", 25);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 25);

  /* The first confirmed batch: the worker is held in its removal. */
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &first_flush);
  EP_TEST_SPIN_UNTIL (hold_is_stuck (&hold));
  watchdog = g_thread_new ("watchdog", watchdog_main, &hold);

  /* Everything below runs on the main context while the worker is held. */
  wait_ticks (&ticks, 20);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 15);
  g_assert_cmpuint (ep_producer_get_queue_bytes (producer), >, 0);
  g_assert_cmpint (ep_producer_get_oldest_event_time (producer), >, 0);
  g_assert_cmpuint (ep_producer_get_discarded_records (producer), ==, 0);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, FALSE);
  g_assert_cmpint (ep_producer_send_event (producer, "while-held", EP_CONSENT_CATEGORY_NECESSARY,
                                           "{}", NULL), ==, EP_SEND_RESULT_STORED);
  length = ep_producer_get_queue_length (producer);
  g_assert_cmpuint (length, ==, 16);
  /* the producer's own update after a send, on its context */
  length_notifies = 0;
  send_n (producer, "while-held", 1);
  EP_TEST_SPIN_UNTIL (length_notifies > 0);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &second_flush);
  wait_ticks (&ticks, 20);

  g_mutex_lock (&hold.lock);
  g_assert_true (hold.stuck);
  g_assert_false (hold.released);  /* all of it while the worker was held */
  hold.done = TRUE;
  g_cond_broadcast (&hold.cond);
  g_mutex_unlock (&hold.lock);
  g_thread_join (g_steal_pointer (&watchdog));
  g_assert_false (hold.watchdog_fired);
  hold_release (&hold);

  ep_test_wait_result (&first_flush);
  g_assert_true (ep_producer_flush_finish (producer, first_flush, NULL));
  ep_test_wait_result (&second_flush);
  g_assert_true (ep_producer_flush_finish (producer, second_flush, NULL));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);

  ep_queue_set_io_hook_for_testing (queue, NULL, NULL);
  g_source_destroy (ticker);
  g_mutex_clear (&hold.lock);
  g_cond_clear (&hold.cond);
}

/* The sync thread held in its background fdatasync: the main context
 * goes on, and a whole flush completes meanwhile (sends, reads, removals:
 * nothing waits for the sync). */
static void
test_sync_thread_held_in_sync (Fixture       *fx,
                               gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  EpQueue *queue = ep_producer_get_queue_for_testing (producer);
  g_autoptr(GAsyncResult) flushed = NULL;
  g_autoptr(GSource) ticker = g_timeout_source_new (1);
  g_autoptr(GThread) watchdog = NULL;
  Hold hold = { 0 };
  guint ticks = 0, length_notifies = 0;

  g_mutex_init (&hold.lock);
  g_cond_init (&hold.cond);
  hold.what = EP_QUEUE_IO_SYNC;
  hold.main_thread = g_thread_self ();
  hold.armed = TRUE;
  ep_queue_set_io_hook_for_testing (queue, hold_hook, &hold);
  g_source_set_callback (ticker, tick, &ticks, NULL);
  g_source_attach (ticker, g_main_context_get_thread_default ());
  g_signal_connect (producer, "notify::queue-length", G_CALLBACK (on_notify), &length_notifies);

  /* Written, so the sync thread syncs them within EP_JOURNAL_SYNC_DELAY_US: held. */
  send_n (producer, "before", 25);
  EP_TEST_SPIN_UNTIL (hold_is_stuck (&hold));
  watchdog = g_thread_new ("watchdog", watchdog_main, &hold);

  wait_ticks (&ticks, 20);
  g_assert_cmpint (ep_producer_get_oldest_event_time (producer), >, 0);
  length_notifies = 0;
  g_assert_cmpint (ep_producer_send_event (producer, "while-held", EP_CONSENT_CATEGORY_NECESSARY,
                                           "{}", NULL), ==, EP_SEND_RESULT_STORED);
  EP_TEST_SPIN_UNTIL (length_notifies > 0);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 26);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &flushed);
  ep_test_wait_result (&flushed);
  g_assert_true (ep_producer_flush_finish (producer, flushed, NULL));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  wait_ticks (&ticks, 20);

  g_mutex_lock (&hold.lock);
  g_assert_true (hold.stuck);
  g_assert_false (hold.released);  /* all of it while the sync thread was held */
  hold.done = TRUE;
  g_cond_broadcast (&hold.cond);
  g_mutex_unlock (&hold.lock);
  g_thread_join (g_steal_pointer (&watchdog));
  g_assert_false (hold.watchdog_fired);
  hold_release (&hold);

  ep_queue_set_io_hook_for_testing (queue, NULL, NULL);
  g_source_destroy (ticker);
  g_mutex_clear (&hold.lock);
  g_cond_clear (&hold.cond);
}

int
main (int    argc,
      char **argv)
{
  ep_test_init (&argc, &argv);

  g_test_add ("/main-context/worker-held-in-removal", Fixture, NULL,
              fixture_setup, test_worker_held_in_removal, fixture_teardown);
  g_test_add ("/main-context/sync-thread-held-in-sync", Fixture, NULL,
              fixture_setup, test_sync_thread_held_in_sync, fixture_teardown);

  return g_test_run ();
}
