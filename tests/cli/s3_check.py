#!/usr/bin/env python3
"""condafs push and condafs mount against an S3 server: moto's moto_server on
127.0.0.1, with signature checking on (an IAM user and key are made first).

- push copies every object the index refers to (compared with the bucket's
  listing), a second push uploads nothing, after 2 objects are deleted a push
  uploads exactly those 2; a wrong secret, missing credentials, a corrupt
  local object and an http:// destination each fail with one clear line;
- push to a directory publishes the same objects and packs and leaves no
  temporary file;
- in a private mount namespace, a mount with --store s3://bucket/prefix serves
  every file with `condafs cat`'s content; with a wrong secret an open fails
  with EIO, the daemon logs one line naming the path and the 403 cause (asked
  once: a 4xx is not retried) and keeps serving; without credentials the mount
  is refused before anything is mounted.

usage: s3_check.py CONDAFS
Exits 77 if moto_server is not installed.
"""
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from testlib import check, run, skip, summary  # noqa: E402

CONDAFS = os.path.abspath(sys.argv[1])
BUCKET, PREFIX = "condafs-test", "pre"
STORE_URL = f"s3://{BUCKET}/{PREFIX}"
REGION = "us-east-1"
# The first requests moto serves without checking signatures: the IAM calls
# that make the two users, their keys and their policies.  Every request
# after is checked.
BOOTSTRAP_REQUESTS = 6

for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy",
            "ALL_PROXY", "no_proxy", "NO_PROXY"):
    os.environ.pop(var, None)


def condafs(*args, env=None):
    return run(CONDAFS, *[str(a) for a in args], env=env)


def moto_command():
    exe = shutil.which("moto_server")
    if exe:
        return [exe]
    for py in (sys.executable, "python3"):
        if run(py, "-c", "import moto.server").returncode == 0:
            return [py, "-m", "moto.server"]
    return None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Moto:
    """moto_server on 127.0.0.1, its log in LOG; stopped on exit."""

    def __init__(self, cmd, work):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = os.path.join(work, "moto.log")
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(BOOTSTRAP_REQUESTS))
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=f, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"moto_server exited:\n{open(self.log).read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        sys.exit("moto_server did not start listening within 60 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()



def moto_requests(log, path):
    """The requests for path in moto's log: [(method, status)]."""
    with open(log) as f:
        return [m.group(1, 2) for m in
                (re.search(r'"(\w+) ' + re.escape(path) + r' HTTP/[\d.]+" (\d+)', line)
                 for line in f) if m]


def curl(url, service, key, secret, *args):
    """A SigV4-signed request with the curl tool: (status, body)."""
    r = run("curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--aws-sigv4",
            f"aws:amz:{REGION}:{service}", "--user", f"{key}:{secret}",
            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", *args, url)
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def iam(moto, action, **params):
    """An IAM call, one of the unchecked bootstrap requests."""
    args = ["-d", f"Action={action}", "-d", "Version=2010-05-08"]
    for k, v in params.items():
        args += ["--data-urlencode", f"{k}={v}"]
    code, body = curl(moto.url + "/", "iam", "AKIABOOTSTRAP", "bootstrap", *args)
    if code != 200:
        sys.exit(f"IAM {action}: HTTP {code}: {body}")
    return body


def xml_text(body, tag):
    root = ET.fromstring(body)
    return [e.text for e in root.iter() if e.tag.rsplit("}", 1)[-1] == tag]


class Bucket:
    def __init__(self, moto, key, secret):
        self.base = f"{moto.url}/{BUCKET}"
        self.key, self.secret = key, secret

    def req(self, method, path="", *args):
        return curl(self.base + path, "s3", self.key, self.secret, "-X", method, *args)

    def keys(self):
        # An unencoded '/' in the prefix: moto checks signatures against the
        # decoded query, and curl 7.88 signs the query as sent.
        code, body = self.req("GET", f"?list-type=2&prefix={PREFIX}/")
        assert code == 200, f"ListObjectsV2: HTTP {code}: {body}"
        assert xml_text(body, "IsTruncated") in ([], ["false"]), "listing truncated"
        return set(xml_text(body, "Key"))


def index_objects(cfs):
    with sqlite3.connect(f"file:{cfs}?mode=ro", uri=True) as db:
        return {d.hex(): size for d, size in db.execute("SELECT digest, size FROM objects")}


def index_packs(cfs):
    with sqlite3.connect(f"file:{cfs}?mode=ro", uri=True) as db:
        return [name for (name,) in db.execute("SELECT name FROM packs ORDER BY id")]


def object_key(hexd):
    return f"{PREFIX}/objects/{hexd[:2]}/{hexd}.zst"


def one_line(stderr):
    lines = stderr.strip().splitlines()
    return len(lines) == 1, (lines[0] if lines else "(nothing)")


def push_checks(work, cfs, store, bucket, env):
    objs = index_objects(cfs)
    packs = index_packs(cfs)
    want = {object_key(h) for h in objs} | {f"{PREFIX}/condafs-store.json"} | \
        {f"{PREFIX}/{p}" for p in packs}
    n = len(objs)
    check(n >= 20 and packs, f"the index refers to {n} objects and {len(packs)} packs")

    r = condafs("push", cfs, "--store", STORE_URL, "-j", 4, env=env)
    check(r.returncode == 0 and
          f"push: {n} of {n} objects missing, uploaded {n} (" in r.stderr and
          "0 already there" in r.stderr and
          f"push: {len(packs)} of {len(packs)} packs missing, uploaded {len(packs)} (" in r.stderr,
          f"first push uploads all {n} objects and {len(packs)} packs: {r.stderr.strip()}")
    got = bucket.keys()
    check(got == want, "the bucket holds exactly the index's objects, packs and the store marker"
          + ("" if got == want else f": missing {sorted(want - got)[:3]}, extra "
             f"{sorted(got - want)[:3]}"))
    # An uploaded object is the local store's file, byte for byte.
    h = sorted(objs)[0]
    r2 = run("curl", "-sS", "-o", os.path.join(work, "fetched.zst"), "--aws-sigv4",
             f"aws:amz:{REGION}:s3", "--user", f"{bucket.key}:{bucket.secret}",
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
             f"{bucket.base}/{object_key(h)}")
    with open(os.path.join(work, "fetched.zst"), "rb") as a, \
            open(os.path.join(store, "objects", h[:2], h + ".zst"), "rb") as b:
        check(r2.returncode == 0 and a.read() == b.read(),
              "an uploaded object equals the local store's file")
    r2 = run("curl", "-sS", "-o", os.path.join(work, "fetched.pack"), "--aws-sigv4",
             f"aws:amz:{REGION}:s3", "--user", f"{bucket.key}:{bucket.secret}",
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
             f"{bucket.base}/{PREFIX}/{packs[-1]}")
    with open(os.path.join(work, "fetched.pack"), "rb") as a, \
            open(os.path.join(store, packs[-1]), "rb") as b:
        check(r2.returncode == 0 and a.read() == b.read(),
              "an uploaded pack equals the local store's file")

    r = condafs("push", cfs, "--store", STORE_URL, env=env)
    check(r.returncode == 0 and
          f"push: 0 of {n} objects missing, uploaded 0 (0 B), {n} already there" in r.stderr and
          f"push: 0 of {len(packs)} packs missing" in r.stderr,
          f"second push uploads nothing: {r.stderr.strip()}")

    gone = sorted(objs)[1:3]
    for g in gone:
        code, _ = bucket.req("DELETE", "/" + object_key(g))
        assert code == 204, f"DELETE: HTTP {code}"
    check(bucket.keys() == want - {object_key(g) for g in gone}, "2 objects deleted")
    r = condafs("push", cfs, "--store", STORE_URL, env=env)
    check(r.returncode == 0 and
          f"push: 2 of {n} objects missing, uploaded 2 (" in r.stderr and
          f"{n - 2} already there" in r.stderr,
          f"after deleting 2 objects, a push uploads exactly 2: {r.stderr.strip()}")
    check(bucket.keys() == want, "the bucket is complete again")

    r = condafs("push", cfs, "--store", STORE_URL,
                env=dict(env, AWS_SECRET_ACCESS_KEY="wrong" + env["AWS_SECRET_ACCESS_KEY"]))
    single, line = one_line(r.stderr)
    check(r.returncode == 1 and single and "HTTP 403 (SignatureDoesNotMatch)" in line
          and f"/{BUCKET}/{PREFIX}/" in line,
          f"a wrong secret: exit 1 and one line naming the URL and the 403: {line}")

    r = condafs("push", cfs, "--store", STORE_URL,
                env={k: v for k, v in env.items() if k != "AWS_ACCESS_KEY_ID"})
    single, line = one_line(r.stderr)
    check(r.returncode == 1 and single and "no AWS credentials" in line and
          "AWS_ACCESS_KEY_ID" in line, f"no credentials: one clear line: {line}")

    r = condafs("push", cfs, "--store", "http://127.0.0.1:1/store", env=env)
    single, line = one_line(r.stderr)
    check(r.returncode == 1 and single and "not supported" in line,
          f"an http:// destination is refused: {line}")

    # A corrupt local object is refused, and the bucket does not get it.
    bad = os.path.join(work, "bad-store")
    shutil.copytree(store, bad)
    victim = gone[0]
    path = os.path.join(bad, "objects", victim[:2], victim + ".zst")
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)
    bucket.req("DELETE", "/" + object_key(victim))
    r = condafs("push", cfs, "--store", STORE_URL, "--from", bad, env=env)
    single, line = one_line(r.stderr)
    check(r.returncode == 1 and single and "corrupt object" in line and victim in line,
          f"a corrupt local object: exit 1, one line naming it: {line}")
    check(object_key(victim) not in bucket.keys(), "the corrupt object was not uploaded")
    r = condafs("push", cfs, "--store", STORE_URL, "-q", env=env)
    check(r.returncode == 0 and r.stderr == "" and bucket.keys() == want,
          "push -q restores it silently")

    # A directory destination.
    dest = os.path.join(work, "dest-store")
    r = condafs("push", cfs, "--store", dest)
    files = {os.path.relpath(os.path.join(d, f), dest)
             for d, _, fs in os.walk(dest) for f in fs}
    wantd = {os.path.relpath(k, PREFIX) for k in want}
    check(r.returncode == 0 and f"uploaded {n} (" in r.stderr and files == wantd,
          "push to a directory publishes exactly the objects, the packs and the marker, no "
          "temporary file"
          + ("" if files == wantd else f": {sorted(files ^ wantd)[:4]}"))
    ok = all(hashlib.sha256(open(os.path.join(dest, k), "rb").read()).digest() ==
             hashlib.sha256(open(os.path.join(store, k), "rb").read()).digest()
             for k in wantd)
    check(ok, "the directory's objects and packs equal the source's")
    r = condafs("push", cfs, "--store", dest)
    check(r.returncode == 0 and f"0 of {n} objects missing" in r.stderr,
          "a second push to the directory copies nothing")


# ---- the mount checks, run in a private mount namespace (see main).

def is_mounted(mp):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == mp for line in f)


def regular_files(mp):
    out = []
    for d, _, fs in os.walk(mp):
        for f in fs:
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, mp))
    return sorted(out)


def mount_checks(work, cfs, moto_log, env):
    mp = os.path.join(work, "mnt")
    os.makedirs(mp, exist_ok=True)
    try:
        # Serving from the bucket.
        r = condafs("mount", cfs, mp, "--store", STORE_URL, "--cache",
                    os.path.join(work, "cache1"), "--log-file", os.path.join(work, "d1.log"),
                    env=env)
        if not check(r.returncode == 0 and is_mounted(mp),
                     f"mount --store {STORE_URL}" + ("" if r.returncode == 0
                                                     else f": {r.stderr.strip()}")):
            return
        files = regular_files(mp)
        same, content = 0, {}
        for rel in files:
            want = subprocess.run([CONDAFS, "cat", cfs, rel], stdout=subprocess.PIPE)
            content[rel] = want.stdout
            with open(os.path.join(mp, rel), "rb") as f:
                got = f.read()
            if want.returncode == 0 and got == want.stdout:
                same += 1
            else:
                print(f"     {rel}: differs from condafs cat")
        check(len(files) >= 10 and same == len(files),
              f"{same} of {len(files)} files read from the S3 mount equal condafs cat")
        st = json.loads(condafs("stats", "--json", mp).stdout)
        check(st["fetch_errors"] == 0 and st["objects_fetched"] >= 10,
              f"fetched {st['objects_fetched']} objects from S3, no errors")
        # The index has packs, and push copied them: ranged GETs, signed.
        check(st["range_requests"] > 0 and st["pack_objects"] > 0 and
              st["http_requests"] < st["objects_fetched"] and st["fallbacks"] == 0,
              f"packs over S3: {st['objects_fetched']} objects in {st['http_requests']} "
              f"requests, {st['range_requests']} of them ranged GETs of packs")
        r = condafs("umount", mp)
        check(r.returncode == 0, "umount")

        # The same tree and bytes with every object fetched alone.
        r = condafs("mount", cfs, mp, "--store", STORE_URL, "--no-packs", "--cache",
                    os.path.join(work, "cache-nopacks"), "--log-file",
                    os.path.join(work, "d-nopacks.log"), env=env)
        if check(r.returncode == 0 and is_mounted(mp), "mount --no-packs"):
            same_tree = regular_files(mp) == files
            same = 0
            for rel in files:
                with open(os.path.join(mp, rel), "rb") as f:
                    same += f.read() == content[rel]
            st = json.loads(condafs("stats", "--json", mp).stdout)
            check(same_tree and same == len(files) and st["range_requests"] == 0 and
                  st["http_requests"] == st["objects_fetched"],
                  f"--no-packs: the same {same} files, one GET per object")
            r = condafs("umount", mp)
            check(r.returncode == 0, "umount")

        # A wrong secret: the open fails, the daemon keeps serving.
        log = os.path.join(work, "d2.log")
        r = condafs("mount", cfs, mp, "--store", STORE_URL, "--cache",
                    os.path.join(work, "cache2"), "--log-file", log,
                    env=dict(env, AWS_SECRET_ACCESS_KEY="wrong-secret"))
        if not check(r.returncode == 0, "mount with a wrong secret (nothing is fetched yet)"):
            return
        rel = files[0]
        try:
            open(os.path.join(mp, rel), "rb").read()
            e = None
        except OSError as ex:
            e = ex.errno
        check(e == errno.EIO, f"open {rel} fails with EIO (got {errno.errorcode.get(e, e)})")
        with open(log) as f:
            lines = [line.rstrip() for line in f if rel in line]
        check(len(lines) == 1 and "HTTP 403 (SignatureDoesNotMatch)" in lines[0],
              f"the daemon logs one line naming {rel} and the 403: {lines}")
        # The object is named by its content's sha256.
        key = object_key(hashlib.sha256(content[rel]).hexdigest())
        denied = [c for m, c in moto_requests(moto_log, f"/{BUCKET}/{key}")
                  if m == "GET" and c == "403"]
        check(len(denied) == 1, f"the object was asked once, the 403 not retried "
              f"({len(denied)} denied GET)")
        check(len(os.listdir(mp)) > 0 and os.stat(os.path.join(mp, rel)).st_size >= 0,
              "the daemon still serves listings and attributes")
        st = json.loads(condafs("stats", "--json", mp).stdout)
        check(st["fetch_errors"] >= 1, f"stats count the fetch error ({st['fetch_errors']})")
        r = condafs("umount", mp)
        check(r.returncode == 0, "umount")

        # No credentials: refused before mounting.
        r = condafs("mount", cfs, mp, "--store", STORE_URL, "--cache",
                    os.path.join(work, "cache3"),
                    env={k: v for k, v in env.items()
                         if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
        single, line = one_line(r.stderr)
        check(r.returncode != 0 and single and "no AWS credentials" in line and
              not is_mounted(mp), f"without credentials the mount is refused: {line}")
    finally:
        if is_mounted(mp):
            condafs("umount", "-z", mp)


def inner():
    """In the private namespace: argv = CONDAFS --inner WORK CFS MOTO_LOG."""
    work, cfs, moto_log = sys.argv[3:6]
    env = dict(os.environ)
    mount_checks(work, cfs, moto_log, env)
    return summary()


def main():
    if len(sys.argv) > 2 and sys.argv[2] == "--inner":
        return inner()
    # Only the settings this test gives: none from the caller's environment.
    for var in list(os.environ):
        if var.startswith("AWS_"):
            del os.environ[var]
    cmd = moto_command()
    if not cmd:
        print("SKIP: moto_server is not installed (pip install 'moto[server]')")
        return 77
    if not shutil.which("curl"):
        print("SKIP: the curl tool is not installed")
        return 77
    work = tempfile.mkdtemp(prefix="cfs-s3-")
    moto = None
    try:
        chan = os.path.join(work, "chan")
        r = run(sys.executable, os.path.join(FIX, "mkchannel.py"), chan)
        if r.returncode != 0:
            sys.exit(f"mkchannel.py failed:\n{r.stdout}{r.stderr}")
        cfs, store = os.path.join(work, "env.cfs"), os.path.join(work, "store")
        r = condafs("index", os.path.join(chan, "explicit.txt"), "-o", cfs, "--store", store,
                    "--cache", os.path.join(work, "cache"), "-q")
        if r.returncode != 0:
            sys.exit(f"condafs index failed: {r.stderr}")

        moto = Moto(cmd, work)
        iam(moto, "CreateUser", UserName="pusher")
        body = iam(moto, "CreateAccessKey", UserName="pusher")
        key, secret = xml_text(body, "AccessKeyId")[0], xml_text(body, "SecretAccessKey")[0]
        iam(moto, "PutUserPolicy", UserName="pusher", PolicyName="s3",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        # A user who may only read: push must say which permissions it lacks.
        iam(moto, "CreateUser", UserName="reader")
        body = iam(moto, "CreateAccessKey", UserName="reader")
        rkey, rsecret = xml_text(body, "AccessKeyId")[0], xml_text(body, "SecretAccessKey")[0]
        iam(moto, "PutUserPolicy", UserName="reader", PolicyName="read",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}))
        bucket = Bucket(moto, key, secret)
        code, body = bucket.req("PUT")
        assert code == 200, f"CreateBucket: HTTP {code}: {body}"
        # Signatures are checked from now on.
        code, _ = curl(bucket.base + "?list-type=2", "s3", key, "not-the-secret")
        check(code == 403, "moto checks signatures (a wrong secret gets 403)")

        env = dict(os.environ, AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
                   AWS_REGION=REGION, AWS_ENDPOINT_URL=moto.url)
        push_checks(work, cfs, store, bucket, env)
        r = condafs("push", cfs, "--store", STORE_URL + "-reader",
                    env=dict(env, AWS_ACCESS_KEY_ID=rkey, AWS_SECRET_ACCESS_KEY=rsecret))
        single, line = one_line(r.stderr)
        check(r.returncode == 1 and single and "HTTP 403 (AccessDenied)" in line and
              "s3:PutObject" in line,
              f"a user without s3:PutObject: one line naming the permissions push needs: {line}")

        if not os.path.exists("/dev/fuse") or not shutil.which("unshare") or \
                run("unshare", "-m", "--propagation", "private", "true").returncode != 0:
            skip("mount checks: needs /dev/fuse and unshare -m (root or CAP_SYS_ADMIN)")
        else:
            r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable,
                                os.path.abspath(__file__), CONDAFS, "--inner", work, cfs,
                                moto.log], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=300)
            print(r.stdout, end="")
            check(r.returncode == 0, "the mount checks in a private mount namespace passed")
    finally:
        if moto:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    return summary(show_skipped=True, need_passed=True)


if __name__ == "__main__":
    sys.exit(main())
