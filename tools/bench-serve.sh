#!/bin/sh
# bench-serve.sh — cbd-serve under wrk (16 connections, single-sample
# Open Inference Protocol requests) beside in-process cbd-run doing the same
# work (batch 1, the same number of worker processes as server threads),
# and cbd-probe's query rate against the server.  Prints requests/s, p50
# and p99 latency and the HTTP / in-process ratio (target >= 0.7).
# Uses the watermark archive when cbd-keygen/cbd-embed are there, else the
# bare ONNX model.
set -eu
top=${CBD_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PY=/usr/bin/python3
DUR=${BENCH_SECONDS:-8}
THREADS=${BENCH_THREADS:-2}
tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
cd "$tmp"

model="$top/models/mnist-cnn.onnx"
kind=onnx
if command -v cbd-embed >/dev/null 2>&1 && command -v cbd-keygen >/dev/null 2>&1; then
	if cbd-keygen owner >/dev/null 2>&1 &&
	   cbd-embed "$model" --mode watermark --key owner.key -o wm.cbd >/dev/null 2>&1; then
		model=wm.cbd
		kind=archive
	fi
fi
$PY - "$top" <<'PYEOF'
import json, sys
import numpy as np
x = np.load(sys.argv[1] + "/models/mnist-heldout-images.npy")
np.save("s1000.npy", x[:1000])
np.save("s2000.npy", x[:2000])
np.save("s10.npy", x[:10])
body = {"inputs": [{"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32",
        "data": (x[0].astype(np.float32) / np.float32(255)).flatten().tolist()}]}
open("req.json", "w").write(json.dumps(body))
PYEOF
cat >post.lua <<'LUAEOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("req.json", "r")
wrk.body = f:read("*a")
f:close()
LUAEOF

cbd-serve -q --threads "$THREADS" --port 0 --port-file port -n mnist "$model" 2>serve.log &
srv=$!
i=0
while [ ! -s port ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
port=$(cat port)
url="http://127.0.0.1:$port"

# warm up, then measure
wrk -t2 -c16 -d1s -s post.lua "$url/v2/models/mnist/infer" >/dev/null
wrk -t2 -c16 -d"${DUR}s" --latency -s post.lua "$url/v2/models/mnist/infer" >wrk.out
http_rps=$(awk '/^Requests\/sec:/ {print $2}' wrk.out)
p50=$(awk '$1 == "50%" {print $2}' wrk.out)
p99=$(awk '$1 == "99%" {print $2}' wrk.out)
non2xx=$(awk '/Non-2xx/ {print $NF}' wrk.out)

# in-process: the same single-sample inferences, THREADS processes at once;
# process start-up and model loading are taken out by timing 10 and 2000
# samples and using the difference
inproc() { # samples-file -> seconds
	t0=$(date +%s.%N)
	j=0
	pids=
	while [ $j -lt "$THREADS" ]; do
		cbd-run -q -b 1 -j 1 "$model" "$1" >/dev/null &
		pids="$pids $!"
		j=$((j + 1))
	done
	for p in $pids; do wait "$p"; done
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
inproc s10.npy >/dev/null
small=$(inproc s10.npy)
big=$(inproc s2000.npy)
inproc_rps=$(echo "$THREADS * 1990 / ($big - $small)" | bc -l)

# cbd-probe against the server (16 in flight, one fsync'd line per answer)
cbd-probe -q --json -c 16 -m mnist --samples s1000.npy -o probe.jsonl "$url" >probe.json
probe_qps=$($PY -c "import json; j=json.load(open('probe.json')); print('%.1f' % (j['answered'] / j['seconds']))")

ratio=$(echo "$http_rps / $inproc_rps" | bc -l)
printf '%-34s %s\n' "model" "$kind ($model)"
printf '%-34s %s\n' "server threads" "$THREADS"
printf '%-34s %.1f req/s  p50 %s  p99 %s%s\n' "cbd-serve (wrk, 16 conns)" \
	"$http_rps" "$p50" "$p99" "${non2xx:+  non-2xx $non2xx}"
printf '%-34s %.1f samples/s\n' "in-process cbd-run (batch 1)" "$inproc_rps"
printf '%-34s %.2f (target >= 0.7)\n' "HTTP / in-process" "$ratio"
printf '%-34s %s queries/s\n' "cbd-probe -c 16 against it" "$probe_qps"
