/* ep-witness.c: the witness rule of SPEC section 4, per endpoint
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A table from queue seq to the serial of the latest request posted when
 * the event was first refused, and the serial of the latest request whose
 * reply confirmed events. "Witnessed" is then one comparison. The table is
 * bounded: past MAX_MARKS it is emptied, which forgets first refusals and
 * so can only postpone a drop, never cause one.
 */
#include "config.h"

#include "ep-witness-private.h"

#define MAX_MARKS 10000

struct _EpWitness {
  GHashTable *first_refused;   /* (element-type guint64 guint64) owned keys and values */
  guint64     last_confirmed;  /* serial of the latest request with confirmations; 0 for none */
};

EpWitness *
ep_witness_new (void)
{
  EpWitness *self = g_new0 (EpWitness, 1);

  self->first_refused = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  return self;
}

void
ep_witness_free (EpWitness *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->first_refused);
  g_free (self);
}

void
ep_witness_note_refused (EpWitness *self,
                         guint64    seq,
                         guint64    last_serial)
{
  if (g_hash_table_contains (self->first_refused, &seq))
    return;
  if (g_hash_table_size (self->first_refused) >= MAX_MARKS)
    g_hash_table_remove_all (self->first_refused);
  g_hash_table_insert (self->first_refused, g_memdup2 (&seq, sizeof seq),
                       g_memdup2 (&last_serial, sizeof last_serial));
}

void
ep_witness_note_confirmed (EpWitness *self,
                           guint64    serial)
{
  self->last_confirmed = MAX (self->last_confirmed, serial);
}

gboolean
ep_witness_seen (EpWitness *self,
                 guint64    seq)
{
  const guint64 *refused_after = g_hash_table_lookup (self->first_refused, &seq);

  return refused_after != NULL && self->last_confirmed > *refused_after;
}

void
ep_witness_forget (EpWitness *self,
                   guint64    seq)
{
  g_hash_table_remove (self->first_refused, &seq);
}

guint
ep_witness_get_n_marked (EpWitness *self)
{
  return g_hash_table_size (self->first_refused);
}
