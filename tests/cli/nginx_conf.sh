#!/bin/bash
# SPDX-License-Identifier: MIT
#
# packaging/nginx/condafs-store.conf, as docs/deploy.md shows it, with only
# its paths and listen address replaced: nginx -t accepts it; serving a real
# store on 127.0.0.1, objects come back byte for byte with
# "Cache-Control: public, max-age=31536000, immutable" and never gzipped,
# the index and the store's marker must revalidate, a missing object is a
# 404 nothing may cache, and every object decompresses to its sha256.
# Usage: nginx_conf.sh path/to/condafs SRCDIR
# Only loopback traffic.
set -euo pipefail

CONDAFS=$(realpath "${1:?usage: nginx_conf.sh path/to/condafs SRCDIR}")
SRCDIR=$(realpath "${2:?usage: nginx_conf.sh path/to/condafs SRCDIR}")
NGINX=${NGINX:-/usr/sbin/nginx}
CONF=$SRCDIR/packaging/nginx/condafs-store.conf

skip() {
	echo "SKIP: $*" >&2
	exit 77
}
fail() {
	echo "FAIL: nginx_conf: $*" >&2
	exit 1
}
log() {
	echo "nginx_conf: $*"
}

[[ -x $NGINX ]] || skip "nginx is not installed ($NGINX)"
command -v curl >/dev/null || skip "curl is not installed"
command -v zstd >/dev/null || skip "zstd is not installed"
corpus=
for d in "${CFS_CORPUS:-}" "$SRCDIR/../shared/corpus/packages" /work/shared/corpus/packages; do
	[[ -n $d && -f $d/mock-2.0.0-py37_1000.conda ]] && { corpus=$d; break; }
done
[[ -n $corpus ]] || skip "the shared corpus of packages is not available"

# libcurl honours these; a proxy must not see loopback test traffic.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

T=$(mktemp -d "${TMPDIR:-/tmp}/condafs-nginx-conf.XXXXXX")
chmod 755 "$T"
NGINX_PID=
cleanup() {
	local rc=$?
	set +e
	[[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	[[ $rc != 0 && -f $T/error.log ]] && { echo "--- nginx error.log" >&2; tail -n 10 "$T/error.log" >&2; }
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

# docs/deploy.md shows the example as it is, less its comments.
python3 - "$CONF" "$SRCDIR/docs/deploy.md" <<'PY' || fail "docs/deploy.md's nginx block is not $CONF"
import re, sys
conf, doc = (open(p).read() for p in sys.argv[1:])
strip = lambda t: [l.rstrip() for l in t.splitlines() if l.strip() and not l.strip().startswith("#")]
shown = re.search(r"```nginx\n(.*?)```", doc, re.S)
sys.exit(0 if shown and strip(shown.group(1)) == strip(conf) else 1)
PY

# A store and an index, laid out as the example expects them.
mkdir -p "$T/srv/envs"
f=$corpus/mock-2.0.0-py37_1000.conda
printf '@EXPLICIT\nfile://%s#%s\n' "$f" "$(sha256sum "$f" | cut -c1-64)" >"$T/lock.txt"
"$CONDAFS" index "$T/lock.txt" -o "$T/srv/envs/app.cfs" --store "$T/srv/store" \
	--cache "$T/pkgs" -q || fail "condafs index failed"

# The example, with its paths and listen address replaced, included in the
# http block of a minimal nginx.conf, as /etc/nginx/nginx.conf includes
# conf.d/*.conf.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s|/srv/condafs/|$T/srv/|g" \
	-e "s|^\tlisten 80;|\tlisten 127.0.0.1:$PORT;|" \
	-e '/listen \[::\]:80;/d' "$CONF" >"$T/condafs-store.conf"
grep -q "listen 127.0.0.1:$PORT;" "$T/condafs-store.conf" || fail "no 'listen 80;' line to replace in $CONF"
[[ $(grep -c "$T/srv/" "$T/condafs-store.conf") -ge 3 ]] || fail "the example's /srv/condafs paths changed"
mkdir -p "$T/nginx-tmp"
cat >"$T/nginx.conf" <<NGX
user root;
worker_processes 1;
error_log $T/error.log info;
pid $T/nginx.pid;
events { worker_connections 64; }
http {
	access_log $T/access.log;
	client_body_temp_path $T/nginx-tmp/body;
	proxy_temp_path $T/nginx-tmp/proxy;
	fastcgi_temp_path $T/nginx-tmp/fastcgi;
	uwsgi_temp_path $T/nginx-tmp/uwsgi;
	scgi_temp_path $T/nginx-tmp/scgi;
	# Debian's nginx.conf turns gzip on for the whole http block.
	gzip on;
	gzip_types *;
	gzip_min_length 1;
	include $T/condafs-store.conf;
}
NGX
"$NGINX" -t -p "$T" -c "$T/nginx.conf" -e "$T/error.log" >"$T/t.out" 2>&1 ||
	fail "nginx -t rejects the example: $(cat "$T/t.out")"
log "nginx -t: $(grep -o 'syntax is ok' "$T/t.out")"
"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 200); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
	kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited"
	sleep 0.05
done
URL=http://127.0.0.1:$PORT

# header FILE NAME: one response header's value.
header() {
	tr -d '\r' <"$1" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$2")" \
		'{ k = tolower($1); sub(/:$/, "", k) } k == n { sub(/^[^:]*: */, ""); print; exit }'
}

# An object: byte for byte, immutable for a year, not gzipped.
obj=$(cd "$T/srv/store" && find objects -name '*.zst' -size +1k | sort | head -n 1)
[[ -n $obj ]] || fail "no object over 1 KiB in the store"
code=$(curl -sS -o "$T/obj" -D "$T/h" -H 'Accept-Encoding: gzip' -w '%{http_code}' "$URL/condafs/$obj")
[[ $code == 200 ]] || fail "GET /condafs/$obj: HTTP $code"
cmp -s "$T/obj" "$T/srv/store/$obj" || fail "GET /condafs/$obj: body differs from the object"
cc=$(header "$T/h" Cache-Control)
[[ $cc == "public, max-age=31536000, immutable" ]] || fail "object: Cache-Control '$cc'"
[[ -z $(header "$T/h" Content-Encoding) ]] || fail "object: Content-Encoding '$(header "$T/h" Content-Encoding)'"
[[ -n $(header "$T/h" ETag) ]] || fail "object: no ETag"
log "GET /condafs/$obj: 200, Cache-Control: $cc, not gzipped"

# A missing object: 404 without the year-long Cache-Control.
code=$(curl -sS -o /dev/null -D "$T/h" -w '%{http_code}' "$URL/condafs/objects/00/$(printf '0%.0s' $(seq 64)).zst")
[[ $code == 404 ]] || fail "missing object: HTTP $code"
[[ $(header "$T/h" Cache-Control) != *immutable* ]] || fail "a 404 is sent as immutable"
# The store's marker and the index: revalidated, never immutable.
for path in condafs/condafs-store.json envs/app.cfs; do
	code=$(curl -sS -o "$T/body" -D "$T/h" -w '%{http_code}' "$URL/$path")
	[[ $code == 200 ]] || fail "GET /$path: HTTP $code"
	cc=$(header "$T/h" Cache-Control)
	[[ $cc == no-cache ]] || fail "/$path: Cache-Control '$cc', expected no-cache"
done
cmp -s "$T/body" "$T/srv/envs/app.cfs" || fail "GET /envs/app.cfs: body differs"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$URL/condafs/tmp/x")
[[ $code == 404 ]] || fail "/condafs/tmp/: HTTP $code"
log "missing object 404 (not immutable); condafs-store.json and app.cfs no-cache; tmp/ hidden"

# Every object of the environment, fetched through it, decompresses to
# the content its name promises (what a mount checks).
n=0
while read -r obj; do
	name=$(basename "$obj" .zst)
	got=$(curl -sS -f "$URL/condafs/$obj" | zstd -dcq | sha256sum | cut -c1-64) ||
		fail "GET /condafs/$obj failed"
	[[ $got == "$name" ]] || fail "/condafs/$obj decompresses to sha256 $got"
	n=$((n + 1))
done < <(cd "$T/srv/store" && find objects -name '*.zst' | sort)
((n > 0)) || fail "no objects"
log "ok: $n objects served intact"
