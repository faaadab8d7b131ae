#!/bin/bash
# SPDX-License-Identifier: MIT
# Real Anaconda packages (the shared corpus' real-defaults: 35 linux-64
# packages of December 2020).  An @EXPLICIT lock of every one that is not
# noarch: python is indexed once and mounted once at /env:
#   1. the env's own programs run in a root that holds only the host's /usr
#      and /etc, and print what a correct relocation prints (openssl's
#      OPENSSLDIR, sqlite3 and xz from their own libraries, tclsh's compiled-in
#      library, infocmp's terminfo through the lib/terminfo symlink that
#      ncurses ships in its info component);
#   2. every path, mode, symlink target, mtime and byte of the mount equals
#      what conda installs from Debian's cph extraction of the same packages
#      (tests/fixtures/cph_install.py: text and binary placeholders,
#      ncurses' 153 binary-mode files among them);
#   3. a layer exported from the working set of step 1 runs the same
#      programs again, in the same root, with the layer at /env.
# Usage: real-defaults.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

RD=$(real_defaults_dir) || skip "the corpus' real-defaults packages are not available" \
	"(\$CFS_CORPUS, ../shared/corpus beside the checkout or /work/shared/corpus)"
for tool in cph bwrap tar; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (tools/deps.sh installs it)"
done
bwrap --ro-bind / / true 2>/dev/null || skip "bwrap does not work here"

# The lock: every package that is not noarch: python (they would need a
# python, which the corpus lacks), one build per name.
python3 - "$SRCROOT" "$RD" "$T/lock.txt" <<'PY' >/dev/null || fail "cannot write the lock of $RD"
import hashlib, io, json, os, sys, tarfile, zipfile
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "fixtures"))
import reference
rd, out = sys.argv[2:]
chosen = {}
for fn in sorted(os.listdir(rd)):
    if not fn.endswith(".conda"):
        continue
    path = os.path.join(rd, fn)
    with zipfile.ZipFile(path) as z:
        info = next(n for n in z.namelist() if n.startswith("info-"))
        tar = tarfile.open(fileobj=io.BytesIO(reference.zstd_decompress(z.read(info))))
        index = json.load(tar.extractfile("info/index.json"))
    noarch = index.get("noarch")
    if noarch == "python" or (isinstance(noarch, dict) and noarch.get("type") == "python"):
        continue
    chosen[index["name"]] = path
with open(out, "w") as f:
    f.write("# platform: linux-64\n@EXPLICIT\n")
    for path in sorted(chosen.values()):
        sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
        f.write(f"file://{path}#sha256:{sha}\n")
PY
n=$(grep -c '^file://' "$T/lock.txt")
grep -q '/ncurses-6.2-he6710b0_1.conda#' "$T/lock.txt" || fail "ncurses is not in the lock"
log "lock: $n packages of $RD"

"$CONDAFS" index "$T/lock.txt" -o "$T/env.cfs" --store "$T/store" --cache "$T/pkgs" -q \
	2>"$T/index.err" || { cat "$T/index.err" >&2; fail "condafs index failed"; }

# A root of the host's /usr and /etc (and /bin, /lib, /lib64 as the host
# has them), with ENVDIR bound at /env.
root_args() {
	local d
	ROOT=(bwrap --ro-bind /usr /usr --ro-bind /etc /etc)
	for d in /bin /lib /lib64; do
		if [[ -L $d ]]; then
			ROOT+=(--symlink "$(readlink "$d")" "$d")
		elif [[ -d $d ]]; then
			ROOT+=(--ro-bind "$d" "$d")
		fi
	done
	ROOT+=(--proc /proc --dev /dev --tmpfs /tmp --unshare-net --clearenv
		--setenv PATH /env/bin:/usr/bin:/bin --setenv HOME /tmp --setenv LANG C.UTF-8
		--ro-bind "$1" /env)
}

# expect WHAT WANT CMD...: CMD's stdout must be WANT.
expect() {
	local what=$1 want=$2 out rc=0
	shift 2
	out=$("$@" 2>"$T/prog.err") || rc=$?
	[[ $rc == 0 ]] || { cat "$T/prog.err" >&2; fail "$what: exit $rc"; }
	[[ $out == "$want" ]] || fail "$what printed '$out', expected '$want'"
}

# programs ENVDIR WHERE: the env's programs, relocated for /env.
programs() {
	local envdir=$1 where=$2
	root_args "$envdir"
	expect "openssl version -d ($where)" 'OPENSSLDIR: "/env/ssl"' "${ROOT[@]}" /env/bin/openssl version -d
	expect "sqlite3 ($where)" '3.33.0|42' "${ROOT[@]}" /env/bin/sqlite3 :memory: 'select sqlite_version(), 6*7;'
	expect "xz round trip ($where)" $'round trip ok\nxz (XZ Utils) 5.2.5\nliblzma 5.2.5' \
		"${ROOT[@]}" /bin/sh -c 'seq 1 50000 >/tmp/data && /env/bin/xz -9 -k /tmp/data &&
			rm /tmp/data && /env/bin/xz -d /tmp/data.xz && seq 1 50000 | cmp - /tmp/data &&
			echo round trip ok && /env/bin/xz --version'
	expect "tclsh8.6 ($where)" $'/env/lib/tcl8.6\n/env/lib/tcl8.6\n8.6.10\n1970' \
		"${ROOT[@]}" /bin/sh -c 'printf "%s\n" "puts [info library]" \
			"puts [tcl::pkgconfig get scriptdir,runtime]" "puts [info patchlevel]" \
			"puts [clock format 0 -gmt 1 -format %Y]" | /env/bin/tclsh8.6'
	# libtinfow's compiled-in database, and the same through lib/terminfo.
	expect "infocmp xterm ($where)" \
		$'#\tReconstructed via infocmp from file: /env/share/terminfo/x/xterm\nxterm|xterm terminal emulator (X Window System),' \
		"${ROOT[@]}" /bin/sh -c '/env/bin/infocmp xterm | head -n 2'
	expect "infocmp xterm, TERMINFO=/env/lib/terminfo ($where)" \
		$'#\tReconstructed via infocmp from file: /env/lib/terminfo/x/xterm\nxterm|xterm terminal emulator (X Window System),' \
		"${ROOT[@]}" --setenv TERMINFO /env/lib/terminfo /bin/sh -c '/env/bin/infocmp xterm | head -n 2'
	log "$where: openssl, sqlite3, xz, tclsh8.6 and infocmp print the relocated answers"
}

mount_env "$T/env.cfs" /env --store "$T/store" --cache "$T/cache" --trace "$T/trace"
programs /env "the mount"
# The working set is what the programs used, before the tree is read whole.
cp "$T/trace" "$T/programs.trace"

python3 "$SRCROOT/tests/fixtures/cph_install.py" "$T/lock.txt" --out "$T/expected" \
	>"$T/expected.log" 2>&1 || { cat "$T/expected.log" >&2; fail "cph_install.py failed"; }
python3 - "$T/expected.log" <<'PY' || fail "the reference install does not look like real-defaults"
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
# ncurses alone has 153 binary-mode files; every one of them changes.
assert s["binary_relocated"] >= 153 and s["binary_changed"] == s["binary_relocated"], s
assert s["text_relocated"] > 0 and s["symlinks"] > 0 and s["problems"] == 0, s
PY
python3 "$SRCROOT/tests/fixtures/compare.py" "$T/expected" /env --exists-only conda-meta \
	--ignore-symlink-mtime --max 40 >"$T/compare.out" ||
	{ cat "$T/compare.out" >&2; fail "the mount differs from conda's install of cph's extraction"; }
log "mount = cph extraction + conda's install rules: $(tail -n1 "$T/expected.log")"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"
umount_env /env

# The layer of what the programs used, at /env in the same root.
"$CONDAFS" workset "$T/programs.trace" -o "$T/programs.ws" --index "$T/env.cfs" -q ||
	fail "condafs workset failed"
"$CONDAFS" export "$T/env.cfs" --workset "$T/programs.ws" -o "$T/layer.tar" --format tar \
	--store "$T/store" -q || fail "condafs export failed"
mkdir "$T/layer"
tar -C "$T/layer" -xf "$T/layer.tar" || fail "cannot extract the layer"
[[ -L $T/layer/env/lib/terminfo ]] || fail "the layer has no lib/terminfo symlink"
programs "$T/layer/env" "the exported layer"
python3 - "$T/layer/env" "$T/expected" <<'PY' || fail "the layer is not a small part of the env"
import os, sys
count = lambda root: sum(len(f) for _, _, f in os.walk(root))
layer, env = count(sys.argv[1]), count(sys.argv[2])
assert 0 < layer < env // 4, (layer, env)
print(f"real-defaults: the layer holds {layer} of {env} files and links")
PY
log "ok"
