#!/bin/bash
# SPDX-License-Identifier: MIT
# Daemon memory: a synthetic 50,000-file environment is walked completely
# (lookup, getattr, readdir, readlink of every entry) and some files are
# read; the daemon's peak RSS (VmHWM) stays under 64 MB.
# Usage: memory.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

N=50000
python3 "$HERE/mkbigpkg.py" "$T/big" "$N"
"$CONDAFS" index "$T/big/lock.txt" -o "$T/big.cfs" --store "$T/store" --cache "$T/pkgs" -q ||
	fail "condafs index (big package) failed"
mount_env "$T/big.cfs" /env --cache "$T/cache"
PID=$(daemon_pid /env)
python3 - "$N" <<'PY' || fail "walking the tree"
import os, sys
files = links = 0
for root, dirs, names in os.walk("/env"):
    for n in names:
        p = os.path.join(root, n)
        st = os.lstat(p)
        if os.path.islink(p):
            links += 1
            os.readlink(p)
        else:
            files += 1
assert files >= int(sys.argv[1]), files
print(f"walked {files} files, {links} symlinks")
PY
find /env -name "module_file_000*.py" -print0 | xargs -0 cat >/dev/null ||
	fail "reading files failed"
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")
log "peak RSS of the daemon for $N files: $hwm kB"
[[ $hwm -le 65536 ]] || fail "peak RSS $hwm kB is over 64 MB"
umount_env /env
log "ok"
