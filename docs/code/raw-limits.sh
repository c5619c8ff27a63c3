#!/usr/bin/env bash
# raw-limits.sh — show what does not work on raw threads (docs/threads.md).
#
# Builds docs/code/raw_limits.c twice against build/lib/libthreadlab.a, as
# the Makefile builds programs: statically (with __libc_thread_freeres) and
# dynamically (as the cmocka tests are), runs both, and writes
# docs/generated/raw-limits.txt, headed by scripts/results-header.sh (the
# command, date, CPU, cores, kernel) and the glibc version and uid.
#
# Usage: docs/code/raw-limits.sh [N]   (threads per round, default 200)
set -euo pipefail
trap 'echo "raw-limits.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
n=${1:-200}
out=docs/generated/raw-limits.txt
cc=${CC:-gcc}

make --no-print-directory lib >/dev/null

linker=
for l in gold lld; do
	if "$cc" -fuse-ld=$l -Wl,--version >/dev/null 2>&1; then linker=$l; break; fi
done
[ -n "$linker" ] || { echo "raw-limits.sh: neither ld.gold nor ld.lld works (apt-get install -y binutils)" >&2; exit 1; }

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
