#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The checks of tests/mount/report.sh on the pages it made in DIR:

- report.html (working set app.ws of one workload and the trace t2.jsonl
  of another): its data against du.json and du-rule.json (condafs du
  --json), ws.json (condafs workset --json of both traces) and layer.tar
  (condafs export of that working set);
- plain.html (no working set): kept against pruned, all.tar (export --all);
- both rendered by headless chromium: a screenshot that is not blank and
  shows the legend's colours over a real part of the treemap, and a DOM in
  which the page's JavaScript drew the treemap, the summary and the tables.

usage: report-check.py CHROMIUM DIR
"""
import collections
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
sys.dont_write_bytecode = True
import reportpage as rp  # noqa: E402
from testlib import check, summary  # noqa: E402

CHROMIUM, DIR = sys.argv[1], sys.argv[2]
WINDOW = (1400, 1000)


def load(name):
    with open(os.path.join(DIR, name), encoding="utf-8") as f:
        return json.load(f) if name.endswith(".json") else f.read()


def fmt_int(n):
    return f"{n:,}"


def chromium(page, *what):
    """Runs headless chromium on page (file://) with what (--screenshot=...,
    --dump-dom); returns its stdout."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={os.path.join(DIR, 'chromium')}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
           "--no-first-run", "--disable-extensions", *what, "file://" + os.path.join(DIR, page)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    if r.returncode != 0:
        print(r.stderr[-2000:])
    return r.returncode, r.stdout


def data_checks(d, html):
    total, by_pkg, by_rule = rp.sums(d)
    du, du_rule, ws = load("du.json"), load("du-rule.json"), load("ws.json")
    check(rp.strip4(total) == du["total"],
          f"the file table adds up to du --json: {du['total']}")
    check({k: rp.strip4(v) for k, v in by_pkg.items()} == rp.du_groups(du),
          f"... per package ({len(by_pkg)} packages)")
    check({k: rp.strip4(v) for k, v in by_rule.items()} == rp.du_groups(du_rule),
          f"... and per rule ({len(by_rule)} rules that decided files)")
    t = d["totals"]
    check(all(t[k] == total[k] for k in total) and t["files"] == t["kept_files"] + t["pruned_files"],
          f"the totals are the file table's: {t['files']} files, {t['bytes']} bytes, "
          f"{t['pruned_files']} pruned")
    check(all(rp.strip4(p) == rp.strip4(by_pkg[p["name"] or "(no package)"]) for p in d["packages"] if p["files"]),
          "the package rows are the file table's sums")
    wt = ws["total"]
    check((t["ws_files"], t["ws_bytes"]) == (total["ws_files"], total["ws_bytes"]) == (wt["ws_files"], wt["ws_bytes"]),
          f"the working set (app.ws + t2.jsonl) is condafs workset's of both traces: "
          f"{wt['ws_files']} files, {wt['ws_bytes']} bytes")
    rows = {p["name"] or "(no package)": p for p in d["packages"]}
    check(all(rows[p["name"] or "(no package)"]["ws_bytes"] == p["ws_bytes"] for p in ws["packages"]),
          "... per package too")
    e = d["export"]
    tar = os.path.getsize(os.path.join(DIR, "layer.tar"))
    check(e["of"] == "workset" and e["tar_bytes"] == tar, f"the export figure is the tar export writes: {tar} bytes")
    out = load("export.out")
    check(f"{e['files']} files, {e['symlinks']} symlinks, {e['dirs']} directories" in out,
          f"... and its counts: {out.splitlines()[0]}")
    check(rp.outside_refs(html) == [], f"the page refers to nothing outside it {rp.outside_refs(html)[:3]}")
    print(f"     page: {len(html)} bytes for {t['files']} files ({len(html) / t['files']:.1f} bytes a file)")
    check(len(html) < 60 * t["files"], "the page stays compact: under 60 bytes a file")


def shares(d):
    """Bytes of each state key (0 working set, 1 kept, 2 + rule pruned)."""
    out = collections.Counter()
    for f in rp.files(d):
        out[2 + f["rule"] if f["state"] == 2 else f["state"]] += f["size"]
    return out


def legend(dom):
    """The legend the page drew: {key: colour}."""
    return {int(k): c for k, c in re.findall(r'<span class="item" data-key="(\d+)" data-colour="(#[0-9a-f]{6})"', dom)}


def render_checks(label, page, d):
    shot = os.path.join(DIR, page + ".png")
    rc, _ = chromium(page, f"--screenshot={shot}")
    check(rc == 0 and os.path.exists(shot), f"{label}: chromium took a screenshot")
    rc, dom = chromium(page, "--dump-dom")
    check(rc == 0 and "</html>" in dom, f"{label}: chromium dumped the DOM")
    if not os.path.exists(shot) or not dom:
        return
    # The JavaScript ran: it drew the treemap and filled the summary and the tables.
    svg = re.search(r'<svg id="tm".*?</svg>', dom, re.S)
    rects = len(re.findall(r"<rect ", svg.group(0))) if svg else 0
    check(rects > 300, f"{label}: the treemap is drawn: {rects} rects")
    t = d["totals"]
    check(re.search(rf'id="sum-env-bytes" data-value="{t["bytes"]}"', dom)
          and f'id="sum-env-files">{fmt_int(t["files"])} files and symlinks<' in dom
          and f'id="sum-pruned-files">{fmt_int(t["pruned_files"])} files and symlinks<' in dom,
          f"{label}: the summary shows the environment's and the pruned files: {fmt_int(t['files'])}, "
          f"{fmt_int(t['pruned_files'])}")
    check(f'id="sum-export-bytes" data-value="{d["export"]["tar_bytes"]}"' in dom,
          f"{label}: ... and the export's tar")
    if d["has_workset"]:
        check(f'id="sum-ws-bytes" data-value="{t["ws_bytes"]}"' in dom, f"{label}: ... and the working set")
    else:
        check('id="sum-ws-bytes"' not in dom, f"{label}: no working set card without a working set")
    table = re.search(r'<table id="packages".*?</table>', dom, re.S)
    body = re.search(r"<tbody>.*?</tbody>", table.group(0), re.S).group(0) if table else ""
    n_pkgs = sum(1 for p in d["packages"] if p["files"])
    check(body.count("<tr>") == n_pkgs, f"{label}: the package table has a row per package ({n_pkgs})")
    check('id="footer"' in dom and "condafs report of " in dom, f"{label}: the script ran to its end")
    # Zoomed through the address, as a click sets it: the path and the box's files.
    zdir = "lib/python3.11/json"
    n = sum(1 for f in rp.files(d) if f["path"].startswith(zdir + "/"))
    rc, zdom = chromium(page + "#python/" + zdir, "--dump-dom")
    crumbs = re.search(r'<nav id="crumbs".*?</nav>', zdom, re.S)
    names = re.findall(r">([^<>]+)</button>", crumbs.group(0)) if crumbs else []
    zrects = len(re.findall(r"<rect ", re.search(r'<svg id="tm".*?</svg>', zdom, re.S).group(0))) if crumbs else 0
    check(names == ["environment", "python", "lib", "python3.11", "json"]
          and '<button type="button" aria-current="true">json</button>' in zdom
          and f", {fmt_int(n)} files</span>" in zdom and 0 < zrects < rects,
          f"{label}: zoomed into python's {zdir}: path {' > '.join(names)}, {n} files, {zrects} rects")

    # The screenshot: not blank, and the legend's colours cover the treemap as the bytes say.
    w, h, rows = rp.png_pixels(shot)
    counts = collections.Counter(p for row in rows for p in row)
    check((w, h) == WINDOW and len(counts) > 200, f"{label}: the screenshot is not blank: {len(counts)} colours")
    colours = legend(dom)
    by_key = shares(d)
    want = {k for k, b in by_key.items() if b >= 0.03 * t["bytes"]}
    check(want and want <= set(colours) and len({colours[k] for k in want}) == len(want)
          and not {colours.get(0), colours.get(1)} & {c for k, c in colours.items() if k >= 2},
          f"{label}: the legend has a distinct colour for each large state, and pruned ones "
          f"are not the working set's or the kept one's: {sorted(want)}")
    if not d["has_workset"]:
        check(0 not in colours and 0 not in by_key, f"{label}: kept against pruned, no working set colour")
    for k in sorted(want):
        c = colours.get(k, "#000000")
        rgb = tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))
        share = by_key[k] / t["bytes"]
        # The treemap is about 600 of the 1000 rows; ask for a third of the share.
        need = int(share * w * 600 / 3)
        check(counts[rgb] >= need, f"{label}: colour {c} ({share:.0%} of the bytes) covers "
              f"{counts[rgb]} pixels (at least {need})")


def main():
    html = load("report.html")
    d = rp.data(html)
    data_checks(d, html)
    plain_html = load("plain.html")
    dp = rp.data(plain_html)
    all_tar = os.path.getsize(os.path.join(DIR, "all.tar"))
    check(not dp["has_workset"] and dp["export"]["of"] == "all" and dp["export"]["tar_bytes"] == all_tar
          and all(f["state"] != 0 for f in rp.files(dp)),
          f"without a working set: kept against pruned, and export --all's tar ({all_tar} bytes)")
    check(rp.sums(dp)[0]["kept_bytes"] == rp.sums(d)[0]["kept_bytes"] and rp.outside_refs(plain_html) == [],
          "... with the same environment, and nothing outside the page")
    render_checks("with a working set", "report.html", d)
    render_checks("without a working set", "plain.html", dp)
    return summary(need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
