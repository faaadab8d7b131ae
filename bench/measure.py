#!/usr/bin/env python3
"""Runs a shell command and prints its wall time, CPU time (user+sys of all
its processes) and peak RSS (largest single process) as one JSON line.

usage: measure.py LABEL -- SHELL-COMMAND
"""
import json
import os
import resource
import subprocess
import sys
import time

label = sys.argv[1]
assert sys.argv[2] == "--"
cmd = sys.argv[3]
t0 = time.monotonic()
p = subprocess.run(["bash", "-c", cmd])
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
if p.returncode != 0:
    print(f"measure: {label}: command failed with {p.returncode}: {cmd}", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"label": label, "wall": round(wall, 3),
                  "cpu": round(ru.ru_utime + ru.ru_stime, 3),
                  "rss_mb": round(ru.ru_maxrss / 1024, 1)}))
