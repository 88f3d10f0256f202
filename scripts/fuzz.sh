#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (-Dfuzz=enabled,
# ASan + UBSan) in build-fuzz/ and runs each for SECONDS (default 60).
#   scripts/fuzz.sh [SECONDS] [--merge] [TARGET...]
# TARGET is one of npy_header npy_file manifest record idsfile (default:
# all, one after the other). Each run starts from the committed corpus plus
# what earlier runs found (build-fuzz/corpus/<target>, not committed).
# --merge: afterwards, minimise-merge the inputs that add coverage into the
# committed corpus tests/fuzz/corpus/<target> (review before committing).
# Crashes are written to build-fuzz/artifacts/<target>/; the script exits
# non-zero if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
merge=0
targets=()
for a in "$@"; do
  case $a in
  --merge) merge=1 ;;
  '' | *[!0-9]*) targets+=("$a") ;;
  *) seconds=$a ;;
  esac
done
all=(npy_header npy_file manifest record idsfile)
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

# Several invocations may run at once (one per core): build under a lock.
mkdir -p build-fuzz
exec 9>build-fuzz/.build.lock
flock 9
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ meson setup build-fuzz -Dfuzz=enabled -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Dc_args=-fno-sanitize-recover=undefined -Db_lundef=false \
    >/dev/null
fi
ninja -C build-fuzz $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >/dev/null
flock -u 9

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

status=0
for t in "${targets[@]}"; do
  committed=tests/fuzz/corpus/$t
  work=build-fuzz/corpus/$t
  art=build-fuzz/artifacts/$t
  mkdir -p "$work" "$art" "$committed"
  log=build-fuzz/fuzz_$t.log
  echo "== fuzz_$t for ${seconds}s (log $log)"
  if build-fuzz/tests/fuzz/fuzz_$t -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$art/" "$work" "$committed" \
    >"$log" 2>&1; then
    :
  else
    status=1
    echo "   CRASH: see $log and $art/"
  fi
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added)' "$log" |
    sed 's/^/   /' || true
  if [ $merge -eq 1 ]; then
    before=$(ls "$committed" | wc -l)
    build-fuzz/tests/fuzz/fuzz_$t -merge=1 -artifact_prefix="$art/" "$committed" "$work" \
      >>"$log" 2>&1 || status=1
    echo "   merged: $before -> $(ls "$committed" | wc -l) files in $committed"
  fi
done
exit $status
