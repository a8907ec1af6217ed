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
 * Hostile or broken Dates (a middlebox's, a consumer with a dead clock
 * battery, a forged reply): the caller gives samples only from replies
 * that parse as the consumer's own (SQS XML, see ep-sqs-private.h), and
 * the estimator trusts a sample only when
 *   - it is not before the day before the library's build day
 *     (EP_CLOCK_EARLIEST_MS: a consumer's clock cannot be earlier than the
 *     code that talks to it, less the largest offset applied);
 *   - its Age, if any, is at most EP_CLOCK_MAX_AGE_S (a POST's reply that a
 *     cache kept longer tells nothing about now);
 *   - it is within EP_CLOCK_OUTLIER_MS of at least one other sample of the
 *     window (a lone wild Date is ignored, and two that agree are still
 *     outvoted by three good ones in the median).
 * And the applied offset is bounded: an estimate more than
 * EP_CLOCK_MAX_OFFSET_MS (one day) from the local clock is never applied.
 * Why one day: the errors a consumer's Date is there to correct are a few
 * seconds to a few hours (no NTP, a drifting RTC, an RTC kept in local
 * time: at most 14 hours, the widest UTC offset); a clock wrong by more
 * than a day is broken in a way a Date header should not be trusted to
 * fix (systemd and NTP do), while a Date wrong by years is what broken or
 * hostile middleboxes send. So the worst a consumer, or anyone who can
 * answer in its name, can do to timestamps is shift them by a day.
 *
 * Pure: no I/O, no clock reads, no locking (the scheduler's context owns
 * it); the caller persists the applied offset and passes it back to
 * ep_clock_new() at the next start, which discards an implausible one
 * (see ep_clock_offset_is_plausible()).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EP_CLOCK_WINDOW 5
#define EP_CLOCK_MIN_SAMPLES 3
/* A Date header has a one-second resolution. */
#define EP_CLOCK_TOLERANCE_MS 1000
#define EP_CLOCK_DAY_MS ((gint64) 24 * 3600 * 1000)
/* The bound on the applied offset, either way (see above). */
#define EP_CLOCK_MAX_OFFSET_MS EP_CLOCK_DAY_MS
/* A sample farther than this from every other sample is an outlier. */
#define EP_CLOCK_OUTLIER_MS EP_CLOCK_DAY_MS
/* A larger Age makes the reply no sample (RFC 9111 allows 2^31 s). */
#define EP_CLOCK_MAX_AGE_S 3600
/* No consumer answers before the library was built (config.h: the build
 * day, from SOURCE_DATE_EPOCH when set), less the largest offset applied
 * (a day): a consumer behind by an hour is a sample also in the first hour
 * of the build day (test-clock failed from 00:00 to 01:00 UTC on a fresh
 * build, its consumer one hour behind). */
#define EP_CLOCK_EARLIEST_MS ((gint64) EP_BUILD_DAY_UNIX * 1000 - EP_CLOCK_MAX_OFFSET_MS)

typedef struct _EpClock EpClock;

/* @offset_ms: the applied offset restored from a previous run (0 if none);
 * beyond EP_CLOCK_MAX_OFFSET_MS it is discarded (0). */
EpClock  *ep_clock_new             (gint64       offset_ms);
void      ep_clock_free            (EpClock     *self);

/* The consumer's time in ms since the epoch when it answered, from the raw
 * `Date` and `Age` header values (@age nullable): the middle of the second
 * the Date names, plus Age. -1 when @date is NULL or not an HTTP-date, or
 * when Age is a number above EP_CLOCK_MAX_AGE_S (an Age that is not
 * delta-seconds is ignored). */
gint64    ep_clock_parse_date      (const char  *date,
                                    const char  *age);

/* Adds one sample: @server_ms from ep_clock_parse_date(), @received_ms the
 * local real time when the reply came (ms since the epoch), @round_trip_ms
 * the request's duration on a monotonic clock. A sample before
 * EP_CLOCK_EARLIEST_MS is ignored (not kept). Returns TRUE when the
 * applied offset changed. */
gboolean  ep_clock_add_sample      (EpClock     *self,
                                    gint64       server_ms,
                                    gint64       received_ms,
                                    gint64       round_trip_ms);

/* Whether an offset restored from a previous run may be applied when the
 * local clock reads @now_ms: within EP_CLOCK_MAX_OFFSET_MS, and the
 * corrected time not before EP_CLOCK_EARLIEST_MS. */
gboolean  ep_clock_offset_is_plausible (gint64   offset_ms,
                                        gint64   now_ms);

/* Add this to the local real time to get the consumer's time. */
gint64    ep_clock_get_offset_ms   (EpClock     *self);
/* The median of the current samples that are no outliers (0 when there
 * are none). */
gint64    ep_clock_get_estimate_ms_for_testing (EpClock     *self);
guint     ep_clock_get_n_samples_for_testing (EpClock     *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpClock, ep_clock_free)

G_END_DECLS
