#!/bin/bash
# SPDX-License-Identifier: MIT
# Host mounts the way an administrator makes them: mount -t fuse.condafs
# (mount(8) -> mount.fuse3 -> "condafs ENV.cfs MOUNTPOINT -o OPTS", found in
# /bin/sh's default PATH), an /etc/fstab line and "mount /env", umount(8), and systemd's
# stop: SIGTERM to the daemon unmounts and the daemon exits 0.
# Usage: fstab.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

command -v mount.fuse3 >/dev/null || [[ -x /sbin/mount.fuse3 ]] ||
	skip "mount.fuse3 (package fuse3) is not installed"
command -v findmnt >/dev/null || skip "findmnt (util-linux) is not installed"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
STORE=$T/corpus/store

# mount(8) is setuid and clears PATH from its helpers' environment, so the
# "sh -c 'condafs ...'" of mount.fuse3 looks condafs up in /bin/sh's default
# PATH, which starts with /usr/local/sbin.  In this namespace only, a
# directory holding the condafs under test is bound over /usr/local/sbin.
mkdir "$T/sbin"
ln -s "$CONDAFS" "$T/sbin/condafs"
mount --bind "$T/sbin" /usr/local/sbin
found=$(env -i /bin/sh -c 'command -v condafs') || true
[[ $found == /usr/local/sbin/condafs ]] ||
	fail "/bin/sh without PATH finds '$found', not the condafs under test"

# check_env CACHE: /env is a condafs mount of $IDX (findmnt), every file
# reads as condafs cat says, and the objects read landed in CACHE.
check_env() {
	local cache=$1 fstype source opts f n=0
	read -r fstype source opts < <(findmnt -n -o FSTYPE,SOURCE,OPTIONS /env) ||
		fail "findmnt: /env is not mounted"
	[[ $fstype == fuse.condafs ]] || fail "findmnt: fstype '$fstype', expected fuse.condafs"
	[[ $source == "$IDX" ]] || fail "findmnt: source '$source', expected $IDX"
	[[ ,$opts, == *,ro,* ]] || fail "findmnt: options '$opts' are not read-only"
	[[ $(stat_field /env cache) == "$cache" ]] || fail "cache= ignored: $(stat_field /env cache)"
	[[ $(stat_field /env store) == "$STORE" ]] || fail "store= ignored: $(stat_field /env store)"
	[[ -z $(find "$cache/objects" -type f 2>/dev/null) ]] || fail "$cache filled before any open"
	while IFS= read -r -d '' f; do
		cmp -s "$f" <("$CONDAFS" cat "$IDX" "${f#/env/}") || fail "$f differs from condafs cat"
		n=$((n + 1))
	done < <(find /env -type f -print0)
	((n > 0)) || fail "no regular file under /env"
	# Each distinct non-empty content read is one verified object in the cache.
	local want got
	want=$(find /env -type f -size +0 -exec sha256sum {} + | cut -c1-64 | sort -u)
	got=$(cache_objects "$cache")
	[[ $want == "$got" ]] || fail "cache $cache holds $(wc -w <<<"$got") objects, expected $(wc -w <<<"$want")"
	check_cache "$cache"
	log "findmnt: $fstype $source $opts; $n files as condafs cat, objects in $cache"
}

# umount_gone: umount(8) unmounts /env and the daemon exits.
umount_gone() {
	local pid
	pid=$(daemon_pid /env)
	umount /env || fail "umount /env failed"
	MOUNTS=()
	wait_gone "$pid"
	is_mounted /env && fail "/env still mounted after umount"
	log "umount /env: daemon $pid exited"
}

# 1. mount -t fuse.condafs with the settings in -o.
mount -t fuse.condafs "$IDX" /env -o "ro,store=$STORE,cache=$T/cache-t,cache_size=1G,fetch_timeout=10" ||
	fail "mount -t fuse.condafs failed"
MOUNTS+=(/env)
check_env "$T/cache-t"
# ps shows the daemon's options as mount(8) passed them.
args=$(tr '\0' ' ' <"/proc/$(daemon_pid /env)/cmdline")
[[ $args == *"store=$STORE,cache=$T/cache-t,cache_size=1G"* ]] ||
	fail "the daemon's command line reads '$args'"
umount_gone

# 2. A bad value is refused with one clear message naming the option, and
# nothing is mounted.
rc=0
mount -t fuse.condafs "$IDX" /env -o "store=$STORE,cache=$T/cache-bad,cache_size=lots" \
	>"$T/out" 2>"$T/err" || rc=$?
[[ $rc != 0 ]] || { MOUNTS+=(/env); fail "cache_size=lots was accepted"; }
grep -q "cache_size" "$T/err" || fail "bad cache_size: message '$(cat "$T/err")' does not name it"
is_mounted /env && fail "bad cache_size: something got mounted"
[[ ! -e $T/cache-bad ]] || fail "bad cache_size: the cache was created anyway"
log "cache_size=lots refused (mount exit $rc): $(head -n 1 "$T/err")"
rc=0
mount -t fuse.condafs "$IDX" /env -o "store=$T/no-such-store,cache=$T/cache-bad" \
	>"$T/out" 2>"$T/err" || rc=$?
[[ $rc != 0 ]] || { MOUNTS+=(/env); fail "a missing store was accepted"; }
grep -q "no-such-store" "$T/err" || fail "missing store: message '$(cat "$T/err")' does not name it"
is_mounted /env && fail "missing store: something got mounted"
log "missing store refused (mount exit $rc): $(head -n 1 "$T/err")"

# 3. The same through /etc/fstab.  This root's /etc is the host's, bound:
# an fstab of our own is bound over /etc/fstab in this namespace only.
# noauto, nofail, _netdev and x-systemd.* are for mount(8) and systemd;
# mount.fuse3 and condafs must not choke on them.
cat >"$T/fstab" <<EOF
# condafs test fstab
$IDX /env fuse.condafs ro,noauto,nofail,_netdev,x-systemd.requires-mounts-for=$T,store=$STORE,cache=$T/cache-f,cache_size=1G 0 0
EOF
mount --bind "$T/fstab" /etc/fstab
mount /env || fail "mount /env (fstab) failed"
MOUNTS+=(/env)
check_env "$T/cache-f"
umount_gone

# 4. systemd's stop of a Type=forking unit: SIGTERM to the daemon, which
# systemd then reaps as the unit's main process.  A subreaper stands in for
# systemd, so the daemon's exit status is seen.
MOUNTS+=(/env) # for the cleanup, should this fail half-way
python3 - "$T" <<'PY' || fail "SIGTERM: see above"
import ctypes, json, os, signal, subprocess, sys, time
t = sys.argv[1]
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
if subprocess.run(["mount", "/env"]).returncode != 0:
    sys.exit("mount /env failed")
pid = json.loads(os.getxattr("/env", "user.condafs.stats"))["pid"]
# A mount in use: one file read, as a service would have.
first = next(os.path.join(d, f) for d, _, fs in sorted(os.walk("/env")) for f in sorted(fs)
             if os.path.isfile(os.path.join(d, f)))
with open(first, "rb") as f:
    f.read()
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 20
while True:
    got, status = os.waitpid(-1, os.WNOHANG)
    if got == pid:
        break
    if got == 0:
        if time.monotonic() > deadline:
            sys.exit(f"daemon {pid} did not exit within 20 s of SIGTERM")
        time.sleep(0.05)
with open("/proc/self/mounts") as f:
    if any(line.split()[1] == "/env" for line in f):
        sys.exit("/env still mounted after SIGTERM")
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
    sys.exit(f"daemon {pid}: wait status {status:#x}, expected exit 0")
print(f"fstab: SIGTERM: daemon {pid} unmounted /env and exited 0")
PY
MOUNTS=()

# No daemon of this test is left (each mount above used this test's index).
left=$(pgrep -f "$IDX" || true)
[[ -z $left ]] || fail "condafs processes left: $(ps -o pid,args -p "${left//$'\n'/,}")"
log "ok"
