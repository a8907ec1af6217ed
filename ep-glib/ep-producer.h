/* ep-producer.h: the event producer
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined(EP_GLIB_INSIDE) && !defined(EP_GLIB_COMPILATION)
# error "Only <ep-glib/ep-glib.h> can be included directly."
#endif

#include <gio/gio.h>

#include <ep-glib/ep-version.h>
#include <ep-glib/ep-types.h>
#include <ep-glib/ep-credentials.h>

G_BEGIN_DECLS

/**
 * EP_MAX_EVENT_SIZE:
 *
 * The largest event, in UTF-8 bytes of everything that travels for it (id,
 * name, payload and the headers as the JSON object that is sent).
 */
#define EP_MAX_EVENT_SIZE 20480

/**
 * EP_MONITORING_EVENT_NAME:
 *
 * The name of the event ep-glib sends with its own dropped-event counters.
 */
#define EP_MONITORING_EVENT_NAME "tep-tl-monitoring"

#define EP_TYPE_PRODUCER (ep_producer_get_type ())

EP_AVAILABLE_IN_ALL
G_DECLARE_FINAL_TYPE (EpProducer, ep_producer, EP, PRODUCER, GObject)

EP_AVAILABLE_IN_ALL
EpProducer    *ep_producer_new                 (const char           *app_name,
                                                const char           *app_version,
                                                const char           *consumer_uri,
                                                const char           *public_consumer_uri,
                                                GError              **error);
EP_AVAILABLE_IN_ALL
EpSendResult   ep_producer_send_event          (EpProducer           *self,
                                                const char           *name,
                                                EpConsentCategory     category,
                                                const char           *payload,
                                                GHashTable           *headers);
EP_AVAILABLE_IN_ALL
EpSendResult   ep_producer_send_event_full     (EpProducer           *self,
                                                const char           *name,
                                                EpConsentCategory     category,
                                                const char           *payload,
                                                GHashTable           *headers,
                                                char                **id);
EP_AVAILABLE_IN_ALL
void           ep_producer_set_consent_blocked (EpProducer           *self,
                                                EpConsentCategory     category,
                                                gboolean              blocked);
EP_AVAILABLE_IN_ALL
gboolean       ep_producer_get_consent_blocked (EpProducer           *self,
                                                EpConsentCategory     category);
EP_AVAILABLE_IN_ALL
void           ep_producer_set_credentials     (EpProducer           *self,
                                                EpCredentials        *credentials);
EP_AVAILABLE_IN_ALL
EpCredentials *ep_producer_dup_credentials     (EpProducer           *self);
EP_AVAILABLE_IN_ALL
gboolean       ep_producer_get_outage          (EpProducer           *self);
EP_AVAILABLE_IN_0_2
EpOutageReason ep_producer_get_outage_reason   (EpProducer           *self);
EP_AVAILABLE_IN_0_2
char          *ep_producer_dup_last_error      (EpProducer           *self);
EP_AVAILABLE_IN_ALL
guint64        ep_producer_get_queue_length    (EpProducer           *self);
EP_AVAILABLE_IN_ALL
guint64        ep_producer_get_queue_bytes     (EpProducer           *self);
EP_AVAILABLE_IN_ALL
guint          ep_producer_get_discarded_records (EpProducer         *self);
EP_AVAILABLE_IN_ALL
const char    *ep_producer_get_queue_dir       (EpProducer           *self);
EP_AVAILABLE_IN_ALL
gint64         ep_producer_get_oldest_event_time (EpProducer         *self);
EP_AVAILABLE_IN_ALL
GVariant      *ep_producer_dup_queued_events   (EpProducer           *self,
                                                guint64               after,
                                                guint                 max_events);
EP_AVAILABLE_IN_ALL
GVariant      *ep_producer_dup_counters        (EpProducer           *self);
EP_AVAILABLE_IN_ALL
char          *ep_producer_dup_counters_json   (EpProducer           *self);
EP_AVAILABLE_IN_ALL
void           ep_producer_flush_async         (EpProducer           *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
EP_AVAILABLE_IN_ALL
gboolean       ep_producer_flush_finish        (EpProducer           *self,
                                                GAsyncResult         *result,
                                                GError              **error);
EP_AVAILABLE_IN_ALL
void           ep_producer_close_async         (EpProducer           *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
EP_AVAILABLE_IN_ALL
gboolean       ep_producer_close_finish        (EpProducer           *self,
                                                GAsyncResult         *result,
                                                GError              **error);
EP_AVAILABLE_IN_0_2
void           ep_producer_purge_async         (EpProducer           *self,
                                                GCancellable         *cancellable,
                                                GAsyncReadyCallback   callback,
                                                gpointer              user_data);
EP_AVAILABLE_IN_0_2
guint64        ep_producer_purge_finish        (EpProducer           *self,
                                                GAsyncResult         *result,
                                                GError              **error);

G_END_DECLS
