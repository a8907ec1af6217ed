/* ep-handoff-private.h: work run on a thread, its result handed back to a main context
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Issue 18, item 5. A GTask run in a thread (g_task_run_in_thread())
 * returns by attaching a source to the task's context from the thread:
 * g_source_attach() takes the context's lock and signals the context's
 * wakeup while holding it. The signal wakes the main thread, which on a
 * busy machine may take the CPU from the thread still holding the lock;
 * the main thread then asks for the lock (every iteration does) and sleeps
 * until the thread gets a CPU again: 8.4 ms in a traced drain, 468 such
 * sleeps in one drain of 100k events (the reply parses of ep-transport.c).
 *
 * An EpHandoff runs a function on a thread of its own pool, and its
 * completion on @context from a source of its own. The thread puts the
 * work in a list (its one lock, held for the list operation only) and then
 * wakes the context with g_main_context_wakeup(), which takes no lock. It
 * never takes the context's lock; the main context never waits for a
 * thread doing anything but a list operation.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EpHandoff EpHandoff;

/* On a thread of the handoff's pool: returns the result for @done. */
typedef gpointer (*EpHandoffFunc) (gpointer data);
/* On the handoff's context, one per dispatch, in the order the work
 * finished. May free the handoff. */
typedef void     (*EpHandoffDone) (gpointer data,
                                   gpointer result);

/* A handoff to @context (attached to it now), running at most
 * @max_threads functions at once (threads of GLib's shared pool). */
EpHandoff    *ep_handoff_new          (GMainContext   *context,
                                       const char     *name,
                                       guint           max_threads);
GMainContext *ep_handoff_get_context  (EpHandoff      *self);
/* Runs @func (@data) on a thread, then @done (@data, result) on the
 * context. The caller keeps whatever @done needs alive until @done runs,
 * and frees the handoff only when nothing is in flight (or from a @done):
 * work still in flight then never completes. */
void          ep_handoff_run          (EpHandoff      *self,
                                       EpHandoffFunc   func,
                                       EpHandoffDone   done,
                                       gpointer        data);
void          ep_handoff_free         (EpHandoff      *self);

/* Tests: called on the thread right before it hands a result back
 * (@handed_back FALSE) and right after (TRUE), for every handoff. */
typedef void (*EpHandoffHook) (gboolean handed_back,
                               gpointer data);
void          ep_handoff_set_hook_for_testing (EpHandoffHook hook,
                                               gpointer      data);

G_END_DECLS
