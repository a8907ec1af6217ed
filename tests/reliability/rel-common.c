/* rel-common.c: seeds, modes, measurements of the reliability suite
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rel-common.h"

gboolean
rel_is_long (void)
{
  return g_strcmp0 (g_getenv ("EP_RELIABILITY"), "long") == 0;
}

guint
rel_rounds (guint short_n,
            guint long_n)
{
  const char *env = g_getenv ("EP_RELIABILITY_ROUNDS");

  if (env != NULL && *env != '\0')
    return (guint) g_ascii_strtoull (env, NULL, 10);
  return rel_is_long () ? long_n : short_n;
}

guint32
rel_base_seed (void)
{
  static gsize once = 0;
  static guint32 seed;

  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("EP_RELIABILITY_SEED");

      if (env != NULL && *env != '\0')
        seed = (guint32) g_ascii_strtoull (env, NULL, 10);
      else
        seed = g_random_int ();
      g_once_init_leave (&once, 1);
    }
  return seed;
}

GRand *
rel_rand_new (const char *scenario,
              guint32    *seed_out)
{
  guint32 base = rel_base_seed ();
  guint32 seeds[2] = { base, g_str_hash (scenario) };

  g_printerr ("# %s: seed %u (reproduce: EP_RELIABILITY_SEED=%u %s%s)\n",
              scenario, base, base, g_get_prgname (),
              rel_is_long () ? " with EP_RELIABILITY=long" : "");
  g_test_message ("%s: seed %u", scenario, base);
  if (seed_out != NULL)
    *seed_out = base;
  return g_rand_new_with_seed_array (seeds, G_N_ELEMENTS (seeds));
}

void
rel_result (const char *scenario,
            const char *format,
            ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("RESULT %s seed=%u mode=%s %s\n", scenario, rel_base_seed (),
              rel_is_long () ? "long" : "short", text);
  g_test_message ("RESULT %s seed=%u mode=%s %s", scenario, rel_base_seed (),
                  rel_is_long () ? "long" : "short", text);
}

static guint64
read_status_kib (const char *key)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, key);
  if (line == NULL)
    return 0;
  return g_ascii_strtoull (line + strlen (key), NULL, 10) * 1024;
}

guint64
rel_rss_now (void)
{
  char buf[128];
  FILE *f = fopen ("/proc/self/statm", "re");
  unsigned long size = 0, resident = 0;

  if (f == NULL)
    return 0;
  if (fgets (buf, sizeof buf, f) == NULL || sscanf (buf, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose (f);
  return (guint64) resident * 4096;
}

guint64
rel_rss_peak (void)
{
  return read_status_kib ("VmHWM:");
}

char *
rel_self_exe (void)
{
  g_autoptr(GError) error = NULL;
  char *exe = g_file_read_link ("/proc/self/exe", &error);

  g_assert_no_error (error);
  return exe;
}

/* Nanoseconds this thread has waited on a run queue (0 if unknown). */
static guint64
thread_wait_ns (void)
{
  char buf[128];
  FILE *f = fopen ("/proc/thread-self/schedstat", "re");
  unsigned long long run = 0, wait = 0;

  if (f == NULL)
    return 0;
  if (fgets (buf, sizeof buf, f) == NULL || sscanf (buf, "%llu %llu", &run, &wait) != 2)
    wait = 0;
  fclose (f);
  return wait;
}

static GLogWriterOutput
writer_without_debug (GLogLevelFlags   level,
                      const GLogField *fields,
                      gsize            n_fields,
                      gpointer         user_data)
{
  if (level & G_LOG_LEVEL_DEBUG)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* GTest's default handler, which g_test_init() installs (it prints on
 * stdout, as TAP comments, and reports fatal messages) */
static GLogFunc gtest_handler;

static void
handler_without_debug (const char     *log_domain,
                       GLogLevelFlags  level,
                       const char     *message,
                       gpointer        user_data)
{
  if (level & G_LOG_LEVEL_DEBUG)
    return;
  /* GTest's handler takes no user data (GLib 2.74: "unused_data") */
  gtest_handler (log_domain, level, message, user_data);
}

void
rel_test_init_without_debug (int    *argc,
                             char ***argv)
{
  /* The writer must be set before anything logs. */
  g_log_set_writer_func (writer_without_debug, NULL, NULL);
  ep_test_init (argc, argv);
  gtest_handler = g_log_set_default_handler (handler_without_debug, NULL);
}

/* Logs a debug message and a message, in both styles, with stdout and
 * stderr on a pipe: only the messages come out. */
static void
test_debug_messages_dropped (void)
{
  int saved_out = dup (STDOUT_FILENO);
  int saved_err = dup (STDERR_FILENO);
  g_autoptr(GString) output = g_string_new (NULL);
  int fds[2];
  char buf[4096];
  gssize n;

  g_assert_cmpint (saved_out, >=, 0);
  g_assert_cmpint (saved_err, >=, 0);
  g_assert_no_errno (pipe (fds));
  fflush (stdout);
  fflush (stderr);
  dup2 (fds[1], STDOUT_FILENO);
  dup2 (fds[1], STDERR_FILENO);
  close (fds[1]);
  g_log ("Ep", G_LOG_LEVEL_DEBUG, "rel-debug-probe (g_log)");
  g_log_structured ("Ep", G_LOG_LEVEL_DEBUG, "MESSAGE", "rel-debug-probe (structured)");
  g_log ("Ep", G_LOG_LEVEL_MESSAGE, "rel-message-probe (g_log)");
  g_log_structured ("Ep", G_LOG_LEVEL_MESSAGE, "MESSAGE", "rel-message-probe (structured)");
  fflush (stdout);
  fflush (stderr);
  dup2 (saved_out, STDOUT_FILENO);
  dup2 (saved_err, STDERR_FILENO);
  close (saved_out);
  close (saved_err);
  while ((n = read (fds[0], buf, sizeof buf)) > 0)
    g_string_append_len (output, buf, n);
  close (fds[0]);

  g_test_message ("logged: %s", output->str);
  g_assert_nonnull (strstr (output->str, "rel-message-probe (g_log)"));
  g_assert_nonnull (strstr (output->str, "rel-message-probe (structured)"));
  g_assert_null (strstr (output->str, "rel-debug-probe"));
}

void
rel_test_add_debug_messages_dropped (void)
{
  g_test_add_func ("/reliability/debug-messages-dropped", test_debug_messages_dropped);
}

#define TICK_MS 10

/* The ticker whose context polls through ticker_poll () (one at a time) */
static RelTicker *polling_ticker;

/* The main context's poll: what the thread slept in it beyond the timeout
 * asked for, and did not spend waiting for a CPU, is added to
 * poll_overslept_us. No ep-glib code runs in poll (): that time is the
 * machine's (under load 10-15 here, poll (timeout 0) took up to 10 ms with
 * no run-queue wait at all: the thread asleep in the kernel), not the
 * producer blocking its loop. */
static gint
ticker_poll (GPollFD *fds,
             guint    nfds,
             gint     timeout)
{
  gint64 start = g_get_monotonic_time ();
  guint64 wait = thread_wait_ns ();
  gint ready = g_poll (fds, nfds, timeout);

  if (polling_ticker != NULL && timeout >= 0)
    {
      gint64 slept = g_get_monotonic_time () - start;
      gint64 waited = (gint64) ((thread_wait_ns () - wait) / 1000);

      polling_ticker->poll_overslept_us += MAX (slept - waited - (gint64) timeout * 1000, 0);
    }
  return ready;
}

static gboolean
ticker_tick (gpointer user_data)
{
  RelTicker *ticker = user_data;
  gint64 now = g_get_monotonic_time ();
  guint64 wait = thread_wait_ns ();
  guint64 rss = rel_rss_now ();

  if (ticker->last_us != 0)
    {
      gint64 late = now - ticker->last_us - TICK_MS * 1000;
      gint64 waited = (gint64) ((wait - ticker->last_wait_ns) / 1000);
      gint64 overslept = ticker->poll_overslept_us - ticker->last_overslept_us;

      ticker->max_late_us = MAX (ticker->max_late_us, late);
      ticker->max_blocked_us = MAX (ticker->max_blocked_us, late - waited - overslept);
    }
  ticker->last_us = now;
  ticker->last_wait_ns = wait;
  ticker->last_overslept_us = ticker->poll_overslept_us;
  ticker->peak_rss = MAX (ticker->peak_rss, rss);
  ticker->ticks++;
  return G_SOURCE_CONTINUE;
}

void
rel_ticker_start (RelTicker *ticker)
{
  g_assert_null (polling_ticker);
  memset (ticker, 0, sizeof *ticker);
  ticker->peak_rss = rel_rss_now ();
  polling_ticker = ticker;
  g_main_context_set_poll_func (NULL, ticker_poll);
  ticker->source_id = g_timeout_add (TICK_MS, ticker_tick, ticker);
}

void
rel_ticker_stop (RelTicker *ticker)
{
  g_clear_handle_id (&ticker->source_id, g_source_remove);
  g_main_context_set_poll_func (NULL, NULL);
  polling_ticker = NULL;
}

/* A main loop blocked 60 ms by a callback (asleep, as on a lock or a
 * disk) is caught: the bound still fails on a real block, the time in
 * poll () set aside or not. */
static gboolean
block_loop (gpointer user_data)
{
  gboolean *done = user_data;

  g_usleep (60 * 1000);
  *done = TRUE;
  return G_SOURCE_REMOVE;
}

static void
test_ticker_catches_block (void)
{
  RelTicker ticker;
  gboolean done = FALSE;
  guint ticks;

  rel_ticker_start (&ticker);
  while (ticker.ticks < 3)
    g_main_context_iteration (NULL, TRUE);
  g_timeout_add (1, block_loop, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  ticks = ticker.ticks;
  while (ticker.ticks < ticks + 2)
    g_main_context_iteration (NULL, TRUE);
  rel_ticker_stop (&ticker);
  g_test_message ("blocked 60 ms: measured %.1f ms (late %.1f ms), %.1f ms overslept in poll ()",
                  ticker.max_blocked_us / 1000.0, ticker.max_late_us / 1000.0,
                  ticker.poll_overslept_us / 1000.0);
  g_assert_cmpint (ticker.max_blocked_us, >, REL_BLOCKED_BOUND_US);
}

void
rel_test_add_ticker_catches_block (void)
{
  g_test_add_func ("/reliability/ticker-catches-block", test_ticker_catches_block);
}

struct _RelServerThread {
  GThread      *thread;
  GMainContext *context;
  GMainLoop    *loop;
  GMutex        lock;
  GCond         cond;
};

typedef struct {
  RelServerThread *thread;
  GFunc            func;
  gpointer         data;
  gboolean         done;
} ServerCall;

static gpointer
server_thread_main (gpointer data)
{
  RelServerThread *self = data;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

RelServerThread *
rel_server_thread_new (void)
{
  RelServerThread *self = g_new0 (RelServerThread, 1);

  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
  self->thread = g_thread_new ("rel-server", server_thread_main, self);
  return self;
}

static gboolean
server_call_run (gpointer data)
{
  ServerCall *call = data;

  call->func (call->data, NULL);
  g_mutex_lock (&call->thread->lock);
  call->done = TRUE;
  g_cond_broadcast (&call->thread->cond);
  g_mutex_unlock (&call->thread->lock);
  return G_SOURCE_REMOVE;
}

void
rel_server_thread_call (RelServerThread *self,
                        GFunc            func,
                        gpointer         data)
{
  ServerCall call = { self, func, data, FALSE };

  g_main_context_invoke (self->context, server_call_run, &call);
  g_mutex_lock (&self->lock);
  while (!call.done)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
}

typedef struct {
  GFunc    func;
  gpointer data;
} ServerPost;

static gboolean
server_post_run (gpointer data)
{
  ServerPost *post = data;

  post->func (post->data, NULL);
  return G_SOURCE_REMOVE;
}

void
rel_server_thread_post (RelServerThread *self,
                        GFunc            func,
                        gpointer         data)
{
  ServerPost *post = g_new (ServerPost, 1);

  post->func = func;
  post->data = data;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, server_post_run, post, g_free);
}

static void
quit_loop (gpointer data,
           gpointer unused)
{
  g_main_loop_quit (data);
}

void
rel_server_thread_free (RelServerThread *self)
{
  rel_server_thread_call (self, quit_loop, self->loop);
  g_thread_join (self->thread);
  g_main_loop_unref (self->loop);
  g_main_context_unref (self->context);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  g_free (self);
}

char *
rel_payload (guint64  number,
             GRand   *rand)
{
  guint pad = rand != NULL ? (guint) g_rand_int_range (rand, 0, 600) : 0;
  g_autofree char *padding = g_strnfill (pad, 'x');

  return g_strdup_printf ("{\"n\":%" G_GUINT64_FORMAT ",\"pad\":\"%s\"}", number, padding);
}

guint64
rel_payload_number (const char *payload)
{
  g_assert_true (g_str_has_prefix (payload, "{\"n\":"));
  return g_ascii_strtoull (payload + 5, NULL, 10);
}
