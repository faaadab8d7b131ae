#!/usr/bin/env python3
"""Writes the payload tar stream of a .conda (its pkg-*.tar.zst member, still
zstd-compressed) to stdout, so that the benchmark floor can decompress it with
the zstd tool."""
import shutil
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as z:
    for n in z.namelist():
        if n.startswith("pkg-") and n.endswith(".tar.zst"):
            with z.open(n) as f:
                shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
