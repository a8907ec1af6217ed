#!/usr/bin/env bash
# build-deb.sh: build ep-glib's Debian packages, check them, install them and
# run the autopkgtests against the installed packages
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   1. installs the missing build dependencies (dpkg-checkbuilddeps);
#   2. copies the source tree (git's tracked and untracked, not ignored,
#      files) and runs `dpkg-buildpackage -us -uc -b` there, with
#      DEB_BUILD_OPTIONS=nocheck (tools/run-tests.sh runs the tests; pass
#      --with-tests to run them in the package build too);
#   3. checks each package's contents (dpkg-deb -c) against the files it
#      must hold, and lintian: no errors;
#   4. installs the packages (apt-get, so their dependencies come along) and
#      runs the commands of debian/tests/control (the autopkgtests) directly;
#   5. removes the packages again, unless --keep-installed (or CI=true: a CI
#      machine is thrown away anyway, and the purge costs a minute there).
#
# The .debs, .changes and .buildinfo land in _build-deb/ (EP_DEB_DIR). Each
# step prints its time; the last line is "build-deb: OK in N s" or the step
# that failed. Needs root or sudo for steps 1, 4 and 5.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
src_dir=$PWD
out_dir=${EP_DEB_DIR:-$src_dir/_build-deb}
with_tests=false
keep_installed=false
[[ "${CI:-}" == true ]] && keep_installed=true
for arg in "$@"; do
  case "$arg" in
    --with-tests) with_tests=true ;;
    --keep-installed) keep_installed=true ;;
    *) echo "usage: $0 [--with-tests] [--keep-installed]" >&2; exit 2 ;;
  esac
done

PACKAGES=(libep-glib-1.0-0 libep-glib-1.0-dev gir1.2-ep-1.0 ep-glib-tools libep-glib-doc)

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
else
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive

start=$(date +%s)
step_start=$start
step() {
  local now
  now=$(date +%s)
  printf '\n==> %s (%d s so far)\n' "$*" "$((now - start))"
  step_start=$now
}
fail() {
  echo "build-deb: FAILED: $*" >&2
  exit 1
}

# apt-get, waiting for the dpkg lock when another apt run holds it.
apt_get() {
  local tries=0
  until "${as_root[@]}" apt-get -o DPkg::Lock::Timeout=300 "$@"; do
    tries=$((tries + 1))
    ((tries < 3)) || return 1
    sleep 10
  done
}

step "build dependencies"
if ! command -v dpkg-checkbuilddeps >/dev/null 2>&1; then
  apt_get install -y -qq --no-install-recommends dpkg-dev
fi
missing=$(dpkg-checkbuilddeps 2>&1 | sed -n 's/.*Unmet build dependencies: //p' || true)
if [[ -n "$missing" ]]; then
  # "pkg (>= 1.0) <!nocheck>, a | b" -> the package names
  read -r -a names <<<"$(echo "$missing" | sed -E 's/\([^)]*\)//g; s/<[^>]*>//g; s/\|[^,]*//g; s/,/ /g')"
  echo "build-deb: installing ${names[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${names[@]}"
fi
for tool in dpkg-buildpackage lintian; do
  command -v "$tool" >/dev/null 2>&1 || apt_get install -y -qq --no-install-recommends \
    "$([[ $tool == lintian ]] && echo lintian || echo dpkg-dev)"
done

step "dpkg-buildpackage -us -uc -b"
work=$(mktemp -d "${TMPDIR:-/tmp}/ep-glib-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
version=$(dpkg-parsechangelog -S Version)
tree=$work/ep-glib-$version
mkdir -p "$tree"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tree"
else
  cp -a . "$tree"
  rm -rf "$tree"/_build*
fi
build_options=${DEB_BUILD_OPTIONS:-}
$with_tests || build_options="nocheck $build_options"
(cd "$tree" && DEB_BUILD_OPTIONS="$build_options" dpkg-buildpackage -us -uc -b) \
  >"$work/build.log" 2>&1 || { tail -n 60 "$work/build.log"; fail "dpkg-buildpackage (log above)"; }
grep -E 'dpkg-gensymbols: warning|^\+ |^- ' "$work/build.log" || true
mkdir -p "$out_dir"
rm -f "$out_dir"/*.deb "$out_dir"/*.changes "$out_dir"/*.buildinfo
cp "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo "$out_dir"/
ls -l "$out_dir"

step "package contents (dpkg-deb -c)"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
# package: the paths it must hold (extended regular expressions)
declare -A expected=(
  [libep-glib-1.0-0]="usr/lib/$multiarch/libep-glib-1.0\.so\.0$ usr/lib/$multiarch/libep-glib-1.0\.so\.0\.[0-9]+\.[0-9]+$"
  [libep-glib-1.0-dev]="usr/include/ep-glib-1.0/ep-glib/ep-glib\.h$ usr/include/ep-glib-1.0/ep-glib/ep-version\.h$ usr/include/ep-glib-1.0/ep-glib/ep-enums\.h$ usr/lib/$multiarch/libep-glib-1.0\.so$ usr/lib/$multiarch/pkgconfig/ep-glib-1.0\.pc$ usr/share/gir-1.0/Ep-1\.0\.gir$ usr/share/vala/vapi/ep-glib-1\.0\.vapi$ usr/share/vala/vapi/ep-glib-1\.0\.deps$ usr/share/doc/libep-glib-1\.0-dev/examples/gtk/c/ep-gtk-example\.c$ usr/share/doc/libep-glib-1\.0-dev/examples/gtk/c/meson\.build$ usr/share/doc/libep-glib-1\.0-dev/examples/gtk/python/ep-gtk-example\.py$ usr/share/doc/libep-glib-1\.0-dev/examples/gtk/gjs/ep-gtk-example\.js$ usr/share/doc/libep-glib-1\.0-dev/examples/gtk/vala/ep-gtk-example\.vala$"
  [gir1.2-ep-1.0]="usr/lib/$multiarch/girepository-1\.0/Ep-1\.0\.typelib$"
  [ep-glib-tools]="usr/bin/ep-tool$ usr/bin/ep-consumer$ usr/bin/ep-stream$ usr/share/man/man1/ep-stream\.1\.gz$ usr/share/man/man1/ep-tool\.1\.gz$ usr/share/man/man1/ep-consumer\.1\.gz$"
  [libep-glib-doc]="usr/share/doc/ep-glib-1\.0/index\.html$ usr/share/doc/ep-glib-1\.0/class\.Producer\.html$ usr/share/doc/ep-glib-1\.0/getting-started\.html$ usr/share/doc/ep-glib-1\.0/ep-glib-1\.0\.devhelp2$ usr/share/devhelp/books/ep-glib-1\.0"
)
for package in "${PACKAGES[@]}"; do
  deb=$(ls "$out_dir/${package}_${version}_"{"$arch",all}.deb 2>/dev/null | head -n 1 || true)
  [[ -n "$deb" ]] || fail "no .deb for $package"
  dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./||' >"$work/$package.list"
  for pattern in ${expected[$package]}; do
    grep -qE "^$pattern" "$work/$package.list" || fail "$package lacks $pattern"
  done
  echo "$package: $(wc -l <"$work/$package.list") entries, the expected files are there"
done
# Nothing test-only or private leaks into the packages.
if cat "$work"/*.list | grep -E 'private\.h$|/tests?/|bench-|example-app'; then
  fail "a package holds test, benchmark or private files (above)"
fi

step "lintian (no errors)"
lintian --fail-on error --display-info \
  "$out_dir"/*.changes || fail "lintian reported errors"

step "install the packages"
debs=()
for package in "${PACKAGES[@]}"; do
  debs+=("$(ls "$out_dir/${package}_${version}_"{"$arch",all}.deb 2>/dev/null | head -n 1 || true)")
done
apt_get install -y -qq --no-install-recommends "${debs[@]}" || fail "installing ${debs[*]}"
cleanup_packages() {
  $keep_installed || "${as_root[@]}" apt-get purge -y -qq "${PACKAGES[@]}" >/dev/null || true
  rm -rf "$work"
}
trap cleanup_packages EXIT

step "autopkgtests (debian/tests/control), run directly"
tests=$(sed -n 's/^Tests: *//p' debian/tests/control)
for name in $tests; do
  echo "--- $name"
  test_tmp=$(mktemp -d "$work/autopkgtest.XXXXXX")
  status=0
  (cd "$tree" && AUTOPKGTEST_TMP=$test_tmp "debian/tests/$name") || status=$?
  if ((status == 77)) && grep -A3 "^Tests: *$name\$" debian/tests/control | grep -q skippable; then
    echo "$name: skipped (exit 77)"
  elif ((status != 0)); then
    fail "autopkgtest $name"
  fi
done

echo
echo "build-deb: OK in $(($(date +%s) - start)) s (packages in $out_dir)"
