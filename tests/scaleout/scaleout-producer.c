/* scaleout-producer.c: an application of ep-glib for the scale-out test
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Public API only, as an application would use it.
 *
 *   scaleout-producer send QUEUE_DIR URL LOG PREFIX START INTERVAL_MS
 *     Every INTERVAL_MS, sends the event PREFIX-N (N from START): appends
 *     "A PREFIX-N" to LOG before ep_producer_send_event_full () and
 *     "S PREFIX-N ID" once it returned STORED, each with one write (the
 *     file is opened with O_APPEND), so that a SIGKILL leaves whole lines.
 *     Runs until killed.
 *   scaleout-producer drain QUEUE_DIR URL TIMEOUT_S
 *     Opens the queue and flushes until it is empty; exit 0 and "drained"
 *     when it is, 1 after TIMEOUT_S.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ep-glib/ep-glib.h>

typedef struct {
  EpProducer *producer;
  int         log_fd;
  const char *prefix;
  guint64     next;
  GMainLoop  *loop;
  gboolean    flushing;
  gboolean    failed;
} App;

static void
log_line (App        *app,
          const char *line)
{
  size_t len = strlen (line);

  if (write (app->log_fd, line, len) != (ssize_t) len)
    {
      perror ("scaleout-producer: log");
      exit (3);
    }
}

static gboolean
on_tick (gpointer user_data)
{
  App *app = user_data;
  g_autofree char *payload = g_strdup_printf ("%s-%" G_GUINT64_FORMAT, app->prefix, app->next++);
  g_autofree char *attempt = g_strdup_printf ("A %s\n", payload);
  g_autofree char *id = NULL;
  EpSendResult result;

  log_line (app, attempt);
  result = ep_producer_send_event_full (app->producer, "scaleout_event",
                                        EP_CONSENT_CATEGORY_NECESSARY, payload, NULL, &id);
  if (result == EP_SEND_RESULT_STORED)
    {
      g_autofree char *stored = g_strdup_printf ("S %s %s\n", payload, id);

      log_line (app, stored);
    }

  return G_SOURCE_CONTINUE;
}

static EpProducer *
producer_open (const char *queue_dir,
               const char *url)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strconcat (url, "/api/event-batch", NULL);
  g_autofree char *public_uri = g_strconcat (url, "/api/public/event-batch", NULL);
  EpProducer *producer;

  producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
                             "app-name", "scaleout",
                             "app-version", "1",
                             "consumer-uri", uri,
                             "public-consumer-uri", public_uri,
                             "queue-dir", queue_dir,
                             "batch-interval", 100,
                             "request-timeout", 4000,
                             NULL);
  if (producer == NULL)
    {
      fprintf (stderr, "scaleout-producer: %s\n", error->message);
      exit (2);
    }

  return producer;
}

static void flush_start (App *app);

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  App *app = user_data;
  g_autoptr(GError) error = NULL;

  app->flushing = FALSE;
  if (!ep_producer_flush_finish (app->producer, result, &error))
    g_printerr ("scaleout-producer: flush: %s\n", error->message);
  if (ep_producer_get_queue_length (app->producer) == 0)
    g_main_loop_quit (app->loop);
  else
    flush_start (app);
}

static void
flush_start (App *app)
{
  app->flushing = TRUE;
  ep_producer_flush_async (app->producer, NULL, on_flushed, app);
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  App *app = user_data;

  app->failed = TRUE;
  g_main_loop_quit (app->loop);

  return G_SOURCE_REMOVE;
}

static int
drain (const char *queue_dir,
       const char *url,
       guint       timeout_s)
{
  App app = { 0 };
  guint64 length;

  app.producer = producer_open (queue_dir, url);
  app.loop = g_main_loop_new (NULL, FALSE);
  g_timeout_add_seconds (timeout_s, on_drain_timeout, &app);
  flush_start (&app);
  g_main_loop_run (app.loop);
  length = ep_producer_get_queue_length (app.producer);
  printf ("%s %" G_GUINT64_FORMAT " left\n", app.failed ? "not drained" : "drained", length);
  fflush (stdout);
  /* Not closed: the queue is on disk; a kill would do the same */
  _exit (app.failed || length != 0 ? 1 : 0);
}

int
main (int    argc,
      char **argv)
{
  App app = { 0 };

  if (argc == 5 && g_str_equal (argv[1], "drain"))
    return drain (argv[2], argv[3], (guint) atoi (argv[4]));
  if (argc != 8 || !g_str_equal (argv[1], "send"))
    {
      fprintf (stderr, "usage: scaleout-producer send QUEUE_DIR URL LOG PREFIX START INTERVAL_MS\n"
                       "       scaleout-producer drain QUEUE_DIR URL TIMEOUT_S\n");
      return 2;
    }

  app.log_fd = open (argv[4], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (app.log_fd < 0)
    {
      perror ("scaleout-producer: open log");
      return 2;
    }
  app.producer = producer_open (argv[2], argv[3]);
  app.prefix = argv[5];
  app.next = g_ascii_strtoull (argv[6], NULL, 10);
  app.loop = g_main_loop_new (NULL, FALSE);
  g_timeout_add ((guint) atoi (argv[7]), on_tick, &app);
  g_main_loop_run (app.loop);

  return 0;
}
