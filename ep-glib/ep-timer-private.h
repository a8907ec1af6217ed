/* ep-timer-private.h: the scheduler's timer sources
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A long delay (EP_TIMER_SECONDS_MIN_MS or more: batch-interval, backoff,
 * monitoring-interval, constrained-interval, the request-timeout that
 * bounds close's last attempt) gets a second-granularity
 * source (g_timeout_source_new_seconds), which GLib lines up with every
 * other one in the session so that wakeups coalesce. Such a source may
 * fire up to a quarter second before its whole second: the delay is
 * rounded up so that it never fires before @delay_ms has passed (at most
 * about 1.75 s after). Short delays keep a millisecond source. Every
 * source is named, for debuggers and tests.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EP_TIMER_SECONDS_MIN_MS 10000

/* (transfer full): a timeout source of @delay_ms (clamped at 0), not
 * attached. */
GSource *ep_timer_source_new (gint64      delay_ms,
                              const char *name);

G_END_DECLS
