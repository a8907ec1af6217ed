/* ep-batch-private.h: a batch of queued events, from the read to the reply that settles it
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A batch holds up to MAX_BATCH_EVENTS events taken from the queue, their
 * parsed form and the encoded request body; once its reply is judged, the
 * seqs to remove (confirmed or refused for good) and to keep (handed out
 * again). A whole-batch refusal splits it into parts that share an
 * EpSplit. The scheduler's files use these (ep-scheduler-internal.h);
 * nothing here knows of timers, outages or the pipeline.
 */
#pragma once

#include <glib.h>

#include "ep-event-private.h"
#include "ep-queue-private.h"
#include "ep-sqs-private.h"

G_BEGIN_DECLS

#define MAX_BATCH_EVENTS 10
#define MAX_BATCH_BYTES (250 * 1024)

typedef struct _EpBatch EpBatch;

/* The parts of one refused batch, shared by them (refcounted). */
typedef struct {
  gint        ref_count;
  guint       outstanding;    /* parts queued or posted and not answered yet */
  GPtrArray  *held;           /* (element-type EpBatch) owned: lone refused events waiting for a witness */
} EpSplit;

/* One batch, from the worker that reads it to the reply that settles it. */
struct _EpBatch {
  struct _EpScheduler *scheduler; /* owned once posted: keeps the scheduler for the reply */
  guint      *freed_elsewhere; /* unowned, nullable (while scheduler is held): counts a free on
                                * another thread than read_by */
  EpSplit    *split;          /* owned ref, nullable: the split this batch is a part of */
  guint64     serial;         /* its request's serial, once posted */
  gsize       bytes;          /* the events' record bytes (counted in bytes_ahead) */
  char       *refusal;        /* owned, nullable: why it was refused, while held */
  GPtrArray  *items;          /* owned (element-type EpQueueItem) */
  GArray     *events;         /* owned (element-type EpEvent), parallel to items */
  GBytes     *body;           /* owned: the form body (gzip-compressed when compress) */
  gboolean    compress;       /* encode the body with gzip (compress-requests when it was read) */
  char       *token;          /* owned, nullable: the bearer token it was posted with */
  gboolean    monitoring;     /* the monitoring event (not from the queue) */
  GVariant   *snapshot;       /* owned, monitoring only: the counts it carries */
  guint       unreadable;     /* records found unreadable and removed while reading */
  GArray     *removed;        /* owned (element-type guint64): seqs to forget once the reply is applied */
  GArray     *kept;           /* owned (element-type guint64): seqs to hand out again */
  EpBatchReply *reply;        /* owned, nullable: the reply once applied, freed with the batch by the worker */
  GThread    *read_by;        /* unowned: the worker thread that read it */
  gboolean    aside;          /* a suspect waiting aside (one event), see ep-scheduler-aside.c */
  gint64      due_us;         /* aside: monotonic time of its next attempt */
};

EpBatch       *ep_batch_new          (void);
void           ep_batch_free         (EpBatch     *batch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EpBatch, ep_batch_free)

/* Worker: takes the next batch from @queue (at most MAX_BATCH_EVENTS and
 * MAX_BATCH_BYTES), parses and encodes it; unreadable records are removed
 * from the queue and counted in unreadable. */
EpBatch       *ep_batch_read         (EpQueue     *queue,
                                      gboolean     compress);
guint64        ep_batch_get_seq      (EpBatch     *batch,
                                      guint        i);
const EpEvent *ep_batch_get_event    (EpBatch     *batch,
                                      guint        i);
/* The ledger's endpoint (ep-witness-private.h): 1 authenticated, 0 public. */
guint          ep_batch_get_endpoint (EpBatch     *batch);
void           ep_batch_encode       (EpBatch     *batch);
/* Every event of @batch goes back to its place: appended to kept. */
void           ep_batch_keep_all     (EpBatch     *batch);
/* A batch of its own for the event @i of @batch, which keeps it: the same
 * queue item (the record shared), parsed and encoded again. */
EpBatch       *ep_batch_copy_out     (EpBatch     *batch,
                                      guint        i);
/* Moves the events of @batch into two encoded parts of its split (made
 * if it has none), counted outstanding there; @batch is left empty. */
void           ep_batch_split        (EpBatch     *batch,
                                      EpBatch    **first,
                                      EpBatch    **second);

EpSplit       *ep_split_ref          (EpSplit     *split);
void           ep_split_unref        (EpSplit     *split);

G_END_DECLS
