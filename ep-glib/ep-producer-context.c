/* ep-producer-context.c: the producer's state on its main context
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The parts report from any thread (a send stores on the caller's thread,
 * the queue notices a deleted directory on its own); the state the
 * producer announces lives on its main context. This file hands work over
 * to that context, coalesced (a burst of sends costs one dispatch), and
 * keeps that state there: the queue properties, the consent drops the
 * queue counted, the outage (storage or delivery) and the monitor's
 * counters. The notifications and the signal themselves are emitted by
 * ep-producer.c.
 */
#include "config.h"

#include "ep-event-private.h"
#include "ep-producer-internal.h"

/* Work queued from any thread onto the producer's context. The source holds
 * only a weak reference: a pending update never keeps a dropped producer
 * (and its queue lock) alive. */
typedef struct {
  GWeakRef   producer;
  void     (*func) (EpProducer *self);
} MainCall;

static void
main_call_free (gpointer data)
{
  MainCall *call = data;

  g_weak_ref_clear (&call->producer);
  g_free (call);
}

static gboolean
main_call_dispatch (gpointer data)
{
  MainCall *call = data;
  g_autoptr(EpProducer) self = g_weak_ref_get (&call->producer);

  if (self != NULL)
    call->func (self);
  return G_SOURCE_REMOVE;
}

void
ep_producer_call_on_main (EpProducer *self,
                          guint       delay_ms,
                          void      (*func) (EpProducer *self))
{
  g_autoptr(GSource) source = delay_ms ? g_timeout_source_new (delay_ms) : g_idle_source_new ();
  MainCall *call = g_new0 (MainCall, 1);

  g_weak_ref_init (&call->producer, self);
  call->func = func;
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, main_call_dispatch, call, main_call_free);
  g_source_attach (source, self->context);
}

/* FALSE only when another thread owns the context: runs it, or pushed it as
 * its thread-default. While no thread does (an application calling before
 * its loop runs), any thread passes. GLib 2.74 cannot name the owner:
 * acquiring shows whether there is one, as g_main_context_invoke() does. */
gboolean
ep_producer_in_own_context (EpProducer *self)
{
  if (g_main_context_is_owner (self->context))
    return TRUE;
  if (!g_main_context_acquire (self->context))
    return FALSE;
  g_main_context_release (self->context);
  return TRUE;
}

static void
counters_changed_on_main (EpProducer *self)
{
  g_atomic_int_set (&self->counters_pending, 0);
  /* A count may have started: the monitoring timer runs only then. */
  if (self->scheduler != NULL)
    ep_scheduler_counters_changed (self->scheduler);
}

/* Any thread: a counter changed (the saved state saves it on its own). */
void
ep_producer_counters_changed (EpProducer *self)
{
  if (g_atomic_int_compare_and_exchange (&self->counters_pending, 0, 1))
    ep_producer_call_on_main (self, 0, counters_changed_on_main);
}

/* Main context: what the application is shown. A storage outage comes
 * first (new events are lost); then no network: events wait, and that is
 * not an outage (nothing is wrong with delivery, and the application shows
 * its own offline state); then a delivery outage, with the reason and the
 * message of the last failed attempt. */
void
ep_producer_compute_outage (EpProducer      *self,
                            gboolean         storage,
                            gboolean        *outage,
                            EpOutageReason  *reason,
                            char           **last_error)
{
  *outage = storage || self->delivery_outage;
  if (storage)
    {
      char *error = ep_submitter_dup_storage_error (self->submitter);

      *reason = EP_OUTAGE_REASON_STORAGE;
      *last_error = error ? error : g_strdup_printf ("Events could not be stored in %s",
                                                     self->queue_dir);
    }
  else if (!self->network_available)
    {
      *reason = EP_OUTAGE_REASON_OFFLINE;
      *last_error = g_strdup ("No network: events are kept and delivered when it comes back");
    }
  else if (self->delivery_outage)
    {
      *reason = self->delivery_reason;
      *last_error = g_strdup (self->delivery_error ? self->delivery_error : "Delivery failed");
    }
  else
    {
      *reason = EP_OUTAGE_REASON_NONE;
      *last_error = NULL;
    }
}

/* Main context. The queue knows whether its latest append failed, in the
 * order appends happened, and the scheduler reports delivery changes as
 * they happen. A storage outage that began and ended between two updates
 * (sends on other threads) is still announced, TRUE then FALSE: each
 * change is told once. The reason and the message are notified before the
 * outage, so that a handler of outage-changed reads the new ones. */
void
ep_producer_update_outage (EpProducer *self)
{
  guint64 failures;
  gboolean storage = ep_queue_get_storing_failing (self->queue, &failures);
  gboolean began = failures != self->storage_failures_seen;
  gboolean outage;
  EpOutageReason reason;
  g_autofree char *last_error = NULL;

  self->storage_failures_seen = failures;
  ep_producer_state_set_outage (self->state, storage, self->delivery_outage);
  ep_producer_compute_outage (self, storage, &outage, &reason, &last_error);
  ep_producer_announce_outage_reason (self, reason, last_error);

  if (!self->outage && began && !outage)
    {
      ep_producer_announce_outage (self, TRUE);
      ep_producer_announce_outage (self, FALSE);
    }
  else if (outage != self->outage)
    ep_producer_announce_outage (self, outage);
}

/* Counts events the queue deleted on its own under @reason: @drops
 * (name -> count, nullable) is consumed; @why ends the debug line. */
static void
count_queue_drops (EpProducer   *self,
                   GHashTable   *drops,
                   EpDropReason  reason,
                   const char   *why)
{
  GHashTableIter iter;
  gpointer name, count;
  gboolean save = FALSE;

  if (drops == NULL)
    return;
  g_hash_table_iter_init (&iter, drops);
  while (g_hash_table_iter_next (&iter, &name, &count))
    {
      g_autofree char *shown = ep_event_dup_shown_text (name, EP_SHOWN_NAME_MAX_BYTES);

      g_debug ("%u queued event(s) '%s' %s", GPOINTER_TO_UINT (count), shown, why);
      for (guint i = 0; i < GPOINTER_TO_UINT (count); i++)
        save |= ep_monitor_add (self->monitor, reason, name);
    }
  if (save)
    ep_producer_counters_changed (self);
  g_hash_table_unref (drops);
}

/* Counts events the queue deleted because their consent category was
 * blocked: @drops (name -> count, nullable) is consumed. */
void
ep_producer_count_consent_drops (EpProducer *self,
                                 GHashTable *drops)
{
  count_queue_drops (self, drops, EP_DROP_CONSENT_FILTERED,
                     "dropped (consentFiltered): their consent category was blocked "
                     "before they were delivered");
}

/* Counts events the queue deleted as older than max-event-age: @drops
 * (name -> count, nullable) is consumed. */
void
ep_producer_count_expired (EpProducer *self,
                           GHashTable *drops)
{
  count_queue_drops (self, drops, EP_DROP_EXPIRED,
                     "deleted unsent (expiredEvents): older than max-event-age");
}

static void
update_on_main (EpProducer *self)
{
  g_atomic_int_set (&self->update_pending, 0);
  if (self->queue == NULL)
    return;
  ep_producer_count_consent_drops (self, ep_queue_steal_consent_drops (self->queue));
  ep_producer_count_expired (self, ep_queue_steal_expired (self->queue));
  for (EpEventOutcome outcome = 0; outcome < EP_QUEUE_N_OUTCOMES; outcome++)
    {
      g_autoptr(GPtrArray) ids = ep_queue_steal_settled_ids (self->queue, outcome);

      ep_producer_emit_events_settled (self, ids, outcome);
    }
  ep_producer_update_queue_properties (self);
  ep_producer_update_outage (self);
  if (self->scheduler != NULL && self->notified_length > 0)
    ep_scheduler_queue_grew (self->scheduler);
}

/* Any thread: the queue or the storage state changed. Coalesced: one idle
 * at a time, so a burst of sends costs one main-loop dispatch. */
void
ep_producer_schedule_update (EpProducer *self)
{
  if (g_atomic_int_compare_and_exchange (&self->update_pending, 0, 1))
    ep_producer_call_on_main (self, 0, update_on_main);
}
