#!/bin/bash
# SPDX-License-Identifier: MIT
# The corpus environment at /env: every path matches the index (type, mode,
# size, mtime, symlink target, content); metadata never fetches; the cache
# ends up holding exactly the objects of the files read; the mount is
# read-only; xattrs, statfs and the stats counters; a warm remount reuses the
# cache; single-threaded mode serves the same tree.  The first mount has
# speculation off: an open may decode an object that speculation is
# decoding too, and this counts each object fetched once.
# Usage: tree.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

corpus_index "$T/corpus"
IDX=$T/corpus/env.cfs
CACHE=$T/cache

mount_env "$IDX" /env --cache "$CACHE" --speculate 0
[[ -z $(cache_objects "$CACHE") ]] || fail "objects were fetched at mount time"
[[ $(stat -f -c %T /env) == fuse* ]] || fail "/env is not a FUSE mount"
grep -q " /env fuse.condafs ro," /proc/self/mounts || fail "/env is not mounted read-only as fuse.condafs"

# Metadata only: lookups, getattr, readdir(plus), readlink.
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --no-content
[[ -z $(cache_objects "$CACHE") ]] || fail "metadata access fetched objects"
[[ $(stat_field /env objects_fetched) == 0 ]] || fail "metadata access counted fetches"

# Everything, with condafs cat as the reference for every file.
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat all
want=$("$CONDAFS" ls -R --json "$IDX" | python3 -c '
import json, sys
print("\n".join(sorted({e["digest"] for e in map(json.loads, sys.stdin) if e["digest"] and e["size"]})))')
[[ $(cache_objects "$CACHE") == "$want" ]] || fail "the cache does not hold exactly the objects read"
check_cache "$CACHE"
n_want=$(grep -c . <<<"$want")
[[ $(stat_field /env objects_fetched) == "$n_want" ]] ||
	fail "objects_fetched is $(stat_field /env objects_fetched), expected $n_want"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"
log "read every file; $n_want objects fetched once each"

# Read-only: every kind of change fails with EROFS.
for cmd in "touch /env/new" "mkdir /env/newdir" "rm -f /env/bin/hello-1.0" \
	"ln -s x /env/newlink" "mv /env/bin /env/bin2" "chmod 777 /env/bin/hello-1.0" \
	"dd if=/dev/null of=/env/bin/hello-1.0 conv=notrunc status=none"; do
	if out=$(bash -c "$cmd" 2>&1); then
		fail "'$cmd' succeeded on a read-only mount"
	fi
	[[ $out == *"Read-only file system"* ]] || fail "'$cmd': expected EROFS, got: $out"
done
python3 - <<'PY' || fail "xattr/statfs/lookup checks"
import errno, json, os
assert os.listxattr("/env") == [], os.listxattr("/env")
assert os.listxattr("/env/bin/hello-1.0") == []
for p, name in (("/env/bin", "user.x"), ("/env", "user.other"), ("/env/bin/hello-1.0", "user.condafs.stats")):
    try:
        os.getxattr(p, name)
        raise SystemExit(f"getxattr {p} {name} succeeded")
    except OSError as e:
        assert e.errno == errno.ENODATA, e
s = json.loads(os.getxattr("/env", "user.condafs.stats"))
for k in ("opens", "cache_hits", "cache_misses", "objects_fetched", "bytes_fetched",
          "bytes_served", "fetch_errors", "fetch_p50_us", "fetch_p99_us"):
    assert isinstance(s[k], int), k
assert s["opens"] > 0 and s["bytes_fetched"] > 0
# Reads come to the daemon only for files the kernel does not read itself.
assert s["bytes_served"] > 0 or s["passthrough_opens"] > 0, s
sv = os.statvfs("/env")
assert sv.f_flag & os.ST_RDONLY and sv.f_files > 0 and sv.f_namemax == 255, sv
for p in ("/env/nonexistent", "/env/bin/hello-1.0/x", "/env/nope/x"):
    try:
        os.lstat(p)
        raise SystemExit(f"{p} exists")
    except OSError as e:
        assert e.errno in (errno.ENOENT, errno.ENOTDIR), e
try:
    os.open("/env/bin/hello-1.0", os.O_WRONLY)
    raise SystemExit("open for writing succeeded")
except OSError as e:
    assert e.errno == errno.EROFS, e
PY
"$CONDAFS" stats /env >"$T/stats.txt" || fail "condafs stats failed"
grep -q "^objects fetched *$n_want$" "$T/stats.txt" || { cat "$T/stats.txt"; fail "stats table"; }

# Warm remount: the cache is reused, nothing is fetched again.
umount_env /env
mount_env "$IDX" /env --cache "$CACHE"
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 0
[[ $(stat_field /env objects_fetched) == 0 ]] || fail "a warm mount fetched objects again"
[[ $(stat_field /env cache_hits) -ge $n_want ]] || fail "a warm mount did not count cache hits"
umount_env /env

# Single-threaded mode serves the same tree, here from a file:// store URL.
mount_env "$IDX" /env --cache "$T/cache-s" -s --store "file://$T/corpus/store"
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 3
check_cache "$T/cache-s"
umount_env /env
log "ok"
