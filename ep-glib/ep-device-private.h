/* ep-device-private.h: what the default headers say about the machine, and where its sandbox keeps state
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
void                ep_device_info_free  (EpDeviceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpDeviceInfo, ep_device_info_free)

/* Parses one key of os-release formatted text (shell-style quoting);
 * NULL when absent or empty. */
char               *ep_os_release_lookup (const char *contents,
                                          const char *key);

/* The default queue directory of @app_name: $XDG_STATE_HOME/ep-glib/NAME
 * (GLib's g_get_user_state_dir(): ~/.local/state when unset). Inside a
 * Flatpak sandbox (@root/.flatpak-info exists) without XDG_STATE_HOME, as
 * under Flatpak before 1.13, ~/.local/state is a tmpfs that goes away with
 * the sandbox, so the app's own persistent directory is used (where newer
 * Flatpak points XDG_STATE_HOME):
 * ~/.var/app/ID/.local/state/ep-glib/NAME, ID from .flatpak-info; there
 * @flatpak_fallback is set to TRUE. (transfer full) */
char               *ep_default_queue_dir (const char *root,
                                          const char *app_name,
                                          gboolean   *flatpak_fallback);

G_END_DECLS
