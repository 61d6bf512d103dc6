#!/usr/bin/env bats
# pipeline.bats — the investigation through pipes with the real tools:
#   cbd-probe ... -o - | cbd-attribute ... - | cbd-report - -o case.pdf
# works end to end without temporary files of its own, and a failure in any
# stage fails the pipeline with that stage's message.

load helpers

setup_file() {
	export W="$BATS_FILE_TMPDIR/w"
	mkdir -p "$W"
	cd "$W"
	owner_key
	cbd-keygen investigator >/dev/null
	for u in ann ben cat; do
		cbd-keygen user "$u" -K users.keyring -d ukeys >/dev/null
	done
	cbd-embed "$MODEL" -m trace -k owner.key \
		-K users.keyring -d copies >/dev/null
	cbd-sign triggers -a copies/mnist-cnn-ann.cbd -k owner.key -q \
		--from "$DIGITS" -n 32 \
		-o triggers.json
}

setup() {
	cd "$W"
	start_server -q copies/mnist-cnn-ben.cbd
	rm -f port
	before=$(ls -A | sort)
}

teardown() {
	stop_server 2>/dev/null || true
}

pipeline() { # $1: triggers for the probe, $2: keyring, $3: pdf
	set -o pipefail
	cbd-probe -q -m mnist-cnn -o - "$URL" "$1" |
		cbd-attribute -q -t triggers.json -K "$2" \
			-c PIPE-1 --json - |
		cbd-report -q - -o "$3"
}

@test "probe | attribute | report names the leaker, leaves only the PDF" {
	run pipeline triggers.json users.keyring case.pdf
	[ "$status" -eq 0 ]
	after=$(ls -A | sort)
	[ "$(comm -13 <(echo "$before") <(echo "$after"))" = "case.pdf" ]
	text=$(pdftotext case.pdf -)
	[[ "$text" == *"PIPE-1"* ]]
	[[ "$text" == *"Attributed to user ben"* ]]
}

@test "a failing probe fails the pipeline with cbd-probe's message" {
	run pipeline missing.json users.keyring case2.pdf
	[ "$status" -ne 0 ]
	[[ "$output" == *"cbd-probe: error:"*"missing.json"* ]]
	[ ! -e case2.pdf ]
}

@test "a failing attribution fails the pipeline with cbd-attribute's message" {
	run pipeline triggers.json missing.keyring case3.pdf
	[ "$status" -ne 0 ]
	[[ "$output" == *"cbd-attribute: error:"*"missing.keyring"* ]]
	[ ! -e case3.pdf ]
}

@test "a failing render fails the pipeline with cbd-report's message" {
	run pipeline triggers.json users.keyring /nonexistent-dir/case.pdf
	[ "$status" -ne 0 ]
	[[ "$output" == *"cbd-report: error:"*"/nonexistent-dir/case.pdf"* ]]
	[ "$(ls -A | sort)" = "$before" ]
}

@test "the report carries the probe's start and end times from the transcript" {
	cbd-probe -q -m mnist-cnn -o "$BATS_TEST_TMPDIR/t.jsonl" "$URL" triggers.json
	r=$(cbd-attribute -q -t triggers.json -K users.keyring --json \
		"$BATS_TEST_TMPDIR/t.jsonl")
	end=$(jq -r 'select(.type == "end") | .time' "$BATS_TEST_TMPDIR/t.jsonl")
	start=$(head -1 "$BATS_TEST_TMPDIR/t.jsonl" | jq -r .start)
	[ -n "$end" ]
	[ "$(printf '%s\n' "$r" | jq -r .suspect.probe_end)" = "$end" ]
	[ "$(printf '%s\n' "$r" | jq -r .suspect.probe_start)" = "$start" ]
}
