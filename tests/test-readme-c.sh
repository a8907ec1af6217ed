#!/bin/bash
# test-readme-c.sh: the README's C example builds against the build tree with
# pkg-config from meson-uninstalled/, as the README says it does, and runs on
# without analytics as a second instance of the app (the queue locked)
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   test-readme-c.sh README.md BUILD_ROOT SANITIZE CC [CC ARGS...]
#
# SANITIZE is meson's b_sanitize: with a sanitizer the library needs its
# runtime, so the example is only compiled then, not linked.
set -euo pipefail

readme=$1 build_root=$2 sanitize=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The first ```c block of the README's "Using it" section.
awk '/^## Using it/ { section = 1 } section && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit } inside { print }' "$readme" >"$work/readme-example.c"
test -s "$work/readme-example.c"

export PKG_CONFIG_PATH=$build_root/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
read -r -a cflags <<<"$(pkg-config --cflags ep-glib-1.0)"
read -r -a libs <<<"$(pkg-config --libs ep-glib-1.0)"
if [[ "$sanitize" != none ]]; then
  "$@" -Wall -Werror -c -o "$work/readme-example.o" "$work/readme-example.c" "${cflags[@]}"
  echo "the README's C example compiles against $build_root (not linked: $sanitize)"
  exit 0
fi
"$@" -Wall -Werror -o "$work/readme-example" "$work/readme-example.c" "${cflags[@]}" "${libs[@]}"
echo "the README's C example builds against $build_root"

# A second instance of the app: the first one holds the queue's lock (here
# flock(1) holds it, as a running producer does). The example must say
# "analytics off" and keep running its main loop, not abort. It never
# reaches the network: without a queue there is no producer.
export HOME=$work XDG_STATE_HOME=$work/state XDG_CONFIG_HOME=$work/config XDG_CACHE_HOME=$work/cache
export GIO_USE_PROXY_RESOLVER=dummy LD_LIBRARY_PATH=$build_root/ep-glib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
queue=$XDG_STATE_HOME/ep-glib/my-player
mkdir -p -m 0700 "$queue"
exec 9>"$queue/lock"
flock -n 9
"$work/readme-example" 2>"$work/stderr" &
pid=$!
for _ in $(seq 600); do
  grep -q "analytics off" "$work/stderr" && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if ! grep -q "analytics off" "$work/stderr" || ! kill -0 "$pid" 2>/dev/null; then
  status=0
  wait "$pid" || status=$?
  echo "the README's C example did not run on as a second instance (exit status $status):" >&2
  cat "$work/stderr" >&2
  exit 1
fi
kill "$pid"
wait "$pid" || true
echo "the README's C example runs on without analytics as a second instance: $(grep -o 'analytics off.*' "$work/stderr")"
