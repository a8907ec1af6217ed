#!/bin/bash
# generate-reference.sh: runs gi-docgen generate, then drops the Website and
# Source rows that gi-docgen's basic theme prints even when they are empty
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   generate-reference.sh OUTPUT_DIR GI_DOCGEN generate [ARGS...]
#
# gi-docgen 2023.1's namespace page has a row for website_url and one for
# browse_url whatever their values; ep-glib sets them only with
# -Drepository-url, so without it they would be links to "".
set -euo pipefail

output=$1
shift
rm -rf "$output"
"$@" --output-dir "$output"
sed -i -E '\|^ *<tr><td><em>(Website\|Source)</em></td><td><a href="" class="external"></a></td></tr>$|d' \
  "$output/index.html"
