#!/usr/bin/env bash
# thread-examples.sh — the output docs/what-is-a-thread.md quotes.
#
# Builds docs/code/what_is_a_thread.c against build/lib/libthreadlab.a
# and runs it three times, writing docs/generated/what-is-a-thread.txt
# (header: scripts/results-header.sh): two raw threads allowed one CPU
# (`taskset -c 0`), the same two allowed two CPUs (`taskset -c 0,1`), and
# one thread alone, for the time one thread's work takes. Each run is
# preceded by a "$ command" line that repeats it.
#
# Usage: docs/code/thread-examples.sh
set -euo pipefail
trap 'echo "thread-examples.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=docs/generated/what-is-a-thread.txt
cc=${CC:-gcc}

command -v taskset >/dev/null ||
	{ echo "thread-examples.sh: taskset is missing (apt-get install -y util-linux)" >&2; exit 1; }
[ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ] ||
	{ echo "thread-examples.sh: needs two CPUs to show parallel threads" >&2; exit 1; }
make --no-print-directory lib >/dev/null
mkdir -p build/docs "$(dirname "$out")"
"$cc" -D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra \
	docs/code/what_is_a_thread.c build/lib/libthreadlab.a -o build/docs/what_is_a_thread

show() {
	echo
	echo "\$ $*"
	"$@"
}
{
	scripts/results-header.sh docs/code/thread-examples.sh
	show taskset -c 0 build/docs/what_is_a_thread 2
	show taskset -c 0,1 build/docs/what_is_a_thread 2
	show taskset -c 0 build/docs/what_is_a_thread 1
} >"$out"
cat "$out"
