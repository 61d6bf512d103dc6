#!/usr/bin/env bats
# deps.bats — everything the tests, the demo and the benchmarks call is
# installed by `make deps` (issue 15).  Each check names the package to add
# to tools/debian-packages.txt when it fails.
load helpers

@test "deps: the commands the suites call are installed" {
	need bats bats
	need openssl openssl
	need curl curl
	need jq jq
	need pdftoppm poppler-utils
	need mandoc mandoc
	need groff groff-base
	need clang clang
	need valgrind valgrind
	need wrk wrk
	need node nodejs
	need npm npm
	[ -x /usr/bin/time ] || { echo "missing /usr/bin/time: Debian package time" >&2; false; }
	[ -x /usr/bin/python3 ] || { echo "missing /usr/bin/python3: Debian package python3" >&2; false; }
}

@test "deps: the python3 modules the helpers import are installed" {
	need_py numpy python3-numpy
	need_py cryptography python3-cryptography
	need_py jsonschema python3-jsonschema
	# libonnx-testdata installs an onnx/ folder of data that makes a bare
	# `import onnx` half-work: ask for what the tests use
	need_py "onnx.numpy_helper, onnx.checker" python3-onnx
}

@test "deps: ONNX Runtime (npm onnxruntime-node) loads in node" {
	need_ort
	run env NODE_PATH="$ORT_MODULES" node -e "
	  const ort = require('onnxruntime-node');
	  ort.InferenceSession.create('$MODEL').then(s => console.log(s.inputNames.length + ' ' + s.outputNames.length));"
	[ "$status" -eq 0 ]
	[ "$output" = "1 1" ]
}

@test "deps: the ONNX project's node tests are installed" {
	[ -d /usr/share/libonnx-testdata/data/node ] || { echo "missing libonnx-testdata" >&2; false; }
}
