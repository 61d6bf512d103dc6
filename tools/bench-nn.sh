#!/bin/sh
# bench-nn.sh — the ONNX engine against ONNX Runtime, in one run.
#
# For the bundled MNIST CNN and full-size torchvision classifiers at
# 3x224x224 (random weights; `make bench-models` writes them to
# models/bench/, git-ignored: ResNet-18, MobileNetV2, EfficientNet-B0,
# MobileNetV3-Small, ConvNeXt-T, Swin-T, a ViT-S/16, RegNetY-400MF) it
# measures
#   latency     batch 1, best of several runs, ms per inference
#   throughput  batch 32, best of a few runs, samples per second
# with 1 and 2 threads, for libcbd (build/tests/onnx_conformance --bench)
# and for ONNX Runtime (npm onnxruntime-node, installed --ignore-scripts into
# build/ort), and prints a Markdown table with the ratio cbd/ORT of the
# times (below 1 = cbd faster).  The first run of each configuration is a
# warm-up (oneDNN primitive creation) and is not counted.
# The table is also left in build/bench-nn.md (docs/bench.md records one).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${CBD_BUILD:-${BUILD:-$top/build}}
case "$BUILD" in /*) ;; *) BUILD="$top/$BUILD" ;; esac
h="$BUILD/tests/onnx_conformance"
ortdir="$top/build/ort"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -x "$h" ] || { echo "bench-nn: build the test helpers first (make all-tests)" >&2; exit 1; }
if [ ! -f "$top/models/bench/regnet_y_400mf.onnx" ]; then
	make -C "$top" --no-print-directory bench-models >/dev/null 2>&1 ||
		echo "bench-nn: no models/bench/regnet_y_400mf.onnx (needs python3-torchvision); what is there" >&2
fi
if [ ! -d "$ortdir/node_modules/onnxruntime-node" ] && command -v npm >/dev/null; then
	mkdir -p "$ortdir"
	(cd "$ortdir" && npm install --ignore-scripts --no-audit --no-fund \
		onnxruntime-node >/dev/null 2>&1)
fi
ort=0
[ -d "$ortdir/node_modules/onnxruntime-node" ] && command -v node >/dev/null && ort=1

cat >"$tmp/ort.js" <<'JS'
// node ort.js MODEL BATCH THREADS ITERS C H W -> "ms_per_batch ms_per_sample"
const ort = require('onnxruntime-node');
(async () => {
	const a = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
	const [model, b, th, it] = a;
	const shape = [b, a[4], a[5], a[6]];
	const n = shape.reduce((x, y) => x * y, 1);
	const d = new Float32Array(n);
	for (let i = 0; i < n; i++) d[i] = Math.sin(i) * 0.5 + 0.5;
	const s = await ort.InferenceSession.create(model, {
		intraOpNumThreads: th, interOpNumThreads: 1,
		graphOptimizationLevel: 'all' });
	const feeds = { [s.inputNames[0]]: new ort.Tensor('float32', d, shape) };
	let best = 1e30;
	for (let i = 0; i <= it; i++) {
		const t0 = process.hrtime.bigint();
		await s.run(feeds);
		const t = Number(process.hrtime.bigint() - t0) / 1e6;
		if (i > 0 && t < best) best = t;
	}
	console.log(best.toFixed(3) + ' ' + (best / b).toFixed(3));
})().catch((e) => { console.error(e.message); process.exit(1); });
JS

# model input chw iters1 iters32
set -- "mnist-cnn|$top/models/mnist-cnn.onnx|$top/models/mnist-heldout-images.npy|1 28 28|50|20"
# the torchvision classifiers make bench-models writes, where present
for name in resnet18 mobilenetv2 efficientnet_b0 mobilenet_v3_small \
	convnext_tiny swin_t vit_s_16 regnet_y_400mf; do
	b="$top/models/bench/$name"
	[ -f "$b.onnx" ] && [ -f "$b-input.npy" ] &&
		set -- "$@" "$name|$b.onnx|$b-input.npy|3 224 224|10|3"
done

out="$tmp/table.md"
{
	echo "| model | threads | batch | cbd ms/batch | ORT ms/batch | cbd samples/s | ORT samples/s | time ratio cbd/ORT |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
} >"$out"
for spec in "$@"; do
	IFS='|' read -r name model input chw it1 it32 <<EOF2
$spec
EOF2
	for th in 1 2; do
		for b in 1 32; do
			it=$it1
			[ "$b" -eq 32 ] && it=$it32
			c=$("$h" --bench "$model" "$input" "$b" "$th" "$it" | cut -d' ' -f1)
			o=-
			[ $ort -eq 1 ] && o=$(NODE_PATH="$ortdir/node_modules" node "$tmp/ort.js" \
				"$model" "$b" "$th" "$it" $chw | cut -d' ' -f1)
			awk -v n="$name" -v t="$th" -v b="$b" -v c="$c" -v o="$o" 'BEGIN {
				r = (o == "-") ? "-" : sprintf("%.2f", c / o);
				os = (o == "-") ? "-" : sprintf("%.1f", 1000 * b / o);
				printf "| %s | %d | %d | %.3f | %s | %.1f | %s | %s |\n",
					n, t, b, c, o, 1000 * b / c, os, r }' >>"$out"
		done
	done
done
# the full-size models must also agree with ONNX Runtime
if [ $ort -eq 1 ]; then
	for spec in "$@"; do
		IFS='|' read -r name model input chw it1 it32 <<EOF2
$spec
EOF2
		[ "$name" = mnist-cnn ] && continue
		NODE_PATH="$ortdir/node_modules" node "$top/tools/golden.js" \
			"$model" "$input" "$tmp/$name-golden.npy" 2 >/dev/null &&
			"$h" --golden 1 "$name" "$model" "$input" \
				"$tmp/$name-golden.npy" | sed 's/^ok 1 - /agreement: /'
	done
fi
cat "$out"
# kept for docs/bench.md
cp "$out" "$BUILD/bench-nn.md" 2>/dev/null || true
