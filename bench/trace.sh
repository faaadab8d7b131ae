#!/usr/bin/env bash
# Tracing overhead of condafs mount --trace (figures in docs/mount.md and
# docs/performance.md): Python start-up (import json and flask) on a fresh
# mount of the realistic environment at /env, traced vs untraced, with the
# objects already cached, interleaved; median of RUNS (default 15).
# usage: bench/trace.sh [RUNS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh"
export CFS_BENCH_RUNS=${CFS_BENCH_RUNS:-${1:-15}}
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
pyenv_index "$T" || fail "cannot build the realistic environment"
exec python3 - "$CONDAFS" "$T" <<'PY'
import os, statistics, subprocess, sys, time
condafs, work = sys.argv[1], sys.argv[2]
runs = int(os.environ["CFS_BENCH_RUNS"])
index, cache, trace = f"{work}/env.cfs", f"{work}/cache", f"{work}/trace.jsonl"
cmd = ["/env/bin/python3", "-c", "import json, flask"]

def one():
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t

variants = {"untraced": [], "traced": ["--trace", trace]}
first = {k: [] for k in variants}
later = {k: [] for k in variants}
subprocess.run([condafs, "mount", index, "/env", "--cache", cache], check=True)
one()
subprocess.run([condafs, "umount", "/env"], check=True)
lines = 0
for _ in range(runs):
    for k, extra in variants.items():
        if os.path.exists(trace):
            os.unlink(trace)
        subprocess.run([condafs, "mount", index, "/env", "--cache", cache, *extra], check=True)
        first[k].append(one())
        later[k].append(min(one() for _ in range(3)))
        subprocess.run([condafs, "umount", "/env"], check=True)
        time.sleep(0.1)
        if extra:
            lines = sum(1 for _ in open(trace)) - 1
m = lambda xs: statistics.median(xs) * 1000
print(f"python3 -c 'import json, flask' on /env, median of {runs}, objects cached:")
for k in variants:
    print(f"  {k:9} first run on a fresh mount {m(first[k]):6.1f} ms, later runs {m(later[k]):6.1f} ms")
print(f"  traced / untraced: first run {m(first['traced']) / m(first['untraced']):.3f}x, "
      f"later runs {m(later['traced']) / m(later['untraced']):.3f}x  (target <= 1.1x); "
      f"{lines} trace lines")
PY
