// ort_sha.js MODEL LEN WIDE PREFIXLEN [ROWS] — runs a model written by
// og_sha in ONNX Runtime on one batch of ROWS (default 8) rows of LEN bytes
// and compares every digest with node's own crypto (OpenSSL); prints
// "match" or the first difference, exits 1 on a difference.  Rows cycle
// through all 0xff, all 0x00, runs of 0xff between random bytes (words of
// ones make the limb sums' carries ripple) and random bytes.
const ort = require('onnxruntime-node');
const crypto = require('crypto');
(async () => {
  const [model, len, wide, plen, rows_] = [process.argv[2], ...process.argv.slice(3).map(Number)];
  const s = await ort.InferenceSession.create(model);
  const N = rows_ || 8, dl = wide ? 64 : 32;
  const data = wide ? new BigUint64Array(N * len) : new Uint32Array(N * len);
  const pre = Buffer.alloc(plen);
  for (let i = 0; i < plen; i++) pre[i] = (i * 7 + 1) & 255;
  const rows = [];
  for (let i = 0; i < N; i++) {
    const b = crypto.randomBytes(len);
    if (i % 8 === 0) b.fill(0xff);
    else if (i % 8 === 1) b.fill(0);
    else if (i % 8 === 2)
      for (let j = 0; j < len; j += 1 + (b[j] & 15))
        if (b[j] & 1) b.fill(0xff, j, Math.min(len, j + 1 + (b[j] & 15)));
    for (let j = 0; j < len; j++) data[i * len + j] = wide ? BigInt(b[j]) : b[j];
    rows.push(b);
  }
  const out = await s.run({[s.inputNames[0]]: new ort.Tensor(wide ? 'uint64' : 'uint32', data, [N, len])});
  const o = out[s.outputNames[0]].data;
  for (let i = 0; i < N; i++) {
    const h = crypto.createHash(wide ? 'sha512' : 'sha256').update(Buffer.concat([pre, rows[i]])).digest();
    for (let j = 0; j < dl; j++)
      if (Number(o[i * dl + j]) !== h[j]) {
        console.log(`row ${i} byte ${j}: graph ${o[i * dl + j]} crypto ${h[j]}`);
        process.exit(1);
      }
  }
  console.log('match');
})().catch(e => { console.log('error: ' + e.message); process.exit(2); });
