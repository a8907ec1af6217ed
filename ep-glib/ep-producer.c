/* ep-producer.c: the event producer, the public façade
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The GObject: properties, signals, GInitable and the constructor. It
 * owns the three parts of TIDAL's design: the submitter (ep-submitter.c:
 * the send path), the queue (ep-queue*.c and ep-journal.c: the only code
 * that touches disk) and the scheduler (ep-scheduler.c: delivery), plus
 * the monitor's counters (ep-monitor.c) and what is saved with them
 * (ep-producer-state.c: the outage, the clock offset). The producer's other
 * files, sharing ep-producer-internal.h:
 *   ep-producer-init.c     checks the configuration, builds the parts and
 *                          wires the callbacks through which they report;
 *   ep-producer-context.c  hands their news to the main context, and keeps
 *                          the state announced there (the outage);
 *   ep-producer-send.c     the public calls of the send path (send, consent,
 *                          credentials);
 *   ep-producer-report.c   the public getters (outage, queue, counters);
 *   ep-producer-close.c    flush, close and purge.
 * Only this file emits the public signals (and notifies the properties),
 * on the producer's main context.
 */
#include "config.h"

#include <string.h>

#include "ep-enums.h"
#include "ep-producer-internal.h"
#include "ep-producer-private.h"

/**
 * EpProducer:
 *
 * Sends analytics events to the TIDAL Event Platform.
 *
 * An application hands events to [method@Ep.Producer.send_event]: a cheap
 * call, safe from any thread, that stores the event on disk before it
 * returns. The producer delivers stored events in batches to the consumer
 * from the [struct@GLib.MainContext] that was the thread-default when it was
 * created, deletes them only once the consumer confirmed them, counts every
 * event it had to drop and why, and tells the application through
 * [signal@Ep.Producer::outage-changed] when delivery or storage stops working.
 *
 * [method@Ep.Producer.flush_async], [method@Ep.Producer.close_async] and
 * [method@Ep.Producer.purge_async] are called from the thread of that main
 * context: while a thread runs it (or has it pushed as its thread-default),
 * from that thread only. Called from another one they do nothing but log a
 * critical warning.
 *
 * ```c
 * g_autoptr(GError) error = NULL;
 * g_autoptr(EpProducer) producer =
 *   ep_producer_new ("my-player", "1.2.0",
 *                    "https://ingest.example.com/api/event-batch",
 *                    "https://ingest.example.com/api/public/event-batch",
 *                    &error);
 *
 * if (producer == NULL)
 *   g_error ("%s", error->message);
 *
 * ep_producer_send_event (producer, "playback_session",
 *                         EP_CONSENT_CATEGORY_NECESSARY,
 *                         "{\"trackId\":42}", NULL);
 * ```
 *
 * Other settings are construct properties, set with g_initable_new():
 *
 * ```c
 * producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
 *                            "app-name", "my-player",
 *                            "app-version", "1.2.0",
 *                            "consumer-uri", consumer_uri,
 *                            "public-consumer-uri", public_uri,
 *                            "batch-interval", 10000,
 *                            NULL);
 * ```
 */

#define DEFAULT_MAX_DISK_USAGE (10 * 1024 * 1024)
#define DEFAULT_BATCH_INTERVAL_MS 30000
#define DEFAULT_MONITORING_INTERVAL_MS 60000
#define DEFAULT_CONSTRAINED_INTERVAL_MS (5 * 60 * 1000)
#define DEFAULT_REQUEST_TIMEOUT_MS 10000
#define DEFAULT_MAX_IN_FLIGHT 4

enum {
  PROP_0,
  PROP_APP_NAME,
  PROP_APP_VERSION,
  PROP_CONSUMER_URI,
  PROP_PUBLIC_CONSUMER_URI,
  PROP_QUEUE_DIR,
  PROP_MAX_DISK_USAGE,
  PROP_BATCH_INTERVAL,
  PROP_MONITORING_INTERVAL,
  PROP_CONSTRAINED_INTERVAL,
  PROP_REQUEST_TIMEOUT,
  PROP_STRICT_MODE,
  PROP_SYNC_ON_SEND,
  PROP_READ_ONLY,
  PROP_STAMP_PAYLOAD,
  PROP_PERSIST_CONSENT,
  PROP_FOLLOW_DESKTOP_PRIVACY,
  PROP_COMPRESS_REQUESTS,
  PROP_MAX_EVENT_AGE,
  PROP_MAX_IN_FLIGHT,
  PROP_FERAL_EVENT_TYPES,
  PROP_DEVICE_VENDOR,
  PROP_DEVICE_MODEL,
  PROP_OS_NAME,
  PROP_OS_VERSION,
  PROP_BROWSER_NAME,
  PROP_BROWSER_VERSION,
  PROP_CREDENTIALS,
  PROP_OUTAGE,
  PROP_OUTAGE_REASON,
  PROP_LAST_ERROR,
  PROP_QUEUE_LENGTH,
  PROP_QUEUE_BYTES,
  PROP_DISCARDED_RECORDS,
  N_PROPS
};

enum {
  SIGNAL_OUTAGE_CHANGED,
  SIGNAL_CREDENTIALS_REJECTED,
  SIGNAL_EVENTS_SETTLED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void ep_producer_initable_iface_init (GInitableIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (EpProducer, ep_producer, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE,
                                                      ep_producer_initable_iface_init))

/* Notifications and signals: called on the main context -------------------- */

void
ep_producer_update_queue_properties (EpProducer *self)
{
  guint64 length = ep_queue_get_length (self->queue);
  guint64 bytes = ep_queue_get_bytes (self->queue);

  if (length != self->notified_length)
    {
      self->notified_length = length;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_QUEUE_LENGTH]);
    }
  if (bytes != self->notified_bytes)
    {
      self->notified_bytes = bytes;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_QUEUE_BYTES]);
    }
}

void
ep_producer_announce_outage (EpProducer *self,
                             gboolean    outage)
{
  self->outage = outage;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OUTAGE]);
  g_signal_emit (self, signals[SIGNAL_OUTAGE_CHANGED], 0, outage);
}

/* A producer used before g_initable_init() succeeded: a programming
 * error, said in words that tell what to do. */
gboolean
ep_producer_check_initialized (EpProducer *self,
                               const char *function)
{
  if (G_LIKELY (self->initialized))
    return TRUE;
  if (self->init_error != NULL)
    g_critical ("%s: this producer's initialization failed (%s): it cannot be used; check "
                "the error of g_initable_init() or ep_producer_new()", function,
                self->init_error->message);
  else
    g_critical ("%s: the producer is not initialized: call g_initable_init() first (or "
                "create it with ep_producer_new() or g_initable_new())", function);
  return FALSE;
}

void
ep_producer_announce_outage_reason (EpProducer     *self,
                                    EpOutageReason  reason,
                                    const char     *last_error)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->last_error, last_error) != 0)
    {
      g_free (self->last_error);
      self->last_error = g_strdup (last_error);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_ERROR]);
    }
  if (self->outage_reason != reason)
    {
      self->outage_reason = reason;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_OUTAGE_REASON]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
ep_producer_notify_credentials (EpProducer *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CREDENTIALS]);
}

void
ep_producer_emit_credentials_rejected (EpProducer *self,
                                       guint       status)
{
  g_signal_emit (self, signals[SIGNAL_CREDENTIALS_REJECTED], 0, status);
}

gboolean
ep_producer_wants_settled (EpProducer *self)
{
  return g_signal_has_handler_pending (self, signals[SIGNAL_EVENTS_SETTLED], 0, TRUE);
}

void
ep_producer_emit_events_settled (EpProducer     *self,
                                 GPtrArray      *ids,
                                 EpEventOutcome  outcome)
{
  g_autofree const char **strv = NULL;

  if (ids == NULL || ids->len == 0)
    return;
  __atomic_add_fetch (&self->settled_ids_collected, ids->len, __ATOMIC_RELAXED);
  strv = g_new (const char *, ids->len + 1);
  memcpy (strv, ids->pdata, ids->len * sizeof (char *));
  strv[ids->len] = NULL;
  g_signal_emit (self, signals[SIGNAL_EVENTS_SETTLED], 0, strv, outcome);
}

guint64
ep_producer_get_settled_ids_collected_for_testing (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);

  return __atomic_load_n (&self->settled_ids_collected, __ATOMIC_RELAXED);
}

/* GObject ------------------------------------------------------------------ */

static void
ep_producer_dispose (GObject *object)
{
  EpProducer *self = EP_PRODUCER (object);

  ep_producer_privacy_stop (self);
  if (self->scheduler != NULL)
    {
      ep_scheduler_disconnect (self->scheduler);
      g_clear_object (&self->scheduler);
    }
  /* The saved state (the counters with it) is saved for the last time
   * while the directory is still ours (a no-op after close_async(), which
   * did it already); then the queue syncs and releases the directory's
   * lock at once, so a new producer can take over. Stored events are
   * already in the kernel. */
  if (self->state != NULL)
    ep_producer_state_close (self->state);
  ep_submitter_close (self->submitter);
  if (self->queue != NULL)
    {
      /* the queue's threads no longer ask a producer that is going away */
      ep_queue_set_wants_ids_func (self->queue, NULL, NULL);
      ep_queue_close (self->queue);
    }
  g_clear_object (&self->transport);

  G_OBJECT_CLASS (ep_producer_parent_class)->dispose (object);
}

static void
ep_producer_finalize (GObject *object)
{
  EpProducer *self = EP_PRODUCER (object);

  g_clear_object (&self->state);
  g_clear_object (&self->queue);
  g_clear_object (&self->monitor);
  g_clear_object (&self->submitter);
  g_clear_error (&self->init_error);
  g_free (self->delivery_error);
  g_free (self->last_error);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_mutex_clear (&self->credentials_lock);
  g_mutex_clear (&self->consent_lock);
  g_clear_pointer (&self->consent_saved, g_bytes_unref);
  g_free (self->app_name);
  g_free (self->app_version);
  g_free (self->consumer_uri);
  g_free (self->public_consumer_uri);
  g_free (self->queue_dir);
  g_strfreev (self->feral_event_types);
  for (guint i = 0; i < G_N_ELEMENTS (self->device_info); i++)
    g_free (self->device_info[i]);
  g_free (self->browser_name);
  g_free (self->browser_version);

  G_OBJECT_CLASS (ep_producer_parent_class)->finalize (object);
}

static DeviceInfoIndex
device_info_index (guint prop_id)
{
  switch (prop_id)
    {
    case PROP_DEVICE_VENDOR:
      return DEVICE_VENDOR;
    case PROP_DEVICE_MODEL:
      return DEVICE_MODEL;
    case PROP_OS_NAME:
      return DEVICE_OS_NAME;
    case PROP_OS_VERSION:
      return DEVICE_OS_VERSION;
    default:
      g_assert_not_reached ();
    }
}

static void
ep_producer_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  EpProducer *self = EP_PRODUCER (object);

  switch (prop_id)
    {
    case PROP_APP_NAME:
      g_value_set_string (value, self->app_name);
      break;
    case PROP_APP_VERSION:
      g_value_set_string (value, self->app_version);
      break;
    case PROP_CONSUMER_URI:
      g_value_set_string (value, self->consumer_uri);
      break;
    case PROP_PUBLIC_CONSUMER_URI:
      g_value_set_string (value, self->public_consumer_uri);
      break;
    case PROP_QUEUE_DIR:
      g_value_set_string (value, self->queue_dir);
      break;
    case PROP_MAX_DISK_USAGE:
      g_value_set_uint64 (value, self->max_disk_usage);
      break;
    case PROP_BATCH_INTERVAL:
      g_value_set_uint (value, self->batch_interval_ms);
      break;
    case PROP_MONITORING_INTERVAL:
      g_value_set_uint (value, self->monitoring_interval_ms);
      break;
    case PROP_CONSTRAINED_INTERVAL:
      g_value_set_uint (value, self->constrained_interval_ms);
      break;
    case PROP_REQUEST_TIMEOUT:
      g_value_set_uint (value, self->request_timeout_ms);
      break;
    case PROP_STRICT_MODE:
      g_value_set_boolean (value, self->strict_mode);
      break;
    case PROP_SYNC_ON_SEND:
      g_value_set_boolean (value, self->sync_on_send);
      break;
    case PROP_READ_ONLY:
      g_value_set_boolean (value, self->read_only);
      break;
    case PROP_STAMP_PAYLOAD:
      g_value_set_boolean (value, self->stamp_payload);
      break;
    case PROP_PERSIST_CONSENT:
      g_value_set_boolean (value, self->persist_consent);
      break;
    case PROP_FOLLOW_DESKTOP_PRIVACY:
      g_value_set_boolean (value, self->follow_desktop_privacy);
      break;
    case PROP_COMPRESS_REQUESTS:
      g_value_set_boolean (value, self->compress_requests);
      break;
    case PROP_MAX_EVENT_AGE:
      g_value_set_uint (value, self->max_event_age);
      break;
    case PROP_MAX_IN_FLIGHT:
      g_value_set_uint (value, self->max_in_flight);
      break;
    case PROP_FERAL_EVENT_TYPES:
      g_value_set_boxed (value, self->feral_event_types);
      break;
    case PROP_DEVICE_VENDOR:
    case PROP_DEVICE_MODEL:
    case PROP_OS_NAME:
    case PROP_OS_VERSION:
      g_value_set_string (value, self->device_info[device_info_index (prop_id)]);
      break;
    case PROP_BROWSER_NAME:
      g_value_set_string (value, self->browser_name);
      break;
    case PROP_BROWSER_VERSION:
      g_value_set_string (value, self->browser_version);
      break;
    case PROP_CREDENTIALS:
      g_value_take_object (value, ep_producer_dup_credentials (self));
      break;
    case PROP_OUTAGE:
      g_value_set_boolean (value, self->outage);
      break;
    case PROP_OUTAGE_REASON:
      g_value_set_enum (value, self->outage_reason);
      break;
    case PROP_LAST_ERROR:
      g_value_set_string (value, self->last_error);
      break;
    case PROP_QUEUE_LENGTH:
      g_value_set_uint64 (value, ep_producer_get_queue_length (self));
      break;
    case PROP_QUEUE_BYTES:
      g_value_set_uint64 (value, ep_producer_get_queue_bytes (self));
      break;
    case PROP_DISCARDED_RECORDS:
      g_value_set_uint (value, ep_producer_get_discarded_records (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
ep_producer_set_max_in_flight (EpProducer *self,
                               guint       max_in_flight)
{
  if (self->max_in_flight == max_in_flight)
    return;
  self->max_in_flight = max_in_flight;
  if (self->scheduler != NULL)
    ep_scheduler_set_max_in_flight (self->scheduler, max_in_flight);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MAX_IN_FLIGHT]);
}

static void
ep_producer_set_property (GObject      *object,
                          guint         prop_id,
                          const GValue *value,
                          GParamSpec   *pspec)
{
  EpProducer *self = EP_PRODUCER (object);

  switch (prop_id)
    {
    case PROP_APP_NAME:
      self->app_name = g_value_dup_string (value);
      break;
    case PROP_APP_VERSION:
      self->app_version = g_value_dup_string (value);
      break;
    case PROP_CONSUMER_URI:
      self->consumer_uri = g_value_dup_string (value);
      break;
    case PROP_PUBLIC_CONSUMER_URI:
      self->public_consumer_uri = g_value_dup_string (value);
      break;
    case PROP_QUEUE_DIR:
      self->queue_dir = g_value_dup_string (value);
      break;
    case PROP_MAX_DISK_USAGE:
      self->max_disk_usage = g_value_get_uint64 (value);
      break;
    case PROP_BATCH_INTERVAL:
      self->batch_interval_ms = g_value_get_uint (value);
      break;
    case PROP_MONITORING_INTERVAL:
      self->monitoring_interval_ms = g_value_get_uint (value);
      break;
    case PROP_CONSTRAINED_INTERVAL:
      self->constrained_interval_ms = g_value_get_uint (value);
      break;
    case PROP_REQUEST_TIMEOUT:
      self->request_timeout_ms = g_value_get_uint (value);
      break;
    case PROP_STRICT_MODE:
      self->strict_mode = g_value_get_boolean (value);
      break;
    case PROP_SYNC_ON_SEND:
      self->sync_on_send = g_value_get_boolean (value);
      break;
    case PROP_READ_ONLY:
      self->read_only = g_value_get_boolean (value);
      break;
    case PROP_STAMP_PAYLOAD:
      self->stamp_payload = g_value_get_boolean (value);
      break;
    case PROP_PERSIST_CONSENT:
      self->persist_consent = g_value_get_boolean (value);
      break;
    case PROP_FOLLOW_DESKTOP_PRIVACY:
      if (self->follow_desktop_privacy != g_value_get_boolean (value))
        {
          ep_producer_privacy_set_follow (self, g_value_get_boolean (value));
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    case PROP_MAX_EVENT_AGE:
      self->max_event_age = g_value_get_uint (value);
      break;
    case PROP_COMPRESS_REQUESTS:
      if (self->compress_requests != g_value_get_boolean (value))
        {
          self->compress_requests = g_value_get_boolean (value);
          if (self->scheduler != NULL)
            ep_scheduler_set_compress (self->scheduler, self->compress_requests);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    case PROP_MAX_IN_FLIGHT:
      ep_producer_set_max_in_flight (self, g_value_get_uint (value));
      break;
    case PROP_FERAL_EVENT_TYPES:
      self->feral_event_types = g_value_dup_boxed (value);
      break;
    case PROP_DEVICE_VENDOR:
    case PROP_DEVICE_MODEL:
    case PROP_OS_NAME:
    case PROP_OS_VERSION:
      g_free (self->device_info[device_info_index (prop_id)]);
      self->device_info[device_info_index (prop_id)] = g_value_dup_string (value);
      break;
    case PROP_BROWSER_NAME:
      self->browser_name = g_value_dup_string (value);
      break;
    case PROP_BROWSER_VERSION:
      self->browser_version = g_value_dup_string (value);
      break;
    case PROP_CREDENTIALS:
      ep_producer_set_credentials (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static GParamSpec *
config_string (const char *name)
{
  return g_param_spec_string (name, NULL, NULL, NULL,
                              G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                              G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
config_uint (const char *name,
             guint       min,
             guint       def)
{
  return g_param_spec_uint (name, NULL, NULL, min, G_MAXUINT, def,
                            G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                            G_PARAM_STATIC_STRINGS);
}

static GParamSpec *
config_boolean (const char *name)
{
  return g_param_spec_boolean (name, NULL, NULL, FALSE,
                               G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                               G_PARAM_STATIC_STRINGS);
}

static void
ep_producer_class_init (EpProducerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags read_only = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->dispose = ep_producer_dispose;
  object_class->finalize = ep_producer_finalize;
  object_class->get_property = ep_producer_get_property;
  object_class->set_property = ep_producer_set_property;

  /**
   * EpProducer:app-name:
   *
   * The application's name: the `app-name` header, and the name of the
   * default queue directory (`$XDG_STATE_HOME/ep-glib/<app-name>/`).
   * Required; must not contain `/` unless [property@Ep.Producer:queue-dir]
   * is set. Default: %NULL (which fails construction).
   */
  properties[PROP_APP_NAME] = config_string ("app-name");

  /**
   * EpProducer:app-version:
   *
   * The application's version: the `app-version` header. Required (as
   * TIDAL's event platform requires it): construction fails with
   * %EP_ERROR_INVALID_CONFIG when it is missing or empty.
   * Default: %NULL (which fails construction).
   */
  properties[PROP_APP_VERSION] = config_string ("app-version");

  /**
   * EpProducer:consumer-uri:
   *
   * The absolute http or https URI batches are posted to when an access
   * token is known (with `Authorization: Bearer <token>`). Required.
   *
   * The environment variable `EP_CONSUMER_URL`, when set at init, replaces
   * both this and [property@Ep.Producer:public-consumer-uri] (said once in
   * a message): a URL with a path is used for both; one without
   * (`http://127.0.0.1:8080`) stands for ep-consumer's two endpoints,
   * `/api/event-batch` and `/api/public/event-batch`. It points a
   * development build at a local consumer without a change of code; the
   * property then reads the URI in use. Default: %NULL.
   */
  properties[PROP_CONSUMER_URI] = config_string ("consumer-uri");

  /**
   * EpProducer:public-consumer-uri:
   *
   * The absolute http or https URI batches are posted to without an access
   * token (with `X-Tidal-Token: <client-id>`), and where the monitoring
   * event goes. Required. `EP_CONSUMER_URL` replaces it (see
   * [property@Ep.Producer:consumer-uri]). Default: %NULL.
   */
  properties[PROP_PUBLIC_CONSUMER_URI] = config_string ("public-consumer-uri");

  /**
   * EpProducer:queue-dir:
   *
   * The directory of the persistent queue. Created with mode 0700.
   * Default: %NULL, which is `$XDG_STATE_HOME/ep-glib/<app-name>/` (GLib's
   * [func@GLib.get_user_state_dir]: `~/.local/state` when the variable is
   * unset). In a Flatpak sandbox without `XDG_STATE_HOME` (Flatpak before
   * 1.13), where `~/.local/state` is a temporary directory that goes away
   * with the sandbox, it is the app's own
   * `~/.var/app/<app-id>/.local/state/ep-glib/<app-name>/`, where newer
   * Flatpak points `XDG_STATE_HOME`; a message says so at init.
   */
  properties[PROP_QUEUE_DIR] = config_string ("queue-dir");

  /**
   * EpProducer:max-disk-usage:
   *
   * The most bytes of event data the queue holds (the logical size that
   * [property@Ep.Producer:queue-bytes] counts). Beyond it, new events are
   * dropped as storing failures; queued events are never dropped.
   * Default: 10485760 (10 MiB).
   */
  properties[PROP_MAX_DISK_USAGE] =
    g_param_spec_uint64 ("max-disk-usage", NULL, NULL, 1, G_MAXUINT64, DEFAULT_MAX_DISK_USAGE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * EpProducer:batch-interval:
   *
   * Milliseconds between delivery attempts; also the shortest delay before
   * a retry after a failure. Default: 30000 (30 seconds).
   */
  properties[PROP_BATCH_INTERVAL] = config_uint ("batch-interval", 1, DEFAULT_BATCH_INTERVAL_MS);

  /**
   * EpProducer:monitoring-interval:
   *
   * Milliseconds between monitoring events (sent only when a dropped-event
   * counter is non-zero). Default: 60000 (one minute).
   */
  properties[PROP_MONITORING_INTERVAL] =
    config_uint ("monitoring-interval", 1, DEFAULT_MONITORING_INTERVAL_MS);

  /**
   * EpProducer:constrained-interval:
   *
   * Milliseconds between scheduled deliveries, and between monitoring
   * events, while the network is metered
   * ([property@Gio.NetworkMonitor:network-metered]) or the system saves
   * power ([property@Gio.PowerProfileMonitor:power-saver-enabled]): the
   * background traffic GNOME applications are expected to hold back. The
   * longer of this and [property@Ep.Producer:batch-interval] (or the
   * backoff) applies. [method@Ep.Producer.flush_async],
   * [method@Ep.Producer.close_async] and new credentials after a refusal
   * are not held back, and the outage rules do not change. Default: 5
   * minutes.
   *
   * Since: 0.2
   */
  properties[PROP_CONSTRAINED_INTERVAL] =
    config_uint ("constrained-interval", 1, DEFAULT_CONSTRAINED_INTERVAL_MS);

  /**
   * EpProducer:request-timeout:
   *
   * Milliseconds to wait for the consumer's reply before a request counts
   * as failed. Also bounds the last delivery attempt of
   * [method@Ep.Producer.close_async] (from 10 seconds up, on a
   * whole-second timer that wakes with the session's others: up to about
   * 1.75 s later). Default: 10000 (10 seconds).
   */
  properties[PROP_REQUEST_TIMEOUT] = config_uint ("request-timeout", 1, DEFAULT_REQUEST_TIMEOUT_MS);

  /**
   * EpProducer:strict-mode:
   *
   * When %TRUE, an event that fails validation also logs a critical
   * warning naming the event and the reason, so integration bugs are loud.
   * Default: %FALSE.
   */
  properties[PROP_STRICT_MODE] = config_boolean ("strict-mode");

  /**
   * EpProducer:sync-on-send:
   *
   * When %TRUE, [method@Ep.Producer.send_event] waits until the event is on
   * stable storage (fdatasync) before it returns. By default events are in
   * the kernel when send returns (they survive the application being
   * killed) and on stable storage within one second. Default: %FALSE.
   */
  properties[PROP_SYNC_ON_SEND] = config_boolean ("sync-on-send");

  /**
   * EpProducer:read-only:
   *
   * When %TRUE, the producer only looks at its queue directory, which must
   * exist, even while another producer (in any process) holds it: it takes
   * no lock, writes nothing (neither the queue nor the counters), delivers
   * nothing and starts no timer. Its queue length, bytes, oldest event
   * time, counters and [method@Ep.Producer.dup_queued_events] are a
   * snapshot taken by [method@Gio.Initable.init]. Sending returns
   * %EP_SEND_RESULT_STORING_FAILED; flush and close finish at once (flush
   * with %EP_ERROR_CLOSED). For tools such as `ep-tool status`.
   * Default: %FALSE.
   *
   * Since: 0.2
   */
  properties[PROP_READ_ONLY] = config_boolean ("read-only");

  /**
   * EpProducer:stamp-payload:
   *
   * When %TRUE, events are sent in the TIDAL web producer's body form:
   * the payload must be a JSON object (otherwise the event fails
   * validation), and the `MessageBody` is that object with the members
   * `uuid` (the event id) and `ts` (the send time in milliseconds since
   * the epoch, on the consumer's clock, a JSON number) added; the other
   * members are kept as given. When %FALSE (the default, as TIDAL's
   * Android and iOS producers do) the payload is sent verbatim.
   * Default: %FALSE.
   *
   * Since: 0.2
   */
  properties[PROP_STAMP_PAYLOAD] = config_boolean ("stamp-payload");

  /**
   * EpProducer:persist-consent:
   *
   * Whether the consent state is saved with the queue and restored at
   * construction.
   *
   * The consent state in force when the producer is constructed applies
   * to the queue exactly as a later [method@Ep.Producer.set_consent_blocked]
   * would: the queued events of a blocked category, stored by an earlier
   * run, are deleted (counted as consent-filtered) before construction
   * returns, and never sent.
   *
   * When %FALSE (the default), every producer starts with
   * %EP_CONSENT_CATEGORY_PERFORMANCE and %EP_CONSENT_CATEGORY_TARGETING
   * blocked (privacy by default): the events of those categories that an
   * earlier run queued but did not deliver are deleted at each start, and
   * the events sent before the application applies the user's choice are
   * dropped. Nothing the user did not consent to in this run can leave,
   * at the cost of those events.
   *
   * When %TRUE, the state last set (by
   * [method@Ep.Producer.set_consent_blocked], in this run or an earlier
   * one) is saved durably beside the queue and restored at construction:
   * the events a consenting user's earlier run queued are delivered, and
   * an application that applies consent a moment after start neither loses
   * the events sent in between nor leaks them when the user had revoked.
   * Without a saved state the defaults apply. Use it when the application
   * keeps the user's choice itself and applies it at every start anyway.
   *
   * Either way a revocation is durable before
   * [method@Ep.Producer.set_consent_blocked] returns, also for the events
   * in flight at that moment: a crash right after it never lets them out
   * after a restart. Default: %FALSE.
   *
   * Since: 0.2
   */
  properties[PROP_PERSIST_CONSENT] = config_boolean ("persist-consent");

  /**
   * EpProducer:follow-desktop-privacy:
   *
   * Whether GNOME's usage-statistics setting (`send-software-usage-stats`
   * of the `org.gnome.desktop.privacy` schema) is followed for
   * %EP_CONSENT_CATEGORY_PERFORMANCE and %EP_CONSENT_CATEGORY_TARGETING.
   *
   * When the setting is %FALSE, both categories are blocked exactly as
   * [method@Ep.Producer.set_consent_blocked] would block them: their queued
   * events are deleted and counted as consent-filtered, those in flight
   * are never sent again, durably. Changes are followed live, on the
   * producer's main context (which must be running for that).
   * %EP_CONSENT_CATEGORY_NECESSARY is never affected.
   *
   * A category is blocked when the application blocks it or the desktop
   * setting says no: when the setting is %TRUE again, only what the
   * application has not blocked itself is unblocked.
   * [method@Ep.Producer.get_consent_blocked] reports that combined state;
   * [property@Ep.Producer:persist-consent] saves the application's choice
   * only (the desktop's is read again at each start).
   *
   * Where the schema is not installed, nothing changes. Inside a Flatpak
   * sandbox without access to dconf, GSettings reads the sandbox's own copy
   * of the setting (%TRUE unless the application changed it), not the
   * desktop's: nothing changes there either. See the Privacy page.
   *
   * May be changed at any time, from the thread of the producer's main
   * context; turning it off stops following and leaves the application's
   * choice in force. Default: %TRUE.
   *
   * Since: 0.2
   */
  properties[PROP_FOLLOW_DESKTOP_PRIVACY] =
    g_param_spec_boolean ("follow-desktop-privacy", NULL, NULL, TRUE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS |
                          G_PARAM_EXPLICIT_NOTIFY);

  /**
   * EpProducer:compress-requests:
   *
   * Whether request bodies are compressed with gzip and sent with
   * `Content-Encoding: gzip`. A batch of 10 typical events shrinks to
   * about a tenth of its size (see the benchmarks' README).
   *
   * Off by default because Amazon SQS itself and TIDAL's gateway do not
   * accept compressed bodies: turn it on only for a consumer that does,
   * such as `ep-consumer`. A batch is compressed in the worker thread that
   * encodes it; only the monitoring event and the one-event parts of a
   * refused batch, a few hundred bytes each, are encoded on the main
   * context.
   *
   * May be changed at any time, from the thread of the producer's main
   * context; it applies to the batches encoded afterwards. Default: %FALSE.
   *
   * Since: 0.2
   */
  properties[PROP_COMPRESS_REQUESTS] =
    g_param_spec_boolean ("compress-requests", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS |
                          G_PARAM_EXPLICIT_NOTIFY);

  /**
   * EpProducer:max-event-age:
   *
   * The age, in seconds, past which a queued event is deleted without being
   * sent: an event whose creation time (when send was called) is older
   * than this is never delivered, however long the consumer was out of
   * reach. Each is counted under `expiredEvents` in the monitoring event
   * and in [method@Ep.Producer.dup_counters_json], and reported to
   * [signal@Ep.Producer::events-settled] as %EP_EVENT_OUTCOME_EXPIRED.
   *
   * The queue checks ages when it hands events out for delivery and once
   * at start, during initialization (so [property@Ep.Producer:queue-length]
   * leaves out the events that expired while the application was not
   * running). An event may thus be delivered up to one
   * [property@Ep.Producer:batch-interval] past its age.
   *
   * Events that lose their value with time (or must not be kept longer than
   * a retention promise) should set one: Snowplow's mobile trackers delete
   * events older than 30 days (2592000 seconds), a reasonable choice.
   * Default: 0, no limit (events wait as long as they must).
   *
   * Since: 0.2
   */
  properties[PROP_MAX_EVENT_AGE] =
    g_param_spec_uint ("max-event-age", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * EpProducer:max-in-flight:
   *
   * The most batches delivered at once. May be changed at any time, from
   * the thread of the producer's main context. Values above 32 (the
   * connections the producer opens to one host) are used as 32. Default: 4.
   */
  properties[PROP_MAX_IN_FLIGHT] =
    g_param_spec_uint ("max-in-flight", NULL, NULL, 1, G_MAXUINT, DEFAULT_MAX_IN_FLIGHT,
                       G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS |
                       G_PARAM_EXPLICIT_NOTIFY);

  /**
   * EpProducer:feral-event-types:
   *
   * Event names removed from the queue at start, so that a poison event
   * type from an old release cannot jam the queue. Default: %NULL (none).
   */
  properties[PROP_FERAL_EVENT_TYPES] =
    g_param_spec_boxed ("feral-event-types", NULL, NULL, G_TYPE_STRV,
                        G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);

  /**
   * EpProducer:device-vendor:
   *
   * The `device-vendor` header; detected from DMI `sys_vendor` when unset.
   * Set it to the empty string to leave the header out. Default: %NULL
   * (detected).
   */
  properties[PROP_DEVICE_VENDOR] = config_string ("device-vendor");

  /**
   * EpProducer:device-model:
   *
   * The `device-model` header; detected from DMI `product_name` when unset.
   * Set it to the empty string to leave the header out. Default: %NULL
   * (detected).
   */
  properties[PROP_DEVICE_MODEL] = config_string ("device-model");

  /**
   * EpProducer:os-name:
   *
   * The `os-name` header; detected from `/etc/os-release` `NAME` when unset.
   * Set it to the empty string to leave the header out. Default: %NULL
   * (detected).
   */
  properties[PROP_OS_NAME] = config_string ("os-name");

  /**
   * EpProducer:os-version:
   *
   * The `os-version` header; detected from `/etc/os-release` `VERSION_ID`
   * when unset.
   * Set it to the empty string to leave the header out. Default: %NULL
   * (detected).
   */
  properties[PROP_OS_VERSION] = config_string ("os-version");

  /**
   * EpProducer:browser-name:
   *
   * The `browser-name` header, for web-view hosts; omitted when unset.
   * Default: %NULL.
   */
  properties[PROP_BROWSER_NAME] = config_string ("browser-name");

  /**
   * EpProducer:browser-version:
   *
   * The `browser-version` header, for web-view hosts; omitted when unset.
   * Default: %NULL.
   */
  properties[PROP_BROWSER_VERSION] = config_string ("browser-version");

  /**
   * EpProducer:credentials:
   *
   * The current credentials. New events carry their client id and token;
   * requests from now on use them.
   * Default: %NULL (no token, no client id: events go to
   * [property@Ep.Producer:public-consumer-uri]).
   */
  properties[PROP_CREDENTIALS] =
    g_param_spec_object ("credentials", NULL, NULL, EP_TYPE_CREDENTIALS,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  /**
   * EpProducer:outage:
   *
   * %TRUE while events cannot be stored (a storage outage) or cannot be
   * delivered (a delivery outage). Persisted: a producer starts with the
   * state its predecessor left, and tries the queued events at once. Updated
   * and notified on the producer's main context: read it from the thread
   * of that context.
   *
   * Being offline is not an outage: while #GNetworkMonitor reports no
   * network (and the consumer cannot be reached without one), `outage` is
   * %FALSE and [property@Ep.Producer:outage-reason] is
   * %EP_OUTAGE_REASON_OFFLINE; events wait on disk, and are tried as soon
   * as the network comes back. Default: %FALSE.
   */
  properties[PROP_OUTAGE] = g_param_spec_boolean ("outage", NULL, NULL, FALSE, read_only);

  /**
   * EpProducer:outage-reason:
   *
   * Why events are not delivered, for the application to show: a storage
   * outage first, then %EP_OUTAGE_REASON_OFFLINE while there is no network
   * (not an outage: [property@Ep.Producer:outage] is %FALSE then), then the
   * kind of the last failed delivery attempt while a delivery outage
   * lasts; %EP_OUTAGE_REASON_NONE otherwise. Notified on the producer's
   * main context, before [signal@Ep.Producer::outage-changed], so that its
   * handlers read the new value. Persisted with the outage. Default:
   * %EP_OUTAGE_REASON_NONE.
   *
   * Since: 0.2
   */
  properties[PROP_OUTAGE_REASON] =
    g_param_spec_enum ("outage-reason", NULL, NULL, EP_TYPE_OUTAGE_REASON,
                       EP_OUTAGE_REASON_NONE, read_only);

  /**
   * EpProducer:last-error:
   *
   * What went wrong, in words, while [property@Ep.Producer:outage-reason]
   * is not %EP_OUTAGE_REASON_NONE: the storage error, the absence of a
   * network, or the last failed delivery attempt (the request and what
   * happened, e.g. `POST https://example.com/api/event-batch: HTTP 404 Not
   * Found`); %NULL otherwise. Meant for a detail line or a log, not for
   * parsing. Notified on the producer's main context. Default: %NULL.
   *
   * Since: 0.2
   */
  properties[PROP_LAST_ERROR] =
    g_param_spec_string ("last-error", NULL, NULL, NULL, read_only);

  /**
   * EpProducer:queue-length:
   *
   * The number of events stored and not yet confirmed. Notified from the
   * producer's main context. Default: 0 (before the queue is opened).
   */
  properties[PROP_QUEUE_LENGTH] =
    g_param_spec_uint64 ("queue-length", NULL, NULL, 0, G_MAXUINT64, 0, read_only);

  /**
   * EpProducer:queue-bytes:
   *
   * The logical size in bytes of the queued events: what
   * [property@Ep.Producer:max-disk-usage] limits.
   * Default: 0 (before the queue is opened).
   */
  properties[PROP_QUEUE_BYTES] =
    g_param_spec_uint64 ("queue-bytes", NULL, NULL, 0, G_MAXUINT64, 0, read_only);

  /**
   * EpProducer:discarded-records:
   *
   * The number of corrupt records found and discarded when the queue was
   * opened (also logged once, as a message). Default: 0.
   */
  properties[PROP_DISCARDED_RECORDS] =
    g_param_spec_uint ("discarded-records", NULL, NULL, 0, G_MAXUINT, 0, read_only);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * EpProducer::outage-changed:
   * @self: the producer
   * @outage: the new value of [property@Ep.Producer:outage]
   *
   * Emitted on the producer's main context each time an outage starts or
   * ends. Not emitted for the state restored at start.
   */
  signals[SIGNAL_OUTAGE_CHANGED] =
    g_signal_new ("outage-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);

  /**
   * EpProducer::credentials-rejected:
   * @self: the producer
   * @http_status: 401 or 403
   *
   * Emitted when the consumer refused the access token: once per token
   * value, not on every attempt (a token that worked and is refused later
   * is announced again). The events are kept; set fresh credentials with
   * [method@Ep.Producer.set_credentials]: after a refusal they are tried
   * within a second, whatever the backoff, but never before a time the
   * consumer gave with `Retry-After`.
   */
  signals[SIGNAL_CREDENTIALS_REJECTED] =
    g_signal_new ("credentials-rejected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);

  /**
   * EpProducer::events-settled:
   * @self: the producer
   * @ids: (array zero-terminated=1): the ids of the events, as
   *   [method@Ep.Producer.send_event_full] returned them
   * @outcome: what became of them
   *
   * Emitted on the producer's main context when queued events leave the
   * queue for good: delivered (confirmed by the consumer), refused by the
   * consumer as invalid, expired (`max-event-age`),
   * purged ([method@Ep.Producer.purge_async]) or deleted because their
   * consent category was blocked (also at construction, for a revocation
   * restored from disk, and for events that were in flight when it
   * happened). Events settle in batches: one emission per request's reply
   * and per deletion, each with one outcome.
   *
   * An event is reported once, when its fate is decided; a crash before
   * the queue's removal reaches the disk may still deliver it again (a
   * duplicate, never a loss), without a second report. Events deleted
   * before a handler was connected are not reported, and nothing is
   * collected while no handler is connected, so a producer nobody listens
   * to pays nothing for this signal.
   *
   * Since: 0.2
   */
  signals[SIGNAL_EVENTS_SETTLED] =
    g_signal_new ("events-settled", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRV, EP_TYPE_EVENT_OUTCOME);
}

static void
ep_producer_init (EpProducer *self)
{
  g_mutex_init (&self->credentials_lock);
  g_mutex_init (&self->consent_lock);
  self->submitter = ep_submitter_new ();
  self->context = g_main_context_ref_thread_default ();
  self->max_disk_usage = DEFAULT_MAX_DISK_USAGE;
  self->batch_interval_ms = DEFAULT_BATCH_INTERVAL_MS;
  self->monitoring_interval_ms = DEFAULT_MONITORING_INTERVAL_MS;
  self->constrained_interval_ms = DEFAULT_CONSTRAINED_INTERVAL_MS;
  self->request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
  self->max_in_flight = DEFAULT_MAX_IN_FLIGHT;
  self->app_blocked = (1u << EP_CONSENT_CATEGORY_PERFORMANCE) | (1u << EP_CONSENT_CATEGORY_TARGETING);
  self->follow_desktop_privacy = TRUE;
}

/* GInitable ---------------------------------------------------------------- */

/* GInitable: a failure always sets @error; a second call returns the
 * first one's result. */
static gboolean
ep_producer_initable_init (GInitable     *initable,
                           GCancellable  *cancellable,
                           GError       **error)
{
  EpProducer *self = EP_PRODUCER (initable);
  GError *local_error = NULL;

  if (self->initialized)
    return TRUE;
  if (self->init_error != NULL)
    {
      g_propagate_error (error, g_error_copy (self->init_error));
      return FALSE;
    }
  if (!ep_producer_init_parts (self, &local_error))
    {
      if (local_error == NULL)
        local_error = g_error_new (EP_ERROR, EP_ERROR_STORAGE,
                                   "Cannot open the queue in '%s'", self->queue_dir);
      self->init_error = g_error_copy (local_error);
      g_propagate_error (error, local_error);
      return FALSE;
    }
  self->initialized = TRUE;
  return TRUE;
}

static void
ep_producer_initable_iface_init (GInitableIface *iface)
{
  iface->init = ep_producer_initable_init;
}

/* Public API --------------------------------------------------------------- */

/**
 * ep_producer_new:
 * @app_name: the application's name (the `app-name` header)
 * @app_version: the application's version (the `app-version` header; required)
 * @consumer_uri: where batches go when an access token is known
 * @public_consumer_uri: where batches go without a token, and the
 *   monitoring event
 * @error: return location for a #GError
 *
 * Creates a producer with the default settings, opens its queue in
 * `$XDG_STATE_HOME/ep-glib/<app-name>/` and restores the events stored
 * there. Other settings are properties; see g_initable_new().
 *
 * The producer delivers from the thread-default main context of the caller.
 *
 * Returns: (transfer full): a new producer, or %NULL with @error set
 *   (%EP_ERROR_INVALID_CONFIG, %EP_ERROR_QUEUE_LOCKED or %EP_ERROR_STORAGE)
 */
EpProducer *
ep_producer_new (const char  *app_name,
                 const char  *app_version,
                 const char  *consumer_uri,
                 const char  *public_consumer_uri,
                 GError     **error)
{
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  return g_initable_new (EP_TYPE_PRODUCER, NULL, error,
                         "app-name", app_name,
                         "app-version", app_version,
                         "consumer-uri", consumer_uri,
                         "public-consumer-uri", public_consumer_uri,
                         NULL);
}

EpSubmitter *
ep_producer_get_submitter_for_testing (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  return self->submitter;
}

EpQueue *
ep_producer_get_queue_for_testing (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  return self->queue;
}
