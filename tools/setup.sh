#!/usr/bin/env bash
# Installs everything metaidx needs on Debian 12: build tools, libraries, and the
# FAISS C API compiled from Debian's faiss source package. Idempotent; silent when
# there is nothing to do. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(gcc g++ meson ninja-build pkg-config liblmdb-dev libxxhash-dev
  libcriterion-dev libfaiss-dev libopenblas-dev libopenblas0-pthread
  libjansson-dev python3 python3-numpy python3-pytest python3-setuptools python3-pip
  python3-venv dpkg-dev gnuplot-nox util-linux)
FAISS_C_PREFIX=${FAISS_C_PREFIX:-/usr/local}
FAISS_C_VERSION=1.7.3
FAISS_C_BUILD=2   # bump when the way the C API is built changes
FAISS_C_LIB="$FAISS_C_PREFIX/lib/libfaiss_c.a"
FAISS_C_PC="$FAISS_C_PREFIX/lib/pkgconfig/faiss_c.pc"
ADDED_SRC=/etc/apt/sources.list.d/metaidx-deb-src.sources

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
log() { echo "setup: $*" >&2; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

install_packages() {
  local missing
  missing=$(missing_packages)
  [ -z "$missing" ] && return 0
  log "installing:" $missing
  apt_update
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Writes a deb-src twin of the machine's own Debian sources, so no host name is
# ever hard-coded here. Handles both the deb822 and the one-line formats.
add_deb_src() {
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -e 's/^Types:.*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | $SUDO tee "$ADDED_SRC" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' \
      | $SUDO tee "${ADDED_SRC%.sources}.list" >/dev/null
  else
    log "no Debian apt source found to derive a deb-src entry from"; return 1
  fi
  apt_updated=0
  apt_update
}

remove_deb_src() {
  if [ -f "$ADDED_SRC" ] || [ -f "${ADDED_SRC%.sources}.list" ]; then
    $SUDO rm -f "$ADDED_SRC" "${ADDED_SRC%.sources}.list"
    apt_updated=0
    apt_update
  fi
}

fetch_faiss_source() {
  local dir=$1
  ( cd "$dir" && apt-get source -qq "faiss=$FAISS_C_VERSION*" >/dev/null 2>&1 ) && return 0
  ( cd "$dir" && apt-get source -qq faiss >/dev/null 2>&1 ) && return 0
  add_deb_src
  ( cd "$dir" && apt-get source -qq faiss >/dev/null 2>&1 )
}

build_faiss_c() {
  if [ -f "$FAISS_C_LIB" ] && [ -f "$FAISS_C_PC" ] \
     && grep -q "^# metaidx build $FAISS_C_BUILD\$" "$FAISS_C_PC"; then
    return 0
  fi
  log "building the FAISS C API from Debian's faiss source package"
  local work
  work=$(mktemp -d)
  chmod 755 "$work"   # apt-get source drops privileges to _apt where it can
  trap 'rm -rf "$work"; remove_deb_src' EXIT
  fetch_faiss_source "$work" || { log "could not fetch the faiss source package"; exit 1; }
  remove_deb_src
  local src
  src=$(find "$work" -maxdepth 1 -type d -name 'faiss-*' | head -n 1)
  [ -n "$src" ] && [ -d "$src/c_api" ] || { log "faiss source has no c_api/"; exit 1; }
  mkdir -p "$work/obj"
  # The C API prints every exception to stderr as well as keeping it for
  # faiss_get_last_error(); metaidx reports errors itself, so silence the print.
  sed -i 's/std::cerr << [^;]*;/(void)0;/' "$src/c_api/macros_impl.h"
  # Every C API unit except the GPU ones, against the installed headers.
  find "$src/c_api" -name '*.cpp' -not -path '*/gpu/*' -print0 \
    | xargs -0 -P "$(nproc)" -I{} sh -c \
      'g++ -std=c++17 -O2 -fPIC -fopenmp -DFINTEGER=int -w -c "$1" -o "$2/obj/$(echo "$1" | md5sum | cut -c1-16).o"' _ {} "$work"
  $SUDO mkdir -p "$FAISS_C_PREFIX/lib/pkgconfig"
  ar rcs "$work/libfaiss_c.a" "$work"/obj/*.o
  $SUDO install -m 644 "$work/libfaiss_c.a" "$FAISS_C_LIB"
  $SUDO tee "$FAISS_C_PC" >/dev/null <<PC
# metaidx build $FAISS_C_BUILD
prefix=$FAISS_C_PREFIX
libdir=\${prefix}/lib

Name: faiss_c
Description: FAISS C API, compiled by metaidx's tools/setup.sh from Debian's faiss source
Version: $FAISS_C_VERSION
Cflags: -I/usr/include
Libs: -L\${libdir} -lfaiss_c -l:libfaiss.a -fopenmp -llapack -lblas -lstdc++ -lm
PC
  rm -rf "$work"
  trap - EXIT
}

main() {
  install_packages
  build_faiss_c
}
main "$@"
