/* ep-consumer.c: a local TL consumer speaking Amazon SQS SendMessageBatch
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * A stand-alone development server (it does not link ep-glib). It accepts
 * SendMessageBatch requests in the SQS query protocol (form-encoded, as
 * ep-glib and botocore send them) and in the SQS JSON protocol (newer AWS
 * SDKs), validates them as SQS does, answers with real SQS replies and writes
 * every accepted event as one JSON line. It can inject faults on demand.
 */

#ifndef GLIB_VERSION_MIN_REQUIRED
# define GLIB_VERSION_MIN_REQUIRED GLIB_VERSION_2_74
#endif
#ifndef GLIB_VERSION_MAX_ALLOWED
# define GLIB_VERSION_MAX_ALLOWED GLIB_VERSION_2_74
#endif
#ifndef SOUP_VERSION_MIN_REQUIRED
# define SOUP_VERSION_MIN_REQUIRED SOUP_VERSION_3_2
#endif
#ifndef SOUP_VERSION_MAX_ALLOWED
# define SOUP_VERSION_MAX_ALLOWED SOUP_VERSION_3_2
#endif
#ifndef JSON_VERSION_MIN_REQUIRED
# define JSON_VERSION_MIN_REQUIRED JSON_VERSION_1_6
#endif
#ifndef JSON_VERSION_MAX_ALLOWED
# define JSON_VERSION_MAX_ALLOWED JSON_VERSION_1_6
#endif
#ifndef PACKAGE_VERSION
# define PACKAGE_VERSION "0.1.0"
#endif

#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#define SQS_NAMESPACE          "http://queue.amazonaws.com/doc/2012-11-05/"
#define SQS_API_VERSION        "2012-11-05"
#define SQS_ACTION             "SendMessageBatch"
#define SQS_JSON_TARGET        "AmazonSQS.SendMessageBatch"
#define SQS_JSON_CONTENT_TYPE  "application/x-amz-json-1.0"
#define SQS_ERROR_PREFIX       "AWS.SimpleQueueService."
#define SQS_MAX_ENTRIES        10
#define SQS_MAX_ID_LENGTH      80
#define SQS_MAX_BATCH_BYTES    262144
#define SQS_MAX_ATTRIBUTES     10
#define SQS_MAX_NAME_LENGTH    256
#define SQS_MAX_DELAY_SECONDS  900
#define ENTRY_PREFIX           "SendMessageBatchRequestEntry."
#define ENDPOINT_PRIVATE       "/api/event-batch"
#define ENDPOINT_PUBLIC        "/api/public/event-batch"
#define MAX_REQUEST_BYTES      (4 * 1024 * 1024)
#define STATUS_INTERVAL_MS     250
#define MESSAGE_PREVIEW_CHARS  64

/* ------------------------------------------------------------------------ */
/* Errors a request can get, as SQS names them                              */

typedef enum {
  SQS_ERROR_EMPTY_BATCH,
  SQS_ERROR_TOO_MANY_ENTRIES,
  SQS_ERROR_INVALID_ENTRY_ID,
  SQS_ERROR_IDS_NOT_DISTINCT,
  SQS_ERROR_BATCH_TOO_LONG,
  SQS_ERROR_MISSING_PARAMETER,
  SQS_ERROR_INVALID_PARAMETER,
  SQS_ERROR_INVALID_ACTION,
  SQS_ERROR_MALFORMED_QUERY,
  SQS_ERROR_UNSUPPORTED_MEDIA_TYPE,
  SQS_ERROR_REQUEST_TOO_LARGE,
  SQS_ERROR_METHOD_NOT_ALLOWED,
  SQS_ERROR_NOT_FOUND,
  SQS_ERROR_MISSING_TOKEN,
  SQS_ERROR_INVALID_TOKEN,
  SQS_ERROR_ACCESS_DENIED,
  SQS_ERROR_INTERNAL,
} SqsError;

typedef struct {
  const char *code;    /* the query protocol's Error/Code */
  guint       status;  /* HTTP status */
  gboolean    sender;  /* Type Sender (TRUE) or Receiver (FALSE) */
} SqsErrorInfo;

static const SqsErrorInfo sqs_errors[] = {
  [SQS_ERROR_EMPTY_BATCH] = { SQS_ERROR_PREFIX "EmptyBatchRequest", 400, TRUE },
  [SQS_ERROR_TOO_MANY_ENTRIES] = { SQS_ERROR_PREFIX "TooManyEntriesInBatchRequest", 400, TRUE },
  [SQS_ERROR_INVALID_ENTRY_ID] = { SQS_ERROR_PREFIX "InvalidBatchEntryId", 400, TRUE },
  [SQS_ERROR_IDS_NOT_DISTINCT] = { SQS_ERROR_PREFIX "BatchEntryIdsNotDistinct", 400, TRUE },
  [SQS_ERROR_BATCH_TOO_LONG] = { SQS_ERROR_PREFIX "BatchRequestTooLong", 400, TRUE },
  [SQS_ERROR_MISSING_PARAMETER] = { "MissingParameter", 400, TRUE },
  [SQS_ERROR_INVALID_PARAMETER] = { "InvalidParameterValue", 400, TRUE },
  [SQS_ERROR_INVALID_ACTION] = { "InvalidAction", 400, TRUE },
  [SQS_ERROR_MALFORMED_QUERY] = { "MalformedQueryString", 400, TRUE },
  [SQS_ERROR_UNSUPPORTED_MEDIA_TYPE] = { "UnsupportedMediaType", 415, TRUE },
  [SQS_ERROR_REQUEST_TOO_LARGE] = { "RequestEntityTooLarge", 413, TRUE },
  [SQS_ERROR_METHOD_NOT_ALLOWED] = { "MethodNotAllowed", 405, TRUE },
  [SQS_ERROR_NOT_FOUND] = { "NotFound", 404, TRUE },
  [SQS_ERROR_MISSING_TOKEN] = { "MissingAuthenticationToken", 401, TRUE },
  [SQS_ERROR_INVALID_TOKEN] = { "InvalidClientTokenId", 401, TRUE },
  [SQS_ERROR_ACCESS_DENIED] = { "AccessDenied", 403, TRUE },
  [SQS_ERROR_INTERNAL] = { "InternalFailure", 500, FALSE },
};

#define SQS_ERROR (sqs_error_quark ())
static G_DEFINE_QUARK (ep-consumer-sqs-error-quark, sqs_error)

/* ------------------------------------------------------------------------ */
/* Types                                                                    */

typedef struct {
  int      port;
  char    *port_file;
  char    *output;
  gboolean require_token;
  char    *token;
  int      latency_ms;
  double   fail_rate;
  int      fail_status;
  int      retry_after;
  double   sender_fault_rate;
  double   receiver_fault_rate;
  double   hang_rate;
  double   garbage_rate;
  gint64   seed;
  gboolean quiet;
  gboolean verbose;
  gboolean version;
} Options;

typedef struct {
  guint64 requests;         /* requests to the batch endpoints */
  guint64 accepted;         /* events confirmed and written */
  guint64 rejected;         /* events refused by validation */
  guint64 faults;           /* injected faults: requests and entries */
  guint64 failed_requests;  /* replies with a non-2xx status */
} Totals;

typedef struct {
  Options    *options;         /* borrowed from main () */
  SoupServer *server;          /* owned */
  GMainLoop  *loop;            /* owned */
  GRand      *rand;            /* owned; seeded by --seed */
  FILE       *output;          /* owned unless it is stdout */
  char       *output_name;     /* owned; for error messages */
  Totals      totals;
  gboolean    fail_all;        /* SIGUSR1 or /control/fail */
  guint       fail_all_status; /* status of fail-everything replies */
  int         fail_all_retry_after;
  gboolean    hang_all;        /* /control/hang */
  GPtrArray  *held;            /* HeldReply: delayed or hung replies, owned */
  GHashTable *warned;          /* unknown parameter names already reported */
  gboolean    status_line;     /* draw the live status line on stderr */
  gboolean    status_drawn;    /* the status line is on screen now */
  guint       status_id;       /* status line timeout source */
  gint64      started_us;
  gint64      rate_us;         /* when rate_accepted was sampled */
  guint64     rate_accepted;
  double      rate;            /* smoothed events per second */
  guint       signal_ids[3];
} Consumer;

typedef enum {
  PROTOCOL_QUERY,
  PROTOCOL_JSON,
  PROTOCOL_UNSUPPORTED,
} Protocol;

/* One request to a batch endpoint, alive during the handler */
typedef struct {
  Consumer          *consumer;
  SoupServerMessage *msg;         /* borrowed */
  const char        *endpoint;    /* the path it was posted to */
  Protocol           protocol;
  char              *request_id;  /* owned */
  guint              accepted;
  guint              rejected;
} Request;

/* A reply the server holds back: delayed by --latency or never sent */
typedef struct {
  Consumer          *consumer;
  SoupServerMessage *msg;        /* owned reference */
  guint              source_id;  /* 0 for a hung reply */
} HeldReply;

typedef struct {
  guint    index;         /* N in MessageAttribute.N */
  GString *name;          /* owned, NULL when absent */
  GString *data_type;     /* owned, NULL when absent */
  GString *string_value;  /* owned, NULL when absent */
  GString *binary_value;  /* owned, base64 text, NULL when absent */
  GBytes  *value;         /* owned; the value's bytes, set by validation */
} Attribute;

typedef struct {
  guint       index;          /* N in SendMessageBatchRequestEntry.N */
  GString    *id;             /* owned, NULL when absent */
  GString    *body;           /* owned, NULL when absent */
  GString    *delay;          /* owned, NULL when absent */
  GHashTable *attribute_map;  /* index -> Attribute, owns the attributes */
  GPtrArray  *attributes;     /* Attribute, borrowed; sorted by name */
  /* the result */
  const char *error_code;     /* static string; NULL when accepted */
  char       *error_message;  /* owned */
  gboolean    sender_fault;
  char       *message_id;     /* owned */
  char       *md5_body;       /* owned */
  char       *md5_attributes; /* owned, NULL without attributes */
} Entry;

typedef struct {
  GHashTable *entry_map;  /* index -> Entry, owns the entries */
  GPtrArray  *entries;    /* Entry, borrowed; sorted by index */
} Batch;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static gboolean
is_xml_char (gunichar c)
{
  return c == 0x9 || c == 0xA || c == 0xD
         || (c >= 0x20 && c <= 0xD7FF)
         || (c >= 0xE000 && c <= 0xFFFD)
         || (c >= 0x10000 && c <= 0x10FFFF);
}

/* A short, printable, valid UTF-8 rendering of untrusted bytes, for
 * messages and logs. */
static char *
printable (const char *data,
           gsize       len)
{
  g_autofree char *valid = g_utf8_make_valid (data, len);
  GString *out = g_string_new (NULL);
  guint count = 0;

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (count++ == MESSAGE_PREVIEW_CHARS)
        {
          g_string_append (out, "...");
          break;
        }
      g_string_append_unichar (out, is_xml_char (c) && c >= 0x20 ? c : 0xFFFD);
    }

  return g_string_free (out, FALSE);
}

static char *
printable_string (const GString *s)
{
  return printable (s->str, s->len);
}

static char *
random_uuid (GRand *rand)
{
  guint8 b[16];

  for (guint i = 0; i < sizeof b; i += 4)
    {
      guint32 r = g_rand_int (rand);
      memcpy (b + i, &r, 4);
    }
  b[6] = (b[6] & 0x0f) | 0x40;  /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80;  /* RFC 4122 variant */

  return g_strdup_printf ("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                          "%02x%02x%02x%02x%02x%02x",
                          b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                          b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static gboolean
roll (GRand  *rand,
      double  probability)
{
  return probability > 0 && g_rand_double (rand) < probability;
}

static char *
md5_hex (const void *data,
         gsize       len)
{
  return g_compute_checksum_for_data (G_CHECKSUM_MD5, data, len);
}

static char *
now_iso8601 (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *seconds = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds,
                          g_date_time_get_microsecond (now) / 1000);
}

static gboolean
parse_boolean (const char *text,
               gboolean   *value)
{
  static const char *const yes[] = { "1", "true", "on", "yes", NULL };
  static const char *const no[] = { "0", "false", "off", "no", NULL };

  if (text != NULL && g_strv_contains (yes, text))
    *value = TRUE;
  else if (text != NULL && g_strv_contains (no, text))
    *value = FALSE;
  else
    return FALSE;

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Logging and the live status line                                         */

static void
status_clear (Consumer *self)
{
  if (self->status_drawn)
    fputs ("\r\033[K", stderr);
  self->status_drawn = FALSE;
}

static void consumer_log (Consumer   *self,
                          const char *format,
                          ...) G_GNUC_PRINTF (2, 3);

static void
consumer_log (Consumer   *self,
              const char *format,
              ...)
{
  g_autofree char *text = NULL;
  va_list args;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);

  status_clear (self);
  fprintf (stderr, "ep-consumer: %s\n", text);
  fflush (stderr);
}

static void
status_update_rate (Consumer *self)
{
  gint64 now = g_get_monotonic_time ();
  double seconds = (now - self->rate_us) / (double) G_USEC_PER_SEC;
  double instant;

  if (seconds <= 0)
    return;
  instant = (self->totals.accepted - self->rate_accepted) / seconds;
  self->rate = 0.5 * self->rate + 0.5 * instant;
  self->rate_us = now;
  self->rate_accepted = self->totals.accepted;
}

static gboolean
status_tick (gpointer user_data)
{
  Consumer *self = user_data;
  const Totals *t = &self->totals;

  status_update_rate (self);
  fprintf (stderr,
           "\r\033[Krequests %" G_GUINT64_FORMAT "  accepted %" G_GUINT64_FORMAT
           "  rejected %" G_GUINT64_FORMAT "  faults %" G_GUINT64_FORMAT
           "  %.1f events/s%s%s",
           t->requests, t->accepted, t->rejected, t->faults, self->rate,
           self->fail_all ? "  [failing everything]" : "",
           self->hang_all ? "  [hanging everything]" : "");
  fflush (stderr);
  self->status_drawn = TRUE;

  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* The request model                                                        */

static void
attribute_free (gpointer data)
{
  Attribute *attribute = data;

  if (attribute->name != NULL)
    g_string_free (attribute->name, TRUE);
  if (attribute->data_type != NULL)
    g_string_free (attribute->data_type, TRUE);
  if (attribute->string_value != NULL)
    g_string_free (attribute->string_value, TRUE);
  if (attribute->binary_value != NULL)
    g_string_free (attribute->binary_value, TRUE);
  g_clear_pointer (&attribute->value, g_bytes_unref);
  g_free (attribute);
}

static void
entry_free (gpointer data)
{
  Entry *entry = data;

  if (entry->id != NULL)
    g_string_free (entry->id, TRUE);
  if (entry->body != NULL)
    g_string_free (entry->body, TRUE);
  if (entry->delay != NULL)
    g_string_free (entry->delay, TRUE);
  g_hash_table_unref (entry->attribute_map);
  g_ptr_array_unref (entry->attributes);
  g_free (entry->error_message);
  g_free (entry->message_id);
  g_free (entry->md5_body);
  g_free (entry->md5_attributes);
  g_free (entry);
}

static Batch *
batch_new (void)
{
  Batch *batch = g_new0 (Batch, 1);

  batch->entry_map = g_hash_table_new_full (NULL, NULL, NULL, entry_free);
  batch->entries = g_ptr_array_new ();

  return batch;
}

static void
batch_free (Batch *batch)
{
  g_ptr_array_unref (batch->entries);
  g_hash_table_unref (batch->entry_map);
  g_free (batch);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Batch, batch_free)

static Entry *
batch_lookup_entry (Batch *batch,
                    guint  index)
{
  Entry *entry = g_hash_table_lookup (batch->entry_map, GUINT_TO_POINTER (index));

  if (entry == NULL)
    {
      entry = g_new0 (Entry, 1);
      entry->index = index;
      entry->attribute_map = g_hash_table_new_full (NULL, NULL, NULL, attribute_free);
      entry->attributes = g_ptr_array_new ();
      g_hash_table_insert (batch->entry_map, GUINT_TO_POINTER (index), entry);
    }

  return entry;
}

static Attribute *
entry_lookup_attribute (Entry *entry,
                        guint  index)
{
  Attribute *attribute;

  attribute = g_hash_table_lookup (entry->attribute_map, GUINT_TO_POINTER (index));
  if (attribute == NULL)
    {
      attribute = g_new0 (Attribute, 1);
      attribute->index = index;
      g_hash_table_insert (entry->attribute_map, GUINT_TO_POINTER (index), attribute);
    }

  return attribute;
}

static int
compare_entries (gconstpointer a,
                 gconstpointer b)
{
  const Entry *x = *(const Entry **) a;
  const Entry *y = *(const Entry **) b;

  return (x->index > y->index) - (x->index < y->index);
}

static int
compare_attribute_indexes (gconstpointer a,
                           gconstpointer b)
{
  const Attribute *x = *(const Attribute **) a;
  const Attribute *y = *(const Attribute **) b;

  return (x->index > y->index) - (x->index < y->index);
}

static int
compare_attribute_names (gconstpointer a,
                         gconstpointer b)
{
  const Attribute *x = *(const Attribute **) a;
  const Attribute *y = *(const Attribute **) b;

  return strcmp (x->name->str, y->name->str);
}

/* Fill the ordered arrays once every parameter is parsed. */
static void
batch_seal (Batch *batch)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, batch->entry_map);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Entry *entry = value;
      GHashTableIter attribute_iter;
      gpointer attribute;

      g_ptr_array_add (batch->entries, entry);
      g_hash_table_iter_init (&attribute_iter, entry->attribute_map);
      while (g_hash_table_iter_next (&attribute_iter, NULL, &attribute))
        g_ptr_array_add (entry->attributes, attribute);
      g_ptr_array_sort (entry->attributes, compare_attribute_indexes);
    }
  g_ptr_array_sort (batch->entries, compare_entries);
}

/* ------------------------------------------------------------------------ */
/* Query protocol: application/x-www-form-urlencoded                       */

static gboolean
form_decode (const char  *data,
             gsize        len,
             GString     *out,
             GError     **error)
{
  for (gsize i = 0; i < len; i++)
    {
      int high, low;

      if (data[i] == '+')
        g_string_append_c (out, ' ');
      else if (data[i] != '%')
        g_string_append_c (out, data[i]);
      else if (i + 2 < len && (high = g_ascii_xdigit_value (data[i + 1])) >= 0
               && (low = g_ascii_xdigit_value (data[i + 2])) >= 0)
        {
          g_string_append_c (out, (char) (high << 4 | low));
          i += 2;
        }
      else
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                       "Malformed percent-encoding in the form data: '%%' must be "
                       "followed by two hex digits.");
          return FALSE;
        }
    }

  return TRUE;
}

static void
string_free (gpointer data)
{
  g_string_free (data, TRUE);
}

static gboolean
form_add_pair (GHashTable  *params,
               const char  *pair,
               gsize        len,
               GError     **error)
{
  const char *eq = memchr (pair, '=', len);
  gsize key_len = eq != NULL ? (gsize) (eq - pair) : len;
  g_autoptr(GString) key = g_string_new (NULL);
  g_autoptr(GString) value = g_string_new (NULL);

  if (!form_decode (pair, key_len, key, error))
    return FALSE;
  if (eq != NULL && !form_decode (eq + 1, len - key_len - 1, value, error))
    return FALSE;
  if (key->len == 0 || memchr (key->str, '\0', key->len) != NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                   "The form data holds a parameter with an empty or binary name.");
      return FALSE;
    }
  if (g_hash_table_contains (params, key->str))
    {
      g_autofree char *shown = printable_string (key);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The parameter %s appears more than once.", shown);
      return FALSE;
    }
  g_hash_table_insert (params, g_string_free (g_steal_pointer (&key), FALSE),
                       g_steal_pointer (&value));

  return TRUE;
}

/* Parse form data into name -> GString (values may hold any byte). */
static GHashTable *
form_parse (const char  *data,
            gsize        len,
            GError     **error)
{
  g_autoptr(GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                         g_free, string_free);
  const char *end = data + len;

  for (const char *p = data; p < end;)
    {
      const char *amp = memchr (p, '&', end - p);
      const char *stop = amp != NULL ? amp : end;

      if (stop > p && !form_add_pair (params, p, stop - p, error))
        return NULL;
      p = stop + 1;
    }

  return g_steal_pointer (&params);
}

static void
consumer_warn_parameter (Consumer   *self,
                         const char *name)
{
  GString *pattern = g_string_new (NULL);

  /* One warning per shape of name: the indexes become N */
  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        g_string_append_c (pattern, *p);
      else if (pattern->len == 0 || pattern->str[pattern->len - 1] != 'N')
        g_string_append_c (pattern, 'N');
    }

  if (g_hash_table_add (self->warned, g_string_free (pattern, FALSE)))
    {
      g_autofree char *shown = printable (name, strlen (name));

      consumer_log (self, "ignoring unknown parameter %s", shown);
    }
}

/* "12.Rest" -> 12 and "Rest" */
static gboolean
split_index (const char  *text,
             guint       *index,
             const char **rest)
{
  const char *dot = strchr (text, '.');
  g_autofree char *digits = NULL;
  guint64 value;

  if (dot == NULL)
    return FALSE;
  digits = g_strndup (text, dot - text);
  if (!g_ascii_string_to_unsigned (digits, 10, 1, G_MAXUINT, &value, NULL))
    return FALSE;
  *index = value;
  *rest = dot + 1;

  return TRUE;
}

static GString **
attribute_field (Attribute  *attribute,
                 const char *field)
{
  if (g_str_equal (field, "Name"))
    return &attribute->name;
  if (g_str_equal (field, "Value.DataType"))
    return &attribute->data_type;
  if (g_str_equal (field, "Value.StringValue"))
    return &attribute->string_value;
  if (g_str_equal (field, "Value.BinaryValue"))
    return &attribute->binary_value;

  return NULL;
}

static GString **
entry_field (Entry      *entry,
             const char *field)
{
  guint index;
  const char *rest;

  if (g_str_equal (field, "Id"))
    return &entry->id;
  if (g_str_equal (field, "MessageBody"))
    return &entry->body;
  if (g_str_equal (field, "DelaySeconds"))
    return &entry->delay;
  if (g_str_has_prefix (field, "MessageAttribute.")
      && split_index (field + strlen ("MessageAttribute."), &index, &rest))
    return attribute_field (entry_lookup_attribute (entry, index), rest);

  return NULL;
}

static gboolean
is_ignored_entry_field (const char *field)
{
  return g_str_equal (field, "MessageDeduplicationId")
         || g_str_equal (field, "MessageGroupId")
         || g_str_has_prefix (field, "MessageSystemAttribute.");
}

static void
batch_set_query_parameter (Consumer      *self,
                           Batch         *batch,
                           const char    *name,
                           const GString *value)
{
  guint index;
  const char *field;
  GString **slot = NULL;

  if (g_str_has_prefix (name, ENTRY_PREFIX)
      && split_index (name + strlen (ENTRY_PREFIX), &index, &field))
    {
      if (is_ignored_entry_field (field))
        return;
      slot = entry_field (batch_lookup_entry (batch, index), field);
    }

  if (slot == NULL)
    consumer_warn_parameter (self, name);
  else
    *slot = g_string_new_len (value->str, value->len);
}

static gboolean
is_top_level_parameter (const char *name)
{
  static const char *const known[] = {
    "Action", "Version", "QueueUrl", "AWSAccessKeyId", "Signature",
    "SignatureMethod", "SignatureVersion", "SecurityToken", "Timestamp",
    "Expires", NULL
  };

  return g_strv_contains (known, name);
}

static gboolean
check_query_action (GHashTable  *params,
                    GError     **error)
{
  GString *action = g_hash_table_lookup (params, "Action");
  GString *version = g_hash_table_lookup (params, "Version");

  if (action != NULL && !g_str_equal (action->str, SQS_ACTION))
    {
      g_autofree char *shown = printable_string (action);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ACTION,
                   "The action %s is not valid for this endpoint: "
                   "ep-consumer serves only " SQS_ACTION ".", shown);
      return FALSE;
    }
  if (version != NULL && !g_str_equal (version->str, SQS_API_VERSION))
    {
      g_autofree char *shown = printable_string (version);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Version %s is not supported: expected " SQS_API_VERSION ".",
                   shown);
      return FALSE;
    }

  return TRUE;
}

static Batch *
batch_from_query (Consumer    *self,
                  const char  *data,
                  gsize        len,
                  GError     **error)
{
  g_autoptr(GHashTable) params = form_parse (data, len, error);
  g_autoptr(Batch) batch = NULL;
  GHashTableIter iter;
  gpointer name, value;

  if (params == NULL || !check_query_action (params, error))
    return NULL;

  batch = batch_new ();
  g_hash_table_iter_init (&iter, params);
  while (g_hash_table_iter_next (&iter, &name, &value))
    if (!is_top_level_parameter (name))
      batch_set_query_parameter (self, batch, name, value);
  batch_seal (batch);

  return g_steal_pointer (&batch);
}

/* ------------------------------------------------------------------------ */
/* JSON protocol: application/x-amz-json-1.0                                */

static gboolean
json_get_string (JsonObject  *object,
                 const char  *member,
                 const char  *where,
                 GString    **out,
                 GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s.%s must be a JSON string.", where, member);
      return FALSE;
    }
  *out = g_string_new (json_node_get_string (node));

  return TRUE;
}

static gboolean
json_get_delay (JsonObject  *object,
                const char  *where,
                GString    **out,
                GError     **error)
{
  JsonNode *node = json_object_get_member (object, "DelaySeconds");

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s.DelaySeconds must be a JSON integer.", where);
      return FALSE;
    }
  *out = g_string_new (NULL);
  g_string_printf (*out, "%" G_GINT64_FORMAT, json_node_get_int (node));

  return TRUE;
}

static gboolean
json_read_attribute (Entry       *entry,
                     guint        index,
                     const char  *name,
                     JsonNode    *node,
                     GError     **error)
{
  Attribute *attribute = entry_lookup_attribute (entry, index);
  g_autofree char *where = g_strdup_printf ("Entries[%u].MessageAttributes.%s",
                                            entry->index - 1, name);
  JsonObject *object;

  attribute->name = g_string_new (name);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s must be a JSON object.", where);
      return FALSE;
    }
  object = json_node_get_object (node);

  return json_get_string (object, "DataType", where, &attribute->data_type, error)
         && json_get_string (object, "StringValue", where, &attribute->string_value, error)
         && json_get_string (object, "BinaryValue", where, &attribute->binary_value, error);
}

static gboolean
json_read_attributes (Entry       *entry,
                      JsonObject  *object,
                      GError     **error)
{
  JsonNode *node = json_object_get_member (object, "MessageAttributes");
  g_autoptr(GList) names = NULL;
  guint index = 1;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Entries[%u].MessageAttributes must be a JSON object.",
                   entry->index - 1);
      return FALSE;
    }
  names = json_object_get_members (json_node_get_object (node));
  for (GList *l = names; l != NULL; l = l->next)
    if (!json_read_attribute (entry, index++, l->data,
                              json_object_get_member (json_node_get_object (node), l->data),
                              error))
      return FALSE;

  return TRUE;
}

static void
json_warn_unknown_members (Consumer   *self,
                           JsonObject *object)
{
  static const char *const known[] = {
    "Id", "MessageBody", "DelaySeconds", "MessageAttributes",
    "MessageSystemAttributes", "MessageDeduplicationId", "MessageGroupId", NULL
  };
  g_autoptr(GList) names = json_object_get_members (object);

  for (GList *l = names; l != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        g_autofree char *name = g_strconcat ("Entries[].", l->data, NULL);

        consumer_warn_parameter (self, name);
      }
}

static gboolean
json_read_entry (Consumer    *self,
                 Batch       *batch,
                 guint        index,
                 JsonNode    *node,
                 GError     **error)
{
  Entry *entry = batch_lookup_entry (batch, index);
  g_autofree char *where = g_strdup_printf ("Entries[%u]", index - 1);
  JsonObject *object;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "%s must be a JSON object.", where);
      return FALSE;
    }
  object = json_node_get_object (node);
  json_warn_unknown_members (self, object);

  return json_get_string (object, "Id", where, &entry->id, error)
         && json_get_string (object, "MessageBody", where, &entry->body, error)
         && json_get_delay (object, where, &entry->delay, error)
         && json_read_attributes (entry, object, error);
}

static JsonArray *
json_request_entries (JsonNode  *root,
                      GError   **error)
{
  JsonNode *entries;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The request body must be a JSON object.");
      return NULL;
    }
  entries = json_object_get_member (json_node_get_object (root), "Entries");
  if (entries == NULL || !JSON_NODE_HOLDS_ARRAY (entries))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter Entries (a JSON array).");
      return NULL;
    }

  return json_node_get_array (entries);
}

static Batch *
batch_from_json (Consumer    *self,
                 const char  *data,
                 gsize        len,
                 GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(Batch) batch = batch_new ();
  g_autoptr(GError) parse_error = NULL;
  JsonArray *entries;

  if (!json_parser_load_from_data (parser, data, len, &parse_error))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The request body is not valid JSON: %s", parse_error->message);
      return NULL;
    }
  entries = json_request_entries (json_parser_get_root (parser), error);
  if (entries == NULL)
    return NULL;
  for (guint i = 0; i < json_array_get_length (entries); i++)
    if (!json_read_entry (self, batch, i + 1, json_array_get_element (entries, i), error))
      return NULL;
  batch_seal (batch);

  return g_steal_pointer (&batch);
}

/* ------------------------------------------------------------------------ */
/* Validation of the whole request, as SQS does it                          */

static gboolean
check_entry_id (const Entry  *entry,
                GError      **error)
{
  gboolean valid;

  if (entry->id == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter "
                   ENTRY_PREFIX "%u.Id.", entry->index);
      return FALSE;
    }

  valid = entry->id->len >= 1 && entry->id->len <= SQS_MAX_ID_LENGTH;
  for (gsize i = 0; valid && i < entry->id->len; i++)
    valid = g_ascii_isalnum (entry->id->str[i]) || entry->id->str[i] == '-'
            || entry->id->str[i] == '_';
  if (!valid)
    {
      g_autofree char *shown = printable_string (entry->id);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ENTRY_ID,
                   "The Id '%s' of entry %u is invalid: a batch entry id can only "
                   "contain alphanumeric characters, hyphens and underscores, and it "
                   "must be 1 to %d characters long.",
                   shown, entry->index, SQS_MAX_ID_LENGTH);
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_ids_distinct (Batch   *batch,
                    GError **error)
{
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < batch->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (batch->entries, i);

      if (!g_hash_table_add (seen, entry->id->str))
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_IDS_NOT_DISTINCT,
                       "Id %s repeated.", entry->id->str);
          return FALSE;
        }
    }

  return TRUE;
}

static gboolean
check_entry_body (const Entry  *entry,
                  GError      **error)
{
  if (entry->body == NULL || entry->body->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The request must contain the parameter "
                   ENTRY_PREFIX "%u.MessageBody (entry %s); it must not be empty.",
                   entry->index, entry->id->str);
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_entry_delay (const Entry  *entry,
                   GError      **error)
{
  guint64 delay;

  if (entry->delay == NULL
      || g_ascii_string_to_unsigned (entry->delay->str, 10, 0, SQS_MAX_DELAY_SECONDS,
                                     &delay, NULL))
    return TRUE;

  g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
               "DelaySeconds of entry %s must be an integer from 0 to %d.",
               entry->id->str, SQS_MAX_DELAY_SECONDS);
  return FALSE;
}

static gboolean
is_valid_attribute_name (const GString *name)
{
  if (name->len == 0 || name->len > SQS_MAX_NAME_LENGTH
      || name->str[0] == '.' || name->str[name->len - 1] == '.'
      || strstr (name->str, "..") != NULL
      || g_ascii_strncasecmp (name->str, "AWS.", 4) == 0
      || g_ascii_strncasecmp (name->str, "Amazon.", 7) == 0)
    return FALSE;

  for (gsize i = 0; i < name->len; i++)
    if (!g_ascii_isalnum (name->str[i]) && strchr ("_-.", name->str[i]) == NULL)
      return FALSE;

  return TRUE;
}

/* "String", "Number" or "Binary", optionally followed by ".label" */
static const char *
attribute_base_type (const GString *data_type)
{
  static const char *const bases[] = { "String", "Number", "Binary" };

  if (data_type->len > SQS_MAX_NAME_LENGTH)
    return NULL;

  for (guint i = 0; i < G_N_ELEMENTS (bases); i++)
    {
      gsize n = strlen (bases[i]);
      const char *label = data_type->str + n;

      if (strncmp (data_type->str, bases[i], n) != 0)
        continue;
      if (data_type->len == n)
        return bases[i];
      if (*label != '.' || data_type->len == n + 1)
        return NULL;
      for (gsize j = n + 1; j < data_type->len; j++)
        if (!g_ascii_isalnum (data_type->str[j]) && strchr ("_-.", data_type->str[j]) == NULL)
          return NULL;
      return bases[i];
    }

  return NULL;
}

static gboolean
is_valid_number (const char *s)
{
  gboolean digits = FALSE;

  if (*s == '+' || *s == '-')
    s++;
  for (; g_ascii_isdigit (*s); s++)
    digits = TRUE;
  if (*s == '.')
    for (s++; g_ascii_isdigit (*s); s++)
      digits = TRUE;
  if (!digits)
    return FALSE;
  if (*s == 'e' || *s == 'E')
    {
      s++;
      if (*s == '+' || *s == '-')
        s++;
      if (!g_ascii_isdigit (*s))
        return FALSE;
      while (g_ascii_isdigit (*s))
        s++;
    }

  return *s == '\0';
}

static gboolean
is_valid_base64 (const GString *text)
{
  gsize padding = 0;

  if (text->len % 4 != 0)
    return FALSE;
  for (gsize i = 0; i < text->len; i++)
    {
      char c = text->str[i];

      if (c == '=' && i >= text->len - 2)
        padding++;
      else if (padding > 0 || !(g_ascii_isalnum (c) || c == '+' || c == '/'))
        return FALSE;
    }

  return TRUE;
}

static gboolean
attribute_check_value (Attribute   *attribute,
                       const char  *base,
                       GError     **error)
{
  const char *name = attribute->name->str;
  gboolean binary = g_str_equal (base, "Binary");
  GString *value = binary ? attribute->binary_value : attribute->string_value;
  gsize decoded_len;
  guchar *decoded;

  if (value == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has DataType '%s' and needs a %s.",
                   name, attribute->data_type->str,
                   binary ? "BinaryValue" : "StringValue");
      return FALSE;
    }
  if (value->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' must contain a non-empty value of type '%s'.",
                   name, base);
      return FALSE;
    }
  if (g_str_equal (base, "Number") && !is_valid_number (value->str))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has DataType Number but its value is "
                   "not a decimal number.", name);
      return FALSE;
    }
  if (binary && !is_valid_base64 (value))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' has a BinaryValue that is not valid base64.",
                   name);
      return FALSE;
    }

  if (!binary)
    {
      attribute->value = g_bytes_new (value->str, value->len);
      return TRUE;
    }
  decoded = g_base64_decode (value->str, &decoded_len);
  attribute->value = g_bytes_new_take (decoded, decoded_len);

  return TRUE;
}

static gboolean
attribute_check (const Entry  *entry,
                 Attribute    *attribute,
                 GError      **error)
{
  const char *base;

  if (attribute->name == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "Message attribute %u of entry %s has no Name.",
                   attribute->index, entry->id->str);
      return FALSE;
    }
  if (!is_valid_attribute_name (attribute->name))
    {
      g_autofree char *shown = printable_string (attribute->name);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Message attribute name '%s' of entry %s is invalid: it must be 1 to %d "
                   "characters of A-Z, a-z, 0-9, '_', '-' and '.', without '..', without a "
                   "leading or trailing '.', and not start with 'AWS.' or 'Amazon.'.",
                   shown, entry->id->str, SQS_MAX_NAME_LENGTH);
      return FALSE;
    }
  if (attribute->data_type == NULL || attribute->data_type->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The message attribute '%s' of entry %s must contain a non-empty "
                   "Value.DataType.", attribute->name->str, entry->id->str);
      return FALSE;
    }
  base = attribute_base_type (attribute->data_type);
  if (base == NULL)
    {
      g_autofree char *shown = printable_string (attribute->data_type);

      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' of entry %s has an invalid DataType '%s': "
                   "expected String, Number or Binary, optionally followed by .label.",
                   attribute->name->str, entry->id->str, shown);
      return FALSE;
    }
  if (attribute->string_value == NULL && attribute->binary_value == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_PARAMETER,
                   "The message attribute '%s' of entry %s must contain "
                   "Value.StringValue or Value.BinaryValue.",
                   attribute->name->str, entry->id->str);
      return FALSE;
    }
  if (attribute->string_value != NULL && attribute->binary_value != NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "The message attribute '%s' of entry %s has both a StringValue and a "
                   "BinaryValue; exactly one is allowed.",
                   attribute->name->str, entry->id->str);
      return FALSE;
    }

  return attribute_check_value (attribute, base, error);
}

static gboolean
check_entry_attributes (Entry   *entry,
                        GError **error)
{
  if (entry->attributes->len > SQS_MAX_ATTRIBUTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                   "Number of message attributes [%u] of entry %s exceeds the allowed "
                   "maximum [%d].", entry->attributes->len, entry->id->str,
                   SQS_MAX_ATTRIBUTES);
      return FALSE;
    }
  for (guint i = 0; i < entry->attributes->len; i++)
    if (!attribute_check (entry, g_ptr_array_index (entry->attributes, i), error))
      return FALSE;

  g_ptr_array_sort (entry->attributes, compare_attribute_names);
  for (guint i = 1; i < entry->attributes->len; i++)
    {
      Attribute *a = g_ptr_array_index (entry->attributes, i - 1);
      Attribute *b = g_ptr_array_index (entry->attributes, i);

      if (g_str_equal (a->name->str, b->name->str))
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_PARAMETER,
                       "Message attribute name '%s' of entry %s is repeated.",
                       a->name->str, entry->id->str);
          return FALSE;
        }
    }

  return TRUE;
}

static gsize
entry_payload_size (const Entry *entry)
{
  gsize size = entry->body->len;

  for (guint i = 0; i < entry->attributes->len; i++)
    {
      Attribute *attribute = g_ptr_array_index (entry->attributes, i);

      size += attribute->name->len + attribute->data_type->len
              + g_bytes_get_size (attribute->value);
    }

  return size;
}

static gboolean
check_batch_size (Batch   *batch,
                  GError **error)
{
  gsize total = 0;

  for (guint i = 0; i < batch->entries->len; i++)
    total += entry_payload_size (g_ptr_array_index (batch->entries, i));

  if (total > SQS_MAX_BATCH_BYTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_BATCH_TOO_LONG,
                   "Batch requests cannot be longer than %d bytes. You have sent %"
                   G_GSIZE_FORMAT " bytes.", SQS_MAX_BATCH_BYTES, total);
      return FALSE;
    }

  return TRUE;
}

static gboolean
batch_check_count (Batch   *batch,
                   GError **error)
{
  if (batch->entries->len == 0)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_EMPTY_BATCH,
                   "There should be at least one " ENTRY_PREFIX "N in the request.");
      return FALSE;
    }
  if (batch->entries->len > SQS_MAX_ENTRIES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_TOO_MANY_ENTRIES,
                   "Maximum number of entries per request are %d. You have sent %u.",
                   SQS_MAX_ENTRIES, batch->entries->len);
      return FALSE;
    }

  return TRUE;
}

static gboolean
batch_validate (Batch   *batch,
                GError **error)
{
  if (!batch_check_count (batch, error))
    return FALSE;
  for (guint i = 0; i < batch->entries->len; i++)
    if (!check_entry_id (g_ptr_array_index (batch->entries, i), error))
      return FALSE;
  if (!check_ids_distinct (batch, error))
    return FALSE;
  for (guint i = 0; i < batch->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (batch->entries, i);

      if (!check_entry_body (entry, error)
          || !check_entry_delay (entry, error)
          || !check_entry_attributes (entry, error))
        return FALSE;
    }

  return check_batch_size (batch, error);
}

/* ------------------------------------------------------------------------ */
/* Per-entry results                                                        */

/* Check that text is UTF-8 made of XML 1.0 characters only. */
static gboolean
check_xml_text (const GString  *text,
                const char     *where,
                char          **message)
{
  const char *p = text->str;
  const char *end = text->str + text->len;

  while (p < end)
    {
      gunichar c = *p == '\0' ? 0 : g_utf8_get_char_validated (p, end - p);

      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          *message = g_strdup_printf ("The %s is not valid UTF-8 (at byte %" G_GSIZE_FORMAT ").",
                                      where, (gsize) (p - text->str));
          return FALSE;
        }
      if (!is_xml_char (c))
        {
          *message = g_strdup_printf ("Invalid binary character '#x%X' was found in the %s.",
                                      c, where);
          return FALSE;
        }
      p = c == 0 ? p + 1 : g_utf8_next_char (p);
    }

  return TRUE;
}

static gboolean
entry_check_contents (Entry *entry)
{
  char *message = NULL;

  if (!check_xml_text (entry->body, "message body", &message))
    goto invalid;
  for (guint i = 0; i < entry->attributes->len; i++)
    {
      Attribute *attribute = g_ptr_array_index (entry->attributes, i);
      g_autofree char *where = NULL;

      if (attribute->string_value == NULL)
        continue;
      where = g_strdup_printf ("value of message attribute '%s'", attribute->name->str);
      if (!check_xml_text (attribute->string_value, where, &message))
        goto invalid;
    }

  return TRUE;

invalid:
  entry->error_code = "InvalidMessageContents";
  entry->error_message = message;
  entry->sender_fault = TRUE;
  return FALSE;
}

static void
checksum_add_field (GChecksum  *checksum,
                    const void *data,
                    gsize       len)
{
  guint32 be = GUINT32_TO_BE ((guint32) len);

  g_checksum_update (checksum, (const guchar *) &be, sizeof be);
  g_checksum_update (checksum, data, len);
}

/* The SQS algorithm, with the attributes already sorted by name */
static char *
md5_of_attributes (GPtrArray *attributes)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_MD5);

  for (guint i = 0; i < attributes->len; i++)
    {
      Attribute *attribute = g_ptr_array_index (attributes, i);
      guchar transport = attribute->binary_value != NULL ? 2 : 1;
      gsize len;
      const void *value = g_bytes_get_data (attribute->value, &len);

      checksum_add_field (checksum, attribute->name->str, attribute->name->len);
      checksum_add_field (checksum, attribute->data_type->str, attribute->data_type->len);
      g_checksum_update (checksum, &transport, 1);
      checksum_add_field (checksum, value, len);
    }

  return g_strdup (g_checksum_get_string (checksum));
}

static gboolean
entry_inject_fault (Consumer *self,
                    Entry    *entry)
{
  const Options *o = self->options;

  if (roll (self->rand, o->sender_fault_rate))
    {
      entry->error_code = "InvalidMessageContents";
      entry->error_message = g_strdup_printf ("Injected sender fault (--sender-fault-rate %g).",
                                              o->sender_fault_rate);
      entry->sender_fault = TRUE;
    }
  else if (roll (self->rand, o->receiver_fault_rate))
    {
      entry->error_code = "InternalError";
      entry->error_message = g_strdup_printf ("Injected receiver fault (--receiver-fault-rate %g).",
                                              o->receiver_fault_rate);
      entry->sender_fault = FALSE;
    }
  else
    return FALSE;

  self->totals.faults++;
  return TRUE;
}

static void
entry_accept (Consumer *self,
              Entry    *entry)
{
  entry->message_id = random_uuid (self->rand);
  entry->md5_body = md5_hex (entry->body->str, entry->body->len);
  if (entry->attributes->len > 0)
    entry->md5_attributes = md5_of_attributes (entry->attributes);
}

/* ------------------------------------------------------------------------ */
/* The JSON lines output                                                    */

static const Attribute *
entry_find_string_attribute (const Entry *entry,
                             const char  *name)
{
  for (guint i = 0; i < entry->attributes->len; i++)
    {
      const Attribute *attribute = g_ptr_array_index (entry->attributes, i);

      if (g_str_equal (attribute->name->str, name) && attribute->string_value != NULL)
        return attribute;
    }

  return NULL;
}

static void
add_headers_member (JsonBuilder *builder,
                    const Entry *entry)
{
  const Attribute *headers = entry_find_string_attribute (entry, "Headers");
  g_autoptr(JsonParser) parser = NULL;

  json_builder_set_member_name (builder, "headers");
  if (headers == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }

  parser = json_parser_new ();
  if (json_parser_load_from_data (parser, headers->string_value->str,
                                  headers->string_value->len, NULL)
      && JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    json_builder_add_value (builder, json_node_copy (json_parser_get_root (parser)));
  else
    json_builder_add_string_value (builder, headers->string_value->str);
}

static char *
event_to_json_line (const Entry *entry,
                    const char  *endpoint,
                    const char  *received)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  const Attribute *name = entry_find_string_attribute (entry, "Name");

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, entry->id->str);
  json_builder_set_member_name (builder, "name");
  if (name != NULL)
    json_builder_add_string_value (builder, name->string_value->str);
  else
    json_builder_add_null_value (builder);
  add_headers_member (builder, entry);
  json_builder_set_member_name (builder, "payload");
  json_builder_add_string_value (builder, entry->body->str);
  json_builder_set_member_name (builder, "endpoint");
  json_builder_add_string_value (builder, endpoint);
  json_builder_set_member_name (builder, "received");
  json_builder_add_string_value (builder, received);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);

  return json_generator_to_data (generator, NULL);
}

static gboolean
consumer_write_events (Consumer    *self,
                       Batch       *batch,
                       const char  *endpoint,
                       GError     **error)
{
  g_autoptr(GString) lines = g_string_new (NULL);
  g_autofree char *received = now_iso8601 ();

  for (guint i = 0; i < batch->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (batch->entries, i);
      g_autofree char *line = NULL;

      if (entry->error_code != NULL)
        continue;
      line = event_to_json_line (entry, endpoint, received);
      g_string_append_printf (lines, "%s\n", line);
    }

  if (lines->len == 0)
    return TRUE;
  if (self->output == stdout)
    status_clear (self);
  if (fwrite (lines->str, 1, lines->len, self->output) != lines->len
      || fflush (self->output) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, SQS_ERROR, SQS_ERROR_INTERNAL,
                   "Could not write the events to %s: %s",
                   self->output_name, g_strerror (saved_errno));
      return FALSE;
    }

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Replies                                                                  */

static void
xml_append_element (GString    *out,
                    const char *indent,
                    const char *name,
                    const char *value)
{
  g_autofree char *escaped = g_markup_escape_text (value, -1);

  g_string_append_printf (out, "%s<%s>%s</%s>\n", indent, name, escaped, name);
}

static void
xml_append_entry (GString     *out,
                  const Entry *entry)
{
  const char *in = "      ";

  if (entry->error_code != NULL)
    {
      g_string_append (out, "    <BatchResultErrorEntry>\n");
      xml_append_element (out, in, "Id", entry->id->str);
      xml_append_element (out, in, "SenderFault", entry->sender_fault ? "true" : "false");
      xml_append_element (out, in, "Code", entry->error_code);
      xml_append_element (out, in, "Message", entry->error_message);
      g_string_append (out, "    </BatchResultErrorEntry>\n");
      return;
    }

  g_string_append (out, "    <SendMessageBatchResultEntry>\n");
  xml_append_element (out, in, "Id", entry->id->str);
  xml_append_element (out, in, "MessageId", entry->message_id);
  xml_append_element (out, in, "MD5OfMessageBody", entry->md5_body);
  if (entry->md5_attributes != NULL)
    xml_append_element (out, in, "MD5OfMessageAttributes", entry->md5_attributes);
  g_string_append (out, "    </SendMessageBatchResultEntry>\n");
}

static GString *
xml_batch_reply (const Batch *batch,
                 const char  *request_id)
{
  GString *out = g_string_new ("<?xml version=\"1.0\"?>\n"
                               "<SendMessageBatchResponse xmlns=\"" SQS_NAMESPACE "\">\n"
                               "  <SendMessageBatchResult>\n");

  for (guint i = 0; i < batch->entries->len; i++)
    xml_append_entry (out, g_ptr_array_index (batch->entries, i));
  g_string_append (out, "  </SendMessageBatchResult>\n"
                        "  <ResponseMetadata>\n");
  xml_append_element (out, "    ", "RequestId", request_id);
  g_string_append (out, "  </ResponseMetadata>\n"
                        "</SendMessageBatchResponse>\n");

  return out;
}

static GString *
xml_error_reply (gboolean    sender,
                 const char *code,
                 const char *message,
                 const char *request_id)
{
  GString *out = g_string_new ("<?xml version=\"1.0\"?>\n"
                               "<ErrorResponse xmlns=\"" SQS_NAMESPACE "\">\n"
                               "  <Error>\n");

  xml_append_element (out, "    ", "Type", sender ? "Sender" : "Receiver");
  xml_append_element (out, "    ", "Code", code);
  xml_append_element (out, "    ", "Message", message);
  g_string_append (out, "    <Detail/>\n"
                        "  </Error>\n");
  xml_append_element (out, "  ", "RequestId", request_id);
  g_string_append (out, "</ErrorResponse>\n");

  return out;
}

static char *
json_to_text (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = json_builder_get_root (builder);

  json_generator_set_root (generator, root);

  return json_generator_to_data (generator, NULL);
}

static void
json_add_string (JsonBuilder *builder,
                 const char  *name,
                 const char  *value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_string_value (builder, value);
}

static void
json_add_entries (JsonBuilder *builder,
                  const Batch *batch,
                  gboolean     failed)
{
  json_builder_set_member_name (builder, failed ? "Failed" : "Successful");
  json_builder_begin_array (builder);
  for (guint i = 0; i < batch->entries->len; i++)
    {
      const Entry *entry = g_ptr_array_index (batch->entries, i);

      if ((entry->error_code != NULL) != failed)
        continue;
      json_builder_begin_object (builder);
      json_add_string (builder, "Id", entry->id->str);
      if (failed)
        {
          json_builder_set_member_name (builder, "SenderFault");
          json_builder_add_boolean_value (builder, entry->sender_fault);
          json_add_string (builder, "Code", entry->error_code);
          json_add_string (builder, "Message", entry->error_message);
        }
      else
        {
          json_add_string (builder, "MessageId", entry->message_id);
          json_add_string (builder, "MD5OfMessageBody", entry->md5_body);
          if (entry->md5_attributes != NULL)
            json_add_string (builder, "MD5OfMessageAttributes", entry->md5_attributes);
        }
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
}

static char *
json_batch_reply (const Batch *batch)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_add_entries (builder, batch, FALSE);
  json_add_entries (builder, batch, TRUE);
  json_builder_end_object (builder);

  return json_to_text (builder);
}

static char *
json_error_reply (const char *code,
                  const char *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  const char *name = g_str_has_prefix (code, SQS_ERROR_PREFIX)
                     ? code + strlen (SQS_ERROR_PREFIX) : code;
  g_autofree char *type = g_strconcat ("com.amazonaws.sqs#", name, NULL);

  json_builder_begin_object (builder);
  json_add_string (builder, "__type", type);
  json_add_string (builder, "message", message);
  json_builder_end_object (builder);

  return json_to_text (builder);
}

static void
reply_take (SoupServerMessage *msg,
            guint              status,
            const char        *content_type,
            char              *body)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, content_type, SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

static void
request_reply_error_full (Request    *req,
                          guint       status,
                          gboolean    sender,
                          const char *code,
                          const char *message)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (req->msg);

  soup_message_headers_replace (headers, "x-amzn-RequestId", req->request_id);
  if (req->protocol == PROTOCOL_JSON)
    {
      g_autofree char *query_error = g_strdup_printf ("%s;%s", code,
                                                      sender ? "Sender" : "Receiver");

      soup_message_headers_replace (headers, "x-amzn-query-error", query_error);
      reply_take (req->msg, status, SQS_JSON_CONTENT_TYPE, json_error_reply (code, message));
      return;
    }

  reply_take (req->msg, status, "text/xml",
              g_string_free (xml_error_reply (sender, code, message, req->request_id), FALSE));
}

static void
request_reply_error (Request      *req,
                     const GError *error)
{
  const SqsErrorInfo *info;

  g_assert (error->domain == SQS_ERROR);
  g_assert ((gsize) error->code < G_N_ELEMENTS (sqs_errors));

  info = &sqs_errors[error->code];
  request_reply_error_full (req, info->status, info->sender, info->code, error->message);
  if (error->code == SQS_ERROR_METHOD_NOT_ALLOWED)
    soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                  "Allow", "POST");
  if (info->status == 401)
    soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                  "WWW-Authenticate", "Bearer realm=\"ep-consumer\"");
}

static void
request_reply_batch (Request     *req,
                     const Batch *batch)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                "x-amzn-RequestId", req->request_id);
  if (req->protocol == PROTOCOL_JSON)
    reply_take (req->msg, SOUP_STATUS_OK, SQS_JSON_CONTENT_TYPE, json_batch_reply (batch));
  else
    reply_take (req->msg, SOUP_STATUS_OK, "text/xml",
                g_string_free (xml_batch_reply (batch, req->request_id), FALSE));
}

/* ------------------------------------------------------------------------ */
/* Held replies: latency and hanging                                        */

static void
held_reply_free (gpointer data)
{
  HeldReply *held = data;

  g_clear_handle_id (&held->source_id, g_source_remove);
  g_object_unref (held->msg);
  g_free (held);
}

static void
held_reply_release (gpointer data)
{
  HeldReply *held = data;

  held->source_id = 0;
  soup_server_message_unpause (held->msg);
  g_ptr_array_remove_fast (held->consumer->held, held);
}

static void
consumer_hold_reply (Consumer          *self,
                     SoupServerMessage *msg,
                     guint              delay_ms)
{
  HeldReply *held = g_new0 (HeldReply, 1);

  held->consumer = self;
  held->msg = g_object_ref (msg);
  if (delay_ms > 0)
    held->source_id = g_timeout_add_once (delay_ms, held_reply_release, held);
  soup_server_message_pause (msg);
  g_ptr_array_add (self->held, held);
}

/* ------------------------------------------------------------------------ */
/* Handling a batch request                                                 */

static Protocol
detect_protocol (SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *type = soup_message_headers_get_content_type (headers, NULL);

  if (type == NULL || g_ascii_strcasecmp (type, "application/x-www-form-urlencoded") == 0)
    return PROTOCOL_QUERY;
  if (g_ascii_strcasecmp (type, SQS_JSON_CONTENT_TYPE) == 0)
    return PROTOCOL_JSON;

  return PROTOCOL_UNSUPPORTED;
}

static gboolean
check_authorization (Consumer           *self,
                     SoupServerMessage  *msg,
                     const char         *endpoint,
                     GError            **error)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *auth = soup_message_headers_get_one (headers, "Authorization");
  const char *token;

  if (!self->options->require_token || !g_str_equal (endpoint, ENDPOINT_PRIVATE))
    return TRUE;

  if (auth == NULL)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MISSING_TOKEN,
                   "The request to " ENDPOINT_PRIVATE " must carry an "
                   "'Authorization: Bearer <token>' header (ep-consumer runs with "
                   "--require-token).");
      return FALSE;
    }
  if (g_ascii_strncasecmp (auth, "Bearer ", strlen ("Bearer ")) != 0
      || *(token = auth + strlen ("Bearer ")) == '\0')
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_TOKEN,
                   "The Authorization header must be 'Bearer <token>' with a non-empty token.");
      return FALSE;
    }
  if (self->options->token != NULL && !g_str_equal (token, self->options->token))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_ACCESS_DENIED,
                   "The bearer token is not the one ep-consumer accepts (--token).");
      return FALSE;
    }

  return TRUE;
}

static gboolean
check_json_target (SoupServerMessage  *msg,
                   GError            **error)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *target = soup_message_headers_get_one (headers, "X-Amz-Target");

  if (target != NULL && g_str_equal (target, SQS_JSON_TARGET))
    return TRUE;

  g_set_error (error, SQS_ERROR, SQS_ERROR_INVALID_ACTION,
               "X-Amz-Target must be " SQS_JSON_TARGET " (got %s): ep-consumer serves "
               "only SendMessageBatch.", target != NULL ? target : "none");
  return FALSE;
}

static gboolean
check_request (Request  *req,
               GError  **error)
{
  SoupServerMessage *msg = req->msg;
  const char *method = soup_server_message_get_method (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (!g_str_equal (method, SOUP_METHOD_POST))
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_METHOD_NOT_ALLOWED,
                   "%s is not allowed on %s: send SendMessageBatch requests with POST.",
                   method, req->endpoint);
      return FALSE;
    }
  if (!check_authorization (req->consumer, msg, req->endpoint, error))
    return FALSE;
  if (req->protocol == PROTOCOL_UNSUPPORTED)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_UNSUPPORTED_MEDIA_TYPE,
                   "Content-Type must be application/x-www-form-urlencoded (SQS query "
                   "protocol) or " SQS_JSON_CONTENT_TYPE " (SQS JSON protocol).");
      return FALSE;
    }
  if (body->length > MAX_REQUEST_BYTES)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_REQUEST_TOO_LARGE,
                   "The request body has %" G_GINT64_FORMAT " bytes; ep-consumer accepts "
                   "at most %d.", (gint64) body->length, MAX_REQUEST_BYTES);
      return FALSE;
    }
  if (req->protocol == PROTOCOL_JSON)
    return check_json_target (msg, error);

  return TRUE;
}

static gboolean
request_inject_failure (Request *req)
{
  Consumer *self = req->consumer;
  const Options *o = self->options;
  g_autofree char *message = NULL;
  guint status;
  int retry_after;

  if (self->fail_all)
    {
      status = self->fail_all_status;
      retry_after = self->fail_all_retry_after;
      message = g_strdup ("Injected failure: ep-consumer is failing every request "
                          "(SIGUSR1 or /control/fail).");
    }
  else if (roll (self->rand, o->fail_rate))
    {
      status = o->fail_status;
      retry_after = o->retry_after;
      message = g_strdup_printf ("Injected failure (--fail-rate %g).", o->fail_rate);
    }
  else
    return FALSE;

  request_reply_error_full (req, status, status < 500,
                            status == 429 ? "RequestThrottled"
                            : status == 500 ? "InternalFailure"
                            : status >= 500 ? "ServiceUnavailable" : "InjectedFault",
                            message);
  if (retry_after >= 0)
    {
      g_autofree char *value = g_strdup_printf ("%d", retry_after);

      soup_message_headers_replace (soup_server_message_get_response_headers (req->msg),
                                    "Retry-After", value);
    }
  self->totals.faults++;

  return TRUE;
}

static Batch *
request_parse (Request  *req,
               GError  **error)
{
  SoupMessageBody *body = soup_server_message_get_request_body (req->msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (req->protocol == PROTOCOL_JSON)
    return batch_from_json (req->consumer, data, len, error);

  return batch_from_query (req->consumer, data != NULL ? data : "", len, error);
}

static void
request_settle_entries (Request *req,
                        Batch   *batch)
{
  Consumer *self = req->consumer;

  for (guint i = 0; i < batch->entries->len; i++)
    {
      Entry *entry = g_ptr_array_index (batch->entries, i);

      if (!entry_check_contents (entry))
        req->rejected++;
      else if (!entry_inject_fault (self, entry))
        {
          entry_accept (self, entry);
          req->accepted++;
        }
    }
}

static void
request_process_batch (Request *req)
{
  Consumer *self = req->consumer;
  g_autoptr(GError) error = NULL;
  g_autoptr(Batch) batch = request_parse (req, &error);

  if (batch != NULL && !batch_validate (batch, &error))
    req->rejected = batch->entries->len;
  if (error != NULL)
    {
      self->totals.rejected += req->rejected;
      request_reply_error (req, error);
      return;
    }

  request_settle_entries (req, batch);
  if (!consumer_write_events (self, batch, req->endpoint, &error))
    {
      consumer_log (self, "%s", error->message);
      req->accepted = 0;
      request_reply_error (req, error);
      return;
    }

  self->totals.accepted += req->accepted;
  self->totals.rejected += req->rejected;
  request_reply_batch (req, batch);
}

static void
request_finish (Request *req)
{
  Consumer *self = req->consumer;
  guint status = soup_server_message_get_status (req->msg);

  if (status >= 300)
    self->totals.failed_requests++;
  if (self->options->verbose)
    consumer_log (self, "POST %s -> %u (%u accepted, %u rejected)",
                  req->endpoint, status, req->accepted, req->rejected);
  if (self->options->latency_ms > 0)
    consumer_hold_reply (self, req->msg, self->options->latency_ms);
}

/* A 200 reply that is not SQS XML, as a proxy's error page would be */
static gboolean
request_inject_garbage (Request *req)
{
  Consumer *self = req->consumer;

  if (!roll (self->rand, self->options->garbage_rate))
    return FALSE;

  reply_take (req->msg, SOUP_STATUS_OK, "text/html",
              g_strdup ("<html><body><h1>Welcome</h1><p>Injected non-SQS reply "
                        "(--garbage-rate).</p></body></html>\n"));
  self->totals.faults++;

  return TRUE;
}

static gboolean
request_maybe_hang (Request *req)
{
  Consumer *self = req->consumer;

  if (!self->hang_all && !roll (self->rand, self->options->hang_rate))
    return FALSE;

  self->totals.faults++;
  if (self->options->verbose)
    consumer_log (self, "POST %s -> no reply (hanging)", req->endpoint);
  consumer_hold_reply (self, req->msg, 0);

  return TRUE;
}

static void
handle_not_found (SoupServerMessage *msg,
                  const char        *path)
{
  g_autofree char *shown = printable (path, strlen (path));
  g_autofree char *text = g_strdup_printf ("ep-consumer: no such endpoint %s. Endpoints: "
                                           "POST " ENDPOINT_PRIVATE ", POST " ENDPOINT_PUBLIC
                                           ", POST /control/fail?on=1|0, "
                                           "POST /control/hang?on=1|0, GET /control/stats\n",
                                           shown);

  reply_take (msg, SOUP_STATUS_NOT_FOUND, "text/plain", g_steal_pointer (&text));
}

static void
handle_event_batch (SoupServer        *server,
                    SoupServerMessage *msg,
                    const char        *path,
                    GHashTable        *query,
                    gpointer           user_data)
{
  Consumer *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *request_id = NULL;
  Request req = { self, msg, NULL, PROTOCOL_QUERY, NULL, 0, 0 };

  if (!g_str_equal (path, ENDPOINT_PRIVATE) && !g_str_equal (path, ENDPOINT_PUBLIC))
    {
      handle_not_found (msg, path);
      return;
    }

  self->totals.requests++;
  req.endpoint = g_str_equal (path, ENDPOINT_PRIVATE) ? ENDPOINT_PRIVATE : ENDPOINT_PUBLIC;
  req.request_id = request_id = random_uuid (self->rand);
  req.protocol = detect_protocol (msg);

  if (!check_request (&req, &error))
    request_reply_error (&req, error);
  else if (request_maybe_hang (&req))
    return;
  else if (!request_inject_failure (&req) && !request_inject_garbage (&req))
    request_process_batch (&req);

  request_finish (&req);
}

/* ------------------------------------------------------------------------ */
/* The control endpoints                                                    */

static void
reply_json (SoupServerMessage *msg,
            guint              status,
            JsonBuilder       *builder)
{
  g_autofree char *text = json_to_text (builder);

  reply_take (msg, status, "application/json", g_strconcat (text, "\n", NULL));
}

static void
reply_json_error (SoupServerMessage *msg,
                  guint              status,
                  const char        *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_add_string (builder, "error", message);
  json_builder_end_object (builder);
  reply_json (msg, status, builder);
}

static void
json_add_uint (JsonBuilder *builder,
               const char  *name,
               guint64      value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, (gint64) value);
}

static void
json_add_bool (JsonBuilder *builder,
               const char  *name,
               gboolean     value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_boolean_value (builder, value);
}

static void
control_reply_state (Consumer          *self,
                     SoupServerMessage *msg)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  const Totals *t = &self->totals;

  status_update_rate (self);
  json_builder_begin_object (builder);
  json_add_uint (builder, "requests", t->requests);
  json_add_uint (builder, "accepted", t->accepted);
  json_add_uint (builder, "rejected", t->rejected);
  json_add_uint (builder, "faults_injected", t->faults);
  json_add_uint (builder, "failed_requests", t->failed_requests);
  json_add_uint (builder, "held_replies", self->held->len);
  json_add_bool (builder, "fail", self->fail_all);
  json_add_uint (builder, "fail_status", self->fail_all_status);
  json_add_bool (builder, "hang", self->hang_all);
  json_add_uint (builder, "uptime_ms", (g_get_monotonic_time () - self->started_us) / 1000);
  json_builder_set_member_name (builder, "events_per_second");
  json_builder_add_double_value (builder, self->rate);
  json_builder_end_object (builder);
  reply_json (msg, SOUP_STATUS_OK, builder);
}

static GHashTable *
control_params (SoupServerMessage *msg,
                GHashTable        *query)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = NULL;
  g_autofree char *form = NULL;

  if (query != NULL)
    return g_hash_table_ref (query);
  bytes = soup_message_body_flatten (body);
  if (g_bytes_get_size (bytes) == 0)
    return NULL;
  form = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  return soup_form_decode (form);
}

static gboolean
control_parse_int (GHashTable  *params,
                   const char  *name,
                   int          min,
                   int          max,
                   int         *value,
                   char       **message)
{
  const char *text = g_hash_table_lookup (params, name);
  gint64 parsed;

  if (text == NULL)
    return TRUE;
  if (!g_ascii_string_to_signed (text, 10, min, max, &parsed, NULL))
    {
      *message = g_strdup_printf ("%s must be an integer from %d to %d, not '%s'.",
                                  name, min, max, text);
      return FALSE;
    }
  *value = parsed;

  return TRUE;
}

static gboolean
control_set_fail (Consumer    *self,
                  GHashTable  *params,
                  char       **message)
{
  gboolean on;
  int status = self->options->fail_status;
  int retry_after = self->options->retry_after;

  if (!parse_boolean (g_hash_table_lookup (params, "on"), &on))
    {
      *message = g_strdup ("Parameter 'on' must be 1 or 0 (also true/false, on/off, yes/no).");
      return FALSE;
    }
  if (!control_parse_int (params, "status", 400, 599, &status, message)
      || !control_parse_int (params, "retry_after", 0, G_MAXINT, &retry_after, message))
    return FALSE;

  self->fail_all = on;
  self->fail_all_status = status;
  self->fail_all_retry_after = retry_after;
  if (on)
    consumer_log (self, "failing every request with %d (via /control/fail)", status);
  else
    consumer_log (self, "no longer failing every request (via /control/fail)");

  return TRUE;
}

static gboolean
control_set_hang (Consumer    *self,
                  GHashTable  *params,
                  char       **message)
{
  if (!parse_boolean (g_hash_table_lookup (params, "on"), &self->hang_all))
    {
      *message = g_strdup ("Parameter 'on' must be 1 or 0 (also true/false, on/off, yes/no).");
      return FALSE;
    }
  consumer_log (self, "%s (via /control/hang)",
                self->hang_all ? "leaving every request unanswered"
                               : "answering requests again");

  return TRUE;
}

static void
handle_control_switch (Consumer          *self,
                       SoupServerMessage *msg,
                       const char        *path,
                       GHashTable        *query)
{
  g_autoptr(GHashTable) params = control_params (msg, query);
  g_autofree char *message = NULL;
  gboolean fail = g_str_equal (path, "/control/fail");

  if (params == NULL)
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST,
                        "Missing parameter 'on': POST /control/fail?on=1 or ?on=0.");
      return;
    }
  if (fail ? !control_set_fail (self, params, &message)
           : !control_set_hang (self, params, &message))
    {
      reply_json_error (msg, SOUP_STATUS_BAD_REQUEST, message);
      return;
    }

  control_reply_state (self, msg);
}

static void
handle_control (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  Consumer *self = user_data;
  const char *method = soup_server_message_get_method (msg);
  gboolean is_switch = g_str_equal (path, "/control/fail") || g_str_equal (path, "/control/hang");
  gboolean is_stats = g_str_equal (path, "/control/stats");

  if (!is_switch && !is_stats)
    handle_not_found (msg, path);
  else if (is_stats && g_str_equal (method, SOUP_METHOD_GET))
    control_reply_state (self, msg);
  else if (is_switch && g_str_equal (method, SOUP_METHOD_POST))
    handle_control_switch (self, msg, path, query);
  else
    {
      g_autofree char *text = g_strdup_printf ("%s is not allowed on %s: use %s.", method, path,
                                               is_stats ? "GET" : "POST");

      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", is_stats ? "GET" : "POST");
      reply_json_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, text);
    }
}

static void
handle_default (SoupServer        *server,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  handle_not_found (msg, path);
}

/* ------------------------------------------------------------------------ */
/* Signals                                                                  */

static gboolean
on_quit_signal (gpointer user_data)
{
  Consumer *self = user_data;

  g_main_loop_quit (self->loop);

  return G_SOURCE_CONTINUE;
}

static gboolean
on_toggle_signal (gpointer user_data)
{
  Consumer *self = user_data;

  self->fail_all = !self->fail_all;
  self->fail_all_status = self->options->fail_status;
  self->fail_all_retry_after = self->options->retry_after;
  if (self->fail_all)
    consumer_log (self, "SIGUSR1: failing every request with %u", self->fail_all_status);
  else
    consumer_log (self, "SIGUSR1: no longer failing every request");

  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Set-up and tear-down                                                     */

static gboolean
consumer_open_output (Consumer  *self,
                      GError   **error)
{
  const char *path = self->options->output;

  if (path == NULL || g_str_equal (path, "-"))
    {
      self->output = stdout;
      self->output_name = g_strdup ("standard output");
      return TRUE;
    }

  self->output = g_fopen (path, "a");
  if (self->output == NULL)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                   "Could not open the output file %s for appending: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  self->output_name = g_strdup (path);

  return TRUE;
}

static guint
consumer_listen (Consumer  *self,
                 GError   **error)
{
  g_autoptr(GError) listen_error = NULL;
  GSList *uris;
  guint port;

  if (!soup_server_listen_local (self->server, self->options->port,
                                 SOUP_SERVER_LISTEN_IPV4_ONLY, &listen_error))
    {
      g_set_error (error, listen_error->domain, listen_error->code,
                   "Could not listen on 127.0.0.1 port %d: %s",
                   self->options->port, listen_error->message);
      return 0;
    }
  uris = soup_server_get_uris (self->server);
  port = g_uri_get_port (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  return port;
}

static gboolean
consumer_announce (Consumer  *self,
                   guint      port,
                   GError   **error)
{
  g_autofree char *text = g_strdup_printf ("%u\n", port);

  /* The port file first: whoever sees the URL line may look for it */
  if (self->options->port_file != NULL
      && !g_file_set_contents (self->options->port_file, text, -1, error))
    return FALSE;

  printf ("ep-consumer listening on http://127.0.0.1:%u\n", port);
  fflush (stdout);
  if (!self->options->quiet)
    fprintf (stderr, "ep-consumer: endpoints http://127.0.0.1:%u" ENDPOINT_PRIVATE
             " and http://127.0.0.1:%u" ENDPOINT_PUBLIC "; control at "
             "http://127.0.0.1:%u/control/{fail,hang,stats}\n", port, port, port);

  return TRUE;
}

static void
consumer_add_handlers (Consumer *self)
{
  soup_server_add_handler (self->server, ENDPOINT_PRIVATE, handle_event_batch, self, NULL);
  soup_server_add_handler (self->server, ENDPOINT_PUBLIC, handle_event_batch, self, NULL);
  soup_server_add_handler (self->server, "/control", handle_control, self, NULL);
  soup_server_add_handler (self->server, NULL, handle_default, self, NULL);
}

static Consumer *
consumer_new (Options *options)
{
  Consumer *self = g_new0 (Consumer, 1);

  self->options = options;
  self->server = soup_server_new ("server-header", "ep-consumer ", NULL);
  self->loop = g_main_loop_new (NULL, FALSE);
  self->rand = options->seed >= 0 ? g_rand_new_with_seed ((guint32) options->seed)
                                  : g_rand_new ();
  self->held = g_ptr_array_new_with_free_func (held_reply_free);
  self->warned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->fail_all_status = options->fail_status;
  self->fail_all_retry_after = options->retry_after;
  self->started_us = self->rate_us = g_get_monotonic_time ();
  self->status_line = !options->quiet && isatty (STDERR_FILENO);
  consumer_add_handlers (self);
  /* Before the URL is announced, so that no signal can arrive unhandled */
  self->signal_ids[0] = g_unix_signal_add (SIGINT, on_quit_signal, self);
  self->signal_ids[1] = g_unix_signal_add (SIGTERM, on_quit_signal, self);
  self->signal_ids[2] = g_unix_signal_add (SIGUSR1, on_toggle_signal, self);

  return self;
}

static void
consumer_free (Consumer *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->signal_ids); i++)
    g_clear_handle_id (&self->signal_ids[i], g_source_remove);
  g_clear_handle_id (&self->status_id, g_source_remove);
  soup_server_disconnect (self->server);
  g_ptr_array_unref (self->held);
  g_clear_object (&self->server);
  g_main_loop_unref (self->loop);
  g_rand_free (self->rand);
  g_hash_table_unref (self->warned);
  if (self->output != NULL && self->output != stdout)
    fclose (self->output);
  g_free (self->output_name);
  g_free (self);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Consumer, consumer_free)

static void
consumer_print_summary (Consumer *self)
{
  const Totals *t = &self->totals;

  status_clear (self);
  fprintf (stderr, "ep-consumer: %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT
           " events accepted, %" G_GUINT64_FORMAT " rejected, %" G_GUINT64_FORMAT
           " faults injected, %" G_GUINT64_FORMAT " failed requests\n",
           t->requests, t->accepted, t->rejected, t->faults, t->failed_requests);
  fflush (stderr);
}

static void
consumer_run (Consumer *self)
{
  if (self->status_line)
    self->status_id = g_timeout_add (STATUS_INTERVAL_MS, status_tick, self);

  g_main_loop_run (self->loop);

  consumer_print_summary (self);
  if (self->options->port_file != NULL)
    g_unlink (self->options->port_file);
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */

static const char description[] =
  "Serves the Amazon SQS SendMessageBatch API (query protocol, as ep-glib and\n"
  "botocore send it, and the JSON protocol of newer AWS SDKs) on 127.0.0.1 at\n"
  "  POST /api/event-batch           (with --require-token: Authorization: Bearer <token>)\n"
  "  POST /api/public/event-batch\n"
  "validates batches as SQS does and writes every accepted event as one JSON line\n"
  "{\"id\",\"name\",\"headers\",\"payload\",\"endpoint\",\"received\"}.\n"
  "\n"
  "The first line on standard output is \"ep-consumer listening on http://127.0.0.1:PORT\".\n"
  "\n"
  "Run-time control:\n"
  "  SIGUSR1                          toggle failing every request (--fail-status)\n"
  "  POST /control/fail?on=1|0        the same; optional &status=CODE&retry_after=S\n"
  "  POST /control/hang?on=1|0        leave every request unanswered, or stop\n"
  "  GET  /control/stats              totals as JSON\n"
  "  SIGINT, SIGTERM                  stop, printing a summary on standard error\n"
  "\n"
  "Examples:\n"
  "  ep-consumer --port 8080 --output events.jsonl\n"
  "  ep-consumer --port 0 --port-file /tmp/ep.port --require-token\n"
  "  ep-consumer --fail-rate 0.2 --fail-status 503 --retry-after 5 --seed 42\n"
  "  ep-consumer --latency 500 --sender-fault-rate 0.1 --hang-rate 0.05\n"
  "  curl -X POST 'http://127.0.0.1:8080/control/fail?on=1&status=429&retry_after=10'\n"
  "  curl http://127.0.0.1:8080/control/stats\n";

static GOptionContext *
option_context_new (Options *o)
{
  const GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &o->port,
      "TCP port on 127.0.0.1 (default 8080; 0 picks a free port)", "PORT" },
    { "port-file", 0, 0, G_OPTION_ARG_FILENAME, &o->port_file,
      "Write the port number to FILE once listening (removed at exit)", "FILE" },
    { "print-port-file", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &o->port_file,
      "Same as --port-file", "FILE" },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
      "Append accepted events as JSON lines to FILE (default: standard output)", "FILE" },
    { "require-token", 0, 0, G_OPTION_ARG_NONE, &o->require_token,
      "Refuse " ENDPOINT_PRIVATE " requests without 'Authorization: Bearer <token>' (401)",
      NULL },
    { "token", 0, 0, G_OPTION_ARG_STRING, &o->token,
      "Accept only this bearer token (others get 403); implies --require-token", "TOKEN" },
    { "latency", 0, 0, G_OPTION_ARG_INT, &o->latency_ms,
      "Delay every batch reply by MS milliseconds", "MS" },
    { "fail-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->fail_rate,
      "Fail requests with probability P (0 to 1)", "P" },
    { "fail-status", 0, 0, G_OPTION_ARG_INT, &o->fail_status,
      "HTTP status of injected failures, 400 to 599 (default 503)", "CODE" },
    { "retry-after", 0, 0, G_OPTION_ARG_INT, &o->retry_after,
      "Add 'Retry-After: S' to injected failures", "S" },
    { "sender-fault-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->sender_fault_rate,
      "Refuse each valid entry with probability P (SenderFault true)", "P" },
    { "receiver-fault-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->receiver_fault_rate,
      "Fail each valid entry with probability P (SenderFault false)", "P" },
    { "hang-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->hang_rate,
      "Never answer a request, with probability P", "P" },
    { "garbage-rate", 0, 0, G_OPTION_ARG_DOUBLE, &o->garbage_rate,
      "Answer a request with 200 and an HTML page, with probability P", "P" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &o->seed,
      "Seed the random choices and ids, for repeatable runs", "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o->quiet,
      "No status line and no start-up notes on standard error", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose,
      "Log every request on standard error", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o->version,
      "Print the version and exit", NULL },
    { NULL }
  };
  GOptionContext *context = g_option_context_new (NULL);

  g_option_context_set_summary (context, "A local TL consumer for ep-glib: an HTTP server "
                                         "speaking Amazon SQS SendMessageBatch.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);

  return context;
}

static gboolean
check_probability (const char  *name,
                   double       value,
                   GError     **error)
{
  if (value >= 0 && value <= 1)
    return TRUE;

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s must be a probability from 0 to 1, not %g", name, value);
  return FALSE;
}

static gboolean
check_range (const char  *name,
             gint64       value,
             gint64       min,
             gint64       max,
             GError     **error)
{
  if (value >= min && value <= max)
    return TRUE;

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s must be from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT
               ", not %" G_GINT64_FORMAT, name, min, max, value);
  return FALSE;
}

static gboolean
options_check (Options  *o,
               GError  **error)
{
  if (o->token != NULL)
    o->require_token = TRUE;

  return check_range ("port", o->port, 0, 65535, error)
         && check_range ("latency", o->latency_ms, 0, G_MAXINT, error)
         && check_range ("fail-status", o->fail_status, 400, 599, error)
         && (o->retry_after == -1 || check_range ("retry-after", o->retry_after, 0, G_MAXINT, error))
         && (o->seed == -1 || check_range ("seed", o->seed, 0, G_MAXUINT32, error))
         && check_probability ("fail-rate", o->fail_rate, error)
         && check_probability ("sender-fault-rate", o->sender_fault_rate, error)
         && check_probability ("receiver-fault-rate", o->receiver_fault_rate, error)
         && check_probability ("hang-rate", o->hang_rate, error)
         && check_probability ("garbage-rate", o->garbage_rate, error);
}

static void
options_clear (Options *o)
{
  g_free (o->port_file);
  g_free (o->output);
  g_free (o->token);
}

static gboolean
options_parse (Options   *o,
               int       *argc,
               char    ***argv,
               GError   **error)
{
  g_autoptr(GOptionContext) context = option_context_new (o);

  o->port = 8080;
  o->fail_status = 503;
  o->retry_after = -1;
  o->seed = -1;

  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (*argc > 1)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   "Unexpected argument '%s': ep-consumer takes options only (see --help)",
                   (*argv)[1]);
      return FALSE;
    }

  return options_check (o, error);
}

static int
run (Options *options)
{
  g_autoptr(Consumer) consumer = consumer_new (options);
  g_autoptr(GError) error = NULL;
  guint port;

  if (!consumer_open_output (consumer, &error)
      || (port = consumer_listen (consumer, &error)) == 0
      || !consumer_announce (consumer, port, &error))
    {
      g_printerr ("ep-consumer: %s\n", error->message);
      return 1;
    }

  consumer_run (consumer);

  return 0;
}

int
main (int    argc,
      char **argv)
{
  Options options = { 0 };
  g_autoptr(GError) error = NULL;
  int status;

  setlocale (LC_ALL, "");
  if (!options_parse (&options, &argc, &argv, &error))
    {
      g_printerr ("ep-consumer: %s\n", error->message);
      options_clear (&options);
      return 2;
    }
  if (options.version)
    {
      printf ("ep-consumer %s (SQS API %s)\n", PACKAGE_VERSION, SQS_API_VERSION);
      options_clear (&options);
      return 0;
    }

  status = run (&options);
  options_clear (&options);

  return status;
}
