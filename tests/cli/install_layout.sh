#!/bin/bash
# SPDX-License-Identifier: MIT
#
# meson install of this build directory into a scratch DESTDIR, then the
# layout docs/deploy.md documents: bin/condafs runs and reports the project's
# version and takes mount.fuse3's "condafs ENV.cfs MOUNTPOINT -o OPTS"; one
# man page per man/*.md that groff renders without a warning and man -l
# shows with its name; condafs@.service and the example units clean under
# systemd-analyze verify (where systemd-analyze exists); nothing else.
# Usage: install_layout.sh MESON BUILDDIR SRCDIR VERSION PREFIX BINDIR MANDIR DATADIR UNITDIR MAN
# (UNITDIR "no": -Dsystemdsystemunitdir=no; MAN built|disabled|missing: the man pages)
set -euo pipefail

MESON=${1:?usage: install_layout.sh MESON BUILDDIR SRCDIR VERSION PREFIX BINDIR MANDIR DATADIR UNITDIR MAN}
BUILDDIR=$2 SRCDIR=$3 VERSION=$4 PREFIX=$5 BINDIR=$6 MANDIR=$7 DATADIR=$8 UNITDIR=$9 MAN=${10}
# meson hands over option values as given: make them absolute.
[[ $BINDIR == /* ]] || BINDIR=$PREFIX/$BINDIR
[[ $MANDIR == /* ]] || MANDIR=$PREFIX/$MANDIR
[[ $DATADIR == /* ]] || DATADIR=$PREFIX/$DATADIR
DOCDIR=$DATADIR/doc/condafs

fail() {
	echo "FAIL: install_layout: $*" >&2
	exit 1
}
log() {
	echo "install_layout: $*"
}

T=$(mktemp -d "${TMPDIR:-/tmp}/condafs-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
D=$T/dest

# The build is current (meson test built it); --no-rebuild keeps meson
# install from running ninja while the tests run.
"$MESON" install -C "$BUILDDIR" --destdir "$D" --no-rebuild >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "meson install --destdir failed"; }
log "meson install --destdir: $(find "$D" \( -type f -o -type l \) | wc -l) files"

# The program.
BIN=$D$BINDIR/condafs
[[ -f $BIN && -x $BIN ]] || fail "$BINDIR/condafs is not an executable file"
out=$("$BIN" --version) || fail "condafs --version failed"
[[ ${out%%$'\n'*} == "condafs $VERSION" ]] || fail "condafs --version says '$out', expected 'condafs $VERSION' first"
[[ $(sed -n 2p <<<"$out") == "libfuse "[0-9]*" ("*"passthrough)" ]] || fail "condafs --version: no libfuse line: '$out'"
"$BIN" help | grep -q '^usage: condafs <command>' || fail "condafs help"
log "$BINDIR/condafs --version: $out"
recipe=$SRCDIR/packaging/conda/recipe.yaml
grep -qx "  version: \"$VERSION\"" "$recipe" ||
	fail "packaging/conda/recipe.yaml: context version is not the project's $VERSION"

# mount -t fuse.condafs: mount(8) runs /sbin/mount.fuse3 (fuse3), which runs
# the program named after the subtype, "condafs", as "condafs ENV.cfs
# MOUNTPOINT -o OPTS" from /bin/sh's default PATH.  No helper of our own is
# installed; the installed program must take that form.  (A bad option
# value stops it before any mount, so this needs no FUSE.)
: >"$T/env.cfs"
rc=0
"$BIN" "$T/env.cfs" "$T" -o "dev,suid,cache_size=lots" >"$T/out" 2>"$T/err" || rc=$?
if [[ $rc != 2 ]] || ! grep -q "cache_size" "$T/err"; then
	fail "condafs ENV.cfs MOUNTPOINT -o cache_size=lots: exit $rc, '$(cat "$T/err")'"
fi
log "condafs ENV.cfs MOUNTPOINT -o OPTS (as mount.fuse3 runs it): taken, bad value refused"

# The man pages: one per man/*.md.
MAN1=$D$MANDIR/man1
want=()
for md in "$SRCDIR"/man/*.md; do
	want+=("$(basename "$md" .md)")
done
((${#want[@]} > 0)) || fail "no man/*.md in $SRCDIR"
case $MAN in
built) ;;
disabled) log "man pages: not built (-Dman=disabled), not checked"; want=() ;;
*) fail "man pages not built: go-md2man is missing (bash tools/deps.sh installs it)" ;;
esac
for page in "${want[@]}"; do
	f=$MAN1/$page.1
	[[ -f $f ]] || fail "man page $MANDIR/man1/$page.1 (from man/$page.md) is not installed"
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$f" >"$T/groff.out" 2>&1 ||
		fail "groff -man failed on $page.1: $(cat "$T/groff.out")"
	[[ ! -s $T/groff.out ]] || fail "groff -man -ww warns on $page.1: $(head -n 5 "$T/groff.out")"
	MANWIDTH=80 LC_ALL=C.UTF-8 man -l "$f" >"$T/man.txt" 2>"$T/man.err" ||
		fail "man -l $page.1 failed: $(cat "$T/man.err")"
	[[ ! -s $T/man.err ]] || fail "man -l $page.1: $(head -n 5 "$T/man.err")"
	upper=$(tr '[:lower:]' '[:upper:]' <<<"$page")
	head -n 1 "$T/man.txt" | grep -q "^$upper(1) .*User Commands.* $upper(1)\$" ||
		fail "man -l $page.1: header '$(head -n 1 "$T/man.txt")'"
	tail -n 1 "$T/man.txt" | grep -q "condafs $VERSION" ||
		fail "man -l $page.1: footer '$(tail -n 1 "$T/man.txt")' lacks 'condafs $VERSION'"
	for sec in NAME SYNOPSIS DESCRIPTION; do
		grep -q "^$sec\$" "$T/man.txt" || fail "man -l $page.1: no $sec section"
	done
	sed -n '/^NAME$/{n;p;q}' "$T/man.txt" | grep -q "^ *${page}[ ,]" ||
		fail "man -l $page.1: NAME does not start with $page"
	# Markdown the converter did not understand shows up as its markup.
	if grep -nE '^ *(#+ |: {3}|% )|\\f[A-Z]|\]\(' "$T/man.txt" >"$T/raw"; then
		fail "man -l $page.1: Markdown or roff left as text: $(head -n 3 "$T/raw")"
	fi
done
aliases=(condafs-umount condafs-stats)
((${#want[@]})) || aliases=()
for alias in "${aliases[@]}"; do
	[[ $(readlink -f "$MAN1/$alias.1") == "$MAN1/condafs-mount.1" ]] ||
		fail "$alias.1 does not lead to condafs-mount.1"
done
((${#want[@]} == 0)) || log "man pages: ${#want[@]} in $MANDIR/man1 (+ condafs-umount.1, condafs-stats.1), groff -ww and man -l clean"

# systemd: the template service, with condafs's installed path; the example
# mount unit and its configuration as documentation.
UNIT=$D$UNITDIR/condafs@.service
EX=$D$DOCDIR/examples
if [[ $UNITDIR == no ]]; then
	log "-Dsystemdsystemunitdir=no: no unit installed, checking the built one"
	UNIT=$BUILDDIR/packaging/systemd/condafs@.service
fi
[[ -f $UNIT ]] || fail "$UNITDIR/condafs@.service is not installed"
grep -qx "ExecStart=$BINDIR/condafs mount \${CONDAFS_INDEX} %f \$CONDAFS_OPTIONS" "$UNIT" ||
	fail "condafs@.service: ExecStart does not run $BINDIR/condafs mount"
grep -qx "Type=forking" "$UNIT" || fail "condafs@.service: not Type=forking"
for f in "$EX/systemd/env.mount" "$EX/systemd/env.conf" "$EX/nginx/condafs-store.conf" "$D$DOCDIR/deploy.md"; do
	[[ -f $f ]] || fail "${f#"$D"} is not installed"
done
if command -v systemd-analyze >/dev/null; then
	# verify checks that every command exists: point them into DESTDIR.  It
	# runs man for Documentation=, so MANPATH is the installed pages.  Any
	# line it prints is a finding (its exit status stays 0 for most).
	mkdir "$T/units"
	sed "s|$BINDIR/condafs|$BIN|g" "$UNIT" >"$T/units/condafs@env.service"
	cp "$EX/systemd/env.mount" "$T/units/env.mount"
	rc=0
	# Without installed man pages, Documentation=man:... cannot be found.
	[[ $MAN == built ]] || sed -i '/^Documentation=man:/d' "$T/units/"*
	(cd "$T/units" && MANPATH=$D$MANDIR SYSTEMD_LOG_COLOR=0 \
		systemd-analyze verify "$T/units/condafs@env.service" "$T/units/env.mount") \
		>"$T/verify.out" 2>&1 || rc=$?
	[[ $rc == 0 && ! -s $T/verify.out ]] ||
		fail "systemd-analyze verify (exit $rc): $(head -n 10 "$T/verify.out")"
	log "systemd-analyze verify: condafs@.service (as condafs@env.service), env.mount: clean"
else
	log "systemd-analyze is not installed: units not verified (their presence is checked)"
fi

# Nothing else is installed: a new file belongs in docs/deploy.md's table.
{
	echo "$BINDIR/condafs"
	for page in "${want[@]}" "${aliases[@]}"; do echo "$MANDIR/man1/$page.1"; done
	[[ $UNITDIR == no ]] || echo "$UNITDIR/condafs@.service"
	echo "$DOCDIR/deploy.md"
	echo "$DOCDIR/examples/systemd/env.mount"
	echo "$DOCDIR/examples/systemd/env.conf"
	echo "$DOCDIR/examples/nginx/condafs-store.conf"
} | sort >"$T/want"
(cd "$D" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) >"$T/got"
if ! diff -u "$T/want" "$T/got" >"$T/diff"; then
	fail "installed files differ from the documented layout (- documented, + installed):
$(grep '^[-+]/' "$T/diff")"
fi
log "ok: exactly the documented $(wc -l <"$T/want") paths"
