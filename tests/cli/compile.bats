#!/usr/bin/env bats
# compile.bats — the circuit compiler's graph fragments (lib/compile/) run in
# ONNX Runtime, the independent runtime, and agree with an independent
# implementation (node's crypto, i.e. OpenSSL) on random messages.
load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	need_ort
	export NODE_PATH="$CBD_TOP/build/ort/node_modules"
}

sha_case() { # len wide prefixlen
	"$CBD_BUILD/tests/og_sha" "$1" "$2" "$3" m.onnx
	run node "$CBD_TOP/tests/helpers/ort_sha.js" m.onnx "$1" "$2" "$3"
	echo "len $1 wide $2 prefix $3: $output"
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
