#!/bin/sh
# valgrind.sh — the CLI suite's main paths under valgrind (make valgrind).
#
#   BUILD=build sh tests/fuzz/valgrind.sh [bats files...]
#
# Every cbd-* tool on PATH is replaced by a wrapper that runs the real one
# under memcheck (--leak-check=full, definite and indirect leaks count as
# errors, --error-exitcode=99), each process logging to its own file.  Then
# the given bats files run (default: $VALGRIND_BATS, or the main paths:
# keys.bats, run.bats and embed.bats: key handling, ONNX loading and
# inference with oneDNN, archive writing and reading).  It fails if a test fails or if
# any log shows an error or a definite/indirect leak; those logs are
# printed.  Third-party noise is suppressed in tests/valgrind.supp only.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/logs"
for t in "$BUILD"/bin/cbd-*; do
	[ -x "$t" ] || continue
	cat > "$work/bin/$(basename "$t")" <<EOS
#!/bin/sh
exec valgrind -q --error-exitcode=99 --leak-check=full \\
	--errors-for-leak-kinds=definite,indirect \\
	--show-leak-kinds=definite,indirect --track-origins=no \\
	--suppressions="$top/tests/valgrind.supp" \\
	--log-file="$work/logs/$(basename "$t").%p.log" "$t" "\$@"
EOS
	chmod +x "$work/bin/$(basename "$t")"
done
if [ $# -eq 0 ]; then
	if [ -n "${VALGRIND_BATS:-}" ]; then
		set -- $VALGRIND_BATS
	else
		for f in keys run embed; do
			[ -f "$top/tests/cli/$f.bats" ] && \
				set -- "$@" "$top/tests/cli/$f.bats"
		done
	fi
fi
echo "# valgrind: $*"
# The wrappers shadow the real tools; CBD_BUILD still points at the build
# so tests can find helpers and models.
CBD_TOP="$top" CBD_BUILD="$BUILD" PATH="$work/bin:$BUILD/bin:$PATH" \
	CBD_THREADS=1 bats --tap "$@"
rc=$?
bad=0
for l in "$work"/logs/*.log; do
	[ -s "$l" ] || continue
	if grep -q 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]\|indirectly lost: [1-9]\|Invalid \(read\|write\|free\)\|uninitialised' "$l"; then
		echo "# valgrind: errors in $(basename "$l"):"
		sed 's/^/#   /' "$l"
		bad=1
	fi
done
n=$(ls "$work"/logs | wc -l)
echo "# valgrind: $n processes checked"
if [ $rc -ne 0 ] || [ $bad -ne 0 ]; then
	echo "valgrind: FAILED (bats rc=$rc, memcheck errors=$bad)"
	exit 1
fi
echo "valgrind: ok, no errors or leaks in $n processes"
