#!/usr/bin/env python3
"""Driver for bench/bytecode.sh, inside its private mount namespace with an
empty /env.  usage: bytecode.py CONDAFS WORKDIR PYENV-SOURCE-DIR"""
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import WORKLOADS, sh  # noqa: E402

CONDAFS, WORK, SRC = sys.argv[1], sys.argv[2], sys.argv[3]
ROUNDS = int(os.environ.get("CFS_BENCH_ROUNDS", "7"))
ENV = "/env"
LOCK = os.path.join(SRC, "conda-lock.yml")
INDEX = os.path.join(SRC, "env.cfs")
STORE = os.path.join(SRC, "store")


def log(msg):
    print(f"bytecode: {msg}", file=sys.stderr, flush=True)


def umount_env():
    for args in (["umount", ENV], ["umount", "-l", ENV]):
        subprocess.run(args, stderr=subprocess.DEVNULL)


def timed(argv):
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def index(out, store, cache, *extra):
    t0 = time.perf_counter()
    sh(CONDAFS, "index", LOCK, "-o", out, "--store", store, "--cache", cache, "-q", *extra)
    return time.perf_counter() - t0


def export_all(idx, out):
    sh(CONDAFS, "export", idx, "--all", "-o", out, "--format", "dir", "--store", STORE, "-q",
       "--no-cache")
    return os.path.join(out, ENV.lstrip("/"))


def bind_ro(d):
    sh("mount", "--bind", d, ENV)
    sh("mount", "-o", "remount,bind,ro", ENV)


def main():
    startup = WORKLOADS["startup"]
    # Index wall time, empty caches and stores, compiling and not.
    times = {}
    for name, extra in (("no-compile", ["--no-compile"]), ("compile", [])):
        d = os.path.join(WORK, f"idx-{name}")
        os.makedirs(d)
        times[name] = index(os.path.join(d, "env.cfs"), os.path.join(d, "store"),
                            os.path.join(d, "pkgs"), *extra)
        log(f"index {name}: {times[name]:.2f} s")
    nc = os.path.join(WORK, "idx-no-compile", "env.cfs")
    sh(CONDAFS, "index", LOCK, "-o", nc, "--store", STORE, "--cache",
       os.path.join(WORK, "idx-no-compile", "pkgs"), "-q", "--no-compile")

    plain = {"compiled": export_all(INDEX, os.path.join(WORK, "compiled")),
             "none": export_all(nc, os.path.join(WORK, "none")),
             "compileall": export_all(nc, os.path.join(WORK, "compileall"))}
    sh("mount", "--bind", plain["compileall"], ENV)
    sp = sh(f"{ENV}/bin/python3", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    sh(f"{ENV}/bin/python3", "-m", "compileall", "-q", "-j", "0", sp.stdout.strip())
    umount_env()

    cache = os.path.join(WORK, "cache")
    sh(CONDAFS, "mount", INDEX, ENV, "--store", STORE, "--cache", cache)
    subprocess.run(startup, check=True, stdout=subprocess.DEVNULL)  # fills the cache
    umount_env()

    runs = {k: [] for k in ("compileall", "compiled", "none", "mount")}
    for r in range(ROUNDS + 1):
        for kind in runs:
            if kind == "mount":
                sh(CONDAFS, "mount", INDEX, ENV, "--store", STORE, "--cache", cache)
            else:
                bind_ro(plain[kind])
            subprocess.run(startup, check=True, stdout=subprocess.DEVNULL)  # page cache
            dt = timed(startup)
            umount_env()
            if r:  # the first round warms up
                runs[kind].append(dt)
    med = {k: statistics.median(v) for k, v in runs.items()}

    # Working sets of the start-up and entry-point workloads, exported.
    info = json.loads(sh(CONDAFS, "info", "--json", INDEX).stdout)
    env_bytes = info.get("bytes") or info.get("total_bytes")
    traces = []
    for w in ("startup", "entrypoint"):
        tr = os.path.join(WORK, f"{w}.trace")
        sh(CONDAFS, "mount", INDEX, ENV, "--store", STORE, "--cache", cache, "--trace", tr)
        subprocess.run(WORKLOADS[w], check=True, stdout=subprocess.DEVNULL)
        umount_env()
        traces.append(tr)
    ws = os.path.join(WORK, "demo.ws")
    sh(CONDAFS, "workset", *traces, "--index", INDEX, "-o", ws, "-q")
    layer = os.path.join(WORK, "demo-layer")
    sh(CONDAFS, "export", INDEX, "--workset", ws, "-o", layer, "--format", "dir", "-q",
       "--store", STORE, "--no-cache")
    ws_bytes = pyc_bytes = 0
    for root, _, files in os.walk(layer):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            ws_bytes += st.st_size
            if f.endswith(".pyc"):
                pyc_bytes += st.st_size

    print(f"\nPython start-up ({len(startup[-1].split(','))} imports), page cache warm, "
          f"median of {ROUNDS} interleaved rounds, seconds:")
    print(f"{'':12} {'median':>8} {'/ compileall':>13}")
    for k in ("compileall", "compiled", "none", "mount"):
        print(f"{k:12} {med[k]:8.3f} {med[k] / med['compileall']:13.2f}")
    print(f"mount / compiled (warm mount against the same tree as a plain directory): "
          f"{med['mount'] / med['compiled']:.2f}")
    print(f"\ncondafs index, empty caches: --no-compile {times['no-compile']:.2f} s, "
          f"compiling {times['compile']:.2f} s ({times['compile'] / times['no-compile'] - 1:+.0%})")
    if env_bytes:
        print(f"working set of start-up + entry point, exported: {ws_bytes / 2**20:.1f} MiB "
              f"({pyc_bytes / 2**20:.1f} MiB bytecode) of {env_bytes / 2**20:.1f} MiB "
              f"({ws_bytes / env_bytes:.1%})")
    out = os.environ.get("CFS_BYTECODE_JSON") or os.path.join(WORK, "bytecode.json")
    with open(out, "w") as f:
        json.dump({"runs": runs, "median": med, "index_s": times, "ws_bytes": ws_bytes,
                   "pyc_bytes": pyc_bytes, "env_bytes": env_bytes}, f, indent=1)


if __name__ == "__main__":
    main()
