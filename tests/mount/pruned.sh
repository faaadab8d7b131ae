#!/bin/bash
# SPDX-License-Identifier: MIT
# Pruned paths in the mount: the realistic environment indexed with
# --preset stdlib-extras (and expert).  --pruned=enoent (the default):
# idlelib is ENOENT and not listed, its first access is logged once with
# the path, the process and the rule, python still imports json; with
# --pruned=fetch the same files are served byte for byte and the log says
# "served anyway"; condafs stats counts the pruned paths accessed.
# Usage: pruned.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

preset_index "$T/extras.cfs" stdlib-extras
preset_index "$T/expert.cfs" expert
IDX=$T/extras.cfs
LOG=$T/daemon.log
IDLE=lib/python3.11/idlelib
RULE='preset:stdlib-extras:[0-9]*: exclude lib/python3\.\*/idlelib/\*\*'

"$CONDAFS" ls --all "$IDX" "$IDLE" >/dev/null || fail "the index has no $IDLE tombstone"

# --pruned=enoent
mount_env "$IDX" /env --cache "$T/cache"
[[ $(stat_field /env pruned) == enoent ]] || fail "pruned is not enoent by default"
if ls "/env/$IDLE" >"$T/out" 2>&1; then
	fail "ls /env/$IDLE succeeded"
fi
grep -q "No such file or directory" "$T/out" || fail "ls: $(cat "$T/out")"
ls /env/lib/python3.11 >"$T/list"
grep -qx idlelib "$T/list" && fail "idlelib is listed"
[[ -e /env/$IDLE/idle.py ]] && fail "$IDLE/idle.py exists"
grep -q "pruned path $IDLE accessed by ls\[[0-9]*\] (pruned by $RULE); refused (ENOENT)$" "$LOG" ||
	{ cat "$LOG"; fail "no log line for $IDLE"; }
# Again, by another process: still one line (the kernel caches the answer).
stat "/env/$IDLE" >/dev/null 2>&1 && fail "stat /env/$IDLE succeeded"
[[ $(grep -c "pruned path $IDLE accessed" "$LOG") == 1 ]] || fail "$IDLE logged more than once"
out=$(/env/bin/python3 -c 'import json; print(json.dumps([1]))') || fail "python3 failed"
[[ $out == "[1]" ]] || fail "python3 printed $out"
n=$(grep -c "pruned path .* accessed by" "$LOG")
[[ $(stat_field /env pruned_accesses) == "$n" ]] ||
	fail "pruned_accesses $(stat_field /env pruned_accesses), but $n lines in the log"
"$CONDAFS" stats /env >"$T/stats"
grep -q "^pruned accesses *$n$" "$T/stats" || fail "condafs stats: no pruned accesses row"
log "enoent: $IDLE refused and logged; $n pruned accesses"
umount_env /env

# --pruned=fetch: served anyway, same bytes as condafs cat, still logged once.
: >"$LOG"
mount_env "$IDX" /env --cache "$T/cache" --pruned=fetch
ls /env/lib/python3.11 >"$T/list"
grep -qx idlelib "$T/list" || fail "fetch: idlelib is not listed"
cmp "/env/$IDLE/idle.py" <("$CONDAFS" cat "$IDX" "$IDLE/idle.py") || fail "fetch: idle.py differs"
cmp "/env/$IDLE/idle.py" <("$CONDAFS" cat "$IDX" "$IDLE/idle.py") || fail "fetch: idle.py differs"
grep -q "pruned path $IDLE/idle.py accessed by cmp\[[0-9]*\] (pruned by $RULE); served anyway (--pruned=fetch)$" \
	"$LOG" || { cat "$LOG"; fail "fetch: no log line for idle.py"; }
[[ $(grep -c "pruned path $IDLE/idle.py accessed" "$LOG") == 1 ]] || fail "fetch: logged twice"
# Listed with readdirplus, still logged at the first lookup.
ls -l "/env/$IDLE" >/dev/null
[[ $(grep -c "pruned path $IDLE/" "$LOG") -gt 5 ]] || fail "fetch: ls -l of $IDLE not logged"
n=$(grep -c "pruned path .* accessed by" "$LOG")
[[ $(stat_field /env pruned_accesses) == "$n" ]] || fail "fetch: pruned_accesses != $n"
log "fetch: served, $n pruned accesses logged"
umount_env /env

# expert: python still runs; what it looks for is logged with its rule.
: >"$LOG"
mount_env "$T/expert.cfs" /env --cache "$T/cache"
out=$(/env/bin/python3 -c 'import json, sqlite3; print("ok")') || fail "expert: python3 failed"
[[ $out == ok ]] || fail "expert: python3 printed $out"
# The bytecode a normal run loads is kept; python -O looks for what was pruned.
if grep -q "pruned path lib/python3.11/json/__pycache__/__init__.cpython-311.pyc " "$LOG"; then
	cat "$LOG"; fail "expert: json's bytecode was pruned"
fi
out=$(/env/bin/python3 -O -c 'import json; print("ok")') || fail "expert: python3 -O failed"
[[ $out == ok ]] || fail "expert: python3 -O printed $out"
grep -q "pruned path lib/python3.11/json/__pycache__/__init__.cpython-311.opt-1.pyc accessed by python3\[[0-9]*\] (pruned by preset:bytecode:" \
	"$LOG" || { cat "$LOG"; fail "expert: no log line for json's .opt-1.pyc"; }
umount_env /env
check_cache "$T/cache"
log "ok"
