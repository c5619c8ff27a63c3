#!/usr/bin/env bash
# rt-examples.sh — the output docs/tasks.md, docs/segmented-stacks.md and
# docs/io.md quote.
#
# Builds the library, the driver and the tests (make all) and
# docs/code/rt_switch.c, then writes docs/generated/rt.txt: the switch
# cost, the rt tests that print measurements (margin use, hot split, deep
# recursion RSS), the rt micro-benchmarks, the rt email sender under
# strace -c (docs/io.md), and the Go peer's micro-benchmarks when go is
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
linker=$(scripts/linker.sh "$cc")
mkdir -p build/docs docs/generated
"$cc" -D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra -fsplit-stack \
	-fuse-ld="$linker" docs/code/rt_switch.c build/lib/libthreadlab.a \
	-lnuma -luring -o build/docs/rt_switch

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
# What strace sees of the rt sender (docs/io.md, "Why strace cannot see
# the work"): 2000 emails at concurrency 200 with --reuse against the
# embedded sink, the ring's own counters, and the top of strace -c.
strace_send() {
	local tmp port pid i
	echo
	if ! command -v strace >/dev/null; then
		echo "# strace is not installed (apt-get install -y strace): no strace -c of the rt sender"
		return
	fi
	tmp=$(mktemp -d)
	build/bin/threadlab sink --listen 127.0.0.1:0 2>"$tmp/sink.err" &
	pid=$!
	port=
	for i in $(seq 50); do
		port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/sink.err")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ] || { kill "$pid"; echo "rt-examples.sh: the sink did not say its port" >&2; return 1; }
	echo "\$ build/bin/threadlab sink --listen 127.0.0.1:0 &      # says its port"
	echo "\$ strace -f -c -o /tmp/sc.rt.txt build/bin/threadlab send --model rt --emails 2000 --concurrency 200 --reuse --server 127.0.0.1:PORT | grep '^io_uring'"
	strace -f -c -o "$tmp/sc.rt.txt" build/bin/threadlab send --model rt \
		--emails 2000 --concurrency 200 --reuse \
		--server "127.0.0.1:$port" >"$tmp/send.out" 2>&1 ||
		{ kill "$pid"; cat "$tmp/send.out" >&2; return 1; }
	grep '^io_uring' "$tmp/send.out"
	echo "\$ head -4 /tmp/sc.rt.txt"
	sed -n 1,4p "$tmp/sc.rt.txt"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	rm -rf "$tmp"
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
	strace_send
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
