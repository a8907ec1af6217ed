/* ep-clock.c: the consumer's clock, estimated from replies' Date
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-clock-private.h for the rules. The window is a small ring of
 * samples; the medians are taken over a sorted copy (five numbers).
 */
#include "config.h"

#include <stdlib.h>

#include <libsoup/soup.h>

#include "ep-clock-private.h"

typedef struct {
  gint64 offset_ms;       /* consumer time - local time */
  gint64 round_trip_ms;
} Sample;

struct _EpClock
{
  Sample  samples[EP_CLOCK_WINDOW];  /* ring; the oldest at @next once full */
  guint   n_samples;
  guint   next;
  gint64  applied_ms;                /* what events are stamped with */
};

EpClock *
ep_clock_new (gint64 offset_ms)
{
  EpClock *self = g_new0 (EpClock, 1);

  self->applied_ms = offset_ms;
  return self;
}

void
ep_clock_free (EpClock *self)
{
  g_free (self);
}

/* Age is delta-seconds (RFC 9111); anything else is ignored. */
static gint64
parse_age_s (const char *age)
{
  g_autofree char *trimmed = NULL;
  guint64 value = 0;

  if (age == NULL)
    return 0;
  trimmed = g_strstrip (g_strdup (age));
  if (!g_ascii_string_to_unsigned (trimmed, 10, 0, G_MAXINT32, &value, NULL))
    return 0;
  return (gint64) value;
}

gint64
ep_clock_parse_date (const char *date,
                     const char *age)
{
  g_autoptr(GDateTime) parsed = NULL;

  if (date == NULL)
    return -1;
  parsed = soup_date_time_new_from_http_string (date);
  if (parsed == NULL)
    return -1;
  /* The consumer's time was somewhere in that second: take its middle. */
  return (g_date_time_to_unix (parsed) + parse_age_s (age)) * 1000 + 500;
}

static int
compare_gint64 (gconstpointer a,
                gconstpointer b)
{
  gint64 x = *(const gint64 *) a;
  gint64 y = *(const gint64 *) b;

  return (x > y) - (x < y);
}

/* The median of @n values (the mean of the middle two when @n is even). */
static gint64
median (gint64 *values,
        guint   n)
{
  g_assert (n > 0);
  qsort (values, n, sizeof (gint64), compare_gint64);
  if (n % 2 == 1)
    return values[n / 2];
  return values[n / 2 - 1] + (values[n / 2] - values[n / 2 - 1]) / 2;
}

gint64
ep_clock_get_estimate_ms (EpClock *self)
{
  gint64 values[EP_CLOCK_WINDOW];

  if (self->n_samples == 0)
    return 0;
  for (guint i = 0; i < self->n_samples; i++)
    values[i] = self->samples[i].offset_ms;
  return median (values, self->n_samples);
}

static gint64
tolerance_ms (EpClock *self)
{
  gint64 values[EP_CLOCK_WINDOW];

  for (guint i = 0; i < self->n_samples; i++)
    values[i] = self->samples[i].round_trip_ms;
  return median (values, self->n_samples) + EP_CLOCK_TOLERANCE_MS;
}

gboolean
ep_clock_add_sample (EpClock *self,
                     gint64   server_ms,
                     gint64   received_ms,
                     gint64   round_trip_ms)
{
  Sample *sample = &self->samples[self->next];
  gint64 estimate, tolerance, applied;

  round_trip_ms = MAX (round_trip_ms, 0);
  sample->offset_ms = server_ms - (received_ms - round_trip_ms / 2);
  sample->round_trip_ms = round_trip_ms;
  self->next = (self->next + 1) % EP_CLOCK_WINDOW;
  self->n_samples = MIN (self->n_samples + 1, EP_CLOCK_WINDOW);
  if (self->n_samples < EP_CLOCK_MIN_SAMPLES)
    return FALSE;

  estimate = ep_clock_get_estimate_ms (self);
  tolerance = tolerance_ms (self);
  /* The corrected clock is as good as a Date can tell: keep it. */
  if (ABS (estimate - self->applied_ms) <= tolerance)
    return FALSE;
  applied = ABS (estimate) > tolerance ? estimate : 0;
  if (applied == self->applied_ms)
    return FALSE;
  if (applied == 0)
    g_debug ("Our clock agrees with the consumer's again (within %" G_GINT64_FORMAT " ms)",
             tolerance);
  else
    g_debug ("The consumer's clock is %+" G_GINT64_FORMAT " ms from ours (median of %u replies, "
             "tolerance %" G_GINT64_FORMAT " ms): stamping events with it",
             applied, self->n_samples, tolerance);
  self->applied_ms = applied;
  return TRUE;
}

gint64
ep_clock_get_offset_ms (EpClock *self)
{
  return self->applied_ms;
}

guint
ep_clock_get_n_samples (EpClock *self)
{
  return self->n_samples;
}
