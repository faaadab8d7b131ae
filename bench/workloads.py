"""Workloads and helpers shared by bench/mount.py, bench/network.py and
bench/bytecode.py."""
import os
import subprocess

MODULES = ("json sqlite3 ssl email http.client urllib.request decimal datetime re csv logging "
           "argparse collections typing dataclasses pathlib subprocess threading asyncio "
           "xml.etree.ElementTree zipfile tarfile hashlib base64 uuid flask jinja2 click "
           "werkzeug pygments markupsafe idna certifi").split()
WORKLOADS = {
    "startup": ["/env/bin/python3", "-c", "import " + ", ".join(MODULES)],
    "entrypoint": ["/env/bin/flask", "--version"],
    "walk": ["sh", "-c", "find /env -printf '%s %m\\n' > /dev/null"],
    "readall": ["sh", "-c", "find /env -type f -print0 | xargs -0 cat > /dev/null"],
    # Requests alone: 2,000 rounds of the three a module import costs on a
    # FUSE file system (isatty() on an open file, an open and close, a
    # name that is not there), on a file whose pages are cached.
    "requests": ["python3", "-c", "import glob, os\n"
                 "p = glob.glob('/env/lib/python3*/os.py')[0]\n"
                 "fd = os.open(p, os.O_RDONLY)\n"
                 "for i in range(2000):\n"
                 "    os.isatty(fd)\n"
                 "    os.close(os.open(p, os.O_RDONLY))\n"
                 "    try:\n"
                 "        os.stat(f'{p}.{i}')\n"
                 "    except FileNotFoundError:\n"
                 "        pass\n"],
}


def drop_caches():
    """Drops the page cache (True), unless CFS_BENCH_KEEP_PAGE_CACHE is set
    or the kernel does not let us (False)."""
    if os.environ.get("CFS_BENCH_KEEP_PAGE_CACHE"):
        return False
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def sh(*cmd, **kw):
    """Runs cmd, raising on failure; returns the CompletedProcess (text)."""
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kw)
