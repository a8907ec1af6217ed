/* ep-queue-expire.c: events older than the producer's max-event-age
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An event's age is read from its record (the first 8 bytes are its
 * created_us, see ep-event.c). Expired events are deleted (a tombstone, like
 * any removal) where the queue reads records anyway: when ep_queue_take()
 * hands a batch out (the scheduler's worker) and once at start, from the
 * oldest (ep_queue_expire()). Their names wait for ep_queue_steal_expired()
 * and their ids for ep_queue_steal_settled_ids() (EP_EVENT_OUTCOME_EXPIRED).
 * Nothing here holds the mutex across I/O: records are read without it, and
 * the removals reserve their tombstone under it and write it without.
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"
#include "ep-queue-internal.h"

#define EXPIRE_SCAN_CHUNK 256

void
ep_queue_set_max_age (EpQueue *self,
                      gint64   max_age_us)
{
  g_return_if_fail (EP_IS_QUEUE (self));

  __atomic_store_n (&self->max_age_us, MAX (max_age_us, 0), __ATOMIC_RELAXED);
}

/* The created_us below which events are expired; G_MININT64 without a limit. */
static gint64
expiry_cutoff (EpQueue *self)
{
  gint64 max_age = __atomic_load_n (&self->max_age_us, __ATOMIC_RELAXED);

  if (max_age <= 0)
    return G_MININT64;
  return g_get_real_time () - max_age;
}

static gboolean
item_is_expired (EpQueueItem *item,
                 gint64       cutoff)
{
  gint64 created_us;

  if (cutoff == G_MININT64 || g_bytes_get_size (item->record) < sizeof created_us)
    return FALSE;
  memcpy (&created_us, g_bytes_get_data (item->record, NULL), sizeof created_us);
  return created_us < cutoff;
}

/* Deletes the events of @expired (persistently), counts their names and
 * collects their ids. */
static void
delete_expired (EpQueue   *self,
                GPtrArray *expired)
{
  g_autofree guint64 *seqs = g_new (guint64, expired->len);
  g_autoptr(GError) error = NULL;
  GPtrArray *ids = ep_queue_wants_ids (self) ? g_ptr_array_new_with_free_func (g_free) : NULL;
  GHashTable *counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gpointer count;

  for (guint i = 0; i < expired->len; i++)
    {
      EpQueueItem *item = g_ptr_array_index (expired, i);
      const guint8 *data = g_bytes_get_data (item->record, NULL);
      gsize size = g_bytes_get_size (item->record);
      const char *n = ep_event_record_peek_name (data, size);
      const char *id = ids != NULL ? ep_event_record_peek_id (data, size) : NULL;

      seqs[i] = item->seq;
      if (n == NULL)
        n = "";
      count = g_hash_table_lookup (counts, n);
      g_hash_table_insert (counts, g_strdup (n), GUINT_TO_POINTER (GPOINTER_TO_UINT (count) + 1));
      if (id != NULL)
        g_ptr_array_add (ids, g_strdup (id));
    }
  if (!ep_queue_remove (self, seqs, expired->len, &error))
    g_message ("Queue %s: cannot persist the removal of %u expired event(s) (they are "
               "deleted again at the next start): %s",
               ep_queue_get_dir (self), expired->len, error->message);
  else
    g_info ("Queue %s: deleted %u event(s) older than max-event-age",
            ep_queue_get_dir (self), expired->len);

  ep_queue_add_settled_ids (self, EP_EVENT_OUTCOME_EXPIRED, ids);
  ep_queue_add_drops (self, &self->expired_drops, counts);
  ep_queue_notify (self);
}

gboolean
ep_queue_item_is_expired (EpQueue     *self,
                          EpQueueItem *item)
{
  g_return_val_if_fail (EP_IS_QUEUE (self), FALSE);
  g_return_val_if_fail (item != NULL, FALSE);

  return item_is_expired (item, expiry_cutoff (self));
}

guint
ep_queue_expire_items (EpQueue   *self,
                       GPtrArray *items)
{
  g_autoptr(GPtrArray) expired = NULL;
  gint64 cutoff = expiry_cutoff (self);

  if (cutoff == G_MININT64 || items->len == 0)
    return 0;
  expired = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);
  for (guint i = 0; i < items->len; )
    {
      if (item_is_expired (g_ptr_array_index (items, i), cutoff))
        g_ptr_array_add (expired, g_ptr_array_steal_index (items, i));
      else
        i++;
    }
  if (expired->len > 0)
    delete_expired (self, expired);
  return expired->len;
}

guint64
ep_queue_expire (EpQueue *self)
{
  gint64 cutoff;
  guint64 after, first;
  guint64 n = 0;

  g_return_val_if_fail (EP_IS_QUEUE (self), 0);

  cutoff = expiry_cutoff (self);
  first = ep_queue_get_first_seq (self);
  if (cutoff == G_MININT64 || first == G_MAXUINT64)
    return 0;
  after = first > 0 ? first - 1 : 0;
  for (;;)
    {
      g_autoptr(GPtrArray) items = ep_queue_peek (self, after, EXPIRE_SCAN_CHUNK);
      g_autoptr(GPtrArray) expired =
        g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);
      gboolean done = items->len < EXPIRE_SCAN_CHUNK;

      for (guint i = 0; i < items->len; i++)
        {
          EpQueueItem *item = g_ptr_array_index (items, i);

          after = item->seq;
          if (!item_is_expired (item, cutoff))
            {
              done = TRUE;
              break;
            }
          g_ptr_array_add (expired, g_steal_pointer (&items->pdata[i]));
        }
      if (expired->len > 0)
        delete_expired (self, expired);
      n += expired->len;
      if (done)
        return n;
    }
}

GHashTable *
ep_queue_steal_expired (EpQueue *self)
{
  GHashTable *drops;

  g_return_val_if_fail (EP_IS_QUEUE (self), NULL);

  /* drops_lock, not the mutex: the main context calls this. */
  g_mutex_lock (&self->drops_lock);
  drops = g_steal_pointer (&self->expired_drops);
  g_mutex_unlock (&self->drops_lock);
  return drops;
}
