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

/* Detected once per process (ep_device_info_detect ("/")); the result is
 * shared and never freed. */
const EpDeviceInfo *ep_device_info_get   (void);

/* Reads, under @root: the first of run/host/os-release (the host's, under
 * Flatpak), etc/os-release and usr/lib/os-release that exists, and
 * sys/class/dmi/id. (transfer full) */
EpDeviceInfo       *ep_device_info_detect (const char   *root);
void                ep_device_info_free   (EpDeviceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDeviceInfo, ep_device_info_free)

/* Parses one key of os-release formatted text (shell-style quoting);
 * NULL when absent or empty. */
char               *ep_os_release_lookup (const char *contents,
                                          const char *key);

G_END_DECLS
