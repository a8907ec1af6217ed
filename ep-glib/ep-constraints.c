/* ep-constraints.c: metered networks and power saver
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-constraints-private.h"

struct _EpConstraints
{
  GObject                   parent_instance;

  GMainContext             *context;          /* owned: where @changed runs */
  GNetworkMonitor          *network_monitor;  /* borrowed singleton, nullable */
  GPowerProfileMonitor     *power_monitor;    /* owned, nullable */
  gulong                    metered_id;
  gulong                    power_saver_id;
  int                       metered;          /* atomic: the monitor's last report */
  int                       power_saver;      /* atomic: the monitor's last report */
  gboolean                  active;           /* owner's context: what was reported */
  guint                     interval_ms;
  gint64                    last_attempt_us[EP_N_CONSTRAINED_KINDS];  /* monotonic; 0 = none */
  EpConstraintsChangedFunc  changed;          /* NULL once stopped */
  gpointer                  user_data;        /* unowned */
};

G_DEFINE_FINAL_TYPE (EpConstraints, ep_constraints, G_TYPE_OBJECT)

static void
ep_constraints_dispose (GObject *object)
{
  ep_constraints_stop (EP_CONSTRAINTS (object));

  G_OBJECT_CLASS (ep_constraints_parent_class)->dispose (object);
}

static void
ep_constraints_finalize (GObject *object)
{
  EpConstraints *self = EP_CONSTRAINTS (object);

  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (ep_constraints_parent_class)->finalize (object);
}

static void
ep_constraints_class_init (EpConstraintsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = ep_constraints_dispose;
  object_class->finalize = ep_constraints_finalize;
}

static void
ep_constraints_init (EpConstraints *self)
{
}

static gboolean
compute_active (EpConstraints *self)
{
  return g_atomic_int_get (&self->metered) || g_atomic_int_get (&self->power_saver);
}

/* The owner's context: reports a change, if the monitors' reports made one. */
static gboolean
update_active (gpointer user_data)
{
  EpConstraints *self = user_data;
  gboolean active = compute_active (self);

  if (self->changed == NULL || active == self->active)
    return G_SOURCE_REMOVE;
  self->active = active;
  g_debug ("Deliveries %s: %s", active ? "held back" : "no longer held back",
           active ? ep_constraints_describe (self) : "no metered network, no power saver");
  self->changed (self->user_data, active);
  return G_SOURCE_REMOVE;
}

/* The monitor's context (any thread): record, then forward. */
static void
on_monitor_notify (GObject    *monitor,
                   GParamSpec *pspec,
                   GWeakRef   *weak)
{
  g_autoptr(EpConstraints) self = g_weak_ref_get (weak);

  if (self == NULL)
    return;
  if (G_IS_NETWORK_MONITOR (monitor))
    g_atomic_int_set (&self->metered,
                      g_network_monitor_get_network_metered (G_NETWORK_MONITOR (monitor)));
  else
    g_atomic_int_set (&self->power_saver,
                      g_power_profile_monitor_get_power_saver_enabled (G_POWER_PROFILE_MONITOR (monitor)));
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, update_active,
                              g_object_ref (self), g_object_unref);
}

static void
weak_ref_free (gpointer  data,
               GClosure *closure)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static gulong
watch (EpConstraints *self,
       gpointer       monitor,
       const char    *signal)
{
  GWeakRef *weak = g_new0 (GWeakRef, 1);

  g_weak_ref_init (weak, self);
  return g_signal_connect_data (monitor, signal, G_CALLBACK (on_monitor_notify), weak,
                                weak_ref_free, 0);
}

EpConstraints *
ep_constraints_new (guint                    interval_ms,
                    EpConstraintsChangedFunc changed,
                    gpointer                 user_data)
{
  EpConstraints *self = g_object_new (EP_TYPE_CONSTRAINTS, NULL);

  self->interval_ms = interval_ms;
  self->context = g_main_context_ref_thread_default ();
  self->changed = changed;
  self->user_data = user_data;

  self->network_monitor = g_network_monitor_get_default ();
  self->metered_id = watch (self, self->network_monitor, "notify::network-metered");
  self->metered = g_network_monitor_get_network_metered (self->network_monitor);

  self->power_monitor = g_power_profile_monitor_dup_default ();
  if (self->power_monitor != NULL)
    {
      self->power_saver_id = watch (self, self->power_monitor, "notify::power-saver-enabled");
      self->power_saver = g_power_profile_monitor_get_power_saver_enabled (self->power_monitor);
    }
  self->active = compute_active (self);
  if (self->active)
    g_debug ("Deliveries held back: %s", ep_constraints_describe (self));
  return self;
}

void
ep_constraints_stop (EpConstraints *self)
{
  g_return_if_fail (EP_IS_CONSTRAINTS (self));

  self->changed = NULL;
  self->user_data = NULL;
  if (self->network_monitor != NULL)
    g_clear_signal_handler (&self->metered_id, self->network_monitor);
  self->network_monitor = NULL;
  if (self->power_monitor != NULL)
    g_clear_signal_handler (&self->power_saver_id, self->power_monitor);
  g_clear_object (&self->power_monitor);
}

gboolean
ep_constraints_get_active_for_testing (EpConstraints *self)
{
  g_return_val_if_fail (EP_IS_CONSTRAINTS (self), FALSE);

  return self->active;
}

const char *
ep_constraints_describe (EpConstraints *self)
{
  gboolean metered = g_atomic_int_get (&self->metered);
  gboolean power_saver = g_atomic_int_get (&self->power_saver);

  if (metered && power_saver)
    return "a metered network and power saver";
  if (metered)
    return "a metered network";
  if (power_saver)
    return "power saver";
  return "none";
}

void
ep_constraints_note_attempt (EpConstraints     *self,
                             EpConstrainedKind  kind,
                             gint64             now_us)
{
  g_return_if_fail (EP_IS_CONSTRAINTS (self));
  g_return_if_fail (kind < EP_N_CONSTRAINED_KINDS);

  self->last_attempt_us[kind] = now_us;
}

gint64
ep_constraints_hold_until (EpConstraints     *self,
                           EpConstrainedKind  kind)
{
  g_return_val_if_fail (EP_IS_CONSTRAINTS (self), 0);
  g_return_val_if_fail (kind < EP_N_CONSTRAINED_KINDS, 0);

  return ep_constraints_apply (self->active, 0, self->last_attempt_us[kind], self->interval_ms);
}

gint64
ep_constraints_apply (gboolean active,
                      gint64   wanted_us,
                      gint64   last_us,
                      guint    interval_ms)
{
  if (!active || last_us <= 0)
    return wanted_us;
  return MAX (wanted_us, last_us + (gint64) interval_ms * 1000);
}
