#!/usr/bin/env python3
"""A changed lock for export_check.py: one noarch package of a mkpyenv channel
rebuilt with a new build string, one file changed and one removed, and an
@EXPLICIT lock that uses it instead of the original.

usage: export_relock.py PYENV_DIR OUTDIR [--package blinker] [--change REL] [--remove REL]
prints the new lock's path
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
sys.dont_write_bytecode = True
from fixturelib import cph_create, file_hashes, file_url  # noqa: E402


def unpack(archive, dest):
    if archive.endswith(".tar.bz2"):
        with tarfile.open(archive, "r:bz2") as t:
            t.extractall(dest)
        return
    with zipfile.ZipFile(archive) as z:
        for n in z.namelist():
            if n.endswith(".tar.zst"):
                import subprocess
                data = subprocess.run(["zstd", "-dc"], input=z.read(n), check=True,
                                      stdout=subprocess.PIPE).stdout
                import io
                with tarfile.open(fileobj=io.BytesIO(data)) as t:
                    t.extractall(dest)


def rebuild(pyenv, outdir, package="blinker", change="site-packages/blinker/__init__.py",
            remove="site-packages/blinker/py.typed"):
    """Returns (new lock path, old build, new build)."""
    with open(os.path.join(pyenv, "manifest.json")) as f:
        manifest = json.load(f)
    pkg = next(p for p in manifest["packages"] if p["name"] == package)
    stage = os.path.join(outdir, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    unpack(os.path.join(pyenv, pkg["path"]), stage)
    old_build = pkg["build"]
    new_build = old_build[:-1] + str(int(old_build[-1]) + 1) if old_build[-1].isdigit() \
        else old_build + "_1"
    # The changed file (same mtime: only its content differs) and the removed one.
    path = os.path.join(stage, change)
    st = os.stat(path)
    with open(path, "a") as f:
        f.write("# rebuilt by condafs tests/cli/export_relock.py\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.unlink(os.path.join(stage, remove))
    info = os.path.join(stage, "info")
    with open(os.path.join(info, "paths.json")) as f:
        paths = json.load(f)
    paths["paths"] = [p for p in paths["paths"] if p["_path"] != remove]
    for p in paths["paths"]:
        if p["_path"] == change:
            with open(path, "rb") as f:
                data = f.read()
            p["sha256"] = hashlib.sha256(data).hexdigest()
            p["size_in_bytes"] = len(data)
    with open(os.path.join(info, "paths.json"), "w") as f:
        json.dump(paths, f, indent=2, sort_keys=True)
    with open(os.path.join(info, "files")) as f:
        files = [l for l in f.read().splitlines() if l != remove]
    with open(os.path.join(info, "files"), "w") as f:
        f.write("".join(l + "\n" for l in files))
    with open(os.path.join(info, "index.json")) as f:
        index = json.load(f)
    index["build"] = new_build
    index["build_number"] = index.get("build_number", 0) + 1
    with open(os.path.join(info, "index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    chan = os.path.join(outdir, "channel", "noarch")
    os.makedirs(chan, exist_ok=True)
    ext = ".tar.bz2" if pkg["fn"].endswith(".tar.bz2") else ".conda"
    dest = os.path.join(chan, f"{package}-{pkg['version']}-{new_build}{ext}")
    cph_create(stage, dest, None if ext == ".tar.bz2" else 3)
    shutil.rmtree(stage)
    sha, _, _ = file_hashes(dest)
    # The @EXPLICIT lock with the package's line replaced.
    lines = []
    with open(os.path.join(pyenv, "explicit.txt")) as f:
        for line in f.read().splitlines():
            if line.startswith(pkg["url"]):
                line = file_url(dest) + "#sha256:" + sha
            lines.append(line)
    lock = os.path.join(outdir, "explicit.txt")
    with open(lock, "w") as f:
        f.write("\n".join(lines) + "\n")
    return lock, old_build, new_build


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pyenv")
    ap.add_argument("outdir")
    ap.add_argument("--package", default="blinker")
    ap.add_argument("--change", default="site-packages/blinker/__init__.py")
    ap.add_argument("--remove", default="site-packages/blinker/py.typed")
    a = ap.parse_args()
    lock, _, _ = rebuild(a.pyenv, a.outdir, a.package, a.change, a.remove)
    print(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
