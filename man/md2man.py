#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Renders one Markdown man page of man/ as roff with go-md2man.

usage: md2man.py GO-MD2MAN PAGE.md OUT.1 VERSION

The pages open with a pandoc-style title line, '% NAME(1) condafs | User
Commands', which pandoc understands; go-md2man copies a title line into
.TH verbatim, so it is rewritten here into .TH's fields (name, section,
date, source, manual).  Characters outside ASCII become groff's \\[uXXXX]
escapes, so the page needs no preconv and renders the same everywhere.
Any warning of go-md2man (a Markdown construct it cannot render) fails the
build.
"""
import os
import re
import subprocess
import sys


def title_line(first, page, version):
    m = re.fullmatch(r"%\s*([A-Z0-9._-]+)\((\d\w*)\)\s*(.*?)\s*(?:\|\s*(.*?)\s*)?", first)
    if not m:
        sys.exit(f"{page}:1: expected a title line '% NAME(1) condafs | User Commands'")
    name, section, _source, manual = m.groups()
    return f'% {name} {section} "" "condafs {version}" "{manual or "User Commands"}"'


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: md2man.py GO-MD2MAN PAGE.md OUT.1 VERSION")
    tool, page, out, version = sys.argv[1:]
    with open(page, encoding="utf-8") as f:
        lines = f.read().split("\n")
    lines[0] = title_line(lines[0], page, version)
    r = subprocess.run([tool], input="\n".join(lines).encode(), capture_output=True)
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode != 0 or err:
        sys.exit(f"{page}: {os.path.basename(tool)} failed: {err or 'exit %d' % r.returncode}")
    roff = r.stdout.decode("utf-8")
    roff = "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in roff)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(roff)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
