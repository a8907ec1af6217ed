/* ep-test-queue-util.h: helpers shared by the test-queue* programs
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ep-queue-private.h"

G_BEGIN_DECLS

#define SEGMENT_HEADER_SIZE 32
#define FRAME_HEADER_SIZE   32

/* g_test_expect_message() does not see structured log messages on GLib
 * 2.74, so a writer counts (and swallows) the queue's "discarded" messages:
 * a message, never a warning (SPEC: a corrupt record is not a programming
 * error, and applications run their tests with fatal warnings). */
GLogWriterOutput
count_discard_warnings (GLogLevelFlags   level,
                        const GLogField *fields,
                        gsize            n_fields,
                        gpointer         user_data);

GBytes *
make_record (gint64      created_us,
             const char *name,
             const char *payload,
             guint32    *logical_size);

gboolean
try_append (EpQueue     *queue,
            const char  *name,
            const char  *payload,
            GError     **error);

void
append (EpQueue    *queue,
        const char *payload);

char *
record_payload (GBytes *record);

/* The payloads of @items joined with commas. */
char *
items_payloads (GPtrArray *items);

char *
queue_payloads (EpQueue *queue);

guint64
item_seq (GPtrArray *items,
          guint      i);

EpQueue *
open_queue (const char          *dir,
            guint64              max_bytes,
            const char * const  *feral,
            guint                expected_discarded);

gint
compare_paths (gconstpointer a,
               gconstpointer b);

/* The segment files of @dir, sorted. */
GPtrArray *
list_segments (const char *dir);

guint
count_segments (const char *dir);

char *
only_segment (const char *dir);

guint64
file_size (const char *path);

void
write_file (const char   *path,
            const guint8 *data,
            gsize         len);

GBytes *
read_file (const char *path);

/* Appends @n events "p<i>" with a padding of ~400 bytes. */
void
append_numbered (EpQueue *queue,
                 guint    first,
                 guint    n);

GArray *
take_seqs (EpQueue *queue);

/* The payload numbers ("pN....") of the queued events, in order. */
GArray *
queued_numbers (EpQueue *queue);

/* Asserts that the queue holds the events numbered [a0, a1) then [b0, b1). */
void
assert_ranges (EpQueue *queue,
               guint    a0,
               guint    a1,
               guint    b0,
               guint    b1);

void
count_reports (gpointer data);

void
append_range (GArray *numbers,
              guint   first,
              guint   end);

void
assert_queued (EpQueue *queue,
               GArray  *expected);

G_END_DECLS
