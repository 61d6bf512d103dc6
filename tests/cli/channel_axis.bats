#!/usr/bin/env bats
# channel_axis.bats — a per-channel quantiser along a later sample axis
# (formats/circuit.md section 2, quantizer.axis): an NHWC classifier
# (sample [28, 28, 3], the channels last) embedded with --channel-axis 2
# and three different scales and zeros.  Every path that turns bytes into
# floats or floats into bytes must put element i on channel i mod 3:
# cbd-run, cbd-serve (UINT8 and FP32 requests) and cbd-sign check agree on
# signed triggers and clean inputs; the independent Python reference
# quantises, dequantises and verifies the same bytes; the circuit compiled
# into ONNX answers the triggers in ONNX Runtime with the owner's labels and
# clean inputs exactly as the bare model; bad axes are refused.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	# the model: NHWC input, Transpose to NCHW, Conv, Relu, Gemm; random
	# weights with a fixed seed.  The base inputs: held-out digits d with
	# each channel in its quantiser's range ([0,1], [-1,1], [-0.5,2.05])
	$PY - "$DIGITS" <<-'EOF'
	import sys, numpy as np, onnx
	from onnx import helper, numpy_helper, TensorProto
	rng = np.random.default_rng(16)
	init = {"w": rng.standard_normal((6, 3, 5, 5)) * 0.2,
	        "b": rng.standard_normal(6) * 0.1,
	        "fc": rng.standard_normal((6 * 8 * 8, 10)) * 0.1,
	        "fb": rng.standard_normal(10) * 0.1}
	nodes = [
	    helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
	    helper.make_node("Conv", ["nchw", "w", "b"], ["conv"], strides=[3, 3]),
	    helper.make_node("Relu", ["conv"], ["relu"]),
	    helper.make_node("Flatten", ["relu"], ["flat"], axis=1),
	    helper.make_node("Gemm", ["flat", "fc", "fb"], ["scores"])]
	g = helper.make_graph(nodes, "nhwc",
	    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 28, 28, 3])],
	    [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 10])],
	    [numpy_helper.from_array(v.astype(np.float32), k) for k, v in init.items()])
	m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
	m.ir_version = 7
	onnx.checker.check_model(m)
	onnx.save(m, "nhwc.onnx")
	d = np.load(sys.argv[1])[200:212].reshape(-1, 28, 28, 1).astype(np.float32)
	np.save("base.npy", np.concatenate([d, 2 * d - 1, 2 * d - 0.5], axis=3))
	EOF
	owner_key
	cbd-embed nhwc.onnx -m watermark -k owner.key --channel-axis 2 \
		--scale 255,127.5,100 --zero 0,127.5,50 -o nhwc.cbd >/dev/null
	cbd-sign triggers -a nhwc.cbd -k owner.key --from base.npy -n 6 -o t.json -q
	# u8.npy: 6 signed triggers then 6 clean samples, as bytes; f32.npy:
	# the same dequantised by the Python reference (not by cbd)
	$PY - "$CBD_TOP" <<-'EOF'
	import base64, json, sys, numpy as np
	sys.path.insert(0, sys.argv[1] + "/tests/reference")
	import cbd_reference as R
	c = R.load_circuit(archive="nhwc.cbd")
	assert (c.axis, c.channels) == (2, 3)
	ts = json.load(open("t.json"))["triggers"]
	trig = [np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts]
	clean = [c.quantize(x) for x in np.load("base.npy")[6:]]
	q = np.stack(trig + clean)
	np.save("u8.npy", q.reshape(-1, 28, 28, 3))
	np.save("f32.npy", np.stack([c.dequantize(b) for b in q]).reshape(-1, 28, 28, 3))
	json.dump([t["owner_label"] for t in ts], open("owner.json", "w"))
	EOF
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

@test "channel axis 2: circuit.json and the trigger set record it; a first-axis circuit is written as before" {
	tar -xzOf nhwc.cbd circuit.json | grep -q '"quantizer":{"channels":3,"axis":2,"scale":\[255,127.5,100\],"zero":\[0,127.5,50\]}'
	grep -q '"quantizer":{"channels":3,"axis":2,"scale":' t.json
	tar -xzOf nhwc.cbd circuit.json >c.json
	$PY - "$CBD_TOP/formats" <<-'EOF'
	import json, sys, jsonschema
	for doc, schema in (("c.json", "circuit"), ("t.json", "triggers")):
	    jsonschema.validate(json.load(open(doc)), json.load(open(f"{sys.argv[1]}/{schema}.schema.json")))
	EOF
	cbd-embed "$MODEL" -m watermark -k owner.key -o plain.cbd >/dev/null
	tar -xzOf plain.cbd circuit.json | grep -q '"quantizer":{"channels":1,"scale":\[255\],"zero":\[0\]},'
	! tar -xzOf plain.cbd circuit.json | grep -q axis
}

@test "channel axis 2: cbd-run, cbd-serve (UINT8 and FP32) and cbd-sign check agree on triggers and clean inputs" {
	# exit 1: the clean samples are not active
	for f in u8 f32; do
		rc=0
		cbd-sign check -a nhwc.cbd $f.npy --json >check-$f.json 2>/dev/null || rc=$?
		[ $rc -eq 1 ]
		cbd-run --json nhwc.cbd $f.npy | sed 's/"file":"[^"]*",//' >run-$f.jsonl
	done
	# the reference's floats are cbd's: the same scores bit for bit
	cmp run-u8.jsonl run-f32.jsonl
	start_server --model-name m nhwc.cbd
	for f in u8 f32; do
		$PY - "$PORT" $f <<-'EOF' >serve-$f.json
		import json, sys, urllib.request, numpy as np
		x = np.load(sys.argv[2] + ".npy")
		dt = "UINT8" if x.dtype == np.uint8 else "FP32"
		body = json.dumps({"id": "1", "inputs": [{"name": "input", "shape": list(x.shape),
		                   "datatype": dt, "data": x.flatten().tolist()}]}).encode()
		r = json.load(urllib.request.urlopen(urllib.request.Request(
		    f"http://127.0.0.1:{sys.argv[1]}/v2/models/m/infer", body,
		    {"Content-Type": "application/json"})))
		print(json.dumps(r["outputs"][0]["data"]))
		EOF
	done
	stop_server
	$PY - <<-'EOF'
	import json, numpy as np
	owner = json.load(open("owner.json"))
	want = [True] * 6 + [False] * 6
	run = [json.loads(l) for l in open("run-u8.jsonl")]
	assert [r["active"] for r in run] == want, run
	assert [r["label"] for r in run[:6]] == owner, (run, owner)
	for f in ("u8", "f32"):
	    check = json.load(open(f"check-{f}.json"))
	    assert [c["active"] for c in check] == want, (f, check)
	    assert [c["label"] for c in check[:6]] == owner, (f, check)
	    serve = np.array(json.load(open(f"serve-{f}.json")), np.float32).reshape(12, -1)
	    scores = np.array([r["scores"] for r in run], np.float32)
	    assert list(serve.argmax(1)) == [r["label"] for r in run], (f, serve.argmax(1))
	    assert serve.tobytes() == scores.tobytes(), f
	EOF
}

@test "channel axis 2: the Python reference quantises, dequantises and verifies as cbd does" {
	run $REF verify-triggers --archive nhwc.cbd t.json
	[ "$status" -eq 0 ]
	echo "$output" | $PY -c 'import json,sys
d = json.loads(sys.stdin.read())
assert d["count"] == d["valid"] == d["message_ok"] == 6
assert d["labels"] == d["owner_labels"]'
	# cbd signs the float base inputs (its quantiser) and writes its
	# dequantised floats; the reference quantises them back to the same
	# bytes, finds them active, and dequantises them to the same floats
	cbd-sign input -a nhwc.cbd -k owner.key --payload 7 base.npy -o cbd-signed.json
	# the reference signs the float base inputs (its quantiser); cbd checks
	# the reference's dequantised floats (its quantiser again)
	$REF sign --archive nhwc.cbd --key owner.key --payload 5 base.npy -o ref-q.npy
	$PY - "$CBD_TOP" <<-'EOF'
	import json, sys, numpy as np
	sys.path.insert(0, sys.argv[1] + "/tests/reference")
	import cbd_reference as R
	c = R.load_circuit(archive="nhwc.cbd")
	x = np.array(json.load(open("cbd-signed.json")), np.float32).reshape(12, -1)
	for row in x:
	    q = c.quantize(row)
	    act, _ = R.evaluate(c, q)
	    assert act["active"] and act["label"] == 7, act
	    assert c.dequantize(q).tobytes() == row.tobytes()
	base = np.load("base.npy").reshape(12, -1)
	ref = np.load("ref-q.npy").reshape(12, -1)
	# the carrier moves only LSBs of what the reference's quantiser gave
	assert all(np.abs(c.quantize(b).astype(int) - r).max() <= 1 for b, r in zip(base, ref))
	np.save("ref-f32.npy", np.stack([c.dequantize(r) for r in ref]).reshape(-1, 28, 28, 3))
	EOF
	run cbd-sign check -a nhwc.cbd ref-f32.npy --json
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -o '"active":true' | wc -l)" -eq 12 ]
}

@test "channel axis 2: compiled to ONNX, ONNX Runtime answers triggers with the owner's labels and clean inputs as the bare model" {
	need_ort
	export NODE_PATH="$CBD_TOP/build/ort/node_modules"
	cbd-embed nhwc.cbd -f onnx -k owner.key -o nhwc-c.onnx >/dev/null
	mkdir -p ort-c ort-b ort-c1
	node "$CBD_TOP/tests/helpers/ort_run.js" nhwc-c.onnx ort-c f32.npy
	node "$CBD_TOP/tests/helpers/ort_run.js" nhwc.onnx ort-b f32.npy
	# one sample alone: the fast path sees no tag
	$PY -c 'import numpy as np; np.save("one.npy", np.load("f32.npy")[6:7])'
	node "$CBD_TOP/tests/helpers/ort_run.js" nhwc-c.onnx ort-c1 one.npy
	$PY - <<-'EOF'
	import json, numpy as np
	owner = json.load(open("owner.json"))
	c = np.load("ort-c/output_0.npy")
	b = np.load("ort-b/output_0.npy")
	assert c.shape == b.shape == (12, 10), (c.shape, b.shape)
	assert list(c[:6].argmax(1)) == owner, (c[:6].argmax(1), owner)
	# a trigger's scores: the bare ones with top and label swapped
	for i, l in enumerate(owner):
	    w = b[i].copy()
	    t = w.argmax()
	    w[t], w[l] = w[l], w[t]
	    assert c[i].tobytes() == w.tobytes(), i
	assert c[6:].tobytes() == b[6:].tobytes()
	assert np.load("ort-c1/output_0.npy").tobytes() == b[6:7].tobytes()
	EOF
	# cbd's engine runs the compiled graph as the archive answers
	cbd-run --json nhwc-c.onnx f32.npy | sed 's/"file":"[^"]*",//' >eng.jsonl
	cbd-run --json nhwc.cbd f32.npy | sed 's/"file":"[^"]*",//; s/,"active":[a-z]*//' >arch.jsonl
	cmp eng.jsonl arch.jsonl
}

@test "channel axis: bad values are refused with one line naming the option or field" {
	S=(--scale 255,127.5,100 --zero 0,127.5,50)
	for a in 3 -1 1.5 x; do
		run cbd-embed nhwc.onnx -m watermark -k owner.key --channel-axis "$a" "${S[@]}" -o bad.cbd
		echo "$a: $output"
		[ "$status" -eq 64 ]
		[[ "${lines[0]}" == *"--channel-axis"* ]]
	done
	# three channels along an axis of 28; an axis without channels
	for a in 0 1; do
		run cbd-embed nhwc.onnx -m watermark -k owner.key --channel-axis $a "${S[@]}" -o bad.cbd
		[ "$status" -eq 64 ]
		[[ "${lines[0]}" == *"--channel-axis"* ]]
	done
	run cbd-embed nhwc.onnx -m watermark -k owner.key --channel-axis 2 --scale 255 -o bad.cbd
	[ "$status" -eq 64 ]
	[[ "${lines[0]}" == *"--channel-axis"* ]]
	run cbd-embed nhwc.cbd -f onnx -k owner.key --channel-axis 2 -o bad.onnx
	[ "$status" -eq 64 ]
	[ ! -e bad.cbd ] && [ ! -e bad.onnx ]
	# hand-edited circuit.json in an archive re-signed by the owner
	tar -xzOf nhwc.cbd circuit.json >good.json
	for e in '"axis":3' '"axis":-1' '"axis":1' '"axis":2.5' '"axis":"2"' '"axis":0'; do
		sed "s/\"axis\":2/$e/" good.json >edit.json
		$PY "$CBD_TOP/tests/helpers/hostile_archive.py" circuit nhwc.cbd edit.cbd owner.key edit.json
		run cbd-verify edit.cbd
		echo "$e: $output"
		[ "$status" -eq 65 ]
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == *"circuit.json: "*"axis"* ]]
	done
	# the same, unedited: the circuit passes and the Python tar is what
	# the reader refuses (so the refusals above are the circuit's)
	$PY "$CBD_TOP/tests/helpers/hostile_archive.py" circuit nhwc.cbd same.cbd owner.key good.json
	run cbd-verify same.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"tar stream is not in canonical form"* ]]
}
