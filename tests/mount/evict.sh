#!/bin/bash
# SPDX-License-Identifier: MIT
# A small --cache-size: reads stay correct, the cache stays under its bound,
# least recently used objects are evicted, and an object that a process
# holds open survives eviction, by its own daemon and by another daemon
# sharing the cache.
# Usage: evict.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
CACHE=$T/cache
BOUND=$((160 * 1024))
HELD=lib/python3.7/site-packages/mock/mock.py
D=$("$CONDAFS" ls --json "$IDX" "$HELD" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')
cache_bytes() {
	find "$CACHE/objects" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# --speculate 0: a daemon idle between the steps below.  Speculation goes on
# loading neighbours after the reads that caused it, and what one daemon
# adds after another's last scan may take the cache past its bound
# (docs/mount.md, "The cache"), which the second step checks exactly.
mount_env "$IDX" /env --cache "$CACHE" --cache-size 160K --speculate 0
exec 3</env/$HELD
[[ -f $CACHE/objects/${D:0:2}/$D ]] || fail "the held object is not in the cache"
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 5
[[ -f $CACHE/objects/${D:0:2}/$D ]] || fail "the held object was evicted"
[[ $(cache_bytes) -le $BOUND ]] || fail "cache holds $(cache_bytes) bytes, bound $BOUND"
[[ $(stat_field /env evictions) -gt 0 ]] || fail "nothing was evicted"
check_cache "$CACHE"
log "one daemon: $(stat_field /env evictions) evictions, cache $(cache_bytes) <= $BOUND bytes"

# A second daemon on the same cache evicts too, but not what the first holds.
mkdir -p "$T/m2"
mount_env "$IDX" "$T/m2" --cache "$CACHE" --cache-size 160K --speculate 0
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" "$T/m2" --cat 0 --skip "$HELD"
[[ $(stat_field "$T/m2" evictions) -gt 0 ]] || fail "the second daemon evicted nothing"
[[ -f $CACHE/objects/${D:0:2}/$D ]] || fail "the second daemon evicted an object held by the first"
[[ $(cache_bytes) -le $BOUND ]] || fail "cache holds $(cache_bytes) bytes, bound $BOUND"
cmp <(cat <&3) <("$CONDAFS" cat "$IDX" $HELD) || fail "the held file reads wrong"
exec 3<&-
check_cache "$CACHE"
umount_env "$T/m2"

# Released, the object may go like any other.
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 0 >/dev/null
[[ $(cache_bytes) -le $BOUND ]] || fail "cache holds $(cache_bytes) bytes, bound $BOUND"
umount_env /env
log "ok"
