#!/usr/bin/env bash
# examples.sh — run every Go by Example program of docs/examples, write
# each one's output to docs/generated/examples/NAME.txt (headed by
# scripts/results-header.sh: command, date, CPU, cores, kernel) and put
# the same output into its page, between the lines
#     <!-- output: build/examples/NAME -->
#     <!-- end output -->
# followed by a line naming that results file and the command that
# rewrites it. Builds them first (make examples).
#
# Usage: docs/code/examples.sh [NAME...]   (default: every example)
set -euo pipefail
trap 'echo "examples.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

make --no-print-directory examples >/dev/null 2>&1 || make --no-print-directory examples
args=("$@")
if [ $# -eq 0 ]; then
	set -- $(cd docs/examples && ls *.c | sed 's/\.c$//')
fi
mkdir -p docs/generated/examples
for name in "$@"; do
	page=docs/examples/$name.md
	bin=build/examples/$name
	res=docs/generated/examples/$name.txt
	grep -q "^<!-- output: $bin -->\$" "$page" ||
		{ echo "examples.sh: $page has no output marker" >&2; exit 1; }
	run=$(mktemp)
	{
		echo "\$ $bin"
		"$bin"
	} >"$run"
	{
		scripts/results-header.sh docs/code/examples.sh "${args[@]}"
		echo "# cpus usable: $(nproc)"
		echo
		cat "$run"
	} >"$res"
	out=$(mktemp)
	{
		echo '```'
		cat "$run"
		echo '```'
		echo
		echo "Output of one run, from [generated/examples/$name.txt](../generated/examples/$name.txt)"
		echo "(its header says when and on what machine); \`docs/code/examples.sh $name\` runs it again."
	} >"$out"
	awk -v out="$out" -v start="<!-- output: $bin -->" '
		$0 == start { print; while ((getline l < out) > 0) print l;
			      skip = 1; next }
		skip && $0 == "<!-- end output -->" { skip = 0 }
		!skip { print }' "$page" >"$page.new"
	mv "$page.new" "$page"
	rm -f "$out" "$run"
	echo "wrote $res and $page"
done
