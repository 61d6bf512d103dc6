/*
 * test_fuzz_regress.c — replays the fuzz seeds and every input that once
 * crashed a fuzz target, in the ordinary test build.
 *
 * Each libFuzzer target in tests/fuzz/fuzz_<t>.c is included here with its
 * entry point renamed, so `make check` (and `make check SAN=1`, under
 * ASan+UBSan) runs every file of tests/fuzz/corpus/<t>/ and
 * tests/fuzz/regress/<t>/ through exactly the code the fuzzer ran.  A target aborts on a broken
 * contract, which fails the test run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util_internal.h"

#define LLVMFuzzerTestOneInput fuzz_target_tensor
#include "../fuzz/fuzz_tensor.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_keys
#include "../fuzz/fuzz_keys.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_keyring
#include "../fuzz/fuzz_keyring.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_circuit
#include "../fuzz/fuzz_circuit.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_transcript
#include "../fuzz/fuzz_transcript.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_report
#include "../fuzz/fuzz_report.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_nn
#include "../fuzz/fuzz_nn.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_archive
#include "../fuzz/fuzz_archive.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_triggers
#include "../fuzz/fuzz_triggers.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_serve
#include "../fuzz/fuzz_serve.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_target_probe
#include "../fuzz/fuzz_probe.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* Run fn on every file in dir (missing dir: nothing); returns the count. */
static size_t replay_dir(const char *dir, fuzz_fn fn)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		uint8_t *buf;
		size_t len;
		cbd_err e = {0};

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (cbd_file_read(path, CBD_MAX_FILE, &buf, &len, &e) !=
		    CBD_OK)
			fail_msg("%s", e.msg);
		print_message("# replay %s\n", path);
		fn(buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

static void replay(const char *target, fuzz_fn fn, int need_seeds)
{
	const char *top = getenv("CBD_TOP");
	char dir[4096];
	size_t seeds;

	if (!top)
		top = ".";
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, target);
	seeds = replay_dir(dir, fn);
	if (need_seeds && seeds == 0)
		fail_msg("no seeds in %s", dir);
	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regress/%s", top, target);
	replay_dir(dir, fn);
}

static void test_tensor(void **state)
{
	(void)state;
	replay("tensor", fuzz_target_tensor, 1);
}

static void test_keys(void **state)
{
	(void)state;
	replay("keys", fuzz_target_keys, 1);
}

static void test_keyring(void **state)
{
	(void)state;
	replay("keyring", fuzz_target_keyring, 1);
}

static void test_circuit(void **state)
{
	(void)state;
	replay("circuit", fuzz_target_circuit, 1);
}

static void test_transcript(void **state)
{
	(void)state;
	replay("transcript", fuzz_target_transcript, 1);
}

static void test_report(void **state)
{
	(void)state;
	replay("report", fuzz_target_report, 1);
}

static void test_nn(void **state)
{
	(void)state;
	replay("nn", fuzz_target_nn, 1);
}

static void test_archive(void **state)
{
	(void)state;
	replay("archive", fuzz_target_archive, 1);
}

static void test_triggers(void **state)
{
	(void)state;
	replay("triggers", fuzz_target_triggers, 1);
}

static void test_serve(void **state)
{
	(void)state;
	replay("serve", fuzz_target_serve, 1);
}

static void test_probe(void **state)
{
	(void)state;
	replay("probe", fuzz_target_probe, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tensor),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_circuit),
		cmocka_unit_test(test_transcript),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_nn),
		cmocka_unit_test(test_archive),
		cmocka_unit_test(test_triggers),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
