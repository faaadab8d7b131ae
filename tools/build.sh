#!/usr/bin/env bash
# Installs condafs's dependencies and builds it into BUILDDIR (default
# build/): the first step of the demo, the test script and the benchmarks.
# When the system's libfuse has no passthrough (Debian 12's 3.14),
# tools/fuse3.sh builds Debian's newer fuse3 source into build/fuse3/ first
# and condafs links that; CFS_FUSE=system builds against the system's.
# usage: tools/build.sh [BUILDDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${1:-build}
fuse_pc=$(bash tools/fuse3.sh)
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" ${fuse_pc:+--pkg-config-path="$fuse_pc"}
elif [ -n "$fuse_pc" ] && ! grep -qF "\"$fuse_pc\"" "$build/meson-info/intro-buildoptions.json"; then
  # Set up before tools/fuse3.sh existed: once more, against its libfuse.
  meson setup --wipe "$build" --pkg-config-path="$fuse_pc"
fi
ninja -C "$build"
