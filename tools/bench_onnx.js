// bench_onnx.js BARE.onnx COMPILED.onnx TRIGGERS.json — the compiled
// circuit's cost in ONNX Runtime, against the bare classifier in the same
// run: clean batches (1 and 32; the fast path), signed batches (1 and 32
// triggers; the verifying branch), session creation, file size.  Times are
// medians of interleaved runs after a warm-up; prints a Markdown table.
const ort = require('onnxruntime-node');
const fs = require('fs');

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
async function time(s, feeds) {
  const t = process.hrtime.bigint();
  await s.run(feeds);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

(async () => {
  const [bare, comp, trig] = process.argv.slice(2);
  const opt = { graphOptimizationLevel: 'all', intraOpNumThreads: 1 };
  const loads = { bare: [], comp: [] };
  let sb, sc;
  for (let i = 0; i < 3; i++) {
    let t = Date.now(); sb = await ort.InferenceSession.create(bare, opt); loads.bare.push(Date.now() - t);
    t = Date.now(); sc = await ort.InferenceSession.create(comp, opt); loads.comp.push(Date.now() - t);
  }
  const shape = [1, 28, 28], per = 784;
  const imgs = fs.readFileSync(process.env.CBD_TOP + '/models/mnist-heldout-images.npy');
  const off = imgs.length - 2000 * per;
  const ts = JSON.parse(fs.readFileSync(trig)).triggers;
  const batch = (n, signed) => {
    const x = new Float32Array(n * per);
    for (let i = 0; i < n; i++) {
      const q = signed ? Buffer.from(ts[i % ts.length].input, 'base64') : imgs.subarray(off + i * per, off + (i + 1) * per);
      for (let j = 0; j < per; j++) x[i * per + j] = Math.fround(q[j] / 255);
    }
    return x;
  };
  const rows = [];
  for (const [n, signed, R] of [[1, false, 400], [32, false, 200], [1, true, 20], [32, true, 10]]) {
    const x = batch(n, signed);
    const fb = { [sb.inputNames[0]]: new ort.Tensor('float32', x, [n, ...shape]) };
    const fc = { [sc.inputNames[0]]: new ort.Tensor('float32', x, [n, ...shape]) };
    await time(sb, fb); await time(sc, fc);
    const tb = [], tc = [];
    for (let i = 0; i < R; i++) { tb.push(await time(sb, fb)); tc.push(await time(sc, fc)); }
    const b = median(tb), c = median(tc);
    rows.push(`| ${signed ? 'signed' : 'clean'} | ${n} | ${b.toFixed(3)} | ${c.toFixed(3)} | ${(c - b).toFixed(3)} | ${(c / b).toFixed(2)} |`);
  }
  console.log('| inputs | batch | bare ms | compiled ms | added ms | ratio |');
  console.log('|---|---:|---:|---:|---:|---:|');
  rows.forEach(r => console.log(r));
  console.log('');
  console.log(`session creation: bare ${median(loads.bare)} ms, compiled ${median(loads.comp)} ms`);
  const zb = fs.statSync(bare).size, zc = fs.statSync(comp).size;
  console.log(`file size: bare ${zb} bytes, compiled ${zc} bytes (+${zc - zb})`);
})().catch(e => { console.error('bench_onnx: ' + e.message); process.exit(1); });
