/* ep-queue.c: the persistent queue of event records (a GVariant journal)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
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
 *   12 u32      flags; bit 0 COMPACTED: this file supersedes every segment
 *               with a lower number (they are leftovers of a compaction that
 *               was interrupted after its rename and are deleted at open)
 *   16 u64      base seq: the next seq when the file was created
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
 *   7  u8       reserved, 0
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
 * Invariants
 * - A frame is written with one pwritev() at the end of the active segment;
 *   nothing written is ever rewritten in place. A failed or short write is
 *   truncated away before the append returns.
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
 * MAX_OPEN_COMPACTION_BYTES of live frames, else soon after, by the
 * background thread. So each bad span is counted by one open only.
 *
 * Memory: payloads stay on disk; each queued event costs one 24-byte
 * EpQueueEntry in a chunked array (no giant realloc on the append path).
 *
 * Durability: an append returns once write() returned (the data is in the
 * kernel). A background thread fdatasyncs dirty segments at most
 * SYNC_DELAY_US after they became dirty, fsyncs the directory after
 * segment files are created, and deletes/compacts segments. With
 * sync_on_send the appending thread syncs before returning.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ep-event-private.h"
#include "ep-queue-private.h"

#define FORMAT_VERSION           1
#define SEGMENT_MAGIC            "EPGQJRNL"
#define SEGMENT_FLAG_COMPACTED   (1u << 0)
#define FRAME_MAGIC              0x52515045u   /* "EPQR" read as little-endian */
#define FRAME_EVENT              1
#define FRAME_TOMBSTONE          2
#define HEADER_SIZE              32
#define MAX_RECORD_LEN           (16u * 1024 * 1024)
#define MIN_SEGMENT_LIMIT        (1u * 1024 * 1024)
#define MAX_SEGMENT_LIMIT        (64u * 1024 * 1024)
#define MAX_COMPACTION_BYTES     (G_GUINT64_CONSTANT (1) << 30)
#define MAX_OPEN_COMPACTION_BYTES (16u * 1024 * 1024)
#define INDEX_CHUNK              4096
#define SYNC_DELAY_US            (250 * G_TIME_SPAN_MILLISECOND)
#define RECLAIM_RETRY_US         (60 * G_TIME_SPAN_SECOND)
#define ALIGN8(n)                (((n) + 7) & ~(guint64) 7)
#define FRAME_SIZE(payload_len)  (HEADER_SIZE + ALIGN8 ((guint64) (payload_len)))

typedef struct {
  char    magic[8];
  guint32 version;
  guint32 flags;
  guint64 base_seq;
  guint32 reserved;
  guint32 header_crc;
} SegmentHeader;

typedef struct {
  guint32 magic;
  guint16 version;
  guint8  type;
  guint8  reserved;
  guint32 length;
  guint32 logical_size;
  guint64 seq;
  guint32 payload_crc;
  guint32 header_crc;
} FrameHeader;

G_STATIC_ASSERT (sizeof (SegmentHeader) == HEADER_SIZE);
G_STATIC_ASSERT (sizeof (FrameHeader) == HEADER_SIZE);

/* Where an event lives and what state it is in. */
typedef enum {
  ENTRY_PENDING   = 0,
  ENTRY_IN_FLIGHT = 1,
  ENTRY_REMOVED   = 2,
} EntryState;

/* One queued event in memory: 24 bytes, payload on disk. */
typedef struct {
  guint64 seq;
  guint32 segment;       /* number of the segment file holding the frame */
  guint32 offset_state;  /* frame offset (8-aligned) | EntryState in the low 3 bits */
  guint32 length;        /* record (payload) length */
  guint32 logical_size;
} EpQueueEntry;

G_STATIC_ASSERT (sizeof (EpQueueEntry) == 24);

/* Entries in seq order, removed ones included until trimmed or squeezed. */
typedef struct {
  GPtrArray *chunks;  /* owned: owned arrays of INDEX_CHUNK entries */
  gsize      start;   /* position of entry 0 inside chunks[0] */
  gsize      len;     /* entries, holes included */
} EpQueueIndex;

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
  gboolean dirty;             /* written since the last fdatasync */
  gboolean writable;          /* may become the active segment (valid header) */
} EpQueueSegment;

struct _EpQueue
{
  GObject parent_instance;

  char      *dir;             /* owned */
  int        dir_fd;          /* owned; open until finalize */
  int        lock_fd;         /* owned; holds the flock; -1 once closed */
  guint64    max_bytes;       /* 0: no limit */
  gboolean   sync_on_send;

  GMutex     mutex;           /* guards everything below */
  GCond      cond;            /* wakes the sync thread */
  GPtrArray *segments;        /* owned refs, oldest first; the last is active */
  EpQueueIndex index;
  gsize      segment_limit;   /* rotate the active segment beyond this */
  guint64    next_seq;
  guint64    n_live;          /* events stored and not removed */
  guint64    n_in_flight;
  guint64    live_bytes;      /* their logical bytes */
  guint64    cursor_seq;      /* no pending event has a smaller seq */
  guint      discarded;
  gint64     dirty_since;     /* monotonic time a segment became dirty; 0 if clean */
  gboolean   dir_dirty;       /* a segment file was created since the last dir fsync */
  gboolean   reclaim_wanted;
  gboolean   compaction_wanted; /* a sealed segment holds bytes that failed their checks */
  gint64     reclaim_not_before; /* monotonic; after a failed reclaim */
  int        fault_errno;     /* tests: ep_queue_set_fault_injection() */
  guint      fault_writes;
  gboolean   stopping;
  gboolean   closed;
  gboolean   storing_failing; /* the latest append failed (or restored state) */
  guint64    append_failures; /* appends that failed since open */
  guint64    oldest_seq;      /* cache of ep_queue_get_oldest_time() */
  gint64     oldest_time;

  GThread   *sync_thread;     /* owned; joined by close */
  GMutex     maintenance_mutex; /* serialises segment deletion and compaction */
};

G_DEFINE_FINAL_TYPE (EpQueue, ep_queue, G_TYPE_OBJECT)

/* ---------------------------------------------------------------------- */
/* CRC-32C (Castagnoli): the SSE4.2 crc32 instruction when the CPU has it,
 * else slicing-by-8 tables. Both give the same results (the tests compare
 * them); the hardware one is about 3.5 times faster than zlib's crc32 and
 * the checksum is on the send path. */

#define CRC32C_POLY 0x82F63B78u  /* reflected */

/* crc32c_table[k][b]: the CRC register after byte b then k zero bytes (no
 * inversions). Written once, inside crc32c_init()'s g_once section. */
static guint32 crc32c_table[8][256];

static void
crc32c_init_tables (void)
{
  for (guint b = 0; b < 256; b++)
    {
      guint32 c = b;

      for (guint bit = 0; bit < 8; bit++)
        c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
      crc32c_table[0][b] = c;
    }
  for (guint k = 1; k < 8; k++)
    for (guint b = 0; b < 256; b++)
      {
        guint32 prev = crc32c_table[k - 1][b];

        crc32c_table[k][b] = crc32c_table[0][prev & 0xff] ^ (prev >> 8);
      }
}

/* Builds the tables and tells whether the CPU has the instruction. */
static gboolean
crc32c_init (void)
{
  static gsize state = 0;  /* 1: software, 2: hardware */

  if (g_once_init_enter (&state))
    {
      gsize value = 1;

      crc32c_init_tables ();
#if defined(__x86_64__) || defined(__i386__)
      __builtin_cpu_init ();
      if (__builtin_cpu_supports ("sse4.2"))
        value = 2;
#endif
      g_once_init_leave (&state, value);
    }
  return state == 2;
}

guint32
ep_queue_crc32c_software (const void *data,
                          gsize       len)
{
  const guint32 (*t)[256] = (const guint32 (*)[256]) crc32c_table;
  const guint8 *p = data;
  guint32 c = 0xFFFFFFFFu;

  crc32c_init ();
  for (; len >= 8; p += 8, len -= 8)
    {
      guint64 word;

      memcpy (&word, p, 8);
      word = GUINT64_FROM_LE (word) ^ c;
      c = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^
          t[5][(word >> 16) & 0xff] ^ t[4][(word >> 24) & 0xff] ^
          t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^
          t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
    }
  for (; len > 0; p++, len--)
    c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target ("sse4.2")))
static guint32
crc32c_sse42 (const guint8 *p,
              gsize         len)
{
#if defined(__x86_64__)
  guint64 c = 0xFFFFFFFFu;

  for (; len >= 8; p += 8, len -= 8)
    {
      guint64 word;

      memcpy (&word, p, 8);
      c = __builtin_ia32_crc32di (c, word);
    }
#else
  guint32 c = 0xFFFFFFFFu;

  for (; len >= 4; p += 4, len -= 4)
    {
      guint32 word;

      memcpy (&word, p, 4);
      c = __builtin_ia32_crc32si (c, word);
    }
#endif
  for (; len > 0; p++, len--)
    c = __builtin_ia32_crc32qi ((guint32) c, *p);
  return ~(guint32) c;
}
#endif

gboolean
ep_queue_crc32c_hardware (const void *data,
                          gsize       len,
                          guint32    *crc_out)
{
#if defined(__x86_64__) || defined(__i386__)
  if (crc32c_init ())
    {
      *crc_out = crc32c_sse42 (data, len);
      return TRUE;
    }
#endif
  return FALSE;
}

guint32
ep_queue_crc32c (const void *data,
                 gsize       len)
{
#if defined(__x86_64__) || defined(__i386__)
  if (crc32c_init ())
    return crc32c_sse42 (data, len);
#endif
  return ep_queue_crc32c_software (data, len);
}

/* ---------------------------------------------------------------------- */
/* Small helpers */

static void
set_errno_error (GError     **error,
                 int          errsv,
                 const char  *what,
                 const char  *path)
{
  g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "%s %s: %s",
               what, path, g_strerror (errsv));
}

static char *
segment_name (guint32 number)
{
  return g_strdup_printf ("%08x.journal", number);
}

/* Parses "%08x.journal" (and with @tmp, "%08x.journal.tmp"). */
static gboolean
parse_segment_name (const char *name,
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

static inline guint64
entry_offset (const EpQueueEntry *e)
{
  return e->offset_state & ~(guint32) 7;
}

static inline EntryState
entry_state (const EpQueueEntry *e)
{
  return e->offset_state & 7;
}

static inline void
entry_set_state (EpQueueEntry *e,
                 EntryState    state)
{
  e->offset_state = (e->offset_state & ~(guint32) 7) | state;
}

/* ---------------------------------------------------------------------- */
/* Frames */

static void
frame_header_init (FrameHeader  *h,
                   guint8        type,
                   guint32       length,
                   guint32       logical_size,
                   guint64       seq,
                   guint32       payload_crc)
{
  h->magic = GUINT32_TO_LE (FRAME_MAGIC);
  h->version = GUINT16_TO_LE (FORMAT_VERSION);
  h->type = type;
  h->reserved = 0;
  h->length = GUINT32_TO_LE (length);
  h->logical_size = GUINT32_TO_LE (logical_size);
  h->seq = GUINT64_TO_LE (seq);
  h->payload_crc = GUINT32_TO_LE (payload_crc);
  h->header_crc = GUINT32_TO_LE (ep_queue_crc32c (h, HEADER_SIZE - 4));
}

typedef enum {
  FRAME_OK,
  FRAME_BAD,
  FRAME_NEWER,
} FrameCheck;

/* Checks the frame at @off of @data (@size bytes) and decodes its header
 * into @out (host order). */
static FrameCheck
frame_check (const guint8 *data,
             gsize         size,
             gsize         off,
             FrameHeader  *out)
{
  FrameHeader h;

  if (off + HEADER_SIZE > size)
    return FRAME_BAD;
  memcpy (&h, data + off, HEADER_SIZE);
  if (GUINT32_FROM_LE (h.magic) != FRAME_MAGIC ||
      GUINT32_FROM_LE (h.header_crc) != ep_queue_crc32c (&h, HEADER_SIZE - 4))
    return FRAME_BAD;
  out->version = GUINT16_FROM_LE (h.version);
  if (out->version > FORMAT_VERSION)
    return FRAME_NEWER;
  out->type = h.type;
  out->length = GUINT32_FROM_LE (h.length);
  out->logical_size = GUINT32_FROM_LE (h.logical_size);
  out->seq = GUINT64_FROM_LE (h.seq);
  out->payload_crc = GUINT32_FROM_LE (h.payload_crc);
  if (out->version == 0 || size - off - HEADER_SIZE < out->length ||
      (out->type != FRAME_EVENT && out->type != FRAME_TOMBSTONE) ||
      (out->type == FRAME_TOMBSTONE && out->length != (guint64) out->logical_size * 8))
    return FRAME_BAD;
  if (out->payload_crc != ep_queue_crc32c (data + off + HEADER_SIZE, out->length))
    return FRAME_BAD;
  return FRAME_OK;
}

/* ---------------------------------------------------------------------- */
/* The index */

static void
index_init (EpQueueIndex *ix)
{
  ix->chunks = g_ptr_array_new_with_free_func (g_free);
  ix->start = 0;
  ix->len = 0;
}

static void
index_clear (EpQueueIndex *ix)
{
  g_clear_pointer (&ix->chunks, g_ptr_array_unref);
  ix->start = ix->len = 0;
}

static inline EpQueueEntry *
index_at (EpQueueIndex *ix,
          gsize         i)
{
  gsize p = ix->start + i;

  return &((EpQueueEntry *) ix->chunks->pdata[p / INDEX_CHUNK])[p % INDEX_CHUNK];
}

static EpQueueEntry *
index_push (EpQueueIndex *ix)
{
  gsize p = ix->start + ix->len;

  if (p / INDEX_CHUNK >= ix->chunks->len)
    g_ptr_array_add (ix->chunks, g_new (EpQueueEntry, INDEX_CHUNK));
  ix->len++;
  return index_at (ix, ix->len - 1);
}

/* The position of the first entry with a seq >= @seq. */
static gsize
index_lower_bound (EpQueueIndex *ix,
                   guint64       seq)
{
  gsize lo = 0, hi = ix->len;

  while (lo < hi)
    {
      gsize mid = lo + (hi - lo) / 2;

      if (index_at (ix, mid)->seq < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

/* The entry of @seq unless it is unknown or removed. */
static EpQueueEntry *
index_find (EpQueueIndex *ix,
            guint64       seq)
{
  gsize pos = index_lower_bound (ix, seq);
  EpQueueEntry *e;

  if (pos >= ix->len)
    return NULL;
  e = index_at (ix, pos);
  if (e->seq != seq || entry_state (e) == ENTRY_REMOVED)
    return NULL;
  return e;
}

static void
index_drop_unused_chunks (EpQueueIndex *ix)
{
  gsize used = (ix->start + ix->len + INDEX_CHUNK - 1) / INDEX_CHUNK;

  /* keep one spare chunk so that an append at a chunk boundary does not
   * allocate right after a squeeze */
  if (ix->chunks->len > used + 1)
    g_ptr_array_remove_range (ix->chunks, used + 1, ix->chunks->len - used - 1);
}

/* Forgets removed entries at the head. */
static void
index_trim_head (EpQueueIndex *ix)
{
  while (ix->len > 0 && entry_state (index_at (ix, 0)) == ENTRY_REMOVED)
    {
      ix->start++;
      ix->len--;
      if (ix->start == INDEX_CHUNK)
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
static void
index_squeeze (EpQueueIndex *ix,
               guint64       n_live)
{
  gsize w = 0;

  if (ix->len - n_live <= MAX (n_live, 2 * INDEX_CHUNK))
    return;
  for (gsize r = 0; r < ix->len; r++)
    {
      EpQueueEntry *e = index_at (ix, r);

      if (entry_state (e) != ENTRY_REMOVED)
        *index_at (ix, w++) = *e;
    }
  ix->len = w;
  index_drop_unused_chunks (ix);
}

/* ---------------------------------------------------------------------- */
/* Segments */

static EpQueueSegment *
segment_new (int     fd,
             guint32 number)
{
  EpQueueSegment *seg = g_new0 (EpQueueSegment, 1);

  seg->ref_count = 1;
  seg->fd = fd;
  seg->number = number;
  return seg;
}

static EpQueueSegment *
segment_ref (EpQueueSegment *seg)
{
  g_atomic_int_inc (&seg->ref_count);
  return seg;
}

static void
segment_unref (gpointer data)
{
  EpQueueSegment *seg = data;

  if (g_atomic_int_dec_and_test (&seg->ref_count))
    {
      if (seg->fd >= 0)
        close (seg->fd);
      g_free (seg);
    }
}

static EpQueueSegment *
active_segment (EpQueue *self)
{
  g_assert (self->segments->len > 0);
  return self->segments->pdata[self->segments->len - 1];
}

static EpQueueSegment *
segment_find (EpQueue *self,
              guint32  number)
{
  guint lo = 0, hi = self->segments->len;

  while (lo < hi)
    {
      guint mid = lo + (hi - lo) / 2;
      EpQueueSegment *seg = self->segments->pdata[mid];

      if (seg->number == number)
        return seg;
      if (seg->number < number)
        lo = mid + 1;
      else
        hi = mid;
    }
  return NULL;
}

static void
segment_header_init (SegmentHeader *h,
                     guint32        flags,
                     guint64        base_seq)
{
  memcpy (h->magic, SEGMENT_MAGIC, sizeof h->magic);
  h->version = GUINT32_TO_LE (FORMAT_VERSION);
  h->flags = GUINT32_TO_LE (flags);
  h->base_seq = GUINT64_TO_LE (base_seq);
  h->reserved = 0;
  h->header_crc = GUINT32_TO_LE (ep_queue_crc32c (h, HEADER_SIZE - 4));
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

static gboolean
pread_all (int      fd,
           void    *buf,
           gsize    len,
           guint64  offset)
{
  while (len > 0)
    {
      ssize_t n = pread (fd, buf, len, offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf = (guint8 *) buf + n;
      len -= n;
      offset += n;
    }
  return TRUE;
}

static void
mark_dirty (EpQueue        *self,
            EpQueueSegment *seg)
{
  seg->dirty = TRUE;
  if (self->dirty_since == 0)
    {
      self->dirty_since = g_get_monotonic_time ();
      g_cond_signal (&self->cond);
    }
}

/* Creates segment @number with its header and makes it the active one. */
static EpQueueSegment *
create_segment (EpQueue  *self,
                guint32   number,
                guint32   flags,
                GError  **error)
{
  g_autofree char *name = segment_name (number);
  SegmentHeader h;
  struct iovec iov;
  EpQueueSegment *seg;
  int fd, errsv;

  fd = openat (self->dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot create queue file", name);
      return NULL;
    }
  segment_header_init (&h, flags, self->next_seq);
  iov = (struct iovec) { &h, HEADER_SIZE };
  if (!pwritev_all (fd, &iov, 1, 0, &errsv))
    {
      set_errno_error (error, errsv, "Cannot write queue file", name);
      unlinkat (self->dir_fd, name, 0);
      close (fd);
      return NULL;
    }
  seg = segment_new (fd, number);
  seg->base_seq = self->next_seq;
  seg->size = HEADER_SIZE;
  seg->writable = TRUE;
  g_ptr_array_add (self->segments, seg);
  self->dir_dirty = TRUE;
  mark_dirty (self, seg);
  return seg;
}

/* The segment a frame of @frame_len bytes goes to, rotating if needed. */
static EpQueueSegment *
segment_for_frame (EpQueue  *self,
                   guint64   frame_len,
                   GError  **error)
{
  EpQueueSegment *seg = self->segments->len > 0 ? active_segment (self) : NULL;

  if (self->closed)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->dir);
      return NULL;
    }
  if (seg != NULL && seg->writable &&
      (seg->size == HEADER_SIZE || seg->size + frame_len <= self->segment_limit))
    return seg;
  return create_segment (self, seg != NULL ? seg->number + 1 : 1, 0, error);
}

/* Test hook (ep_queue_set_fault_injection()): writes the header and half of
 * the payload of the frame in @iov, then fails as a full disk would. */
static gboolean
fault_injected (EpQueue      *self,
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

/* Appends one frame to the active segment with one pwritev(); on failure
 * truncates the file back so that nothing partial stays. */
static EpQueueSegment *
write_frame (EpQueue       *self,
             FrameHeader   *header,
             const guint8  *payload,
             gsize          payload_len,
             guint64       *offset_out,
             GError       **error)
{
  static const guint8 padding[8];
  guint64 frame_len = FRAME_SIZE (payload_len);
  struct iovec iov[3];
  EpQueueSegment *seg;
  int errsv;

  seg = segment_for_frame (self, frame_len, error);
  if (seg == NULL)
    return NULL;
  iov[0] = (struct iovec) { header, HEADER_SIZE };
  iov[1] = (struct iovec) { (void *) payload, payload_len };
  iov[2] = (struct iovec) { (void *) padding, frame_len - HEADER_SIZE - payload_len };
  if (fault_injected (self, seg->fd, iov, seg->size, &errsv) ||
      !pwritev_all (seg->fd, iov, iov[2].iov_len > 0 ? 3 : 2, seg->size, &errsv))
    {
      g_autofree char *name = segment_name (seg->number);

      if (ftruncate (seg->fd, seg->size) != 0)
        g_debug ("cannot truncate %s after a failed write: %s", name, g_strerror (errno));
      set_errno_error (error, errsv, "Cannot write to queue file", name);
      return NULL;
    }
  *offset_out = seg->size;
  seg->size += frame_len;
  mark_dirty (self, seg);
  return seg;
}

/* ---------------------------------------------------------------------- */
/* Bookkeeping of live events */

static void
forget_entry (EpQueue      *self,
              EpQueueEntry *e)
{
  EpQueueSegment *seg = segment_find (self, e->segment);

  if (entry_state (e) == ENTRY_IN_FLIGHT)
    self->n_in_flight--;
  entry_set_state (e, ENTRY_REMOVED);
  self->n_live--;
  self->live_bytes -= e->logical_size;
  if (seg != NULL)
    {
      seg->live--;
      seg->live_frame_bytes -= FRAME_SIZE (e->length);
    }
}

static void
add_entry (EpQueue        *self,
           EpQueueSegment *seg,
           guint64         seq,
           guint64         offset,
           guint32         length,
           guint32         logical_size)
{
  EpQueueEntry *e = index_push (&self->index);

  e->seq = seq;
  e->segment = seg->number;
  e->offset_state = (guint32) offset | ENTRY_PENDING;
  e->length = length;
  e->logical_size = logical_size;
  seg->live++;
  seg->live_frame_bytes += FRAME_SIZE (length);
  self->n_live++;
  self->live_bytes += logical_size;
}

/* Bytes of the sealed segments: all of them, and their live frames. */
static void
sealed_bytes (EpQueue *self,
              guint64 *total,
              guint64 *live)
{
  *total = *live = 0;
  for (guint i = 0; i + 1 < self->segments->len; i++)
    {
      EpQueueSegment *seg = self->segments->pdata[i];

      *total += seg->size;
      *live += seg->live_frame_bytes;
    }
}

static gboolean
compaction_worthwhile (EpQueue *self)
{
  guint64 total, live;

  sealed_bytes (self, &total, &live);
  return total - live > MAX (live, self->segment_limit) && live <= MAX_COMPACTION_BYTES;
}

static gboolean
reclaim_possible (EpQueue *self)
{
  EpQueueSegment *oldest;

  if (self->segments->len < 2)
    return FALSE;
  oldest = self->segments->pdata[0];
  return oldest->live == 0 || compaction_worthwhile (self);
}

static void
tidy_index (EpQueue *self)
{
  index_trim_head (&self->index);
  index_squeeze (&self->index, self->n_live);
}

/* Forgets @seqs and writes one tombstone for those that were live. */
static gboolean
remove_locked (EpQueue       *self,
               const guint64 *seqs,
               guint          n_seqs,
               GError       **error)
{
  g_autofree guint64 *payload = g_new (guint64, MAX (n_seqs, 1));
  guint n = 0;
  FrameHeader h;
  guint64 offset;

  for (guint i = 0; i < n_seqs; i++)
    {
      EpQueueEntry *e = index_find (&self->index, seqs[i]);

      if (e == NULL)
        continue;
      forget_entry (self, e);
      payload[n++] = GUINT64_TO_LE (seqs[i]);
    }
  if (n == 0)
    return TRUE;
  tidy_index (self);
  if (reclaim_possible (self))
    {
      self->reclaim_wanted = TRUE;
      g_cond_signal (&self->cond);
    }
  frame_header_init (&h, FRAME_TOMBSTONE, n * 8, n, 0, ep_queue_crc32c (payload, n * 8));
  return write_frame (self, &h, (const guint8 *) payload, n * 8, &offset, error) != NULL;
}

/* ---------------------------------------------------------------------- */
/* Syncing */

/* Called and returns with the mutex held; drops it during the syscalls. */
static gboolean
sync_dirty_locked (EpQueue  *self,
                   GError  **error)
{
  g_autoptr(GPtrArray) dirty = g_ptr_array_new_with_free_func (segment_unref);
  gboolean dir_dirty = self->dir_dirty;
  int errsv = 0;

  for (guint i = 0; i < self->segments->len; i++)
    {
      EpQueueSegment *seg = self->segments->pdata[i];

      if (seg->dirty)
        g_ptr_array_add (dirty, segment_ref (seg));
      seg->dirty = FALSE;
    }
  self->dir_dirty = FALSE;
  self->dirty_since = 0;
  g_mutex_unlock (&self->mutex);

  for (guint i = 0; i < dirty->len; i++)
    if (fdatasync (((EpQueueSegment *) dirty->pdata[i])->fd) != 0 && errsv == 0)
      errsv = errno;
  if (dir_dirty && fsync (self->dir_fd) != 0 && errsv == 0)
    errsv = errno;

  g_mutex_lock (&self->mutex);
  if (errsv != 0)
    {
      set_errno_error (error, errsv, "Cannot sync queue directory", self->dir);
      return FALSE;
    }
  return TRUE;
}

static gboolean reclaim (EpQueue *self, gboolean force_compaction, GError **error);

static gpointer
sync_thread_main (gpointer data)
{
  EpQueue *self = data;  /* borrowed: close() joins this thread */

  g_mutex_lock (&self->mutex);
  while (!self->stopping)
    {
      if (self->dirty_since != 0)
        {
          gint64 due = self->dirty_since + SYNC_DELAY_US;
          g_autoptr(GError) error = NULL;

          if (g_get_monotonic_time () < due)
            g_cond_wait_until (&self->cond, &self->mutex, due);
          else if (!sync_dirty_locked (self, &error))
            g_warning ("%s", error->message);
        }
      else if ((self->reclaim_wanted || self->compaction_wanted) &&
               g_get_monotonic_time () >= self->reclaim_not_before)
        {
          g_autoptr(GError) error = NULL;
          gboolean force = self->compaction_wanted;
          gboolean ok;

          self->reclaim_wanted = self->compaction_wanted = FALSE;
          g_mutex_unlock (&self->mutex);
          ok = reclaim (self, force, &error);
          g_mutex_lock (&self->mutex);
          if (!ok)
            {
              g_warning ("Cannot reclaim queue space (retrying in a minute): %s",
                         error->message);
              self->compaction_wanted |= force;
              self->reclaim_not_before = g_get_monotonic_time () + RECLAIM_RETRY_US;
            }
        }
      else
        g_cond_wait (&self->cond, &self->mutex);
    }
  g_mutex_unlock (&self->mutex);
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* Reclaiming space: deleting dead segments, compaction */

static gboolean
unlink_segment_file (EpQueue  *self,
                     guint32   number,
                     gboolean  tmp,
                     GError  **error)
{
  g_autofree char *name = segment_name (number);
  g_autofree char *tmp_name = g_strconcat (name, ".tmp", NULL);

  if (unlinkat (self->dir_fd, tmp ? tmp_name : name, 0) != 0 && errno != ENOENT)
    {
      set_errno_error (error, errno, "Cannot delete queue file", tmp ? tmp_name : name);
      return FALSE;
    }
  return TRUE;
}

/* Deletes sealed segments without live events, oldest first. */
static gboolean
delete_dead_segments (EpQueue  *self,
                      GError  **error)
{
  gboolean ok = TRUE;

  g_mutex_lock (&self->mutex);
  while (ok && self->segments->len >= 2 &&
         ((EpQueueSegment *) self->segments->pdata[0])->live == 0)
    {
      EpQueueSegment *seg = g_ptr_array_steal_index (self->segments, 0);

      g_mutex_unlock (&self->mutex);
      ok = unlink_segment_file (self, seg->number, FALSE, error);
      if (ok && fsync (self->dir_fd) != 0)
        {
          set_errno_error (error, errno, "Cannot sync queue directory", self->dir);
          ok = FALSE;
        }
      segment_unref (seg);
      g_mutex_lock (&self->mutex);
    }
  g_mutex_unlock (&self->mutex);
  return ok;
}

/* A live event to copy during compaction. */
typedef struct {
  guint64         seq;
  EpQueueSegment *from;        /* borrowed from the snapshot's refs */
  guint64         offset;      /* in @from, then in the new file */
  guint32         frame_len;
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
  EpQueueSegment *last;
  guint n_sealed = self->segments->len - 1;
  guint64 live = 0;

  if (n_sealed == 0 || (!force && !compaction_worthwhile (self)))
    return FALSE;
  last = self->segments->pdata[n_sealed - 1];
  job->base_seq = last->base_seq;
  job->sealed = g_ptr_array_new_with_free_func (segment_unref);
  for (guint i = 0; i < n_sealed; i++)
    g_ptr_array_add (job->sealed, segment_ref (self->segments->pdata[i]));
  job->items = g_array_new (FALSE, FALSE, sizeof (CompactItem));
  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = index_at (&self->index, i);
      CompactItem item;

      if (e->segment > last->number)
        break;
      if (entry_state (e) == ENTRY_REMOVED)
        continue;
      item.seq = e->seq;
      item.from = segment_find (self, e->segment);
      item.offset = entry_offset (e);
      item.frame_len = FRAME_SIZE (e->length);
      g_assert (item.from != NULL);
      g_array_append_val (job->items, item);
      live += item.frame_len;
    }
  /* offsets are 32-bit: never build a file near 4 GiB */
  return live <= MAX_COMPACTION_BYTES;
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
  SegmentHeader h;

  segment_header_init (&h, SEGMENT_FLAG_COMPACTED, job->base_seq);
  g_byte_array_append (buf, (const guint8 *) &h, HEADER_SIZE);
  for (guint i = 0; i <= job->items->len; i++)
    {
      gboolean last = i == job->items->len;

      if (!last)
        {
          CompactItem *item = &g_array_index (job->items, CompactItem, i);
          gsize at = buf->len;

          g_byte_array_set_size (buf, at + item->frame_len);
          if (!pread_all (item->from->fd, buf->data + at, item->frame_len, item->offset))
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
          struct iovec iov = { buf->data, buf->len };
          int errsv;

          if (!pwritev_all (fd, &iov, 1, file_pos, &errsv))
            {
              g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                           "Cannot write compacted queue file: %s", g_strerror (errsv));
              return FALSE;
            }
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
  EpQueueSegment *last = job->sealed->pdata[job->sealed->len - 1];
  EpQueueSegment *seg = segment_new (fd, last->number);
  GPtrArray *old = g_ptr_array_new_with_free_func (segment_unref);

  seg->base_seq = job->base_seq;
  seg->size = size;
  for (guint i = 0; i < job->items->len; i++)
    {
      CompactItem *item = &g_array_index (job->items, CompactItem, i);
      EpQueueEntry *e = index_find (&self->index, item->seq);

      if (e == NULL)
        continue;  /* removed during the copy */
      e->segment = seg->number;
      e->offset_state = (guint32) item->offset | entry_state (e);
      seg->live++;
      seg->live_frame_bytes += item->frame_len;
    }
  for (guint i = 0; i < job->sealed->len; i++)
    {
      g_assert (self->segments->pdata[0] == job->sealed->pdata[i]);
      g_ptr_array_add (old, g_ptr_array_steal_index (self->segments, 0));
    }
  g_ptr_array_insert (self->segments, 0, seg);
  return old;
}

static gboolean
sync_file (int          fd,
           const char  *name,
           GError     **error)
{
  if (fdatasync (fd) == 0)
    return TRUE;
  set_errno_error (error, errno, "Cannot sync queue file", name);
  return FALSE;
}

static gboolean
sync_dir (EpQueue  *self,
          GError  **error)
{
  if (fsync (self->dir_fd) == 0)
    return TRUE;
  set_errno_error (error, errno, "Cannot sync queue directory", self->dir);
  return FALSE;
}

/* Rewrites the live events of every sealed segment into one file, which
 * atomically replaces them (see the format description at the top). */
static gboolean
compact (EpQueue   *self,
         gboolean   force,
         GError   **error)
{
  g_auto(CompactJob) job = { 0 };
  g_autoptr(GPtrArray) old = NULL;
  g_autofree char *name = NULL;
  g_autofree char *tmp_name = NULL;
  guint32 number;
  guint64 size;
  gboolean ok;
  int fd;

  g_mutex_lock (&self->mutex);
  ok = !self->closed && compact_snapshot (self, force, &job);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    return TRUE;

  number = ((EpQueueSegment *) job.sealed->pdata[job.sealed->len - 1])->number;
  name = segment_name (number);
  tmp_name = g_strconcat (name, ".tmp", NULL);
  fd = openat (self->dir_fd, tmp_name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot create queue file", tmp_name);
      return FALSE;
    }
  if (!compact_copy (&job, fd, &size, error) || !sync_file (fd, tmp_name, error))
    {
      close (fd);
      unlinkat (self->dir_fd, tmp_name, 0);
      return FALSE;
    }

  g_mutex_lock (&self->mutex);
  ok = renameat (self->dir_fd, tmp_name, self->dir_fd, name) == 0;
  if (ok)
    old = compact_install (self, &job, fd, size);
  else
    set_errno_error (error, errno, "Cannot rename", tmp_name);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    {
      close (fd);
      unlinkat (self->dir_fd, tmp_name, 0);
      return FALSE;
    }

  /* The rename must be durable before the superseded files go (a crash in
   * between is fine: the COMPACTED flag makes open delete them). */
  if (!sync_dir (self, error))
    return FALSE;
  for (guint i = 0; i + 1 < old->len; i++)
    if (!unlink_segment_file (self, ((EpQueueSegment *) old->pdata[i])->number, FALSE, error))
      return FALSE;
  return sync_dir (self, error);
}

static gboolean
reclaim (EpQueue   *self,
         gboolean   force_compaction,
         GError   **error)
{
  gboolean ok;

  g_mutex_lock (&self->maintenance_mutex);
  ok = delete_dead_segments (self, error) &&
       compact (self, force_compaction, error) &&
       delete_dead_segments (self, error);
  g_mutex_unlock (&self->maintenance_mutex);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Restore */

typedef enum {
  HEADER_VALID,
  HEADER_TORN,     /* shorter than a header: creation was interrupted */
  HEADER_CORRUPT,
} HeaderState;

typedef struct {
  guint32     number;
  int         fd;          /* owned until moved into an EpQueueSegment */
  guint64     size;        /* file size */
  HeaderState state;
  guint32     flags;
  guint64     base_seq;
  gboolean    superseded;  /* a later COMPACTED file holds its live events */
  guint64     tail;        /* where a torn tail starts; == size if none */
  gboolean    bad_bytes;   /* holds a bad header or bad frames before its tail */
  EpQueueSegment *seg;     /* borrowed, once restored */
} RestoreFile;

typedef struct {
  GArray     *files;        /* RestoreFile, by number */
  GPtrArray  *tmp_names;    /* owned names of compaction leftovers */
  GHashTable *feral;        /* nullable: set of borrowed names */
  GArray     *feral_seqs;   /* guint64: events to remove */
  guint64     max_seq;      /* highest seq seen in events and tombstones */
  guint64     last_event_seq;
  gboolean    dir_changed;
  gboolean    bad_bytes;      /* a restored file holds bad bytes */
} Restore;

static void
restore_file_clear (gpointer data)
{
  RestoreFile *file = data;

  if (file->fd >= 0)
    close (file->fd);
  file->fd = -1;
}

static void
restore_clear (Restore *rs)
{
  g_clear_pointer (&rs->files, g_array_unref);
  g_clear_pointer (&rs->tmp_names, g_ptr_array_unref);
  g_clear_pointer (&rs->feral, g_hash_table_unref);
  g_clear_pointer (&rs->feral_seqs, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Restore, restore_clear)

static gint
compare_restore_files (gconstpointer a,
                       gconstpointer b)
{
  guint32 na = ((const RestoreFile *) a)->number, nb = ((const RestoreFile *) b)->number;

  return na < nb ? -1 : na > nb;
}

static gboolean
restore_open_file (EpQueue     *self,
                   Restore     *rs,
                   const char  *name,
                   guint32      number,
                   GError     **error)
{
  RestoreFile file = { number, -1, 0, HEADER_CORRUPT, 0, 0, FALSE, 0, FALSE, NULL };
  struct stat st;

  file.fd = openat (self->dir_fd, name, O_RDWR | O_CLOEXEC);
  if (file.fd < 0 || fstat (file.fd, &st) != 0)
    {
      set_errno_error (error, errno, "Cannot open queue file", name);
      if (file.fd >= 0)
        close (file.fd);
      return FALSE;
    }
  file.size = file.tail = st.st_size;
  g_array_append_val (rs->files, file);
  if (file.size >= G_MAXUINT32 - MAX_RECORD_LEN)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "Queue file %s/%s is too large (%" G_GUINT64_FORMAT " bytes)",
                   self->dir, name, file.size);
      return FALSE;
    }
  return TRUE;
}

static gboolean
restore_list_files (EpQueue  *self,
                    Restore  *rs,
                    GError  **error)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *name;
  guint32 number;

  dir = g_dir_open (self->dir, 0, &local_error);
  if (dir == NULL)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "Cannot read queue directory: %s",
                   local_error->message);
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (parse_segment_name (name, TRUE, &number))
        g_ptr_array_add (rs->tmp_names, g_strdup (name));
      else if (parse_segment_name (name, FALSE, &number) &&
               !restore_open_file (self, rs, name, number, error))
        return FALSE;
    }
  g_array_sort (rs->files, compare_restore_files);
  return TRUE;
}

/* Classifies the header of @file; fails only for a newer format. */
static gboolean
restore_read_header (EpQueue      *self,
                     RestoreFile  *file,
                     GError      **error)
{
  SegmentHeader h;

  if (file->size < HEADER_SIZE)
    {
      file->state = HEADER_TORN;
      return TRUE;
    }
  if (!pread_all (file->fd, &h, HEADER_SIZE, 0) ||
      memcmp (h.magic, SEGMENT_MAGIC, sizeof h.magic) != 0 ||
      GUINT32_FROM_LE (h.header_crc) != ep_queue_crc32c (&h, HEADER_SIZE - 4))
    {
      file->state = HEADER_CORRUPT;
      return TRUE;
    }
  if (GUINT32_FROM_LE (h.version) > FORMAT_VERSION)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "Queue file %s/%08x.journal was written by a newer version of "
                   "ep-glib (format %u; this version reads format %u); it is left "
                   "untouched: use a newer ep-glib or another queue directory",
                   self->dir, file->number, GUINT32_FROM_LE (h.version), FORMAT_VERSION);
      return FALSE;
    }
  file->state = GUINT32_FROM_LE (h.version) == 0 ? HEADER_CORRUPT : HEADER_VALID;
  file->flags = GUINT32_FROM_LE (h.flags);
  file->base_seq = GUINT64_FROM_LE (h.base_seq);
  return TRUE;
}

static gboolean
restore_read_headers (EpQueue  *self,
                      Restore  *rs,
                      GError  **error)
{
  guint superseded = 0;

  for (guint i = 0; i < rs->files->len; i++)
    {
      RestoreFile *file = &g_array_index (rs->files, RestoreFile, i);

      if (!restore_read_header (self, file, error))
        return FALSE;
      if (file->state == HEADER_VALID && (file->flags & SEGMENT_FLAG_COMPACTED))
        superseded = i;
    }
  for (guint i = 0; i < superseded; i++)
    g_array_index (rs->files, RestoreFile, i).superseded = TRUE;
  return TRUE;
}

static gboolean
record_is_feral (const guint8 *data,
                 gsize         len,
                 GHashTable   *feral)
{
  const char *name = ep_event_record_peek_name (data, len);

  return name != NULL && g_hash_table_contains (feral, name);
}

static void
restore_tombstone (EpQueue      *self,
                   Restore      *rs,
                   const guint8 *payload,
                   guint32       n_seqs)
{
  for (guint32 i = 0; i < n_seqs; i++)
    {
      EpQueueEntry *e;
      guint64 seq;

      memcpy (&seq, payload + 8 * (gsize) i, 8);
      seq = GUINT64_FROM_LE (seq);
      rs->max_seq = MAX (rs->max_seq, seq);
      e = index_find (&self->index, seq);
      if (e != NULL)
        forget_entry (self, e);
    }
}

static void
restore_frame (EpQueue           *self,
               Restore           *rs,
               EpQueueSegment    *seg,
               const guint8      *data,
               gsize              off,
               const FrameHeader *h)
{
  const guint8 *payload = data + off + HEADER_SIZE;

  if (h->type == FRAME_TOMBSTONE)
    {
      restore_tombstone (self, rs, payload, h->logical_size);
      return;
    }
  if (h->seq <= rs->last_event_seq)
    return;  /* a duplicate: cannot happen unless files were copied around */
  add_entry (self, seg, h->seq, off, h->length, h->logical_size);
  rs->last_event_seq = rs->max_seq = h->seq;
  if (rs->feral != NULL && record_is_feral (payload, h->length, rs->feral))
    g_array_append_val (rs->feral_seqs, h->seq);
}

static gboolean
all_zero (const guint8 *data,
          gsize         len)
{
  for (gsize i = 0; i < len; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

static gboolean
newer_frame_error (EpQueue         *self,
                   EpQueueSegment  *seg,
                   gsize            off,
                   GError         **error)
{
  g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
               "Queue file %s/%08x.journal holds a record written by a newer "
               "version of ep-glib (at offset %" G_GSIZE_FORMAT "); it is left "
               "untouched: use a newer ep-glib or another queue directory",
               self->dir, seg->number, off);
  return FALSE;
}

/* The offset of the next valid frame at or after @from, or @size. */
static gboolean
find_next_frame (EpQueue         *self,
                 EpQueueSegment  *seg,
                 const guint8    *data,
                 gsize            size,
                 gsize            from,
                 gsize           *next,
                 GError         **error)
{
  guint32 magic = GUINT32_TO_LE (FRAME_MAGIC);

  for (gsize off = ALIGN8 (from); off + HEADER_SIZE <= size; off += 8)
    {
      FrameHeader h;
      FrameCheck check;

      if (memcmp (data + off, &magic, 4) != 0)
        continue;
      check = frame_check (data, size, off, &h);
      if (check == FRAME_NEWER)
        return newer_frame_error (self, seg, off, error);
      if (check == FRAME_OK)
        {
          *next = off;
          return TRUE;
        }
    }
  *next = size;
  return TRUE;
}

/* Replays the frames of @data (the contents of @file); sets *@end to where
 * the next frame goes, @file->tail to where a torn tail starts (@size if
 * none) and @file->bad_bytes if bad frames come before it. */
static gboolean
restore_scan (EpQueue         *self,
              Restore         *rs,
              RestoreFile     *file,
              const guint8    *data,
              gsize            size,
              guint64         *end,
              GError         **error)
{
  EpQueueSegment *seg = file->seg;
  gsize off = HEADER_SIZE;

  file->tail = size;
  while (off < size)
    {
      FrameHeader h;
      FrameCheck check = frame_check (data, size, off, &h);
      gsize next;

      if (check == FRAME_NEWER)
        return newer_frame_error (self, seg, off, error);
      if (check == FRAME_OK)
        {
          restore_frame (self, rs, seg, data, off, &h);
          off += FRAME_SIZE (h.length);
          continue;
        }
      if (!find_next_frame (self, seg, data, size, off + 8, &next, error))
        return FALSE;
      if (next == size)
        {
          if (!all_zero (data + off, size - off))
            self->discarded++;
          file->tail = off;
          break;
        }
      self->discarded++;
      file->bad_bytes = TRUE;
      off = next;
    }
  *end = MIN (off, file->tail);
  *end = ALIGN8 (MAX (*end, HEADER_SIZE));
  return TRUE;
}

static gboolean
restore_segment (EpQueue      *self,
                 Restore      *rs,
                 RestoreFile  *file,
                 GError      **error)
{
  EpQueueSegment *seg = segment_new (file->fd, file->number);
  guint64 end = HEADER_SIZE;
  gboolean ok = TRUE;

  file->fd = -1;
  file->seg = seg;
  seg->base_seq = file->state == HEADER_VALID ? file->base_seq : 0;
  g_ptr_array_add (self->segments, seg);
  if (file->state == HEADER_CORRUPT)
    {
      self->discarded++;
      file->bad_bytes = TRUE;
    }
  if (file->size > HEADER_SIZE)
    {
      void *data = mmap (NULL, file->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, seg->fd, 0);

      if (data == MAP_FAILED)
        {
          set_errno_error (error, errno, "Cannot read queue file in", self->dir);
          return FALSE;
        }
      ok = restore_scan (self, rs, file, data, file->size, &end, error);
      munmap (data, file->size);
    }
  seg->size = end;
  /* bad bytes are dropped by compacting the file, which must be sealed */
  seg->writable = file->state == HEADER_VALID && !file->bad_bytes;
  rs->bad_bytes |= file->bad_bytes;
  return ok;
}

/* After a successful scan: the only place restore modifies the directory. */
static gboolean
restore_apply (EpQueue  *self,
               Restore  *rs,
               GError  **error)
{
  for (guint i = 0; i < rs->files->len; i++)
    {
      RestoreFile *file = &g_array_index (rs->files, RestoreFile, i);

      if (file->superseded || file->state == HEADER_TORN)
        {
          if (!unlink_segment_file (self, file->number, FALSE, error))
            return FALSE;
          rs->dir_changed = TRUE;
        }
      else if (file->tail < file->size && ftruncate (file->seg->fd, file->tail) != 0)
        {
          set_errno_error (error, errno, "Cannot cut a torn record off a queue file in",
                           self->dir);
          return FALSE;
        }
    }
  for (guint i = 0; i < rs->tmp_names->len; i++)
    {
      unlinkat (self->dir_fd, rs->tmp_names->pdata[i], 0);
      rs->dir_changed = TRUE;
    }
  return TRUE;
}

static void
restore_init (Restore             *rs,
              const char * const  *feral_names)
{
  rs->files = g_array_new (FALSE, FALSE, sizeof (RestoreFile));
  g_array_set_clear_func (rs->files, restore_file_clear);
  rs->tmp_names = g_ptr_array_new_with_free_func (g_free);
  rs->feral_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  if (feral_names == NULL || feral_names[0] == NULL)
    return;
  rs->feral = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; feral_names[i] != NULL; i++)
    g_hash_table_add (rs->feral, (gpointer) feral_names[i]);
}

/* Removes the events of feral types, persistently. */
static void
restore_remove_feral (EpQueue *self,
                      Restore *rs)
{
  g_autoptr(GError) error = NULL;

  if (rs->feral_seqs->len == 0)
    return;
  if (!remove_locked (self, (const guint64 *) (gpointer) rs->feral_seqs->data,
                      rs->feral_seqs->len, &error))
    g_warning ("Queue %s: cannot persist the removal of %u feral event(s): %s",
               self->dir, rs->feral_seqs->len, error->message);
}

/* With the mutex held: rebuilds the queue from the directory. */
static gboolean
restore (EpQueue             *self,
         const char * const  *feral_names,
         GError             **error)
{
  g_auto(Restore) rs = { 0 };
  guint64 base_seq = 1;
  guint32 next_number = 1;

  restore_init (&rs, feral_names);
  if (!restore_list_files (self, &rs, error) || !restore_read_headers (self, &rs, error))
    return FALSE;
  for (guint i = 0; i < rs.files->len; i++)
    {
      RestoreFile *file = &g_array_index (rs.files, RestoreFile, i);

      next_number = MAX (next_number, file->number + 1);
      if (file->superseded || file->state == HEADER_TORN)
        continue;
      if (!restore_segment (self, &rs, file, error))
        return FALSE;
      base_seq = MAX (base_seq, file->base_seq);
    }
  if (!restore_apply (self, &rs, error))
    return FALSE;

  self->next_seq = MAX (rs.max_seq + 1, base_seq);
  if (self->segments->len == 0 || !active_segment (self)->writable)
    {
      if (create_segment (self, next_number, 0, error) == NULL)
        return FALSE;
    }
  if (rs.dir_changed && !sync_dir (self, error))
    return FALSE;
  restore_remove_feral (self, &rs);
  tidy_index (self);
  self->reclaim_wanted = reclaim_possible (self);
  self->compaction_wanted = rs.bad_bytes;
  if (self->discarded > 0)
    g_warning ("Queue %s: discarded %u corrupt or torn record(s) while restoring",
               self->dir, self->discarded);
  return TRUE;
}

static gboolean
open_dir_and_lock (EpQueue  *self,
                   GError  **error)
{
  int errsv;

  if (g_mkdir_with_parents (self->dir, 0700) != 0)
    {
      set_errno_error (error, errno, "Cannot create queue directory", self->dir);
      return FALSE;
    }
  self->dir_fd = open (self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (self->dir_fd < 0)
    {
      set_errno_error (error, errno, "Cannot open queue directory", self->dir);
      return FALSE;
    }
  self->lock_fd = openat (self->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (self->lock_fd >= 0 && flock (self->lock_fd, LOCK_EX | LOCK_NB) == 0)
    return TRUE;

  errsv = errno;
  if (self->lock_fd >= 0)
    close (self->lock_fd);
  self->lock_fd = -1;
  if (errsv == EWOULDBLOCK)
    g_set_error (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED,
                 "The queue directory %s is in use by another producer", self->dir);
  else
    set_errno_error (error, errsv, "Cannot lock queue directory", self->dir);
  return FALSE;
}

/* Bytes that failed their checks at open stay in their (sealed) segment
 * until it is compacted: compact now when that is quick, else leave it to
 * the sync thread, so that the next open does not meet them again. */
static void
compact_bad_bytes (EpQueue *self)
{
  g_autoptr(GError) error = NULL;
  guint64 total, live;

  g_mutex_lock (&self->mutex);
  sealed_bytes (self, &total, &live);
  g_mutex_unlock (&self->mutex);
  if (!self->compaction_wanted || live > MAX_OPEN_COMPACTION_BYTES)
    return;
  if (reclaim (self, TRUE, &error))
    {
      self->compaction_wanted = FALSE;
      return;
    }
  g_warning ("Queue %s: cannot compact away corrupt records (retrying in a minute): %s",
             self->dir, error->message);
  self->reclaim_not_before = g_get_monotonic_time () + RECLAIM_RETRY_US;
}

/* ---------------------------------------------------------------------- */
/* GObject */

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

  index_clear (&self->index);
  g_clear_pointer (&self->segments, g_ptr_array_unref);
  if (self->dir_fd >= 0)
    close (self->dir_fd);
  g_free (self->dir);
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
  self->dir_fd = -1;
  self->lock_fd = -1;
  self->next_seq = 1;
  self->segment_limit = MAX_SEGMENT_LIMIT;
  self->segments = g_ptr_array_new_with_free_func (segment_unref);
  index_init (&self->index);
  g_mutex_init (&self->mutex);
  g_mutex_init (&self->maintenance_mutex);
  g_cond_init (&self->cond);
}

/* ---------------------------------------------------------------------- */
/* Public API */

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
  self->dir = g_strdup (dir);
  self->max_bytes = max_bytes;
  self->sync_on_send = sync_on_send;
  if (max_bytes > 0)
    self->segment_limit = CLAMP (max_bytes / 4, MIN_SEGMENT_LIMIT, MAX_SEGMENT_LIMIT);
  if (!open_dir_and_lock (self, error))
    return NULL;

  g_mutex_lock (&self->mutex);
  ok = restore (self, feral_names, error);
  g_mutex_unlock (&self->mutex);
  if (!ok)
    return NULL;
  compact_bad_bytes (self);  /* before the sync thread starts */

  self->sync_thread = g_thread_try_new ("ep-queue-sync", sync_thread_main, self, error);
  if (self->sync_thread == NULL)
    {
      g_prefix_error (error, "Cannot start the queue's sync thread: ");
      return NULL;
    }
  return g_steal_pointer (&self);
}

/* With the mutex held: checks, writes the frame and indexes it. */
static EpQueueSegment *
append_locked (EpQueue       *self,
               const guint8  *record,
               gsize          record_len,
               guint32        logical_size,
               guint32        payload_crc,
               guint64       *seq_out,
               GError       **error)
{
  EpQueueSegment *seg;
  FrameHeader h;
  guint64 offset;

  if (self->closed)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->dir);
      return NULL;
    }
  if (self->max_bytes > 0 && self->live_bytes + logical_size > self->max_bytes)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_BUDGET_EXCEEDED,
                   "Storing %u more bytes would exceed the queue budget of %"
                   G_GUINT64_FORMAT " bytes (%" G_GUINT64_FORMAT " in use)",
                   logical_size, self->max_bytes, self->live_bytes);
      return NULL;
    }
  frame_header_init (&h, FRAME_EVENT, record_len, logical_size, self->next_seq, payload_crc);
  seg = write_frame (self, &h, record, record_len, &offset, error);
  if (seg == NULL)
    return NULL;
  add_entry (self, seg, self->next_seq, offset, record_len, logical_size);
  *seq_out = self->next_seq++;
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
}

/* sync_on_send: makes the append of @seq in @seg durable, or takes it back. */
static gboolean
sync_appended (EpQueue         *self,
               EpQueueSegment  *seg,
               guint64          seq,
               GError         **error)
{
  gboolean dir_dirty;
  int errsv = 0;

  if (fdatasync (seg->fd) != 0)
    errsv = errno;
  g_mutex_lock (&self->mutex);
  dir_dirty = self->dir_dirty;
  self->dir_dirty = FALSE;
  g_mutex_unlock (&self->mutex);
  if (errsv == 0 && dir_dirty && fsync (self->dir_fd) != 0)
    errsv = errno;
  if (errsv == 0)
    return TRUE;

  g_mutex_lock (&self->mutex);
  self->dir_dirty |= dir_dirty;
  remove_locked (self, &seq, 1, NULL);
  g_mutex_unlock (&self->mutex);
  set_errno_error (error, errsv, "Cannot sync the queue in", self->dir);
  return FALSE;
}

gboolean
ep_queue_append (EpQueue       *self,
                 const guint8  *record,
                 gsize          record_len,
                 guint32        logical_size,
                 GError       **error)
{
  EpQueueSegment *seg;
  guint32 payload_crc;
  guint64 seq = 0;
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (record != NULL || record_len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (record_len > MAX_RECORD_LEN)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "A record of %" G_GSIZE_FORMAT " bytes is larger than the queue's "
                   "limit of %u bytes", record_len, MAX_RECORD_LEN);
      return FALSE;
    }
  payload_crc = ep_queue_crc32c (record, record_len);

  g_mutex_lock (&self->mutex);
  seg = append_locked (self, record, record_len, logical_size, payload_crc, &seq, error);
  /* Recorded in append order, inside the same critical section. */
  note_append_result_locked (self, seg != NULL);
  if (seg != NULL && self->sync_on_send)
    segment_ref (seg);
  g_mutex_unlock (&self->mutex);

  if (seg == NULL)
    return FALSE;
  if (!self->sync_on_send)
    return TRUE;
  ok = sync_appended (self, seg, seq, error);
  segment_unref (seg);
  if (!ok)
    {
      g_mutex_lock (&self->mutex);
      note_append_result_locked (self, FALSE);
      g_mutex_unlock (&self->mutex);
    }
  return ok;
}

gboolean
ep_queue_get_storing_failing (EpQueue *self,
                              guint64 *n_failures)
{
  gboolean failing;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);

  g_mutex_lock (&self->mutex);
  failing = self->storing_failing;
  if (n_failures != NULL)
    *n_failures = self->append_failures;
  g_mutex_unlock (&self->mutex);
  return failing;
}

void
ep_queue_set_storing_failing (EpQueue  *self,
                              gboolean  failing)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->storing_failing = !!failing;
  g_mutex_unlock (&self->mutex);
}

/* A record to read once the mutex is released. */
typedef struct {
  guint64         seq;
  EpQueueSegment *seg;          /* owned ref */
  guint64         offset;
  guint32         length;
  guint32         logical_size;
} ReadJob;

static void
read_job_clear (gpointer data)
{
  ReadJob *job = data;

  g_clear_pointer (&job->seg, segment_unref);
}

/* With the mutex held: picks events from position @pos. With @take, only
 * pending ones, within @max_bytes, marking them in flight. */
static void
collect_jobs (EpQueue  *self,
              gsize     pos,
              guint     max_items,
              gsize     max_bytes,
              gboolean  take,
              GArray   *jobs)
{
  gsize bytes = 0;

  for (; pos < self->index.len && jobs->len < max_items; pos++)
    {
      EpQueueEntry *e = index_at (&self->index, pos);
      EntryState state = entry_state (e);
      ReadJob job;

      if (state == ENTRY_REMOVED || (take && state == ENTRY_IN_FLIGHT))
        continue;
      if (take)
        {
          if (jobs->len > 0 && bytes + e->logical_size > max_bytes)
            break;
          bytes += e->logical_size;
          entry_set_state (e, ENTRY_IN_FLIGHT);
          self->n_in_flight++;
          self->cursor_seq = e->seq + 1;
        }
      job.seq = e->seq;
      job.seg = segment_ref (segment_find (self, e->segment));
      job.offset = entry_offset (e);
      job.length = e->length;
      job.logical_size = e->logical_size;
      g_array_append_val (jobs, job);
    }
  if (take && jobs->len == 0 && pos >= self->index.len)
    self->cursor_seq = self->next_seq;
}

/* Reads and checks one record; NULL if it cannot be read back intact. */
static EpQueueItem *
read_item (const ReadJob *job)
{
  gsize total = HEADER_SIZE + (gsize) job->length;
  guint8 *buf = g_malloc (total);
  EpQueueItem *item;
  FrameHeader h;

  if (!pread_all (job->seg->fd, buf, total, job->offset) ||
      frame_check (buf, total, 0, &h) != FRAME_OK ||
      h.type != FRAME_EVENT || h.seq != job->seq)
    {
      g_free (buf);
      return NULL;
    }
  item = g_new (EpQueueItem, 1);
  item->seq = job->seq;
  item->logical_size = job->logical_size;
  item->record = g_bytes_new_with_free_func (buf + HEADER_SIZE, job->length, g_free, buf);
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

  g_warning ("Queue %s: discarded %u record(s) that could not be read back",
             self->dir, bad->len);
  g_mutex_lock (&self->mutex);
  self->discarded += bad->len;
  if (!self->closed)
    remove_locked (self, (const guint64 *) (gpointer) bad->data, bad->len, NULL);
  g_mutex_unlock (&self->mutex);
}

static GArray *
read_job_array_new (void)
{
  GArray *jobs = g_array_new (FALSE, FALSE, sizeof (ReadJob));

  g_array_set_clear_func (jobs, read_job_clear);
  return jobs;
}

GPtrArray *
ep_queue_take (EpQueue *self,
               guint    max_items,
               gsize    max_bytes)
{
  g_autoptr(GArray) jobs = read_job_array_new ();
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);

  g_return_val_if_fail (EP_IS_QUEUE (self), items);

  g_mutex_lock (&self->mutex);
  if (!self->closed)
    collect_jobs (self, index_lower_bound (&self->index, self->cursor_seq),
                  max_items, max_bytes, TRUE, jobs);
  g_mutex_unlock (&self->mutex);

  read_jobs (self, jobs, items, TRUE);
  return items;
}

GPtrArray *
ep_queue_peek (EpQueue *self,
               guint64  after_seq,
               guint    max_items)
{
  g_autoptr(GArray) jobs = read_job_array_new ();
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);

  g_return_val_if_fail (EP_IS_QUEUE (self), items);

  g_mutex_lock (&self->mutex);
  if (!self->closed && after_seq < G_MAXUINT64)
    collect_jobs (self, index_lower_bound (&self->index, after_seq + 1),
                  max_items, G_MAXSIZE, FALSE, jobs);
  g_mutex_unlock (&self->mutex);

  read_jobs (self, jobs, items, FALSE);
  return items;
}

gboolean
ep_queue_remove (EpQueue        *self,
                 const guint64  *seqs,
                 guint           n_seqs,
                 GError        **error)
{
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (seqs != NULL || n_seqs == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED, "The queue %s is closed", self->dir);
      ok = FALSE;
    }
  else
    ok = remove_locked (self, seqs, n_seqs, error);
  g_mutex_unlock (&self->mutex);
  return ok;
}

void
ep_queue_release (EpQueue       *self,
                  const guint64 *seqs,
                  guint          n_seqs)
{
  g_return_if_fail (EP_IS_QUEUE (self));
  g_return_if_fail (seqs != NULL || n_seqs == 0);

  g_mutex_lock (&self->mutex);
  for (guint i = 0; i < n_seqs; i++)
    {
      EpQueueEntry *e = index_find (&self->index, seqs[i]);

      if (e == NULL || entry_state (e) != ENTRY_IN_FLIGHT)
        continue;
      entry_set_state (e, ENTRY_PENDING);
      self->n_in_flight--;
      self->cursor_seq = MIN (self->cursor_seq, seqs[i]);
    }
  g_mutex_unlock (&self->mutex);
}

/* With the mutex held: the seq of the oldest event not removed. */
static guint64
first_seq_locked (EpQueue *self)
{
  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = index_at (&self->index, i);

      if (entry_state (e) != ENTRY_REMOVED)
        return e->seq;
    }
  return G_MAXUINT64;
}

#define LOCKED_GETTER(type, name, expr) \
  type \
  ep_queue_get_##name (EpQueue *self) \
  { \
    type value; \
    g_return_val_if_fail (EP_IS_QUEUE (self), 0); \
    g_mutex_lock (&self->mutex); \
    value = (expr); \
    g_mutex_unlock (&self->mutex); \
    return value; \
  }

LOCKED_GETTER (guint64, length, self->n_live)
LOCKED_GETTER (guint64, bytes, self->live_bytes)
LOCKED_GETTER (guint64, pending, self->n_live - self->n_in_flight)
LOCKED_GETTER (guint, discarded, self->discarded)
LOCKED_GETTER (guint64, next_seq, self->next_seq)
LOCKED_GETTER (guint64, first_seq, first_seq_locked (self))

#undef LOCKED_GETTER

/* With the mutex held. */
static gint64
oldest_time_locked (EpQueue *self)
{
  EpQueueSegment *seg;
  EpQueueEntry *e = NULL;
  gint64 created_us;

  for (gsize i = 0; i < self->index.len && e == NULL; i++)
    if (entry_state (index_at (&self->index, i)) != ENTRY_REMOVED)
      e = index_at (&self->index, i);
  if (e == NULL)
    return 0;
  if (e->seq == self->oldest_seq)
    return self->oldest_time;
  seg = segment_find (self, e->segment);
  if (seg == NULL || e->length < 8 ||
      !pread_all (seg->fd, &created_us, 8, entry_offset (e) + HEADER_SIZE))
    return 0;
  self->oldest_seq = e->seq;
  self->oldest_time = created_us;
  return created_us;
}

gint64
ep_queue_get_oldest_time (EpQueue *self)
{
  gint64 value;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  g_mutex_lock (&self->mutex);
  value = self->closed ? 0 : oldest_time_locked (self);
  g_mutex_unlock (&self->mutex);
  return value;
}

const char *
ep_queue_get_dir (EpQueue *self)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  return self->dir;
}

guint64
ep_queue_get_disk_usage (EpQueue *self)
{
  guint64 total = 0;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  g_mutex_lock (&self->mutex);
  for (guint i = 0; i < self->segments->len; i++)
    total += ((EpQueueSegment *) self->segments->pdata[i])->size;
  g_mutex_unlock (&self->mutex);
  return total;
}

void
ep_queue_set_segment_size (EpQueue *self,
                           gsize    bytes)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->segment_limit = CLAMP (bytes, 2 * HEADER_SIZE, MAX_SEGMENT_LIMIT);
  g_mutex_unlock (&self->mutex);
}

void
ep_queue_set_fault_injection (EpQueue *self,
                              int      errsv,
                              guint    n_writes)
{
  g_return_if_fail (EP_IS_QUEUE (self));
  g_return_if_fail (errsv > 0 || n_writes == 0);

  g_mutex_lock (&self->mutex);
  self->fault_errno = errsv;
  self->fault_writes = n_writes;
  g_mutex_unlock (&self->mutex);
}

gboolean
ep_queue_reclaim (EpQueue   *self,
                  gboolean   force_compaction,
                  GError   **error)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return reclaim (self, force_compaction, error);
}

gboolean
ep_queue_sync (EpQueue  *self,
               GError  **error)
{
  gboolean ok;

  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  g_mutex_lock (&self->mutex);
  ok = sync_dirty_locked (self, error);
  g_mutex_unlock (&self->mutex);
  return ok;
}

void
ep_queue_close (EpQueue *self)
{
  g_autoptr(GError) error = NULL;
  GThread *thread;

  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  if (self->closed)
    {
      g_mutex_unlock (&self->mutex);
      return;
    }
  self->closed = TRUE;
  self->stopping = TRUE;
  thread = g_steal_pointer (&self->sync_thread);
  g_cond_signal (&self->cond);
  g_mutex_unlock (&self->mutex);

  if (thread != NULL)
    g_thread_join (thread);

  g_mutex_lock (&self->maintenance_mutex);
  g_mutex_lock (&self->mutex);
  if (!sync_dirty_locked (self, &error))
    g_warning ("Closing queue: %s", error->message);
  g_ptr_array_set_size (self->segments, 0);
  index_clear (&self->index);
  index_init (&self->index);
  if (self->lock_fd >= 0)
    close (self->lock_fd);
  self->lock_fd = -1;
  g_mutex_unlock (&self->mutex);
  g_mutex_unlock (&self->maintenance_mutex);
}
