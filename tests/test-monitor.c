/* test-monitor.c: dropped-event counters and their persistence
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>

#include "ep-monitor-private.h"
#include "ep-queue-state-private.h"
#include "ep-test-util.h"

static char *
monitor_path (void)
{
  g_autofree char *dir = ep_test_make_dir ("monitor");

  return g_build_filename (dir, "monitor.gvariant", NULL);
}

/* A monitor over a queue in @path's directory. The queue (and its lock)
 * goes with the monitor. */
static EpMonitor *
new_monitor (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);

  g_assert_no_error (error);
  return ep_monitor_new (queue);
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
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);
  g_autoptr(GVariant) snapshot = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree char *json = NULL;
  JsonObject *root;

  g_assert_true (ep_monitor_is_empty (monitor));
  snapshot = ep_monitor_snapshot (monitor);
  json = ep_monitor_snapshot_to_json (snapshot);
  /* All three maps, even when empty. */
  g_assert_cmpstr (json, ==, "{\"consentFilteredEvents\":{},\"validationFailedEvents\":{},"
                             "\"storingFailedEvents\":{}}");

  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"));
  g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"));
  ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, "big");
  ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"), ==, 2);

  g_clear_pointer (&snapshot, g_variant_unref);
  g_clear_pointer (&json, g_free);
  snapshot = ep_monitor_snapshot (monitor);
  json = ep_monitor_snapshot_to_json (snapshot);
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
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "ad_click"), ==, 1);
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_VALIDATION_FAILED, "big"), ==, 0);
  g_assert_false (ep_monitor_is_empty (monitor));
}

static void
test_persistence (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(GError) error = NULL;
  gboolean storage, delivery;
  GStatBuf st;

  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);

    ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
    ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
    g_assert_true (ep_monitor_set_outage (monitor, TRUE, FALSE));
    g_assert_false (ep_monitor_set_outage (monitor, TRUE, FALSE));
    g_assert_true (ep_monitor_is_dirty (monitor));
    g_assert_true (ep_monitor_save (monitor, &error));
    g_assert_no_error (error);
    g_assert_false (ep_monitor_is_dirty (monitor));
  }

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);

    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_STORING_FAILED, "play"), ==, 2);
    ep_monitor_get_outage (monitor, &storage, &delivery);
    g_assert_true (storage);
    g_assert_false (delivery);
  }
}

/* Version 1 files (before the clock offset) are read and rewritten as
 * version 2 by the next save; the clock offset survives a restart. */
static void
test_format_migration (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(GVariant) v1 = NULL;
  g_autoptr(GError) error = NULL;
  GVariantBuilder maps[3];

  for (guint i = 0; i < 3; i++)
    g_variant_builder_init (&maps[i], G_VARIANT_TYPE ("a{st}"));
  g_variant_builder_add (&maps[0], "{st}", "ad", (guint64) 3);
  g_variant_builder_add (&maps[2], "{st}", "play", (guint64) 2);
  v1 = g_variant_ref_sink (g_variant_new ("(ua{st}a{st}a{st}bb)", 1, &maps[0], &maps[1], &maps[2],
                                          FALSE, TRUE));
  g_file_set_contents (path, g_variant_get_data (v1), g_variant_get_size (v1), &error);
  g_assert_no_error (error);

  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);
    gboolean storage, delivery;

    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "ad"), ==, 3);
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_STORING_FAILED, "play"), ==, 2);
    ep_monitor_get_outage (monitor, &storage, &delivery);
    g_assert_false (storage);
    g_assert_true (delivery);
    g_assert_cmpint (ep_monitor_get_clock_offset (monitor), ==, 0);
    g_assert_true (ep_monitor_is_dirty (monitor));
    g_assert_true (ep_monitor_set_clock_offset (monitor, -90000));
    g_assert_true (ep_monitor_save (monitor, &error));
    g_assert_no_error (error);
  }
  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);
    g_autofree char *contents = NULL;
    guint32 version;

    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "ad"), ==, 3);
    g_assert_cmpint (ep_monitor_get_clock_offset (monitor), ==, -90000);
    g_assert_false (ep_monitor_is_dirty (monitor));
    g_file_get_contents (path, &contents, NULL, &error);
    g_assert_no_error (error);
    memcpy (&version, contents, sizeof version);
    g_assert_cmpuint (version, ==, 2);
  }
}

/* Issue 8 item 8: at most EP_MONITOR_MAX_NAMES names per reason; drops of
 * more names count under EP_MONITOR_OTHER_NAME, in memory, in the file, and
 * when an older, larger file is loaded. */
static void
test_names_capped (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(GError) error = NULL;
  const guint n = EP_MONITOR_MAX_NAMES + 500;
  GStatBuf st;

  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);
    g_autoptr(GVariant) snapshot = NULL;

    for (guint i = 0; i < n; i++)
      {
        g_autofree char *name = g_strdup_printf ("a_rather_long_event_name_number_%06u_%s", i,
                                                 "padding_padding_padding_padding_padding");
        ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
        ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED, name);
      }
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_VALIDATION_FAILED, EP_MONITOR_OTHER_NAME),
                      ==, 2 * 500);
    /* Names counted before the cap keep counting by name. */
    ep_monitor_add (monitor, EP_DROP_VALIDATION_FAILED,
                    "a_rather_long_event_name_number_000000_padding_padding_padding_padding_padding");
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_VALIDATION_FAILED,
                                            "a_rather_long_event_name_number_000000_padding_padding_padding_padding_padding"),
                      ==, 3);
    /* The other reasons have their own room. */
    ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "play");
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_STORING_FAILED, "play"), ==, 1);

    /* A snapshot holds every name (reports are bounded by bytes, see
     * report-within-budget). */
    snapshot = ep_monitor_snapshot (monitor);
    {
      g_autoptr(GVariant) validation = g_variant_get_child_value (snapshot, 1);
      g_assert_cmpuint (g_variant_n_children (validation), ==, EP_MONITOR_MAX_NAMES + 1);
    }
    g_assert_true (ep_monitor_save (monitor, &error));
    g_assert_no_error (error);
  }
  /* The file is bounded: names of at most EP_MONITOR_MAX_NAME_BYTES, plus
   * a count and framing each. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, (EP_MONITOR_MAX_NAMES + 2) * (EP_MONITOR_MAX_NAME_BYTES + 24));
  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);

    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_VALIDATION_FAILED, EP_MONITOR_OTHER_NAME),
                      ==, 2 * 500);
  }

  /* A file written before the cap, with more names, is capped as it loads. */
  {
    g_autoptr(GVariant) v1 = NULL;
    g_autoptr(EpMonitor) monitor = NULL;
    GVariantBuilder maps[3];

    for (guint i = 0; i < 3; i++)
      g_variant_builder_init (&maps[i], G_VARIANT_TYPE ("a{st}"));
    for (guint i = 0; i < n; i++)
      {
        g_autofree char *name = g_strdup_printf ("old_%06u", i);
        g_variant_builder_add (&maps[0], "{st}", name, (guint64) 1);
      }
    v1 = g_variant_ref_sink (g_variant_new ("(ua{st}a{st}a{st}bb)", 1, &maps[0], &maps[1], &maps[2],
                                            FALSE, FALSE));
    g_file_set_contents (path, g_variant_get_data (v1), g_variant_get_size (v1), &error);
    g_assert_no_error (error);
    monitor = new_monitor (path);
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "old_000000"), ==, 1);
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, EP_MONITOR_OTHER_NAME),
                      ==, 500);
  }
}

static void
test_corrupt_file (void)
{
  g_autofree char *path = monitor_path ();
  g_autofree char *aside = g_strconcat (path, ".corrupt", NULL);
  g_autoptr(EpMonitor) monitor = NULL;
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, "\x01garbage that is no state file", -1, &error);
  g_assert_no_error (error);

  /* A message, not a warning: a damaged file is no programming error. */
  g_test_expect_message ("Ep", G_LOG_LEVEL_MESSAGE, "*cannot be read*");
  monitor = new_monitor (path);
  g_test_assert_expected_messages ();
  g_assert_true (ep_monitor_is_empty (monitor));
  g_assert_true (g_file_test (aside, G_FILE_TEST_EXISTS));
}

static void
test_odd_names (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);
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
  json = ep_monitor_snapshot_to_json (snapshot);
  validation = json_object_get_object_member (parse_object (parser, json), "validationFailedEvents");
  g_assert_cmpuint (json_object_get_size (validation), ==, 3);
  members = json_object_get_members (validation);
  for (GList *l = members; l; l = l->next)
    g_assert_cmpuint (strlen (l->data), <=, EP_MONITOR_MAX_NAME_BYTES);
  g_list_free (members);
}

/* Every change after a save began asks for another save, so counts never
 * stop being persisted; after close, nothing is written. */
static void
test_save_requests_and_close (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_len, after_len;

  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_true (ep_monitor_save (monitor, &error));
  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_true (ep_monitor_save (monitor, &error));
  g_assert_no_error (error);

  g_file_get_contents (path, &before, &before_len, &error);
  g_assert_no_error (error);
  ep_monitor_close (monitor);
  ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "late");
  g_assert_true (ep_monitor_save (monitor, &error));
  g_file_get_contents (path, &after, &after_len, &error);
  g_assert_cmpmem (before, before_len, after, after_len);
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "late"), ==, 1);
}

/* Issue 13 item 2: one save policy, owned by the monitor. A burst of
 * changes (counts, outage, clock) costs one write, made later on the
 * monitor's context and a worker, never by the thread that counts. */
static void
test_saves_coalesced (void)
{
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);

  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "first"));
  for (guint i = 0; i < 1000; i++)
    g_assert_false (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "burst"));
  ep_monitor_set_outage (monitor, TRUE, FALSE);
  ep_monitor_set_clock_offset (monitor, 5000);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (ep_monitor_get_n_saves (monitor), ==, 0);

  EP_TEST_SPIN_UNTIL (!ep_monitor_is_dirty (monitor));
  g_assert_cmpuint (ep_monitor_get_n_saves (monitor), ==, 1);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  /* The next change schedules the next save. */
  g_assert_true (ep_monitor_add (monitor, EP_DROP_CONSENT_FILTERED, "later"));
  EP_TEST_SPIN_UNTIL (!ep_monitor_is_dirty (monitor));
  g_assert_cmpuint (ep_monitor_get_n_saves (monitor), ==, 2);

  /* The last save's task may hold the monitor (and its queue's lock)
   * until the context runs its completion. */
  {
    EpMonitor *weak = monitor;

    g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
    g_clear_object (&monitor);
    EP_TEST_SPIN_UNTIL (weak == NULL);
  }
  monitor = new_monitor (path);
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "burst"), ==, 1000);
  g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, "later"), ==, 1);
  g_assert_cmpint (ep_monitor_get_clock_offset (monitor), ==, 5000);
}

/* The queue keeps the blob: atomic and durable replacement, mode 0600,
 * nothing written once the queue is closed or read-only. */
static void
test_queue_state_blob (void)
{
  g_autofree char *dir = ep_test_make_dir ("state-blob");
  g_autofree char *path = g_build_filename (dir, "some.state", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);
  g_autoptr(GBytes) loaded = NULL;
  GStatBuf st;

  g_assert_no_error (error);
  g_assert_null (ep_queue_state_load (queue, "some.state", &error));
  g_assert_no_error (error);

  g_assert_true (ep_queue_state_save (queue, "some.state", "one", 3, &error));
  g_assert_true (ep_queue_state_save (queue, "some.state", "two!", 4, &error));
  g_assert_no_error (error);
  loaded = ep_queue_state_load (queue, "some.state", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (loaded, NULL), g_bytes_get_size (loaded), "two!", 4);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_assert_true (ep_queue_state_move_aside (queue, "some.state", &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  /* A monitor over a closed queue counts in memory and writes nothing. */
  {
    g_autoptr(EpMonitor) monitor = NULL;
    g_autofree char *monitor_file = g_build_filename (dir, "monitor.gvariant", NULL);

    monitor = ep_monitor_new (queue);
    ep_queue_close (queue);
    g_assert_false (ep_queue_state_save (queue, "some.state", "x", 1, &error));
    g_assert_error (error, EP_ERROR, EP_ERROR_CLOSED);
    g_clear_error (&error);
    ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "late");
    g_assert_true (ep_monitor_save (monitor, &error));
    g_assert_no_error (error);
    ep_monitor_close (monitor);
    g_assert_false (g_file_test (monitor_file, G_FILE_TEST_EXISTS));
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_STORING_FAILED, "late"), ==, 1);
  }
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
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);
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
      json = ep_monitor_snapshot_to_json (report);
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
  g_autofree char *path = monitor_path ();
  g_autoptr(EpMonitor) monitor = new_monitor (path);
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
      g_autofree char *json = ep_monitor_snapshot_to_json (report);

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
 * Names loaded from a file are cut as counted names are, so every counter
 * fits in EP_MONITOR_MAX_ENTRY_JSON_BYTES. */
static void
test_report_passes_over_unfittable (void)
{
  g_autofree char *path = monitor_path ();
  g_autofree char *quotes = g_strnfill (EP_MONITOR_MAX_NAME_BYTES, '"');
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(EpMonitor) monitor = new_monitor (path);
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
    json = ep_monitor_snapshot_to_json (report);
    add_report_counts (sums, json, TRUE);
    g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, "small"), ==, 1);
    g_assert_cmpint (reported (sums, EP_DROP_STORING_FAILED, "other"), ==, 1);
    g_assert_cmpint (reported (sums, EP_DROP_CONSENT_FILTERED, quotes), ==, 0);
    ep_monitor_subtract (monitor, report);
    g_assert_cmpuint (ep_monitor_get_count (monitor, EP_DROP_CONSENT_FILTERED, quotes), ==, 1);
    g_assert_false (ep_monitor_is_empty (monitor));
  }

  /* A file with a huge name of characters that are escaped or replaced. */
  {
    g_autoptr(GVariant) v1 = NULL;
    g_autoptr(EpMonitor) monitor = NULL;
    g_autoptr(GVariant) report = NULL;
    g_autofree char *json = NULL;
    GString *huge = g_string_new (NULL);
    GVariantBuilder maps[3];

    for (guint i = 0; i < 5000; i++)
      g_string_append (huge, i % 2 ? "\\" : "\x01");
    for (guint i = 0; i < 3; i++)
      g_variant_builder_init (&maps[i], G_VARIANT_TYPE ("a{st}"));
    g_variant_builder_add (&maps[1], "{st}", huge->str, (guint64) G_MAXUINT64);
    g_string_free (huge, TRUE);
    v1 = g_variant_ref_sink (g_variant_new ("(ua{st}a{st}a{st}bb)", 1, &maps[0], &maps[1], &maps[2],
                                            FALSE, FALSE));
    g_file_set_contents (path, g_variant_get_data (v1), g_variant_get_size (v1), &error);
    g_assert_no_error (error);

    monitor = new_monitor (path);
    report = ep_monitor_snapshot_report (monitor, empty_json_size () + EP_MONITOR_MAX_ENTRY_JSON_BYTES);
    g_assert_nonnull (report);
    json = ep_monitor_snapshot_to_json (report);
    g_assert_cmpuint (strlen (json), <=, empty_json_size () + EP_MONITOR_MAX_ENTRY_JSON_BYTES);
    ep_monitor_subtract (monitor, report);
    g_assert_true (ep_monitor_is_empty (monitor));
  }
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
  g_test_add_func ("/ep/monitor/persistence", test_persistence);
  g_test_add_func ("/ep/monitor/format-migration", test_format_migration);
  g_test_add_func ("/ep/monitor/names-capped", test_names_capped);
  g_test_add_func ("/ep/monitor/corrupt-file", test_corrupt_file);
  g_test_add_func ("/ep/monitor/saves-coalesced", test_saves_coalesced);
  g_test_add_func ("/ep/monitor/queue-state-blob", test_queue_state_blob);
  g_test_add_func ("/ep/monitor/odd-names", test_odd_names);
  g_test_add_func ("/ep/monitor/save-requests-and-close", test_save_requests_and_close);
  g_test_add_func ("/ep/monitor/report-within-budget", test_report_within_budget);
  g_test_add_func ("/ep/monitor/report-takes-turns", test_report_takes_turns);
  g_test_add_func ("/ep/monitor/report-passes-over-unfittable", test_report_passes_over_unfittable);
  g_test_add_func ("/ep/monitor/reports-delivered", test_reports_delivered);
  g_test_add_func ("/ep/monitor/report-no-room", test_report_no_room);

  return g_test_run ();
}
