#!/usr/bin/python3
"""hostile_archive.py — write hostile variants of a cbd archive (tests only).

    hostile_archive.py KIND GOOD.cbd OUT.cbd [OWNER.key]

Takes the members of a good archive and writes OUT.cbd as a gzip'd tar with
one hostile change (KIND): dotdot, absolute, symlink, hardlink, chardev,
fifo, duplicate, extra, bomb (a member that inflates past every cap from a
tiny file, with a gzip trailer that lies about the size), lying-size (a
manifest re-signed with OWNER.key whose member size is wrong), and
lying-digest.  Used by tests/cli/hardening.bats; the reader must refuse
each one, naming the problem, and write nothing.

    hostile_archive.py circuit GOOD.cbd OUT.cbd OWNER.key CIRCUIT.json

writes GOOD with its circuit.json replaced by CIRCUIT.json (a hand-edited
circuit), the manifest's size and digest of it updated and re-signed with
OWNER.key: a reader parses the circuit (formats/archive.md, reading step
5) before it checks the canonical tar form (step 6, which Python's tar
does not meet), so its refusal is the circuit's
(tests/cli/channel_axis.bats).
"""
import base64, gzip, hashlib, io, json, re, struct, sys, tarfile, zlib

kind, good, out = sys.argv[1], sys.argv[2], sys.argv[3]
members = {}
with tarfile.open(good, "r:gz") as t:
    for m in t.getmembers():
        members[m.name] = t.extractfile(m).read()


def info(name, size, typ=tarfile.REGTYPE):
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.type = typ
    ti.mode = 0o644
    ti.mtime = 1764115200
    return ti


def write(entries, raw=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for ti, data in entries:
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
    data = raw if raw is not None else gzip.compress(buf.getvalue(), mtime=0)
    open(out, "wb").write(data)


def normal(skip=()):
    return [(info(n, len(d)), d) for n, d in sorted(members.items())
            if n not in skip]


def resign(manifest):
    from cryptography.hazmat.primitives import serialization as s
    key = s.load_pem_private_key(open(sys.argv[4], "rb").read(), None)
    der = key.public_key().public_bytes(
        s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    kid = hashlib.sha256(der).hexdigest()[:16]
    sig = base64.b64encode(key.sign(manifest)).decode()
    return ("cbd-sig/1 key %s\n%s\n" % (kid, sig)).encode()


if kind == "dotdot":
    write(normal() + [(info("../cbd-hardening-x", 4), b"pwn\n")])
elif kind == "absolute":
    write(normal() + [(info("/tmp/cbd-hardening-abs", 4), b"pwn\n")])
elif kind == "symlink":
    ti = info("model.onnx", 0, tarfile.SYMTYPE)
    ti.linkname = "/etc/passwd"
    write(normal(skip=("model.onnx",)) + [(ti, None)])
elif kind == "hardlink":
    ti = info("model.onnx", 0, tarfile.LNKTYPE)
    ti.linkname = "circuit.json"
    write(normal(skip=("model.onnx",)) + [(ti, None)])
elif kind == "chardev":
    ti = info("model.onnx", 0, tarfile.CHRTYPE)
    ti.devmajor, ti.devminor = 1, 3
    write(normal(skip=("model.onnx",)) + [(ti, None)])
elif kind == "fifo":
    write(normal(skip=("model.onnx",)) +
          [(info("model.onnx", 0, tarfile.FIFOTYPE), None)])
elif kind == "duplicate":
    write(normal() + [(info("circuit.json", 4), b"{}\n\n")])
elif kind == "extra":
    write(normal() + [(info("notes.txt", 4), b"hi!\n")])
elif kind == "bomb":
    # A tar header for model.onnx claiming 1 GiB, then zeros streamed
    # through zlib: ~0.6 MiB on disk, 600 MiB inflated (past the 544 MiB cap).  The gzip trailer's
    # ISIZE says 4 KiB, so a reader trusting it is fooled.
    hdr = info("model.onnx", 1 << 30).tobuf(format=tarfile.USTAR_FORMAT)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = [co.compress(hdr)]
    chunk = bytes(1 << 20)
    crc = zlib.crc32(hdr)
    for _ in range(600):
        body.append(co.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    body.append(co.flush())
    gz = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03" + b"".join(body) +
          struct.pack("<II", crc & 0xffffffff, 4096))
    write([], raw=gz)
elif kind in ("lying-size", "lying-digest"):
    man = members["manifest.json"].decode()
    if kind == "lying-size":
        man = re.sub(r'("name": "model.onnx", "size": )(\d+)',
                     lambda m: m.group(1) + "1000", man)
    else:
        man = re.sub(r'("name": "model.onnx", "size": \d+, "sha256": ")([0-9a-f]{64})',
                     lambda m: m.group(1) + "0" * 64, man)
    members["manifest.json"] = man.encode()
    members["manifest.sig"] = resign(members["manifest.json"])
    write(normal())
elif kind == "circuit":
    new = open(sys.argv[5], "rb").read()
    man = re.sub(r'("name": "circuit.json", "size": )\d+(, "sha256": ")[0-9a-f]{64}',
                 lambda m: "%s%d%s%s" % (m.group(1), len(new), m.group(2),
                                         hashlib.sha256(new).hexdigest()),
                 members["manifest.json"].decode())
    members["circuit.json"] = new
    members["manifest.json"] = man.encode()
    members["manifest.sig"] = resign(members["manifest.json"])
    write(normal())
else:
    sys.exit("unknown kind " + kind)
