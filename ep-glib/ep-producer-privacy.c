/* ep-producer-privacy.c: GNOME's usage-statistics setting, followed
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * With EpProducer:follow-desktop-privacy (the default), the producer reads
 * `send-software-usage-stats` of the `org.gnome.desktop.privacy` schema:
 * FALSE blocks PERFORMANCE and TARGETING as set_consent_blocked (TRUE)
 * would, and changes are followed live (GSettings::changed, on the
 * producer's main context). ep-producer-consent.c combines it with the
 * application's own choice.
 *
 * Where the schema (or its key) is not installed, nothing is followed and
 * nothing changes: the schema is looked up in the default
 * GSettingsSchemaSource first, since g_settings_new() aborts on an unknown
 * schema. Inside a Flatpak sandbox without dconf access, GSettings reads
 * the sandbox's own keyfile, where the key has its default (TRUE) unless
 * the application changed it there: the desktop's choice is not seen, and
 * nothing changes either (doc/privacy.md, doc/flatpak.md).
 *
 * The GSettings object lives on the producer's main context: it is created
 * with that context as the thread-default one (GSettings emits ::changed
 * there), during init when the calling thread can acquire the context, or
 * else from an idle on it.
 */
#include "config.h"

#include "ep-producer-internal.h"

#define PRIVACY_SCHEMA "org.gnome.desktop.privacy"
#define USAGE_STATS_KEY "send-software-usage-stats"

/* The schema, when it is installed with the key; NULL (logged at debug
 * level) when not. */
static GSettingsSchema *
lookup_schema (void)
{
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr(GSettingsSchema) schema = NULL;

  if (source != NULL)
    schema = g_settings_schema_source_lookup (source, PRIVACY_SCHEMA, TRUE);
  if (schema == NULL || !g_settings_schema_has_key (schema, USAGE_STATS_KEY))
    {
      g_debug ("No %s schema with the key %s: the desktop's privacy setting is not followed",
               PRIVACY_SCHEMA, USAGE_STATS_KEY);
      return NULL;
    }
  return g_steal_pointer (&schema);
}

static GSettings *
settings_new (GSettingsSchema *schema)
{
  return g_settings_new_full (schema, NULL, NULL);
}

static void
usage_stats_changed (GSettings  *settings,
                     const char *key,
                     EpProducer *self)
{
  gboolean allowed = g_settings_get_boolean (settings, USAGE_STATS_KEY);

  if (self->desktop_privacy != settings || self->closed)
    return;
  ep_producer_consent_set_desktop_blocked (self, !allowed);
}

/* On the main context (acquired, thread-default): starts watching and
 * applies the value now. */
static void
watch (EpProducer      *self,
       GSettingsSchema *schema)
{
  g_assert (self->desktop_privacy == NULL);

  self->desktop_privacy = settings_new (schema);
  g_signal_connect (self->desktop_privacy, "changed::" USAGE_STATS_KEY,
                    G_CALLBACK (usage_stats_changed), self);
  usage_stats_changed (self->desktop_privacy, USAGE_STATS_KEY, self);
}

static void
watch_on_main (EpProducer *self)
{
  g_autoptr(GSettingsSchema) schema = NULL;

  if (!self->follow_desktop_privacy || self->desktop_privacy != NULL || self->closed)
    return;
  schema = lookup_schema ();
  if (schema != NULL)
    watch (self, schema);
}

/* During init, before the consent state is applied to the queue: what
 * the desktop says now takes part in it. */
void
ep_producer_privacy_start (EpProducer *self)
{
  g_autoptr(GSettingsSchema) schema = NULL;

  if (!self->follow_desktop_privacy || self->read_only)
    return;
  schema = lookup_schema ();
  if (schema == NULL)
    return;
  if (g_main_context_acquire (self->context))
    {
      g_main_context_push_thread_default (self->context);
      watch (self, schema);
      g_main_context_pop_thread_default (self->context);
      g_main_context_release (self->context);
    }
  else
    {
      /* Another thread runs the main context: read the value now, watch
       * from there (which reads it again, so no change is missed). */
      g_autoptr(GSettings) once = settings_new (schema);

      g_debug ("The producer's main context runs in another thread: %s is read now and "
               "followed from there", PRIVACY_SCHEMA);
      ep_producer_consent_set_desktop_blocked (self,
                                               !g_settings_get_boolean (once, USAGE_STATS_KEY));
      ep_producer_call_on_main (self, 0, watch_on_main);
    }
}

/* The property changed (the main context's thread). After init, turning
 * it on follows the setting from now on (a "no" revokes at once); turning
 * it off stops following and leaves the application's choice alone. */
void
ep_producer_privacy_set_follow (EpProducer *self,
                                gboolean    follow)
{
  follow = !!follow;
  if (self->follow_desktop_privacy == follow)
    return;
  self->follow_desktop_privacy = follow;
  if (!self->initialized || self->read_only)
    return;
  if (follow)
    watch_on_main (self);
  else
    {
      ep_producer_privacy_stop (self);
      ep_producer_consent_set_desktop_blocked (self, FALSE);
    }
}

/* Stops watching (dispose, or the property turned off). */
void
ep_producer_privacy_stop (EpProducer *self)
{
  if (self->desktop_privacy == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->desktop_privacy, self);
  g_clear_object (&self->desktop_privacy);
}
