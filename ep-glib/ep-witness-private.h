/* ep-witness-private.h: the witness rule of SPEC section 4, per endpoint
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An event is deleted as refused only if the same endpoint confirmed other
 * events in the same reply (the scheduler sees that itself) or in a reply
 * to a request sent after the event was first refused. An EpWitness is the
 * ledger of one endpoint: when each queued event was first refused, and the
 * latest request whose reply confirmed events. Requests are numbered by the
 * scheduler in the order they are posted (serials start at 1).
 *
 * A consumer or middlebox that refuses everything alike never confirms
 * anything, so it never witnesses, and nothing is dropped. Memory only: a
 * restart forgets the marks, which can only delay a drop. Main context.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EpWitness EpWitness;

EpWitness *ep_witness_new            (void);
void       ep_witness_free           (EpWitness *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpWitness, ep_witness_free)

/* The event @seq was refused; @last_serial is the serial of the latest
 * request posted so far (a witness must come from a later one). Only the
 * first refusal counts; later ones keep the first mark. */
void       ep_witness_note_refused   (EpWitness *self,
                                      guint64    seq,
                                      guint64    last_serial);
/* The reply to request @serial confirmed at least one event. */
void       ep_witness_note_confirmed (EpWitness *self,
                                      guint64    serial);
/* Whether a request sent after @seq was first refused had events
 * confirmed. FALSE for an event never refused. */
gboolean   ep_witness_seen           (EpWitness *self,
                                      guint64    seq);
/* The event left the queue (confirmed or dropped): forget its mark. */
void       ep_witness_forget         (EpWitness *self,
                                      guint64    seq);
guint      ep_witness_get_n_marked   (EpWitness *self);

G_END_DECLS
