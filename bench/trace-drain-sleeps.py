#!/usr/bin/env python3
# trace-drain-sleeps.py: the main thread's sleeps outside poll() in a perf script dump
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   trace-drain-sleeps.py SCRIPT_TXT MAIN_TID   (see trace-drain-sleeps.sh)

import collections
import re
import sys

HEADER = re.compile(r'\s*(\d+)\s+([\d.]+):\s+sched:(\w+):\s+(.*)')


def read_events(path):
    events, cur = [], None
    for line in open(path, errors='replace'):
        line = line.rstrip('\n')
        if not line.strip():
            if cur:
                events.append(cur)
            cur = None
            continue
        m = HEADER.match(line)
        if m and not line.startswith('\t'):
            cur = {'tid': m.group(1), 't': float(m.group(2)), 'ev': m.group(3),
                   'tr': m.group(4), 'stack': []}
        elif cur is not None:
            parts = line.split(None, 1)
            if len(parts) == 2:
                cur['stack'].append(parts[1].rsplit(' (', 1)[0])
    if cur:
        events.append(cur)
    return events


def user_frames(stack, n):
    frames = [f for f in stack if not f.startswith('[unknown')]
    # the kernel's scheduling frames first: keep from the syscall wrapper on
    for i, f in enumerate(frames):
        if f.startswith('entry_SYSCALL'):
            frames = frames[i + 1:]
            break
    return ' < '.join(frames[:n])


def main():
    events, main_tid = read_events(sys.argv[1]), sys.argv[2]
    # the drain starts after the producer's restore (the backlog is written first)
    start = 0.0
    for e in events:
        if e['tid'] == main_tid and any('ep_queue_restore' in f for f in e['stack']):
            start = e['t']
    sleeps, pending = [], None
    for e in events:
        if e['t'] < start:
            continue
        if e['ev'] == 'sched_switch' and e['tid'] == main_tid:
            state = re.search(r'prev_state=(\S+)', e['tr']).group(1)
            pending = e if state != 'R' else None
        elif (e['ev'] == 'sched_waking' and pending is not None and
              re.search(r'pid=%s ' % main_tid, e['tr'])):
            sleeps.append((e['t'] - pending['t'], pending, e))
            pending = None
    outside = [s for s in sleeps if not any('poll' in f for f in s[1]['stack'])]
    outside.sort(key=lambda s: -s[0])
    print('sleeps with a waker in this process: %d; outside poll(): %d, %.2f ms in all'
          % (len(sleeps), len(outside), sum(s[0] for s in outside) * 1000))
    for d, sl, wk in outside[:10]:
        print('%.3f ms' % (d * 1000))
        print('   asleep in: ' + user_frames(sl['stack'], 8))
        print('   woken by %s: %s' % (wk['tid'], user_frames(wk['stack'], 10)))
    for title, key in (('per waker', lambda s: s[2]['tid'] + ' ' + user_frames(s[2]['stack'], 6)),
                       ('per sleeping site', lambda s: user_frames(s[1]['stack'], 4))):
        agg = collections.defaultdict(lambda: [0, 0.0, 0.0])
        for s in outside:
            a = agg[key(s)]
            a[0] += 1
            a[1] += s[0] * 1000
            a[2] = max(a[2], s[0] * 1000)
        print('--- ' + title)
        for k, (n, total, longest) in sorted(agg.items(), key=lambda kv: -kv[1][1])[:10]:
            print('%5d sleeps, %.2f ms, longest %.3f ms: %s' % (n, total, longest, k))


if __name__ == '__main__':
    main()
