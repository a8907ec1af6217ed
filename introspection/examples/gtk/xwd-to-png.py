#!/usr/bin/python3
# xwd-to-png.py: converts Xvfb's framebuffer file (-fbdir: XWD, 24/32 bits
# per pixel, ZPixmap) to a PNG with GdkPixbuf
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   xwd-to-png.py Xvfb_screen0 screenshot.png

import struct
import sys

import gi

gi.require_version("GdkPixbuf", "2.0")
from gi.repository import GdkPixbuf, GLib  # noqa: E402


def main(source, target):
    with open(source, "rb") as f:
        data = f.read()
    fields = struct.unpack(">25I", data[:100])
    header_size, _, pixmap_format, _, width, height = fields[:6]
    byte_order, bits_per_pixel, bytes_per_line = fields[7], fields[11], fields[12]
    ncolors = fields[19]
    if pixmap_format != 2 or bits_per_pixel != 32 or bytes_per_line != width * 4:
        sys.exit("xwd-to-png: unsupported layout (format %d, %d bits per pixel)"
                 % (pixmap_format, bits_per_pixel))
    start = header_size + ncolors * 12
    pixels = data[start:start + bytes_per_line * height]
    rgb = bytearray(width * height * 3)
    # 32-bit pixels 0x00RRGGBB: B G R X in memory when least significant byte first.
    r, g, b = (2, 1, 0) if byte_order == 0 else (1, 2, 3)
    rgb[0::3] = pixels[r::4]
    rgb[1::3] = pixels[g::4]
    rgb[2::3] = pixels[b::4]
    pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(bytes(rgb)),
                                             GdkPixbuf.Colorspace.RGB, False, 8,
                                             width, height, width * 3)
    pixbuf.savev(target, "png", [], [])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
