/* bench-suite-latency.c: phases 1 and 3 of bench-suite, send latency with 0 .. 1M
 * events queued (default mode and sync-on-send) and restore (in a child process)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <gio/gio.h>

#include <ep-glib/ep-glib.h>
#include "ep-queue-private.h"

#include "bench-baselines.h"
#include "bench-suite.h"

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
                                                    EP_CONSENT_CATEGORY_NECESSARY, bench_payload, NULL);

      samples[i] = bench_now_ns () - start;
      if (result != EP_SEND_RESULT_STORED)
        bench_die ("send failed (result %d)", result);
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
      gboolean ok = bench_store_send (store, &e, BENCH_EVENT_NAME, bench_payload, &error);

      samples[i] = bench_now_ns () - start;
      if (!ok)
        bench_die ("baseline send failed: %s", error->message);
      if (keep_length)
        bench_store_pop_newest (store);
    }
  bench_enrichment_clear (&e);
  bench_stats_compute (samples, n, &out->stats);
  out->measured = TRUE;
}

/* TimedSend for the sync-on-send rows: ours, then SQLite's. */
static gint64
timed_send_ours (gpointer producer)
{
  gint64 start = bench_now_ns ();

  bench_send_or_die (producer);
  return bench_now_ns () - start;
}

static gint64
timed_send_store (gpointer store)
{
  g_autoptr(GError) error = NULL;
  BenchEnrichment e;
  gint64 start, elapsed;

  bench_enrichment_init (&e);
  start = bench_now_ns ();
  if (!bench_store_send (store, &e, BENCH_EVENT_NAME, bench_payload, &error))
    bench_die ("baseline send failed: %s", error->message);
  elapsed = bench_now_ns () - start;
  bench_enrichment_clear (&e);
  return elapsed;
}

static void run_restore_child (const char *kind, const char *dir, double timeout_s, Restore *out);

/* Whether this build's producer has the stamp-payload property. */
static gboolean
has_stamp_payload (void)
{
  GObjectClass *klass = g_type_class_ref (EP_TYPE_PRODUCER);
  gboolean found = g_object_class_find_property (klass, "stamp-payload") != NULL;

  g_type_class_unref (klass);
  return found;
}

void
phase_latency_ours (const Config *config,
                    Results      *results)
{
  g_autofree char *dir = bench_scratch ("ours-queue");

  results->frame_size = bench_frame_size ();
  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      g_autoptr(EpProducer) producer = bench_producer_new (dir, FALSE, 4, 0);
      gint64 start = bench_now_ns ();
      SyncSamples sync;

      /* Filled, then closed (synced) and opened again: the sends are
       * measured over a queue that is on disk, not over a page cache
       * full of dirty pages that the kernel is still writing back. */
      bench_fill_producer (producer, level);
      bench_producer_drop (&producer);
      bench_progress ("ours: filled to %" G_GUINT64_FORMAT " in %.1f s", level,
                      (bench_now_ns () - start) / 1e9);
      producer = bench_producer_new (dir, FALSE, 4, 0);
      measure_ours_sends (producer, config->samples[MODE_DEFAULT],
                          &results->latency[OURS][MODE_DEFAULT][l]);
      bench_producer_drop (&producer);
      if (has_stamp_payload ())
        {
          producer = bench_producer_new_full (dir, FALSE, 4, 0, "stamp-payload");
          measure_ours_sends (producer, config->samples[MODE_DEFAULT], &results->stamp[l]);
          bench_producer_drop (&producer);
        }

      /* sync-on-send, interleaved with its floor in the same directory */
      producer = bench_producer_new (dir, TRUE, 4, 0);
      measure_sync_interleaved (dir, results->frame_size, config->samples[MODE_SYNC],
                                timed_send_ours, producer, &sync);
      results->sync_floor[l] = sync.floor;
      results->sync_floor_zeroed[l] = sync.zeroed;
      results->latency[OURS][MODE_SYNC][l] = sync.store;
      bench_producer_drop (&producer);

      bench_trim_queue (dir, level);
      if (l > 0)
        run_restore_child ("ours", dir, 120, &results->restore[OURS][l]);
      bench_progress ("ours: level %" G_GUINT64_FORMAT " done", level);
    }
  bench_remove_tree (dir);
}

void
phase_latency_sqlite (const Config *config,
                      Results      *results)
{
  g_autofree char *dir = bench_scratch ("sqlite-queue");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = NULL;

  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      gint64 start = bench_now_ns ();
      SyncSamples sync;

      if (store == NULL && (store = bench_store_open (BENCH_STORE_SQLITE, dir, &error)) == NULL)
        bench_die ("%s", error->message);
      if (bench_store_length (store) < level &&
          !bench_store_fill (store, level - bench_store_length (store), BENCH_EVENT_NAME,
                             bench_payload, &error))
        bench_die ("SQLite fill: %s", error->message);
      bench_progress ("SQLite: filled to %" G_GUINT64_FORMAT " in %.1f s", level,
                      (bench_now_ns () - start) / 1e9);
      measure_store_sends (store, config->samples[MODE_DEFAULT], FALSE,
                           &results->latency[SQLITE][MODE_DEFAULT][l]);
      if (!bench_store_set_sync (store, TRUE, &error))
        bench_die ("%s", error->message);
      measure_sync_interleaved (dir, bench_frame_size (), config->samples[MODE_SYNC],
                                timed_send_store, store, &sync);
      results->sqlite_floor[l] = sync.floor;
      results->latency[SQLITE][MODE_SYNC][l] = sync.store;
      if (!bench_store_set_sync (store, FALSE, &error) ||
          !bench_store_trim (store, level, &error))
        bench_die ("%s", error->message);
      if (l > 0)
        {
          g_clear_pointer (&store, bench_store_free);
          run_restore_child ("sqlite", dir, 120, &results->restore[SQLITE][l]);
        }
      bench_progress ("SQLite: level %" G_GUINT64_FORMAT " done", level);
    }
  g_clear_pointer (&store, bench_store_free);
  bench_remove_tree (dir);
}

void
phase_latency_web (const Config *config,
                   Results      *results)
{
  g_autofree char *dir = bench_scratch ("web-queue");
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = bench_store_open (BENCH_STORE_WEB, dir, &error);
  double ns_per_event = 0;

  if (store == NULL)
    bench_die ("%s", error->message);
  for (guint l = 0; l < N_LEVELS; l++)
    {
      guint64 level = config->levels[l];
      guint n = config->web_samples[l];

      if (n == 0 && !config->web_restore[l])
        break;
      if (!bench_store_fill (store, level - bench_store_length (store), BENCH_EVENT_NAME,
                             bench_payload, &error))
        bench_die ("web fill: %s", error->message);
      if (n > 0)
        {
          /* Each timed add rewrites level + 1 events; the added event is then
           * dropped from memory, so every sample sees the same queue. */
          measure_store_sends (store, n, TRUE, &results->latency[WEB][MODE_DEFAULT][l]);
          if (!bench_store_set_sync (store, TRUE, &error))
            bench_die ("%s", error->message);
          measure_store_sends (store, MAX (n / 2, 1), TRUE,
                               &results->latency[WEB][MODE_SYNC][l]);
          if (!bench_store_set_sync (store, FALSE, &error))
            bench_die ("%s", error->message);
          if (level > 0)
            ns_per_event = (double) results->latency[WEB][MODE_DEFAULT][l].stats.median / level;
        }
      if (l > 0 && config->web_restore[l])
        {
          if (!bench_store_persist (store, &error))
            bench_die ("web: %s", error->message);
          run_restore_child ("web", dir, config->quick ? 30 : 60, &results->restore[WEB][l]);
        }
      bench_progress ("web: level %" G_GUINT64_FORMAT " done", level);
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

/* 3. Restore (in a child process) ------------------------------------------ */

static void
child_timeout (GCancellable *cancellable)
{
  g_cancellable_cancel (cancellable);
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
                            bench_self_exe, "--restore-child", kind, "--dir", dir, NULL);
  if (child == NULL)
    bench_die ("cannot run %s: %s", bench_self_exe, error->message);
  timeout_id = g_timeout_add_once ((guint) (timeout_s * 1000), (GSourceOnceFunc) child_timeout,
                                   cancellable);
  output = bench_child_output (child, cancellable);
  if (g_str_equal (output, "TIMEOUT"))
    {
      g_subprocess_force_exit (child);
      g_subprocess_wait (child, NULL, NULL);
      out->timed_out = TRUE;
      out->seconds = timeout_s;
      bench_progress ("%s: restore of %s took longer than %.0f s", kind, dir, timeout_s);
      return;
    }
  g_source_remove (timeout_id);
  g_subprocess_wait (child, NULL, NULL);
  p = strstr (output, "RESTORE");
  if (p == NULL || !g_subprocess_get_successful (child))
    bench_die ("the %s restore child failed on %s", kind, dir);
  p += strlen ("RESTORE");
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    values[i] = g_ascii_strtoull (p, &p, 10);
  out->seconds = values[0] / 1e9;
  out->length = values[1];
  out->rss_before = values[2];
  out->rss_after = values[3];
  out->peak = values[4];
  out->measured = TRUE;
  bench_progress ("%s: restore of %" G_GUINT64_FORMAT " events: %.3f s", kind, out->length,
                  out->seconds);
}

/* The child: open the queue once, print "RESTORE ns length rss_before
 * rss_after peak reset_ok". A small warm-up first loads every library and
 * type, so the RSS difference is the queue's. */
int
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
      producer = bench_producer_new (warmup, FALSE, 4, 0);
      bench_producer_drop (&producer);
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
    producer = bench_producer_new (dir, FALSE, 4, 0);
  else if ((store = bench_store_open (store_kind, dir, &error)) == NULL)
    bench_die ("%s", error->message);
  elapsed = bench_now_ns () - start;
  length = ours ? ep_producer_get_queue_length (producer) : bench_store_length (store);

  printf ("RESTORE %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
           " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %d\n",
           elapsed, length, rss_before, bench_proc_status ("VmRSS"),
           bench_proc_status ("VmHWM"), reset_ok);
  return 0;
}

/* Report ------------------------------------------------------------------- */

static char *
format_latency_cell (const Latency *lat)
{
  if (lat->measured)
    {
      g_autofree char *m = bench_format_ns (lat->stats.median);
      g_autofree char *p99 = bench_format_ns (lat->stats.p99);
      g_autofree char *p999 = bench_format_ns (lat->stats.p999);

      return g_strdup_printf ("%s / %s / %s", m, p99, p999);
    }
  if (lat->projected_ns > 0)
    {
      g_autofree char *p = bench_format_ns (lat->projected_ns);

      return g_strdup_printf ("n/a (projected %s per add)", p);
    }
  return g_strdup ("n/a");
}

static double
latency_median (const Latency *lat)
{
  return lat->measured ? lat->stats.median : lat->projected_ns;
}

/* Table 1b: the default mode with stamp-payload (the producer adds a field
 * to the JSON object of every event's payload). */
static void
print_stamp (const Config  *config,
             const Results *results)
{
  printf ("\n#### 1b. Send latency with stamp-payload, 1 KiB JSON object (median / p99 / p99.9)\n\n");
  if (!results->stamp[0].measured)
    {
      printf ("Not measured: this build's EpProducer has no stamp-payload property.\n");
      return;
    }
  printf ("| queued | default | stamp-payload | stamp ÷ default (median) |\n|---:|---|---|---:|\n");
  for (guint l = 0; l < N_LEVELS; l++)
    {
      const Latency *plain = &results->latency[OURS][MODE_DEFAULT][l];
      g_autofree char *level = bench_format_count (config->levels[l]);
      g_autofree char *c_plain = format_latency_cell (plain);
      g_autofree char *c_stamp = format_latency_cell (&results->stamp[l]);
      g_autofree char *ratio = bench_format_ratio (results->stamp[l].stats.median,
                                                   plain->stats.median);

      printf ("| %s | %s | %s | %s |\n", level, c_plain, c_stamp, ratio);
    }
}

void
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
        g_autofree char *level = bench_format_count (config->levels[l]);
        g_autofree char *c_ours = format_latency_cell (ours);
        g_autofree char *c_sql = format_latency_cell (sql);
        g_autofree char *c_web = format_latency_cell (web);
        g_autofree char *r_sql_m = bench_format_ratio (ours->stats.median, sql->stats.median);
        g_autofree char *r_sql_p = bench_format_ratio (ours->stats.p99, sql->stats.p99);
        g_autofree char *r_web = bench_format_ratio (ours->stats.median, latency_median (web));

        printf ("| %s | %s | %s | %s | %s | %s, %s | %s%s |\n", mode_names[m], level, c_ours,
                 c_sql, c_web, r_sql_m, r_sql_p, r_web, web->measured ? "" : " (projected)");
      }
  printf ("\nSamples per cell: ours and SQLite %u (default) and %u (sync-on-send); "
           "web: %u, %u, %u, %u (default) and half that (sync).\n",
           config->samples[MODE_DEFAULT], config->samples[MODE_SYNC], config->web_samples[0],
           config->web_samples[1], config->web_samples[2], config->web_samples[3]);
  print_stamp (config, results);
}

double
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

void
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
      g_autofree char *level = bench_format_count (config->levels[l]);
      g_autofree char *c_ours = format_restore_cell (&results->restore[OURS][l]);
      g_autofree char *c_sql = format_restore_cell (&results->restore[SQLITE][l]);
      g_autofree char *c_web = format_restore_cell (&results->restore[WEB][l]);
      g_autofree char *r_sql = bench_format_ratio (r->seconds, results->restore[SQLITE][l].seconds);
      g_autofree char *r_web = bench_format_ratio (r->seconds, results->restore[WEB][l].seconds);
      g_autofree char *r_web_b = bench_format_ratio (restore_bytes_per_event (r),
                                                     restore_bytes_per_event (&results->restore[WEB][l]));

      printf ("| %s | %s | %s | %s | %s | %s, %s |\n", level, c_ours, c_sql, c_web, r_sql,
               results->restore[WEB][l].measured ? r_web : "n/a",
               results->restore[WEB][l].measured ? r_web_b : "n/a");
    }
  printf ("\nSQLite does not load its events at start (it counts the rows); its memory "
           "is SQLite's page cache, bounded whatever the queue length.\n");
}

