#!/bin/bash
# SPDX-License-Identifier: MIT
# Tracing through condafs run: the trace has a header per run, then one
# valid JSON line per (path, op) first occurrence with pid and comm: the
# lookup and open of bin/python3 (and what it points to), the open of
# json/__init__.py by python3; the command's exit status comes back.  A trace survives kill -9 of the daemon mid-
# run: every line before it parses.  condafs mount --trace writes the same.
# Usage: trace.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
IDX=$T/py/env.cfs
TR=$T/trace
TOOL=$HERE/trace-tool.py
# The bytecode cache elsewhere (and empty): python reads the sources.
PY=(/env/bin/python3 -X "pycache_prefix=$T/pyc" -c 'import json; print(json.dumps({"a": 1}))')

out=$("$CONDAFS" run "$IDX" --cache "$T/cache" --trace "$TR" -- "${PY[@]}") ||
	fail "condafs run python3 failed"
[[ $out == '{"a": 1}' ]] || fail "python3 printed $out"
# bin/python3 is usually a symlink: exec opens its target.
target=$("$CONDAFS" ls --json "$IDX" bin/python3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target"] or "")')
exe=bin/python3
[[ -n $target ]] && exe=bin/$target
python3 "$TOOL" check "$TR" --runs 1 --has bin/python3:lookup --has "$exe:open" \
	--has lib/python3.11/json/__init__.py:open:python3 --has lib/python3.11/json/__init__.py:lookup:python3 \
	--has lib/python3.11:readdir:python3 || fail "bad trace"
python3 - "$TR" "$IDX" <<'PY' || fail "bad header"
import json, os, sys
h = json.loads(open(sys.argv[1]).readline())
assert h["index"] == os.path.realpath(sys.argv[2]), h
assert h["prefix"] == "/env" and len(h["lock_sha256"]) == 64 and h["started"] > 1e9, h
PY
log "run --trace: $(python3 "$TOOL" check "$TR")"

# The command's exit status comes back through a traced run.
rc=0
"$CONDAFS" run "$IDX" --cache "$T/cache" --trace "$T/trace7" -- /bin/sh -c 'exit 7' || rc=$?
[[ $rc == 7 ]] || fail "exit 7 came back as $rc"
python3 "$TOOL" check "$T/trace7" --runs 1 >/dev/null || fail "bad trace of sh -c 'exit 7'"

# A second run appends its own header; the same process' paths again.
"$CONDAFS" run "$IDX" --cache "$T/cache" --trace "$TR" -- "${PY[@]}" >/dev/null ||
	fail "second run failed"
python3 "$TOOL" check "$TR" --runs 2 >/dev/null || fail "bad trace after two runs"

# condafs mount --trace: the same lines, and repeats are not written again.
mount_env "$IDX" /env --cache "$T/cache" --trace "$T/mtrace"
"${PY[@]}" >/dev/null
n=$(wc -l <"$T/mtrace")
"${PY[@]}" >/dev/null
cat /env/lib/python3.11/json/__init__.py >/dev/null
[[ $(wc -l <"$T/mtrace") == "$n" ]] || fail "repeated accesses were traced again"
[[ $(stat_field /env trace_lines) == $((n - 1)) ]] || fail "trace_lines != $((n - 1))"
python3 "$TOOL" check "$T/mtrace" --runs 1 --has lib/python3.11/json/__init__.py:open >/dev/null ||
	fail "bad mount trace"
umount_env /env
log "mount --trace: $n lines, no repeats"

# kill -9 of the daemon mid-run: everything written before it parses.
KT=$T/ktrace
rc=0
CONDAFS=$CONDAFS "$CONDAFS" run "$IDX" --cache "$T/cache" --trace "$KT" -- /bin/bash -c '
	"$@" >/dev/null || exit 1
	pid=$("$CONDAFS" stats --json /env | python3 -c "import json,sys; print(json.load(sys.stdin)[\"pid\"])")
	kill -9 "$pid"
	ls /env/lib >/dev/null 2>&1
	exit 0' - "${PY[@]}" 2>"$T/kerr" || rc=$?
[[ $rc == 0 ]] || { cat "$T/kerr"; fail "kill -9 run: exit $rc"; }
grep -q "the mount daemon exited early (signal 9)" "$T/kerr" || { cat "$T/kerr"; fail "no warning"; }
python3 "$TOOL" check "$KT" --runs 1 --has lib/python3.11/json/__init__.py:open >/dev/null ||
	fail "the trace did not survive kill -9"
log "kill -9: $(python3 "$TOOL" check "$KT")"
log "ok"
