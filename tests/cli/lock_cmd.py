#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""condafs lock: every good lock of tests/data/locks lists, in --json and
in text, exactly the packages its .golden (the lock parser's own golden
output) holds, in the same order; refused locks fail in one line.

usage: lock_cmd.py CONDAFS
"""
import json
import os
import subprocess
import sys

CONDAFS = sys.argv[1]
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def golden(path):
    """The packages of a .golden file: kind, name, version, build, url, sha256, md5."""
    pkgs, platform = [], None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("platform "):
            platform = line.split()[1]
        elif " line " in line and line.split()[0] in ("conda", "pip"):
            head, rest = line.split(": ", 1)
            name, version, build = (None if f == "(null)" else f for f in rest.split(" "))
            pkgs.append({"kind": "conda" if head.startswith("conda") else "pypi", "name": name,
                         "version": version, "build": build, "url": None, "sha256": None,
                         "md5": None})
        elif line.startswith("  ") and pkgs:
            key, _, value = line.strip().partition(" ")
            if key in ("url", "sha256", "md5"):
                pkgs[-1][key] = None if value in ("", "-", "(null)") else value
    return platform, pkgs


def main():
    good = os.path.join(DATA, "locks", "good")
    for fn in sorted(os.listdir(good)):
        if not fn.endswith(".golden"):
            continue
        lock = os.path.join(good, fn[:-len(".golden")])
        platform, want = golden(os.path.join(good, fn))
        r = subprocess.run([CONDAFS, "lock", lock, "--platform", platform, "--json"],
                           capture_output=True, text=True)
        got = [json.loads(l) for l in r.stdout.splitlines()] if r.returncode == 0 else None
        check(r.returncode == 0 and got == want,
              f"{fn[:-7]}: --json lists the {len(want)} packages of its golden, in order"
              + ("" if got == want else f"; got {got!r:.300}, stderr {r.stderr.strip()!r}"))
        r = subprocess.run([CONDAFS, "lock", lock, "-p", platform], capture_output=True,
                           text=True)
        rows = [l.split() for l in r.stdout.splitlines()]
        check(r.returncode == 0 and len(rows) == len(want) and
              all(row[0] == p["kind"] and row[1] == (p["name"] or "?") and
                  row[-1] == (p["url"] or "-") for row, p in zip(rows, want)),
              f"{fn[:-7]}: text lists kind, name and URL a line each")

    # Refused: the same one-line errors as condafs index, exit 1.
    for fn, expect in [("bad-index/pixi-v6.lock", "pixi.lock version 6 is not supported"),
                       ("bad-index/version2.yml", "conda-lock.yml version 2 is not supported"),
                       ("bad-index/malformed.yml", "invalid YAML")]:
        r = subprocess.run([CONDAFS, "lock", os.path.join(DATA, fn)], capture_output=True,
                           text=True)
        lines = r.stderr.splitlines()
        check(r.returncode == 1 and not r.stdout and len(lines) == 1 and expect in lines[0]
              and os.path.basename(fn) in lines[0], f"{fn}: refused: {r.stderr.strip()}")
    r = subprocess.run([CONDAFS, "lock", os.path.join(good, "conda-lock-v1.yml"), "-p",
                        "win-64"], capture_output=True, text=True)
    check(r.returncode == 1 and "no packages for platform win-64" in r.stderr,
          f"a platform the lock lacks: {r.stderr.strip()}")
    r = subprocess.run([CONDAFS, "lock"], capture_output=True, text=True)
    check(r.returncode == 2 and "expected one LOCK" in r.stderr, "usage: no LOCK")
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
