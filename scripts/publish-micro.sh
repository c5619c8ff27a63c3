#!/usr/bin/env bash
# publish-micro.sh [RESULTS] — put the latest `threadlab micro` results
# (RESULTS, default out/bench/results.txt) into the docs: copies them to
# docs/generated/micro/results.txt and writes their medians and ratios
# to docs/generated/micro/summary.md (scripts/summarize-micro.py). The
# course pages quote those two files, and scripts/check-docs.py checks
# every figure they quote against them. `make bench` runs this after a
# full (default) run; a run with BENCH_ARGS is not published.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-out/bench/results.txt}
dst=docs/generated/micro
[ -s "$src" ] || { echo "publish-micro.sh: no $src" >&2; exit 1; }
grep -q '^command: ' "$src" ||
	{ echo "publish-micro.sh: $src has no command: line (written by an older threadlab?)" >&2; exit 1; }
if grep -q '^--- FAIL' "$src"; then
	echo "publish-micro.sh: $src records failed benchmarks; not published" >&2
	exit 1
fi
mkdir -p "$dst"
cp "$src" "$dst/results.txt"
python3 scripts/summarize-micro.py "$dst/results.txt" "$dst/summary.md"
echo "publish-micro.sh: $dst/results.txt and $dst/summary.md updated from $src"
