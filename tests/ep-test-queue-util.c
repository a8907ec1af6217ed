/* ep-test-queue-util.c: helpers shared by the test-queue* programs
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "ep-test-queue-util.h"
#include "ep-test-util.h"

static guint discard_warnings;

GLogWriterOutput
count_discard_warnings (GLogLevelFlags   level,
                        const GLogField *fields,
                        gsize            n_fields,
                        gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && (level & G_LOG_LEVEL_MESSAGE) &&
        strstr (fields[i].value, "discarded") != NULL)
      {
        g_atomic_int_inc (&discard_warnings);
        return G_LOG_WRITER_HANDLED;
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

GBytes *
make_record (gint64      created_us,
             const char *name,
             const char *payload,
             guint32    *logical_size)
{
  g_autoptr(GVariant) v = NULL;
  const char *id = "0b4e6a4c-2f47-4a4b-9a57-3f2a3e1a6f10";
  const char *headers = "{\"app-name\":\"test\"}";

  v = g_variant_ref_sink (g_variant_new ("(xssss)", created_us, id, name, headers, payload));
  if (logical_size != NULL)
    *logical_size = strlen (id) + strlen (name) + strlen (headers) + strlen (payload);
  return g_variant_get_data_as_bytes (v);
}

gboolean
try_append (EpQueue     *queue,
            const char  *name,
            const char  *payload,
            GError     **error)
{
  g_autoptr(GBytes) record = NULL;
  guint32 logical;
  static gint64 created = 1000;

  record = make_record (g_atomic_pointer_add (&created, 1), name, payload, &logical);
  return ep_queue_append (queue, g_bytes_get_data (record, NULL), g_bytes_get_size (record),
                          logical, error);
}

void
append (EpQueue    *queue,
        const char *payload)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (try_append (queue, "test_event", payload, &error));
  g_assert_no_error (error);
}

char *
record_payload (GBytes *record)
{
  g_autoptr(GVariant) v = NULL;
  const char *payload;

  v = g_variant_ref_sink (g_variant_new_from_bytes (G_VARIANT_TYPE ("(xssss)"), record, FALSE));
  g_variant_get (v, "(x&s&s&s&s)", NULL, NULL, NULL, NULL, &payload);
  return g_strdup (payload);
}

char *
items_payloads (GPtrArray *items)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      EpQueueItem *item = items->pdata[i];
      g_autofree char *payload = record_payload (item->record);

      g_string_append_printf (out, "%s%s", i > 0 ? "," : "", payload);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
queue_payloads (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);

  return items_payloads (items);
}

guint64
item_seq (GPtrArray *items,
          guint      i)
{
  return ((EpQueueItem *) items->pdata[i])->seq;
}

EpQueue *
open_queue (const char          *dir,
            guint64              max_bytes,
            const char * const  *feral,
            guint                expected_discarded)
{
  g_autoptr(GError) error = NULL;
  guint warnings_before = g_atomic_int_get (&discard_warnings);
  EpQueue *queue;

  queue = ep_queue_open (dir, max_bytes, FALSE, feral, &error);
  g_assert_no_error (error);
  g_assert_nonnull (queue);
  g_assert_cmpuint (ep_queue_get_discarded (queue), ==, expected_discarded);
  g_assert_cmpuint (g_atomic_int_get (&discard_warnings) - warnings_before, ==,
                    expected_discarded > 0 ? 1 : 0);
  return queue;
}

gint
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

GPtrArray *
list_segments (const char *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".journal"))
      g_ptr_array_add (names, g_build_filename (dir, name, NULL));
  g_ptr_array_sort (names, compare_paths);
  return names;
}

guint
count_segments (const char *dir)
{
  g_autoptr(GPtrArray) names = list_segments (dir);

  return names->len;
}

char *
only_segment (const char *dir)
{
  g_autoptr(GPtrArray) names = list_segments (dir);

  g_assert_cmpuint (names->len, ==, 1);
  return g_strdup (names->pdata[0]);
}

guint64
file_size (const char *path)
{
  struct stat st;

  g_assert_no_errno (g_stat (path, &st));
  return st.st_size;
}

void
write_file (const char   *path,
            const guint8 *data,
            gsize         len)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) data, len, &error);
  g_assert_no_error (error);
}

GBytes *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *data;
  gsize len;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

void
append_numbered (EpQueue *queue,
                 guint    first,
                 guint    n)
{
  g_autofree char *pad = g_strnfill (400, '.');

  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *payload = g_strdup_printf ("p%u%s", i, pad);

      append (queue, payload);
    }
}

GArray *
take_seqs (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_take (queue, G_MAXUINT, G_MAXSIZE);
  GArray *seqs = g_array_new (FALSE, FALSE, sizeof (guint64));

  for (guint i = 0; i < items->len; i++)
    g_array_append_val (seqs, ((EpQueueItem *) items->pdata[i])->seq);
  return seqs;
}

GArray *
queued_numbers (EpQueue *queue)
{
  g_autoptr(GPtrArray) items = ep_queue_peek (queue, 0, G_MAXUINT);
  GArray *numbers = g_array_new (FALSE, FALSE, sizeof (guint));

  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *payload = record_payload (((EpQueueItem *) items->pdata[i])->record);
      guint n = (guint) g_ascii_strtoull (payload + 1, NULL, 10);

      g_assert_true (payload[0] == 'p');
      g_array_append_val (numbers, n);
    }
  return numbers;
}

void
assert_ranges (EpQueue *queue,
               guint    a0,
               guint    a1,
               guint    b0,
               guint    b1)
{
  g_autoptr(GArray) numbers = queued_numbers (queue);
  guint k = 0;

  g_assert_cmpuint (numbers->len, ==, (a1 - a0) + (b1 - b0));
  for (guint i = a0; i < a1; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, k++), ==, i);
  for (guint i = b0; i < b1; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, k++), ==, i);
}

void
count_reports (gpointer data)
{
  g_atomic_int_inc ((gint *) data);
}

void
append_range (GArray *numbers,
              guint   first,
              guint   end)
{
  for (guint i = first; i < end; i++)
    g_array_append_val (numbers, i);
}

void
assert_queued (EpQueue *queue,
               GArray  *expected)
{
  g_autoptr(GArray) numbers = queued_numbers (queue);

  g_assert_cmpuint (numbers->len, ==, expected->len);
  for (guint i = 0; i < numbers->len; i++)
    g_assert_cmpuint (g_array_index (numbers, guint, i), ==, g_array_index (expected, guint, i));
}
