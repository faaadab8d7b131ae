#!/usr/bin/env python3
"""condafs workset and condafs export end to end, on the realistic environment
(this machine's Python as conda packages):

- traces of two workloads, recorded by `condafs run --trace`
  become a working set; its export (dir and tar) runs both workloads in a
  minimal root with the same output as the whole environment, from a small
  fraction of its bytes;
- the tar follows the rules (sorted, explicit parents, uid/gid 0, modes,
  mtimes, symlinks) and every format is byte-for-byte reproducible;
- the OCI layout passes skopeo and umoci, and podman runs it with a libc base
  layer (each tool is optional: its check is skipped with a message);
- a working set made on one lock applies to the index of a changed lock;
- bad input gets one clear line and leaves nothing behind.

usage: export_check.py CONDAFS
"""
import glob
import gzip
import json
import os
import re
import shutil
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from export_relock import rebuild  # noqa: E402
from export_trace import bwrap  # noqa: E402
from testlib import check, run, skip, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
W1 = ["/env/bin/python3", "-c",
      "import json, sqlite3; print(json.dumps({'json': json.__name__, "
      "'sqlite': sqlite3.sqlite_version_info >= (3, 0, 0)}))"]
W2 = ["/env/bin/flask", "--version"]
IMAGE = "localhost/condafs/export-check:latest"
IMAGE_EP = "localhost/condafs/export-check:entrypoint"


def condafs(*args, **kw):
    return run(CONDAFS, *[str(a) for a in args], **kw)


def untar(path, dest):
    os.makedirs(dest)
    r = run("tar", "-C", dest, "-xf", path)
    assert r.returncode == 0, r.stderr
    return dest


def in_root(envdir, cmd, *extra):
    return run(*bwrap(envdir, "/env", extra), *cmd)


def compare(a, b, *opts):
    r = run(sys.executable, os.path.join(FIX, "compare.py"), a, b, *opts)
    return r.returncode == 0, r.stdout.strip()


def main():
    for tool in ("bwrap", "tar", "cph"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} is not installed (tools/deps.sh installs it)")
            return 77
    work = tempfile.mkdtemp(prefix="cfs-export-")
    try:
        return body(work)
    finally:
        if shutil.which("podman"):
            run("podman", "rmi", "-f", IMAGE, IMAGE_EP)
        shutil.rmtree(work, ignore_errors=True)


def body(work):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    r = run(sys.executable, os.path.join(FIX, "mkpyenv.py"), j("pyenv"))
    assert r.returncode == 0, r.stdout + r.stderr
    cfs = j("env.cfs")
    r = condafs("index", j("pyenv", "explicit.txt"), "-o", cfs, "--store", j("store"),
                "--cache", j("cache"), "-q")
    assert r.returncode == 0, r.stderr
    info = json.loads(condafs("info", cfs, "--json").stdout)
    nodes = {n["path"]: n for n in map(json.loads, condafs("ls", cfs, "-R", "--json")
                                       .stdout.splitlines())}

    # The whole environment: --all equals the reference extraction.
    r = condafs("export", cfs, "--all", "-o", j("full"), "--format", "dir")
    check(r.returncode == 0, f"export --all --format dir: {r.stdout.strip()}{r.stderr.strip()}")
    r = run(sys.executable, os.path.join(FIX, "extract.py"), CONDAFS, cfs, j("ref"))
    assert r.returncode == 0, r.stderr
    same, diff = compare(j("ref"), j("full", "env"), "--dir-mtime")
    check(same, "export --all --format dir equals the reference extraction" + (
        "" if same else ":\n" + diff[:2000]))
    full = j("full", "env")

    # Traces of two workloads, and the output they give from the whole environment.
    traces, want = [], []
    for i, cmd in enumerate((W1, W2), 1):
        t = j(f"w{i}.trace")
        # Profiled by the daemon itself: condafs run mounts the index at
        # /env in a private namespace and appends each first access to t.
        r = condafs("run", cfs, "--cache", j("runcache"), "--trace", t, "--", *cmd)
        check(r.returncode == 0 and r.stdout, f"workload {i} runs traced: {r.stdout.strip()}"
              + r.stderr.strip()[-300:])
        traces.append(t)
        want.append(in_root(full, cmd).stdout)
    ws = j("app.ws")
    r = condafs("workset", *traces, "-o", ws, "--index", cfs, "--json")
    ok = check(r.returncode == 0, "condafs workset T1 T2 -o WS" + ("" if r.returncode == 0
                                                                     else ": " + r.stderr))
    if not ok:
        return finish()
    cov = json.loads(r.stdout)
    check_workset(ws, cov, nodes, info)
    r = condafs("workset", traces[0], "-o", j("w1.ws"))
    check(r.returncode == 0 and "PACKAGE" in r.stdout and "total" in r.stdout,
          "workset without --index uses the index the trace names, prints a coverage table")
    table = [l for l in r.stdout.splitlines() if l.startswith(("python ", "total "))]
    check(len(table) == 2 and len({l.rindex("%") for l in table}) == 1,
          f"coverage columns line up: {table}")

    check_export(work, cfs, ws, full, want, nodes, info)
    check_cache_source(work, cfs, ws)
    check_stdout(work, cfs, ws)
    check_reproducible(work, cfs, ws)
    check_oci(work, cfs, ws, full)
    check_relock(work, cfs, traces, full, want)
    check_bad_input(work, cfs, ws, traces[0])
    return finish()


def finish():
    return summary(show_skipped=True)


def check_workset(ws, cov, nodes, info):
    with open(ws) as f:
        doc = json.load(f)
    ents = {e["path"]: e for e in doc["entries"]}
    t = cov["total"]
    frac = t["ws_bytes"] / t["env_bytes"]
    print(f"     working set: {t['ws_files']} of {t['env_files']} files and symlinks, "
          f"{t['ws_bytes']} of {t['env_bytes']} bytes ({100 * frac:.1f}%)")
    check(doc["prefix"] == "/env" and cov["entries"] == len(ents) and 0 < frac < 0.5,
          f"working set covers a fraction of the environment ({100 * frac:.1f}% of the bytes)")
    need = ["bin/python3", "bin/python3.11", "lib/libpython3.11.so.1.0", "lib/python3.11/os.py",
            "lib/python3.11/json/__init__.py", "lib/python3.11/json/__pycache__",
            "lib/python3.11/site-packages/flask/__init__.py", "bin/flask", "lib"]
    missing = [p for p in need if p not in ents]
    check(not missing, f"traced paths, symlink targets, .py next to .pyc are in it {missing}")
    check(ents.get("bin/python3", {}).get("type") == "symlink",
          "the traced symlink bin/python3 is a symlink entry, its target a file entry")
    orphans = [p for p in ents if "/" in p and p.rsplit("/", 1)[0] not in ents]
    check(not orphans, f"every entry's parent directory is an entry {orphans[:3]}")
    py = next(p for p in info["package_list"] if p["name"] == "python")
    pk = ents["lib/python3.11/os.py"]["package"]
    check(pk == {"name": "python", "version": py["version"], "build": py["build"],
                 "sha256": py["sha256"]}, f"entries carry their package: {pk}")
    wrong = [p for p, e in ents.items() if p in nodes and e["type"] != nodes[p]["type"]]
    check(not wrong, f"entry types match the index {wrong[:3]}")
    per = {p["name"]: p for p in cov["packages"]}
    check(per["python"]["ws_bytes"] < per["python"]["env_bytes"] and
          per["pygments"]["ws_files"] == 0 and
          sum(p["ws_bytes"] for p in cov["packages"]) == t["ws_bytes"],
          "coverage per package adds up (pygments unused)")


def tar_members(path):
    with tarfile.open(path) as t:
        return t.getmembers()


def check_export(work, cfs, ws, full, want, nodes, info):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    r = condafs("export", cfs, "--workset", ws, "-o", j("app.tar"))
    check(r.returncode == 0, f"export tar (format from the name): {r.stdout.strip()}"
          f"{r.stderr.strip()}")
    r = condafs("export", cfs, "-w", ws, "-o", j("appdir"), "--format", "dir", "-q")
    check(r.returncode == 0 and not r.stdout, f"export dir, quietly {r.stderr.strip()}")
    ext = untar(j("app.tar"), j("app-x"))
    same, diff = compare(j("appdir"), ext)
    check(same, "the tar extracts to the same tree as the dir export" + ("" if same else
                                                                         ": " + diff[:800]))
    same, diff = compare(j("ref"), j("appdir", "env"), "--dir-mtime")
    extra = [l for l in diff.splitlines() if not l.startswith("MISSING")]
    check(not extra, "exported paths are identical to the environment's " + str(extra[:3]))
    env = j("app-x", "env")
    for i, (cmd, w) in enumerate(zip((W1, W2), want), 1):
        r = in_root(env, cmd)
        check(r.returncode == 0 and r.stdout == w,
              f"workload {i} runs from the extracted tar with the same output: {r.stdout.strip()!r}"
              + ("" if r.returncode == 0 else " " + r.stderr.strip()[-400:]))
    r = in_root(env, ["/env/bin/python3", "-v", "-c", "import json"])
    check(r.returncode == 0 and "code object from '/env/lib/python3.11/json/__pycache__" in
          r.stderr and "is stale" not in r.stderr,
          "Python uses the exported .pyc files (mtimes kept in seconds)")
    r = in_root(env, ["/env/bin/python3", "-c", "import pygments"])
    check(r.returncode != 0, "a module the workloads never imported is not exported")

    members = tar_members(j("app.tar"))
    names = [m.name for m in members]
    size = sum(m.size for m in members if m.isfile())
    frac = size / info["bytes"]
    print(f"     layer: {len(members)} members, {size} of {info['bytes']} bytes of the "
          f"environment ({100 * frac:.1f}%), tar {os.path.getsize(j('app.tar'))} bytes")
    check(frac < 0.5, f"the layer holds {100 * frac:.1f}% of the environment's bytes (< 50%)")
    check(names == sorted(names) and names[0] == "env" and all(
        n == "env" or n.startswith("env/") for n in names), "members sorted, under env/")
    seen, bad = set(), []
    for n in names:
        if n != "env" and n.rsplit("/", 1)[0] not in seen:
            bad.append(n)
        seen.add(n)
    check(not bad, f"every member's parent directory comes before it {bad[:3]}")
    check(all(m.uid == 0 and m.gid == 0 and m.uname in ("", "root") and m.gname in ("", "root")
              for m in members), "uid/gid 0, no user names")
    wrong = []
    for m in members:
        n = nodes.get(m.name[4:]) if m.name != "env" else None
        if not n:
            continue
        t = {"file": m.isfile(), "dir": m.isdir(), "symlink": m.issym()}[n["type"]]
        if not t or (n["type"] != "symlink" and m.mode != n["mode"]) or \
                m.mtime != n["mtime"] or (m.issym() and m.linkname != n["target"]) or \
                (m.isfile() and m.size != n["size"]):
            wrong.append(m.name)
    check(not wrong, f"types, modes, mtimes (seconds), sizes and symlink targets from the index "
          f"{wrong[:3]}")

    r = condafs("export", cfs, "-w", ws, "-o", j("meta.tar"), "--with-conda-meta")
    meta = [m.name for m in tar_members(j("meta.tar")) if m.name.startswith("env/conda-meta/")]
    py = next(p for p in info["package_list"] if p["name"] == "python")
    check(r.returncode == 0 and f"env/conda-meta/python-{py['version']}-{py['build']}.json" in meta
          and "env/conda-meta/history" in meta and not any("pygments" in m for m in meta),
          f"--with-conda-meta adds the records of exported packages and history ({len(meta)})")
    r = condafs("export", cfs, "-w", ws, "-w", j("w1.ws"), "-o", j("union.tar"))
    check(r.returncode == 0 and open(j("union.tar"), "rb").read() ==
          open(j("app.tar"), "rb").read(), "several --workset: their union")


def check_cache_source(work, cfs, ws):
    """The profiling runs' cache holds verified, decompressed files: export
    copies those instead of decoding, with the same bytes; it trusts their
    names as a mount does (a file of the wrong size is decoded from the
    store instead), and --verify hashes them too."""
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    r = condafs("export", cfs, "-w", ws, "-o", j("c.tar"), "--cache", j("runcache"))
    m = re.search(r"(\d+) of (\d+) files from the cache", r.stdout)
    check(r.returncode == 0 and m and 0 < int(m[1]) <= int(m[2]),
          f"export reads the profiling runs' cache: {r.stdout.strip()} {r.stderr.strip()}")
    r = condafs("export", cfs, "-w", ws, "-o", j("s.tar"), "--no-cache")
    check(r.returncode == 0 and "from the cache" not in r.stdout and
          open(j("c.tar"), "rb").read() == open(j("s.tar"), "rb").read(),
          "the same bytes from the cache and from the store (--no-cache)")
    n_cached = int(m[1]) if m else 0
    cached = sorted(glob.glob(j("runcache", "objects", "*", "*")), key=os.path.getsize)
    victim = cached[-1]
    with open(victim, "ab") as f:
        f.write(b"\n")
    try:
        r = condafs("export", cfs, "-w", ws, "-o", j("long.tar"), "--cache", j("runcache"))
        m = re.search(r"(\d+) of (\d+) files from the cache", r.stdout)
        check(r.returncode == 0 and m and int(m[1]) == n_cached - 1 and
              open(j("long.tar"), "rb").read() == open(j("s.tar"), "rb").read(),
              f"a cached file of the wrong size is decoded from the store: {r.stdout.strip()}")
    finally:
        os.truncate(victim, os.path.getsize(victim) - 1)
    with open(victim, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 0xff]))
    try:
        r = condafs("export", cfs, "-w", ws, "-o", j("bad.tar"), "--cache", j("runcache"),
                    "--verify")
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and victim in lines[0] and
              "corrupt cached file" in lines[0] and no_leftovers(j("bad.tar")),
              f"--verify: a corrupt cached file fails the export, named: {r.stderr.strip()}")
        r = condafs("export", cfs, "-w", ws, "-o", j("bad.tar"), "--no-cache", "--verify")
        check(r.returncode == 0 and open(j("bad.tar"), "rb").read() ==
              open(j("s.tar"), "rb").read(), "--no-cache never reads the cache")
    finally:
        with open(victim, "r+b") as f:
            f.write(first)


def check_stdout(work, cfs, ws):
    """-o - streams a tar format to standard output (the summary goes to
    standard error); directory formats and terminals are refused."""
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    ref = open(j("c.tar"), "rb").read()
    r = condafs("export", cfs, "-w", ws, "-o", "-", "--cache", j("runcache"), text=False)
    check(r.returncode == 0 and r.stdout == ref and b"standard output:" in r.stderr and
          not os.path.exists("-") and not os.path.exists(j("-")),
          f"-o -: the same tar on standard output, the summary on standard error "
          f"({len(r.stdout)} bytes)")
    r = condafs("export", cfs, "-w", ws, "-o", "-", "--format", "tar.gz", "-q", text=False)
    check(r.returncode == 0 and gzip.decompress(r.stdout) == ref and not r.stderr,
          "-o - --format tar.gz: a gzip of the same tar, nothing else printed")
    r = condafs("export", cfs, "-w", ws, "-o", "-", "--format", "oci")
    check(r.returncode == 2 and "for tar formats" in r.stderr and not r.stdout,
          f"-o - refuses oci: {r.stderr.strip()}")
    r = run("script", "-qec", f"'{CONDAFS}' export '{cfs}' -w '{ws}' -o -", "/dev/null")
    check(r.returncode != 0 and "standard output is a terminal" in r.stdout,
          f"-o - refuses a terminal: {r.stdout.strip()}")


def check_reproducible(work, cfs, ws):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    for fmt in ("tar", "tar.gz", "tar.zst"):
        outs = []
        for k in (1, 2):
            out = j(f"rep{k}.{fmt}")
            r = condafs("export", cfs, "-w", ws, "-o", out, "-q")
            with open(out, "rb") as f:
                outs.append(f.read() if r.returncode == 0 else None)
        check(outs[0] and outs[0] == outs[1], f"{fmt}: two exports are byte-identical")
    with open(j("rep1.tar.gz"), "rb") as f:
        head = f.read(10)
    check(head[3] & 0x08 == 0 and head[4:8] == b"\0\0\0\0",
          "gzip header has no file name and no mtime")
    with gzip.open(j("rep1.tar.gz")) as g, open(j("rep1.tar"), "rb") as t:
        check(g.read() == t.read(), "tar.gz holds the same tar")
    dirs = []
    for k in (1, 2):
        out = j(f"oci{k}")
        r = condafs("export", cfs, "-w", ws, "-o", out, "--format", "oci",
                    "--entrypoint", "/env/bin/python3,-c,print(1)")
        dirs.append(out)
        check(r.returncode == 0, f"oci export {k}: {r.stdout.strip()} {r.stderr.strip()}")
    same, diff = compare(dirs[0], dirs[1], "--ignore-mtime")
    files = sorted(os.path.relpath(p, dirs[0]) for p in glob.glob(dirs[0] + "/**", recursive=True)
                   if os.path.isfile(p))
    check(same and "index.json" in files and "manifest.json" in files and "oci-layout" in files
          and len([f for f in files if f.startswith("blobs/sha256/")]) == 3,
          f"oci: two exports are identical: index, manifest, config, layer {diff[:300]}")
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    r = condafs("export", cfs, "-w", ws, "-o", j("oci-sde"), "--format", "oci",
                "--entrypoint", "/env/bin/python3,-c,print(1)", env=env)
    cfg = oci_config(j("oci-sde"))
    check(r.returncode == 0 and cfg["created"] == "2023-11-14T22:13:20Z" and
          oci_manifest(j("oci-sde"))["layers"] == oci_manifest(dirs[0])["layers"],
          "SOURCE_DATE_EPOCH sets created, and only that changes")


def oci_manifest(d):
    with open(os.path.join(d, "index.json")) as f:
        digest = json.load(f)["manifests"][0]["digest"]
    with open(os.path.join(d, "blobs", "sha256", digest[7:])) as f:
        return json.load(f)


def oci_config(d):
    digest = oci_manifest(d)["config"]["digest"]
    with open(os.path.join(d, "blobs", "sha256", digest[7:])) as f:
        return json.load(f)


def make_base(work, full):
    """A gzip tar of the host libraries the env's python3 needs (ldd in the root)."""
    r = in_root(full, ["/usr/bin/ldd", "/env/bin/python3.11"])
    libs = []
    for line in r.stdout.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/") and not path.startswith("/env/"):
            libs.append(path)
    base = os.path.join(work, "base.tar.gz")
    with tarfile.open(base, "w:gz", format=tarfile.PAX_FORMAT) as t:
        made = set()

        def add_dir(name):
            if name in made or not name:
                return
            add_dir(os.path.dirname(name))
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            t.addfile(ti)
            made.add(name)
        for d in ("usr/lib", "usr/lib64", "tmp"):
            add_dir(d)
        for name, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            t.addfile(ti)
        for p in libs:
            name = p[1:] if p.startswith("/usr/") else "usr" + p
            add_dir(os.path.dirname(name))
            ti = t.gettarinfo(os.path.realpath(p), arcname=name)
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            with open(os.path.realpath(p), "rb") as f:
                t.addfile(ti, f)
    return base, libs


def check_oci(work, cfs, ws, full):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    out = j("oci1")
    idx = json.load(open(os.path.join(out, "index.json")))
    mf = json.load(open(os.path.join(out, "manifest.json")))
    m = oci_manifest(out)
    cfg = oci_config(out)
    check(idx["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "latest"
          and mf[0]["RepoTags"] == ["condafs/env:latest"] and
          mf[0]["Layers"] == ["blobs/sha256/" + l["digest"][7:] for l in m["layers"]] and
          m["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip",
          "index.json names the tag, manifest.json (docker-archive) lists config and layers")
    check(cfg["architecture"] in ("amd64", "arm64") and cfg["os"] == "linux" and
          cfg["config"]["Env"][0].startswith("PATH=/env/bin:/usr/local/sbin:") and
          cfg["config"]["Entrypoint"] == ["/env/bin/python3", "-c", "print(1)"] and
          len(cfg["rootfs"]["diff_ids"]) == 1 and len(cfg["history"]) == 1,
          f"image config: {cfg['architecture']}/{cfg['os']}, Env, Entrypoint, diff_ids, history")
    layer = os.path.join(out, "blobs", "sha256", m["layers"][0]["digest"][7:])
    with gzip.open(layer) as g, open(j("app.tar"), "rb") as t:
        check(g.read() == t.read(), "the layer is the tar export, gzip-compressed")
    r = condafs("export", cfs, "-w", ws, "-o", j("oci-zst"), "--format", "oci",
                "--compression", "zstd", "--name", "localhost/condafs/app:v1")
    mz = oci_manifest(j("oci-zst"))
    idz = json.load(open(j("oci-zst", "index.json")))
    check(r.returncode == 0 and mz["layers"][0]["mediaType"].endswith("+zstd") and
          idz["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1" and
          oci_config(j("oci-zst"))["rootfs"] == cfg["rootfs"],
          "--compression zstd: zstd layer, same diff_id; --name sets the tag")

    if shutil.which("skopeo"):
        for d, tag in ((out, "latest"), (j("oci-zst"), "v1")):
            r = run("skopeo", "inspect", f"oci:{d}:{tag}")
            check(r.returncode == 0 and json.loads(r.stdout or "{}").get("Os") == "linux",
                  f"skopeo inspect oci:{os.path.basename(d)}:{tag} {r.stderr.strip()[-300:]}")
    else:
        skip("skopeo is not installed: apt-get install skopeo")
    if shutil.which("umoci"):
        r = run("umoci", "unpack", "--image", f"{out}:latest", j("bundle"))
        same, diff = compare(j("appdir", "env"), j("bundle", "rootfs", "env"))
        check(r.returncode == 0 and same, f"umoci unpack yields the files {r.stderr[-300:]}"
              f"{diff[:300]}")
    else:
        skip("umoci is not installed: apt-get install umoci")
    if not shutil.which("podman") or not shutil.which("runc"):
        skip("podman or runc is not installed: apt-get install podman runc")
        return
    base, libs = make_base(work, full)
    for ref, ep in ((IMAGE, None), (IMAGE_EP, "/env/bin/python3,-c")):
        out = j("img-" + ref.rsplit(":", 1)[1])
        r = condafs("export", cfs, "-w", ws, "-o", out, "--format", "oci", "--base", base,
                    "--name", ref, *(["--entrypoint", ep] if ep else []))
        cfg = oci_config(out) if r.returncode == 0 else {}
        check(r.returncode == 0 and len(cfg["rootfs"]["diff_ids"]) == 2,
              f"--base adds a lower layer ({len(libs)} libraries) {r.stderr.strip()}")
        run("tar", "-C", out, "-cf", out + ".tar", ".")
        run("podman", "rmi", "-f", ref)
        r = run("podman", "load", "-i", out + ".tar")
        if not check(r.returncode == 0 and ref in r.stdout + r.stderr,
                     f"podman load -i {os.path.basename(out)}.tar names {ref} "
                     f"{r.stderr.strip()[-300:]}"):
            return
    r = run("podman", "--runtime", "runc", "run", "--rm", "--network=none", "--ulimit",
            "nofile=1024:1024", "--ulimit", "nproc=4096:4096", IMAGE, "/env/bin/python3",
            "-c", "import json; print(1)")
    check(r.returncode == 0 and r.stdout.strip() == "1",
          f"podman runs python3 in the image: {r.stdout.strip()!r} {r.stderr.strip()[-400:]}")
    r = run("podman", "--runtime", "runc", "run", "--rm", "--network=none", "--ulimit",
            "nofile=1024:1024", "--ulimit", "nproc=4096:4096", IMAGE_EP, "print(2)")
    check(r.returncode == 0 and r.stdout.strip() == "2",
          f"podman runs the image's entry point: {r.stdout.strip()!r} {r.stderr.strip()[-300:]}")


def check_relock(work, cfs, traces, full, want):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    typed = "lib/python3.11/site-packages/blinker/py.typed"
    ws = j("old.ws")
    r = condafs("workset", *traces, "-o", ws, "--index", cfs, "--keep", typed)
    check(r.returncode == 0, "a working set with a --keep glob")
    lock, old, new = rebuild(j("pyenv"), j("relock"))
    new_cfs = j("new.cfs")
    r = condafs("index", lock, "-o", new_cfs, "--store", j("store"), "--cache", j("cache"), "-q")
    assert r.returncode == 0, r.stderr
    r = condafs("workset", "--index", new_cfs, "--merge", ws, "-o", j("new.ws"), "--json")
    warn = [l for l in r.stderr.splitlines() if "warning" in l]
    expect = f"blinker 1.9.0-{old} → 1.9.0-{new}: "
    ok = r.returncode == 0 and len(warn) == 1 and expect in warn[0] and warn[0].endswith(", 1 gone")
    check(ok, f"rebase: one warning for the changed package: {warn}")
    rep = json.loads(r.stdout)["changed"] if r.returncode == 0 else []
    check(rep and rep[0]["gone_paths"] == [typed] and rep[0]["kept"] >= 3,
          f"the gone path is reported: {rep}")
    a = {e["path"]: e for e in json.load(open(ws))["entries"]}
    b = {e["path"]: e for e in json.load(open(j("new.ws")))["entries"]}
    unchanged = {p: e for p, e in a.items() if not (e["package"] or {}).get("name") == "blinker"}
    check(all(b.get(p) == e for p, e in unchanged.items()),
          f"entries of unchanged packages are kept as they were ({len(unchanged)})")
    bl = [e for p, e in b.items() if (e["package"] or {}).get("name") == "blinker"]
    check(typed not in b and bl and all(e["package"]["build"] == new for e in bl),
          f"entries of the changed package carry the new build; the gone path is dropped")
    r = condafs("export", new_cfs, "-w", ws, "-o", j("new.tar"))
    warn = [l for l in r.stderr.splitlines() if "warning" in l]
    check(r.returncode == 0 and len(warn) == 1 and expect in warn[0],
          f"export applies an old working set to the new index, with the warning: {warn}")
    env = os.path.join(untar(j("new.tar"), j("new-x")), "env")
    r = in_root(env, W2)
    check(r.returncode == 0 and r.stdout == want[1],
          "the application still runs from the export of the changed lock")
    with open(os.path.join(env, "lib/python3.11/site-packages/blinker/__init__.py")) as f:
        check("export_relock" in f.read(), "the changed file is the new package's")


def no_leftovers(path):
    d = os.path.dirname(os.path.abspath(path))
    return not os.path.lexists(path) and not glob.glob(os.path.join(d, ".*.tmp-*"))


def check_bad_input(work, cfs, ws, trace):
    j = lambda *p: os.path.join(work, *p)  # noqa: E731
    with open(j("garbage.ws"), "w") as f:
        f.write("{not json\n")
    with open(j("notws.ws"), "w") as f:
        json.dump({"hello": 1}, f)
    doc = json.load(open(ws))
    doc["prefix"] = "/opt/other"
    with open(j("other.ws"), "w") as f:
        json.dump(doc, f)
    with open(trace) as f:
        lines = f.read().splitlines()
    hdr = json.loads(lines[0])
    with open(j("other.trace"), "w") as f:
        f.write(json.dumps(dict(hdr, prefix="/opt/other")) + "\n" + "\n".join(lines[1:]) + "\n")
    with open(j("cut.trace"), "w") as f:
        f.write(json.dumps(dict(hdr, lock_sha256="0" * 64)) + "\n" + "\n".join(lines[1:3])
                + "\n" + lines[3][:20])
    os.makedirs(j("occupied"))
    open(j("occupied", "mine.txt"), "w").close()
    store2 = j("store2")
    shutil.copytree(j("store"), store2)
    os_py = json.loads(condafs("ls", cfs, "lib/python3.11/os.py", "--json").stdout)["digest"]
    victim = os.path.join(store2, "objects", os_py[:2], os_py + ".zst")
    other = glob.glob(os.path.join(store2, "objects", "*", "*.zst"))[0]
    os.chmod(victim, 0o644)
    shutil.copyfile(other if other != victim else glob.glob(store2 + "/objects/*/*.zst")[1],
                    victim)
    cases = [
        (["export", cfs, "-w", j("nosuch.ws"), "-o", j("o1.tar")], j("o1.tar"), "nosuch.ws"),
        (["export", cfs, "-w", j("garbage.ws"), "-o", j("o2.tar")], j("o2.tar"), "garbage.ws:1"),
        (["export", cfs, "-w", j("notws.ws"), "-o", j("o3.tar")], j("o3.tar"), "not a condafs"),
        (["export", cfs, "-w", j("other.ws"), "-o", j("o4"), "--format", "dir"], j("o4"),
         "/opt/other"),
        (["export", cfs, "-w", ws, "-o", j("o5"), "--format", "zip"], j("o5"), "zip"),
        (["export", cfs, "-w", ws, "-o", j("o6.out")], j("o6.out"), "--format"),
        (["export", cfs, "-w", ws, "-o", j("nodir", "o7.tar")], j("nodir", "o7.tar"), "nodir"),
        (["export", cfs, "-w", ws, "-o", os.path.join(ws, "o8.tar")], os.path.join(ws, "o8.tar"),
         "Not a directory"),
        (["export", cfs, "-w", ws, "-o", "/proc/o9", "--format", "dir"], "/proc/o9", "/proc/o9"),
        (["export", cfs, "-w", ws, "-o", "/dev/null", "--format", "tar"], "/dev/.null.tmp-x",
         "not a regular file"),
        (["export", cfs, "-w", ws, "-o", j("o10.tar"), "--store", store2, "--no-cache"],
         j("o10.tar"), "corrupt object"),
        (["export", cfs, "-w", ws, "-o", j("o11"), "--format", "oci", "--name", "Bad Name"],
         j("o11"), "--name"),
        (["export", cfs, "-w", ws, "-o", j("o12"), "--format", "oci", "--base", ws], j("o12"),
         "not a tar"),
        (["export", cfs, "-w", ws, "-o", j("o13.tar"), "--base", ws], j("o13.tar"), "oci"),
        (["workset", j("other.trace"), "-o", j("o14.ws"), "--index", cfs], j("o14.ws"),
         "/opt/other"),
        (["workset", trace, "-o", j("o15.ws"), "--index", cfs, "--keep", "lib/[abc"], j("o15.ws"),
         "lib/[abc"),
        (["workset", "--index", cfs, "--merge", j("other.ws"), "-o", j("o16.ws")], j("o16.ws"),
         "/opt/other"),
        (["workset", ws, "-o", j("o17.ws"), "--index", cfs], j("o17.ws"), "not a condafs trace"),
    ]
    for args, out, needle in cases:
        r = condafs(*args)
        lines = r.stderr.strip().splitlines()
        check(r.returncode != 0 and len(lines) == 1 and needle in lines[0] and no_leftovers(out),
              f"{' '.join(args[:1] + [os.path.basename(a) for a in args[1:]])}: "
              f"{r.stderr.strip()}")
    r = condafs("export", cfs, "-w", ws, "-o", j("occupied"), "--format", "dir")
    check(r.returncode != 0 and "remove it first" in r.stderr and
          os.listdir(j("occupied")) == ["mine.txt"], f"an existing directory that is not an "
          f"export is left alone: {r.stderr.strip()}")
    for fmt in ("dir", "oci"):
        out = j(f"again-{fmt}")
        r1 = condafs("export", cfs, "-w", ws, "-o", out, "--format", fmt, "-q")
        r2 = condafs("export", cfs, "--all", "-o", out, "--format", fmt, "-q")
        check(r1.returncode == 0 and r2.returncode == 0 and no_leftovers(out + ".x"),
              f"{fmt}: an earlier export is replaced atomically {r2.stderr.strip()}")
    r = condafs("workset", j("cut.trace"), "-o", j("cut.ws"), "--index", cfs)
    check(r.returncode == 0 and "lock sha256" in r.stderr and
          "cut short" in r.stderr, f"another lock and a cut last line are warnings: "
          f"{r.stderr.strip()}")


if __name__ == "__main__":
    sys.exit(main())
