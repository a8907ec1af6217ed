/* bench-suite-gaps.c: phase 5 of bench-suite, the longest gaps between ticks of a
 * 1 ms timer on the producer's main context while draining, and where the
 * main thread was during them
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE 1  /* RUSAGE_THREAD, gettid */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib.h>

#include "bench-suite.h"

/* 5. Main-loop gaps -------------------------------------------------------- */

/* Three syscalls: the thread's CPU clock (schedstat's own run time lags
 * for a running thread), a pread of schedstat ("run_ns wait_ns timeslices":
 * only the wait is used) and getrusage. */
static void
thread_sched_read (int          fd,
                   ThreadSched *out)
{
  char buf[128];
  ssize_t n = fd >= 0 ? pread (fd, buf, sizeof buf - 1, 0) : -1;
  struct rusage ru;
  struct timespec ts;

  memset (out, 0, sizeof *out);
  if (n > 0)
    {
      gint64 run_ns;

      buf[n] = '\0';
      sscanf (buf, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT, &run_ns, &out->wait_ns);
    }
  if (clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
    out->run_ns = (gint64) ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (getrusage (RUSAGE_THREAD, &ru) == 0)
    {
      out->nvcsw = ru.ru_nvcsw;
      out->nivcsw = ru.ru_nivcsw;
    }
}

static void
gap_split_add (GapSplit          *split,
               gint64             gap_ns,
               const ThreadSched *before,
               const ThreadSched *after,
               gint64             poll_asleep_ns,
               guint64            poll_sleeps)
{
  gint64 run = after->run_ns - before->run_ns;
  gint64 wait = after->wait_ns - before->wait_ns;
  guint64 sleeps = after->nvcsw - before->nvcsw;

  split->n++;
  split->poll_asleep_ns += poll_asleep_ns;
  split->sleeps_outside_poll += sleeps > poll_sleeps ? sleeps - poll_sleeps : 0;
  split->total_ns += gap_ns;
  split->run_ns += run;
  split->wait_ns += wait;
  split->nvcsw += after->nvcsw - before->nvcsw;
  split->nivcsw += after->nivcsw - before->nivcsw;
  /* The 1 ms timer's own period is spent asleep in poll(): only sleep
   * beyond it can be blocking. The gap is put down to the largest of the
   * three parts of what exceeds the period. */
  {
    gint64 extra_sleep = MAX (gap_ns - run - wait - 1000000, 0);

    if (wait >= run && wait >= extra_sleep)
      split->by_waiting++;
    else if (run >= extra_sleep)
      split->by_running++;
    else
      split->by_sleeping++;
  }
}

/* The machine's steal time so far (all CPUs, /proc/stat), in ms; -1 if
 * unknown. A vCPU the host does not run makes a sleeping thread's wakeup
 * late: that shows as asleep here. */
static gint64
steal_ms (void)
{
  g_autofree char *stat = NULL;
  guint64 v[8] = { 0 };

  if (!g_file_get_contents ("/proc/stat", &stat, NULL, NULL) ||
      sscanf (stat, "cpu %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
              " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
              " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
              &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
    return -1;
  return (gint64) (v[7] * 1000 / sysconf (_SC_CLK_TCK));
}

/* The ticking thread's ticker, for its poll function. */
static Ticker *poll_ticker;

/* The main context's poll(), timed: the time asleep inside it is the
 * timer's own wait (or a wakeup made late by the kernel or the
 * hypervisor); the rest of a gap's time asleep is blocking. Two cheap
 * reads around each poll (the thread's CPU clock and schedstat). */
static gint
timed_poll (GPollFD *fds,
            guint    nfds,
            gint     timeout)
{
  Ticker *ticker = poll_ticker;
  ThreadSched before, after;
  gint64 start, end;
  gint result;

  thread_sched_read (ticker->schedstat_fd, &before);
  start = bench_now_ns ();
  result = ticker->saved_poll (fds, nfds, timeout);
  end = bench_now_ns ();
  thread_sched_read (ticker->schedstat_fd, &after);
  ticker->poll_asleep_ns += MAX (end - start - (after.run_ns - before.run_ns) -
                                 (after.wait_ns - before.wait_ns), 0);
  ticker->poll_sleeps += after.nvcsw - before.nvcsw;
  return result;
}

static gboolean
ticker_tick (gpointer data)
{
  Ticker *ticker = data;
  gint64 now = bench_now_ns ();
  gint64 gap = now - ticker->last_ns;
  gint64 in_poll = ticker->poll_asleep_ns;
  guint64 poll_sleeps = ticker->poll_sleeps;
  ThreadSched sched;
  GapSplit this_gap = { 0 };
  gint64 asleep;

  thread_sched_read (ticker->schedstat_fd, &sched);
  /* Asleep: neither on a CPU nor waiting for one (poll() until the timer
   * is due, or blocked). Every gap is looked at, not only those over 2 ms. */
  asleep = gap - (sched.run_ns - ticker->last.run_ns) - (sched.wait_ns - ticker->last.wait_ns);
  if (asleep > bench_gap_asleep_ns (&ticker->most_asleep))
    {
      memset (&ticker->most_asleep, 0, sizeof ticker->most_asleep);
      gap_split_add (&ticker->most_asleep, gap, &ticker->last, &sched, in_poll, poll_sleeps);
    }
  gap_split_add (&this_gap, gap, &ticker->last, &sched, in_poll, poll_sleeps);
  if (bench_gap_blocked_ns (&this_gap) > bench_gap_blocked_ns (&ticker->most_blocked))
    ticker->most_blocked = this_gap;
  if (gap > ticker->longest_ns)
    {
      ticker->longest_ns = gap;
      ticker->longest_at_ns = now - ticker->start_ns;
      memset (&ticker->longest, 0, sizeof ticker->longest);
      gap_split_add (&ticker->longest, gap, &ticker->last, &sched, in_poll, poll_sleeps);
    }
  if (gap > 2000000)
    {
      ticker->gaps_over_2ms++;
      gap_split_add (&ticker->long_gaps, gap, &ticker->last, &sched, in_poll, poll_sleeps);
      if (ticker->log != NULL)
        fprintf (ticker->log, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                 " %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
                 ticker->last_ns, now, sched.run_ns - ticker->last.run_ns,
                 sched.wait_ns - ticker->last.wait_ns, sched.nvcsw - ticker->last.nvcsw,
                 sched.nivcsw - ticker->last.nivcsw);
    }
  ticker->last_ns = now;
  ticker->last = sched;
  ticker->poll_asleep_ns = 0;
  ticker->poll_sleeps = 0;
  ticker->ticks++;
  return G_SOURCE_CONTINUE;
}

void
ticker_start (Ticker *ticker)
{
  memset (ticker, 0, sizeof *ticker);
  ticker->schedstat_fd = open ("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  ticker->source = g_timeout_source_new (1);
  g_source_set_callback (ticker->source, ticker_tick, ticker, NULL);
  ticker->context = g_main_context_ref_thread_default ();
  g_source_attach (ticker->source, ticker->context);
  poll_ticker = ticker;
  ticker->saved_poll = g_main_context_get_poll_func (ticker->context);
  g_main_context_set_poll_func (ticker->context, timed_poll);
  thread_sched_read (ticker->schedstat_fd, &ticker->last);
  if (g_getenv ("BENCH_GAP_LOG") != NULL)
    {
      ticker->log = fopen (g_getenv ("BENCH_GAP_LOG"), "a");
      if (ticker->log != NULL)
        fprintf (ticker->log, "# drain start, tid %d: gap_start_ns gap_end_ns run_ns wait_ns nvcsw nivcsw "
                 "(CLOCK_MONOTONIC)\n", (int) gettid ());
    }
  ticker->steal_start_ms = steal_ms ();
  ticker->start_ns = ticker->last_ns = bench_now_ns ();
}

void
ticker_stop (Ticker *ticker,
             Drain  *out)
{
  ticker_tick (ticker);
  g_main_context_set_poll_func (ticker->context, ticker->saved_poll);
  g_clear_pointer (&ticker->context, g_main_context_unref);
  poll_ticker = NULL;
  g_source_destroy (ticker->source);
  g_clear_pointer (&ticker->source, g_source_unref);
  if (ticker->schedstat_fd >= 0)
    close (ticker->schedstat_fd);
  g_clear_pointer (&ticker->log, fclose);
  out->longest_gap_ns = ticker->longest_ns;
  out->longest_at_ns = ticker->longest_at_ns;
  out->gaps_over_2ms = ticker->gaps_over_2ms;
  out->ticks = ticker->ticks;
  out->long_gaps = ticker->long_gaps;
  out->longest = ticker->longest;
  out->most_asleep = ticker->most_asleep;
  out->most_blocked = ticker->most_blocked;
  out->steal_ms = ticker->steal_start_ms >= 0 && steal_ms () >= 0
                    ? steal_ms () - ticker->steal_start_ms : -1;
}

/* Report ------------------------------------------------------------------- */

static char *
format_split_longest (const GapSplit *g)
{
  return g_strdup_printf ("%.1f ms = %.1f + %.1f + %.1f", g->total_ns / 1e6, g->run_ns / 1e6,
                          g->wait_ns / 1e6, bench_gap_asleep_ns (g) / 1e6);
}

static char *
format_split_blocked (const GapSplit *g)
{
  return g_strdup_printf ("%.2f ms (gap %.1f ms = %.1f + %.1f + %.2f asleep, %.2f of it in poll(); "
                          "%" G_GUINT64_FORMAT " sleep(s) outside poll())",
                          bench_gap_blocked_ns (g) / 1e6, g->total_ns / 1e6, g->run_ns / 1e6,
                          g->wait_ns / 1e6, bench_gap_asleep_ns (g) / 1e6,
                          g->poll_asleep_ns / 1e6, g->sleeps_outside_poll);
}

static char *
format_split_asleep (const Drain *dr)
{
  const GapSplit *g = &dr->most_asleep;

  return g_strdup_printf ("%.2f ms (gap %.1f ms = %.1f + %.1f + %.2f); steal %" G_GINT64_FORMAT " ms",
                          bench_gap_asleep_ns (g) / 1e6, g->total_ns / 1e6, g->run_ns / 1e6,
                          g->wait_ns / 1e6, bench_gap_asleep_ns (g) / 1e6, dr->steal_ms);
}

/* Table 5b: where the main thread was during the gaps over 2 ms. */
static void
print_gap_splits (const Config  *config,
                  const Results *results)
{
  static const char * const names[N_IMPLS] = { "ours", "SQLite", "web", "no storage" };

  printf ("\n#### 5b. Where the main thread was during the gaps over 2 ms\n\n");
  printf ("| reply latency | max-in-flight | loop | gaps > 2 ms | mean gap = on a CPU + waiting for a CPU "
          "+ asleep | share waiting for a CPU | gaps put down to waiting / running / sleeping "
          "| switches involuntary / voluntary | longest = on a CPU + waiting + asleep "
          "| longest asleep, any gap (that gap = on a CPU + waiting + asleep); the machine's steal time during the drain "
          "| longest asleep outside poll(): blocked |\n");
  printf ("|---:|---:|---|---:|---|---:|---:|---:|---|---|---|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    for (guint i = 0; i < N_IMPLS; i++)
      {
        const Drain *dr = &results->drain[i][d];
        const GapSplit *g = &dr->long_gaps;
        g_autofree char *longest = NULL;
        g_autofree char *asleep = NULL;
        g_autofree char *blocked = NULL;
        double n = MAX (g->n, 1);

        if (!dr->measured)
          continue;
        longest = format_split_longest (&dr->longest);
        asleep = format_split_asleep (dr);
        blocked = format_split_blocked (&dr->most_blocked);
        printf ("| %u ms | %u | %s | %u | %.2f ms = %.2f + %.2f + %.2f | %.0f %% | %u / %u / %u "
                "| %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " | %s | %s | %s |\n",
                config->drain_latency[d], config->drain_in_flight[d], names[i], g->n,
                g->total_ns / 1e6 / n, g->run_ns / 1e6 / n, g->wait_ns / 1e6 / n,
                MAX (g->total_ns - g->run_ns - g->wait_ns, 0) / 1e6 / n,
                g->total_ns > 0 ? 100.0 * g->wait_ns / g->total_ns : 0.0,
                g->by_waiting, g->by_running, g->by_sleeping, g->nivcsw, g->nvcsw, longest, asleep, blocked);
      }
  printf ("\nFrom the main thread's /proc/thread-self/schedstat (time on a CPU, time runnable "
          "on a run queue) and getrusage (RUSAGE_THREAD) context switches, read at every "
          "tick. \"Waiting for a CPU\": runnable but not running (preempted, or woken and not "
          "yet scheduled); \"asleep\": not runnable: in poll() until the timer is due "
          "(about 1 ms of every gap) or blocked in a lock or a syscall. Each gap is put down to "
          "the largest of: waiting, running, sleeping beyond 1 ms. Time stolen by the "
          "hypervisor counts as on a CPU. \"Longest asleep\" looks at every gap, not only "
          "those over 2 ms: about 1 ms of it is the timer's own wait in poll(); what is beyond "
          "that is the main thread blocked (a lock, a syscall), or its wakeup late because the "
          "hypervisor did not run the vCPU its timer was on (steal: /proc/stat, all CPUs, "
          "10 ms resolution). The last column tells them apart: the main context's poll() is "
          "timed (a poll function reading the thread's CPU clock and schedstat around each "
          "call), and what is asleep outside poll() is blocking (waiting for a lock or in a "
          "syscall) if the thread went to sleep outside poll() in that gap (a voluntary "
          "switch); without one it is time the hypervisor took while the thread was on its "
          "vCPU (this kernel's paravirt steal accounting counts it neither as CPU time nor as "
          "run-queue wait).\n");
}

void
print_gaps (const Config  *config,
            const Results *results)
{
  if (results->drain_skipped)
    return;
  printf ("\n### 5. Main-loop friendliness: longest gap between ticks of a 1 ms timer "
           "on the producer's main context while draining\n\n");
  printf ("| reply latency | max-in-flight | queued | ours | SQLite | web | no storage |\n");
  printf ("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    {
      g_autofree char *n = bench_format_count (config->drain_events[d]);
      g_autofree char *gaps[N_IMPLS] = { NULL };

      for (guint i = 0; i < N_IMPLS; i++)
        {
          g_autofree char *gap = bench_format_ns (results->drain[i][d].longest_gap_ns);

          if (!results->drain[i][d].measured)
            gaps[i] = g_strdup ("n/a");
          else
            gaps[i] = g_strdup_printf ("%s (%u > 2 ms, %.1f/s)", gap,
                                       results->drain[i][d].gaps_over_2ms,
                                       results->drain[i][d].seconds > 0
                                         ? results->drain[i][d].gaps_over_2ms / results->drain[i][d].seconds
                                         : 0.0);
        }
      printf ("| %u ms | %u | %s | %s | %s | %s | %s |\n", config->drain_latency[d],
              config->drain_in_flight[d], n, gaps[OURS], gaps[SQLITE], gaps[WEB], gaps[MEMORY]);
      for (guint i = 0; i < N_IMPLS; i++)
        g_clear_pointer (&gaps[i], g_free);
    }
  printf ("\nIn parentheses: how many gaps exceeded 2 ms, and how many per second of drain "
          "(ours drains everything, the baselines stop after %.1f s: compare the rates, not "
          "the counts). Ours: the longest gap ended "
          "%.2f s, %.2f s, %.2f s, %.2f s after the flush started (rows in order). "
          "The baselines do their storage work on the main context, as the web "
          "producer does (JavaScript has one thread).\n",
          config->window_s, results->drain[OURS][0].longest_at_ns / 1e9, results->drain[OURS][1].longest_at_ns / 1e9,
          results->drain[OURS][2].longest_at_ns / 1e9, results->drain[OURS][3].longest_at_ns / 1e9);
  print_gap_splits (config, results);
}

