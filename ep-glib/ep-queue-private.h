/* ep-queue-private.h: the persistent queue of event records (a GVariant journal)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The only part of ep-glib that touches the queue's journal files. Stores
 * opaque event records (see ep-event-private.h) in order, hands out the oldest
 * ones that are not in flight, and forgets them only when told to.
 *
 * Thread safety: every function may be called from any thread; an internal
 * mutex serialises them. No function emits signals or touches a GMainContext.
 * ep_queue_append() is on the application's send path: one write(2) (or
 * writev) and O(1) bookkeeping, never a rewrite, never an fsync unless
 * sync_on_send.
 */
#pragma once

#include <glib-object.h>

#include <ep-glib/ep-error.h>
#include <ep-glib/ep-types.h>

G_BEGIN_DECLS

#define EP_TYPE_QUEUE (ep_queue_get_type ())
G_DECLARE_FINAL_TYPE (EpQueue, ep_queue, EP, QUEUE, GObject)

/* An event handed out by ep_queue_take() / ep_queue_peek(). */
typedef struct {
  guint64  seq;           /* the queue's handle of this event, increasing in send order */
  GBytes  *record;        /* the event record, as given to ep_queue_append() */
  guint32  logical_size;  /* as given to ep_queue_append() */
} EpQueueItem;

void        ep_queue_item_free       (EpQueueItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpQueueItem, ep_queue_item_free)

/* Opens (creating with mode 0700 if needed) the queue in @dir, takes the
 * advisory lock and restores every intact record in order.
 * - @max_bytes: budget of logical bytes (what ep_queue_get_bytes() counts);
 *   0 means no limit.
 * - @sync_on_send: fdatasync before ep_queue_append() returns.
 * - @feral_names: (nullable): records whose event name is in this list are
 *   removed during open (persistently).
 * Errors: EP_ERROR_QUEUE_LOCKED when another open queue (any process,
 * including this one) holds the lock; EP_ERROR_STORAGE when the directory
 * cannot be created/opened/locked or a file has a newer format version (that
 * file is left untouched). Corrupt or torn records are not errors: they are
 * skipped, counted (ep_queue_get_discarded()) and logged once with g_warning;
 * then their bytes are dropped (compaction, during the open when the queue is
 * small, else soon after in the background), so a later open does not count
 * them again. */
EpQueue    *ep_queue_open            (const char          *dir,
                                      guint64              max_bytes,
                                      gboolean             sync_on_send,
                                      const char * const  *feral_names,
                                      GError             **error);

/* Opens the queue in @dir (which must exist) for reading only, whether
 * another queue (in any process) holds it or not: takes no lock, writes
 * nothing, starts no thread. The result is a snapshot of the directory at
 * the time of the call (length, bytes, oldest event, ep_queue_peek());
 * appends and removals fail with EP_ERROR_STORAGE. Errors: EP_ERROR_STORAGE
 * (no such directory, unreadable, a newer format). */
EpQueue    *ep_queue_open_read_only  (const char          *dir,
                                      GError             **error);

/* Appends one record. When it returns TRUE the record is in the kernel
 * (survives SIGKILL) and will reach stable storage within one second (a
 * background thread fdatasyncs), or before return with sync_on_send.
 * Errors: EP_ERROR_BUDGET_EXCEEDED (over max_bytes), EP_ERROR_STORAGE (I/O
 * error, disk full, file size limit; nothing partial stays visible),
 * EP_ERROR_CLOSED (after ep_queue_close()). */
gboolean    ep_queue_append          (EpQueue             *self,
                                      const guint8        *record,
                                      gsize                record_len,
                                      guint32              logical_size,
                                      GError             **error);

/* Hands out up to @max_items of the oldest events that are not in flight,
 * whose logical sizes add up to at most @max_bytes (at least one event is
 * returned when any is pending, whatever its size), and marks them in flight.
 * Reads the records from disk (pread): call it off the main thread when the
 * caller cares. Returns (element-type EpQueueItem) an array, possibly empty,
 * never NULL; a record that can no longer be read is discarded and counted. */
GPtrArray  *ep_queue_take            (EpQueue             *self,
                                      guint                max_items,
                                      gsize                max_bytes);

/* Like ep_queue_take() but does not mark anything in flight: up to @max_items
 * queued events (in flight or not) with seq > @after_seq, oldest first. */
GPtrArray  *ep_queue_peek            (EpQueue             *self,
                                      guint64              after_seq,
                                      guint                max_items);

/* Forgets events for good (confirmed, or refused by the consumer). Unknown
 * seqs are ignored. Persistent: after a restart they are not restored.
 * Returns FALSE with EP_ERROR_STORAGE if the removal could not be written
 * (the events are then forgotten in memory and may come back after a
 * restart: a duplicate, never a loss). */
gboolean    ep_queue_remove          (EpQueue             *self,
                                      const guint64       *seqs,
                                      guint                n_seqs,
                                      GError             **error);

/* Puts in-flight events back: they are handed out again, in their order;
 * those of a category revoked while they were out are deleted instead (see
 * ep_queue_remove_category()). Blocking then: writes their removal. */
void        ep_queue_release         (EpQueue             *self,
                                      const guint64       *seqs,
                                      guint                n_seqs);

guint64     ep_queue_get_length      (EpQueue             *self);   /* events stored and not removed */
guint64     ep_queue_get_bytes       (EpQueue             *self);   /* their logical bytes */
guint64     ep_queue_get_pending     (EpQueue             *self);   /* of those, not in flight */
guint       ep_queue_get_discarded   (EpQueue             *self);   /* corrupt records discarded at open */
/* Copies of restored events skipped at open (segment files copied or renamed
 * by hand), and files named like segments that are not segment files (a
 * directory, a file too large) moved aside as "*.odd" at open. */
guint64     ep_queue_get_duplicates  (EpQueue             *self);
guint       ep_queue_get_moved_aside (EpQueue             *self);
guint64     ep_queue_get_next_seq    (EpQueue             *self);   /* every event appended so far has a smaller seq */
guint64     ep_queue_get_first_seq   (EpQueue             *self);   /* oldest queued event's seq; G_MAXUINT64 if empty */
/* created_us of the oldest queued event (the first 8 bytes of a record are
 * its created_us, a host-order gint64: the GVariant "(x...)" layout); 0 if empty */
gint64      ep_queue_get_oldest_time (EpQueue             *self);
const char *ep_queue_get_dir         (EpQueue             *self);
/* Whether the queue can still be written: FALSE once closed or if opened
 * read-only. Any thread, without the mutex. */
gboolean    ep_queue_is_writable     (EpQueue             *self);

/* Whether the latest append failed, in the order appends happened (or, until
 * the next append, the state set with ep_queue_set_storing_failing(): a
 * storage outage restored at start). @n_failures: (out) (optional): appends
 * that failed since open. */
gboolean    ep_queue_get_storing_failing (EpQueue         *self,
                                          guint64         *n_failures);
void        ep_queue_set_storing_failing (EpQueue         *self,
                                          gboolean         failing);

/* Called from a thread of the queue or of a caller (no lock held) when the
 * queue's state changed on its own: the directory or a segment file was
 * deleted under the queue (an append failure is counted, see
 * ep_queue_get_storing_failing()) and the queued events were stored again
 * in the directory created again (or that failed); or ep_queue_take()
 * deleted events of a blocked consent category (see
 * ep_queue_steal_consent_drops()). */
typedef void (*EpQueueNotifyFunc) (gpointer user_data);

/* Sets the function above; call it before anything else uses the queue. */
void        ep_queue_set_notify_func (EpQueue           *self,
                                      EpQueueNotifyFunc  func,
                                      gpointer           user_data);

/* Consent revocation. Each event's consent category is known without
 * reading payloads: ep_queue_append() reads it from the record's headers
 * and keeps it in the frame header and the index.
 *
 * ep_queue_remove_category() deletes (persistently) the queued events of
 * @category whose seq is below @below_seq (G_MAXUINT64: every event
 * appended so far) and that are not in flight; the in-flight ones may
 * complete, but those given back by ep_queue_release() are deleted then
 * (or when ep_queue_take() meets them; their names then wait for
 * ep_queue_steal_consent_drops(), and the notify function is called), also
 * after the category was unblocked: the events stored before a revocation
 * never leave after it. Returns (element-type utf8 guint) the deleted
 * events' names with their counts, never NULL; @error is set if the
 * deletion could not be written (the events are gone from memory but may
 * come back after a restart). The deletions are written, not synced, and
 * the revocation itself lives in memory only: the caller persists
 * ep_queue_get_revoked_below() (a state blob) and applies it again at the
 * next start. Blocking: reads the deleted records' names. */
GHashTable *ep_queue_remove_category     (EpQueue            *self,
                                          EpConsentCategory   category,
                                          guint64             below_seq,
                                          GError            **error);
/* Purge: deletes (persistently) every queued event whose seq is below
 * @below_seq (G_MAXUINT64: every event appended so far), whatever its
 * category, and that is not in flight; those in flight are deleted when
 * ep_queue_release() gives them back or ep_queue_take() meets them (their
 * ids then wait for ep_queue_steal_settled_ids(), EP_EVENT_OUTCOME_PURGED,
 * and the notify function is called), never handed out again. Returns the
 * number of events deleted now plus those in flight it condemned. As with
 * a revocation, the purge itself lives in memory: the caller persists
 * ep_queue_get_purged_below() and applies it again at the next start.
 * The deletions are written, not synced. Blocking. */
guint64     ep_queue_purge               (EpQueue            *self,
                                          guint64             below_seq,
                                          GError            **error);
/* The seq below which every event is purged (0: none). */
guint64     ep_queue_get_purged_below    (EpQueue            *self);
/* The seq below which @category's events are revoked (0: none). */
guint64     ep_queue_get_revoked_below   (EpQueue            *self,
                                          EpConsentCategory   category);
/* The events deleted later by ep_queue_take() (see above): (transfer full)
 * (nullable) name -> count, NULL if none since the last call. */
GHashTable *ep_queue_steal_consent_drops (EpQueue            *self);

/* Expiry (ep-queue-expire.c). Events whose created_us (see
 * ep_queue_get_oldest_time()) is more than @max_age_us before now are
 * deleted (persistently) instead of being handed out by ep_queue_take():
 * their names wait for ep_queue_steal_expired(), their ids for
 * ep_queue_steal_settled_ids() (EP_EVENT_OUTCOME_EXPIRED), and the notify
 * function is called. 0: no limit (the default). Any thread. */
void        ep_queue_set_max_age         (EpQueue            *self,
                                          gint64              max_age_us);
/* Whether @item (taken from @self) is older than the limit. Reads only
 * the record in memory: any thread, the main context too. */
gboolean    ep_queue_item_is_expired     (EpQueue            *self,
                                          EpQueueItem        *item);
/* Deletes the expired events from the oldest up to the first that is not
 * (those out of order wait for ep_queue_take()); returns how many. Meant
 * for start, before anything takes events. Blocking. */
guint64     ep_queue_expire              (EpQueue            *self);
/* (transfer full) (nullable): name -> count of the events deleted as
 * expired since the last call; NULL if none. Never waits for the mutex. */
GHashTable *ep_queue_steal_expired       (EpQueue            *self);

/* Outcomes of the events the queue deletes on its own (consent, and the
 * EpEventOutcome values the producer reports): their ids are collected
 * only while @func (called from any thread, without the queue's locks,
 * before each deletion) says someone wants them, so that a producer
 * nobody listens to reads no ids. */
#define EP_QUEUE_N_OUTCOMES (EP_EVENT_OUTCOME_CONSENT_REVOKED + 1)

typedef gboolean (*EpQueueWantsIdsFunc) (gpointer user_data);

/* Sets the function above; call it before anything else uses the queue. */
void        ep_queue_set_wants_ids_func  (EpQueue             *self,
                                          EpQueueWantsIdsFunc  func,
                                          gpointer             user_data);
/* (transfer full) (nullable) (element-type utf8): the ids of the events
 * deleted with @outcome since the last call, oldest first; NULL if none.
 * Never waits for the mutex (the main context calls it). */
GPtrArray  *ep_queue_steal_settled_ids   (EpQueue             *self,
                                          EpEventOutcome       outcome);

/* fdatasync everything appended so far. Blocking: not for the main thread. */
gboolean    ep_queue_sync            (EpQueue             *self,
                                      GError             **error);

/* Syncs, stops the background sync thread, closes the files and releases the
 * lock. Idempotent; also done by dispose. Later appends fail with
 * EP_ERROR_CLOSED. */
void        ep_queue_close           (EpQueue             *self);

/* Additions for tests, benchmarks and tools. */

/* Bytes of the journal files (live, dead and tombstone records). */
guint64     ep_queue_get_disk_usage_for_testing (EpQueue             *self);

/* Segment files are rotated once they would exceed @bytes (default: a
 * quarter of max_bytes, between 1 and 64 MiB). Small values are for tests. */
void        ep_queue_set_segment_size_for_testing (EpQueue            *self,
                                                   gsize               bytes);

/* Reclaims space now, as the background thread does on its own: deletes
 * segment files without live events (oldest first) and compacts the sealed
 * segments when dead space dominates (or always, with @force_compaction).
 * Blocking. */
gboolean    ep_queue_reclaim         (EpQueue             *self,
                                      gboolean             force_compaction,
                                      GError             **error);

/* The next @n_writes frame writes (appends and removals) fail with @errsv
 * (ENOSPC, EIO...) after writing half of the frame, as a full disk would.
 * @n_writes 0 turns it off. */
void        ep_queue_set_fault_injection_for_testing (EpQueue          *self,
                                                      int               errsv,
                                                      guint             n_writes);

/* Tests: called by sync_on_send's group commit when a sync of the queue's
 * files starts (@done FALSE) and when it has completed (@done TRUE), on the
 * thread that runs it, without the queue's lock (@done TRUE only if the
 * sync succeeded). @next_seq: every record with a smaller seq was written
 * before the sync started. */
typedef void (*EpQueueSyncHook) (EpQueue  *queue,
                                 gboolean  done,
                                 guint64   next_seq,
                                 gpointer  user_data);

void        ep_queue_set_sync_hook_for_testing (EpQueue             *self,
                                                EpQueueSyncHook      hook,
                                                gpointer             user_data);

/* Tests: what a thread is about to write or sync. */
typedef enum {
  EP_QUEUE_IO_EVENT,      /* an append's frame */
  EP_QUEUE_IO_TOMBSTONE,  /* a removal's frame */
  EP_QUEUE_IO_FILL,       /* sync_on_send: zeros ahead of the log (the sync thread) */
  EP_QUEUE_IO_SYNC,       /* the background fdatasync of written segments (the sync
                           * thread; also close and ep_queue_sync()) */
} EpQueueIo;

/* Tests: called on the thread that is about to write (or sync) @what,
 * right before the syscall, holding whatever that thread holds there (the
 * queue's mutex for EP_QUEUE_IO_EVENT and EP_QUEUE_IO_FILL; nothing of the
 * queue's for EP_QUEUE_IO_TOMBSTONE and EP_QUEUE_IO_SYNC). A hook that blocks holds the queue's I/O side
 * there: see tests/test-main-context.c. */
typedef void (*EpQueueIoHook) (EpQueue   *queue,
                               EpQueueIo  what,
                               gpointer   user_data);

void        ep_queue_set_io_hook_for_testing (EpQueue             *self,
                                              EpQueueIoHook        hook,
                                              gpointer             user_data);

G_END_DECLS
