#!/bin/bash
# SPDX-License-Identifier: MIT
# condafs report of the realistic environment, indexed with --preset expert
# so that rules prune, and of a working set traced by condafs run (one
# workload as a working set, another as a trace): the page's data adds up to
# condafs du --json, condafs workset --json and the tar condafs export
# writes; the same inputs give the same bytes; headless chromium renders it
# (report-check.py checks the screenshot's colours and the DOM the page's
# JavaScript built). The same without a working set: kept against pruned.
# Usage: report.sh path/to/condafs [build-dir]
source "$(dirname "$0")/lib.sh"
enter_ns "$@"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[[ -n $CHROMIUM ]] || skip "chromium is not installed (tools/deps.sh installs it)"
preset_index "$T/env.cfs" expert
IDX=$T/env.cfs
run=("$CONDAFS" run "$IDX" --cache "$T/cache")

out=$("${run[@]}" --trace "$T/t1.jsonl" -- /env/bin/python3 -c 'import json, sqlite3, flask; print("ok")') ||
	fail "condafs run python3 failed"
[[ $out == ok ]] || fail "python3 printed $out"
"${run[@]}" --trace "$T/t2.jsonl" -- /env/bin/pygmentize -V >/dev/null || fail "condafs run pygmentize failed"
"$CONDAFS" workset "$T/t1.jsonl" --index "$IDX" -o "$T/app.ws" -q || fail "condafs workset t1 failed"
# What the report should count: the working set of both traces.
"$CONDAFS" workset "$T/t1.jsonl" "$T/t2.jsonl" --index "$IDX" -o "$T/both.ws" --json >"$T/ws.json" ||
	fail "condafs workset t1 t2 failed"

"$CONDAFS" report "$IDX" --workset "$T/app.ws" --trace "$T/t2.jsonl" -o "$T/report.html" >"$T/out" ||
	fail "condafs report failed"
log "$(cat "$T/out")"
"$CONDAFS" report "$IDX" --trace "$T/t2.jsonl" --workset "$T/app.ws" -o "$T/again.html" -q ||
	fail "condafs report (again) failed"
cmp "$T/report.html" "$T/again.html" || fail "the same inputs gave different pages"
"$CONDAFS" report "$IDX" -o "$T/plain.html" -q || fail "condafs report without a working set failed"

"$CONDAFS" export "$IDX" --workset "$T/both.ws" -o "$T/layer.tar" --cache "$T/cache" >"$T/export.out" ||
	fail "condafs export failed"
"$CONDAFS" export "$IDX" --all -o "$T/all.tar" -q || fail "condafs export --all failed"
"$CONDAFS" du "$IDX" --json >"$T/du.json" || fail "condafs du failed"
"$CONDAFS" du "$IDX" --by rule --json >"$T/du-rule.json" || fail "condafs du --by rule failed"

python3 "$HERE/report-check.py" "$CHROMIUM" "$T" || fail "the report's checks failed"
log "ok"
