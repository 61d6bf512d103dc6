#!/usr/bin/env bats
# embed.bats — cbd-embed on the bundled MNIST model: the three modes, trace
# families (one circuit id, one copy per user, all-or-nothing), auth keys,
# reproducible bytes, and the refusals: wrong key type, wrong passphrase,
# public key, loose permissions, input too small for the carrier, usage
# errors — each with one error line, a sysexits code and no output left.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	owner_key
}

manifest() { # archive -> manifest.json on stdout
	$PY -c '
import gzip, io, sys, tarfile
t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(open(sys.argv[1], "rb").read())))
sys.stdout.write(t.extractfile("manifest.json").read().decode())' "$1"
}

field() { # archive field
	manifest "$1" | $PY -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v if v is not None else "null")' "$2"
}

# Assert: failed with a sysexits code, one error line, no .cbd anywhere.
refused() { # expected-status
	[ "$status" -eq "$1" ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "cbd-embed: error: "* ]]
	[ -z "$(find . -name '*.cbd*')" ]
}

@test "watermark: default output name, verifies, classes recorded" {
	run cbd-embed "$MODEL" -m watermark -k owner.key
	[ "$status" -eq 0 ]
	[ -f mnist-cnn.cbd ]
	[[ "$output" == "mnist-cnn.cbd: watermark archive of mnist-cnn"* ]]
	cbd-verify mnist-cnn.cbd --key owner.pub
	[ "$(field mnist-cnn.cbd mode)" = watermark ]
	[ "$(field mnist-cnn.cbd input)" = input ]
	run cbd-embed -m watermark -k owner.key -c zero,one,two,three,four,five,six,seven,eight,nine -o named.cbd "$MODEL"
	[ "$status" -eq 0 ]
	manifest named.cbd | grep -q '"classes": \["zero", "one", "two"'
}

@test "same inputs, circuit id and SOURCE_DATE_EPOCH: byte-identical archives" {
	export SOURCE_DATE_EPOCH=1700000000
	id=00112233445566778899aabbccddeeff
	cbd-embed "$MODEL" -m watermark -k owner.key --circuit-id $id -o a.cbd
	cbd-embed "$MODEL" -m watermark -k owner.key --circuit-id $id -o b.cbd
	cmp a.cbd b.cbd
	[ "$(field a.cbd circuit_id)" = $id ]
	[ "$(field a.cbd created)" = 1700000000 ]
	# Without a fixed circuit id every run draws a new one.
	cbd-embed "$MODEL" -m watermark -k owner.key -o c.cbd
	[ "$(field c.cbd circuit_id)" != $id ]
}

@test "trace: one copy per keyring user, one shared circuit id" {
	for u in carol alice bob; do cbd-keygen user $u -K ring >/dev/null; done
	run cbd-embed "$MODEL" -m trace -k owner.key -K ring -d copies --json
	[ "$status" -eq 0 ]
	ls copies > got
	printf 'mnist-cnn-alice.cbd\nmnist-cnn-bob.cbd\nmnist-cnn-carol.cbd\n' > want
	diff got want
	echo "$output" | $PY -c '
import json, sys
d = json.load(sys.stdin)["archives"]
assert [a["user"] for a in d] == ["alice", "bob", "carol"]
assert len({a["circuit_id"] for a in d}) == 1 and all(a["mode"] == "trace" for a in d)'
	for u in alice bob carol; do
		cbd-verify copies/mnist-cnn-$u.cbd --key owner.pub >/dev/null
		[ "$(field copies/mnist-cnn-$u.cbd user)" = $u ]
	done
	[ "$(field copies/mnist-cnn-alice.cbd circuit_id)" = "$(field copies/mnist-cnn-carol.cbd circuit_id)" ]
	# The circuits differ only by their trace secret (and user).
	! cmp -s copies/mnist-cnn-alice.cbd copies/mnist-cnn-bob.cbd
}

@test "trace: --user picks users; unknown user refused" {
	cbd-keygen user alice -K ring >/dev/null
	cbd-keygen user bob -K ring >/dev/null
	run cbd-embed "$MODEL" -m trace -k owner.key -K ring -u bob
	[ "$status" -eq 0 ]
	[ -f mnist-cnn-bob.cbd ] && [ ! -e mnist-cnn-alice.cbd ]
	rm mnist-cnn-bob.cbd
	run cbd-embed "$MODEL" -m trace -k owner.key -K ring -u bob -u mallory
	refused 65
	[[ "$output" == *"mallory is not in the keyring"* ]]
}

@test "trace: a failing copy removes the copies already written" {
	for u in alice bob carol; do cbd-keygen user $u -K ring >/dev/null; done
	mkdir -p out/mnist-cnn-carol.cbd   # the third copy cannot be renamed there
	run cbd-embed "$MODEL" -m trace -k owner.key -K ring -d out
	[ "$status" -eq 73 ]
	[ ! -e out/mnist-cnn-alice.cbd ] && [ ! -e out/mnist-cnn-bob.cbd ]
	[ -z "$(ls out | grep -v '^mnist-cnn-carol.cbd$')" ]
}

@test "auth: authorised keys from --authorize and the keyring" {
	cbd-keygen user alice -K ring >/dev/null
	cbd-keygen user bob -K ring >/dev/null
	cbd-keygen investigator dave >/dev/null
	run cbd-embed "$MODEL" -m auth -k owner.key -a dave.pub -K ring -o auth.cbd --json
	[ "$status" -eq 0 ]
	echo "$output" | $PY -c 'import json,sys; assert json.load(sys.stdin)["archives"][0]["keys"] == 3'
	run cbd-verify --info auth.cbd
	[ "$status" -eq 0 ]
	for k in dave alice bob; do
		id=$(openssl pkey -pubin -in $k.pub -outform DER | sha256sum | cut -c1-16)
		[[ "$output" == *"circuit key"*"$id"* ]]
	done
}

@test "writes to stdout with -o -" {
	cbd-embed "$MODEL" -m watermark -k owner.key -o - > s.cbd 2>/dev/null
	cbd-verify s.cbd --key owner.pub
}

@test "input too small for the carrier: one-line error, no output" {
	$PY - <<'PY'
import numpy as np
from onnx import helper, numpy_helper, TensorProto, save
W = numpy_helper.from_array(np.full((100, 10), 0.01, np.float32), "W")
B = numpy_helper.from_array(np.zeros(10, np.float32), "B")
g = helper.make_graph(
    [helper.make_node("Flatten", ["x"], ["f"], axis=1),
     helper.make_node("Gemm", ["f", "W", "B"], ["y"])], "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 10, 10])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [W, B])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), "tiny.onnx")
PY
	run cbd-embed tiny.onnx -m watermark -k owner.key
	refused 65
	[[ "$output" == *"tiny.onnx"*"100 elements"*"552"* ]]
}

@test "one classifier rule: what cbd-run and cbd-serve refuse is never signed" {
	$PY - <<'PY'
import numpy as np
from onnx import helper as h, numpy_helper as nh, TensorProto as T, save
W = nh.from_array(np.full((784, 10), 0.01, np.float32), "W")
W1 = nh.from_array(np.full((784, 1), 0.01, np.float32), "W1")
S = nh.from_array(np.array([-1, 1, 10], np.int64), "S")
def model(name, nodes, ins, outs):
    g = h.make_graph(nodes, name, ins, outs, [W, W1, S])
    save(h.make_model(g, opset_imports=[h.make_opsetid("", 13)]), name + ".onnx")
x = h.make_tensor_value_info("x", T.FLOAT, ["N", 1, 28, 28])
flat = h.make_node("Flatten", ["x"], ["f"], axis=1)
# rank-3 scores [N, 1, 10]
model("rank3", [flat, h.make_node("MatMul", ["f", "W"], ["m"]),
                h.make_node("Reshape", ["m", "S"], ["y"])],
      [x], [h.make_tensor_value_info("y", T.FLOAT, ["N", 1, 10])])
# one class
model("k1", [flat, h.make_node("MatMul", ["f", "W1"], ["y"])],
      [x], [h.make_tensor_value_info("y", T.FLOAT, ["N", 1])])
# two inputs
x2 = h.make_tensor_value_info("x2", T.FLOAT, ["N", 10])
model("two", [flat, h.make_node("MatMul", ["f", "W"], ["m"]),
              h.make_node("Add", ["m", "x2"], ["y"])],
      [x, x2], [h.make_tensor_value_info("y", T.FLOAT, ["N", 10])])
# a dynamic sample dimension
xd = h.make_tensor_value_info("x", T.FLOAT, ["N", 1, 28, "W"])
model("dyn", [flat, h.make_node("MatMul", ["f", "W"], ["y"])],
      [xd], [h.make_tensor_value_info("y", T.FLOAT, ["N", 10])])
PY
	for m in rank3 k1 two dyn; do
		run cbd-embed $m.onnx -m watermark -k owner.key
		refused 65
		embed_msg=${lines[0]#cbd-embed: error: }
		[[ "$embed_msg" == *"$m.onnx"* ]]
		run cbd-run $m.onnx "$DIGITS"
		[ "$status" -eq 65 ]
		[ "${lines[0]#cbd-run: error: }" = "$embed_msg" ]
	done
	run cbd-embed rank3.onnx -m watermark -k owner.key
	[[ "$output" == *"output y must be float32 [N, K] scores"* ]]
	run cbd-embed two.onnx -m watermark -k owner.key --input x
	[[ "$output" == *"model has 2 inputs, a classifier has one"* ]]
	run cbd-embed "$MODEL" -m watermark -k owner.key --input nosuch
	refused 65
	[[ "$output" == *"no input named nosuch"* ]]
}

@test "wrong key type: RSA and P-384 owner keys are refused" {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.key 2>/dev/null
	chmod 600 rsa.key
	run cbd-embed "$MODEL" -m watermark -k rsa.key
	refused 65
	[[ "$output" == *"unsupported key type"* ]]
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key
	chmod 600 p384.key
	run cbd-embed "$MODEL" -m watermark -k p384.key
	refused 65
}

@test "encrypted owner key: right, wrong and missing passphrase" {
	printf 'sesame\n' > pass
	printf 'wrong\n' > bad
	cbd-keygen owner enc --passphrase-file pass >/dev/null
	run cbd-embed "$MODEL" -m watermark -k enc.key --passphrase-file bad
	refused 65
	[[ "$output" == *"wrong passphrase"* ]]
	run cbd-embed "$MODEL" -m watermark -k enc.key < /dev/null
	refused 65
	[[ "$output" == *"--passphrase-file"* ]]
	run cbd-embed "$MODEL" -m watermark -k enc.key --passphrase-file pass
	[ "$status" -eq 0 ]
	cbd-verify mnist-cnn.cbd --key enc.pub >/dev/null
}

@test "a public key as --key, a corrupted key, loose permissions" {
	run cbd-embed "$MODEL" -m watermark -k owner.pub
	refused 65
	[[ "$output" == *"owner.pub is a public key; a private key is needed"* ]]
	sed '2s/^./A/;2s/^AA/BB/' owner.key > broken.key
	chmod 600 broken.key
	run cbd-embed "$MODEL" -m watermark -k broken.key
	refused 65
	chmod 644 owner.key
	run cbd-embed "$MODEL" -m watermark -k owner.key
	refused 77
	[[ "$output" == *"chmod 600"* ]]
}

@test "keyring readable by others is refused" {
	cbd-keygen user alice -K ring >/dev/null
	chmod 640 ring
	run cbd-embed "$MODEL" -m trace -k owner.key -K ring
	refused 77
}

@test "usage errors exit 64 and write nothing" {
	run cbd-embed "$MODEL" -k owner.key
	refused 64
	run cbd-embed "$MODEL" -m fingerprint -k owner.key
	refused 64
	run cbd-embed "$MODEL" -m watermark
	refused 64
	run cbd-embed "$MODEL" -m trace -k owner.key
	refused 64
	run cbd-embed "$MODEL" -m watermark -k owner.key -c a,b,c
	refused 64
	run cbd-embed "$MODEL" -m watermark -k owner.key --circuit-id 1234
	refused 64
	run cbd-embed "$MODEL" -m watermark -k owner.key -a owner.pub
	refused 64
	run cbd-embed -m watermark -k owner.key
	refused 64
	run cbd-embed missing.onnx -m watermark -k owner.key
	refused 66
}
