/* inspector.c: the live inspector page and its JSON API
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ep-consumer keeps the events it accepted last, the events it refused
 * with the reason, counts per event name and category, and the outcomes
 * of the last requests, in memory, for a developer to watch:
 *
 *   GET  /                      the page (inspector/ in this folder, compiled
 *                               into the binary as a GResource: no external
 *                               assets, works offline)
 *   GET  /inspector/FILE        its style sheet and script
 *   GET  /api/events?name=&category=&after=&limit=
 *                               accepted events, newest first: those with a
 *                               seq above after (0), at most limit (100)
 *   GET  /api/refused?after=&limit=
 *                               refused events (SenderFault true), with
 *                               the code and reason, newest first
 *   GET  /api/summary           counts per name and category, outcomes per
 *                               status, the last requests, the totals
 *   GET  /api/faults            the fault switches and rates
 *   POST /api/faults            set fail, fail_status, hang, latency_ms
 *                               (a JSON object, or the same as a form)
 *   POST /api/reset             forget what the inspector kept
 *
 * POSTs to / stay SQS (handler.c): only GET (and HEAD) of / is the page.
 * The read paths of the API answer GET only; anything else there is an
 * unknown path (404, counted and logged, as a producer posting events to
 * a wrong path is told).
 *
 * Bounded memory: at most --inspector-events accepted events and as many
 * refused ones (each ring also within INSPECTOR_RING_BYTES), counts for at
 * most INSPECTOR_MAX_NAMES names (later ones count as "(other names)"),
 * the last INSPECTOR_RECENT_REQUESTS requests. The access token in an
 * event's "authorization" header is never kept.
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "ep-consumer.h"

#define RESOURCE_PREFIX  "/org/ep-glib/ep-consumer/inspector/"
#define DEFAULT_LIMIT    100
#define OTHER_NAMES      "(other names)"
#define NO_NAME          "(no name)"
#define NO_CATEGORY      "(none)"

/* One event, accepted or refused */
typedef struct {
  guint64     seq;
  char       *id;          /* the entry's Id: ep-glib's event id */
  char       *name;        /* nullable */
  char       *category;    /* nullable: the consent-category header */
  const char *endpoint;    /* static */
  gint64      sent_ms;     /* requested-sent-timestamp; -1 when absent */
  char       *received;   /* ISO 8601, UTC */
  gsize       size;        /* the payload's bytes */
  char       *payload;
  JsonNode   *headers;     /* owned, redacted; an object, a string or NULL */
  GString    *flat_headers; /* owned, redacted, nullable: instead of headers, a
                             * flat object's text (json_line_scan_flat_object),
                             * parsed when the API lists the record */
  const char *code;        /* refused only: the error code (static) */
  char       *reason;      /* refused only */
  gsize       cost;        /* bytes counted against the ring */
} Record;

typedef struct {
  GQueue  records;         /* Record, newest first */
  gsize   bytes;
  guint64 dropped;         /* pushed out by newer ones since the reset */
} Ring;

/* One request's outcome */
typedef struct {
  char       *time;        /* ISO 8601, UTC */
  const char *endpoint;    /* static */
  guint       status;      /* 0: no reply (hung) */
  const char *code;        /* static, nullable: the error code of the reply */
  guint       accepted;
  guint       refused;
  guint       failed;      /* entries failed for now (SenderFault false) */
} Outcome;

struct _Inspector {
  Consumer   *consumer;
  guint       capacity;    /* --inspector-events */
  guint64     last_seq;
  guint64     epoch;       /* resets so far */
  Ring        events;
  Ring        refused;
  GHashTable *names;       /* char * -> guint64 *, at most INSPECTOR_MAX_NAMES */
  GHashTable *categories;  /* char * -> guint64 * */
  GHashTable *statuses;    /* status -> count */
  GQueue      outcomes;    /* Outcome, newest first */
};

static void
record_free (gpointer data)
{
  Record *record = data;

  g_free (record->id);
  g_free (record->name);
  g_free (record->category);
  g_free (record->received);
  g_free (record->payload);
  g_clear_pointer (&record->headers, json_node_unref);
  if (record->flat_headers != NULL)
    g_string_free (record->flat_headers, TRUE);
  g_free (record->reason);
  g_free (record);
}

static void
outcome_free (gpointer data)
{
  Outcome *outcome = data;

  g_free (outcome->time);
  g_free (outcome);
}

static void
ring_clear (Ring *ring)
{
  g_queue_clear_full (&ring->records, record_free);
  ring->bytes = 0;
  ring->dropped = 0;
}

Inspector *
inspector_new (Consumer *consumer,
               guint     capacity)
{
  Inspector *self = g_new0 (Inspector, 1);

  self->consumer = consumer;
  self->capacity = capacity;
  self->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->categories = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->statuses = g_hash_table_new (NULL, NULL);

  return self;
}

static void
inspector_reset (Inspector *self)
{
  ring_clear (&self->events);
  ring_clear (&self->refused);
  g_hash_table_remove_all (self->names);
  g_hash_table_remove_all (self->categories);
  g_hash_table_remove_all (self->statuses);
  g_queue_clear_full (&self->outcomes, outcome_free);
  self->epoch++;
}

void
inspector_free (Inspector *self)
{
  inspector_reset (self);
  g_hash_table_unref (self->names);
  g_hash_table_unref (self->categories);
  g_hash_table_unref (self->statuses);
  g_free (self);
}

/* ------------------------------------------------------------------------ */
/* Recording                                                                */

static void
count (GHashTable *table,
       const char *key,
       guint       max_keys)
{
  guint64 *n = g_hash_table_lookup (table, key);

  if (n == NULL && g_hash_table_size (table) >= max_keys)
    {
      key = OTHER_NAMES;
      n = g_hash_table_lookup (table, key);
    }
  if (n == NULL)
    {
      n = g_new0 (guint64, 1);
      g_hash_table_insert (table, g_strdup (key), n);
    }
  (*n)++;
}

static void
ring_push (Ring   *ring,
           Record *record,
           guint   capacity)
{
  g_queue_push_head (&ring->records, record);
  ring->bytes += record->cost;
  while (ring->records.length > capacity || ring->bytes > INSPECTOR_RING_BYTES)
    {
      Record *oldest = g_queue_pop_tail (&ring->records);

      ring->bytes -= oldest->cost;
      ring->dropped++;
      record_free (oldest);
    }
}

static const char *
string_member (JsonObject *object,
               const char *name)
{
  JsonNode *node = json_object_get_member (object, name);

  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_STRING
         ? json_node_get_string (node) : NULL;
}

static void
record_set_sent (Record     *record,
                 const char *sent)
{
  gint64 ms;

  if (sent != NULL && g_ascii_string_to_signed (sent, 10, 0, G_MAXINT64, &ms, NULL))
    record->sent_ms = ms;
}

#define FLAT_NAME_IS(name, len, literal) \
  ((len) == strlen (literal) && memcmp ((name), (literal), (len)) == 0)

/* A member of a flat Headers object: the access token's value is not
 * copied, the category and sent time are read */
static void
record_add_flat_member (const char *name,
                        gsize       name_len,
                        const char *value,
                        gsize       value_len,
                        gpointer    user_data)
{
  Record *record = user_data;
  GString *out = record->flat_headers;

  if (out->len > 1)
    g_string_append_c (out, ',');
  g_string_append_c (out, '"');
  g_string_append_len (out, name, name_len);
  g_string_append (out, "\":\"");
  if (FLAT_NAME_IS (name, name_len, "authorization"))
    g_string_append (out, "(not kept)");
  else
    g_string_append_len (out, value, value_len);
  g_string_append_c (out, '"');
  if (FLAT_NAME_IS (name, name_len, "consent-category"))
    record->category = g_strndup (value, value_len);
  else if (FLAT_NAME_IS (name, name_len, "requested-sent-timestamp"))
    {
      g_autofree char *sent = g_strndup (value, value_len);

      record_set_sent (record, sent);
    }
}

/* The headers without the access token; category and sent time read. A
 * flat object (what ep-glib sends) is kept as text, without parsing it:
 * JsonParser would give the same object when the API lists it. */
static void
record_set_headers (Record         *record,
                    const SqsEntry *entry)
{
  const SqsAttribute *attribute = sqs_entry_find_string_attribute (entry, "Headers");
  JsonNode *headers;
  JsonObject *object;

  if (attribute == NULL)
    return;
  if (json_line_scan_flat_object (attribute->string_value->str, attribute->string_value->len,
                                  NULL, NULL))
    {
      record->flat_headers = g_string_sized_new (attribute->string_value->len + 16);
      g_string_append_c (record->flat_headers, '{');
      json_line_scan_flat_object (attribute->string_value->str, attribute->string_value->len,
                                  record_add_flat_member, record);
      g_string_append_c (record->flat_headers, '}');
      return;
    }

  record->headers = headers = event_headers_node (entry);
  if (!JSON_NODE_HOLDS_OBJECT (headers))
    return;
  object = json_node_get_object (headers);
  if (json_object_has_member (object, "authorization"))
    json_object_set_string_member (object, "authorization", "(not kept)");
  record->category = g_strdup (string_member (object, "consent-category"));
  record_set_sent (record, string_member (object, "requested-sent-timestamp"));
}

/* The record's headers as a node (new), NULL without any */
static JsonNode *
record_headers_node (const Record *record)
{
  g_autoptr(JsonParser) parser = NULL;

  if (record->flat_headers == NULL)
    return record->headers != NULL ? json_node_copy (record->headers) : NULL;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, record->flat_headers->str, record->flat_headers->len,
                                   NULL))
    g_assert_not_reached ();

  return json_node_copy (json_parser_get_root (parser));
}

static Record *
record_new (Inspector      *self,
            const SqsEntry *entry,
            const char     *endpoint,
            const char     *received)
{
  Record *record = g_new0 (Record, 1);
  const SqsAttribute *name = sqs_entry_find_string_attribute (entry, "Name");

  /* A batch refused whole may hold anything: the JSON API gets UTF-8 */
  record->seq = ++self->last_seq;
  record->id = entry->id != NULL ? g_utf8_make_valid (entry->id->str, entry->id->len)
                                 : g_strdup ("");
  record->name = name != NULL ? g_utf8_make_valid (name->string_value->str,
                                                   name->string_value->len) : NULL;
  record->endpoint = endpoint;
  record->sent_ms = -1;
  record->received = g_strdup (received);
  record->payload = entry->body != NULL ? g_utf8_make_valid (entry->body->str, entry->body->len)
                                        : g_strdup ("");
  record->size = entry->body != NULL ? entry->body->len : 0;
  record_set_headers (record, entry);
  /* The strings, roughly twice the payload for the JSON copies, and the rest */
  record->cost = sizeof *record + record->size + strlen (record->id) + 512
                 + (name != NULL ? name->string_value->len : 0);
  if (entry->attributes != NULL)
    for (guint i = 0; i < entry->attributes->len; i++)
      {
        const SqsAttribute *a = g_ptr_array_index (entry->attributes, i);

        record->cost += a->string_value != NULL ? a->string_value->len * 2 : 0;
      }

  return record;
}

static void
inspector_add (Inspector      *self,
               const SqsEntry *entry,
               const char     *endpoint,
               const char     *received,
               const char     *code,
               const char     *reason)
{
  Record *record;

  if (self->capacity == 0)
    return;
  record = record_new (self, entry, endpoint, received);
  if (reason == NULL)
    {
      count (self->names, record->name != NULL ? record->name : NO_NAME,
             INSPECTOR_MAX_NAMES);
      count (self->categories, record->category != NULL ? record->category : NO_CATEGORY,
             INSPECTOR_MAX_NAMES);
      ring_push (&self->events, record, self->capacity);
      return;
    }
  record->code = code;
  record->reason = g_utf8_make_valid (reason, -1);
  record->cost += strlen (reason);
  ring_push (&self->refused, record, self->capacity);
}

/* The entries of a batch the sink stored (or failed): called once per
 * request, when its entries are settled */
void
inspector_record_entries (Inspector     *self,
                          const Request *req)
{
  g_autofree char *received = now_iso8601 ();

  for (guint i = 0; i < req->batch->entries->len; i++)
    {
      const SqsEntry *entry = g_ptr_array_index (req->batch->entries, i);

      if (entry->error_code == NULL)
        inspector_add (self, entry, req->endpoint, received, NULL, NULL);
      else if (entry->sender_fault)
        inspector_add (self, entry, req->endpoint, received, entry->error_code,
                       entry->error_message);
    }
}

/* A batch refused whole: each of its entries, with the request's reason */
void
inspector_record_refused_batch (Inspector     *self,
                                const Request *req,
                                const GError  *error)
{
  g_autofree char *received = now_iso8601 ();
  const char *code = sqs_error_get_info (error->code)->code;

  for (guint i = 0; req->batch != NULL && i < req->batch->entries->len; i++)
    inspector_add (self, g_ptr_array_index (req->batch->entries, i), req->endpoint,
                   received, code, error->message);
}

/* A request's outcome; @status 0 when it is left unanswered */
void
inspector_record_request (Inspector     *self,
                          const Request *req,
                          guint          status)
{
  Outcome *outcome;

  if (self->capacity == 0)
    return;
  outcome = g_new0 (Outcome, 1);
  outcome->time = now_iso8601 ();
  outcome->endpoint = req->endpoint;
  outcome->status = status;
  outcome->code = status >= 300 || status == 0 ? req->error_code : NULL;
  outcome->accepted = req->accepted;
  /* A 200 reply settles each entry: refused for good or failed for now */
  outcome->refused = status == 200 ? 0 : req->rejected;
  for (guint i = 0; status == 200 && req->batch != NULL && i < req->batch->entries->len; i++)
    {
      const SqsEntry *entry = g_ptr_array_index (req->batch->entries, i);

      if (entry->error_code != NULL && entry->sender_fault)
        outcome->refused++;
      else if (entry->error_code != NULL)
        outcome->failed++;
    }
  g_hash_table_insert (self->statuses, GUINT_TO_POINTER (status),
                       GSIZE_TO_POINTER (GPOINTER_TO_SIZE (g_hash_table_lookup (
                         self->statuses, GUINT_TO_POINTER (status))) + 1));
  g_queue_push_head (&self->outcomes, outcome);
  if (self->outcomes.length > INSPECTOR_RECENT_REQUESTS)
    outcome_free (g_queue_pop_tail (&self->outcomes));
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
add_record (JsonBuilder  *builder,
            const Record *record)
{
  JsonNode *headers;

  json_builder_begin_object (builder);
  add_int (builder, "seq", record->seq);
  add_string_member (builder, "id", record->id);
  add_string_member (builder, "name", record->name);
  add_string_member (builder, "category", record->category);
  add_string_member (builder, "endpoint", record->endpoint);
  json_builder_set_member_name (builder, "sent_ms");
  if (record->sent_ms >= 0)
    json_builder_add_int_value (builder, record->sent_ms);
  else
    json_builder_add_null_value (builder);
  add_string_member (builder, "received", record->received);
  add_int (builder, "size", record->size);
  add_string_member (builder, "payload", record->payload);
  json_builder_set_member_name (builder, "headers");
  headers = record_headers_node (record);
  if (headers != NULL)
    json_builder_add_value (builder, headers);
  else
    json_builder_add_null_value (builder);
  if (record->reason != NULL)
    {
      add_string_member (builder, "code", record->code);
      add_string_member (builder, "reason", record->reason);
    }
  json_builder_end_object (builder);
}

static gboolean
query_uint (GHashTable  *query,
            const char  *name,
            guint64      max,
            guint64     *value,
            char       **message)
{
  const char *text = query != NULL ? g_hash_table_lookup (query, name) : NULL;

  if (text == NULL || *text == '\0')
    return TRUE;
  if (g_ascii_string_to_unsigned (text, 10, 0, max, value, NULL))
    return TRUE;

  *message = g_strdup_printf ("%s must be an integer from 0 to %" G_GUINT64_FORMAT
                              ", not '%s'.", name, max, text);
  return FALSE;
}

static gboolean
record_matches (const Record *record,
                const char   *name,
                const char   *category)
{
  return (name == NULL || *name == '\0' || g_strcmp0 (record->name, name) == 0)
         && (category == NULL || *category == '\0'
             || g_strcmp0 (record->category, category) == 0);
}

/* GET /api/events and /api/refused */
static void
handle_list (Inspector         *self,
             SoupServerMessage *msg,
             GHashTable        *query,
             Ring              *ring,
             const char        *member)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *message = NULL;
  guint64 after = 0, limit = DEFAULT_LIMIT;
  const char *name = query != NULL ? g_hash_table_lookup (query, "name") : NULL;
  const char *category = query != NULL ? g_hash_table_lookup (query, "category") : NULL;
  guint n = 0;

  if (!query_uint (query, "after", G_MAXUINT64, &after, &message)
      || !query_uint (query, "limit", MAX (self->capacity, 1), &limit, &message))
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST, message);
      return;
    }

  json_builder_begin_object (builder);
  add_int (builder, "epoch", self->epoch);
  add_int (builder, "last_seq", self->last_seq);
  add_int (builder, "kept", ring->records.length);
  add_int (builder, "capacity", self->capacity);
  add_int (builder, "dropped", ring->dropped);
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (GList *l = ring->records.head; l != NULL && n < limit; l = l->next)
    {
      const Record *record = l->data;

      if (record->seq <= after)
        break;
      if (!record_matches (record, name, category))
        continue;
      add_record (builder, record);
      n++;
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  reply_json (msg, SOUP_STATUS_OK, builder);
}

static void
add_counts (JsonBuilder *builder,
            const char  *member,
            GHashTable  *table)
{
  GHashTableIter iter;
  gpointer key, value;

  json_builder_set_member_name (builder, member);
  json_builder_begin_object (builder);
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    add_int (builder, key, *(guint64 *) value);
  json_builder_end_object (builder);
}

static void
add_outcomes (JsonBuilder *builder,
              Inspector   *self)
{
  GHashTableIter iter;
  gpointer key, value;

  json_builder_set_member_name (builder, "statuses");
  json_builder_begin_object (builder);
  g_hash_table_iter_init (&iter, self->statuses);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_autofree char *status = g_strdup_printf ("%u", GPOINTER_TO_UINT (key));

      add_int (builder, status, GPOINTER_TO_SIZE (value));
    }
  json_builder_end_object (builder);

  json_builder_set_member_name (builder, "requests");
  json_builder_begin_array (builder);
  for (GList *l = self->outcomes.head; l != NULL; l = l->next)
    {
      const Outcome *outcome = l->data;

      json_builder_begin_object (builder);
      add_string_member (builder, "time", outcome->time);
      add_string_member (builder, "endpoint", outcome->endpoint);
      add_int (builder, "status", outcome->status);
      add_string_member (builder, "code", outcome->code);
      add_int (builder, "accepted", outcome->accepted);
      add_int (builder, "refused", outcome->refused);
      add_int (builder, "failed", outcome->failed);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
}

/* GET /api/summary */
static void
handle_summary (Inspector         *self,
                SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  add_int (builder, "epoch", self->epoch);
  add_int (builder, "capacity", self->capacity);
  add_counts (builder, "names", self->names);
  add_counts (builder, "categories", self->categories);
  add_outcomes (builder, self);
  json_builder_set_member_name (builder, "totals");
  json_builder_begin_object (builder);
  consumer_add_totals (self->consumer, builder);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "faults");
  json_builder_begin_object (builder);
  consumer_add_faults (self->consumer, builder);
  json_builder_end_object (builder);
  json_builder_end_object (builder);
  reply_json (msg, SOUP_STATUS_OK, builder);
}

static void
reply_faults (Inspector         *self,
              SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  consumer_add_faults (self->consumer, builder);
  json_builder_end_object (builder);
  reply_json (msg, SOUP_STATUS_OK, builder);
}

/* POST /api/faults: a JSON object {"fail": true, "fail_status": 503,
 * "hang": false, "latency_ms": 0} (any of them), or the same as a form */
static void
handle_set_faults (Inspector         *self,
                   SoupServerMessage *msg,
                   GHashTable        *query)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  g_autoptr(GHashTable) params = NULL;
  g_autofree char *message = NULL;
  const char *type = soup_message_headers_get_content_type (headers, NULL);

  if (type != NULL && g_ascii_strcasecmp (type, "application/json") == 0)
    params = faults_params_from_json (bytes, &message);
  else
    params = faults_params_from_form (bytes, query);
  if (params == NULL && message == NULL)
    message = g_strdup ("Name at least one of fail, fail_status, hang, latency_ms.");
  if (message != NULL || !consumer_set_faults (self->consumer, params, &message))
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST, message);
      return;
    }
  reply_faults (self, msg);
}

/* ------------------------------------------------------------------------ */
/* The page                                                                 */

static const char *
content_type_for (const char *name)
{
  if (g_str_has_suffix (name, ".css"))
    return "text/css; charset=utf-8";
  if (g_str_has_suffix (name, ".js"))
    return "text/javascript; charset=utf-8";

  return "text/html; charset=utf-8";
}

/* A file of the page, from the GResource; nothing else is reachable */
static gboolean
serve_resource (SoupServerMessage *msg,
                const char        *name)
{
  g_autofree char *path = g_strconcat (RESOURCE_PREFIX, name, NULL);
  g_autoptr(GBytes) bytes = NULL;
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  gsize size;
  const char *data;

  if (strchr (name, '/') != NULL
      || (bytes = g_resources_lookup_data (path, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL)) == NULL)
    return FALSE;

  data = g_bytes_get_data (bytes, &size);
  soup_message_headers_replace (headers, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'");
  soup_message_headers_replace (headers, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (headers, "Cache-Control", "no-cache");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  /* The resource's data lives as long as the program */
  soup_server_message_set_response (msg, content_type_for (name), SOUP_MEMORY_STATIC,
                                    data, size);

  return TRUE;
}

static gboolean
is_read (SoupServerMessage *msg)
{
  const char *method = soup_server_message_get_method (msg);

  return g_str_equal (method, SOUP_METHOD_GET) || g_str_equal (method, SOUP_METHOD_HEAD);
}

/* GET / */
gboolean
inspector_handle_root (Inspector         *self,
                       SoupServerMessage *msg)
{
  return is_read (msg) && serve_resource (msg, "index.html");
}

/* GET /inspector/FILE */
void
inspector_handle_asset (SoupServer        *server,
                        SoupServerMessage *msg,
                        const char        *path,
                        GHashTable        *query,
                        gpointer           user_data)
{
  Consumer *consumer = user_data;

  if (!is_read (msg) || !g_str_has_prefix (path, "/inspector/")
      || !serve_resource (msg, path + strlen ("/inspector/")))
    handle_not_found (consumer, msg, path);
}

/* Everything under /api/ but the batch endpoints */
void
inspector_handle_api (SoupServer        *server,
                      SoupServerMessage *msg,
                      const char        *path,
                      GHashTable        *query,
                      gpointer           user_data)
{
  Consumer *consumer = user_data;
  Inspector *self = consumer->inspector;
  gboolean post = g_str_equal (soup_server_message_get_method (msg), SOUP_METHOD_POST);

  if (is_read (msg) && g_str_equal (path, "/api/events"))
    handle_list (self, msg, query, &self->events, "events");
  else if (is_read (msg) && g_str_equal (path, "/api/refused"))
    handle_list (self, msg, query, &self->refused, "refused");
  else if (is_read (msg) && g_str_equal (path, "/api/summary"))
    handle_summary (self, msg);
  else if (is_read (msg) && g_str_equal (path, "/api/faults"))
    reply_faults (self, msg);
  else if (post && g_str_equal (path, "/api/faults"))
    handle_set_faults (self, msg, query);
  else if (post && g_str_equal (path, "/api/reset"))
    {
      inspector_reset (self);
      consumer_log (consumer, "inspector reset (via /api/reset)");
      handle_summary (self, msg);
    }
  else
    handle_not_found (consumer, msg, path);
}
