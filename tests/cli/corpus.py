#!/usr/bin/env python3
"""Index the real packages of ../shared/corpus (copied from conda, cph, rattler
and conda-index test data) and check every installed file against the
package's own paths.json, as extracted independently by Debian's cph.

Packages broken on purpose (payload stripped, empty symlink targets, softlinks
stored as regular files) must fail with a clear, specific message.

usage: corpus.py CONDAFS     (exits 77 when the corpus is absent)
"""
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import fixturelib as fl  # noqa: E402
sys.path.insert(0, HERE)
import testlib  # noqa: E402
from testlib import run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
# ../shared/corpus beside the checkout (as CI lays it out), or $CFS_CORPUS.
CORPUS = next((d for d in (os.environ.get("CFS_CORPUS"),
                           os.path.join(HERE, "..", "..", "..", "shared", "corpus", "packages"),
                           "/work/shared/corpus/packages") if d and os.path.isdir(d)),
              os.path.join(HERE, "..", "..", "..", "shared", "corpus", "packages"))
CORPUS = os.path.normpath(CORPUS)
PREFIX = "/opt/corpus-env"
OLD_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"

# name → (platform, expected failure substring or None)
PACKAGES = {
    "cph_test_data-0.0.1-0.tar.bz2": ("linux-64", None),
    "mock-2.0.0-py37_1000.conda": ("osx-64", None),
    "mock-2.0.0-py37_1000.tar.bz2": ("osx-64", None),
    "sample_noarch_python-1.0-py_0.conda": ("linux-64", None),
    "post_link_run_in_env_package-1.0-0.conda": ("linux-64", None),
    "conda-index-pkg-a-1.0-pyhed9eced_1.tar.bz2": ("linux-64", None),
    "link-scripts-0.1.0-h4616a5c_0.conda": ("linux-64", None),
    "zlib-1.2.11-h7b6447c_3.conda": ("linux-64", "lib/libz.so: symlink with an empty target"),
    "zlib-1.2.11-h7b6447c_3.tar.bz2": ("linux-64",
                                       "softlink but the archive holds a regular file"),
    "flask-0.11.1-py_0.tar.bz2": ("linux-64", "missing from the archive (payload stripped?)"),
    "nano-2.4.1-0.tar.bz2": ("osx-64", "missing from the archive (payload stripped?)"),
}

# main() prints one "ok" line a package, not one a check.
check = functools.partial(testlib.check, quiet=True)


def fake_python(root):
    """A minimal python package so noarch: python packages have an X.Y."""
    staging = os.path.join(root, "pystage")
    fl.write_file(staging, "bin/python3.11", b"#!/bin/sh\n", mode=0o755)
    fl.write_info(staging, {"name": "python", "version": "3.11.7", "build": "h0_0",
                            "build_number": 0, "depends": [], "subdir": "linux-64",
                            "timestamp": 1700000000000})
    return fl.cph_create(staging, os.path.join(root, "python-3.11.7-h0_0.conda"))


def noarch_python(info):
    n = info.get("noarch")
    return n == "python" or (isinstance(n, dict) and n.get("type") == "python")


def final_path(p, noarch_py):
    if noarch_py and p.startswith("site-packages/"):
        return "lib/python3.11/" + p
    if noarch_py and p.startswith("python-scripts/"):
        return "bin/" + p[len("python-scripts/"):]
    return p


def check_package(root, fn, platform, broken):
    """Indexes fn (after the fake python); extracts it with cph unless broken."""
    pkg = os.path.join(CORPUS, fn)
    ext = os.path.join(root, "x", fn)
    noarch_py = False
    if not broken:
        r = run("cph", "extract", pkg, "--dest", ext, text=False)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(ext, "info", "index.json")) as f:
            noarch_py = noarch_python(json.load(f))
    py = fake_python(root)
    lines = ["file://" + py + "#sha256:" + fl.file_hashes(py)[0]]
    lines.append("file://" + pkg + "#sha256:" + fl.file_hashes(pkg)[0])
    lock = os.path.join(root, fn + ".txt")
    with open(lock, "w") as f:
        f.write("@EXPLICIT\n" + "\n".join(lines) + "\n")
    out = os.path.join(root, fn + ".cfs")
    r = run(CONDAFS, "index", lock, "-o", out, "--store", os.path.join(root, "store"),
            "--cache", os.path.join(root, "cache"), "--platform", platform,
            "--prefix", PREFIX, text=True)
    return r, out, ext, noarch_py


def compare(fn, out, ext, noarch_py):
    with open(os.path.join(ext, "info", "paths.json")) as f:
        paths = json.load(f)["paths"]
    r = run(CONDAFS, "ls", out, "-R", "--json", text=True)
    check(r.returncode == 0, f"{fn}: ls failed: {r.stderr}")
    nodes = {json.loads(l)["path"]: json.loads(l) for l in r.stdout.splitlines()}
    want = set()
    for e in paths:
        p = final_path(e["_path"], noarch_py)
        want.add(p)
        n = nodes.get(p)
        check(n is not None, f"{fn}: {p} missing from the index")
        if n is None:
            continue
        src = os.path.join(ext, e["_path"])
        if e.get("path_type", "hardlink") == "softlink":
            check(n["type"] == "symlink" and n["target"] == os.readlink(src),
                  f"{fn}: {p}: symlink {n} != {os.readlink(src)}")
            continue
        check(n["type"] == "file", f"{fn}: {p}: type {n['type']}")
        check(n["mode"] == os.stat(src).st_mode & 0o7777,
              f"{fn}: {p}: mode {oct(n['mode'])} != {oct(os.stat(src).st_mode & 0o7777)}")
        check(n["mtime"] == int(os.stat(src).st_mtime), f"{fn}: {p}: mtime")
        c = run(CONDAFS, "cat", out, p, text=False)
        check(c.returncode == 0, f"{fn}: cat {p}: {c.stderr}")
        with open(src, "rb") as f:
            shipped = f.read()
        if "prefix_placeholder" in e:
            expect = shipped.replace(e["prefix_placeholder"].encode(), PREFIX.encode())
            check(c.stdout == expect, f"{fn}: {p}: relocated content differs")
        else:
            check(hashlib.sha256(c.stdout).hexdigest() == e["sha256"],
                  f"{fn}: {p}: content sha256 != paths.json sha256")
            check(len(c.stdout) == e["size_in_bytes"], f"{fn}: {p}: size")
            check(c.stdout == shipped, f"{fn}: {p}: content differs from the package")
    # Nothing else but conda-meta, entry points, directories and the fake python.
    extra = [p for p, n in nodes.items() if p not in want and n["type"] != "dir"
             and not p.startswith("conda-meta/") and n.get("package") != "python"]
    if noarch_py:
        with open(os.path.join(ext, "info", "link.json")) if os.path.exists(
                os.path.join(ext, "info", "link.json")) else open(os.devnull) as f:
            text = f.read()
        eps = json.loads(text)["noarch"].get("entry_points", []) if text else []
        for ep in eps:
            cmd = "bin/" + ep.split("=")[0].strip()
            check(cmd in nodes and nodes[cmd]["mode"] == 0o755,
                  f"{fn}: entry point {cmd} missing or not 0755")
            extra = [p for p in extra if p != cmd]
    check(not extra, f"{fn}: unexpected paths {extra}")
    name = "conda-meta/%s-%s-%s.json" % tuple(fn.rsplit(".tar.bz2", 1)[0].rsplit(".conda", 1)[0]
                                                .rsplit("-", 2))
    check(name in nodes, f"{fn}: {name} missing")
    check("conda-meta/history" in nodes, f"{fn}: conda-meta/history missing")


def main():
    if not os.path.isdir(CORPUS):
        print(f"SKIP: no corpus at {CORPUS}")
        return 77
    root = tempfile.mkdtemp(prefix="cfs-corpus-")
    try:
        for fn, (platform, expect) in PACKAGES.items():
            r, out, ext, noarch_py = check_package(root, fn, platform, expect)
            if expect:
                check(r.returncode != 0 and expect in r.stderr and fn in r.stderr
                      and not os.path.exists(out),
                      f"{fn}: expected failure with {expect!r}, got {r.returncode}: {r.stderr}")
                print(f"ok   {fn}: refused: {r.stderr.strip().splitlines()[-1]}")
                continue
            check(r.returncode == 0, f"{fn}: index failed: {r.stderr}")
            if r.returncode == 0:
                compare(fn, out, ext, noarch_py)
                print(f"ok   {fn}")
        for fn in os.listdir(CORPUS):
            check(fn in PACKAGES, f"corpus package {fn} is not covered by this test")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
