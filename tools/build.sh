#!/usr/bin/env bash
# Installs condafs's dependencies and builds it into BUILDDIR (default
# build/): the first step of the demo, the test script and the benchmarks.
# usage: tools/build.sh [BUILDDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
build=${1:-build}
[ -f "$build/build.ninja" ] || meson setup "$build"
ninja -C "$build"
