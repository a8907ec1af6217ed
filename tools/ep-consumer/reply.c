/* reply.c: how ep-consumer answers: SQS replies in a request's protocol,
 * the JSON replies of /control and /api, and the 404 of an unknown path
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The leaves of the program: handler.c, faults.c and inspector.c answer
 * through these and these call nothing of theirs, so the files that decide
 * (the handler, the faults) do not call each other both ways.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ep-consumer.h"

/* ------------------------------------------------------------------------ */
/* SQS replies                                                              */

void
reply_take (SoupServerMessage *msg,
            guint              status,
            const char        *content_type,
            char              *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

/* An error in the request's protocol. The JSON protocol also carries the
 * query protocol's code and fault side in x-amzn-query-error, which the
 * AWS SDKs use for SQS's compatibility mode. */
void
request_reply_error_full (Request    *req,
                          guint       status,
                          gboolean    sender,
                          const char *code,
                          const char *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (req->msg);

  req->error_code = code;
  soup_message_headers_replace (headers, "x-amzn-RequestId", req->request_id);
  if (req->protocol == PROTOCOL_JSON)
    {
      g_autofree char *query_error = g_strdup_printf ("%s;%s", code,
                                                      sender ? "Sender" : "Receiver");

      soup_message_headers_replace (headers, "x-amzn-query-error", query_error);
      reply_take (req->msg, status, SQS_JSON_CONTENT_TYPE,
                  sqs_reply_json_error (code, message));
      return;
    }

  reply_take (req->msg, status, "text/xml",
              sqs_reply_xml_error (sender, code, message, req->request_id));
}

void
request_reply_error (Request      *req,
                     const GError *error)
{
  const SqsErrorInfo *info;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (req->msg);

  g_assert (error->domain == SQS_ERROR);

  info = sqs_error_get_info (error->code);
  request_reply_error_full (req, info->status, info->sender, info->code, error->message);
  if (error->code == SQS_ERROR_METHOD_NOT_ALLOWED)
    soup_message_headers_replace (headers, "Allow", "POST");
  if (info->status == 401)
    soup_message_headers_replace (headers, "WWW-Authenticate", "Bearer realm=\"ep-consumer\"");
}

void
request_reply_batch (Request        *req,
                     const SqsBatch *batch)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                "x-amzn-RequestId", req->request_id);
  if (req->protocol == PROTOCOL_JSON)
    reply_take (req->msg, SOUP_STATUS_OK, SQS_JSON_CONTENT_TYPE, sqs_reply_json_batch (batch));
  else
    reply_take (req->msg, SOUP_STATUS_OK, "text/xml",
                sqs_reply_xml_batch (batch, req->request_id));
}

/* ------------------------------------------------------------------------ */
/* JSON replies                                                             */

/* The JSON replies of /control and /api: never cached */
void
reply_json (SoupServerMessage *msg,
            guint              status,
            JsonBuilder       *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = json_to_string (root, FALSE);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Cache-Control", "no-store");
  reply_take (msg, status, "application/json", g_strconcat (text, "\n", NULL));
}

void
reply_json_error (SoupServerMessage *msg,
                  guint              status,
                  const char        *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "error");
  json_builder_add_string_value (builder, message);
  json_builder_end_object (builder);
  reply_json (msg, status, builder);
}

/* ------------------------------------------------------------------------ */
/* Unknown paths                                                            */

/* Logged and counted: a client posting to a wrong path (a consumer URI
 * without the endpoint's path) is the commonest setup mistake. */
void
handle_not_found (Consumer          *self,
                  SoupServerMessage *msg,
                  const char        *path)
{
  g_autofree char *shown = sqs_printable (path, strlen (path));
  const char *method = soup_server_message_get_method (msg);

  self->totals.unknown_paths++;
  consumer_log (self, "%s %s: no such endpoint (404); events go to POST " ENDPOINT_PRIVATE
                " or POST " ENDPOINT_PUBLIC, method, shown);
  g_autofree char *text = g_strdup_printf ("ep-consumer: no such endpoint %s. Endpoints: "
                                           "POST " ENDPOINT_PRIVATE ", POST " ENDPOINT_PUBLIC
                                           ", POST / (QueueUrl names one of the two), "
                                           "POST /control/fail?on=1|0, "
                                           "POST /control/hang?on=1|0, GET /control/stats, "
                                           "GET / (the inspector page), GET /api/events, "
                                           "GET /api/refused, GET /api/summary, "
                                           "GET|POST /api/faults, POST /api/reset\n",
                                           shown);

  reply_take (msg, SOUP_STATUS_NOT_FOUND, "text/plain", g_steal_pointer (&text));
}
