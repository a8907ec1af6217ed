/* faults.c: the failures ep-consumer injects on purpose, and /control
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a producer meets in the field, on demand, for demos and tests:
 *
 *  - the whole request fails (--fail-rate, SIGUSR1, /control/fail) with a
 *    chosen status and optional Retry-After, in SQS's error format: 429 is
 *    RequestThrottled, 500 InternalFailure, other 5xx ServiceUnavailable
 *    (Type Receiver: retry later), 4xx InjectedFault (Type Sender);
 *  - one entry fails inside a 200 reply: SenderFault true (the entry will
 *    never be accepted: InvalidMessageContents) or false (InternalError:
 *    a resend may succeed), by --sender-fault-rate / --receiver-fault-rate;
 *  - a 200 reply that is not SQS at all (a proxy's HTML page), --garbage-rate;
 *  - no reply: the request hangs until ep-consumer exits (--hang-rate,
 *    /control/hang), or every reply comes --latency milliseconds late.
 *
 * Random choices come from one GRand, seeded by --seed for repeatable runs.
 */
#include "config.h"

#include <json-glib/json-glib.h>

#include "ep-consumer.h"

static gboolean
roll (GRand  *rand,
      double  probability)
{
  return probability > 0 && g_rand_double (rand) < probability;
}

/* ------------------------------------------------------------------------ */
/* Held replies: latency and hanging                                        */

/* A reply the server holds back: delayed by --latency or never sent */
typedef struct {
  Consumer          *consumer;
  SoupServerMessage *msg;        /* owned reference */
  guint              source_id;  /* 0 for a hung reply */
} HeldReply;

static void
held_reply_free (gpointer data)
{
  HeldReply *held = data;

  g_clear_handle_id (&held->source_id, g_source_remove);
  g_object_unref (held->msg);
  g_free (held);
}

GPtrArray *
held_replies_new (void)
{
  return g_ptr_array_new_with_free_func (held_reply_free);
}

static void
held_reply_release (gpointer data)
{
  HeldReply *held = data;

  held->source_id = 0;
  soup_server_message_unpause (held->msg);
  g_ptr_array_remove_fast (held->consumer->held, held);
}

/* Pause @msg; unpause it after @delay_ms, or never when it is 0 */
void
consumer_hold_reply (Consumer          *self,
                     SoupServerMessage *msg,
                     guint              delay_ms)
{
  HeldReply *held = g_new0 (HeldReply, 1);

  held->consumer = self;
  held->msg = g_object_ref (msg);
  if (delay_ms > 0)
    held->source_id = g_timeout_add_once (delay_ms, held_reply_release, held);
  soup_server_message_pause (msg);
  g_ptr_array_add (self->held, held);
}

/* ------------------------------------------------------------------------ */
/* Request and entry faults                                                 */

gboolean
request_maybe_hang (Request *req)
{
  Consumer *self = req->consumer;

  if (!self->hang_all && !roll (self->rand, self->options->hang_rate))
    return FALSE;

  self->totals.faults++;
  if (self->options->verbose)
    consumer_log (self, "POST %s -> no reply (hanging)", req->endpoint);
  req->error_code = "NoReply";
  consumer_hold_reply (self, req->msg, 0);

  return TRUE;
}

static const char *
failure_code (guint status)
{
  if (status == 429)
    return "RequestThrottled";
  if (status == 500)
    return "InternalFailure";
  if (status >= 500)
    return "ServiceUnavailable";

  return "InjectedFault";
}

gboolean
request_inject_failure (Request *req)
{
  Consumer *self = req->consumer;
  const Options *o = self->options;
  g_autofree char *message = NULL;
  guint status;
  int retry_after;

  if (self->fail_all)
    {
      status = self->fail_all_status;
      retry_after = self->fail_all_retry_after;
      message = g_strdup ("Injected failure: ep-consumer is failing every request "
                          "(SIGUSR1 or /control/fail).");
    }
  else if (roll (self->rand, o->fail_rate))
    {
      status = o->fail_status;
      retry_after = o->retry_after;
      message = g_strdup_printf ("Injected failure (--fail-rate %g).", o->fail_rate);
    }
  else
    return FALSE;

  request_reply_error_full (req, status, status < 500, failure_code (status), message);
  if (retry_after >= 0)
    {
      g_autofree char *value = g_strdup_printf ("%d", retry_after);

      soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                    "Retry-After", value);
    }
  self->totals.faults++;

  return TRUE;
}

/* A 200 reply that is not SQS XML, as a proxy's error page would be */
gboolean
request_inject_garbage (Request *req)
{
  Consumer *self = req->consumer;

  if (!roll (self->rand, self->options->garbage_rate))
    return FALSE;

  reply_take (req->msg, SOUP_STATUS_OK, "text/html",
              g_strdup ("<html><body><h1>Welcome</h1><p>Injected non-SQS reply "
                        "(--garbage-rate).</p></body></html>\n"));
  req->error_code = "InjectedGarbage";
  self->totals.faults++;

  return TRUE;
}

gboolean
entry_inject_fault (Consumer *self,
                    SqsEntry *entry)
{
  const Options *o = self->options;

  if (roll (self->rand, o->sender_fault_rate))
    sqs_entry_fail (entry, "InvalidMessageContents",
                    g_strdup_printf ("Injected sender fault (--sender-fault-rate %g).",
                                     o->sender_fault_rate),
                    TRUE);
  else if (roll (self->rand, o->receiver_fault_rate))
    sqs_entry_fail (entry, "InternalError",
                    g_strdup_printf ("Injected receiver fault (--receiver-fault-rate %g).",
                                     o->receiver_fault_rate),
                    FALSE);
  else
    return FALSE;

  self->totals.faults++;
  return TRUE;
}

gboolean
on_toggle_signal (gpointer user_data)
{
  Consumer *self = user_data;

  self->fail_all = !self->fail_all;
  self->fail_all_status = self->options->fail_status;
  self->fail_all_retry_after = self->options->retry_after;
  if (self->fail_all)
    consumer_log (self, "SIGUSR1: failing every request with %u", self->fail_all_status);
  else
    consumer_log (self, "SIGUSR1: no longer failing every request");

  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* The control endpoints                                                    */

static void
json_add_uint (JsonBuilder *builder,
               const char  *name,
               guint64      value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, (gint64) value);
}

static void
json_add_bool (JsonBuilder *builder,
               const char  *name,
               gboolean     value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_boolean_value (builder, value);
}

/* The totals, as members of the object @builder is in */
void
consumer_add_totals (Consumer    *self,
                     JsonBuilder *builder)
{
  const Totals *t = &self->totals;

  status_update_rate (self);
  json_add_uint (builder, "requests", t->requests);
  json_add_uint (builder, "accepted", t->accepted);
  json_add_uint (builder, "rejected", t->rejected);
  json_add_uint (builder, "faults_injected", t->faults);
  json_add_uint (builder, "failed_requests", t->failed_requests);
  json_add_uint (builder, "unknown_paths", t->unknown_paths);
  json_add_uint (builder, "held_replies", self->held->len);
  json_add_uint (builder, "connections", consumer_open_connections (self));
  json_add_uint (builder, "max_connections", self->max_connections);
  json_add_uint (builder, "connections_refused", t->connections_refused);
  json_add_uint (builder, "connections_evicted", t->connections_evicted);
  json_add_uint (builder, "requests_too_large", t->too_large);
  json_add_uint (builder, "requests_overloaded", t->overloaded);
  json_add_uint (builder, "requests_timed_out", t->timed_out);
  json_add_uint (builder, "body_bytes", self->body_bytes);
  json_add_uint (builder, "keep_alive_closed_idle", self->keep_alive_leaks);
  json_add_uint (builder, "uptime_ms", (g_get_monotonic_time () - self->started_us) / 1000);
  json_builder_set_member_name (builder, "events_per_second");
  json_builder_add_double_value (builder, self->rate);
}

static void
json_add_double (JsonBuilder *builder,
                 const char  *name,
                 double       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_double_value (builder, value);
}

/* The switches (fail, hang, latency: settable at run time) and the rates
 * (fixed by the command line), as members of the object @builder is in */
void
consumer_add_faults (Consumer    *self,
                     JsonBuilder *builder)
{
  const Options *o = self->options;

  json_add_bool (builder, "fail", self->fail_all);
  json_add_uint (builder, "fail_status", self->fail_all_status);
  json_add_bool (builder, "hang", self->hang_all);
  json_add_uint (builder, "latency_ms", self->latency_ms);
  json_add_double (builder, "fail_rate", o->fail_rate);
  json_add_double (builder, "sender_fault_rate", o->sender_fault_rate);
  json_add_double (builder, "receiver_fault_rate", o->receiver_fault_rate);
  json_add_double (builder, "hang_rate", o->hang_rate);
  json_add_double (builder, "garbage_rate", o->garbage_rate);
}

/* GET /control/stats, and the answer to every switch */
static void
control_reply_state (Consumer          *self,
                     SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  consumer_add_totals (self, builder);
  json_add_bool (builder, "fail", self->fail_all);
  json_add_uint (builder, "fail_status", self->fail_all_status);
  json_add_bool (builder, "hang", self->hang_all);
  json_builder_end_object (builder);
  reply_json (msg, SOUP_STATUS_OK, builder);
}

/* Parameters from the query string, or else from a form body */
static GHashTable *
control_params (SoupServerMessage *msg,
                GHashTable        *query)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);

  return faults_params_from_form (bytes, query);
}

static gboolean
parse_boolean (const char *text,
               gboolean   *value)
{
  static const char *const yes[] = { "1", "true", "on", "yes", NULL };
  static const char *const no[] = { "0", "false", "off", "no", NULL };

  if (text != NULL && g_strv_contains (yes, text))
    *value = TRUE;
  else if (text != NULL && g_strv_contains (no, text))
    *value = FALSE;
  else
    return FALSE;

  return TRUE;
}

static gboolean
control_parse_int (GHashTable  *params,
                   const char  *name,
                   int          min,
                   int          max,
                   int         *value,
                   char       **message)
{
  const char *text = g_hash_table_lookup (params, name);
  gint64 parsed;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_signed (text, 10, min, max, &parsed, NULL))
    {
      *message = g_strdup_printf ("%s must be an integer from %d to %d, not '%s'.",
                                  name, min, max, text);
      return FALSE;
    }
  *value = parsed;

  return TRUE;
}

static gboolean
control_parse_on (GHashTable  *params,
                  gboolean    *on,
                  char       **message)
{
  if (parse_boolean (g_hash_table_lookup (params, "on"), on))
    return TRUE;

  *message = g_strdup ("Parameter 'on' must be 1 or 0 (also true/false, on/off, yes/no).");
  return FALSE;
}

/* POST /control/fail?on=1|0[&status=CODE][&retry_after=S] */
static gboolean
control_set_fail (Consumer    *self,
                  GHashTable  *params,
                  char       **message)
{
  gboolean on;
  int status = self->options->fail_status;
  int retry_after = self->options->retry_after;

  if (!control_parse_on (params, &on, message)
      || !control_parse_int (params, "status", 400, 599, &status, message)
      || !control_parse_int (params, "retry_after", 0, G_MAXINT, &retry_after, message))
    return FALSE;

  self->fail_all = on;
  self->fail_all_status = status;
  self->fail_all_retry_after = retry_after;
  if (on)
    consumer_log (self, "failing every request with %d (via /control/fail)", status);
  else
    consumer_log (self, "no longer failing every request (via /control/fail)");

  return TRUE;
}

/* POST /control/hang?on=1|0: requests already hanging stay so */
static gboolean
control_set_hang (Consumer    *self,
                  GHashTable  *params,
                  char       **message)
{
  if (!control_parse_on (params, &self->hang_all, message))
    return FALSE;
  consumer_log (self, "%s (via /control/hang)",
                self->hang_all ? "leaving every request unanswered"
                               : "answering requests again");

  return TRUE;
}

/* POST /api/faults as a form (or query string): fail, fail_status, hang,
 * latency_ms */
GHashTable *
faults_params_from_form (GBytes     *body,
                         GHashTable *query)
{
  g_autofree char *form = NULL;

  if (query != NULL)
    return g_hash_table_ref (query);
  if (g_bytes_get_size (body) == 0)
    return NULL;
  form = g_strndup (g_bytes_get_data (body, NULL), g_bytes_get_size (body));

  return soup_form_decode (form);
}

/* ... or as a JSON object: its members as the form's values */
GHashTable *
faults_params_from_json (GBytes  *body,
                         char   **message)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                        g_free, g_free);
  JsonNode *root;
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL),
                                   g_bytes_get_size (body), NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      *message = g_strdup ("The body must be a JSON object such as {\"fail\": true}.");
      return NULL;
    }
  json_object_iter_init (&iter, json_node_get_object (root));
  while (json_object_iter_next (&iter, &name, &value))
    {
      GType type = JSON_NODE_HOLDS_VALUE (value) ? json_node_get_value_type (value)
                                                 : G_TYPE_INVALID;
      char *text;

      if (type == G_TYPE_BOOLEAN)
        text = g_strdup (json_node_get_boolean (value) ? "1" : "0");
      else if (type == G_TYPE_INT64)
        text = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (value));
      else
        {
          *message = g_strdup_printf ("%s must be a boolean or an integer.", name);
          return NULL;
        }
      g_hash_table_insert (params, g_strdup (name), text);
    }

  return g_hash_table_size (params) > 0 ? g_steal_pointer (&params) : NULL;
}

/* Applies what @params name, all or nothing */
gboolean
consumer_set_faults (Consumer    *self,
                     GHashTable  *params,
                     char       **message)
{
  static const char *const known[] = { "fail", "fail_status", "hang", "latency_ms", NULL };
  gboolean fail = self->fail_all, hang = self->hang_all;
  int status = self->fail_all_status, latency = self->latency_ms;
  GHashTableIter iter;
  gpointer key;
  const char *text;

  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_strv_contains (known, key))
      {
        *message = g_strdup_printf ("Unknown fault switch '%s': fail, fail_status, hang "
                                    "and latency_ms can be set.", (const char *) key);
        return FALSE;
      }
  if (((text = g_hash_table_lookup (params, "fail")) != NULL && !parse_boolean (text, &fail))
      || ((text = g_hash_table_lookup (params, "hang")) != NULL && !parse_boolean (text, &hang)))
    {
      *message = g_strdup ("fail and hang must be true or false (or 1 and 0).");
      return FALSE;
    }
  if (!control_parse_int (params, "fail_status", 400, 599, &status, message)
      || !control_parse_int (params, "latency_ms", 0, 600000, &latency, message))
    return FALSE;

  if (fail != self->fail_all || hang != self->hang_all || latency != self->latency_ms)
    consumer_log (self, "faults (via /api/faults): %s, %s, latency %d ms",
                  fail ? "failing every request" : "not failing",
                  hang ? "hanging every request" : "not hanging", latency);
  self->fail_all = fail;
  self->fail_all_status = status;
  if (fail)
    self->fail_all_retry_after = self->options->retry_after;
  self->hang_all = hang;
  self->latency_ms = latency;

  return TRUE;
}

static void
handle_control_switch (Consumer          *self,
                       SoupServerMessage *msg,
                       const char        *path,
                       GHashTable        *query)
{
  g_autoptr(GHashTable) params = control_params (msg, query);
  g_autofree char *message = NULL;
  gboolean fail = g_str_equal (path, "/control/fail");

  if (params == NULL)
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST,
                        "Missing parameter 'on': POST /control/fail?on=1 or ?on=0.");
      return;
    }
  if (fail ? !control_set_fail (self, params, &message)
           : !control_set_hang (self, params, &message))
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST, message);
      return;
    }

  control_reply_state (self, msg);
}

void
handle_control (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  Consumer *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  gboolean is_switch = g_str_equal (path, "/control/fail") || g_str_equal (path, "/control/hang");
  gboolean is_stats = g_str_equal (path, "/control/stats");

  if (!is_switch && !is_stats)
    handle_not_found (self, msg, path);
  else if (is_stats && g_str_equal (method, SOUP_METHOD_GET))
    control_reply_state (self, msg);
  else if (is_switch && g_str_equal (method, SOUP_METHOD_POST))
    handle_control_switch (self, msg, path, query);
  else
    {
      g_autofree char *text = g_strdup_printf ("%s is not allowed on %s: use %s.", method, path,
                                               is_stats ? "GET" : "POST");

      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", is_stats ? "GET" : "POST");
      reply_json_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, text);
    }
}
