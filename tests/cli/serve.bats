#!/usr/bin/env bats
# serve.bats — cbd-serve against real clients on loopback: the Open
# Inference Protocol endpoints field by field, a request written exactly in
# the shape of the protocol's documentation sent with the curl CLI, real
# MNIST accuracy through HTTP, malformed requests answered 4xx while the
# server keeps serving, limits, concurrency and a clean SIGTERM shutdown.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	start_server --max-body 2000000 --max-batch 64 --model-name mnist "$MODEL"
}

teardown() {
	stop_server 2>/dev/null || true
}

# A request for the first N held-out images (FP32 x = q/255 or UINT8).
make_request() { # N DATATYPE OUT [nested]
	$PY - "$DIGITS" "$@" <<'PYEOF'
import json, sys
import numpy as np
digits, n, dt, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
x = np.load(digits)[:n]
data = (x.astype(np.float32) / np.float32(255)) if dt == "FP32" else x
data = data.tolist() if len(sys.argv) > 5 else data.flatten().tolist()
json.dump({"id": "42", "inputs": [{"name": "input", "shape": [n, 1, 28, 28],
           "datatype": dt, "data": data}],
           "outputs": [{"name": "logits"}]}, open(out, "w"))
PYEOF
}

@test "server prints its address and answers metadata and health" {
	grep -q "cbd-serve: listening on http://127.0.0.1:$PORT" serve.log
	curl -sf "$URL/v2" -o meta.json
	[ "$(json_eval meta.json 'j["name"], j["version"], j["extensions"]')" = "cbd-serve 0.1.0 ['binary_tensor_data']" ]
	curl -sf "$URL/v2/health/live" -o live.json
	[ "$(json_eval live.json 'j["live"]')" = True ]
	curl -sf "$URL/v2/health/ready" -o ready.json
	[ "$(json_eval ready.json 'j["ready"]')" = True ]
	curl -sf "$URL/v2/models/mnist" -o m.json
	[ "$(json_eval m.json 'j["name"], j["versions"], j["platform"]')" = "mnist ['1'] onnx_onnxv1" ]
	[ "$(json_eval m.json 'j["inputs"]')" = "[{'name': 'input', 'datatype': 'FP32', 'shape': [-1, 1, 28, 28]}]" ]
	[ "$(json_eval m.json 'j["outputs"]')" = "[{'name': 'logits', 'datatype': 'FP32', 'shape': [-1, 10]}]" ]
	curl -sf "$URL/v2/models/mnist/versions/1" -o m1.json
	cmp m.json m1.json
	curl -sf "$URL/v2/models/mnist/ready" -o mr.json
	[ "$(json_eval mr.json 'j["name"], j["ready"]')" = "mnist True" ]
}

@test "a request in the documentation's shape, sent with curl, gets a conforming answer" {
	make_request 1 FP32 req.json
	run curl -s -o resp.json -w '%{http_code} %{content_type}' \
		-H 'Content-Type: application/json' --data-binary @req.json \
		"$URL/v2/models/mnist/infer"
	[ "$output" = "200 application/json" ]
	[ "$(json_eval resp.json 'sorted(j)')" = "['id', 'model_name', 'model_version', 'outputs']" ]
	[ "$(json_eval resp.json 'j["model_name"], j["id"], j["model_version"]')" = "mnist 42 1" ]
	[ "$(json_eval resp.json 'sorted(j["outputs"][0])')" = "['data', 'datatype', 'name', 'shape']" ]
	o='j["outputs"][0]'
	[ "$(json_eval resp.json "$o[\"name\"], $o[\"shape\"], $o[\"datatype\"], len($o[\"data\"])")" = "logits [1, 10] FP32 10" ]
	# the held-out label of image 0, from the real model
	want=$($PY -c "import numpy as np; print(np.load('$LABELS')[0])")
	[ "$(json_eval resp.json "max(range(10), key=lambda i: $o[\"data\"][i])")" = "$want" ]
}

@test "a batch of 64 through HTTP is as accurate as the model; nested, flat and UINT8 agree" {
	make_request 64 FP32 flat.json
	make_request 64 FP32 nested.json nested
	make_request 64 UINT8 u8.json
	for r in flat nested u8; do
		curl -sf --data-binary @$r.json "$URL/v2/models/mnist/versions/1/infer" -o $r.out
	done
	[ "$(json_eval flat.out 'j["outputs"][0]["shape"]')" = "[64, 10]" ]
	cmp <(json flat.out 'j["outputs"]') <(json nested.out 'j["outputs"]')
	cmp <(json flat.out 'j["outputs"]') <(json u8.out 'j["outputs"]')
	acc=$($PY - "$CBD_TOP" <<'PYEOF'
import json, sys
import numpy as np
y = np.load(sys.argv[1] + "/models/mnist-heldout-labels.npy")[:64]
s = np.array(json.load(open("flat.out"))["outputs"][0]["data"]).reshape(64, 10)
print(int((s.argmax(1) == y).sum()))
PYEOF
)
	[ "$acc" -ge 60 ]
}

@test "UINT8 on an archive with --scale 127.5 --zero 127.5: cbd-run's dequantiser, bit for bit, JSON and binary" {
	owner_key
	cbd-embed "$MODEL" -m watermark -k owner.key -o shifted.cbd \
		--scale 127.5 --zero 127.5 >/dev/null
	cbd-sign triggers -a shifted.cbd -k owner.key -n 6 -q -o t.json \
		--from "$DIGITS"
	# 6 signed samples then 6 clean digits, as bytes
	$PY - "$DIGITS" <<'PYEOF'
import base64, json, sys, numpy as np
ts = json.load(open("t.json"))["triggers"]
q = np.stack([np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts])
np.save("u8.npy", np.concatenate([q.reshape(-1, 1, 28, 28), np.load(sys.argv[1])[:6]]))
PYEOF
	cbd-run --json shifted.cbd u8.npy >run.jsonl
	stop_server
	start_server --model-name m shifted.cbd
	$PY - "$PORT" <<'PYEOF'
import json, sys, urllib.request, numpy as np
url = f"http://127.0.0.1:{sys.argv[1]}/v2/models/m/infer"
q = np.load("u8.npy")
run = [json.loads(l) for l in open("run.jsonl")]
want = np.array([r["scores"] for r in run], np.float32)
assert [r["active"] for r in run] == [True] * 6 + [False] * 6, run

def infer(dt, data, binary=False):
    t = {"name": "input", "shape": list(q.shape), "datatype": dt}
    if binary:
        t["parameters"] = {"binary_data_size": len(data)}
        head = json.dumps({"inputs": [t]}).encode()
        body, hdr = head + data, {"Inference-Header-Content-Length": str(len(head))}
    else:
        t["data"] = data
        body, hdr = json.dumps({"inputs": [t]}).encode(), {}
    hdr["Content-Type"] = "application/json"
    r = json.load(urllib.request.urlopen(urllib.request.Request(url, body, hdr)))
    return np.array(r["outputs"][0]["data"], np.float32).reshape(len(q), -1)

u8 = infer("UINT8", q.flatten().tolist())
u8b = infer("UINT8", q.tobytes(), binary=True)
# the archive's dequantiser written out: x = (q - 127.5) / 127.5
fp = infer("FP32", ((q.astype(np.float32) - np.float32(127.5)) / np.float32(127.5)).flatten().tolist())
# what the old q/255 rule would feed the model
old = infer("FP32", (q.astype(np.float32) / np.float32(255)).flatten().tolist())
assert np.array_equal(u8, want), (u8.argmax(1), want.argmax(1))
assert np.array_equal(u8b, want)
assert np.array_equal(fp, want)
assert [r["label"] for r in run[:6]] == list(u8.argmax(1)[:6])
# q/255 gives other scores: signed inputs are not active under it
assert not any(np.array_equal(old[i], want[i]) for i in range(6)), old
PYEOF
}

@test "malformed requests get 4xx with an error message and the server keeps serving" {
	make_request 1 FP32 good.json
	check() { # body-file want-status
		run curl -s -o err.json -w '%{http_code}' --data-binary @"$1" \
			"$URL/v2/models/${MODELNAME:-mnist}/infer"
		[ "$output" = "$2" ] || { echo "$1: got $output"; return 1; }
		[ -n "$(json_eval err.json 'j["error"]')" ]
	}
	printf '{"inputs": [' >bad.json; check bad.json 400
	printf '[1,2,3]' >arr.json; check arr.json 400
	sed 's/\[1, 1, 28, 28\]/[1, 1, 28, 27]/' good.json >shape.json; check shape.json 400
	sed 's/"FP32"/"FP64"/' good.json >dtype.json; check dtype.json 400
	sed 's/"name": "input"/"name": "image"/' good.json >name.json; check name.json 400
	sed 's/\[1, 1, 28, 28\]/[2, 1, 28, 28]/' good.json >count.json; check count.json 400
	sed 's/"outputs": \[{"name": "logits"}\]/"outputs": [{"name": "scores"}]/' good.json >out.json; check out.json 400
	[ "$(json_eval err.json 'j["error"]')" = "unknown output 'scores' (the model has 'logits')" ]
	{ cat good.json; printf ' \n{"x": 1}'; } >trail.json; check trail.json 400
	[[ "$(json_eval err.json 'j["error"]')" == "request body has data after the JSON value"* ]]
	{ cat good.json; printf ' \r\n\t'; } >ws.json
	run curl -s -o ws.out -w '%{http_code}' --data-binary @ws.json "$URL/v2/models/mnist/infer"
	[ "$output" = 200 ]
	sed 's/0.0, /"x", /' good.json >str.json; check str.json 400
	$PY -c "print('{\"inputs\": [' + '0,' * 1100000 + '0]}')" >big.json; check big.json 413
	sed 's/\[1, 1, 28, 28\]/[65, 1, 28, 28]/' good.json >batch.json; check batch.json 413
	MODELNAME=nosuch check good.json 404
	[ "$(json_eval err.json 'j["error"]')" = "unknown model 'nosuch'" ]
	run curl -s -o err.json -w '%{http_code}' "$URL/v2/models/mnist/versions/7"
	[ "$output" = 404 ]
	run curl -s -o err.json -w '%{http_code}' "$URL/v2/models/mnist/infer"
	[ "$output" = 405 ]
	run curl -s -o err.json -w '%{http_code}' "$URL/v3/nothing"
	[ "$output" = 404 ]
	# still serving, correctly
	check good.json 200 || true
	curl -sf --data-binary @good.json "$URL/v2/models/mnist/infer" -o ok.json
	[ "$(json_eval ok.json 'j["outputs"][0]["shape"]')" = "[1, 10]" ]
	kill -0 "$SERVER"
}

@test "binary tensor data (Triton's extension; a client written from its documentation): every way in and out answers bit for bit like JSON" {
	TB="$PY $CBD_TOP/tests/helpers/triton_binary.py infer $URL mnist $DIGITS 64"
	$TB FP32 json json logits >ref.json
	[ "$(json_eval ref.json 'j["status"], j["content_type"], j["header_length"], j["shape"]')" = "200 application/json None [64, 10]" ]
	for m in "FP32 binary binary" "FP32 binary json" "FP32 json binary" "FP32 json all" \
		 "FP32 binary override" "UINT8 binary binary" "UINT8 json all"; do
		$TB $m logits >b.json
		[ "$(json_eval b.json 'j["status"], j["id"], j["name"], j["shape"], j["tail_bytes"]')" = "200 b1 logits [64, 10] 0" ]
		# the same float32 bits, all 64x10 of them
		[ "$(json_eval b.json 'j["bits"]')" = "$(json_eval ref.json 'j["bits"]')" ] || { echo "$m differs"; return 1; }
		case "$m" in
		*" binary" | *" all")
			[ "$(json_eval b.json 'j["content_type"], j["parameters"]')" = "application/octet-stream {'binary_data_size': 2560}" ]
			hl=$(json_eval b.json 'j["header_length"]'); [ "$hl" -gt 100 ] ;;
		*)
			[ "$(json_eval b.json 'j["content_type"], j["header_length"], j["parameters"]')" = "application/json None None" ] ;;
		esac
	done
	# the real labels come through the binary path
	acc=$($PY -c "import json, struct, numpy as np
b = bytes.fromhex(json.load(open('b.json'))['bits'])
s = np.array(struct.unpack('<640f', b)).reshape(64, 10)
print(int((s.argmax(1) == np.load('$LABELS')[:64]).sum()))")
	[ "$acc" -ge 60 ]
}

@test "binary tensor data: each malformed request is a 400 naming the problem" {
	$PY - <<'PYEOF'
import json, struct
def req(params=None, data=None, outputs=None, top=None):
    i = {"name": "input", "shape": [1, 1, 28, 28], "datatype": "FP32"}
    if params is not None: i["parameters"] = params
    if data is not None: i["data"] = data
    r = {"inputs": [i]}
    if outputs is not None: r["outputs"] = outputs
    if top is not None: r["parameters"] = top
    return json.dumps(r).encode()
x = struct.pack("<784f", *([0.5] * 784))
def write(name, head, tail=b""):
    open(name, "wb").write(head + tail)
    open(name + ".len", "w").write(str(len(head)))
write("ok", req({"binary_data_size": 3136}), x)
write("short", req({"binary_data_size": 3136}), x[:3000])
write("size", req({"binary_data_size": 3135}), x[:3135])
write("nosize", req(data=[0.5] * 784), x)
write("both", req({"binary_data_size": 3136}, data=[0.5] * 784), x)
write("nan", req({"binary_data_size": 3136}), x[:-4] + struct.pack("<f", float("nan")))
write("bdsneg", req({"binary_data_size": -1}), b"")
write("outbool", req({"binary_data_size": 3136}, outputs=[{"name": "logits", "parameters": {"binary_data": "yes"}}]), x)
write("topbool", req({"binary_data_size": 3136}, top={"binary_data_output": 1}), x)
open("noheader", "wb").write(req({"binary_data_size": 0}))
PYEOF
	raw() { $PY "$CBD_TOP/tests/helpers/triton_binary.py" raw "$URL" mnist "$@"; }
	[ "$(raw "$(cat ok.len)" ok)" = "200 " ]
	[ "$(raw "$(cat short.len)" short)" = "400 input 'binary_data_size' is 3136, but 3000 bytes follow the JSON header" ]
	[ "$(raw "$(cat size.len)" size)" = "400 input 'binary_data_size' is 3135, shape and datatype FP32 need 3136 bytes" ]
	[ "$(raw "$(cat nosize.len)" nosize)" = "400 3136 bytes after the JSON header, but no input has 'binary_data_size'" ]
	[ "$(raw "$(cat both.len)" both)" = "400 input has both 'data' and 'binary_data_size'" ]
	[ "$(raw "$(cat nan.len)" nan)" = "400 FP32 data must be finite float32 numbers (input 'input')" ]
	[ "$(raw "$(cat bdsneg.len)" bdsneg)" = "400 input parameter 'binary_data_size' must be a non-negative integer" ]
	[ "$(raw "$(cat outbool.len)" outbool)" = "400 output parameter 'binary_data' must be a boolean" ]
	[ "$(raw "$(cat topbool.len)" topbool)" = "400 parameter 'binary_data_output' must be a boolean" ]
	[ "$(raw - noheader)" = "400 input has 'binary_data_size' but the request has no Inference-Header-Content-Length header" ]
	[ "$(raw 99999 ok)" = "400 Inference-Header-Content-Length 99999 is more than the body's $(stat -c %s ok) bytes" ]
	[ "$(raw 12x ok)" = "400 Inference-Header-Content-Length is not a decimal byte count" ]
	# the header cut inside the JSON, and JSON then bytes without the header
	[ "$(raw 20 ok)" = "400 request header is not valid JSON" ]
	[[ "$(raw - ok)" == "400 request body has data after the JSON value (byte "* ]]
	curl -sf "$URL/v2/health/ready" >/dev/null
}

@test "405 names the methods of the resource, not the opposite of the request's" {
	allow() { # METHOD PATH -> "status allow-header"
		curl -s -o /dev/null -D h.txt -X "$1" "$URL$2"
		printf '%s %s\n' "$(head -1 h.txt | cut -d' ' -f2)" \
			"$(grep -i '^allow:' h.txt | cut -d' ' -f2- | tr -d '\r')"
	}
	[ "$(allow GET /v2/models/mnist/infer)" = "405 POST" ]
	[ "$(allow PUT /v2/models/mnist/infer)" = "405 POST" ]
	[ "$(allow DELETE /v2/models/mnist/versions/1/infer)" = "405 POST" ]
	[ "$(allow POST /v2/models/mnist)" = "405 GET, HEAD" ]
	[ "$(allow PUT /v2/models/mnist/ready)" = "405 GET, HEAD" ]
	[ "$(allow POST /v2/health/ready)" = "405 GET, HEAD" ]
	[ "$(allow PATCH /v2)" = "405 GET, HEAD" ]
	# HEAD is a GET without the body; unknown resources are 404 whatever the method
	[ "$(allow HEAD /v2/models/mnist)" = "200 " ]
	[ "$(allow PUT /v2/models/nosuch/infer)" = "404 " ]
}

@test "a trailing slash is the same resource: POST .../infer/ infers, GET .../mnist/ is metadata" {
	make_request 1 FP32 req.json
	curl -sf --data-binary @req.json "$URL/v2/models/mnist/infer" -o a.json
	curl -sf --data-binary @req.json "$URL/v2/models/mnist/infer/" -o b.json
	cmp a.json b.json
	[ "$(json_eval b.json 'j["outputs"][0]["name"]')" = logits ]
	curl -sf "$URL/v2/models/mnist/" -o m.json
	[ "$(json_eval m.json 'j["name"]')" = mnist ]
	run curl -s -o /dev/null -w '%{http_code}' "$URL/v2/models/mnist/infer//"
	[ "$output" = 404 ]
}

@test "an oversized chunked body gets a 413 answer, like one with Content-Length; the connection is reusable" {
	head -c 3000000 /dev/zero | tr '\0' ' ' >big.txt
	make_request 1 FP32 req.json
	run curl -s -o err.json -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		--data-binary @big.txt "$URL/v2/models/mnist/infer" \
		--next -s -o ok.json -w ' %{http_code} %{num_connects}' --data-binary @req.json "$URL/v2/models/mnist/infer"
	[ "$output" = "413 200 0" ]
	[ "$(json_eval err.json 'j["error"]')" = "request body larger than 2000000 bytes" ]
	run curl -s -o err.json -w '%{http_code}' --data-binary @big.txt "$URL/v2/models/mnist/infer"
	[ "$output" = 413 ]
	# a chunked body within the limit is served
	run curl -s -o ok2.json -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		--data-binary @req.json "$URL/v2/models/mnist/infer"
	[ "$output" = 200 ]
	cmp ok.json ok2.json
	# far past the limit (more than 4x more) the connection is closed, the server lives
	head -c 12000000 /dev/zero | tr '\0' ' ' >huge.txt
	run curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
		--data-binary @huge.txt "$URL/v2/models/mnist/infer"
	[ "$status" -ne 0 ]
	[ "$output" != 413 ]
	curl -sf "$URL/v2/health/live" >/dev/null
}

@test "concurrent keep-alive clients all get answers; access log has no input data" {
	make_request 4 FP32 req.json
	pids=""
	for i in $(seq 8); do
		curl -sf --data-binary @req.json \
			"$URL/v2/models/mnist/infer" -o "c$i.out" \
			--next --data-binary @req.json "$URL/v2/models/mnist/infer" -o "d$i.out" &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	for i in $(seq 8); do cmp c1.out "c$i.out"; cmp c1.out "d$i.out"; done
	sleep 0.2
	n=$(grep -c 'POST /v2/models/mnist/infer 200 ' serve.log)
	[ "$n" -ge 16 ]
	grep -E 'POST /v2/models/mnist/infer 200 [0-9]+ [0-9.]+ms' serve.log
	# no input data (numbers, JSON) in the log
	! grep -q -e '"data"' -e '0\.0[0-9]*,' serve.log
}

@test "SIGTERM shuts down cleanly with status 0" {
	curl -sf "$URL/v2/health/live" >/dev/null
	kill -TERM "$SERVER"
	rc=0
	wait "$SERVER" || rc=$?
	[ "$rc" -eq 0 ]
	grep -q "SIGTERM, shutting down" serve.log
	run curl -s "$URL/v2/health/live"
	[ "$status" -ne 0 ]
}

@test "usage errors: missing model, bad port, unreadable model" {
	run cbd-serve
	[ "$status" -eq 64 ]
	run cbd-serve --port 70000 "$MODEL"
	[ "$status" -eq 64 ]
	run cbd-serve --port 0 no-such-model.onnx
	[ "$status" -ne 0 ]
	[[ "$output" == *"cbd-serve: error:"* ]]
	# the port is taken by the running server
	run cbd-serve --port "$PORT" "$MODEL"
	[ "$status" -eq 69 ]
}
