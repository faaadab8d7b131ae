#!/usr/bin/env bash
# Benchmark for condafs workset and condafs export (figures: docs/profiling.md).
#
# On the realistic environment built from this machine's Python:
#   1. a working set from the trace of a profiling run,
#      `condafs run --trace` of `python3 -c 'import json, sqlite3, flask'`,
#      and its size as a fraction of the environment;
#   2. condafs export of that working set vs GNU tar over the same files from a
#      plain directory (an extracted copy, in the page cache), median of 7 runs,
#      interleaved; as .tar (target: at most 1.2x tar), .tar.zst and .tar.gz;
#      reading the profiling run's object cache (the default, as after real
#      profiling runs on the same machine; also with --verify, hashing every
#      cached file) and, with --no-cache, decoding every file from the store;
#   3. the same for the whole environment (--all), decoded from the store.
# usage: bench/export.sh [WORKDIR]    (BUILD=build-dir to use another build)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
build=${BUILD:-build}
bash tools/build.sh "$build"
condafs=$top/$build/tools/condafs
work=$(realpath -m "${1:-/tmp/condafs-bench-export}")
mkdir -p "$work"
python3 tests/fixtures/mkpyenv.py "$work/channel" >&2
"$condafs" index "$work/channel/explicit.txt" -o "$work/env.cfs" --store "$work/store" \
  --cache "$work/cache" -q
rm -rf "$work/plain"
"$condafs" export "$work/env.cfs" --all -o "$work/plain" --format dir -q
# The profiling run: its cache then holds the working set's files, verified.
rm -rf "$work/mcache" "$work/app.trace"
"$condafs" run "$work/env.cfs" --cache "$work/mcache" --trace "$work/app.trace" -q -- \
  /env/bin/python3 -c 'import json, sqlite3, flask' >&2
"$condafs" workset "$work/app.trace" -o "$work/app.ws" --index "$work/env.cfs" --json \
  > "$work/coverage.json"
# The same members for tar, in the export's order ("env" first, then sorted).
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
ents = json.load(open(f"{w}/app.ws"))["entries"]
open(f"{w}/ws.list", "w").write("env\n" + "".join(f"env/{e['path']}\n" for e in ents))
PY
(cd "$work/plain" && find env | LC_ALL=C sort > "$work/all.list")
# The decoding floor: the store objects of the working set's files through the
# standard tools (zstd -d, sha256sum), the work export cannot skip.
"$condafs" ls "$work/env.cfs" -R --json | python3 -c '
import json, sys
ws = {e["path"] for e in json.load(open(sys.argv[1]))["entries"] if e["type"] == "file"}
for n in map(json.loads, sys.stdin):
    if n["path"] in ws:
        d = n["digest"]
        print(f"{sys.argv[2]}/objects/{d[:2]}/{d}.zst")' "$work/app.ws" "$work/store" \
  > "$work/objects.list"

results=$work/export-results.jsonl
: > "$results"
# Each run writes a new file: the previous output is removed (and the disk
# given a moment) outside the timed command.
measure() {
  rm -f "$work"/t.tar* "$work"/e.tar*
  sync
  python3 bench/measure.py "$@" >> "$results"
}
for run in 1 2 3 4 5 6 7; do
  for set in ws all; do
    sel="-w '$work/app.ws'"; [ $set = all ] && sel=--all
    measure "tar-$set" -- "tar -C '$work/plain' --no-recursion -cf '$work/t.tar' \
      -T '$work/$set.list'"
    # export makes its output durable (fsync before the rename): tar too.
    measure "tarsync-$set" -- "tar -C '$work/plain' --no-recursion -cf '$work/t.tar' \
      -T '$work/$set.list' && sync '$work/t.tar' '$work'"
    measure "export-$set" -- "'$condafs' export '$work/env.cfs' $sel -o '$work/e.tar' \
      --cache '$work/mcache' -q"
    measure "exportstore-$set" -- "'$condafs' export '$work/env.cfs' $sel -o '$work/e.tar' \
      --no-cache -q"
  done
  measure "exportverify-ws" -- "'$condafs' export '$work/env.cfs' -w '$work/app.ws' \
    -o '$work/e.tar' --cache '$work/mcache' --verify -q"
  measure "floor-ws" -- "xargs cat < '$work/objects.list' | zstd -dcq | sha256sum >/dev/null"
  measure "tarzst-ws" -- "tar -C '$work/plain' --no-recursion --zstd -cf '$work/t.tar.zst' \
    -T '$work/ws.list'"
  measure "exportzst-ws" -- "'$condafs' export '$work/env.cfs' -w '$work/app.ws' \
    -o '$work/e.tar.zst' --cache '$work/mcache' -q"
  if [ $run -le 3 ]; then
    measure "targz-ws" -- "tar -C '$work/plain' --no-recursion -czf '$work/t.tar.gz' \
      -T '$work/ws.list'"
    measure "exportgz-ws" -- "'$condafs' export '$work/env.cfs' -w '$work/app.ws' \
      -o '$work/e.tar.gz' --cache '$work/mcache' -q"
  fi
done

python3 - "$results" "$work/coverage.json" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cov = json.load(open(sys.argv[2]))
def med(label, key="wall"):
    return statistics.median(r[key] for r in rows if r["label"] == label)
t = cov["total"]
print(f"working set of `python3 -c 'import json, sqlite3, flask'`: {t['ws_files']} of "
      f"{t['env_files']} files and symlinks ({100 * t['ws_files'] / t['env_files']:.1f}%), "
      f"{t['ws_bytes'] / 2**20:.1f} of {t['env_bytes'] / 2**20:.1f} MiB "
      f"({100 * t['ws_bytes'] / t['env_bytes']:.1f}%)")
print()
print(f"{'':28} {'tar s':>8} {'export s':>9} {'ratio':>7} {'export CPU s':>13}")
for name, a, b in (("working set, .tar", "tar-ws", "export-ws"),
                   ("working set, .tar vs tar + sync", "tarsync-ws", "export-ws"),
                   ("working set, .tar, --verify", "tar-ws", "exportverify-ws"),
                   ("working set, .tar, --no-cache", "tar-ws", "exportstore-ws"),
                   ("working set, .tar.zst", "tarzst-ws", "exportzst-ws"),
                   ("working set, .tar.gz", "targz-ws", "exportgz-ws"),
                   ("whole environment, .tar", "tar-all", "exportstore-all"),
                   ("whole environment, .tar vs tar + sync", "tarsync-all", "exportstore-all")):
    print(f"{name:28} {med(a):8.3f} {med(b):9.3f} {med(b) / med(a):6.2f}x {med(b, 'cpu'):13.3f}")
print(f"{'decoding floor (zstd -d | sha256sum of the objects)':52} {med('floor-ws'):8.3f}")
print()
for base, what in (("tarsync-ws", "tar + sync (the same durability)"), ("tar-ws", "tar")):
    print(f"export / {what}, working set (median wall): "
          f"{med('export-ws') / med(base):.2f}x from the profiling cache "
          f"({med('exportverify-ws') / med(base):.2f}x with --verify), "
          f"{med('exportstore-ws') / med(base):.2f}x from the store (target <= 1.2x)")
PY
