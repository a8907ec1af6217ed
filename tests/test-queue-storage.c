/* test-queue-storage.c: the persistent queue (EpQueue) when storage fails: a file size
 * limit, injected disk-full and I/O errors, a deleted directory or segment
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
#include "ep-queue-private.h"
#include "ep-test-queue-util.h"
#include "ep-test-util.h"

/* ---------------------------------------------------------------------- */
/* Tests */

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
  g_assert_cmpuint (size, ==, ep_queue_get_disk_usage_for_testing (queue));

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
  ep_queue_set_fault_injection_for_testing (queue, errsv, 2);
  for (guint i = 0; i < 2; i++)
    {
      g_assert_false (try_append (queue, "test_event", i == 0 ? big : "x", &error));
      g_assert_error (error, EP_ERROR, EP_ERROR_STORAGE);
      g_assert_nonnull (strstr (error->message, g_strerror (errsv)));
      g_clear_error (&error);
      g_assert_cmpuint (file_size (path), ==, size);  /* nothing partial */
      g_assert_cmpuint (ep_queue_get_disk_usage_for_testing (queue), ==, size);
      g_assert_cmpuint (ep_queue_get_length (queue), ==, 2);
    }
  append (queue, "c");  /* the fault is over */
  g_assert_cmpuint (ep_queue_get_length (queue), ==, 3);

  /* a failed removal forgets the event now; it comes back after a restart */
  items = ep_queue_take (queue, 1, G_MAXSIZE);
  seq = item_seq (items, 0);
  size = file_size (path);
  ep_queue_set_fault_injection_for_testing (queue, errsv, 1);
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
  ep_queue_set_segment_size_for_testing (queue, 4096);
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
  ep_queue_set_segment_size_for_testing (queue, 4096);
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

int
main (int    argc,
      char **argv)
{
  g_log_set_writer_func (count_discard_warnings, NULL, NULL);
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/queue/disk-error", test_disk_error);
  g_test_add_data_func ("/ep/queue/disk-full", GINT_TO_POINTER (ENOSPC), test_write_fault);
  g_test_add_data_func ("/ep/queue/io-error", GINT_TO_POINTER (EIO), test_write_fault);
  g_test_add_func ("/ep/queue/directory-deleted", test_directory_deleted);
  g_test_add_func ("/ep/queue/segment-deleted", test_segment_deleted);
  g_test_add_func ("/ep/queue/directory-not-recreated", test_directory_not_recreated);

  return g_test_run ();
}
