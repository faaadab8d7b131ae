#!/bin/bash
# SPDX-License-Identifier: MIT
# The realistic environment written as a pixi.lock (version 6) with flask,
# werkzeug, click and jinja2 as wheels built from this machine's
# site-packages, Debian's pip and setuptools wheels, and a wheel with a
# .data directory (tests/fixtures/mkwheels.py).  condafs index refuses the
# git entry by name, then skips it with --skip-unbuildable; a wrong tag, a
# hash mismatch and a member that does not match RECORD are refused.  On the
# mount: python imports the wheels, their console scripts run, pip sees and
# checks them, every RECORD line holds, and the wheels' files are what pip
# itself installs from the same wheels.
# Usage: wheels.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
PYENV=$BUILDDIR/tests/mount/pyenv
W=$T/w
rc=0
python3 "$SRCROOT/tests/fixtures/mkwheels.py" "$PYENV" "$W" >"$T/mkwheels.log" 2>&1 || rc=$?
[[ $rc == 77 ]] && skip "$(cat "$T/mkwheels.log")"
[[ $rc == 0 ]] || { cat "$T/mkwheels.log" >&2; fail "mkwheels.py failed"; }
XY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["python_xy"])' "$PYENV/manifest.json")
SP=/env/lib/python$XY/site-packages
IDX=$T/env.cfs
index() { "$CONDAFS" index "$W/pixi.lock" --store "$PYENV/store" --cache "$PYENV/pkgs" -j 2 "$@"; }

# Refused, in one line each, leaving no index behind.
refused() { # ENV OUT WANT...
	local env=$1 out=$2 want
	shift 2
	if index -e "$env" -o "$out" -q 2>"$T/err"; then fail "index -e $env succeeded"; fi
	[[ $(wc -l <"$T/err") == 1 ]] || { cat "$T/err" >&2; fail "index -e $env: not one line"; }
	for want in "$@"; do
		grep -qF -- "$want" "$T/err" || fail "index -e $env: '$want' not in: $(cat "$T/err")"
	done
	[[ ! -e $out ]] || fail "index -e $env left $out"
	log "refused -e $env: $(cat "$T/err")"
}
refused default "$IDX" "pixi.lock:" "toolkit (git+https://github.com/example/toolkit.git" \
	"is a git checkout" "--skip-unbuildable"
refused bad-tag "$T/bad.cfs" "datademo-1.0-cp27-cp27mu-manylinux1_x86_64.whl: wheel tags" \
	"do not fit python $XY on linux-64"
refused bad-hash "$T/bad.cfs" "datademo-1.0-py3-none-any.whl" "sha256 mismatch"
refused bad-record "$T/bad.cfs" "datademo/__init__.py: hash does not match RECORD"

index -o "$IDX" --skip-unbuildable 2>"$T/index.log" || { cat "$T/index.log" >&2; fail "index"; }
grep -q "skipping 1 entry condafs cannot install: toolkit (a git checkout)" "$T/index.log" ||
	fail "no warning naming the skipped git entry: $(cat "$T/index.log")"
grep -q "indexed 7 packages and 7 wheels (1 skipped)" "$T/index.log" ||
	fail "unexpected summary: $(cat "$T/index.log")"
"$CONDAFS" info --json "$IDX" >"$T/info.json"
python3 - "$T/info.json" "$W/wheels.json" <<'EOF' || fail "the index does not record the wheels"
import json, sys
info, wheels = (json.load(open(p)) for p in sys.argv[1:3])
pkgs = {p["name"].lower(): p for p in info["package_list"]}
for w in wheels:
    p = pkgs.get(w["name"])
    assert p and p["manager"] == "pip" and p["status"] == "installed" and p["version"] == w["version"], (w, p)
    assert p["files"] > 2, p
t = pkgs["toolkit"]
assert t["manager"] == "pip" and t["status"] == "skipped", t
EOF

# pip's own install of the same wheels, as the reference (Debian's pip wheel
# runs from the wheel itself).
PIPWHL=$(ls "$W"/wheels/pip-*.whl)
python3 "$PIPWHL/pip" install -q --ignore-installed --no-deps --no-index --no-compile \
	--no-warn-script-location \
	--disable-pip-version-check --prefix "$T/ref" "$W"/wheels/*.whl >"$T/pip.log" 2>&1 ||
	{ cat "$T/pip.log" >&2; fail "pip install (reference) failed"; }

mount_env "$IDX" /env --cache "$T/cache"
out=$(/env/bin/python3 -c 'import setuptools, flask, werkzeug, click, jinja2, pip, datademo, datademo_extra
print(*sorted({m.__file__.split("/site-packages/")[0] for m in (flask, werkzeug, click, jinja2, pip, setuptools, datademo, datademo_extra)}))') ||
	fail "python cannot import the wheels"
[[ $out == "/env/lib/python$XY" ]] || fail "wheels imported from $out"
/env/bin/flask --version >"$T/flask.out" 2>&1 || { cat "$T/flask.out"; fail "/env/bin/flask failed"; }
grep -q "^Flask 3" "$T/flask.out" || fail "flask --version: $(cat "$T/flask.out")"
/env/bin/pip --version >"$T/pip.out" || fail "/env/bin/pip failed"
grep -q "^pip .* from $SP/pip (python $XY)" "$T/pip.out" || fail "pip --version: $(cat "$T/pip.out")"
[[ $(/env/bin/datademo-hello) == "datademo hello 42" ]] || fail "datademo-hello"
[[ $(/env/bin/datademo-gui) == "datademo gui" ]] || fail "datademo-gui"
[[ $(/env/bin/datademo-run) == "datademo-run 42 7" ]] || fail "datademo-run (a #!python .data script)"
[[ $(head -n1 /env/bin/datademo-run) == "#!/env/bin/python$XY" ]] || fail "datademo-run's shebang"
[[ $(/env/bin/datademo-sh) == "datademo-sh" ]] || fail "datademo-sh (a .data script kept as is)"
[[ -f /env/include/python$XY/datademo/datademo.h && -f /env/share/datademo/config.json ]] ||
	fail ".data headers and data are not where pip puts them"
for w in pip3 "pip$XY"; do
	[[ -x /env/bin/$w ]] || fail "/env/bin/$w (a console script of pip's wheel) is missing"
done
log "imports, flask, pip, datademo scripts: ok ($(cat "$T/pip.out"))"
/env/bin/pip list --disable-pip-version-check >"$T/list.out" 2>&1 || fail "pip list failed"
for d in Flask Werkzeug click Jinja2 pip setuptools datademo blinker MarkupSafe; do
	grep -qi "^$d " "$T/list.out" || fail "pip list lacks $d: $(cat "$T/list.out")"
done
/env/bin/pip check --disable-pip-version-check >"$T/check.out" 2>&1 ||
	fail "pip check: $(cat "$T/check.out")"
log "pip list and pip check: $(cat "$T/check.out")"

# Every RECORD line of the wheels holds on the mount, INSTALLER says condafs,
# and the bytecode is listed.
/env/bin/python3 - <<'EOF' || fail "RECORD of an installed wheel does not hold"
import base64, hashlib, importlib.metadata as md, os, sys
n = pyc = 0
for d in md.distributions():
    if (d.read_text("INSTALLER") or "").strip() != "condafs":
        continue
    for f in d.files:
        p = f.locate()
        assert os.path.isfile(p), f"{d.name}: {f} is missing"
        if f.hash is None:
            assert str(f).endswith(".dist-info/RECORD"), f"{d.name}: {f} without a hash"
            continue
        data = open(p, "rb").read()
        h = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=").decode()
        assert h == f.hash.value and f.size == len(data), f"{d.name}: {f} does not match RECORD"
        n += 1
        pyc += str(f).endswith(".pyc")
assert n > 1000 and pyc > 100, (n, pyc)
print(f"wheels: {n} RECORD lines hold, {pyc} of them bytecode")
EOF

# The wheels' files against pip's install: the same paths and bytes (scripts
# after their first line, which names each install's own python), apart from
# what each installer writes itself.
python3 - "$T/ref" /env "$XY" <<'EOF' || fail "condafs and pip install the wheels differently"
import os, sys
ref, env, xy = sys.argv[1:4]
def tree(root):
    out = {}
    for base in ("bin", "include", "share", f"lib/python{xy}/site-packages"):
        for dp, _, fns in os.walk(os.path.join(root, base)):
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), root)
                if "__pycache__" in rel or rel.endswith((".dist-info/RECORD", ".dist-info/INSTALLER",
                                                         ".dist-info/REQUESTED", ".dist-info/direct_url.json")):
                    continue
                out[rel] = os.path.join(dp, fn)
    return out
r = tree(ref)
e = tree(env)
missing = sorted(set(r) - set(e))
assert not missing, f"pip installs what condafs does not: {missing[:10]}"
differ = []
for rel, p in r.items():
    a, b = open(p, "rb").read(), open(e[rel], "rb").read()
    if rel.startswith("bin/") and a.startswith(b"#!"):
        a, b = a.split(b"\n", 1)[1], b.split(b"\n", 1)[1]
    if a != b or (os.stat(p).st_mode & 0o111 != 0) != (os.stat(e[rel]).st_mode & 0o111 != 0):
        differ.append(rel)
assert not differ, f"content or mode differs from pip's: {differ[:10]}"
# And the other way: nothing a condafs-installed RECORD lists is missing from pip's.
sp = f"lib/python{xy}/site-packages"
extra = []
for di in os.listdir(os.path.join(env, sp)):
    inst = os.path.join(env, sp, di, "INSTALLER")
    if not di.endswith(".dist-info") or not os.path.exists(inst) or open(inst).read() != "condafs\n":
        continue
    for line in open(os.path.join(env, sp, di, "RECORD")):
        rel = os.path.normpath(os.path.join(sp, line.rsplit(",", 2)[0]))
        if "__pycache__" not in rel and not rel.endswith(("/RECORD", "/INSTALLER")) and rel not in r:
            extra.append(rel)
assert not extra, f"condafs installs what pip does not: {extra[:10]}"
print(f"wheels: {len(r)} files as pip installs them")
EOF
umount_env /env
log "ok"
