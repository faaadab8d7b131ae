#!/usr/bin/env bash
# Benchmark: condafs cold start over a network with latency (figures in
# docs/performance.md, "Network: cold start at latency").
#
# The realistic environment (this machine's Python as conda packages, as in
# bench/mount.sh) served at /env, in a private mount namespace and a private
# network namespace (unshare -n: only its own lo, brought up here; every
# address is on 127.0.0.0/8; the namespace goes away with the benchmark).
# Debian's nginx serves the store; bench/delayproxy.py, a TCP proxy, sits
# in front of it and delays each direction by RTT/2 (plus one round trip
# for each new connection's handshake).  Clients (condafs, curl) talk TCP to
# the proxy on 127.0.0.1; the proxy talks to nginx over Unix sockets.  The
# rate limit is a tbf qdisc on lo (this kernel has no netem): as only the
# client <-> proxy traffic crosses lo, it limits exactly that, once (a
# veth pair between two namespaces would need 127.x addresses on a non-lo
# device, route_localnet and more; lo with Unix sockets behind the proxy
# gets the same effect).  The proxy's throughput at 0 ms and the limited
# rate are measured and printed before the runs.
#
# Grid: round trips CFS_NET_RTTS (ms, default "0 2 20 50") x rates
# CFS_NET_RATES (default "unlimited 100mbit"; any tc rate such as 20mbit).
# Workloads CFS_NET_WORKLOADS (default "startup entrypoint readall", from
# bench/workloads.py).  In each cell, each workload, CFS_NET_RUNS runs
# (default 3; CFS_NET_RUNS_READALL for readall, default 1) of every
# variant, interleaved, each on a fresh mount with an empty cache and the
# page cache dropped, timed from starting `condafs mount` to the workload's
# end:
#   lazy      no working set
#   prefetch  --prefetch WS, WS profiled from that workload beforehand (0 ms,
#             local store)
#   packs, nopacks, spec1m, spec4m, nostream, stream, wspack, h1, h2
#             the fetch engine's mechanisms (the table VARIANTS in
#             bench/network.py: name, mount arguments, prep, needs); "n/a"
#             when `condafs mount --help` does not list their flags
# CFS_NET_BIG=1 runs it all on the larger realistic environment (every
# distribution of this Python's site-packages, about 90 packages, 300 MB).
#   download  curl of one .tar.zst of the whole environment through the same
#             proxy, piped into zstd -d | tar -x, the workload run from the
#             extraction bound at /env (download + extract + workload)
# References, in every cell too, no network: local (condafs cold start from
# the store directory) and squash (squashfuse_ll, mount included;
# CFS_NET_SQUASH=0 skips it).  Prints medians and ratios per cell to local,
# to download, and to lazy at 0 ms of the same rate (the same store over
# HTTP without latency: what a round trip adds); writes everything as JSON to CFS_NET_JSON (default
# /tmp/condafs-network.json).  CFS_NET_VARIANTS="lazy download" measures
# only those.  A quick run: CFS_NET_RTTS="0 20" CFS_NET_RATES=unlimited
# CFS_NET_RUNS=1 bash bench/network.sh (about 2 minutes).  The default grid
# takes about 35 minutes on a 2-core machine, most of it readall at 50 ms
# (one fetch per file, in sequence); CFS_NET_RUNS_READALL=3 makes it about
# an hour.
# usage: bench/network.sh [--help] [RUNS]   (needs root: namespaces, tc)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in
-h | --help)
	sed -n '2,/^# usage/p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
[[ ${CFS_MOUNT_TEST_INNER:-} == 1 ]] || bash "$top/tools/build.sh" >&2
export CFS_NET_RUNS=${CFS_NET_RUNS:-${1:-3}}
export CFS_NET_JSON=$(realpath -m "${CFS_NET_JSON:-/tmp/condafs-network.json}")
source "$top/tests/mount/lib.sh" "$top/build/tools/condafs" "$top/build"
enter_ns "$@"
for c in ip tc curl zstd openssl; do
	command -v $c >/dev/null || fail "$c is not installed (tools/deps.sh)"
done
[[ ${CFS_NET_SQUASH:-1} == 0 ]] || command -v squashfuse_ll >/dev/null ||
	fail "squashfuse_ll is not installed (apt-get install squashfuse)"
unshare -n true 2>/dev/null || skip "cannot create a network namespace (unshare -n needs root)"
# CFS_NET_BIG=1: the larger realistic environment (lib.sh, CFS_PYENV_BIG).
[[ ${CFS_NET_BIG:-} == 1 ]] && export CFS_PYENV_BIG=1
pyenv_index "$T" || fail "cannot build the realistic environment"
exec unshare -n python3 "$top/bench/network.py" "$CONDAFS" "$T"
