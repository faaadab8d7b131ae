#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks traces and turns them into working sets, for the mount tests.

usage: trace-tool.py check TRACE [--runs N] [--has PATH:OP[:COMM-PREFIX]]...
       trace-tool.py workset TRACE OUT [--keep GLOB]...
       trace-tool.py objects CONDAFS ENV.cfs WORKSET

check:   every line is one JSON object in the format of docs/profiling.md:
         a header starts each run, then events with exactly the keys t, op,
         path, type, pid, comm; each (path, op) at most once per run; with
         --has, that event is there (and its comm starts with COMM-PREFIX).
workset: a working set (policy/workset.h) of every path the trace names.
objects: the sorted digests of the working set's files that have content.
"""
import json
import subprocess
import sys

EVENT_KEYS = {"t", "op", "path", "type", "pid", "comm"}
HEADER_KEYS = {"condafs_trace", "index", "prefix", "lock_sha256", "started"}
OPS = {"lookup", "getattr", "open", "readlink", "readdir"}
TYPES = {"file", "dir", "symlink"}


def fail(msg):
    print(f"trace-tool: {msg}", file=sys.stderr)
    sys.exit(1)


def read(path):
    runs = []
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        fail(f"{path}: the last line is cut short")
    for n, raw in enumerate(data.decode("utf-8").splitlines(), 1):
        try:
            o = json.loads(raw)
        except ValueError as e:
            fail(f"{path}:{n}: not JSON: {e}: {raw[:200]}")
        if not isinstance(o, dict):
            fail(f"{path}:{n}: not an object")
        if "condafs_trace" in o:
            if set(o) != HEADER_KEYS or o["condafs_trace"] != 1:
                fail(f"{path}:{n}: bad header {o}")
            runs.append((o, []))
            continue
        if not runs:
            fail(f"{path}:{n}: an event before the first header")
        if set(o) != EVENT_KEYS or o["op"] not in OPS or o["type"] not in TYPES:
            fail(f"{path}:{n}: bad event {o}")
        if not isinstance(o["pid"], int) or not isinstance(o["t"], (int, float)):
            fail(f"{path}:{n}: bad pid or t {o}")
        if o["path"].startswith("/"):
            fail(f"{path}:{n}: absolute path {o['path']}")
        runs[-1][1].append(o)
    return runs


def check(args):
    path, want_runs, has = args[0], None, []
    i = 1
    while i < len(args):
        if args[i] == "--runs":
            want_runs = int(args[i + 1])
        elif args[i] == "--has":
            has.append(args[i + 1])
        i += 2
    runs = read(path)
    if not runs:
        fail(f"{path}: no header")
    if want_runs is not None and len(runs) != want_runs:
        fail(f"{path}: {len(runs)} runs, expected {want_runs}")
    events = {}
    for header, evs in runs:
        seen = set()
        for e in evs:
            k = (e["path"], e["op"])
            if k in seen:
                fail(f"{path}: {k} twice in one run")
            seen.add(k)
            events.setdefault(k, e)
    for h in has:
        p, op, *comm = h.split(":")
        e = events.get((p, op))
        if not e:
            fail(f"{path}: no {op} of {p!r}")
        if comm and not e["comm"].startswith(comm[0]):
            fail(f"{path}: {op} of {p!r} by {e['comm']!r}, expected {comm[0]}*")
    print(f"{sum(len(e) for _, e in runs)} events in {len(runs)} runs")


def workset(args):
    trace, out, keep = args[0], args[1], []
    for i in range(2, len(args), 2):
        keep.append(args[i + 1])
    paths = {}
    for header, evs in read(trace):
        prefix = header["prefix"]
        for e in evs:
            if e["path"]:
                paths.setdefault(e["path"], e["type"])
    ws = {"condafs_workset": 1, "prefix": prefix, "keep": keep,
          "entries": [{"path": p, "type": t, "package": None} for p, t in sorted(paths.items())]}
    with open(out, "w") as f:
        json.dump(ws, f, indent=1)
    print(f"{len(paths)} paths")


def objects(args):
    condafs, index, ws = args
    out = subprocess.run([condafs, "ls", "-R", "--all", "--json", index], check=True,
                         capture_output=True, text=True).stdout
    entries = {}
    for line in out.splitlines():
        e = json.loads(line)
        entries[e["path"]] = e
    digests = set()
    with open(ws) as f:
        for w in json.load(f)["entries"]:
            e = entries.get(w["path"])
            if w["type"] == "file" and e and e["type"] == "file" and e["size"]:
                digests.add(e["digest"])
    print("\n".join(sorted(digests)))


if __name__ == "__main__":
    cmds = {"check": check, "workset": workset, "objects": objects}
    if len(sys.argv) < 3 or sys.argv[1] not in cmds:
        fail(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])
