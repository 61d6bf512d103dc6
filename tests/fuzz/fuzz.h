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

static inline void fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz: contract broken: %s\n", what);
	abort();
}

#endif
