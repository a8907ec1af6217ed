/* handler.c: one SendMessageBatch request, from HTTP to the reply
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A request reaches a batch endpoint by its path, as ep-glib posts, or at
 * the server's root, as the AWS SDKs post: botocore configured with
 * endpoint_url=http://127.0.0.1:PORT sends every call to "/" and names the
 * queue in QueueUrl (a form field in the query protocol, a member of the
 * JSON object in the JSON protocol). The root decodes the body first and
 * routes by the path of QueueUrl; then both go the same way.
 *
 * The steps, in the order a TL consumer takes them:
 *
 *  1. HTTP: POST only (405), the bearer token on the authenticated endpoint
 *     (401/403), a Content-Type naming one of the two protocols (415), a
 *     body of at most 4 MiB (413), and for JSON the X-Amz-Target (400).
 *     A gzip body (Content-Encoding: gzip) may decompress to 4 MiB too
 *     (413 past it, found while decoding); another encoding gets 415.
 *  2. Injected faults (faults.c): hang, fail the request, or answer garbage.
 *  3. Decode the body in its protocol and validate the batch as SQS does
 *     (tools/sqs-server/): a broken request is refused whole.
 *  4. Settle each entry: XML-invalid contents fail that entry alone, an
 *     injected entry fault fails it, the rest are accepted.
 *  5. Write the accepted events (output.c), then reply in the request's
 *     protocol. Every reply carries x-amzn-RequestId, as SQS's do.
 */
#include "config.h"

#include <string.h>

#include "ep-consumer.h"

/* ------------------------------------------------------------------------ */
/* HTTP checks                                                              */

/* The query protocol is a form (ep-glib sends one; a missing Content-Type
 * is taken as one, as SQS does); the JSON protocol has its own type. */
static Protocol
detect_protocol (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *type = soup_message_headers_get_content_type (headers, NULL);

  if (type == NULL || g_ascii_strcasecmp (type, SQS_FORM_CONTENT_TYPE) == 0)
    return PROTOCOL_QUERY;
  if (g_ascii_strcasecmp (type, SQS_JSON_CONTENT_TYPE) == 0)
    return PROTOCOL_JSON;

  return PROTOCOL_UNSUPPORTED;
}

/* With --require-token, the authenticated endpoint wants the TL consumer's
 * "Authorization: Bearer <token>" (ep-glib's access token); with --token,
 * that very token. The public endpoint never asks (ep-glib sends the
 * client id as X-Tidal-Token there). */
static gboolean
check_authorization (Consumer           *self,
                     SoupServerMessage  *msg,
                     const char         *endpoint,
                     GError            **error)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *auth = soup_message_headers_get_one (headers, "Authorization");
  const char *token;

  if (!self->options->require_token || !g_str_equal (endpoint, ENDPOINT_PRIVATE))
    return TRUE;

  if (auth == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_TOKEN,
                   "The request to " ENDPOINT_PRIVATE " must carry an "
                   "'Authorization: Bearer <token>' header (ep-consumer runs with "
                   "--require-token).");
      return FALSE;
    }
  if (g_ascii_strncasecmp (auth, "Bearer ", strlen ("Bearer ")) != 0
      || *(token = auth + strlen ("Bearer ")) == '\0')
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_TOKEN,
                   "The Authorization header must be 'Bearer <token>' with a non-empty token.");
      return FALSE;
    }
  if (self->options->token != NULL && !g_str_equal (token, self->options->token))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_ACCESS_DENIED,
                   "The bearer token is not the one ep-consumer accepts (--token).");
      return FALSE;
    }

  return TRUE;
}

/* The JSON protocol names the operation in a header, not in the body */
static gboolean
check_json_target (SoupServerMessage  *msg,
                   GError            **error)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *target = soup_message_headers_get_one (headers, "X-Amz-Target");

  if (target != NULL && g_str_equal (target, SQS_JSON_TARGET))
    return TRUE;

  g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ACTION,
               "X-Amz-Target must be " SQS_JSON_TARGET " (got %s): ep-consumer serves "
               "only SendMessageBatch.", target != NULL ? target : "none");
  return FALSE;
}

static gboolean
check_body (Request  *req,
            GError  **error)
{
  SoupServerMessage *msg = req->msg;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (req->protocol == PROTOCOL_UNSUPPORTED)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "Content-Type must be " SQS_FORM_CONTENT_TYPE " (SQS query "
                   "protocol) or " SQS_JSON_CONTENT_TYPE " (SQS JSON protocol).");
      return FALSE;
    }
  if (body->length > MAX_REQUEST_BYTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_REQUEST_TOO_LARGE,
                   "The request body has %" G_GINT64_FORMAT " bytes; ep-consumer accepts "
                   "at most %d.", (gint64) body->length, MAX_REQUEST_BYTES);
      return FALSE;
    }
  if (req->protocol == PROTOCOL_JSON)
    return check_json_target (msg, error);

  return TRUE;
}

static gboolean
check_request (Request  *req,
               GError  **error)
{
  const char *method = soup_server_message_get_method (req->msg);

  if (!g_str_equal (method, SOUP_METHOD_POST))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_METHOD_NOT_ALLOWED,
                   "%s is not allowed on %s: send SendMessageBatch requests with POST.",
                   method, req->endpoint);
      return FALSE;
    }

  return check_authorization (req->consumer, req->msg, req->endpoint, error)
         && check_body (req, error);
}

/* ------------------------------------------------------------------------ */
/* The batch                                                                */

/* A gzip body (Content-Encoding: gzip, EpProducer:compress-requests) may
 * decompress to MAX_REQUEST_BYTES, as much as a plain body may have: past
 * that, 413 (the decoding stops there: a gzip bomb costs 4 MiB). */
static SqsBatch *
request_parse (Request  *req,
               GError  **error)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr(GBytes) raw = soup_message_body_flatten (body);
  const char *encoding = soup_message_headers_get_one (
    soup_server_message_get_request_headers (req->msg), "Content-Encoding");
  g_autoptr(GBytes) bytes = sqs_body_decode (encoding, raw, MAX_REQUEST_BYTES, error);
  gsize len;
  const char *data;

  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &len);

  if (data == NULL)
    data = "";
  if (req->protocol == PROTOCOL_JSON)
    return sqs_batch_from_json (data, len, consumer_warn_parameter, req->consumer, error);

  return sqs_batch_from_query (data, len, consumer_warn_parameter, req->consumer, error);
}

static void
request_settle_entries (Request  *req,
                        SqsBatch *batch)
{
  Consumer *self = req->consumer;

  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (batch->entries, i);

      if (!sqs_entry_check_contents (entry))
        req->rejected++;
      else if (!entry_inject_fault (self, entry))
        {
          sqs_entry_accept (entry, sqs_random_uuid (self->rand));
          req->accepted++;
        }
    }
}

/* The sink could not take the batch: a failed write is SQS's
 * InternalFailure (500); an engine out of reach is ServiceUnavailable (503)
 * with Retry-After, for a client and a load balancer to try again. */
static void
request_reply_sink_error (Request      *req,
                          const GError *error)
{
  if (error->domain == SQS_ERROR)
    {
      request_reply_error (req, error);
      return;
    }

  request_reply_error_full (req, SOUP_STATUS_SERVICE_UNAVAILABLE, FALSE,
                            "ServiceUnavailable", error->message);
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                "Retry-After", G_STRINGIFY (SINK_RETRY_AFTER_S));
}

/* The entries the sink stored: those still without an error code, less
 * the ones refused before it saw them */
static void
request_count_stored (Request *req)
{
  Consumer *self = req->consumer;
  guint stored = 0;

  for (guint i = 0; i < req->batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (req->batch->entries, i);

      stored += entry->error_code == NULL;
    }
  req->accepted = stored;
  self->totals.accepted += req->accepted;
  self->totals.rejected += req->rejected;
  inspector_record_entries (self->inspector, req);
}

/* Returns FALSE when a sink holds the request (request_release () replies) */
static gboolean
request_process_batch (Request *req)
{
  Consumer *self = req->consumer;
  g_autoptr(GError) error = NULL;

  if (req->batch == NULL)
    req->batch = request_parse (req, &error);
  /* A refused batch counts all its entries as rejected */
  if (req->batch != NULL && !sqs_batch_validate (req->batch, &error))
    req->rejected = req->batch->entries->len;
  if (error != NULL)
    {
      self->totals.rejected += req->rejected;
      inspector_record_refused_batch (self->inspector, req, error);
      request_reply_error (req, error);
      return TRUE;
    }

  request_settle_entries (req, req->batch);
  if (!self->sink->store (self->sink, req, &error))
    {
      consumer_log (self, "%s", error->message);
      req->accepted = 0;
      request_reply_sink_error (req, error);
      return TRUE;
    }
  if (req->held)
    return FALSE;

  request_count_stored (req);
  request_reply_batch (req, req->batch);

  return TRUE;
}

static void
request_finish (Request *req)
{
  Consumer *self = req->consumer;
  guint status = soup_server_message_get_status (req->msg);

  if (status >= 300)
    self->totals.failed_requests++;
  inspector_record_request (self->inspector, req, status);
  if (self->options->verbose)
    consumer_log (self, "POST %s -> %u (%u accepted, %u rejected)",
                  req->endpoint, status, req->accepted, req->rejected);
  if (self->latency_ms > 0)
    consumer_hold_reply (self, req->msg, self->latency_ms);
}

/* The common path of every batch request once its endpoint is known */
static void
request_run (Request *req)
{
  g_autoptr(GError) error = NULL;

  if (!check_request (req, &error))
    request_reply_error (req, error);
  else if (request_maybe_hang (req))
    {
      /* status 0: no reply */
      inspector_record_request (req->consumer->inspector, req, 0);
      return;
    }
  else if (!request_inject_failure (req) && !request_inject_garbage (req)
           && !request_process_batch (req))
    return;

  request_finish (req);
}

static void
request_init (Request           *req,
              Consumer          *self,
              SoupServerMessage *msg,
              const char        *endpoint)
{
  self->totals.requests++;
  *req = (Request) { .consumer = self, .msg = msg, .endpoint = endpoint,
                     .protocol = detect_protocol (msg),
                     .request_id = sqs_random_uuid (self->rand) };
}

static void
request_clear (Request *req)
{
  g_clear_pointer (&req->request_id, g_free);
  g_clear_pointer (&req->batch, sqs_batch_free);
}

static void
on_held_disconnected (SoupServerMessage *msg,
                      gpointer           user_data)
{
  Request *held = user_data;

  held->gone = TRUE;
}

/* For a sink that settles the entries later: moves @req to the heap (the
 * caller's copy keeps nothing to free) and pauses the reply. The returned
 * request belongs to the sink until it passes it to request_release (),
 * on the main context. */
Request *
request_hold (Request *req)
{
  Request *held = g_memdup2 (req, sizeof *req);

  req->request_id = NULL;
  req->batch = NULL;
  req->held = TRUE;
  held->held = TRUE;
  g_object_ref (held->msg);
  held->gone_id = g_signal_connect (held->msg, "disconnected",
                                    G_CALLBACK (on_held_disconnected), held);
  soup_server_message_pause (held->msg);

  return held;
}

/* The sink settled every entry of @held (stored, or failed with
 * SenderFault false): reply, unless the client went away meanwhile. */
void
request_release (Request *held)
{
  g_signal_handler_disconnect (held->msg, held->gone_id);
  request_count_stored (held);
  if (!held->gone)
    {
      request_reply_batch (held, held->batch);
      request_finish (held);
      if (held->consumer->latency_ms == 0)
        soup_server_message_unpause (held->msg);
    }
  g_object_unref (held->msg);
  request_clear (held);
  g_free (held);
}

/* GET /health, for load balancers: 200 while the sink can store events,
 * 503 (with the reason) while it cannot */
void
handle_health (SoupServer        *server,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  Consumer *self = user_data;
  g_autofree char *reason = NULL;

  if (self->sink->ready (self->sink, &reason))
    reply_take (msg, SOUP_STATUS_OK, "text/plain",
                g_strdup_printf ("ok: %s sink ready\n", self->sink->name));
  else
    {
      reply_take (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain",
                  g_strdup_printf ("unavailable: %s\n", reason));
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Retry-After", G_STRINGIFY (SINK_RETRY_AFTER_S));
    }
}

void
handle_event_batch (SoupServer        *server,
                    SoupServerMessage *msg,
                    const char        *path,
                    GHashTable        *query,
                    gpointer           user_data)
{
  Consumer *self = user_data;
  Request req;

  if (!g_str_equal (path, ENDPOINT_PRIVATE) && !g_str_equal (path, ENDPOINT_PUBLIC))
    {
      handle_not_found (self, msg, path);
      return;
    }

  request_init (&req, self, msg,
                g_str_equal (path, ENDPOINT_PRIVATE) ? ENDPOINT_PRIVATE : ENDPOINT_PUBLIC);
  request_run (&req);
  request_clear (&req);
}

/* The path of a queue URL, "http://HOST:PORT/PATH" or just "/PATH" */
static char *
queue_url_path (const char *queue_url)
{
  g_autoptr(GUri) uri = NULL;

  if (queue_url[0] == '/')
    return g_strdup (queue_url);
  uri = g_uri_parse (queue_url, G_URI_FLAGS_NONE, NULL);

  return uri != NULL ? g_strdup (g_uri_get_path (uri)) : NULL;
}

/* SQS identifies the queue by QueueUrl alone; its host is whatever the
 * client was configured with, so only the path counts here. A queue that
 * is neither endpoint does not exist (AWS.SimpleQueueService.NonExistentQueue). */
static gboolean
request_route (Request  *req,
               GError  **error)
{
  const char *queue_url = req->batch->queue_url;
  g_autofree char *path = NULL;

  if (queue_url == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter QueueUrl: requests to / "
                   "name the queue http://127.0.0.1:PORT" ENDPOINT_PRIVATE " or "
                   "http://127.0.0.1:PORT" ENDPOINT_PUBLIC ".");
      return FALSE;
    }
  path = queue_url_path (queue_url);
  if (path != NULL && g_str_equal (path, ENDPOINT_PRIVATE))
    req->endpoint = ENDPOINT_PRIVATE;
  else if (path != NULL && g_str_equal (path, ENDPOINT_PUBLIC))
    req->endpoint = ENDPOINT_PUBLIC;
  else
    {
      g_autofree char *shown = sqs_printable (queue_url, strlen (queue_url));

      g_set_error (error, SQS_ERROR, SQS_ERROR_NONEXISTENT_QUEUE,
                   "The specified queue does not exist: %s. ep-consumer has two, whose "
                   "URLs end in " ENDPOINT_PRIVATE " and " ENDPOINT_PUBLIC ".", shown);
      return FALSE;
    }

  return TRUE;
}

/* POST /: decode, route by QueueUrl, then as if posted to the endpoint */
void
handle_root (Consumer          *self,
             SoupServerMessage *msg)
{
  g_autoptr(GError) error = NULL;
  Request req;

  request_init (&req, self, msg, "/");
  if (!check_body (&req, &error)
      || (req.batch = request_parse (&req, &error)) == NULL
      || !request_route (&req, &error))
    {
      request_reply_error (&req, error);
      request_finish (&req);
    }
  else
    request_run (&req);
  request_clear (&req);
}
