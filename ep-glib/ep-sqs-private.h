/* ep-sqs-private.h: the SQS SendMessageBatch wire format
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Encodes a batch of events as the SQS form body (SPEC section 4) and
 * classifies an HTTP reply (the SQS XML, parsed with GMarkupParseContext).
 * Pure functions: no I/O, no session, no queue. The scheduler decides what a
 * reply means for the events.
 */
#pragma once

#include <glib.h>

#include "ep-event-private.h"

G_BEGIN_DECLS

#define EP_SQS_XMLNS "http://queue.amazonaws.com/doc/2012-11-05/"
#define EP_RETRY_AFTER_MAX_SECONDS 3600

typedef enum {
  EP_REPLY_BATCH_RESULT,       /* 2xx with a SendMessageBatchResponse: see confirmed/sender_faults/retryable */
  EP_REPLY_IDS_NOT_DISTINCT,   /* ErrorResponse, Type Sender, Code AWS.SimpleQueueService.BatchEntryIdsNotDistinct */
  EP_REPLY_AUTH_REJECTED,      /* 401 or 403 */
  EP_REPLY_THROTTLED,          /* 429 or 503 (retry_after_s set when a Retry-After header came) */
  EP_REPLY_BATCH_REFUSED,      /* a whole-batch refusal: 400 (any code but BatchEntryIdsNotDistinct), 413, other 4xx but 401/403/404/408/429 */
  EP_REPLY_FAILED,             /* any other status (5xx, 404, 408, 3xx...), or a 2xx body that is not SQS XML */
} EpReplyKind;

typedef struct {
  EpReplyKind  kind;
  guint        http_status;
  gint64       retry_after_s;   /* -1 when none; else seconds from now, 0..EP_RETRY_AFTER_MAX_SECONDS */
  GHashTable  *confirmed;       /* (element-type utf8 utf8): SendMessageBatchResultEntry Id -> MessageId */
  GHashTable  *sender_faults;   /* (element-type utf8 utf8): BatchResultErrorEntry Id -> Code, SenderFault true */
  GHashTable  *retryable;       /* (element-type utf8 utf8): BatchResultErrorEntry Id -> Code, SenderFault false */
  char        *error_type;      /* ErrorResponse Type, or NULL */
  char        *error_code;      /* ErrorResponse Code, or NULL */
  char        *error_message;   /* human-readable summary for logs (never contains tokens) */
  gboolean     sqs_body;        /* the body is the consumer's own: SQS XML, a SendMessageBatchResponse
                                 * with a 2xx status or an ErrorResponse with another; only such a
                                 * reply's Date is a clock sample (a captive portal's page is not) */
  /* The consumer's clock (set by the transport, for EpClock): */
  gint64       server_ms;       /* its Date (+ Age), ms since the epoch; -1 when none */
  gint64       received_ms;     /* local real time when the reply came, ms since the epoch */
  gint64       round_trip_ms;   /* the request's duration, monotonic */
} EpBatchReply;

void          ep_batch_reply_free          (EpBatchReply  *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpBatchReply, ep_batch_reply_free)

/* Classifies an HTTP reply. Pure: no I/O. @retry_after is the raw header
 * value (nullable): delta-seconds or an HTTP-date, relative to @now_s
 * (seconds since the epoch), capped at EP_RETRY_AFTER_MAX_SECONDS. Never
 * fails: a body that cannot be parsed gives EP_REPLY_FAILED with a message. */
EpBatchReply *ep_batch_reply_parse         (guint          http_status,
                                            const char    *retry_after,
                                            gint64         now_s,
                                            const char    *body,
                                            gsize          body_len);

gint64        ep_parse_retry_after         (const char    *value,
                                            gint64         now_s);

/* The form body for a batch of 1..10 events, keys in SPEC order. */
GBytes       *ep_sqs_encode_batch          (const EpEvent * const *events,
                                            guint           n_events);

/* @body compressed with gzip (RFC 1952), for Content-Encoding: gzip. */
GBytes       *ep_sqs_gzip                  (GBytes        *body);

G_END_DECLS
