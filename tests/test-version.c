/* test-version.c: the version of ep-glib at compile time and at run time
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built against the shared library (not the internal static one), so it
 * also proves that the version functions are exported.
 */
#include <ep-glib/ep-glib.h>

static void
test_runtime_matches_headers (void)
{
  g_autofree char *version = NULL;

  g_assert_cmpuint (ep_get_major_version (), ==, EP_MAJOR_VERSION);
  g_assert_cmpuint (ep_get_minor_version (), ==, EP_MINOR_VERSION);
  g_assert_cmpuint (ep_get_micro_version (), ==, EP_MICRO_VERSION);

  version = g_strdup_printf ("%u.%u.%u", ep_get_major_version (),
                             ep_get_minor_version (), ep_get_micro_version ());
  g_assert_cmpstr (version, ==, EP_VERSION_S);
}

static void
test_check_version (void)
{
  const guint major = EP_MAJOR_VERSION;
  const guint minor = EP_MINOR_VERSION;
  const guint micro = EP_MICRO_VERSION;

  /* The first release and the current one. */
  g_assert_true (ep_check_version (0, 1, 0));
  g_assert_true (ep_check_version (major, minor, micro));
  g_assert_true (ep_check_version (major, minor, 0));
  g_assert_true (ep_check_version (0, 0, 0));

  /* Anything newer, in each position. */
  g_assert_false (ep_check_version (major, minor, micro + 1));
  g_assert_false (ep_check_version (major, minor + 1, 0));
  g_assert_false (ep_check_version (major + 1, 0, 0));

  /* An older minor with any micro is older; an older major with any minor. */
  if (minor > 0)
    g_assert_true (ep_check_version (major, minor - 1, 999));
  if (major > 0)
    g_assert_true (ep_check_version (major - 1, 999, 999));
}

/* ep_check_version() and EP_CHECK_VERSION agree on a grid around the
 * current version (the headers and the library are the same here). */
static void
test_check_version_macro_agrees (void)
{
  /* Signed: the macro compares with the literal versions. */
  for (int major = 0; major <= EP_MAJOR_VERSION + 1; major++)
    for (int minor = 0; minor <= EP_MINOR_VERSION + 2; minor++)
      for (int micro = 0; micro <= EP_MICRO_VERSION + 2; micro++)
        {
          gboolean macro = EP_CHECK_VERSION (major, minor, micro);

          g_assert_cmpint (ep_check_version (major, minor, micro), ==, macro);
        }
}

static void
test_encoded_versions (void)
{
  g_assert_cmpuint (EP_VERSION_0_1, <, EP_VERSION_0_2);
  g_assert_cmpuint (EP_VERSION_0_2, <=, EP_VERSION_HEX);
  g_assert_cmpuint (EP_VERSION_HEX, ==,
                    G_ENCODE_VERSION (ep_get_major_version (), ep_get_minor_version ()));
  /* Without definitions by the application: the headers' version. */
  g_assert_cmpuint (EP_VERSION_MIN_REQUIRED, ==, EP_VERSION_HEX);
  g_assert_cmpuint (EP_VERSION_MAX_ALLOWED, ==, EP_VERSION_HEX);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/ep/version/runtime-matches-headers", test_runtime_matches_headers);
  g_test_add_func ("/ep/version/check", test_check_version);
  g_test_add_func ("/ep/version/check-macro-agrees", test_check_version_macro_agrees);
  g_test_add_func ("/ep/version/encoded", test_encoded_versions);

  return g_test_run ();
}
