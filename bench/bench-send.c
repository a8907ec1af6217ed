/* bench-send.c: latency of ep_queue_append and cost of restoring a queue
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Usage: bench-send [--quick]
 *
 * 0. Prints the cost of the record checksum (CRC-32C) alone.
 * 1. Appends 1 KiB records and measures the latency of single
 *    ep_queue_append() calls (median, p99, p99.9, max in ns) with 0, 10k,
 *    100k and 1M events already queued (--quick: 0, 1k, 10k, 100k).
 * 2. Closes the queue and opens it again: prints the restore time and the
 *    resident memory per restored event (VmRSS before/after the open).
 *
 * The queue lives in a fresh directory under $TMPDIR (or /tmp), which is
 * deleted at the end. The full run needs about 1.1 GB of disk.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "bench-common.h"
#include "ep-crc32c-private.h"
#include "ep-queue-private.h"

#define RECORD_SIZE 1024

/* A "(xssss)" record of exactly RECORD_SIZE bytes. */
static GBytes *
make_record (void)
{
  const char *id = "2c8c7a51-4d8e-4f0e-9b83-5f7f0e6e9a21";
  const char *headers = "{\"app-name\":\"bench\",\"consent-category\":\"NECESSARY\"}";
  gsize payload_len = 900;

  for (;;)
    {
      g_autofree char *payload = g_strnfill (payload_len, 'p');
      g_autoptr(GVariant) v = g_variant_ref_sink (
          g_variant_new ("(xssss)", g_get_real_time (), id, "bench_event", headers, payload));
      gsize size = g_variant_get_size (v);

      if (size == RECORD_SIZE || size > RECORD_SIZE)
        return g_variant_get_data_as_bytes (v);
      payload_len += RECORD_SIZE - size;
    }
}

static void
append_or_die (EpQueue *queue,
               GBytes  *record)
{
  g_autoptr(GError) error = NULL;

  if (!ep_queue_append (queue, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                        g_bytes_get_size (record), &error))
    g_error ("append failed: %s", error->message);
}

/* Raw pwrite() latency of @len bytes, appended to a scratch file. */
static void
measure_pwrite (const char *dir,
                gsize       len,
                guint       n,
                gint64     *median,
                gint64     *p99)
{
  g_autofree char *path = g_build_filename (dir, "scratch", NULL);
  g_autofree gint64 *samples = g_new (gint64, n);
  g_autofree char *buf = g_strnfill (len, 'b');
  BenchStats stats;
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd < 0)
    g_error ("cannot create %s", path);
  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();

      if (pwrite (fd, buf, len, (off_t) i * len) != (ssize_t) len)
        g_error ("pwrite failed");
      samples[i] = bench_now_ns () - start;
    }
  close (fd);
  g_unlink (path);
  bench_stats_compute (samples, n, &stats);
  *median = stats.median;
  *p99 = stats.p99;
}

/* Measures @n single appends. */
static void
measure_appends (EpQueue *queue,
                 GBytes  *record,
                 guint    n,
                 guint64  queued)
{
  g_autofree gint64 *samples = g_new (gint64, n);
  gint64 raw_median, raw_p99;
  BenchStats stats;

  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();

      append_or_die (queue, record);
      samples[i] = bench_now_ns () - start;
    }
  bench_stats_compute (samples, n, &stats);
  measure_pwrite (ep_queue_get_dir (queue), g_bytes_get_size (record) + 32, n,
                  &raw_median, &raw_p99);
  g_print ("%12" G_GUINT64_FORMAT " %10" G_GINT64_FORMAT " %10" G_GINT64_FORMAT
           " %10" G_GINT64_FORMAT " %10" G_GINT64_FORMAT " %12" G_GINT64_FORMAT
           " %10" G_GINT64_FORMAT "\n",
           queued, stats.median, stats.p99, stats.p999, stats.max, raw_median, raw_p99);
}

/* Median ns of one call of @checksum on @record (clock reads included). */
static gint64
measure_checksum (guint32 (*checksum) (const void *data, gsize len),
                  GBytes   *record)
{
  const guint n = 20000;
  g_autofree gint64 *samples = g_new (gint64, n);
  gconstpointer data = g_bytes_get_data (record, NULL);
  gsize len = g_bytes_get_size (record);
  volatile guint32 sink = 0;
  BenchStats stats;

  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();

      sink += checksum (data, len);
      samples[i] = bench_now_ns () - start;
    }
  bench_stats_compute (samples, n, &stats);
  return stats.median;
}

static gint64
measure_clock (void)
{
  const guint n = 20000;
  g_autofree gint64 *samples = g_new (gint64, n);
  BenchStats stats;

  for (guint i = 0; i < n; i++)
    {
      gint64 start = bench_now_ns ();

      samples[i] = bench_now_ns () - start;
    }
  bench_stats_compute (samples, n, &stats);
  return stats.median;
}

/* Resident memory in bytes, from /proc/self/status. */
static EpQueue *
open_or_die (const char *dir)
{
  g_autoptr(GError) error = NULL;
  EpQueue *queue = ep_queue_open (dir, 0, FALSE, NULL, &error);

  if (queue == NULL)
    g_error ("cannot open the queue: %s", error->message);
  return queue;
}

static void
measure_restore (const char *dir)
{
  g_autoptr(EpQueue) queue = NULL;
  guint64 rss_before, rss_after, length;
  gint64 start, elapsed;

  rss_before = bench_proc_status ("VmRSS");
  start = bench_now_ns ();
  queue = open_or_die (dir);
  elapsed = bench_now_ns () - start;
  rss_after = bench_proc_status ("VmRSS");
  length = ep_queue_get_length (queue);

  g_print ("\nrestore of %" G_GUINT64_FORMAT " events (%.1f MiB on disk): %.3f s, "
           "RSS +%.1f MiB = %.1f bytes/event\n",
           length, ep_queue_get_disk_usage_for_testing (queue) / 1048576.0, elapsed / 1e9,
           (double) (rss_after - rss_before) / 1048576.0,
           length > 0 ? (double) (rss_after - rss_before) / length : 0.0);
}

int
main (int    argc,
      char **argv)
{
  gboolean quick = argc > 1 && g_str_equal (argv[1], "--quick");
  const guint64 levels_full[] = { 0, 10000, 100000, 1000000 };
  const guint64 levels_quick[] = { 0, 10000, 50000, 100000 };
  const guint64 *levels = quick ? levels_quick : levels_full;
  guint samples = quick ? 2000 : 10000;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) record = make_record ();
  g_autoptr(EpQueue) queue = NULL;
  g_autofree char *dir = NULL;
  guint64 queued = 0;

  dir = g_dir_make_tmp ("ep-bench-send-XXXXXX", &error);
  if (dir == NULL)
    g_error ("%s", error->message);
  queue = open_or_die (dir);

  g_print ("CRC-32C of one record, median ns: %" G_GINT64_FORMAT " as used, %" G_GINT64_FORMAT
           " in software (clock reads: %" G_GINT64_FORMAT ")\n\n",
           measure_checksum (ep_crc32c, record),
           measure_checksum (ep_crc32c_software, record), measure_clock ());
  g_print ("ep_queue_append of %" G_GSIZE_FORMAT "-byte records, %u samples per row, in ns\n",
           g_bytes_get_size (record), samples);
  g_print ("%12s %10s %10s %10s %10s %12s %10s\n", "queued", "median", "p99", "p99.9", "max",
           "pwrite med", "pwrite p99");
  for (guint i = 0; i < 4; i++)
    {
      for (; queued < levels[i]; queued++)
        append_or_die (queue, record);
      measure_appends (queue, record, samples, queued);
      queued += samples;
    }

  if (!ep_queue_sync (queue, &error))
    g_error ("%s", error->message);
  g_clear_object (&queue);
  measure_restore (dir);

  bench_remove_tree (dir);
  return 0;
}
