/* ep-queue-state.c: small state blobs kept beside the queue's journal
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * See ep-queue-state-private.h. Blobs are small (the producer state's
 * file, with the counters, is bounded at a few hundred KB) and rare (coalesced by their owners), so
 * g_file_set_contents_full() with CONSISTENT | DURABLE is the whole
 * implementation: a temporary file, fsync, rename, and an fsync of the
 * directory so that the rename itself survives a power cut.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ep-queue-state-private.h"

static char *
blob_path (EpQueue    *self,
           const char *name)
{
  g_assert (name != NULL && *name != '\0' && strchr (name, '/') == NULL);

  return g_build_filename (ep_queue_get_dir (self), name, NULL);
}

GBytes *
ep_queue_state_load (EpQueue     *self,
                     const char  *name,
                     GError     **error)
{
  g_autofree char *path = blob_path (self, name);
  g_autoptr(GError) local_error = NULL;
  char *contents = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &contents, &len, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "%s", local_error->message);
      return NULL;
    }
  return g_bytes_new_take (contents, len);
}

gboolean
ep_queue_state_save (EpQueue     *self,
                     const char  *name,
                     const void  *data,
                     gsize        len,
                     GError     **error)
{
  g_autofree char *path = blob_path (self, name);
  g_autoptr(GError) local_error = NULL;

  if (!ep_queue_is_writable (self))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED,
                   "The queue %s is closed or read-only: %s not saved", ep_queue_get_dir (self), name);
      return FALSE;
    }
  if (!g_file_set_contents_full (path, data, len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
ep_queue_state_move_aside (EpQueue     *self,
                           const char  *name,
                           GError     **error)
{
  g_autofree char *path = blob_path (self, name);
  g_autofree char *aside = g_strconcat (path, ".corrupt", NULL);

  if (!ep_queue_is_writable (self))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_CLOSED,
                   "The queue %s is closed or read-only: %s not moved", ep_queue_get_dir (self), name);
      return FALSE;
    }
  if (g_rename (path, aside) != 0)
    {
      int errsv = errno;

      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE, "Cannot rename %s to %s: %s",
                   path, aside, g_strerror (errsv));
      return FALSE;
    }
  return TRUE;
}
