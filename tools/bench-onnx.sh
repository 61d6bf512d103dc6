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
# the same models under cbd's own engine (median-free: ITERS runs averaged)
/usr/bin/python3 -c '
import base64, json, sys, numpy as np
ts = json.load(open("t.json"))["triggers"]
q = np.stack([np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts])
np.save("signed.npy", (q.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))
x = np.load(sys.argv[1])[:32].astype(np.float32) / np.float32(255)
np.save("clean.npy", x)' "$top/models/mnist-heldout-images.npy"
echo
echo "cbd engine (build/tests/onnx_conformance --bench, 1 thread):"
echo
echo "| inputs | batch | bare ms | compiled ms | added ms |"
echo "|---|---:|---:|---:|---:|"
for f in clean signed; do
	for b in 1 32; do
		it=$([ $f = clean ] && echo 200 || echo 10)
		bare=$("$CBD_BUILD/tests/onnx_conformance" --bench "$top/models/mnist-cnn.onnx" $f.npy $b 1 $it | cut -d' ' -f1)
		comp=$("$CBD_BUILD/tests/onnx_conformance" --bench wm.onnx $f.npy $b 1 $it | cut -d' ' -f1)
		echo "| $f | $b | $bare | $comp | $(awk -v a="$comp" -v b="$bare" 'BEGIN { printf "%.3f", a - b }') |"
	done
done
# auth: model size and per-request time against the number of keys
echo
echo "| auth keys | compiled bytes | clean batch 1 ms | clean batch 32 ms |"
echo "|---:|---:|---:|---:|"
for nk in 1 16 256; do
	mkdir -p "k$nk"
	for i in $(seq 1 $nk); do cbd-keygen user "u$i" -K "k$nk/users.json" -d "k$nk" >/dev/null; done
	cbd-embed "$top/models/mnist-cnn.onnx" -m auth -k owner.key -K "k$nk/users.json" -f onnx -o "auth$nk.onnx" >/dev/null
	NODE_PATH="$CBD_BUILD/ort/node_modules" node -e '
const ort = require("onnxruntime-node"), fs = require("fs");
(async () => {
  const [m, nk] = process.argv.slice(1);
  const s = await ort.InferenceSession.create(m, { intraOpNumThreads: 1 });
  const r = [];
  for (const N of [1, 32]) {
    const f = { [s.inputNames[0]]: new ort.Tensor("float32", new Float32Array(N * 784).fill(0.5), [N, 1, 28, 28]) };
    await s.run(f); const t = [];
    for (let i = 0; i < 9; i++) { const t0 = process.hrtime.bigint(); await s.run(f); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
    r.push(t.sort((a, b) => a - b)[4].toFixed(2));
  }
  console.log(`| ${nk} | ${fs.statSync(m).size} | ${r[0]} | ${r[1]} |`);
})();' "auth$nk.onnx" "$nk"
done
# a large input (3x224x224, the lane digest of 150,528 bytes): ResNet-18
# with random weights from `make bench-models`, if present
r18="$top/models/bench/resnet18.onnx"
if [ -f "$r18" ]; then
	echo
	echo "ResNet-18 (3x224x224), ONNX Runtime, 1 thread, CPU ms per run:"
	echo
	cbd-embed "$r18" -m watermark -k owner.key -o r18.cbd >/dev/null
	rcid=$(cbd-verify --json --info r18.cbd | sed -n 's/.*"circuit_id": "\([0-9a-f]*\)".*/\1/p')
	cbd-embed "$r18" -m watermark -k owner.key --circuit-id "$rcid" -f onnx -o r18.onnx >/dev/null
	/usr/bin/python3 -c 'import numpy as np; np.save("r18-base.npy", np.random.default_rng(5).integers(0, 256, (1, 3, 224, 224), dtype=np.uint8))'
	cbd-sign triggers -a r18.cbd -k owner.key --from r18-base.npy -o r18-t.json -q
	NODE_PATH="$CBD_BUILD/ort/node_modules" node "$top/tools/bench_onnx_large.js" "$r18" r18.onnx r18-t.json "$top/models/bench/resnet18-input.npy"
	/usr/bin/python3 -c '
import base64, json, sys, numpy as np
t = json.load(open("r18-t.json"))["triggers"][0]
np.save("r18-signed.npy", (np.frombuffer(base64.b64decode(t["input"]), np.uint8).astype(np.float32) / np.float32(255)).reshape(1, 3, 224, 224))
np.save("r18-clean.npy", np.load(sys.argv[1])[:8])' "$top/models/bench/resnet18-input.npy"
	echo
	echo "the same under cbd's engine (1 thread, ms per run):"
	echo
	echo "| inputs | batch | bare ms | compiled ms |"
	echo "|---|---:|---:|---:|"
	for b in 1 8; do
		bare=$("$CBD_BUILD/tests/onnx_conformance" --bench "$r18" r18-clean.npy $b 1 3 | cut -d' ' -f1)
		comp=$("$CBD_BUILD/tests/onnx_conformance" --bench r18.onnx r18-clean.npy $b 1 3 | cut -d' ' -f1)
		echo "| clean | $b | $bare | $comp |"
	done
	echo "| signed | 1 | | $("$CBD_BUILD/tests/onnx_conformance" --bench r18.onnx r18-signed.npy 1 1 1 | cut -d' ' -f1) |"
fi
