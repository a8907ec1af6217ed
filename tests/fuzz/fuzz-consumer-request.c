/* fuzz-consumer-request.c: libFuzzer target for ep-consumer's request decoding
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: one byte choosing the protocol (even: the query form, odd: JSON),
 * then the request body. Decodes it as ep-consumer does (tools/sqs-server),
 * validates it, checks each entry's contents and builds the reply.
 */
#include "config.h"

#include "sqs-server.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(SqsBatch) batch = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  gboolean json;

  if (size < 1)
    return 0;
  json = data[0] & 1;
  if (json)
    batch = sqs_batch_from_json ((const char *) data + 1, size - 1, NULL, NULL, &error);
  else
    batch = sqs_batch_from_query ((const char *) data + 1, size - 1, NULL, NULL, &error);
  if (batch == NULL)
    {
      g_assert_nonnull (error);
      return 0;
    }
  g_assert_no_error (error);
  if (!sqs_batch_validate (batch, &error))
    {
      g_assert_nonnull (error);
      return 0;
    }
  g_assert_cmpuint (batch->entries->len, >=, 1);
  g_assert_cmpuint (batch->entries->len, <=, 10);
  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = batch->entries->pdata[i];

      if (sqs_entry_check_contents (entry))
        sqs_entry_accept (entry, g_strdup ("00000000-0000-4000-8000-000000000000"));
    }
  reply = json ? sqs_reply_json_batch (batch) : sqs_reply_xml_batch (batch, "r");
  g_assert_nonnull (reply);
  return 0;
}
