#!/usr/bin/env bash
# Repeated start-ups on one long-lived mount (a sidecar serving an app that
# starts again and again): the start-up workload run N times on the same
# mount after one warm-up run, page cache hot, for condafs's default,
# --no-open and --no-passthrough, against the same tree as a plain
# directory.  Rounds interleave the variants; prints the median of each
# round's median and the ratios to plain (figures in docs/performance.md).
# usage: bench/repeat.sh
#   CFS_BENCH_RUNS=9 CFS_BENCH_ROUNDS=3 CFS_PYENV_BIG=1
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh" >&2
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
pyenv_index "$T" || fail "cannot build the realistic environment"
exec python3 - "$CONDAFS" "$T" "$top" <<'PY'
import os, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(sys.argv[3], "bench"))
from workloads import WORKLOADS
condafs, work = sys.argv[1:3]
runs = int(os.environ.get("CFS_BENCH_RUNS", "9"))
rounds = int(os.environ.get("CFS_BENCH_ROUNDS", "3"))
argv = WORKLOADS["startup"]
plain = os.path.join(work, "plain")
subprocess.run([sys.executable, os.path.join(sys.argv[3], "tests/fixtures/extract.py"), condafs,
                f"{work}/env.cfs", plain], check=True, stdout=subprocess.DEVNULL)
variants = {"plain": None, "default": [], "--no-open": ["--no-open"],
            "--no-passthrough": ["--no-passthrough"]}

def timed():
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t

med = {v: [] for v in variants}
for _ in range(rounds):
    for v, extra in variants.items():
        if extra is None:
            subprocess.run(["mount", "--bind", plain, "/env"], check=True)
        else:
            subprocess.run([condafs, "mount", f"{work}/env.cfs", "/env", "--cache",
                            f"{work}/cache", *extra], check=True)
        timed()  # warm-up: objects cached, pages read
        med[v].append(statistics.median(timed() for _ in range(runs)))
        subprocess.run(["umount", "/env"], check=True)
print(f"repeated start-up on one mount, page cache hot: median of {rounds} rounds of "
      f"{runs} runs each")
print(f"{'':18}{'seconds':>9}{'vs plain':>10}")
base = statistics.median(med["plain"])
for v in variants:
    m = statistics.median(med[v])
    print(f"{v:18}{m:9.3f}{m / base:9.2f}x")
PY
