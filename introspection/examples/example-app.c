/* example-app.c: an application sending a stream of events with ep-glib
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Sends --events events at --rate per second, cycling through the three
 * consent categories, unblocks PERFORMANCE half way through (TARGETING stays
 * blocked), prints every outage-changed signal and the queue length as it
 * changes, then flushes and prints the totals. With --stored-file it appends
 * the id of every event that was STORED (the SQS entry Id, from
 * ep_producer_send_event_full()) to FILE, one per line, so a demo can check
 * they all arrived.
 *
 *   example-app --consumer http://127.0.0.1:8080 --queue-dir /tmp/q --events 200 --rate 20
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ep-glib/ep-glib.h>

#define QUEUE_PRINT_INTERVAL_MS 500

typedef struct {
  /* options */
  char       *consumer;
  char       *queue_dir;
  char       *stored_file;
  int         events;
  double      rate;
  int         batch_interval_ms;
  int         drain_timeout_s;

  EpProducer *producer;          /* owned */
  GMainLoop  *loop;              /* owned */
  FILE       *stored;            /* owned; NULL without --stored-file */
  gint64      start_us;          /* when sending started */
  int         sent;
  int         results[EP_SEND_RESULT_STORING_FAILED + 1];
  guint64     initial_length;    /* queued by an earlier run */
  guint64     printed_length;
  gint64      drain_deadline_us;
  gboolean    drained;
  int         status;            /* exit status */
} App;

static const char *const category_names[] = { "NECESSARY", "PERFORMANCE", "TARGETING" };
/* One event type per category, so the counters show each. */
static const char *const event_names[] = { "playback_session", "ui_timing", "ad_impression" };

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   App        *app)
{
  g_print ("outage-changed: %s (queue-length %" G_GUINT64_FORMAT ")\n",
           outage ? "TRUE" : "FALSE", ep_producer_get_queue_length (producer));
}

/* notify::queue-length can fire for every event: print at most every
 * QUEUE_PRINT_INTERVAL_MS, and only when the length changed. */
static gboolean
print_queue_length (gpointer user_data)
{
  App *app = user_data;
  guint64 length = ep_producer_get_queue_length (app->producer);

  if (length != app->printed_length)
    {
      g_print ("queue-length: %" G_GUINT64_FORMAT "\n", length);
      app->printed_length = length;
    }
  return G_SOURCE_CONTINUE;
}

static void
send_one (App *app)
{
  EpConsentCategory category = app->sent % 3;
  g_autofree char *payload = g_strdup_printf ("{\"seq\":%d,\"category\":\"%s\"}",
                                              app->sent, category_names[category]);
  g_autofree char *id = NULL;
  g_autoptr(GHashTable) headers = g_hash_table_new (g_str_hash, g_str_equal);
  EpSendResult result;

  g_hash_table_insert (headers, (char *) "x-example-lang", (char *) "c");
  result = ep_producer_send_event_full (app->producer, event_names[category], category,
                                        payload, headers, &id);
  app->results[result]++;
  app->sent++;
  if (result == EP_SEND_RESULT_STORED && app->stored != NULL)
    fprintf (app->stored, "%s\n", id);

  if (app->sent == app->events / 2)
    {
      ep_producer_set_consent_blocked (app->producer, EP_CONSENT_CATEGORY_PERFORMANCE, FALSE);
      if (ep_producer_get_consent_blocked (app->producer, EP_CONSENT_CATEGORY_PERFORMANCE))
        g_print ("consent: the app unblocked PERFORMANCE after %d events, but the desktop's "
                 "privacy setting (org.gnome.desktop.privacy send-software-usage-stats) keeps it "
                 "blocked: see follow-desktop-privacy\n", app->sent);
      else
        g_print ("consent: PERFORMANCE unblocked after %d events (TARGETING stays blocked)\n",
                 app->sent);
    }
}

static void drain (App *app);

static void
print_totals (App *app)
{
  guint64 left = ep_producer_get_queue_length (app->producer);
  guint64 delivered = app->initial_length + app->results[EP_SEND_RESULT_STORED] - left;
  g_autofree char *counters = ep_producer_dup_counters_json (app->producer);

  g_print ("totals: sent %d, stored %d, delivered %" G_GUINT64_FORMAT
           ", still queued %" G_GUINT64_FORMAT "\n",
           app->sent, app->results[EP_SEND_RESULT_STORED], delivered, left);
  g_print ("dropped: consent-filtered %d, validation-failed %d, storing-failed %d\n",
           app->results[EP_SEND_RESULT_CONSENT_FILTERED],
           app->results[EP_SEND_RESULT_VALIDATION_FAILED],
           app->results[EP_SEND_RESULT_STORING_FAILED]);
  g_print ("counters: %s\n", counters);
}

static void
closed (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  if (!ep_producer_close_finish (EP_PRODUCER (source), result, &error))
    g_printerr ("close failed: %s\n", error->message);
  g_main_loop_quit (app->loop);
}

static void
finish (App *app)
{
  print_queue_length (app);
  print_totals (app);
  app->status = app->drained ? EXIT_SUCCESS : EXIT_FAILURE;
  ep_producer_close_async (app->producer, NULL, closed, app);
}

static gboolean
drain_again (gpointer user_data)
{
  drain (user_data);
  return G_SOURCE_REMOVE;
}

static void
flushed (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->drained = ep_producer_flush_finish (EP_PRODUCER (source), result, &error);
  if (app->drained)
    {
      g_print ("flush: queue empty\n");
      finish (app);
    }
  else if (g_get_monotonic_time () >= app->drain_deadline_us)
    {
      g_print ("flush: gave up after %d s: %s\n", app->drain_timeout_s, error->message);
      finish (app);
    }
  else
    {
      g_print ("flush: %s; retrying\n", error->message);
      g_timeout_add (500, drain_again, app);
    }
}

static void
drain (App *app)
{
  ep_producer_flush_async (app->producer, NULL, flushed, app);
}

static gboolean
send_due (gpointer user_data)
{
  App *app = user_data;
  double elapsed_s = (g_get_monotonic_time () - app->start_us) / (double) G_USEC_PER_SEC;
  int due = MIN (app->events, (int) (elapsed_s * app->rate) + 1);

  while (app->sent < due)
    send_one (app);
  if (app->sent < app->events)
    return G_SOURCE_CONTINUE;

  g_print ("sent all %d events; flushing\n", app->sent);
  app->drain_deadline_us = g_get_monotonic_time () + app->drain_timeout_s * G_USEC_PER_SEC;
  drain (app);
  return G_SOURCE_REMOVE;
}

static EpProducer *
create_producer (App     *app,
                 GError **error)
{
  g_autofree char *base = g_strdup (app->consumer);
  g_autofree char *consumer_uri = NULL;
  g_autofree char *public_uri = NULL;
  gsize len = strlen (base);

  while (len > 0 && base[len - 1] == '/')
    base[--len] = '\0';
  consumer_uri = g_strconcat (base, "/api/event-batch", NULL);
  public_uri = g_strconcat (base, "/api/public/event-batch", NULL);

  return g_initable_new (EP_TYPE_PRODUCER, NULL, error,
                         "app-name", "ep-example-c",
                         "app-version", EP_VERSION_S,
                         "consumer-uri", consumer_uri,
                         "public-consumer-uri", public_uri,
                         "queue-dir", app->queue_dir,
                         "batch-interval", (guint) app->batch_interval_ms,
                         "request-timeout", (guint) 2000,
                         NULL);
}

static gboolean
parse_options (App    *app,
               int    *argc,
               char ***argv)
{
  const GOptionEntry entries[] = {
    { "consumer", 0, 0, G_OPTION_ARG_STRING, &app->consumer,
      "Base URL of the consumer, e.g. http://127.0.0.1:8080 (required)", "URL" },
    { "queue-dir", 0, 0, G_OPTION_ARG_FILENAME, &app->queue_dir,
      "Queue directory (default: $XDG_STATE_HOME/ep-glib/ep-example-c)", "DIR" },
    { "events", 0, 0, G_OPTION_ARG_INT, &app->events, "Events to send (default 100)", "N" },
    { "rate", 0, 0, G_OPTION_ARG_DOUBLE, &app->rate, "Events per second (default 20)", "R" },
    { "batch-interval", 0, 0, G_OPTION_ARG_INT, &app->batch_interval_ms,
      "Milliseconds between deliveries (default 500)", "MS" },
    { "drain-timeout", 0, 0, G_OPTION_ARG_INT, &app->drain_timeout_s,
      "Seconds to keep flushing at the end (default 30)", "S" },
    { "stored-file", 0, 0, G_OPTION_ARG_FILENAME, &app->stored_file,
      "Append the id of every stored event to FILE", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- send a stream of events");
  g_autoptr(GError) error = NULL;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return FALSE;
    }
  if (app->consumer == NULL || app->events < 0 || app->rate <= 0 ||
      app->batch_interval_ms <= 0 || app->drain_timeout_s < 0)
    {
      g_printerr ("--consumer URL is required; --events, --rate and --batch-interval "
                  "must be positive\n");
      return FALSE;
    }
  return TRUE;
}

int
main (int   argc,
      char *argv[])
{
  App app = { .events = 100, .rate = 20, .batch_interval_ms = 500, .drain_timeout_s = 30 };
  g_autoptr(GError) error = NULL;

  if (!parse_options (&app, &argc, &argv))
    return 2;

  app.producer = create_producer (&app, &error);
  if (app.producer == NULL)
    {
      g_printerr ("Cannot create the producer: %s\n", error->message);
      return EXIT_FAILURE;
    }
  if (app.stored_file != NULL && (app.stored = fopen (app.stored_file, "a")) == NULL)
    {
      g_printerr ("Cannot open %s: %s\n", app.stored_file, g_strerror (errno));
      return EXIT_FAILURE;
    }
  app.initial_length = app.printed_length = ep_producer_get_queue_length (app.producer);
  g_print ("example-app (C): %d events at %g/s to %s, queue %s (%" G_GUINT64_FORMAT
           " events left from before)\n", app.events, app.rate, app.consumer,
           ep_producer_get_queue_dir (app.producer), app.initial_length);

  g_signal_connect (app.producer, "outage-changed", G_CALLBACK (on_outage_changed), &app);
  g_timeout_add (QUEUE_PRINT_INTERVAL_MS, print_queue_length, &app);
  g_timeout_add (MAX (1, (guint) (1000 / app.rate)), send_due, &app);
  app.start_us = g_get_monotonic_time ();

  app.loop = g_main_loop_new (NULL, FALSE);
  g_main_loop_run (app.loop);

  if (app.stored != NULL)
    fclose (app.stored);
  g_clear_object (&app.producer);
  g_clear_pointer (&app.loop, g_main_loop_unref);
  g_free (app.consumer);
  g_free (app.queue_dir);
  g_free (app.stored_file);
  return app.status;
}
