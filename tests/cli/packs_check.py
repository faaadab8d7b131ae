#!/usr/bin/env python3
"""Packs end to end on the synthetic channel (docs/store.md "Packs",
docs/index-format.md version 3): condafs index writes one pack per package
with exactly the bytes of its objects, named by its entry list, in install
order, each object once; pruned-only objects are not packed; --no-packs
writes none; a re-index reuses the packs; condafs pack and workset --pack
record a working set's pack in first-open order; push copies packs; an
index of format version 2 still reads.

usage: packs_check.py CONDAFS
"""
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
from testlib import check, run, summary  # noqa: E402


def why(r):
    """The command's stderr for a failing check's message."""
    return f": {r.stderr.strip()}" if r.returncode else ""

CONDAFS = os.path.abspath(sys.argv[1])
ENV = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")


def index(work, lock, out, store, *extra):
    # mkchannel.py's conda-lock.yml has a pip source distribution.
    return run(CONDAFS, "index", lock, "-o", out, "--store", store, "--cache",
               os.path.join(work, "cache"), "-q", "--skip-unbuildable", *extra, env=ENV)


def nodes(cfs):
    """ls -R --all --json, with "package" as packages.id (install order) instead of a name."""
    r = run(CONDAFS, "ls", cfs, "-R", "--all", "--json")
    assert r.returncode == 0, r.stderr
    ids = dict(sqlite3.connect(cfs).execute(
        "SELECT name, id FROM packages WHERE status = 'installed'").fetchall())
    ns = [json.loads(l) for l in r.stdout.splitlines()]
    for n in ns:
        n["package"] = ids[n["package"]] if n["package"] else None
    return ns


def entry_list_name(entries):
    text = "".join(f"{d} {c}\n" for d, c in entries)
    return "packs/" + hashlib.sha256(text.encode()).hexdigest() + ".pack"


def object_bytes(store, digest):
    with open(os.path.join(store, "objects", digest[:2], digest + ".zst"), "rb") as f:
        return f.read()


def check_pack_file(store, name, entries, size, what):
    """entries: [(digest, offset, csize)] in pack order.  Checks layout and bytes."""
    path = os.path.join(store, name)
    if not check(os.path.isfile(path), f"{what}: {name} exists in the store"):
        return
    data = open(path, "rb").read()
    check(len(data) == size, f"{what}: file size {len(data)} is the recorded {size}", quiet=True)
    check(name == entry_list_name([(d, c) for d, _, c in entries]),
          f"{what}: name is the sha256 of its entry list", quiet=True)
    pos, ok = 0, True
    for d, off, c in entries:
        ok = ok and off == pos and data[off:off + c] == object_bytes(store, d)
        pos += c
    check(ok and pos == size, f"{what}: {len(entries)} entries contiguous from 0, each exactly "
          "its object file's bytes", quiet=True)


def check_index(cfs, store, label):
    """Checks every invariant of the packs of index cfs.  Returns (db rows, packs)."""
    db = sqlite3.connect(cfs)
    ns = nodes(cfs)
    files = [n for n in ns if n["type"] == "file"]
    served = [n for n in files if not n["pruned"]]
    packs = db.execute("SELECT id, name, size, package FROM packs ORDER BY id").fetchall()
    objs = {d.hex(): (p, off, c) for d, p, off, c in
            db.execute("SELECT digest, pack, pack_offset, csize FROM objects")}

    missing = [n["path"] for n in served if objs[n["digest"]][0] is None]
    check(not missing, f"{label}: every served file's object has a pack and offset "
          f"({len(served)} files, {len(packs)} packs)" + (f": not {missing[:3]}" if missing else ""))
    served_digests = {n["digest"] for n in served}
    pruned_only = {n["digest"] for n in files if n["pruned"]} - served_digests
    packed_pruned = [d for d in pruned_only if objs[d][0] is not None]
    check(not packed_pruned, f"{label}: {len(pruned_only)} pruned-only objects are not packed")

    ok_all = True
    for pid, name, size, pkg in packs:
        entries = [(d.hex(), off, c) for d, off, c in db.execute(
            "SELECT digest, pack_offset, csize FROM objects WHERE pack = ? ORDER BY pack_offset",
            (pid,))]
        check_pack_file(store, name, entries, size, f"{label}: pack {pid}")
        ok_all = ok_all and bool(entries)

    # Package packs by package id, each holding its served files by heat (hot,
    # warm, cold: see heat()), then in install order (by path), an object only
    # in the first package serving it; last the files of no package.
    expect, seen = [], set()
    pkg_ids = sorted({n["package"] for n in served if n["package"]})
    by_pkg = {}
    bytecode = {n["package"] for n in files if "__pycache__/" in n["path"]}
    for n in sorted(served, key=lambda n: (heat(n["path"], n["package"] in bytecode)
                                           if n["package"] else 0, n["path"].encode())):
        by_pkg.setdefault(n["package"], []).append(n["digest"])
    for pkg in pkg_ids + [None]:
        got = [d for d in by_pkg.get(pkg, []) if not (d in seen or seen.add(d))]
        if got:
            expect.append((pkg, got))
    # Not vacuous: some pack holds hot and cold files, the hot ones first.
    order = {}
    for n in served:
        if n["package"]:
            order.setdefault(n["package"], []).append(n)
    mixed = [pkg for pkg, ns_ in order.items()
             if {heat(n["path"], pkg in bytecode) for n in ns_} >= {0, 2}]
    check(mixed, f"{label}: {len(mixed)} packages have hot and cold files")
    actual = [(pkg, [d.hex() for (d,) in db.execute(
        "SELECT digest FROM objects WHERE pack = ? ORDER BY pack_offset", (pid,))])
        for pid, _, _, pkg in packs]
    check(actual == expect and ok_all, f"{label}: packs follow heat, then install order: one per "
          "package with served files, in path order, each object once, files of no package last")
    return db, packs, ns


def heat(path, bytecode):
    """0 hot, 1 warm, 2 cold: the order of a package's files in its pack
    (indexer/packs.h): what programs load first, what they rarely read last."""
    base = path.rsplit("/", 1)[-1]
    if "__pycache__/" in path and path.endswith(".pyc"):
        return 2 if ".opt-" in base else 0
    if path.startswith("bin/") or path.endswith((".so", ".pth")) or ".so." in base:
        return 0
    if ((bytecode and path.endswith(".py")) or path.endswith((".pyi", ".a", ".la", ".h", ".hpp"))
            or path.startswith(("include/", "conda-meta/", "share/doc/", "share/man/",
                                "share/info/")) or "/tests/" in path or "/test/" in path):
        return 2
    return 1


def body(work):
    chan = os.path.join(work, "chan")
    r = run(sys.executable, os.path.join(FIX, "mkchannel.py"), chan)
    assert r.returncode == 0, r.stdout + r.stderr
    lock = os.path.join(chan, "conda-lock.yml")
    store = os.path.join(work, "store")
    cfs = os.path.join(work, "env.cfs")

    r = index(work, lock, cfs, store)
    check(r.returncode == 0, "index writes packs" + why(r))
    db, packs, ns = check_index(cfs, store, "index")
    check(db.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()[0] == "3",
          "the index is format version 3")
    # An object two packages ship is in the first one's pack only.
    owners = {}
    for n in ns:
        if n["type"] == "file" and not n["pruned"] and n["package"]:
            owners.setdefault(n["digest"], set()).add(n["package"])
    shared = {d: min(p) for d, p in owners.items() if len(p) > 1}
    pack_pkg = {pid: pkg for pid, _, _, pkg in packs}
    ok = bool(shared)
    for d, first in shared.items():
        (pid,) = db.execute("SELECT pack FROM objects WHERE digest = ?",
                            (bytes.fromhex(d),)).fetchone()
        ok = ok and pack_pkg[pid] == first
    check(ok, f"{len(shared)} objects shared by two packages are in the first one's pack only")

    # The depends table: each package's dependencies among the installed
    # ones, from the lock's; an @EXPLICIT lock has none, so they come from
    # the packages' own records, and must be the same.
    ids = {name: i for i, name in db.execute("SELECT id, name FROM packages")}
    want = set()
    with open(lock) as f:
        for p in yaml.safe_load(f)["package"]:
            want |= {(p["name"], d) for d in p.get("dependencies") or {}
                     if d in ids and d != p["name"]}
    got = set(db.execute("SELECT p.name, q.name FROM depends d JOIN packages p ON p.id = d.package"
                         " JOIN packages q ON q.id = d.on_package"))
    check(want and got == want, f"depends: {len(got)} dependencies among installed packages, "
          f"as the lock says" + ("" if got == want else f": {sorted(got ^ want)[:4]}"))
    cfs_x = os.path.join(work, "explicit.cfs")
    r = index(work, os.path.join(chan, "explicit.txt"), cfs_x, store)
    got_x = set(sqlite3.connect(cfs_x).execute(
        "SELECT p.name, q.name FROM depends d JOIN packages p ON p.id = d.package"
        " JOIN packages q ON q.id = d.on_package")) if r.returncode == 0 else set()
    check(got_x == want, "depends of an @EXPLICIT lock come from the packages' records"
          + why(r))

    # info shows them.
    r = run(CONDAFS, "info", cfs, "--json")
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check(j.get("packs") == len(packs) and
          j.get("pack_bytes") == sum(p[2] for p in packs) and j.get("format_version") == 3,
          f"info --json counts {len(packs)} packs and their bytes")
    r = run(CONDAFS, "info", cfs)
    check(r.returncode == 0 and f"packs:     {len(packs)} packs" in r.stdout,
          "info prints the packs line")

    # A second index of the same lock reuses every pack without rewriting it.
    stat = {p[1]: os.stat(os.path.join(store, p[1])) for p in packs}
    r = index(work, lock, cfs, store)
    db2 = sqlite3.connect(cfs)
    names2 = [n for (n,) in db2.execute("SELECT name FROM packs ORDER BY id")]
    check(r.returncode == 0 and names2 == [p[1] for p in packs],
          "a second index of the same lock lists the same packs")
    same = all((s.st_ino, s.st_mtime_ns) == (os.stat(os.path.join(store, n)).st_ino,
                                              os.stat(os.path.join(store, n)).st_mtime_ns)
               for n, s in stat.items())
    check(same, "... and does not write them again (same inode and mtime)")

    # --no-packs writes none.
    bare_store = os.path.join(work, "bare-store")
    bare = os.path.join(work, "bare.cfs")
    r = index(work, lock, bare, bare_store, "--no-packs")
    dbb = sqlite3.connect(bare)
    check(r.returncode == 0 and dbb.execute("SELECT count(*) FROM packs").fetchone()[0] == 0 and
          dbb.execute("SELECT count(*) FROM objects WHERE pack IS NOT NULL OR pack_offset IS "
                      "NOT NULL").fetchone()[0] == 0 and
          not os.path.exists(os.path.join(bare_store, "packs")),
          "--no-packs: no packs table rows, no pack columns, no packs/ in the store")
    r = run(CONDAFS, "index", "--help")
    check("--no-packs" in r.stdout, "index --help names --no-packs")

    # A policy: pruned-only objects stay out, a shared object moves to the package
    # that still serves it.
    pol = os.path.join(work, "p.policy")
    shared_paths = sorted(n["path"] for n in ns if n.get("digest") in shared and
                          n["package"] == shared[n["digest"]])
    with open(pol, "w") as f:
        f.write("exclude share/unicode-names/**\n")
        for p in shared_paths:
            f.write(f"exclude {p}\n")
    pcfs = os.path.join(work, "pruned.cfs")
    r = index(work, lock, pcfs, store, "--policy", pol)
    check(r.returncode == 0, "index with a prune policy" + why(r))
    pdb, ppacks, pns = check_index(pcfs, store, "pruned")
    pruned_only = {n["digest"] for n in pns if n["type"] == "file" and n["pruned"]} - \
        {n["digest"] for n in pns if n["type"] == "file" and not n["pruned"]}
    check(len(pruned_only) >= 3, f"the policy leaves {len(pruned_only)} pruned-only objects")

    working_set(work, cfs, store, db, packs)
    version2(work, cfs, store)
    return summary()


def working_set(work, cfs, store, db, packs):
    lock_sha = db.execute("SELECT value FROM meta WHERE key = 'lock_sha256'").fetchone()[0]
    trace = os.path.join(work, "app.trace")
    opens = ["lib/python3.11/os.py", "etc/legacy/bare.conf", "bin/zoo-tool",
             "lib/python3.11/os.py", "bin/hl-tool", "libexec/hardlink-pair/hl-tool-copy"]
    with open(trace, "w") as f:
        f.write(json.dumps({"condafs_trace": 1, "index": cfs, "prefix": "/env",
                            "lock_sha256": lock_sha, "started": 1700000000.0}) + "\n")
        # A lookup first does not set the order; only open lines do.
        f.write(json.dumps({"t": 1.0, "op": "lookup", "path": "share/hardlink-pair/single.txt",
                            "type": "file", "pid": 1, "comm": "t"}) + "\n")
        for i, p in enumerate(opens):
            f.write(json.dumps({"t": 2.0 + i, "op": "open", "path": p, "type": "file",
                                "pid": 1, "comm": "t"}) + "\n")
    ws = os.path.join(work, "app.ws")
    r = run(CONDAFS, "workset", trace, "-o", ws, "--keep", "share/hardlink-pair/**", "-q")
    check(r.returncode == 0, "workset from a trace" + why(r))
    before = json.load(open(ws))
    r = run(CONDAFS, "pack", cfs, "--workset", ws, "--trace", trace)
    check(r.returncode == 0 and r.stdout.startswith(ws + ": packed ") and
          len(r.stdout.splitlines()) == 1, f"condafs pack prints one line: {r.stdout.strip()}"
          + why(r))
    after = json.load(open(ws))
    pack = after.get("pack", {})
    check({k: v for k, v in after.items() if k != "pack"} == before and
          list(after)[:len(before)] == list(before),
          "the working set keeps every other member as it was")

    by_path = {n["path"]: n for n in nodes(cfs)}
    ws_files = [e["path"] for e in before["entries"] if e["type"] == "file"]
    expect, seen = [], set()
    for p in [p for p in opens if p in ws_files] + ws_files:
        d = by_path[p]["digest"]
        if d not in seen:
            seen.add(d)
            expect.append(d)
    got = [o[0] for o in pack.get("objects", [])]
    check(got == expect and got[:4] == [by_path[p]["digest"] for p in opens[:3] + opens[4:5]],
          f"pack order: the trace's open lines, then the other files ({len(got)} objects)")
    csize = {d.hex(): c for d, c in db.execute("SELECT digest, csize FROM objects")}
    check(all(o[2] == csize[o[0]] for o in pack.get("objects", [])),
          "each pack entry's size is the object's csize")
    check(pack.get("lock_sha256") == lock_sha, "the pack records the index's lock sha256")
    check_pack_file(store, pack.get("name", "?"), [tuple(o) for o in pack.get("objects", [])],
                    pack.get("size"), "workset pack")

    exp = os.path.join(work, "exp")
    r = run(CONDAFS, "export", cfs, "--workset", ws, "-o", exp, "--format", "dir")
    got = sorted(os.path.relpath(os.path.join(d, f), exp) for d, _, fs in os.walk(exp) for f in fs)
    check(r.returncode == 0 and "env/bin/zoo-tool" in got and "env/bin/hl-tool" in got,
          f"export --workset reads a working set with a pack member ({len(got)} files)"
          + why(r))

    # workset --pack gives the same pack.
    ws2 = os.path.join(work, "app2.ws")
    r = run(CONDAFS, "workset", trace, "-o", ws2, "--keep", "share/hardlink-pair/**", "--pack")
    check(r.returncode == 0 and json.load(open(ws2)).get("pack") == pack and
          "(already there)" in r.stdout, "workset --pack records the same pack" + why(r))

    r = run(CONDAFS, "pack", cfs, "--workset", ws, "--store", "s3://bucket/prefix")
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "condafs push" in r.stderr,
          f"pack into an S3 store: one line: {r.stderr.strip()}")

    # push copies the index's packs and the working set's.
    dest = os.path.join(work, "dest")
    r = run(CONDAFS, "push", cfs, "--store", dest, "--workset", ws)
    names = [p[1] for p in packs] + [pack["name"]]
    same = all(os.path.isfile(os.path.join(dest, n)) and
               open(os.path.join(dest, n), "rb").read() ==
               open(os.path.join(store, n), "rb").read() for n in names)
    check(r.returncode == 0 and same and
          f"push: {len(names)} of {len(names)} packs missing, uploaded {len(names)}" in r.stderr,
          f"push copies {len(names)} packs to a directory" + why(r))
    r = run(CONDAFS, "push", cfs, "--store", dest, "--workset", ws)
    check(r.returncode == 0 and f"push: 0 of {len(names)} packs missing" in r.stderr,
          "a second push copies no pack")


def version2(work, cfs, store):
    old = os.path.join(work, "v2.cfs")
    shutil.copy(cfs, old)
    db = sqlite3.connect(old)
    db.executescript("""
        UPDATE meta SET value = '2' WHERE key = 'format_version';
        DROP TABLE packs;
        CREATE TABLE objects2 (digest BLOB PRIMARY KEY, size INTEGER NOT NULL,
                               csize INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO objects2 SELECT digest, size, csize FROM objects;
        DROP TABLE objects;
        ALTER TABLE objects2 RENAME TO objects;
        VACUUM;
    """)
    db.close()
    r = run(CONDAFS, "info", old)
    check(r.returncode == 0 and "packs:     none (index format version 2)" in r.stdout,
          "info reads an index of format version 2" + why(r))
    r = run(CONDAFS, "info", old, "--json")
    check(r.returncode == 0 and json.loads(r.stdout)["packs"] == 0, "info --json: no packs")
    r = run(CONDAFS, "ls", old, "bin")
    check(r.returncode == 0 and "zoo-tool" in r.stdout, "ls reads an index of format version 2")
    r = run(CONDAFS, "push", old, "--store", os.path.join(work, "dest2"))
    check(r.returncode == 0 and "packs" not in r.stderr, "push of a version 2 index" + why(r))
    db = sqlite3.connect(old)
    db.execute("UPDATE meta SET value = '4' WHERE key = 'format_version'")
    db.commit()
    db.close()
    r = run(CONDAFS, "info", old)
    check(r.returncode == 1 and "index format version 4 is not supported (condafs reads "
          "versions 2 to 3)" in r.stderr, f"version 4 is refused: {r.stderr.strip()}")


def main():
    work = tempfile.mkdtemp(prefix="cfs-packs-")
    try:
        return body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
