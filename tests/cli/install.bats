#!/usr/bin/env bats
# install.bats — `make install` puts tools, library, header, pkg-config file
# and man pages under PREFIX, and a program built with pkg-config links and
# runs against the installed shared library.

load helpers

@test "make install PREFIX=... installs a usable library and the man pages" {
	p="$BATS_TEST_TMPDIR/prefix"
	# install from the build under test (make check SAN=1 tests build-san)
	sanvar=
	if nm -D "$CBD_BUILD/libcbd.so" | grep -q __asan; then
		sanvar=SAN=1
	fi
	make -C "$CBD_TOP" --no-print-directory BUILD="$CBD_BUILD" $sanvar \
		install PREFIX="$p" >/dev/null
	for t in "$CBD_BUILD"/bin/cbd-*; do
		[ -x "$p/bin/$(basename "$t")" ]
	done
	[ -f "$p/include/cbd.h" ]
	[ -f "$p/lib/libcbd.a" ]
	[ -f "$p/share/man/man7/cbd.7" ]
	[ -f "$p/share/man/man5/cbd-archive.5" ]
	cat >"$BATS_TEST_TMPDIR/t.c" <<'EOF2'
#include <cbd.h>
#include <stdio.h>
int main(void)
{
	unsigned char d[CBD_SHA256_LEN];
	char hex[2 * CBD_SHA256_LEN + 1];
	cbd_err e = {0};

	if (cbd_sha256("abc", 3, d, &e) != CBD_OK)
		return 1;
	cbd_hex(d, sizeof(d), hex);
	printf("%s %s\n", CBD_VERSION, hex);
	return 0;
}
EOF2
	export PKG_CONFIG_PATH="$p/lib/pkgconfig"
	# a sanitizer build's library needs the sanitizer runtimes linked in
	san=
	if nm -D "$p/lib/libcbd.so" | grep -q __asan; then
		san="-fsanitize=address,undefined"
	fi
	cc $san "$BATS_TEST_TMPDIR/t.c" $(pkg-config --cflags --libs cbd) \
		-o "$BATS_TEST_TMPDIR/t"
	run env LD_LIBRARY_PATH="$p/lib" "$BATS_TEST_TMPDIR/t"
	[ "$status" -eq 0 ]
	[ "$output" = "0.1.0 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" ]
	# the shared library exports the cbd_ namespace and nothing else
	[ -z "$(nm -D --defined-only "$p/lib/libcbd.so" | awk '{print $3}' |
		grep -v '^cbd_' | grep -v '^_')" ]
	# the binary really uses the installed shared library
	env LD_LIBRARY_PATH="$p/lib" ldd "$BATS_TEST_TMPDIR/t" | grep -q "$p/lib/libcbd.so"
}
