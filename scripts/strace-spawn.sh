#!/usr/bin/env bash
# strace-spawn.sh — trace one raw thread's spawn and join, for docs/threads.md.
#
# Builds docs/code/spawn_one.c statically against build/lib/libthreadlab.a
# (with the Makefile's flags for static programs), runs it under `strace -f`
# and writes docs/generated/strace-spawn.txt: the header of
# scripts/results-header.sh (command, date, CPU, cores, kernel) with the
# strace and glibc versions and the traced command, then the trace, then
# the program's own output.
#
# Installs nothing. strace is in scripts/packages.txt's test group; when it
# is missing the script prints the apt-get line and exits 1.
#
# Usage: scripts/strace-spawn.sh [OUTPUT]   (default docs/generated/strace-spawn.txt)
set -euo pipefail
trap 'echo "strace-spawn.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case ${1:-} in
-h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
-*) echo "usage: scripts/strace-spawn.sh [OUTPUT]" >&2; exit 2 ;;
esac
out=${1:-docs/generated/strace-spawn.txt}
cc=${CC:-gcc}

if ! command -v strace >/dev/null 2>&1; then
	echo "strace-spawn.sh: strace is not installed. Install it as root with:" >&2
	echo "  apt-get install -y strace" >&2
	exit 1
fi

# The library as the tree has it now (make decides whether to rebuild).
make --no-print-directory lib >/dev/null

# The Makefile's linker choice: gold, else lld (scripts/linker.sh).
linker=$(scripts/linker.sh "$cc")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=build/docs/spawn_one
mkdir -p "$(dirname "$bin")" "$(dirname "$out")"
"$cc" -D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
	-fuse-ld="$linker" -static -Wl,-u,__libc_thread_freeres \
	docs/code/spawn_one.c build/lib/libthreadlab.a -o "$bin"

# -f follows the clone; -s 256 shows whole lines written; -o keeps the
# trace apart from the program's output.
strace -f -s 256 -o "$tmp/trace" "$bin" >"$tmp/stdout"

# (No `cmd | head -1` here: with pipefail, head closing the pipe early can
# kill cmd with SIGPIPE and, through set -e, the script without a word.)
glibc=$(getconf GNU_LIBC_VERSION | sed 's/^glibc //')
{
	scripts/results-header.sh scripts/strace-spawn.sh "$@"
	echo "# strace: $(strace -V | sed -n '1s/^.* -- version //p')"
	echo "# glibc: $glibc"
	echo "# traced: strace -f -s 256 $bin"
	echo "# --- strace -f (each line: thread id, system call, result) ---"
	cat "$tmp/trace"
	echo "# --- the program's standard output ---"
	cat "$tmp/stdout"
} >"$out"

# The page explains a trace in which join sleeps and the kernel wakes it;
# say so if this run did not catch that (the thread outran the joiner).
if ! grep -q 'FUTEX_WAIT' "$out"; then
	echo "strace-spawn.sh: warning: no FUTEX_WAIT in this trace (the thread exited before the join slept); run it again" >&2
fi
echo "wrote $out"
