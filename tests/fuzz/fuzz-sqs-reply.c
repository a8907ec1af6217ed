/* fuzz-sqs-reply.c: libFuzzer target for the SQS reply classifier
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: 2 bytes of HTTP status (mapped to 100..599), a Retry-After value up
 * to the first newline (none when the newline comes first... or absent),
 * then the body. Checks the classifier's promises: it never fails, the
 * Retry-After delay is -1 or within 0..EP_RETRY_AFTER_MAX_SECONDS, and the
 * three id tables exist for a batch result.
 */
#include "config.h"

#include <string.h>

#include "ep-sqs-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autoptr(EpBatchReply) reply = NULL;
  g_autofree char *retry_after = NULL;
  const guint8 *newline;
  guint status;

  if (size < 2)
    return 0;
  status = 100 + (data[0] | data[1] << 8) % 500;
  data += 2;
  size -= 2;
  newline = memchr (data, '\n', size);
  if (newline != NULL && newline != data)
    retry_after = g_strndup ((const char *) data, newline - data);
  if (newline != NULL)
    {
      size -= newline + 1 - data;
      data = newline + 1;
    }

  reply = ep_batch_reply_parse (status, retry_after, 1700000000, (const char *) data, size);
  g_assert_nonnull (reply);
  g_assert_cmpuint (reply->http_status, ==, status);
  g_assert_true (reply->retry_after_s == -1 ||
                 (reply->retry_after_s >= 0 && reply->retry_after_s <= EP_RETRY_AFTER_MAX_SECONDS));
  if (reply->kind == EP_REPLY_BATCH_RESULT)
    {
      g_assert_true (status >= 200 && status < 300);
      g_assert_nonnull (reply->confirmed);
    }
  if (retry_after != NULL)
    {
      gint64 delay = ep_parse_retry_after (retry_after, 1700000000);

      g_assert_true (delay == -1 || (delay >= 0 && delay <= EP_RETRY_AFTER_MAX_SECONDS));
    }
  return 0;
}
