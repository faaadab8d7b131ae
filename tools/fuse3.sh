#!/usr/bin/env bash
# Prints the pkg-config directory of the libfuse that condafs builds
# against when the system's is too old for FUSE passthrough (< 3.16, as
# Debian 12's 3.14), or nothing when the system's will do.
#
# Debian's own fuse3 source package from the trixie suite is fetched with
# apt, through a sources list private to this step (so no binary package
# ever comes from trixie), and built with meson into a static libfuse3.a
# under build/fuse3/.  condafs links it statically: nothing is installed
# on the system, and the binary needs no RUNPATH.
#
# CFS_FUSE=system skips all of this (CI's second build uses it to prove
# that condafs still builds and serves against libfuse 3.14).
# CFS_DEBIAN_MIRROR overrides http://deb.debian.org/debian.
set -euo pipefail
cd "$(dirname "$0")/.."

want=3.16
[[ ${CFS_FUSE:-} == system ]] && exit 0
have=$(pkg-config --modversion fuse3 2>/dev/null || echo 0)
if dpkg --compare-versions "$have" ge "$want"; then
  exit 0
fi

top=$PWD/build/fuse3
pc=$top/prefix/lib/pkgconfig
if [[ -f $pc/fuse3.pc ]]; then
  echo "$pc"
  exit 0
fi

echo "condafs: libfuse $have has no passthrough; building Debian trixie's fuse3 source into build/fuse3" >&2
rm -rf "$top"
bash tools/debian-source.sh trixie fuse3 "$top" \
  "set CFS_DEBIAN_MIRROR, or CFS_FUSE=system to build without passthrough"
version=$(grep -m1 -o "version: '[0-9.]*'" "$top/src/meson.build" | grep -o "[0-9.]*[0-9]" || true)
if ! dpkg --compare-versions "${version:-0}" ge "$want"; then
  echo "condafs: Debian trixie's fuse3 is libfuse '${version}', older than $want" >&2
  exit 1
fi
# Only the library: no fusermount3 (the system's setuid one serves
# unprivileged mounts), no examples, no tests, no init script.
# IGNORE_MTAB: a daemon mounting as root never writes /etc/mtab.  libfuse
# 3.17 would otherwise run /bin/mount -f to add the mount to mtab wherever
# /etc/mtab is not a missing or read-only file (a symlink to
# /proc/self/mounts included), and undo the mount when that fails, as in a
# container image without mount(8).
log=$top/build.log
if ! { meson setup "$top/build" "$top/src" --prefix="$top/prefix" --libdir=lib \
         -Ddefault_library=static -Dbuildtype=release -Dutils=false -Dexamples=false \
         -Dtests=false -Dinitscriptdir= -Duseroot=false -Dc_args=-DIGNORE_MTAB &&
       ninja -C "$top/build" && meson install -C "$top/build" --destdir "$top/stage"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "condafs: building libfuse $version failed; the whole log is $log" >&2
  exit 1
fi
# Published whole: a build cut short leaves no fuse3.pc behind.
mv "$top/stage$top/prefix" "$top/prefix"
rm -rf "$top/build" "$top/apt" "$top/dl" "$top/src" "$top/stage" "$log"
echo "condafs: built libfuse $version into build/fuse3/prefix" >&2
echo "$pc"
