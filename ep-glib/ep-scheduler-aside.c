/* ep-scheduler-aside.c: suspects wait aside; the refusal evidence is persisted
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An event the consumer refused on its own (ep-witness-private.h), while it
 * confirmed others, is a suspect: it leaves the pipeline and waits aside
 * in a batch of its own, still in flight in the queue (so it is never
 * handed out in front of the events behind it), and is retried alone with
 * its own slow backoff until it is confirmed, or the evidence proves the
 * fault is the event's and it is dropped. After a restart the ledger says
 * which events are suspects: they are pulled out of the first batch they
 * come in, before it is posted.
 *
 * The ledger is saved as a blob beside the queue, at most once a second
 * while it changes, by the scheduler's worker (the main context does no
 * file I/O), and once more when the scheduler stops.
 */
#include "config.h"

#include "ep-event-private.h"
#include "ep-queue-state-private.h"
#include "ep-scheduler-internal.h"
#include "ep-timer-private.h"

/* The ledger on disk ------------------------------------------------------- */

void
ep_scheduler_load_witness (EpScheduler *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) blob = ep_queue_state_load (self->queue, EP_WITNESS_BLOB_NAME, &error);

  if (blob == NULL)
    {
      if (error != NULL)
        g_message ("The evidence against refused events could not be read (%s): "
                   "starting without it", error->message);
      return;
    }
  if (!ep_witness_load (self->witness, blob))
    {
      g_message ("The evidence against refused events in %s is not readable: moved aside, "
                 "starting without it", EP_WITNESS_BLOB_NAME);
      (void) ep_queue_state_move_aside (self->queue, EP_WITNESS_BLOB_NAME, NULL);
      return;
    }
  if (ep_witness_has_records (self->witness))
    g_debug ("Restored the evidence against %u refused events", ep_witness_get_n_records (self->witness));
}

/* Worker: writes the ledger's state (@data). */
static gpointer
save_in_thread (EpScheduler *self,
                gpointer     data)
{
  GVariant *state = data;
  g_autoptr(GError) error = NULL;

  if (!ep_queue_state_save (self->queue, EP_WITNESS_BLOB_NAME, g_variant_get_data (state),
                            g_variant_get_size (state), &error) &&
      !g_error_matches (error, EP_ERROR, EP_ERROR_CLOSED))
    g_debug ("The evidence against refused events could not be saved: %s", error->message);
  return NULL;
}

static void
saved (EpScheduler *self,
       gpointer     data,
       gpointer     result)
{
  self->witness_saving = FALSE;
  /* Changes that came meanwhile. */
  ep_scheduler_witness_changed (self);
  ep_scheduler_maybe_finish_close (self);
}

/* Queues a save of the ledger on the worker, after the queue work queued
 * before it. Returns whether a save is queued or running: close waits for
 * it. */
gboolean
ep_scheduler_save_witness_now (EpScheduler *self)
{
  GVariant *state;

  if (self->witness_saving)
    return TRUE;
  if (!ep_witness_has_unsaved_counts (self->witness))
    return FALSE;
  if (self->witness_save_timer != NULL)
    {
      g_source_destroy (self->witness_save_timer);
      g_clear_pointer (&self->witness_save_timer, g_source_unref);
    }
  state = g_variant_ref_sink (ep_witness_save (self->witness));
  ep_witness_mark_saved (self->witness);
  self->witness_saving = TRUE;
  ep_scheduler_run_in_worker (self, save_in_thread, saved, state, (GDestroyNotify) g_variant_unref);
  return TRUE;
}

static gboolean
witness_save_timer_cb (gpointer user_data)
{
  EpScheduler *self = user_data;

  g_clear_pointer (&self->witness_save_timer, g_source_unref);
  (void) ep_scheduler_save_witness_now (self);
  return G_SOURCE_REMOVE;
}

/* The ledger changed: saved within WITNESS_SAVE_DELAY_MS when a record
 * did, within WITNESS_COUNTS_SAVE_DELAY_MS when only the confirmation
 * counts moved (a drain beside a suspect must not sync every second). A
 * healthy drain with no suspect leaves it clean (see ep-witness.c), so it
 * arms nothing. */
void
ep_scheduler_witness_changed (EpScheduler *self)
{
  gint64 delay_ms;

  if (!ep_witness_has_unsaved_counts (self->witness) || self->witness_saving || self->stopped)
    return;
  delay_ms = ep_witness_is_dirty (self->witness) ? WITNESS_SAVE_DELAY_MS : WITNESS_COUNTS_SAVE_DELAY_MS;
  if (self->witness_save_timer != NULL)
    {
      if (self->witness_save_due_us <= g_get_monotonic_time () + delay_ms * 1000)
        return;
      g_source_destroy (self->witness_save_timer);
      g_clear_pointer (&self->witness_save_timer, g_source_unref);
    }
  self->witness_save_due_us = g_get_monotonic_time () + delay_ms * 1000;
  self->witness_save_timer = ep_timer_source_new (delay_ms, "[ep-glib] witness save");
  g_source_set_callback (self->witness_save_timer, witness_save_timer_cb, self, NULL);
  g_source_attach (self->witness_save_timer, self->context);
}

/* Suspects ----------------------------------------------------------------- */

gboolean
ep_scheduler_aside_has_room (EpScheduler *self)
{
  return g_queue_get_length (&self->aside) < MAX_ASIDE_EVENTS;
}

static gint64
aside_delay_ms (EpScheduler *self,
                guint        specific)
{
  gint64 delay = MAX ((gint64) self->config.batch_interval_ms, 1);

  for (guint i = 0; i < specific && delay < MAX_ASIDE_DELAY_MS; i++)
    delay *= 2;
  return MIN (delay, MAX_ASIDE_DELAY_MS);
}

/* Takes @batch (one event; not counted in the pipeline) aside, due after
 * its delay. Returns FALSE (the batch untouched) when there is no room. */
gboolean
ep_scheduler_set_aside (EpScheduler *self,
                        EpBatch     *batch)
{
  const EpEvent *event = ep_batch_get_event (batch, 0);
  g_autofree char *evidence = NULL;
  gint64 delay_ms;

  g_assert (batch->items->len == 1 && batch->split == NULL);
  if (self->stopped || !ep_scheduler_aside_has_room (self))
    return FALSE;
  delay_ms = aside_delay_ms (self, ep_witness_get_specific (self->witness, event->id));
  batch->aside = TRUE;
  batch->due_us = g_get_monotonic_time () + delay_ms * 1000;
  g_clear_object (&batch->scheduler);
  batch->freed_elsewhere = NULL;
  g_clear_pointer (&batch->reply, ep_batch_reply_free);
  g_clear_pointer (&batch->refusal, g_free);
  evidence = ep_witness_describe (self->witness, event->id);
  g_debug ("Event '%s' (%s) waits aside, retried alone in %" G_GINT64_FORMAT " ms: %s",
           event->name, event->id, delay_ms, evidence);
  g_queue_push_tail (&self->aside, batch);
  return TRUE;
}

/* Main context, a batch read and not posted yet (counted in bytes_ahead):
 * the suspects of an earlier run, or of earlier batches, go aside before
 * it is posted, so they never hold up the events with them. Returns the
 * bytes that left the batch (the pipeline stops counting them). */
gsize
ep_scheduler_pull_suspects (EpScheduler *self,
                            EpBatch     *batch)
{
  gsize pulled = 0;
  guint i = 0;

  if (!ep_witness_has_records (self->witness))
    return 0;
  while (i < batch->items->len)
    {
      const EpEvent *event = ep_batch_get_event (batch, i);
      EpBatch *part;

      /* A suspect: refused on its own while the endpoint took others. */
      if (!ep_witness_is_suspect (self->witness, event->id, FALSE) || !ep_scheduler_aside_has_room (self))
        {
          i++;
          continue;
        }
      part = ep_batch_copy_out (batch, i);
      g_ptr_array_remove_index (batch->items, i);
      g_array_remove_index (batch->events, i);
      batch->bytes -= part->bytes;
      pulled += part->bytes;
      if (!ep_scheduler_set_aside (self, part))
        g_assert_not_reached ();   /* room was checked */
    }
  if (pulled == 0)
    return 0;
  g_clear_pointer (&batch->body, g_bytes_unref);
  if (batch->events->len > 0)
    ep_batch_encode (batch);
  return pulled;
}

/* The suspect whose attempt is due, out of the aside queue; NULL if none. */
EpBatch *
ep_scheduler_pop_due_aside (EpScheduler *self)
{
  gint64 now = g_get_monotonic_time ();

  for (GList *l = self->aside.head; l != NULL; l = l->next)
    {
      EpBatch *batch = l->data;

      if (batch->due_us <= now)
        {
          g_queue_delete_link (&self->aside, l);
          return batch;
        }
    }
  return NULL;
}

/* Main context: the queue was purged (ep_queue_purge()): the suspects it
 * covers are handed back to the queue now, which deletes them, instead of
 * at their next attempt (up to an hour away). */
void
ep_scheduler_purged (EpScheduler *self)
{
  guint64 below = ep_queue_get_purged_below (self->queue);
  GList *l = self->aside.head;

  while (l != NULL)
    {
      GList *next = l->next;
      EpBatch *batch = l->data;

      if (ep_batch_get_seq (batch, 0) < below)
        {
          g_queue_delete_link (&self->aside, l);
          ep_scheduler_post_aside (self, batch);   /* given back, not posted */
        }
      l = next;
    }
}

/* Flush skips the suspects' backoff, as it skips the drain's. */
void
ep_scheduler_make_aside_due (EpScheduler *self)
{
  for (GList *l = self->aside.head; l != NULL; l = l->next)
    ((EpBatch *) l->data)->due_us = 0;
}

/* Monotonic µs of the next suspect's attempt; G_MAXINT64 with none. */
gint64
ep_scheduler_next_aside_due (EpScheduler *self)
{
  gint64 due = G_MAXINT64;

  for (GList *l = self->aside.head; l != NULL; l = l->next)
    due = MIN (due, ((EpBatch *) l->data)->due_us);
  return due;
}
