#!/bin/bash
# SPDX-License-Identifier: MIT
# The daemon's life: condafs mount fails with one line and exit 1 when it
# cannot mount (no mount point, a busy one, an unreadable index, a bad
# store, no usable /dev/fuse); -f stays in the foreground and SIGTERM or
# SIGINT unmount cleanly; umount ends the daemon; -o store=,cache=,... and
# mount -t fuse.condafs (when condafs ENV.cfs MOUNTPOINT is wired in main).
# Usage: lifecycle.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
CACHE=$T/cache

# mount_fails WHAT PATTERN ARGS...: condafs mount ARGS exits 1 with one line
# matching PATTERN, and nothing is mounted at /env.
mount_fails() {
	local what=$1 pattern=$2 rc=0
	shift 2
	"$CONDAFS" mount "$@" >"$T/out" 2>"$T/err" || rc=$?
	[[ $rc == 1 ]] || { cat "$T/err"; fail "$what: exit $rc, expected 1"; }
	[[ ! -s $T/out ]] || fail "$what: printed to stdout"
	[[ $(wc -l <"$T/err") == 1 ]] || { cat "$T/err"; fail "$what: expected one line on stderr"; }
	grep -q -- "$pattern" "$T/err" || fail "$what: '$(cat "$T/err")' does not match '$pattern'"
	log "$what: $(cat "$T/err")"
}

mount_fails "missing mount point" "mount point /nonexistent: No such file" "$IDX" /nonexistent --cache "$CACHE"
mount_fails "missing index" "No such file" "$T/nope.cfs" /env --cache "$CACHE"
echo "not an index" >"$T/bad.cfs"
mount_fails "not an index" "not a condafs index\|not a database" "$T/bad.cfs" /env --cache "$CACHE"
mount_fails "bad store URL" "unsupported store URL" "$IDX" /env --store ftp://x/y --cache "$CACHE"
mount_fails "missing store" "store /nonexistent-store: No such file" "$IDX" /env --store /nonexistent-store --cache "$CACHE"
is_mounted /env && fail "something got mounted at /env"

# libcurl is loaded only for http(s) and s3 stores: with a libcurl.so.4
# that cannot be loaded, an http store fails in one line naming it, and a
# local store mounts and serves.
mkdir -p "$T/broken-libcurl"
echo "not a shared library" >"$T/broken-libcurl/libcurl.so.4"
LD_LIBRARY_PATH=$T/broken-libcurl mount_fails "libcurl cannot be loaded" \
	"store http://127.0.0.1:9/store: libcurl.so.4: cannot load it" \
	"$IDX" /env --store http://127.0.0.1:9/store --cache "$CACHE"
LD_LIBRARY_PATH=$T/broken-libcurl "$CONDAFS" mount "$IDX" /env --cache "$CACHE" ||
	fail "a local store needs no libcurl, yet the mount failed"
first=$(find /env -type f -size +0 | head -1)
cmp "$first" <("$CONDAFS" cat "$IDX" "${first#/env/}") || fail "$first: wrong content without libcurl"
"$CONDAFS" umount /env
log "no libcurl needed for a local store: served $first"

# No usable /dev/fuse: an empty regular file in its place.
: >"$T/nofuse"
mount --bind "$T/nofuse" /dev/fuse
mount_fails "no /dev/fuse" "mount\|fuse" "$IDX" /env --cache "$CACHE"
umount /dev/fuse
is_mounted /env && fail "something got mounted at /env"

# Busy: /env already has a condafs mount.
mount_env "$IDX" /env --cache "$CACHE"
mount_fails "busy mount point" "already a FUSE mount" "$IDX" /env --cache "$CACHE"
PID=$(daemon_pid /env)
umount_env /env # waits for the daemon to exit
is_mounted /env && fail "/env still mounted after condafs umount"
log "umount: daemon $PID exited"

# Foreground: SIGTERM and SIGINT unmount cleanly and exit 0.  (bash starts
# background jobs with SIGINT ignored, which the daemon respects; restore
# both.)
for sig in TERM INT; do
	python3 -c 'import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' \
		"$CONDAFS" mount -f "$IDX" /env --cache "$CACHE" 2>"$T/fg.err" &
	fg=$!
	for _ in $(seq 400); do
		is_mounted /env && break
		kill -0 "$fg" 2>/dev/null || break
		sleep 0.05
	done
	is_mounted /env || { cat "$T/fg.err"; fail "-f did not mount"; }
	cmp /env/bin/hello-1.0 <("$CONDAFS" cat "$IDX" bin/hello-1.0) || fail "-f: content differs"
	kill -"$sig" "$fg"
	rc=0
	wait "$fg" || rc=$?
	[[ $rc == 0 ]] || { cat "$T/fg.err"; fail "SIG$sig: exit $rc"; }
	is_mounted /env && fail "SIG$sig: /env still mounted"
	log "foreground, SIG$sig: unmounted, exit 0"
done

# Settings through -o, as mount(8) passes them.
mount_env "$IDX" /env -o "store=$T/corpus/store,cache=$T/cache-o,cache_size=1G,fetch_timeout=5,fetch_retries=0,allow_other"
[[ $(stat_field /env cache) == "$T/cache-o" ]] || fail "-o cache= ignored"
cat /env/bin/hello-1.0 >/dev/null
[[ -n $(cache_objects "$T/cache-o") ]] || fail "-o cache= not used"
umount_env /env

# mount -t fuse.condafs runs "condafs ENV.cfs MOUNTPOINT -o OPTS".
if "$CONDAFS" "$IDX" /env -o "cache=$T/cache-t" 2>/dev/null; then
	MOUNTS+=(/env)
	umount_env /env
	if command -v mount.fuse3 >/dev/null; then
		# "-t fuse PROGRAM#SOURCE" is "-t fuse.condafs SOURCE" with the
		# program given by path (mount(8) may not keep our PATH).
		mount -t fuse "$CONDAFS#$IDX" /env \
			-o "store=$T/corpus/store,cache=$T/cache-t,cache_size=1G" || fail "mount -t fuse failed"
		MOUNTS+=(/env)
		cmp /env/bin/hello-1.0 <("$CONDAFS" cat "$IDX" bin/hello-1.0) || fail "mount -t: content differs"
		umount_env /env
		log "mount -t fuse (mount.fuse3): ok"
	fi
else
	log "condafs ENV.cfs MOUNTPOINT is not wired in main yet; mount -t fuse.condafs not tested"
fi

# stats on something else fails with one line.
if "$CONDAFS" stats "$T" 2>"$T/err"; then
	fail "stats on a plain directory succeeded"
fi
grep -q "not the root of a condafs mount" "$T/err" || fail "stats: $(cat "$T/err")"
for c in mount umount stats; do
	"$CONDAFS" "$c" --help | grep -q "^usage: condafs $c" || fail "condafs $c --help"
done
log "ok"
