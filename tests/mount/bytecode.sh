#!/bin/bash
# SPDX-License-Identifier: MIT
# Bytecode compiled at index time (docs/bytecode.md), on the realistic
# environment:
#   - every .py a noarch: python package puts in site-packages has its
#     __pycache__/NAME.cpython-3XY.pyc in the index, owned by that package
#     and listed in its conda-meta record as a pyc_file;
#   - python -v from the mount loads flask's modules from that bytecode and
#     compiles none of them;
#   - the same lock indexed again from empty caches, with another -j, gives
#     the same pyc digests, and an unchanged lock reuses what was compiled;
#   - --no-compile writes none; a lock for another platform gets one warning
#     and an index without bytecode;
#   - a working set profiled from the mount holds the .pyc files Python
#     loaded, and its exported layer runs alone, loading from bytecode.
# Usage: bytecode.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
SRC=$BUILDDIR/tests/mount/pyenv
IDX=$T/py/env.cfs

# --- every noarch .py has its bytecode, owned and listed as conda lists it
"$CONDAFS" ls "$IDX" -R --all --json >"$T/ls.json" || fail "condafs ls failed"
mount_env "$IDX" /env --cache "$T/cache"
python3 - "$T/ls.json" /env <<'EOF' || fail "bytecode is missing from the index"
import glob, json, os, sys
nodes = [json.loads(l) for l in open(sys.argv[1])]
paths = {n["path"]: n for n in nodes}
env = sys.argv[2]
noarch, missing, listed = 0, [], 0
for rec in glob.glob(os.path.join(env, "conda-meta", "*.json")):
    meta = json.load(open(rec))
    if meta.get("noarch") != "python":
        continue
    pyc = {p["_path"] for p in meta["paths_data"]["paths"] if p["path_type"] == "pyc_file"}
    assert pyc <= set(meta["files"]), rec + ": a pyc_file is not in files"
    for p in meta["paths_data"]["paths"]:
        f = p["_path"]
        if p["path_type"] != "hardlink" or "/site-packages/" not in f or not f.endswith(".py"):
            continue
        noarch += 1
        d, base = os.path.split(f)
        want = f"{d}/__pycache__/{base[:-3]}.cpython-311.pyc"
        if want not in paths:
            missing.append(want)
        elif want not in pyc:
            missing.append(want + " (not in " + os.path.basename(rec) + ")")
        else:
            listed += 1
            assert paths[want]["package"] == paths[f]["package"], want + ": another owner"
            assert os.path.getsize(os.path.join(env, want)) == paths[want]["size"], want
if missing or noarch < 100:
    print(f"{noarch} sources, {len(missing)} without bytecode: {missing[:5]}", file=sys.stderr)
    sys.exit(1)
print(f"bytecode: {listed} of {noarch} noarch .py files compiled, owned and listed",
      file=sys.stderr)
EOF

# --- condafs du --by kind counts that bytecode
"$CONDAFS" du "$IDX" --by kind --json >"$T/du.json" || fail "condafs du --by kind failed"
python3 - "$T/du.json" "$T/ls.json" <<'EOF' || fail "du --by kind does not count the bytecode"
import json, sys
du = json.load(open(sys.argv[1]))
rows = {r["key"]: r for r in du["groups"]}
nodes = [json.loads(l) for l in open(sys.argv[2])]
pyc = [n for n in nodes if n["type"] == "file" and n["path"].endswith(".pyc") and not n["pruned"]]
b = rows["Python bytecode"]
assert b["kept_files"] == len(pyc), (b, len(pyc))
assert b["kept_bytes"] == sum(n["size"] for n in pyc), b
EOF

# --- python loads flask from that bytecode, and compiles none of it
/env/bin/python3 -v -c 'import flask' 2>"$T/v.log" || { tail "$T/v.log"; fail "import flask failed"; }
sp=/env/lib/python3.11/site-packages
from_pyc=$(grep -c "^# code object from '$sp/flask/__pycache__/.*\.cpython-311\.pyc'" "$T/v.log" || true)
from_src=$(grep -c "^# code object from '$sp/.*\.py'" "$T/v.log" || true)
[[ $from_pyc -ge 5 ]] || { grep flask "$T/v.log" | head; fail "flask: $from_pyc modules from bytecode"; }
[[ $from_src == 0 ]] || { grep "code object from '$sp/.*\.py'" "$T/v.log" | head; fail "$from_src site-packages modules compiled"; }
log "python -v: $from_pyc flask modules loaded from bytecode, none compiled"

# --- a working set holds the .pyc Python opened; its layer runs alone from bytecode
umount_env /env
mount_env "$IDX" /env --cache "$T/cache" --trace "$T/app.trace"
/env/bin/python3 -c 'import flask' || fail "import flask (traced) failed"
umount_env /env
"$CONDAFS" workset "$T/app.trace" --index "$IDX" -o "$T/app.ws" -q || fail "condafs workset failed"
grep -q "site-packages/flask/__pycache__/app.cpython-311.pyc" "$T/app.ws" ||
	fail "the working set lacks flask's app.cpython-311.pyc"
"$CONDAFS" export "$IDX" --workset "$T/app.ws" -o "$T/app.tar" --format tar -q ||
	fail "condafs export failed"
mkdir -p "$T/layer" && tar -xf "$T/app.tar" -C "$T/layer" || fail "cannot extract the layer"
[[ -f $T/layer/env/lib/python3.11/site-packages/flask/__pycache__/app.cpython-311.pyc ]] ||
	fail "the layer lacks flask's bytecode"
mount --bind -o ro "$T/layer/env" /env 2>/dev/null || mount --bind "$T/layer/env" /env
/env/bin/python3 -v -c 'import flask' 2>"$T/v2.log" ||
	{ tail "$T/v2.log"; fail "import flask from the exported layer failed"; }
n=$(grep -c "^# code object from '$sp/flask/__pycache__/" "$T/v2.log" || true)
[[ $n == "$from_pyc" ]] || fail "from the layer, $n flask modules from bytecode, not $from_pyc"
grep -q "^# code object from '$sp/.*\.py'" "$T/v2.log" && fail "the layer compiled site-packages modules"
umount /env
log "the exported working set runs alone, from bytecode"

# --- the same lock again from empty caches, another -j: the same pyc digests
pyc_digests() {
	"$CONDAFS" ls "$1" -R --all --json |
		python3 -c 'import json,sys; [print(n["path"], n["digest"]) for n in map(json.loads, sys.stdin) if n["path"].endswith(".pyc") and "/site-packages/" in n["path"]]'
}
"$CONDAFS" index "$SRC/conda-lock.yml" -o "$T/again.cfs" --store "$T/store2" \
	--cache "$T/pkgs2" -j 1 2>"$T/again.err" || { cat "$T/again.err"; fail "index again failed"; }
grep -q "compiled now, 0 remembered" "$T/again.err" || { cat "$T/again.err"; fail "index again: no compile"; }
pyc_digests "$IDX" >"$T/d1"
pyc_digests "$T/again.cfs" >"$T/d2"
[[ -s $T/d1 ]] || fail "no pyc digests listed"
cmp -s "$T/d1" "$T/d2" || { diff "$T/d1" "$T/d2" | head; fail "pyc digests differ between two index runs"; }
"$CONDAFS" index "$SRC/conda-lock.yml" -o "$T/third.cfs" --store "$T/store2" \
	--cache "$T/pkgs2" -j 2 2>"$T/third.err" || { cat "$T/third.err"; fail "index a third time failed"; }
grep -q "(0 compiled now, [0-9]* remembered)" "$T/third.err" ||
	{ cat "$T/third.err"; fail "an unchanged lock compiled again"; }
pyc_digests "$T/third.cfs" >"$T/d3"
cmp -s "$T/d1" "$T/d3" || fail "pyc digests differ when remembered"
log "two index runs: $(wc -l <"$T/d1") identical pyc digests; the third compiled nothing"

# --- --no-compile, and a lock for another platform
"$CONDAFS" index "$SRC/conda-lock.yml" -o "$T/nc.cfs" --store "$T/store2" --cache "$T/pkgs2" \
	--no-compile -q || fail "index --no-compile failed"
[[ -z $(pyc_digests "$T/nc.cfs") ]] || fail "--no-compile wrote bytecode"
sed 's/^# platform: .*/# platform: linux-aarch64/' "$SRC/explicit.txt" >"$T/arm.txt"
# (an empty cache: what was compiled from the same archives would be reused)
"$CONDAFS" index "$T/arm.txt" --platform linux-aarch64 -o "$T/arm.cfs" --store "$T/store2" \
	--cache "$T/pkgs3" 2>"$T/arm.err" || { cat "$T/arm.err"; fail "index for linux-aarch64 failed"; }
[[ $(grep -c "warning" "$T/arm.err") == 1 ]] || { cat "$T/arm.err"; fail "want one warning"; }
grep -q "warning: .*arm.txt: python3.11 of the lock is for linux-aarch64.*without bytecode" \
	"$T/arm.err" || { cat "$T/arm.err"; fail "the warning does not say why"; }
[[ -f $T/arm.cfs && -z $(pyc_digests "$T/arm.cfs") ]] || fail "linux-aarch64: no index, or bytecode"
log "--no-compile and another platform: no bytecode, one warning"
log "ok"
