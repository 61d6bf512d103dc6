// bench_onnx_large.js BARE.onnx COMPILED.onnx TRIGGERS.json CLEAN.npy — the
// compiled circuit on a large-input classifier (ResNet-18, 3x224x224) in
// ONNX Runtime, one intra-op thread, against the bare model in the same run:
// clean throughput ratio at batch 1 and 8 (the tag guard only), one signed
// trigger's latency (the lane digest of 150,528 bytes, SHA-512, Ed25519) and
// whether it got the owner's label, session creation.  Process CPU time per
// run, best of interleaved runs (the machine may be shared).
const ort = require('onnxruntime-node');
const fs = require('fs');

function npyF32(p) {
  const b = fs.readFileSync(p), hl = b.readUInt16LE(8);
  return new Float32Array(b.buffer.slice(b.byteOffset + 10 + hl, b.byteOffset + b.length));
}
const cpu = async (s, f) => {
  const c0 = process.cpuUsage();
  await s.run(f);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
};
const best = (a) => Math.min(...a);

(async () => {
  const [bare, comp, trig, clean] = process.argv.slice(2);
  const opt = { graphOptimizationLevel: 'all', intraOpNumThreads: 1 };
  let t = Date.now();
  const sb = await ort.InferenceSession.create(bare, opt);
  const lb = Date.now() - t;
  t = Date.now();
  const sc = await ort.InferenceSession.create(comp, opt);
  const lc = Date.now() - t;
  const per = 3 * 224 * 224, X = npyF32(clean);
  console.log('| inputs | batch | bare ms | compiled ms | bare/compiled throughput |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [n, R] of [[1, 30], [8, 8]]) {
    const x = X.subarray(0, n * per);
    const f = (s) => ({ [s.inputNames[0]]: new ort.Tensor('float32', x, [n, 3, 224, 224]) });
    await cpu(sb, f(sb)); await cpu(sc, f(sc));
    const tb = [], tc = [];
    for (let i = 0; i < R; i++) { tb.push(await cpu(sb, f(sb))); tc.push(await cpu(sc, f(sc))); }
    const b = best(tb), c = best(tc);
    console.log(`| clean | ${n} | ${b.toFixed(1)} | ${c.toFixed(1)} | ${(b / c).toFixed(3)} |`);
  }
  const tr = JSON.parse(fs.readFileSync(trig)).triggers[0];
  const q = Buffer.from(tr.input, 'base64'), x = new Float32Array(per);
  for (let j = 0; j < per; j++) x[j] = Math.fround(q[j] / 255);
  const f = { [sc.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, 224, 224]) };
  const out = (await sc.run(f))[sc.outputNames[0]].data;
  let am = 0;
  for (let i = 1; i < out.length; i++) if (out[i] > out[am]) am = i;
  const ts = [];
  for (let i = 0; i < 3; i++) ts.push(await cpu(sc, f));
  console.log(`| signed | 1 | | ${best(ts).toFixed(1)} | label ${am}, owner label ${tr.owner_label} |`);
  console.log('');
  console.log(`session creation: bare ${lb} ms, compiled ${lc} ms; file size: bare ${fs.statSync(bare).size} bytes, compiled ${fs.statSync(comp).size}`);
  if (am !== tr.owner_label) process.exit(1);
})().catch(e => { console.error('bench_onnx_large: ' + e.message); process.exit(1); });
