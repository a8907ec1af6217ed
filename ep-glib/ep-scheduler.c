/* ep-scheduler.c: timers, backoff, network monitor; drives delivery
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A *drain* delivers the queue oldest first in batches of at most ten
 * events, keeping up to max-in-flight batches posted at once, until the
 * queue has nothing left to hand out or a batch fails. Drains start on the
 * batch timer and on flush. Reading and encoding a batch, and writing what
 * its reply meant, happen on the scheduler's one worker thread (it reads
 * the journal with pread), which settles a batch, frees it and reads the
 * next in one call; the main context only posts, applies replies and keeps
 * time.
 *
 * Only a confirmation (or the consumer's definite refusal of an entry)
 * removes an event. Everything else puts the events back, in order.
 * ep-scheduler-replies.c judges each reply and returns a verdict;
 * ep-scheduler-pipeline.c applies its pipeline part, this file the rest
 * (ep_scheduler_apply_outcome()).
 *
 * A whole-batch refusal (ep-sqs.c says which replies are) splits the batch
 * in halves, queued in split_parts and posted before anything new, within
 * max-in-flight, until the refused events stand alone. A refused event is
 * dropped only with a witness (ep-witness-private.h): a lone event refused
 * while other parts of its split are still out is held until they are
 * answered, so that the other half can be its witness. A consumer that
 * refuses everything alike gets nothing dropped: a delivery outage.
 *
 * After a failure the next attempt waits an exponential, jittered backoff:
 * never sooner than batch-interval, at most MAX_BACKOFF_MS, and never
 * before a Retry-After time. Flush skips the backoff but not Retry-After.
 */
#include "config.h"

#include <string.h>

#include "ep-producer.h"
#include "ep-scheduler-internal.h"
#include "ep-timer-private.h"

#define MAX_BACKOFF_MS (10 * 60 * 1000)
#define NETWORK_BACK_DELAY_MS 1000

G_DEFINE_FINAL_TYPE (EpScheduler, ep_scheduler, G_TYPE_OBJECT)

/* A flush waiting for the events that were queued when it was asked for. */
typedef struct {
  GTask        *task;         /* owned */
  guint64       target_seq;   /* done when no event with seq < target_seq is left */
  GCancellable *cancellable;  /* owned, nullable */
  gulong        cancelled_id;
} Flush;

static void
flush_free (Flush *flush)
{
  if (flush->cancelled_id != 0)
    g_cancellable_disconnect (flush->cancellable, flush->cancelled_id);
  g_clear_object (&flush->cancellable);
  g_clear_object (&flush->task);
  g_free (flush);
}


static void arm_batch_timer (EpScheduler *self, gint64 delay_ms);
static void arm_batch_timer_full (EpScheduler *self, gint64 delay_ms, gboolean prompt);
static void arm_monitoring_timer_at (EpScheduler *self, gint64 due_us);

/* GObject ------------------------------------------------------------------ */

static void
destroy_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static void
ep_scheduler_dispose (GObject *object)
{
  EpScheduler *self = EP_SCHEDULER (object);

  ep_scheduler_stop (self);

  G_OBJECT_CLASS (ep_scheduler_parent_class)->dispose (object);
}

static void
ep_scheduler_finalize (GObject *object)
{
  EpScheduler *self = EP_SCHEDULER (object);

  g_clear_object (&self->queue);
  g_clear_object (&self->monitor);
  g_clear_object (&self->transport);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->clock, ep_clock_free);
  g_clear_object (&self->constraints);
  g_clear_pointer (&self->flushes, g_ptr_array_unref);
  g_queue_clear_full (&self->split_parts, (GDestroyNotify) ep_batch_free);
  g_clear_pointer (&self->witness, ep_witness_free);
  /* stop gave every suspect back to the queue. */
  g_assert (g_queue_is_empty (&self->aside));
  g_assert (self->witness_save_timer == NULL);
  g_free (self->config.consumer_uri);
  g_free (self->config.public_consumer_uri);
  g_free (self->token);
  g_free (self->client_id);
  g_free (self->rejected_token);
  g_free (self->last_failure);
  g_free (self->shown_uri[0]);
  g_free (self->shown_uri[1]);
  g_mutex_clear (&self->lock);
  /* Nothing is queued (each work item keeps the scheduler alive), and this
   * may run on the worker itself: do not wait for it. */
  if (self->worker != NULL)
    g_thread_pool_free (self->worker, FALSE, FALSE);
  /* Each work item keeps the scheduler alive until it has run. */
  g_assert (self->done_head == NULL);
  if (self->work_done != NULL)
    {
      g_source_destroy (self->work_done);
      g_source_unref (self->work_done);
    }
  g_mutex_clear (&self->done_lock);

  G_OBJECT_CLASS (ep_scheduler_parent_class)->finalize (object);
}

static void
ep_scheduler_class_init (EpSchedulerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ep_scheduler_dispose;
  object_class->finalize = ep_scheduler_finalize;
}

static void
ep_scheduler_init (EpScheduler *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->done_lock);
  self->cancellable = g_cancellable_new ();
  self->flushes = g_ptr_array_new_with_free_func ((GDestroyNotify) flush_free);
  g_queue_init (&self->split_parts);
  self->witness = ep_witness_new ();
  g_queue_init (&self->aside);
  self->attempt_reason = EP_OUTAGE_REASON_HTTP_ERROR;
}

/* Reports to the owner ----------------------------------------------------- */

static void
report_delivery_failing (EpScheduler *self,
                         gboolean     failing)
{
  if (self->callbacks.delivery_failing != NULL)
    self->callbacks.delivery_failing (self->callbacks_data, failing);
}

static void
report_credentials_rejected (EpScheduler *self,
                             guint        http_status)
{
  if (self->callbacks.credentials_rejected != NULL)
    self->callbacks.credentials_rejected (self->callbacks_data, http_status);
}

void
ep_scheduler_report_queue_changed (EpScheduler *self)
{
  if (self->callbacks.queue_changed != NULL)
    self->callbacks.queue_changed (self->callbacks_data);
}

/* Outage and backoff ------------------------------------------------------- */

static void
set_failing (EpScheduler *self,
             gboolean     failing)
{
  if (self->delivery_failing == failing)
    return;
  self->delivery_failing = failing;
  /* Not a warning (SPEC "Logging levels"): the network and the consumer
   * are outside the application's control, and applications run their
   * tests with fatal warnings. */
  if (failing)
    g_message ("Delivery outage: %s", self->last_failure ? self->last_failure : "delivery failed");
  else
    g_message ("Delivery outage over: the consumer confirmed a batch");
  report_delivery_failing (self, failing);
}

static gint64
backoff_ms (EpScheduler *self)
{
  gint64 base = MAX (self->config.batch_interval_ms, 1);
  gint64 delay = base;

  for (guint i = 1; i < self->failures && delay < MAX_BACKOFF_MS; i++)
    delay *= 2;
  /* Jitter spreads the retries of many clients after a shared outage. */
  delay += g_random_int_range (0, (gint32) MIN (delay / 4 + 1, G_MAXINT32));
  return CLAMP (delay, base, MAX (base, MAX_BACKOFF_MS));
}

static void
record_failure (EpScheduler *self,
                char        *why)
{
  g_free (self->last_failure);
  /* Which request failed: "POST http://host/path: HTTP 404 Not Found". */
  self->last_failure = self->attempt_uri != NULL ? g_strdup_printf ("POST %s: %s", self->attempt_uri, why)
                                                 : g_strdup (why);
  g_free (why);
  why = self->last_failure;
  if (self->callbacks.delivery_error != NULL)
    self->callbacks.delivery_error (self->callbacks_data, self->attempt_reason, why);
  self->drain_failed = TRUE;
  self->failures++;
  self->backoff_until = g_get_monotonic_time () + backoff_ms (self) * 1000;
  g_debug ("Delivery attempt failed (%u in a row): %s; next attempt in %" G_GINT64_FORMAT " ms "
           "at the earliest", self->failures, why,
           (MAX (self->backoff_until, self->retry_after_until) - g_get_monotonic_time ()) / 1000);
  set_failing (self, TRUE);
}

static void
record_success (EpScheduler *self)
{
  /* A batch that failed in this drain keeps its backoff: the failing one
   * must not be retried at once because another one went through. */
  if (!self->drain_failed)
    {
      self->failures = 0;
      self->backoff_until = 0;
    }
  set_failing (self, FALSE);
}

static void
set_retry_after (EpScheduler *self,
                 gint64       seconds)
{
  if (seconds < 0)
    return;
  self->retry_after_until = g_get_monotonic_time () +
                            MIN (seconds, EP_RETRY_AFTER_MAX_SECONDS) * G_USEC_PER_SEC;
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
  report_credentials_rejected (self, http_status);
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

/* Applies the outage, backoff, credentials and drop counts of @verdict
 * (ep-scheduler-pipeline.c applies the rest), and clears them. */
void
ep_scheduler_apply_outcome (EpScheduler *self,
                            EpVerdict   *verdict)
{
  if (verdict->token_accepted)
    note_accepted (self, verdict->token);
  if (verdict->dropped != NULL)
    {
      for (guint i = 0; i < verdict->dropped->len; i++)
        ep_monitor_add (self->monitor, EP_DROP_VALIDATION_FAILED,
                        g_ptr_array_index (verdict->dropped, i));
      ep_scheduler_arm_monitoring_timer (self);
    }
  if (verdict->has_retry_after)
    set_retry_after (self, verdict->retry_after_s);
  if (verdict->outage == EP_VERDICT_OUTAGE_FAILED)
    record_failure (self, g_steal_pointer (&verdict->failure));
  else if (verdict->outage == EP_VERDICT_OUTAGE_OVER)
    record_success (self);
  if (verdict->token_rejected != 0)
    note_rejected (self, verdict->token, verdict->token_rejected);
  verdict->outage = EP_VERDICT_OUTAGE_SAME;
  verdict->has_retry_after = FALSE;
  verdict->token_accepted = FALSE;
  verdict->token_rejected = 0;
  g_clear_pointer (&verdict->token, g_free);
  g_clear_pointer (&verdict->dropped, g_ptr_array_unref);
}

/* While the network is metered or power saver is on, scheduled attempts
 * of @kind wait until this monotonic time (0: no wait). */
static gint64
held_until (EpScheduler       *self,
            EpConstrainedKind  kind)
{
  return self->constraints != NULL ? ep_constraints_hold_until (self->constraints, kind) : 0;
}

/* The earliest time a non-forced attempt may start, in monotonic µs
 * (arm_batch_timer() adds the constraints' hold). */
static gint64
next_allowed (EpScheduler *self)
{
  return MAX (self->backoff_until, self->retry_after_until);
}

/* Drains ------------------------------------------------------------------- */

/* Completes the flushes whose events are all settled; with @drain_over,
 * also the others, with the reason the drain stopped. Only the flushes
 * waiting when it is called: their callbacks may flush again (a "Retry"
 * button), and a flush asked for now waits for its own attempt. */
void
ep_scheduler_settle_flushes (EpScheduler *self,
                             gboolean     drain_over)
{
  g_autoptr(GPtrArray) due = NULL;
  g_autofree char *failure = NULL;
  guint64 first, length;
  guint n_aside;
  guint i = 0;

  if (self->flushes->len == 0)
    return;
  first = ep_queue_get_first_seq (self->queue);
  length = ep_queue_get_length (self->queue);
  n_aside = g_queue_get_length (&self->aside);
  failure = g_strdup (self->last_failure);
  due = g_ptr_array_new_with_free_func ((GDestroyNotify) flush_free);
  while (i < self->flushes->len)
    {
      Flush *flush = g_ptr_array_index (self->flushes, i);

      if (!self->stopped && first < flush->target_seq && !drain_over)
        i++;
      else
        g_ptr_array_add (due, g_ptr_array_steal_index (self->flushes, i));
    }
  for (i = 0; i < due->len; i++)
    {
      Flush *flush = g_ptr_array_index (due, i);
      g_autoptr(GTask) task = g_object_ref (flush->task);

      if (self->stopped)
        g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED,
                                 "The producer was closed before the queue was delivered");
      else if (first >= flush->target_seq)
        g_task_return_boolean (task, TRUE);
      else
        {
          g_autofree char *aside = NULL;

          if (n_aside > 0)
            aside = g_strdup_printf ("; %u refused by the consumer on their own %s aside",
                                     n_aside, n_aside == 1 ? "waits" : "wait");
          g_task_return_new_error (task, EP_ERROR, EP_ERROR_DELIVERY,
                                   "%" G_GUINT64_FORMAT " %s still queued: %s%s", length,
                                   length == 1 ? "event is" : "events are",
                                   failure ? failure : "the consumer has not confirmed them yet",
                                   aside ? aside : "");
        }
    }
}

/* Close completes once nothing is in flight any more: the requests are
 * cancelled by stop, and confirmations that still arrive are written. */
void
ep_scheduler_maybe_finish_close (EpScheduler *self)
{
  g_autoptr(GTask) task = NULL;

  if (self->close_task == NULL || !self->stopped || self->in_flight > 0)
    return;
  /* The evidence is on disk before the producer closes the queue. */
  if (ep_scheduler_save_witness_now (self))
    return;
  task = g_steal_pointer (&self->close_task);
  g_task_return_boolean (task, TRUE);
}

static void
finish_close (EpScheduler *self)
{
  ep_scheduler_stop (self);
  ep_scheduler_maybe_finish_close (self);
}

static void
drain_finished (EpScheduler *self)
{
  self->draining = FALSE;
  if (self->close_task != NULL)
    {
      finish_close (self);
      ep_scheduler_settle_flushes (self, TRUE);
      return;
    }
  if (self->stopped)
    {
      ep_scheduler_settle_flushes (self, TRUE);
      return;
    }
  if (self->retry_soon)
    {
      /* New credentials came while this drain failed with the old ones. */
      self->retry_soon = FALSE;
      self->backoff_until = 0;
      arm_batch_timer_full (self, (self->retry_after_until - g_get_monotonic_time ()) / 1000,
                            TRUE);
    }
  else if (self->drain_failed)
    arm_batch_timer (self, MAX ((gint64) self->config.batch_interval_ms,
                                (next_allowed (self) - g_get_monotonic_time ()) / 1000));
  else if (ep_queue_get_length (self->queue) > g_queue_get_length (&self->aside))
    arm_batch_timer (self, self->config.batch_interval_ms);
  else if (!g_queue_is_empty (&self->aside))
    /* Only suspects: the next one's attempt. */
    arm_batch_timer (self, (ep_scheduler_next_aside_due (self) - g_get_monotonic_time () + 999) / 1000);
  /* else: nothing to deliver, no wakeups; ep_scheduler_queue_grew() arms it.
   * Flushes are settled last, with the state consistent: their callbacks
   * may flush or close again. */
  ep_scheduler_settle_flushes (self, TRUE);
}

void
ep_scheduler_maybe_drain_finished (EpScheduler *self)
{
  if (self->draining && self->in_flight == 0 && g_queue_is_empty (&self->split_parts))
    drain_finished (self);
}

static void
start_drain (EpScheduler *self)
{
  if (self->stopped || self->draining)
    return;
  destroy_source (&self->batch_timer);
  self->draining = TRUE;
  self->drain_failed = FALSE;
  self->held_for_network = FALSE;
  if (self->constraints != NULL)
    ep_constraints_note_attempt (self->constraints, EP_CONSTRAINED_DELIVERY, g_get_monotonic_time ());
  ep_scheduler_fill_pipeline (self);
}

static gboolean
batch_timer_cb (gpointer user_data)
{
  EpScheduler *self = user_data;
  gint64 now = g_get_monotonic_time ();

  gboolean prompt = self->batch_timer_prompt;
  gint64 held = prompt ? 0 : held_until (self, EP_CONSTRAINED_DELIVERY);

  g_clear_pointer (&self->batch_timer, g_source_unref);
  if (!prompt && (!self->network_usable || self->reach_pending))
    {
      /* Offline: no scheduled attempt; the network's return brings one
       * (network_came_back()). A flush still tries. */
      g_debug ("No network (GNetworkMonitor): the scheduled delivery waits for it");
      self->held_for_network = TRUE;
      return G_SOURCE_REMOVE;
    }
  if (MAX (next_allowed (self), held) > now)
    arm_batch_timer_full (self, (next_allowed (self) - now) / 1000, prompt);
  else
    start_drain (self);
  return G_SOURCE_REMOVE;
}

/* Scheduled attempts also wait for the constraints; not flush, not close,
 * and not new credentials after a refusal (@prompt): an application may
 * hold playback until they work. */
static void
arm_batch_timer_full (EpScheduler *self,
                      gint64       delay_ms,
                      gboolean     prompt)
{
  gint64 now = g_get_monotonic_time ();
  gint64 held = prompt ? 0 : held_until (self, EP_CONSTRAINED_DELIVERY);

  destroy_source (&self->batch_timer);
  if (self->stopped)
    return;
  self->batch_timer_prompt = prompt;
  self->batch_due_us = now + MAX (delay_ms, 0) * 1000;
  if (held > self->batch_due_us)
    g_debug ("Next delivery in %" G_GINT64_FORMAT " s, not %" G_GINT64_FORMAT " ms: %s",
             (held - now) / G_USEC_PER_SEC, MAX (delay_ms, 0),
             ep_constraints_describe (self->constraints));
  self->batch_timer = ep_timer_source_new ((MAX (held, self->batch_due_us) - now) / 1000,
                                           "[ep-glib] batch timer");
  g_source_set_callback (self->batch_timer, batch_timer_cb, self, NULL);
  g_source_attach (self->batch_timer, self->context);
}

static void
arm_batch_timer (EpScheduler *self,
                 gint64       delay_ms)
{
  arm_batch_timer_full (self, delay_ms, FALSE);
}

/* Monitoring --------------------------------------------------------------- */

/* Room for the payload of a monitoring event: EP_MAX_EVENT_SIZE less
 * what the event takes besides (id, name, headers, stamped members),
 * measured on one built without counters. FALSE if even that cannot be
 * built (the submitter said why). */
static gboolean
monitoring_payload_room (EpScheduler *self,
                         gsize       *room)
{
  g_autofree char *empty = ep_monitor_empty_snapshot_json ();
  g_autoptr(GBytes) record = self->callbacks.build_monitoring_event (self->callbacks_data, empty);
  g_auto(EpEvent) event = { 0 };

  if (record == NULL || !ep_event_parse (record, &event, NULL))
    return FALSE;
  g_assert (event.logical_size <= EP_MAX_EVENT_SIZE);
  *room = EP_MAX_EVENT_SIZE - (event.logical_size - strlen (empty));
  return TRUE;
}

/* The monitoring event goes out even while deliveries back off (it never
 * changes the outage state and comes only every monitoring-interval), but
 * never before a Retry-After time. It reports what fits in one event; the
 * other counts wait for the next ones (ep_monitor_snapshot_report()). */
static void
send_monitoring_event (EpScheduler *self)
{
  g_autoptr(EpBatch) batch = NULL;
  g_autoptr(GBytes) record = NULL;
  g_autofree char *payload = NULL;
  g_autoptr(GError) error = NULL;
  EpEvent event;
  gsize room;

  if (self->monitoring_in_flight || ep_monitor_is_empty (self->monitor) ||
      self->callbacks.build_monitoring_event == NULL ||
      self->retry_after_until > g_get_monotonic_time () ||
      !monitoring_payload_room (self, &room))
    return;

  batch = ep_batch_new ();
  batch->monitoring = TRUE;
  batch->snapshot = ep_monitor_snapshot_report (self->monitor, room);
  if (batch->snapshot == NULL)
    {
      g_message ("No dropped-event counter fits in a %s event (its headers leave %zu bytes "
                 "for the payload); the counts are kept", EP_MONITORING_EVENT_NAME, room);
      return;
    }
  payload = ep_monitor_snapshot_to_json_full (batch->snapshot,
                                              ep_monitor_get_reports_expired (self->monitor));
  record = self->callbacks.build_monitoring_event (self->callbacks_data, payload);
  if (record == NULL || !ep_event_parse (record, &event, &error))
    return;
  g_array_append_val (batch->events, event);
  batch->compress = g_atomic_int_get (&self->compress);
  ep_batch_encode (batch);
  self->monitoring_in_flight = TRUE;
  if (self->constraints != NULL)
    ep_constraints_note_attempt (self->constraints, EP_CONSTRAINED_MONITORING, g_get_monotonic_time ());
  ep_scheduler_post_batch (self, g_steal_pointer (&batch));
}

/* The monitoring event's reply: its counts leave the monitor once
 * confirmed. */
void
ep_scheduler_monitoring_answered (EpScheduler  *self,
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
    set_retry_after (self, reply->retry_after_s);
  /* Counts that were not confirmed, or came meanwhile. */
  ep_scheduler_arm_monitoring_timer (self);
}

static gboolean
monitoring_timer_cb (gpointer user_data)
{
  EpScheduler *self = user_data;
  gint64 held = held_until (self, EP_CONSTRAINED_MONITORING);

  g_clear_pointer (&self->monitoring_timer, g_source_unref);
  if (held > g_get_monotonic_time ())
    {
      arm_monitoring_timer_at (self, held);
      return G_SOURCE_REMOVE;
    }
  /* Offline: the counts wait for the next interval. */
  if (self->network_usable && !self->reach_pending)
    send_monitoring_event (self);
  /* Not sent (Retry-After): again next interval. Sent: its reply re-arms. */
  ep_scheduler_arm_monitoring_timer (self);
  return G_SOURCE_REMOVE;
}

/* An idle producer must not wake up: the timer runs only while a counter
 * is non-zero, and not while the monitoring event is in flight. */
static void
arm_monitoring_timer_at (EpScheduler *self,
                         gint64       due_us)
{
  gint64 now = g_get_monotonic_time ();

  if (self->monitoring_timer != NULL || self->stopped || self->close_task != NULL ||
      self->monitoring_in_flight || ep_monitor_is_empty (self->monitor))
    return;
  self->monitoring_due_us = due_us;
  due_us = MAX (due_us, held_until (self, EP_CONSTRAINED_MONITORING));
  self->monitoring_timer = ep_timer_source_new ((due_us - now) / 1000, "[ep-glib] monitoring timer");
  g_source_set_callback (self->monitoring_timer, monitoring_timer_cb, self, NULL);
  g_source_attach (self->monitoring_timer, self->context);
}

void
ep_scheduler_arm_monitoring_timer (EpScheduler *self)
{
  arm_monitoring_timer_at (self, g_get_monotonic_time () +
                                 (gint64) MAX (self->config.monitoring_interval_ms, 1) * 1000);
}

/* A metered network or power saver came or went: the armed timers keep
 * their due times, held back or no longer. */
static void
on_constraints_changed (gpointer user_data,
                        gboolean active)
{
  EpScheduler *self = user_data;

  if (self->stopped)
    return;
  if (self->batch_timer != NULL)
    arm_batch_timer_full (self, (self->batch_due_us - g_get_monotonic_time ()) / 1000,
                          self->batch_timer_prompt);
  if (self->monitoring_timer != NULL)
    {
      destroy_source (&self->monitoring_timer);
      arm_monitoring_timer_at (self, self->monitoring_due_us);
    }
}

/* Network monitor ---------------------------------------------------------- */

/* The network is usable again: events held for it, or a failing
 * delivery, get an attempt soon. */
static void
network_came_back (EpScheduler *self)
{
  gboolean held = self->held_for_network;

  self->held_for_network = FALSE;
  if (self->draining || self->stopped || self->close_task != NULL ||
      (!self->delivery_failing && !held))
    return;
  g_debug ("The network came back: trying again soon");
  self->backoff_until = 0;
  arm_batch_timer (self, MAX (NETWORK_BACK_DELAY_MS,
                              (self->retry_after_until - g_get_monotonic_time ()) / 1000));
}

/* Main context: whether the consumer can be reached changed. */
static void
set_network_usable (EpScheduler *self,
                    gboolean     usable)
{
  if (self->stopped || usable == self->network_usable)
    return;
  self->network_usable = usable;
  g_debug ("GNetworkMonitor: the consumer is %s", usable ? "reachable" : "unreachable (offline)");
  if (self->callbacks.network_changed != NULL)
    self->callbacks.network_changed (self->callbacks_data, usable);
  if (usable)
    network_came_back (self);
}

typedef struct {
  EpScheduler *self;    /* owned */
  guint        serial;  /* the check it answers */
} ReachCheck;

static void
reach_checked (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  ReachCheck *check = user_data;
  g_autoptr(EpScheduler) self = check->self;
  g_autoptr(GError) error = NULL;
  gboolean reachable = g_network_monitor_can_reach_finish (G_NETWORK_MONITOR (source), result, &error);

  if (check->serial == self->reach_serial)
    {
      self->reach_pending = FALSE;
      set_network_usable (self, reachable || g_atomic_int_get (&self->network_available));
      /* Unchanged (a check at start, say): what waited for it goes now. */
      if (self->network_usable && self->held_for_network)
        network_came_back (self);
    }
  g_free (check);
}

/* Main context: the monitor says there is no network. That is its default
 * route; a consumer on loopback or on the local network may still be
 * reachable: GNetworkMonitor:can_reach decides. */
static void
check_network (EpScheduler *self)
{
  g_autoptr(GSocketConnectable) consumer = NULL;
  ReachCheck *check;

  self->reach_serial++;
  if (self->stopped || self->network_monitor == NULL)
    return;
  if (g_atomic_int_get (&self->network_available))
    {
      self->reach_pending = FALSE;
      set_network_usable (self, TRUE);
      return;
    }
  consumer = g_network_address_parse_uri (self->config.consumer_uri, 80, NULL);
  if (consumer == NULL)
    {
      set_network_usable (self, FALSE);
      return;
    }
  check = g_new0 (ReachCheck, 1);
  check->self = g_object_ref (self);
  check->serial = self->reach_serial;
  self->reach_pending = TRUE;
  g_main_context_push_thread_default (self->context);
  g_network_monitor_can_reach_async (self->network_monitor, consumer, self->cancellable,
                                     reach_checked, check);
  g_main_context_pop_thread_default (self->context);
}

static gboolean
network_changed_on_context (gpointer user_data)
{
  check_network (user_data);
  return G_SOURCE_REMOVE;
}

/* Emitted on the context of whoever made the monitor first, for every
 * route or address change: only a change of availability counts, and the
 * work is forwarded to the scheduler's own context. */
static void
on_network_changed (GNetworkMonitor *monitor,
                    gboolean         available,
                    GWeakRef        *weak)
{
  g_autoptr(EpScheduler) self = g_weak_ref_get (weak);
  gboolean was_available;

  if (self == NULL)
    return;
  was_available = g_atomic_int_exchange (&self->network_available, !!available);
  if (!!available != was_available)
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, network_changed_on_context,
                                g_object_ref (self), g_object_unref);
}

static void
weak_ref_free (gpointer  data,
               GClosure *closure)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Public (private) API ----------------------------------------------------- */

/* @uri as messages show it: a password or a key in the query stays out of
 * the logs. */
static char *
shown_uri (const char *uri)
{
  g_autoptr(GUri) parsed = g_uri_parse (uri, G_URI_FLAGS_NONE, NULL);

  if (parsed == NULL)
    return g_strdup (uri);
  return g_uri_to_string_partial (parsed, G_URI_HIDE_USERINFO | G_URI_HIDE_QUERY |
                                          G_URI_HIDE_FRAGMENT);
}

EpScheduler *
ep_scheduler_new (EpQueue                    *queue,
                  EpMonitor                  *monitor,
                  EpTransport                *transport,
                  const EpSchedulerConfig    *config,
                  const EpSchedulerCallbacks *callbacks,
                  gpointer                    user_data)
{
  EpScheduler *self = g_object_new (EP_TYPE_SCHEDULER, NULL);

  self->queue = g_object_ref (queue);
  self->monitor = g_object_ref (monitor);
  self->transport = g_object_ref (transport);
  self->context = g_main_context_ref_thread_default ();
  self->config = *config;
  self->config.consumer_uri = g_strdup (config->consumer_uri);
  self->config.public_consumer_uri = g_strdup (config->public_consumer_uri);
  self->shown_uri[0] = shown_uri (config->public_consumer_uri);
  self->shown_uri[1] = shown_uri (config->consumer_uri);
  self->config.max_in_flight = MAX (config->max_in_flight, 1);
  self->delivery_failing = config->delivery_failing;
  self->clock = ep_clock_new (config->clock_offset_ms);
  ep_scheduler_load_witness (self);
  if (callbacks != NULL)
    self->callbacks = *callbacks;
  self->callbacks_data = user_data;
  return self;
}

void
ep_scheduler_start (EpScheduler *self)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  self->constraints = ep_constraints_new (self->config.constrained_interval_ms,
                                          on_constraints_changed, self);

  self->network_monitor = g_network_monitor_get_default ();
  self->network_available = g_network_monitor_get_network_available (self->network_monitor);
  /* Usable until the monitor proves otherwise (check_network()). */
  self->network_usable = TRUE;
  {
    GWeakRef *weak = g_new0 (GWeakRef, 1);

    g_weak_ref_init (weak, self);
    self->network_changed_id = g_signal_connect_data (self->network_monitor, "network-changed",
                                                      G_CALLBACK (on_network_changed), weak,
                                                      weak_ref_free, 0);
  }
  if (!self->network_available)
    check_network (self);

  /* A restored outage with events queued is tried at once: the outage
   * shown must not outlive its cause by a batch-interval. */
  if (ep_queue_get_length (self->queue) > 0 && self->delivery_failing)
    {
      g_debug ("The last run ended in a delivery outage with events queued: trying now");
      arm_batch_timer (self, 0);
    }
  else if (ep_queue_get_length (self->queue) > 0)
    arm_batch_timer (self, self->config.batch_interval_ms);

  ep_scheduler_arm_monitoring_timer (self);
}

void
ep_scheduler_stop (EpScheduler *self)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  if (self->stopped)
    return;
  self->stopped = TRUE;
  destroy_source (&self->batch_timer);
  destroy_source (&self->monitoring_timer);
  destroy_source (&self->close_timer);
  if (self->constraints != NULL)
    ep_constraints_stop (self->constraints);
  if (self->network_monitor != NULL)
    g_clear_signal_handler (&self->network_changed_id, self->network_monitor);
  self->network_monitor = NULL;
  g_cancellable_cancel (self->cancellable);
  /* Stopped: the held events are kept, none is dropped (no ids). */
  ep_scheduler_abandon_split_parts (self, NULL);
  /* Suspects go back to their places in the queue (by the worker); the
   * ledger remembers them for the next run. */
  while (!g_queue_is_empty (&self->aside))
    {
      ep_scheduler_post_aside (self, g_queue_pop_head (&self->aside));
    }
  if (self->witness_save_timer != NULL)
    {
      g_source_destroy (self->witness_save_timer);
      g_clear_pointer (&self->witness_save_timer, g_source_unref);
    }
  (void) ep_scheduler_save_witness_now (self);
  ep_scheduler_settle_flushes (self, TRUE);
}

void
ep_scheduler_disconnect (EpScheduler *self)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  ep_scheduler_stop (self);
  memset (&self->callbacks, 0, sizeof self->callbacks);
  self->callbacks_data = NULL;
}

/* After a refusal, new credentials are tried at once, whatever the
 * backoff (an application may hold playback until they work), but never
 * before a Retry-After time. */
static gboolean
credentials_replaced (gpointer user_data)
{
  EpScheduler *self = user_data;

  if (!self->auth_rejected || self->stopped || self->close_task != NULL)
    return G_SOURCE_REMOVE;
  g_debug ("New credentials after a refusal: trying them now");
  self->auth_rejected = FALSE;
  self->backoff_until = 0;
  if (self->draining)
    self->retry_soon = TRUE;
  else
    arm_batch_timer_full (self, (self->retry_after_until - g_get_monotonic_time ()) / 1000,
                          TRUE);
  return G_SOURCE_REMOVE;
}

void
ep_scheduler_set_credentials (EpScheduler   *self,
                              EpCredentials *credentials)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  g_mutex_lock (&self->lock);
  g_free (self->token);
  g_free (self->client_id);
  self->token = credentials ? g_strdup (ep_credentials_get_token (credentials)) : NULL;
  self->client_id = credentials ? g_strdup (ep_credentials_get_client_id (credentials)) : NULL;
  g_mutex_unlock (&self->lock);
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, credentials_replaced,
                              g_object_ref (self), g_object_unref);
}

static gboolean
cancel_flushes (gpointer user_data)
{
  EpScheduler *self = user_data;
  guint i = 0;

  while (i < self->flushes->len)
    {
      Flush *flush = g_ptr_array_index (self->flushes, i);
      g_autoptr(GTask) task = NULL;

      if (flush->cancellable == NULL || !g_cancellable_is_cancelled (flush->cancellable))
        {
          i++;
          continue;
        }
      task = g_object_ref (flush->task);
      g_ptr_array_remove_index (self->flushes, i);
      g_task_return_error_if_cancelled (task);
    }
  return G_SOURCE_REMOVE;
}

/* Any thread: a flush's cancellable was cancelled. The flush ends at once,
 * on the scheduler's context; delivery itself goes on. */
static void
on_flush_cancelled (GCancellable *cancellable,
                    EpScheduler  *self)
{
  g_autoptr(GSource) idle = g_idle_source_new ();

  g_source_set_callback (idle, cancel_flushes, g_object_ref (self), g_object_unref);
  g_source_attach (idle, self->context);
}

static void
add_flush (EpScheduler  *self,
           GTask        *task,
           GCancellable *cancellable)
{
  Flush *flush = g_new0 (Flush, 1);

  flush->task = task;
  /* Events appended before this call have smaller seqs. */
  flush->target_seq = ep_queue_get_next_seq (self->queue);
  if (cancellable != NULL)
    {
      flush->cancellable = g_object_ref (cancellable);
      /* Runs at once if already cancelled; holds the scheduler meanwhile. */
      flush->cancelled_id = g_cancellable_connect (cancellable, G_CALLBACK (on_flush_cancelled),
                                                   g_object_ref (self), g_object_unref);
    }
  g_ptr_array_add (self->flushes, flush);
}

void
ep_scheduler_set_max_in_flight (EpScheduler *self,
                                guint        max_in_flight)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  self->config.max_in_flight = MAX (max_in_flight, 1);
  if (self->draining)
    ep_scheduler_fill_pipeline (self);
}

void
ep_scheduler_set_compress (EpScheduler *self,
                           gboolean     compress)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  g_atomic_int_set (&self->compress, !!compress);
}

void
ep_scheduler_counters_changed (EpScheduler *self)
{
  g_return_if_fail (EP_IS_SCHEDULER (self));

  ep_scheduler_arm_monitoring_timer (self);
}

void
ep_scheduler_queue_grew (EpScheduler *self)
{
  gint64 now = g_get_monotonic_time ();
  gint64 delay_ms;

  g_return_if_fail (EP_IS_SCHEDULER (self));

  if (self->stopped || self->draining || self->held_for_network)
    return;
  delay_ms = MAX ((gint64) self->config.batch_interval_ms, (next_allowed (self) - now) / 1000);
  /* A timer armed for a suspect's later attempt is brought forward. */
  if (self->batch_timer != NULL && self->batch_due_us <= now + delay_ms * 1000)
    return;
  arm_batch_timer (self, delay_ms);
}

void
ep_scheduler_flush_async (EpScheduler         *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  gint64 now = g_get_monotonic_time ();

  g_return_if_fail (EP_IS_SCHEDULER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_scheduler_flush_async);
  g_task_set_check_cancellable (task, TRUE);

  if (self->stopped)
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED, "The producer is closed");
      return;
    }
  if (self->retry_after_until > now)
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_DELIVERY,
                               "The consumer asked to wait %" G_GINT64_FORMAT
                               " more seconds (Retry-After); nothing was sent",
                               (self->retry_after_until - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
      return;
    }

  add_flush (self, g_steal_pointer (&task), cancellable);
  self->backoff_until = 0;
  ep_scheduler_make_aside_due (self);
  if (self->draining)
    {
      /* Join the drain under way; lift a failure so it goes on now. */
      self->drain_failed = FALSE;
      ep_scheduler_fill_pipeline (self);
    }
  else
    start_drain (self);
}

gboolean
ep_scheduler_flush_finish (EpScheduler   *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_scheduler_flush_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
close_timeout_cb (gpointer user_data)
{
  EpScheduler *self = user_data;

  g_clear_pointer (&self->close_timer, g_source_unref);
  g_debug ("Last delivery attempt timed out; closing");
  if (self->close_task != NULL)
    finish_close (self);
  return G_SOURCE_REMOVE;
}

void
ep_scheduler_close_async (EpScheduler         *self,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EP_IS_SCHEDULER (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_scheduler_close_async);

  if (self->stopped || self->close_task != NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  self->close_task = g_steal_pointer (&task);
  destroy_source (&self->monitoring_timer);

  if (self->retry_after_until > g_get_monotonic_time () ||
      (!self->draining && ep_queue_get_pending (self->queue) == 0))
    {
      finish_close (self);
      return;
    }

  self->close_timer = ep_timer_source_new (MAX (self->config.request_timeout_ms, 1),
                                           "[ep-glib] close timer");
  g_source_set_callback (self->close_timer, close_timeout_cb, self, NULL);
  g_source_attach (self->close_timer, self->context);
  self->backoff_until = 0;
  if (!self->draining)
    start_drain (self);
}

gboolean
ep_scheduler_close_finish (EpScheduler   *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_scheduler_close_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}
