#!/usr/bin/env python3
"""condafs traces (docs/profiling.md "Trace files") made with strace, for tests
and benchmarks that cannot use the daemon's --trace.

A command runs in a minimal bwrap root (host /usr for libc, the environment
bound at its prefix); `strace -f -e trace=%file` records every path it names.
Paths under the prefix that exist in the environment become trace events, as
the daemon would write them: relative to the prefix, symlinks met as parent
components recorded as themselves (the kernel looks them up and reads them),
".." folded, first time per path and operation.

usage: export_trace.py ENVDIR TRACE --index ENV.cfs --prefix /env --lock-sha256 HEX -- CMD...
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

CALL = re.compile(r'^(\d+)\s+(?:<\.\.\. )?(\w+)\((?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)"(.*)$')
GETATTR = {"stat", "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2",
           "fstatat64", "stat64", "lstat64"}


def bwrap(envdir, prefix="/env", extra=()):
    """A minimal root: host /usr (libc only), /lib, /lib64, /bin symlinks, the env."""
    return ["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
            "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--unshare-net",
            "--clearenv", "--setenv", "PATH", prefix + "/bin:/usr/bin:/bin",
            "--setenv", "LANG", "C.UTF-8", *extra,
            "--ro-bind", os.path.abspath(envdir), prefix]


def op_of(call, rest):
    if call in ("open", "openat", "openat2", "creat"):
        return "readdir" if "O_DIRECTORY" in rest else "open"
    if call == "execve" or call == "execveat":
        return "open"
    if call.startswith("readlink"):
        return "readlink"
    if call in GETATTR:
        return "getattr"
    return "lookup"


def resolve(envdir, prefix, rel, events, depth=0):
    """rel with symlinked parents resolved inside the env; symlinks met go to events."""
    if depth > 40:
        return None
    parts = [c for c in rel.split("/") if c and c != "."]
    out = []
    for i, c in enumerate(parts):
        if c == "..":
            if out:
                out.pop()
            continue
        out.append(c)
        cur = "/".join(out)
        host = os.path.join(envdir, cur)
        if not os.path.lexists(host):
            return None
        if os.path.islink(host) and i < len(parts) - 1:
            events.append(cur)
            t = os.readlink(host)
            if t == prefix or t.startswith(prefix + "/"):
                base = t[len(prefix):]
            elif t.startswith("/"):
                return None
            else:
                base = "/".join(out[:-1] + [t])
            r = resolve(envdir, prefix, base, events, depth + 1)
            if r is None:
                return None
            out = r.split("/") if r else []
    return "/".join(out)


def kind(envdir, rel):
    p = os.path.join(envdir, rel)
    if os.path.islink(p):
        return "symlink"
    return "dir" if os.path.isdir(p) else "file"


def events_from_strace(log, envdir, prefix):
    """[(op, path, type, pid, comm)] in order, first time per (op, path)."""
    seen, out = set(), []
    with open(log, errors="replace") as f:
        for line in f:
            m = CALL.match(line)
            if not m:
                continue
            pid, call, path, rest = m.groups()
            if path != prefix and not path.startswith(prefix + "/"):
                continue
            op = op_of(call, rest)
            via = []
            rel = resolve(envdir, prefix, path[len(prefix):], via)
            for p in via:
                for o in ("lookup", "readlink"):
                    if (o, p) not in seen:
                        seen.add((o, p))
                        out.append((o, p, "symlink", int(pid)))
            if rel is None or (op, rel) in seen:
                continue
            seen.add((op, rel))
            out.append((op, rel, kind(envdir, rel), int(pid)))
    return out


def write_trace(path, events, index, prefix, lock_sha256, comm, append=False):
    t0 = time.time()
    with open(path, "a" if append else "w") as f:
        f.write(json.dumps({"condafs_trace": 1, "index": index, "prefix": prefix,
                            "lock_sha256": lock_sha256, "started": round(t0, 3)}) + "\n")
        for i, (op, rel, typ, pid) in enumerate(events):
            f.write(json.dumps({"t": round(t0 + i / 1e4, 4), "op": op, "path": rel,
                                "type": typ, "pid": pid, "comm": comm}) + "\n")


def trace_command(envdir, trace, cmd, index, prefix, lock_sha256, append=False):
    """Runs cmd (argv inside the sandbox) under strace; writes a trace; returns the run."""
    if not shutil.which("strace") or not shutil.which("bwrap"):
        raise FileNotFoundError("strace and bwrap are needed")
    with tempfile.TemporaryDirectory(prefix="cfs-strace-") as tmp:
        log = os.path.join(tmp, "strace.log")
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=%file", "-o", log,
                            *bwrap(envdir, prefix), *cmd],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events = events_from_strace(log, os.path.abspath(envdir), prefix)
    write_trace(trace, events, index, prefix, lock_sha256, os.path.basename(cmd[0])[:15],
                append)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("envdir")
    ap.add_argument("trace")
    ap.add_argument("--index", required=True)
    ap.add_argument("--prefix", default="/env")
    ap.add_argument("--lock-sha256", required=True)
    ap.add_argument("--append", action="store_true")
    argv = sys.argv[1:]
    if "--" not in argv:
        ap.error("expected -- CMD...")
    cut = argv.index("--")
    a = ap.parse_args(argv[:cut])
    cmd = argv[cut + 1:]
    r = trace_command(a.envdir, a.trace, cmd, a.index, a.prefix, a.lock_sha256, a.append)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
