#!/usr/bin/env python3
"""Quirks of real conda archives, installed as conda installs them.

Each package is written member by member (Python's tarfile and the zstd
command, not cph, which would not make them), indexed with condafs index,
materialised with tests/fixtures/extract.py and compared with
tests/fixtures/cph_install.py: Debian's cph extracting the same archive and
conda's install rules.  The quirks:

- .conda members in the "wrong" component, as conda-package-handling wrote
  them in 2019-2020: payload in the info component (a symlink to a
  directory like ncurses' lib/terminfo, *.la files; before and after
  info/paths.json, with text and binary placeholders), info/licenses/ in the
  pkg component, and even info/index.json and info/paths.json in the pkg
  component; a path in both components (conda extracts info, then pkg: pkg's
  wins); an empty metadata.json;
- paths.json entries whose sha256 is null (symlinks);
- hardlinks: within a component, from pkg to a file of the info component,
  to an info/ file and to a member paths.json does not list (conda's
  extraction leaves their content on disk all the same), in a .conda and in
  a .tar.bz2;
- old packages without paths.json: info/files and info/has_prefix read as
  conda reads them (stripped lines, '#' lines skipped, quoted fields, a
  has_prefix line for a path that info/files does not list does nothing);
- a package with no path at all and an empty pkg component
  (_libgcc_mutex);
- a listed path that is in neither component is still refused, and the
  message names both components.

usage: quirks.py CONDAFS     (exits 77 without cph or zstd)
"""
import bz2
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
from testlib import check, run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
PREFIX = "/env"
PH_TEXT = "/opt/anaconda1anaconda2anaconda3"
PH_BIN = "/tmp/build/80754af9/quirks_1600000000000/_h_env_placehold_placehold_placehold"
MTIME = 1600000000


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Member:
    """One tar member: kind is file, symlink, hardlink or dir."""

    def __init__(self, name, kind="file", data=b"", mode=0o644, link=None):
        self.name, self.kind, self.data, self.mode, self.link = name, kind, data, mode, link


def F(name, data, mode=0o644):
    return Member(name, "file", data.encode() if isinstance(data, str) else data, mode)


def L(name, target):
    return Member(name, "symlink", link=target, mode=0o777)


def H(name, target, mode=0o644):
    """A hardlink; real writers give it its target's mode and mtime (one inode)."""
    return Member(name, "hardlink", link=target, mode=mode)


def tar_bytes(members, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in members:
            ti = tarfile.TarInfo(m.name)
            ti.mtime, ti.mode = MTIME, m.mode
            if m.kind == "file":
                ti.size = len(m.data)
                t.addfile(ti, io.BytesIO(m.data))
                continue
            ti.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                       "dir": tarfile.DIRTYPE}[m.kind]
            ti.linkname = m.link or ""
            t.addfile(ti)
    data = buf.getvalue()
    if compress == "zstd":
        r = subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                           check=True)
        return r.stdout
    if compress == "bz2":
        return bz2.compress(data)
    return data


def index_json(name):
    return json.dumps({"name": name, "version": "1.0", "build": "0", "build_number": 0,
                       "depends": [], "subdir": "linux-64", "timestamp": MTIME * 1000})


def paths_json(entries):
    return json.dumps({"paths_version": 1, "paths": entries}, indent=1)


def file_entry(path, data, placeholder=None, mode=None):
    data = data.encode() if isinstance(data, str) else data
    e = {"_path": path, "path_type": "hardlink", "sha256": sha(data), "size_in_bytes": len(data)}
    if placeholder:
        e.update(prefix_placeholder=placeholder, file_mode=mode)
    return e


def link_entry(path, sha256=None, size=0):
    return {"_path": path, "path_type": "softlink", "sha256": sha256, "size_in_bytes": size}


def write_conda(root, dist, info, pkg, metadata=b'{"conda_pkg_format_version": 2}'):
    path = os.path.join(root, dist + ".conda")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", metadata)
        z.writestr(f"info-{dist}.tar.zst", tar_bytes(info, "zstd"))
        z.writestr(f"pkg-{dist}.tar.zst", tar_bytes(pkg, "zstd"))
    return path


def split_package(root):
    """Members in the other component, as real 2019-2020 packages have them."""
    la = f"libdir='{PH_TEXT}/lib'\n"
    blob = b"\x7fELF\x00" + PH_BIN.encode() + b"/share/terminfo\x00tail\x00"
    dup_info, dup_pkg = "dup from info\n", "dup from pkg, which conda keeps\n"
    data, info_data = "plain data\n", "data shipped in the info component\n"
    lic, unlisted = "the license text\n", "a member paths.json does not list\n"
    entries = [
        link_entry("lib/terminfo"),                      # sha256 null, like ncurses
        link_entry("lib/libsplit.so", None, 0),
        file_entry("lib/libsplit.la", la, PH_TEXT, "text"),
        file_entry("lib/libsplit.so.1", blob, PH_BIN, "binary"),
        file_entry("share/split/dup.txt", dup_pkg),
        file_entry("share/split/info-data.txt", info_data),
        file_entry("share/split/info-data-link.txt", info_data),
        file_entry("share/split/data.txt", data),
        file_entry("share/split/data-link.txt", data),
        file_entry("share/doc/split/LICENSE", lic),
        file_entry("share/split/unlisted-link.txt", unlisted),
        file_entry("share/terminfo/x/xterm-split", "terminfo entry\n"),
    ]
    info = [
        L("lib/terminfo", "../share/terminfo"),
        F("lib/libsplit.la", la),                        # before info/paths.json
        F("share/split/dup.txt", dup_info),
        F("info/index.json", index_json("split")),
        F("info/paths.json", paths_json(entries)),
        F("lib/libsplit.so.1", blob, 0o755),             # after info/paths.json
        F("share/split/info-data.txt", info_data),
        L("lib/libsplit.so", "libsplit.so.1"),
    ]
    pkg = [
        F("info/licenses/LICENSE", lic),
        F("share/terminfo/x/xterm-split", "terminfo entry\n"),
        F("share/split/dup.txt", dup_pkg),
        F("share/split/data.txt", data, 0o600),
        H("share/split/data-link.txt", "share/split/data.txt", 0o600),
        H("share/split/info-data-link.txt", "share/split/info-data.txt"),
        H("share/doc/split/LICENSE", "info/licenses/LICENSE"),
        F("share/split/unlisted.txt", unlisted),
        H("share/split/unlisted-link.txt", "share/split/unlisted.txt"),
    ]
    return write_conda(root, "split-1.0-0", info, pkg, metadata=b"")


def meta_in_pkg_package(root):
    """info/index.json and info/paths.json in the pkg component, after payload."""
    tool = f"#!{PH_TEXT}/bin/sh\necho {PH_TEXT}\n"
    entries = [file_entry("bin/metainpkg", tool, PH_TEXT, "text"),
               file_entry("share/metainpkg/a.txt", "a\n")]
    info = [F("info/about.json", "{}")]
    pkg = [F("bin/metainpkg", tool, 0o755), F("info/index.json", index_json("metainpkg")),
           F("info/paths.json", paths_json(entries)), F("share/metainpkg/a.txt", "a\n")]
    return write_conda(root, "metainpkg-1.0-0", info, pkg)


def old_style_package(root):
    """No paths.json: info/files and info/has_prefix as conda reads them; a
    hardlink to an info/ file in a .tar.bz2."""
    conf = f"prefix={PH_TEXT}\n"
    spaced = f"spaced {PH_TEXT}\n"
    members = [
        F("info/index.json", index_json("oldstyle")),
        F("info/files", "# a comment line\n  etc/oldstyle.conf  \r\n\n"
                        "share/oldstyle/with space.txt\r\nshare/oldstyle/COPYING\n"
                        "lib/liboldstyle.so\n"),
        F("info/has_prefix", "# placeholder mode path\n"
                             f"  {PH_TEXT} text etc/oldstyle.conf\n"
                             f"\"{PH_TEXT}\" \"text\" \"share/oldstyle/with space.txt\"\n"
                             f"{PH_TEXT} text share/oldstyle/not-in-files.txt\n"),
        F("info/LICENSE.txt", "old license\n"),
        F("etc/oldstyle.conf", conf),
        F("share/oldstyle/with space.txt", spaced),
        H("share/oldstyle/COPYING", "info/LICENSE.txt"),
        F("share/oldstyle/not-in-files.txt", f"{PH_TEXT}\n"),
        L("lib/liboldstyle.so", "liboldstyle.so.1"),
    ]
    path = os.path.join(root, "oldstyle-1.0-0.tar.bz2")
    with open(path, "wb") as f:
        f.write(tar_bytes(members, "bz2"))
    return path


def missing_package(root):
    entries = [file_entry("share/missing/here.txt", "here\n"),
               file_entry("share/missing/gone.txt", "gone\n")]
    info = [F("info/index.json", index_json("missing")), F("info/paths.json", paths_json(entries))]
    pkg = [F("share/missing/here.txt", "here\n")]
    return write_conda(root, "missing-1.0-0", info, pkg)


def empty_package(root):
    """No path at all and an empty pkg component, like _libgcc_mutex."""
    info = [F("info/index.json", index_json("empty")), F("info/paths.json", paths_json([]))]
    return write_conda(root, "empty-1.0-0", info, [], metadata=b"")


def lock(root, name, archives):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write("# platform: linux-64\n@EXPLICIT\n")
        for a in archives:
            with open(a, "rb") as g:
                f.write(f"file://{a}#sha256:{sha(g.read())}\n")
    return path


def body(root):
    j = lambda *p: os.path.join(root, *p)  # noqa: E731
    os.makedirs(j("ch"))
    pkgs = [empty_package(j("ch")), split_package(j("ch")), meta_in_pkg_package(j("ch")),
            old_style_package(j("ch"))]
    lk = lock(root, "quirks.txt", pkgs)
    r = run(CONDAFS, "index", lk, "-o", j("env.cfs"), "--store", j("store"), "--cache",
            j("cache"), "--prefix", PREFIX, "-q")
    if not check(r.returncode == 0, "condafs index of the quirky packages" + (
            "" if r.returncode == 0 else ": " + r.stderr.strip())):
        return
    r = run(sys.executable, os.path.join(FIX, "extract.py"), CONDAFS, j("env.cfs"), j("actual"))
    check(r.returncode == 0, "extract.py materialises the index" + (
        "" if r.returncode == 0 else ": " + r.stdout + r.stderr))
    r = run(sys.executable, os.path.join(FIX, "cph_install.py"), lk, "--out", j("expected"),
            "--prefix", PREFIX)
    check(r.returncode == 0, "cph_install.py installs cph's extraction" + (
        "" if r.returncode == 0 else ": " + r.stdout + r.stderr))
    r = run(sys.executable, os.path.join(FIX, "compare.py"), j("expected"), j("actual"),
            "--exists-only", "conda-meta", "--ignore-symlink-mtime")
    check(r.returncode == 0, "the index equals conda's install of cph's extraction" + (
        "" if r.returncode == 0 else ":\n" + r.stdout))

    # What the comparison stands on, said outright.
    a = j("actual")
    read = lambda p: open(os.path.join(a, p), "rb").read()  # noqa: E731
    check(os.readlink(os.path.join(a, "lib/terminfo")) == "../share/terminfo",
          "lib/terminfo from the info component is a symlink to ../share/terminfo")
    check(read("lib/libsplit.la") == f"libdir='{PREFIX}/lib'\n".encode(),
          "a text placeholder in the info component, before paths.json, is replaced")
    want = b"\x7fELF\x00" + PREFIX.encode() + b"/share/terminfo" + b"\x00" * (
        len(PH_BIN) - len(PREFIX)) + b"\x00tail\x00"
    check(read("lib/libsplit.so.1") == want,
          "a binary placeholder in the info component is replaced and NUL-padded")
    check(read("share/split/dup.txt") == b"dup from pkg, which conda keeps\n",
          "a path in both components: the pkg component's member wins")
    check(read("share/split/info-data-link.txt") == read("share/split/info-data.txt"),
          "a hardlink in pkg to a file of the info component")
    check(read("share/doc/split/LICENSE") == b"the license text\n"
          and not os.path.exists(os.path.join(a, "info")),
          "a hardlink to info/licenses/LICENSE gets its content; info/ is not installed")
    check(read("share/split/unlisted-link.txt") == b"a member paths.json does not list\n"
          and not os.path.exists(os.path.join(a, "share/split/unlisted.txt")),
          "a hardlink to an unlisted member gets its content; the member is not installed")
    check(read("bin/metainpkg") == f"#!{PREFIX}/bin/sh\necho {PREFIX}\n".encode(),
          "info/index.json and info/paths.json in the pkg component")
    check(read("etc/oldstyle.conf") == f"prefix={PREFIX}\n".encode()
          and read("share/oldstyle/with space.txt") == f"spaced {PREFIX}\n".encode(),
          "old package: padded info/files lines, '#' lines and quoted has_prefix fields")
    check(not os.path.exists(os.path.join(a, "share/oldstyle/not-in-files.txt")),
          "old package: a has_prefix line for a path info/files lacks does nothing")
    check(read("share/oldstyle/COPYING") == b"old license\n",
          "old .tar.bz2: a hardlink to info/LICENSE.txt gets its content")
    check(os.path.isfile(os.path.join(a, "conda-meta/empty-1.0-0.json")),
          "a package without paths and with an empty pkg component")

    # A payload that is really missing is refused, naming both components.
    missing = missing_package(j("ch"))
    r = run(CONDAFS, "index", lock(root, "missing.txt", [missing]), "-o", j("missing.cfs"),
            "--store", j("store"), "--cache", j("cache"), "-q")
    want = ("missing-1.0-0.conda: share/missing/gone.txt: listed in info/ but missing from "
            "pkg-missing-1.0-0.tar.zst and info-missing-1.0-0.tar.zst (payload stripped?)")
    check(r.returncode == 1 and r.stderr.strip() == "condafs: " + want
          and not os.path.exists(j("missing.cfs")),
          f"a missing payload is refused: {r.stderr.strip()}")


def main():
    for tool in ("cph", "zstd"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (tools/deps.sh installs it)")
            return 77
    root = tempfile.mkdtemp(prefix="cfs-quirks-")
    try:
        body(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return summary(need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
