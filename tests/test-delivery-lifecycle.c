/* test-delivery-lifecycle.c: what becomes of each event (events-settled),
 * max-event-age and purge (SPEC sections 4 and 6, issue 20)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Against a scripted SQS consumer on 127.0.0.1 (ep-test-server.c).
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ep-event-private.h"
#include "ep-monitor-private.h"
#include "ep-producer-private.h"
#include "ep-witness-private.h"
#include "ep-test-server.h"
#include "ep-test-delivery-util.h"
#include "ep-test-util.h"

/* What events-settled reported: id -> outcome + 1, and how many times. */
typedef struct {
  GHashTable *outcomes;     /* owned: id (owned) -> GUINT_TO_POINTER (outcome + 1) */
  guint       emissions;
  guint       ids;          /* ids reported, duplicates included */
} Settled;

static void
on_settled (EpProducer     *producer,
            const char    **ids,
            EpEventOutcome  outcome,
            gpointer        user_data)
{
  Settled *settled = user_data;

  g_assert_nonnull (ids);
  g_assert_nonnull (ids[0]);
  settled->emissions++;
  for (guint i = 0; ids[i] != NULL; i++)
    {
      g_hash_table_insert (settled->outcomes, g_strdup (ids[i]), GUINT_TO_POINTER (outcome + 1));
      settled->ids++;
    }
}

static void
settled_init (Settled    *settled,
              EpProducer *producer)
{
  settled->outcomes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  settled->emissions = 0;
  settled->ids = 0;
  g_signal_connect (producer, "events-settled", G_CALLBACK (on_settled), settled);
}

static void
settled_clear (Settled *settled)
{
  g_clear_pointer (&settled->outcomes, g_hash_table_unref);
}

/* The outcome reported for @id, or -1. */
static int
outcome_of (Settled    *settled,
            const char *id)
{
  gpointer value = g_hash_table_lookup (settled->outcomes, id);

  return value == NULL ? -1 : (int) GPOINTER_TO_UINT (value) - 1;
}

/* Sends @n events named @name of @category; their ids go into @ids. */
static void
send_ids (EpProducer        *producer,
          const char        *name,
          EpConsentCategory  category,
          guint              n,
          GPtrArray         *ids)
{
  for (guint i = 0; i < n; i++)
    {
      char *id = NULL;

      g_assert_cmpint (ep_producer_send_event_full (producer, name, category, "{}", NULL, &id),
                       ==, EP_SEND_RESULT_STORED);
      g_assert_nonnull (id);
      g_ptr_array_add (ids, id);
    }
}

static gboolean
all_have (Settled        *settled,
          GPtrArray      *ids,
          EpEventOutcome  outcome)
{
  for (guint i = 0; i < ids->len; i++)
    if (outcome_of (settled, g_ptr_array_index (ids, i)) != (int) outcome)
      return FALSE;
  return TRUE;
}

/* events-settled ------------------------------------------------------------ */

/* Every delivered event is reported once, DELIVERED, with the id
 * send_event_full() returned, in batches (one emission per request, not
 * per event), on the producer's main context. */
static void
test_settled_delivered (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  Settled settled;

  settled_init (&settled, producer);
  send_ids (producer, "one", EP_CONSENT_CATEGORY_NECESSARY, 25, ids);
  assert_flush_ok (producer);
  EP_TEST_SPIN_UNTIL (all_have (&settled, ids, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (settled.ids, ==, 25);
  g_assert_cmpuint (g_hash_table_size (settled.outcomes), ==, 25);
  /* at most 10 events per request */
  g_assert_cmpuint (settled.emissions, >=, 3);
  g_assert_cmpuint (settled.emissions, <, 25);
  g_assert_cmpuint (ep_producer_get_settled_ids_collected_for_testing (producer), ==, 25);
  settled_clear (&settled);
}

/* Nobody connected: no id is collected at all (the cost of the signal is
 * a handler check per reply). Connecting later reports what settles from
 * then on. */
static void
test_settled_no_handler_no_cost (Fixture       *fx,
                                 gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  Settled settled;

  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  send_ids (producer, "unwatched", EP_CONSENT_CATEGORY_NECESSARY, 30, ids);
  send_ids (producer, "unwatched", EP_CONSENT_CATEGORY_PERFORMANCE, 5, ids);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_cmpuint (ep_producer_get_settled_ids_collected_for_testing (producer), ==, 0);

  g_ptr_array_set_size (ids, 0);
  settled_init (&settled, producer);
  send_ids (producer, "watched", EP_CONSENT_CATEGORY_NECESSARY, 4, ids);
  assert_flush_ok (producer);
  EP_TEST_SPIN_UNTIL (all_have (&settled, ids, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (ep_producer_get_settled_ids_collected_for_testing (producer), ==, 4);
  settled_clear (&settled);
}

/* Queued events of a category the user blocks are reported
 * CONSENT_REVOKED, as is a suspect that was out (aside) when it happened
 * and went back to the queue, which deleted it. */
static void
test_settled_consent_revoked (Fixture       *fx,
                              gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) queued = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) poison = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) good = g_ptr_array_new_with_free_func (g_free);
  const char *poison_names[] = { "poison", NULL };
  Settled settled;

  settled_init (&settled, producer);
  ep_test_server_set_sender_fault_names (fx->consumer.server, poison_names);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  send_ids (producer, "poison", EP_CONSENT_CATEGORY_PERFORMANCE, 1, poison);
  send_ids (producer, "good", EP_CONSENT_CATEGORY_NECESSARY, 20, good);
  assert_flush_fails (producer, "1 event is still queued*aside*");
  g_assert_true (all_have (&settled, good, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpint (outcome_of (&settled, g_ptr_array_index (poison, 0)), ==, -1);

  send_ids (producer, "later", EP_CONSENT_CATEGORY_PERFORMANCE, 3, queued);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, TRUE);
  EP_TEST_SPIN_UNTIL (all_have (&settled, queued, EP_EVENT_OUTCOME_CONSENT_REVOKED));
  flush_until_empty (producer, 3);
  EP_TEST_SPIN_UNTIL (all_have (&settled, poison, EP_EVENT_OUTCOME_CONSENT_REVOKED));
  g_assert_cmpuint (settled.ids, ==, 24);
  settled_clear (&settled);
}

/* A poison event, once the evidence proves the fault is its own, is
 * dropped and reported REFUSED; the others DELIVERED. */
static void
test_settled_refused (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) poison = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) good = g_ptr_array_new_with_free_func (g_free);
  const char *poison_names[] = { "poison", NULL };
  Settled settled;

  settled_init (&settled, producer);
  ep_test_server_set_sender_fault_names (fx->consumer.server, poison_names);
  send_ids (producer, "poison", EP_CONSENT_CATEGORY_NECESSARY, 1, poison);
  send_ids (producer, "good", EP_CONSENT_CATEGORY_NECESSARY, 10, good);
  /* The poison waits aside; the evidence must come after its first
   * refusal (with 4 batches in flight, later ones may be confirmed first). */
  (void) ep_test_flush (producer, NULL);
  send_ids (producer, "good", EP_CONSENT_CATEGORY_NECESSARY, EP_WITNESS_MIN_CONFIRMED, good);
  flush_until_empty (producer, 20);
  EP_TEST_SPIN_UNTIL (all_have (&settled, poison, EP_EVENT_OUTCOME_REFUSED));
  g_assert_true (all_have (&settled, good, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (settled.ids, ==, good->len + 1);
  settled_clear (&settled);
}

/* purge ----------------------------------------------------------------------- */

static guint64
purge (EpProducer *producer,
       GError    **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  ep_producer_purge_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  return ep_producer_purge_finish (producer, result, error);
}

/* Every queued event goes, NECESSARY included, without being sent; events
 * sent after the purge are kept and delivered; a restart brings nothing
 * back. */
static void
test_purge_queued (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) purged = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) later = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  Settled settled;

  settled_init (&settled, producer);
  ep_producer_set_consent_blocked (producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
  send_ids (producer, "necessary", EP_CONSENT_CATEGORY_NECESSARY, 30, purged);
  send_ids (producer, "performance", EP_CONSENT_CATEGORY_PERFORMANCE, 5, purged);
  g_assert_cmpuint (purge (producer, &error), ==, 35);
  g_assert_no_error (error);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  EP_TEST_SPIN_UNTIL (all_have (&settled, purged, EP_EVENT_OUTCOME_PURGED));
  /* a purge is not a drop */
  g_assert_true (counters_have (producer, "\"consentFilteredEvents\":{}"));

  send_ids (producer, "later", EP_CONSENT_CATEGORY_NECESSARY, 3, later);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 3);
  g_assert_true (all_have (&settled, later, EP_EVENT_OUTCOME_DELIVERED));
  g_clear_object (&producer);

  producer = producer_new (fx, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  g_assert_cmpuint (purge (producer, &error), ==, 0);
  g_assert_no_error (error);
  settled_clear (&settled);
}

/* Copies the queue directory as a crash would leave it (the files are in
 * the kernel) while the producer holds it. */
static char *
copy_queue (Fixture *fx)
{
  g_autofree char *copy = g_strconcat (fx->consumer.dir, "-crash", NULL);
  g_autofree char *command = g_strdup_printf ("cp -r '%s' '%s'", fx->consumer.dir, copy);
  int status;

  g_assert_true (g_spawn_command_line_sync (command, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&copy);
}

/* Events in a request when the purge is called are never sent again,
 * whatever the reply (here a failure), and the purge is durable when it
 * completes: a crash before their request ends (the directory as it is
 * then) deletes them at the next start. */
static void
test_purge_in_flight (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-in-flight", 1, NULL);
  g_autoptr(EpProducer) restarted = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GAsyncResult) flushed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *crashed = NULL;
  guint before;
  Settled settled;

  settled_init (&settled, producer);
  send_ids (producer, "in-flight", EP_CONSENT_CATEGORY_NECESSARY, 25, ids);
  ep_test_server_push_hang (fx->consumer.server);
  ep_producer_flush_async (producer, NULL, ep_test_store_result, &flushed);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fx->consumer.server) == 1);

  g_assert_cmpuint (purge (producer, &error), ==, 25);
  g_assert_no_error (error);
  crashed = copy_queue (fx);

  ep_test_server_release_hung (fx->consumer.server);
  ep_test_wait_result (&flushed);
  EP_TEST_SPIN_UNTIL (all_have (&settled, ids, EP_EVENT_OUTCOME_PURGED));
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  before = ep_test_server_get_n_requests (fx->consumer.server);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, before);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 0);

  /* the crash copy: the purge record deletes the 10 that were in flight */
  restarted = ep_test_producer_new (crashed, fx->consumer.uri, fx->consumer.public_uri, NULL, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (restarted), ==, 0);
  g_assert_true (ep_test_flush (restarted, NULL));
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 0);
  g_clear_object (&restarted);
  ep_test_remove_tree (crashed);
  settled_clear (&settled);
}

/* A suspect waiting aside is purged too, at once (not at its next
 * attempt, up to an hour away). */
static void
test_purge_aside (Fixture       *fx,
                  gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) poison = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) good = g_ptr_array_new_with_free_func (g_free);
  const char *poison_names[] = { "poison", NULL };
  g_autoptr(GError) error = NULL;
  guint before;
  Settled settled;

  settled_init (&settled, producer);
  ep_test_server_set_sender_fault_names (fx->consumer.server, poison_names);
  send_ids (producer, "poison", EP_CONSENT_CATEGORY_NECESSARY, 1, poison);
  send_ids (producer, "good", EP_CONSENT_CATEGORY_NECESSARY, 20, good);
  assert_flush_fails (producer, "1 event is still queued*aside*");
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 1);

  g_assert_cmpuint (purge (producer, &error), ==, 1);
  g_assert_no_error (error);
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  EP_TEST_SPIN_UNTIL (all_have (&settled, poison, EP_EVENT_OUTCOME_PURGED));
  before = ep_test_server_get_n_requests (fx->consumer.server);
  assert_flush_ok (producer);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, before);
  settled_clear (&settled);
}

/* max-event-age --------------------------------------------------------------- */

#define HOUR_US (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)

/* Appends an event named @name created @age_us ago straight to @queue (as
 * if it had waited there that long); its id goes into @ids. */
static void
append_aged (EpQueue    *queue,
             const char *name,
             gint64      age_us,
             GPtrArray  *ids)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  char *id = g_uuid_string_random ();

  ep_event_record_build (record, g_get_real_time () - age_us, id, name, strlen (name),
                         "{}", 2, "{}", 2);
  g_assert_true (ep_queue_append (queue, record->data, record->len,
                                  36 + strlen (name) + 2 + 2, &error));
  g_assert_no_error (error);
  g_ptr_array_add (ids, id);
}

/* Whether the consumer confirmed exactly the events of @ids. */
static gboolean
confirmed_exactly (Fixture   *fx,
                   GPtrArray *ids)
{
  GPtrArray *confirmed = ep_test_server_get_confirmed_ids (fx->consumer.server);

  if (confirmed->len != ids->len)
    return FALSE;
  for (guint i = 0; i < ids->len; i++)
    if (!g_ptr_array_find_with_equal_func (confirmed, g_ptr_array_index (ids, i),
                                           g_str_equal, NULL))
      return FALSE;
  return TRUE;
}

/* Events older than max-event-age when a batch is taken are deleted
 * unsent, counted as expiredEvents and reported EXPIRED; younger ones,
 * before and after them in the queue, are delivered. dup_counters keeps
 * its three maps. */
static void
test_expiry_taken (Fixture       *fx,
                   gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-event-age", 3600, NULL);
  g_autoptr(GPtrArray) old = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) young = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GVariant) counters = NULL;
  EpQueue *queue = ep_producer_get_queue_for_testing (producer);
  guint max_age = 0;
  Settled settled;

  g_object_get (producer, "max-event-age", &max_age, NULL);
  g_assert_cmpuint (max_age, ==, 3600);
  settled_init (&settled, producer);
  send_ids (producer, "young", EP_CONSENT_CATEGORY_NECESSARY, 3, young);
  for (guint i = 0; i < 12; i++)
    append_aged (queue, "old", HOUR_US + 60 * G_USEC_PER_SEC, old);
  append_aged (queue, "recent", HOUR_US - 600 * G_USEC_PER_SEC, young);
  for (guint i = 0; i < 3; i++)
    append_aged (queue, "old", 30 * 24 * HOUR_US, old);
  send_ids (producer, "young", EP_CONSENT_CATEGORY_NECESSARY, 2, young);

  assert_flush_ok (producer);
  g_assert_true (confirmed_exactly (fx, young));
  EP_TEST_SPIN_UNTIL (all_have (&settled, old, EP_EVENT_OUTCOME_EXPIRED));
  EP_TEST_SPIN_UNTIL (all_have (&settled, young, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (settled.ids, ==, old->len + young->len);
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"expiredEvents\":{\"old\":15}"));
  g_assert_true (counters_have (producer, "\"consentFilteredEvents\":{}"));
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
  counters = ep_producer_dup_counters (producer);
  g_assert_cmpstr (g_variant_get_type_string (counters), ==, "(a{st}a{st}a{st})");
  settled_clear (&settled);
}

/* 0 (the default) is no limit: events a month old are delivered, and the
 * counters show no expiredEvents. */
static void
test_expiry_no_limit (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(GPtrArray) old = g_ptr_array_new_with_free_func (g_free);
  guint max_age = 1;

  g_object_get (producer, "max-event-age", &max_age, NULL);
  g_assert_cmpuint (max_age, ==, 0);
  for (guint i = 0; i < 5; i++)
    append_aged (ep_producer_get_queue_for_testing (producer), "old", 30 * 24 * HOUR_US, old);
  assert_flush_ok (producer);
  g_assert_true (confirmed_exactly (fx, old));
  g_assert_false (counters_have (producer, "expiredEvents"));
}

/* Events that expired while the application was not running are deleted
 * during init, from the oldest (queue-length leaves them out when init
 * returns), persistently, and counted (the count survives a restart); one
 * out of order behind a younger event goes when it is taken. */
static void
test_expiry_at_start (Fixture       *fx,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) old = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) young = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(EpProducer) producer = NULL;

  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpQueue) queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);

    g_assert_no_error (error);
    for (guint i = 0; i < 300; i++)
      append_aged (queue, "old", 2 * HOUR_US, old);
    append_aged (queue, "young", 0, young);
    append_aged (queue, "young", 0, young);
    append_aged (queue, "old", 2 * HOUR_US, old);
    ep_queue_close (queue);
  }

  producer = producer_new (fx, "max-event-age", 3600, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
  g_assert_true (counters_have (producer, "\"expiredEvents\":{\"old\":300}"));
  g_clear_object (&producer);

  /* deleted for good, and still counted */
  producer = producer_new (fx, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
  g_assert_true (counters_have (producer, "\"expiredEvents\":{\"old\":300}"));
  g_clear_object (&producer);

  producer = producer_new (fx, "max-event-age", 3600, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 3);
  assert_flush_ok (producer);
  g_assert_true (confirmed_exactly (fx, young));
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"expiredEvents\":{\"old\":301}"));
  EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
}

/* The first monitoring event the consumer received, or NULL. */
static EpTestEntry *
monitoring_entry (Fixture *fx)
{
  for (guint i = 0; i < ep_test_server_get_n_requests (fx->consumer.server); i++)
    {
      EpTestRequest *req = request (fx, i);

      for (guint j = 0; j < req->entries->len; j++)
        {
          EpTestEntry *entry = g_ptr_array_index (req->entries, j);

          if (g_str_equal (entry->name, EP_MONITORING_EVENT_NAME))
            return entry;
        }
    }
  return NULL;
}

/* The monitoring event reports expiredEvents (SPEC 5: only with
 * max-event-age), and the counts are subtracted once it is confirmed. */
static void
test_expiry_monitoring (Fixture       *fx,
                        gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-event-age", 60,
                                                 "monitoring-interval", 20, NULL);
  g_autoptr(GPtrArray) old = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  EpTestEntry *entry;
  JsonObject *object;

  for (guint i = 0; i < 4; i++)
    append_aged (ep_producer_get_queue_for_testing (producer), "stale", HOUR_US, old);
  assert_flush_ok (producer);
  EP_TEST_SPIN_UNTIL ((entry = monitoring_entry (fx)) != NULL);
  EP_TEST_SPIN_UNTIL (counters_have (producer, "\"expiredEvents\":{}"));
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 1);
  json_parser_load_from_data (parser, entry->body, -1, &error);
  g_assert_no_error (error);
  object = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (object, "expiredEvents"),
                                               "stale"), ==, 4);
  g_assert_cmpuint (json_object_get_size (json_object_get_object_member (object, "consentFilteredEvents")),
                    ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  ADD ("/ep/lifecycle/settled/delivered", test_settled_delivered);
  ADD ("/ep/lifecycle/settled/no-handler-no-cost", test_settled_no_handler_no_cost);
  ADD ("/ep/lifecycle/settled/consent-revoked", test_settled_consent_revoked);
  ADD ("/ep/lifecycle/settled/refused", test_settled_refused);
  ADD ("/ep/lifecycle/purge/queued", test_purge_queued);
  ADD ("/ep/lifecycle/purge/in-flight", test_purge_in_flight);
  ADD ("/ep/lifecycle/purge/aside", test_purge_aside);
  ADD ("/ep/lifecycle/expiry/taken", test_expiry_taken);
  ADD ("/ep/lifecycle/expiry/no-limit", test_expiry_no_limit);
  ADD ("/ep/lifecycle/expiry/at-start", test_expiry_at_start);
  ADD ("/ep/lifecycle/expiry/monitoring", test_expiry_monitoring);

  return g_test_run ();
}
