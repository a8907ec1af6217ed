/* sqs-batch.c: a SendMessageBatch request, entry by entry, and its results
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The decoders fill an SqsBatch from either protocol: entries and their
 * attributes are kept by the index the request gave them (query protocol:
 * the N of SendMessageBatchRequestEntry.N; JSON: the array position), with
 * every field as received, so that validation can say exactly what is
 * missing. Then each entry is settled: accepted (a MessageId and the two
 * checksums SQS computes) or failed (a code, a message and the fault side).
 */
#include "config.h"

#include <string.h>

#include "sqs-server-private.h"

G_DEFINE_QUARK (sqs-server-error-quark, sqs_error)

/* Request-level errors: a 4xx or 5xx reply refusing the whole batch. SQS
 * marks a request the client must change before resending as Type Sender
 * (every code here but InternalFailure), one that may succeed later as
 * Receiver. */
static const SqsErrorInfo sqs_errors[] = {
  [SQS_ERROR_EMPTY_BATCH] = { SQS_ERROR_PREFIX "EmptyBatchRequest", 400, TRUE },
  [SQS_ERROR_TOO_MANY_ENTRIES] = { SQS_ERROR_PREFIX "TooManyEntriesInBatchRequest", 400, TRUE },
  [SQS_ERROR_INVALID_ENTRY_ID] = { SQS_ERROR_PREFIX "InvalidBatchEntryId", 400, TRUE },
  [SQS_ERROR_IDS_NOT_DISTINCT] = { SQS_ERROR_PREFIX "BatchEntryIdsNotDistinct", 400, TRUE },
  [SQS_ERROR_BATCH_TOO_LONG] = { SQS_ERROR_PREFIX "BatchRequestTooLong", 400, TRUE },
  [SQS_ERROR_MISSING_PARAMETER] = { "MissingParameter", 400, TRUE },
  [SQS_ERROR_INVALID_PARAMETER] = { "InvalidParameterValue", 400, TRUE },
  [SQS_ERROR_INVALID_ACTION] = { "InvalidAction", 400, TRUE },
  [SQS_ERROR_NONEXISTENT_QUEUE] = { SQS_ERROR_PREFIX "NonExistentQueue", 400, TRUE },
  [SQS_ERROR_MALFORMED_QUERY] = { "MalformedQueryString", 400, TRUE },
  [SQS_ERROR_UNSUPPORTED_MEDIA_TYPE] = { "UnsupportedMediaType", 415, TRUE },
  [SQS_ERROR_REQUEST_TOO_LARGE] = { "RequestEntityTooLarge", 413, TRUE },
  [SQS_ERROR_METHOD_NOT_ALLOWED] = { "MethodNotAllowed", 405, TRUE },
  [SQS_ERROR_NOT_FOUND] = { "NotFound", 404, TRUE },
  [SQS_ERROR_MISSING_TOKEN] = { "MissingAuthenticationToken", 401, TRUE },
  [SQS_ERROR_INVALID_TOKEN] = { "InvalidClientTokenId", 401, TRUE },
  [SQS_ERROR_ACCESS_DENIED] = { "AccessDenied", 403, TRUE },
  [SQS_ERROR_INTERNAL] = { "InternalFailure", 500, FALSE },
};

const SqsErrorInfo *
sqs_error_get_info (SqsError code)
{
  g_assert ((gsize) code < G_N_ELEMENTS (sqs_errors));

  return &sqs_errors[code];
}

/* ------------------------------------------------------------------------ */
/* Text                                                                     */

/* The XML 1.0 Char production: the only characters SQS accepts in a
 * message body or a string attribute value. */
gboolean
sqs_is_xml_char (gunichar c)
{
  return c == 0x9 || c == 0xA || c == 0xD
         || (c >= 0x20 && c <= 0xD7FF)
         || (c >= 0xE000 && c <= 0xFFFD)
         || (c >= 0x10000 && c <= 0x10FFFF);
}

/* A short, printable, valid UTF-8 rendering of untrusted bytes, for
 * messages and logs. */
char *
sqs_printable (const char *data,
               gsize       len)
{
  g_autofree char *valid = g_utf8_make_valid (data, len);
  GString *out = g_string_new (NULL);
  guint count = 0;

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (count++ == SQS_PREVIEW_CHARS)
        {
          g_string_append (out, "...");
          break;
        }
      g_string_append_unichar (out, sqs_is_xml_char (c) && c >= 0x20 ? c : 0xFFFD);
    }

  return g_string_free (out, FALSE);
}

char *
sqs_printable_string (const GString *s)
{
  return sqs_printable (s->str, s->len);
}

/* ------------------------------------------------------------------------ */
/* The model                                                                */

static void
string_clear (GString **s)
{
  if (*s != NULL)
    g_string_free (g_steal_pointer (s), TRUE);
}

static void
attribute_free (gpointer data)
{
  SqsAttribute *attribute = data;

  string_clear (&attribute->name);
  string_clear (&attribute->data_type);
  string_clear (&attribute->string_value);
  string_clear (&attribute->binary_value);
  g_clear_pointer (&attribute->value, g_bytes_unref);
  g_free (attribute);
}

static void
entry_free (gpointer data)
{
  SqsEntry *entry = data;

  string_clear (&entry->id);
  string_clear (&entry->body);
  string_clear (&entry->delay);
  g_hash_table_unref (entry->attribute_map);
  g_ptr_array_unref (entry->attributes);
  g_free (entry->error_message);
  g_free (entry->message_id);
  g_free (entry->md5_body);
  g_free (entry->md5_attributes);
  g_free (entry);
}

SqsBatch *
sqs_batch_new (void)
{
  SqsBatch *batch = g_new0 (SqsBatch, 1);

  batch->entry_map = g_hash_table_new_full (NULL, NULL, NULL, entry_free);
  batch->entries = g_ptr_array_new ();

  return batch;
}

void
sqs_batch_free (SqsBatch *batch)
{
  g_ptr_array_unref (batch->entries);
  g_hash_table_unref (batch->entry_map);
  g_free (batch->queue_url);
  g_free (batch);
}

SqsEntry *
sqs_batch_lookup_entry (SqsBatch *batch,
                        guint     index)
{
  SqsEntry *entry = g_hash_table_lookup (batch->entry_map, GUINT_TO_POINTER (index));

  if (entry == NULL)
    {
      entry = g_new0 (SqsEntry, 1);
      entry->index = index;
      entry->attribute_map = g_hash_table_new_full (NULL, NULL, NULL, attribute_free);
      entry->attributes = g_ptr_array_new ();
      g_hash_table_insert (batch->entry_map, GUINT_TO_POINTER (index), entry);
    }

  return entry;
}

SqsAttribute *
sqs_entry_lookup_attribute (SqsEntry *entry,
                            guint     index)
{
  SqsAttribute *attribute;

  attribute = g_hash_table_lookup (entry->attribute_map, GUINT_TO_POINTER (index));
  if (attribute == NULL)
    {
      attribute = g_new0 (SqsAttribute, 1);
      attribute->index = index;
      g_hash_table_insert (entry->attribute_map, GUINT_TO_POINTER (index), attribute);
    }

  return attribute;
}

static int
compare_entries (gconstpointer a,
                 gconstpointer b)
{
  const SqsEntry *x = *(const SqsEntry **) a;
  const SqsEntry *y = *(const SqsEntry **) b;

  return (x->index > y->index) - (x->index < y->index);
}

static int
compare_attributes (gconstpointer a,
                    gconstpointer b)
{
  const SqsAttribute *x = *(const SqsAttribute **) a;
  const SqsAttribute *y = *(const SqsAttribute **) b;

  return (x->index > y->index) - (x->index < y->index);
}

/* Fill the ordered arrays once every parameter is parsed. The indexes need
 * not be contiguous: SQS orders entries by N and does not ask for 1..n. */
void
sqs_batch_seal (SqsBatch *batch)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, batch->entry_map);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      SqsEntry *entry = value;
      GHashTableIter attribute_iter;
      gpointer attribute;

      g_ptr_array_add (batch->entries, entry);
      g_hash_table_iter_init (&attribute_iter, entry->attribute_map);
      while (g_hash_table_iter_next (&attribute_iter, NULL, &attribute))
        g_ptr_array_add (entry->attributes, attribute);
      g_ptr_array_sort (entry->attributes, compare_attributes);
    }
  g_ptr_array_sort (batch->entries, compare_entries);
}

const SqsAttribute *
sqs_entry_find_string_attribute (const SqsEntry *entry,
                                 const char     *name)
{
  for (guint i = 0; i < entry->attributes->len; i++)
    {
      const SqsAttribute *attribute = g_ptr_array_index (entry->attributes, i);

      if (attribute->name != NULL && g_str_equal (attribute->name->str, name)
          && attribute->string_value != NULL)
        return attribute;
    }

  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Settling one entry                                                       */

/* What check_xml_text () checked, for its message */
static char *
text_place (const char *attribute)
{
  return attribute != NULL ? g_strdup_printf ("value of message attribute '%s'", attribute)
                           : g_strdup ("message body");
}

/* Check that text is UTF-8 made of XML 1.0 characters only: the message
 * body, or the value of the string @attribute (the name) */
static gboolean
check_xml_text (const GString  *text,
                const char     *attribute,
                char          **message)
{
  const char *p = text->str;
  const char *end = text->str + text->len;

  while (p < end)
    {
      gunichar c;

      /* ASCII text, the common case, a byte at a time */
      if ((guchar) *p >= 0x20 && (guchar) *p < 0x80)
        {
          p++;
          continue;
        }
      c = *p == '\0' ? 0 : g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_autofree char *where = text_place (attribute);

          *message = g_strdup_printf ("The %s is not valid UTF-8 (at byte %" G_GSIZE_FORMAT ").",
                                      where, (gsize) (p - text->str));
          return FALSE;
        }
      if (!sqs_is_xml_char (c))
        {
          g_autofree char *where = text_place (attribute);

          *message = g_strdup_printf ("Invalid binary character '#x%X' was found in the %s.",
                                      c, where);
          return FALSE;
        }
      p = c == 0 ? p + 1 : g_utf8_next_char (p);
    }

  return TRUE;
}

/* SQS refuses a body or a string attribute value holding a character that
 * XML 1.0 does not allow (or bytes that are not UTF-8), but only that
 * entry: it fails with InvalidMessageContents, SenderFault true, and the
 * other entries of the batch are still accepted. Binary values may hold
 * any byte. Returns FALSE when the entry failed. */
gboolean
sqs_entry_check_contents (SqsEntry *entry)
{
  char *message = NULL;

  if (!check_xml_text (entry->body, NULL, &message))
    goto invalid;
  for (guint i = 0; i < entry->attributes->len; i++)
    {
      SqsAttribute *attribute = g_ptr_array_index (entry->attributes, i);

      if (attribute->string_value != NULL
          && !check_xml_text (attribute->string_value, attribute->name->str, &message))
        goto invalid;
    }

  return TRUE;

invalid:
  sqs_entry_fail (entry, "InvalidMessageContents", message, TRUE);
  return FALSE;
}

static void
checksum_add_field (GChecksum  *checksum,
                    const void *data,
                    gsize       len)
{
  guint32 be = GUINT32_TO_BE ((guint32) len);

  g_checksum_update (checksum, (const guchar *) &be, sizeof be);
  g_checksum_update (checksum, data, len);
}

/* MD5OfMessageAttributes as SQS computes it (the AWS SDKs check it): over
 * the attributes sorted by name in byte order (validation sorted them),
 * each as its name, its data type and its value, each length-prefixed (4
 * bytes, big-endian), with one byte between type and value: 1 for a string
 * value, 2 for a binary one (then the value is the decoded bytes). */
static char *
md5_of_attributes (GPtrArray *attributes)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_MD5);

  for (guint i = 0; i < attributes->len; i++)
    {
      SqsAttribute *attribute = g_ptr_array_index (attributes, i);
      guchar transport = attribute->binary_value != NULL ? 2 : 1;
      gsize len;
      const void *value = g_bytes_get_data (attribute->value, &len);

      checksum_add_field (checksum, attribute->name->str, attribute->name->len);
      checksum_add_field (checksum, attribute->data_type->str, attribute->data_type->len);
      g_checksum_update (checksum, &transport, 1);
      checksum_add_field (checksum, value, len);
    }

  return g_strdup (g_checksum_get_string (checksum));
}

/* Accept a validated entry under @message_id (taken): MD5OfMessageBody is
 * the MD5 of the body's bytes; MD5OfMessageAttributes is only given for a
 * message that has attributes. */
void
sqs_entry_accept (SqsEntry *entry,
                  char     *message_id)
{
  g_assert (entry->error_code == NULL);

  entry->message_id = message_id;
  entry->md5_body = g_compute_checksum_for_data (G_CHECKSUM_MD5,
                                                 (const guchar *) entry->body->str,
                                                 entry->body->len);
  if (entry->attributes->len > 0)
    entry->md5_attributes = md5_of_attributes (entry->attributes);
}

/* Fail one entry (a BatchResultErrorEntry); @code is static, @message taken.
 * SenderFault false says the service failed and a resend may succeed. */
void
sqs_entry_fail (SqsEntry   *entry,
                const char *code,
                char       *message,
                gboolean    sender_fault)
{
  entry->error_code = code;
  g_free (entry->error_message);
  entry->error_message = message;
  entry->sender_fault = sender_fault;
}

/* ------------------------------------------------------------------------ */
/* MessageIds and RequestIds                                                */

/* A version 4 UUID drawn from @rand, so that a consumer seeded for a
 * repeatable run (ep-consumer --seed) gives repeatable MessageIds and
 * RequestIds */
char *
sqs_random_uuid (GRand *rand)
{
  guint8 b[16];

  for (guint i = 0; i < sizeof b; i += 4)
    {
      guint32 r = g_rand_int (rand);
      memcpy (b + i, &r, 4);
    }
  b[6] = (b[6] & 0x0f) | 0x40;  /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80;  /* RFC 4122 variant */

  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                          b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
