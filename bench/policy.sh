#!/usr/bin/env bash
# Benchmark for prune policies (figures recorded in docs/performance.md).
#
#   1. condafs index of the realistic environment (this machine's Python) with
#      an empty store: no policy vs. the expert preset plus 50 user rules,
#      interleaved, median of 5 runs each; target: at most 1.05x.
#   2. condafs du (by package, rule, dir) on a 50,000-file index; target: well
#      under a second.
# usage: bench/policy.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bash tools/build.sh
condafs=$top/build/tools/condafs
work=$(realpath -m "${1:-/tmp/condafs-bench-policy}")
mkdir -p "$work"
python3 tests/fixtures/mkpyenv.py "$work/channel" >&2

# 50 user rules of the kinds people write: globs over site-packages, scoped
# to packages, keeps that re-include files below excluded directories.
pol=$work/user.policy
{
  echo "# 50 user rules"
  for i in $(seq 1 10); do
    echo "exclude lib/python3.*/site-packages/**/vendor$i/**"
    echo "exclude **/*.example$i in pygments,jinja2"
    echo "keep lib/python3.*/site-packages/pygments/lexers/_mapping$i.py"
    echo "exclude share/locale/*/LC_MESSAGES/pkg$i.mo"
    echo "keep include/python3.*/pyconfig$i.h"
  done
} > "$pol"

results=$work/policy-results.jsonl
: > "$results"
for run in 1 2 3 4 5; do
  for mode in plain policy; do
    rm -rf "$work/store" "$work/cache" "$work/env.cfs"
    extra=""
    [ $mode = policy ] && extra="--preset expert --policy '$pol'"
    python3 bench/measure.py "$mode" -- "'$condafs' index '$work/channel/conda-lock.yml' \
      -o '$work/env.cfs' --store '$work/store' --cache '$work/cache' -j 2 -q $extra" >> "$results"
  done
done

python3 tests/mount/mkbigpkg.py "$work/big" 50000 >&2
rm -rf "$work/bigstore"
"$condafs" index "$work/big/lock.txt" -o "$work/big.cfs" --store "$work/bigstore" \
  --cache "$work/bigcache" --preset expert -q
for by in package rule dir; do
  python3 bench/measure.py "du-$by" -- "'$condafs' du '$work/big.cfs' --by $by >/dev/null" >> "$results"
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(label):
    return statistics.median(r["wall"] for r in rows if r["label"] == label)
plain, policy = med("plain"), med("policy")
print(f"index, no policy (median of 5):             {plain:.3f} s")
print(f"index, expert + 50 rules (median of 5):     {policy:.3f} s")
print(f"ratio:                                      {policy / plain:.3f}x  (target <= 1.05x)")
for by in ("package", "rule", "dir"):
    print(f"du --by {by:8} on a 50,000-file index:       {med('du-' + by):.3f} s  (target < 1 s)")
PY
