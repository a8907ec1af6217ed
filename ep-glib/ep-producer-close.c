/* ep-producer-close.c: flush, close and purge, the producer's async operations
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each wraps the scheduler's operation in a GTask of the producer: flush
 * delivers what is queued now; close makes one last delivery attempt,
 * then saves the counters and syncs and releases the queue on a worker
 * thread; purge deletes every queued event on a thread of its own
 * (ep-producer-consent.c keeps its record). Public API: scanned for the
 * GIR with ep-producer.c.
 */
#include "config.h"

#include "ep-producer-internal.h"

static void
flush_done (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (ep_scheduler_flush_finish (EP_SCHEDULER (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/**
 * ep_producer_flush_async:
 * @self: an #EpProducer
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the flush is over
 * @user_data: data for @callback
 *
 * Delivers everything queued now, skipping any backoff delay (but never
 * before a time the consumer asked for with `Retry-After`). The flush is
 * over when every event queued before the call was delivered (events sent
 * meanwhile do not make it wait longer), or when a batch failed.
 *
 * Call it from the thread of the producer's main context. Cancelling
 * @cancellable ends the wait at once; delivery goes on as usual. A pending
 * flush holds a reference on the producer until it completes.
 */
void
ep_producer_flush_async (EpProducer          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (ep_producer_in_own_context (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_producer_flush_async);

  if (!ep_producer_check_initialized (self, G_STRFUNC))
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED, "The producer is not initialized");
      return;
    }
  if (self->scheduler == NULL || self->closed)
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED, "The producer is closed");
      return;
    }
  ep_scheduler_flush_async (self->scheduler, cancellable, flush_done, g_steal_pointer (&task));
}

/**
 * ep_producer_flush_finish:
 * @self: an #EpProducer
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes an operation started with ep_producer_flush_async().
 *
 * Returns: %TRUE when every event queued before the flush was delivered;
 *   %FALSE with @error set (%EP_ERROR_DELIVERY saying why, %EP_ERROR_CLOSED,
 *   or %G_IO_ERROR_CANCELLED) when some are still queued
 */
gboolean
ep_producer_flush_finish (EpProducer    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_producer_flush_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
close_queue_in_thread (GTask        *task,
                       gpointer      source_object,
                       gpointer      task_data,
                       GCancellable *cancellable)
{
  EpProducer *self = source_object;

  /* Saved while the directory is still ours; after that, nothing of this
   * producer writes there. */
  ep_producer_state_close (self->state);
  ep_submitter_close (self->submitter);
  ep_queue_close (self->queue);
  g_task_return_boolean (task, TRUE);
}

static void
close_delivered (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!ep_scheduler_close_finish (EP_SCHEDULER (source), result, &error))
    g_debug ("Last delivery attempt before close: %s", error->message);

  g_task_run_in_thread (task, close_queue_in_thread);
}

/**
 * ep_producer_close_async:
 * @self: an #EpProducer
 * @cancellable: (nullable): a #GCancellable
 * @callback: (scope async): called when the producer is closed
 * @user_data: data for @callback
 *
 * Makes one last delivery attempt, bounded by
 * [property@Ep.Producer:request-timeout], then stops the timers, syncs the
 * queue to stable storage and releases its directory. Undelivered events
 * stay queued for the next producer. Later sends fail with
 * %EP_SEND_RESULT_STORING_FAILED.
 *
 * Call it from the thread of the producer's main context.
 */
void
ep_producer_close_async (EpProducer          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (ep_producer_in_own_context (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_producer_close_async);

  if (self->scheduler == NULL || self->closed)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  self->closed = TRUE;
  ep_scheduler_close_async (self->scheduler, cancellable, close_delivered, g_steal_pointer (&task));
}

/**
 * ep_producer_close_finish:
 * @self: an #EpProducer
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes an operation started with ep_producer_close_async().
 *
 * Returns: %TRUE once the producer is closed
 */
gboolean
ep_producer_close_finish (EpProducer    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_producer_close_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Purge -------------------------------------------------------------------- */

static void
purge_in_thread (GTask        *task,
                 gpointer      source,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  GError *error = NULL;
  guint64 n = ep_producer_consent_purge (EP_PRODUCER (source), &error);

  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, (gssize) MIN (n, (guint64) G_MAXSSIZE));
}

/* Main context: the suspects the purge covers go back to the queue now
 * (also after a failure: what was purged must not wait aside). */
static void
purge_finished (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  EpProducer *self = EP_PRODUCER (source);
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;
  gssize n = g_task_propagate_int (G_TASK (result), &error);

  if (self->scheduler != NULL)
    ep_scheduler_purged (self->scheduler);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_int (task, n);
}

/**
 * ep_producer_purge_async:
 * @self: an #EpProducer
 * @cancellable: (nullable): a #GCancellable (checked before the purge
 *   starts; a purge under way is not interrupted)
 * @callback: (scope async): called when the purge is over
 * @user_data: data for @callback
 *
 * Deletes every queued event, whatever its category (`NECESSARY` too),
 * without sending it: what an application does when the user turns
 * analytics off, logs out or asks for their data to be erased. Events
 * sent after the call are kept.
 *
 * Events in flight when it is called (in a request, or refused and waiting
 * aside) are never sent again once their request ends, whatever the reply:
 * a confirmation that was already on its way still counts them delivered.
 * The purge is durable when it completes: the deletions are synced, and a
 * purge record saved beside the queue (`consent.gvariant`) makes the next
 * start delete them too if the application stops before their requests
 * end. [signal@Ep.Producer::events-settled] reports the purged events as
 * %EP_EVENT_OUTCOME_PURGED. The dropped-event counters are not touched
 * (a purge is not a drop); the monitoring event is not affected.
 *
 * The disk work runs on a thread of its own, never on the main context.
 * Call it from the thread of the producer's main context.
 *
 * Since: 0.2
 */
void
ep_producer_purge_async (EpProducer          *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) work = NULL;

  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (ep_producer_in_own_context (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, ep_producer_purge_async);

  if (!ep_producer_check_initialized (self, G_STRFUNC))
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED, "The producer is not initialized");
      return;
    }
  if (self->read_only || self->closed)
    {
      g_task_return_new_error (task, EP_ERROR, EP_ERROR_CLOSED,
                               self->read_only ? "The producer is read-only"
                                               : "The producer is closed");
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  work = g_task_new (self, NULL, purge_finished, g_steal_pointer (&task));
  g_task_set_source_tag (work, purge_in_thread);
  g_task_run_in_thread (work, purge_in_thread);
}

/**
 * ep_producer_purge_finish:
 * @self: an #EpProducer
 * @result: the result passed to the callback
 * @error: return location for a #GError
 *
 * Finishes an operation started with ep_producer_purge_async().
 *
 * Returns: the number of events deleted (those in flight at the time
 *   included); 0 with @error set (%EP_ERROR_STORAGE when the deletion or
 *   its record could not be made durable, %EP_ERROR_CLOSED) on failure
 *
 * Since: 0.2
 */
guint64
ep_producer_purge_finish (EpProducer    *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  gssize n;

  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);
  g_return_val_if_fail (g_task_is_valid (result, self), 0);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == ep_producer_purge_async, 0);

  n = g_task_propagate_int (G_TASK (result), error);
  return n < 0 ? 0 : (guint64) n;
}
