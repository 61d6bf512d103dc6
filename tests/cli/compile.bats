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
