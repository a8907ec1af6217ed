/* bench-gateway.c: events per second confirmed through ep-consumer's NATS sink
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 *   bench-gateway drain PORT EVENTS PRODUCERS
 *     PRODUCERS producers (one process, one main context, a queue each,
 *     bench-suite's configuration, 4 in flight) are filled with EVENTS in
 *     all (1 KiB payload, not timed), then all flush at once to the consumer
 *     on 127.0.0.1:PORT; prints the events confirmed per second, from the
 *     first flush to the last queue empty.
 *   bench-gateway nats SERVERS STREAM SUBJECT EVENTS SIZE [IN_FLIGHT]
 *     The engine's ceiling: a bare nats.c loop of js_PublishAsync into
 *     STREAM (messages of SIZE bytes, a unique Nats-Msg-Id each, IN_FLIGHT
 *     unacknowledged at most, default 4,096), until
 *     js_PublishAsyncComplete; prints events per second.
 *
 * bench/bench-gateway.sh runs the cluster, the gateways and both modes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench-common.h"
#include "ep-nats.h"

typedef struct {
  guint pending;
} Drain;

/* This process's CPU time so far (every thread, user + system), in µs */
static double
cpu_us (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6
         + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Drain *drain = user_data;
  EpProducer *producer = EP_PRODUCER (source);
  g_autoptr(GError) error = NULL;

  if (!ep_producer_flush_finish (producer, result, &error))
    bench_progress ("flush: %s; again", error->message);
  if (ep_producer_get_queue_length (producer) > 0)
    ep_producer_flush_async (producer, NULL, on_flushed, drain);
  else
    drain->pending--;
}

static int
run_drain (guint   port,
           guint64 events,
           guint   count)
{
  g_autoptr(GPtrArray) producers = g_ptr_array_new_with_free_func (g_object_unref);
  Drain drain = { count };
  gint64 start, end;
  double cpu;

  for (guint i = 0; i < count; i++)
    {
      g_autofree char *name = g_strdup_printf ("queue%u", i);
      g_autofree char *dir = bench_scratch (name);
      EpProducer *producer = bench_producer_new (dir, FALSE, 4, port);

      bench_fill_producer (producer, events / count);
      g_ptr_array_add (producers, producer);
    }
  bench_progress ("%u producers filled with %" G_GUINT64_FORMAT " events; draining", count,
                  events / count * count);

  start = g_get_monotonic_time ();
  cpu = cpu_us ();
  for (guint i = 0; i < count; i++)
    ep_producer_flush_async (producers->pdata[i], NULL, on_flushed, &drain);
  while (drain.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  end = g_get_monotonic_time ();
  cpu = cpu_us () - cpu;

  printf ("drain events=%" G_GUINT64_FORMAT " producers=%u cpu_us_per_event=%.1f seconds=%.2f "
          "events_per_s=%.0f\n", events / count * count, count,
          cpu / (events / count * count), (end - start) / 1e6,
          (events / count * count) / ((end - start) / 1e6));
  return 0;
}

static int
run_nats (const char *servers,
          const char *stream,
          const char *subject,
          guint64     events,
          gsize       size,
          int         in_flight)
{
  EpNatsServer server = { servers, NULL, NULL, NULL };
  g_autoptr(GError) error = NULL;
  natsOptions *options = ep_nats_options_new (&server, "bench-gateway", &error);
  g_autofree char *data = g_malloc (size);
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  jsOptions js_options;
  jsPubOptions pub_options;
  gint64 start, end;
  double cpu;
  natsStatus s;

  if (options == NULL)
    bench_die ("%s", error->message);
  memset (data, 'x', size);
  s = natsConnection_Connect (&nc, options);
  jsOptions_Init (&js_options);
  js_options.PublishAsync.MaxPending = in_flight;
  if (s == NATS_OK)
    s = natsConnection_JetStream (&js, nc, &js_options);
  if (s != NATS_OK)
    bench_die ("NATS: %s", natsStatus_GetText (s));

  jsPubOptions_Init (&pub_options);
  start = g_get_monotonic_time ();
  cpu = cpu_us ();
  for (guint64 i = 0; i < events && s == NATS_OK; i++)
    {
      char id[64];
      natsMsg *msg = NULL;

      g_snprintf (id, sizeof id, "bench-%" G_GINT64_FORMAT "-%" G_GUINT64_FORMAT, start, i);
      s = natsMsg_Create (&msg, subject, NULL, data, (int) size);
      if (s == NATS_OK)
        s = natsMsgHeader_Set (msg, "Nats-Msg-Id", id);
      if (s != NATS_OK)
        break;
      /* MaxPending in flight: js_PublishMsgAsync () waits StallWait, then
       * times out with the message still ours: wait again */
      do
        s = js_PublishMsgAsync (js, &msg, &pub_options);
      while (s == NATS_TIMEOUT && msg != NULL);
      natsMsg_Destroy (msg);
    }
  pub_options.MaxWait = 60000;
  if (s == NATS_OK)
    s = js_PublishAsyncComplete (js, &pub_options);
  end = g_get_monotonic_time ();
  cpu = cpu_us () - cpu;
  if (s != NATS_OK)
    bench_die ("publishing to %s: %s", stream, natsStatus_GetText (s));

  printf ("nats events=%" G_GUINT64_FORMAT " size=%zu in_flight=%d cpu_us_per_event=%.1f "
          "seconds=%.2f events_per_s=%.0f\n", events, size, in_flight, cpu / events,
          (end - start) / 1e6, events / ((end - start) / 1e6));
  jsCtx_Destroy (js);
  natsConnection_Destroy (nc);
  natsOptions_Destroy (options);
  return 0;
}

int
main (int    argc,
      char **argv)
{
  g_autofree char *template = g_build_filename (g_get_tmp_dir (), "bench-gateway-XXXXXX", NULL);
  int status;

  if (argc == 5 && g_str_equal (argv[1], "drain"))
    {
      bench_payload = bench_make_payload (BENCH_PAYLOAD_SIZE);
      bench_scratch_root = g_mkdtemp (g_steal_pointer (&template));
      status = run_drain ((guint) atoi (argv[2]), g_ascii_strtoull (argv[3], NULL, 10),
                          (guint) MAX (atoi (argv[4]), 1));
      bench_remove_tree (bench_scratch_root);
      return status;
    }
  if ((argc == 7 || argc == 8) && g_str_equal (argv[1], "nats"))
    return run_nats (argv[2], argv[3], argv[4], g_ascii_strtoull (argv[5], NULL, 10),
                     (gsize) atoi (argv[6]), argc == 8 ? MAX (atoi (argv[7]), 1) : 4096);

  fprintf (stderr, "usage: bench-gateway drain PORT EVENTS PRODUCERS\n"
                   "       bench-gateway nats SERVERS STREAM SUBJECT EVENTS SIZE [IN_FLIGHT]\n");
  return 2;
}
