/* rel-disk.c: a full disk, I/O errors, failing syncs, a deleted or read-only directory
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each case runs a producer on a fresh directory, stores events, turns a
 * fault on for a random number of sends, turns it off and stores more. It
 * asserts SPEC 2 and 3: a send that cannot be stored returns
 * STORING_FAILED (never STORED) and starts a storage outage (outage TRUE,
 * announced); the next successful store ends it; every event that was
 * reported STORED is delivered in the end, nothing else.
 * Faults: RLIMIT_FSIZE (the segment cannot grow: EFBIG, as a full disk),
 * ENOSPC and EIO on every write to the directory's files (segment headers,
 * records and state files), failing fdatasync/fsync with sync-on-send and
 * without it (the background sync), the counters file alone failing, the
 * directory made read-only (EROFS), and the directory deleted while
 * running. The write faults go through the C library calls the queue makes
 * (tests/reliability/rel-fault.c), selected by path. Rounds: 3 (short),
 * 30 (EP_RELIABILITY=long).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/resource.h>

#include <glib/gstdio.h>

#include "ep-test-server.h"
#include "rel-common.h"

typedef enum {
  FAULT_FSIZE,
  FAULT_ENOSPC,
  FAULT_EIO,
  FAULT_SYNC_ON_SEND,
  FAULT_BACKGROUND_SYNC,
  FAULT_STATE_FILE,
  FAULT_READ_ONLY,
  FAULT_DELETED,
} Fault;

typedef struct {
  const char *name;
  Fault       fault;
  gboolean    sends_fail;     /* sends during the fault return STORING_FAILED */
  const char *known_defect;
} DiskCase;

static const DiskCase disk_cases[] = {
  { "file-size-limit", FAULT_FSIZE, TRUE, NULL },
  { "enospc", FAULT_ENOSPC, TRUE, NULL },
  { "eio", FAULT_EIO, TRUE, NULL },
  { "fsync-fails-sync-on-send", FAULT_SYNC_ON_SEND, TRUE, NULL },
  { "fsync-fails-background", FAULT_BACKGROUND_SYNC, FALSE, NULL },
  { "state-file-fails", FAULT_STATE_FILE, FALSE, NULL },
  { "read-only", FAULT_READ_ONLY, TRUE, NULL },
  /* the queue notices within a second and stores its events again: sends
   * may go on succeeding; what they stored must be delivered */
  { "deleted-directory", FAULT_DELETED, FALSE, NULL },
};

typedef struct {
  gboolean seen_true;
  gboolean seen_false;
} Outage;

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   Outage     *o)
{
  if (outage)
    o->seen_true = TRUE;
  else
    o->seen_false = TRUE;
}

static EpSendResult
send_one (EpProducer *producer,
          GRand      *rand,
          guint       number,
          GHashTable *stored)
{
  g_autofree char *payload = rel_payload (number, rand);
  char *id = NULL;
  EpSendResult result;

  result = ep_producer_send_event_full (producer, "rel_event", EP_CONSENT_CATEGORY_NECESSARY,
                                        payload, NULL, &id);
  if (result == EP_SEND_RESULT_STORED)
    g_hash_table_add (stored, id);
  else
    g_free (id);
  return result;
}

static void
fault_on (const DiskCase *k,
          const char     *dir,
          GRand          *rand)
{
  g_autofree char *prefix = g_strconcat (dir, "/", NULL);
  g_autofree char *state = g_build_filename (dir, "monitor.gvariant", NULL);
  struct rlimit limit = { 64 * 1024, RLIM_INFINITY };

  switch (k->fault)
    {
    case FAULT_FSIZE:
      g_assert_no_errno (setrlimit (RLIMIT_FSIZE, &limit));
      break;
    case FAULT_ENOSPC:
      rel_fault_set (prefix, REL_FAULT_WRITE, ENOSPC, G_MAXUINT, 1.0, rand);
      break;
    case FAULT_EIO:
      rel_fault_set (prefix, REL_FAULT_WRITE | REL_FAULT_SYNC, EIO, G_MAXUINT, 1.0, rand);
      break;
    case FAULT_SYNC_ON_SEND:
    case FAULT_BACKGROUND_SYNC:
      rel_fault_set (prefix, REL_FAULT_SYNC, EIO, G_MAXUINT, 1.0, rand);
      break;
    case FAULT_STATE_FILE:
      rel_fault_set (state, REL_FAULT_WRITE | REL_FAULT_SYNC, EIO, G_MAXUINT, 1.0, rand);
      break;
    case FAULT_READ_ONLY:
      /* root ignores permissions: EROFS through the hook, as a read-only mount */
      rel_fault_set (prefix, REL_FAULT_WRITE | REL_FAULT_SYNC, EROFS, G_MAXUINT, 1.0, rand);
      break;
    case FAULT_DELETED:
      ep_test_remove_tree (dir);
      break;
    }
}

static void
fault_off (const DiskCase *k)
{
  struct rlimit limit = { RLIM_INFINITY, RLIM_INFINITY };

  if (k->fault == FAULT_FSIZE)
    g_assert_no_errno (setrlimit (RLIMIT_FSIZE, &limit));
  rel_fault_clear ();
}

static void
run_disk_case (const DiskCase *k,
               GRand          *rand,
               guint64        *n_stored,
               guint64        *n_failed)
{
  g_autofree char *dir = ep_test_make_dir ("disk");
  g_autoptr(GHashTable) stored = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = NULL;
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, "/api/event-batch");
  guint before = g_rand_int_range (rand, 1, 200);
  guint during = g_rand_int_range (rand, 50, 3000);
  guint after = g_rand_int_range (rand, 1, 200);
  guint number = 0, failed = 0, hits;
  Outage outage = { 0 };

  producer = ep_test_producer_new (dir, uri, uri, &error,
                                   "sync-on-send", k->fault == FAULT_SYNC_ON_SEND,
                                   "max-disk-usage", (guint64) 1 << 30,
                                   NULL);
  g_assert_no_error (error);
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), &outage);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  for (guint i = 0; i < before; i++)
    g_assert_cmpint (send_one (producer, rand, number++, stored), ==, EP_SEND_RESULT_STORED);

  hits = rel_fault_get_hits ();
  fault_on (k, dir, rand);
  for (guint i = 0; i < during; i++)
    {
      EpSendResult result = send_one (producer, rand, number++, stored);

      g_assert_true (result == EP_SEND_RESULT_STORED || result == EP_SEND_RESULT_STORING_FAILED);
      failed += result == EP_SEND_RESULT_STORING_FAILED;
      /* counters change too (the state file is written from the main context) */
      ep_producer_send_event (producer, "rel_blocked", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
      if (i % 100 == 0)
        while (g_main_context_iteration (NULL, FALSE))
          ;
    }
  if (k->sends_fail)
    {
      g_assert_cmpuint (failed, >, 0);
      EP_TEST_SPIN_UNTIL (ep_producer_get_outage (producer));
      g_assert_true (outage.seen_true);
    }
  /* a background sync or the counters file failing loses no stored event:
   * let the sync thread meet the fault */
  if (!k->sends_fail)
    {
      gint64 until = g_get_monotonic_time () + 1200 * 1000;

      while (g_get_monotonic_time () < until)
        ep_test_iterate ();
    }
  if (k->fault != FAULT_FSIZE && k->fault != FAULT_DELETED)
    g_assert_cmpuint (rel_fault_get_hits (), >, hits);  /* the fault was met */
  fault_off (k);

  for (guint i = 0; i < after; i++)
    g_assert_cmpint (send_one (producer, rand, number++, stored), ==, EP_SEND_RESULT_STORED);
  if (k->sends_fail)
    {
      EP_TEST_SPIN_UNTIL (!ep_producer_get_outage (producer));
      g_assert_true (outage.seen_false);
    }

  /* every event reported STORED is delivered, nothing else */
  while (ep_producer_get_queue_length (producer) > 0)
    g_assert_true (ep_test_flush (producer, NULL));
  {
    GPtrArray *confirmed = ep_test_server_get_confirmed_ids (server);
    g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
    GHashTableIter iter;
    gpointer id;

    for (guint i = 0; i < confirmed->len; i++)
      {
        g_assert_true (g_hash_table_contains (stored, confirmed->pdata[i]));
        g_hash_table_add (seen, confirmed->pdata[i]);
      }
    g_hash_table_iter_init (&iter, stored);
    while (g_hash_table_iter_next (&iter, &id, NULL))
      g_assert_true (g_hash_table_contains (seen, id));
  }
  *n_stored += g_hash_table_size (stored);
  *n_failed += failed;
  g_clear_object (&producer);
  ep_test_server_free (server);
  ep_test_remove_tree (dir);
}

static void
test_disk_case (gconstpointer data)
{
  const DiskCase *k = data;
  g_autofree char *scenario = g_strconcat ("disk-", k->name, NULL);
  g_autoptr(GRand) rand = NULL;
  guint rounds = rel_rounds (3, 30);
  guint64 n_stored = 0, n_failed = 0;

  if (k->known_defect != NULL && g_getenv ("EP_RELIABILITY_KNOWN_DEFECTS") == NULL)
    {
      g_test_skip (k->known_defect);
      return;
    }
  rand = rel_rand_new (scenario, NULL);
  for (guint i = 0; i < rounds; i++)
    run_disk_case (k, rand, &n_stored, &n_failed);
  rel_result (scenario, "rounds=%u stored=%" G_GUINT64_FORMAT " lost=0 storing_failed=%" G_GUINT64_FORMAT,
              rounds, n_stored, n_failed);
}

/* Storage failures are conditions, not programming errors: SPEC says they
 * are reported by the outage, counters and messages; warnings stay fatal. */
int
main (int    argc,
      char **argv)
{
  signal (SIGXFSZ, SIG_IGN);  /* RLIMIT_FSIZE: EFBIG instead of a signal */
  rel_test_init_without_debug (&argc, &argv);
  rel_test_add_debug_messages_dropped ();

  for (guint i = 0; i < G_N_ELEMENTS (disk_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/reliability/disk/", disk_cases[i].name, NULL);

      g_test_add_data_func (path, &disk_cases[i], test_disk_case);
    }

  return g_test_run ();
}
