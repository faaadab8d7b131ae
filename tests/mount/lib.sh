# SPDX-License-Identifier: MIT
# Shared helpers for the mount tests.  Source it, then call enter_ns "$@".
#
# Every test runs in a private mount namespace (unshare -m --propagation
# private) inside a throw-away root (pivot_root, or chroot where that fails):
# a tmpfs whose top-level entries are recursive binds of the real ones, plus
# an empty /env.  So /env exists and
# is mounted only inside the test; the host never sees either.
# Tests wait for readiness (condafs mount returns once the mount is ready),
# never for a fixed time.  Only loopback traffic.
set -euo pipefail

CONDAFS=${CONDAFS:-${1:?usage: $0 path/to/condafs [build-dir]}}
CONDAFS=$(realpath "$CONDAFS")
BUILDDIR=${BUILDDIR:-${2:-$(dirname "$(dirname "$CONDAFS")")}}
BUILDDIR=$(realpath "$BUILDDIR")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCROOT=$(cd "$HERE/../.." && pwd)
NAME=$(basename "$0" .sh)

# libcurl honours these; a proxy must not see loopback test traffic.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

fail() {
	echo "FAIL: $NAME: $*" >&2
	exit 1
}

log() {
	echo "$NAME: $*"
}

corpus_dir() {
	local d
	for d in "${CFS_CORPUS:-}" "$SRCROOT/../shared/corpus/packages" /work/shared/corpus/packages; do
		[[ -n $d && -d $d ]] && { realpath "$d"; return 0; }
	done
	return 1
}

# real_defaults_dir: the corpus' real Anaconda packages (real-defaults/,
# beside packages/ in the shared corpus: $CFS_CORPUS names packages/).
real_defaults_dir() {
	local d
	for d in "${CFS_CORPUS:+$CFS_CORPUS/../real-defaults}" "$SRCROOT/../shared/corpus/real-defaults" \
		/work/shared/corpus/real-defaults; do
		[[ -n $d && -d $d ]] && { realpath "$d"; return 0; }
	done
	return 1
}

# enter_ns ARGS...: re-runs this script as root of a private namespace with
# /env, then returns in the inner copy with $T set and cleanup armed.
enter_ns() {
	if [[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]]; then
		T=$CFS_MOUNT_TEST_T
		cd "$T"
		trap inner_cleanup EXIT
		return 0
	fi
	[[ -c /dev/fuse ]] || skip "/dev/fuse is not available"
	command -v unshare >/dev/null || skip "unshare is not installed"
	unshare -m --propagation private true 2>/dev/null ||
		skip "cannot create a mount namespace (unshare -m needs root or CAP_SYS_ADMIN)"
	T=$(mktemp -d "${TMPDIR:-/tmp}/condafs-$NAME.XXXXXX")
	chmod 755 "$T"
	local rc=0
	CFS_MOUNT_TEST_INNER=1 CFS_MOUNT_TEST_T=$T unshare -m --propagation private \
		bash -c 'set -e; R=$1; shift
			mkdir -p "$R"; mount -t tmpfs -o mode=755 condafs-test-root "$R"
			for e in /*; do
				n=${e#/}
				# The test root has its own empty /env, whatever the host has.
				if [[ $n == env ]]; then continue
				elif [[ -L $e ]]; then cp -P "$e" "$R/$n"
				elif [[ -d $e ]]; then mkdir "$R/$n"; mount --rbind "$e" "$R/$n"
				elif [[ -e $e ]]; then : >"$R/$n"; mount --bind "$e" "$R/$n"
				fi
			done
			mkdir "$R/env" "$R/.oldroot"
			# pivot_root rather than chroot where it works: a chrooted
			# process may not make user namespaces (condafs run as a user).
			cd "$R"
			if pivot_root . .oldroot 2>/dev/null; then
				umount -l /.oldroot && rmdir /.oldroot
				exec /bin/bash "$@"
			fi
			rmdir .oldroot
			exec chroot "$R" /bin/bash "$@"' \
		- "$T/root" "$(realpath "$0")" "$CONDAFS" "$BUILDDIR" || rc=$?
	# The namespace is gone with its last process; so are its mounts.
	umount -l "$T/root" 2>/dev/null || true
	rm -rf "$T" 2>/dev/null || true
	exit "$rc"
}

MOUNTS=()
DAEMONS=()
HELPERS=()
NGINX_PID=

inner_cleanup() {
	local rc=$? mp pid
	set +e
	for mp in "${MOUNTS[@]}"; do
		"$CONDAFS" umount -z "$mp" 2>/dev/null
	done
	for pid in "${DAEMONS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	[[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	for pid in "${HELPERS[@]}"; do # other servers a test started
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if [[ $rc -ne 0 ]]; then
		[[ -f $T/daemon.log ]] && { echo "--- daemon log" >&2; tail -n 30 "$T/daemon.log" >&2; }
		[[ -f $T/error.log ]] && { echo "--- nginx error.log" >&2; tail -n 10 "$T/error.log" >&2; }
	fi
	exit "$rc"
}

# mount_env INDEX MOUNTPOINT [condafs mount options...]: mounts (condafs
# mount returns only once the mount is ready) and records the daemon, whose
# log goes to $T/daemon.log.
mount_env() {
	local index=$1 mp=$2
	shift 2
	"$CONDAFS" mount "$index" "$mp" --log-file "$T/daemon.log" "$@" ||
		fail "condafs mount $index $mp failed"
	MOUNTS+=("$mp")
	DAEMONS+=("$(daemon_pid "$mp")")
}

# stat_field MOUNTPOINT KEY: one counter from the mount's stats.
stat_field() {
	"$CONDAFS" stats --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

daemon_pid() {
	stat_field "$1" pid
}

umount_env() {
	local mp=$1 pid
	pid=$(daemon_pid "$mp")
	"$CONDAFS" umount "$mp" || fail "condafs umount $mp failed"
	wait_gone "$pid"
}

# Waits (bounded) for a process to exit.
wait_gone() {
	local i
	for i in $(seq 400); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	fail "process $1 did not exit"
}

# corpus_index DIR: builds the small corpus environment (prefix /env) into
# DIR/env.cfs with its store in DIR/store.
corpus_index() {
	local dir=$1 c f
	c=$(corpus_dir) || skip "the shared corpus of packages is not available"
	mkdir -p "$dir"
	{
		echo '@EXPLICIT'
		for f in cph_test_data-0.0.1-0.tar.bz2 mock-2.0.0-py37_1000.conda \
			link-scripts-0.1.0-h4616a5c_0.conda; do
			[[ -f $c/$f ]] || continue
			echo "file://$c/$f#$(sha256sum "$c/$f" | cut -c1-64)"
		done
	} >"$dir/lock.txt"
	"$CONDAFS" index "$dir/lock.txt" -o "$dir/env.cfs" --store "$dir/store" \
		--cache "$dir/pkgs" -q || fail "condafs index (corpus) failed"
}

# pyenv_index DIR: the realistic environment from tests/fixtures/mkpyenv.py,
# built once per build directory and reused; returns 1 if unavailable.
# CFS_PYENV_BIG=1 (benchmarks): every distribution of site-packages and the
# static libpython too, about 90 packages and 300 MB.
pyenv_index() {
	local dir=$1 src="$BUILDDIR/tests/mount/pyenv" mkargs=()
	if [[ ${CFS_PYENV_BIG:-} == 1 ]]; then
		src+=-big
		mkargs=(--all-dists --with-static)
	fi
	[[ -f $SRCROOT/tests/fixtures/mkpyenv.py ]] || return 1
	mkdir -p "$(dirname "$src")"
	# mkpyenv.py reuses its output when its stamp says it is current.
	(
		flock 9
		# Rebuilt when missing or unreadable (say, after an index format change).
		# Also when an older condafs wrote it (index format 2 has no packs).
		# Stamp 2: indexed with bytecode for its noarch packages; 3: with
		# packs in heat order and the depends table.
		if [[ $(cat "$src/.indexed" 2>/dev/null) != 3 ]] || ! "$CONDAFS" info --json "$src/env.cfs" 2>/dev/null |
			python3 -c 'import json, sys; sys.exit(json.load(sys.stdin)["format_version"] < 3)'; then
			python3 "$SRCROOT/tests/fixtures/mkpyenv.py" "$src" "${mkargs[@]}" >"$src.log" 2>&1 ||
				{ cat "$src.log" >&2; exit 1; }
			rm -f "$src/env.cfs"
			"$CONDAFS" index "$src/conda-lock.yml" -o "$src/env.cfs" --store "$src/store" \
				--cache "$src/pkgs" -q >>"$src.log" 2>&1 || { cat "$src.log" >&2; exit 1; }
			echo 3 >"$src/.indexed"
		fi
	) 9>"$src.lock" || fail "building the realistic environment failed"
	mkdir -p "$dir"
	ln -sfn "$src/env.cfs" "$dir/env.cfs"
	ln -sfn "$src/store" "$dir/store"
	return 0
}

# preset_index OUT PRESETS: the realistic environment indexed again with
# --preset PRESETS into OUT (objects go to its shared store, which already
# holds them all); skips the test if the environment is unavailable.
preset_index() {
	local out=$1 presets=$2 src="$BUILDDIR/tests/mount/pyenv"
	pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
	"$CONDAFS" index "$src/conda-lock.yml" -o "$out" --store "$src/store" --cache "$src/pkgs" \
		--preset "$presets" -q || fail "condafs index --preset $presets failed"
}

is_mounted() {
	awk -v mp="$1" '$2 == mp { found = 1 } END { exit !found }' /proc/self/mounts
}

# wait_for FILE: waits (bounded) until FILE exists.
wait_for() {
	local i
	for i in $(seq 600); do
		[[ -e $1 ]] && return 0
		sleep 0.05
	done
	fail "$1 did not appear"
}

# check_cache DIR: every object in the cache is named by the sha256 of its
# content, and no temporary file remains (pass "tmp-ok" to allow debris).
check_cache() {
	python3 - "$1" "${2:-}" <<'PY' || fail "cache $1 is not consistent"
import hashlib, os, sys, time
root, tmp_ok = sys.argv[1], sys.argv[2] == "tmp-ok"
bad = 0
for sub in sorted(os.listdir(os.path.join(root, "objects"))):
    d = os.path.join(root, "objects", sub)
    for name in os.listdir(d):
        with open(os.path.join(d, name), "rb") as f:
            h = hashlib.sha256(f.read()).hexdigest()
        if h != name or sub != name[:2]:
            print(f"bad object {sub}/{name}: content sha256 {h}", file=sys.stderr)
            bad += 1
# A daemon still at work (speculation, a prefetch) has files in tmp/ for
# a moment; left over is what stays.
for _ in range(200):
    left = os.listdir(os.path.join(root, "tmp"))
    if not left or tmp_ok:
        break
    time.sleep(0.05)
if left and not tmp_ok:
    print(f"temporary files left: {left}", file=sys.stderr)
    bad += 1
sys.exit(1 if bad else 0)
PY
}

# cache_objects DIR: the hex names of the objects in a cache, sorted.
cache_objects() {
	find "$1/objects" -type f -printf '%f\n' | sort
}

# start_nginx ROOT [PORT]: serves ROOT on 127.0.0.1 (a new port unless
# given); sets PORT and URL.  Locations: /store/ is ROOT; /flaky/ is ROOT
# too, unless $T/flag-500 exists (answers 500), $T/flag-corrupt (serves
# $T/corrupt/ instead) or $T/flag-stall (sends one byte a second).
# /norange/ is ROOT served without Range support (200, whole files);
# /slowish/ is ROOT at 4 MB/s a connection;
# /fault/ is $T/fault/.  The
# access log records each request's connection number.
start_nginx() {
	local root=$1 nginx=${NGINX:-/usr/sbin/nginx} i
	[[ -x $nginx ]] || skip "nginx is not installed ($nginx)"
	PORT=${2:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
	mkdir -p "$T/nginx-tmp" "$T/corrupt"
	cat >"$T/nginx.conf" <<NGX
user root;
worker_processes 2;
error_log $T/error.log info;
pid $T/nginx.pid;
events { worker_connections 512; }
http {
	log_format conn '\$connection \$status \$request_uri';
	access_log $T/access.log conn;
	client_body_temp_path $T/nginx-tmp/body;
	proxy_temp_path $T/nginx-tmp/proxy;
	fastcgi_temp_path $T/nginx-tmp/fastcgi;
	uwsgi_temp_path $T/nginx-tmp/uwsgi;
	scgi_temp_path $T/nginx-tmp/scgi;
	default_type application/octet-stream;
	keepalive_requests 100000;
	keepalive_timeout 300s;
	server {
		listen 127.0.0.1:$PORT reuseport;
		location /store/ { alias $root/; }
		location /flaky/ {
			if (-f $T/flag-500) { return 500; }
			if (-f $T/flag-corrupt) { rewrite ^/flaky/(.*)\$ /corrupt/\$1 last; }
			if (-f $T/flag-stall) { rewrite ^/flaky/(.*)\$ /slow/\$1 last; }
			alias $root/;
		}
		location /corrupt/ { alias $T/corrupt/; }
		location /slow/ { alias $root/; limit_rate 1; }
		location /norange/ { alias $root/; max_ranges 0; }
		location /slowish/ { alias $root/; limit_rate 4m; }
		location /fault/ { alias $T/fault/; }
	}
}
NGX
	"$nginx" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" -g 'daemon off;' &
	NGINX_PID=$!
	for i in $(seq 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
		kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited"
		sleep 0.05
	done
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || fail "nginx did not start"
	URL=http://127.0.0.1:$PORT
}

stop_nginx() {
	kill "$NGINX_PID" && wait "$NGINX_PID" 2>/dev/null || true
	NGINX_PID=
}
