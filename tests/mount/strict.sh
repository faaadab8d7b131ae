#!/bin/bash
# SPDX-License-Identifier: MIT
# Strict mode: a working set made from a trace of python3 -c 'import json'
# serves that command (condafs run --workset WS --strict); import sqlite3,
# outside the set, fails, and the log names the path, the process and its
# package; keep globs of the working set are served too; --workset without
# --strict or --prefetch is a usage error.
# Usage: strict.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
IDX=$T/py/env.cfs
TOOL=$HERE/trace-tool.py
RUN=("$CONDAFS" run "$IDX" --cache "$T/cache")

"${RUN[@]}" --trace "$T/trace" -- /env/bin/python3 -c 'import json' || fail "traced run failed"
python3 "$TOOL" workset "$T/trace" "$T/ws.json" --keep 'lib/python3.11/sqlite3/dump.py' >/dev/null
python3 "$TOOL" workset "$T/trace" "$T/ws-nokeep.json" >/dev/null

out=$("${RUN[@]}" --workset "$T/ws.json" --strict -- \
	/env/bin/python3 -c 'import json; print(json.dumps([2]))' 2>"$T/err") ||
	{ cat "$T/err"; fail "import json failed in strict mode"; }
[[ $out == "[2]" ]] || fail "python3 printed $out"
grep -q "outside the working set" "$T/err" && { cat "$T/err"; fail "import json touched paths outside the set"; }
log "import json: served by the working set"

rc=0
CONDAFS=$CONDAFS "${RUN[@]}" --workset "$T/ws-nokeep.json" --strict -- /bin/bash -c '
	/env/bin/python3 -c "import sqlite3" && exit 0
	"$CONDAFS" stats --json /env >"$1"
	exit 3' - "$T/stats" 2>"$T/err" || rc=$?
[[ $rc == 3 ]] || { cat "$T/err"; fail "import sqlite3 outside the set: exit $rc, expected 3"; }
grep -q "ModuleNotFoundError" "$T/err" || { cat "$T/err"; fail "no ModuleNotFoundError"; }
grep -q "path lib/python3.11/sqlite3 outside the working set accessed by python3\[[0-9]*\] (package python); refused (ENOENT, --strict)$" \
	"$T/err" || { cat "$T/err"; fail "no log line for lib/python3.11/sqlite3"; }
n=$(grep -c "outside the working set accessed by" "$T/err")
python3 - "$T/stats" "$n" <<'PY' || fail "stats: strict_refused"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["strict"] is True and s["strict_refused"] == int(sys.argv[2]), s
PY
log "import sqlite3: refused, $(grep -m1 "outside the working set" "$T/err")"

# Keep globs: sqlite3/dump.py is served (with its directories), the rest of
# sqlite3 is not; a path the set does not name is ENOENT.
"${RUN[@]}" --workset "$T/ws.json" --strict -- /bin/bash -c '
	cmp /env/lib/python3.11/sqlite3/dump.py "$1" || exit 1
	[[ -e /env/lib/python3.11/sqlite3/__init__.py ]] && exit 2
	[[ -e /env/lib/python3.11/ssl.py ]] && exit 3
	ls /env/lib/python3.11 | grep -qx ssl.py || exit 4
	exit 0' - <("$CONDAFS" cat "$IDX" lib/python3.11/sqlite3/dump.py) 2>"$T/err" ||
	{ cat "$T/err"; fail "keep glob: exit $?"; }
grep -q "path lib/python3.11/ssl.py outside the working set accessed by" "$T/err" ||
	{ cat "$T/err"; fail "no log line for ssl.py"; }
log "keep globs: served"

rc=0
"${RUN[@]}" --workset "$T/ws.json" -- true 2>"$T/err" || rc=$?
[[ $rc == 2 ]] && grep -q -- "--workset needs --strict or --prefetch" "$T/err" ||
	{ cat "$T/err"; fail "--workset alone: exit $rc"; }
rc=0
"$CONDAFS" mount "$IDX" /env --strict 2>"$T/err" || rc=$?
[[ $rc == 2 ]] && grep -q -- "--strict needs --workset" "$T/err" ||
	{ cat "$T/err"; fail "--strict alone: exit $rc"; }
echo '{"condafs_workset": 1, "entries": [{"path": "/abs", "type": "file"}]}' >"$T/bad.json"
rc=0
"$CONDAFS" mount "$IDX" /env --workset "$T/bad.json" --strict 2>"$T/err" || rc=$?
[[ $rc == 1 && $(wc -l <"$T/err") == 1 ]] && grep -q "bad.json: entry 0" "$T/err" ||
	{ cat "$T/err"; fail "bad working set: exit $rc"; }
log "ok"
