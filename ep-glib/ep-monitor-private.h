/* ep-monitor-private.h: dropped-event counters and the monitoring event's payload
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Counters per reason per event name, kept in memory under a mutex (any
 * thread may count), and the reports that the monitoring event carries.
 * The monitor does not save them: the producer's saved state
 * (ep-producer-state-private.h) keeps them in its file, apart from the
 * queue's journal, so that they survive a crash and a broken queue.
 */
#pragma once

#include <glib-object.h>

#include <ep-glib/ep-types.h>

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

/* Called, under the monitor's lock and on the thread that counted, on the
 * first change of a count since the counters were last taken for a save
 * (ep_monitor_snapshot_for_save()). It must not call the monitor. Its
 * result is what ep_monitor_add() returns, unless that count started from
 * zero (then TRUE). */
typedef gboolean (*EpMonitorChangedFunc) (gpointer user_data);

/* An empty monitor. */
EpMonitor  *ep_monitor_new              (void);

/* Sets (or with NULL, clears) the function told of changes. Clearing waits
 * for a call in progress: after it, @user_data is never used again. */
void        ep_monitor_set_changed_func (EpMonitor            *self,
                                         EpMonitorChangedFunc  func,
                                         gpointer              user_data);

/* Adds the counts of a saved snapshot (EP_MONITOR_SNAPSHOT_TYPE), names cut
 * and capped as counted names are, without telling the changed function
 * (they are saved already). */
void        ep_monitor_restore          (EpMonitor    *self,
                                         GVariant     *snapshot);

/* Counts one dropped event; thread-safe. Returns TRUE when the counters
 * were all zero before it, or when this was the first change since the
 * counters were last taken for a save and the changed function (if any)
 * returned TRUE: the caller then tells whoever sends the counts (the
 * scheduler's monitoring timer runs only while a count is non-zero). */
gboolean    ep_monitor_add              (EpMonitor    *self,
                                         EpDropReason  reason,
                                         const char   *name);
guint64     ep_monitor_get_count_for_testing (EpMonitor    *self,
                                              EpDropReason  reason,
                                              const char   *name);
gboolean    ep_monitor_is_empty         (EpMonitor    *self);

/* All the current counts, EP_MONITOR_SNAPSHOT_TYPE, names sorted.
 * (transfer full) */
GVariant   *ep_monitor_snapshot         (EpMonitor    *self);
/* The same, taken for a save: the next change counts as a first change
 * again (see EpMonitorChangedFunc). (transfer full) */
GVariant   *ep_monitor_snapshot_for_save (EpMonitor   *self);
/* What one monitoring event reports: the counts whose JSON payload
 * (ep_monitor_snapshot_to_json_for_testing()) takes at most @max_json_bytes, so the
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
char       *ep_monitor_snapshot_to_json_for_testing (GVariant     *snapshot);
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
 * as ep_monitor_add() does (FALSE when no count changed). */
gboolean    ep_monitor_subtract         (EpMonitor    *self,
                                         GVariant     *snapshot);

G_END_DECLS
