/* test-queue.c: the persistent queue (EpQueue)
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

#include "ep-event-private.h"
#include "ep-journal-private.h"
#include "ep-queue-private.h"
#include "ep-test-util.h"

#define SEGMENT_HEADER_SIZE 32
#define FRAME_HEADER_SIZE   32

/* g_test_expect_message() does not see structured log messages on GLib
 * 2.74, so a writer counts (and swallows) the queue's "discarded" messages:
 * a message, never a warning (SPEC: a corrupt record is not a programming
 * error, and applications run their tests with fatal warnings). */
static guint discard_warnings;

static GLogWriterOutput
count_discard_warnings (GLogLevelFlags   level,
                        const GLogField *fields,
                        gsize            n_fields,
                        gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && (level & G_LOG_LEVEL_MESSAGE) &&
        strstr (fields[i].value, "discarded") != NULL)
      {
        g_atomic_int_inc (&discard_warnings);
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* ---------------------------------------------------------------------- */
/* Helpers */

static GBytes *
make_record (gint64      created_us,
             const char *name,
             const char *payload,
             guint32    *logical_size)
{
  g_autoptr(GVariant) v = NULL;
  const char *id = "0b4e6a4c-2f47-4a4b-9a57-3f2a3e1a6f10";
  const char *headers = "{\"app-name\":\"test\"}";

  v = g_variant_ref_sink (g_variant_new ("(xssss)", created_us, id, name, headers, payload));
  if (logical_size != NULL)
    *logical_size = strlen (id) + strlen (name) + strlen (headers) + strlen (payload);
  return g_variant_get_data_as_bytes (v);
}

static gboolean
try_append (EpQueue     *queue,
            const char  *name,
            const char  *payload,
            GError     **error)
{
  g_autoptr(GBytes) record = NULL;
  guint32 logical;
  static gint64 created = 1000;

  record = make_record (g_atomic_pointer_add (&created, 1), name, payload, &logical);
  return ep_queue_append (queue, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                          logical, error);
}

static void
append (EpQueue    *queue,
        const char *payload)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (try_append (queue, "test_event", payload, &error));
  g_assert_no_error (error);
}

static char *
record_payload (GBytes *record)
{
  g_autoptr(GVariant) v = NULL;
  const char *payload;

  v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(xssss)"), record, FALSE));
  g_variant_get (v, "(x&s&s&s&s)", NULL, NULL, NULL, NULL, &payload);
  return g_strdup (payload);
}

/* The payloads of @items joined with commas. */
static char *
items_payloads (GPtrArray *items)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = items->pdata[i];
      g_autofree char *payload = record_payload (item->record);

      g_string_append_printf (out, "%s%s", i > 0 ? "," : "", payload);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static char *
queue_payloads (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);

  return items_payloads (items);
}

static guint64
item_seq (GPtrArray *items,
          guint      i)
{
  return ((EpQueueItem *) items->pdata[i])->seq;
}

static EpQueue *
open_queue (const char          *dir,
            guint64              max_bytes,
            const char * const  *feral,
            guint                expected_discarded)
{
  g_autoptr(GError) error = NULL;
  guint warnings_before = g_atomic_int_get (&discard_warnings);
  EpQueue *queue;

  queue = ep_queue_open (dir, max_bytes, FALSE, feral, &error);
  g_assert_no_error (error);
  g_assert_nonnull (queue);
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, expected_discarded);
  g_assert_cmpuint (g_atomic_int_get (&discard_warnings) - warnings_before, ==,
                    expected_discarded > 0 ? 1 : 0);
  return queue;
}

static gint
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

/* The segment files of @dir, sorted. */
static GPtrArray *
list_segments (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".journal"))
      g_ptr_array_add (names, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (names, compare_paths);
  return names;
}

static guint
count_segments (const char *dir)
{
  g_autoptr(GPtrArray) names = list_segments (dir);

  return names->len;
}

static char *
only_segment (const char *dir)
{
  g_autoptr(GPtrArray) names = list_segments (dir);

  g_assert_cmpuint (names->len, ==, 1);
  return g_strdup (names->pdata[0]);
}

static guint64
file_size (const char *path)
{
  struct stat st;

  g_assert_no_errno (g_stat (path, &st));
  return st.st_size;
}

static void
write_file (const char   *path,
            const guint8 *data,
            gsize         len)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) data, len, &error);
  g_assert_no_error (error);
}

static GBytes *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *data;
  gsize len;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

static char *
self_exe (void)
{
  g_autoptr(GError) error = NULL;
  char *path = g_file_read_link ("/proc/self/exe", &error);

  g_assert_no_error (error);
  return path;
}

/* ---------------------------------------------------------------------- */
/* Tests */

/* Known CRC-32C values (RFC 3720, B.4), then the software and hardware
 * versions against each other at every length 0..300 and every alignment. */
static void
test_crc32c (void)
{
  g_autofree guint8 *buf = g_malloc (300 + 8 + 65536);
  guint8 block[32];
  guint32 hw;
  gboolean have_hw = ep_queue_crc32c_hardware ("", 0, &hw);

  g_assert_cmphex (ep_queue_crc32c ("123456789", 9), ==, 0xE3069283);
  g_assert_cmphex (ep_queue_crc32c_software ("123456789", 9), ==, 0xE3069283);
  g_assert_cmphex (ep_queue_crc32c ("", 0), ==, 0);
  memset (block, 0, sizeof block);
  g_assert_cmphex (ep_queue_crc32c_software (block, 32), ==, 0x8A9136AA);
  memset (block, 0xff, sizeof block);
  g_assert_cmphex (ep_queue_crc32c_software (block, 32), ==, 0x62A8AB43);
  for (guint i = 0; i < 32; i++)
    block[i] = i;
  g_assert_cmphex (ep_queue_crc32c_software (block, 32), ==, 0x46DD794E);
  for (guint i = 0; i < 32; i++)
    block[i] = 31 - i;
  g_assert_cmphex (ep_queue_crc32c_software (block, 32), ==, 0x113FDB5C);
  g_assert_cmphex (ep_queue_crc32c (block, 32), ==, 0x113FDB5C);

  if (!have_hw)
    {
      g_test_message ("no SSE4.2 on this CPU or build: software CRC-32C only");
      return;
    }
  g_assert_true (ep_queue_crc32c_hardware ("123456789", 9, &hw));
  g_assert_cmphex (hw, ==, 0xE3069283);
  for (guint i = 0; i < 300 + 8 + 65536; i++)
    buf[i] = g_test_rand_int_range (0, 256);
  for (gsize len = 0; len <= 300; len++)
    for (gsize start = 0; start < 8; start++)
      {
        g_assert_true (ep_queue_crc32c_hardware (buf + start, len, &hw));
        g_assert_cmphex (hw, ==, ep_queue_crc32c_software (buf + start, len));
      }
  g_assert_true (ep_queue_crc32c_hardware (buf + 3, 65536, &hw));
  g_assert_cmphex (hw, ==, ep_queue_crc32c_software (buf + 3, 65536));
}

static void
test_order (void)
{
  g_autofree char *dir = ep_test_make_dir ("order");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) first = NULL;
  g_autoptr(GPtrArray) rest = NULL;
  g_autoptr(GPtrArray) none = NULL;
  g_autoptr(GPtrArray) again = NULL;
  g_autoptr(GPtrArray) peeked = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *payloads = NULL;
  guint64 seqs[5];
  guint64 one[1];
  gint64 oldest = 0;

  g_assert_cmpint (ep_queue_get_oldest_time (queue), ==, 0);
  for (guint i = 1; i <= 5; i++)
    {
      g_autofree char *payload = g_strdup_printf ("e%u", i);

      append (queue, payload);
      if (i == 1)
        oldest = ep_queue_get_oldest_time (queue);
    }
  g_assert_cmpint (oldest, >, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 5);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 5);
  g_assert_cmpuint (ep_queue_get_bytes (queue), >, 0);

  first = ep_queue_take (queue, 2, G_MAXSIZE);
  payloads = items_payloads (first);
  g_assert_cmpstr (payloads, ==, "e1,e2");
  g_clear_pointer (&payloads, g_free);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 3);
  g_assert_cmpuint (item_seq (first, 0), <, item_seq (first, 1));

  /* max_bytes: at least one, then only what fits */
  rest = ep_queue_take (queue, 10, 1);
  payloads = items_payloads (rest);
  g_assert_cmpstr (payloads, ==, "e3");
  g_clear_pointer (&payloads, g_free);
  g_ptr_array_unref (rest);
  rest = ep_queue_take (queue, 10, G_MAXSIZE);
  payloads = items_payloads (rest);
  g_assert_cmpstr (payloads, ==, "e4,e5");
  g_clear_pointer (&payloads, g_free);
  none = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 0);

  /* released events are handed out again, in order */
  one[0] = item_seq (first, 1);
  ep_queue_release (queue, one, 1);
  again = ep_queue_take (queue, 10, G_MAXSIZE);
  payloads = items_payloads (again);
  g_assert_cmpstr (payloads, ==, "e2");
  g_clear_pointer (&payloads, g_free);

  seqs[0] = item_seq (first, 0);     /* e1 */
  seqs[1] = item_seq (rest, 0) - 1;  /* e3 */
  seqs[2] = 999999;                  /* unknown: ignored */
  g_assert_true (ep_queue_remove (queue, seqs, 3, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);
  g_assert_cmpint (ep_queue_get_oldest_time (queue), ==, oldest + 1);

  seqs[0] = item_seq (rest, 1);
  seqs[1] = item_seq (rest, 0);
  seqs[2] = item_seq (first, 1);
  ep_queue_release (queue, seqs, 3);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 3);
  g_ptr_array_unref (again);
  again = ep_queue_take (queue, 10, G_MAXSIZE);
  payloads = items_payloads (again);
  g_assert_cmpstr (payloads, ==, "e2,e4,e5");
  g_clear_pointer (&payloads, g_free);

  /* peek does not care about in-flight and starts after a seq */
  peeked = ep_queue_peek (queue, item_seq (first, 1), 10);
  payloads = items_payloads (peeked);
  g_assert_cmpstr (payloads, ==, "e4,e5");
  g_clear_pointer (&payloads, g_free);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 0);
}

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
  start = ep_queue_get_disk_usage (queue);
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

      offsets[i] = ep_queue_get_disk_usage (queue);
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
    ep_queue_set_segment_size (queue, segment_size);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      if (i == 1)
        offset = ep_queue_get_disk_usage (queue);
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

  ep_queue_set_segment_size (queue, 1024 * 1024);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      if (i == 1)
        offset = ep_queue_get_disk_usage (queue);
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
  set_le32 (data + 28, ep_queue_crc32c (data, 28));
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
  set_le32 (frame + 28, ep_queue_crc32c (frame, 28));
  write_file (path, data, len);
  g_bytes_unref (newer);
  newer = read_file (path);
  assert_open_refused (dir, path, newer);
}

static void
test_locked (void)
{
  g_autofree char *dir = ep_test_make_dir ("locked");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(EpQueue) second = NULL;
  g_autoptr(GError) error = NULL;

  second = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_null (second);
  g_assert_error (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED);
  g_clear_error (&error);

  ep_queue_close (queue);
  second = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second);
  g_clear_object (&second);

  /* dispose releases it too */
  second = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  g_clear_object (&second);
  second = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
}

/* Child mode: opens the queue, reports readiness on stdout, waits to die. */
static int
hold_lock_main (const char *dir)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  char byte = queue != NULL ? 'R' : 'E';

  if (write (STDOUT_FILENO, &byte, 1) != 1 || queue == NULL)
    return 1;
  for (;;)
    pause ();
  return 0;
}

static void
test_locked_killed (void)
{
  g_autofree char *dir = ep_test_make_dir ("killed");
  g_autofree char *exe = self_exe ();
  const char *argv[] = { exe, "--hold-lock", dir, NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = NULL;
  GPid pid;
  int out_fd, status;
  char byte = 0;

  g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                            NULL, NULL, &pid, NULL, &out_fd, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (read (out_fd, &byte, 1), ==, 1);
  g_assert_cmpint (byte, ==, 'R');

  queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_error (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED);
  g_assert_nonnull (strstr (error->message, dir));
  g_clear_error (&error);

  g_assert_no_errno (kill (pid, SIGKILL));
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  close (out_fd);
  g_spawn_close_pid (pid);

  queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (queue);
}

static void
test_budget (void)
{
  g_autofree char *dir = ep_test_make_dir ("budget");
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = NULL;
  guint32 logical;
  g_autoptr(GBytes) record = make_record (0, "test_event", "0123456789", &logical);
  guint64 seq;

  queue = open_queue (dir, 3 * logical, NULL, 0);
  append (queue, "0123456789");
  append (queue, "0123456789");
  append (queue, "0123456789");
  g_assert_cmpuint (ep_queue_get_bytes (queue), ==, 3 * logical);
  g_assert_false (try_append (queue, "test_event", "0123456789", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_BUDGET_EXCEEDED);
  g_clear_error (&error);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);

  items = ep_queue_take (queue, 1, G_MAXSIZE);
  seq = item_seq (items, 0);
  g_assert_true (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_no_error (error);
  append (queue, "0123456789");
  g_assert_false (try_append (queue, "test_event", "0123456789", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_BUDGET_EXCEEDED);
}

static void
disk_error_child (void)
{
  g_autofree char *dir = ep_test_make_dir ("fsize");
  g_autofree char *big = g_strnfill (1024, 'k');
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *path = only_segment (dir);
  g_autofree char *payloads = NULL;
  struct rlimit saved, limited;
  guint64 size;

  signal (SIGXFSZ, SIG_IGN);
  append (queue, "a");
  append (queue, "b");
  size = file_size (path);
  g_assert_cmpuint (size, ==, ep_queue_get_disk_usage (queue));

  g_assert_no_errno (getrlimit (RLIMIT_FSIZE, &saved));
  limited = saved;
  limited.rlim_cur = size + 1500;  /* one 1 KiB record fits, the next one half */
  g_assert_no_errno (setrlimit (RLIMIT_FSIZE, &limited));

  append (queue, big);
  size = file_size (path);
  for (guint i = 0; i < 3; i++)
    {
      g_assert_false (try_append (queue, "test_event", big, &error));
      g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
      g_assert_nonnull (strstr (error->message, g_strerror (EFBIG)));
      g_clear_error (&error);
      g_assert_cmpuint (file_size (path), ==, size);  /* nothing partial */
      g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);
    }

  g_assert_no_errno (setrlimit (RLIMIT_FSIZE, &saved));
  append (queue, "d");
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  payloads = queue_payloads (queue);
  g_assert_true (g_str_has_prefix (payloads, "a,b,kkkk"));
  g_assert_true (g_str_has_suffix (payloads, "kkkk,d"));
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 4);
}

static void
test_disk_error (void)
{
  if (g_test_subprocess ())
    {
      disk_error_child ();
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* A full disk or an I/O error (injected: half of the frame reaches the
 * file) fails the append or the removal, leaves nothing partial, and the
 * next write works. */
static void
test_write_fault (gconstpointer data)
{
  int errsv = GPOINTER_TO_INT (data);
  g_autofree char *dir = ep_test_make_dir ("fault");
  g_autofree char *big = g_strnfill (1024, 'k');
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = NULL;
  g_autofree char *path = only_segment (dir);
  g_autofree char *payloads = NULL;
  guint64 size, seq;

  append (queue, "a");
  append (queue, "b");
  size = file_size (path);
  ep_queue_set_fault_injection (queue, errsv, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_false (try_append (queue, "test_event", i == 0 ? big : "x", &error));
      g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
      g_assert_nonnull (strstr (error->message, g_strerror (errsv)));
      g_clear_error (&error);
      g_assert_cmpuint (file_size (path), ==, size);  /* nothing partial */
      g_assert_cmpuint (ep_queue_get_disk_usage (queue), ==, size);
      g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
    }
  append (queue, "c");  /* the fault is over */
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);

  /* a failed removal forgets the event now; it comes back after a restart */
  items = ep_queue_take (queue, 1, G_MAXSIZE);
  seq = item_seq (items, 0);
  size = file_size (path);
  ep_queue_set_fault_injection (queue, errsv, 1);
  g_assert_false (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_clear_error (&error);
  g_assert_cmpuint (file_size (path), ==, size);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);  /* nothing discarded: nothing partial */
  payloads = queue_payloads (queue);
  g_assert_cmpstr (payloads, ==, "a,b,c");
  append (queue, "d");
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 4);
}

static void
test_feral (void)
{
  g_autofree char *dir = ep_test_make_dir ("feral");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  const char * const feral[] = { "poison", "other", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *payloads = NULL;

  g_assert_true (try_append (queue, "good", "1", &error));
  g_assert_true (try_append (queue, "poison", "2", &error));
  g_assert_true (try_append (queue, "good", "3", &error));
  g_assert_true (try_append (queue, "poison", "4", &error));
  g_assert_true (try_append (queue, "poisoned", "5", &error));
  /* not a record: no name, so not feral (and no crash) */
  g_assert_true (ep_queue_append (queue, (const guint8 *) "poison", 6, 6, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, feral, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 4);
  payloads = queue_payloads (queue);
  g_assert_cmpstr (payloads, ==, "1,3,5,");
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 4);
  g_clear_pointer (&payloads, g_free);
  payloads = queue_payloads (queue);
  g_assert_cmpstr (payloads, ==, "1,3,5,");
}

static void
test_modes (void)
{
  g_autofree char *parent = ep_test_make_dir ("modes");
  g_autofree char *dir = g_build_filename (parent, "a", "queue", NULL);
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GDir) d = NULL;
  const char *name;
  struct stat st;
  guint n_files = 0;

  append (queue, "x");
  ep_queue_set_segment_size (queue, 64);
  append (queue, "y");  /* a second segment */
  g_assert_no_errno (g_stat (dir, &st));
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_assert_no_errno (g_stat (path, &st));
      g_assert_cmpint (st.st_mode & 07777, ==, 0600);
      n_files++;
    }
  g_assert_cmpuint (n_files, ==, 3);  /* lock and two segments */
}

/* Appends @n events "p<i>" with a padding of ~400 bytes. */
static void
append_numbered (EpQueue *queue,
                 guint    first,
                 guint    n)
{
  g_autofree char *pad = g_strnfill (400, '.');

  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      append (queue, payload);
    }
}

static GArray *
take_seqs (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
  GArray *seqs = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (guint i = 0; i < items->len; i++)
    g_array_append_val (seqs, ((EpQueueItem *) items->pdata[i])->seq);
  return seqs;
}

static void
test_segment_deletion (void)
{
  g_autofree char *dir = ep_test_make_dir ("deletion");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) items = NULL;
  guint64 usage;

  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 40);
  before = list_segments (dir);
  g_assert_cmpuint (before->len, >=, 5);
  usage = ep_queue_get_disk_usage (queue);

  seqs = take_seqs (queue);
  for (guint i = 0; i < 30; i += 10)  /* in batches, as the scheduler does */
    g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, i), 10, &error));
  g_assert_no_error (error);
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);

  after = list_segments (dir);
  g_assert_cmpuint (after->len, <, before->len);
  g_assert_cmpstr (g_strrstr (before->pdata[0], "/"), !=, g_strrstr (after->pdata[0], "/"));
  g_assert_cmpuint (ep_queue_get_disk_usage (queue), <, usage);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 10);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 10);
  items = ep_queue_peek (queue, 0, G_MAXUINT);
  for (guint i = 0; i < 10; i++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      g_autofree char *prefix = g_strdup_printf ("p%u.", 30 + i);

      g_assert_true (g_str_has_prefix (payload, prefix));
      g_assert_cmpuint (item_seq (items, i), ==, g_array_index (seqs, guint64, 30 + i));
    }
}

/* The sync thread deletes dead segments on its own after a removal. */
static void
test_background_reclaim (void)
{
  g_autofree char *dir = ep_test_make_dir ("background");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;
  guint before;

  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 40);
  before = count_segments (dir);
  seqs = take_seqs (queue);
  g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) seqs->data, 30, &error));
  g_assert_no_error (error);
  EP_TEST_SPIN_UNTIL (count_segments (dir) < before);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 10);
}

static guint64
dir_bytes (const char *dir)
{
  g_autoptr(GPtrArray) segments = list_segments (dir);
  guint64 total = 0;

  for (guint i = 0; i < segments->len; i++)
    total += file_size (segments->pdata[i]);
  return total;
}

/* Two stuck events (0 and 30) keep the oldest segments alive: only
 * compaction can reclaim the space. */
static EpQueue *
make_stuck_queue (const char *dir,
                  GArray    **seqs_out)
{
  EpQueue *queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;

  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 60);
  seqs = take_seqs (queue);
  for (guint i = 0; i < 60; i++)
    if (i != 0 && i != 30)
      g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, i), 1, &error));
  g_assert_no_error (error);
  *seqs_out = g_steal_pointer (&seqs);
  return queue;
}

static void
assert_stuck_pair (EpQueue *queue,
                   GArray  *seqs)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  g_autofree char *p0 = NULL;
  g_autofree char *p30 = NULL;

  g_assert_cmpuint (items->len, ==, 2);
  g_assert_cmpuint (item_seq (items, 0), ==, g_array_index (seqs, guint64, 0));
  g_assert_cmpuint (item_seq (items, 1), ==, g_array_index (seqs, guint64, 30));
  p0 = record_payload (((EpQueueItem *) items->pdata[0])->record);
  p30 = record_payload (((EpQueueItem *) items->pdata[1])->record);
  g_assert_true (g_str_has_prefix (p0, "p0."));
  g_assert_true (g_str_has_prefix (p30, "p30."));
}

static void
test_compaction (void)
{
  g_autofree char *dir = ep_test_make_dir ("compaction");
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(EpQueue) queue = make_stuck_queue (dir, &seqs);
  g_autoptr(GPtrArray) taken = NULL;
  g_autoptr(GError) error = NULL;
  guint64 usage = ep_queue_get_disk_usage (queue);
  guint64 bytes = dir_bytes (dir);

  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 0);
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_disk_usage (queue), <, usage / 4);
  g_assert_cmpuint (dir_bytes (dir), <, bytes / 4);
  g_assert_cmpuint (count_segments (dir), <=, 2);
  assert_stuck_pair (queue, seqs);

  /* in-flight state survives, and the moved records read back */
  ep_queue_release (queue, (guint64 *) (gpointer) seqs->data, seqs->len);
  taken = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 2);
  append_numbered (queue, 100, 1);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 0), 1, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
}

/* A crash after the rename but before the old files were deleted. */
static void
test_compaction_interrupted (void)
{
  g_autofree char *dir = ep_test_make_dir ("interrupted");
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(EpQueue) queue = make_stuck_queue (dir, &seqs);
  g_autoptr(GPtrArray) before = list_segments (dir);
  g_autoptr(GPtrArray) contents = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GPtrArray) reopened = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = NULL;
  const char *compacted;

  for (guint i = 0; i < before->len; i++)
    g_ptr_array_add (contents, read_file (before->pdata[i]));
  g_assert_true (ep_queue_reclaim (queue, TRUE, &error));
  g_assert_no_error (error);
  g_clear_object (&queue);

  after = list_segments (dir);
  compacted = after->pdata[0];
  for (guint i = 0; i < before->len && strcmp (before->pdata[i], compacted) < 0; i++)
    write_file (before->pdata[i], g_bytes_get_data (contents->pdata[i], NULL),
                g_bytes_get_size (contents->pdata[i]));
  tmp = g_strconcat (compacted, ".tmp", NULL);
  write_file (tmp, (const guint8 *) "garbage", 7);

  queue = open_queue (dir, 0, NULL, 0);
  assert_stuck_pair (queue, seqs);
  reopened = list_segments (dir);
  g_ptr_array_sort (reopened, compare_paths);
  g_assert_cmpuint (reopened->len, ==, after->len);
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
}

/* The payload numbers ("pN....") of the queued events, in order. */
static GArray *
queued_numbers (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  GArray *numbers = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      guint n = (guint) g_ascii_strtoull (payload + 1, NULL, 10);

      g_assert_true (payload[0] == 'p');
      g_array_append_val (numbers, n);
    }
  return numbers;
}

/* Asserts that the queue holds the events numbered [a0, a1) then [b0, b1). */
static void
assert_ranges (EpQueue *queue,
               guint    a0,
               guint    a1,
               guint    b0,
               guint    b1)
{
  g_autoptr(GArray) numbers = queued_numbers (queue);
  guint k = 0;

  g_assert_cmpuint (numbers->len, ==, (a1 - a0) + (b1 - b0));
  for (guint i = a0; i < a1; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, k++), ==, i);
  for (guint i = b0; i < b1; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, k++), ==, i);
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

  ep_queue_set_segment_size (queue, 4096);
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

  ep_queue_set_segment_size (queue, 64);  /* one event per segment */
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

static void
count_reports (gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

/* Appends numbered events ("pN" padded as append_numbered() does), one
 * per millisecond, until the sync thread reported a storage change (10 s at
 * most); @stored gets the numbers of those stored (appends may fail before
 * the queue noticed, creating a segment file in a deleted directory). */
static guint
append_until_reported (EpQueue *queue,
                       guint    next,
                       gint    *reports,
                       GArray  *stored)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  g_autofree char *pad = g_strnfill (400, '.');

  while (g_atomic_int_get (reports) == 0)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", next, pad);

      if (try_append (queue, "test_event", payload, NULL))
        g_array_append_val (stored, next);
      next++;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
  return next;
}

static void
append_range (GArray *numbers,
              guint   first,
              guint   end)
{
  for (guint i = first; i < end; i++)
    g_array_append_val (numbers, i);
}

static void
assert_queued (EpQueue *queue,
               GArray  *expected)
{
  g_autoptr(GArray) numbers = queued_numbers (queue);

  g_assert_cmpuint (numbers->len, ==, expected->len);
  for (guint i = 0; i < numbers->len; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, i), ==, g_array_index (expected, guint, i));
}

/* The queue directory is deleted while events are queued, some in flight,
 * and sends go on: the sync thread notices within a second (a storage
 * outage: a failed append is counted), creates the directory again (0700)
 * and stores the queued events there, in order, in-flight state kept;
 * appends go there. Nothing appended with success is lost (issue 8,
 * item 6). */
static void
test_directory_deleted (void)
{
  g_autofree char *dir = ep_test_make_dir ("deleted");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) expected = g_array_new (FALSE, FALSE, sizeof (guint));
  gint reports = 0;
  guint64 failures = 0;
  struct stat st;
  guint n;

  ep_queue_set_notify_func (queue, count_reports, &reports);
  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 40);
  seqs = take_seqs (queue);
  g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) seqs->data, 5, &error));
  g_assert_no_error (error);
  ep_queue_release (queue, &g_array_index (seqs, guint64, 5), 15);  /* 20..39 stay in flight */

  ep_test_remove_tree (dir);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  append_range (expected, 5, 40);
  n = append_until_reported (queue, 40, &reports, expected);
  g_assert_false (ep_queue_get_storing_failing (queue, &failures));
  g_assert_cmpuint (failures, >=, 1);
  g_assert_no_errno (g_stat (dir, &st));
  g_assert_cmpuint (st.st_mode & 0777, ==, 0700);
  g_assert_cmpuint (count_segments (dir), >=, 1);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, expected->len - 20);

  append_numbered (queue, n, 10);
  append_range (expected, n, n + 10);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
  g_assert_cmpuint (ep_queue_get_duplicates (queue), ==, 0);
}

static void
wait_reports (gint *reports,
              gint  n)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;

  while (g_atomic_int_get (reports) < n)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);
    }
}

/* The directory cannot be created again (a file took its place): appends
 * fail (a storage outage) until it can, then the queued events are stored
 * again and nothing is lost. */
static void
test_directory_not_recreated (void)
{
  g_autofree char *dir = ep_test_make_dir ("not-recreated");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GError) error = NULL;
  gint reports = 0;
  guint64 failures;

  g_autofree char *file = g_strconcat (dir, ".file", NULL);

  ep_queue_set_notify_func (queue, count_reports, &reports);
  append_numbered (queue, 0, 10);
  /* Put a file where the directory was in one step (the queue's check,
   * every 750 ms, could otherwise recreate the directory between a removal
   * and the file's creation), then delete the old directory. */
  write_file (file, (const guint8 *) "x", 1);
  g_assert_no_errno (renameat2 (AT_FDCWD, file, AT_FDCWD, dir, RENAME_EXCHANGE));
  ep_test_remove_tree (file);

  wait_reports (&reports, 1);
  g_assert_true (ep_queue_get_storing_failing (queue, &failures));
  g_assert_false (try_append (queue, "test_event", "refused", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_no_errno (g_unlink (dir));

  wait_reports (&reports, 2);
  g_assert_false (ep_queue_get_storing_failing (queue, NULL));
  append_numbered (queue, 10, 5);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_ranges (queue, 0, 15, 0, 0);
}

/* The same for one segment file (the oldest, with live events). */
static void
test_segment_deleted (void)
{
  g_autofree char *dir = ep_test_make_dir ("segment-deleted");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GArray) expected = g_array_new (FALSE, FALSE, sizeof (guint));
  gint reports = 0;

  ep_queue_set_notify_func (queue, count_reports, &reports);
  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 40);
  segments = list_segments (dir);
  g_assert_cmpuint (segments->len, >=, 3);
  g_assert_no_errno (g_unlink (segments->pdata[0]));

  append_range (expected, 0, 40);
  append_until_reported (queue, 40, &reports, expected);
  for (guint i = 1; i < segments->len; i++)  /* the old ones are gone */
    g_assert_false (g_file_test (segments->pdata[i], G_FILE_TEST_EXISTS));
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
}

/* Appends an event of consent category @category ("NECESSARY"...) with the
 * headers JSON ep-glib writes (consent-category first). */
static void
append_with_category (EpQueue    *queue,
                      const char *name,
                      const char *category,
                      const char *payload)
{
  g_autofree char *headers = g_strdup_printf ("{\"consent-category\":\"%s\",\"app-name\":\"test\"}",
                                              category);
  g_autoptr(GVariant) v = NULL;
  g_autoptr(GError) error = NULL;

  v = g_variant_ref_sink (g_variant_new ("(xssss)", G_GINT64_CONSTANT (1000), "id", name,
                                         headers, payload));
  g_assert_true (ep_queue_append (queue, g_variant_get_data (v), g_variant_get_size (v),
                                  100, &error));
  g_assert_no_error (error);
}

/* The names of the queued events, joined with commas. */
static char *
queue_names (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      GBytes *record = ((EpQueueItem *) items->pdata[i])->record;

      g_string_append_printf (out, "%s%s", i > 0 ? "," : "",
                              ep_event_record_peek_name (g_bytes_get_data (record, NULL),
                                                         g_bytes_get_size (record)));
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static guint
count_of (GHashTable *counts,
          const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

/* Sets the category byte of the frame at @offset of @path to 0, as earlier
 * builds wrote it, and fixes the header checksum. */
static void
clear_frame_category (const char *path,
                      gsize       offset)
{
  g_autoptr(GBytes) contents = read_file (path);
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (contents, NULL), g_bytes_get_size (contents));
  guint32 crc;

  g_assert_cmpuint (data[offset + 7], !=, 0);
  data[offset + 7] = 0;
  crc = GUINT32_TO_LE (ep_queue_crc32c (data + offset, 28));
  memcpy (data + offset + 28, &crc, 4);
  write_file (path, data, g_bytes_get_size (contents));
}

/* Consent revocation (issue 10): the queued events of a blocked category
 * that are not in flight are deleted and counted by name, persistently;
 * in-flight ones given back later are deleted when met; the category of
 * frames written by earlier builds comes from the record's headers. */
static void
test_remove_category (void)
{
  g_autofree char *dir = ep_test_make_dir ("consent");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GHashTable) counts = NULL;
  g_autoptr(GHashTable) drops = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) taken = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *names = NULL;
  g_autofree char *path = NULL;
  gint reports = 0;

  ep_queue_set_notify_func (queue, count_reports, &reports);
  append_with_category (queue, "n0", "NECESSARY", "{}");
  append_with_category (queue, "flying", "PERFORMANCE", "{}");
  append_with_category (queue, "perf", "PERFORMANCE", "{}");
  append_with_category (queue, "ad", "TARGETING", "{}");
  append_with_category (queue, "perf", "PERFORMANCE", "{\"x\":1}");
  append (queue, "no category");  /* unknown: never removed by category */
  seqs = take_seqs (queue);
  ep_queue_release (queue, (guint64 *) (gpointer) seqs->data, 1);
  ep_queue_release (queue, &g_array_index (seqs, guint64, 2), seqs->len - 2);

  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_PERFORMANCE, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (counts), ==, 1);
  g_assert_cmpuint (count_of (counts, "perf"), ==, 2);
  names = queue_names (queue);
  g_assert_cmpstr (names, ==, "n0,flying,ad,test_event");
  g_assert_null (ep_queue_steal_consent_drops (queue));

  /* the in-flight one comes back: deleted when met, counted later */
  ep_queue_release (queue, &g_array_index (seqs, guint64, 1), 1);
  taken = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 3);
  drops = ep_queue_steal_consent_drops (queue);
  g_assert_nonnull (drops);
  g_assert_cmpuint (count_of (drops, "flying"), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&reports), ==, 1);
  g_assert_null (ep_queue_steal_consent_drops (queue));
  g_clear_object (&queue);

  /* persistent; the categories come back from the frames, or from the
   * headers for frames of earlier builds */
  path = only_segment (dir);
  clear_frame_category (path, SEGMENT_HEADER_SIZE);
  queue = open_queue (dir, 0, NULL, 0);
  g_clear_pointer (&names, g_free);
  names = queue_names (queue);
  g_assert_cmpstr (names, ==, "n0,ad,test_event");
  g_clear_pointer (&counts, g_hash_table_unref);
  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_TARGETING, NULL);
  g_assert_cmpuint (count_of (counts, "ad"), ==, 1);
  g_clear_pointer (&counts, g_hash_table_unref);
  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_NECESSARY, NULL);
  g_assert_cmpuint (count_of (counts, "n0"), ==, 1);  /* its category came from its headers */
  g_clear_pointer (&names, g_free);
  names = queue_names (queue);
  g_assert_cmpstr (names, ==, "test_event");

  /* unblocked: handed out again */
  ep_queue_unblock_category (queue, EP_CONSENT_CATEGORY_PERFORMANCE);
  append_with_category (queue, "perf", "PERFORMANCE", "{}");
  g_clear_pointer (&taken, g_ptr_array_unref);
  taken = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 2);
}

/* The names and sizes of the files of @dir, for "nothing was written". */
static char *
dir_listing (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      g_ptr_array_add (lines, g_strdup_printf ("%s %" G_GUINT64_FORMAT, name, file_size (path)));
    }
  g_ptr_array_sort (lines, compare_paths);
  g_ptr_array_add (lines, NULL);
  return g_strjoinv ("\n", (char **) lines->pdata);
}

/* A read-only open of a queue that another queue holds: a snapshot, no
 * lock taken, nothing written (issue 11, for ep-tool status and dump). */
static void
test_read_only (void)
{
  g_autofree char *dir = ep_test_make_dir ("read-only");
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);
  g_autoptr(EpQueue) owner = open_queue (dir, 0, NULL, 0);
  g_autoptr(EpQueue) reader = NULL;
  g_autoptr(EpQueue) other = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  guint64 seq;

  ep_queue_set_segment_size (owner, 4096);
  append_numbered (owner, 0, 20);
  seqs = take_seqs (owner);
  g_assert_true (ep_queue_remove (owner, (guint64 *) (gpointer) seqs->data, 5, &error));
  g_assert_no_error (error);
  g_assert_true (ep_queue_sync (owner, &error));
  g_assert_no_error (error);
  before = dir_listing (dir);

  reader = ep_queue_open_read_only (dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (reader);
  assert_ranges (reader, 5, 20, 0, 0);
  g_assert_cmpuint (ep_queue_get_length (reader), ==, 15);
  g_assert_cmpuint (ep_queue_get_bytes (reader), ==, ep_queue_get_bytes (owner));
  g_assert_cmpint (ep_queue_get_oldest_time (reader), ==, ep_queue_get_oldest_time (owner));

  g_assert_false (try_append (reader, "test_event", "no", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_clear_error (&error);
  seq = g_array_index (seqs, guint64, 10);
  g_assert_false (ep_queue_remove (reader, &seq, 1, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_clear_error (&error);
  g_assert_false (ep_queue_reclaim (reader, TRUE, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_clear_error (&error);

  /* the owner goes on; the reader keeps its snapshot */
  append_numbered (owner, 20, 5);
  g_assert_cmpuint (ep_queue_get_length (reader), ==, 15);
  g_clear_object (&reader);
  after = dir_listing (dir);
  g_assert_cmpstr (after, !=, before);  /* the owner's appends */
  g_clear_object (&owner);

  /* the lock stayed the owner's until it closed; nothing else was written */
  g_clear_pointer (&before, g_free);
  before = dir_listing (dir);
  reader = ep_queue_open_read_only (dir, &error);
  g_assert_no_error (error);
  assert_ranges (reader, 5, 25, 0, 0);
  g_clear_object (&reader);
  g_clear_pointer (&after, g_free);
  after = dir_listing (dir);
  g_assert_cmpstr (after, ==, before);
  other = open_queue (dir, 0, NULL, 0);

  /* a missing directory is an error, and is not created */
  reader = ep_queue_open_read_only (missing, &error);
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_null (reader);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
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

  ep_queue_set_segment_size (queue, 4096);
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

  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 0, 30);
  seqs = take_seqs (queue);
  ep_queue_set_segment_size (queue, 64);  /* every frame from now on starts a segment */
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

  ep_queue_set_segment_size (queue, 4096);
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
  ep_queue_set_segment_size (queue, 4096);
  append_numbered (queue, 100, 20);  /* rotates */
  append_range (expected, 100, 120);
  assert_queued (queue, expected);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  assert_queued (queue, expected);
}

/* Holes in the middle of the index are squeezed out; order stays. */
static void
test_index_squeeze (void)
{
  g_autofree char *dir = ep_test_make_dir ("squeeze");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GArray) removed = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GError) error = NULL;
  guint n = 20000;

  for (guint i = 0; i < n; i++)
    {
      char payload[16];

      g_snprintf (payload, sizeof payload, "%u", i);
      append (queue, payload);
    }
  seqs = take_seqs (queue);
  g_assert_cmpuint (seqs->len, ==, n);
  for (guint i = 1; i < n; i++)
    {
      if (i % 1000 == 0)
        continue;
      g_array_append_val (removed, g_array_index (seqs, guint64, i));
      if (removed->len == 100)
        {
          g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) removed->data, 100, &error));
          g_array_set_size (removed, 0);
        }
    }
  g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) removed->data, removed->len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 20);
  ep_queue_release (queue, (guint64 *) (gpointer) seqs->data, seqs->len);
  items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
  g_assert_cmpuint (items->len, ==, 20);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      g_autofree char *expected = g_strdup_printf ("%u", i * 1000);

      g_assert_cmpstr (payload, ==, expected);
    }
  g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, 0), 1, &error));
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 19);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 19);
}

typedef struct {
  EpQueue *queue;
  guint    thread;
  guint    n;
} AppendThread;

static gpointer
append_thread (gpointer data)
{
  AppendThread *t = data;

  for (guint i = 0; i < t->n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("%u:%u", t->thread, i);

      append (t->queue, payload);
    }
  return NULL;
}

static void
check_threads_order (EpQueue *queue,
                     guint    n_threads,
                     guint    n)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  g_autofree guint *next = g_new0 (guint, n_threads);

  g_assert_cmpuint (items->len, ==, n_threads * n);
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      guint thread, number;

      g_assert_cmpint (sscanf (payload, "%u:%u", &thread, &number), ==, 2);
      g_assert_cmpuint (thread, <, n_threads);
      g_assert_cmpuint (number, ==, next[thread]);  /* each thread's order kept */
      next[thread]++;
    }
  for (guint t = 0; t < n_threads; t++)
    g_assert_cmpuint (next[t], ==, n);
}

static void
test_threads (void)
{
  g_autofree char *dir = ep_test_make_dir ("threads");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  AppendThread threads[8];
  GThread *handles[8];

  ep_queue_set_segment_size (queue, 64 * 1024);  /* rotate while racing */
  for (guint t = 0; t < 8; t++)
    {
      threads[t] = (AppendThread) { queue, t, 2000 };
      handles[t] = g_thread_new ("append", append_thread, &threads[t]);
    }
  for (guint t = 0; t < 8; t++)
    g_thread_join (handles[t]);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 16000);
  check_threads_order (queue, 8, 2000);
  g_clear_object (&queue);

  queue = open_queue (dir, 0, NULL, 0);
  check_threads_order (queue, 8, 2000);
}

static void
test_sync_on_send (void)
{
  g_autofree char *dir = ep_test_make_dir ("sync");
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(GError) error = NULL;

  queue = ep_queue_open (dir, 0, TRUE, NULL, &error);
  g_assert_no_error (error);
  append (queue, "durable");
  g_assert_true (ep_queue_sync (queue, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (ep_queue_get_dir (queue), ==, dir);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 1);
}

/* A thread that holds the queue mutex, as a worker does across a write or
 * while preempted, until told to let go or 30 s have passed. */
typedef struct {
  EpQueue  *queue;
  GMutex    lock;
  GCond     cond;
  gboolean  holding;
  gboolean  let_go;
  gboolean  released;   /* set before the queue mutex is unlocked */
} MutexHolder;

static gpointer
hold_queue_mutex (gpointer data)
{
  MutexHolder *h = data;
  gint64 until = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;

  g_mutex_lock (&h->queue->mutex);
  g_mutex_lock (&h->lock);
  h->holding = TRUE;
  g_cond_broadcast (&h->cond);
  while (!h->let_go && g_cond_wait_until (&h->cond, &h->lock, until))
    ;
  h->released = TRUE;
  g_mutex_unlock (&h->lock);
  g_mutex_unlock (&h->queue->mutex);
  return NULL;
}

/* The counters the producer's main context reads after every batch
 * (length, bytes, pending, first and next seq) are right and never wait
 * for the queue mutex: with a thread holding it, they return at once
 * (before, each waited for the holder; draining a 1M backlog on a busy
 * machine, that blocked the main context for 20 ms). */
static void
test_counters_without_mutex (void)
{
  g_autofree char *dir = ep_test_make_dir ("counters");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GPtrArray) taken = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GThread) thread = NULL;
  MutexHolder h = { 0 };
  guint64 bytes, seq;

  for (guint i = 0; i < 4; i++)
    append (queue, "counted");
  bytes = ep_queue_get_bytes (queue);
  g_assert_cmpuint (bytes % 4, ==, 0);
  taken = ep_queue_take (queue, 2, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 2);
  seq = ((EpQueueItem *) taken->pdata[0])->seq;
  g_assert_true (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_no_error (error);

  h.queue = queue;
  g_mutex_init (&h.lock);
  g_cond_init (&h.cond);
  thread = g_thread_new ("hold-queue-mutex", hold_queue_mutex, &h);
  g_mutex_lock (&h.lock);
  while (!h.holding)
    g_cond_wait (&h.cond, &h.lock);
  g_mutex_unlock (&h.lock);

  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);
  g_assert_cmpuint (ep_queue_get_bytes (queue), ==, bytes / 4 * 3);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 2);  /* one taken, not settled */
  g_assert_cmpuint (ep_queue_get_first_seq (queue), ==, seq + 1);
  g_assert_cmpuint (ep_queue_get_next_seq (queue), ==, seq + 4);

  g_mutex_lock (&h.lock);
  g_assert_false (h.released);  /* they did not wait for the holder */
  h.let_go = TRUE;
  g_cond_broadcast (&h.cond);
  g_mutex_unlock (&h.lock);
  g_thread_join (g_steal_pointer (&thread));
  g_mutex_clear (&h.lock);
  g_cond_clear (&h.cond);

  /* and they follow releases and removals */
  ep_queue_release (queue, &((EpQueueItem *) taken->pdata[1])->seq, 1);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 3);
  seq = ((EpQueueItem *) taken->pdata[1])->seq;
  g_assert_true (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_cmpuint (ep_queue_get_first_seq (queue), ==, seq + 1);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
  g_clear_object (&queue);
  queue = open_queue (dir, 0, NULL, 0);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 2);
  g_assert_cmpuint (ep_queue_get_first_seq (queue), ==, seq + 1);
  g_assert_cmpuint (ep_queue_get_next_seq (queue), ==, seq + 3);
}

int
main (int    argc,
      char **argv)
{
  if (argc == 3 && g_str_equal (argv[1], "--hold-lock"))
    return hold_lock_main (argv[2]);

  g_log_set_writer_func (count_discard_warnings, NULL, NULL);
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/queue/crc32c", test_crc32c);
  g_test_add_func ("/ep/queue/order", test_order);
  g_test_add_func ("/ep/queue/restore-after-close", test_restore_after_close);
  g_test_add_func ("/ep/queue/restore-after-dispose", test_restore_after_dispose);
  g_test_add_func ("/ep/queue/recover-torn-tail", test_torn_tail);
  g_test_add_func ("/ep/queue/recover-corrupt-middle", test_corrupt_middle);
  g_test_add_func ("/ep/queue/recover-corrupt-segment-header", test_corrupt_segment_header);
  g_test_add_func ("/ep/queue/recover-corrupt-bytes-dropped", test_corrupt_bytes_dropped);
  g_test_add_func ("/ep/queue/recover-corrupt-bytes-dropped-later",
                   test_corrupt_bytes_dropped_later);
  g_test_add_func ("/ep/queue/refuse-newer-version", test_newer_version);
  g_test_add_func ("/ep/queue/locked", test_locked);
  g_test_add_func ("/ep/queue/locked-until-killed", test_locked_killed);
  g_test_add_func ("/ep/queue/budget", test_budget);
  g_test_add_func ("/ep/queue/disk-error", test_disk_error);
  g_test_add_data_func ("/ep/queue/disk-full", GINT_TO_POINTER (ENOSPC), test_write_fault);
  g_test_add_data_func ("/ep/queue/io-error", GINT_TO_POINTER (EIO), test_write_fault);
  g_test_add_func ("/ep/queue/feral", test_feral);
  g_test_add_func ("/ep/queue/modes", test_modes);
  g_test_add_func ("/ep/queue/segment-deletion", test_segment_deletion);
  g_test_add_func ("/ep/queue/background-reclaim", test_background_reclaim);
  g_test_add_func ("/ep/queue/compaction", test_compaction);
  g_test_add_func ("/ep/queue/compaction-interrupted", test_compaction_interrupted);
  g_test_add_func ("/ep/queue/copied-compacted-segment", test_copied_compacted);
  g_test_add_func ("/ep/queue/recover-cut-in-padding", test_cut_in_padding);
  g_test_add_func ("/ep/queue/odd-files-moved-aside", test_odd_files);
  g_test_add_func ("/ep/queue/directory-deleted", test_directory_deleted);
  g_test_add_func ("/ep/queue/segment-deleted", test_segment_deleted);
  g_test_add_func ("/ep/queue/directory-not-recreated", test_directory_not_recreated);
  g_test_add_func ("/ep/queue/remove-category", test_remove_category);
  g_test_add_func ("/ep/queue/read-only", test_read_only);
  g_test_add_data_func ("/ep/queue/renamed-segment", GINT_TO_POINTER (MOVE_RENAME_HIGHER),
                        test_moved_segments);
  g_test_add_data_func ("/ep/queue/swapped-segments", GINT_TO_POINTER (MOVE_SWAP),
                        test_moved_segments);
  g_test_add_data_func ("/ep/queue/copied-segment-lower", GINT_TO_POINTER (MOVE_COPY_LOWER),
                        test_moved_segments);
  g_test_add_func ("/ep/queue/swapped-tombstones", test_swapped_tombstones);
  g_test_add_func ("/ep/queue/highest-segment-number", test_highest_segment_number);
  g_test_add_func ("/ep/queue/index-squeeze", test_index_squeeze);
  g_test_add_func ("/ep/queue/threads", test_threads);
  g_test_add_func ("/ep/queue/sync-on-send", test_sync_on_send);
  g_test_add_func ("/ep/queue/counters-without-mutex", test_counters_without_mutex);

  return g_test_run ();
}
