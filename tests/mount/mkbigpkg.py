#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes a conda package with many files and an @EXPLICIT lock for it, for
the daemon's memory test.  `condafs index` then makes the index, so the
test never depends on the index format.

usage: mkbigpkg.py OUTDIR N-FILES

OUTDIR/bigpkg-1.0-0.tar.bz2 holds N files in 1,000 directories (sharing
16 distinct contents) and 500 symlinks; OUTDIR/lock.txt refers to it.
"""
import hashlib
import io
import json
import os
import sys
import tarfile

out, n_files = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
contents = [(f"content {i}\n" * (50 * (i + 1))).encode() for i in range(16)]
paths = []
pkg = os.path.join(out, "bigpkg-1.0-0.tar.bz2")


def add(tar, name, data=None, link=None, mtime=1700000000):
    ti = tarfile.TarInfo(name)
    ti.mtime = mtime
    if link is not None:
        ti.type = tarfile.SYMTYPE
        ti.linkname = link
        ti.mode = 0o777
        tar.addfile(ti)
    else:
        ti.size = len(data)
        ti.mode = 0o644
        tar.addfile(ti, io.BytesIO(data))


with tarfile.open(pkg, "w:bz2", compresslevel=1) as tar:
    for i in range(n_files):
        d = f"lib/dir{i % 20:02d}-xxxxxxxx/subdirectory-{(i // 20) % 50:03d}"
        p = f"{d}/module_file_{i:06d}.py"
        add(tar, p, contents[i % 16], mtime=1700000000 + i)
        paths.append(p)
    for i in range(500):
        d = f"lib/dir{i % 20:02d}-xxxxxxxx/subdirectory-{(i // 20) % 50:03d}"
        add(tar, f"{d}/link-{i}", link=f"module_file_{i:06d}.py")
        paths.append(f"{d}/link-{i}")
    index = {"name": "bigpkg", "version": "1.0", "build": "0", "build_number": 0,
             "subdir": "linux-64", "depends": []}
    add(tar, "info/index.json", json.dumps(index).encode())
    add(tar, "info/files", ("\n".join(paths) + "\n").encode())
with open(pkg, "rb") as f:
    sha = hashlib.sha256(f.read()).hexdigest()
with open(os.path.join(out, "lock.txt"), "w") as f:
    f.write(f"@EXPLICIT\nfile://{os.path.abspath(pkg)}#{sha}\n")
print(f"{pkg}: {n_files} files, 500 symlinks")
