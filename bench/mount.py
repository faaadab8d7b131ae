#!/usr/bin/env python3
"""Driver for bench/mount.sh; runs inside its private mount namespace with
an empty /env.  usage: mount.py CONDAFS WORKDIR"""
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import nginx  # noqa: E402
from workloads import WORKLOADS as ALL_WORKLOADS, drop_caches, sh  # noqa: E402

CONDAFS, WORK = sys.argv[1], sys.argv[2]
RUNS = int(os.environ.get("CFS_BENCH_RUNS", "5"))
# plain and squash are the references; cold-read and warm-read are cold and
# warm with --no-passthrough (every read through the daemon); warm-noopen is
# warm with --no-open (no OPEN or RELEASE requests, no passthrough); hp is
# libfuse's passthrough_hp example serving the plain tree (CFS_BENCH_HP,
# set by mount.sh), a FUSE server that does nothing but pass through.
VARIANTS = ["plain", "squash"] + os.environ.get(
    "CFS_BENCH_VARIANTS", "cold warm warm-read http").split()
# CFS_BENCH_WORKLOADS picks some of startup, entrypoint, walk, readall, requests.
WORKLOADS = {w: ALL_WORKLOADS[w] for w in os.environ.get(
    "CFS_BENCH_WORKLOADS", " ".join(ALL_WORKLOADS)).split()}
ENV = "/env"
INDEX = os.path.join(WORK, "env.cfs")
STORE = os.path.realpath(os.path.join(WORK, "store"))


def umount_env():
    subprocess.run(["umount", ENV], stderr=subprocess.DEVNULL)
    subprocess.run(["umount", "-l", ENV], stderr=subprocess.DEVNULL)


def daemon_rss_kb():
    try:
        st = json.loads(sh(CONDAFS, "stats", "--json", ENV).stdout)
        with open(f"/proc/{st['pid']}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (subprocess.CalledProcessError, OSError, KeyError, ValueError):
        pass
    return 0


def prepare():
    plain = os.path.join(WORK, "plain")
    if not os.path.isdir(plain):
        sh(sys.executable, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                        "extract.py"), CONDAFS, INDEX, plain)
    img = os.path.join(WORK, "env.squashfs")
    if not os.path.exists(img):
        sh("mksquashfs", plain, img, "-comp", "zstd", "-quiet", "-no-progress")
    return plain, img


# Every cold run gets a new, empty cache directory, and the old ones are
# removed only when the benchmark ends.  Removing the last run's cache just
# before the next cold run would time something a cold cache on a fresh node
# does not pay: on a file system without a journal, ext4's inode allocator
# skips inodes freed in the last 30 s (dirty_expire_centisecs), scanning the
# inode table past every file just deleted.
OLD_CACHES = os.path.join(WORK, "old-caches")


def retire(cache):
    if os.path.exists(cache):
        os.makedirs(OLD_CACHES, exist_ok=True)
        os.rename(cache, os.path.join(OLD_CACHES, f"{os.path.basename(cache)}-{time.time_ns()}"))


def remove_old_caches(pause):
    """Removes retired caches; with pause, waits until the allocator stops
    skipping the inodes they held."""
    if os.path.isdir(OLD_CACHES):
        shutil.rmtree(OLD_CACHES)
        if pause:
            print("bench: removed the caches of an earlier run; waiting 31 s for "
                  "their inodes to be reusable", file=sys.stderr)
            os.sync()
            time.sleep(31)


def mounter(kind, plain, img, url):
    # "warm-read": the warm cache, every read served by the daemon.
    cache = os.path.join(WORK, "cache-" + kind.split("-")[0])
    extra = (["--no-passthrough"] if kind.endswith("-read") else
             ["--no-open"] if kind.endswith("-noopen") else [])

    def mount(fresh_cache):
        if kind == "plain":
            sh("mount", "--bind", plain, ENV)
        elif kind == "squash":
            sh("squashfuse_ll", img, ENV)
        elif kind == "hp":
            sh(os.environ["CFS_BENCH_HP"], plain, ENV)
        else:
            if fresh_cache:
                retire(cache)
            store = url if kind == "http" else STORE
            sh(CONDAFS, "mount", INDEX, ENV, "--store", store, "--cache", cache,
               "--log-file", os.path.join(WORK, "daemon-bench.log"), *extra)
    return mount


def runs_here(variant, workload):
    """passthrough_hp holds a descriptor for every inode the kernel knows,
    and raises its limit to the hard limit: reading every file needs more
    than that where the hard limit is low."""
    if variant != "hp" or workload != "readall":
        return True
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return hard == resource.RLIM_INFINITY or hard > 100000


def machine():
    """One line on what sets the cost of a FUSE round trip here."""
    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return "?"
    return (f"machine: {os.cpu_count()} CPUs, kernel {os.uname().release}, cpuidle "
            f"{read('/sys/devices/system/cpu/cpuidle/current_driver')}, guest_halt_poll_ns "
            f"{read('/sys/module/haltpoll/parameters/guest_halt_poll_ns')}, fuse enable_uring "
            f"{read('/sys/module/fuse/parameters/enable_uring')}")


def main():
    plain, img = prepare()
    for kind in ("cold", "http"):  # cold-read shares cache-cold
        retire(os.path.join(WORK, "cache-" + kind))
    remove_old_caches(pause=True)
    dropped = drop_caches()
    results = {}
    rss = {}
    with nginx.Nginx(STORE) as ng:
        fresh = {"cold": True, "cold-read": True, "http": True}
        variants = {v: (mounter(v, plain, img, ng.url), fresh.get(v, False))
                    for v in VARIANTS}
        # Warm the warm variant's cache once with every workload.
        mounter("warm", plain, img, ng.url)(True)
        for argv in WORKLOADS.values():
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        umount_env()
        for w, argv in WORKLOADS.items():
            for run in range(RUNS):
                # Interleave the variants so machine noise hits all of them.
                for v, (mount, fresh) in variants.items():
                    if not runs_here(v, w):
                        continue
                    mount(fresh)
                    drop_caches()
                    t0 = time.perf_counter()
                    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    dt = time.perf_counter() - t0
                    if p.returncode != 0:
                        sys.exit(f"bench: {v}/{w} failed: {p.stderr.decode()[-400:]}")
                    if v not in ("plain", "squash", "hp"):
                        rss[v] = max(rss.get(v, 0), daemon_rss_kb())
                    umount_env()
                    results.setdefault((v, w), []).append(dt)
    remove_old_caches(pause=False)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\ncondafs mount benchmark: median of {RUNS} runs, fresh mount each run, "
          f"page cache {'dropped' if dropped else 'hot (CFS_BENCH_KEEP_PAGE_CACHE)' if os.environ.get('CFS_BENCH_KEEP_PAGE_CACHE') else 'NOT dropped (no permission)'}")
    print(machine())
    width = {v: max(10, len(v) + 2) for v in variants}
    print(f"{'workload':14}" + "".join(f"{v:>{width[v]}}" for v in variants) + "   (seconds)")
    def cell(v, w, ratio):
        if (v, w) not in med:
            return f"{'n/a':>{width[v]}}"
        x = med[(v, w)] / med[("plain", w)] if ratio else med[(v, w)]
        return f"{x:{width[v]}.{2 if ratio else 3}f}"
    for w in WORKLOADS:
        print(f"{w:14}" + "".join(cell(v, w, False) for v in variants))
    print(f"\n{'ratio to plain':14}" + "".join(f"{v:>{width[v]}}" for v in variants))
    for w in WORKLOADS:
        print(f"{w:14}" + "".join(cell(v, w, True) for v in variants))
    def target(label, v, w, ref, rw, limit):
        if (v, w) in med and (ref, rw) in med:
            print(f"  {label:32} {med[(v, w)] / med[(ref, rw)]:.2f}x (<= {limit}x)")
    print("\ntargets:")
    target("warm start-up / plain start-up:", "warm", "startup", "plain", "startup", 1.1)
    target("warm read-all / plain read-all:", "warm", "readall", "plain", "readall", 1.2)
    target("cold start-up / squashfuse:", "cold", "startup", "squash", "startup", 1.0)
    target("metadata walk / squashfuse:", "cold", "walk", "squash", "walk", 1.0)
    target("http start-up / local cold:", "http", "startup", "cold", "startup", 1.5)
    print(f"  daemon peak RSS (this env):      " +
          ", ".join(f"{v} {kb / 1024:.1f} MB" for v, kb in rss.items()))


if __name__ == "__main__":
    main()
