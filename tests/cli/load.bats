#!/usr/bin/env bats
# load.bats — cbd-serve under load and abuse on loopback (issue 8).
#
# One bounded run (5 s): wrk with 48 connections sends valid single-image
# requests while a second wrk with 16 connections sends a rotation of
# malformed, wrongly shaped, oversized and misrouted requests, and 8 slow
# clients trickle headers (tests/helpers/load_mix.lua, slow_client.py).
# Every valid request must get 200 (no socket errors, no other status),
# every abusive one a 4xx, the server must survive, and its RSS must stay
# flat between a warm-up round and the loaded round.  Then a request in
# flight when SIGTERM arrives either completes or fails cleanly, and the
# server exits 0.  The 30 s soak is tools/bench-soak.sh (make bench).

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	need wrk wrk
	# under ASan (make check SAN=1) freed blocks sit in a 256 MiB
	# quarantine, which would read as growth: keep it small
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4" \
	start_server --max-body 300000 --max-batch 64 --max-connections 128 \
		--threads 2 --timeout 10 --quiet --model-name mnist "$MODEL"
	$PY - "$DIGITS" <<'PYEOF'
import json, sys
import numpy as np
x = np.load(sys.argv[1])[:64]
def req(n, path):
    d = (x[:n].astype(np.float32) / np.float32(255)).flatten().tolist()
    json.dump({"inputs": [{"name": "input", "shape": [n, 1, 28, 28],
               "datatype": "FP32", "data": d}]}, open(path, "w"))
req(1, "one.json")
req(16, "batch.json")
open("big.json", "w").write('{"inputs": [' + "0," * 200000 + "0]}")
PYEOF
}

teardown() {
	stop_server 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER/status"; }

# count FILE STATUS: requests with that status in a load_mix.lua summary
count() { sed -n "s/^status $2 //p" "$1" | head -1 | grep . || echo 0; }

@test "valid, abusive and slow clients at once: valid all succeed, abuse gets 4xx, RSS flat" {
	lua="$CBD_TOP/tests/helpers/load_mix.lua"
	# warm-up round: model copies, pools and arenas reach their size
	wrk -t 2 -c 16 -d 2s --timeout 10s -s "$lua" "$URL" -- valid one.json \
		> warm.out
	rss1=$(rss_kb)
	$PY "$CBD_TOP/tests/helpers/slow_client.py" "$PORT" 8 6 > slow.out &
	slow=$!
	wrk -t 1 -c 16 -d 5s --timeout 10s -s "$lua" "$URL" -- abuse one.json \
		big.json > abuse.out &
	abuse=$!
	wrk -t 2 -c 48 -d 5s --timeout 10s -s "$lua" "$URL" -- valid one.json \
		> valid.out
	wait "$abuse"
	wait "$slow"
	rss2=$(rss_kb)
	cat valid.out abuse.out slow.out
	echo "rss: $rss1 kB after warm-up, $rss2 kB after load"
	[ "$rss1" -gt 1000 ] && [ "$rss2" -gt 1000 ]
	kill -0 "$SERVER"
	# valid: every answer a 200, no socket errors or timeouts
	ok=$(count valid.out 200)
	[ "$ok" -gt 50 ]
	[ "$(grep -c '^status' valid.out)" -eq 1 ]
	grep -q '^errors connect 0 read 0 write 0 status 0 timeout 0$' valid.out
	# abuse: only 4xx answers (400 malformed, 404 model, 405 method,
	# 413 too large), never a 5xx or a dropped connection
	for s in $(sed -n 's/^status \([0-9]*\) .*/\1/p' abuse.out); do
		[ "$s" -ge 400 ] && [ "$s" -lt 500 ]
	done
	[ "$(count abuse.out 400)" -gt 0 ]
	[ "$(count abuse.out 413)" -gt 0 ]
	grep -q '^errors connect 0 read 0 write 0 .* timeout 0$' abuse.out
	# memory: flat within 64 MiB (generous; a per-request leak of the
	# body alone would be tens of MiB over these requests)
	[ $((rss2 - rss1)) -lt 65536 ]
	# and still answering correctly
	curl -sf --data-binary @one.json "$URL/v2/models/mnist/infer" -o r.json
	$PY -c "import json; j=json.load(open('r.json')); assert j['outputs'][0]['shape'] == [1, 10]"
}

@test "a request in flight at SIGTERM completes or fails cleanly; exit status 0" {
	# two requests sent whole, two uploaded slowly (about 1 s each), all
	# connected before the signal
	for i in 1 2 3 4; do
		rate=""
		[ "$i" -gt 2 ] && rate="--limit-rate 100k"
		curl -s -o "r$i.json" -w '%{http_code}' $rate \
			--data-binary @batch.json "$URL/v2/models/mnist/infer" \
			> "code$i" 2>/dev/null &
		eval "c$i=\$!"
	done
	for _ in $(seq 100); do
		command -v ss >/dev/null || { sleep 0.5; break; }
		n=$(ss -Htn state established "( dport = :$PORT )" | wc -l)
		[ "$n" -ge 4 ] && break
		sleep 0.02
	done
	kill -TERM "$SERVER"
	rc=0
	timeout 30 tail --pid="$SERVER" -f /dev/null || rc=$?
	[ "$rc" -eq 0 ]
	rc=0
	wait "$SERVER" || rc=$?
	[ "$rc" -eq 0 ]
	completed=0
	for i in 1 2 3 4; do
		crc=0
		eval "wait \$c$i" || crc=$?
		code=$(cat "code$i")
		echo "request $i: curl $crc, HTTP $code"
		if [ "$crc" -eq 0 ] && [ "$code" = 200 ]; then
			# completed: a whole, well-formed answer
			$PY -c "import json; j=json.load(open('r$i.json')); assert j['outputs'][0]['shape'] == [16, 10]"
			completed=$((completed + 1))
		elif [ "$crc" -eq 0 ]; then
			# refused while stopping: a clean HTTP error
			[ "$code" -ge 500 ]
		else
			# connection closed: no partial answer left behind
			[ ! -s "r$i.json" ] || ! $PY -c "import json; json.load(open('r$i.json'))"
		fi
	done
	echo "$completed of 4 completed"
}
