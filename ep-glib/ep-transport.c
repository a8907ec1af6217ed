/* ep-transport.c: the producer's one SoupSession
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * EpTransport owns the SoupSession and runs one POST per GTask, with its
 * own whole-request timer on the caller's main context. What the bytes mean
 * is ep-sqs.c's business.
 *
 * The reply body is read as a stream, a chunk per main-loop dispatch, up
 * to EP_TRANSPORT_MAX_REPLY_BYTES: a larger (or endless) body fails the
 * request as soon as the limit is passed, and is never buffered whole. The
 * body is then parsed in a worker thread, so the main context never spends
 * more than one chunk's copy on a reply.
 */
#include "config.h"

#include "ep-clock-private.h"
#include "ep-handoff-private.h"
#include "ep-transport-private.h"

#define FORM_CONTENT_TYPE "application/x-www-form-urlencoded"
#define READ_CHUNK_BYTES  (16 * 1024)

/* EpTransport -------------------------------------------------------------- */

struct _EpTransport {
  GObject       parent_instance;

  SoupSession  *session;            /* owned: the producer's only session */
  guint         timeout_ms;         /* whole-request timeout, 0 for none */
  GCancellable *abort_cancellable;  /* owned: cancelled (and replaced) by abort */
  GSList       *parsers;            /* owned EpHandoffs: the reply parses, one per
                                     * context the requests were posted on */
};

G_DEFINE_FINAL_TYPE (EpTransport, ep_transport, G_TYPE_OBJECT)

/* One POST in flight; the GTask's task data. */
typedef struct {
  SoupMessage  *msg;                /* owned */
  GCancellable *cancellable;        /* owned: cancels the request itself */
  GCancellable *caller_cancellable; /* owned ref, nullable: chained into @cancellable */
  gulong        caller_handler;
  GCancellable *abort_cancellable;  /* owned ref: the transport's at post time */
  gulong        abort_handler;
  GSource      *timer;              /* owned, nullable: the whole-request timeout */
  guint         timeout_ms;
  gboolean      timed_out;
  gint64        started_us;         /* monotonic: when it was posted */
  GInputStream *stream;             /* owned, nullable: the reply body being read */
  GByteArray   *body;               /* owned, nullable: what was read of it */
  guint8       *chunk;              /* owned, nullable: READ_CHUNK_BYTES for each read */
  /* Copied from the reply's headers on the main context, for the parser. */
  guint         status;
  char         *retry_after;        /* owned, nullable */
  gint64        server_ms;
  gint64        received_ms;
  gint64        round_trip_ms;
} PostData;

static void
post_data_stop_timer (PostData *data)
{
  if (data->timer == NULL)
    return;
  g_source_destroy (data->timer);
  g_clear_pointer (&data->timer, g_source_unref);
}

static void
post_data_free (PostData *data)
{
  post_data_stop_timer (data);
  if (data->caller_cancellable != NULL)
    g_clear_signal_handler (&data->caller_handler, data->caller_cancellable);
  g_clear_signal_handler (&data->abort_handler, data->abort_cancellable);
  g_clear_object (&data->caller_cancellable);
  g_clear_object (&data->abort_cancellable);
  g_clear_object (&data->cancellable);
  g_clear_object (&data->stream);
  g_clear_pointer (&data->body, g_byte_array_unref);
  g_free (data->chunk);
  g_free (data->retry_after);
  g_clear_object (&data->msg);
  g_free (data);
}

static void
cancel_chained (GCancellable *source,
                gpointer      user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static void
unref_chained (gpointer  data,
               GClosure *closure)
{
  g_object_unref (data);
}

/* Makes @from's cancellation cancel @to; returns the handler id. A plain
 * signal handler rather than g_cancellable_connect(): post_data_free may
 * run inside @from's emission (a cancellation can complete the request
 * synchronously), where g_cancellable_disconnect() would deadlock. */
static gulong
chain_cancellable (GCancellable *from,
                   GCancellable *to)
{
  gulong handler = g_signal_connect_data (from, "cancelled", G_CALLBACK (cancel_chained),
                                          g_object_ref (to), unref_chained, 0);

  if (g_cancellable_is_cancelled (from))
    g_cancellable_cancel (to);
  return handler;
}

static gboolean
post_timed_out (gpointer user_data)
{
  PostData *data = user_data;

  data->timed_out = TRUE;
  g_clear_pointer (&data->timer, g_source_unref);
  g_cancellable_cancel (data->cancellable);
  return G_SOURCE_REMOVE;
}

static void
post_data_start_timer (PostData     *data,
                       GMainContext *context)
{
  if (data->timeout_ms == 0)
    return;
  data->timer = g_timeout_source_new (data->timeout_ms);
  g_source_set_name (data->timer, "[ep-glib] request timeout");
  g_source_set_callback (data->timer, post_timed_out, data, NULL);
  g_source_attach (data->timer, context);
}

static void
ep_transport_dispose (GObject *object)
{
  EpTransport *self = EP_TRANSPORT (object);

  /* Nothing is in flight here: each request's GTask holds a reference. */
  if (self->session != NULL)
    soup_session_abort (self->session);
  G_OBJECT_CLASS (ep_transport_parent_class)->dispose (object);
}

static void
ep_transport_finalize (GObject *object)
{
  EpTransport *self = EP_TRANSPORT (object);

  g_clear_object (&self->session);
  g_clear_object (&self->abort_cancellable);
  /* Nothing is being parsed: each parse holds its request's GTask. */
  g_slist_free_full (self->parsers, (GDestroyNotify) ep_handoff_free);
  G_OBJECT_CLASS (ep_transport_parent_class)->finalize (object);
}

static void
ep_transport_class_init (EpTransportClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ep_transport_dispose;
  object_class->finalize = ep_transport_finalize;
}

static void
ep_transport_init (EpTransport *self)
{
  self->abort_cancellable = g_cancellable_new ();
}

EpTransport *
ep_transport_new (const char *user_agent,
                  guint       timeout_ms)
{
  EpTransport *self = g_object_new (EP_TYPE_TRANSPORT, NULL);

  /* The timeout is ours (a timer per request), not the session's I/O
   * timeout, so that a slow trickle cannot stretch a request forever. */
  self->session = soup_session_new_with_options ("user-agent", user_agent,
                                                 "max-conns-per-host", EP_TRANSPORT_MAX_CONNS_PER_HOST,
                                                 "max-conns", EP_TRANSPORT_MAX_CONNS_PER_HOST * 2,
                                                 NULL);
  self->timeout_ms = timeout_ms;
  return self;
}

void
ep_transport_set_timeout_for_testing (EpTransport *self,
                                      guint        timeout_ms)
{
  g_return_if_fail (EP_IS_TRANSPORT (self));

  self->timeout_ms = timeout_ms;
}

static SoupMessage *
build_message (const char *uri,
               const char *bearer_token,
               const char *client_id,
               GBytes     *body)
{
  SoupMessage *msg = soup_message_new (SOUP_METHOD_POST, uri);
  SoupMessageHeaders *headers;

  if (msg == NULL)
    return NULL;
  headers = soup_message_get_request_headers (msg);
  soup_message_set_request_body_from_bytes (msg, FORM_CONTENT_TYPE, body);
  /* Idempotent (entry ids make a resend harmless) so that libsoup reuses
   * the connection; no redirects, which would replay the Authorization
   * header somewhere else or turn the POST into a GET. */
  soup_message_add_flags (msg, SOUP_MESSAGE_IDEMPOTENT | SOUP_MESSAGE_NO_REDIRECT);
  if (bearer_token != NULL && bearer_token[0] != '\0')
    {
      g_autofree char *value = g_strconcat ("Bearer ", bearer_token, NULL);

      soup_message_headers_replace (headers, "Authorization", value);
    }
  else if (client_id != NULL && client_id[0] != '\0')
    soup_message_headers_replace (headers, "X-Tidal-Token", client_id);
  return msg;
}

/* The result is handed over from an idle, never from inside libsoup's
 * callback: whatever the caller does with it (signals, new requests,
 * dropping the session) then runs on a clean stack. */
typedef struct {
  GTask        *task;   /* owned */
  EpBatchReply *reply;  /* owned, nullable */
  GError       *error;  /* owned, nullable */
} PostResult;

static gboolean
return_post_result (gpointer user_data)
{
  PostResult *res = user_data;

  if (res->error != NULL)
    g_task_return_error (res->task, g_steal_pointer (&res->error));
  else
    g_task_return_pointer (res->task, g_steal_pointer (&res->reply),
                           (GDestroyNotify) ep_batch_reply_free);
  return G_SOURCE_REMOVE;
}

static void
post_result_free (gpointer user_data)
{
  PostResult *res = user_data;

  g_clear_pointer (&res->reply, ep_batch_reply_free);
  g_clear_error (&res->error);
  g_clear_object (&res->task);
  g_free (res);
}

static void
return_later (GTask        *task,
              EpBatchReply *reply,
              GError       *error)
{
  PostResult *res = g_new0 (PostResult, 1);
  g_autoptr(GSource) idle = g_idle_source_new ();

  res->task = g_object_ref (task);
  res->reply = reply;
  res->error = error;
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, return_post_result, res, post_result_free);
  g_source_attach (idle, g_task_get_context (task));
}

static void
return_failure (GTask  *task,
                GError *error)   /* (transfer full) */
{
  PostData *data = g_task_get_task_data (task);

  post_data_stop_timer (data);
  if (data->timed_out)
    {
      g_error_free (error);
      error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                           "No reply from the consumer within %u ms", data->timeout_ms);
    }
  /* Stops the transfer: the rest of the body is never read, and libsoup
   * drops the connection. */
  g_cancellable_cancel (data->cancellable);
  return_later (task, NULL, error);
}

/* The reply body of one POST, parsed on a thread of the transport's
 * parser. The thread sees @copy only: the POST's task is touched (and
 * released) on its context alone, so that it never drops the last
 * reference to the task, or to the transport the task holds. */
typedef struct {
  GTask    *task;   /* owned: the POST's */
  PostData *copy;   /* owned: what the parser needs */
} Parse;

/* A parser's thread: the body is complete; classify it. */
static gpointer
parse_in_thread (gpointer user_data)
{
  Parse *parse = user_data;
  PostData *data = parse->copy;
  EpBatchReply *reply = ep_batch_reply_parse (data->status, data->retry_after,
                                              data->received_ms / 1000,
                                              (const char *) data->body->data, data->body->len);

  reply->server_ms = data->server_ms;
  reply->received_ms = data->received_ms;
  reply->round_trip_ms = data->round_trip_ms;
  return reply;
}

/* The POST's context (the parser's source): hands the reply over. */
static void
reply_parsed (gpointer user_data,
              gpointer result)
{
  Parse *parse = user_data;

  g_task_return_pointer (parse->task, result, (GDestroyNotify) ep_batch_reply_free);
  post_data_free (parse->copy);
  g_object_unref (parse->task);
  g_free (parse);
}

/* The transport's parser for @context, made on first use. Not a GTask run
 * in a thread: see ep-handoff-private.h. */
static EpHandoff *
parser_for (EpTransport  *self,
            GMainContext *context)
{
  EpHandoff *parser;

  for (GSList *l = self->parsers; l != NULL; l = l->next)
    if (ep_handoff_get_context (l->data) == context)
      return l->data;
  parser = ep_handoff_new (context, "[ep-glib] reply parsed", 1);
  self->parsers = g_slist_prepend (self->parsers, parser);
  return parser;
}

static void
parse_later (GTask *task)   /* (transfer full) */
{
  PostData *data = g_task_get_task_data (task);
  PostData *copy = g_new0 (PostData, 1);
  Parse *parse = g_new0 (Parse, 1);

  copy->status = data->status;
  copy->retry_after = g_steal_pointer (&data->retry_after);
  copy->server_ms = data->server_ms;
  copy->received_ms = data->received_ms;
  copy->round_trip_ms = data->round_trip_ms;
  copy->body = g_steal_pointer (&data->body);
  parse->task = task;
  parse->copy = copy;
  ep_handoff_run (parser_for (g_task_get_source_object (task), g_task_get_context (task)),
                  parse_in_thread, reply_parsed, parse);
}

static void read_next_chunk (GTask *task);

static void
chunk_read (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PostData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (n < 0)
    {
      return_failure (task, g_steal_pointer (&error));
      return;
    }
  if (n == 0)
    {
      /* The whole body is here: parsed off the main context, and handed
       * back to the caller's context by the transport's parser. */
      post_data_stop_timer (data);
      g_clear_object (&data->stream);
      parse_later (g_steal_pointer (&task));
      return;
    }
  if (data->body->len + (gsize) n > EP_TRANSPORT_MAX_REPLY_BYTES)
    {
      return_failure (task, g_error_new (G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                         "The reply body is larger than %u bytes "
                                         "(an SQS reply is a few KB): HTTP %u",
                                         EP_TRANSPORT_MAX_REPLY_BYTES, data->status));
      return;
    }
  g_byte_array_append (data->body, data->chunk, n);
  read_next_chunk (g_steal_pointer (&task));
}

static void
read_next_chunk (GTask *task)   /* (transfer full) */
{
  PostData *data = g_task_get_task_data (task);

  g_input_stream_read_async (data->stream, data->chunk, READ_CHUNK_BYTES, G_PRIORITY_DEFAULT,
                             data->cancellable, chunk_read, task);
}

/* The status line and headers are here; what they tell is kept for the
 * parser (the clock's Date is read now, nearest to when it was written). */
static gboolean
take_headers (PostData  *data,
              GError   **error)
{
  SoupMessageHeaders *headers = soup_message_get_response_headers (data->msg);
  goffset length = soup_message_headers_get_content_length (headers);

  data->status = soup_message_get_status (data->msg);
  data->retry_after = g_strdup (soup_message_headers_get_one (headers, "Retry-After"));
  data->server_ms = ep_clock_parse_date (soup_message_headers_get_one (headers, "Date"),
                                         soup_message_headers_get_one (headers, "Age"));
  data->received_ms = g_get_real_time () / 1000;
  data->round_trip_ms = (g_get_monotonic_time () - data->started_us) / 1000;
  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      length > EP_TRANSPORT_MAX_REPLY_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "The reply body is larger than %u bytes (Content-Length %" G_GOFFSET_FORMAT
                   "; an SQS reply is a few KB): HTTP %u",
                   EP_TRANSPORT_MAX_REPLY_BYTES, length, data->status);
      return FALSE;
    }
  return TRUE;
}

static void
post_sent (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  PostData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;

  data->stream = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  if (data->stream == NULL || !take_headers (data, &error))
    {
      return_failure (task, g_steal_pointer (&error));
      return;
    }
  data->body = g_byte_array_sized_new (READ_CHUNK_BYTES);
  data->chunk = g_malloc (READ_CHUNK_BYTES);
  read_next_chunk (g_steal_pointer (&task));
}

void
ep_transport_post_async (EpTransport         *self,
                         const char          *uri,
                         const char          *bearer_token,
                         const char          *client_id,
                         GBytes              *body,
                         gboolean             gzip,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  PostData *data;
  SoupMessage *msg;

  g_return_if_fail (EP_IS_TRANSPORT (self));
  g_return_if_fail (uri != NULL);
  g_return_if_fail (body != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_transport_post_async);
  /* A timeout must be reported as such, not as the cancellation that
   * implements it: the result is decided in post_sent. */
  g_task_set_check_cancellable (task, FALSE);

  msg = build_message (uri, bearer_token, client_id, body);
  if (msg != NULL && gzip)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Content-Encoding", "gzip");
  if (msg == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               "The consumer URI is not a valid http(s) URI");
      return;
    }

  data = g_new0 (PostData, 1);
  data->msg = msg;
  data->cancellable = g_cancellable_new ();
  data->timeout_ms = self->timeout_ms;
  data->abort_cancellable = g_object_ref (self->abort_cancellable);
  data->abort_handler = chain_cancellable (data->abort_cancellable, data->cancellable);
  if (cancellable != NULL)
    {
      data->caller_cancellable = g_object_ref (cancellable);
      data->caller_handler = chain_cancellable (cancellable, data->cancellable);
    }
  g_task_set_task_data (task, data, (GDestroyNotify) post_data_free);
  post_data_start_timer (data, g_task_get_context (task));
  data->started_us = g_get_monotonic_time ();

  soup_session_send_async (self->session, msg, G_PRIORITY_DEFAULT,
                           data->cancellable, post_sent, g_steal_pointer (&task));
}

EpBatchReply *
ep_transport_post_finish (EpTransport   *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (EP_IS_TRANSPORT (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_transport_post_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
ep_transport_abort_for_testing (EpTransport *self)
{
  g_autoptr(GCancellable) aborted = NULL;

  g_return_if_fail (EP_IS_TRANSPORT (self));

  /* Replace first, so a request posted from a completion callback that the
   * cancellation triggers goes out under the new cancellable. */
  aborted = g_steal_pointer (&self->abort_cancellable);
  self->abort_cancellable = g_cancellable_new ();
  g_cancellable_cancel (aborted);
}
