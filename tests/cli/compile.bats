#!/usr/bin/env bats
# compile.bats — the circuit compiler's graph fragments (lib/compile/) run in
# ONNX Runtime, the independent runtime, and agree with an independent
# implementation (node's crypto, i.e. OpenSSL) on random messages.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	use_ort
}

sha_case() { # len wide prefixlen [rows]
	"$CBD_BUILD/tests/og_sha" "$1" "$2" "$3" m.onnx
	run node "$CBD_TOP/tests/helpers/ort_sha.js" m.onnx "$1" "$2" "$3" ${4:-}
	echo "len $1 wide $2 prefix $3 rows ${4:-8}: $output"
	[ "$status" -eq 0 ]
	[ "$output" = match ]
}

@test "compile: SHA-256 graph = SHA-256 at every padding boundary and over a whole MNIST sample" {
	for len in 1 55 56 63 64 65 119 120 784; do sha_case $len 0 0; done
}

@test "compile: SHA-256 graph after a constant 64-byte prefix (the HMAC pads)" {
	sha_case 57 0 64
	sha_case 32 0 64
}

@test "compile: SHA-512 graph = SHA-512 at its padding boundaries and for R || A || m (121 bytes)" {
	for len in 1 111 112 121 128 240; do sha_case $len 1 0; done
}

# A carry that ripples through more than one limb (a limb sum's low 16 bits
# all ones when the carry arrives) comes a few times in a hundred digests:
# one batch of 512 rows, runs of 0xff among them, sees it whichever limb the
# chain drops, and catches a float rounding that spoils 1 digest in 2,000.
@test "compile: SHA-512 and SHA-256 graphs on one batch of 512 rows (carry chains across limbs)" {
	sha_case 121 1 0 512
	sha_case 240 1 0 512
	sha_case 120 0 0 512
}

@test "compile: Ed25519 graph accepts exactly what OpenSSL accepts (valid signatures and 8 kinds of forgery)" {
	run node "$CBD_TOP/tests/helpers/ort_ed25519.js" "$CBD_BUILD/tests/og_ed25519" .
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "match 24 valid, 24 invalid"* ]]
}

@test "compile: Ed25519 keys the fixed-base tables cannot serve are refused" {
	og="$CBD_BUILD/tests/og_ed25519"
	# the identity (y = 1), a point of order 4 (y = 0), y >= p, off the curve (y = 2)
	run "$og" 0100000000000000000000000000000000000000000000000000000000000000
	[ "$status" -eq 65 ]; [[ "$output" == *"not of prime order L"* ]]
	run "$og" 0000000000000000000000000000000000000000000000000000000000000000
	[ "$status" -eq 65 ]; [[ "$output" == *"not of prime order L"* ]]
	run "$og" edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f
	[ "$status" -eq 65 ]; [[ "$output" == *"non-canonical"* ]]
	run "$og" 0200000000000000000000000000000000000000000000000000000000000000
	[ "$status" -eq 65 ]; [[ "$output" == *"not a point of the curve"* ]]
	# a real key (RFC 8032 test 1) passes; with a small-order point added it is refused
	run "$og" d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a
	[ "$status" -eq 0 ]
	run "$og" 40c7570f4dd54835b9131184410ed4a0cc93e7d9ad053cbc6d07a62426999582
	[ "$status" -eq 65 ]; [[ "$output" == *"not of prime order L"* ]]
}

@test "compile: several-key Ed25519 graph (auth circuits) accepts exactly what OpenSSL accepts under the named key" {
	run node "$CBD_TOP/tests/helpers/ort_ed25519_keys.js" "$CBD_BUILD/tests/og_ed25519" .
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "match 18 valid, 18 invalid"* ]]
}

# onnx_check F...: Debian's onnx (1.12: opsets up to 17, no Bitwise*) runs
# its full checker (with strict shape inference) on each model.
onnx_check() {
	$PY - "$@" <<'PY'
import sys
import onnx
for f in sys.argv[1:]:
    m = onnx.load(f)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:  # noqa: BLE001 - report whatever the checker says
        print(f"{f}: {str(e).splitlines()[0]}")
        sys.exit(1)
    print(f"{f}: ok opset {m.opset_import[0].version}")
PY
}

@test "compile: the SHA and Ed25519 graphs pass Debian's onnx 1.12 checker (opset 17); an opset-18 operator does not" {
	need_py onnx python3-onnx
	"$CBD_BUILD/tests/og_sha" 784 0 0 s256.onnx
	"$CBD_BUILD/tests/og_sha" 57 0 64 hmac.onnx
	"$CBD_BUILD/tests/og_sha" 121 1 0 s512.onnx
	"$CBD_BUILD/tests/og_ed25519" d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a ed.onnx
	run onnx_check s256.onnx hmac.onnx s512.onnx ed.onnx
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c ': ok opset 17$' <<<"$output")" -eq 4 ]
	# the checker is not lenient: a BitwiseXor (opset 18) in the Loop body of
	# the same model is refused
	$PY - s256.onnx bad.onnx <<'PY'
import sys
import onnx
m = onnx.load(sys.argv[1])
body = [n for n in m.graph.node if n.op_type == "Loop"][0].attribute[0].g
add = [n for n in body.node if n.op_type == "Add"][0]
add.op_type = "BitwiseXor"
onnx.save(m, sys.argv[2])
PY
	run onnx_check bad.onnx
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *BitwiseXor* ]]
}

@test "compile: cbd-embed -f onnx of mnist-cnn writes an opset-17 model that check_compiled.py (onnx 1.12 full check) accepts" {
	need_py onnx python3-onnx
	owner_key
	run cbd-embed "$MODEL" -m watermark -k owner.key -f onnx
	echo "$output"
	[ "$status" -eq 0 ]
	run $PY "$CBD_TOP/tests/helpers/check_compiled.py" mnist-cnn-watermark.onnx "$MODEL"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == ok* ]]
	run onnx_check mnist-cnn-watermark.onnx
	echo "$output"
	[[ "$output" == *"ok opset 17" ]]
}
