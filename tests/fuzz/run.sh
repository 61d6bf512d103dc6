#!/bin/sh
# run.sh — run libFuzzer targets one after another (make fuzz).
#
#   FUZZ_BUILD=build-fuzz FUZZ_SECONDS=60 sh tests/fuzz/run.sh tensor ...
#
# For each target t: replay tests/fuzz/regress/t/* (every input that once
# crashed must now pass), then fuzz for FUZZ_SECONDS from the committed seeds
# (tests/fuzz/corpus/t/, read-only) into a working corpus under
# $FUZZ_BUILD/corpus/t/.  Crashes land in $FUZZ_BUILD/artifacts/t/.  One
# target at a time, one job: the machine is shared.  Prints one line per
# target with the executions done, and exits non-zero if any target crashed.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
case "$FUZZ_BUILD" in /*) ;; *) FUZZ_BUILD="$top/$FUZZ_BUILD" ;; esac
# One allocation over 512 MiB from an input of at most 1 MiB is a finding
# (a reader must check sizes before it allocates).
# Leaks count as findings; oneDNN's JIT and OpenSSL's one-time tables are
# filtered by the same suppressions file the sanitizer test run uses.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export CBD_THREADS=1 OMP_NUM_THREADS=1
failed=0
summary=""

for t in "$@"; do
	bin="$FUZZ_BUILD/fuzz/fuzz_$t"
	seeds="$top/tests/fuzz/corpus/$t"
	work="$FUZZ_BUILD/corpus/$t"
	art="$FUZZ_BUILD/artifacts/$t"
	log="$FUZZ_BUILD/logs/$t.log"
	mkdir -p "$work" "$art" "$(dirname "$log")" "$seeds"
	if [ ! -x "$bin" ]; then
		echo "fuzz: $t: no binary $bin" >&2
		failed=1
		continue
	fi
	reg="$top/tests/fuzz/regress/$t"
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
		if ! "$bin" "$reg"/* >"$log.regress" 2>&1; then
			echo "fuzz: $t: a regression input crashes again" \
				"(see $log.regress)" >&2
			failed=1
			continue
		fi
	fi
	echo "fuzz: $t: ${FUZZ_SECONDS}s from $(ls "$seeds" | wc -l) seeds"
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=25 \
		-rss_limit_mb=4096 -malloc_limit_mb=512 -max_len=1048576 \
		-print_final_stats=1 -artifact_prefix="$art/" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	line="$t: rc=$rc execs=${execs:-?} ${cov:-} corpus=$(ls "$work" | wc -l)"
	echo "fuzz: $line"
	summary="$summary$line
"
	if [ "$rc" -ne 0 ]; then
		failed=1
		echo "fuzz: $t crashed; artifact(s) in $art, log $log" >&2
		grep -m1 -A12 'ERROR\|contract\|runtime error\|fuzz:' "$log" >&2
	fi
done
printf '%s' "$summary" > "$FUZZ_BUILD/logs/summary.txt"
exit $failed
