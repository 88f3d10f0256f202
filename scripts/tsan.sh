#!/usr/bin/env bash
# ThreadSanitizer run of the concurrency test: configures build-tsan with
# -Db_sanitize=thread and runs the 'tsan' suite (tests/test_concurrency.c
# built against the standalone Criterion shim: Criterion's own sandbox
# cannot start under TSan). Extra arguments go to `meson test`.
# FAISS, OpenBLAS and libgomp are not instrumented (see below);
# tests/tsan.supp holds suppressions, each with its reason (none so far).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build-tsan/build.ninja ]; then
  meson setup build-tsan --werror -Dbuildtype=debugoptimized -Db_sanitize=thread \
    -Db_lundef=false >/dev/null
fi
ninja -C build-tsan >/dev/null
# OpenBLAS (used by FAISS training) runs its own uninstrumented thread pool:
# one thread.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
# Likewise libgomp inside FAISS (training and adds in the build; searches
# already run FAISS on the calling thread only): TSan cannot see its
# synchronisation, so its threads would only produce false reports.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
meson test -C build-tsan --suite tsan --print-errorlogs "$@"
