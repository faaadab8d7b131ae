#!/bin/bash
# SPDX-License-Identifier: MIT
# FUSE passthrough (docs/mount.md, "Passthrough"): with a libfuse that has
# it (>= 3.16) and a kernel that offers it (>= 6.9), opens of cached files
# hand the cache file to the kernel, which serves read() and mmap() without
# the daemon.
#  - Python and an entry point run from the mount; no read reaches the
#    daemon; every byte read and mapped equals the index.
#  - Eviction under load while passthrough files are open and mapped: the
#    held cache files stay, and read right.
#  - --no-open: no OPEN or RELEASE requests; reads fetch, and pages stay
#    across opens; isatty() stores a file in the page cache before its
#    reads; --trace keeps opens.
#  - --no-passthrough, and a mount by an unprivileged user (the kernel
#    refuses it backing files): the daemon serves every read, correctly,
#    and says why in one log line.
# Built against a libfuse without passthrough (CI's libfuse 3.14 build),
# every mount serves through the daemon and logs that once.
# Usage: passthrough.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
IDX=$T/py/env.cfs

# What to expect of this build and this kernel.
built=$("$CONDAFS" --version | sed -n 2p)
kernel=$(uname -r | cut -d. -f1-2)
if [[ $built == *"(passthrough)" ]] && printf '6.9\n%s\n' "$kernel" | sort -V -C; then
	PT=1
	log "$built, kernel $kernel: passthrough expected"
else
	PT=0
	log "$built, kernel $kernel: no passthrough expected"
fi
# log_count FILE PATTERN: lines of FILE matching PATTERN.
log_count() {
	grep -c -- "$2" "$1" || true
}

# ---- Default mount, as root: Python, an entry point, every byte.
: >"$T/daemon.log"
mount_env "$IDX" /env --cache "$T/cache" -v
out=$(/env/bin/python3 -c 'import json, sqlite3, ssl, ctypes, flask, sys
print(sys.prefix, flask.__name__, ssl.OPENSSL_VERSION.split()[0])') ||
	fail "python3 failed on the mount"
[[ $out == "/env flask OpenSSL" ]] || fail "python printed: $out"
/env/bin/flask --version >"$T/ep.out" 2>&1 || { cat "$T/ep.out"; fail "/env/bin/flask --version failed"; }
if [[ $PT == 1 ]]; then
	[[ $(stat_field /env passthrough) == True ]] || fail "passthrough is off: $(grep passthrough "$T/daemon.log")"
	opens=$(stat_field /env passthrough_opens)
	[[ $opens -gt 0 ]] || fail "no passthrough opens"
	[[ $(stat_field /env bytes_served) == 0 ]] ||
		fail "the daemon served $(stat_field /env bytes_served) bytes of passthrough files"
	[[ $(log_count "$T/daemon.log" "passthrough: on") == 1 ]] || fail "no 'passthrough: on' log line"
	log "python, flask: $opens passthrough opens, no read through the daemon"
else
	[[ $(stat_field /env passthrough) == False ]] || fail "passthrough is on"
	[[ $(stat_field /env passthrough_opens) == 0 ]] || fail "passthrough opens counted"
	[[ $(log_count "$T/daemon.log" "passthrough: off: condafs was built against libfuse\|passthrough: this kernel does not offer it") == 1 ]] ||
		fail "no one-line reason for serving without passthrough"
	log "python, flask: served by the daemon ($(grep -o 'passthrough: .*' "$T/daemon.log"))"
fi
# Every file read and mapped (shared libraries, bytecode, sources).
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 20 --mmap
[[ $PT == 0 || $(stat_field /env bytes_served) == 0 ]] || fail "reads reached the daemon"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"
check_cache "$T/cache"
umount_env /env

# ---- --no-open, empty cache: the kernel opens files without the daemon,
# reads fetch what they need, and a second run on the same mount reads
# nothing through the daemon (pages kept across opens).
: >"$T/daemon.log"
mount_env "$IDX" /env --cache "$T/cache-noopen" --no-open -v
/env/bin/python3 -c 'import json, ssl, flask' || fail "python3 failed with --no-open"
[[ $(log_count "$T/daemon.log" "no-open: on") == 1 ]] || fail "--no-open: no 'no-open: on' line"
[[ $(stat_field /env opens) == 0 ]] || fail "--no-open: $(stat_field /env opens) opens reached the daemon"
[[ $(stat_field /env passthrough) == False ]] || fail "--no-open: passthrough is on"
fetched=$(stat_field /env objects_fetched)
served=$(stat_field /env bytes_served)
[[ $fetched -gt 0 && $served -gt 0 ]] || fail "--no-open: reads fetched $fetched objects, served $served bytes"
/env/bin/python3 -c 'import json, ssl, flask' || fail "python3 failed again with --no-open"
# The page cache may drop a page under load: the second run reads next to
# nothing (each run re-reading its files would read as much as the first).
again=$(( $(stat_field /env bytes_served) - served ))
[[ $again -le $((served / 20)) ]] ||
	fail "--no-open: the second run read $again bytes through the daemon (the first $served)"
# isatty() is the one request an open sends: the daemon answers it by
# storing the file in the page cache first (each file once), so Python's
# imports and a read after an isatty() read nothing through the daemon.
stored=$(stat_field /env stored_ahead)
# Python 3.14 no longer calls isatty() on files that are not devices.
if /env/bin/python3 -c 'import sys; sys.exit(sys.version_info >= (3, 14))'; then
	[[ $stored -gt 0 ]] || fail "--no-open: Python's isatty() calls stored no file ahead"
fi
rel=$(cd /env && ls lib/python3.*/this.py) || fail "--no-open: no this.py in the environment"
before=$(stat_field /env bytes_served)
python3 - "/env/$rel" "$T/this.py" <<'PY' || fail "--no-open: isatty() then read of /env/$rel failed"
import sys
with open(sys.argv[1], "rb", buffering=0) as f:
    assert not f.isatty(), "a file of the mount says it is a terminal"
    data = f.read()
open(sys.argv[2], "wb").write(data)
PY
"$CONDAFS" cat "$IDX" "$rel" | cmp -s - "$T/this.py" || fail "--no-open: /env/$rel read wrong after isatty()"
[[ $(stat_field /env stored_ahead) == $((stored + 1)) ]] ||
	fail "--no-open: isatty() on /env/$rel stored $(( $(stat_field /env stored_ahead) - stored )) files"
[[ $(stat_field /env bytes_served) == "$before" ]] ||
	fail "--no-open: reading /env/$rel after isatty() went through the daemon"
# Other ioctls (lsattr's FS_IOC_GETFLAGS) are refused and store nothing.
stored=$(stat_field /env stored_ahead)
other=$(cd /env && ls lib/python3.*/antigravity.py) || fail "--no-open: no antigravity.py"
python3 - "/env/$other" <<'PY' || fail "--no-open: FS_IOC_GETFLAGS on /env/$other was not refused with ENOTTY"
import errno, fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x80086601, b"\0" * 8)  # FS_IOC_GETFLAGS
except OSError as e:
    sys.exit(e.errno != errno.ENOTTY)
sys.exit(1)
PY
[[ $(stat_field /env stored_ahead) == "$stored" ]] || fail "--no-open: FS_IOC_GETFLAGS stored a file"
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 10 --mmap
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "--no-open: fetch errors"
check_cache "$T/cache-noopen"
umount_env /env
log "--no-open: $fetched objects fetched ($served bytes read), $stored files stored ahead, $again bytes read again by a second run, every byte right"
: >"$T/daemon.log"
mount_env "$IDX" /env --cache "$T/cache-noopen" --no-open --trace "$T/noopen.trace" -v
/env/bin/python3 -c 'import json' || fail "python3 failed with --no-open --trace"
[[ $(log_count "$T/daemon.log" "no-open: off: --trace records every open") == 1 ]] ||
	fail "--no-open --trace: no line saying opens are kept"
[[ $(stat_field /env opens) -gt 0 ]] || fail "--no-open --trace: no opens"
umount_env /env
# One thread (-s) stores nothing ahead: a store would wait for a READ that
# only that thread could serve.  Imports still work, through READs.
mount_env "$IDX" /env --cache "$T/cache-noopen" --no-open -s
/env/bin/python3 -c 'import json, ssl, flask' || fail "python3 failed with --no-open -s"
[[ $(stat_field /env stored_ahead) == 0 ]] || fail "--no-open -s: files were stored ahead"
[[ $(stat_field /env bytes_served) -gt 0 ]] || fail "--no-open -s: no read reached the daemon"
umount_env /env

# ---- --no-passthrough, same (warm) cache: the daemon serves.
: >"$T/daemon.log"
mount_env "$IDX" /env --cache "$T/cache" --no-passthrough -v
/env/bin/python3 -c 'import json, ssl, flask' || fail "python3 failed with --no-passthrough"
[[ $(stat_field /env passthrough) == False ]] || fail "--no-passthrough: passthrough is on"
[[ $(stat_field /env passthrough_opens) == 0 ]] || fail "--no-passthrough: passthrough opens"
[[ $(stat_field /env bytes_served) -gt 0 ]] || fail "--no-passthrough: the daemon served nothing"
if [[ $PT == 1 ]]; then
	[[ $(log_count "$T/daemon.log" "passthrough: off (--no-passthrough)") == 1 ]] ||
		fail "--no-passthrough: no log line"
fi
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 0 --mmap
umount_env /env
# The same as a -o option (mount -t fuse.condafs, /etc/fstab).
mount_env "$IDX" /env --cache "$T/cache" -o no_passthrough
cmp /env/bin/python3 <("$CONDAFS" cat "$IDX" bin/python3) || fail "-o no_passthrough: python3 reads wrong"
[[ $(stat_field /env passthrough) == False && $(stat_field /env passthrough_opens) == 0 ]] ||
	fail "-o no_passthrough: passthrough is on"
umount_env /env
log "--no-passthrough, -o no_passthrough: the daemon serves, every byte right"

# ---- Eviction under load while passthrough files are open and mapped.
corpus_index "$T/corpus"
CIDX=$T/corpus/env.cfs
mount_env "$CIDX" /env --cache "$T/cache-small" --cache-size 160K
python3 - "$CONDAFS" "$CIDX" "$HERE/check-tree.py" "$T/cache-small" "$PT" <<'PY' ||
import hashlib, json, mmap, os, subprocess, sys
condafs, index, check_tree, cache, pt = sys.argv[1:6]
def stats():
    return json.loads(subprocess.run([condafs, "stats", "--json", "/env"], check=True,
                                     capture_output=True, text=True).stdout)
files = [json.loads(l) for l in subprocess.run([condafs, "ls", "-R", "--json", index],
         check=True, capture_output=True, text=True).stdout.splitlines()]
files = [e for e in files if e["type"] == "file" and 4096 < e["size"] < 32768]
held = sorted(files, key=lambda e: -e["size"])[:3]
assert len(held) == 3, "the corpus has too few files for this test"
fds, maps = [], []
before = stats()["passthrough_opens"]
for e in held:
    f = open("/env/" + e["path"], "rb")
    fds.append(f)
    maps.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))
if pt == "1":
    assert stats()["passthrough_opens"] - before == 3, "held files are not passthrough"
# Four readers at once read every file: the 160K cache evicts all along.
readers = [subprocess.Popen([sys.executable, check_tree, condafs, index, "/env", "--cat", "0",
                             "--skip", held[i % 3]["path"]], stdout=subprocess.DEVNULL)
           for i in range(4)]
assert all(r.wait() == 0 for r in readers), "a reader saw wrong content under eviction"
s = stats()
assert s["evictions"] > 0, "nothing was evicted"
for e, f, m in zip(held, fds, maps):
    obj = os.path.join(cache, "objects", e["digest"][:2], e["digest"])
    assert os.path.exists(obj), f"{e['path']}: its cache file was evicted while open"
    f.seek(0)
    assert hashlib.sha256(f.read()).hexdigest() == e["digest"], f"{e['path']} reads wrong"
    assert hashlib.sha256(m).hexdigest() == e["digest"], f"{e['path']} maps wrong"
print(f"passthrough: eviction: {s['evictions']} evictions under 4 readers; "
      f"3 open, mapped files kept and read right")
PY
	fail "eviction with open passthrough files"
check_cache "$T/cache-small"
umount_env /env

# ---- An unprivileged user: the kernel refuses backing files (no
# CAP_SYS_ADMIN); one log line, then every read through the daemon.
if ! command -v setpriv >/dev/null || ! command -v fusermount3 >/dev/null; then
	log "as a user: skipped (no setpriv or fusermount3)"
else
	mkdir -m 777 "$T/user" && mkdir -m 777 "$T/user/mnt" "$T/user/cache"
	# /dev/fuse is usually root's only: a node everyone may open is bound
	# over it, in this namespace only (fusermount3 then does the mount).
	mknod "$T/fuse" c 10 229 && chmod 666 "$T/fuse" && mount --bind "$T/fuse" /dev/fuse
	chmod -R a+rX "$T/corpus"
	as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	as_user "$CONDAFS" mount "$CIDX" "$T/user/mnt" --cache "$T/user/cache" \
		--log-file "$T/user/log" -v || { cat "$T/user/log" >&2; fail "as a user: mount failed"; }
	as_user /usr/bin/python3 "$HERE/check-tree.py" "$CONDAFS" "$CIDX" "$T/user/mnt" --cat 5 --mmap ||
		{ cat "$T/user/log" >&2; fail "as a user: wrong content"; }
	[[ $(as_user "$CONDAFS" stats --json "$T/user/mnt" | python3 -c 'import json,sys
s = json.load(sys.stdin); print(s["passthrough"], s["passthrough_opens"], s["bytes_served"] > 0)') == "False 0 True" ]] ||
		fail "as a user: expected the daemon to serve every read"
	if [[ $PT == 1 ]]; then
		[[ $(log_count "$T/user/log" "passthrough: the kernel refused a backing file") == 1 ]] ||
			{ cat "$T/user/log" >&2; fail "as a user: no one-line reason"; }
		[[ $(log_count "$T/user/log" "passthrough_open") == 0 ]] || fail "as a user: libfuse's own line leaked"
	fi
	pid=$(as_user "$CONDAFS" stats --json "$T/user/mnt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
	as_user "$CONDAFS" umount "$T/user/mnt" || fail "as a user: umount failed"
	wait_gone "$pid"
	umount /dev/fuse
	log "as a user: $(grep -o 'passthrough: .*' "$T/user/log" | head -n1)"
fi
log "ok"
