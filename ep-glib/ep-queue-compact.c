/* ep-queue-compact.c: reclaiming the space of removed events
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Segment files without live events are deleted, oldest first. When dead
 * space dominates the sealed segments (or bytes that failed their checks at
 * open sit in them), their live frames are copied into one new file that
 * atomically replaces them (see the format description in ep-journal.c).
 * Runs on the sync thread, or on the opening thread before it starts, and
 * holds the queue mutex only for snapshots and the final swap. The file
 * operations themselves are ep-journal.c's.
 */

#include "config.h"

#include <errno.h>

#include "ep-queue-internal.h"

/* Bytes of the sealed segments: all of them, and their live frames. */
void
ep_queue_sealed_bytes (EpQueue *self,
                       guint64 *total,
                       guint64 *live)
{
  *total = *live = 0;
  for (guint i = 0; i + 1 < self->journal.segments->len; i++)
    {
      EpJournalSegment *seg = self->journal.segments->pdata[i];

      *total += seg->size;
      *live += seg->live_frame_bytes;
    }
}

static gboolean
compaction_worthwhile (EpQueue *self)
{
  guint64 total, live;

  ep_queue_sealed_bytes (self, &total, &live);
  return total - live > MAX (live, self->journal.segment_limit) && live <= EP_QUEUE_MAX_COMPACTION_BYTES;
}

gboolean
ep_queue_reclaim_possible (EpQueue *self)
{
  EpJournalSegment *oldest;

  if (self->journal.segments->len < 2)
    return FALSE;
  oldest = self->journal.segments->pdata[0];
  return oldest->live == 0 || compaction_worthwhile (self);
}

/* Deletes sealed segments without live events, oldest first. */
static gboolean
delete_dead_segments (EpQueue  *self,
                      GError  **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->mutex);
  while (ok && self->journal.segments->len >= 2 &&
         ((EpJournalSegment *) self->journal.segments->pdata[0])->live == 0)
    {
      EpJournalSegment *seg = g_ptr_array_steal_index (self->journal.segments, 0);

      g_mutex_unlock (&self->mutex);
      ok = ep_journal_unlink_segment (&self->journal, seg->number, FALSE, error) &&
           ep_journal_sync_dir (&self->journal, error);
      ep_journal_segment_unref (seg);
      g_mutex_lock (&self->mutex);
    }
  g_mutex_unlock (&self->mutex);
  return ok;
}

/* A live event to copy during compaction. */
typedef struct {
  guint64           seq;
  EpJournalSegment *from;   /* borrowed from the snapshot's refs */
  guint64           offset; /* in @from, then in the new file */
  guint32           frame_len;
} CompactItem;

typedef struct {
  GPtrArray *sealed;       /* owned refs of the segments being compacted */
  GArray    *items;        /* CompactItem */
  guint64    base_seq;
} CompactJob;

static void
compact_job_clear (CompactJob *job)
{
  g_clear_pointer (&job->sealed, g_ptr_array_unref);
  g_clear_pointer (&job->items, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CompactJob, compact_job_clear)

/* With the mutex held: what to copy. FALSE if there is nothing to do. */
static gboolean
compact_snapshot (EpQueue    *self,
                  gboolean    force,
                  CompactJob *job)
{
  EpJournalSegment *last;
  guint n_sealed = self->journal.segments->len - 1;
  guint64 live = 0;

  if (n_sealed == 0 || (!force && !compaction_worthwhile (self)))
    return FALSE;
  last = self->journal.segments->pdata[n_sealed - 1];
  /* every event below the active segment's base seq is in a sealed segment:
   * the new file holds all of those that live (see ep-queue-restore.c) */
  job->base_seq = ep_journal_active_segment (&self->journal)->base_seq;
  job->sealed = g_ptr_array_new_with_free_func (ep_journal_segment_unref);
  for (guint i = 0; i < n_sealed; i++)
    g_ptr_array_add (job->sealed, ep_journal_segment_ref (self->journal.segments->pdata[i]));
  job->items = g_array_new (FALSE, FALSE, sizeof (CompactItem));
  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, i);
      CompactItem item;

      if (e->segment > last->number)
        break;
      if (ep_queue_entry_state (e) == EP_QUEUE_ENTRY_REMOVED)
        continue;
      item.seq = e->seq;
      item.from = ep_journal_segment_find (&self->journal, e->segment);
      item.offset = ep_queue_entry_offset (e);
      item.frame_len = EP_JOURNAL_FRAME_SIZE (e->length);
      g_assert (item.from != NULL);
      g_array_append_val (job->items, item);
      live += item.frame_len;
    }
  /* offsets are 32-bit: never build a file near 4 GiB */
  return live <= EP_QUEUE_MAX_COMPACTION_BYTES;
}

/* Without the mutex: writes the header and copies the frames into @fd,
 * replacing each item's offset by its offset in the new file. */
static gboolean
compact_copy (CompactJob  *job,
              int          fd,
              guint64     *size_out,
              GError     **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_sized_new (1024 * 1024 + 64 * 1024);
  guint64 file_pos = 0;  /* where buf->data[0] goes */
  EpJournalSegmentHeader h;

  ep_journal_segment_header_init (&h, EP_JOURNAL_SEGMENT_COMPACTED, job->base_seq);
  g_byte_array_append (buf, (const guint8 *) &h, EP_JOURNAL_HEADER_SIZE);
  for (guint i = 0; i <= job->items->len; i++)
    {
      gboolean last = i == job->items->len;

      if (!last)
        {
          CompactItem *item = &g_array_index (job->items, CompactItem, i);
          gsize at = buf->len;

          g_byte_array_set_size (buf, at + item->frame_len);
          if (!ep_journal_pread_all (item->from->fd, buf->data + at, item->frame_len,
                                     item->offset))
            {
              g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                           "Cannot read queue file %08x.journal: %s",
                           item->from->number, g_strerror (errno));
              return FALSE;
            }
          item->offset = file_pos + at;
        }
      if (last || buf->len >= 1024 * 1024)
        {
          if (!ep_journal_write_at (fd, buf->data, buf->len, file_pos, error))
            return FALSE;
          file_pos += buf->len;
          g_byte_array_set_size (buf, 0);
        }
    }
  *size_out = file_pos;
  return TRUE;
}

/* With the mutex held: puts the compacted file (already renamed) in place of
 * the sealed segments and points the index at it. Returns the replaced
 * segments; all but the last must still be unlinked (the last one's name
 * now holds the new file). */
static GPtrArray *
compact_install (EpQueue    *self,
                 CompactJob *job,
                 int         fd,
                 guint64     size)
{
  EpJournalSegment *last = job->sealed->pdata[job->sealed->len - 1];
  EpJournalSegment *seg = ep_journal_segment_new (fd, last->number);
  GPtrArray *old = g_ptr_array_new_with_free_func (ep_journal_segment_unref);

  seg->base_seq = job->base_seq;
  seg->size = size;
  for (guint i = 0; i < job->items->len; i++)
    {
      CompactItem *item = &g_array_index (job->items, CompactItem, i);
      EpQueueEntry *e = ep_queue_index_find (&self->index, item->seq);

      if (e == NULL)
        continue;  /* removed during the copy */
      e->segment = seg->number;
      e->offset_state = (guint32) item->offset | ep_queue_entry_state (e);
      seg->live++;
      seg->live_frame_bytes += item->frame_len;
    }
  for (guint i = 0; i < job->sealed->len; i++)
    {
      g_assert (self->journal.segments->pdata[0] == job->sealed->pdata[i]);
      g_ptr_array_add (old, g_ptr_array_steal_index (self->journal.segments, 0));
    }
  g_ptr_array_insert (self->journal.segments, 0, seg);
  return old;
}

/* Rewrites the live events of every sealed segment into one file, which
 * atomically replaces them (see the format description in ep-journal.c). */
static gboolean
compact (EpQueue   *self,
         gboolean   force,
         GError   **error)
{
  g_auto(CompactJob) job = { 0 };
  g_autoptr(GPtrArray) old = NULL;
  g_autofree char *tmp_name = NULL;
  guint32 number;
  guint64 size;
  gboolean ok;
  int fd;

  g_mutex_lock (&self->mutex);
  ok = !self->journal.closed && compact_snapshot (self, force, &job);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    return TRUE;

  number = ((EpJournalSegment *) job.sealed->pdata[job.sealed->len - 1])->number;
  tmp_name = g_strdup_printf ("%08x.journal.tmp", number);
  fd = ep_journal_create_tmp (&self->journal, number, error);
  if (fd < 0)
    return FALSE;
  if (!compact_copy (&job, fd, &size, error) || !ep_journal_sync_file (fd, tmp_name, error))
    {
      ep_journal_abandon_tmp (&self->journal, number, fd);
      return FALSE;
    }

  g_mutex_lock (&self->mutex);
  ok = ep_journal_rename_tmp (&self->journal, number, error);
  if (ok)
    old = compact_install (self, &job, fd, size);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    {
      ep_journal_abandon_tmp (&self->journal, number, fd);
      return FALSE;
    }

  /* The rename must be durable before the superseded files go (a crash in
   * between is fine: the COMPACTED flag makes open delete them). */
  if (!ep_journal_sync_dir (&self->journal, error))
    return FALSE;
  for (guint i = 0; i + 1 < old->len; i++)
    if (!ep_journal_unlink_segment (&self->journal, ((EpJournalSegment *) old->pdata[i])->number,
                                    FALSE, error))
      return FALSE;
  return ep_journal_sync_dir (&self->journal, error);
}

gboolean
ep_queue_reclaim (EpQueue   *self,
                  gboolean   force_compaction,
                  GError   **error)
{
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->journal.read_only)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The queue %s was opened read-only", self->journal.dir);
      return FALSE;
    }
  g_mutex_lock (&self->maintenance_mutex);
  ok = delete_dead_segments (self, error) &&
       compact (self, force_compaction, error) &&
       delete_dead_segments (self, error);
  g_mutex_unlock (&self->maintenance_mutex);
  return ok;
}

/* Bytes that failed their checks at open stay in their (sealed) segment
 * until it is compacted: compact now when that is quick, else leave it to
 * the sync thread, so that the next open does not meet them again. */
void
ep_queue_compact_bad_bytes (EpQueue *self)
{
  g_autoptr(GError) error = NULL;
  guint64 total, live;

  g_mutex_lock (&self->mutex);
  ep_queue_sealed_bytes (self, &total, &live);
  g_mutex_unlock (&self->mutex);
  if (!self->compaction_wanted || live > EP_QUEUE_MAX_OPEN_COMPACTION_BYTES)
    return;
  if (ep_queue_reclaim (self, TRUE, &error))
    {
      self->compaction_wanted = FALSE;
      return;
    }
  g_message ("Queue %s: cannot compact away corrupt records (retrying in a minute): %s",
             self->journal.dir, error->message);
  self->reclaim_not_before = g_get_monotonic_time () + EP_QUEUE_RECLAIM_RETRY_US;
}
