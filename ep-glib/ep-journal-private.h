/* ep-journal-private.h: the queue's journal: the format, EpJournal
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The files of a queue: its directory, the segment files and their frames,
 * what is written and not yet synced, the group commit. ep-journal.c is the
 * only code that opens, writes, syncs, renames or unlinks them; the on-disk
 * format is described at its top. The queue (ep-queue-internal.h) owns one
 * EpJournal and decides; the journal knows of the queue only its mutex, the
 * condition that wakes its sync thread and its pointer for the test hooks.
 * Unless a comment says otherwise, functions that take an EpJournal are
 * called with that mutex held. Not installed; for the queue's files (and
 * tests that need the format's sizes) only.
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
#define EP_JOURNAL_SYNC_DELAY_US             (250 * G_TIME_SPAN_MILLISECOND)
#define EP_JOURNAL_SYNC_REJOIN_MAX_US        (1 * G_TIME_SPAN_MILLISECOND)
/* sync_on_send: the sync thread keeps EP_JOURNAL_FILL_AHEAD bytes past the
 * end of the log zero-filled (written and synced), EP_JOURNAL_FILL_CHUNK
 * bytes at a time. */
#define EP_JOURNAL_FILL_AHEAD                (1024u * 1024)
#define EP_JOURNAL_FILL_CHUNK                (256u * 1024)
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
} EpJournalSegment;

/* The queue's files: the directory, its segments, what is written and not
 * yet synced, the group commit. Owned by the queue (EpQueue.journal) and
 * guarded by its mutex (@lock); ep-journal.c works on it, the queue's other
 * files read the directory, the segments and the limits. */
typedef struct {
  GMutex    *lock;            /* the queue's mutex (borrowed): guards the rest */
  GCond     *wake;            /* the queue's (borrowed): wakes its sync thread */
  EpQueue   *owner;           /* unowned: passed to the test hooks */
  guint64    next_seq;        /* the next event's seq: every frame written so far
                               * has a smaller one */
  gboolean   closed;          /* ep_queue_close() began: no new segment, no
                               * zero-fill; the queue refuses appends */
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

/* A frame written without the mutex into space reserved with it (see
 * ep_journal_reserve_frame()). */
typedef struct {
  EpJournalSegment     *seg;          /* owned ref; NULL: nothing reserved */
  guint64               offset;
  guint64               frame_len;
  EpJournalFrameHeader  header;
  guint8               *payload;      /* owned */
  gsize                 payload_len;
  int                   fault_errno;  /* tests: ..._set_fault_injection_for_testing() hit this one */
} EpJournalWrite;

typedef enum {
  EP_JOURNAL_FRAME_OK,
  EP_JOURNAL_FRAME_BAD,
  EP_JOURNAL_FRAME_NEWER,
} EpJournalFrameCheck;

/* ep-journal.c: files and frames; every call that touches the disk */
void                ep_journal_init                   (EpJournal                   *self,
                                                       EpQueue                     *owner,
                                                       GMutex                      *lock,
                                                       GCond                       *wake);
void                ep_journal_clear                  (EpJournal                   *self);
void                ep_journal_close_locked           (EpJournal                   *self);
void                ep_journal_unlock                 (EpJournal                   *self);
void                ep_journal_set_error              (GError                     **error,
                                                       int                          errsv,
                                                       const char                  *what,
                                                       const char                  *path);
char               *ep_journal_segment_name           (guint32                      number);
gboolean            ep_journal_parse_segment_name     (const char                  *name,
                                                       gboolean                     tmp,
                                                       guint32                     *number);
void                ep_journal_frame_header_init      (EpJournalFrameHeader        *h,
                                                       guint8                       type,
                                                       guint32                      length,
                                                       guint32                      logical_size,
                                                       guint64                      seq,
                                                       guint32                      payload_crc,
                                                       guint8                       category);
EpJournalFrameCheck ep_journal_frame_check            (const guint8                *data,
                                                       gsize                        size,
                                                       gsize                        off,
                                                       EpJournalFrameHeader        *out);
void                ep_journal_segment_header_init    (EpJournalSegmentHeader      *h,
                                                       guint32                      flags,
                                                       guint64                      base_seq);
EpJournalSegment   *ep_journal_segment_new            (int                          fd,
                                                       guint32                      number);
EpJournalSegment   *ep_journal_segment_ref            (EpJournalSegment            *seg);
void                ep_journal_segment_unref          (gpointer                     seg);
EpJournalSegment   *ep_journal_active_segment         (EpJournal                   *self);
EpJournalSegment   *ep_journal_segment_find           (EpJournal                   *self,
                                                       guint32                      number);
gboolean            ep_journal_pread_all              (int                          fd,
                                                       void                        *buf,
                                                       gsize                        len,
                                                       guint64                      offset);
EpJournalSegment   *ep_journal_create_segment         (EpJournal                   *self,
                                                       guint32                      number,
                                                       guint32                      flags,
                                                       GError                     **error);
EpJournalSegment   *ep_journal_write_frame            (EpJournal                   *self,
                                                       EpJournalFrameHeader        *header,
                                                       const guint8                *payload,
                                                       gsize                        payload_len,
                                                       guint64                     *offset_out,
                                                       GError                     **error);
gboolean            ep_journal_reserve_frame          (EpJournal                   *self,
                                                       EpJournalWrite              *w,
                                                       const EpJournalFrameHeader  *header,
                                                       guint8                      *payload,
                                                       gsize                        payload_len,
                                                       GError                     **error);
int                 ep_journal_write_reserved         (EpJournal                   *self,
                                                       EpJournalWrite              *w);
gboolean            ep_journal_finish_reserved_locked (EpJournal                   *self,
                                                       EpJournalWrite              *w,
                                                       int                          errsv,
                                                       GError                     **error);
gboolean            ep_journal_sync_dirty_locked      (EpJournal                   *self,
                                                       GError                     **error);
guint64             ep_journal_sync_ticket            (EpJournal                   *self);
gboolean            ep_journal_sync_wait              (EpJournal                   *self,
                                                       guint64                      ticket,
                                                       GError                     **error);
void                ep_journal_fill_locked            (EpJournal                   *self);
gboolean            ep_journal_sync_file              (int                          fd,
                                                       const char                  *name,
                                                       GError                     **error);
gboolean            ep_journal_sync_dir               (EpJournal                   *self,
                                                       GError                     **error);
gboolean            ep_journal_unlink_segment         (EpJournal                   *self,
                                                       guint32                      number,
                                                       gboolean                     tmp,
                                                       GError                     **error);
gboolean            ep_journal_unlink                 (EpJournal                   *self,
                                                       const char                  *name,
                                                       GError                     **error);
int                 ep_journal_open_segment           (EpJournal                   *self,
                                                       const char                  *name,
                                                       guint64                     *size,
                                                       GError                     **error);
gboolean            ep_journal_truncate               (EpJournal                   *self,
                                                       EpJournalSegment            *seg,
                                                       guint64                      size,
                                                       GError                     **error);
int                 ep_journal_create_tmp             (EpJournal                   *self,
                                                       guint32                      number,
                                                       GError                     **error);
gboolean            ep_journal_write_at               (int                          fd,
                                                       const guint8                *data,
                                                       gsize                        len,
                                                       guint64                      offset,
                                                       GError                     **error);
gboolean            ep_journal_rename_tmp             (EpJournal                   *self,
                                                       guint32                      number,
                                                       GError                     **error);
gboolean            ep_journal_rename_segment         (EpJournal                   *self,
                                                       guint32                      from,
                                                       guint32                      to,
                                                       GError                     **error);
void                ep_journal_abandon_tmp            (EpJournal                   *self,
                                                       guint32                      number,
                                                       int                          fd);
gboolean            ep_journal_open_dir               (EpJournal                   *self,
                                                       GError                     **error);
gboolean            ep_journal_open_dir_read_only     (EpJournal                   *self,
                                                       GError                     **error);
gboolean            ep_journal_move_aside             (EpJournal                   *self,
                                                       const char                  *name,
                                                       GError                     **error);
gboolean            ep_journal_storage_lost           (EpJournal                   *self);
gboolean            ep_journal_reopen_dir             (EpJournal                   *self,
                                                       GError                     **error);

G_END_DECLS
