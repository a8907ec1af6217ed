/* test-wakeups.c: an idle producer arms no timer; timers coalesce
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each test runs the producer (and the scripted consumer) on a main
 * context of its own, and looks at what is attached to it: the sources
 * ep-glib names "[ep-glib] ...", and the time until the next timer
 * (g_main_context_query: -1 when no timer is armed at all), so "nothing
 * wakes an idle producer" is checked without waiting for minutes.
 */
#include "config.h"

#include "ep-test-server.h"
#include "ep-timer-private.h"
#include "ep-test-util.h"

typedef struct {
  GMainContext  *context;
  EpTestConsumer consumer;
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  fx->context = g_main_context_new ();
  g_main_context_push_thread_default (fx->context);
  ep_test_consumer_init (&fx->consumer, "wakeups", NULL);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  ep_test_consumer_clear (&fx->consumer);
  while (g_main_context_iteration (fx->context, FALSE))
    ;
  g_main_context_pop_thread_default (fx->context);
  g_main_context_unref (fx->context);
}

/* Runs what is ready, without blocking, until nothing is. */
static void
settle (Fixture *fx)
{
  while (g_main_context_iteration (fx->context, FALSE))
    ;
}

/* The ms until the context's next timer, -1 when it has none. */
static gint
next_timeout_ms (Fixture *fx)
{
  GPollFD fds[64];
  gint max_priority, timeout = -1;

  g_assert_true (g_main_context_acquire (fx->context));
  g_main_context_prepare (fx->context, &max_priority);
  g_assert_cmpint (g_main_context_query (fx->context, G_MAXINT, &timeout, fds, G_N_ELEMENTS (fds)),
                   <=, G_N_ELEMENTS (fds));
  if (g_main_context_check (fx->context, max_priority, fds, 0))
    g_main_context_dispatch (fx->context);
  g_main_context_release (fx->context);
  return timeout;
}

static GSource *
find_source (Fixture    *fx,
             const char *name)
{
  return ep_test_find_source (fx->context, name);
}

/* Makes the armed timer @name due now (it is dispatched by the next
 * iteration), instead of waiting for its interval. */
static void
fire_now (Fixture    *fx,
          const char *name)
{
  GSource *timer = find_source (fx, name);

  g_assert_nonnull (timer);
  g_source_set_ready_time (timer, 0);
}

/* A seconds timer (g_timeout_add_seconds) expires on the process's own
 * sub-second mark, which every other seconds timer shares: compare with
 * one of ours. */
static gboolean
is_seconds_timer (Fixture *fx,
                  GSource *source)
{
  g_autoptr(GSource) reference = g_timeout_source_new_seconds (1000);
  gint64 phase;

  g_source_attach (reference, fx->context);
  phase = (g_source_get_ready_time (source) - g_source_get_ready_time (reference)) % G_USEC_PER_SEC;
  g_source_destroy (reference);
  return phase == 0;
}

/* Batches every 30 s; monitoring every @monitoring_interval_ms. */
static gboolean
counters_zero (EpProducer *producer)
{
  g_autoptr(GVariant) counters = ep_producer_dup_counters (producer);
  g_autoptr(GVariant) consent = g_variant_get_child_value (counters, 0);
  g_autoptr(GVariant) validation = g_variant_get_child_value (counters, 1);
  g_autoptr(GVariant) storing = g_variant_get_child_value (counters, 2);

  return g_variant_n_children (consent) + g_variant_n_children (validation) +
         g_variant_n_children (storing) == 0;
}

static EpProducer *
producer_new (Fixture *fx,
              guint    monitoring_interval_ms)
{
  return ep_test_consumer_new_producer (&fx->consumer,
                                        "batch-interval", 30 * 1000,
                                        "monitoring-interval", monitoring_interval_ms,
                                        NULL);
}

/* Nothing queued, nothing to report: no timer at all on the context. */
static void
test_idle_no_timer (Fixture       *fx,
                    gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);

  settle (fx);
  g_assert_null (find_source (fx, "[ep-glib] batch timer"));
  g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));
  g_assert_cmpint (next_timeout_ms (fx), ==, -1);
}

/* The batch timer runs while events wait, as a seconds timer; it is gone
 * once the queue is empty. */
static void
test_batch_timer_while_queued (Fixture       *fx,
                               gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);
  GSource *timer;

  settle (fx);
  ep_producer_send_event (producer, "wake", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  settle (fx);
  timer = find_source (fx, "[ep-glib] batch timer");
  g_assert_nonnull (timer);
  g_assert_true (is_seconds_timer (fx, timer));
  g_assert_cmpint (next_timeout_ms (fx), >, 25 * 1000);

  g_assert_true (ep_test_flush (producer, NULL));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  settle (fx);
  g_assert_null (find_source (fx, "[ep-glib] batch timer"));
  g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));
}

/* The monitoring timer runs while a counter is non-zero, and stops once
 * the consumer confirmed the monitoring event. */
static void
test_monitoring_timer_while_counted (Fixture       *fx,
                                     gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 50);

  settle (fx);
  g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));

  /* A consent-filtered event is counted. */
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
  EP_TEST_SPIN_UNTIL (find_source (fx, "[ep-glib] monitoring timer") != NULL);

  /* The monitoring event goes out, is confirmed, the counters are zero. */
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 1);
  EP_TEST_SPIN_UNTIL (counters_zero (producer));
  settle (fx);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, 1);
  g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));
  g_assert_null (find_source (fx, "[ep-glib] batch timer"));
}

/* Counters restored at start arm the monitoring timer (a seconds timer for
 * a whole-minute interval); a failed monitoring post keeps it armed. */
static void
test_monitoring_timer_restored (Fixture       *fx,
                                gconstpointer  data)
{
  {
    g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);

    ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
    ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
    settle (fx);
  }
  {
    /* A 60 s interval, so the timer cannot fire on its own during the
     * test (a short one could fire, and be gone, before we look); the
     * test makes it due at once when it wants the monitoring post. */
    g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);

    EP_TEST_SPIN_UNTIL (find_source (fx, "[ep-glib] monitoring timer") != NULL);
    ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "down", NULL);
    fire_now (fx, "[ep-glib] monitoring timer");
    EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 1);
    /* None while the post is in flight; the failure re-arms it. */
    EP_TEST_SPIN_UNTIL (find_source (fx, "[ep-glib] monitoring timer") != NULL);
    fire_now (fx, "[ep-glib] monitoring timer");
    EP_TEST_SPIN_UNTIL (ep_test_server_get_n_requests (fx->consumer.server) == 2);
    EP_TEST_SPIN_UNTIL (counters_zero (producer));
    settle (fx);
    g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));
  }
  {
    g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);

    settle (fx);
    g_assert_null (find_source (fx, "[ep-glib] monitoring timer"));
    /* One-shot leftovers of the previous producer run out; then nothing. */
    EP_TEST_SPIN_UNTIL (next_timeout_ms (fx) == -1);
  }
}

static void
test_monitoring_timer_seconds (Fixture       *fx,
                               gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);
  GSource *timer;

  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_send_event (producer, "blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
  EP_TEST_SPIN_UNTIL (find_source (fx, "[ep-glib] monitoring timer") != NULL);
  timer = find_source (fx, "[ep-glib] monitoring timer");
  g_assert_true (is_seconds_timer (fx, timer));
}

/* The timer that bounds close's last attempt by request-timeout (default
 * 10 s) is a seconds timer too, named, and fires no earlier than asked;
 * when it fires, close completes although the request still hangs. */
static void
test_close_timer_seconds (Fixture       *fx,
                          gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, 60 * 1000);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  GSource *timer;
  gint64 before = g_get_monotonic_time ();

  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  g_assert_cmpint (ep_producer_send_event (producer, "closing", EP_CONSENT_CATEGORY_NECESSARY,
                                           "{}", NULL), ==, EP_SEND_RESULT_STORED);
  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (find_source (fx, "[ep-glib] close timer") != NULL);
  timer = find_source (fx, "[ep-glib] close timer");
  g_assert_true (is_seconds_timer (fx, timer));
  g_assert_cmpint (g_source_get_ready_time (timer), >=, before + 10 * G_USEC_PER_SEC - 100 * 1000);
  g_assert_null (result);

  fire_now (fx, "[ep-glib] close timer");
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, &error));
  g_assert_no_error (error);
}

/* Long delays get a seconds timer that never fires early; short ones a
 * millisecond timer. */
static void
test_timer_sources (Fixture       *fx,
                    gconstpointer  data)
{
  struct { gint64 delay_ms; gboolean seconds; } cases[] = {
    { -5, FALSE }, { 0, FALSE }, { 1000, FALSE }, { EP_TIMER_SECONDS_MIN_MS - 1, FALSE },
    { EP_TIMER_SECONDS_MIN_MS, TRUE }, { 30 * 1000, TRUE }, { 300 * 1000 + 999, TRUE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GSource) timer = ep_timer_source_new (cases[i].delay_ms, "[ep-glib] test timer");
      gint64 delay_us = MAX (cases[i].delay_ms, 0) * 1000;
      gint64 before = g_get_monotonic_time ();
      gint64 after;

      g_source_attach (timer, fx->context);
      after = g_get_monotonic_time ();
      g_assert_cmpstr (g_source_get_name (timer), ==, "[ep-glib] test timer");
      /* GLib counts from the context's cached time, a little before ours. */
      g_assert_cmpint (g_source_get_ready_time (timer), >=, before + delay_us - 100 * 1000);
      if (cases[i].seconds)
        {
          g_assert_true (is_seconds_timer (fx, timer));
          g_assert_cmpint (g_source_get_ready_time (timer), <=, after + delay_us + 2 * G_USEC_PER_SEC);
        }
      else
        g_assert_cmpint (g_source_get_ready_time (timer), <=, after + delay_us);
      g_source_destroy (timer);
    }
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/ep/wakeups/timer-sources", test_timer_sources);
  ADD ("/ep/wakeups/idle-no-timer", test_idle_no_timer);
  ADD ("/ep/wakeups/batch-timer-while-queued", test_batch_timer_while_queued);
  ADD ("/ep/wakeups/monitoring-timer-while-counted", test_monitoring_timer_while_counted);
  ADD ("/ep/wakeups/monitoring-timer-restored", test_monitoring_timer_restored);
  ADD ("/ep/wakeups/monitoring-timer-seconds", test_monitoring_timer_seconds);
  ADD ("/ep/wakeups/close-timer-seconds", test_close_timer_seconds);

  return g_test_run ();
}
