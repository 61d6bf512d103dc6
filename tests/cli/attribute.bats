#!/usr/bin/env bats
# attribute.bats — cbd-attribute on real evidence.  End to end with the real
# tools: 20 users' trace copies (cbd-keygen, cbd-embed, cbd-sign), each
# served in turn by cbd-serve on loopback and probed with 64 triggers by
# cbd-probe: the right user is named every time, nobody else.  The other
# cases use transcripts of chosen suspects written through libcbd
# (tests/helpers/attr-sim: real trace circuits over the bundled classifier):
# the bare model, random answers, a transcript for another trigger set,
# noise, failures, coalitions, the watermark, stdin, reproducibility and
# usage errors.

load helpers

setup_file() {
	sim_case
}

setup() {
	cd "$D"
	SERVER=
}

teardown() {
	stop_server 2>/dev/null || true
}

# Serve archive $1 as model mnist on a free loopback port; sets SERVER and
# URL once it reports ready.
serve() {
	start_server -q -n mnist "$1" || return 1
	curl -sf "$URL/v2/health/ready" >/dev/null && return 0
	echo "server not ready: $(cat serve.log)"
	return 1
}

attribute() {
	cbd-attribute -t triggers.json -K keyring.json "$@"
}

# The 20-user end to end with keyring $1 (format by name: .json or database).
# A trace family in a fresh directory DIR of BATS_TEST_TMPDIR, for users
# USER...: owner key, keyring.json, copies/mnist-cnn-USER.cbd and 64
# triggers signed for the first user's copy (triggers.json); cd's into DIR.
trace_family() { # DIR USER...
	mkdir -p "$BATS_TEST_TMPDIR/$1"
	cd "$BATS_TEST_TMPDIR/$1"
	shift
	owner_key
	for u in "$@"; do cbd-keygen user $u -K keyring.json -d ukeys >/dev/null; done
	cbd-embed "$MODEL" -m trace -k owner.key \
		-K keyring.json -d copies >/dev/null
	cbd-sign triggers -a "copies/mnist-cnn-$1.cbd" -k owner.key -q \
		--from "$DIGITS" -n 64 -o triggers.json
}

e2e_20() {
	ring=$1
	e2e="$BATS_TEST_TMPDIR/e2e"
	mkdir -p "$e2e"
	cd "$e2e"
	owner_key
	for i in $(seq -w 0 19); do
		cbd-keygen user "user$i" -K "$ring" -d ukeys >/dev/null
	done
	cbd-embed "$MODEL" -m trace -k owner.key \
		-K "$ring" -d copies >/dev/null
	cbd-sign triggers -a copies/mnist-cnn-user00.cbd -k owner.key -q \
		--from "$DIGITS" -n 64 \
		-o triggers.json
	for i in $(seq -w 0 19); do
		serve "copies/mnist-cnn-user$i.cbd"
		cbd-probe -q -m mnist -o "p$i.jsonl" "$URL" triggers.json
		stop_server
		run cbd-attribute -t triggers.json -K "$ring" --json -q \
			"p$i.jsonl"
		[ "$status" -eq 0 ]
		r=$output
		named=$(printf '%s\n' "$r" | jq -c .verdict.attributed)
		[ "$named" = "[\"user$i\"]" ] || { echo "user$i: $named"; return 1; }
		[ "$(printf '%s\n' "$r" | jq .parameters.answered)" -eq 64 ]
		[ "$(printf '%s\n' "$r" | jq '.users[0].matches')" -eq 64 ]
	done
	# the whole investigation through pipes
	serve copies/mnist-cnn-user03.cbd
	cbd-probe -q -m mnist -o - "$URL" triggers.json |
		cbd-attribute -q -t triggers.json -K "$ring" --json \
			-c PIPE-3 - |
		cbd-report -q - -o - >case.pdf
	text=$(pdftotext case.pdf -)
	[[ "$text" == *"PIPE-3"* ]]
	[[ "$text" == *"Attributed to user user03"* ]]
}

@test "real tools: 20 trace copies, each served and probed: its user is named, nobody else" {
	e2e_20 keyring.json
}

@test "real tools, SQLite keyring (format 2): 20 trace copies, each probed: its user is named" {
	e2e_20 users.keyring
	[ "$(head -c 15 users.keyring)" = "SQLite format 3" ]
}

@test "real tools over 10,050 users: embed, serve, probe, attribute, a bounded PDF" {
	cd "$BATS_TEST_TMPDIR"
	owner_key
	cbd-keygen investigator inv -d . >/dev/null
	cbd-keygen users --count 10050 --prefix lic -K big.keyring >/dev/null
	# not held in memory (more than 10,000): every user is still found
	cbd-embed "$MODEL" -m trace -k owner.key \
		-K big.keyring -u lic07777 -u lic10050 -d copies >/dev/null
	# all of them is more than one run writes: one line, not a crash
	run cbd-embed "$MODEL" -m auth -k owner.key \
		-K big.keyring -o all.cbd
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"the keyring has 10050 users; one auth run takes at most 256"* ]]
	run cbd-embed "$MODEL" -m trace -k owner.key \
		-K big.keyring -d all
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"the keyring has 10050 users; one trace run takes at most 4096"* ]]
	[ ! -e all ]
	[ ! -e all.cbd ]
	cbd-sign triggers -a copies/mnist-cnn-lic07777.cbd -k owner.key -q \
		--from "$DIGITS" -n 64 \
		-o triggers.json
	serve copies/mnist-cnn-lic07777.cbd
	cbd-probe -q -m mnist -o p.jsonl "$URL" triggers.json
	export SOURCE_DATE_EPOCH=1800000000
	for table in top full; do
		opt=; [ "$table" = full ] && opt=--full-table
		cbd-attribute -q -t triggers.json -K big.keyring $opt \
			--sign-key inv.key -c BIG-1 -o "$table.json" p.jsonl
		[ "$(jq -c .verdict.attributed "$table.json")" = '["lic07777"]' ]
		[ "$(jq .parameters.users_tested "$table.json")" -eq 10050 ]
		cbd-report -q "$table.json" -o "$table.pdf" --triggers triggers.json \
			--transcript p.jsonl --keyring big.keyring
		# one page naming the leader and a few others, not 10,050 rows
		[ "$(pdfinfo "$table.pdf" | awk '/^Pages:/ {print $2}')" -eq 1 ]
		[ "$(stat -c %s "$table.pdf")" -lt 200000 ]
		text=$(pdftotext "$table.pdf" -)
		[[ "$text" == *"Attributed to user lic07777"* ]]
		[[ "$text" == *"Shown: "*" of 10050 users"* ]]
		[ "$(printf '%s\n' "$text" | grep -c 'lic07777: [0-9] ✓')" -eq 8 ]
	done
	[ "$(jq '.users | length' top.json)" -le 30 ]
	[ "$(jq '.users | length' full.json)" -eq 10050 ]
}

@test "decoys: a probe with clean samples among the triggers gives the same verdict as a plain one; the decoys are counted, never scored" {
	trace_family decoys ann ben cid
	digits clean.npy 500:600
	serve copies/mnist-cnn-ben.cbd
	cbd-probe -q -m mnist -o plain.jsonl "$URL" triggers.json
	cbd-probe -m mnist --decoys clean.npy --decoy-ratio 2 --pace 0:2 -o mixed.jsonl "$URL" triggers.json 2>probe.err
	grep -q "cbd-probe: 128 decoys among them (128 answered), recorded apart, never scored" probe.err
	[ "$(grep -c '"type":"query"' mixed.jsonl)" = 64 ]
	[ "$(grep -c '"type":"decoy"' mixed.jsonl)" = 128 ]
	[ "$(grep -c '"type":"schedule"' mixed.jsonl)" = 1 ]
	# the triggers are not one run: decoys before the last and after the first
	types=$(grep -o '"type":"\(query\|decoy\)"' mixed.jsonl | cut -d'"' -f4 | tr '\n' ' ')
	[[ "$types" == *"query"*"decoy"*"query"* ]]
	[[ "$types" == *"decoy"*"query"*"decoy"* ]]
	cbd-verify -q mixed.jsonl
	for t in plain mixed; do
		cbd-attribute -t triggers.json -K keyring.json --json -q $t.jsonl >$t.report
		jq -c '[.verdict.attributed, .parameters.answered, [.users[] | [.id, .matches]]]' $t.report >$t.v
	done
	cmp plain.v mixed.v
	[ "$(cat mixed.v | jq -c '.[0]')" = '["ben"]' ]
	run cbd-attribute -t triggers.json -K keyring.json -o r.json mixed.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"64 of 64 triggers answered"*"128 decoys (clean samples among the queries) not scored."*"Attributed to: ben"* ]]
	# a decoy that a tamperer turns into a query breaks the chain
	sed '0,/"type":"decoy"/s/"type":"decoy"/"type":"query"/' mixed.jsonl >t.jsonl
	run cbd-verify t.jsonl
	[ "$status" -ne 0 ]
}

@test "--until-verdict: the leaker of 5 named after a fraction of the 64 triggers, the rest kept secret; the sequential rule decides" {
	trace_family uv ann ben cid dan eve
	serve copies/mnist-cnn-ben.cbd
	cbd-probe -m mnist --json --until-verdict keyring.json -o uv.jsonl "$URL" triggers.json >uv.sum 2>probe.err
	# killed after the answer that settled it, before the settled line:
	# --resume counts the answers recorded and sends no trigger more
	head -n -2 uv.jsonl >cut.jsonl
	cbd-probe -q -m mnist --json --resume --until-verdict keyring.json -o cut.jsonl "$URL" triggers.json >cut.sum
	[ "$(jq -c '[.settled, .secret, .skipped]' cut.sum)" = "[true,$(jq .secret uv.sum),$(jq .answered uv.sum)]" ]
	[ "$(grep -c '"type":"query"' cut.jsonl)" = "$(jq .answered uv.sum)" ]
	cbd-verify -q cut.jsonl
	stop_server
	[ "$(jq .settled uv.sum)" = true ]
	spent=$(jq .answered uv.sum)
	[ "$spent" -ge 11 ] && [ "$spent" -lt 64 ]
	[ "$(jq .secret uv.sum)" = $((64 - spent)) ]
	grep -q "cbd-probe: verdict settled after $spent answered triggers (1 users accused, 4 cleared): $spent of 64 triggers spent, $((64 - spent)) kept secret" probe.err
	[ "$(grep -c '"type":"query"' uv.jsonl)" = "$spent" ]
	[ "$(grep -c '"type":"sequential"' uv.jsonl)" = 1 ]
	grep -q "\"type\":\"settled\",.*\"spent\":$spent,\"secret\":$((64 - spent))}" uv.jsonl
	run cbd-verify uv.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"settled (--until-verdict): $spent triggers spent, $((64 - spent)) kept secret"* ]]
	cbd-attribute -t triggers.json -K keyring.json --json -q uv.jsonl >uv.report
	[ "$(jq -c .verdict.attributed uv.report)" = '["ben"]' ]
	[ "$(jq -r .parameters.adjustment uv.report)" = bonferroni+ville ]
	[ "$(jq .parameters.unasked uv.report)" = $((64 - spent)) ]
	jq -r .verdict.summary uv.report | grep -q "Decided by the sequential test (Ville, Bonferroni, p1 = 0.8) the probe stopped by: $spent of 64 triggers spent, $((64 - spent)) kept secret.$"
	# the threshold is the sequential rule's, computed here independently
	$PY - uv.report <<'PYEOF'
import json, math, sys
r = json.load(open(sys.argv[1]))
p = r["parameters"]
T, K, N, a, p1 = p["answered"], p["num_classes"], p["users_tested"], p["alpha"], p["p1"]
assert p1 == 0.8
le = lambda s: s * math.log(p1 * K) + (T - s) * math.log((1 - p1) / (1 - 1 / K))
t = next((s for s in range(T + 1) if le(s) >= math.log(N / a)), T + 1)
assert p["threshold"] == t, (p["threshold"], t)
assert [u["id"] for u in r["users"] if u["significant"]] == ["ben"]
assert all(u["significant"] == (u["matches"] >= t) for u in r["users"])
PYEOF
	run cbd-attribute -t triggers.json -K keyring.json -o r.json uv.jsonl
	[ "$status" -eq 0 ]
	[[ "$output" == *"(sequential, --until-verdict: Ville and Bonferroni)"*"Attributed to: ben"* ]]
	# a forger who rewrites the file to leave out the first query sent
	# (spent and secret fixed up, a fresh chain) is caught: what was sent
	# is not the first of the seed's order
	$PY - uv.jsonl forged.jsonl <<'PYEOF'
import hashlib, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
i = next(i for i, r in enumerate(lines) if r["type"] == "query" and r["pos"] == 0)
del lines[i]
for r in lines:
    if r["type"] == "settled":
        r["spent"] -= 1; r["secret"] += 1
    if r["type"] == "end":
        r["answered"] -= 1
prev = "0" * 64
with open(sys.argv[2], "wb") as f:
    for k, r in enumerate(lines):
        if k:
            r["seq"] = k; r["prev"] = prev
        raw = json.dumps(r, separators=(",", ":")).encode()
        f.write(raw + b"\n")
        prev = hashlib.sha256(raw).hexdigest()
PYEOF
	run cbd-verify forged.jsonl
	[ "$status" -eq 1 ]
	[[ "$output" == *"not the first"*"of the schedule's order"* ]]
	# the bare classifier: settled too, nobody accused
	serve "$MODEL"
	cbd-probe -q -m mnist --json --until-verdict keyring.json -o bare.jsonl "$URL" triggers.json >bare.sum
	[ "$(jq .settled bare.sum)" = true ]
	[ "$(jq .answered bare.sum)" -lt 64 ]
	run cbd-attribute -t triggers.json -K keyring.json --json -q bare.jsonl
	[ "$status" -eq 1 ]
	[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '[]' ]
	# usage errors
	run cbd-probe -m mnist --alpha 1e-6 -o x.jsonl "$URL" triggers.json
	[ "$status" -eq 64 ]
	[[ "$output" == *"--alpha needs --until-verdict"* ]]
	run cbd-probe -m mnist --until-verdict keyring.json --samples "$DIGITS" -o x.jsonl "$URL"
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --until-verdict keyring.json --alpha 2 -o x.jsonl "$URL" triggers.json
	[ "$status" -eq 64 ]
	run cbd-probe -m mnist --until-verdict nosuch.json -o x.jsonl "$URL" triggers.json
	[ "$status" -eq 66 ]
	[[ "$output" == *"nosuch.json"* ]]
	[ ! -e x.jsonl ]
}

@test "--until-verdict --p1 and --beta: recorded in the sequential line; cbd-attribute decides by that p1" {
	trace_family p1 ann ben cid
	serve copies/mnist-cnn-cid.cbd
	cbd-probe -q -m mnist --json --until-verdict keyring.json --p1 0.6 --beta 1e-3 -o p.jsonl "$URL" triggers.json >p.sum
	[ "$(jq .settled p.sum)" = true ]
	[ "$(grep '"type":"sequential"' p.jsonl | jq -c '[.p1, .alpha, .beta]')" = "[0.6,1e-09,0.001]" ]
	cbd-attribute -t triggers.json -K keyring.json --json -q p.jsonl >p.report
	[ "$(jq -c .verdict.attributed p.report)" = '["cid"]' ]
	[ "$(jq .parameters.p1 p.report)" = 0.6 ]
	jq -r .verdict.summary p.report | grep -q "p1 = 0.6)"
	# the threshold follows p1 = 0.6, computed here independently
	$PY - p.report <<'PYEOF'
import json, math, sys
p = json.load(open(sys.argv[1]))["parameters"]
T, K, N, a, p1 = p["answered"], p["num_classes"], p["users_tested"], p["alpha"], p["p1"]
le = lambda s: s * math.log(p1 * K) + (T - s) * math.log((1 - p1) / (1 - 1 / K))
t = next((s for s in range(T + 1) if le(s) >= math.log(N / a)), T + 1)
assert p1 == 0.6 and p["threshold"] == t, (p1, p["threshold"], t)
PYEOF
	# a lower beta clears later: at least as many triggers spent on the bare model
	stop_server
	serve "$MODEL"
	cbd-probe -q -m mnist --json --until-verdict keyring.json --beta 0.1 -o b1.jsonl "$URL" triggers.json >b1.sum
	cbd-probe -q -m mnist --json --until-verdict keyring.json --beta 1e-9 -o b9.jsonl "$URL" triggers.json >b9.sum
	[ "$(jq .answered b1.sum)" -lt "$(jq .answered b9.sum)" ]
	# bad values are usage errors before any query
	for bad in "--p1 1.5" "--p1 0.05" "--p1 x" "--beta 0" "--beta 1"; do
		run cbd-probe -m mnist --until-verdict keyring.json $bad -o x.jsonl "$URL" triggers.json
		[ "$status" -eq 64 ]
		[ ! -e x.jsonl ]
	done
	run cbd-probe -m mnist --p1 0.7 -o x.jsonl "$URL" triggers.json
	[ "$status" -eq 64 ]
	[[ "$output" == *"--p1 needs --until-verdict"* ]]
}

@test "each of 20 users' simulated copies names that user and nobody else" {
	for i in $(seq -w 0 19); do
		"$SIM" transcript "$D" "user:user$i" "u$i.jsonl"
		run attribute --json -q "u$i.jsonl"
		[ "$status" -eq 0 ]
		named=$(printf '%s\n' "$output" | jq -c '.verdict.attributed')
		[ "$named" = "[\"user$i\"]" ] || { echo "user$i: $named"; return 1; }
		[ "$(printf '%s\n' "$output" | jq -r '.verdict.outcome')" = attributed ]
	done
}

@test "the bare model and random answers are not attributed (exit 1)" {
	"$SIM" transcript "$D" bare bare.jsonl
	"$SIM" transcript "$D" random random.jsonl
	for t in bare random; do
		run attribute --json "$t.jsonl"
		[ "$status" -eq 1 ]
		printf '%s\n' "$output" | grep -q '"outcome": "no attribution"'
		printf '%s\n' "$output" | grep -q '"attributed": \[\]'
		printf '%s\n' "$output" | grep -q 'No attribution'
	done
}

@test "30% random answers: the leaker is still named" {
	"$SIM" transcript "$D" noise:user07:30 noisy.jsonl
	run attribute --json -q noisy.jsonl
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '["user07"]' ]
}

@test "failed queries are counted and reported, not scored as misses" {
	"$SIM" transcript "$D" fail:user03:10 failed.jsonl
	run attribute --json failed.jsonl
	[ "$status" -eq 0 ]
	r=$(printf '%s\n' "$output" | grep -v '^cbd-attribute:')
	[ "$(printf '%s\n' "$r" | jq .parameters.answered)" -eq 54 ]
	[ "$(printf '%s\n' "$r" | jq .parameters.failed)" -eq 10 ]
	[ "$(printf '%s\n' "$r" | jq '.users[0].matches')" -eq 54 ]
	printf '%s\n' "$output" | grep -q '54 of 64 triggers answered (10 failed'
}

@test "two copies averaged: both users named (possible coalition)" {
	big="$BATS_TEST_TMPDIR/big"
	mkdir -p "$big"
	"$SIM" setup "$big" 20 160
	"$SIM" transcript "$big" coalition:user04,user15 "$big/c.jsonl"
	run cbd-attribute -t "$big/triggers.json" -K "$big/keyring.json" \
		--json -q "$big/c.jsonl"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .verdict.outcome)" = coalition ]
	[ "$(printf '%s\n' "$output" | jq -c '.verdict.attributed | sort')" = \
		'["user04","user15"]' ]
}

@test "watermark: the owner's copy is recognised, the bare model is not" {
	"$SIM" transcript "$D" watermark wm.jsonl
	"$SIM" transcript "$D" bare-wm bare-wm.jsonl
	run cbd-attribute -t wm-triggers.json -w --json -q wm.jsonl
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r .verdict.watermark)" = present ]
	run cbd-attribute -t wm-triggers.json -w --json -q bare-wm.jsonl
	[ "$status" -eq 1 ]
	[ "$(printf '%s\n' "$output" | jq -r .verdict.watermark)" = "not detected" ]
	# a trace set has no owner labels
	run cbd-attribute -t triggers.json -w -q u05.jsonl
	[ "$status" -eq 64 ]
}

@test "a transcript made for another trigger set is refused" {
	run cbd-attribute -t triggers.json -K keyring.json wm.jsonl
	[ "$status" -eq 65 ]
	[[ "$output" == *"another trigger set"* ]]
}

@test "transcripts from stdin, several transcripts, duplicates ignored" {
	run sh -c "cat u02.jsonl | cbd-attribute -t triggers.json -K keyring.json --json -q -"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c .verdict.attributed)" = '["user02"]' ]
	run attribute --json -q failed.jsonl u03.jsonl
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq .parameters.duplicates)" -eq 54 ]
	[ "$(printf '%s\n' "$output" | jq .parameters.failed)" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq '.evidence.transcripts | length')" -eq 2 ]
}

@test "same inputs and SOURCE_DATE_EPOCH give byte-identical reports" {
	SOURCE_DATE_EPOCH=1700000000 attribute -q -o r1.json u05.jsonl
	SOURCE_DATE_EPOCH=1700000000 attribute -q -o r2.json u05.jsonl
	cmp r1.json r2.json
	grep -q '"created": "2023-11-14T22:13:20Z"' r1.json
	SOURCE_DATE_EPOCH=1700000001 attribute -q -o r3.json u05.jsonl
	! cmp -s r1.json r3.json
}

@test "table: significant users plus the top 20; --top and --full-table" {
	run attribute --json -q --top 3 u05.jsonl
	[ "$(printf '%s\n' "$output" | jq '.users | length')" -eq 3 ]
	run attribute --json -q --full-table u05.jsonl
	[ "$(printf '%s\n' "$output" | jq '.users | length')" -eq 20 ]
	[ "$(printf '%s\n' "$output" | jq '.histogram | add')" -eq 20 ]
}

@test "usage errors exit 64" {
	run cbd-attribute -K keyring.json u05.jsonl
	[ "$status" -eq 64 ]
	run cbd-attribute -t triggers.json u05.jsonl
	[ "$status" -eq 64 ]
	run cbd-attribute -t triggers.json -K keyring.json --sign-key x.key u05.jsonl
	[ "$status" -eq 64 ]
	run cbd-attribute -t triggers.json -K keyring.json --alpha 2 u05.jsonl
	[ "$status" -eq 64 ]
	run cbd-attribute -t triggers.json -K keyring.json - -
	[ "$status" -eq 64 ]
}
