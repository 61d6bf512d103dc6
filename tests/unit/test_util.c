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
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "util/util_internal.h"

#include <cjson/cJSON.h>

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

/* cbd_json_put_str into a fixed buffer */
struct sink {
	char b[2048];
	size_t n;
	int calls;
};

static void sink_put(void *ctx, const char *s, size_t n)
{
	struct sink *k = ctx;

	assert_true(k->n + n < sizeof(k->b));
	memcpy(k->b + k->n, s, n);
	k->n += n;
	k->b[k->n] = 0;
	k->calls++;
}

static const char *quote(struct sink *k, const char *s, bool ascii)
{
	memset(k, 0, sizeof(*k));
	cbd_json_put_str(s, ascii, sink_put, k);
	return k->b;
}

static void test_json_string_spelling(void **state)
{
	struct sink k;
	char all[256];
	cJSON *j;

	(void)state;
	assert_string_equal(quote(&k, "alice", false), "\"alice\"");
	assert_int_equal(k.calls, 3);   /* quote, one literal run, quote */
	assert_string_equal(quote(&k, NULL, false), "\"\"");
	assert_string_equal(quote(&k, "a\"b\\c\nd\te\rf\x7f", false),
			    "\"a\\\"b\\\\c\\nd\\u0009e\\u000df\\u007f\"");
	/* UTF-8 passes through, except for circuit.json (ASCII only) */
	assert_string_equal(quote(&k, "jos\xc3\xa9", false),
			    "\"jos\xc3\xa9\"");
	assert_string_equal(quote(&k, "jos\xc3\xa9", true),
			    "\"jos\\u00c3\\u00a9\"");
	/* every byte 1..127 round-trips through a JSON parser */
	for (int i = 1; i < 128; i++)
		all[i - 1] = (char)i;
	all[127] = 0;
	for (int ascii = 0; ascii < 2; ascii++) {
		j = cJSON_Parse(quote(&k, all, ascii));
		assert_non_null(j);
		assert_true(cJSON_IsString(j));
		assert_string_equal(j->valuestring, all);
		cJSON_Delete(j);
	}
	/* the tools' stdio form spells the same */
	{
		char *mem = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&mem, &len);

		assert_non_null(f);
		cbd_json_print_str(f, "a\"b\tc\xc3\xa9");
		fclose(f);
		assert_string_equal(mem, quote(&k, "a\"b\tc\xc3\xa9", false));
		free(mem);
	}
}

/* cbd_buf, plain and secret: the same bytes through many growths, a
 * failed append sticks, free zeroes the struct. */
static void test_buf_plain_and_secret(void **state)
{
	(void)state;
	for (int secret = 0; secret <= 1; secret++) {
		cbd_buf b = {.secret = secret};
		char want[5000];

		for (size_t i = 0; i < sizeof(want); i++) {
			want[i] = (char)('a' + i % 26);
			cbd_buf_add(&b, &want[i], 1);
		}
		assert_int_equal(b.st, CBD_OK);
		assert_int_equal(b.len, sizeof(want));
		assert_memory_equal(b.p, want, sizeof(want));
		assert_int_equal(b.p[b.len], 0);
		cbd_buf_printf(&b, "%s-%d", "x", 42);
		assert_string_equal(b.p + sizeof(want), "x-42");
		cbd_buf_add(&b, "", SIZE_MAX);   /* overflows: sticks */
		assert_int_equal(b.st, CBD_E_NOMEM);
		cbd_buf_puts(&b, "more");
		assert_int_equal(b.len, sizeof(want) + 4);
		cbd_buf_free(&b);
		assert_null(b.p);
		assert_int_equal(b.len, 0);
		assert_int_equal(b.secret, 0);
	}
}

/* max caps the contents: exactly max bytes fit, one more is TOOBIG, and
 * cbd_buf_finish reports it and frees. */
static void test_buf_max(void **state)
{
	cbd_buf b = {.max = 8};
	uint8_t *out;
	size_t len;
	cbd_err e = {0};

	(void)state;
	cbd_buf_puts(&b, "12345678");
	assert_int_equal(b.st, CBD_OK);
	assert_int_equal(cbd_buf_finish(&b, "x", &out, &len, &e), CBD_OK);
	assert_int_equal(len, 8);
	assert_memory_equal(out, "12345678", 9);
	free(out);
	b = (cbd_buf){.max = 8};
	cbd_buf_puts(&b, "1234");
	cbd_buf_printf(&b, "%s", "56789");
	assert_int_equal(b.st, CBD_E_TOOBIG);
	assert_int_equal(cbd_buf_finish(&b, "x", &out, &len, &e),
			 CBD_E_TOOBIG);
	assert_null(out);
	assert_null(b.p);
}

/* The one bounded reader on a pipe (no size hint): exactly max bytes, one
 * more, an empty stream, a stream much longer than the first step, both
 * modes. */
static void read_pipe(const uint8_t *data, size_t n, size_t max, int secret,
		      cbd_status want)
{
	uint8_t *buf = NULL;
	size_t len = 7;
	cbd_err e = {0};
	int fd[2];
	FILE *w;

	assert_int_equal(pipe(fd), 0);
	if (fork() == 0) {
		close(fd[0]);
		w = fdopen(fd[1], "w");
		fwrite(data, 1, n, w);
		fclose(w);
		_exit(0);
	}
	close(fd[1]);
	assert_int_equal(cbd_fd_read_all(fd[0], "pipe", max, 0, secret, &buf,
					 &len, &e), want);
	close(fd[0]);
	while (wait(NULL) > 0)
		;
	if (want == CBD_OK) {
		assert_int_equal(len, n);
		assert_memory_equal(buf, data, n);
		assert_int_equal(buf[n], 0);
		free(buf);
	} else {
		assert_null(buf);
		assert_int_equal(len, 0);
		assert_non_null(strstr(e.msg, "larger than"));
		assert_non_null(strstr(e.msg, "(pipe)"));
	}
}

static void test_fd_read_all_bounds(void **state)
{
	size_t big = 300000;
	uint8_t *d = malloc(big);

	(void)state;
	assert_non_null(d);
	for (size_t i = 0; i < big; i++)
		d[i] = (uint8_t)(i * 131 + 7);
	for (int secret = 0; secret < 2; secret++) {
		read_pipe(d, 0, 10, secret, CBD_OK);
		read_pipe(d, 10, 10, secret, CBD_OK);
		read_pipe(d, 11, 10, secret, CBD_E_TOOBIG);
		read_pipe(d, big, big, secret, CBD_OK);
		read_pipe(d, big, big - 1, secret, CBD_E_TOOBIG);
		read_pipe(d, big, 70000, secret, CBD_E_TOOBIG);
	}
	free(d);
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
		cmocka_unit_test(test_json_string_spelling),
		cmocka_unit_test(test_buf_plain_and_secret),
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_fd_read_all_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
