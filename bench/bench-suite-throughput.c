/* bench-suite-throughput.c: phase 2 of bench-suite, sustained sends from 1 and 4
 * threads (ours and the baselines)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>

#include <ep-glib/ep-glib.h>

#include "bench-baselines.h"
#include "bench-suite.h"

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
                                 bench_payload, NULL) == EP_SEND_RESULT_STORED;
}

static gboolean
send_store (gpointer         target,
            BenchEnrichment *scratch_event)
{
  g_autoptr(GError) error = NULL;

  if (bench_store_send (target, scratch_event, BENCH_EVENT_NAME, bench_payload, &error))
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
        bench_die ("send failed during the throughput run");
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
  guint syncs_before;

  for (guint i = 0; i < n_threads; i++)
    threads[i] = g_thread_new ("bench-send", throughput_thread, &run);
  g_usleep (10000);
  syncs_before = bench_fdatasync_count ();
  start = bench_now_ns ();
  run.deadline_ns = start + (gint64) (window_s * 1e9);
  g_atomic_int_set (&run.go, 1);
  for (guint i = 0; i < n_threads; i++)
    g_thread_join (threads[i]);
  out->seconds = (bench_now_ns () - start) / 1e9;
  out->sends = (guint64) run.done;
  out->fdatasyncs = (guint64) (bench_fdatasync_count () - syncs_before);
  out->measured = TRUE;
}

/* What one fdatasync costs when it commits one send's frame and when it
 * commits four (what a sync shared by 4 threads writes), interleaved. */
static void
measure_group_floor (const Config *config,
                     Results      *results)
{
  g_autofree char *dir = bench_scratch ("group-floor");
  guint frame_size = bench_frame_size ();
  guint n = config->quick ? 20 : 1000;

  for (guint i = 0; i < 2; i++)
    {
      SyncSamples samples = { 0 };

      measure_sync_interleaved (dir, frame_size * (i == 0 ? 1 : 4), n, NULL, NULL, &samples);
      results->group_floor[i] = samples.floor;
      results->group_floor_zeroed[i] = samples.zeroed;
    }
  results->group_frame_size = frame_size;
  bench_remove_tree (dir);
}

void
phase_throughput (const Config *config,
                  Results      *results)
{
  const guint threads[2] = { 1, 4 };

  for (guint t = 0; t < 2; t++)
    {
      g_autofree char *dir = bench_scratch ("throughput");
      g_autoptr(GError) error = NULL;

      {
        g_autoptr(EpProducer) producer = bench_producer_new (dir, FALSE, 4, 0);

        run_throughput (send_ours, producer, threads[t], (gint) config->throughput_events,
                        config->quick ? 10 : 30, &results->throughput[OURS][t]);
        bench_producer_drop (&producer);
        bench_remove_tree (dir);
      }
      for (BenchStoreKind kind = BENCH_STORE_WEB; kind <= BENCH_STORE_SQLITE; kind++)
        {
          g_autoptr(BenchStore) store = bench_store_open (kind, dir, &error);

          if (store == NULL)
            bench_die ("%s", error->message);
          run_throughput (send_store, store, threads[t], (gint) config->throughput_events,
                          config->window_s,
                          &results->throughput[kind == BENCH_STORE_WEB ? WEB : SQLITE][t]);
          g_clear_pointer (&store, bench_store_free);
          bench_remove_tree (dir);
        }
      {
        g_autoptr(EpProducer) producer = bench_producer_new (dir, TRUE, 4, 0);

        run_throughput (send_ours, producer, threads[t], (gint) config->sync_throughput_events,
                        config->sync_window_s, &results->sync_throughput[t]);
        bench_producer_drop (&producer);
        bench_remove_tree (dir);
      }
      bench_progress ("throughput with %u thread(s) done", threads[t]);
    }
  measure_group_floor (config, results);
}

/* Report ------------------------------------------------------------------- */

/* Table 2b: sync-on-send from 1 and 4 threads on one producer. With group
 * commit, concurrent senders share one fdatasync: 4 threads should get
 * close to 4 times one thread's sends per second. */
static void
print_sync_throughput (const Results *results)
{
  const guint threads[2] = { 1, 4 };
  double one = throughput_rate (&results->sync_throughput[0]);

  if (!results->sync_throughput[0].measured)
    return;
  printf ("\n#### 2b. sync-on-send throughput, one producer (sends/s, each durable when it returns)\n\n");
  printf ("| threads | ours, sync-on-send | ÷ one thread | fdatasync calls | sends per fdatasync |\n"
          "|---:|---:|---:|---:|---:|\n");
  for (guint t = 0; t < 2; t++)
    {
      const Throughput *th = &results->sync_throughput[t];
      g_autofree char *ratio = bench_format_ratio (throughput_rate (th), one);
      g_autofree char *per_sync = bench_format_ratio ((double) th->sends,
                                                      (double) th->fdatasyncs);

      printf ("| %u | %.0f (%" G_GUINT64_FORMAT " in %.2f s) | %s | %" G_GUINT64_FORMAT
              " | %s |\n", threads[t], throughput_rate (th), th->sends, th->seconds, ratio,
              th->fdatasyncs, per_sync);
    }
  printf ("\nEach send waits for an fdatasync that began after its record was written; "
          "with group commit one fdatasync covers the records of every sender waiting "
          "for it, so sends per fdatasync is at most the number of threads.\n");
  if (!results->group_floor[0].measured)
    return;
  printf ("\n| fdatasync after writing | into a fallocate()d file (median / p99) "
          "| into a zero-filled file (median / p99) |\n|---|---|---|\n");
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *f = bench_format_median_p99 (&results->group_floor[i]);
      g_autofree char *z = bench_format_median_p99 (&results->group_floor_zeroed[i]);

      printf ("| %u frame%s (%u bytes) | %s | %s |\n", i == 0 ? 1 : 4, i == 0 ? "" : "s",
              results->group_frame_size * (i == 0 ? 1 : 4), f, z);
    }
  printf ("\nA sync shared by 4 threads commits 4 frames; these rows show what that costs "
          "on this disk against one frame (measured after the runs above, interleaved). "
          "4 threads reach at most 4 × one thread's time per send ÷ (a 4-frame sync + the "
          "time the 4 released senders take to write again). The journal zero-fills its "
          "preallocated space ahead of the log, so its shared syncs cost what the "
          "zero-filled column shows; its own zero-filling syncs are among the fdatasync "
          "calls counted above.\n");
}

double
throughput_rate (const Throughput *t)
{
  return t->measured && t->seconds > 0 ? t->sends / t->seconds : 0;
}

void
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
      r_sql = bench_format_ratio (rates[OURS], rates[SQLITE]);
      r_web = bench_format_ratio (rates[OURS], rates[WEB]);
      printf ("| %u | %s | %s | %s | %s | %s |\n", threads[t], cells[OURS], cells[SQLITE],
               cells[WEB], r_sql, r_web);
      for (guint i = 0; i < MEMORY; i++)
        g_clear_pointer (&cells[i], g_free);
    }
  printf ("\nEach run starts from an empty queue; the baselines stop after their time window "
           "(web falls as its queue grows: every add rewrites the whole queue).\n");
  print_sync_throughput (results);
}

