/* bench-suite-sync.c: the sync-on-send floor of bench-suite: what a bare
 * pwrite + fdatasync of the bytes one send writes costs on this disk, in
 * this run, into space the file already has
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With sync-on-send a send returns once its record is durable, so no send
 * can be faster than one write of its frame and one fdatasync. The floor is
 * measured next to ours (same directory, same minute) at every level of
 * phase 1, into a file preallocated with fallocate() as the journal's
 * segments are, so that the sync commits data and no file size.
 */
#define _GNU_SOURCE 1  /* fallocate */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "bench-suite.h"

/* fallocate() (the journal's way: the blocks are allocated but unwritten,
 * so the first write to each still changes an extent), or zeros written
 * and synced (every block already written: the cheapest case). */
static void
preallocate_or_die (int         fd,
                    gsize       size,
                    gboolean    zero_fill,
                    const char *path)
{
  if (!zero_fill && fallocate (fd, 0, 0, (off_t) size) != 0)
    {
      if (errno != EOPNOTSUPP)
        bench_die ("cannot preallocate %s: %s", path, g_strerror (errno));
      zero_fill = TRUE;  /* no fallocate on this file system */
    }
  if (zero_fill)
    {
      g_autofree char *zeros = g_malloc0 (size);

      if (pwrite (fd, zeros, size, 0) != (ssize_t) size)
        bench_die ("cannot preallocate %s: %s", path, g_strerror (errno));
    }
  if (fsync (fd) != 0)
    bench_die ("cannot sync %s: %s", path, g_strerror (errno));
}

/* One preallocated file of the floor: its path, descriptor and samples. */
typedef struct {
  char   *path;
  int     fd;
  gint64 *samples;
} FloorFile;

static void
floor_file_open (FloorFile  *f,
                 const char *dir,
                 const char *name,
                 gsize       size,
                 gboolean    zero_fill,
                 guint       n)
{
  f->path = g_build_filename (dir, name, NULL);
  f->fd = open (f->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (f->fd < 0)
    bench_die ("cannot create %s: %s", f->path, g_strerror (errno));
  preallocate_or_die (f->fd, size, zero_fill, f->path);
  f->samples = g_new (gint64, n);
}

/* Sample @i: one frame at the next offset, then fdatasync. */
static void
floor_file_sample (FloorFile  *f,
                   const char *frame,
                   guint       frame_size,
                   guint       i)
{
  gint64 start = bench_now_ns ();

  if (pwrite (f->fd, frame, frame_size, (off_t) i * frame_size) != (ssize_t) frame_size ||
      fdatasync (f->fd) != 0)
    bench_die ("cannot write %s: %s", f->path, g_strerror (errno));
  f->samples[i] = bench_now_ns () - start;
}

static void
floor_file_close (FloorFile *f,
                  guint      n,
                  Latency   *out)
{
  close (f->fd);
  g_unlink (f->path);
  bench_stats_compute (f->samples, n, &out->stats);
  out->measured = TRUE;
  g_free (f->samples);
  g_free (f->path);
}

void
measure_sync_interleaved (const char  *dir,
                          guint        frame_size,
                          guint        n,
                          TimedSend    send,
                          gpointer     target,
                          SyncSamples *out)
{
  g_autofree gint64 *samples = g_new (gint64, n);
  g_autofree char *frame = g_malloc (frame_size);
  guint chunk = MAX (n / SYNC_ROUNDS, 1);
  FloorFile fallocated, zeroed;

  memset (frame, 'f', frame_size);
  g_mkdir_with_parents (dir, 0700);
  floor_file_open (&fallocated, dir, "sync-floor", (gsize) frame_size * (n + 1), FALSE, n);
  floor_file_open (&zeroed, dir, "sync-floor-zeroed", (gsize) frame_size * (n + 1), TRUE, n);
  for (guint done = 0; done < n; done += chunk)
    {
      guint end = MIN (done + chunk, n);

      for (guint i = done; i < end; i++)
        floor_file_sample (&fallocated, frame, frame_size, i);
      for (guint i = done; i < end; i++)
        floor_file_sample (&zeroed, frame, frame_size, i);
      for (guint i = done; i < end && send != NULL; i++)
        samples[i] = send (target);
    }
  floor_file_close (&fallocated, n, &out->floor);
  floor_file_close (&zeroed, n, &out->zeroed);
  if (send == NULL)
    return;
  bench_stats_compute (samples, n, &out->store.stats);
  out->store.measured = TRUE;
}

/* Report ------------------------------------------------------------------- */

void
print_sync (const Config  *config,
            const Results *results)
{
  if (!results->sync_floor[0].measured)
    return;
  printf ("\n#### 1c. sync-on-send against the floor (median / p99)\n\n");
  printf ("| queued | floor (ours' phase) | ours | ours ÷ floor | floor (SQLite's phase) | SQLite "
          "| SQLite ÷ floor | ours ÷ SQLite | ours ÷ SQLite, each over its floor "
          "| floor into a zero-filled file (ours' phase) |\n");
  printf ("|---:|---|---|---:|---|---|---:|---:|---:|---|\n");
  for (guint l = 0; l < N_LEVELS; l++)
    {
      const Latency *floor = &results->sync_floor[l];
      const Latency *ours = &results->latency[OURS][MODE_SYNC][l];
      const Latency *sql = &results->latency[SQLITE][MODE_SYNC][l];
      const Latency *sql_floor = &results->sqlite_floor[l];
      g_autofree char *level = bench_format_count (config->levels[l]);
      g_autofree char *c_floor = bench_format_median_p99 (floor);
      g_autofree char *c_ours = bench_format_median_p99 (ours);
      g_autofree char *c_sql_floor = bench_format_median_p99 (sql_floor);
      g_autofree char *c_sql = bench_format_median_p99 (sql);
      g_autofree char *c_zero = bench_format_median_p99 (&results->sync_floor_zeroed[l]);
      g_autofree char *r_floor = bench_format_ratio (ours->stats.median, floor->stats.median);
      g_autofree char *r_sql_floor = bench_format_ratio (sql->stats.median,
                                                         sql_floor->stats.median);
      g_autofree char *r_sql = bench_format_ratio (ours->stats.median, sql->stats.median);
      g_autofree char *r_norm = NULL;

      r_norm = bench_format_ratio ((double) ours->stats.median / MAX (floor->stats.median, 1),
                                   (double) sql->stats.median / MAX (sql_floor->stats.median, 1));
      printf ("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", level, c_floor, c_ours,
              r_floor, c_sql_floor, c_sql, r_sql_floor, r_sql, r_norm, c_zero);
    }
  printf ("\nThe floor: one pwrite of the %u bytes a send writes (the frame) and one fdatasync, "
          "into a file preallocated with fallocate(), in the store's directory: what a "
          "store that preallocates its files, as the journal does, cannot beat unless it "
          "also writes the space beforehand, which the journal does too (zeros, ahead of "
          "the log, in the background). Each phase interleaves its floor and its sends in %u rounds (%u samples "
          "each), so that both see the same load; ours and SQLite are measured a few minutes "
          "apart, hence the ratio over each one's floor. The last column writes into a file "
          "whose blocks were all written (zeros) and synced beforehand, so that no extent "
          "changes from unwritten to written.\n", results->frame_size, SYNC_ROUNDS,
          config->samples[MODE_SYNC]);
}
