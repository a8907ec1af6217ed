/* rel-clock.c: a consumer, or whatever answers in its name, with a hostile clock
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Each scenario sends events in small batches through a scripted consumer
 * (a SoupServer on 127.0.0.1, on its own thread: RelServerThread) whose
 * replies carry hostile Date and Age headers: year 9999, 1970, random dates
 * from 1971 to 9999, an Age of 2^31 - 1 s, a captive portal's HTML 200
 * dated 1970, a proxy's HTML 502 with a wild Date, in runs and mixed at
 * random with the consumer's real replies. The consumer's own clock is
 * either right or two hours ahead (a plausible skew, which ep-glib should
 * follow). It asserts SPEC section 4's clock rules:
 *   - every event is delivered (the hostile replies that are failures are
 *     retried; nothing is lost);
 *   - every event's requested-sent-timestamp is its local send time plus
 *     either 0 or the consumer's true skew (within 5 s: a Date's second,
 *     the round trips, the test's pace), never anything a hostile reply
 *     said, and never more than the one-day bound from the local clock;
 *   - after a restart the persisted offset gives the same answer.
 * Short mode: every scenario once; EP_RELIABILITY=long: 20 rounds each,
 * with 60 events per round instead of 30 (sent 1 to 3 per request).
 */
#include "config.h"

#include <string.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "sqs-server.h"
#include "rel-common.h"

#define REQUEST_TIMEOUT 2000
#define BATCH           3
#define GOOD_REQUESTS   4
#define SKEW_S          (2 * 3600)
#define STAMP_SLACK_MS  5000
#define DAY_MS          ((gint64) 24 * 3600 * 1000)

/* What one reply is. */
typedef enum {
  REPLY_GOOD,          /* SQS 200 confirming all, the consumer's own Date */
  REPLY_DATE_9999,     /* SQS 200 confirming all, Date in 9999 */
  REPLY_DATE_1970,     /* SQS 200 confirming all, Date in 1970 */
  REPLY_DATE_RANDOM,   /* SQS 200 confirming all, Date anywhere in 1971..9999 */
  REPLY_HUGE_AGE,      /* SQS 200 confirming all, right Date, Age 2^31 - 1 */
  REPLY_PORTAL_1970,   /* HTML 200 (a captive portal), Date in 1970 */
  REPLY_PROXY_WILD,    /* HTML 502 (a proxy), Date anywhere in 1971..9999 */
  N_REPLY_KINDS
} ReplyKind;

typedef struct {
  const char *name;
  ReplyKind   kind;        /* every reply of the hostile phase, or... */
  gboolean    mixed;       /* ...a random kind for each reply, good ones included */
  gboolean    skewed;      /* the consumer's own clock is SKEW_S ahead */
} Scenario;

static const Scenario scenarios[] = {
  { "date-9999", REPLY_DATE_9999, FALSE, FALSE },
  { "date-1970", REPLY_DATE_1970, FALSE, FALSE },
  { "date-random", REPLY_DATE_RANDOM, FALSE, FALSE },
  { "huge-age", REPLY_HUGE_AGE, FALSE, FALSE },
  { "captive-portal-1970", REPLY_PORTAL_1970, FALSE, FALSE },
  { "proxy-wild-date", REPLY_PROXY_WILD, FALSE, FALSE },
  { "mixed", REPLY_GOOD, TRUE, FALSE },
  { "mixed-skewed-consumer", REPLY_GOOD, TRUE, TRUE },
};

/* Created, changed and freed on the server thread; the fields below @lock
 * are shared with the test's thread. */
typedef struct {
  RelServerThread *thread;
  SoupServer *server;
  guint16     port;
  GMutex      lock;
  gboolean    hostile;       /* the hostile phase (else: good replies only) */
  const Scenario *scenario;
  GRand      *rand;          /* the server's own, seeded from the scenario's */
  GHashTable *stamps;        /* payload number -> requested-sent-timestamp (gint64 *), confirmed */
  guint       n_hostile;     /* hostile replies sent */
  guint       n_requests;
} Server;

static gint64
random_wild_date_s (GRand *rand)
{
  /* 1971-01-01 .. 9999-12-31 */
  return (gint64) g_rand_double_range (rand, 31536000.0, 253402300799.0);
}

static char *
http_date (gint64 unix_s)
{
  g_autoptr(GDateTime) date = g_date_time_new_from_unix_utc (unix_s);

  return soup_date_time_to_string (date, SOUP_DATE_HTTP);
}

static ReplyKind
choose_kind (Server *self)
{
  if (!self->hostile)
    return REPLY_GOOD;
  if (!self->scenario->mixed)
    return self->scenario->kind;
  /* mixed: half good, the rest any hostile kind */
  if (g_rand_boolean (self->rand))
    return REPLY_GOOD;
  return g_rand_int_range (self->rand, REPLY_DATE_9999, N_REPLY_KINDS);
}

/* Records the confirmed entries' stamps and builds the SQS reply. */
static char *
confirm (Server   *self,
         SqsBatch *batch)
{
  GString *xml = g_string_new ("<?xml version=\"1.0\"?><SendMessageBatchResponse xmlns=\""
                               "http://queue.amazonaws.com/doc/2012-11-05/\"><SendMessageBatchResult>");

  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = batch->entries->pdata[i];
      const SqsAttribute *headers = sqs_entry_find_string_attribute (entry, "Headers");
      g_autoptr(JsonNode) node = json_from_string (headers->string_value->str, NULL);
      const char *stamp = json_object_get_string_member (json_node_get_object (node),
                                                         "requested-sent-timestamp");
      gint64 *value = g_new (gint64, 1);

      *value = g_ascii_strtoll (stamp, NULL, 10);
      g_hash_table_replace (self->stamps, GUINT_TO_POINTER (rel_payload_number (entry->body->str)),
                            value);
      g_string_append_printf (xml, "<SendMessageBatchResultEntry><Id>%s</Id><MessageId>m-%u</MessageId>"
                              "<MD5OfMessageBody>0</MD5OfMessageBody></SendMessageBatchResultEntry>",
                              entry->id->str, i);
    }
  g_string_append (xml, "</SendMessageBatchResult><ResponseMetadata><RequestId>r</RequestId>"
                   "</ResponseMetadata></SendMessageBatchResponse>");
  return g_string_free (xml, FALSE);
}

static void
set_header (SoupServerMessage *msg,
            const char        *name,
            const char        *value)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), name, value);
}

static void
answer (Server            *self,
        SoupServerMessage *msg,
        SqsBatch          *batch)
{
  ReplyKind kind = choose_kind (self);
  gint64 own_s = g_get_real_time () / G_USEC_PER_SEC + (self->scenario->skewed ? SKEW_S : 0);
  g_autofree char *date = NULL;
  char *body;

  self->n_hostile += kind != REPLY_GOOD;
  switch (kind)
    {
    case REPLY_DATE_9999:
      date = g_strdup ("Fri, 31 Dec 9999 23:59:59 GMT");
      break;
    case REPLY_DATE_1970:
    case REPLY_PORTAL_1970:
      date = g_strdup ("Thu, 01 Jan 1970 00:00:00 GMT");
      break;
    case REPLY_DATE_RANDOM:
    case REPLY_PROXY_WILD:
      date = http_date (random_wild_date_s (self->rand));
      break;
    default:
      date = http_date (own_s);
      break;
    }
  set_header (msg, "Date", date);
  if (kind == REPLY_HUGE_AGE)
    set_header (msg, "Age", "2147483647");

  if (kind == REPLY_PORTAL_1970 || kind == REPLY_PROXY_WILD)
    {
      const char *page = kind == REPLY_PORTAL_1970
        ? "<html><body>Welcome! Accept the terms to go online.</body></html>"
        : "<html><body>Bad gateway</body></html>";

      soup_server_message_set_status (msg, kind == REPLY_PORTAL_1970 ? 200 : 502, NULL);
      soup_server_message_set_response (msg, "text/html", SOUP_MEMORY_COPY, page, strlen (page));
      return;
    }
  body = confirm (self, batch);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "text/xml", SOUP_MEMORY_TAKE, body, strlen (body));
}

static void
server_handler (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  Server *self = user_data;
  SoupMessageBody *request = soup_server_message_get_request_body (msg);
  g_autoptr(GError) error = NULL;
  g_autoptr(SqsBatch) batch = NULL;

  batch = sqs_batch_from_query (request->data, request->length, NULL, NULL, &error);
  g_assert_no_error (error);
  g_mutex_lock (&self->lock);
  self->n_requests++;
  answer (self, msg, batch);
  g_mutex_unlock (&self->lock);
}

/* On the server thread. */
static void
server_start (gpointer data,
              gpointer unused)
{
  Server *self = data;
  g_autoptr(GError) error = NULL;
  GSList *uris;

  self->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (self->server, NULL, server_handler, self, NULL);
  soup_server_listen_local (self->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error);
  g_assert_no_error (error);
  uris = soup_server_get_uris (self->server);
  self->port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
}

/* On the server thread. */
static void
server_stop (gpointer data,
             gpointer unused)
{
  Server *self = data;

  soup_server_disconnect (self->server);
  g_clear_object (&self->server);
}

static Server *
server_new (const Scenario *scenario,
            guint32         seed)
{
  Server *self = g_new0 (Server, 1);

  g_mutex_init (&self->lock);
  self->scenario = scenario;
  self->hostile = TRUE;
  self->rand = g_rand_new_with_seed (seed);
  self->stamps = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  self->thread = rel_server_thread_new ();
  rel_server_thread_call (self->thread, server_start, self);
  return self;
}

static void
server_free (Server *self)
{
  rel_server_thread_call (self->thread, server_stop, self);
  rel_server_thread_free (self->thread);
  g_mutex_clear (&self->lock);
  g_hash_table_unref (self->stamps);
  g_rand_free (self->rand);
  g_free (self);
}

static void
server_set_hostile (Server   *self,
                    gboolean  hostile)
{
  g_mutex_lock (&self->lock);
  self->hostile = hostile;
  g_mutex_unlock (&self->lock);
}

/* The confirmed stamp of event @number; FALSE if not confirmed (yet). */
static gboolean
server_get_stamp (Server  *self,
                  guint64  number,
                  gint64  *stamp_ms)
{
  gint64 *value;

  g_mutex_lock (&self->lock);
  value = g_hash_table_lookup (self->stamps, GUINT_TO_POINTER (number));
  if (value != NULL)
    *stamp_ms = *value;
  g_mutex_unlock (&self->lock);
  return value != NULL;
}

/* ------------------------------------------------------------------ */

typedef struct {
  guint   n_events;
  guint   n_hostile;
  guint   n_requests;
  gint64  max_error_ms;      /* |stamp - send time - (0 or the skew)|, the worst */
  guint   n_corrected;       /* events stamped with the skew */
} Figures;

static EpProducer *
new_producer (const char *dir,
              Server     *server)
{
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api/event-batch", server->port);
  g_autoptr(GError) error = NULL;
  EpProducer *producer;

  producer = ep_test_producer_new (dir, uri, uri, &error, "request-timeout", REQUEST_TIMEOUT,
                                   "max-in-flight", 1, NULL);
  g_assert_no_error (error);
  return producer;
}

/* Sends event @number now; its local send time goes in @sent_ms. */
static void
send_one (EpProducer *producer,
          guint64     number,
          GRand      *rand,
          GArray     *sent_ms)
{
  g_autofree char *payload = rel_payload (number, rand);
  gint64 now_ms = g_get_real_time () / 1000;

  g_assert_cmpint (ep_producer_send_event (producer, "rel_event", EP_CONSENT_CATEGORY_NECESSARY,
                                           payload, NULL), ==, EP_SEND_RESULT_STORED);
  g_array_append_val (sent_ms, now_ms);
}

/* Flushes until the queue is empty (the hostile replies that fail are
 * retried at once by the next flush); bounded. */
static void
drain (EpProducer *producer)
{
  for (guint i = 0; i < 200 && ep_producer_get_queue_length (producer) > 0; i++)
    (void) ep_test_flush (producer, NULL);
  g_assert_cmpuint (ep_producer_get_queue_length (producer), ==, 0);
}

/* Every event confirmed; its stamp is the send time plus 0 or the skew. */
static void
check_stamps (Server         *server,
              const Scenario *scenario,
              GArray         *sent_ms,
              guint64         first,
              Figures        *figures)
{
  for (guint64 n = first; n < sent_ms->len; n++)
    {
      gint64 sent = g_array_index (sent_ms, gint64, n);
      gint64 stamp, error_ms;

      if (!server_get_stamp (server, n, &stamp))
        g_error ("%s: event %" G_GUINT64_FORMAT " was never confirmed", scenario->name, n);
      g_assert_cmpint (ABS (stamp - sent), <=, DAY_MS);
      error_ms = ABS (stamp - sent);
      if (scenario->skewed && ABS (stamp - sent - SKEW_S * 1000) < error_ms)
        {
          error_ms = ABS (stamp - sent - SKEW_S * 1000);
          figures->n_corrected++;
        }
      if (error_ms > STAMP_SLACK_MS)
        g_error ("%s: event %" G_GUINT64_FORMAT " stamped %+" G_GINT64_FORMAT " ms from its "
                 "send time (expected 0%s, within %d ms)", scenario->name, n, stamp - sent,
                 scenario->skewed ? " or the consumer's +2 h" : "", STAMP_SLACK_MS);
      figures->max_error_ms = MAX (figures->max_error_ms, error_ms);
    }
}

static void
run_round (const Scenario *scenario,
           GRand          *rand,
           guint           n_events,
           Figures        *figures)
{
  g_autofree char *dir = ep_test_make_dir ("clock");
  g_autoptr(GArray) sent_ms = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(EpProducer) producer = NULL;
  Server *server = server_new (scenario, g_rand_int (rand));
  guint64 before_restart;
  gint64 stamp = 0;

  producer = new_producer (dir, server);
  /* the hostile phase: batches of 1 to BATCH events, each flushed once */
  while (sent_ms->len < n_events)
    {
      guint n = g_rand_int_range (rand, 1, BATCH + 1);

      for (guint i = 0; i < n; i++)
        send_one (producer, sent_ms->len, rand, sent_ms);
      (void) ep_test_flush (producer, NULL);
    }
  /* the network is back / the consumer behaves: everything arrives, and a
   * few more events one request each give the clock good samples */
  server_set_hostile (server, FALSE);
  drain (producer);
  for (guint i = 0; i < GOOD_REQUESTS; i++)
    {
      send_one (producer, sent_ms->len, rand, sent_ms);
      drain (producer);
    }
  g_clear_object (&producer);

  /* a restart: the persisted offset is the consumer's real one (its skew,
   * or none), never a hostile reply's */
  producer = new_producer (dir, server);
  before_restart = sent_ms->len;
  send_one (producer, sent_ms->len, rand, sent_ms);
  drain (producer);
  g_assert_true (server_get_stamp (server, before_restart, &stamp));
  g_assert_cmpint (ABS (stamp - g_array_index (sent_ms, gint64, before_restart) -
                        (scenario->skewed ? SKEW_S * 1000 : 0)), <=, STAMP_SLACK_MS);

  check_stamps (server, scenario, sent_ms, 0, figures);
  g_mutex_lock (&server->lock);
  figures->n_hostile += server->n_hostile;
  figures->n_requests += server->n_requests;
  g_mutex_unlock (&server->lock);
  figures->n_events += sent_ms->len;
  g_clear_object (&producer);
  server_free (server);
}

static void
test_scenario (gconstpointer data)
{
  const Scenario *scenario = data;
  g_autofree char *name = g_strconcat ("clock/", scenario->name, NULL);
  guint32 seed;
  g_autoptr(GRand) rand = rel_rand_new (name, &seed);
  guint rounds = rel_rounds (1, 20);
  guint n_events = rel_is_long () ? 60 : 30;
  Figures figures = { 0 };

  for (guint r = 0; r < rounds; r++)
    run_round (scenario, rand, n_events, &figures);
  /* the hostile phase did happen */
  g_assert_cmpuint (figures.n_hostile, >, 0);
  rel_result (name, "rounds=%u events=%u lost=0 requests=%u hostile_replies=%u "
              "max_stamp_error_ms=%" G_GINT64_FORMAT " stamped_with_consumer_skew=%u",
              rounds, figures.n_events, figures.n_requests, figures.n_hostile,
              figures.max_error_ms, figures.n_corrected);
}

int
main (int    argc,
      char **argv)
{
  rel_test_init_without_debug (&argc, &argv);

  for (guint i = 0; i < G_N_ELEMENTS (scenarios); i++)
    {
      g_autofree char *path = g_strconcat ("/reliability/clock/", scenarios[i].name, NULL);

      g_test_add_data_func (path, &scenarios[i], test_scenario);
    }
  return g_test_run ();
}
