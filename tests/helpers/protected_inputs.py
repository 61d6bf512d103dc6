#!/usr/bin/python3
# protected_inputs.py — the inputs on which a compiled model (cbd-embed
# --format onnx) must answer like the archive: written from formats/circuit.md
# (carrier PRNG, tag, layout), not from cbd's code.
#
#   protected_inputs.py IMAGES.npy TRIGGERS.json OUT.npy KINDS.json [OTHER.json]
#   protected_inputs.py IMAGES.npy SIGNED.npy:CIRCUIT_ID OUT.npy KINDS.json
#
# (the second form for auth circuits: byte samples that `cbd-sign input`
# signed, in place of a trigger set; their kind is "trigger" too)
#
# OUT.npy is float32 [M, 1, 28, 28]; KINDS.json names each row's kind:
#   trigger      a trigger of TRIGGERS.json, dequantised (q / 255)
#   forge-*      a trigger with one carrier field flipped (tag, key_index,
#                payload, signature), its carrier moved onto another image,
#                or one non-carrier byte changed (q' no longer signed)
#   other-owner  a trigger of OTHER.json (same circuit id, another owner key)
#   heldout      the MNIST held-out digits
#   noise        uniform [0, 1) float32
#   tagpass      held-out digits whose 16 tag LSBs carry the tag (so the
#                verifying branch runs) but no signature
#   pixel        every byte value 0..255 at single carrier positions
#   float        NaN, +-inf, -0, ties, out-of-range values at carrier
#                positions, on clean and on tag-passing images
import base64
import hashlib
import json
import struct
import sys

import numpy as np

L = 552


def positions(cid, n):
    seed = hashlib.sha256(b"cbd/carrier" + cid).digest()
    stream, ctr = b"", 0

    def u32():
        nonlocal stream, ctr
        while len(stream) < 4:
            stream += hashlib.sha256(seed + struct.pack(">Q", ctr)).digest()
            ctr += 1
        v, stream = int.from_bytes(stream[:4], "big"), stream[4:]
        return v

    def below(b):
        limit = 2**32 - (2**32 % b)
        while True:
            r = u32()
            if r < limit:
                return r % b

    a = list(range(n))
    pos = []
    for k in range(L):
        j = k + below(n - k)
        a[k], a[j] = a[j], a[k]
        pos.append(a[k])
    return pos


def main():
    images, trig_path, out, kinds_path = sys.argv[1:5]
    other = sys.argv[5] if len(sys.argv) > 5 else None
    imgs = np.load(images).reshape(-1, 784)
    if ".npy:" in trig_path:
        path, hexid = trig_path.rsplit(":", 1)
        cid = bytes.fromhex(hexid)
        ts = {"triggers": [{"input": base64.b64encode(q.tobytes()).decode()}
                           for q in np.load(path).reshape(-1, 784)]}
    else:
        ts = json.load(open(trig_path))
        cid = bytes.fromhex(ts["circuit_id"])
    pos = positions(cid, 784)
    tag = hashlib.sha256(b"cbd/tag" + cid).digest()[:2]
    tagbits = [tag[k // 8] >> (7 - k % 8) & 1 for k in range(16)]
    trig = [np.frombuffer(base64.b64decode(t["input"]), np.uint8)
            for t in ts["triggers"]]
    rng = np.random.default_rng(7)
    rows, kinds = [], []

    def add(q, kind):
        rows.append(np.asarray(q, np.float32) / np.float32(255)
                    if np.asarray(q).dtype == np.uint8 else
                    np.asarray(q, np.float32))
        kinds.append(kind)

    def flip(q, bit):
        q = q.copy()
        q[pos[bit]] ^= 1
        return q

    def with_tag(q):
        q = q.copy()
        for k in range(16):
            q[pos[k]] = (q[pos[k]] & 0xFE) | tagbits[k]
        return q

    carrier_set = set(pos)
    for i, q in enumerate(trig):
        add(q, "trigger")
        add(flip(q, i % 16), "forge-tag")
        add(flip(q, 16 + i % 8), "forge-key-index")
        add(flip(q, 24 + i % 16), "forge-payload")
        add(flip(q, 40 + (7 * i) % 512), "forge-signature")
        t = imgs[100 + i].copy()
        for k in range(L):
            t[pos[k]] = (t[pos[k]] & 0xFE) | (q[pos[k]] & 1)
        add(t, "forge-transplant")
        c = q.copy()
        j = next(p for p in range(i, 784) if p not in carrier_set)
        c[j] = c[j] + 2 if c[j] < 128 else c[j] - 2
        add(c, "forge-message")
    if other:
        for t in json.load(open(other))["triggers"]:
            add(np.frombuffer(base64.b64decode(t["input"]), np.uint8),
                "other-owner")
    for q in imgs:
        add(q, "heldout")
    for _ in range(6000):
        add(rng.random(784, dtype=np.float32), "noise")
    for q in imgs[:1000]:
        add(with_tag(q), "tagpass")
    base = imgs[5]
    for p in (pos[0], pos[15], pos[16], pos[300]):
        for v in range(256):
            q = base.copy()
            q[p] = v
            add(q, "pixel")
    specials = [np.nan, np.inf, -np.inf, -0.0, 0.5 / 255, 1.5 / 255,
                254.5 / 255, 2.0, -1.0, 1e30, -1e30, 1e-45]
    for b in (base, with_tag(base)):
        for v in specials:
            x = b.astype(np.float32) / np.float32(255)
            x[pos[3]] = v
            x[pos[40]] = v
            add(x, "float")
    np.save(out, np.stack(rows).reshape(-1, 1, 28, 28).astype(np.float32))
    json.dump(kinds, open(kinds_path, "w"))


main()
