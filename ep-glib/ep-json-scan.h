/* ep-json-scan.h: a strict validating scan of one JSON object (or value)
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * stamp-payload (SPEC section 6) must know that a payload is one JSON object
 * and where its top-level members are, to splice members in. This scan is
 * one pass over the bytes: no DOM, no allocation. It is strict RFC 8259:
 * json-glib's parser also takes comments, single quotes, hex numbers, 01,
 * 1., .5, unknown escapes, a "var x =" prefix and a second value after the
 * first, none of which this scan accepts.
 *
 * The tools (tools/sqs-server, ep-consumer, ep-tool) link it too, as the
 * internal static library ep-json-scan: they scan text with
 * ep_json_scan_value() before JsonParser reads it, because json-glib 1.6
 * takes "{}{}" as its first value and leaks the second.
 *
 * So this is the header of that static library, not of the library's
 * private parts (ep-*-private.h, which only the library and its tests see);
 * neither is it public API: it is not installed and not in ep-glib.h.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Nesting levels of objects and arrays, the top-level object included
 * (JSON parsers commonly stop at 512 to 1000). */
#define EP_JSON_MAX_DEPTH 1000

typedef struct {
  gsize open;      /* offset of the top-level object's '{' */
  gsize close;     /* offset of its '}' */
  guint n_members; /* its members (duplicates counted) */
  guint n_marked;  /* of those, the ones named as one of the scan's marked names */
} EpJsonObjectScan;

/* Called for each top-level member, in order, with the offsets of its key's
 * opening quote and of the byte after its value. It may be called before a
 * later byte turns out to be invalid: scan first, then call again to walk. */
typedef void (*EpJsonMemberFunc) (gsize    key_start,
                                  gsize    value_end,
                                  gboolean marked,
                                  gpointer user_data);

gboolean ep_json_scan_object (const char         *text,
                              gsize               len,
                              const char * const *marked_names,
                              EpJsonMemberFunc    member_func,
                              gpointer            user_data,
                              EpJsonObjectScan   *scan);
gboolean ep_json_scan_value  (const char         *text,
                              gsize               len);

G_END_DECLS
