#!/bin/sh
# check-man.sh GROFF PAGE: PAGE renders as text without warnings, and its
# NAME section names the program.
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
set -eu

groff=$1
page=$2
name=$(basename "$page" .1)
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

text=$(LC_ALL=C.UTF-8 "$groff" -man -Tutf8 -ww -P-cbou "$page" 2>"$errors")
if [ -s "$errors" ]; then
  echo "groff warns about $page:" >&2
  cat "$errors" >&2
  exit 1
fi
printf '%s\n' "$text" | grep -q '^NAME$' || { echo "$page: no NAME section" >&2; exit 1; }
printf '%s\n' "$text" | grep -q "^ *$name - " || { echo "$page: NAME does not name $name" >&2; exit 1; }
printf '%s\n' "$text" | grep -q '^SYNOPSIS$' || { echo "$page: no SYNOPSIS section" >&2; exit 1; }
echo "$page: renders, NAME: $(printf '%s\n' "$text" | grep -m1 "^ *$name - " | sed 's/^ *//')"
