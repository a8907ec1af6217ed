/* ep-constraints-private.h: metered networks and power saver
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * GNOME applications are expected to hold back background traffic while
 * the network is metered (GNetworkMonitor:network-metered) or the system
 * saves power (GPowerProfileMonitor:power-saver-enabled). EpConstraints
 * watches both and says whether either holds; the scheduler then delivers
 * and sends monitoring events at most every constrained-interval. Flush and
 * close are not held back, and the outage rules do not change.
 *
 * The monitors are process-wide singletons that notify on the context of
 * whoever created them first: their reports are read there (atomically)
 * and forwarded to the context that was the thread-default when the
 * EpConstraints was made, where @changed runs.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Called on the owner's context when deliveries start or stop being held
 * back (ep_constraints_get_active_for_testing() reports which). */
typedef void (*EpConstraintsChangedFunc) (gpointer user_data,
                                          gboolean active);

/* What is held back: each kind keeps its own last attempt. */
typedef enum {
  EP_CONSTRAINED_DELIVERY,
  EP_CONSTRAINED_MONITORING,
  EP_N_CONSTRAINED_KINDS
} EpConstrainedKind;

#define EP_TYPE_CONSTRAINTS (ep_constraints_get_type ())
G_DECLARE_FINAL_TYPE (EpConstraints, ep_constraints, EP, CONSTRAINTS, GObject)

/* Captures the thread-default main context; reads both monitors now.
 * @interval_ms: the constrained-interval. @user_data is unowned: call
 * ep_constraints_stop() before it goes. */
EpConstraints *ep_constraints_new        (guint                     interval_ms,
                                          EpConstraintsChangedFunc  changed,
                                          gpointer                  user_data);
/* Disconnects from the monitors: @changed is never called again. */
void           ep_constraints_stop       (EpConstraints            *self);

/* The owner's context: whether deliveries are held back now. */
gboolean       ep_constraints_get_active_for_testing (EpConstraints            *self);
/* Why, for logs: "a metered network", "power saver", both, or "none". */
const char    *ep_constraints_describe   (EpConstraints            *self);

/* An attempt of @kind started at @now_us (monotonic), constrained or not. */
void           ep_constraints_note_attempt (EpConstraints          *self,
                                            EpConstrainedKind       kind,
                                            gint64                  now_us);
/* The monotonic time (µs) before which no scheduled attempt of @kind may
 * start: 0 while nothing constrains or before the first attempt, else the
 * last attempt plus the interval. */
gint64         ep_constraints_hold_until (EpConstraints            *self,
                                          EpConstrainedKind         kind);

/* The pure rule behind it: @wanted_us unchanged while !@active or with no
 * attempt yet (@last_us 0), else no sooner than @last_us + @interval_ms. */
gint64         ep_constraints_apply      (gboolean                  active,
                                          gint64                    wanted_us,
                                          gint64                    last_us,
                                          guint                     interval_ms);

G_END_DECLS
