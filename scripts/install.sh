#!/usr/bin/env bash
# Set-up, release build, and `meson install` into /usr/local: the library
# (shared and static), its header and pkg-config file, the metaidx command
# line, and the Python package for Debian's /usr/bin/python3 (which then
# finds the installed library by itself). Re-runnable.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
if [ ! -f build/build.ninja ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO meson install -C build --no-rebuild --quiet
$SUDO ldconfig
/usr/bin/python3 -c 'import metaidx; print("metaidx", metaidx.__version__, "for Python at",
                     metaidx.__file__, "using", metaidx.library_path)'
