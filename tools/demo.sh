#!/bin/sh
# demo.sh — `make demo`: the bundled investigation on the MNIST classifier.
# (Grows into the full watermark / trace / auth walkthrough as the tools land.)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
PATH="$BUILD/bin:$PATH"
cd "$top"
step() { printf '\n$ %s\n' "$*"; "$@"; }
step cbd-run --quiet --labels models/mnist-heldout-labels.npy \
	models/mnist-cnn.onnx models/mnist-heldout-images.npy
