/* ep-submitter-private.h: the send path (consent, enrichment, validation, store, drop accounting)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The first of the three parts of TIDAL's design (submitter, queue,
 * scheduler): it turns what the application hands to send into a stored
 * event record, or into a counted drop. In this order:
 *   1. consent: a blocked category is dropped (consentFilteredEvents);
 *   2. enrichment: id, default headers, caller headers;
 *   3. validation: size, UTF-8, XML 1.0 characters, non-empty name and
 *      payload, no caller value for a reserved header (validationFailedEvents);
 *   4. store: one append to the queue (storingFailedEvents on failure).
 * Every drop is counted in the monitor and leaves a g_debug line naming the
 * event and the reason.
 *
 * Thread safety: ep_submitter_submit() and the setters may be called from
 * any thread at once; nothing here touches a GMainContext or emits signals.
 * What the producer must learn (the queue or the storage state changed)
 * comes through EpSubmitterCallbacks, called on the sending thread.
 */
#pragma once

#include <ep-glib/ep-credentials.h>
#include <ep-glib/ep-error.h>
#include <ep-glib/ep-types.h>

#include "ep-monitor-private.h"
#include "ep-queue-private.h"

G_BEGIN_DECLS

/* The configured values of the default headers; NULL or empty ones are
 * detected (device, os) or omitted. Copied by ep_submitter_configure(). */
typedef struct {
  const char *app_name;
  const char *app_version;
  const char *device_vendor;
  const char *device_model;
  const char *os_name;
  const char *os_version;
  const char *browser_name;
  const char *browser_version;
  gboolean    strict_mode;    /* a validation failure also logs a g_critical */
  gboolean    stamp_payload;  /* payloads are JSON objects sent with "uuid" and "ts" added */
} EpSubmitterConfig;

/* Called on the sending thread, outside any lock of the submitter. */
typedef struct {
  /* An append was tried (it succeeded or failed): the queue's length or
   * its storage state may have changed. */
  void (*queue_changed)    (gpointer user_data);
  /* A counter changed, the first change since the saved state last took
   * the counters (ep_monitor_add() returned TRUE). */
  void (*counters_changed) (gpointer user_data);
} EpSubmitterCallbacks;

#define EP_TYPE_SUBMITTER (ep_submitter_get_type ())
G_DECLARE_FINAL_TYPE (EpSubmitter, ep_submitter, EP, SUBMITTER, GObject)

/* A submitter with privacy by default (PERFORMANCE and TARGETING blocked)
 * and no credentials; it cannot submit until configured and started. */
EpSubmitter    *ep_submitter_new              (void);

/* Copies the configuration and resolves the default headers (detecting the
 * device and the OS where not configured). FALSE with
 * EP_ERROR_INVALID_CONFIG when a header value is not valid text. */
gboolean        ep_submitter_configure        (EpSubmitter                *self,
                                               const EpSubmitterConfig    *config,
                                               GError                    **error);

/* Starts storing into @queue and counting into @monitor (both referenced).
 * @callbacks is copied; @user_data must outlive the submitter's use. */
void            ep_submitter_start            (EpSubmitter                *self,
                                               EpQueue                    *queue,
                                               EpMonitor                  *monitor,
                                               const EpSubmitterCallbacks *callbacks,
                                               gpointer                    user_data);

/* From now on every submission is dropped as a storing failure, counted,
 * quietly (a g_debug line): no append is tried and no storage outage
 * starts. Any thread. */
void            ep_submitter_close            (EpSubmitter                *self);

/* Consent, enrichment, validation, store. @id: (out) (optional): the id of
 * a stored event (NULL otherwise). Any thread. */
EpSendResult    ep_submitter_submit           (EpSubmitter                *self,
                                               const char                 *name,
                                               EpConsentCategory           category,
                                               const char                 *payload,
                                               GHashTable                 *headers,
                                               char                      **id);

/* The record of a monitoring event carrying @payload, with the default
 * headers (client-id, never authorization); NULL (and a g_warning: a bug)
 * if it cannot be built. Any thread. */
GBytes         *ep_submitter_build_monitoring_event (EpSubmitter          *self,
                                                     const char           *payload);

/* Any thread; NECESSARY is never blocked (the caller warns). */
void            ep_submitter_set_consent_blocked (EpSubmitter             *self,
                                                  EpConsentCategory        category,
                                                  gboolean                 blocked);
gboolean        ep_submitter_get_consent_blocked (EpSubmitter             *self,
                                                  EpConsentCategory        category);

/* Any thread. Events submitted afterwards carry the new client id and
 * token. Returns whether the credentials changed. */
gboolean        ep_submitter_set_credentials  (EpSubmitter                *self,
                                               EpCredentials              *credentials);
EpCredentials  *ep_submitter_dup_credentials  (EpSubmitter                *self);
/* Any thread: why the last store failed (NULL if none did). */
char           *ep_submitter_dup_storage_error (EpSubmitter               *self);

/* The consumer's clock minus the local one, in ms: added to the
 * `requested-sent-timestamp` (and `ts`) of events submitted afterwards;
 * events already stored keep theirs. Atomic, any thread. The producer
 * sets it at start from its saved state (ep-producer-state-private.h) and
 * hands each change from the scheduler to both. */
void            ep_submitter_set_clock_offset (EpSubmitter                *self,
                                               gint64                      offset_ms);
gint64          ep_submitter_get_clock_offset (EpSubmitter                *self);

G_END_DECLS
