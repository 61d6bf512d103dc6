#!/bin/sh
# bench-until-verdict.sh — how many of the demo's 64 triggers does
# `cbd-probe --until-verdict` spend before the verdict is settled?
#
# Runs tools/demo.sh (5 licensees, carol's trace copy leaked, 64 triggers)
# into a temporary directory, then probes RUNS times each, every run in a
# fresh random order (a new seed): carol's copy served by cbd-serve (the
# leak: carol must be accused, every time), and the bare classifier (no
# licensee's copy: nobody may be accused).  Prints the triggers spent per
# run and their minimum, median and maximum, and checks each verdict with
# cbd-attribute (which applies the same sequential rule).
#
#   BUILD=build sh tools/bench-until-verdict.sh [RUNS]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
runs=${1:-20}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cbd-bench-uv.XXXXXX")
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
CBD_DEMO_DIR="$dir/demo" sh "$top/tools/demo.sh" >"$dir/demo.log" 2>&1
cd "$dir/demo"

serve() {
	rm -f port
	cbd-serve --port 0 --port-file port --quiet -n mnist-cnn "$1" 2>>"$dir/serve.log" &
	server=$!
	for _ in $(seq 200); do
		[ -s port ] && return 0
		sleep 0.05
	done
	echo "bench-until-verdict: cbd-serve did not start" >&2
	exit 69
}

# probe RUNS times; $1 = label, $2 = who must be accused ("" = nobody)
measure() {
	: >"$dir/spent"
	n=0
	while [ $n -lt "$runs" ]; do
		n=$((n + 1))
		cbd-probe -q -f --json -m mnist-cnn --until-verdict keys/users.keyring \
			-o uv.jsonl "http://127.0.0.1:$(cat port)" triggers.json >uv.sum
		sed -n 's/.*"answered":\([0-9]*\).*"settled":\([a-z]*\).*/\1 \2/p' uv.sum >>"$dir/spent"
		set +e
		cbd-attribute -q --json -t triggers.json -K keys/users.keyring uv.jsonl >uv.report
		set -e
		got=$(sed -n 's/.*"attributed": \[\([^]]*\)\].*/\1/p' uv.report | tr -d '" ')
		[ "$got" = "$2" ] || { echo "$1: run $n attributed '$got', want '$2'" >&2; exit 1; }
	done
	sort -n "$dir/spent" | awk -v what="$1" '
		{ s[NR] = $1; if ($2 != "true") unsettled++ }
		END { printf "%s: %d runs, triggers spent min %d, median %d, max %d of 64; %d never settled\n",
			what, NR, s[1], s[int((NR + 1) / 2)], s[NR], unsettled + 0 }'
}

echo "# bench-until-verdict: the demo's 5 users, 64 triggers, $runs runs each"
serve copies/mnist-cnn-carol.cbd
measure "carol's copy (accused every run)" carol
kill "$server"; wait "$server" 2>/dev/null || true; server=
serve "$top/models/mnist-cnn.onnx"
measure "bare classifier (nobody accused)" ""
