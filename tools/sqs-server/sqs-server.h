/* sqs-server.h: the server side of Amazon SQS SendMessageBatch
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * What a TL consumer does with a SendMessageBatch request once it has the
 * bytes, and nothing more: decode it (query protocol: a form; JSON protocol:
 * a JSON object) into an #SqsBatch, validate it as SQS does, settle each
 * entry (accepted with its checksums, or failed with a code) and write the
 * reply (XML for the query protocol, JSON for the JSON protocol). No I/O, no
 * HTTP, no state: ep-consumer and the tests' scripted server
 * (tests/ep-test-server.c) both build on it, so they cannot disagree about
 * what SQS accepts. tools/README-ep-consumer.md lists the rules; each is
 * enforced, and explained, in one place here.
 *
 * Not part of ep-glib: an internal static library of the tools and tests.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SQS_NAMESPACE          "http://queue.amazonaws.com/doc/2012-11-05/"
#define SQS_API_VERSION        "2012-11-05"
#define SQS_ACTION             "SendMessageBatch"
#define SQS_JSON_TARGET        "AmazonSQS.SendMessageBatch"
#define SQS_JSON_CONTENT_TYPE  "application/x-amz-json-1.0"
#define SQS_FORM_CONTENT_TYPE  "application/x-www-form-urlencoded"
#define SQS_ERROR_PREFIX       "AWS.SimpleQueueService."
#define SQS_ENTRY_PREFIX       "SendMessageBatchRequestEntry."

/* The limits SQS enforces on one batch */
#define SQS_MAX_ENTRIES        10
#define SQS_MAX_ID_LENGTH      80
#define SQS_MAX_BATCH_BYTES    262144
#define SQS_MAX_ATTRIBUTES     10
#define SQS_MAX_NAME_LENGTH    256
#define SQS_MAX_DELAY_SECONDS  900

/* The request-level errors, as SQS names them. Each has a code, an HTTP
 * status and a fault side: see sqs_error_get_info(). */
typedef enum {
  SQS_ERROR_EMPTY_BATCH,
  SQS_ERROR_TOO_MANY_ENTRIES,
  SQS_ERROR_INVALID_ENTRY_ID,
  SQS_ERROR_IDS_NOT_DISTINCT,
  SQS_ERROR_BATCH_TOO_LONG,
  SQS_ERROR_MISSING_PARAMETER,
  SQS_ERROR_INVALID_PARAMETER,
  SQS_ERROR_INVALID_ACTION,
  SQS_ERROR_NONEXISTENT_QUEUE,
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

#define SQS_ERROR (sqs_error_quark ())
GQuark              sqs_error_quark     (void);
const SqsErrorInfo *sqs_error_get_info  (SqsError code);

/* One MessageAttribute.N of an entry, as received (every field optional
 * until validation) */
typedef struct {
  guint    index;         /* N in MessageAttribute.N (JSON: member order) */
  GString *name;          /* owned, NULL when absent */
  GString *data_type;     /* owned, NULL when absent */
  GString *string_value;  /* owned, NULL when absent */
  GString *binary_value;  /* owned, base64 text, NULL when absent */
  GBytes  *value;         /* owned; the value's bytes, set by validation */
} SqsAttribute;

/* One SendMessageBatchRequestEntry.N, and what became of it */
typedef struct {
  guint       index;          /* N in SendMessageBatchRequestEntry.N, from 1 */
  GString    *id;             /* owned, NULL when absent */
  GString    *body;           /* owned, NULL when absent */
  GString    *delay;          /* owned, NULL when absent */
  GHashTable *attribute_map;  /* index -> SqsAttribute, owns the attributes */
  GPtrArray  *attributes;     /* SqsAttribute, borrowed; by index, then (after
                               * validation) by name */
  /* the result */
  const char *error_code;     /* static string; NULL when not failed */
  char       *error_message;  /* owned */
  gboolean    sender_fault;
  char       *message_id;     /* owned; set when accepted */
  char       *md5_body;       /* owned; set when accepted */
  char       *md5_attributes; /* owned; set when accepted with attributes */
} SqsEntry;

typedef struct {
  GHashTable *entry_map;  /* index -> SqsEntry, owns the entries */
  GPtrArray  *entries;    /* SqsEntry, borrowed; sorted by index */
  char       *queue_url;  /* owned, NULL when the request named none */
} SqsBatch;

/* Called once for each parameter (query) or entry member (JSON) that a
 * SendMessageBatch request may not hold; SQS ignores them. */
typedef void (*SqsUnknownFunc) (const char *name,
                                gpointer    user_data);

/* sqs-batch.c: the model. The decoders build batches; a test builds
 * one by hand with new, lookup_entry (which adds the entry N when absent)
 * and seal (which orders the entries once all are there). */
SqsBatch           *sqs_batch_new                (void);
SqsEntry           *sqs_batch_lookup_entry       (SqsBatch        *batch,
                                                  guint            index);
void                sqs_batch_seal               (SqsBatch        *batch);
void                sqs_batch_free               (SqsBatch        *batch);
const SqsAttribute *sqs_entry_find_string_attribute (const SqsEntry *entry,
                                                  const char      *name);
gboolean            sqs_entry_check_contents     (SqsEntry        *entry);
void                sqs_entry_accept             (SqsEntry        *entry,
                                                  char            *message_id);
void                sqs_entry_fail               (SqsEntry        *entry,
                                                  const char      *code,
                                                  char            *message,
                                                  gboolean         sender_fault);
char               *sqs_random_uuid              (GRand           *rand);
gboolean            sqs_is_xml_char              (gunichar         c);
char               *sqs_printable                (const char      *data,
                                                  gsize            len);

/* sqs-encoding.c: @body decoded by its @content_encoding (nullable; none,
 * identity or gzip); NULL with @error: SQS_ERROR_REQUEST_TOO_LARGE when it
 * decodes to more than @max_decoded bytes (decoding stops there),
 * SQS_ERROR_UNSUPPORTED_MEDIA_TYPE for another encoding,
 * SQS_ERROR_MALFORMED_QUERY for a corrupt body. */
GBytes             *sqs_body_decode              (const char      *content_encoding,
                                                  GBytes          *body,
                                                  gsize            max_decoded,
                                                  GError         **error);

/* sqs-query.c: the query protocol (application/x-www-form-urlencoded) */
GHashTable         *sqs_form_parse               (const char      *data,
                                                  gsize            len,
                                                  GPtrArray       *keys,
                                                  GError         **error);
SqsBatch           *sqs_batch_from_form          (GHashTable      *params,
                                                  SqsUnknownFunc   unknown,
                                                  gpointer         user_data,
                                                  GError         **error);
SqsBatch           *sqs_batch_from_query         (const char      *data,
                                                  gsize            len,
                                                  SqsUnknownFunc   unknown,
                                                  gpointer         user_data,
                                                  GError         **error);

/* sqs-json.c: the JSON protocol (application/x-amz-json-1.0) */
SqsBatch           *sqs_batch_from_json          (const char      *data,
                                                  gsize            len,
                                                  SqsUnknownFunc   unknown,
                                                  gpointer         user_data,
                                                  GError         **error);

/* sqs-validate.c: the request-level rules */
gboolean            sqs_batch_validate           (SqsBatch        *batch,
                                                  GError         **error);

/* sqs-reply.c: replies; each returns a newly allocated document */
char               *sqs_reply_xml_batch          (const SqsBatch  *batch,
                                                  const char      *request_id);
char               *sqs_reply_xml_error          (gboolean         sender,
                                                  const char      *code,
                                                  const char      *message,
                                                  const char      *request_id);
char               *sqs_reply_json_batch         (const SqsBatch  *batch);
char               *sqs_reply_json_error         (const char      *code,
                                                  const char      *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SqsBatch, sqs_batch_free)

G_END_DECLS
