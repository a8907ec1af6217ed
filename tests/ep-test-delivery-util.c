/* ep-test-delivery-util.c: the fixture and helpers of the test-delivery*
 * programs
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"
#include "ep-test-delivery-util.h"

void
fixture_setup (Fixture       *fx,
               gconstpointer  data)
{
  ep_test_consumer_init (&fx->consumer, "delivery", EP_TEST_PUBLIC_PATH);
  fx->outages = g_array_new (FALSE, FALSE, sizeof (gboolean));
  fx->rejected = g_array_new (FALSE, FALSE, sizeof (guint));
}

void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data)
{
  ep_test_consumer_clear (&fx->consumer);
  g_array_unref (fx->outages);
  g_array_unref (fx->rejected);
}

static void
on_outage_changed (EpProducer *producer,
                   gboolean    outage,
                   Fixture    *fx)
{
  g_array_append_val (fx->outages, outage);
}

static void
on_credentials_rejected (EpProducer *producer,
                         guint       status,
                         Fixture    *fx)
{
  g_array_append_val (fx->rejected, status);
}

void
watch (Fixture    *fx,
       EpProducer *producer)
{
  g_signal_connect (producer, "outage-changed", G_CALLBACK (on_outage_changed), fx);
  g_signal_connect (producer, "credentials-rejected", G_CALLBACK (on_credentials_rejected), fx);
}

void
send_n (EpProducer *producer,
        const char *name,
        guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("{\"seq\":%u}", i);

      g_assert_cmpint (ep_producer_send_event (producer, name, EP_CONSENT_CATEGORY_NECESSARY,
                                               payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
    }
}

EpTestRequest *
request (Fixture *fx,
         guint    i)
{
  GPtrArray *requests = ep_test_server_get_requests (fx->consumer.server);

  g_assert_cmpuint (i, <, requests->len);
  return g_ptr_array_index (requests, i);
}

gboolean
counters_have (EpProducer *producer,
               const char *fragment)
{
  g_autofree char *counters = ep_producer_dup_counters_json (producer);

  return strstr (counters, fragment) != NULL;
}

void
assert_flush_fails (EpProducer *producer,
                    const char *pattern)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (ep_test_flush (producer, &error));
  g_assert_error (error, EP_ERROR, EP_ERROR_DELIVERY);
  if (pattern != NULL && !g_pattern_match_simple (pattern, error->message))
    g_error ("flush error '%s' does not match '%s'", error->message, pattern);
}

void
assert_flush_ok (EpProducer *producer)
{
  g_autoptr(GError) error = NULL;

  if (!ep_test_flush (producer, &error))
    g_error ("flush failed: %s", error ? error->message : "(no error)");
  g_assert_no_error (error);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
}

guint
flush_until_empty (EpProducer *producer,
                   guint       max_flushes)
{
  guint n = 0;

  while (ep_producer_get_queue_length (producer) > 0)
    {
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (n, <, max_flushes);
      (void) ep_test_flush (producer, &error);
      n++;
    }
  return n;
}

void
append_record (EpQueue    *queue,
               const char *id,
               const char *payload)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  ep_event_record_build (record, g_get_real_time (), id, "dup", 3, "{}", 2, payload, strlen (payload));
  g_assert_true (ep_queue_append (queue, record->data, record->len,
                                  36 + 3 + 2 + strlen (payload), &error));
  g_assert_no_error (error);
}

char *
unreachable_uri (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GError) error = NULL;
  guint16 port;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  address = g_inet_socket_address_new (loopback, 0);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  g_clear_object (&address);
  address = g_socket_get_local_address (socket, &error);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
  g_socket_close (socket, NULL);
  return g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch", port);
}
