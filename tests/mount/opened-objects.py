#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Lists the objects a traced run must have fetched.

usage: opened-objects.py CONDAFS ENV.cfs MOUNTPOINT STRACE-LOG...

Reads `strace -f -e trace=openat,open,execve` logs, keeps the files under
MOUNTPOINT that were opened (or executed, with their #! interpreter),
resolves symlinks through the mount, and prints the sorted digests of those
that have content: exactly what the cache should hold afterwards.
"""
import json
import os
import re
import subprocess
import sys

condafs, index, mp = sys.argv[1:4]
entries = {}
out = subprocess.run([condafs, "ls", "-R", "--json", index], check=True,
                     capture_output=True, text=True).stdout
for line in out.splitlines():
    e = json.loads(line)
    entries[e["path"]] = e

opened = set()
open_re = re.compile(r'open(?:at)?\((?:AT_FDCWD|-100), "([^"]+)", [^)]*\) = \d+')
open_re2 = re.compile(r'open\("([^"]+)", [^)]*\) = \d+')
exec_re = re.compile(r'execve\("([^"]+)", .*\) = 0')
for log in sys.argv[4:]:
    with open(log) as f:
        for line in f:
            for rx in (open_re, open_re2, exec_re):
                m = rx.search(line)
                if m:
                    opened.add((m.group(1), rx is exec_re))

digests = set()
todo = list(opened)
seen = set()
while todo:
    path, executed = todo.pop()
    if not os.path.isabs(path) or (path, executed) in seen:
        continue
    seen.add((path, executed))
    real = os.path.realpath(path)
    if not real.startswith(mp.rstrip("/") + "/"):
        continue
    rel = real[len(mp.rstrip("/")) + 1:]
    e = entries.get(rel)
    if not e or e["type"] != "file":
        continue
    if e["size"]:
        digests.add(e["digest"])
    if executed:
        with open(real, "rb") as f:
            head = f.read(256)
        if head.startswith(b"#!"):
            interp = head[2:].split(b"\n")[0].strip().split()[0].decode()
            todo.append((interp, True))
print("\n".join(sorted(digests)))
