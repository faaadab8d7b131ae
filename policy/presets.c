/* SPDX-License-Identifier: MIT */
/*
 * The built-in presets, written as policy text so that the ordinary parser
 * reads them and their rules carry origins like "preset:devel:3".  Line
 * numbers count from the first line of each text, comments included: keep
 * that in mind before reflowing a comment (docs/policy.md quotes origins).
 *
 * Each preset is named for what it removes.  The reasons for what each one
 * leaves alone are in docs/policy.md, "Presets".
 */
#include "policy-internal.h"

#include <string.h>

struct preset {
	const char *name;
	const char *summary;
	const char *text;
};

static const struct preset presets[] = {
{
	"conda-meta",
	"conda's package records (conda-meta/*.json); keeps conda-meta/history",
	"# conda's package records: what conda, mamba and pixi read to change\n"
	"# the environment, which a served environment never is.\n"
	"exclude conda-meta/**\n"
	"# tiny, and tools look for it to recognise a conda environment\n"
	"keep conda-meta/history\n",
},
{
	"devel",
	"headers, static and libtool libraries, pkg-config/CMake/autoconf files, *-config scripts",
	"# Files used only to compile or link against the environment.\n"
	"exclude include/**\n"
	"exclude **/*.a\n"
	"exclude **/*.la\n"
	"exclude lib/pkgconfig/**\n"
	"exclude share/pkgconfig/**\n"
	"exclude lib/cmake/**\n"
	"exclude share/cmake*/**\n"
	"exclude share/aclocal/**\n"
	"exclude share/gir-1.0/**\n"
	"exclude share/vala/**\n"
	"# compiler and linker flags: curl-config, xml2-config, python3.11-config, ...\n"
	"exclude bin/*-config\n"
	"# Python's Makefile, Setup and config.c, read only to build extensions\n"
	"exclude lib/python3.*/config-*/**\n"
	"# the linker wrapper python's sysconfig passes to compilers\n"
	"exclude compiler_compat/**\n",
},
{
	"tests",
	"test suites: the standard library's test package and tests/ directories in lib/python3.*",
	"# The standard library's test suite and its packages' test directories\n"
	"exclude lib/python3.*/test/**\n"
	"exclude lib/python3.*/*/test/**\n"
	"exclude lib/python3.*/idlelib/idle_test/**\n"
	"# tests/ directories, by convention test suites, in site-packages too\n"
	"exclude lib/python3.*/**/tests/**\n"
	"exclude lib/python3.*/site-packages/**/conftest.py\n"
	"# GNOME's installed tests\n"
	"exclude libexec/installed-tests/**\n"
	"exclude share/installed-tests/**\n"
	"# astropy and sunpy import their test runner when they are imported\n"
	"keep lib/python3.*/site-packages/astropy/tests/*.py\n"
	"keep lib/python3.*/site-packages/sunpy/tests/*.py\n",
},
{
	"docs",
	"man pages, info manuals, share/doc and gtk-doc; keeps license texts",
	"# Documentation for people, not programs\n"
	"exclude share/man/**\n"
	"exclude share/info/**\n"
	"exclude share/doc/**\n"
	"exclude share/gtk-doc/**\n"
	"# license texts stay: whoever ships the environment needs them\n"
	"keep share/doc/**/LICENSE*\n"
	"keep share/doc/**/LICENCE*\n"
	"keep share/doc/**/COPYING*\n"
	"keep share/doc/**/NOTICE*\n"
	"keep share/doc/**/copyright\n",
},
{
	"bytecode",
	"bytecode Python loads only with -O or -OO (*.opt-1.pyc, *.opt-2.pyc) and "
	"Python 2's *.pyo; the .pyc files a normal run loads stay",
	"# A read-only /env cannot cache bytecode: what Python loads stays, or\n"
	"# every process would compile it again; the optimized levels go\n"
	"# (python -O, -OO), with Python 2's .pyo\n"
	"exclude **/*.opt-1.pyc\n"
	"exclude **/*.opt-2.pyc\n"
	"exclude **/*.pyo\n",
},
{
	"sources",
	"Cython sources and declarations (*.pyx, *.pxd, *.pxi) in site-packages",
	"# Cython sources and declarations: needed only to compile, or to\n"
	"# cimport from another extension.  C/C++ sources and headers stay.\n"
	"exclude lib/python3.*/site-packages/**/*.pyx\n"
	"exclude lib/python3.*/site-packages/**/*.pxd\n"
	"exclude lib/python3.*/site-packages/**/*.pxi\n"
	"# Cython itself reads these when it compiles anything\n"
	"keep lib/python3.*/site-packages/Cython/**/*.pyx\n"
	"keep lib/python3.*/site-packages/Cython/**/*.pxd\n"
	"keep lib/python3.*/site-packages/Cython/**/*.pxi\n",
},
{
	"pip",
	"pip and its commands: nothing can be pip-installed into a read-only environment",
	"# pip cannot install into a read-only environment\n"
	"exclude lib/python3.*/site-packages/pip/**\n"
	"exclude lib/python3.*/site-packages/pip-*.dist-info/**\n"
	"exclude bin/pip\n"
	"exclude bin/pip3\n"
	"exclude bin/pip3.*\n",
},
{
	"stdlib-extras",
	"standard library parts programs do not import: IDLE, ensurepip, turtledemo, help() topics",
	"# Parts of the standard library that programs do not import\n"
	"exclude lib/python3.*/idlelib/**\n"
	"exclude bin/idle3*\n"
	"# pip and setuptools wheels; 'python -m venv' then needs --without-pip\n"
	"exclude lib/python3.*/ensurepip/**\n"
	"exclude lib/python3.*/turtledemo/**\n"
	"# the topics of the interactive help(); pydoc copes without them\n"
	"exclude lib/python3.*/pydoc_data/**\n",
},
{
	"sanitizers",
	"the address, thread, leak, undefined-behaviour and hwaddress sanitizer runtimes",
	"# Runtimes for programs built with -fsanitize=...\n"
	"exclude lib/libasan*\n"
	"exclude lib/libhwasan*\n"
	"exclude lib/liblsan*\n"
	"exclude lib/libtsan*\n"
	"exclude lib/libubsan*\n",
},
{
	"tools",
	"command-line tools that library packages bring along (sqlite3, openssl, xz, ld, ...)",
	"# Programs that come with libraries the environment needs; the\n"
	"# libraries stay.  Not for an environment people work in by hand.\n"
	"exclude bin/sqlite3*\n"
	"exclude bin/openssl\n"
	"exclude bin/c_rehash\n"
	"# the linker from ld_impl (python depends on it to build extensions)\n"
	"exclude bin/ld\n"
	"exclude bin/*-conda*-linux-gnu-ld\n"
	"exclude *-conda*-linux-gnu/bin/ld\n"
	"# xz, lz4 and zstd\n"
	"exclude bin/xz*\n"
	"exclude bin/unxz\n"
	"exclude bin/lz*\n"
	"exclude bin/unlz*\n"
	"exclude bin/zstd*\n"
	"exclude bin/unzstd\n"
	"exclude bin/pzstd\n"
	"# bzip2\n"
	"exclude bin/bzip2*\n"
	"exclude bin/bunzip2\n"
	"exclude bin/bzcat\n"
	"exclude bin/bzcmp\n"
	"exclude bin/bzdiff\n"
	"exclude bin/bzegrep\n"
	"exclude bin/bzfgrep\n"
	"exclude bin/bzgrep\n"
	"exclude bin/bzless\n"
	"exclude bin/bzmore\n"
	"# python's and tk's own programs\n"
	"exclude bin/2to3*\n"
	"exclude bin/pydoc*\n"
	"exclude bin/tclsh*\n"
	"exclude bin/wish*\n"
	"# ncurses' terminal database compilers\n"
	"exclude bin/tic\n"
	"exclude bin/toe\n"
	"exclude bin/infocmp\n"
	"exclude bin/infotocap\n"
	"exclude bin/captoinfo\n",
},
{
	"terminfo",
	"the terminal database except common terminals (xterm, screen, tmux, linux, vt100, ...)",
	"# ncurses' terminal descriptions.  Common terminals stay; for others\n"
	"# point TERMINFO_DIRS at the host's database (/usr/share/terminfo).\n"
	"exclude share/terminfo/**\n"
	"keep share/terminfo/a/ansi*\n"
	"keep share/terminfo/d/dumb\n"
	"keep share/terminfo/l/linux*\n"
	"keep share/terminfo/r/rxvt*\n"
	"keep share/terminfo/s/screen*\n"
	"keep share/terminfo/t/tmux*\n"
	"keep share/terminfo/v/vt100*\n"
	"keep share/terminfo/v/vt220*\n"
	"keep share/terminfo/x/xterm*\n",
},
{
	"expert",
	"all of the above: the aggressive profile (see docs/policy.md for what it keeps)",
	"# Every preset above.  It keeps every .py file, shared library,\n"
	"# lib-dynload, dist-info, certificates, zoneinfo and locale data.\n"
	"preset conda-meta\n"
	"preset devel\n"
	"preset docs\n"
	"preset tests\n"
	"preset sources\n"
	"preset stdlib-extras\n"
	"preset pip\n"
	"preset sanitizers\n"
	"preset tools\n"
	"preset terminfo\n"
	"# last, so that no keep rule above brings optimized bytecode back\n"
	"preset bytecode\n",
},
};

size_t cfs_policy_n_presets(void)
{
	return CFS_ARRAY_SIZE(presets);
}

const char *cfs_policy_preset_name(size_t i)
{
	return i < CFS_ARRAY_SIZE(presets) ? presets[i].name : NULL;
}

const char *cfs_policy_preset_summary(size_t i)
{
	return i < CFS_ARRAY_SIZE(presets) ? presets[i].summary : NULL;
}

const char *cfs_policy_preset_text(size_t i)
{
	return i < CFS_ARRAY_SIZE(presets) ? presets[i].text : NULL;
}

int pol_preset_find(const char *name, size_t len)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(presets); i++)
		if (strlen(presets[i].name) == len && memcmp(presets[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

void pol_preset_names(char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CFS_ARRAY_SIZE(presets) && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", presets[i].name);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}
