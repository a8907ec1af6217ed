/* ep-queue-settled.c: what the queue deleted on its own, for the producer
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The queue deletes events on its own: those of a revoked consent category
 * or of a purge met by ep_queue_take() or ep_queue_release(), and expired
 * ones (ep-queue-expire.c). Their names and ids wait here, under
 * drops_lock, until the producer's main context steals them, and the
 * notify function tells it that they wait. Stealing never waits for the
 * queue's mutex (see ep-queue-internal.h); the two setters take it, and
 * are called once, before anything else uses the queue.
 */

#include "config.h"

#include "ep-queue-internal.h"

/* Whether someone wants the ids of deleted events (see
 * ep_queue_set_wants_ids_func()). Without the queue's locks held. */
gboolean
ep_queue_wants_ids (EpQueue *self)
{
  EpQueueWantsIdsFunc func;
  gpointer data;

  g_mutex_lock (&self->mutex);
  func = self->wants_ids_func;
  data = self->wants_ids_data;
  g_mutex_unlock (&self->mutex);
  return func != NULL && func (data);
}

/* Adds @ids (consumed, nullable) to those waiting for
 * ep_queue_steal_settled_ids(). */
void
ep_queue_add_settled_ids (EpQueue        *self,
                          EpEventOutcome  outcome,
                          GPtrArray      *ids)
{
  if (ids == NULL)
    return;
  if (ids->len > 0)
    {
      g_mutex_lock (&self->drops_lock);
      if (self->settled_ids[outcome] == NULL)
        self->settled_ids[outcome] = g_ptr_array_ref (ids);
      else
        g_ptr_array_extend_and_steal (self->settled_ids[outcome], g_ptr_array_ref (ids));
      g_mutex_unlock (&self->drops_lock);
    }
  g_ptr_array_unref (ids);
}

GPtrArray *
ep_queue_steal_settled_ids (EpQueue        *self,
                            EpEventOutcome  outcome)
{
  GPtrArray *ids;

  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);
  g_return_val_if_fail (outcome < EP_QUEUE_N_OUTCOMES, NULL);

  /* drops_lock, not the mutex: the main context calls this. */
  g_mutex_lock (&self->drops_lock);
  ids = g_steal_pointer (&self->settled_ids[outcome]);
  g_mutex_unlock (&self->drops_lock);
  return ids;
}

void
ep_queue_add_drops (EpQueue     *self,
                    GHashTable **into,
                    GHashTable  *counts)
{
  GHashTableIter iter;
  gpointer name, count;

  g_mutex_lock (&self->drops_lock);
  if (*into == NULL)
    *into = g_steal_pointer (&counts);
  else
    {
      g_hash_table_iter_init (&iter, counts);
      while (g_hash_table_iter_next (&iter, &name, &count))
        {
          gpointer before = g_hash_table_lookup (*into, name);

          g_hash_table_insert (*into, g_strdup (name),
                               GUINT_TO_POINTER (GPOINTER_TO_UINT (before) +
                                                 GPOINTER_TO_UINT (count)));
        }
    }
  g_mutex_unlock (&self->drops_lock);
  g_clear_pointer (&counts, g_hash_table_unref);
}

void
ep_queue_notify (EpQueue *self)
{
  EpQueueNotifyFunc func;
  gpointer data;

  g_mutex_lock (&self->mutex);
  func = self->notify_func;
  data = self->notify_data;
  g_mutex_unlock (&self->mutex);
  if (func != NULL)
    func (data);
}

void
ep_queue_set_wants_ids_func (EpQueue             *self,
                             EpQueueWantsIdsFunc  func,
                             gpointer             user_data)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->wants_ids_func = func;
  self->wants_ids_data = user_data;
  g_mutex_unlock (&self->mutex);
}

GHashTable *
ep_queue_steal_consent_drops (EpQueue *self)
{
  GHashTable *drops;

  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  /* drops_lock, not the mutex: the main context calls this. */
  g_mutex_lock (&self->drops_lock);
  drops = g_steal_pointer (&self->consent_drops);
  g_mutex_unlock (&self->drops_lock);
  return drops;
}

void
ep_queue_set_notify_func (EpQueue           *self,
                          EpQueueNotifyFunc  func,
                          gpointer           user_data)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  g_mutex_lock (&self->mutex);
  self->notify_func = func;
  self->notify_data = user_data;
  g_mutex_unlock (&self->mutex);
}
