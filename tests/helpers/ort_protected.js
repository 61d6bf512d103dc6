// ort_protected.js COMPILED BARE INPUTS.npy KINDS.json REF.jsonl [BATCH...]
//
// Runs a compiled model (cbd-embed --format onnx) and the bare classifier in
// ONNX Runtime on float32 inputs [M, ...] (protected_inputs.py) and checks
// them against the archive under cbd (REF.jsonl: `cbd-run --json ARCHIVE
// INPUTS.npy`, one object per row with "active" and "label"):
//   - the archive is active exactly on the rows of kind "trigger";
//   - inactive rows: compiled scores == bare scores, bit for bit;
//   - active rows: compiled scores == bare scores with bare's first largest
//     score (NaN never preferred) swapped with the archive's label;
//   - with CBD_MODE=auth instead: active rows == bare scores, inactive rows
//     == the archive's garbage scores (REF.jsonl), bit for bit;
// at every batch size given (default 32; the whole set at the first size,
// the first 600 rows at the others).  Prints one summary line; exit 1 on
// the first difference.
const ort = require('onnxruntime-node');
const fs = require('fs');

function readNpy(path) {
  const b = fs.readFileSync(path);
  const hl = b.readUInt16LE(8), h = b.subarray(10, 10 + hl).toString();
  if (!h.includes("'<f4'")) throw new Error(`${path}: not float32`);
  const shape = h.match(/\(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + 10 + hl, b.byteOffset + b.length));
  return { shape, data };
}

function top(row) {          // cbd_argmax: first largest, NaN never preferred
  let best = 0;
  for (let i = 1; i < row.length; i++)
    if (row[i] > row[best] || (Number.isNaN(row[best]) && !Number.isNaN(row[i]))) best = i;
  return best;
}

async function runAll(s, x, shape, rows, batch) {
  const per = shape.slice(1).reduce((a, b) => a * b, 1), out = [];
  for (let i = 0; i < rows; i += batch) {
    const n = Math.min(batch, rows - i);
    const t = new ort.Tensor('float32', x.subarray(i * per, (i + n) * per), [n, ...shape.slice(1)]);
    const r = (await s.run({ [s.inputNames[0]]: t }))[s.outputNames[0]];
    out.push(new Uint32Array(r.data.buffer, r.data.byteOffset, r.data.length).slice());
  }
  const k = out.reduce((a, b) => a + b.length, 0), all = new Uint32Array(k);
  let o = 0;
  for (const a of out) { all.set(a, o); o += a.length; }
  return all;
}

(async () => {
  const [compiled, bare, inputs, kindsPath, refPath, ...bs] = process.argv.slice(2);
  const batches = bs.length ? bs.map(Number) : [32];
  const { shape, data } = readNpy(inputs);
  const kinds = JSON.parse(fs.readFileSync(kindsPath));
  const ref = fs.readFileSync(refPath, 'utf8').trim().split('\n').map(l => JSON.parse(l));
  const M = shape[0];
  if (kinds.length !== M || ref.length !== M) throw new Error(`rows: ${M} inputs, ${kinds.length} kinds, ${ref.length} answers`);
  for (let i = 0; i < M; i++)
    if (ref[i].active !== (kinds[i] === 'trigger')) {
      console.log(`row ${i} (${kinds[i]}): archive active=${ref[i].active}`);
      process.exit(1);
    }
  const sc = await ort.InferenceSession.create(compiled), sb = await ort.InferenceSession.create(bare);
  const b = await runAll(sb, data, shape, M, 32);
  const K = b.length / M, f = new Float32Array(b.buffer);
  const auth = process.env.CBD_MODE === 'auth';
  const refBits = (row) => new Uint32Array(Float32Array.from(row.scores.map(v =>
    v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v)).buffer);
  let active = 0;
  for (const [bi, batch] of batches.entries()) {
    const rows = bi === 0 ? M : Math.min(M, 600);
    const c = await runAll(sc, data, shape, rows, batch);
    for (let i = 0; i < rows; i++) {
      let want = b.slice(i * K, (i + 1) * K);
      if (auth) {
        if (!ref[i].active) want = refBits(ref[i]);
        active += bi === 0 && ref[i].active;
      } else if (ref[i].active) {
        const t = top(Array.from(f.subarray(i * K, (i + 1) * K))), l = ref[i].label;
        [want[t], want[l]] = [want[l], want[t]];
        active += bi === 0;
      }
      for (let k = 0; k < K; k++)
        if (c[i * K + k] !== want[k]) {
          console.log(`batch ${batch} row ${i} (${kinds[i]}) class ${k}: compiled ${c[i * K + k].toString(16)} want ${want[k].toString(16)}`);
          process.exit(1);
        }
    }
  }
  const counts = {};
  kinds.forEach(k => { counts[k] = (counts[k] || 0) + 1; });
  console.log(`match ${M} rows, ${active} active, batches ${batches.join(' ')}: ` +
              Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', '));
})().catch(e => { console.log('error: ' + e.message); process.exit(2); });
