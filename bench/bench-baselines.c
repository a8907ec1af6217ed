/* bench-baselines.c: the two storage strategies ep-glib is compared with
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Faithful but minimal: each does what the original does on a send, on a
 * confirmation and on start, nothing clever on top.
 */
#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <sqlite3.h>

#include "bench-baselines.h"

struct _BenchStore {
  BenchStoreKind  kind;
  GMutex          lock;          /* serialises everything below */
  gboolean        sync;
  char           *path;          /* owned: the queue file or database */

  /* web */
  GPtrArray      *events;        /* owned (element-type GVariant "(xssss)"), oldest first;
                                  * NULL where a confirmed event was removed */
  guint           head;          /* slots before it are all NULL */
  guint           live;          /* non-NULL slots */
  GHashTable     *in_flight;     /* owned: ids handed out by take (owned strings) */

  /* SQLite */
  sqlite3        *db;            /* owned */
  sqlite3_stmt   *insert;        /* owned prepared statements */
  sqlite3_stmt   *select_after;
  sqlite3_stmt   *delete_id;
  gint64          cursor;        /* the highest rowid handed out by take */
  guint64         length;        /* rows in the table */
};

const char *
bench_store_kind_name (BenchStoreKind kind)
{
  static const char * const names[] = { "web", "SQLite", "memory" };

  return names[kind];
}

const char *
bench_sqlite_version (void)
{
  return sqlite3_libversion ();
}

static void
bench_event_free (gpointer data)
{
  ep_event_clear (data);
  g_free (data);
}

static EpEvent *
parse_record (GBytes *record)
{
  g_autoptr(GError) error = NULL;
  EpEvent *event = g_new0 (EpEvent, 1);

  if (!ep_event_parse (record, event, &error))
    g_error ("baseline record does not parse: %s", error->message);
  return event;
}

/* SQLite helpers ------------------------------------------------------------ */

static gboolean
sql_fail (BenchStore  *self,
          const char  *what,
          GError     **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "SQLite %s: %s", what,
               sqlite3_errmsg (self->db));
  return FALSE;
}

static gboolean
sql_exec (BenchStore  *self,
          const char  *sql,
          GError     **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return sql_fail (self, sql, error);
  return TRUE;
}

static gboolean
sql_prepare (BenchStore    *self,
             const char    *sql,
             sqlite3_stmt **stmt,
             GError       **error)
{
  if (sqlite3_prepare_v2 (self->db, sql, -1, stmt, NULL) != SQLITE_OK)
    return sql_fail (self, sql, error);
  return TRUE;
}

static gboolean
sqlite_open (BenchStore  *self,
             GError     **error)
{
  sqlite3_stmt *count = NULL;
  gboolean ok;

  if (sqlite3_open_v2 (self->path, &self->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    return sql_fail (self, "open", error);
  if (!sql_exec (self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, name TEXT NOT NULL,"
                 " headers TEXT NOT NULL, payload TEXT NOT NULL, created INTEGER NOT NULL)", error) ||
      !sql_prepare (self, "INSERT INTO events (id, name, headers, payload, created)"
                    " VALUES (?1, ?2, ?3, ?4, ?5)", &self->insert, error) ||
      !sql_prepare (self, "SELECT rowid, id, name, headers, payload, created FROM events"
                    " WHERE rowid > ?1 ORDER BY rowid LIMIT ?2", &self->select_after, error) ||
      !sql_prepare (self, "DELETE FROM events WHERE id = ?1", &self->delete_id, error) ||
      !sql_prepare (self, "SELECT count(*) FROM events", &count, error))
    return FALSE;
  ok = sqlite3_step (count) == SQLITE_ROW;
  self->length = ok ? (guint64) sqlite3_column_int64 (count, 0) : 0;
  sqlite3_finalize (count);
  return ok || sql_fail (self, "count", error);
}

static gboolean
sqlite_insert (BenchStore            *self,
               const BenchEnrichment *e,
               const char            *name,
               const char            *payload,
               GError               **error)
{
  int rc;

  sqlite3_bind_text (self->insert, 1, e->id, -1, SQLITE_STATIC);
  sqlite3_bind_text (self->insert, 2, name, -1, SQLITE_STATIC);
  sqlite3_bind_text (self->insert, 3, e->headers_json->str, (int) e->headers_json->len,
                     SQLITE_STATIC);
  sqlite3_bind_text (self->insert, 4, payload, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (self->insert, 5, e->created_us);
  rc = sqlite3_step (self->insert);
  sqlite3_reset (self->insert);
  if (rc != SQLITE_DONE)
    return sql_fail (self, "insert", error);
  self->length++;
  return TRUE;
}

static GPtrArray *
sqlite_take (BenchStore *self,
             guint       max)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (bench_event_free);
  g_autoptr(GByteArray) buffer = g_byte_array_new ();

  sqlite3_bind_int64 (self->select_after, 1, self->cursor);
  sqlite3_bind_int (self->select_after, 2, (int) max);
  while (sqlite3_step (self->select_after) == SQLITE_ROW)
    {
      sqlite3_stmt *row = self->select_after;
      const char *headers = (const char *) sqlite3_column_text (row, 3);
      const char *payload = (const char *) sqlite3_column_text (row, 4);
      const char *name = (const char *) sqlite3_column_text (row, 2);
      g_autoptr(GBytes) record = NULL;

      self->cursor = sqlite3_column_int64 (row, 0);
      ep_event_record_build (buffer, sqlite3_column_int64 (row, 5),
                             (const char *) sqlite3_column_text (row, 1),
                             name, strlen (name), headers, strlen (headers),
                             payload, strlen (payload));
      record = g_bytes_new (buffer->data, buffer->len);
      g_ptr_array_add (out, parse_record (record));
    }
  sqlite3_reset (self->select_after);
  return out;
}

static gboolean
sqlite_remove (BenchStore  *self,
               GPtrArray   *events,
               GError     **error)
{
  if (!sql_exec (self, "BEGIN", error))
    return FALSE;
  for (guint i = 0; i < events->len; i++)
    {
      const EpEvent *event = g_ptr_array_index (events, i);
      int rc;

      sqlite3_bind_text (self->delete_id, 1, event->id, -1, SQLITE_STATIC);
      rc = sqlite3_step (self->delete_id);
      sqlite3_reset (self->delete_id);
      if (rc != SQLITE_DONE)
        {
          sql_fail (self, "delete", error);
          sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
          return FALSE;
        }
      self->length -= (guint64) sqlite3_changes (self->db);
    }
  return sql_exec (self, "COMMIT", error);
}

static gboolean
sqlite_trim (BenchStore  *self,
             guint64      length,
             GError     **error)
{
  g_autofree char *sql = NULL;

  if (self->length <= length)
    return TRUE;
  sql = g_strdup_printf ("DELETE FROM events WHERE rowid IN"
                         " (SELECT rowid FROM events ORDER BY rowid LIMIT %" G_GUINT64_FORMAT ")",
                         self->length - length);
  if (!sql_exec (self, sql, error))
    return FALSE;
  self->length = length;
  return TRUE;
}

/* Web helpers ---------------------------------------------------------------- */

static void
unref_event (gpointer event)
{
  if (event != NULL)
    g_variant_unref (event);
}

static gboolean
web_open (BenchStore  *self,
          GError     **error)
{
  const GVariantType *type = G_VARIANT_TYPE ("a" EP_EVENT_RECORD_TYPE);
  g_autoptr(GVariant) queue = NULL;
  g_autoptr(GBytes) bytes = NULL;
  char *contents;
  gsize len;
  gsize n;

  self->events = g_ptr_array_new_with_free_func (unref_event);
  self->in_flight = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (self->kind == BENCH_STORE_MEMORY || !g_file_test (self->path, G_FILE_TEST_EXISTS))
    return TRUE;
  if (!g_file_get_contents (self->path, &contents, &len, error))
    return FALSE;
  /* Untrusted data from disk: validated once, as JSON.parse would. (Taking
   * the children of an untrusted array one by one instead is quadratic in
   * GLib 2.74: 2.3 s for 100k events, over a minute for 1M.) */
  bytes = g_bytes_new_take (contents, len);
  queue = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, FALSE));
  if (!g_variant_is_normal_form (queue))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is corrupt", self->path);
      return FALSE;
    }
  g_variant_unref (queue);
  queue = g_variant_ref_sink (g_variant_new_from_bytes (type, bytes, TRUE));
  n = g_variant_n_children (queue);
  for (gsize i = 0; i < n; i++)
    g_ptr_array_add (self->events, g_variant_get_child_value (queue, i));
  self->live = (guint) n;
  return TRUE;
}

/* Drops the removed (NULL) slots. */
static void
web_compact (BenchStore *self)
{
  guint kept = 0;

  if (self->head == 0 && self->live == self->events->len)
    return;
  for (guint i = self->head; i < self->events->len; i++)
    if (self->events->pdata[i] != NULL)
      self->events->pdata[kept++] = self->events->pdata[i];
  self->events->len = kept;
  self->head = 0;
}

static gboolean
web_rewrite (BenchStore  *self,
             GError     **error)
{
  GFileSetContentsFlags flags = G_FILE_SET_CONTENTS_CONSISTENT;
  g_autoptr(GVariant) queue = NULL;

  if (self->kind == BENCH_STORE_MEMORY)
    return TRUE;
  if (self->sync)
    flags |= G_FILE_SET_CONTENTS_DURABLE;
  web_compact (self);
  queue = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE (EP_EVENT_RECORD_TYPE),
                                                   (GVariant **) self->events->pdata,
                                                   self->events->len));
  return g_file_set_contents_full (self->path, g_variant_get_data (queue),
                                   (gssize) g_variant_get_size (queue), flags, 0600, error);
}

static GVariant *
web_event (const BenchEnrichment *e,
           const char            *name,
           const char            *payload)
{
  return g_variant_ref_sink (g_variant_new ("(xssss)", e->created_us, e->id, name,
                                            e->headers_json->str, payload));
}

static const char *
web_event_id (GVariant *event)
{
  const char *id;

  g_variant_get_child (event, 1, "&s", &id);
  return id;
}

static GPtrArray *
web_take (BenchStore *self,
          guint       max)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (bench_event_free);

  for (guint i = self->head; i < self->events->len && out->len < max; i++)
    {
      GVariant *event = g_ptr_array_index (self->events, i);
      const char *id;
      g_autoptr(GBytes) record = NULL;

      if (event == NULL || g_hash_table_contains (self->in_flight, (id = web_event_id (event))))
        continue;
      g_hash_table_add (self->in_flight, g_strdup (id));
      record = g_variant_get_data_as_bytes (event);
      g_ptr_array_add (out, parse_record (record));
    }
  return out;
}

/* queue = queue.filter (e => !confirmed.has (e.id)); save (queue)
 * The filter is done cheaply here (confirmed events are near the front), so
 * that the rewrite is all that the strategy costs; "memory" skips it. */
static gboolean
web_remove (BenchStore  *self,
            GPtrArray   *events,
            GError     **error)
{
  for (guint i = 0; i < events->len; i++)
    {
      const EpEvent *event = g_ptr_array_index (events, i);

      g_hash_table_remove (self->in_flight, event->id);
      for (guint j = self->head; j < self->events->len; j++)
        {
          GVariant *queued = g_ptr_array_index (self->events, j);

          if (queued != NULL && g_str_equal (web_event_id (queued), event->id))
            {
              g_variant_unref (queued);
              self->events->pdata[j] = NULL;
              self->live--;
              break;
            }
        }
    }
  while (self->head < self->events->len && self->events->pdata[self->head] == NULL)
    self->head++;
  if (self->head > 4096 && self->head > self->events->len / 2)
    web_compact (self);
  return web_rewrite (self, error);
}

/* Public ------------------------------------------------------------------- */

BenchStore *
bench_store_open (BenchStoreKind   kind,
                  const char      *dir,
                  GError         **error)
{
  g_autoptr(BenchStore) self = g_new0 (BenchStore, 1);
  gboolean ok;

  g_mutex_init (&self->lock);
  self->kind = kind;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create %s", dir);
      return NULL;
    }
  if (kind != BENCH_STORE_SQLITE)
    {
      self->path = g_build_filename (dir, "queue.gvariant", NULL);
      ok = web_open (self, error);
    }
  else
    {
      self->path = g_build_filename (dir, "events.db", NULL);
      ok = sqlite_open (self, error);
    }
  return ok ? g_steal_pointer (&self) : NULL;
}

void
bench_store_free (BenchStore *self)
{
  if (self == NULL)
    return;
  g_clear_pointer (&self->events, g_ptr_array_unref);
  g_clear_pointer (&self->in_flight, g_hash_table_unref);
  g_clear_pointer (&self->insert, sqlite3_finalize);
  g_clear_pointer (&self->select_after, sqlite3_finalize);
  g_clear_pointer (&self->delete_id, sqlite3_finalize);
  g_clear_pointer (&self->db, sqlite3_close);
  g_free (self->path);
  g_mutex_clear (&self->lock);
  g_free (self);
}

gboolean
bench_store_set_sync (BenchStore  *self,
                      gboolean     sync,
                      GError     **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  self->sync = sync;
  if (self->kind == BENCH_STORE_SQLITE)
    return sql_exec (self, sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", error);
  return TRUE;
}

gboolean
bench_store_send (BenchStore      *self,
                  BenchEnrichment *scratch,
                  const char      *name,
                  const char      *payload,
                  GError         **error)
{
  g_autoptr(GMutexLocker) locker = NULL;

  bench_enrich (scratch);
  if (self->kind == BENCH_STORE_SQLITE)
    {
      locker = g_mutex_locker_new (&self->lock);
      return sqlite_insert (self, scratch, name, payload, error);
    }

  {
    GVariant *event = web_event (scratch, name, payload);

    locker = g_mutex_locker_new (&self->lock);
    g_ptr_array_add (self->events, event);
    self->live++;
    if (web_rewrite (self, error))
      return TRUE;
    g_ptr_array_set_size (self->events, self->events->len - 1);
    self->live--;
    return FALSE;
  }
}

gboolean
bench_store_fill (BenchStore  *self,
                  guint64      n,
                  const char  *name,
                  const char  *payload,
                  GError     **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);
  BenchEnrichment e;
  gboolean ok = TRUE;

  bench_enrichment_init (&e);
  if (self->kind == BENCH_STORE_SQLITE)
    {
      /* Preparation only: a large cache for the bulk insert (the random
       * UUID primary key makes it slow otherwise), the default again after. */
      ok = sql_exec (self, "PRAGMA cache_size=-262144; BEGIN", error);
      for (guint64 i = 0; ok && i < n; i++)
        {
          bench_enrich (&e);
          ok = sqlite_insert (self, &e, name, payload, error);
        }
      /* and on disk, as ours is before it is measured */
      ok = ok && sql_exec (self, "COMMIT; PRAGMA cache_size=-2000;"
                           " PRAGMA wal_checkpoint(TRUNCATE)", error);
    }
  else
    {
      for (guint64 i = 0; i < n; i++)
        {
          bench_enrich (&e);
          g_ptr_array_add (self->events, web_event (&e, name, payload));
          self->live++;
        }
      ok = web_rewrite (self, error);
    }
  bench_enrichment_clear (&e);
  return ok;
}

gboolean
bench_store_trim (BenchStore  *self,
                  guint64      length,
                  GError     **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->kind == BENCH_STORE_SQLITE)
    return sqlite_trim (self, length, error);
  web_compact (self);
  if (self->events->len > length)
    g_ptr_array_remove_range (self->events, 0, self->events->len - (guint) length);
  self->live = self->events->len;
  return TRUE;
}

void
bench_store_pop_newest (BenchStore *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  g_assert (self->kind != BENCH_STORE_SQLITE);
  web_compact (self);
  if (self->events->len > 0)
    {
      g_ptr_array_set_size (self->events, self->events->len - 1);
      self->live--;
    }
}

gboolean
bench_store_persist (BenchStore  *self,
                     GError     **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->kind != BENCH_STORE_SQLITE ? web_rewrite (self, error) : TRUE;
}

guint64
bench_store_length (BenchStore *self)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->kind != BENCH_STORE_SQLITE ? self->live : self->length;
}

GPtrArray *
bench_store_take (BenchStore *self,
                  guint       max)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  return self->kind != BENCH_STORE_SQLITE ? web_take (self, max) : sqlite_take (self, max);
}

gboolean
bench_store_remove (BenchStore  *self,
                    GPtrArray   *events,
                    GError     **error)
{
  g_autoptr(GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (self->kind != BENCH_STORE_SQLITE)
    return web_remove (self, events, error);
  return sqlite_remove (self, events, error);
}
