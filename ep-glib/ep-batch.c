/* ep-batch.c: a batch of queued events, from the read to the reply that settles it
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-batch-private.h. A queue's batch is read and freed on the
 * scheduler's worker; the main context makes only the monitoring event's
 * batch and the one-event parts of a refused batch, a few hundred bytes
 * each.
 */
#include "config.h"

#include <string.h>

#include "ep-batch-private.h"

void
ep_batch_free (EpBatch *batch)
{
  if (batch->freed_elsewhere != NULL && batch->read_by != NULL && batch->read_by != g_thread_self ())
    g_atomic_int_inc (batch->freed_elsewhere);
  g_clear_pointer (&batch->split, ep_split_unref);
  g_free (batch->refusal);
  g_clear_pointer (&batch->items, g_ptr_array_unref);
  g_clear_pointer (&batch->events, g_array_unref);
  g_clear_pointer (&batch->body, g_bytes_unref);
  g_clear_pointer (&batch->snapshot, g_variant_unref);
  g_clear_object (&batch->scheduler);
  g_free (batch->token);
  g_clear_pointer (&batch->removed, g_array_unref);
  g_clear_pointer (&batch->kept, g_array_unref);
  g_clear_pointer (&batch->reply, ep_batch_reply_free);
  g_free (batch);
}

EpBatch *
ep_batch_new (void)
{
  EpBatch *batch = g_new0 (EpBatch, 1);

  batch->items = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_queue_item_free);
  batch->events = g_array_new (FALSE, TRUE, sizeof (EpEvent));
  g_array_set_clear_func (batch->events, (GDestroyNotify) ep_event_clear);
  /* Room for every event of a batch: what the main context appends then
   * allocates nothing that the worker frees (malloc's arena locks are not
   * shared between the threads). */
  batch->removed = g_array_sized_new (FALSE, FALSE, sizeof (guint64), MAX_BATCH_EVENTS);
  batch->kept = g_array_sized_new (FALSE, FALSE, sizeof (guint64), MAX_BATCH_EVENTS);
  return batch;
}

EpBatch *
ep_batch_read (EpQueue  *queue,
               gboolean  compress)
{
  g_autoptr(EpBatch) batch = ep_batch_new ();
  g_autoptr(GPtrArray) items = ep_queue_take (queue, MAX_BATCH_EVENTS, MAX_BATCH_BYTES);

  batch->read_by = g_thread_self ();
  batch->compress = compress;
  /* Each item moves to the batch, or is freed here. */
  g_ptr_array_set_free_func (items, NULL);
  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = g_ptr_array_index (items, i);
      g_autoptr(GError) error = NULL;
      EpEvent event;

      if (!ep_event_parse (item->record, &event, &error))
        {
          /* Unreadable events can never be delivered: drop them. */
          g_message ("Dropping queued event %" G_GUINT64_FORMAT ": %s", item->seq, error->message);
          ep_queue_remove (queue, &item->seq, 1, NULL);
          ep_queue_item_free (item);
          batch->unreadable++;
          continue;
        }
      g_array_append_val (batch->events, event);
      g_ptr_array_add (batch->items, item);
      batch->bytes += g_bytes_get_size (item->record);
    }
  if (batch->events->len > 0)
    ep_batch_encode (batch);
  return g_steal_pointer (&batch);
}

guint64
ep_batch_get_seq (EpBatch *batch,
                  guint    i)
{
  return ((EpQueueItem *) g_ptr_array_index (batch->items, i))->seq;
}

const EpEvent *
ep_batch_get_event (EpBatch *batch,
                    guint    i)
{
  return &g_array_index (batch->events, EpEvent, i);
}

guint
ep_batch_get_endpoint (EpBatch *batch)
{
  return batch->token != NULL ? 1 : 0;
}

/* Where the batch is read: a worker for the queue's batches; the main
 * context only for the monitoring event and the one-event parts of a
 * refused batch (see ep-scheduler-aside.c), a few hundred bytes each. */
void
ep_batch_encode (EpBatch *batch)
{
  g_autofree const EpEvent **events = g_new (const EpEvent *, batch->events->len);
  g_autoptr(GBytes) form = NULL;

  for (guint i = 0; i < batch->events->len; i++)
    events[i] = ep_batch_get_event (batch, i);
  form = ep_sqs_encode_batch (events, batch->events->len);
  batch->body = batch->compress ? ep_sqs_gzip (form) : g_steal_pointer (&form);
}

void
ep_batch_keep_all (EpBatch *batch)
{
  for (guint i = 0; i < batch->items->len; i++)
    {
      guint64 seq = ep_batch_get_seq (batch, i);
      g_array_append_val (batch->kept, seq);
    }
}

EpBatch *
ep_batch_copy_out (EpBatch *batch,
                   guint    i)
{
  EpQueueItem *item = g_ptr_array_index (batch->items, i);
  EpQueueItem *copy = g_new0 (EpQueueItem, 1);
  EpBatch *part = ep_batch_new ();
  EpEvent event;

  copy->seq = item->seq;
  copy->record = g_bytes_ref (item->record);
  copy->logical_size = item->logical_size;
  if (!ep_event_parse (copy->record, &event, NULL))
    g_assert_not_reached ();   /* it was parsed when the batch was read */
  g_ptr_array_add (part->items, copy);
  g_array_append_val (part->events, event);
  part->bytes = g_bytes_get_size (copy->record);
  part->token = g_strdup (batch->token);
  part->compress = batch->compress;
  ep_batch_encode (part);
  return part;
}

/* Splits ------------------------------------------------------------------- */

static EpSplit *
split_new (void)
{
  EpSplit *split = g_new0 (EpSplit, 1);

  split->ref_count = 1;
  split->held = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_batch_free);
  return split;
}

EpSplit *
ep_split_ref (EpSplit *split)
{
  g_atomic_int_inc (&split->ref_count);
  return split;
}

void
ep_split_unref (EpSplit *split)
{
  if (!g_atomic_int_dec_and_test (&split->ref_count))
    return;
  /* Held batches hold a reference: none can be left here. */
  g_assert (split->held->len == 0);
  g_ptr_array_unref (split->held);
  g_free (split);
}

/* Moves the events [from, to) of @batch into a new part of @split. */
static EpBatch *
split_off (EpBatch *batch,
           EpSplit *split,
           guint    from,
           guint    to)
{
  EpBatch *part = ep_batch_new ();

  for (guint i = from; i < to; i++)
    {
      EpEvent *event = &g_array_index (batch->events, EpEvent, i);
      EpQueueItem *item = g_steal_pointer (&g_ptr_array_index (batch->items, i));

      part->bytes += g_bytes_get_size (item->record);
      g_ptr_array_add (part->items, item);
      g_array_append_val (part->events, *event);
      memset (event, 0, sizeof *event);
    }
  part->split = ep_split_ref (split);
  split->outstanding++;
  part->compress = batch->compress;
  ep_batch_encode (part);
  return part;
}

void
ep_batch_split (EpBatch  *batch,
                EpBatch **first,
                EpBatch **second)
{
  guint n = batch->items->len;

  if (batch->split == NULL)
    batch->split = split_new ();
  *second = split_off (batch, batch->split, n / 2, n);
  *first = split_off (batch, batch->split, 0, n / 2);
  batch->bytes = 0;
  g_ptr_array_set_free_func (batch->items, NULL);
  g_ptr_array_set_size (batch->items, 0);
}
