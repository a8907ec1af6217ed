/* ep-transport-private.h: the producer's one SoupSession
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Owns the producer's one SoupSession: one POST per task, with a
 * whole-request deadline; the reply goes through ep-sqs's classifier.
 * Knows nothing of queues, timers or outages.
 */
#pragma once

#include <libsoup/soup.h>

#include "ep-sqs-private.h"

G_BEGIN_DECLS

/* The session's connections per host (two hosts at most: the consumer and
 * the public consumer). libsoup's default of 2 would queue the producer's
 * batches behind each other; the properties are construct-only, so this is
 * a fixed bound, and the scheduler clamps max-in-flight to it: more batches
 * in flight would only wait inside libsoup, read from the queue for
 * nothing. */
#define EP_TRANSPORT_MAX_CONNS_PER_HOST 32

/* A reply body larger than this fails the request (SPEC section 4): an SQS
 * reply for ten entries is a few KB. */
#define EP_TRANSPORT_MAX_REPLY_BYTES (1024 * 1024)

#define EP_TYPE_TRANSPORT (ep_transport_get_type ())
G_DECLARE_FINAL_TYPE (EpTransport, ep_transport, EP, TRANSPORT, GObject)

/* @user_agent: the User-Agent value. @timeout_ms: whole-request timeout (no
 * reply within it fails with G_IO_ERROR_TIMED_OUT, without blocking anything). */
EpTransport  *ep_transport_new             (const char    *user_agent,
                                            guint          timeout_ms);
void          ep_transport_set_timeout_for_testing (EpTransport   *self,
                                                    guint          timeout_ms);

/* POSTs @body to @uri on the thread-default main context of the caller.
 * With @bearer_token: `Authorization: Bearer <token>`. Else with @client_id:
 * `X-Tidal-Token: <client_id>`. With @gzip, @body is gzip-compressed and
 * goes with `Content-Encoding: gzip`. The message is flagged idempotent so the
 * connection is reused. Network errors, timeouts and cancellation are
 * reported by _finish as a GError (G_IO_ERROR_*); every HTTP reply, whatever
 * its status, is an EpBatchReply. */
void          ep_transport_post_async      (EpTransport         *self,
                                            const char          *uri,
                                            const char          *bearer_token,
                                            const char          *client_id,
                                            GBytes              *body,
                                            gboolean             gzip,
                                            GCancellable        *cancellable,
                                            GAsyncReadyCallback  callback,
                                            gpointer             user_data);
EpBatchReply *ep_transport_post_finish     (EpTransport         *self,
                                            GAsyncResult        *result,
                                            GError             **error);

/* Cancels every request in flight (they finish with G_IO_ERROR_CANCELLED). */
void          ep_transport_abort_for_testing (EpTransport         *self);

G_END_DECLS
