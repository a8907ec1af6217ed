/* bench-baselines.h: the two storage strategies ep-glib is compared with
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * - BENCH_STORE_WEB: the TIDAL web producer's strategy. The whole queue is
 *   one value (here a GVariant "a(xssss)", there a JSON array) held in memory
 *   and rewritten atomically with g_file_set_contents() on every add and on
 *   every removal. Opening parses the whole file.
 * - BENCH_STORE_SQLITE: the TIDAL Android / Snowplow strategy. One SQLite row
 *   per event (table events(id TEXT PRIMARY KEY, name, headers, payload,
 *   created)), WAL, synchronous=NORMAL (FULL in sync mode), one INSERT
 *   (autocommit) per send with a prepared statement, DELETE by id in one
 *   transaction per confirmed batch.
 *
 * - BENCH_STORE_MEMORY: no storage at all (the web store without its file),
 *   to show what the transport and the consumer allow on this machine.
 *
 * A store is thread-safe (one mutex, as both originals serialise writers).
 * Taking and removing events is what a delivery loop needs; events handed out
 * are not handed out again until removed (delivery never fails here).
 */
#pragma once

#include <glib.h>

#include "bench-common.h"

G_BEGIN_DECLS

typedef enum {
  BENCH_STORE_WEB,
  BENCH_STORE_SQLITE,
  BENCH_STORE_MEMORY,   /* web without any file: the transport's ceiling */
} BenchStoreKind;

typedef struct _BenchStore BenchStore;

const char  *bench_store_kind_name  (BenchStoreKind   kind);
const char  *bench_sqlite_version   (void);

/* Opens (restoring what is there) the store in directory @dir. */
BenchStore  *bench_store_open       (BenchStoreKind   kind,
                                     const char      *dir,
                                     GError         **error);
void         bench_store_free       (BenchStore      *store);

/* Sync mode: web uses G_FILE_SET_CONTENTS_DURABLE, SQLite synchronous=FULL. */
gboolean     bench_store_set_sync   (BenchStore      *store,
                                     gboolean         sync,
                                     GError         **error);

/* One send: enrichment (as the producer does it) plus the strategy's store. */
gboolean     bench_store_send       (BenchStore      *store,
                                     BenchEnrichment *scratch,
                                     const char      *name,
                                     const char      *payload,
                                     GError         **error);

/* Preparation, not measured: @n more events stored in bulk (web: one
 * rewrite; SQLite: one transaction). */
gboolean     bench_store_fill       (BenchStore      *store,
                                     guint64          n,
                                     const char      *name,
                                     const char      *payload,
                                     GError         **error);

/* Preparation, not measured: removes the oldest events (in memory only for
 * web, to be persisted by the next write) until @length are left. */
gboolean     bench_store_trim       (BenchStore      *store,
                                     guint64          length,
                                     GError         **error);

/* Web only: drops the newest event from memory without rewriting. */
void         bench_store_pop_newest (BenchStore      *store);

/* Web only: writes the whole queue now (preparation). */
gboolean     bench_store_persist    (BenchStore      *store,
                                     GError         **error);

guint64      bench_store_length     (BenchStore      *store);

/* Up to @max oldest events not handed out yet, as (element-type EpEvent)
 * parsed events ready for ep_sqs_encode_batch(). */
GPtrArray   *bench_store_take       (BenchStore      *store,
                                     guint            max);

/* Confirmed: forget @events (from bench_store_take()) for good. */
gboolean     bench_store_remove     (BenchStore      *store,
                                     GPtrArray       *events,
                                     GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (BenchStore, bench_store_free)

G_END_DECLS
