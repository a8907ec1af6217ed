/* ep-test-delivery-util.h: the fixture and helpers of the test-delivery*
 * programs (a scripted SQS consumer on 127.0.0.1, producers over it)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "ep-queue-private.h"
#include "ep-test-util.h"

G_BEGIN_DECLS

typedef struct {
  EpTestConsumer consumer;
  GArray       *outages;    /* (element-type gboolean): outage-changed, in order */
  GArray       *rejected;   /* (element-type guint): credentials-rejected statuses */
} Fixture;

void
fixture_setup (Fixture       *fx,
               gconstpointer  data);

void
fixture_teardown (Fixture       *fx,
                  gconstpointer  data);

void
watch (Fixture    *fx,
       EpProducer *producer);

#define producer_new(fx, ...) \
  ep_test_consumer_new_producer (&(fx)->consumer, __VA_ARGS__)

void
send_n (EpProducer *producer,
        const char *name,
        guint       n);

EpTestRequest *
request (Fixture *fx,
         guint    i);

gboolean
counters_have (EpProducer *producer,
               const char *fragment);

void
assert_flush_fails (EpProducer *producer,
                    const char *pattern);

void
assert_flush_ok (EpProducer *producer);

/* Flushes until the queue is empty (a suspect waiting aside takes a few
 * flushes: ep-witness-private.h); returns how many it took, failing the
 * test past @max_flushes. */
guint
flush_until_empty (EpProducer *producer,
                   guint       max_flushes);
void
append_record (EpQueue    *queue,
               const char *id,
               const char *payload);

/* A URI on a port that was just free: nobody listens there. */
char *
unreachable_uri (void);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)

G_END_DECLS
