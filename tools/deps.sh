#!/usr/bin/env bash
# Installs what condafs needs to build and to run its tests on Debian 12.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

pkgs=(
  # build
  meson ninja-build pkg-config gcc
  dpkg-dev  # dpkg-source: tools/fuse3.sh unpacks the fuse3 source package
  libfuse3-dev libarchive-dev libzstd-dev libsqlite3-dev libcurl4-openssl-dev
  libjansson-dev libyaml-dev libssl-dev zlib1g-dev
  # man pages: Markdown to roff at build time; man -l and groff check them
  go-md2man man-db groff-base
  # run
  fuse3
  # tests and benchmarks
  python3 conda-package-handling zstd bzip2 nginx bubblewrap curl
  squashfuse squashfs-tools util-linux procps strace
  iproute2 openssl  # bench/network.sh: tc, ip; the HTTPS servers' certificates
  python3-yaml  # tests/mount/sidecar.sh parses packaging/kubernetes/*.yaml
  python3-pip-whl python3-setuptools-whl  # tests/mount/wheels.sh: real wheels
  chromium  # tests/mount/report.sh renders condafs report's page headless
  # OCI export checks
  skopeo umoci podman runc
  # fuzzing (CI runs each harness for a bounded time)
  clang libclang-rt-14-dev
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "condafs: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
