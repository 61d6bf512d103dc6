#!/bin/sh
# bench-onnx.sh — the circuit compiled into ONNX (cbd-embed --format onnx)
# against the bare MNIST classifier, both in ONNX Runtime, in one run
# (tools/bench_onnx.js); docs/bench.md has the measured table.
set -eu
top=${CBD_TOP:?}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
cd "$d"
cbd-keygen owner >/dev/null
cbd-embed "$top/models/mnist-cnn.onnx" -m watermark -k owner.key -o wm.cbd -q 2>/dev/null ||
	cbd-embed "$top/models/mnist-cnn.onnx" -m watermark -k owner.key -o wm.cbd >/dev/null
cid=$(cbd-verify --json --info wm.cbd | sed -n 's/.*"circuit_id": "\([0-9a-f]*\)".*/\1/p')
cbd-embed "$top/models/mnist-cnn.onnx" -m watermark -k owner.key --circuit-id "$cid" -f onnx -o wm.onnx >/dev/null
cbd-sign triggers -a wm.cbd -k owner.key --from "$top/models/mnist-heldout-images.npy" -n 32 -o t.json -q
NODE_PATH="$CBD_BUILD/ort/node_modules" node "$top/tools/bench_onnx.js" "$top/models/mnist-cnn.onnx" wm.onnx t.json
