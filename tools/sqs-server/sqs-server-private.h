/* sqs-server-private.h: what the decoders share
 *
 * Copyright 2024 The ep-glib authors
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "sqs-server.h"

G_BEGIN_DECLS

/* Error messages quote at most this many characters of what was sent */
#define SQS_PREVIEW_CHARS 64

SqsAttribute *sqs_entry_lookup_attribute   (SqsEntry      *entry,
                                            guint          index);
char         *sqs_printable_string         (const GString *s);

G_END_DECLS
