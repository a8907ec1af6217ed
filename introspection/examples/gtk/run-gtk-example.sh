#!/bin/bash
# run-gtk-example.sh: runs a GTK example application headless against a local
# ep-consumer and drives it through its actions, as its buttons do
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   run-gtk-example.sh [--screenshot PREFIX] APP_ID EP_CONSUMER -- COMMAND [ARGS...]
#
# The display is Xvfb or, without it, GTK's broadway
# backend (gtk4-broadwayd); with neither, the test is skipped (exit 77). The
# session bus is a private one (dbus-run-session): GApplication's uniqueness
# and `gapplication action`, which presses the buttons, go through it.
#
# The run: the app starts (the primary instance makes the producer), the
# "Send event" button's action `app.send-event` is activated, then `app.flush`
# (the banner's "Retry"), and the event must reach the consumer; a second
# launch of the app must hand over to the first and exit 0; the consumer
# fails every request (SIGUSR1) and the banner must show after a send and a
# flush, then hide again once the consumer recovered and "Retry" delivered;
# `app.quit` ends it with status 0. Last, with the queue's lock held by
# another process, the app must start with analytics off and quit cleanly.
# Under Xvfb, PREFIX-sent.png and PREFIX-outage.png are screenshots.
set -euo pipefail

screenshot=
if [[ "${1-}" == --screenshot ]]; then
  screenshot=$2
  shift 2
fi
app_id=$1 consumer=$2
[[ "$3" == -- ]] || { echo "usage: $0 [--screenshot PREFIX] APP_ID EP_CONSUMER -- COMMAND..." >&2; exit 2; }
shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Outside: pick a display and a session bus, then run the rest inside them.
if [[ -z "${EP_GTK_EXAMPLE_INNER-}" ]]; then
  export EP_GTK_EXAMPLE_INNER=1
  for tool in dbus-run-session gapplication; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool not found (packages dbus-daemon, libglib2.0-bin)"
      exit 77
    fi
  done
  if command -v Xvfb >/dev/null 2>&1; then
    # Xvfb picks a free display number itself (-displayfd), so parallel
    # tests never race for one as xvfb-run -a does; -fbdir keeps the
    # screen in a file, for the screenshots.
    EP_GTK_EXAMPLE_FBDIR=$(mktemp -d)
    export EP_GTK_EXAMPLE_FBDIR
    Xvfb -displayfd 3 -screen 0 640x400x24 -fbdir "$EP_GTK_EXAMPLE_FBDIR" -nolisten tcp \
      3>"$EP_GTK_EXAMPLE_FBDIR/display" 2>"$EP_GTK_EXAMPLE_FBDIR/xvfb.log" &
    xvfb_pid=$!
    trap 'kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null; rm -rf "$EP_GTK_EXAMPLE_FBDIR"' EXIT
    display=
    for ((i = 0; i < 400; i++)); do
      read -r display <"$EP_GTK_EXAMPLE_FBDIR/display" || true
      [[ -z "$display" ]] || break
      kill -0 "$xvfb_pid" 2>/dev/null || break
      sleep 0.05
    done
    if [[ -z "$display" ]]; then
      echo "FAIL: Xvfb did not start: $(tail -n 5 "$EP_GTK_EXAMPLE_FBDIR/xvfb.log")" >&2
      exit 1
    fi
    export DISPLAY=":$display"
    status=0
    dbus-run-session -- "$0" ${screenshot:+--screenshot "$screenshot"} "$app_id" "$consumer" -- "$@" \
      || status=$?
    exit "$status"
  fi
  broadwayd=$(command -v gtk4-broadwayd || true)
  if [[ -n "$broadwayd" ]]; then
    # broadwayd and the app meet on a socket in XDG_RUNTIME_DIR: a private
    # one, shared with the inner part. The display number (port 8080+N) is
    # random; a taken one makes broadwayd exit, and another is tried.
    EP_GTK_EXAMPLE_RUNTIME=$(mktemp -d)
    export EP_GTK_EXAMPLE_RUNTIME XDG_RUNTIME_DIR=$EP_GTK_EXAMPLE_RUNTIME
    broadway_pid=
    trap '[[ -n "$broadway_pid" ]] && kill "$broadway_pid" 2>/dev/null; rm -rf "$EP_GTK_EXAMPLE_RUNTIME"' EXIT
    for ((attempt = 0; attempt < 5; attempt++)); do
      [[ -z "$broadway_pid" ]] || break
      display=$(( (RANDOM % 500) + 100 ))
      "$broadwayd" ":$display" >"$EP_GTK_EXAMPLE_RUNTIME/broadwayd.log" 2>&1 &
      broadway_pid=$!
      for ((i = 0; i < 200; i++)); do
        compgen -G "$XDG_RUNTIME_DIR/broadway*.socket" >/dev/null && break
        kill -0 "$broadway_pid" 2>/dev/null || { broadway_pid=; break; }
        sleep 0.05
      done
    done
    if [[ -z "$broadway_pid" ]] || ! compgen -G "$XDG_RUNTIME_DIR/broadway*.socket" >/dev/null; then
      echo "FAIL: gtk4-broadwayd did not start: $(cat "$EP_GTK_EXAMPLE_RUNTIME/broadwayd.log")" >&2
      exit 1
    fi
    export GDK_BACKEND=broadway BROADWAY_DISPLAY=":$display"
    echo "display: broadway :$display (no screenshots)"
    status=0
    dbus-run-session -- "$0" "$app_id" "$consumer" -- "$@" || status=$?
    exit "$status"
  fi
  echo "SKIP: neither Xvfb (package xvfb) nor gtk4-broadwayd (package libgtk-4-bin) found"
  exit 77
fi

# Inside: the display and the session bus are ours.
work=$(mktemp -d)
consumer_pid= app_pid=
cleanup() {
  local pid
  for pid in $app_pid $consumer_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

export HOME=$work XDG_STATE_HOME=$work/state XDG_CONFIG_HOME=$work/config
export XDG_CACHE_HOME=$work/cache XDG_DATA_HOME=$work/data
# Broadway's socket is in the runtime directory made outside.
export XDG_RUNTIME_DIR=${EP_GTK_EXAMPLE_RUNTIME:-$work/runtime}
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
# Loopback only; no dconf, no accessibility bus, no portal; software rendering.
export GIO_USE_PROXY_RESOLVER=dummy GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 GTK_A11Y=none
export ADW_DISABLE_PORTAL=1 GSK_RENDERER=cairo LIBGL_ALWAYS_SOFTWARE=1

fail() {
  echo "FAIL: $*" >&2
  for log in app.out app.err consumer.out consumer.err; do
    [[ -s "$work/$log" ]] && { echo "--- $log" >&2; tail -n 40 "$work/$log" >&2; }
  done
  exit 1
}

# Waits until FILE has at least COUNT lines matching the extended regular
# expression PATTERN; fails after 60 s or when the app died.
wait_for() {
  local file=$1 pattern=$2 count=${3:-1} i
  for ((i = 0; i < 1200; i++)); do
    if (( $(grep -cE -- "$pattern" "$work/$file" 2>/dev/null || true) >= count )); then
      return 0
    fi
    if [[ -n "$app_pid" ]] && ! kill -0 "$app_pid" 2>/dev/null; then
      fail "the app exited while waiting for '$pattern' in $file"
    fi
    sleep 0.05
  done
  fail "no '$pattern' (x$count) in $file after 60 s"
}

action() {
  gapplication action "$app_id" "$1" || fail "gapplication action $app_id $1"
}

# The framebuffer (Xvfb -fbdir) as a PNG, once it stopped changing.
shot() {
  local fb=${EP_GTK_EXAMPLE_FBDIR-}/Xvfb_screen0 previous= current i
  [[ -n "$screenshot" && -n "${EP_GTK_EXAMPLE_FBDIR-}" && -f "$fb" ]] || return 0
  for ((i = 0; i < 50; i++)); do
    current=$(cksum <"$fb")
    [[ "$current" == "$previous" ]] && break
    previous=$current
    sleep 0.2
  done
  if /usr/bin/python3 "$here/xwd-to-png.py" "$fb" "$screenshot-$1.png"; then
    echo "screenshot: $screenshot-$1.png"
  else
    echo "screenshot: not taken (needs /usr/bin/python3 with gi and GdkPixbuf)"
  fi
}

# ep-consumer prints its address on standard output (later versions: on
# standard error); either way the line is "... listening on URL".
"$consumer" --port 0 --output "$work/events.jsonl" >"$work/consumer.out" 2>"$work/consumer.err" &
consumer_pid=$!
url=
for ((i = 0; i < 1200; i++)); do
  line=$(grep -h -m 1 -o 'listening on http://[^ ]*' "$work/consumer.out" "$work/consumer.err" 2>/dev/null | head -n 1 || true)
  if [[ -n "$line" ]]; then
    url=${line#listening on }
    break
  fi
  kill -0 "$consumer_pid" 2>/dev/null || fail "ep-consumer exited"
  sleep 0.05
done
[[ -n "$url" ]] || fail "ep-consumer did not start"

# 1. The primary instance: the producer, the window, a button press delivered.
"$@" --consumer "$url" >"$work/app.out" 2>"$work/app.err" &
app_pid=$!
wait_for app.out '^analytics on: queue '
wait_for app.out '^window: shown'
queue=$(sed -n 's/^analytics on: queue //p' "$work/app.out" | head -n 1)
action send-event
wait_for app.out '^sent: stored '
id=$(sed -n 's/^sent: stored //p' "$work/app.out" | head -n 1)
action flush
wait_for app.out '^flush: delivered'
grep -q -- "$id" "$work/events.jsonl" || fail "event $id is not at the consumer"
echo "ok: the button's event $id reached the consumer"

# 2. A second launch hands over to the first and exits 0.
"$@" --consumer "$url" >"$work/second.out" 2>"$work/second.err" || fail "the second instance failed: $(cat "$work/second.err")"
wait_for app.out '^window: presented again'
! grep -q '^analytics' "$work/second.out" || fail "the second instance made a producer"
echo "ok: a second launch handed over to the first instance"
shot sent

# 3. The consumer fails: the banner shows; it recovers: "Retry" delivers and
# the banner hides.
kill -USR1 "$consumer_pid"
wait_for consumer.err 'SIGUSR1: ' 1
action send-event
wait_for app.out '^sent: stored ' 2
id2=$(sed -n 's/^sent: stored //p' "$work/app.out" | sed -n 2p)
action flush
wait_for app.out '^flush: not delivered yet'
wait_for app.out '^banner: shown'
wait_for app.out '^reason: http-error \(POST http://[^ ]*/api/(public/)?event-batch: HTTP 503 '
echo "ok: the banner shows while the consumer fails: $(grep -m 1 '^reason: http-error' "$work/app.out")"
shot outage
kill -USR1 "$consumer_pid"
wait_for consumer.err 'SIGUSR1: ' 2
action flush
wait_for app.out '^flush: delivered' 2
wait_for app.out '^banner: hidden'
wait_for app.out '^reason: none'  2
grep -q -- "$id2" "$work/events.jsonl" || fail "event $id2 is not at the consumer"
echo "ok: Retry delivered $id2 once the consumer recovered; the banner hid"

# 4. Quit.
action quit
status=0
wait "$app_pid" || status=$?
app_pid=
((status == 0)) || fail "the app exited with status $status"

# 5. The queue held by another process (a copy of the app without D-Bus, or
# a tool): analytics off, the app runs and quits cleanly.
exec 9>"$queue/lock"
flock -n 9 || fail "cannot lock $queue/lock"
"$@" --consumer "$url" >"$work/app.out" 2>"$work/app.err" &
app_pid=$!
wait_for app.out '^analytics off: '
wait_for app.out '^window: shown'
action quit
status=0
wait "$app_pid" || status=$?
app_pid=
((status == 0)) || fail "the app with analytics off exited with status $status"
exec 9>&-
echo "ok: with the queue locked the app runs with analytics off and quits with status 0"
