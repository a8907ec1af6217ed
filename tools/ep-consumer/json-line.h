/* json-line.h: the JSON line of an accepted event (json-line.c)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Apart from ep-consumer.h so that tests/test-consumer-json-line.c can
 * build json-line.c alone.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "sqs-server.h"

G_BEGIN_DECLS

typedef void (*JsonLineMemberFunc) (const char *name,
                                    gsize       name_len,
                                    const char *value,
                                    gsize       value_len,
                                    gpointer    user_data);

void      json_line_append_string    (GString            *out,
                                      const char         *str);
gboolean  json_line_scan_flat_object (const char         *text,
                                      gsize               len,
                                      JsonLineMemberFunc  func,
                                      gpointer            user_data);
JsonNode *event_headers_node         (const SqsEntry     *entry);
void      event_append_json_line     (GString            *out,
                                      const SqsEntry     *entry,
                                      const char         *endpoint,
                                      const char         *received);
char     *event_to_json_line         (const SqsEntry     *entry,
                                      const char         *endpoint,
                                      const char         *received);

G_END_DECLS
