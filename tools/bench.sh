#!/bin/sh
# bench.sh — `make bench`: every module's benchmark, each measured against a
# reference run in the same invocation (ratios, never absolute timings
# asserted).  Each tools/bench-*.sh prints its own table.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
export CBD_TOP="$top" CBD_BUILD="$BUILD" PATH="$BUILD/bin:$PATH"
rc=0
for b in "$top"/tools/bench-*.sh; do
	[ -f "$b" ] || continue
	echo "== $(basename "$b" .sh)"
	sh "$b" || { echo "bench: $(basename "$b") failed" >&2; rc=1; }
done
exit $rc
