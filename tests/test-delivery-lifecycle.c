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
  g_assert_cmpuint (ep_producer_get_settled_ids_collected (producer), ==, 25);
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
  g_assert_cmpuint (ep_producer_get_settled_ids_collected (producer), ==, 0);

  g_ptr_array_set_size (ids, 0);
  settled_init (&settled, producer);
  send_ids (producer, "watched", EP_CONSENT_CATEGORY_NECESSARY, 4, ids);
  assert_flush_ok (producer);
  EP_TEST_SPIN_UNTIL (all_have (&settled, ids, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (ep_producer_get_settled_ids_collected (producer), ==, 4);
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
  send_ids (producer, "good", EP_CONSENT_CATEGORY_NECESSARY, EP_WITNESS_MIN_CONFIRMED + 10, good);
  flush_until_empty (producer, 20);
  EP_TEST_SPIN_UNTIL (all_have (&settled, poison, EP_EVENT_OUTCOME_REFUSED));
  g_assert_true (all_have (&settled, good, EP_EVENT_OUTCOME_DELIVERED));
  g_assert_cmpuint (settled.ids, ==, good->len + 1);
  settled_clear (&settled);
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

  return g_test_run ();
}
