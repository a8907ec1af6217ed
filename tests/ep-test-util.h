/* ep-test-util.h: helpers shared by the GTest programs
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <ep-glib/ep-glib.h>

#include "ep-test-server.h"

G_BEGIN_DECLS

/* How long a spin may wait before the test fails. Generous: CI machines are
 * shared and slow; a correct run never comes near it. */
#define EP_TEST_TIMEOUT_MS 20000

/* Initialises GTest and an isolated environment: XDG dirs under a fresh
 * temporary directory (removed at exit). Call instead of g_test_init. */
void      ep_test_init            (int          *argc,
                                   char       ***argv);

/* A new empty directory under the test's temporary root, mode 0700. */
char     *ep_test_make_dir        (const char   *prefix);

/* rm -rf, for test cleanup. */
void      ep_test_remove_tree     (const char   *path);

/* Iterates the thread-default main context until @cond returns TRUE; fails the
 * test (g_error, with @what) after @timeout_ms. Never sleeps for a fixed time:
 * it blocks in the main context, woken by its sources or every 10 ms. */
void      ep_test_spin_until_func (gboolean    (*cond) (gpointer data),
                                   gpointer      data,
                                   guint         timeout_ms,
                                   const char   *what);

/* Spins while the expression is false. */
#define EP_TEST_SPIN_UNTIL(expr) \
  G_STMT_START { \
    gint64 _ep_deadline = g_get_monotonic_time () + EP_TEST_TIMEOUT_MS * 1000; \
    while (!(expr)) \
      { \
        if (g_get_monotonic_time () > _ep_deadline) \
          g_error ("%s:%d: timed out waiting for: %s", __FILE__, __LINE__, #expr); \
        ep_test_iterate (); \
      } \
  } G_STMT_END

/* One blocking iteration of the thread-default context, woken at least every
 * 10 ms. */
void      ep_test_iterate         (void);

/* Runs an async call to completion: spins until *@result is set. */
void      ep_test_wait_result     (GAsyncResult **result);

/* A GAsyncReadyCallback that stores a ref of the result in *user_data
 * (a GAsyncResult **). */
void      ep_test_store_result    (GObject       *source,
                                   GAsyncResult  *result,
                                   gpointer       user_data);

/* A producer for tests: app "test-app" 1.2.3, fixed device and OS headers,
 * @dir as queue, batch and monitoring timers an hour away (tests flush),
 * then the given property/value pairs. NULL with @error set when init fails;
 * with @error NULL, a failed init fails the test. */
EpProducer *ep_test_producer_new  (const char   *dir,
                                   const char   *consumer_uri,
                                   const char   *public_consumer_uri,
                                   GError      **error,
                                   const char   *first_property,
                                   ...);

/* The paths a scripted consumer serves in tests. */
#define EP_TEST_EVENT_PATH "/api/event-batch"
#define EP_TEST_PUBLIC_PATH "/api/public/event-batch"

/* What most delivery tests start from: a scripted consumer on 127.0.0.1 (on
 * the thread-default context), a fresh queue directory, and the URIs of
 * the consumer's paths. */
typedef struct {
  EpTestServer *server;
  char         *dir;
  char         *uri;         /* EP_TEST_EVENT_PATH: the consumer-uri */
  char         *public_uri;  /* the public-consumer-uri */
} EpTestConsumer;

/* @dir_prefix names the directory (ep_test_make_dir()); @public_path is
 * the public consumer's path, or NULL for one endpoint (public_uri = uri). */
void        ep_test_consumer_init (EpTestConsumer *consumer,
                                   const char     *dir_prefix,
                                   const char     *public_path);
/* Answers any hung request (500), frees the server and the strings. */
void        ep_test_consumer_clear (EpTestConsumer *consumer);
/* ep_test_producer_new() over @consumer's directory and URIs, then the
 * given property/value pairs; a failed init fails the test. */
EpProducer *ep_test_consumer_new_producer (EpTestConsumer *consumer,
                                           const char     *first_property,
                                           ...);

/* A 1 ms timer on the thread-default context that records how regularly
 * it ran: a blocked main loop shows as a long gap. */
typedef struct {
  gint64 last_tick_us;
  gint64 longest_gap_us;
  guint  ticks;
  guint  source_id;
} EpTestTicker;

void        ep_test_ticker_start  (EpTestTicker *ticker);
void        ep_test_ticker_stop   (EpTestTicker *ticker);

/* The live source named @name attached to @context (NULL: the global
 * default), or NULL: what a component has armed, without waiting for it. */
GSource    *ep_test_find_source   (GMainContext *context,
                                   const char   *name);

/* Collects the messages of the "Ep" log domain at @levels (debug lines
 * too, whatever G_MESSAGES_DEBUG says) into @lines (element-type utf8);
 * returns the handler id, for g_log_remove_handler ("Ep", id). */
guint       ep_test_capture_log   (GPtrArray      *lines,
                                   GLogLevelFlags  levels);
/* Whether a line of @lines matches the glob @pattern. */
gboolean    ep_test_log_has       (GPtrArray      *lines,
                                   const char     *pattern);

/* Flushes and waits: the result of ep_producer_flush_finish(). */
gboolean    ep_test_flush         (EpProducer   *producer,
                                   GError      **error);

/* The producer's dropped-event count for @reason (0 consentFiltered, 1
 * validationFailed, 2 storingFailed) and event @name. */
guint64     ep_test_count_of      (EpProducer   *producer,
                                   guint         reason,
                                   const char   *name);

/* Issue 18, item 5: work handed back to a main context by an EpHandoff
 * (ep-handoff-private.h) must get there without the context's lock. Start
 * with ep_test_hand_back_start(): the next handoff's thread stops right
 * before it hands its result back. Once ep_test_hand_back_stopped(),
 * ep_test_hand_back_with_context_locked() holds @context's own lock (as a
 * thread preempted inside g_source_attach() would), lets the thread go and
 * waits (EP_TEST_TIMEOUT_MS at most) for it to hand its result back:
 * returns whether it did while the lock was held. FALSE with a skip
 * message when GLib's GMainContext is not laid out as the test knows. */
typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean stopped;      /* the thread has its result, and waits */
  gboolean go;           /* ... until this */
  gboolean handed_back;  /* it handed the result back after going on */
} EpTestHandBack;

gboolean    ep_test_hand_back_start   (EpTestHandBack *hb);
gboolean    ep_test_hand_back_stopped (EpTestHandBack *hb);
gboolean    ep_test_hand_back_with_context_locked (EpTestHandBack *hb,
                                                   GMainContext   *context);
void        ep_test_hand_back_end     (EpTestHandBack *hb);

G_END_DECLS
