/* sqs-encoding.c: a request body's Content-Encoding, decoded within a bound
 *
 * SPDX-FileCopyrightText: 2026 The ep-glib authors
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * SQS itself takes no compressed bodies; ep-consumer (and the tests'
 * server) take gzip, which EpProducer:compress-requests sends. The
 * decompressed size is bounded: the output grows in chunks and the decoding
 * stops as soon as it passes the bound (a gzip bomb, 1 GiB of zeros in
 * about 1 MiB, costs the bound and a chunk, never more). Pure: no I/O.
 */
#include "config.h"

#include <gio/gio.h>

#include "sqs-server.h"

#define CHUNK_BYTES (64 * 1024)

static GBytes *
gunzip (GBytes  *body,
        gsize    max_decoded,
        GError **error)
{
  g_autoptr(GZlibDecompressor) decompressor = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize in_len, in_pos = 0;
  const guint8 *in = g_bytes_get_data (body, &in_len);
  g_autofree guint8 *chunk = g_malloc (CHUNK_BYTES);

  for (;;)
    {
      g_autoptr(GError) local_error = NULL;
      gsize read = 0, written = 0;
      GConverterResult result =
        g_converter_convert (G_CONVERTER (decompressor), in + in_pos, in_len - in_pos,
                             chunk, CHUNK_BYTES, G_CONVERTER_INPUT_AT_END, &read, &written,
                             &local_error);

      if (result == G_CONVERTER_ERROR)
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                       "The body is not valid gzip (Content-Encoding: gzip): %s",
                       local_error->message);
          return NULL;
        }
      in_pos += read;
      if (out->len + written > max_decoded)
        {
          g_set_error (error, SQS_ERROR, SQS_ERROR_REQUEST_TOO_LARGE,
                       "The gzip body decompresses to more than %" G_GSIZE_FORMAT
                       " bytes, the most accepted.", max_decoded);
          return NULL;
        }
      g_byte_array_append (out, chunk, written);
      if (result == G_CONVERTER_FINISHED)
        break;
    }
  if (in_pos != in_len)
    {
      g_set_error (error, SQS_ERROR, SQS_ERROR_MALFORMED_QUERY,
                   "%" G_GSIZE_FORMAT " bytes follow the gzip stream (one member is accepted).",
                   in_len - in_pos);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

GBytes *
sqs_body_decode (const char *content_encoding,
                 GBytes     *body,
                 gsize       max_decoded,
                 GError    **error)
{
  if (content_encoding == NULL || content_encoding[0] == '\0' ||
      g_ascii_strcasecmp (content_encoding, "identity") == 0)
    return g_bytes_ref (body);
  if (g_ascii_strcasecmp (content_encoding, "gzip") == 0 ||
      g_ascii_strcasecmp (content_encoding, "x-gzip") == 0)
    return gunzip (body, max_decoded, error);
  g_set_error (error, SQS_ERROR, SQS_ERROR_UNSUPPORTED_MEDIA_TYPE,
               "Content-Encoding %s is not supported (gzip is).", content_encoding);
  return NULL;
}
