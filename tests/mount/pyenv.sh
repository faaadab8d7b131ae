#!/bin/bash
# SPDX-License-Identifier: MIT
# The realistic environment (tests/fixtures/mkpyenv.py: this machine's
# Python and a few pure-Python libraries) at /env: python runs imports and
# an entry point from the mount, and afterwards the cache holds objects for
# exactly the files that were opened (from strace; with speculation off,
# which would bring their neighbours in their packs along: packs.sh); then
# the whole tree matches the index.
# Usage: pyenv.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
command -v strace >/dev/null || skip "strace is not installed"
IDX=$T/py/env.cfs
CACHE=$T/cache

mount_env "$IDX" /env --cache "$CACHE" --speculate 0
[[ -x /env/bin/python3 ]] || fail "/env/bin/python3 is missing"
strace -f -qq -e trace=openat,open,execve -o "$T/trace1" \
	/env/bin/python3 -c 'import json, sqlite3, ssl, flask, sys; print(sys.prefix, flask.__name__)' \
	>"$T/out1" || fail "python3 failed on the mount"
[[ $(cat "$T/out1") == "/env flask" ]] || fail "python printed: $(cat "$T/out1")"
ep=/env/bin/flask
[[ -e $ep ]] || ep=/env/bin/pygmentize
[[ -e $ep ]] || fail "no entry point (flask, pygmentize) in /env/bin"
args=(--version)
[[ $ep == */pygmentize ]] && args=(-V)
strace -f -qq -e trace=openat,open,execve -o "$T/trace2" "$ep" "${args[@]}" >"$T/out2" 2>&1 ||
	{ cat "$T/out2"; fail "$ep ${args[*]} failed"; }
log "$ep ${args[*]}: $(head -n1 "$T/out2")"

want=$(python3 "$HERE/opened-objects.py" "$CONDAFS" "$IDX" /env "$T/trace1" "$T/trace2")
got=$(cache_objects "$CACHE")
if [[ $got != "$want" ]]; then
	diff <(echo "$want") <(echo "$got") | head -20 >&2
	fail "the cache does not hold exactly the objects of the opened files"
fi
check_cache "$CACHE"
n=$(grep -c . <<<"$want")
total=$("$CONDAFS" info --json "$IDX" | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"])')
[[ $(stat_field /env objects_fetched) == "$n" ]] || fail "objects_fetched != $n"
log "fetched $n of $total objects, exactly those opened"

# Everything else, compared with the index (and condafs cat for a sample).
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 20
check_cache "$CACHE"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"
umount_env /env
log "ok"
