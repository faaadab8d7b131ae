#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the hand-made seeds of corpus/package/: packages whose tar streams
are not compressed (condafs's tar reader accepts that), so that the fuzzer's
mutations reach tar headers and info/*.json instead of breaking a bzip2 or
zstd stream.  usage: make-package-seeds.py [OUTDIR]"""
import hashlib
import io
import json
import os
import sys
import tarfile
import zipfile

PH = '/opt/anaconda1anaconda2anaconda3'
MTIME = 1700000000


def tar_bytes(members):
    """members: (name, bytes or None, symlink target or None[, 'hardlink'])."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, data, target, *hard in members:
            ti = tarfile.TarInfo(name)
            ti.mtime = MTIME
            if hard:
                ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, target, 0o644
                t.addfile(ti)
            elif target is not None:
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
                t.addfile(ti)
            else:
                ti.size = len(data)
                ti.mode = 0o755 if name.startswith('bin/') else 0o644
                t.addfile(ti, io.BytesIO(data))
    raw = bio.getvalue()
    # Drop tarfile's record padding: keep the two end-of-archive blocks.
    end = len(raw)
    while end >= 512 and raw[end - 512:end] == bytes(512):
        end -= 512
    return raw[:end] + bytes(1024)


def package(files, index, link=None):
    """files: (path, 'file' or 'link', bytes or target, paths.json extras)."""
    paths, payload = [], []
    for path, kind, data, extra in files:
        if kind == 'file':
            e = {'_path': path, 'path_type': 'hardlink',
                 'sha256': hashlib.sha256(data).hexdigest(), 'size_in_bytes': len(data)}
            e.update(extra)
            payload.append((path, data, None))
        else:
            e = {'_path': path, 'path_type': 'softlink',
                 'sha256': hashlib.sha256(b'').hexdigest(), 'size_in_bytes': 0}
            payload.append((path, None, data))
        paths.append(e)
    info = [('info/index.json', json.dumps(index).encode(), None),
            ('info/paths.json', json.dumps({'paths': paths, 'paths_version': 1}).encode(), None)]
    if link:
        info.append(('info/link.json', json.dumps(link).encode(), None))
    return info, payload


def conda(info, payload):
    """A .conda whose inner "tar.zst" members are plain, stored tars."""
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, 'w', zipfile.ZIP_STORED) as z:
        for name, data in (('metadata.json', b'{"conda_pkg_format_version": 2}'),
                           ('info-x-1.0-0.tar.zst', tar_bytes(info)),
                           ('pkg-x-1.0-0.tar.zst', tar_bytes(payload))):
            z.writestr(zipfile.ZipInfo(name, (2023, 11, 14, 22, 13, 20)), data)
    return bio.getvalue()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), 'corpus', 'package')
    prefix = package([
        ('bin/tool', 'file', ('#!%s/bin/python\nimport sys\nprint("%s/share")\n' % (PH, PH)).encode(),
         {'prefix_placeholder': PH, 'file_mode': 'text'}),
        ('lib/libx.so', 'file', b'\x7fELF\x02\x01\x01\0' +
         (PH + '/lib\0RUNPATH\0' + PH + '/lib64:' + PH + '/x\0').encode(),
         {'prefix_placeholder': PH, 'file_mode': 'binary'}),
        ('bin/tool2', 'link', 'tool', {}),
        ('share/doc/x.txt', 'file', b'plain\n', {}),
    ], {'name': 'x', 'version': '1.0', 'build': '0', 'build_number': 0, 'depends': [],
        'subdir': 'linux-64'})
    noarch = package([
        ('site-packages/foo/__init__.py', 'file', b'def main():\n    print("hi")\n', {}),
        ('site-packages/foo-1.0.dist-info/RECORD', 'file', b'foo/__init__.py,,\n', {}),
        ('python-scripts/foo-run', 'file', b'#!/usr/bin/env python\nimport foo\n', {}),
    ], {'name': 'x', 'version': '1.0', 'build': '0', 'build_number': 0, 'depends': ['python'],
        'noarch': 'python', 'subdir': 'noarch'},
        {'noarch': {'type': 'python', 'entry_points': ['foo = foo:main']},
         'package_metadata_version': 1})
    # Members in the other component, as real packages have them: payload in
    # info (before and after paths.json), info/ in pkg, hardlinks to a file
    # of the other component, to an info/ file and to an unlisted member.
    lic, data = b'license\n', b'data\n'
    split_info, split_pkg = package([
        ('lib/terminfo', 'link', '../share/terminfo', {}),
        ('lib/libx.la', 'file', ("libdir='%s/lib'\n" % PH).encode(),
         {'prefix_placeholder': PH, 'file_mode': 'text'}),
        ('share/x/data.txt', 'file', data, {}),
        ('share/x/data-link.txt', 'file', data, {}),
        ('share/x/LICENSE', 'file', lic, {}),
        ('share/x/extra-link.txt', 'file', b'extra\n', {}),
    ], {'name': 'x', 'version': '1.0', 'build': '0', 'build_number': 0, 'depends': [],
        'subdir': 'linux-64'})
    by_name = {m[0]: m for m in split_pkg}
    split = (
        [by_name['lib/terminfo'], by_name['lib/libx.la']] + split_info +
        [by_name['share/x/data.txt']],
        [('info/licenses/LICENSE', lic, None), ('share/x/extra.txt', b'extra\n', None),
         ('share/x/data-link.txt', None, 'share/x/data.txt', 'hardlink'),
         ('share/x/LICENSE', None, 'info/licenses/LICENSE', 'hardlink'),
         ('share/x/extra-link.txt', None, 'share/x/extra.txt', 'hardlink')])
    seeds = {
        'raw-tar-split.conda': conda(*split),
        'raw-tar-prefix.tar.bz2': tar_bytes(prefix[0] + prefix[1]),
        'raw-tar-noarch-python.tar.bz2': tar_bytes(noarch[0] + noarch[1]),
        'raw-tar-prefix.conda': conda(*prefix),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
