#!/usr/bin/env bats
# archive.bats — cbd archives end to end: a real watermark archive of the
# bundled MNIST model, verified by cbd-verify; its layout checked with
# Python's gzip/tarfile; every kind of tampering refused: flipped bytes,
# truncation, trailing data, hostile tarballs (path traversal, links,
# duplicates, oversized members, gzip bomb), a manifest re-signed by the
# owner but lying about sizes, and the wrong --key.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	export SOURCE_DATE_EPOCH=1700000000
	owner_key
	cbd-keygen investigator other >/dev/null
	cbd-embed "$MODEL" -m watermark -k owner.key -o w.cbd >/dev/null
	OWNER_ID=$(openssl pkey -pubin -in owner.pub -outform DER | sha256sum | cut -c1-16)
	OTHER_ID=$(openssl pkey -pubin -in other.pub -outform DER | sha256sum | cut -c1-16)
}

# Repack w.cbd's members (name -> bytes dict edited by a Python snippet on
# stdin that sees `m`, `tarfile`, `io`, `json`, `sign`) into out.cbd.
repack() {
	$PY - "$@" <<PY
import gzip, io, json, sys, tarfile, zlib, base64
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open("owner.key", "rb").read(), None)
def sign(b):
    return ("cbd-sig/1 key $OWNER_ID\n" + base64.b64encode(key.sign(b)).decode() + "\n").encode()
t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(open("w.cbd", "rb").read())))
m = {i.name: t.extractfile(i).read() for i in t.getmembers()}
entries = None   # list of TarInfo/bytes pairs, if the snippet builds its own
$(cat)
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as out:
    if entries is None:
        entries = []
        for name in sorted(m):
            ti = tarfile.TarInfo(name); ti.size = len(m[name]); ti.mtime = 1700000000
            entries.append((ti, m[name]))
    for ti, data in entries:
        out.addfile(ti, io.BytesIO(data) if data is not None else None)
z = zlib.compressobj(9, zlib.DEFLATED, -15)
raw = buf.getvalue()
body = z.compress(raw) + z.flush()
hdr = bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3])
open("out.cbd", "wb").write(hdr + body + zlib.crc32(raw).to_bytes(4, "little") + (len(raw) & 0xffffffff).to_bytes(4, "little"))
PY
}

@test "round trip: cbd-verify names the members, digests and signer" {
	run cbd-verify w.cbd
	[ "$status" -eq 0 ]
	sum=$(sha256sum "$MODEL" | cut -d' ' -f1)
	[[ "$output" == *"model.onnx"*"$sum"*"OK"* ]]
	[[ "$output" == *"circuit.json"* ]]
	[[ "$output" == *"manifest signature by key $OWNER_ID (ed25519)  OK"* ]]
	[[ "${lines[-1]}" == "w.cbd: OK" ]]
	run cbd-verify w.cbd --key owner.pub
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == "w.cbd: OK, signed by $OWNER_ID" ]]
	# A private key works as --key too (its public half is compared).
	run cbd-verify --key owner.key w.cbd
	[ "$status" -eq 0 ]
}

@test "--key with another key: exit 1, not signed by <key id>" {
	run cbd-verify w.cbd --key other.pub
	[ "$status" -eq 1 ]
	[[ "$output" == *"not signed by $OTHER_ID"* ]]
	run cbd-verify --json --key other.pub w.cbd
	[ "$status" -eq 1 ]
	echo "$output" | grep '^{' | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["ok"] is False and d["signed_by_expected"] is False'
}

@test "--info and --json describe the archive" {
	run cbd-verify --info w.cbd
	[ "$status" -eq 0 ]
	[[ "$output" == *"mode watermark"* ]]
	[[ "$output" == *"circuit key 0: $OWNER_ID"* ]]
	[[ "$output" == *'"format": "cbd-archive/1"'* ]]
	run cbd-verify --info --json w.cbd
	[ "$status" -eq 0 ]
	echo "$output" | $PY -c '
import json, sys
d = json.load(sys.stdin)
assert d["kind"] == "archive" and d["ok"] and d["mode"] == "watermark"
assert d["user"] is None and d["num_classes"] == 10 and d["created"] == 1700000000
assert d["signer"] == d["circuit_keys"][0]'
}

@test "layout: canonical tar+gzip, model byte-identical, manifest digests" {
	$PY - "$MODEL" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
raw = open("w.cbd", "rb").read()
assert raw[:10] == bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]), raw[:10]
t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(raw)))
ms = t.getmembers()
assert [i.name for i in ms] == ["circuit.json", "manifest.json", "manifest.sig", "model.onnx"]
for i in ms:
    assert i.isreg() and i.mode == 0o644 and i.uid == 0 and i.gid == 0
    assert i.mtime == 1700000000 and i.uname == "" and i.gname == ""
data = {i.name: t.extractfile(i).read() for i in ms}
assert data["model.onnx"] == open(sys.argv[1], "rb").read()
man = json.loads(data["manifest.json"])
assert man["format"] == "cbd-archive/1" and man["created"] == 1700000000
for e in man["members"]:
    assert e["size"] == len(data[e["name"]])
    assert e["sha256"] == hashlib.sha256(data[e["name"]]).hexdigest()
# The signature verifies with an independent implementation.
from cryptography.hazmat.primitives import serialization
import base64
sig = data["manifest.sig"].decode().split("\n")
assert sig[0] == "cbd-sig/1 key " + man["signer"]["key_id"]
pub = serialization.load_pem_public_key(open("owner.pub", "rb").read())
pub.verify(base64.b64decode(sig[1]), data["manifest.json"])
PY
}

@test "a P-256 owner key signs archives too (r||s, checked independently)" {
	cbd-keygen owner p -t p256 >/dev/null
	run cbd-embed "$MODEL" -m watermark -k p.key -o p.cbd
	[ "$status" -eq 0 ]
	run cbd-verify p.cbd --key p.pub
	[ "$status" -eq 0 ]
	[[ "$output" == *"(p256)  OK"* ]]
	$PY - <<'PY'
import base64, gzip, io, tarfile
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(open("p.cbd", "rb").read())))
man = t.extractfile("manifest.json").read()
sig = base64.b64decode(t.extractfile("manifest.sig").read().split(b"\n")[1])
assert len(sig) == 64
der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
pub = serialization.load_pem_public_key(open("p.pub", "rb").read())
pub.verify(der, man, ec.ECDSA(hashes.SHA256()))
PY
}

@test "the canonical bytes of formats/archive.md, rebuilt independently" {
	# ustar headers written field by field from the spec's table, deflate
	# with the spec's zlib parameters: the result must be w.cbd exactly.
	$PY - <<'PY'
import gzip, io, tarfile, zlib
old = open("w.cbd", "rb").read()
t = tarfile.open(fileobj=io.BytesIO(gzip.decompress(old)))
members = [(i.name, t.extractfile(i).read()) for i in t.getmembers()]
def header(name, size, mtime):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"000644 \0"; h[108:116] = b"000000 \0"; h[116:124] = b"000000 \0"
    h[124:136] = b"%011o " % size; h[136:148] = b"%011o " % mtime
    h[148:156] = b" " * 8; h[156:157] = b"0"
    h[257:263] = b"ustar\0"; h[263:265] = b"00"
    h[329:337] = b"000000 \0"; h[337:345] = b"000000 \0"
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)
tar = b""
for name, data in members:
    tar += header(name, len(data), 1700000000) + data + bytes(-len(data) % 512)
tar += bytes(1024)
z = zlib.compressobj(9, zlib.DEFLATED, -15)
new = (bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]) + z.compress(tar) + z.flush()
       + zlib.crc32(tar).to_bytes(4, "little") + len(tar).to_bytes(4, "little"))
assert [n for n, _ in members] == ["circuit.json", "manifest.json", "manifest.sig", "model.onnx"]
assert new == old, "independent encoding differs from cbd-embed's"
PY
}

@test "flipping a byte anywhere is refused" {
	size=$(stat -c %s w.cbd)
	for off in 0 1 3 4 8 9 10 11 50 500 5000 20000 $((size / 2)) \
		$((size - 200)) $((size - 9)) $((size - 8)) $((size - 5)) $((size - 1)); do
		$PY -c '
import sys
b = bytearray(open("w.cbd", "rb").read()); o = int(sys.argv[1])
b[o] ^= 0x01
open("bad.cbd", "wb").write(b)' "$off"
		run cbd-verify bad.cbd --key owner.pub
		if [ "$status" -eq 0 ]; then
			echo "flip at $off accepted"
			return 1
		fi
		[[ "$output" != *"bad.cbd: OK"* ]]
		[ "${#lines[@]}" -eq 1 ]   # one error line
	done
}

@test "truncated archive and trailing data are refused" {
	size=$(stat -c %s w.cbd)
	for n in 0 5 10 100 $((size / 2)) $((size - 8)) $((size - 1)); do
		head -c "$n" w.cbd > t.cbd
		run cbd-verify t.cbd
		[ "$status" -ne 0 ]
		[ "$status" -ne 1 ] || [[ "$output" == *"error"* ]]
	done
	head -c "$((size - 1))" w.cbd > t.cbd
	run cbd-verify t.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"truncated"* ]]
	{ cat w.cbd; printf 'x'; } > t.cbd
	run cbd-verify t.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"unexpected bytes after"* ]]
	# A second gzip member after the first is trailing data too.
	{ cat w.cbd; gzip -c < /dev/null; } > t.cbd
	run cbd-verify t.cbd
	[ "$status" -eq 65 ]
}

@test "re-compressed with other gzip settings: refused as non-canonical" {
	gzip -dc < w.cbd | gzip -1 -n > r.cbd
	run cbd-verify r.cbd
	[ "$status" -eq 65 ]
	gzip -dc < w.cbd | $PY -c '
import sys, zlib
raw = sys.stdin.buffer.read()
z = zlib.compressobj(9, zlib.DEFLATED, -15, 9)  # memLevel 9: other deflate bytes
body = z.compress(raw) + z.flush()
sys.stdout.buffer.write(bytes([0x1f,0x8b,8,0,0,0,0,0,2,3]) + body + zlib.crc32(raw).to_bytes(4,"little") + len(raw).to_bytes(4,"little"))' > r.cbd
	cmp -s r.cbd w.cbd && skip "zlib produced identical bytes"
	run cbd-verify r.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"canonical"* ]]
}

@test "python-repacked but unchanged members: only the tar framing differs" {
	echo "pass" | repack
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"not in canonical form"* ]]
}

@test "path traversal member is refused" {
	repack <<'PY'
m["../model.onnx"] = m.pop("model.onnx")
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *'".."'*"../model.onnx"* ]]
	repack <<'PY'
m["/tmp/model.onnx"] = m.pop("model.onnx")
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"absolute member path"* ]]
}

@test "symlink and hard link members are refused" {
	repack <<'PY'
entries = []
for name in sorted(m):
    ti = tarfile.TarInfo(name); ti.mtime = 1700000000
    if name == "model.onnx":
        ti.type = tarfile.SYMTYPE; ti.linkname = "/etc/passwd"; entries.append((ti, None))
    else:
        ti.size = len(m[name]); entries.append((ti, m[name]))
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"symbolic link member (model.onnx"* ]]
	repack <<'PY'
entries = []
for name in sorted(m):
    ti = tarfile.TarInfo(name); ti.mtime = 1700000000
    if name == "model.onnx":
        ti.type = tarfile.LNKTYPE; ti.linkname = "circuit.json"; entries.append((ti, None))
    else:
        ti.size = len(m[name]); entries.append((ti, m[name]))
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"hard link member (model.onnx"* ]]
}

@test "duplicate, extra, missing and device members are refused" {
	repack <<'PY'
entries = []
for name in sorted(m) + ["model.onnx"]:
    ti = tarfile.TarInfo(name); ti.size = len(m[name]); ti.mtime = 1700000000
    entries.append((ti, m[name]))
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"duplicate member (model.onnx"* ]]
	repack <<'PY'
m["README"] = b"hello"
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"unexpected member (README"* ]]
	repack <<'PY'
del m["circuit.json"]
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"missing member (circuit.json"* ]]
	repack <<'PY'
entries = []
for name in sorted(m):
    ti = tarfile.TarInfo(name); ti.mtime = 1700000000
    if name == "manifest.sig":
        ti.type = tarfile.CHRTYPE; ti.devmajor = 1; ti.devminor = 3; entries.append((ti, None))
    else:
        ti.size = len(m[name]); entries.append((ti, m[name]))
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"device member (manifest.sig"* ]]
}

@test "a member claiming a size past its cap is refused before reading" {
	repack <<'PY'
entries = []
for name in sorted(m):
    ti = tarfile.TarInfo(name); ti.mtime = 1700000000; ti.size = len(m[name])
    entries.append((ti, m[name]))
# manifest.json may be at most 1 MiB: claim 2 MiB (and provide it).
entries[1][0].size = 2 << 20
entries[1] = (entries[1][0], m["manifest.json"] + b" " * ((2 << 20) - len(m["manifest.json"])))
PY
	run cbd-verify out.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"member larger than 1048576 bytes (manifest.json)"* ]]
}

@test "gzip bomb: refused at the decompressed-size cap" {
	$PY - <<'PY'
import zlib
z = zlib.compressobj(1, zlib.DEFLATED, -15)
chunk = bytes(1 << 20)
body = b"".join(z.compress(chunk) for _ in range(600)) + z.flush()
crc = 0
for _ in range(600):
    crc = zlib.crc32(chunk, crc)
open("bomb.cbd", "wb").write(bytes([0x1f,0x8b,8,0,0,0,0,0,2,3]) + body + crc.to_bytes(4,"little") + ((600 << 20) & 0xffffffff).to_bytes(4,"little"))
PY
	[ "$(stat -c %s bomb.cbd)" -lt 8000000 ]
	run cbd-verify bomb.cbd
	[ "$status" -eq 65 ]
	[[ "$output" == *"decompresses to more than"* ]]
}

@test "manifest re-signed by the owner but lying about sizes: refused" {
	repack <<'PY'
man = json.loads(m["manifest.json"])
man["members"][1]["size"] += 1
m["manifest.json"] = json.dumps(man, indent=2).encode() + b"\n"
m["manifest.sig"] = sign(m["manifest.json"])
PY
	run cbd-verify out.cbd --key owner.pub
	[ "$status" -eq 1 ]
	[[ "$output" == *"model.onnx is 120385 bytes, the manifest says 120386"* ]]
	# ... or about the model's digest, with a swapped model.
	repack <<'PY'
m["model.onnx"] = m["model.onnx"][:-1] + bytes([m["model.onnx"][-1] ^ 1])
PY
	run cbd-verify out.cbd
	[ "$status" -eq 1 ]
	[[ "$output" == *"model.onnx does not match its SHA-256"* ]]
}

@test "manifest edited without the key: signature refused" {
	repack <<'PY'
m["manifest.json"] = m["manifest.json"].replace(b'"watermark"', b'"auth"')
PY
	run cbd-verify out.cbd
	[ "$status" -eq 1 ]
	[[ "$output" == *"manifest signature by key $OWNER_ID does not verify"* ]]
}

@test "unknown file kinds are refused clearly" {
	run cbd-verify "$MODEL"
	[ "$status" -eq 65 ]
	[[ "$output" == *"unknown file kind"* ]]
	echo '{"format":"cbd-other/1"}' > x.json
	run cbd-verify x.json
	[ "$status" -eq 65 ]
	[[ "$output" == *"unknown file kind"* ]]
	run cbd-verify missing.cbd
	[ "$status" -eq 66 ]
	run cbd-verify
	[ "$status" -eq 64 ]
}

@test "cbd-verify on a trigger set: signature, --key, tampering" {
	cbd-sign triggers -a w.cbd -k owner.key --from "$DIGITS" -n 4 -o t.json -q
	run cbd-verify t.json --key owner.pub --info
	[ "$status" -eq 0 ]
	[[ "$output" == *"signature by key $OWNER_ID  OK"* ]]
	[[ "$output" == *"mode watermark"*"4 triggers"* ]]
	[[ "${lines[-1]}" == "t.json: OK, signed by $OWNER_ID" ]]
	run cbd-verify t.json --key other.pub
	[ "$status" -eq 1 ]
	[[ "$output" == *"not signed by $OTHER_ID"* ]]
	# One changed byte of the set (or of its signature): refused.
	sed 's/"payload":\([0-9]\)/"payload":1\1/' t.json > t2.json
	cp t.json.sig t2.json.sig
	cmp -s t.json t2.json && skip "no payload to change"
	run cbd-verify t2.json
	[ "$status" -ne 0 ]
	[[ "$output" != *"OK"* ]]
	cp t.json t3.json
	$PY -c '
b = bytearray(open("t.json.sig", "rb").read()); b[len(b) // 2] ^= 1
open("t3.json.sig", "wb").write(b)'
	run cbd-verify t3.json
	[ "$status" -ne 0 ]
	[[ "$output" != *"OK"* ]]
}
