/* rel-crash.c: SIGKILL at random instants, then every stored event is delivered
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each round re-executes this program as a child in one of five roles and
 * kills it with SIGKILL at a random instant:
 *   send     a producer storing events (no consumer reachable)
 *   deliver  a producer storing and delivering to ep-consumer
 *   compact  the queue appending, removing and force-compacting
 *            (ep_queue_reclaim (TRUE), the background thread's work)
 *   close    a producer inside ep_producer_close_async, delivering to an
 *            ep-consumer that answers slowly
 *   sync     a producer with sync-on-send, some fdatasync calls failing;
 *            after the kill, a power cut: every write to a journal that
 *            no successful fdatasync covered is kept, zeroed or torn at a
 *            512-byte boundary (at random), and every journal is cut back
 *            to the size a sync made durable; so "STORED" must mean
 *            "synced". (The journal's files are preallocated: their size
 *            does not change with the writes, so cutting sizes alone would
 *            lose nothing.)
 * The child reports on a pipe: 'S' n when send/append of event n returned
 * STORED, 'F' n when it returned STORING_FAILED, 'P' n before and 'R' n
 * after a removal of n, 'C' when close starts; in the sync role also 'Y'
 * when an fdatasync succeeded (size, last write serial, path follow), 'W'
 * after a write to a journal (offset, length, serial, path) and 'N' after
 * a rename to a journal name (both paths); see rel_fault_set_observers().
 * After each kill a new producer (a queue for "compact") opens
 * the directory and delivers everything: every event reported stored must
 * arrive, nothing may arrive that was never sent, no start may fail.
 * Events that come back after they were delivered (or removed) are
 * "resurrected": at-least-once allows them; they are counted and must stay
 * within one batch window (max-in-flight x 10 events) per kill.
 *
 * Rounds per scenario: 6 (short), 1000 (EP_RELIABILITY=long), or
 * EP_RELIABILITY_ROUNDS.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "ep-event-private.h"
#include "ep-queue-private.h"
#include "ep-test-server.h"
#include "rel-common.h"

#define STRIDE        G_GUINT64_CONSTANT (1000000000)
#define MAX_IN_FLIGHT 4
#define BATCH_WINDOW  (MAX_IN_FLIGHT * 10)
#define CONSUMER_LATENCY_MS 10
#define RECOVERY_IN_FLIGHT 16

/* ------------------------------------------------------------------ */
/* The child                                                           */

static GMutex report_lock;

static void
report (char    tag,
        guint64 number)
{
  guint8 buf[9];
  guint64 le = GUINT64_TO_LE (number);

  buf[0] = tag;
  memcpy (buf + 1, &le, 8);
  g_mutex_lock (&report_lock);
  if (write (STDOUT_FILENO, buf, sizeof buf) != sizeof buf)
    _exit (3);
  g_mutex_unlock (&report_lock);
}

/* Appends @value (little-endian) or @path (u16 length, bytes) to @buf. */
static void
put_u64 (GByteArray *buf,
         guint64     value)
{
  guint64 le = GUINT64_TO_LE (value);

  g_byte_array_append (buf, (const guint8 *) &le, 8);
}

static void
put_path (GByteArray *buf,
          const char *path)
{
  guint16 len = MIN (strlen (path), 1024);

  g_byte_array_append (buf, (const guint8 *) &len, 2);
  g_byte_array_append (buf, (const guint8 *) path, len);
}

static void
report_bytes (GByteArray *buf)
{
  g_mutex_lock (&report_lock);
  if (write (STDOUT_FILENO, buf->data, buf->len) != (ssize_t) buf->len)
    _exit (3);
  g_mutex_unlock (&report_lock);
}

static void
report_sync (const char *path,
             guint64     size,
             guint64     serial)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();

  g_byte_array_append (buf, (const guint8 *) "Y", 1);
  put_u64 (buf, size);
  put_u64 (buf, serial);
  put_path (buf, path);
  report_bytes (buf);
}

static void
report_write (const char *path,
              guint64     offset,
              guint64     length,
              guint64     serial)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();

  g_byte_array_append (buf, (const guint8 *) "W", 1);
  put_u64 (buf, offset);
  put_u64 (buf, length);
  put_u64 (buf, serial);
  put_path (buf, path);
  report_bytes (buf);
}

static void
report_rename (const char *from,
               const char *to)
{
  g_autoptr(GByteArray) buf = g_byte_array_new ();

  g_byte_array_append (buf, (const guint8 *) "N", 1);
  put_u64 (buf, 0);
  put_path (buf, from);
  put_path (buf, to);
  report_bytes (buf);
}

static EpProducer *
child_producer (const char *dir,
                const char *uri,
                gboolean    sync_on_send,
                guint       batch_interval)
{
  g_autoptr(GError) error = NULL;
  EpProducer *producer;

  producer = ep_test_producer_new (dir, uri, uri, &error,
                                   "sync-on-send", sync_on_send,
                                   "batch-interval", batch_interval,
                                   "max-in-flight", MAX_IN_FLIGHT,
                                   "max-disk-usage", (guint64) 1 << 30,
                                   NULL);
  if (producer == NULL)
    {
      g_printerr ("child: failed start: %s\n", error->message);
      exit (1);
    }
  return producer;
}

static void
child_send (EpProducer *producer,
            guint64     number,
            GRand      *rand,
            gboolean    allow_failure)
{
  g_autofree char *payload = rel_payload (number, rand);
  EpSendResult result;

  result = ep_producer_send_event (producer, "rel_event", EP_CONSENT_CATEGORY_NECESSARY,
                                   payload, NULL);
  if (result == EP_SEND_RESULT_STORED)
    report ('S', number);
  else if (allow_failure && result == EP_SEND_RESULT_STORING_FAILED)
    report ('F', number);
  else
    {
      g_printerr ("child: send of %" G_GUINT64_FORMAT " returned %d\n", number, result);
      exit (2);
    }
}

static int
child_producer_main (const char *role,
                     const char *dir,
                     guint64     first,
                     const char *uri,
                     guint32     seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  gboolean sync = g_str_equal (role, "sync");
  gboolean deliver = g_str_equal (role, "deliver");
  g_autoptr(EpProducer) producer = NULL;
  guint64 number = first;

  if (sync)
    {
      g_autofree char *prefix = g_strconcat (dir, "/", NULL);

      rel_fault_set_observers (report_sync, report_write, report_rename);
      rel_fault_set (prefix, REL_FAULT_SYNC, EIO, G_MAXUINT, 0.02, rand);
    }
  producer = child_producer (dir, uri, sync, deliver ? 5 : 3600 * 1000);
  if (g_str_equal (role, "close"))
    {
      g_autoptr(GAsyncResult) result = NULL;
      guint n = g_rand_int_range (rand, 1, 600);

      for (guint i = 0; i < n; i++)
        child_send (producer, number++, rand, FALSE);
      report ('C', 0);
      ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
      while (result == NULL)
        g_main_context_iteration (NULL, TRUE);
      report ('D', 0);
      pause ();
      return 0;
    }
  for (;;)
    {
      guint burst = g_rand_int_range (rand, 1, 40);

      for (guint i = 0; i < burst; i++)
        child_send (producer, number++, rand, sync);
      if (deliver)
        while (g_main_context_iteration (NULL, FALSE))
          ;
    }
}

static GBytes *
child_record (guint64  number,
              GRand   *rand)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autofree char *payload = rel_payload (number, rand);

  ep_event_record_build (out, g_get_real_time (), "6f1c1d2e-8a3b-4c5d-9e6f-7a8b9c0d1e2f",
                         "rel_event", 9, "{}", 2, payload, strlen (payload));
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* Appends, removes a random part in batches, force-compacts, forever. */
static int
child_compact_main (const char *dir,
                    guint64     first,
                    guint32     seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  guint64 number = first;

  if (queue == NULL)
    {
      g_printerr ("child: failed start: %s\n", error->message);
      return 1;
    }
  ep_queue_set_segment_size_for_testing (queue, 32 * 1024);
  for (;;)
    {
      guint n = g_rand_int_range (rand, 1, 60);
      g_autoptr(GPtrArray) items = NULL;

      for (guint i = 0; i < n; i++, number++)
        {
          g_autoptr(GBytes) record = child_record (number, rand);

          if (!ep_queue_append (queue, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                                g_bytes_get_size (record), &error))
            {
              g_printerr ("child: append: %s\n", error->message);
              return 2;
            }
          report ('S', number);
        }
      items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
      for (guint i = 0; i < items->len; i += 10)
        {
          guint64 seqs[10];
          guint64 numbers[10];
          guint k = 0;

          for (guint j = i; j < MIN (i + 10, items->len); j++)
            {
              EpQueueItem *item = items->pdata[j];
              g_auto(EpEvent) event = { 0 };

              if (!g_rand_boolean (rand))
                continue;
              g_assert_true (ep_event_parse (item->record, &event, NULL));
              seqs[k] = item->seq;
              numbers[k++] = rel_payload_number (event.payload);
            }
          /* 'P' first: a removal the kill interrupts may or may not have
           * reached the journal */
          for (guint j = 0; j < k; j++)
            report ('P', numbers[j]);
          if (k > 0 && ep_queue_remove (queue, seqs, k, NULL))
            for (guint j = 0; j < k; j++)
              report ('R', numbers[j]);
        }
      for (guint i = 0; i < items->len; i++)
        {
          guint64 seq = ((EpQueueItem *) items->pdata[i])->seq;

          ep_queue_release (queue, &seq, 1);
        }
      if (g_rand_int_range (rand, 0, 3) == 0)
        ep_queue_reclaim (queue, TRUE, NULL);
    }
}

/* ------------------------------------------------------------------ */
/* The parent                                                          */

/* A write to a journal that no successful sync has covered yet. */
typedef struct {
  guint64 serial;
  guint64 offset;
  guint64 length;
} Unsynced;

typedef struct {
  const char   *role;
  GRand        *rand;
  guint32       seed;
  char         *dir;
  char         *exe;
  char         *uri;            /* where children and recovery deliver */
  EpTestServer *server;         /* send/sync: the recovery consumer */
  GPid          consumer_pid;   /* deliver/close: ep-consumer */
  char         *consumer_out;
  gint64        consumer_offset;
  GHashTable   *stored;         /* numbers reported stored and not yet delivered/removed */
  GHashTable   *delivered;      /* number -> times it arrived (all rounds) */
  GHashTable   *failed;         /* numbers whose send returned STORING_FAILED */
  GHashTable   *pending;        /* compact: numbers whose removal started and did not return */
  GHashTable   *synced;         /* path -> synced size (sync role) */
  GHashTable   *unsynced;       /* path -> GArray of Unsynced: writes no sync covered yet (sync role) */
  guint64       n_cut_writes;   /* sync role: unsynced writes the power cuts zeroed or tore */
  guint64       n_stored;
  guint64       max_reported;   /* highest number reported stored this round */
  guint64       n_resurrected;
  guint64       n_ghosts;
  guint         max_resurrected_per_kill;
  guint         n_discarded;
} Crash;

static gboolean
read_exact (int    fd,
            void  *buf,
            gsize  len)
{
  gsize got = 0;

  while (got < len)
    {
      ssize_t n = read (fd, (guint8 *) buf + got, len - got);

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
  return TRUE;
}

static char *
read_path (int fd)
{
  guint16 len;
  char path[1025];

  g_assert_true (read_exact (fd, &len, 2));
  g_assert_cmpuint (len, <=, 1024);
  g_assert_true (read_exact (fd, path, len));
  path[len] = '\0';
  return g_strdup (path);
}

static guint64
read_u64 (int fd)
{
  guint64 le;

  g_assert_true (read_exact (fd, &le, 8));
  return GUINT64_FROM_LE (le);
}

static GArray *
unsynced_of (Crash      *c,
             const char *path)
{
  GArray *writes = g_hash_table_lookup (c->unsynced, path);

  if (writes == NULL)
    {
      writes = g_array_new (FALSE, FALSE, sizeof (Unsynced));
      g_hash_table_insert (c->unsynced, g_strdup (path), writes);
    }
  return writes;
}

/* Reads one report; FALSE at end of file. */
static gboolean
read_report (Crash   *c,
             int      fd,
             char    *tag,
             guint64 *number)
{
  guint8 buf[9];

  if (!read_exact (fd, buf, sizeof buf))
    return FALSE;
  *tag = buf[0];
  memcpy (number, buf + 1, 8);
  *number = GUINT64_FROM_LE (*number);
  if (*tag == 'Y')
    {
      guint64 serial = read_u64 (fd);
      g_autofree char *path = read_path (fd);
      guint64 old = GPOINTER_TO_SIZE (g_hash_table_lookup (c->synced, path));
      GArray *writes = unsynced_of (c, path);
      guint kept = 0;

      if (*number > old)
        g_hash_table_insert (c->synced, g_strdup (path), GSIZE_TO_POINTER (*number));
      /* durable now: the writes that had returned when the sync started */
      for (guint i = 0; i < writes->len; i++)
        if (g_array_index (writes, Unsynced, i).serial > serial)
          g_array_index (writes, Unsynced, kept++) = g_array_index (writes, Unsynced, i);
      g_array_set_size (writes, kept);
    }
  else if (*tag == 'W')
    {
      Unsynced w = { 0, *number, 0 };
      g_autofree char *path = NULL;

      w.length = read_u64 (fd);
      w.serial = read_u64 (fd);
      path = read_path (fd);
      g_array_append_val (unsynced_of (c, path), w);
    }
  else if (*tag == 'N')
    {
      g_autofree char *from = read_path (fd);
      g_autofree char *to = read_path (fd);
      gpointer key, writes;

      /* the file's pending writes go with it; a file renamed over @to
       * replaces @to's (compaction syncs its file before the rename) */
      g_hash_table_remove (c->unsynced, to);
      if (g_hash_table_steal_extended (c->unsynced, from, &key, &writes))
        {
          g_free (key);
          g_hash_table_insert (c->unsynced, g_strdup (to), writes);
        }
    }
  else if (*tag == 'S')
    {
      g_hash_table_add (c->stored, g_memdup2 (number, 8));
      c->n_stored++;
      c->max_reported = MAX (c->max_reported, *number);
    }
  else if (*tag == 'F')
    g_hash_table_add (c->failed, g_memdup2 (number, 8));
  else if (*tag == 'P')
    {
      g_assert_true (g_hash_table_remove (c->stored, number));
      g_hash_table_add (c->pending, g_memdup2 (number, 8));
    }
  else if (*tag == 'R')
    g_assert_true (g_hash_table_remove (c->pending, number));
  return TRUE;
}

/* The journal sizes now count as durable (they were synced by the previous
 * owner's close). */
static void
record_synced_baseline (Crash *c)
{
  g_autoptr(GDir) dir = g_dir_open (c->dir, 0, NULL);
  const char *name;

  g_hash_table_remove_all (c->synced);
  g_hash_table_remove_all (c->unsynced);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (c->dir, name, NULL);
      struct stat st;

      if (g_str_has_suffix (name, ".journal") && stat (path, &st) == 0)
        g_hash_table_insert (c->synced, g_steal_pointer (&path), GSIZE_TO_POINTER (st.st_size));
    }
}

/* What a power cut leaves of one write no sync covered: all of it, none
 * of it (zeros: what preallocated or zero-filled space reads as), or the
 * part before a 512-byte boundary (a torn write). Clipped to @size, the
 * file's size: the space past it was given back. */
static void
cut_write (Crash          *c,
           int             fd,
           guint64         size,
           const Unsynced *w)
{
  static const guint8 zeros[64 * 1024];
  guint64 end = MIN (w->offset + w->length, size);
  guint64 from;

  switch (g_rand_int_range (c->rand, 0, 3))
    {
    case 0:
      return;
    case 1:
      from = w->offset;
      break;
    default:
      from = (w->offset + g_rand_int_range (c->rand, 0, w->length + 1)) & ~(guint64) 511;
      from = MAX (from, w->offset);
      break;
    }
  if (from >= end)
    return;
  c->n_cut_writes++;
  for (guint64 off = from; off < end; off += sizeof zeros)
    g_assert_cmpint (pwrite (fd, zeros, MIN (sizeof zeros, end - off), off), ==,
                     (ssize_t) MIN (sizeof zeros, end - off));
}

/* A power cut: every journal loses what no fdatasync made durable. */
static void
cut_power (Crash *c)
{
  g_autoptr(GDir) dir = g_dir_open (c->dir, 0, NULL);
  GHashTableIter iter;
  gpointer file, writes;
  const char *name;

  /* in serial order per file; a later write over the same bytes is cut
   * after an earlier one */
  g_hash_table_iter_init (&iter, c->unsynced);
  while (g_hash_table_iter_next (&iter, &file, &writes))
    {
      GArray *w = writes;
      int fd = open (file, O_WRONLY | O_CLOEXEC);
      struct stat st;

      if (fd < 0)
        continue;  /* deleted since */
      g_assert_no_errno (fstat (fd, &st));
      for (guint i = 0; i < w->len; i++)
        cut_write (c, fd, st.st_size, &g_array_index (w, Unsynced, i));
      close (fd);
    }
  g_hash_table_remove_all (c->unsynced);

  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (c->dir, name, NULL);
      guint64 synced = GPOINTER_TO_SIZE (g_hash_table_lookup (c->synced, path));
      struct stat st;

      if (!g_str_has_suffix (name, ".journal") || stat (path, &st) != 0)
        continue;
      if ((guint64) st.st_size > synced)
        g_assert_no_errno (truncate (path, synced));
    }
}

static void
spawn_and_kill (Crash   *c,
                guint64  first)
{
  g_autofree char *first_text = g_strdup_printf ("%" G_GUINT64_FORMAT, first);
  g_autofree char *seed_text = g_strdup_printf ("%u", g_rand_int (c->rand));
  const char *argv[] = { c->exe, "--child", c->role, c->dir, first_text, c->uri, seed_text, NULL };
  g_autoptr(GError) error = NULL;
  gboolean closing = g_str_equal (c->role, "close");
  /* sync-on-send costs an fdatasync per event: fewer per round */
  guint kill_after = g_rand_int_range (c->rand, 1, g_str_equal (c->role, "sync") ? 400 : 3000);
  guint reports = 0;
  char tag;
  guint64 number;
  GPid pid;
  int out_fd, status;

  g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                            NULL, NULL, &pid, NULL, &out_fd, NULL, &error);
  g_assert_no_error (error);
  for (;;)
    {
      if (!read_report (c, out_fd, &tag, &number))
        g_error ("%s: the child exited before it was killed (a failed start or a "
                 "refused send; seed %u)", c->role, c->seed);
      if (closing ? tag == 'C' : (tag == 'S' || tag == 'F') && ++reports >= kill_after)
        break;
    }
  if (closing)
    g_usleep (g_rand_int_range (c->rand, 0, 400 * 1000));  /* the instant, inside close */
  g_assert_no_errno (kill (pid, SIGKILL));
  while (read_report (c, out_fd, &tag, &number))
    ;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    g_error ("%s: the child ended by itself before the kill (status 0x%x; its messages are "
             "above; seed %u)", c->role, status, c->seed);
  g_spawn_close_pid (pid);
  close (out_fd);
}

/* An event arrived: was it ever sent, is it a resurrection? */
static guint
arrived (Crash   *c,
         guint64  number,
         guint64  first)
{
  guint times = GPOINTER_TO_UINT (g_hash_table_lookup (c->delivered, &number));

  if (!g_hash_table_remove (c->stored, &number) && times == 0)
    {
      /* not reported: only the send the kill interrupted is possible */
      if (g_hash_table_contains (c->failed, &number))
        c->n_ghosts++;
      else if (number < first || number >= first + STRIDE)
        g_error ("%s: event %" G_GUINT64_FORMAT " arrived but was never sent "
                 "(round first %" G_GUINT64_FORMAT ", seed %u)", c->role, number, first, c->seed);
    }
  g_hash_table_insert (c->delivered, g_memdup2 (&number, 8), GUINT_TO_POINTER (times + 1));
  return times > 0 ? 1 : 0;
}

/* The bytes of ep-consumer's output after what was read before, up to
 * the last complete line. Only the new part is read: the file grows by
 * about 1 MB per round, and reading it whole every round made 1,000
 * rounds quadratic (6 s per round by round 500). */
static char *
read_new_output (Crash *c)
{
  g_autoptr(GByteArray) text = g_byte_array_new ();
  int fd = open (c->consumer_out, O_RDONLY | O_CLOEXEC);
  guint8 buf[64 * 1024];
  ssize_t n;
  guint len;

  if (fd < 0)
    return g_strdup ("");  /* nothing delivered yet */
  g_assert_cmpint (lseek (fd, c->consumer_offset, SEEK_SET), ==, c->consumer_offset);
  while ((n = read (fd, buf, sizeof buf)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      g_byte_array_append (text, buf, n);
    }
  close (fd);
  for (len = text->len; len > 0 && text->data[len - 1] != '\n'; len--)
    ;
  g_byte_array_set_size (text, len);
  c->consumer_offset += text->len;
  g_byte_array_append (text, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&text), FALSE);
}

/* New lines of ep-consumer's output: the numbers that arrived. */
static guint
read_consumer_output (Crash   *c,
                      guint64  first)
{
  g_autofree char *text = read_new_output (c);
  guint resurrected = 0;
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *object;

      if (lines[i][0] == '\0')
        continue;
      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      object = json_node_get_object (json_parser_get_root (parser));
      resurrected += arrived (c, rel_payload_number (json_object_get_string_member (object, "payload")),
                              first);
    }
  return resurrected;
}

/* A new producer delivers everything the child left. */
static guint
recover_and_deliver (Crash   *c,
                     guint64  first)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  guint before = c->server != NULL ? ep_test_server_get_n_requests (c->server) : 0;
  guint resurrected = 0;

  /* It is never killed: more requests in flight than the child only make
   * the recovery faster (ep-consumer holds every reply 10 ms). */
  producer = ep_test_producer_new (c->dir, c->uri, c->uri, &error,
                                   "max-disk-usage", (guint64) 1 << 30,
                                   "max-in-flight", RECOVERY_IN_FLIGHT, NULL);
  g_assert_no_error (error);  /* no failed start */
  c->n_discarded += ep_producer_get_discarded_records (producer);
  while (ep_producer_get_queue_length (producer) > 0)
    g_assert_true (ep_test_flush (producer, NULL));
  ep_producer_close_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (producer, result, NULL));

  if (c->server != NULL)
    {
      GPtrArray *requests = ep_test_server_get_requests (c->server);

      for (guint i = before; i < requests->len; i++)
        {
          EpTestRequest *request = requests->pdata[i];

          for (guint j = 0; j < request->entries->len; j++)
            resurrected += arrived (c, rel_payload_number (((EpTestEntry *) request->entries->pdata[j])->body),
                                    first);
        }
    }
  else
    resurrected = read_consumer_output (c, first);
  return resurrected;
}

/* The queue alone (role compact): what survived must be exactly the
 * stored-and-not-removed events (plus the one the kill interrupted). */
static guint
recover_queue (Crash   *c,
               guint64  first)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (c->dir, 0, FALSE, NULL, &error);
  g_autoptr(GPtrArray) items = NULL;
  g_autoptr(GArray) seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  guint resurrected = 0;

  g_assert_no_error (error);
  c->n_discarded += ep_queue_get_discarded (queue);
  items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = items->pdata[i];
      g_auto(EpEvent) event = { 0 };
      guint64 number;

      g_assert_true (ep_event_parse (item->record, &event, NULL));
      number = rel_payload_number (event.payload);
      if (!g_hash_table_remove (c->stored, &number) && !g_hash_table_remove (c->pending, &number))
        {
          if (number < first || number >= first + STRIDE)
            g_error ("compact: event %" G_GUINT64_FORMAT " was never appended (seed %u)",
                     number, c->seed);
          /* appended and not reported (the kill came first), or removed
           * (reported) and back: a resurrection */
          if (number != c->max_reported + 1)
            resurrected++;
        }
      g_array_append_val (seqs, item->seq);
    }
  g_assert_cmpuint (g_hash_table_size (c->stored), ==, 0);  /* lost nothing */
  g_hash_table_remove_all (c->pending);  /* their removal had reached the journal */
  g_assert_true (ep_queue_remove (queue, (guint64 *) (gpointer) seqs->data, seqs->len, &error));
  g_assert_true (ep_queue_reclaim (queue, FALSE, &error));
  g_assert_no_error (error);
  return resurrected;
}

static void
start_consumer (Crash *c)
{
  const char *consumer = g_getenv ("EP_CONSUMER");
  g_autofree char *consumer_dir = ep_test_make_dir ("consumer");
  g_autofree char *port_file = g_build_filename (consumer_dir, "port", NULL);
  g_autofree char *latency = g_strdup_printf ("%d", CONSUMER_LATENCY_MS);
  g_autofree char *port = NULL;
  g_autoptr(GError) error = NULL;
  gint64 deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;

  g_assert_nonnull (consumer);
  c->consumer_out = g_build_filename (consumer_dir, "events.jsonl", NULL);
  {
    /* setpriv: it dies with this process, even when a failed assertion
     * aborts it (a child_setup function would make GLib fork without
     * posix_spawn, which can deadlock in a threaded parent) */
    const char *argv[] = { "setpriv", "--pdeathsig", "KILL", consumer, "--port", "0",
                           "--port-file", port_file, "--output", c->consumer_out,
                           "--latency", latency, NULL };

    g_spawn_async (NULL, (char **) argv, NULL,
                   G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                   NULL, NULL, &c->consumer_pid, &error);
    g_assert_no_error (error);
  }
  while (!g_file_get_contents (port_file, &port, NULL, NULL) || *port == '\0')
    {
      int status;

      g_clear_pointer (&port, g_free);
      if (waitpid (c->consumer_pid, &status, WNOHANG) == c->consumer_pid)
        g_error ("ep-consumer exited at start (status %d)", status);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10 * 1000);
    }
  c->uri = g_strdup_printf ("http://127.0.0.1:%u/api/event-batch",
                            (guint) g_ascii_strtoull (port, NULL, 10));
}

static void
run_scenario (gconstpointer data)
{
  const char *role = data;
  g_autofree char *scenario = g_strconcat ("crash-", role, NULL);
  guint rounds = rel_rounds (6, 1000);
  gint64 start = g_get_monotonic_time ();
  Crash c = { 0 };

  c.role = role;
  c.rand = rel_rand_new (scenario, &c.seed);
  c.dir = ep_test_make_dir ("crash");
  c.exe = rel_self_exe ();
  c.stored = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  c.delivered = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  c.failed = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  c.pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  c.synced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  c.unsynced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) g_array_unref);
  if (g_str_equal (role, "deliver") || g_str_equal (role, "close"))
    start_consumer (&c);
  else if (!g_str_equal (role, "compact"))
    {
      c.server = ep_test_server_new ();
      c.uri = ep_test_server_dup_uri (c.server, "/api/event-batch");
    }
  else
    c.uri = g_strdup ("-");

  for (guint round = 0; round < rounds; round++)
    {
      guint64 first = (round + 1) * STRIDE;
      guint resurrected;

      record_synced_baseline (&c);
      c.max_reported = first - 1;
      spawn_and_kill (&c, first);
      if (g_str_equal (role, "sync"))
        cut_power (&c);
      if (g_str_equal (role, "compact"))
        resurrected = recover_queue (&c, first);
      else
        resurrected = recover_and_deliver (&c, first);
      if (g_hash_table_size (c.stored) > 0)
        g_error ("%s round %u: %u events reported stored did not arrive (seed %u)",
                 role, round, g_hash_table_size (c.stored), c.seed);
      g_assert_cmpuint (resurrected, <=, BATCH_WINDOW);
      c.n_resurrected += resurrected;
      c.max_resurrected_per_kill = MAX (c.max_resurrected_per_kill, resurrected);
    }

  rel_result (scenario, "rounds=%u stored=%" G_GUINT64_FORMAT " lost=0 failed_starts=0 "
              "resurrected=%" G_GUINT64_FORMAT " max_resurrected_per_kill=%u discarded=%u "
              "storing_failed_then_arrived=%" G_GUINT64_FORMAT " cut_writes=%" G_GUINT64_FORMAT
              " seconds=%.1f",
              rounds, c.n_stored, c.n_resurrected, c.max_resurrected_per_kill, c.n_discarded,
              c.n_ghosts, c.n_cut_writes, (g_get_monotonic_time () - start) / 1e6);

  if (c.consumer_pid != 0)
    {
      kill (c.consumer_pid, SIGTERM);
      waitpid (c.consumer_pid, NULL, 0);
      g_spawn_close_pid (c.consumer_pid);
    }
  g_clear_pointer (&c.server, ep_test_server_free);
  g_hash_table_unref (c.stored);
  g_hash_table_unref (c.delivered);
  g_hash_table_unref (c.failed);
  g_hash_table_unref (c.pending);
  g_hash_table_unref (c.synced);
  g_hash_table_unref (c.unsynced);
  g_rand_free (c.rand);
  g_free (c.consumer_out);
  g_free (c.uri);
  g_free (c.exe);
  g_free (c.dir);
}

/* Torn records are possible (SIGKILL between two pages of one write) and
 * logged as messages; they must not abort the test. */
static GLogWriterOutput
quiet_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG))
    return g_log_writer_default (level, fields, n_fields, user_data);
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && strstr (fields[i].value, "discarded") != NULL)
      return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

int
main (int    argc,
      char **argv)
{
  if (argc == 7 && g_str_equal (argv[1], "--child"))
    {
      guint64 first = g_ascii_strtoull (argv[4], NULL, 10);
      guint32 seed = (guint32) g_ascii_strtoull (argv[6], NULL, 10);

      /* never outlive the test (when it fails, it aborts) */
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      g_log_set_writer_func (quiet_writer, NULL, NULL);
      if (g_str_equal (argv[2], "compact"))
        return child_compact_main (argv[3], first, seed);
      return child_producer_main (argv[2], argv[3], first, argv[5], seed);
    }

  g_log_set_writer_func (quiet_writer, NULL, NULL);
  ep_test_init (&argc, &argv);

  g_test_add_data_func ("/reliability/crash/send", "send", run_scenario);
  g_test_add_data_func ("/reliability/crash/deliver", "deliver", run_scenario);
  g_test_add_data_func ("/reliability/crash/compact", "compact", run_scenario);
  g_test_add_data_func ("/reliability/crash/close", "close", run_scenario);
  g_test_add_data_func ("/reliability/crash/sync-on-send", "sync", run_scenario);

  return g_test_run ();
}
