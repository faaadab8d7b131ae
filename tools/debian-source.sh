#!/usr/bin/env bash
# usage: tools/debian-source.sh SUITE PACKAGE DIR [WAY-OUT]
# Fetches Debian's source package PACKAGE from SUITE with apt, through a
# sources list private to this step (so no binary package ever comes from
# SUITE), and unpacks it into DIR/src (which must not exist yet).  apt
# checks the files against the suite's signed index; the .dsc's own
# signature would need the Debian developers' keyring, which is not
# installed.  Work files go to DIR/apt.  CFS_DEBIAN_MIRROR overrides
# http://deb.debian.org/debian.  A failed fetch is one line, which ends with
# WAY-OUT (default: set CFS_DEBIAN_MIRROR to a reachable mirror).
set -euo pipefail
suite=$1 package=$2 way_out=${4:-set CFS_DEBIAN_MIRROR to a reachable mirror}
mkdir -p "$3"
dir=$(cd "$3" && pwd) # apt's paths below must not depend on the directory it runs in
mirror=${CFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/dl"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" \
  >"$dir/apt/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$dir/apt/sources.list" -o "Dir::Etc::SourceParts=$dir/apt/none"
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache"
  -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
)
if ! apt-get "${apt_opts[@]}" -qq update >&2 ||
   ! (cd "$dir/dl" && apt-get "${apt_opts[@]}" -qq source --download-only "$package" >&2); then
  echo "condafs: cannot fetch Debian's $package source package ($suite) from $mirror;" \
    "$way_out" >&2
  exit 1
fi
# Unpacked beside the downloads, where dpkg-source also links the tarball.
dpkg-source --no-check -x "$(ls "$dir"/dl/"${package}"_*.dsc)" "$dir/dl/src" >/dev/null
mv "$dir/dl/src" "$dir/src"
