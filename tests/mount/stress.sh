#!/bin/bash
# SPDX-License-Identifier: MIT
# 16 processes reading random files (whole, then random ranges) for a
# bounded time, from an HTTP store when nginx is available: no error, no
# wrong byte, and the daemon's RSS does not grow between two equal rounds.
# Usage: stress.sh path/to/condafs [build-dir] [seconds per round]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"
SECS=${CFS_STRESS_SECONDS:-8}

if ! pyenv_index "$T/env"; then
	corpus_index "$T/env"
fi
IDX=$T/env/env.cfs
"$CONDAFS" ls -R --json "$IDX" >"$T/ls.json"
STORE=$(realpath "$T/env/store")
if [[ -x ${NGINX:-/usr/sbin/nginx} ]]; then
	start_nginx "$STORE"
	STORE=$URL/store
fi
mount_env "$IDX" /env --store "$STORE" --cache "$T/cache"
PID=$(daemon_pid /env)
rss() {
	awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"
}

round() {
	local pids=() bad=0 p i
	for i in $(seq 16); do
		python3 "$HERE/reader.py" /env "$T/ls.json" "$1$i" --seconds "$SECS" >"$T/r$i.out" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || bad=$((bad + 1))
	done
	if [[ $bad -gt 0 ]]; then
		grep -hv " 0 errors" "$T"/r*.out | head -20 >&2
		fail "round $1: $bad readers failed"
	fi
	kill -0 "$PID" || fail "the daemon died"
}

round 1
rss1=$(rss)
round 2
rss2=$(rss)
round 3
rss3=$(rss)
hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$PID/status")
log "daemon RSS after each round: ${rss1} kB, ${rss2} kB, ${rss3} kB, peak ${hwm} kB; $(stat_field /env opens) opens, $(stat_field /env objects_fetched) fetched"
# Stable: the later rounds may not keep growing (allocator noise aside).
[[ $((rss3 - rss2)) -le 4096 ]] || fail "RSS grew from $rss2 kB to $rss3 kB"
[[ $hwm -le 65536 ]] || fail "peak RSS $hwm kB is over 64 MB"
[[ $(stat_field /env fetch_errors) == 0 ]] || fail "fetch errors"
check_cache "$T/cache"
umount_env /env
log "ok"
