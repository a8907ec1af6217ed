/* test-queue.c: the persistent queue (EpQueue): order, take/release/remove, locking,
 * budget, reclaim and compaction, consent removal, read-only opens, threads
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
#include "ep-queue-internal.h"
#include "ep-queue-private.h"
#include "ep-test-queue-util.h"
#include "ep-test-util.h"

/* ---------------------------------------------------------------------- */
/* Tests */

static char *
self_exe (void)
{
  g_autoptr(GError) error = NULL;
  char *path = g_file_read_link ("/proc/self/exe", &error);

  g_assert_no_error (error);
  return path;
}

/* Known CRC-32C values (RFC 3720, B.4), then the software and hardware
 * versions against each other at every length 0..300 and every alignment. */
static void
test_crc32c (void)
{
  g_autofree guint8 *buf = g_malloc (300 + 8 + 65536);
  guint8 block[32];
  guint32 hw;
  gboolean have_hw = ep_crc32c_hardware_for_testing ("", 0, &hw);

  g_assert_cmphex (ep_crc32c ("123456789", 9), ==, 0xE3069283);
  g_assert_cmphex (ep_crc32c_software ("123456789", 9), ==, 0xE3069283);
  g_assert_cmphex (ep_crc32c ("", 0), ==, 0);
  memset (block, 0, sizeof block);
  g_assert_cmphex (ep_crc32c_software (block, 32), ==, 0x8A9136AA);
  memset (block, 0xff, sizeof block);
  g_assert_cmphex (ep_crc32c_software (block, 32), ==, 0x62A8AB43);
  for (guint i = 0; i < 32; i++)
    block[i] = i;
  g_assert_cmphex (ep_crc32c_software (block, 32), ==, 0x46DD794E);
  for (guint i = 0; i < 32; i++)
    block[i] = 31 - i;
  g_assert_cmphex (ep_crc32c_software (block, 32), ==, 0x113FDB5C);
  g_assert_cmphex (ep_crc32c (block, 32), ==, 0x113FDB5C);

  if (!have_hw)
    {
      g_test_message ("no SSE4.2 on this CPU or build: software CRC-32C only");
      return;
    }
  g_assert_true (ep_crc32c_hardware_for_testing ("123456789", 9, &hw));
  g_assert_cmphex (hw, ==, 0xE3069283);
  for (guint i = 0; i < 300 + 8 + 65536; i++)
    buf[i] = g_test_rand_int_range (0, 256);
  for (gsize len = 0; len <= 300; len++)
    for (gsize start = 0; start < 8; start++)
      {
        g_assert_true (ep_crc32c_hardware_for_testing (buf + start, len, &hw));
        g_assert_cmphex (hw, ==, ep_crc32c_software (buf + start, len));
      }
  g_assert_true (ep_crc32c_hardware_for_testing (buf + 3, 65536, &hw));
  g_assert_cmphex (hw, ==, ep_crc32c_software (buf + 3, 65536));
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
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_nonnull (strstr (error->message, "budget"));
  g_clear_error (&error);
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);

  items = ep_queue_take (queue, 1, G_MAXSIZE);
  seq = item_seq (items, 0);
  g_assert_true (ep_queue_remove (queue, &seq, 1, &error));
  g_assert_no_error (error);
  append (queue, "0123456789");
  g_assert_false (try_append (queue, "test_event", "0123456789", &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
  g_assert_nonnull (strstr (error->message, "budget"));
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
  ep_queue_set_segment_size_for_testing (queue, 64);
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

  ep_queue_set_segment_size_for_testing (queue, 4096);
  append_numbered (queue, 0, 40);
  before = list_segments (dir);
  g_assert_cmpuint (before->len, >=, 5);
  usage = ep_queue_get_disk_usage_for_testing (queue);

  seqs = take_seqs (queue);
  for (guint i = 0; i < 30; i += 10)  /* in batches, as the scheduler does */
    g_assert_true (ep_queue_remove (queue, &g_array_index (seqs, guint64, i), 10, &error));
  g_assert_no_error (error);
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);

  after = list_segments (dir);
  g_assert_cmpuint (after->len, <, before->len);
  g_assert_cmpstr (g_strrstr (before->pdata[0], "/"), !=, g_strrstr (after->pdata[0], "/"));
  g_assert_cmpuint (ep_queue_get_disk_usage_for_testing (queue), <, usage);
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

  ep_queue_set_segment_size_for_testing (queue, 4096);
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

  ep_queue_set_segment_size_for_testing (queue, 4096);
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
  guint64 usage = ep_queue_get_disk_usage_for_testing (queue);
  guint64 bytes = dir_bytes (dir);

  g_assert_cmpuint (ep_queue_get_pending (queue), ==, 0);
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_queue_get_disk_usage_for_testing (queue), <, usage / 4);
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
  crc = GUINT32_TO_LE (ep_crc32c (data + offset, 28));
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

  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_PERFORMANCE, G_MAXUINT64, &error);
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
  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_TARGETING, G_MAXUINT64, NULL);
  g_assert_cmpuint (count_of (counts, "ad"), ==, 1);
  g_clear_pointer (&counts, g_hash_table_unref);
  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_NECESSARY, G_MAXUINT64, NULL);
  g_assert_cmpuint (count_of (counts, "n0"), ==, 1);  /* its category came from its headers */
  g_clear_pointer (&names, g_free);
  names = queue_names (queue);
  g_assert_cmpstr (names, ==, "test_event");

  /* stored after the revocation: handed out */
  append_with_category (queue, "perf", "PERFORMANCE", "{}");
  g_clear_pointer (&taken, g_ptr_array_unref);
  taken = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 2);
}

/* A revocation below a seq (a persisted one, applied at the next start):
 * only the category's events before it go, pending now and in flight when
 * given back; the revocation holds after the category is used again. */
static void
test_remove_category_below (void)
{
  g_autofree char *dir = ep_test_make_dir ("consent-below");
  g_autoptr(EpQueue) queue = open_queue (dir, 0, NULL, 0);
  g_autoptr(GHashTable) counts = NULL;
  g_autoptr(GHashTable) drops = NULL;
  g_autoptr(GArray) seqs = NULL;
  g_autoptr(GPtrArray) taken = NULL;
  g_autofree char *names = NULL;
  guint64 below;

  append_with_category (queue, "flying", "TARGETING", "{}");
  seqs = take_seqs (queue);
  append_with_category (queue, "old", "TARGETING", "{}");
  append_with_category (queue, "n", "NECESSARY", "{}");
  below = ep_queue_get_next_seq (queue);
  append_with_category (queue, "new", "TARGETING", "{}");
  g_assert_cmpuint (ep_queue_get_revoked_below (queue, EP_CONSENT_CATEGORY_TARGETING), ==, 0);

  counts = ep_queue_remove_category (queue, EP_CONSENT_CATEGORY_TARGETING, below, NULL);
  g_assert_cmpuint (g_hash_table_size (counts), ==, 1);
  g_assert_cmpuint (count_of (counts, "old"), ==, 1);
  g_assert_cmpuint (ep_queue_get_revoked_below (queue, EP_CONSENT_CATEGORY_TARGETING), ==, below);
  names = queue_names (queue);
  g_assert_cmpstr (names, ==, "flying,n,new");

  ep_queue_release (queue, (guint64 *) (gpointer) seqs->data, seqs->len);
  taken = ep_queue_take (queue, 10, G_MAXSIZE);
  g_assert_cmpuint (taken->len, ==, 2);  /* n, new */
  drops = ep_queue_steal_consent_drops (queue);
  g_assert_cmpuint (count_of (drops, "flying"), ==, 1);
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

  ep_queue_set_segment_size_for_testing (owner, 4096);
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

  ep_queue_set_segment_size_for_testing (queue, 64 * 1024);  /* rotate while racing */
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
  g_test_add_func ("/ep/queue/locked", test_locked);
  g_test_add_func ("/ep/queue/locked-until-killed", test_locked_killed);
  g_test_add_func ("/ep/queue/budget", test_budget);
  g_test_add_func ("/ep/queue/feral", test_feral);
  g_test_add_func ("/ep/queue/modes", test_modes);
  g_test_add_func ("/ep/queue/segment-deletion", test_segment_deletion);
  g_test_add_func ("/ep/queue/background-reclaim", test_background_reclaim);
  g_test_add_func ("/ep/queue/compaction", test_compaction);
  g_test_add_func ("/ep/queue/compaction-interrupted", test_compaction_interrupted);
  g_test_add_func ("/ep/queue/remove-category", test_remove_category);
  g_test_add_func ("/ep/queue/remove-category-below", test_remove_category_below);
  g_test_add_func ("/ep/queue/read-only", test_read_only);
  g_test_add_func ("/ep/queue/index-squeeze", test_index_squeeze);
  g_test_add_func ("/ep/queue/threads", test_threads);
  g_test_add_func ("/ep/queue/sync-on-send", test_sync_on_send);
  g_test_add_func ("/ep/queue/counters-without-mutex", test_counters_without_mutex);

  return g_test_run ();
}
