#!/usr/bin/env bash
# publish-compare.sh [DIR] — put the latest `threadlab compare` results
# (DIR, default out/compare) into the docs: copies report.md, results.txt
# and the SVG plots to docs/generated/compare/, and replaces the block
# between the markers in docs/email.md with the report's header lines,
# its Results table and the plots. `make compare` runs it after a full
# (default) comparison; a run with COMPARE_ARGS is not published.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${1:-out/compare}
dst=docs/generated/compare
page=docs/email.md
begin='<!-- compare:begin (scripts/publish-compare.sh writes this block) -->'
end='<!-- compare:end -->'

for f in report.md results.txt; do
	[ -s "$src/$f" ] || { echo "publish-compare.sh: no $src/$f" >&2; exit 1; }
done
grep -qF "$begin" "$page" && grep -qF "$end" "$page" ||
	{ echo "publish-compare.sh: $page has no compare markers" >&2; exit 1; }
mkdir -p "$dst"
rm -f "$dst"/*.svg
cp "$src/report.md" "$src/results.txt" "$dst/"
cp "$src"/*.svg "$dst/" 2>/dev/null || true

block=$(mktemp)
trap 'rm -f "$block"' EXIT
{
	echo "$begin"
	echo
	# The report's header lines (date, machine, command, server, ...).
	sed -n '3,/^$/p' "$src/report.md" | sed '/^$/d'
	echo
	# Its Results section, up to the next heading.
	sed -n '/^## Results/,/^## /p' "$src/report.md" | sed '1d;$d'
	for svg in "$dst"/*.svg; do
		[ -e "$svg" ] || continue
		name=$(basename "$svg" .svg)
		echo "![${name//-/ }](generated/compare/$name.svg)"
		echo
	done
	echo "The whole report, with the rt targets, the OS-thread notes and the"
	echo "syscalls by name: [generated/compare/report.md](generated/compare/report.md);"
	echo "every run in Go's benchmark format: [generated/compare/results.txt](generated/compare/results.txt)."
	echo
	echo "$end"
} > "$block"
python3 - "$page" "$block" "$begin" "$end" <<'PY'
import sys
page, block, begin, end = sys.argv[1:]
s = open(page).read()
i = s.index(begin)
j = s.index(end, i) + len(end)
open(page, 'w').write(s[:i] + open(block).read().rstrip('\n') + s[j:])
PY
echo "publish-compare.sh: $page and $dst updated from $src"
