#!/usr/bin/env bash
# The whole test suite: set-up if needed, then a release build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build, each warning-free
# (-Werror) and each running every test. Extra arguments go to `meson test`
# (for example `--suite unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh

configure() { # dir, meson options...
  local dir=$1
  shift
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --werror "$@" >/dev/null
  fi
  ninja -C "$dir" >/dev/null
}

configure build
configure build-asan -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
  -Dc_args=-fno-sanitize-recover=undefined -Db_lundef=false

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

passed=0
failed=0
status=0
for dir in build build-asan; do
  echo "== meson test in $dir"
  log=$(mktemp)
  if meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$log"; then :; else status=1; fi
  ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  bad=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  timeout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${bad:-0} + ${timeout:-0}))
  rm -f "$log"
done
if [ "$passed" -eq 0 ]; then status=1; fi
echo "tests: $passed passed, $failed failed"
exit $status
