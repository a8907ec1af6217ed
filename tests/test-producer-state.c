/* test-producer-state.c: the producer's saved state (outage, clock offset, counters) and its file
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ep-monitor-private.h"
#include "ep-producer-state-private.h"
#include "ep-queue-state-private.h"
#include "ep-test-util.h"

/* The count of @name for @reason. */
static guint64
count_of (EpMonitor    *monitor,
          EpDropReason  reason,
          const char   *name)
{
  return ep_monitor_get_count_for_testing (monitor, reason, name);
}

static char *
state_path (void)
{
  g_autofree char *dir = ep_test_make_dir ("producer-state");

  return g_build_filename (dir, "monitor.gvariant", NULL);
}

/* A monitor and the state that saves it, over a queue in @path's
 * directory. The queue (and its lock) goes with the state. */
typedef struct {
  EpMonitor       *monitor;
  EpProducerState *state;
} Saved;

static void
saved_open (Saved      *saved,
            const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);

  g_assert_no_error (error);
  saved->monitor = ep_monitor_new ();
  saved->state = ep_producer_state_new (queue, saved->monitor);
}

static void
saved_clear (Saved *saved)
{
  g_clear_object (&saved->state);
  g_clear_object (&saved->monitor);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Saved, saved_clear)

/* The last save's task may hold the state (and its queue's lock) until
 * the context runs its completion: lets go and waits for it. */
static void
saved_clear_and_wait (Saved *saved)
{
  EpProducerState *weak = saved->state;

  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  saved_clear (saved);
  EP_TEST_SPIN_UNTIL (weak == NULL);
}

static void
test_persistence (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GError) error = NULL;
  gboolean storage, delivery;
  GStatBuf st;

  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "play");
    ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "play");
    g_assert_true (ep_producer_state_set_outage (saved.state, TRUE, FALSE));
    g_assert_false (ep_producer_state_set_outage (saved.state, TRUE, FALSE));
    g_assert_true (ep_producer_state_is_dirty_for_testing (saved.state));
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_no_error (error);
    g_assert_false (ep_producer_state_is_dirty_for_testing (saved.state));
  }

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_STORING_FAILED, "play"), ==, 2);
    ep_producer_state_get_outage (saved.state, &storage, &delivery);
    g_assert_true (storage);
    g_assert_false (delivery);
  }
}

/* Version 1 files (before the clock offset) are read and rewritten as
 * version 2 by the next save; the clock offset survives a restart. */
static void
test_format_migration (void)
{
  g_autofree char *path = state_path ();
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
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    gboolean storage, delivery;

    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "ad"), ==, 3);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_STORING_FAILED, "play"), ==, 2);
    ep_producer_state_get_outage (saved.state, &storage, &delivery);
    g_assert_false (storage);
    g_assert_true (delivery);
    g_assert_cmpint (ep_producer_state_get_clock_offset (saved.state), ==, 0);
    g_assert_true (ep_producer_state_is_dirty_for_testing (saved.state));
    g_assert_true (ep_producer_state_set_clock_offset (saved.state, -90000));
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_no_error (error);
  }
  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_autofree char *contents = NULL;
    guint32 version;

    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "ad"), ==, 3);
    g_assert_cmpint (ep_producer_state_get_clock_offset (saved.state), ==, -90000);
    g_assert_false (ep_producer_state_is_dirty_for_testing (saved.state));
    g_file_get_contents (path, &contents, NULL, &error);
    g_assert_no_error (error);
    memcpy (&version, contents, sizeof version);
    g_assert_cmpuint (version, ==, 2);
  }
}

static void
test_corrupt_file (void)
{
  g_autofree char *path = state_path ();
  g_autofree char *aside = g_strconcat (path, ".corrupt", NULL);
  g_auto(Saved) saved = { 0 };
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, "\x01garbage that is no state file", -1, &error);
  g_assert_no_error (error);

  /* A message, not a warning: a damaged file is no programming error. */
  g_test_expect_message ("Ep", G_LOG_LEVEL_MESSAGE, "*cannot be read*");
  saved_open (&saved, path);
  g_test_assert_expected_messages ();
  g_assert_true (ep_monitor_is_empty (saved.monitor));
  g_assert_true (ep_producer_state_is_dirty_for_testing (saved.state));
  g_assert_true (g_file_test (aside, G_FILE_TEST_EXISTS));
}

/* Every change after a save began asks for another save, so counts never
 * stop being persisted; after close, nothing is written. */
static void
test_save_requests_and_close (void)
{
  g_autofree char *path = state_path ();
  g_auto(Saved) saved = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  gsize before_len, after_len;

  saved_open (&saved, path);
  g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_false (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_true (ep_producer_state_save (saved.state, &error));
  g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "a"));
  g_assert_true (ep_producer_state_save (saved.state, &error));
  g_assert_no_error (error);

  g_file_get_contents (path, &before, &before_len, &error);
  g_assert_no_error (error);
  ep_producer_state_close (saved.state);
  ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "late");
  g_assert_true (ep_producer_state_save (saved.state, &error));
  g_file_get_contents (path, &after, &after_len, &error);
  g_assert_cmpmem (before, before_len, after, after_len);
  g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "late"), ==, 1);
}

/* Issue 13 item 2: one save policy, owned by the saved state. A burst of
 * changes (counts, outage, clock) costs one write, made later on the
 * state's context and a worker, never by the thread that counts. */
static void
test_saves_coalesced (void)
{
  g_autofree char *path = state_path ();
  g_auto(Saved) saved = { 0 };

  saved_open (&saved, path);
  g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "first"));
  for (guint i = 0; i < 1000; i++)
    g_assert_false (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "burst"));
  ep_producer_state_set_outage (saved.state, TRUE, FALSE);
  ep_producer_state_set_clock_offset (saved.state, 5000);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (ep_producer_state_get_n_saves_for_testing (saved.state), ==, 0);

  EP_TEST_SPIN_UNTIL (!ep_producer_state_is_dirty_for_testing (saved.state));
  g_assert_cmpuint (ep_producer_state_get_n_saves_for_testing (saved.state), ==, 1);
  g_assert_true (g_file_test (path, G_FILE_TEST_EXISTS));

  /* The next change schedules the next save. */
  g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "later"));
  EP_TEST_SPIN_UNTIL (!ep_producer_state_is_dirty_for_testing (saved.state));
  g_assert_cmpuint (ep_producer_state_get_n_saves_for_testing (saved.state), ==, 2);

  saved_clear_and_wait (&saved);
  saved_open (&saved, path);
  g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "burst"), ==, 1000);
  g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "later"), ==, 1);
  g_assert_cmpint (ep_producer_state_get_clock_offset (saved.state), ==, 5000);
}

/* Issue 18, item 5: a save made on a thread hands the state back to its
 * context without the context's lock (a GTask run in a thread took it, in
 * g_source_attach(), and a thread preempted there kept the main thread
 * asleep). */
static void
test_save_hand_back_unlocked (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  g_auto(Saved) saved = { 0 };
  static EpTestHandBack hb;
  gboolean handed_back;

  if (!ep_test_hand_back_start (&hb))
    return;
  saved_open (&saved, path);
  ep_producer_state_set_clock_offset (saved.state, 5000);
  EP_TEST_SPIN_UNTIL (ep_test_hand_back_stopped (&hb));
  handed_back = ep_test_hand_back_with_context_locked (&hb, context);
  ep_test_hand_back_end (&hb);
  g_assert_true (handed_back);
  EP_TEST_SPIN_UNTIL (!ep_producer_state_is_dirty_for_testing (saved.state));
  g_assert_cmpuint (ep_producer_state_get_n_saves_for_testing (saved.state), ==, 1);
  saved_clear_and_wait (&saved);
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

  /* A state over a closed queue writes nothing; the monitor counts in
   * memory. */
  {
    g_autoptr(EpMonitor) monitor = ep_monitor_new ();
    g_autoptr(EpProducerState) state = ep_producer_state_new (queue, monitor);
    g_autofree char *monitor_file = g_build_filename (dir, "monitor.gvariant", NULL);

    ep_queue_close (queue);
    g_assert_false (ep_queue_state_save (queue, "some.state", "x", 1, &error));
    g_assert_error (error, EP_ERROR, EP_ERROR_CLOSED);
    g_clear_error (&error);
    ep_monitor_add (monitor, EP_DROP_STORING_FAILED, "late");
    g_assert_true (ep_producer_state_save (state, &error));
    g_assert_no_error (error);
    ep_producer_state_close (state);
    g_assert_false (g_file_test (monitor_file, G_FILE_TEST_EXISTS));
    g_assert_cmpuint (count_of (monitor, EP_DROP_STORING_FAILED, "late"), ==, 1);
  }
}

/* Issue 8 item 8: the file is bounded as the counters are (at most
 * EP_MONITOR_MAX_NAMES names per reason, then EP_MONITOR_OTHER_NAME), and a
 * file written before the cap, with more names, is capped as it loads. */
static void
test_names_capped_in_file (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GError) error = NULL;
  const guint n = EP_MONITOR_MAX_NAMES + 500;
  GStatBuf st;

  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    for (guint i = 0; i < n; i++)
      {
        g_autofree char *name = g_strdup_printf ("a_rather_long_event_name_number_%06u_%s", i,
                                                 "padding_padding_padding_padding_padding");
        ep_monitor_add (saved.monitor, EP_DROP_VALIDATION_FAILED, name);
        ep_monitor_add (saved.monitor, EP_DROP_VALIDATION_FAILED, name);
      }
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_no_error (error);
  }
  /* Names of at most EP_MONITOR_MAX_NAME_BYTES, plus a count and framing
   * each. */
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_size, <=, (EP_MONITOR_MAX_NAMES + 2) * (EP_MONITOR_MAX_NAME_BYTES + 24));
  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_VALIDATION_FAILED, EP_MONITOR_OTHER_NAME),
                      ==, 2 * 500);
  }

  {
    g_autoptr(GVariant) v1 = NULL;
    g_auto(Saved) saved = { 0 };
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
    saved_open (&saved, path);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, "old_000000"), ==, 1);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_CONSENT_FILTERED, EP_MONITOR_OTHER_NAME),
                      ==, 500);
  }
}

/* A file with a huge name of characters that JSON escapes or that are
 * replaced: it is cut as counted names are, so it fits in a report of
 * EP_MONITOR_MAX_ENTRY_JSON_BYTES. */
static void
test_huge_name_in_file (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) v1 = NULL;
  g_autoptr(GVariant) report = NULL;
  g_autofree char *empty = ep_monitor_empty_snapshot_json ();
  g_autofree char *json = NULL;
  g_auto(Saved) saved = { 0 };
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

  saved_open (&saved, path);
  report = ep_monitor_snapshot_report (saved.monitor, strlen (empty) + EP_MONITOR_MAX_ENTRY_JSON_BYTES);
  g_assert_nonnull (report);
  json = ep_monitor_snapshot_to_json_for_testing (report);
  g_assert_cmpuint (strlen (json), <=, strlen (empty) + EP_MONITOR_MAX_ENTRY_JSON_BYTES);
  ep_monitor_subtract (saved.monitor, report);
  g_assert_true (ep_monitor_is_empty (saved.monitor));
}

/* The file as the release before the split wrote it (main at d110686,
 * through ep_monitor_save(): "ad_click" twice and "a\"b" consent-filtered,
 * "big" validation-failed, "play" storing-failed, "old" expired, both
 * outages, delivery reason 3 "HTTP 503", clock offset -1234 ms). Host
 * order: these bytes are little-endian. */
static const guint8 file_before_split[] = {
  0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x22, 0x62, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x61, 0x64, 0x5f, 0x63,
  0x6c, 0x69, 0x63, 0x6b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x11, 0x31, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x62, 0x69, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x11, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x70, 0x6c, 0x61, 0x79, 0x00, 0x00, 0x00, 0x00,
  0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x11, 0x01, 0x01,
  0x00, 0x00, 0x00, 0x00, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x2d, 0x6f, 0x66,
  0x66, 0x73, 0x65, 0x74, 0x00, 0x00, 0x00, 0x00, 0x2e, 0xfb, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0x00, 0x78, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x64, 0x65, 0x6c, 0x69, 0x76, 0x65, 0x72, 0x79, 0x2d, 0x72, 0x65, 0x61,
  0x73, 0x6f, 0x6e, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x75, 0x10, 0x00,
  0x64, 0x65, 0x6c, 0x69, 0x76, 0x65, 0x72, 0x79, 0x2d, 0x65, 0x72, 0x72,
  0x6f, 0x72, 0x00, 0x00, 0x48, 0x54, 0x54, 0x50, 0x20, 0x35, 0x30, 0x33,
  0x00, 0x00, 0x73, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x65, 0x78, 0x70, 0x69,
  0x72, 0x65, 0x64, 0x2d, 0x65, 0x76, 0x65, 0x6e, 0x74, 0x73, 0x00, 0x00,
  0x6f, 0x6c, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x04, 0x11, 0x00, 0x61, 0x7b, 0x73, 0x74, 0x7d,
  0x0f, 0x1b, 0x37, 0x54, 0x81, 0x6a, 0x52, 0x3b
};

static void
assert_file_before_split_state (Saved *saved)
{
  g_autofree char *message = NULL;
  gboolean storage, delivery;

  g_assert_cmpuint (count_of (saved->monitor, EP_DROP_CONSENT_FILTERED, "ad_click"), ==, 2);
  g_assert_cmpuint (count_of (saved->monitor, EP_DROP_CONSENT_FILTERED, "a\"b"), ==, 1);
  g_assert_cmpuint (count_of (saved->monitor, EP_DROP_VALIDATION_FAILED, "big"), ==, 1);
  g_assert_cmpuint (count_of (saved->monitor, EP_DROP_STORING_FAILED, "play"), ==, 1);
  g_assert_cmpuint (count_of (saved->monitor, EP_DROP_EXPIRED, "old"), ==, 1);
  ep_producer_state_get_outage (saved->state, &storage, &delivery);
  g_assert_true (storage);
  g_assert_true (delivery);
  g_assert_cmpuint (ep_producer_state_dup_delivery_error (saved->state, &message), ==, 3);
  g_assert_cmpstr (message, ==, "HTTP 503");
  g_assert_cmpint (ep_producer_state_get_clock_offset (saved->state), ==, -1234);
}

/* Issue 21 item 3: splitting the counters from the saved state changed
 * neither the file's name nor a byte of it. The new code reads what the
 * old one wrote, and writes the same bytes for the same state, which the
 * old code reads (it is what it wrote). */
static void
test_file_unchanged (void)
{
  g_autofree char *path = state_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *written_path = NULL;
  g_autofree char *written = NULL;
  g_autoptr(GError) error = NULL;
  gsize written_len;

  if (G_BYTE_ORDER != G_LITTLE_ENDIAN)
    {
      g_test_skip ("the recorded file is little-endian");
      return;
    }
  g_file_set_contents (path, (const char *) file_before_split, sizeof file_before_split, &error);
  g_assert_no_error (error);
  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    assert_file_before_split_state (&saved);
    g_assert_false (ep_producer_state_is_dirty_for_testing (saved.state));
  }

  /* The same state, made by the new code in another directory. */
  {
    g_autofree char *other = ep_test_make_dir ("producer-state-written");
    g_auto(Saved) saved = { 0 };

    written_path = g_build_filename (other, "monitor.gvariant", NULL);
    saved_open (&saved, written_path);
    ep_monitor_add (saved.monitor, EP_DROP_EXPIRED, "old");
    ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "play");
    ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "ad_click");
    ep_monitor_add (saved.monitor, EP_DROP_VALIDATION_FAILED, "big");
    ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "a\"b");
    ep_monitor_add (saved.monitor, EP_DROP_CONSENT_FILTERED, "ad_click");
    ep_producer_state_set_clock_offset (saved.state, -1234);
    ep_producer_state_set_delivery_error (saved.state, 3, "HTTP 503");
    ep_producer_state_set_outage (saved.state, TRUE, TRUE);
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_no_error (error);
  }
  g_file_get_contents (written_path, &written, &written_len, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (written, written_len, file_before_split, sizeof file_before_split);
}

/* A clock offset saved by an older release (or edited by hand) that is
 * implausible now is discarded as the state loads, and 0 is saved. */
static void
test_implausible_offset_discarded (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GError) error = NULL;

  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    ep_producer_state_set_clock_offset (saved.state, -g_get_real_time () / 1000);
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_no_error (error);
  }
  {
    g_auto(Saved) saved = { 0 };

    g_test_expect_message ("Ep", G_LOG_LEVEL_INFO, "*implausible*");
    saved_open (&saved, path);
    g_test_assert_expected_messages ();
    g_assert_cmpint (ep_producer_state_get_clock_offset (saved.state), ==, 0);
    g_assert_true (ep_producer_state_is_dirty_for_testing (saved.state));
    EP_TEST_SPIN_UNTIL (!ep_producer_state_is_dirty_for_testing (saved.state));
    saved_clear_and_wait (&saved);
  }
  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_assert_cmpint (ep_producer_state_get_clock_offset (saved.state), ==, 0);
    g_assert_false (ep_producer_state_is_dirty_for_testing (saved.state));
  }
}

/* A count that misses a save (made after the save took the counters) is
 * saved by the next one: the monitor tells the state again. */
static void
test_count_after_save_saved (void)
{
  g_autofree char *path = state_path ();
  g_autoptr(GError) error = NULL;

  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "a"));
    g_assert_true (ep_producer_state_save (saved.state, &error));
    g_assert_false (ep_producer_state_is_dirty_for_testing (saved.state));
    /* the first count since the save: a save is asked for again */
    g_assert_true (ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "b"));
    g_assert_true (ep_producer_state_is_dirty_for_testing (saved.state));
    g_assert_false (ep_monitor_add (saved.monitor, EP_DROP_STORING_FAILED, "b"));
    EP_TEST_SPIN_UNTIL (!ep_producer_state_is_dirty_for_testing (saved.state));
    g_assert_cmpuint (ep_producer_state_get_n_saves_for_testing (saved.state), ==, 2);
    saved_clear_and_wait (&saved);
  }
  {
    g_auto(Saved) saved = { 0 };

    saved_open (&saved, path);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_STORING_FAILED, "a"), ==, 1);
    g_assert_cmpuint (count_of (saved.monitor, EP_DROP_STORING_FAILED, "b"), ==, 2);
  }
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/producer-state/persistence", test_persistence);
  g_test_add_func ("/ep/producer-state/format-migration", test_format_migration);
  g_test_add_func ("/ep/producer-state/file-unchanged", test_file_unchanged);
  g_test_add_func ("/ep/producer-state/names-capped-in-file", test_names_capped_in_file);
  g_test_add_func ("/ep/producer-state/huge-name-in-file", test_huge_name_in_file);
  g_test_add_func ("/ep/producer-state/corrupt-file", test_corrupt_file);
  g_test_add_func ("/ep/producer-state/implausible-offset-discarded", test_implausible_offset_discarded);
  g_test_add_func ("/ep/producer-state/saves-coalesced", test_saves_coalesced);
  g_test_add_func ("/ep/producer-state/save-hand-back-unlocked", test_save_hand_back_unlocked);
  g_test_add_func ("/ep/producer-state/save-requests-and-close", test_save_requests_and_close);
  g_test_add_func ("/ep/producer-state/count-after-save-saved", test_count_after_save_saved);
  g_test_add_func ("/ep/producer-state/queue-state-blob", test_queue_state_blob);

  return g_test_run ();
}
