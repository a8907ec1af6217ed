#!/bin/bash
# check-reference.sh: builds the whole reference with gi-docgen, warnings
# fatal, and checks its links to the sources
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   check-reference.sh OUTPUT_DIR REPOSITORY_URL GI_DOCGEN generate [ARGS...]
#
# Without a repository URL (meson's -Drepository-url, empty by default) the
# pages have no [src] links and no Website or Source rows; with one, every
# [src] link starts with it.
set -euo pipefail

output=$1 repository=$2
shift 2
bash "$(dirname "$0")/generate-reference.sh" "$output" "$@" --fatal-warnings

pages=$(find "$output" -name '*.html' | wc -l)
srclinks=$(grep -rho 'class="srclink"[^>]*href="[^"]*"' "$output" || true)
if [[ -z "$repository" ]]; then
  if [[ -n "$srclinks" ]]; then
    echo "FAIL: [src] links without a repository URL:" >&2
    echo "$srclinks" | head -n 3 >&2
    exit 1
  fi
  if grep -rlE '>(Website|Source code|Source)<' "$output" >/dev/null; then
    echo "FAIL: Website or Source rows without a repository URL:" >&2
    grep -rlE '>(Website|Source code|Source)<' "$output" | head -n 3 >&2
    exit 1
  fi
  echo "the reference builds ($pages pages), with no source links (no repository URL)"
else
  bad=$(echo "$srclinks" | grep -v "href=\"$repository/" || true)
  if [[ -n "$bad" ]]; then
    echo "FAIL: [src] links outside $repository:" >&2
    echo "$bad" | head -n 3 >&2
    exit 1
  fi
  echo "the reference builds ($pages pages); its [src] links go to $repository"
fi
