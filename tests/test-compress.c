/* test-compress.c: EpProducer:compress-requests, gzip bodies on the wire
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Issue 20: with compress-requests the producer sends its batches gzipped
 * with Content-Encoding: gzip, and the scripted consumer (which decodes
 * bodies as ep-consumer does, tools/sqs-server/sqs-encoding.c) confirms
 * them; off by default (SQS and TIDAL's gateway take no compressed
 * bodies). Also the bytes on the wire for a typical batch (bench/README.md).
 */
#include "config.h"

#include "ep-test-util.h"

#define N_EVENTS 10   /* one full batch */

static const char *
request_header (EpTestRequest *request,
                const char    *name)
{
  return g_hash_table_lookup (request->http_headers, name);
}

/* A typical event: a playback report of about 300 bytes of JSON. */
static void
send_typical (EpProducer *producer,
              guint       n)
{
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *payload =
        g_strdup_printf ("{\"trackId\":%u,\"playbackSessionId\":\"%08x-4d2c-4f0b-9a55-1c0de%07u\","
                         "\"actualProductId\":\"%u\",\"sourceType\":\"ALBUM\",\"sourceId\":\"%u\","
                         "\"actions\":[{\"actionType\":\"PLAYBACK_START\",\"assetPosition\":0,"
                         "\"timestamp\":1733500000%03u}],\"actualQuality\":\"LOSSLESS\","
                         "\"actualAudioMode\":\"STEREO\",\"isPostPaywall\":true}",
                         100000 + i, g_random_int (), i, 100000 + i, 5000 + i, i);

      g_assert_cmpint (ep_producer_send_event (producer, "playback_session",
                                               EP_CONSENT_CATEGORY_NECESSARY, payload, NULL),
                       ==, EP_SEND_RESULT_STORED);
    }
}

/* Default: off, no Content-Encoding, the body as encoded. */
static void
test_default_off (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GError) error = NULL;
  gboolean compress = TRUE;
  EpTestRequest *request;

  ep_test_consumer_init (&consumer, "compress-off", NULL);
  producer = ep_test_consumer_new_producer (&consumer, NULL);
  g_object_get (producer, "compress-requests", &compress, NULL);
  g_assert_false (compress);
  send_typical (producer, N_EVENTS);
  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_test_server_get_n_requests (consumer.server), ==, 1);
  request = g_ptr_array_index (ep_test_server_get_requests (consumer.server), 0);
  g_assert_null (request_header (request, "content-encoding"));
  g_assert_cmpuint (request->body_bytes, ==, request->decoded_bytes);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, N_EVENTS);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

/* On: gzip, decoded and confirmed whole; the bytes on the wire. Turned
 * on at run time, for the batches read afterwards. */
static void
test_gzip (void)
{
  EpTestConsumer consumer;
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GError) error = NULL;
  EpTestRequest *request;

  ep_test_consumer_init (&consumer, "compress-on", NULL);
  producer = ep_test_consumer_new_producer (&consumer, "compress-requests", TRUE, NULL);
  send_typical (producer, N_EVENTS);
  g_assert_true (ep_test_flush (producer, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (ep_test_server_get_n_requests (consumer.server), ==, 1);
  request = g_ptr_array_index (ep_test_server_get_requests (consumer.server), 0);
  g_assert_cmpstr (request_header (request, "content-encoding"), ==, "gzip");
  g_assert_cmpuint (request->entries->len, ==, N_EVENTS);
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, N_EVENTS);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
  /* the form's percent-encoded JSON compresses well: at most half */
  g_assert_cmpuint (request->body_bytes * 2, <, request->decoded_bytes);
  g_test_message ("a batch of %u typical events: %" G_GSIZE_FORMAT " bytes as a form, %"
                  G_GSIZE_FORMAT " gzipped (%.0f %%)", N_EVENTS, request->decoded_bytes,
                  request->body_bytes, 100.0 * request->body_bytes / request->decoded_bytes);

  g_object_set (producer, "compress-requests", FALSE, NULL);
  send_typical (producer, 1);
  g_assert_true (ep_test_flush (producer, &error));
  request = g_ptr_array_index (ep_test_server_get_requests (consumer.server), 1);
  g_assert_null (request_header (request, "content-encoding"));
  g_object_set (producer, "compress-requests", TRUE, NULL);
  send_typical (producer, 1);
  g_assert_true (ep_test_flush (producer, &error));
  request = g_ptr_array_index (ep_test_server_get_requests (consumer.server), 2);
  g_assert_cmpstr (request_header (request, "content-encoding"), ==, "gzip");
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (consumer.server)->len, ==, N_EVENTS + 2);
  g_clear_object (&producer);
  ep_test_consumer_clear (&consumer);
}

int
main (int    argc,
      char **argv)
{
  ep_test_init (&argc, &argv);
  g_test_add_func ("/ep/compress/default-off", test_default_off);
  g_test_add_func ("/ep/compress/gzip", test_gzip);
  return g_test_run ();
}
