/* bench-suite.c: ep-glib's benchmark suite, with the web and SQLite baselines
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: bench-suite [--quick] [--only PHASES] [--consumer PATH] [--tmpdir DIR]
 *
 * Measures, for ep-glib ("ours") and, in the same run on the same data, for
 * the TIDAL web producer's strategy ("web": the whole queue rewritten with
 * g_file_set_contents on every add and removal) and the TIDAL Android /
 * Snowplow strategy ("SQLite": a row per event, WAL, synchronous=NORMAL):
 *   1. send latency (median, p99, p99.9) with 0 .. 1M events queued, in the
 *      default mode and with sync-on-send;
 *   2. sustained send throughput from 1 and 4 threads;
 *   3. restore: time to open over 10k .. 1M queued events, RSS per event
 *      (measured in a child process: bench-suite --restore-child KIND DIR);
 *   4. drain rate to ep-consumer on loopback (0 and 20 ms reply latency,
 *      max-in-flight 1 and 4);
 *   5. the longest gap between ticks of a 1 ms timer on the producer's main
 *      context while draining to a 20 ms consumer.
 * and prints markdown tables with ours ÷ baseline ratios and the targets.
 *
 * Scratch data lives in a fresh directory under --tmpdir ($TMPDIR or /tmp),
 * removed phase by phase (the full run needs about 1.6 GB at its peak).
 * Exits non-zero only on an error, never because a target was missed.
 */
#define _GNU_SOURCE 1  /* RUSAGE_THREAD */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "ep-glib.h"
#include "ep-queue-private.h"
#include "ep-transport-private.h"

#include "bench-baselines.h"
#include "bench-common.h"

enum { OURS, SQLITE, WEB, MEMORY, N_IMPLS };  /* MEMORY: drains only */
enum { MODE_DEFAULT, MODE_SYNC, N_MODES };
#define N_LEVELS 4
#define N_DRAINS 4

/* Sizes of one run. */
typedef struct {
  gboolean quick;
  guint64  levels[N_LEVELS];           /* events queued before measuring sends */
  guint    samples[N_MODES];           /* timed sends per level (ours, SQLite) */
  guint    web_samples[N_LEVELS];      /* timed web sends per level; 0: projected */
  gboolean web_restore[N_LEVELS];      /* whether web restore is measured at that level */
  guint64  throughput_events;          /* sends per throughput run (ours) */
  double   window_s;                   /* time limit of a baseline run */
  guint    drain_latency[N_DRAINS];    /* consumer reply latency, ms */
  guint    drain_in_flight[N_DRAINS];
  guint64  drain_events[N_DRAINS];
  gboolean drain_rows[N_DRAINS];       /* which drains to run (--drains) */
} Config;

typedef struct {
  BenchStats stats;
  gboolean   measured;
  double     projected_ns;             /* when not measured: extrapolated median */
} Latency;

typedef struct {
  gboolean measured;
  gboolean timed_out;
  guint64  length;
  double   seconds;
  guint64  rss_before;
  guint64  rss_after;
  guint64  peak;                       /* VmHWM during the open (reset before) */
} Restore;

/* Where the main thread was during timer gaps, from its scheduler
 * statistics (/proc/thread-self/schedstat and getrusage (RUSAGE_THREAD)):
 * running, runnable but waiting for a CPU (preempted), or neither (asleep:
 * in poll() or blocked in a lock or a syscall). */
typedef struct {
  guint   n;
  gint64  total_ns;                    /* wall time of the gaps */
  gint64  run_ns;                      /* on a CPU */
  gint64  wait_ns;                     /* runnable, waiting on the run queue */
  guint64 nvcsw;                       /* voluntary switches (went to sleep) */
  guint64 nivcsw;                      /* involuntary switches (preempted) */
  guint   by_waiting;                  /* gaps whose excess is mostly run-queue wait */
  guint   by_running;                  /* ... mostly time on a CPU */
  guint   by_sleeping;                 /* ... mostly sleep beyond the 1 ms period */
} GapSplit;

typedef struct {
  gboolean measured;
  guint64  queued;
  guint64  delivered;
  double   seconds;
  gboolean emptied;
  gint64   longest_gap_ns;
  gint64   longest_at_ns;
  guint    gaps_over_2ms;
  guint    ticks;
  GapSplit long_gaps;                  /* the gaps over 2 ms, added up */
  GapSplit longest;                    /* the longest gap */
} Drain;

typedef struct {
  gboolean measured;
  guint64  sends;
  double   seconds;
} Throughput;

typedef struct {
  Latency    latency[N_IMPLS][N_MODES][N_LEVELS];
  Throughput throughput[N_IMPLS][2];
  Restore    restore[N_IMPLS][N_LEVELS];
  Drain      drain[N_IMPLS][N_DRAINS];
  gboolean   drain_skipped;
} Results;

static char *scratch_root;
static char *self_exe;
static char *consumer_path;
static char *payload;

/* Helpers ------------------------------------------------------------------- */

static void G_GNUC_NORETURN G_GNUC_PRINTF (1, 2)
die (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  fprintf (stderr, "bench-suite: ");
  vfprintf (stderr, format, args);
  fprintf (stderr, "\n");
  va_end (args);
  if (scratch_root != NULL)
    bench_remove_tree (scratch_root);
  exit (1);
}

static void G_GNUC_PRINTF (1, 2)
progress (const char *format,
          ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "[%7.1f s] %s\n", g_get_monotonic_time () / 1e6, text);
}

static char *
scratch (const char *name)
{
  return g_build_filename (scratch_root, name, NULL);
}

static void
spin_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* The producer --------------------------------------------------------------- */

static EpProducer *
producer_new (const char *dir,
              gboolean    sync_on_send,
              guint       max_in_flight,
              guint       port)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api/event-batch", port ? port : 9);
  g_autofree char *public_uri = g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch",
                                                 port ? port : 9);
  EpProducer *producer;

  producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
                             "app-name", "bench-suite",
                             "app-version", "1.0",
                             "consumer-uri", uri,
                             "public-consumer-uri", public_uri,
                             "queue-dir", dir,
                             "max-disk-usage", (guint64) 8 << 30,
                             "batch-interval", 24 * 3600 * 1000u,
                             "monitoring-interval", 24 * 3600 * 1000u,
                             "request-timeout", 30000u,
                             "sync-on-send", sync_on_send,
                             "max-in-flight", max_in_flight,
                             "device-vendor", "Bench Vendor",
                             "device-model", "Bench Model 1",
                             "os-name", "Debian GNU/Linux",
                             "os-version", "12",
                             NULL);
  if (producer == NULL)
    die ("cannot create a producer on %s: %s", dir, error->message);
  return producer;
}

/* Drops the producer; it must be gone (its queue lock released) at once. */
static void
producer_drop (EpProducer **producer)
{
  gpointer weak = *producer;

  g_object_add_weak_pointer (G_OBJECT (*producer), &weak);
  spin_pending ();
  g_clear_object (producer);
  spin_pending ();
  if (weak != NULL)
    die ("a producer is still alive after its last unref");
}

static void
send_or_die (EpProducer *producer)
{
  EpSendResult result = ep_producer_send_event (producer, BENCH_EVENT_NAME,
                                                EP_CONSENT_CATEGORY_NECESSARY, payload, NULL);

  if (result != EP_SEND_RESULT_STORED)
    die ("send failed (result %d) with %" G_GUINT64_FORMAT " queued", result,
         ep_producer_get_queue_length (producer));
}

static void
fill_producer (EpProducer *producer,
               guint64     length)
{
  while (ep_producer_get_queue_length (producer) < length)
    send_or_die (producer);
}

/* Removes the oldest events until @length are left (between measurements, so
 * that every level starts with exactly that many queued). */
static void
trim_queue (const char *dir,
            guint64     length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);

  if (queue == NULL)
    die ("cannot open %s: %s", dir, error->message);
  while (ep_queue_get_length (queue) > length)
    {
      guint n = (guint) MIN (4096, ep_queue_get_length (queue) - length);
      g_autoptr(GPtrArray) items = ep_queue_take (queue, n, G_MAXSIZE);
      g_autofree guint64 *seqs = g_new (guint64, items->len);

      for (guint i = 0; i < items->len; i++)
        seqs[i] = ((EpQueueItem *) g_ptr_array_index (items, i))->seq;
      if (items->len == 0 || !ep_queue_remove (queue, seqs, items->len, &error))
        die ("cannot trim %s: %s", dir, error ? error->message : "nothing to take");
    }
  if (!ep_queue_sync (queue, &error))
    die ("cannot sync %s: %s", dir, error->message);
  ep_queue_close (queue);
}

/* 1. Send latency ------------------------------------------------------------ */

static void
measure_ours_sends (EpProducer *producer,
                    guint       n,
                    Latency    *out)
{
  g_autofree gint64 *samples = g_new (gint64, n);

  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();
      EpSendResult result = ep_producer_send_event (producer, BENCH_EVENT_NAME,
                                                    EP_CONSENT_CATEGORY_NECESSARY, payload, NULL);

      samples[i] = bench_now_ns () - start;
      if (result != EP_SEND_RESULT_STORED)
        die ("send failed (result %d)", result);
    }
  bench_stats_compute (samples, n, &out->stats);
  out->measured = TRUE;
}

static void
measure_store_sends (BenchStore *store,
                     guint       n,
                     gboolean    keep_length,
                     Latency    *out)
{
  g_autofree gint64 *samples = g_new (gint64, n);
  g_autoptr(GError) error = NULL;
  BenchEnrichment e;

  bench_enrichment_init (&e);
  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();
      gboolean ok = bench_store_send (store, &e, BENCH_EVENT_NAME, payload, &error);

      samples[i] = bench_now_ns () - start;
      if (!ok)
        die ("baseline send failed: %s", error->message);
      if (keep_length)
        bench_store_pop_newest (store);
    }
  bench_enrichment_clear (&e);
  bench_stats_compute (samples, n, &out->stats);
  out->measured = TRUE;
}

static void run_restore_child (const char *kind, const char *dir, double timeout_s, Restore *out);

static void
phase_latency_ours (const Config *config,
                    Results      *results)
{
  g_autofree char *dir = scratch ("ours-queue");

  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      g_autoptr(EpProducer) producer = producer_new (dir, FALSE, 4, 0);
      gint64 start = bench_now_ns ();

      /* Filled, then closed (synced) and opened again: the sends are
       * measured over a queue that is on disk, not over a page cache
       * full of dirty pages that the kernel is still writing back. */
      fill_producer (producer, level);
      producer_drop (&producer);
      progress ("ours: filled to %" G_GUINT64_FORMAT " in %.1f s", level,
                (bench_now_ns () - start) / 1e9);
      producer = producer_new (dir, FALSE, 4, 0);
      measure_ours_sends (producer, config->samples[MODE_DEFAULT],
                          &results->latency[OURS][MODE_DEFAULT][l]);
      producer_drop (&producer);

      producer = producer_new (dir, TRUE, 4, 0);
      measure_ours_sends (producer, config->samples[MODE_SYNC],
                          &results->latency[OURS][MODE_SYNC][l]);
      producer_drop (&producer);

      trim_queue (dir, level);
      if (l > 0)
        run_restore_child ("ours", dir, 120, &results->restore[OURS][l]);
      progress ("ours: level %" G_GUINT64_FORMAT " done", level);
    }
  bench_remove_tree (dir);
}

static void
phase_latency_sqlite (const Config *config,
                      Results      *results)
{
  g_autofree char *dir = scratch ("sqlite-queue");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = NULL;

  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      gint64 start = bench_now_ns ();

      if (store == NULL && (store = bench_store_open (BENCH_STORE_SQLITE, dir, &error)) == NULL)
        die ("%s", error->message);
      if (bench_store_length (store) < level &&
          !bench_store_fill (store, level - bench_store_length (store), BENCH_EVENT_NAME,
                             payload, &error))
        die ("SQLite fill: %s", error->message);
      progress ("SQLite: filled to %" G_GUINT64_FORMAT " in %.1f s", level,
                (bench_now_ns () - start) / 1e9);
      measure_store_sends (store, config->samples[MODE_DEFAULT], FALSE,
                           &results->latency[SQLITE][MODE_DEFAULT][l]);
      if (!bench_store_set_sync (store, TRUE, &error))
        die ("%s", error->message);
      measure_store_sends (store, config->samples[MODE_SYNC], FALSE,
                           &results->latency[SQLITE][MODE_SYNC][l]);
      if (!bench_store_set_sync (store, FALSE, &error) ||
          !bench_store_trim (store, level, &error))
        die ("%s", error->message);
      if (l > 0)
        {
          g_clear_pointer (&store, bench_store_free);
          run_restore_child ("sqlite", dir, 120, &results->restore[SQLITE][l]);
        }
      progress ("SQLite: level %" G_GUINT64_FORMAT " done", level);
    }
  g_clear_pointer (&store, bench_store_free);
  bench_remove_tree (dir);
}

static void
phase_latency_web (const Config *config,
                   Results      *results)
{
  g_autofree char *dir = scratch ("web-queue");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = bench_store_open (BENCH_STORE_WEB, dir, &error);
  double ns_per_event = 0;

  if (store == NULL)
    die ("%s", error->message);
  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      guint n = config->web_samples[l];

      if (n == 0 && !config->web_restore[l])
        break;
      if (!bench_store_fill (store, level - bench_store_length (store), BENCH_EVENT_NAME,
                             payload, &error))
        die ("web fill: %s", error->message);
      if (n > 0)
        {
          /* Each timed add rewrites level + 1 events; the added event is then
           * dropped from memory, so every sample sees the same queue. */
          measure_store_sends (store, n, TRUE, &results->latency[WEB][MODE_DEFAULT][l]);
          if (!bench_store_set_sync (store, TRUE, &error))
            die ("%s", error->message);
          measure_store_sends (store, MAX (n / 2, 1), TRUE,
                               &results->latency[WEB][MODE_SYNC][l]);
          if (!bench_store_set_sync (store, FALSE, &error))
            die ("%s", error->message);
          if (level > 0)
            ns_per_event = (double) results->latency[WEB][MODE_DEFAULT][l].stats.median / level;
        }
      if (l > 0 && config->web_restore[l])
        {
          if (!bench_store_persist (store, &error))
            die ("web: %s", error->message);
          run_restore_child ("web", dir, config->quick ? 30 : 60, &results->restore[WEB][l]);
        }
      progress ("web: level %" G_GUINT64_FORMAT " done", level);
    }
  /* The levels not measured: the cost of an add is proportional to the
   * queue (it serialises and writes all of it), so extrapolate linearly. */
  for (guint l = 0; l < N_LEVELS; l++)
    for (guint m = 0; m < N_MODES; m++)
      if (!results->latency[WEB][m][l].measured)
        results->latency[WEB][m][l].projected_ns = ns_per_event * config->levels[l];
  g_clear_pointer (&store, bench_store_free);
  bench_remove_tree (dir);
}

/* 2. Throughput ------------------------------------------------------------- */

typedef gboolean (*SendFunc) (gpointer target, BenchEnrichment *scratch_event);

typedef struct {
  SendFunc  send;
  gpointer  target;
  gint      limit;
  gint64    deadline_ns;
  gint      go;
  gint      issued;
  gint      done;
} ThroughputRun;

static gboolean
send_ours (gpointer         target,
           BenchEnrichment *unused)
{
  return ep_producer_send_event (target, BENCH_EVENT_NAME, EP_CONSENT_CATEGORY_NECESSARY,
                                 payload, NULL) == EP_SEND_RESULT_STORED;
}

static gboolean
send_store (gpointer         target,
            BenchEnrichment *scratch_event)
{
  g_autoptr(GError) error = NULL;

  if (bench_store_send (target, scratch_event, BENCH_EVENT_NAME, payload, &error))
    return TRUE;
  g_printerr ("baseline send failed: %s\n", error->message);
  return FALSE;
}

static gpointer
throughput_thread (gpointer data)
{
  ThroughputRun *run = data;
  BenchEnrichment e;

  bench_enrichment_init (&e);
  while (!g_atomic_int_get (&run->go))
    ;
  for (;;)
    {
      gint i = g_atomic_int_add (&run->issued, 1);

      if (i >= run->limit || ((i & 15) == 0 && bench_now_ns () > run->deadline_ns))
        break;
      if (!run->send (run->target, &e))
        die ("send failed during the throughput run");
      g_atomic_int_inc (&run->done);
    }
  bench_enrichment_clear (&e);
  return NULL;
}

static void
run_throughput (SendFunc    send,
                gpointer    target,
                guint       n_threads,
                gint        limit,
                double      window_s,
                Throughput *out)
{
  ThroughputRun run = { send, target, limit, 0, 0, 0, 0 };
  GThread *threads[4];
  gint64 start;

  for (guint i = 0; i < n_threads; i++)
    threads[i] = g_thread_new ("bench-send", throughput_thread, &run);
  g_usleep (10000);
  start = bench_now_ns ();
  run.deadline_ns = start + (gint64) (window_s * 1e9);
  g_atomic_int_set (&run.go, 1);
  for (guint i = 0; i < n_threads; i++)
    g_thread_join (threads[i]);
  out->seconds = (bench_now_ns () - start) / 1e9;
  out->sends = (guint64) run.done;
  out->measured = TRUE;
}

static void
phase_throughput (const Config *config,
                  Results      *results)
{
  const guint threads[2] = { 1, 4 };

  for (guint t = 0; t < 2; t++)
    {
      g_autofree char *dir = scratch ("throughput");
      g_autoptr(GError) error = NULL;

      {
        g_autoptr(EpProducer) producer = producer_new (dir, FALSE, 4, 0);

        run_throughput (send_ours, producer, threads[t], (gint) config->throughput_events,
                        config->quick ? 10 : 30, &results->throughput[OURS][t]);
        producer_drop (&producer);
        bench_remove_tree (dir);
      }
      for (BenchStoreKind kind = BENCH_STORE_WEB; kind <= BENCH_STORE_SQLITE; kind++)
        {
          g_autoptr(BenchStore) store = bench_store_open (kind, dir, &error);

          if (store == NULL)
            die ("%s", error->message);
          run_throughput (send_store, store, threads[t], (gint) config->throughput_events,
                          config->window_s,
                          &results->throughput[kind == BENCH_STORE_WEB ? WEB : SQLITE][t]);
          g_clear_pointer (&store, bench_store_free);
          bench_remove_tree (dir);
        }
      progress ("throughput with %u thread(s) done", threads[t]);
    }
}

/* 3. Restore (in a child process) ------------------------------------------ */

static void
child_timeout (GCancellable *cancellable)
{
  g_cancellable_cancel (cancellable);
}

static void
on_child_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  char **output = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, output, NULL, &error))
    *output = g_strdup (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? "TIMEOUT"
                                                                                   : "ERROR");
}

static void
run_restore_child (const char *kind,
                   const char *dir,
                   double      timeout_s,
                   Restore    *out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *output = NULL;
  guint timeout_id;
  guint64 values[6];
  char *p;

  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                            self_exe, "--restore-child", kind, "--dir", dir, NULL);
  if (child == NULL)
    die ("cannot run %s: %s", self_exe, error->message);
  timeout_id = g_timeout_add_once ((guint) (timeout_s * 1000), (GSourceOnceFunc) child_timeout,
                                   cancellable);
  g_subprocess_communicate_utf8_async (child, NULL, cancellable, on_child_done, &output);
  while (output == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (g_str_equal (output, "TIMEOUT"))
    {
      g_subprocess_force_exit (child);
      g_subprocess_wait (child, NULL, NULL);
      out->timed_out = TRUE;
      out->seconds = timeout_s;
      progress ("%s: restore of %s took longer than %.0f s", kind, dir, timeout_s);
      return;
    }
  g_source_remove (timeout_id);
  g_subprocess_wait (child, NULL, NULL);
  p = strstr (output, "RESTORE");
  if (p == NULL || !g_subprocess_get_successful (child))
    die ("the %s restore child failed on %s", kind, dir);
  p += strlen ("RESTORE");
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    values[i] = g_ascii_strtoull (p, &p, 10);
  out->seconds = values[0] / 1e9;
  out->length = values[1];
  out->rss_before = values[2];
  out->rss_after = values[3];
  out->peak = values[4];
  out->measured = TRUE;
  progress ("%s: restore of %" G_GUINT64_FORMAT " events: %.3f s", kind, out->length,
            out->seconds);
}

/* The child: open the queue once, print "RESTORE ns length rss_before
 * rss_after peak reset_ok". A small warm-up first loads every library and
 * type, so the RSS difference is the queue's. */
static int
restore_child_main (const char *kind,
                    const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *warmup = g_strconcat (dir, "-warmup", NULL);
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(BenchStore) store = NULL;
  BenchStoreKind store_kind = g_str_equal (kind, "web") ? BENCH_STORE_WEB : BENCH_STORE_SQLITE;
  gboolean ours = g_str_equal (kind, "ours");
  guint64 rss_before, length;
  gboolean reset_ok;
  gint64 start, elapsed;

  if (ours)
    {
      producer = producer_new (warmup, FALSE, 4, 0);
      producer_drop (&producer);
    }
  else
    {
      store = bench_store_open (store_kind, warmup, &error);
      g_clear_pointer (&store, bench_store_free);
    }
  bench_remove_tree (warmup);

  reset_ok = bench_reset_peak_rss ();
  rss_before = bench_proc_status ("VmRSS");
  start = bench_now_ns ();
  if (ours)
    producer = producer_new (dir, FALSE, 4, 0);
  else if ((store = bench_store_open (store_kind, dir, &error)) == NULL)
    die ("%s", error->message);
  elapsed = bench_now_ns () - start;
  length = ours ? ep_producer_get_queue_length (producer) : bench_store_length (store);

  printf ("RESTORE %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
           " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %d\n",
           elapsed, length, rss_before, bench_proc_status ("VmRSS"),
           bench_proc_status ("VmHWM"), reset_ok);
  return 0;
}

/* 4 and 5. Drain ----------------------------------------------------------- */

typedef struct {
  GSubprocess *process;
  char        *port_file;
  guint        port;
} Consumer;

static gboolean
consumer_start (Consumer *consumer,
                guint     latency_ms)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *latency = g_strdup_printf ("%u", latency_ms);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  consumer->port_file = g_strdup_printf ("%s/consumer-%u.port", scratch_root, latency_ms);
  consumer->process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error,
                                        consumer_path, "--port", "0",
                                        "--port-file", consumer->port_file,
                                        "--output", "/dev/null", "--quiet",
                                        "--latency", latency, NULL);
  if (consumer->process == NULL)
    die ("cannot start %s: %s", consumer_path, error->message);
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (consumer->port_file, &text, NULL, NULL) &&
          (consumer->port = (guint) g_ascii_strtoull (text, NULL, 10)) > 0)
        return TRUE;
      g_usleep (10000);
    }
  die ("%s did not write its port file", consumer_path);
}

static void
consumer_stop (Consumer *consumer)
{
  if (consumer->process == NULL)
    return;
  g_subprocess_send_signal (consumer->process, SIGTERM);
  g_subprocess_wait (consumer->process, NULL, NULL);
  g_clear_object (&consumer->process);
  g_clear_pointer (&consumer->port_file, g_free);
}

/* A 1 ms timer on the producer's main context, recording the longest gap
 * and, for the gaps over 2 ms, where the main thread was meanwhile. */
typedef struct {
  gint64  run_ns;
  gint64  wait_ns;
  guint64 nvcsw;
  guint64 nivcsw;
} ThreadSched;

typedef struct {
  GSource    *source;
  int         schedstat_fd;           /* /proc/thread-self/schedstat, -1 if unavailable */
  gint64      start_ns;
  gint64      last_ns;
  ThreadSched last;
  gint64      longest_ns;
  gint64      longest_at_ns;            /* when the longest gap ended, from the start */
  guint       ticks;
  guint       gaps_over_2ms;
  GapSplit    long_gaps;
  GapSplit    longest;
  FILE       *log;                     /* $BENCH_GAP_LOG: one line per gap over 2 ms */
} Ticker;

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
               const ThreadSched *after)
{
  gint64 run = after->run_ns - before->run_ns;
  gint64 wait = after->wait_ns - before->wait_ns;

  split->n++;
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

static gboolean
ticker_tick (gpointer data)
{
  Ticker *ticker = data;
  gint64 now = bench_now_ns ();
  gint64 gap = now - ticker->last_ns;
  ThreadSched sched;

  thread_sched_read (ticker->schedstat_fd, &sched);
  if (gap > ticker->longest_ns)
    {
      ticker->longest_ns = gap;
      ticker->longest_at_ns = now - ticker->start_ns;
      memset (&ticker->longest, 0, sizeof ticker->longest);
      gap_split_add (&ticker->longest, gap, &ticker->last, &sched);
    }
  if (gap > 2000000)
    {
      ticker->gaps_over_2ms++;
      gap_split_add (&ticker->long_gaps, gap, &ticker->last, &sched);
      if (ticker->log != NULL)
        fprintf (ticker->log, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT
                 " %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n",
                 ticker->last_ns, now, sched.run_ns - ticker->last.run_ns,
                 sched.wait_ns - ticker->last.wait_ns, sched.nvcsw - ticker->last.nvcsw,
                 sched.nivcsw - ticker->last.nivcsw);
    }
  ticker->last_ns = now;
  ticker->last = sched;
  ticker->ticks++;
  return G_SOURCE_CONTINUE;
}

static void
ticker_start (Ticker *ticker)
{
  memset (ticker, 0, sizeof *ticker);
  ticker->schedstat_fd = open ("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  ticker->source = g_timeout_source_new (1);
  g_source_set_callback (ticker->source, ticker_tick, ticker, NULL);
  g_source_attach (ticker->source, g_main_context_get_thread_default ());
  thread_sched_read (ticker->schedstat_fd, &ticker->last);
  if (g_getenv ("BENCH_GAP_LOG") != NULL)
    {
      ticker->log = fopen (g_getenv ("BENCH_GAP_LOG"), "a");
      if (ticker->log != NULL)
        fprintf (ticker->log, "# drain start, tid %d: gap_start_ns gap_end_ns run_ns wait_ns nvcsw nivcsw "
                 "(CLOCK_MONOTONIC)\n", (int) gettid ());
    }
  ticker->start_ns = ticker->last_ns = bench_now_ns ();
}

static void
ticker_stop (Ticker *ticker,
             Drain  *out)
{
  ticker_tick (ticker);
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
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  if (!ep_producer_flush_finish (EP_PRODUCER (source), result, &error))
    die ("flush failed: %s", error ? error->message : "the queue was not emptied");
  *done = TRUE;
}

static void
drain_ours (guint    port,
            guint    max_in_flight,
            guint64  n,
            Drain   *out)
{
  g_autofree char *dir = scratch ("drain-ours");
  g_autoptr(EpProducer) producer = producer_new (dir, FALSE, max_in_flight, port);
  gboolean done = FALSE;
  Ticker ticker;
  gint64 start;

  /* A backlog on disk (as after an outage or a restart), not one still
   * being written back. */
  fill_producer (producer, n);
  producer_drop (&producer);
  producer = producer_new (dir, FALSE, max_in_flight, port);
  spin_pending ();
  ticker_start (&ticker);
  start = bench_now_ns ();
  ep_producer_flush_async (producer, NULL, on_flushed, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  out->seconds = (bench_now_ns () - start) / 1e9;
  ticker_stop (&ticker, out);
  out->queued = n;
  out->delivered = n - ep_producer_get_queue_length (producer);
  out->emptied = ep_producer_get_queue_length (producer) == 0;
  out->measured = TRUE;
  producer_drop (&producer);
  bench_remove_tree (dir);
}

/* The baselines' delivery loop: the same transport (libsoup session, SQS
 * encoding and reply parsing) as ours, only the storage differs. */
typedef struct {
  BenchStore  *store;
  EpTransport *transport;
  const char  *uri;
  guint        max_in_flight;
  guint        in_flight;
  guint64      delivered;
  gint64       deadline_ns;
} BaselineDrain;

typedef struct {
  BaselineDrain *drain;
  GPtrArray     *events;
} BaselinePost;

static void baseline_fill_pipeline (BaselineDrain *drain);

static void
on_baseline_posted (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  BaselinePost *post = user_data;
  BaselineDrain *drain = post->drain;
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = ep_transport_post_finish (EP_TRANSPORT (source), result, &error);

  drain->in_flight--;
  if (reply == NULL)
    die ("baseline post failed: %s", error->message);
  if (reply->kind != EP_REPLY_BATCH_RESULT ||
      g_hash_table_size (reply->confirmed) != post->events->len)
    die ("baseline batch not confirmed: %s", reply->error_message ? reply->error_message : "?");
  if (!bench_store_remove (drain->store, post->events, &error))
    die ("baseline remove failed: %s", error->message);
  drain->delivered += post->events->len;
  g_ptr_array_unref (post->events);
  g_free (post);
  baseline_fill_pipeline (drain);
}

static void
baseline_fill_pipeline (BaselineDrain *drain)
{
  while (drain->in_flight < drain->max_in_flight && bench_now_ns () < drain->deadline_ns)
    {
      g_autoptr(GPtrArray) events = bench_store_take (drain->store, 10);
      g_autoptr(GBytes) body = NULL;
      BaselinePost *post;

      if (events->len == 0)
        return;
      body = ep_transport_encode_batch ((const EpEvent * const *) events->pdata, events->len);
      post = g_new0 (BaselinePost, 1);
      post->drain = drain;
      post->events = g_steal_pointer (&events);
      drain->in_flight++;
      ep_transport_post_async (drain->transport, drain->uri, NULL, NULL, body, NULL,
                               on_baseline_posted, post);
    }
}

static void
drain_baseline (BenchStoreKind  kind,
                guint           port,
                guint           max_in_flight,
                guint64         n,
                double          window_s,
                Drain          *out)
{
  g_autofree char *dir = scratch ("drain-baseline");
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch", port);
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = bench_store_open (kind, dir, &error);
  g_autoptr(EpTransport) transport = ep_transport_new ("bench-suite baseline", 30000);
  BaselineDrain drain = { 0 };
  Ticker ticker;
  gint64 start;

  if (store == NULL || !bench_store_fill (store, n, BENCH_EVENT_NAME, payload, &error))
    die ("baseline fill: %s", error->message);
  drain.store = store;
  drain.transport = transport;
  drain.uri = uri;
  drain.max_in_flight = max_in_flight;
  ticker_start (&ticker);
  start = bench_now_ns ();
  drain.deadline_ns = start + (gint64) (window_s * 1e9);
  baseline_fill_pipeline (&drain);
  while (drain.in_flight > 0)
    g_main_context_iteration (NULL, TRUE);
  out->seconds = (bench_now_ns () - start) / 1e9;
  ticker_stop (&ticker, out);
  out->queued = n;
  out->delivered = drain.delivered;
  out->emptied = bench_store_length (store) == 0;
  out->measured = TRUE;
  g_clear_pointer (&store, bench_store_free);
  g_clear_object (&transport);
  spin_pending ();
  bench_remove_tree (dir);
}

static void
phase_drain (const Config *config,
             Results      *results)
{
  Consumer consumers[2] = { { 0 } };
  const guint latencies[2] = { 0, 20 };

  if (consumer_path == NULL || !g_file_test (consumer_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      progress ("ep-consumer not found (%s): drain measurements skipped",
                consumer_path ? consumer_path : "no path");
      results->drain_skipped = TRUE;
      return;
    }
  for (guint c = 0; c < 2; c++)
    consumer_start (&consumers[c], latencies[c]);

  for (guint d = 0; d < N_DRAINS; d++)
    {
      guint port = consumers[config->drain_latency[d] == 0 ? 0 : 1].port;

      if (!config->drain_rows[d])
        continue;
      {
      guint mif = config->drain_in_flight[d];
      guint64 n = config->drain_events[d];

      drain_ours (port, mif, n, &results->drain[OURS][d]);
      progress ("drain ours %u ms, %u in flight: %" G_GUINT64_FORMAT " events in %.2f s",
                config->drain_latency[d], mif, n, results->drain[OURS][d].seconds);
      drain_baseline (BENCH_STORE_SQLITE, port, mif, n, config->window_s,
                      &results->drain[SQLITE][d]);
      drain_baseline (BENCH_STORE_WEB, port, mif, n, config->window_s,
                      &results->drain[WEB][d]);
      drain_baseline (BENCH_STORE_MEMORY, port, mif, n, config->window_s,
                      &results->drain[MEMORY][d]);
      progress ("drain baselines %u ms, %u in flight done", config->drain_latency[d], mif);
      }
    }
  for (guint c = 0; c < 2; c++)
    consumer_stop (&consumers[c]);
}

/* Report ------------------------------------------------------------------- */

static char *
format_count (guint64 n)
{
  if (n >= 1000000 && n % 1000000 == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "M", n / 1000000);
  if (n >= 1000 && n % 1000 == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "k", n / 1000);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static char *
format_ns (double ns)
{
  if (ns >= 1e9)
    return g_strdup_printf ("%.2f s", ns / 1e9);
  if (ns >= 1e6)
    return g_strdup_printf ("%.2f ms", ns / 1e6);
  if (ns >= 1e4)
    return g_strdup_printf ("%.1f µs", ns / 1e3);
  return g_strdup_printf ("%.0f ns", ns);
}

static char *
format_ratio (double ours,
              double other)
{
  if (other <= 0 || ours <= 0)
    return g_strdup ("n/a");
  if (ours / other >= 0.01)
    return g_strdup_printf ("%.2f", ours / other);
  return g_strdup_printf ("%.1e", ours / other);
}

static char *
format_latency_cell (const Latency *lat)
{
  if (lat->measured)
    {
      g_autofree char *m = format_ns (lat->stats.median);
      g_autofree char *p99 = format_ns (lat->stats.p99);
      g_autofree char *p999 = format_ns (lat->stats.p999);

      return g_strdup_printf ("%s / %s / %s", m, p99, p999);
    }
  if (lat->projected_ns > 0)
    {
      g_autofree char *p = format_ns (lat->projected_ns);

      return g_strdup_printf ("n/a (projected %s per add)", p);
    }
  return g_strdup ("n/a");
}

static double
latency_median (const Latency *lat)
{
  return lat->measured ? lat->stats.median : lat->projected_ns;
}

static void
print_latency (const Config  *config,
               const Results *results)
{
  static const char * const mode_names[N_MODES] = { "default", "sync-on-send" };

  printf ("\n### 1. Send latency, 1 KiB payload (median / p99 / p99.9)\n\n");
  printf ("| mode | queued | ours | SQLite | web | ours ÷ SQLite (median, p99) | ours ÷ web (median) |\n");
  printf ("|---|---:|---|---|---|---|---|\n");
  for (guint m = 0; m < N_MODES; m++)
    for (guint l = 0; l < N_LEVELS; l++)
      {
        const Latency *ours = &results->latency[OURS][m][l];
        const Latency *sql = &results->latency[SQLITE][m][l];
        const Latency *web = &results->latency[WEB][m][l];
        g_autofree char *level = format_count (config->levels[l]);
        g_autofree char *c_ours = format_latency_cell (ours);
        g_autofree char *c_sql = format_latency_cell (sql);
        g_autofree char *c_web = format_latency_cell (web);
        g_autofree char *r_sql_m = format_ratio (ours->stats.median, sql->stats.median);
        g_autofree char *r_sql_p = format_ratio (ours->stats.p99, sql->stats.p99);
        g_autofree char *r_web = format_ratio (ours->stats.median, latency_median (web));

        printf ("| %s | %s | %s | %s | %s | %s, %s | %s%s |\n", mode_names[m], level, c_ours,
                 c_sql, c_web, r_sql_m, r_sql_p, r_web, web->measured ? "" : " (projected)");
      }
  printf ("\nSamples per cell: ours and SQLite %u (default) and %u (sync-on-send); "
           "web: %u, %u, %u, %u (default) and half that (sync).\n",
           config->samples[MODE_DEFAULT], config->samples[MODE_SYNC], config->web_samples[0],
           config->web_samples[1], config->web_samples[2], config->web_samples[3]);
}

static double
throughput_rate (const Throughput *t)
{
  return t->measured && t->seconds > 0 ? t->sends / t->seconds : 0;
}

static void
print_throughput (const Results *results)
{
  const guint threads[2] = { 1, 4 };

  printf ("\n### 2. Sustained send throughput, queue persisting (sends/s)\n\n");
  printf ("| threads | ours | SQLite | web | ours ÷ SQLite | ours ÷ web |\n");
  printf ("|---:|---:|---:|---:|---:|---:|\n");
  for (guint t = 0; t < 2; t++)
    {
      double rates[N_IMPLS];
      g_autofree char *r_sql = NULL, *r_web = NULL;
      g_autofree char *cells[N_IMPLS] = { NULL };

      for (guint i = 0; i < MEMORY; i++)
        {
          rates[i] = throughput_rate (&results->throughput[i][t]);
          cells[i] = g_strdup_printf ("%.0f (%" G_GUINT64_FORMAT " in %.2f s)", rates[i],
                                      results->throughput[i][t].sends,
                                      results->throughput[i][t].seconds);
        }
      r_sql = format_ratio (rates[OURS], rates[SQLITE]);
      r_web = format_ratio (rates[OURS], rates[WEB]);
      printf ("| %u | %s | %s | %s | %s | %s |\n", threads[t], cells[OURS], cells[SQLITE],
               cells[WEB], r_sql, r_web);
      for (guint i = 0; i < MEMORY; i++)
        g_clear_pointer (&cells[i], g_free);
    }
  printf ("\nEach run starts from an empty queue; the baselines stop after their time window "
           "(web falls as its queue grows: every add rewrites the whole queue).\n");
}

static double
restore_bytes_per_event (const Restore *r)
{
  if (!r->measured || r->length == 0)
    return 0;
  return ((double) r->rss_after - (double) r->rss_before) / r->length;
}

static char *
format_restore_cell (const Restore *r)
{
  if (r->timed_out)
    return g_strdup_printf ("> %.0f s (stopped)", r->seconds);
  if (!r->measured)
    return g_strdup ("n/a");
  return g_strdup_printf ("%.3f s, %.0f B/event, peak %.0f MiB", r->seconds,
                          restore_bytes_per_event (r), r->peak / 1048576.0);
}

static void
print_restore (const Config  *config,
               const Results *results)
{
  printf ("\n### 3. Restore: open over a full queue (time, RSS growth per queued event, "
           "peak RSS of the process)\n\n");
  printf ("| queued | ours | SQLite | web | ours ÷ SQLite (time) | ours ÷ web (time, B/event) |\n");
  printf ("|---:|---|---|---|---:|---|\n");
  for (guint l = 1; l < N_LEVELS; l++)
    {
      const Restore *r = results->restore[0] + l;
      g_autofree char *level = format_count (config->levels[l]);
      g_autofree char *c_ours = format_restore_cell (&results->restore[OURS][l]);
      g_autofree char *c_sql = format_restore_cell (&results->restore[SQLITE][l]);
      g_autofree char *c_web = format_restore_cell (&results->restore[WEB][l]);
      g_autofree char *r_sql = format_ratio (r->seconds, results->restore[SQLITE][l].seconds);
      g_autofree char *r_web = format_ratio (r->seconds, results->restore[WEB][l].seconds);
      g_autofree char *r_web_b = format_ratio (restore_bytes_per_event (r),
                                               restore_bytes_per_event (&results->restore[WEB][l]));

      printf ("| %s | %s | %s | %s | %s | %s, %s |\n", level, c_ours, c_sql, c_web, r_sql,
               results->restore[WEB][l].measured ? r_web : "n/a",
               results->restore[WEB][l].measured ? r_web_b : "n/a");
    }
  printf ("\nSQLite does not load its events at start (it counts the rows); its memory "
           "is SQLite's page cache, bounded whatever the queue length.\n");
}

static double
drain_rate (const Drain *d)
{
  return d->measured && d->seconds > 0 ? d->delivered / d->seconds : 0;
}

static char *
format_drain_cell (const Drain *d)
{
  if (!d->measured)
    return g_strdup ("n/a");
  return g_strdup_printf ("%.0f (%" G_GUINT64_FORMAT " in %.2f s%s)", drain_rate (d),
                          d->delivered, d->seconds, d->emptied ? "" : ", stopped");
}

static char *
format_split_longest (const GapSplit *g)
{
  gint64 asleep = g->total_ns - g->run_ns - g->wait_ns;

  return g_strdup_printf ("%.1f ms = %.1f + %.1f + %.1f", g->total_ns / 1e6, g->run_ns / 1e6,
                          g->wait_ns / 1e6, MAX (asleep, 0) / 1e6);
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
          "| switches involuntary / voluntary | longest = on a CPU + waiting + asleep |\n");
  printf ("|---:|---:|---|---:|---|---:|---:|---:|---|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    for (guint i = 0; i < N_IMPLS; i++)
      {
        const Drain *dr = &results->drain[i][d];
        const GapSplit *g = &dr->long_gaps;
        g_autofree char *longest = NULL;
        double n = MAX (g->n, 1);

        if (!dr->measured)
          continue;
        longest = format_split_longest (&dr->longest);
        printf ("| %u ms | %u | %s | %u | %.2f ms = %.2f + %.2f + %.2f | %.0f %% | %u / %u / %u "
                "| %" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT " | %s |\n",
                config->drain_latency[d], config->drain_in_flight[d], names[i], g->n,
                g->total_ns / 1e6 / n, g->run_ns / 1e6 / n, g->wait_ns / 1e6 / n,
                MAX (g->total_ns - g->run_ns - g->wait_ns, 0) / 1e6 / n,
                g->total_ns > 0 ? 100.0 * g->wait_ns / g->total_ns : 0.0,
                g->by_waiting, g->by_running, g->by_sleeping, g->nivcsw, g->nvcsw, longest);
      }
  printf ("\nFrom the main thread's /proc/thread-self/schedstat (time on a CPU, time runnable "
          "on a run queue) and getrusage (RUSAGE_THREAD) context switches, read at every "
          "tick. \"Waiting for a CPU\": runnable but not running (preempted, or woken and not "
          "yet scheduled); \"asleep\": not runnable: in poll() until the timer is due "
          "(about 1 ms of every gap) or blocked in a lock or a syscall. Each gap is put down to "
          "the largest of: waiting, running, sleeping beyond 1 ms. Time stolen by the "
          "hypervisor counts as on a CPU.\n");
}

static void
print_drain (const Config  *config,
             const Results *results)
{
  printf ("\n### 4. Drain to ep-consumer on loopback (events/s delivered and confirmed)\n\n");
  if (results->drain_skipped)
    {
      printf ("Skipped: not selected with --only, or ep-consumer was not found (build with -Dtools=true or pass --consumer).\n");
      return;
    }
  printf ("| reply latency | max-in-flight | queued | ours | SQLite | web | ours ÷ SQLite | ours ÷ web "
          "| no storage (ceiling) | ours ÷ ceiling |\n");
  printf ("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    {
      g_autofree char *n = format_count (config->drain_events[d]);
      g_autofree char *c_ours = format_drain_cell (&results->drain[OURS][d]);
      g_autofree char *c_sql = format_drain_cell (&results->drain[SQLITE][d]);
      g_autofree char *c_web = format_drain_cell (&results->drain[WEB][d]);
      g_autofree char *r_sql = format_ratio (drain_rate (&results->drain[OURS][d]),
                                             drain_rate (&results->drain[SQLITE][d]));
      g_autofree char *r_web = format_ratio (drain_rate (&results->drain[OURS][d]),
                                             drain_rate (&results->drain[WEB][d]));
      g_autofree char *c_mem = format_drain_cell (&results->drain[MEMORY][d]);
      g_autofree char *r_mem = format_ratio (drain_rate (&results->drain[OURS][d]),
                                             drain_rate (&results->drain[MEMORY][d]));

      printf ("| %u ms | %u | %s | %s | %s | %s | %s | %s | %s | %s |\n", config->drain_latency[d],
              config->drain_in_flight[d], n, c_ours, c_sql, c_web, r_sql, r_web, c_mem, r_mem);
    }
  printf ("\nThe baselines use ep-glib's own transport (same libsoup session, encoding and "
           "reply parsing), so only the storage differs; each stops after %.1f s. \"No storage\" "
          "delivers events held in memory with the same loop: what the transport and "
          "ep-consumer allow on this machine.\n",
           config->window_s);

  printf ("\n### 5. Main-loop friendliness: longest gap between ticks of a 1 ms timer "
           "on the producer's main context while draining\n\n");
  printf ("| reply latency | max-in-flight | queued | ours | SQLite | web | no storage |\n");
  printf ("|---:|---:|---:|---:|---:|---:|---:|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    {
      g_autofree char *n = format_count (config->drain_events[d]);
      g_autofree char *gaps[N_IMPLS] = { NULL };

      for (guint i = 0; i < N_IMPLS; i++)
        {
          g_autofree char *gap = format_ns (results->drain[i][d].longest_gap_ns);

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

static const char *
verdict (gboolean met)
{
  return met ? "met" : "**missed**";
}

static void
print_targets (const Config  *config,
               const Results *results)
{
  gint64 worst_median = 0, worst_p99 = 0;
  const Restore *r1m = &results->restore[OURS][N_LEVELS - 1];
  g_autofree char *top = format_count (config->levels[N_LEVELS - 1]);
  double restore_bpe = restore_bytes_per_event (r1m);
  double one = throughput_rate (&results->throughput[OURS][0]);
  gint64 longest_gap = results->drain[OURS][N_DRAINS - 1].longest_gap_ns;
  double rate0 = drain_rate (&results->drain[OURS][1]);
  double rate20 = drain_rate (&results->drain[OURS][3]);
  g_autofree char *top_drain = format_count (config->drain_events[N_DRAINS - 1]);

  for (guint l = 0; l < N_LEVELS; l++)
    {
      worst_median = MAX (worst_median, results->latency[OURS][MODE_DEFAULT][l].stats.median);
      worst_p99 = MAX (worst_p99, results->latency[OURS][MODE_DEFAULT][l].stats.p99);
    }
  printf ("\n### Targets (ours)\n\n");
  printf ("| target | measured | verdict |\n|---|---|---|\n");
  printf ("| send median ≤ 2 µs, 0..%s queued (default mode) | worst %.2f µs | %s |\n", top,
           worst_median / 1e3, verdict (worst_median <= 2000));
  printf ("| send p99 ≤ 20 µs, 0..%s queued (default mode) | worst %.2f µs | %s |\n", top,
           worst_p99 / 1e3, verdict (worst_p99 <= 20000));
  printf ("| ≥ 300,000 sends/s from one thread | %.0f/s | %s |\n", one, verdict (one >= 300000));
  printf ("| restore of %s events < 1 s | %.3f s | %s |\n", top, r1m->seconds,
           verdict (r1m->measured && r1m->seconds < 1.0));
  printf ("| ≤ 64 bytes per queued event after restore | %.1f B | %s |\n", restore_bpe,
           verdict (r1m->measured && restore_bpe <= 64));
  if (results->drain_skipped || !results->drain[OURS][1].measured ||
      !results->drain[OURS][3].measured)
    return;
  printf ("| drain ≥ 40,000 events/s at 0 ms, max-in-flight 4 | %.0f/s | %s |\n",
          rate0, verdict (rate0 >= 40000));
  printf ("| drain ≥ 1,500 events/s at 20 ms, max-in-flight 4 | %.0f/s | %s |\n",
          rate20, verdict (rate20 >= 1500));
  printf ("| longest main-loop stall < 2 ms (draining %s to a 20 ms consumer) | %.2f ms | %s |\n",
          top_drain, longest_gap / 1e6, verdict (longest_gap < 2000000));
  printf ("\nWith max-in-flight 1 a 20 ms consumer allows at most 10 events per round trip, "
          "500 events/s: the drain targets are for max-in-flight 4 (the default); the "
          "max-in-flight 1 rows are for comparison.\n");
  if (config->quick)
    printf ("\n--quick: tiny sizes, a crash check; the verdicts above say nothing.\n");
}

static const char *
fs_name (const char *path)
{
  struct statfs st;

  if (statfs (path, &st) != 0)
    return "unknown";
  switch ((unsigned long) st.f_type)
    {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    default: return "other";
    }
}

static void
print_machine (const Config *config)
{
  g_autofree char *cpuinfo = NULL;
  g_autofree char *model = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *date = g_date_time_format_iso8601 (now);
  struct utsname uts;
  double load[3] = { 0 };
  const char *line;

  if (g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL) &&
      (line = strstr (cpuinfo, "model name")) != NULL && (line = strchr (line, ':')) != NULL)
    model = g_strndup (line + 2, strcspn (line + 2, "\n"));
  uname (&uts);
  getloadavg (load, 3);
  printf ("## ep-glib bench-suite%s\n\n", config->quick ? " --quick (crash check, not a measurement)" : "");
  printf ("- date: %s\n- CPU: %s, %u online CPUs\n- kernel: %s %s\n- scratch: %s (%s)\n"
           "- GLib %u.%u.%u, SQLite %s\n- load average at start: %.2f %.2f %.2f\n",
           date, model ? model : "unknown", g_get_num_processors (), uts.sysname, uts.release,
           scratch_root, fs_name (scratch_root), glib_major_version, glib_minor_version,
           glib_micro_version, bench_sqlite_version (), load[0], load[1], load[2]);
}

/* Configuration -------------------------------------------------------------- */

static void
config_init (Config   *config,
             gboolean  quick)
{
  static const Config full = {
    .quick = FALSE,
    .levels = { 0, 10000, 100000, 1000000 },
    .samples = { 10000, 2000 },
    .web_samples = { 200, 20, 4, 0 },
    .web_restore = { FALSE, TRUE, TRUE, TRUE },
    .throughput_events = 300000,
    .window_s = 3,
    .drain_latency = { 0, 0, 20, 20 },
    .drain_in_flight = { 1, 4, 1, 4 },
    .drain_events = { 100000, 100000, 5000, 100000 },
  };
  static const Config small = {
    .quick = TRUE,
    .levels = { 0, 1000, 5000, 20000 },
    .samples = { 1000, 100 },
    .web_samples = { 20, 4, 2, 0 },
    .web_restore = { FALSE, TRUE, TRUE, TRUE },
    .throughput_events = 20000,
    .window_s = 0.3,
    .drain_latency = { 0, 0, 20, 20 },
    .drain_in_flight = { 1, 4, 1, 4 },
    .drain_events = { 2000, 2000, 200, 1000 },
  };

  *config = quick ? small : full;
  for (guint d = 0; d < N_DRAINS; d++)
    config->drain_rows[d] = TRUE;
}

static char *
default_consumer_path (void)
{
#ifdef BENCH_EP_CONSUMER
  if (g_file_test (BENCH_EP_CONSUMER, G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup (BENCH_EP_CONSUMER);
#endif
  {
    g_autofree char *bin_dir = g_path_get_dirname (self_exe);

    return g_build_filename (bin_dir, "..", "tools", "ep-consumer", NULL);
  }
}

int
main (int    argc,
      char **argv)
{
  gboolean quick = FALSE;
  g_autofree char *restore_kind = NULL;
  g_autofree char *restore_dir = NULL;
  g_autofree char *tmpdir = NULL;
  g_autofree char *only = NULL;
  g_autofree char *drains = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = NULL;
  const GOptionEntry entries[] = {
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "Tiny sizes, under 30 s: a crash check", NULL },
    { "consumer", 0, 0, G_OPTION_ARG_FILENAME, &consumer_path, "The ep-consumer to drain to", "PATH" },
    { "tmpdir", 0, 0, G_OPTION_ARG_FILENAME, &tmpdir, "Where the scratch directory goes", "DIR" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Run only these phases (comma-separated: latency, throughput, drain)", "PHASES" },
    { "drains", 0, 0, G_OPTION_ARG_STRING, &drains,
      "Run only these drains (comma-separated row numbers of table 4, 1 to 4)", "ROWS" },
    { "restore-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &restore_kind, NULL, NULL },
    { "dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &restore_dir, NULL, NULL },
    G_OPTION_ENTRY_NULL
  };
  Config config;
  Results *results;
  g_autofree char *template = NULL;
  gint64 start = g_get_monotonic_time ();

  context = g_option_context_new ("- ep-glib's benchmark suite");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("bench-suite: %s\n", error->message);
      return 2;
    }
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", FALSE);
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (self_exe == NULL)
    self_exe = g_strdup (argv[0]);
  payload = bench_make_payload (BENCH_PAYLOAD_SIZE);

  if (restore_kind != NULL)
    return restore_child_main (restore_kind, restore_dir);

  if (consumer_path == NULL)
    consumer_path = default_consumer_path ();
  template = g_build_filename (tmpdir ? tmpdir : g_get_tmp_dir (), "ep-bench-suite-XXXXXX", NULL);
  scratch_root = g_mkdtemp (g_steal_pointer (&template));
  if (scratch_root == NULL)
    die ("cannot create a scratch directory: %s", g_strerror (errno));

  config_init (&config, quick);
  if (drains != NULL)
    {
      g_auto(GStrv) rows = g_strsplit (drains, ",", -1);

      for (guint d = 0; d < N_DRAINS; d++)
        config.drain_rows[d] = FALSE;
      for (guint i = 0; rows[i] != NULL; i++)
        {
          guint64 row = 0;

          if (!g_ascii_string_to_unsigned (g_strstrip (rows[i]), 10, 1, N_DRAINS, &row, NULL))
            {
              g_printerr ("bench-suite: --drains: row numbers go from 1 to %u\n", N_DRAINS);
              return 2;
            }
          config.drain_rows[row - 1] = TRUE;
        }
    }
  results = g_new0 (Results, 1);
  print_machine (&config);

  /* The drains run first. After the 1M-event phases, GLib 2.74's GSlice
   * holds millions of cached blocks; it releases them some seconds later
   * from whichever thread frees a slice next, and the fork of ep-consumer
   * has made their pages copy-on-write: a 0.6 to 0.9 s stall of the main
   * loop in the first drain, measured with G_SLICE=always-malloc to vanish
   * (see bench/README.md). Not what a drain costs, so the drains get a
   * fresh heap. */
  if (only == NULL || strstr (only, "drain") != NULL)
    {
      progress ("4 and 5. drain");
      phase_drain (&config, results);
    }
  else
    results->drain_skipped = TRUE;
  if (only == NULL || strstr (only, "latency") != NULL)
    {
      progress ("1 and 3. send latency and restore");
      phase_latency_ours (&config, results);
      phase_latency_sqlite (&config, results);
      phase_latency_web (&config, results);
    }
  if (only == NULL || strstr (only, "throughput") != NULL)
    {
      progress ("2. throughput");
      phase_throughput (&config, results);
    }

  print_latency (&config, results);
  print_throughput (results);
  print_restore (&config, results);
  print_drain (&config, results);
  print_targets (&config, results);
  printf ("\nTotal run time: %.0f s\n", (g_get_monotonic_time () - start) / 1e6);

  bench_remove_tree (scratch_root);
  g_free (results);
  return 0;
}
