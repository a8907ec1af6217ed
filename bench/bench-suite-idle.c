/* bench-suite-idle.c: how often an idle producer wakes up
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A producer with nothing queued and nothing to report (a fresh queue, zero
 * counters) should not wake the CPU: no timer of its own fires. The producer
 * gets 1 s batch and monitoring intervals (so that a timer ticking while idle
 * shows up many times in the window), is left to settle, then its main
 * context is run for the window with a poll function that counts every
 * return of poll() before the window ends: each is a wakeup of the main
 * thread (a timer due, a file descriptor ready, a wakeup from another
 * thread). The other threads' context switches over the window come from
 * getrusage: the process's (RUSAGE_SELF) minus the main thread's.
 */
#define _GNU_SOURCE 1  /* RUSAGE_THREAD */
#include "config.h"

#include <stdio.h>
#include <sys/resource.h>

#include <gio/gio.h>

#include "bench-suite.h"

static gint64 window_end_ns;
static guint  wakeups;

/* poll() with its timeout capped at the end of the window. */
static gint
counting_poll (GPollFD *fds,
               guint    nfds,
               gint     timeout)
{
  gint64 left_ms = (window_end_ns - bench_now_ns () + 999999) / 1000000;
  gint ret;

  if (timeout < 0 || timeout > left_ms)
    timeout = (gint) MAX (left_ms, 0);
  ret = g_poll (fds, nfds, timeout);
  if (bench_now_ns () < window_end_ns)
    wakeups++;
  return ret;
}

static guint64
switches (int who)
{
  struct rusage ru;

  if (getrusage (who, &ru) != 0)
    return 0;
  return (guint64) ru.ru_nvcsw + (guint64) ru.ru_nivcsw;
}

/* Runs the thread-default main context until @seconds from now. */
static guint
run_for (double seconds)
{
  GMainContext *context = g_main_context_ref_thread_default ();
  GPollFunc old = g_main_context_get_poll_func (context);
  guint n;

  window_end_ns = bench_now_ns () + (gint64) (seconds * 1e9);
  wakeups = 0;
  g_main_context_set_poll_func (context, counting_poll);
  while (bench_now_ns () < window_end_ns)
    g_main_context_iteration (context, TRUE);
  n = wakeups;
  g_main_context_set_poll_func (context, old);
  g_main_context_unref (context);
  return n;
}

static EpProducer *
idle_producer_new (const char *dir)
{
  g_autoptr(GError) error = NULL;
  EpProducer *producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
                                         "app-name", "bench-suite",
                                         "app-version", "1.0",
                                         "consumer-uri", "http://127.0.0.1:9/api/event-batch",
                                         "public-consumer-uri",
                                         "http://127.0.0.1:9/api/public/event-batch",
                                         "queue-dir", dir,
                                         "batch-interval", 1000u,
                                         "monitoring-interval", 1000u,
                                         NULL);

  if (producer == NULL)
    bench_die ("cannot create a producer on %s: %s", dir, error->message);
  return producer;
}

void
phase_idle (const Config *config,
            Results      *results)
{
  g_autofree char *dir = bench_scratch ("idle");
  g_autoptr(EpProducer) producer = idle_producer_new (dir);
  Idle *out = &results->idle;
  guint64 self_before, main_before;

  if (ep_producer_get_queue_length (producer) != 0)
    bench_die ("the idle producer's queue is not empty");
  run_for (config->idle_settle_s);
  self_before = switches (RUSAGE_SELF);
  main_before = switches (RUSAGE_THREAD);
  out->main_wakeups = run_for (config->idle_window_s);
  out->main_switches = switches (RUSAGE_THREAD) - main_before;
  out->other_switches = switches (RUSAGE_SELF) - self_before - out->main_switches;
  out->seconds = config->idle_window_s;
  out->measured = TRUE;
  bench_progress ("idle producer: %u main-loop wakeups, %" G_GUINT64_FORMAT
                  " switches of other threads in %.0f s", out->main_wakeups,
                  out->other_switches, out->seconds);
  bench_producer_drop (&producer);
  bench_remove_tree (dir);
}

/* Report ------------------------------------------------------------------- */

double
idle_wakeups_per_minute (const Idle *idle)
{
  if (!idle->measured || idle->seconds <= 0)
    return 0;
  return (idle->main_wakeups + idle->other_switches) * 60.0 / idle->seconds;
}

void
print_idle (const Config  *config,
            const Results *results)
{
  const Idle *idle = &results->idle;

  if (!idle->measured)
    return;
  printf ("\n### 6. Idle producer: wakeups with nothing queued and nothing to report\n\n");
  printf ("| window | main-loop wakeups | other threads' context switches "
          "| main thread's context switches | wakeups per minute |\n");
  printf ("|---:|---:|---:|---:|---:|\n");
  printf ("| %.0f s (after %.0f s to settle) | %u | %" G_GUINT64_FORMAT " | %" G_GUINT64_FORMAT
          " | %.1f |\n", idle->seconds, config->idle_settle_s, idle->main_wakeups,
          idle->other_switches, idle->main_switches, idle_wakeups_per_minute (idle));
  printf ("\nA fresh producer (empty queue, zero counters) with batch-interval and "
          "monitoring-interval at 1 s, so that a timer that ticks while idle would show "
          "up once a second. Main-loop wakeups: returns of poll() before the end of the window "
          "(the window's own end is not counted). The main thread's switches include the "
          "one sleep that starts the window. Wakeups per minute = (main-loop wakeups + other "
          "threads' switches) × 60 ÷ window.\n");
}
