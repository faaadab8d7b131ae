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
    """The packages of a .golden file: kind, name, version, build, url, sha256, md5
    (and unbuildable, for entries condafs cannot install)."""
    pkgs, platform = [], None
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("platform "):
            platform = line.split()[1]
        elif line.startswith("  unbuildable ") and pkgs:
            pkgs[-1]["unbuildable"] = line.split(" ", 3)[3]
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


def goldens():
    """(golden file, lock file, environment or None) of tests/data/locks/good and
    of tests/data/locks/pixi (LOCK@ENV@PLATFORM.golden)."""
    good = os.path.join(DATA, "locks", "good")
    for fn in sorted(os.listdir(good)):
        if fn.endswith(".golden"):
            yield os.path.join(good, fn), os.path.join(good, fn[:-len(".golden")]), None
    pixi = os.path.join(DATA, "locks", "pixi")
    for fn in sorted(os.listdir(pixi)):
        if fn.endswith(".golden"):
            name, env, _ = fn[:-len(".golden")].split("@")
            yield os.path.join(pixi, fn), os.path.join(pixi, name), env


def main():
    good = os.path.join(DATA, "locks", "good")
    npixi = 0
    for gpath, lock, env in goldens():
        fn = os.path.basename(gpath)
        platform, want = golden(gpath)
        envargs = ["--environment", env] if env else []
        npixi += env is not None
        r = subprocess.run([CONDAFS, "lock", lock, "--platform", platform, "--json"] + envargs,
                           capture_output=True, text=True)
        got = [json.loads(l) for l in r.stdout.splitlines()] if r.returncode == 0 else None
        check(r.returncode == 0 and got == want,
              f"{fn[:-7]}: --json lists the {len(want)} packages of its golden, in order"
              + ("" if got == want else f"; got {got!r:.300}, stderr {r.stderr.strip()!r}"))
        r = subprocess.run([CONDAFS, "lock", lock, "-p", platform] + envargs,
                           capture_output=True, text=True)
        rows = [l.split("  # not installable: ")[0].split() for l in r.stdout.splitlines()]
        check(r.returncode == 0 and len(rows) == len(want) and
              all(row[0] == p["kind"] and row[1] == (p["name"] or "?") and
                  row[-1] == (p["url"] or "-") for row, p in zip(rows, want)) and
              all(("# not installable: " + p.get("unbuildable", "?") in l) == ("unbuildable" in p)
                  for l, p in zip(r.stdout.splitlines(), want)),
              f"{fn[:-7]}: text lists kind, name and URL a line each, and why an entry "
              "cannot be installed")
    check(npixi >= 6, f"{npixi} pixi.lock goldens (environments and platforms) listed")

    # Refused: the same one-line errors as condafs index, exit 1.
    for fn, expect in [("bad-index/pixi-v8.lock",
                        "pixi.lock version 8 is not supported (condafs reads 4 to 7)"),
                       ("locks/bad/pixi-broken-reference.yml", "is not in the lock's packages list"),
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
    pixi = os.path.join(DATA, "locks", "pixi", "v5-environments.yml")
    r = subprocess.run([CONDAFS, "lock", pixi, "-p", "linux-64", "-e", "prod"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "no environment 'prod' in the lock (it has: default, test)"
          in r.stderr, f"an environment the lock lacks: {r.stderr.strip()}")
    r = subprocess.run([CONDAFS, "lock", os.path.join(good, "conda-lock-v1.yml"), "-p",
                        "linux-64", "-e", "test"], capture_output=True, text=True)
    check(r.returncode == 1 and "--environment test is for pixi.lock files" in r.stderr,
          f"--environment on a conda-lock.yml: {r.stderr.strip()}")
    r = subprocess.run([CONDAFS, "lock"], capture_output=True, text=True)
    check(r.returncode == 2 and "expected one LOCK" in r.stderr, "usage: no LOCK")
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
