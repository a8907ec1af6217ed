/* limits.c: what one client can cost ep-consumer: bytes, memory, time, connections
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * libsoup 3.2's server reads a request's whole body into memory before any
 * handler runs (also after a handler has set an error status), never times
 * a connection out, and accepts every connection. This file bounds each,
 * from SoupServer's signals, whatever path a request is for:
 *
 *  - Body size: a declared Content-Length over MAX_REQUEST_BYTES is refused
 *    when the headers arrive; a chunked body is stopped as soon as it
 *    passes the limit. Either gets 413 at once, without reading further:
 *    the connection is taken from libsoup (steal_connection), the reply
 *    written by hand, the sending side shut, and whatever the client still
 *    sends read and dropped for at most LINGER_MS or LINGER_MAX_BYTES (so
 *    that the client sees the reply instead of a reset), then it is closed.
 *  - Body memory: the bodies of the requests in progress (read, or held by
 *    --latency or a hang) count against BODY_BUDGET_BYTES; a request that
 *    would pass it gets 503 with Retry-After, the same way.
 *  - Time: each connection's GSocket has a timeout (--idle-timeout): a wait
 *    to read or write that long ends the connection (a client that sends
 *    nothing, or stops reading). A request whose headers and body have not
 *    all arrived --request-timeout after it began (a client sending a byte
 *    now and then) is closed. A reply held on purpose is not timed.
 *  - Connections: at most --max-connections are open. A new one past the
 *    limit closes the oldest one that has no request in progress (idle
 *    keep-alive, or headers not complete), or, when every connection is in
 *    a request, is closed itself at once. The limit is lowered to what
 *    RLIMIT_NOFILE allows (raised to its hard limit first). The listening
 *    socket's backlog is raised to match.
 *  - libsoup 3.2.3's own leaks (fixed upstream in 3.4): the extra reference
 *    its listener keeps to every socket is dropped; a keep-alive connection
 *    closed between requests keeps ~2 KiB for good, so after
 *    KEEP_ALIVE_LEAKS of them every reply closes its connection.
 */
#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "ep-consumer.h"

#define LINGER_MS          2000
#define LINGER_MAX_BYTES   (4 * 1024 * 1024)
#define FDS_KEPT_BACK      64  /* for the output file, the log, libsoup's own */
#define LISTEN_BACKLOG     4096
#define KEEP_ALIVE_LEAKS   1024  /* ~2 KiB each that libsoup 3.2.3 never frees */

/* One open connection, found from a message through its GSocket's qdata.
 * A connection is known to be gone when its socket is closed, not when it
 * is finalized, which libsoup 3.2.3 never does for a keep-alive connection
 * closed between two requests: connections_sweep (). */
typedef struct {
  Consumer *consumer;
  GSocket  *socket;       /* owned */
  GList     link;         /* in consumer->connections, oldest first */
  guint     requests;     /* requests begun on it */
  guint     served;       /* requests finished (or aborted) */
  gboolean  busy;         /* a request's headers were read; not finished */
  gboolean  closing;      /* shut down by us: not counted against the limit */
  guint     deadline_id;  /* --request-timeout of the request being read */
  guint     idle_id;      /* --idle-timeout between two keep-alive requests */
  guint     idle_watch_id;/* end-of-file from the client between requests */
  gsize     body_bytes;   /* the current request's body, in body_budget */
} Connection;

static GQuark
connection_quark (void)
{
  static GQuark quark;

  if (quark == 0)
    quark = g_quark_from_static_string ("ep-consumer-connection");

  return quark;
}

static Connection *
connection_of (SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);

  return socket != NULL ? g_object_get_qdata (G_OBJECT (socket), connection_quark ()) : NULL;
}

static void
connection_release_body (Connection *conn)
{
  Consumer *self = conn->consumer;

  g_assert (self->body_bytes >= conn->body_bytes);
  self->body_bytes -= conn->body_bytes;
  conn->body_bytes = 0;
}

static void
connection_set_closing (Connection *conn)
{
  if (conn->closing)
    return;
  conn->closing = TRUE;
  conn->consumer->closing_connections++;
}

static void
connection_stop_idle (Connection *conn)
{
  g_clear_handle_id (&conn->idle_id, g_source_remove);
  g_clear_handle_id (&conn->idle_watch_id, g_source_remove);
}

static void
connection_free (Connection *conn)
{
  Consumer *self = conn->consumer;

  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  connection_stop_idle (conn);
  connection_release_body (conn);
  g_queue_unlink (&self->connections, &conn->link);
  if (conn->closing)
    self->closing_connections--;
  g_object_set_qdata (G_OBJECT (conn->socket), connection_quark (), NULL);
  g_object_unref (conn->socket);
  g_free (conn);
}

/* Forgets the connections whose socket is closed */
static void
connections_sweep (Consumer *self)
{
  GList *l = self->connections.head;

  while (l != NULL)
    {
      Connection *conn = l->data;

      l = l->next;
      if (g_socket_is_closed (conn->socket))
        connection_free (conn);
    }
}

/* Ends a connection that libsoup still owns. During a request (and on a
 * connection's first, which libsoup tracks) a shutdown is enough: libsoup
 * reads end-of-file, gives the request up and closes the connection.
 * Between two keep-alive requests libsoup 3.2.3 would never close it (its
 * next message has no completion callback; fixed upstream in 3.4): the
 * socket is closed here. */
static void
connection_shut (Connection *conn)
{
  connection_set_closing (conn);
  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  connection_stop_idle (conn);
  if (conn->served >= conn->requests)
    {
      g_socket_close (conn->socket, NULL);
      conn->consumer->keep_alive_leaks++;
    }
  else
    g_socket_shutdown (conn->socket, TRUE, TRUE, NULL);
}

static gboolean
on_request_deadline (gpointer user_data)
{
  Connection *conn = user_data;
  Consumer *self = conn->consumer;

  conn->deadline_id = 0;
  self->totals.timed_out++;
  if (self->options->verbose)
    consumer_log (self, "a request was not complete after %d s (--request-timeout): "
                  "connection closed", self->options->request_timeout);
  connection_shut (conn);

  return G_SOURCE_REMOVE;
}

/* Between two requests: no next request within --idle-timeout */
static gboolean
on_idle_timeout (gpointer user_data)
{
  Connection *conn = user_data;

  conn->idle_id = 0;
  connection_shut (conn);

  return G_SOURCE_REMOVE;
}

/* Between two requests: the client sent something. End-of-file (or an
 * error) is the client closing: libsoup 3.2.3 would keep the socket open,
 * so it is closed here. Data is the next request, which libsoup reads. */
static gboolean
on_idle_readable (int          fd,
                  GIOCondition condition,
                  gpointer     user_data)
{
  Connection *conn = user_data;
  char byte;
  gssize n = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  conn->idle_watch_id = 0;
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
    connection_shut (conn);
  else
    g_clear_handle_id (&conn->idle_id, g_source_remove);

  return G_SOURCE_REMOVE;
}

/* After a keep-alive reply, once libsoup has closed the connection or not */
static gboolean
on_idle_start (gpointer user_data)
{
  Connection *conn = user_data;
  Consumer *self = conn->consumer;

  conn->idle_id = 0;
  if (g_socket_is_closed (conn->socket) || conn->closing || conn->busy)
    return G_SOURCE_REMOVE;

  conn->idle_watch_id = g_unix_fd_add (g_socket_get_fd (conn->socket), G_IO_IN,
                                       on_idle_readable, conn);
  if (self->options->idle_timeout > 0)
    conn->idle_id = g_timeout_add_seconds (self->options->idle_timeout, on_idle_timeout, conn);

  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------------------ */
/* Refusing a request without reading its body                              */

typedef struct {
  Consumer     *consumer;
  GIOStream    *stream;       /* owned: taken from libsoup */
  GSocket      *socket;       /* owned */
  GCancellable *cancellable;  /* owned */
  GList         link;         /* in consumer->rejections */
  char         *reply;        /* owned */
  gsize         discarded;
  guint         timeout_id;
  guint8        buffer[16384];
} Rejection;

static void
rejection_free (Rejection *r)
{
  g_queue_unlink (&r->consumer->rejections, &r->link);
  g_clear_handle_id (&r->timeout_id, g_source_remove);
  g_io_stream_close (r->stream, NULL, NULL);
  g_object_unref (r->stream);
  g_object_unref (r->socket);
  g_object_unref (r->cancellable);
  g_free (r->reply);
  g_free (r);
}

static gboolean
on_linger_timeout (gpointer user_data)
{
  Rejection *r = user_data;

  r->timeout_id = 0;
  g_cancellable_cancel (r->cancellable);  /* the pending operation frees r */

  return G_SOURCE_REMOVE;
}

static void
on_discarded (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Rejection *r = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0 || (r->discarded += n) >= LINGER_MAX_BYTES)
    {
      rejection_free (r);
      return;
    }
  g_input_stream_read_async (G_INPUT_STREAM (source), r->buffer, sizeof r->buffer,
                             G_PRIORITY_DEFAULT, r->cancellable, on_discarded, r);
}

static void
on_reply_written (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Rejection *r = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      rejection_free (r);
      return;
    }
  /* The reply is out: end of our side; drop what the client still sends */
  g_socket_shutdown (r->socket, FALSE, TRUE, NULL);
  g_input_stream_read_async (g_io_stream_get_input_stream (r->stream), r->buffer,
                             sizeof r->buffer, G_PRIORITY_DEFAULT, r->cancellable,
                             on_discarded, r);
}

/* The HTTP reply, as SoupServer would write it, with an SQS error body in
 * the request's protocol */
static char *
rejection_reply (Consumer          *self,
                 SoupServerMessage *msg,
                 guint              status,
                 gboolean           sender,
                 const char        *code,
                 const char        *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *type = soup_message_headers_get_content_type (headers, NULL);
  gboolean json = type != NULL && g_ascii_strcasecmp (type, SQS_JSON_CONTENT_TYPE) == 0;
  g_autofree char *request_id = sqs_random_uuid (self->rand);
  g_autofree char *body = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *date = soup_date_time_to_string (now, SOUP_DATE_HTTP);
  GString *reply = g_string_new (NULL);

  g_string_append_printf (reply, "HTTP/1.1 %u %s\r\nDate: %s\r\nServer: ep-consumer\r\n"
                          "Connection: close\r\nx-amzn-RequestId: %s\r\n",
                          status, soup_status_get_phrase (status), date, request_id);
  if (status == SOUP_STATUS_SERVICE_UNAVAILABLE)
    g_string_append (reply, "Retry-After: 1\r\n");
  if (json)
    {
      body = sqs_reply_json_error (code, message);
      g_string_append_printf (reply, "x-amzn-query-error: %s;%s\r\nContent-Type: %s\r\n",
                              code, sender ? "Sender" : "Receiver", SQS_JSON_CONTENT_TYPE);
    }
  else
    {
      body = sqs_reply_xml_error (sender, code, message, request_id);
      g_string_append (reply, "Content-Type: text/xml\r\n");
    }
  g_string_append_printf (reply, "Content-Length: %zu\r\n\r\n%s", strlen (body), body);

  return g_string_free (reply, FALSE);
}

/* Answers @msg now with @status, takes its connection from libsoup and
 * closes it: the rest of the body is never read into memory. Called from
 * @msg's got-headers or got-chunk: libsoup's reader checks, when the
 * signal returns, whether the connection was taken. */
static void
reject_now (Consumer          *self,
            SoupServerMessage *msg,
            Connection        *conn,
            guint              status,
            gboolean           sender,
            const char        *code,
            const char        *message)
{
  Rejection *r = g_new0 (Rejection, 1);

  r->consumer = self;
  r->reply = rejection_reply (self, msg, status, sender, code, message);
  r->socket = g_object_ref (conn->socket);
  r->cancellable = g_cancellable_new ();
  self->totals.requests++;
  self->totals.failed_requests++;
  if (self->options->verbose)
    consumer_log (self, "%s %s -> %u (%s)", soup_server_message_get_method (msg),
                  g_uri_get_path (soup_server_message_get_uri (msg)), status, message);

  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  connection_release_body (conn);
  conn->busy = FALSE;
  connection_set_closing (conn);
  r->stream = soup_server_message_steal_connection (msg);  /* may free msg */
  if (r->stream == NULL)
    {
      g_socket_shutdown (r->socket, TRUE, TRUE, NULL);
      g_object_unref (r->socket);
      g_object_unref (r->cancellable);
      g_free (r->reply);
      g_free (r);
      return;
    }

  r->link.data = r;
  g_queue_push_tail_link (&self->rejections, &r->link);
  r->timeout_id = g_timeout_add (LINGER_MS, on_linger_timeout, r);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (r->stream), r->reply,
                                   strlen (r->reply), G_PRIORITY_DEFAULT, r->cancellable,
                                   on_reply_written, r);
}

static void
reject_too_large (Consumer          *self,
                  SoupServerMessage *msg,
                  Connection        *conn,
                  goffset            declared)
{
  g_autofree char *message = NULL;

  self->totals.too_large++;
  if (declared >= 0)
    message = g_strdup_printf ("The request body has %" G_GINT64_FORMAT " bytes (Content-Length); "
                               "ep-consumer accepts at most %d.", (gint64) declared,
                               MAX_REQUEST_BYTES);
  else
    message = g_strdup_printf ("The request body has more than %d bytes; ep-consumer accepts "
                               "at most that.", MAX_REQUEST_BYTES);
  reject_now (self, msg, conn, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, TRUE,
              sqs_error_get_info (SQS_ERROR_REQUEST_TOO_LARGE)->code, message);
}

static void
reject_overloaded (Consumer          *self,
                   SoupServerMessage *msg,
                   Connection        *conn)
{
  g_autofree char *message = g_strdup_printf ("ep-consumer holds %d bytes of request bodies "
                                              "already; retry later.", BODY_BUDGET_BYTES);

  self->totals.overloaded++;
  reject_now (self, msg, conn, SOUP_STATUS_SERVICE_UNAVAILABLE, FALSE,
              "ServiceUnavailable", message);
}

/* ------------------------------------------------------------------------ */
/* A request's steps                                                        */

static void
on_got_headers (SoupServerMessage *msg,
                gpointer           user_data)
{
  Consumer *self = user_data;
  Connection *conn = connection_of (msg);
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset declared;

  if (conn == NULL || conn->closing)
    return;
  conn->busy = TRUE;
  /* Past KEEP_ALIVE_LEAKS such connections, no more keep-alive: each reply
   * closes its connection, which libsoup 3.2.3 frees */
  if (self->keep_alive_leaks >= KEEP_ALIVE_LEAKS)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Connection", "close");
  if (soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH)
    return;

  declared = soup_message_headers_get_content_length (headers);
  if (declared > MAX_REQUEST_BYTES)
    reject_too_large (self, msg, conn, declared);
  else if (self->body_bytes + declared > BODY_BUDGET_BYTES)
    reject_overloaded (self, msg, conn);
}

static void
on_got_chunk (SoupServerMessage *msg,
              GBytes            *chunk,
              gpointer           user_data)
{
  Consumer *self = user_data;
  Connection *conn = connection_of (msg);
  gsize size = g_bytes_get_size (chunk);

  if (conn == NULL || conn->closing)
    return;

  conn->body_bytes += size;
  self->body_bytes += size;
  if (conn->body_bytes > MAX_REQUEST_BYTES)
    reject_too_large (self, msg, conn, -1);
  else if (self->body_bytes > BODY_BUDGET_BYTES)
    reject_overloaded (self, msg, conn);
}

/* Makes room for one more connection: the oldest idle one goes */
static gboolean
connections_evict_one (Consumer   *self,
                       Connection *except)
{
  for (GList *l = self->connections.head; l != NULL; l = l->next)
    {
      Connection *conn = l->data;

      if (conn != except && !conn->busy && !conn->closing)
        {
          self->totals.connections_evicted++;
          connection_shut (conn);
          return TRUE;
        }
    }

  return FALSE;
}

/* libsoup before 3.4 keeps one reference too many to every socket its
 * listener accepts (fixed upstream by "soup-listener: Plug a leak"): about
 * 0.5 KiB per connection, for good. At a connection's first
 * request-started, which its listener emits while accepting, the socket
 * has exactly two references, the server connection's and that extra one,
 * which is dropped here; a libsoup without the leak has one. */
static void
socket_drop_leaked_ref (GSocket *socket)
{
  if (soup_get_major_version () == 3 && soup_get_minor_version () < 4
      && g_atomic_int_get (&G_OBJECT (socket)->ref_count) == 2)
    g_object_unref (socket);
}

static Connection *
connection_new (Consumer *self,
                GSocket  *socket)
{
  Connection *conn = g_new0 (Connection, 1);

  socket_drop_leaked_ref (socket);
  connections_sweep (self);
  conn->consumer = self;
  conn->socket = g_object_ref (socket);
  conn->link.data = conn;
  g_queue_push_tail_link (&self->connections, &conn->link);
  g_object_set_qdata (G_OBJECT (socket), connection_quark (), conn);
  if (self->options->idle_timeout > 0)
    g_socket_set_timeout (socket, self->options->idle_timeout);

  if (self->connections.length - self->closing_connections > (guint) self->max_connections
      && !connections_evict_one (self, conn))
    {
      self->totals.connections_refused++;
      connection_shut (conn);
    }

  return conn;
}

/* A connection's first request starts when it is accepted, the next ones
 * with their first byte */
static void
on_request_started (SoupServer        *server,
                    SoupServerMessage *msg,
                    gpointer           user_data)
{
  Consumer *self = user_data;
  GSocket *socket = soup_server_message_get_socket (msg);
  Connection *conn;

  if (socket == NULL)
    return;
  conn = g_object_get_qdata (G_OBJECT (socket), connection_quark ());
  if (conn == NULL)
    conn = connection_new (self, socket);
  if (conn->closing)
    return;

  conn->requests++;
  conn->busy = FALSE;
  connection_release_body (conn);
  connection_stop_idle (conn);
  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  if (self->options->request_timeout > 0)
    conn->deadline_id = g_timeout_add_seconds (self->options->request_timeout,
                                               on_request_deadline, conn);
  g_signal_connect (msg, "got-headers", G_CALLBACK (on_got_headers), self);
  g_signal_connect (msg, "got-chunk", G_CALLBACK (on_got_chunk), self);
}

/* The body is in: the deadline is met (a held reply is not timed) */
static void
on_request_read (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  Connection *conn = connection_of (msg);

  if (conn != NULL)
    g_clear_handle_id (&conn->deadline_id, g_source_remove);
}

/* Answered (or aborted): the body's memory is free; a keep-alive
 * connection waits for its next request (checked once libsoup is done) */
static void
on_request_done (SoupServer        *server,
                 SoupServerMessage *msg,
                 gpointer           user_data)
{
  Connection *conn = connection_of (msg);

  if (conn == NULL)
    return;
  g_clear_handle_id (&conn->deadline_id, g_source_remove);
  connection_release_body (conn);
  conn->busy = FALSE;
  conn->served++;
  connection_stop_idle (conn);
  if (!conn->closing)
    conn->idle_id = g_idle_add (on_idle_start, conn);
}

/* ------------------------------------------------------------------------ */
/* Set-up                                                                   */

/* As many descriptors as the hard limit allows; the connection limit
 * fits in what there is */
static void
limits_raise_nofile (Consumer *self)
{
  struct rlimit rl;
  gint64 room;

  if (getrlimit (RLIMIT_NOFILE, &rl) != 0)
    return;
  if (rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      if (setrlimit (RLIMIT_NOFILE, &rl) != 0)
        getrlimit (RLIMIT_NOFILE, &rl);
    }

  room = rl.rlim_cur == RLIM_INFINITY ? G_MAXINT : (gint64) rl.rlim_cur - FDS_KEPT_BACK;
  room = MAX (room, 1);
  if (self->max_connections > room)
    {
      if (!self->options->quiet)
        fprintf (stderr, "ep-consumer: --max-connections lowered from %d to %" G_GINT64_FORMAT
                 " (RLIMIT_NOFILE %" G_GUINT64_FORMAT ")\n", self->max_connections, room,
                 (guint64) rl.rlim_cur);
      self->max_connections = (int) room;
    }
}

void
consumer_limits_init (Consumer *self)
{
  self->max_connections = self->options->max_connections;
  limits_raise_nofile (self);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  g_signal_connect (self->server, "request-read", G_CALLBACK (on_request_read), self);
  g_signal_connect (self->server, "request-finished", G_CALLBACK (on_request_done), self);
  g_signal_connect (self->server, "request-aborted", G_CALLBACK (on_request_done), self);
}

/* GSocket listens with a backlog of 10: of 2,000 clients connecting at
 * once, most waited in SYN retries for seconds, and those that sent
 * nothing were dropped by the kernel unseen. Linux takes a second listen ()
 * as a new backlog (capped by net.core.somaxconn). Waiting there costs
 * ep-consumer nothing: past --max-connections, an accepted connection
 * makes room or is closed. */
void
consumer_limits_listening (Consumer *self)
{
  GSList *listeners = soup_server_get_listeners (self->server);

  for (GSList *l = listeners; l != NULL; l = l->next)
    listen (g_socket_get_fd (l->data), LISTEN_BACKLOG);
  g_slist_free (listeners);
}

guint
consumer_open_connections (Consumer *self)
{
  connections_sweep (self);

  return self->connections.length - self->closing_connections;
}

/* Before the server goes: the rejections still lingering end (their
 * callbacks run once cancelled), and the connections are forgotten */
void
consumer_limits_clear (Consumer *self)
{
  for (GList *l = self->rejections.head; l != NULL; l = l->next)
    g_cancellable_cancel (((Rejection *) l->data)->cancellable);
  while (self->rejections.length > 0)
    g_main_context_iteration (NULL, TRUE);
  while (self->connections.head != NULL)
    connection_free (self->connections.head->data);
}
