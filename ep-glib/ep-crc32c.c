/* ep-crc32c.c: CRC-32C (Castagnoli), the checksum of the journal format
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The SSE4.2 crc32 instruction when the CPU has it, else slicing-by-8 tables.
 * Both give the same results (the tests compare them); the hardware one is
 * about 3.5 times faster than zlib's crc32 and the checksum is on the send
 * path.
 */

#include "config.h"

#include <string.h>

#include "ep-crc32c-private.h"

#define CRC32C_POLY 0x82F63B78u  /* reflected */

/* crc32c_table[k][b]: the CRC register after byte b then k zero bytes (no
 * inversions). Written once, inside crc32c_init()'s g_once section. */
static guint32 crc32c_table[8][256];

static void
crc32c_init_tables (void)
{
  for (guint b = 0; b < 256; b++)
    {
      guint32 c = b;

      for (guint bit = 0; bit < 8; bit++)
        c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
      crc32c_table[0][b] = c;
    }
  for (guint k = 1; k < 8; k++)
    for (guint b = 0; b < 256; b++)
      {
        guint32 prev = crc32c_table[k - 1][b];

        crc32c_table[k][b] = crc32c_table[0][prev & 0xff] ^ (prev >> 8);
      }
}

/* Builds the tables and tells whether the CPU has the instruction. */
static gboolean
crc32c_init (void)
{
  static gsize state = 0;  /* 1: software, 2: hardware */

  if (g_once_init_enter (&state))
    {
      gsize value = 1;

      crc32c_init_tables ();
#if defined(__x86_64__) || defined(__i386__)
      __builtin_cpu_init ();
      if (__builtin_cpu_supports ("sse4.2"))
        value = 2;
#endif
      g_once_init_leave (&state, value);
    }
  return state == 2;
}

guint32
ep_crc32c_software (const void *data,
                    gsize       len)
{
  const guint32 (*t)[256] = (const guint32 (*)[256]) crc32c_table;
  const guint8 *p = data;
  guint32 c = 0xFFFFFFFFu;

  crc32c_init ();
  for (; len >= 8; p += 8, len -= 8)
    {
      guint64 word;

      memcpy (&word, p, 8);
      word = GUINT64_FROM_LE (word) ^ c;
      c = t[7][word & 0xff] ^ t[6][(word >> 8) & 0xff] ^
          t[5][(word >> 16) & 0xff] ^ t[4][(word >> 24) & 0xff] ^
          t[3][(word >> 32) & 0xff] ^ t[2][(word >> 40) & 0xff] ^
          t[1][(word >> 48) & 0xff] ^ t[0][word >> 56];
    }
  for (; len > 0; p++, len--)
    c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target ("sse4.2")))
static guint32
crc32c_sse42 (const guint8 *p,
              gsize         len)
{
#if defined(__x86_64__)
  guint64 c = 0xFFFFFFFFu;

  for (; len >= 8; p += 8, len -= 8)
    {
      guint64 word;

      memcpy (&word, p, 8);
      c = __builtin_ia32_crc32di (c, word);
    }
#else
  guint32 c = 0xFFFFFFFFu;

  for (; len >= 4; p += 4, len -= 4)
    {
      guint32 word;

      memcpy (&word, p, 4);
      c = __builtin_ia32_crc32si (c, word);
    }
#endif
  for (; len > 0; p++, len--)
    c = __builtin_ia32_crc32qi ((guint32) c, *p);
  return ~(guint32) c;
}
#endif

gboolean
ep_crc32c_hardware_for_testing (const void *data,
                                gsize       len,
                                guint32    *crc_out)
{
#if defined(__x86_64__) || defined(__i386__)
  if (crc32c_init ())
    {
      *crc_out = crc32c_sse42 (data, len);
      return TRUE;
    }
#endif
  return FALSE;
}

guint32
ep_crc32c (const void *data,
           gsize       len)
{
#if defined(__x86_64__) || defined(__i386__)
  if (crc32c_init ())
    return crc32c_sse42 (data, len);
#endif
  return ep_crc32c_software (data, len);
}
