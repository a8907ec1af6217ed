#!/usr/bin/env bash
# bench-gateway.sh: events/s confirmed end to end through ep-consumer's NATS sink
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   bench/bench-gateway.sh [BUILD_DIR]     (default _build; needs -Dbench and the nats feature)
#
# On loopback: a 3-node nats-server cluster with JetStream and a 3-replica
# stream, then in one run:
#   1. the engine's ceiling: bench-gateway nats, a bare nats.c
#      js_PublishAsync loop (messages the size of the gateway's JSON line),
#      4,096 in flight, and 160 in flight: the drains' concurrency (4
#      producers x 4 requests x 10 events);
#   2. ep-glib -> 1 gateway -> JetStream: bench-gateway drain (4 producers,
#      4 requests in flight each, 10 events a request);
#   3. the same through 2 gateways sharing the port (--reuse-port);
#   4. the same into ep-consumer's file sink (JSON lines, no NATS).
# Prints a markdown table: per row the events/s, the gateways' CPU per event
# and RSS before and after, and where the rest of the CPU went: the
# producers' (or the bare loop's) process and the three nats-server nodes,
# per event (on 2 vCPUs their sum bounds the rate).
# EVENTS (environment, default 200000) events per row. With RSS_EVENTS=N
# (for example 1000000) a last run drains N events through 1 gateway and
# samples its RSS every 5 s: is it flat?
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=${1:-_build}
events=${EVENTS:-200000}
consumer=$build_dir/tools/ep-consumer
bench=$build_dir/bench/bench-gateway
if [[ ! -x $bench || ! -x $consumer ]] \
   || { ! command -v nats-server >/dev/null && [[ ! -x /usr/sbin/nats-server ]]; }; then
  echo "bench-gateway.sh: needs $bench, $consumer (meson -Dbench=enabled, nats feature) and nats-server" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-gateway.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}" "${NATS_NODE_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((status != 0)); then
    echo "bench-gateway.sh: failed; bench-gateway's output:" >&2
    cat "$work/bench.log" >&2 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tools/nats-cluster.sh
source tools/nats-cluster.sh
nats_cluster_init "$work" bench
servers=$NATS_SERVERS
http_port=$NATS_SPARE_PORT
nats_cluster_start

healthy() {
  /usr/bin/python3 -c "import urllib.request, sys
try: sys.exit(urllib.request.urlopen('http://127.0.0.1:$http_port/health', timeout=2).status != 200)
except Exception: sys.exit(1)"
}
wait_healthy() {
  for _ in $(seq 600); do healthy && return 0; sleep 0.1; done
  echo "bench-gateway.sh: no healthy consumer" >&2
  exit 1
}
# utime + stime of a process, in clock ticks
cpu_ticks() {
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
rss_kb() {
  awk '/^VmRSS/ { print $2 }' "/proc/$1/status"
}
# the three nodes' utime + stime, in clock ticks
nats_ticks() {
  local pid sum=0
  for pid in "${NATS_NODE_PIDS[@]}"; do sum=$((sum + $(cpu_ticks "$pid"))); done
  echo "$sum"
}
# ticks over events -> "N µs"
per_event() {
  awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$events" 'BEGIN { printf "%.1f µs", t / hz * 1e6 / n }'
}
# "... cpu_us_per_event=C ..." -> "C µs"
client_cpu() {
  local cpu=${1##*cpu_us_per_event=}
  echo "${cpu%% *} µs"
}

gateway_pids=()
start_gateways() {
  gateway_pids=()
  for _ in $(seq "$1"); do
    "$consumer" --sink "$servers" --stream BENCH --subject bench.events --create-stream \
      --stream-replicas 3 --reuse-port --port "$http_port" --quiet 2>>"$work/gateway.log" &
    gateway_pids+=("$!")
    pids+=("$!")
  done
  wait_healthy
}
stop_gateways() {
  for pid in "${gateway_pids[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
}

# "... seconds=S events_per_s=R" -> "R | S s"
rate_and_time() {
  local rate=${1##*events_per_s=} seconds=${1##*seconds=}
  echo "$rate | ${seconds%% *} s"
}

rows=()
drain_row() {
  local label=$1 before after line ticks=0 pid nats
  before=$(for pid in "${gateway_pids[@]}"; do rss_kb "$pid"; done | paste -sd/)
  for pid in "${gateway_pids[@]}"; do ticks=$((ticks - $(cpu_ticks "$pid"))); done
  nats=$((-$(nats_ticks)))
  line=$("$bench" drain "$http_port" "$events" 4 2>>"$work/bench.log")
  nats=$((nats + $(nats_ticks)))
  for pid in "${gateway_pids[@]}"; do ticks=$((ticks + $(cpu_ticks "$pid"))); done
  after=$(for pid in "${gateway_pids[@]}"; do rss_kb "$pid"; done | paste -sd/)
  rows+=("| $label | $(rate_and_time "$line") | $(per_event "$ticks") | $before → $after kB \
| $(client_cpu "$line") | $(per_event "$nats") |")
  echo "bench-gateway.sh: $label: $line" >&2
}
# the bare loop: "label" then bench-gateway nats's arguments after EVENTS
nats_row() {
  local label=$1 line nats
  shift
  nats=$((-$(nats_ticks)))
  line=$("$bench" nats "$servers" BENCH bench.events "$events" "$@" 2>>"$work/bench.log")
  nats=$((nats + $(nats_ticks)))
  rows+=("| $label | $(rate_and_time "$line") | - | - | $(client_cpu "$line") | $(per_event "$nats") |")
  echo "bench-gateway.sh: $label: $line" >&2
}

echo "bench-gateway.sh: $events events per row; logs in $work" >&2
start_gateways 1   # also creates the stream
nats_row "bare nats.c js_PublishAsync loop (the engine's ceiling), 1,400-byte messages, 4,096 in flight" 1400
nats_row "the same loop, 160 in flight (the drains' concurrency)" 1400 160
drain_row "ep-glib → 1 gateway → JetStream (4 producers, 4 in flight each)"
stop_gateways
start_gateways 2
drain_row "ep-glib → 2 gateways on one port → JetStream"
stop_gateways

"$consumer" --port "$http_port" --output "$work/events.jsonl" --quiet 2>>"$work/file.log" &
gateway_pids=("$!")
pids+=("$!")
wait_healthy
drain_row "ep-glib → ep-consumer file sink (JSON lines, no NATS)"
stop_gateways

rss_curve=
if ((${RSS_EVENTS:-0} > 0)); then
  start_gateways 1
  pid=${gateway_pids[0]}
  (while kill -0 "$pid" 2>/dev/null; do rss_kb "$pid"; sleep 5; done) >"$work/rss.txt" 2>/dev/null &
  sampler=$!
  line=$("$bench" drain "$http_port" "$RSS_EVENTS" 4 2>>"$work/bench.log")
  rss_kb "$pid" >>"$work/rss.txt"
  kill "$sampler" 2>/dev/null || true
  stop_gateways
  echo "bench-gateway.sh: RSS run: $line" >&2
  seconds=${line##*seconds=}
  rss_curve="1 gateway, $RSS_EVENTS events, ${line##*events_per_s=} events/s in ${seconds%% *} s;\
 its RSS every 5 s, kB: $(paste -sd' ' "$work/rss.txt")"
fi

echo
echo "| path | events/s confirmed | time | consumer CPU per event | consumer RSS before → after | producers' (or the loop's) CPU per event | 3 NATS nodes' CPU per event |"
echo "|---|---:|---:|---:|---|---:|---:|"
printf '%s\n' "${rows[@]}"
if [[ -n $rss_curve ]]; then echo; echo "$rss_curve"; fi
