/* ep-producer-report.c: what the producer tells on request
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The public getters of the state the producer reports: the outage as
 * last announced (kept by ep-producer-context.c), the queue (its length,
 * size, directory, oldest event, and a page of its events for tools) and
 * the dropped-event counters not yet reported (the monitor's). Public API:
 * scanned for the GIR with ep-producer.c.
 */
#include "config.h"

#include "ep-event-private.h"
#include "ep-producer-internal.h"

/**
 * ep_producer_get_outage:
 * @self: an #EpProducer
 *
 * Tells whether an outage is going on.
 *
 * The value is the one last announced with
 * [signal@Ep.Producer::outage-changed], which the producer's main context
 * updates: call this from the thread of that context (from another thread
 * the result may lag behind, or be torn from a concurrent update).
 *
 * Returns: the value of [property@Ep.Producer:outage]
 */
gboolean
ep_producer_get_outage (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), FALSE);

  return self->outage;
}

/**
 * ep_producer_get_outage_reason:
 * @self: an #EpProducer
 *
 * Tells why events are not delivered; call it from the thread of the
 * producer's main context, as ep_producer_get_outage().
 *
 * Returns: the value of [property@Ep.Producer:outage-reason]
 *
 * Since: 0.2
 */
EpOutageReason
ep_producer_get_outage_reason (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), EP_OUTAGE_REASON_NONE);

  return self->outage_reason;
}

/**
 * ep_producer_dup_last_error:
 * @self: an #EpProducer
 *
 * Gets what went wrong, in words; call it from the thread of the
 * producer's main context, as ep_producer_get_outage().
 *
 * Returns: (transfer full) (nullable): the value of
 *   [property@Ep.Producer:last-error]
 *
 * Since: 0.2
 */
char *
ep_producer_dup_last_error (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  return g_strdup (self->last_error);
}

/**
 * ep_producer_get_queue_length:
 * @self: an #EpProducer
 *
 * Gets the value of [property@Ep.Producer:queue-length].
 *
 * Returns: the number of events stored and not yet confirmed
 */
guint64
ep_producer_get_queue_length (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);

  return self->queue ? ep_queue_get_length (self->queue) : 0;
}

/**
 * ep_producer_get_queue_bytes:
 * @self: an #EpProducer
 *
 * Gets the value of [property@Ep.Producer:queue-bytes].
 *
 * Returns: the logical size in bytes of the queued events
 */
guint64
ep_producer_get_queue_bytes (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);

  return self->queue ? ep_queue_get_bytes (self->queue) : 0;
}

/**
 * ep_producer_get_discarded_records:
 * @self: an #EpProducer
 *
 * Gets the value of [property@Ep.Producer:discarded-records].
 *
 * Returns: the number of corrupt records discarded when the queue was opened
 */
guint
ep_producer_get_discarded_records (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);

  return self->queue ? ep_queue_get_discarded (self->queue) : 0;
}

/**
 * ep_producer_get_queue_dir:
 * @self: an #EpProducer
 *
 * Gets the queue directory, the configured one or the default.
 *
 * Returns: (type filename) (nullable): the queue directory in use
 */
const char *
ep_producer_get_queue_dir (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  return self->queue_dir;
}

/**
 * ep_producer_get_oldest_event_time:
 * @self: an #EpProducer
 *
 * Tells how old the oldest queued event is.
 *
 * Returns: when the oldest queued event was sent, in microseconds since
 *   the Unix epoch, or 0 when the queue is empty
 */
gint64
ep_producer_get_oldest_event_time (EpProducer *self)
{
  g_return_val_if_fail (EP_IS_PRODUCER (self), 0);

  return self->queue ? ep_queue_get_oldest_time (self->queue) : 0;
}

/**
 * ep_producer_dup_queued_events:
 * @self: an #EpProducer
 * @after: 0 for the oldest events, else the position of the last event of
 *   the previous page
 * @max_events: the most events to return
 *
 * Reads queued events, oldest first, for inspection (`ep-tool dump`). The
 * result is a #GVariant of type `a(txssss)`: for each event its queue
 * position, the time it was sent (microseconds since the epoch), its id,
 * name, headers (as the JSON object that is sent) and payload. To page on,
 * pass the position of the last event as @after.
 *
 * This reads from disk on the calling thread: meant for tools, not for a
 * UI's main loop.
 *
 * Returns: (transfer full): the events
 */
GVariant *
ep_producer_dup_queued_events (EpProducer *self,
                               guint64     after,
                               guint       max_events)
{
  g_autoptr(GPtrArray) items = NULL;
  GVariantBuilder builder;

  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(txssss)"));
  items = self->queue ? ep_queue_peek (self->queue, after, max_events)
                      : g_ptr_array_new ();
  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = g_ptr_array_index (items, i);
      g_auto(EpEvent) event = { 0 };

      if (!ep_event_parse (item->record, &event, NULL))
        continue;
      g_variant_builder_add (&builder, "(txssss)", item->seq, event.created_us, event.id,
                             event.name, event.headers_json, event.payload);
    }
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

/**
 * ep_producer_dup_counters:
 * @self: an #EpProducer
 *
 * The dropped-event counters not yet reported to the consumer: a
 * #GVariant of type `(a{st}a{st}a{st})` holding, per event name, the
 * consent-filtered, validation-failed and storing-failed counts.
 *
 * Events deleted as older than [property@Ep.Producer:max-event-age] are
 * not in it (the type stays): see ep_producer_dup_counters_json().
 *
 * At most 1,000 distinct names are counted per reason; drops of further
 * names are counted together under the reserved name `(other)`, so that
 * an application that makes up names cannot grow the counters (and their
 * file) without bound.
 *
 * Returns: (transfer full): the counters
 */
GVariant *
ep_producer_dup_counters (EpProducer *self)
{
  g_autoptr(GVariant) snapshot = NULL;
  GVariant *maps[EP_DROP_EXPIRED];
  GVariant *counters;

  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);
  g_return_val_if_fail (self->monitor != NULL, NULL);

  snapshot = ep_monitor_snapshot (self->monitor);
  /* the first three maps: expiredEvents is in dup_counters_json() only,
   * so that this keeps its type */
  for (guint i = 0; i < G_N_ELEMENTS (maps); i++)
    maps[i] = g_variant_get_child_value (snapshot, i);
  counters = g_variant_ref_sink (g_variant_new_tuple (maps, G_N_ELEMENTS (maps)));
  for (guint i = 0; i < G_N_ELEMENTS (maps); i++)
    g_variant_unref (maps[i]);   /* not floating: the tuple took its own refs */
  return counters;
}

/**
 * ep_producer_dup_counters_json:
 * @self: an #EpProducer
 *
 * The dropped-event counters not yet reported, as the JSON payload of the
 * monitoring event: `{"consentFilteredEvents":{…},
 * "validationFailedEvents":{…},"storingFailedEvents":{…}}`, followed by
 * `"expiredEvents":{…}` when [property@Ep.Producer:max-event-age] is set
 * (or events expired under an earlier setting are still counted).
 *
 * Returns: (transfer full): the counters as JSON
 */
char *
ep_producer_dup_counters_json (EpProducer *self)
{
  g_autoptr(GVariant) snapshot = NULL;

  g_return_val_if_fail (EP_IS_PRODUCER (self), NULL);
  g_return_val_if_fail (self->monitor != NULL, NULL);

  snapshot = ep_monitor_snapshot (self->monitor);
  return ep_monitor_snapshot_to_json_full (snapshot, self->max_event_age > 0);
}
