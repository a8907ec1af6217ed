/* bench-suite-drain.c: phase 4 of bench-suite, draining a queue to ep-consumer on
 * loopback (ours, and the baselines over the same transport); the main-loop
 * ticker of phase 5 runs during every drain
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE 1  /* SCHED_IDLE */
#include "config.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

#include <gio/gio.h>

#include <ep-glib/ep-glib.h>
#include "ep-transport-private.h"

#include "bench-baselines.h"
#include "bench-suite.h"

/* 4. Drain ------------------------------------------------------------------ */

typedef struct {
  GSubprocess *process;
  char        *port_file;
  guint        port;
} Consumer;

/* In the child, before exec: the lowest CPU priority there is (SCHED_IDLE,
 * else nice 19), so that ep-consumer stands for a remote server and takes
 * no CPU the producer wants. Its threads inherit it. */
static void
consumer_lower_priority (gpointer unused)
{
  struct sched_param param = { 0 };

  if (sched_setscheduler (0, SCHED_IDLE, &param) != 0)
    setpriority (PRIO_PROCESS, 0, 19);
}

/* How @process is scheduled, as seen from here. */
static char *
consumer_describe_priority (GSubprocess *process)
{
  pid_t pid = (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (process), NULL, 10);
  int policy = sched_getscheduler (pid);
  int nice_value;

  errno = 0;
  nice_value = getpriority (PRIO_PROCESS, pid);
  if (policy == SCHED_IDLE)
    return g_strdup ("SCHED_IDLE");
  return g_strdup_printf ("%s, nice %d", policy == SCHED_OTHER ? "SCHED_OTHER" : "other policy",
                          errno == 0 ? nice_value : 0);
}

static gboolean
consumer_start (Consumer *consumer,
                guint     latency_ms,
                gboolean  normal_priority)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autofree char *latency = g_strdup_printf ("%u", latency_ms);
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  consumer->port_file = g_strdup_printf ("%s/consumer-%u.port", bench_scratch_root, latency_ms);
  if (!normal_priority)
    g_subprocess_launcher_set_child_setup (launcher, consumer_lower_priority, NULL, NULL);
  consumer->process = g_subprocess_launcher_spawn (launcher, &error,
                                                   bench_consumer_path, "--port", "0",
                                                   "--port-file", consumer->port_file,
                                                   "--output", "/dev/null", "--quiet",
                                                   "--latency", latency, NULL);
  if (consumer->process == NULL)
    bench_die ("cannot start %s: %s", bench_consumer_path, error->message);
  while (g_get_monotonic_time () < deadline)
    {
      g_autofree char *text = NULL;

      if (g_file_get_contents (consumer->port_file, &text, NULL, NULL) &&
          (consumer->port = (guint) g_ascii_strtoull (text, NULL, 10)) > 0)
        return TRUE;
      g_usleep (10000);
    }
  bench_die ("%s did not write its port file", bench_consumer_path);
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

/* The CPU time of this process, all threads, user + system: what the
 * producer spends, not ep-consumer (a child, not counted by RUSAGE_SELF). */
static gint64
process_cpu_ns (void)
{
  struct rusage ru;

  if (getrusage (RUSAGE_SELF, &ru) != 0)
    return 0;
  return ((gint64) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
         ((gint64) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  if (!ep_producer_flush_finish (EP_PRODUCER (source), result, &error))
    bench_die ("flush failed: %s", error ? error->message : "the queue was not emptied");
  *done = TRUE;
}

static void
drain_ours (guint    port,
            guint    max_in_flight,
            guint64  n,
            Drain   *out)
{
  g_autofree char *dir = bench_scratch ("drain-ours");
  g_autoptr(EpProducer) producer = bench_producer_new (dir, FALSE, max_in_flight, port);
  gboolean done = FALSE;
  Ticker ticker;
  gint64 start, cpu;

  /* A backlog on disk (as after an outage or a restart), not one still
   * being written back. */
  bench_fill_producer (producer, n);
  bench_producer_drop (&producer);
  producer = bench_producer_new (dir, FALSE, max_in_flight, port);
  bench_spin_pending ();
  ticker_start (&ticker);
  cpu = process_cpu_ns ();
  start = bench_now_ns ();
  ep_producer_flush_async (producer, NULL, on_flushed, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  out->seconds = (bench_now_ns () - start) / 1e9;
  out->cpu_ns = process_cpu_ns () - cpu;
  ticker_stop (&ticker, out);
  out->queued = n;
  out->delivered = n - ep_producer_get_queue_length (producer);
  out->emptied = ep_producer_get_queue_length (producer) == 0;
  out->measured = TRUE;
  bench_producer_drop (&producer);
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
    bench_die ("baseline post failed: %s", error->message);
  if (reply->kind != EP_REPLY_BATCH_RESULT ||
      g_hash_table_size (reply->confirmed) != post->events->len)
    bench_die ("baseline batch not confirmed: %s", reply->error_message ? reply->error_message : "?");
  if (!bench_store_remove (drain->store, post->events, &error))
    bench_die ("baseline remove failed: %s", error->message);
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
      body = ep_sqs_encode_batch ((const EpEvent * const *) events->pdata, events->len);
      post = g_new0 (BaselinePost, 1);
      post->drain = drain;
      post->events = g_steal_pointer (&events);
      drain->in_flight++;
      ep_transport_post_async (drain->transport, drain->uri, NULL, NULL, body, FALSE, NULL,
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
  g_autofree char *dir = bench_scratch ("drain-baseline");
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch", port);
  g_autoptr(GError) error = NULL;
  g_autoptr(BenchStore) store = bench_store_open (kind, dir, &error);
  g_autoptr(EpTransport) transport = ep_transport_new ("bench-suite baseline", 30000);
  BaselineDrain drain = { 0 };
  Ticker ticker;
  gint64 start, cpu;

  if (store == NULL || !bench_store_fill (store, n, BENCH_EVENT_NAME, bench_payload, &error))
    bench_die ("baseline fill: %s", error->message);
  drain.store = store;
  drain.transport = transport;
  drain.uri = uri;
  drain.max_in_flight = max_in_flight;
  ticker_start (&ticker);
  cpu = process_cpu_ns ();
  start = bench_now_ns ();
  drain.deadline_ns = start + (gint64) (window_s * 1e9);
  baseline_fill_pipeline (&drain);
  while (drain.in_flight > 0)
    g_main_context_iteration (NULL, TRUE);
  out->seconds = (bench_now_ns () - start) / 1e9;
  out->cpu_ns = process_cpu_ns () - cpu;
  ticker_stop (&ticker, out);
  out->queued = n;
  out->delivered = drain.delivered;
  out->emptied = bench_store_length (store) == 0;
  out->measured = TRUE;
  g_clear_pointer (&store, bench_store_free);
  g_clear_object (&transport);
  bench_spin_pending ();
  bench_remove_tree (dir);
}

/* Each drain runs in a process of its own (bench-suite --drain-child),
 * so that one does not pay for the memory another left: in one process,
 * GLib 2.74's GSlice gave back the chunks the previous row's baselines had
 * freed 15 s later, on whatever thread freed next: our main thread, 23 ms
 * on a CPU, in the middle of our drain. The child prints "DRAIN " and the
 * Drain struct in hex. */
static const char *const drain_kinds[N_IMPLS] = { "ours", "sqlite", "web", "memory" };

static void
run_drain_child (guint          impl,
                 guint          port,
                 guint          max_in_flight,
                 guint64        n,
                 double         window_s,
                 Drain         *out)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autofree char *args = g_strdup_printf ("%u,%u,%" G_GUINT64_FORMAT ",%.3f", port,
                                           max_in_flight, n, window_s);
  g_autofree char *output = NULL;
  const char *hex;

  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, bench_self_exe,
                            "--drain-child", drain_kinds[impl], "--dir", bench_scratch_root,
                            "--drain-args", args, NULL);
  if (child == NULL)
    bench_die ("cannot run %s: %s", bench_self_exe, error->message);
  output = bench_child_output (child, NULL);
  g_subprocess_wait (child, NULL, NULL);
  hex = strstr (output, "DRAIN ");
  if (hex == NULL || !g_subprocess_get_successful (child) ||
      strspn (hex + 6, "0123456789abcdef") != 2 * sizeof *out)
    bench_die ("the %s drain child failed", drain_kinds[impl]);
  hex += 6;
  for (gsize i = 0; i < sizeof *out; i++)
    ((guint8 *) out)[i] = (g_ascii_xdigit_value (hex[2 * i]) << 4) | g_ascii_xdigit_value (hex[2 * i + 1]);
}

/* The child: one drain of @kind (ours or a baseline), the Drain on stdout. */
int
drain_child_main (const char *kind,
                  const char *scratch,
                  const char *args_text)
{
  g_auto(GStrv) args = args_text != NULL ? g_strsplit (args_text, ",", -1) : NULL;
  Drain out = { 0 };
  guint port, mif;
  guint64 n;
  double window_s;

  if (scratch == NULL || args == NULL || g_strv_length (args) != 4)
    {
      g_printerr ("bench-suite: --drain-child needs --dir and --drain-args PORT,MIF,N,WINDOW\n");
      return 2;
    }
  bench_scratch_root = g_strdup (scratch);
  port = (guint) g_ascii_strtoull (args[0], NULL, 10);
  mif = (guint) g_ascii_strtoull (args[1], NULL, 10);
  n = g_ascii_strtoull (args[2], NULL, 10);
  window_s = g_ascii_strtod (args[3], NULL);
  if (g_str_equal (kind, "ours"))
    drain_ours (port, mif, n, &out);
  else if (g_str_equal (kind, "sqlite"))
    drain_baseline (BENCH_STORE_SQLITE, port, mif, n, window_s, &out);
  else if (g_str_equal (kind, "web"))
    drain_baseline (BENCH_STORE_WEB, port, mif, n, window_s, &out);
  else if (g_str_equal (kind, "memory"))
    drain_baseline (BENCH_STORE_MEMORY, port, mif, n, window_s, &out);
  else
    return 2;
  printf ("DRAIN ");
  for (gsize i = 0; i < sizeof out; i++)
    printf ("%02x", ((const guint8 *) &out)[i]);
  printf ("\n");
  return 0;
}

void
phase_drain (const Config *config,
             Results      *results)
{
  Consumer consumers[2] = { { 0 } };
  const guint latencies[2] = { 0, 20 };

  if (bench_consumer_path == NULL || !g_file_test (bench_consumer_path, G_FILE_TEST_IS_EXECUTABLE))
    {
      bench_progress ("ep-consumer not found (%s): drain measurements skipped",
                      bench_consumer_path ? bench_consumer_path : "no path");
      results->drain_skipped = TRUE;
      return;
    }
  for (guint c = 0; c < 2; c++)
    consumer_start (&consumers[c], latencies[c], config->consumer_normal_priority);
  results->consumer_priority = consumer_describe_priority (consumers[0].process);
  bench_progress ("ep-consumer runs with %s", results->consumer_priority);

  for (guint d = 0; d < N_DRAINS; d++)
    {
      guint port = consumers[config->drain_latency[d] == 0 ? 0 : 1].port;

      if (!config->drain_rows[d])
        continue;
      {
      guint mif = config->drain_in_flight[d];
      guint64 n = config->drain_events[d];

      run_drain_child (OURS, port, mif, n, config->window_s, &results->drain[OURS][d]);
      bench_progress ("drain ours %u ms, %u in flight: %" G_GUINT64_FORMAT " events in %.2f s",
                      config->drain_latency[d], mif, n, results->drain[OURS][d].seconds);
      for (guint impl = SQLITE; impl < N_IMPLS; impl++)
        run_drain_child (impl, port, mif, n, config->window_s, &results->drain[impl][d]);
      bench_progress ("drain baselines %u ms, %u in flight done", config->drain_latency[d], mif);
      }
    }
  for (guint c = 0; c < 2; c++)
    consumer_stop (&consumers[c]);
}

/* Report ------------------------------------------------------------------- */

double
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

double
drain_cpu_per_event (const Drain *d)
{
  return d->measured && d->delivered > 0 ? (double) d->cpu_ns / d->delivered : 0;
}

static char *
format_cost_cell (const Drain *d)
{
  if (!d->measured || d->delivered == 0)
    return g_strdup ("n/a");
  return g_strdup_printf ("%.1f µs (%.2f s CPU in %.2f s)", drain_cpu_per_event (d) / 1e3,
                          d->cpu_ns / 1e9, d->seconds);
}

/* Table 4b: the producer's CPU time per delivered event, ours against the
 * loop with no storage (the same transport over events held in memory). */
static void
print_drain_cost (const Config  *config,
                  const Results *results)
{
  printf ("\n#### 4b. Drain cost: the producer process's CPU time per delivered event "
          "(all threads, user + system)\n\n");
  printf ("| reply latency | max-in-flight | ours | no storage | SQLite | ours ÷ no storage "
          "| ≤ 1.25 |\n|---:|---:|---:|---:|---:|---:|---|\n");
  for (guint d = 0; d < N_DRAINS; d++)
    {
      const Drain *ours = &results->drain[OURS][d];
      const Drain *mem = &results->drain[MEMORY][d];
      g_autofree char *c_ours = format_cost_cell (ours);
      g_autofree char *c_mem = format_cost_cell (mem);
      g_autofree char *c_sql = format_cost_cell (&results->drain[SQLITE][d]);
      g_autofree char *ratio = bench_format_ratio (drain_cpu_per_event (ours),
                                                   drain_cpu_per_event (mem));

      if (!ours->measured)
        continue;
      printf ("| %u ms | %u | %s | %s | %s | %s | %s |\n", config->drain_latency[d],
              config->drain_in_flight[d], c_ours, c_mem, c_sql, ratio,
              bench_verdict (mem->measured &&
                             drain_cpu_per_event (ours) <= 1.25 * drain_cpu_per_event (mem)));
    }
  printf ("\ngetrusage (RUSAGE_SELF) from the start of the drain to its end: every thread "
          "of the bench process (ours: the main loop, the queue's workers and sync thread; "
          "both: libsoup, the 1 ms ticker of table 5), not ep-consumer (a child process, "
          "here with %s).\n", results->consumer_priority ? results->consumer_priority : "?");
}

void
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
      g_autofree char *n = bench_format_count (config->drain_events[d]);
      g_autofree char *c_ours = format_drain_cell (&results->drain[OURS][d]);
      g_autofree char *c_sql = format_drain_cell (&results->drain[SQLITE][d]);
      g_autofree char *c_web = format_drain_cell (&results->drain[WEB][d]);
      g_autofree char *r_sql = bench_format_ratio (drain_rate (&results->drain[OURS][d]),
                                                   drain_rate (&results->drain[SQLITE][d]));
      g_autofree char *r_web = bench_format_ratio (drain_rate (&results->drain[OURS][d]),
                                                   drain_rate (&results->drain[WEB][d]));
      g_autofree char *c_mem = format_drain_cell (&results->drain[MEMORY][d]);
      g_autofree char *r_mem = bench_format_ratio (drain_rate (&results->drain[OURS][d]),
                                                   drain_rate (&results->drain[MEMORY][d]));

      printf ("| %u ms | %u | %s | %s | %s | %s | %s | %s | %s | %s |\n", config->drain_latency[d],
              config->drain_in_flight[d], n, c_ours, c_sql, c_web, r_sql, r_web, c_mem, r_mem);
    }
  printf ("\nThe baselines use ep-glib's own transport (same libsoup session, encoding and "
           "reply parsing), so only the storage differs; each stops after %.1f s. \"No storage\" "
          "delivers events held in memory with the same loop: what the transport and "
          "ep-consumer allow on this machine. ep-consumer ran with %s.\n",
          config->window_s, results->consumer_priority ? results->consumer_priority : "?");
  print_drain_cost (config, results);
}
