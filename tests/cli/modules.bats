#!/usr/bin/env bats
# modules.bats — lib/ and bin/ follow the module map (docs/MODULES.md):
# one folder per module, the files and header each row lists, #include
# lines and cross-module symbol uses only where a row allows them, no
# cycles, tools including only cbd.h.  tools/check-modules.py does the
# checking; the second half shows that it fails when the tree breaks a rule.

load helpers

setup() {
	cd "$CBD_TOP"
}

check() { # [--root DIR]
	$PY tools/check-modules.py --objects "$CBD_BUILD" "$@"
}

# A copy of what the checker reads, to break on purpose.
copy_tree() {
	t="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$t"
	cp -r lib bin include docs "$t"/
}

@test "lib/ and bin/ follow docs/MODULES.md" {
	run check
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"follow docs/MODULES.md"* ]]
}

@test "module map: a header of a module not in the includes column fails" {
	copy_tree
	sed -i 's|#include "../util/util_internal.h"|#include "../probe/probe_internal.h"|' \
		"$t/lib/serve/serve_internal.h"
	run check --root "$t"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *'lib/serve/serve_internal.h:9: serve includes "../probe/probe_internal.h" of module probe'* ]]
}

@test "module map: a module's second header, or another module's non-API header, fails" {
	copy_tree
	printf '#include "../nn/nn_internal.h"\n' >>"$t/lib/model/model.c"
	: >"$t/lib/keyring/keyring_extra.h"
	run check --root "$t"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"model includes \"../nn/nn_internal.h\" of module nn"* ]]
	[[ "$output" == *"lib/keyring/keyring_extra.h: a second header"* ]]
}

@test "module map: a tool including a private header fails" {
	copy_tree
	printf '#include "../lib/circuit/circuit_internal.h"\n' >>"$t/bin/cbd-run.c"
	run check --root "$t"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bin/cbd-run.c:"*"a tool includes lib/circuit/circuit_internal.h"* ]]
}

@test "module map: a flat file in lib/, or a file the map does not list, fails" {
	copy_tree
	: >"$t/lib/stray.c"
	: >"$t/lib/archive/zip.c"
	run check --root "$t"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"lib/stray.c: a file outside any module folder"* ]]
	[[ "$output" == *"lib/archive/zip.c: not listed in archive's row"* ]]
}

@test "module map: a symbol use outside the calls column, and a cycle, fail" {
	copy_tree
	# archive's objects call keys; take keys out of archive's calls
	# column.  Let util call serve: util -> serve -> util.
	sed -i -e 's/^\(| `archive` .*\)| `circuit`, `keys`, `util` |$/\1| `circuit`, `util` |/' \
		-e 's/^\(| `util` .*\)| — | — |$/\1| — | `serve` |/' "$t/docs/MODULES.md"
	run check --root "$t"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"archive.o: archive uses"*"of module keys, not in archive's calls column"* ]]
	[[ "$output" == *"dependency cycle util -> serve -> util"* ]]
}

@test "libcbd.so exports exactly the functions cbd.h declares, no internal helper" {
	# the declared list read here from the header's text (comments removed),
	# independently of tools/libcbd-map.sh's preprocessor pass
	$PY - "$CBD_TOP/include/cbd.h" >"$BATS_TEST_TMPDIR/declared" <<'PY'
import re, sys
s = re.sub(r"/\*.*?\*/", "", open(sys.argv[1]).read(), flags=re.S)
types = set(re.findall(r"typedef\s+(?:enum|struct)\s+(cbd_[a-z0-9_]+)", s))
calls = set(re.findall(r"\b(cbd_[a-z0-9_]+)\s*\(", s)) - types
print("\n".join(sorted(calls)))
PY
	nm -D --defined-only "$CBD_BUILD/libcbd.so" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
		grep -v '^_' | sort >"$BATS_TEST_TMPDIR/exported"
	diff "$BATS_TEST_TMPDIR/declared" "$BATS_TEST_TMPDIR/exported"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/declared")" -gt 100 ]
	# an internal helper, present in the static library, is not exported
	nm "$CBD_BUILD/libcbd.a" 2>/dev/null | grep -q ' T cbd_buf_puts$'
	! nm -D --defined-only "$CBD_BUILD/libcbd.so" | grep -q ' cbd_buf_puts$'
}
