#!/usr/bin/env bats
# options.bats — the suite-wide option rules (bin/tool.h, cbd(7)): an option
# several tools share has one short letter everywhere, that letter means
# nothing else in any tool, and every tool parses its command line the same
# way (options after operands, also under POSIXLY_CORRECT; "--" ends them).

load helpers

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# The agreed letters: "long letter", "-" for none.
shared() {
	cat <<-EOF
	key k
	keyring K
	threads j
	output o
	quiet q
	json -
	passphrase-file -
	EOF
}

# "tool letter long" for every option of every tool's --help ("-" for no
# letter).
all_pairs() {
	for tool in "$CBD_BUILD"/bin/cbd-*; do
		"$tool" --help >"$BATS_TEST_TMPDIR/help" ||
			{ echo "$tool --help failed" >&2; return 1; }
		sed -nE 's/^ +(-([a-zA-Z0-9]), +)?--([a-z][a-z0-9-]*).*/\2 \3/p' \
			"$BATS_TEST_TMPDIR/help" |
			sed -E "s/^ /- /; s|^|$(basename "$tool") |"
	done
}

@test "a shared option has its agreed letter in every tool that has it" {
	all_pairs >pairs
	[ "$(cut -d' ' -f1 pairs | sort -u | wc -l)" -ge 9 ]
	bad=0
	while read -r long letter; do
		n=0
		while read -r tool got opt; do
			[ "$opt" = "$long" ] || continue
			n=$((n + 1))
			if [ "$got" != "$letter" ]; then
				echo "$tool: --$long has letter '$got', the suite's is '$letter'"
				bad=1
			fi
		done <pairs
		[ "$n" -gt 0 ] || { echo "no tool has --$long"; bad=1; }
	done < <(shared)
	[ "$bad" -eq 0 ]
}

@test "a shared option's letter means that option and nothing else, in every tool" {
	all_pairs >pairs
	bad=0
	while read -r long letter; do
		[ "$letter" != - ] || continue
		while read -r tool got opt; do
			if [ "$got" = "$letter" ] && [ "$opt" != "$long" ]; then
				echo "$tool: -$letter is --$opt, the suite's -$letter is --$long"
				bad=1
			fi
		done <pairs
	done < <(shared)
	# and no two shared options share a letter
	dup=$(shared | awk '$2 != "-" { print $2 }' | sort | uniq -d)
	[ -z "$dup" ] || { echo "letter used twice in the shared set: $dup"; bad=1; }
	[ "$bad" -eq 0 ]
}

@test "every tool takes options after operands, also under POSIXLY_CORRECT, and none after --" {
	for tool in "$CBD_BUILD"/bin/cbd-*; do
		name=$(basename "$tool")
		for env in "" "POSIXLY_CORRECT=1"; do
			run env $env "$tool" operand --no-such-option-anywhere
			[ "$status" -eq 64 ] ||
				{ echo "$name ($env): option after an operand not parsed"; return 1; }
			[[ "$output" == *"--no-such-option-anywhere"* ]]
			run env $env "$tool" operand --help
			[ "$status" -eq 0 ]
			[[ "$output" == "usage: $name "* ]]
		done
	done
	# after "--", an option is an operand: cbd-verify opens it as a file
	run cbd-verify -- --json
	[ "$status" -eq 66 ]
	[[ "$output" == *"cannot open --json"* ]]
	# operands keep their order around options
	run cbd-verify a --json b
	[ "$status" -eq 64 ]
	[[ "$output" == *"want exactly one FILE"* ]]
}
