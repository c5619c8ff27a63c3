#!/usr/bin/env bash
# rt-examples.sh — the output docs/tasks.md and docs/segmented-stacks.md
# quote.
#
# Builds the library, the driver and the tests (make all) and
# docs/code/rt_switch.c, then writes docs/generated/rt.txt: the switch
# cost, the rt tests that print measurements (margin use, hot split, deep
# recursion RSS), the rt micro-benchmarks, and the Go peer's when go is
# installed — each run preceded by a "$ command" line that repeats it,
# the file headed by scripts/results-header.sh (command, date, CPU, cores,
# kernel) and the glibc and gcc versions, usable CPUs and load average.
#
# Usage: docs/code/rt-examples.sh
set -euo pipefail
trap 'echo "rt-examples.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cc=${CC:-gcc}
out=docs/generated/rt.txt

make --no-print-directory all >/dev/null 2>&1 || make --no-print-directory all
linker=
for l in gold lld; do
	if "$cc" -fuse-ld=$l -Wl,--version >/dev/null 2>&1; then linker=$l; break; fi
done
[ -n "$linker" ] || { echo "rt-examples.sh: neither ld.gold nor ld.lld works (apt-get install -y binutils)" >&2; exit 1; }
mkdir -p build/docs docs/generated
"$cc" -D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra -fsplit-stack \
	-fuse-ld="$linker" docs/code/rt_switch.c build/lib/libthreadlab.a \
	-lnuma -o build/docs/rt_switch

glibc=$(getconf GNU_LIBC_VERSION | sed 's/^glibc //')
run() {
	echo
	echo "\$ $*"
	env "$@" 2>&1
}
# The same for a test binary, keeping only the lines that measure.
run_test() {
	local filter=$1 bin=$2 keep=$3
	echo
	echo "\$ RTT_FILTER='$filter' $bin | grep -E '$keep'"
	RTT_FILTER="$filter" "$bin" 2>&1 | grep -E "$keep"
}
{
	scripts/results-header.sh docs/code/rt-examples.sh "$@"
	echo "# glibc: $glibc"
	echo "# gcc: $("$cc" -dumpversion)"
	echo "# cpus usable: $(nproc)"
	echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	run build/docs/rt_switch
	run_test '*margin*' build/tests/rt/test_stack 'deepest|PASSED|FAILED'
	run_test '*hot_split*' build/tests/rt/test_stack 'RUN|per call|PASSED|FAILED'
	run_test '*deep_recursion*' build/tests/rt/test_stack 'RUN|rss|PASSED|FAILED'
	echo
	echo "\$ build/bin/threadlab micro --filter 'model=rt' --count 3 --benchtime 500ms"
	build/bin/threadlab micro --filter 'model=rt' --count 3 \
		--benchtime 500ms 2>/dev/null
	if command -v go >/dev/null; then
		echo
		echo "\$ (cd bench/micro/go && GOMAXPROCS=2 go test -run '^\$' -bench 'Spawn|Yield|ParkedRSS|HotSplit' -count 3 -benchtime 500ms)"
		(cd bench/micro/go && GOMAXPROCS=2 go test -run '^$' \
			-bench 'Spawn|Yield|ParkedRSS|HotSplit' -count 3 \
			-benchtime 500ms 2>&1 | grep -E '^Benchmark')
		echo
		echo "\$ (cd bench/micro/go && GOMAXPROCS=1 go test -run '^\$' -bench 'Yield' -count 3 -benchtime 500ms)"
		(cd bench/micro/go && GOMAXPROCS=1 go test -run '^$' \
			-bench 'Yield' -count 3 -benchtime 500ms 2>&1 |
			grep -E '^Benchmark')
	fi
} > "$out"
echo "wrote $out"
