/* ep-device-private.h: what the default headers say about the machine
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char *vendor;      /* DMI sys_vendor, or NULL when unreadable */
  char *model;       /* DMI product_name, or NULL */
  char *os_name;     /* os-release NAME, or NULL */
  char *os_version;  /* os-release VERSION_ID, or NULL */
} EpDeviceInfo;

/* Detected once per process (reads /etc/os-release or /usr/lib/os-release and
 * /sys/class/dmi/id); the result is shared and never freed. */
const EpDeviceInfo *ep_device_info_get   (void);

/* Parses one key of os-release formatted text (shell-style quoting);
 * NULL when absent or empty. */
char               *ep_os_release_lookup (const char *contents,
                                          const char *key);

G_END_DECLS
