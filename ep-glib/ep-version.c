/* ep-version.c: the version of ep-glib at run time
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include "ep-version.h"

/**
 * ep_get_major_version:
 *
 * Returns the major version of the ep-glib library the application runs
 * against (0 for 0.2.1).
 *
 * The `EP_MAJOR_VERSION` macro is the version of the headers the
 * application was compiled against.
 *
 * Returns: the major version of the library
 *
 * Since: 0.2
 */
guint
ep_get_major_version (void)
{
  return EP_MAJOR_VERSION;
}

/**
 * ep_get_minor_version:
 *
 * Returns the minor version of the ep-glib library the application runs
 * against (2 for 0.2.1).
 *
 * The `EP_MINOR_VERSION` macro is the version of the headers the
 * application was compiled against.
 *
 * Returns: the minor version of the library
 *
 * Since: 0.2
 */
guint
ep_get_minor_version (void)
{
  return EP_MINOR_VERSION;
}

/**
 * ep_get_micro_version:
 *
 * Returns the micro version of the ep-glib library the application runs
 * against (1 for 0.2.1).
 *
 * The `EP_MICRO_VERSION` macro is the version of the headers the
 * application was compiled against.
 *
 * Returns: the micro version of the library
 *
 * Since: 0.2
 */
guint
ep_get_micro_version (void)
{
  return EP_MICRO_VERSION;
}

/**
 * ep_check_version:
 * @major: the required major version
 * @minor: the required minor version
 * @micro: the required micro version
 *
 * Checks that the ep-glib library the application runs against is the
 * given version or newer.
 *
 * This is `EP_CHECK_VERSION` at run time: it lets an application built
 * against older headers use newer API when the installed library has it,
 * and a GJS or Python program test for a feature before using it.
 *
 * ```python
 * if Ep.check_version(0, 2, 0):
 *     print("ep-glib", Ep.get_major_version(), Ep.get_minor_version())
 * ```
 *
 * Returns: whether the library is at least @major.@minor.@micro
 *
 * Since: 0.2
 */
gboolean
ep_check_version (guint major,
                  guint minor,
                  guint micro)
{
  /* Variables, not the macros: comparing a guint with the literal 0 of
   * EP_MAJOR_VERSION would be a constant expression to the compiler. */
  const guint lib_major = EP_MAJOR_VERSION;
  const guint lib_minor = EP_MINOR_VERSION;
  const guint lib_micro = EP_MICRO_VERSION;

  if (major != lib_major)
    return lib_major > major;
  if (minor != lib_minor)
    return lib_minor > minor;
  return lib_micro >= micro;
}
