#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages ep-glib needs, by group
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs only the packages that are missing, with --no-install-recommends
# (otherwise GTK and friends come along), through sudo when not root. Runs
# `apt-get update` only when something is missing. Quiet: one line per step;
# apt's output goes to a log file, printed only when a step fails.
#
#   bash tools/install-deps.sh [GROUP...]          install what is missing
#   bash tools/install-deps.sh --check [GROUP...]  list what is missing; exit 1 if anything is
#   bash tools/install-deps.sh --list [GROUP...]   print the groups' packages, one a line
#
# Groups (no group: all of them, which is what .ci/run and tools/run-tests.sh use):
#   demo       what tools/demo.sh needs: the build, the typelib, the Python example
#   gjs        the GJS example (tools/demo.sh --lang gjs)
#   nats       nats-server and libnats-dev (tools/demo.sh --cluster, the gateway)
#   tests      every test suite (tools/run-tests.sh): demo, gjs and the rest
#   docs       the HTML reference (gi-docgen) and the man pages (rst2man)
#   packaging  the Debian packages (tools/build-deb.sh)
set -euo pipefail

# The build, the typelib and the Python example app.
DEMO=(
  gcc pkg-config meson ninja-build
  libglib2.0-dev libsoup-3.0-dev libjson-glib-dev
  gobject-introspection libgirepository1.0-dev
  python3-gi gir1.2-soup-3.0 gir1.2-json-1.0
)

GJS=(gjs)

# ep-consumer's NATS JetStream sink and a server to run it against
NATS=(nats-server libnats-dev)

TESTS=(
  "${DEMO[@]}" "${GJS[@]}" "${NATS[@]}"
  # bench-suite's SQLite baseline
  libsqlite3-dev
  # run time: the TLS backend for https consumers
  glib-networking
  # ep-consumer's test with a real SQS client
  python3-botocore
  # memory checks
  valgrind
  # the fuzz targets (tests/fuzz): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # the format check of changed lines (tools/check-format.py: git clang-format)
  clang-format
  # the Vala bindings (vapigen) and their test (valac)
  valac
  # the browser test of ep-consumer's page (headless)
  chromium
  # the GTK example tests: a display server and the GTK 4 / libadwaita
  # headers and typelibs
  xvfb libgtk-4-dev libadwaita-1-dev
  # ... a private session bus (dbus-run-session) and gapplication, which
  # press the examples' buttons through their actions
  dbus-daemon libglib2.0-bin
)

DOCS=(
  # the HTML reference and its checks (the docs test suite)
  gi-docgen
  # the tools' man pages (rst2man) and their check (groff)
  python3-docutils groff-base
)

PACKAGING=(
  # tools/build-deb.sh (which installs any other build dependency itself)
  dpkg-dev debhelper lintian
)

ALL_GROUPS=(demo gjs nats tests docs packaging)

usage() {
  echo "usage: $0 [--check|--list] [GROUP...]   (groups: ${ALL_GROUPS[*]}; none: all)" >&2
  exit 2
}

mode=install
groups=()
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --list) mode=list ;;
    -h|--help) usage ;;
    demo|gjs|nats|tests|docs|packaging) groups+=("$arg") ;;
    *) usage ;;
  esac
done
if ((${#groups[@]} == 0)); then
  groups=("${ALL_GROUPS[@]}")
fi

# The groups' packages, each once, in order.
packages=()
declare -A seen=()
for group in "${groups[@]}"; do
  case "$group" in
    demo) list=("${DEMO[@]}") ;;
    gjs) list=("${GJS[@]}") ;;
    nats) list=("${NATS[@]}") ;;
    tests) list=("${TESTS[@]}") ;;
    docs) list=("${DOCS[@]}") ;;
    packaging) list=("${PACKAGING[@]}") ;;
  esac
  for package in "${list[@]}"; do
    if [[ -z "${seen[$package]-}" ]]; then
      seen[$package]=1
      packages+=("$package")
    fi
  done
done
label="${groups[*]}"

if [[ $mode == list ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; install these (or your distribution's equivalents) yourself:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: $label: all ${#packages[@]} packages are installed"
  exit 0
fi

if [[ $mode == check ]]; then
  echo "install-deps: $label: missing ${#missing[@]} of ${#packages[@]}: ${missing[*]}"
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: not root and no sudo; as root run:" >&2
  echo "  apt-get update && apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/ep-glib-install-deps.XXXXXX.log")
export DEBIAN_FRONTEND=noninteractive

# Runs one step with its output in the log; prints the log's end on failure.
run_step() {
  local what=$1
  shift
  printf 'install-deps: %s ... ' "$what"
  if "$@" >>"$log" 2>&1; then
    echo ok
  else
    echo FAILED
    echo "install-deps: the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

run_step "apt-get update" "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 update
run_step "installing ${#missing[@]} package(s) for $label (${missing[*]})" \
  "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
rm -f "$log"
