/* ep-handoff.c: work run on a thread, its result handed back to a main context
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-handoff-private.h for why. Like the scheduler's worker
 * (ep-scheduler-work.c), for work that runs on GLib's shared threads (the
 * reply parses of ep-transport.c), with the context woken by
 * g_main_context_wakeup() rather than an eventfd of its own.
 */
#include "config.h"

#include "ep-handoff-private.h"

typedef struct _Work Work;
typedef struct _DoneList DoneList;

struct _Work {
  Work          *next;      /* in the list of finished work */
  DoneList      *list;      /* owned ref */
  EpHandoffFunc  func;
  EpHandoffDone  done;
  gpointer       data;
  gpointer       result;
};

/* The finished work, shared by the source and the threads: it outlives
 * the source while a thread still hands work to it. */
struct _DoneList {
  gint          ref_count;  /* atomic */
  GMainContext *context;    /* owned ref: woken by the threads */
  GMutex        lock;       /* for the list only: never held across anything else */
  Work         *head;
  Work         *tail;
  gint          n_done;     /* atomic: the list's length, read without the lock */
};

/* The source that runs finished work on the context: ready while the list
 * is not empty. */
typedef struct {
  GSource   source;
  DoneList *list;           /* owned ref */
} DoneSource;

struct _EpHandoff {
  GSource      *source;     /* owned, attached */
  DoneList     *list;       /* unowned: the source's */
  GThreadPool  *pool;       /* owned */
};

static EpHandoffHook test_hook;
static gpointer      test_hook_data;
G_LOCK_DEFINE_STATIC (test_hook);

static void
call_test_hook (gboolean handed_back)
{
  EpHandoffHook hook;
  gpointer data;

  G_LOCK (test_hook);
  hook = test_hook;
  data = test_hook_data;
  G_UNLOCK (test_hook);
  if (hook != NULL)
    hook (handed_back, data);
}

void
ep_handoff_set_hook_for_testing (EpHandoffHook hook,
                                 gpointer      data)
{
  G_LOCK (test_hook);
  test_hook = hook;
  test_hook_data = data;
  G_UNLOCK (test_hook);
}

static DoneList *
done_list_ref (DoneList *list)
{
  g_atomic_int_inc (&list->ref_count);
  return list;
}

/* On whichever thread lets go last: the context's thread, or a pool's
 * thread after its wakeup. */
static void
done_list_unref (DoneList *list)
{
  if (!g_atomic_int_dec_and_test (&list->ref_count))
    return;
  g_mutex_clear (&list->lock);
  g_main_context_unref (list->context);
  g_free (list);
}

/* A thread of the pool: runs the function, then hands the work to the
 * list and wakes the context. The one lock it takes is the list's, for
 * the list operation only: never the context's (g_main_context_wakeup()
 * takes none, unlike g_source_attach() and g_source_set_ready_time(); a
 * trace on GLib 2.74 also showed a thread's g_source_unref() holding up the
 * main thread, so the thread holds no source either). Once the work is in the list, the context
 * may run it and free the handoff: the thread holds the list (and with it
 * the context) for the wakeup. */
static void
run_work (gpointer data,
          gpointer user_data)
{
  Work *work = data;
  DoneList *list = done_list_ref (work->list);

  work->result = work->func (work->data);
  call_test_hook (FALSE);
  g_mutex_lock (&list->lock);
  if (list->tail != NULL)
    list->tail->next = work;
  else
    list->head = work;
  list->tail = work;
  g_atomic_int_inc (&list->n_done);
  g_mutex_unlock (&list->lock);
  g_main_context_wakeup (list->context);
  call_test_hook (TRUE);
  done_list_unref (list);
}

static gboolean
done_prepare (GSource *source,
              gint    *timeout)
{
  DoneSource *done = (DoneSource *) source;

  *timeout = -1;
  return g_atomic_int_get (&done->list->n_done) > 0;
}

static gboolean
done_check (GSource *source)
{
  DoneSource *done = (DoneSource *) source;

  return g_atomic_int_get (&done->list->n_done) > 0;
}

/* The context: the oldest finished work's completion, one per dispatch
 * (as a GTask's would be); the source may recurse, so that a completion
 * that runs a nested main loop still sees the work finished after it. */
static gboolean
done_dispatch (GSource     *source,
               GSourceFunc  callback,
               gpointer     user_data)
{
  DoneList *list = ((DoneSource *) source)->list;
  Work *work;

  g_mutex_lock (&list->lock);
  work = list->head;
  if (work != NULL)
    {
      list->head = work->next;
      if (list->head == NULL)
        list->tail = NULL;
      g_atomic_int_add (&list->n_done, -1);
    }
  g_mutex_unlock (&list->lock);
  if (work == NULL)
    return G_SOURCE_CONTINUE;

  /* May free the handoff, destroying this source (allowed in its own
   * dispatch); the list stays until the work lets go of it. */
  work->done (work->data, work->result);
  done_list_unref (work->list);
  g_free (work);
  return G_SOURCE_CONTINUE;
}

/* Work that had not completed when the handoff was freed never completes:
 * its data was the caller's to keep alive, and stays theirs. */
static void
done_finalize (GSource *source)
{
  done_list_unref (((DoneSource *) source)->list);
}

static GSourceFuncs done_funcs = {
  .prepare = done_prepare,
  .check = done_check,
  .dispatch = done_dispatch,
  .finalize = done_finalize,
};

EpHandoff *
ep_handoff_new (GMainContext *context,
                const char   *name,
                guint         max_threads)
{
  EpHandoff *self;
  DoneList *list;

  g_return_val_if_fail (context != NULL, NULL);
  g_return_val_if_fail (max_threads > 0, NULL);

  self = g_new0 (EpHandoff, 1);
  list = g_new0 (DoneList, 1);
  list->ref_count = 1;
  list->context = g_main_context_ref (context);
  g_mutex_init (&list->lock);
  self->list = list;
  self->pool = g_thread_pool_new (run_work, NULL, (gint) max_threads, FALSE, NULL);
  self->source = g_source_new (&done_funcs, sizeof (DoneSource));
  ((DoneSource *) self->source)->list = list;
  g_source_set_name (self->source, name);
  g_source_set_can_recurse (self->source, TRUE);
  g_source_attach (self->source, context);
  return self;
}

GMainContext *
ep_handoff_get_context (EpHandoff *self)
{
  return self->list->context;
}

void
ep_handoff_run (EpHandoff     *self,
                EpHandoffFunc  func,
                EpHandoffDone  done,
                gpointer       data)
{
  Work *work = g_new0 (Work, 1);

  work->list = done_list_ref (self->list);
  work->func = func;
  work->done = done;
  work->data = data;
  g_thread_pool_push (self->pool, work, NULL);
}

/* Never waits: a thread still running work frees the pool when done. */
void
ep_handoff_free (EpHandoff *self)
{
  if (self == NULL)
    return;
  g_thread_pool_free (self->pool, FALSE, FALSE);
  g_source_destroy (self->source);
  g_source_unref (self->source);
  g_free (self);
}
