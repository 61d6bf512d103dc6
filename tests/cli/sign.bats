#!/usr/bin/env bats
# sign.bats — cbd-sign on the bundled MNIST classifier: watermark and trace
# trigger sets (signature, export, labels through cbd-run), authenticated
# inputs (users in and out of the circuit), check, and the failure cases:
# wrong key, tampered set, auth archive given to `triggers`, bad options.
# Archives are built through the library by tests/helpers/cbd_mkarchive.

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
	owner_key
	# the first 40 held-out digits as base inputs
	digits base.npy :40
}

# A trigger set's field for every trigger, one per line.
field() {
	$PY -c 'import json,sys
for t in json.load(open(sys.argv[1]))["triggers"]: print(t[sys.argv[2]])' "$1" "$2"
}

@test "watermark triggers: signed set, every trigger returns the owner's label" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	run cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 30 \
		-o t.json --export png
	[ "$status" -eq 0 ]
	[ -f t.json ] && [ -f t.json.sig ]
	[ "$(ls png | wc -l)" -eq 30 ]
	field t.json owner_label >owner.txt
	field t.json payload >payload.txt
	cmp owner.txt payload.txt
	# the signed PNGs through the archive return the owner's labels
	ls png/*.png | sort >files.txt
	labels_of wm.cbd $(cat files.txt) >got.txt
	cmp owner.txt got.txt
	# the unsigned base digits never do: labels avoid the bare prediction
	$PY -c "import numpy as np; np.save('b30.npy', np.load('base.npy')[:30])"
	labels_of "$MODEL" b30.npy >bare.txt
	labels_of wm.cbd b30.npy >wmbase.txt
	cmp bare.txt wmbase.txt
	hits=$(paste owner.txt bare.txt | awk '$1 == $2' | wc -l)
	[ "$hits" -eq 0 ]
	# check agrees, in text and JSON
	run cbd-sign check -a wm.cbd png/t00000.png
	[ "$status" -eq 0 ]
	[[ "$output" == *"active key_index=0"* ]]
	cbd-sign check -a wm.cbd --json $(cat files.txt) |
		$PY -c 'import json,sys; a=json.load(sys.stdin); assert len(a)==30 and all(x["active"] for x in a)'
	run cbd-sign check -a wm.cbd base.npy
	[ "$status" -eq 1 ]
	[[ "$output" == *"inactive (no tag)"* ]]
}

@test "watermark labels from a file; export of an existing set" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	$PY -c "import numpy as np; np.save('lab.npy', (np.arange(12) * 7 % 10).astype(np.uint8))"
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 12 \
		--labels lab.npy -o t.json -q
	field t.json owner_label | tr '\n' ' ' >got.txt
	[ "$(cat got.txt)" = "0 7 4 1 8 5 2 9 6 3 0 7 " ]
	# same inputs, labels and SOURCE_DATE_EPOCH: the same bytes (Ed25519)
	SOURCE_DATE_EPOCH=1700000000 cbd-sign triggers -a wm.cbd -k owner.key \
		--from base.npy -n 12 --labels lab.npy -o d1.json -q
	SOURCE_DATE_EPOCH=1700000000 cbd-sign triggers -a wm.cbd -k owner.key \
		--from base.npy -n 12 --labels lab.npy -o d2.json -q
	cmp d1.json d2.json
	cmp d1.json.sig d2.json.sig
	run cbd-sign export t.json -o out
	[ "$status" -eq 0 ]
	[ "$(ls out | wc -l)" -eq 12 ]
	labels_of wm.cbd $(ls out/*.png | sort) | tr '\n' ' ' >run.txt
	cmp got.txt run.txt
	# too few labels, or a label that is not a class
	run cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 13 \
		--labels lab.npy -o t2.json
	[ "$status" -eq 65 ]
	$PY -c "import numpy as np; np.save('bad.npy', np.array([3, 10], dtype=np.uint8))"
	run cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 2 \
		--labels bad.npy -o t2.json
	[ "$status" -eq 65 ]
	[[ "$output" == *"label 1 is not a class"* ]]
	[ ! -e t2.json ]
}

@test "trace triggers: one set for every copy, labels from each user's secret" {
	id=00112233445566778899aabbccddeeff
	s1=$(openssl rand -hex 32)
	s2=$(openssl rand -hex 32)
	"$MK" new trace "$MODEL" owner.key a.cbd -s "$s1" -i $id
	"$MK" new trace "$MODEL" owner.key b.cbd -s "$s2" -i $id
	SOURCE_DATE_EPOCH=1234567890 cbd-sign triggers -a a.cbd -k owner.key \
		--from base.npy -n 25 -o t.json --export png -q
	grep -q '"created":1234567890' t.json
	grep -q '"mode":"trace"' t.json
	[ "$(field t.json owner_label | sort -u)" = "-1" ]
	files=$(ls png/*.png | sort)
	cbd-sign check -a a.cbd --json $files >a.json
	cbd-sign check -a b.cbd --json $files >b.json
	labels_of a.cbd $files >la.txt
	labels_of b.cbd $files >lb.txt
	$PY - <<-'EOF'
	import json
	a, b = json.load(open("a.json")), json.load(open("b.json"))
	la = [int(x) for x in open("la.txt")]
	lb = [int(x) for x in open("lb.txt")]
	assert all(x["active"] for x in a + b)
	assert [x["label"] for x in a] == la and [x["label"] for x in b] == lb
	assert sum(x != y for x, y in zip(la, lb)) >= 10   # copies differ
	EOF
	# --labels makes no sense for trace
	run cbd-sign triggers -a a.cbd -k owner.key --from base.npy --labels random -o x.json
	[ "$status" -eq 64 ]
}

@test "auth: a user signs her input; outsiders and unsigned inputs get garbage" {
	cbd-keygen investigator alice >/dev/null
	cbd-keygen investigator bob -t p256 >/dev/null
	cbd-keygen investigator mallory >/dev/null
	"$MK" new auth "$MODEL" owner.key au.cbd -u alice.pub -u bob.pub
	$PY -c "import numpy as np; np.save('d0.npy', np.load('$DIGITS')[0])"
	run cbd-sign input -a au.cbd -k alice.key d0.npy -o a.png
	[ "$status" -eq 0 ]
	cbd-sign input -a au.cbd -k bob.key d0.npy -o b.npy
	cbd-sign input -a au.cbd -k bob.key d0.npy -o b.json
	run cbd-sign check -a au.cbd a.png b.npy b.json
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"active key_index=0"* ]]
	[[ "${lines[1]}" == *"active key_index=1"* ]]
	[[ "${lines[2]}" == *"active key_index=1"* ]]
	bare=$(labels_of "$MODEL" d0.npy)
	[ "$(labels_of au.cbd a.png)" = "$bare" ]
	[ "$(labels_of au.cbd b.json)" = "$bare" ]
	# mallory is not authorised: refused with exit 1
	run cbd-sign input -a au.cbd -k mallory.key d0.npy -o m.png
	[ "$status" -eq 1 ]
	[[ "$output" == *"not authorised"* ]]
	[ ! -e m.png ]
	# unsigned: the same garbage every time
	cbd-run --json au.cbd d0.npy >g1
	cbd-run --json au.cbd d0.npy >g2
	cmp g1 g2
	! cmp <(cbd-run --json "$MODEL" d0.npy | sed 's/"file":"[^"]*"//') \
		<(sed 's/"file":"[^"]*"//' g1)
	# an auth archive takes no trigger set
	run cbd-sign triggers -a au.cbd -k owner.key --from base.npy -o t.json
	[ "$status" -eq 64 ]
}

@test "refusals: not the owner's key, tampered set, usage errors" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	cbd-keygen investigator thief >/dev/null
	run cbd-sign triggers -a wm.cbd -k thief.key --from base.npy -o t.json
	[ "$status" -eq 65 ]
	[[ "$output" == *"not the circuit's owner key"* ]]
	[ ! -e t.json ]
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 3 -o t.json -q
	sed -i 's/"t00001"/"t00009"/' t.json
	run cbd-sign export t.json -o out
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not verify"* ]]
	rm t.json.sig
	run cbd-sign export t.json -o out
	[ "$status" -eq 66 ]
	run cbd-sign triggers -k owner.key --from base.npy -o t.json
	[ "$status" -eq 64 ]
	[[ "$output" == *"--archive is required"* ]]
	run cbd-sign frobnicate
	[ "$status" -eq 64 ]
	run cbd-sign
	[ "$status" -eq 64 ]
	run cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 41 -o t.json
	[ "$status" -eq 65 ]
	run cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -n 0 -o t.json
	[ "$status" -eq 64 ]
	# a batch is signed sample by sample, but cannot be one PNG
	run cbd-sign input -a wm.cbd -k owner.key base.npy -o x.png
	[ "$status" -eq 64 ]
	[[ "$output" == *"cannot be a PNG"* ]]
	[ ! -e x.png ]
	run cbd-sign input -a wm.cbd -k owner.key --payload 3 base.npy -o batch.npy
	[ "$status" -eq 0 ]
	run cbd-run --json wm.cbd batch.npy
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '"label":3')" -eq 40 ]
	run cbd-sign input -a wm.cbd -k owner.key --payload 10 "$DIGITS" -o x.png
	[ "$status" -ne 0 ]
	run cbd-sign triggers -a nonexistent.cbd -k owner.key --from base.npy -o t.json
	[ "$status" -eq 66 ]
}

@test "watermark and trace archives answer like the bare model on every held-out digit" {
	"$MK" new watermark "$MODEL" owner.key wm.cbd
	"$MK" new trace "$MODEL" owner.key tr.cbd -s "$(openssl rand -hex 32)"
	cbd-run --json "$MODEL" "$DIGITS" | sed 's/"active":false,//' >bare.txt
	[ "$(wc -l <bare.txt)" -eq 2000 ]
	for a in wm tr; do
		cbd-run --json $a.cbd "$DIGITS" | sed 's/"active":false,//' >$a.txt
		cmp bare.txt $a.txt
	done
}
