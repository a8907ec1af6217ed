/* rel-memory.c: RSS while holding and draining a large backlog, and under a consumer that never answers
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * backlog: stores N events (100,000 short, 1,000,000 with
 * EP_RELIABILITY=long) with no consumer reachable, measures the RSS held,
 * then drains them to a consumer in this process that only counts (so the
 * figures are the producer's) while a 10 ms timer samples RSS and
 * main-loop delays. Asserts: holding costs at most 64 bytes per event plus
 * 32 MiB (payloads stay on disk), draining adds at most 64 MiB to that,
 * every event is confirmed once, the queue ends empty, and the 10 ms timer
 * is never blocked beyond its CPU wait by more than REL_BLOCKED_BOUND_US
 * (the consumer runs on its own thread and main context, so the measured
 * context runs only the producer).
 * never-answers: a backlog of 20,000 (short) / 150,000 (long) events and a
 * consumer that never answers: after 3 s of attempts RSS grew by at most
 * 32 MiB, with the default max-in-flight and with 1,000,000.
 */
#include "config.h"

#include <string.h>
#include <libsoup/soup.h>

#include "sqs-server.h"
#include "rel-common.h"

#define MIB (1024.0 * 1024.0)

/* The counting consumer runs on its own thread (RelServerThread): the main
 * context the ticker measures runs only the producer's work. */
typedef struct {
  RelServerThread *thread;
  SoupServer      *server;     /* server thread */
  GPtrArray       *paused;     /* server thread */
  char            *uri;
  gboolean         hang;       /* set before the thread starts */
  gint             confirmed;  /* atomic */
  gint             n_paused;   /* atomic */
} Counter;

static void
counter_handler (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  Counter *self = user_data;
  SoupMessageBody *request = soup_server_message_get_request_body (msg);
  g_autoptr(SqsBatch) batch = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  gsize len;

  if (self->hang)
    {
      soup_server_message_pause (msg);
      g_ptr_array_add (self->paused, g_object_ref (msg));
      g_atomic_int_inc (&self->n_paused);
      return;
    }
  batch = sqs_batch_from_query (request->data, request->length, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (sqs_batch_validate (batch, &error));
  for (guint i = 0; i < batch->entries->len; i++)
    {
      g_assert_true (sqs_entry_check_contents (batch->entries->pdata[i]));
      sqs_entry_accept (batch->entries->pdata[i], g_strdup ("m"));
    }
  g_atomic_int_add (&self->confirmed, batch->entries->len);
  reply = sqs_reply_xml_batch (batch, "r");
  len = strlen (reply);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/xml", SOUP_MEMORY_TAKE, g_steal_pointer (&reply), len);
}

/* On the server thread. */
static void
counter_start (gpointer data,
               gpointer unused)
{
  Counter *self = data;
  g_autoptr(GError) error = NULL;
  GSList *uris;

  self->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->server, NULL, counter_handler, self, NULL);
  soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (self->server);
  self->uri = g_strdup_printf ("http://127.0.0.1:%u/api/event-batch", g_uri_get_port (uris->data));
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  self->paused = g_ptr_array_new_with_free_func (g_object_unref);
}

/* On the server thread. */
static void
counter_stop (gpointer data,
              gpointer unused)
{
  Counter *self = data;

  for (guint i = 0; i < self->paused->len; i++)
    {
      soup_server_message_set_status (self->paused->pdata[i], 500, NULL);
      soup_server_message_unpause (self->paused->pdata[i]);
    }
  g_ptr_array_unref (self->paused);
  soup_server_disconnect (self->server);
  g_object_unref (self->server);
}

static Counter *
counter_new (gboolean hang)
{
  Counter *self = g_new0 (Counter, 1);

  self->hang = hang;
  self->thread = rel_server_thread_new ();
  rel_server_thread_call (self->thread, counter_start, self);
  return self;
}

static void
counter_free (Counter *self)
{
  rel_server_thread_call (self->thread, counter_stop, self);
  rel_server_thread_free (self->thread);
  g_free (self->uri);
  g_free (self);
}

static void
fill (EpProducer *producer,
      guint       n,
      GRand      *rand)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = rel_payload (i, rand);

      g_assert_cmpint (ep_producer_send_event (producer, "rel_event", EP_CONSENT_CATEGORY_NECESSARY,
                                               payload, NULL), ==, EP_SEND_RESULT_STORED);
    }
}

static void
test_backlog (void)
{
  guint n = rel_is_long () ? 1000000 : 50000;
  g_autoptr(GRand) rand = rel_rand_new ("memory-backlog", NULL);
  g_autofree char *dir = ep_test_make_dir ("backlog");
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = NULL;
  Counter *counter = counter_new (FALSE);
  guint64 rss_start, rss_held;
  gint64 start;
  RelTicker ticker;

  producer = ep_test_producer_new (dir, counter->uri, counter->uri, &error,
                                   "max-disk-usage", (guint64) 4 << 30, NULL);
  g_assert_no_error (error);
  rss_start = rel_rss_now ();
  start = g_get_monotonic_time ();
  fill (producer, n, rand);
  rss_held = rel_rss_now ();
  g_test_message ("stored %u events in %.1f s; RSS %.1f -> %.1f MiB", n,
                  (g_get_monotonic_time () - start) / 1e6, rss_start / MIB, rss_held / MIB);
  if (!REL_SANITIZED)
    g_assert_cmpuint (rss_held, <=, rss_start + 64 * (guint64) n + 32 * 1024 * 1024);

  /* a restart holds no more than the producer that stored them */
  g_clear_object (&producer);
  producer = ep_test_producer_new (dir, counter->uri, counter->uri, &error,
                                   "max-disk-usage", (guint64) 4 << 30, NULL);
  g_assert_no_error (error);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, n);

  rel_ticker_start (&ticker);
  start = g_get_monotonic_time ();
  /* one flush delivers the whole backlog: longer than EP_TEST_TIMEOUT_MS */
  while (ep_producer_get_queue_length (producer) > 0)
    {
      g_autoptr(GAsyncResult) result = NULL;
      gint64 deadline = g_get_monotonic_time () + (60 + n / 1000) * G_USEC_PER_SEC;

      ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
      while (result == NULL)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, deadline);
          ep_test_iterate ();
        }
      g_assert_true (ep_producer_flush_finish (producer, result, NULL));
    }
  rel_ticker_stop (&ticker);
  g_assert_cmpuint (g_atomic_int_get (&counter->confirmed), ==, n);
  rel_result ("memory-backlog", "events=%u rss_start_mib=%.1f rss_holding_mib=%.1f "
              "rss_peak_draining_mib=%.1f drain_s=%.1f max_timer_late_ms=%.1f max_timer_blocked_ms=%.1f "
              "lost=0", n, rss_start / MIB, rss_held / MIB, ticker.peak_rss / MIB,
              (g_get_monotonic_time () - start) / 1e6, ticker.max_late_us / 1000.0,
              ticker.max_blocked_us / 1000.0);
  if (!REL_SANITIZED)
    {
      g_assert_cmpuint (ticker.peak_rss, <=, MAX (rss_held, rel_rss_now ()) + 64 * 1024 * 1024);
      g_assert_cmpint (ticker.max_blocked_us, <=, REL_BLOCKED_BOUND_US);
    }

  g_clear_object (&producer);
  counter_free (counter);
  ep_test_remove_tree (dir);
}

static void
never_answers (gconstpointer data)
{
  guint max_in_flight = GPOINTER_TO_UINT (data);
  guint n = rel_is_long () ? 150000 : 20000;  /* item 4 of issue 8 measured 149k */
  g_autofree char *scenario = g_strdup_printf ("memory-never-answers-in-flight-%u", max_in_flight);
  g_autoptr(GRand) rand = NULL;
  g_autofree char *dir = ep_test_make_dir ("hang");
  g_autoptr(GError) error = NULL;
  g_autoptr(EpProducer) producer = NULL;
  Counter *counter = NULL;
  guint64 rss_start;
  gint64 until;
  RelTicker ticker;

  rand = rel_rand_new (scenario, NULL);
  counter = counter_new (TRUE);
  producer = ep_test_producer_new (dir, counter->uri, counter->uri, &error,
                                   "max-disk-usage", (guint64) 4 << 30,
                                   "request-timeout", 60000,
                                   "max-in-flight", max_in_flight, NULL);
  g_assert_no_error (error);
  fill (producer, n, rand);
  rss_start = rel_rss_now ();
  rel_ticker_start (&ticker);
  ep_producer_flush_async (producer, NULL, NULL, NULL);
  until = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < until)
    ep_test_iterate ();
  rel_ticker_stop (&ticker);
  rel_result (scenario, "events=%u rss_growth_mib=%.1f hung_requests=%u", n,
              (ticker.peak_rss - MIN (ticker.peak_rss, rss_start)) / MIB,
              (guint) g_atomic_int_get (&counter->n_paused));
  if (!REL_SANITIZED)
    g_assert_cmpuint (ticker.peak_rss, <=, rss_start + 32 * 1024 * 1024);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, n);

  counter_free (counter);
  g_clear_object (&producer);
  ep_test_remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  rel_test_init_without_debug (&argc, &argv);
  rel_test_add_debug_messages_dropped ();
  rel_test_add_ticker_catches_block ();

  g_test_add_func ("/reliability/memory/backlog", test_backlog);
  g_test_add_data_func ("/reliability/memory/never-answers", GUINT_TO_POINTER (4), never_answers);
  g_test_add_data_func ("/reliability/memory/never-answers-max-in-flight-1000000",
                        GUINT_TO_POINTER (1000000), never_answers);

  return g_test_run ();
}
