#!/usr/bin/env bats
# manpages.bats — every tool has a man page that lists every option its
# --help shows and no other (short letters included), and every man page
# lints clean with mandoc and groff.

load helpers

setup() {
	cd "$CBD_TOP"
}

# Long options shown by a tool's --help, one per line, without "--".
help_options() {
	"$1" --help | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' |
		sed -E 's/^[ ,]*--//' | sort -u
}

# A man page's text with escapes removed: "\-\-x", "\fB\-\-x\fR" and mdoc's
# "Fl -x" all become "--x".
man_text() {
	sed -E -e 's/\\f[BIRP]//g' -e 's/\\f\[[A-Z]*\]//g' -e 's/\\-/-/g' \
		-e 's/(^|[ ])Fl -/\1--/g' -e 's/Fl ([a-z])/-\1/g' "$1"
}

@test "every tool has a man page listing all its --help options" {
	n=0
	for tool in "$CBD_BUILD"/bin/cbd-*; do
		name=$(basename "$tool")
		page="man/man1/$name.1"
		[ -f "$page" ] || { echo "missing man page $page"; return 1; }
		text=$(man_text "$page")
		for opt in $(help_options "$tool"); do
			if ! printf '%s\n' "$text" | grep -qE -- "--$opt([^a-z0-9-]|$)"; then
				echo "$page does not document --$opt"
				return 1
			fi
		done
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
}

# "x long" (or "- long" without a short letter) for every option a tool's
# --help lists, and the same from its man page's ".It Fl x , Fl -long"
help_pairs() {
	"$1" --help | sed -nE 's/^ +(-([a-zA-Z0-9]), +)?--([a-z][a-z0-9-]*).*/\2 \3/p' |
		sed -E 's/^ /- /' | sort -u
}
man_pairs() {
	sed -nE 's/^\.It Fl (([a-zA-Z0-9]) , Fl )?(\\-|-)([a-z][a-z0-9-]*).*/\2 \4/p' "$1" |
		sed -E 's/^ /- /' | sort -u
}

@test "every option a man page lists, with its short letter, is one --help lists, and the reverse" {
	n=0
	for tool in "$CBD_BUILD"/bin/cbd-*; do
		name=$(basename "$tool")
		help_pairs "$tool" >"$BATS_TEST_TMPDIR/h"
		man_pairs "man/man1/$name.1" >"$BATS_TEST_TMPDIR/m"
		[ -s "$BATS_TEST_TMPDIR/h" ] || { echo "$name: no options in --help"; return 1; }
		[ -s "$BATS_TEST_TMPDIR/m" ] || { echo "$name: no .It Fl options in its man page"; return 1; }
		diff -u "$BATS_TEST_TMPDIR/h" "$BATS_TEST_TMPDIR/m" ||
			{ echo "$name: --help (-) and man page (+) disagree"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 9 ]
}

@test "every tool answers --version and rejects an unknown option with 64" {
	for tool in "$CBD_BUILD"/bin/cbd-*; do
		run "$tool" --version
		[ "$status" -eq 0 ]
		[[ "$output" == "$(basename "$tool") "* ]]
		run "$tool" --no-such-option-anywhere
		[ "$status" -eq 64 ]
		[[ "$output" == *"try '$(basename "$tool") --help'"* ]]
	done
}

@test "man pages lint clean with mandoc and groff" {
	pages=$(ls man/man*/*.[157] 2>/dev/null)
	[ -n "$pages" ]
	for p in $pages; do
		run mandoc -T lint -W warning "$p"
		if [ "$status" -ne 0 ] || [ -n "$output" ]; then
			echo "$output"
			return 1
		fi
		run sh -c "groff -ww -mandoc -z '$p' 2>&1"
		if [ -n "$output" ]; then
			echo "$p: $output"
			return 1
		fi
	done
}
