#!/usr/bin/env bash
# raw-limits.sh — show what does not work on raw threads (docs/threads.md).
#
# Builds docs/code/raw_limits.c twice against build/lib/libthreadlab.a, as
# the Makefile builds programs: statically (with __libc_thread_freeres) and
# dynamically (as the cmocka tests are), runs both, and writes
# docs/generated/raw-limits.txt, headed by scripts/results-header.sh (the
# command, date, CPU, cores, kernel) and the glibc version and uid.
#
# It then writes docs/generated/futex-count.txt, the table of docs/futex.md
# section 3: the futex_count program that page contains, extracted from it
# and built here, run five times for each mutex (two, three, sys) and 1, 2
# and 8 raw threads, each run's futex system calls counted with perf's
# syscalls:sys_enter_futex tracepoint (the page's own command). Without a
# perf that may count it, the file says so instead.
#
# Usage: docs/code/raw-limits.sh [N]   (threads per round, default 200)
set -euo pipefail
trap 'echo "raw-limits.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
case ${1:-} in
-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
''|*[!0-9]*) [ $# -eq 0 ] || { echo "usage: docs/code/raw-limits.sh [N]" >&2; exit 2; } ;;
esac
n=${1:-200}
out=docs/generated/raw-limits.txt
cc=${CC:-gcc}

make --no-print-directory lib >/dev/null

linker=$(scripts/linker.sh "$cc")

flags=(-D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fuse-ld="$linker")
mkdir -p build/docs "$(dirname "$out")"
"$cc" "${flags[@]}" -static -Wl,-u,__libc_thread_freeres \
	docs/code/raw_limits.c build/lib/libthreadlab.a -o build/docs/raw_limits_static
"$cc" "${flags[@]}" docs/code/raw_limits.c build/lib/libthreadlab.a \
	-o build/docs/raw_limits_dynamic

# (No `cmd | head -1` here: with pipefail, head closing the pipe early can
# kill cmd with SIGPIPE and, through set -e, the script without a word.)
glibc=$(getconf GNU_LIBC_VERSION | sed 's/^glibc //')
{
	scripts/results-header.sh docs/code/raw-limits.sh "$@"
	echo "# glibc: $glibc"
	echo "# uid: $(id -u)"
	echo "# threads per round: $n"
	for kind in static dynamic; do
		echo "# --- build/docs/raw_limits_$kind $n ---"
		"build/docs/raw_limits_$kind" "$n"
	done
} >"$out"
cat "$out"

# docs/futex.md's futex_count, counted as that page's command does.
fout=docs/generated/futex-count.txt
sed -n '/^\/\* futex_count\.c/,/^```$/p' docs/futex.md | sed '$d' >build/docs/futex_count.c
"$cc" -O2 -D_GNU_SOURCE -I. build/docs/futex_count.c build/lib/libthreadlab.a \
	-o build/docs/futex_count
{
	scripts/results-header.sh docs/code/raw-limits.sh "$@"
	echo "# glibc: $glibc"
	echo "# program: docs/futex.md's futex_count.c, built as build/docs/futex_count"
	echo "# lock/unlock pairs per thread: 100000"
	if command -v perf >/dev/null &&
	   perf stat -x, -o /dev/null -e syscalls:sys_enter_futex true >/dev/null 2>&1; then
		echo "# each line: mutex, threads, run, futex system calls (perf stat -x, -e syscalls:sys_enter_futex build/docs/futex_count MUTEX THREADS 100000)"
		for n in 1 2 8; do for m in two three sys; do for run in 1 2 3 4 5; do
			printf '%-5s %d thread(s), run %d: ' $m $n $run
			perf stat -x, -o build/docs/futex_count.csv -e syscalls:sys_enter_futex \
				build/docs/futex_count $m $n 100000 >/dev/null || printf 'COUNTER WRONG '
			grep sys_enter_futex build/docs/futex_count.csv | cut -d, -f1
		done; done; done
	else
		echo "# perf cannot count syscalls:sys_enter_futex here (apt-get install -y linux-perf; tracefs mounted, root)"
	fi
} >"$fout"
cat "$fout"
