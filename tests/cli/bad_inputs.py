#!/usr/bin/env python3
"""condafs index on bad input: each case must fail with one clear line that
names the file, package or path, exit non-zero, leave no index (nor its
temporary file) behind, and leave a store that holds only complete, verified
objects.

The negative corpus: static lock files in tests/data/bad-index/, and broken
packages generated here from good ones (corrupted, truncated, members
missing, hostile paths...), archived with Debian's cph.

usage: bad_inputs.py CONDAFS
"""
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

CONDAFS = os.path.abspath(sys.argv[1])
DATA = os.path.join(HERE, "..", "data", "bad-index")
failures = []
passed = 0


def sha256(path):
    return fl.file_hashes(path)[0]


def make_pkg(root, name, files=None, paths_edit=None, index_edit=None, ext=".conda",
             placeholders=None, raw_info=None):
    """Builds name-1.0-0<ext> from `files` {rel: bytes}; returns its path."""
    staging = os.path.join(root, "staging", name + ext)
    shutil.rmtree(staging, ignore_errors=True)
    for rel, data in (files or {"share/" + name + "/data.txt": b"hello\n"}).items():
        fl.write_file(staging, rel, data, mtime=1700000000)
    index = {"name": name, "version": "1.0", "build": "0", "build_number": 0,
             "depends": [], "subdir": "linux-64", "timestamp": 1700000000000}
    if index_edit:
        index_edit(index)
    fl.write_info(staging, index, placeholders=placeholders, mtime=1700000000)
    if paths_edit:
        p = os.path.join(staging, "info", "paths.json")
        with open(p) as f:
            pj = json.load(f)
        paths_edit(pj)
        with open(p, "w") as f:
            json.dump(pj, f)
    for rel, data in (raw_info or {}).items():
        with open(os.path.join(staging, "info", rel), "wb") as f:
            f.write(data)
    out = os.path.join(root, "channel", "linux-64", f"{name}-1.0-0{ext}")
    return fl.cph_create(staging, out)


def explicit(root, urls, name="lock.txt"):
    path = os.path.join(root, name)
    with open(path, "w") as f:
        f.write("# platform: linux-64\n@EXPLICIT\n")
        for u in urls:
            f.write(u + "\n")
    return path


def line_for(pkg, digest=None):
    return "file://" + pkg + "#sha256:" + (digest or sha256(pkg))


def verify_store(store):
    """Every object decompresses to content whose sha256 is its name."""
    objs = os.path.join(store, "objects")
    if not os.path.isdir(objs):
        return []
    bad = []
    for dp, _, fns in os.walk(objs):
        for fn in fns:
            p = os.path.join(dp, fn)
            if fn.startswith("."):
                bad.append(p + ": temporary file left in objects/")
                continue
            r = subprocess.run(["zstd", "-dc", p], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            if r.returncode != 0 or hashlib.sha256(r.stdout).hexdigest() + ".zst" != fn:
                bad.append(p + ": not a complete, verified object")
    return bad


def case(name, lock, expect, extra=(), expect_rc_nonzero=True, env=None):
    """Runs condafs index and checks the failure contract."""
    global passed
    work = tempfile.mkdtemp(prefix="cfs-bad-")
    out = os.path.join(work, "env.cfs")
    store = os.path.join(work, "store")
    cmd = [CONDAFS, "index", lock, "-o", out, "--store", store,
           "--cache", os.path.join(work, "cache"), "-j", "2"] + list(extra)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=300, env=dict(os.environ, **env) if env else None)
    errs = []
    lines = [l for l in r.stderr.splitlines() if l.startswith("condafs: ") and
             "warning:" not in l]
    if expect_rc_nonzero:
        if r.returncode == 0:
            errs.append("exit status 0")
        if len(lines) != 1:
            errs.append(f"expected one error line, got {len(lines)}: {r.stderr!r}")
        for e in expect if isinstance(expect, (list, tuple)) else [expect]:
            if e not in r.stderr:
                errs.append(f"message lacks {e!r}: {r.stderr.strip()!r}")
        left = [f for f in os.listdir(work) if f.startswith("env.cfs") or
                f.startswith(".env.cfs")]
        if left:
            errs.append(f"left behind: {left}")
    elif r.returncode != 0:
        errs.append(f"expected success, got {r.returncode}: {r.stderr.strip()}")
    errs += verify_store(store)
    if os.path.isdir(os.path.join(work, "cache", "pkgs")):
        for fn in os.listdir(os.path.join(work, "cache", "pkgs")):
            if fn.startswith("."):
                errs.append(f"cache holds temporary file {fn}")
    if errs:
        failures.append(name)
        print(f"FAIL {name}:\n  " + "\n  ".join(errs))
    else:
        passed += 1
        print(f"ok   {name}: {lines[0] if lines else 'succeeded'}")
    shutil.rmtree(work, ignore_errors=True)


def main():
    root = tempfile.mkdtemp(prefix="cfs-badpkgs-")
    try:
        run(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


def run(root):
    good = make_pkg(root, "good")
    good_bz2 = make_pkg(root, "goodold", ext=".tar.bz2")

    # Lock files (static corpus).
    for fn, expect in [
        ("malformed.yml", ["malformed.yml:", "invalid YAML"]),
        ("version2.yml", ["version2.yml", "conda-lock.yml version 2 is not supported"]),
        ("pixi-v8.lock", ["pixi-v8.lock:1", "pixi.lock version 8 is not supported (condafs reads 4 to 7)"]),
        ("bad-line.txt", ["bad-line.txt:4"]),
        ("before-explicit.txt", ["before-explicit.txt:2"]),
        ("bad-fragment.txt", ["bad-fragment.txt:3"]),
    ]:
        case("lock " + fn, os.path.join(DATA, fn), expect)
    case("missing lock file", os.path.join(root, "nope.yml"), ["nope.yml"])

    # Hashes.
    case("missing hash", explicit(root, ["file://" + good], "nohash.txt"),
         ["good-1.0-0.conda", "no sha256 or md5"])
    case("missing hash allowed", explicit(root, ["file://" + good], "nohash2.txt"), None,
         extra=["--allow-unverified"], expect_rc_nonzero=False)
    case("hash mismatch", explicit(root, [line_for(good, "0" * 64)], "mismatch.txt"),
         ["good-1.0-0.conda", "mismatch"])
    case("md5 mismatch", explicit(root, ["file://" + good + "#" + "0" * 32], "md5.txt"),
         ["good-1.0-0.conda", "mismatch"])

    # Fetching.
    case("unreachable URL", explicit(root, [
        "http://127.0.0.1:9/linux-64/good-1.0-0.conda#sha256:" + sha256(good)], "unreach.txt"),
        ["good-1.0-0.conda", "127.0.0.1:9"])
    # libcurl is loaded only for URLs that need it: a libcurl.so.4 that
    # cannot be loaded fails an http:// package, named, and not a file:// one.
    broken = os.path.join(root, "broken-libcurl")
    os.makedirs(broken)
    with open(os.path.join(broken, "libcurl.so.4"), "w") as f:
        f.write("not a shared library\n")
    no_curl = {"LD_LIBRARY_PATH": broken}
    case("libcurl cannot be loaded", explicit(root, [
        "http://127.0.0.1:9/linux-64/good-1.0-0.conda#sha256:" + sha256(good)], "nocurl.txt"),
        ["good-1.0-0.conda", "libcurl.so.4: cannot load it"], env=no_curl)
    case("local packages need no libcurl", explicit(root, [line_for(good)], "nocurl2.txt"),
         None, expect_rc_nonzero=False, env=no_curl)
    case("missing local file", explicit(root, [
        "file://" + root + "/gone/good-1.0-0.conda#sha256:" + "1" * 64], "gone.txt"),
        ["good-1.0-0.conda"])

    # Broken archives.
    with open(good, "rb") as f:
        data = f.read()
    trunc = os.path.join(root, "t", "good-1.0-0.conda")
    os.makedirs(os.path.dirname(trunc))
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2])
    case("truncated .conda", explicit(root, [line_for(trunc)], "trunc.txt"),
         ["good-1.0-0.conda"])
    with open(good_bz2, "rb") as f:
        data = f.read()
    truncb = os.path.join(root, "t", "goodold-1.0-0.tar.bz2")
    with open(truncb, "wb") as f:
        f.write(data[: len(data) * 2 // 3])
    case("truncated .tar.bz2", explicit(root, [line_for(truncb)], "truncb.txt"),
         ["goodold-1.0-0.tar.bz2", "archive"])
    garbage = os.path.join(root, "g", "junk-1.0-0.conda")
    os.makedirs(os.path.dirname(garbage))
    with open(garbage, "wb") as f:
        f.write(os.urandom(4096))
    case("not an archive", explicit(root, [line_for(garbage)], "junk.txt"),
         ["junk-1.0-0.conda"])
    nomembers = os.path.join(root, "g", "empty-1.0-0.conda")
    with zipfile.ZipFile(nomembers, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", '{"conda_pkg_format_version": 2}')
    case(".conda without members", explicit(root, [line_for(nomembers)], "nomem.txt"),
         ["empty-1.0-0.conda", "info-*.tar.zst"])
    nopkg = os.path.join(root, "g", "good-1.0-0.conda")
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(nopkg, "w", zipfile.ZIP_STORED) as z:
        for n in zin.namelist():
            if not n.startswith("pkg-"):
                z.writestr(n, zin.read(n))
    case(".conda without pkg member", explicit(root, [line_for(nopkg)], "nopkg.txt"),
         ["good-1.0-0.conda", "pkg-*.tar.zst"])

    # info/ metadata.
    bad_json = make_pkg(root, "badjson", raw_info={"index.json": b'{"name": "badjson",'})
    case("invalid index.json", explicit(root, [line_for(bad_json)], "bj.txt"),
         ["badjson-1.0-0.conda", "info/index.json", "invalid JSON"])
    bad_paths = make_pkg(root, "badpaths", raw_info={"paths.json": b'{"paths": [}'})
    case("invalid paths.json", explicit(root, [line_for(bad_paths)], "bp.txt"),
         ["badpaths-1.0-0.conda", "info/paths.json", "invalid JSON"])

    def absolute(pj):
        pj["paths"][0]["_path"] = "/etc/passwd"
    abs_pkg = make_pkg(root, "abspath", paths_edit=absolute)
    case("absolute _path", explicit(root, [line_for(abs_pkg)], "abs.txt"),
         ["abspath-1.0-0.conda", "/etc/passwd", "absolute or escapes"])

    def escape(pj):
        pj["paths"][0]["_path"] = "share/../../../etc/passwd"
    esc_pkg = make_pkg(root, "escape", paths_edit=escape)
    case("_path escaping with ..", explicit(root, [line_for(esc_pkg)], "esc.txt"),
         ["escape-1.0-0.conda", "../", "absolute or escapes"])

    def absurd(pj):
        pj["paths"][0]["size_in_bytes"] = 1 << 60
    big = make_pkg(root, "absurd", paths_edit=absurd)
    case("absurd size", explicit(root, [line_for(big)], "absurd.txt"),
         ["absurd-1.0-0.conda", "absurd"])

    def wrong_sha(pj):
        pj["paths"][0]["sha256"] = "ab" * 32
    ws = make_pkg(root, "wrongsha", paths_edit=wrong_sha)
    case("paths.json sha256 mismatch", explicit(root, [line_for(ws)], "ws.txt"),
         ["wrongsha-1.0-0.conda", "share/wrongsha/data.txt", "does not match"])

    short = make_pkg(root, "shortph", files={"lib/libx.so": b"\x7fELF\x00/short/lib\x00x\x00"},
                     placeholders={"lib/libx.so": ("/short", "binary")})
    case("placeholder shorter than prefix", explicit(root, [line_for(short)], "short.txt"),
         ["shortph-1.0-0.conda", "lib/libx.so", "longer than the binary placeholder"],
         extra=["--prefix", "/opt/a/much/longer/prefix"])

    noarch = make_pkg(root, "needspy", index_edit=lambda i: i.update(noarch="python"),
                      files={"site-packages/needspy/__init__.py": b""})
    case("noarch python without python", explicit(root, [line_for(noarch)], "np.txt"),
         ["needspy-1.0-0.conda", "python"])

    case("bad prefix", explicit(root, [line_for(good)], "pfx.txt"), ["prefix", "relative"],
         extra=["--prefix", "relative"])
    case("pip source distribution", os.path.join(DATA, "sdist.yml"),
         ["sdist.yml:8", "requests", "a source distribution", "--skip-unbuildable"])

    # Command-line errors name the option, in one line, with exit status 2.
    global passed
    for argv, want in [
        (["index", "--bogus", "lock.txt"], "unknown option '--bogus'"),
        (["index", "lock.txt", "--store"], "option '--store' needs a value"),
        (["index", "-Z", "lock.txt"], "unknown option '-Z'"),
        (["index", "lock.txt", "-j"], "option '-j' needs a value"),
        (["ls", "--json=yes", "env.cfs"], "option '--json' takes no value"),
        (["mount", "--no-such", "env.cfs", "/env"], "unknown option '--no-such'"),
        (["run", "--nope", "env.cfs", "--", "true"], "unknown option '--nope'"),
        (["workset", "--keep"], "option '--keep' needs a value"),
        (["export", "--format"], "option '--format' needs a value"),
    ]:
        r = subprocess.run([CONDAFS, *argv], capture_output=True, text=True, timeout=60)
        lines = r.stderr.splitlines()
        name = "command line: condafs " + " ".join(argv)
        want_line = f"condafs {argv[0]}: {want} (see 'condafs {argv[0]} --help')"
        if r.returncode == 2 and lines == [want_line] and not r.stdout:
            passed += 1
            print(f"ok   {name}: {lines[0]}")
        else:
            failures.append(name)
            print(f"FAIL {name}: exit {r.returncode}, stderr {r.stderr!r}, want {want_line!r}")


if __name__ == "__main__":
    sys.exit(main())
