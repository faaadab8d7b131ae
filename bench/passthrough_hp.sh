#!/usr/bin/env bash
# Prints the path of libfuse's own passthrough_hp example, built once into
# build/bench/ from the Debian fuse3 source package that condafs links (the
# trixie suite; tools/debian-source.sh).  It serves a directory through
# FUSE with passthrough and does no work of its own: bench/mount.sh's
# variant "hp" runs it over the plain tree, as the fastest a FUSE server
# gets on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$PWD/build/bench/passthrough_hp
if [[ -x $out ]]; then
  echo "$out"
  exit 0
fi
command -v g++ >/dev/null || { echo "bench: passthrough_hp needs g++ (apt-get install g++)" >&2; exit 1; }
work=$PWD/build/bench/fuse3-src
rm -rf "$work"
bash tools/debian-source.sh trixie fuse3 "$work"
log=$work/build.log
if ! { meson setup "$work/build" "$work/src" -Ddefault_library=static -Dbuildtype=release \
         -Dutils=false -Dtests=false -Dexamples=true -Dc_args=-DIGNORE_MTAB &&
       ninja -C "$work/build" example/passthrough_hp; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "bench: building passthrough_hp failed; the whole log is $log" >&2
  exit 1
fi
mv "$work/build/example/passthrough_hp" "$out"
rm -rf "$work"
echo "$out"
