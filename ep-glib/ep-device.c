/* ep-device.c: what the default headers say about the machine
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "ep-device-private.h"

char *
ep_os_release_lookup (const char *contents,
                      const char *key)
{
  g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);
  gsize key_len = strlen (key);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = lines[i];
      g_autofree char *value = NULL;

      if (strncmp (line, key, key_len) != 0 || line[key_len] != '=')
        continue;
      value = g_shell_unquote (line + key_len + 1, NULL);
      if (value == NULL || *value == '\0')
        return NULL;
      return g_steal_pointer (&value);
    }
  return NULL;
}

static char *
read_trimmed (const char *path)
{
  g_autofree char *contents = NULL;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NULL;
  g_strstrip (contents);
  if (*contents == '\0' || !g_utf8_validate (contents, -1, NULL))
    return NULL;
  return g_steal_pointer (&contents);
}

static gpointer
detect (gpointer data)
{
  EpDeviceInfo *info = g_new0 (EpDeviceInfo, 1);
  g_autofree char *os_release = NULL;

  if (g_file_get_contents ("/etc/os-release", &os_release, NULL, NULL) ||
      g_file_get_contents ("/usr/lib/os-release", &os_release, NULL, NULL))
    {
      info->os_name = ep_os_release_lookup (os_release, "NAME");
      info->os_version = ep_os_release_lookup (os_release, "VERSION_ID");
    }
  info->vendor = read_trimmed ("/sys/class/dmi/id/sys_vendor");
  info->model = read_trimmed ("/sys/class/dmi/id/product_name");
  return info;
}

const EpDeviceInfo *
ep_device_info_get (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, detect, NULL);
}
