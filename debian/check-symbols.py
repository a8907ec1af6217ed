#!/usr/bin/env python3
# check-symbols.py: the library's exported symbols and
# debian/libep-glib-1.0-0.symbols list the same functions
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# usage: check-symbols.py LIBRARY SYMBOLS-FILE
# A new public function needs its line in the symbols file (with the
# version that adds it), or the Debian package build would only warn; a
# listed symbol that is gone is an ABI break.

import re
import subprocess
import sys

library, symbols_file = sys.argv[1:]
nm = subprocess.run(['nm', '-D', '--defined-only', library], check=True,
                    capture_output=True, text=True).stdout
# Functions; not the sanitizers' or the toolchain's own (leading underscore).
exported = {fields[2] for fields in (line.split() for line in nm.splitlines())
            if len(fields) == 3 and fields[1] == 'T' and not fields[2].startswith('_')}
listed = set(re.findall(r'^ (\S+)@Base \S+', open(symbols_file).read(), re.M))

status = 0
for name in sorted(exported - listed):
    print('%s is exported but not in %s (add " %s@Base <version>")' % (name, symbols_file, name))
    status = 1
for name in sorted(listed - exported):
    print('%s is in %s but no longer exported: an ABI break' % (name, symbols_file))
    status = 1
if status == 0:
    print('%d exported symbols, all listed' % len(exported))
sys.exit(status)
