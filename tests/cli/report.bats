#!/usr/bin/env bats
# report.bats — signed reports and their PDF rendering: the detached
# Ed25519 signature verifies with cbd-report/cbd-verify and with the stock
# openssl CLI alone; one changed byte fails both; the PDF opens, names the
# verdict and the case (pdftotext) and renders (pdftoppm); pipes work end
# to end (transcript | cbd-attribute | cbd-report).

load helpers

setup_file() {
	sim_case
	cd "$D"
	cbd-keygen investigator inv -d "$D" >/dev/null
	cbd-keygen investigator other -d "$D" >/dev/null
	"$SIM" transcript "$D" user:user11 u11.jsonl
	SOURCE_DATE_EPOCH=1764000000 cbd-attribute -q -t triggers.json \
		-K keyring.json --sign-key inv.key -o report.json \
		-c CASE-2026-042 -i "Dana Investigator" u11.jsonl
}

setup() {
	cd "$D"
}

@test "the report's .sig is a raw 64-byte Ed25519 signature that openssl verifies" {
	[ "$(stat -c %s report.json.sig)" -eq 64 ]
	run openssl pkeyutl -verify -pubin -inkey inv.pub -rawin \
		-in report.json -sigfile report.json.sig
	[ "$status" -eq 0 ]
	[[ "$output" == *"Signature Verified Successfully"* ]]
	# the embedded public key is the investigator's, with its id
	jq -j .investigator.public_key report.json | cmp - inv.pub
	# key id: first 16 hex digits of SHA-256 of the SPKI DER
	[ "$(jq -r .investigator.key_id report.json)" = \
		"$(openssl pkey -pubin -in inv.pub -outform DER | sha256sum | cut -c1-16)" ]
}

@test "one changed byte fails openssl and cbd-report" {
	cp report.json bad.json
	cp report.json.sig bad.json.sig
	# flip one digit of user11's match count
	sed -i '0,/"matches": 64/s//"matches": 63/' bad.json
	! cmp -s report.json bad.json
	run openssl pkeyutl -verify -pubin -inkey inv.pub -rawin \
		-in bad.json -sigfile bad.json.sig
	[ "$status" -ne 0 ]
	run cbd-report bad.json -o bad.pdf
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad report signature"* ]]
	[ ! -e bad.pdf ]
}

@test "cbd-verify checks a report" {
	run cbd-verify report.json
	[ "$status" -eq 0 ]
	run cbd-verify --key inv.pub report.json
	[ "$status" -eq 0 ]
	run cbd-verify --key other.pub report.json
	[ "$status" -eq 1 ]
	cp report.json v.json
	cp report.json.sig v.json.sig
	sed -i 's/CASE-2026-042/CASE-2026-043/' v.json
	run cbd-verify v.json
	[ "$status" -eq 1 ]
}

@test "cbd-report --key: the right signer passes, another key is refused" {
	run cbd-report --key inv.pub report.json -o ok.pdf
	[ "$status" -eq 0 ]
	run cbd-report --key other.pub report.json -o no.pdf
	[ "$status" -eq 1 ]
	[ ! -e no.pdf ]
}

@test "the PDF names the verdict and the case, and renders" {
	SOURCE_DATE_EPOCH=1764000000 cbd-report -q report.json -o case.pdf \
		--triggers triggers.json --transcript u11.jsonl
	[ "$(head -c 5 case.pdf)" = "%PDF-" ]
	text=$(pdftotext case.pdf -)
	[[ "$text" == *"CASE-2026-042"* ]]
	[[ "$text" == *"Attributed to user user11"* ]]
	[[ "$text" == *"verified: Ed25519 key $(jq -r .investigator.key_id report.json)"* ]]
	[[ "$text" == *"returned"* ]]
	pdftoppm -r 50 -png -f 1 -l 1 case.pdf page
	[ -s page-1.png ]
	pdfinfo case.pdf | grep -q "CreationDate:.*2025"
	# with the keyring: the named user's label under each thumbnail
	cbd-report -q report.json -o kr.pdf --triggers triggers.json \
		--transcript u11.jsonl --keyring keyring.json
	[ "$(pdftotext kr.pdf - | grep -c 'user11: [0-9] ✓')" -eq 8 ]
	# reproducible too
	SOURCE_DATE_EPOCH=1764000000 cbd-report -q report.json -o case2.pdf \
		--triggers triggers.json --transcript u11.jsonl
	cmp case.pdf case2.pdf
}

@test "pipes: transcript | cbd-attribute | cbd-report - -o -" {
	"$SIM" transcript "$D" user:user06 - |
		cbd-attribute -q -t triggers.json -K keyring.json --json \
			-c PIPE-1 - |
		cbd-report -q - -o - >pipe.pdf
	[ "$(head -c 5 pipe.pdf)" = "%PDF-" ]
	text=$(pdftotext pipe.pdf -)
	[[ "$text" == *"PIPE-1"* ]]
	[[ "$text" == *"user06"* ]]
	[[ "$text" == *"not checked"* ]]
}

@test "no attribution renders too; non-reports and bad options are refused" {
	"$SIM" transcript "$D" bare bare.jsonl
	run cbd-attribute -q -t triggers.json -K keyring.json -o none.json \
		-c CASE-0 bare.jsonl
	[ "$status" -eq 1 ]
	cbd-report -q none.json -o none.pdf
	pdftotext none.pdf - | grep -q "No attribution"
	run cbd-report triggers.json -o x.pdf
	[ "$status" -eq 65 ]
	run cbd-report report.json
	[ "$status" -eq 64 ]
	run cbd-report --triggers triggers.json report.json -o x.pdf
	[ "$status" -eq 64 ]
}

@test "reports validate against formats/report.schema.json" {
	"$SIM" transcript "$D" watermark wm.jsonl
	cbd-attribute -q -t wm-triggers.json -w -o wm.json wm.jsonl
	cbd-attribute -q -t triggers.json -K keyring.json --full-table \
		-o full.json u11.jsonl
	for r in report.json none.json wm.json full.json; do
		$PY - "$CBD_TOP/formats/report.schema.json" "$r" <<'PYEOF'
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
jsonschema.Draft202012Validator(schema).validate(json.load(open(sys.argv[2])))
PYEOF
	done
	# and a broken one does not
	jq '.verdict.outcome = "guilty"' report.json >broken.json
	! $PY -c 'import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))' \
		"$CBD_TOP/formats/report.schema.json" broken.json 2>/dev/null
}
