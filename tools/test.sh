#!/usr/bin/env bash
# Builds condafs and runs its test suite (installing dependencies first).
# usage: tools/test.sh [BUILDDIR] [extra meson test args]
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
shift || true
bash tools/build.sh "$build"
rc=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || rc=$?
python3 tools/test-summary.py "$build/meson-logs/testlog.json"
exit $rc
