#!/usr/bin/env bash
# numa-examples.sh — the output docs/numa.md quotes.
#
# Builds the driver (make driver) and docs/code/numa_place.c against
# build/lib/libthreadlab.a, then writes
#   docs/generated/numa-topo.txt    `threadlab topo` on this machine and on
#                                   emulated layouts, and a rejected value
#   docs/generated/numa-place.txt   numa_place pinned and unpinned, under
#                                   perf stat's software events
#   docs/generated/numa-vm.txt      scripts/numa-vm.sh: the numa tests and
#                                   threadlab topo in a two-node QEMU guest
#                                   (only when the guest can be booted here)
# each opening with the header of scripts/results-header.sh (command, date,
# CPU, cores, kernel) and the glibc version, and every run preceded by a
# "$ command" line that repeats it.
#
# Usage: docs/code/numa-examples.sh
set -euo pipefail
trap 'echo "numa-examples.sh: failed at line $LINENO" >&2' ERR
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cc=${CC:-gcc}
tl=build/bin/threadlab

make --no-print-directory lib driver >/dev/null 2>&1 ||
	make --no-print-directory lib driver
linker=$(scripts/linker.sh "$cc")
mkdir -p build/docs docs/generated
"$cc" -D_GNU_SOURCE -I. -O2 -g -std=gnu11 -Wall -Wextra -fuse-ld="$linker" \
	docs/code/numa_place.c build/lib/libthreadlab.a -lnuma \
	-o build/docs/numa_place

glibc=$(getconf GNU_LIBC_VERSION | sed 's/^glibc //')
# The header of every file written: scripts/results-header.sh's command,
# date, CPU, cores and kernel, then the glibc version and usable CPUs.
header() {
	scripts/results-header.sh docs/code/numa-examples.sh "$@"
	echo "# glibc: $glibc"
	echo "# cpus usable: $(nproc)"
}
# Print "$ ENV... command args" (quoted as a shell would need), then run
# it; a non-zero exit is shown, not fatal.
show() {
	local shown=() a
	for a in "$@"; do
		if [[ $a =~ [^A-Za-z0-9_./=:,+-] ]]; then
			if [[ $a == *=* && ${a%%=*} =~ ^[A-Z_]+$ ]]; then
				shown+=("${a%%=*}='${a#*=}'")
			else
				shown+=("'$a'")
			fi
		else
			shown+=("$a")
		fi
	done
	echo
	echo "\$ ${shown[*]}"
	local rc=0
	env "$@" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || echo "(exit status $rc)"
}

asym4='0:0-1,1:2-3,2:4-5,3:6-7@10,12,20,30;25,10,14,20;20,14,10,12;30,20,12,10'
{
	header "$@"
	show $tl topo
	show THREADLAB_TOPOLOGY=0:0-7,1:8-15 $tl topo --workers 4
	show THREADLAB_TOPOLOGY=0:0-7,1:8-15 $tl topo --workers 4 --policy spread
	show THREADLAB_TOPOLOGY=0:0-7,1:8-15 THREADLAB_PLACEMENT=node=1 $tl topo --workers 3
	show $tl topo --topology "$asym4" --policy spread
	show $tl topo --topology '0:0-1,1:,2:2-3' --workers 6
	show $tl topo --topology '0:0-7;1:8-15'
	show THREADLAB_PLACEMENT=node=1 $tl topo --topology '0:0-3,1:'
} >docs/generated/numa-topo.txt

events=cpu-migrations,context-switches,page-faults
{
	header "$@"
	show build/docs/numa_place 2 64 pinned
	show THREADLAB_TOPOLOGY=0:0-3,1:4-7 THREADLAB_PLACEMENT=spread build/docs/numa_place 4 32 pinned
	if command -v perf >/dev/null && perf stat -e cpu-migrations true >/dev/null 2>&1; then
		for run in 1 2 3; do
			for mode in pinned unpinned; do
				show perf stat -e $events build/docs/numa_place 8 32 $mode
			done
		done
	else
		echo
		echo "# perf is not installed or not allowed here (apt-get install -y linux-perf)"
	fi
} >docs/generated/numa-place.txt
# A real two-node kernel, when QEMU and a kernel image are here (the `vm`
# group of scripts/packages.txt): the guest's tests and its threadlab topo.
{
	header "$@"
	show scripts/numa-vm.sh
} >build/docs/numa-vm.txt
if grep -q '^numa-vm.sh: passed$' build/docs/numa-vm.txt; then
	mv build/docs/numa-vm.txt docs/generated/numa-vm.txt
	echo "wrote docs/generated/numa-topo.txt, numa-place.txt and numa-vm.txt"
else
	echo "wrote docs/generated/numa-topo.txt and numa-place.txt (no VM run: see build/docs/numa-vm.txt)"
fi
