/* test-privacy.c: EpProducer:follow-desktop-privacy against real GSettings
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Issue 20: GNOME's send-software-usage-stats = false blocks PERFORMANCE
 * and TARGETING as set_consent_blocked() would (queued events deleted and
 * counted, in-flight ones never sent again), live, on the producer's main
 * context; NECESSARY never; what the application blocked stays blocked
 * when the desktop says yes again.
 *
 * Run twice by meson: with EP_TEST_PRIVACY=schema, GSETTINGS_SCHEMA_DIR is
 * the build tree's compiled copy of the schema (tests/privacy-schema/) and
 * GSETTINGS_BACKEND=memory, the process-wide backend the test's own
 * GSettings writes to; with EP_TEST_PRIVACY=none no schema is installed
 * (G_TEST_OPTION_ISOLATE_DIRS hides the system's) and nothing changes.
 */
#include "config.h"

#include "ep-test-util.h"

#define SCHEMA "org.gnome.desktop.privacy"
#define KEY    "send-software-usage-stats"
#define PERF   EP_CONSENT_CATEGORY_PERFORMANCE
#define TARGET EP_CONSENT_CATEGORY_TARGETING
#define NEED   EP_CONSENT_CATEGORY_NECESSARY

enum { CONSENT = 0 };

static GSettings *
desktop_settings (void)
{
  return g_settings_new (SCHEMA);
}

static void
set_desktop (gboolean allowed)
{
  g_autoptr(GSettings) settings = desktop_settings ();

  g_assert_true (g_settings_set_boolean (settings, KEY, allowed));
}

static void
send_n (EpProducer        *producer,
        const char        *name,
        EpConsentCategory  category,
        guint              n,
        EpSendResult       expected)
{
  for (guint i = 0; i < n; i++)
    g_assert_cmpint (ep_producer_send_event (producer, name, category, "{}", NULL), ==, expected);
}

static void
unblock_all (EpProducer *producer)
{
  ep_producer_set_consent_blocked (producer, PERF, FALSE);
  ep_producer_set_consent_blocked (producer, TARGET, FALSE);
}

/* The property defaults to TRUE; GNOME's default for the key is false, so
 * a producer on a desktop where nobody turned usage statistics on keeps
 * PERFORMANCE and TARGETING blocked whatever the application says. */
static void
test_default (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GSettings) settings = desktop_settings ();
  gboolean follow = FALSE;

  g_settings_reset (settings, KEY);
  g_assert_false (g_settings_get_boolean (settings, KEY));
  ep_test_consumer_init (&consumer, "privacy-default", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_object_get (producer, "follow-desktop-privacy", &follow, NULL);
  g_assert_true (follow);
  unblock_all (producer);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_true (ep_producer_get_consent_blocked (producer, TARGET));
  g_assert_false (ep_producer_get_consent_blocked (producer, NEED));
  send_n (producer, "perf", PERF, 2, EP_SEND_RESULT_CONSENT_FILTERED);
  send_n (producer, "need", NEED, 1, EP_SEND_RESULT_STORED);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* Live: the desktop says no while events are queued: they are deleted and
 * counted, new ones dropped, NECESSARY untouched; yes again: the
 * application's choice (both unblocked) is back. */
static void
test_live (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GError) error = NULL;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-live", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  unblock_all (producer);
  g_assert_false (ep_producer_get_consent_blocked (producer, PERF));
  send_n (producer, "perf", PERF, 5, EP_SEND_RESULT_STORED);
  send_n (producer, "ad", TARGET, 4, EP_SEND_RESULT_STORED);
  send_n (producer, "need", NEED, 2, EP_SEND_RESULT_STORED);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 11);

  set_desktop (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_true (ep_producer_get_consent_blocked (producer, TARGET));
  g_assert_false (ep_producer_get_consent_blocked (producer, NEED));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, 5);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "ad"), ==, 4);
  send_n (producer, "late-perf", PERF, 1, EP_SEND_RESULT_CONSENT_FILTERED);
  send_n (producer, "need", NEED, 1, EP_SEND_RESULT_STORED);

  set_desktop (TRUE);
  EP_TEST_SPIN_UNTIL (!ep_producer_get_consent_blocked (producer, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));
  send_n (producer, "perf-again", PERF, 1, EP_SEND_RESULT_STORED);
  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "perf"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "ad"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "late-perf"), ==, 0);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "need"), ==, 3);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "perf-again"), ==, 1);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

static void
on_settled (EpProducer     *producer,
            const char    **ids,
            EpEventOutcome  outcome,
            GHashTable     *settled)
{
  for (guint i = 0; ids[i] != NULL; i++)
    g_hash_table_insert (settled, g_strdup (ids[i]), GUINT_TO_POINTER (outcome + 1));
}

/* The desktop's no settles the queued events of the two categories as
 * EP_EVENT_OUTCOME_CONSENT_REVOKED (events-settled), as a revocation by
 * the application does; NECESSARY ones are not settled. */
static void
test_settled_revoked (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GHashTable) settled = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *perf_id = NULL;
  g_autofree char *ad_id = NULL;
  g_autofree char *need_id = NULL;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-settled", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_signal_connect (producer, "events-settled", G_CALLBACK (on_settled), settled);
  unblock_all (producer);
  g_assert_cmpint (ep_producer_send_event_full (producer, "perf", PERF, "{}", NULL, &perf_id), ==,
                   EP_SEND_RESULT_STORED);
  g_assert_cmpint (ep_producer_send_event_full (producer, "ad", TARGET, "{}", NULL, &ad_id), ==,
                   EP_SEND_RESULT_STORED);
  g_assert_cmpint (ep_producer_send_event_full (producer, "need", NEED, "{}", NULL, &need_id), ==,
                   EP_SEND_RESULT_STORED);
  set_desktop (FALSE);
  EP_TEST_SPIN_UNTIL (g_hash_table_size (settled) == 2);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (settled, perf_id)), ==,
                    EP_EVENT_OUTCOME_CONSENT_REVOKED + 1);
  g_assert_cmpuint (GPOINTER_TO_UINT (g_hash_table_lookup (settled, ad_id)), ==,
                    EP_EVENT_OUTCOME_CONSENT_REVOKED + 1);
  g_assert_false (g_hash_table_contains (settled, need_id));
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
} ContextThread;

static gpointer
run_context (gpointer data)
{
  ContextThread *ct = data;

  g_main_context_push_thread_default (ct->context);
  g_main_loop_run (ct->loop);
  g_main_context_pop_thread_default (ct->context);
  return NULL;
}

static gboolean
quit_loop (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

/* The producer's main context runs in another thread when init is called
 * (init cannot acquire it): the setting is read during init (its no
 * applies before init returns) and followed from that thread. */
static void
test_context_in_other_thread (void)
{
  g_autofree char *dir = ep_test_make_dir ("privacy-thread");
  ContextThread ct = { g_main_context_new (), NULL };
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GError) error = NULL;
  GThread *thread;
  gint64 deadline;

  ct.loop = g_main_loop_new (ct.context, FALSE);
  set_desktop (FALSE);
  g_main_context_push_thread_default (ct.context);
  producer = g_object_new (EP_TYPE_PRODUCER, "app-name", "test-app", "app-version", "1.2.3",
                           "consumer-uri", "http://127.0.0.1:9/api/event-batch",
                           "public-consumer-uri", "http://127.0.0.1:9/api/event-batch",
                           "queue-dir", dir, "batch-interval", 3600 * 1000,
                           "monitoring-interval", 3600 * 1000, NULL);
  g_main_context_pop_thread_default (ct.context);
  thread = g_thread_new ("producer-context", run_context, &ct);
  /* the thread owns the context once its loop runs */
  deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;
  while (!g_main_loop_is_running (ct.loop))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_thread_yield ();
    }
  g_assert_true (g_initable_init (G_INITABLE (producer), NULL, &error));
  g_assert_no_error (error);
  unblock_all (producer);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));

  set_desktop (TRUE);
  deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;
  while (ep_producer_get_consent_blocked (producer, PERF))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (1000);   /* the other thread dispatches the change */
    }
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));

  g_main_context_invoke (ct.context, quit_loop, ct.loop);
  g_thread_join (thread);
  g_clear_object (&producer);
  g_main_loop_unref (ct.loop);
  g_main_context_unref (ct.context);
}

/* effective = application OR desktop: the desktop's yes never unblocks
 * what the application blocked, and the application's unblock does not
 * lift the desktop's no. */
static void
test_app_choice_kept (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-app", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  ep_producer_set_consent_blocked (producer, PERF, FALSE);   /* TARGETING stays blocked */
  set_desktop (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_consent_blocked (producer, PERF));
  ep_producer_set_consent_blocked (producer, PERF, FALSE);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));
  send_n (producer, "perf", PERF, 1, EP_SEND_RESULT_CONSENT_FILTERED);

  set_desktop (TRUE);
  EP_TEST_SPIN_UNTIL (!ep_producer_get_consent_blocked (producer, PERF));
  g_assert_true (ep_producer_get_consent_blocked (producer, TARGET));
  send_n (producer, "ad", TARGET, 1, EP_SEND_RESULT_CONSENT_FILTERED);
  send_n (producer, "perf", PERF, 1, EP_SEND_RESULT_STORED);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* The events of a batch in flight when the desktop says no are deleted
 * when their request ends (here it fails), never sent again, although
 * the desktop said yes again before the retry. */
static void
test_in_flight (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-flight", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "max-in-flight", 1, NULL);
  unblock_all (producer);
  send_n (producer, "revoked", PERF, 4, EP_SEND_RESULT_STORED);
  ep_test_server_push_hang (consumer.server);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (consumer.server) == 1);

  set_desktop (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_consent_blocked (producer, PERF));
  set_desktop (TRUE);
  EP_TEST_SPIN_UNTIL (!ep_producer_get_consent_blocked (producer, PERF));
  ep_test_server_release_hung (consumer.server);
  ep_test_wait_result (&result);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_test_server_count_entries (consumer.server, "revoked"), ==, 4);   /* the failed request only */
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, 0);
  EP_TEST_SPIN_UNTIL (ep_test_count_of (producer, CONSENT, "revoked") == 4);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* At start: the desktop's no applies to the queue an earlier run left
 * (deleted before construction returns); persist-consent saves the
 * application's choice only, so a run that does not follow the desktop
 * restores "unblocked". */
static void
test_at_start (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-start", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  unblock_all (producer);
  send_n (producer, "perf", PERF, 3, EP_SEND_RESULT_STORED);
  send_n (producer, "need", NEED, 1, EP_SEND_RESULT_STORED);
  g_clear_object (&producer);

  set_desktop (FALSE);
  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE, NULL);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, 3);
  g_clear_object (&producer);

  producer = ep_test_consumer_new_producer (&consumer, "persist-consent", TRUE,
                                            "follow-desktop-privacy", FALSE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* follow-desktop-privacy FALSE: the setting is ignored. A second producer
 * that follows it, on the same main context, shows when the change was
 * dispatched; turning the property on at run time applies the setting at
 * once, turning it off gives the application's choice back. */
static void
test_not_followed (void)
{
  EpTestConsumer consumer, witness_consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(EpProducer) witness = NULL;
  gboolean follow = TRUE;

  set_desktop (TRUE);
  ep_test_consumer_init (&consumer, "privacy-off", NULL);
  ep_test_consumer_init (&witness_consumer, "privacy-witness", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "follow-desktop-privacy", FALSE, NULL);
  witness = ep_test_consumer_new_producer (&witness_consumer, NULL);
  g_object_get (producer, "follow-desktop-privacy", &follow, NULL);
  g_assert_false (follow);
  unblock_all (producer);
  unblock_all (witness);
  send_n (producer, "perf", PERF, 2, EP_SEND_RESULT_STORED);

  set_desktop (FALSE);
  EP_TEST_SPIN_UNTIL (ep_producer_get_consent_blocked (witness, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 2);
  send_n (producer, "perf", PERF, 1, EP_SEND_RESULT_STORED);

  g_object_set (producer, "follow-desktop-privacy", TRUE, NULL);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_true (ep_producer_get_consent_blocked (producer, TARGET));
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_cmpuint (ep_test_count_of (producer, CONSENT, "perf"), ==, 3);

  g_object_set (producer, "follow-desktop-privacy", FALSE, NULL);
  g_assert_false (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));
  g_clear_object (&producer);
  g_clear_object (&witness);
  ep_test_consumer_clear (&consumer);
  ep_test_consumer_clear (&witness_consumer);
}

/* No schema installed: construction works (g_settings_new() would abort)
 * and the application's choice alone decides. */
static void
test_no_schema (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  gboolean follow = FALSE;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, SCHEMA, TRUE);
  g_assert_null (schema);
  ep_test_consumer_init (&consumer, "privacy-none", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_object_get (producer, "follow-desktop-privacy", &follow, NULL);
  g_assert_true (follow);
  g_assert_true (ep_producer_get_consent_blocked (producer, PERF));
  unblock_all (producer);
  g_assert_false (ep_producer_get_consent_blocked (producer, PERF));
  g_assert_false (ep_producer_get_consent_blocked (producer, TARGET));
  send_n (producer, "perf", PERF, 1, EP_SEND_RESULT_STORED);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

int
main (int    argc,
      char **argv)
{
  const char *mode = g_getenv ("EP_TEST_PRIVACY");

  ep_test_init (&argc, &argv);
  if (g_strcmp0 (mode, "none") == 0)
    {
      g_test_add_func ("/ep/privacy/no-schema", test_no_schema);
      return g_test_run ();
    }
  g_assert_cmpstr (mode, ==, "schema");
  g_test_add_func ("/ep/privacy/default", test_default);
  g_test_add_func ("/ep/privacy/live", test_live);
  g_test_add_func ("/ep/privacy/app-choice-kept", test_app_choice_kept);
  g_test_add_func ("/ep/privacy/in-flight", test_in_flight);
  g_test_add_func ("/ep/privacy/settled-revoked", test_settled_revoked);
  g_test_add_func ("/ep/privacy/context-in-other-thread", test_context_in_other_thread);
  g_test_add_func ("/ep/privacy/at-start", test_at_start);
  g_test_add_func ("/ep/privacy/not-followed", test_not_followed);
  return g_test_run ();
}
