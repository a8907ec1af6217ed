/* ep-producer-close.c: flush and close, the producer's two async operations
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each wraps the scheduler's operation in a GTask of the producer: flush
 * delivers what is queued now; close makes one last delivery attempt,
 * then saves the counters and syncs and releases the queue on a worker
 * thread. Public API: scanned for the GIR with ep-producer.c.
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
  ep_monitor_close (self->monitor);
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
