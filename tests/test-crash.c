/* test-crash.c: SIGKILL at a random instant loses no acknowledged event
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each round re-executes this binary as `test-crash --child DIR FIRST`. The
 * child opens the queue in DIR and appends records as fast as it can, their
 * payloads numbered FIRST, FIRST + 1, ..., and writes every number whose
 * append returned TRUE to stdout (a pipe, 8 bytes little-endian each). The
 * parent reads a random number of reports (g_test_rand_int), kills the child
 * with SIGKILL, drains the pipe, reopens the queue and checks that every
 * reported number is there, in order, and that nothing it removed came
 * back. Then it removes a random half of the events (so tombstones,
 * segment deletion and compaction are exercised across crashes too) and
 * starts the next round on the same directory.
 *
 * /ep/crash/kill-rounds-sync-on-send does the same with sync_on_send (each
 * append durable before it returns, segments preallocated, group commit),
 * killing the child after fewer reports: sync appends are slow.
 *
 * 20 rounds by default (10 with sync-on-send). For a long run set
 * EP_CRASH_ROUNDS, e.g.
 *   EP_CRASH_ROUNDS=500 meson test -C _build test-crash
 * (the meson timeout may need raising with --timeout-multiplier).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ep-queue-private.h"
#include "ep-test-util.h"

#define ROUND_STRIDE G_GUINT64_CONSTANT (1000000000)

/* Torn records are possible in theory (SIGKILL between two pages of one
 * write); their warning must not abort the test. */
static GLogWriterOutput
swallow_discard_warnings (GLogLevelFlags   level,
                          const GLogField *fields,
                          gsize            n_fields,
                          gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && strstr (fields[i].value, "discarded") != NULL)
      return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static GBytes *
make_record (guint64 number)
{
  g_autofree char *padding = g_strnfill (number % 700, 'x');
  g_autofree char *payload = g_strdup_printf ("%" G_GUINT64_FORMAT " %s", number, padding);
  g_autoptr(GVariant) v = NULL;

  v = g_variant_ref_sink (g_variant_new ("(xssss)", g_get_real_time (),
                                         "6f1c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f",
                                         "crash_event", "{}", payload));
  return g_variant_get_data_as_bytes (v);
}

static guint64
record_number (GBytes *record)
{
  g_autoptr(GVariant) v = NULL;
  const char *payload;

  v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(xssss)"), record, FALSE));
  g_variant_get (v, "(x&s&s&s&s)", NULL, NULL, NULL, NULL, &payload);
  return g_ascii_strtoull (payload, NULL, 10);
}

static gboolean
write_all (int         fd,
           const void *data,
           gsize       len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data = (const guint8 *) data + n;
      len -= n;
    }
  return TRUE;
}

/* The child: appends until killed. */
static int
child_main (const char *dir,
            const char *first_text,
            gboolean    sync_on_send)
{
  guint64 first = g_ascii_strtoull (first_text, NULL, 10);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, sync_on_send, NULL, &error);

  if (queue == NULL)
    {
      g_printerr ("child: %s\n", error->message);
      return 1;
    }
  ep_queue_set_segment_size_for_testing (queue, 256 * 1024);  /* rotations happen too */
  for (guint64 number = first;; number++)
    {
      g_autoptr(GBytes) record = make_record (number);
      guint64 le = GUINT64_TO_LE (number);

      if (!ep_queue_append (queue, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                            g_bytes_get_size (record), &error))
        {
          g_printerr ("child: %s\n", error->message);
          return 1;
        }
      if (!write_all (STDOUT_FILENO, &le, sizeof le))
        return 1;
    }
}

/* Reads one report; FALSE at end of file. */
static gboolean
read_report (int      fd,
             guint64 *number)
{
  guint8 buf[8];
  gsize got = 0;

  while (got < sizeof buf)
    {
      ssize_t n = read (fd, buf + got, sizeof buf - got);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >=, 0);
      if (n == 0)
        {
          g_assert_cmpuint (got, ==, 0);
          return FALSE;
        }
      got += n;
    }
  memcpy (number, buf, 8);
  *number = GUINT64_FROM_LE (*number);
  return TRUE;
}

typedef struct {
  char       *dir;
  char       *exe;
  gboolean    sync_on_send;
  GHashTable *expected;  /* numbers reported and not removed (guint64 keys, owned) */
} CrashTest;

static void
expect (CrashTest *t,
        guint64    number)
{
  g_hash_table_add (t->expected, g_memdup2 (&number, sizeof number));
}

/* Runs a child, kills it after a random number of reports. */
static void
run_child (CrashTest *t,
           guint64    first)
{
  g_autofree char *first_text = g_strdup_printf ("%" G_GUINT64_FORMAT, first);
  const char *argv[] = { t->exe, "--child", t->dir, first_text,
                         t->sync_on_send ? "sync-on-send" : NULL, NULL };
  g_autoptr(GError) error = NULL;
  guint kill_after = g_test_rand_int_range (1, t->sync_on_send ? 300 : 3000);
  guint64 number, expected_number = first;
  GPid pid;
  int out_fd, status;

  g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                            NULL, NULL, &pid, NULL, &out_fd, NULL, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < kill_after; i++)
    {
      if (!read_report (out_fd, &number))
        g_error ("the child exited before it was killed");
      g_assert_cmpuint (number, ==, expected_number++);
      expect (t, number);
    }
  g_assert_no_errno (kill (pid, SIGKILL));
  /* whatever it reported before dying was acknowledged too */
  while (read_report (out_fd, &number))
    {
      g_assert_cmpuint (number, ==, expected_number++);
      expect (t, number);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  g_spawn_close_pid (pid);
  close (out_fd);
}

/* Checks the reopened queue; unreported appends of this round are allowed
 * (they are then expected from now on). */
static void
check_queue (CrashTest *t,
             EpQueue   *queue,
             guint64    first)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  guint64 previous = 0;
  guint found = 0;

  for (guint i = 0; i < items->len; i++)
    {
      guint64 number = record_number (((EpQueueItem *) items->pdata[i])->record);

      g_assert_cmpuint (number, >, previous);  /* in order, no duplicates */
      previous = number;
      if (g_hash_table_contains (t->expected, &number))
        found++;
      else
        {
          g_assert_cmpuint (number, >=, first);  /* an unreported append, never a removed one */
          expect (t, number);
          found++;
        }
    }
  g_assert_cmpuint (found, ==, g_hash_table_size (t->expected));
  g_assert_cmpuint (ep_queue_get_length (queue), ==, items->len);
}

/* Removes a random half of the events, in batches as the scheduler does. */
static void
remove_some (CrashTest *t,
             EpQueue   *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
  g_autoptr(GArray) batch = g_array_new (FALSE, FALSE, sizeof (guint64));
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i <= items->len; i++)
    {
      if (i < items->len && g_test_rand_bit ())
        {
          EpQueueItem *item = items->pdata[i];
          guint64 number = record_number (item->record);

          g_array_append_val (batch, item->seq);
          g_assert_true (g_hash_table_remove (t->expected, &number));
        }
      if (batch->len == 10 || (i == items->len && batch->len > 0))
        {
          g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) batch->data,
                                          batch->len, &error));
          g_assert_no_error (error);
          g_array_set_size (batch, 0);
        }
    }
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);
}

static void
kill_rounds (gboolean sync_on_send)
{
  const char *rounds_env = g_getenv ("EP_CRASH_ROUNDS");
  guint rounds = rounds_env != NULL ? (guint) g_ascii_strtoull (rounds_env, NULL, 10)
                                    : sync_on_send ? 10 : 20;
  g_autoptr(GError) error = NULL;
  CrashTest t;

  t.sync_on_send = sync_on_send;
  t.dir = ep_test_make_dir ("crash");
  t.exe = g_file_read_link ("/proc/self/exe", &error);
  g_assert_no_error (error);
  t.expected = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);

  for (guint round = 0; round < rounds; round++)
    {
      guint64 first = (round + 1) * ROUND_STRIDE;
      g_autoptr(EpQueue) queue = NULL;

      run_child (&t, first);
      queue = ep_queue_open (t.dir, 0, sync_on_send, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (ep_queue_get_discarded (queue), <=, 1);
      check_queue (&t, queue, first);
      remove_some (&t, queue);
      g_test_message ("round %u: %u events queued", round, g_hash_table_size (t.expected));
    }

  g_hash_table_unref (t.expected);
  g_free (t.exe);
  g_free (t.dir);
}

static void
test_kill_rounds (void)
{
  kill_rounds (FALSE);
}

static void
test_kill_rounds_sync_on_send (void)
{
  kill_rounds (TRUE);
}

int
main (int    argc,
      char **argv)
{
  if ((argc == 4 || argc == 5) && g_str_equal (argv[1], "--child"))
    return child_main (argv[2], argv[3], argc == 5 && g_str_equal (argv[4], "sync-on-send"));

  g_log_set_writer_func (swallow_discard_warnings, NULL, NULL);
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/crash/kill-rounds", test_kill_rounds);
  g_test_add_func ("/ep/crash/kill-rounds-sync-on-send", test_kill_rounds_sync_on_send);

  return g_test_run ();
}
