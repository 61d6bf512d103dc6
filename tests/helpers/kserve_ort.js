// kserve_ort.js MODEL.onnx NAME PORTFILE — a minimal KServe v2 / Open
// Inference Protocol server on ONNX Runtime, written from the protocol
// spec (REST, JSON tensors), for tests: the independent way a licensee
// would deploy a model.  Listens on 127.0.0.1 at an ephemeral port, written
// to PORTFILE once it accepts connections.
//   GET  /v2/health/live, /v2/health/ready, /v2/models/NAME/ready
//   GET  /v2/models/NAME                metadata: inputs/outputs (FP32)
//   POST /v2/models/NAME/infer          {"id", "inputs": [{"name", "shape",
//        "datatype": "FP32", "data"}], "outputs"?} -> {"model_name", "id",
//        "outputs": [{"name", "shape", "datatype", "data"}]}
// Errors: {"error": "..."} with 400 / 404.
// For tools/bench-serve.sh: KSERVE_WORKERS=N runs N node processes (the
// cluster module, one shared port; default 1) and KSERVE_ORT_THREADS=T
// gives each session T intra-op threads (default: ORT's own choice).
const ort = require('onnxruntime-node');
const http = require('http');
const fs = require('fs');
const cluster = require('cluster');

const workers = parseInt(process.env.KSERVE_WORKERS || '1', 10);
if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('exit', () => process.exit(1));
  process.on('SIGTERM', () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); });
  return;
}

(async () => {
  const [modelPath, name, portFile] = process.argv.slice(2);
  const intra = parseInt(process.env.KSERVE_ORT_THREADS || '0', 10);
  const s = await ort.InferenceSession.create(modelPath,
    intra > 0 ? { intraOpNumThreads: intra, interOpNumThreads: 1 } : {});
  const inName = s.inputNames[0], outName = s.outputNames[0];
  const meta = (n, m) => ({ name: n, datatype: 'FP32', shape: (m && m.shape) || [-1] });
  const im = s.inputMetadata ? s.inputMetadata[0] : null, om = s.outputMetadata ? s.outputMetadata[0] : null;
  const shapeOf = (m) => (m && m.shape ? m.shape.map(d => (typeof d === 'number' ? d : -1)) : [-1]);
  const send = (res, code, obj) => {
    const b = JSON.stringify(obj);
    res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(b) });
    res.end(b);
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => { body += c; });
    req.on('end', async () => {
      const url = req.url.split('?')[0];
      if (req.method === 'GET' && (url === '/v2/health/live' || url === '/v2/health/ready' ||
                                   url === `/v2/models/${name}/ready`))
        return send(res, 200, { ready: true, live: true });
      if (req.method === 'GET' && url === `/v2/models/${name}`)
        return send(res, 200, { name, platform: 'onnxruntime_onnx', versions: ['1'],
                                inputs: [{ ...meta(inName), shape: shapeOf(im) }],
                                outputs: [{ ...meta(outName), shape: shapeOf(om) }] });
      if (req.method !== 'POST' || url !== `/v2/models/${name}/infer`)
        return send(res, 404, { error: `no route ${req.method} ${url}` });
      let r;
      try { r = JSON.parse(body); } catch (e) { return send(res, 400, { error: 'request is not JSON' }); }
      const t = r && Array.isArray(r.inputs) && r.inputs.length === 1 ? r.inputs[0] : null;
      if (!t || t.datatype !== 'FP32' || !Array.isArray(t.shape) || !Array.isArray(t.data))
        return send(res, 400, { error: 'want one FP32 input tensor with shape and data' });
      const data = Float32Array.from(t.data.flat(Infinity));
      if (data.length !== t.shape.reduce((a, b) => a * b, 1))
        return send(res, 400, { error: 'data does not match shape' });
      try {
        const o = (await s.run({ [inName]: new ort.Tensor('float32', data, t.shape) }))[outName];
        const out = { model_name: name, model_version: '1',
                      outputs: [{ name: outName, shape: o.dims, datatype: 'FP32', data: Array.from(o.data) }] };
        if (r.id !== undefined) out.id = r.id;
        send(res, 200, out);
      } catch (e) { send(res, 400, { error: e.message }); }
    });
  });
  server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
})().catch(e => { console.error('kserve_ort: ' + e.message); process.exit(1); });
