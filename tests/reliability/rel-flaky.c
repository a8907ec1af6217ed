/* rel-flaky.c: consumers and middleboxes that refuse at random, with and without real poison events
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Issue 18: a consumer answering SenderFault for every entry on half of
 * the requests lost 50-60 of 200 good events to the old witness rule. Each
 * scenario sends good events (and, in some, real poison events that the
 * consumer refuses every time) through a scripted consumer (EpTestServer)
 * that refuses at random: whole requests (SenderFault for every entry, an
 * HTML 413, an SQS 400) or single entries, at a rate drawn per round. The
 * producer is flushed until its queue is empty, restarted on its
 * directory at a random point in some rounds. It asserts SPEC section 4's
 * refusal rule in both directions:
 *   - every good event is confirmed, none is counted as refused;
 *   - behind a consumer that refuses nothing at random, every poison event
 *     is dropped and counted, after exactly EP_WITNESS_MIN_SPECIFIC
 *     refusals of its own, and never delays the good events (they are all
 *     confirmed before it is dropped);
 *   - behind a consumer that also refuses at random, a poison event is
 *     never dropped (the evidence is not specific) and stays queued.
 * Short mode: 2 rounds per scenario, 200 events; EP_RELIABILITY=long: 40
 * rounds, 400 events.
 */
#include "config.h"

#include <string.h>

#include "ep-test-server.h"
#include "ep-witness-private.h"
#include "rel-common.h"

#define MAX_FLUSHES 600

typedef struct {
  const char     *name;
  EpTestFlakyMode mode;        /* EP_TEST_FLAKY_NONE: a reliable consumer */
  guint           min_percent;
  guint           max_percent;
  guint           poison_per_1000; /* real poison events among the good ones */
  guint           poison_status;   /* 0: SenderFault entry; 400 or 413: whole batch */
  gboolean        restart;         /* restart the producer at a random flush */
} Scenario;

static const Scenario scenarios[] = {
  { "requests-sender-fault", EP_TEST_FLAKY_REQUEST_SENDER_FAULT, 10, 60, 0, 0, FALSE },
  { "requests-413", EP_TEST_FLAKY_REQUEST_413, 10, 60, 0, 0, FALSE },
  { "requests-400", EP_TEST_FLAKY_REQUEST_400, 10, 60, 0, 0, FALSE },
  { "entries-sender-fault", EP_TEST_FLAKY_ENTRY_SENDER_FAULT, 5, 30, 0, 0, FALSE },
  { "requests-413-restarts", EP_TEST_FLAKY_REQUEST_413, 20, 50, 0, 0, TRUE },
  { "entries-restarts", EP_TEST_FLAKY_ENTRY_SENDER_FAULT, 10, 30, 0, 0, TRUE },
  { "poison-entries", EP_TEST_FLAKY_NONE, 0, 0, 10, 0, FALSE },
  { "poison-413", EP_TEST_FLAKY_NONE, 0, 0, 10, 413, FALSE },
  { "poison-400-restarts", EP_TEST_FLAKY_NONE, 0, 0, 10, 400, TRUE },
  { "poison-behind-flaky-entries", EP_TEST_FLAKY_ENTRY_SENDER_FAULT, 10, 30, 10, 0, FALSE },
  { "poison-behind-flaky-413", EP_TEST_FLAKY_REQUEST_413, 20, 50, 10, 413, FALSE },
};

static guint64
counted (EpProducer *producer,
         const char *reason,
         const char *name)
{
  g_autofree char *json = ep_producer_dup_counters_json (producer);
  g_autofree char *key = g_strdup_printf ("\"%s\":{", reason);
  g_autofree char *entry = g_strdup_printf ("\"%s\":", name);
  const char *map = strstr (json, key);
  const char *end = map != NULL ? strchr (map, '}') : NULL;
  const char *at = map != NULL ? strstr (map, entry) : NULL;

  if (at == NULL || at > end)
    return 0;
  return g_ascii_strtoull (at + strlen (entry), NULL, 10);
}

static EpProducer *
new_producer (EpTestConsumer *consumer)
{
  return ep_test_consumer_new_producer (consumer, NULL);
}

static void
close_producer (EpProducer **producer)
{
  g_autoptr(GAsyncResult) result = NULL;

  ep_producer_close_async (*producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_producer_close_finish (*producer, result, NULL));
  g_clear_object (producer);
}

static void
run_round (const Scenario *s,
           GRand          *rand,
           guint           n_events,
           guint64        *lost,
           guint64        *dropped,
           guint64        *refusals)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GHashTable) good = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GHashTable) confirmed = g_hash_table_new (g_str_hash, g_str_equal);
  const char *poison[] = { "poison", NULL };
  guint percent = s->max_percent > 0 ? (guint) g_rand_int_range (rand, s->min_percent, s->max_percent + 1) : 0;
  guint restart_at = s->restart ? (guint) g_rand_int_range (rand, 1, 6) : G_MAXUINT;
  guint n_poison = 0, flushes = 0;
  GPtrArray *ids;

  ep_test_consumer_init (&consumer, "flaky", NULL);
  if (s->poison_per_1000 > 0)
    {
      if (s->poison_status == 0)
        ep_test_server_set_sender_fault_names (consumer.server, poison);
      else
        ep_test_server_set_poison_names (consumer.server, poison, s->poison_status);
    }
  if (s->mode != EP_TEST_FLAKY_NONE)
    ep_test_server_set_flaky (consumer.server, s->mode, percent, g_rand_int (rand));

  producer = new_producer (&consumer);
  for (guint i = 0; i < n_events; i++)
    {
      /* Poisons leave EP_WITNESS_MIN_CONFIRMED good events behind them at
       * least, and the 3 batches that may be confirmed before its refusal
       * is read (4 in flight): the evidence a reliable consumer must give. */
      gboolean is_poison = i + EP_WITNESS_MIN_CONFIRMED + 50 < n_events &&
                           (guint) g_rand_int_range (rand, 0, 1000) < s->poison_per_1000;
      g_autofree char *payload = g_strdup_printf ("{\"i\":%u}", i);
      char *id = NULL;

      g_assert_cmpint (ep_producer_send_event_full (producer, is_poison ? "poison" : "good",
                                                    EP_CONSENT_CATEGORY_NECESSARY, payload, NULL, &id),
                       ==, EP_SEND_RESULT_STORED);
      if (is_poison)
        {
          n_poison++;
          g_free (id);
        }
      else
        g_hash_table_add (good, id);
    }

  /* Until every good event is confirmed and, behind a reliable consumer,
   * every poison is dropped. */
  while (ep_producer_get_queue_length (producer) > (s->mode != EP_TEST_FLAKY_NONE ? n_poison : 0))
    {
      g_assert_cmpuint (flushes, <, MAX_FLUSHES);
      (void) ep_test_flush (producer, NULL);
      if (++flushes == restart_at)
        {
          close_producer (&producer);
          producer = new_producer (&consumer);
        }
    }

  ids = ep_test_server_get_confirmed_ids (consumer.server);
  for (guint i = 0; i < ids->len; i++)
    g_hash_table_add (confirmed, g_ptr_array_index (ids, i));
  {
    GHashTableIter iter;
    gpointer id;

    g_hash_table_iter_init (&iter, good);
    while (g_hash_table_iter_next (&iter, &id, NULL))
      if (!g_hash_table_contains (confirmed, id))
        (*lost)++;
  }
  g_assert_cmpuint (counted (producer, "validationFailedEvents", "good"), ==, 0);
  if (s->mode == EP_TEST_FLAKY_NONE)
    g_assert_cmpuint (counted (producer, "validationFailedEvents", "poison"), ==, n_poison);
  else
    {
      /* Not specific: kept, never counted. */
      g_assert_cmpuint (counted (producer, "validationFailedEvents", "poison"), ==, 0);
      g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, n_poison);
    }
  *dropped += counted (producer, "validationFailedEvents", "poison");
  *refusals += ep_test_server_get_flaky_refusals (consumer.server);

  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

static void
test_scenario (gconstpointer data)
{
  const Scenario *s = data;
  g_autofree char *scenario = g_strdup_printf ("flaky/%s", s->name);
  guint32 seed;
  g_autoptr(GRand) rand = rel_rand_new (scenario, &seed);
  guint rounds = rel_rounds (2, 40);
  guint n_events = rel_is_long () ? 400 : 200;
  guint64 lost = 0, dropped = 0, refusals = 0;

  for (guint round = 0; round < rounds; round++)
    run_round (s, rand, n_events, &lost, &dropped, &refusals);
  rel_result (scenario, "rounds=%u events_per_round=%u random_refusals=%" G_GUINT64_FORMAT
              " poison_dropped=%" G_GUINT64_FORMAT " lost=%" G_GUINT64_FORMAT,
              rounds, n_events, refusals, dropped, lost);
  g_assert_cmpuint (lost, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (scenarios); i++)
    {
      g_autofree char *path = g_strdup_printf ("/reliability/flaky/%s", scenarios[i].name);

      g_test_add_data_func (path, &scenarios[i], test_scenario);
    }
  return g_test_run ();
}
