/* ep-nats.c: connecting to NATS, for ep-consumer's sink and ep-stream
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "ep-nats.h"

char *
ep_nats_server_urls (const char *urls)
{
  g_auto(GStrv) list = g_strsplit (urls, ",", -1);

  for (guint i = 0; list[i] != NULL; i++)
    {
      g_strstrip (list[i]);
      if (strstr (list[i], "://") == NULL)
        {
          char *with_scheme = g_strconcat ("nats://", list[i], NULL);

          g_free (list[i]);
          list[i] = with_scheme;
        }
    }

  return g_strjoinv (",", list);
}

void
ep_nats_set_error (GError     **error,
                   natsStatus   status,
                   const char  *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s (%s)", what,
               natsStatus_GetText (status), nats_GetLastError (NULL));
}

static natsStatus
options_set_credentials (natsOptions         *options,
                         const EpNatsServer  *server,
                         GError             **error)
{
  natsStatus s = NATS_OK;

  if (server->creds != NULL)
    s = natsOptions_SetUserCredentialsFromFiles (options, server->creds, NULL);
  if (s == NATS_OK && server->token_file != NULL)
    {
      g_autofree char *token = NULL;

      if (!g_file_get_contents (server->token_file, &token, NULL, error))
        return NATS_ERR;
      s = natsOptions_SetToken (options, g_strstrip (token));
    }
  if (s == NATS_OK && server->ca != NULL)
    s = natsOptions_LoadCATrustedCertificates (options, server->ca);
  if (s == NATS_OK && server->ca != NULL)
    s = natsOptions_SetSecure (options, true);

  return s;
}

natsOptions *
ep_nats_options_new (const EpNatsServer  *server,
                     const char          *name,
                     GError             **error)
{
  g_autofree char *urls = ep_nats_server_urls (server->servers);
  g_auto(GStrv) list = g_strsplit (urls, ",", -1);
  g_autoptr(GError) local_error = NULL;
  natsOptions *options = NULL;
  natsStatus s;

  /* natsOptions_SetURL () takes one URL only: a list goes through
   * natsOptions_SetServers () */
  s = natsOptions_Create (&options);
  if (s == NATS_OK)
    s = natsOptions_SetServers (options, (const char **) list, (int) g_strv_length (list));
  if (s == NATS_OK)
    s = natsOptions_SetName (options, name);
  if (s == NATS_OK)
    s = options_set_credentials (options, server, &local_error);
  if (s == NATS_OK)
    return options;

  if (local_error != NULL)
    g_propagate_error (error, g_steal_pointer (&local_error));
  else
    ep_nats_set_error (error, s, "Bad NATS connection settings");
  natsOptions_Destroy (options);

  return NULL;
}
