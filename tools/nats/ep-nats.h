/* ep-nats.h: what ep-consumer's NATS sink and ep-stream share
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>
#include <nats/nats.h>

G_BEGIN_DECLS

/* How to reach the engine: a comma-separated list of URLs (nats://HOST:PORT,
 * the scheme optional; user:password@ inside a URL works as nats.c reads
 * it), and the optional credentials nats.c takes */
typedef struct {
  const char *servers;
  const char *creds;       /* a .creds file (JWT and NKey seed) */
  const char *token_file;  /* a file holding a token */
  const char *ca;          /* CA certificates: TLS on */
} EpNatsServer;

/* New natsOptions for @server; NULL with @error on failure */
natsOptions *ep_nats_options_new (const EpNatsServer  *server,
                                  const char          *name,
                                  GError             **error);

/* @urls with "nats://" where a URL has no scheme */
char        *ep_nats_server_urls (const char          *urls);

void         ep_nats_set_error   (GError             **error,
                                  natsStatus           status,
                                  const char          *what);

G_END_DECLS
