/* ep-monitor.c: dropped-event counters and the persisted outage state
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The file is one GVariant of type "(ua{st}a{st}a{st}bba{sv})": format
 * version (2), the three counter maps (consentFilteredEvents,
 * validationFailedEvents, storingFailedEvents), the storage and delivery
 * outage flags, then named extensions:
 *   "clock-offset"  x  the consumer's clock minus the local one, in ms
 *   "delivery-reason" u  the EpOutageReason of the last failed delivery
 *   "delivery-error"  s  its message (both only while a delivery outage lasts)
 *   "expired-events"  a{st}  the expiredEvents counters (max-event-age), if any
 * Unknown extensions are ignored. Version 1 files, "(ua{st}a{st}a{st}bb)"
 * (the same without the extensions), are read too and rewritten as version
 * 2 by the next save.
 *
 * The monitor never touches the disk itself: the file is a state blob of
 * the queue (ep-queue-state-private.h), which replaces it atomically and
 * durably. The monitor owns the one save policy: every change asks for a
 * save; the first change after a save began arms one timer of
 * SAVE_DELAY_MS on the context the monitor was created on, and the save
 * then runs in a worker thread, so a burst of drops costs one write.
 * ep_monitor_close() saves what is left and stops saving.
 */
#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ep-event-private.h"
#include "ep-monitor-private.h"
#include "ep-queue-state-private.h"

#define STATE_TYPE_V1 "(ua{st}a{st}a{st}bb)"
#define STATE_TYPE "(ua{st}a{st}a{st}bba{sv})"
#define STATE_VERSION 2
#define STATE_BLOB_NAME "monitor.gvariant"
#define SAVE_DELAY_MS 200

struct _EpMonitor
{
  GObject     parent_instance;

  EpQueue    *queue;                       /* owned, immutable: where the state blob lives */
  GMainContext *context;                   /* owned, immutable: thread-default at creation; runs the save timer */
  GMutex      save_lock;                   /* held for a whole save, so saves never overtake each other */
  GMutex      lock;                        /* protects everything below */
  GHashTable *counts[EP_N_DROP_REASONS];   /* owned: name (owned) -> guint64 count (boxed in the pointer) */
  gboolean    storage_outage;
  gboolean    delivery_outage;
  gint64      clock_offset_ms;
  guint       delivery_reason;             /* EpOutageReason of the last failed delivery; 0 without outage */
  char       *delivery_error;              /* owned, nullable: its message */
  gboolean    dirty;                       /* changed since the last save */
  gboolean    save_requested;              /* a save is scheduled and has not started yet */
  GSource    *save_timer;                  /* owned, nullable: the scheduled save */
  guint       n_saves;                     /* writes so far, for tests */
  gboolean    closed;                      /* ep_monitor_close(): the file is no longer ours */
  guint64     generation;                  /* bumped on every change, to detect saves that raced */
  char       *report_cursor_name;          /* owned, nullable: with report_cursor_reason, the last
                                            * counter the last report snapshot took */
  guint       report_cursor_reason;
  gint        reports_expired;             /* atomic: see ep_monitor_set_reports_expired() */
};

G_DEFINE_FINAL_TYPE (EpMonitor, ep_monitor, G_TYPE_OBJECT)

static const char * const reason_keys[EP_N_DROP_REASONS] = {
  "consentFilteredEvents",
  "validationFailedEvents",
  "storingFailedEvents",
  "expiredEvents",
};

static void
ep_monitor_finalize (GObject *object)
{
  EpMonitor *self = EP_MONITOR (object);

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_hash_table_unref (self->counts[i]);
  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_source_unref (self->save_timer);
    }
  g_free (self->report_cursor_name);
  g_free (self->delivery_error);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->save_lock);
  g_clear_object (&self->queue);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (ep_monitor_parent_class)->finalize (object);
}

static void
ep_monitor_class_init (EpMonitorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = ep_monitor_finalize;
}

static void
ep_monitor_init (EpMonitor *self)
{
  g_mutex_init (&self->lock);
  g_mutex_init (&self->save_lock);
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    self->counts[i] = g_hash_table_new_full (g_str_hash, g_str_equal,
                                             (GDestroyNotify) g_ref_string_release, g_free);
}

/* A counter key: valid UTF-8, XML 1.0 characters only, at most
 * EP_MONITOR_MAX_NAME_BYTES, so the monitoring event that carries it is
 * itself valid whatever name the application used. */
static char *
counter_key (const char *name)
{
  /* A character that starts within the first EP_MONITOR_MAX_NAME_BYTES
   * bytes ends within 3 more: reading that far is enough, however long the
   * name is. */
  gsize len = name ? strnlen (name, EP_MONITOR_MAX_NAME_BYTES + 3) : 0;
  g_autofree char *valid = g_utf8_make_valid (name ? name : "", len);
  GString *key = g_string_sized_new (strlen (valid));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar ch = g_utf8_get_char (p);

      if (!ep_event_unichar_is_allowed (ch))
        ch = 0xFFFD;
      if (key->len + g_unichar_to_utf8 (ch, NULL) > EP_MONITOR_MAX_NAME_BYTES)
        break;
      g_string_append_unichar (key, ch);
    }
  return g_string_free (key, FALSE);
}

static void
add_locked (EpMonitor    *self,
            EpDropReason  reason,
            const char   *key,
            gint64        delta)
{
  GHashTable *table = self->counts[reason];
  guint64 *count = g_hash_table_lookup (table, key);

  if (count == NULL)
    {
      if (delta <= 0)
        return;
      /* Bounded memory and file: past the cap, new names share one count. */
      if (g_hash_table_size (table) >=
          EP_MONITOR_MAX_NAMES + (guint) g_hash_table_contains (table, EP_MONITOR_OTHER_NAME))
        {
          key = EP_MONITOR_OTHER_NAME;
          count = g_hash_table_lookup (table, key);
        }
    }
  if (count == NULL)
    {
      count = g_new0 (guint64, 1);
      g_hash_table_insert (table, g_ref_string_new (key), count);
    }
  if (delta < 0 && (guint64) -delta >= *count)
    g_hash_table_remove (table, key);
  else
    *count += delta;
  self->dirty = TRUE;
  self->generation++;
}

static void save_in_background (EpMonitor *self);

/* The save timer holds a weak reference: a scheduled save never keeps a
 * dropped monitor (and its queue) alive. */
static gboolean
save_timer_fired (gpointer data)
{
  g_autoptr(EpMonitor) self = g_weak_ref_get (data);

  if (self == NULL)
    return G_SOURCE_REMOVE;
  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->save_timer, g_source_unref);
  g_mutex_unlock (&self->lock);
  save_in_background (self);
  return G_SOURCE_REMOVE;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

/* Returns TRUE when this change scheduled a save: the first change since
 * the last save started. A change during a save schedules another one. */
static gboolean
request_save_locked (EpMonitor *self)
{
  GWeakRef *weak;

  if (self->save_requested || self->closed)
    return FALSE;
  self->save_requested = TRUE;
  if (!ep_queue_state_is_writable (self->queue))
    return TRUE;

  weak = g_new0 (GWeakRef, 1);
  g_weak_ref_init (weak, self);
  self->save_timer = g_timeout_source_new (SAVE_DELAY_MS);
  g_source_set_static_name (self->save_timer, "[ep-glib] monitor save");
  g_source_set_callback (self->save_timer, save_timer_fired, weak, weak_ref_free);
  g_source_attach (self->save_timer, self->context);
  return TRUE;
}

static void
load_map (EpMonitor    *self,
          EpDropReason  reason,
          GVariant     *map)
{
  GVariantIter iter;
  const char *name;
  guint64 count;

  /* Keys made as ep_monitor_add() makes them, whatever wrote the file: a
   * name too long or with characters XML forbids could never be reported. */
  g_variant_iter_init (&iter, map);
  while (g_variant_iter_next (&iter, "{&st}", &name, &count))
    if (count > 0)
      {
        g_autofree char *key = counter_key (name);

        add_locked (self, reason, key, (gint64) MIN (count, (guint64) G_MAXINT64));
      }
}

static gboolean
parse_state (EpMonitor  *self,
             GBytes     *contents,
             GError    **error)
{
  g_autoptr(GVariant) raw = NULL;
  g_autoptr(GVariant) state = NULL;
  g_autoptr(GVariant) expired = NULL;
  gsize len = g_bytes_get_size (contents);
  guint32 version = 0;

  /* The version is the tuple's first member, at offset 0, host order. */
  if (len >= sizeof version)
    memcpy (&version, g_bytes_get_data (contents, NULL), sizeof version);
  if (version != 1 && version != STATE_VERSION)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "unexpected format (version %u, %zu bytes)", version, len);
      return FALSE;
    }
  raw = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE (version == 1 ? STATE_TYPE_V1 : STATE_TYPE),
                                                      contents, FALSE));
  state = g_variant_get_normal_form (raw);
  if (g_variant_get_size (state) != len)
    {
      g_set_error (error, EP_ERROR, EP_ERROR_STORAGE,
                   "unexpected format (version %u, %zu bytes)", version, len);
      return FALSE;
    }
  for (guint i = 0; i < EP_DROP_EXPIRED; i++)
    {
      g_autoptr(GVariant) map = g_variant_get_child_value (state, i + 1);
      load_map (self, i, map);
    }
  g_variant_get_child (state, 4, "b", &self->storage_outage);
  g_variant_get_child (state, 5, "b", &self->delivery_outage);
  if (version >= 2)
    {
      g_autoptr(GVariant) extensions = g_variant_get_child_value (state, 6);

      g_variant_lookup (extensions, "clock-offset", "x", &self->clock_offset_ms);
      g_variant_lookup (extensions, "delivery-reason", "u", &self->delivery_reason);
      g_variant_lookup (extensions, "delivery-error", "s", &self->delivery_error);
      expired = g_variant_lookup_value (extensions, "expired-events", G_VARIANT_TYPE ("a{st}"));
      if (expired != NULL)
        load_map (self, EP_DROP_EXPIRED, expired);
    }
  self->dirty = version != STATE_VERSION;
  return TRUE;
}

static void
load (EpMonitor *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) aside_error = NULL;
  g_autoptr(GBytes) contents = ep_queue_state_load (self->queue, STATE_BLOB_NAME, &error);

  if (contents == NULL && error == NULL)
    return;
  if (contents != NULL && parse_state (self, contents, &error))
    return;

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_hash_table_remove_all (self->counts[i]);
  self->storage_outage = self->delivery_outage = FALSE;
  self->clock_offset_ms = 0;
  self->delivery_reason = 0;
  g_clear_pointer (&self->delivery_error, g_free);
  self->dirty = TRUE;
  if (contents == NULL || !ep_queue_state_move_aside (self->queue, STATE_BLOB_NAME, &aside_error))
    g_message ("Dropped-event counters in %s cannot be read (%s); counting from zero",
               ep_queue_get_dir (self->queue), error->message);
  else
    g_message ("Dropped-event counters in %s cannot be read (%s); "
               "moved aside to %s.corrupt, counting from zero",
               ep_queue_get_dir (self->queue), error->message, STATE_BLOB_NAME);
}

EpMonitor *
ep_monitor_new (EpQueue *queue)
{
  EpMonitor *self = g_object_new (EP_TYPE_MONITOR, NULL);

  self->queue = g_object_ref (queue);
  self->context = g_main_context_ref_thread_default ();
  load (self);
  return self;
}

gboolean
ep_monitor_add (EpMonitor    *self,
                EpDropReason  reason,
                const char   *name)
{
  g_autofree char *key = counter_key (name);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  g_assert (reason < EP_N_DROP_REASONS);
  add_locked (self, reason, key, 1);
  return request_save_locked (self);
}

guint64
ep_monitor_get_count (EpMonitor    *self,
                      EpDropReason  reason,
                      const char   *name)
{
  g_autofree char *key = counter_key (name);
  g_autoptr(GMutexLocker) locker = NULL;
  guint64 *count;

  g_assert (reason < EP_N_DROP_REASONS);
  locker = g_mutex_locker_new (&self->lock);
  count = g_hash_table_lookup (self->counts[reason], key);
  return count ? *count : 0;
}

gboolean
ep_monitor_is_empty (EpMonitor *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    if (g_hash_table_size (self->counts[i]) > 0)
      return FALSE;
  return TRUE;
}

/* One counter, copied out of the lock: the name is a reference on the
 * table's key (a GRefString), so taking the copy costs no string copy. */
typedef struct {
  char    *name;
  guint64  count;
} Counter;

static void
counter_clear (gpointer data)
{
  g_ref_string_release (((Counter *) data)->name);
}

/* Under the lock: O(names), no sort, no allocation per name. */
static GArray *
copy_counters_locked (GHashTable *table)
{
  GArray *copy = g_array_sized_new (FALSE, FALSE, sizeof (Counter), g_hash_table_size (table));
  GHashTableIter iter;
  gpointer key, value;

  g_array_set_clear_func (copy, counter_clear);
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Counter counter = { g_ref_string_acquire (key), *(guint64 *) value };
      g_array_append_val (copy, counter);
    }
  return copy;
}

static int
counter_compare (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (((const Counter *) a)->name, ((const Counter *) b)->name);
}

/* Out of the lock. Sorted, so snapshots and files are deterministic. */
static void
sort_counters (GArray *copies[EP_N_DROP_REASONS])
{
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_array_sort (copies[i], counter_compare);
}

/* The counters of @counters (sorted) that @picked marks (NULL: all). */
static GVariant *
counters_to_variant (GArray         *counters,
                     const gboolean *picked)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{st}"));
  for (guint i = 0; i < counters->len; i++)
    {
      Counter *counter = &g_array_index (counters, Counter, i);

      if (picked == NULL || picked[i])
        g_variant_builder_add (&builder, "{st}", counter->name, counter->count);
    }
  return g_variant_builder_end (&builder);
}

static void
copy_all_locked (EpMonitor *self,
                 GArray    *copies[EP_N_DROP_REASONS])
{
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    copies[i] = copy_counters_locked (self->counts[i]);
}

static void
copies_clear (GArray *copies[EP_N_DROP_REASONS])
{
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_array_unref (copies[i]);
}

static GVariant *
copies_to_snapshot (GArray   *copies[EP_N_DROP_REASONS],
                    gboolean *picked[EP_N_DROP_REASONS])
{
  GVariant *maps[EP_N_DROP_REASONS];

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    maps[i] = counters_to_variant (copies[i], picked ? picked[i] : NULL);
  return g_variant_ref_sink (g_variant_new_tuple (maps, EP_N_DROP_REASONS));
}

GVariant *
ep_monitor_snapshot (EpMonitor *self)
{
  GArray *copies[EP_N_DROP_REASONS];
  GVariant *snapshot;

  g_mutex_lock (&self->lock);
  copy_all_locked (self, copies);
  g_mutex_unlock (&self->lock);
  sort_counters (copies);
  snapshot = copies_to_snapshot (copies, NULL);
  copies_clear (copies);
  return snapshot;
}

/* The JSON payload ------------------------------------------------------- */

/* The payload is written here, and a report measures its counters with
 * the same function, escapes included: its budget bounds the payload
 * exactly (it counts a comma before every member, at most three more than
 * the payload has). */
static gsize
append_member_json (GString    *out,
                    const char *name,
                    guint64     count)
{
  gsize start = out->len;
  char digits[24];
  gsize n_digits = ep_event_format_decimal ((gint64) MIN (count, (guint64) G_MAXINT64), digits);

  ep_event_append_json_string (out, name);
  g_string_append_c (out, ':');
  g_string_append_len (out, digits, n_digits);
  return out->len - start;
}

static void
append_map_json (GString  *out,
                 GVariant *map)
{
  GVariantIter iter;
  const char *name;
  guint64 count;
  gboolean first = TRUE;

  g_string_append_c (out, '{');
  g_variant_iter_init (&iter, map);
  while (g_variant_iter_next (&iter, "{&st}", &name, &count))
    {
      if (!first)
        g_string_append_c (out, ',');
      first = FALSE;
      append_member_json (out, name, count);
    }
  g_string_append_c (out, '}');
}

char *
ep_monitor_snapshot_to_json (GVariant *snapshot)
{
  return ep_monitor_snapshot_to_json_full (snapshot, FALSE);
}

char *
ep_monitor_snapshot_to_json_full (GVariant *snapshot,
                                  gboolean  with_expired)
{
  GString *out = g_string_new ("{");

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    {
      g_autoptr(GVariant) map = g_variant_get_child_value (snapshot, i);

      if (i == EP_DROP_EXPIRED && !with_expired && g_variant_n_children (map) == 0)
        continue;
      if (i > 0)
        g_string_append_c (out, ',');
      ep_event_append_json_string (out, reason_keys[i]);
      g_string_append_c (out, ':');
      append_map_json (out, map);
    }
  g_string_append_c (out, '}');
  return g_string_free (out, FALSE);
}

static char *
empty_json (gboolean with_expired)
{
  GVariant *maps[EP_N_DROP_REASONS];
  g_autoptr(GVariant) empty = NULL;

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    maps[i] = g_variant_new_array (G_VARIANT_TYPE ("{st}"), NULL, 0);
  empty = g_variant_ref_sink (g_variant_new_tuple (maps, EP_N_DROP_REASONS));
  return ep_monitor_snapshot_to_json_full (empty, with_expired);
}

char *
ep_monitor_empty_snapshot_json (void)
{
  return empty_json (FALSE);
}

void
ep_monitor_set_reports_expired (EpMonitor *self,
                                gboolean   reports)
{
  g_atomic_int_set (&self->reports_expired, !!reports);
}

gboolean
ep_monitor_get_reports_expired (EpMonitor *self)
{
  return g_atomic_int_get (&self->reports_expired);
}

/* Report snapshots -------------------------------------------------------- */

/* The counters of all reasons, in (reason, name) order, seen as one list
 * of @total entries: entry @flat is copies[reason][flat - offsets[reason]]. */
typedef struct {
  GArray *copies[EP_N_DROP_REASONS];
  guint   offsets[EP_N_DROP_REASONS + 1];
} CounterList;

static void
counter_list_locate (const CounterList *list,
                     guint              flat,
                     guint             *reason,
                     guint             *index)
{
  guint r = 0;

  while (flat >= list->offsets[r + 1])
    r++;
  *reason = r;
  *index = flat - list->offsets[r];
}

/* The first entry after (@reason, @name) in list order: where the next
 * report starts, so that every name gets its turn. */
static guint
counter_list_after (const CounterList *list,
                    guint              reason,
                    const char        *name)
{
  GArray *counters = list->copies[reason];
  guint i = 0;

  while (i < counters->len && strcmp (g_array_index (counters, Counter, i).name, name) <= 0)
    i++;
  return list->offsets[reason] + i;
}

/* Marks in @picked the entries that fit in @room bytes, walking the list
 * cyclically from @start and stopping at the first entry that does not fit
 * in what is left, so the next report starts with it (every name gets its
 * turn, however many there are and however often they are counted again).
 * An entry larger than the whole room is passed over: it would hold back
 * every report, while it stays counted until a report has room for it.
 * Returns the last entry picked, or G_MAXUINT when none fits. */
static guint
pick_counters (const CounterList *list,
               guint              start,
               gsize              room,
               gboolean          *picked[EP_N_DROP_REASONS])
{
  guint total = list->offsets[EP_N_DROP_REASONS];
  g_autoptr(GString) scratch = g_string_new (NULL);
  gsize left = room;
  guint last = G_MAXUINT;

  for (guint k = 0; k < total; k++)
    {
      guint flat = (start + k) % total;
      guint reason, index;
      Counter *counter;
      gsize size;

      counter_list_locate (list, flat, &reason, &index);
      counter = &g_array_index (list->copies[reason], Counter, index);
      g_string_truncate (scratch, 0);
      /* The member and the comma that may precede it. */
      size = append_member_json (scratch, counter->name, counter->count) + 1;
      if (size > room)
        continue;
      if (size > left)
        break;
      left -= size;
      picked[reason][index] = TRUE;
      last = flat;
    }
  return last;
}

static void
set_report_cursor_locked (EpMonitor  *self,
                          guint       reason,
                          const char *name)
{
  g_free (self->report_cursor_name);
  self->report_cursor_name = g_strdup (name);
  self->report_cursor_reason = reason;
}

GVariant *
ep_monitor_snapshot_report (EpMonitor *self,
                            gsize      max_json_bytes)
{
  g_autofree char *skeleton = NULL;
  g_autofree char *cursor_name = NULL;
  gboolean *picked[EP_N_DROP_REASONS];
  CounterList list = { { NULL } };
  guint cursor_reason = 0, start = 0, last;
  GVariant *snapshot = NULL;

  g_mutex_lock (&self->lock);
  copy_all_locked (self, list.copies);
  cursor_name = g_strdup (self->report_cursor_name);
  cursor_reason = self->report_cursor_reason;
  g_mutex_unlock (&self->lock);

  /* with "expiredEvents":{} when the report may show it */
  skeleton = empty_json (ep_monitor_get_reports_expired (self) ||
                         list.copies[EP_DROP_EXPIRED]->len > 0);
  sort_counters (list.copies);
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    {
      list.offsets[i + 1] = list.offsets[i] + list.copies[i]->len;
      picked[i] = g_new0 (gboolean, list.copies[i]->len);
    }
  if (cursor_name != NULL)
    start = counter_list_after (&list, cursor_reason, cursor_name);

  last = max_json_bytes < strlen (skeleton)
         ? G_MAXUINT : pick_counters (&list, start, max_json_bytes - strlen (skeleton), picked);
  if (last != G_MAXUINT)
    {
      guint reason, index;

      snapshot = copies_to_snapshot (list.copies, picked);
      counter_list_locate (&list, last, &reason, &index);
      g_mutex_lock (&self->lock);
      set_report_cursor_locked (self, reason, g_array_index (list.copies[reason], Counter, index).name);
      g_mutex_unlock (&self->lock);
    }
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    g_free (picked[i]);
  copies_clear (list.copies);
  return snapshot;
}

gboolean
ep_monitor_subtract (EpMonitor *self,
                     GVariant  *snapshot)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_val_if_fail (g_variant_is_of_type (snapshot, G_VARIANT_TYPE (EP_MONITOR_SNAPSHOT_TYPE)), FALSE);

  locker = g_mutex_locker_new (&self->lock);

  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    {
      g_autoptr(GVariant) map = g_variant_get_child_value (snapshot, i);
      GVariantIter iter;
      const char *name;
      guint64 count;

      g_variant_iter_init (&iter, map);
      while (g_variant_iter_next (&iter, "{&st}", &name, &count))
        add_locked (self, i, name, -(gint64) MIN (count, (guint64) G_MAXINT64));
    }
  return request_save_locked (self);
}

void
ep_monitor_get_outage (EpMonitor *self,
                       gboolean  *storage,
                       gboolean  *delivery)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  *storage = self->storage_outage;
  *delivery = self->delivery_outage;
}

gboolean
ep_monitor_set_outage (EpMonitor *self,
                       gboolean   storage,
                       gboolean   delivery)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  storage = !!storage;
  delivery = !!delivery;
  if (self->storage_outage == storage && self->delivery_outage == delivery)
    return FALSE;
  self->storage_outage = storage;
  self->delivery_outage = delivery;
  self->dirty = TRUE;
  self->generation++;
  request_save_locked (self);
  return TRUE;
}

guint
ep_monitor_dup_delivery_error (EpMonitor  *self,
                               char      **message)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  *message = g_strdup (self->delivery_error);
  return self->delivery_reason;
}

gboolean
ep_monitor_set_delivery_error (EpMonitor  *self,
                               guint       reason,
                               const char *message)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->delivery_reason == reason && g_strcmp0 (self->delivery_error, message) == 0)
    return FALSE;
  self->delivery_reason = reason;
  g_free (self->delivery_error);
  self->delivery_error = g_strdup (message);
  self->dirty = TRUE;
  self->generation++;
  return request_save_locked (self);
}

gint64
ep_monitor_get_clock_offset (EpMonitor *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->clock_offset_ms;
}

gboolean
ep_monitor_set_clock_offset (EpMonitor *self,
                             gint64     offset_ms)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->clock_offset_ms == offset_ms)
    return FALSE;
  self->clock_offset_ms = offset_ms;
  self->dirty = TRUE;
  self->generation++;
  return request_save_locked (self);
}

gboolean
ep_monitor_is_dirty (EpMonitor *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->dirty;
}

/* What a save writes, copied under the lock and serialized out of it. */
typedef struct {
  GArray   *copies[EP_N_DROP_REASONS];
  gboolean  storage_outage;
  gboolean  delivery_outage;
  gint64    clock_offset_ms;
  guint     delivery_reason;
  char     *delivery_error;   /* owned, nullable */
} StateCopy;

static void
copy_state_locked (EpMonitor *self,
                   StateCopy *copy)
{
  copy_all_locked (self, copy->copies);
  copy->storage_outage = self->storage_outage;
  copy->delivery_outage = self->delivery_outage;
  copy->clock_offset_ms = self->clock_offset_ms;
  copy->delivery_reason = self->delivery_reason;
  copy->delivery_error = g_strdup (self->delivery_error);
}

static GVariant *
serialize_state (StateCopy *copy)
{
  GVariant *maps[EP_N_DROP_REASONS];
  GVariantBuilder extensions;

  sort_counters (copy->copies);
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    maps[i] = counters_to_variant (copy->copies[i], NULL);
  copies_clear (copy->copies);
  g_variant_builder_init (&extensions, G_VARIANT_TYPE_VARDICT);
  if (copy->clock_offset_ms != 0)
    g_variant_builder_add (&extensions, "{sv}", "clock-offset",
                           g_variant_new_int64 (copy->clock_offset_ms));
  if (copy->delivery_reason != 0)
    g_variant_builder_add (&extensions, "{sv}", "delivery-reason",
                           g_variant_new_uint32 (copy->delivery_reason));
  if (copy->delivery_error != NULL)
    g_variant_builder_add (&extensions, "{sv}", "delivery-error",
                           g_variant_new_take_string (g_steal_pointer (&copy->delivery_error)));
  if (g_variant_n_children (maps[EP_DROP_EXPIRED]) > 0)
    g_variant_builder_add (&extensions, "{sv}", "expired-events", maps[EP_DROP_EXPIRED]);
  else
    g_variant_unref (g_variant_ref_sink (maps[EP_DROP_EXPIRED]));
  return g_variant_ref_sink (g_variant_new ("(u@a{st}@a{st}@a{st}bba{sv})", STATE_VERSION,
                                            maps[0], maps[1], maps[2],
                                            copy->storage_outage, copy->delivery_outage,
                                            &extensions));
}

gboolean
ep_monitor_save (EpMonitor  *self,
                 GError    **error)
{
  g_autoptr(GMutexLocker) save_locker = g_mutex_locker_new (&self->save_lock);
  g_autoptr(GVariant) state = NULL;
  StateCopy copy;
  guint64 generation;

  g_mutex_lock (&self->lock);
  self->save_requested = FALSE;
  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_clear_pointer (&self->save_timer, g_source_unref);
    }
  if (!self->dirty || self->closed || !ep_queue_state_is_writable (self->queue))
    {
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
  copy_state_locked (self, &copy);
  generation = self->generation;
  g_mutex_unlock (&self->lock);

  /* Serialized and written outside the lock: counting never waits. */
  state = serialize_state (&copy);
  if (!ep_queue_state_save (self->queue, STATE_BLOB_NAME, g_variant_get_data (state),
                            g_variant_get_size (state), error))
    return FALSE;

  g_mutex_lock (&self->lock);
  self->n_saves++;
  if (self->generation == generation)
    self->dirty = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static void
save_logged (EpMonitor *self)
{
  g_autoptr(GError) error = NULL;

  if (!ep_monitor_save (self, &error))
    g_message ("Cannot save the dropped-event counters: %s", error->message);
}

void
ep_monitor_close (EpMonitor *self)
{
  save_logged (self);

  g_mutex_lock (&self->save_lock);
  g_mutex_lock (&self->lock);
  self->closed = TRUE;
  if (self->save_timer != NULL)
    {
      g_source_destroy (self->save_timer);
      g_clear_pointer (&self->save_timer, g_source_unref);
    }
  g_mutex_unlock (&self->lock);
  g_mutex_unlock (&self->save_lock);
}

guint
ep_monitor_get_n_saves (EpMonitor *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->n_saves;
}

/* The worker's reference to the monitor is dropped on the monitor's
 * context, never in the worker: when the owner lets go during a save, the
 * monitor (and the queue it holds, with the directory's lock) goes on the
 * owner's thread, so a spin that sees it gone sees the lock released. The
 * task itself holds nothing (no source object, no data). */
static gboolean
release_on_context (gpointer data)
{
  g_object_unref (data);
  return G_SOURCE_REMOVE;
}

static void
save_in_thread (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  EpMonitor *self = task_data;  /* owned until handed back below */
  g_autoptr(GSource) release = g_idle_source_new ();

  save_logged (self);
  /* An attached source, not g_main_context_invoke(): that one runs at
   * once in this thread when it can acquire the context. */
  g_source_set_static_name (release, "[ep-glib] monitor save done");
  g_source_set_callback (release, release_on_context, self, NULL);
  g_source_attach (release, self->context);
  g_task_return_boolean (task, TRUE);
}

static void
save_in_background (EpMonitor *self)
{
  g_autoptr(GTask) task = g_task_new (NULL, NULL, NULL, NULL);

  g_task_set_source_tag (task, save_in_background);
  g_task_set_task_data (task, g_object_ref (self), NULL);
  g_task_run_in_thread (task, save_in_thread);
}
