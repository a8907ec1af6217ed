/* ep-queue-thread.c: the queue's sync thread
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One thread a writable queue, started by ep_queue_open() and joined by
 * ep_queue_close(). Under the queue's mutex, which it drops for anything
 * slow, it does in turn: the storage check (a deleted directory or segment:
 * the queued events are stored again), the zero-fill ahead of the log
 * (sync_on_send), the background fdatasync of dirty segments at most
 * EP_JOURNAL_SYNC_DELAY_US after they became dirty, and reclaiming space
 * (ep-queue-compact.c). It sleeps on the queue's cond otherwise.
 */

#include "config.h"

#include "ep-queue-internal.h"

/* The check is due every EP_QUEUE_STORAGE_CHECK_US while events are queued (they
 * are what a deleted directory loses) or a rescue failed: an idle producer
 * with an empty queue does not wake up. */
static gboolean
storage_check_wanted (EpQueue *self)
{
  return self->n_live > 0 || self->storage_lost;
}

static void
report_change (EpQueue *self)
{
  EpQueueNotifyFunc func = self->notify_func;
  gpointer data = self->notify_data;

  if (func == NULL)
    return;
  g_mutex_unlock (&self->mutex);
  func (data);
  g_mutex_lock (&self->mutex);
}

/* With the maintenance mutex and the mutex held: finds a deleted
 * directory or segment and stores the queued events again. The loss counts
 * as a failed append (a storage outage, over once they are stored again);
 * appends fail until then. */
static void
check_storage_locked (EpQueue *self)
{
  g_autoptr(GError) error = NULL;
  gboolean first = !self->storage_lost;

  if (!self->storage_lost)
    {
      if (!ep_journal_storage_lost (&self->journal))
        return;
      g_message ("Queue %s: the directory or a file in it was deleted; storing the "
                 "%" G_GUINT64_FORMAT " queued event(s) again", self->journal.dir, self->n_live);
      self->storage_lost = TRUE;
      self->storing_failing = TRUE;
      self->append_failures++;
      ep_queue_publish_storage_locked (self);
    }
  if (ep_queue_rescue_locked (self, &error))
    {
      g_message ("Queue %s: the %" G_GUINT64_FORMAT " queued event(s) are stored again",
                 self->journal.dir, self->n_live);
      self->storage_lost = FALSE;
      self->storing_failing = FALSE;
      ep_queue_publish_locked (self);
    }
  else if (first)  /* retried every EP_QUEUE_STORAGE_CHECK_US: said once */
    g_message ("Queue %s: cannot store the queued events again (retrying): %s",
               self->journal.dir, error->message);
  else
    g_debug ("Queue %s: cannot store the queued events again: %s", self->journal.dir, error->message);
}

/* With the mutex held. */
static void
maybe_check_storage (EpQueue *self)
{
  self->storage_check_due = g_get_monotonic_time () + EP_QUEUE_STORAGE_CHECK_US;
  /* lock order: maintenance first; if a reclaim runs, check next time */
  if (!g_mutex_trylock (&self->maintenance_mutex))
    return;
  if (!self->journal.closed)
    {
      gboolean lost_before = self->storage_lost;
      guint64 failures_before = self->append_failures;

      check_storage_locked (self);
      if (self->append_failures != failures_before || self->storage_lost != lost_before)
        {
          g_mutex_unlock (&self->maintenance_mutex);
          report_change (self);
          return;
        }
    }
  g_mutex_unlock (&self->maintenance_mutex);
}

gpointer
ep_queue_sync_thread_main (gpointer data)
{
  EpQueue *self = data;  /* borrowed: close() joins this thread */

  g_mutex_lock (&self->mutex);
  while (!self->stopping)
    {
      if (storage_check_wanted (self) && g_get_monotonic_time () >= self->storage_check_due)
        maybe_check_storage (self);
      else if (self->journal.fill_wanted)
        ep_journal_fill_locked (&self->journal);
      else if (self->journal.dirty_since != 0)
        {
          gint64 due = self->journal.dirty_since + EP_JOURNAL_SYNC_DELAY_US;
          g_autoptr(GError) error = NULL;

          if (g_get_monotonic_time () < due)
            g_cond_wait_until (&self->cond, &self->mutex, due);
          else if (!ep_journal_sync_dirty_locked (&self->journal, &error))
            g_message ("%s", error->message);
        }
      else if ((self->reclaim_wanted || self->compaction_wanted) &&
               g_get_monotonic_time () >= self->reclaim_not_before)
        {
          g_autoptr(GError) error = NULL;
          gboolean force = self->compaction_wanted;
          gboolean ok;

          self->reclaim_wanted = self->compaction_wanted = FALSE;
          g_mutex_unlock (&self->mutex);
          ok = ep_queue_reclaim (self, force, &error);
          g_mutex_lock (&self->mutex);
          if (!ok)
            {
              g_message ("Cannot reclaim queue space (retrying in a minute): %s",
                         error->message);
              self->compaction_wanted |= force;
              self->reclaim_not_before = g_get_monotonic_time () + EP_QUEUE_RECLAIM_RETRY_US;
            }
        }
      else if (storage_check_wanted (self))
        g_cond_wait_until (&self->cond, &self->mutex, self->storage_check_due);
      else
        g_cond_wait (&self->cond, &self->mutex);
    }
  g_mutex_unlock (&self->mutex);
  return NULL;
}
