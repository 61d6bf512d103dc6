#!/usr/bin/env bats
# run.bats — cbd-run on the bundled MNIST model: results, options, and one
# clean error line (naming the file, and the ONNX node and op for model
# errors) with a sysexits code for every kind of bad model or input.

setup() {
	M="$CBD_TOP/models/mnist-cnn.onnx"
	T="$CBD_TOP/models/test"
	IMG="$CBD_TOP/models/mnist-heldout-images.npy"
	LAB="$CBD_TOP/models/mnist-heldout-labels.npy"
	D="$BATS_TEST_TMPDIR"
	# a [1,4,4] sample for the small malformed models
	echo '[[[0,0.1,0.2,0.3],[0,0,0,0],[1,1,1,1],[0.5,0.5,0.5,0.5]]]' \
		>"$D/x4.json"
}

# a [1,4,4] -> [1,4,4] model with an op the engine will not have (string
# normalisation); models/test/bad/unsupported-op.onnx uses Erf, which the
# engine now runs
unsupported_model() {
	/usr/bin/python3 - "$D/unsupported-op.onnx" <<'PY'
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
	run cbd-run -q --labels "$LAB" "$M" "$IMG"
	[ "$status" -eq 0 ]
	[ "$output" = "accuracy: 1964/2000 = 98.20%" ]
}

@test "a PNG digit and the same sample from NPY get the same label and scores" {
	run cbd-run "$M" "$T/digit-7.png"
	[ "$status" -eq 0 ]
	[[ "$output" == *":0 label 7 scores "* ]]
	png_scores=${output#* scores }
	run cbd-run -b 1 "$M" "$IMG"
	[ "$status" -eq 0 ]
	first=$(printf '%s\n' "$output" | head -1)
	[ "${first#* scores }" = "$png_scores" ]
}

@test "--json prints one object per sample; batch size and threads do not change results" {
	run cbd-run --json -b 7 -t 2 "$M" "$IMG"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2000 ]
	a=$(printf '%s\n' "$output" | head -50 | sed 's/,"scores".*//')
	[[ "$(printf '%s\n' "$output" | head -1)" == '{"file":"'*'","index":0,"label":7,"scores":['* ]]
	run cbd-run --json -b 64 -t 1 "$M" "$IMG"
	b=$(printf '%s\n' "$output" | head -50 | sed 's/,"scores".*//')
	[ "$a" = "$b" ]
}

@test "--json with --labels ends with an accuracy object" {
	run cbd-run --json -q --labels "$LAB" "$M" "$IMG"
	[ "$status" -eq 0 ]
	[ "$output" = '{"correct":1964,"total":2000,"accuracy":0.982000}' ]
}

@test "input from stdin" {
	run sh -c "cbd-run '$M' - < '$T/digit-7.png'"
	[ "$status" -eq 0 ]
	[[ "$output" == "-:0 label 7 "* ]]
}

@test "labels of the wrong length are refused" {
	run cbd-run --labels "$LAB" "$M" "$T/digit-7.png"
	one_error 65 "mnist-heldout-labels.npy"
}

@test "usage errors exit 64" {
	run cbd-run "$M"
	[ "$status" -eq 64 ]
	run cbd-run --batch 0 "$M" "$IMG"
	[ "$status" -eq 64 ]
	run cbd-run --threads x "$M" "$IMG"
	[ "$status" -eq 64 ]
}

@test "missing model: 66" {
	run cbd-run "$D/nope.onnx" "$T/digit-7.png"
	one_error 66 "nope.onnx"
}

@test "truncated model protobuf" {
	head -c 3000 "$M" >"$D/trunc.onnx"
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
	run cbd-run "$M" "$D/t.png"
	one_error 65 "t.png"
}

@test "truncated NPY input" {
	head -c 1000 "$IMG" >"$D/t.npy"
	run cbd-run "$M" "$D/t.npy"
	one_error 65 "t.npy"
}

@test "NPY input of the wrong dtype" {
	run cbd-run "$M" "$T/bad/int64.npy"
	one_error 65 "int64" "int64.npy"
}

@test "NPY input of the wrong dims" {
	run cbd-run "$M" "$T/bad/wrong-dims.npy"
	one_error 65 "wrong-dims.npy" "[1,28,28]"
}

@test "NPY header claiming huge dims" {
	run cbd-run "$M" "$T/bad/huge-dims.npy"
	one_error 65 "huge-dims.npy"
}

@test "malformed and wrongly shaped JSON input" {
	printf '[[[0.1, 0.2' >"$D/t.json"
	run cbd-run "$M" "$D/t.json"
	one_error 65 "t.json"
	echo '[[1,2],[3,4]]' >"$D/s.json"
	run cbd-run "$M" "$D/s.json"
	one_error 65 "s.json"
	unsupported_model
	run cbd-run "$D/unsupported-op.onnx" "$D/s.json"
	one_error 65 "unsupported op StringNormalizer"
}

@test "no output at all when a later input is bad" {
	run cbd-run "$M" "$T/digit-7.png" "$T/bad/int64.npy"
	one_error 65 "int64.npy"
}
