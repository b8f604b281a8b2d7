#!/usr/bin/env bash
# Packs a runs directory (compare.py --runs-dir) into $OUT so that it comes back from a device
# call: the device tool returns at most 8 files of 16 MiB each, and checkpoints of Syne Tune's
# MOBSTER are 1-3 MB apiece (gzipped already: xz gains nothing), so a tar of a few dozen does not
# fit one file. Leaves out checkpoints of runs that have finished (a stale <run>.partial beside
# its <run>.json, left where an older copy was unpacked over the newer) and splits the tar into
# 15 MB parts, runs.tar.part.aa, .ab, ...; it fails, packing nothing, past 8 parts.
#   bash benchmarks/device/pack_runs.sh RUNS "$OUT"
# Here: cat FILES_AT/runs.tar.part.* | tar x -C RUNS
set -euo pipefail
runs=$1
out=$2
cd "$runs"
for json in */*.json; do
  [ -e "$json" ] && rm -f "${json%.json}.partial"
done
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
find . \( -name '*.json' -o -name '*.partial' \) -print0 | tar cf "$tmp" --null -T -
parts=$(( ($(stat -c %s "$tmp") + 14999999) / 15000000 ))
if [ "$parts" -gt 8 ]; then
  echo "pack_runs: $runs is $(stat -c %s "$tmp") bytes as a tar, more than 8 parts of 15 MB:" \
    "bring back fewer runs" >&2
  exit 1
fi
split -b 15000000 "$tmp" "$out/runs.tar.part."
ls -l "$out"/runs.tar.part.*
