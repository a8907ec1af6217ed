/* main.c: ep-consumer's command line
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Options, their checks, and main (). Exit status: 0 after SIGINT or
 * SIGTERM, 1 when the server cannot start (port in use, output not
 * writable), 2 for a bad command line.
 */
#include "config.h"

#include <locale.h>

#include "ep-consumer.h"

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

static const char description[] =
  "Serves the Amazon SQS SendMessageBatch API (query protocol, as ep-glib and\n"
  "botocore send it, and the JSON protocol of newer AWS SDKs) on 127.0.0.1 at\n"
  "  POST /api/event-batch           (with --require-token: Authorization: Bearer <token>)\n"
  "  POST /api/public/event-batch\n"
  "  POST /                          (AWS SDKs: QueueUrl names one of the two)\n"
  "validates batches as SQS does and writes every accepted event as one JSON line\n"
  "{\"id\",\"name\",\"headers\",\"payload\",\"endpoint\",\"received\"}.\n"
  "\n"
  "The first line on standard error is \"ep-consumer listening on http://127.0.0.1:PORT\";\n"
  "standard output carries only the events (without --output): ep-consumer | jq\n"
  "\n"
  "Limits: a body over 4 MiB gets 413 when its Content-Length arrives (or, chunked,\n"
  "as soon as it passes 4 MiB), unread, and its connection is closed; the bodies of\n"
  "all requests in progress share 16 MiB (past it: 503, Retry-After: 1);\n"
  "--idle-timeout, --request-timeout and --max-connections bound time and connections.\n"
  "\n"
  "Run-time control:\n"
  "  SIGUSR1                          toggle failing every request (--fail-status)\n"
  "  POST /control/fail?on=1|0        the same; optional &status=CODE&retry_after=S\n"
  "  POST /control/hang?on=1|0        leave every request unanswered, or stop\n"
  "  GET  /control/stats              totals as JSON\n"
  "  GET  /health                     200 while events can be stored, else 503\n"
  "\n"
  "The inspector (the last --inspector-events events, in memory):\n"
  "  GET  /                           a live page: events, refused events, counts,\n"
  "                                   request outcomes, fault switches\n"
  "  GET  /api/events?name=&category=&after=SEQ&limit=N   accepted events, newest first\n"
  "  GET  /api/refused?after=SEQ&limit=N                  refused events, with the reason\n"
  "  GET  /api/summary                counts per name and category, request outcomes\n"
  "  GET  /api/faults, POST /api/faults {\"fail\":true,\"hang\":false,\"latency_ms\":0}\n"
  "  POST /api/reset                  forget what the inspector kept\n"
  "  SIGINT, SIGTERM                  stop, printing a summary on standard error\n"
  "\n"
  "With --sink nats://... (an ingest gateway, see doc/ingest.md), events go to a\n"
  "NATS JetStream stream instead; a batch is confirmed only once the engine\n"
  "acknowledged each entry (the others fail with SenderFault false, to be\n"
  "retried), and an engine out of reach gets 503 with Retry-After.\n"
  "\n"
  "Examples:\n"
  "  ep-consumer --port 8080 --output events.jsonl\n"
  "  ep-consumer --port 0 --port-file /tmp/ep.port --require-token\n"
  "  ep-consumer --fail-rate 0.2 --fail-status 503 --retry-after 5 --seed 42\n"
  "  ep-consumer --latency 500 --sender-fault-rate 0.1 --hang-rate 0.05\n"
  "  curl -X POST 'http://127.0.0.1:8080/control/fail?on=1&status=429&retry_after=10'\n"
  "  curl http://127.0.0.1:8080/control/stats\n"
  "  curl 'http://127.0.0.1:8080/api/events?name=playback_start&limit=5'\n"
  "  ep-consumer --sink nats://127.0.0.1:4222 --create-stream --reuse-port\n"
  "\n"
  "An SQS client uses endpoint_url http://127.0.0.1:PORT and QueueUrl\n"
  "http://127.0.0.1:PORT/api/event-batch (or /api/public/event-batch).\n";

static GOptionContext *
option_context_new (Options *o)
{
  const GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &o->port,
      "TCP port on 127.0.0.1 (default 8080; 0 picks a free port)", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &o->port_file,
      "Write the port number to FILE once listening (removed at exit)", "FILE" },
    { "print-port-file", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &o->port_file,
      "Same as --port-file", "FILE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
      "Append accepted events as JSON lines to FILE (default: standard output)", "FILE" },
    { "require-token", 0, 0, G_OPTION_ARG_NONE, &o->require_token,
      "Refuse " ENDPOINT_PRIVATE " requests without 'Authorization: Bearer <token>' (401)",
      NULL },
    { "token", 0, 0, G_OPTION_ARG_STRING, &o->token,
      "Accept only this bearer token (others get 403); implies --require-token", "TOKEN" },
    { "latency", 0, 0, G_OPTION_ARG_INT, &o->latency_ms,
      "Delay every batch reply by MS milliseconds", "MS" },
    { "fail-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->fail_rate,
      "Fail requests with probability P (0 to 1)", "P" },
    { "fail-status", 0, 0, G_OPTION_ARG_INT, &o->fail_status,
      "HTTP status of injected failures, 400 to 599 (default 503)", "CODE" },
    { "retry-after", 0, 0, G_OPTION_ARG_INT, &o->retry_after,
      "Add 'Retry-After: S' to injected failures", "S" },
    { "sender-fault-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->sender_fault_rate,
      "Refuse each valid entry with probability P (SenderFault true)", "P" },
    { "receiver-fault-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->receiver_fault_rate,
      "Fail each valid entry with probability P (SenderFault false)", "P" },
    { "hang-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->hang_rate,
      "Never answer a request, with probability P", "P" },
    { "garbage-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->garbage_rate,
      "Answer a request with 200 and an HTML page, with probability P", "P" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &o->idle_timeout,
      "Close a connection that sends or reads nothing for S seconds (default 75; 0: never)",
      "S" },
    { "request-timeout", 0, 0, G_OPTION_ARG_INT, &o->request_timeout,
      "Close a connection whose request is not complete S seconds after it began "
      "(default 60; 0: never)", "S" },
    { "max-connections", 0, 0, G_OPTION_ARG_INT, &o->max_connections,
      "Keep at most N connections open; past it the oldest idle one is closed "
      "(default 1024)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &o->seed,
      "Seed the random choices and ids, for repeatable runs", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet,
      "No status line and no start-up notes on standard error", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose,
      "Log every request on standard error", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o->version,
      "Print the version and exit", NULL },
    { "inspector-events", 0, 0, G_OPTION_ARG_INT, &o->inspector_events,
      "Keep the last N accepted events (and N refused ones) for the inspector page "
      "at / and /api/events (default 1000; 0: keep none)", "N" },
    { "listen", 0, 0, G_OPTION_ARG_STRING, &o->listen,
      "Listen on this IP address (default 127.0.0.1)", "ADDRESS" },
    { "reuse-port", 0, 0, G_OPTION_ARG_NONE, &o->reuse_port,
      "Set SO_REUSEPORT: several instances serve one port", NULL },
    { NULL }
  };
  const GOptionEntry sink_entries[] = {
    { "sink", 0, 0, G_OPTION_ARG_STRING, &o->sink,
      "Publish accepted events to NATS JetStream instead of writing them "
      "(nats://HOST:PORT[,nats://HOST:PORT...]; user:password@ in a URL)", "URLS" },
    { "stream", 0, 0, G_OPTION_ARG_STRING, &o->stream,
      "The JetStream stream (default EP_EVENTS)", "NAME" },
    { "subject", 0, 0, G_OPTION_ARG_STRING, &o->subject,
      "The subject events are published on (default ep.events)", "SUBJECT" },
    { "sink-timeout", 0, 0, G_OPTION_ARG_INT, &o->sink_timeout_ms,
      "How long a batch waits for the acknowledgements (default 5000)", "MS" },
    { "create-stream", 0, 0, G_OPTION_ARG_NONE, &o->create_stream,
      "Create the stream (file storage) when it does not exist", NULL },
    { "stream-replicas", 0, 0, G_OPTION_ARG_INT, &o->stream_replicas,
      "Replicas of a created stream (default: 3, or the servers known if fewer)", "N" },
    { "stream-duplicate-window", 0, 0, G_OPTION_ARG_INT, &o->stream_duplicates_s,
      "Duplicate window of a created stream (default 600)", "SECONDS" },
    { "nats-creds", 0, 0, G_OPTION_ARG_FILENAME, &o->nats_creds,
      "NATS user credentials file (JWT and NKey seed)", "FILE" },
    { "nats-token-file", 0, 0, G_OPTION_ARG_FILENAME, &o->nats_token_file,
      "Read the NATS authentication token from FILE", "FILE" },
    { "nats-ca", 0, 0, G_OPTION_ARG_FILENAME, &o->nats_ca,
      "Use TLS, trusting the CA certificates in FILE", "FILE" },
    { "confirm-before-ack", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE,
      &o->confirm_before_ack,
      "DEBUG, LOSES EVENTS: confirm before the engine acknowledged (tests only)", NULL },
    { NULL }
  };
  GOptionGroup *sink_group;
  GOptionContext *context = g_option_context_new (NULL);

  g_option_context_set_summary (context, "A local TL consumer for ep-glib: an HTTP server "
                                         "speaking Amazon SQS SendMessageBatch.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  sink_group = g_option_group_new ("sink", "The NATS JetStream sink (an ingest gateway):",
                                   "Show the NATS sink's options", NULL, NULL);
  g_option_group_add_entries (sink_group, sink_entries);
  g_option_context_add_group (context, sink_group);

  return context;
}

/* Every --*-rate is a probability: the chance that one request (or one
 * entry) gets that fault */
static gboolean
check_probability (const char  *name,
                   double       value,
                   GError     **error)
{
  if (value >= 0 && value <= 1)
    return TRUE;

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s must be a probability from 0 to 1, not %g", name, value);
  return FALSE;
}

static gboolean
check_range (const char  *name,
             gint64       value,
             gint64       min,
             gint64       max,
             GError     **error)
{
  if (value >= min && value <= max)
    return TRUE;

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s must be from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
               ", not %" G_GINT64_FORMAT, name, min, max, value);
  return FALSE;
}

/* Checks what GOption cannot: ranges. An injected failure is an HTTP error
 * (400 to 599: a 2xx or 3xx "failure" would confuse every client); -1
 * means "not given" for --retry-after and --seed; a seed is 32 bits
 * (GRand's). */
static gboolean
options_check (Options  *o,
               GError  **error)
{
  if (o->token != NULL)
    o->require_token = TRUE;

  if (o->confirm_before_ack && o->sink == NULL)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--confirm-before-ack needs --sink");
      return FALSE;
    }

  return check_range ("port", o->port, 0, 65535, error)
         && check_range ("sink-timeout", o->sink_timeout_ms, 1, 600000, error)
         && check_range ("stream-replicas", o->stream_replicas, 0, 5, error)
         && check_range ("stream-duplicate-window", o->stream_duplicates_s, 1, 86400, error)
         && check_range ("latency", o->latency_ms, 0, G_MAXINT, error)
         && check_range ("idle-timeout", o->idle_timeout, 0, G_MAXINT, error)
         && check_range ("request-timeout", o->request_timeout, 0, G_MAXINT / 1000, error)
         && check_range ("max-connections", o->max_connections, 1, G_MAXINT, error)
         && check_range ("inspector-events", o->inspector_events, 0, 1000000, error)
         && check_range ("fail-status", o->fail_status, 400, 599, error)
         && (o->retry_after == -1 || check_range ("retry-after", o->retry_after, 0, G_MAXINT, error))
         && (o->seed == -1 || check_range ("seed", o->seed, 0, G_MAXUINT32, error))
         && check_probability ("fail-rate", o->fail_rate, error)
         && check_probability ("sender-fault-rate", o->sender_fault_rate, error)
         && check_probability ("receiver-fault-rate", o->receiver_fault_rate, error)
         && check_probability ("hang-rate", o->hang_rate, error)
         && check_probability ("garbage-rate", o->garbage_rate, error);
}

static void
options_clear (Options *o)
{
  g_free (o->port_file);
  g_free (o->output);
  g_free (o->token);
  g_free (o->listen);
  g_free (o->sink);
  g_free (o->stream);
  g_free (o->subject);
  g_free (o->nats_creds);
  g_free (o->nats_token_file);
  g_free (o->nats_ca);
}

static gboolean
options_parse (Options   *o,
               int       *argc,
               char    ***argv,
               GError   **error)
{
  g_autoptr(GOptionContext) context = option_context_new (o);

  /* The defaults: the TL consumer's usual development port, failures that
   * a client should retry (503, no Retry-After), a random seed */
  o->port = 8080;
  o->fail_status = 503;
  o->retry_after = -1;
  o->seed = -1;
  o->sink_timeout_ms = 5000;
  o->stream_duplicates_s = 600;
  o->idle_timeout = DEFAULT_IDLE_TIMEOUT;
  o->request_timeout = DEFAULT_REQUEST_TIMEOUT;
  o->max_connections = DEFAULT_MAX_CONNECTIONS;
  o->inspector_events = DEFAULT_INSPECTOR_EVENTS;

  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (o->listen == NULL)
    o->listen = g_strdup ("127.0.0.1");
  if (o->stream == NULL)
    o->stream = g_strdup ("EP_EVENTS");
  if (o->subject == NULL)
    o->subject = g_strdup ("ep.events");
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "Unexpected argument '%s': ep-consumer takes options only (see --help)",
                   (*argv)[1]);
      return FALSE;
    }

  return options_check (o, error);
}

static int
run (Options *options)
{
  g_autoptr(Consumer) consumer = consumer_new (options);
  g_autoptr(GError) error = NULL;

  if (!consumer_start (consumer, &error))
    {
      g_printerr ("ep-consumer: %s\n", error->message);
      return 1;
    }

  consumer_run (consumer);

  return 0;
}

int
main (int    argc,
      char **argv)
{
  Options options = { 0 };
  g_autoptr(GError) error = NULL;
  int status;

  setlocale (LC_ALL, "");
  if (!options_parse (&options, &argc, &argv, &error))
    {
      g_printerr ("ep-consumer: %s\n", error->message);
      options_clear (&options);
      return 2;
    }
  if (options.version)
    {
      printf ("ep-consumer %s (SQS API %s)\n", PACKAGE_VERSION, SQS_API_VERSION);
      options_clear (&options);
      return 0;
    }

  status = run (&options);
  options_clear (&options);

  return status;
}
