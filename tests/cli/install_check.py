#!/usr/bin/env python3
"""End-to-end checks of condafs index against an independent reference.

  install_check.py CONDAFS synthetic   packages written by Debian's cph covering
                                       every install rule, both lock formats,
                                       two prefixes (one with a space)
  install_check.py CONDAFS http        the same channel served by nginx on
                                       127.0.0.1 through --mirror
  install_check.py CONDAFS realistic   this machine's Python as conda packages;
                                       /env/bin/python3 and entry points run
                                       from an extraction bound at /env

Each index is extracted with `condafs ls -R --json` + `condafs cat` and compared
file by file (type, mode, size, mtime, symlink target, content) with the tree
tests/fixtures/reference.py computes on its own from the same archives; files
without placeholders are also checked against their paths.json sha256.
"""
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
import nginx  # noqa: E402
from testlib import check, run, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])


def fixture(script, out):
    r = run(sys.executable, os.path.join(FIX, script), out)
    if r.returncode != 0:
        sys.exit(f"fixture {script} failed:\n{r.stdout}{r.stderr}")


def index(lock, out, work, *extra):
    r = run(CONDAFS, "index", lock, "-o", out, "--store", os.path.join(work, "store"),
            "--cache", os.path.join(work, "cache"), "-j", "2", *extra)
    check(r.returncode == 0 and os.path.exists(out),
          f"index {os.path.basename(lock)} {' '.join(extra)}" +
          ("" if r.returncode == 0 else f": {r.stderr.strip()}"))
    return r


def extract(cfs, dest):
    r = run(sys.executable, os.path.join(FIX, "extract.py"), CONDAFS, cfs, dest)
    check(r.returncode == 0, f"extract {os.path.basename(cfs)}" +
          ("" if r.returncode == 0 else f": {r.stdout}{r.stderr}"))


def against_reference(lock, env, work, prefix, label, python):
    """python: the interpreter the environment's python runs, which the
    reference compiles noarch bytecode with, as conda would."""
    ref = os.path.join(work, "ref-" + label)
    r = run(sys.executable, os.path.join(FIX, "reference.py"), lock, "--out", ref,
            "--prefix", prefix, "--force", "--python", python)
    if not check(r.returncode == 0, f"{label}: reference install" +
                 ("" if r.returncode == 0 else f": {r.stderr}")):
        return
    r = run(sys.executable, os.path.join(FIX, "compare.py"), ref, env, "--skip",
            "conda-meta", "--max", "40")
    check(r.returncode == 0, f"{label}: tree equals the reference installation" +
          ("" if r.returncode == 0 else ":\n" + r.stdout))
    r = run(sys.executable, os.path.join(FIX, "reference.py"), lock, "--check-paths", env,
            "--prefix", prefix)
    check(r.returncode == 0, f"{label}: files without placeholders match paths.json" +
          ("" if r.returncode == 0 else ":\n" + r.stdout + r.stderr))
    # conda-meta: one record per package plus history, and the records parse.
    names = sorted(os.listdir(os.path.join(env, "conda-meta")))
    with open(os.path.join(ref, "..", "manifest-" + label + ".json"), "w") as f:
        pass
    recs = [n for n in names if n.endswith(".json")]
    ok = "history" in names and recs
    for n in recs:
        with open(os.path.join(env, "conda-meta", n)) as f:
            rec = json.load(f)
        ok = ok and n == f"{rec['name']}-{rec['version']}-{rec['build']}.json" and \
            rec["files"] and rec["sha256"] and rec["url"]
    check(bool(ok), f"{label}: conda-meta has history and a valid record per package")


def synthetic(work):
    chan = os.path.join(work, "chan")
    fixture("mkchannel.py", chan)
    for lock in ("explicit.txt", "conda-lock.yml"):
        for prefix, tag in (("/env", "env"), ("/opt/my env", "space")):
            label = f"{lock}-{tag}"
            cfs = os.path.join(work, label + ".cfs")
            skip = ["--skip-unbuildable"] if lock == "conda-lock.yml" else []
            r = index(os.path.join(chan, lock), cfs, work, "--prefix", prefix, *skip)
            if r.returncode:
                continue
            if lock == "conda-lock.yml" and tag == "env":
                check("skipping 1 entry condafs cannot install: six (a source distribution)"
                      in r.stderr, "pip sdist skipped with a warning naming it")
                r2 = run(CONDAFS, "index", os.path.join(chan, lock), "-o", cfs + ".no",
                         "--store", os.path.join(work, "store"), "--cache",
                         os.path.join(work, "cache"), "--prefix", prefix)
                check(r2.returncode == 1 and len(r2.stderr.splitlines()) == 1 and
                      "six (https://" in r2.stderr and "a source distribution" in r2.stderr
                      and not os.path.exists(cfs + ".no"),
                      f"without --skip-unbuildable the sdist is refused: {r2.stderr.strip()}")
                check("replaces the file from clobber-base" in r.stderr,
                      "clobbering warning names both packages")
                check("post-link.sh is not run" in r.stderr, "link scripts listed")
                info = json.loads(run(CONDAFS, "info", cfs, "--json").stdout)
                check(any(p["status"] == "skipped" and p["manager"] == "pip"
                          for p in info["package_list"]), "pip entry recorded as skipped")
            env = os.path.join(work, "ext-" + label)
            extract(cfs, env)
            # mkchannel.py's python package runs /usr/bin/python3.
            against_reference(os.path.join(chan, lock), env, work, prefix, label,
                              "/usr/bin/python3")
    # The same content indexed twice lands in the store once.
    objs = sum(len(fs) for _, _, fs in os.walk(os.path.join(work, "store", "objects")))
    info = json.loads(run(CONDAFS, "info", os.path.join(work, "explicit.txt-env.cfs"),
                          "--json").stdout)
    check(objs >= info["objects"] and objs < 4 * info["objects"],
          f"store deduplicates across indexes ({objs} objects for 4 indexes of "
          f"{info['objects']} each)")


def http(work):
    if not nginx.available():
        print("SKIP: nginx is not installed")
        sys.exit(77)
    chan = os.path.join(work, "chan")
    fixture("mkchannel.py", chan)
    local = os.path.join(work, "local.cfs")
    index(os.path.join(chan, "explicit.txt"), local, os.path.join(work, "l"))
    with nginx.Nginx(os.path.join(chan, "channel")) as ng:
        remote = os.path.join(work, "remote.cfs")
        w = os.path.join(work, "r")
        index(os.path.join(chan, "explicit.txt"), remote, w, "--mirror",
              "file://" + os.path.join(chan, "channel") + "=" + ng.url)
        n = ng.requests()
        check(n >= 10, f"packages were fetched over HTTP ({n} requests)")
        a = run(CONDAFS, "ls", local, "-R", "--json").stdout
        b = run(CONDAFS, "ls", remote, "-R", "--json").stdout
        strip = lambda s: [l for l in s.splitlines() if "conda-meta" not in l]
        check(strip(a) == strip(b) and a, "an index over HTTP equals the local one")
        index(os.path.join(chan, "explicit.txt"), remote, w, "--mirror",
              "file://" + os.path.join(chan, "channel") + "=" + ng.url)
        check(ng.requests() == n, "a second run is served from the package cache")
        pkgs = os.listdir(os.path.join(w, "cache", "pkgs"))
        check(pkgs and not any(p.startswith(".") for p in pkgs),
              "the package cache holds only verified files")


BWRAP = ["bwrap", "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
         "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
         "--unshare-net", "--setenv", "PATH", "/env/bin:/usr/bin"]


def realistic(work):
    if not shutil.which("bwrap"):
        print("SKIP: bubblewrap is not installed")
        sys.exit(77)
    chan = os.path.join(work, "pyenv")
    fixture("mkpyenv.py", chan)
    cfs = os.path.join(work, "env.cfs")
    if index(os.path.join(chan, "conda-lock.yml"), cfs, work).returncode:
        return
    env = os.path.join(work, "ext")
    extract(cfs, env)
    # mkpyenv.py converted the interpreter running this script.
    against_reference(os.path.join(chan, "conda-lock.yml"), env, work, "/env", "pyenv",
                      os.path.realpath(os.path.join(sys.base_prefix, "bin", "python3")))
    cmd = BWRAP + ["--ro-bind", env, "/env"]
    r = run(*cmd, "/env/bin/python3", "-c",
            "import json, sqlite3, ssl, sys, flask, jinja2, click, pygments; "
            "print(sys.prefix, sys.version.split()[0])")
    want = run(sys.executable, "-c", "import sys; print(sys.version.split()[0])").stdout
    check(r.returncode == 0 and r.stdout.split() == ["/env", want.strip()],
          f"/env/bin/python3 imports json, sqlite3, ssl and site-packages: "
          f"{(r.stdout + r.stderr).strip()}")
    r = run(*cmd, "/env/bin/flask", "--version")
    check(r.returncode == 0 and "Flask" in r.stdout, f"entry point flask runs: {r.stdout.strip()}")
    r = run(*cmd, "/env/bin/pygmentize", "-V")
    check(r.returncode == 0 and "Pygments" in r.stdout, "entry point pygmentize runs")
    # Without relocation the interpreter cannot find libpython: prove the
    # check above depends on the binary prefix replacement.
    with open(os.path.join(env, "bin", "python3"), "rb") as f:
        data = f.read()
    check(b"/env/lib" in data, "bin/python3 carries the relocated RUNPATH /env/lib")


def main():
    mode = sys.argv[2]
    work = tempfile.mkdtemp(prefix=f"cfs-{mode}-")
    try:
        {"synthetic": synthetic, "http": http, "realistic": realistic}[mode](work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary(need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
