/* ep-event-private.h: building, validating and (de)serializing one event
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * An event travels through ep-glib as a *record*: the GVariant serialization
 * (normal form) of the type EP_EVENT_RECORD_TYPE, "(xssss)":
 *
 *   x  created_us    real time of the send call, microseconds since the epoch
 *   s  id            UUID v4, lower-case, 36 characters (the SQS entry Id)
 *   s  name          event type, non-empty
 *   s  headers_json  the headers as the JSON object that is sent, exactly as sent
 *   s  payload       the caller's payload, sent verbatim as the MessageBody
 *
 * The record is what the queue stores (inside its own frame) and what the
 * transport reads back. Its *logical size* is the UTF-8 byte count of what
 * travels: strlen (id) + strlen (name) + strlen (headers_json) + strlen (payload).
 */
#pragma once

#include <glib.h>

#include <ep-glib/ep-error.h>
#include <ep-glib/ep-types.h>

G_BEGIN_DECLS

#define EP_EVENT_RECORD_TYPE "(xssss)"

/* One header of an event, borrowed strings. */
typedef struct {
  const char *key;
  const char *value;
} EpHeader;

/* A parsed record. The strings point into @record, the bytes it was
 * parsed from, which the struct owns. */
typedef struct {
  GBytes     *record;
  gint64      created_us;
  const char *id;
  const char *name;
  const char *headers_json;
  const char *payload;
  gsize       logical_size;
} EpEvent;

/* Whether XML 1.0 allows @ch: #x9 | #xA | #xD | [#x20-#xD7FF] |
 * [#xE000-#xFFFD] | [#x10000-#x10FFFF]. */
gboolean    ep_event_unichar_is_allowed (gunichar     ch);

/* Validation: UTF-8 and every character allowed by XML 1.0. On failure
 * returns FALSE and sets @reason to a static string describing the problem. */
gboolean    ep_event_text_is_valid      (const char    *text,
                                         gssize         len,
                                         const char   **reason);

/* Longest part of an event name shown in a log line. */
#define EP_SHOWN_NAME_MAX_BYTES 200

/* Untrusted text for a log line: at most @max_bytes of it (reading no
 * further, nor past its end), made valid UTF-8. (transfer full) */
char       *ep_event_dup_shown_text     (const char    *text,
                                         gsize          max_bytes);

/* Appends @text to @out as a JSON string literal (with the quotes). */
void        ep_event_append_json_string (GString      *out,
                                         const char   *text);

/* Builds the headers JSON object into @out (replacing its contents):
 * @defaults in their order, each replaced by the caller's value when @caller
 * has the key; then the caller's other keys. Defaults with a NULL or empty
 * value are omitted. Every key and value is checked with
 * ep_event_text_is_valid(); on the first bad one returns FALSE and sets
 * @reason (a static string) and @bad_key (borrowed; NULL when the problem
 * is not one header's, such as an empty or NULL key). */
gboolean    ep_event_build_headers_json (GString            *out,
                                         const EpHeader     *defaults,
                                         guint               n_defaults,
                                         GHashTable         *caller,
                                         const char        **reason,
                                         const char        **bad_key);

/* Serializes a record (normal-form GVariant "(xssss)") into @out, replacing
 * its contents (so a caller can reuse one buffer). Never fails. */
void        ep_event_record_build       (GByteArray    *out,
                                         gint64         created_us,
                                         const char    *id,
                                         const char    *name,
                                         gsize          name_len,
                                         const char    *headers_json,
                                         gsize          headers_len,
                                         const char    *payload,
                                         gsize          payload_len);

/* Parses a record; FALSE with EP_ERROR_STORAGE if it is not a normal-form
 * "(xssss)" value. */
gboolean    ep_event_parse              (GBytes        *record,
                                         EpEvent       *out,
                                         GError       **error);
void        ep_event_clear              (EpEvent       *event);

/* The event name of a record without a full parse, or NULL if malformed.
 * The result points into @data. */
const char *ep_event_record_peek_name   (const guint8 *data,
                                         gsize         len);

/* The event id of a record without a full parse, or NULL if malformed.
 * The result points into @data. */
const char *ep_event_record_peek_id     (const guint8 *data,
                                         gsize         len);

/* The consent category of a record, from the "consent-category" member of
 * its headers JSON (which ep-glib writes first), without a full parse; -1 if
 * it cannot be told. */
int         ep_event_record_peek_category (const guint8 *data,
                                           gsize         len);

const char *ep_consent_category_to_header (EpConsentCategory category);

#define EP_UUID_LEN 36

/* A random (version 4) UUID in lower-case text, from @rand, which the
 * caller seeds from a good source and keeps per thread. */
void        ep_event_format_uuid_v4     (GRand   *rand,
                                         char     out[EP_UUID_LEN + 1]);

/* Decimal text of @value; returns its length. */
gsize       ep_event_format_decimal     (gint64   value,
                                         char     out[24]);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (EpEvent, ep_event_clear)

G_END_DECLS
