#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reads files of a mounted environment and verifies every byte.

usage: reader.py MOUNTPOINT LS-JSON SEED (--all | --seconds S)

LS-JSON is the output of `condafs ls -R --json`.  --all reads every file
once in a random order; --seconds reads random files until S seconds have
passed.  Each file is read whole and checked against its sha256, then read
again in random ranges (pread) that must match.  Exits 1 on any error.
"""
import hashlib
import json
import os
import random
import sys
import time

mp, listing, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
mode = sys.argv[4]
rng = random.Random(seed)
with open(listing) as f:
    files = [e for e in map(json.loads, f) if e["type"] == "file"]
if mode == "--all":
    order = files[:]
    rng.shuffle(order)
    deadline = None
else:
    deadline = time.monotonic() + float(sys.argv[5])
    order = None
n = nbytes = 0
errors = 0
i = 0
while True:
    if order is not None:
        if i >= len(order):
            break
        e = order[i]
        i += 1
    else:
        if time.monotonic() >= deadline:
            break
        e = rng.choice(files)
    path = os.path.join(mp, e["path"])
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            chunks = []
            while True:
                b = os.read(fd, 1 << 20)
                if not b:
                    break
                chunks.append(b)
            data = b"".join(chunks)
            if len(data) != e["size"] or (e["size"] and hashlib.sha256(data).hexdigest() != e["digest"]):
                print(f"reader {seed}: {e['path']}: wrong content", file=sys.stderr)
                errors += 1
            for _ in range(3 if data else 0):
                off = rng.randrange(len(data))
                ln = rng.randrange(1, 1 << 17)
                if os.pread(fd, ln, off) != data[off:off + ln]:
                    print(f"reader {seed}: {e['path']}: wrong bytes at {off}", file=sys.stderr)
                    errors += 1
        finally:
            os.close(fd)
    except OSError as ex:
        print(f"reader {seed}: {e['path']}: {ex}", file=sys.stderr)
        errors += 1
    n += 1
    nbytes += e["size"]
    if errors > 10:
        break
print(f"reader {seed}: {n} files, {nbytes} bytes, {errors} errors")
sys.exit(1 if errors else 0)
