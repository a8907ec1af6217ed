/* ep-stream.c: read back the NATS JetStream stream that ep-consumer's gateway fills
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   ep-stream [OPTION...] info | count | ids | dump | check FILE
 *
 * Reads the whole stream once with an ordered consumer (ephemeral: it
 * leaves nothing behind on the server, acknowledges nothing, and is
 * recreated by nats.c after a gap), from the first message to the last one
 * there was when it started. Each message's id is its Nats-Msg-Id header:
 * the event id, as ep-consumer publishes it.
 *
 *   info        the stream's messages, replicas and cluster leader
 *   count       messages, distinct ids, ids seen more than once
 *   ids         every id, one a line, in stream order
 *   dump        every message's data (the JSON line), one a line
 *   check FILE  FILE lists ids, one a line (the log of what a producer
 *               stored): prints "missing ID" for each listed id not in the
 *               stream, "duplicate ID N" for each id the stream holds N > 1
 *               times, "unexpected ID" for ids in the stream and not listed,
 *               then a summary line. Exit status 1 when an id is missing or
 *               duplicated, else 0.
 *
 * count and check start again (up to 3 times) when no message comes for
 * --timeout (a consumer without a leader right after a restart); ids and
 * dump, which print as they read, do not.
 *
 * Exit status 2 for a bad command line, 3 when the stream cannot be read.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>

#include "ep-nats.h"

static char *opt_server;
static char *opt_stream;
static char *opt_creds;
static char *opt_token_file;
static char *opt_ca;
static int opt_timeout_ms = 5000;

#define READ_ATTEMPTS 3

static const GOptionEntry entries[] = {
  { "server", 's', 0, G_OPTION_ARG_STRING, &opt_server,
    "NATS servers, nats://HOST:PORT[,...] (default nats://127.0.0.1:4222)", "URLS" },
  { "stream", 0, 0, G_OPTION_ARG_STRING, &opt_stream,
    "The stream (default EP_EVENTS)", "NAME" },
  { "nats-creds", 0, 0, G_OPTION_ARG_FILENAME, &opt_creds,
    "NATS user credentials file", "FILE" },
  { "nats-token-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_token_file,
    "Read the NATS authentication token from FILE", "FILE" },
  { "nats-ca", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca,
    "Use TLS, trusting the CA certificates in FILE", "FILE" },
  { "timeout", 0, 0, G_OPTION_ARG_INT, &opt_timeout_ms,
    "Give up when no message comes for MS milliseconds (default 5000)", "MS" },
  { NULL }
};

typedef enum {
  COMMAND_INFO,
  COMMAND_COUNT,
  COMMAND_IDS,
  COMMAND_DUMP,
  COMMAND_CHECK,
} Command;

typedef struct {
  Command     command;
  GHashTable *counts;    /* id -> number of messages with it */
  GPtrArray  *order;     /* ids, borrowed from counts, in first-seen order */
  guint64     messages;
  guint64     without_id;
} Reader;

static void
reader_take (Reader  *reader,
             natsMsg *msg)
{
  const char *id = NULL;
  gpointer key, value;

  reader->messages++;
  if (natsMsgHeader_Get (msg, "Nats-Msg-Id", &id) != NATS_OK || id == NULL)
    {
      reader->without_id++;
      id = NULL;
    }
  if (reader->command == COMMAND_IDS && id != NULL)
    printf ("%s\n", id);
  else if (reader->command == COMMAND_DUMP)
    printf ("%.*s\n", natsMsg_GetDataLength (msg), natsMsg_GetData (msg));
  if (id == NULL)
    return;

  if (g_hash_table_lookup_extended (reader->counts, id, &key, &value))
    g_hash_table_insert (reader->counts, key, GUINT_TO_POINTER (GPOINTER_TO_UINT (value) + 1));
  else
    {
      char *copy = g_strdup (id);

      g_hash_table_insert (reader->counts, copy, GUINT_TO_POINTER (1));
      g_ptr_array_add (reader->order, copy);
    }
}

static gboolean
stream_subject (jsCtx       *js,
                const char  *stream,
                char       **subject,
                guint64     *messages,
                guint64     *last_seq,
                GError     **error)
{
  jsStreamInfo *info = NULL;
  jsErrCode code = 0;
  natsStatus s = js_GetStreamInfo (&info, js, stream, NULL, &code);

  if (s != NATS_OK)
    {
      ep_nats_set_error (error, s, "Could not read the stream's information");
      return FALSE;
    }
  *messages = info->State.Msgs;
  *last_seq = info->State.LastSeq;
  *subject = info->Config->SubjectsLen == 1 ? g_strdup (info->Config->Subjects[0])
                                            : g_strdup (">");
  jsStreamInfo_Destroy (info);

  return TRUE;
}

/* Every message up to the stream's last sequence when we started. Not
 * "until the consumer has nothing pending": right after a node restarted, a
 * message's NumPending can say 0 while more follow (the scaleout suite saw
 * a dump stop 1,117 messages short while `check`, reading the same stream,
 * found every id). Or, if the last messages were deleted, until nothing is
 * pending and we have as many as the stream had. Short of either, NextMsg
 * times out: an error, not a short list. */
static gboolean
reader_read (Reader       *reader,
             jsCtx        *js,
             GError      **error)
{
  g_autofree char *subject = NULL;
  natsSubscription *sub = NULL;
  jsSubOptions options;
  jsErrCode code = 0;
  guint64 messages = 0, last_seq = 0;
  natsStatus s;

  if (!stream_subject (js, opt_stream, &subject, &messages, &last_seq, error))
    return FALSE;
  if (messages == 0)
    return TRUE;

  jsSubOptions_Init (&options);
  options.Stream = opt_stream;
  options.Ordered = true;
  options.Config.HeadersOnly = reader->command != COMMAND_DUMP;
  s = js_SubscribeSync (&sub, js, subject, NULL, &options, &code);
  while (s == NATS_OK)
    {
      natsMsg *msg = NULL;
      jsMsgMetaData *meta = NULL;
      gboolean last;

      s = natsSubscription_NextMsg (&msg, sub, opt_timeout_ms);
      if (s != NATS_OK)
        break;
      s = natsMsg_GetMetaData (&meta, msg);
      if (s == NATS_OK)
        {
          reader_take (reader, msg);
          last = meta->Sequence.Stream >= last_seq
                 || (meta->NumPending == 0 && reader->messages >= messages);
          jsMsgMetaData_Destroy (meta);
        }
      natsMsg_Destroy (msg);
      if (s == NATS_OK && last)
        break;
    }
  natsSubscription_Destroy (sub);
  if (s != NATS_OK)
    {
      ep_nats_set_error (error, s, "Could not read the stream");
      return FALSE;
    }

  return TRUE;
}

/* Right after a server restarted, the consumer may get no leader in
 * time: start again from the first message, a few times */
static gboolean
reader_read_retrying (Reader  *reader,
                      jsCtx   *js,
                      GError **error)
{
  for (guint attempt = 1; ; attempt++)
    {
      g_autoptr(GError) local_error = NULL;

      if (reader_read (reader, js, &local_error))
        return TRUE;
      if (attempt == READ_ATTEMPTS || reader->command == COMMAND_IDS
          || reader->command == COMMAND_DUMP)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_printerr ("ep-stream: %s; reading again from the start\n", local_error->message);
      g_hash_table_remove_all (reader->counts);
      g_ptr_array_set_size (reader->order, 0);
      reader->messages = reader->without_id = 0;
      g_usleep (G_USEC_PER_SEC);
    }
}

static guint
reader_count_duplicated (Reader *reader)
{
  guint duplicated = 0;

  for (guint i = 0; i < reader->order->len; i++)
    duplicated += GPOINTER_TO_UINT (g_hash_table_lookup (reader->counts,
                                                         reader->order->pdata[i])) > 1;

  return duplicated;
}

static int
reader_check (Reader      *reader,
              const char  *path,
              GError     **error)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  guint missing = 0, duplicated = 0, unexpected = 0;
  guint64 extra = 0;

  if (!g_file_get_contents (path, &contents, NULL, error))
    return 3;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *id = g_strstrip (lines[i]);

      if (*id == '\0' || !g_hash_table_add (listed, (gpointer) id))
        continue;
      if (!g_hash_table_contains (reader->counts, id))
        {
          printf ("missing %s\n", id);
          missing++;
        }
    }
  for (guint i = 0; i < reader->order->len; i++)
    {
      const char *id = reader->order->pdata[i];
      guint n = GPOINTER_TO_UINT (g_hash_table_lookup (reader->counts, id));

      if (n > 1)
        {
          printf ("duplicate %s %u\n", id, n);
          duplicated++;
          extra += n - 1;
        }
      if (!g_hash_table_contains (listed, id))
        {
          printf ("unexpected %s\n", id);
          unexpected++;
        }
    }
  printf ("checked %u ids against %" G_GUINT64_FORMAT " messages: %u missing, %u duplicated "
          "(%" G_GUINT64_FORMAT " extra copies), %u not in the list, %" G_GUINT64_FORMAT
          " without an id\n", g_hash_table_size (listed), reader->messages, missing,
          duplicated, extra, unexpected, reader->without_id);

  return missing > 0 || duplicated > 0 ? 1 : 0;
}

static gboolean
parse_command (int       argc,
               char    **argv,
               Command  *command,
               GError  **error)
{
  const char *name = argc > 1 ? argv[1] : "";
  int wanted_argc = 2;

  if (g_str_equal (name, "info"))
    *command = COMMAND_INFO;
  else if (g_str_equal (name, "count"))
    *command = COMMAND_COUNT;
  else if (g_str_equal (name, "ids"))
    *command = COMMAND_IDS;
  else if (g_str_equal (name, "dump"))
    *command = COMMAND_DUMP;
  else if (g_str_equal (name, "check"))
    {
      *command = COMMAND_CHECK;
      wanted_argc = 3;
    }
  else
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "Give a command: info, count, ids, dump or check FILE (see --help)");
      return FALSE;
    }
  if (argc != wanted_argc)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "%s takes %s", name, wanted_argc == 3 ? "one FILE" : "no argument");
      return FALSE;
    }

  return TRUE;
}

static gboolean
connect_js (natsConnection **nc,
            jsCtx          **js,
            GError         **error)
{
  EpNatsServer server = { opt_server, opt_creds, opt_token_file, opt_ca };
  natsOptions *options = ep_nats_options_new (&server, "ep-stream", error);
  natsStatus s;

  if (options == NULL)
    return FALSE;
  s = natsConnection_Connect (nc, options);
  natsOptions_Destroy (options);
  if (s == NATS_OK)
    s = natsConnection_JetStream (js, *nc, NULL);
  if (s != NATS_OK)
    {
      ep_nats_set_error (error, s, "Could not connect to NATS");
      return FALSE;
    }

  return TRUE;
}

static gboolean
print_info (jsCtx   *js,
            GError **error)
{
  jsStreamInfo *info = NULL;
  jsErrCode code = 0;
  natsStatus s = js_GetStreamInfo (&info, js, opt_stream, NULL, &code);

  if (s != NATS_OK)
    {
      ep_nats_set_error (error, s, "Could not read the stream's information");
      return FALSE;
    }
  printf ("stream %s\nmessages %" G_GUINT64_FORMAT "\nreplicas %" G_GINT64_FORMAT
          "\nleader %s\n", opt_stream, (guint64) info->State.Msgs,
          (gint64) info->Config->Replicas,
          info->Cluster != NULL && info->Cluster->Leader != NULL ? info->Cluster->Leader : "-");
  jsStreamInfo_Destroy (info);

  return TRUE;
}

static int
run (Command      command,
     const char  *file,
     GError     **error)
{
  Reader reader = { command, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
                    g_ptr_array_new (), 0, 0 };
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  int status = 3;

  if (command == COMMAND_INFO)
    status = connect_js (&nc, &js, error) && print_info (js, error) ? 0 : 3;
  else if (connect_js (&nc, &js, error) && reader_read_retrying (&reader, js, error))
    {
      if (command == COMMAND_COUNT)
        printf ("%" G_GUINT64_FORMAT " messages, %u distinct ids, %u duplicated, %"
                G_GUINT64_FORMAT " without an id\n", reader.messages,
                g_hash_table_size (reader.counts), reader_count_duplicated (&reader),
                reader.without_id);
      status = command == COMMAND_CHECK ? reader_check (&reader, file, error) : 0;
    }
  jsCtx_Destroy (js);
  natsConnection_Destroy (nc);
  g_ptr_array_unref (reader.order);
  g_hash_table_unref (reader.counts);

  return status;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("info | count | ids | dump | check FILE");
  g_autoptr(GError) error = NULL;
  Command command;
  int status;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (context, "Read back the NATS JetStream stream that "
                                         "ep-consumer --sink fills.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error)
      || !parse_command (argc, argv, &command, &error))
    {
      g_printerr ("ep-stream: %s\n", error->message);
      return 2;
    }
  if (opt_server == NULL)
    opt_server = g_strdup ("nats://127.0.0.1:4222");
  if (opt_stream == NULL)
    opt_stream = g_strdup ("EP_EVENTS");

  status = run (command, argc > 2 ? argv[2] : NULL, &error);
  if (error != NULL)
    g_printerr ("ep-stream: %s\n", error->message);
  fflush (stdout);
  nats_Close ();

  return status;
}
