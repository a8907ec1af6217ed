/* ep-scheduler-pipeline.c: the batches under way: read, posted, answered, settled
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Part of the driver (with ep-scheduler.c). The pipeline reads batches on
 * the worker (ep-scheduler-work.c), posts them, hands each reply to the
 * judge (ep-scheduler-replies.c) and applies its verdict: the halves of a
 * split go first in line, suspects leave for aside, held batches come
 * back; the outage, backoff and credentials part goes to ep-scheduler.c.
 * Then the worker writes what the reply meant to the queue, frees the
 * batch and may read the next one in the same call.
 */
#include "config.h"

#include "ep-event-private.h"
#include "ep-scheduler-internal.h"

static void batch_posted (GObject *source, GAsyncResult *result, gpointer user_data);
static void finish_batch (EpScheduler *self, EpBatch *batch);
static void resolve_if_done (EpScheduler *self, EpSplit *split, EpVerdict *verdict);

/* The pipeline's counters -------------------------------------------------- */

/* Only these functions change in_flight, reading, bytes_ahead and
 * releasing; the rest of the scheduler reads them. */

/* A batch takes a slot in in_flight, with @bytes of events that enter
 * bytes_ahead (0 when they are counted already: a split part, a held
 * batch). */
static void
count_slot_taken (EpScheduler *self,
                  gsize        bytes)
{
  self->in_flight++;
  self->bytes_ahead += bytes;
}

/* A batch leaves its slot, with @bytes of events that leave bytes_ahead
 * (0 when they stay: a batch held by its split or set aside). */
static void
count_slot_freed (EpScheduler *self,
                  gsize        bytes)
{
  self->bytes_ahead -= bytes;
  self->in_flight--;
}

/* @bytes of events leave bytes_ahead, their batch's slot unchanged:
 * suspects pulled out or set aside, abandoned split parts, a settled batch
 * whose slot the next read took over. */
static void
count_bytes_left (EpScheduler *self,
                  gsize        bytes)
{
  self->bytes_ahead -= bytes;
}

/* A read starts, counted as MAX_BATCH_BYTES until it arrives, in a slot of
 * its own (@new_slot) or in that of the batch whose settling reads it. */
static void
count_read_started (EpScheduler *self,
                    gboolean     new_slot)
{
  if (new_slot)
    self->in_flight++;
  self->reading++;
  self->bytes_ahead += MAX_BATCH_BYTES;
}

/* A read arrived, with @bytes of events. */
static void
count_read_done (EpScheduler *self,
                 gsize        bytes)
{
  self->reading--;
  self->bytes_ahead -= MAX_BATCH_BYTES;
  self->bytes_ahead += bytes;
}

/* @n events were handed to the worker to put back (ep_queue_release()),
 * or (@n negative) put back. */
static void
count_releasing (EpScheduler *self,
                 gint64       n)
{
  self->releasing += n;
}

/* Reads and releases ------------------------------------------------------- */

static gpointer
read_batch_in_thread (EpScheduler *self,
                      gpointer     data)
{
  return ep_batch_read (self->queue, g_atomic_int_get (&self->compress));
}

/* Worker: puts a batch's kept events back and frees the batch where the
 * worker allocated it. */
static gpointer
release_in_thread (EpScheduler *self,
                   gpointer     data)
{
  EpBatch *batch = data;

  ep_queue_release (self->queue, (guint64 *) batch->kept->data, batch->kept->len);
  return GUINT_TO_POINTER (batch->kept->len);
}

static void
released (EpScheduler *self,
          gpointer     data,
          gpointer     result)
{
  count_releasing (self, -(gint64) GPOINTER_TO_UINT (result));
  if (self->draining)
    ep_scheduler_fill_pipeline (self);
}

/* Main context: puts @batch's events back in the queue (the caller filled
 * batch->kept) and frees it, both on the worker: the queue's mutex is held
 * across I/O (a tombstone write, a zero-fill) and the main context never
 * waits for it. The worker runs work in order, so a batch read after this
 * sees the events back. Until then they count in releasing (may_read()). */
static void
release_in_worker (EpScheduler *self,
                   EpBatch     *batch)
{
  if (batch->kept->len == 0)
    {
      ep_batch_free (batch);
      return;
    }
  /* allocated on this thread (as finish_batch() does) */
  g_clear_pointer (&batch->token, g_free);
  count_releasing (self, batch->kept->len);
  ep_scheduler_run_in_worker (self, release_in_thread, released, batch,
                              (GDestroyNotify) ep_batch_free);
}

/* Main context: a batch read by the worker (ep_batch_read(),
 * counted in reading, in_flight and bytes_ahead as MAX_BATCH_BYTES) is
 * posted, or put back when there is nothing to post or the scheduler
 * stopped. Does not fill the pipeline. */
static void
batch_arrived (EpScheduler *self,
               EpBatch     *batch)
{
  g_autoptr(EpBatch) owned = batch;

  count_read_done (self, batch->bytes);
  if (batch->unreadable > 0)
    ep_scheduler_report_queue_changed (self);
  if (!self->stopped)
    count_bytes_left (self, ep_scheduler_pull_suspects (self, batch));
  if (self->stopped || batch->events->len == 0)
    {
      ep_batch_keep_all (batch);
      count_slot_freed (self, batch->bytes);
      release_in_worker (self, g_steal_pointer (&owned));
      return;
    }
  ep_scheduler_post_batch (self, g_steal_pointer (&owned));
}

static void
batch_read (EpScheduler *self,
            gpointer     data,
            gpointer     result)
{
  batch_arrived (self, result);
  /* Not maybe_drain_finished() alone: a batch of unreadable records must
   * not end the drain while readable events wait behind it. */
  ep_scheduler_fill_pipeline (self);
  ep_scheduler_maybe_finish_close (self);
}

static gboolean outcomes_wanted (EpScheduler *self);
static void     outcomes_end    (EpScheduler *self,
                                 EpVerdict   *verdict);

/* Moves the ids @from settled to @to, when @to collects them. */
static void
outcomes_take (EpVerdict *to,
               EpVerdict *from)
{
  g_autoptr(GPtrArray) delivered = g_steal_pointer (&from->delivered_ids);
  g_autoptr(GPtrArray) refused = g_steal_pointer (&from->refused_ids);

  if (to->delivered_ids != NULL && delivered != NULL)
    g_ptr_array_extend_and_steal (to->delivered_ids, g_steal_pointer (&delivered));
  if (to->refused_ids != NULL && refused != NULL)
    g_ptr_array_extend_and_steal (to->refused_ids, g_steal_pointer (&refused));
}

/* Puts the events of split parts that will not be posted back in the
 * queue (memory only) and counts those parts as answered. The ids their
 * held events settle (a lone event the ledger proves faulty, dropped when
 * a failed drain abandons the rest of its split) go to @outcomes, when it
 * collects them, for the caller to report at a safe point. */
void
ep_scheduler_abandon_split_parts (EpScheduler *self,
                                  EpVerdict   *outcomes)
{
  EpBatch *part;

  while ((part = g_queue_pop_head (&self->split_parts)) != NULL)
    {
      g_auto(EpVerdict) verdict = { 0 };

      ep_verdict_init (&verdict, outcomes != NULL && outcomes->refused_ids != NULL);
      ep_batch_keep_all (part);
      count_bytes_left (self, part->bytes);
      g_assert (part->split->outstanding > 0);
      part->split->outstanding--;
      resolve_if_done (self, part->split, &verdict);
      release_in_worker (self, part);
      if (outcomes != NULL)
        outcomes_take (outcomes, &verdict);
    }
}

static gboolean
has_free_slot (EpScheduler *self)
{
  return self->in_flight < MIN (self->config.max_in_flight, EP_TRANSPORT_MAX_CONNS_PER_HOST);
}

/* Whether another batch may be read now, with @freeing of the batches in
 * flight (their @freed_bytes) about to settle and leave their slots. */
static gboolean
may_read (EpScheduler *self,
          guint        freeing,
          gsize        freed_bytes)
{
  guint in_flight = self->in_flight - freeing;

  return !self->stopped && !self->drain_failed &&
         in_flight < MIN (self->config.max_in_flight, EP_TRANSPORT_MAX_CONNS_PER_HOST) &&
         g_queue_is_empty (&self->split_parts) &&
         (in_flight == 0 || self->bytes_ahead - freed_bytes + MAX_BATCH_BYTES <= MAX_READ_AHEAD_BYTES) &&
         ep_queue_get_pending (self->queue) + self->releasing >
           (guint64) self->reading * MAX_BATCH_EVENTS;
}

/* Called as a batch in flight settles (@batch_bytes its bytes): whether
 * the worker that settles it reads the next batch in the same call. If so,
 * the read is counted now (reading, bytes_ahead) and takes over the
 * batch's slot in in_flight: hand the batch read to
 * batch_arrived(). */
static gboolean
read_on_settle (EpScheduler *self,
                gsize        batch_bytes)
{
  if (!may_read (self, 1, batch_bytes))
    return FALSE;
  count_read_started (self, FALSE);
  return TRUE;
}

/* Posts waiting split parts, then starts reading batches, until
 * max-in-flight are under way or the bytes read ahead reach their bound. */
void
ep_scheduler_fill_pipeline (EpScheduler *self)
{
  g_auto(EpVerdict) abandoned = { 0 };
  g_autoptr(EpScheduler) guard = NULL;

  /* Tasks and requests belong to the scheduler's context, whatever the
   * caller has pushed (a flush from a nested loop, say). */
  g_main_context_push_thread_default (self->context);

  if (self->stopped || self->drain_failed)
    {
      ep_verdict_init (&abandoned, outcomes_wanted (self));
      ep_scheduler_abandon_split_parts (self, &abandoned);
    }
  while (has_free_slot (self) && !g_queue_is_empty (&self->split_parts))
    {
      count_slot_taken (self, 0);
      ep_scheduler_post_batch (self, g_queue_pop_head (&self->split_parts));
    }
  /* Suspects whose attempt is due, alone each (ep-scheduler-aside.c). */
  while (!self->stopped && !self->drain_failed && has_free_slot (self))
    {
      EpBatch *suspect = ep_scheduler_pop_due_aside (self);

      if (suspect == NULL)
        break;
      ep_scheduler_post_aside (self, suspect);
    }
  while (may_read (self, 0, 0))
    {
      count_read_started (self, TRUE);
      ep_scheduler_run_in_worker (self, read_batch_in_thread, batch_read, NULL, NULL);
    }
  g_main_context_pop_thread_default (self->context);
  /* What the abandoned parts settled is reported once the loops are
   * done: a handler may flush, close or drop the producer (the guard
   * keeps the scheduler). */
  if ((abandoned.delivered_ids != NULL && abandoned.delivered_ids->len > 0) ||
      (abandoned.refused_ids != NULL && abandoned.refused_ids->len > 0))
    {
      guard = g_object_ref (self);
      outcomes_end (self, &abandoned);
    }
  ep_scheduler_maybe_drain_finished (self);
}

/* Replies ------------------------------------------------------------------ */

void
ep_scheduler_post_aside (EpScheduler *self,
                         EpBatch     *batch)
{
  EpQueueItem *item = g_ptr_array_index (batch->items, 0);
  int          category = ep_event_record_peek_category (g_bytes_get_data (item->record, NULL),
                                                         g_bytes_get_size (item->record));

  count_slot_taken (self, batch->bytes);
  if (self->stopped)
    {
      /* Back to its place; the ledger remembers it for the next run. */
      ep_batch_keep_all (batch);
      finish_batch (self, batch);
      return;
    }
  if (item->seq < ep_queue_get_purged_below (self->queue) ||
      (category >= 0 && category <= EP_CONSENT_CATEGORY_TARGETING &&
       item->seq < ep_queue_get_revoked_below (self->queue, category)) ||
      ep_queue_item_is_expired (self->queue, item))
    {
      /* A revoked, purged or expired event is never sent: the queue
       * deletes it when it is handed back (ep_queue_remove_category(),
       * ep_queue_purge()) or, expired, when ep_queue_take() meets it
       * again (in the worker: the main context does no queue I/O). It
       * leaves unconfirmed: the ledger forgets it (its id no longer
       * stays on disk, in witness.gvariant). */
      ep_witness_forget (self->witness, ep_batch_get_event (batch, 0)->id);
      ep_scheduler_witness_changed (self);
      ep_batch_keep_all (batch);
      finish_batch (self, batch);
      return;
    }
  ep_scheduler_post_batch (self, batch);
}

/* A batch being settled by the worker, and maybe the next one it reads. */
typedef struct {
  EpBatch  *batch;        /* owned until the worker frees it */
  gsize     bytes;        /* batch->bytes (counted in bytes_ahead) */
  gboolean  removed_any;  /* events left the queue */
  gboolean  read_next;    /* the worker reads the next batch too */
  EpBatch  *next;         /* owned, nullable: what it read */
} Settle;

static void
settle_free (Settle *settle)
{
  g_clear_pointer (&settle->batch, ep_batch_free);
  g_clear_pointer (&settle->next, ep_batch_free);
  g_free (settle);
}

/* Worker: writes what a reply meant to the queue, frees the batch, and
 * reads the next one if asked. A batch is allocated (read) and freed on
 * this one thread, so that its many small blocks (records, GVariants,
 * arrays, the body) do not pass through the main thread's allocator
 * caches: GLib 2.74's GSlice trims those in bulk on the thread that frees,
 * milliseconds at a time. */
static gpointer
settle_batch_in_thread (EpScheduler *self,
                        gpointer     data)
{
  Settle *settle = data;
  EpBatch *batch = settle->batch;
  g_autoptr(GError) error = NULL;

  ep_queue_release (self->queue, (guint64 *) batch->kept->data, batch->kept->len);
  if (batch->removed->len > 0 &&
      !ep_queue_remove (self->queue, (guint64 *) batch->removed->data, batch->removed->len, &error) &&
      !g_error_matches (error, EP_ERROR, EP_ERROR_CLOSED))
    g_message ("Confirmed events could not be removed for good (they may be sent again): %s",
               error->message);
  g_clear_pointer (&settle->batch, ep_batch_free);
  /* Settled first: kept events are handed out again before newer ones. */
  if (settle->read_next)
    {
      settle->next = ep_batch_read (self->queue, g_atomic_int_get (&self->compress));
      g_atomic_int_inc (&self->reads_on_settle);
    }
  return NULL;
}

/* Main context: the batch is over; on with the drain. */
static void
batch_settled (EpScheduler *self,
               gsize        bytes,
               gboolean     removed_any,
               EpBatch     *next)
{
  count_bytes_left (self, bytes);
  if (removed_any)
    ep_scheduler_report_queue_changed (self);
  if (next != NULL)
    /* It took over the settled batch's slot. */
    batch_arrived (self, next);
  else
    count_slot_freed (self, 0);
  if (self->stopped)
    {
      ep_scheduler_maybe_finish_close (self);
      return;
    }
  ep_scheduler_settle_flushes (self, FALSE);
  ep_scheduler_fill_pipeline (self);
}

static void
batch_written (EpScheduler *self,
               gpointer     data,
               gpointer     result)
{
  Settle *settle = data;

  g_assert (settle->next != NULL || !settle->read_next);
  batch_settled (self, settle->bytes, settle->removed_any, g_steal_pointer (&settle->next));
}

/* The reply was applied: a worker writes what it meant to the queue,
 * frees the batch and maybe reads the next, then the batch is settled. */
static void
finish_batch (EpScheduler *self,
              EpBatch     *batch)
{
  Settle *settle;

  if (batch->kept->len == 0 && batch->removed->len == 0)
    {
      /* Nothing to write (a batch split into parts): no worker. */
      gsize bytes = batch->bytes;

      ep_batch_free (batch);
      batch_settled (self, bytes, FALSE, NULL);
      return;
    }
  /* The split is shared with the main context's other parts; the token
   * was allocated here. */
  g_clear_pointer (&batch->split, ep_split_unref);
  g_clear_pointer (&batch->token, g_free);
  settle = g_new0 (Settle, 1);
  settle->batch = batch;
  settle->bytes = batch->bytes;
  settle->removed_any = batch->removed->len > 0;
  settle->read_next = read_on_settle (self, batch->bytes);
  ep_scheduler_run_in_worker (self, settle_batch_in_thread, batch_written, settle,
                              (GDestroyNotify) settle_free);
}

/* Before a reply is judged: the ids it settles are collected only when
 * the owner wants them. */
static gboolean
outcomes_wanted (EpScheduler *self)
{
  return self->callbacks.wants_outcomes != NULL && self->callbacks.events_settled != NULL &&
         self->callbacks.wants_outcomes (self->callbacks_data);
}

/* The reply was applied: what it settled is reported, one call per
 * outcome. */
static void
outcomes_end (EpScheduler *self,
              EpVerdict   *verdict)
{
  g_autoptr(GPtrArray) delivered = g_steal_pointer (&verdict->delivered_ids);
  g_autoptr(GPtrArray) refused = g_steal_pointer (&verdict->refused_ids);

  if (self->callbacks.events_settled == NULL)
    return;
  if (delivered != NULL && delivered->len > 0)
    self->callbacks.events_settled (self->callbacks_data, delivered, EP_EVENT_OUTCOME_DELIVERED);
  /* the first call may have disconnected the callbacks (a handler that
   * dropped the producer) */
  if (refused != NULL && refused->len > 0 && self->callbacks.events_settled != NULL)
    self->callbacks.events_settled (self->callbacks_data, refused, EP_EVENT_OUTCOME_REFUSED);
}

/* Applies @verdict: its pipeline part here (suspects' bytes, the halves
 * of a split, held batches to settle), its outage, backoff, credentials
 * and drop counts in ep-scheduler.c. Its ids stay for outcomes_end(). */
static void
apply_verdict (EpScheduler *self,
               EpVerdict   *verdict)
{
  g_autoptr(GPtrArray) settle = g_steal_pointer (&verdict->settle);

  count_bytes_left (self, verdict->bytes_aside);
  verdict->bytes_aside = 0;
  /* Before anything new, and before the parts already waiting: depth
   * first, so that with max-in-flight 1 events still arrive in the order
   * they were sent. */
  if (verdict->split[0] != NULL)
    {
      g_queue_push_head (&self->split_parts, g_steal_pointer (&verdict->split[1]));
      g_queue_push_head (&self->split_parts, g_steal_pointer (&verdict->split[0]));
    }
  ep_scheduler_apply_outcome (self, verdict);
  if (settle == NULL)
    return;
  /* Each held batch goes back through the pipeline's accounting. */
  g_ptr_array_set_free_func (settle, NULL);
  for (guint i = 0; i < settle->len; i++)
    {
      count_slot_taken (self, 0);
      finish_batch (self, g_ptr_array_index (settle, i));
    }
}

/* Once no part of @split is out, the lone events it held are judged. */
static void
resolve_if_done (EpScheduler *self,
                 EpSplit     *split,
                 EpVerdict   *verdict)
{
  if (split->outstanding > 0 || split->held->len == 0)
    return;
  ep_scheduler_judge_held (self, split, verdict);
  apply_verdict (self, verdict);
}

/* Every reply of the consumer's own (SQS XML: not a proxy's or a captive
 * portal's page) tells the consumer's time; a new offset goes to the owner. */
static void
observe_clock (EpScheduler  *self,
               EpBatchReply *reply)
{
  if (reply == NULL || !reply->sqs_body || reply->server_ms < 0 ||
      !ep_clock_add_sample (self->clock, reply->server_ms, reply->received_ms, reply->round_trip_ms))
    return;
  if (self->callbacks.clock_offset_changed != NULL)
    self->callbacks.clock_offset_changed (self->callbacks_data, ep_clock_get_offset_ms (self->clock));
}

static void
batch_posted (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(EpBatch) batch = user_data;
  g_autoptr(EpScheduler) self = g_object_ref (batch->scheduler);
  g_autoptr(EpBatchReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(EpVerdict) verdict = { 0 };
  EpSplit *split = NULL;

  reply = ep_transport_post_finish (EP_TRANSPORT (source), result, &error);
  observe_clock (self, reply);
  if (batch->monitoring)
    {
      ep_scheduler_monitoring_answered (self, batch, reply);
      return;
    }

  ep_verdict_init (&verdict, outcomes_wanted (self));
  /* This part is answered; the judge must see how many others are out. */
  if (batch->split != NULL)
    {
      split = ep_split_ref (batch->split);
      g_assert (split->outstanding > 0);
      split->outstanding--;
    }
  /* What a failure of this reply is, for the application (outage-reason),
   * and the request it answers, for the messages. */
  self->attempt_uri = batch->token != NULL ? self->shown_uri[1] : self->shown_uri[0];
  self->attempt_reason = reply == NULL ? EP_OUTAGE_REASON_UNREACHABLE :
                         reply->kind == EP_REPLY_AUTH_REJECTED ? EP_OUTAGE_REASON_CREDENTIALS :
                         EP_OUTAGE_REASON_HTTP_ERROR;
  ep_scheduler_judge_reply (self, &batch, reply, error, &verdict);
  apply_verdict (self, &verdict);
  ep_scheduler_witness_changed (self);

  /* Held events are judged before this batch settles, so that the drain
   * cannot end in between. */
  if (split != NULL)
    {
      resolve_if_done (self, split, &verdict);
      ep_split_unref (split);
    }
  outcomes_end (self, &verdict);
  if (batch != NULL)
    {
      g_debug ("Batch %" G_GUINT64_FORMAT " settled: %u %s removed (confirmed or refused), "
               "%u kept for later", batch->serial, batch->removed->len,
               batch->removed->len == 1 ? "event" : "events", batch->kept->len);
      /* Freed by the worker, with the batch (see settle_batch_in_thread). */
      batch->reply = g_steal_pointer (&reply);
      finish_batch (self, g_steal_pointer (&batch));
    }
  else
    {
      /* Held by its split, or aside: the slot is free for the others. */
      count_slot_freed (self, 0);
      ep_scheduler_fill_pipeline (self);
    }
}

void
ep_scheduler_post_batch (EpScheduler *self,
                         EpBatch     *batch)
{
  g_autofree char *token = NULL;
  g_autofree char *client_id = NULL;
  const char *uri;

  g_mutex_lock (&self->lock);
  token = batch->monitoring ? NULL : g_strdup (self->token);
  client_id = g_strdup (self->client_id);
  g_mutex_unlock (&self->lock);

  g_free (batch->token);
  batch->token = g_steal_pointer (&token);
  batch->scheduler = g_object_ref (self);
  batch->freed_elsewhere = &self->freed_elsewhere;
  batch->serial = ++self->post_serial;
  g_debug ("Batch %" G_GUINT64_FORMAT ": posting %u %s to the %s endpoint", batch->serial,
           batch->events->len,
           batch->monitoring ? "monitoring event" : batch->events->len == 1 ? "event" : "events",
           batch->token != NULL ? "authenticated" : "public");
  uri = batch->token ? self->config.consumer_uri : self->config.public_consumer_uri;
  g_main_context_push_thread_default (self->context);
  ep_transport_post_async (self->transport, uri, batch->token, client_id, batch->body,
                           batch->compress,
                           self->cancellable, batch_posted, batch);
  g_main_context_pop_thread_default (self->context);
}
