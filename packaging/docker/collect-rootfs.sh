#!/bin/sh
# SPDX-License-Identifier: MIT
# collect-rootfs.sh DESTDIR ROOTFS: the sidecar image's whole file system.
#
# Copies what `meson install --destdir DESTDIR` installed (the condafs
# binary), the dynamic loader and the shared libraries its programs need
# (from ldd), libcurl.so.4 and the libraries it needs (condafs loads it
# with dlopen() for http(s):// and s3:// stores, so ldd does not name it;
# the one in ldconfig's cache built for the same C library), libgcc_s.so.1
# (which the C library loads when a thread is cancelled, as libfuse does
# with its workers), and the few
# files a daemon serving HTTP(S) stores needs, into ROOTFS, which must not
# exist yet:
#
#   <prefix>/bin/condafs              and anything else installed
#   /lib64/ld-linux-*.so.*            the loader, /lib/<triplet>/*.so.* the libraries
#   /etc/passwd, /etc/group           root and nobody
#   /etc/nsswitch.conf                hosts: files dns (glibc's built-in modules)
#   /etc/ssl/certs/ca-certificates.crt  CA certificates, for https:// stores
#   /env                              the mount point
#   /tmp (1777), /var/cache/condafs   the default cache of a root daemon
#   /dev, /proc, /sys                 empty mount points
#
# Not included: fusermount3 and /etc/fuse.conf.  A daemon running as root
# with /dev/fuse mounts with mount(2) and unmounts with umount2(2) itself;
# libfuse runs fusermount3 only for unprivileged users (or auto_unmount).
# Not a shell either: `condafs run ENV.cfs -- CMD` needs none.
#
# The Dockerfile's build stage runs this; tests/mount/image.sh runs it on
# the build under test and checks the result file by file.
set -eu

destdir=${1:?usage: collect-rootfs.sh DESTDIR ROOTFS}
rootfs=${2:?usage: collect-rootfs.sh DESTDIR ROOTFS}
cacerts=${CA_CERTIFICATES:-/etc/ssl/certs/ca-certificates.crt}

die() {
	echo "collect-rootfs.sh: $*" >&2
	exit 1
}

[ -d "$destdir" ] || die "$destdir: not a directory"
[ -e "$rootfs" ] && die "$rootfs exists already"
[ -f "$cacerts" ] || die "$cacerts: missing (install ca-certificates)"
command -v ldd >/dev/null || die "ldd is missing"
command -v ldconfig >/dev/null || die "ldconfig is missing"

mkdir -p "$rootfs"
(cd "$destdir" && tar -cf - .) | (cd "$rootfs" && tar -xpf -)
find "$rootfs" -path '*/bin/condafs' -type f | grep -q . || die "no bin/condafs in $destdir"

# copy_lib PATH: PATH (symlinks followed) at the same path under ROOTFS.
copy_lib() {
	[ -e "$rootfs$1" ] && return 0
	mkdir -p "$rootfs$(dirname "$1")"
	cp -L "$1" "$rootfs$1"
}

# copy_needed ELF: the libraries and loader ELF needs, as the loader resolves them.
copy_needed() {
	ldd "$1" >"$rootfs/.ldd" 2>&1 || die "ldd $1 failed: $(cat "$rootfs/.ldd")"
	grep -q 'not found' "$rootfs/.ldd" && die "$1: $(grep 'not found' "$rootfs/.ldd")"
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' "$rootfs/.ldd" |
		while read -r lib; do
			copy_lib "$lib"
		done
	rm -f "$rootfs/.ldd"
}

# Every ELF file installed.
find "$destdir" -type f | while read -r f; do
	[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
	copy_needed "$f"
done

# libcurl.so.4 and libgcc_s.so.1, as dlopen() finds them (ldconfig's
# cache), and what they need: of the cached ones (there may be one per
# architecture), the one that uses the same libc.so.6 as condafs.
condafs=$(find "$rootfs" -path '*/bin/condafs' -type f | head -n 1)
libc=$(ldd "$condafs" | awk '$1 == "libc.so.6" { print $3 }')
for soname in libcurl.so.4 libgcc_s.so.1; do
	found=
	for lib in $(ldconfig -p | awk -v so="$soname" '$1 == so { print $NF }'); do
		if ldd "$lib" 2>/dev/null | grep -q "^[[:space:]]*libc\.so\.6 => $libc "; then
			found=$lib
			break
		fi
	done
	[ -n "$found" ] || die "$soname for $libc: not in ldconfig's cache (install its package)"
	copy_lib "$found"
	copy_needed "$found"
done

mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/env" "$rootfs/var/cache/condafs" \
	"$rootfs/dev" "$rootfs/proc" "$rootfs/sys" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp -L "$cacerts" "$rootfs/etc/ssl/certs/ca-certificates.crt"
cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/nonexistent
nobody:x:65534:65534:nobody:/nonexistent:/nonexistent
PASSWD
cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' >"$rootfs/etc/nsswitch.conf"
chmod 644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/nsswitch.conf" \
	"$rootfs/etc/ssl/certs/ca-certificates.crt"
