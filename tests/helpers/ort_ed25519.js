// ort_ed25519.js OG_ED25519 DIR — makes an Ed25519 key with node's crypto
// (OpenSSL), writes a verification model for it with the og_ed25519 helper,
// and runs it in ONNX Runtime on a batch of valid signatures and of forgeries
// (a flipped bit in R, in S, in the message; S + L; a signature of another
// key; R and S swapped; all zeros), comparing every answer with
// crypto.verify.  Prints "match V valid, F invalid" or the first difference,
// exits 1 on a difference.
const ort = require('onnxruntime-node');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const le = (buf) => buf.reduce((a, b, i) => a + (BigInt(b) << (8n * BigInt(i))), 0n);
const toLe = (v, n) => Buffer.from(Array.from({ length: n }, (_, i) => Number((v >> (8n * BigInt(i))) & 255n)));
(async () => {
  const [helper, dir] = process.argv.slice(2);
  const key = crypto.generateKeyPairSync('ed25519');
  const other = crypto.generateKeyPairSync('ed25519');
  const pk = Buffer.from(key.publicKey.export({ format: 'jwk' }).x, 'base64url');
  execFileSync(helper, [pk.toString('hex'), dir + '/ed.onnx'], { stdio: 'inherit' });
  const t0 = Date.now();
  const s = await ort.InferenceSession.create(dir + '/ed.onnx');
  const load = Date.now() - t0;
  const cases = [];
  for (let i = 0; i < 24; i++) {
    const m = crypto.randomBytes(57);
    const sig = crypto.sign(null, m, key.privateKey);
    cases.push([sig, m]);
    const v = i % 8;
    const f = Buffer.from(sig), g = Buffer.from(m);
    if (v === 0) f[i % 32] ^= 1 << (i % 8);                 // R
    if (v === 1) f[32 + (i % 31)] ^= 1 << (i % 8);          // S
    if (v === 2) g[i % 57] ^= 1 << (i % 8);                 // message
    if (v === 3) toLe(le(sig.subarray(32)) + L, 32).copy(f, 32);  // S + L
    if (v === 4) crypto.sign(null, m, other.privateKey).copy(f);
    if (v === 5) { sig.copy(f, 0, 32); sig.copy(f, 32, 0, 32); }
    if (v === 6) f.fill(0);
    if (v === 7) f[63] ^= 0x80;                             // S >= 2^255
    cases.push([f, g]);
  }
  const N = cases.length;
  const sig = new Uint8Array(N * 64), msg = new Uint8Array(N * 57);
  cases.forEach(([a, b], i) => { sig.set(a, i * 64); msg.set(b, i * 57); });
  const t1 = Date.now();
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('uint8', sig, [N, 64]),
                            [s.inputNames[1]]: new ort.Tensor('uint8', msg, [N, 57]) });
  const run = Date.now() - t1;
  const o = out[s.outputNames[0]].data;
  let valid = 0;
  for (let i = 0; i < N; i++) {
    const want = crypto.verify(null, cases[i][1], key.publicKey, cases[i][0]);
    if (Boolean(o[i]) !== want) {
      console.log(`case ${i}: graph ${o[i]} crypto ${want}`);
      process.exit(1);
    }
    valid += want;
  }
  console.log(`match ${valid} valid, ${N - valid} invalid`);
  console.error(`load ${load} ms, batch ${N} ${run} ms`);
})().catch(e => { console.log('error: ' + e.message); process.exit(2); });
