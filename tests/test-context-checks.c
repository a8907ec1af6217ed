/* test-context-checks.c: flush, close and purge assert the producer's main context
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Their docs say "call it from the thread of the producer's main context";
 * a call from elsewhere is a programming error, reported with a critical
 * (g_return_if_fail) and otherwise ignored: a call while another thread
 * owns the context (runs it, or pushed it as its thread-default). While
 * no thread owns it, any call passes (test-delivery's flush from a thread
 * with another context pushed is one). The producer here lives on the
 * global default context, as in most applications. Nothing listens on the
 * consumer URIs: nothing is queued, so no request is made.
 */
#include "config.h"

#include "ep-test-util.h"

#define NOWHERE "http://127.0.0.1:9/api/event-batch"
#define CRITICAL_PATTERN "*assertion 'ep_producer_in_own_context (self)' failed*"

typedef struct {
  GMainContext *context;   /* the producer's: the global default */
  GMainLoop    *loop;
  EpProducer   *producer;
  gint          flushed;   /* atomic: the flush made on the loop's thread completed */
} Fixture;

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  g_autofree char *dir = ep_test_make_dir ("context-checks");

  fx->context = g_main_context_ref (g_main_context_default ());
  fx->loop = g_main_loop_new (fx->context, FALSE);
  fx->producer = ep_test_producer_new (dir, NOWHERE, NOWHERE, NULL, NULL);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  g_clear_object (&fx->producer);
  while (g_main_context_iteration (fx->context, FALSE))
    ;
  g_main_loop_unref (fx->loop);
  g_main_context_unref (fx->context);
}

/* Each of the three, with a critical expected. */
static void
call_all_expecting_criticals (EpProducer *producer)
{
  g_test_expect_message ("Ep", G_LOG_LEVEL_CRITICAL, CRITICAL_PATTERN);
  ep_producer_flush_async (producer, NULL, NULL, NULL);
  g_test_expect_message ("Ep", G_LOG_LEVEL_CRITICAL, CRITICAL_PATTERN);
  ep_producer_close_async (producer, NULL, NULL, NULL);
  g_test_expect_message ("Ep", G_LOG_LEVEL_CRITICAL, CRITICAL_PATTERN);
  ep_producer_purge_async (producer, NULL, NULL, NULL);
  g_test_assert_expected_messages ();
}

static gpointer
run_loop (gpointer data)
{
  Fixture *fx = data;

  g_main_loop_run (fx->loop);
  return NULL;
}

static void
flushed_on_loop (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Fixture *fx = user_data;

  g_assert_true (ep_producer_flush_finish (EP_PRODUCER (source), result, NULL));
  g_atomic_int_set (&fx->flushed, 1);
}

/* On the thread running the context (here through g_main_context_invoke):
 * no critical, and the flush completes. */
static gboolean
flush_on_loop (gpointer data)
{
  Fixture *fx = data;

  ep_producer_flush_async (fx->producer, NULL, flushed_on_loop, fx);
  return G_SOURCE_REMOVE;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* Another thread runs the producer's context (the application's main loop)
 * and this one is a worker: its calls are refused, although the context is
 * its thread-default too; from the loop's thread they work. */
static void
test_other_thread_runs_it (Fixture       *fx,
                           gconstpointer  data)
{
  GThread *thread = g_thread_new ("producer-context", run_loop, fx);
  gint64 deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;

  while (!g_main_loop_is_running (fx->loop))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_thread_yield ();
    }
  call_all_expecting_criticals (fx->producer);

  g_main_context_invoke (fx->context, flush_on_loop, fx);
  while (!g_atomic_int_get (&fx->flushed))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);   /* the other thread dispatches the flush */
    }
  g_main_context_invoke (fx->context, quit_loop, fx->loop);
  g_thread_join (thread);
}

/* Another thread pushed the producer's context as its thread-default (it
 * owns it without running it): refused here. Once it popped it, no thread
 * owns the context and close works from here. */
typedef struct {
  GMainContext *context;
  gint          state;   /* atomic: 1 pushed, 2 may pop, 3 popped */
} Pusher;

static gpointer
push_and_wait (gpointer data)
{
  Pusher *pusher = data;
  gint64 deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;

  g_main_context_push_thread_default (pusher->context);
  g_atomic_int_set (&pusher->state, 1);
  while (g_atomic_int_get (&pusher->state) != 2)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);   /* the test thread makes its calls */
    }
  g_main_context_pop_thread_default (pusher->context);
  g_atomic_int_set (&pusher->state, 3);
  return NULL;
}

static void
test_other_thread_pushed_it (Fixture       *fx,
                             gconstpointer  data)
{
  Pusher pusher = { fx->context, 0 };
  g_autoptr(GAsyncResult) result = NULL;
  GThread *thread = g_thread_new ("pusher", push_and_wait, &pusher);
  gint64 deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;

  while (g_atomic_int_get (&pusher.state) != 1)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  call_all_expecting_criticals (fx->producer);
  g_atomic_int_set (&pusher.state, 2);
  g_thread_join (thread);

  ep_producer_close_async (fx->producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (fx->producer, result, NULL));
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("/ep/context-checks/other-thread-runs-it", test_other_thread_runs_it);
  ADD ("/ep/context-checks/other-thread-pushed-it", test_other_thread_pushed_it);

  return g_test_run ();
}
