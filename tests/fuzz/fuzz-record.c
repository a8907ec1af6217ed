/* fuzz-record.c: libFuzzer target for the event record decoder
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Input: the bytes of a record as the queue stores it. ep_event_parse()
 * must accept or refuse it without reading outside it, and agree with
 * ep_event_record_peek_name() (the restore path's fast name reader).
 */
#include "config.h"

#include <string.h>

#include "ep-event-private.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  /* the queue hands out 8-byte aligned copies */
  g_autofree guint8 *copy = g_memdup2 (data, size);
  g_autoptr(GBytes) record = g_bytes_new_static (copy, size);
  g_auto(EpEvent) event = { 0 };
  const char *name = ep_event_record_peek_name (copy, size);

  if (ep_event_parse (record, &event, NULL))
    {
      g_assert_nonnull (event.id);
      g_assert_nonnull (event.name);
      g_assert_nonnull (event.payload);
      g_assert_nonnull (event.headers_json);
      if (name != NULL)
        g_assert_cmpstr (name, ==, event.name);
    }
  return 0;
}
