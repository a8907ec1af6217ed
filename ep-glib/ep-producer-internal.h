/* ep-producer-internal.h: what the producer's files share
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ep-producer.c is the GObject façade: properties, signals, the
 * constructor; ep-producer-send.c and ep-producer-report.c the rest of the
 * public API (the send path's calls, the getters); ep-producer-context.c
 * hands work from any thread to the producer's main context and keeps the
 * state announced there; ep-producer-init.c checks the configuration,
 * builds the parts and wires their callbacks.
 * Not installed, not scanned for the GIR; for the producer's files only
 * (tests use ep-producer-private.h).
 */
#pragma once

#include <ep-glib/ep-credentials.h>
#include <ep-glib/ep-producer.h>
#include <ep-glib/ep-types.h>

#include "ep-monitor-private.h"
#include "ep-producer-state-private.h"
#include "ep-queue-private.h"
#include "ep-scheduler-private.h"
#include "ep-submitter-private.h"
#include "ep-transport-private.h"

G_BEGIN_DECLS

/* The configured device and OS headers, as given (NULL: detected). */
typedef enum {
  DEVICE_VENDOR,
  DEVICE_MODEL,
  DEVICE_OS_NAME,
  DEVICE_OS_VERSION,
  N_DEVICE_INFO
} DeviceInfoIndex;

struct _EpProducer
{
  GObject        parent_instance;

  /* Configuration: construct-only, immutable once init succeeded. */
  char          *app_name;
  char          *app_version;
  char          *consumer_uri;
  char          *public_consumer_uri;
  char          *queue_dir;
  guint64        max_disk_usage;
  guint          batch_interval_ms;
  guint          monitoring_interval_ms;
  guint          constrained_interval_ms;
  guint          request_timeout_ms;
  guint          max_in_flight;
  gboolean       strict_mode;
  gboolean       sync_on_send;
  gboolean       read_only;            /* construct-only: a snapshot of a queue, no delivery */
  gboolean       stamp_payload;        /* construct-only: the web producer's body form */
  gboolean       persist_consent;      /* construct-only: the consent state is saved and restored */
  char         **feral_event_types;
  char          *device_info[N_DEVICE_INFO]; /* as configured, indexed by DeviceInfoIndex */
  char          *browser_name;
  char          *browser_version;

  GMainContext  *context;              /* owned: thread-default at creation; signals fire here */
  EpSubmitter   *submitter;            /* owned: the send path, consent and credentials */
  EpQueue       *queue;                /* owned; NULL until init */
  EpMonitor     *monitor;              /* owned; NULL until init: the dropped-event counters */
  EpProducerState *state;              /* owned; NULL until init: the outage, the clock offset and the counters, saved */
  EpTransport   *transport;            /* owned; NULL until init */
  EpScheduler   *scheduler;            /* owned; NULL until init */

  GMutex         credentials_lock;     /* serialises setting credentials on the submitter and the scheduler */
  GMutex         consent_lock;         /* serialises consent changes and their saves (ep-producer-consent.c) */
  GBytes        *consent_saved;        /* owned, nullable, under consent_lock: the consent blob as last saved */
  guint          app_blocked;          /* under consent_lock: bit per EpConsentCategory, as the application set it */
  gboolean       desktop_blocked;      /* under consent_lock: the followed desktop setting says no */
  gboolean       consent_started;      /* under consent_lock: ep_producer_consent_start() applied the state to the queue */
  gboolean       follow_desktop_privacy; /* the property; changed on the main context's thread only */
  GSettings     *desktop_privacy;      /* owned, nullable, main context: org.gnome.desktop.privacy while followed */
  gboolean       compress_requests;    /* the property (the scheduler holds the value in use) */
  guint          max_event_age;        /* the property, seconds; 0: no limit (the queue holds it) */
  guint64        storage_failures_seen; /* main context only: the queue's failed appends, last seen */
  gboolean       delivery_outage;      /* main context only */
  EpOutageReason delivery_reason;      /* main context only: the last failed attempt's */
  char          *delivery_error;       /* owned, nullable, main context only: the last failed attempt's message */
  gboolean       network_available;    /* main context only: the scheduler's last report */
  gboolean       outage;               /* main context only: the value last announced */
  EpOutageReason outage_reason;        /* main context only: the value last announced */
  char          *last_error;           /* owned, nullable, main context only: the value last announced */
  int            update_pending;       /* atomic: an update_on_main() idle is queued */
  int            counters_pending;     /* atomic: a counters_changed_on_main() idle is queued */
  guint64        notified_length;      /* main context only */
  guint64        notified_bytes;       /* main context only */
  guint64        settled_ids_collected; /* atomic: ..._collected_for_testing() */
  gboolean       initialized;
  GError        *init_error;           /* owned, nullable: why init failed, for a second call */
  gboolean       closed;
};

/* ep-producer.c: a critical naming g_initable_init() unless initialized. */
gboolean ep_producer_check_initialized         (EpProducer  *self,
                                                const char  *function);

/* ep-producer.c: the notifications and the signals (main context only). */
void     ep_producer_update_queue_properties   (EpProducer  *self);
void     ep_producer_announce_outage           (EpProducer  *self,
                                                gboolean     outage);
void     ep_producer_announce_outage_reason    (EpProducer  *self,
                                                EpOutageReason reason,
                                                const char  *last_error);
void     ep_producer_notify_credentials        (EpProducer  *self);
void     ep_producer_emit_credentials_rejected (EpProducer  *self,
                                                guint        status);
/* Any thread: whether EpProducer::events-settled has a handler (ids are
 * collected only then). Main context: emits it with @ids (element-type
 * utf8, not consumed; nothing if empty or NULL). */
gboolean ep_producer_wants_settled             (EpProducer  *self);
void     ep_producer_emit_events_settled       (EpProducer  *self,
                                                GPtrArray   *ids,
                                                EpEventOutcome outcome);

/* ep-producer-context.c: work handed to the main context, and the state
 * kept there. ep_producer_call_on_main(), ep_producer_counters_changed()
 * and ep_producer_schedule_update() may be called from any thread. */
void     ep_producer_call_on_main              (EpProducer  *self,
                                                guint        delay_ms,
                                                void       (*func) (EpProducer *self));
void     ep_producer_counters_changed          (EpProducer  *self);
/* FALSE when another thread owns the producer's main context: the calls
 * documented as made from its thread assert it (g_return_if_fail). */
gboolean ep_producer_in_own_context            (EpProducer  *self);
void     ep_producer_update_outage             (EpProducer  *self);
void     ep_producer_compute_outage            (EpProducer  *self,
                                                gboolean     storage,
                                                gboolean    *outage,
                                                EpOutageReason *reason,
                                                char       **last_error);
void     ep_producer_count_consent_drops       (EpProducer  *self,
                                                GHashTable  *drops);
void     ep_producer_count_expired             (EpProducer  *self,
                                                GHashTable  *drops);
void     ep_producer_schedule_update           (EpProducer  *self);

/* ep-producer-consent.c: the consent state applied to the queue at start
 * (during init, once the monitor exists) and on each change. */
void     ep_producer_consent_start             (EpProducer  *self);
void     ep_producer_consent_changed           (EpProducer  *self,
                                                EpConsentCategory category,
                                                gboolean     blocked);

/* ep-producer-privacy.c: GNOME's usage-statistics setting followed for
 * PERFORMANCE and TARGETING (EpProducer:follow-desktop-privacy). */
void     ep_producer_privacy_start             (EpProducer  *self);
void     ep_producer_privacy_set_follow        (EpProducer  *self,
                                                gboolean     follow);
void     ep_producer_privacy_stop              (EpProducer  *self);
void     ep_producer_consent_set_desktop_blocked (EpProducer *self,
                                                gboolean     blocked);

/* ep-producer-consent.c: ep_producer_purge_async()'s work, on a thread
 * (blocking); the number of events deleted. */
guint64  ep_producer_consent_purge             (EpProducer  *self,
                                                GError     **error);

/* ep-producer-init.c: GInitable's work, run once. */
gboolean ep_producer_init_parts                (EpProducer  *self,
                                                GError     **error);

G_END_DECLS
