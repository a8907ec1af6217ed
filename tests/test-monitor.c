/* test-monitor.c: dropped-event counters and the monitoring event's reports
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>

#include "ep-monitor-private.h"
#include "ep-test-util.h"

/* The count of @name for @reason. */
static guint64
count_of (EpMonitor    *monitor,
          EpDropReason  reason,
          const char   *name)
{
  return ep_monitor_get_count_for_testing (monitor, reason, name);
}

static JsonObject *
parse_object (JsonParser *parser,
              const char *json)
{
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_counts_and_json (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) snapshot = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  JsonObject *root;

  g_assert_true (ep_monitor_is_empty (monitor));
  snapshot = ep_monitor_snapshot (monitor);
  json = ep_monitor_snapshot_to_json_for_testing (snapshot);
  /* All three maps, even when empty. */
  g_assert_cmpstr (json, ==, "{\"consentFilteredEvents\":{},\"validationFailedEvents\":{},"
                             "\"storingFailedEvents\":{}}");

  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"));
  g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"));
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, "big");
  ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
  g_assert_cmpuint (count_of (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"), ==, 2);

  g_clear_pointer (&snapshot, g_variant_unref);
  g_clear_pointer (&json, g_free);
  snapshot = ep_monitor_snapshot (monitor);
  json = ep_monitor_snapshot_to_json_for_testing (snapshot);
  root = parse_object (parser, json);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "consentFilteredEvents"),
                                               "ad_click"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "validationFailedEvents"),
                                               "big"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "storingFailedEvents"),
                                               "play"), ==, 1);

  /* Counts that arrive after the snapshot survive its subtraction. */
  ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "ad_click");
  ep_monitor_subtract (monitor, snapshot);
  g_assert_cmpuint (count_of (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"), ==, 1);
  g_assert_cmpuint (count_of (monitor, EP_DROP_VALIDATION_FAILED, "big"), ==, 0);
  g_assert_false (ep_monitor_is_empty (monitor));
}

/* Issue 8 item 8: at most EP_MONITOR_MAX_NAMES names per reason; drops of
 * more names count under EP_MONITOR_OTHER_NAME (in the file too, and when
 * an older, larger file is loaded: test-producer-state). */
static void
test_names_capped (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) snapshot = NULL;
  const guint n = EP_MONITOR_MAX_NAMES + 500;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("a_rather_long_event_name_number_%06u_%s", i,
                                               "padding_padding_padding_padding_padding");
      ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
      ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
    }
  g_assert_cmpuint (count_of (monitor, EP_DROP_VALIDATION_FAILED, EP_MONITOR_OTHER_NAME),
                    ==, 2 * 500);
  /* Names counted before the cap keep counting by name. */
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED,
                  "a_rather_long_event_name_number_000000_padding_padding_padding_padding_padding");
  g_assert_cmpuint (count_of (monitor, EP_DROP_VALIDATION_FAILED,
                              "a_rather_long_event_name_number_000000_padding_padding_padding_padding_padding"),
                    ==, 3);
  /* The other reasons have their own room. */
  ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
  g_assert_cmpuint (count_of (monitor, EP_DROP_STORING_FAILED, "play"), ==, 1);

  /* A snapshot holds every name (reports are bounded by bytes, see
   * report-within-budget). */
  snapshot = ep_monitor_snapshot (monitor);
  {
    g_autoptr(GVariant) validation = g_variant_get_child_value (snapshot, 1);
    g_assert_cmpuint (g_variant_n_children (validation), ==, EP_MONITOR_MAX_NAMES + 1);
  }
}

static gboolean
count_changes (gpointer data)
{
  guint *n_changes = data;

  (*n_changes)++;
  return *n_changes % 2 == 1;
}

/* The changed function hears of the first change since the counters were
 * last taken for a save, whatever changed them (a count, a confirmed
 * report), and its answer is what ep_monitor_add() returns; restored counts
 * are no change, and once cleared, the function is never called again. */
static void
test_changed_func (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) saved = NULL;
  g_autoptr(GVariant) report = NULL;
  guint n_changes = 0;

  ep_monitor_set_changed_func (monitor, count_changes, &n_changes);
  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_cmpuint (n_changes, ==, 1);

  /* taken for a save: the next change is a first change again */
  saved = ep_monitor_snapshot_for_save (monitor);
  g_assert_false (ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, "b"));   /* the function said no */
  g_assert_cmpuint (n_changes, ==, 2);
  g_clear_pointer (&saved, g_variant_unref);
  saved = ep_monitor_snapshot_for_save (monitor);

  /* a confirmed report changes the counts too; an empty one does not */
  report = ep_monitor_snapshot_report (monitor, 4096);
  g_assert_true (ep_monitor_subtract (monitor, report));
  g_assert_cmpuint (n_changes, ==, 3);
  g_assert_true (ep_monitor_is_empty (monitor));
  g_clear_pointer (&saved, g_variant_unref);
  saved = ep_monitor_snapshot_for_save (monitor);
  g_assert_false (ep_monitor_subtract (monitor, report));
  g_assert_cmpuint (n_changes, ==, 3);

  /* restored counts were saved already */
  {
    g_autoptr(GVariant) restored = g_variant_ref_sink (g_variant_new_parsed (
      "({'x': uint64 2}, @a{st} {}, @a{st} {}, {'y': uint64 1})"));

    ep_monitor_restore (monitor, restored);
  }
  g_assert_cmpuint (n_changes, ==, 3);
  g_assert_cmpuint (count_of (monitor, EP_DROP_CONSENT_FILTERED, "x"), ==, 2);
  g_assert_cmpuint (count_of (monitor, EP_DROP_EXPIRED, "y"), ==, 1);

  ep_monitor_set_changed_func (monitor, NULL, NULL);
  g_clear_pointer (&saved, g_variant_unref);
  saved = ep_monitor_snapshot_for_save (monitor);
  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_cmpuint (n_changes, ==, 3);
}

static gboolean
say_no (gpointer data)
{
  (*(guint *) data)++;
  return FALSE;
}

/* A count that starts from zero is news for whoever sends the counts
 * (ep_monitor_add() returns TRUE), even when the changed function says no:
 * the saved state says no while a save is scheduled already, and the
 * monitoring timer runs only while a count is non-zero. */
static void
test_count_from_zero (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) saved = NULL;
  g_autoptr(GVariant) report = NULL;
  guint n_changes = 0;

  ep_monitor_set_changed_func (monitor, say_no, &n_changes);
  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_cmpuint (n_changes, ==, 1);
  saved = ep_monitor_snapshot_for_save (monitor);
  g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "b"));
  g_assert_cmpuint (n_changes, ==, 2);

  report = ep_monitor_snapshot_report (monitor, 4096);
  ep_monitor_subtract (monitor, report);
  g_assert_true (ep_monitor_is_empty (monitor));
  g_assert_true (ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "c"));
  g_assert_false (ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "c"));
}

static void
test_odd_names (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) snapshot = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *long_name = g_strnfill (1000, 'n');
  g_autofree char *json = NULL;
  JsonObject *validation;
  GList *members;

  /* Invalid UTF-8, control characters and huge names still make a valid
   * monitoring payload. */
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, "bad\xff\x01name");
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, long_name);
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, "");
  snapshot = ep_monitor_snapshot (monitor);
  json = ep_monitor_snapshot_to_json_for_testing (snapshot);
  validation = json_object_get_object_member (parse_object (parser, json), "validationFailedEvents");
  g_assert_cmpuint (json_object_get_size (validation), ==, 3);
  members = json_object_get_members (validation);
  for (GList *l = members; l; l = l->next)
    g_assert_cmpuint (strlen (l->data), <=, EP_MONITOR_MAX_NAME_BYTES);
  g_list_free (members);
}

/* Reports ------------------------------------------------------------------ */

/* A name of EP_MONITOR_MAX_NAME_BYTES that JSON escapes almost whole: a
 * 3-digit number, then quotes, backslashes, tabs and newlines (two bytes
 * each in the payload). */
static char *
escaped_name (guint i)
{
  static const char escaped[] = "\"\\\t\n";
  GString *name = g_string_new (NULL);

  g_string_printf (name, "%03u", i);
  while (name->len < EP_MONITOR_MAX_NAME_BYTES)
    g_string_append_c (name, escaped[name->len % 4]);
  return g_string_free (name, FALSE);
}

static gsize
empty_json_size (void)
{
  g_autofree char *empty = ep_monitor_empty_snapshot_json ();

  return strlen (empty);
}

/* Adds the counts of a report's @json, keyed "reason/name", to @sums;
 * fails if a name is already there and @once. */
static void
add_report_counts (GHashTable *sums,
                   const char *json,
                   gboolean    once)
{
  static const char * const reasons[] = {
    "consentFilteredEvents", "validationFailedEvents", "storingFailedEvents", "expiredEvents"
  };
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = parse_object (parser, json);

  /* expiredEvents only when some are in the report */
  g_assert_cmpuint (json_object_get_size (root), ==,
                    G_N_ELEMENTS (reasons) - !json_object_has_member (root, "expiredEvents"));
  for (guint r = 0; r < G_N_ELEMENTS (reasons); r++)
    {
      JsonObject *map = json_object_has_member (root, reasons[r]) ?
        json_object_get_object_member (root, reasons[r]) : NULL;
      g_autoptr(GList) members = map != NULL ? json_object_get_members (map) : NULL;

      if (r == EP_DROP_EXPIRED && map == NULL)
        continue;
      g_assert_nonnull (map);

      for (GList *l = members; l != NULL; l = l->next)
        {
          char *key = g_strdup_printf ("%u/%s", r, (const char *) l->data);
          gint64 sum = GPOINTER_TO_SIZE (g_hash_table_lookup (sums, key));

          if (once)
            g_assert_cmpint (sum, ==, 0);
          sum += json_object_get_int_member (map, l->data);
          g_hash_table_insert (sums, key, GSIZE_TO_POINTER (sum));
        }
    }
}

static gint64
reported (GHashTable   *sums,
          EpDropReason  reason,
          const char   *name)
{
  g_autofree char *key = g_strdup_printf ("%u/%s", reason, name);

  return GPOINTER_TO_SIZE (g_hash_table_lookup (sums, key));
}

/* Names full of characters that JSON escapes: each report's payload stays
 * within its budget, and report after confirmed report, every count is
 * reported once and subtracted. */
static void
test_report_within_budget (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const gsize budget = 4096;
  const guint n = 300;
  guint n_reports = 0;

  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = escaped_name (i);

      for (guint k = 0; k <= i % 3; k++)
        ep_monitor_add (monitor, i % EP_N_DROP_REASONS, name);
    }

  for (;;)
    {
      g_autoptr(GVariant) report = ep_monitor_snapshot_report (monitor, budget);
      g_autofree char *json = NULL;

      if (report == NULL)
        break;
      json = ep_monitor_snapshot_to_json_for_testing (report);
      g_assert_cmpuint (strlen (json), <=, budget);
      add_report_counts (sums, json, TRUE);
      ep_monitor_subtract (monitor, report);
      n_reports++;
      g_assert_cmpuint (n_reports, <=, n);
    }

  g_assert_true (ep_monitor_is_empty (monitor));
  /* About 200 bytes a name: many reports, each well filled. */
  g_assert_cmpuint (n_reports, >=, n * (2 * EP_MONITOR_MAX_NAME_BYTES) / budget);
  g_assert_cmpuint (n_reports, <=, n * EP_MONITOR_MAX_ENTRY_JSON_BYTES / (budget / 2));
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = escaped_name (i);

      g_assert_cmpint (reported (sums, i % EP_N_DROP_REASONS, name), ==, i % 3 + 1);
    }
}

/* Reports take the names in turn: names counted again after every report
 * never keep the others out. */
static void
test_report_takes_turns (void)
{
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  /* "name_00":1 and a comma: 10 names a report. */
  const gsize budget = empty_json_size () + 10 * 12;
  guint round;

  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *name = g_strdup_printf ("name_%02u", i);
      ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
    }
  for (round = 0; reported (sums, EP_DROP_VALIDATION_FAILED, "name_49") == 0; round++)
    {
      g_autoptr(GVariant) report = ep_monitor_snapshot_report (monitor, budget);
      g_autofree char *json = ep_monitor_snapshot_to_json_for_testing (report);

      g_assert_cmpuint (strlen (json), <=, budget);
      add_report_counts (sums, json, FALSE);
      ep_monitor_subtract (monitor, report);
      /* The first names in name order are dropped again at once. */
      for (guint i = 0; i < 10; i++)
        {
          g_autofree char *name = g_strdup_printf ("name_%02u", i);
          ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
        }
      g_assert_cmpuint (round, <, 10);
    }
  /* Five reports for the 50 names, in turn. */
  g_assert_cmpuint (round, ==, 5);
  for (guint i = 0; i < 50; i++)
    {
      g_autofree char *name = g_strdup_printf ("name_%02u", i);
      g_assert_cmpint (reported (sums, EP_DROP_VALIDATION_FAILED, name), >=, 1);
    }
}

/* A counter too large for a report's room on its own is passed over (the
 * others are reported) and stays counted; no room at all reports nothing.
 * (Names loaded from a file are cut as counted names are, so every counter
 * fits in EP_MONITOR_MAX_ENTRY_JSON_BYTES: test-producer-state.) */
static void
test_report_passes_over_unfittable (void)
{
  g_autofree char *quotes = g_strnfill (EP_MONITOR_MAX_NAME_BYTES, '"');
  g_autoptr(EpMonitor) monitor = ep_monitor_new ();
  g_autoptr(GVariant) report = NULL;
  g_autofree char *json = NULL;
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  /* The quotes come first in name order. */
  ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, quotes);
  ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "small");
  ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "other");

  g_assert_null (ep_monitor_snapshot_report (monitor, empty_json_size () - 1));
  g_assert_null (ep_monitor_snapshot_report (monitor, empty_json_size () + 5));
  report = ep_monitor_snapshot_report (monitor, empty_json_size () + 100);
  g_assert_nonnull (report);
  json = ep_monitor_snapshot_to_json_for_testing (report);
  add_report_counts (sums, json, TRUE);
  g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, "small"), ==, 1);
  g_assert_cmpint (reported (sums, EP_DROP_STORING_FAILED, "other"), ==, 1);
  g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, quotes), ==, 0);
  ep_monitor_subtract (monitor, report);
  g_assert_cmpuint (count_of (monitor, EP_DROP_CONSENT_FILTERED, quotes), ==, 1);
  g_assert_false (ep_monitor_is_empty (monitor));
}

static gboolean
counters_are (EpProducer *producer,
              const char *json)
{
  g_autofree char *counters = ep_producer_dup_counters_json (producer);

  return g_str_equal (counters, json);
}

/* Through a producer and a consumer on 127.0.0.1: names full of escaped
 * characters, more than one event can carry, and one extreme name. Every
 * monitoring event fits in EP_MAX_EVENT_SIZE (with large headers of its
 * own), and the confirmed events together report each count exactly once. */
static void
test_reports_delivered (void)
{
  EpTestConsumer consumer;
  g_autofree char *device_model = g_strnfill (6000, 'm');
  g_autofree char *extreme = g_strnfill (100000, '"');
  g_autofree char *extreme_key = g_strnfill (EP_MONITOR_MAX_NAME_BYTES, '"');
  g_autofree char *empty = ep_monitor_empty_snapshot_json ();
  g_autoptr(GHashTable) sums = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(EpProducer) producer = NULL;
  GPtrArray *requests;
  const guint n = 200;
  guint n_reports = 0;

  ep_test_consumer_init (&consumer, "monitor-reports", EP_TEST_PUBLIC_PATH);
  producer = ep_test_consumer_new_producer (&consumer,
                                            "monitoring-interval", 20,
                                            "device-model", device_model, NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = escaped_name (i);

      for (guint k = 0; k <= i % 3; k++)
        g_assert_cmpint (ep_producer_send_event (producer, name, EP_CONSENT_CATEGORY_PERFORMANCE,
                                                 "{}", NULL),
                         ==, EP_SEND_RESULT_CONSENT_FILTERED);
    }
  for (guint k = 0; k < 7; k++)
    ep_producer_send_event (producer, extreme, EP_CONSENT_CATEGORY_TARGETING, "{}", NULL);

  EP_TEST_SPIN_UNTIL (counters_are (producer, empty));

  requests = ep_test_server_get_requests (consumer.server);
  for (guint i = 0; i < requests->len; i++)
    {
      EpTestRequest *req = g_ptr_array_index (requests, i);

      for (guint j = 0; j < req->entries->len; j++)
        {
          EpTestEntry *entry = g_ptr_array_index (req->entries, j);

          g_assert_cmpstr (entry->name, ==, EP_MONITORING_EVENT_NAME);
          g_assert_cmpuint (strlen (entry->id) + strlen (entry->name) + strlen (entry->headers_json) +
                            strlen (entry->body), <=, EP_MAX_EVENT_SIZE);
          add_report_counts (sums, entry->body, FALSE);
          n_reports++;
        }
    }
  /* 200 names of about 200 bytes, 14 KB of room an event. */
  g_assert_cmpuint (n_reports, >=, 3);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = escaped_name (i);

      g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, name), ==, i % 3 + 1);
    }
  g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, extreme_key), ==, 7);
  g_assert_cmpuint (g_hash_table_size (sums), ==, n + 1);

  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

static void
count_no_room (const char     *domain,
               GLogLevelFlags  level,
               const char     *message,
               gpointer        data)
{
  if (strstr (message, "No dropped-event counter fits") != NULL)
    (*(guint *) data)++;
}

/* Headers that leave the monitoring event no room for even one counter:
 * nothing is posted, a message says so at each interval, and the counts
 * stay. */
static void
test_report_no_room (void)
{
  g_autofree char *probe_dir = ep_test_make_dir ("monitor-probe");
  g_autofree char *empty = ep_monitor_empty_snapshot_json ();
  g_autofree char *device_model = NULL;
  g_autoptr(EpProducer) producer = NULL;
  EpTestConsumer consumer;
  guint n_no_room = 0;
  guint handler;
  gsize base;

  ep_test_consumer_init (&consumer, "monitor-no-room", EP_TEST_PUBLIC_PATH);
  /* An event with the monitoring event's headers (no credentials), a name
   * as long as its name, and its payload without counters. */
  {
    g_autoptr(EpProducer) probe = ep_test_producer_new (probe_dir, consumer.uri, consumer.public_uri,
                                                        NULL, "device-model", "m", NULL);

    g_assert_cmpuint (strlen ("monitoring-probe!"), ==, strlen (EP_MONITORING_EVENT_NAME));
    g_assert_cmpint (ep_producer_send_event (probe, "monitoring-probe!", EP_CONSENT_CATEGORY_NECESSARY,
                                             empty, NULL),
                     ==, EP_SEND_RESULT_STORED);
    base = ep_producer_get_queue_bytes (probe);
  }
  /* A device model that leaves 3 bytes past the empty maps: the smallest
   * counter, "x":1 and a comma, takes 7. */
  device_model = g_strnfill (1 + EP_MAX_EVENT_SIZE - base - 3, 'm');
  producer = ep_test_consumer_new_producer (&consumer,
                                            "monitoring-interval", 20,
                                            "device-model", device_model, NULL);
  handler = g_log_set_handler ("Ep", G_LOG_LEVEL_MESSAGE, count_no_room, &n_no_room);
  ep_producer_send_event (producer, "x", EP_CONSENT_CATEGORY_PERFORMANCE, "{}", NULL);
  EP_TEST_SPIN_UNTIL (n_no_room >= 2);
  g_log_remove_handler ("Ep", handler);

  g_assert_cmpuint (ep_test_server_get_n_requests (consumer.server), ==, 0);
  g_assert_true (counters_are (producer, "{\"consentFilteredEvents\":{\"x\":1},"
                                         "\"validationFailedEvents\":{},\"storingFailedEvents\":{}}"));
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/monitor/counts-and-json", test_counts_and_json);
  g_test_add_func ("/ep/monitor/names-capped", test_names_capped);
  g_test_add_func ("/ep/monitor/changed-func", test_changed_func);
  g_test_add_func ("/ep/monitor/count-from-zero", test_count_from_zero);
  g_test_add_func ("/ep/monitor/odd-names", test_odd_names);
  g_test_add_func ("/ep/monitor/report-within-budget", test_report_within_budget);
  g_test_add_func ("/ep/monitor/report-takes-turns", test_report_takes_turns);
  g_test_add_func ("/ep/monitor/report-passes-over-unfittable", test_report_passes_over_unfittable);
  g_test_add_func ("/ep/monitor/reports-delivered", test_reports_delivered);
  g_test_add_func ("/ep/monitor/report-no-room", test_report_no_room);

  return g_test_run ();
}
