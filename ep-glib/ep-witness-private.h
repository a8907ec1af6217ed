/* ep-witness-private.h: the evidence that a refused event is at fault (SPEC section 4)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A refusal proves something about an event only when it is specific to
 * it and the consumer is otherwise reliable. The ledger keeps, per
 * endpoint (0 public, 1 authenticated), how many events it confirmed and
 * how many of its refusals were proven wrong, and per refused event (by
 * id) how often it was refused, how often on its own (alone in its
 * request, or its own entry refused in a reply that confirmed others), and
 * both endpoint counts at its first refusal.
 *
 * A refusal (of a whole request, or of one entry) is proven wrong when
 * every event it refused is confirmed later: the consumer refused at
 * random. A request refused because of a poison event among good ones is
 * never proven wrong: the poison is never confirmed.
 *
 * The rule (README, "Guarantees"): an event is dropped as refused only
 * when ep_witness_proves_fault() holds:
 *   - it was refused on its own at least EP_WITNESS_MIN_SPECIFIC times,
 *   - since its first refusal the same endpoint confirmed at least
 *     EP_WITNESS_MIN_CONFIRMED other events, and
 *   - since its first refusal, refusals proven wrong number at most one
 *     per EP_WITNESS_FALSE_RATIO_DENOM of those confirmations.
 * A consumer that refuses everything confirms nothing; one that refuses at
 * random keeps proving its refusals wrong; in either case nothing is
 * dropped.
 *
 * Persisted as a blob through the queue (ep_witness_save()/_load()).
 * Bounded: past EP_WITNESS_MAX_RECORDS events the oldest record is
 * forgotten, and past EP_WITNESS_MAX_LINKS refusals of one event its
 * oldest refusal is let go; either is counted as a refusal proven wrong
 * (it can only postpone a drop, never cause one). Counts stop at their
 * limits rather than wrap, so a save always loads back; a refusal that can
 * never count (an event of it left unconfirmed) is not saved, and is let
 * go of first when an event reaches EP_WITNESS_MAX_LINKS, so a ledger gives
 * the same verdicts whether the producer restarted or not. Not
 * thread-safe: the scheduler's main context.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EP_WITNESS_MIN_SPECIFIC 5
#define EP_WITNESS_MIN_CONFIRMED 50
#define EP_WITNESS_FALSE_RATIO_DENOM 100
#define EP_WITNESS_MAX_RECORDS 10000
#define EP_WITNESS_MAX_LINKS 16
/* Records not refused again for this long are forgotten at load. */
#define EP_WITNESS_MAX_AGE_US (G_GINT64_CONSTANT (30) * 24 * 3600 * G_USEC_PER_SEC)

#define EP_WITNESS_BLOB_NAME "witness.gvariant"

typedef struct _EpWitness EpWitness;

EpWitness *ep_witness_new                (void);
void       ep_witness_free               (EpWitness  *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpWitness, ep_witness_free)

/* @endpoint (0 or 1) confirmed the event @id. If @id was refused before,
 * its record is forgotten, and each refusal of it whose other events were
 * all confirmed too is proven wrong. */
void       ep_witness_note_confirmed     (EpWitness  *self,
                                          guint       endpoint,
                                          const char *id);
/* @endpoint refused the @n_ids events @ids together (a whole request, or
 * one entry: @n_ids 1); @specific when the refusal was the event's own
 * (then @n_ids is 1). A refusal at another endpoint than an event's first
 * starts its record again. */
void       ep_witness_note_refused       (EpWitness          *self,
                                          guint               endpoint,
                                          const char * const *ids,
                                          guint               n_ids,
                                          gboolean            specific);
/* Whether the endpoint that refused @id confirmed any event since. */
gboolean   ep_witness_has_witness_for_testing (EpWitness  *self,
                                               const char *id);
/* Whether @id is a suspect, to wait aside: refused on its own, the
 * endpoint confirmed other events since its first refusal (or in the same
 * reply: @witnessed), and refusals proven wrong since are not above the
 * rule's ratio (else its refusals were most likely random too, and it
 * stays in line). */
gboolean   ep_witness_is_suspect         (EpWitness  *self,
                                          const char *id,
                                          gboolean    witnessed);
/* The rule above. */
gboolean   ep_witness_proves_fault       (EpWitness  *self,
                                          const char *id);
/* Specific refusals of @id (0 when it has no record): a suspect waits aside. */
guint      ep_witness_get_specific       (EpWitness  *self,
                                          const char *id);
/* The event left the queue unconfirmed (dropped, purged): forget it;
 * the refusals it shared can no longer be proven wrong. */
void       ep_witness_forget             (EpWitness  *self,
                                          const char *id);
guint      ep_witness_get_n_records      (EpWitness  *self);
gboolean   ep_witness_has_records        (EpWitness  *self);
/* For messages: "refused 3 times (2 on its own); 12 confirmations since,
 * 1 refusal proven wrong". */
char      *ep_witness_describe           (EpWitness  *self,
                                          const char *id);

/* Persistence. The state (floating GVariant); whether a record changed
 * since the last ep_witness_mark_saved() (dirty: save soon), or at least
 * the confirmation counts did (losing those on a crash can only postpone
 * a drop: save now and then). Loading replaces the ledger; it returns
 * FALSE (ledger unchanged) for a blob it cannot read. */
GVariant  *ep_witness_save               (EpWitness  *self);
gboolean   ep_witness_load               (EpWitness  *self,
                                          GBytes     *blob);
gboolean   ep_witness_is_dirty           (EpWitness  *self);
gboolean   ep_witness_has_unsaved_counts (EpWitness  *self);
void       ep_witness_mark_saved         (EpWitness  *self);

G_END_DECLS
