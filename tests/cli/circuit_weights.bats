#!/usr/bin/env bats
# circuit_weights.bats — the circuit is independent of the classifier's
# weights.  A thief takes the owner's watermarked MNIST archive, rewrites
# the weights (Gaussian noise, 50% magnitude pruning, int8 round trip;
# tests/helpers/rewrite_weights.py with python3-onnx) and re-packs the copy
# under her own key through the archive API (cbd_mkarchive repack).  The
# owner's triggers still return her labels 100% of the time while clean
# behaviour moves, and cbd-verify --key OWNER.pub says the owner did not
# sign the copy.

load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	owner_key
	cbd-keygen investigator thief >/dev/null
	cbd-embed "$MODEL" -m watermark -k owner.key -o own.cbd >/dev/null
	digits base.npy :100
	cbd-sign triggers -a own.cbd -k owner.key --from base.npy -o t.json \
		--export png -q
	ls png/*.png | sort >files.txt
	$PY -c 'import json
for t in json.load(open("t.json"))["triggers"]: print(t["owner_label"])' >owner.txt
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

steal() { # how
	$PY "$CBD_TOP/tests/helpers/rewrite_weights.py" "$1" "$MODEL" "$1.onnx"
	"$MK" repack own.cbd "$1.onnx" thief.key "stolen-$1.cbd"
}

check_stolen() { # how
	steal "$1"
	# triggers: 100% of the owner's labels
	labels_of "stolen-$1.cbd" $(cat files.txt) >got.txt
	cmp owner.txt got.txt
	# clean behaviour moved: other scores on held-out digits
	cbd-run --json own.cbd "$DIGITS" | sed 's/"file":"[^"]*"//' >a.txt
	cbd-run --json "stolen-$1.cbd" "$DIGITS" | sed 's/"file":"[^"]*"//' >b.txt
	! cmp -s a.txt b.txt
	cbd-run -q -l "$LABELS" "stolen-$1.cbd" "$DIGITS" | sed "s/^/# $1: /" >&3
	# the archive is intact but not the owner's
	run cbd-verify stolen-$1.cbd
	[ "$status" -eq 0 ]
	run cbd-verify --key owner.pub "stolen-$1.cbd"
	[ "$status" -eq 1 ]
	[[ "$output" == *"not signed by"* ]]
}

@test "owner's archive: triggers return her labels, cbd-verify accepts her key" {
	labels_of own.cbd $(cat files.txt) >got.txt
	cmp owner.txt got.txt
	run cbd-verify --key owner.pub own.cbd
	[ "$status" -eq 0 ]
}

@test "stolen copy with Gaussian-noise weights keeps 100% trigger accuracy" {
	check_stolen noise
}

@test "stolen copy with 50% magnitude-pruned weights keeps 100% trigger accuracy" {
	check_stolen prune
}

@test "stolen copy with int8 round-trip weights keeps 100% trigger accuracy" {
	check_stolen int8
}
