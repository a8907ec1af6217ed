#!/bin/bash
# trace-drain-sleeps.sh: what the main thread sleeps on outside poll() in one drain
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   bench/trace-drain-sleeps.sh [BUILD_DIR] [LATENCY_MS] [MAX_IN_FLIGHT]
#
# Runs one drain of ours (bench-suite --drain-child ours: 100k events to an
# ep-consumer with LATENCY_MS, default 20, and MAX_IN_FLIGHT, default 4)
# under perf (sched_switch, sched_waking, DWARF stacks; root, about 2 GB of
# perf data in a temporary directory), then lists the main thread's sleeps
# outside poll() during the drain, longest first, each with the stack of the
# thread that woke it (which released what the main thread waited for), and
# totals per waker and per sleeping site. bench/README.md, "Issue 18, item 5".
set -euo pipefail
build=${1:-_build}
latency=${2:-20}
mif=${3:-4}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'kill "$consumer" 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$build/tools/ep-consumer" --port 0 --port-file "$tmp/port" --output /dev/null --quiet \
  --latency "$latency" >/dev/null 2>&1 &
consumer=$!
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.05; done
mkdir "$tmp/scratch"
perf record -q -e sched:sched_switch -e sched:sched_waking --call-graph dwarf,12288 \
  -o "$tmp/perf.data" -- "$build/bench/bench-suite" --drain-child ours --dir "$tmp/scratch" \
  --drain-args "$(cat "$tmp/port"),$mif,100000,3" >/dev/null
pid=$(perf report -i "$tmp/perf.data" --stdio --sort pid 2>/dev/null |
      grep -m1 -o '[0-9]*:bench-suite' | cut -d: -f1)
perf script -i "$tmp/perf.data" --pid "$pid" -F tid,time,event,trace,ip,sym 2>/dev/null \
  > "$tmp/script.txt"
/usr/bin/python3 "$here/trace-drain-sleeps.py" "$tmp/script.txt" "$pid"
