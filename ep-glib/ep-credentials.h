/* ep-credentials.h: an access token and a client id
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(EP_GLIB_INSIDE) && !defined(EP_GLIB_COMPILATION)
# error "Only <ep-glib/ep-glib.h> can be included directly."
#endif

#include <glib-object.h>

#include <ep-glib/ep-version.h>

G_BEGIN_DECLS

#define EP_TYPE_CREDENTIALS (ep_credentials_get_type ())

EP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (EpCredentials, ep_credentials, EP, CREDENTIALS, GObject)

EP_AVAILABLE_IN_ALL
EpCredentials *ep_credentials_new           (const char    *token,
                                             const char    *client_id);
EP_AVAILABLE_IN_ALL
const char    *ep_credentials_get_token     (EpCredentials *self);
EP_AVAILABLE_IN_ALL
const char    *ep_credentials_get_client_id (EpCredentials *self);

G_END_DECLS
