/* ep-test-server.h: a scripted fake SQS consumer on a SoupServer at 127.0.0.1
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Listens on 127.0.0.1, port 0, in the thread-default main context of the
 * creating thread (the test's). Parses each POST as a SendMessageBatch form,
 * records it, and answers by the next scripted action (FIFO); when the script
 * is empty it answers with the default action (initially ACCEPT: a real SQS
 * XML reply confirming every entry).
 */
#pragma once

#include <libsoup/soup.h>

#include <ep-glib/ep-glib.h>

G_BEGIN_DECLS

typedef struct _EpTestServer EpTestServer;

typedef struct {
  char       *id;
  char       *body;          /* MessageBody */
  char       *name;          /* attribute Name */
  char       *headers_json;  /* attribute Headers */
} EpTestEntry;

typedef struct {
  char        *path;          /* e.g. "/api/event-batch" */
  GHashTable  *http_headers;  /* (element-type utf8 utf8): lower-cased name -> value */
  gsize        body_bytes;    /* the body as received (compressed with Content-Encoding: gzip) */
  gsize        decoded_bytes; /* the body decoded (0 when it could not be) */
  GHashTable  *form;          /* (element-type utf8 utf8): every decoded form field */
  GPtrArray   *form_keys;     /* (element-type utf8): form keys in the order received */
  GPtrArray   *entries;       /* (element-type EpTestEntry): entries 1..N in order */
} EpTestRequest;

typedef enum {
  EP_TEST_ACTION_ACCEPT,        /* 200, every entry confirmed (minus sender_fault/retry names below) */
  EP_TEST_ACTION_REPLY,         /* canned: status, content type, body, optional Retry-After */
  EP_TEST_ACTION_HANG,          /* never answer (until the server is freed or ep_test_server_release_hung) */
  EP_TEST_ACTION_RESET,         /* close the connection without any reply */
  EP_TEST_ACTION_RESET_MID_REPLY, /* send status line, headers and half a body, then close */
  EP_TEST_ACTION_ENDLESS,       /* 200 with a chunked body that goes on (64 MiB at most) until the client leaves */
} EpTestActionKind;

EpTestServer   *ep_test_server_new              (void);
void            ep_test_server_free             (EpTestServer   *self);
/* "http://127.0.0.1:PORT" + @path */
char           *ep_test_server_dup_uri          (EpTestServer   *self,
                                                 const char     *path);

void            ep_test_server_push_accept      (EpTestServer   *self);
void            ep_test_server_push_reply       (EpTestServer   *self,
                                                 guint           status,
                                                 const char     *content_type,
                                                 const char     *body,
                                                 const char     *retry_after);
void            ep_test_server_push_hang        (EpTestServer   *self);
void            ep_test_server_push_reset       (EpTestServer   *self);
void            ep_test_server_push_reset_mid_reply (EpTestServer *self);
void            ep_test_server_push_endless     (EpTestServer   *self);
/* Bytes of ENDLESS bodies written so far. */
guint64         ep_test_server_get_endless_bytes (EpTestServer  *self);
/* The action used when the script is empty; for REPLY uses the given reply. */
void            ep_test_server_set_default      (EpTestServer   *self,
                                                 EpTestActionKind kind,
                                                 guint           status,
                                                 const char     *body,
                                                 const char     *retry_after);

/* With ACCEPT: entries whose event name is listed get a BatchResultErrorEntry
 * with SenderFault true (code InvalidMessageContents)... */
void            ep_test_server_set_sender_fault_names (EpTestServer *self,
                                                       const char * const *names);
/* ...or SenderFault false (code InternalError)... */
void            ep_test_server_set_retryable_names    (EpTestServer *self,
                                                       const char * const *names);
/* ...and a batch holding any entry whose name is listed is refused whole
 * with @status (400 or 413) and an SQS ErrorResponse. */
void            ep_test_server_set_poison_names (EpTestServer   *self,
                                                 const char * const *names,
                                                 guint           status);

/* A consumer or middlebox that refuses at random, @percent of the time
 * (a GRand seeded with @seed): whole requests with SenderFault for every
 * entry, 413 (an HTML page, as a proxy sends), or a request-level 400
 * ErrorResponse; or single entries (SenderFault) in otherwise good
 * replies. EP_TEST_FLAKY_NONE turns it off. */
typedef enum {
  EP_TEST_FLAKY_NONE,
  EP_TEST_FLAKY_REQUEST_SENDER_FAULT,
  EP_TEST_FLAKY_REQUEST_413,
  EP_TEST_FLAKY_REQUEST_400,
  EP_TEST_FLAKY_ENTRY_SENDER_FAULT,
} EpTestFlakyMode;

void            ep_test_server_set_flaky        (EpTestServer   *self,
                                                 EpTestFlakyMode mode,
                                                 guint           percent,
                                                 guint32         seed);
/* Requests (or entries) refused at random so far. */
guint           ep_test_server_get_flaky_refusals (EpTestServer *self);

/* Every later reply's Date is the server's time plus @offset_s: a consumer
 * whose clock is off (0, the default, leaves libsoup's Date alone). */
void            ep_test_server_set_date_offset  (EpTestServer   *self,
                                                 gint64          offset_s);

/* Every later reply's Date is @date as given, and it has an Age header
 * @age (each nullable: NULL leaves the header to the rules above). */
void            ep_test_server_set_clock_headers (EpTestServer  *self,
                                                  const char    *date,
                                                  const char    *age);

/* Answers every hung request now with a 500 (so tests can end cleanly). */
void            ep_test_server_release_hung     (EpTestServer   *self);
/* The same with another status (401, say). */
void            ep_test_server_release_hung_with_status (EpTestServer *self,
                                                         guint         status);

/* Every request received so far, in order (element-type EpTestRequest). */
GPtrArray      *ep_test_server_get_requests     (EpTestServer   *self);
guint           ep_test_server_get_n_requests   (EpTestServer   *self);
/* Entries named @name in every request received (confirmed or not). */
guint           ep_test_server_count_entries    (EpTestServer   *self,
                                                 const char     *name);
/* Ids of every entry the server confirmed, in order (duplicates kept). */
GPtrArray      *ep_test_server_get_confirmed_ids (EpTestServer  *self);
/* Requests currently hanging. */
guint           ep_test_server_get_n_hung       (EpTestServer   *self);
/* Distinct client connections (remote ip:port) that sent a request so far:
 * with connection reuse, several sequential requests count once. */
guint           ep_test_server_get_n_connections (EpTestServer  *self);
/* The port the server listens on (127.0.0.1). */
guint16         ep_test_server_get_port         (EpTestServer   *self);

/* An SQS SendMessageBatchResponse body confirming @ids (helper for REPLY). */
char           *ep_test_sqs_accept_body         (const char * const *ids);

G_END_DECLS
