#!/usr/bin/env bash
# run-long.sh: the reliability suite's long mode, and the fuzz targets, once
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   tests/reliability/run-long.sh [FUZZ_SECONDS_PER_TARGET]   (default 900)
#
# Builds _build (EP_BUILD_DIR) and _build-fuzz (clang, -Dfuzzing=true), then
# at nice 10:
#   - EP_RELIABILITY=long meson test --suite reliability (1,000 kill rounds
#     per crash scenario, over 10,000 corruption cases, every network,
#     hostile-clock and disk case 20/30 times, a 1M-event backlog);
#   - meanwhile each fuzz target for FUZZ_SECONDS, two at a time, from its
#     seed corpus; what they find is merged back into tests/fuzz/corpus
#     (commit it), crashes are kept in the log directory.
# EP_FUZZ_IGNORE_CRASHES=1 keeps a fuzzer going past crashes (libFuzzer's
# fork mode), for a target with a known crash.
# Everything goes to a log directory (printed); summary.txt collects the
# RESULT lines, the fuzzers' final statistics, the commit and the commands,
# for RELIABILITY.md. Exits non-zero if a test or a fuzzer failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

seconds=${1:-900}
build_dir=${EP_BUILD_DIR:-_build}
fuzz_dir=${EP_FUZZ_BUILD_DIR:-_build-fuzz}
log_dir=${EP_LOG_DIR:-$PWD/$build_dir/reliability-long-$(date -u +%Y%m%dT%H%M)}
targets=(sqs-reply record restore event consumer-request json-scan witness)
status=0

mkdir -p "$log_dir"
commit=$(git rev-parse --short HEAD)
echo "run-long: logs in $log_dir (commit $commit)"

[[ -f "$build_dir/build.ninja" ]] || meson setup "$build_dir" >/dev/null
ninja -C "$build_dir" >/dev/null || exit 1
if [[ ! -f "$fuzz_dir/build.ninja" ]]; then
  CC=clang meson setup "$fuzz_dir" -Dfuzzing=true -Dintrospection=false -Dtools=false \
    -Dbench=false -Ddocs=false >/dev/null || exit 1
fi
ninja -C "$fuzz_dir" "${targets[@]/#/tests/fuzz/fuzz-}" >/dev/null || exit 1

# One fuzz target: fuzz into a fresh directory from the seed corpus, then
# merge what it found into the seed corpus.
fuzz_one() {
  local target=$1 exe="$fuzz_dir/tests/fuzz/fuzz-$1" out="$log_dir/fuzz-$1"
  mkdir -p "$out/new"
  # EP_FUZZ_IGNORE_CRASHES=1: keep fuzzing past a known crash (fork mode)
  local keep_going=()
  if [[ "${EP_FUZZ_IGNORE_CRASHES:-0}" == 1 ]]; then
    keep_going=(-fork=1 -ignore_crashes=1)
  fi
  ASAN_OPTIONS=detect_leaks=0 nice -n 10 "$exe" "${keep_going[@]}" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/new" "tests/fuzz/corpus/$target" >"$out/fuzz.log" 2>&1
  echo "$?" >"$out/status"
  ASAN_OPTIONS=detect_leaks=0 "$exe" -merge=1 "tests/fuzz/corpus/$target" "$out/new" \
    >"$out/merge.log" 2>&1
}

# UBSan reports stop a fuzzer like ASan ones (the fuzz build has
# -fno-sanitize-recover=undefined everywhere); print their stack.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

fuzz_all() {
  local i
  for ((i = 0; i < ${#targets[@]}; i += 2)); do
    fuzz_one "${targets[i]}" &
    if ((i + 1 < ${#targets[@]})); then
      fuzz_one "${targets[i + 1]}" &
    fi
    wait
  done
}

start=$(date -u +%FT%TZ)
fuzz_all &
fuzz_pid=$!

EP_RELIABILITY=long nice -n 10 meson test -C "$build_dir" --suite reliability \
  --timeout-multiplier 100 --print-errorlogs --logbase reliability-long >"$log_dir/suite.log" 2>&1 ||
  status=1
cp "$build_dir/meson-logs/reliability-long.txt" "$log_dir/" 2>/dev/null
wait "$fuzz_pid"

{
  echo "commit: $commit"
  echo "started: $start, ended: $(date -u +%FT%TZ)"
  echo "command: tests/reliability/run-long.sh $seconds"
  echo
  grep -h '^RESULT' "$log_dir/reliability-long.txt" | sort -u
  grep -E '^ *[0-9]+/[0-9]+ ' "$log_dir/suite.log"
  echo
  for target in "${targets[@]}"; do
    out="$log_dir/fuzz-$target"
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/fuzz.log" | grep -o '[0-9]*$')
    crashes=$(find "$out" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'leak-*' -o -maxdepth 1 -name 'timeout-*' | wc -l)
    corpus=$(find "tests/fuzz/corpus/$target" -type f | wc -l)
    echo "fuzz-$target: exit $(cat "$out/status") seconds $seconds runs ${runs:-?} crashes $crashes corpus_after_merge $corpus"
    if [[ "$(cat "$out/status")" != 0 ]]; then
      status=1
    fi
  done
} | tee "$log_dir/summary.txt"
exit "$status"
