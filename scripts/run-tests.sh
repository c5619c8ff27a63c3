#!/usr/bin/env bash
# run-tests.sh DIR [NAME-REGEX] — run every test binary under DIR
# (build/tests/<layer>/test_*), one summary line each, then a final
# "N passed, N failed, N skipped" line counting test cases.
# Exit status: non-zero when any test failed or any binary crashed.
#
# Each binary runs under a time limit (TEST_TIMEOUT seconds, default 300);
# its full output goes to DIR/<layer>/<name>.log, and is printed when it
# fails. A skipped test is counted as skipped, never as passed.
set -uo pipefail
dir=${1:?usage: run-tests.sh DIR [NAME-REGEX]}
filter=${2:-.}
timeout_s=${TEST_TIMEOUT:-300}

passed=0 failed=0 skipped=0 bins=0 badbins=0
while IFS= read -r bin; do
	name=${bin#"$dir"/}
	[[ $name =~ $filter ]] || continue
	bins=$((bins + 1))
	log="$bin.log"
	start=$(date +%s.%N)
	timeout -k 5 "$timeout_s" "$bin" >"$log" 2>&1
	rc=$?
	secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
	# cmocka's summary: "[  PASSED  ] N test(s)." and, when there are
	# any, "[  FAILED  ] N test(s), listed below:" and the same for SKIPPED.
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below.*/\1/p' "$log" | tail -1)
	s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test(s), listed below.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0} s=${s:-0}
	status=PASS
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# Crashed, timed out, or failed outside any test case.
		f=1
		case $rc in
		124|137) status="FAIL (timed out after ${timeout_s}s)" ;;
		*) status="FAIL (exit status $rc)" ;;
		esac
	elif [ "$f" -gt 0 ]; then
		status=FAIL
	elif [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
		status=SKIP
	elif [ "$p" -eq 0 ]; then
		status="FAIL (ran no test)"; f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	printf '%-5s %-32s %4d passed, %d failed, %d skipped  (%ss)\n' \
		"${status%% *}" "$name" "$p" "$f" "$s" "$secs"
	if [ "$status" != PASS ] && [ "$status" != SKIP ]; then
		badbins=$((badbins + 1))
		echo "----- $name: $status; its output ($log):"
		tail -n 60 "$log"
		echo "-----"
	fi
done < <(find "$dir" -type f -name 'test_*' ! -name '*.log' -perm -u+x | sort)

if [ "$bins" -eq 0 ]; then
	echo "run-tests.sh: no test binaries under $dir" >&2
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$badbins" -eq 0 ]
