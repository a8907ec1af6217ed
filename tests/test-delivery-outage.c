/* test-delivery-outage.c: what the application can show about delivery:
 * the outage, its reason and the last error; the debug lines a developer
 * reads under G_MESSAGES_DEBUG=Ep
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "ep-test-delivery-util.h"

/* Collects the Ep domain's debug and info lines and messages. */
static guint
capture_log (GPtrArray *lines)
{
  return ep_test_capture_log (lines, G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE);
}

/* The posting line names the endpoint the batch goes to (it used to test
 * the token after handing it to the batch: "public" every time), with the
 * noun agreeing with the count. */
static void
test_posting_debug_line (Fixture       *fx,
                         gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  g_autoptr(EpCredentials) credentials = ep_credentials_new ("token-1", "client-1");
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  guint handler = capture_log (lines);

  send_n (producer, "anonymous", 1);
  assert_flush_ok (producer);
  ep_producer_set_credentials (producer, credentials);
  send_n (producer, "signed_in", 2);
  assert_flush_ok (producer);
  g_log_remove_handler ("Ep", handler);

  g_assert_true (ep_test_log_has (lines, "Batch *: posting 1 event to the public endpoint*"));
  g_assert_true (ep_test_log_has (lines, "Batch *: posting 2 events to the authenticated endpoint*"));
  g_assert_false (ep_test_log_has (lines, "* 1 events*"));
}

static void
assert_reason (EpProducer     *producer,
               gboolean        outage,
               EpOutageReason  reason,
               const char     *error_pattern)
{
  g_autofree char *last_error = ep_producer_dup_last_error (producer);
  EpOutageReason property = EP_OUTAGE_REASON_NONE;

  g_object_get (producer, "outage-reason", &property, NULL);
  g_assert_cmpint (ep_producer_get_outage (producer), ==, outage);
  g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, reason);
  g_assert_cmpint (property, ==, reason);
  if (error_pattern == NULL)
    g_assert_null (last_error);
  else if (last_error == NULL || !g_pattern_match_simple (error_pattern, last_error))
    g_error ("last-error '%s' does not match '%s'", last_error, error_pattern);
}

/* Each kind of failure has its reason and its words; a delivery ends
 * them. */
static void
test_reasons (Fixture       *fx,
              gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, "max-disk-usage", (guint64) 2000, NULL);
  g_autoptr(EpCredentials) credentials = ep_credentials_new ("token-1", "client-1");
  g_autofree char *big = g_strnfill (3000, 'b');

  assert_reason (producer, FALSE, EP_OUTAGE_REASON_NONE, NULL);
  send_n (producer, "first", 1);
  ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "boom", NULL);
  assert_flush_fails (producer, NULL);
  assert_reason (producer, TRUE, EP_OUTAGE_REASON_HTTP_ERROR, "*HTTP 500*");

  ep_producer_set_credentials (producer, credentials);
  ep_test_server_push_reply (fx->consumer.server, 401, "text/plain", "who?", NULL);
  assert_flush_fails (producer, NULL);
  assert_reason (producer, TRUE, EP_OUTAGE_REASON_CREDENTIALS, "*HTTP 401*");

  assert_flush_ok (producer);
  assert_reason (producer, FALSE, EP_OUTAGE_REASON_NONE, NULL);

  /* A storage outage comes first. */
  g_assert_cmpint (ep_producer_send_event (producer, "too_big", EP_CONSENT_CATEGORY_NECESSARY, big, NULL),
                   ==, EP_SEND_RESULT_STORING_FAILED);
  EP_TEST_SPIN_UNTIL (ep_producer_get_outage (producer));
  assert_reason (producer, TRUE, EP_OUTAGE_REASON_STORAGE, "*budget*");
  send_n (producer, "small", 1);
  EP_TEST_SPIN_UNTIL (!ep_producer_get_outage (producer));
  assert_reason (producer, FALSE, EP_OUTAGE_REASON_NONE, NULL);
}

/* A consumer nobody listens at is unreachable, not an HTTP error. */
static void
test_reason_unreachable (Fixture       *fx,
                         gconstpointer  data)
{
  g_autofree char *nowhere = unreachable_uri ();
  g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, nowhere, nowhere,
                                                         NULL, NULL);

  send_n (producer, "lost", 1);
  assert_flush_fails (producer, NULL);
  assert_reason (producer, TRUE, EP_OUTAGE_REASON_UNREACHABLE, "?*");
}

typedef struct {
  EpOutageReason reason;     /* read in outage-changed */
  char          *last_error; /* owned: read in outage-changed */
  guint          notified;   /* notify::outage-reason, notify::last-error */
} Seen;

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   Seen       *seen)
{
  seen->reason = ep_producer_get_outage_reason (producer);
  g_free (seen->last_error);
  seen->last_error = ep_producer_dup_last_error (producer);
}

static void
on_notify (EpProducer *producer,
           GParamSpec *pspec,
           Seen       *seen)
{
  seen->notified++;
}

/* A handler of outage-changed reads the new reason and words; both are
 * notified once per change. */
static void
test_reason_before_signal (Fixture       *fx,
                           gconstpointer  data)
{
  g_autoptr(EpProducer) producer = producer_new (fx, NULL);
  Seen seen = { EP_OUTAGE_REASON_NONE, NULL, 0 };

  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), &seen);
  g_signal_connect (producer, "notify::outage-reason", G_CALLBACK (on_notify), &seen);
  g_signal_connect (producer, "notify::last-error", G_CALLBACK (on_notify), &seen);
  send_n (producer, "seen", 1);
  ep_test_server_push_reply (fx->consumer.server, 503, "text/plain", "later", NULL);
  assert_flush_fails (producer, NULL);
  g_assert_cmpint (seen.reason, ==, EP_OUTAGE_REASON_HTTP_ERROR);
  g_assert_nonnull (seen.last_error);
  g_assert_cmpuint (seen.notified, ==, 2);
  assert_flush_ok (producer);
  g_assert_cmpint (seen.reason, ==, EP_OUTAGE_REASON_NONE);
  g_assert_null (seen.last_error);
  g_assert_cmpuint (seen.notified, ==, 4);
}

/* The reason and the words are persisted with the outage; a restored
 * outage with events queued is tried at once, not a batch-interval (an
 * hour here) later. */
static void
test_restored_outage_tried_at_start (Fixture       *fx,
                                     gconstpointer  data)
{
  g_autofree char *before = NULL;

  {
    g_autoptr(EpProducer) producer = producer_new (fx, NULL);

    send_n (producer, "restored", 3);
    ep_test_server_push_reply (fx->consumer.server, 500, "text/plain", "down", NULL);
    assert_flush_fails (producer, NULL);
    before = ep_producer_dup_last_error (producer);
  }
  {
    g_autoptr(EpProducer) producer = producer_new (fx, NULL);
    g_autofree char *after = ep_producer_dup_last_error (producer);

    watch (fx, producer);
    g_assert_true (ep_producer_get_outage (producer));
    g_assert_cmpint (ep_producer_get_outage_reason (producer), ==, EP_OUTAGE_REASON_HTTP_ERROR);
    g_assert_cmpstr (after, ==, before);
    EP_TEST_SPIN_UNTIL (ep_producer_get_queue_length (producer) == 0);
    EP_TEST_SPIN_UNTIL (fx->outages->len == 1);
    g_assert_false (g_array_index (fx->outages, gboolean, 0));
    assert_reason (producer, FALSE, EP_OUTAGE_REASON_NONE, NULL);
    g_assert_cmpuint (ep_test_server_get_confirmed_ids (fx->consumer.server)->len, ==, 3);
  }
}

/* A failed delivery names the request: method and URL (without a
 * password or a query), in last-error, the flush error and the debug
 * line; a non-2xx status with its phrase. */
static void
test_error_names_request (Fixture       *fx,
                          gconstpointer  data)
{
  guint16 port = ep_test_server_get_port (fx->consumer.server);
  g_autofree char *uri = g_strdup_printf ("http://user:secret@127.0.0.1:%u%s?key=hidden",
                                          port, EP_TEST_PUBLIC_PATH);
  g_autofree char *expected = g_strdup_printf ("POST http://127.0.0.1:%u%s: HTTP 404 Not Found",
                                               port, EP_TEST_PUBLIC_PATH);
  g_autofree char *pattern = g_strdup_printf ("*%s*", expected);
  g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, uri, uri, NULL, NULL);
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *last_error = NULL;
  guint handler;

  send_n (producer, "lost", 1);
  ep_test_server_push_reply (fx->consumer.server, 404, "text/plain", "no such path", NULL);
  handler = capture_log (lines);
  g_assert_false (ep_test_flush (producer, &error));
  g_log_remove_handler ("Ep", handler);

  last_error = ep_producer_dup_last_error (producer);
  g_assert_cmpstr (last_error, ==, expected);
  g_assert_true (g_pattern_match_simple (pattern, error->message));
  g_assert_true (ep_test_log_has (lines, pattern));
  for (guint i = 0; i < lines->len; i++)
    {
      g_assert_null (strstr (g_ptr_array_index (lines, i), "secret"));
      g_assert_null (strstr (g_ptr_array_index (lines, i), "hidden"));
    }
}

/* A consumer URI without a path gets a hint (a message, not a warning:
 * it is valid, and usually a mistake). */
static void
test_root_path_hint (Fixture       *fx,
                     gconstpointer  data)
{
  g_autofree char *root = ep_test_server_dup_uri (fx->consumer.server, "/");
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  guint handler = capture_log (lines);
  g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, root,
                                                         fx->consumer.public_uri, NULL, NULL);

  g_log_remove_handler ("Ep", handler);
  g_assert_true (ep_test_log_has (lines, "consumer-uri '*/' has no path*/api/event-batch*"));
  g_assert_false (ep_test_log_has (lines, "public-consumer-uri*has no path*"));
}

/* EP_CONSUMER_URL replaces both URIs, said once: a root URL stands for
 * ep-consumer's two endpoints, a URL with a path is used for both. */
static void
test_consumer_url_environment (Fixture       *fx,
                               gconstpointer  data)
{
  g_autofree char *nowhere = unreachable_uri ();
  g_autofree char *root = ep_test_server_dup_uri (fx->consumer.server, "/");
  g_autofree char *path = ep_test_server_dup_uri (fx->consumer.server, "/custom/path");
  g_autoptr(EpCredentials) credentials = ep_credentials_new ("token-1", "client-1");
  g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *expected = g_strdup_printf ("EP_CONSUMER_URL is set: events go to %sapi/event-batch*",
                                               root);
  guint handler = capture_log (lines);

  g_setenv ("EP_CONSUMER_URL", root, TRUE);
  {
    g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, nowhere, nowhere,
                                                           NULL, NULL);
    g_autofree char *in_use = NULL;

    g_object_get (producer, "consumer-uri", &in_use, NULL);
    g_assert_true (g_str_has_suffix (in_use, "/api/event-batch"));
    send_n (producer, "public", 1);
    assert_flush_ok (producer);
    ep_producer_set_credentials (producer, credentials);
    send_n (producer, "authenticated", 1);
    assert_flush_ok (producer);
  }
  g_assert_cmpstr (request (fx, 0)->path, ==, EP_TEST_PUBLIC_PATH);
  g_assert_cmpstr (request (fx, 1)->path, ==, EP_TEST_EVENT_PATH);
  g_assert_true (ep_test_log_has (lines, expected));
  /* Not the hint for a URI without a path: the paths were filled in. */
  g_assert_false (ep_test_log_has (lines, "*has no path*"));

  g_setenv ("EP_CONSUMER_URL", path, TRUE);
  {
    g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, nowhere, nowhere,
                                                           NULL, NULL);

    send_n (producer, "custom", 1);
    assert_flush_ok (producer);
  }
  g_assert_cmpstr (request (fx, 2)->path, ==, "/custom/path");

  g_setenv ("EP_CONSUMER_URL", "ftp://example.com/", TRUE);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(EpProducer) producer = ep_test_producer_new (fx->consumer.dir, nowhere, nowhere,
                                                           &error, NULL);

    g_assert_null (producer);
    g_assert_error (error, EP_ERROR, EP_ERROR_INVALID_CONFIG);
    g_assert_nonnull (strstr (error->message, "EP_CONSUMER_URL"));
  }
  g_unsetenv ("EP_CONSUMER_URL");
  g_log_remove_handler ("Ep", handler);
}

/* G_MESSAGES_DEBUG=Ep shows each stored event: name, category, and the
 * id send_event_full returned. */
static void
test_stored_event_debug_line (Fixture       *fx,
                              gconstpointer  data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(EpProducer) producer = NULL;
      g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
      g_autofree char *id = NULL;
      g_autofree char *expected = NULL;
      guint handler;

      g_setenv ("G_MESSAGES_DEBUG", "Ep", TRUE);
      producer = producer_new (fx, NULL);
      handler = capture_log (lines);
      g_assert_cmpint (ep_producer_send_event_full (producer, "watched", EP_CONSENT_CATEGORY_NECESSARY,
                                                    "{}", NULL, &id),
                       ==, EP_SEND_RESULT_STORED);
      g_log_remove_handler ("Ep", handler);
      expected = g_strdup_printf ("Stored event 'watched' (NECESSARY, id %s)", id);
      g_assert_true (ep_test_log_has (lines, expected));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  ADD ("/ep/delivery/outage/posting-debug-line", test_posting_debug_line);
  ADD ("/ep/delivery/outage/reasons", test_reasons);
  ADD ("/ep/delivery/outage/reason-unreachable", test_reason_unreachable);
  ADD ("/ep/delivery/outage/reason-before-signal", test_reason_before_signal);
  ADD ("/ep/delivery/outage/restored-outage-tried-at-start", test_restored_outage_tried_at_start);
  ADD ("/ep/delivery/outage/error-names-request", test_error_names_request);
  ADD ("/ep/delivery/outage/root-path-hint", test_root_path_hint);
  ADD ("/ep/delivery/outage/consumer-url-environment", test_consumer_url_environment);
  ADD ("/ep/delivery/outage/stored-event-debug-line", test_stored_event_debug_line);

  return g_test_run ();
}
