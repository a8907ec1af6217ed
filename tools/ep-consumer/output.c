/* output.c: what ep-consumer writes: accepted events, its log, the status line
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every accepted event becomes one JSON line on the output (a file opened
 * for appending, or standard output):
 *
 *   {"id": ..., "name": ..., "headers": {...}, "payload": ...,
 *    "endpoint": "/api/event-batch", "received": "2024-05-01T12:00:00.000Z"}
 *
 * name and headers come from the string attributes "Name" and "Headers"
 * that ep-glib sends (null when absent; headers kept as a string when it
 * is not one strict JSON object). The lines of one batch are written with one
 * write and flushed before the reply confirms them, so a client never sees
 * a confirmation for an event that is not in the output.
 *
 * Everything else goes to standard error: log lines prefixed "ep-consumer:",
 * the summary at exit, and on a terminal a live status line that the log
 * lines (and events written to standard output) clear first.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ep-consumer.h"

/* ------------------------------------------------------------------------ */
/* Log and status line                                                      */

void
status_clear (Consumer *self)
{
  if (self->status_drawn)
    fputs ("\r\033[K", stderr);
  self->status_drawn = FALSE;
}

void
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

/* An SqsUnknownFunc. SQS ignores parameters it does not know; ep-consumer
 * does too, but says so once per shape of name (indexes become N), so that
 * a client's typo is visible without flooding the log. */
void
consumer_warn_parameter (const char *name,
                         gpointer    user_data)
{
  Consumer *self = user_data;
  GString *pattern = g_string_new (NULL);

  for (const char *p = name; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        g_string_append_c (pattern, *p);
      else if (pattern->len == 0 || pattern->str[pattern->len - 1] != 'N')
        g_string_append_c (pattern, 'N');
    }

  if (g_hash_table_add (self->warned, g_string_free (pattern, FALSE)))
    {
      g_autofree char *shown = sqs_printable (name, strlen (name));

      consumer_log (self, "ignoring unknown parameter %s", shown);
    }
}

/* Events per second, smoothed over the samples */
void
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

gboolean
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

void
consumer_print_summary (Consumer *self)
{
  const Totals *t = &self->totals;

  status_clear (self);
  fprintf (stderr, "ep-consumer: %" G_GUINT64_FORMAT " requests, %" G_GUINT64_FORMAT
           " events accepted, %" G_GUINT64_FORMAT " rejected, %" G_GUINT64_FORMAT
           " faults injected, %" G_GUINT64_FORMAT " failed requests, %" G_GUINT64_FORMAT
           " to unknown paths\n",
           t->requests, t->accepted, t->rejected, t->faults, t->failed_requests,
           t->unknown_paths);
  fflush (stderr);
}

/* ------------------------------------------------------------------------ */
/* The JSON lines                                                           */

char *
now_iso8601 (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *seconds = g_date_time_format (now, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", seconds,
                          g_date_time_get_microsecond (now) / 1000);
}

void
add_string_member (JsonBuilder *builder,
                   const char  *name,
                   const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

/* Write the accepted entries of @batch; a failure to write fails the
 * request (InternalFailure, Receiver), so nothing unwritten is confirmed. */
gboolean
consumer_write_events (Consumer    *self,
                       SqsBatch    *batch,
                       const char  *endpoint,
                       GError     **error)
{
  g_autoptr(GString) lines = g_string_new (NULL);
  g_autofree char *received = now_iso8601 ();

  for (guint i = 0; i < batch->entries->len; i++)
    {
      SqsEntry *entry = g_ptr_array_index (batch->entries, i);

      if (entry->error_code != NULL)
        continue;
      event_append_json_line (lines, entry, endpoint, received);
      g_string_append_c (lines, '\n');
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
/* The file sink: the default                                               */

typedef struct {
  Sink      parent;
  Consumer *consumer;
} FileSink;

/* Written and flushed (not synced) before the reply confirms them */
static gboolean
file_sink_store (Sink     *sink,
                 Request  *req,
                 GError  **error)
{
  FileSink *self = (FileSink *) sink;

  return consumer_write_events (self->consumer, req->batch, req->endpoint, error);
}

static gboolean
file_sink_ready (Sink  *sink,
                 char **reason)
{
  return TRUE;
}

Sink *
sink_file_new (Consumer *consumer)
{
  FileSink *self = g_new0 (FileSink, 1);

  self->parent = (Sink) { "file", file_sink_store, file_sink_ready, (void (*) (Sink *)) g_free };
  self->consumer = consumer;

  return &self->parent;
}
