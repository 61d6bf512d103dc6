#!/bin/sh
# bench-soak.sh — 30 s soak of cbd-serve (make bench; issue 8).
#
#   BUILD=build sh tools/bench-soak.sh [SECONDS]
#
# The load.bats mix for longer: wrk with 48 connections of valid
# single-image requests and 16 of malformed, oversized and misrouted ones
# (tests/helpers/load_mix.lua) against a server on 127.0.0.1 with an
# ephemeral port, RSS sampled every 5 s.  Prints throughput, latency, the
# status counts and the RSS series; fails if a valid request did not get
# 200, an abusive one got anything but a 4xx, the server died, or RSS grew
# by more than 64 MiB after the first sample.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
secs=${1:-30}
[ "$secs" -le 600 ] || { echo "bench-soak: at most 600 s" >&2; exit 64; }
PY=/usr/bin/python3
work=$(mktemp -d)
srv=""
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
cd "$work"
"$BUILD/bin/cbd-serve" --port 0 --port-file port --max-body 300000 \
	--max-connections 128 --threads 2 --quiet --model-name mnist \
	"$top/models/mnist-cnn.onnx" 2>serve.log &
srv=$!
i=0
while [ ! -s port ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
url="http://127.0.0.1:$(cat port)"
$PY - "$top" <<'PYEOF'
import json, sys
import numpy as np
x = np.load(sys.argv[1] + "/models/mnist-heldout-images.npy")[:1]
d = (x.astype(np.float32) / np.float32(255)).flatten().tolist()
json.dump({"inputs": [{"name": "input", "shape": [1, 1, 28, 28],
           "datatype": "FP32", "data": d}]}, open("one.json", "w"))
open("big.json", "w").write('{"inputs": [' + "0," * 200000 + "0]}")
PYEOF
lua="$top/tests/helpers/load_mix.lua"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$srv/status"; }
wrk -t 2 -c 16 -d 2s -s "$lua" "$url" -- valid one.json >/dev/null
wrk -t 1 -c 16 -d "${secs}s" --timeout 10s -s "$lua" "$url" -- abuse \
	one.json big.json > abuse.out &
ab=$!
wrk -t 2 -c 48 -d "${secs}s" --timeout 10s --latency -s "$lua" "$url" -- \
	valid one.json > valid.out &
va=$!
series=""
t=0
while [ $t -le "$secs" ]; do
	series="$series $(rss)"
	sleep 5
	t=$((t + 5))
done
wait "$va" "$ab"
series="$series $(rss)"
echo "== valid (48 connections, ${secs}s)"
cat valid.out
echo "== abuse (16 connections)"
cat abuse.out
echo "== RSS (kB, every 5 s):$series"
fail=0
kill -0 "$srv" || { echo "bench-soak: server died"; fail=1; }
[ "$(grep -c '^status' valid.out)" -eq 1 ] && grep -q '^status 200 ' valid.out ||
	{ echo "bench-soak: a valid request got another status"; fail=1; }
grep -q '^errors connect 0 read 0 write 0 status 0 timeout 0$' valid.out ||
	{ echo "bench-soak: socket errors on valid requests"; fail=1; }
for s in $(sed -n 's/^status \([0-9]*\) .*/\1/p' abuse.out); do
	[ "$s" -ge 400 ] && [ "$s" -lt 500 ] ||
		{ echo "bench-soak: abusive request got $s"; fail=1; }
done
first=$(echo $series | cut -d' ' -f1)
last=$(echo $series | awk '{ print $NF }')
[ $((last - first)) -lt 65536 ] ||
	{ echo "bench-soak: RSS grew from $first to $last kB"; fail=1; }
[ $fail -eq 0 ] && echo "bench-soak: ok"
exit $fail
