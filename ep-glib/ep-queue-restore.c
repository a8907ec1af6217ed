/* ep-queue-restore.c: rebuilding the queue from its directory at open
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Reads every segment once (mmap), checks both checksums of every frame and
 * builds the index without allocating per record. Resynchronises after bad
 * frames, cuts torn tails, deletes the leftovers of interrupted compactions
 * and removes feral events. The directory is modified (through ep-journal.c)
 * only once every file has been read: a newer format version leaves it
 * untouched.
 *
 * Files are replayed in number order, which is seq order unless files were
 * copied or renamed by hand (backup and sync tools do). An event whose seq
 * is not above the previous one is either a copy of a restored one
 * (skipped, counted by ep_queue_get_duplicates(), and its file compacted
 * away) or late: its file was renamed or copied to a lower number. Late
 * events are merged into the index in seq order, unless a tombstone met
 * before them removed them, and the queue is then rewritten into one new
 * file, so that file order is seq order again. A
 * segment is deleted as a leftover of an interrupted compaction only when a
 * COMPACTED file provably holds its live events (its header is intact and
 * its base seq and every event seq in it are below the COMPACTED file's
 * base seq, and no kept file comes in between).
 * Anything else named like a segment (a directory, a special file, a file
 * too large for 32-bit offsets) is moved aside as "<name>.odd" and counted.
 *
 * The rescue is here too: when the directory or a segment is deleted under
 * an open queue, its live events are written again, from the files still
 * open, into one new segment of the directory made again.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ep-crc32c-private.h"
#include "ep-event-private.h"
#include "ep-queue-internal.h"

typedef enum {
  HEADER_VALID,
  HEADER_TORN,     /* shorter than a header: creation was interrupted */
  HEADER_CORRUPT,
} HeaderState;

typedef struct {
  guint32           number;      /* its number from now on (see restore_renumber()) */
  guint32           disk_number; /* the number in its name in the directory */
  int               fd;          /* owned until moved into an EpJournalSegment */
  guint64           size;        /* file size */
  HeaderState       state;
  guint32           flags;
  guint64           base_seq;
  gboolean          superseded;  /* a later COMPACTED file holds its live events */
  guint64           tail;        /* where a torn tail starts; == size if none */
  gboolean          bad_bytes;   /* holds a bad header or bad frames before its tail */
  gboolean          stale;       /* holds copies of events restored from earlier files */
  EpJournalSegment *seg;         /* borrowed, once restored */
} RestoreFile;

typedef struct {
  GArray     *files;        /* RestoreFile, by number */
  GPtrArray  *tmp_names;    /* owned names of compaction leftovers */
  GPtrArray  *odd_names;    /* owned names of files to move aside */
  GHashTable *feral;        /* nullable: set of borrowed names */
  GArray     *feral_seqs;   /* guint64: events to remove */
  guint64     max_seq;      /* highest seq seen in events and tombstones */
  guint64     last_event_seq;
  GArray     *late;         /* EpQueueEntry: events met after higher seqs (out of order) */
  GArray     *unmatched;    /* guint64: tombstone seqs that named no restored event yet */
  gboolean    reordered;    /* late events were merged: the files must be rewritten */
  RestoreFile *file;        /* borrowed: the file being replayed */
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
  g_clear_pointer (&rs->odd_names, g_ptr_array_unref);
  g_clear_pointer (&rs->feral, g_hash_table_unref);
  g_clear_pointer (&rs->feral_seqs, g_array_unref);
  g_clear_pointer (&rs->late, g_array_unref);
  g_clear_pointer (&rs->unmatched, g_array_unref);
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
  RestoreFile file = { number, number, -1, 0, HEADER_CORRUPT, 0, 0, FALSE, 0, FALSE, FALSE, NULL };

  g_autoptr(GError) local_error = NULL;

  file.fd = ep_journal_open_segment (&self->journal, name, &file.size, &local_error);
  if (file.fd < 0 && self->journal.read_only)
    {
      /* the owner may have deleted it (compaction) since the listing */
      g_debug ("Queue %s: skipping %s: %s", self->journal.dir, name, local_error->message);
      return TRUE;
    }
  if (file.fd < 0)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  file.tail = file.size;
  g_array_append_val (rs->files, file);
  return TRUE;
}

/* Whether @name is something other than a segment file this code can
 * read: not a regular file, or too large for the 32-bit offsets. */
static gboolean
is_odd_file (EpQueue    *self,
             const char *name)
{
  struct stat st;

  if (fstatat (self->journal.dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return FALSE;  /* gone, or unreadable: opening it says why */
  return !S_ISREG (st.st_mode) || (guint64) st.st_size >= G_MAXUINT32 - EP_JOURNAL_MAX_RECORD_LEN;
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

  dir = g_dir_open (self->journal.dir, 0, &local_error);
  if (dir == NULL)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "Cannot read queue directory: %s",
                   local_error->message);
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      if (ep_journal_parse_segment_name (name, TRUE, &number))
        g_ptr_array_add (rs->tmp_names, g_strdup (name));
      else if (!ep_journal_parse_segment_name (name, FALSE, &number))
        continue;
      else if (is_odd_file (self, name))
        g_ptr_array_add (rs->odd_names, g_strdup (name));
      else if (!restore_open_file (self, rs, name, number, error))
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
  EpJournalSegmentHeader h;

  if (file->size < EP_JOURNAL_HEADER_SIZE)
    {
      file->state = HEADER_TORN;
      return TRUE;
    }
  if (!ep_journal_pread_all (file->fd, &h, EP_JOURNAL_HEADER_SIZE, 0) ||
      memcmp (h.magic, EP_JOURNAL_SEGMENT_MAGIC, sizeof h.magic) != 0 ||
      GUINT32_FROM_LE (h.header_crc) != ep_crc32c (&h, EP_JOURNAL_HEADER_SIZE - 4))
    {
      file->state = HEADER_CORRUPT;
      return TRUE;
    }
  if (GUINT32_FROM_LE (h.version) > EP_JOURNAL_FORMAT_VERSION)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "Queue file %s/%08x.journal was written by a newer version of "
                   "ep-glib (format %u; this version reads format %u); it is left "
                   "untouched: use a newer ep-glib or another queue directory",
                   self->journal.dir, file->disk_number, GUINT32_FROM_LE (h.version),
                   EP_JOURNAL_FORMAT_VERSION);
      return FALSE;
    }
  file->state = GUINT32_FROM_LE (h.version) == 0 ? HEADER_CORRUPT : HEADER_VALID;
  file->flags = GUINT32_FROM_LE (h.flags);
  file->base_seq = GUINT64_FROM_LE (h.base_seq);
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
      e = ep_queue_index_find (&self->index, seq);
      if (e != NULL)
        ep_queue_forget_entry (self, e);
      else
        g_array_append_val (rs->unmatched, seq);  /* for events met late */
    }
}

/* Whether an event of @seq was restored already (removed since, or not). */
static gboolean
seen (EpQueueIndex *ix,
      guint64       seq)
{
  gsize pos = ep_queue_index_lower_bound (ix, seq);

  return pos < ix->len && ep_queue_index_at (ix, pos)->seq == seq;
}

/* An event met after events with higher seqs, which it is not a copy of:
 * its file was renamed or copied to another number. Kept aside, merged into
 * the index in seq order once every file is read. */
static void
add_late (Restore                    *rs,
          EpJournalSegment           *seg,
          gsize                       off,
          const EpJournalFrameHeader *h,
          guint                       category)
{
  EpQueueEntry e = { 0 };

  e.seq = h->seq;
  e.segment = seg->number;
  e.offset_state = (guint32) off | EP_QUEUE_ENTRY_PENDING;
  e.length = h->length;
  e.category = category;
  e.logical_size = h->logical_size;
  g_array_append_val (rs->late, e);
  rs->max_seq = MAX (rs->max_seq, h->seq);
}

/* An event's consent category: from its frame, or for frames of earlier
 * builds from its record's headers. */
static guint
frame_category (const EpJournalFrameHeader *h,
                const guint8               *payload)
{
  int category;

  if (h->category > 0)
    return h->category - 1 <= EP_CONSENT_CATEGORY_TARGETING ? h->category - 1
                                                            : EP_QUEUE_CATEGORY_UNKNOWN;
  category = ep_event_record_peek_category (payload, h->length);
  return category < 0 ? EP_QUEUE_CATEGORY_UNKNOWN : (guint) category;
}

static void
restore_frame (EpQueue                    *self,
               Restore                    *rs,
               EpJournalSegment           *seg,
               const guint8               *data,
               gsize                       off,
               const EpJournalFrameHeader *h)
{
  const guint8 *payload = data + off + EP_JOURNAL_HEADER_SIZE;

  if (h->type == EP_JOURNAL_FRAME_TOMBSTONE)
    {
      restore_tombstone (self, rs, payload, h->logical_size);
      return;
    }
  if (h->seq <= rs->last_event_seq && seen (&self->index, h->seq))
    {
      /* a copy: files were copied by hand */
      self->duplicates++;
      rs->file->stale = TRUE;
      return;
    }
  if (h->seq <= rs->last_event_seq)
    add_late (rs, seg, off, h, frame_category (h, payload));
  else
    {
      ep_queue_add_entry (self, seg, h->seq, off, h->length, h->logical_size,
                          frame_category (h, payload));
      rs->last_event_seq = h->seq;
      rs->max_seq = MAX (rs->max_seq, h->seq);
    }
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
newer_frame_error (EpQueue  *self,
                   guint32   number,
                   gsize     off,
                   GError  **error)
{
  g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
               "Queue file %s/%08x.journal holds a record written by a newer "
               "version of ep-glib (at offset %" G_GSIZE_FORMAT "); it is left "
               "untouched: use a newer ep-glib or another queue directory",
               self->journal.dir, number, off);
  return FALSE;
}

/* The offset of the next valid frame at or after @from, or @size. */
static gboolean
find_next_frame (EpQueue       *self,
                 guint32        number,
                 const guint8  *data,
                 gsize          size,
                 gsize          from,
                 gsize         *next,
                 GError       **error)
{
  guint32 magic = GUINT32_TO_LE (EP_JOURNAL_FRAME_MAGIC);

  for (gsize off = EP_JOURNAL_ALIGN8 (from); off + EP_JOURNAL_HEADER_SIZE <= size; off += 8)
    {
      EpJournalFrameHeader h;
      EpJournalFrameCheck check;

      if (memcmp (data + off, &magic, 4) != 0)
        continue;
      check = ep_journal_frame_check (data, size, off, &h);
      if (check == EP_JOURNAL_FRAME_NEWER)
        return newer_frame_error (self, number, off, error);
      if (check == EP_JOURNAL_FRAME_OK)
        {
          *next = off;
          return TRUE;
        }
    }
  *next = size;
  return TRUE;
}

static const guint8 *
map_file (EpQueue  *self,
          int       fd,
          gsize     size,
          GError  **error)
{
  void *data = mmap (NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);

  if (data != MAP_FAILED)
    return data;
  ep_journal_set_error (error, errno, "Cannot read queue file in", self->journal.dir);
  return NULL;
}

/* The highest event seq in @file (0 if none), read as restore_scan() reads
 * it, restoring nothing. */
static gboolean
scan_max_event_seq (EpQueue      *self,
                    RestoreFile  *file,
                    guint64      *max_seq,
                    GError      **error)
{
  const guint8 *data;
  gsize off = EP_JOURNAL_HEADER_SIZE;
  gboolean ok = TRUE;

  *max_seq = 0;
  if (file->size <= EP_JOURNAL_HEADER_SIZE)
    return TRUE;
  data = map_file (self, file->fd, file->size, error);
  if (data == NULL)
    return FALSE;
  while (ok && off < file->size)
    {
      EpJournalFrameHeader h;
      EpJournalFrameCheck check = ep_journal_frame_check (data, file->size, off, &h);

      if (check == EP_JOURNAL_FRAME_NEWER)
        ok = newer_frame_error (self, file->disk_number, off, error);
      else if (check == EP_JOURNAL_FRAME_BAD)
        ok = find_next_frame (self, file->disk_number, data, file->size, off + 8, &off, error);
      else
        {
          if (h.type == EP_JOURNAL_FRAME_EVENT)
            *max_seq = MAX (*max_seq, h.seq);
          off += EP_JOURNAL_FRAME_SIZE (h.length);
        }
    }
  munmap ((void *) data, file->size);
  return ok;
}

/* Reads the headers, then finds the leftovers of interrupted compactions
 * (see the top of this file). */
static gboolean
restore_read_headers (EpQueue  *self,
                      Restore  *rs,
                      GError  **error)
{
  guint64 bound = 0;  /* base seq of the nearest kept file above, if COMPACTED */

  for (guint i = 0; i < rs->files->len; i++)
    if (!restore_read_header (self, &g_array_index (rs->files, RestoreFile, i), error))
      return FALSE;
  for (guint i = rs->files->len; i-- > 0;)
    {
      RestoreFile *file = &g_array_index (rs->files, RestoreFile, i);
      guint64 max_seq;

      if (file->state == HEADER_TORN)
        continue;
      /* a file created after the compaction (its base seq is not below the
       * bound) may hold tombstones for the compacted file's events: kept */
      if (bound > 0 && file->state == HEADER_VALID && file->base_seq < bound)
        {
          if (!scan_max_event_seq (self, file, &max_seq, error))
            return FALSE;
          file->superseded = max_seq < bound;
        }
      if (!file->superseded)
        bound = file->state == HEADER_VALID && (file->flags & EP_JOURNAL_SEGMENT_COMPACTED) ? file->base_seq : 0;
    }
  return TRUE;
}

/* Replays the frames of @data (the contents of @file); sets *@end to where
 * the next frame goes, @file->tail to where a torn tail starts (@size if
 * none) and @file->bad_bytes if bad frames come before it. The file is then
 * cut or extended to *@end: a file that ends inside the padding of its last
 * (intact) frame gets its padding back, so that the frame can be read
 * whole, by compaction for one. */
static gboolean
restore_scan (EpQueue       *self,
              Restore       *rs,
              RestoreFile   *file,
              const guint8  *data,
              gsize          size,
              guint64       *end,
              GError       **error)
{
  EpJournalSegment *seg = file->seg;
  gsize off = EP_JOURNAL_HEADER_SIZE;

  file->tail = size;
  while (off < size)
    {
      EpJournalFrameHeader h;
      EpJournalFrameCheck check = ep_journal_frame_check (data, size, off, &h);
      gsize next;

      if (check == EP_JOURNAL_FRAME_NEWER)
        return newer_frame_error (self, file->disk_number, off, error);
      if (check == EP_JOURNAL_FRAME_OK)
        {
          restore_frame (self, rs, seg, data, off, &h);
          off += EP_JOURNAL_FRAME_SIZE (h.length);
          continue;
        }
      if (!find_next_frame (self, file->disk_number, data, size, off + 8, &next, error))
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
  *end = EP_JOURNAL_ALIGN8 (MAX (*end, EP_JOURNAL_HEADER_SIZE));
  return TRUE;
}

static gboolean
restore_segment (EpQueue      *self,
                 Restore      *rs,
                 RestoreFile  *file,
                 GError      **error)
{
  EpJournalSegment *seg = ep_journal_segment_new (file->fd, file->number);
  guint64 end = EP_JOURNAL_HEADER_SIZE;
  gboolean ok = TRUE;

  file->fd = -1;
  file->seg = seg;
  seg->base_seq = file->state == HEADER_VALID ? file->base_seq : 0;
  g_ptr_array_add (self->journal.segments, seg);
  if (file->state == HEADER_CORRUPT)
    {
      self->discarded++;
      file->bad_bytes = TRUE;
    }
  if (file->size > EP_JOURNAL_HEADER_SIZE)
    {
      const guint8 *data = map_file (self, seg->fd, file->size, error);

      if (data == NULL)
        return FALSE;
      rs->file = file;
      ok = restore_scan (self, rs, file, data, file->size, &end, error);
      rs->file = NULL;
      munmap ((void *) data, file->size);
    }
  seg->size = end;
  /* bad bytes and copies are dropped by compacting the file, which must be
   * sealed */
  seg->writable = file->state == HEADER_VALID && !file->bad_bytes && !file->stale;
  rs->bad_bytes |= file->bad_bytes || file->stale;
  return ok;
}

static gint
compare_entries (gconstpointer a,
                 gconstpointer b)
{
  guint64 sa = ((const EpQueueEntry *) a)->seq, sb = ((const EpQueueEntry *) b)->seq;

  return sa < sb ? -1 : sa > sb;
}

static gint
compare_seqs (gconstpointer a,
              gconstpointer b)
{
  guint64 sa = *(const guint64 *) a, sb = *(const guint64 *) b;

  return sa < sb ? -1 : sa > sb;
}

/* Whether @e is a duplicate among the late events or was removed by a
 * tombstone met before it; if not, counts it as live. */
static gboolean
keep_late (EpQueue      *self,
           Restore      *rs,
           guint         j,
           EpQueueEntry *e)
{
  EpJournalSegment *seg;

  if (j > 0 && g_array_index (rs->late, EpQueueEntry, j - 1).seq == e->seq)
    {
      self->duplicates++;
      return FALSE;
    }
  if (rs->unmatched->len > 0 &&  /* an empty GArray's data may be NULL */
      bsearch (&e->seq, rs->unmatched->data, rs->unmatched->len, sizeof (guint64),
               compare_seqs) != NULL)
    return FALSE;
  seg = ep_journal_segment_find (&self->journal, e->segment);
  seg->live++;
  seg->live_frame_bytes += EP_JOURNAL_FRAME_SIZE (e->length);
  self->n_live++;
  self->live_bytes += e->logical_size;
  return TRUE;
}

/* Merges the late events into the index, in seq order. The files are then
 * out of seq order: ep_queue_restore() rewrites them. */
static void
merge_late (EpQueue *self,
            Restore *rs)
{
  EpQueueIndex merged;
  gsize i = 0;
  guint j = 0;

  if (rs->late->len == 0)
    return;
  g_array_sort (rs->late, compare_entries);
  g_array_sort (rs->unmatched, compare_seqs);
  ep_queue_index_init (&merged);
  while (i < self->index.len || j < rs->late->len)
    {
      EpQueueEntry *a = i < self->index.len ? ep_queue_index_at (&self->index, i) : NULL;
      EpQueueEntry *b = j < rs->late->len ? &g_array_index (rs->late, EpQueueEntry, j) : NULL;

      if (b == NULL || (a != NULL && a->seq < b->seq))
        {
          *ep_queue_index_push (&merged) = *a;
          i++;
        }
      else if (keep_late (self, rs, j++, b))
        *ep_queue_index_push (&merged) = *b;
    }
  ep_queue_index_clear (&self->index);
  self->index = merged;
  rs->reordered = TRUE;
}

/* A tombstone met before its event (in a file renamed or copied to a
 * lower number) still removes it. In order, such a tombstone names an
 * event of a deleted segment, and finds nothing. */
static void
apply_early_tombstones (EpQueue *self,
                        Restore *rs)
{
  for (guint i = 0; i < rs->unmatched->len; i++)
    {
      EpQueueEntry *e = ep_queue_index_find (&self->index,
                                             g_array_index (rs->unmatched, guint64, i));

      if (e == NULL)
        continue;
      ep_queue_forget_entry (self, e);
      rs->reordered = TRUE;  /* the tombstone comes before its event in the files */
    }
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
          if (!ep_journal_unlink_segment (&self->journal, file->disk_number, FALSE, error))
            return FALSE;
          rs->dir_changed = TRUE;
        }
      else if (file->seg->size != file->size &&
               !ep_journal_truncate (&self->journal, file->seg, file->seg->size, error))
        return FALSE;
    }
  for (guint i = 0; i < rs->tmp_names->len; i++)
    {
      ep_journal_unlink (&self->journal, rs->tmp_names->pdata[i], NULL);
      rs->dir_changed = TRUE;
    }
  for (guint i = 0; i < rs->odd_names->len; i++)
    {
      g_autoptr(GError) local_error = NULL;

      self->moved_aside++;
      if (ep_journal_move_aside (&self->journal, rs->odd_names->pdata[i], &local_error))
        rs->dir_changed = TRUE;
      else
        g_message ("Queue %s: %s", self->journal.dir, local_error->message);
    }
  /* after the odd files went: a new number may be one of theirs */
  for (guint i = 0; i < rs->files->len; i++)
    {
      RestoreFile *file = &g_array_index (rs->files, RestoreFile, i);

      if (file->superseded || file->state == HEADER_TORN || file->number == file->disk_number)
        continue;
      if (!ep_journal_rename_segment (&self->journal, file->disk_number, file->number, error))
        return FALSE;
      g_message ("Queue %s: renamed %08x.journal to %08x.journal (no segment number is "
                 "left above it)", self->journal.dir, file->disk_number, file->number);
      rs->dir_changed = TRUE;
    }
  return TRUE;
}

/* Segment numbers only grow (each new segment gets the next one) and file
 * order is replay order. A directory whose last file is ffffffff.journal
 * (renamed or made by hand: rotation takes billions of segments to get
 * there) leaves no number for the next segment, and a wrapped number would
 * sort first and break every lookup of a segment by number. The files of
 * the run of consecutive numbers that ends at ffffffff get lower free
 * numbers, in the same order, right above the file before them: nothing is
 * dropped, replay order is unchanged. The files are renamed by
 * restore_apply(), in order, so that an interrupted open keeps the order. */
static void
restore_renumber (Restore *rs)
{
  guint n = rs->files->len;
  guint j = n;
  guint32 next;

  if (n == 0 || g_array_index (rs->files, RestoreFile, n - 1).number != G_MAXUINT32)
    return;
  while (j > 1 && g_array_index (rs->files, RestoreFile, j - 2).number ==
                  g_array_index (rs->files, RestoreFile, j - 1).number - 1)
    j--;
  j--;  /* the first file of the run */
  next = j > 0 ? g_array_index (rs->files, RestoreFile, j - 1).number + 1 : 0;
  if (next == g_array_index (rs->files, RestoreFile, j).number)
    return;  /* all 2^32 numbers taken: cannot happen */
  for (guint i = j; i < n; i++)
    g_array_index (rs->files, RestoreFile, i).number = next++;
}

static void
restore_init (Restore            *rs,
              const char * const *feral_names)
{
  rs->files = g_array_new (FALSE, FALSE, sizeof (RestoreFile));
  g_array_set_clear_func (rs->files, restore_file_clear);
  rs->tmp_names = g_ptr_array_new_with_free_func (g_free);
  rs->odd_names = g_ptr_array_new_with_free_func (g_free);
  rs->feral_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  rs->late = g_array_new (FALSE, FALSE, sizeof (EpQueueEntry));
  rs->unmatched = g_array_new (FALSE, FALSE, sizeof (guint64));
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
  if (!ep_queue_remove_locked (self, (const guint64 *) (gpointer) rs->feral_seqs->data,
                               rs->feral_seqs->len, &error))
    g_message ("Queue %s: cannot persist the removal of %u feral event(s): %s",
               self->journal.dir, rs->feral_seqs->len, error->message);
}

/* With the mutex held: rebuilds the queue from the directory. */
gboolean
ep_queue_restore (EpQueue             *self,
                  const char * const  *feral_names,
                  GError             **error)
{
  g_auto(Restore) rs = { 0 };
  guint64 base_seq = 1;
  guint32 next_number = 1;

  restore_init (&rs, feral_names);
  if (!restore_list_files (self, &rs, error) || !restore_read_headers (self, &rs, error))
    return FALSE;
  if (!self->journal.read_only)
    restore_renumber (&rs);  /* a snapshot creates no segment */
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
  merge_late (self, &rs);
  apply_early_tombstones (self, &rs);
  self->journal.next_seq = MAX (rs.max_seq + 1, base_seq);
  if (self->journal.read_only)
    {
      /* a snapshot: nothing is cut, deleted, moved or created */
      ep_queue_tidy_index (self);
      return TRUE;
    }
  if (!restore_apply (self, &rs, error))
    return FALSE;

  if (self->journal.segments->len == 0 || !ep_journal_active_segment (&self->journal)->writable)
    {
      if (ep_journal_create_segment (&self->journal, next_number, 0, error) == NULL)
        return FALSE;
    }
  if (rs.dir_changed && !ep_journal_sync_dir (&self->journal, error))
    return FALSE;
  restore_remove_feral (self, &rs);
  /* files renamed or copied to other numbers: one file again, in order */
  if (rs.reordered && !ep_queue_rescue_locked (self, error))
    return FALSE;
  ep_queue_tidy_index (self);
  self->reclaim_wanted = ep_queue_reclaim_possible (self);
  self->compaction_wanted = rs.bad_bytes;
  if (self->discarded > 0)
    g_message ("Queue %s: discarded %u corrupt or torn record(s) while restoring",
               self->journal.dir, self->discarded);
  if (self->duplicates > 0)
    g_message ("Queue %s: skipped %" G_GUINT64_FORMAT " copies of records restored from "
               "other files (files copied or renamed by hand?)", self->journal.dir, self->duplicates);
  if (self->moved_aside > 0)
    g_message ("Queue %s: moved %u file(s) aside (renamed *.odd) that are named like "
               "segments but are not segment files", self->journal.dir, self->moved_aside);
  return TRUE;
}

/* Rescue: the directory or a segment was deleted under the queue ----------- */

/* Copies the live frames, in index order, to the end of @seg; @offsets gets
 * their new offsets. */
static gboolean
rescue_copy (EpQueue           *self,
             EpJournalSegment  *seg,
             GArray            *offsets,
             GError           **error)
{
  g_autoptr(GByteArray) buf = g_byte_array_sized_new (1024 * 1024 + 64 * 1024);
  guint64 file_pos = seg->size;  /* where buf->data[0] goes */

  for (gsize i = 0; i <= self->index.len; i++)
    {
      EpQueueEntry *e = i < self->index.len ? ep_queue_index_at (&self->index, i) : NULL;

      if (e != NULL && ep_queue_entry_state (e) != EP_QUEUE_ENTRY_REMOVED)
        {
          EpJournalSegment *from = ep_journal_segment_find (&self->journal, e->segment);
          guint64 frame_len = EP_JOURNAL_FRAME_SIZE (e->length);
          guint64 offset = file_pos + buf->len;
          gsize at = buf->len;

          if (offset + frame_len > EP_QUEUE_MAX_COMPACTION_BYTES)
            {
              g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "The queue is too large to copy");
              return FALSE;
            }
          g_byte_array_set_size (buf, at + frame_len);
          if (from == NULL ||
              !ep_journal_pread_all (from->fd, buf->data + at, frame_len,
                                     ep_queue_entry_offset (e)))
            {
              g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                           "Cannot read queue file %08x.journal: %s",
                           e->segment, g_strerror (errno));
              return FALSE;
            }
          g_array_append_val (offsets, offset);
        }
      if ((e == NULL && buf->len > 0) || buf->len >= 1024 * 1024)
        {
          if (!ep_journal_write_at (seg->fd, buf->data, buf->len, file_pos, error))
            return FALSE;
          file_pos += buf->len;
          g_byte_array_set_size (buf, 0);
        }
    }
  seg->size = file_pos;
  return TRUE;
}

/* Points the index at @seg, the only segment from now on; deletes the
 * others that are still there. */
static void
rescue_install (EpQueue          *self,
                EpJournalSegment *seg,
                GArray           *offsets)
{
  guint k = 0;

  for (gsize i = 0; i < self->index.len; i++)
    {
      EpQueueEntry *e = ep_queue_index_at (&self->index, i);

      if (ep_queue_entry_state (e) == EP_QUEUE_ENTRY_REMOVED)
        continue;
      e->segment = seg->number;
      e->offset_state = (guint32) g_array_index (offsets, guint64, k++) | ep_queue_entry_state (e);
      seg->live++;
      seg->live_frame_bytes += EP_JOURNAL_FRAME_SIZE (e->length);
    }
  while (self->journal.segments->len > 1)
    {
      EpJournalSegment *old = g_ptr_array_steal_index (self->journal.segments, 0);

      ep_journal_unlink_segment (&self->journal, old->number, FALSE, NULL);
      ep_journal_segment_unref (old);
    }
}

/* With the mutex and the maintenance mutex held, after
 * ep_journal_storage_lost(): the live events are still readable through
 * the open files. Writes them all into one new segment, in the directory
 * created again if it is gone, and works there from now on. The segment is
 * flagged COMPACTED with the next seq as its base seq: if old segments are
 * left (a crash before they are deleted), the next open deletes them. */
gboolean
ep_queue_rescue_locked (EpQueue  *self,
                        GError  **error)
{
  guint32 number = ep_journal_active_segment (&self->journal)->number + 1;
  g_autoptr(GArray) offsets = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autofree char *name = ep_journal_segment_name (number);
  EpJournalSegment *seg;

  if (!ep_journal_reopen_dir (&self->journal, error))
    return FALSE;
  seg = ep_journal_create_segment (&self->journal, number, EP_JOURNAL_SEGMENT_COMPACTED, error);
  if (seg == NULL)
    return FALSE;
  if (!rescue_copy (self, seg, offsets, error) ||
      !ep_journal_sync_file (seg->fd, name, error) ||
      !ep_journal_sync_dir (&self->journal, error))
    {
      g_ptr_array_remove_index (self->journal.segments, self->journal.segments->len - 1);
      ep_journal_unlink_segment (&self->journal, number, FALSE, NULL);
      return FALSE;
    }
  rescue_install (self, seg, offsets);
  return TRUE;
}
