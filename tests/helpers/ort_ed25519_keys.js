// ort_ed25519_keys.js OG_ED25519 DIR — the several-key Ed25519 graph
// (og_ed25519 -k): three keys made with node's crypto (OpenSSL); each
// sample names a key index; valid signatures under the named key, and the
// forgeries that matter when several keys share a model (a valid signature
// of another key presented under this index, a flipped bit in R, S or the
// message); every answer compared with crypto.verify under the named key.
// Prints "match V valid, F invalid" or the first difference; exit 1.
const ort = require('onnxruntime-node');
const crypto = require('crypto');
const { execFileSync } = require('child_process');
(async () => {
  const [helper, dir] = process.argv.slice(2);
  const keys = [0, 1, 2].map(() => crypto.generateKeyPairSync('ed25519'));
  const raw = keys.map(k => Buffer.from(k.publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex'));
  execFileSync(helper, ['-k', raw.join(','), dir + '/edk.onnx'], { stdio: 'inherit' });
  const s = await ort.InferenceSession.create(dir + '/edk.onnx');
  const cases = [];
  for (let i = 0; i < 18; i++) {
    const k = i % 3, m = crypto.randomBytes(57), sig = crypto.sign(null, m, keys[k].privateKey);
    cases.push([sig, m, k]);
    const f = Buffer.from(sig), g = Buffer.from(m);
    let kk = k;
    if (i % 4 === 0) kk = (k + 1) % 3;                 // another key's index
    if (i % 4 === 1) f[i % 32] ^= 1 << (i % 8);
    if (i % 4 === 2) f[32 + (i % 31)] ^= 1 << (i % 8);
    if (i % 4 === 3) g[i % 57] ^= 1;
    cases.push([f, g, kk]);
  }
  const N = cases.length;
  const sig = new Uint8Array(N * 64), msg = new Uint8Array(N * 57), kid = new BigInt64Array(N);
  cases.forEach(([a, b, k], i) => { sig.set(a, i * 64); msg.set(b, i * 57); kid[i] = BigInt(k); });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('uint8', sig, [N, 64]),
                            [s.inputNames[1]]: new ort.Tensor('uint8', msg, [N, 57]),
                            [s.inputNames[2]]: new ort.Tensor('int64', kid, [N, 1]) });
  const o = out[s.outputNames[0]].data;
  let valid = 0;
  for (let i = 0; i < N; i++) {
    const want = crypto.verify(null, cases[i][1], keys[cases[i][2]].publicKey, cases[i][0]);
    if (Boolean(o[i]) !== want) { console.log(`case ${i}: graph ${o[i]} crypto ${want}`); process.exit(1); }
    valid += want;
  }
  console.log(`match ${valid} valid, ${N - valid} invalid`);
})().catch(e => { console.log('error: ' + e.message); process.exit(2); });
