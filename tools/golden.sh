#!/bin/sh
# golden.sh — regenerate the ONNX Runtime golden outputs under models/test/
# (`make golden`).  Needs node and npm; onnxruntime-node is installed with
# --ignore-scripts (its native binary is bundled) into build/ort, which is
# git-ignored.  make check only reads the committed NPY files.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
ort="$top/build/ort"
if [ ! -d "$ort/node_modules/onnxruntime-node" ]; then
	mkdir -p "$ort"
	(cd "$ort" && npm install --ignore-scripts --no-audit --no-fund \
		onnxruntime-node >/dev/null)
fi
export NODE_PATH="$ort/node_modules"
t="$top/models/test"
node "$top/tools/golden.js" "$top/models/mnist-cnn.onnx" \
	"$top/models/mnist-heldout-images.npy" "$t/mnist-cnn-golden.npy" 64
for m in resnet-block mobilenet-block; do
	node "$top/tools/golden.js" "$t/$m.onnx" "$t/$m-input.npy" \
		"$t/$m-golden.npy"
done
