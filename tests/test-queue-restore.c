/* test-queue-restore.c: the persistent queue (EpQueue) across a restart: restore, torn
 * tails, corrupt records and headers, moved, copied and odd segment files
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define _GNU_SOURCE 1  /* renameat2 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "ep-crc32c-private.h"
#include "ep-event-private.h"
#include "ep-queue-private.h"
#include "ep-test-queue-util.h"
#include "ep-test-util.h"

/* ---------------------------------------------------------------------- */
/* Tests */

static void
test_restore_after_close (void)
{
  g_autofree char *dir = ep_test_make_dir ("restore");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *payloads = NULL;
  guint64 last_seq, bytes, seq;

  append (queue, "a");
  append (queue, "b");
  append (queue, "c");
  items = ep_queue_take (queue, 1, G_MAXSIZE);
  seq = item_seq (items, 0);
  g_assert_true (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_no_error (error);
  g_ptr_array_unref (items);
  items = ep_queue_take (queue, 1, G_MAXSIZE);  /* b in flight */
  last_seq = item_seq (items, 0) + 1;
  bytes = ep_queue_get_bytes (queue);
  ep_queue_close (queue);
  ep_queue_close (queue);  /* idempotent */
  g_assert_false (try_append (queue, "n", "late", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_CLOSED);
  g_clear_error (&error);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  payloads = queue_payloads (queue);
  g_assert_cmpstr (payloads, ==, "b,c");
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 2);  /* in flight is not persistent */
  g_assert_cmpuint (ep_queue_get_bytes (queue), ==, bytes);
  append (queue, "d");
  after = ep_queue_peek (queue, last_seq, 10);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_cmpuint (item_seq (after, 0), >, last_seq);
}

static void
test_restore_after_dispose (void)
{
  g_autofree char *dir = ep_test_make_dir ("dispose");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autofree char *payloads = NULL;

  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *payload = g_strdup_printf ("%u", i);

      append (queue, payload);
    }
  g_clear_object (&queue);  /* no close */

  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 100);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 100);
  payloads = queue_payloads (queue);
  g_assert_true (g_str_has_prefix (payloads, "0,1,2,3,"));
  g_assert_true (g_str_has_suffix (payloads, ",98,99"));
}

/* Cuts the file inside the last record at every byte offset. */
static void
test_torn_tail (void)
{
  g_autofree char *dir = ep_test_make_dir ("torn");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GBytes) contents = NULL;
  g_autofree char *path = NULL;
  g_autofree char *base = NULL;
  g_autofree char *last = g_strnfill (150, 'z');
  g_autoptr(GBytes) last_record = make_record (0, "test_event", last, NULL);
  guint64 start, payload_end;

  append (queue, "first");
  append (queue, "second");
  start = ep_queue_get_disk_usage_for_testing (queue);
  append (queue, last);
  ep_queue_close (queue);
  path = only_segment (dir);
  base = g_path_get_basename (path);
  contents = read_file (path);
  payload_end = start + FRAME_HEADER_SIZE + g_bytes_get_size (last_record);
  g_assert_cmpuint (g_bytes_get_size (contents), >=, payload_end);

  for (guint64 cut = start; cut < g_bytes_get_size (contents); cut++)
    {
      g_autofree char *torn_dir = ep_test_make_dir ("torn-copy");
      g_autofree char *torn_path = g_build_filename (torn_dir, base, NULL);
      g_autoptr(EpQueue) torn = NULL;
      g_autofree char *payloads = NULL;
      g_autofree char *expected = NULL;
      gboolean intact = cut >= payload_end;  /* only padding is missing */

      write_file (torn_path, g_bytes_get_data (contents, NULL), cut);
      torn = open_queue (torn_dir, 0, NULL, intact || cut == start ? 0 : 1);
      payloads = queue_payloads (torn);
      expected = g_strdup_printf ("first,second%s%s", intact ? "," : "", intact ? last : "");
      g_assert_cmpstr (payloads, ==, expected);
      if (!intact)
        g_assert_cmpuint (file_size (torn_path), ==, start);

      append (torn, "next");
      g_clear_object (&torn);
      torn = open_queue (torn_dir, 0, NULL, 0);
      g_clear_pointer (&payloads, g_free);
      g_clear_pointer (&expected, g_free);
      payloads = queue_payloads (torn);
      expected = g_strdup_printf ("first,second,%s%snext", intact ? last : "", intact ? "," : "");
      g_assert_cmpstr (payloads, ==, expected);
      g_clear_object (&torn);
      ep_test_remove_tree (torn_dir);
    }
}

/* Records of 5 events; @offsets gets the frame offset of each. */
static char *
make_five (guint64 offsets[5])
{
  g_autofree char *dir = ep_test_make_dir ("five");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *payload = g_strdup_printf ("payload-%u-%s", i, "abcdefghijklmnopqrstuvwxyz");

      offsets[i] = ep_queue_get_disk_usage_for_testing (queue);
      append (queue, payload);
    }
  return g_steal_pointer (&dir);
}

static void
flip_bit (const char *path,
          guint64     offset,
          guint       bit)
{
  g_autoptr(GBytes) contents = read_file (path);
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (contents, NULL), g_bytes_get_size (contents));

  data[offset] ^= 1u << bit;
  write_file (path, data, g_bytes_get_size (contents));
}

static void
test_corrupt_middle (void)
{
  /* byte offsets inside the third frame: payload, length, seq, magic */
  const guint where[] = { FRAME_HEADER_SIZE + 20, 9, 17, 1, FRAME_HEADER_SIZE + 60 };

  for (guint w = 0; w < G_N_ELEMENTS (where); w++)
    for (guint bit = 0; bit < 8; bit += 3)
      {
        guint64 offsets[5];
        g_autofree char *dir = make_five (offsets);
        g_autofree char *path = only_segment (dir);
        g_autoptr(EpQueue) queue = NULL;
        g_autofree char *payloads = NULL;

        flip_bit (path, offsets[2] + where[w], bit);
        queue = open_queue (dir, 0, NULL, 1);
        g_assert_cmpuint (ep_queue_get_length (queue), ==, 4);
        payloads = queue_payloads (queue);
        g_assert_cmpstr (payloads, ==,
                         "payload-0-abcdefghijklmnopqrstuvwxyz,payload-1-abcdefghijklmnopqrstuvwxyz,"
                         "payload-3-abcdefghijklmnopqrstuvwxyz,payload-4-abcdefghijklmnopqrstuvwxyz");
        append (queue, "after");
        g_assert_cmpuint (ep_queue_get_length (queue), ==, 5);
        g_clear_object (&queue);
        ep_test_remove_tree (dir);
      }
}

static void
test_corrupt_segment_header (void)
{
  guint64 offsets[5];
  g_autofree char *dir = make_five (offsets);
  g_autofree char *path = only_segment (dir);
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(GPtrArray) segments = NULL;

  flip_bit (path, 3, 0);
  queue = open_queue (dir, 0, NULL, 1);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 5);
  append (queue, "after");  /* goes to a new segment */
  g_clear_object (&queue);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, ==, 2);
  queue = open_queue (dir, 0, NULL, 0);  /* the first open compacted it away */
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 6);
}

static void
assert_numbered (EpQueue *queue,
                 guint    n,
                 guint    missing)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);

  g_assert_cmpuint (items->len, ==, n - 1);
  for (guint i = 0, number = 0; i < items->len; i++, number++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      g_autofree char *prefix = NULL;

      if (number == missing)
        number++;
      prefix = g_strdup_printf ("p%u.", number);
      g_assert_true (g_str_has_prefix (payload, prefix));
    }
}

/* A corrupt record is counted by the open that meets it, and then gone for
 * good: in the active segment (@segment_size 0) or in an older one. */
static void
check_corrupt_bytes_dropped (gsize segment_size)
{
  g_autofree char *dir = ep_test_make_dir ("dropped");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autofree char *pad = g_strnfill (400, '.');
  guint64 offset = 0;
  guint n = 12;

  if (segment_size > 0)
    ep_queue_set_segment_size_for_testing (queue, segment_size);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      if (i == 1)
        offset = ep_queue_get_disk_usage_for_testing (queue);
      append (queue, payload);
    }
  g_clear_object (&queue);
  segments = list_segments (dir);
  if (segment_size > 0)
    g_assert_cmpuint (segments->len, >=, 3);
  else
    g_assert_cmpuint (segments->len, ==, 1);
  flip_bit (segments->pdata[0], offset + FRAME_HEADER_SIZE + 50, 2);  /* record 1 */

  queue = open_queue (dir, 0, NULL, 1);
  assert_numbered (queue, n, 1);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_numbered (queue, n, 1);
  append (queue, "after");
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, n);
}

static void
test_corrupt_bytes_dropped (void)
{
  check_corrupt_bytes_dropped (0);
  check_corrupt_bytes_dropped (2048);
}

/* Too much data to compact during the open: the sync thread does it. */
static void
test_corrupt_bytes_dropped_later (void)
{
  g_autofree char *dir = ep_test_make_dir ("dropped-later");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autofree char *pad = g_strnfill (1000, '.');
  guint n = 18 * 1024;  /* 18 MiB */
  guint64 offset = 0;

  ep_queue_set_segment_size_for_testing (queue, 1024 * 1024);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      if (i == 1)
        offset = ep_queue_get_disk_usage_for_testing (queue);
      append (queue, payload);
    }
  g_clear_object (&queue);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, >, 10);
  flip_bit (segments->pdata[0], offset + FRAME_HEADER_SIZE + 500, 2);  /* record 1 */

  queue = open_queue (dir, 0, NULL, 1);
  EP_TEST_SPIN_UNTIL (count_segments (dir) == 2);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_numbered (queue, n, 1);
}

static void
assert_open_refused (const char *dir,
                     const char *path,
                     GBytes     *expected_contents)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(GBytes) after = NULL;

  queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_null (queue);
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_nonnull (strstr (error->message, "newer version"));
  after = read_file (path);
  g_assert_true (g_bytes_equal (after, expected_contents));
  g_assert_cmpuint (count_segments (dir), ==, 1);
}

static void
set_le32 (guint8  *data,
          guint32  value)
{
  value = GUINT32_TO_LE (value);
  memcpy (data, &value, 4);
}

static void
test_newer_version (void)
{
  guint64 offsets[5];
  g_autofree char *dir = make_five (offsets);
  g_autofree char *path = only_segment (dir);
  g_autoptr(GBytes) original = read_file (path);
  g_autoptr(GBytes) newer = NULL;
  g_autoptr(GPtrArray) leak_check = NULL;
  g_autofree guint8 *data = NULL;
  gsize len = g_bytes_get_size (original);
  guint8 *frame;

  /* a newer segment header */
  data = g_memdup2 (g_bytes_get_data (original, NULL), len);
  set_le32 (data + 8, 2);
  set_le32 (data + 28, ep_crc32c (data, 28));
  write_file (path, data, len);
  newer = read_file (path);
  assert_open_refused (dir, path, newer);
  assert_open_refused (dir, path, newer);  /* still refused, still untouched */

  /* a newer frame inside a current segment */
  g_free (data);
  data = g_memdup2 (g_bytes_get_data (original, NULL), len);
  frame = data + offsets[3];
  frame[4] = 2;
  frame[5] = 0;
  set_le32 (frame + 28, ep_crc32c (frame, 28));
  write_file (path, data, len);
  g_bytes_unref (newer);
  newer = read_file (path);
  assert_open_refused (dir, path, newer);
}

/* A backup tool copies a compacted segment under a higher number: the
 * intact segments in between stay, and the copies are skipped, counted
 * and compacted away (issue 8, item 5). */
static void
test_copied_compacted (void)
{
  g_autofree char *dir = ep_test_make_dir ("copied");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GBytes) compacted = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *copy = g_build_filename (dir, "000000ff.journal", NULL);
  g_autoptr(GArray) numbers = NULL;
  g_autofree char *alone = ep_test_make_dir ("copied-alone");
  g_autofree char *alone_path = g_build_filename (alone, "000000ff.journal", NULL);
  guint64 in_copy;

  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 0, 60);
  seqs = take_seqs (queue);
  g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) seqs->data, 40, &error));
  g_assert_no_error (error);
  ep_queue_release (queue, &g_array_index (seqs, guint64, 40), 20);
  g_assert_true (ep_queue_reclaim (queue, TRUE, &error));
  g_assert_no_error (error);
  segments = list_segments (dir);
  compacted = read_file (segments->pdata[0]);
  append_numbered (queue, 100, 60);
  g_clear_object (&queue);
  g_clear_pointer (&segments, g_ptr_array_unref);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, >=, 4);
  write_file (copy, g_bytes_get_data (compacted, NULL), g_bytes_get_size (compacted));

  /* how many events the copy holds: open it alone */
  write_file (alone_path, g_bytes_get_data (compacted, NULL), g_bytes_get_size (compacted));
  queue = open_queue (alone, 0, NULL, 0);
  in_copy = ep_queue_get_length (queue);
  g_assert_cmpuint (in_copy, >, 0);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 40, 60, 100, 160);
  g_assert_cmpuint (ep_queue_get_duplicates (queue), ==, in_copy);
  append_numbered (queue, 200, 1);
  g_clear_object (&queue);

  /* the copies were compacted away: not met (nor counted) again */
  queue = open_queue (dir, 0, NULL, 0);
  numbers = queued_numbers (queue);
  g_assert_cmpuint (numbers->len, ==, 81);
  g_assert_cmpuint (g_array_index (numbers, guint, 79), ==, 159);
  g_assert_cmpuint (g_array_index (numbers, guint, 80), ==, 200);
  g_assert_cmpuint (ep_queue_get_duplicates (queue), ==, 0);
}

/* A sealed segment that ends inside the padding of its last frame: the
 * record is intact and kept, the padding comes back, compaction can read
 * the frame whole (it used to fail for good, with a stale errno). */
static void
test_cut_in_padding (void)
{
  g_autofree char *dir = ep_test_make_dir ("padding");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GBytes) record = NULL;
  guint64 size;
  guint pad = 0;

  /* a record whose length is not a multiple of 8 */
  do
    {
      g_clear_pointer (&record, g_bytes_unref);
      g_free (payload);
      g_autofree char *dots = g_strnfill (pad++, '.');

      payload = g_strdup_printf ("p0%s", dots);
      record = make_record (0, "test_event", payload, NULL);
    }
  while (g_bytes_get_size (record) % 8 == 0);

  ep_queue_set_segment_size_for_testing (queue, 64);  /* one event per segment */
  append (queue, payload);
  append_numbered (queue, 1, 2);
  g_clear_object (&queue);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, ==, 3);
  size = file_size (segments->pdata[0]);
  g_assert_no_errno (truncate (segments->pdata[0], size - 1));

  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);
  g_assert_cmpuint (file_size (segments->pdata[0]), ==, size);
  g_assert_true (ep_queue_reclaim (queue, TRUE, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 0, 3, 0, 0);
}

/* A directory and a 4 GiB (sparse) file named like segments are moved
 * aside and counted; start-up goes on (issue 8, item 7). */
static void
test_odd_files (void)
{
  g_autofree char *dir = ep_test_make_dir ("odd");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autofree char *subdir = g_build_filename (dir, "00000050.journal", NULL);
  g_autofree char *big = g_build_filename (dir, "00000060.journal", NULL);
  g_autofree char *subdir_odd = g_strconcat (subdir, ".odd", NULL);
  g_autofree char *big_odd = g_strconcat (big, ".odd", NULL);
  int fd;

  append_numbered (queue, 0, 3);
  g_clear_object (&queue);
  g_assert_no_errno (g_mkdir (subdir, 0700));
  fd = g_open (big, O_WRONLY | O_CREAT, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_no_errno (ftruncate (fd, G_GINT64_CONSTANT (4) << 30));
  close (fd);

  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 0, 3, 0, 0);
  g_assert_cmpuint (ep_queue_get_moved_aside (queue), ==, 2);
  g_assert_true (g_file_test (subdir_odd, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (big_odd, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (subdir, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (big, G_FILE_TEST_EXISTS));
  append_numbered (queue, 3, 1);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 0, 4, 0, 0);
  g_assert_cmpuint (ep_queue_get_moved_aside (queue), ==, 0);
  g_clear_object (&queue);
  g_assert_no_errno (g_unlink (big_odd));
}

/* How many events the segment file @contents holds: opened alone. */
static guint64
events_in_file (GBytes *contents)
{
  g_autofree char *dir = ep_test_make_dir ("alone");
  g_autofree char *path = g_build_filename (dir, "00000001.journal", NULL);
  g_autoptr(EpQueue) queue = NULL;

  write_file (path, g_bytes_get_data (contents, NULL), g_bytes_get_size (contents));
  queue = open_queue (dir, 0, NULL, 0);
  return ep_queue_get_length (queue);
}

typedef enum {
  MOVE_RENAME_HIGHER,
  MOVE_SWAP,
  MOVE_COPY_LOWER,
} SegmentMove;

/* Segment files renamed to another free number, two swapping numbers, a
 * copy under a lower free number: every intact event comes back once, in
 * seq order, removed ones stay removed, and the files are rewritten so
 * that the next open finds nothing odd. */
static void
test_moved_segments (gconstpointer data)
{
  SegmentMove move = GPOINTER_TO_INT (data);
  g_autofree char *dir = ep_test_make_dir ("moved");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GArray) expected = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GError) error = NULL;
  g_autofree char *other = g_build_filename (dir, "00000050.journal", NULL);
  g_autofree char *zero = g_build_filename (dir, "00000000.journal", NULL);
  g_autoptr(GBytes) copy = NULL;
  guint64 in_copy = 0;

  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 0, 60);
  seqs = take_seqs (queue);
  /* removed: 10..14 (in the second segment) and 40..41 */
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 10), 5, &error));
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 40), 2, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);
  append_range (expected, 0, 10);
  append_range (expected, 15, 40);
  append_range (expected, 42, 60);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, >=, 5);

  switch (move)
    {
    case MOVE_RENAME_HIGHER:
      g_assert_no_errno (g_rename (segments->pdata[1], other));
      break;
    case MOVE_SWAP:
      g_assert_no_errno (g_rename (segments->pdata[1], other));
      g_assert_no_errno (g_rename (segments->pdata[2], segments->pdata[1]));
      g_assert_no_errno (g_rename (other, segments->pdata[2]));
      break;
    case MOVE_COPY_LOWER:
      copy = read_file (segments->pdata[2]);
      write_file (zero, g_bytes_get_data (copy, NULL), g_bytes_get_size (copy));
      in_copy = events_in_file (copy);
      break;
    }

  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
  g_assert_cmpuint (ep_queue_get_duplicates (queue), ==, in_copy);
  append_numbered (queue, 100, 1);
  append_range (expected, 100, 101);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
  g_assert_cmpuint (ep_queue_get_duplicates (queue), ==, 0);
}

/* A compacted segment and a later one holding only tombstones for its
 * events swap numbers: the tombstones are met first, and still remove
 * their events; the file of tombstones, created after the compaction, is
 * not taken for a leftover of it. */
static void
test_swapped_tombstones (void)
{
  g_autofree char *dir = ep_test_make_dir ("swapped-tombstones");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_build_filename (dir, "swap", NULL);

  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 0, 30);
  seqs = take_seqs (queue);
  /* every frame from now on starts a segment */
  ep_queue_set_segment_size_for_testing (queue, 64);
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 0), 5, &error));
  g_assert_true (ep_queue_reclaim (queue, TRUE, &error));
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 10), 3, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, ==, 3);  /* compacted, tombstones, tombstones */

  g_assert_no_errno (g_rename (segments->pdata[0], tmp));
  g_assert_no_errno (g_rename (segments->pdata[2], segments->pdata[0]));
  g_assert_no_errno (g_rename (tmp, segments->pdata[2]));
  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 5, 10, 13, 30);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 5, 10, 13, 30);
}

/* The last segment renamed to ffffffff.journal, the highest number, with a
 * corrupt header (the image fuzz-restore found, tests/fuzz/corpus/restore/
 * crash-*): no number is left for a new segment after it. Restore renames
 * it to the next free number below (order kept), so the new active segment
 * sorts last: every intact record comes back, also through a forced
 * compaction, rotations and a reopen. It used to crash: a new segment
 * 00000001.journal sorted before ffffffff in the lookup by number, and
 * the index pointed at segments the lookup could not find. */
static void
test_highest_segment_number (void)
{
  g_autofree char *dir = ep_test_make_dir ("highest-number");
  g_autofree char *highest = g_build_filename (dir, "ffffffff.journal", NULL);
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GArray) expected = g_array_new (FALSE, FALSE, sizeof (guint));
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) last = NULL;
  g_autofree guint8 *bytes = NULL;

  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 0, 30);
  seqs = take_seqs (queue);
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 3), 2, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);
  append_range (expected, 0, 3);
  append_range (expected, 5, 30);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, >=, 3);
  last = read_file (segments->pdata[segments->len - 1]);
  g_assert_cmpuint (g_bytes_get_size (last), >, 32);
  bytes = g_memdup2 (g_bytes_get_data (last, NULL), g_bytes_get_size (last));
  bytes[0] ^= 0xff;  /* the segment header's magic */
  write_file (highest, bytes, g_bytes_get_size (last));
  g_assert_no_errno (g_unlink (segments->pdata[segments->len - 1]));

  queue = open_queue (dir, 0, NULL, 1);  /* the corrupt header */
  assert_queued (queue, expected);
  g_assert_false (g_file_test (highest, G_FILE_TEST_EXISTS));
  g_assert_true (ep_queue_reclaim (queue, TRUE, &error));
  g_assert_no_error (error);
  assert_queued (queue, expected);
  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 100, 20);  /* rotates */
  append_range (expected, 100, 120);
  assert_queued (queue, expected);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
}

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (count_discard_warnings, NULL, NULL);
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/queue/restore-after-close", test_restore_after_close);
  g_test_add_func ("/ep/queue/restore-after-dispose", test_restore_after_dispose);
  g_test_add_func ("/ep/queue/recover-torn-tail", test_torn_tail);
  g_test_add_func ("/ep/queue/recover-corrupt-middle", test_corrupt_middle);
  g_test_add_func ("/ep/queue/recover-corrupt-segment-header", test_corrupt_segment_header);
  g_test_add_func ("/ep/queue/recover-corrupt-bytes-dropped", test_corrupt_bytes_dropped);
  g_test_add_func ("/ep/queue/recover-corrupt-bytes-dropped-later",
                   test_corrupt_bytes_dropped_later);
  g_test_add_func ("/ep/queue/refuse-newer-version", test_newer_version);
  g_test_add_func ("/ep/queue/copied-compacted-segment", test_copied_compacted);
  g_test_add_func ("/ep/queue/recover-cut-in-padding", test_cut_in_padding);
  g_test_add_func ("/ep/queue/odd-files-moved-aside", test_odd_files);
  g_test_add_data_func ("/ep/queue/renamed-segment", GINT_TO_POINTER (MOVE_RENAME_HIGHER),
                        test_moved_segments);
  g_test_add_data_func ("/ep/queue/swapped-segments", GINT_TO_POINTER (MOVE_SWAP),
                        test_moved_segments);
  g_test_add_data_func ("/ep/queue/copied-segment-lower", GINT_TO_POINTER (MOVE_COPY_LOWER),
                        test_moved_segments);
  g_test_add_func ("/ep/queue/swapped-tombstones", test_swapped_tombstones);
  g_test_add_func ("/ep/queue/highest-segment-number", test_highest_segment_number);

  return g_test_run ();
}
