#!/usr/bin/env bash
# Benchmark: bytecode compiled at index time (figures in docs/bytecode.md
# and docs/performance.md).  On the realistic environment (CFS_PYENV_BIG=1:
# the 93-package one), in a private mount namespace, side by side in one
# run, the Python start-up workload (bench/workloads.py) from:
#   compiled   condafs's environment exported as a directory, bound
#              read-only at /env (bytecode from condafs index)
#   compileall the same lock indexed with --no-compile, exported, then
#              `python -m compileall` run at /env on site-packages, as a
#              conda install leaves it; bound read-only
#   none       the --no-compile export, read-only (Python compiles every
#              noarch module in every process)
#   mount      condafs mount, warm cache, fresh mount
# Interleaved rounds, page cache warm; medians and ratios to compileall.
# Also: condafs index wall time with and without compiling (empty caches),
# and the exported working sets of the start-up and entry-point workloads
# (bytecode included) against the environment's bytes.
# usage: bench/bytecode.sh [ROUNDS]     (default 7)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in -h|--help) sed -n '2,/^# usage/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh"
export CFS_BENCH_ROUNDS=${CFS_BENCH_ROUNDS:-${1:-7}}
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
pyenv_index "$T" || fail "cannot build the realistic environment"
src=$BUILDDIR/tests/mount/pyenv
[[ ${CFS_PYENV_BIG:-} == 1 ]] && src+=-big
exec python3 "$top/bench/bytecode.py" "$CONDAFS" "$T" "$src"
