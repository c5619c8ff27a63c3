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
# matched; real_docs: the repository's own docs/ pass; what_is_a_thread:
# the demo of docs/what-is-a-thread.md builds, lists its threads and
# refuses bad input; line_counts: docs/code/line-counts.py's counting.
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

# docs/code/what_is_a_thread.c, the demo what-is-a-thread.md runs: built
# as thread-examples.sh builds it, run with two threads; the process's
# threads are listed (main + 2 spinners, all with the process's pid) and
# the CPU/wall line is printed. Bad input is refused with its usage.
case_what_is_a_thread() {
	[ -f "$root/build/lib/libthreadlab.a" ] || fail "no build/lib/libthreadlab.a (make lib)" || return 1
	gcc -D_GNU_SOURCE -I"$root" -O2 -std=gnu11 -Wall -Wextra -Werror \
		"$root/docs/code/what_is_a_thread.c" "$root/build/lib/libthreadlab.a" \
		-o "$tmp/witt" 2>"$tmp/cc" || fail "does not build:"$'\n'"$(cat "$tmp/cc")" || return 1
	"$tmp/witt" 2 >"$tmp/witt.out" 2>&1 || fail "exit status $?:"$'\n'"$(cat "$tmp/witt.out")" || return 1
	local pid tasks
	pid=$(sed -n 's/^process \([0-9]*\): main thread tid \1 .*/\1/p' "$tmp/witt.out")
	[ -n "$pid" ] || fail "no 'process PID: main thread tid PID' line:"$'\n'"$(cat "$tmp/witt.out")"
	[ "$(grep -c "same pid $pid\$" "$tmp/witt.out")" = 2 ] || fail "two spawned threads with pid $pid expected"
	tasks=$(sed -n '/^\/proc\/self\/task/,/threads done/p' "$tmp/witt.out" | grep -Ec '^  [0-9]+ ')
	[ "$tasks" = 3 ] || fail "/proc/self/task lists $tasks threads, expected 3:"$'\n'"$(cat "$tmp/witt.out")"
	grep -Eq '^2 threads done .*CPU/wall [0-9.]+ CPUs busy at once$' "$tmp/witt.out" ||
		fail "no CPU/wall line:"$'\n'"$(cat "$tmp/witt.out")"
	! "$tmp/witt" 0 >/dev/null 2>"$tmp/usage" || fail "0 threads accepted"
	grep -q '^usage: what_is_a_thread' "$tmp/usage" || fail "no usage for 0 threads"
}

# docs/code/line-counts.py: every file it counts exists, and a C file's
# comment-only and blank lines are not code lines.
case_line_counts() {
	python3 "$root/docs/code/line-counts.py" --stdout >"$tmp/lines" 2>&1 ||
		fail "line-counts.py --stdout failed:"$'\n'"$(cat "$tmp/lines")" || return 1
	grep -q '^# command: docs/code/line-counts.py$' "$tmp/lines" || fail "no results header"
	grep -Eq '^  bench/email/go/main.go: +[0-9]+ lines, +[0-9]+ code-lines$' "$tmp/lines" ||
		fail "no line for main.go:"$'\n'"$(cat "$tmp/lines")"
	python3 - "$root/docs/code/line-counts.py" <<'PY' || fail "comment stripping"
import importlib.util, sys
spec = importlib.util.spec_from_file_location('lc', sys.argv[1])
lc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lc)
c = 'int a; // x\n/* one\n   two */\n\n  // only\nchar *s = "/* no */";\n'
assert lc.code_lines_c(c) == 2, lc.code_lines_c(c)
py = '"""doc\nstring"""\n# c\nx = 1\n\ndef f():\n    """d"""\n    return x\n'
assert lc.code_lines_py(py) == 3, lc.code_lines_py(py)
PY
}

cases=()
for d in "$cases_dir"/*/; do
	d=${d%/}
	cases+=("fixture:${d##*/}")
done
cases+=(help list real_docs what_is_a_thread line_counts)

tl_case() {
	case $1 in
	fixture:*) fixture "${1#fixture:}" ;;
	*) "case_$1" ;;
	esac
}

. "$root/tests/common/lib_cases.sh"
tl_run_cases "${cases[@]}"
