/* ep-monitor-private.h: dropped-event counters and the persisted outage state
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Counters per reason per event name, kept in memory under a mutex (any
 * thread may count) and persisted to their own file, apart from the queue's
 * journal, so that they survive a crash and a broken queue. The same file
 * keeps the outage state so it can be restored at start.
 */
#pragma once

#include "ep-glib.h"
#include "ep-queue-private.h"

G_BEGIN_DECLS

typedef enum {
  EP_DROP_CONSENT_FILTERED,
  EP_DROP_VALIDATION_FAILED,
  EP_DROP_STORING_FAILED,
  EP_DROP_EXPIRED,           /* max-event-age; the state file keeps it as an extension */
  EP_N_DROP_REASONS
} EpDropReason;

/* Longest event name kept in a counter key (longer ones are cut at a
 * character boundary). Escaped as JSON (quotes, backslashes, tabs and
 * newlines take two bytes), one counter takes at most
 * EP_MONITOR_MAX_ENTRY_JSON_BYTES of a report: "name":count and a comma. */
#define EP_MONITOR_MAX_NAME_BYTES 96
#define EP_MONITOR_MAX_ENTRY_JSON_BYTES (2 * EP_MONITOR_MAX_NAME_BYTES + 2 + 1 + 19 + 1)

/* Most distinct names counted per reason: past them, drops of new names
 * count under EP_MONITOR_OTHER_NAME, so memory, the file and the time to
 * save them stay bounded however many names an application makes up. */
#define EP_MONITOR_MAX_NAMES 1000
#define EP_MONITOR_OTHER_NAME "(other)"

/* The four maps, in EpDropReason order (ep_producer_dup_counters() shows
 * the first three). */
#define EP_MONITOR_SNAPSHOT_TYPE "(a{st}a{st}a{st}a{st})"

#define EP_TYPE_MONITOR (ep_monitor_get_type ())
G_DECLARE_FINAL_TYPE (EpMonitor, ep_monitor, EP, MONITOR, GObject)

/* Loads the state blob of @queue (ep-queue-state-private.h) if there is
 * one. A blob that cannot be parsed is moved aside (".corrupt"), logged
 * with g_message, and the monitor starts empty. Saves are timed on the
 * thread-default main context of the caller. */
EpMonitor  *ep_monitor_new              (EpQueue      *queue);

/* Counts one dropped event; thread-safe. The monitor saves on its own
 * (coalesced); returns TRUE when this was the first change since the last
 * save began (so the caller may tell whoever sends the counts). */
gboolean    ep_monitor_add              (EpMonitor    *self,
                                         EpDropReason  reason,
                                         const char   *name);
guint64     ep_monitor_get_count        (EpMonitor    *self,
                                         EpDropReason  reason,
                                         const char   *name);
gboolean    ep_monitor_is_empty         (EpMonitor    *self);

/* All the current counts, EP_MONITOR_SNAPSHOT_TYPE. (transfer full) */
GVariant   *ep_monitor_snapshot         (EpMonitor    *self);
/* What one monitoring event reports: the counts whose JSON payload
 * (ep_monitor_snapshot_to_json()) takes at most @max_json_bytes, so the
 * event fits in EP_MAX_EVENT_SIZE whatever the names. Reports take the
 * counters in turn: each starts where the previous one stopped (in reason,
 * then name order, wrapping around), so every name gets reported however
 * many there are. A counter too large for @max_json_bytes on its own is
 * passed over (it stays counted). Counts leave the monitor only through
 * ep_monitor_subtract(), once the consumer confirmed the report. NULL when
 * there is no counter, or none fits. (transfer full) */
GVariant   *ep_monitor_snapshot_report  (EpMonitor    *self,
                                         gsize         max_json_bytes);
/* {"consentFilteredEvents":{..},"validationFailedEvents":{..},"storingFailedEvents":{..}},
 * with "expiredEvents":{..} after them if its map is not empty */
char       *ep_monitor_snapshot_to_json (GVariant     *snapshot);
/* The same, with "expiredEvents" also when empty if @with_expired. */
char       *ep_monitor_snapshot_to_json_full (GVariant *snapshot,
                                              gboolean  with_expired);
/* Whether the reports show "expiredEvents" even when empty (the producer
 * has a max-event-age). Thread-safe. */
void        ep_monitor_set_reports_expired (EpMonitor *self,
                                            gboolean   reports);
gboolean    ep_monitor_get_reports_expired (EpMonitor *self);
/* The payload of a report without counters: what every report takes
 * besides them. */
char       *ep_monitor_empty_snapshot_json (void);
/* Subtracts a snapshot's counts once the consumer confirmed them. Returns
 * as ep_monitor_add() does. */
gboolean    ep_monitor_subtract         (EpMonitor    *self,
                                         GVariant     *snapshot);

void        ep_monitor_get_outage       (EpMonitor    *self,
                                         gboolean     *storage,
                                         gboolean     *delivery);
/* Returns TRUE if the state changed (and the monitor became dirty). */
gboolean    ep_monitor_set_outage       (EpMonitor    *self,
                                         gboolean      storage,
                                         gboolean      delivery);

/* Why the delivery outage is going on (an EpOutageReason and a message;
 * 0 and NULL without one), persisted with it. Setting returns as
 * ep_monitor_add() does. */
guint       ep_monitor_dup_delivery_error (EpMonitor  *self,
                                           char      **message);
gboolean    ep_monitor_set_delivery_error (EpMonitor  *self,
                                           guint       reason,
                                           const char *message);

/* The consumer's clock minus the local one (ms), persisted with the
 * counters. Setting returns as ep_monitor_add() does. */
gint64      ep_monitor_get_clock_offset (EpMonitor    *self);
gboolean    ep_monitor_set_clock_offset (EpMonitor    *self,
                                         gint64        offset_ms);

gboolean    ep_monitor_is_dirty         (EpMonitor    *self);
/* Writes the state now (through the queue, atomically, durably, mode 0600)
 * if it changed, cancelling a scheduled save. Blocking: meant for worker
 * threads and shutdown. Thread-safe. Does nothing for a closed monitor or
 * a read-only or closed queue. */
gboolean    ep_monitor_save             (EpMonitor    *self,
                                         GError      **error);
/* Saves what is left (a failure is logged), then never saves again: call
 * it before the queue is closed, as the directory may belong to another
 * producer afterwards. Counting goes on in memory. Idempotent. */
void        ep_monitor_close            (EpMonitor    *self);

/* Writes so far (for tests). */
guint       ep_monitor_get_n_saves      (EpMonitor    *self);

G_END_DECLS
