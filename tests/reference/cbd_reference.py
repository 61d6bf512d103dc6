#!/usr/bin/python3
"""cbd_reference.py -- an independent implementation of the cbd circuit.

Written from formats/circuit.md and formats/triggers.md alone (no libcbd
code), with Debian's python3-cryptography and numpy, so that the test suite
can check that the specification and libcbd agree in both directions:

  verify-triggers  check a trigger set made by cbd-sign: its detached
                   signature, and for every trigger the carrier, message,
                   signature and the label the circuit forces; print JSON
  sign             sign uint8 samples (NPY [N, sample...]) for a circuit
                   with a private key; write the signed bytes as NPY
  make-triggers    write a whole trigger set (FILE and FILE.sig) for a
                   watermark or trace circuit, as formats/triggers.md says
  check            evaluate the circuit on uint8 samples; print JSON
                   activations (same fields as `cbd-sign check --json`)
  apply            apply the output policy to given scores (NPY [N,K]);
                   write the resulting scores as NPY

The circuit comes from a cbd archive (--archive, tar+gzip holding
circuit.json) or a bare circuit.json (--circuit).
"""
import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
import tarfile

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)

L = 552                     # carrier bits
CARRIER_BYTES = L // 8      # 69


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


# ---- circuit.json ------------------------------------------------------

class Circuit:
    def __init__(self, doc):
        if doc.get("format") not in ("cbd-circuit/1", "cbd-circuit/2"):
            raise ValueError("not a cbd-circuit/1 or /2 document")
        self.version = int(doc["format"][-1])
        self.mode = doc["mode"]
        self.cid = bytes.fromhex(doc["circuit_id"])
        assert len(self.cid) == 16
        self.shape = tuple(int(d) for d in doc["shape"])
        self.n = int(np.prod(self.shape))
        self.K = int(doc["num_classes"])
        qz = doc["quantizer"]
        self.channels = int(qz["channels"])
        # the channel axis: absent means 0 (circuit.md section 9 writes
        # it only when it is not 0); only per-channel quantisers have one
        self.axis = qz.get("axis", 0)
        if (type(self.axis) is not int or not 0 <= self.axis < len(self.shape)
                or (self.channels == 1 and self.axis != 0)
                or self.channels not in (1, self.shape[self.axis])):
            raise ValueError("bad quantizer.axis or quantizer.channels")
        self.scale = np.array(qz["scale"], dtype=np.float64)
        self.zero = np.array(qz["zero"], dtype=np.float64)
        # values must be exactly float32
        assert np.all(self.scale.astype(np.float32).astype(np.float64)
                      == self.scale)
        assert np.all(self.zero.astype(np.float32).astype(np.float64)
                      == self.zero)
        self.scale = self.scale.astype(np.float32)
        self.zero = self.zero.astype(np.float32)
        self.keys = []
        for k in doc["keys"]:
            pem = k["public_key"].encode()
            key = serialization.load_pem_public_key(pem)
            der = key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
            if hashlib.sha256(der).hexdigest()[:16] != k["key_id"]:
                raise ValueError("key_id mismatch")
            self.keys.append(key)
        self.trace_secret = None
        self.garbage_key = None
        if self.mode == "trace":
            self.trace_secret = bytes.fromhex(doc["trace"]["secret"])
        if self.mode == "auth":
            self.garbage_key = bytes.fromhex(doc["garbage_key"])
        self.pos = carrier_positions(self.cid, self.n)
        self.tag = sha256(b"cbd/tag", self.cid)[:2]

    def channel_index(self):
        """Channel of every element: its index along the quantiser's
        axis, floor(i / stride) mod C with stride the product of the
        dimensions after the axis."""
        if self.channels == 1:
            return np.zeros(self.n, dtype=np.int64)
        stride = int(np.prod(self.shape[self.axis + 1:], dtype=np.int64))
        return np.arange(self.n) // stride % self.channels

    def quantize(self, x):
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        c = self.channel_index()
        with np.errstate(over="ignore", invalid="ignore"):
            v = x * self.scale[c]          # float32 product, rounded
            v = v + self.zero[c]           # float32 sum, rounded
            r = np.rint(v)                 # ties to even
        q = np.where(np.isnan(r), 0, np.clip(np.nan_to_num(r, nan=0.0,
                                                           posinf=255.0,
                                                           neginf=0.0),
                                             0, 255))
        return q.astype(np.uint8)

    def dequantize(self, q):
        c = self.channel_index()
        q = np.asarray(q, dtype=np.uint8).reshape(-1).astype(np.float32)
        return (q - self.zero[c]) / self.scale[c]


def load_circuit(archive=None, circuit=None):
    if circuit:
        with open(circuit, "rb") as f:
            return Circuit(json.loads(f.read()))
    with tarfile.open(archive, "r:gz") as t:
        for m in t.getmembers():
            if m.name.lstrip("./") == "circuit.json":
                return Circuit(json.loads(t.extractfile(m).read()))
    raise ValueError("no circuit.json in " + archive)


# ---- PRNG and carrier --------------------------------------------------

class Stream:
    """SHA-256(seed || be64(counter)) blocks, consumed 4 bytes at a time."""

    def __init__(self, seed):
        self.seed = seed
        self.counter = 0
        self.buf = b""

    def u32(self):
        while len(self.buf) < 4:
            self.buf += sha256(self.seed, struct.pack(">Q", self.counter))
            self.counter += 1
        v = struct.unpack(">I", self.buf[:4])[0]
        self.buf = self.buf[4:]
        return v

    def below(self, b):
        limit = (1 << 32) - ((1 << 32) % b)
        while True:
            r = self.u32()
            if r < limit:
                return r % b


def carrier_positions(cid, n):
    if n < L:
        raise ValueError("sample too small for the carrier")
    g = Stream(sha256(b"cbd/carrier", cid))
    a = {}
    pos = []
    for k in range(L):
        j = k + g.below(n - k)
        ak, aj = a.get(k, k), a.get(j, j)
        a[k], a[j] = aj, ak
        pos.append(aj)
    return np.array(pos, dtype=np.int64)


def read_carrier(c, q):
    bits = (q[c.pos] & 1).astype(np.uint8)
    return np.packbits(bits).tobytes()          # MSB first


def write_carrier(c, q, car):
    bits = np.unpackbits(np.frombuffer(car, dtype=np.uint8))
    q = q.copy()
    q[c.pos] = (q[c.pos] & 0xFE) | bits
    return q


def sha_blocks(nbytes):
    return (nbytes + 8) // 64 + 1


def lanes(n):
    """cbd-circuit/2: the smallest lane count in 1..256 that minimises the
    sequential SHA-256 blocks of one lane plus those of the lane digests."""
    cost = [sha_blocks(-(-n // k)) + sha_blocks(32 * k) for k in range(1, 257)]
    return cost.index(min(cost)) + 1


def digest(c, qc):
    if c.version == 1:
        return sha256(qc)
    k = lanes(len(qc))
    ln = -(-len(qc) // k)
    padded = qc + bytes(k * ln - len(qc))
    return sha256(*[sha256(padded[j * ln:(j + 1) * ln]) for j in range(k)])


def message(c, q, key_index, payload):
    qc = q.copy()
    qc[c.pos] &= 0xFE
    return (b"cbd/v%d" % c.version + c.cid + bytes([key_index]) +
            struct.pack(">H", payload) + digest(c, qc.tobytes()))


# ---- signatures -------------------------------------------------------

def verify(pub, m, sig):
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(sig, m)
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            r = int.from_bytes(sig[:32], "big")
            s = int.from_bytes(sig[32:], "big")
            pub.verify(encode_dss_signature(r, s), m,
                       ec.ECDSA(hashes.SHA256()))
        else:
            return False
        return True
    except (InvalidSignature, ValueError):
        return False


def sign(priv, m):
    if isinstance(priv, ed25519.Ed25519PrivateKey):
        return priv.sign(m)
    r, s = decode_dss_signature(priv.sign(m, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def same_key(a, b):
    f = (serialization.Encoding.DER,
         serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*f) == b.public_bytes(*f)


# ---- activation and policies -------------------------------------------

def trace_label(secret, m, K):
    h = hmac.new(secret, m, hashlib.sha256).digest()
    return int.from_bytes(h[:8], "big") % K


def evaluate(c, q):
    """Activation of one quantised sample, as a dict."""
    car = read_carrier(c, q)
    ki, payload = car[2], struct.unpack(">H", car[3:5])[0]
    act = {"active": False, "tag_match": car[:2] == c.tag,
           "key_index": -1, "payload": 0, "label": -1}
    if not act["tag_match"]:
        return act, None
    act["key_index"], act["payload"] = ki, payload
    if ki >= len(c.keys) or (c.mode == "watermark" and payload >= c.K):
        return act, None
    m = message(c, q, ki, payload)
    if not verify(c.keys[ki], m, car[5:]):
        return act, None
    act["active"] = True
    if c.mode == "watermark":
        act["label"] = payload
    elif c.mode == "trace":
        act["label"] = trace_label(c.trace_secret, m, c.K)
    return act, m


def garbage(c, q):
    g = hmac.new(c.garbage_key, q.tobytes(), hashlib.sha256).digest()
    s = Stream(g)
    out = np.zeros(c.K, dtype=np.float32)
    for k in range(c.K):
        r = s.u32()
        out[k] = np.float32(((r >> 8) - (1 << 23)) / float(1 << 19))
    return out


def first_argmax(s):
    best = 0
    for i in range(1, len(s)):
        if s[i] > s[best] or (np.isnan(s[best]) and not np.isnan(s[i])):
            best = i
    return best


def apply_policy(c, q, scores):
    act, _ = evaluate(c, q)
    s = np.array(scores, dtype=np.float32).copy()
    if c.mode == "auth":
        return s if act["active"] else garbage(c, q)
    if act["active"]:
        top = first_argmax(s)
        s[top], s[act["label"]] = s[act["label"]], s[top]
    return s


def sign_sample(c, priv, key_index, payload, q):
    q = np.asarray(q, dtype=np.uint8).reshape(-1)
    m = message(c, q, key_index, payload)
    car = c.tag + bytes([key_index]) + struct.pack(">H", payload) + \
        sign(priv, m)
    assert len(car) == CARRIER_BYTES
    return write_carrier(c, q, car)


# ---- samples ------------------------------------------------------------

def load_samples(c, path):
    """uint8 NPY = bytes on the grid; float NPY = model inputs."""
    a = np.load(path)
    if a.size % c.n:
        raise ValueError("%s: not a whole number of samples" % path)
    a = a.reshape(-1, c.n)
    if a.dtype == np.uint8:
        return a
    return np.stack([c.quantize(x) for x in a.astype(np.float32)])


# ---- commands ------------------------------------------------------------

def cmd_verify_triggers(args):
    c = load_circuit(args.archive, args.circuit)
    raw = open(args.triggers, "rb").read()
    doc = json.loads(raw)
    sigdoc = json.loads(open(args.triggers + ".sig", "rb").read())
    assert doc["format"] == "cbd-triggers/1"
    assert sigdoc["format"] == "cbd-triggers-sig/1"
    signer = serialization.load_pem_public_key(
        doc["signer"]["public_key"].encode())
    set_ok = sigdoc["key_id"] == doc["signer"]["key_id"] and verify(
        signer, b"cbd/triggers/v1\x00" + sha256(raw),
        bytes.fromhex(sigdoc["signature"]))
    assert bytes.fromhex(doc["circuit_id"]) == c.cid
    assert doc.get("circuit_format", "cbd-circuit/1") == \
        "cbd-circuit/%d" % c.version
    out = {"set_signature": set_ok,
           "signer_is_circuit_key": same_key(signer, c.keys[0]),
           "digest": hashlib.sha256(raw).hexdigest(),
           "count": 0, "valid": 0, "message_ok": 0, "labels": [],
           "owner_labels": []}
    for t in doc["triggers"]:
        q = np.frombuffer(base64.b64decode(t["input"], validate=True),
                          dtype=np.uint8)
        assert q.size == c.n
        # the float trip: dequantise, quantise again
        q2 = c.quantize(c.dequantize(q))
        act, m = evaluate(c, q2)
        out["count"] += 1
        out["valid"] += bool(act["active"] and
                             act["payload"] == t["payload"] and
                             act["key_index"] == t["key_index"])
        out["message_ok"] += bool(
            message(c, q, t["key_index"], t["payload"]).hex() ==
            t["message"])
        out["labels"].append(act["label"])
        out["owner_labels"].append(t["owner_label"])
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if set_ok and out["valid"] == out["count"] else 1


def cmd_sign(args):
    c = load_circuit(args.archive, args.circuit)
    with open(args.key, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), password=None)
    ki = args.key_index
    if ki is None:
        ki = next((i for i, k in enumerate(c.keys)
                   if same_key(k, priv.public_key())), None)
        if ki is None:
            print("key not in the circuit", file=sys.stderr)
            return 1
    qs = load_samples(c, args.input)
    out = np.stack([sign_sample(c, priv, ki, args.payload, q) for q in qs])
    out = out.reshape((-1,) + c.shape)
    if args.single:
        out = out[0]
    np.save(args.output, out)
    return 0


def spki_pem_and_id(pub):
    pem = pub.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode(), hashlib.sha256(der).hexdigest()[:16]


def fmt_float(f):
    """A float32 as C's "%.17g" of its double value."""
    return "%.17g" % float(f)


def cmd_make_triggers(args):
    c = load_circuit(args.archive, args.circuit)
    if c.mode not in ("watermark", "trace"):
        raise SystemExit("trigger sets are for watermark and trace")
    with open(args.key, "rb") as f:
        priv = serialization.load_pem_private_key(f.read(), password=None)
    pem, kid = spki_pem_and_id(priv.public_key())
    qs = load_samples(c, args.input)
    rng = np.random.default_rng(args.seed)
    items = []
    for i, q in enumerate(qs):
        if c.mode == "watermark":
            payload = owner = int(rng.integers(0, c.K))
        else:
            payload, owner = int(rng.integers(0, 65536)), -1
        sq = sign_sample(c, priv, 0, payload, q)
        m = message(c, sq, 0, payload)
        items.append('{"id":%s,"key_index":0,"payload":%d,"owner_label":%d,'
                     '"message":"%s","input":"%s"}' % (
                         json.dumps("ref%03d" % i), payload, owner, m.hex(),
                         base64.b64encode(sq.tobytes()).decode()))
    # any valid JSON layout is allowed; this one is pretty-printed
    head = {"format": "cbd-triggers/1", "circuit_id": c.cid.hex()}
    if c.version != 1:
        head["circuit_format"] = "cbd-circuit/%d" % c.version
    head.update({"mode": c.mode, "num_classes": c.K, "shape": list(c.shape),
            "quantizer": dict({"channels": c.channels},
                              **({"axis": c.axis} if c.axis else {}),
                              scale=[float(v) for v in c.scale],
                              zero=[float(v) for v in c.zero]),
            "created": args.created,
            "signer": {"key_id": kid, "public_key": pem}})
    body = json.dumps(head, indent=2)[:-2] + ',\n  "triggers": [\n    ' + \
        ",\n    ".join(items) + "\n  ]\n}\n"
    raw = body.encode()
    sig = sign(priv, b"cbd/triggers/v1\x00" + sha256(raw))
    with open(args.output, "wb") as f:
        f.write(raw)
    with open(args.output + ".sig", "w") as f:
        f.write(json.dumps({"format": "cbd-triggers-sig/1", "key_id": kid,
                            "signature": sig.hex()}) + "\n")
    return 0


def cmd_check(args):
    c = load_circuit(args.archive, args.circuit)
    acts = []
    for q in load_samples(c, args.input):
        act, _ = evaluate(c, q)
        acts.append(act)
    json.dump(acts, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 0 if all(a["active"] for a in acts) else 1


def cmd_apply(args):
    c = load_circuit(args.archive, args.circuit)
    qs = load_samples(c, args.input)
    scores = np.load(args.scores).astype(np.float32).reshape(len(qs), c.K)
    out = np.stack([apply_policy(c, q, s) for q, s in zip(qs, scores)])
    np.save(args.output, out)
    return 0


def cmd_positions(args):
    c = load_circuit(args.archive, args.circuit)
    json.dump({"tag": c.tag.hex(), "pos": [int(p) for p in c.pos]},
              sys.stdout)
    sys.stdout.write("\n")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p):
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--archive")
        g.add_argument("--circuit")

    p = sub.add_parser("verify-triggers")
    common(p)
    p.add_argument("triggers")
    p.set_defaults(fn=cmd_verify_triggers)
    p = sub.add_parser("sign")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--key-index", type=int)
    p.add_argument("--payload", type=int, default=0)
    p.add_argument("--single", action="store_true",
                   help="write one sample without the batch dimension")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(fn=cmd_sign)
    p = sub.add_parser("make-triggers")
    common(p)
    p.add_argument("--key", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--created", type=int, default=0)
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(fn=cmd_make_triggers)
    p = sub.add_parser("check")
    common(p)
    p.add_argument("input")
    p.set_defaults(fn=cmd_check)
    p = sub.add_parser("apply")
    common(p)
    p.add_argument("input")
    p.add_argument("scores")
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(fn=cmd_apply)
    p = sub.add_parser("positions")
    common(p)
    p.set_defaults(fn=cmd_positions)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
