#!/usr/bin/env python3
"""Driver for bench/network.sh; runs as root inside its private mount and
network namespaces, with an empty /env.  usage: network.py CONDAFS WORKDIR

Settings come from the environment (see bench/network.sh --help)."""
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from workloads import WORKLOADS, drop_caches, sh  # noqa: E402

CONDAFS, WORK = sys.argv[1], os.path.realpath(sys.argv[2])
ENV = "/env"
INDEX = os.path.join(WORK, "env.cfs")
STORE = os.path.realpath(os.path.join(WORK, "store"))
NGINX = "/usr/sbin/nginx"


def env_list(name, default):
    return os.environ.get(name, default).split()


RTTS = [float(x) for x in env_list("CFS_NET_RTTS", "0 2 20 50")]
RATES = env_list("CFS_NET_RATES", "unlimited 100mbit")
RUNS = int(os.environ.get("CFS_NET_RUNS", "3"))
RUNS_READALL = int(os.environ.get("CFS_NET_RUNS_READALL", "1"))
WORKLOAD_NAMES = env_list("CFS_NET_WORKLOADS", "startup entrypoint readall")
ONLY = env_list("CFS_NET_VARIANTS", "")
SQUASH = os.environ.get("CFS_NET_SQUASH", "1") == "1"
JSON_OUT = os.environ.get("CFS_NET_JSON") or os.path.join(WORK, "network.json")
TBF_BURST = os.environ.get("CFS_NET_BURST", "128kb")
# Added to every `condafs mount` (e.g. "-vv": the daemon's fetch timeline
# goes to the daemon's log, CFS_NET_DAEMON_LOG, kept after the run).
MOUNT_EXTRA = os.environ.get("CFS_NET_MOUNT_ARGS", "").split()
DAEMON_LOG = os.environ.get("CFS_NET_DAEMON_LOG") or os.path.join(WORK, "daemon.log")

# The variants measured in every cell, each on a fresh mount with an empty
# cache, timed from starting `condafs mount` to the workload's end.  Add a
# mechanism here: a name, the extra `condafs mount` arguments, the store
# (http: plain HTTP through the delaying proxy; h1/h2: HTTPS through it,
# HTTP/1.1 only or HTTP/2 offered), the index (default: the environment's
# own), commands to run once per workload before the grid (prep), and
# what the built condafs must know: "--flag" must appear in `condafs mount
# --help`, "cmd:NAME" must be a command.  A variant whose needs are not met
# is reported as n/a.  Templates: {condafs} {index} (the environment's
# index) {ws} and {trace} (the workload's working set and the trace it was
# made from, profiled at 0 ms from the local store) {ca} (the CA of the
# HTTPS servers) {work} {workload}.
VARIANTS = [
    dict(name="lazy", args=[]),
    dict(name="prefetch", args=["--prefetch", "{ws}"], needs=["--prefetch"]),
    # Packs: the default once the index has packs; --no-packs is the marker
    # that the built condafs knows them.
    dict(name="packs", args=[], needs=["--no-packs"]),
    dict(name="nopacks", args=["--no-packs"], needs=["--no-packs"]),
    # More speculation per open: fewer round trips, more bytes.
    dict(name="spec1m", args=["--speculate", "1M"], needs=["--speculate"]),
    dict(name="spec4m", args=["--speculate", "4M"], needs=["--speculate"]),
    # Whole packs after a miss: never, or always (the default: on a fast link).
    dict(name="nostream", args=["--stream-packs", "never"], needs=["--stream-packs"]),
    dict(name="stream", args=["--stream-packs", "always"], needs=["--stream-packs"]),
    # The working set's own pack: `condafs pack` records it in a copy of
    # the working set, which the prefetch variant does not see.
    dict(name="wspack", args=["--prefetch", "{work}/wspack-{workload}/app.ws"],
         needs=["--prefetch", "cmd:pack"],
         prep=[["mkdir", "-p", "{work}/wspack-{workload}"],
               ["cp", "{ws}", "{work}/wspack-{workload}/app.ws"],
               ["{condafs}", "pack", "{index}",
                "--workset", "{work}/wspack-{workload}/app.ws", "--trace", "{trace}"]]),
    dict(name="h1", args=["--cacert", "{ca}"], store="h1", needs=["--cacert"]),
    dict(name="h2", args=["--cacert", "{ca}"], store="h2", needs=["--cacert"]),
]
# Baselines in every cell: `download` fetches one .tar.zst of the whole
# environment through the same proxy, extracts it and runs the workload
# from the extraction bound at /env.  References, also in every cell, no
# network: `local` (condafs cold start from the store directory) and
# `squash` (squashfuse_ll on a zstd squashfs image, mount included).
BASELINES = ["download"]
REFERENCES = ["local", "squash"] if SQUASH else ["local"]


def log(msg):
    print(f"network: {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def umount_env():
    subprocess.run(["umount", ENV], stderr=subprocess.DEVNULL)
    if os.path.ismount(ENV):
        subprocess.run(["umount", "-l", ENV], stderr=subprocess.DEVNULL)


# Every run gets a new cache (or extraction) directory; old ones are removed
# only once they are 31 s old: on ext4 without a journal, the inode
# allocator skips inodes freed in the last 30 s, a cost a fresh node does
# not pay (see bench/mount.py).
OLD = os.path.join(WORK, "old")


def fresh_dir(kind):
    d = os.path.join(WORK, f"{kind}-{time.time_ns()}")
    os.makedirs(d)
    return d


def retire(d):
    if os.path.exists(d):
        os.makedirs(OLD, exist_ok=True)
        os.rename(d, os.path.join(OLD, f"{time.time():.0f}-{os.path.basename(d)}"))


def remove_old(min_age=31):
    if not os.path.isdir(OLD):
        return
    now = time.time()
    for n in os.listdir(OLD):
        if now - float(n.split("-", 1)[0]) >= min_age:
            shutil.rmtree(os.path.join(OLD, n), ignore_errors=True)


# --- what the built condafs knows

MOUNT_HELP = sh(CONDAFS, "mount", "--help").stdout


def has(need):
    if need.startswith("cmd:"):
        return subprocess.run([CONDAFS, need[4:], "--help"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    return re.search(r"(^|[\s,\[])" + re.escape(need) + r"(?![\w-])", MOUNT_HELP, re.M) is not None


def missing(v):
    return [n for n in v.get("needs", []) if not has(n)]


# --- preparation: extraction, image, tarball, TLS, working sets

def prepare():
    plain = os.path.join(WORK, "plain")
    sh(sys.executable, os.path.join(HERE, "..", "tests", "fixtures", "extract.py"),
       CONDAFS, INDEX, plain)
    img = os.path.join(WORK, "env.squashfs")
    if SQUASH:
        sh("mksquashfs", plain, img, "-comp", "zstd", "-quiet", "-no-progress")
    dl = os.path.join(WORK, "dl")
    os.makedirs(dl)
    sh(CONDAFS, "export", INDEX, "--all", "-o", os.path.join(dl, "env.tar.zst"),
       "--format", "tar.zst", "--store", STORE, "--no-cache", "-q")
    return plain, img


def make_tls():
    d = os.path.join(WORK, "tls")
    os.makedirs(d)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem",
       "-days", "30", "-subj", "/CN=condafs bench CA",
       "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    sh("openssl", "req", *ec, "-keyout", f"{d}/server.key", "-out", f"{d}/server.csr",
       "-subj", "/CN=127.0.0.1")
    with open(f"{d}/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    sh("openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem",
       "-CAkey", f"{d}/ca.key", "-CAcreateserial", "-out", f"{d}/server.pem",
       "-days", "30", "-extfile", f"{d}/ext")
    return d


def profile(name, argv):
    """The workload's trace and working set, from the local store at 0 ms."""
    trace = os.path.join(WORK, f"{name}.trace")
    ws = os.path.join(WORK, f"{name}.ws")
    cache = fresh_dir("cache-profile")
    sh(CONDAFS, "mount", INDEX, ENV, "--store", STORE, "--cache", cache, "--trace", trace,
       "--log-file", os.path.join(WORK, "daemon.log"))
    try:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        sh(CONDAFS, "umount", ENV)
    cov = json.loads(sh(CONDAFS, "workset", trace, "-o", ws, "--index", INDEX, "--json").stdout)
    retire(cache)
    return trace, ws, cov.get("total", {})


# --- servers: nginx behind the delaying proxy, tc on lo

class Servers:
    def __init__(self, tls):
        self.tls = tls
        self.direct_port = free_port()
        self.ports = {k: free_port() for k in ("http", "h1", "h2")}
        self.sock = {k: os.path.join(WORK, f"nginx-{k}.sock") for k in self.ports}
        self.nginx = None
        self.proxy = None

    def start_nginx(self):
        d = os.path.join(WORK, "nginx")
        os.makedirs(d, exist_ok=True)
        locs = f"location /store/ {{ alias {STORE}/; }} location /dl/ {{ alias {WORK}/dl/; }}"
        tls = (f"ssl_certificate {self.tls}/server.pem; ssl_certificate_key {self.tls}/server.key; "
               "ssl_protocols TLSv1.2 TLSv1.3;")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log;
daemon off;
user root;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type application/octet-stream;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 300s;
    http2_max_requests 100000;
    server {{ listen 127.0.0.1:{self.direct_port}; listen unix:{self.sock['http']}; {locs} }}
    server {{ listen unix:{self.sock['h1']} ssl; {tls} {locs} }}
    server {{ listen unix:{self.sock['h2']} ssl http2; {tls} {locs} }}
}}
""")
        self.nginx = subprocess.Popen([NGINX, "-p", d, "-c", conf], stderr=subprocess.DEVNULL)
        wait_port(self.direct_port, self.nginx)

    def start_proxy(self, rtt_ms):
        self.stop_proxy()
        routes = [f"127.0.0.1:{self.ports[k]}=unix:{self.sock[k]}" for k in self.ports]
        self.proxy = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "delayproxy.py"), "--delay-ms", str(rtt_ms / 2),
             *routes], stdout=subprocess.PIPE, text=True)
        if self.proxy.stdout.readline().strip() != "ready":
            sys.exit("network: the proxy did not start")

    def stop_proxy(self):
        if self.proxy:
            self.proxy.terminate()
            self.proxy.wait()
            self.proxy = None

    def url(self, kind):
        scheme = "http" if kind == "http" else "https"
        return f"{scheme}://127.0.0.1:{self.ports[kind]}"

    def stop(self):
        self.stop_proxy()
        if self.nginx and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait()


def wait_port(port, proc):
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    sys.exit(f"network: nothing listens on port {port}")


def set_rate(rate):
    """tbf on lo: every byte between the clients (condafs, curl) and the
    proxy crosses lo once; proxy and nginx talk over Unix sockets."""
    subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], stderr=subprocess.DEVNULL)
    if rate != "unlimited":
        sh("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", TBF_BURST,
           "latency", "200ms")


def rate_bits(rate):
    m = re.fullmatch(r"([\d.]+)([kmg]?)bit", rate.lower())
    return float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[m.group(2)] if m else None


def curl_rate(url, *extra):
    """Download speed (bytes/s) of url, to /dev/null."""
    out = sh("curl", "-sSf", *extra, "-o", "/dev/null", "-w", "%{speed_download}", url).stdout
    return float(out)


# --- one timed run

def timed(argv, before):
    """Runs before() (the mount, timed) then the workload; seconds, or None."""
    t0 = time.perf_counter()
    try:
        before()
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except subprocess.CalledProcessError as e:
        log(f"failed: {shlex.join(map(str, e.cmd))}: {e.stderr[-400:] if e.stderr else ''}")
        return None
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        log(f"workload failed: {p.stderr.decode()[-400:]}")
        return None
    return dt


def stats():
    try:
        return json.loads(sh(CONDAFS, "stats", "--json", ENV).stdout)
    except (subprocess.CalledProcessError, ValueError):
        return {}


def run_condafs(argv, index, store, args):
    cache = fresh_dir("cache")
    drop_caches()
    dt = timed(argv, lambda: sh(CONDAFS, "mount", index, ENV, "--store", store,
                                "--cache", cache, "--log-file",
                                DAEMON_LOG, *args, *MOUNT_EXTRA))
    st = stats()
    umount_env()
    retire(cache)
    return dt, {k: st[k] for k in ("objects_fetched", "fetch_errors", "fetch_waits", "fetch_wait_ms") if k in st}


def run_download(argv, url):
    d = fresh_dir("extract")
    drop_caches()
    # Download and extraction overlap (a pipe), as a careful script would do.
    cmd = f"curl -sSf {shlex.quote(url)} | zstd -dcq | tar -xf - -C {shlex.quote(d)}"
    dt = timed(argv, lambda: (sh("bash", "-o", "pipefail", "-c", cmd),
                              sh("mount", "--bind", os.path.join(d, "env"), ENV)))
    umount_env()
    retire(d)
    return dt, {}


def run_squash(argv, img):
    drop_caches()
    dt = timed(argv, lambda: sh("squashfuse_ll", img, ENV))
    umount_env()
    return dt, {}


# --- main

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, w=10, p=3):
    if isinstance(x, str):
        return f"{x:>{w}}"
    return f"{'fail':>{w}}" if x is None else f"{x:{w}.{p}f}"


def main():
    t_start = time.monotonic()
    sh("ip", "link", "set", "lo", "up")
    set_rate("unlimited")
    workloads = {w: WORKLOADS[w] for w in WORKLOAD_NAMES}
    variants = [v for v in VARIANTS if not ONLY or v["name"] in ONLY]
    baselines = [b for b in BASELINES if not ONLY or b in ONLY]
    na = {v["name"]: missing(v) for v in variants}
    for n, m in na.items():
        if m:
            log(f"variant {n}: n/a (condafs does not know {', '.join(m)})")

    log("preparing: extraction, squashfs image, env.tar.zst, TLS, working sets")
    plain, img = prepare()
    tls = make_tls()
    tar_size = os.path.getsize(os.path.join(WORK, "dl", "env.tar.zst"))
    profiles = {}
    for w, argv in workloads.items():
        profiles[w] = profile(w, argv)
        t = profiles[w][2]
        if t:
            log(f"working set of {w}: {t.get('ws_files')} of {t.get('env_files')} files, "
                f"{t.get('ws_bytes', 0) / 2**20:.1f} of {t.get('env_bytes', 0) / 2**20:.1f} MiB")

    def subst(x, w):
        return x.format(condafs=CONDAFS, index=INDEX, ws=profiles[w][1], trace=profiles[w][0],
                        ca=os.path.join(tls, "ca.pem"), work=WORK, workload=w)

    for v in variants:
        if na[v["name"]]:
            continue
        for w in workloads:
            for cmd in v.get("prep", []):
                try:
                    sh(*[subst(c, w) for c in cmd])
                except subprocess.CalledProcessError as e:
                    log(f"variant {v['name']}: prep failed ({e.stderr.strip()[-300:]}): n/a")
                    na[v["name"]] = ["prep failed"]
                    break

    srv = Servers(tls)
    checks = {}
    results = {"references": {}, "cells": []}
    try:
        srv.start_nginx()
        # The proxy must not be the bottleneck: the tarball direct vs through it.
        srv.start_proxy(0)
        tar_url = "/dl/env.tar.zst"
        curl_rate(f"http://127.0.0.1:{srv.direct_port}{tar_url}")     # page cache
        direct = med([curl_rate(f"http://127.0.0.1:{srv.direct_port}{tar_url}") for _ in range(3)])
        proxied = med([curl_rate(srv.url("http") + tar_url) for _ in range(3)])
        checks["proxy_0ms_MBps"] = {"direct": direct / 1e6, "proxy": proxied / 1e6}
        log(f"check: {tar_size / 2**20:.1f} MiB tarball at 0 ms: direct {direct / 1e6:.0f} MB/s, "
            f"through the proxy {proxied / 1e6:.0f} MB/s")
        for k in ("h1", "h2"):
            out = sh("curl", "-sSf", "--cacert", os.path.join(tls, "ca.pem"), "-o", "/dev/null",
                     "-w", "%{http_version}", srv.url(k) + tar_url).stdout
            checks[f"{k}_http_version"] = out
        log(f"check: HTTPS through the proxy: h1 speaks HTTP/{checks['h1_http_version']}, "
            f"h2 speaks HTTP/{checks['h2_http_version']}")
        if checks["h2_http_version"] != "2" or checks["h1_http_version"] != "1.1":
            sys.exit("network: the HTTPS servers do not speak the expected HTTP versions")

        dropped = drop_caches()
        refs = {w: {r: [] for r in REFERENCES} for w in workloads}
        for rate in RATES:
            set_rate(rate)
            for rtt in RTTS:
                srv.start_proxy(rtt)
                cell_checks = {}
                if rate != "unlimited":
                    got = curl_rate(srv.url("http") + tar_url) * 8
                    want = rate_bits(rate)
                    cell_checks["measured_Mbit"] = got / 1e6
                    log(f"check: {rate} at {rtt:g} ms: the tarball downloads at "
                        f"{got / 1e6:.1f} Mbit/s" + (f" ({got / want:.0%} of the limit)" if want else ""))
                for w, argv in workloads.items():
                    runs = RUNS_READALL if w == "readall" else RUNS
                    samples = {}
                    extra = {}
                    t_cell = time.monotonic()
                    for _ in range(runs):
                        # Interleaved, so that machine noise hits every variant.
                        for v in variants:
                            if na[v["name"]]:
                                continue
                            index = subst(v.get("index", "{index}"), w)
                            store = srv.url(v.get("store", "http")) + "/store/"
                            dt, st = run_condafs(argv, index, store,
                                                 [subst(a, w) for a in v["args"]])
                            samples.setdefault(v["name"], []).append(dt)
                            extra.setdefault(v["name"], []).append(st)
                        if "download" in baselines:
                            dt, _ = run_download(argv, srv.url("http") + tar_url)
                            samples.setdefault("download", []).append(dt)
                        # References (no network), in every cell, so that
                        # each cell's ratios compare runs made side by side.
                        samples.setdefault("local", []).append(run_condafs(argv, INDEX, STORE, [])[0])
                        if SQUASH:
                            samples.setdefault("squash", []).append(run_squash(argv, img)[0])
                    remove_old()
                    cell = {"workload": w, "rtt_ms": rtt, "rate": rate, "runs": runs,
                            "seconds": time.monotonic() - t_cell, "checks": cell_checks,
                            "variants": {}}
                    for v in variants:
                        n = v["name"]
                        if na[n]:
                            cell["variants"][n] = {"status": "n/a", "missing": na[n]}
                        else:
                            cell["variants"][n] = {
                                "status": "ok" if None not in samples[n] else "fail",
                                "median": med(samples[n]), "samples": samples[n],
                                "stats": extra[n]}
                    for b in baselines + REFERENCES:
                        cell["variants"][b] = {"status": "ok" if None not in samples[b] else "fail",
                                               "median": med(samples[b]), "samples": samples[b]}
                    results["cells"].append(cell)
                    for r in REFERENCES:
                        refs[w][r] += samples[r]
                    log(f"{w} at {rtt:g} ms, {rate}: " + ", ".join(
                        f"{n} {fmt(c.get('median', 'n/a'), 0)}" for n, c in cell["variants"].items()
                        if c["status"] != "n/a") + f"  ({cell['seconds']:.0f} s)")
        results["references"] = {w: {r: {"median": med(x), "samples": x} for r, x in ref.items()}
                                 for w, ref in refs.items()}
    finally:
        srv.stop()
        set_rate("unlimited")
        umount_env()

    results.update({
        "date": time.strftime("%Y-%m-%d %H:%M:%S"), "host": os.uname().nodename,
        "kernel": os.uname().release, "cpus": os.cpu_count(), "runs": RUNS,
        "runs_readall": RUNS_READALL, "page_cache_dropped": dropped, "rtts_ms": RTTS,
        "rates": RATES, "tarball_bytes": tar_size, "checks": checks,
        "working_sets": {w: p[2] for w, p in profiles.items()},
        "variants": [{k: v[k] for k in v} for v in VARIANTS], "n/a": na,
        "total_seconds": time.monotonic() - t_start})
    report(results, variants, baselines, workloads)
    os.makedirs(os.path.dirname(os.path.abspath(JSON_OUT)), exist_ok=True)
    with open(JSON_OUT, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nresults: {JSON_OUT}; total {results['total_seconds'] / 60:.1f} min")
    shutil.rmtree(OLD, ignore_errors=True)


def report(results, variants, baselines, workloads):
    names = [v["name"] for v in variants] + baselines + REFERENCES
    print(f"\ncondafs cold start over a network: median of {results['runs']} runs "
          f"({results['runs_readall']} for readall), fresh mount and empty cache each run, "
          f"mount included; page cache "
          f"{'dropped' if results['page_cache_dropped'] else 'NOT dropped (no permission)'}")
    for w in workloads:
        ref = results["references"][w]
        loc = ref["local"]["median"]
        print(f"\n== {w}: over all cells, local cold start {fmt(loc, 0)} s"
              + (f", squashfuse_ll cold {fmt(ref['squash']['median'], 0)} s" if "squash" in ref else ""))
        cells = [c for c in results["cells"] if c["workload"] == w]
        head = f"{'rtt':>6} {'rate':>10} "
        # What latency adds: against the same store over HTTP at 0 ms, no
        # working set (lazy), at the same rate.
        lazy0 = {c["rate"]: c["variants"].get("lazy", {}).get("median")
                 for c in cells if c["rtt_ms"] == 0}
        for title, base in (("seconds", None), ("/ local", "local"), ("/ download", "download"),
                            ("/ lazy at 0 ms", "lazy0")):
            if base == "lazy0" and not any(lazy0.values()):
                continue
            if base not in (None, "lazy0") and not any(base in c["variants"] for c in cells):
                continue
            print(f"{head}" + "".join(f"{n:>10}" for n in names) + f"   ({title})")
            for c in cells:
                row = f"{c['rtt_ms']:>4g}ms {c['rate']:>10} "
                b = (lazy0.get(c["rate"]) if base == "lazy0"
                     else c["variants"].get(base, {}).get("median") if base else 1)
                for n in names:
                    x = c["variants"][n]
                    if x["status"] == "n/a":
                        row += fmt("n/a")
                    elif x["median"] is None or not b:
                        row += fmt(None)
                    else:
                        row += fmt(x["median"] / b, 10, 3 if base is None else 2)
                print(row)


if __name__ == "__main__":
    main()
