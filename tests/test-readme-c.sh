#!/bin/bash
# test-readme-c.sh: the README's C example builds against the build tree with
# pkg-config from meson-uninstalled/, as the README says it does
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
if [[ "$sanitize" == none ]]; then
  "$@" -Wall -Werror -o "$work/readme-example" "$work/readme-example.c" "${cflags[@]}" "${libs[@]}"
else
  "$@" -Wall -Werror -c -o "$work/readme-example.o" "$work/readme-example.c" "${cflags[@]}"
fi
echo "the README's C example builds against $build_root"
