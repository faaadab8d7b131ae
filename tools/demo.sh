#!/usr/bin/env bash
# The condafs demo: builds a demo channel from this machine's own Python
# (the interpreter and several site-packages, packaged the way conda-build
# would), indexes its lock file, and looks inside the result.
# usage: tools/demo.sh [WORKDIR]   (default: ./demo)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

bash tools/deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build >/dev/null
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

step "extract with condafs cat and run /env/bin/python3 from it (bubblewrap)"
rm -rf "$work/extracted"
python3 tests/fixtures/extract.py "$condafs" "$work/env.cfs" "$work/extracted"
bwrap --ro-bind /usr /usr --symlink usr/lib /lib --symlink usr/lib64 /lib64 \
  --symlink usr/bin /bin --ro-bind /etc /etc --proc /proc --dev /dev --tmpfs /tmp \
  --ro-bind "$work/extracted" /env --setenv PATH /env/bin:/usr/bin --unshare-net \
  /env/bin/python3 -c 'import json, sqlite3, ssl, sys, importlib.metadata as m, flask; print("python", sys.version.split()[0], "from", sys.prefix, "- flask", m.version("flask"))'
echo
echo "demo done: everything is in $work"
