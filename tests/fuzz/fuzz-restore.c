/* fuzz-restore.c: libFuzzer target for restoring a queue from an arbitrary directory image
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: a directory image, a sequence of files, each
 *   u8 kind, u16 little-endian length, that many bytes
 * where kind picks the name: 0..7 the segments 00000000.journal to
 * 00000007.journal, 8 a compaction left-over (00000003.journal.tmp),
 * 9 the counters file (monitor.gvariant), 10 ffffffff.journal. The queue
 * must open it (or refuse it with EP_ERROR_STORAGE), hand out what it
 * restored, remove some, compact, close, and reopen to exactly what was
 * left: nothing removed comes back, nothing kept is lost.
 * The seed corpus holds images of real queues (tests/fuzz/make-corpus.py).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "ep-queue-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);
int fsync (int fd);
int fdatasync (int fd);

/* Durability is not what this target checks: syncs cost milliseconds and
 * would make it a hundred times slower (the library's calls bind here). */
int
fsync (int fd)
{
  return 0;
}

int
fdatasync (int fd)
{
  return 0;
}

static char *dir;

static void
clear_dir (void)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_remove (path);
    }
}

static void
write_image (const guint8 *data,
             size_t        size)
{
  while (size >= 3)
    {
      guint kind = data[0] % 11;
      gsize len = MIN ((gsize) (data[1] | data[2] << 8), size - 3);
      g_autofree char *name = NULL;
      g_autofree char *path = NULL;

      if (kind < 8)
        name = g_strdup_printf ("%08x.journal", kind);
      else if (kind == 8)
        name = g_strdup ("00000003.journal.tmp");
      else if (kind == 9)
        name = g_strdup ("monitor.gvariant");
      else
        name = g_strdup ("ffffffff.journal");
      path = g_build_filename (dir, name, NULL);
      g_file_set_contents (path, (const char *) data + 3, len, NULL);
      data += 3 + len;
      size -= 3 + len;
    }
}

static void
remove_dir (void)
{
  clear_dir ();
  g_rmdir (dir);
}

static GPtrArray *
records (EpQueue *queue)
{
  GPtrArray *items = ep_queue_peek (queue, 0, G_MAXUINT);

  g_assert_cmpuint (items->len, ==, ep_queue_get_length (queue));
  return items;
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GArray) removed = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint kept = 0;

  if (dir == NULL)
    {
      g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
      g_log_set_handler ("Ep", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                         G_LOG_LEVEL_DEBUG, g_log_default_handler, NULL);
      g_setenv ("G_MESSAGES_DEBUG", "", TRUE);
      dir = g_strdup ("/dev/shm/ep-fuzz-restore-XXXXXX");
      if (g_mkdtemp (dir) == NULL)
        {
          g_free (dir);
          dir = g_dir_make_tmp ("ep-fuzz-restore-XXXXXX", NULL);
        }
      atexit (remove_dir);
      g_assert_nonnull (dir);
    }
  clear_dir ();
  write_image (data, size);

  queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  if (queue == NULL)
    {
      g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
      return 0;
    }
  before = records (queue);
  for (guint i = 0; i < before->len; i++)
    {
      EpQueueItem *item = before->pdata[i];

      if (i % 3 == 0)
        g_array_append_val (removed, item->seq);
      else
        kept++;
    }
  if (removed->len > 0)
    g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) removed->data, removed->len, NULL));
  ep_queue_reclaim (queue, TRUE, NULL);
  g_clear_object (&queue);

  queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  after = records (queue);
  g_assert_cmpuint (after->len, ==, kept);
  for (guint i = 0, j = 0; i < before->len; i++)
    {
      EpQueueItem *item = before->pdata[i];

      if (i % 3 == 0)
        continue;
      g_assert_true (g_bytes_equal (item->record, ((EpQueueItem *) after->pdata[j++])->record));
    }
  return 0;
}
