/* ep-journal-private.h: the queue's journal: format constants, the queue struct
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Shared by the files of the queue only (ep-queue*.c, ep-journal.c); the rest
 * of ep-glib sees EpQueue through ep-queue-private.h. The on-disk format is
 * described at the top of ep-journal.c. Unless a comment says otherwise,
 * functions that take an EpQueue are called with its mutex held.
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

#include "ep-queue-private.h"

G_BEGIN_DECLS

#define EP_JOURNAL_FORMAT_VERSION            1
#define EP_JOURNAL_SEGMENT_MAGIC             "EPGQJRNL"
#define EP_JOURNAL_SEGMENT_COMPACTED         (1u << 0)
#define EP_JOURNAL_FRAME_MAGIC               0x52515045u   /* "EPQR" read as little-endian */
#define EP_JOURNAL_FRAME_EVENT               1
#define EP_JOURNAL_FRAME_TOMBSTONE           2
#define EP_JOURNAL_HEADER_SIZE               32
#define EP_JOURNAL_MAX_RECORD_LEN            (16u * 1024 * 1024)
#define EP_JOURNAL_MIN_SEGMENT_LIMIT         (1u * 1024 * 1024)
#define EP_JOURNAL_MAX_SEGMENT_LIMIT         (64u * 1024 * 1024)
#define EP_QUEUE_MAX_COMPACTION_BYTES        (G_GUINT64_CONSTANT (1) << 30)
#define EP_QUEUE_MAX_OPEN_COMPACTION_BYTES   (16u * 1024 * 1024)
#define EP_QUEUE_INDEX_CHUNK                 4096
#define EP_JOURNAL_SYNC_DELAY_US             (250 * G_TIME_SPAN_MILLISECOND)
#define EP_QUEUE_RECLAIM_RETRY_US            (60 * G_TIME_SPAN_SECOND)
#define EP_JOURNAL_SYNC_REJOIN_MAX_US        (1 * G_TIME_SPAN_MILLISECOND)
/* sync_on_send: the sync thread keeps EP_JOURNAL_FILL_AHEAD bytes past the
 * end of the log zero-filled (written and synced), EP_JOURNAL_FILL_CHUNK
 * bytes at a time. */
#define EP_JOURNAL_FILL_AHEAD                (1024u * 1024)
#define EP_JOURNAL_FILL_CHUNK                (256u * 1024)
#define EP_QUEUE_STORAGE_CHECK_US            (750 * G_TIME_SPAN_MILLISECOND)
#define EP_JOURNAL_ALIGN8(n)                 (((n) + 7) & ~(guint64) 7)
#define EP_JOURNAL_FRAME_SIZE(payload_len) \
  (EP_JOURNAL_HEADER_SIZE + EP_JOURNAL_ALIGN8 ((guint64) (payload_len)))

typedef struct {
  char    magic[8];
  guint32 version;
  guint32 flags;
  guint64 base_seq;
  guint32 reserved;
  guint32 header_crc;
} EpJournalSegmentHeader;

typedef struct {
  guint32 magic;
  guint16 version;
  guint8  type;
  guint8  category;      /* event: consent category + 1; 0 if not recorded */
  guint32 length;
  guint32 logical_size;
  guint64 seq;
  guint32 payload_crc;
  guint32 header_crc;
} EpJournalFrameHeader;

G_STATIC_ASSERT (sizeof (EpJournalSegmentHeader) == EP_JOURNAL_HEADER_SIZE);
G_STATIC_ASSERT (sizeof (EpJournalFrameHeader) == EP_JOURNAL_HEADER_SIZE);

/* Where an event lives and what state it is in. */
typedef enum {
  EP_QUEUE_ENTRY_PENDING   = 0,
  EP_QUEUE_ENTRY_IN_FLIGHT = 1,
  EP_QUEUE_ENTRY_REMOVED   = 2,
} EpQueueEntryState;

/* One queued event in memory: 24 bytes, payload on disk. */
typedef struct {
  guint64 seq;
  guint32 segment;       /* number of the segment file holding the frame */
  guint32 offset_state;  /* frame offset (8-aligned) | EpQueueEntryState in the low 3 bits */
  guint32 length : 25;   /* record (payload) length, at most EP_JOURNAL_MAX_RECORD_LEN */
  guint32 category : 2;  /* EpConsentCategory, or EP_QUEUE_CATEGORY_UNKNOWN */
  guint32 unused : 5;
  guint32 logical_size;
} EpQueueEntry;

/* An entry's category when the record does not tell (never removed by
 * ep_queue_remove_category()). */
#define EP_QUEUE_CATEGORY_UNKNOWN            3

G_STATIC_ASSERT (sizeof (EpQueueEntry) == 24);

/* Entries in seq order, removed ones included until trimmed or squeezed. */
typedef struct {
  GPtrArray *chunks;  /* owned: owned arrays of EP_QUEUE_INDEX_CHUNK entries */
  gsize      start;   /* position of entry 0 inside chunks[0] */
  gsize      len;     /* entries, holes included */
} EpQueueIndex;

/* The queue's files: the directory, its segments, what is written and not
 * yet synced, the group commit. Owned by the queue (EpQueue.journal) and
 * guarded by its mutex; ep-journal.c works on it, the queue's other files
 * read the directory, the segments and the limits. */
typedef struct {
  char      *dir;             /* owned */
  int        dir_fd;          /* owned; open until finalize */
  int        lock_fd;         /* owned; holds the flock; -1 once closed */
  gboolean   sync_on_send;
  gboolean   read_only;       /* ep_queue_open_read_only(): no lock, no writes, no thread */
  GPtrArray *segments;        /* owned refs, oldest first; the last is active */
  gsize      segment_limit;   /* rotate the active segment beyond this */
  gint64     dirty_since;     /* monotonic time a segment became dirty; 0 if clean */
  gboolean   dir_dirty;       /* a segment file was created since the last dir fsync */

  int        fault_errno;     /* tests: ep_queue_set_fault_injection_for_testing() */
  guint      fault_writes;

  /* Group commit (sync_on_send): one thread at a time (the leader) runs
   * a sync for everyone; the others wait on sync_cond. Sync number n is
   * the n-th to start; a record written while sync_started was n - 1 is
   * covered by sync n. */
  GCond      sync_cond;       /* broadcast when a sync completes */
  gboolean   sync_running;
  guint64    sync_started;    /* number of the latest sync that started */
  guint64    sync_done;       /* number of the latest sync that completed */
  guint64    sync_failed;     /* number of the latest sync that failed; 0 if none */
  int        sync_errno;      /* ... and its errno */
  GPtrArray *sync_pending;    /* owned refs: segments written since the latest sync started */
  guint      sync_covered;    /* appenders waiting for the running sync */
  guint      sync_next;       /* appenders waiting for the sync after it */
  guint      sync_rejoin;     /* appenders released by the latest sync, expected back */
  gint64     sync_duration;   /* monotonic µs the latest sync took */

  EpQueueSyncHook sync_hook;  /* tests: ep_queue_set_sync_hook_for_testing() */
  gpointer   sync_hook_data;
  EpQueueIoHook io_hook;      /* tests: ep_queue_set_io_hook_for_testing() */
  gpointer   io_hook_data;
  guint      writes_out;      /* reserved frames being written (EpJournalWrite) */
  GCond      writes_cond;     /* broadcast when writes_out drops to 0 */
  gboolean   fill_wanted;     /* sync_on_send: the sync thread should zero-fill
                               * ahead of the log (ep_journal_fill_locked()) */
} EpJournal;

/* One segment file. Reference-counted so that readers can pread() from it
 * without the queue mutex while it is being deleted or replaced. */
typedef struct {
  gint     ref_count;         /* atomic */
  int      fd;                /* owned; closed by the last unref */
  guint32  number;            /* file name "%08x.journal" */
  guint64  base_seq;          /* from the header; 0 if the header is corrupt */
  /* the rest is guarded by the queue mutex */
  guint64  size;              /* end of the last complete frame: appends go here */
  guint64  live;              /* events in this file that are not removed */
  guint64  live_frame_bytes;  /* their frame bytes */
  gboolean dirty;             /* written since the last fdatasync (sync_on_send:
                               * events excepted, group commit syncs those) */
  gboolean writable;          /* may become the active segment (valid header) */
  guint64  allocated;         /* sync_on_send: file size set by preallocation (the
                               * bytes past @size are zeros); 0 if none */
  gboolean prealloc_tried;    /* preallocation was attempted (not retried) */
  guint64  zeroed;            /* sync_on_send: the bytes before this are data or
                               * zeros that were written and synced (no unwritten
                               * extents left); see ep_journal_fill_locked() */
} EpQueueSegment;

struct _EpQueue
{
  GObject parent_instance;

  guint64    max_bytes;       /* 0: no limit */

  GMutex     mutex;           /* guards everything below unless a field says
                               * otherwise: see the top of this file */
  GCond      cond;            /* wakes the sync thread */
  EpQueueIndex index;
  guint64    next_seq;
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
  gboolean   closed;
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
  EpQueueSegment *oldest_seg; /* owned ref, nullable */
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

  EpJournal  journal;         /* the files (under the mutex, as the rest) */
  GThread   *sync_thread;     /* owned; joined by close */
  GMutex     maintenance_mutex; /* serialises segment deletion and compaction */
};

/* A frame written without the mutex into space reserved with it (see
 * ep_journal_reserve_frame()). */
typedef struct {
  EpQueueSegment *seg;          /* owned ref; NULL: nothing reserved */
  guint64         offset;
  guint64         frame_len;
  EpJournalFrameHeader header;
  guint8         *payload;      /* owned */
  gsize           payload_len;
  int             fault_errno;  /* tests: ..._set_fault_injection_for_testing() hit this one */
} EpJournalWrite;

typedef enum {
  EP_JOURNAL_FRAME_OK,
  EP_JOURNAL_FRAME_BAD,
  EP_JOURNAL_FRAME_NEWER,
} EpJournalFrameCheck;

static inline guint64
ep_queue_entry_offset (const EpQueueEntry *e)
{
  return e->offset_state & ~(guint32) 7;
}

static inline EpQueueEntryState
ep_queue_entry_state (const EpQueueEntry *e)
{
  return e->offset_state & 7;
}

static inline void
ep_queue_entry_set_state (EpQueueEntry *e,
                          EpQueueEntryState state)
{
  e->offset_state = (e->offset_state & ~(guint32) 7) | state;
}

static inline EpQueueEntry *
ep_queue_index_at (EpQueueIndex *ix,
                   gsize         i)
{
  gsize p = ix->start + i;

  return &((EpQueueEntry *) ix->chunks->pdata[p / EP_QUEUE_INDEX_CHUNK])[p % EP_QUEUE_INDEX_CHUNK];
}

/* ep-journal.c: files and frames; every call that touches the disk */
void             ep_journal_set_error           (GError         **error,
                                                 int              errsv,
                                                 const char      *what,
                                                 const char      *path);
char            *ep_journal_segment_name        (guint32          number);
gboolean         ep_journal_parse_segment_name  (const char      *name,
                                                 gboolean         tmp,
                                                 guint32         *number);
void             ep_journal_frame_header_init   (EpJournalFrameHeader *h,
                                                 guint8           type,
                                                 guint32          length,
                                                 guint32          logical_size,
                                                 guint64          seq,
                                                 guint32          payload_crc,
                                                 guint8           category);
EpJournalFrameCheck ep_journal_frame_check      (const guint8    *data,
                                                 gsize            size,
                                                 gsize            off,
                                                 EpJournalFrameHeader *out);
void             ep_journal_segment_header_init (EpJournalSegmentHeader *h,
                                                 guint32          flags,
                                                 guint64          base_seq);
EpQueueSegment  *ep_journal_segment_new         (int              fd,
                                                 guint32          number);
EpQueueSegment  *ep_journal_segment_ref         (EpQueueSegment  *seg);
void             ep_journal_segment_unref       (gpointer         seg);
EpQueueSegment  *ep_journal_active_segment      (EpQueue         *self);
EpQueueSegment  *ep_journal_segment_find        (EpQueue         *self,
                                                 guint32          number);
gboolean         ep_journal_pread_all           (int              fd,
                                                 void            *buf,
                                                 gsize            len,
                                                 guint64          offset);
EpQueueSegment  *ep_journal_create_segment      (EpQueue         *self,
                                                 guint32          number,
                                                 guint32          flags,
                                                 GError         **error);
EpQueueSegment  *ep_journal_write_frame         (EpQueue         *self,
                                                 EpJournalFrameHeader *header,
                                                 const guint8    *payload,
                                                 gsize            payload_len,
                                                 guint64         *offset_out,
                                                 GError         **error);
gboolean         ep_journal_reserve_frame       (EpQueue         *self,
                                                 EpJournalWrite  *w,
                                                 const EpJournalFrameHeader *header,
                                                 guint8          *payload,
                                                 gsize            payload_len,
                                                 GError         **error);
int              ep_journal_write_reserved      (EpQueue         *self,
                                                 EpJournalWrite  *w);
gboolean         ep_journal_finish_reserved_locked (EpQueue      *self,
                                                 EpJournalWrite  *w,
                                                 int              errsv,
                                                 GError         **error);
void             ep_journal_wait_writes_locked  (EpQueue         *self);
gboolean         ep_journal_sync_dirty_locked   (EpQueue         *self,
                                                 GError         **error);
guint64          ep_journal_sync_ticket         (EpQueue         *self);
gboolean         ep_journal_sync_wait           (EpQueue         *self,
                                                 guint64          ticket,
                                                 GError         **error);
void             ep_journal_fill_locked         (EpQueue         *self);
void             ep_journal_release_tail        (EpQueue         *self,
                                                 EpQueueSegment  *seg);
gboolean         ep_journal_sync_file           (int              fd,
                                                 const char      *name,
                                                 GError         **error);
gboolean         ep_journal_sync_dir            (EpQueue         *self,
                                                 GError         **error);
gboolean         ep_journal_unlink_segment      (EpQueue         *self,
                                                 guint32          number,
                                                 gboolean         tmp,
                                                 GError         **error);
gboolean         ep_journal_unlink              (EpQueue         *self,
                                                 const char      *name,
                                                 GError         **error);
int              ep_journal_open_segment        (EpQueue         *self,
                                                 const char      *name,
                                                 guint64         *size,
                                                 GError         **error);
gboolean         ep_journal_truncate            (EpQueue         *self,
                                                 EpQueueSegment  *seg,
                                                 guint64          size,
                                                 GError         **error);
int              ep_journal_create_tmp          (EpQueue         *self,
                                                 guint32          number,
                                                 GError         **error);
gboolean         ep_journal_write_at            (int              fd,
                                                 const guint8    *data,
                                                 gsize            len,
                                                 guint64          offset,
                                                 GError         **error);
gboolean         ep_journal_rename_tmp          (EpQueue         *self,
                                                 guint32          number,
                                                 GError         **error);
gboolean         ep_journal_rename_segment      (EpQueue         *self,
                                                 guint32          from,
                                                 guint32          to,
                                                 GError         **error);
void             ep_journal_abandon_tmp         (EpQueue         *self,
                                                 guint32          number,
                                                 int              fd);
gboolean         ep_journal_open_dir            (EpQueue         *self,
                                                 GError         **error);
gboolean         ep_journal_open_dir_read_only  (EpQueue         *self,
                                                 GError         **error);
gboolean         ep_journal_move_aside          (EpQueue         *self,
                                                 const char      *name,
                                                 GError         **error);
gboolean         ep_journal_storage_lost        (EpQueue         *self);
gboolean         ep_journal_reopen_dir          (EpQueue         *self,
                                                 GError         **error);
void             ep_journal_unlock              (EpQueue         *self);
void             ep_journal_close_dir           (EpQueue         *self);

/* ep-queue-index.c: the in-memory index (mutex held) */
void             ep_queue_index_init            (EpQueueIndex    *ix);
void             ep_queue_index_clear           (EpQueueIndex    *ix);
EpQueueEntry    *ep_queue_index_push            (EpQueueIndex    *ix);
gsize            ep_queue_index_lower_bound     (EpQueueIndex    *ix,
                                                 guint64          seq);
EpQueueEntry    *ep_queue_index_find            (EpQueueIndex    *ix,
                                                 guint64          seq);
void             ep_queue_index_trim_head       (EpQueueIndex    *ix);
void             ep_queue_index_squeeze         (EpQueueIndex    *ix,
                                                 guint64          n_live);
void             ep_queue_add_entry             (EpQueue         *self,
                                                 EpQueueSegment  *seg,
                                                 guint64          seq,
                                                 guint64          offset,
                                                 guint32          length,
                                                 guint32          logical_size,
                                                 guint            category);
void             ep_queue_forget_entry          (EpQueue         *self,
                                                 EpQueueEntry    *e);
void             ep_queue_tidy_index            (EpQueue         *self);
guint64          ep_queue_first_seq_locked      (EpQueue         *self);
void             ep_queue_publish_locked        (EpQueue         *self);
void             ep_queue_publish_storage_locked (EpQueue        *self);

/* ep-queue.c */
gboolean         ep_queue_remove_begin_locked   (EpQueue         *self,
                                                 const guint64   *seqs,
                                                 guint            n_seqs,
                                                 EpJournalWrite  *w,
                                                 GError         **error);
gboolean         ep_queue_remove_finish         (EpQueue         *self,
                                                 EpJournalWrite  *w,
                                                 GError         **error);
gboolean         ep_queue_remove_locked         (EpQueue         *self,
                                                 const guint64   *seqs,
                                                 guint            n_seqs,
                                                 GError         **error);

/* ep-queue-compact.c */
void             ep_queue_sealed_bytes          (EpQueue         *self,
                                                 guint64         *total,
                                                 guint64         *live);
gboolean         ep_queue_reclaim_possible      (EpQueue         *self);
void             ep_queue_compact_bad_bytes     (EpQueue         *self);

/* ep-queue-restore.c (mutex held) */
gboolean         ep_queue_restore               (EpQueue             *self,
                                                 const char * const  *feral_names,
                                                 GError             **error);
gboolean         ep_queue_rescue_locked         (EpQueue             *self,
                                                 GError             **error);

/* Without the queue's locks (ep-queue.c, for ep-queue-expire.c): whether
 * someone wants the ids of deleted events; adds @ids (consumed, nullable)
 * to those waiting for ep_queue_steal_settled_ids(); calls the notify
 * function. */
gboolean         ep_queue_wants_ids             (EpQueue        *self);
void             ep_queue_add_settled_ids       (EpQueue        *self,
                                                 EpEventOutcome  outcome,
                                                 GPtrArray      *ids);
void             ep_queue_notify                (EpQueue        *self);
/* Adds @counts (name -> count, consumed) to *@into (consent_drops or
 * expired_drops) under drops_lock. */
void             ep_queue_add_drops             (EpQueue        *self,
                                                 GHashTable    **into,
                                                 GHashTable     *counts);
/* ep-queue-expire.c: deletes the expired events of @items (taken, in
 * flight) and removes them from @items; returns how many. */
guint            ep_queue_expire_items          (EpQueue        *self,
                                                 GPtrArray      *items);

G_END_DECLS
