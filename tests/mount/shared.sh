#!/bin/bash
# SPDX-License-Identifier: MIT
# Two mounts (two daemons) sharing one cache, read concurrently by many
# processes: every byte is right, no read fails, and the cache stays
# consistent even where both daemons fetched the same object at once.
# Speculation is off: it decodes objects beside the opens, which may then
# decode one of them too, and this counts what the opens fetch.
# Usage: shared.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

if ! pyenv_index "$T/env"; then
	corpus_index "$T/env"
fi
IDX=$T/env/env.cfs
CACHE=$T/cache
"$CONDAFS" ls -R --json "$IDX" >"$T/ls.json"
mkdir -p "$T/m2"
mount_env "$IDX" /env --cache "$CACHE" --speculate 0
mount_env "$IDX" "$T/m2" --cache "$CACHE" --speculate 0
pids=()
for i in $(seq 12); do
	python3 "$HERE/reader.py" /env "$T/ls.json" "$i" --all >"$T/r$i.out" 2>&1 &
	pids+=($!)
	python3 "$HERE/reader.py" "$T/m2" "$T/ls.json" "$((100 + i))" --all >"$T/s$i.out" 2>&1 &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do
	wait "$p" || bad=$((bad + 1))
done
if [[ $bad -gt 0 ]]; then
	cat "$T"/[rs]*.out | grep -v " 0 errors" | head -20 >&2
	fail "$bad of ${#pids[@]} readers failed"
fi
check_cache "$CACHE"
objects=$("$CONDAFS" info --json "$IDX" | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"])')
f1=$(stat_field /env objects_fetched)
f2=$(stat_field "$T/m2" objects_fetched)
have=$(cache_objects "$CACHE" | grep -c .)
[[ $have -ge $((objects - 1)) ]] || fail "the cache holds $have of $objects objects"
# Within one daemon, concurrent opens of one content fetch it once.
[[ $f1 -le $have && $f2 -le $have ]] || fail "a daemon fetched an object twice ($f1, $f2 for $have)"
[[ $(stat_field /env fetch_errors) == 0 && $(stat_field "$T/m2" fetch_errors) == 0 ]] ||
	fail "fetch errors"
log "24 readers over 2 daemons: fetched $f1 + $f2 for $have objects; no errors"
umount_env "$T/m2"
umount_env /env
log "ok"
