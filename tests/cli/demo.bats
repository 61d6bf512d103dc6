#!/usr/bin/env bats
# demo.bats — `make demo`'s script end to end (with a smaller trigger set):
# the leaked copy is attributed to the right licensee and nobody else, the
# report verifies, the PDF renders, and the auth archive answers a signed
# digit correctly.

load helpers

@test "the demo names the leaker, signs and renders the report" {
	out="$BATS_TEST_TMPDIR/demo"
	run env CBD_DEMO_DIR="$out" CBD_DEMO_TRIGGERS=32 CBD_DEMO_LEAKER=dave \
		BUILD="$CBD_BUILD" sh "$CBD_TOP/tools/demo.sh"
	echo "$output" | tail -20
	[ "$status" -eq 0 ]
	[[ "$output" == *"verdict:                Attributed to user dave ("* ]]
	[[ "$output" == *"Signature Verified Successfully"* ]]
	[ -s "$out/report.pdf" ]
	pdftotext "$out/report.pdf" - | grep -q "DEMO-001"
	pdftotext "$out/report.pdf" - | grep -q "dave"
	[[ "$output" == *"auth, signed by alice:  20 of 20 answered correctly"* ]]
	unsigned=$(echo "$output" | sed -n 's/.*auth, unsigned digits: \([0-9]*\) of 20.*/\1/p')
	[ -n "$unsigned" ]
	[ "$unsigned" -le 10 ]
}
