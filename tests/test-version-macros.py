#!/usr/bin/env python3
# test-version-macros.py: EP_VERSION_MIN_REQUIRED, EP_VERSION_MAX_ALLOWED and
# the EP_AVAILABLE_IN_* / EP_DEPRECATED_IN_* macros, by compiling small
# programs against the headers of the build tree
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# usage: test-version-macros.py SOURCE_ROOT BUILD_ROOT CC [CC ARGS...]
# Prints TAP.

import os
import subprocess
import sys
import tempfile

source_root, build_root, *cc = sys.argv[1:]
cflags = subprocess.run(['pkg-config', '--cflags', 'gio-2.0'], check=True,
                        capture_output=True, text=True).stdout.split()

PROLOGUE = '#include <ep-glib/ep-glib.h>\n'
# Declares a function the way a future ep-glib header would, then uses it.
DEPRECATED_USE = PROLOGUE + '''
EP_DEPRECATED_IN_0_2 void ep_test_old_api (void);
void use (void);
void use (void) { ep_test_old_api (); }
'''
DEPRECATED_FOR_USE = PROLOGUE + '''
EP_DEPRECATED_IN_0_2_FOR (ep_test_new_api) void ep_test_old_api (void);
void use (void);
void use (void) { ep_test_old_api (); }
'''
NEW_API_USE = PROLOGUE + '''
void use (void);
void use (void) { (void) ep_check_version (0, 2, 0); }
'''
DEPRECATED_CODE_USE = PROLOGUE + '''
int use (void);
int use (void) { return EP_ERROR_INVALID_EVENT; }
'''
OLD_API_USE = PROLOGUE + '''
void use (void);
void use (void) { (void) ep_producer_get_type (); (void) ep_error_quark (); }
'''


def compile_c(source, defines=()):
    """Compiles @source with warnings as errors; returns (ok, diagnostics)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'use.c')
        with open(path, 'w') as f:
            f.write(source)
        args = cc + ['-fsyntax-only', '-Wall', '-Werror', '-Wdeprecated-declarations',
                     '-I' + source_root, '-I' + build_root, *cflags,
                     *('-D' + d for d in defines), path]
        # LC_ALL=C: plain quotes in the diagnostics.
        proc = subprocess.run(args, capture_output=True, text=True,
                              env=dict(os.environ, LC_ALL='C'))
        return proc.returncode == 0, proc.stderr


CASES = [
    # (name, source, defines, should compile, text expected in the diagnostics)
    ('the current API compiles by default', NEW_API_USE, (), True, None),
    ('0.1 API compiles with MAX_ALLOWED 0.1', OLD_API_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1', 'EP_VERSION_MAX_ALLOWED=EP_VERSION_0_1'), True, None),
    ('0.2 API warns with MAX_ALLOWED 0.1', NEW_API_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1', 'EP_VERSION_MAX_ALLOWED=EP_VERSION_0_1'), False,
     'Not available before 0.2'),
    ('0.2 API compiles with MIN_REQUIRED 0.1 alone (MAX_ALLOWED defaults to the headers)',
     NEW_API_USE, ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1',), True, None),
    ('API deprecated in 0.2 warns by default', DEPRECATED_USE, (), False,
     "'ep_test_old_api' is deprecated"),
    ('DEPRECATED_FOR names the replacement', DEPRECATED_FOR_USE, (), False,
     "Use 'ep_test_new_api' instead"),
    ('API deprecated in 0.2 is quiet with MIN_REQUIRED 0.1', DEPRECATED_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1',), True, None),
    ('DEPRECATED_FOR in 0.2 is quiet with MIN_REQUIRED 0.1', DEPRECATED_FOR_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1',), True, None),
    ('EP_DISABLE_DEPRECATION_WARNINGS silences deprecations', DEPRECATED_USE,
     ('EP_DISABLE_DEPRECATION_WARNINGS',), True, None),
    ('EP_DISABLE_DEPRECATION_WARNINGS silences availability', NEW_API_USE,
     ('EP_DISABLE_DEPRECATION_WARNINGS', 'EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1',
      'EP_VERSION_MAX_ALLOWED=EP_VERSION_0_1'), True, None),
    ('MAX_ALLOWED below MIN_REQUIRED is an error', NEW_API_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_2', 'EP_VERSION_MAX_ALLOWED=EP_VERSION_0_1'), False,
     'EP_VERSION_MAX_ALLOWED must be >= EP_VERSION_MIN_REQUIRED'),
    ('MIN_REQUIRED below 0.1 is an error', NEW_API_USE,
     ('EP_VERSION_MIN_REQUIRED=G_ENCODE_VERSION(0,0)',), False,
     'EP_VERSION_MIN_REQUIRED must be >= EP_VERSION_0_1'),
    ('a header other than ep-glib.h cannot be included', '#include <ep-glib/ep-error.h>\n', (), False,
     'Only <ep-glib/ep-glib.h> can be included directly'),
    ('an error code deprecated in 0.2 warns by default', DEPRECATED_CODE_USE, (), False,
     "'EP_ERROR_INVALID_EVENT' is deprecated"),
    ('an error code deprecated in 0.2 is quiet with MIN_REQUIRED 0.1', DEPRECATED_CODE_USE,
     ('EP_VERSION_MIN_REQUIRED=EP_VERSION_0_1',), True, None),
    ('the error codes of 0.2 compile by default', PROLOGUE + '''
int use (void);
int use (void) { return EP_ERROR_TLS_UNAVAILABLE + EP_ERROR_STORAGE; }
''', (), True, None),
    ('EP_CHECK_VERSION works in #if', PROLOGUE + '''
#if !EP_CHECK_VERSION (0, 1, 0) || EP_CHECK_VERSION (EP_MAJOR_VERSION, EP_MINOR_VERSION + 1, 0)
# error "EP_CHECK_VERSION is wrong"
#endif
''', (), True, None),
]

print('1..%d' % len(CASES))
failures = 0
for number, (name, source, defines, should_compile, expected) in enumerate(CASES, 1):
    ok, diagnostics = compile_c(source, defines)
    good = ok == should_compile and (expected is None or expected in diagnostics)
    if not good:
        failures += 1
        print('# compiled: %s (expected %s); diagnostics:' % (ok, should_compile))
        for line in diagnostics.splitlines():
            print('#   ' + line)
    print('%s %d - %s' % ('ok' if good else 'not ok', number, name))

sys.exit(1 if failures else 0)
