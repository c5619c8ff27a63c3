#!/usr/bin/env bash
# results-header.sh [--prefix P] COMMAND... — print the header every
# committed results file under docs/generated/ starts with: the command
# that wrote it, the date, and the machine (CPU model, CPU count, kernel),
# one `key: value` line each, each line preceded by P (default "# ").
#
# The same keys head the Go-format results files that `threadlab micro`
# and `threadlab compare` write (there without the "# "), and
# scripts/check-docs.py refuses a results file that lacks any of them:
# a figure quoted in docs/ must say where, when and how it was measured.
set -euo pipefail
prefix='# '
if [ "${1:-}" = --prefix ]; then
	prefix=$2
	shift 2
fi
[ $# -gt 0 ] || { echo "usage: results-header.sh [--prefix P] COMMAND..." >&2; exit 2; }
model=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo | head -1)
echo "${prefix}command: $*"
echo "${prefix}date: $(date '+%Y-%m-%dT%H:%M:%S%z')"
echo "${prefix}cpu: ${model:-unknown}"
echo "${prefix}cores: $(getconf _NPROCESSORS_ONLN)"
echo "${prefix}kernel: $(uname -s) $(uname -r) $(uname -m)"
