/* bench-common.c: timing, statistics, memory, event and harness helpers of the benchmarks
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>

#include <ep-glib/ep-glib.h>
#include "ep-queue-private.h"

#include "bench-common.h"

gint64
bench_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static int
compare_gint64 (const void *a,
                const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static gint64
percentile (const gint64 *sorted,
            guint         n,
            double        p)
{
  guint i = (guint) (p * (n - 1) + 0.5);

  return sorted[MIN (i, n - 1)];
}

void
bench_stats_compute (gint64     *samples,
                     guint       n,
                     BenchStats *out)
{
  memset (out, 0, sizeof *out);
  if (n == 0)
    return;
  qsort (samples, n, sizeof (gint64), compare_gint64);
  out->n = n;
  out->median = percentile (samples, n, 0.5);
  out->p99 = percentile (samples, n, 0.99);
  out->p999 = percentile (samples, n, 0.999);
  out->max = samples[n - 1];
}

guint64
bench_proc_status (const char *key)
{
  g_autofree char *status = NULL;
  g_autofree char *needle = g_strconcat ("\n", key, ":", NULL);
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, needle);
  return line != NULL ? g_ascii_strtoull (line + strlen (needle), NULL, 10) * 1024 : 0;
}

gboolean
bench_reset_peak_rss (void)
{
  return g_file_set_contents_full ("/proc/self/clear_refs", "5", 1, G_FILE_SET_CONTENTS_NONE,
                                   0, NULL);
}

void
bench_remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        bench_remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

char *
bench_make_payload (gsize len)
{
  GString *json = g_string_sized_new (len + 1);

  g_assert (len >= 32);
  g_string_append (json, "{\"track\":\"bench\",\"data\":\"");
  while (json->len < len - 2)
    g_string_append_c (json, 'a' + json->len % 26);
  g_string_append (json, "\"}");
  g_assert (json->len == len);
  return g_string_free (json, FALSE);
}

/* The producer's default headers in bench-suite's configuration (see
 * bench_producer_new() in bench-suite.c: the device and OS are configured,
 * so both sides produce the same headers). */
void
bench_enrichment_init (BenchEnrichment *e)
{
  memset (e, 0, sizeof *e);
  e->headers_json = g_string_sized_new (512);
}

void
bench_enrichment_clear (BenchEnrichment *e)
{
  g_string_free (e->headers_json, TRUE);
}

void
bench_enrich (BenchEnrichment *e)
{
  char timestamp[24];
  g_autofree char *uuid = g_uuid_string_random ();
  const char *reason, *bad_key;
  const EpHeader headers[] = {
    { "app-name", "bench-suite" },
    { "app-version", "1.0" },
    { "consent-category", "NECESSARY" },
    { "requested-sent-timestamp", timestamp },
    { "device-vendor", "Bench Vendor" },
    { "device-model", "Bench Model 1" },
    { "os-name", "Debian GNU/Linux" },
    { "os-version", "12" },
  };

  e->created_us = g_get_real_time ();
  g_snprintf (timestamp, sizeof timestamp, "%" G_GINT64_FORMAT, e->created_us / 1000);
  memcpy (e->id, uuid, sizeof e->id);
  if (!ep_event_build_headers_json (e->headers_json, headers, G_N_ELEMENTS (headers), NULL,
                                    &reason, &bad_key))
    g_error ("bench headers invalid: %s", reason);
}

/* The harness of bench-suite --------------------------------------------- */

char *bench_scratch_root;
char *bench_payload;

void
bench_die (const char *format,
           ...)
{
  va_list args;

  va_start (args, format);
  fprintf (stderr, "bench-suite: ");
  vfprintf (stderr, format, args);
  fprintf (stderr, "\n");
  va_end (args);
  if (bench_scratch_root != NULL)
    bench_remove_tree (bench_scratch_root);
  exit (1);
}

void
bench_progress (const char *format,
                ...)
{
  va_list args;
  g_autofree char *text = NULL;

  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "[%7.1f s] %s\n", g_get_monotonic_time () / 1e6, text);
}

char *
bench_scratch (const char *name)
{
  return g_build_filename (bench_scratch_root, name, NULL);
}

void
bench_spin_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* The producer --------------------------------------------------------------- */

EpProducer *
bench_producer_new (const char *dir,
                    gboolean    sync_on_send,
                    guint       max_in_flight,
                    guint       port)
{
  return bench_producer_new_full (dir, sync_on_send, max_in_flight, port, NULL);
}

EpProducer *
bench_producer_new_full (const char *dir,
                         gboolean    sync_on_send,
                         guint       max_in_flight,
                         guint       port,
                         const char *true_property)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strdup_printf ("http://127.0.0.1:%u/api/event-batch", port ? port : 9);
  g_autofree char *public_uri = g_strdup_printf ("http://127.0.0.1:%u/api/public/event-batch",
                                                 port ? port : 9);
  EpProducer *producer;

  producer = g_initable_new (EP_TYPE_PRODUCER, NULL, &error,
                             "app-name", "bench-suite",
                             "app-version", "1.0",
                             "consumer-uri", uri,
                             "public-consumer-uri", public_uri,
                             "queue-dir", dir,
                             "max-disk-usage", (guint64) 8 << 30,
                             "batch-interval", 24 * 3600 * 1000u,
                             "monitoring-interval", 24 * 3600 * 1000u,
                             "request-timeout", 30000u,
                             "sync-on-send", sync_on_send,
                             "max-in-flight", max_in_flight,
                             "device-vendor", "Bench Vendor",
                             "device-model", "Bench Model 1",
                             "os-name", "Debian GNU/Linux",
                             "os-version", "12",
                             /* a NULL @true_property ends the list here */
                             true_property, TRUE,
                             NULL);
  if (producer == NULL)
    bench_die ("cannot create a producer on %s: %s", dir, error->message);
  return producer;
}

/* Drops the producer; it must be gone (its queue lock released) at once. */
void
bench_producer_drop (EpProducer **producer)
{
  gpointer weak = *producer;

  g_object_add_weak_pointer (G_OBJECT (*producer), &weak);
  bench_spin_pending ();
  g_clear_object (producer);
  bench_spin_pending ();
  if (weak != NULL)
    bench_die ("a producer is still alive after its last unref");
}

void
bench_send_or_die (EpProducer *producer)
{
  EpSendResult result = ep_producer_send_event (producer, BENCH_EVENT_NAME,
                                                EP_CONSENT_CATEGORY_NECESSARY, bench_payload, NULL);

  if (result != EP_SEND_RESULT_STORED)
    bench_die ("send failed (result %d) with %" G_GUINT64_FORMAT " queued", result,
               ep_producer_get_queue_length (producer));
}

void
bench_fill_producer (EpProducer *producer,
                     guint64     length)
{
  while (ep_producer_get_queue_length (producer) < length)
    bench_send_or_die (producer);
}

/* Removes the oldest events until @length are left (between measurements, so
 * that every level starts with exactly that many queued). */
void
bench_trim_queue (const char *dir,
                  guint64     length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EpQueue) queue = ep_queue_open (dir, 0, FALSE, NULL, &error);

  if (queue == NULL)
    bench_die ("cannot open %s: %s", dir, error->message);
  while (ep_queue_get_length (queue) > length)
    {
      guint n = (guint) MIN (4096, ep_queue_get_length (queue) - length);
      g_autoptr(GPtrArray) items = ep_queue_take (queue, n, G_MAXSIZE);
      g_autofree guint64 *seqs = g_new (guint64, items->len);

      for (guint i = 0; i < items->len; i++)
        seqs[i] = ((EpQueueItem *) g_ptr_array_index (items, i))->seq;
      if (items->len == 0 || !ep_queue_remove (queue, seqs, items->len, &error))
        bench_die ("cannot trim %s: %s", dir, error ? error->message : "nothing to take");
    }
  if (!ep_queue_sync (queue, &error))
    bench_die ("cannot sync %s: %s", dir, error->message);
  ep_queue_close (queue);
}

/* Formatting ------------------------------------------------------------------- */

char *
bench_format_count (guint64 n)
{
  if (n >= 1000000 && n % 1000000 == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "M", n / 1000000);
  if (n >= 1000 && n % 1000 == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "k", n / 1000);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

char *
bench_format_ns (double ns)
{
  if (ns >= 1e9)
    return g_strdup_printf ("%.2f s", ns / 1e9);
  if (ns >= 1e6)
    return g_strdup_printf ("%.2f ms", ns / 1e6);
  if (ns >= 1e4)
    return g_strdup_printf ("%.1f µs", ns / 1e3);
  return g_strdup_printf ("%.0f ns", ns);
}

char *
bench_format_ratio (double ours,
                    double other)
{
  if (other <= 0 || ours <= 0)
    return g_strdup ("n/a");
  if (ours / other >= 0.01)
    return g_strdup_printf ("%.2f", ours / other);
  return g_strdup_printf ("%.1e", ours / other);
}

const char *
bench_verdict (gboolean met)
{
  return met ? "met" : "**missed**";
}

/* Shared by the phases of bench-suite ------------------------------------- */

/* The journal's frame: a 32-byte header, then the record padded to 8 bytes
 * (see the format description in the journal's source). */
#define FRAME_HEADER_SIZE 32
#define ALIGN8(n)         (((n) + 7) & ~(gsize) 7)

/* The size of the frame ours writes for one benchmark send: the record the
 * producer builds (the same enrichment as the baselines get) in its frame. */
guint
bench_frame_size (void)
{
  g_autoptr(GByteArray) record = g_byte_array_new ();
  BenchEnrichment e;
  gsize len;

  bench_enrichment_init (&e);
  bench_enrich (&e);
  ep_event_record_build (record, e.created_us, e.id, BENCH_EVENT_NAME, strlen (BENCH_EVENT_NAME),
                         e.headers_json->str, e.headers_json->len, bench_payload,
                         strlen (bench_payload));
  len = record->len;
  bench_enrichment_clear (&e);
  return (guint) (FRAME_HEADER_SIZE + ALIGN8 (len));
}

/* "1.20 ms / 3.40 ms" ("n/a" when not measured) */
char *
bench_format_median_p99 (const Latency *lat)
{
  g_autofree char *m = NULL, *p = NULL;

  if (!lat->measured)
    return g_strdup ("n/a");
  m = bench_format_ns (lat->stats.median);
  p = bench_format_ns (lat->stats.p99);
  return g_strdup_printf ("%s / %s", m, p);
}

static void
on_child_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  char **output = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, output, NULL, &error))
    *output = g_strdup (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? "TIMEOUT"
                                                                                   : "ERROR");
  else if (*output == NULL)
    *output = g_strdup ("");
}

/* The standard output of @child (started with G_SPAWN_STDOUT_PIPE), read
 * while the main context runs; "TIMEOUT" once @cancellable (nullable) is
 * cancelled, "ERROR" if it cannot be read. */
char *
bench_child_output (GSubprocess  *child,
                    GCancellable *cancellable)
{
  /* on the heap: GCC 12 takes a local's address, kept by the async call
   * until it returns, for a dangling pointer */
  g_autofree char **slot = g_new0 (char *, 1);

  g_subprocess_communicate_utf8_async (child, NULL, cancellable, on_child_done, slot);
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}
