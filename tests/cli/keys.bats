#!/usr/bin/env bats
# keys.bats — cbd-keygen: files and modes, key ids, passphrases, the
# keyring (add, duplicate, permissions, hostile input), refusals and exit
# codes.  Real OpenSSL keys; python3-cryptography checks interoperability.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

mode() { stat -c %a "$1"; }

@test "owner key pair: files, modes, key id printed" {
	run cbd-keygen owner
	[ "$status" -eq 0 ]
	[ -f owner.key ] && [ -f owner.pub ]
	[ "$(mode owner.key)" = 600 ]
	[ "$(mode owner.pub)" = 644 ]
	grep -q -- "-----BEGIN PRIVATE KEY-----" owner.key
	grep -q -- "-----BEGIN PUBLIC KEY-----" owner.pub
	# The printed key id is SHA-256 of the SPKI DER, first 16 hex digits.
	id=$(openssl pkey -pubin -in owner.pub -outform DER | sha256sum | cut -c1-16)
	[[ "$output" == *"key $id (ed25519)"* ]]
	openssl pkey -in owner.key -noout
}

@test "options after operands, --out-dir, p256, --json" {
	mkdir k
	run cbd-keygen investigator inv --out-dir k -t p256 --json
	[ "$status" -eq 0 ]
	[ -f k/inv.key ] && [ -f k/inv.pub ]
	openssl pkey -in k/inv.key -noout -text | grep -q "prime256v1\|P-256"
	echo "$output" | $PY -c 'import json,sys; d=json.load(sys.stdin); assert d["type"]=="p256" and d["private_key"]=="k/inv.key" and len(d["key_id"])==16'
}

@test "refuses to overwrite without --force, and --force replaces" {
	cbd-keygen owner
	old=$(cat owner.pub)
	run cbd-keygen owner
	[ "$status" -eq 73 ]
	[[ "$output" == *"already exists"*"--force"* ]]
	[ "$(cat owner.pub)" = "$old" ]
	run cbd-keygen owner --force
	[ "$status" -eq 0 ]
	[ "$(cat owner.pub)" != "$old" ]
	[ "$(mode owner.key)" = 600 ]
}

@test "passphrase-encrypted key: scrypt PBES2, readable with the passphrase only" {
	printf 'hunter2\n' > pass
	run cbd-keygen owner --passphrase-file pass
	[ "$status" -eq 0 ]
	[[ "$output" == *"encrypted"* ]]
	grep -q -- "-----BEGIN ENCRYPTED PRIVATE KEY-----" owner.key
	openssl asn1parse -in owner.key | grep -q ":scrypt"
	openssl pkey -in owner.key -passin pass:hunter2 -noout
	! openssl pkey -in owner.key -passin pass:wrong -noout 2>/dev/null
	# Same public key inside (python3-cryptography reads it too).
	$PY -c '
from cryptography.hazmat.primitives import serialization as s
k = s.load_pem_private_key(open("owner.key","rb").read(), b"hunter2")
p = s.load_pem_public_key(open("owner.pub","rb").read())
f = lambda x: x.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
assert f(k.public_key()) == f(p)'
}

@test "empty passphrase file and no terminal are usage/data errors" {
	: > empty
	run cbd-keygen owner --passphrase-file empty
	[ "$status" -eq 65 ]
	[ ! -e owner.key ]
	run cbd-keygen owner --ask-passphrase < /dev/null
	[ "$status" -eq 64 ]
	[ ! -e owner.key ]
}

@test "usage errors: role, id, type, misplaced options" {
	run cbd-keygen
	[ "$status" -eq 64 ]
	run cbd-keygen admin
	[ "$status" -eq 64 ]
	run cbd-keygen user
	[ "$status" -eq 64 ]
	[[ "$output" == *"needs an ID"* ]]
	run cbd-keygen user ../evil
	[ "$status" -eq 64 ]
	run cbd-keygen owner -t rsa
	[ "$status" -eq 64 ]
	run cbd-keygen owner -K ring
	[ "$status" -eq 64 ]
	run cbd-keygen owner a b
	[ "$status" -eq 64 ]
	[ -z "$(ls)" ]
}

@test "JSON keyring (format 1): users added sorted, 0600, duplicate refused, keys beside it" {
	mkdir keys
	run cbd-keygen user zoe -K keys/users.json
	[ "$status" -eq 0 ]
	run cbd-keygen user alice -K keys/users.json -t p256 --json
	[ "$status" -eq 0 ]
	[ -f keys/alice.key ] && [ -f keys/zoe.pub ]
	[ "$(mode keys/users.json)" = 600 ]
	$PY - keys/users.json <<'PY'
import json, sys, hashlib, subprocess
d = json.load(open(sys.argv[1]))
assert d["format"] == "cbd-keyring/1"
ids = [u["id"] for u in d["users"]]
assert ids == ["alice", "zoe"], ids
for u in d["users"]:
    assert len(bytes.fromhex(u["trace_secret"])) == 32
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=u["public_key"].encode(), capture_output=True).stdout
    assert hashlib.sha256(der).hexdigest()[:16] == u["key_id"]
assert d["users"][0]["trace_secret"] != d["users"][1]["trace_secret"]
PY
	before=$(sha256sum keys/users.json)
	run cbd-keygen user alice -K keys/users.json --force
	[ "$status" -eq 65 ]
	[[ "$output" == *"already in the keyring"* ]]
	[ "$(sha256sum keys/users.json)" = "$before" ]
}

@test "keyring: add an existing public key with --public" {
	cbd-keygen user carol -d carol-home
	run cbd-keygen user carol -K ring.json --public carol-home/carol.pub
	[ "$status" -eq 0 ]
	[ ! -e carol.key ]
	grep -q '"id": "carol"' ring.json
}

@test "keyring readable by others is refused like a private key" {
	cbd-keygen user amy -K ring
	chmod 644 ring
	run cbd-keygen user bob -K ring
	[ "$status" -eq 77 ]
	[[ "$output" == *"chmod 600"* ]]
	[ ! -e bob.key ]
}

@test "hostile keyring: malformed JSON, bad ids, wrong key id are refused" {
	printf '{"format":"cbd-keyring/1","users":[' > ring
	chmod 600 ring
	run cbd-keygen user bob -K ring
	[ "$status" -eq 65 ]
	[ ! -e bob.key ]
	cbd-keygen user amy -K good.json
	sed 's/"id": "amy"/"id": "..\/..\/amy"/' good.json > ring
	chmod 600 ring
	run cbd-keygen user bob -K ring
	[ "$status" -eq 65 ]
	sed -E 's/"key_id": "[0-9a-f]+"/"key_id": "0000000000000000"/' good.json > ring
	chmod 600 ring
	run cbd-keygen user bob -K ring
	[ "$status" -eq 65 ]
	[[ "$output" == *"key_id"* ]]
	$PY -c 'print("{\"format\":\"cbd-keyring/1\",\"users\":[" + "["*100000 + "]"*100000 + "]}")' > ring
	run cbd-keygen user bob -K ring
	[ "$status" -eq 65 ]
}

@test "a failed keyring write leaves no key files behind" {
	cbd-keygen user amy -K ring
	cbd-keygen user ann -K ring
	before=$(sha256sum ring)
	# Files up to 1 KiB: the two key files fit, the keyring grown to three
	# users does not (write fails with EFBIG once SIGXFSZ is ignored).
	run bash -c "trap '' XFSZ; ulimit -f 1; cbd-keygen user bob -K ring"
	[ "$status" -eq 74 ]
	[ ! -e bob.key ] && [ ! -e bob.pub ]
	[ "$(sha256sum ring)" = "$before" ]
	[ -z "$(ls | grep tmp)" ]
}
