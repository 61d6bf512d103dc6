#!/usr/bin/env bats
# probe.bats — cbd-probe against real processes on loopback: cbd-serve with
# the bundled model, a fault-injecting server, a TF Serving-shaped server,
# an exec command and the in-process archive backend; kill -9 and --resume;
# watermark triggers through cbd-serve.  Transcripts are checked by an
# independent Python reader (tests/helpers/check_transcript.py) and by
# cbd-verify.

load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	for n in 300 50 20; do digits s$n.npy :$n; done
	start_server -q -n mnist "$MODEL"
	echo "$SERVER" >serve.pid
	# the reference: every sample straight to cbd-serve
	cbd-probe -q -c 4 -m mnist --samples s300.npy -o ref.jsonl "http://127.0.0.1:$PORT"
	$PY "$CBD_TOP/tests/helpers/check_transcript.py" ref.jsonl >ref.sum
}

teardown_file() {
	cd "$BATS_FILE_TMPDIR"
	stop "$(cat serve.pid)" 2>/dev/null || true
}

setup() {
	cd "$BATS_TEST_TMPDIR"
	D="$BATS_FILE_TMPDIR"
	PORT=$(cat "$D/port")
	URL="http://127.0.0.1:$PORT"
	CHECK="$PY $CBD_TOP/tests/helpers/check_transcript.py"
	PEER="$PY $CBD_TOP/tests/helpers/probe_peer.py"
	PIDS=""
}

teardown() {
	stop $PIDS 2>/dev/null || true
}

# The labels of transcript $1 agree with the reference on every index it
# answered; prints the number compared.
same_labels() {
	$PY - "$D/ref.sum" "$1" <<'PYEOF'
import json, sys
ref = json.load(open(sys.argv[1]))["labels"]
got = json.load(open(sys.argv[2]))["labels"]
bad = [k for k in got if got[k] != ref[k]]
assert not bad, f"labels differ at {bad[:5]}"
print(len(got))
PYEOF
}

verify() { # cbd-verify checks the chain too; a changed label breaks it
	cbd-verify -q "$1"
	sed -E '0,/"label":[0-9]/s/"label":([0-9])/"label":1\1/' "$1" >tampered.jsonl
	! cmp -s "$1" tampered.jsonl
	run cbd-verify tampered.jsonl
	[ "$status" -eq 1 ]
	[[ "$output" == *"hash chain broken at line"* ]]
}

@test "bare model over OIP: every sample answered, accuracy of the real model, chain verifies" {
	[ "$(json_eval "$D/ref.sum" 'j["queries"], j["distinct"], j["answered"], j["complete"]')" = "300 300 300 True" ]
	[ "$(json_eval "$D/ref.sum" 'j["header"]["backend"], j["header"]["model"], j["header"]["datatype"]')" = "oip mnist FP32" ]
	# the transcript names the exact NPY bytes it sent
	[ "$(json_eval "$D/ref.sum" 'j["header"]["triggers"]')" = "$(sha256sum "$D/s300.npy" | cut -c1-64)" ]
	acc=$($PY - "$CBD_TOP" "$D/ref.sum" <<'PYEOF'
import json, sys
import numpy as np
y = np.load(sys.argv[1] + "/models/mnist-heldout-labels.npy")
lab = json.load(open(sys.argv[2]))["labels"]
print(sum(int(y[int(k)] == v) for k, v in lab.items()))
PYEOF
)
	[ "$acc" -ge 285 ]
	verify "$D/ref.jsonl"
}

@test "UINT8 and FP32 requests get the same answers; -o - writes to stdout" {
	cbd-probe -q -m mnist --datatype UINT8 --samples "$D/s20.npy" -o - "$URL" >u8.jsonl
	$CHECK u8.jsonl >u8.sum
	[ "$(json_eval u8.sum 'j["answered"], j["header"]["datatype"]')" = "20 UINT8" ]
	[ "$(same_labels u8.sum)" = 20 ]
}

@test "fault injection: 500, 429 + Retry-After, hang, closed connection, garbage, 503, redirects" {
	$PEER fault "$URL" mnist fport 3 &
	PIDS="$!"
	wait_port fport >/dev/null
	run cbd-probe -m mnist --samples "$D/s20.npy" -c 4 --timeout 1 \
		--retries 2 --backoff 50 --follow-redirects -o f.jsonl \
		"http://127.0.0.1:$(cat fport)"
	[ "$status" -eq 0 ]
	[[ "$output" == *"20 queries: 17 answered, 3 failed"* ]]
	$CHECK f.jsonl >f.sum
	[ "$(json_eval f.sum 'j["queries"], j["distinct"], j["complete"]')" = "20 20 True" ]
	[ "$(json_eval f.sum 'j["errors"]["s0"], j["attempts"]["s0"]')" = "HTTP 500: injected 500 3" ]
	[ "$(json_eval f.sum 'j["errors"]["s4"], j["attempts"]["s4"]')" = "bad JSON in response 3" ]
	[ "$(json_eval f.sum 'j["attempts"]["s6"]')" = 1 ]
	[[ "$(json_eval f.sum 'j["errors"]["s6"]')" == "HTTP 307 redirect to http://127.0.0.2:1/elsewhere not followed" ]]
	for s in s1 s2 s3 s5; do
		[ "$(json_eval f.sum "j['attempts']['$s'], '$s' in j['errors']")" = "2 False" ]
	done
	[ "$(same_labels f.sum)" = 17 ]
	# the 429's Retry-After: 1 was honoured
	$PY - fport.log <<'PYEOF'
import sys
t = [float(l.split()[2]) for l in open(sys.argv[1]) if l.startswith("s1 ")]
assert len(t) == 2 and t[1] - t[0] >= 0.95, t
PYEOF
	# a same-origin redirect was followed within one attempt
	[ "$(json_eval f.sum "j['attempts']['s7'], 's7' in j['errors']")" = "1 False" ]
	[ "$(grep -c '^s7 ' fport.log)" = 2 ]
	# the hang was cut by the timeout and retried
	[ "$(grep -c '^s2 ' fport.log)" = 2 ]
	verify f.jsonl
}

@test "kill -9 mid-run, then --resume: complete, no duplicates, chain intact" {
	cbd-probe -q -m mnist --samples "$D/s300.npy" --rate 150 -o k.jsonl "$URL" &
	pid=$!
	sleep 1
	kill -9 "$pid"
	wait "$pid" || true
	$CHECK k.jsonl >k1.sum
	n1=$(json_eval k1.sum 'j["queries"]')
	[ "$n1" -gt 10 ] && [ "$n1" -lt 300 ]
	[ "$(json_eval k1.sum 'j["complete"]')" = False ]
	# a torn line, as a kill in the middle of a write leaves it
	printf '{"type":"query","seq":%d,"prev":"00' $((n1 + 1)) >>k.jsonl
	run $CHECK k.jsonl
	[ "$status" -ne 0 ]
	# resuming with other samples is refused
	run cbd-probe -q -m mnist --samples "$D/s50.npy" --resume -o k.jsonl "$URL"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"cannot resume"* ]]
	cbd-probe -q -m mnist --samples "$D/s300.npy" -c 4 --resume -o k.jsonl "$URL"
	$CHECK k.jsonl >k.sum
	[ "$(json_eval k.sum 'j["queries"], j["distinct"], j["answered"], j["resumes"], j["complete"]')" = "300 300 300 1 True" ]
	[ "$(same_labels k.sum)" = 300 ]
	grep -qE '"type":"resume".*"dropped":[1-9][0-9]}' k.jsonl
	# resuming a finished transcript sends nothing
	run cbd-probe -m mnist --samples "$D/s300.npy" --resume -o k.jsonl "$URL"
	[ "$status" -eq 0 ]
	[[ "$output" == *"300 already recorded"* ]]
	cmp <($CHECK k.jsonl) k.sum
	verify k.jsonl
}

@test "tfserving backend against a TF Serving-shaped server" {
	$PEER tfserving "$URL" mnist tport &
	PIDS="$!"
	wait_port tport >/dev/null
	cbd-probe -q -b tfserving -m mnist --samples "$D/s50.npy" -c 2 -o tf.jsonl "http://127.0.0.1:$(cat tport)"
	$CHECK tf.jsonl >tf.sum
	[ "$(json_eval tf.sum 'j["answered"], j["header"]["backend"]')" = "50 tfserving" ]
	[ "$(same_labels tf.sum)" = 50 ]
	[ "$(json_eval tf.sum 'j["preflight"]["output"], j["preflight"]["answer"]')" = "logits scores" ]
	# a wrong model name is refused by the preflight: nothing predicted
	: >tport.log
	run cbd-probe -q -b tfserving -m other --samples "$D/s20.npy" -o tf2.jsonl "http://127.0.0.1:$(cat tport)"
	[ "$status" -eq 69 ]
	[[ "$output" == "cbd-probe: error: preflight refused the endpoint: GET the model's status (http://127.0.0.1:"*"/v1/models/other) answered HTTP 404; no trigger sent" ]]
	[ ! -e tf2.jsonl ]
	[ ! -s tport.log ]
}

@test "tfserving object format: two outputs (class_ids, logits), the K scores are read" {
	$PEER tfobj "$URL" mnist tport &
	PIDS="$!"
	wait_port tport >/dev/null
	cbd-probe -q -b tfserving -m mnist --samples "$D/s20.npy" -o tf.jsonl "http://127.0.0.1:$(cat tport)"
	$CHECK tf.jsonl >tf.sum
	[ "$(json_eval tf.sum 'j["answered"], j["preflight"]["output"], j["preflight"]["answer"]')" = "20 logits scores" ]
	[ "$(same_labels tf.sum)" = 20 ]
	# naming the label output reads it instead
	cbd-probe -q -b tfserving -m mnist --output-name class_ids --samples "$D/s20.npy" -o tfl.jsonl "http://127.0.0.1:$(cat tport)"
	$CHECK tfl.jsonl >tfl.sum
	[ "$(json_eval tfl.sum 'j["answered"], j["preflight"]["output"], j["preflight"]["answer"]')" = "20 class_ids label" ]
	[ "$(same_labels tfl.sum)" = 20 ]
}

@test "exec backend against a JSON-lines command" {
	cbd-probe -q -b exec --samples "$D/s50.npy" -o ex.jsonl "$PY $CBD_TOP/tests/helpers/probe_peer.py exec $URL mnist"
	$CHECK ex.jsonl >ex.sum
	[ "$(json_eval ex.sum 'j["answered"], j["header"]["backend"]')" = "50 exec" ]
	[ "$(same_labels ex.sum)" = 50 ]
	[ "$(json_eval ex.sum 'j["preflight"]["input"], j["preflight"]["shape"]')" = "None [1, 1, 28, 28]" ]
	# a command that dies after 5 answers is restarted: nothing lost
	cbd-probe -q -b exec --samples "$D/s20.npy" -o die.jsonl "$PY $CBD_TOP/tests/helpers/probe_peer.py exec $URL mnist die"
	$CHECK die.jsonl >die.sum
	[ "$(json_eval die.sum 'j["answered"], j["attempts"]["s5"]')" = "20 2" ]
	[ "$(same_labels die.sum)" = 20 ]
	# a command that answers nothing is refused before any sample
	run cbd-probe -q -b exec --retries 1 --backoff 1 --samples "$D/s20.npy" -o dead.jsonl "exit 3"
	[ "$status" -eq 76 ]
	[[ "$output" == "cbd-probe: error: preflight refused the endpoint: the decoy query (a clean sample) failed: command closed its output; no trigger sent" ]]
	[ ! -e dead.jsonl ]
}

@test "exec binding: a stray line is one failed query, not a shift; a startup banner or a wrong id is refused before any trigger" {
	ADAPTER="$PY $CBD_TOP/tests/helpers/probe_peer.py exec $URL mnist"
	# each run of the command precedes its 6th answer by "loading
	# weights... done": s5 gets it, the command is restarted, s11 and s17
	# too (the decoy ran in a command of its own)
	cbd-probe -q -b exec --retries 0 --samples "$D/s20.npy" -o mid.jsonl "$ADAPTER stray-mid"
	$CHECK mid.jsonl >mid.sum
	[ "$(json_eval mid.sum 'j["answered"], j["failed"]')" = "17 3" ]
	for s in s5 s11 s17; do
		[ "$(json_eval mid.sum "j['errors']['$s']")" = "answer line is not a JSON object: 'loading weights... done'" ]
	done
	# every recorded label belongs to its own query
	[ "$(same_labels mid.sum)" = 17 ]
	cbd-verify -q mid.jsonl
	# a banner before the first answer: the decoy catches it
	run cbd-probe -q -b exec --samples "$D/s20.npy" -o st.jsonl "$ADAPTER stray"
	[ "$status" -eq 76 ]
	[[ "$output" == *"decoy query (a clean sample) failed: answer line is not a JSON object: 'loading weights... done'"* ]]
	[ ! -e st.jsonl ]
	run cbd-probe -q -b exec --samples "$D/s20.npy" -o wi.jsonl "$ADAPTER wrongid"
	[ "$status" -eq 76 ]
	[[ "$output" == *"failed: answer id 'not-d00000' is not the query's 'd00000'; no trigger sent" ]]
	[ ! -e wi.jsonl ]
}

# start_peer MODE: a probe_peer.py OIP server; sets P (its URL) and PLOG
start_peer() {
	rm -f "$1.port"
	$PEER "$1" "$URL" mnist "$1.port" &
	PIDS="$PIDS $!"
	P="http://127.0.0.1:$(wait_port "$1.port")"
	PLOG="$1.port.log"
}

@test "OIP label first, then logits: the logits are read (by K), the label alone when it is the only output" {
	start_peer labelfirst
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o lf.jsonl "$P"
	$CHECK lf.jsonl >lf.sum
	[ "$(json_eval lf.sum 'j["answered"], j["preflight"]["output"], j["preflight"]["answer"]')" = "20 logits scores" ]
	[ "$(same_labels lf.sum)" = 20 ]
	grep -q '"scores":\[' lf.jsonl
	start_peer labelonly
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o lo.jsonl "$P"
	$CHECK lo.jsonl >lo.sum
	[ "$(json_eval lo.sum 'j["answered"], j["preflight"]["output"], j["preflight"]["answer"]')" = "20 label label" ]
	[ "$(same_labels lo.sum)" = 20 ]
	! grep -q '"scores":\[' lo.jsonl
	# naming an output the model does not have is refused
	run cbd-probe -q -m mnist --output-name probs --samples "$D/s20.npy" -o x.jsonl "$P"
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-probe: error: preflight refused the endpoint: the model has no output 'probs' (its outputs: 'label'); no trigger sent" ]]
}

@test "OIP FP64 scores, nested data: read as the upstream's float32 scores, every label the same" {
	start_peer fp64
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o f64.jsonl "$P"
	$CHECK f64.jsonl >f64.sum
	[ "$(json_eval f64.sum 'j["answered"], j["preflight"]["answer"]')" = "20 scores" ]
	[ "$(same_labels f64.sum)" = 20 ]
	# the scores recorded are the upstream's, exactly (FP64 carries float32 values)
	start_peer oip
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o f32.jsonl "$P"
	$PY -c '
import json, sys
sc = lambda p: {r["index"]: r["scores"] for r in map(json.loads, open(p)) if r.get("type") == "query"}
a, b = sc(sys.argv[1]), sc(sys.argv[2])
assert len(a) == 20 and a == b, "FP64 scores differ from FP32 ones"' f64.jsonl f32.jsonl
}

@test "preflight: a missing version, a wrong input name, a wrong id: refused, zero triggers sent" {
	start_peer oip
	run cbd-probe -m mnist --model-version 2 --samples "$D/s20.npy" -o v2.jsonl "$P"
	[ "$status" -eq 69 ]
	[[ "$output" == *"GET the model's metadata ("*"/v2/models/mnist/versions/2) answered HTTP 404; no trigger sent" ]]
	run cbd-probe -m mnist --input-name data --samples "$D/s20.npy" -o in.jsonl "$P"
	[ "$status" -eq 65 ]
	[[ "$output" == *"the model has no input 'data' (its inputs: 'input'); no trigger sent" ]]
	[ ! -e v2.jsonl ] && [ ! -e in.jsonl ]
	[ ! -s "$PLOG" ]
	start_peer wrongid
	run cbd-probe -m mnist --samples "$D/s20.npy" -o wi.jsonl "$P"
	[ "$status" -eq 76 ]
	[[ "$output" == *"failed: answer id 'not-d00000' is not the query's 'd00000'; no trigger sent" ]]
	[ "$(cat "$PLOG")" = d00000 ]
	[ ! -e wi.jsonl ]
}

@test "--dry-run: preflight and decoy shown, no trigger sent, no transcript" {
	start_peer oip
	run cbd-probe -n -m mnist "$P" "$D/../triggers-none.json"
	[ "$status" -eq 66 ]
	run cbd-probe --dry-run -m mnist --samples "$D/s20.npy" "$P"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "preflight passed: input 'input' FP32 [1,1,28,28], output '"*"' (scores), decoy answered label "[0-9]* ]]
	[ "${lines[1]}" = "dry run: none of the 20 queries sent" ]
	[ "$(cat "$PLOG")" = d00000 ]
	ls | grep -qv jsonl
	cbd-probe --dry-run --json -m mnist --samples "$D/s20.npy" "$P" >dr.json
	[ "$(json_eval dr.json 'j["sent"], j["total"]')" = "0 20" ]
}

@test "fail fast: a server that breaks after the decoy gets 3 queries, an abort line, exit 69" {
	start_peer flip
	run cbd-probe -m mnist --samples "$D/s20.npy" -o fl.jsonl "$P"
	[ "$status" -eq 69 ]
	[[ "$output" == *"error: stopped after 3 consecutive failures: HTTP 400: input 'input' must be UINT8; 3 of 20 queries sent, 3 recorded (--resume continues)" ]]
	[ "$(wc -l <"$PLOG")" = 4 ]
	$CHECK fl.jsonl >fl.sum
	[ "$(json_eval fl.sum 'j["failed"], j["complete"], j["aborts"]')" = "3 False 1" ]
	grep -q '"type":"abort".*"reason":"3 consecutive failures: HTTP 400' fl.jsonl
	cbd-verify -q fl.jsonl
	# --resume continues after the abort: a resume line, a new preflight,
	# only the 17 unsent queries
	run cbd-probe -q --resume --max-failures 0 -m mnist --samples "$D/s20.npy" -o fl.jsonl "$P"
	[ "$status" -eq 0 ]
	$CHECK fl.jsonl >fl.sum
	[ "$(json_eval fl.sum 'j["queries"], j["distinct"], j["failed"], j["resumes"], j["complete"]')" = "20 20 20 1 True" ]
	[ "$(grep -c '"type":"preflight"' fl.jsonl)" = 2 ]
	[ "$(grep -vc d00000 "$PLOG")" = 20 ]
	cbd-verify -q fl.jsonl
	# --max-failures 0 never stops
	run cbd-probe -q --max-failures 0 -m mnist --samples "$D/s20.npy" -o fl0.jsonl "$P"
	[ "$status" -eq 0 ]
	$CHECK fl0.jsonl >fl0.sum
	[ "$(json_eval fl0.sum 'j["failed"], j["complete"]')" = "20 True" ]
}

@test "an independent KServe v2 server on ONNX Runtime: its output name is read; UINT8 to its strict FP32 input is refused" {
	rm -f kport
	NODE_PATH="$ORT_MODULES" node "$CBD_TOP/tests/helpers/kserve_ort.js" "$MODEL" mnist kport 2>kserve.log &
	PIDS="$!"
	K="http://127.0.0.1:$(wait_port kport)"
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o ko.jsonl "$K"
	$CHECK ko.jsonl >ko.sum
	[ "$(json_eval ko.sum 'j["answered"], j["preflight"]["answer"]')" = "20 scores" ]
	[ "$(same_labels ko.sum)" = 20 ]
	run cbd-probe -m mnist --datatype UINT8 --samples "$D/s20.npy" -o k8.jsonl "$K"
	[ "$status" -eq 76 ]
	[[ "$output" == *"decoy query (a clean sample) failed: HTTP 400 (input '"*"' is FP32 by the metadata, the probe sends UINT8: --datatype); no trigger sent" ]]
	[ ! -e k8.jsonl ]
}

# The scores of every query of transcripts $1 and $2, as float32 bits,
# are the same (and there are $3 of them).
same_scores() {
	$PY - "$1" "$2" "$3" <<'PYEOF'
import json, struct, sys
def scores(path):
    out = {}
    for line in open(path):
        r = json.loads(line)
        if r.get("type") == "query":
            out[r["index"]] = struct.pack("<%df" % len(r["scores"]), *r["scores"])
    return out
a, b = scores(sys.argv[1]), scores(sys.argv[2])
assert len(a) == int(sys.argv[3]) and a == b, (len(a), len(b), [k for k in a if a[k] != b.get(k)][:5])
PYEOF
}

@test "--binary: Triton's binary tensor data to cbd-serve and to a peer written from the extension's documentation, bit for bit the JSON answers" {
	cbd-probe -q -m mnist --samples "$D/s50.npy" -o js.jsonl "$URL"
	cbd-probe -q -m mnist --binary --samples "$D/s50.npy" -o bs.jsonl "$URL"
	$CHECK bs.jsonl >bs.sum
	[ "$(json_eval bs.sum 'j["answered"], j["preflight"]["encoding"], j["preflight"]["output"]')" = "50 binary logits" ]
	same_scores js.jsonl bs.jsonl 50
	[ "$(same_labels bs.sum)" = 50 ]
	verify bs.jsonl
	# the peer: every POST (decoy and 50 samples) arrived as binary
	$PEER triton "$URL" mnist tport &
	PIDS="$!"
	T="http://127.0.0.1:$(wait_port tport)"
	run cbd-probe -m mnist --binary --datatype UINT8 --dry-run --samples "$D/s50.npy" "$T"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "preflight passed: input 'input' UINT8 [1,1,28,28], output 'logits' (scores), decoy answered label "[0-9]*", binary tensor data" ]]
	: >tport.log
	cbd-probe -q -m mnist --binary --samples "$D/s50.npy" -o bt.jsonl "$T"
	same_scores js.jsonl bt.jsonl 50
	[ "$(grep -c ' binary$' tport.log)" = 51 ]
	[ "$(grep -vc ' binary$' tport.log)" = 0 ]
	cbd-probe -q -m mnist --binary --datatype UINT8 --samples "$D/s50.npy" -o bu.jsonl "$T"
	same_scores js.jsonl bu.jsonl 50
	# the same peer in JSON: JSON on the wire, the same answers
	: >tport.log
	cbd-probe -q -m mnist --samples "$D/s20.npy" -o tj.jsonl "$T"
	[ "$(grep -c ' json$' tport.log)" = 21 ]
	$CHECK tj.jsonl >tj.sum
	[ "$(json_eval tj.sum '"encoding" in j["preflight"]')" = False ]
}

@test "--binary: a server that does not list binary_tensor_data is refused before any query; --binary is for oip only" {
	PEER_NO_BINARY=1 $PEER triton "$URL" mnist tport &
	PIDS="$!"
	T="http://127.0.0.1:$(wait_port tport)"
	run cbd-probe -m mnist --binary --samples "$D/s20.npy" -o nb.jsonl "$T"
	[ "$status" -eq 76 ]
	[ "$output" = "cbd-probe: error: preflight refused the endpoint: --binary, but the server's metadata ($T/v2) does not list the binary_tensor_data extension; no trigger sent" ]
	[ ! -e nb.jsonl ]
	[ ! -s tport.log ]
	run cbd-probe -b tfserving -m mnist --binary --samples "$D/s20.npy" -o x.jsonl "$URL"
	[ "$status" -eq 64 ]
	[[ "$output" == *"--binary is for the oip backend"* ]]
}

@test "--decoys: clean samples among the queries, under ids that say nothing, in the order the recorded seed gives; answers identical" {
	digits dec.npy 200:212
	$PEER triton "$URL" mnist tport &
	PIDS="$!"
	T="http://127.0.0.1:$(wait_port tport)"
	: >tport.log
	cbd-probe -q -m mnist --decoys dec.npy --decoy-ratio 1.5 -o dx.jsonl "$T" --samples "$D/s20.npy"
	# the endpoint saw the preflight's decoy (one of the clean samples, not
	# the all-zero "d00000" of a probe without decoys), then 50 queries,
	# each with an opaque id, all different
	[ "$(wc -l <tport.log)" = 51 ]
	[ "$(grep -Ec '^q[0-9a-f]{16} json$' tport.log)" = 51 ]
	[ "$(sort -u tport.log | wc -l)" = 51 ]
	$CHECK dx.jsonl >dx.sum
	[ "$(json_eval dx.sum 'j["answered"], j["queries"], j["complete"]')" = "20 20 True" ]
	[ "$(same_labels dx.sum)" = 20 ]
	# again with 4 in flight: records in completion order, each with its position
	cbd-probe -q -c 4 -m mnist --decoys dec.npy --decoy-ratio 1.5 -o dc.jsonl "$T" --samples "$D/s20.npy"
	for f in dx dc; do
	$PY - $f.jsonl "$D/ref.jsonl" tport.log $f <<'PYEOF'
import hashlib, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
ref = {r["index"]: r["scores"] for r in map(json.loads, open(sys.argv[2])) if r.get("type") == "query"}
sched = [r for r in lines if r["type"] == "schedule"]
assert len(sched) == 1 and sched[0]["num_decoys"] == 30 and sched[0]["ratio"] == 1.5, sched
assert sched[0]["decoy_samples"] == 12
assert sched[0]["decoys"] == hashlib.sha256(open("dec.npy", "rb").read()).hexdigest()
dec = [r for r in lines if r["type"] == "decoy"]
assert len(dec) == 30 and all(r["error"] is None for r in dec)
assert sorted(set(r["index"] for r in dec)) == list(range(12)), [r["index"] for r in dec]
# no answer attached to the wrong query: each query's scores are its
# trigger's, each decoy's those of its clean sample (dec.npy is samples
# 200..211 of the reference run)
for r in lines:
    if r["type"] == "query":
        assert r["scores"] == ref[r["index"]], r["index"]
    if r["type"] == "decoy":
        assert r["scores"] == ref[200 + r["index"]], r["index"]
# the order and the wire ids, recomputed from the seed as
# formats/transcript.md ("Schedule") describes them
seed = bytes.fromhex(sched[0]["seed"])
def words():
    i = 0
    while True:
        b = hashlib.sha256(b"cbd/probe-schedule" + seed + i.to_bytes(8, "big")).digest()
        i += 1
        for k in range(0, 32, 4):
            yield int.from_bytes(b[k:k + 4], "big")
g = words()
def uniform(n):
    while True:
        w = next(g)
        if w < 2**32 - 2**32 % n:
            return w % n
def shuffle(a):
    for i in range(len(a), 1, -1):
        j = uniform(i)
        a[i - 1], a[j] = a[j], a[i - 1]
perm = list(range(12)); shuffle(perm)
order = [("query", i, None) for i in range(20)] + [("decoy", perm[k % 12], f"d{k}") for k in range(30)]
shuffle(order)
recs = [r for r in lines if r["type"] in ("query", "decoy")]
got = sorted(((r["pos"], r["type"], r["index"], r.get("decoy")) for r in recs))
assert [g[0] for g in got] == list(range(50))
assert [g[1:] for g in got] == order, (got[:6], order[:6])
if sys.argv[4] == "dx":    # one in flight: send order is file order, and the wire ids
    assert [r["pos"] for r in recs] == list(range(50))
    wire = ["q" + hashlib.sha256(b"cbd/probe-wire-id" + seed + j.to_bytes(4, "big")).hexdigest()[:16] for j in range(50)]
    seen = [l.split()[0] for l in open(sys.argv[3])][1:51]
    assert seen == wire, (seen[:3], wire[:3])
PYEOF
	done
	verify dx.jsonl
	cbd-verify -q dc.jsonl
	run cbd-verify dx.jsonl
	[[ "$output" == *"30 decoys (clean samples among the queries, never scored)"* ]]
	# a forger who rewrites the whole file (a valid chain) cannot reorder
	# the queries, swap a decoy for another sample, or drop a scheduled one
	for how in swap sample drop; do
		$PY - dx.jsonl forged.jsonl $how <<'PYEOF'
import hashlib, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
how = sys.argv[3]
q = [i for i, r in enumerate(lines) if r["type"] in ("query", "decoy")]
if how == "swap":      # two records trade positions
    a, b = q[0], next(i for i in q if lines[i]["type"] != lines[q[0]]["type"])
    lines[a]["pos"], lines[b]["pos"] = lines[b]["pos"], lines[a]["pos"]
elif how == "sample":  # a decoy said to be another clean sample
    d = next(i for i in q if lines[i]["type"] == "decoy")
    lines[d]["index"] = (lines[d]["index"] + 1) % 12
else:                  # a scheduled query left out, the counts fixed up
    d = next(i for i in q if lines[i]["type"] == "decoy")
    del lines[d]
    for i, r in enumerate(lines):
        if i: r["seq"] = i
prev = "0" * 64
with open(sys.argv[2], "wb") as f:
    for i, r in enumerate(lines):
        if i: r["prev"] = prev
        raw = json.dumps(r, separators=(",", ":")).encode()
        f.write(raw + b"\n")
        prev = hashlib.sha256(raw).hexdigest()
PYEOF
		$CHECK forged.jsonl >/dev/null
		run cbd-verify forged.jsonl
		[ "$status" -eq 1 ]
		[[ "$output" == *"schedule"* ]]
	done
	# decoys must have the triggers' shape; the ratio needs decoys; pace is MS[:JITTER]
	$PY -c "import numpy as np; np.save('bad.npy', np.zeros((3, 27, 28), np.uint8))"
	run cbd-probe -m mnist --decoys bad.npy -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 65 ]
	[[ "$output" == *"decoys must be uint8 [M, ...] samples of the triggers' shape (784 elements each)"* ]]
	[ ! -e b.jsonl ]
	run cbd-probe -m mnist --decoy-ratio 2 -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --decoys dec.npy --decoy-ratio 0 -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --decoys dec.npy --pace 5:x -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --decoys nosuch.npy -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 66 ]
	[[ "$output" == *"nosuch.npy"* ]]
	# a preflight that fails sends no trigger and no decoy either
	: >tport.log
	run cbd-probe -m other --decoys dec.npy -o b.jsonl "$T" --samples "$D/s20.npy"
	[ "$status" -eq 69 ]
	[[ "$output" == *"no trigger sent"* ]]
	[ ! -s tport.log ]
	[ ! -e b.jsonl ]
}

@test "--pace spaces the queries: 20 samples and 10 decoys at 40 ms take at least 1.1 s" {
	s=$(date +%s%N)
	cbd-probe -q -m mnist --pace 40:10 -o pc.jsonl "$URL" --samples "$D/s20.npy" --decoys "$D/s20.npy" --decoy-ratio 0.5
	e=$(date +%s%N)
	[ $(( (e - s) / 1000000 )) -ge 1100 ]   # 30 queries, 29 gaps of >= 40 ms
	$CHECK pc.jsonl >pc.sum
	[ "$(json_eval pc.sum 'j["answered"]')" = 20 ]
	# killed mid-run, then --resume: each run has its own schedule (of the
	# triggers still to send), and the file verifies
	cbd-probe -q -m mnist --pace 50 -o pr.jsonl "$URL" --samples "$D/s20.npy" --decoys "$D/s20.npy" &
	pp=$!
	sleep 0.8
	kill -9 $pp
	wait $pp || true
	cbd-probe -q -m mnist --resume -o pr.jsonl "$URL" --samples "$D/s20.npy" --decoys "$D/s20.npy"
	$CHECK pr.jsonl >pr.sum
	[ "$(json_eval pr.sum 'j["answered"], j["distinct"], j["complete"]')" = "20 20 True" ]
	[ "$(grep -c '"type":"schedule"' pr.jsonl)" = "$(grep -c '"type":"preflight"' pr.jsonl)" ]
	cbd-verify -q pr.jsonl
}

@test "archive backend runs the model in-process with the same answers" {
	cbd-probe -q -b archive --samples "$D/s50.npy" -o ar.jsonl "$MODEL"
	$CHECK ar.jsonl >ar.sum
	[ "$(json_eval ar.sum 'j["answered"]')" = 50 ]
	[ "$(same_labels ar.sum)" = 50 ]
}

@test "refusals: existing transcript, missing model name, bad options, unreachable endpoint" {
	echo x >exists.jsonl
	run cbd-probe -q -m mnist --samples "$D/s20.npy" -o exists.jsonl "$URL"
	[ "$status" -eq 73 ]
	[ "$(cat exists.jsonl)" = x ]
	cbd-probe -q -f -m mnist --samples "$D/s20.npy" -o exists.jsonl "$URL"
	run cbd-probe --samples "$D/s20.npy" -o x.jsonl "$URL"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --datatype FP16 --samples "$D/s20.npy" -o x.jsonl "$URL"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --insecure --cacert /etc/ssl/certs/ca-certificates.crt --samples "$D/s20.npy" -o x.jsonl "$URL"
	[ "$status" -eq 64 ]
	# nothing listens on port 1: refused by the preflight, nothing written
	run cbd-probe -q -m mnist --retries 1 --backoff 1 --samples "$D/s20.npy" -o down.jsonl http://127.0.0.1:1
	[ "$status" -eq 69 ]
	[ "$output" = "cbd-probe: error: preflight refused the endpoint: cannot GET the server's readiness (http://127.0.0.1:1/v2/health/ready): Couldn't connect to server; no trigger sent" ]
	[ ! -e down.jsonl ]
	run cbd-probe -q -m mnist --dry-run --resume --samples "$D/s20.npy" "$URL"
	[ "$status" -eq 64 ]
}

@test "watermark archive behind cbd-serve: 100% owner labels; bare model: chance at most" {
	owner_key
	cbd-embed "$MODEL" --mode watermark --key owner.key -o wm.cbd
	cbd-sign triggers -q -a wm.cbd -k owner.key --from "$DIGITS" -n 100 -o triggers.json
	cbd-serve -q --port 0 --port-file wport wm.cbd 2>/dev/null &
	PIDS="$!"
	wait_port wport >/dev/null
	cbd-probe -q -c 4 -m mnist-cnn -o wm.jsonl "http://127.0.0.1:$(cat wport)" triggers.json
	cbd-probe -q -c 4 -m mnist-cnn --datatype UINT8 -o wm8.jsonl "http://127.0.0.1:$(cat wport)" triggers.json
	cbd-probe -q -c 4 -m mnist --owner-key owner.pub -o bare.jsonl "$URL" triggers.json
	owner_hits() {
		$CHECK "$1" >"$1.sum"
		$PY - triggers.json "$1.sum" <<'PYEOF'
import json, sys
ts = json.load(open(sys.argv[1]))["triggers"]
s = json.load(open(sys.argv[2]))
assert s["complete"] and s["answered"] == len(ts) == 100, s["answered"]
assert s["header"]["num_classes"] == 10
print(sum(int(ts[int(i)]["owner_label"] == l) for i, l in s["labels"].items()))
PYEOF
	}
	[ "$(owner_hits wm.jsonl)" = 100 ]
	[ "$(owner_hits wm8.jsonl)" = 100 ]
	# the bare classifier does not know the owner's labels: at most chance
	# (1/K = 10%), with a wide margin for 100 draws
	[ "$(owner_hits bare.jsonl)" -le 25 ]
	# the transcript names the exact trigger-set bytes
	[ "$(json_eval wm.jsonl.sum 'j["header"]["triggers"]')" = "$(sha256sum triggers.json | cut -c1-64)" ]
	verify wm.jsonl
}

@test "every recorded request is rebuilt from the trigger set (oip JSON, binary, UINT8, decoys; tfserving; exec; archive); answers moved onto other queries are refused" {
	owner_key
	cbd-embed "$MODEL" -m watermark -k owner.key -o wm.cbd
	cbd-sign triggers -q -a wm.cbd -k owner.key --from "$D/s20.npy" -o t.json
	cbd-probe -q -m mnist -o j.jsonl "$URL" t.json
	cbd-probe -q -m mnist --binary -o b.jsonl "$URL" t.json
	cbd-probe -q -m mnist --datatype UINT8 -o u.jsonl "$URL" t.json
	cbd-probe -q -m mnist --decoys "$D/s50.npy" --decoy-ratio 1 -o d.jsonl "$URL" t.json
	$PEER tfserving "$URL" mnist tport &
	PIDS="$!"
	wait_port tport >/dev/null
	cbd-probe -q -b tfserving -m mnist -o tf.jsonl "http://127.0.0.1:$(cat tport)" t.json
	cbd-probe -q -b exec -o ex.jsonl "$PY $CBD_TOP/tests/helpers/probe_peer.py exec $URL mnist" t.json
	cbd-probe -q -b archive -o ar.jsonl wm.cbd t.json
	for f in j b u d tf ex ar; do
		run cbd-verify --json -t t.json "$f.jsonl"
		[ "$status" -eq 0 ]
		[ "$(printf '%s\n' "$output" | jq -c '[.requests_checked, .requests_unchecked]')" = "[20,0]" ]
	done
	cbd-verify -t t.json j.jsonl | grep -q "requests: 20 rebuilt from the trigger set and matched, all of them"
	# a forger moves the answers of queries 0 and 1 onto each other (index
	# and id swapped, a fresh chain): the chain verifies, the requests do not
	for f in j tf ex ar; do
		$PY - "$f.jsonl" "$f-moved.jsonl" <<'PYEOF'
import hashlib, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
q = [r for r in lines if r["type"] == "query"]
a, b = q[0], q[1]
a["index"], b["index"] = b["index"], a["index"]
a["trigger"], b["trigger"] = b["trigger"], a["trigger"]
prev = "0" * 64
with open(sys.argv[2], "wb") as f:
    for k, r in enumerate(lines):
        if k:
            r["prev"] = prev
        raw = json.dumps(r, separators=(",", ":")).encode()
        f.write(raw + b"\n")
        prev = hashlib.sha256(raw).hexdigest()
PYEOF
		cbd-verify -q "$f-moved.jsonl"
		run cbd-verify -t t.json "$f-moved.jsonl"
		[ "$status" -eq 1 ]
		[[ "$output" == *"the request recorded for trigger "*" is not the one its trigger makes"* ]]
		run cbd-attribute -q -t t.json -w "$f-moved.jsonl"
		[ "$status" -eq 1 ]
		[[ "$output" == *"is not the one its trigger makes"* ]]
	done
	# the untouched transcript is attributed (the watermark through cbd-serve
	# of the bare model: not the owner's), and the report counts the checks
	run cbd-attribute -q -t t.json -w --json ar.jsonl
	[ "$(printf '%s\n' "$output" | jq -c '.evidence.transcripts[0] | [.requests_checked, .requests_unchecked]')" = "[20,0]" ]
	# --triggers is for transcripts only, and must be the set probed
	run cbd-verify -t t.json wm.cbd
	[ "$status" -eq 64 ]
	[[ "$output" == *"--triggers applies to transcripts only"* ]]
	cbd-sign triggers -q -a wm.cbd -k owner.key --from "$D/s50.npy" -o other.json
	run cbd-verify -t other.json j.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"another trigger set"* ]]
}

@test "HTTPS: certificates verified by default, --cacert trusts, --insecure skips; --header carries a token" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout key.pem -out cert.pem -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -days 1 2>/dev/null
	PEER_CERT=cert.pem PEER_KEY=key.pem PEER_TOKEN=s3cret $PEER oip "$URL" mnist sport &
	PIDS="$!"
	S="https://127.0.0.1:$(wait_port sport)"
	tok="Authorization: Bearer s3cret"
	# self-signed: refused by default, by the preflight
	run cbd-probe -q -m mnist --retries 1 --backoff 1 -H "$tok" --samples "$D/s20.npy" -o v.jsonl "$S"
	[ "$status" -eq 69 ]
	[[ "$output" == *"cannot GET the server's readiness"*"certificate"*"; no trigger sent" ]]
	[ ! -e v.jsonl ]
	cbd-probe -q -m mnist --cacert cert.pem -H "$tok" --samples "$D/s20.npy" -o c.jsonl "$S"
	$CHECK c.jsonl >c.sum
	[ "$(same_labels c.sum)" = 20 ]
	cbd-probe -q -m mnist --insecure -H "$tok" --samples "$D/s20.npy" -o i.jsonl "$S"
	$CHECK i.jsonl >i.sum
	[ "$(same_labels i.sum)" = 20 ]
	# without the token: refused by the preflight (401), nothing sent
	: >sport.log
	run cbd-probe -q -m mnist --cacert cert.pem --samples "$D/s20.npy" -o n.jsonl "$S"
	[ "$status" -eq 69 ]
	[[ "$output" == *"GET the server's readiness (https://127.0.0.1:"*"/v2/health/ready) answered HTTP 401; no trigger sent" ]]
	[ ! -e n.jsonl ]
	[ ! -s sport.log ]
}

@test "--samples past the trigger-set limit is refused before any query" {
	$PY -c "import numpy as np; np.save('many.npy', np.zeros((65537, 1, 2, 2), np.uint8))"
	run cbd-probe -m mnist --samples many.npy -o many.jsonl "$URL"
	[ "$status" -eq 65 ]
	[[ "$output" == "cbd-probe: error: 65537 samples, at most 65536 in one probe"* ]]
	[ ! -e many.jsonl ]
}
