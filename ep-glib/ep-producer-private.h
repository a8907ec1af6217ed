/* ep-producer-private.h: the producer's parts, for tests and internal wiring
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <ep-glib/ep-producer.h>

#include "ep-queue-private.h"
#include "ep-submitter-private.h"

G_BEGIN_DECLS

/* The producer's send path (transfer none); NULL only before init. */
EpSubmitter *ep_producer_get_submitter_for_testing (EpProducer *self);

/* The producer's queue (transfer none), for tests; NULL only before init. */
EpQueue     *ep_producer_get_queue_for_testing     (EpProducer *self);

/* The consumer's clock minus ours changed (the scheduler's estimate, or a
 * test): events sent from now on are stamped with it (the submitter), and
 * it is saved for the next start (the saved state). Any thread. */
void         ep_producer_set_clock_offset          (EpProducer *self,
                                                    gint64      offset_ms);

/* Tests: how many event ids the producer was handed for
 * EpProducer::events-settled (by the scheduler and the queue). They are
 * collected only while a handler is connected: 0 without one. */
guint64      ep_producer_get_settled_ids_collected_for_testing (EpProducer *self);

G_END_DECLS
