/* sqs-query.c: decoding the SQS query protocol
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The query protocol (ep-glib's, and botocore's for SQS up to 1.29) posts
 * application/x-www-form-urlencoded pairs. A batch is spelled out as
 *
 *   SendMessageBatchRequestEntry.N.Id
 *   SendMessageBatchRequestEntry.N.MessageBody
 *   SendMessageBatchRequestEntry.N.DelaySeconds
 *   SendMessageBatchRequestEntry.N.MessageAttribute.M.Name
 *   SendMessageBatchRequestEntry.N.MessageAttribute.M.Value.DataType
 *   SendMessageBatchRequestEntry.N.MessageAttribute.M.Value.StringValue
 *   SendMessageBatchRequestEntry.N.MessageAttribute.M.Value.BinaryValue
 *
 * beside the top-level Action, Version, QueueUrl and the signing
 * parameters. Values may hold any byte (a body is not validated as text
 * here: that is a per-entry rule, see sqs_entry_check_contents()).
 */
#include "config.h"

#include <string.h>

#include "sqs-server-private.h"

/* Percent-decoding of one form component; '+' is a space. SQS refuses a
 * '%' that is not followed by two hex digits (MalformedQueryString) where
 * a lenient decoder would pass it through. The bytes between escapes are
 * copied a run at a time. */
static gboolean
form_decode (const char  *data,
             gsize        len,
             GString     *out,
             GError     **error)
{
  gsize i = 0;

  while (i < len)
    {
      gsize run = i;
      int high, low;

      while (i < len && data[i] != '+' && data[i] != '%')
        i++;
      if (i > run)
        g_string_append_len (out, data + run, i - run);
      if (i == len)
        break;
      if (data[i] == '+')
        g_string_append_c (out, ' ');
      else if (i + 2 < len && (high = g_ascii_xdigit_value (data[i + 1])) >= 0
               && (low = g_ascii_xdigit_value (data[i + 2])) >= 0)
        {
          g_string_append_c (out, (char) (high << 4 | low));
          i += 2;
        }
      else
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                       "Malformed percent-encoding in the form data: '%%' must be "
                       "followed by two hex digits.");
          return FALSE;
        }
      i++;
    }

  return TRUE;
}

static void
string_free (gpointer data)
{
  g_string_free (data, TRUE);
}

/* One "key=value" pair. A key given twice is ambiguous, and SQS refuses
 * the request rather than pick one. */
static gboolean
form_add_pair (GHashTable  *params,
               GPtrArray   *keys,
               const char  *pair,
               gsize        len,
               GError     **error)
{
  const char *eq = memchr (pair, '=', len);
  gsize key_len = eq != NULL ? (gsize) (eq - pair) : len;
  /* Decoding never lengthens: no reallocation while decoding */
  g_autoptr(GString) key = g_string_sized_new (key_len);
  g_autoptr(GString) value = g_string_sized_new (eq != NULL ? len - key_len - 1 : 0);

  if (!form_decode (pair, key_len, key, error))
    return FALSE;
  if (eq != NULL && !form_decode (eq + 1, len - key_len - 1, value, error))
    return FALSE;
  if (key->len == 0 || memchr (key->str, '\0', key->len) != NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                   "The form data holds a parameter with an empty or binary name.");
      return FALSE;
    }
  if (g_hash_table_contains (params, key->str))
    {
      g_autofree char *shown = sqs_printable_string (key);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The parameter %s appears more than once.", shown);
      return FALSE;
    }
  if (keys != NULL)
    g_ptr_array_add (keys, g_strdup (key->str));
  g_hash_table_insert (params, g_string_free (g_steal_pointer (&key), FALSE),
                       g_steal_pointer (&value));

  return TRUE;
}

/* Parse form data into name -> GString (values may hold any byte). When
 * @keys is given, the decoded names are appended to it in the order sent. */
GHashTable *
sqs_form_parse (const char  *data,
                gsize        len,
                GPtrArray   *keys,
                GError     **error)
{
  g_autoptr(GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                         g_free, string_free);
  const char *end = data + len;

  for (const char *p = data; p < end;)
    {
      const char *amp = memchr (p, '&', end - p);
      const char *stop = amp != NULL ? amp : end;

      if (stop > p && !form_add_pair (params, keys, p, stop - p, error))
        return NULL;
      p = stop + 1;
    }

  return g_steal_pointer (&params);
}

/* "12.Rest" -> 12 and "Rest"; indexes start at 1, as in SQS */
static gboolean
split_index (const char  *text,
             guint       *index,
             const char **rest)
{
  const char *p = text;
  guint64 value = 0;

  /* Only the canonical form: with "05" accepted, Entry.5 and Entry.05 would
   * be two parameters for one field (the first value leaked, and which one
   * won depended on the order of a hash table). "05" is an unknown
   * parameter instead, like any other name SQS does not define. Digits
   * only, 1 to G_MAXUINT. */
  if (*p == '0')
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      value = value * 10 + (guint64) (*p - '0');
      if (value > G_MAXUINT)
        return FALSE;
    }
  if (p == text || *p != '.')
    return FALSE;
  *index = value;
  *rest = p + 1;

  return TRUE;
}

static GString **
attribute_field (SqsAttribute *attribute,
                 const char   *field)
{
  if (g_str_equal (field, "Name"))
    return &attribute->name;
  if (g_str_equal (field, "Value.DataType"))
    return &attribute->data_type;
  if (g_str_equal (field, "Value.StringValue"))
    return &attribute->string_value;
  if (g_str_equal (field, "Value.BinaryValue"))
    return &attribute->binary_value;

  return NULL;
}

static GString **
entry_field (SqsEntry   *entry,
             const char *field)
{
  guint index;
  const char *rest;

  if (g_str_equal (field, "Id"))
    return &entry->id;
  if (g_str_equal (field, "MessageBody"))
    return &entry->body;
  if (g_str_equal (field, "DelaySeconds"))
    return &entry->delay;
  if (g_str_has_prefix (field, "MessageAttribute.")
      && split_index (field + strlen ("MessageAttribute."), &index, &rest))
    return attribute_field (sqs_entry_lookup_attribute (entry, index), rest);

  return NULL;
}

/* Fields SQS accepts on an entry that change nothing for a standard queue:
 * the FIFO queues' ids and the system attributes (X-Ray trace headers). */
static gboolean
is_ignored_entry_field (const char *field)
{
  return g_str_equal (field, "MessageDeduplicationId")
         || g_str_equal (field, "MessageGroupId")
         || g_str_has_prefix (field, "MessageSystemAttribute.");
}

/* Returns TRUE when the batch took @value (when @steal, as it is) */
static gboolean
batch_set_parameter (SqsBatch       *batch,
                     const char     *name,
                     GString        *value,
                     gboolean        steal,
                     SqsUnknownFunc  unknown,
                     gpointer        user_data)
{
  guint index;
  const char *field;
  GString **slot = NULL;

  if (g_str_has_prefix (name, SQS_ENTRY_PREFIX)
      && split_index (name + strlen (SQS_ENTRY_PREFIX), &index, &field))
    {
      if (is_ignored_entry_field (field))
        return FALSE;
      slot = entry_field (sqs_batch_lookup_entry (batch, index), field);
    }

  if (slot == NULL)
    {
      if (unknown != NULL)
        unknown (name, user_data);
      return FALSE;
    }
  *slot = steal ? value : g_string_new_len (value->str, value->len);

  return TRUE;
}

/* The top-level parameters of any SQS query request: the action, the API
 * version, the queue, and those of AWS signature versions 2 and 4 (ep-glib
 * does not sign; a consumer that does not check signatures ignores them). */
static gboolean
is_top_level_parameter (const char *name)
{
  static const char *const known[] = {
    "Action", "Version", "QueueUrl", "AWSAccessKeyId", "Signature",
    "SignatureMethod", "SignatureVersion", "SecurityToken", "Timestamp",
    "Expires", NULL
  };

  return g_strv_contains (known, name);
}

/* The TL consumer accepts a request without Action and Version (ep-glib
 * sends neither); when present they must name SendMessageBatch and the
 * 2012-11-05 API, as they do in botocore's requests. */
static gboolean
check_action (GHashTable  *params,
              GError     **error)
{
  GString *action = g_hash_table_lookup (params, "Action");
  GString *version = g_hash_table_lookup (params, "Version");

  if (action != NULL && !g_str_equal (action->str, SQS_ACTION))
    {
      g_autofree char *shown = sqs_printable_string (action);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ACTION,
                   "The action %s is not valid for this endpoint: "
                   "this consumer serves only " SQS_ACTION ".", shown);
      return FALSE;
    }
  if (version != NULL && !g_str_equal (version->str, SQS_API_VERSION))
    {
      g_autofree char *shown = sqs_printable_string (version);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Version %s is not supported: expected " SQS_API_VERSION ".",
                   shown);
      return FALSE;
    }

  return TRUE;
}

/* With @steal, the values the batch takes leave @params (no copies) */
static SqsBatch *
batch_from_form (GHashTable      *params,
                 gboolean         steal,
                 SqsUnknownFunc   unknown,
                 gpointer         user_data,
                 GError         **error)
{
  g_autoptr(SqsBatch) batch = NULL;
  GString *queue_url = g_hash_table_lookup (params, "QueueUrl");
  GHashTableIter iter;
  gpointer name, value;

  if (!check_action (params, error))
    return NULL;

  batch = sqs_batch_new ();
  batch->queue_url = queue_url != NULL ? g_strdup (queue_url->str) : NULL;
  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &name, &value))
    if (!is_top_level_parameter (name)
        && batch_set_parameter (batch, name, value, steal, unknown, user_data) && steal)
      {
        g_hash_table_iter_steal (&iter);
        g_free (name);
      }
  sqs_batch_seal (batch);

  return g_steal_pointer (&batch);
}

/* A batch from parsed form parameters (see sqs_form_parse()). @unknown
 * hears of each parameter a SendMessageBatch request may not hold. */
SqsBatch *
sqs_batch_from_form (GHashTable      *params,
                     SqsUnknownFunc   unknown,
                     gpointer         user_data,
                     GError         **error)
{
  return batch_from_form (params, FALSE, unknown, user_data, error);
}

SqsBatch *
sqs_batch_from_query (const char      *data,
                      gsize            len,
                      SqsUnknownFunc   unknown,
                      gpointer         user_data,
                      GError         **error)
{
  g_autoptr(GHashTable) params = sqs_form_parse (data, len, NULL, error);

  if (params == NULL)
    return NULL;

  return batch_from_form (params, TRUE, unknown, user_data, error);
}
