/* ep-scheduler-internal.h: what the scheduler's files share
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The driver: ep-scheduler.c drives delivery (drains, timers, outage and
 * backoff, credentials, flush and close, monitoring, network);
 * ep-scheduler-pipeline.c moves the batches (reads, posts, settles) and
 * applies each reply's verdict. The judge: ep-scheduler-replies.c decides
 * what a reply means for the events of its batch (confirmed, refused, set
 * aside, split, kept) and what follows for the outage, and returns that as
 * an EpVerdict; it calls nothing of the driver. ep-batch.c holds a batch
 * (ep-batch-private.h). ep-scheduler-aside.c keeps the suspects waiting
 * aside and saves the refusal evidence. ep-scheduler-work.c runs the queue
 * work on the one worker thread and brings the results back. Not
 * installed; for these files only.
 */
#pragma once

#include "ep-batch-private.h"
#include "ep-clock-private.h"
#include "ep-constraints-private.h"
#include "ep-scheduler-private.h"
#include "ep-witness-private.h"

G_BEGIN_DECLS

/* Events read from the queue and not settled yet (in batches being read,
 * posted, split or held) stay under this many bytes, whatever
 * max-in-flight says; a batch being read counts as MAX_BATCH_BYTES. */
#define MAX_READ_AHEAD_BYTES (4 * 1024 * 1024)
/* Suspects (events refused on their own, see ep-witness-private.h) wait
 * aside, each in a batch of its own, at most this many at a time; another
 * suspect stays in its place in the queue until there is room. */
#define MAX_ASIDE_EVENTS 64
/* A suspect's next attempt comes batch-interval times 2^(its specific
 * refusals) later (flush skips it), at most this much later. */
#define MAX_ASIDE_DELAY_MS (60 * 60 * 1000)
/* The ledger is saved at most this often while its records change, and
 * this often while only its confirmation counts do. */
#define WITNESS_SAVE_DELAY_MS 1000
#define WITNESS_COUNTS_SAVE_DELAY_MS (60 * 1000)

struct _EpScheduler
{
  GObject            parent_instance;

  EpQueue           *queue;              /* owned */
  EpMonitor         *monitor;            /* owned */
  EpTransport       *transport;          /* owned */
  GMainContext      *context;            /* owned: where everything below runs */
  int                compress;           /* atomic: gzip the bodies of the batches read from now on */
  EpSchedulerConfig  config;             /* URIs owned (copied) */
  EpClock           *clock;              /* owned: the consumer's clock, from replies */
  EpSchedulerCallbacks callbacks;        /* all NULL once disconnected */
  gpointer           callbacks_data;     /* unowned: the owner */

  GMutex             lock;               /* protects token and client_id */
  char              *token;              /* owned, nullable */
  char              *client_id;          /* owned, nullable */

  GCancellable      *cancellable;        /* owned: cancels every request at stop */
  GSource           *batch_timer;        /* owned, nullable: the next attempt */
  GSource           *monitoring_timer;   /* owned, nullable: armed only while there is something to report */
  gint64             batch_due_us;       /* monotonic: when the batch timer was asked to fire */
  gint64             monitoring_due_us;  /* monotonic: when the monitoring timer was asked to fire */
  EpConstraints     *constraints;        /* owned, nullable before start: metered network, power saver */
  GSource           *close_timer;        /* owned, nullable: bounds the last attempt */
  GNetworkMonitor   *network_monitor;    /* borrowed singleton, nullable */
  gulong             network_changed_id;
  int                network_available;  /* atomic: the monitor's last report */
  gboolean           network_usable;     /* main context: the consumer can be reached (last reported to the owner) */
  gboolean           reach_pending;      /* a can_reach check is under way: scheduled attempts wait for it */
  guint              reach_serial;       /* the last can_reach check started */
  gboolean           held_for_network;   /* a scheduled attempt was skipped while offline */

  /* The pipeline's counters: changed only by the count_*() functions of
   * ep-scheduler-pipeline.c. */
  guint              in_flight;          /* batches being read, posted or parsed */
  guint              reading;            /* of those, being read by a worker */
  guint64            releasing;          /* events handed to the worker to put back
                                          * (ep_queue_release()), not yet done */
  gsize              bytes_ahead;        /* see MAX_READ_AHEAD_BYTES */
  GQueue             split_parts;        /* (element-type EpBatch) owned: halves waiting for a slot */
  guint64            post_serial;        /* requests posted so far */
  EpWitness         *witness;            /* owned: the evidence against refused events */
  GQueue             aside;              /* (element-type EpBatch) owned: suspects waiting aside, one event each */
  GSource           *witness_save_timer; /* owned, nullable: coalesces the ledger's saves */
  gint64             witness_save_due_us; /* monotonic: when it fires */
  gboolean           witness_saving;     /* a save is queued on the worker */
  gboolean           draining;
  gboolean           drain_failed;       /* a batch of this drain failed: take no more */
  char              *last_failure;       /* owned, nullable: why the last attempt failed */
  EpOutageReason     attempt_reason;     /* what kind of failure the reply being applied is */
  const char        *attempt_uri;        /* unowned (one of shown_uri), nullable: the request it answers */
  char              *shown_uri[2];       /* owned: [authenticated] the consumer URIs as messages show them (no userinfo, no query) */
  guint              failures;           /* consecutive failed attempts */
  gint64             backoff_until;      /* monotonic µs; 0 when none */
  gint64             retry_after_until;  /* monotonic µs; 0 when none */
  gboolean           delivery_failing;
  gboolean           monitoring_in_flight;
  char              *rejected_token;     /* owned, nullable: the last token reported as rejected */
  gboolean           auth_rejected;      /* the current token was refused, nothing accepted since */
  gboolean           retry_soon;         /* new credentials came during a drain: retry at its end */
  gboolean           batch_timer_prompt; /* the armed batch timer tries new credentials: not held back */
  gboolean           stopped;
  GPtrArray         *flushes;            /* owned (element-type Flush): waiting for their events */
  GTask             *close_task;         /* owned, nullable */
  GThreadPool       *worker;             /* owned, nullable until the first read: one thread for all queue work */
  GSource           *work_done;          /* owned, nullable until the first read: runs finished work's callbacks on context */
  GMutex             done_lock;          /* protects done_head and done_tail */
  struct _EpWork    *done_head;          /* owned: finished work, oldest first, waiting for work_done */
  struct _EpWork    *done_tail;          /* unowned: the last of them */
  GThread           *worker_thread;      /* unowned: the thread that ran the last queue work (worker only) */
  guint              worker_switches;    /* atomic: queue work that ran on another thread than the one before */
  guint              reads_on_settle;    /* atomic: batches read by the worker call that settled the one before */
  guint              freed_elsewhere;    /* atomic: posted batches freed on another thread than the one that read them */
};

/* What a reply means: ep-scheduler-replies.c decides, the driver applies
 * (ep-scheduler-pipeline.c, ep_scheduler_apply_outcome()). Per event, the
 * verdict is in the batch: seqs confirmed or refused for good in
 * removed, seqs to retry in kept; lone refused events may be held by
 * their split or wait aside. */
typedef enum {
  EP_VERDICT_OUTAGE_SAME,     /* the outage state and backoff stay as they are */
  EP_VERDICT_OUTAGE_OVER,     /* a success: the outage ends (the backoff too, unless this drain failed) */
  EP_VERDICT_OUTAGE_FAILED,   /* a failure: backoff, and the outage starts */
} EpVerdictOutage;

typedef struct {
  EpVerdictOutage  outage;
  char            *failure;         /* owned, nullable: why, with EP_VERDICT_OUTAGE_FAILED */
  gboolean         has_retry_after; /* the reply asked to wait retry_after_s */
  gint64           retry_after_s;
  char            *token;           /* owned, nullable: the bearer token accepted or refused */
  gboolean         token_accepted;  /* the consumer took token */
  guint            token_rejected;  /* the HTTP status that refused token; 0: none */
  GPtrArray       *dropped;         /* owned, nullable (element-type utf8): the names of the events
                                     * dropped as refused (validationFailedEvents) */
  EpBatch         *split[2];        /* owned, nullable: the halves of a batch refused whole,
                                     * posted before anything new */
  gsize            bytes_aside;     /* bytes of batches in the pipeline (bytes_ahead) that went aside */
  GPtrArray       *settle;          /* owned, nullable (element-type EpBatch): held batches judged,
                                     * to settle through the pipeline */
  /* The ids settled, reported once the reply is applied (events_settled);
   * NULL when nobody wants them (wants_outcomes). */
  GPtrArray       *delivered_ids;   /* owned, nullable (element-type utf8) */
  GPtrArray       *refused_ids;     /* owned, nullable (element-type utf8) */
} EpVerdict;

/* The judge (ep-scheduler-replies.c): reads the scheduler's state (stopped,
 * aside's room), writes the ledger (witness) and sets suspects aside;
 * calls nothing of the driver. */
void     ep_verdict_init                   (EpVerdict   *verdict,
                                            gboolean     want_ids);
void     ep_verdict_clear                  (EpVerdict   *verdict);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EpVerdict, ep_verdict_clear)
void     ep_scheduler_judge_reply          (EpScheduler   *self,
                                            EpBatch      **batch_p,
                                            EpBatchReply  *reply,
                                            const GError  *error,
                                            EpVerdict     *verdict);
void     ep_scheduler_judge_held           (EpScheduler *self,
                                            EpSplit     *split,
                                            EpVerdict   *verdict);

/* The pipeline (ep-scheduler-pipeline.c). */
void     ep_scheduler_fill_pipeline        (EpScheduler *self);
void     ep_scheduler_abandon_split_parts  (EpScheduler *self,
                                            EpVerdict   *outcomes);
void     ep_scheduler_post_batch           (EpScheduler *self,
                                            EpBatch     *batch);
/* A suspect out of aside re-enters the pipeline (counted here in
 * in_flight and bytes_ahead): posted, or given back to the queue by the
 * worker when it was revoked, purged or expired or the scheduler stopped. */
void     ep_scheduler_post_aside           (EpScheduler *self,
                                            EpBatch     *batch);

/* Suspects aside (ep-scheduler-aside.c). */
void     ep_scheduler_load_witness         (EpScheduler *self);
void     ep_scheduler_witness_changed      (EpScheduler *self);
gboolean ep_scheduler_save_witness_now     (EpScheduler *self);
gboolean ep_scheduler_set_aside            (EpScheduler *self,
                                            EpBatch     *batch);
gsize    ep_scheduler_pull_suspects        (EpScheduler *self,
                                            EpBatch     *batch);
EpBatch *ep_scheduler_pop_due_aside        (EpScheduler *self);
void     ep_scheduler_make_aside_due       (EpScheduler *self);
gint64   ep_scheduler_next_aside_due       (EpScheduler *self);
gboolean ep_scheduler_aside_has_room       (EpScheduler *self);

/* Queue work: @func runs on the worker, @done then on the scheduler's
 * context with @func's result; @data is freed with @free_data after. */
typedef gpointer (*EpWorkFunc) (EpScheduler *self,
                                gpointer     data);
typedef void     (*EpWorkDone) (EpScheduler *self,
                                gpointer     data,
                                gpointer     result);

/* The worker (ep-scheduler-work.c). */
void     ep_scheduler_run_in_worker        (EpScheduler    *self,
                                            EpWorkFunc      func,
                                            EpWorkDone      done,
                                            gpointer        data,
                                            GDestroyNotify  free_data);

/* The drive (ep-scheduler.c). */
void     ep_scheduler_maybe_drain_finished (EpScheduler *self);
void     ep_scheduler_settle_flushes       (EpScheduler *self,
                                            gboolean     drain_over);
void     ep_scheduler_maybe_finish_close   (EpScheduler *self);
void     ep_scheduler_arm_monitoring_timer (EpScheduler *self);
void     ep_scheduler_apply_outcome        (EpScheduler *self,
                                            EpVerdict   *verdict);
void     ep_scheduler_monitoring_answered  (EpScheduler  *self,
                                            EpBatch      *batch,
                                            EpBatchReply *reply);
void     ep_scheduler_report_queue_changed (EpScheduler *self);

G_END_DECLS
