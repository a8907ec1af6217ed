/* ep-error.h: the EP_ERROR domain
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(EP_GLIB_INSIDE) && !defined(EP_GLIB_COMPILATION)
# error "Only <ep-glib/ep-glib.h> can be included directly."
#endif

#include <glib.h>

#include <ep-glib/ep-version.h>

G_BEGIN_DECLS

/**
 * EP_ERROR:
 *
 * The error domain of ep-glib.
 */
#define EP_ERROR (ep_error_quark ())

/**
 * EpError:
 * @EP_ERROR_INVALID_CONFIG: a construction property is missing or malformed
 * @EP_ERROR_QUEUE_LOCKED: another producer owns the queue directory
 * @EP_ERROR_STORAGE: the queue directory or a file in it cannot be used
 * @EP_ERROR_DELIVERY: the consumer could not be reached or refused the events
 * @EP_ERROR_CLOSED: the producer was closed
 * @EP_ERROR_INVALID_EVENT: deprecated since 0.2, never returned: a send reports
 *   an invalid event with %EP_SEND_RESULT_VALIDATION_FAILED
 * @EP_ERROR_BUDGET_EXCEEDED: deprecated since 0.2, never returned: a send reports
 *   an event over #EpProducer:max-disk-usage with %EP_SEND_RESULT_STORING_FAILED
 * @EP_ERROR_TLS_UNAVAILABLE: a consumer URI is https, and GIO has no TLS
 *   backend (install glib-networking). Since: 0.2
 *
 * Error codes of the %EP_ERROR domain. Construction fails with
 * %EP_ERROR_INVALID_CONFIG, %EP_ERROR_TLS_UNAVAILABLE, %EP_ERROR_QUEUE_LOCKED
 * or %EP_ERROR_STORAGE; a flush with %EP_ERROR_DELIVERY or %EP_ERROR_CLOSED
 * (or %G_IO_ERROR_CANCELLED).
 */
typedef enum {
  EP_ERROR_INVALID_CONFIG,
  EP_ERROR_QUEUE_LOCKED,
  EP_ERROR_STORAGE,
  EP_ERROR_DELIVERY,
  EP_ERROR_CLOSED,
  EP_ERROR_INVALID_EVENT EP_DEPRECATED_ENUMERATOR_IN_0_2,
  EP_ERROR_BUDGET_EXCEEDED EP_DEPRECATED_ENUMERATOR_IN_0_2,
  EP_ERROR_TLS_UNAVAILABLE,
} EpError;

EP_AVAILABLE_IN_ALL
GQuark ep_error_quark (void);

G_END_DECLS
