/* ep-scheduler-replies.c: what a reply means for the events of its batch
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The judge: it decides, the driver acts. ep_scheduler_judge_reply()
 * returns a verdict (EpVerdict, ep-scheduler-internal.h) that the driver
 * applies; this file calls nothing in ep-scheduler.c or
 * ep-scheduler-pipeline.c and changes none of the pipeline's counters.
 *
 * A confirmed event is removed. A refusal is written in the evidence
 * ledger (ep-witness-private.h); a batch refused whole is split in halves,
 * which the pipeline posts before anything new. An event refused on its
 * own (its SenderFault entry in a reply that confirmed others, or alone in
 * its request) while the endpoint confirms other events is a suspect: it
 * waits aside (ep-scheduler-aside.c), out of the way of the events behind
 * it, and is dropped and counted only when the ledger proves the fault is
 * its own. A lone event refused while other parts of its split are out is
 * held until they are answered, so that they can witness
 * (ep_scheduler_judge_held()). Everything else is kept in its place. What
 * a reply meant is written to the queue by a worker: the main context
 * does no file I/O.
 */
#include "config.h"

#include <string.h>

#include "ep-scheduler-internal.h"

/* Verdicts ----------------------------------------------------------------- */

void
ep_verdict_init (EpVerdict *verdict,
                 gboolean   want_ids)
{
  memset (verdict, 0, sizeof *verdict);
  if (!want_ids)
    return;
  verdict->delivered_ids = g_ptr_array_new_with_free_func (g_free);
  verdict->refused_ids = g_ptr_array_new_with_free_func (g_free);
}

void
ep_verdict_clear (EpVerdict *verdict)
{
  g_clear_pointer (&verdict->failure, g_free);
  g_clear_pointer (&verdict->token, g_free);
  g_clear_pointer (&verdict->dropped, g_ptr_array_unref);
  g_clear_pointer (&verdict->split[0], ep_batch_free);
  g_clear_pointer (&verdict->split[1], ep_batch_free);
  g_clear_pointer (&verdict->settle, g_ptr_array_unref);
  g_clear_pointer (&verdict->delivered_ids, g_ptr_array_unref);
  g_clear_pointer (&verdict->refused_ids, g_ptr_array_unref);
}

/* The attempt failed (@why, owned): backoff, and an outage. One outcome
 * per judgement. */
static void
verdict_fail (EpVerdict *verdict,
              char      *why)
{
  g_assert (verdict->outage == EP_VERDICT_OUTAGE_SAME);
  verdict->outage = EP_VERDICT_OUTAGE_FAILED;
  verdict->failure = why;
}

static void
verdict_succeed (EpVerdict *verdict)
{
  g_assert (verdict->outage == EP_VERDICT_OUTAGE_SAME);
  verdict->outage = EP_VERDICT_OUTAGE_OVER;
}

/* The consumer took (@rejected_status 0) or refused @token. */
static void
verdict_token (EpVerdict  *verdict,
               const char *token,
               guint       rejected_status)
{
  if (token == NULL)
    return;
  g_free (verdict->token);
  verdict->token = g_strdup (token);
  verdict->token_accepted = rejected_status == 0;
  verdict->token_rejected = rejected_status;
}

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
              const char  *why,
              EpVerdict   *verdict)
{
  const EpEvent *event = ep_batch_get_event (batch, i);
  g_autofree char *evidence = ep_witness_describe (self->witness, event->id);

  g_debug ("Dropped event '%s' (%s): the consumer refused it (%s), %s: the fault is the event's",
           event->name, event->id, why, evidence);
  ep_witness_forget (self->witness, event->id);
  if (verdict->refused_ids != NULL)
    g_ptr_array_add (verdict->refused_ids, g_strdup (event->id));
  if (verdict->dropped == NULL)
    verdict->dropped = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (verdict->dropped, g_strdup (event->name));
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
             gboolean     witnessed,
             EpVerdict   *verdict)
{
  const EpEvent *event = ep_batch_get_event (batch, i);
  guint64 seq = ep_batch_get_seq (batch, i);
  EpBatch *part;

  if (ep_witness_proves_fault (self->witness, event->id))
    {
      drop_refused (self, batch, i, why, verdict);
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
                    EpBatchReply *reply,
                    EpVerdict    *verdict)
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
          if (verdict->delivered_ids != NULL)
            g_ptr_array_add (verdict->delivered_ids, g_strdup (event->id));
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
          progress |= judge_entry (self, batch, i, code, n_confirmed > 0, verdict);
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

/* A lone batch (its bytes counted in the pipeline) leaves the pipeline
 * and waits aside. FALSE when there is no room (or the scheduler stopped):
 * the batch is untouched. */
static gboolean
move_aside (EpScheduler *self,
            EpBatch     *batch,
            EpVerdict   *verdict)
{
  if (self->stopped || !ep_scheduler_aside_has_room (self))
    return FALSE;
  g_clear_pointer (&batch->split, ep_split_unref);
  verdict->bytes_aside += batch->bytes;
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
                    EpBatchReply  *reply,
                    EpVerdict     *verdict)
{
  EpBatch *batch = *batch_p;
  const EpEvent *event = ep_batch_get_event (batch, 0);
  g_autofree char *why = describe_reply (reply);

  if (ep_witness_proves_fault (self->witness, event->id))
    drop_refused (self, batch, 0, why, verdict);
  else if (ep_witness_is_suspect (self->witness, event->id, FALSE) && move_aside (self, batch, verdict))
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
      verdict_fail (verdict, g_strdup_printf ("the consumer refused event '%s' on its own (%s) "
                                              "and took no other event since: kept",
                                              event->name, why));
    }
}

/* A whole-batch refusal: every event in it is marked refused; a batch of
 * several is split, a lone event judged. */
static void
apply_batch_refused (EpScheduler   *self,
                     EpBatch      **batch_p,
                     EpBatchReply  *reply,
                     EpVerdict     *verdict)
{
  EpBatch *batch = *batch_p;

  g_autofree const char **ids = g_new (const char *, batch->items->len);

  for (guint i = 0; i < batch->items->len; i++)
    ids[i] = ep_batch_get_event (batch, i)->id;
  ep_witness_note_refused (self->witness, ep_batch_get_endpoint (batch), ids,
                           batch->items->len, batch->items->len == 1);
  if (batch->items->len == 1)
    judge_lone_refusal (self, batch_p, reply, verdict);
  else
    {
      g_debug ("The consumer refused a batch of %u events whole (HTTP %u): splitting it",
               batch->items->len, reply->http_status);
      /* The pipeline posts the halves before anything new. */
      ep_batch_split (batch, &verdict->split[0], &verdict->split[1]);
    }
}

/* The failure a reply (not a refusal) means: the outage, a Retry-After,
 * a refused token. */
static void
note_failed_reply (EpBatch      *batch,
                   EpBatchReply *reply,
                   EpVerdict    *verdict)
{
  verdict_fail (verdict, describe_reply (reply));
  if (reply->kind == EP_REPLY_AUTH_REJECTED)
    verdict_token (verdict, batch->token, reply->http_status);
  else if (reply->kind == EP_REPLY_THROTTLED)
    {
      verdict->has_retry_after = TRUE;
      verdict->retry_after_s = reply->retry_after_s;
    }
}

/* Applies a reply. A lone refused event may be held by its split or set
 * aside: then *@batch_p is stolen (NULL on return). */
static void
apply_reply (EpScheduler   *self,
             EpBatch      **batch_p,
             EpBatchReply  *reply,
             EpVerdict     *verdict)
{
  EpBatch *batch = *batch_p;

  switch (reply->kind)
    {
    case EP_REPLY_BATCH_RESULT:
      verdict_token (verdict, batch->token, 0);
      if (apply_batch_result (self, batch, reply, verdict))
        verdict_succeed (verdict);
      else
        verdict_fail (verdict, g_strdup ("the consumer confirmed none of the batch"));
      break;
    case EP_REPLY_IDS_NOT_DISTINCT:
      if (!apply_ids_not_distinct (self, batch))
        verdict_fail (verdict, describe_reply (reply));
      break;
    case EP_REPLY_BATCH_REFUSED:
      apply_batch_refused (self, batch_p, reply, verdict);
      break;
    default:
      ep_batch_keep_all (batch);
      note_failed_reply (batch, reply, verdict);
      break;
    }
}

/* A suspect goes back aside after its attempt (*@batch_p stolen), or, when
 * it is no longer one (the consumer's refusals proved random), with no room
 * left or the scheduler stopped, back to its place in the queue. */
static void
put_back_aside (EpScheduler  *self,
                EpBatch     **batch_p,
                EpVerdict    *verdict)
{
  if (ep_witness_is_suspect (self->witness, ep_batch_get_event (*batch_p, 0)->id, FALSE) &&
      move_aside (self, *batch_p, verdict))
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
                   const GError  *error,
                   EpVerdict     *verdict)
{
  EpBatch *batch = *batch_p;
  const EpEvent *event = ep_batch_get_event (batch, 0);
  g_autofree char *described = NULL;
  const char *why = NULL;

  if (reply == NULL)
    verdict_fail (verdict, g_strdup (error->message));
  else if (reply->kind == EP_REPLY_BATCH_RESULT)
    {
      verdict_token (verdict, batch->token, 0);
      if (g_hash_table_contains (reply->confirmed, event->id))
        {
          g_debug ("Event '%s' (%s), which waited aside, was confirmed", event->name, event->id);
          ep_witness_note_confirmed (self->witness, ep_batch_get_endpoint (batch), event->id);
          remove_seq (self, batch, ep_batch_get_seq (batch, 0));
          if (verdict->delivered_ids != NULL)
            g_ptr_array_add (verdict->delivered_ids, g_strdup (event->id));
          verdict_succeed (verdict);
          return;
        }
      why = g_hash_table_lookup (reply->sender_faults, event->id);
    }
  else if (reply->kind == EP_REPLY_BATCH_REFUSED)
    why = described = describe_reply (reply);
  else
    note_failed_reply (batch, reply, verdict);

  if (why != NULL)
    {
      ep_witness_note_refused (self->witness, ep_batch_get_endpoint (batch), &event->id, 1, TRUE);
      if (ep_witness_proves_fault (self->witness, event->id))
        {
          drop_refused (self, batch, 0, why, verdict);
          return;
        }
    }
  put_back_aside (self, batch_p, verdict);
}

/* Every other part of @split was answered: judges the lone events it held.
 * Those the other parts witnessed wait aside (or are dropped, when the
 * ledger proves the fault); without a witness they are kept, and that is
 * one failure. The others go to verdict->settle. */
void
ep_scheduler_judge_held (EpScheduler *self,
                         EpSplit     *split,
                         EpVerdict   *verdict)
{
  g_autoptr(GPtrArray) held = g_steal_pointer (&split->held);
  const char *why = NULL;
  guint n_kept = 0;

  g_assert (split->outstanding == 0 && verdict->settle == NULL);
  split->held = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_batch_free);
  verdict->settle = g_ptr_array_new_with_free_func ((GDestroyNotify) ep_batch_free);
  for (guint i = 0; i < held->len; i++)
    {
      EpBatch *batch = g_ptr_array_index (held, i);
      const char *id = ep_batch_get_event (batch, 0)->id;

      if (!self->stopped && ep_witness_proves_fault (self->witness, id))
        drop_refused (self, batch, 0, batch->refusal, verdict);
      else if (ep_witness_is_suspect (self->witness, id, FALSE) && move_aside (self, batch, verdict))
        g_ptr_array_index (held, i) = NULL;
      else
        {
          ep_batch_keep_all (batch);
          why = batch->refusal;
          n_kept++;
        }
    }
  if (n_kept > 0 && !self->stopped)
    verdict_fail (verdict, g_strdup_printf ("the consumer refused %u %s on its own (%s) "
                                            "and took none of the others: kept", n_kept,
                                            n_kept == 1 ? "event" : "events each", why));
  /* Each goes back through the pipeline's accounting. */
  g_ptr_array_set_free_func (held, NULL);
  for (guint i = 0; i < held->len; i++)
    if (g_ptr_array_index (held, i) != NULL)   /* else aside */
      g_ptr_array_add (verdict->settle, g_ptr_array_index (held, i));
}

/* The reply (NULL with @error when the request failed) to @batch. A lone
 * refused event may be held by its split or set aside: then *@batch_p is
 * stolen (NULL on return). */
void
ep_scheduler_judge_reply (EpScheduler   *self,
                          EpBatch      **batch_p,
                          EpBatchReply  *reply,
                          const GError  *error,
                          EpVerdict     *verdict)
{
  EpBatch *batch = *batch_p;

  if (self->stopped && (reply == NULL || reply->kind != EP_REPLY_BATCH_RESULT))
    ep_batch_keep_all (batch);
  else if (self->stopped)
    /* A confirmation that arrives as the producer closes still counts. */
    (void) apply_batch_result (self, batch, reply, verdict);
  else if (batch->aside)
    apply_aside_reply (self, batch_p, reply, error, verdict);
  else if (reply == NULL)
    {
      ep_batch_keep_all (batch);
      verdict_fail (verdict, g_strdup (error->message));
    }
  else
    apply_reply (self, batch_p, reply, verdict);
}
