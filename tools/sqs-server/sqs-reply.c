/* sqs-reply.c: SendMessageBatch replies in both protocols
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A settled batch gets HTTP 200 and one result per entry, in the order of
 * the request: SendMessageBatchResultEntry (Id, MessageId, the checksums)
 * for an accepted entry, BatchResultErrorEntry (Id, SenderFault, Code,
 * Message) for a failed one; any mix is allowed. A refused request gets an
 * ErrorResponse (query) or an error object (JSON). The query protocol's
 * documents are XML in the 2012-11-05 namespace; the JSON protocol's are
 * what the AWS SDKs parse: "Successful" and "Failed" arrays, and errors as
 * {"__type": "com.amazonaws.sqs#Code", "message": ...}.
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "sqs-server-private.h"

static void
xml_append_element (GString    *out,
                    const char *indent,
                    const char *name,
                    const char *value)
{
  const char *p = value;

  g_string_append (out, indent);
  g_string_append_c (out, '<');
  g_string_append (out, name);
  g_string_append_c (out, '>');
  /* Ids, checksums and codes need no escaping: printable ASCII without
   * markup characters, which g_markup_escape_text () leaves as they are */
  while (*p >= 0x20 && *p < 0x7f && strchr ("&<>'\"", *p) == NULL)
    p++;
  if (*p == '\0')
    g_string_append_len (out, value, p - value);
  else
    {
      g_autofree char *escaped = g_markup_escape_text (value, -1);

      g_string_append (out, escaped);
    }
  g_string_append (out, "</");
  g_string_append (out, name);
  g_string_append (out, ">\n");
}

static void
xml_append_entry (GString        *out,
                  const SqsEntry *entry)
{
  const char *in = "      ";

  if (entry->error_code != NULL)
    {
      g_string_append (out, "    <BatchResultErrorEntry>\n");
      xml_append_element (out, in, "Id", entry->id->str);
      xml_append_element (out, in, "SenderFault", entry->sender_fault ? "true" : "false");
      xml_append_element (out, in, "Code", entry->error_code);
      xml_append_element (out, in, "Message", entry->error_message);
      g_string_append (out, "    </BatchResultErrorEntry>\n");
      return;
    }

  g_string_append (out, "    <SendMessageBatchResultEntry>\n");
  xml_append_element (out, in, "Id", entry->id->str);
  xml_append_element (out, in, "MessageId", entry->message_id);
  xml_append_element (out, in, "MD5OfMessageBody", entry->md5_body);
  if (entry->md5_attributes != NULL)
    xml_append_element (out, in, "MD5OfMessageAttributes", entry->md5_attributes);
  g_string_append (out, "    </SendMessageBatchResultEntry>\n");
}

/* Every entry must be settled: accepted or failed. */
char *
sqs_reply_xml_batch (const SqsBatch *batch,
                     const char     *request_id)
{
  /* About 200 bytes an entry: one allocation */
  GString *out = g_string_sized_new (512 + 256 * batch->entries->len);

  g_string_append (out, "<?xml version=\"1.0\"?>\n"
                        "<SendMessageBatchResponse xmlns=\"" SQS_NAMESPACE "\">\n"
                        "  <SendMessageBatchResult>\n");

  for (guint i = 0; i < batch->entries->len; i++)
    xml_append_entry (out, g_ptr_array_index (batch->entries, i));
  g_string_append (out, "  </SendMessageBatchResult>\n"
                        "  <ResponseMetadata>\n");
  xml_append_element (out, "    ", "RequestId", request_id);
  g_string_append (out, "  </ResponseMetadata>\n"
                        "</SendMessageBatchResponse>\n");

  return g_string_free (out, FALSE);
}

/* Type Sender: the request is wrong, resending it unchanged fails again;
 * Receiver: the service failed, retry later. */
char *
sqs_reply_xml_error (gboolean    sender,
                     const char *code,
                     const char *message,
                     const char *request_id)
{
  GString *out = g_string_new ("<?xml version=\"1.0\"?>\n"
                               "<ErrorResponse xmlns=\"" SQS_NAMESPACE "\">\n"
                               "  <Error>\n");

  xml_append_element (out, "    ", "Type", sender ? "Sender" : "Receiver");
  xml_append_element (out, "    ", "Code", code);
  xml_append_element (out, "    ", "Message", message);
  g_string_append (out, "    <Detail/>\n"
                        "  </Error>\n");
  xml_append_element (out, "  ", "RequestId", request_id);
  g_string_append (out, "</ErrorResponse>\n");

  return g_string_free (out, FALSE);
}

static char *
json_to_text (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  json_generator_set_root (generator, root);

  return json_generator_to_data (generator, NULL);
}

static void
json_add_string (JsonBuilder *builder,
                 const char  *name,
                 const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static void
json_add_entry (JsonBuilder    *builder,
                const SqsEntry *entry)
{
  json_builder_begin_object (builder);
  json_add_string (builder, "Id", entry->id->str);
  if (entry->error_code != NULL)
    {
      json_builder_set_member_name (builder, "SenderFault");
      json_builder_add_boolean_value (builder, entry->sender_fault);
      json_add_string (builder, "Code", entry->error_code);
      json_add_string (builder, "Message", entry->error_message);
    }
  else
    {
      json_add_string (builder, "MessageId", entry->message_id);
      json_add_string (builder, "MD5OfMessageBody", entry->md5_body);
      if (entry->md5_attributes != NULL)
        json_add_string (builder, "MD5OfMessageAttributes", entry->md5_attributes);
    }
  json_builder_end_object (builder);
}

static void
json_add_entries (JsonBuilder    *builder,
                  const SqsBatch *batch,
                  gboolean        failed)
{
  json_builder_set_member_name (builder, failed ? "Failed" : "Successful");
  json_builder_begin_array (builder);
  for (guint i = 0; i < batch->entries->len; i++)
    {
      const SqsEntry *entry = g_ptr_array_index (batch->entries, i);

      if ((entry->error_code != NULL) == failed)
        json_add_entry (builder, entry);
    }
  json_builder_end_array (builder);
}

char *
sqs_reply_json_batch (const SqsBatch *batch)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_add_entries (builder, batch, FALSE);
  json_add_entries (builder, batch, TRUE);
  json_builder_end_object (builder);

  return json_to_text (builder);
}

/* The JSON protocol names errors without the query protocol's
 * "AWS.SimpleQueueService." prefix; the query code travels in the
 * x-amzn-query-error header (set by the caller). */
char *
sqs_reply_json_error (const char *code,
                      const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  const char *name = g_str_has_prefix (code, SQS_ERROR_PREFIX)
                     ? code + strlen (SQS_ERROR_PREFIX) : code;
  g_autofree char *type = g_strconcat ("com.amazonaws.sqs#", name, NULL);

  json_builder_begin_object (builder);
  json_add_string (builder, "__type", type);
  json_add_string (builder, "message", message);
  json_builder_end_object (builder);

  return json_to_text (builder);
}
