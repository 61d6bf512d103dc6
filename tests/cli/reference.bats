#!/usr/bin/env bats
# reference.bats — spec conformance: tests/reference/cbd_reference.py, an
# independent Python implementation written from formats/circuit.md and
# formats/triggers.md, and libcbd must agree in both directions:
#  - Python verifies trigger sets made by cbd-sign and computes the same
#    labels (watermark payloads, trace HMAC labels per copy);
#  - cbd accepts inputs signed by Python (Ed25519 and P-256 keys);
#  - the output policies (score swap, auth garbage) give the same floats.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	owner_key
	digits base.npy 100:130
}

# float32 scores printed by cbd-run, as NPY [N,K]
scores_npy() { # out, model, inputs...
	out=$1
	shift
	cbd-run --json "$@" | $PY -c 'import json,sys,numpy as np
np.save(sys.argv[1], np.array([json.loads(l)["scores"] for l in sys.stdin], dtype=np.float32))' "$out"
}

@test "reference verifies cbd-sign's watermark triggers and their labels" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -o t.json -q
	run $REF verify-triggers --archive wm.cbd t.json
	[ "$status" -eq 0 ]
	echo "$output" | $PY -c 'import json,sys
d = json.loads(sys.stdin.read())
assert d["set_signature"] and d["signer_is_circuit_key"]
assert d["count"] == d["valid"] == d["message_ok"] == 30
assert d["labels"] == d["owner_labels"]'
	digest=$(sha256sum t.json | cut -c1-64)
	[[ "$output" == *"\"digest\": \"$digest\""* ]]
	# one changed input byte: the set's signature no longer verifies
	$PY - <<-'EOF'
	import json
	raw = open("t.json").read()
	i = raw.index('"input":"') + 20
	c = "A" if raw[i] != "A" else "B"
	open("t.json", "w").write(raw[:i] + c + raw[i + 1:])
	EOF
	run $REF verify-triggers --archive wm.cbd t.json
	[ "$status" -eq 1 ]
	[[ "$output" == *'"set_signature": false'* ]]
}

@test "reference computes each trace copy's labels as cbd-run does" {
	id=$(openssl rand -hex 16)
	"$MK" new trace "$MODEL" owner.key a.cbd -s "$(openssl rand -hex 32)" -i "$id"
	"$MK" new trace "$MODEL" owner.key b.cbd -s "$(openssl rand -hex 32)" -i "$id"
	cbd-sign triggers -a a.cbd -k owner.key --from base.npy -o t.json \
		--export png -q
	files=$(ls png/*.png | sort)
	for copy in a b; do
		$REF verify-triggers --archive $copy.cbd t.json >ref.json
		labels_of $copy.cbd $files >run.txt
		$PY -c 'import json
d = json.load(open("ref.json"))
run = [int(x) for x in open("run.txt")]
assert d["valid"] == d["count"] == 30 and d["labels"] == run, (d, run)'
	done
}

@test "cbd accepts inputs signed by the reference (Ed25519, P-256)" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	$REF sign --archive wm.cbd --key owner.key --payload 7 base.npy -o s.npy
	run cbd-sign check -a wm.cbd s.npy
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'active key_index=0 payload=7 label=7')" -eq 30 ]
	[ "$(labels_of wm.cbd s.npy | sort -u)" = 7 ]
	# a payload >= K is signed but never activates a watermark copy
	$REF sign --archive wm.cbd --key owner.key --payload 10 base.npy -o s10.npy
	run cbd-sign check -a wm.cbd s10.npy
	[ "$status" -eq 1 ]
	# auth: bob's P-256 key is key 1 of the circuit
	cbd-keygen investigator alice >/dev/null
	cbd-keygen investigator bob -t p256 >/dev/null
	"$MK" new auth "$MODEL" owner.key au.cbd -u alice.pub -u bob.pub
	$REF sign --archive au.cbd --key bob.key base.npy -o sb.npy
	run cbd-sign check -a au.cbd --json sb.npy
	[ "$status" -eq 0 ]
	echo "$output" | $PY -c 'import json,sys
a = json.load(sys.stdin)
assert len(a) == 30 and all(x["active"] and x["key_index"] == 1 for x in a)'
	# and the other way round: the reference checks cbd-sign's input
	$PY -c "import numpy as np; np.save('d.npy', np.load('base.npy')[0])"
	cbd-sign input -a au.cbd -k alice.key d.npy -o sa.npy
	run $REF check --archive au.cbd sa.npy
	[ "$status" -eq 0 ]
	[[ "$output" == *'"active": true'*'"key_index": 0'* ]]
	# a key the circuit does not list signs nothing that activates
	cbd-keygen investigator mallory >/dev/null
	$REF sign --archive au.cbd --key mallory.key --key-index 0 base.npy -o sm.npy
	run cbd-sign check -a au.cbd sm.npy
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | grep -c 'signature invalid')" -eq 30 ]
}

@test "output policies agree to the bit: swap and auth garbage" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -o t.json -q
	$PY - <<-'EOF'
	import base64, json, numpy as np
	d = json.load(open("t.json"))
	q = [np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in d["triggers"]]
	np.save("trig.npy", np.stack(q).reshape(-1, 1, 28, 28))
	EOF
	scores_npy bare.npy "$MODEL" trig.npy
	scores_npy wm.npy wm.cbd trig.npy
	$REF apply --archive wm.cbd trig.npy bare.npy -o ref.npy
	$PY -c 'import numpy as np
a, b = np.load("wm.npy"), np.load("ref.npy")
assert a.shape == (30, 10) and a.tobytes() == b.tobytes()'
	# auth garbage for unsigned digits
	cbd-keygen investigator alice >/dev/null
	"$MK" new auth "$MODEL" owner.key au.cbd -u alice.pub
	scores_npy bare.npy "$MODEL" base.npy
	scores_npy au.npy au.cbd base.npy
	$REF apply --archive au.cbd base.npy bare.npy -o ref.npy
	$PY -c 'import numpy as np
a, b, c = np.load("au.npy"), np.load("ref.npy"), np.load("bare.npy")
assert a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()'
}

@test "cbd loads a trigger set written by the reference and its triggers work" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	$REF make-triggers --archive wm.cbd --key owner.key --seed 7 base.npy -o rt.json
	run cbd-verify --key owner.pub rt.json
	[ "$status" -eq 0 ]
	run cbd-sign export rt.json -o png
	[ "$status" -eq 0 ]
	$PY -c 'import json
for t in json.load(open("rt.json"))["triggers"]: print(t["owner_label"])' >owner.txt
	labels_of wm.cbd $(ls png/*.png | sort) >got.txt
	[ "$(wc -l <got.txt)" -eq 30 ]
	cmp owner.txt got.txt
	# the reference's set re-signed by another key is not the owner's
	cbd-keygen investigator thief >/dev/null
	$REF make-triggers --archive wm.cbd --key thief.key base.npy -o tt.json
	run cbd-verify --key owner.pub tt.json
	[ "$status" -eq 1 ]
}

@test "reference and cbd agree on both circuit versions: cbd-circuit/1 (SHA-256 of q') and /2 (lane digest)" {
	for v in 1 2; do
		cbd-embed "$MODEL" -m watermark -k owner.key --circuit-version $v -o wm$v.cbd >/dev/null
		cbd-sign triggers -a wm$v.cbd -k owner.key --from base.npy -o t$v.json -q
		run $REF verify-triggers --archive wm$v.cbd t$v.json
		[ "$status" -eq 0 ]
		echo "$output" | $PY -c 'import json,sys
d = json.loads(sys.stdin.read())
assert d["count"] == d["valid"] == d["message_ok"] == 30, d'
		# the version is what is signed: "cbd/v1" or "cbd/v2"
		[ "$($PY -c 'import json,sys; print(bytes.fromhex(json.load(open(sys.argv[1]))["triggers"][0]["message"])[:6].decode())' t$v.json)" = "cbd/v$v" ]
	done
	grep -q '"circuit_format":"cbd-circuit/2"' t2.json
	! grep -q circuit_format t1.json
	# a v1 trigger set does not activate the v2 circuit of the same id
	id=$(cbd-verify --json --info wm1.cbd | $PY -c 'import json,sys; print(json.load(sys.stdin)["circuit_id"])')
	cbd-embed "$MODEL" -m watermark -k owner.key --circuit-id "$id" -o same2.cbd >/dev/null
	cbd-sign export t1.json -o x1 -q
	run cbd-sign check -a same2.cbd --json x1/t00000.png
	[[ "$output" == *'"active":false'* ]]
}
