#!/usr/bin/env python3
# check-format.py: clang-format over the lines a branch changed, minus alignment padding
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   tools/check-format.py [BASE]     check the lines changed since BASE (default: the
#                                    merge base of HEAD with origin/main, else main),
#                                    uncommitted changes included; exit 1 if any
#   tools/check-format.py --all [FILE...]
#                                    the same over whole files (default: every
#                                    tracked .c and .h): one count per file and a total,
#                                    to measure the .clang-format against the code
#
# The check is `git clang-format --diff BASE` with the repository's .clang-format,
# keeping only the hunks that change more than the width of alignment padding.
# clang-format 14 cannot reproduce GLib's aligned prototypes: the extra column that
# keeps the stars of `GError **error` left of the parameter names, and the
# header-wide columns of return types, names and parentheses. A hunk whose lines
# differ only in the number of spaces between two tokens (and, in headers, in
# indentation too) is accepted as it is. So is one that only splits or joins
# lines without a brace among them: clang-format 14 insists on a break after
# adjacent string literals (`"...", arg` in g_set_error) and after an argument
# that spans lines (`g_assert_cmpint (f (a,\n b), ==, 1)`), which the house
# style does not. Anything else (a missing space before `(`, a brace on the
# wrong line, a wrong indentation in a .c file, `&&` moved to the other end of
# a line) is printed as clang-format's diff and fails the check.

import os
import re
import subprocess
import sys

EXTENSIONS = ('c', 'h')
LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')


def git(*args, check=True):
    return subprocess.run(['git', *args], check=check, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def normalize(line, header):
    body = line.strip()
    lead = '' if header else line[:len(line) - len(line.lstrip())]
    return lead + ' '.join(body.split())


def parse_hunks(diff_text):
    """Yields (path, hunk text, change blocks): each block a pair (removed
    lines, added lines), a run of them between two context lines."""
    path = None
    hunk = None
    for line in diff_text.splitlines():
        if line.startswith('+++ '):
            target = line[4:].strip()
            path = target[2:] if target.startswith('b/') else target
            continue
        if line.startswith('--- ') or line.startswith('diff ') or line.startswith('index '):
            continue
        if line.startswith('@@'):
            if hunk is not None:
                yield hunk
            hunk = (path, [line], [])
            block = None
            continue
        if hunk is None:
            continue
        hunk[1].append(line)
        if line.startswith('-') or line.startswith('+'):
            if block is None:
                block = ([], [])
                hunk[2].append(block)
            block[0 if line.startswith('-') else 1].append(line[1:])
        else:
            block = None
    if hunk is not None:
        yield hunk


def reflow_only(removed, added):
    """The same tokens split into another number of lines, no brace among them."""
    if len(removed) == len(added):
        return False
    code = [LITERAL.sub('""', l) for l in removed + added]
    if any(c in l for l in code for c in '{}'):
        return False
    squeeze = lambda lines: ''.join(''.join(l.split()) for l in lines)
    return squeeze(removed) == squeeze(added)


def block_significant(removed, added, header):
    if [normalize(l, header) for l in removed] == [normalize(l, header) for l in added]:
        return False
    return not reflow_only(removed, added)


def significant(diff_text):
    """The hunks of diff_text that change more than alignment padding, and
    in each the number of lines that do."""
    kept = []
    for path, text, blocks in parse_hunks(diff_text):
        header = path is not None and path.endswith('.h')
        lines = sum(len(r) for r, a in blocks if block_significant(r, a, header))
        if lines > 0:
            kept.append((path, text, lines))
    return kept


def merge_base():
    for ref in ('origin/main', 'main'):
        if git('rev-parse', '--verify', '--quiet', ref + '^{commit}', check=False).returncode == 0:
            result = git('merge-base', 'HEAD', ref, check=False)
            if result.returncode == 0:
                return result.stdout.strip()
    return None


def check_branch(base):
    if base is None:
        base = merge_base()
        if base is None:
            print('check-format: no origin/main or main to compare with: skipped')
            return 0
    result = subprocess.run(['git', 'clang-format', '--diff', '--extensions', ','.join(EXTENSIONS),
                             base, '--'], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = result.stdout
    if result.returncode not in (0, 1) or result.stderr.strip():
        sys.stderr.write(result.stderr)
        print('check-format: git clang-format failed')
        return 1
    kept = significant(out)
    short = base[:12]
    if not kept:
        print(f'check-format: the lines changed since {short} follow .clang-format')
        return 0
    for path, text, _ in kept:
        print(f'--- {path}')
        print('\n'.join(text))
    print(f'check-format: {len(kept)} hunk(s) in the lines changed since {short} differ from '
          '.clang-format (above: what clang-format would write; apply with '
          f'`git clang-format {short}`, then keep the alignment you had)')
    return 1


def check_all(files):
    if not files:
        files = [f for f in git('ls-files', '*.c', '*.h').stdout.split() if f]
    total_hunks = total_lines = 0
    for path in files:
        with open(path, encoding='utf-8') as f:
            original = f.read()
        formatted = subprocess.run(['clang-format', '--style=file', '--assume-filename', path],
                                   input=original, text=True, check=True,
                                   stdout=subprocess.PIPE).stdout
        diff = subprocess.run(['diff', '-U0', '--label', 'a/' + path, '--label', 'b/' + path,
                               path, '-'], input=formatted, text=True,
                              stdout=subprocess.PIPE).stdout
        kept = significant(diff)
        lines = sum(n for _, _, n in kept)
        if kept:
            print(f'{path}: {len(kept)} hunks, {lines} lines')
        total_hunks += len(kept)
        total_lines += lines
    print(f'total: {total_hunks} hunks, {total_lines} lines in {len(files)} files')
    return 0


def main(argv):
    os.chdir(git('rev-parse', '--show-toplevel').stdout.strip())
    if argv[:1] == ['--all']:
        return check_all(argv[1:])
    if len(argv) > 1 or (argv and argv[0].startswith('-')):
        print(__doc__ if __doc__ else 'usage: check-format.py [BASE] | --all [FILE...]')
        return 2
    return check_branch(argv[0] if argv else None)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
