/* test-consent.c: consent applied to the queue at start, durable revocation, persist-consent
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SPEC section 4, consent revocation (issue 18, item 1): the consent state
 * in force at construction applies to the queue as a later
 * set_consent_blocked() would; a revocation is durable when the call
 * returns, also for the events in flight then (a crash right after it, in a
 * child process, never lets them out); persist-consent saves and restores
 * the state. Against the scripted consumer on 127.0.0.1 and real files.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "ep-test-util.h"

#define N_BLOCKED 25   /* per category: 50 events of blocked categories */
#define N_NECESSARY 5

enum { CONSENT = 0 };

static void
send_n (EpProducer        *producer,
        const char        *name,
        EpConsentCategory  category,
        guint              n)
{
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (ep_producer_send_event (producer, name, category, "{}", NULL), ==,
                     EP_SEND_RESULT_STORED);
}

/* The user consents to @category, @n events of it named @name are sent,
 * and a flush starts: their batch hangs at the consumer (in flight). */
static void
start_in_flight (EpProducer        *producer,
                 EpTestServer      *server,
                 EpConsentCategory  category,
                 const char        *name,
                 guint              n,
                 GAsyncResult     **result)
{
  ep_producer_set_consent_blocked (producer, category, FALSE);
  send_n (producer, name, category, n);
  ep_test_server_push_hang (server);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (server) == 1);
}

static void
flush_ok (EpProducer *producer)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
}

/* An earlier run (the app had unblocked both categories) queued 50 events
 * of PERFORMANCE and TARGETING and quit; the new run starts with the
 * defaults: 0 of 50 delivered, all 50 counted, queue-length right at once. */
static void
test_restart_default_blocked (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;

  ep_test_consumer_init (&consumer, "consent-restart", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, FALSE);
  send_n (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, N_BLOCKED);
  send_n (producer, "ad", EP_CONSENT_CATEGORY_TARGETING, N_BLOCKED);
  send_n (producer, "need", EP_CONSENT_CATEGORY_NECESSARY, N_NECESSARY);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2 * N_BLOCKED + N_NECESSARY);
  g_clear_object (&producer);

  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, N_NECESSARY);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, N_BLOCKED);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "ad"), ==, N_BLOCKED);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "perf"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "ad"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "need"), ==, N_NECESSARY);
  g_clear_object (&producer);

  /* Gone for good: a third run finds nothing of them either. */
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* The child of test_revoked_in_flight_crash(): an app with persist-consent
 * unblocks PERFORMANCE, sends, and while a batch of them is in flight (the
 * consumer hangs) the user revokes; then consents again and sends more;
 * then the process dies (no dispose, no close, no sync but what the
 * library did). */
static void
revoke_in_flight_then_die (void)
{
  const char *dir = g_getenv ("EP_TEST_CONSENT_DIR");
  EpTestServer *server = ep_test_server_new ();
  g_autofree char *uri = ep_test_server_dup_uri (server, EP_TEST_EVENT_PATH);
  EpProducer *producer;
  g_autoptr(GAsyncResult) result = NULL;

  if (!g_test_subprocess ())
    {
      g_test_skip ("run by /ep/consent/revoked-in-flight-crash");
      return;
    }
  g_assert_nonnull (dir);
  producer = ep_test_producer_new (dir, uri, uri, NULL, "persist-consent", TRUE,
                                   "max-in-flight", 1, NULL);
  start_in_flight (producer, server, EP_CONSENT_CATEGORY_PERFORMANCE, "revoked", 8, &result);

  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  send_n (producer, "consented", EP_CONSENT_CATEGORY_PERFORMANCE, 3);
  _exit (0);
}

/* In flight when revoked, then a crash: never delivered after the restart,
 * although the restored state has the category unblocked again; what was
 * sent after the new consent is delivered. */
static void
test_revoked_in_flight_crash (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;

  ep_test_consumer_init (&consumer, "consent-crash", NULL);
  g_setenv ("EP_TEST_CONSENT_DIR", consumer.dir, TRUE);
  g_test_trap_subprocess ("/ep/consent/revoked-in-flight-crash/child", 0,
                          G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "revoked"), ==, 8);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "revoked"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "consented"), ==, 3);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* The same without a crash: the producer is disposed without close while
 * the batch is in flight, and a new one opens the directory. Also: events
 * given back after the revocation are deleted even though the category
 * was unblocked meanwhile. */
static void
test_revoked_in_flight_dispose (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  ep_test_consumer_init (&consumer, "consent-dispose", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE,
                                            "max-in-flight", 1, NULL);
  start_in_flight (producer, consumer.server, EP_CONSENT_CATEGORY_TARGETING, "revoked", 6, &result);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, TRUE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, FALSE);
  send_n (producer, "consented", EP_CONSENT_CATEGORY_TARGETING, 2);
  /* the pending flush holds a reference: dispose it as the last unref would */
  g_object_run_dispose (G_OBJECT (producer));
  g_clear_object (&producer);
  ep_test_wait_result (&result);

  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "revoked"), ==, 1 * 6);  /* the hung request only */
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "consented"), ==, 2);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, 2);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* In one run: the batch in flight at the revocation fails; its events are
 * deleted and counted, never sent again, though the user consented again
 * before the retry. */
static void
test_revoked_in_flight_fails (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GAsyncResult) result = NULL;

  ep_test_consumer_init (&consumer, "consent-fails", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "max-in-flight", 1, NULL);
  start_in_flight (producer, consumer.server, EP_CONSENT_CATEGORY_PERFORMANCE, "revoked", 4, &result);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  ep_test_server_release_hung (consumer.server);
  ep_test_wait_result (&result);
  /* deleted when their request ended, not at the next attempt */
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "revoked"), ==, 4);  /* the failed request */
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, 0);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  EP_TEST_SPIN_UNTIL (ep_test_count_of (producer, CONSENT, "revoked") == 4);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* persist-consent restores the last state, unblocked and blocked; the
 * events a consenting run queued survive the restart. Without it the
 * defaults apply again. */
static void
test_persist_consent (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  gboolean persist = FALSE;

  ep_test_consumer_init (&consumer, "consent-persist", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_object_get (producer, "persist-consent", &persist, NULL);
  g_assert_true (persist);
  /* nothing saved yet: the defaults */
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  send_n (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, 4);
  g_clear_object (&producer);

  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 4);
  /* sent before the app applies anything: kept, as the user chose */
  send_n (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, 1);
  g_assert_cmpint (ep_producer_send_event (producer, "ad", EP_CONSENT_CATEGORY_TARGETING, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);
  /* now the other way round */
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING, FALSE);
  send_n (producer, "ad", EP_CONSENT_CATEGORY_TARGETING, 2);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_clear_object (&producer);

  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));
  g_assert_cmpint (ep_producer_send_event (producer, "perf", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL),
                   ==, EP_SEND_RESULT_CONSENT_FILTERED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_clear_object (&producer);

  /* persist-consent FALSE: the saved state is not restored */
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_TARGETING));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  /* one filtered at send in the second run, two deleted now */
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "ad"), ==, 3);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "ad"), ==, 0);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

static void
write_blob (const char *dir,
            GVariant   *value)
{
  g_autofree char *path = g_build_filename (dir, "consent.gvariant", NULL);
  g_autoptr(GVariant) owned = g_variant_ref_sink (value);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, g_variant_get_data (owned), g_variant_get_size (owned), &error);
  g_assert_no_error (error);
}

/* NECESSARY is never blocked: not by the defaults, not by a saved state
 * that says so (a file edited by hand), not by a restart. A blob that
 * cannot be read is moved aside and the defaults apply. */
static void
test_necessary_never_blocked (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GVariantDict) dict = g_variant_dict_new (NULL);
  g_autofree char *aside = NULL;

  ep_test_consumer_init (&consumer, "consent-necessary", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  send_n (producer, "need", EP_CONSENT_CATEGORY_NECESSARY, N_NECESSARY);
  g_clear_object (&producer);

  g_variant_dict_insert (dict, "blocked", "u", 0x7u);
  g_variant_dict_insert (dict, "revoked-below", "(ttt)", G_MAXUINT64, G_MAXUINT64, G_MAXUINT64);
  write_blob (consumer.dir, g_variant_dict_end (dict));
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_NECESSARY));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, N_NECESSARY);
  send_n (producer, "need", EP_CONSENT_CATEGORY_NECESSARY, 1);
  g_clear_object (&producer);

  write_blob (consumer.dir, g_variant_new_string ("not a consent state"));
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  aside = g_build_filename (consumer.dir, "consent.gvariant.corrupt", NULL);
  g_assert_true (g_file_test (aside, G_FILE_TEST_EXISTS));
  g_assert_true (ep_producer_get_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, N_NECESSARY + 1);
  flush_ok (producer);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "need"), ==, N_NECESSARY + 1);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/consent/restart-default-blocked", test_restart_default_blocked);
  g_test_add_func ("/ep/consent/revoked-in-flight-crash", test_revoked_in_flight_crash);
  g_test_add_func ("/ep/consent/revoked-in-flight-crash/child", revoke_in_flight_then_die);
  g_test_add_func ("/ep/consent/revoked-in-flight-dispose", test_revoked_in_flight_dispose);
  g_test_add_func ("/ep/consent/revoked-in-flight-fails", test_revoked_in_flight_fails);
  g_test_add_func ("/ep/consent/persist-consent", test_persist_consent);
  g_test_add_func ("/ep/consent/necessary-never-blocked", test_necessary_never_blocked);

  return g_test_run ();
}
