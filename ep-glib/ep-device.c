/* ep-device.c: what the default headers say about the machine, and where its sandbox keeps state
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

static char *
read_under (const char *root,
            const char *path)
{
  g_autofree char *full = g_build_filename (root, path, NULL);

  return read_trimmed (full);
}

EpDeviceInfo *
ep_device_info_detect (const char *root)
{
  /* Under Flatpak (and toolbox-like containers) /etc/os-release is the
   * runtime's; the host's is mounted at /run/host/os-release. */
  static const char * const os_release_paths[] = {
    "run/host/os-release", "etc/os-release", "usr/lib/os-release",
  };
  EpDeviceInfo *info = g_new0 (EpDeviceInfo, 1);

  for (guint i = 0; i < G_N_ELEMENTS (os_release_paths); i++)
    {
      g_autofree char *path = g_build_filename (root, os_release_paths[i], NULL);
      g_autofree char *os_release = NULL;

      if (!g_file_get_contents (path, &os_release, NULL, NULL))
        continue;
      info->os_name = ep_os_release_lookup (os_release, "NAME");
      info->os_version = ep_os_release_lookup (os_release, "VERSION_ID");
      break;
    }
  info->vendor = read_under (root, "sys/class/dmi/id/sys_vendor");
  info->model = read_under (root, "sys/class/dmi/id/product_name");
  return info;
}

void
ep_device_info_free (EpDeviceInfo *info)
{
  g_free (info->vendor);
  g_free (info->model);
  g_free (info->os_name);
  g_free (info->os_version);
  g_free (info);
}

static gpointer
detect (gpointer data)
{
  return ep_device_info_detect ("/");
}

const EpDeviceInfo *
ep_device_info_get (void)
{
  static GOnce once = G_ONCE_INIT;

  return g_once (&once, detect, NULL);
}

/* The Flatpak application id of the sandbox under @root, or NULL outside
 * one. */
static char *
flatpak_app_id (const char *root)
{
  g_autofree char *path = g_build_filename (root, ".flatpak-info", NULL);
  g_autoptr(GKeyFile) info = g_key_file_new ();
  g_autofree char *id = NULL;

  if (!g_key_file_load_from_file (info, path, G_KEY_FILE_NONE, NULL))
    return NULL;
  id = g_key_file_get_string (info, "Application", "name", NULL);
  if (id == NULL || *id == '\0' || strchr (id, '/') != NULL || id[0] == '.')
    return NULL;
  return g_steal_pointer (&id);
}

char *
ep_default_queue_dir (const char *root,
                      const char *app_name,
                      gboolean   *flatpak_fallback)
{
  const char *state_home = g_getenv ("XDG_STATE_HOME");
  g_autofree char *id = NULL;

  *flatpak_fallback = FALSE;
  if (state_home == NULL || !g_path_is_absolute (state_home))
    id = flatpak_app_id (root);
  if (id == NULL)
    return g_build_filename (g_get_user_state_dir (), "ep-glib", app_name, NULL);
  *flatpak_fallback = TRUE;
  return g_build_filename (g_get_home_dir (), ".var", "app", id, ".local", "state",
                           "ep-glib", app_name, NULL);
}
