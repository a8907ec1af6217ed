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

/* Called on the owner's context when ep_constraints_get_active() changes. */
typedef void (*EpConstraintsChangedFunc) (gpointer user_data,
                                          gboolean active);

#define EP_TYPE_CONSTRAINTS (ep_constraints_get_type ())
G_DECLARE_FINAL_TYPE (EpConstraints, ep_constraints, EP, CONSTRAINTS, GObject)

/* Captures the thread-default main context; reads both monitors now.
 * @user_data is unowned: call ep_constraints_stop() before it goes. */
EpConstraints *ep_constraints_new        (EpConstraintsChangedFunc  changed,
                                          gpointer                  user_data);
/* Disconnects from the monitors: @changed is never called again. */
void           ep_constraints_stop       (EpConstraints            *self);

/* The owner's context: whether deliveries are held back now. */
gboolean       ep_constraints_get_active (EpConstraints            *self);
/* Why, for logs: "a metered network", "power saver", both, or "none". */
const char    *ep_constraints_describe   (EpConstraints            *self);

/* The earliest monotonic time (µs) a scheduled attempt may start, given
 * the start of the last attempt (@last_us, 0 if none) and @interval_ms:
 * @wanted_us unchanged while nothing constrains, else no sooner than
 * @last_us + @interval_ms. Pure. */
gint64         ep_constraints_hold_until (gboolean                  active,
                                          gint64                    wanted_us,
                                          gint64                    last_us,
                                          guint                     interval_ms);

G_END_DECLS
