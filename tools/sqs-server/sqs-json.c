/* sqs-json.c: decoding the SQS JSON protocol
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The JSON protocol (newer AWS SDKs: Content-Type application/x-amz-json-1.0,
 * X-Amz-Target AmazonSQS.SendMessageBatch) posts one object:
 *
 *   { "QueueUrl": "...",
 *     "Entries": [ { "Id": "...", "MessageBody": "...", "DelaySeconds": 0,
 *                    "MessageAttributes": { "Name": { "DataType": "String",
 *                                                     "StringValue": "..." } } } ] }
 *
 * Attributes are keyed by name, so they cannot repeat; BinaryValue is base64
 * text, as in the query protocol. Types are strict: a string where SQS
 * expects one, an integer for DelaySeconds (InvalidParameterValue otherwise).
 *
 * The body must be one strict JSON value (RFC 8259) with nothing after it,
 * checked with ep-glib's scan before JsonParser reads it: json-glib 1.6
 * takes "{...}{...}" as its first object, ignores the rest and leaks it.
 */
#include "config.h"

#include <json-glib/json-glib.h>

#include "ep-glib/ep-json-scan.h"
#include "sqs-server-private.h"

static gboolean
json_get_string (JsonObject  *object,
                 const char  *member,
                 const char  *where,
                 GString    **out,
                 GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s.%s must be a JSON string.", where, member);
      return FALSE;
    }
  *out = g_string_new (json_node_get_string (node));

  return TRUE;
}

/* Kept as text, so that validation reads both protocols the same way */
static gboolean
json_get_delay (JsonObject  *object,
                const char  *where,
                GString    **out,
                GError     **error)
{
  JsonNode *node = json_object_get_member (object, "DelaySeconds");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s.DelaySeconds must be a JSON integer.", where);
      return FALSE;
    }
  *out = g_string_new (NULL);
  g_string_printf (*out, "%" G_GINT64_FORMAT, json_node_get_int (node));

  return TRUE;
}

static gboolean
json_read_attribute (SqsEntry    *entry,
                     guint        index,
                     const char  *name,
                     JsonNode    *node,
                     GError     **error)
{
  SqsAttribute *attribute = sqs_entry_lookup_attribute (entry, index);
  g_autofree char *where = g_strdup_printf ("Entries[%u].MessageAttributes.%s",
                                            entry->index - 1, name);
  JsonObject *object;

  attribute->name = g_string_new (name);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s must be a JSON object.", where);
      return FALSE;
    }
  object = json_node_get_object (node);

  return json_get_string (object, "DataType", where, &attribute->data_type, error)
         && json_get_string (object, "StringValue", where, &attribute->string_value, error)
         && json_get_string (object, "BinaryValue", where, &attribute->binary_value, error);
}

static gboolean
json_read_attributes (SqsEntry    *entry,
                      JsonObject  *object,
                      GError     **error)
{
  JsonNode *node = json_object_get_member (object, "MessageAttributes");
  g_autoptr(GList) names = NULL;
  guint index = 1;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Entries[%u].MessageAttributes must be a JSON object.",
                   entry->index - 1);
      return FALSE;
    }
  names = json_object_get_members (json_node_get_object (node));
  for (GList *l = names; l != NULL; l = l->next)
    if (!json_read_attribute (entry, index++, l->data,
                              json_object_get_member (json_node_get_object (node), l->data),
                              error))
      return FALSE;

  return TRUE;
}

/* The members SendMessageBatchRequestEntry has in the SQS API model; the
 * FIFO and system-attribute ones are accepted and ignored. */
static void
json_report_unknown_members (JsonObject     *object,
                             SqsUnknownFunc  unknown,
                             gpointer        user_data)
{
  static const char *const known[] = {
    "Id", "MessageBody", "DelaySeconds", "MessageAttributes",
    "MessageSystemAttributes", "MessageDeduplicationId", "MessageGroupId", NULL
  };
  g_autoptr(GList) names = json_object_get_members (object);

  for (GList *l = names; l != NULL && unknown != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        g_autofree char *name = g_strconcat ("Entries[].", l->data, NULL);

        unknown (name, user_data);
      }
}

static gboolean
json_read_entry (SqsBatch        *batch,
                 guint            index,
                 JsonNode        *node,
                 SqsUnknownFunc   unknown,
                 gpointer         user_data,
                 GError         **error)
{
  SqsEntry *entry = sqs_batch_lookup_entry (batch, index);
  g_autofree char *where = g_strdup_printf ("Entries[%u]", index - 1);
  JsonObject *object;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s must be a JSON object.", where);
      return FALSE;
    }
  object = json_node_get_object (node);
  json_report_unknown_members (object, unknown, user_data);

  return json_get_string (object, "Id", where, &entry->id, error)
         && json_get_string (object, "MessageBody", where, &entry->body, error)
         && json_get_delay (object, where, &entry->delay, error)
         && json_read_attributes (entry, object, error);
}

static JsonArray *
json_request_entries (JsonNode   *root,
                      SqsBatch   *batch,
                      GError    **error)
{
  JsonObject *object;
  JsonNode *entries;
  GString *queue_url = NULL;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The request body must be a JSON object.");
      return NULL;
    }
  object = json_node_get_object (root);
  if (!json_get_string (object, "QueueUrl", "The request", &queue_url, error))
    return NULL;
  if (queue_url != NULL)
    batch->queue_url = g_string_free (queue_url, FALSE);
  entries = json_object_get_member (object, "Entries");
  if (entries == NULL || !JSON_NODE_HOLDS_ARRAY (entries))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter Entries (a JSON array).");
      return NULL;
    }

  return json_node_get_array (entries);
}

SqsBatch *
sqs_batch_from_json (const char      *data,
                     gsize            len,
                     SqsUnknownFunc   unknown,
                     gpointer         user_data,
                     GError         **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(SqsBatch) batch = sqs_batch_new ();
  g_autoptr(GError) parse_error = NULL;
  JsonArray *entries;

  if (!ep_json_scan_value (data, len))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The request body is not valid JSON: one value (RFC 8259), with "
                   "nothing after it but whitespace, expected.");
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, &parse_error))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The request body is not valid JSON: %s", parse_error->message);
      return NULL;
    }
  entries = json_request_entries (json_parser_get_root (parser), batch, error);
  if (entries == NULL)
    return NULL;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    if (!json_read_entry (batch, i + 1, json_array_get_element (entries, i),
                          unknown, user_data, error))
      return NULL;
  sqs_batch_seal (batch);

  return g_steal_pointer (&batch);
}
