/* ep-queue-index.c: the queue's in-memory index of live events
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each queued event costs one 24-byte EpQueueEntry (where its frame lives,
 * its state) in a chunked array kept in seq order, which is also file order:
 * no giant realloc on the append path, binary search by seq, removed entries
 * trimmed at the head and squeezed out when they dominate. Payloads stay on
 * disk. Every function here is called with the queue mutex held. The
 * counters the main context reads are published from here too.
 */

#include "config.h"

#include "ep-queue-internal.h"

void
ep_queue_index_init (EpQueueIndex *ix)
{
  ix->chunks = g_ptr_array_new_with_free_func (g_free);
  ix->start = 0;
  ix->len = 0;
}

void
ep_queue_index_clear (EpQueueIndex *ix)
{
  g_clear_pointer (&ix->chunks, g_ptr_array_unref);
  ix->start = ix->len = 0;
}

EpQueueEntry *
ep_queue_index_push (EpQueueIndex *ix)
{
  gsize p = ix->start + ix->len;

  if (p / EP_QUEUE_INDEX_CHUNK >= ix->chunks->len)
    g_ptr_array_add (ix->chunks, g_new (EpQueueEntry, EP_QUEUE_INDEX_CHUNK));
  ix->len++;
  return ep_queue_index_at (ix, ix->len - 1);
}

/* The position of the first entry with a seq >= @seq. */
gsize
ep_queue_index_lower_bound (EpQueueIndex *ix,
                            guint64       seq)
{
  gsize lo = 0, hi = ix->len;

  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;

      if (ep_queue_index_at (ix, mid)->seq < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

/* The entry of @seq unless it is unknown or removed. */
EpQueueEntry *
ep_queue_index_find (EpQueueIndex *ix,
                     guint64       seq)
{
  gsize pos = ep_queue_index_lower_bound (ix, seq);
  EpQueueEntry *e;

  if (pos >= ix->len)
    return NULL;
  e = ep_queue_index_at (ix, pos);
  if (e->seq != seq || ep_queue_entry_state (e) == EP_QUEUE_ENTRY_REMOVED)
    return NULL;
  return e;
}

static void
index_drop_unused_chunks (EpQueueIndex *ix)
{
  gsize used = (ix->start + ix->len + EP_QUEUE_INDEX_CHUNK - 1) / EP_QUEUE_INDEX_CHUNK;

  /* keep one spare chunk so that an append at a chunk boundary does not
   * allocate right after a squeeze */
  if (ix->chunks->len > used + 1)
    g_ptr_array_remove_range (ix->chunks, used + 1, ix->chunks->len - used - 1);
}

/* Forgets removed entries at the head. */
void
ep_queue_index_trim_head (EpQueueIndex *ix)
{
  while (ix->len > 0 && ep_queue_entry_state (ep_queue_index_at (ix, 0)) == EP_QUEUE_ENTRY_REMOVED)
    {
      ix->start++;
      ix->len--;
      if (ix->start == EP_QUEUE_INDEX_CHUNK)
        {
          g_ptr_array_remove_index (ix->chunks, 0);
          ix->start = 0;
        }
    }
  if (ix->len == 0 && ix->start > 0)
    {
      ix->start = 0;
      index_drop_unused_chunks (ix);
    }
}

/* Moves the live entries together, in place, when holes dominate. */
void
ep_queue_index_squeeze (EpQueueIndex *ix,
                        guint64       n_live)
{
  gsize w = 0;

  if (ix->len - n_live <= MAX (n_live, 2 * EP_QUEUE_INDEX_CHUNK))
    return;
  for (gsize r = 0; r < ix->len; r++)
    {
      EpQueueEntry *e = ep_queue_index_at (ix, r);

      if (ep_queue_entry_state (e) != EP_QUEUE_ENTRY_REMOVED)
        *ep_queue_index_at (ix, w++) = *e;
    }
  ix->len = w;
  index_drop_unused_chunks (ix);
}

/* Bookkeeping of live events ----------------------------------------------- */

void
ep_queue_forget_entry (EpQueue      *self,
                       EpQueueEntry *e)
{
  EpJournalSegment *seg = ep_journal_segment_find (&self->journal, e->segment);

  if (ep_queue_entry_state (e) == EP_QUEUE_ENTRY_IN_FLIGHT)
    self->n_in_flight--;
  ep_queue_entry_set_state (e, EP_QUEUE_ENTRY_REMOVED);
  self->n_live--;
  self->live_bytes -= e->logical_size;
  if (seg != NULL)
    {
      seg->live--;
      seg->live_frame_bytes -= EP_JOURNAL_FRAME_SIZE (e->length);
    }
}

void
ep_queue_add_entry (EpQueue          *self,
                    EpJournalSegment *seg,
                    guint64           seq,
                    guint64           offset,
                    guint32           length,
                    guint32           logical_size,
                    guint             category)
{
  EpQueueEntry *e = ep_queue_index_push (&self->index);

  e->seq = seq;
  e->segment = seg->number;
  e->offset_state = (guint32) offset | EP_QUEUE_ENTRY_PENDING;
  e->length = length;
  e->category = category;
  e->unused = 0;
  e->logical_size = logical_size;
  seg->live++;
  seg->live_frame_bytes += EP_JOURNAL_FRAME_SIZE (length);
  self->n_live++;
  self->live_bytes += logical_size;
}

void
ep_queue_tidy_index (EpQueue *self)
{
  ep_queue_index_trim_head (&self->index);
  ep_queue_index_squeeze (&self->index, self->n_live);
  ep_queue_publish_locked (self);
}

/* The seq of the oldest event not removed (G_MAXUINT64 if none). Once the
 * index is tidy its head is live: this is O(1) then. */
static EpQueueEntry *
first_entry_locked (EpQueue *self)
{
  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, i);

      if (ep_queue_entry_state (e) != EP_QUEUE_ENTRY_REMOVED)
        return e;
    }
  return NULL;
}

guint64
ep_queue_first_seq_locked (EpQueue *self)
{
  EpQueueEntry *e = first_entry_locked (self);

  return e != NULL ? e->seq : G_MAXUINT64;
}

/* Tells ep_queue_get_oldest_time() where the oldest event is now. */
static void
publish_oldest_locked (EpQueue      *self,
                       EpQueueEntry *e)
{
  EpJournalSegment *seg = e != NULL ? ep_journal_segment_find (&self->journal, e->segment) : NULL;

  g_mutex_lock (&self->oldest_lock);
  g_clear_pointer (&self->oldest_seg, ep_journal_segment_unref);
  self->oldest_seq = e != NULL ? e->seq : G_MAXUINT64;
  if (seg != NULL)
    {
      self->oldest_seg = ep_journal_segment_ref (seg);
      self->oldest_offset = ep_queue_entry_offset (e);
      self->oldest_length = e->length;
    }
  g_mutex_unlock (&self->oldest_lock);
}

/* Makes the counters readable without the mutex (see the published_*
 * fields): called by whatever changes them, before it unlocks. */
void
ep_queue_publish_locked (EpQueue *self)
{
  __atomic_store_n (&self->published_length, self->n_live, __ATOMIC_RELAXED);
  __atomic_store_n (&self->published_bytes, self->live_bytes, __ATOMIC_RELAXED);
  __atomic_store_n (&self->published_pending, self->n_live - self->n_in_flight, __ATOMIC_RELAXED);
  EpQueueEntry *first = first_entry_locked (self);
  guint64 first_seq = first != NULL ? first->seq : G_MAXUINT64;

  if (first_seq != __atomic_load_n (&self->published_first_seq, __ATOMIC_RELAXED) ||
      (first != NULL && self->oldest_seg == NULL))
    publish_oldest_locked (self, first);
  __atomic_store_n (&self->published_first_seq, first_seq, __ATOMIC_RELAXED);
  __atomic_store_n (&self->published_next_seq, self->journal.next_seq, __ATOMIC_RELAXED);
  ep_queue_publish_storage_locked (self);
  __atomic_store_n (&self->published_discarded, self->discarded, __ATOMIC_RELAXED);
  __atomic_store_n (&self->published_duplicates, self->duplicates, __ATOMIC_RELAXED);
  __atomic_store_n (&self->published_moved_aside, self->moved_aside, __ATOMIC_RELAXED);
}

/* The storage state alone (ep_queue_get_storing_failing()): one word, so
 * that a reader sees the failure count and the flag of the same moment. */
void
ep_queue_publish_storage_locked (EpQueue *self)
{
  __atomic_store_n (&self->published_storage,
                    self->append_failures << 1 | (self->storing_failing ? 1 : 0),
                    __ATOMIC_RELAXED);
}
