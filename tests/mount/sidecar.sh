#!/bin/bash
# SPDX-License-Identifier: MIT
# The sidecar pattern with real mount propagation, as Kubernetes sets it
# up (packaging/kubernetes/sidecar.yaml): a shared directory plays the
# pod's emptyDir; the "app" gets its own mount namespace first and binds
# it at /env as a slave (mountPropagation: HostToContainer), then waits
# with `condafs ready /env --wait`; the "sidecar", in another namespace,
# binds it at /env as a peer (Bidirectional) and runs `condafs mount -f`
# there.  The mount reaches the app only through propagation; the app runs
# python and an entry point from it.  SIGTERM to the sidecar unmounts, and
# the app sees /env go back to the bare emptyDir without hanging.  Then
# condafs ready's answers: a plain directory, another file system, a
# relative path and a symlink, a path inside the mount, a stopped daemon
# (times out), a killed one (ENOTCONN), --wait's bound.
# Usage: sidecar.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

pyenv_index "$T/py" || skip "tests/fixtures/mkpyenv.py is not available"
command -v timeout >/dev/null || skip "timeout (coreutils) is not installed"
IDX=$T/py/env.cfs
CACHE=$T/cache
export CONDAFS T IDX CACHE

# ready ARGS...: condafs ready, bounded; sets rc, msg (its stderr) and ms.
ready() {
	local t0=$EPOCHREALTIME
	rc=0
	msg=$(timeout 30 "$CONDAFS" ready "$@" 2>&1) || rc=$?
	ms=$(python3 -c 'import sys; print(int((float(sys.argv[2]) - float(sys.argv[1])) * 1000))' \
		"$t0" "$EPOCHREALTIME")
}

# expect_not_ready WANT ARGS...: condafs ready ARGS exits 1 saying WANT.
expect_not_ready() {
	local want=$1
	shift
	ready "$@"
	[[ $rc == 1 && $msg == "$want" ]] ||
		fail "condafs ready $*: exit $rc, '$msg'; expected exit 1, '$want'"
}

# ---- The pod.  The emptyDir: a mount of its own, shared.
D=$T/emptydir
mkdir "$D"
mount --bind "$D" "$D" && mount --make-shared "$D"
DFS=$(findmnt -n -o FSTYPE -M "$D")
[[ -n $DFS ]] || fail "cannot tell the emptyDir's file system"
export D

# The app container: its namespace is made before anything is mounted, and
# receives mounts from the emptyDir as a slave.  It waits for the sidecar,
# runs python from /env, reports, then waits until the sidecar is stopped.
cat >"$T/app.sh" <<'APP'
set -euo pipefail
mount --bind "$D" /env
grep -q fuse.condafs /proc/self/mountinfo && { echo "condafs is mounted already" >&2; exit 2; }
touch "$T/app-started"
"$CONDAFS" ready /env --wait 60
awk '$5 == "/env"' /proc/self/mountinfo >"$T/app-mountinfo"
/env/bin/python3 -c 'import json, sqlite3, ssl, flask, sys; print(sys.prefix, flask.__name__, json.dumps([sqlite3.sqlite_version_info[0]]))'
if [[ -e /env/bin/flask ]]; then /env/bin/flask --version; else /env/bin/pygmentize -V; fi >"$T/app-entrypoint"
touch "$T/app-done"
while [[ ! -e $T/sidecar-stopped ]]; do sleep 0.05; done
rc=0
"$CONDAFS" ready /env 2>"$T/app-ready-after" || rc=$?
[[ $rc == 1 ]] || { echo "condafs ready /env after the sidecar stopped: exit $rc" >&2; exit 3; }
timeout 5 ls -A /env >"$T/app-ls-after" || { echo "ls /env failed or hung" >&2; exit 4; }
awk '$3 == "fuse.condafs"' /proc/self/mounts >"$T/app-mounts-after"
APP
timeout 150 unshare -m --propagation slave bash "$T/app.sh" >"$T/app.out" 2>"$T/app.err" &
APP_PID=$!
DAEMONS+=("$APP_PID")
wait_for "$T/app-started"

# The sidecar container: the emptyDir at /env as a peer (Bidirectional),
# condafs mount in the foreground as the container's process.
unshare -m --propagation unchanged bash -c \
	'mount --bind "$D" /env && exec "$CONDAFS" mount -f "$IDX" /env --cache "$CACHE"' \
	2>"$T/sidecar.log" &
SIDECAR=$!
DAEMONS+=("$SIDECAR")
# The kubelet's view, the emptyDir itself, gets the mount too.
ready "$D" --wait 30
[[ $rc == 0 ]] || fail "the mount did not reach the emptyDir: $msg"
[[ $(awk '$3 == "fuse.condafs" { n++ } END { print n + 0 }' /proc/self/mounts) == 1 ]] ||
	fail "expected exactly one condafs mount here, at $D"

for _ in $(seq 1200); do
	[[ -e $T/app-done ]] && break
	kill -0 "$APP_PID" 2>/dev/null || break
	sleep 0.05
done
[[ -e $T/app-done ]] || { cat "$T/app.err" >&2; fail "the app did not run"; }
grep -q ' - fuse.condafs ' "$T/app-mountinfo" || fail "the app's /env is not condafs: $(cat "$T/app-mountinfo")"
grep -Eq ' master:[0-9]+ (.* )?- fuse.condafs ' "$T/app-mountinfo" ||
	fail "the app's condafs mount did not come by propagation: $(cat "$T/app-mountinfo")"
[[ $(cat "$T/app.out") == "/env flask [3]" ]] || fail "python in the app printed: $(cat "$T/app.out")"
[[ -s $T/app-entrypoint ]] || fail "the entry point printed nothing"
log "app: python3 and an entry point ($(tr '\n' ' ' <"$T/app-entrypoint")) ran from /env, mounted by the sidecar"

# The pod ends: the app is done, the sidecar gets SIGTERM and unmounts.
kill -TERM "$SIDECAR"
rc=0
timeout 30 tail --pid="$SIDECAR" -f /dev/null || fail "the sidecar did not exit after SIGTERM"
wait "$SIDECAR" || rc=$?
[[ $rc == 0 ]] || { cat "$T/sidecar.log" >&2; fail "the sidecar exited $rc after SIGTERM"; }
grep -i 'error' "$T/sidecar.log" && fail "the sidecar logged errors"
touch "$T/sidecar-stopped"
rc=0
wait "$APP_PID" || rc=$?
[[ $rc == 0 ]] || { cat "$T/app.err" >&2; fail "the app exited $rc"; }
[[ $(cat "$T/app-ready-after") == "condafs: /env: $DFS, not condafs" ]] ||
	fail "condafs ready in the app after the sidecar stopped: $(cat "$T/app-ready-after")"
[[ ! -s $T/app-ls-after && ! -s $T/app-mounts-after ]] ||
	fail "the app still sees the environment: $(cat "$T/app-ls-after" "$T/app-mounts-after")"
expect_not_ready "condafs: $D: $DFS, not condafs" "$D"
awk '$3 == "fuse.condafs"' /proc/self/mounts | grep -q . && fail "a condafs mount is left"
log "SIGTERM: the sidecar unmounted and exited 0; the app sees the bare emptyDir ($DFS)"

# ---- condafs ready's answers.
mkdir "$T/plain"
expect_not_ready "condafs: $T/plain: not a mount point" "$T/plain"
expect_not_ready "condafs: $T/missing: No such file or directory" "$T/missing"
expect_not_ready "condafs: /proc: proc, not condafs" /proc
ready
[[ $rc == 2 ]] || fail "condafs ready without a mount point: exit $rc, not 2"
ready --wait soon /env
[[ $rc == 2 ]] || fail "condafs ready --wait soon: exit $rc, not 2"
expect_not_ready "condafs: $T/plain: not a mount point" "$T/plain" --wait 1
((ms >= 1000 && ms < 5000)) || fail "--wait 1 on a plain directory took $ms ms"
log "not ready: plain directory, missing, another file system; --wait 1 gave up after $ms ms"

mkdir "$T/m"
mount_env "$IDX" "$T/m" --cache "$CACHE"
ready "$T/m"
[[ $rc == 0 && -z $msg ]] || fail "condafs ready on a live mount: exit $rc, '$msg'"
ready m/./
[[ $rc == 0 ]] || fail "condafs ready m/./ (relative): exit $rc, '$msg'"
ln -s "$T/m" "$T/link"
ready "$T/link"
[[ $rc == 0 ]] || fail "condafs ready through a symlink: exit $rc, '$msg'"
expect_not_ready "condafs: $T/m/bin: not a mount point" "$T/m/bin"
mkdir "$T/inner"
mount -t tmpfs inner "$T/inner" && mkdir "$T/inner/x"
expect_not_ready "condafs: $T/inner/x: not a mount point" "$T/inner/x"
umount "$T/inner"

# A stopped daemon: every call blocks; ready gives up after --timeout.
pid=$(daemon_pid "$T/m")
kill -STOP "$pid"
expect_not_ready "condafs: $T/m: the condafs daemon did not answer within 1 s" "$T/m" --timeout 1
# Mounting there again neither hangs on the stopped daemon nor stacks a mount.
t0=$(date +%s%N)
timeout 30 "$CONDAFS" mount "$IDX" "$T/m" --cache "$CACHE" 2>"$T/hung.err" &&
	fail "condafs mount over a stopped daemon succeeded"
grep -q "the FUSE daemon mounted there does not answer within 5 s" "$T/hung.err" ||
	fail "condafs mount over a stopped daemon: $(cat "$T/hung.err")"
log "mount over a stopped daemon refused after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
kill -CONT "$pid"
((ms >= 1000 && ms < 4000)) || fail "condafs ready on a stopped daemon took $ms ms"
took=$ms
ready "$T/m"
[[ $rc == 0 ]] || fail "condafs ready after SIGCONT: exit $rc, '$msg'"
log "stopped daemon: not ready after $took ms (--timeout 1); ready again after SIGCONT"

# A killed daemon: ENOTCONN at once.
kill -KILL "$pid"
wait_gone "$pid"
expect_not_ready "condafs: $T/m: the condafs daemon is gone (ENOTCONN); 'condafs umount -z $T/m' removes the dead mount" "$T/m"
((ms < 2000)) || fail "condafs ready on a dead mount took $ms ms"
took=$ms
expect_not_ready "condafs: $T/m: the condafs daemon is gone (ENOTCONN); 'condafs umount -z $T/m' removes the dead mount" \
	"$T/m" --wait 1
# A restarted sidecar mounts again where the killed one left its dead mount.
"$CONDAFS" mount "$IDX" "$T/m" --cache "$CACHE" 2>"$T/remount.err" ||
	fail "mount over the dead condafs mount: $(cat "$T/remount.err")"
grep -q "detached the dead condafs mount" "$T/remount.err" ||
	fail "no warning about the dead mount: $(cat "$T/remount.err")"
ready "$T/m"
[[ $rc == 0 ]] || fail "condafs ready after the remount: exit $rc, '$msg'"
cmp -s <("$CONDAFS" cat "$IDX" lib/python3.11/os.py) "$T/m/lib/python3.11/os.py" || fail "remounted lib/python3.11/os.py differs"
"$CONDAFS" umount "$T/m" || fail "umount after the remount"
# The dead mount was detached, not stacked under the new one.
expect_not_ready "condafs: $T/m: not a mount point" "$T/m"
log "killed daemon: ENOTCONN in $took ms; a new mount replaces the dead one, then umount leaves nothing"

# ---- The Kubernetes examples say what this test did (no cluster here:
# parsed and checked with PyYAML; kubectl needs an API server to validate).
if ! python3 -c 'import yaml' 2>/dev/null; then
	log "packaging/kubernetes: not checked (no PyYAML)"
else
	python3 - "$SRCROOT/packaging/kubernetes" <<'PY' || fail "packaging/kubernetes/*.yaml"
import sys, yaml
def pod(path):
    docs = [d for d in yaml.safe_load_all(open(f"{sys.argv[1]}/{path}")) if d]
    assert len(docs) == 1 and docs[0]["kind"] == "Deployment", path
    return docs[0]["spec"]["template"]["spec"]
def mounts(c):
    return {m["mountPath"]: m for m in c.get("volumeMounts", [])}
spec = pod("sidecar.yaml")
[side] = spec["initContainers"]
[app] = spec["containers"]
assert side["restartPolicy"] == "Always", "the sidecar is not a native sidecar"
assert side["securityContext"]["privileged"] is True
assert side["args"][:2] == ["mount", "-f"] and "/env" in side["args"], side["args"]
probe = side["startupProbe"]["exec"]["command"]
assert probe[:3] == ["condafs", "ready", "/env"], probe
env_s, env_a = mounts(side)["/env"], mounts(app)["/env"]
assert env_s["name"] == env_a["name"]
assert env_s["mountPropagation"] == "Bidirectional"
assert env_a["mountPropagation"] == "HostToContainer"
vol = {v["name"]: v for v in spec["volumes"]}[env_s["name"]]
assert "emptyDir" in vol, vol
assert app["command"] == ["/env/bin/python3", "-m", "app"], app["command"]
assert not app.get("securityContext", {}).get("privileged")
spec = pod("static.yaml")
assert "initContainers" not in spec
for c in spec["containers"]:
    assert not c.get("securityContext", {}).get("privileged")
    assert all("mountPropagation" not in m for m in c.get("volumeMounts", []))
    assert c["command"][0].startswith("/env/bin/")
PY
	log "packaging/kubernetes: sidecar.yaml and static.yaml parse and match this test's setup"
fi
log "ok"
