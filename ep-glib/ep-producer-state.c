/* ep-producer-state.c: what a producer saves besides its queue, and when
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The file is the queue's state blob "monitor.gvariant" (the name it got
 * when the counters were all it held; older releases read and write the
 * same file, so it keeps both its name and its format). It is one GVariant
 * of type "(ua{st}a{st}a{st}bba{sv})": format version (2), the monitor's
 * three counter maps (consentFilteredEvents, validationFailedEvents,
 * storingFailedEvents), the storage and delivery outage flags, then named
 * extensions:
 *   "clock-offset"  x  the consumer's clock minus the local one, in ms
 *   "delivery-reason" u  the EpOutageReason of the last failed delivery
 *   "delivery-error"  s  its message (both only while a delivery outage lasts)
 *   "expired-events"  a{st}  the expiredEvents counters (max-event-age), if any
 * Unknown extensions are ignored. Version 1 files, "(ua{st}a{st}a{st}bb)"
 * (the same without the extensions), are read too and rewritten as version
 * 2 by the next save.
 *
 * Nothing here touches the disk: the queue replaces the blob atomically
 * and durably. This file owns the one save policy: every change asks for a
 * save (the monitor's through its changed function, on the first change
 * since it was last taken for a save); the first change after a save
 * began arms one timer of SAVE_DELAY_MS on the context the state was
 * created on, and the save then runs in a worker thread, so a burst of
 * drops costs one write. ep_producer_state_close() saves what is left and
 * stops saving.
 */
#include "config.h"

#include <string.h>

#include "ep-clock-private.h"
#include "ep-handoff-private.h"
#include "ep-producer-state-private.h"
#include "ep-queue-state-private.h"

#define STATE_TYPE_V1 "(ua{st}a{st}a{st}bb)"
#define STATE_TYPE "(ua{st}a{st}a{st}bba{sv})"
#define STATE_VERSION 2
#define STATE_BLOB_NAME "monitor.gvariant"
#define SAVE_DELAY_MS 200

struct _EpProducerState {
  GObject       parent_instance;

  EpQueue      *queue;            /* owned, immutable: where the state blob lives */
  EpMonitor    *monitor;          /* owned, immutable: the counters saved with the state */
  GMainContext *context;          /* owned, immutable: thread-default at creation; runs the save timer */
  GMutex        save_lock;        /* held for a whole save, so saves never overtake each other */
  GMutex        lock;             /* protects everything below */
  gboolean      storage_outage;
  gboolean      delivery_outage;
  gint64        clock_offset_ms;
  guint         delivery_reason;  /* EpOutageReason of the last failed delivery; 0 without outage */
  char         *delivery_error;   /* owned, nullable: its message */
  gboolean      dirty;            /* changed (the counters included) since the last save */
  gboolean      save_requested;   /* a save is scheduled and has not started yet */
  GSource      *save_timer;       /* owned, nullable: the scheduled save */
  EpHandoff    *saver;            /* owned, nullable until the first save: runs the saves */
  guint         n_saves;          /* writes so far, for tests */
  gboolean      closed;           /* ep_producer_state_close(): the file is no longer ours */
  guint64       generation;       /* bumped on every change, to detect saves that raced */
};

G_DEFINE_FINAL_TYPE (EpProducerState, ep_producer_state, G_TYPE_OBJECT)

static void
ep_producer_state_dispose (GObject *object)
{
  EpProducerState *self = EP_PRODUCER_STATE (object);

  /* waits for a call in progress: the monitor never sees us again */
  if (self->monitor != NULL)
    ep_monitor_set_changed_func (self->monitor, NULL, NULL);

  G_OBJECT_CLASS (ep_producer_state_parent_class)->dispose (object);
}

static void
ep_producer_state_finalize (GObject *object)
{
  EpProducerState *self = EP_PRODUCER_STATE (object);

  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_source_unref (self->save_timer);
    }
  /* Nothing is being saved: each save holds a reference. */
  ep_handoff_free (self->saver);
  g_free (self->delivery_error);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->save_lock);
  g_clear_object (&self->monitor);
  g_clear_object (&self->queue);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (ep_producer_state_parent_class)->finalize (object);
}

static void
ep_producer_state_class_init (EpProducerStateClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = ep_producer_state_dispose;
  G_OBJECT_CLASS (klass)->finalize = ep_producer_state_finalize;
}

static void
ep_producer_state_init (EpProducerState *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->save_lock);
}

/* The save timer ----------------------------------------------------------- */

static void save_in_background (EpProducerState *self);

/* The save timer holds a weak reference: a scheduled save never keeps a
 * dropped state (and its queue) alive. */
static gboolean
save_timer_fired (gpointer data)
{
  g_autoptr(EpProducerState) self = g_weak_ref_get (data);

  if (self == NULL)
    return G_SOURCE_REMOVE;
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->save_timer, g_source_unref);
  g_mutex_unlock (&self->lock);
  save_in_background (self);
  return G_SOURCE_REMOVE;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Returns TRUE when this change scheduled a save: the first change since
 * the last save started. A change during a save schedules another one. */
static gboolean
request_save_locked (EpProducerState *self)
{
  GWeakRef *weak;

  if (self->save_requested || self->closed)
    return FALSE;
  self->save_requested = TRUE;
  if (!ep_queue_is_writable (self->queue))
    return TRUE;

  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  self->save_timer = g_timeout_source_new (SAVE_DELAY_MS);
  g_source_set_static_name (self->save_timer, "[ep-glib] producer state save");
  g_source_set_callback (self->save_timer, save_timer_fired, weak, weak_ref_free);
  g_source_attach (self->save_timer, self->context);
  return TRUE;
}

static gboolean
changed_locked (EpProducerState *self)
{
  self->dirty = TRUE;
  self->generation++;
  return request_save_locked (self);
}

/* The monitor's changed function: under its lock, on the thread that
 * counted. */
static gboolean
counters_changed (gpointer data)
{
  EpProducerState *self = data;
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return changed_locked (self);
}

/* Loading ------------------------------------------------------------------ */

/* The four counter maps of a parsed file, as a monitor snapshot. */
static GVariant *
counters_from_state (GVariant *state,
                     guint32   version)
{
  GVariant *maps[EP_N_DROP_REASONS];
  g_autoptr(GVariant) expired = NULL;
  GVariant *counters;

  for (guint i = 0; i < EP_DROP_EXPIRED; i++)
    maps[i] = g_variant_get_child_value (state, i + 1);
  if (version >= 2)
    {
      g_autoptr(GVariant) extensions = g_variant_get_child_value (state, 6);

      expired = g_variant_lookup_value (extensions, "expired-events", G_VARIANT_TYPE ("a{st}"));
    }
  if (expired == NULL)
    expired = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE ("{st}"), NULL, 0));
  maps[EP_DROP_EXPIRED] = g_steal_pointer (&expired);
  counters = g_variant_ref_sink (g_variant_new_tuple (maps, EP_N_DROP_REASONS));
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_variant_unref (maps[i]);   /* not floating: the tuple took its own refs */
  return counters;
}

static gboolean
parse_state (EpProducerState  *self,
             GBytes           *contents,
             GError          **error)
{
  g_autoptr(GVariant) raw = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GVariant) counters = NULL;
  gsize len = g_bytes_get_size (contents);
  guint32 version = 0;

  /* The version is the tuple's first member, at offset 0, host order. */
  if (len >= sizeof version)
    memcpy (&version, g_bytes_get_data (contents, NULL), sizeof version);
  if (version != 1 && version != STATE_VERSION)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "unexpected format (version %u, %zu bytes)", version, len);
      return FALSE;
    }
  raw = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (version == 1 ? STATE_TYPE_V1 : STATE_TYPE),
                                                      contents, FALSE));
  state = g_variant_get_normal_form (raw);
  if (g_variant_get_size (state) != len)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "unexpected format (version %u, %zu bytes)", version, len);
      return FALSE;
    }
  counters = counters_from_state (state, version);
  ep_monitor_restore (self->monitor, counters);
  g_variant_get_child (state, 4, "b", &self->storage_outage);
  g_variant_get_child (state, 5, "b", &self->delivery_outage);
  if (version >= 2)
    {
      g_autoptr(GVariant) extensions = g_variant_get_child_value (state, 6);

      g_variant_lookup (extensions, "clock-offset", "x", &self->clock_offset_ms);
      g_variant_lookup (extensions, "delivery-reason", "u", &self->delivery_reason);
      g_variant_lookup (extensions, "delivery-error", "s", &self->delivery_error);
    }
  self->dirty = version != STATE_VERSION;
  return TRUE;
}

static void
load (EpProducerState *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) aside_error = NULL;
  g_autoptr(GBytes) contents = ep_queue_state_load (self->queue, STATE_BLOB_NAME, &error);

  if (contents == NULL && error == NULL)
    return;
  if (contents != NULL && parse_state (self, contents, &error))
    return;

  /* parse_state() fails before it sets anything: the state and the
   * counters are empty */
  self->dirty = TRUE;
  if (contents == NULL || !ep_queue_state_move_aside (self->queue, STATE_BLOB_NAME, &aside_error))
    g_message ("Dropped-event counters in %s cannot be read (%s); counting from zero",
               ep_queue_get_dir (self->queue), error->message);
  else
    g_message ("Dropped-event counters in %s cannot be read (%s); "
               "moved aside to %s.corrupt, counting from zero",
               ep_queue_get_dir (self->queue), error->message, STATE_BLOB_NAME);
}

/* The consumer-clock offset saved by the previous run, unless it is
 * implausible now (beyond the bound, or it would put the time before the
 * library was built: a hostile Date persisted by an older release, a file
 * edited by hand): then it is discarded, and 0 is saved. */
static void
check_clock_offset (EpProducerState *self)
{
  gint64 offset_ms = self->clock_offset_ms;

  if (offset_ms == 0 || ep_clock_offset_is_plausible (offset_ms, g_get_real_time () / 1000))
    return;
  g_info ("The saved consumer-clock offset (%+" G_GINT64_FORMAT " ms) is implausible: discarded",
          offset_ms);
  ep_producer_state_set_clock_offset (self, 0);
}

EpProducerState *
ep_producer_state_new (EpQueue   *queue,
                       EpMonitor *monitor)
{
  EpProducerState *self = g_object_new (EP_TYPE_PRODUCER_STATE, NULL);

  self->queue = g_object_ref (queue);
  self->monitor = g_object_ref (monitor);
  self->context = g_main_context_ref_thread_default ();
  load (self);
  check_clock_offset (self);
  ep_monitor_set_changed_func (monitor, counters_changed, self);
  return self;
}

/* The fields --------------------------------------------------------------- */

void
ep_producer_state_get_outage (EpProducerState *self,
                              gboolean        *storage,
                              gboolean        *delivery)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  *storage = self->storage_outage;
  *delivery = self->delivery_outage;
}

gboolean
ep_producer_state_set_outage (EpProducerState *self,
                              gboolean         storage,
                              gboolean         delivery)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  storage = !!storage;
  delivery = !!delivery;
  if (self->storage_outage == storage && self->delivery_outage == delivery)
    return FALSE;
  self->storage_outage = storage;
  self->delivery_outage = delivery;
  changed_locked (self);
  return TRUE;
}

guint
ep_producer_state_dup_delivery_error (EpProducerState  *self,
                                      char            **message)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  *message = g_strdup (self->delivery_error);
  return self->delivery_reason;
}

gboolean
ep_producer_state_set_delivery_error (EpProducerState *self,
                                      guint            reason,
                                      const char      *message)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->delivery_reason == reason && g_strcmp0 (self->delivery_error, message) == 0)
    return FALSE;
  self->delivery_reason = reason;
  g_free (self->delivery_error);
  self->delivery_error = g_strdup (message);
  return changed_locked (self);
}

gint64
ep_producer_state_get_clock_offset (EpProducerState *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->clock_offset_ms;
}

gboolean
ep_producer_state_set_clock_offset (EpProducerState *self,
                                    gint64           offset_ms)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->clock_offset_ms == offset_ms)
    return FALSE;
  self->clock_offset_ms = offset_ms;
  return changed_locked (self);
}

gboolean
ep_producer_state_is_dirty_for_testing (EpProducerState *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->dirty;
}

/* Saving ------------------------------------------------------------------- */

/* What a save writes besides the counters, copied under the lock. */
typedef struct {
  gboolean  storage_outage;
  gboolean  delivery_outage;
  gint64    clock_offset_ms;
  guint     delivery_reason;
  char     *delivery_error;   /* owned, nullable */
} StateCopy;

static void
copy_state_locked (EpProducerState *self,
                   StateCopy       *copy)
{
  copy->storage_outage = self->storage_outage;
  copy->delivery_outage = self->delivery_outage;
  copy->clock_offset_ms = self->clock_offset_ms;
  copy->delivery_reason = self->delivery_reason;
  copy->delivery_error = g_strdup (self->delivery_error);
}

/* @counters: a monitor snapshot (names sorted, so files are deterministic). */
static GVariant *
serialize_state (StateCopy *copy,
                 GVariant  *counters)
{
  GVariant *maps[EP_N_DROP_REASONS];
  GVariantBuilder extensions;
  GVariant *state;

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    maps[i] = g_variant_get_child_value (counters, i);
  g_variant_builder_init (&extensions, G_VARIANT_TYPE_VARDICT);
  if (copy->clock_offset_ms != 0)
    g_variant_builder_add (&extensions, "{sv}", "clock-offset",
                           g_variant_new_int64 (copy->clock_offset_ms));
  if (copy->delivery_reason != 0)
    g_variant_builder_add (&extensions, "{sv}", "delivery-reason",
                           g_variant_new_uint32 (copy->delivery_reason));
  if (copy->delivery_error != NULL)
    g_variant_builder_add (&extensions, "{sv}", "delivery-error",
                           g_variant_new_take_string (g_steal_pointer (&copy->delivery_error)));
  if (g_variant_n_children (maps[EP_DROP_EXPIRED]) > 0)
    g_variant_builder_add (&extensions, "{sv}", "expired-events", maps[EP_DROP_EXPIRED]);
  state = g_variant_ref_sink (g_variant_new ("(u@a{st}@a{st}@a{st}bba{sv})", STATE_VERSION,
                                             maps[0], maps[1], maps[2],
                                             copy->storage_outage, copy->delivery_outage,
                                             &extensions));
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_variant_unref (maps[i]);   /* not floating: the containers took their own refs */
  return state;
}

gboolean
ep_producer_state_save (EpProducerState  *self,
                        GError          **error)
{
  g_autoptr(GMutexLocker) save_locker = g_mutex_locker_new (&self->save_lock);
  g_autoptr(GVariant) counters = NULL;
  g_autoptr(GVariant) state = NULL;
  StateCopy copy;
  guint64 generation;

  g_mutex_lock (&self->lock);
  self->save_requested = FALSE;
  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_clear_pointer (&self->save_timer, g_source_unref);
    }
  if (!self->dirty || self->closed || !ep_queue_is_writable (self->queue))
    {
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
  copy_state_locked (self, &copy);
  generation = self->generation;
  g_mutex_unlock (&self->lock);

  /* Taken after the generation: a count that misses this save changes the
   * counters after they were taken, so the monitor calls
   * counters_changed(), which bumps the generation and asks for the next
   * save. Serialized and written outside the lock: counting never waits. */
  counters = ep_monitor_snapshot_for_save (self->monitor);
  state = serialize_state (&copy, counters);
  if (!ep_queue_state_save (self->queue, STATE_BLOB_NAME, g_variant_get_data (state),
                            g_variant_get_size (state), error))
    return FALSE;

  g_mutex_lock (&self->lock);
  self->n_saves++;
  if (self->generation == generation)
    self->dirty = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
save_logged (EpProducerState *self)
{
  g_autoptr(GError) error = NULL;

  if (!ep_producer_state_save (self, &error))
    g_message ("Cannot save the dropped-event counters: %s", error->message);
}

void
ep_producer_state_close (EpProducerState *self)
{
  save_logged (self);

  g_mutex_lock (&self->save_lock);
  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_clear_pointer (&self->save_timer, g_source_unref);
    }
  g_mutex_unlock (&self->lock);
  g_mutex_unlock (&self->save_lock);
}

guint
ep_producer_state_get_n_saves_for_testing (EpProducerState *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->n_saves;
}

static gpointer
save_in_thread (gpointer data)
{
  save_logged (data);
  return NULL;
}

/* The saving thread's reference to the state is dropped on the state's
 * context, never in the thread: when the owner lets go during a save, the
 * state (and the queue it holds, with the directory's lock) goes on the
 * owner's thread, so a spin that sees it gone sees the lock released. */
static void
save_done (gpointer data,
           gpointer result)
{
  g_object_unref (data);
}

/* On the state's context (the save timer's). Through an EpHandoff, not a
 * GTask run in a thread: that returns by attaching a source to the context
 * from the thread, which holds the context's lock while it wakes the main
 * thread (issue 18, item 5; see ep-handoff-private.h). */
static void
save_in_background (EpProducerState *self)
{
  if (self->saver == NULL)
    self->saver = ep_handoff_new (self->context, "[ep-glib] producer state saved", 1);
  ep_handoff_run (self->saver, save_in_thread, save_done, g_object_ref (self));
}
