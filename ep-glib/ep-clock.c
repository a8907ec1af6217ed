/* ep-clock.c: the consumer's clock, estimated from replies' Date
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-clock-private.h for the rules. The window is a small ring of
 * samples; the medians are taken over a sorted copy of the samples that
 * are no outliers (five numbers at most).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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

  if (ABS (offset_ms) > EP_CLOCK_MAX_OFFSET_MS)
    {
      g_debug ("A restored clock offset of %+" G_GINT64_FORMAT " ms is beyond the bound "
               "(%" G_GINT64_FORMAT " ms): discarded", offset_ms, EP_CLOCK_MAX_OFFSET_MS);
      offset_ms = 0;
    }
  self->applied_ms = offset_ms;
  return self;
}

gboolean
ep_clock_offset_is_plausible (gint64 offset_ms,
                              gint64 now_ms)
{
  return ABS (offset_ms) <= EP_CLOCK_MAX_OFFSET_MS && now_ms + offset_ms >= EP_CLOCK_EARLIEST_MS;
}

void
ep_clock_free (EpClock *self)
{
  g_free (self);
}

/* Age is delta-seconds (RFC 9111); anything else is ignored (0). A number
 * is returned as it is, however large (up to G_MAXINT64 / 1000). */
static gint64
parse_age_s (const char *age)
{
  g_autofree char *trimmed = NULL;
  guint64 value = 0;

  if (age == NULL)
    return 0;
  trimmed = g_strstrip (g_strdup (age));
  if (!g_ascii_string_to_unsigned (trimmed, 10, 0, G_MAXINT64 / 1000, &value, NULL))
    {
      /* digits only, but too many: as large as it gets */
      if (*trimmed != '\0' && strspn (trimmed, "0123456789") == strlen (trimmed))
        return G_MAXINT64 / 1000;
      return 0;
    }
  return (gint64) value;
}

gint64
ep_clock_parse_date (const char *date,
                     const char *age)
{
  g_autoptr(GDateTime) parsed = NULL;
  gint64 age_s;

  if (date == NULL)
    return -1;
  parsed = soup_date_time_new_from_http_string (date);
  if (parsed == NULL)
    return -1;
  age_s = parse_age_s (age);
  if (age_s > EP_CLOCK_MAX_AGE_S)
    return -1;
  /* The consumer's time was somewhere in that second: take its middle. */
  return (g_date_time_to_unix (parsed) + age_s) * 1000 + 500;
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

/* Whether sample @i is within EP_CLOCK_OUTLIER_MS of another sample. */
static gboolean
has_neighbour (EpClock *self,
               guint    i)
{
  for (guint j = 0; j < self->n_samples; j++)
    if (j != i && ABS (self->samples[j].offset_ms - self->samples[i].offset_ms) <= EP_CLOCK_OUTLIER_MS)
      return TRUE;
  return FALSE;
}

/* The offsets and round trips of the samples that are no outliers; returns
 * how many. */
static guint
collect_trusted (EpClock *self,
                 gint64  *offsets,
                 gint64  *round_trips)
{
  guint n = 0;

  for (guint i = 0; i < self->n_samples; i++)
    {
      if (!has_neighbour (self, i))
        continue;
      offsets[n] = self->samples[i].offset_ms;
      round_trips[n] = self->samples[i].round_trip_ms;
      n++;
    }
  return n;
}

gint64
ep_clock_get_estimate_ms_for_testing (EpClock *self)
{
  gint64 offsets[EP_CLOCK_WINDOW], round_trips[EP_CLOCK_WINDOW];
  guint n = collect_trusted (self, offsets, round_trips);

  return n > 0 ? median (offsets, n) : 0;
}

/* What the sample in the ring says, after checks that need no other. */
static gboolean
sample_is_plausible (gint64 server_ms)
{
  if (server_ms >= EP_CLOCK_EARLIEST_MS)
    return TRUE;
  g_debug ("A reply's Date is before this library was built (%" G_GINT64_FORMAT
           " s since the epoch): not a clock sample", server_ms / 1000);
  return FALSE;
}

gboolean
ep_clock_add_sample (EpClock *self,
                     gint64   server_ms,
                     gint64   received_ms,
                     gint64   round_trip_ms)
{
  Sample *sample = &self->samples[self->next];
  gint64 offsets[EP_CLOCK_WINDOW], round_trips[EP_CLOCK_WINDOW];
  gint64 estimate, tolerance, applied;
  guint n;

  if (!sample_is_plausible (server_ms))
    return FALSE;
  round_trip_ms = MAX (round_trip_ms, 0);
  sample->offset_ms = server_ms - (received_ms - round_trip_ms / 2);
  sample->round_trip_ms = round_trip_ms;
  self->next = (self->next + 1) % EP_CLOCK_WINDOW;
  self->n_samples = MIN (self->n_samples + 1, EP_CLOCK_WINDOW);

  n = collect_trusted (self, offsets, round_trips);
  if (n < EP_CLOCK_MIN_SAMPLES)
    return FALSE;
  estimate = median (offsets, n);
  tolerance = median (round_trips, n) + EP_CLOCK_TOLERANCE_MS;
  /* The corrected clock is as good as a Date can tell: keep it. */
  if (ABS (estimate - self->applied_ms) <= tolerance)
    return FALSE;
  if (ABS (estimate) > EP_CLOCK_MAX_OFFSET_MS)
    {
      g_debug ("The consumer's Dates say its clock is %+" G_GINT64_FORMAT " ms from ours, "
               "beyond the bound (%" G_GINT64_FORMAT " ms): not applied", estimate,
               EP_CLOCK_MAX_OFFSET_MS);
      return FALSE;
    }
  applied = ABS (estimate) > tolerance ? estimate : 0;
  if (applied == self->applied_ms)
    return FALSE;
  if (applied == 0)
    g_debug ("Our clock agrees with the consumer's again (within %" G_GINT64_FORMAT " ms)",
             tolerance);
  else
    g_debug ("The consumer's clock is %+" G_GINT64_FORMAT " ms from ours (median of %u replies, "
             "tolerance %" G_GINT64_FORMAT " ms): stamping events with it",
             applied, n, tolerance);
  self->applied_ms = applied;
  return TRUE;
}

gint64
ep_clock_get_offset_ms (EpClock *self)
{
  return self->applied_ms;
}

guint
ep_clock_get_n_samples_for_testing (EpClock *self)
{
  return self->n_samples;
}
