#!/usr/bin/env bats
# run.bats — cbd-run on the bundled MNIST model: results, options, and one
# clean error line (naming the file, and the ONNX node and op for model
# errors) with a sysexits code for every kind of bad model or input.

load helpers

setup() {
	T="$CBD_TOP/models/test"
	D="$BATS_TEST_TMPDIR"
	# a [1,4,4] sample for the small malformed models
	echo '[[[0,0.1,0.2,0.3],[0,0,0,0],[1,1,1,1],[0.5,0.5,0.5,0.5]]]' \
		>"$D/x4.json"
}

# a [1,4,4] -> [1,4,4] model with an op the engine will not have (string
# normalisation); models/test/bad/unsupported-op.onnx uses Erf, which the
# engine now runs
unsupported_model() {
	$PY - "$D/unsupported-op.onnx" <<'PY'
import sys
from onnx import TensorProto as T, helper as h, save
g = h.make_graph([h.make_node("StringNormalizer", ["x"], ["y"], name="sn0")],
                 "u", [h.make_tensor_value_info("x", T.FLOAT, [1, 4, 4])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 4, 4])])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), sys.argv[1])
PY
}

# status, exactly one stderr line containing $1, empty stdout
one_error() { # expected-status substring...
	want=$1
	shift
	[ "$status" -eq "$want" ] || { echo "status $status: $output"; return 1; }
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ] || { echo "$output"; return 1; }
	[[ "$output" == "cbd-run: error: "* ]]
	for s in "$@"; do
		[[ "$output" == *"$s"* ]] || { echo "missing '$s' in: $output"; return 1; }
	done
}

@test "held-out accuracy is computed in C and matches the model's record" {
	run cbd-run -q --labels "$LABELS" "$MODEL" "$DIGITS"
	[ "$status" -eq 0 ]
	[ "$output" = "accuracy: 1964/2000 = 98.20%" ]
}

@test "a PNG digit and the same sample from NPY get the same label and scores" {
	run cbd-run "$MODEL" "$T/digit-7.png"
	[ "$status" -eq 0 ]
	[[ "$output" == *":0 label 7 scores "* ]]
	png_scores=${output#* scores }
	run cbd-run -b 1 "$MODEL" "$DIGITS"
	[ "$status" -eq 0 ]
	first=$(printf '%s\n' "$output" | head -1)
	[ "${first#* scores }" = "$png_scores" ]
}

@test "--json prints one object per sample; batch size and threads do not change results" {
	run cbd-run --json -b 7 -j 2 "$MODEL" "$DIGITS"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2000 ]
	a=$(printf '%s\n' "$output" | head -50 | sed 's/,"scores".*//')
	[[ "$(printf '%s\n' "$output" | head -1)" == '{"file":"'*'","index":0,"label":7,"scores":['* ]]
	run cbd-run --json -b 64 -j 1 "$MODEL" "$DIGITS"
	b=$(printf '%s\n' "$output" | head -50 | sed 's/,"scores".*//')
	[ "$a" = "$b" ]
}

@test "--json with --labels ends with an accuracy object" {
	run cbd-run --json -q --labels "$LABELS" "$MODEL" "$DIGITS"
	[ "$status" -eq 0 ]
	[ "$output" = '{"correct":1964,"total":2000,"accuracy":0.982000}' ]
}

@test "input from stdin" {
	run sh -c "cbd-run '$MODEL' - < '$T/digit-7.png'"
	[ "$status" -eq 0 ]
	[[ "$output" == "-:0 label 7 "* ]]
}

@test "labels of the wrong length are refused" {
	run cbd-run --labels "$LABELS" "$MODEL" "$T/digit-7.png"
	one_error 65 "mnist-heldout-labels.npy"
}

@test "one dequantiser: cbd-run, cbd-sign check and cbd-serve agree on bytes, default and non-default quantisers" {
	cd "$D"
	owner_key
	for q in default shifted; do
		args=()
		[ $q = shifted ] && args=(--scale 127.5 --zero 127.5)
		cbd-embed "$MODEL" -m watermark -k owner.key -o $q.cbd "${args[@]}" >/dev/null
		cbd-sign triggers -a $q.cbd -k owner.key --from "$DIGITS" -n 6 -o t.json -q
		# 6 signed samples then 6 clean digits, as uint8 bytes
		$PY - "$DIGITS" <<'PY'
import base64, json, sys, numpy as np
ts = json.load(open("t.json"))["triggers"]
q = np.stack([np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts])
np.save("u8.npy", np.concatenate([q.reshape(-1, 1, 28, 28), np.load(sys.argv[1])[:6]]))
PY
		# exit 1: not every sample is active (the clean ones are not);
		# the JSON array is stdout, the archive's summary line stderr
		set +e
		cbd-sign check -a $q.cbd u8.npy --json >check.json 2>/dev/null
		[ $? -eq 1 ] || return 1
		set -e
		cbd-run --json $q.cbd u8.npy >run.jsonl
		start_server --model-name m $q.cbd
		$PY - "$PORT" <<'PY' >serve.labels
import json, sys, urllib.request, numpy as np
x = np.load("u8.npy")
body = json.dumps({"id": "1", "inputs": [{"name": "input", "shape": list(x.shape),
                   "datatype": "UINT8", "data": x.flatten().tolist()}]}).encode()
r = json.load(urllib.request.urlopen(urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/v2/models/m/infer", body,
    {"Content-Type": "application/json"})))
d = np.array(r["outputs"][0]["data"], np.float32).reshape(len(x), -1)
print(" ".join(str(int(v)) for v in d.argmax(1)))
PY
		stop_server
		$PY - <<'PY'
import json
check = json.load(open("check.json"))
run = [json.loads(l) for l in open("run.jsonl")]
serve = [int(v) for v in open("serve.labels").read().split()]
want = [True] * 6 + [False] * 6
assert [c["active"] for c in check] == want, check
assert [r["active"] for r in run] == want, run
for c, r in zip(check[:6], run):
    assert c["label"] == r["label"], (c, r)
assert serve == [r["label"] for r in run], (serve, run)
PY
	done
}

@test "usage errors exit 64" {
	run cbd-run "$MODEL"
	[ "$status" -eq 64 ]
	run cbd-run --batch 0 "$MODEL" "$DIGITS"
	[ "$status" -eq 64 ]
	run cbd-run --threads x "$MODEL" "$DIGITS"
	[ "$status" -eq 64 ]
}

@test "missing model: 66" {
	run cbd-run "$D/nope.onnx" "$T/digit-7.png"
	one_error 66 "nope.onnx"
}

@test "truncated model protobuf" {
	head -c 3000 "$MODEL" >"$D/trunc.onnx"
	run cbd-run "$D/trunc.onnx" "$T/digit-7.png"
	one_error 65 "trunc.onnx" "protobuf"
}

@test "corrupt model protobuf" {
	head -c 4096 /dev/zero | tr '\0' '\377' >"$D/junk.onnx"
	run cbd-run "$D/junk.onnx" "$T/digit-7.png"
	one_error 65 "junk.onnx"
	: >"$D/empty.onnx"
	run cbd-run "$D/empty.onnx" "$T/digit-7.png"
	one_error 65 "empty.onnx"
}

@test "unsupported op names the op and the node" {
	unsupported_model
	run cbd-run "$D/unsupported-op.onnx" "$D/x4.json"
	one_error 65 "unsupported op StringNormalizer" "node sn0"
}

@test "missing initializer names the value, the node and the op" {
	run cbd-run "$T/bad/missing-initializer.onnx" "$D/x4.json"
	one_error 65 "missing input or initializer W" "node fc, Gemm"
}

@test "shape mismatch inside the graph names the node and op" {
	run cbd-run "$T/bad/shape-mismatch.onnx" "$D/x4.json"
	one_error 65 "inner dimensions" "node fc, Gemm"
}

@test "absurd dimensions are refused before allocating" {
	run cbd-run "$T/bad/absurd-dims.onnx" "$D/x4.json"
	one_error 65 "absurd" "node grow, Reshape"
}

@test "initializer data that does not match its shape" {
	run cbd-run "$T/bad/bad-initializer.onnx" "$D/x4.json"
	one_error 65 "bad-initializer.onnx" "tensor W"
}

@test "truncated PNG input" {
	head -c 60 "$T/digit-7.png" >"$D/t.png"
	run cbd-run "$MODEL" "$D/t.png"
	one_error 65 "t.png"
}

@test "truncated NPY input" {
	head -c 1000 "$DIGITS" >"$D/t.npy"
	run cbd-run "$MODEL" "$D/t.npy"
	one_error 65 "t.npy"
}

@test "NPY input of the wrong dtype" {
	run cbd-run "$MODEL" "$T/bad/int64.npy"
	one_error 65 "int64" "int64.npy"
}

@test "NPY input of the wrong dims" {
	run cbd-run "$MODEL" "$T/bad/wrong-dims.npy"
	one_error 65 "wrong-dims.npy" "[1,28,28]"
}

@test "NPY header claiming huge dims" {
	run cbd-run "$MODEL" "$T/bad/huge-dims.npy"
	one_error 65 "huge-dims.npy"
}

@test "malformed and wrongly shaped JSON input" {
	printf '[[[0.1, 0.2' >"$D/t.json"
	run cbd-run "$MODEL" "$D/t.json"
	one_error 65 "t.json"
	echo '[[1,2],[3,4]]' >"$D/s.json"
	run cbd-run "$MODEL" "$D/s.json"
	one_error 65 "s.json"
	unsupported_model
	run cbd-run "$D/unsupported-op.onnx" "$D/s.json"
	one_error 65 "unsupported op StringNormalizer"
}

@test "no output at all when a later input is bad" {
	run cbd-run "$MODEL" "$T/digit-7.png" "$T/bad/int64.npy"
	one_error 65 "int64.npy"
}
