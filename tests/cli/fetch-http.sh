#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Drives indexer/fetch.c against a real HTTP server: nginx on 127.0.0.1,
# plus a tiny python3 upstream behind it that lies about Content-Length.
# Usage: fetch-http.sh path/to/test-fetch
# Only loopback traffic.  Exits 77 (skip) if nginx or python3 is missing.
set -euo pipefail

BIN=${1:?usage: fetch-http.sh path/to/test-fetch}
NGINX=${NGINX:-/usr/sbin/nginx}
if [[ ! -x $NGINX ]]; then
	echo "SKIP: nginx not installed ($NGINX)" >&2
	exit 77
fi
if ! command -v python3 >/dev/null; then
	echo "SKIP: python3 not installed" >&2
	exit 77
fi
BIN=$(realpath "$BIN")

# libcurl honours these; a proxy must not see loopback test traffic.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

T=$(mktemp -d "${TMPDIR:-/tmp}/fetch-http.XXXXXX")
NGINX_PID= UPSTREAM_PID=
cleanup() {
	local rc=$?
	set +e
	[[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	[[ -n $UPSTREAM_PID ]] && kill "$UPSTREAM_PID" 2>/dev/null && wait "$UPSTREAM_PID" 2>/dev/null
	if [[ $rc -ne 0 && -f $T/error.log ]]; then
		echo "--- nginx error.log" >&2
		tail -n 20 "$T/error.log" >&2
	fi
	rm -rf "$T"
	exit "$rc"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# --- test files
mkdir -p "$T/www/files" "$T/tmp" "$T/cache"
for f in a b c d e; do
	head -c $((100000 + RANDOM)) /dev/urandom >"$T/www/files/$f.conda"
done
head -c 4000000 /dev/urandom >"$T/www/files/big.conda"
sha() { sha256sum "$1" | cut -d' ' -f1; }
md5() { md5sum "$1" | cut -d' ' -f1; }
SHA_A=$(sha "$T/www/files/a.conda")
ZERO=$(printf '0%.0s' {1..64})

# --- an upstream that promises 100000 bytes and sends 1000, then hangs up
# (or, for /stall/, sends no body and does not hang up)
cat >"$T/upstream.py" <<'EOF'
import os, socket, sys, threading, time

def serve(c):
    try:
        c.settimeout(5)
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = c.recv(4096)
            if not chunk:
                break
            req += chunk
        stall = b" /stall/" in req
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 100000\r\nConnection: close\r\n\r\n" +
                  (b"" if stall else b"x" * 1000))
        if stall:
            time.sleep(30)
    except OSError:
        pass
    finally:
        c.close()

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1] + ".new", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".new", sys.argv[1])
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 "$T/upstream.py" "$T/upstream.port" &
UPSTREAM_PID=$!
for _ in $(seq 100); do
	[[ -f $T/upstream.port ]] && break
	sleep 0.05
done
UPORT=$(cat "$T/upstream.port") || fail "upstream did not start"

# --- nginx
PORT=$(free_port)
CLOSED=$(free_port) # nothing listens there: connection refused
[[ $PORT != "$CLOSED" ]] || CLOSED=$(free_port)
USER_LINE=
[[ $(id -u) -eq 0 ]] && USER_LINE="user root;" # else workers could not read $T
cat >"$T/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
error_log $T/error.log info;
pid $T/nginx.pid;
events { worker_connections 64; }
http {
	log_format t '\$request_uri \$status \$connection \$connection_requests';
	access_log $T/access.log t;
	client_body_temp_path $T/tmp/body;
	proxy_temp_path $T/tmp/proxy;
	fastcgi_temp_path $T/tmp/fastcgi;
	uwsgi_temp_path $T/tmp/uwsgi;
	scgi_temp_path $T/tmp/scgi;
	default_type application/octet-stream;
	keepalive_requests 1000;
	server {
		listen 127.0.0.1:$PORT;
		root $T/www;
		location /fail500/ { return 500; }
		location /redirect/ { rewrite ^/redirect/(.*)\$ /files/\$1 redirect; }
		location /slow/ {
			alias $T/www/files/;
			limit_rate 100k;
		}
		location ~ ^/(truncate|stall)/ {
			proxy_pass http://127.0.0.1:$UPORT;
			proxy_buffering off;
		}
	}
}
EOF
"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/error.log" -g 'daemon off;' &
NGINX_PID=$!
wait_port "$PORT" || fail "nginx did not start on port $PORT"
URL=http://127.0.0.1:$PORT
CACHE=$T/cache
PKGS=$CACHE/pkgs

requests() { # number of requests nginx logged whose URI starts with $1
	awk -v p="$1" 'index($1, p) == 1' "$T/access.log" | wc -l
}

# Every file in the cache is verified and named after its hash.
check_cache_clean() {
	[[ -d $PKGS ]] || return 0
	local f name
	for f in "$PKGS"/* "$PKGS"/.[!.]*; do
		[[ -e $f ]] || continue
		name=${f##*/}
		case $name in
		md5-*) [[ ${name:4:32} == "$(md5 "$f")" ]] || fail "unverified cache file $name after $1" ;;
		*) [[ ${name:0:64} == "$(sha "$f")" && ${name:64:1} == - ]] ||
			fail "unverified or temporary cache file $name after $1" ;;
		esac
	done
}

# run NAME [test-fetch options and items...]: runs the driver, which exits
# non-zero if its own expectations (--expect-*) fail.
run() {
	local name=$1 t0=${EPOCHREALTIME/./} ms
	shift
	if ! "$BIN" fetch "$@" >"$T/out" 2>"$T/err"; then
		cat "$T/out" "$T/err" >&2
		fail "$name"
	fi
	check_cache_clean "$name"
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	echo "ok: $name ($ms ms)"
	sed -n 's/^error: /    /p' "$T/err"
}

# 1. A good download lands in the cache; the second fetch never asks the server.
run good --cache "$CACHE" --expect-downloaded "$URL/files/a.conda|sha256=$SHA_A"
[[ -f $PKGS/$SHA_A-a.conda ]] || fail "good: $PKGS/$SHA_A-a.conda missing"
cmp -s "$PKGS/$SHA_A-a.conda" "$T/www/files/a.conda" || fail "good: cache file differs"
[[ $(requests /files/a.conda) -eq 1 ]] || fail "good: expected 1 request"
run cached --cache "$CACHE" --expect-cached "$URL/files/a.conda|sha256=$SHA_A"
[[ $(requests /files/a.conda) -eq 1 ]] || fail "cached: the server was contacted again"
grep -q "^$PKGS/$SHA_A-a.conda 1 " "$T/out" || fail "cached: wrong path or from_cache"
grep -q $'\r' "$T/err" && fail "cached: progress drawn without --progress"

# 2. Four files, two at a time, over at most two (reused) connections.
items=()
for f in b c d e; do
	items+=("$URL/files/$f.conda|sha256=$(sha "$T/www/files/$f.conda")")
done
: >"$T/access.log"
run parallel --cache "$CACHE" --jobs 2 --progress --expect-downloaded "${items[@]}"
[[ $(requests /files/) -eq 4 ]] || fail "parallel: expected 4 requests"
conns=$(awk '{print $3}' "$T/access.log" | sort -u | wc -l)
[[ $conns -eq 2 ]] || fail "parallel: $conns connections for 4 requests with --jobs 2, want 2"
grep -q $'\[4/4\] ' "$T/err" || fail "parallel: no final progress line"
[[ $(tail -c 1 "$T/err" | od -An -c | tr -d ' ') == '\n' ]] || fail "parallel: progress not ended by a newline"
for f in b c d e; do
	[[ -f $PKGS/$(sha "$T/www/files/$f.conda")-$f.conda ]] || fail "parallel: $f not cached"
done

# 3. HTTP 500 is retried (1 + 2 attempts), then reported.
run http-500 --cache "$CACHE" --retries 2 --expect-error "x.conda: $URL/fail500/x.conda: HTTP 500" \
	"$URL/fail500/x.conda|sha256=$ZERO"
[[ $(requests /fail500/) -eq 3 ]] || fail "http-500: expected 3 attempts, got $(requests /fail500/)"

# 4. A body shorter than its Content-Length is a truncation, retried, no temp file left.
run truncated --cache "$CACHE" --retries 1 --expect-error "t.conda: $URL/truncate/t.conda: truncated (got 1000 of 100000 bytes)" \
	"$URL/truncate/t.conda|sha256=$ZERO"
[[ $(requests /truncate/) -eq 2 ]] || fail "truncated: expected 2 attempts"

# 4b. A server that stops sending: the low-speed limit ends the transfer.
start=$SECONDS
run stalled --cache "$CACHE" --retries 0 --low-speed 1 --expect-error "Timeout was reached" \
	"$URL/stall/s.conda|sha256=$ZERO"
[[ $((SECONDS - start)) -lt 10 ]] || fail "stalled: took $((SECONDS - start)) s"

# 5. A wrong hash fails at once and leaves nothing in the cache.
before=$(ls -A "$PKGS" | wc -l)
run mismatch --cache "$CACHE" --retries 3 --expect-error "sha256 mismatch: expected $ZERO, got $SHA_A" \
	"$URL/files/a.conda|sha256=$ZERO|label=wrong.conda"
[[ $(requests /files/a.conda) -eq 1 ]] || fail "mismatch: retried"
[[ $(ls -A "$PKGS" | wc -l) -eq $before ]] || fail "mismatch: cache changed"
grep -q "^error: wrong.conda: $URL/files/a.conda: " "$T/err" || fail "mismatch: message does not name label and URL"

# 6. 404 is not retried.
run http-404 --cache "$CACHE" --retries 3 --expect-error "HTTP 404" "$URL/files/missing.conda|sha256=$ZERO"
[[ $(requests /files/missing.conda) -eq 1 ]] || fail "http-404: retried"

# 6b. A failure stops the other transfers at once and removes their temporary files.
start=$SECONDS
run abort-others --cache "$CACHE" --jobs 3 --expect-error "missing.conda: $URL/files/missing.conda: HTTP 404" \
	"$URL/slow/big.conda|sha256=$(sha "$T/www/files/big.conda")" \
	"$URL/slow/big.conda|sha256=$(sha "$T/www/files/big.conda")|label=big2.conda" \
	"$URL/files/missing.conda|sha256=$ZERO"
[[ $((SECONDS - start)) -lt 10 ]] || fail "abort-others: waited for the slow transfers"
[[ $(requests /slow/) -eq 2 ]] || fail "abort-others: slow transfers did not start"
ls "$PKGS" | grep -q big && fail "abort-others: a partial download reached the cache"

# 7. Connection refused: bounded retries, a clear message.
start=$SECONDS
run refused --cache "$CACHE" --retries 2 --expect-error "Couldn't connect to server" \
	"http://127.0.0.1:$CLOSED/x.conda|sha256=$ZERO"
grep -q "after 3 attempts" "$T/err" || fail "refused: expected 3 attempts"
[[ $((SECONDS - start)) -lt 10 ]] || fail "refused: took $((SECONDS - start)) s"

# 8. A mirror rule sends a URL on an unreachable host to nginx.
SHA_B=$(sha "$T/www/files/b.conda")
rm -f "$PKGS/$SHA_B-b.conda"
run mirror --cache "$CACHE" --retries 0 --expect-downloaded \
	--mirror "http://127.0.0.1:$CLOSED/other/=http://nope.invalid/" \
	--mirror "http://127.0.0.1:$CLOSED/ch/=$URL/files/" \
	"http://127.0.0.1:$CLOSED/ch/b.conda|sha256=$SHA_B"
[[ -f $PKGS/$SHA_B-b.conda ]] || fail "mirror: not cached"

# 9. md5-only and unverified downloads get their own cache names; redirects are followed.
MD5_C=$(md5 "$T/www/files/c.conda")
run md5-only --cache "$CACHE" --expect-downloaded "$URL/files/c.conda|md5=$MD5_C"
[[ -f $PKGS/md5-$MD5_C-c.conda ]] || fail "md5-only: not cached as md5-$MD5_C-c.conda"
run unverified-refused --cache "$CACHE" --expect-error "no sha256 or md5" "$URL/files/d.conda"
rm -f "$PKGS"/*-d.conda
run unverified --cache "$CACHE" --allow-unverified --expect-downloaded "$URL/files/d.conda|label=dd.conda"
[[ -f $PKGS/$(sha "$T/www/files/d.conda")-dd.conda ]] || fail "unverified: not cached under its sha256"
run redirect --cache "$T/cache2" --expect-downloaded "$URL/redirect/a.conda|sha256=$SHA_A"
[[ -f $T/cache2/pkgs/$SHA_A-a.conda ]] || fail "redirect: not cached"

echo "all fetch-http cases passed"
