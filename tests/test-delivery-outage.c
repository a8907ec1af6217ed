/* test-delivery-outage.c: what the application can show about delivery:
 * the outage, its reason and the last error; the debug lines a developer
 * reads under G_MESSAGES_DEBUG=Ep
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "ep-test-delivery-util.h"

static void
on_log_record (const char     *domain,
               GLogLevelFlags  level,
               const char     *message,
               gpointer        user_data)
{
  g_ptr_array_add (user_data, g_strdup (message));
}

static gboolean
log_has (GPtrArray  *lines,
         const char *pattern)
{
  for (guint i = 0; i < lines->len; i++)
    if (g_pattern_match_simple (pattern, g_ptr_array_index (lines, i)))
      return TRUE;
  return FALSE;
}

/* Collects the Ep domain's debug and info lines and messages. */
static guint
capture_log (GPtrArray *lines)
{
  return g_log_set_handler ("Ep", G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO | G_LOG_LEVEL_MESSAGE,
                            on_log_record, lines);
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

  g_assert_true (log_has (lines, "Batch *: posting 1 event to the public endpoint*"));
  g_assert_true (log_has (lines, "Batch *: posting 2 events to the authenticated endpoint*"));
  g_assert_false (log_has (lines, "* 1 events*"));
}

int
main (int   argc,
      char *argv[])
{
  ep_test_init (&argc, &argv);

  ADD ("/ep/delivery/outage/posting-debug-line", test_posting_debug_line);

  return g_test_run ();
}
