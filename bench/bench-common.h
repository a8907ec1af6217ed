/* bench-common.h: timing, statistics, memory and event helpers for bench-suite
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

#include "ep-event-private.h"

G_BEGIN_DECLS

/* Summary of a set of latency samples, in nanoseconds. */
typedef struct {
  guint  n;
  gint64 median;
  gint64 p99;
  gint64 p999;
  gint64 max;
} BenchStats;

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

G_END_DECLS
