#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages ep-glib needs to build, test and demo
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Installs only the packages that are missing, with --no-install-recommends
# (otherwise GTK and friends come along), through sudo when not root. Runs
# `apt-get update` only when something is missing. Used by tools/demo.sh and
# .ci/run.
#
#   bash tools/install-deps.sh           install what is missing
#   bash tools/install-deps.sh --check   list what is missing; exit 1 if anything is
set -euo pipefail

PACKAGES=(
  # build
  gcc pkg-config meson ninja-build
  libglib2.0-dev libsoup-3.0-dev libjson-glib-dev
  # bench-suite's SQLite baseline
  libsqlite3-dev
  gobject-introspection libgirepository1.0-dev
  # run time: the TLS backend for https consumers
  glib-networking
  # GJS and Python tests and examples
  gjs python3-gi gir1.2-soup-3.0 gir1.2-json-1.0
  # ep-consumer's test with a real SQS client
  python3-botocore
  # memory checks
  valgrind
  # the fuzz targets (tests/fuzz): clang with libFuzzer and the sanitizers
  clang libclang-rt-14-dev
  # the HTML reference and its checks (the docs test suite)
  gi-docgen
  # the Vala bindings (vapigen) and their test (valac)
  valac
  # the Debian packages (tools/build-deb.sh)
  dpkg-dev debhelper lintian
  # the tools' man pages (rst2man)
  python3-docutils
)

check_only=false
case "${1-}" in
  --check) check_only=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian system; install these (or your distribution's equivalents) yourself:" >&2
  echo "  ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for package in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if $check_only; then
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

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
