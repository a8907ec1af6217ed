/* ep-submitter.c: the send path (consent, enrichment, validation, store, drop accounting)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Everything here runs on the application's threads, inside its send call,
 * within a budget of a few microseconds: per-thread reusable buffers, no
 * GVariant tree, one append to the queue. See ep-submitter-private.h.
 */
#include "config.h"

#include <string.h>

#include "ep-device-private.h"
#include "ep-event-private.h"
#include "ep-json-scan.h"
#include "ep-producer.h"
#include "ep-submitter-private.h"

/* The default headers, in the order they are sent. */
typedef enum {
  HEADER_APP_NAME,
  HEADER_APP_VERSION,
  HEADER_CLIENT_ID,
  HEADER_AUTHORIZATION,
  HEADER_CONSENT_CATEGORY,
  HEADER_TIMESTAMP,
  HEADER_DEVICE_VENDOR,
  HEADER_DEVICE_MODEL,
  HEADER_OS_NAME,
  HEADER_OS_VERSION,
  HEADER_BROWSER_NAME,
  HEADER_BROWSER_VERSION,
  N_HEADERS
} HeaderIndex;

static const char * const header_keys[N_HEADERS] = {
  "app-name", "app-version", "client-id", "authorization", "consent-category",
  "requested-sent-timestamp", "device-vendor", "device-model", "os-name",
  "os-version", "browser-name", "browser-version",
};

/* Headers a caller may not supply: an event's consent label and its
 * credentials always come from the send call and the producer. */
static const HeaderIndex reserved_headers[] = { HEADER_CONSENT_CATEGORY, HEADER_AUTHORIZATION };

struct _EpSubmitter
{
  GObject               parent_instance;

  /* Set by configure and start, before any submission; immutable after. */
  char                 *static_headers[N_HEADERS];  /* owned, nullable: values that never change */
  gboolean              strict_mode;
  gboolean              stamp_payload;              /* the web producer's body form */
  gboolean              debug_stored;               /* G_MESSAGES_DEBUG shows Ep: a line per stored event */
  EpQueue              *queue;                      /* owned; NULL until started */
  EpMonitor            *monitor;                    /* owned; NULL until started */
  EpSubmitterCallbacks  callbacks;
  gpointer              user_data;                  /* unowned */

  GMutex                lock;                       /* protects credentials and storage_error */
  EpCredentials        *credentials;                /* owned, nullable */
  char                 *storage_error;              /* owned, nullable: why the last store failed */

  int                   consent_blocked[3];         /* atomic, indexed by EpConsentCategory */
  int                   storage_warned;             /* atomic: a storage outage was logged, not yet its end */
  int                   closed;                     /* atomic: ep_submitter_close() was called */
  gint64                clock_offset_ms;            /* atomic (__atomic builtins): added to the send time */
};

G_DEFINE_FINAL_TYPE (EpSubmitter, ep_submitter, G_TYPE_OBJECT)

/* Per-thread buffers reused by every send, so sending allocates nothing but
 * the event id. */
typedef struct {
  GString    *headers;
  GByteArray *record;
  GRand      *rand;     /* for event ids; seeded from the global, urandom-seeded generator */
  GString    *payload;  /* stamp-payload only: the stamped payload */
  char        id[EP_UUID_LEN + 1];  /* the id of the event built last */
} SendBuffers;

static void
send_buffers_free (gpointer data)
{
  SendBuffers *buffers = data;

  g_string_free (buffers->headers, TRUE);
  g_byte_array_unref (buffers->record);
  g_rand_free (buffers->rand);
  g_string_free (buffers->payload, TRUE);
  g_free (buffers);
}

static GRand *
new_id_generator (void)
{
  guint32 seed[8];

  /* g_random_*() is seeded from /dev/urandom once per process. */
  for (guint i = 0; i < G_N_ELEMENTS (seed); i++)
    seed[i] = g_random_int ();
  return g_rand_new_with_seed_array (seed, G_N_ELEMENTS (seed));
}

static GPrivate send_buffers_key = G_PRIVATE_INIT (send_buffers_free);

static SendBuffers *
get_send_buffers (void)
{
  SendBuffers *buffers = g_private_get (&send_buffers_key);

  if (G_UNLIKELY (buffers == NULL))
    {
      buffers = g_new0 (SendBuffers, 1);
      buffers->headers = g_string_sized_new (1024);
      buffers->record = g_byte_array_sized_new (4096);
      buffers->rand = new_id_generator ();
      buffers->payload = g_string_new (NULL);
      g_private_set (&send_buffers_key, buffers);
    }
  return buffers;
}

/* GObject ------------------------------------------------------------------ */

static void
ep_submitter_finalize (GObject *object)
{
  EpSubmitter *self = EP_SUBMITTER (object);

  for (guint i = 0; i < N_HEADERS; i++)
    g_free (self->static_headers[i]);
  g_clear_object (&self->queue);
  g_clear_object (&self->monitor);
  g_clear_object (&self->credentials);
  g_free (self->storage_error);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (ep_submitter_parent_class)->finalize (object);
}

static void
ep_submitter_class_init (EpSubmitterClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ep_submitter_finalize;
}

static void
ep_submitter_init (EpSubmitter *self)
{
  g_mutex_init (&self->lock);
  self->consent_blocked[EP_CONSENT_CATEGORY_PERFORMANCE] = TRUE;
  self->consent_blocked[EP_CONSENT_CATEGORY_TARGETING] = TRUE;
}

EpSubmitter *
ep_submitter_new (void)
{
  return g_object_new (EP_TYPE_SUBMITTER, NULL);
}

/* Configuration ------------------------------------------------------------ */

static char *
dup_nonempty (const char *value)
{
  return (value != NULL && *value != '\0') ? g_strdup (value) : NULL;
}

static const char *
configured_or (const char *configured,
               const char *detected)
{
  return configured != NULL ? configured : detected;
}

gboolean
ep_submitter_configure (EpSubmitter              *self,
                        const EpSubmitterConfig  *config,
                        GError                  **error)
{
  const EpDeviceInfo *device = ep_device_info_get ();
  char **headers = self->static_headers;

  g_assert (self->queue == NULL);

  headers[HEADER_APP_NAME] = dup_nonempty (config->app_name);
  headers[HEADER_APP_VERSION] = dup_nonempty (config->app_version);
  headers[HEADER_DEVICE_VENDOR] = dup_nonempty (configured_or (config->device_vendor, device->vendor));
  headers[HEADER_DEVICE_MODEL] = dup_nonempty (configured_or (config->device_model, device->model));
  headers[HEADER_OS_NAME] = dup_nonempty (configured_or (config->os_name, device->os_name));
  headers[HEADER_OS_VERSION] = dup_nonempty (configured_or (config->os_version, device->os_version));
  headers[HEADER_BROWSER_NAME] = dup_nonempty (config->browser_name);
  headers[HEADER_BROWSER_VERSION] = dup_nonempty (config->browser_version);
  self->strict_mode = config->strict_mode;
  self->stamp_payload = config->stamp_payload;

  for (guint i = 0; i < N_HEADERS; i++)
    {
      const char *reason;

      if (headers[i] != NULL && !ep_event_text_is_valid (headers[i], -1, &reason))
        {
          g_set_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG, "%s %s", header_keys[i], reason);
          return FALSE;
        }
    }
  return TRUE;
}

void
ep_submitter_start (EpSubmitter                *self,
                    EpQueue                    *queue,
                    EpMonitor                  *monitor,
                    const EpSubmitterCallbacks *callbacks,
                    gpointer                    user_data)
{
  g_assert (self->queue == NULL);

  self->queue = g_object_ref (queue);
  self->monitor = g_object_ref (monitor);
  self->callbacks = *callbacks;
  self->user_data = user_data;
  /* Decided once: the send path must not read the environment. */
  self->debug_stored = !g_log_writer_default_would_drop (G_LOG_LEVEL_DEBUG, G_LOG_DOMAIN);
}

void
ep_submitter_close (EpSubmitter *self)
{
  g_atomic_int_set (&self->closed, TRUE);
}

/* Settings ----------------------------------------------------------------- */

void
ep_submitter_set_consent_blocked (EpSubmitter       *self,
                                  EpConsentCategory  category,
                                  gboolean           blocked)
{
  g_assert (category <= EP_CONSENT_CATEGORY_TARGETING);

  if (category != EP_CONSENT_CATEGORY_NECESSARY)
    g_atomic_int_set (&self->consent_blocked[category], !!blocked);
}

gboolean
ep_submitter_get_consent_blocked (EpSubmitter       *self,
                                  EpConsentCategory  category)
{
  g_assert (category <= EP_CONSENT_CATEGORY_TARGETING);

  return g_atomic_int_get (&self->consent_blocked[category]);
}

gboolean
ep_submitter_set_credentials (EpSubmitter   *self,
                              EpCredentials *credentials)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return g_set_object (&self->credentials, credentials);
}

EpCredentials *
ep_submitter_dup_credentials (EpSubmitter *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->credentials ? g_object_ref (self->credentials) : NULL;
}

char *
ep_submitter_dup_storage_error (EpSubmitter *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return g_strdup (self->storage_error);
}

void
ep_submitter_set_clock_offset (EpSubmitter *self,
                               gint64       offset_ms)
{
  __atomic_store_n (&self->clock_offset_ms, offset_ms, __ATOMIC_RELAXED);
}

gint64
ep_submitter_get_clock_offset (EpSubmitter *self)
{
  return __atomic_load_n (&self->clock_offset_ms, __ATOMIC_RELAXED);
}

/* Enrichment and validation ------------------------------------------------ */

static void
fill_headers (EpSubmitter       *self,
              EpHeader          *headers,
              EpCredentials     *credentials,
              gboolean           with_authorization,
              EpConsentCategory  category,
              const char        *timestamp)
{
  for (guint i = 0; i < N_HEADERS; i++)
    {
      headers[i].key = header_keys[i];
      headers[i].value = self->static_headers[i];
    }
  if (credentials != NULL)
    {
      headers[HEADER_CLIENT_ID].value = ep_credentials_get_client_id (credentials);
      if (with_authorization)
        headers[HEADER_AUTHORIZATION].value = ep_credentials_get_token (credentials);
    }
  headers[HEADER_CONSENT_CATEGORY].value = ep_consent_category_to_header (category);
  headers[HEADER_TIMESTAMP].value = timestamp;
}

static const char * const stamp_members[] = { "uuid", "ts", NULL };

typedef struct {
  GString    *out;
  const char *payload;
} StampCopy;

static void
copy_unstamped_member (gsize    key_start,
                       gsize    value_end,
                       gboolean marked,
                       gpointer user_data)
{
  StampCopy *copy = user_data;

  if (marked)
    return;
  g_string_append_c (copy->out, ',');
  g_string_append_len (copy->out, copy->payload + key_start, value_end - key_start);
}

/* stamp-payload (the TIDAL web producer's body form): @payload must be one
 * JSON object (RFC 8259, strictly: see ep-json-scan.c); it is written into
 * @out with the members "uuid" (@id) and "ts" (@ts_ms, a number) added first
 * and the caller's members kept byte for byte. A caller's own "uuid" or "ts"
 * is replaced: left out of the copy. Returns NULL, or a static reason. */
static const char *
stamp_payload (GString    *out,
               const char *payload,
               gsize       payload_len,
               const char *id,
               gint64      ts_ms)
{
  EpJsonObjectScan scan;
  StampCopy copy = { out, payload };
  char ts[24];
  gsize body;

  if (!ep_json_scan_object (payload, payload_len, stamp_members, NULL, NULL, &scan))
    return "is not a JSON object (stamp-payload sends the payload as one, with uuid and ts added)";

  body = scan.open + 1;
  g_string_truncate (out, 0);
  g_string_append_len (out, payload, body);
  g_string_append (out, "\"uuid\":\"");
  g_string_append (out, id);
  g_string_append (out, "\",\"ts\":");
  g_string_append_len (out, ts, ep_event_format_decimal (ts_ms, ts));
  if (scan.n_marked == 0)
    {
      if (scan.n_members > 0)
        g_string_append_c (out, ',');
      g_string_append_len (out, payload + body, payload_len - body);
      return NULL;
    }
  /* Valid (scanned above): walk its members again, copying the others. */
  ep_json_scan_object (payload, payload_len, stamp_members, copy_unstamped_member, &copy, &scan);
  g_string_append_len (out, payload + scan.close, payload_len - scan.close);
  return NULL;
}

/* Enriches and validates an event into @buffers->record, and sets
 * @logical_size to what travels for it (what the size limit and the queue
 * budget count). Returns NULL on success, else a static reason (and
 * @detail, borrowed, may name a header). */
static const char *
build_record (EpSubmitter       *self,
              SendBuffers       *buffers,
              const char        *name,
              EpConsentCategory  category,
              const char        *payload,
              GHashTable        *caller_headers,
              gboolean           with_authorization,
              gsize             *logical_size,
              const char       **detail)
{
  g_autoptr(EpCredentials) credentials = ep_submitter_dup_credentials (self);
  gint64 now_us = g_get_real_time ();
  /* On the consumer's clock: the offset a scheduler estimated. */
  gint64 now_ms = now_us / 1000 + ep_submitter_get_clock_offset (self);
  char timestamp[24];
  EpHeader headers[N_HEADERS];
  const char *reason = NULL;
  gsize name_len, payload_len, size;

  *detail = NULL;
  name_len = strlen (name);
  if (name_len == 0)
    return "has an empty name";
  if (!ep_event_text_is_valid (name, name_len, &reason))
    return reason;
  payload_len = strlen (payload);
  if (payload_len == 0)
    return "has an empty payload (SQS refuses an empty MessageBody)";
  if (!ep_event_text_is_valid (payload, payload_len, &reason))
    {
      *detail = "payload";
      return reason;
    }
  if (caller_headers != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (reserved_headers); i++)
      if (g_hash_table_contains (caller_headers, header_keys[reserved_headers[i]]))
        {
          *detail = header_keys[reserved_headers[i]];
          return "is a reserved header: the producer sets it (the send call's category, the credentials' token)";
        }

  ep_event_format_uuid_v4 (buffers->rand, buffers->id);
  if (self->stamp_payload)
    {
      reason = stamp_payload (buffers->payload, payload, payload_len, buffers->id, now_ms);
      if (reason != NULL)
        {
          *detail = "payload";
          return reason;
        }
      payload = buffers->payload->str;
      payload_len = buffers->payload->len;
    }

  ep_event_format_decimal (now_ms, timestamp);
  fill_headers (self, headers, credentials, with_authorization, category, timestamp);
  if (!ep_event_build_headers_json (buffers->headers, headers, N_HEADERS, caller_headers,
                                    &reason, detail))
    return reason;

  size = EP_UUID_LEN + name_len + buffers->headers->len + payload_len;
  if (size > EP_MAX_EVENT_SIZE)
    return "is larger than 20480 bytes";
  *logical_size = size;

  ep_event_record_build (buffers->record, now_us, buffers->id, name, name_len,
                         buffers->headers->str, buffers->headers->len, payload, payload_len);
  return NULL;
}

GBytes *
ep_submitter_build_monitoring_event (EpSubmitter *self,
                                     const char  *payload)
{
  SendBuffers *buffers = get_send_buffers ();
  const char *detail;
  const char *reason;
  gsize size;

  reason = build_record (self, buffers, EP_MONITORING_EVENT_NAME, EP_CONSENT_CATEGORY_NECESSARY,
                         payload, NULL, FALSE, &size, &detail);
  if (reason != NULL)
    {
      /* Names are cut to EP_MONITOR_MAX_NAME_BYTES and a snapshot holds at
       * most EP_MONITOR_MAX_SNAPSHOT_NAMES, but names full of characters
       * that JSON escapes can still push the payload past the event size:
       * data the application sent, not a programming error. */
      g_message ("Cannot build the %s event: it %s", EP_MONITORING_EVENT_NAME, reason);
      return NULL;
    }
  return g_bytes_new (buffers->record->data, buffers->record->len);
}

/* Drop accounting and store ------------------------------------------------ */

static const char * const drop_reason_names[EP_N_DROP_REASONS] = {
  "consentFiltered", "validationFailed", "storingFailed", "expired",
};

/* Counts a dropped event and says why at debug level (every drop, in every
 * mode: G_MESSAGES_DEBUG=Ep shows them). */
static void
drop (EpSubmitter  *self,
      EpDropReason  reason,
      const char   *name,
      const char   *detail,
      const char   *why)
{
  g_autofree char *shown = ep_event_dup_shown_text (name, EP_SHOWN_NAME_MAX_BYTES);

  if (ep_monitor_add (self->monitor, reason, name))
    self->callbacks.counters_changed (self->user_data);
  if (detail != NULL)
    g_debug ("Event '%s' dropped (%s): '%s' %s", shown, drop_reason_names[reason], detail, why);
  else
    g_debug ("Event '%s' dropped (%s): it %s", shown, drop_reason_names[reason], why);
}

static void
report_invalid (EpSubmitter *self,
                const char  *name,
                const char  *reason,
                const char  *detail)
{
  drop (self, EP_DROP_VALIDATION_FAILED, name, detail, reason);
  if (self->strict_mode)
    {
      g_autofree char *shown = ep_event_dup_shown_text (name, EP_SHOWN_NAME_MAX_BYTES);

      if (detail != NULL)
        g_critical ("Event '%s' dropped: '%s' %s", shown, detail, reason);
      else
        g_critical ("Event '%s' dropped: it %s", shown, reason);
    }
}

static EpSendResult
drop_closed (EpSubmitter *self,
             const char  *name)
{
  /* After close the queue is not ours any more: there is no storage
   * outage to report on a closed producer, only a counted drop. */
  drop (self, EP_DROP_STORING_FAILED, name, NULL, "was sent after the producer was closed");
  return EP_SEND_RESULT_STORING_FAILED;
}

static EpSendResult
drop_unstored (EpSubmitter *self,
               const char  *name,
               GError      *error)
{
  g_autofree char *why = NULL;

  if (g_error_matches (error, EP_ERROR, EP_ERROR_CLOSED))
    return drop_closed (self, name);    /* a send that raced with close */

  why = g_strdup_printf ("could not be stored: %s", error->message);
  drop (self, EP_DROP_STORING_FAILED, name, NULL, why);
  g_mutex_lock (&self->lock);
  g_free (self->storage_error);
  self->storage_error = g_strdup (error->message);
  g_mutex_unlock (&self->lock);
  if (g_atomic_int_compare_and_exchange (&self->storage_warned, FALSE, TRUE))
    g_message ("Storage outage: %s", error->message);
  self->callbacks.queue_changed (self->user_data);
  return EP_SEND_RESULT_STORING_FAILED;
}

static EpSendResult
store (EpSubmitter *self,
       SendBuffers *buffers,
       const char  *name,
       gsize        logical_size)
{
  g_autoptr(GError) error = NULL;

  if (g_atomic_int_get (&self->closed))
    return drop_closed (self, name);
  if (!ep_queue_append (self->queue, buffers->record->data, buffers->record->len,
                        logical_size, &error))
    return drop_unstored (self, name, error);

  if (G_UNLIKELY (g_atomic_int_get (&self->storage_warned)) &&
      g_atomic_int_compare_and_exchange (&self->storage_warned, TRUE, FALSE))
    g_message ("Storage outage over: events are stored again");
  self->callbacks.queue_changed (self->user_data);
  return EP_SEND_RESULT_STORED;
}

EpSendResult
ep_submitter_submit (EpSubmitter        *self,
                     const char         *name,
                     EpConsentCategory   category,
                     const char         *payload,
                     GHashTable         *headers,
                     char              **id)
{
  SendBuffers *buffers;
  EpSendResult result;
  const char *reason;
  const char *detail;
  gsize size;

  g_assert (self->queue != NULL);

  if (g_atomic_int_get (&self->consent_blocked[category]))
    {
      drop (self, EP_DROP_CONSENT_FILTERED, name, ep_consent_category_to_header (category),
            "is a blocked consent category");
      return EP_SEND_RESULT_CONSENT_FILTERED;
    }

  buffers = get_send_buffers ();
  reason = build_record (self, buffers, name, category, payload, headers, TRUE, &size, &detail);
  if (reason != NULL)
    {
      report_invalid (self, name, reason, detail);
      return EP_SEND_RESULT_VALIDATION_FAILED;
    }

  result = store (self, buffers, name, size);
  if (G_UNLIKELY (self->debug_stored) && result == EP_SEND_RESULT_STORED)
    {
      g_autofree char *shown = ep_event_dup_shown_text (name, EP_SHOWN_NAME_MAX_BYTES);

      g_debug ("Stored event '%s' (%s, id %s)", shown,
               ep_consent_category_to_header (category), buffers->id);
    }
  if (id != NULL)
    *id = result == EP_SEND_RESULT_STORED ? g_strdup (buffers->id) : NULL;
  return result;
}
