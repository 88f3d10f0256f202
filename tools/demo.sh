#!/usr/bin/env bash
# The main job end to end on generated data: set-up if needed, build, then
# run. Until the builder and search land, this builds and prints the version.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
./build/tools/metaidx --version
