/* ep-scheduler-work.c: the scheduler's one worker thread and the source that brings its results back
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every piece of queue work (reading a batch, writing what a reply meant,
 * saving the refusal evidence) runs on one worker thread, in the order
 * asked; its callback then runs on the scheduler's context, from one
 * source of the scheduler's own. See ep_scheduler_run_in_worker().
 */
#include "config.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "ep-scheduler-internal.h"

/* Queue work (reading a batch, settling one) ------------------------------- */

typedef struct _EpWork EpWork;
struct _EpWork {
  EpWork         *next;       /* in done_head's list */
  EpScheduler    *self;       /* owned: kept alive until @done has run */
  EpWorkFunc      func;
  EpWorkDone      done;
  gpointer        data;
  GDestroyNotify  free_data;
  gpointer        result;
};

/* The source that runs finished work on the scheduler's context. The
 * worker wakes it through an eventfd of its own, not with
 * g_source_set_ready_time(): that takes the context's lock, which the main
 * thread takes in every iteration, and a worker preempted while holding it
 * (2 vCPUs, other work) kept the main thread blocked outside poll() for
 * milliseconds. Without an eventfd (-1), the ready time it is. */
typedef struct {
  GSource source;
  int     efd;   /* owned: readable while work is waiting */
} WorkDoneSource;

static void
work_done_wake (GSource *source)
{
  WorkDoneSource *done = (WorkDoneSource *) source;

  if (done->efd < 0 || eventfd_write (done->efd, 1) != 0)
    g_source_set_ready_time (source, 0);
}

/* With done_lock held, the list empty. */
static void
work_done_unwake (GSource *source)
{
  WorkDoneSource *done = (WorkDoneSource *) source;
  eventfd_t value;

  if (done->efd >= 0)
    eventfd_read (done->efd, &value);  /* EAGAIN when already 0 */
  g_source_set_ready_time (source, -1);
}

static void
work_done_finalize (GSource *source)
{
  WorkDoneSource *done = (WorkDoneSource *) source;

  if (done->efd >= 0)
    close (done->efd);
}

/* Worker: runs one piece of work, then hands it to work_done. */
static void
run_work (gpointer data,
          gpointer user_data)
{
  EpWork *work = data;
  EpScheduler *self = work->self;
  GMainContext *context;
  GSource *done;
  gboolean was_empty;

  if (self->worker_thread != g_thread_self ())
    {
      if (self->worker_thread != NULL)
        g_atomic_int_inc (&self->worker_switches);
      self->worker_thread = g_thread_self ();
    }
  work->result = work->func (self, work->data);
  /* Once the work is in the list, the main context may run it and drop
   * the last reference to self, destroying the source and maybe the
   * context: hold both for the wakeup, which then does nothing. The lock
   * is held for the list only, never across the wakeup. The source is
   * woken when the list stops being empty: it stays readable until the
   * main context empties the list. */
  done = g_source_ref (self->work_done);
  context = g_main_context_ref (self->context);
  g_mutex_lock (&self->done_lock);
  was_empty = self->done_head == NULL;
  if (self->done_tail != NULL)
    self->done_tail->next = work;
  else
    self->done_head = work;
  self->done_tail = work;
  g_mutex_unlock (&self->done_lock);
  if (was_empty)
    work_done_wake (done);
  g_source_unref (done);
  g_main_context_unref (context);
}

/* Main context: the callback of the oldest finished work. One per
 * dispatch, as a GTask's would be, and the source may recurse: a callback
 * that runs a nested main loop (a flush's callback may) still sees the
 * work finished after its own. */
static gboolean
work_done_dispatch (GSource     *source,
                    GSourceFunc  callback,
                    gpointer     user_data)
{
  EpScheduler *self = user_data;
  EpWork *work;

  /* Not ready once the list is empty (reset with the lock held: work added
   * after it wakes the source again, after adding). */
  g_mutex_lock (&self->done_lock);
  work = self->done_head;
  if (work != NULL)
    {
      self->done_head = work->next;
      if (self->done_head == NULL)
        self->done_tail = NULL;
    }
  if (self->done_head == NULL)
    work_done_unwake (source);
  g_mutex_unlock (&self->done_lock);
  if (work == NULL)
    return G_SOURCE_CONTINUE;

  work->done (work->self, work->data, work->result);
  if (work->free_data != NULL)
    work->free_data (work->data);
  /* The last reference may go here, and with it this source (destroyed by
   * finalize, which is allowed in its own dispatch). */
  g_object_unref (work->self);
  g_free (work);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs work_done_funcs = {
  .dispatch = work_done_dispatch,
  .finalize = work_done_finalize,
};

/* Runs @func on the scheduler's one worker thread, in the order asked (not
 * in GTask's shared pool): the events a batch read allocates are freed by
 * the same thread when it settles, so that their allocator caches do not
 * move between threads (GLib 2.74's GSlice passes them through a shared
 * depot), and reads and settles never contend for the queue's mutex.
 * @done then runs on the scheduler's context, from one source of the
 * scheduler's own rather than a GTask and an idle source per piece of work
 * (both made on the worker and freed here, through GSlice). */
void
ep_scheduler_run_in_worker (EpScheduler    *self,
                            EpWorkFunc      func,
                            EpWorkDone      done,
                            gpointer        data,
                            GDestroyNotify  free_data)
{
  EpWork *work = g_new0 (EpWork, 1);

  if (self->worker == NULL)
    {
      WorkDoneSource *source;

      self->worker = g_thread_pool_new (run_work, NULL, 1, TRUE, NULL);
      self->work_done = g_source_new (&work_done_funcs, sizeof (WorkDoneSource));
      source = (WorkDoneSource *) self->work_done;
      source->efd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
      if (source->efd >= 0)
        g_source_add_unix_fd (self->work_done, source->efd, G_IO_IN);
      g_source_set_name (self->work_done, "[ep-glib] queue work done");
      g_source_set_can_recurse (self->work_done, TRUE);
      g_source_set_callback (self->work_done, NULL, self, NULL);
      g_source_attach (self->work_done, self->context);
    }
  g_assert (self->worker != NULL);
  work->self = g_object_ref (self);
  work->func = func;
  work->done = done;
  work->data = data;
  work->free_data = free_data;
  g_thread_pool_push (self->worker, work, NULL);
}

guint
ep_scheduler_get_worker_switches_for_testing (EpScheduler *self)
{
  return (guint) g_atomic_int_get (&self->worker_switches);
}

guint
ep_scheduler_get_reads_on_settle_for_testing (EpScheduler *self)
{
  return (guint) g_atomic_int_get (&self->reads_on_settle);
}

guint
ep_scheduler_get_freed_elsewhere_for_testing (EpScheduler *self)
{
  return (guint) g_atomic_int_get (&self->freed_elsewhere);
}
