#!/usr/bin/env bash
# run-tests.sh: build ep-glib and run every test, then the C tests again under ASan/UBSan
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   0. tools/install-deps.sh: every group's missing Debian packages (the demo
#      installs only its own group; the tests need the rest); then
#      tools/check-format.py: the lines changed since the merge base with
#      origin/main (or main) against .clang-format (git clang-format; skipped
#      with a line saying so when git-clang-format or git history is missing)
#   1. _build:      meson setup -Dwerror=true, ninja, meson test (all suites)
#   2. _build-asan: -Db_sanitize=address,undefined, the C test suites only
#                   (GJS and Python cannot load an ASan library without
#                   LD_PRELOAD games, so the introspection suite is left out)
#   3. valgrind memcheck over the C tests that do not fork
#   4. the fuzz targets (clang): corpus replay and a short run of each
#   5. bench-send --quick and bench-suite --quick: crash checks, not measurements
#   6. in CI (CI=true) or with EP_DEB=1: tools/build-deb.sh (the Debian
#      packages built, checked with lintian, installed and their autopkgtests
#      run; 1-3 minutes; needs root or sudo). EP_SKIP_DEB=1 skips it.
#
# Ends with one plain line "N passed, N failed" (meson's Ok and Fail counts of
# both runs, plus the bench check) and exits non-zero on any failure.
#
# Environment: EP_BUILD_DIR (default _build), EP_ASAN_BUILD_DIR (default
# _build-asan), EP_SKIP_FORMAT=1 to skip the format check (step 0),
# EP_SKIP_ASAN=1 to skip step 2, EP_SKIP_VALGRIND=1 and
# EP_SKIP_FUZZ=1 to skip steps 3 and 4, EP_DEB=1 / EP_SKIP_DEB=1 to
# run / skip step 6, MESON_TEST_ARGS for extra
# `meson test` arguments.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=${EP_BUILD_DIR:-_build}
asan_dir=${EP_ASAN_BUILD_DIR:-_build-asan}
read -r -a extra_test_args <<<"${MESON_TEST_ARGS:-}"
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/ep-glib-tests.XXXXXX")
trap 'rm -rf "$log_dir"' EXIT

passed=0
failed=0
status=0

step() {
  printf '\n==> %s\n' "$*"
}

# meson setup, or reconfigure an existing build directory with the same options.
configure() {
  local dir=$1
  shift
  if [[ -f "$dir/build.ninja" ]]; then
    meson setup --reconfigure "$dir" "$@" >"$log_dir/setup.log" 2>&1 || {
      cat "$log_dir/setup.log"
      return 1
    }
    tail -n 3 "$log_dir/setup.log"
  else
    meson setup "$dir" "$@"
  fi
}

# Adds meson's "Ok:" and "Fail:" (and the other failure kinds) to the totals.
count_results() {
  local output=$1 ok fail
  ok=$(awk '/^Ok:/ { n += $2 } END { print n + 0 }' "$output")
  fail=$(awk '/^(Fail|Unexpected Pass|Timeout):/ { n += $NF } END { print n + 0 }' "$output")
  passed=$((passed + ok))
  failed=$((failed + fail))
}

# Runs meson test, printing its output, and counts the results.
run_meson_test() {
  local dir=$1 name=$2 rc=0
  shift 2
  meson test -C "$dir" --print-errorlogs "${extra_test_args[@]}" "$@" 2>&1 |
    tee "$log_dir/$name.log" || rc=$?
  count_results "$log_dir/$name.log"
  if ((rc != 0)); then
    status=1
  fi
  # A run that stopped before its summary, or ran nothing, counts as a failure.
  if ! grep -q '^Ok:' "$log_dir/$name.log"; then
    echo "run-tests: meson test in $dir printed no summary" >&2
    status=1
    failed=$((failed + 1))
  fi
}

finish() {
  echo
  echo "$passed passed, $failed failed"
  if ((failed > 0)); then
    status=1
  fi
  exit "$status"
}

step "Debian packages (tools/install-deps.sh)"
bash tools/install-deps.sh </dev/null ||
  echo "run-tests: some packages are missing (above); the tests that need them will fail or skip" >&2

# The format of the lines this branch changed (step 0; a clean clone of main
# itself has none). Only changed lines: the check never asks for a reformat
# of code nobody touched.
if [[ "${EP_SKIP_FORMAT:-0}" != 1 ]]; then
  step "format of the changed lines (tools/check-format.py)"
  if ! command -v git-clang-format >/dev/null 2>&1 || ! command -v clang-format >/dev/null 2>&1; then
    echo "run-tests: git-clang-format is missing (Debian package clang-format): format check skipped"
  elif ! git rev-parse --git-dir >/dev/null 2>&1; then
    echo "run-tests: not a git checkout: format check skipped"
  elif python3 tools/check-format.py; then
    passed=$((passed + 1))
  else
    echo "run-tests: changed lines differ from .clang-format (above)" >&2
    failed=$((failed + 1))
  fi
fi

step "build $build_dir (warnings are errors)"
if ! configure "$build_dir" -Dwerror=true || ! ninja -C "$build_dir"; then
  echo "run-tests: the build in $build_dir failed" >&2
  failed=$((failed + 1))
  finish
fi

step "meson test -C $build_dir"
run_meson_test "$build_dir" main

if [[ "${EP_SKIP_ASAN:-0}" != 1 ]]; then
  step "build $asan_dir with AddressSanitizer and UBSan"
  if configure "$asan_dir" -Dwerror=true -Db_sanitize=address,undefined \
       -Dintrospection=false -Dbench=disabled && ninja -C "$asan_dir"; then
    step "meson test -C $asan_dir (C suites)"
    # G_SLICE=always-malloc, or ASan misses use-after-free of GObjects on
    # GLib 2.74. Leaks are checked, minus the known ones outside ep-glib
    # (tests/lsan.supp; fast_unwind_on_malloc=0 so the suppressions match).
    export G_SLICE=always-malloc
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    # scaleout (a cluster, two gateways, four producers, about a minute)
    # stays in the main pass; the gateway test (suite tools) runs here.
    run_meson_test "$asan_dir" asan --no-suite introspection --no-suite reliability \
      --no-suite scaleout --timeout-multiplier 3
    # The reliability suite is timing- and volume-heavy (minutes under ASan):
    # only its corruption cases run here, fewer of them.
    EP_RELIABILITY_ROUNDS=6 run_meson_test "$asan_dir" asan-reliability \
      --timeout-multiplier 3 rel-corrupt
  else
    echo "run-tests: the sanitizer build in $asan_dir failed" >&2
    failed=$((failed + 1))
  fi
fi

# valgrind memcheck over the C tests that do not fork (test-crash does, and
# the test-queue* programs take minutes under valgrind): 0 errors. EP_SKIP_VALGRIND=1 skips it.
if [[ "${EP_SKIP_VALGRIND:-0}" != 1 ]] && command -v valgrind >/dev/null 2>&1; then
  step "valgrind memcheck (C tests that do not fork)"
  G_SLICE=always-malloc run_meson_test "$build_dir" valgrind \
    --wrapper "valgrind --error-exitcode=1 --leak-check=no -q" --timeout-multiplier 10 \
    test-event test-monitor test-producer-state test-clock test-version test-transport test-producer test-consent test-witness \
    test-delivery test-delivery-refusals test-delivery-drain test-delivery-witness test-delivery-lifecycle \
    test-network test-journal
fi

# The fuzz targets (tests/fuzz, clang only): each replays its seed corpus,
# then fuzzes for EP_FUZZ_SECONDS (default 10). EP_FUZZ_REPLAY_ONLY lists
# targets with a crash found and reported but not fixed yet: they replay
# their corpus only. EP_SKIP_FUZZ=1 skips the step.
fuzz_dir=${EP_FUZZ_BUILD_DIR:-_build-fuzz}
fuzz_targets=(sqs-reply record restore event consumer-request json-scan witness)
if [[ "${EP_SKIP_FUZZ:-0}" != 1 ]] && command -v clang >/dev/null 2>&1; then
  step "fuzz targets in $fuzz_dir (clang, libFuzzer)"
  if CC=clang configure "$fuzz_dir" -Dfuzzing=true -Dintrospection=false -Dtools=false \
       -Dbench=false -Ddocs=false &&
     ninja -C "$fuzz_dir" "${fuzz_targets[@]/#/tests/fuzz/fuzz-}"; then
    # A UBSan report is fatal: every fuzz object is built with
    # -fno-sanitize-recover=undefined (tests/fuzz/meson.build); the stack helps.
    export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
    # Leaks count too, also with EP_SKIP_ASAN=1; GSlice would hide them.
    export G_SLICE=always-malloc
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
    export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
    for target in "${fuzz_targets[@]}"; do
      seconds=${EP_FUZZ_SECONDS:-10}
      if [[ " ${EP_FUZZ_REPLAY_ONLY-} " == *" $target "* ]]; then
        seconds=0
      fi
      work=$(mktemp -d "$log_dir/fuzz-$target.XXXXXX")
      if "$fuzz_dir/tests/fuzz/fuzz-$target" -runs=0 tests/fuzz/corpus/"$target" \
           >"$work/replay.log" 2>&1 &&
         { ((seconds == 0)) ||
           "$fuzz_dir/tests/fuzz/fuzz-$target" -max_total_time="$seconds" -artifact_prefix="$work/" \
             "$work" tests/fuzz/corpus/"$target" >"$work/fuzz.log" 2>&1; }; then
        echo "fuzz-$target: corpus replayed, fuzzed ${seconds}s: OK"
        passed=$((passed + 1))
      else
        tail -n 40 "$work"/*.log
        echo "run-tests: fuzz-$target failed (artifacts were in $work)" >&2
        failed=$((failed + 1))
      fi
    done
  else
    echo "run-tests: the fuzz build in $fuzz_dir failed" >&2
    failed=$((failed + 1))
  fi
fi

# The benchmarks in their quick mode: a crash check, never a judgement of
# the numbers (the machines are shared).
for bench in "$build_dir/bench/bench-send" "$build_dir/bench/bench-suite"; do
  if [[ -x "$bench" ]]; then
    step "$bench --quick (crash check only)"
    if timeout 300 "$bench" --quick; then
      passed=$((passed + 1))
    else
      echo "run-tests: $(basename "$bench") --quick failed" >&2
      failed=$((failed + 1))
    fi
  fi
done

# The Debian packages, end to end (step 6).
if [[ "${EP_SKIP_DEB:-0}" != 1 && ( "${CI:-}" == true || "${EP_DEB:-0}" == 1 ) ]]; then
  step "tools/build-deb.sh (Debian packages: build, lintian, install, autopkgtests)"
  if bash tools/build-deb.sh; then
    passed=$((passed + 1))
  else
    echo "run-tests: tools/build-deb.sh failed" >&2
    failed=$((failed + 1))
  fi
fi

finish
