#!/bin/bash
# SPDX-License-Identifier: MIT
# Prefetch: after condafs mount --prefetch WS, once the stats say the
# prefetch is done, the cache holds every object of the working set's files
# and nothing else; a trace as --prefetch works too (its opened files);
# opens during the prefetch get the right bytes; a warm prefetch fetches
# nothing.  Speculation is off (--speculate 0): it would bring the pack
# neighbours of the opens that miss along (packs.sh tests it).
# Usage: prefetch.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
IDX=$T/py/env.cfs
TOOL=$HERE/trace-tool.py

"$CONDAFS" run "$IDX" --cache "$T/cache0" --trace "$T/trace" -- \
	/env/bin/python3 -c 'import json, sqlite3' || fail "traced run failed"
python3 "$TOOL" workset "$T/trace" "$T/ws.json" >/dev/null

# wait_prefetch MOUNTPOINT: polls the stats (bounded) until the prefetch is
# through, then checks that nothing failed.
wait_prefetch() {
	local i
	for i in $(seq 1200); do
		python3 - "$1" <<'PY' && return 0
import json, subprocess, sys, os
s = json.loads(subprocess.run([os.environ["CONDAFS"], "stats", "--json", sys.argv[1]],
                              check=True, capture_output=True, text=True).stdout)
sys.exit(0 if s["prefetch_done"] == s["prefetch_objects"] else 1)
PY
		sleep 0.05
	done
	fail "the prefetch did not finish"
}
export CONDAFS

want=$(python3 "$TOOL" objects "$CONDAFS" "$IDX" "$T/ws.json")
n=$(grep -c . <<<"$want")
mount_env "$IDX" /env --cache "$T/cache" --prefetch "$T/ws.json" --prefetch-jobs 3 --speculate 0
wait_prefetch /env
[[ $(stat_field /env prefetch_objects) == "$n" ]] || fail "prefetch_objects != $n"
[[ $(stat_field /env prefetched) == "$n" ]] || fail "prefetched != $n"
[[ $(stat_field /env prefetch_errors) == 0 ]] || fail "prefetch errors"
[[ $(stat_field /env opens) == 0 ]] || fail "the prefetch counted as opens"
got=$(cache_objects "$T/cache")
if [[ $got != "$want" ]]; then
	diff <(echo "$want") <(echo "$got") | head >&2
	fail "the cache does not hold exactly the working set's objects"
fi
check_cache "$T/cache"
"$CONDAFS" stats /env >"$T/stats"
grep -q "^prefetch *$n of $n ($n fetched, 0 failed)$" "$T/stats" || { cat "$T/stats"; fail "stats row"; }
# Everything it prefetched is served from the cache.
/env/bin/python3 -c 'import json, sqlite3' || fail "python3 failed after the prefetch"
[[ $(stat_field /env objects_fetched) == "$n" ]] || fail "python3 fetched more than the working set"
umount_env /env
log "working set: $n objects prefetched, exactly those"

# A trace as --prefetch: the files it opened, on a fresh cache, while
# python runs at the same time (opens join the fetches in flight).
want=$(python3 - "$CONDAFS" "$IDX" "$T/trace" <<'PY'
import json, subprocess, sys
condafs, index, trace = sys.argv[1:]
ls = subprocess.run([condafs, "ls", "-R", "--json", index], check=True, capture_output=True, text=True)
entries = {e["path"]: e for e in map(json.loads, ls.stdout.splitlines())}
opened = {e["path"] for e in map(json.loads, open(trace)) if e.get("op") == "open"}
print("\n".join(sorted({entries[p]["digest"] for p in opened if entries[p]["size"]})))
PY
)
n=$(grep -c . <<<"$want")
mount_env "$IDX" /env --cache "$T/cache2" --prefetch "$T/trace" --speculate 0
out=$(/env/bin/python3 -c 'import json, sqlite3; print("ok")') || fail "python3 failed during the prefetch"
[[ $out == ok ]] || fail "python3 printed $out"
wait_prefetch /env
[[ $(stat_field /env prefetch_objects) == "$n" ]] || fail "trace: prefetch_objects != $n"
[[ $(stat_field /env prefetch_errors) == 0 ]] || fail "trace: prefetch errors"
[[ $(stat_field /env objects_fetched) == "$n" ]] || fail "trace: an object was fetched twice or more"
[[ $(cache_objects "$T/cache2") == "$want" ]] || fail "trace: the cache does not hold the opened objects"
check_cache "$T/cache2"
umount_env /env
log "trace: $n objects, shared with python3's opens"

# Warm: nothing to fetch.
mount_env "$IDX" /env --cache "$T/cache" --prefetch "$T/ws.json"
wait_prefetch /env
[[ $(stat_field /env prefetched) == 0 ]] || fail "warm: fetched again"
umount_env /env

rc=0
echo '{"not": "a working set"}' >"$T/bad.json"
"$CONDAFS" mount "$IDX" /env --prefetch "$T/bad.json" 2>"$T/err" || rc=$?
[[ $rc == 1 ]] && grep -q "not a condafs working set or trace" "$T/err" ||
	{ cat "$T/err"; fail "bad --prefetch file: exit $rc"; }
log "ok"
