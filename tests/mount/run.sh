#!/bin/bash
# SPDX-License-Identifier: MIT
# condafs run: the command sees the mount and nobody else does; its exit
# status comes back (128 + signal if killed; 127 if it cannot be found);
# SIGTERM and SIGINT sent to condafs run reach the command; neither a
# failing command, nor a killed one, nor condafs run killed with SIGKILL
# leaves a daemon or a mount behind; a missing /env is never created outside; a read-only
# parent of the mount point gets a tmpfs over it (for /, a new root); as an
# unprivileged user, through a user namespace.
# Usage: run.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
RUN=("$CONDAFS" run "$IDX" --cache "$T/cache")
export CONDAFS T

# status CMD...: the exit status of CMD.
status() {
	local rc=0
	"$@" || rc=$?
	echo "$rc"
}

condafs_mounts() {
	awk '$3 == "fuse.condafs" { found = 1 } END { exit !found }' /proc/self/mounts
}

# no_leftovers WHAT: no daemon of this test and no condafs mount remain
# (other tests may run condafs at the same time: ours use $T/cache).
no_leftovers() {
	local i
	for i in $(seq 400); do
		pgrep -f -- "--cache $T/cache" >/dev/null || break
		sleep 0.05
	done
	pgrep -af -- "--cache $T/cache" && fail "$1: a condafs process is left"
	condafs_mounts && fail "$1: a condafs mount is left"
	return 0
}

out=$("${RUN[@]}" -- /bin/sh -c 'cat /env/bin/hello-1.0 | cksum') || fail "run failed"
[[ $out == "$("$CONDAFS" cat "$IDX" bin/hello-1.0 | cksum)" ]] || fail "content differs"
condafs_mounts && fail "the mount is visible outside the command"
[[ $(status "${RUN[@]}" -- /bin/sh -c 'exit 7') == 7 ]] || fail "exit 7 not propagated"
[[ $(status "${RUN[@]}" -- /bin/sh -c 'kill -KILL $$') == 137 ]] || fail "SIGKILL: not 137"
[[ $(status "${RUN[@]}" -- /nonexistent/cmd 2>/dev/null) == 127 ]] || fail "missing command: not 127"
[[ $(status "${RUN[@]}" 2>/dev/null) == 2 ]] || fail "no command: not a usage error"
[[ $(status "${RUN[@]}" --mountpoint env -- true 2>/dev/null) == 2 ]] || fail "relative mount point"
no_leftovers "exit statuses"
log "exit statuses: 7, 137, 127; nothing left behind"

# Signals sent to condafs run go to the command.  condafs run leaves a
# signal it was started ignoring ignored (nohup ignores SIGHUP, and a
# background job of a script SIGINT): the wrapper restores the defaults.
for sig in TERM INT HUP; do
	rm -f "$T/ready"
	python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' \
		"${RUN[@]}" -- /bin/sh -c 'touch "$T/ready"; exec sleep 600' &
	pid=$!
	wait_for "$T/ready"
	kill -"$sig" "$pid"
	rc=0
	wait "$pid" || rc=$?
	want=$((128 + $(kill -l "$sig")))
	[[ $rc == "$want" ]] || fail "SIG$sig: exit $rc, expected $want"
	no_leftovers "SIG$sig"
done
log "SIGTERM, SIGINT, SIGHUP: passed on, exit 128 + signal"

# condafs run killed with SIGKILL: the daemon and the command follow.
rm -f "$T/ready"
"${RUN[@]}" -- /bin/sh -c '"$CONDAFS" stats --json /env >"$T/stats"; touch "$T/ready"; exec sleep 600' &
pid=$!
wait_for "$T/ready"
daemon=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$T/stats")
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
wait_gone "$daemon"
no_leftovers "SIGKILL"
log "SIGKILL of condafs run: daemon $daemon and the command exited"

# A command that leaves a process holding a file open: detached, then gone.
rm -f "$T/ready"
"${RUN[@]}" -- /bin/sh -c '(exec 3</env/bin/hello-1.0; touch "$T/ready"; exec sleep 601) &
	while [ ! -e "$T/ready" ]; do sleep 0.05; done' 2>"$T/err" || fail "run with a background process failed"
grep -q "still in use" "$T/err" || { cat "$T/err"; fail "no warning about the busy mount"; }
pkill -f "^sleep 601$" || true
no_leftovers "busy"
log "busy mount point: detached"

# /env missing: mounted on a private tmpfs over /, never created outside.
rmdir /env
[[ $(status "${RUN[@]}" -- test -x /env/bin/hello-1.0) == 0 ]] || fail "missing /env: not mounted"
[[ $(status "${RUN[@]}" -- test -e "$T/err") == 0 ]] || fail "missing /env: / lost its entries"
[[ ! -e /env ]] || fail "/env was created outside the command's namespace"
mkdir /env
log "missing /env: served in the command's namespace only"

# A read-only parent: a tmpfs over it, with what was there still there.
# (/ is the test's own tmpfs: /ro-parent exists only here.)
mkdir -p /ro-parent/keep && echo kept >/ro-parent/keep/file && ln -s keep /ro-parent/link
mount --bind /ro-parent /ro-parent && mount -o remount,bind,ro /ro-parent
mkdir /ro-parent/env 2>/dev/null && fail "/ro-parent is not read-only"
out=$("${RUN[@]}" --mountpoint /ro-parent/env -- /bin/sh -c \
	'cat /ro-parent/keep/file /ro-parent/link/file; test -x /ro-parent/env/bin/hello-1.0 && echo mounted') ||
	fail "read-only parent: run failed"
[[ $out == $'kept\nkept\nmounted' ]] || fail "read-only parent: $out"
[[ -e /ro-parent/env ]] && fail "read-only parent: the tmpfs is visible outside"
log "read-only parent: tmpfs over it"

# A read-only / without /env: a new root.
rmdir /env
mount -o remount,ro /
out=$("${RUN[@]}" -- /bin/sh -c 'cat /ro-parent/keep/file; test -x /env/bin/hello-1.0 && echo mounted; cd "$T" && echo "in $T"') ||
	{ mount -o remount,rw /; fail "read-only /: run failed"; }
mount -o remount,rw /
mkdir /env
[[ $out == $'kept\nmounted\nin '"$T" ]] || fail "read-only /: $out"
no_leftovers "read-only"
log "read-only /: a new root"

# As nobody: a user namespace.  /dev/fuse is usually root's only, so a node
# everyone may open is bound over it (in this namespace only).
if ! command -v setpriv >/dev/null; then
	log "as a user: skipped (no setpriv)"
elif ! setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U -m true 2>/dev/null; then
	log "as a user: skipped (no unprivileged user namespaces)"
else
	mknod "$T/fuse" c 10 229 && chmod 666 "$T/fuse" && mount --bind "$T/fuse" /dev/fuse
	mkdir -m 777 "$T/cache-nobody"
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$CONDAFS" run "$IDX" \
		--cache "$T/cache-nobody" -- /bin/sh -c 'id -u; cat /env/bin/hello-1.0 | cksum') ||
		fail "as a user: run failed"
	[[ $out == "65534"$'\n'"$("$CONDAFS" cat "$IDX" bin/hello-1.0 | cksum)" ]] || fail "as a user: $out"
	umount /dev/fuse
	no_leftovers "as a user"
	log "as a user: a user namespace"
fi
log "ok"
