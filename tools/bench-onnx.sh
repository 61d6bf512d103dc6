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
	for i in $(seq 1 $nk); do cbd-keygen user "u$i" -k "k$nk/users.json" -d "k$nk" >/dev/null; done
	cbd-embed "$top/models/mnist-cnn.onnx" -m auth -k owner.key -r "k$nk/users.json" -f onnx -o "auth$nk.onnx" >/dev/null
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
