#!/usr/bin/env bash
# examples.sh — run every Go by Example program of docs/examples and put
# its output into its page, between the lines
#     <!-- output: build/examples/NAME -->
#     <!-- end output -->
# with the command and the date above the output. Builds them first
# (make examples).
#
# Usage: docs/code/examples.sh [NAME...]   (default: every example)
set -euo pipefail
trap 'echo "examples.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

make --no-print-directory examples >/dev/null 2>&1 || make --no-print-directory examples
if [ $# -eq 0 ]; then
	set -- $(cd docs/examples && ls *.c | sed 's/\.c$//')
fi
when=$(date -u '+%Y-%m-%d %H:%M UTC')
for name in "$@"; do
	page=docs/examples/$name.md
	bin=build/examples/$name
	grep -q "^<!-- output: $bin -->\$" "$page" ||
		{ echo "examples.sh: $page has no output marker" >&2; exit 1; }
	out=$(mktemp)
	{
		echo '```'
		echo "\$ $bin          # $when, $(nproc) CPUs"
		"$bin"
		echo '```'
	} > "$out"
	awk -v out="$out" -v start="<!-- output: $bin -->" '
		$0 == start { print; while ((getline l < out) > 0) print l;
			      skip = 1; next }
		skip && $0 == "<!-- end output -->" { skip = 0 }
		!skip { print }' "$page" > "$page.new"
	mv "$page.new" "$page"
	rm -f "$out"
	echo "wrote $page"
done
