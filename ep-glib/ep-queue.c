/* ep-queue.c: the persistent queue of event records: the EpQueue API
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The queue stores opaque event records in a journal of segment files, hands
 * out the oldest ones that are not in flight and forgets them when told to.
 * The parts, one concern per file (ep-queue-internal.h: the struct they
 * share):
 *   ep-queue.c          this file: the public (library-private) API
 *   ep-queue-thread.c   the sync thread
 *   ep-journal.c        EpJournal: the on-disk format, segment files and
 *                       frames; the only code that opens, writes, syncs,
 *                       renames or unlinks (ep-journal-private.h); it sees
 *                       the queue's mutex, not the queue
 *   ep-queue-index.c    the in-memory index of live events
 *                       (ep-queue-index-private.h) and the counts
 *                       published from it
 *   ep-queue-restore.c  open-time replay: scan, resync, torn tails, feral
 *                       events; the rescue of a deleted directory
 *   ep-queue-compact.c  reclaiming space: dead segments, compaction
 *   ep-queue-expire.c   expiry
 *   ep-queue-settled.c  what the queue deleted on its own, waiting for the
 *                       producer
 *   ep-queue-state.c    small state blobs beside the journal
 *   ep-crc32c.c         the checksum
 *
 * Durability: an append returns once write() returned (the data is in the
 * kernel). The sync thread fdatasyncs dirty segments at most EP_JOURNAL_SYNC_DELAY_US
 * after they became dirty, fsyncs the directory after segment files are
 * created, and deletes/compacts segments. With sync_on_send an append
 * returns once a sync that covers it has completed; concurrent appends share
 * one (group commit, in ep-journal.c), and segments are preallocated and
 * zero-filled ahead of the log by the sync thread.
 */

#include "config.h"

#include <string.h>

#include "ep-crc32c-private.h"
#include "ep-event-private.h"
#include "ep-queue-internal.h"

G_DEFINE_FINAL_TYPE (EpQueue, ep_queue, G_TYPE_OBJECT)

/* Removing ----------------------------------------------------------------- */

/* With the mutex held: forgets @seqs and reserves one tombstone for those
 * that were live (@w: nothing reserved if none was). The tombstone is
 * written by ep_queue_remove_finish() once the mutex is released: the
 * mutex is never held across a removal's write. */
gboolean
ep_queue_remove_begin_locked (EpQueue         *self,
                              const guint64   *seqs,
                              guint            n_seqs,
                              EpJournalWrite  *w,
                              GError         **error)
{
  guint64 *payload = g_new (guint64, MAX (n_seqs, 1));
  guint n = 0;
  EpJournalFrameHeader h;

  memset (w, 0, sizeof *w);
  if (self->journal.read_only)
    {
      g_free (payload);
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The queue %s was opened read-only", self->journal.dir);
      return FALSE;
    }

  for (guint i = 0; i < n_seqs; i++)
    {
      EpQueueEntry *e = ep_queue_index_find (&self->index, seqs[i]);

      if (e == NULL)
        continue;
      ep_queue_forget_entry (self, e);
      payload[n++] = GUINT64_TO_LE (seqs[i]);
    }
  if (n == 0)
    {
      g_free (payload);
      return TRUE;
    }
  ep_queue_tidy_index (self);
  if (ep_queue_reclaim_possible (self))
    {
      self->reclaim_wanted = TRUE;
      g_cond_signal (&self->cond);
    }
  ep_journal_frame_header_init (&h, EP_JOURNAL_FRAME_TOMBSTONE, n * 8, n, 0,
                                ep_crc32c (payload, n * 8), 0);
  return ep_journal_reserve_frame (&self->journal, w, &h, (guint8 *) payload, n * 8, error);
}

/* Without the mutex: writes the tombstone reserved by
 * ep_queue_remove_begin_locked() (if any). */
gboolean
ep_queue_remove_finish (EpQueue         *self,
                        EpJournalWrite  *w,
                        GError         **error)
{
  int errsv;
  gboolean ok;

  if (w->seg == NULL)
    {
      g_clear_pointer (&w->payload, g_free);
      return TRUE;
    }
  errsv = ep_journal_write_reserved (&self->journal, w);
  g_mutex_lock (&self->mutex);
  ok = ep_journal_finish_reserved_locked (&self->journal, w, errsv, error);
  g_mutex_unlock (&self->mutex);
  return ok;
}

/* With the mutex held, kept across the write: for restore (nothing else
 * runs yet). */
gboolean
ep_queue_remove_locked (EpQueue        *self,
                        const guint64  *seqs,
                        guint           n_seqs,
                        GError        **error)
{
  EpJournalWrite w;

  if (!ep_queue_remove_begin_locked (self, seqs, n_seqs, &w, error))
    return FALSE;
  if (w.seg == NULL)
    return TRUE;
  return ep_journal_finish_reserved_locked (&self->journal, &w, ep_journal_write_reserved (&self->journal, &w),
                                            error);
}

/* Without the mutex: ep_queue_remove() and the queue's own removals. */
static gboolean
remove_unlocked (EpQueue        *self,
                 const guint64  *seqs,
                 guint           n_seqs,
                 GError        **error)
{
  EpJournalWrite w;
  gboolean ok;

  g_mutex_lock (&self->mutex);
  if (self->journal.closed)
    {
      g_mutex_unlock (&self->mutex);
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->journal.dir);
      return FALSE;
    }
  ok = ep_queue_remove_begin_locked (self, seqs, n_seqs, &w, error);
  g_mutex_unlock (&self->mutex);
  return ok && ep_queue_remove_finish (self, &w, error);
}

/* GObject ------------------------------------------------------------------ */

static void
ep_queue_dispose (GObject *object)
{
  ep_queue_close (EP_QUEUE (object));

  G_OBJECT_CLASS (ep_queue_parent_class)->dispose (object);
}

static void
ep_queue_finalize (GObject *object)
{
  EpQueue *self = EP_QUEUE (object);

  ep_queue_index_clear (&self->index);
  g_clear_pointer (&self->consent_drops, g_hash_table_unref);
  g_clear_pointer (&self->expired_drops, g_hash_table_unref);
  for (guint i = 0; i < G_N_ELEMENTS (self->settled_ids); i++)
    g_clear_pointer (&self->settled_ids[i], g_ptr_array_unref);
  g_mutex_clear (&self->drops_lock);
  g_clear_pointer (&self->oldest_seg, ep_journal_segment_unref);
  g_mutex_clear (&self->oldest_lock);
  ep_journal_clear (&self->journal);
  g_cond_clear (&self->cond);
  g_mutex_clear (&self->mutex);
  g_mutex_clear (&self->maintenance_mutex);

  G_OBJECT_CLASS (ep_queue_parent_class)->finalize (object);
}

static void
ep_queue_class_init (EpQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ep_queue_dispose;
  object_class->finalize = ep_queue_finalize;
}

static void
ep_queue_init (EpQueue *self)
{
  ep_journal_init (&self->journal, self, &self->mutex, &self->cond);
  ep_queue_index_init (&self->index);
  g_mutex_init (&self->mutex);
  g_mutex_init (&self->maintenance_mutex);
  g_mutex_init (&self->drops_lock);
  g_mutex_init (&self->oldest_lock);
  self->oldest_seq = G_MAXUINT64;
  self->published_first_seq = G_MAXUINT64;
  g_cond_init (&self->cond);
}

/* Public API --------------------------------------------------------------- */

void
ep_queue_item_free (EpQueueItem *item)
{
  if (item == NULL)
    return;
  g_clear_pointer (&item->record, g_bytes_unref);
  g_free (item);
}

EpQueue *
ep_queue_open (const char          *dir,
               guint64              max_bytes,
               gboolean             sync_on_send,
               const char * const  *feral_names,
               GError             **error)
{
  g_autoptr(EpQueue) self = NULL;
  gboolean ok;

  g_return_val_if_fail (dir != NULL && *dir != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (EP_TYPE_QUEUE, NULL);
  self->journal.dir = g_strdup (dir);
  self->max_bytes = max_bytes;
  self->journal.sync_on_send = sync_on_send;
  if (max_bytes > 0)
    self->journal.segment_limit = CLAMP (max_bytes / 4, EP_JOURNAL_MIN_SEGMENT_LIMIT,
                                         EP_JOURNAL_MAX_SEGMENT_LIMIT);
  if (!ep_journal_open_dir (&self->journal, error))
    return NULL;

  g_mutex_lock (&self->mutex);
  ok = ep_queue_restore (self, feral_names, error);
  ep_queue_publish_locked (self);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    return NULL;
  ep_queue_compact_bad_bytes (self);  /* before the sync thread starts */

  self->sync_thread = g_thread_try_new ("ep-queue-sync", ep_queue_sync_thread_main, self,
                                        error);
  if (self->sync_thread == NULL)
    {
      g_prefix_error (error, "Cannot start the queue's sync thread: ");
      return NULL;
    }
  return g_steal_pointer (&self);
}

EpQueue *
ep_queue_open_read_only (const char  *dir,
                         GError     **error)
{
  g_autoptr(EpQueue) self = NULL;
  gboolean ok;

  g_return_val_if_fail (dir != NULL && *dir != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (EP_TYPE_QUEUE, NULL);
  self->journal.dir = g_strdup (dir);
  self->journal.read_only = TRUE;
  if (!ep_journal_open_dir_read_only (&self->journal, error))
    return NULL;

  g_mutex_lock (&self->mutex);
  ok = ep_queue_restore (self, NULL, error);
  ep_queue_publish_locked (self);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    return NULL;
  return g_steal_pointer (&self);
}

/* With the mutex held: checks, writes the frame and indexes it. */
static EpJournalSegment *
append_locked (EpQueue       *self,
               const guint8  *record,
               gsize          record_len,
               guint32        logical_size,
               guint32        payload_crc,
               int            category,
               guint64       *seq_out,
               GError       **error)
{
  EpJournalSegment *seg;
  EpJournalFrameHeader h;
  guint64 offset;

  if (self->journal.closed)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->journal.dir);
      return NULL;
    }
  if (self->storage_lost)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The queue directory %s was deleted and cannot be created again",
                   self->journal.dir);
      return NULL;
    }
  if (self->max_bytes > 0 && self->live_bytes + logical_size > self->max_bytes)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "Storing %u more bytes would exceed the queue budget of %"
                   G_GUINT64_FORMAT " bytes (%" G_GUINT64_FORMAT " in use)",
                   logical_size, self->max_bytes, self->live_bytes);
      return NULL;
    }
  ep_journal_frame_header_init (&h, EP_JOURNAL_FRAME_EVENT, record_len, logical_size, self->journal.next_seq,
                                payload_crc, category < 0 ? 0 : category + 1);
  seg = ep_journal_write_frame (&self->journal, &h, record, record_len, &offset, error);
  if (seg == NULL)
    return NULL;
  ep_queue_add_entry (self, seg, self->journal.next_seq, offset, record_len, logical_size,
                      category < 0 ? EP_QUEUE_CATEGORY_UNKNOWN : (guint) category);
  *seq_out = self->journal.next_seq++;
  ep_queue_publish_locked (self);
  return seg;
}

static void
note_append_result_locked (EpQueue  *self,
                           gboolean  ok)
{
  if (ok)
    self->storing_failing = FALSE;
  else
    {
      self->storing_failing = TRUE;
      self->append_failures++;
    }
  ep_queue_publish_storage_locked (self);
}

/* sync_on_send: waits until a sync that covers the append of @seq (the
 * sync number @ticket) has completed, or takes the append back. */
static gboolean
sync_appended (EpQueue  *self,
               guint64   ticket,
               guint64   seq,
               GError  **error)
{
  if (ep_journal_sync_wait (&self->journal, ticket, error))
    return TRUE;

  remove_unlocked (self, &seq, 1, NULL);
  return FALSE;
}

gboolean
ep_queue_append (EpQueue       *self,
                 const guint8  *record,
                 gsize          record_len,
                 guint32        logical_size,
                 GError       **error)
{
  EpJournalSegment *seg;
  guint32 payload_crc;
  guint64 seq = 0, ticket = 0;
  int category;
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (record != NULL || record_len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (record_len > EP_JOURNAL_MAX_RECORD_LEN)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "A record of %" G_GSIZE_FORMAT " bytes is larger than the queue's "
                   "limit of %u bytes",
                   record_len, EP_JOURNAL_MAX_RECORD_LEN);
      return FALSE;
    }
  payload_crc = ep_crc32c (record, record_len);
  category = ep_event_record_peek_category (record, record_len);

  g_mutex_lock (&self->mutex);
  seg = append_locked (self, record, record_len, logical_size, payload_crc, category, &seq,
                       error);
  /* Recorded in append order, inside the same critical section. */
  note_append_result_locked (self, seg != NULL);
  if (seg != NULL && self->journal.sync_on_send)
    ticket = ep_journal_sync_ticket (&self->journal);
  g_mutex_unlock (&self->mutex);

  if (seg == NULL)
    return FALSE;
  if (!self->journal.sync_on_send)
    return TRUE;
  ok = sync_appended (self, ticket, seq, error);
  if (!ok)
    {
      g_mutex_lock (&self->mutex);
      note_append_result_locked (self, FALSE);
      g_mutex_unlock (&self->mutex);
    }
  return ok;
}

/* Without the mutex: see the published_* fields. */
gboolean
ep_queue_get_storing_failing (EpQueue *self,
                              guint64 *n_failures)
{
  guint64 storage;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);

  storage = __atomic_load_n (&self->published_storage, __ATOMIC_RELAXED);
  if (n_failures != NULL)
    *n_failures = storage >> 1;
  return (storage & 1) != 0;
}

void
ep_queue_set_storing_failing (EpQueue  *self,
                              gboolean  failing)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->storing_failing = !!failing;
  ep_queue_publish_storage_locked (self);
  g_mutex_unlock (&self->mutex);
}

/* A record to read once the mutex is released. */
typedef struct {
  guint64           seq;
  EpJournalSegment *seg; /* owned ref */
  guint64           offset;
  guint32           length;
  guint32           logical_size;
} ReadJob;

static void
read_job_clear (gpointer data)
{
  ReadJob *job = data;

  g_clear_pointer (&job->seg, ep_journal_segment_unref);
}

/* With the mutex held: a job to read @e once the mutex is released. */
static void
add_job (EpQueue      *self,
         EpQueueEntry *e,
         GArray       *jobs)
{
  ReadJob job;

  job.seq = e->seq;
  job.seg = ep_journal_segment_ref (ep_journal_segment_find (&self->journal, e->segment));
  job.offset = ep_queue_entry_offset (e);
  job.length = e->length;
  job.logical_size = e->logical_size;
  g_array_append_val (jobs, job);
}

/* With the mutex held: picks events from position @pos. With @take, only
 * pending ones, within @max_bytes, marking them in flight; pending ones of
 * a blocked category go to @blocked instead. */
static void
collect_jobs (EpQueue  *self,
              gsize     pos,
              guint     max_items,
              gsize     max_bytes,
              gboolean  take,
              GArray   *jobs,
              GArray   *blocked)
{
  guint64 revoked_below[G_N_ELEMENTS (self->revoked_below)];
  guint64 purged_below = __atomic_load_n (&self->purged_below, __ATOMIC_RELAXED);
  gsize bytes = 0;

  for (guint c = 0; c < G_N_ELEMENTS (revoked_below); c++)
    revoked_below[c] = MAX (purged_below,
                            __atomic_load_n (&self->revoked_below[c], __ATOMIC_RELAXED));

  for (; pos < self->index.len && jobs->len < max_items; pos++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, pos);
      EpQueueEntryState state = ep_queue_entry_state (e);

      if (state == EP_QUEUE_ENTRY_REMOVED || (take && state == EP_QUEUE_ENTRY_IN_FLIGHT))
        continue;
      if (take && e->seq < revoked_below[e->category])
        {
          add_job (self, e, blocked);
          continue;
        }
      if (take)
        {
          if (jobs->len > 0 && bytes + e->logical_size > max_bytes)
            break;
          bytes += e->logical_size;
          ep_queue_entry_set_state (e, EP_QUEUE_ENTRY_IN_FLIGHT);
          self->n_in_flight++;
          self->cursor_seq = e->seq + 1;
        }
      add_job (self, e, jobs);
    }
  if (take && jobs->len == 0 && pos >= self->index.len)
    self->cursor_seq = self->journal.next_seq;
  if (take)
    ep_queue_publish_locked (self);
}

/* Reads and checks one record; NULL if it cannot be read back intact. */
static EpQueueItem *
read_item (const ReadJob *job)
{
  gsize total = EP_JOURNAL_HEADER_SIZE + (gsize) job->length;
  guint8 *buf = g_malloc (total);
  EpQueueItem *item;
  EpJournalFrameHeader h;

  if (!ep_journal_pread_all (job->seg->fd, buf, total, job->offset) ||
      ep_journal_frame_check (buf, total, 0, &h) != EP_JOURNAL_FRAME_OK ||
      h.type != EP_JOURNAL_FRAME_EVENT || h.seq != job->seq)
    {
      g_free (buf);
      return NULL;
    }
  item = g_new (EpQueueItem, 1);
  item->seq = job->seq;
  item->logical_size = job->logical_size;
  item->record = g_bytes_new_with_free_func (buf + EP_JOURNAL_HEADER_SIZE, job->length, g_free, buf);
  return item;
}

/* Reads the jobs into @items; discards (with @discard) unreadable ones. */
static void
read_jobs (EpQueue   *self,
           GArray    *jobs,
           GPtrArray *items,
           gboolean   discard)
{
  g_autoptr(GArray) bad = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (guint i = 0; i < jobs->len; i++)
    {
      ReadJob *job = &g_array_index (jobs, ReadJob, i);
      EpQueueItem *item = read_item (job);

      if (item != NULL)
        g_ptr_array_add (items, item);
      else
        g_array_append_val (bad, job->seq);
    }
  if (bad->len == 0 || !discard)
    return;

  g_message ("Queue %s: discarded %u record(s) that could not be read back",
             self->journal.dir, bad->len);
  g_mutex_lock (&self->mutex);
  self->discarded += bad->len;
  ep_queue_publish_locked (self);
  g_mutex_unlock (&self->mutex);
  remove_unlocked (self, (const guint64 *) (gpointer) bad->data, bad->len, NULL);
}

static GArray *
read_job_array_new (void)
{
  GArray *jobs = g_array_new (FALSE, FALSE, sizeof (ReadJob));

  g_array_set_clear_func (jobs, read_job_clear);
  return jobs;
}

/* Consent ------------------------------------------------------------------ */

/* With the mutex held: forgets the events of @jobs and reserves their
 * tombstone in @w (see ep_queue_remove_begin_locked()). */
static gboolean
remove_jobs_begin_locked (EpQueue         *self,
                          GArray          *jobs,
                          EpJournalWrite  *w,
                          GError         **error)
{
  g_autofree guint64 *seqs = g_new (guint64, MAX (jobs->len, 1));

  for (guint i = 0; i < jobs->len; i++)
    seqs[i] = g_array_index (jobs, ReadJob, i).seq;
  return ep_queue_remove_begin_locked (self, seqs, jobs->len, w, error);
}

/* Counts the names of the (deleted) events of @jobs into @counts, reading
 * them from the files the jobs hold open; with @ids, adds their ids. */
static void
count_names (GArray     *jobs,
             GHashTable *counts,
             GPtrArray  *ids)
{
  for (guint i = 0; i < jobs->len; i++)
    {
      g_autoptr(EpQueueItem) item = read_item (&g_array_index (jobs, ReadJob, i));
      const char *name = NULL;
      const char *id;
      gpointer count;

      if (item != NULL)
        name = ep_event_record_peek_name (g_bytes_get_data (item->record, NULL),
                                          g_bytes_get_size (item->record));
      if (item != NULL && ids != NULL &&
          (id = ep_event_record_peek_id (g_bytes_get_data (item->record, NULL),
                                         g_bytes_get_size (item->record))) != NULL)
        g_ptr_array_add (ids, g_strdup (id));
      if (name == NULL)
        name = "";  /* unreadable now: still counted */
      count = g_hash_table_lookup (counts, name);
      g_hash_table_insert (counts, g_strdup (name),
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (count) + 1));
    }
}

static GHashTable *
counts_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

/* ep_queue_release() gave back, or ep_queue_take() met, events of a
 * revoked category: they are deleted; their names wait for
 * ep_queue_steal_consent_drops(). */
static void
drop_blocked (EpQueue *self,
              GArray  *jobs)
{
  g_autoptr(GHashTable) counts = counts_new ();
  g_autoptr(GArray) purged = read_job_array_new ();
  guint64 purged_below = __atomic_load_n (&self->purged_below, __ATOMIC_RELAXED);
  gboolean want = ep_queue_wants_ids (self);
  GPtrArray *ids = want ? g_ptr_array_new_with_free_func (g_free) : NULL;

  /* Purged ones are not consent drops: not counted, reported apart. */
  for (guint i = 0; i < jobs->len; )
    {
      ReadJob *job = &g_array_index (jobs, ReadJob, i);

      if (job->seq < purged_below)
        {
          g_array_append_val (purged, *job);
          job->seg = NULL;   /* moved to @purged */
          g_array_remove_index (jobs, i);
        }
      else
        i++;
    }
  if (purged->len > 0 && want)
    {
      GPtrArray *purged_ids = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GHashTable) ignored = counts_new ();

      count_names (purged, ignored, purged_ids);
      ep_queue_add_settled_ids (self, EP_EVENT_OUTCOME_PURGED, purged_ids);
    }

  /* The names are read without any lock, then added up under drops_lock,
   * which the main context takes to steal them. */
  count_names (jobs, counts, ids);
  ep_queue_add_settled_ids (self, EP_EVENT_OUTCOME_CONSENT_REVOKED, ids);
  ep_queue_add_drops (self, &self->consent_drops, g_steal_pointer (&counts));
  ep_queue_notify (self);
}

GHashTable *
ep_queue_remove_category (EpQueue            *self,
                          EpConsentCategory   category,
                          guint64             below_seq,
                          GError            **error)
{
  g_autoptr(GArray) jobs = read_job_array_new ();
  GHashTable *counts = counts_new ();
  EpJournalWrite w = { 0 };
  gboolean ok = TRUE;

  g_return_val_if_fail (EP_IS_QUEUE (self), counts);
  g_return_val_if_fail (category <= EP_CONSENT_CATEGORY_TARGETING, counts);
  g_return_val_if_fail (error == NULL || *error == NULL, counts);

  g_mutex_lock (&self->mutex);
  below_seq = MIN (below_seq, self->journal.next_seq);
  if (below_seq > self->revoked_below[category])
    __atomic_store_n (&self->revoked_below[category], below_seq, __ATOMIC_RELAXED);
  for (gsize i = 0; i < self->index.len && !self->journal.closed; i++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, i);

      if (e->seq >= below_seq)
        break;
      if (ep_queue_entry_state (e) == EP_QUEUE_ENTRY_PENDING && e->category == category)
        add_job (self, e, jobs);
    }
  if (jobs->len > 0)
    ok = remove_jobs_begin_locked (self, jobs, &w, error);
  g_mutex_unlock (&self->mutex);
  if (ok)
    ok = ep_queue_remove_finish (self, &w, error);

  if (jobs->len > 0)
    {
      GPtrArray *ids = ep_queue_wants_ids (self) ? g_ptr_array_new_with_free_func (g_free) : NULL;

      count_names (jobs, counts, ids);
      ep_queue_add_settled_ids (self, EP_EVENT_OUTCOME_CONSENT_REVOKED, ids);
    }
  if (!ok)
    g_prefix_error (error, "The %u deleted event(s) may come back after a restart: ",
                    jobs->len);
  return counts;
}

guint64
ep_queue_purge (EpQueue  *self,
                guint64   below_seq,
                GError  **error)
{
  g_autoptr(GArray) jobs = read_job_array_new ();
  EpJournalWrite w = { 0 };
  guint64 n_in_flight = 0;
  gboolean ok = TRUE;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);
  g_return_val_if_fail (error == NULL || *error == NULL, 0);

  g_mutex_lock (&self->mutex);
  if (self->journal.closed)
    {
      g_mutex_unlock (&self->mutex);
      g_set_error_literal (error, EP_ERROR, EP_ERROR_CLOSED, "The queue is closed");
      return 0;
    }
  below_seq = MIN (below_seq, self->journal.next_seq);
  if (below_seq > self->purged_below)
    __atomic_store_n (&self->purged_below, below_seq, __ATOMIC_RELAXED);
  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, i);
      EpQueueEntryState state = ep_queue_entry_state (e);

      if (e->seq >= below_seq)
        break;
      if (state == EP_QUEUE_ENTRY_PENDING)
        add_job (self, e, jobs);
      else if (state == EP_QUEUE_ENTRY_IN_FLIGHT)
        n_in_flight++;
    }
  if (jobs->len > 0)
    ok = remove_jobs_begin_locked (self, jobs, &w, error);
  g_mutex_unlock (&self->mutex);
  if (ok && jobs->len > 0)
    ok = ep_queue_remove_finish (self, &w, error);

  if (jobs->len > 0 && ep_queue_wants_ids (self))
    {
      GPtrArray *ids = g_ptr_array_new_with_free_func (g_free);
      g_autoptr(GHashTable) ignored = counts_new ();

      count_names (jobs, ignored, ids);
      ep_queue_add_settled_ids (self, EP_EVENT_OUTCOME_PURGED, ids);
    }
  if (!ok)
    {
      g_prefix_error (error, "The %u purged event(s) may come back after a restart: ",
                      jobs->len);
      return 0;
    }
  return jobs->len + n_in_flight;
}

guint64
ep_queue_get_purged_below (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  /* Without the mutex: the main context calls this. */
  return __atomic_load_n (&self->purged_below, __ATOMIC_RELAXED);
}

guint64
ep_queue_get_revoked_below (EpQueue           *self,
                            EpConsentCategory  category)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);
  g_return_val_if_fail (category <= EP_CONSENT_CATEGORY_TARGETING, 0);

  /* Without the mutex: the main context calls this. */
  return __atomic_load_n (&self->revoked_below[category], __ATOMIC_RELAXED);
}

/* The body of ep_queue_take() and ep_queue_peek(): under the mutex, collects
 * events from the first one with a seq >= @from_seq (with @take: from the
 * cursor, pending ones only, marking them in flight); then reads their
 * records without it. */
static GPtrArray *
hand_out (EpQueue  *self,
          gboolean  take,
          guint64   from_seq,
          guint     max_items,
          gsize     max_bytes)
{
  g_autoptr(GArray) jobs = read_job_array_new ();
  g_autoptr(GArray) blocked = read_job_array_new ();
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);
  g_autoptr(GError) error = NULL;
  EpJournalWrite w = { 0 };
  gboolean ok = TRUE;

  g_mutex_lock (&self->mutex);
  if (take)
    from_seq = self->cursor_seq;
  if (!self->journal.closed)
    collect_jobs (self, ep_queue_index_lower_bound (&self->index, from_seq),
                  max_items, max_bytes, take, jobs, blocked);
  if (blocked->len > 0)
    ok = remove_jobs_begin_locked (self, blocked, &w, &error);
  g_mutex_unlock (&self->mutex);

  if (blocked->len > 0 && (!ok || !ep_queue_remove_finish (self, &w, &error)))
    g_message ("Queue %s: cannot persist the removal of %u event(s) of a blocked consent "
               "category (they may come back after a restart): %s",
               self->journal.dir, blocked->len, error->message);
  read_jobs (self, jobs, items, take);
  if (blocked->len > 0)
    drop_blocked (self, blocked);
  return items;
}

GPtrArray *
ep_queue_take (EpQueue *self,
               guint    max_items,
               gsize    max_bytes)
{
  GPtrArray *items;

  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  /* Expired events are deleted instead of handed out; a batch that held
   * only expired ones is followed by the next, so that an empty batch
   * still means an empty queue. */
  for (;;)
    {
      items = hand_out (self, TRUE, 0, max_items, max_bytes);
      if (ep_queue_expire_items (self, items) == 0 || items->len > 0)
        return items;
      g_ptr_array_unref (items);
    }
}

GPtrArray *
ep_queue_peek (EpQueue *self,
               guint64  after_seq,
               guint    max_items)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  /* after G_MAXUINT64 comes nothing: max_items 0 collects nothing */
  return hand_out (self, FALSE, after_seq + (after_seq < G_MAXUINT64),
                   after_seq < G_MAXUINT64 ? max_items : 0, G_MAXSIZE);
}

gboolean
ep_queue_remove (EpQueue        *self,
                 const guint64  *seqs,
                 guint           n_seqs,
                 GError        **error)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (seqs != NULL || n_seqs == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return remove_unlocked (self, seqs, n_seqs, error);
}

void
ep_queue_release (EpQueue       *self,
                  const guint64 *seqs,
                  guint          n_seqs)
{
  g_autoptr(GArray) revoked = NULL;
  g_autoptr(GError) error = NULL;
  EpJournalWrite w = { 0 };
  gboolean ok = TRUE;

  g_return_if_fail (EP_IS_QUEUE (self));
  g_return_if_fail (seqs != NULL || n_seqs == 0);

  revoked = read_job_array_new ();
  g_mutex_lock (&self->mutex);
  for (guint i = 0; i < n_seqs; i++)
    {
      EpQueueEntry *e = ep_queue_index_find (&self->index, seqs[i]);

      if (e == NULL || ep_queue_entry_state (e) != EP_QUEUE_ENTRY_IN_FLIGHT)
        continue;
      ep_queue_entry_set_state (e, EP_QUEUE_ENTRY_PENDING);
      self->n_in_flight--;
      self->cursor_seq = MIN (self->cursor_seq, seqs[i]);
      /* its consent was revoked (or the queue purged) while it was out: it goes now */
      if (e->seq < __atomic_load_n (&self->revoked_below[e->category], __ATOMIC_RELAXED) ||
          e->seq < __atomic_load_n (&self->purged_below, __ATOMIC_RELAXED))
        add_job (self, e, revoked);
    }
  if (revoked->len > 0 && !self->journal.closed)
    ok = remove_jobs_begin_locked (self, revoked, &w, &error);
  else
    g_array_set_size (revoked, 0);
  ep_queue_publish_locked (self);
  g_mutex_unlock (&self->mutex);

  if (revoked->len == 0)
    return;
  if (!ok || !ep_queue_remove_finish (self, &w, &error))
    g_message ("Queue %s: cannot persist the removal of %u event(s) of a revoked consent "
               "category (the revocation record still applies at the next start): %s",
               self->journal.dir, revoked->len, error->message);
  drop_blocked (self, revoked);
}

/* Without the mutex: see the published_* fields. */
guint64
ep_queue_get_length (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  return __atomic_load_n (&self->published_length, __ATOMIC_RELAXED);
}

/* Without the mutex: see the published_* fields. */
guint64
ep_queue_get_bytes (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  return __atomic_load_n (&self->published_bytes, __ATOMIC_RELAXED);
}

/* Without the mutex: see the published_* fields. */
guint64
ep_queue_get_pending (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  return __atomic_load_n (&self->published_pending, __ATOMIC_RELAXED);
}

guint
ep_queue_get_discarded (EpQueue *self)
{
  guint value;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  value = __atomic_load_n (&self->published_discarded, __ATOMIC_RELAXED);
  return value;
}

guint64
ep_queue_get_duplicates (EpQueue *self)
{
  guint64 value;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  value = __atomic_load_n (&self->published_duplicates, __ATOMIC_RELAXED);
  return value;
}

guint
ep_queue_get_moved_aside (EpQueue *self)
{
  guint value;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  value = __atomic_load_n (&self->published_moved_aside, __ATOMIC_RELAXED);
  return value;
}

/* Without the mutex: see the published_* fields. */
guint64
ep_queue_get_next_seq (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  return __atomic_load_n (&self->published_next_seq, __ATOMIC_RELAXED);
}

/* Without the mutex: see the published_* fields. */
guint64
ep_queue_get_first_seq (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  return __atomic_load_n (&self->published_first_seq, __ATOMIC_RELAXED);
}

/* Without the mutex (the main context asks): reads the oldest event's
 * time from the file with only oldest_lock held meanwhile, and keeps it. */
gint64
ep_queue_get_oldest_time (EpQueue *self)
{
  EpJournalSegment *seg;
  guint64 seq, offset;
  guint32 length;
  gint64 created_us = 0;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  g_mutex_lock (&self->oldest_lock);
  seq = self->oldest_seq;
  if (seq != G_MAXUINT64 && seq == self->oldest_time_seq)
    created_us = self->oldest_time;
  seg = self->oldest_seg != NULL ? ep_journal_segment_ref (self->oldest_seg) : NULL;
  offset = self->oldest_offset;
  length = self->oldest_length;
  g_mutex_unlock (&self->oldest_lock);
  if (created_us != 0 || seg == NULL || g_atomic_int_get (&self->published_closed))
    goto out;
  if (length < 8 || !ep_journal_pread_all (seg->fd, &created_us, 8, offset + EP_JOURNAL_HEADER_SIZE))
    {
      created_us = 0;
      goto out;
    }
  g_mutex_lock (&self->oldest_lock);
  if (self->oldest_seq == seq)
    {
      self->oldest_time_seq = seq;
      self->oldest_time = created_us;
    }
  g_mutex_unlock (&self->oldest_lock);
out:
  g_clear_pointer (&seg, ep_journal_segment_unref);
  return g_atomic_int_get (&self->published_closed) ? 0 : created_us;
}

const char *
ep_queue_get_dir (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  return self->journal.dir;
}

/* Without the mutex (the producer's saved state asks on any thread that
 * counted, with its own lock held): read_only is set before the queue is
 * handed out, published_closed is atomic. */
gboolean
ep_queue_is_writable (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);

  return !self->journal.read_only && !g_atomic_int_get (&self->published_closed);
}

guint64
ep_queue_get_disk_usage_for_testing (EpQueue *self)
{
  guint64 total = 0;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  g_mutex_lock (&self->mutex);
  for (guint i = 0; i < self->journal.segments->len; i++)
    total += ((EpJournalSegment *) self->journal.segments->pdata[i])->size;
  g_mutex_unlock (&self->mutex);
  return total;
}

void
ep_queue_set_segment_size_for_testing (EpQueue *self,
                                       gsize    bytes)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->journal.segment_limit = CLAMP (bytes, 2 * EP_JOURNAL_HEADER_SIZE, EP_JOURNAL_MAX_SEGMENT_LIMIT);
  g_mutex_unlock (&self->mutex);
}

void
ep_queue_set_fault_injection_for_testing (EpQueue *self,
                                          int      errsv,
                                          guint    n_writes)
{
  g_return_if_fail (EP_IS_QUEUE (self));
  g_return_if_fail (errsv > 0 || n_writes == 0);

  g_mutex_lock (&self->mutex);
  self->journal.fault_errno = errsv;
  self->journal.fault_writes = n_writes;
  g_mutex_unlock (&self->mutex);
}

void
ep_queue_set_sync_hook_for_testing (EpQueue         *self,
                                    EpQueueSyncHook  hook,
                                    gpointer         user_data)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->journal.sync_hook = hook;
  self->journal.sync_hook_data = user_data;
  g_mutex_unlock (&self->mutex);
}

void
ep_queue_set_io_hook_for_testing (EpQueue       *self,
                                  EpQueueIoHook  hook,
                                  gpointer       user_data)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->journal.io_hook = hook;
  self->journal.io_hook_data = user_data;
  g_mutex_unlock (&self->mutex);
}

gboolean
ep_queue_sync (EpQueue  *self,
               GError  **error)
{
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->mutex);
  ok = ep_journal_sync_dirty_locked (&self->journal, error);
  g_mutex_unlock (&self->mutex);
  return ok;
}

void
ep_queue_close (EpQueue *self)
{
  GThread *thread;

  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  if (self->journal.closed)
    {
      g_mutex_unlock (&self->mutex);
      return;
    }
  self->journal.closed = TRUE;
  g_atomic_int_set (&self->published_closed, TRUE);
  self->stopping = TRUE;
  thread = g_steal_pointer (&self->sync_thread);
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);

  if (thread != NULL)
    g_thread_join (thread);

  g_mutex_lock (&self->maintenance_mutex);
  g_mutex_lock (&self->mutex);
  ep_journal_close_locked (&self->journal);
  ep_queue_index_clear (&self->index);
  ep_queue_index_init (&self->index);
  g_mutex_lock (&self->oldest_lock);
  g_clear_pointer (&self->oldest_seg, ep_journal_segment_unref);
  self->oldest_seq = G_MAXUINT64;
  g_mutex_unlock (&self->oldest_lock);
  ep_journal_unlock (&self->journal);
  g_mutex_unlock (&self->mutex);
  g_mutex_unlock (&self->maintenance_mutex);
}
