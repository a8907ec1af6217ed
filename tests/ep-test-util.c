/* ep-test-util.c: helpers shared by the GTest programs
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gobject/gvaluecollector.h>
#include <string.h>

#include "ep-handoff-private.h"
#include "ep-test-util.h"

static char *test_root;

static void
remove_test_root (void)
{
  if (test_root != NULL)
    ep_test_remove_tree (test_root);
  g_clear_pointer (&test_root, g_free);
}

void
ep_test_init (int    *argc,
              char ***argv)
{
  g_autoptr(GError) error = NULL;

  g_test_init (argc, argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* ep-glib reports outages and discarded records with g_warning(): they are
   * what the library is for, not bugs, so only criticals abort a test.
   * Tests that check a warning use g_test_expect_message(). */
  g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  /* A developer's own setting must not redirect the tests' producers. */
  g_unsetenv ("EP_CONSUMER_URL");

  test_root = g_dir_make_tmp ("ep-glib-test-XXXXXX", &error);
  g_assert_no_error (error);
  atexit (remove_test_root);
}

char *
ep_test_make_dir (const char *prefix)
{
  static guint counter;
  char *path;

  g_assert_nonnull (test_root);
  path = g_strdup_printf ("%s/%s-%u", test_root, prefix ? prefix : "dir",
                          g_atomic_int_add (&counter, 1));
  if (g_mkdir_with_parents (path, 0700) != 0)
    g_error ("cannot create %s: %s", path, g_strerror (errno));
  return path;
}

void
ep_test_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;

  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    {
      g_unlink (path);
      return;
    }
  g_chmod (path, 0700);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        ep_test_remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

void
ep_test_iterate (void)
{
  GMainContext *context = g_main_context_get_thread_default ();
  g_autoptr(GSource) tick = g_timeout_source_new (10);

  g_source_set_callback (tick, wake_up, NULL, NULL);
  g_source_attach (tick, context);
  g_main_context_iteration (context, TRUE);
  g_source_destroy (tick);
}

void
ep_test_spin_until_func (gboolean  (*cond) (gpointer data),
                         gpointer    data,
                         guint       timeout_ms,
                         const char *what)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  while (!cond (data))
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("timed out after %u ms waiting for %s", timeout_ms, what);
      ep_test_iterate ();
    }
}

void
ep_test_store_result (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  GAsyncResult **out = user_data;

  g_assert_null (*out);
  *out = g_object_ref (result);
}

void
ep_test_wait_result (GAsyncResult **result)
{
  EP_TEST_SPIN_UNTIL (*result != NULL);
}

#define ONE_HOUR_MS (60 * 60 * 1000)

static void
add_value (GPtrArray  *names,
           GArray     *values,
           const char *name,
           GType       type,
           ...)
{
  GValue value = G_VALUE_INIT;
  g_autofree char *collect_error = NULL;
  va_list args;

  va_start (args, type);
  G_VALUE_COLLECT_INIT (&value, type, args, 0, &collect_error);
  va_end (args);
  g_assert_null (collect_error);
  g_ptr_array_add (names, (gpointer) name);
  g_array_append_val (values, value);
}

static EpProducer *
producer_new_valist (const char  *dir,
                     const char  *consumer_uri,
                     const char  *public_consumer_uri,
                     GError     **error,
                     const char  *first_property,
                     va_list      args)
{
  g_autoptr(GTypeClass) klass = g_type_class_ref (EP_TYPE_PRODUCER);
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  g_autoptr(GArray) values = g_array_new (FALSE, TRUE, sizeof (GValue));
  g_autoptr(GError) local_error = NULL;
  const char *name;
  GObject *object;

  g_array_set_clear_func (values, (GDestroyNotify) g_value_unset);
  add_value (names, values, "app-name", G_TYPE_STRING, "test-app");
  add_value (names, values, "app-version", G_TYPE_STRING, "1.2.3");
  add_value (names, values, "consumer-uri", G_TYPE_STRING, consumer_uri);
  add_value (names, values, "public-consumer-uri", G_TYPE_STRING, public_consumer_uri);
  add_value (names, values, "queue-dir", G_TYPE_STRING, dir);
  add_value (names, values, "batch-interval", G_TYPE_UINT, ONE_HOUR_MS);
  add_value (names, values, "monitoring-interval", G_TYPE_UINT, ONE_HOUR_MS);
  add_value (names, values, "device-vendor", G_TYPE_STRING, "Vendor");
  add_value (names, values, "device-model", G_TYPE_STRING, "Model 1");
  add_value (names, values, "os-name", G_TYPE_STRING, "TestOS");
  add_value (names, values, "os-version", G_TYPE_STRING, "42");

  /* The caller's values replace the defaults above. */
  for (name = first_property; name != NULL; name = va_arg (args, const char *))
    {
      GParamSpec *pspec = g_object_class_find_property (G_OBJECT_CLASS (klass), name);
      GValue value = G_VALUE_INIT;
      g_autofree char *collect_error = NULL;

      guint index;

      g_assert_nonnull (pspec);
      G_VALUE_COLLECT_INIT (&value, pspec->value_type, args, 0, &collect_error);
      g_assert_null (collect_error);
      if (g_ptr_array_find_with_equal_func (names, name, g_str_equal, &index))
        {
          g_value_unset (&g_array_index (values, GValue, index));
          g_array_index (values, GValue, index) = value;
          continue;
        }
      g_ptr_array_add (names, (gpointer) name);
      g_array_append_val (values, value);
    }

  object = g_object_new_with_properties (EP_TYPE_PRODUCER, names->len,
                                         (const char **) names->pdata,
                                         (const GValue *) values->data);
  if (!g_initable_init (G_INITABLE (object), NULL, &local_error))
    {
      g_object_unref (object);
      if (error == NULL)
        g_assert_no_error (local_error);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return EP_PRODUCER (object);
}

EpProducer *
ep_test_producer_new (const char  *dir,
                      const char  *consumer_uri,
                      const char  *public_consumer_uri,
                      GError     **error,
                      const char  *first_property,
                      ...)
{
  EpProducer *producer;
  va_list args;

  va_start (args, first_property);
  producer = producer_new_valist (dir, consumer_uri, public_consumer_uri, error, first_property, args);
  va_end (args);
  return producer;
}

void
ep_test_consumer_init (EpTestConsumer *consumer,
                       const char     *dir_prefix,
                       const char     *public_path)
{
  consumer->server = ep_test_server_new ();
  consumer->dir = ep_test_make_dir (dir_prefix);
  consumer->uri = ep_test_server_dup_uri (consumer->server, EP_TEST_EVENT_PATH);
  consumer->public_uri = ep_test_server_dup_uri (consumer->server,
                                                 public_path ? public_path : EP_TEST_EVENT_PATH);
}

void
ep_test_consumer_clear (EpTestConsumer *consumer)
{
  ep_test_server_release_hung (consumer->server);
  g_clear_pointer (&consumer->server, ep_test_server_free);
  g_clear_pointer (&consumer->dir, g_free);
  g_clear_pointer (&consumer->uri, g_free);
  g_clear_pointer (&consumer->public_uri, g_free);
}

EpProducer *
ep_test_consumer_new_producer (EpTestConsumer *consumer,
                               const char     *first_property,
                               ...)
{
  EpProducer *producer;
  va_list args;

  va_start (args, first_property);
  producer = producer_new_valist (consumer->dir, consumer->uri, consumer->public_uri, NULL,
                                  first_property, args);
  va_end (args);
  return producer;
}

gboolean
ep_test_flush (EpProducer  *producer,
               GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  ep_producer_flush_async (producer, NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  return ep_producer_flush_finish (producer, result, error);
}

static gboolean
ticker_tick (gpointer user_data)
{
  EpTestTicker *ticker = user_data;
  gint64 now = g_get_monotonic_time ();

  if (ticker->last_tick_us != 0)
    ticker->longest_gap_us = MAX (ticker->longest_gap_us, now - ticker->last_tick_us);
  ticker->last_tick_us = now;
  ticker->ticks++;
  return G_SOURCE_CONTINUE;
}

void
ep_test_ticker_start (EpTestTicker *ticker)
{
  memset (ticker, 0, sizeof *ticker);
  ticker->source_id = g_timeout_add (1, ticker_tick, ticker);
}

void
ep_test_ticker_stop (EpTestTicker *ticker)
{
  g_clear_handle_id (&ticker->source_id, g_source_remove);
}

GSource *
ep_test_find_source (GMainContext *context,
                     const char   *name)
{
  GSource *probe = g_idle_source_new ();
  /* Source ids are the context's own, counted from 1. */
  guint last = g_source_attach (probe, context);
  GSource *found = NULL;

  g_source_destroy (probe);
  g_source_unref (probe);
  for (guint id = 1; id < last && found == NULL; id++)
    {
      GSource *source = g_main_context_find_source_by_id (context, id);

      if (source != NULL && !g_source_is_destroyed (source) &&
          g_strcmp0 (g_source_get_name (source), name) == 0)
        found = source;
    }
  return found;
}

guint64
ep_test_count_of (EpProducer *producer,
                  guint       reason,
                  const char *name)
{
  g_autoptr(GVariant) counters = ep_producer_dup_counters (producer);
  g_autoptr(GVariant) map = g_variant_get_child_value (counters, reason);
  guint64 count = 0;

  g_variant_lookup (map, name, "t", &count);
  return count;
}

static void
on_log_record (const char     *domain,
               GLogLevelFlags  level,
               const char     *message,
               gpointer        user_data)
{
  g_ptr_array_add (user_data, g_strdup (message));
}

guint
ep_test_capture_log (GPtrArray      *lines,
                     GLogLevelFlags  levels)
{
  return g_log_set_handler ("Ep", levels, on_log_record, lines);
}

gboolean
ep_test_log_has (GPtrArray  *lines,
                 const char *pattern)
{
  for (guint i = 0; i < lines->len; i++)
    if (g_pattern_match_simple (pattern, g_ptr_array_index (lines, i)))
      return TRUE;
  return FALSE;
}

/* The head of GLib's GMainContext (gmain.c: the lock, its condition and
 * the owner, in that order since GLib 2.26); checked through the owner
 * before the lock is used. */
typedef struct {
  GMutex   mutex;
  GCond    cond;
  GThread *owner;
} ContextHead;

static void
hand_back_hook (gboolean handed_back,
                gpointer data)
{
  EpTestHandBack *hb = data;

  g_mutex_lock (&hb->lock);
  if (!handed_back && !hb->stopped)
    {
      hb->stopped = TRUE;
      g_cond_broadcast (&hb->cond);
      while (!hb->go)
        g_cond_wait (&hb->cond, &hb->lock);
    }
  else if (handed_back && hb->go)
    {
      hb->handed_back = TRUE;
      g_cond_broadcast (&hb->cond);
    }
  g_mutex_unlock (&hb->lock);
}

gboolean
ep_test_hand_back_start (EpTestHandBack *hb)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  ContextHead *head = (ContextHead *) context;
  gboolean known;

  memset (hb, 0, sizeof *hb);
  g_assert_true (g_main_context_acquire (context));
  known = head->owner == g_thread_self ();
  g_main_context_release (context);
  if (!known || head->owner != NULL)
    {
      g_test_skip ("GMainContext's layout is not the one this test knows");
      return FALSE;
    }
  g_mutex_init (&hb->lock);
  g_cond_init (&hb->cond);
  ep_handoff_set_hook_for_testing (hand_back_hook, hb);
  return TRUE;
}

gboolean
ep_test_hand_back_stopped (EpTestHandBack *hb)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&hb->lock);

  return hb->stopped;
}

gboolean
ep_test_hand_back_with_context_locked (EpTestHandBack *hb,
                                       GMainContext   *context)
{
  ContextHead *head = (ContextHead *) context;
  gint64 deadline;
  gboolean handed_back;

  g_mutex_lock (&head->mutex);
  g_mutex_lock (&hb->lock);
  hb->go = TRUE;
  g_cond_broadcast (&hb->cond);
  deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000;
  while (!hb->handed_back && g_cond_wait_until (&hb->cond, &hb->lock, deadline))
    ;
  handed_back = hb->handed_back;
  g_mutex_unlock (&hb->lock);
  g_mutex_unlock (&head->mutex);
  return handed_back;
}

void
ep_test_hand_back_end (EpTestHandBack *hb)
{
  ep_handoff_set_hook_for_testing (NULL, NULL);
  g_mutex_lock (&hb->lock);
  hb->go = TRUE;
  g_cond_broadcast (&hb->cond);
  g_mutex_unlock (&hb->lock);
}
