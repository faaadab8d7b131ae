#!/bin/bash
# SPDX-License-Identifier: MIT
# Store failures over HTTP (nginx on 127.0.0.1): the server down, a 500, a
# corrupted object, an object of the wrong content, a stalled transfer.
# Each makes the open fail with EIO within the configured bound, logs one
# line naming the file and the cause, leaves nothing in the cache, and the
# daemon keeps serving; the open succeeds once the store is healthy.  Then
# kill -9 of the daemon in the middle of a fetch: after a remount the cache
# is consistent and reused.
# Usage: faults.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
CACHE=$T/cache
start_nginx "$T/corpus/store"
FILE=bin/hello-1.0
BIG=lib/python3.7/site-packages/mock/mock.py
digest_of() {
	"$CONDAFS" ls --json "$IDX" "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}
D=$(digest_of $FILE)
REL=objects/${D:0:2}/$D.zst

# Objects one at a time (--no-packs): the steps below fetch exactly one
# object each.  Faults in pack ranges: packs.sh.
mount_env "$IDX" /env --store "$URL/flaky" --cache "$CACHE" --fetch-timeout 4 --fetch-retries 1 --no-packs
PID=$(daemon_pid /env)

# expect_eio WHAT CAUSE: reading $FILE fails with EIO, the log names the
# file, the object's URL and CAUSE, the cache stays clean, the daemon lives.
expect_eio() {
	local what=$1 cause=$2 out errors
	errors=$(stat_field /env fetch_errors)
	if out=$(cat /env/$FILE 2>&1); then
		fail "$what: reading $FILE succeeded"
	fi
	[[ $out == *"Input/output error"* ]] || fail "$what: expected EIO, got: $out"
	grep -F "condafs: error: $FILE: $URL/flaky/$REL: " "$T/daemon.log" | tail -n1 >"$T/line"
	grep -q -- "$cause" "$T/line" || { cat "$T/daemon.log" >&2; fail "$what: no log line with '$cause'"; }
	[[ ! -e $CACHE/objects/${D:0:2}/$D ]] || fail "$what: the object entered the cache"
	check_cache "$CACHE"
	kill -0 "$PID" || fail "$what: the daemon died"
	[[ $(stat_field /env fetch_errors) -gt $errors ]] || fail "$what: fetch_errors did not grow"
	cat /env/bin/.link-scripts-pre-unlink.sh >/dev/null || fail "$what: other files fail too"
	log "$what: EIO; $(cat "$T/line")"
}

# 1. The server is down (connection refused), then back.
cat /env/bin/.link-scripts-pre-unlink.sh >/dev/null || fail "first read failed"
stop_nginx
expect_eio "server down" "Could not connect\|Couldn't connect\|Failed to connect"
start_nginx "$T/corpus/store" "$PORT"
cmp /env/$FILE <("$CONDAFS" cat "$IDX" $FILE) || fail "server back: content differs"
rm -f "$CACHE/objects/${D:0:2}/$D" # fetch it again in the next cases
umount_env /env
mount_env "$IDX" /env --store "$URL/flaky" --cache "$CACHE" --fetch-timeout 4 --fetch-retries 1 --no-packs
PID=$(daemon_pid /env)

# 2. HTTP 500.
touch "$T/flag-500"
expect_eio "HTTP 500" "HTTP 500"
rm "$T/flag-500"

# 3. A corrupted object (garbage bytes), then a valid zstd frame of some
# other content: both fail verification.
mkdir -p "$T/corrupt/objects/${D:0:2}"
head -c 200 /dev/urandom >"$T/corrupt/$REL"
touch "$T/flag-corrupt"
expect_eio "garbage object" "corrupt object"
other=$(digest_of bin/.link-scripts-pre-unlink.sh)
cp "$T/corpus/store/objects/${other:0:2}/$other.zst" "$T/corrupt/$REL"
expect_eio "another object" "corrupt object"
if command -v zstd >/dev/null; then
	# Same size, other bytes: only the sha256 can tell.
	"$CONDAFS" cat "$IDX" $FILE | tr 'a-z' 'A-Z' | zstd -q -c >"$T/corrupt/$REL"
	expect_eio "wrong sha256" "corrupt object"
fi
rm "$T/flag-corrupt"

# 4. A transfer that stalls: the overall bound (--fetch-timeout 4) ends it.
touch "$T/flag-stall"
expect_eio "stalled transfer" "Operation timed out\|Timeout was reached\|too slow"
rm "$T/flag-stall"

# Healthy again: the next open fetches and succeeds.
cmp /env/$FILE <("$CONDAFS" cat "$IDX" $FILE) || fail "healthy: content differs"
[[ -f $CACHE/objects/${D:0:2}/$D ]] || fail "healthy: object not cached"
check_cache "$CACHE"

# 5. kill -9 in the middle of a fetch, then remount on the same cache.
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 0 --skip "$BIG" 2>/dev/null ||
	true # warms the cache with everything but BIG (BIG itself may fail: not fetched yet)
touch "$T/flag-stall"
cat /env/$BIG >/dev/null 2>&1 &
reader=$!
for _ in $(seq 400); do
	compgen -G "$CACHE/tmp/*" >/dev/null && break
	sleep 0.05
done
compgen -G "$CACHE/tmp/*" >/dev/null || fail "the fetch of $BIG never started"
kill -9 "$PID"
wait "$reader" && fail "reading $BIG through a killed daemon succeeded"
wait_gone "$PID"
rm "$T/flag-stall"
"$CONDAFS" umount -z /env || fail "umount of the dead mount failed"
before=$(cache_objects "$CACHE")
check_cache "$CACHE" tmp-ok # debris in tmp/ is allowed, never in objects/
mount_env "$IDX" /env --store "$URL/flaky" --cache "$CACHE" --fetch-timeout 10 --no-packs
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 5
n_before=$(grep -c . <<<"$before")
fetched=$(stat_field /env objects_fetched)
total=$(cache_objects "$CACHE" | grep -c .)
[[ $((total - n_before)) == "$fetched" ]] ||
	fail "after the remount $fetched objects were fetched, expected $((total - n_before)) (the cache was not reused)"
check_cache "$CACHE" tmp-ok
log "kill -9 mid-fetch: remount reused $n_before cached objects, fetched $fetched"
umount_env /env
log "ok"
