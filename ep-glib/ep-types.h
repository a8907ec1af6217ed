/* ep-types.h: enumerations of the public API
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(EP_GLIB_INSIDE) && !defined(EP_GLIB_COMPILATION)
# error "Only <ep-glib/ep-glib.h> can be included directly."
#endif

#include <glib.h>

G_BEGIN_DECLS

/**
 * EpConsentCategory:
 * @EP_CONSENT_CATEGORY_NECESSARY: events the application needs to work; never blocked
 * @EP_CONSENT_CATEGORY_PERFORMANCE: performance and usage measurement; blocked by default
 * @EP_CONSENT_CATEGORY_TARGETING: personalisation and advertising; blocked by default
 *
 * The consent category an event belongs to. It travels as the
 * `consent-category` header (`NECESSARY`, `PERFORMANCE`, `TARGETING`).
 */
typedef enum {
  EP_CONSENT_CATEGORY_NECESSARY,
  EP_CONSENT_CATEGORY_PERFORMANCE,
  EP_CONSENT_CATEGORY_TARGETING,
} EpConsentCategory;

/**
 * EpSendResult:
 * @EP_SEND_RESULT_STORED: the event is in the persistent queue and will be delivered
 * @EP_SEND_RESULT_CONSENT_FILTERED: the event's category is blocked; it was dropped
 *   and counted, and never touched the disk or the network
 * @EP_SEND_RESULT_VALIDATION_FAILED: the event was invalid (empty name, over 20480
 *   bytes, or characters outside XML 1.0); it was dropped and counted
 * @EP_SEND_RESULT_STORING_FAILED: the queue could not store the event (over
 *   #EpProducer:max-disk-usage, disk full, I/O error, producer closed); it was
 *   dropped and counted, and a storage outage started
 *
 * What ep_producer_send_event() did with an event.
 */
typedef enum {
  EP_SEND_RESULT_STORED,
  EP_SEND_RESULT_CONSENT_FILTERED,
  EP_SEND_RESULT_VALIDATION_FAILED,
  EP_SEND_RESULT_STORING_FAILED,
} EpSendResult;

/**
 * EpOutageReason:
 * @EP_OUTAGE_REASON_NONE: events are stored and delivered; nothing to show
 * @EP_OUTAGE_REASON_OFFLINE: the system has no network
 *   (#GNetworkMonitor:network-available is %FALSE): events wait on disk and
 *   are delivered once it comes back. Not an outage:
 *   #EpProducer:outage stays %FALSE
 * @EP_OUTAGE_REASON_UNREACHABLE: the consumer could not be reached: name
 *   resolution, connection or TLS failed, or it did not answer within
 *   #EpProducer:request-timeout
 * @EP_OUTAGE_REASON_HTTP_ERROR: the consumer answered with an error (an
 *   HTTP error status, a reply that is not SQS XML, or refusals of every
 *   event)
 * @EP_OUTAGE_REASON_CREDENTIALS: the consumer refused the credentials (HTTP
 *   401 or 403); see #EpProducer::credentials-rejected
 * @EP_OUTAGE_REASON_STORAGE: events cannot be stored (disk full, over
 *   #EpProducer:max-disk-usage, an I/O error); new events are dropped
 *
 * Why #EpProducer:outage is %TRUE, for an application to show: see
 * #EpProducer:outage-reason.
 *
 * Since: 0.2
 */
typedef enum {
  EP_OUTAGE_REASON_NONE,
  EP_OUTAGE_REASON_OFFLINE,
  EP_OUTAGE_REASON_UNREACHABLE,
  EP_OUTAGE_REASON_HTTP_ERROR,
  EP_OUTAGE_REASON_CREDENTIALS,
  EP_OUTAGE_REASON_STORAGE,
} EpOutageReason;

/**
 * EpEventOutcome:
 * @EP_EVENT_OUTCOME_DELIVERED: the consumer confirmed the event; it left
 *   the queue
 * @EP_EVENT_OUTCOME_REFUSED: the consumer refused the event as invalid,
 *   and the evidence proved the fault is the event's (not the consumer's):
 *   it was deleted and counted as a validation failure
 * @EP_EVENT_OUTCOME_EXPIRED: the event was older than
 *   `max-event-age`: it was deleted unsent and counted as expired
 * @EP_EVENT_OUTCOME_PURGED: ep_producer_purge_async() deleted it unsent
 * @EP_EVENT_OUTCOME_CONSENT_REVOKED: its consent category was blocked
 *   (ep_producer_set_consent_blocked(), or a revocation restored at start)
 *   before it was delivered: it was deleted unsent and counted as
 *   consent-filtered
 *
 * What became of queued events, as #EpProducer::events-settled reports.
 *
 * Since: 0.2
 */
typedef enum {
  EP_EVENT_OUTCOME_DELIVERED,
  EP_EVENT_OUTCOME_REFUSED,
  EP_EVENT_OUTCOME_EXPIRED,
  EP_EVENT_OUTCOME_PURGED,
  EP_EVENT_OUTCOME_CONSENT_REVOKED,
} EpEventOutcome;

G_END_DECLS
