/* ep-sqs.c: the SQS SendMessageBatch wire format
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Two pure pieces, no I/O:
 *  - the reply classifier (ep_batch_reply_parse), a small GMarkup state
 *    machine over the SQS reply elements (no entity expansion, no new
 *    dependency), and the Retry-After parser;
 *  - the form encoder (ep_sqs_encode_batch), which writes the keys in the
 *    order SPEC section 4 gives them.
 */
#include "config.h"

#include <string.h>

#include <libsoup/soup.h>

#include "ep-sqs-private.h"

#define MAX_LOGGED_TEXT   200

/* Retry-After -------------------------------------------------------------- */

/* 1*DIGIT, saturating at the cap; FALSE if @text is not delta-seconds. */
static gboolean
parse_delta_seconds (const char *text,
                     gint64     *out)
{
  gint64 value = 0;

  if (*text == '\0')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        return FALSE;
      value = MIN (value * 10 + (*p - '0'), (gint64) EP_RETRY_AFTER_MAX_SECONDS + 1);
    }
  *out = value;
  return TRUE;
}

gint64
ep_parse_retry_after (const char *value,
                      gint64      now_s)
{
  g_autofree char *text = NULL;
  g_autoptr(GDateTime) date = NULL;
  gint64 seconds;

  if (value == NULL)
    return -1;
  text = g_strstrip (g_strdup (value));
  if (parse_delta_seconds (text, &seconds))
    return CLAMP (seconds, 0, EP_RETRY_AFTER_MAX_SECONDS);

  /* An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms
   * that RFC 9110 asks recipients to accept). */
  date = soup_date_time_new_from_http_string (text);
  if (date == NULL)
    return -1;
  seconds = g_date_time_to_unix (date) - now_s;
  return CLAMP (seconds, 0, EP_RETRY_AFTER_MAX_SECONDS);
}

/* Replies ------------------------------------------------------------------ */

void
ep_batch_reply_free (EpBatchReply *reply)
{
  if (reply == NULL)
    return;
  g_clear_pointer (&reply->confirmed, g_hash_table_unref);
  g_clear_pointer (&reply->sender_faults, g_hash_table_unref);
  g_clear_pointer (&reply->retryable, g_hash_table_unref);
  g_free (reply->error_type);
  g_free (reply->error_code);
  g_free (reply->error_message);
  g_free (reply);
}

static EpBatchReply *
batch_reply_new (guint http_status)
{
  EpBatchReply *reply = g_new0 (EpBatchReply, 1);

  reply->kind = EP_REPLY_FAILED;
  reply->http_status = http_status;
  reply->retry_after_s = -1;
  reply->server_ms = -1;
  reply->confirmed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  reply->sender_faults = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  reply->retryable = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return reply;
}

/* Server-provided text made safe for one log line: valid UTF-8 without
 * control characters (each becomes '?'), at most MAX_LOGGED_TEXT
 * characters. */
static char *
sanitize_for_log (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text, -1);
  GString *out = g_string_new (NULL);
  const char *p = valid;
  guint n_chars = 0;

  for (; *p != '\0' && n_chars < MAX_LOGGED_TEXT; p = g_utf8_next_char (p), n_chars++)
    {
      gunichar c = g_utf8_get_char (p);

      if (g_unichar_iscntrl (c))
        g_string_append_c (out, '?');
      else
        g_string_append_unichar (out, c);
    }
  if (*p != '\0')
    g_string_append (out, "...");
  return g_string_free (out, FALSE);
}

/* The SQS reply parser: a stack of element local names and the fields of
 * the entry or error being read. */
typedef enum {
  ROOT_UNKNOWN,
  ROOT_BATCH_RESPONSE,
  ROOT_ERROR_RESPONSE,
} RootKind;

typedef struct {
  EpBatchReply *reply;        /* unowned: the reply being filled */
  GPtrArray    *stack;        /* (element-type utf8) owned: local names, root first */
  GString      *text;         /* owned: character data of the current leaf */
  RootKind      root;
  /* The entry being read (SendMessageBatchResultEntry or BatchResultErrorEntry). */
  char         *entry_id;           /* owned, nullable */
  char         *entry_message_id;   /* owned, nullable */
  char         *entry_code;         /* owned, nullable */
  char         *entry_sender_fault; /* owned, nullable */
  char         *error_message;      /* owned, nullable: ErrorResponse Message */
} ReplyParser;

static void
reply_parser_clear_entry (ReplyParser *parser)
{
  g_clear_pointer (&parser->entry_id, g_free);
  g_clear_pointer (&parser->entry_message_id, g_free);
  g_clear_pointer (&parser->entry_code, g_free);
  g_clear_pointer (&parser->entry_sender_fault, g_free);
}

static const char *
local_name (const char *qualified)
{
  const char *colon = strchr (qualified, ':');

  return colon != NULL ? colon + 1 : qualified;
}

/* The namespace that applies to @element: its own xmlns or xmlns:prefix
 * attribute, or NULL when it declares none. */
static const char *
declared_namespace (const char  *element,
                    const char **names,
                    const char **values)
{
  const char *colon = strchr (element, ':');
  g_autofree char *wanted = colon != NULL
    ? g_strdup_printf ("xmlns:%.*s", (int) (colon - element), element)
    : g_strdup ("xmlns");

  for (guint i = 0; names[i] != NULL; i++)
    if (g_str_equal (names[i], wanted))
      return values[i];
  return NULL;
}

static gboolean
check_root (ReplyParser  *parser,
            const char   *element,
            const char  **names,
            const char  **values,
            GError      **error)
{
  const char *name = local_name (element);
  const char *ns = declared_namespace (element, names, values);

  if (g_str_equal (name, "SendMessageBatchResponse"))
    parser->root = ROOT_BATCH_RESPONSE;
  else if (g_str_equal (name, "ErrorResponse"))
    parser->root = ROOT_ERROR_RESPONSE;
  else
    {
      g_autofree char *safe = sanitize_for_log (element);

      g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                   "unexpected root element <%s> (expected SendMessageBatchResponse or ErrorResponse)",
                   safe);
      return FALSE;
    }
  if (ns != NULL && !g_str_equal (ns, EP_SQS_XMLNS))
    {
      g_autofree char *safe = sanitize_for_log (ns);

      g_set_error (error, G_MARKUP_ERROR, G_MARKUP_ERROR_INVALID_CONTENT,
                   "unexpected XML namespace \"%s\" (expected \"%s\")", safe, EP_SQS_XMLNS);
      return FALSE;
    }
  return TRUE;
}

static void
reply_parser_start (GMarkupParseContext  *context,
                    const char           *element,
                    const char          **names,
                    const char          **values,
                    gpointer              user_data,
                    GError              **error)
{
  ReplyParser *parser = user_data;

  if (parser->stack->len == 0 && !check_root (parser, element, names, values, error))
    return;
  g_ptr_array_add (parser->stack, g_strdup (local_name (element)));
  g_string_truncate (parser->text, 0);
}

static void
reply_parser_text (GMarkupParseContext  *context,
                   const char           *text,
                   gsize                 text_len,
                   gpointer              user_data,
                   GError              **error)
{
  ReplyParser *parser = user_data;

  g_string_append_len (parser->text, text, text_len);
}

/* The local name @up levels above the element being closed, or "". */
static const char *
ancestor (ReplyParser *parser,
          guint        up)
{
  guint len = parser->stack->len;

  return up < len ? g_ptr_array_index (parser->stack, len - 1 - up) : "";
}

static void
store_text (char       **field,
            const char  *text)
{
  g_free (*field);
  *field = g_strstrip (g_strdup (text));
}

static void
finish_result_entry (ReplyParser *parser)
{
  if (parser->entry_id != NULL && parser->entry_id[0] != '\0')
    g_hash_table_replace (parser->reply->confirmed, g_steal_pointer (&parser->entry_id),
                          g_strdup (parser->entry_message_id ? parser->entry_message_id : ""));
  reply_parser_clear_entry (parser);
}

/* SenderFault is xsd:boolean; an entry without a recognisable value is
 * treated as retryable (keeping the event is the safe choice). */
static gboolean
is_true (const char *text)
{
  return text != NULL && (g_str_equal (text, "true") || g_str_equal (text, "1"));
}

static void
finish_error_entry (ReplyParser *parser)
{
  GHashTable *table = is_true (parser->entry_sender_fault)
    ? parser->reply->sender_faults : parser->reply->retryable;

  if (parser->entry_id != NULL && parser->entry_id[0] != '\0')
    g_hash_table_replace (table, g_steal_pointer (&parser->entry_id),
                          g_strdup (parser->entry_code ? parser->entry_code : ""));
  reply_parser_clear_entry (parser);
}

static void
end_batch_element (ReplyParser *parser,
                   const char  *name)
{
  const char *parent = ancestor (parser, 1);
  gboolean in_entry = parser->stack->len == 4
    && g_str_equal (ancestor (parser, 2), "SendMessageBatchResult");

  if (parser->stack->len == 3 && g_str_equal (parent, "SendMessageBatchResult"))
    {
      if (g_str_equal (name, "SendMessageBatchResultEntry"))
        finish_result_entry (parser);
      else if (g_str_equal (name, "BatchResultErrorEntry"))
        finish_error_entry (parser);
      return;
    }
  if (!in_entry)
    return;
  if (g_str_equal (name, "Id"))
    store_text (&parser->entry_id, parser->text->str);
  else if (g_str_equal (name, "MessageId"))
    store_text (&parser->entry_message_id, parser->text->str);
  else if (g_str_equal (name, "Code"))
    store_text (&parser->entry_code, parser->text->str);
  else if (g_str_equal (name, "SenderFault"))
    store_text (&parser->entry_sender_fault, parser->text->str);
}

static void
end_error_element (ReplyParser *parser,
                   const char  *name)
{
  if (!g_str_equal (ancestor (parser, 1), "Error"))
    return;
  if (g_str_equal (name, "Type"))
    store_text (&parser->reply->error_type, parser->text->str);
  else if (g_str_equal (name, "Code"))
    store_text (&parser->reply->error_code, parser->text->str);
  else if (g_str_equal (name, "Message"))
    store_text (&parser->error_message, parser->text->str);
}

static void
reply_parser_end (GMarkupParseContext  *context,
                  const char           *element,
                  gpointer              user_data,
                  GError              **error)
{
  ReplyParser *parser = user_data;
  const char *name = local_name (element);

  if (parser->root == ROOT_BATCH_RESPONSE)
    end_batch_element (parser, name);
  else
    end_error_element (parser, name);
  g_ptr_array_set_size (parser->stack, parser->stack->len - 1);
  g_string_truncate (parser->text, 0);
}

static const GMarkupParser reply_markup_parser = {
  reply_parser_start,
  reply_parser_end,
  reply_parser_text,
  NULL,
  NULL,
};

static gboolean
body_is_blank (const char *body,
               gsize       body_len)
{
  for (gsize i = 0; i < body_len; i++)
    if (!g_ascii_isspace (body[i]))
      return FALSE;
  return TRUE;
}

/* Parses @body into @reply (tables and error fields). Returns the root
 * element kind, or ROOT_UNKNOWN with @error set when the body is not an SQS
 * reply. */
static RootKind
parse_sqs_xml (EpBatchReply  *reply,
               const char    *body,
               gsize          body_len,
               char         **error_message,
               GError       **error)
{
  ReplyParser parser = { reply, NULL, NULL, ROOT_UNKNOWN, };
  g_autoptr(GMarkupParseContext) context = NULL;
  gboolean ok;

  if (body == NULL || body_is_blank (body, body_len))
    {
      g_set_error_literal (error, G_MARKUP_ERROR, G_MARKUP_ERROR_EMPTY,
                           "the body is empty (expected SQS XML)");
      return ROOT_UNKNOWN;
    }
  parser.stack = g_ptr_array_new_with_free_func (g_free);
  parser.text = g_string_new (NULL);
  context = g_markup_parse_context_new (&reply_markup_parser,
                                        G_MARKUP_TREAT_CDATA_AS_TEXT | G_MARKUP_PREFIX_ERROR_POSITION,
                                        &parser, NULL);
  ok = g_markup_parse_context_parse (context, body, body_len, error)
       && g_markup_parse_context_end_parse (context, error);

  reply_parser_clear_entry (&parser);
  g_ptr_array_unref (parser.stack);
  g_string_free (parser.text, TRUE);
  *error_message = g_steal_pointer (&parser.error_message);
  return ok ? parser.root : ROOT_UNKNOWN;
}

static void
clear_entries (EpBatchReply *reply)
{
  g_hash_table_remove_all (reply->confirmed);
  g_hash_table_remove_all (reply->sender_faults);
  g_hash_table_remove_all (reply->retryable);
}

static void
classify_success (EpBatchReply *reply,
                  const char   *body,
                  gsize         body_len)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  RootKind root = parse_sqs_xml (reply, body, body_len, &message, &error);

  if (root == ROOT_BATCH_RESPONSE)
    {
      reply->kind = EP_REPLY_BATCH_RESULT;
      reply->sqs_body = TRUE;
      reply->error_message = g_strdup_printf ("%u confirmed, %u refused, %u to retry",
                                              g_hash_table_size (reply->confirmed),
                                              g_hash_table_size (reply->sender_faults),
                                              g_hash_table_size (reply->retryable));
      return;
    }
  clear_entries (reply);
  reply->kind = EP_REPLY_FAILED;
  if (root == ROOT_ERROR_RESPONSE)
    reply->error_message = g_strdup_printf ("a success status with an SQS ErrorResponse (%s)",
                                            reply->error_code ? reply->error_code : "no code");
  else
    {
      /* a well-formed document with another root sets no GError */
      g_autofree char *safe = sanitize_for_log (error != NULL ? error->message
                                                : message != NULL ? message
                                                : "another root element");

      reply->error_message = g_strdup_printf ("the body is not an SQS "
                                              "SendMessageBatchResponse: %s", safe);
    }
}

static gboolean
is_ids_not_distinct (EpBatchReply *reply)
{
  return g_strcmp0 (reply->error_type, "Sender") == 0
         && g_strcmp0 (reply->error_code, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct") == 0;
}

/* A whole-batch refusal (SPEC section 4): a 400 with any code but
 * BatchEntryIdsNotDistinct (or no SQS body at all), a 413, and the other
 * 4xx except 401/403 (credentials), 404 (wrong URI), 408 (timeout) and 429
 * (throttling). The consumer (or a middlebox) refuses something in the
 * request: the scheduler splits the batch to find out what, and drops an
 * event only given a witness, so a refusal of everything drops nothing. */
static gboolean
is_whole_batch_refusal (EpBatchReply *reply)
{
  switch (reply->http_status)
    {
    case 400:
      return g_strcmp0 (reply->error_code, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct") != 0;
    case 401:
    case 403:
    case 404:
    case 408:
    case 429:
      return FALSE;
    default:
      return reply->http_status > 400 && reply->http_status < 500;
    }
}

static EpReplyKind
kind_for_error_status (EpBatchReply *reply)
{
  switch (reply->http_status)
    {
    case 401:
    case 403:
      return EP_REPLY_AUTH_REJECTED;
    case 429:
    case 503:
      return EP_REPLY_THROTTLED;
    default:
      if (reply->http_status == 400 && is_ids_not_distinct (reply))
        return EP_REPLY_IDS_NOT_DISTINCT;
      return is_whole_batch_refusal (reply) ? EP_REPLY_BATCH_REFUSED : EP_REPLY_FAILED;
    }
}

/* "<reason phrase>[: <SQS code>][ (<SQS message>)]", for logs; the status
 * number itself is in EpBatchReply.http_status. */
static char *
describe_error (const char *reason,
                const char *code,
                const char *message)
{
  GString *out = g_string_new (reason);

  if (code != NULL)
    {
      g_autofree char *safe = sanitize_for_log (code);

      g_string_append_printf (out, ": %s", safe);
    }
  if (message != NULL)
    {
      g_autofree char *safe = sanitize_for_log (message);

      g_string_append_printf (out, " (%s)", safe);
    }
  return g_string_free (out, FALSE);
}

static void
classify_error (EpBatchReply *reply,
                const char   *retry_after,
                gint64        now_s,
                const char   *body,
                gsize         body_len)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *message = NULL;
  const char *reason = soup_status_get_phrase (reply->http_status);

  /* The body only refines the log line (and the 400 case): an error status
   * is an error whatever it carries. */
  if (parse_sqs_xml (reply, body, body_len, &message, &error) == ROOT_ERROR_RESPONSE)
    reply->sqs_body = TRUE;
  else
    {
      g_clear_pointer (&reply->error_type, g_free);
      g_clear_pointer (&reply->error_code, g_free);
      g_clear_pointer (&message, g_free);
    }
  clear_entries (reply);
  reply->kind = kind_for_error_status (reply);
  if (reply->kind == EP_REPLY_THROTTLED)
    reply->retry_after_s = ep_parse_retry_after (retry_after, now_s);

  reply->error_message = describe_error (reason, reply->error_code, message);
}

EpBatchReply *
ep_batch_reply_parse (guint       http_status,
                      const char *retry_after,
                      gint64      now_s,
                      const char *body,
                      gsize       body_len)
{
  EpBatchReply *reply = batch_reply_new (http_status);

  if (SOUP_STATUS_IS_SUCCESSFUL (http_status))
    classify_success (reply, body, body_len);
  else
    classify_error (reply, retry_after, now_s, body, body_len);
  return reply;
}

/* The form body ------------------------------------------------------------ */

/* RFC 3986 unreserved characters, kept as they are; every other byte is
 * percent-encoded (so a space is %20, which soup_form_decode and every
 * form decoder read back as a space). */
static inline gboolean
is_unreserved (guchar c)
{
  return g_ascii_isalnum (c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Written straight into room for the worst case (every byte encoded),
 * then cut to what was written: no check per byte. */
static void
append_encoded (GString    *out,
                const char *text)
{
  static const char hex[] = "0123456789ABCDEF";
  gsize start = out->len;
  char *dst;

  g_string_set_size (out, start + 3 * strlen (text));
  dst = out->str + start;
  for (const guchar *p = (const guchar *) text; *p != '\0'; p++)
    {
      if (is_unreserved (*p))
        {
          *dst++ = (char) *p;
          continue;
        }
      *dst++ = '%';
      *dst++ = hex[*p >> 4];
      *dst++ = hex[*p & 0xf];
    }
  g_string_truncate (out, (gsize) (dst - out->str));
}

/* Appends "SendMessageBatchRequestEntry.<n>.<field>=<encoded value>", after
 * an '&' unless it is the first pair. */
static void
append_field (GString    *out,
              guint       n,
              const char *field,
              const char *value)
{
  g_assert (n >= 1 && n <= 10);
  if (out->len > 0)
    g_string_append_c (out, '&');
  /* Not printf: this runs 8 times per event. */
  g_string_append_len (out, "SendMessageBatchRequestEntry.", strlen ("SendMessageBatchRequestEntry."));
  if (n == 10)
    g_string_append_len (out, "10", 2);
  else
    g_string_append_c (out, (char) ('0' + n));
  g_string_append_c (out, '.');
  g_string_append (out, field);
  g_string_append_c (out, '=');
  append_encoded (out, value != NULL ? value : "");
}

static void
append_entry (GString       *out,
              guint          n,
              const EpEvent *event)
{
  append_field (out, n, "Id", event->id);
  append_field (out, n, "MessageBody", event->payload);
  append_field (out, n, "MessageAttribute.1.Name", "Name");
  append_field (out, n, "MessageAttribute.1.Value.StringValue", event->name);
  append_field (out, n, "MessageAttribute.1.Value.DataType", "String");
  append_field (out, n, "MessageAttribute.2.Name", "Headers");
  append_field (out, n, "MessageAttribute.2.Value.StringValue", event->headers_json);
  append_field (out, n, "MessageAttribute.2.Value.DataType", "String");
}

GBytes *
ep_sqs_encode_batch (const EpEvent * const *events,
                     guint                  n_events)
{
  GString *out;
  gsize estimate = 0;

  g_return_val_if_fail (events != NULL, NULL);
  g_return_val_if_fail (n_events >= 1 && n_events <= 10, NULL);

  /* Most payload bytes are JSON punctuation that gets encoded: size for
   * about twice the logical size plus the keys (~450 bytes an entry). */
  for (guint i = 0; i < n_events; i++)
    estimate += 2 * events[i]->logical_size + 512;
  out = g_string_sized_new (estimate);
  for (guint i = 0; i < n_events; i++)
    append_entry (out, i + 1, events[i]);
  return g_string_free_to_bytes (out);
}

GBytes *
ep_sqs_gzip (GBytes *body)
{
  g_autoptr(GZlibCompressor) compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, -1);
  gsize in_len;
  const guint8 *in = g_bytes_get_data (body, &in_len);
  /* deflate's worst case is a few bytes per 16 KB block over the input,
   * plus the gzip header and trailer: the output rarely grows */
  GByteArray *out = g_byte_array_sized_new (in_len / 2 + 64);
  gsize in_pos = 0;

  for (;;)
    {
      guint8 chunk[16384];
      gsize read = 0, written = 0;
      g_autoptr(GError) error = NULL;
      GConverterResult result =
        g_converter_convert (G_CONVERTER (compressor), in + in_pos, in_len - in_pos,
                             chunk, sizeof chunk, G_CONVERTER_INPUT_AT_END, &read, &written,
                             &error);

      /* zlib cannot fail on memory it was given (out of memory aborts) */
      g_assert (result != G_CONVERTER_ERROR);
      in_pos += read;
      g_byte_array_append (out, chunk, written);
      if (result == G_CONVERTER_FINISHED)
        break;
    }
  return g_byte_array_free_to_bytes (out);
}
