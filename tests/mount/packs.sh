#!/bin/bash
# SPDX-License-Identifier: MIT
# Packs over HTTP (docs/store.md, docs/mount.md "Fetching over a network"):
# the realistic environment (or the corpus one) served by nginx on
# 127.0.0.1, mounted with pack ranges and without.
#  1. The tree and every byte are the index's either way; with packs, fewer
#     requests than objects, and ranges of packs among them.
#  2. One corrupt byte in a pack: that object is fetched alone, served right.
#  3. A pack missing on the server: its objects are fetched one by one.
#  4. A server that ignores Range (200 with the whole pack): served right.
#  5. 16 readers while --prefetch streams every object: right bytes, done.
#  6. A working set's own pack (condafs pack) streamed by --prefetch.
#  7. --stream-packs: always queues whole packs after a miss and the heads
#     of an opened package's dependencies' packs, never does neither, and the default does behind 4 ms round trips on a fast link,
#     not on a 4 MB/s one.
#  8. A local store: objects read from packs; an open's neighbours in its
#     pack speculated into the cache (not with --speculate 0); a corrupt
#     pack falls back to the object alone, a missing pack to the objects
#     one by one.
# Usage: packs.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

if pyenv_index "$T/py"; then
	PY=1
else
	corpus_index "$T/py"
	PY=
fi
IDX=$T/py/env.cfs
STORE=$(realpath "$T/py/store")
npacks=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM packs").fetchone()[0])' "$IDX")
[[ $npacks -gt 0 ]] || fail "the index has no packs"
"$CONDAFS" ls -R --json "$IDX" >"$T/ls.json" || fail "condafs ls failed"

# The fault store: the same objects, copies of the packs to break.
mkdir -p "$T/fault"
ln -s "$STORE/objects" "$T/fault/objects"
cp -r "$STORE/packs" "$STORE/condafs-store.json" "$T/fault/"
start_nginx "$STORE"

# place.py: "<path> <digest> <pack name> <offset> <csize> <next path>" for
# files whose object sits in a pack with a next entry that is another
# file's (a neighbour an open brings along), one per pack, small ones first.
python3 - "$IDX" "$T/ls.json" >"$T/places" <<'EOF'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
path_of = {}
for e in map(json.loads, open(sys.argv[2])):
    if e["type"] == "file" and e["size"] > 0 and not e["pruned"]:
        path_of.setdefault(e["digest"], e["path"])
rows = db.execute("SELECT lower(hex(o.digest)), p.name, o.pack_offset, o.csize, p.id"
                  " FROM objects o JOIN packs p ON p.id = o.pack ORDER BY p.id, o.pack_offset").fetchall()
seen = set()
out = []
for (d, name, off, csize, pid), nxt in zip(rows, rows[1:]):
    if pid in seen or nxt[4] != pid or d not in path_of or nxt[0] not in path_of:
        continue
    # Small, and a neighbour that speculation brings along (--speculate 256K).
    if not (1000 <= csize <= 20000) or not (0 < nxt[3] <= 100000):
        continue
    seen.add(pid)
    out.append((csize, path_of[d], d, name, off, csize, path_of[nxt[0]]))
for r in sorted(out)[:3]:
    print(*r[1:])
EOF
[[ $(wc -l <"$T/places") -ge 2 ]] || fail "no two packs with small neighbouring files"
read -r F FD FPACK FOFF FCSIZE FNEXT < <(sed -n 1p "$T/places")
read -r G GD GPACK GOFF GCSIZE GNEXT < <(sed -n 2p "$T/places")

# prefetch_finished MOUNTPOINT: waits (bounded) until the prefetch is done.
prefetch_finished() {
	local i total
	total=$(stat_field "$1" prefetch_objects)
	for i in $(seq 1200); do
		[[ $(stat_field "$1" prefetch_done) == "$total" ]] && return 0
		sleep 0.1
	done
	fail "the prefetch did not finish: $(stat_field "$1" prefetch_done) of $total"
}

# cat_ok MOUNTPOINT PATH...: each file reads as `condafs cat` says.
cat_ok() {
	local mp=$1 p
	shift
	for p; do
		cmp "$mp/$p" <("$CONDAFS" cat "$IDX" "$p") || fail "$p read through the mount differs"
	done
}

# 1. With and without packs: the same tree, every byte the index's.
for mode in packs nopacks; do
	args=()
	[[ $mode == nopacks ]] && args=(--no-packs)
	mount_env "$IDX" /env --store "$URL/store/" --cache "$T/cache-$mode" "${args[@]}"
	if [[ -n $PY ]]; then
		/env/bin/python3 -c 'import json, sqlite3, ssl, email.mime.text, flask' ||
			fail "$mode: python3 failed on the mount"
		/env/bin/flask --version >"$T/out" 2>&1 || { cat "$T/out"; fail "$mode: flask --version failed"; }
	fi
	reqs=$(stat_field /env http_requests)
	fetched=$(stat_field /env objects_fetched)
	ranges=$(stat_field /env range_requests)
	log "$mode: start-up: $fetched objects in $reqs requests ($ranges ranges of packs)"
	python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 20 || fail "$mode: the tree differs"
	check_cache "$T/cache-$mode"
	[[ $(stat_field /env fetch_errors) == 0 ]] || fail "$mode: fetch errors"
	[[ $(stat_field /env fallbacks) == 0 ]] || fail "$mode: objects fetched alone on a healthy store"
	reqs=$(stat_field /env http_requests)
	fetched=$(stat_field /env objects_fetched)
	ranges=$(stat_field /env range_requests)
	if [[ $mode == packs ]]; then
		[[ $ranges -gt 0 && $(stat_field /env pack_objects) -gt 0 ]] ||
			fail "packs: no object came in a range of a pack"
		[[ $reqs -lt $fetched ]] || fail "packs: $reqs requests for $fetched objects"
		[[ $(stat_field /env speculated) -gt 0 ]] || fail "packs: no neighbour came along"
	else
		[[ $ranges == 0 && $reqs == "$fetched" ]] ||
			fail "--no-packs: $reqs requests ($ranges ranges) for $fetched objects"
	fi
	log "$mode: whole tree: $fetched objects in $reqs requests ($ranges ranges of packs)"
	umount_env /env
done
diff <(cache_objects "$T/cache-packs") <(cache_objects "$T/cache-nopacks") >&2 ||
	fail "the caches with and without packs hold different objects"

# 2. One corrupt byte in F's object inside its pack.
python3 - "$T/fault/$FPACK" $((FOFF + FCSIZE / 2)) <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xFF]))
EOF
mount_env "$IDX" /env --store "$URL/fault/" --cache "$T/cache-corrupt"
cat_ok /env "$F" "$FNEXT"
[[ $(stat_field /env fallbacks) -ge 1 ]] || fail "corrupt pack: no object was fetched alone"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "corrupt pack: fetch errors"
grep -q " 200 /fault/objects/${FD:0:2}/$FD.zst" "$T/access.log" ||
	fail "corrupt pack: $F's object was not fetched alone"
log "a corrupt byte in $FPACK: $F fetched alone and served right, its neighbour too"

# 3. G's pack missing on the server.
rm "$T/fault/$GPACK"
cat_ok /env "$G" "$GNEXT"
grep -q " 404 /fault/$GPACK" "$T/access.log" || fail "missing pack: no 404 for $GPACK"
grep -q " 200 /fault/objects/${GD:0:2}/$GD.zst" "$T/access.log" ||
	fail "missing pack: $G's object was not fetched alone"
grep -q "one by one" "$T/daemon.log" || fail "missing pack: not logged"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "missing pack: fetch errors"
log "a missing pack: its objects fetched one by one"
umount_env /env

# 4. A server that ignores Range: 200 and the whole pack.
mount_env "$IDX" /env --store "$URL/norange/" --cache "$T/cache-norange"
cat_ok /env "$F" "$FNEXT" "$G" "$GNEXT"
grep -q " 200 /norange/packs/" "$T/access.log" || fail "norange: no whole-pack answer seen"
! grep -q " 206 /norange/" "$T/access.log" || fail "norange: nginx answered a range"
[[ $(stat_field /env fallbacks) == 0 && $(stat_field /env fetch_errors) == 0 ]] ||
	fail "norange: fallbacks or errors"
[[ $(stat_field /env pack_objects) -ge 4 ]] || fail "norange: the neighbours did not come from the packs"
log "a server that ignores Range: objects read from whole packs"
umount_env /env

# 8. A local store reads objects from their packs, with the same fallbacks.
# Without speculation first: its loads would move the counters compared here.
mount_env "$IDX" /env --store "$STORE" --cache "$T/cache-local" --speculate 0
python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 20 || fail "local: the tree differs"
[[ $(stat_field /env pack_objects) -gt 0 &&
	$(stat_field /env pack_objects) == "$(stat_field /env objects_fetched)" ]] ||
	fail "local: $(stat_field /env pack_objects) of $(stat_field /env objects_fetched) objects read from packs"
[[ $(stat_field /env fallbacks) == 0 && $(stat_field /env fetch_errors) == 0 ]] ||
	fail "local: fallbacks or errors on a healthy store"
umount_env /env
# After a miss, its neighbours in the pack come into the cache before any
# open asks (speculation); with --speculate 0 nothing does.
FNEXT_OBJ=$(python3 -c 'import json, sys
for e in map(json.loads, open(sys.argv[1])):
    if e["path"] == sys.argv[2]:
        print("objects/%s/%s" % (e["digest"][:2], e["digest"]))' "$T/ls.json" "$FNEXT")
[[ -n $FNEXT_OBJ ]] || fail "no digest for $FNEXT"
for spec in on off; do
	args=()
	[[ $spec == off ]] && args=(--speculate 0)
	cache=$T/cache-local-spec-$spec
	mount_env "$IDX" /env --store "$STORE" --cache "$cache" "${args[@]}"
	cat_ok /env "$F"
	if [[ $spec == on ]]; then
		for _ in $(seq 300); do
			[[ $(stat_field /env speculated) -ge 1 ]] && break
			sleep 0.1
		done
		[[ -f $cache/$FNEXT_OBJ ]] ||
			fail "local: $FNEXT, next to $F in its pack, was not speculated into the cache" \
				"($(stat_field /env speculated) objects speculated)"
		cat_ok /env "$FNEXT"
		[[ $(stat_field /env cache_hits) == 1 && $(stat_field /env cache_misses) == 1 &&
			$(stat_field /env fetch_waits) == 1 ]] ||
			fail "local: the open of a speculated file missed:" \
				"$(stat_field /env cache_hits) hits, $(stat_field /env cache_misses) misses"
	else
		sleep 1
		[[ $(stat_field /env speculated) == 0 && ! -e $cache/$FNEXT_OBJ ]] ||
			fail "local: --speculate 0 speculated"
		cat_ok /env "$FNEXT"
		[[ $(stat_field /env cache_misses) == 2 && $(stat_field /env fetch_waits) == 2 ]] ||
			fail "local: --speculate 0: $(stat_field /env cache_misses) misses of 2 opens"
	fi
	[[ $(stat_field /env fetch_errors) == 0 ]] || fail "local: speculation $spec: fetch errors"
	umount_env /env
done
mount_env "$IDX" /env --store "$T/fault" --cache "$T/cache-local-fault"
cat_ok /env "$F" "$FNEXT" "$G" "$GNEXT"
[[ $(stat_field /env fallbacks) -ge 1 && $(stat_field /env fetch_errors) == 0 ]] ||
	fail "local: the corrupt pack's object was not read alone"
grep -q "$F: .*/$FPACK at $FOFF: corrupt object.*reading its object alone" "$T/daemon.log" ||
	fail "local: the corrupt pack was not logged"
[[ $(stat_field /env pack_objects) -ge 1 ]] || fail "local: nothing was read from a pack"
umount_env /env
log "a local store: every object read from its pack; neighbours speculated;" \
	"a corrupt and a missing pack fall back"

# 5. 16 readers while --prefetch streams every object (a trace opening all).
python3 - "$T/ls.json" >"$T/all.trace" <<'EOF'
import json, sys
print(json.dumps({"condafs_trace": 1, "index": "", "prefix": "/env", "lock_sha256": "", "started": 0}))
for e in map(json.loads, open(sys.argv[1])):
    if e["type"] == "file" and not e["pruned"]:
        print(json.dumps({"t": 0, "op": "open", "path": e["path"], "type": "file", "pid": 1, "comm": "x"}))
EOF
mount_env "$IDX" /env --store "$URL/store/" --cache "$T/cache-prefetch" --prefetch "$T/all.trace"
pids=()
for i in $(seq 16); do
	python3 "$HERE/reader.py" /env "$T/ls.json" "$i" --all >"$T/r$i.out" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || { cat "$T/r$((i + 1)).out"; fail "reader $((i + 1)) failed"; }
done
prefetch_finished /env
total=$(stat_field /env prefetch_objects)
[[ $(stat_field /env fetch_errors) == 0 && $(stat_field /env prefetch_errors) == 0 ]] ||
	fail "prefetch with readers: errors"
log "16 readers during a prefetch of $total objects: every byte right;" \
	"$(stat_field /env http_requests) requests, $(stat_field /env range_requests) ranges"
umount_env /env

# 6. A working set's own pack, streamed in first-access order.
if [[ -n $PY ]]; then
	"$CONDAFS" run "$IDX" --store "$STORE" --cache "$T/cache-run" --trace "$T/app.trace" -- \
		/env/bin/python3 -c 'import json, sqlite3, flask' || fail "condafs run failed"
	"$CONDAFS" workset "$T/app.trace" --index "$IDX" -o "$T/app.ws" -q || fail "condafs workset failed"
	"$CONDAFS" pack "$IDX" --workset "$T/app.ws" --trace "$T/app.trace" --store "$STORE" ||
		fail "condafs pack failed"
	wspack=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pack"]["name"])' "$T/app.ws")
	mount_env "$IDX" /env --store "$URL/store/" --cache "$T/cache-ws" --prefetch "$T/app.ws" -v
	/env/bin/python3 -c 'import json, sqlite3, flask' || fail "python3 failed during the prefetch"
	prefetch_finished /env
	total=$(stat_field /env prefetch_objects)
	[[ $(stat_field /env prefetch_errors) == 0 ]] || fail "working-set pack: prefetch errors"
	grep -q " 206 /store/$wspack" "$T/access.log" || fail "the working set's pack was not streamed"
	grep -q "from the working set's pack" "$T/daemon.log" || fail "the prefetch did not use its pack"
	python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 5 || fail "working-set pack: the tree differs"
	log "a working set's pack ($wspack): $total objects prefetched," \
		"$(stat_field /env range_requests) ranges"
	umount_env /env
fi
# 7. Whole packs after a miss.
if [[ -n $PY ]]; then
	run_py() { /env/bin/python3 -c 'import json, email.mime.text, flask' || fail "$1: python3 failed"; }
	mount_env "$IDX" /env --store "$URL/store/" --cache "$T/cache-always" --stream-packs always
	run_py always
	[[ $(stat_field /env streamed_packs) -ge 1 ]] || fail "--stream-packs always streamed no pack"
	python3 "$HERE/check-tree.py" "$CONDAFS" "$IDX" /env --cat 5 || fail "--stream-packs always: the tree differs"
	[[ $(stat_field /env fetch_errors) == 0 ]] || fail "--stream-packs always: fetch errors"
	# Opening flask's files fetches the heads of its dependencies' packs.
	[[ $(stat_field /env dependency_heads) -ge 1 ]] ||
		fail "--stream-packs always: no dependency's pack head was fetched ahead"
	log "--stream-packs always: $(stat_field /env streamed_packs) packs streamed," \
		"$(stat_field /env dependency_heads) dependencies' heads fetched ahead"
	umount_env /env
	mount_env "$IDX" /env --store "$URL/store/" --cache "$T/cache-never" --stream-packs never
	run_py never
	[[ $(stat_field /env streamed_packs) == 0 && $(stat_field /env dependency_heads) == 0 ]] ||
		fail "--stream-packs never streamed a pack or fetched ahead"
	umount_env /env
	# The default decides by the link: 4 ms round trips through
	# bench/delayproxy.py, at loopback speed (streams) and at 4 MB/s (not).
	pport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	python3 "$SRCROOT/bench/delayproxy.py" --delay-ms 2 "$pport=127.0.0.1:$PORT" \
		>"$T/proxy.out" 2>"$T/proxy.err" &
	HELPERS+=($!)
	for _ in $(seq 100); do grep -q ready "$T/proxy.out" && break; sleep 0.05; done
	grep -q ready "$T/proxy.out" || fail "the delaying proxy did not start"
	for loc in store slowish; do
		mount_env "$IDX" /env --store "http://127.0.0.1:$pport/$loc/" --cache "$T/cache-$loc-4ms"
		run_py "$loc at 4 ms"
		rate=$(stat_field /env link_rate)
		wait_us=$(stat_field /env link_wait_us)
		streamed=$(stat_field /env streamed_packs)
		[[ $wait_us -ge 4000 ]] || fail "$loc at 4 ms: first bytes measured after $wait_us us"
		if [[ $loc == store ]]; then
			# Loopback through the proxy is fast (about 35 MB/s, bounded by
			# TCP's window over 4 ms), but a loaded machine may make it
			# slower: the decision must follow the measured rate.
			# The estimate moves as answers come in, so a pack streamed
			# while it was fast is judged by the rate its decision saw.
			[[ $rate -gt $((8 << 20)) ]] || fail "loopback measured at $rate bytes/s"
			seen=$(stat_field /env stream_min_rate)
			if [[ $streamed -ge 1 ]]; then
				[[ $seen -ge $((25 << 20)) ]] ||
					fail "a pack was streamed when the link measured $seen bytes/s"
			else
				[[ $rate -lt $((25 << 20)) ]] ||
					fail "a fast link ($rate bytes/s, 4 ms) streamed no pack"
			fi
		else
			[[ $rate -gt 0 && $rate -lt $((25 << 20)) && $streamed == 0 ]] ||
				fail "a 4 MB/s link ($rate bytes/s) streamed $streamed packs"
		fi
		log "$loc at 4 ms: $((rate / 1000)) kB/s, first byte after $((wait_us / 1000)) ms," \
			"$streamed packs streamed"
		umount_env /env
	done
fi
log "ok"
