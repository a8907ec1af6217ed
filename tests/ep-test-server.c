/* ep-test-server.c: a scripted fake SQS consumer on a SoupServer at 127.0.0.1
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every request is recorded (path, headers, decoded form, raw key order and
 * the SendMessageBatch entries), then answered by the next scripted action.
 * Decoding, validation, checksums and replies are ep-consumer's own
 * (tools/sqs-server/): the fake differs from the real consumer only in what
 * the test scripts, never in what SQS accepts.
 * Actions that break the connection (RESET, RESET_MID_REPLY) pause the
 * message in the handler and steal the connection from an idle callback, so
 * libsoup's own I/O is never pulled out from under its feet.
 */
#include "config.h"

#include <string.h>

#include "ep-test-server.h"
#include "sqs-server.h"

typedef struct {
  EpTestActionKind  kind;
  guint             status;
  char             *content_type;  /* owned, nullable */
  char             *body;          /* owned, nullable */
  char             *retry_after;   /* owned, nullable */
} Action;

/* A message waiting for its connection to be stolen (RESET*). */
typedef struct {
  EpTestServer      *server;       /* unowned: the server outlives it */
  SoupServerMessage *msg;          /* owned ref, paused */
  EpTestActionKind   kind;
  guint              source_id;
} PendingReset;

struct _EpTestServer {
  SoupServer   *server;            /* owned */
  guint16       port;
  GQueue        script;            /* (element-type Action) owned */
  Action        default_action;
  GPtrArray    *requests;          /* (element-type EpTestRequest) owned */
  GPtrArray    *confirmed_ids;     /* (element-type utf8) owned */
  GPtrArray    *hung;              /* (element-type SoupServerMessage) owned refs, paused */
  GList        *pending_resets;    /* (element-type PendingReset) owned */
  GHashTable   *client_addresses;  /* (element-type utf8) set of "ip:port" seen */
  GStrv         sender_fault_names;
  GStrv         retryable_names;
  GStrv         poison_names;
  guint         poison_status;
  EpTestFlakyMode flaky_mode;
  guint         flaky_percent;
  GRand        *flaky_rand;        /* owned, nullable */
  guint         flaky_refusals;    /* requests or entries refused at random so far */
  gint64        date_offset_s;     /* added to the Date of every reply */
  char         *date_header;       /* nullable: the Date of every reply, as given */
  char         *age_header;        /* nullable: an Age header on every reply */
  guint64       endless_bytes;     /* written in ENDLESS bodies */
  GPtrArray    *endless;           /* (element-type SoupServerMessage) owned refs: ENDLESS replies */
};

#define ENDLESS_CHUNK_BYTES (64 * 1024)
#define ENDLESS_MAX_BYTES   (64 * 1024 * 1024)

/* ---- actions ---- */

static Action *
action_new (EpTestActionKind kind,
            guint            status,
            const char      *content_type,
            const char      *body,
            const char      *retry_after)
{
  Action *action = g_new0 (Action, 1);

  action->kind = kind;
  action->status = status;
  action->content_type = g_strdup (content_type);
  action->body = g_strdup (body);
  action->retry_after = g_strdup (retry_after);
  return action;
}

static void
action_clear (Action *action)
{
  g_clear_pointer (&action->content_type, g_free);
  g_clear_pointer (&action->body, g_free);
  g_clear_pointer (&action->retry_after, g_free);
}

static void
action_free (Action *action)
{
  action_clear (action);
  g_free (action);
}

/* ---- recorded requests ---- */

static void
entry_free (EpTestEntry *entry)
{
  g_free (entry->id);
  g_free (entry->body);
  g_free (entry->name);
  g_free (entry->headers_json);
  g_free (entry);
}

static void
request_free (EpTestRequest *request)
{
  g_free (request->path);
  g_clear_pointer (&request->http_headers, g_hash_table_unref);
  g_clear_pointer (&request->form, g_hash_table_unref);
  g_clear_pointer (&request->form_keys, g_ptr_array_unref);
  g_clear_pointer (&request->entries, g_ptr_array_unref);
  g_free (request);
}

static void
copy_header (const char *name,
             const char *value,
             gpointer    user_data)
{
  GHashTable *headers = user_data;

  g_hash_table_replace (headers, g_ascii_strdown (name, -1), g_strdup (value));
}

static char *
dup_attribute (const SqsEntry *entry,
               const char     *name)
{
  const SqsAttribute *attribute = sqs_entry_find_string_attribute (entry, name);

  return attribute != NULL ? g_strdup (attribute->string_value->str) : NULL;
}

static GPtrArray *
collect_entries (const SqsBatch *batch)
{
  GPtrArray *entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);

  for (guint i = 0; batch != NULL && i < batch->entries->len; i++)
    {
      const SqsEntry *sqs_entry = g_ptr_array_index (batch->entries, i);
      EpTestEntry *entry = g_new0 (EpTestEntry, 1);

      entry->id = sqs_entry->id != NULL ? g_strdup (sqs_entry->id->str) : NULL;
      entry->body = sqs_entry->body != NULL ? g_strdup (sqs_entry->body->str) : NULL;
      entry->name = dup_attribute (sqs_entry, "Name");
      entry->headers_json = dup_attribute (sqs_entry, "Headers");
      g_ptr_array_add (entries, entry);
    }
  return entries;
}

static GHashTable *
form_as_strings (GHashTable *params)
{
  GHashTable *form = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer name, value;

  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &name, &value))
    g_hash_table_insert (form, g_strdup (name), g_strdup (((GString *) value)->str));
  return form;
}

/* Records @msg; returns its batch, or NULL with @error set when SQS would
 * refuse to decode it (then form and entries are empty). */
static SqsBatch *
request_record (SoupServerMessage  *msg,
                EpTestRequest     **recorded,
                GError            **error)
{
  EpTestRequest *request = g_new0 (EpTestRequest, 1);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) raw = soup_message_body_flatten (body);
  /* gzip bodies (compress-requests) as ep-consumer takes them */
  const char *encoding = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                       "Content-Encoding");
  g_autoptr(GBytes) bytes = sqs_body_decode (encoding, raw, 4 * 1024 * 1024, error);
  gsize len = 0;
  const char *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
  g_autoptr(GHashTable) params = NULL;
  SqsBatch *batch = NULL;

  request->path = g_strdup (g_uri_get_path (soup_server_message_get_uri (msg)));
  request->body_bytes = g_bytes_get_size (raw);
  request->decoded_bytes = len;
  request->http_headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  soup_message_headers_foreach (soup_server_message_get_request_headers (msg),
                                copy_header, request->http_headers);
  request->form_keys = g_ptr_array_new_with_free_func (g_free);
  if (bytes != NULL)
    params = sqs_form_parse (data != NULL ? data : "", len, request->form_keys, error);
  if (params != NULL)
    batch = sqs_batch_from_form (params, NULL, NULL, error);
  request->form = params != NULL ? form_as_strings (params)
                                 : g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  request->entries = collect_entries (batch);
  *recorded = request;
  return batch;
}

static void
remember_client (EpTestServer      *self,
                 SoupServerMessage *msg)
{
  GSocketAddress *address = soup_server_message_get_remote_address (msg);
  GInetAddress *inet;
  g_autofree char *ip = NULL;

  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return;
  inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
  ip = g_inet_address_to_string (inet);
  g_hash_table_add (self->client_addresses,
                    g_strdup_printf ("%s:%u", ip,
                                     g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address))));
}

/* ---- SQS replies ---- */

static gboolean
name_listed (GStrv       names,
             const char *name)
{
  return names != NULL && name != NULL && g_strv_contains ((const char * const *) names, name);
}

static char *
error_response_body (gboolean    sender,
                     const char *code,
                     const char *message)
{
  g_autofree char *request_id = g_uuid_string_random ();

  return sqs_reply_xml_error (sender, code, message, request_id);
}

char *
ep_test_sqs_accept_body (const char * const *ids)
{
  g_autoptr(SqsBatch) batch = sqs_batch_new ();
  g_autofree char *request_id = g_uuid_string_random ();

  for (guint i = 0; ids != NULL && ids[i] != NULL; i++)
    {
      SqsEntry *entry = sqs_batch_lookup_entry (batch, i + 1);

      entry->id = g_string_new (ids[i]);
      entry->body = g_string_new ("");
    }
  sqs_batch_seal (batch);
  for (guint i = 0; i < batch->entries->len; i++)
    sqs_entry_accept (g_ptr_array_index (batch->entries, i), g_uuid_string_random ());
  return sqs_reply_xml_batch (batch, request_id);
}

/* ---- answering ---- */

static void
set_xml_response (SoupServerMessage *msg,
                  guint              status,
                  char              *body)  /* (transfer full) */
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/xml", SOUP_MEMORY_TAKE, body, strlen (body));
}

static void
answer_sqs_error (SoupServerMessage *msg,
                  const GError      *error)
{
  const SqsErrorInfo *info = sqs_error_get_info (error->code);

  set_xml_response (msg, info->status,
                    error_response_body (info->sender, info->code, error->message));
}

static gboolean
batch_has_poison (EpTestServer   *self,
                  const SqsBatch *batch)
{
  for (guint i = 0; i < batch->entries->len; i++)
    {
      const SqsEntry *entry = g_ptr_array_index (batch->entries, i);
      const SqsAttribute *name = sqs_entry_find_string_attribute (entry, "Name");

      if (name != NULL && name_listed (self->poison_names, name->string_value->str))
        return TRUE;
    }
  return FALSE;
}

/* Whether a flaky consumer refuses this time (@mode the one asked). */
static gboolean
flaky_refuses (EpTestServer    *self,
               EpTestFlakyMode  mode)
{
  if (self->flaky_mode != mode || self->flaky_rand == NULL ||
      (guint) g_rand_int_range (self->flaky_rand, 0, 100) >= self->flaky_percent)
    return FALSE;
  self->flaky_refusals++;
  return TRUE;
}

/* What SQS would do with each entry, unless the script names its event */
static void
settle_entry (EpTestServer *self,
              SqsEntry     *entry,
              gboolean      refuse_all)
{
  const SqsAttribute *attribute = sqs_entry_find_string_attribute (entry, "Name");
  const char *name = attribute != NULL ? attribute->string_value->str : NULL;

  if (!sqs_entry_check_contents (entry))
    return;
  if (refuse_all || flaky_refuses (self, EP_TEST_FLAKY_ENTRY_SENDER_FAULT))
    sqs_entry_fail (entry, "InvalidMessageContents",
                    g_strdup ("The test server refuses this at random."), TRUE);
  else if (name_listed (self->sender_fault_names, name))
    sqs_entry_fail (entry, "InvalidMessageContents",
                    g_strdup ("The test server refuses this event."), TRUE);
  else if (name_listed (self->retryable_names, name))
    sqs_entry_fail (entry, "InternalError",
                    g_strdup ("The test server fails this event for now."), FALSE);
  else
    {
      sqs_entry_accept (entry, g_uuid_string_random ());
      g_ptr_array_add (self->confirmed_ids, g_strdup (entry->id->str));
    }
}

static void
answer_accept (EpTestServer      *self,
               SoupServerMessage *msg,
               SqsBatch          *batch,
               const GError      *decode_error)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *request_id = NULL;
  gboolean refuse_all;

  if (decode_error != NULL)
    {
      answer_sqs_error (msg, decode_error);
      return;
    }
  if (!sqs_batch_validate (batch, &error))
    {
      answer_sqs_error (msg, error);
      return;
    }
  if (flaky_refuses (self, EP_TEST_FLAKY_REQUEST_413))
    {
      soup_server_message_set_status (msg, 413, NULL);
      soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_STATIC,
                                        "<html>413 Request Entity Too Large</html>", 40);
      return;
    }
  if (flaky_refuses (self, EP_TEST_FLAKY_REQUEST_400))
    {
      set_xml_response (msg, 400, error_response_body (TRUE, "InvalidParameterValue",
                                                       "The test server refuses this request at random."));
      return;
    }
  refuse_all = flaky_refuses (self, EP_TEST_FLAKY_REQUEST_SENDER_FAULT);
  if (batch_has_poison (self, batch))
    {
      gboolean too_long = self->poison_status == 413;

      set_xml_response (msg, self->poison_status,
                        error_response_body (TRUE,
                                             too_long ? SQS_ERROR_PREFIX "BatchRequestTooLong"
                                                      : "InvalidMessageContents",
                                             "The test server refuses a poison event in this batch."));
      return;
    }

  for (guint i = 0; i < batch->entries->len; i++)
    settle_entry (self, g_ptr_array_index (batch->entries, i), refuse_all);
  request_id = g_uuid_string_random ();
  set_xml_response (msg, SOUP_STATUS_OK, sqs_reply_xml_batch (batch, request_id));
}

static void
answer_canned (SoupServerMessage *msg,
               const Action      *action)
{
  const char *body = action->body != NULL ? action->body : "";
  const char *content_type = action->content_type != NULL ? action->content_type : "text/xml";

  soup_server_message_set_status (msg, action->status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_COPY, body, strlen (body));
  if (action->retry_after != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                  "Retry-After", action->retry_after);
}

static void
write_half_reply (GIOStream *stream)
{
  static const char half_body[] =
    "<?xml version=\"1.0\"?>\n"
    "<SendMessageBatchResponse xmlns=\"" SQS_NAMESPACE "\">\n"
    "  <SendMessageBatchResult>\n"
    "    <SendMessageBatchResultEntry>\n"
    "      <Id>";
  g_autofree char *head = g_strdup_printf ("HTTP/1.1 200 OK\r\n"
                                           "Content-Type: text/xml\r\n"
                                           "Content-Length: %zu\r\n"
                                           "\r\n", 2 * strlen (half_body) + 100);
  GOutputStream *out = g_io_stream_get_output_stream (stream);

  /* Loopback and a few hundred bytes: the blocking writes cannot stall. */
  g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
  g_output_stream_write_all (out, half_body, strlen (half_body), NULL, NULL, NULL);
  g_output_stream_flush (out, NULL, NULL);
}

static void
pending_reset_free (PendingReset *pending)
{
  g_clear_handle_id (&pending->source_id, g_source_remove);
  g_clear_object (&pending->msg);
  g_free (pending);
}

static gboolean
pending_reset_run (gpointer user_data)
{
  PendingReset *pending = user_data;
  EpTestServer *self = pending->server;
  g_autoptr(GIOStream) stream = NULL;

  pending->source_id = 0;
  stream = soup_server_message_steal_connection (pending->msg);
  if (stream != NULL)
    {
      if (pending->kind == EP_TEST_ACTION_RESET_MID_REPLY)
        write_half_reply (stream);
      g_io_stream_close (stream, NULL, NULL);
    }
  self->pending_resets = g_list_remove (self->pending_resets, pending);
  pending_reset_free (pending);
  return G_SOURCE_REMOVE;
}

static void
schedule_reset (EpTestServer      *self,
                SoupServerMessage *msg,
                EpTestActionKind   kind)
{
  PendingReset *pending = g_new0 (PendingReset, 1);

  soup_server_message_pause (msg);
  pending->server = self;
  pending->msg = g_object_ref (msg);
  pending->kind = kind;
  pending->source_id = g_idle_add (pending_reset_run, pending);
  self->pending_resets = g_list_prepend (self->pending_resets, pending);
}

/* ENDLESS: one more chunk of blanks each time one was written, until the
 * client goes away (or the cap, where the document is closed). */
static void
endless_wrote_chunk (SoupServerMessage *msg,
                     EpTestServer      *self)
{
  static const char blanks[ENDLESS_CHUNK_BYTES] = { [0 ... ENDLESS_CHUNK_BYTES - 1] = ' ' };
  SoupMessageBody *body = soup_server_message_get_response_body (msg);

  if (self->endless_bytes >= ENDLESS_MAX_BYTES)
    {
      soup_message_body_append (body, SOUP_MEMORY_STATIC, "</SendMessageBatchResponse>\n",
                                strlen ("</SendMessageBatchResponse>\n"));
      soup_message_body_complete (body);
      return;
    }
  soup_message_body_append (body, SOUP_MEMORY_STATIC, blanks, sizeof blanks);
  self->endless_bytes += sizeof blanks;
}

static void
answer_endless (EpTestServer      *self,
                SoupServerMessage *msg)
{
  static const char head[] =
    "<?xml version=\"1.0\"?>\n"
    "<SendMessageBatchResponse xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\n";
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);

  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (headers, "text/xml", NULL);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_body_append (soup_server_message_get_response_body (msg), SOUP_MEMORY_STATIC,
                            head, strlen (head));
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (endless_wrote_chunk), self);
  if (self->endless == NULL)
    self->endless = g_ptr_array_new_with_free_func (g_object_unref);
  g_ptr_array_add (self->endless, g_object_ref (msg));
}

static const Action *
next_action (EpTestServer *self,
             Action      **owned)
{
  *owned = g_queue_pop_head (&self->script);
  return *owned != NULL ? *owned : &self->default_action;
}

/* SoupServer set the Date before calling the handler: replace it. */
static void
set_date_offset (SoupServerMessage *msg,
                 gint64             offset_s)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) date = g_date_time_add_seconds (now, (gdouble) offset_s);
  g_autofree char *text = soup_date_time_to_string (date, SOUP_DATE_HTTP);

  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Date", text);
}

static void
server_callback (SoupServer        *server,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  EpTestServer *self = user_data;
  EpTestRequest *request = NULL;
  g_autoptr(GError) decode_error = NULL;
  g_autoptr(SqsBatch) batch = request_record (msg, &request, &decode_error);
  Action *owned = NULL;
  const Action *action = next_action (self, &owned);

  remember_client (self, msg);
  g_ptr_array_add (self->requests, request);
  if (self->date_offset_s != 0)
    set_date_offset (msg, self->date_offset_s);
  if (self->date_header != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Date",
                                  self->date_header);
  if (self->age_header != NULL)
    soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Age",
                                  self->age_header);

  switch (action->kind)
    {
    case EP_TEST_ACTION_ACCEPT:
      answer_accept (self, msg, batch, decode_error);
      break;
    case EP_TEST_ACTION_REPLY:
      answer_canned (msg, action);
      break;
    case EP_TEST_ACTION_HANG:
      soup_server_message_pause (msg);
      g_ptr_array_add (self->hung, g_object_ref (msg));
      break;
    case EP_TEST_ACTION_RESET:
    case EP_TEST_ACTION_RESET_MID_REPLY:
      schedule_reset (self, msg, action->kind);
      break;
    case EP_TEST_ACTION_ENDLESS:
      answer_endless (self, msg);
      break;
    default:
      g_assert_not_reached ();
    }
  g_clear_pointer (&owned, action_free);
}

/* ---- public API ---- */

/* Not soup_server_get_uris(): libsoup 3.2 leaks a GSocketAddress there. */
static guint16
listening_port (SoupServer *server)
{
  GSList *listeners = soup_server_get_listeners (server);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (listeners);
  address = g_socket_get_local_address (listeners->data, &error);
  g_assert_no_error (error);
  g_slist_free (listeners);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
}

EpTestServer *
ep_test_server_new (void)
{
  EpTestServer *self = g_new0 (EpTestServer, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GError) error = NULL;

  self->server = soup_server_new ("server-header", "ep-test-server ", NULL);
  g_queue_init (&self->script);
  self->default_action.kind = EP_TEST_ACTION_ACCEPT;
  self->requests = g_ptr_array_new_with_free_func ((GDestroyNotify) request_free);
  self->confirmed_ids = g_ptr_array_new_with_free_func (g_free);
  self->hung = g_ptr_array_new_with_free_func (g_object_unref);
  self->client_addresses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->poison_status = 400;

  soup_server_add_handler (self->server, NULL, server_callback, self, NULL);
  if (!soup_server_listen (self->server, address, 0, &error))
    g_error ("ep-test-server: cannot listen on 127.0.0.1: %s", error->message);

  self->port = listening_port (self->server);
  return self;
}

void
ep_test_server_free (EpTestServer *self)
{
  if (self == NULL)
    return;

  g_list_free_full (g_steal_pointer (&self->pending_resets), (GDestroyNotify) pending_reset_free);
  /* An ENDLESS reply may still be writing: it must not call back into a
   * freed server. */
  for (guint i = 0; self->endless != NULL && i < self->endless->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (self->endless, i), self);
  g_clear_pointer (&self->endless, g_ptr_array_unref);
  soup_server_disconnect (self->server);
  g_clear_pointer (&self->hung, g_ptr_array_unref);
  g_clear_object (&self->server);
  g_queue_clear_full (&self->script, (GDestroyNotify) action_free);
  action_clear (&self->default_action);
  g_clear_pointer (&self->requests, g_ptr_array_unref);
  g_clear_pointer (&self->confirmed_ids, g_ptr_array_unref);
  g_clear_pointer (&self->client_addresses, g_hash_table_unref);
  g_clear_pointer (&self->sender_fault_names, g_strfreev);
  g_clear_pointer (&self->retryable_names, g_strfreev);
  g_clear_pointer (&self->poison_names, g_strfreev);
  g_free (self->date_header);
  g_free (self->age_header);
  g_clear_pointer (&self->flaky_rand, g_rand_free);
  g_free (self);
}

char *
ep_test_server_dup_uri (EpTestServer *self,
                        const char   *path)
{
  return g_strdup_printf ("http://127.0.0.1:%u%s", self->port, path ? path : "");
}

guint16
ep_test_server_get_port (EpTestServer *self)
{
  return self->port;
}

void
ep_test_server_push_accept (EpTestServer *self)
{
  g_queue_push_tail (&self->script, action_new (EP_TEST_ACTION_ACCEPT, 200, NULL, NULL, NULL));
}

void
ep_test_server_push_reply (EpTestServer *self,
                           guint         status,
                           const char   *content_type,
                           const char   *body,
                           const char   *retry_after)
{
  g_queue_push_tail (&self->script,
                     action_new (EP_TEST_ACTION_REPLY, status, content_type, body, retry_after));
}

void
ep_test_server_push_hang (EpTestServer *self)
{
  g_queue_push_tail (&self->script, action_new (EP_TEST_ACTION_HANG, 0, NULL, NULL, NULL));
}

void
ep_test_server_push_reset (EpTestServer *self)
{
  g_queue_push_tail (&self->script, action_new (EP_TEST_ACTION_RESET, 0, NULL, NULL, NULL));
}

void
ep_test_server_push_reset_mid_reply (EpTestServer *self)
{
  g_queue_push_tail (&self->script, action_new (EP_TEST_ACTION_RESET_MID_REPLY, 0, NULL, NULL, NULL));
}

void
ep_test_server_push_endless (EpTestServer *self)
{
  g_queue_push_tail (&self->script, action_new (EP_TEST_ACTION_ENDLESS, 200, NULL, NULL, NULL));
}

guint64
ep_test_server_get_endless_bytes (EpTestServer *self)
{
  return self->endless_bytes;
}

void
ep_test_server_set_default (EpTestServer     *self,
                            EpTestActionKind  kind,
                            guint             status,
                            const char       *body,
                            const char       *retry_after)
{
  action_clear (&self->default_action);
  self->default_action.kind = kind;
  self->default_action.status = status;
  self->default_action.body = g_strdup (body);
  self->default_action.retry_after = g_strdup (retry_after);
}

void
ep_test_server_set_sender_fault_names (EpTestServer       *self,
                                       const char * const *names)
{
  g_strfreev (self->sender_fault_names);
  self->sender_fault_names = g_strdupv ((GStrv) names);
}

void
ep_test_server_set_retryable_names (EpTestServer       *self,
                                    const char * const *names)
{
  g_strfreev (self->retryable_names);
  self->retryable_names = g_strdupv ((GStrv) names);
}

void
ep_test_server_set_poison_names (EpTestServer       *self,
                                 const char * const *names,
                                 guint               status)
{
  g_strfreev (self->poison_names);
  self->poison_names = g_strdupv ((GStrv) names);
  self->poison_status = status;
}

void
ep_test_server_set_flaky (EpTestServer    *self,
                          EpTestFlakyMode  mode,
                          guint            percent,
                          guint32          seed)
{
  g_clear_pointer (&self->flaky_rand, g_rand_free);
  self->flaky_mode = mode;
  self->flaky_percent = MIN (percent, 100);
  if (mode != EP_TEST_FLAKY_NONE)
    self->flaky_rand = g_rand_new_with_seed (seed);
}

guint
ep_test_server_get_flaky_refusals (EpTestServer *self)
{
  return self->flaky_refusals;
}

void
ep_test_server_release_hung (EpTestServer *self)
{
  ep_test_server_release_hung_with_status (self, SOUP_STATUS_INTERNAL_SERVER_ERROR);
}

void
ep_test_server_release_hung_with_status (EpTestServer *self,
                                         guint         status)
{
  for (guint i = 0; i < self->hung->len; i++)
    {
      SoupServerMessage *msg = g_ptr_array_index (self->hung, i);

      set_xml_response (msg, status,
                        error_response_body (FALSE, "InternalError",
                                             "The test server released a hung request."));
      soup_server_message_unpause (msg);
    }
  g_ptr_array_set_size (self->hung, 0);
}

GPtrArray *
ep_test_server_get_requests (EpTestServer *self)
{
  return self->requests;
}

guint
ep_test_server_get_n_requests (EpTestServer *self)
{
  return self->requests->len;
}

GPtrArray *
ep_test_server_get_confirmed_ids (EpTestServer *self)
{
  return self->confirmed_ids;
}

guint
ep_test_server_get_n_hung (EpTestServer *self)
{
  return self->hung->len;
}

guint
ep_test_server_get_n_connections (EpTestServer *self)
{
  return g_hash_table_size (self->client_addresses);
}

void
ep_test_server_set_date_offset (EpTestServer *self,
                                gint64        offset_s)
{
  self->date_offset_s = offset_s;
}

void
ep_test_server_set_clock_headers (EpTestServer *self,
                                  const char   *date,
                                  const char   *age)
{
  g_free (self->date_header);
  self->date_header = g_strdup (date);
  g_free (self->age_header);
  self->age_header = g_strdup (age);
}

guint
ep_test_server_count_entries (EpTestServer *self,
                              const char   *name)
{
  guint n = 0;

  for (guint i = 0; i < self->requests->len; i++)
    {
      EpTestRequest *request = g_ptr_array_index (self->requests, i);

      for (guint j = 0; j < request->entries->len; j++)
        n += g_strcmp0 (((EpTestEntry *) g_ptr_array_index (request->entries, j))->name, name) == 0;
    }
  return n;
}
