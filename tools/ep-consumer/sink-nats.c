/* sink-nats.c: ep-consumer as an ingest gateway in front of NATS JetStream
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With --sink nats://..., every accepted entry is published to a JetStream
 * stream with js_PublishMsgAsync (): the data is the JSON line the file
 * sink would write, the header Nats-Msg-Id is the entry's id (the event id,
 * so that the stream drops a retry inside its duplicate window), and
 * Ep-Event-Name and Ep-Endpoint say what it is. The request is held (its
 * reply paused) until the engine acknowledged every entry or --sink-timeout
 * passed; an entry without an acknowledgement then fails with SenderFault
 * false, which ep-glib keeps and sends again. Nothing is confirmed before
 * its acknowledgement (except with --confirm-before-ack, the flaw kept for
 * the tests that show it loses events). Nothing is kept on disk: any number
 * of gateways can serve one stream.
 *
 * Threads: nats.c calls the acknowledgement handler on a thread of its
 * own. That handler only looks up which request and entry the message
 * belongs to (the map of messages in flight, under a lock), queues the
 * outcome, and wakes the main context with an idle source; requests, their
 * server messages and the counters are touched on the main context only.
 * A request whose client went away, or whose timeout passed, takes no
 * further outcomes (its Flight stays alive until the last one arrives).
 */
#include "config.h"

#include <stdarg.h>
#include <string.h>

#include "ep-consumer.h"
#include "ep-nats.h"

#define STREAM_CHECK_INTERVAL_US (250 * G_TIME_SPAN_MILLISECOND)
#define MAX_PENDING_PUBLISHES    65536

typedef struct _NatsSink NatsSink;

/* One held request and what its entries are waiting for */
typedef struct {
  gatomicrefcount  ref;
  NatsSink        *sink;
  Request         *req;       /* main context only; NULL once released */
  guint8          *settled;   /* per entry of req->batch */
  guint            waiting;   /* entries published and not settled */
  guint            timeout_id;
  guint            outstanding;  /* under the sink's lock: entries published
                                  * without an outcome yet, plus 1 while
                                  * nats_sink_store () publishes */
} Flight;

/* A message in flight, then its outcome on the way to the main context */
typedef struct {
  Flight     *flight;  /* a reference */
  guint       index;   /* in flight->req->batch->entries */
  natsStatus  status;
  char       *text;    /* owned: what went wrong, NULL when acknowledged */
} Ack;

struct _NatsSink {
  Sink            parent;
  Consumer       *consumer;
  const Options  *options;
  char           *name;       /* owned: what the sink is, for the log */
  natsOptions    *nats_options;
  natsConnection *connection;
  jsCtx          *js;
  GMainContext   *context;    /* the main context, where outcomes go */
  GHashTable     *live;       /* Flight, borrowed: the held requests */
  GString        *line;       /* main context: the JSON line being published */

  GMutex          lock;       /* for what follows */
  GHashTable     *in_flight;  /* natsMsg * -> Ack *, owned */
  GPtrArray      *acks;       /* Ack, owned: outcomes for the main context */
  guint           acks_source;
  GCond           stop_cond;
  gboolean        stopping;

  GThread        *stream_thread;
  guint           stream_failures;  /* stream thread only */
  gint            stream_ready;  /* atomic */
};

/* ------------------------------------------------------------------------ */
/* The log, from any thread                                                 */

typedef struct {
  Consumer *consumer;
  char     *text;
} LogLine;

static void
log_line_free (gpointer data)
{
  LogLine *line = data;

  g_free (line->text);
  g_free (line);
}

static gboolean
log_line_print (gpointer data)
{
  LogLine *line = data;

  consumer_log (line->consumer, "%s", line->text);

  return G_SOURCE_REMOVE;
}

/* Printed by the main context: after the first line (the URL), and never
 * between the status line's writes */
static void G_GNUC_PRINTF (2, 3)
sink_log (NatsSink   *self,
          const char *format,
          ...)
{
  LogLine *line = g_new0 (LogLine, 1);
  va_list args;
  GSource *source;

  va_start (args, format);
  line->consumer = self->consumer;
  line->text = g_strdup_vprintf (format, args);
  va_end (args);
  /* An idle source, not g_main_context_invoke (), which would print at
   * once on this thread while the main loop does not run */
  source = g_idle_source_new ();
  g_source_set_callback (source, log_line_print, line, log_line_free);
  g_source_attach (source, self->context);
  g_source_unref (source);
}

/* ------------------------------------------------------------------------ */
/* Flights                                                                  */

static Flight *
flight_new (NatsSink *sink,
            Request  *held)
{
  Flight *flight = g_new0 (Flight, 1);

  g_atomic_ref_count_init (&flight->ref);
  flight->sink = sink;
  flight->req = held;
  flight->settled = g_new0 (guint8, held->batch->entries->len);

  return flight;
}

static Flight *
flight_ref (Flight *flight)
{
  g_atomic_ref_count_inc (&flight->ref);
  return flight;
}

/* Any thread: the last reference may be an outcome's */
static void
flight_unref (Flight *flight)
{
  if (!g_atomic_ref_count_dec (&flight->ref))
    return;

  g_assert (flight->req == NULL);
  g_free (flight->settled);
  g_free (flight);
}

static void
ack_free (Ack *ack)
{
  flight_unref (ack->flight);
  g_free (ack->text);
  g_free (ack);
}

/* Main context: reply, and take no more outcomes */
static void
flight_release (Flight *flight)
{
  Request *req = g_steal_pointer (&flight->req);

  g_clear_handle_id (&flight->timeout_id, g_source_remove);
  g_hash_table_remove (flight->sink->live, flight);
  request_release (req);
  flight_unref (flight);
}

static void
flight_settle (Flight     *flight,
               guint       index,
               const char *failure)
{
  SqsEntry *entry = g_ptr_array_index (flight->req->batch->entries, index);

  if (flight->settled[index])
    return;
  flight->settled[index] = TRUE;
  if (failure != NULL)
    sqs_entry_fail (entry, "InternalError", g_strdup (failure), FALSE);
  if (--flight->waiting == 0)
    flight_release (flight);
}

static void acks_settle (NatsSink *self,
                         gboolean  from_source);

static void
flight_on_timeout (gpointer user_data)
{
  Flight *flight = user_data;
  NatsSink *self = flight->sink;
  g_autofree char *text = g_strdup_printf ("No acknowledgement from the engine within %d ms: "
                                           "send the event again.",
                                           self->options->sink_timeout_ms);
  guint timed_out;

  flight->timeout_id = 0;
  flight_ref (flight);
  /* The outcomes that came but did not wake the main context yet (it is
   * woken when a flight has all of them): what was acknowledged counts */
  acks_settle (self, FALSE);
  timed_out = flight->waiting;
  /* The last one settled releases the request */
  for (guint i = 0; flight->req != NULL && i < flight->req->batch->entries->len; i++)
    flight_settle (flight, i, text);
  if (self->options->verbose && timed_out > 0)
    consumer_log (self->consumer, "%u entries not acknowledged in time", timed_out);
  flight_unref (flight);
}

/* ------------------------------------------------------------------------ */
/* Acknowledgements: nats.c's thread, then the main context                 */

static gboolean on_acks (gpointer user_data);

/* Under the lock: one outcome (or the end of the publishing) less for
 * @flight. The main context is woken once a flight has every outcome, not
 * for each: one main-loop iteration per request instead of one per entry
 * (a gateway draining ep-glib made 9,494 eventfd writes for 10,000
 * events). The outcomes of other requests queued meanwhile go with them. */
static void
flight_outcome_locked (Flight *flight)
{
  NatsSink *self = flight->sink;
  GSource *source;

  if (--flight->outstanding > 0 || self->acks_source != 0 || self->stopping
      || self->acks->len == 0)
    return;

  source = g_idle_source_new ();
  g_source_set_callback (source, on_acks, self, NULL);
  g_source_set_static_name (source, "[ep-consumer] NATS acknowledgements");
  self->acks_source = g_source_attach (source, self->context);
  g_source_unref (source);
}

/* Main context: settles the outcomes queued so far. From on_acks (), the
 * source that runs is forgotten with them; from a timeout, a pending
 * source stays attached (it finds the queue empty, or later outcomes). */
static void
acks_settle (NatsSink *self,
             gboolean  from_source)
{
  g_autoptr(GPtrArray) acks = NULL;

  g_mutex_lock (&self->lock);
  acks = g_steal_pointer (&self->acks);
  self->acks = g_ptr_array_new_with_free_func ((GDestroyNotify) ack_free);
  if (from_source)
    self->acks_source = 0;
  g_mutex_unlock (&self->lock);

  for (guint i = 0; i < acks->len; i++)
    {
      Ack *ack = g_ptr_array_index (acks, i);

      if (ack->flight->req != NULL)
        flight_settle (ack->flight, ack->index, ack->text);
    }
}

static gboolean
on_acks (gpointer user_data)
{
  acks_settle (user_data, TRUE);

  return G_SOURCE_REMOVE;
}

static void
on_publish_ack (jsCtx       *js,
                natsMsg     *msg,
                jsPubAck    *pa,
                jsPubAckErr *pae,
                void        *closure)
{
  NatsSink *self = closure;
  Ack *ack = NULL;

  g_mutex_lock (&self->lock);
  if (g_hash_table_steal_extended (self->in_flight, msg, NULL, (gpointer *) &ack))
    {
      if (pae != NULL || pa == NULL)
        {
          ack->status = pae != NULL ? pae->Err : NATS_ERR;
          ack->text = g_strdup_printf ("The engine did not store the event: %s%s%s",
                                       natsStatus_GetText (ack->status),
                                       pae != NULL && pae->ErrText != NULL ? ": " : "",
                                       pae != NULL && pae->ErrText != NULL ? pae->ErrText : "");
        }
      g_ptr_array_add (self->acks, ack);
      flight_outcome_locked (ack->flight);
    }
  g_mutex_unlock (&self->lock);

  natsMsg_Destroy (msg);
}

/* ------------------------------------------------------------------------ */
/* Publishing                                                               */

static natsStatus
message_new (NatsSink        *self,
             const SqsEntry  *entry,
             const char      *endpoint,
             const char      *received,
             natsMsg        **out)
{
  const SqsAttribute *name = sqs_entry_find_string_attribute (entry, "Name");
  natsMsg *msg = NULL;
  natsStatus s;

  /* natsMsg_Create () copies the data: one buffer serves every line */
  g_string_truncate (self->line, 0);
  event_append_json_line (self->line, entry, endpoint, received);
  s = natsMsg_Create (&msg, self->options->subject, NULL, self->line->str, (int) self->line->len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (msg, "Nats-Msg-Id", entry->id->str);
  if (s == NATS_OK && name != NULL)
    s = natsMsgHeader_Set (msg, "Ep-Event-Name", name->string_value->str);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (msg, "Ep-Endpoint", endpoint);
  if (s != NATS_OK)
    {
      natsMsg_Destroy (msg);
      return s;
    }
  *out = msg;

  return NATS_OK;
}

/* Registers the message before publishing it: its acknowledgement may
 * arrive before js_PublishMsgAsync () returns */
static natsStatus
flight_publish (Flight     *flight,
                guint       index,
                const char *received)
{
  NatsSink *self = flight->sink;
  SqsEntry *entry = g_ptr_array_index (flight->req->batch->entries, index);
  natsMsg *msg = NULL;
  jsPubOptions options;
  Ack *ack;
  natsStatus s;

  s = message_new (self, entry, flight->req->endpoint, received, &msg);
  if (s != NATS_OK)
    return s;

  ack = g_new0 (Ack, 1);
  ack->flight = flight_ref (flight);
  ack->index = index;
  g_mutex_lock (&self->lock);
  g_hash_table_insert (self->in_flight, msg, ack);
  flight->outstanding++;
  g_mutex_unlock (&self->lock);
  flight->waiting++;

  jsPubOptions_Init (&options);
  options.MaxWait = self->options->sink_timeout_ms;
  s = js_PublishMsgAsync (self->js, &msg, &options);
  if (s != NATS_OK && msg != NULL)
    {
      /* Not taken: no acknowledgement will come for it */
      g_mutex_lock (&self->lock);
      g_hash_table_remove (self->in_flight, msg);
      flight->outstanding--;
      g_mutex_unlock (&self->lock);
      natsMsg_Destroy (msg);
      flight->waiting--;
    }

  return s;
}

static gboolean
nats_sink_ready (Sink  *sink,
                 char **reason)
{
  NatsSink *self = (NatsSink *) sink;

  if (natsConnection_Status (self->connection) != NATS_CONN_STATUS_CONNECTED)
    {
      *reason = g_strdup ("no NATS server reachable");
      return FALSE;
    }
  if (!g_atomic_int_get (&self->stream_ready))
    {
      *reason = g_strdup_printf ("the stream %s is not available yet", self->options->stream);
      return FALSE;
    }

  return TRUE;
}

static gboolean
nats_sink_store (Sink     *sink,
                 Request  *req,
                 GError  **error)
{
  NatsSink *self = (NatsSink *) sink;
  g_autofree char *reason = NULL;
  g_autofree char *received = NULL;
  Flight *flight;

  /* --confirm-before-ack confirms on hand-off to nats.c (its buffers
   * included, while it reconnects), as a collector that confirms on
   * hand-off to its sink's client does */
  if (!self->options->confirm_before_ack && !nats_sink_ready (sink, &reason))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   "Cannot store events now: %s.", reason);
      return FALSE;
    }

  received = now_iso8601 ();
  flight = flight_new (self, request_hold (req));
  flight->outstanding = 1;
  g_hash_table_add (self->live, flight);
  for (guint i = 0; i < flight->req->batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (flight->req->batch->entries, i);
      natsStatus s;

      if (entry->error_code != NULL)
        {
          flight->settled[i] = TRUE;
          continue;
        }
      s = flight_publish (flight, i, received);
      if (s != NATS_OK)
        {
          flight->settled[i] = TRUE;
          sqs_entry_fail (entry, "InternalError",
                          g_strdup_printf ("Could not publish the event: %s.",
                                           natsStatus_GetText (s)),
                          FALSE);
        }
    }

  /* Outcomes that came while publishing wake the main context now */
  g_mutex_lock (&self->lock);
  flight_outcome_locked (flight);
  g_mutex_unlock (&self->lock);

  /* --confirm-before-ack: the reply goes now, whatever the engine says */
  if (flight->waiting == 0 || self->options->confirm_before_ack)
    flight_release (flight);
  else
    flight->timeout_id = g_timeout_add_once (self->options->sink_timeout_ms,
                                             flight_on_timeout, flight);

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The stream: checked, or created, on a thread of its own                  */

/* --stream-replicas, else 3 where the cluster has 3 servers (those the
 * connection knows: the URLs given and the ones the cluster announced),
 * fewer where it knows fewer; 1 on a server without a cluster
 * (stream_create) */
static int
stream_replicas (NatsSink *self)
{
  char **servers = NULL;
  int count = 0;

  if (self->options->stream_replicas > 0)
    return self->options->stream_replicas;
  if (natsConnection_GetServers (self->connection, &servers, &count) != NATS_OK)
    return 1;
  for (int i = 0; i < count; i++)
    free (servers[i]);
  free (servers);

  return CLAMP (count, 1, 3);
}

static natsStatus
stream_create (NatsSink    *self,
               jsErrCode   *code)
{
  const char *subjects[] = { self->options->subject };
  jsStreamConfig config;
  jsStreamInfo *info = NULL;
  natsStatus s;

  jsStreamConfig_Init (&config);
  config.Name = self->options->stream;
  config.Subjects = subjects;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = stream_replicas (self);
  config.Duplicates = (int64_t) self->options->stream_duplicates_s * 1000000000;
  s = js_AddStream (&info, self->js, &config, NULL, code);
  /* The default asked for replicas of a server that has no cluster */
  if (s != NATS_OK && *code == JSStreamReplicasNotSupportedErr
      && self->options->stream_replicas == 0)
    {
      config.Replicas = 1;
      s = js_AddStream (&info, self->js, &config, NULL, code);
    }
  if (s == NATS_OK)
    sink_log (self, "created the stream %s (%" G_GINT64_FORMAT " replicas, file storage, "
               "duplicate window %d s)", config.Name, config.Replicas,
               self->options->stream_duplicates_s);
  jsStreamInfo_Destroy (info);

  return s;
}

static gboolean
stream_check (NatsSink *self)
{
  jsStreamInfo *info = NULL;
  jsErrCode code = 0;
  natsStatus s;

  if (natsConnection_Status (self->connection) != NATS_CONN_STATUS_CONNECTED)
    return FALSE;
  s = js_GetStreamInfo (&info, self->js, self->options->stream, NULL, &code);
  jsStreamInfo_Destroy (info);
  if (s == NATS_NOT_FOUND && self->options->create_stream)
    s = stream_create (self, &code);
  if (s != NATS_OK && ++self->stream_failures % 40 == 1)
    sink_log (self, "the stream %s is not available yet: %s (JetStream error %d%s%s)",
               self->options->stream, natsStatus_GetText (s), (int) code,
               nats_GetLastError (NULL) != NULL ? ": " : "",
               nats_GetLastError (NULL) != NULL ? nats_GetLastError (NULL) : "");

  return s == NATS_OK;
}

static gpointer
stream_thread (gpointer user_data)
{
  NatsSink *self = user_data;

  g_mutex_lock (&self->lock);
  while (!self->stopping)
    {
      gboolean ready;

      g_mutex_unlock (&self->lock);
      ready = stream_check (self);
      g_mutex_lock (&self->lock);
      if (ready)
        {
          g_atomic_int_set (&self->stream_ready, TRUE);
          break;
        }
      g_cond_wait_until (&self->stop_cond, &self->lock,
                         g_get_monotonic_time () + STREAM_CHECK_INTERVAL_US);
    }
  g_mutex_unlock (&self->lock);

  return NULL;
}

/* ------------------------------------------------------------------------ */
/* The connection                                                           */

static void
on_connection_event (natsConnection *nc,
                     void           *closure)
{
  NatsSink *self = closure;
  const char *what;

  switch (natsConnection_Status (nc))
    {
    case NATS_CONN_STATUS_CONNECTED:
      what = "connected";
      break;
    case NATS_CONN_STATUS_RECONNECTING:
      what = "disconnected; reconnecting";
      break;
    default:
      what = "disconnected";
    }
  sink_log (self, "NATS %s", what);
}

static natsStatus
nats_options_init (NatsSink  *self,
                   GError   **error)
{
  const Options *options = self->options;
  EpNatsServer server = { options->sink, options->nats_creds, options->nats_token_file,
                          options->nats_ca };
  natsOptions *o;
  natsStatus s;

  self->nats_options = o = ep_nats_options_new (&server, "ep-consumer", error);
  if (o == NULL)
    return NATS_ERR;
  /* Reconnect for ever, quickly; notice a frozen server within seconds */
  s = natsOptions_SetMaxReconnect (o, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait (o, 250);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (o, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetPingInterval (o, 1000);
  if (s == NATS_OK)
    s = natsOptions_SetMaxPingsOut (o, 2);
  if (s == NATS_OK)
    s = natsOptions_SetRetryOnFailedConnect (o, true, on_connection_event, self);
  if (s == NATS_OK)
    s = natsOptions_SetDisconnectedCB (o, on_connection_event, self);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectedCB (o, on_connection_event, self);

  return s;
}

static natsStatus
nats_sink_connect (NatsSink  *self,
                   GError   **error)
{
  jsOptions js_options;
  natsStatus s;

  s = nats_options_init (self, error);
  if (s != NATS_OK)
    return s;
  /* Retrying in the background when no server is up yet */
  s = natsConnection_Connect (&self->connection, self->nats_options);
  if (s == NATS_NOT_YET_CONNECTED)
    s = NATS_OK;
  if (s != NATS_OK)
    return s;

  jsOptions_Init (&js_options);
  js_options.Wait = 2000;
  js_options.PublishAsync.AckHandler = on_publish_ack;
  js_options.PublishAsync.AckHandlerClosure = self;
  js_options.PublishAsync.MaxPending = MAX_PENDING_PUBLISHES;
  js_options.PublishAsync.StallWait = 1;

  return natsConnection_JetStream (&self->js, self->connection, &js_options);
}

static void
nats_sink_free (Sink *sink)
{
  NatsSink *self = (NatsSink *) sink;
  GHashTableIter iter;
  Flight *flight;

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_broadcast (&self->stop_cond);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->stream_thread, g_thread_join);

  /* No callback runs after these */
  if (self->connection != NULL)
    natsConnection_Close (self->connection);
  jsCtx_Destroy (self->js);
  natsConnection_Destroy (self->connection);
  natsOptions_Destroy (self->nats_options);
  nats_CloseAndWait (2000);

  if (self->acks_source != 0)
    {
      GSource *source = g_main_context_find_source_by_id (self->context, self->acks_source);

      if (source != NULL)
        g_source_destroy (source);
    }
  /* The requests still held are dropped unanswered, as at a crash */
  g_hash_table_iter_init (&iter, self->live);
  while (g_hash_table_iter_next (&iter, (gpointer *) &flight, NULL))
    {
      Request *req = g_steal_pointer (&flight->req);

      g_clear_handle_id (&flight->timeout_id, g_source_remove);
      for (guint i = 0; i < req->batch->entries->len; i++)
        if (!flight->settled[i])
          sqs_entry_fail (g_ptr_array_index (req->batch->entries, i), "InternalError",
                          g_strdup ("ep-consumer stopped"), FALSE);
      req->gone = TRUE;
      request_release (req);
      g_hash_table_iter_remove (&iter);
      flight_unref (flight);
    }
  g_hash_table_unref (self->live);
  g_hash_table_unref (self->in_flight);
  g_ptr_array_unref (self->acks);
  g_string_free (self->line, TRUE);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->stop_cond);
  g_free (self->name);
  g_free (self);
}

Sink *
sink_nats_new (Consumer  *consumer,
               GError   **error)
{
  NatsSink *self = g_new0 (NatsSink, 1);
  g_autoptr(GError) local_error = NULL;
  natsStatus s;

  self->consumer = consumer;
  self->options = consumer->options;
  self->name = g_strdup_printf ("NATS JetStream stream %s, subject %s%s",
                                self->options->stream, self->options->subject,
                                self->options->confirm_before_ack
                                ? " (--confirm-before-ack: LOSES EVENTS)" : "");
  self->parent = (Sink) { self->name, nats_sink_store, nats_sink_ready, nats_sink_free };
  self->context = g_main_context_default ();
  self->live = g_hash_table_new (NULL, NULL);
  self->line = g_string_sized_new (4096);
  g_mutex_init (&self->lock);
  g_cond_init (&self->stop_cond);
  self->in_flight = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) ack_free);
  self->acks = g_ptr_array_new_with_free_func ((GDestroyNotify) ack_free);

  s = nats_sink_connect (self, &local_error);
  if (s != NATS_OK)
    {
      if (local_error != NULL)
        g_propagate_error (error, g_steal_pointer (&local_error));
      else
        ep_nats_set_error (error, s, "Could not set up the NATS sink");
      nats_sink_free (&self->parent);
      return NULL;
    }
  self->stream_thread = g_thread_new ("ep-nats-stream", stream_thread, self);

  return &self->parent;
}
