#!/usr/bin/env bash
# demo-cluster.sh: the ingest side at scale: ep-glib -> 2 gateways -> 3-node JetStream
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   bash tools/demo.sh --cluster [--lang c|gjs|python] [--events N] [--rate R] [--keep]
#   (or bash tools/demo-cluster.sh with the same options)
#
# 1. installs the demo's packages and nats-server, libnats-dev
#    (tools/install-deps.sh demo nats), builds into _build with the NATS sink;
# 2. starts 3 nats-server nodes with JetStream in one cluster on free
#    loopback ports, and 2 ep-consumer gateways sharing one port
#    (--reuse-port) in front of a 3-replica stream;
# 3. runs the example application against the gateways' port;
# 4. part way through, SIGKILLs the stream's leader node and one gateway;
#    the other gateway and the two remaining nodes carry on; the node comes
#    back later;
# 5. reads the stream with ep-stream and checks by id that every event the
#    app was told was STORED is in it. Takes about 30 seconds once built.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

lang=c
events=400
rate=40
keep=false
build_dir=${EP_BUILD_DIR:-_build}

usage() {
  echo "usage: $0 [--lang c|gjs|python] [--events N] [--rate R] [--keep]" >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --cluster) shift ;;
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

say "checking the demo's Debian packages, nats-server and libnats-dev"
deps_groups=(demo nats)
if [[ $lang == gjs ]]; then deps_groups+=(gjs); fi
bash tools/install-deps.sh "${deps_groups[@]}"

demo_options=(-Dtools=true -Dtests=true -Dintrospection=true -Dnats=enabled)
if [[ ! -f "$build_dir/build.ninja" ]]; then
  say "configuring $build_dir"
  meson setup "$build_dir" "${demo_options[@]}" >/dev/null
else
  meson configure "$build_dir" "${demo_options[@]}" >/dev/null
fi
say "building ep-consumer, ep-stream, the example app and the typelib in $build_dir"
ninja -C "$build_dir" tools/ep-consumer tools/ep-stream introspection/examples/example-app \
  ep-glib/Ep-1.0.typelib >/dev/null

# 2. The cluster and the gateways ----------------------------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/ep-glib-demo-cluster.XXXXXX")
pids=()
app_pid=
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [[ -n "$app_pid" ]]; then kill "$app_pid" 2>/dev/null || true; fi
  for pid in "${pids[@]}" "${NATS_NODE_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if $keep; then
    say "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# shellcheck source=tools/nats-cluster.sh
source tools/nats-cluster.sh
nats_cluster_init "$work" demo
servers=$NATS_SERVERS
gateway_port=$NATS_SPARE_PORT
url=http://127.0.0.1:$gateway_port

gateway_pids=()
start_gateway() {
  "$build_dir/tools/ep-consumer" --sink "$servers" --stream DEMO --subject demo.events \
    --create-stream --stream-replicas 3 --sink-timeout 2000 --reuse-port \
    --port "$gateway_port" --quiet >>"$work/gateway$1.log" 2>&1 &
  gateway_pids[$1]=$!
  pids+=("$!")
}

# Waits up to $2 tenths of a second for the command $1 to succeed
wait_until() {
  for _ in $(seq "$2"); do
    eval "$1" && return 0
    sleep 0.1
  done
  return 1
}
# shellcheck disable=SC2317  # called through wait_until's eval
healthy() {
  /usr/bin/python3 -c "import urllib.request, sys
try: sys.exit(0 if urllib.request.urlopen('$url/health', timeout=2).status == 200 else 1)
except Exception: sys.exit(1)"
}
stream() {
  "$build_dir/tools/ep-stream" --server "$servers" --stream DEMO "$@"
}

nats_cluster_start
say "3 nats-server nodes (JetStream, one cluster): $servers"
for i in 0 1; do start_gateway "$i"; done
if ! wait_until healthy 300; then
  say "the gateways did not become healthy:"
  cat "$work"/gateway*.log "$work/n0.log" >&2
  exit 1
fi
say "2 gateways on $url (--reuse-port), stream DEMO with 3 replicas: $(stream info | tr '\n' ' ')"

# 3. The application ------------------------------------------------------------

lib_dir=$(cd "$build_dir/ep-glib" && pwd)
export GI_TYPELIB_PATH=$lib_dir${GI_TYPELIB_PATH:+:$GI_TYPELIB_PATH}
export LD_LIBRARY_PATH=$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
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

# 4. A node and a gateway die -------------------------------------------------------

send_seconds=$(awk -v n="$events" -v r="$rate" 'BEGIN { printf "%d", n / r }')
sleep "$(awk -v s="$send_seconds" 'BEGIN { printf "%.1f", s * 0.3 }')"
leader=$(stream info | awk '$1 == "leader" { print $2 }')
leader_index=${leader#n}
[[ $leader_index =~ ^[0-2]$ ]] || leader_index=0
say "SIGKILL: nats-server n$leader_index (the stream's leader) and gateway 0"
kill -9 "${NATS_NODE_PIDS[$leader_index]}"
kill -9 "${gateway_pids[0]}"
sleep "$(awk -v s="$send_seconds" 'BEGIN { printf "%.1f", s * 0.3 }')"
say "n$leader_index comes back (gateway 0 stays dead: gateway 1 serves the port alone)"
nats_node_start "$leader_index"

app_status=0
wait "$app_pid" || app_status=$?
app_pid=

# 5. Check by id ---------------------------------------------------------------------

touch "$stored_file"
sort -u "$stored_file" >"$work/stored.ids"
stored=$(wc -l <"$work/stored.ids")
echo
say "ep-stream count: $(stream count)"
check_status=0
stream check "$work/stored.ids" >"$work/check.txt" || check_status=$?
say "ep-stream check: $(tail -n 1 "$work/check.txt")"
if ((app_status == 0 && check_status == 0 && stored > 0)); then
  say "OK: all $stored events the app stored are in the stream"
  exit 0
fi
say "FAILED: app exit status $app_status, ep-stream check status $check_status"
keep=true
exit 1
