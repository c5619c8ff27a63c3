#!/usr/bin/env bash
# test_docs — scripts/check-docs.py against fixture trees, then against the
# real docs/.
#
# Each directory tests/docs/cases/NAME is a tiny repository (a docs/ with a
# docs/generated/ results file, and the code files its pages cite); the
# case runs `check-docs.py --root` on it and wants exactly the lines of
# NAME/expected on stdout, and exit status 1 if there are any, else 0:
#   match            figures that are in the results pass (Go-format header)
#   absent           a figure in no results file fails, with the nearest value
#                    (also a unit split over two lines: 19 system / calls)
#   rounded          41.8 µs, 42 µs and 0.04 ms from 41754 ns/op pass
#   wrong-rounding   41.7 µs from 41754 ns/op fails
#   no-cores         a results file without `cores` fails
#   constant-ok      <!-- constant: 1280 B rt/stack.c --> sources "1280-byte"
#   constant-missing the same, rt/stack.c holding 12800 only, fails twice
#   broken-link      missing targets, a missing heading, a link out of the
#                    repository fail; existing files and headings pass
#   missing-path     code paths: missing file, line past the end, glob that
#                    matches nothing, bare Makefile fail; the rest pass
#   bound            ≤ 0.3×, at most, up to, under, less than, target pass
#   fenced           ```c and ```sh blocks are skipped, ``` and ```text not
#   ranges           18-21 ns passes, 18–25 ns and 18, 21 and 23 ns fail
#   table            cells under a header unit (CPU µs/email) are figures
#   not-figures      dates, versions, §8, 0x60, code, URLs, comments, 4 × 8192
# and also: --help exits 0 and states the rules; --list names what a figure
# matched; real_docs: the repository's own docs/ pass.
#
# `make` installs this file as build/tests/docs/test_docs, and
# scripts/run-tests.sh reads its summary, printed the way cmocka prints one.
set -uo pipefail

# The repository: up from this file (tests/docs/ or build/tests/docs/) to
# the directory holding scripts/check-docs.py; else the current one.
root=$(cd "$(dirname "$0")" && pwd)
while [ "$root" != / ] && ! [ -f "$root/scripts/check-docs.py" ]; do root=$(dirname "$root"); done
[ -f "$root/scripts/check-docs.py" ] || root=$PWD
check=$root/scripts/check-docs.py
cases_dir=$root/tests/docs/cases
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bad=0
fail() { echo "$*"; bad=1; return 1; }

# A fixture case: exactly the expected lines, and the matching exit status.
fixture() {
	local dir=$cases_dir/$1 rc want_rc=0
	[ -d "$dir" ] || fail "no fixture $dir" || return 1
	python3 "$check" --root "$dir" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ -s "$dir/expected" ] && want_rc=1
	[ "$rc" = "$want_rc" ] || fail "exit status $rc, expected $want_rc; stderr:"$'\n'"$(cat "$tmp/err")"
	diff -u "$dir/expected" "$tmp/out" >"$tmp/diff" ||
		fail "output differs from $dir/expected:"$'\n'"$(cat "$tmp/diff")"
}

case_help() {
	python3 "$check" --help >"$tmp/help" 2>&1 || fail "--help exits non-zero" || return 1
	local w
	for w in --root --list 'RESULTS FILES' 'constant:' 'Not figures' 'CODE REFERENCES'; do
		grep -q -- "$w" "$tmp/help" || fail "--help does not mention '$w'"
	done
}

case_list() {
	python3 "$check" --root "$cases_dir/rounded" --list >"$tmp/list" 2>&1 ||
		fail "--list on the rounded fixture exits non-zero" || return 1
	grep -qF 'docs/page.md:3: "41.8 µs" matches "41754 ns/op" in docs/generated/results.txt:7' "$tmp/list" ||
		fail "--list does not say what 41.8 µs matched:"$'\n'"$(cat "$tmp/list")"
	python3 "$check" --root "$cases_dir/bound" --list >"$tmp/list" 2>&1
	grep -qF '"0.3×" skipped (a bound or target)' "$tmp/list" ||
		fail "--list does not show the skipped bound:"$'\n'"$(cat "$tmp/list")"
}

# The repository's own pages and results files.
case_real_docs() {
	python3 "$check" --root "$root" >"$tmp/real" 2>&1 && return 0
	cat "$tmp/real"
	fail "scripts/check-docs.py finds problems in docs/ (above)"
}

cases=()
for d in "$cases_dir"/*/; do
	d=${d%/}
	cases+=("fixture:${d##*/}")
done
cases+=(help list real_docs)

tl_case() {
	case $1 in
	fixture:*) fixture "${1#fixture:}" ;;
	*) "case_$1" ;;
	esac
}

. "$root/tests/common/lib_cases.sh"
tl_run_cases "${cases[@]}"
