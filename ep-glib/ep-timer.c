/* ep-timer.c: the scheduler's timer sources
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-timer-private.h"

/* GLib moves a seconds source's expiry to the session's sub-second mark:
 * at most this much earlier than asked. */
#define SECONDS_EARLY_MS 250

GSource *
ep_timer_source_new (gint64      delay_ms,
                     const char *name)
{
  GSource *source;

  delay_ms = CLAMP (delay_ms, 0, G_MAXUINT);
  if (delay_ms >= EP_TIMER_SECONDS_MIN_MS)
    source = g_timeout_source_new_seconds ((guint) ((delay_ms + SECONDS_EARLY_MS + 999) / 1000));
  else
    source = g_timeout_source_new ((guint) delay_ms);
  g_source_set_name (source, name);
  return source;
}
