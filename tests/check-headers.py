#!/usr/bin/env python3
# check-headers.py: each of ep-glib's own internal headers compiles on its own
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   tests/check-headers.py BUILD_DIR SOURCE_DIR   (meson test private-headers)
#
# For every ep-glib/*-private.h, *-internal.h and ep-json-scan.h: a C file
# holding nothing but `#include "HEADER"` must compile with the library's own
# flags (taken from BUILD_DIR/compile_commands.json, for ep-glib/ep-queue.c),
# so that a header includes what it uses; and no such header includes the
# umbrella ep-glib.h (they include the public headers they need).

import json
import os
import re
import shlex
import subprocess
import sys


def library_flags(build_dir):
    with open(os.path.join(build_dir, 'compile_commands.json')) as f:
        commands = json.load(f)
    for entry in commands:
        if entry['file'].endswith('ep-glib/ep-queue.c'):
            break
    else:
        sys.exit('check-headers: ep-glib/ep-queue.c is not in compile_commands.json')
    argv = shlex.split(entry['command'])
    flags = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in ('-MQ', '-MF', '-o', '-c'):
            skip = True
        elif arg == '-MD' or arg.endswith('ep-glib/ep-queue.c'):
            pass
        else:
            flags.append(arg)
    return argv[0], flags, entry['directory']


def main():
    build_dir, source_dir = sys.argv[1], sys.argv[2]
    cc, flags, cwd = library_flags(build_dir)
    lib_dir = os.path.join(source_dir, 'ep-glib')
    headers = sorted(h for h in os.listdir(lib_dir)
                     if h.endswith('-private.h') or h.endswith('-internal.h')
                     or h == 'ep-json-scan.h')
    failed = 0
    print('1..%d' % (2 * len(headers)))
    n = 0
    for header in headers:
        n += 1
        with open(os.path.join(lib_dir, header)) as f:
            text = f.read()
        umbrella = re.search(r'^\s*#\s*include\s+[<"](ep-glib/)?ep-glib\.h[">]', text, re.M)
        if umbrella:
            failed += 1
            print('not ok %d - %s includes the umbrella ep-glib.h' % (n, header))
        else:
            print('ok %d - %s does not include ep-glib.h' % (n, header))
        n += 1
        run = subprocess.run([cc, *flags, '-fsyntax-only', '-x', 'c', '-'],
                             input='#include "%s"\n' % header, text=True, cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if run.returncode != 0:
            failed += 1
            print('not ok %d - %s compiles on its own' % (n, header))
            for line in run.stdout.splitlines()[:20]:
                print('# ' + line)
        else:
            print('ok %d - %s compiles on its own' % (n, header))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
