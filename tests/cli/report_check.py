#!/usr/bin/env python3
"""condafs report on a small environment made for it, without a mount or a
browser (tests/mount/report.sh renders the realistic environment's page in
chromium):

- the page's data adds up to `condafs du --json` (in total, per package, per
  rule), lists every file `condafs ls` lists with its size and state, and its
  working set and export figures are those of `condafs workset` and of the
  tar `condafs export` writes;
- names survive: non-ASCII, astral characters across the front coding,
  markup characters, a rule text holding </script>, bytes that are not UTF-8;
- the same inputs give the same bytes; the page refers to nothing outside it;
- bad input gets one line naming the file, a non-zero exit and no page
  (nor a temporary file); a failed run leaves the previous page as it was.

usage: report_check.py CONDAFS
"""
import json
import os
import shutil
import sqlite3
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
sys.path.insert(0, FIX)
sys.dont_write_bytecode = True
import fixturelib as fl  # noqa: E402
import reportpage as rp  # noqa: E402
from testlib import check, run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
MTIME = 1700000000
EVIL_RULE = "exclude <!--<script>/</script>/**"
ASTRAL = ["lib/beta/emoji-\U0001F600-a.txt", "lib/beta/emoji-\U0001F600-b.txt"]


def condafs(*args):
    return run(CONDAFS, *[str(a) for a in args])


def make_pkg(work, name, version, files, links=()):
    staging = os.path.join(work, "staging", name)
    for rel, data in files.items():
        fl.write_file(staging, rel, data, mode=0o755 if rel.startswith("bin/") else 0o644,
                      mtime=MTIME)
    for rel, target in links:
        fl.make_symlink(staging, rel, target, mtime=MTIME)
    fl.write_info(staging, {"name": name, "version": version, "build": "0", "build_number": 0,
                            "depends": [], "subdir": "linux-64", "timestamp": MTIME * 1000},
                  mtime=MTIME)
    return fl.cph_create(staging, os.path.join(work, "channel", f"{name}-{version}-0.conda"))


def environment(work):
    alpha = make_pkg(work, "alpha", "1.0", {
        "bin/alpha": "#!/bin/sh\necho alpha\n",
        "lib/alpha/core.py": "x = 1\n" * 400,
        "lib/alpha/data/big.bin": os.urandom(200_000),
        "lib/alpha/data/small.bin": b"\0" * 3000,
        "lib/alpha/tests/test_core.py": "def test(): pass\n" * 50,
        "include/alpha.h": "int alpha(void);\n" * 100,
        "share/doc/alpha/README": "read me\n" * 300,
        "share/doc/alpha/LICENSE": "MIT\n" * 20,
        "lib/alpha/empty.py": "",
    }, links=[("lib/alpha/current", "data"), ("bin/alpha-link", "alpha")])
    beta = make_pkg(work, "beta", "2.0", {
        "lib/beta/donn\u00e9es.txt": "\u00e9" * 500,
        "lib/beta/\u65e5\u672c\u8a9e.txt": "\u65e5" * 700,
        ASTRAL[0]: "a" * 1100,
        ASTRAL[1]: "b" * 1200,
        "lib/beta/x<y>&z.txt": "<>&\n" * 100,
        "lib/beta/plain.txt": "plain\n" * 100,
        "lib/beta/a/b/c/d/leaf.txt": "leaf\n" * 1000,
    })
    lock = os.path.join(work, "lock.txt")
    fl.write_explicit(lock, "linux-64", [f"{fl.file_url(p)}#{fl.sha256_file(p)}"
                                          for p in (alpha, beta)])
    policy = os.path.join(work, "app.policy")
    with open(policy, "w") as f:
        f.write("exclude lib/alpha/tests/**\nexclude include/**\nexclude share/doc/**\n"
                f"keep share/doc/*/LICENSE\n{EVIL_RULE}\n")
    cfs = os.path.join(work, "env.cfs")
    r = condafs("index", lock, "-o", cfs, "--store", os.path.join(work, "store"), "--cache",
                os.path.join(work, "pkgs"), "--policy", policy, "-q")
    assert r.returncode == 0, r.stderr
    return cfs


def json_of(*args):
    r = condafs(*args)
    assert r.returncode == 0, f"condafs {' '.join(map(str, args))}: {r.stderr}"
    return json.loads(r.stdout)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def report(work, name, *args):
    out = os.path.join(work, name)
    r = condafs("report", *args, "-o", out)
    return r, out


def check_page(label, html, d, cfs, ws_json=None):
    """The page's data against du, ls, and (with a working set) workset --json."""
    total, by_pkg, by_rule = rp.sums(d)
    du = json_of("du", cfs, "--json")
    check(rp.strip4(total) == du["total"], f"{label}: the file table adds up to du --json's total")
    check({k: rp.strip4(v) for k, v in by_pkg.items()} == rp.du_groups(du),
          f"{label}: ... and to du --json per package")
    check({k: rp.strip4(v) for k, v in by_rule.items()} == rp.du_groups(json_of("du", cfs, "--by", "rule", "--json")),
          f"{label}: ... and to du --by rule --json per rule")
    t = d["totals"]
    check(t["files"] == t["kept_files"] + t["pruned_files"] == du["total"]["kept_files"] + du["total"]["pruned_files"]
          and t["bytes"] == du["total"]["kept_bytes"] + du["total"]["pruned_bytes"]
          and all(t[k] == total[k] for k in ("kept_files", "kept_bytes", "pruned_files", "pruned_bytes")),
          f"{label}: the totals are du's: {t['files']} files, {t['bytes']} bytes")
    rows = {p["name"] if p["name"] is not None else "(no package)": p for p in d["packages"]}
    check(all(rp.strip4(rows[k]) == rp.strip4(v) for k, v in by_pkg.items())
          and all(rows[k]["files"] == v["kept_files"] + v["pruned_files"] for k, v in by_pkg.items()),
          f"{label}: the package rows are the file table's sums")
    rules = {r["origin"]: r for r in d["rules"]}
    check(all(rp.strip4(rules[k]) == rp.strip4(v) for k, v in by_rule.items() if k != "(no rule)"),
          f"{label}: the rule rows are the file table's sums")
    ls = {j["path"]: j for j in map(json.loads, condafs("ls", cfs, "-R", "--all", "--json").stdout.splitlines())}
    want = {p: (j["size"] if j["type"] == "file" else 0, j["type"] == "symlink", j["pruned"])
            for p, j in ls.items() if j["type"] != "dir"}
    got = {f["path"]: (f["size"], f["link"], f["state"] == 2) for f in rp.files(d)}
    check(got == want, f"{label}: the files are ls -R --all's, with sizes, symlinks and pruned flags "
          f"({len(got)} files; differing: {sorted(set(got.items()) ^ set(want.items()))[:4]})")
    if ws_json is not None:
        wt = ws_json["total"]
        check((t["ws_files"], t["ws_bytes"]) == (total["ws_files"], total["ws_bytes"]) == (wt["ws_files"], wt["ws_bytes"]),
              f"{label}: the working set is condafs workset's: {wt['ws_files']} files, {wt['ws_bytes']} bytes")
        pk = {p["name"] or "(no package)": p for p in ws_json["packages"]}
        check(all(rows[k].get("ws_bytes", 0) == pk[k]["ws_bytes"] and rows[k].get("ws_files", 0) == pk[k]["ws_files"]
                  for k in pk), f"{label}: ... per package too")
    else:
        check(not d["has_workset"] and "ws_files" not in t and all(f["state"] != 0 for f in rp.files(d)),
              f"{label}: without a working set nothing is in one (kept against pruned)")
    check(rp.outside_refs(html) == [], f"{label}: the page refers to nothing outside it: {rp.outside_refs(html)[:3]}")
    check(html.count("<script") == 2 and html.count("</script>") == 2,
          f"{label}: two script elements, the data's and the code's, and nothing in the data closes them")


def body(work):
    cfs = environment(work)
    lock_sha = json_of("info", cfs, "--json")["lock_sha256"]

    # A working set from --keep globs, and a trace written as the daemon writes them.
    ws = os.path.join(work, "app.ws")
    r = condafs("workset", "--index", cfs, "--keep", "lib/alpha/core.py", "--keep", "bin/alpha-link", "-o", ws)
    assert r.returncode == 0, r.stderr
    trace = os.path.join(work, "t.jsonl")
    with open(trace, "w") as f:
        f.write(json.dumps({"condafs_trace": 1, "index": cfs, "prefix": "/env", "lock_sha256": lock_sha,
                            "started": MTIME}) + "\n")
        for i, (op, p) in enumerate([("lookup", "lib"), ("open", "lib/beta/donn\u00e9es.txt"),
                                     ("open", ASTRAL[1]), ("readlink", "lib/alpha/current")]):
            f.write(json.dumps({"t": MTIME + i, "op": op, "path": p, "type": "file", "pid": 1, "comm": "t"}) + "\n")

    r, page = report(work, "report.html", cfs, "--workset", ws, "--trace", trace)
    check(r.returncode == 0 and r.stderr == "" and r.stdout.startswith(page + ": "),
          f"report with a working set and a trace: {r.stdout.strip()} {r.stderr.strip()}")
    html = read(page)
    d = rp.data(html)
    # The same working set as condafs workset makes of the trace and the working set.
    ws2 = os.path.join(work, "both.ws")
    ws_json = json_of("workset", trace, "--index", cfs, "--merge", ws, "-o", ws2, "--json")
    check_page("with a working set", html, d, cfs, ws_json)
    files = {f["path"]: f for f in rp.files(d)}
    check(files["bin/alpha-link"]["state"] == 0 and files["bin/alpha"]["state"] == 0
          and files["lib/alpha/current"]["state"] == 0,
          "a symlink's target is in the working set with the symlink (bin/alpha-link -> alpha)")
    check(all(files[p]["state"] == 1 for p in ("lib/alpha/data/big.bin", "lib/alpha/data/small.bin",
                                                "lib/beta/plain.txt")),
          "what the working set does not name is kept but unused (a symlinked directory, not its files)")
    check(files["include/alpha.h"]["state"] == 2 and files["share/doc/alpha/LICENSE"]["state"] == 1
          and next(r for r in d["rules"] if r["id"] == files["share/doc/alpha/LICENSE"]["rule"])["keep"],
          "pruned files are pruned; the license a keep rule kept is kept, with its rule")
    check(set(ASTRAL) <= set(files) and "lib/beta/x<y>&z.txt" in files
          and "lib/beta/\u65e5\u672c\u8a9e.txt" in files,
          "names survive: non-ASCII, astral characters across the front coding, markup characters")
    check("x<y>" not in html and "x\\u003cy>" in html, "'<' in the data is escaped as \\u003c")
    check(any(r["text"] == EVIL_RULE for r in d["rules"]) and "</script>/**" not in html,
          "a rule text holding <!--<script> and </script> stays data")

    # Export: the figures are those of the tar condafs export writes.
    tar = os.path.join(work, "layer.tar")
    r = condafs("export", cfs, "--workset", ws2, "-o", tar, "--no-cache")
    check(r.returncode == 0, f"condafs export of the same working set: {r.stderr.strip()}")
    e = d["export"]
    check(e["of"] == "workset" and e["tar_bytes"] == os.path.getsize(tar),
          f"the export figure is the tar's size: {e['tar_bytes']} == {os.path.getsize(tar)}")
    check(f"{e['files']} files, {e['symlinks']} symlinks, {e['dirs']} directories" in r.stdout,
          f"and its counts are export's: {r.stdout.splitlines()[0] if r.stdout else ''}")

    # Reproducible: the same inputs, the same bytes, whatever the output is called.
    r2, page2 = report(work, "again.html", cfs, "--workset", ws, "--trace", trace)
    check(r2.returncode == 0 and read(page2) == html, "the same inputs give the same bytes")
    r3, page3 = report(work, "other.html", cfs, "--trace", trace, "--workset", ws2)
    check(r3.returncode == 0 and rp.data(read(page3))["totals"] == d["totals"],
          "the working set condafs workset made gives the same figures as its inputs")

    # Without a working set: kept against pruned, and export --all.
    r, plain = report(work, "plain.html", cfs)
    check(r.returncode == 0, f"report without a working set: {r.stderr.strip()}")
    html_plain = read(plain)
    dp = rp.data(html_plain)
    check_page("without a working set", html_plain, dp, cfs)
    r = condafs("export", cfs, "--all", "-o", tar, "--no-cache")
    check(r.returncode == 0 and dp["export"]["of"] == "all" and dp["export"]["tar_bytes"] == os.path.getsize(tar),
          "without a working set the export figure is export --all's tar")

    # Bytes that are not UTF-8 in a name (an edited index): U+FFFD, valid data.
    bad = os.path.join(work, "bad-utf8.cfs")
    shutil.copy(cfs, bad)
    with sqlite3.connect(bad) as db:
        db.execute("UPDATE nodes SET name = CAST(X'6261ff64c3' AS TEXT) WHERE name = 'plain.txt'")
    db.close()
    r, out = report(work, "bad-utf8.html", bad)
    ok = r.returncode == 0
    names = {f["path"] for f in rp.files(rp.data(read(out)))} if ok else set()
    check(ok and "lib/beta/ba\ufffdd\ufffd" in names,
          f"a name that is not UTF-8 becomes U+FFFD in valid data: {r.stderr.strip()}")

    cli_errors(work, cfs, ws, trace, page, html)


def cli_errors(work, cfs, ws, trace, page, html):
    r = condafs("report", "--help")
    check(r.returncode == 0 and r.stdout.startswith("usage: condafs report ENV.cfs"), "--help")
    r = condafs("help", "report")
    check(r.returncode == 0 and "--workset" in r.stdout, "condafs help report")
    cases = [
        ((), 2, "condafs report: expected one index file"),
        ((cfs,), 2, "condafs report: -o REPORT.html is required"),
        ((cfs, "-o", page, "--bogus"), 2, "condafs report: unknown option '--bogus'"),
        ((cfs, "-o"), 2, "condafs report: option '-o' needs a value"),
        ((cfs, "-o", page, "--workset"), 2, "condafs report: option '--workset' needs a value"),
        ((cfs, cfs, "-o", page), 2, "condafs report: expected one index file"),
    ]
    for args, status, msg in cases:
        r = condafs("report", *args)
        check(r.returncode == status and r.stderr.startswith(msg) and r.stderr.count("\n") == 1,
              f"report {' '.join(os.path.basename(str(a)) for a in args)}: exit {r.returncode}, {r.stderr.strip()}")

    notws = os.path.join(work, "not.ws")
    with open(notws, "w") as f:
        f.write('{"hello": 1}\n')
    other = os.path.join(work, "other-prefix.jsonl")
    with open(other, "w") as f:
        f.write('{"condafs_trace": 1, "prefix": "/opt", "index": "x"}\n')
    missing = os.path.join(work, "missing.cfs")
    bad_cases = [
        ((missing, "-o", page), missing),
        ((cfs, "--workset", notws, "-o", page), notws),
        ((cfs, "--workset", os.path.join(work, "nope.ws"), "-o", page), "nope.ws"),
        ((cfs, "--trace", other, "-o", page), other + ":1: traced prefix /opt"),
        ((cfs, "--trace", os.path.join(work, "nope.jsonl"), "-o", page), "nope.jsonl"),
        ((cfs, "-o", os.path.join(work, "no-such-dir", "r.html")), os.path.join(work, "no-such-dir", "r.html")),
        ((cfs, "-o", work), work + ": exists and is not a regular file"),
    ]
    for args, name in bad_cases:
        r = condafs("report", *args)
        check(r.returncode == 1 and r.stderr.startswith("condafs: ") and name in r.stderr
              and r.stderr.count("\n") == 1,
              f"report fails in one line naming {os.path.basename(name.split(':')[0])}: {r.stderr.strip()}")
    check(read(page) == html, "failed runs left the previous page as it was")
    left = [n for n in os.listdir(work) if ".tmp-" in n]
    check(not left, f"no temporary file is left behind: {left}")


def main():
    work = tempfile.mkdtemp(prefix="cfs-report-")
    try:
        body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary(need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
