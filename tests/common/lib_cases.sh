# lib_cases.sh — the runner of the tests written as shell scripts
# (tests/<layer>/test_*.sh), sourced by them: it runs their cases and
# prints cmocka's lines, which scripts/run-tests.sh reads.
#
# A script defines tl_case NAME, which runs one case and returns 0 when it
# passed, 77 when it was skipped (after printing why), anything else when
# it failed; a case may also set the global `bad` to non-zero to fail.
# `tl_run_cases NAME...` runs them in order and returns 1 when any failed.

tl_run_cases() {
	local passed=() failed=() skipped=() c rc
	echo "[==========] Running $# test(s)."
	for c in "$@"; do
		echo "[ RUN      ] $c"
		bad=0
		tl_case "$c"
		rc=$?
		if [ "$rc" = 77 ]; then
			echo "[  SKIPPED ] $c"; skipped+=("$c")
		elif [ "$rc" = 0 ] && [ "$bad" = 0 ]; then
			echo "[       OK ] $c"; passed+=("$c")
		else
			echo "[  FAILED  ] $c"; failed+=("$c")
		fi
	done
	echo "[==========] $# test(s) run."
	echo "[  PASSED  ] ${#passed[@]} test(s)."
	if [ ${#skipped[@]} -gt 0 ]; then
		echo "[  SKIPPED ] ${#skipped[@]} test(s), listed below:"
		for c in "${skipped[@]}"; do echo "[  SKIPPED ] $c"; done
	fi
	if [ ${#failed[@]} -gt 0 ]; then
		echo "[  FAILED  ] ${#failed[@]} test(s), listed below:"
		for c in "${failed[@]}"; do echo "[  FAILED  ] $c"; done
		return 1
	fi
	return 0
}
