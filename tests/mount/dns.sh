#!/bin/bash
# SPDX-License-Identifier: MIT
# A store host whose name does not resolve at first and resolves later:
# retries after a failed name resolution must work, at index time and in
# the daemon.  The name is condafs-store.test (.test never resolves through
# DNS); the test's namespace has its own /etc/hosts (glibc reads it again
# on every lookup) and an /etc/nsswitch.conf that looks names up in files
# only, so the name resolves exactly when a line for it is in that hosts
# file, and no lookup leaves the machine.  nginx serves the channel and
# the store on 127.0.0.1.
#   1. condafs index of a lock whose URLs use the name: the name is added
#      when the first "retrying" line shows; the index must succeed and
#      match the same lock indexed from file:// URLs.
#   2. condafs mount --store http://condafs-store.test:PORT/...: a read
#      while the name does not resolve fails (EIO); once it resolves, a read
#      returns the right bytes and the daemon is still alive.
#   3. The same with the name added while one read is retrying: that read
#      returns the right bytes.
# Usage: dns.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

HOST=condafs-store.test
[[ -x ${NGINX:-/usr/sbin/nginx} ]] || skip "nginx is not installed (${NGINX:-/usr/sbin/nginx})"
[[ -f /etc/hosts && -f /etc/nsswitch.conf ]] ||
	skip "no /etc/hosts or /etc/nsswitch.conf to bind a test copy over"
command -v getent >/dev/null || skip "getent is not installed"

# The hosts file is only ever rewritten in place (same inode): a bind
# mount holds on to the file it was made with.
HOSTS=$T/hosts
grep -v -i "$HOST" /etc/hosts >"$T/hosts.base" || true
cp "$T/hosts.base" "$HOSTS"
sed -E 's/^[[:space:]]*hosts:.*/hosts: files/' /etc/nsswitch.conf >"$T/nsswitch.conf"
grep -q '^hosts: files$' "$T/nsswitch.conf" || echo 'hosts: files' >>"$T/nsswitch.conf"
mount --bind "$HOSTS" /etc/hosts || fail "cannot bind a test hosts file over /etc/hosts"
mount --bind "$T/nsswitch.conf" /etc/nsswitch.conf ||
	fail "cannot bind a test nsswitch.conf over /etc/nsswitch.conf"

name_add() {
	echo "127.0.0.1 $HOST" >>"$HOSTS"
	[[ ${1:-} == quiet ]] || log "  $HOST now resolves (added to /etc/hosts)"
}
name_remove() {
	cat "$T/hosts.base" >"$HOSTS"
}
# Checks that the name does (yes) or does not (no) resolve, and fast.
name_check() {
	local t0 rc=0 out
	t0=$(date +%s%N)
	out=$(timeout 10 getent hosts "$HOST") || rc=$?
	(( ($(date +%s%N) - t0) / 1000000 < 2000 )) || fail "looking up $HOST took over 2 s"
	if [[ $1 == yes ]]; then
		[[ $rc == 0 && $out == 127.0.0.1* ]] ||
			fail "$HOST does not resolve to 127.0.0.1 after adding it to /etc/hosts (getent: $rc '$out')"
	else
		[[ $rc == 2 ]] || fail "$HOST resolves before it is in /etc/hosts (getent: $rc '$out')"
	fi
}
name_check no
name_add quiet
name_check yes
name_remove
name_check no

# ---- fixtures: a channel, a store, nginx serving both
python3 "$SRCROOT/tests/fixtures/mkchannel.py" "$T/srv/ch" >"$T/mkchannel.log" 2>&1 ||
	{ cat "$T/mkchannel.log" >&2; fail "mkchannel.py failed"; }
"$CONDAFS" index "$T/srv/ch/explicit.txt" -o "$T/ref.cfs" --store "$T/ref-store" \
	--cache "$T/ref-pkgs" -q || fail "condafs index of the file:// lock failed"
start_nginx "$T/srv"
BASE=http://$HOST:$PORT/store
sed "s#file://$T/srv/ch/channel/#$BASE/ch/channel/#" "$T/srv/ch/explicit.txt" >"$T/lock.txt"
grep -q "^$BASE/ch/channel/" "$T/lock.txt" && ! grep -q '^file:' "$T/lock.txt" ||
	fail "could not rewrite the lock's URLs to $BASE/ch/channel/"

# ---- 1. index: the first attempts cannot resolve the name, a retry can
log "index: a lock whose URLs use $HOST, which does not resolve yet"
mkfifo "$T/index.fifo"
"$CONDAFS" index "$T/lock.txt" -o "$T/srv/env.cfs" --store "$T/srv/st" --cache "$T/pkgs" -v \
	2>"$T/index.fifo" &
index_pid=$!
added=
while IFS= read -r line; do
	printf '%s\n' "$line" >>"$T/index.log"
	if [[ -z $added && $line == *retrying* ]]; then
		log "  first retry: ${line#condafs: }"
		[[ $line == *"resolve host"* ]] ||
			fail "the first failure is not a name resolution failure: $line"
		name_add
		added=1
	fi
done <"$T/index.fifo"
rc=0
wait "$index_pid" || rc=$?
if [[ $rc != 0 || -z $added ]]; then
	echo "--- condafs index -v" >&2
	cat "$T/index.log" >&2
	[[ -n $added ]] || fail "index: condafs index never said it was retrying"
	grep -q "bad argument" "$T/index.log" &&
		fail "index: the retry after a failed name resolution failed with libcurl's" \
			"\"bad argument\" (an easy handle reused after a failed resolve?)"
	fail "index: failed (exit $rc) although $HOST resolved during its retries"
fi
# conda-meta/ differs by design: it records each package's URL, and when.
"$CONDAFS" ls -R --json "$T/ref.cfs" >"$T/ref.ls" || fail "condafs ls ref.cfs failed"
"$CONDAFS" ls -R --json "$T/srv/env.cfs" >"$T/env.ls" || fail "condafs ls env.cfs failed"
grep -v '"path":"conda-meta[/"]' "$T/ref.ls" >"$T/ref.cmp" || true
grep -v '"path":"conda-meta[/"]' "$T/env.ls" >"$T/env.cmp" || true
diff -u "$T/ref.cmp" "$T/env.cmp" >&2 ||
	fail "index: the environment fetched over HTTP differs from the file:// one"
# The largest regular file: the one the daemon sub-tests read.
FILE=$(python3 -c '
import json, sys
best = max((json.loads(l) for l in open(sys.argv[1])),
           key=lambda d: (d["type"] == "file", d.get("size") or 0, d["path"]))
print(best["path"])' "$T/env.cmp")
"$CONDAFS" cat "$T/ref.cfs" "$FILE" >"$T/want" || fail "condafs cat ref.cfs $FILE failed"
"$CONDAFS" cat "$T/srv/env.cfs" "$FILE" >"$T/got" || fail "condafs cat env.cfs $FILE failed"
cmp -s "$T/want" "$T/got" || fail "index: $FILE differs from the file:// environment's"
log "  index ok: $(grep -c . "$T/env.cmp") paths match the file:// environment; $FILE" \
	"($(stat -c %s "$T/want") bytes) matches"

# ---- 2. daemon: a read fails while the name does not resolve, a later one works
STORE=$BASE/st/
name_remove
name_check no
log "daemon: mount --store $STORE while $HOST does not resolve"
mount_env "$T/srv/env.cfs" /env --store "$STORE" --cache "$T/cache-2" \
	--fetch-timeout 5 --fetch-retries 1
pid=$(daemon_pid /env)
rc=0
cat "/env/$FILE" >"$T/got" 2>"$T/err" || rc=$?
if [[ $rc == 0 ]]; then
	cmp -s "$T/want" "$T/got" || fail "daemon: read $FILE without a resolvable name: wrong bytes"
	fail "daemon: read $FILE although $HOST does not resolve"
fi
grep -q "Input/output error" "$T/err" ||
	fail "daemon: the read without a resolvable name failed, but not with EIO: $(cat "$T/err")"
log "  read while $HOST does not resolve: EIO, as expected"
kill -0 "$pid" 2>/dev/null || fail "daemon: died after a failed name resolution"
name_add
rc=0
cat "/env/$FILE" >"$T/got" 2>"$T/err" || rc=$?
kill -0 "$pid" 2>/dev/null || fail "daemon: died on the read after the name resolved"
[[ $rc == 0 ]] ||
	fail "daemon: a read after $HOST resolved failed ($(cat "$T/err")); the daemon did not" \
		"recover from the earlier failed name resolution"
cmp -s "$T/want" "$T/got" || fail "daemon: $FILE read after $HOST resolved has wrong bytes"
log "  read after $HOST resolved: right bytes; daemon alive"
umount_env /env

# ---- 3. daemon: the name resolves while one read is retrying
name_remove
name_check no
log "daemon: $HOST resolves during one read's retries"
retries=8
mount_env "$T/srv/env.cfs" /env --store "$STORE" --cache "$T/cache-3" \
	--fetch-timeout 30 --fetch-retries $retries
pid=$(daemon_pid /env)
t0=$(date +%s%N)
cat "/env/$FILE" >"$T/got" 2>"$T/err" &
reader=$!
# Not a wait for readiness but the point of the test: retries back off
# 200 ms, 400 ms, 800 ms, ..., so after 1 s the read has failed to resolve
# the name three times and is waiting to try again.
sleep 1
if ! kill -0 "$reader" 2>/dev/null; then
	rc=0
	wait "$reader" || rc=$?
	fail "daemon: the read gave up within 1 s (exit $rc: $(cat "$T/err")) although" \
		"--fetch-retries $retries --fetch-timeout 30 allow retrying for longer"
fi
name_add
rc=0
wait "$reader" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
kill -0 "$pid" 2>/dev/null || fail "daemon: died while retrying a failed name resolution"
[[ $rc == 0 ]] ||
	fail "daemon: the read failed after $ms ms ($(cat "$T/err")) although $HOST resolved" \
		"during its retries; a retry after a failed name resolution did not succeed"
cmp -s "$T/want" "$T/got" || fail "daemon: $FILE read across the retries has wrong bytes"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "daemon: fetch errors counted"
log "  read across the retries: right bytes after $ms ms; daemon alive"
umount_env /env
check_cache "$T/cache-2"
check_cache "$T/cache-3"
log "ok"
