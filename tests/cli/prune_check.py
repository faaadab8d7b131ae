#!/usr/bin/env python3
"""Prune policies end to end on the realistic environment (this machine's
Python as conda packages): every preset removes what it names and nothing
else, tombstones keep the record, `du` adds up, `policy explain` names the
rule, the expert profile still runs Python and an entry point, and bad
policies get clear messages.

usage: prune_check.py CONDAFS
"""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
from testlib import check, run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])

# A path each preset must prune in this environment (where it has one), and
# paths every preset must keep.
MUST_PRUNE = {
    "devel": ["include/python3.11/Python.h", "lib/pkgconfig/python3.pc",
              "bin/python3.11-config"],
    "tests": ["lib/python3.11/ctypes/test/test_bytes.py"],
    "bytecode": ["lib/python3.11/__pycache__/os.cpython-311.opt-1.pyc"],
    "conda-meta": ["{python_record}"],
    "stdlib-extras": ["lib/python3.11/idlelib/idle.py", "lib/python3.11/ensurepip/__init__.py"],
    "tools": ["bin/2to3-3.11"],
}
MUST_KEEP = ["lib/python3.11/os.py", "lib/python3.11/__pycache__/os.cpython-311.pyc",
             "lib/python3.11/lib-dynload", "bin/python3.11",
             "lib/libpython3.11.so.1.0", "lib/python3.11/site-packages/flask/__init__.py",
             "lib/python3.11/encodings/utf_8.py", "bin/flask"]


def ls(cfs):
    r = run(CONDAFS, "ls", cfs, "-R", "--all", "--json")
    assert r.returncode == 0, r.stderr
    return {j["path"]: j for j in map(json.loads, r.stdout.splitlines())}


def du(cfs):
    r = run(CONDAFS, "du", cfs, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def main():
    work = tempfile.mkdtemp(prefix="cfs-prune-")
    try:
        return body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def index(work, out, *extra):
    return run(CONDAFS, "index", os.path.join(work, "pyenv", "conda-lock.yml"), "-o", out,
               "--store", os.path.join(work, "store"), "--cache", os.path.join(work, "cache"),
               *extra)


def body(work):
    r = run(sys.executable, os.path.join(FIX, "mkpyenv.py"), os.path.join(work, "pyenv"))
    assert r.returncode == 0, r.stdout + r.stderr
    full = os.path.join(work, "full.cfs")
    check(index(work, full).returncode == 0, "index without a policy")
    base = ls(full)
    base_du = du(full)
    python_record = next(p for p in base if p.startswith("conda-meta/python-"))
    # conda-meta/history records the command line and time, so it differs
    # between the indexes compared here.
    hist = "conda-meta/history"

    check(base_du["total"]["pruned_files"] == 0, "no policy prunes nothing")

    r = run(CONDAFS, "policy", "list")
    presets = [l.split(":")[0] for l in r.stdout.splitlines() if l and not l.startswith(" ")]
    check(r.returncode == 0 and "expert" in presets and len(presets) >= 10,
          f"policy list shows the presets: {', '.join(presets)}")

    for preset in presets:
        cfs = os.path.join(work, preset + ".cfs")
        r = index(work, cfs, "--preset", preset)
        if not check(r.returncode == 0, f"index --preset {preset}" +
                     ("" if r.returncode == 0 else f": {r.stderr}")):
            continue
        nodes = ls(cfs)
        # Same tree, same contents: pruning only marks.
        same = set(nodes) == set(base) and all(
            nodes[p]["digest"] == base[p]["digest"] and nodes[p]["mode"] == base[p]["mode"] and
            nodes[p]["size"] == base[p]["size"] and nodes[p]["target"] == base[p]["target"]
            for p in base if p != hist)
        check(same, f"{preset}: every path is still recorded with its content (tombstones)")
        pruned = {p for p, n in nodes.items() if n["pruned"]}
        expect = [p.format(python_record=python_record) for p in MUST_PRUNE.get(preset, [])]
        if preset == "expert":
            expect = [p.format(python_record=python_record) for ps in MUST_PRUNE.values() for p in ps]
        missing = [p for p in expect if p in base and p not in pruned]
        check(not missing, f"{preset}: prunes {len(pruned)} paths, including the expected ones"
              + (f" (not pruned: {missing})" if missing else ""))
        absent = [p for p in expect if p not in base]
        check(not absent, f"{preset}: the expected paths exist in the environment {absent}")
        wrong = [p for p in MUST_KEEP if p in pruned]
        check(not wrong, f"{preset}: keeps what Python needs" + (f" (pruned: {wrong})" if wrong else ""))
        # Served view: ls without --all hides exactly the tombstones.
        r = run(CONDAFS, "ls", cfs, "-R", "--json")
        served = {json.loads(l)["path"] for l in r.stdout.splitlines()}
        check(served == set(base) - pruned, f"{preset}: ls shows exactly the kept paths")
        # A pruned directory's children are pruned too.
        orphans = [p for p in served if os.path.dirname(p) and os.path.dirname(p) not in served]
        check(not orphans, f"{preset}: no kept path below a pruned directory {orphans[:3]}")
        # du adds up, per package and in total.
        d = du(cfs)
        bypkg = {g["key"]: g for g in d["groups"]}
        ok = True
        dh = nodes[hist]["size"] - base[hist]["size"]
        for g in base_du["groups"]:
            h = bypkg.get(g["key"])
            if g["key"] == "(no package)":
                g = dict(g, kept_bytes=g["kept_bytes"] + dh)
            ok = ok and h and h["kept_files"] + h["pruned_files"] == g["kept_files"] and \
                h["kept_bytes"] + h["pruned_bytes"] == g["kept_bytes"]
        t = d["total"]
        ok = ok and t["kept_files"] + t["pruned_files"] == base_du["total"]["kept_files"] and \
            t["kept_bytes"] + t["pruned_bytes"] == base_du["total"]["kept_bytes"] + dh
        pruned_files = sum(1 for p in pruned if nodes[p]["type"] != "dir")
        ok = ok and t["pruned_files"] == pruned_files
        check(ok, f"{preset}: du kept + pruned equals the unpruned index, per package and "
              f"in total ({t['pruned_files']} files, {t['pruned_bytes']} bytes pruned)")

    # explain names the rule.
    cfs = os.path.join(work, "expert.cfs")
    r = run(CONDAFS, "policy", "explain", cfs, "/env/include/python3.11/Python.h",
            "lib/python3.11/os.py")
    lines = r.stdout.splitlines()
    check(r.returncode == 0 and len(lines) == 2 and "pruned by preset:devel:" in lines[0]
          and "exclude include" in lines[0] and "kept" in lines[1],
          f"policy explain names the deciding rule: {lines}")

    # ls of a pruned path says so, names the rule, and exits 1; -a lists it.
    r = run(CONDAFS, "ls", cfs, "include/python3.11/Python.h")
    err = r.stderr.splitlines()
    check(r.returncode == 1 and not r.stdout and len(err) == 1 and
          "include/python3.11/Python.h: pruned by preset:devel:" in err[0] and
          "exclude include" in err[0], f"ls of a pruned path: exit {r.returncode}, {err}")
    r = run(CONDAFS, "ls", cfs, "include")
    check(r.returncode == 1 and "include: pruned by preset:devel:" in r.stderr,
          f"ls of a pruned directory: exit {r.returncode}, {r.stderr.strip()}")
    r = run(CONDAFS, "ls", "-a", cfs, "include/python3.11/Python.h")
    check(r.returncode == 0 and r.stdout.rstrip().endswith("(pruned)"),
          f"ls -a of a pruned path lists it: exit {r.returncode}, {r.stdout.strip()}")
    r = run(CONDAFS, "ls", cfs, "lib/python3.11/os.py")
    check(r.returncode == 0 and "os.py" in r.stdout, "ls of a kept path")

    # The expert profile still runs Python and an entry point.
    ext = os.path.join(work, "expert-ext")
    r = run(sys.executable, os.path.join(FIX, "extract.py"), CONDAFS, cfs, ext)
    check(r.returncode == 0, "extract the expert profile")
    kept = sum(len(fs) for _, _, fs in os.walk(ext))
    check(not os.path.exists(os.path.join(ext, "include")) and
          not os.path.exists(os.path.join(ext, "lib/python3.11/idlelib")),
          f"expert extraction has only kept paths ({kept} files)")
    bwrap = ["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
             "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
             "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs",
             "/tmp", "--unshare-net", "--ro-bind", ext, "/env"]
    if shutil.which("bwrap"):
        r = run(*bwrap, "/env/bin/python3", "-c",
                "import json, sqlite3, ssl, email, http.client, flask, jinja2, pygments; "
                "print('imports ok')")
        check(r.returncode == 0 and "imports ok" in r.stdout,
              f"expert: python3 runs an import-heavy command: {(r.stdout + r.stderr).strip()}")
        r = run(*bwrap, "/env/bin/flask", "--version")
        check(r.returncode == 0 and "Flask" in r.stdout, "expert: entry point flask runs")

    # User policy files: precedence, scoping, and bad input.
    pol = os.path.join(work, "my.policy")
    with open(pol, "w") as f:
        f.write("# docs we ship anyway\npreset docs\nexclude lib/python3.11/site-packages/**"
                " in pygments\nkeep lib/python3.11/site-packages/pygments/__init__.py\n"
                "exclude share/** in numpyy\n")
    cfs = os.path.join(work, "user.cfs")
    r = index(work, cfs, "--policy", pol)
    check(r.returncode == 0 and "my.policy:5" in r.stderr and "numpyy" in r.stderr,
          f"a rule scoped to a package not in the lock is a warning: {r.stderr.strip()}")
    nodes = ls(cfs)
    sp = "lib/python3.11/site-packages/"
    check(nodes[sp + "pygments/lexer.py"]["pruned"] and
          not nodes[sp + "pygments/__init__.py"]["pruned"] and
          not nodes[sp + "pygments"]["pruned"] and not nodes[sp + "flask/app.py"]["pruned"],
          "package scoping and last-rule-wins precedence")
    for text, expect in [
        ("exlude include/**\n", ["bad.policy:1", "exlude"]),
        ("\n\nexclude lib/[abc\n", ["bad.policy:3", "lib/[abc"]),
        ("preset devle\n", ["bad.policy:1", "devle"]),
        ("exclude\n", ["bad.policy:1"]),
    ]:
        bad = os.path.join(work, "bad.policy")
        with open(bad, "w") as f:
            f.write(text)
        out = os.path.join(work, "bad.cfs")
        r = index(work, out, "--policy", bad)
        errs = [l for l in r.stderr.splitlines() if l.startswith("condafs: ")]
        check(r.returncode != 0 and len(errs) == 1 and all(e in r.stderr for e in expect)
              and not os.path.exists(out), f"bad policy {text.strip()!r}: {r.stderr.strip()}")
    r = index(work, os.path.join(work, "bad.cfs"), "--preset", "nosuch")
    check(r.returncode != 0 and "nosuch" in r.stderr, f"unknown preset: {r.stderr.strip()}")
    return summary()


if __name__ == "__main__":
    sys.exit(main())
