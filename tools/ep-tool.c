/* ep-tool.c: inspect, feed, flush and purge an ep-glib queue directory
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Built on the public API only: what it can do, an application can do
 * (ep-glib's strict JSON scan, a static helper, only guards JsonParser).
 *
 * Output conventions: results on standard output (with --json, one JSON
 * object per line for every command), errors on standard error prefixed
 * "ep-tool:", the exit status 0 only when the command did what it says.
 * The library's own log lines (domain "Ep": storage outages, discarded
 * records, the story of a run at debug level) are the tool's to explain:
 * they are kept, shown with --verbose, and a refused send quotes the one
 * that says why; they never reach the terminal as bare warnings.
 */
#include <ep-glib/ep-glib.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ep-glib/ep-json-scan.h"

#define DEFAULT_CONSUMER "http://127.0.0.1:8080"
#define DUMP_PAGE 256
#define LIBRARY_LOG_KEPT 64

static char *opt_queue_dir;
static char *opt_consumer = NULL;
static char *opt_app_name = NULL;
static char *opt_app = NULL;
static gboolean opt_follow;
static char *opt_token;
static char *opt_client_id;
static char *opt_category = NULL;
static char **opt_headers;
static gboolean opt_json;
static gboolean opt_show_secrets;
static gboolean opt_verbose;
static gboolean opt_version;
static int opt_timeout_ms = 10000;

/* The library's log lines since the last ep_log_take_last () (owned) */
static GPtrArray *library_log;

static const GOptionEntry common_entries[] = {
  { "queue-dir", 'd', 0, G_OPTION_ARG_FILENAME, &opt_queue_dir,
    "The queue directory (or --app)", "DIR" },
  { "app", 'a', 0, G_OPTION_ARG_STRING, &opt_app,
    "The queue of the application NAME, where ep-glib puts it by default: "
    "$XDG_STATE_HOME/ep-glib/NAME, or a Flatpak app's ~/.var/app/ID/.local/state/ep-glib/NAME "
    "(also the default --app-name)", "NAME" },
  { "follow", 'f', 0, G_OPTION_ARG_NONE, &opt_follow,
    "dump: keep printing events as they are queued (until interrupted)", NULL },
  { "consumer", 'c', 0, G_OPTION_ARG_STRING, &opt_consumer,
    "Base URL of the TL consumer (default " DEFAULT_CONSUMER "); events go to "
    "BASE/api/event-batch with a token, else BASE/api/public/event-batch", "URL" },
  { "app-name", 0, 0, G_OPTION_ARG_STRING, &opt_app_name,
    "The app-name header of events sent (default ep-tool)", "NAME" },
  { "token", 0, 0, G_OPTION_ARG_STRING, &opt_token, "Access token for send and flush", "TOKEN" },
  { "client-id", 0, 0, G_OPTION_ARG_STRING, &opt_client_id, "Client id for send and flush", "ID" },
  { "category", 0, 0, G_OPTION_ARG_STRING, &opt_category,
    "send: consent category necessary, performance or targeting (default necessary)", "CATEGORY" },
  { "header", 'H', 0, G_OPTION_ARG_STRING_ARRAY, &opt_headers,
    "send: an event header KEY=VALUE (repeatable)", "KEY=VALUE" },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
    "Print results as JSON (one object per line)", NULL },
  { "show-secrets", 0, 0, G_OPTION_ARG_NONE, &opt_show_secrets,
    "dump: show the access token in each event's authorization header", NULL },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout_ms,
    "flush: request timeout in milliseconds (default 10000)", "MS" },
  { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose,
    "Show ep-glib's own log lines on standard error", NULL },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version,
    "Print the version and exit", NULL },
  { NULL }
};

static const char summary[] =
  "Commands:\n"
  "  send NAME PAYLOAD   store one event in the queue\n"
  "  status              queue length, bytes, oldest event age, outage, dropped-event counters\n"
  "  dump                print the queued events as JSON lines (access tokens redacted)\n"
  "  flush               deliver the queue to the consumer now\n"
  "  purge [DIR]         delete every queued event unsent (all categories)\n"
  "\n"
  "status, dump, flush and purge need an existing queue directory; send creates one.\n"
  "status and dump read a queue that a running application holds (a snapshot);\n"
  "send, flush and purge refuse it.";

static const char description[] =
  "Examples:\n"
  "  ep-tool status --app my-player\n"
  "  ep-tool dump --app my-player --follow | jq .name\n"
  "  ep-tool send -d /tmp/q --category performance playback_start '{\"track\":1}'\n"
  "  ep-tool dump -d /tmp/q | jq .name\n"
  "  ep-tool flush -d /tmp/q --consumer http://127.0.0.1:8080\n"
  "  ep-tool purge --app my-player\n";

static void
fail (const char *format,
      ...) G_GNUC_PRINTF (1, 2) G_GNUC_NORETURN;

static void
fail (const char *format,
      ...)
{
  va_list args;
  char *message;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("ep-tool: %s\n", message);
  /* exit () runs no g_autofree cleanup */
  g_free (message);
  exit (EXIT_FAILURE);
}

/* ------------------------------------------------------------------------ */
/* The library's log lines                                                  */

static const char *
log_field (const GLogField *fields,
           gsize            n_fields,
           const char      *key)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, key))
      return fields[i].length < 0 ? fields[i].value : NULL;

  return NULL;
}

/* ep-glib reports runtime conditions (a storage outage, corrupt records it
 * discarded) with g_warning and tells the story of a run with g_debug: in
 * a command-line tool those are the tool's to explain, not warnings to
 * print raw. They are kept for the command (a refused send quotes them)
 * and printed with --verbose. Criticals (programming errors) and every
 * other domain go to GLib's default writer. */
static GLogWriterOutput
tool_log_writer (GLogLevelFlags   level,
                 const GLogField *fields,
                 gsize            n_fields,
                 gpointer         user_data)
{
  const char *domain = log_field (fields, n_fields, "GLIB_DOMAIN");
  const char *message = log_field (fields, n_fields, "MESSAGE");

  if (domain == NULL || !g_str_equal (domain, "Ep") || message == NULL
      || (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0)
    return g_log_writer_default (level, fields, n_fields, user_data);

  if (library_log->len >= LIBRARY_LOG_KEPT)
    g_ptr_array_remove_index (library_log, 0);
  g_ptr_array_add (library_log, g_strdup (message));
  if (opt_verbose)
    g_printerr ("ep-tool: ep-glib: %s\n", message);

  return G_LOG_WRITER_HANDLED;
}

/* The last line ep-glib logged since the previous call, or NULL */
static char *
library_log_take_last (void)
{
  char *last = NULL;

  if (library_log->len > 0)
    last = g_strdup (g_ptr_array_index (library_log, library_log->len - 1));
  g_ptr_array_set_size (library_log, 0);

  return last;
}

/* ------------------------------------------------------------------------ */
/* Opening the queue                                                        */

/* --app NAME: the directory an application named NAME queues in by
 * default, $XDG_STATE_HOME/ep-glib/NAME; failing that, the same under a
 * Flatpak app's own state directory (~/.var/app/ID/.local/state), if one
 * exists. The default when none exists yet (send creates it). */
static char *
find_app_queue_dir (const char *name)
{
  g_autofree char *host = g_build_filename (g_get_user_state_dir (), "ep-glib", name, NULL);
  g_autofree char *apps = g_build_filename (g_get_home_dir (), ".var", "app", NULL);
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  const char *id;

  if (strchr (name, '/') != NULL || name[0] == '.' || name[0] == '\0')
    fail ("--app '%s' is not an application name (it contains '/' or starts with '.')", name);
  if (g_file_test (host, G_FILE_TEST_IS_DIR))
    return g_steal_pointer (&host);
  dir = g_dir_open (apps, 0, NULL);
  while (dir != NULL && (id = g_dir_read_name (dir)) != NULL)
    {
      char *candidate = g_build_filename (apps, id, ".local", "state", "ep-glib", name, NULL);

      if (g_file_test (candidate, G_FILE_TEST_IS_DIR))
        g_ptr_array_add (found, candidate);
      else
        g_free (candidate);
    }
  if (found->len > 1)
    fail ("several Flatpak apps have a queue named %s (%s, %s%s): name one with --queue-dir",
          name, (char *) found->pdata[0], (char *) found->pdata[1], found->len > 2 ? ", …" : "");
  if (found->len == 1)
    return g_strdup (found->pdata[0]);
  return g_steal_pointer (&host);
}

/* status, dump and flush look at a queue that must exist: opening a
 * directory that does not exist would create an empty queue there and
 * report on it, hiding a mistyped path. */
static void
check_queue_dir_exists (void)
{
  if (opt_queue_dir == NULL)
    fail ("--queue-dir is required, or --app (see --help)");
  if (!g_file_test (opt_queue_dir, G_FILE_TEST_EXISTS))
    fail ("no queue in %s: the directory does not exist", opt_queue_dir);
  if (!g_file_test (opt_queue_dir, G_FILE_TEST_IS_DIR))
    fail ("no queue in %s: it is not a directory", opt_queue_dir);
}

/* A producer over the queue directory; NULL with @error set. With
 * @read_only it takes no lock and writes nothing (EpProducer:read-only).
 * With persist-consent the consent state saved in the directory (by the
 * application or by `send --category`) applies: without it, opening the
 * queue would delete every queued PERFORMANCE and TARGETING event (the
 * defaults block them, and the state at construction reaches the queue).
 * The desktop's privacy setting is not followed: the tool acts on the
 * operator's command (`send --category` is the consent); the application
 * applies that setting to its queue itself at its next start. */
static EpProducer *
new_producer (gboolean   read_only,
              GError   **error)
{
  g_autofree char *base = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *public_uri = NULL;

  base = g_strdup (opt_consumer ? opt_consumer : DEFAULT_CONSUMER);
  while (g_str_has_suffix (base, "/"))
    base[strlen (base) - 1] = '\0';
  uri = g_strconcat (base, "/api/event-batch", NULL);
  public_uri = g_strconcat (base, "/api/public/event-batch", NULL);

  /* The timers are set far away: the tool delivers only when told to. */
  return g_initable_new (EP_TYPE_PRODUCER, NULL, error,
                         "app-name", opt_app_name ? opt_app_name : "ep-tool",
                         "app-version", EP_VERSION_S,
                         "consumer-uri", uri,
                         "public-consumer-uri", public_uri,
                         "queue-dir", opt_queue_dir,
                         "batch-interval", G_MAXUINT,
                         "monitoring-interval", G_MAXUINT,
                         "request-timeout", (guint) MAX (opt_timeout_ms, 1),
                         "read-only", read_only,
                         "persist-consent", TRUE,
                         "follow-desktop-privacy", FALSE,
                         NULL);
}

static void G_GNUC_NORETURN
fail_open (const GError *error)
{
  if (g_error_matches (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED))
    fail ("the queue in %s is in use by another producer; close that application first",
          opt_queue_dir);
  fail ("cannot open the queue in %s: %s", opt_queue_dir, error->message);
}

/* For send and flush, which change the queue: it must not be in use */
static EpProducer *
open_producer (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpCredentials) credentials = NULL;
  EpProducer *producer;

  if (opt_queue_dir == NULL)
    fail ("--queue-dir is required, or --app (see --help)");

  producer = new_producer (FALSE, &error);
  if (producer == NULL)
    fail_open (error);
  if (opt_token != NULL || opt_client_id != NULL)
    {
      credentials = ep_credentials_new (opt_token, opt_client_id);
      ep_producer_set_credentials (producer, credentials);
    }
  return producer;
}

static EpProducer *
open_existing_queue (void)
{
  check_queue_dir_exists ();

  return open_producer ();
}

/* For status and dump, which only look. A queue that a running application
 * holds (that is when people look) is read without its lock, as the
 * snapshot EpProducer:read-only takes, and @in_use says so. ep-glib has no
 * "is it held" query: the normal open tells, by failing with
 * EP_ERROR_QUEUE_LOCKED. */
static EpProducer *
open_for_reading (gboolean *in_use)
{
  g_autoptr(GError) error = NULL;
  EpProducer *producer;

  check_queue_dir_exists ();
  producer = new_producer (FALSE, &error);
  *in_use = producer == NULL && g_error_matches (error, EP_ERROR, EP_ERROR_QUEUE_LOCKED);
  if (*in_use)
    {
      g_clear_error (&error);
      producer = new_producer (TRUE, &error);
    }
  if (producer == NULL)
    fail_open (error);

  return producer;
}

static EpConsentCategory
parse_category (const char *name)
{
  if (name == NULL || g_ascii_strcasecmp (name, "necessary") == 0)
    return EP_CONSENT_CATEGORY_NECESSARY;
  if (g_ascii_strcasecmp (name, "performance") == 0)
    return EP_CONSENT_CATEGORY_PERFORMANCE;
  if (g_ascii_strcasecmp (name, "targeting") == 0)
    return EP_CONSENT_CATEGORY_TARGETING;
  fail ("unknown category '%s' (expected necessary, performance or targeting)", name);
}

/* Adds @json as a parsed value, or as a string when it is not one strict
 * JSON value (scanned first: json-glib 1.6 reads "{}{}" as {} and leaks). */
static void
add_json_value (JsonBuilder *builder,
                const char  *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (ep_json_scan_value (json, strlen (json))
      && json_parser_load_from_data (parser, json, -1, NULL))
    json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
  else
    json_builder_add_string_value (builder, json);
}

/* Prints what @builder built as one line of JSON. */
static void
print_json_line (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = json_builder_get_root (builder);
  g_autofree char *text = json_to_string (root, FALSE);

  g_print ("%s\n", text);
}

/* Why ep-glib refused the event @name: the line it logged (at debug level,
 * "Event 'NAME' dropped (REASON): ..."), else what the result means (see
 * EpSendResult) */
static char *
refusal_reason (const char   *name,
                EpSendResult  result)
{
  char *logged = library_log_take_last ();
  const char *meaning;

  if (logged != NULL)
    return logged;

  switch (result)
    {
    case EP_SEND_RESULT_CONSENT_FILTERED:
      meaning = "its consent category is blocked";
      break;
    case EP_SEND_RESULT_VALIDATION_FAILED:
      meaning = "it is invalid: an empty name, more than 20480 bytes, text that is not "
                "UTF-8 or holds characters XML 1.0 does not allow";
      break;
    case EP_SEND_RESULT_STORING_FAILED:
      meaning = "the queue could not store it (disk budget or storage error)";
      break;
    case EP_SEND_RESULT_STORED:
    default:
      g_assert_not_reached ();
    }

  return g_strdup_printf ("Event '%s' not stored: %s", name, meaning);
}

static void
print_send_json (EpSendResult  result,
                 const char   *id,
                 const char   *reason)
{
  static const char * const results[] = {
    "stored", "consent-filtered", "validation-failed", "storing-failed",
  };
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "result");
  json_builder_add_string_value (builder, results[result]);
  json_builder_set_member_name (builder, id != NULL ? "id" : "reason");
  json_builder_add_string_value (builder, id != NULL ? id : reason);
  json_builder_end_object (builder);
  print_json_line (builder);
}

static GHashTable *
parse_headers (void)
{
  GHashTable *headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; opt_headers != NULL && opt_headers[i] != NULL; i++)
    {
      const char *eq = strchr (opt_headers[i], '=');

      if (eq == NULL || eq == opt_headers[i])
        fail ("--header '%s' is not KEY=VALUE", opt_headers[i]);
      g_hash_table_insert (headers, g_strndup (opt_headers[i], eq - opt_headers[i]),
                           g_strdup (eq + 1));
    }

  return headers;
}

static int
cmd_send (int    argc,
          char **argv)
{
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GHashTable) headers = NULL;
  EpConsentCategory category = parse_category (opt_category);
  static const char * const results[] = {
    "stored", "dropped: consent category blocked", "dropped: invalid event", "dropped: not stored",
  };
  g_autofree char *id = NULL;
  g_autofree char *reason = NULL;
  EpSendResult result;

  if (argc != 3)
    fail ("send takes NAME and PAYLOAD (see --help)");
  headers = parse_headers ();

  producer = open_producer ();
  /* Naming the category on the command line is the consent (saved in the
   * directory: persist-consent). */
  ep_producer_set_consent_blocked (producer, category, FALSE);
  g_ptr_array_set_size (library_log, 0);
  result = ep_producer_send_event_full (producer, argv[1], category, argv[2], headers, &id);
  if (result != EP_SEND_RESULT_STORED)
    reason = refusal_reason (argv[1], result);

  if (opt_json)
    print_send_json (result, id, reason);
  else
    g_print ("%s\n", results[result]);
  if (reason != NULL)
    g_printerr ("ep-tool: %s\n", reason);
  return result == EP_SEND_RESULT_STORED ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Seconds since @oldest_us (microseconds since the epoch). */
static gint64
age_seconds (gint64 oldest_us)
{
  return MAX (0, (g_get_real_time () - oldest_us) / G_USEC_PER_SEC);
}

static char *
format_age (gint64 oldest_us)
{
  gint64 seconds;

  if (oldest_us == 0)
    return g_strdup ("-");
  seconds = age_seconds (oldest_us);
  if (seconds < 120)
    return g_strdup_printf ("%" G_GINT64_FORMAT " s", seconds);
  if (seconds < 7200)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", seconds / 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT " h", seconds / 3600);
}

static void
print_status_json (EpProducer *producer,
                   gint64      oldest,
                   const char *counters,
                   gboolean    in_use)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "queue_dir");
  json_builder_add_string_value (builder, ep_producer_get_queue_dir (producer));
  json_builder_set_member_name (builder, "in_use");
  json_builder_add_boolean_value (builder, in_use);
  json_builder_set_member_name (builder, "queue_length");
  json_builder_add_int_value (builder, ep_producer_get_queue_length (producer));
  json_builder_set_member_name (builder, "queue_bytes");
  json_builder_add_int_value (builder, ep_producer_get_queue_bytes (producer));
  json_builder_set_member_name (builder, "oldest_event_age_s");
  if (oldest != 0)
    json_builder_add_int_value (builder, age_seconds (oldest));
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "outage");
  json_builder_add_boolean_value (builder, ep_producer_get_outage (producer));
  json_builder_set_member_name (builder, "discarded_records");
  json_builder_add_int_value (builder, ep_producer_get_discarded_records (producer));
  json_builder_set_member_name (builder, "counters");
  add_json_value (builder, counters);
  json_builder_end_object (builder);
  print_json_line (builder);
}

static int
cmd_status (int    argc,
            char **argv)
{
  gboolean in_use;
  g_autoptr(EpProducer) producer = open_for_reading (&in_use);
  g_autofree char *counters = ep_producer_dup_counters_json (producer);
  g_autofree char *age = NULL;
  gint64 oldest = ep_producer_get_oldest_event_time (producer);

  if (opt_json)
    {
      print_status_json (producer, oldest, counters, in_use);
      return EXIT_SUCCESS;
    }

  age = format_age (oldest);
  g_print ("queue:             %s\n", ep_producer_get_queue_dir (producer));
  g_print ("in use:            %s\n", in_use ? "yes, by a running application (read-only snapshot)"
                                              : "no");
  g_print ("events queued:     %" G_GUINT64_FORMAT "\n", ep_producer_get_queue_length (producer));
  g_print ("bytes queued:      %" G_GUINT64_FORMAT "\n", ep_producer_get_queue_bytes (producer));
  g_print ("oldest event age:  %s\n", age);
  g_print ("outage:            %s\n", ep_producer_get_outage (producer) ? "yes" : "no");
  g_print ("discarded records: %u\n", ep_producer_get_discarded_records (producer));
  g_print ("dropped events:    %s\n", counters);
  return EXIT_SUCCESS;
}

/* The access token travels in each stored event's "authorization" header
 * (as in TIDAL's producers; the queue files are 0600). A dump is for
 * reading and pasting into bug reports: the token is replaced unless
 * --show-secrets asks for it. */
static void
add_headers_value (JsonBuilder *builder,
                   const char  *headers)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object;

  if (opt_show_secrets || !ep_json_scan_object (headers, strlen (headers), NULL, NULL, NULL, NULL)
      || !json_parser_load_from_data (parser, headers, -1, NULL))
    {
      add_json_value (builder, headers);
      return;
    }

  object = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (object, "authorization"))
    json_object_set_string_member (object, "authorization", "<redacted>");
  json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
}

static void
print_event_json (GVariant *event)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  const char *id, *name, *headers, *payload;
  guint64 position;
  gint64 created;

  g_variant_get (event, "(tx&s&s&s&s)", &position, &created, &id, &name, &headers, &payload);
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, id);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "created_ms");
  json_builder_add_int_value (builder, created / 1000);
  json_builder_set_member_name (builder, "headers");
  add_headers_value (builder, headers);
  json_builder_set_member_name (builder, "payload");
  json_builder_add_string_value (builder, payload);
  json_builder_end_object (builder);
  print_json_line (builder);
}

/* Prints the queued events of @producer, page by page; with @seen, only
 * those not in it, and @now gets the ids of every event queued. */
static void
dump_events (EpProducer *producer,
             GHashTable *seen,
             GHashTable *now)
{
  guint64 after = 0;

  while (TRUE)
    {
      g_autoptr(GVariant) events = ep_producer_dup_queued_events (producer, after, DUMP_PAGE);
      gsize n = g_variant_n_children (events);

      for (gsize i = 0; i < n; i++)
        {
          g_autoptr(GVariant) event = g_variant_get_child_value (events, i);
          const char *id;

          g_variant_get_child (event, 0, "t", &after);
          g_variant_get_child (event, 2, "&s", &id);
          if (now != NULL)
            g_hash_table_add (now, g_strdup (id));
          if (seen == NULL || !g_hash_table_contains (seen, id))
            print_event_json (event);
        }
      if (n < DUMP_PAGE)
        break;
    }
  fflush (stdout);
}

#define FOLLOW_INTERVAL_US (500 * 1000)

/* dump --follow: a read-only snapshot of the queue every half second (the
 * application keeps its lock: this never takes it), printing the events
 * not seen in the one before. Events delivered meanwhile are never seen:
 * for those, watch the consumer. Runs until interrupted. */
static int
dump_follow (void)
{
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  check_queue_dir_exists ();
  while (TRUE)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(EpProducer) producer = new_producer (TRUE, &error);
      g_autoptr(GHashTable) now = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

      if (producer == NULL)
        fail_open (error);
      dump_events (producer, seen, now);
      g_clear_pointer (&seen, g_hash_table_unref);
      seen = g_steal_pointer (&now);
      g_clear_object (&producer);
      g_usleep (FOLLOW_INTERVAL_US);
    }
}

static int
cmd_dump (int    argc,
          char **argv)
{
  gboolean in_use;
  g_autoptr(EpProducer) producer = NULL;

  if (opt_follow)
    return dump_follow ();
  producer = open_for_reading (&in_use);

  /* Standard output stays JSON lines: the note goes to standard error */
  if (in_use)
    g_printerr ("ep-tool: the queue in %s is in use by a running application: "
                "a read-only snapshot\n", opt_queue_dir);
  dump_events (producer, NULL, NULL);
  return EXIT_SUCCESS;
}

typedef struct {
  GMainLoop *loop;
  gboolean   ok;
  char      *error;
  guint64    total;
  gboolean   progress;  /* standard error is a terminal */
} Flush;

static void
show_progress (EpProducer *producer,
               GParamSpec *pspec,
               Flush      *flush)
{
  guint64 left = ep_producer_get_queue_length (producer);

  g_printerr ("\rdelivered %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " events, %" G_GUINT64_FORMAT
              " left   ", flush->total - MIN (left, flush->total), flush->total, left);
}

static void
flushed (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Flush *flush = user_data;
  g_autoptr(GError) error = NULL;

  flush->ok = ep_producer_flush_finish (EP_PRODUCER (source), result, &error);
  if (!flush->ok)
    flush->error = g_strdup (error->message);
  g_main_loop_quit (flush->loop);
}

static void
print_flush_json (const Flush *flush,
                  guint64      left)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "ok");
  json_builder_add_boolean_value (builder, flush->ok);
  json_builder_set_member_name (builder, "delivered");
  json_builder_add_int_value (builder, flush->total - MIN (left, flush->total));
  json_builder_set_member_name (builder, "queue_length");
  json_builder_add_int_value (builder, left);
  if (flush->error != NULL)
    {
      json_builder_set_member_name (builder, "error");
      json_builder_add_string_value (builder, flush->error);
    }
  json_builder_end_object (builder);
  print_json_line (builder);
}

/* The progress line redraws itself with '\r': only for a person watching
 * a terminal, never into a log file or a pipe. */
static int
cmd_flush (int    argc,
           char **argv)
{
  g_autoptr(EpProducer) producer = open_existing_queue ();
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Flush flush = { loop, FALSE, NULL, ep_producer_get_queue_length (producer),
                  isatty (STDERR_FILENO) };
  guint64 left;

  if (flush.progress)
    {
      g_signal_connect (producer, "notify::queue-length", G_CALLBACK (show_progress), &flush);
      show_progress (producer, NULL, &flush);
    }
  ep_producer_flush_async (producer, NULL, flushed, &flush);
  g_main_loop_run (loop);
  if (flush.progress)
    g_printerr ("\n");

  left = ep_producer_get_queue_length (producer);
  if (opt_json)
    print_flush_json (&flush, left);
  else if (flush.ok)
    g_print ("delivered %" G_GUINT64_FORMAT " %s; the queue is empty\n", flush.total,
             flush.total == 1 ? "event" : "events");
  if (!flush.ok)
    g_printerr ("ep-tool: flush incomplete (%" G_GUINT64_FORMAT " %s left): %s\n",
                left, left == 1 ? "event" : "events", flush.error);
  g_free (flush.error);

  return flush.ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* purge: ep_producer_purge_async() on a closed queue (never delivers: the
 * tool's timers are far away and nothing flushes). */
static void
purged (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  Flush *purge = user_data;
  g_autoptr(GError) error = NULL;

  purge->total = ep_producer_purge_finish (EP_PRODUCER (source), result, &error);
  purge->ok = error == NULL;
  if (error != NULL)
    purge->error = g_strdup (error->message);
  g_main_loop_quit (purge->loop);
}

static int
cmd_purge (int    argc,
           char **argv)
{
  g_autoptr(EpProducer) producer = NULL;
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Flush purge = { loop, FALSE, NULL, 0, FALSE };

  if (argc > 2)
    fail ("purge takes at most one argument, the queue directory (see --help)");
  if (argc == 2)
    {
      if (opt_queue_dir != NULL)
        fail ("give the queue directory once: as DIR, --queue-dir or --app (see --help)");
      opt_queue_dir = g_strdup (argv[1]);
    }
  producer = open_existing_queue ();
  ep_producer_purge_async (producer, NULL, purged, &purge);
  g_main_loop_run (loop);
  if (!purge.ok)
    {
      g_printerr ("ep-tool: purge failed: %s\n", purge.error);
      g_free (purge.error);
      return EXIT_FAILURE;
    }
  if (opt_json)
    g_print ("{\"purged\":%" G_GUINT64_FORMAT ",\"queue_length\":%" G_GUINT64_FORMAT "}\n",
             purge.total, ep_producer_get_queue_length (producer));
  else
    g_print ("purged %" G_GUINT64_FORMAT " %s; the queue is empty\n", purge.total,
             purge.total == 1 ? "event" : "events");
  return EXIT_SUCCESS;
}

static int
print_version (void)
{
  g_autoptr(JsonBuilder) builder = NULL;

  if (!opt_json)
    {
      g_print ("ep-tool %s\n", EP_VERSION_S);
      return EXIT_SUCCESS;
    }
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "version");
  json_builder_add_string_value (builder, EP_VERSION_S);
  json_builder_end_object (builder);
  print_json_line (builder);

  return EXIT_SUCCESS;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARGS…] — inspect an ep-glib queue");
  g_autoptr(GError) error = NULL;
  const char *command;

  setlocale (LC_ALL, "");
  g_option_context_add_main_entries (context, common_entries, NULL);
  g_option_context_set_summary (context, summary);
  g_option_context_set_description (context, description);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    fail ("%s (see --help)", error->message);
  if (opt_version)
    return print_version ();
  if (opt_app != NULL && opt_queue_dir != NULL)
    fail ("--app and --queue-dir name the same thing: give one (see --help)");
  if (opt_app != NULL)
    {
      opt_queue_dir = find_app_queue_dir (opt_app);
      if (opt_app_name == NULL)
        opt_app_name = g_strdup (opt_app);
    }
  library_log = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (tool_log_writer, NULL, NULL);
  if (argc < 2)
    fail ("a command is required: send, status, dump, flush or purge (see --help)");

  command = argv[1];
  argc--;
  argv++;
  if (g_str_equal (command, "send"))
    return cmd_send (argc, argv);
  if (g_str_equal (command, "status"))
    return cmd_status (argc, argv);
  if (g_str_equal (command, "dump"))
    return cmd_dump (argc, argv);
  if (g_str_equal (command, "flush"))
    return cmd_flush (argc, argv);
  if (g_str_equal (command, "purge"))
    return cmd_purge (argc, argv);
  fail ("unknown command '%s': expected send, status, dump, flush or purge", command);
}
