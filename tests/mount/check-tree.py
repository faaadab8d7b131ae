#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compares a mounted environment with its index, path by path.

usage: check-tree.py CONDAFS ENV.cfs MOUNTPOINT [--cat N] [--no-content] [--mmap] [--skip PATH]

Every entry of `condafs ls -R --json` must exist under MOUNTPOINT with the
same type, permission bits, size, mtime (to the nanosecond) and symlink
target, and every directory must list exactly the index's children.
Regular files are read through the mount and hashed against the index's
digest (unless --no-content); for N of them (all with --cat all) the bytes
are also compared with `condafs cat`.  With --mmap, every non-empty file is
also mapped and the mapping hashed against the digest.
"""
import hashlib
import json
import mmap
import os
import stat
import subprocess
import sys


def main():
    condafs, index, mp = sys.argv[1:4]
    args = sys.argv[4:]
    cat_n = "all"
    content = "--no-content" not in args
    mapped = "--mmap" in args
    if "--cat" in args:
        cat_n = args[args.index("--cat") + 1]
    skip = set()
    if "--skip" in args:
        skip.add(args[args.index("--skip") + 1])
    out = subprocess.run([condafs, "ls", "-R", "--json", index], check=True,
                         capture_output=True, text=True).stdout
    entries = [json.loads(line) for line in out.splitlines()]
    errors = []
    children = {"": set()}
    files = []
    for e in entries:
        path = e["path"]
        if e.get("pruned"):
            if os.path.lexists(os.path.join(mp, path)):
                errors.append(f"{path}: pruned in the index but present on the mount")
            continue
        if path in skip:
            children.setdefault(os.path.dirname(path), set()).add(os.path.basename(path))
            continue
        parent = os.path.dirname(path)
        children.setdefault(parent, set()).add(os.path.basename(path))
        full = os.path.join(mp, path)
        try:
            st = os.lstat(full)
        except OSError as ex:
            errors.append(f"{path}: {ex}")
            continue
        kind = {"dir": stat.S_ISDIR, "file": stat.S_ISREG, "symlink": stat.S_ISLNK}[e["type"]]
        if not kind(st.st_mode):
            errors.append(f"{path}: type {stat.filemode(st.st_mode)}, index says {e['type']}")
            continue
        if stat.S_IMODE(st.st_mode) != e["mode"]:
            errors.append(f"{path}: mode {oct(stat.S_IMODE(st.st_mode))}, index {oct(e['mode'])}")
        if st.st_size != e["size"]:
            errors.append(f"{path}: size {st.st_size}, index {e['size']}")
        want_ns = e["mtime"] * 10**9 + e["mtime_nsec"]
        if st.st_mtime_ns != want_ns:
            errors.append(f"{path}: mtime {st.st_mtime_ns}, index {want_ns}")
        if st.st_uid != os.getuid() or st.st_gid != os.getgid():
            errors.append(f"{path}: owner {st.st_uid}:{st.st_gid}")
        if st.st_ino < 2:
            errors.append(f"{path}: inode {st.st_ino}")
        if e["type"] == "symlink" and os.readlink(full) != e["target"]:
            errors.append(f"{path}: target {os.readlink(full)!r}, index {e['target']!r}")
        if e["type"] == "dir":
            children.setdefault(path, set())
        if e["type"] == "file":
            files.append(e)
    for d, names in children.items():
        full = os.path.join(mp, d)
        try:
            got = set(os.listdir(full))
        except OSError as ex:
            errors.append(f"{d or '/'}: {ex}")
            continue
        if got != names:
            errors.append(f"{d or '/'}: lists {sorted(got ^ names)} differently")
        subdirs = sum(1 for n in names if os.path.isdir(os.path.join(full, n))
                      and not os.path.islink(os.path.join(full, n)))
        if os.lstat(full).st_nlink != 2 + subdirs:
            errors.append(f"{d or '/'}: nlink {os.lstat(full).st_nlink}, want {2 + subdirs}")
    cat_left = len(files) if cat_n == "all" else int(cat_n)
    for e in files if content else []:
        with open(os.path.join(mp, e["path"]), "rb") as f:
            data = f.read()
        if len(data) != e["size"]:
            errors.append(f"{e['path']}: read {len(data)} bytes, index says {e['size']}")
        if e["size"] and hashlib.sha256(data).hexdigest() != e["digest"]:
            errors.append(f"{e['path']}: content differs from the index's digest")
        if mapped and e["size"]:
            with open(os.path.join(mp, e["path"]), "rb") as f, \
                    mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) as m:
                if hashlib.sha256(m).hexdigest() != e["digest"]:
                    errors.append(f"{e['path']}: mapped content differs from the index's digest")
        if cat_left > 0:
            cat_left -= 1
            ref = subprocess.run([condafs, "cat", index, e["path"]], check=True,
                                 capture_output=True).stdout
            if ref != data:
                errors.append(f"{e['path']}: content differs from condafs cat")
    for line in errors[:50]:
        print("check-tree: " + line, file=sys.stderr)
    if errors:
        print(f"check-tree: {len(errors)} differences", file=sys.stderr)
        sys.exit(1)
    print(f"check-tree: {len(entries)} entries, {len(files)} files match")


main()
