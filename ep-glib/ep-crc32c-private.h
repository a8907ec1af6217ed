/* ep-crc32c-private.h: CRC-32C (Castagnoli), the checksum of the journal format
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* CRC-32C ("123456789" gives 0xE3069283): the SSE4.2 crc32 instruction when
 * the CPU has it, else a table-driven software version. Any thread. */
guint32     ep_crc32c                (const void          *data,
                                      gsize                len);

/* Each implementation on its own, for tests. The hardware one returns FALSE
 * (without touching @crc) on a CPU or a build without SSE4.2. */
guint32     ep_crc32c_software       (const void          *data,
                                      gsize                len);
gboolean    ep_crc32c_hardware_for_testing (const void          *data,
                                            gsize                len,
                                            guint32             *crc);

G_END_DECLS
