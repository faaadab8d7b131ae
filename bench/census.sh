#!/usr/bin/env bash
# FUSE request census (figures in docs/performance.md): which requests the
# kernel sends condafs for one workload on a fresh mount of the realistic
# environment with a warm cache, counted from libfuse's request trace
# (condafs mount -d).  One column per variant, side by side.
# usage: bench/census.sh
#   CFS_CENSUS_WORKLOAD=startup                     or entrypoint, walk, readall
#   CFS_CENSUS_VARIANTS="default --no-passthrough"  mount options per column
#   CFS_BENCH_KEEP_PAGE_CACHE=1                     page cache hot, not dropped
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh" >&2
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
pyenv_index "$T" || fail "cannot build the realistic environment"
exec python3 - "$CONDAFS" "$T" "${CFS_CENSUS_WORKLOAD:-startup}" "$top" <<'PY'
import collections, os, re, subprocess, sys, time
sys.path.insert(0, os.path.join(sys.argv[4], "bench"))
from workloads import WORKLOADS, drop_caches
condafs, work, workload = sys.argv[1:4]
index, cache = f"{work}/env.cfs", f"{work}/cache"
variants = os.environ.get("CFS_CENSUS_VARIANTS", "default --no-passthrough").split()
argv = WORKLOADS[workload]

def mount(extra, log=None):
    if log is None:
        subprocess.run([condafs, "mount", index, "/env", "--cache", cache, *extra], check=True)
        return None
    p = subprocess.Popen([condafs, "mount", index, "/env", "--cache", cache, "-d", *extra],
                         stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    subprocess.run([condafs, "ready", "/env", "--wait", "30"], check=True)
    return p

# Warm the cache with the workload once.
mount([])
subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
subprocess.run([condafs, "umount", "/env"], check=True)
counts = {}
for v in variants:
    extra = [] if v == "default" else [v]
    log = f"{work}/census-{len(counts)}.log"
    p = mount(extra, log)
    if not os.environ.get("CFS_BENCH_KEEP_PAGE_CACHE"):
        drop_caches()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run([condafs, "umount", "/env"], check=True)
    p.wait()
    c = collections.Counter()
    with open(log, errors="replace") as f:
        for line in f:
            m = re.search(r"unique: \d+, opcode: (\w+)", line)
            if m:
                c[m.group(1)] += 1
    for op in ("INIT", "DESTROY", "STATFS"):  # the mount itself, not the workload
        c.pop(op, None)
    counts[v] = c
ops = sorted(set().union(*counts.values()), key=lambda o: -max(c[o] for c in counts.values()))
print(f"FUSE requests for '{workload}' (warm cache, fresh mount, page cache "
      f"{'hot' if os.environ.get('CFS_BENCH_KEEP_PAGE_CACHE') else 'dropped'})")
print(f"{'request':16}" + "".join(f"{v:>18}" for v in variants))
for op in ops:
    print(f"{op:16}" + "".join(f"{counts[v][op]:>18}" for v in variants))
print(f"{'total':16}" + "".join(f"{sum(counts[v].values()):>18}" for v in variants))
PY
