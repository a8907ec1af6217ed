/* ep-producer-state-private.h: what a producer saves besides its queue
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The producer's state that outlives a run: the storage and delivery
 * outage flags, why the delivery outage goes on, the consumer's clock
 * offset, and with them the monitor's dropped-event counters. One file
 * holds them all, a state blob of the queue (ep-queue-state-private.h),
 * written by one save policy: every change asks for a save; the first
 * change after a save began arms one timer on the context the state was
 * created on, and the save then runs on a worker thread, so a burst of
 * changes costs one write.
 *
 * Thread safety: any thread. The producer keeps its own copy of the
 * delivery outage on its main context and hands each change here.
 */
#pragma once

#include <glib-object.h>

#include "ep-monitor-private.h"
#include "ep-queue-private.h"

G_BEGIN_DECLS

#define EP_TYPE_PRODUCER_STATE (ep_producer_state_get_type ())
G_DECLARE_FINAL_TYPE (EpProducerState, ep_producer_state, EP, PRODUCER_STATE, GObject)

/* Loads the state blob of @queue if there is one, restoring the counters
 * into @monitor, and from then on saves them with the state (both are
 * referenced). A blob that cannot be parsed is moved aside (".corrupt"),
 * logged with g_message, and the state and the counters start empty. A
 * saved clock offset that is implausible now (ep_clock_offset_is_plausible())
 * is discarded, and 0 is saved. Saves are timed on the thread-default main
 * context of the caller. */
EpProducerState *ep_producer_state_new           (EpQueue          *queue,
                                                  EpMonitor        *monitor);

void             ep_producer_state_get_outage    (EpProducerState  *self,
                                                  gboolean         *storage,
                                                  gboolean         *delivery);
/* Returns TRUE if the state changed (and a save was asked for). */
gboolean         ep_producer_state_set_outage    (EpProducerState  *self,
                                                  gboolean          storage,
                                                  gboolean          delivery);

/* Why the delivery outage is going on (an EpOutageReason and a message;
 * 0 and NULL without one). Setting returns TRUE when it was the first
 * change since the last save began. */
guint            ep_producer_state_dup_delivery_error (EpProducerState  *self,
                                                       char            **message);
gboolean         ep_producer_state_set_delivery_error (EpProducerState  *self,
                                                       guint             reason,
                                                       const char       *message);

/* The consumer's clock minus the local one (ms), restored at start.
 * Setting returns as ep_producer_state_set_delivery_error() does. */
gint64           ep_producer_state_get_clock_offset (EpProducerState *self);
gboolean         ep_producer_state_set_clock_offset (EpProducerState *self,
                                                     gint64           offset_ms);

/* Changed (the counters included) since the last save. */
gboolean         ep_producer_state_is_dirty_for_testing (EpProducerState  *self);
/* Writes the state and the counters now (through the queue, atomically,
 * durably, mode 0600) if they changed, cancelling a scheduled save.
 * Blocking: meant for worker threads and shutdown. Does nothing once
 * closed, or for a read-only or closed queue. */
gboolean         ep_producer_state_save          (EpProducerState  *self,
                                                  GError          **error);
/* Saves what is left (a failure is logged), then never saves again: call
 * it before the queue is closed, as the directory may belong to another
 * producer afterwards. The monitor goes on counting in memory. Idempotent. */
void             ep_producer_state_close         (EpProducerState  *self);

/* Writes so far (for tests). */
guint            ep_producer_state_get_n_saves_for_testing (EpProducerState  *self);

G_END_DECLS
