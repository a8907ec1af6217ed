/* ep-monitor.c: dropped-event counters and the monitoring event's payload
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Counting only: the counters live in memory under a mutex, and the
 * monitoring event's reports take them in turn. The monitor never saves:
 * the producer's saved state (ep-producer-state.c) keeps them in its file,
 * restores them with ep_monitor_restore() and takes them for each save with
 * ep_monitor_snapshot_for_save(); the first change after that calls the
 * changed function, which asks for the next save.
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"
#include "ep-monitor-private.h"

struct _EpMonitor
{
  GObject     parent_instance;

  GMutex      lock;                        /* protects everything below */
  GHashTable *counts[EP_N_DROP_REASONS];   /* owned: name (owned) -> guint64 count (boxed in the pointer) */
  gboolean    changed;                     /* changed since ep_monitor_snapshot_for_save() */
  EpMonitorChangedFunc changed_func;       /* nullable: see ep_monitor_set_changed_func() */
  gpointer    changed_data;                /* unowned */
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
  g_free (self->report_cursor_name);
  g_mutex_clear (&self->lock);

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

/* Returns whether a count changed. */
static gboolean
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
        return FALSE;
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
  return TRUE;
}

/* After a change: TRUE when it was the first since the counters were last
 * taken for a save (and the changed function, if any, agreed). */
static gboolean
note_change_locked (EpMonitor *self)
{
  if (self->changed)
    return FALSE;
  self->changed = TRUE;
  return self->changed_func == NULL || self->changed_func (self->changed_data);
}

static gboolean
is_empty_locked (EpMonitor *self)
{
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    if (g_hash_table_size (self->counts[i]) > 0)
      return FALSE;
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

EpMonitor *
ep_monitor_new (void)
{
  return g_object_new (EP_TYPE_MONITOR, NULL);
}

void
ep_monitor_set_changed_func (EpMonitor            *self,
                             EpMonitorChangedFunc  func,
                             gpointer              user_data)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  self->changed_func = func;
  self->changed_data = user_data;
}

void
ep_monitor_restore (EpMonitor *self,
                    GVariant  *snapshot)
{
  g_autoptr(GMutexLocker) locker = NULL;

  g_return_if_fail (g_variant_is_of_type (snapshot, G_VARIANT_TYPE (EP_MONITOR_SNAPSHOT_TYPE)));

  locker = g_mutex_locker_new (&self->lock);
  for (guint i = 0; i < EP_N_DROP_REASONS; i++)
    {
      g_autoptr(GVariant) map = g_variant_get_child_value (snapshot, i);

      load_map (self, i, map);
    }
}

gboolean
ep_monitor_add (EpMonitor    *self,
                EpDropReason  reason,
                const char   *name)
{
  g_autofree char *key = counter_key (name);
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  gboolean was_empty = is_empty_locked (self);

  g_assert (reason < EP_N_DROP_REASONS);
  add_locked (self, reason, key, 1);
  /* Both: the changed function hears of the change whatever the count
   * was. A count that starts from nothing is news for whoever sends the
   * counts even when a save was scheduled already (by the outage, the
   * clock offset or a confirmed report). */
  return note_change_locked (self) || was_empty;
}

guint64
ep_monitor_get_count_for_testing (EpMonitor    *self,
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

  return is_empty_locked (self);
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

static GVariant *
take_snapshot (EpMonitor *self,
               gboolean   for_save)
{
  GArray *copies[EP_N_DROP_REASONS];
  GVariant *snapshot;

  g_mutex_lock (&self->lock);
  copy_all_locked (self, copies);
  if (for_save)
    self->changed = FALSE;
  g_mutex_unlock (&self->lock);
  sort_counters (copies);
  snapshot = copies_to_snapshot (copies, NULL);
  copies_clear (copies);
  return snapshot;
}

GVariant *
ep_monitor_snapshot (EpMonitor *self)
{
  return take_snapshot (self, FALSE);
}

GVariant *
ep_monitor_snapshot_for_save (EpMonitor *self)
{
  return take_snapshot (self, TRUE);
}

/* The JSON payload --------------------------------------------------------- */

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
ep_monitor_snapshot_to_json_for_testing (GVariant *snapshot)
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

/* Report snapshots --------------------------------------------------------- */

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
  gboolean changed = FALSE;

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
        changed |= add_locked (self, i, name, -(gint64) MIN (count, (guint64) G_MAXINT64));
    }
  return changed && note_change_locked (self);
}
