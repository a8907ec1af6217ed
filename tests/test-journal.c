/* test-journal.c: sync-on-send's journal: preallocated segments and group
 * commit
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With sync_on_send the journal preallocates its segments (appends do not
 * change the file size) and gives the unused space back when a segment is
 * sealed or closed; restore finds the end of the log inside the zeroed
 * space without counting it as corruption and still cuts a torn frame
 * there. Concurrent appends share fdatasync calls, and each append returns
 * only once a sync that started after its frame was written has completed:
 * the queue's sync hook reports every sync with the seqs it covers.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>

#include <glib/gstdio.h>

#include "ep-journal-private.h"
#include "ep-queue-private.h"
#include "ep-test-util.h"

#define SEGMENT_LIMIT  (1024 * 1024)     /* what max_bytes 4 MiB gives */
#define MAX_BYTES      (4 * 1024 * 1024)
#define FRAME_HEADER   32

/* Helpers ------------------------------------------------------------------ */

static GBytes *
make_record (const char *text)
{
  g_autoptr(GVariant) v = NULL;

  v = g_variant_ref_sink (g_variant_new ("(xssss)", G_GINT64_CONSTANT (1700000000000000),
                                         "6f1c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f",
                                         "journal_event", "{}", text));
  return g_variant_get_data_as_bytes (v);
}

static guint64
frame_size (GBytes *record)
{
  return FRAME_HEADER + ((g_bytes_get_size (record) + 7) & ~(gsize) 7);
}

static char *
record_text (GBytes *record)
{
  g_autoptr(GVariant) v = NULL;
  char *text;

  v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(xssss)"), record, FALSE));
  g_variant_get (v, "(x&s&s&ss)", NULL, NULL, NULL, NULL, &text);
  return text;
}

static void
append (EpQueue    *queue,
        const char *text)
{
  g_autoptr(GBytes) record = make_record (text);
  g_autoptr(GError) error = NULL;

  g_assert_true (ep_queue_append (queue, g_bytes_get_data (record, NULL),
                                  g_bytes_get_size (record), g_bytes_get_size (record), &error));
  g_assert_no_error (error);
}

static EpQueue *
open_sync (const char *dir)
{
  g_autoptr(GError) error = NULL;
  EpQueue *queue = ep_queue_open (dir, MAX_BYTES, TRUE, NULL, &error);

  g_assert_no_error (error);
  return queue;
}

static guint64
file_size (const char *path)
{
  GStatBuf st;

  g_assert_no_errno (g_stat (path, &st));
  return st.st_size;
}

static char *
segment_path (const char *dir,
              guint       number)
{
  g_autofree char *name = g_strdup_printf ("%08x.journal", number);

  return g_build_filename (dir, name, NULL);
}

/* The texts of the queued events, oldest first, joined by spaces. */
static char *
queued_texts (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *text = record_text (((EpQueueItem *) items->pdata[i])->record);

      g_string_append_printf (out, "%s%s", i > 0 ? " " : "", text);
    }
  return g_string_free (out, FALSE);
}

/* Preallocation ------------------------------------------------------------ */

/* Appends do not change the size of a preallocated segment; closing gives
 * the unused space back. */
static void
test_prealloc_size (void)
{
  g_autofree char *dir = ep_test_make_dir ("prealloc");
  g_autofree char *path = segment_path (dir, 1);
  g_autoptr(EpQueue) queue = open_sync (dir);
  guint64 end;

  g_assert_cmpuint (file_size (path), ==, SEGMENT_LIMIT);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *text = g_strdup_printf ("event-%u", i);

      append (queue, text);
      g_assert_cmpuint (file_size (path), ==, SEGMENT_LIMIT);
    }
  end = ep_queue_get_disk_usage_for_testing (queue);  /* the end of the log */
  g_assert_cmpuint (end, <, SEGMENT_LIMIT);
  ep_queue_close (queue);
  g_assert_cmpuint (file_size (path), ==, end);

  g_clear_object (&queue);
  queue = open_sync (dir);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 20);
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, 0);
  append (queue, "after-reopen");  /* the active segment is preallocated again */
  g_assert_cmpuint (file_size (path), ==, SEGMENT_LIMIT);
  ep_test_remove_tree (dir);
}

/* A rotation seals the active segment: its unused space goes back. */
static void
test_prealloc_rotation (void)
{
  g_autofree char *dir = ep_test_make_dir ("prealloc-rotation");
  g_autofree char *first = segment_path (dir, 1);
  g_autofree char *second = segment_path (dir, 2);
  g_autofree char *big = g_strnfill (60 * 1024, 'r');
  g_autoptr(GBytes) record = make_record (big);
  g_autoptr(EpQueue) queue = open_sync (dir);
  guint n = 0;

  while (!g_file_test (second, G_FILE_TEST_EXISTS))
    {
      append (queue, big);
      n++;
    }
  /* the frame that did not fit went to the new segment */
  g_assert_cmpuint (file_size (first), ==, FRAME_HEADER + (n - 1) * frame_size (record));
  g_assert_cmpuint (file_size (second), ==, SEGMENT_LIMIT);
  g_clear_object (&queue);
  queue = open_sync (dir);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, n);
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, 0);
  ep_test_remove_tree (dir);
}

/* In a subprocess (the test itself, run again): appends 5 events
 * (sync-on-send) to a queue in @dir and exits without closing it, as a
 * crash would leave it: the rest of the preallocated segment is zeros. */
static void
run_crashed_child (const char *dir)
{
  if (g_test_subprocess ())
    {
      EpQueue *queue = open_sync (g_getenv ("EP_JOURNAL_DIR"));

      for (guint i = 0; i < 5; i++)
        {
          g_autofree char *text = g_strdup_printf ("event-%u", i);

          append (queue, text);
        }
      exit (0);  /* the queue is not closed */
    }
  g_setenv ("EP_JOURNAL_DIR", dir, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

static gboolean
all_zero (const char *data,
          gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

/* Restore finds the end of the log in the zeroed space and counts nothing
 * as discarded. */
static void
test_prealloc_restore (void)
{
  g_autofree char *dir = ep_test_make_dir ("prealloc-restore");
  g_autofree char *path = segment_path (dir, 1);
  g_autoptr(EpQueue) queue = NULL;
  g_autofree char *texts = NULL;

  run_crashed_child (dir);
  g_assert_cmpuint (file_size (path), ==, SEGMENT_LIMIT);
  queue = open_sync (dir);
  texts = queued_texts (queue);
  g_assert_cmpstr (texts, ==, "event-0 event-1 event-2 event-3 event-4");
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, 0);
  ep_test_remove_tree (dir);
}

/* A write torn inside preallocated space leaves the first bytes of a frame
 * followed by zeros (the file size does not change). At every offset of
 * the last frame: the torn frame is counted and cut, the events before it
 * are intact, and the next append leaves no trace of it. (A cut where the
 * rest of the frame is zeros anyway, in its padding, tears nothing.) */
static void
test_prealloc_torn_tail (void)
{
  g_autofree char *dir = ep_test_make_dir ("prealloc-torn");
  g_autofree char *path = segment_path (dir, 1);
  g_autoptr(GBytes) last = make_record ("event-4");
  g_autofree char *original = NULL;
  gsize len;
  guint64 start, end;

  run_crashed_child (dir);
  g_assert_true (g_file_get_contents (path, &original, &len, NULL));
  g_assert_cmpuint (len, ==, SEGMENT_LIMIT);
  {
    g_autoptr(EpQueue) queue = open_sync (dir);

    end = ep_queue_get_disk_usage_for_testing (queue);
  }
  start = end - frame_size (last);
  for (guint64 cut = start; cut < end; cut++)
    {
      g_autofree char *torn = g_memdup2 (original, len);
      g_autoptr(EpQueue) queue = NULL;
      g_autofree char *texts = NULL;
      gboolean intact = all_zero (original + cut, end - cut);
      const char *before = intact ? "event-0 event-1 event-2 event-3 event-4"
                                  : "event-0 event-1 event-2 event-3";
      g_autofree char *after = g_strconcat (before, " again", NULL);

      memset (torn + cut, 0, end - cut);
      g_assert_true (g_file_set_contents (path, torn, len, NULL));
      queue = open_sync (dir);
      texts = queued_texts (queue);
      g_assert_cmpstr (texts, ==, before);
      g_assert_cmpuint (ep_queue_get_discarded (queue), ==, cut > start && !intact ? 1 : 0);
      append (queue, "again");
      g_clear_object (&queue);

      queue = open_sync (dir);
      g_clear_pointer (&texts, g_free);
      texts = queued_texts (queue);
      g_assert_cmpstr (texts, ==, after);
      g_assert_cmpuint (ep_queue_get_discarded (queue), ==, 0);
    }
  ep_test_remove_tree (dir);
}

/* The end of the part of @path, from its start, that holds no unwritten
 * extent (space fallocate() reserved and nothing wrote yet), as the file
 * system reports it (FIEMAP; no sync first). FALSE if it cannot tell. */
static gboolean
written_end (const char *path,
             guint64    *end)
{
  enum { MAX_EXTENTS = 64 };
  g_autofree struct fiemap *map = g_malloc0 (sizeof (struct fiemap) +
                                             MAX_EXTENTS * sizeof (struct fiemap_extent));
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  int ret;

  g_assert_no_errno (fd);
  map->fm_length = FIEMAP_MAX_OFFSET;
  map->fm_extent_count = MAX_EXTENTS;
  ret = ioctl (fd, FS_IOC_FIEMAP, map);
  close (fd);
  if (ret != 0)
    return FALSE;
  *end = 0;
  for (guint i = 0; i < map->fm_mapped_extents; i++)
    {
      const struct fiemap_extent *e = &map->fm_extents[i];

      if (e->fe_logical != *end || (e->fe_flags & FIEMAP_EXTENT_UNWRITTEN))
        break;
      *end = e->fe_logical + e->fe_length;
    }
  return TRUE;
}

typedef struct {
  const char *path;
  guint64     want;
  guint64     end;
} WrittenWait;

static gboolean
written_reaches (gpointer data)
{
  WrittenWait *w = data;

  g_assert_true (written_end (w->path, &w->end));
  return w->end >= w->want;
}

/* sync_on_send: the preallocated space ahead of the log gets zero-filled
 * (written and synced, so that the appends' syncs do not also convert
 * unwritten extents), up to EP_JOURNAL_FILL_AHEAD past the end of the log and not
 * much further; the file size never changes, and the zeros are neither
 * events nor corruption to restore. */
static void
test_prealloc_zero_filled (void)
{
  const guint64 limit = 4 * 1024 * 1024;  /* what max_bytes 16 MiB gives */
  g_autofree char *dir = ep_test_make_dir ("prealloc-zero");
  g_autofree char *path = segment_path (dir, 1);
  g_autofree char *big = g_strnfill (60 * 1024, 'z');
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 16 * 1024 * 1024, TRUE, NULL, &error);
  WrittenWait wait = { path, 0, 0 };
  guint64 end, log_end;
  guint n = 1;

  g_assert_no_error (error);
  g_assert_cmpuint (file_size (path), ==, limit);
  if (!written_end (path, &end))
    {
      g_test_skip ("the file system does not report extents (FIEMAP)");
      ep_test_remove_tree (dir);
      return;
    }
  append (queue, "first");
  log_end = ep_queue_get_disk_usage_for_testing (queue);
  wait.want = log_end + EP_JOURNAL_FILL_AHEAD;
  ep_test_spin_until_func (written_reaches, &wait, 10000, "zeros ahead of the log");
  g_assert_cmpuint (wait.end, <=, log_end + EP_JOURNAL_FILL_AHEAD + EP_JOURNAL_FILL_CHUNK + 4096);
  g_assert_cmpuint (file_size (path), ==, limit);

  /* the zeros move ahead with the log */
  while (ep_queue_get_disk_usage_for_testing (queue) <
         log_end + EP_JOURNAL_FILL_AHEAD + 4 * EP_JOURNAL_FILL_CHUNK / 2)
    {
      append (queue, big);
      n++;
    }
  log_end = ep_queue_get_disk_usage_for_testing (queue);
  wait.want = MIN (log_end + EP_JOURNAL_FILL_AHEAD, limit);
  ep_test_spin_until_func (written_reaches, &wait, 10000, "zeros ahead of the grown log");
  g_assert_cmpuint (file_size (path), ==, limit);

  ep_queue_close (queue);
  g_assert_cmpuint (file_size (path), ==, log_end);
  g_clear_object (&queue);
  queue = ep_queue_open (dir, 16 * 1024 * 1024, TRUE, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, n);
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, 0);
  ep_test_remove_tree (dir);
}

/* Group commit ------------------------------------------------------------- */

typedef struct {
  EpQueue *queue;
  guint    thread;
  guint    n_appends;
  guint64 *covered_at_return;   /* [n_appends]: see SyncLog.covered */
} Sender;

/* What the sync hook saw. */
typedef struct {
  GMutex   lock;
  GCond    cond;
  guint64  covered;     /* every seq below it is durable: max next_seq of a completed sync */
  guint    started;
  guint    completed;
  guint64  hold_first_until;   /* the first sync waits for next_seq to reach it (0: no) */
} SyncLog;

static SyncLog sync_log;

static void
on_sync (EpQueue  *queue,
         gboolean  done,
         guint64   next_seq,
         gpointer  user_data)
{
  SyncLog *log = user_data;

  g_mutex_lock (&log->lock);
  if (!done && log->started++ == 0 && log->hold_first_until > 0)
    {
      gint64 deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;

      /* the other senders write their frames meanwhile (polled every ms) */
      while (ep_queue_get_next_seq (queue) < log->hold_first_until)
        {
          if (g_get_monotonic_time () > deadline)
            g_error ("the other senders did not write their records");
          g_cond_wait_until (&log->cond, &log->lock, g_get_monotonic_time () + 1000);
        }
    }
  if (done)
    {
      log->completed++;
      log->covered = MAX (log->covered, next_seq);
    }
  g_mutex_unlock (&log->lock);
}

static gpointer
sender_main (gpointer data)
{
  Sender *s = data;

  for (guint i = 0; i < s->n_appends; i++)
    {
      g_autofree char *text = g_strdup_printf ("t%u-%u", s->thread, i);

      append (s->queue, text);
      g_mutex_lock (&sync_log.lock);
      s->covered_at_return[i] = sync_log.covered;
      g_mutex_unlock (&sync_log.lock);
    }
  return NULL;
}

/* Runs @n_threads senders of @n_appends events each; checks that each
 * append returned after a completed sync had covered its seq. */
static void
run_senders (const char *dir,
             guint       n_threads,
             guint       n_appends,
             guint64     hold_first_until)
{
  g_autoptr(EpQueue) queue = open_sync (dir);
  g_autoptr(GPtrArray) items = NULL;
  Sender senders[8];
  GThread *threads[8];

  g_assert_cmpuint (n_threads, <=, G_N_ELEMENTS (senders));
  memset (&sync_log, 0, sizeof sync_log);
  g_mutex_init (&sync_log.lock);
  g_cond_init (&sync_log.cond);
  sync_log.hold_first_until = hold_first_until;
  ep_queue_set_sync_hook_for_testing (queue, on_sync, &sync_log);
  for (guint t = 0; t < n_threads; t++)
    {
      senders[t] = (Sender) { queue, t, n_appends, g_new0 (guint64, n_appends) };
      threads[t] = g_thread_new ("sender", sender_main, &senders[t]);
    }
  for (guint t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);

  items = ep_queue_peek (queue, 0, G_MAXUINT);
  g_assert_cmpuint (items->len, ==, n_threads * n_appends);
  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = items->pdata[i];
      g_autofree char *text = record_text (item->record);
      guint t, n;

      g_assert_cmpint (sscanf (text, "t%u-%u", &t, &n), ==, 2);
      /* durable before its append returned */
      g_assert_cmpuint (item->seq, <, senders[t].covered_at_return[n]);
    }
  g_assert_cmpuint (sync_log.completed, ==, sync_log.started);
  g_assert_cmpuint (sync_log.completed, <=, n_threads * n_appends);
  g_test_message ("%u appends, %u syncs", n_threads * n_appends, sync_log.completed);
  ep_queue_set_sync_hook_for_testing (queue, NULL, NULL);
  for (guint t = 0; t < n_threads; t++)
    g_free (senders[t].covered_at_return);
  g_mutex_clear (&sync_log.lock);
  g_cond_clear (&sync_log.cond);
}

/* Many senders: every append is covered by a sync before it returns. */
static void
test_group_commit_covers (void)
{
  g_autofree char *dir = ep_test_make_dir ("group-commit");

  run_senders (dir, 4, 100, 0);
  ep_test_remove_tree (dir);
}

/* While a sync runs, the appends that come meanwhile wait and then share
 * one sync: with the first sync held until all four have written, four
 * appends take exactly two syncs. */
static void
test_group_commit_shares (void)
{
  g_autofree char *dir = ep_test_make_dir ("group-commit-shares");

  run_senders (dir, 4, 1, 1 + 4);
  g_assert_cmpuint (sync_log.completed, ==, 2);
  ep_test_remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/journal/prealloc/size", test_prealloc_size);
  g_test_add_func ("/ep/journal/prealloc/rotation", test_prealloc_rotation);
  g_test_add_func ("/ep/journal/prealloc/restore", test_prealloc_restore);
  g_test_add_func ("/ep/journal/prealloc/torn-tail", test_prealloc_torn_tail);
  g_test_add_func ("/ep/journal/prealloc/zero-filled", test_prealloc_zero_filled);
  g_test_add_func ("/ep/journal/group-commit/covers", test_group_commit_covers);
  g_test_add_func ("/ep/journal/group-commit/shares", test_group_commit_shares);

  return g_test_run ();
}
