#!/bin/sh
# run.sh — run every test suite and print one summary line.
#
# Each suite speaks TAP ("ok N ..." / "not ok N ..."): the cmocka unit tests
# (CMOCKA_MESSAGE_OUTPUT=TAP), the bats CLI tests (--tap) and the conformance
# runners (tests/conformance/run-*).  The last line is
#   tests: N passed, N failed
# and the exit status is non-zero if anything failed or a suite crashed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
export CBD_TOP="$top" CBD_BUILD="$BUILD" PATH="$BUILD/bin:$PATH"
# Sanitizer builds (make check SAN=1): leaks inside third-party libraries
# are suppressed by tests/lsan.supp (never a libcbd frame); ours fail.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
crashed=0

run_suite() { # name, command...
	name=$1
	shift
	echo "# suite: $name"
	out=$(mktemp)
	"$@" >"$out" 2>&1
	rc=$?
	cat "$out"
	cat "$out" >>"$log"
	if [ $rc -ne 0 ] && ! grep '^not ok' "$out" | grep -vqi '# skip'; then
		echo "not ok - suite $name exited $rc without a failing test"
		echo "not ok - suite $name exited $rc" >>"$log"
	fi
	rm -f "$out"
}

for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	run_suite "unit/$(basename "$t")" env CMOCKA_MESSAGE_OUTPUT=TAP "$t"
done
for r in "$top"/tests/conformance/run-*; do
	[ -x "$r" ] || continue
	run_suite "conformance/$(basename "$r")" "$r"
done
if ls "$top"/tests/cli/*.bats >/dev/null 2>&1; then
	run_suite cli bats --tap "$top"/tests/cli
fi

# A skip is "ok N ... # SKIP" in TAP (bats, our runners), but cmocka prints
# "not ok N ... # SKIP": count both as skipped, never as failed.
passed=$(grep '^ok ' "$log" | grep -vci '# skip')
failed=$(grep '^not ok' "$log" | grep -vci '# skip')
skipped=$(grep -E '^(not )?ok ' "$log" | grep -ci '# skip')
if [ "$skipped" -gt 0 ]; then
	echo "tests: $passed passed, $failed failed, $skipped skipped"
else
	echo "tests: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
