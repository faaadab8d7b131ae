#!/usr/bin/env bash
# The condafs demo: builds a demo channel from this machine's own Python
# (the interpreter and several site-packages, packaged the way conda-build
# would), indexes its lock file, and looks inside the result.
# usage: tools/demo.sh [WORKDIR]   (default: ./demo)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash tools/build.sh
condafs=$top/build/tools/condafs
work=$(realpath -m "${1:-demo}")
mkdir -p "$work"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build the demo channel from $(python3 -c 'import sys; print(sys.base_prefix)')"
python3 tests/fixtures/mkpyenv.py "$work/channel"

step "condafs index: lock → store + index"
rm -f "$work/env.cfs"
"$condafs" index "$work/channel/conda-lock.yml" -o "$work/env.cfs" \
  --store "$work/store" --cache "$work/cache" -j 2
"$condafs" info "$work/env.cfs"

step "condafs ls env.cfs bin"
"$condafs" ls "$work/env.cfs" bin | head -20

step "condafs cat env.cfs bin/flask (an entry point condafs generated)"
"$condafs" cat "$work/env.cfs" bin/flask

run=("$condafs" run "$work/env.cfs" --cache "$work/objcache")

step "condafs run: mount the index at /env (private namespace) and profile two workloads"
rm -f "$work"/trace-*.jsonl
"${run[@]}" --trace "$work/trace-python.jsonl" -- /env/bin/python3 -c \
  'import json, sqlite3, ssl, sys, importlib.metadata as m, flask; print("python", sys.version.split()[0], "from", sys.prefix, "- flask", m.version("flask"))'
"${run[@]}" --trace "$work/trace-pygmentize.jsonl" -- /env/bin/pygmentize -V
echo "traced $(cat "$work"/trace-*.jsonl | wc -l) first accesses"

step "condafs workset: merge the traces into a working set"
"$condafs" workset "$work"/trace-*.jsonl --index "$work/env.cfs" -o "$work/app.workset"

step "condafs report: one HTML page of the environment and its working set"
"$condafs" report "$work/env.cfs" --workset "$work/app.workset" -o "$work/report.html"
echo "open $work/report.html in a browser"

step "strict mode: only the working set is served"
"${run[@]}" --workset "$work/app.workset" --strict -- /env/bin/python3 -c 'import json; print("json ok in strict mode")'
"${run[@]}" --workset "$work/app.workset" --strict -- /env/bin/python3 -c 'import tomllib' 2>&1 |
  grep -E 'outside the working set|Error' | head -3 || true

step "condafs export: the working set as a reproducible tar layer and an OCI image"
# The profiling runs' object cache holds the working set decompressed.
"$condafs" export "$work/env.cfs" --workset "$work/app.workset" -o "$work/app-layer.tar" --format tar \
  --cache "$work/objcache"
"$condafs" export "$work/env.cfs" --workset "$work/app.workset" -o "$work/app-oci" --format oci \
  --cache "$work/objcache" --name localhost/condafs/demo:latest

step "run both workloads from the exported layer alone (bubblewrap, host /usr for libc)"
rm -rf "$work/layer"; mkdir -p "$work/layer"
tar -xf "$work/app-layer.tar" -C "$work/layer"
bw=(bwrap --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64
  --symlink usr/bin /bin --ro-bind /etc /etc --proc /proc --dev /dev --tmpfs /tmp
  --ro-bind "$work/layer/env" /env --unshare-net)
"${bw[@]}" /env/bin/python3 -c 'import json, sqlite3, ssl, flask; print("from the layer: imports ok")'
"${bw[@]}" /env/bin/pygmentize -V
echo
echo "demo done: everything is in $work"
