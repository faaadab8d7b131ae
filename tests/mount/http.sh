#!/bin/bash
# SPDX-License-Identifier: MIT
# The realistic environment (or the corpus one without mkpyenv.py) served
# from an HTTP store: Debian's nginx on 127.0.0.1 serving the store
# directory.  Python runs from the mount, the cache holds exactly the opened
# files' objects, the whole tree matches the index, and HTTP connections are
# reused across fetches.
# Usage: http.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

if pyenv_index "$T/py"; then
	IDX=$T/py/env.cfs
	PY=1
else
	corpus_index "$T/py"
	IDX=$T/py/env.cfs
	PY=
fi
start_nginx "$(realpath "$T/py/store")"
CACHE=$T/cache
# One request per object (--no-packs): the cache then holds exactly the
# opened files' objects.  Pack ranges and speculation: packs.sh.
mount_env "$IDX" /env --store "$URL/store/" --cache "$CACHE" --no-packs
[[ $(stat_field /env store) == "$URL/store/" ]] || fail "the mount does not use the HTTP store"

if [[ -n $PY ]] && command -v strace >/dev/null; then
	strace -f -qq -e trace=openat,open,execve -o "$T/trace1" \
		/env/bin/python3 -c 'import json, sqlite3, ssl, flask' || fail "python3 failed on the mount"
	strace -f -qq -e trace=openat,open,execve -o "$T/trace2" /env/bin/flask --version \
		>"$T/out" 2>&1 || { cat "$T/out"; fail "flask --version failed"; }
	want=$(python3 "$HERE/opened-objects.py" "$CONDAFS" "$IDX" /env "$T/trace1" "$T/trace2")
	[[ $(cache_objects "$CACHE") == "$want" ]] ||
		fail "the cache does not hold exactly the objects of the opened files"
	log "python over HTTP: $(grep -c . <<<"$want") objects fetched, exactly those opened"
fi
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 10
check_cache "$CACHE"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"

# Connection reuse: far fewer connections than requests.
read -r reqs conns < <(awk '$3 ~ /^\/store\// { n++; c[$1] = 1 } END { print n, length(c) }' "$T/access.log")
fetched=$(stat_field /env objects_fetched)
[[ $reqs == "$fetched" ]] || fail "$reqs requests for $fetched objects"
[[ $conns -lt $reqs && $conns -le 64 ]] || fail "$reqs requests used $conns connections"
log "$reqs objects over $conns HTTP connections; p50 $(stat_field /env fetch_p50_us) us, p99 $(stat_field /env fetch_p99_us) us"
umount_env /env
log "ok"
