#!/usr/bin/env bats
# onnx.bats — `cbd-embed --format onnx`: the circuit compiled into one
# standard ONNX model, run in ONNX Runtime (the independent runtime) and
# checked against the archive of the same circuit under cbd on 10,512 inputs
# per mode (tests/helpers/protected_inputs.py: triggers, seven kinds of
# forgery, another owner's triggers, digits, noise, tag-passing images,
# every byte at carrier pixels, NaN/inf/ties) in batches of 32, 1 and 7;
# the classifier inside it unchanged; and the refusals.
load helpers

# circuit_id MODEL: the cbd.circuit_id a compiled model records.
circuit_id() {
	$PY -c 'import onnx,sys; m=onnx.load(sys.argv[1]); print({p.key: p.value for p in m.metadata_props}["cbd.circuit_id"])' "$1"
}

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	owner_key
	cbd-keygen owner other >/dev/null
	for u in alice bob carol; do cbd-keygen user $u -K users.json >/dev/null; done
	cbd-embed "$MODEL" -m watermark -k owner.key -f onnx >/dev/null
	cid=$(circuit_id mnist-cnn-watermark.onnx)
	cbd-embed "$MODEL" -m watermark -k owner.key --circuit-id "$cid" -o wm.cbd >/dev/null
	cbd-embed "$MODEL" -m watermark -k other.key --circuit-id "$cid" -o other.cbd >/dev/null
	mkdir tr
	cbd-embed "$MODEL" -m trace -k owner.key -K users.json -f onnx -d tr >/dev/null
	tcid=$(circuit_id tr/mnist-cnn-bob.onnx)
	cbd-embed "$MODEL" -m trace -k owner.key -K users.json --circuit-id "$tcid" -d tr >/dev/null
	digits base.npy 1000:1064
	digits base16.npy 1100:1116
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy -o wm-trig.json -q
	cbd-sign triggers -a other.cbd -k other.key --from base16.npy -o other-trig.json -q
	cbd-sign triggers -a tr/mnist-cnn-bob.cbd -k owner.key --from base.npy -o tr-trig.json -q
	$PY "$CBD_TOP/tests/helpers/protected_inputs.py" "$DIGITS" wm-trig.json wm-in.npy wm-kinds.json other-trig.json
	$PY "$CBD_TOP/tests/helpers/protected_inputs.py" "$DIGITS" tr-trig.json tr-in.npy tr-kinds.json
	# auth: an archive for two users, compiled from the archive itself (the
	# same circuit, so the same garbage key), inputs signed by each user
	cbd-embed "$MODEL" -m auth -k owner.key -K users.json -u alice -u bob -o auth.cbd >/dev/null
	cbd-embed auth.cbd -f onnx -k owner.key -o auth.onnx >/dev/null
	cbd-sign input -a auth.cbd -k alice.key base16.npy -o s-alice.npy
	cbd-sign input -a auth.cbd -k bob.key base16.npy -o s-bob.npy
	$PY -c 'import numpy as np; np.save("s-auth.npy", np.concatenate([np.load("s-alice.npy"), np.load("s-bob.npy")]))'
	acid=$(cbd-verify --json --info auth.cbd | sed -n 's/.*"circuit_id": "\([0-9a-f]*\)".*/\1/p')
	$PY "$CBD_TOP/tests/helpers/protected_inputs.py" "$DIGITS" "s-auth.npy:$acid" auth-in.npy auth-kinds.json
}

setup() {
	cd "$BATS_FILE_TMPDIR"
	use_ort
	need_py onnx python3-onnx
}

ort_check() { # compiled archive inputs kinds rows
	cbd-run --json "$2" "$3" > ref.jsonl
	run node "$CBD_TOP/tests/helpers/ort_protected.js" "$1" "$MODEL" "$3" "$4" ref.jsonl 32 1 7
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "match $5 rows, 64 active"* ]]
}

@test "onnx: watermark model in ONNX Runtime answers like the archive under cbd on 10,512 inputs" {
	ort_check mnist-cnn-watermark.onnx wm.cbd wm-in.npy wm-kinds.json 10512
}

@test "onnx: trace copy in ONNX Runtime answers like its archive under cbd on 10,496 inputs" {
	ort_check tr/mnist-cnn-bob.onnx tr/mnist-cnn-bob.cbd tr-in.npy tr-kinds.json 10496
}

@test "onnx: auth model compiled from its archive: signed inputs get the classifier's scores, all else the archive's garbage, on 10,272 inputs" {
	cbd-run --json auth.cbd auth-in.npy > ref.jsonl
	CBD_MODE=auth run node "$CBD_TOP/tests/helpers/ort_protected.js" auth.onnx "$MODEL" auth-in.npy auth-kinds.json ref.jsonl 32 1 7
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == "match 10272 rows, 32 active"* ]]
	run cbd-verify auth.onnx --key owner.pub --info
	[ "$status" -eq 0 ]
	[[ "$output" == *"mode auth"* ]]
}

@test "onnx: cbd's own engine runs the compiled graphs and answers exactly like the archives under cbd (all three modes)" {
	# under ASan (make check SAN=1) the first 1,000 rows of each set: every
	# trigger and forgery kind, some of the rest; the whole set otherwise
	rows=0 want=10000
	if nm "$(command -v cbd-run)" 2>/dev/null | grep -q __asan_init; then
		rows=1000 want=999
	fi
	for m in "mnist-cnn-watermark.onnx wm.cbd wm-in.npy" "tr/mnist-cnn-bob.onnx tr/mnist-cnn-bob.cbd tr-in.npy" "auth.onnx auth.cbd auth-in.npy"; do
		set -- $m
		in=$3
		if [ "$rows" -gt 0 ]; then
			$PY -c 'import numpy as np,sys; np.save("part.npy", np.load(sys.argv[1])[:int(sys.argv[2])])' "$3" "$rows"
			in=part.npy
		fi
		cbd-run --json "$1" "$in" > engine.jsonl
		cbd-run --json "$2" "$in" | sed 's/,"active":[a-z]*//' > archive.jsonl
		[ "$(wc -l < engine.jsonl)" -gt "$want" ]
		cmp engine.jsonl archive.jsonl || { echo "$1: engine and archive differ"; diff engine.jsonl archive.jsonl | head -4; return 1; }
	done
}

@test "onnx: trace copies of one family answer the same triggers with their users' labels" {
	$PY -c '
import base64, json, numpy as np
ts = json.load(open("tr-trig.json"))["triggers"]
q = np.stack([np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts])
np.save("trig.npy", (q.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))
json.dump(["trigger"] * len(ts), open("trig-kinds.json", "w"))'
	for u in alice bob carol; do
		cbd-run --json tr/mnist-cnn-$u.cbd trig.npy > ref-$u.jsonl
		run node "$CBD_TOP/tests/helpers/ort_protected.js" tr/mnist-cnn-$u.onnx "$MODEL" trig.npy trig-kinds.json ref-$u.jsonl 32 1
		echo "$u: $output"
		[ "$status" -eq 0 ]
		[[ "$output" == "match 64 rows, 64 active"* ]]
	done
	# the users' labels differ (64 triggers, K = 10)
	[ "$(cut -d, -f3 ref-alice.jsonl)" != "$(cut -d, -f3 ref-bob.jsonl)" ]
	[ "$(cut -d, -f3 ref-bob.jsonl)" != "$(cut -d, -f3 ref-carol.jsonl)" ]
}

@test "onnx: the classifier is inside unchanged, only default-domain operators are added, metadata names the circuit" {
	run $PY "$CBD_TOP/tests/helpers/check_compiled.py" mnist-cnn-watermark.onnx "$MODEL"
	echo "$output"
	[[ "$output" == "ok"* ]]
	run $PY -c '
import onnx, sys
m = onnx.load(sys.argv[1]); meta = {p.key: p.value for p in m.metadata_props}
assert meta["cbd.format"] == "cbd-circuit-onnx/1" and meta["cbd.mode"] == "trace", meta
assert meta["cbd.user_id"] == "bob", meta
assert [o.name for o in m.graph.output] == ["logits"], m.graph.output
assert [i.name for i in m.graph.input] == ["input"], m.graph.input
' tr/mnist-cnn-bob.onnx
	[ "$status" -eq 0 ]
}

@test "onnx: cbd-verify checks the owner's signature; one changed byte, another key, an edited doc string or metadata fail" {
	run cbd-verify mnist-cnn-watermark.onnx --key owner.pub --info
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"cbd protected ONNX model"* ]]
	[[ "$output" == *"classifier sha256 $(sha256sum "$MODEL" | cut -c1-64)"* ]]
	[[ "${lines[-1]}" == "mnist-cnn-watermark.onnx: OK, signed by "* ]]
	run cbd-verify --json --info tr/mnist-cnn-bob.onnx
	[ "$status" -eq 0 ]
	[[ "$output" == *'"user": "bob"'* ]]
	run cbd-verify mnist-cnn-watermark.onnx --key other.pub
	[ "$status" -eq 1 ]
	[[ "$output" == *"not signed by"* ]]
	size=$(stat -c %s mnist-cnn-watermark.onnx)
	for off in 100 $((size / 2)) $((size - 50)); do
		cp mnist-cnn-watermark.onnx mod.onnx
		printf '\x5a' | dd of=mod.onnx bs=1 seek=$off conv=notrunc 2>/dev/null
		run cbd-verify mod.onnx
		[ "$status" -ne 0 ]
	done
	# re-saved unchanged: the same bytes, still verifies; with a new doc string or metadata entry: fails
	$PY -c '
import onnx, sys
m = onnx.load(sys.argv[1]); onnx.save(m, "same.onnx")
m.doc_string = "edited"; onnx.save(m, "doc.onnx")
m = onnx.load(sys.argv[1]); m.metadata_props.add(key="note", value="x"); onnx.save(m, "meta.onnx")' mnist-cnn-watermark.onnx
	cbd-verify same.onnx --key owner.pub
	run cbd-verify doc.onnx
	[ "$status" -eq 1 ]
	run cbd-verify meta.onnx
	[ "$status" -eq 65 ]
}

kserve() { # model: a KServe v2 server on ONNX Runtime; sets URL and SERVER
	rm -f port
	node "$CBD_TOP/tests/helpers/kserve_ort.js" "$1" mnist port 2>kserve.log &
	SERVER=$!
	URL="http://127.0.0.1:$(wait_port port "$SERVER")" && return 0
	echo "server did not start: $(cat kserve.log)"
	return 1
}

teardown() {
	stop_server
}

@test "onnx: a leaked trace copy served by KServe on ONNX Runtime names its user; the bare model names nobody" {
	kserve tr/mnist-cnn-bob.onnx
	cbd-probe -q -m mnist -o bob.jsonl "$URL" tr-trig.json
	stop_server
	run cbd-attribute -t tr-trig.json -K users.json --json -q bob.jsonl
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '["bob"]' ]
	[ "$(printf '%s\n' "$output" | jq '.users[0].matches')" -eq 64 ]
	kserve "$MODEL"
	cbd-probe -q -m mnist -o bare.jsonl "$URL" tr-trig.json
	run cbd-attribute -t tr-trig.json -K users.json --json -q bare.jsonl
	[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '[]' ]
}

@test "onnx: the compiled trace copy under cbd-serve and under cbd-probe --backend archive names its user, like the archive" {
	start_server --model-name mnist tr/mnist-cnn-bob.onnx
	cbd-probe -q -m mnist -o served.jsonl "$URL" tr-trig.json
	stop_server
	cbd-probe -q --backend archive -o inproc.jsonl tr/mnist-cnn-bob.onnx tr-trig.json
	cbd-probe -q --backend archive -o arch.jsonl tr/mnist-cnn-bob.cbd tr-trig.json
	for t in served inproc arch; do
		run cbd-attribute -t tr-trig.json -K users.json --json -q $t.jsonl
		[ "$status" -eq 0 ]
		[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '["bob"]' ] || { echo "$t: $output"; return 1; }
		[ "$(printf '%s\n' "$output" | jq '.users[0].matches')" -eq 64 ]
	done
	# the three transcripts recorded the same labels for the same triggers
	for t in served inproc arch; do
		jq -r 'select(.type == "query") | "\(.trigger) \(.label)"' $t.jsonl | sort > $t.labels
	done
	[ "$(wc -l < arch.labels)" -eq 64 ]
	cmp served.labels arch.labels
	cmp inproc.labels arch.labels
}

@test "onnx: decoy probes of a trace copy on KServe/ONNX Runtime give the same verdict as plain ones; decoys never scored" {
	digits clean.npy 1900:1940
	kserve tr/mnist-cnn-bob.onnx
	cbd-probe -q -m mnist -o dplain.jsonl "$URL" tr-trig.json
	cbd-probe -q -c 3 -m mnist --decoys clean.npy --decoy-ratio 2 --pace 0:3 -o dmixed.jsonl "$URL" tr-trig.json
	stop_server
	[ "$(grep -c '"type":"decoy"' dmixed.jsonl)" = 128 ]
	[ "$(grep -c '"type":"query"' dmixed.jsonl)" = 64 ]
	cbd-verify -q dmixed.jsonl
	for t in dplain dmixed; do
		cbd-attribute -t tr-trig.json -K users.json --json -q $t.jsonl >$t.report
		jq -c '[.verdict.attributed, .parameters.answered, [.users[] | [.id, .matches, .p_value]]]' $t.report >$t.v
	done
	cmp dplain.v dmixed.v
	[ "$(jq -c '.[0]' dmixed.v)" = '["bob"]' ]
	# every decoy got the bare classifier's answer for its sample (the
	# copy is the classifier on clean inputs), every query its trigger's
	$PY - dplain.jsonl dmixed.jsonl <<'PYEOF'
import json, sys
plain = {r["index"]: r["scores"] for r in map(json.loads, open(sys.argv[1])) if r["type"] == "query"}
by_sample = {}
for r in map(json.loads, open(sys.argv[2])):
    if r["type"] == "query":
        assert r["scores"] == plain[r["index"]], r["index"]
    if r["type"] == "decoy":
        by_sample.setdefault(r["index"], set()).add(tuple(r["scores"]))
assert len(by_sample) == 40 and all(len(v) == 1 for v in by_sample.values())
PYEOF
	run cbd-attribute -t tr-trig.json -K users.json -o dm.json dmixed.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"64 of 64 triggers answered"*"128 decoys (clean samples among the queries) not scored."* ]]
}

@test "onnx: cbd-sign signs for a compiled model exactly as for its archive" {
	$PY -c 'import numpy as np; np.save("lab.npy", np.arange(64) % 10)'
	cbd-embed wm.cbd -f onnx -k owner.key -o wm-from-archive.onnx
	cbd-sign triggers -a wm-from-archive.onnx -k owner.key --from base.npy --labels lab.npy -o from-onnx.json -q
	cbd-sign triggers -a wm.cbd -k owner.key --from base.npy --labels lab.npy -o from-cbd.json -q
	$PY -c '
import json
a = json.load(open("from-onnx.json"))["triggers"]; b = json.load(open("from-cbd.json"))["triggers"]
assert len(a) == 64 and [(t["input"], t["message"]) for t in a] == [(t["input"], t["message"]) for t in b]'
	# trace: triggers signed for bob's compiled copy are bob's archive's triggers
	cbd-sign triggers -a tr/mnist-cnn-bob.onnx -k owner.key --from base16.npy -o tb.json -q
	cbd-sign export tb.json -o tbx -q
	run cbd-sign check -a tr/mnist-cnn-bob.cbd --json tbx/t00000.png tbx/t00007.png tbx/t00015.png
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '"active":true')" -eq 3 ]
	# a changed byte: refused before any signing
	cp wm-from-archive.onnx bad.onnx
	printf '\x5a' | dd of=bad.onnx bs=1 seek=4000 conv=notrunc 2>/dev/null
	run cbd-sign triggers -a bad.onnx -k owner.key --from base.npy --labels lab.npy -o x.json
	[ "$status" -eq 1 ] || [ "$status" -eq 65 ]
	[[ "$output" == *"does not verify"* ]]
	[ ! -e x.json ]
}

@test "onnx: --nest protects a protected model again: both circuits answer their own triggers in ORT and in cbd, clean inputs stay the bare model's bit for bit" {
	tcid=$(circuit_id tr/mnist-cnn-bob.onnx)
	run cbd-embed mnist-cnn-watermark.onnx -m trace -k owner.key -K users.json -u bob --circuit-id "$tcid" -f onnx -d nest
	[ "$status" -eq 65 ]
	[[ "$output" == *"already protected (cbd."*"nesting was not asked"* ]]
	[ ! -e nest ]
	cbd-embed mnist-cnn-watermark.onnx -m trace -k owner.key -K users.json -u bob --circuit-id "$tcid" -f onnx --nest -d nest >/dev/null
	N=nest/mnist-cnn-watermark-bob.onnx
	cbd-verify "$N" --key owner.pub >/dev/null
	$PY -c '
import base64, json, sys, onnx, numpy as np
m = onnx.load(sys.argv[1]); keys = [p.key for p in m.metadata_props]
assert keys.count("cbd.format") == 1 and keys[-1] == "cbd.signature", keys
meta = {p.key: p.value for p in m.metadata_props}
assert meta["cbd.mode"] == "trace" and meta["cbd.user_id"] == "bob", meta
names = [n.name for n in m.graph.node]
assert len(names) == len(set(names)), "duplicate node names"
for n in ("wm", "tr"):
    ts = json.load(open(n + "-trig.json"))["triggers"]
    q = np.stack([np.frombuffer(base64.b64decode(t["input"]), np.uint8) for t in ts])
    np.save("n-" + n + ".npy", (q.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))
x = np.load(sys.argv[2])[1500:1800]
np.save("n-clean.npy", (x.astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28))' "$N" "$DIGITS"
	for f in wm tr clean; do
		for m in "$N" "$MODEL"; do
			d=ort-$f-$(basename "$m" .onnx); mkdir -p "$d"
			node "$CBD_TOP/tests/helpers/ort_run.js" "$m" "$d" n-$f.npy
		done
		cbd-run --json "$N" n-$f.npy > eng-$f.jsonl
	done
	cbd-run --json "$MODEL" n-clean.npy > bare-clean.jsonl
	cbd-run --json wm.cbd n-wm.npy > arch-wm.jsonl
	cbd-run --json tr/mnist-cnn-bob.cbd n-tr.npy > arch-tr.jsonl
	$PY -c '
import json, numpy as np
def lab(p): return [json.loads(l)["label"] for l in open(p)]
def ort(f, m): return np.load(f"ort-{f}-{m}/output_0.npy")
for f in ("wm", "tr"):
    o = ort(f, "mnist-cnn-watermark-bob")
    assert len(lab(f"arch-{f}.jsonl")) == 64
    assert list(o.argmax(1)) == lab(f"arch-{f}.jsonl"), f          # ORT = archive under cbd
    assert lab(f"eng-{f}.jsonl") == lab(f"arch-{f}.jsonl"), f      # cbd engine = archive
    assert (o.argmax(1) != ort(f, "mnist-cnn").argmax(1)).sum() > 32, f
o, b = ort("clean", "mnist-cnn-watermark-bob"), ort("clean", "mnist-cnn")
assert o.shape == (300, 10) and (o.view(np.uint32) == b.view(np.uint32)).all()
sc = lambda p: np.array([json.loads(l)["scores"] for l in open(p)], np.float32)
e, eb = sc("eng-clean.jsonl"), sc("bare-clean.jsonl")     # cbd: nested = bare
assert e.shape == (300, 10) and (e.view(np.uint32) == eb.view(np.uint32)).all()
print("ok")'
}

refused() { # status message-part
	[ "$status" -eq "$1" ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "${lines[0]}" == "cbd-embed: error: "*"$2"* ]]
}

@test "onnx: refusals (P-256 owner or user, protected model, two outputs, another owner's archive, bad --format), nothing written" {
	mkdir -p bad && cd bad
	cbd-keygen owner p -t p256 >/dev/null
	run cbd-embed "$MODEL" -m watermark -k p.key -f onnx
	refused 65 "owner key"
	run cbd-embed ../mnist-cnn-watermark.onnx -m watermark -k ../owner.key -f onnx -o x.onnx
	refused 65 "already protected"
	$PY -c '
import onnx, sys
m = onnx.load(sys.argv[1]); g = m.graph
g.output.append(onnx.helper.make_tensor_value_info(g.node[-2].output[0], 1, None))
onnx.save(m, "two.onnx")' "$MODEL"
	run cbd-embed two.onnx -m watermark -k ../owner.key -f onnx -o x.onnx
	[ "$status" -ne 0 ]
	$PY -c '
import onnx, sys
m = onnx.load(sys.argv[1]); m.graph.input[0].type.tensor_type.elem_type = 2
onnx.save(m, "u8.onnx")' "$MODEL"
	run cbd-embed u8.onnx -m watermark -k ../owner.key -f onnx -o x.onnx
	refused 65 "input input must be float32 [N, sample dims] (u8.onnx)"
	run cbd-embed "$MODEL" -m auth -k ../owner.key -a ../alice.pub -a p.pub -f onnx -o x.onnx
	refused 65 "authorised key"
	run cbd-embed ../wm.cbd -f onnx -k ../other.key -o x.onnx
	refused 65 "not signed by this owner key"
	run cbd-embed ../wm.cbd -f onnx -k ../owner.key -m watermark -o x.onnx
	[ "$status" -eq 64 ]
	run cbd-embed "$MODEL" -m watermark -k ../owner.key -f tflite
	[ "$status" -eq 64 ]
	[ -z "$(ls | grep -v -e '^p\.' -e '^two\.onnx$' -e '^u8\.onnx$')" ]
}
