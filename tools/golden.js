// golden.js — reference outputs of the committed test models from ONNX
// Runtime (npm onnxruntime-node), written as float32 NPY golden files.
//
// usage: node tools/golden.js MODEL INPUT.npy OUT.npy [COUNT]
//
// INPUT.npy is float32 (used as-is) or uint8 (converted as byte/255, like
// cbd-run); COUNT keeps only the first COUNT samples.  The whole batch is
// run in one session.run; OUT.npy receives the model's first output.
// Run through tools/golden.sh (`make golden`), which installs
// onnxruntime-node with --ignore-scripts into build/ort.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
	const b = fs.readFileSync(path);
	if (b.toString('latin1', 1, 6) !== 'NUMPY')
		throw new Error(path + ': not NPY');
	const major = b[6];
	const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
	const off = (major === 1 ? 10 : 12) + hlen;
	const hdr = b.toString('latin1', major === 1 ? 10 : 12, off);
	const descr = /'descr':\s*'([^']+)'/.exec(hdr)[1];
	const shape = /'shape':\s*\(([^)]*)\)/.exec(hdr)[1].split(',')
		.map((s) => s.trim()).filter((s) => s.length).map(Number);
	const n = shape.reduce((a, c) => a * c, 1);
	let data;
	if (descr === '<f4') {
		data = new Float32Array(n);
		for (let i = 0; i < n; i++)
			data[i] = b.readFloatLE(off + 4 * i);
	} else if (descr === '|u1') {
		data = new Float32Array(n);
		for (let i = 0; i < n; i++)
			data[i] = b[off + i] / 255;
	} else {
		throw new Error(path + ': dtype ' + descr);
	}
	return { shape, data };
}

function writeNpy(path, shape, data) {
	let hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
		shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
	const total = 10 + hdr.length + 1;
	hdr += ' '.repeat((64 - (total % 64)) % 64) + '\n';
	const h = Buffer.alloc(10);
	h.write('\x93NUMPY', 0, 'latin1');
	h[6] = 1;
	h[7] = 0;
	h.writeUInt16LE(hdr.length, 8);
	const body = Buffer.alloc(4 * data.length);
	for (let i = 0; i < data.length; i++)
		body.writeFloatLE(data[i], 4 * i);
	fs.writeFileSync(path, Buffer.concat([h, Buffer.from(hdr, 'latin1'),
		body]));
}

async function main() {
	const [model, input, out, count] = process.argv.slice(2);
	const x = readNpy(input);
	if (count) {
		const per = x.data.length / x.shape[0];
		x.shape[0] = Math.min(Number(count), x.shape[0]);
		x.data = x.data.slice(0, per * x.shape[0]);
	}
	const s = await ort.InferenceSession.create(model,
		{ intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
	const feeds = {};
	feeds[s.inputNames[0]] = new ort.Tensor('float32', x.data, x.shape);
	const r = await s.run(feeds);
	const y = r[s.outputNames[0]];
	writeNpy(out, y.dims, y.data);
	console.log(out + ': [' + y.dims.join(',') + '] from ' + model);
}

main().catch((e) => {
	console.error('golden.js: error: ' + e.message);
	process.exit(1);
});
