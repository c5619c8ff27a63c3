#!/usr/bin/env bash
# linker.sh [CC] — print the linker threadlab links with: gold, else lld,
# whichever works with CC (default $CC, else gcc). Exits 1 with a message
# when neither does.
#
# Why: split-stack code (rt/) calling code built without -fsplit-stack
# (libc) must have those calls rewritten to ask for a big stack segment
# first; only gold and lld do that, and GNU ld links such a program without
# a word and it crashes at run time. The Makefile's LINKER and the
# docs/code scripts that build demo programs take it from here.
cc=${1:-${CC:-gcc}}
for l in gold lld; do
	if $cc -fuse-ld=$l -Wl,--version >/dev/null 2>&1; then
		echo "$l"
		exit 0
	fi
done
echo "linker.sh: neither ld.gold nor ld.lld works with $cc (apt-get install -y binutils, or apt-get install -y lld)" >&2
exit 1
