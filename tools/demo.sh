#!/usr/bin/env bash
# demo.sh: ep-glib in one command: an app, a consumer, an outage and its end
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   bash tools/demo.sh [--lang c|gjs|python] [--events N] [--rate R] [--keep]
#   bash tools/demo.sh --cluster [...]   the ingest side at scale: 2 gateways in front
#                                        of a 3-node NATS JetStream (tools/demo-cluster.sh)
#
# 1. installs the demo's missing Debian packages (tools/install-deps.sh demo, plus
#    gjs for --lang gjs; the test command installs the rest) and builds into _build;
# 2. starts ep-consumer on a free loopback port, writing events as JSON lines;
# 3. runs the example application (C by default), which sends a stream of
#    events in the three consent categories and unblocks PERFORMANCE half way;
# 4. part way through, switches the consumer to failing (HTTP 503): the app
#    prints outage-changed TRUE and the queue grows; then it recovers: the app
#    prints outage-changed FALSE and the queue drains;
# 5. checks that the consumer received every event the app was told was STORED,
#    and prints the totals. Takes about 20 seconds once built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

lang=c
events=400
rate=40
keep=false
build_dir=${EP_BUILD_DIR:-_build}

usage() {
  echo "usage: $0 [--cluster] [--lang c|gjs|python] [--events N] [--rate R] [--keep]" >&2
  exit 2
}

for arg in "$@"; do
  if [[ $arg == --cluster ]]; then exec bash tools/demo-cluster.sh "$@"; fi
done

while (($#)); do
  case "$1" in
    --lang) lang=${2-}; shift 2 || usage ;;
    --lang=*) lang=${1#*=}; shift ;;
    --events) events=${2-}; shift 2 || usage ;;
    --rate) rate=${2-}; shift 2 || usage ;;
    --keep) keep=true; shift ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
case "$lang" in c|gjs|python) ;; *) usage ;; esac

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() {
  printf '%s[demo]%s %s\n' "$bold" "$plain" "$*"
}

# 1. Dependencies and build ---------------------------------------------------

say "checking the demo's Debian packages"
deps_groups=(demo)
if [[ $lang == gjs ]]; then deps_groups+=(gjs); fi
bash tools/install-deps.sh "${deps_groups[@]}"

# The demo needs the tools and the examples (built with the tests and introspection).
demo_options=(-Dtools=true -Dtests=true -Dintrospection=true)
if [[ ! -f "$build_dir/build.ninja" ]]; then
  say "configuring $build_dir"
  meson setup "$build_dir" "${demo_options[@]}" >/dev/null
else
  meson configure "$build_dir" "${demo_options[@]}" >/dev/null
fi
say "building ep-consumer, the example app and the typelib in $build_dir"
ninja -C "$build_dir" tools/ep-consumer introspection/examples/example-app \
  ep-glib/Ep-1.0.typelib >/dev/null

# 2. The consumer ---------------------------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/ep-glib-demo.XXXXXX")
consumer_pid=
app_pid=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [[ -n "$app_pid" ]]; then kill "$app_pid" 2>/dev/null || true; fi
  if [[ -n "$consumer_pid" ]]; then kill "$consumer_pid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if $keep; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

events_file=$work/events.jsonl
"$build_dir/tools/ep-consumer" --port 0 --output "$events_file" --quiet \
  >"$work/consumer.out" 2>"$work/consumer.log" &
consumer_pid=$!

url=
for _ in $(seq 100); do
  line=$(head -n 1 "$work/consumer.log" 2>/dev/null || true)
  if [[ "$line" == *"listening on http://"* ]]; then
    url=${line##* on }
    break
  fi
  kill -0 "$consumer_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$url" ]]; then
  say "ep-consumer did not start:"
  cat "$work/consumer.log" >&2
  exit 1
fi
say "ep-consumer listening on $url, writing $events_file"
say "watch the events arrive in a browser: $url/ (ep-consumer's inspector page, live while the demo runs)"

# 3. The application ------------------------------------------------------------

lib_dir=$(cd "$build_dir/ep-glib" && pwd)
export GI_TYPELIB_PATH=$lib_dir${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Loopback only: no proxy lookup (and no GSettings schemas needed for it).
export GIO_USE_PROXY_RESOLVER=dummy

case "$lang" in
  c) app=("$build_dir/introspection/examples/example-app") ;;
  gjs) app=(gjs -m introspection/examples/example-app.js) ;;
  python) app=(/usr/bin/python3 introspection/examples/example_app.py) ;;
esac
stored_file=$work/stored.txt
app_log=$work/app.log
say "running the $lang example: $events events at $rate/s"
"${app[@]}" --consumer "$url" --queue-dir "$work/queue" --events "$events" --rate "$rate" \
  --stored-file "$stored_file" > >(tee "$app_log") 2>&1 &
app_pid=$!

# Waits up to $2 tenths of a second for the app to print $1.
wait_for_app() {
  for _ in $(seq "$2"); do
    grep -q -- "$1" "$app_log" 2>/dev/null && return 0
    kill -0 "$app_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# 4. An outage and its end --------------------------------------------------------

send_seconds=$(awk -v n="$events" -v r="$rate" 'BEGIN { printf "%d", n / r }')
sleep "$(awk -v s="$send_seconds" 'BEGIN { printf "%.1f", s * 0.2 }')"
say "switching the consumer to failing with 503 (SIGUSR1; POST /control/fail?on=1 does the same)"
kill -USR1 "$consumer_pid"
if wait_for_app "outage-changed: TRUE" 100; then
  sleep "$(awk -v s="$send_seconds" 'BEGIN { printf "%.1f", s * 0.25 }')"
else
  say "warning: no outage-changed TRUE yet"
fi
say "the consumer recovers"
kill -USR1 "$consumer_pid"

app_status=0
wait "$app_pid" || app_status=$?
app_pid=

# 5. Check and totals -----------------------------------------------------------------

kill "$consumer_pid" 2>/dev/null || true
wait "$consumer_pid" 2>/dev/null || true
consumer_pid=

grep -q "outage-changed: TRUE" "$app_log" || say "warning: the app printed no outage-changed TRUE"
grep -q "outage-changed: FALSE" "$app_log" || say "warning: the app printed no outage-changed FALSE"

touch "$stored_file"
sort -u "$stored_file" >"$work/stored.sorted"
# Every stored event's id (the SQS entry Id) must be an "id" the consumer wrote.
grep -oE '"id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"' "$events_file" 2>/dev/null |
  cut -d'"' -f4 | sort -u >"$work/received.sorted" || true
stored=$(wc -l <"$work/stored.sorted")
lines=$(wc -l <"$events_file" 2>/dev/null || echo 0)
missing=$(comm -23 "$work/stored.sorted" "$work/received.sorted" | wc -l)

echo
say "the consumer wrote $lines events (duplicates are allowed: at-least-once)"
if ((app_status == 0 && missing == 0 && stored > 0)); then
  say "OK: all $stored events the app stored reached the consumer"
  exit 0
fi
say "FAILED: app exit status $app_status, $missing of $stored stored events missing at the consumer"
keep=true
exit 1
