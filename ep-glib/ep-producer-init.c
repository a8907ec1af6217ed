/* ep-producer-init.c: the producer's parts, checked, built and wired
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What GInitable's init does: check the configuration (the URIs, the
 * names), configure the submitter, open the queue, restore the saved
 * state (ep-producer-state.c: the outage, the clock offset, the monitor's
 * counters), apply the consent state to the queue (ep-producer-consent.c),
 * start the scheduler with its transport. And
 * the callbacks through which the parts report back: they hand their news
 * to ep-producer-context.c, or to ep-producer.c for the signal.
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"
#include "ep-device-private.h"
#include "ep-producer-internal.h"
#include "ep-producer-private.h"

/* Callbacks ---------------------------------------------------------------- */

/* Any thread: the queue's state changed on its own (its directory was
 * deleted and the events stored again: a storage outage to announce; or it
 * deleted events of a blocked consent category: drops to count). */
static void
queue_notified (gpointer data)
{
  ep_producer_schedule_update (data);
}

/* Any thread (the queue, before it deletes events on its own; the
 * scheduler, before each reply): whether anyone listens to
 * events-settled, so that no id is collected for nobody. */
static gboolean
wants_settled (gpointer data)
{
  return ep_producer_wants_settled (data);
}

static void
on_events_settled (gpointer        user_data,
                   GPtrArray      *ids,
                   EpEventOutcome  outcome)
{
  ep_producer_emit_events_settled (EP_PRODUCER (user_data), ids, outcome);
}

/* Scheduler callbacks (EpSchedulerCallbacks): on the main context, never
 * inside a libsoup callback (the transport hands replies over from an
 * idle), so the public signals they cause can be emitted right away. */

static void
set_delivery_outage (EpProducer *self,
                     gboolean    failing)
{
  self->delivery_outage = failing;
  if (!failing)
    {
      self->delivery_reason = EP_OUTAGE_REASON_NONE;
      g_clear_pointer (&self->delivery_error, g_free);
    }
  ep_producer_state_set_delivery_error (self->state, self->delivery_reason, self->delivery_error);
  ep_producer_update_outage (self);
}

/* A failing attempt without a network (a flush) was expected to fail:
 * offline is not an outage. */
static void
on_delivery_failing (gpointer user_data,
                     gboolean failing)
{
  EpProducer *self = user_data;

  set_delivery_outage (self, failing && self->network_available);
}

/* Every failed attempt (before the scheduler reports failing, if it is a
 * change): the outage, and what the application shows (last-error)
 * follows the latest attempt. */
static void
on_delivery_error (gpointer        user_data,
                   EpOutageReason  reason,
                   const char     *message)
{
  EpProducer *self = user_data;

  self->delivery_reason = reason;
  g_free (self->delivery_error);
  self->delivery_error = g_strdup (message);
  on_delivery_failing (self, TRUE);
}

/* Offline is not an outage: a delivery outage ends with the network (the
 * scheduler tries again as soon as it is back, and a failure then starts
 * a new one). */
static void
on_network_changed (gpointer user_data,
                    gboolean available)
{
  EpProducer *self = user_data;

  self->network_available = available;
  if (!available && self->delivery_outage)
    set_delivery_outage (self, FALSE);
  else
    ep_producer_update_outage (self);
}

static void
on_credentials_rejected (gpointer user_data,
                         guint    status)
{
  ep_producer_emit_credentials_rejected (EP_PRODUCER (user_data), status);
}

static void
on_queue_changed (gpointer user_data)
{
  ep_producer_update_queue_properties (EP_PRODUCER (user_data));
}

/* The consumer's clock moved away from ours: events sent from now on are
 * stamped with its time, and the offset is saved for the next start. */
void
ep_producer_set_clock_offset (EpProducer *self,
                              gint64      offset_ms)
{
  g_return_if_fail (EP_IS_PRODUCER (self));
  g_return_if_fail (self->state != NULL);

  ep_submitter_set_clock_offset (self->submitter, offset_ms);
  ep_producer_state_set_clock_offset (self->state, offset_ms);
}

static void
on_clock_offset_changed (gpointer user_data,
                         gint64   offset_ms)
{
  ep_producer_set_clock_offset (user_data, offset_ms);
}

static GBytes *
build_monitoring_event (gpointer    user_data,
                        const char *payload)
{
  EpProducer *self = user_data;

  return ep_submitter_build_monitoring_event (self->submitter, payload);
}

/* Submitter callbacks: any thread. */

static void
on_queue_appended (gpointer user_data)
{
  ep_producer_schedule_update (user_data);
}

static void
on_counters_changed (gpointer user_data)
{
  ep_producer_counters_changed (user_data);
}

/* Initialization ----------------------------------------------------------- */

/* RFC 3986: unreserved and reserved characters, and '%' starting a
 * percent-encoded octet. Anything else (a space, a quote, a control or a
 * non-ASCII character) makes every request fail later, so it fails init. */
static gboolean
uri_characters_are_valid (const char *value)
{
  static const char allowed[] = "-._~:/?#[]@!$&'()*+,;=";

  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '%')
        {
          if (!g_ascii_isxdigit (p[1]) || !g_ascii_isxdigit (p[2]))
            return FALSE;
          p += 2;
        }
      else if (!g_ascii_isalnum (*p) && strchr (allowed, *p) == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
invalid_uri (const char  *property,
             const char  *value,
             const char  *why,
             GError     **error)
{
  g_autofree char *shown = ep_event_dup_shown_text (value, 300);

  g_set_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
               "%s '%s' is not an absolute http or https URI with a host: %s", property, shown, why);
  return FALSE;
}

static gboolean
check_uri (const char  *property,
           const char  *value,
           GError     **error)
{
  g_autoptr(GUri) uri = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *scheme;
  const char *host;

  if (value == NULL || *value == '\0')
    {
      g_set_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
                   "%s is required (an absolute http or https URI)", property);
      return FALSE;
    }
  if (!uri_characters_are_valid (value))
    return invalid_uri (property, value, "it contains characters a URI cannot hold "
                        "(spaces and the like must be percent-encoded)", error);
  uri = g_uri_parse (value, G_URI_FLAGS_NONE, &local_error);
  if (uri == NULL)
    return invalid_uri (property, value, local_error->message, error);
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "http") != 0 && g_ascii_strcasecmp (scheme, "https") != 0)
    return invalid_uri (property, value, "the scheme is neither http nor https", error);
  host = g_uri_get_host (uri);
  if (host == NULL || *host == '\0')
    return invalid_uri (property, value, "it has no host", error);
  if (strcmp (g_uri_get_path (uri), "/") == 0 || *g_uri_get_path (uri) == '\0')
    {
      /* Valid, and usually a mistake: a hint, not a warning. */
      g_autofree char *shown = g_uri_to_string_partial (uri, G_URI_HIDE_USERINFO |
                                                             G_URI_HIDE_QUERY);

      g_message ("%s '%s' has no path: events are posted to the URI as given, and a TL "
                 "consumer takes them at a path such as /api/event-batch (ep-consumer: "
                 "/api/event-batch and /api/public/event-batch); a 404 on delivery means "
                 "the path is missing", property, shown);
    }
  if (g_ascii_strcasecmp (scheme, "https") == 0 &&
      !g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_TLS_UNAVAILABLE,
                   "%s '%s' needs TLS, but GIO has no TLS backend: install glib-networking",
                   property, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_config (EpProducer  *self,
              GError     **error)
{
  if (self->app_name == NULL || *self->app_name == '\0')
    {
      g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID_CONFIG, "app-name is required");
      return FALSE;
    }
  if (self->app_version == NULL || *self->app_version == '\0')
    {
      g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
                           "app-version is required (the app-version header of every event)");
      return FALSE;
    }
  if (self->queue_dir != NULL && *self->queue_dir == '\0')
    {
      g_set_error_literal (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
                           "queue-dir is empty: name a directory, or leave it unset for the default");
      return FALSE;
    }
  if (self->queue_dir == NULL &&
      (strchr (self->app_name, '/') != NULL || self->app_name[0] == '.'))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
                   "app-name '%s' cannot name a queue directory (it contains '/' or starts "
                   "with '.'); set queue-dir", self->app_name);
      return FALSE;
    }
  if (!check_uri ("consumer-uri", self->consumer_uri, error) ||
      !check_uri ("public-consumer-uri", self->public_consumer_uri, error))
    return FALSE;
  return TRUE;
}

static gboolean
configure_submitter (EpProducer  *self,
                     GError     **error)
{
  EpSubmitterConfig config = {
    .app_name = self->app_name,
    .app_version = self->app_version,
    .device_vendor = self->device_info[DEVICE_VENDOR],
    .device_model = self->device_info[DEVICE_MODEL],
    .os_name = self->device_info[DEVICE_OS_NAME],
    .os_version = self->device_info[DEVICE_OS_VERSION],
    .browser_name = self->browser_name,
    .browser_version = self->browser_version,
    .strict_mode = self->strict_mode,
    .stamp_payload = self->stamp_payload,
  };

  return ep_submitter_configure (self->submitter, &config, error);
}

static char *
user_agent (EpProducer *self)
{
  return g_strdup_printf ("ep-glib/%s %s/%s", PACKAGE_VERSION, self->app_name,
                          self->app_version ? self->app_version : "unknown");
}

static void
start_scheduler (EpProducer *self,
                 gboolean    delivery_failing)
{
  g_autofree char *agent = user_agent (self);
  g_autoptr(EpCredentials) credentials = ep_submitter_dup_credentials (self->submitter);
  EpSchedulerConfig config = {
    .consumer_uri = self->consumer_uri,
    .public_consumer_uri = self->public_consumer_uri,
    .batch_interval_ms = self->batch_interval_ms,
    .monitoring_interval_ms = self->monitoring_interval_ms,
    .constrained_interval_ms = self->constrained_interval_ms,
    .request_timeout_ms = self->request_timeout_ms,
    .max_in_flight = self->max_in_flight,
    .delivery_failing = delivery_failing,
    .clock_offset_ms = ep_submitter_get_clock_offset (self->submitter),
  };
  static const EpSchedulerCallbacks callbacks = {
    .delivery_failing = on_delivery_failing,
    .delivery_error = on_delivery_error,
    .network_changed = on_network_changed,
    .credentials_rejected = on_credentials_rejected,
    .queue_changed = on_queue_changed,
    .build_monitoring_event = build_monitoring_event,
    .clock_offset_changed = on_clock_offset_changed,
    .wants_outcomes = wants_settled,
    .events_settled = on_events_settled,
  };

  self->transport = ep_transport_new (agent, self->request_timeout_ms);
  self->scheduler = ep_scheduler_new (self->queue, self->monitor, self->transport,
                                      &config, &callbacks, self);
  ep_scheduler_set_credentials (self->scheduler, credentials);
  ep_scheduler_set_compress (self->scheduler, self->compress_requests);
  ep_scheduler_start (self->scheduler);
}

static const EpSubmitterCallbacks submitter_callbacks = {
  .queue_changed = on_queue_appended,
  .counters_changed = on_counters_changed,
};

/* EP_CONSUMER_URL points a development build at a local consumer without
 * a change of code: it replaces both consumer URIs. A URL with a path is
 * used for both as given; one without (http://127.0.0.1:8080) stands for
 * ep-consumer's two endpoints. Said once, as a message. */
static gboolean
apply_consumer_url (EpProducer  *self,
                    GError     **error)
{
  const char *url = g_getenv ("EP_CONSUMER_URL");
  g_autoptr(GUri) parsed = NULL;
  const char *path;

  if (url == NULL || *url == '\0')
    return TRUE;
  parsed = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);
  if (parsed == NULL || g_uri_get_host (parsed) == NULL || *g_uri_get_host (parsed) == '\0' ||
      (g_ascii_strcasecmp (g_uri_get_scheme (parsed), "http") != 0 &&
       g_ascii_strcasecmp (g_uri_get_scheme (parsed), "https") != 0))
    {
      g_set_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG,
                   "EP_CONSUMER_URL '%s' is not an absolute http or https URI", url);
      return FALSE;
    }
  g_free (self->consumer_uri);
  g_free (self->public_consumer_uri);
  path = g_uri_get_path (parsed);
  if (*path == '\0' || strcmp (path, "/") == 0)
    {
      g_autofree char *base = g_uri_to_string_partial (parsed, G_URI_HIDE_QUERY | G_URI_HIDE_FRAGMENT);
      gsize len = strlen (base);

      if (len > 0 && base[len - 1] == '/')
        base[len - 1] = '\0';
      self->consumer_uri = g_strconcat (base, "/api/event-batch", NULL);
      self->public_consumer_uri = g_strconcat (base, "/api/public/event-batch", NULL);
    }
  else
    {
      self->consumer_uri = g_strdup (url);
      self->public_consumer_uri = g_strdup (url);
    }
  g_message ("EP_CONSUMER_URL is set: events go to %s (consumer-uri) and %s "
             "(public-consumer-uri) instead of the configured URIs",
             self->consumer_uri, self->public_consumer_uri);
  return TRUE;
}

/* Checks the configuration, opens the queue and builds the parts; FALSE
 * with @error set (or not, when the queue could not be opened without
 * saying why). */
gboolean
ep_producer_init_parts (EpProducer  *self,
                        GError     **error)
{
  gboolean storage, delivery;

  if (!apply_consumer_url (self, error) || !check_config (self, error) ||
      !configure_submitter (self, error))
    return FALSE;

  if (self->queue_dir == NULL)
    {
      gboolean flatpak_fallback;

      self->queue_dir = ep_default_queue_dir ("/", self->app_name, &flatpak_fallback);
      if (flatpak_fallback)
        g_message ("XDG_STATE_HOME is not set in this Flatpak sandbox (Flatpak before 1.13): "
                   "the queue is in %s, which persists, not under ~/.local/state, which "
                   "would not", self->queue_dir);
    }

  if (self->read_only)
    self->queue = ep_queue_open_read_only (self->queue_dir, error);
  else
    self->queue = ep_queue_open (self->queue_dir, self->max_disk_usage, self->sync_on_send,
                                 (const char * const *) self->feral_event_types, error);
  if (self->queue == NULL)
    return FALSE;
  ep_queue_set_notify_func (self->queue, queue_notified, self);
  ep_queue_set_wants_ids_func (self->queue, wants_settled, self);
  g_debug ("Queue opened%s in %s: %" G_GUINT64_FORMAT " %s (%" G_GUINT64_FORMAT
           " bytes) restored, %u corrupt records discarded, %" G_GUINT64_FORMAT
           " duplicate copies skipped, %u odd files moved aside",
           self->read_only ? " read-only" : "", self->queue_dir,
           ep_queue_get_length (self->queue),
           ep_queue_get_length (self->queue) == 1 ? "event" : "events",
           ep_queue_get_bytes (self->queue),
           ep_queue_get_discarded (self->queue), ep_queue_get_duplicates (self->queue),
           ep_queue_get_moved_aside (self->queue));

  self->monitor = ep_monitor_new ();
  self->state = ep_producer_state_new (self->queue, self->monitor);
  ep_submitter_set_clock_offset (self->submitter, ep_producer_state_get_clock_offset (self->state));
  /* before the lengths are taken: a blocked category's events go now,
   * the desktop's privacy setting included */
  ep_producer_privacy_start (self);
  ep_producer_consent_start (self);
  if (!self->read_only && self->max_event_age > 0)
    {
      ep_monitor_set_reports_expired (self->monitor, TRUE);
      ep_queue_set_max_age (self->queue, (gint64) self->max_event_age * G_USEC_PER_SEC);
      ep_queue_expire (self->queue);
      ep_producer_count_expired (self, ep_queue_steal_expired (self->queue));
    }
  ep_producer_state_get_outage (self->state, &storage, &delivery);
  ep_queue_set_storing_failing (self->queue, storage);
  self->delivery_outage = delivery;
  self->delivery_reason = ep_producer_state_dup_delivery_error (self->state, &self->delivery_error);
  if (delivery && self->delivery_reason == EP_OUTAGE_REASON_NONE)
    self->delivery_reason = EP_OUTAGE_REASON_HTTP_ERROR;   /* saved by an older release */
  self->network_available = TRUE;
  /* Restored, not announced (see EpProducer:outage). */
  ep_producer_compute_outage (self, storage, &self->outage, &self->outage_reason, &self->last_error);
  self->notified_length = ep_queue_get_length (self->queue);
  self->notified_bytes = ep_queue_get_bytes (self->queue);
  ep_submitter_start (self->submitter, self->queue, self->monitor, &submitter_callbacks, self);

  if (!self->read_only)
    start_scheduler (self, delivery);
  return TRUE;
}
