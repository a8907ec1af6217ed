/* ep-test-util.c: helpers shared by the GTest programs
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

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
