/* ep-queue-state-private.h: small state blobs kept beside the queue's journal
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Only the queue touches disk. Parts that persist a little state of their
 * own (ep-producer-state.c: the outage, the clock offset and the monitor's
 * counters; ep-producer-consent.c: the consent record; the witness ledger)
 * hand it to the queue as an opaque blob, one file per @name in the queue's
 * directory, replaced atomically and durably (write to a temporary file,
 * fsync, rename, fsync the directory; mode 0600). @name is a plain file
 * name that the journal does not use (for example "monitor.gvariant").
 *
 * Thread safety: any thread. A save never holds the queue's mutex while it
 * writes, so it never delays a send; the caller serialises its own saves of
 * one blob, and stops saving before ep_queue_close() (after it a save fails
 * with EP_ERROR_CLOSED: the directory may belong to another producer).
 */
#pragma once

#include "ep-queue-private.h"

G_BEGIN_DECLS

/* The blob's bytes; NULL without @error set when there is none, NULL with
 * EP_ERROR_STORAGE when it cannot be read. */
GBytes   *ep_queue_state_load        (EpQueue       *self,
                                      const char    *name,
                                      GError       **error);

/* Replaces the blob atomically and durably. Errors: EP_ERROR_CLOSED (closed
 * or read-only queue), EP_ERROR_STORAGE (the write failed; the old blob is
 * intact). */
gboolean  ep_queue_state_save        (EpQueue       *self,
                                      const char    *name,
                                      const void    *data,
                                      gsize          len,
                                      GError       **error);

/* Renames a blob that cannot be parsed to "<name>.corrupt" (replacing an
 * older one), so it is kept for inspection and not read again. */
gboolean  ep_queue_state_move_aside  (EpQueue       *self,
                                      const char    *name,
                                      GError       **error);

G_END_DECLS
