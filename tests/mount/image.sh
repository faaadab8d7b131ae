#!/bin/bash
# SPDX-License-Identifier: MIT
# The sidecar image (packaging/docker): its run-time file system, made by
# packaging/docker/collect-rootfs.sh from a `meson install --destdir` of the
# build under test, holds condafs, the loader, exactly the libraries ldd
# names for condafs, for libcurl.so.4 (which condafs loads with dlopen()
# for URL stores) and for libgcc_s.so.1 (which the C library loads when
# libfuse cancels its worker threads), and the few files the script lists;
# nothing else.  Then
# it runs:
#   (a) chrooted into that file system alone (plus /dev/fuse, /proc and the
#       index): condafs mount (no fusermount3 there), condafs ready, python
#       from the mount on the image's C library, condafs umount; a mount
#       from an http:// store (libcurl loads in the image); and
#       condafs mount -f (the image's entry point) stopped by SIGTERM;
#   (b) as an image built with podman from the Dockerfile's run-time stage:
#       a sidecar container mounting on a shared directory (rshared), an
#       app container receiving it (rslave) and running python from /env,
#       `podman stop` unmounting; and `condafs run` in one container, with
#       no shell anywhere.  Skips (b) only when podman is missing.
# Usage: image.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
DATA=$(realpath "$T/py/env.cfs")
DATA=$(dirname "$DATA") # env.cfs and store/
IDX=$T/py/env.cfs
ROOTFS=$T/rootfs
PYCHECK='import json, sqlite3, ssl, zlib, flask, sys; print(sys.prefix, flask.__name__, json.dumps(zlib.decompress(zlib.compress(b"ok")).decode()))'
PYWANT='/env flask "ok"'

# ---- The file system, and nothing else in it.
meson install -C "$BUILDDIR" --destdir "$T/dest" --tags runtime --no-rebuild --quiet >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "meson install --destdir failed"; }
sh "$SRCROOT/packaging/docker/collect-rootfs.sh" "$T/dest" "$ROOTFS" ||
	fail "collect-rootfs.sh failed"
BIN=$(cd "$T/dest" && find . -path '*/bin/condafs' -type f | sed 's|^\./|/|')
[[ -n $BIN ]] || fail "meson install put no bin/condafs in the destdir"
LIBCURL=$(cd "$ROOTFS" && find . -name libcurl.so.4 | sed 's|^\./|/|')
[[ -n $LIBCURL && $LIBCURL != *$'\n'* ]] || fail "not one libcurl.so.4 in the image: $LIBCURL"
LIBGCC=$(cd "$ROOTFS" && find . -name libgcc_s.so.1 | sed 's|^\./|/|')
[[ -n $LIBGCC && $LIBGCC != *$'\n'* ]] || fail "not one libgcc_s.so.1 in the image: $LIBGCC"
want=$(
	{
		(cd "$T/dest" && find . -type f -o -type l) | sed 's|^\./||'
		echo "${LIBCURL#/}"
		echo "${LIBGCC#/}"
		{ ldd "$T/dest$BIN" && ldd "$LIBCURL" && ldd "$LIBGCC"; } |
			awk '$2 == "=>" { print $3 } $1 ~ /^\// { print $1 }' | sed 's|^/||'
		printf '%s\n' etc/group etc/nsswitch.conf etc/passwd etc/ssl/certs/ca-certificates.crt
	} | sort -u
)
got=$(cd "$ROOTFS" && find . -type f -o -type l | sed 's|^\./||' | sort)
if [[ $got != "$want" ]]; then
	diff <(echo "$want") <(echo "$got") >&2
	fail "the image holds other files than condafs, its loader and libraries and /etc's four"
fi
got=$(cd "$ROOTFS" && find . -mindepth 1 -type d -empty | sed 's|^\./||' | sort | tr '\n' ' ')
[[ $got == "dev env proc sys tmp var/cache/condafs " ]] || fail "empty directories: $got"
[[ $(stat -c %a "$ROOTFS/tmp") == 1777 ]] || fail "/tmp is not 1777"
[[ -z $(find "$ROOTFS" -type l -o -perm /6000) ]] || fail "symlinks or set-id files in the image"
grep -q '^root:x:0:0:' "$ROOTFS/etc/passwd" || fail "no root in /etc/passwd"
size=$(du -sb "$ROOTFS" | cut -f1)
((size < 100 * 1024 * 1024)) || fail "the image's file system is $size bytes"
log "rootfs: $(wc -l <<<"$want") files, $((size / 1024 / 1024)) MiB; largest: $(cd "$ROOTFS" &&
	find . -type f -printf '%s %P\n' | sort -rn | head -3 | awk '{ printf "%s (%d MiB) ", $2, $1 / 1048576 }')"

# ---- (a) chrooted into a copy of the file system.
R=$T/chroot
cp -a "$ROOTFS" "$R"
: >"$R/dev/fuse" && mount --bind /dev/fuse "$R/dev/fuse"
: >"$R/dev/null" && mount --bind /dev/null "$R/dev/null"
mount -t proc proc "$R/proc"
mkdir "$R/data" && mount --bind "$DATA" "$R/data" && mount -o remount,bind,ro "$R/data"
in_image() { chroot "$R" "$BIN" "$@"; }
[[ ! -e $R/usr/bin/fusermount3 && ! -e $R/bin/sh ]] || fail "a helper or a shell in the image"

in_image mount /data/env.cfs /env --store /data/store --log-file /tmp/daemon.log ||
	fail "condafs mount in the image failed"
MOUNTS+=("$R/env")
in_image ready /env || fail "condafs ready in the image failed"
[[ $(in_image stats --json /env | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"])') == /data/store ]] ||
	fail "condafs stats in the image"
out=$(chroot "$R" /env/bin/python3 -c "$PYCHECK") || fail "python from the mount, in the image, failed"
[[ $out == "$PYWANT" ]] || fail "python in the image printed: $out"
cmp <("$CONDAFS" cat "$IDX" bin/python3.11) "$R/env/bin/python3.11" || fail "bin/python3.11 differs"
in_image umount /env || fail "condafs umount in the image failed"
for _ in $(seq 200); do is_mounted "$R/env" || break; sleep 0.05; done
is_mounted "$R/env" && fail "still mounted after condafs umount"
[[ ! -s $R/tmp/daemon.log ]] || fail "the daemon logged: $(cat "$R/tmp/daemon.log")"
log "(a) chroot: mount (no fusermount3), ready, python on the image's libc, umount"

# An http:// store (an empty cache, so objects come over HTTP): libcurl
# and what it needs load from the image.
if [[ -x ${NGINX:-/usr/sbin/nginx} ]]; then
	start_nginx "$DATA/store"
	in_image mount /data/env.cfs /env --store "$URL/store" --cache /tmp/http-cache \
		--log-file /tmp/http.log || fail "condafs mount from an http:// store in the image failed"
	MOUNTS+=("$R/env")
	cmp <("$CONDAFS" cat "$IDX" bin/python3.11) "$R/env/bin/python3.11" ||
		fail "bin/python3.11 from the http:// store differs: $(cat "$R/tmp/http.log")"
	in_image umount /env || fail "condafs umount (http:// store) in the image failed"
	for _ in $(seq 200); do is_mounted "$R/env" || break; sleep 0.05; done
	is_mounted "$R/env" && fail "still mounted after condafs umount (http:// store)"
	stop_nginx
	log "(a) chroot: mount from an http:// store, read bin/python3.11, umount"
else
	log "(a) chroot: nginx is not installed: no http:// store check"
fi

# The entry point as the sidecar runs it: mount -f until SIGTERM.
chroot "$R" "$BIN" mount -f /data/env.cfs /env --store /data/store 2>"$T/fg.log" &
pid=$!
DAEMONS+=("$pid")
in_image ready /env --wait 30 || fail "condafs mount -f in the image did not get ready"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 0 ]] || { cat "$T/fg.log" >&2; fail "condafs mount -f exited $rc after SIGTERM"; }
is_mounted "$R/env" && fail "still mounted after SIGTERM"
log "(a) chroot: mount -f unmounted and exited 0 on SIGTERM"
# Daemons of the unmounted file systems above may still be exiting (and
# holding /dev/null): give them a few seconds.
for m in "$R/data" "$R/proc" "$R/dev/null" "$R/dev/fuse"; do
	for _ in $(seq 100); do umount "$m" 2>/dev/null && break; sleep 0.05; done
	mountpoint -q "$m" && fail "$m is still mounted: $(fuser -vm "$m" 2>&1 | tail -n +2)"
done

# ---- (b) podman, with the Dockerfile's run-time stage.
command -v podman >/dev/null || skip "(a) passed; podman is not installed, so (b) did not run"
TAG=localhost/condafs-sidecar-test:$$
PODMAN=(podman run --runtime runc --network=none --ulimit nofile=1024:1024
	--ulimit nproc=4096:4096)
CTRS=()
podman_cleanup() {
	local c
	for c in "${CTRS[@]}"; do
		podman rm -f -t 0 "$c" >/dev/null 2>&1
	done
	podman rmi -f "$TAG" >/dev/null 2>&1
	return 0
}
trap 'rc=$?; podman_cleanup; (exit $rc); inner_cleanup' EXIT

mkdir "$T/ctx"
mv "$ROOTFS" "$T/ctx/rootfs"
awk '/^FROM /{ keep = ($2 == "scratch") } keep' "$SRCROOT/packaging/docker/Dockerfile" |
	sed 's|^COPY --from=build /rootfs /$|COPY rootfs /|' >"$T/ctx/Containerfile"
grep -q '^COPY rootfs /$' "$T/ctx/Containerfile" || fail "the Dockerfile's run-time stage has changed"
podman build --runtime runc --network=none -q -f "$T/ctx/Containerfile" -t "$TAG" "$T/ctx" \
	>"$T/build.log" 2>&1 || { cat "$T/build.log" >&2; fail "podman build of the run-time stage failed"; }
[[ $(podman image inspect -f '{{.Config.Entrypoint}}' "$TAG") == "[condafs]" ]] ||
	fail "the image's entry point is not condafs"

# The pod: an emptyDir shared with both containers.
D=$T/emptydir
mkdir "$D" && mount --bind "$D" "$D" && mount --make-shared "$D"
CTRS+=(condafs-sidecar-$$ condafs-app-$$)
"${PODMAN[@]}" -d --name "condafs-sidecar-$$" --privileged --device /dev/fuse \
	--mount "type=bind,src=$D,dst=/env,bind-propagation=rshared" \
	-v "$DATA:/data:ro" "$TAG" mount -f /data/env.cfs /env --store /data/store \
	>/dev/null 2>"$T/podman-run.log" || { cat "$T/podman-run.log" >&2; fail "podman run (sidecar) failed"; }
timeout 60 podman exec "condafs-sidecar-$$" condafs ready /env --wait 30 ||
	{ podman logs "condafs-sidecar-$$" >&2; fail "condafs ready in the sidecar container failed"; }
timeout 10 "$CONDAFS" ready "$D" || fail "the sidecar's mount did not reach the shared directory"
out=$(timeout 60 "${PODMAN[@]}" --rm --name "condafs-app-$$" \
	--mount "type=bind,src=$D,dst=/env,bind-propagation=rslave" \
	--entrypoint /env/bin/python3 "$TAG" -c "$PYCHECK") || fail "the app container failed: $out"
[[ $out == "$PYWANT" ]] || fail "python in the app container printed: $out"
timeout 60 podman stop -t 20 "condafs-sidecar-$$" >/dev/null || fail "podman stop failed"
rc=$(podman inspect -f '{{.State.ExitCode}}' "condafs-sidecar-$$")
[[ $rc == 0 ]] || { podman logs "condafs-sidecar-$$" >&2; fail "the sidecar exited $rc on SIGTERM"; }
[[ -z $(podman logs "condafs-sidecar-$$" 2>&1) ]] || fail "the sidecar logged: $(podman logs "condafs-sidecar-$$" 2>&1)"
awk '$3 == "fuse.condafs"' /proc/self/mounts | grep -q . && fail "a condafs mount is left"
log "(b) podman: sidecar container mounted, app container ran python from /env; podman stop unmounted, exit 0"

# condafs run in one container: no shell needed.
out=$(timeout 60 "${PODMAN[@]}" --rm --privileged --device /dev/fuse -v "$DATA:/data:ro" "$TAG" \
	run /data/env.cfs --store /data/store -q -- /env/bin/python3 -c "$PYCHECK") ||
	fail "condafs run in a container failed: $out"
[[ $out == "$PYWANT" ]] || fail "condafs run in a container printed: $out"
log "(b) podman: condafs run -- /env/bin/python3 in one container"
log "ok"
