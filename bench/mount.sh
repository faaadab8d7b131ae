#!/usr/bin/env bash
# Benchmark for condafs mount (figures recorded in docs/performance.md).
#
# The realistic environment (this machine's Python as conda packages), served
# at /env in a private mount namespace, side by side in one run:
#   (a) plain    a plain directory (an extraction) bound at /env
#   (b) squash   squashfuse_ll on a mksquashfs -comp zstd image
#   (c) cold     condafs, empty cache, local store
#   (d) warm     condafs, warm cache, fresh mount
#   (e) http     condafs, empty cache, store served by nginx on 127.0.0.1
# Workloads: Python start-up importing ~30 modules (stdlib and
# site-packages), an entry point, a metadata walk (find -printf '%s %m'),
# reading every file once.  Each figure is the median of several runs, each
# on a fresh mount with the page cache dropped (when the kernel lets us).
# usage: bench/mount.sh [RUNS]     (default 5)
#   CFS_BENCH_VARIANTS="cold warm warm-read http"  condafs variants besides plain and squash
#                                                  (also warm-noopen: --no-open; hp: libfuse's
#                                                  passthrough_hp over the plain tree, built
#                                                  by bench/passthrough_hp.sh)
#   CFS_BENCH_WORKLOADS="startup readall"          a subset of the workloads (also requests:
#                                                  2,000 rounds of isatty, open and close, and
#                                                  a missing name)
#   CFS_BENCH_KEEP_PAGE_CACHE=1                    page cache hot: not dropped before each run
#   CFS_PYENV_BIG=1                                the 93-package environment
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh"
if [[ " ${CFS_BENCH_VARIANTS:-} " == *" hp "* ]]; then
	CFS_BENCH_HP=$(bash "$top/bench/passthrough_hp.sh") || exit 1
	export CFS_BENCH_HP
fi
export CFS_BENCH_RUNS=${CFS_BENCH_RUNS:-${1:-5}}
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
pyenv_index "$T" || fail "cannot build the realistic environment"
command -v squashfuse_ll >/dev/null || fail "squashfuse_ll is not installed (apt-get install squashfuse)"
exec python3 "$top/bench/mount.py" "$CONDAFS" "$T"
