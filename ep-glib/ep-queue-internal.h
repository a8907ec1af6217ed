/* ep-queue-internal.h: what the queue's files share
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The queue's parts: ep-queue.c (the API: append, take, remove, consent,
 * purge, close), ep-queue-thread.c (the sync thread), ep-queue-index.c (the
 * index and the counts published from it), ep-queue-restore.c (open-time
 * replay, the rescue of a deleted directory), ep-queue-compact.c (reclaiming
 * space), ep-queue-expire.c (expiry) and ep-queue-settled.c (what the queue
 * deleted on its own, waiting for the producer). They share struct _EpQueue
 * below; the files themselves are the journal's (EpJournal,
 * ep-journal-private.h), which sees none of this struct. Not installed; for
 * these files only. Unless a comment says otherwise, functions that take an
 * EpQueue are called with its mutex held.
 *
 * The mutex and the producer's main context (issue 18, item 5: the main
 * thread was blocked 12.3 ms at a time in a drain). Applications run GTK
 * there, so the main context never waits for the mutex, which a thread may
 * hold across I/O. What the main context reads is published without it
 * (the published_* fields, atomics), or under a small lock of its own that
 * no one holds across I/O or while waiting for the mutex (drops_lock,
 * oldest_lock); what it would change is handed to the scheduler's worker
 * (putting events back). The exceptions are the calls that do their own
 * I/O on the caller's thread, by contract: a send (ep_queue_append(): the
 * event is in the kernel when it returns; with sync_on_send it also waits
 * for the sync that covers it), a consent revocation
 * (ep_queue_remove_category() and the ep_queue_sync() that makes it
 * durable before set_consent_blocked() returns), ep_queue_peek() (tools),
 * the expiry scan at start (ep_queue_expire(), during init, as the restore)
 * and close (a producer disposed without ep_producer_close_async()). Those
 * take the mutex, and may wait behind a thread that holds it across I/O
 * (ep_queue_get_oldest_time() also reads 8 bytes of a file on the caller's
 * thread, once per oldest event, but without the mutex):
 * - another thread's send, across its frame write (the kernel serialises
 *   writes to one file anyway: ext4 takes the inode's lock for each);
 * - segment rotation, by an append or a removal that needs a new file
 *   (openat, the header's write, fallocate: once per segment);
 * - the sync thread's zero-filling ahead of the log (sync_on_send only, at
 *   most EP_JOURNAL_FILL_CHUNK bytes), its storage check (a few fstat()
 *   calls every EP_QUEUE_STORAGE_CHECK_US while events are queued) and a
 *   rescue after the directory was deleted; the compaction's rename;
 *   close's ftruncate() of the preallocated tail; the ftruncate() that
 *   cuts a failed write off.
 * Never held across I/O: the syncs (dropped for fdatasync/fsync), reads
 * (ep_queue_take() reads without it), a removal's write (its space is
 * reserved with the mutex held and written without it: EpJournalWrite),
 * the deletion of dead segments and the compaction's copy and syncs.
 *
 * A drain (no sends) takes none of the above on the main context. What the
 * main thread still slept on there, traced with perf (bench/README.md,
 * "Issue 18, item 5"), was the GMainContext's own lock, held by threads
 * handing work back with g_source_attach(): no longer, see
 * ep-handoff-private.h. Sends on the main context still wait behind the
 * holders listed above.
 */
#pragma once

#include "ep-journal-private.h"
#include "ep-queue-index-private.h"
#include "ep-queue-private.h"

G_BEGIN_DECLS

#define EP_QUEUE_MAX_COMPACTION_BYTES        (G_GUINT64_CONSTANT (1) << 30)
#define EP_QUEUE_MAX_OPEN_COMPACTION_BYTES   (16u * 1024 * 1024)
#define EP_QUEUE_RECLAIM_RETRY_US            (60 * G_TIME_SPAN_SECOND)
#define EP_QUEUE_STORAGE_CHECK_US            (750 * G_TIME_SPAN_MILLISECOND)

struct _EpQueue {
  GObject parent_instance;

  guint64    max_bytes;       /* 0: no limit */

  GMutex     mutex;           /* guards everything below unless a field says
                               * otherwise: see the top of this file */
  GCond      cond;            /* wakes the sync thread */
  EpQueueIndex index;
  guint64    n_live;          /* events stored and not removed */
  guint64    n_in_flight;
  guint64    live_bytes;      /* their logical bytes */
  guint64    cursor_seq;      /* no pending event has a smaller seq */
  guint      discarded;
  guint64    duplicates;      /* copies of restored events skipped at open */
  guint      moved_aside;     /* odd files named like segments, at open */
  gboolean   reclaim_wanted;
  gboolean   compaction_wanted; /* a sealed segment holds bytes that failed their checks */
  gint64     reclaim_not_before; /* monotonic; after a failed reclaim */
  gboolean   stopping;
  gboolean   storing_failing; /* the latest append failed (or restored state) */
  guint64    revoked_below[4]; /* per entry category (EpConsentCategory; EP_QUEUE_CATEGORY_UNKNOWN's
                               * stays 0), written under the mutex, read with atomic loads
                               * (also without it): its events with a smaller seq are
                               * deleted when taken, see ep_queue_remove_category() */
  guint64    purged_below;    /* like revoked_below, for every category: the events with a
                               * smaller seq are deleted when taken or given back, see
                               * ep_queue_purge() */
  gboolean   storage_lost;    /* the directory or a segment was deleted, not yet rescued */
  gint64     storage_check_due; /* monotonic time of the sync thread's next check */
  EpQueueNotifyFunc notify_func; /* see ep_queue_set_notify_func() */
  gpointer   notify_data;
  guint64    append_failures; /* appends that failed since open */
  /* ep_queue_get_oldest_time() without the mutex: where the oldest event
   * is, set by ep_queue_publish_locked() when it changes, and its time
   * once read. Under oldest_lock, never held across I/O (lock order: mutex,
   * then oldest_lock). */
  GMutex     oldest_lock;
  guint64    oldest_seq;      /* G_MAXUINT64: none */
  EpJournalSegment *oldest_seg; /* owned ref, nullable */
  guint64    oldest_offset;   /* of its frame in oldest_seg */
  guint32    oldest_length;
  guint64    oldest_time_seq; /* the event oldest_time is of; 0: none */
  gint64     oldest_time;

  /* Copies of what the producer's main context reads (length, bytes,
   * pending, first and next seq after every batch; the storage state and
   * the counts of the open for the outage and the properties; closed for
   * the monitor): written with the mutex held by ep_queue_publish_locked()
   * (and ep_queue_publish_storage_locked()), read with atomic loads and
   * without the mutex. The main context never waits for the mutex: see the
   * top of this file. */
  guint64    published_length;
  guint64    published_bytes;
  guint64    published_pending;
  guint64    published_first_seq;
  guint64    published_next_seq;
  guint64    published_storage;  /* append_failures << 1 | storing_failing */
  guint      published_discarded;
  guint64    published_duplicates;
  guint      published_moved_aside;
  gint       published_closed;   /* closed (gint for g_atomic_int_*) */

  /* Never held across I/O, nor while waiting for the mutex (the mutex may
   * be held while taking it: lock order mutex, then drops_lock). */
  GMutex     drops_lock;
  GHashTable *consent_drops;  /* owned, nullable, under drops_lock: name -> count,
                               * see ep_queue_steal_consent_drops() */
  GPtrArray *settled_ids[EP_QUEUE_N_OUTCOMES]; /* owned, nullable, under drops_lock:
                               * (element-type utf8) ids of events the queue deleted on
                               * its own, by EpEventOutcome, see ep_queue_steal_settled_ids() */
  GHashTable *expired_drops;  /* owned, nullable, under drops_lock: name -> count,
                               * see ep_queue_steal_expired() */
  gint64     max_age_us;      /* atomic: see ep_queue_set_max_age(); 0: no limit */
  EpQueueWantsIdsFunc wants_ids_func; /* under the mutex, see ep_queue_set_wants_ids_func() */
  gpointer   wants_ids_data;

  EpJournal  journal;         /* the files, the seq counter and the closed flag
                               * (under the mutex, as the rest) */
  GThread   *sync_thread;     /* owned; joined by close */
  GMutex     maintenance_mutex; /* serialises segment deletion and compaction */
};

/* ep-queue.c: a removal in two steps, the tombstone's space reserved with
 * the mutex held (begin) and written without it (finish); or in one, the
 * mutex held across the write (restore, before anything else runs). */
gboolean ep_queue_remove_begin_locked    (EpQueue             *self,
                                          const guint64       *seqs,
                                          guint                n_seqs,
                                          EpJournalWrite      *w,
                                          GError             **error);
gboolean ep_queue_remove_finish          (EpQueue             *self,
                                          EpJournalWrite      *w,
                                          GError             **error);
gboolean ep_queue_remove_locked          (EpQueue             *self,
                                          const guint64       *seqs,
                                          guint                n_seqs,
                                          GError             **error);

/* ep-queue-thread.c: the sync thread's body (@data: the queue, borrowed:
 * ep_queue_close() joins the thread). Without the mutex. */
gpointer ep_queue_sync_thread_main       (gpointer             data);

/* ep-queue-index.c: the queue's bookkeeping around the index */
void     ep_queue_add_entry              (EpQueue             *self,
                                          EpJournalSegment    *seg,
                                          guint64              seq,
                                          guint64              offset,
                                          guint32              length,
                                          guint32              logical_size,
                                          guint                category);
void     ep_queue_forget_entry           (EpQueue             *self,
                                          EpQueueEntry        *e);
void     ep_queue_tidy_index             (EpQueue             *self);
guint64  ep_queue_first_seq_locked       (EpQueue             *self);
void     ep_queue_publish_locked         (EpQueue             *self);
void     ep_queue_publish_storage_locked (EpQueue             *self);

/* ep-queue-compact.c */
void     ep_queue_sealed_bytes           (EpQueue             *self,
                                          guint64             *total,
                                          guint64             *live);
gboolean ep_queue_reclaim_possible       (EpQueue             *self);
void     ep_queue_compact_bad_bytes      (EpQueue             *self);

/* ep-queue-restore.c */
gboolean ep_queue_restore                (EpQueue             *self,
                                          const char * const  *feral_names,
                                          GError             **error);
gboolean ep_queue_rescue_locked          (EpQueue             *self,
                                          GError             **error);

/* ep-queue-settled.c, without the queue's locks: whether someone wants the
 * ids of deleted events; adds @ids (consumed, nullable) to those waiting for
 * ep_queue_steal_settled_ids(); calls the notify function. */
gboolean ep_queue_wants_ids              (EpQueue             *self);
void     ep_queue_add_settled_ids        (EpQueue             *self,
                                          EpEventOutcome       outcome,
                                          GPtrArray           *ids);
void     ep_queue_notify                 (EpQueue             *self);
/* Adds @counts (name -> count, consumed) to *@into (consent_drops or
 * expired_drops) under drops_lock. */
void     ep_queue_add_drops              (EpQueue             *self,
                                          GHashTable         **into,
                                          GHashTable          *counts);

/* ep-queue-expire.c: deletes the expired events of @items (taken, in
 * flight) and removes them from @items; returns how many. */
guint    ep_queue_expire_items           (EpQueue             *self,
                                          GPtrArray           *items);

G_END_DECLS
