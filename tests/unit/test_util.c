/*
 * test_util.c — unit tests for lib/util: status strings and exit codes,
 * SHA-256 and hex, bounded reads and atomic writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/util.h"

static void test_strerror_and_exit(void **state)
{
	(void)state;
	for (int s = CBD_OK; s <= CBD_E_SHAPE; s++) {
		assert_non_null(cbd_strerror((cbd_status)s));
		assert_string_not_equal(cbd_strerror((cbd_status)s),
					"unknown status");
	}
	assert_int_equal(cbd_status_exit(CBD_OK), 0);
	assert_int_equal(cbd_status_exit(CBD_E_VERIFY), 1);
	assert_int_equal(cbd_status_exit(CBD_E_FORMAT), EX_DATAERR);
	assert_int_equal(cbd_status_exit(CBD_E_USAGE), EX_USAGE);
	assert_int_equal(cbd_status_exit(CBD_E_NOINPUT), EX_NOINPUT);
	assert_int_equal(cbd_status_exit(CBD_E_CANTCREAT), EX_CANTCREAT);
}

static void test_err_prefix(void **state)
{
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_err_set(&e, CBD_E_FORMAT, "bad %s", "thing"),
			 CBD_E_FORMAT);
	assert_int_equal(cbd_err_prefix(&e, "file.json"), CBD_E_FORMAT);
	assert_string_equal(e.msg, "file.json: bad thing");
}

static void test_sha256_known_answer(void **state)
{
	uint8_t d[32];
	char hex[65];
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_sha256("abc", 3, d, &e), CBD_OK);
	cbd_hex(d, 32, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
				 "b00361a396177a9cb410ff61f20015ad");
}

static void test_unhex(void **state)
{
	uint8_t b[2];
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_unhex("0aFf", b, 2, &e), CBD_OK);
	assert_int_equal(b[0], 0x0a);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(cbd_unhex("0a", b, 2, &e), CBD_E_FORMAT);
	assert_int_equal(cbd_unhex("0aff00", b, 2, &e), CBD_E_FORMAT);
	assert_int_equal(cbd_unhex("0g00", b, 2, &e), CBD_E_FORMAT);
}

static void test_atomic_write_and_read(void **state)
{
	char dir[] = "/tmp/cbd-test-XXXXXX", path[256];
	uint8_t *buf;
	size_t len;
	struct stat st;
	cbd_err e = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out.bin", dir);
	assert_int_equal(cbd_file_write_atomic(path, "hello", 5, 0600, &e),
			 CBD_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cbd_file_read(path, 100, &buf, &len, &e), CBD_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	/* Over the cap: refused, nothing allocated for the caller. */
	assert_int_equal(cbd_file_read(path, 4, &buf, &len, &e),
			 CBD_E_TOOBIG);
	assert_null(buf);
	/* Replacing keeps one file; no temporaries remain. */
	assert_int_equal(cbd_file_write_atomic(path, "bye", 3, 0644, &e),
			 CBD_OK);
	assert_int_equal(cbd_file_read(path, 100, &buf, &len, &e), CBD_OK);
	assert_int_equal(len, 3);
	free(buf);
	unlink(path);
	assert_int_equal(rmdir(dir), 0); /* fails if a temp file was left */
}

static void test_write_noreplace(void **state)
{
	char dir[] = "/tmp/cbd-test-XXXXXX", path[256];
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);
	assert_int_equal(cbd_file_write_atomic_ex(path, "one", 3, 0600, 1, &e),
			 CBD_OK);
	/* An existing file is never replaced, and no temporary is left. */
	assert_int_equal(cbd_file_write_atomic_ex(path, "two", 3, 0600, 1, &e),
			 CBD_E_CANTCREAT);
	assert_non_null(strstr(e.msg, "already exists"));
	assert_int_equal(cbd_file_read(path, 100, &buf, &len, &e), CBD_OK);
	assert_memory_equal(buf, "one", 3);
	free(buf);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void test_write_into_missing_dir_fails_cleanly(void **state)
{
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_file_write_atomic("/nonexistent-dir/x", "a", 1,
					       0644, &e),
			 CBD_E_CANTCREAT);
	assert_non_null(strstr(e.msg, "/nonexistent-dir/x"));
}

static void test_read_missing_file(void **state)
{
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_file_read("/nonexistent/file", 10, &buf, &len,
				       &e),
			 CBD_E_NOINPUT);
	assert_non_null(strstr(e.msg, "/nonexistent/file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror_and_exit),
		cmocka_unit_test(test_err_prefix),
		cmocka_unit_test(test_sha256_known_answer),
		cmocka_unit_test(test_unhex),
		cmocka_unit_test(test_atomic_write_and_read),
		cmocka_unit_test(test_write_noreplace),
		cmocka_unit_test(test_write_into_missing_dir_fails_cleanly),
		cmocka_unit_test(test_read_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
