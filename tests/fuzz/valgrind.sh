#!/bin/sh
# valgrind.sh — the CLI suite's main paths under valgrind (make valgrind).
#
#   BUILD=build sh tests/fuzz/valgrind.sh [bats files...]
#
# Every cbd-* tool on PATH is replaced by a wrapper that runs the real one
# under memcheck (--leak-check=full, definite and indirect leaks count as
# errors, --error-exitcode=99), each process logging to its own file.  By
# default the main paths run once (keys, archives, trigger signing,
# inference, serve + probe, attribution, report, and a few refusals); with
# bats files as arguments (or VALGRIND_BATS) those suites run instead.  It
# fails if a step fails or any log shows an error or a definite/indirect
# leak (the logs are printed).  Third-party noise: tests/valgrind.supp only.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
work=$(mktemp -d)
# VALGRIND_KEEP=1 keeps the logs and scratch files (the path is printed).
trap '[ -n "${VALGRIND_KEEP:-}" ] && echo "# valgrind: kept $work" || rm -rf "$work"' EXIT
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
# main_paths: the pipeline once, each tool under memcheck; small inputs.
main_paths() {
	set -e
	M="$top/models/mnist-cnn.onnx"
	cd "$work/run"
	/usr/bin/python3 -c "import numpy as np; np.save('base.npy', np.load('$top/models/mnist-heldout-images.npy')[:4])"
	cbd-keygen owner >/dev/null
	cbd-keygen investigator inv >/dev/null
	cbd-keygen user alice -K ring.json >/dev/null
	cbd-embed "$M" -m watermark -k owner.key -o wm.cbd
	cbd-embed "$M" -m trace -k owner.key -K ring.json -d copies >/dev/null
	cbd-verify wm.cbd >/dev/null
	cbd-verify --info copies/*.cbd >/dev/null
	cbd-sign triggers -q -a wm.cbd -k owner.key --from base.npy -o trig.json
	cbd-verify trig.json >/dev/null
	cbd-run wm.cbd "$top/models/test/digit-7.png" >/dev/null
	cbd-run -q -l "$top/models/mnist-heldout-labels.npy" "$M" base.npy \
		>/dev/null 2>&1 || true
	cbd-serve --port 0 --port-file port --quiet --threads 1 wm.cbd &
	srv=$!
	i=0
	while [ ! -s port ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
	cbd-probe -q -m wm -o t.jsonl "http://127.0.0.1:$(cat port)" trig.json \
		|| cbd-probe -q -o t2.jsonl -b archive wm.cbd trig.json
	kill -TERM "$srv"
	wait "$srv"
	cbd-probe -q -o t3.jsonl -b archive wm.cbd trig.json
	cbd-verify t3.jsonl >/dev/null
	SOURCE_DATE_EPOCH=1764000000 cbd-attribute -q -t trig.json -w \
		-s inv.key -c C-1 -i Dana -o rep.json t3.jsonl || [ $? -eq 1 ]
	cbd-report -q rep.json -o rep.pdf
	# refusals: hostile inputs exit non-zero, and still no memory errors
	printf 'garbage' > bad.cbd
	if cbd-verify bad.cbd 2>/dev/null; then exit 1; fi
	head -c 100 "$top/models/test/digit-7.png" > cut.png
	if cbd-run "$M" cut.png 2>/dev/null; then exit 1; fi
	if cbd-embed "$M" -m watermark -k owner.pub -o x.cbd 2>/dev/null; then
		exit 1
	fi
	set +e
}

mkdir -p "$work/run"
export CBD_TOP="$top" CBD_BUILD="$BUILD" PATH="$work/bin:$BUILD/bin:$PATH" \
	CBD_THREADS=1
if [ $# -eq 0 ] && [ -z "${VALGRIND_BATS:-}" ]; then
	echo "# valgrind: main paths (keygen, embed, verify, sign, run, serve," \
		"probe, attribute, report, refusals)"
	( main_paths )
else
	[ $# -eq 0 ] && set -- $VALGRIND_BATS
	echo "# valgrind: $*"
	bats --tap "$@"
fi
rc=$?
bad=0
for l in "$work"/logs/*.log; do
	[ -s "$l" ] || continue
	if grep -q 'ERROR SUMMARY: [1-9]\|are definitely lost\|are indirectly lost\|Invalid \(read\|write\|free\)\|uninitialised\|Mismatched free\|overlap' "$l"; then
		echo "# valgrind: errors in $(basename "$l"):"
		sed 's/^/#   /' "$l"
		bad=1
	fi
done
n=$(ls "$work"/logs | wc -l)
echo "# valgrind: $n processes checked"
if [ $rc -ne 0 ] || [ $bad -ne 0 ]; then
	echo "valgrind: FAILED (steps rc=$rc, memcheck errors=$bad)"
	exit 1
fi
echo "valgrind: ok, no errors or leaks in $n processes"
