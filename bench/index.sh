#!/usr/bin/env bash
# Benchmark for condafs index (see docs/performance.md for recorded figures).
#
# Indexes the realistic environment built from this machine's Python, and
# measures in the same run, side by side:
#   floor     decompressing every package payload with the zstd/bzip2 tools
#             and sha256sum of the installed bytes (the unavoidable work)
#   condafs   condafs index -j 2 into an empty store and cache
#   again     a second condafs index run against the same store and cache
#   squashfs  mksquashfs -comp zstd of an extracted copy (what a user might
#             pick instead)
# and prints wall time, CPU time and peak RSS of each, with ratios.
# usage: bench/index.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bash tools/build.sh
condafs=$top/build/tools/condafs
work=$(realpath -m "${1:-/tmp/condafs-bench}")
mkdir -p "$work"
python3 tests/fixtures/mkpyenv.py "$work/channel" >&2
measure() { python3 bench/measure.py "$@"; }
results=$work/index-results.jsonl
: > "$results"

# Floor: payloads decompressed by the standard tools, installed bytes hashed.
rm -rf "$work/floor"; mkdir -p "$work/floor"
floor_cmd="set -e; cd '$work/floor';"
for pkg in $(find "$work/channel" -name '*.conda' -o -name '*.tar.bz2' | sort); do
  case $pkg in
    *.conda) floor_cmd+=" python3 '$top/bench/payload.py' '$pkg' | zstd -dcq | tar -x;" ;;
    *.tar.bz2) floor_cmd+=" bzip2 -dc '$pkg' | tar -x;" ;;
  esac
done
floor_cmd+=" find . -type f -print0 | xargs -0 sha256sum > /dev/null"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
measure floor -- "$floor_cmd" | tee -a "$results"

rm -rf "$work/store" "$work/cache" "$work/env.cfs"
measure condafs -- "'$condafs' index '$work/channel/conda-lock.yml' -o '$work/env.cfs' \
  --store '$work/store' --cache '$work/cache' -j 2 -q" | tee -a "$results"
measure again -- "'$condafs' index '$work/channel/conda-lock.yml' -o '$work/env.cfs' \
  --store '$work/store' --cache '$work/cache' -j 2 -q" | tee -a "$results"

rm -rf "$work/extracted" "$work/env.squashfs"
python3 tests/fixtures/extract.py "$condafs" "$work/env.cfs" "$work/extracted"
measure squashfs -- "mksquashfs '$work/extracted' '$work/env.squashfs' -comp zstd \
  -quiet -no-progress >/dev/null" | tee -a "$results"

python3 - "$results" "$work" <<'PY'
import json, os, sys
r = {j["label"]: j for j in map(json.loads, open(sys.argv[1]))}
work = sys.argv[2]
def size(p):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)
print()
print(f"{'run':10} {'wall s':>8} {'cpu s':>8} {'peak RSS MB':>12} {'wall / floor':>13}")
for k in ("floor", "condafs", "again", "squashfs"):
    j = r[k]
    print(f"{k:10} {j['wall']:8.2f} {j['cpu']:8.2f} {j['rss_mb']:12.1f} "
          f"{j['wall'] / r['floor']['wall']:13.2f}")
print()
print(f"condafs index / floor (wall):      {r['condafs']['wall'] / r['floor']['wall']:.2f}x  (target <= 1.5x)")
print(f"second run / first run (wall):     {r['again']['wall'] / r['condafs']['wall']:.2f}x  (target <= 0.2x)")
print(f"condafs peak RSS:                  {r['condafs']['rss_mb']:.0f} MB  (target < 150 MB)")
print(f"condafs index / mksquashfs (wall): {r['condafs']['wall'] / r['squashfs']['wall']:.2f}x")
print(f"store size: {size(os.path.join(work, 'store')) / 2**20:.1f} MiB, "
      f"squashfs image: {os.path.getsize(os.path.join(work, 'env.squashfs')) / 2**20:.1f} MiB, "
      f"extracted: {size(os.path.join(work, 'extracted')) / 2**20:.1f} MiB")
PY
