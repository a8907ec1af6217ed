/* bench-suite.c: ep-glib's benchmark suite, with the web and SQLite baselines
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
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
 *
 * This file: options, configuration, the machine and the targets table; the
 * phases are in bench-suite-*.c (see bench-suite.h).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>

#include <glib.h>

#include "bench-baselines.h"
#include "bench-suite.h"

char *bench_self_exe;
char *bench_consumer_path;

/* Report ------------------------------------------------------------------- */

/* Target rows of issue 12: sync-on-send at the floor and group commit. */
static void
print_sync_targets (const Config  *config,
                    const Results *results)
{
  const Latency *ours0 = &results->latency[OURS][MODE_SYNC][0];
  const Latency *ours1m = &results->latency[OURS][MODE_SYNC][N_LEVELS - 1];
  double f0 = (double) ours0->stats.median / MAX (results->sync_floor[0].stats.median, 1);
  double f1m = (double) ours1m->stats.median /
               MAX (results->sync_floor[N_LEVELS - 1].stats.median, 1);
  double s0 = (double) ours0->stats.median /
              MAX (results->latency[SQLITE][MODE_SYNC][0].stats.median, 1);
  double s1m = (double) ours1m->stats.median /
               MAX (results->latency[SQLITE][MODE_SYNC][N_LEVELS - 1].stats.median, 1);
  double one = throughput_rate (&results->sync_throughput[0]);
  double four = throughput_rate (&results->sync_throughput[1]);
  g_autofree char *top = bench_format_count (config->levels[N_LEVELS - 1]);

  if (results->sync_floor[0].measured && results->sync_floor[N_LEVELS - 1].measured)
    {
      printf ("| sync-on-send median ≤ 1.1 × the floor, at 0 and %s queued | %.2f and %.2f | %s |\n",
              top, f0, f1m, bench_verdict (f0 <= 1.1 && f1m <= 1.1));
      printf ("| sync-on-send median ≤ SQLite's, at 0 and %s queued | ours ÷ SQLite %.2f and %.2f "
              "| %s |\n", top, s0, s1m, bench_verdict (s0 <= 1.0 && s1m <= 1.0));
    }
  if (results->sync_throughput[1].measured)
    printf ("| sync-on-send, 4 threads ≥ 3 × one thread's sends/s | %.0f/s ÷ %.0f/s = %.2f | %s |\n",
            four, one, four / MAX (one, 1), bench_verdict (four >= 3 * one));
}

/* Target rows of the drains: rate, CPU per event, main-loop gaps. */
static void
print_drain_targets (const Config  *config,
                     const Results *results)
{
  gint64 longest_gap = results->drain[OURS][N_DRAINS - 1].longest_gap_ns;
  double rate0 = drain_rate (&results->drain[OURS][1]);
  double rate20 = drain_rate (&results->drain[OURS][3]);
  g_autofree char *top_drain = bench_format_count (config->drain_events[N_DRAINS - 1]);
  double worst_cost = 0;
  gint64 asleep = 0, blocked = 0;

  for (guint d = 0; d < N_DRAINS; d++)
    if (results->drain[OURS][d].measured)
      {
        asleep = MAX (asleep, bench_gap_asleep_ns (&results->drain[OURS][d].most_asleep));
        blocked = MAX (blocked, bench_gap_blocked_ns (&results->drain[OURS][d].most_blocked));
      }
  for (guint d = 0; d < N_DRAINS; d++)
    if (results->drain[OURS][d].measured && results->drain[MEMORY][d].measured)
      worst_cost = MAX (worst_cost, drain_cpu_per_event (&results->drain[OURS][d]) /
                                    MAX (drain_cpu_per_event (&results->drain[MEMORY][d]), 1));
  printf ("| drain ≥ 40,000 events/s at 0 ms, max-in-flight 4 | %.0f/s | %s |\n",
          rate0, bench_verdict (rate0 >= 40000));
  printf ("| drain ≥ 1,500 events/s at 20 ms, max-in-flight 4 | %.0f/s | %s |\n",
          rate20, bench_verdict (rate20 >= 1500));
  printf ("| drain: producer CPU per event ≤ 1.25 × the no-storage loop's (worst row of 4b) "
          "| %.2f | %s |\n", worst_cost, bench_verdict (worst_cost > 0 && worst_cost <= 1.25));
  printf ("| longest main-loop stall < 2 ms (draining %s to a 20 ms consumer; ep-consumer: %s) "
          "| %.2f ms | %s |\n", top_drain, results->consumer_priority, longest_gap / 1e6,
          bench_verdict (longest_gap < 2000000));
  /* The 1 ms timer's own wait in poll() is asleep too: the target is
   * what is beyond it (issue 18: 12.3 ms before the main context stopped
   * taking the queue's mutex). */
  printf ("| no gap with more than 1 ms asleep beyond the timer's own wait in poll(), every drain "
          "row (ours; table 5b's last column) | %.2f ms (longest asleep in all, poll() included: "
          "%.2f ms) | %s |\n",
          blocked / 1e6, asleep / 1e6, bench_verdict (blocked <= 1000000));
}

static void
print_targets (const Config  *config,
               const Results *results)
{
  gint64 worst_median = 0, worst_p99 = 0;
  const Restore *r1m = &results->restore[OURS][N_LEVELS - 1];
  g_autofree char *top = bench_format_count (config->levels[N_LEVELS - 1]);
  double restore_bpe = restore_bytes_per_event (r1m);
  double one = throughput_rate (&results->throughput[OURS][0]);
  gboolean drained = !results->drain_skipped && results->drain[OURS][1].measured &&
                     results->drain[OURS][3].measured;

  for (guint l = 0; l < N_LEVELS; l++)
    {
      worst_median = MAX (worst_median, results->latency[OURS][MODE_DEFAULT][l].stats.median);
      worst_p99 = MAX (worst_p99, results->latency[OURS][MODE_DEFAULT][l].stats.p99);
    }
  printf ("\n### Targets (ours)\n\n");
  printf ("| target | measured | verdict |\n|---|---|---|\n");
  printf ("| send median ≤ 2 µs, 0..%s queued (default mode) | worst %.2f µs | %s |\n", top,
          worst_median / 1e3, bench_verdict (worst_median <= 2000));
  printf ("| send p99 ≤ 20 µs, 0..%s queued (default mode) | worst %.2f µs | %s |\n", top,
          worst_p99 / 1e3, bench_verdict (worst_p99 <= 20000));
  printf ("| ≥ 300,000 sends/s from one thread | %.0f/s | %s |\n", one,
          bench_verdict (one >= 300000));
  printf ("| restore of %s events < 1 s | %.3f s | %s |\n", top, r1m->seconds,
          bench_verdict (r1m->measured && r1m->seconds < 1.0));
  printf ("| ≤ 64 bytes per queued event after restore | %.1f B | %s |\n", restore_bpe,
          bench_verdict (r1m->measured && restore_bpe <= 64));
  if (results->stamp[0].measured)
    {
      gint64 worst_stamp = 0;

      for (guint l = 0; l < N_LEVELS; l++)
        worst_stamp = MAX (worst_stamp, results->stamp[l].stats.median);
      printf ("| stamp-payload send median ≤ 4 µs, 1 KiB JSON object, 0..%s queued | worst %.2f µs "
              "| %s |\n", top, worst_stamp / 1e3, bench_verdict (worst_stamp <= 4000));
    }
  print_sync_targets (config, results);
  if (drained)
    print_drain_targets (config, results);
  if (results->idle.measured)
    printf ("| idle producer: 0 wakeups per minute | %.1f per minute | %s |\n",
            idle_wakeups_per_minute (&results->idle),
            bench_verdict (idle_wakeups_per_minute (&results->idle) == 0));
  if (drained)
    printf ("\nWith max-in-flight 1 a 20 ms consumer allows at most 10 events per round trip, "
            "500 events/s: the drain targets are for max-in-flight 4 (the default); the "
            "max-in-flight 1 rows are for comparison.\n");
  printf ("\nThe ratios compare figures measured in this run, on this machine.\n");
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
           bench_scratch_root, fs_name (bench_scratch_root), glib_major_version, glib_minor_version,
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
    .sync_throughput_events = 20000,
    .sync_window_s = 5,
    .idle_settle_s = 2,
    .idle_window_s = 30,
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
    .sync_throughput_events = 200,
    .sync_window_s = 0.5,
    .idle_settle_s = 0.2,
    .idle_window_s = 1,
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
    g_autofree char *bin_dir = g_path_get_dirname (bench_self_exe);

    return g_build_filename (bin_dir, "..", "tools", "ep-consumer", NULL);
  }
}

/* --drains 1,3: which rows of the drain table to run. */
static gboolean
parse_drains (Config     *config,
              const char *drains)
{
  g_auto(GStrv) rows = g_strsplit (drains, ",", -1);

  for (guint d = 0; d < N_DRAINS; d++)
    config->drain_rows[d] = FALSE;
  for (guint i = 0; rows[i] != NULL; i++)
    {
      guint64 row = 0;

      if (!g_ascii_string_to_unsigned (g_strstrip (rows[i]), 10, 1, N_DRAINS, &row, NULL))
        {
          g_printerr ("bench-suite: --drains: row numbers go from 1 to %u\n", N_DRAINS);
          return FALSE;
        }
      config->drain_rows[row - 1] = TRUE;
    }
  return TRUE;
}

int
main (int    argc,
      char **argv)
{
  gboolean quick = FALSE;
  g_autofree char *restore_kind = NULL;
  g_autofree char *restore_dir = NULL;
  g_autofree char *drain_kind = NULL;
  g_autofree char *drain_args = NULL;
  g_autofree char *tmpdir = NULL;
  g_autofree char *only = NULL;
  g_autofree char *drains = NULL;
  g_autofree char *priority = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GOptionContext) context = NULL;
  const GOptionEntry entries[] = {
    { "quick", 0, 0, G_OPTION_ARG_NONE, &quick, "Tiny sizes, under 30 s: a crash check", NULL },
    { "consumer", 0, 0, G_OPTION_ARG_FILENAME, &bench_consumer_path, "The ep-consumer to drain to", "PATH" },
    { "tmpdir", 0, 0, G_OPTION_ARG_FILENAME, &tmpdir, "Where the scratch directory goes", "DIR" },
    { "only", 0, 0, G_OPTION_ARG_STRING, &only,
      "Run only these phases (comma-separated: idle, latency, throughput, drain)", "PHASES" },
    { "drains", 0, 0, G_OPTION_ARG_STRING, &drains,
      "Run only these drains (comma-separated row numbers of table 4, 1 to 4)", "ROWS" },
    { "consumer-priority", 0, 0, G_OPTION_ARG_STRING, &priority,
      "How ep-consumer is scheduled: idle (SCHED_IDLE, the default) or normal", "PRIORITY" },
    { "restore-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &restore_kind, NULL, NULL },
    { "dir", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &restore_dir, NULL, NULL },
    { "drain-child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &drain_kind, NULL, NULL },
    { "drain-args", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &drain_args, NULL, NULL },
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
  bench_self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (bench_self_exe == NULL)
    bench_self_exe = g_strdup (argv[0]);
  bench_payload = bench_make_payload (BENCH_PAYLOAD_SIZE);

  if (restore_kind != NULL)
    return restore_child_main (restore_kind, restore_dir);
  if (drain_kind != NULL)
    return drain_child_main (drain_kind, restore_dir, drain_args);

  if (bench_consumer_path == NULL)
    bench_consumer_path = default_consumer_path ();
  template = g_build_filename (tmpdir ? tmpdir : g_get_tmp_dir (), "ep-bench-suite-XXXXXX", NULL);
  bench_scratch_root = g_mkdtemp (g_steal_pointer (&template));
  if (bench_scratch_root == NULL)
    bench_die ("cannot create a scratch directory: %s", g_strerror (errno));

  config_init (&config, quick);
  if (drains != NULL && !parse_drains (&config, drains))
    return 2;
  if (priority != NULL && !g_str_equal (priority, "idle") && !g_str_equal (priority, "normal"))
    {
      g_printerr ("bench-suite: --consumer-priority: idle or normal\n");
      return 2;
    }
  config.consumer_normal_priority = priority != NULL && g_str_equal (priority, "normal");
  results = g_new0 (Results, 1);
  print_machine (&config);

  /* The drains run first. After the 1M-event phases, GLib 2.74's GSlice
   * holds millions of cached blocks; it releases them some seconds later
   * from whichever thread frees a slice next, and the fork of ep-consumer
   * has made their pages copy-on-write: a 0.6 to 0.9 s stall of the main
   * loop in the first drain, measured with G_SLICE=always-malloc to vanish
   * (see bench/README.md). Not what a drain costs, so the drains get a
   * fresh heap. The idle producer goes before them: it takes no memory. */
  if (only == NULL || strstr (only, "idle") != NULL)
    {
      bench_progress ("6. idle producer");
      phase_idle (&config, results);
    }
  if (only == NULL || strstr (only, "drain") != NULL)
    {
      bench_progress ("4 and 5. drain");
      phase_drain (&config, results);
    }
  else
    results->drain_skipped = TRUE;
  if (only == NULL || strstr (only, "latency") != NULL)
    {
      bench_progress ("1 and 3. send latency and restore");
      phase_latency_ours (&config, results);
      phase_latency_sqlite (&config, results);
      phase_latency_web (&config, results);
    }
  if (only == NULL || strstr (only, "throughput") != NULL)
    {
      bench_progress ("2. throughput");
      phase_throughput (&config, results);
    }

  print_latency (&config, results);
  print_sync (&config, results);
  print_throughput (results);
  print_restore (&config, results);
  print_drain (&config, results);
  print_gaps (&config, results);
  print_idle (&config, results);
  print_targets (&config, results);
  printf ("\nTotal run time: %.0f s\n", (g_get_monotonic_time () - start) / 1e6);

  bench_remove_tree (bench_scratch_root);
  g_free (results->consumer_priority);
  g_free (results);
  return 0;
}

