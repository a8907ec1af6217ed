/* sqs-validate.c: the rules SQS applies to a whole SendMessageBatch request
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A request that breaks any of these is refused whole (an ErrorResponse,
 * HTTP 400, Type Sender): nothing in it is accepted. They are checked in the
 * order SQS checks them, so that a request with several faults gets the
 * code SQS would give: the number of entries, every Id, distinct Ids, each
 * entry's body, delay and attributes, and last the size of the batch. The
 * one rule that fails a single entry instead (characters outside XML 1.0)
 * is in sqs_entry_check_contents().
 */
#include "config.h"

#include <string.h>

#include "sqs-server-private.h"

/* 1 to 10 entries per batch */
static gboolean
check_count (SqsBatch  *batch,
             GError   **error)
{
  if (batch->entries->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_EMPTY_BATCH,
                   "There should be at least one " SQS_ENTRY_PREFIX "N in the request.");
      return FALSE;
    }
  if (batch->entries->len > SQS_MAX_ENTRIES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_TOO_MANY_ENTRIES,
                   "Maximum number of entries per request are %d. You have sent %u.",
                   SQS_MAX_ENTRIES, batch->entries->len);
      return FALSE;
    }

  return TRUE;
}

/* An entry Id is 1 to 80 characters of [A-Za-z0-9_-]: it names the entry in
 * the reply, nothing more (ep-glib uses the event's UUID). */
static gboolean
check_entry_id (const SqsEntry  *entry,
                GError         **error)
{
  gboolean valid;

  if (entry->id == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter "
                   SQS_ENTRY_PREFIX "%u.Id.", entry->index);
      return FALSE;
    }

  valid = entry->id->len >= 1 && entry->id->len <= SQS_MAX_ID_LENGTH;
  for (gsize i = 0; valid && i < entry->id->len; i++)
    valid = g_ascii_isalnum (entry->id->str[i]) || entry->id->str[i] == '-'
            || entry->id->str[i] == '_';
  if (!valid)
    {
      g_autofree char *shown = sqs_printable_string (entry->id);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ENTRY_ID,
                   "The Id '%s' of entry %u is invalid: a batch entry id can only "
                   "contain alphanumeric characters, hyphens and underscores, and it "
                   "must be 1 to %d characters long.",
                   shown, entry->index, SQS_MAX_ID_LENGTH);
      return FALSE;
    }

  return TRUE;
}

/* Ids are distinct within a batch (the reply could not say which is which) */
static gboolean
check_ids_distinct (SqsBatch  *batch,
                    GError   **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (batch->entries, i);

      if (!g_hash_table_add (seen, entry->id->str))
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_IDS_NOT_DISTINCT,
                       "Id %s repeated.", entry->id->str);
          return FALSE;
        }
    }

  return TRUE;
}

/* SQS has no empty messages */
static gboolean
check_entry_body (const SqsEntry  *entry,
                  GError         **error)
{
  if (entry->body == NULL || entry->body->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter "
                   SQS_ENTRY_PREFIX "%u.MessageBody (entry %s); it must not be empty.",
                   entry->index, entry->id->str);
      return FALSE;
    }

  return TRUE;
}

/* DelaySeconds, when given, is 0 to 900 (15 minutes) */
static gboolean
check_entry_delay (const SqsEntry  *entry,
                   GError         **error)
{
  guint64 delay;

  if (entry->delay == NULL
      || g_ascii_string_to_unsigned (entry->delay->str, 10, 0, SQS_MAX_DELAY_SECONDS,
                                     &delay, NULL))
    return TRUE;

  g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
               "DelaySeconds of entry %s must be an integer from 0 to %d.",
               entry->id->str, SQS_MAX_DELAY_SECONDS);
  return FALSE;
}

/* An attribute name is 1 to 256 characters of [A-Za-z0-9_.-], with no
 * leading, trailing or doubled '.', and the prefixes AWS. and Amazon. (any
 * case) are reserved. */
static gboolean
is_valid_attribute_name (const GString *name)
{
  if (name->len == 0 || name->len > SQS_MAX_NAME_LENGTH
      || name->str[0] == '.' || name->str[name->len - 1] == '.'
      || strstr (name->str, "..") != NULL
      || g_ascii_strncasecmp (name->str, "AWS.", 4) == 0
      || g_ascii_strncasecmp (name->str, "Amazon.", 7) == 0)
    return FALSE;

  for (gsize i = 0; i < name->len; i++)
    if (!g_ascii_isalnum (name->str[i]) && strchr ("_-.", name->str[i]) == NULL)
      return FALSE;

  return TRUE;
}

/* A DataType is "String", "Number" or "Binary", optionally followed by a
 * custom ".label" that SQS keeps but does not interpret (it counts in the
 * checksum). Returns the base type, or NULL. */
static const char *
attribute_base_type (const GString *data_type)
{
  static const char *const bases[] = { "String", "Number", "Binary" };

  if (data_type->len > SQS_MAX_NAME_LENGTH)
    return NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bases); i++)
    {
      gsize n = strlen (bases[i]);
      const char *label = data_type->str + n;

      if (strncmp (data_type->str, bases[i], n) != 0)
        continue;
      if (data_type->len == n)
        return bases[i];
      if (*label != '.' || data_type->len == n + 1)
        return NULL;
      for (gsize j = n + 1; j < data_type->len; j++)
        if (!g_ascii_isalnum (data_type->str[j]) && strchr ("_-.", data_type->str[j]) == NULL)
          return NULL;
      return bases[i];
    }

  return NULL;
}

/* A Number is a decimal: optional sign, digits with an optional fraction,
 * an optional exponent. */
static gboolean
is_valid_number (const char *s)
{
  gboolean digits = FALSE;

  if (*s == '+' || *s == '-')
    s++;
  for (; g_ascii_isdigit (*s); s++)
    digits = TRUE;
  if (*s == '.')
    for (s++; g_ascii_isdigit (*s); s++)
      digits = TRUE;
  if (!digits)
    return FALSE;
  if (*s == 'e' || *s == 'E')
    {
      s++;
      if (*s == '+' || *s == '-')
        s++;
      if (!g_ascii_isdigit (*s))
        return FALSE;
      while (g_ascii_isdigit (*s))
        s++;
    }

  return *s == '\0';
}

/* Padded base64 (the wire form of BinaryValue in both protocols) */
static gboolean
is_valid_base64 (const GString *text)
{
  gsize padding = 0;

  if (text->len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < text->len; i++)
    {
      char c = text->str[i];

      if (c == '=' && i >= text->len - 2)
        padding++;
      else if (padding > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        return FALSE;
    }

  return TRUE;
}

/* The value matches the base type: a Binary attribute carries a
 * BinaryValue, the others a StringValue, never empty. Sets the value's
 * bytes (decoded for Binary), which the size limit and the checksum use. */
static gboolean
attribute_check_value (SqsAttribute  *attribute,
                       const char    *base,
                       GError       **error)
{
  const char *name = attribute->name->str;
  gboolean binary = g_str_equal (base, "Binary");
  GString *value = binary ? attribute->binary_value : attribute->string_value;
  gsize decoded_len;
  guchar *decoded;

  if (value == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has DataType '%s' and needs a %s.",
                   name, attribute->data_type->str,
                   binary ? "BinaryValue" : "StringValue");
      return FALSE;
    }
  if (value->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' must contain a non-empty value of type '%s'.",
                   name, base);
      return FALSE;
    }
  if (g_str_equal (base, "Number") && !is_valid_number (value->str))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has DataType Number but its value is "
                   "not a decimal number.", name);
      return FALSE;
    }
  if (binary && !is_valid_base64 (value))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has a BinaryValue that is not valid base64.",
                   name);
      return FALSE;
    }

  if (!binary)
    {
      attribute->value = g_bytes_new (value->str, value->len);
      return TRUE;
    }
  decoded = g_base64_decode (value->str, &decoded_len);
  attribute->value = g_bytes_new_take (decoded, decoded_len);

  return TRUE;
}

/* Each attribute has a valid Name, a DataType and exactly one of
 * StringValue and BinaryValue. */
static gboolean
attribute_check (const SqsEntry  *entry,
                 SqsAttribute    *attribute,
                 GError         **error)
{
  const char *base;

  if (attribute->name == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "Message attribute %u of entry %s has no Name.",
                   attribute->index, entry->id->str);
      return FALSE;
    }
  if (!is_valid_attribute_name (attribute->name))
    {
      g_autofree char *shown = sqs_printable_string (attribute->name);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Message attribute name '%s' of entry %s is invalid: it must be 1 to %d "
                   "characters of A-Z, a-z, 0-9, '_', '-' and '.', without '..', without a "
                   "leading or trailing '.', and not start with 'AWS.' or 'Amazon.'.",
                   shown, entry->id->str, SQS_MAX_NAME_LENGTH);
      return FALSE;
    }
  if (attribute->data_type == NULL || attribute->data_type->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The message attribute '%s' of entry %s must contain a non-empty "
                   "Value.DataType.", attribute->name->str, entry->id->str);
      return FALSE;
    }
  base = attribute_base_type (attribute->data_type);
  if (base == NULL)
    {
      g_autofree char *shown = sqs_printable_string (attribute->data_type);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' of entry %s has an invalid DataType '%s': "
                   "expected String, Number or Binary, optionally followed by .label.",
                   attribute->name->str, entry->id->str, shown);
      return FALSE;
    }
  if (attribute->string_value == NULL && attribute->binary_value == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The message attribute '%s' of entry %s must contain "
                   "Value.StringValue or Value.BinaryValue.",
                   attribute->name->str, entry->id->str);
      return FALSE;
    }
  if (attribute->string_value != NULL && attribute->binary_value != NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' of entry %s has both a StringValue and a "
                   "BinaryValue; exactly one is allowed.",
                   attribute->name->str, entry->id->str);
      return FALSE;
    }

  return attribute_check_value (attribute, base, error);
}

static int
compare_attribute_names (gconstpointer a,
                         gconstpointer b)
{
  const SqsAttribute *x = *(const SqsAttribute **) a;
  const SqsAttribute *y = *(const SqsAttribute **) b;

  return strcmp (x->name->str, y->name->str);
}

/* At most 10 attributes per message, each valid, names distinct. Leaves
 * the attributes sorted by name, the order the checksum needs. */
static gboolean
check_entry_attributes (SqsEntry  *entry,
                        GError   **error)
{
  if (entry->attributes->len > SQS_MAX_ATTRIBUTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Number of message attributes [%u] of entry %s exceeds the allowed "
                   "maximum [%d].", entry->attributes->len, entry->id->str,
                   SQS_MAX_ATTRIBUTES);
      return FALSE;
    }
  for (guint i = 0; i < entry->attributes->len; i++)
    if (!attribute_check (entry, g_ptr_array_index (entry->attributes, i), error))
      return FALSE;

  g_ptr_array_sort (entry->attributes, compare_attribute_names);
  for (guint i = 1; i < entry->attributes->len; i++)
    {
      SqsAttribute *a = g_ptr_array_index (entry->attributes, i - 1);
      SqsAttribute *b = g_ptr_array_index (entry->attributes, i);

      if (g_str_equal (a->name->str, b->name->str))
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                       "Message attribute name '%s' of entry %s is repeated.",
                       a->name->str, entry->id->str);
          return FALSE;
        }
    }

  return TRUE;
}

/* What SQS counts against the batch limit: the body, and each attribute's
 * name, data type and value (binary values decoded) */
static gsize
entry_payload_size (const SqsEntry *entry)
{
  gsize size = entry->body->len;

  for (guint i = 0; i < entry->attributes->len; i++)
    {
      SqsAttribute *attribute = g_ptr_array_index (entry->attributes, i);

      size += attribute->name->len + attribute->data_type->len
              + g_bytes_get_size (attribute->value);
    }

  return size;
}

/* The whole batch carries at most 256 KiB of payload (the classic SQS
 * limit, the one the TIDAL design sizes its events against) */
static gboolean
check_batch_size (SqsBatch  *batch,
                  GError   **error)
{
  gsize total = 0;

  for (guint i = 0; i < batch->entries->len; i++)
    total += entry_payload_size (g_ptr_array_index (batch->entries, i));

  if (total > SQS_MAX_BATCH_BYTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_BATCH_TOO_LONG,
                   "Batch requests cannot be longer than %d bytes. You have sent %"
                   G_GSIZE_FORMAT " bytes.", SQS_MAX_BATCH_BYTES, total);
      return FALSE;
    }

  return TRUE;
}

gboolean
sqs_batch_validate (SqsBatch  *batch,
                    GError   **error)
{
  if (!check_count (batch, error))
    return FALSE;
  for (guint i = 0; i < batch->entries->len; i++)
    if (!check_entry_id (g_ptr_array_index (batch->entries, i), error))
      return FALSE;
  if (!check_ids_distinct (batch, error))
    return FALSE;
  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (batch->entries, i);

      if (!check_entry_body (entry, error)
          || !check_entry_delay (entry, error)
          || !check_entry_attributes (entry, error))
        return FALSE;
    }

  return check_batch_size (batch, error);
}
