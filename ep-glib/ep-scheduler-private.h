/* ep-scheduler-private.h: timers, backoff, network monitor; drives delivery
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Lives on the producer's GMainContext. Takes batches from the queue, has
 * the transport post them, applies the replies to the queue and the monitor,
 * and reports what the producer must announce through EpSchedulerCallbacks,
 * called on that context only, never from inside a libsoup callback. The
 * scheduler holds no reference to the producer and emits no signals.
 */
#pragma once

#include <ep-glib/ep-credentials.h>
#include <ep-glib/ep-error.h>
#include <ep-glib/ep-types.h>

#include "ep-monitor-private.h"
#include "ep-queue-private.h"
#include "ep-transport-private.h"

G_BEGIN_DECLS

/* How the scheduler reports to its owner (the producer). Every member may
 * be NULL. They run on the scheduler's main context with the @user_data
 * given to ep_scheduler_new(), until ep_scheduler_disconnect(). A new kind
 * of report is a new member here, not a signal. */
typedef struct {
  /* A delivery outage starts (TRUE) or ends (FALSE); called on changes only. */
  void    (*delivery_failing)       (gpointer    user_data,
                                     gboolean    failing);
  /* An attempt failed (before delivery_failing reports TRUE): @reason is
   * EP_OUTAGE_REASON_UNREACHABLE, _HTTP_ERROR or _CREDENTIALS, @message
   * says what failed. Called on every failure. */
  void    (*delivery_error)         (gpointer        user_data,
                                     EpOutageReason  reason,
                                     const char     *message);
  /* Whether the network counts as available (GNetworkMonitor, unless the
   * consumers are on loopback): once from ep_scheduler_start(), then on
   * changes. */
  void    (*network_changed)        (gpointer    user_data,
                                     gboolean    available);
  /* The authenticated endpoint answered 401 or 403. */
  void    (*credentials_rejected)   (gpointer    user_data,
                                     guint       http_status);
  /* Events were removed from the queue (confirmed, refused, unreadable). */
  void    (*queue_changed)          (gpointer    user_data);
  /* Builds the record of a monitoring event with the producer's default
   * headers (client-id, never authorization); NULL skips this round. */
  GBytes *(*build_monitoring_event) (gpointer    user_data,
                                     const char *payload);
  /* The consumer's clock moved away from ours (see ep-clock-private.h):
   * add @offset_ms to the local time to stamp events; persist it. */
  void    (*clock_offset_changed)   (gpointer    user_data,
                                     gint64      offset_ms);
  /* Whether events_settled is wanted: asked once per reply, before any id
   * is collected. */
  gboolean (*wants_outcomes)        (gpointer    user_data);
  /* Events left the queue for good: @ids (element-type utf8, not
   * consumed) with one @outcome (DELIVERED or REFUSED), once per reply. */
  void    (*events_settled)         (gpointer        user_data,
                                     GPtrArray      *ids,
                                     EpEventOutcome  outcome);
} EpSchedulerCallbacks;

typedef struct {
  char                 *consumer_uri;
  char                 *public_consumer_uri;
  guint                 batch_interval_ms;
  guint                 monitoring_interval_ms;
  guint                 request_timeout_ms;
  guint                 max_in_flight;
  gboolean              delivery_failing;    /* restored outage state */
  gint64                clock_offset_ms;     /* restored consumer-clock offset */
  guint                 constrained_interval_ms;  /* while metered or power saver: at most one
                                                   * scheduled delivery (and monitoring event) per interval */
} EpSchedulerConfig;

#define EP_TYPE_SCHEDULER (ep_scheduler_get_type ())
G_DECLARE_FINAL_TYPE (EpScheduler, ep_scheduler, EP, SCHEDULER, GObject)

/* Copies @config and @callbacks. Captures the thread-default main context.
 * @user_data (unowned) is passed to the callbacks. */
EpScheduler *ep_scheduler_new             (EpQueue                    *queue,
                                           EpMonitor                  *monitor,
                                           EpTransport                *transport,
                                           const EpSchedulerConfig    *config,
                                           const EpSchedulerCallbacks *callbacks,
                                           gpointer                    user_data);
void         ep_scheduler_start           (EpScheduler             *self);
/* Stops timers and aborts requests in flight (their events go back to the
 * queue; confirmations that still arrive are applied and reported).
 * Idempotent. */
void         ep_scheduler_stop            (EpScheduler             *self);
/* Stops, and forgets the callbacks: nothing calls the owner afterwards,
 * even though requests in flight may keep the scheduler alive a little. */
void         ep_scheduler_disconnect      (EpScheduler             *self);

/* Events were stored: arms the batch timer if it is not armed (an empty
 * queue has no timer, so an idle application gets no wakeups). */
void         ep_scheduler_queue_grew      (EpScheduler             *self);

/* Main context: dropped-event counters changed. The monitoring timer runs
 * only while a counter is non-zero (an idle application gets no wakeups):
 * this arms it. */
void         ep_scheduler_counters_changed (EpScheduler            *self);

/* Main context: the queue was purged; suspects waiting aside that the
 * purge covers go back to the queue now (which deletes them). */
void         ep_scheduler_purged          (EpScheduler             *self);

/* Main context. Takes effect for the next batches. */
void         ep_scheduler_set_max_in_flight (EpScheduler           *self,
                                             guint                  max_in_flight);

/* Any thread. The batches read from now on are sent gzip-compressed
 * (Content-Encoding: gzip), compressed where they are encoded. */
void         ep_scheduler_set_compress    (EpScheduler             *self,
                                           gboolean                 compress);

/* Thread-safe. After the consumer refused the current token, new
 * credentials are tried at once, whatever the backoff, never before a
 * Retry-After time. credentials_rejected is reported once per token value
 * (again once a token was accepted in between). */
void         ep_scheduler_set_credentials (EpScheduler             *self,
                                           EpCredentials           *credentials);

/* Delivers now (skipping backoff, not Retry-After) until every event queued
 * before the call is settled (TRUE), or a batch fails (FALSE with
 * EP_ERROR_DELIVERY saying why). Events sent meanwhile do not make it wait
 * longer. Cancelling ends the wait at once; delivery goes on. */
void         ep_scheduler_flush_async     (EpScheduler             *self,
                                           GCancellable            *cancellable,
                                           GAsyncReadyCallback      callback,
                                           gpointer                 user_data);
gboolean     ep_scheduler_flush_finish    (EpScheduler             *self,
                                           GAsyncResult            *result,
                                           GError                 **error);

/* One last delivery attempt bounded by the request timeout, then stop. */
void         ep_scheduler_close_async     (EpScheduler             *self,
                                           GCancellable            *cancellable,
                                           GAsyncReadyCallback      callback,
                                           gpointer                 user_data);
gboolean     ep_scheduler_close_finish    (EpScheduler             *self,
                                           GAsyncResult            *result,
                                           GError                 **error);

/* Tests: how many times the queue work (batch reads and settles) moved
 * to another thread; it all runs on one worker thread, so 0. */
guint        ep_scheduler_get_worker_switches_for_testing (EpScheduler         *self);
/* Tests: batches read by the worker call that settled the batch before
 * them; and posted batches freed on another thread than the one that read
 * them (the worker frees what it read: 0 in a drain without splits). */
guint        ep_scheduler_get_reads_on_settle_for_testing (EpScheduler         *self);
guint        ep_scheduler_get_freed_elsewhere_for_testing (EpScheduler         *self);

G_END_DECLS
