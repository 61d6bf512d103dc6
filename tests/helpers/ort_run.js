// ort_run.js — run an ONNX model in ONNX Runtime (npm onnxruntime-node) on
// NPY inputs and write its outputs as NPY, for tests/conformance/ort-compare.
//
//   NODE_PATH=build/ort/node_modules node ort_run.js MODEL OUTDIR IN.npy...
//
// Inputs are the graph's inputs in order; output K goes to
// OUTDIR/output_K.npy (little-endian NPY v1, every dtype cbd has).
'use strict';
const ort = require('onnxruntime-node');
const fs = require('fs');

const types = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array], '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array], '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array], '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(p) {
  const b = fs.readFileSync(p);
  const hl = b.readUInt16LE(8);
  const h = b.subarray(10, 10 + hl).toString('latin1');
  const descr = /'descr': *'([^']+)'/.exec(h)[1];
  const shape = /'shape': *\(([^)]*)\)/.exec(h)[1].split(',')
    .map(s => s.trim()).filter(s => s).map(Number);
  const [t, A] = types[descr];
  const data = b.subarray(10 + hl);
  const ab = new ArrayBuffer(data.length);
  new Uint8Array(ab).set(data);
  return new ort.Tensor(t, new A(ab), shape);
}

function writeNpy(p, t) {
  const descr = Object.keys(types).find(k => types[k][0] === t.type);
  let sh = t.dims.join(', ');
  if (t.dims.length === 1) sh += ',';
  let h = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${sh}), }`;
  while ((10 + h.length + 1) % 64) h += ' ';
  h += '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(h.length, 8);
  const d = t.data;
  fs.writeFileSync(p, Buffer.concat([pre, Buffer.from(h, 'latin1'),
    Buffer.from(d.buffer, d.byteOffset, d.byteLength)]));
}

(async () => {
  const [model, outdir, ...ins] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model);
  const feeds = {};
  s.inputNames.forEach((n, i) => { feeds[n] = readNpy(ins[i]); });
  const r = await s.run(feeds);
  s.outputNames.forEach((n, i) => writeNpy(`${outdir}/output_${i}.npy`, r[n]));
})().catch(e => { console.error(String(e)); process.exit(1); });
