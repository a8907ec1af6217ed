/* bench-suite.h: what the phases of bench-suite share (private to the bench)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * bench-suite.c            options, configuration, the machine, the targets
 * bench-suite-latency.c    1 and 3: send latency with 0 .. 1M queued, restore
 * bench-suite-throughput.c 2: sustained sends from 1 and 4 threads
 * bench-suite-drain.c      4: drains to ep-consumer (ours and the baselines)
 * bench-suite-gaps.c       5: the main-loop ticker and its gaps while draining
 * bench-suite-sync.c       the sync-on-send floor and ratios against it
 * bench-suite-idle.c       the wakeups of an idle producer
 * The harness (producer, scratch directory, formatting) is in bench-common.c.
 */
#pragma once

#include <stdio.h>

#include <glib.h>

#include "bench-common.h"

G_BEGIN_DECLS

enum { OURS, SQLITE, WEB, MEMORY, N_IMPLS };  /* MEMORY: drains only */
enum { MODE_DEFAULT, MODE_SYNC, N_MODES };
#define N_LEVELS 4
#define N_DRAINS 4

/* Sizes of one run. */
typedef struct {
  gboolean quick;
  guint64  levels[N_LEVELS];           /* events queued before measuring sends */
  guint    samples[N_MODES];           /* timed sends per level (ours, SQLite) */
  guint    web_samples[N_LEVELS];      /* timed web sends per level; 0: projected */
  gboolean web_restore[N_LEVELS];      /* whether web restore is measured at that level */
  guint64  throughput_events;          /* sends per throughput run (ours) */
  double   window_s;                   /* time limit of a baseline run */
  guint    drain_latency[N_DRAINS];    /* consumer reply latency, ms */
  guint    drain_in_flight[N_DRAINS];
  guint64  drain_events[N_DRAINS];
  gboolean drain_rows[N_DRAINS];       /* which drains to run (--drains) */
  gboolean consumer_normal_priority;   /* --consumer-priority normal (default: idle) */
  guint64  sync_throughput_events;     /* sends per sync-on-send throughput run */
  double   sync_window_s;              /* time limit of a sync-on-send throughput run */
  double   idle_settle_s;              /* idle producer: time left to settle first */
  double   idle_window_s;              /* ... then the time its wakeups are counted */
} Config;

typedef struct {
  gboolean measured;
  gboolean timed_out;
  guint64  length;
  double   seconds;
  guint64  rss_before;
  guint64  rss_after;
  guint64  peak;                       /* VmHWM during the open (reset before) */
} Restore;

/* Where the main thread was during timer gaps, from its scheduler
 * statistics (/proc/thread-self/schedstat and getrusage (RUSAGE_THREAD)):
 * running, runnable but waiting for a CPU (preempted), or neither (asleep:
 * in poll() or blocked in a lock or a syscall). */
typedef struct {
  guint   n;
  gint64  total_ns;                    /* wall time of the gaps */
  gint64  run_ns;                      /* on a CPU */
  gint64  wait_ns;                     /* runnable, waiting on the run queue */
  guint64 nvcsw;                       /* voluntary switches (went to sleep) */
  guint64 nivcsw;                      /* involuntary switches (preempted) */
  guint   by_waiting;                  /* gaps whose excess is mostly run-queue wait */
  guint   by_running;                  /* ... mostly time on a CPU */
  guint   by_sleeping;                 /* ... mostly sleep beyond the 1 ms period */
  gint64  poll_asleep_ns;              /* of the time asleep, inside the main context's
                                        * poll() (the timer's own wait, or a wakeup
                                        * the kernel or the hypervisor made late) */
  guint64 sleeps_outside_poll;         /* voluntary switches outside poll(): blocking */
} GapSplit;

/* Time asleep in @g: neither on a CPU nor waiting for one. */
static inline gint64
bench_gap_asleep_ns (const GapSplit *g)
{
  return MAX (g->total_ns - g->run_ns - g->wait_ns, 0);
}

/* ... of which outside poll(): blocked (a lock, a syscall), if the thread
 * went to sleep outside poll() at all. Otherwise the time is the
 * hypervisor's: with paravirt steal accounting, time stolen while the
 * thread is on its vCPU is neither its CPU time nor run-queue wait. */
static inline gint64
bench_gap_blocked_ns (const GapSplit *g)
{
  return g->sleeps_outside_poll > 0 ? MAX (bench_gap_asleep_ns (g) - g->poll_asleep_ns, 0) : 0;
}

typedef struct {
  gboolean measured;
  guint64  queued;
  guint64  delivered;
  double   seconds;
  gboolean emptied;
  gint64   longest_gap_ns;
  gint64   longest_at_ns;
  guint    gaps_over_2ms;
  guint    ticks;
  GapSplit long_gaps;                  /* the gaps over 2 ms, added up */
  GapSplit longest;                    /* the longest gap */
  GapSplit most_asleep;                /* the gap with the most time asleep (any gap) */
  GapSplit most_blocked;               /* the gap with the most time asleep outside poll() */
  gint64   steal_ms;                   /* time the hypervisor took from the machine's CPUs
                                        * during the drain (/proc/stat), all CPUs */
  gint64   cpu_ns;                     /* the process's CPU time (all threads, user +
                                        * system) from the flush to its end */
} Drain;

typedef struct {
  gboolean measured;
  guint64  sends;
  double   seconds;
  guint64  fdatasyncs;   /* the process's fdatasync() calls during the run */
} Throughput;

/* An idle producer (nothing queued, nothing to report), observed for a
 * while: how often its main loop woke up (poll() returned before the end of
 * the window) and how many context switches its other threads made. */
typedef struct {
  gboolean measured;
  double   seconds;
  guint    main_wakeups;
  guint64  other_switches;
  guint64  main_switches;
} Idle;

typedef struct {
  Latency    latency[N_IMPLS][N_MODES][N_LEVELS];
  Latency    stamp[N_LEVELS];          /* ours, default mode, stamp-payload on */
  Latency    sync_floor[N_LEVELS];     /* pwrite + fdatasync into a fallocate()d file */
  Latency    sync_floor_zeroed[N_LEVELS]; /* ... into a zero-filled file */
  Latency    sqlite_floor[N_LEVELS];   /* the floor again, in SQLite's phase */
  guint      frame_size;               /* bytes ours writes per send (the floor's size) */
  Throughput throughput[N_IMPLS][2];
  Throughput sync_throughput[2];       /* ours, sync-on-send, 1 and 4 threads */
  Latency    group_floor[2];           /* the floor of 1 and 4 frames per fdatasync */
  Latency    group_floor_zeroed[2];    /* ... into a zero-filled file */
  guint      group_frame_size;         /* the frame size of group_floor */
  Restore    restore[N_IMPLS][N_LEVELS];
  Drain      drain[N_IMPLS][N_DRAINS];
  gboolean   drain_skipped;
  char      *consumer_priority;        /* how ep-consumer was scheduled (checked) */
  Idle       idle;
} Results;

/* Set up by main(). */
extern char *bench_self_exe;         /* this program, for --restore-child */
extern char *bench_consumer_path;    /* the ep-consumer to drain to */

/* 1 and 3. Send latency and restore (bench-suite-latency.c) */
void     phase_latency_ours    (const Config  *config,
                                Results       *results);
void     phase_latency_sqlite  (const Config  *config,
                                Results       *results);
void     phase_latency_web     (const Config  *config,
                                Results       *results);
int      restore_child_main    (const char    *kind,
                                const char    *dir);
void     print_latency         (const Config  *config,
                                const Results *results);
void     print_restore         (const Config  *config,
                                const Results *results);
double   restore_bytes_per_event (const Restore *r);

/* The sync-on-send floor (bench-suite-sync.c): a bare pwrite + fdatasync of
 * the size ours writes per send, into a preallocated file in @dir,
 * interleaved with a store's sends in SYNC_ROUNDS rounds (@send NULL: the
 * floor alone, @out->store not measured). */
#define SYNC_ROUNDS 10

typedef gint64 (*TimedSend) (gpointer target);   /* one send; its duration in ns */

typedef struct {
  Latency floor;     /* into a fallocate()d file */
  Latency zeroed;    /* into a zero-filled file */
  Latency store;     /* the store's sends */
} SyncSamples;

void     measure_sync_interleaved (const char  *dir,
                                   guint        frame_size,
                                   guint        n,
                                   TimedSend    send,
                                   gpointer     target,
                                   SyncSamples *out);
void     print_sync            (const Config  *config,
                                const Results *results);

/* The process's fdatasync () calls so far (bench-fdatasync.c, which
 * replaces libc's fdatasync () in the whole of bench-suite to count them) */
guint    bench_fdatasync_count (void);

/* 2. Throughput (bench-suite-throughput.c) */
void     phase_throughput      (const Config  *config,
                                Results       *results);
void     print_throughput      (const Results *results);
double   throughput_rate       (const Throughput *t);

/* Idle producer wakeups (bench-suite-idle.c) */
void     phase_idle            (const Config  *config,
                                Results       *results);
double   idle_wakeups_per_minute (const Idle *idle);
void     print_idle            (const Config  *config,
                                const Results *results);

/* 4. Drain (bench-suite-drain.c) */
int      drain_child_main      (const char    *kind,
                                const char    *scratch,
                                const char    *args);
void     phase_drain           (const Config  *config,
                                Results       *results);
void     print_drain           (const Config  *config,
                                const Results *results);
double   drain_rate            (const Drain   *d);
double   drain_cpu_per_event   (const Drain   *d);   /* ns */

/* 5. Main-loop gaps (bench-suite-gaps.c): a 1 ms timer on the thread-default
 * main context, recording the longest gap and where the main thread was
 * during the gaps over 2 ms. */
typedef struct {
  gint64  run_ns;
  gint64  wait_ns;
  guint64 nvcsw;
  guint64 nivcsw;
} ThreadSched;

typedef struct {
  GSource    *source;
  int         schedstat_fd;           /* /proc/thread-self/schedstat, -1 if unavailable */
  gint64      start_ns;
  gint64      last_ns;
  ThreadSched last;
  gint64      longest_ns;
  gint64      longest_at_ns;            /* when the longest gap ended, from the start */
  guint       ticks;
  guint       gaps_over_2ms;
  GapSplit    long_gaps;
  GapSplit    longest;
  GapSplit    most_asleep;
  GapSplit    most_blocked;
  gint64      poll_asleep_ns;          /* asleep inside poll() since the last tick */
  guint64     poll_sleeps;             /* voluntary switches inside poll() since then */
  GPollFunc   saved_poll;
  GMainContext *context;
  gint64      steal_start_ms;
  FILE       *log;                     /* $BENCH_GAP_LOG: one line per gap over 2 ms */
} Ticker;

void     ticker_start          (Ticker        *ticker);
void     ticker_stop           (Ticker        *ticker,
                                Drain         *out);
void     print_gaps            (const Config  *config,
                                const Results *results);

G_END_DECLS
