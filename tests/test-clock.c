/* test-clock.c: the consumer-clock estimator (pure, no I/O)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-clock-private.h"

#define HOUR_MS (3600 * (gint64) 1000)
/* An arbitrary local time (2026-11-29T12:00:00Z), in ms. */
#define NOW_MS ((gint64) 1795953600 * 1000)

/* A reply that took @rtt_ms and came at @received_ms from a consumer whose
 * clock is @offset_ms ahead: the consumer answered half-way. */
static gboolean
add (EpClock *clock,
     gint64   received_ms,
     gint64   rtt_ms,
     gint64   offset_ms)
{
  return ep_clock_add_sample (clock, received_ms - rtt_ms / 2 + offset_ms, received_ms, rtt_ms);
}

static void
test_parse_date (void)
{
  /* RFC 9110's example. */
  g_assert_cmpint (ep_clock_parse_date ("Sun, 06 Nov 1994 08:49:37 GMT", NULL), ==,
                   (gint64) 784111777 * 1000 + 500);
  /* A cache's Age adds how long it kept the reply. */
  g_assert_cmpint (ep_clock_parse_date ("Sun, 06 Nov 1994 08:49:37 GMT", " 30 "), ==,
                   (gint64) 784111807 * 1000 + 500);
  g_assert_cmpint (ep_clock_parse_date ("Sun, 06 Nov 1994 08:49:37 GMT", "soon"), ==,
                   (gint64) 784111777 * 1000 + 500);
  g_assert_cmpint (ep_clock_parse_date ("Sun, 06 Nov 1994 08:49:37 GMT", "-5"), ==,
                   (gint64) 784111777 * 1000 + 500);
  g_assert_cmpint (ep_clock_parse_date ("yesterday", NULL), ==, -1);
  g_assert_cmpint (ep_clock_parse_date ("", NULL), ==, -1);
  g_assert_cmpint (ep_clock_parse_date (NULL, "3"), ==, -1);
}

/* The sample is corrected by half the round trip. */
static void
test_half_round_trip (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  g_assert_false (ep_clock_add_sample (clock, NOW_MS - 300, NOW_MS, 600));
  g_assert_cmpuint (ep_clock_get_n_samples (clock), ==, 1);
  g_assert_cmpint (ep_clock_get_estimate_ms (clock), ==, 0);
  g_assert_false (ep_clock_add_sample (clock, NOW_MS + 5000, NOW_MS + 8000, 6000));
  g_assert_cmpint (ep_clock_get_estimate_ms (clock), ==, 0);
}

static void
check_consumer_off_by (gint64 offset_ms)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  /* Not on one or two replies alone... */
  g_assert_false (add (clock, NOW_MS, 40, offset_ms));
  g_assert_false (add (clock, NOW_MS + 1000, 60, offset_ms + 200));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
  /* ...but on three that agree. */
  g_assert_true (add (clock, NOW_MS + 2000, 50, offset_ms - 300));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, offset_ms);
  /* Jitter within the tolerance changes nothing. */
  g_assert_false (add (clock, NOW_MS + 3000, 50, offset_ms + 900));
  g_assert_false (add (clock, NOW_MS + 4000, 50, offset_ms + 800));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, offset_ms);
}

static void
test_consumer_ahead (void)
{
  check_consumer_off_by (HOUR_MS);
}

static void
test_consumer_behind (void)
{
  check_consumer_off_by (-HOUR_MS);
}

/* Within the round trip plus a second the local clock is kept. */
static void
test_within_tolerance (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  for (guint i = 0; i < 10; i++)
    g_assert_false (add (clock, NOW_MS + i * 1000, 100, 1050));
  g_assert_cmpint (ep_clock_get_estimate_ms (clock), ==, 1050);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);

  /* A slow round trip widens the tolerance... */
  for (guint i = 0; i < 5; i++)
    g_assert_false (add (clock, NOW_MS + i * 1000, 3000, 3500));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
  /* ...a fast one narrows it. */
  g_assert_false (add (clock, NOW_MS, 100, 3500));
  g_assert_false (add (clock, NOW_MS, 100, 3500));
  g_assert_true (add (clock, NOW_MS, 100, 3500));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 3500);
}

/* One bad Date (a proxy's cached reply from last week, a consumer whose
 * clock jumped) cannot move the offset beyond the good samples. */
static void
test_outlier (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  for (guint i = 0; i < 5; i++)
    add (clock, NOW_MS + i * 1000, 50, HOUR_MS);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
  g_assert_false (add (clock, NOW_MS + 6000, 50, -7 * 24 * HOUR_MS));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
  g_assert_false (add (clock, NOW_MS + 7000, 50, HOUR_MS + 400));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
}

/* An outlier first, with nothing to outvote it yet, is not applied. */
static void
test_outlier_first (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  g_assert_false (add (clock, NOW_MS, 50, -7 * 24 * HOUR_MS));
  g_assert_false (add (clock, NOW_MS + 1000, 50, 0));
  g_assert_false (add (clock, NOW_MS + 2000, 50, 100));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
  g_assert_cmpint (ep_clock_get_estimate_ms (clock), ==, 0);
}

/* A restored offset holds until the replies disagree with it; a clock set
 * right (by NTP, by the user) brings it back to 0. */
static void
test_restored (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (HOUR_MS);

  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
  for (guint i = 0; i < 5; i++)
    g_assert_false (add (clock, NOW_MS + i * 1000, 50, HOUR_MS - 700));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);

  g_assert_false (add (clock, NOW_MS + 10000, 50, 300));
  g_assert_false (add (clock, NOW_MS + 11000, 50, 300));
  g_assert_true (add (clock, NOW_MS + 12000, 50, 300));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ep/clock/parse-date", test_parse_date);
  g_test_add_func ("/ep/clock/half-round-trip", test_half_round_trip);
  g_test_add_func ("/ep/clock/consumer-ahead", test_consumer_ahead);
  g_test_add_func ("/ep/clock/consumer-behind", test_consumer_behind);
  g_test_add_func ("/ep/clock/within-tolerance", test_within_tolerance);
  g_test_add_func ("/ep/clock/outlier", test_outlier);
  g_test_add_func ("/ep/clock/outlier-first", test_outlier_first);
  g_test_add_func ("/ep/clock/restored", test_restored);

  return g_test_run ();
}
