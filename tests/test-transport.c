/* test-transport.c: the SQS form encoder, the reply classifier and EpTransport
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>

#include "ep-sqs-private.h"
#include "ep-transport-private.h"
#include "ep-test-server.h"
#include "ep-test-util.h"

#define TEST_USER_AGENT "ep-glib-test/1.0"

/* 2024-01-01T00:00:00Z, the "now" of the pure tests. */
#define NOW_S G_GINT64_CONSTANT (1704067200)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static char *
load_fixture (const char *name,
              gsize      *len)
{
  const char *data_dir = g_getenv ("EP_DATA_DIR");
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  if (data_dir != NULL)
    path = g_build_filename (data_dir, "sqs", name, NULL);
  else
    path = g_test_build_filename (G_TEST_DIST, "..", "data", "sqs", name, NULL);
  g_file_get_contents (path, &contents, len, &error);
  g_assert_no_error (error);
  return contents;
}

static EpBatchReply *
parse_fixture (guint       status,
               const char *retry_after,
               const char *name)
{
  gsize len;
  g_autofree char *body = load_fixture (name, &len);

  return ep_batch_reply_parse (status, retry_after, NOW_S, body, len);
}

static EpBatchReply *
parse_string (guint       status,
              const char *body)
{
  return ep_batch_reply_parse (status, NULL, NOW_S, body, body ? strlen (body) : 0);
}

static void
assert_no_entries (EpBatchReply *reply)
{
  g_assert_cmpuint (g_hash_table_size (reply->confirmed), ==, 0);
  g_assert_cmpuint (g_hash_table_size (reply->sender_faults), ==, 0);
  g_assert_cmpuint (g_hash_table_size (reply->retryable), ==, 0);
}

static void
assert_failed_not_sqs (EpBatchReply *reply,
                       const char   *expected_fragment)
{
  g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
  assert_no_entries (reply);
  g_assert_nonnull (reply->error_message);
  g_assert_nonnull (strstr (reply->error_message, "not an SQS"));
  if (expected_fragment != NULL && strstr (reply->error_message, expected_fragment) == NULL)
    g_error ("error message \"%s\" lacks \"%s\"", reply->error_message, expected_fragment);
}

/* An event made of borrowed strings (no record behind it). */
static EpEvent
make_event (const char *id,
            const char *name,
            const char *headers_json,
            const char *payload)
{
  EpEvent event = {
    .id = id,
    .name = name,
    .headers_json = headers_json,
    .payload = payload,
    .logical_size = strlen (id) + strlen (name) + strlen (headers_json) + strlen (payload),
  };

  return event;
}

static char *
bytes_to_string (GBytes *bytes)
{
  return g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_reply_batch_result (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (200, NULL, "batch-result-mixed.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpuint (reply->http_status, ==, 200);
  g_assert_cmpint (reply->retry_after_s, ==, -1);
  g_assert_cmpuint (g_hash_table_size (reply->confirmed), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (reply->confirmed, "3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d"),
                   ==, "0a5231c7-8bff-4955-be2e-8dc7c50a25fa");
  /* Whitespace around the id is tolerated. */
  g_assert_true (g_hash_table_contains (reply->confirmed, "5b0e8a44-7d1c-4f3e-9a2b-6c5d4e3f2a1b"));
  g_assert_cmpuint (g_hash_table_size (reply->sender_faults), ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (reply->sender_faults, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"),
                   ==, "InvalidMessageContents");
  g_assert_cmpuint (g_hash_table_size (reply->retryable), ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (reply->retryable, "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a"),
                   ==, "InternalError");
  g_assert_null (reply->error_code);
  g_assert_nonnull (reply->error_message);
}

static void
test_reply_prefixed_namespace (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (200, NULL, "batch-result-prefixed.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpstr (g_hash_table_lookup (reply->confirmed, "id-1"), ==, "m-1");
  g_assert_cmpstr (g_hash_table_lookup (reply->sender_faults, "id-2"), ==, "InvalidMessageContents");
  g_assert_cmpuint (g_hash_table_size (reply->retryable), ==, 0);
}

static void
test_reply_no_namespace (void)
{
  g_autoptr(EpBatchReply) reply = parse_string (200,
    "<SendMessageBatchResponse><SendMessageBatchResult>"
    "<SendMessageBatchResultEntry><Id>a</Id><MessageId>b</MessageId></SendMessageBatchResultEntry>"
    "</SendMessageBatchResult></SendMessageBatchResponse>");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpstr (g_hash_table_lookup (reply->confirmed, "a"), ==, "b");
}

static void
test_reply_empty_result (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (200, NULL, "batch-result-empty.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  assert_no_entries (reply);
}

/* Only direct children of the result entries count: an Id elsewhere (in
 * ResponseMetadata, nested deeper) confirms nothing. */
static void
test_reply_ignores_misplaced_ids (void)
{
  g_autoptr(EpBatchReply) reply = parse_string (201,
    "<SendMessageBatchResponse xmlns=\"" EP_SQS_XMLNS "\">"
    "<SendMessageBatchResult>"
    "<SendMessageBatchResultEntry><Extra><Id>nested</Id></Extra><Id>real</Id></SendMessageBatchResultEntry>"
    "<SendMessageBatchResultEntry><MessageId>no-id</MessageId></SendMessageBatchResultEntry>"
    "<BatchResultErrorEntry><Id>no-fault-flag</Id><Code>X</Code></BatchResultErrorEntry>"
    "</SendMessageBatchResult>"
    "<SendMessageBatchResultEntry><Id>outside</Id></SendMessageBatchResultEntry>"
    "<ResponseMetadata><Id>meta</Id></ResponseMetadata>"
    "</SendMessageBatchResponse>");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpuint (g_hash_table_size (reply->confirmed), ==, 1);
  g_assert_true (g_hash_table_contains (reply->confirmed, "real"));
  /* No SenderFault: kept, as retryable. */
  g_assert_cmpuint (g_hash_table_size (reply->sender_faults), ==, 0);
  g_assert_true (g_hash_table_contains (reply->retryable, "no-fault-flag"));
}

static void
test_reply_ids_not_distinct (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (400, NULL, "error-ids-not-distinct.xml");
  g_autoptr(EpBatchReply) receiver = parse_fixture (400, NULL, "error-ids-not-distinct-receiver.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_IDS_NOT_DISTINCT);
  g_assert_cmpstr (reply->error_type, ==, "Sender");
  g_assert_cmpstr (reply->error_code, ==, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct");
  g_assert_nonnull (strstr (reply->error_message, "BatchEntryIdsNotDistinct"));
  assert_no_entries (reply);

  /* The code with Type Receiver is not the SQS reply: no ids are removed,
   * and nothing about the entries is said either. */
  g_assert_cmpint (receiver->kind, ==, EP_REPLY_FAILED);
}

static void
test_reply_batch_refused (void)
{
  g_autoptr(EpBatchReply) invalid_id = parse_fixture (400, NULL, "error-invalid-batch-entry-id.xml");
  g_autoptr(EpBatchReply) too_long = parse_fixture (413, NULL, "error-batch-too-long.xml");
  g_autoptr(EpBatchReply) html_400 = parse_fixture (400, NULL, "proxy-error.html");
  g_autoptr(EpBatchReply) empty_413 = parse_string (413, NULL);

  g_assert_cmpint (invalid_id->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_cmpstr (invalid_id->error_code, ==, "AWS.SimpleQueueService.InvalidBatchEntryId");
  g_assert_cmpint (too_long->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_cmpstr (too_long->error_code, ==, "AWS.SimpleQueueService.BatchRequestTooLong");
  /* SPEC section 4 (issue 8): any 400 but BatchEntryIdsNotDistinct is a
   * whole-batch refusal, a proxy's page included: the scheduler splits it
   * and its witness rule keeps a refuse-everything middlebox from dropping
   * anything. */
  g_assert_cmpint (html_400->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_null (html_400->error_code);
  g_assert_cmpint (empty_413->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_cmpint (empty_413->retry_after_s, ==, -1);
  g_assert_cmpstr (empty_413->error_message, ==, "Request Entity Too Large");
  g_assert_cmpstr (too_long->error_message, ==, "Request Entity Too Large: "
                   "AWS.SimpleQueueService.BatchRequestTooLong "
                   "(Batch requests cannot be longer than 262144 bytes.)");
}

static void
test_reply_auth_rejected (void)
{
  g_autoptr(EpBatchReply) unauthorized = parse_string (401, "");
  g_autoptr(EpBatchReply) forbidden = parse_fixture (403, NULL, "error-access-denied.xml");

  g_assert_cmpint (unauthorized->kind, ==, EP_REPLY_AUTH_REJECTED);
  g_assert_cmpuint (unauthorized->http_status, ==, 401);
  g_assert_cmpint (forbidden->kind, ==, EP_REPLY_AUTH_REJECTED);
  g_assert_cmpstr (forbidden->error_code, ==, "AccessDenied");
  assert_no_entries (forbidden);
}

static void
test_reply_throttled (void)
{
  g_autoptr(EpBatchReply) seconds = parse_fixture (429, "120", "error-throttled.xml");
  g_autoptr(EpBatchReply) date = parse_fixture (503, "Mon, 01 Jan 2024 00:05:00 GMT", "proxy-error.html");
  g_autoptr(EpBatchReply) none = parse_string (503, "");
  g_autoptr(EpBatchReply) garbage = ep_batch_reply_parse (429, "soon", NOW_S, "", 0);

  g_assert_cmpint (seconds->kind, ==, EP_REPLY_THROTTLED);
  g_assert_cmpint (seconds->retry_after_s, ==, 120);
  g_assert_cmpstr (seconds->error_code, ==, "RequestThrottled");
  g_assert_cmpint (date->kind, ==, EP_REPLY_THROTTLED);
  g_assert_cmpint (date->retry_after_s, ==, 300);
  g_assert_cmpint (none->kind, ==, EP_REPLY_THROTTLED);
  g_assert_cmpint (none->retry_after_s, ==, -1);
  g_assert_cmpint (garbage->kind, ==, EP_REPLY_THROTTLED);
  g_assert_cmpint (garbage->retry_after_s, ==, -1);
}

/* The other 4xx are whole-batch refusals too, except 401/403 (credentials),
 * 404 (a wrong URI), 408 (a timeout) and 429 (throttling). */
static void
test_reply_other_4xx_refused (void)
{
  const guint refused[] = { 405, 409, 410, 411, 414, 415, 418, 422, 431, 499 };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(EpBatchReply) reply = ep_batch_reply_parse (refused[i], "30", NOW_S, "<x/>", 4);

      g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_REFUSED);
      g_assert_cmpint (reply->retry_after_s, ==, -1);
      assert_no_entries (reply);
    }
}

static void
test_reply_failed_status (void)
{
  const guint statuses[] = { 500, 502, 504, 404, 408, 302, 301, 100 };

  for (guint i = 0; i < G_N_ELEMENTS (statuses); i++)
    {
      g_autoptr(EpBatchReply) reply = ep_batch_reply_parse (statuses[i], "30", NOW_S,
                                                            "<x/>", 4);

      g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
      g_assert_cmpuint (reply->http_status, ==, statuses[i]);
      /* Retry-After counts only with 429/503. */
      g_assert_cmpint (reply->retry_after_s, ==, -1);
      g_assert_cmpstr (reply->error_message, ==, soup_status_get_phrase (statuses[i]));
      assert_no_entries (reply);
    }
}

/* A 5xx carrying a SendMessageBatchResponse still confirms nothing. */
static void
test_reply_error_status_ignores_entries (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (500, NULL, "batch-result-mixed.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
  assert_no_entries (reply);
}

static void
test_reply_not_sqs (void)
{
  const struct {
    const char *fixture;
    const char *fragment;
  } cases[] = {
    { "proxy-error.html", NULL },
    { "proxy-error-xhtml.html", "<html>" },
    { "truncated.xml", NULL },
    { "wrong-root.xml", "SendMessageResponse" },
    { "wrong-namespace.xml", "namespace" },
    { "entity-expansion.xml", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(EpBatchReply) reply = parse_fixture (200, NULL, cases[i].fixture);

      g_test_message ("%s: %s", cases[i].fixture, reply->error_message);
      assert_failed_not_sqs (reply, cases[i].fragment);
    }
}

static void
test_reply_empty_body (void)
{
  g_autoptr(EpBatchReply) null_body = ep_batch_reply_parse (200, NULL, NOW_S, NULL, 0);
  g_autoptr(EpBatchReply) empty = parse_string (200, "");
  g_autoptr(EpBatchReply) blank = parse_string (204, " \r\n\t ");
  g_autoptr(EpBatchReply) text = parse_string (200, "OK");
  g_autoptr(EpBatchReply) json = parse_string (200, "{\"Successful\": []}");

  assert_failed_not_sqs (null_body, "empty");
  assert_failed_not_sqs (empty, "empty");
  assert_failed_not_sqs (blank, "empty");
  assert_failed_not_sqs (text, NULL);
  assert_failed_not_sqs (json, NULL);
}

static void
test_reply_error_response_on_2xx (void)
{
  g_autoptr(EpBatchReply) reply = parse_fixture (200, NULL, "error-ids-not-distinct.xml");

  g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
  assert_no_entries (reply);
  g_assert_nonnull (strstr (reply->error_message, "ErrorResponse"));
}

/* Bodies that are not text at all: NUL bytes, invalid UTF-8, control
 * characters; the message stays printable. */
static void
test_reply_binary_garbage (void)
{
  static const char garbage[] = "<SendMessageBatchResponse>\0\xff\xfe\x01<Id>x</Id>";
  g_autoptr(EpBatchReply) reply = ep_batch_reply_parse (200, NULL, NOW_S, garbage, sizeof garbage - 1);
  g_autoptr(EpBatchReply) error_reply = ep_batch_reply_parse (400, NULL, NOW_S, garbage, sizeof garbage - 1);

  g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
  /* Any 400 is a whole-batch refusal (SPEC section 4), garbage or not. */
  g_assert_cmpint (error_reply->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_true (g_utf8_validate (error_reply->error_message, -1, NULL));
  g_assert_true (g_utf8_validate (reply->error_message, -1, NULL));
  for (const char *p = reply->error_message; *p != '\0'; p = g_utf8_next_char (p))
    g_assert_false (g_unichar_iscntrl (g_utf8_get_char (p)));
}

/* Server text in the log line is bounded and free of control characters. */
static void
test_reply_long_message (void)
{
  g_autofree char *filler = g_strnfill (5000, 'x');
  g_autofree char *body = g_strdup_printf ("<ErrorResponse xmlns=\"" EP_SQS_XMLNS "\"><Error>"
                                           "<Type>Receiver</Type><Code>Internal&#10;Error</Code>"
                                           "<Message>line1&#13;&#10;%s</Message></Error></ErrorResponse>",
                                           filler);
  g_autoptr(EpBatchReply) reply = parse_string (500, body);

  g_assert_cmpint (reply->kind, ==, EP_REPLY_FAILED);
  g_assert_cmpstr (reply->error_code, ==, "Internal\nError");
  g_assert_cmpuint (strlen (reply->error_message), <, 500);
  g_assert_true (g_str_has_prefix (reply->error_message, "Internal Server Error: Internal?Error (line1??xxx"));
  g_assert_true (g_str_has_suffix (reply->error_message, "...)"));
}

/* A large body of many entries parses in one pass. */
static void
test_reply_many_entries (void)
{
  g_autoptr(GString) xml = g_string_new ("<SendMessageBatchResponse xmlns=\"" EP_SQS_XMLNS "\">"
                                         "<SendMessageBatchResult>");
  g_autoptr(EpBatchReply) reply = NULL;

  for (guint i = 0; i < 1000; i++)
    g_string_append_printf (xml, "<SendMessageBatchResultEntry><Id>id-%u</Id>"
                            "<MessageId>m-%u</MessageId></SendMessageBatchResultEntry>", i, i);
  g_string_append (xml, "</SendMessageBatchResult></SendMessageBatchResponse>");
  reply = ep_batch_reply_parse (200, NULL, NOW_S, xml->str, xml->len);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpuint (g_hash_table_size (reply->confirmed), ==, 1000);
  g_assert_cmpstr (g_hash_table_lookup (reply->confirmed, "id-999"), ==, "m-999");
}

/* ------------------------------------------------------------------------ */
/* Retry-After                                                               */
/* ------------------------------------------------------------------------ */

static void
test_retry_after (void)
{
  const struct {
    const char *value;
    gint64      expected;
  } cases[] = {
    { "0", 0 },
    { "1", 1 },
    { "120", 120 },
    { "  45  ", 45 },
    { "3600", 3600 },
    { "3601", EP_RETRY_AFTER_MAX_SECONDS },
    { "86400", EP_RETRY_AFTER_MAX_SECONDS },
    { "99999999999999999999999999", EP_RETRY_AFTER_MAX_SECONDS },
    /* IMF-fixdate, RFC 850 and asctime, relative to NOW_S. */
    { "Mon, 01 Jan 2024 00:00:30 GMT", 30 },
    { "Monday, 01-Jan-24 00:10:00 GMT", 600 },
    { "Mon Jan  1 00:01:00 2024", 60 },
    { "Mon, 01 Jan 2024 05:00:00 GMT", EP_RETRY_AFTER_MAX_SECONDS },
    { "Sun, 31 Dec 2023 23:00:00 GMT", 0 },
    { "Mon, 01 Jan 2024 00:00:00 GMT", 0 },
    { "Sun, 06 Nov 1994 08:49:37 GMT", 0 },
    /* Garbage. */
    { "", -1 },
    { "   ", -1 },
    { "soon", -1 },
    { "-5", -1 },
    { "+5", -1 },
    { "1.5", -1 },
    { "12 seconds", -1 },
    { "0x10", -1 },
    { "2024-01-01T00:05:00Z", -1 },
    { "Mon, 99 Jan 2024 00:00:30 GMT", -1 },
  };

  g_assert_cmpint (ep_parse_retry_after (NULL, NOW_S), ==, -1);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      gint64 got = ep_parse_retry_after (cases[i].value, NOW_S);

      if (got != cases[i].expected)
        g_error ("Retry-After \"%s\": got %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT,
                 cases[i].value, got, cases[i].expected);
    }
}

/* ------------------------------------------------------------------------ */
/* The form body                                                             */
/* ------------------------------------------------------------------------ */

static const char * const entry_fields[] = {
  "Id",
  "MessageBody",
  "MessageAttribute.1.Name",
  "MessageAttribute.1.Value.StringValue",
  "MessageAttribute.1.Value.DataType",
  "MessageAttribute.2.Name",
  "MessageAttribute.2.Value.StringValue",
  "MessageAttribute.2.Value.DataType",
};

static void
test_encode_order (void)
{
  EpEvent events[10];
  const EpEvent *pointers[10];
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *text = NULL;
  g_auto(GStrv) pairs = NULL;

  for (guint i = 0; i < 10; i++)
    {
      g_ptr_array_add (ids, g_strdup_printf ("id-%u", i));
      events[i] = make_event (g_ptr_array_index (ids, i), "name", "{}", "{}");
      pointers[i] = &events[i];
    }
  body = ep_sqs_encode_batch (pointers, 10);
  text = bytes_to_string (body);
  pairs = g_strsplit (text, "&", -1);

  g_assert_cmpuint (g_strv_length (pairs), ==, 10 * G_N_ELEMENTS (entry_fields));
  for (guint n = 0; n < 10; n++)
    for (guint f = 0; f < G_N_ELEMENTS (entry_fields); f++)
      {
        const char *pair = pairs[n * G_N_ELEMENTS (entry_fields) + f];
        g_autofree char *prefix = g_strdup_printf ("SendMessageBatchRequestEntry.%u.%s=",
                                                   n + 1, entry_fields[f]);

        if (!g_str_has_prefix (pair, prefix))
          g_error ("pair %u.%u is \"%s\", expected the key %s", n + 1, f, pair, prefix);
      }
  /* No Action or Version parameter (SPEC section 8). */
  g_assert_null (strstr (text, "Action="));
  g_assert_null (strstr (text, "Version="));
}

static void
test_encode_values (void)
{
  EpEvent event = make_event ("3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d", "playback_session",
                              "{\"app-name\":\"demo\"}", "{\"a\":1}");
  const EpEvent *events[] = { &event };
  g_autoptr(GBytes) body = ep_sqs_encode_batch (events, 1);
  g_autofree char *text = bytes_to_string (body);

  g_assert_cmpstr (text, ==,
                   "SendMessageBatchRequestEntry.1.Id=3f1c0b6e-2b1e-4c55-9b7e-0d1f2a3b4c5d"
                   "&SendMessageBatchRequestEntry.1.MessageBody=%7B%22a%22%3A1%7D"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=Name"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=playback_session"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Name=Headers"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.StringValue=%7B%22app-name%22%3A%22demo%22%7D"
                   "&SendMessageBatchRequestEntry.1.MessageAttribute.2.Value.DataType=String");
}

static void
test_encode_escaping (void)
{
  EpEvent event = make_event ("id_1-A", "n a+m=e&x",
                              "{\"k\":\"50% off\"}",
                              "a&b=c+d e%f\ng\r\t\"'<>#?/;~._-\xc3\xa9\xe2\x82\xac\xf0\x9f\x8e\xb5");
  const EpEvent *events[] = { &event };
  g_autoptr(GBytes) body = ep_sqs_encode_batch (events, 1);
  g_autofree char *text = bytes_to_string (body);

  g_assert_nonnull (strstr (text, ".1.MessageBody="
                                  "a%26b%3Dc%2Bd%20e%25f%0Ag%0D%09%22%27%3C%3E%23%3F%2F%3B~._-"
                                  "%C3%A9%E2%82%AC%F0%9F%8E%B5&"));
  g_assert_nonnull (strstr (text, ".1.Value.StringValue=n%20a%2Bm%3De%26x&"));
  g_assert_nonnull (strstr (text, ".2.Value.StringValue=%7B%22k%22%3A%2250%25%20off%22%7D&"));
  /* Only unreserved characters, '%', '=' and '&' appear in the body. */
  for (const char *p = text; *p != '\0'; p++)
    g_assert_true (g_ascii_isalnum (*p) || strchr ("-._~%=&", *p) != NULL);
}

static void
test_encode_round_trip (void)
{
  const char *payloads[] = {
    "plain",
    "",
    "a&b=c+d e%f\ng\r\n",
    "%%%25%2B++  ",
    "\"quoted\" <xml> & 'apostrophe'",
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\xb5 \xe4\xb8\xad\xe6\x96\x87",
    "{\"nested\":{\"a\":[1,2,3],\"s\":\"x=y&z\"}}",
  };
  EpEvent events[G_N_ELEMENTS (payloads)];
  const EpEvent *pointers[G_N_ELEMENTS (payloads)];
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) body = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GHashTable) form = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_ptr_array_add (ids, g_uuid_string_random ());
      events[i] = make_event (g_ptr_array_index (ids, i), payloads[(i + 1) % G_N_ELEMENTS (payloads)],
                              "{\"client-id\":\"a+b&c=d\",\"x\":\"\xc3\xa9\"}", payloads[i]);
      pointers[i] = &events[i];
    }
  body = ep_sqs_encode_batch (pointers, G_N_ELEMENTS (payloads));
  text = bytes_to_string (body);
  form = soup_form_decode (text);

  g_assert_cmpuint (g_hash_table_size (form), ==, G_N_ELEMENTS (payloads) * G_N_ELEMENTS (entry_fields));
  for (guint i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_autofree char *id_key = g_strdup_printf ("SendMessageBatchRequestEntry.%u.Id", i + 1);
      g_autofree char *body_key = g_strdup_printf ("SendMessageBatchRequestEntry.%u.MessageBody", i + 1);
      g_autofree char *name_key = g_strdup_printf ("SendMessageBatchRequestEntry.%u.MessageAttribute.1.Value.StringValue", i + 1);
      g_autofree char *headers_key = g_strdup_printf ("SendMessageBatchRequestEntry.%u.MessageAttribute.2.Value.StringValue", i + 1);

      g_assert_cmpstr (g_hash_table_lookup (form, id_key), ==, g_ptr_array_index (ids, i));
      g_assert_cmpstr (g_hash_table_lookup (form, body_key), ==, payloads[i]);
      g_assert_cmpstr (g_hash_table_lookup (form, name_key), ==, events[i].name);
      g_assert_cmpstr (g_hash_table_lookup (form, headers_key), ==, events[i].headers_json);
    }
}

static void
test_encode_invalid_count (void)
{
  if (g_test_subprocess ())
    {
      EpEvent event = make_event ("a", "b", "{}", "c");
      const EpEvent *events[11];

      for (guint i = 0; i < 11; i++)
        events[i] = &event;
      g_assert_null (ep_sqs_encode_batch (events, 11));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*n_events*");
}

/* ------------------------------------------------------------------------ */
/* EpTransport against ep-test-server                                        */
/* ------------------------------------------------------------------------ */

typedef struct {
  EpTestServer *server;
  EpTransport  *transport;
  char         *uri;
  GBytes       *body;      /* one event, id "id-1", name "ev" */
} PostFixture;

static void
post_fixture_set_up (PostFixture   *fixture,
                     gconstpointer  user_data)
{
  EpEvent event = make_event ("id-1", "ev", "{\"client-id\":\"c\"}", "{\"n\":1}");
  const EpEvent *events[] = { &event };

  fixture->server = ep_test_server_new ();
  fixture->transport = ep_transport_new (TEST_USER_AGENT, 10000);
  fixture->uri = ep_test_server_dup_uri (fixture->server, "/api/event-batch");
  fixture->body = ep_sqs_encode_batch (events, 1);
}

static void
post_fixture_tear_down (PostFixture   *fixture,
                        gconstpointer  user_data)
{
  g_assert_finalize_object (fixture->transport);
  ep_test_server_free (fixture->server);
  g_free (fixture->uri);
  g_bytes_unref (fixture->body);
}

/* Posts and waits; returns the reply or NULL with @error set. */
static EpBatchReply *
post_and_wait (PostFixture   *fixture,
               const char    *uri,
               const char    *token,
               const char    *client_id,
               GCancellable  *cancellable,
               GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  ep_transport_post_async (fixture->transport, uri ? uri : fixture->uri, token, client_id,
                           fixture->body, FALSE, cancellable, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  return ep_transport_post_finish (fixture->transport, result, error);
}

static EpTestRequest *
last_request (PostFixture *fixture)
{
  GPtrArray *requests = ep_test_server_get_requests (fixture->server);

  g_assert_cmpuint (requests->len, >, 0);
  return g_ptr_array_index (requests, requests->len - 1);
}

static void
test_post_success (PostFixture   *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  EpTestRequest *request;
  EpTestEntry *entry;

  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_cmpuint (reply->http_status, ==, 200);
  g_assert_true (g_hash_table_contains (reply->confirmed, "id-1"));

  request = last_request (fixture);
  g_assert_cmpstr (request->path, ==, "/api/event-batch");
  g_assert_cmpstr (g_hash_table_lookup (request->http_headers, "content-type"), ==,
                   "application/x-www-form-urlencoded");
  g_assert_nonnull (strstr (g_hash_table_lookup (request->http_headers, "user-agent"), TEST_USER_AGENT));
  g_assert_cmpuint (request->form_keys->len, ==, G_N_ELEMENTS (entry_fields));
  g_assert_cmpstr (g_ptr_array_index (request->form_keys, 0), ==, "SendMessageBatchRequestEntry.1.Id");
  g_assert_cmpuint (request->entries->len, ==, 1);
  entry = g_ptr_array_index (request->entries, 0);
  g_assert_cmpstr (entry->id, ==, "id-1");
  g_assert_cmpstr (entry->name, ==, "ev");
  g_assert_cmpstr (entry->body, ==, "{\"n\":1}");
  g_assert_cmpstr (entry->headers_json, ==, "{\"client-id\":\"c\"}");
}

static void
test_post_bearer_token (PostFixture   *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, NULL, "tok-123", "client-9", NULL, &error);
  EpTestRequest *request = last_request (fixture);

  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (request->http_headers, "authorization"), ==, "Bearer tok-123");
  g_assert_false (g_hash_table_contains (request->http_headers, "x-tidal-token"));
}

static void
test_post_client_id (PostFixture   *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, NULL, NULL, "client-9", NULL, &error);
  EpTestRequest *request = last_request (fixture);

  g_assert_no_error (error);
  g_assert_cmpstr (g_hash_table_lookup (request->http_headers, "x-tidal-token"), ==, "client-9");
  g_assert_false (g_hash_table_contains (request->http_headers, "authorization"));
}

static void
test_post_anonymous (PostFixture   *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, NULL, "", "", NULL, &error);
  EpTestRequest *request = last_request (fixture);

  g_assert_no_error (error);
  g_assert_false (g_hash_table_contains (request->http_headers, "authorization"));
  g_assert_false (g_hash_table_contains (request->http_headers, "x-tidal-token"));
}

static void
test_post_entry_errors (PostFixture   *fixture,
                        gconstpointer  user_data)
{
  const char *faulty[] = { "bad", NULL };
  const char *flaky[] = { "flaky", NULL };
  EpEvent events[3] = {
    make_event ("id-ok", "ev", "{}", "1"),
    make_event ("id-bad", "bad", "{}", "2"),
    make_event ("id-flaky", "flaky", "{}", "3"),
  };
  const EpEvent *pointers[] = { &events[0], &events[1], &events[2] };
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  ep_test_server_set_sender_fault_names (fixture->server, faulty);
  ep_test_server_set_retryable_names (fixture->server, flaky);
  g_bytes_unref (fixture->body);
  fixture->body = ep_sqs_encode_batch (pointers, 3);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_true (g_hash_table_contains (reply->confirmed, "id-ok"));
  g_assert_cmpstr (g_hash_table_lookup (reply->sender_faults, "id-bad"), ==, "InvalidMessageContents");
  g_assert_cmpstr (g_hash_table_lookup (reply->retryable, "id-flaky"), ==, "InternalError");
  g_assert_cmpuint (g_hash_table_size (reply->confirmed), ==, 1);
}

static void
test_post_poison (PostFixture   *fixture,
                  gconstpointer  user_data)
{
  const char *poison[] = { "ev", NULL };
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  ep_test_server_set_poison_names (fixture->server, poison, 413);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_REFUSED);
  g_assert_cmpuint (reply->http_status, ==, 413);
  assert_no_entries (reply);
}

static void
test_post_statuses (PostFixture   *fixture,
                    gconstpointer  user_data)
{
  const struct {
    guint        status;
    const char  *retry_after;
    EpReplyKind  kind;
    gint64       retry_after_s;
  } cases[] = {
    { 500, NULL, EP_REPLY_FAILED, -1 },
    { 502, "10", EP_REPLY_FAILED, -1 },
    { 429, "7", EP_REPLY_THROTTLED, 7 },
    { 503, "99999", EP_REPLY_THROTTLED, EP_RETRY_AFTER_MAX_SECONDS },
    { 503, NULL, EP_REPLY_THROTTLED, -1 },
    { 401, NULL, EP_REPLY_AUTH_REJECTED, -1 },
    { 403, NULL, EP_REPLY_AUTH_REJECTED, -1 },
    { 400, NULL, EP_REPLY_BATCH_REFUSED, -1 },
    { 413, NULL, EP_REPLY_BATCH_REFUSED, -1 },
    { 404, NULL, EP_REPLY_FAILED, -1 },
    { 408, NULL, EP_REPLY_FAILED, -1 },
    { 302, NULL, EP_REPLY_FAILED, -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EpBatchReply) reply = NULL;

      ep_test_server_push_reply (fixture->server, cases[i].status, "text/html",
                                 "<html><body>nope</body></html>", cases[i].retry_after);
      reply = post_and_wait (fixture, NULL, "secret-token", NULL, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (reply->http_status, ==, cases[i].status);
      g_assert_cmpint (reply->kind, ==, cases[i].kind);
      g_assert_cmpint (reply->retry_after_s, ==, cases[i].retry_after_s);
      /* The token never reaches a log line. */
      g_assert_null (strstr (reply->error_message, "secret-token"));
    }
  /* A 302 is not followed. */
  g_assert_cmpuint (ep_test_server_get_n_requests (fixture->server), ==, G_N_ELEMENTS (cases));
}

static void
test_post_ids_not_distinct (PostFixture   *fixture,
                            gconstpointer  user_data)
{
  EpEvent event = make_event ("same", "ev", "{}", "x");
  const EpEvent *events[] = { &event, &event };
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  g_bytes_unref (fixture->body);
  fixture->body = ep_sqs_encode_batch (events, 2);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_IDS_NOT_DISTINCT);
}

static void
test_post_html_on_200 (PostFixture   *fixture,
                       gconstpointer  user_data)
{
  gsize len;
  g_autofree char *html = load_fixture ("proxy-error.html", &len);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  ep_test_server_push_reply (fixture->server, 200, "text/html", html, NULL);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  assert_failed_not_sqs (reply, NULL);
}

/* A port nothing listens on: bound, then closed. */
static guint16
unused_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_no_error (error);
  g_socket_bind (socket, any_port, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  g_socket_close (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_post_connection_refused (PostFixture   *fixture,
                              gconstpointer  user_data)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api", unused_port ());
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, uri, "tok", NULL, NULL, &error);

  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_null (strstr (error->message, "tok"));
}

static void
test_post_invalid_uri (PostFixture   *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = post_and_wait (fixture, "not a uri", NULL, NULL, NULL, &error);

  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_post_reset (PostFixture   *fixture,
                 gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  /* On a fresh connection libsoup does not resend, so the reset is seen. */
  ep_test_server_push_reset (fixture->server);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_assert_cmpuint (ep_test_server_get_n_requests (fixture->server), ==, 1);
}

static void
test_post_reset_mid_reply (PostFixture   *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;
  g_autoptr(EpBatchReply) next = NULL;

  ep_test_server_push_reset_mid_reply (fixture->server);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  g_clear_error (&error);

  /* The transport recovers on a new connection. */
  next = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (next->kind, ==, EP_REPLY_BATCH_RESULT);
}

/* A reset on a reused keep-alive connection: libsoup 3.2 reports it (it
 * could also resend the idempotent request; then the server sees it twice
 * and the second attempt is answered). Never a hang, never a timeout. */
static void
test_post_reset_reused (PostFixture   *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) first = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_autoptr(EpBatchReply) second = NULL;

  g_assert_no_error (error);
  ep_test_server_push_reset (fixture->server);
  second = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  if (second != NULL)
    {
      g_assert_cmpint (second->kind, ==, EP_REPLY_BATCH_RESULT);
      g_assert_cmpuint (ep_test_server_get_n_requests (fixture->server), ==, 3);
    }
  else
    {
      g_assert_true (error->domain == G_IO_ERROR);
      g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
      g_assert_cmpuint (ep_test_server_get_n_requests (fixture->server), ==, 2);
    }
}

/* A hung consumer times out with G_IO_ERROR_TIMED_OUT, near the timeout,
 * while the main context keeps running. */
static void
test_post_timeout (PostFixture   *fixture,
                   gconstpointer  user_data)
{
  const guint timeout_ms = 300;
  EpTestTicker ticker;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;
  gint64 start, elapsed_ms;

  ep_transport_set_timeout_for_testing (fixture->transport, timeout_ms);
  ep_test_server_push_hang (fixture->server);
  ep_test_ticker_start (&ticker);

  start = g_get_monotonic_time ();
  ep_transport_post_async (fixture->transport, fixture->uri, NULL, NULL, fixture->body, FALSE,
                           NULL, ep_test_store_result, &result);
  ep_test_wait_result (&result);
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  ep_test_ticker_stop (&ticker);

  reply = ep_transport_post_finish (fixture->transport, result, &error);
  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_test_message ("timed out after %" G_GINT64_FORMAT " ms; %u ticks, longest gap %" G_GINT64_FORMAT " us",
                  elapsed_ms, ticker.ticks, ticker.longest_gap_us);
  g_assert_cmpint (elapsed_ms, >=, timeout_ms - 10);
  g_assert_cmpint (elapsed_ms, <, timeout_ms + 5000);
  g_assert_cmpuint (ticker.ticks, >=, 10);
  g_assert_cmpint (ticker.longest_gap_us, <, 500 * 1000);
  g_assert_cmpuint (ep_test_server_get_n_hung (fixture->server), ==, 1);
  ep_test_server_release_hung (fixture->server);
}

static void
test_post_cancel (PostFixture   *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  ep_test_server_push_hang (fixture->server);
  ep_transport_post_async (fixture->transport, fixture->uri, NULL, NULL, fixture->body, FALSE,
                           cancellable, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fixture->server) == 1);
  g_cancellable_cancel (cancellable);
  ep_test_wait_result (&result);

  reply = ep_transport_post_finish (fixture->transport, result, &error);
  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_post_cancelled_before (PostFixture   *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  g_cancellable_cancel (cancellable);
  reply = post_and_wait (fixture, NULL, NULL, NULL, cancellable, &error);
  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_post_abort (PostFixture   *fixture,
                 gconstpointer  user_data)
{
  GAsyncResult *results[3] = { NULL, };
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) after = NULL;

  ep_test_server_set_default (fixture->server, EP_TEST_ACTION_HANG, 0, NULL, NULL);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    ep_transport_post_async (fixture->transport, fixture->uri, NULL, NULL, fixture->body, FALSE,
                             NULL, ep_test_store_result, &results[i]);
  EP_TEST_SPIN_UNTIL (ep_test_server_get_n_hung (fixture->server) == G_N_ELEMENTS (results));
  ep_transport_abort_for_testing (fixture->transport);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autoptr(GError) local_error = NULL;

      ep_test_wait_result (&results[i]);
      g_assert_null (ep_transport_post_finish (fixture->transport, results[i], &local_error));
      g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      g_clear_object (&results[i]);
    }

  /* The transport still works after an abort. */
  ep_test_server_set_default (fixture->server, EP_TEST_ACTION_ACCEPT, 0, NULL, NULL);
  after = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (after->kind, ==, EP_REPLY_BATCH_RESULT);
}

/* Sequential posts reuse one connection (SOUP_MESSAGE_IDEMPOTENT). */
static void
test_post_connection_reuse (PostFixture   *fixture,
                            gconstpointer  user_data)
{
  for (guint i = 0; i < 8; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EpBatchReply) reply = post_and_wait (fixture, NULL, "tok", NULL, NULL, &error);

      g_assert_no_error (error);
      g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
    }
  g_assert_cmpuint (ep_test_server_get_n_requests (fixture->server), ==, 8);
  g_assert_cmpuint (ep_test_server_get_n_connections (fixture->server), ==, 1);
}

/* Several posts in flight at once all complete. */
static void
test_post_concurrent (PostFixture   *fixture,
                      gconstpointer  user_data)
{
  GAsyncResult *results[4] = { NULL, };

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    ep_transport_post_async (fixture->transport, fixture->uri, NULL, NULL, fixture->body, FALSE,
                             NULL, ep_test_store_result, &results[i]);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EpBatchReply) reply = NULL;

      ep_test_wait_result (&results[i]);
      reply = ep_transport_post_finish (fixture->transport, results[i], &error);
      g_assert_no_error (error);
      g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
      g_clear_object (&results[i]);
    }
  g_assert_cmpuint (ep_test_server_get_confirmed_ids (fixture->server)->len, ==, 4);
}

/* An SQS reply padded with blanks to exactly @size bytes. */
static char *
padded_reply (gsize size)
{
  const char *ids[] = { "id-1", NULL };
  g_autofree char *xml = ep_test_sqs_accept_body (ids);
  GString *body = g_string_new (xml);

  g_assert_cmpuint (body->len, <=, size);
  while (body->len < size)
    g_string_append_c (body, ' ');
  return g_string_free (body, FALSE);
}

/* The reply limit is 1 MiB: exactly that is read and parsed; one byte more
 * fails the request (from its Content-Length, before reading it). */
static void
test_post_reply_limit (PostFixture   *fixture,
                       gconstpointer  user_data)
{
  g_autofree char *at_limit = padded_reply (EP_TRANSPORT_MAX_REPLY_BYTES);
  g_autofree char *over_limit = padded_reply (EP_TRANSPORT_MAX_REPLY_BYTES + 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;
  g_autoptr(EpBatchReply) refused = NULL;

  g_assert_cmpuint (EP_TRANSPORT_MAX_REPLY_BYTES, ==, 1024 * 1024);
  ep_test_server_push_reply (fixture->server, 200, "text/xml", at_limit, NULL);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_true (g_hash_table_contains (reply->confirmed, "id-1"));

  ep_test_server_push_reply (fixture->server, 200, "text/xml", over_limit, NULL);
  refused = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_nonnull (strstr (error->message, "larger than 1048576 bytes"));

  /* The connection is still usable afterwards. */
  g_clear_error (&error);
  g_clear_pointer (&reply, ep_batch_reply_free);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
}

/* A body without a length that never ends is cut at the limit, as a
 * failure (not a timeout: the request timeout is far away), having read
 * little more than the limit: it is never buffered whole. */
static void
test_post_endless_reply (PostFixture   *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpBatchReply) reply = NULL;

  ep_transport_set_timeout_for_testing (fixture->transport, 120000);
  ep_test_server_push_endless (fixture->server);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  /* The server stops writing once the client is gone: the socket buffers
   * hold a few MiB at most, far from the 64 MiB it would write. */
  g_assert_cmpuint (ep_test_server_get_endless_bytes (fixture->server), <, 24 * 1024 * 1024);

  g_clear_error (&error);
  reply = post_and_wait (fixture, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
}

/* ------------------------------------------------------------------------ */

/* Issue 18, item 5: the thread that parsed a reply hands it back without
 * the main context's lock. A GTask run in a thread took it (in
 * g_source_attach()), and a parse thread that lost its CPU while holding
 * it kept the main thread asleep for milliseconds. Here the test's thread
 * holds the context's lock itself while the parse thread hands its reply
 * back: the hand-back must complete regardless (on the old code it waited
 * for the lock until the test gave up). */

static void
test_post_hand_back_unlocked (PostFixture   *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(EpBatchReply) reply = NULL;
  g_autoptr(GError) error = NULL;
  static EpTestHandBack hb;
  gboolean handed_back;

  if (!ep_test_hand_back_start (&hb))
    return;
  ep_transport_post_async (fixture->transport, fixture->uri, NULL, NULL, fixture->body, FALSE,
                           NULL, ep_test_store_result, &result);
  EP_TEST_SPIN_UNTIL (ep_test_hand_back_stopped (&hb));
  handed_back = ep_test_hand_back_with_context_locked (&hb, context);
  ep_test_hand_back_end (&hb);
  g_assert_true (handed_back);

  ep_test_wait_result (&result);
  reply = ep_transport_post_finish (fixture->transport, result, &error);
  g_assert_no_error (error);
  g_assert_cmpint (reply->kind, ==, EP_REPLY_BATCH_RESULT);
  g_assert_true (g_hash_table_contains (reply->confirmed, "id-1"));
}

#define ADD_POST_TEST(path, func) \
  g_test_add ("/ep/transport/post/" path, PostFixture, NULL, \
              post_fixture_set_up, func, post_fixture_tear_down)

int
main (int    argc,
      char **argv)
{
  ep_test_init (&argc, &argv);

  g_test_add_func ("/ep/transport/reply/batch-result", test_reply_batch_result);
  g_test_add_func ("/ep/transport/reply/prefixed-namespace", test_reply_prefixed_namespace);
  g_test_add_func ("/ep/transport/reply/no-namespace", test_reply_no_namespace);
  g_test_add_func ("/ep/transport/reply/empty-result", test_reply_empty_result);
  g_test_add_func ("/ep/transport/reply/misplaced-ids", test_reply_ignores_misplaced_ids);
  g_test_add_func ("/ep/transport/reply/ids-not-distinct", test_reply_ids_not_distinct);
  g_test_add_func ("/ep/transport/reply/batch-refused", test_reply_batch_refused);
  g_test_add_func ("/ep/transport/reply/auth-rejected", test_reply_auth_rejected);
  g_test_add_func ("/ep/transport/reply/throttled", test_reply_throttled);
  g_test_add_func ("/ep/transport/reply/failed-status", test_reply_failed_status);
  g_test_add_func ("/ep/transport/reply/other-4xx-refused", test_reply_other_4xx_refused);
  g_test_add_func ("/ep/transport/reply/error-status-ignores-entries", test_reply_error_status_ignores_entries);
  g_test_add_func ("/ep/transport/reply/not-sqs", test_reply_not_sqs);
  g_test_add_func ("/ep/transport/reply/empty-body", test_reply_empty_body);
  g_test_add_func ("/ep/transport/reply/error-response-on-2xx", test_reply_error_response_on_2xx);
  g_test_add_func ("/ep/transport/reply/binary-garbage", test_reply_binary_garbage);
  g_test_add_func ("/ep/transport/reply/long-message", test_reply_long_message);
  g_test_add_func ("/ep/transport/reply/many-entries", test_reply_many_entries);
  g_test_add_func ("/ep/transport/retry-after", test_retry_after);
  g_test_add_func ("/ep/transport/encode/order", test_encode_order);
  g_test_add_func ("/ep/transport/encode/values", test_encode_values);
  g_test_add_func ("/ep/transport/encode/escaping", test_encode_escaping);
  g_test_add_func ("/ep/transport/encode/round-trip", test_encode_round_trip);
  g_test_add_func ("/ep/transport/encode/invalid-count", test_encode_invalid_count);

  ADD_POST_TEST ("success", test_post_success);
  ADD_POST_TEST ("bearer-token", test_post_bearer_token);
  ADD_POST_TEST ("client-id", test_post_client_id);
  ADD_POST_TEST ("anonymous", test_post_anonymous);
  ADD_POST_TEST ("entry-errors", test_post_entry_errors);
  ADD_POST_TEST ("poison", test_post_poison);
  ADD_POST_TEST ("statuses", test_post_statuses);
  ADD_POST_TEST ("ids-not-distinct", test_post_ids_not_distinct);
  ADD_POST_TEST ("html-on-200", test_post_html_on_200);
  ADD_POST_TEST ("connection-refused", test_post_connection_refused);
  ADD_POST_TEST ("invalid-uri", test_post_invalid_uri);
  ADD_POST_TEST ("reset", test_post_reset);
  ADD_POST_TEST ("reset-mid-reply", test_post_reset_mid_reply);
  ADD_POST_TEST ("reset-reused", test_post_reset_reused);
  ADD_POST_TEST ("timeout", test_post_timeout);
  ADD_POST_TEST ("cancel", test_post_cancel);
  ADD_POST_TEST ("cancelled-before", test_post_cancelled_before);
  ADD_POST_TEST ("abort", test_post_abort);
  ADD_POST_TEST ("connection-reuse", test_post_connection_reuse);
  ADD_POST_TEST ("concurrent", test_post_concurrent);
  ADD_POST_TEST ("reply-limit", test_post_reply_limit);
  ADD_POST_TEST ("endless-reply", test_post_endless_reply);
  ADD_POST_TEST ("hand-back-unlocked", test_post_hand_back_unlocked);

  return g_test_run ();
}
