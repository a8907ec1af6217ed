/* bench-common.c: timing, statistics, memory and event helpers for bench-suite
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib/gstdio.h>

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
