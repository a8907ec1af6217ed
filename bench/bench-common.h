/* bench-common.h: timing, statistics, memory, event and harness helpers of the benchmarks
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "ep-event-private.h"
#include <ep-glib/ep-glib.h>

G_BEGIN_DECLS

/* Summary of a set of latency samples, in nanoseconds. */
typedef struct {
  guint  n;
  gint64 median;
  gint64 p99;
  gint64 p999;
  gint64 max;
} BenchStats;

/* A latency of bench-suite: measured, or projected from smaller runs */
typedef struct {
  BenchStats stats;
  gboolean   measured;
  double     projected_ns;             /* when not measured: extrapolated median */
} Latency;

gint64    bench_now_ns            (void);

/* Sorts @samples in place and fills @out. */
void      bench_stats_compute     (gint64       *samples,
                                   guint         n,
                                   BenchStats   *out);

/* A field of /proc/self/status ("VmRSS", "VmHWM") in bytes; 0 if unknown. */
guint64   bench_proc_status       (const char   *key);

/* Resets VmHWM to the current VmRSS (/proc/self/clear_refs); FALSE if the
 * kernel refused. */
gboolean  bench_reset_peak_rss    (void);

/* rm -rf @path (a scratch directory made by the benchmark). */
void      bench_remove_tree       (const char   *path);

/* A JSON payload of exactly @len bytes (len >= 32). */
char     *bench_make_payload      (gsize         len);

/* What the producer adds to an event before storing it, reproduced for the
 * baselines so that they store the same data: a random UUID, the default
 * headers as JSON (with the send timestamp) and the creation time. */
typedef struct {
  gint64   created_us;
  char     id[37];
  GString *headers_json;
} BenchEnrichment;

void      bench_enrichment_init   (BenchEnrichment *e);
void      bench_enrichment_clear  (BenchEnrichment *e);
void      bench_enrich            (BenchEnrichment *e);

/* The name, category and payload every benchmark event has. */
#define BENCH_EVENT_NAME   "playback_session"
#define BENCH_PAYLOAD_SIZE 1024

/* The harness of bench-suite ------------------------------------------------ */

/* The run's scratch directory (removed by bench_die()) and the 1 KiB JSON
 * payload every send carries; both set up by main(). */
extern char *bench_scratch_root;
extern char *bench_payload;

/* Prints "bench-suite: MESSAGE", removes the scratch directory, exits 1. */
void        bench_die             (const char   *format,
                                   ...) G_GNUC_NORETURN G_GNUC_PRINTF (1, 2);
/* One line of progress on standard error, with the monotonic time. */
void        bench_progress        (const char   *format,
                                   ...) G_GNUC_PRINTF (1, 2);
/* @name inside the scratch directory. */
char       *bench_scratch         (const char   *name);
/* Dispatches what is ready on the thread-default main context. */
void        bench_spin_pending    (void);

/* A producer in bench-suite's configuration (no timer fires during a run;
 * @port 0: a closed port, nothing is delivered). */
EpProducer *bench_producer_new    (const char   *dir,
                                   gboolean      sync_on_send,
                                   guint         max_in_flight,
                                   guint         port);
/* The same with the boolean property @true_property (if not NULL) set. */
EpProducer *bench_producer_new_full (const char *dir,
                                     gboolean    sync_on_send,
                                     guint       max_in_flight,
                                     guint       port,
                                     const char *true_property);
/* Drops the producer; it must be gone (its queue lock released) at once. */
void        bench_producer_drop   (EpProducer  **producer);
void        bench_send_or_die     (EpProducer   *producer);
void        bench_fill_producer   (EpProducer   *producer,
                                   guint64       length);
/* Removes the oldest events of the queue in @dir until @length are left. */
void        bench_trim_queue      (const char   *dir,
                                   guint64       length);

/* "10k", "1M"; "2.41 µs", "1.20 ms"; ours ÷ other ("n/a" if unknown);
 * "met" or "**missed**". */
char       *bench_format_count    (guint64       n);
char       *bench_format_ns       (double        ns);
char       *bench_format_ratio    (double        ours,
                                   double        other);
const char *bench_verdict         (gboolean      met);

/* Shared by the phases of bench-suite -------------------------------------- */

/* The size of the frame ours writes for one benchmark send. */
guint       bench_frame_size      (void);
/* "median / p99" of @lat ("n/a" when not measured). */
char       *bench_format_median_p99 (const Latency *lat);
/* The standard output of @child (started with G_SUBPROCESS_FLAGS_STDOUT_PIPE),
 * read while the main context runs; "TIMEOUT" once @cancellable (nullable)
 * is cancelled, "ERROR" if it cannot be read. */
char       *bench_child_output    (GSubprocess  *child,
                                   GCancellable *cancellable);

G_END_DECLS
