/* test-clock.c: the consumer-clock estimator (pure, no I/O)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <json-glib/json-glib.h>

#include "ep-clock-private.h"
#include "ep-monitor-private.h"
#include "ep-producer-state-private.h"
#include "ep-scheduler-private.h"
#include "ep-sqs-private.h"
#include "ep-test-server.h"
#include "ep-test-util.h"

#define HOUR_MS (3600 * (gint64) 1000)
/* A local time, in ms: noon, 30 days after EP_CLOCK_EARLIEST_MS (a reply
 * dated before that is no sample). */
#define NOW_MS (EP_CLOCK_EARLIEST_MS + 30 * 24 * HOUR_MS + 12 * HOUR_MS)

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
  g_assert_cmpuint (ep_clock_get_n_samples_for_testing (clock), ==, 1);
  g_assert_cmpint (ep_clock_get_estimate_ms_for_testing (clock), ==, 0);
  g_assert_false (ep_clock_add_sample (clock, NOW_MS + 5000, NOW_MS + 8000, 6000));
  g_assert_cmpint (ep_clock_get_estimate_ms_for_testing (clock), ==, 0);
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
  g_assert_cmpint (ep_clock_get_estimate_ms_for_testing (clock), ==, 1050);
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
  /* the median of the two that agree: the week-old Date is no part of it */
  g_assert_cmpint (ep_clock_get_estimate_ms_for_testing (clock), ==, 50);
}

/* Hostile Dates ----------------------------------------------------------- */

/* Fri, 31 Dec 9999 23:59:59 GMT, and Thu, 01 Jan 1970 00:00:00 GMT. */
#define YEAR_9999_MS ((gint64) 253402300799 * 1000)
#define YEAR_1970_MS ((gint64) 0)

/* A consumer (or anyone answering in its name) whose every reply is dated
 * @server_ms: the applied offset never moves. */
static void
check_constant_date_ignored (gint64 server_ms)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    g_assert_false (ep_clock_add_sample (clock, server_ms, NOW_MS + i * 1000, 50));
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
}

/* Year 9999: ~+251 billion seconds, beyond the bound. */
static void
test_date_year_9999 (void)
{
  check_constant_date_ignored (YEAR_9999_MS);
}

/* 1970: before the library was built, not even kept as a sample. */
static void
test_date_1970 (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  check_constant_date_ignored (YEAR_1970_MS);
  check_constant_date_ignored (EP_CLOCK_EARLIEST_MS - 1000);
  g_assert_false (ep_clock_add_sample (clock, YEAR_1970_MS, NOW_MS, 50));
  g_assert_cmpuint (ep_clock_get_n_samples_for_testing (clock), ==, 0);
}

/* Just after midnight (UTC) of the build day, a consumer an hour behind
 * dates its replies the day before: they are samples, and the offset is
 * applied (they were ignored as "before this library was built"; the
 * scheduler's consumer-behind test failed from 00:00 to 01:00 UTC on a
 * fresh build). */
static void
test_behind_on_build_day (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);
  gint64 now_ms = (gint64) EP_BUILD_DAY_UNIX * 1000 + 10 * 60 * 1000;
  gboolean changed = FALSE;

  for (guint i = 0; i < EP_CLOCK_MIN_SAMPLES; i++)
    changed |= add (clock, now_ms + i * 1000, 50, -HOUR_MS);
  g_assert_true (changed);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), >=, -HOUR_MS - 1000);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), <=, -HOUR_MS + 1000);
  g_assert_true (ep_clock_offset_is_plausible (-HOUR_MS, now_ms));
}

/* The bound: consistent samples a little within a day are applied, a
 * little beyond it are not (either way). */
static void
test_offset_bound (void)
{
  for (int sign = -1; sign <= 1; sign += 2)
    {
      g_autoptr(EpClock) within = ep_clock_new (0);
      g_autoptr(EpClock) beyond = ep_clock_new (0);

      for (guint i = 0; i < EP_CLOCK_WINDOW; i++)
        {
          add (within, NOW_MS + i * 1000, 50, sign * (EP_CLOCK_MAX_OFFSET_MS - HOUR_MS));
          add (beyond, NOW_MS + i * 1000, 50, sign * (EP_CLOCK_MAX_OFFSET_MS + HOUR_MS));
        }
      g_assert_cmpint (ep_clock_get_offset_ms (within), ==, sign * (EP_CLOCK_MAX_OFFSET_MS - HOUR_MS));
      g_assert_cmpint (ep_clock_get_offset_ms (beyond), ==, 0);
    }
}

/* A hostile run after a good one: the good offset stays. */
static void
test_hostile_after_good (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  for (guint i = 0; i < EP_CLOCK_WINDOW; i++)
    add (clock, NOW_MS + i * 1000, 50, HOUR_MS);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    {
      g_assert_false (ep_clock_add_sample (clock, YEAR_9999_MS, NOW_MS + (10 + i) * 1000, 50));
      g_assert_false (ep_clock_add_sample (clock, YEAR_1970_MS, NOW_MS + (10 + i) * 1000, 50));
    }
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS);
}

/* Two wild Dates that agree with each other are outvoted by three good
 * ones; a lone one is not even counted. */
static void
test_far_from_every_other (void)
{
  g_autoptr(EpClock) clock = ep_clock_new (0);

  add (clock, NOW_MS, 50, 3 * 24 * HOUR_MS);
  add (clock, NOW_MS + 1000, 50, 3 * 24 * HOUR_MS + 200);
  add (clock, NOW_MS + 2000, 50, HOUR_MS);
  add (clock, NOW_MS + 3000, 50, HOUR_MS + 100);
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, 0);
  g_assert_true (add (clock, NOW_MS + 4000, 50, HOUR_MS - 100));
  /* the median of the five: the wild pair is outvoted */
  g_assert_cmpint (ep_clock_get_offset_ms (clock), ==, HOUR_MS + 100);
}

/* Age: delta-seconds up to an hour are added; a larger one (RFC 9111
 * allows 2^31) makes the reply no sample. */
static void
test_huge_age (void)
{
  const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";

  g_assert_cmpint (ep_clock_parse_date (date, "3600"), ==, (gint64) (784111777 + 3600) * 1000 + 500);
  g_assert_cmpint (ep_clock_parse_date (date, "3601"), ==, -1);
  g_assert_cmpint (ep_clock_parse_date (date, "2147483647"), ==, -1);
  g_assert_cmpint (ep_clock_parse_date (date, "2147483648"), ==, -1);
  g_assert_cmpint (ep_clock_parse_date (date, "99999999999999999999999"), ==, -1);
}

/* A restored offset beyond the bound, or one that puts the time before
 * the build, is discarded. */
static void
test_restored_implausible (void)
{
  g_autoptr(EpClock) huge = ep_clock_new (YEAR_9999_MS - NOW_MS);
  g_autoptr(EpClock) ok = ep_clock_new (-HOUR_MS);

  g_assert_cmpint (ep_clock_get_offset_ms (huge), ==, 0);
  g_assert_cmpint (ep_clock_get_offset_ms (ok), ==, -HOUR_MS);
  g_assert_true (ep_clock_offset_is_plausible (0, NOW_MS));
  g_assert_true (ep_clock_offset_is_plausible (-HOUR_MS, NOW_MS));
  g_assert_false (ep_clock_offset_is_plausible (-NOW_MS, NOW_MS));
  g_assert_false (ep_clock_offset_is_plausible (YEAR_9999_MS - NOW_MS, NOW_MS));
  g_assert_false (ep_clock_offset_is_plausible (EP_CLOCK_MAX_OFFSET_MS + 1, NOW_MS));
  /* a local clock before the build with no offset to fix it */
  g_assert_false (ep_clock_offset_is_plausible (0, EP_CLOCK_EARLIEST_MS - HOUR_MS));
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

/* The scheduler against a scripted consumer ------------------------------ */

typedef struct {
  EpTestConsumer consumer;
  EpQueue      *queue;
  EpMonitor    *monitor;
  EpTransport  *transport;
  EpScheduler  *scheduler;
  GArray       *offsets;     /* (element-type gint64): each clock_offset_changed */
} Fixture;

static void
on_clock_offset_changed (gpointer user_data,
                         gint64   offset_ms)
{
  Fixture *fx = user_data;

  g_array_append_val (fx->offsets, offset_ms);
}

static void
fixture_start (Fixture *fx,
               gint64   restored_ms)
{
  g_autoptr(GError) error = NULL;
  EpSchedulerConfig config = {
    .consumer_uri = fx->consumer.uri,
    .public_consumer_uri = fx->consumer.public_uri,
    .batch_interval_ms = 3600 * 1000,
    .monitoring_interval_ms = 3600 * 1000,
    .request_timeout_ms = 10000,
    .max_in_flight = 1,
    .clock_offset_ms = restored_ms,
  };
  static const EpSchedulerCallbacks callbacks = {
    .clock_offset_changed = on_clock_offset_changed,
  };

  fx->queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  fx->monitor = ep_monitor_new ();
  fx->transport = ep_transport_new ("test-clock", 10000);
  fx->scheduler = ep_scheduler_new (fx->queue, fx->monitor, fx->transport, &config, &callbacks, fx);
  ep_scheduler_start (fx->scheduler);
}

static void
fixture_stop (Fixture *fx)
{
  ep_scheduler_disconnect (fx->scheduler);
  g_clear_object (&fx->scheduler);
  g_clear_object (&fx->transport);
  g_clear_object (&fx->monitor);
  ep_queue_close (fx->queue);
  g_clear_object (&fx->queue);
}

static void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  ep_test_consumer_init (&fx->consumer, "clock", NULL);
  fx->offsets = g_array_new (FALSE, FALSE, sizeof (gint64));
  fixture_start (fx, 0);
}

static void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  fixture_stop (fx);
  ep_test_consumer_clear (&fx->consumer);
  g_array_unref (fx->offsets);
}

/* Queues one event and delivers it: one request, one reply, one sample. */
static void
deliver_one (Fixture *fx)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = g_uuid_string_random ();
  guint n_requests = ep_test_server_get_n_requests (fx->consumer.server);

  ep_event_record_build (record, g_get_real_time (), id, "clock", 5, "{}", 2, "{}", 2);
  g_assert_true (ep_queue_append (fx->queue, record->data, record->len,
                                  EP_UUID_LEN + 5 + 2 + 2, &error));
  g_assert_no_error (error);
  ep_scheduler_flush_async (fx->scheduler, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  g_assert_true (ep_scheduler_flush_finish (fx->scheduler, result, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), ==, n_requests + 1);
}

static gint64
last_offset (Fixture *fx)
{
  g_assert_cmpuint (fx->offsets->len, >, 0);
  return g_array_index (fx->offsets, gint64, fx->offsets->len - 1);
}

/* Within what a Date can tell (its second) plus a loopback round trip. */
static void
assert_offset_near (gint64 offset_ms,
                    gint64 expected_ms)
{
  g_assert_cmpint (offset_ms, >=, expected_ms - 1500);
  g_assert_cmpint (offset_ms, <=, expected_ms + 1500);
}

static void
check_scheduler_follows (Fixture *fx,
                         gint64   offset_s)
{
  ep_test_server_set_date_offset (fx->consumer.server, offset_s);
  deliver_one (fx);
  deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);
  deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
  assert_offset_near (last_offset (fx), offset_s * 1000);
  /* More replies that agree report nothing new. */
  deliver_one (fx);
  deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
}

static void
test_scheduler_consumer_ahead (Fixture       *fx,
                               gconstpointer  data)
{
  check_scheduler_follows (fx, 3600);
}

/* How far behind ours a consumer's clock is in the tests below: an hour,
 * unless that puts its time before the library's build day
 * (EP_CLOCK_EARLIEST_MS: such a Date is not trusted), as it does in the
 * first hour of the UTC day the build was configured on; then as far as
 * it can be, with a minute to spare. Under a minute: the test skips. */
static gint64
behind_s (void)
{
  gint64 room_s = (g_get_real_time () / 1000 - EP_CLOCK_EARLIEST_MS) / 1000 - 60;

  if (room_s < 60)
    g_test_skip ("less than two minutes into the UTC day the library was built on");
  return MIN (3600, room_s);
}

static void
test_scheduler_consumer_behind (Fixture       *fx,
                                gconstpointer  data)
{
  gint64 behind = behind_s ();

  if (behind >= 60)
    check_scheduler_follows (fx, -behind);
}

/* A consumer whose clock agrees with ours changes nothing. */
static void
test_scheduler_consumer_agrees (Fixture       *fx,
                                gconstpointer  data)
{
  for (guint i = 0; i < 4; i++)
    deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);
}

/* One reply with a Date a week old (a proxy's cached reply) does not move
 * the offset. */
static void
test_scheduler_outlier (Fixture       *fx,
                        gconstpointer  data)
{
  check_scheduler_follows (fx, 3600);
  ep_test_server_set_date_offset (fx->consumer.server, -7 * 24 * 3600);
  deliver_one (fx);
  ep_test_server_set_date_offset (fx->consumer.server, 3600);
  deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
}

/* A restored offset holds without a report while replies agree with it;
 * the consumer's clock set right brings it back to 0. */
static void
test_scheduler_restored (Fixture       *fx,
                         gconstpointer  data)
{
  fixture_stop (fx);
  fixture_start (fx, 3600 * 1000);
  ep_test_server_set_date_offset (fx->consumer.server, 3600);
  for (guint i = 0; i < 4; i++)
    deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);

  ep_test_server_set_date_offset (fx->consumer.server, 0);
  for (guint i = 0; i < 3; i++)
    deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
  g_assert_cmpint (last_offset (fx), ==, 0);
}

/* Queues one event and flushes once, whatever the reply: one request
 * when it fails. */
static void
post_one (Fixture *fx)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *id = g_uuid_string_random ();
  guint n_requests = ep_test_server_get_n_requests (fx->consumer.server);
  guint n_queued = ep_queue_get_length (fx->queue) + 1;

  ep_event_record_build (record, g_get_real_time (), id, "clock", 5, "{}", 2, "{}", 2);
  g_assert_true (ep_queue_append (fx->queue, record->data, record->len,
                                  EP_UUID_LEN + 5 + 2 + 2, NULL));
  ep_scheduler_flush_async (fx->scheduler, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  (void) ep_scheduler_flush_finish (fx->scheduler, result, NULL);
  /* a failed batch ends the flush; a good one sends the rest too */
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), >=, n_requests + 1);
  g_assert_cmpuint (ep_test_server_get_n_requests (fx->consumer.server), <=,
                    n_requests + (n_queued + 9) / 10);
}

/* A captive portal answers 200 with its own HTML page, dated by its own
 * (here: plausible but three hours off) clock: not the consumer's reply,
 * no sample. The same Dates on the consumer's SQS replies do move it. */
static void
test_scheduler_captive_portal (Fixture       *fx,
                               gconstpointer  data)
{
  ep_test_server_set_date_offset (fx->consumer.server, 3 * 3600);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 200,
                              "<html><body>Welcome! Please log in.</body></html>", NULL);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    post_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);

  /* The consumer's own replies with the same Dates: the offset follows
   * (the queue held 10 events: one flush, two requests). */
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  post_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);
  deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
  assert_offset_near (last_offset (fx), 3 * 3600 * 1000);
}

/* The same for a proxy's HTML error page (502) and a 401 without SQS XML. */
static void
test_scheduler_proxy_error_page (Fixture       *fx,
                                 gconstpointer  data)
{
  ep_test_server_set_date_offset (fx->consumer.server, 3 * 3600);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 502,
                              "<html><body>Bad gateway</body></html>", NULL);
  for (guint i = 0; i < EP_CLOCK_WINDOW; i++)
    post_one (fx);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 401,
                              "<html><body>Unauthorized</body></html>", NULL);
  for (guint i = 0; i < EP_CLOCK_WINDOW; i++)
    post_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);
}

/* SQS error replies are the consumer's own: their Dates count. */
static void
test_scheduler_sqs_error_counts (Fixture       *fx,
                                 gconstpointer  data)
{
  ep_test_server_set_date_offset (fx->consumer.server, 3 * 3600);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 500,
                              "<ErrorResponse xmlns=\"" EP_SQS_XMLNS "\"><Error><Type>Receiver</Type>"
                              "<Code>InternalFailure</Code><Message>x</Message></Error>"
                              "<RequestId>r</RequestId></ErrorResponse>", NULL);
  for (guint i = 0; i < EP_CLOCK_MIN_SAMPLES; i++)
    post_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 1);
  assert_offset_near (last_offset (fx), 3 * 3600 * 1000);
}

/* Valid SQS replies with a hostile Date: nothing is applied. */
static void
check_scheduler_ignores (Fixture    *fx,
                         const char *date,
                         const char *age)
{
  ep_test_server_set_clock_headers (fx->consumer.server, date, age);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    deliver_one (fx);
  g_assert_cmpuint (fx->offsets->len, ==, 0);
}

static void
test_scheduler_year_9999 (Fixture       *fx,
                          gconstpointer  data)
{
  check_scheduler_ignores (fx, "Fri, 31 Dec 9999 23:59:59 GMT", NULL);
}

static void
test_scheduler_1970 (Fixture       *fx,
                     gconstpointer  data)
{
  check_scheduler_ignores (fx, "Thu, 01 Jan 1970 00:00:00 GMT", NULL);
}

/* A correct Date with an Age of 2^31 - 1 s (68 years). */
static void
test_scheduler_huge_age (Fixture       *fx,
                         gconstpointer  data)
{
  check_scheduler_ignores (fx, NULL, "2147483647");
}

/* The producer stamps events with the consumer's clock ------------------- */

typedef struct {
  EpTestConsumer consumer;
  EpProducer   *producer;
} ProducerFixture;

static void
producer_start (ProducerFixture *fx)
{
  fx->producer = ep_test_consumer_new_producer (&fx->consumer, NULL);
}

static void
producer_setup (ProducerFixture *fx,
                gconstpointer    data)
{
  ep_test_consumer_init (&fx->consumer, "clock-producer", NULL);
  producer_start (fx);
}

static void
producer_teardown (ProducerFixture *fx,
                   gconstpointer    data)
{
  g_clear_object (&fx->producer);
  ep_test_consumer_clear (&fx->consumer);
}

/* Sends one event named @name and delivers it. */
static void
send_and_deliver (ProducerFixture *fx,
                  const char      *name)
{
  g_autoptr(GError) error = NULL;

  ep_producer_send_event (fx->producer, name, EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
  g_assert_true (ep_test_flush (fx->producer, &error));
  g_assert_no_error (error);
}

/* The delivered entry of event @name (the test fails without one). */
static EpTestEntry *
delivered_entry (ProducerFixture *fx,
                 const char      *name)
{
  GPtrArray *requests = ep_test_server_get_requests (fx->consumer.server);

  for (guint i = 0; i < requests->len; i++)
    {
      EpTestRequest *request = g_ptr_array_index (requests, i);

      for (guint j = 0; j < request->entries->len; j++)
        {
          EpTestEntry *entry = g_ptr_array_index (request->entries, j);

          if (g_strcmp0 (entry->name, name) == 0)
            return entry;
        }
    }
  g_assert_not_reached ();
}

/* requested-sent-timestamp of the delivered event @name, minus now (ms). */
static gint64
stamp_offset_ms (ProducerFixture *fx,
                 const char      *name)
{
  g_autoptr(JsonNode) headers = json_from_string (delivered_entry (fx, name)->headers_json, NULL);
  const char *stamp;

  g_assert_nonnull (headers);
  stamp = json_object_get_string_member (json_node_get_object (headers),
                                         "requested-sent-timestamp");
  return g_ascii_strtoll (stamp, NULL, 10) - g_get_real_time () / 1000;
}

/* The `ts` member of the delivered stamped payload of event @name, minus
 * now (ms). */
static gint64
payload_ts_offset_ms (ProducerFixture *fx,
                      const char      *name)
{
  g_autoptr(JsonNode) body = json_from_string (delivered_entry (fx, name)->body, NULL);

  g_assert_nonnull (body);
  return json_object_get_int_member (json_node_get_object (body), "ts") -
         g_get_real_time () / 1000;
}

/* Within the Date's second, the round trips and the test's own pace. */
static void
assert_near (gint64 value_ms,
             gint64 expected_ms)
{
  g_assert_cmpint (value_ms, >=, expected_ms - 3000);
  g_assert_cmpint (value_ms, <=, expected_ms + 3000);
}

static void
check_producer_follows (ProducerFixture *fx,
                        gint64           offset_s)
{
  ep_test_server_set_date_offset (fx->consumer.server, offset_s);
  send_and_deliver (fx, "first");
  send_and_deliver (fx, "second");
  send_and_deliver (fx, "third");
  /* Stored before any reply: the local clock. */
  assert_near (stamp_offset_ms (fx, "first"), 0);
  send_and_deliver (fx, "after");
  assert_near (stamp_offset_ms (fx, "after"), offset_s * 1000);
}

static void
test_producer_consumer_ahead (ProducerFixture *fx,
                              gconstpointer    data)
{
  check_producer_follows (fx, 3600);
}

static void
test_producer_consumer_behind (ProducerFixture *fx,
                               gconstpointer    data)
{
  gint64 behind = behind_s ();

  if (behind >= 60)
    check_producer_follows (fx, -behind);
}

/* Persisted: the first events after a restart are corrected already. */
static void
test_producer_restart (ProducerFixture *fx,
                       gconstpointer    data)
{
  check_producer_follows (fx, 3600);
  g_clear_object (&fx->producer);
  producer_start (fx);
  send_and_deliver (fx, "restarted");
  assert_near (stamp_offset_ms (fx, "restarted"), 3600 * 1000);
}

/* stamp-payload: the web producer's `ts` is on the consumer's clock too. */
static void
test_producer_stamp_payload (ProducerFixture *fx,
                             gconstpointer    data)
{
  g_clear_object (&fx->producer);
  fx->producer = ep_test_consumer_new_producer (&fx->consumer, "stamp-payload", TRUE, NULL);
  check_producer_follows (fx, 3600);
  g_assert_cmpint (payload_ts_offset_ms (fx, "first") - stamp_offset_ms (fx, "first"), >=, -1000);
  g_assert_cmpint (payload_ts_offset_ms (fx, "first") - stamp_offset_ms (fx, "first"), <=, 1000);
  assert_near (payload_ts_offset_ms (fx, "after"), 3600 * 1000);
}

/* One reply with a week-old Date does not move the offset. */
static void
test_producer_outlier (ProducerFixture *fx,
                       gconstpointer    data)
{
  check_producer_follows (fx, 3600);
  ep_test_server_set_date_offset (fx->consumer.server, -7 * 24 * 3600);
  send_and_deliver (fx, "outlier");
  ep_test_server_set_date_offset (fx->consumer.server, 3600);
  send_and_deliver (fx, "after-outlier");
  assert_near (stamp_offset_ms (fx, "after-outlier"), 3600 * 1000);
}

/* A consumer (or a middlebox speaking SQS) dating every reply 1970: the
 * events are stamped with the local clock, also after a restart. */
static void
test_producer_1970 (ProducerFixture *fx,
                    gconstpointer    data)
{
  ep_test_server_set_clock_headers (fx->consumer.server, "Thu, 01 Jan 1970 00:00:00 GMT", NULL);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    send_and_deliver (fx, "behind-1970");
  send_and_deliver (fx, "after-1970");
  assert_near (stamp_offset_ms (fx, "after-1970"), 0);
  g_clear_object (&fx->producer);
  producer_start (fx);
  send_and_deliver (fx, "restarted");
  assert_near (stamp_offset_ms (fx, "restarted"), 0);
}

static void
test_producer_year_9999 (ProducerFixture *fx,
                         gconstpointer    data)
{
  ep_test_server_set_clock_headers (fx->consumer.server, "Fri, 31 Dec 9999 23:59:59 GMT", NULL);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    send_and_deliver (fx, "behind-9999");
  send_and_deliver (fx, "after-9999");
  assert_near (stamp_offset_ms (fx, "after-9999"), 0);
}

/* The incident: a captive portal's HTML 200, dated 1970, on every request
 * for a while; then the network is back. No event is stamped 1970. */
static void
test_producer_captive_portal (ProducerFixture *fx,
                              gconstpointer    data)
{
  ep_test_server_set_clock_headers (fx->consumer.server, "Thu, 01 Jan 1970 00:00:00 GMT", NULL);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_REPLY, 200,
                              "<html><body>Welcome to the captive portal</body></html>", NULL);
  for (guint i = 0; i < 2 * EP_CLOCK_WINDOW; i++)
    {
      ep_producer_send_event (fx->producer, "portal", EP_CONSENT_CATEGORY_NECESSARY, "{}", NULL);
      g_assert_false (ep_test_flush (fx->producer, NULL));
    }
  ep_test_server_set_clock_headers (fx->consumer.server, NULL, NULL);
  ep_test_server_set_default (fx->consumer.server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  send_and_deliver (fx, "after-portal");
  assert_near (stamp_offset_ms (fx, "portal"), 0);
  assert_near (stamp_offset_ms (fx, "after-portal"), 0);
}

/* An offset persisted by an older release (or edited by hand) that puts
 * the time in 1970 is discarded at start. */
static void
test_producer_implausible_restored (ProducerFixture *fx,
                                    gconstpointer    data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = NULL;
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(EpProducerState) state = NULL;

  g_clear_object (&fx->producer);
  queue = ep_queue_open (fx->consumer.dir, 0, FALSE, NULL, &error);
  g_assert_no_error (error);
  state = ep_producer_state_new (queue, monitor);
  ep_producer_state_set_clock_offset (state, -g_get_real_time () / 1000);
  g_assert_true (ep_producer_state_save (state, &error));
  g_assert_no_error (error);
  ep_producer_state_close (state);
  ep_queue_close (queue);

  producer_start (fx);
  send_and_deliver (fx, "restarted");
  assert_near (stamp_offset_ms (fx, "restarted"), 0);
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/clock/parse-date", test_parse_date);
  g_test_add_func ("/ep/clock/half-round-trip", test_half_round_trip);
  g_test_add_func ("/ep/clock/consumer-ahead", test_consumer_ahead);
  g_test_add_func ("/ep/clock/consumer-behind", test_consumer_behind);
  g_test_add_func ("/ep/clock/within-tolerance", test_within_tolerance);
  g_test_add_func ("/ep/clock/outlier", test_outlier);
  g_test_add_func ("/ep/clock/outlier-first", test_outlier_first);
  g_test_add_func ("/ep/clock/restored", test_restored);
  g_test_add_func ("/ep/clock/hostile/year-9999", test_date_year_9999);
  g_test_add_func ("/ep/clock/hostile/1970", test_date_1970);
  g_test_add_func ("/ep/clock/hostile/offset-bound", test_offset_bound);
  g_test_add_func ("/ep/clock/behind-on-build-day", test_behind_on_build_day);
  g_test_add_func ("/ep/clock/hostile/after-good", test_hostile_after_good);
  g_test_add_func ("/ep/clock/hostile/far-from-every-other", test_far_from_every_other);
  g_test_add_func ("/ep/clock/hostile/huge-age", test_huge_age);
  g_test_add_func ("/ep/clock/hostile/restored-implausible", test_restored_implausible);
  g_test_add ("/ep/clock/scheduler/captive-portal", Fixture, NULL,
              fixture_setup, test_scheduler_captive_portal, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/proxy-error-page", Fixture, NULL,
              fixture_setup, test_scheduler_proxy_error_page, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/sqs-error-counts", Fixture, NULL,
              fixture_setup, test_scheduler_sqs_error_counts, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/year-9999", Fixture, NULL,
              fixture_setup, test_scheduler_year_9999, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/1970", Fixture, NULL,
              fixture_setup, test_scheduler_1970, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/huge-age", Fixture, NULL,
              fixture_setup, test_scheduler_huge_age, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/consumer-ahead", Fixture, NULL,
              fixture_setup, test_scheduler_consumer_ahead, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/consumer-behind", Fixture, NULL,
              fixture_setup, test_scheduler_consumer_behind, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/consumer-agrees", Fixture, NULL,
              fixture_setup, test_scheduler_consumer_agrees, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/outlier", Fixture, NULL,
              fixture_setup, test_scheduler_outlier, fixture_teardown);
  g_test_add ("/ep/clock/scheduler/restored", Fixture, NULL,
              fixture_setup, test_scheduler_restored, fixture_teardown);
  g_test_add ("/ep/clock/producer/consumer-ahead", ProducerFixture, NULL,
              producer_setup, test_producer_consumer_ahead, producer_teardown);
  g_test_add ("/ep/clock/producer/consumer-behind", ProducerFixture, NULL,
              producer_setup, test_producer_consumer_behind, producer_teardown);
  g_test_add ("/ep/clock/producer/restart", ProducerFixture, NULL,
              producer_setup, test_producer_restart, producer_teardown);
  g_test_add ("/ep/clock/producer/outlier", ProducerFixture, NULL,
              producer_setup, test_producer_outlier, producer_teardown);
  g_test_add ("/ep/clock/producer/stamp-payload", ProducerFixture, NULL,
              producer_setup, test_producer_stamp_payload, producer_teardown);
  g_test_add ("/ep/clock/producer/1970", ProducerFixture, NULL,
              producer_setup, test_producer_1970, producer_teardown);
  g_test_add ("/ep/clock/producer/year-9999", ProducerFixture, NULL,
              producer_setup, test_producer_year_9999, producer_teardown);
  g_test_add ("/ep/clock/producer/captive-portal", ProducerFixture, NULL,
              producer_setup, test_producer_captive_portal, producer_teardown);
  g_test_add ("/ep/clock/producer/implausible-restored", ProducerFixture, NULL,
              producer_setup, test_producer_implausible_restored, producer_teardown);

  return g_test_run ();
}
