#!/usr/bin/env python3
"""Driver for bench/mount.sh; runs inside its private mount namespace with
an empty /env.  usage: mount.py CONDAFS WORKDIR"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "cli"))
import nginx  # noqa: E402
from workloads import WORKLOADS, drop_caches, sh  # noqa: E402

CONDAFS, WORK = sys.argv[1], sys.argv[2]
RUNS = int(os.environ.get("CFS_BENCH_RUNS", "5"))
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
    cache = os.path.join(WORK, "cache-" + kind)

    def mount(fresh_cache):
        if kind == "plain":
            sh("mount", "--bind", plain, ENV)
        elif kind == "squash":
            sh("squashfuse_ll", img, ENV)
        else:
            if fresh_cache:
                retire(cache)
            store = url if kind == "http" else STORE
            sh(CONDAFS, "mount", INDEX, ENV, "--store", store, "--cache", cache,
               "--log-file", os.path.join(WORK, "daemon-bench.log"))
    return mount


def main():
    plain, img = prepare()
    for kind in ("cold", "http"):
        retire(os.path.join(WORK, "cache-" + kind))
    remove_old_caches(pause=True)
    dropped = drop_caches()
    results = {}
    rss = {}
    with nginx.Nginx(STORE) as ng:
        variants = {
            "plain": (mounter("plain", plain, img, ng.url), False),
            "squash": (mounter("squash", plain, img, ng.url), False),
            "cold": (mounter("cold", plain, img, ng.url), True),
            "warm": (mounter("warm", plain, img, ng.url), False),
            "http": (mounter("http", plain, img, ng.url), True),
        }
        # Warm the warm variant's cache once with every workload.
        variants["warm"][0](True)
        for argv in WORKLOADS.values():
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        umount_env()
        for w, argv in WORKLOADS.items():
            for run in range(RUNS):
                # Interleave the variants so machine noise hits all of them.
                for v, (mount, fresh) in variants.items():
                    mount(fresh)
                    drop_caches()
                    t0 = time.perf_counter()
                    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    dt = time.perf_counter() - t0
                    if p.returncode != 0:
                        sys.exit(f"bench: {v}/{w} failed: {p.stderr.decode()[-400:]}")
                    if v in ("cold", "warm", "http"):
                        rss[v] = max(rss.get(v, 0), daemon_rss_kb())
                    umount_env()
                    results.setdefault((v, w), []).append(dt)
    remove_old_caches(pause=False)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\ncondafs mount benchmark: median of {RUNS} runs, fresh mount each run, "
          f"page cache {'dropped' if dropped else 'NOT dropped (no permission)'}")
    print(f"{'workload':12}" + "".join(f"{v:>10}" for v in variants) + "   (seconds)")
    for w in WORKLOADS:
        print(f"{w:12}" + "".join(f"{med[(v, w)]:10.3f}" for v in variants))
    print(f"\n{'ratio to plain':12}" + "".join(f"{v:>10}" for v in variants))
    for w in WORKLOADS:
        print(f"{w:12}" + "".join(f"{med[(v, w)] / med[('plain', w)]:10.2f}" for v in variants))
    s = lambda v, w: med[(v, w)]
    print("\ntargets:")
    print(f"  warm start-up / plain start-up:  {s('warm', 'startup') / s('plain', 'startup'):.2f}x (<= 1.1x)")
    print(f"  cold start-up / squashfuse:      {s('cold', 'startup') / s('squash', 'startup'):.2f}x (<= 1.0x)")
    print(f"  metadata walk / squashfuse:      {s('cold', 'walk') / s('squash', 'walk'):.2f}x (<= 1.0x)")
    print(f"  http start-up / local cold:      {s('http', 'startup') / s('cold', 'startup'):.2f}x (<= 1.5x)")
    print(f"  daemon peak RSS (this env):      " +
          ", ".join(f"{v} {kb / 1024:.1f} MB" for v, kb in rss.items()))


if __name__ == "__main__":
    main()
