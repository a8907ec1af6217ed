/* ep-scheduler-replies.c: what a reply means for the events of its batch
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A confirmed event is removed. A refusal is written in the evidence
 * ledger (ep-witness-private.h); a batch refused whole is split in halves,
 * queued in split_parts and posted before anything new. An event refused
 * on its own (its SenderFault entry in a reply that confirmed others, or
 * alone in its request) while the endpoint confirms other events is a
 * suspect: it waits aside (ep-scheduler-aside.c), out of the way of the
 * events behind it, and is dropped and counted only when the ledger proves
 * the fault is its own. A lone event refused while other parts of its
 * split are out is held until they are answered, so that they can witness.
 * Everything else is kept in its place. What a reply meant is written to
 * the queue by a worker: the main context does no file I/O.
 */
#include "config.h"

#include <string.h>

#include "ep-scheduler-internal.h"

static void batch_posted (GObject *source, GAsyncResult *result, gpointer user_data);
static void finish_batch (EpScheduler *self, EpBatch *batch);

/* Replies ------------------------------------------------------------------ */

/* What a reply means for the queue is collected in batch->kept and
 * batch->removed, and written to the queue by a worker (settle_batch):
 * the main context does no file I/O. */
static void
remove_seq (EpScheduler *self,
            EpBatch     *batch,
            guint64      seq)
{
  g_array_append_val (batch->removed, seq);
}

/* An event the consumer will never take, as the ledger proves: it is
 * deleted, and counts as a validation failure. */
static void
drop_refused (EpScheduler *self,
              EpBatch     *batch,
              guint        i,
              const char  *why)
{
  const EpEvent *event = ep_batch_get_event (batch, i);
  g_autofree char *evidence = ep_witness_describe (self->witness, event->id);

  g_debug ("Dropped event '%s' (%s): the consumer refused it (%s), %s: the fault is the event's",
           event->name, event->id, why, evidence);
  ep_witness_forget (self->witness, event->id);
  if (self->refused_ids != NULL)
    g_ptr_array_add (self->refused_ids, g_strdup (event->id));
  ep_monitor_add (self->monitor, EP_DROP_VALIDATION_FAILED, event->name);
  ep_scheduler_arm_monitoring_timer (self);
  remove_seq (self, batch, ep_batch_get_seq (batch, i));
}

/* The event @i of @batch was refused on its own (the ledger has counted
 * it). Dropped when the ledger proves the fault; a suspect waits aside
 * when the endpoint confirms other events (@witnessed: in the same reply);
 * else it is kept in its place. Returns whether it was dropped or set
 * aside. */
static gboolean
judge_entry (EpScheduler *self,
             EpBatch     *batch,
             guint        i,
             const char  *why,
             gboolean     witnessed)
{
  const EpEvent *event = ep_batch_get_event (batch, i);
  guint64 seq = ep_batch_get_seq (batch, i);
  EpBatch *part;

  if (ep_witness_proves_fault (self->witness, event->id))
    {
      drop_refused (self, batch, i, why);
      return TRUE;
    }
  if (!self->stopped && ep_witness_is_suspect (self->witness, event->id, witnessed) &&
      ep_scheduler_aside_has_room (self))
    {
      /* The queue keeps it in flight: the batch neither keeps nor removes it. */
      part = ep_batch_copy_out (batch, i);
      if (ep_scheduler_set_aside (self, part))
        return TRUE;
      ep_batch_free (part);
    }
  g_debug ("The consumer refused event '%s' (%s) and took nothing else since: kept in its place",
           event->name, why);
  g_array_append_val (batch->kept, seq);
  return FALSE;
}

static guint
count_confirmed (EpBatch      *batch,
                 EpBatchReply *reply)
{
  guint n = 0;

  for (guint i = 0; i < batch->items->len; i++)
    if (g_hash_table_contains (reply->confirmed, ep_batch_get_event (batch, i)->id))
      n++;
  return n;
}

/* Applies a SendMessageBatchResponse. Confirmations first, so that the
 * ledger counts them before it judges the refused entries. A SenderFault
 * entry is its own refusal when the reply confirmed others or the entry
 * was alone; when every entry of several was refused, the refusal says
 * nothing about any one of them (a consumer refusing everything alike).
 * Returns whether any event was settled or set aside. */
static gboolean
apply_batch_result (EpScheduler  *self,
                    EpBatch      *batch,
                    EpBatchReply *reply)
{
  guint endpoint = ep_batch_get_endpoint (batch);
  guint n_confirmed = count_confirmed (batch, reply);
  g_autoptr(GPtrArray) refused_together = NULL;
  gboolean progress = FALSE;

  for (guint i = 0; i < batch->items->len; i++)
    {
      const EpEvent *event = ep_batch_get_event (batch, i);

      if (g_hash_table_contains (reply->confirmed, event->id))
        {
          ep_witness_note_confirmed (self->witness, endpoint, event->id);
          remove_seq (self, batch, ep_batch_get_seq (batch, i));
          if (self->delivered_ids != NULL)
            g_ptr_array_add (self->delivered_ids, g_strdup (event->id));
          progress = TRUE;
        }
    }
  for (guint i = 0; i < batch->items->len; i++)
    {
      const EpEvent *event = ep_batch_get_event (batch, i);
      guint64 seq = ep_batch_get_seq (batch, i);
      const char *code = g_hash_table_lookup (reply->sender_faults, event->id);
      gboolean own = n_confirmed > 0 || batch->items->len == 1;

      if (g_hash_table_contains (reply->confirmed, event->id))
        continue;
      if (code == NULL)
        {
          g_array_append_val (batch->kept, seq);
          continue;
        }
      if (own)
        {
          ep_witness_note_refused (self->witness, endpoint, &event->id, 1, TRUE);
          progress |= judge_entry (self, batch, i, code, n_confirmed > 0);
        }
      else
        {
          g_debug ("The consumer refused event '%s' (%s) with every other entry of its batch: kept",
                   event->name, code);
          if (refused_together == NULL)
            refused_together = g_ptr_array_new ();
          g_ptr_array_add (refused_together, (gpointer) event->id);
          g_array_append_val (batch->kept, seq);
        }
    }
  /* One refusal of them all: proven wrong once all are confirmed. */
  if (refused_together != NULL)
    ep_witness_note_refused (self->witness, endpoint, (const char * const *) refused_together->pdata,
                             refused_together->len, FALSE);
  return progress;
}

/* BatchEntryIdsNotDistinct: keeps the first event of each id, removes the
 * later copies. Returns whether any copy was removed. */
static gboolean
apply_ids_not_distinct (EpScheduler *self,
                        EpBatch     *batch)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  guint n_removed = 0;

  for (guint i = 0; i < batch->items->len; i++)
    {
      guint64 seq = ep_batch_get_seq (batch, i);

      if (g_hash_table_add (seen, (gpointer) ep_batch_get_event (batch, i)->id))
        g_array_append_val (batch->kept, seq);
      else
        {
          remove_seq (self, batch, seq);
          n_removed++;
        }
    }
  if (n_removed > 0)
    g_message ("Removed %u duplicate %s the consumer refused as not distinct", n_removed,
               n_removed == 1 ? "event" : "events");
  return n_removed > 0;
}

/* The consumer refused @token (401/403). Reported once per token value,
 * and only while it is still the current one: a refusal of credentials
 * the application has replaced already asks nothing of it. */
static void
note_rejected (EpScheduler *self,
               const char  *token,
               guint        http_status)
{
  g_autofree char *current = NULL;

  g_mutex_lock (&self->lock);
  current = g_strdup (self->token);
  g_mutex_unlock (&self->lock);
  if (token == NULL || g_strcmp0 (token, current) != 0)
    return;
  self->auth_rejected = TRUE;
  if (g_strcmp0 (token, self->rejected_token) == 0)
    {
      g_debug ("The consumer refused the same credentials again (HTTP %u)", http_status);
      return;
    }
  g_free (self->rejected_token);
  self->rejected_token = g_strdup (token);
  ep_scheduler_report_credentials_rejected (self, http_status);
}

/* The consumer took @token: a later refusal of it is news again. */
static void
note_accepted (EpScheduler *self,
               const char  *token)
{
  if (token == NULL)
    return;
  self->auth_rejected = FALSE;
  if (g_strcmp0 (token, self->rejected_token) == 0)
    g_clear_pointer (&self->rejected_token, g_free);
}

/* "HTTP 404 Not Found", "HTTP 400 Bad Request: <code> (<message>)",
 * "HTTP 200: the body is not an SQS reply". */
static char *
describe_reply (EpBatchReply *reply)
{
  gboolean error_status = !SOUP_STATUS_IS_SUCCESSFUL (reply->http_status);

  return g_strdup_printf ("HTTP %u%s%s", reply->http_status,
                          reply->error_message ? error_status ? " " : ": " : "",
                          reply->error_message ? reply->error_message : "");
}

/* Halves @batch into two parts, posted before anything new
 * (ep_scheduler_fill_pipeline), and before the parts already waiting:
 * depth first, so that with max-in-flight 1 events still arrive in the
 * order they were sent. */
static void
split_batch (EpScheduler *self,
             EpBatch     *batch)
{
  EpBatch *first, *second;

  ep_batch_split (batch, &first, &second);
  g_queue_push_head (&self->split_parts, second);
  g_queue_push_head (&self->split_parts, first);
}

/* A lone batch (its bytes counted in the pipeline) leaves the pipeline
 * and waits aside. FALSE when there is no room (or the scheduler stopped):
 * the batch is untouched. */
static gboolean
move_aside (EpScheduler *self,
            EpBatch     *batch)
{
  if (self->stopped || !ep_scheduler_aside_has_room (self))
    return FALSE;
  g_clear_pointer (&batch->split, ep_split_unref);
  self->bytes_ahead -= batch->bytes;
  if (!ep_scheduler_set_aside (self, batch))
    g_assert_not_reached ();   /* room was checked */
  return TRUE;
}

/* A lone event refused whole: dropped when the ledger proves the fault;
 * set aside when the endpoint confirmed other events since it was first
 * refused; held while other parts of its split are out (they may
 * witness); else kept, and the consumer is failing. */
static void
judge_lone_refusal (EpScheduler   *self,
                    EpBatch      **batch_p,
                    EpBatchReply  *reply)
{
  EpBatch *batch = *batch_p;
  const EpEvent *event = ep_batch_get_event (batch, 0);
  g_autofree char *why = describe_reply (reply);

  if (ep_witness_proves_fault (self->witness, event->id))
    drop_refused (self, batch, 0, why);
  else if (ep_witness_is_suspect (self->witness, event->id, FALSE) && move_aside (self, batch))
    *batch_p = NULL;
  else if (batch->split != NULL && batch->split->outstanding > 0)
    {
      g_debug ("The consumer refused event '%s' on its own (%s): waiting for the rest "
               "of its batch", event->name, why);
      batch->refusal = g_steal_pointer (&why);
      g_ptr_array_add (batch->split->held, g_steal_pointer (batch_p));
    }
  else
    {
      ep_batch_keep_all (batch);
      ep_scheduler_record_failure (self, g_strdup_printf ("the consumer refused event '%s' on its own (%s) "
                                             "and took no other event since: kept",
                                             event->name, why));
    }
}

/* A whole-batch refusal: every event in it is marked refused; a batch of
 * several is split, a lone event judged. */
static void
apply_batch_refused (EpScheduler   *self,
                     EpBatch      **batch_p,
                     EpBatchReply  *reply)
{
  EpBatch *batch = *batch_p;

  g_autofree const char **ids = g_new (const char *, batch->items->len);

  for (guint i = 0; i < batch->items->len; i++)
    ids[i] = ep_batch_get_event (batch, i)->id;
  ep_witness_note_refused (self->witness, ep_batch_get_endpoint (batch), ids,
                           batch->items->len, batch->items->len == 1);
  if (batch->items->len == 1)
    judge_lone_refusal (self, batch_p, reply);
  else
    {
      g_debug ("The consumer refused a batch of %u events whole (HTTP %u): splitting it",
               batch->items->len, reply->http_status);
      split_batch (self, batch);
    }
}

/* The failure a reply (not a refusal) means: the outage, a Retry-After,
 * a refused token. */
static void
note_failed_reply (EpScheduler  *self,
                   EpBatch      *batch,
                   EpBatchReply *reply)
{
  switch (reply->kind)
    {
    case EP_REPLY_AUTH_REJECTED:
      ep_scheduler_record_failure (self, describe_reply (reply));
      note_rejected (self, batch->token, reply->http_status);
      break;
    case EP_REPLY_THROTTLED:
      ep_scheduler_set_retry_after (self, reply->retry_after_s);
      ep_scheduler_record_failure (self, describe_reply (reply));
      break;
    default:
      ep_scheduler_record_failure (self, describe_reply (reply));
      break;
    }
}

/* Applies a reply. A lone refused event may be held by its split or set
 * aside: then *@batch_p is stolen (NULL on return). */
static void
apply_reply (EpScheduler   *self,
             EpBatch      **batch_p,
             EpBatchReply  *reply)
{
  EpBatch *batch = *batch_p;

  switch (reply->kind)
    {
    case EP_REPLY_BATCH_RESULT:
      note_accepted (self, batch->token);
      if (apply_batch_result (self, batch, reply))
        ep_scheduler_record_success (self);
      else
        ep_scheduler_record_failure (self, g_strdup ("the consumer confirmed none of the batch"));
      break;
    case EP_REPLY_IDS_NOT_DISTINCT:
      if (!apply_ids_not_distinct (self, batch))
        ep_scheduler_record_failure (self, describe_reply (reply));
      break;
    case EP_REPLY_BATCH_REFUSED:
      apply_batch_refused (self, batch_p, reply);
      break;
    default:
      ep_batch_keep_all (batch);
      note_failed_reply (self, batch, reply);
      break;
    }
}

/* A suspect goes back aside after its attempt (*@batch_p stolen), or, when
 * it is no longer one (the consumer's refusals proved random), with no room
 * left or the scheduler stopped, back to its place in the queue. */
static void
put_back_aside (EpScheduler  *self,
                EpBatch     **batch_p)
{
  if (ep_witness_is_suspect (self->witness, ep_batch_get_event (*batch_p, 0)->id, FALSE) &&
      move_aside (self, *batch_p))
    *batch_p = NULL;
  else
    ep_batch_keep_all (*batch_p);
}

/* The reply (or @error) to a suspect's attempt alone. Confirmed: it leaves
 * the queue, and its refusals are proven wrong. Refused (its entry, or the
 * request whole): one more refusal of its own; dropped when the ledger
 * proves the fault, else back aside. Anything else: the failure it means,
 * and back aside, nothing counted against the event. */
static void
apply_aside_reply (EpScheduler   *self,
                   EpBatch      **batch_p,
                   EpBatchReply  *reply,
                   const GError  *error)
{
  EpBatch *batch = *batch_p;
  const EpEvent *event = ep_batch_get_event (batch, 0);
  g_autofree char *described = NULL;
  const char *why = NULL;

  if (reply == NULL)
    ep_scheduler_record_failure (self, g_strdup (error->message));
  else if (reply->kind == EP_REPLY_BATCH_RESULT)
    {
      note_accepted (self, batch->token);
      if (g_hash_table_contains (reply->confirmed, event->id))
        {
          g_debug ("Event '%s' (%s), which waited aside, was confirmed", event->name, event->id);
          ep_witness_note_confirmed (self->witness, ep_batch_get_endpoint (batch), event->id);
          remove_seq (self, batch, ep_batch_get_seq (batch, 0));
          if (self->delivered_ids != NULL)
            g_ptr_array_add (self->delivered_ids, g_strdup (event->id));
          ep_scheduler_record_success (self);
          return;
        }
      why = g_hash_table_lookup (reply->sender_faults, event->id);
    }
  else if (reply->kind == EP_REPLY_BATCH_REFUSED)
    why = described = describe_reply (reply);
  else
    note_failed_reply (self, batch, reply);

  if (why != NULL)
    {
      ep_witness_note_refused (self->witness, ep_batch_get_endpoint (batch), &event->id, 1, TRUE);
      if (ep_witness_proves_fault (self->witness, event->id))
        {
          drop_refused (self, batch, 0, why);
          return;
        }
    }
  put_back_aside (self, batch_p);
}

void
ep_scheduler_post_aside (EpScheduler *self,
                         EpBatch     *batch)
{
  EpQueueItem *item = g_ptr_array_index (batch->items, 0);
  int category = ep_event_record_peek_category (g_bytes_get_data (item->record, NULL),
                                                g_bytes_get_size (item->record));

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

static void
apply_monitoring_reply (EpScheduler  *self,
                        EpBatch      *batch,
                        EpBatchReply *reply)
{
  const EpEvent *event = ep_batch_get_event (batch, 0);

  self->monitoring_in_flight = FALSE;
  if (reply != NULL && reply->kind == EP_REPLY_BATCH_RESULT &&
      g_hash_table_contains (reply->confirmed, event->id))
    {
      ep_monitor_subtract (self->monitor, batch->snapshot);
    }
  else if (reply != NULL && reply->kind == EP_REPLY_THROTTLED)
    ep_scheduler_set_retry_after (self, reply->retry_after_s);
  /* Counts that were not confirmed, or came meanwhile. */
  ep_scheduler_arm_monitoring_timer (self);
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
  self->bytes_ahead -= bytes;
  if (removed_any)
    ep_scheduler_report_queue_changed (self);
  if (next != NULL)
    /* It took over the settled batch's slot. */
    ep_scheduler_batch_arrived (self, next);
  else
    self->in_flight--;
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
  settle->read_next = ep_scheduler_read_on_settle (self, batch->bytes);
  ep_scheduler_run_in_worker (self, settle_batch_in_thread, batch_written, settle,
                              (GDestroyNotify) settle_free);
}

/* Every other part of @split was answered: judges the lone events it held.
 * Those the other parts witnessed wait aside (or are dropped, when the
 * ledger proves the fault); without a witness they are kept, and that is
 * one failure. */
static void
resolve_held (EpScheduler *self,
              EpSplit     *split)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&split->held);
  const char *why = NULL;
  guint n_kept = 0;

  split->held = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_batch_free);
  for (guint i = 0; i < held->len; i++)
    {
      EpBatch *batch = g_ptr_array_index (held, i);
      const char *id = ep_batch_get_event (batch, 0)->id;

      if (!self->stopped && ep_witness_proves_fault (self->witness, id))
        drop_refused (self, batch, 0, batch->refusal);
      else if (ep_witness_is_suspect (self->witness, id, FALSE) && move_aside (self, batch))
        g_ptr_array_index (held, i) = NULL;
      else
        {
          ep_batch_keep_all (batch);
          why = batch->refusal;
          n_kept++;
        }
    }
  if (n_kept > 0 && !self->stopped)
    ep_scheduler_record_failure (self, g_strdup_printf ("the consumer refused %u %s on its own (%s) "
                                           "and took none of the others: kept", n_kept,
                                           n_kept == 1 ? "event" : "events each", why));
  /* Each goes back through the pipeline's accounting. */
  g_ptr_array_set_free_func (held, NULL);
  for (guint i = 0; i < held->len; i++)
    {
      if (g_ptr_array_index (held, i) == NULL)
        continue;   /* aside */
      self->in_flight++;
      finish_batch (self, g_ptr_array_index (held, i));
    }
}

static void
resolve_if_done (EpScheduler *self,
                 EpSplit     *split)
{
  if (split->outstanding == 0 && split->held->len > 0)
    resolve_held (self, split);
}

/* A part of @split was abandoned: once none is out, the lone events it
 * held can be judged. */
void
ep_scheduler_split_part_answered (EpScheduler *self,
                     EpSplit     *split)
{
  g_assert (split->outstanding > 0);
  split->outstanding--;
  resolve_if_done (self, split);
}

/* Before a reply is applied: the ids it settles are collected only when
 * the owner wants them. */
static void
outcomes_begin (EpScheduler *self)
{
  if (self->callbacks.wants_outcomes == NULL || self->callbacks.events_settled == NULL ||
      !self->callbacks.wants_outcomes (self->callbacks_data))
    return;
  self->delivered_ids = g_ptr_array_new_with_free_func (g_free);
  self->refused_ids = g_ptr_array_new_with_free_func (g_free);
}

/* The reply was applied: what it settled is reported, one call per
 * outcome. */
static void
outcomes_end (EpScheduler *self)
{
  g_autoptr(GPtrArray) delivered = g_steal_pointer (&self->delivered_ids);
  g_autoptr(GPtrArray) refused = g_steal_pointer (&self->refused_ids);

  if (self->callbacks.events_settled == NULL)
    return;
  if (delivered != NULL && delivered->len > 0)
    self->callbacks.events_settled (self->callbacks_data, delivered, EP_EVENT_OUTCOME_DELIVERED);
  /* the first call may have disconnected the callbacks (a handler that
   * dropped the producer) */
  if (refused != NULL && refused->len > 0 && self->callbacks.events_settled != NULL)
    self->callbacks.events_settled (self->callbacks_data, refused, EP_EVENT_OUTCOME_REFUSED);
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
  EpSplit *split = NULL;

  reply = ep_transport_post_finish (EP_TRANSPORT (source), result, &error);
  observe_clock (self, reply);
  if (batch->monitoring)
    {
      apply_monitoring_reply (self, batch, reply);
      return;
    }

  outcomes_begin (self);
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
  if (self->stopped && (reply == NULL || reply->kind != EP_REPLY_BATCH_RESULT))
    ep_batch_keep_all (batch);
  else if (self->stopped)
    /* A confirmation that arrives as the producer closes still counts. */
    (void) apply_batch_result (self, batch, reply);
  else if (batch->aside)
    apply_aside_reply (self, &batch, reply, error);
  else if (reply == NULL)
    {
      ep_batch_keep_all (batch);
      ep_scheduler_record_failure (self, g_strdup (error->message));
    }
  else
    apply_reply (self, &batch, reply);
  ep_scheduler_witness_changed (self);

  /* Held events are judged before this batch settles, so that the drain
   * cannot end in between. */
  if (split != NULL)
    {
      resolve_if_done (self, split);
      ep_split_unref (split);
    }
  outcomes_end (self);
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
      self->in_flight--;
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
