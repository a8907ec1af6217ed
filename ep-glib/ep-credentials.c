/* ep-credentials.c: an access token and a client id
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-glib.h"

/**
 * EpCredentials:
 *
 * What the producer authenticates with: an access token (when the user is
 * logged in) and the application's client id.
 *
 * Credentials are immutable; to refresh a token, create new credentials and
 * set them on the producer with [method@Ep.Producer.set_credentials]. Events
 * keep the headers they were stored with; only later requests use the new
 * token.
 */
struct _EpCredentials
{
  GObject  parent_instance;

  char    *token;      /* owned, nullable */
  char    *client_id;  /* owned, nullable */
};

enum {
  PROP_0,
  PROP_TOKEN,
  PROP_CLIENT_ID,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (EpCredentials, ep_credentials, G_TYPE_OBJECT)

static void
ep_credentials_finalize (GObject *object)
{
  EpCredentials *self = EP_CREDENTIALS (object);

  g_free (self->token);
  g_free (self->client_id);

  G_OBJECT_CLASS (ep_credentials_parent_class)->finalize (object);
}

static void
ep_credentials_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  EpCredentials *self = EP_CREDENTIALS (object);

  switch (prop_id)
    {
    case PROP_TOKEN:
      g_value_set_string (value, self->token);
      break;
    case PROP_CLIENT_ID:
      g_value_set_string (value, self->client_id);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static char *
dup_nonempty (const char *str)
{
  return (str != NULL && *str != '\0') ? g_strdup (str) : NULL;
}

static void
ep_credentials_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  EpCredentials *self = EP_CREDENTIALS (object);

  switch (prop_id)
    {
    case PROP_TOKEN:
      self->token = dup_nonempty (g_value_get_string (value));
      break;
    case PROP_CLIENT_ID:
      self->client_id = dup_nonempty (g_value_get_string (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ep_credentials_class_init (EpCredentialsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = ep_credentials_finalize;
  object_class->get_property = ep_credentials_get_property;
  object_class->set_property = ep_credentials_set_property;

  /**
   * EpCredentials:token: (getter get_token)
   *
   * The access token of the logged-in user, or %NULL when nobody is logged
   * in. An empty string counts as %NULL. Default: %NULL.
   */
  properties[PROP_TOKEN] =
    g_param_spec_string ("token", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * EpCredentials:client-id: (getter get_client_id)
   *
   * The application's client id, sent as the `client-id` event header and
   * as `X-Tidal-Token` on unauthenticated requests. An empty string counts
   * as %NULL. Default: %NULL.
   */
  properties[PROP_CLIENT_ID] =
    g_param_spec_string ("client-id", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
ep_credentials_init (EpCredentials *self)
{
}

/**
 * ep_credentials_new:
 * @token: (nullable): the access token, or %NULL when not logged in
 * @client_id: (nullable): the client id, or %NULL when unknown
 *
 * Creates immutable credentials.
 *
 * Returns: (transfer full): new credentials
 */
EpCredentials *
ep_credentials_new (const char *token,
                    const char *client_id)
{
  return g_object_new (EP_TYPE_CREDENTIALS,
                       "token", token,
                       "client-id", client_id,
                       NULL);
}

/**
 * ep_credentials_get_token:
 * @self: an #EpCredentials
 *
 * Gets the access token.
 *
 * Returns: (nullable): the access token, or %NULL
 */
const char *
ep_credentials_get_token (EpCredentials *self)
{
  g_return_val_if_fail (EP_IS_CREDENTIALS (self), NULL);

  return self->token;
}

/**
 * ep_credentials_get_client_id:
 * @self: an #EpCredentials
 *
 * Gets the client id.
 *
 * Returns: (nullable): the client id, or %NULL
 */
const char *
ep_credentials_get_client_id (EpCredentials *self)
{
  g_return_val_if_fail (EP_IS_CREDENTIALS (self), NULL);

  return self->client_id;
}
