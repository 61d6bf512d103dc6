/*
 * fuzz.h — shared by the libFuzzer targets in tests/fuzz/fuzz_*.c.
 *
 * Each target defines LLVMFuzzerTestOneInput(data, size) and nothing else
 * with external linkage, so the same file builds two ways:
 *  - with clang -fsanitize=fuzzer (make fuzz, build-fuzz/fuzz/<target>);
 *  - included by tests/unit/test_fuzz_regress.c under a renamed entry
 *    point, which replays the committed seeds and every crashing input
 *    under tests/fuzz/regress/<target>/ in `make check` (and under ASan in
 *    `make check SAN=1`).
 * A target aborts (so libFuzzer records a crash) when the library breaks a
 * contract it can see: a failure without a detail message, or an accepted
 * input that does not survive its own writer.
 */
#ifndef CBD_FUZZ_H
#define CBD_FUZZ_H

#include "cbd.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A failing call must say what failed: non-empty, terminated detail and
 * the same code in err as returned. */
static inline void fuzz_check_err(cbd_status s, const cbd_err *e,
				  const char *what)
{
	if (s == CBD_OK)
		return;
	if (!memchr(e->msg, 0, sizeof(e->msg)) || e->msg[0] == 0 ||
	    e->code != s) {
		fprintf(stderr, "fuzz: %s failed (%s) without a matching "
			"detail: code %d, msg \"%.80s\"\n", what,
			cbd_strerror(s), (int)e->code, e->msg);
		abort();
	}
}

/* A fixed Ed25519 test key (not a secret: it only signs fuzz seeds), so
 * targets can re-sign mutated inputs and seeds can name it as signer. */
#define FUZZ_OWNER_PEM \
	"-----BEGIN PRIVATE KEY-----\n" \
	"MC4CAQAwBQYDK2VwBCIEIAwXHCzmRR0qQ76aJra1x41QtKo9ZOB4zpfBrwXsJcP6\n" \
	"-----END PRIVATE KEY-----\n"

static inline void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz: contract broken: %s\n", what);
	abort();
}

static inline cbd_key *fuzz_owner_key(void)
{
	static cbd_key *k;
	cbd_err e = {0};

	if (!k && cbd_key_from_pem(FUZZ_OWNER_PEM, strlen(FUZZ_OWNER_PEM),
				   "fuzz owner", &k, &e) != CBD_OK) {
		fprintf(stderr, "fuzz: owner key: %s\n", e.msg);
		abort();
	}
	return k;
}

#endif
