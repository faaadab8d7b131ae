#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Wheels with the quirks of real ones install as pip installs them, and
broken wheels are refused in one line that names the wheel and what was
wrong.  No mount: the index and the store are read with condafs ls and cat
(tests/mount/wheels.sh runs wheels from a mount).

Installed: compressed tag sets (py2.py3), abi3 wheels for an older CPython,
manylinux and linux platform tags, Root-Is-Purelib false with platlib, a
RECORD with CRLF line ends, a quoted path holding a comma, a dist-info
holding INSTALLER and RECORD.jws (dropped, as pip drops them), "#!python"
scripts with arguments, an entry point with extras.

Refused: tags for another platform, another python, musllinux; a member not
in RECORD or with another hash or size; Wheel-Version 2; an unknown .data
scheme; a path out of the prefix; no dist-info; not a zip; a file name that
is not a wheel's; two dist-info directories; a bad entry point; a wheel in
an environment without python.

usage: wheel_check.py CONDAFS
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import fixturelib as fl  # noqa: E402
sys.path.insert(0, HERE)
from testlib import check, run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
EPOCH = (2024, 1, 1, 0, 0, 0)


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def csv_quote(s):
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"') else s


def wheel(root, fn, members, dist_info="demo-1.0.dist-info", record_edit=None, eol="\n",
          wheel_version="1.0", purelib="true", raw=None):
    """Writes root/fn from members {name: (bytes, mode)} plus WHEEL, METADATA
    and RECORD (record_edit(rows) may change the RECORD rows)."""
    members = dict(members)
    members.setdefault(f"{dist_info}/METADATA",
                       (b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n", 0o644))
    members.setdefault(f"{dist_info}/WHEEL", (
        f"Wheel-Version: {wheel_version}\nGenerator: condafs-tests\n"
        f"Root-Is-Purelib: {purelib}\nTag: py3-none-any\n".encode(), 0o644))
    rows = [[name, record_hash(data), str(len(data))] for name, (data, _) in members.items()]
    rows.append([f"{dist_info}/RECORD", "", ""])
    if record_edit:
        record_edit(rows)
    record = eol.join(",".join(csv_quote(f) for f in row) for row in rows) + eol
    members[f"{dist_info}/RECORD"] = (record.encode(), 0o644)
    path = os.path.join(root, fn)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in (raw or members).items():
            zi = zipfile.ZipInfo(name, EPOCH)
            zi.external_attr = (0o100000 | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return path


def python_pkg(root, version="3.11.7"):
    staging = os.path.join(root, "staging", "python")
    fl.write_file(staging, "bin/python3.11", b"#!/bin/sh\necho fake python\n", mode=0o755,
                  mtime=1700000000)
    index = {"name": "python", "version": version, "build": "h0_cpython", "build_number": 0,
             "depends": [], "subdir": "linux-64", "timestamp": 1700000000000}
    fl.write_info(staging, index, mtime=1700000000)
    return fl.cph_create(staging, os.path.join(root, "channel", "linux-64",
                                               f"python-{version}-h0_cpython.conda"))


def lock(root, name, wheels, with_python=True, tool_pkg=None):
    """An @EXPLICIT lock: python (unless not with_python), then '# pip' lines."""
    lines = []
    if with_python:
        py = python_pkg(root)
        lines.append("file://" + py + "#sha256:" + fl.sha256_file(py))
    if tool_pkg:
        lines.append("file://" + tool_pkg + "#sha256:" + fl.sha256_file(tool_pkg))
    for w in wheels:
        dist = os.path.basename(w).split("-")[0]
        lines.append(f"# pip {dist} @ file://{w}#sha256={fl.sha256_file(w)}")
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write("# platform: linux-64\n@EXPLICIT\n" + "\n".join(lines) + "\n")
    return path


def index(root, lockfile, out):
    return run(CONDAFS, "index", lockfile, "-o", out, "--store", os.path.join(root, "store"),
               "--cache", os.path.join(root, "cache"), "--no-compile", "-q")


def cat(root, cfs, path):
    r = run(CONDAFS, "cat", cfs, path, "--store", os.path.join(root, "store"), text=False)
    return r.stdout if r.returncode == 0 else None


def good(root):
    members = {
        "demo/__init__.py": (b"def main():\n    print('demo')\n", 0o644),
        "demo/data,with,commas.txt": (b"commas\n", 0o644),
        "demo-1.0.data/platlib/demo_native.py": (b"NATIVE = True\n", 0o644),
        "demo-1.0.data/scripts/demo-tool": (b"#!python -E\nprint('tool')\n", 0o644),
        "demo-1.0.data/scripts/demo-w": (b"#!pythonw\nprint('w')\n", 0o755),
        "demo-1.0.dist-info/INSTALLER": (b"pip\n", 0o644),
        "demo-1.0.dist-info/entry_points.txt": (
            b"[console_scripts]\ndemo = demo:main [cli]\n# a comment\n\n"
            b"[gui_scripts]\ndemo-gui=demo:main\n", 0o644),
    }
    w1 = wheel(root, "demo-1.0-py2.py3-none-any.whl", members, eol="\r\n", purelib="false")
    # Signatures are listed nowhere; pip drops them.
    with zipfile.ZipFile(w1, "a") as z:
        z.writestr("demo-1.0.dist-info/RECORD.jws", b"{}")
    w2 = wheel(root, "fastdemo-2.0-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
               {"fastdemo/__init__.py": (b"X = 1\n", 0o644)},
               dist_info="fastdemo-2.0.dist-info")
    w3 = wheel(root, "lindemo-1.0-cp311-cp311-linux_x86_64.whl",
               {"lindemo.py": (b"Y = 2\n", 0o644)}, dist_info="lindemo-1.0.dist-info")
    cfs = os.path.join(root, "good.cfs")
    r = index(root, lock(root, "good.txt", [w1, w2, w3]), cfs)
    if not check(r.returncode == 0, f"quirky wheels install: {r.stderr.strip()}"):
        return
    sp = "lib/python3.11/site-packages"
    rec = cat(root, cfs, f"{sp}/demo-1.0.dist-info/RECORD")
    check(rec is not None and b'"demo/data,with,commas.txt",sha256=' in rec and
          b"../../../bin/demo-tool,sha256=" in rec and b"demo-1.0.dist-info/RECORD,,\n" in rec
          and b"\r" not in rec and b"RECORD.jws" not in rec,
          "RECORD rewritten: quoted comma path, scripts relative to site-packages, no signature")
    check(cat(root, cfs, f"{sp}/demo-1.0.dist-info/INSTALLER") == b"condafs\n",
          "INSTALLER says condafs (the wheel's own is replaced)")
    check(cat(root, cfs, f"{sp}/demo_native.py") == b"NATIVE = True\n",
          "platlib goes to site-packages (Root-Is-Purelib: false)")
    tool = cat(root, cfs, "bin/demo-tool")
    check(tool == b"#!/env/bin/python3.11\nprint('tool')\n",
          f"'#!python -E' becomes the env's python: {tool!r}")
    check(cat(root, cfs, "bin/demo-w") == b"#!/env/bin/python3.11\nprint('w')\n",
          "'#!pythonw' too")
    demo = cat(root, cfs, "bin/demo") or b""
    check(demo.startswith(b"#!/env/bin/python3.11\n") and b"from demo import main\n" in demo
          and b"sys.exit(main())" in demo, "entry point with extras: [cli] dropped")
    check(cat(root, cfs, "bin/demo-gui") is not None, "gui_scripts entry point")
    ls = [json.loads(l) for l in run(CONDAFS, "ls", cfs, "bin", "--json").stdout.splitlines()]
    demos = {os.path.basename(e["path"]): e for e in ls if "demo" in e["path"]}
    check(sorted(demos) == ["demo", "demo-gui", "demo-tool", "demo-w"] and
          all(e["mode"] & 0o777 == 0o755 and e["package"] == "demo" for e in demos.values()),
          f"scripts are executable and owned by the wheel: {demos}")
    check(cat(root, cfs, f"{sp}/fastdemo/__init__.py") == b"X = 1\n" and
          cat(root, cfs, f"{sp}/lindemo.py") == b"Y = 2\n",
          "cp39-abi3 manylinux and cp311 linux_x86_64 wheels fit python 3.11")
    info = run(CONDAFS, "info", cfs, "--json").stdout
    check('"fastdemo"' in info and '"manager": "pip"' in info, "wheels listed as pip packages")

    # conda-lock.yml's manager: pip entries are wheels too; a relative path
    # is relative to the lock file.
    py = python_pkg(root)
    shutil.copy(w2, os.path.join(root, "channel"))
    entries = [{"name": "python", "version": "3.11.7", "manager": "conda",
                "platform": "linux-64", "dependencies": {}, "url": fl.file_url(py),
                "hash": {"sha256": fl.sha256_file(py)}, "category": "main", "optional": False},
               {"name": "fastdemo", "version": "2.0", "manager": "pip", "platform": "linux-64",
                "dependencies": {"python": ">=3.9"},
                "url": "channel/" + os.path.basename(w2),
                "hash": {"sha256": fl.sha256_file(w2)}, "category": "main", "optional": False}]
    cl = os.path.join(root, "conda-lock.yml")
    fl.write_conda_lock(cl, "linux-64", ["conda-forge"], entries)
    cfs2 = os.path.join(root, "conda-lock.cfs")
    r = run(CONDAFS, "index", cl, "-o", cfs2, "--store",
            os.path.join(root, "store"), "--cache", os.path.join(root, "cache"), "--no-compile",
            cwd="/")  # not the lock's directory
    check(r.returncode == 0 and "indexed 1 packages and 1 wheel (0 skipped)" in r.stderr and
          cat(root, cfs2, f"{sp}/fastdemo/__init__.py") == b"X = 1\n",
          f"conda-lock.yml manager: pip wheel at a path relative to the lock: {r.stderr.strip()}")


def direct_url(root):
    """pixi writes a wheel from a direct URL as "direct+URL", without a hash."""
    py = python_pkg(root)
    w = wheel(root, "direct-1.0-py3-none-any.whl", {"direct.py": (b"Z = 3\n", 0o644)},
              dist_info="direct-1.0.dist-info")
    text = "\n".join([
        "version: 6", "environments:", "  default:", "    channels:",
        "    - url: https://conda.anaconda.org/conda-forge/", "    packages:", "      linux-64:",
        f"      - conda: {fl.file_url(py)}", f"      - pypi: direct+{fl.file_url(w)}",
        "packages:", f"- conda: {fl.file_url(py)}", f"  sha256: {fl.sha256_file(py)}",
        f"- pypi: direct+{fl.file_url(w)}", "  name: direct", "  version: '1.0'", ""])
    lockfile = os.path.join(root, "direct.lock")
    with open(lockfile, "w") as f:
        f.write(text)
    cfs = os.path.join(root, "direct.cfs")
    r = index(root, lockfile, cfs)
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and
          "direct-1.0-py3-none-any.whl: file://" in r.stderr and
          "no sha256 or md5 to verify against (--allow-unverified accepts it)" in r.stderr and
          not os.path.exists(cfs), f"a direct URL wheel without a hash: {r.stderr.strip()}")
    r = run(CONDAFS, "index", lockfile, "-o", cfs, "--store", os.path.join(root, "store"),
            "--cache", os.path.join(root, "cache"), "--no-compile", "-q", "--allow-unverified")
    check(r.returncode == 0 and
          cat(root, cfs, "lib/python3.11/site-packages/direct.py") == b"Z = 3\n",
          f"... installed with --allow-unverified, from the URL after 'direct+': {r.stderr.strip()}")


def bad(root):
    def case(what, fn, members=None, want=(), with_python=True, **kw):
        d = tempfile.mkdtemp(dir=root)
        w = wheel(d, fn, members or {"demo/__init__.py": (b"", 0o644)}, **kw)
        cfs = os.path.join(d, "bad.cfs")
        r = index(d, lock(d, "lock.txt", [w], with_python=with_python), cfs)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1 and len(lines) == 1 and all(x in r.stderr for x in want)
              and not os.path.exists(cfs), f"{what}: {r.stderr.strip()}")

    case("another platform", "demo-1.0-py3-none-win_amd64.whl",
         want=["demo-1.0-py3-none-win_amd64.whl: wheel tags py3-none-win_amd64 do not fit "
               "python 3.11 on linux-64"])
    case("another python", "demo-1.0-cp312-cp312-manylinux2014_x86_64.whl",
         want=["cp312-cp312-manylinux2014_x86_64 do not fit"])
    case("abi3 for a newer python", "demo-1.0-cp312-abi3-manylinux2014_x86_64.whl",
         want=["do not fit"])
    case("musllinux", "demo-1.0-py3-none-musllinux_1_1_x86_64.whl", want=["do not fit"])
    case("another architecture", "demo-1.0-py3-none-manylinux2014_aarch64.whl",
         want=["do not fit"])
    case("not a wheel name", "demo.whl", want=["demo.whl: not a wheel file name"])
    case("member not in RECORD", "demo-1.0-py3-none-any.whl",
         record_edit=lambda rows: rows.pop(0),
         want=["demo-1.0-py3-none-any.whl: demo/__init__.py is not listed in RECORD"])
    case("size not as in RECORD", "demo-1.0-py3-none-any.whl",
         record_edit=lambda rows: rows[0].__setitem__(2, "99"),
         want=["demo/__init__.py: 0 bytes, RECORD line 1 says 99"])
    case("hash not as in RECORD", "demo-1.0-py3-none-any.whl",
         record_edit=lambda rows: rows[0].__setitem__(1, record_hash(b"x")),
         want=["demo/__init__.py: hash does not match RECORD line 1"])
    case("Wheel-Version 2", "demo-1.0-py3-none-any.whl", wheel_version="2.0",
         want=["Wheel-Version 2.0 is not supported"])
    case("unknown .data scheme", "demo-1.0-py3-none-any.whl",
         members={"demo-1.0.data/config/x.cfg": (b"", 0o644)},
         want=["demo-1.0.data/config/x.cfg: unknown .data scheme 'config'"])
    case("a path out of the prefix", "demo-1.0-py3-none-any.whl",
         members={"../../../../etc/evil": (b"", 0o644)},
         want=["../../../../etc/evil: unsafe or malformed member path"])
    case("two dist-info directories", "demo-1.0-py3-none-any.whl",
         members={"other-2.0.dist-info/METADATA": (b"", 0o644)},
         want=["two .dist-info directories"])
    case("bad entry point", "demo-1.0-py3-none-any.whl",
         members={"demo-1.0.dist-info/entry_points.txt":
                  (b"[console_scripts]\ndemo = not a module\n", 0o644)},
         want=["demo-1.0.dist-info/entry_points.txt:2: bad entry point 'demo = not a module'"])
    case("no python in the environment", "demo-1.0-py3-none-any.whl", with_python=False,
         want=["no conda packages"])
    d = tempfile.mkdtemp(dir=root)
    w = os.path.join(d, "demo-1.0-py3-none-any.whl")
    with open(w, "wb") as f:
        f.write(b"not a zip file\n" * 10)
    cfs = os.path.join(d, "bad.cfs")
    r = index(d, lock(d, "lock.txt", [w]), cfs)
    check(r.returncode == 1 and "demo-1.0-py3-none-any.whl: not a zip archive" in r.stderr,
          f"not a zip: {r.stderr.strip()}")
    # A wheel needs python even when other conda packages are there.
    d = tempfile.mkdtemp(dir=root)
    staging = os.path.join(d, "staging", "tool")
    fl.write_file(staging, "share/tool/x", b"x\n", mtime=1700000000)
    fl.write_info(staging, {"name": "tool", "version": "1.0", "build": "0", "build_number": 0,
                            "depends": [], "subdir": "linux-64", "timestamp": 1700000000000},
                  mtime=1700000000)
    tool = fl.cph_create(staging, os.path.join(d, "channel", "linux-64", "tool-1.0-0.conda"))
    w = wheel(d, "demo-1.0-py3-none-any.whl", {"demo/__init__.py": (b"", 0o644)})
    r = index(d, lock(d, "lock.txt", [w], with_python=False, tool_pkg=tool),
              os.path.join(d, "bad.cfs"))
    check(r.returncode == 1 and "demo-1.0-py3-none-any.whl: a wheel needs python, but the "
          "lock has no python package" in r.stderr, f"no python: {r.stderr.strip()}")


def main():
    root = tempfile.mkdtemp(prefix="cfs-wheel-")
    try:
        good(root)
        direct_url(root)
        bad(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return summary(need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
