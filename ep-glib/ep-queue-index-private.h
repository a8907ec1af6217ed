/* ep-queue-index-private.h: the queue's in-memory index of events
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Where each queued event's frame is and what state it is in, in seq
 * order: 24 bytes an event, the payloads stay on disk. ep-queue-index.c
 * keeps it; the queue's files call it with the queue's mutex held. Knows
 * nothing of the queue or its files.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EP_QUEUE_INDEX_CHUNK                 4096

/* Where an event lives and what state it is in. */
typedef enum {
  EP_QUEUE_ENTRY_PENDING   = 0,
  EP_QUEUE_ENTRY_IN_FLIGHT = 1,
  EP_QUEUE_ENTRY_REMOVED   = 2,
} EpQueueEntryState;

/* One queued event in memory: 24 bytes, payload on disk. */
typedef struct {
  guint64 seq;
  guint32 segment;       /* number of the segment file holding the frame */
  guint32 offset_state;  /* frame offset (8-aligned) | EpQueueEntryState in the low 3 bits */
  guint32 length : 25;   /* record (payload) length, at most EP_JOURNAL_MAX_RECORD_LEN */
  guint32 category : 2;  /* EpConsentCategory, or EP_QUEUE_CATEGORY_UNKNOWN */
  guint32 unused : 5;
  guint32 logical_size;
} EpQueueEntry;

/* An entry's category when the record does not tell (never removed by
 * ep_queue_remove_category()). */
#define EP_QUEUE_CATEGORY_UNKNOWN            3

G_STATIC_ASSERT (sizeof (EpQueueEntry) == 24);

/* Entries in seq order, removed ones included until trimmed or squeezed. */
typedef struct {
  GPtrArray *chunks;  /* owned: owned arrays of EP_QUEUE_INDEX_CHUNK entries */
  gsize      start;   /* position of entry 0 inside chunks[0] */
  gsize      len;     /* entries, holes included */
} EpQueueIndex;

static inline guint64
ep_queue_entry_offset (const EpQueueEntry *e)
{
  return e->offset_state & ~(guint32) 7;
}

static inline EpQueueEntryState
ep_queue_entry_state (const EpQueueEntry *e)
{
  return e->offset_state & 7;
}

static inline void
ep_queue_entry_set_state (EpQueueEntry      *e,
                          EpQueueEntryState  state)
{
  e->offset_state = (e->offset_state & ~(guint32) 7) | state;
}

static inline EpQueueEntry *
ep_queue_index_at (EpQueueIndex *ix,
                   gsize         i)
{
  gsize p = ix->start + i;

  return &((EpQueueEntry *) ix->chunks->pdata[p / EP_QUEUE_INDEX_CHUNK])[p % EP_QUEUE_INDEX_CHUNK];
}

/* ep-queue-index.c */
void             ep_queue_index_init            (EpQueueIndex    *ix);
void             ep_queue_index_clear           (EpQueueIndex    *ix);
EpQueueEntry    *ep_queue_index_push            (EpQueueIndex    *ix);
gsize            ep_queue_index_lower_bound     (EpQueueIndex    *ix,
                                                 guint64          seq);
EpQueueEntry    *ep_queue_index_find            (EpQueueIndex    *ix,
                                                 guint64          seq);
void             ep_queue_index_trim_head       (EpQueueIndex    *ix);
void             ep_queue_index_squeeze         (EpQueueIndex    *ix,
                                                 guint64          n_live);

G_END_DECLS
