/* ep-clock-private.h: the consumer's clock, estimated from replies' Date
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Desktop clocks are often wrong; TIDAL's producers stamp events with
 * server time. Each reply's `Date` header (plus `Age`, when a cache says
 * how long it kept the reply) gives one *sample* of the consumer's clock:
 * the Date is the consumer's time, to the second, while it answered, which
 * the local clock places at the reception time minus half the round trip.
 *
 * The *estimate* is the median of the last EP_CLOCK_WINDOW samples' offsets
 * (at least EP_CLOCK_MIN_SAMPLES of them), so one bad reply, or a proxy's
 * cached Date, cannot move it beyond the good samples. The *applied* offset
 * is what events are stamped with: it changes only when the estimate
 * differs from it by more than the round trip (the median of the window's)
 * plus one second, the precision a Date can give; it becomes 0 when the
 * estimate itself is within that tolerance of the local clock.
 *
 * Pure: no I/O, no clock reads, no locking (the scheduler's context owns
 * it); the caller persists the applied offset and passes it back to
 * ep_clock_new() at the next start.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EP_CLOCK_WINDOW 5
#define EP_CLOCK_MIN_SAMPLES 3
/* A Date header has a one-second resolution. */
#define EP_CLOCK_TOLERANCE_MS 1000

typedef struct _EpClock EpClock;

/* @offset_ms: the applied offset restored from a previous run (0 if none). */
EpClock  *ep_clock_new             (gint64       offset_ms);
void      ep_clock_free            (EpClock     *self);

/* The consumer's time in ms since the epoch when it answered, from the raw
 * `Date` and `Age` header values (@age nullable): the middle of the second
 * the Date names, plus Age. -1 when @date is NULL or not an HTTP-date. */
gint64    ep_clock_parse_date      (const char  *date,
                                    const char  *age);

/* Adds one sample: @server_ms from ep_clock_parse_date(), @received_ms the
 * local real time when the reply came (ms since the epoch), @round_trip_ms
 * the request's duration on a monotonic clock. Returns TRUE when the
 * applied offset changed. */
gboolean  ep_clock_add_sample      (EpClock     *self,
                                    gint64       server_ms,
                                    gint64       received_ms,
                                    gint64       round_trip_ms);

/* Add this to the local real time to get the consumer's time. */
gint64    ep_clock_get_offset_ms   (EpClock     *self);
/* The median of the current samples (0 when there are none). */
gint64    ep_clock_get_estimate_ms (EpClock     *self);
guint     ep_clock_get_n_samples   (EpClock     *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpClock, ep_clock_free)

G_END_DECLS
