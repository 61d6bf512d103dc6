#!/usr/bin/env bats
# engine.bats — the engine's typed and control-flow graphs against ONNX
# Runtime: tests/conformance/ort-compare builds them with python3-onnx and
# requires `cbd-run --tensors` to give ORT's outputs bit for bit (float
# kernels ORT rounds differently within 1e-5); plus the --tensors mode's
# own errors and the operator list of cbd-run(1).

load helpers

setup() {
	D="$BATS_TEST_TMPDIR"
	# tools/deps.sh installs ORT under build/ort for every build (SAN too)
	export NODE_PATH="$ORT_MODULES"
}

@test "integer, control-flow and new-operator graphs answer like ONNX Runtime" {
	[ -d "$NODE_PATH/onnxruntime-node" ] || {
		echo "onnxruntime-node missing: run sh tools/deps.sh"; return 1; }
	run $PY "$CBD_TOP/tests/conformance/ort-compare" "$D"
	echo "$output"
	[ "$status" -eq 0 ]
	# every case listed in the plan line passed, and none went missing
	n=$(printf '%s\n' "$output" | sed -n 's/^1\.\.\([0-9]*\)$/\1/p')
	[ "$n" -ge 17 ]
	[ "$(printf '%s\n' "$output" | grep -c '^ok ')" -eq "$n" ]
}

@test "--tensors: typed NPY in, typed NPY out; wrong input count is one error" {
	$PY - "$D" <<'PY'
import sys, numpy as np
from onnx import TensorProto as T, helper as h, save
g = h.make_graph([h.make_node("Add", ["a", "b"], ["y"], name="add0")], "g",
                 [h.make_tensor_value_info("a", T.UINT64, [2]),
                  h.make_tensor_value_info("b", T.UINT64, [2])],
                 [h.make_tensor_value_info("y", T.UINT64, [2])])
save(h.make_model(g, opset_imports=[h.make_opsetid("", 14)]), sys.argv[1] + "/add.onnx")
np.save(sys.argv[1] + "/a.npy", np.array([2**64 - 1, 2**63], dtype=np.uint64))
np.save(sys.argv[1] + "/b.npy", np.array([2, 2**63 + 5], dtype=np.uint64))
np.save(sys.argv[1] + "/f.npy", np.array([1, 2], dtype=np.float32))
PY
	run cbd-run --tensors "$D" "$D/add.onnx" "$D/a.npy" "$D/b.npy"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	$PY -c "import numpy as np; y = np.load('$D/output_0.npy'); assert y.dtype == np.uint64 and y.tolist() == [1, 5], y"
	run cbd-run --tensors "$D" "$D/add.onnx" "$D/a.npy"
	[ "$status" -eq 64 ]
	[[ "$output" == "cbd-run: error: the model has 2 inputs, 1 files given"* ]]
	run cbd-run --tensors "$D" "$D/add.onnx" "$D/a.npy" "$D/f.npy"
	[ "$status" -eq 65 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ "$output" == *"dtype float32, model wants uint64"* ]]
}

@test "float64 MatMul is each dot product summed in index order: ±0, infinities, NaN, sparse and batched operands, bit for bit" {
	# reference: plain Python floats (IEEE doubles), every y[i,j] summed
	# k = 0, 1, ... from +0: the engine's documented order, whatever its
	# kernel skips
	$PY - "$D" <<'PY'
import sys, math, struct, numpy as np
from onnx import TensorProto as T, helper as h, save
d = sys.argv[1]
r = np.random.default_rng(11)
def operand(shape, sparse):
    x = r.normal(size=shape) * 3
    x[r.random(shape) < sparse] = 0.0
    x[r.random(shape) < 0.1] *= -0.0          # negative zeros
    return x
a = operand((3, 4, 7), 0.6); b2 = operand((7, 5), 0.8); b3 = operand((3, 7, 5), 0.7)
a[0, 1, 2] = math.inf; a[1, 2, 3] = math.nan; b2[4, 1] = -math.inf; b3[2, 5, 0] = math.nan
a[2, 0, :] = -0.0                              # a row of negative zeros
b2[6, :] = 0.0; b2[6, 3] = math.inf            # 0 * inf in the sums
for name, b in (("mm2", b2), ("mm3", b3)):
    g = h.make_graph([h.make_node("MatMul", ["a", "b"], ["y"])], "g",
                     [h.make_tensor_value_info("a", T.DOUBLE, list(a.shape)),
                      h.make_tensor_value_info("b", T.DOUBLE, list(b.shape))],
                     [h.make_tensor_value_info("y", T.DOUBLE, None)])
    save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), f"{d}/{name}.onnx")
    np.save(f"{d}/{name}-b.npy", b)
    ref = np.zeros((3, 4, 5))
    for o in range(3):
        bb = b if b.ndim == 2 else b[o]
        for i in range(4):
            for j in range(5):
                acc = 0.0
                for k in range(7):
                    acc += float(a[o, i, k]) * float(bb[k, j])
                ref[o, i, j] = acc
    np.save(f"{d}/{name}-ref.npy", ref)
np.save(f"{d}/mm-a.npy", a)
PY
	for m in mm2 mm3; do
		mkdir -p "$D/$m"
		run cbd-run --tensors "$D/$m" "$D/$m.onnx" "$D/mm-a.npy" "$D/$m-b.npy"
		[ "$status" -eq 0 ] || { echo "$output"; return 1; }
		run $PY -c '
import sys, numpy as np
y = np.load(sys.argv[1] + "/output_0.npy"); ref = np.load(sys.argv[2])
assert y.dtype == np.float64 and y.shape == ref.shape, (y.dtype, y.shape)
same = (y.view(np.uint64) == ref.view(np.uint64)) | (np.isnan(y) & np.isnan(ref))
assert same.all(), (np.argwhere(~same)[:4], y[~same][:4], ref[~same][:4])
assert np.isnan(ref).any() and np.isinf(ref).any() and (np.signbit(ref) & (ref == 0)).sum() == 0
print("ok", same.size)' "$D/$m" "$D/$m-ref.npy"
		echo "$m: $output"
		[ "$status" -eq 0 ]
	done
}

@test "cbd-run(1) lists exactly the operators of lib/nn/ops.def, in order" {
	sed -n 's/^NN_OP([A-Z0-9_]*, "\([A-Za-z0-9]*\)",.*/\1/p' \
		"$CBD_TOP/lib/nn/ops.def" >"$D/def"
	sed -n '/^\.\\" BEGIN OPS/,/^\.\\" END OPS/p' "$CBD_TOP/man/man1/cbd-run.1" |
		sed '1d;$d' | tr ',' '\n' | sed 's/^ *//;s/ *$//;/^$/d' >"$D/man"
	[ "$(grep -c '^NN_OP(' "$CBD_TOP/lib/nn/ops.def")" -eq "$(wc -l <"$D/def")" ]
	[ "$(wc -l <"$D/def")" -ge 100 ]
	diff "$D/def" "$D/man"
}

@test "the supported opset range is one constant (cbd.h), quoted by cbd-run(1) and the refusal" {
	lo=$(sed -n 's/^#define CBD_NN_OPSET_MIN \([0-9]*\)$/\1/p' "$CBD_TOP/include/cbd.h")
	hi=$(sed -n 's/^#define CBD_NN_OPSET_MAX \([0-9]*\)$/\1/p' "$CBD_TOP/include/cbd.h")
	[ -n "$lo" ] && [ -n "$hi" ]
	grep -q "^ONNX default-domain opsets $lo to $hi;" "$CBD_TOP/man/man1/cbd-run.1"
	$PY - "$D" "$hi" <<'PY'
import sys, numpy as np
from onnx import TensorProto as T, helper as h, save
for v in (int(sys.argv[2]), int(sys.argv[2]) + 1):
    g = h.make_graph([h.make_node("Neg", ["a"], ["y"])], "g",
                     [h.make_tensor_value_info("a", T.INT64, [2])],
                     [h.make_tensor_value_info("y", T.INT64, [2])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", v)])
    m.ir_version = 8
    save(m, "%s/op%d.onnx" % (sys.argv[1], v))
np.save(sys.argv[1] + "/a.npy", np.array([3, -2**63], dtype=np.int64))
PY
	run cbd-run --tensors "$D" "$D/op$hi.onnx" "$D/a.npy"
	[ "$status" -eq 0 ]
	run cbd-run --tensors "$D" "$D/op$((hi + 1)).onnx" "$D/a.npy"
	[ "$status" -eq 65 ]
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	[[ "$output" == *"opset $((hi + 1)) (supported: $lo to $hi)"* ]]
}

@test "a model exported with a fixed batch of 1 runs batches one sample at a time; cbd-serve advertises its batch of 1" {
	$PY - "$D" <<'PY'
import sys, numpy as np
from onnx import TensorProto as T, helper as h, numpy_helper as nh, save
rng = np.random.default_rng(7)
w = rng.normal(0, 1, (4, 3)).astype(np.float32)
g = h.make_graph([h.make_node("MatMul", ["x", "w"], ["y"])], "g",
                 [h.make_tensor_value_info("x", T.FLOAT, [1, 4])],
                 [h.make_tensor_value_info("y", T.FLOAT, [1, 3])],
                 initializer=[nh.from_array(w, "w")])
m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
m.ir_version = 8
save(m, sys.argv[1] + "/fixed.onnx")
x = rng.normal(0, 1, (5, 4)).astype(np.float32)
np.save(sys.argv[1] + "/x.npy", x)
np.save(sys.argv[1] + "/want.npy", x @ w)
np.save(sys.argv[1] + "/w.npy", w)
PY
	run cbd-run --tensors "$D" "$D/fixed.onnx" "$D/x.npy"
	[ "$status" -eq 0 ]
	$PY -c "
import numpy as np
y, w = np.load('$D/output_0.npy'), np.load('$D/want.npy')
assert y.shape == (5, 3) and np.allclose(y, w, rtol=1e-5, atol=1e-6), y"
	run cbd-run --batch 4 --json "$D/fixed.onnx" "$D/x.npy"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '"scores"')" -eq 5 ]
	cd "$D"
	start_server --model-name fixed fixed.onnx
	curl -sf "$URL/v2/models/fixed" -o m.json || { stop_server; false; }
	printf '{"inputs":[{"name":"x","shape":[2,4],"datatype":"FP32","data":[1,0,0,0,0,1,0,0]}]}' >req.json
	code=$(curl -s -o ans.json -w '%{http_code}' -d @req.json "$URL/v2/models/fixed/infer")
	stop_server
	$PY -c "
import json
j = json.load(open('m.json'))
assert j['inputs'][0]['shape'] == [1, 4] and j['outputs'][0]['shape'] == [1, 3], j"
	[ "$code" = 200 ]
	$PY -c "
import json, numpy as np
a = json.load(open('ans.json'))['outputs'][0]
w = np.load('w.npy')   # unit-vector inputs: the answers are rows of w
assert a['shape'] == [2, 3], a
assert np.allclose(np.array(a['data']).reshape(2, 3), w[:2], rtol=1e-5, atol=1e-6), (a, w)"
}

@test "bad control flow and types: one-line errors naming the node, exit 65; the compute limit bounds Loop iterations" {
	$PY - "$D" <<'PY'
import sys, numpy as np
from onnx import TensorProto as T, helper as h, numpy_helper as nh, save
vi = h.make_tensor_value_info
def save_m(name, nodes, ins, outs, inits=()):
    m = h.make_model(h.make_graph(nodes, "g", ins, outs, initializer=list(inits)),
                     opset_imports=[h.make_opsetid("", 18)])
    m.ir_version = 8
    save(m, sys.argv[1] + "/" + name + ".onnx")
c = lambda nm, v: h.make_node("Constant", [], [nm], value=nh.from_array(np.array(v), nm))
# If branches of different declared types
t = h.make_graph([c("a", np.int64(1))], "t", [], [vi("a", T.INT64, [])])
e = h.make_graph([c("b", np.float32(1))], "e", [], [vi("b", T.FLOAT, [])])
save_m("if_types", [h.make_node("If", ["f"], ["y"], then_branch=t, else_branch=e)],
       [vi("f", T.BOOL, [])], [vi("y", T.INT64, [])])
# If branches with different output counts
e2 = h.make_graph([c("b", np.int64(1)), c("b2", np.int64(2))], "e", [],
                  [vi("b", T.INT64, []), vi("b2", T.INT64, [])])
save_m("if_count", [h.make_node("If", ["f"], ["y"], then_branch=t, else_branch=e2)],
       [vi("f", T.BOOL, [])], [vi("y", T.INT64, [])])
# a branch declaring int64 that computes float32
e3 = h.make_graph([c("b", np.float32(1))], "e", [], [vi("b", T.INT64, [])])
save_m("if_confused", [h.make_node("If", ["f"], ["y"], then_branch=t, else_branch=e3)],
       [vi("f", T.BOOL, [])], [vi("y", T.INT64, [])])
# Loop with a huge trip count and an empty body
body = h.make_graph([h.make_node("Identity", ["c"], ["co"]),
                     h.make_node("Identity", ["s"], ["so"])], "b",
                    [vi("i", T.INT64, []), vi("c", T.BOOL, []), vi("s", T.INT64, [])],
                    [vi("co", T.BOOL, []), vi("so", T.INT64, [])])
save_m("loop_huge", [h.make_node("Loop", ["M", "", "s0"], ["y"], body=body)],
       [vi("s0", T.INT64, [])], [vi("y", T.INT64, [])],
       [nh.from_array(np.array(2**62, dtype=np.int64), "M")])
# operands of different types
save_m("add_types", [h.make_node("Add", ["a", "b"], ["y"])],
       [vi("a", T.INT64, [2]), vi("b", T.FLOAT, [2])], [vi("y", T.INT64, [2])])
np.save(sys.argv[1] + "/t.npy", np.array(True))
np.save(sys.argv[1] + "/f.npy", np.array(False))
np.save(sys.argv[1] + "/s.npy", np.array(3, dtype=np.int64))
np.save(sys.argv[1] + "/i2.npy", np.array([1, 2], dtype=np.int64))
np.save(sys.argv[1] + "/f2.npy", np.array([1, 2], dtype=np.float32))
PY
	check() { # model expected-text inputs...
		m=$1 want=$2
		shift 2
		run env CBD_MAX_GMAC=0.01 cbd-run --tensors "$D/o" "$D/$m.onnx" "$@"
		echo "$m: $output"
		[ "$status" -eq 65 ]
		[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
		[[ "$output" == "cbd-run: error: "*"$want"* ]]
	}
	check if_types "branches disagree on output 0: int64 in then_branch, float32 in else_branch (node y, If)" "$D/t.npy"
	check if_count "then_branch gives 1 outputs, else_branch 2" "$D/t.npy"
	check if_confused "subgraph output 0 (b) is float32, declared int64 (node y, If)" "$D/f.npy"
	check loop_huge "exceed the compute limit of 10000000 multiply-adds" "$D/s.npy"
	check add_types "operand types differ (int64, float32) (node y, Add)" "$D/i2.npy" "$D/f2.npy"
	# the branch that is well typed runs
	run cbd-run --tensors "$D" "$D/if_confused.onnx" "$D/t.npy"
	[ "$status" -eq 0 ]
}
