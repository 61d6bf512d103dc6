// bench_onnx_ab.js A.onnx B.onnx TRIGGERS.json [RUNS]
// bench_onnx_ab.js A.onnx B.onnx --bytes LEN WIDE [RUNS [BATCH...]]
// Two models of the same interface timed in one ONNX Runtime process, runs
// alternating (A, B, A, B, ...), one intra-op thread, so that load from
// other jobs falls on both alike: compiled circuits on batches of 1 and 32
// signed triggers (TRIGGERS.json from cbd-sign triggers), or og_sha models
// (tests/helpers/og_sha.c) on 1 and 32 rows of LEN byte values (WIDE 1:
// uint64 input, SHA-512), or on the batch sizes given.  Prints medians and
// minima in ms and whether the two outputs are bit-identical.
const ort = require('onnxruntime-node');
const fs = require('fs');

const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
async function time(s, f) {
  const t = process.hrtime.bigint();
  const o = await s.run(f);
  return [Number(process.hrtime.bigint() - t) / 1e6, o];
}

(async () => {
  const [ma, mb, src] = process.argv.slice(2, 5);
  const bytes = src === '--bytes';
  const [len, wide] = bytes ? process.argv.slice(5, 7).map(Number) : [784, 0];
  const R = +(process.argv[bytes ? 7 : 5] || 21);
  const batches = bytes && process.argv.length > 8 ? process.argv.slice(8).map(Number) : [1, 32];
  const opt = { graphOptimizationLevel: 'all', intraOpNumThreads: 1 };
  const sa = await ort.InferenceSession.create(ma, opt);
  const sb = await ort.InferenceSession.create(mb, opt);
  const ts = bytes ? null : JSON.parse(fs.readFileSync(src)).triggers;
  const feed = (s, n) => {
    if (bytes) {
      const d = wide ? new BigUint64Array(n * len) : new Uint32Array(n * len);
      for (let i = 0; i < n * len; i++) d[i] = wide ? BigInt(i * 37 & 255) : i * 37 & 255;
      return { [s.inputNames[0]]: new ort.Tensor(wide ? 'uint64' : 'uint32', d, [n, len]) };
    }
    const x = new Float32Array(n * 784);
    for (let i = 0; i < n; i++) {
      const q = Buffer.from(ts[i % ts.length].input, 'base64');
      for (let j = 0; j < 784; j++) x[i * 784 + j] = Math.fround(q[j] / 255);
    }
    return { [s.inputNames[0]]: new ort.Tensor('float32', x, [n, 1, 28, 28]) };
  };
  for (const n of batches) {
    const fa = feed(sa, n), fb = feed(sb, n);
    const oa = (await time(sa, fa))[1][sa.outputNames[0]].data;
    const ob = (await time(sb, fb))[1][sb.outputNames[0]].data;
    let same = oa.length === ob.length;
    for (let i = 0; same && i < oa.length; i++) same = Object.is(oa[i], ob[i]);
    const ta = [], tb = [];
    for (let i = 0; i < R; i++) {
      ta.push((await time(sa, fa))[0]);
      tb.push((await time(sb, fb))[0]);
    }
    console.log(`batch ${n}: A ${med(ta).toFixed(2)} ms (min ${Math.min(...ta).toFixed(2)}), ` +
                `B ${med(tb).toFixed(2)} ms (min ${Math.min(...tb).toFixed(2)}), outputs ${same ? 'identical' : 'DIFFER'}`);
  }
})().catch((e) => { console.log('error: ' + e.message); process.exit(2); });
