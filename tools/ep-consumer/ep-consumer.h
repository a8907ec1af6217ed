/* ep-consumer.h: the parts of ep-consumer and what they share
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * ep-consumer is a local TL consumer: a SoupServer on 127.0.0.1 speaking
 * Amazon SQS SendMessageBatch (tools/README-ep-consumer.md). It does not
 * link ep-glib, so it checks ep-glib from the outside. The SQS rules live
 * in tools/sqs-server/ (shared with the tests' scripted server); this
 * folder holds the program around them, one concern per file:
 *
 *   main.c      the command line and main ()
 *   consumer.c  set-up, the listening socket, signals, tear-down
 *   handler.c   one batch request: routing, HTTP checks, decoding
 *   reply.c     the replies: SQS's in the request's protocol, the JSON of
 *               /control and /api, the 404 of an unknown path
 *   faults.c    injected faults, held (delayed or hung) replies, /control
 *   output.c    the JSON lines of accepted events, the log, the status line
 *   sink-nats.c the NATS JetStream sink (--sink nats://...), built with the
 *               meson feature "nats"; the file sink (output.c) is the default
 *   limits.c    what a client can cost: body size and memory, timeouts,
 *               the number of connections
 *   inspector.c the live inspector page (GET /, inspector/ as a GResource)
 *               and its JSON API (/api/events, /api/refused, /api/summary,
 *               /api/faults, /api/reset): the last events, kept in memory
 */
#pragma once

#include <stdio.h>

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "sqs-server.h"
#include "json-line.h"

G_BEGIN_DECLS

#define ENDPOINT_PRIVATE       "/api/event-batch"
#define ENDPOINT_PUBLIC        "/api/public/event-batch"
#define MAX_REQUEST_BYTES      (4 * 1024 * 1024)
#define BODY_BUDGET_BYTES      (16 * 1024 * 1024)  /* all requests in progress */
#define DEFAULT_IDLE_TIMEOUT   75   /* s; longer than libsoup clients keep idle connections */
#define DEFAULT_REQUEST_TIMEOUT 60  /* s */
#define DEFAULT_MAX_CONNECTIONS 1024
#define STATUS_INTERVAL_MS     250
#define DEFAULT_INSPECTOR_EVENTS 1000  /* --inspector-events */
#define INSPECTOR_RING_BYTES   (32 * 1024 * 1024)  /* each ring: events, refused */
#define INSPECTOR_MAX_NAMES    1000  /* names (and categories) counted apart */
#define INSPECTOR_RECENT_REQUESTS 50

/* The command line, as parsed and checked by main.c; read-only afterwards */
typedef struct {
  int      port;                 /* 0 picks a free port */
  char    *port_file;            /* owned, nullable */
  char    *output;               /* owned; NULL or "-" for standard output */
  gboolean require_token;        /* a bearer token on ENDPOINT_PRIVATE */
  char    *token;                /* owned, nullable: the only token accepted */
  int      latency_ms;           /* every batch reply held this long */
  double   fail_rate;            /* probabilities, 0 to 1: */
  int      fail_status;          /*   ...a failed request's status (4xx, 5xx) */
  int      retry_after;          /*   ...its Retry-After, -1 for none */
  double   sender_fault_rate;    /*   ...an entry refused for good */
  double   receiver_fault_rate;  /*   ...an entry failed for now */
  double   hang_rate;            /*   ...a request never answered */
  double   garbage_rate;         /*   ...a 200 reply that is not SQS */
  gint64   seed;                 /* -1: a random seed */
  int      idle_timeout;         /* s; 0: none */
  int      request_timeout;      /* s; 0: none */
  int      max_connections;
  gboolean quiet;
  gboolean verbose;
  gboolean version;
  char    *listen;               /* owned, nullable: the address (127.0.0.1) */
  gboolean reuse_port;           /* SO_REUSEPORT: instances share the port */
  /* The NATS JetStream sink (sink-nats.c) */
  char    *sink;                 /* owned, nullable: nats://HOST:PORT[,...] */
  char    *stream;               /* owned: the stream's name */
  char    *subject;              /* owned: the subject events are published on */
  int      sink_timeout_ms;      /* how long a batch waits for the acks */
  gboolean create_stream;        /* create the stream when it is missing */
  int      stream_replicas;      /* 0: min (3, servers of the cluster) */
  int      stream_duplicates_s;  /* the stream's duplicate window */
  char    *nats_creds;           /* owned, nullable: a .creds file */
  char    *nats_token_file;      /* owned, nullable: a file holding the token */
  char    *nats_ca;              /* owned, nullable: CA file, implies TLS */
  gboolean confirm_before_ack;   /* debug: the flaw the tests show */
  int      inspector_events;     /* events the inspector keeps; 0: none */
} Options;

/* Where accepted events go. The file sink (output.c) writes them before it
 * returns; the NATS sink (sink-nats.c) publishes them and holds the request
 * (request_hold) until the engine acknowledged each or the timeout passed. */
typedef struct _Request Request;
typedef struct _Sink Sink;
typedef struct _Inspector Inspector;

struct _Sink {
  const char *name;
  /* Stores the accepted entries of req->batch (the entries without an
   * error code). Returns FALSE with @error to fail the request whole
   * (SQS_ERROR: that error's reply; G_IO_ERROR_NOT_CONNECTED: 503 with
   * Retry-After); TRUE once every entry is settled, or after
   * request_hold (@req), to settle them later and call request_release. */
  gboolean  (*store)  (Sink     *sink,
                       Request  *req,
                       GError  **error);
  /* For GET /health: can the sink store events now? */
  gboolean  (*ready)  (Sink     *sink,
                       char    **reason);
  void      (*free)   (Sink     *sink);
};

#define SINK_RETRY_AFTER_S 1

typedef struct {
  guint64 requests;         /* requests to the batch endpoints */
  guint64 accepted;         /* events confirmed and written */
  guint64 rejected;         /* events refused by validation */
  guint64 faults;           /* injected faults: requests and entries */
  guint64 failed_requests;  /* replies with a non-2xx status */
  guint64 unknown_paths;    /* requests to paths nothing serves (404) */
  guint64 too_large;        /* 413 before the body was read (limits.c) */
  guint64 overloaded;       /* 503: the bodies in progress hit BODY_BUDGET_BYTES */
  guint64 timed_out;        /* requests closed by --request-timeout */
  guint64 connections_refused;  /* closed at once: every connection was busy */
  guint64 connections_evicted;  /* idle ones closed to make room */
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
  int         latency_ms;      /* --latency, or POST /api/faults */
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
  Sink       *sink;            /* owned */
  GQueue      connections;     /* limits.c: Connection, oldest first */
  guint       closing_connections;
  int         max_connections; /* --max-connections, fitted to RLIMIT_NOFILE */
  gsize       body_bytes;      /* bodies of the requests in progress */
  guint       keep_alive_leaks;/* idle keep-alive connections closed (limits.c) */
  GQueue      rejections;      /* limits.c: replies written by hand, lingering */
  Inspector  *inspector;       /* owned */
} Consumer;

typedef enum {
  PROTOCOL_QUERY,
  PROTOCOL_JSON,
  PROTOCOL_UNSUPPORTED,
} Protocol;

/* One request to a batch endpoint, alive during the handler, or until
 * request_release() once a sink held it */
struct _Request {
  Consumer          *consumer;
  SoupServerMessage *msg;         /* borrowed */
  const char        *endpoint;    /* ENDPOINT_PRIVATE or ENDPOINT_PUBLIC; "/"
                                   * until a request to the root is routed */
  Protocol           protocol;
  char              *request_id;  /* owned */
  SqsBatch          *batch;       /* owned; decoded early to route a request
                                   * to the root, else NULL until processed */
  guint              accepted;
  guint              rejected;
  const char        *error_code;  /* static: the code of an error reply */
  gboolean           held;        /* request_hold () moved it to the heap */
  gboolean           gone;        /* held, and the client disconnected */
  gulong             gone_id;
};

/* consumer.c */
Consumer *consumer_new               (Options            *options);
void      consumer_free              (Consumer           *self);
gboolean  consumer_start             (Consumer           *self,
                                      GError            **error);
void      consumer_run               (Consumer           *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Consumer, consumer_free)

/* handler.c */
void      handle_event_batch         (SoupServer         *server,
                                      SoupServerMessage  *msg,
                                      const char         *path,
                                      GHashTable         *query,
                                      gpointer            user_data);
void      handle_root                (Consumer           *self,
                                      SoupServerMessage  *msg);
Request  *request_hold               (Request            *req);
void      request_release            (Request            *held);
void      handle_health              (SoupServer         *server,
                                      SoupServerMessage  *msg,
                                      const char         *path,
                                      GHashTable         *query,
                                      gpointer            user_data);

/* faults.c */
gboolean  request_maybe_hang         (Request            *req);
gboolean  request_inject_failure     (Request            *req);
gboolean  request_inject_garbage     (Request            *req);
gboolean  entry_inject_fault         (Consumer           *self,
                                      SqsEntry           *entry);
void      consumer_hold_reply        (Consumer           *self,
                                      SoupServerMessage  *msg,
                                      guint               delay_ms);
GPtrArray *held_replies_new          (void);
gboolean  on_toggle_signal           (gpointer            user_data);
void      handle_control             (SoupServer         *server,
                                      SoupServerMessage  *msg,
                                      const char         *path,
                                      GHashTable         *query,
                                      gpointer            user_data);
void      consumer_add_totals        (Consumer           *self,
                                      JsonBuilder        *builder);
void      consumer_add_faults        (Consumer           *self,
                                      JsonBuilder        *builder);
GHashTable *faults_params_from_json  (GBytes             *body,
                                      char              **message);
GHashTable *faults_params_from_form  (GBytes             *body,
                                      GHashTable         *query);
gboolean  consumer_set_faults        (Consumer           *self,
                                      GHashTable         *params,
                                      char              **message);

/* reply.c */
void      reply_take                 (SoupServerMessage  *msg,
                                      guint               status,
                                      const char         *content_type,
                                      char               *body);
void      request_reply_error_full   (Request            *req,
                                      guint               status,
                                      gboolean            sender,
                                      const char         *code,
                                      const char         *message);
void      request_reply_error        (Request            *req,
                                      const GError       *error);
void      request_reply_batch        (Request            *req,
                                      const SqsBatch     *batch);
void      reply_json                 (SoupServerMessage  *msg,
                                      guint               status,
                                      JsonBuilder        *builder);
void      reply_json_error           (SoupServerMessage  *msg,
                                      guint               status,
                                      const char         *message);
void      handle_not_found           (Consumer           *self,
                                      SoupServerMessage  *msg,
                                      const char         *path);

/* inspector.c */
Inspector *inspector_new             (Consumer           *consumer,
                                      guint               capacity);
void      inspector_free             (Inspector          *self);
void      inspector_record_entries   (Inspector          *self,
                                      const Request      *req);
void      inspector_record_refused_batch (Inspector      *self,
                                      const Request      *req,
                                      const GError       *error);
void      inspector_record_request   (Inspector          *self,
                                      const Request      *req,
                                      guint               status);
gboolean  inspector_handle_root      (Inspector          *self,
                                      SoupServerMessage  *msg);
void      inspector_handle_asset     (SoupServer         *server,
                                      SoupServerMessage  *msg,
                                      const char         *path,
                                      GHashTable         *query,
                                      gpointer            user_data);
void      inspector_handle_api       (SoupServer         *server,
                                      SoupServerMessage  *msg,
                                      const char         *path,
                                      GHashTable         *query,
                                      gpointer            user_data);

/* limits.c */
void      consumer_limits_init       (Consumer           *self);
void      consumer_limits_listening  (Consumer           *self);
void      consumer_limits_clear      (Consumer           *self);
guint     consumer_open_connections  (Consumer           *self);

/* output.c */
void      consumer_log               (Consumer           *self,
                                      const char         *format,
                                      ...) G_GNUC_PRINTF (2, 3);
void      consumer_warn_parameter    (const char         *name,
                                      gpointer            user_data);
gboolean  consumer_write_events      (Consumer           *self,
                                      SqsBatch           *batch,
                                      const char         *endpoint,
                                      GError            **error);
void      add_string_member          (JsonBuilder        *builder,
                                      const char         *name,
                                      const char         *value);
char     *now_iso8601                (void);
Sink     *sink_file_new              (Consumer           *consumer);

/* sink-nats.c (only with the meson feature "nats") */
Sink     *sink_nats_new              (Consumer           *consumer,
                                      GError            **error);
void      status_clear               (Consumer           *self);
void      status_update_rate         (Consumer           *self);
gboolean  status_tick                (gpointer            user_data);
void      consumer_print_summary     (Consumer           *self);

G_END_DECLS
