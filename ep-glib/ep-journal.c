/* ep-journal.c: the queue's journal on disk: segment files and frames
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The only code of ep-glib that opens, writes, syncs, renames or unlinks
 * the queue's files: restore (ep-queue-restore.c) and compaction
 * (ep-queue-compact.c) decide, this file does. The constants and structs
 * of the format are in ep-journal-private.h.
 *
 * On-disk format (version 1)
 * ==========================
 *
 * Every checksum ("crc") below is CRC-32C (Castagnoli, reflected polynomial
 * 0x82F63B78, initial value and final xor 0xFFFFFFFF: "123456789" gives
 * 0xE3069283), the one of iSCSI, ext4 and the SSE4.2 crc32 instruction.
 * Version 1 has not been released; pre-release builds used zlib's CRC-32
 * instead, and their files now fail their checksums (they read as corrupt,
 * are counted as discarded and are not recovered).
 *
 * The queue directory (mode 0700) holds:
 *   lock                  empty; flock(LOCK_EX|LOCK_NB) while a queue is open
 *   XXXXXXXX.journal      segment files (mode 0600), XXXXXXXX = segment
 *                         number, 8 lower-case hex digits; replayed in
 *                         number order; the highest one is the active
 *                         segment, the only one appended to
 *   XXXXXXXX.journal.tmp  a compaction in progress (deleted at open)
 *
 * Every integer is little-endian. A segment starts with a 32-byte header:
 *   0  char[8]  magic "EPGQJRNL"
 *   8  u32      format version (1)
 *   12 u32      flags; bit 0 COMPACTED: this file holds every event that
 *               was live when it was written among those with a seq below
 *               its base seq. A segment with a lower number all of whose
 *               events have seqs below it is a leftover of a compaction
 *               interrupted after its rename, and is deleted at open (if no
 *               kept segment comes in between: see ep-queue-restore.c)
 *   16 u64      base seq: the next seq when the file was created (for a
 *               COMPACTED file, the base seq of the segment that was active
 *               when it was written; earlier builds wrote that of the
 *               newest segment it replaced, a lower bound, also valid)
 *   24 u32      reserved, 0
 *   28 u32      crc of bytes 0..27
 * Later versions must keep this header layout (magic, version, crc) so that
 * this code can recognise them: a segment (or a frame) with a valid checksum
 * and a newer version makes ep_queue_open() fail with EP_ERROR_STORAGE, and
 * nothing in the directory is modified.
 *
 * Then frames, each starting at an 8-byte aligned offset:
 *   0  u32      magic "EPQR"
 *   4  u16      format version (1)
 *   6  u8       type: 1 event, 2 tombstone
 *   7  u8       event: its consent category + 1 (1 NECESSARY, 2 PERFORMANCE,
 *               3 TARGETING), so that ep_queue_remove_category() needs no
 *               payload; 0: not recorded (frames of earlier builds, which
 *               ignore this byte: restore reads the category from the
 *               record's headers); tombstone: 0
 *   8  u32      payload length (unpadded)
 *   12 u32      event: logical size; tombstone: number of seqs
 *   16 u64      event: its seq; tombstone: 0
 *   24 u32      crc of the payload
 *   28 u32      crc of bytes 0..27
 *   32 ...      payload, then zero padding to a multiple of 8, so that the
 *               next frame and every payload stay 8-byte aligned (GVariant
 *               needs aligned data; frames can be found again by scanning)
 * An event payload is the record exactly as given to ep_queue_append()
 * (a normal-form "(xssss)" GVariant, opaque here except for the event name,
 * read with ep_event_record_peek_name() to find feral events).
 * A tombstone payload is an array of u64 seqs of removed events.
 *
 * With sync_on_send, segment files are preallocated: fallocate() gives a new
 * segment (and the active segment after an open) its full size limit at
 * once, so appends write into space the file already has, its size never
 * changes on the send path, and fdatasync() flushes data, not a new size.
 * fallocate() leaves the space as unwritten extents, and an fdatasync()
 * after writing into them also commits their conversion to written ones,
 * which costs more the more blocks a sync covers (on the bench's disk, 4
 * frames: 296 µs, against 158 µs into zero-filled space). So the sync
 * thread keeps the space ahead of the log zero-filled: it writes zeros
 * EP_JOURNAL_FILL_CHUNK bytes at a time, at most EP_JOURNAL_FILL_AHEAD bytes past the end of the
 * log, and syncs them, off the send path (ep_journal_fill_locked()).
 * The preallocated space reads as zeros, which is not a valid frame: restore
 * finds the end of the log there as it finds a torn tail (the frame
 * checksums), and an all-zero tail is not counted as discarded. The unused
 * space is given back (ftruncate() to the end of the last frame) when the
 * segment is sealed by a rotation, when the queue is closed and by restore;
 * deleting a segment deletes its space too.
 *
 * Invariants
 * - A frame is written with one pwritev() at the end of the log in the
 *   active segment; nothing written is ever rewritten in place. A failed or
 *   short write is truncated away before the append returns.
 * - Seqs increase in append order, which is also file order (segment number,
 *   then offset); so the in-memory index, kept in seq order, is also sorted
 *   by location.
 * - A tombstone is always written after (in a segment >= that of) the events
 *   it removes. Hence segment files are deleted oldest first, and only when
 *   they hold no live event: a tombstone is never lost while its event lives.
 * - Compaction copies the live event frames of all sealed segments (frames
 *   are position-independent) into a temporary file flagged COMPACTED,
 *   fsyncs it, renames it over the newest sealed segment, fsyncs the
 *   directory, and only then deletes the older sealed segments. It drops
 *   their tombstones, which is safe: they only name events in sealed
 *   segments, which are either copied (alive) or gone (dead).
 *
 * Restore reads every segment once (mmap), checks both checksums of every
 * frame, and builds the index without allocating per record. A frame that
 * fails its checks is resynchronised by scanning for the next valid frame
 * at 8-byte alignment; the bad span is counted as one discarded record. Bad
 * bytes with no valid frame after them (a torn tail) are truncated away and
 * counted too (unless they are all zero). A segment that keeps bad bytes
 * (a bad span, or a corrupt segment header) is sealed (a new active segment
 * is started if it was the active one) and the sealed segments are
 * compacted, which drops those bytes: during the open when they hold at most
 * EP_QUEUE_MAX_OPEN_COMPACTION_BYTES of live frames, else soon after, by the
 * background thread. So each bad span is counted by one open only.
 *
 * Memory: payloads stay on disk; each queued event costs one 24-byte
 * EpQueueEntry in a chunked array (no giant realloc on the append path).
 *
 * Durability: an append returns once write() returned (the data is in the
 * kernel). A background thread fdatasyncs dirty segments at most
 * EP_JOURNAL_SYNC_DELAY_US after they became dirty, fsyncs the directory after
 * segment files are created, and deletes/compacts segments. With
 * sync_on_send an append returns once a sync that started after its frame
 * was written has completed (group commit: concurrent appends share one
 * fdatasync; see ep_journal_sync_wait()).
 */

#define _GNU_SOURCE 1  /* fallocate */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ep-crc32c-private.h"
#include "ep-journal-private.h"

void
ep_journal_set_error (GError     **error,
                      int          errsv,
                      const char  *what,
                      const char  *path)
{
  g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "%s %s: %s",
               what, path, g_strerror (errsv));
}

char *
ep_journal_segment_name (guint32 number)
{
  return g_strdup_printf ("%08x.journal", number);
}

/* Parses "%08x.journal" (and with @tmp, "%08x.journal.tmp"). */
gboolean
ep_journal_parse_segment_name (const char *name,
                               gboolean    tmp,
                               guint32    *number)
{
  const char *suffix = tmp ? ".journal.tmp" : ".journal";
  guint64 value = 0;

  if (strlen (name) != 8 + strlen (suffix) || strcmp (name + 8, suffix) != 0)
    return FALSE;
  for (guint i = 0; i < 8; i++)
    {
      int digit = g_ascii_xdigit_value (name[i]);

      if (digit < 0 || g_ascii_isupper (name[i]))
        return FALSE;
      value = value * 16 + digit;
    }
  *number = (guint32) value;
  return TRUE;
}

/* Frames ------------------------------------------------------------------- */

void
ep_journal_frame_header_init (EpJournalFrameHeader *h,
                              guint8                type,
                              guint32               length,
                              guint32               logical_size,
                              guint64               seq,
                              guint32               payload_crc,
                              guint8                category)
{
  h->magic = GUINT32_TO_LE (EP_JOURNAL_FRAME_MAGIC);
  h->version = GUINT16_TO_LE (EP_JOURNAL_FORMAT_VERSION);
  h->type = type;
  h->category = category;
  h->length = GUINT32_TO_LE (length);
  h->logical_size = GUINT32_TO_LE (logical_size);
  h->seq = GUINT64_TO_LE (seq);
  h->payload_crc = GUINT32_TO_LE (payload_crc);
  h->header_crc = GUINT32_TO_LE (ep_crc32c (h, EP_JOURNAL_HEADER_SIZE - 4));
}

/* Checks the frame at @off of @data (@size bytes) and decodes its header
 * into @out (host order). */
EpJournalFrameCheck
ep_journal_frame_check (const guint8         *data,
                        gsize                 size,
                        gsize                 off,
                        EpJournalFrameHeader *out)
{
  EpJournalFrameHeader h;

  if (off + EP_JOURNAL_HEADER_SIZE > size)
    return EP_JOURNAL_FRAME_BAD;
  memcpy (&h, data + off, EP_JOURNAL_HEADER_SIZE);
  if (GUINT32_FROM_LE (h.magic) != EP_JOURNAL_FRAME_MAGIC ||
      GUINT32_FROM_LE (h.header_crc) != ep_crc32c (&h, EP_JOURNAL_HEADER_SIZE - 4))
    return EP_JOURNAL_FRAME_BAD;
  out->version = GUINT16_FROM_LE (h.version);
  if (out->version > EP_JOURNAL_FORMAT_VERSION)
    return EP_JOURNAL_FRAME_NEWER;
  out->type = h.type;
  out->category = h.category;
  out->length = GUINT32_FROM_LE (h.length);
  out->logical_size = GUINT32_FROM_LE (h.logical_size);
  out->seq = GUINT64_FROM_LE (h.seq);
  out->payload_crc = GUINT32_FROM_LE (h.payload_crc);
  if (out->version == 0 || size - off - EP_JOURNAL_HEADER_SIZE < out->length ||
      (out->type != EP_JOURNAL_FRAME_EVENT && out->type != EP_JOURNAL_FRAME_TOMBSTONE) ||
      (out->type == EP_JOURNAL_FRAME_TOMBSTONE && out->length != (guint64) out->logical_size * 8))
    return EP_JOURNAL_FRAME_BAD;
  if (out->payload_crc != ep_crc32c (data + off + EP_JOURNAL_HEADER_SIZE, out->length))
    return EP_JOURNAL_FRAME_BAD;
  return EP_JOURNAL_FRAME_OK;
}

/* Segments ----------------------------------------------------------------- */

EpJournalSegment *
ep_journal_segment_new (int     fd,
                        guint32 number)
{
  EpJournalSegment *seg = g_new0 (EpJournalSegment, 1);

  seg->ref_count = 1;
  seg->fd = fd;
  seg->number = number;
  return seg;
}

EpJournalSegment *
ep_journal_segment_ref (EpJournalSegment *seg)
{
  g_atomic_int_inc (&seg->ref_count);
  return seg;
}

void
ep_journal_segment_unref (gpointer data)
{
  EpJournalSegment *seg = data;

  if (g_atomic_int_dec_and_test (&seg->ref_count))
    {
      if (seg->fd >= 0)
        close (seg->fd);
      g_free (seg);
    }
}

EpJournalSegment *
ep_journal_active_segment (EpJournal *self)
{
  g_assert (self->segments->len > 0);
  return self->segments->pdata[self->segments->len - 1];
}

EpJournalSegment *
ep_journal_segment_find (EpJournal *self,
                         guint32    number)
{
  guint lo = 0, hi = self->segments->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      EpJournalSegment *seg = self->segments->pdata[mid];

      if (seg->number == number)
        return seg;
      if (seg->number < number)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

void
ep_journal_segment_header_init (EpJournalSegmentHeader *h,
                                guint32                 flags,
                                guint64                 base_seq)
{
  memcpy (h->magic, EP_JOURNAL_SEGMENT_MAGIC, sizeof h->magic);
  h->version = GUINT32_TO_LE (EP_JOURNAL_FORMAT_VERSION);
  h->flags = GUINT32_TO_LE (flags);
  h->base_seq = GUINT64_TO_LE (base_seq);
  h->reserved = 0;
  h->header_crc = GUINT32_TO_LE (ep_crc32c (h, EP_JOURNAL_HEADER_SIZE - 4));
}

/* pwrite()s all of @iov at @offset, retrying short writes. */
static gboolean
pwritev_all (int           fd,
             struct iovec *iov,
             int           n_iov,
             guint64       offset,
             int          *errsv)
{
  while (n_iov > 0)
    {
      ssize_t n = pwritev (fd, iov, n_iov, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *errsv = n < 0 ? errno : ENOSPC;
          return FALSE;
        }
      offset += n;
      while (n_iov > 0 && (gsize) n >= iov->iov_len)
        {
          n -= iov->iov_len;
          iov++;
          n_iov--;
        }
      if (n_iov > 0)
        {
          iov->iov_base = (guint8 *) iov->iov_base + n;
          iov->iov_len -= n;
        }
    }
  return TRUE;
}

gboolean
ep_journal_pread_all (int      fd,
                      void    *buf,
                      gsize    len,
                      guint64  offset)
{
  while (len > 0)
    {
      ssize_t n = pread (fd, buf, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n == 0)
        errno = ENODATA;  /* the file ends early: no stale errno */
      if (n <= 0)
        return FALSE;
      buf = (guint8 *) buf + n;
      len -= n;
      offset += n;
    }
  return TRUE;
}

static void
mark_dirty (EpJournal        *self,
            EpJournalSegment *seg)
{
  seg->dirty = TRUE;
  if (self->dirty_since == 0)
    {
      self->dirty_since = g_get_monotonic_time ();
      g_cond_signal (self->wake);
    }
}

static void fill_request (EpJournal *self, EpJournalSegment *seg);

/* sync_on_send: gives @seg its full size limit now (once per segment), so
 * that appends do not change the file size. Without fallocate() support
 * the file just grows with each append, as in the default mode. */
static void
preallocate (EpJournal        *self,
             EpJournalSegment *seg)
{
  if (!self->sync_on_send || seg->prealloc_tried)
    return;
  seg->prealloc_tried = TRUE;
  if (seg->size >= self->segment_limit)
    return;
  if (fallocate (seg->fd, 0, 0, self->segment_limit) != 0)
    {
      g_debug ("cannot preallocate queue file %08x.journal: %s", seg->number,
               g_strerror (errno));
      return;
    }
  seg->allocated = self->segment_limit;
  seg->zeroed = seg->size;
  fill_request (self, seg);
}

/* sync_on_send: asks the sync thread to zero-fill ahead of the log in @seg
 * if it is preallocated and the zeros ahead run short. */
static void
fill_request (EpJournal        *self,
              EpJournalSegment *seg)
{
  if (self->fill_wanted || seg->allocated <= seg->zeroed ||
      seg->zeroed >= seg->size + EP_JOURNAL_FILL_AHEAD)
    return;
  self->fill_wanted = TRUE;
  g_cond_signal (self->wake);
}

/* Called by the sync thread, and returns, with the mutex held; drops it
 * for the fdatasync(). Writes zeros over up to EP_JOURNAL_FILL_CHUNK bytes of the
 * active segment's preallocated space past the end of its log, then syncs
 * them, so that later appends there write into space that is already
 * written (see the top of this file). The zeros are written with the mutex
 * held, so never over a frame: appends write at seg->size, under the
 * mutex, and the zeros start at or after it. A frame appended into them
 * meanwhile is synced too, which does no harm. Nothing is lost if a write
 * or sync fails: the appends' own syncs stay what makes them durable, and
 * the segment just gets no more zeros. */
void
ep_journal_fill_locked (EpJournal *self)
{
  static guint8 zeros[64 * 1024];  /* never written: in .bss, not in the file */
  struct iovec iov[EP_JOURNAL_FILL_CHUNK / sizeof zeros];
  EpJournalSegment *seg;
  guint64 from, to;
  guint n_iov = 0;
  int errsv = 0;

  self->fill_wanted = FALSE;
  if (self->segments->len == 0 || self->closed)
    return;
  seg = ep_journal_active_segment (self);
  from = MAX (seg->zeroed, seg->size);
  to = MIN (seg->allocated, from + EP_JOURNAL_FILL_CHUNK);
  if (!seg->writable || from >= to)
    return;
  if (self->io_hook != NULL)
    self->io_hook (self->owner, EP_QUEUE_IO_FILL, self->io_hook_data);
  for (guint64 off = from; off < to; off += sizeof zeros)
    iov[n_iov++] = (struct iovec) { (void *) zeros, MIN (sizeof zeros, to - off) };
  if (!pwritev_all (seg->fd, iov, n_iov, from, &errsv))
    {
      g_debug ("cannot zero-fill queue file %08x.journal: %s", seg->number,
               g_strerror (errsv));
      seg->zeroed = seg->allocated;  /* not tried again */
      return;
    }
  seg->zeroed = to;

  ep_journal_segment_ref (seg);
  g_mutex_unlock (self->lock);
  if (fdatasync (seg->fd) != 0)
    g_debug ("cannot sync the zeros of queue file %08x.journal: %s", seg->number,
             g_strerror (errno));
  g_mutex_lock (self->lock);
  if (self->segments->len > 0 && ep_journal_active_segment (self) == seg)
    fill_request (self, seg);
  ep_journal_segment_unref (seg);
}

/* Gives the preallocated space past the end of the log back (a segment that
 * is sealed or closed). Nothing is lost if it fails or does not reach the
 * disk: restore reads the space as an all-zero tail. */
static void
release_tail (EpJournal        *self,
              EpJournalSegment *seg)
{
  if (seg->allocated <= seg->size)
    return;
  if (ftruncate (seg->fd, seg->size) != 0)
    g_debug ("cannot release the space of queue file %08x.journal: %s", seg->number,
             g_strerror (errno));
  seg->allocated = 0;
}

/* Creates segment @number with its header and makes it the active one.
 * @number must be above every segment's (self->segments stays in number
 * order, which ep_journal_segment_find() relies on): past ffffffff there
 * is no number left (ep-queue-restore.c renumbers a directory that reaches
 * it). */
EpJournalSegment *
ep_journal_create_segment (EpJournal  *self,
                           guint32     number,
                           guint32     flags,
                           GError    **error)
{
  g_autofree char *name = ep_journal_segment_name (number);
  EpJournalSegmentHeader h;
  struct iovec iov;
  EpJournalSegment *seg;
  int fd, errsv;

  if (self->segments->len > 0 && number <= ep_journal_active_segment (self)->number)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "Cannot create queue file %s in %s: no segment number is left above "
                   "%08x.journal", name, self->dir, ep_journal_active_segment (self)->number);
      return NULL;
    }
  fd = openat (self->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      ep_journal_set_error (error, errno, "Cannot create queue file", name);
      return NULL;
    }
  ep_journal_segment_header_init (&h, flags, self->next_seq);
  iov = (struct iovec) { &h, EP_JOURNAL_HEADER_SIZE };
  if (!pwritev_all (fd, &iov, 1, 0, &errsv))
    {
      ep_journal_set_error (error, errsv, "Cannot write queue file", name);
      unlinkat (self->dir_fd, name, 0);
      close (fd);
      return NULL;
    }
  seg = ep_journal_segment_new (fd, number);
  seg->base_seq = self->next_seq;
  seg->size = EP_JOURNAL_HEADER_SIZE;
  seg->writable = TRUE;
  preallocate (self, seg);
  g_ptr_array_add (self->segments, seg);
  self->dir_dirty = TRUE;
  mark_dirty (self, seg);
  return seg;
}

/* The segment a frame of @frame_len bytes goes to, rotating if needed. */
static EpJournalSegment *
segment_for_frame (EpJournal  *self,
                   guint64     frame_len,
                   GError    **error)
{
  EpJournalSegment *seg = self->segments->len > 0 ? ep_journal_active_segment (self) : NULL;

  if (self->closed)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->dir);
      return NULL;
    }
  if (self->read_only)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "The queue %s was opened read-only", self->dir);
      return NULL;
    }
  if (seg != NULL && seg->writable &&
      (seg->size == EP_JOURNAL_HEADER_SIZE || seg->size + frame_len <= self->segment_limit))
    {
      preallocate (self, seg);  /* the active segment of a restored queue */
      return seg;
    }
  if (seg != NULL)
    release_tail (self, seg);  /* sealed from now on */
  return ep_journal_create_segment (self, seg != NULL ? seg->number + 1 : 1, 0, error);
}

/* Test hook (ep_queue_set_fault_injection_for_testing()): writes the header and half of
 * the payload of the frame in @iov, then fails as a full disk would. */
static gboolean
fault_injected (EpJournal    *self,
                int           fd,
                struct iovec *iov,
                guint64       offset,
                int          *errsv)
{
  if (self->fault_writes == 0)
    return FALSE;
  self->fault_writes--;
  iov[1].iov_len /= 2;
  pwritev_all (fd, iov, 2, offset, errsv);
  *errsv = self->fault_errno;
  return TRUE;
}

/* sync_on_send: @seg holds a frame that the next sync to start covers. */
static void
sync_pending_add (EpJournal        *self,
                  EpJournalSegment *seg)
{
  GPtrArray *pending = self->sync_pending;

  if (pending->len == 0 || pending->pdata[pending->len - 1] != seg)
    g_ptr_array_add (pending, ep_journal_segment_ref (seg));
}

/* Reserved writes ---------------------------------------------------------- */

/* With the mutex held: reserves the space of a frame of @payload_len bytes
 * at the end of the log (rotating if needed), for a write without the
 * mutex (ep_journal_write_reserved(), then
 * ep_journal_finish_reserved_locked()). Takes @payload. The frame's seq
 * order is its place in the file, as for a frame written at once. */
gboolean
ep_journal_reserve_frame (EpJournal                   *self,
                          EpJournalWrite              *w,
                          const EpJournalFrameHeader  *header,
                          guint8                      *payload,
                          gsize                        payload_len,
                          GError                     **error)
{
  guint64 frame_len = EP_JOURNAL_FRAME_SIZE (payload_len);
  EpJournalSegment *seg;

  memset (w, 0, sizeof *w);
  w->payload = payload;
  seg = segment_for_frame (self, frame_len, error);
  if (seg == NULL)
    {
      g_clear_pointer (&w->payload, g_free);
      return FALSE;
    }
  w->seg = ep_journal_segment_ref (seg);
  w->header = *header;
  w->payload_len = payload_len;
  w->offset = seg->size;
  w->frame_len = frame_len;
  if (self->fault_writes > 0)
    {
      self->fault_writes--;
      w->fault_errno = self->fault_errno;
    }
  seg->size += frame_len;
  self->writes_out++;
  return TRUE;
}

/* Without the mutex: writes a reserved frame; 0 or the errno. */
int
ep_journal_write_reserved (EpJournal      *self,
                           EpJournalWrite *w)
{
  static const guint8 padding[8];
  struct iovec iov[3];
  int errsv = 0;

  if (self->io_hook != NULL)
    self->io_hook (self->owner, EP_QUEUE_IO_TOMBSTONE, self->io_hook_data);
  iov[0] = (struct iovec) { &w->header, EP_JOURNAL_HEADER_SIZE };
  iov[1] = (struct iovec) { w->payload, w->payload_len };
  iov[2] = (struct iovec) { (void *) padding,
                            w->frame_len - EP_JOURNAL_HEADER_SIZE - w->payload_len };
  if (w->fault_errno != 0)
    {
      iov[1].iov_len /= 2;
      pwritev_all (w->seg->fd, iov, 2, w->offset, &errsv);
      return w->fault_errno;
    }
  if (!pwritev_all (w->seg->fd, iov, iov[2].iov_len > 0 ? 3 : 2, w->offset, &errsv))
    return errsv;
  return 0;
}

/* With the mutex held: after ep_journal_write_reserved() returned @errsv.
 * A failed write is cut off the file if no frame was reserved after it
 * (the only I/O done with the mutex held here, on an error path);
 * otherwise its bytes stay and restore skips them (one discarded record).
 * Clears @w. */
gboolean
ep_journal_finish_reserved_locked (EpJournal       *self,
                                   EpJournalWrite  *w,
                                   int              errsv,
                                   GError         **error)
{
  EpJournalSegment *seg = w->seg;
  gboolean ok = errsv == 0;

  if (seg == NULL)
    return TRUE;
  if (!ok)
    {
      g_autofree char *name = ep_journal_segment_name (seg->number);

      if (seg->size == w->offset + w->frame_len)
        {
          if (ftruncate (seg->fd, w->offset) != 0)
            g_debug ("cannot truncate %s after a failed write: %s", name, g_strerror (errno));
          seg->size = w->offset;
          seg->allocated = 0;  /* the truncation dropped it; not tried again */
        }
      ep_journal_set_error (error, errsv, "Cannot write to queue file", name);
    }
  else
    {
      mark_dirty (self, seg);
      fill_request (self, seg);
    }
  g_assert (self->writes_out > 0);
  if (--self->writes_out == 0)
    g_cond_broadcast (&self->writes_cond);
  ep_journal_segment_unref (seg);
  g_clear_pointer (&w->payload, g_free);
  memset (w, 0, sizeof *w);
  return ok;
}

/* With the mutex held: returns once no reserved write is under way. */
static void
wait_writes_locked (EpJournal *self)
{
  while (self->writes_out > 0)
    g_cond_wait (&self->writes_cond, self->lock);
}

/* Appends one frame to the active segment with one pwritev(); on failure
 * truncates the file back so that nothing partial stays. */
EpJournalSegment *
ep_journal_write_frame (EpJournal             *self,
                        EpJournalFrameHeader  *header,
                        const guint8          *payload,
                        gsize                  payload_len,
                        guint64               *offset_out,
                        GError               **error)
{
  static const guint8 padding[8];
  guint64 frame_len = EP_JOURNAL_FRAME_SIZE (payload_len);
  struct iovec iov[3];
  EpJournalSegment *seg;
  int errsv;

  seg = segment_for_frame (self, frame_len, error);
  if (seg == NULL)
    return NULL;
  if (self->io_hook != NULL)
    self->io_hook (self->owner,
                   header->type == EP_JOURNAL_FRAME_EVENT ? EP_QUEUE_IO_EVENT
                                                          : EP_QUEUE_IO_TOMBSTONE,
                   self->io_hook_data);
  iov[0] = (struct iovec) { header, EP_JOURNAL_HEADER_SIZE };
  iov[1] = (struct iovec) { (void *) payload, payload_len };
  iov[2] = (struct iovec) { (void *) padding, frame_len - EP_JOURNAL_HEADER_SIZE - payload_len };
  if (fault_injected (self, seg->fd, iov, seg->size, &errsv) ||
      !pwritev_all (seg->fd, iov, iov[2].iov_len > 0 ? 3 : 2, seg->size, &errsv))
    {
      g_autofree char *name = ep_journal_segment_name (seg->number);

      if (ftruncate (seg->fd, seg->size) != 0)
        g_debug ("cannot truncate %s after a failed write: %s", name, g_strerror (errno));
      seg->allocated = 0;  /* the truncation dropped it; not tried again */
      ep_journal_set_error (error, errsv, "Cannot write to queue file", name);
      return NULL;
    }
  *offset_out = seg->size;
  seg->size += frame_len;
  /* sync_on_send: the appender waits for the group commit to sync its
   * event; the sync thread would only fdatasync the file again. */
  if (self->sync_on_send && header->type == EP_JOURNAL_FRAME_EVENT)
    sync_pending_add (self, seg);
  else
    mark_dirty (self, seg);
  fill_request (self, seg);
  return seg;
}

/* Syncing, deleting, renaming ---------------------------------------------- */

/* Called and returns with the mutex held; drops it during the syscalls. */
gboolean
ep_journal_sync_dirty_locked (EpJournal  *self,
                              GError    **error)
{
  g_autoptr(GPtrArray) dirty = g_ptr_array_new_with_free_func (ep_journal_segment_unref);
  gboolean dir_dirty = self->dir_dirty;
  int errsv = 0;

  /* events whose group commit has not started yet (a close meanwhile) */
  for (guint i = 0; i < self->sync_pending->len; i++)
    ((EpJournalSegment *) self->sync_pending->pdata[i])->dirty = TRUE;
  for (guint i = 0; i < self->segments->len; i++)
    {
      EpJournalSegment *seg = self->segments->pdata[i];

      if (seg->dirty)
        g_ptr_array_add (dirty, ep_journal_segment_ref (seg));
      seg->dirty = FALSE;
    }
  self->dir_dirty = FALSE;
  self->dirty_since = 0;
  g_mutex_unlock (self->lock);

  if (self->io_hook != NULL && (dirty->len > 0 || dir_dirty))
    self->io_hook (self->owner, EP_QUEUE_IO_SYNC, self->io_hook_data);
  for (guint i = 0; i < dirty->len; i++)
    if (fdatasync (((EpJournalSegment *) dirty->pdata[i])->fd) != 0 && errsv == 0)
      errsv = errno;
  if (dir_dirty && fsync (self->dir_fd) != 0 && errsv == 0)
    errsv = errno;

  g_mutex_lock (self->lock);
  if (errsv != 0)
    {
      ep_journal_set_error (error, errsv, "Cannot sync queue directory", self->dir);
      return FALSE;
    }
  return TRUE;
}

/* Group commit (sync_on_send) ---------------------------------------------- */

/* The number of the sync that will cover what has been written so far: the
 * next one to start. Called with the mutex held, in the critical section
 * that wrote the frame. */
guint64
ep_journal_sync_ticket (EpJournal *self)
{
  self->sync_next++;
  if (self->sync_rejoin > 0 && --self->sync_rejoin == 0)
    g_cond_broadcast (&self->sync_cond);  /* a leader may be waiting for it */
  return self->sync_started + 1;
}

/* Runs one sync for every waiting appender: fdatasyncs the segments written
 * since the previous sync started and, if a segment file was created, the
 * directory. Called and returns with the mutex held; drops it meanwhile. */
static void
sync_lead (EpJournal *self)
{
  g_autoptr(GPtrArray) segments = g_steal_pointer (&self->sync_pending);
  gboolean dir_dirty = self->dir_dirty;
  guint64 number = ++self->sync_started;
  guint64 next_seq = self->next_seq;
  int errsv = 0;

  gint64 start = g_get_monotonic_time ();

  self->sync_pending = g_ptr_array_new_with_free_func (ep_journal_segment_unref);
  self->sync_running = TRUE;
  self->sync_covered = self->sync_next;
  self->sync_next = 0;
  self->sync_rejoin = 0;
  self->dir_dirty = FALSE;
  g_mutex_unlock (self->lock);

  if (self->sync_hook != NULL)
    self->sync_hook (self->owner, FALSE, next_seq, self->sync_hook_data);
  for (guint i = 0; i < segments->len; i++)
    if (fdatasync (((EpJournalSegment *) segments->pdata[i])->fd) != 0 && errsv == 0)
      errsv = errno;
  if (errsv == 0 && dir_dirty && fsync (self->dir_fd) != 0)
    errsv = errno;
  if (self->sync_hook != NULL && errsv == 0)
    self->sync_hook (self->owner, TRUE, next_seq, self->sync_hook_data);

  g_mutex_lock (self->lock);
  if (errsv != 0)
    {
      self->dir_dirty |= dir_dirty;
      self->sync_failed = number;
      self->sync_errno = errsv;
    }
  self->sync_done = number;
  self->sync_running = FALSE;
  self->sync_duration = g_get_monotonic_time () - start;
  self->sync_rejoin = self->sync_covered;  /* those that send again soon join the next */
  self->sync_covered = 0;
  g_cond_broadcast (&self->sync_cond);
}

/* Before leading a sync: the appenders the previous sync released usually
 * send again within microseconds. Waiting for them (a quarter of a sync at
 * most) lets one sync cover everyone instead of two syncs covering half
 * each, which is what makes N senders get about N times the sends of one.
 * With a single sender nobody else is expected and nothing waits. */
static void
sync_wait_for_rejoin (EpJournal *self)
{
  gint64 deadline = g_get_monotonic_time () +
                    MIN (self->sync_duration / 4, EP_JOURNAL_SYNC_REJOIN_MAX_US);

  while (self->sync_rejoin > 0 && !self->sync_running &&
         g_cond_wait_until (&self->sync_cond, self->lock, deadline))
    ;
}

/* Returns once sync @ticket (from ep_journal_sync_ticket()) has completed:
 * runs it if no sync is running, else waits for the running one, which
 * started before the frame was written or covers it. FALSE if sync @ticket
 * failed (or, conservatively, a later one did). Called without the mutex. */
gboolean
ep_journal_sync_wait (EpJournal  *self,
                      guint64     ticket,
                      GError    **error)
{
  gboolean waited = FALSE;
  gboolean ok;
  int errsv;

  g_mutex_lock (self->lock);
  while (self->sync_done < ticket)
    {
      if (self->sync_running)
        g_cond_wait (&self->sync_cond, self->lock);
      else if (self->sync_rejoin > 0 && !waited)
        {
          sync_wait_for_rejoin (self);
          waited = TRUE;
        }
      else
        sync_lead (self);
    }
  ok = self->sync_failed < ticket;
  errsv = self->sync_errno;
  g_mutex_unlock (self->lock);
  if (!ok)
    ep_journal_set_error (error, errsv, "Cannot sync the queue in", self->dir);
  return ok;
}

gboolean
ep_journal_sync_file (int          fd,
                      const char  *name,
                      GError     **error)
{
  if (fdatasync (fd) == 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot sync queue file", name);
  return FALSE;
}

gboolean
ep_journal_sync_dir (EpJournal  *self,
                     GError    **error)
{
  if (fsync (self->dir_fd) == 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot sync queue directory", self->dir);
  return FALSE;
}

gboolean
ep_journal_unlink_segment (EpJournal  *self,
                           guint32     number,
                           gboolean    tmp,
                           GError    **error)
{
  g_autofree char *name = ep_journal_segment_name (number);
  g_autofree char *tmp_name = g_strconcat (name, ".tmp", NULL);

  if (unlinkat (self->dir_fd, tmp ? tmp_name : name, 0) != 0 && errno != ENOENT)
    {
      ep_journal_set_error (error, errno, "Cannot delete queue file", tmp ? tmp_name : name);
      return FALSE;
    }
  return TRUE;
}

/* Deletes @name (a file of the queue directory); a missing file is fine. */
gboolean
ep_journal_unlink (EpJournal   *self,
                   const char  *name,
                   GError     **error)
{
  if (unlinkat (self->dir_fd, name, 0) == 0 || errno == ENOENT)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot delete queue file", name);
  return FALSE;
}

/* Opens the existing segment file @name for restore; -1 on error. */
int
ep_journal_open_segment (EpJournal   *self,
                         const char  *name,
                         guint64     *size,
                         GError     **error)
{
  struct stat st;
  int fd;

  fd = openat (self->dir_fd, name, (self->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0 || fstat (fd, &st) != 0)
    {
      ep_journal_set_error (error, errno, "Cannot open queue file", name);
      if (fd >= 0)
        close (fd);
      return -1;
    }
  *size = st.st_size;
  return fd;
}

/* Cuts @seg to @size bytes (a torn tail found by restore), or extends it
 * with zeros (the padding of an intact last frame was cut). */
gboolean
ep_journal_truncate (EpJournal         *self,
                     EpJournalSegment  *seg,
                     guint64            size,
                     GError           **error)
{
  if (ftruncate (seg->fd, size) == 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot cut a torn record off a queue file in",
                        self->dir);
  return FALSE;
}

/* Creates (truncating) "%08x.journal.tmp" for a compaction into segment
 * @number; -1 on error. */
int
ep_journal_create_tmp (EpJournal  *self,
                       guint32     number,
                       GError    **error)
{
  g_autofree char *name = ep_journal_segment_name (number);
  g_autofree char *tmp_name = g_strconcat (name, ".tmp", NULL);
  int fd;

  fd = openat (self->dir_fd, tmp_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    ep_journal_set_error (error, errno, "Cannot create queue file", tmp_name);
  return fd;
}

/* Writes @len bytes of @data at @offset of @fd (a file being filled by a
 * compaction, not yet in use). */
gboolean
ep_journal_write_at (int            fd,
                     const guint8  *data,
                     gsize          len,
                     guint64        offset,
                     GError       **error)
{
  struct iovec iov = { (void *) data, len };
  int errsv;

  if (pwritev_all (fd, &iov, 1, offset, &errsv))
    return TRUE;
  g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
               "Cannot write a compacted queue file: %s", g_strerror (errsv));
  return FALSE;
}

/* Renames the compaction file of segment @number over that segment. */
gboolean
ep_journal_rename_tmp (EpJournal  *self,
                       guint32     number,
                       GError    **error)
{
  g_autofree char *name = ep_journal_segment_name (number);
  g_autofree char *tmp_name = g_strconcat (name, ".tmp", NULL);

  if (renameat (self->dir_fd, tmp_name, self->dir_fd, name) == 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot rename", tmp_name);
  return FALSE;
}

/* Renames segment file @from to @to, which must not exist (restore
 * renumbers segments, keeping their order, when they reach ffffffff). */
gboolean
ep_journal_rename_segment (EpJournal  *self,
                           guint32     from,
                           guint32     to,
                           GError    **error)
{
  g_autofree char *from_name = ep_journal_segment_name (from);
  g_autofree char *to_name = ep_journal_segment_name (to);

  if (renameat2 (self->dir_fd, from_name, self->dir_fd, to_name, RENAME_NOREPLACE) == 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot rename", from_name);
  return FALSE;
}

/* Gives up a compaction file: closes @fd and deletes the file. */
void
ep_journal_abandon_tmp (EpJournal *self,
                        guint32    number,
                        int        fd)
{
  close (fd);
  ep_journal_unlink_segment (self, number, TRUE, NULL);
}

/* Creates @dir (0700) if needed, opens it and takes its lock. */
static gboolean
open_and_lock (const char  *dir,
               int         *dir_fd_out,
               int         *lock_fd_out,
               GError     **error)
{
  int dir_fd, lock_fd, errsv;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      ep_journal_set_error (error, errno, "Cannot create queue directory", dir);
      return FALSE;
    }
  dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0)
    {
      ep_journal_set_error (error, errno, "Cannot open queue directory", dir);
      return FALSE;
    }
  lock_fd = openat (dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd >= 0 && flock (lock_fd, LOCK_EX | LOCK_NB) == 0)
    {
      *dir_fd_out = dir_fd;
      *lock_fd_out = lock_fd;
      return TRUE;
    }

  errsv = errno;
  if (lock_fd >= 0)
    close (lock_fd);
  close (dir_fd);
  if (errsv == EWOULDBLOCK)
    g_set_error (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED,
                 "The queue directory %s is in use by another producer", dir);
  else
    ep_journal_set_error (error, errsv, "Cannot lock queue directory", dir);
  return FALSE;
}

gboolean
ep_journal_open_dir (EpJournal  *self,
                     GError    **error)
{
  return open_and_lock (self->dir, &self->dir_fd, &self->lock_fd, error);
}

/* ep_queue_open_read_only(): opens an existing directory, takes no lock. */
gboolean
ep_journal_open_dir_read_only (EpJournal  *self,
                               GError    **error)
{
  self->dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (self->dir_fd >= 0)
    return TRUE;
  ep_journal_set_error (error, errno, "Cannot open queue directory", self->dir);
  return FALSE;
}

/* Whether the open directory is no longer the one at the queue's path
 * (deleted, moved or replaced). */
static gboolean
dir_lost (EpJournal *self)
{
  struct stat open_st, path_st;

  return fstat (self->dir_fd, &open_st) != 0 || open_st.st_nlink == 0 ||
         stat (self->dir, &path_st) != 0 ||
         open_st.st_dev != path_st.st_dev || open_st.st_ino != path_st.st_ino;
}

/* Whether the directory or a segment file was deleted under the queue:
 * a few fstat() calls, for the sync thread's periodic check. */
gboolean
ep_journal_storage_lost (EpJournal *self)
{
  if (dir_lost (self))
    return TRUE;
  for (guint i = 0; i < self->segments->len; i++)
    {
      EpJournalSegment *seg = self->segments->pdata[i];
      struct stat st;

      if (fstat (seg->fd, &st) != 0 || st.st_nlink == 0)
        return TRUE;
    }
  return FALSE;
}

/* Releases the advisory lock taken by ep_journal_open_dir(). */
void
ep_journal_unlock (EpJournal *self)
{
  if (self->lock_fd >= 0)
    close (self->lock_fd);
  self->lock_fd = -1;
}

/* Closes the directory opened by ep_journal_open_dir() (finalize). */
static void
close_dir (EpJournal *self)
{
  if (self->dir_fd >= 0)
    close (self->dir_fd);
  self->dir_fd = -1;
}

/* After ep_journal_storage_lost(): if the directory itself is gone, creates
 * it again (0700), takes its lock and works there from now on. */
gboolean
ep_journal_reopen_dir (EpJournal  *self,
                       GError    **error)
{
  int dir_fd, lock_fd;

  if (!dir_lost (self))
    return TRUE;
  if (!open_and_lock (self->dir, &dir_fd, &lock_fd, error))
    return FALSE;
  ep_journal_unlock (self);
  close_dir (self);
  self->dir_fd = dir_fd;
  self->lock_fd = lock_fd;
  return TRUE;
}

/* Renames @name (something named like a segment that is not one) to
 * "@name.odd", or "@name.N.odd" if that exists, out of the queue's way. */
gboolean
ep_journal_move_aside (EpJournal   *self,
                       const char  *name,
                       GError     **error)
{
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *odd = i == 0 ? g_strconcat (name, ".odd", NULL) :
                                      g_strdup_printf ("%s.%u.odd", name, i);
      struct stat st;

      if (fstatat (self->dir_fd, odd, &st, AT_SYMLINK_NOFOLLOW) == 0)
        continue;
      if (renameat (self->dir_fd, name, self->dir_fd, odd) == 0)
        return TRUE;
      break;
    }
  ep_journal_set_error (error, errno, "Cannot move aside", name);
  return FALSE;
}

/* The journal's life ------------------------------------------------------- */

/* @owner's @lock guards the journal; @wake wakes @owner's sync thread when
 * a segment becomes dirty or wants zeros. */
void
ep_journal_init (EpJournal *self,
                 EpQueue   *owner,
                 GMutex    *lock,
                 GCond     *wake)
{
  self->owner = owner;
  self->lock = lock;
  self->wake = wake;
  self->dir_fd = -1;
  self->lock_fd = -1;
  self->next_seq = 1;
  self->segment_limit = EP_JOURNAL_MAX_SEGMENT_LIMIT;
  self->segments = g_ptr_array_new_with_free_func (ep_journal_segment_unref);
  self->sync_pending = g_ptr_array_new_with_free_func (ep_journal_segment_unref);
  g_cond_init (&self->sync_cond);
  g_cond_init (&self->writes_cond);
}

/* Finalize: frees what init set up and closes the directory. */
void
ep_journal_clear (EpJournal *self)
{
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  g_clear_pointer (&self->sync_pending, g_ptr_array_unref);
  close_dir (self);
  g_clear_pointer (&self->dir, g_free);
  g_cond_clear (&self->sync_cond);
  g_cond_clear (&self->writes_cond);
}

/* Close, once @closed is set and the sync thread has stopped: waits for
 * the reserved writes, syncs, gives the preallocated tail back and lets
 * the segments go. The caller then drops its own references to segments
 * and releases the directory's lock (ep_journal_unlock()); the directory
 * stays open until ep_journal_clear(). */
void
ep_journal_close_locked (EpJournal *self)
{
  g_autoptr(GError) error = NULL;

  wait_writes_locked (self);
  if (!ep_journal_sync_dirty_locked (self, &error))
    g_message ("Closing queue: %s", error->message);
  if (self->segments->len > 0)
    release_tail (self, ep_journal_active_segment (self));
  g_ptr_array_set_size (self->segments, 0);
  g_ptr_array_set_size (self->sync_pending, 0);
}
