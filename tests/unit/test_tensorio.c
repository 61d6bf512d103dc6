/*
 * test_tensorio.c — PNG, NPY and JSON tensor codecs: round trips, and
 * malformed files (truncated, wrong dtype, wrong dims, huge dims) that must
 * fail with a status and a detail naming the file, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "util/util_internal.h"

static cbd_tensor *make_u8(int c, int h, int w)
{
	int64_t dims[3] = {c, h, w};
	cbd_tensor *t;
	cbd_err e = {0};

	assert_int_equal(cbd_tensor_new(CBD_DT_UINT8, 3, dims, &t, &e),
			 CBD_OK);
	for (size_t i = 0; i < t->nelem; i++)
		((uint8_t *)t->data)[i] = (uint8_t)(i * 37 + 11);
	return t;
}

static void roundtrip(const cbd_tensor *t, cbd_tensor_format fmt,
		      cbd_dtype want_dt)
{
	uint8_t *buf;
	size_t len;
	cbd_tensor *u;
	cbd_err e = {0};

	assert_int_equal(cbd_tensor_encode(t, fmt, &buf, &len, &e), CBD_OK);
	/* Auto-detection must find the same format. */
	assert_int_equal(cbd_tensor_parse(buf, len, CBD_TF_AUTO, "mem", &u,
					  &e),
			 CBD_OK);
	assert_int_equal(u->dtype, want_dt);
	assert_int_equal(u->ndim, t->ndim);
	assert_memory_equal(u->dims, t->dims, sizeof(int64_t) * t->ndim);
	if (want_dt == t->dtype) {
		assert_memory_equal(u->data, t->data, t->nbytes);
	} else {
		for (size_t i = 0; i < t->nelem; i++)
			assert_true(((float *)u->data)[i] ==
				    ((uint8_t *)t->data)[i]);
	}
	free(buf);
	cbd_tensor_free(u);
}

static void test_png_roundtrip(void **state)
{
	cbd_tensor *g = make_u8(1, 28, 28), *rgb = make_u8(3, 5, 7);

	(void)state;
	roundtrip(g, CBD_TF_PNG, CBD_DT_UINT8);
	roundtrip(rgb, CBD_TF_PNG, CBD_DT_UINT8);
	cbd_tensor_free(g);
	cbd_tensor_free(rgb);
}

static void test_npy_roundtrip(void **state)
{
	cbd_tensor *u8 = make_u8(2, 3, 4), *f;
	cbd_err e = {0};

	(void)state;
	roundtrip(u8, CBD_TF_NPY, CBD_DT_UINT8);
	assert_int_equal(cbd_tensor_to_float(u8, &f, &e), CBD_OK);
	((float *)f->data)[0] = 0.1f;
	((float *)f->data)[1] = -3.25e-7f;
	roundtrip(f, CBD_TF_NPY, CBD_DT_FLOAT32);
	roundtrip(f, CBD_TF_JSON, CBD_DT_FLOAT32); /* %.9g round-trips */
	roundtrip(u8, CBD_TF_JSON, CBD_DT_FLOAT32);
	cbd_tensor_free(u8);
	cbd_tensor_free(f);
}

static cbd_status parse_str(const char *s, size_t len, cbd_tensor_format fmt,
			    cbd_err *e)
{
	cbd_tensor *t = NULL;
	cbd_status st = cbd_tensor_parse((const uint8_t *)s, len, fmt,
					 "bad.file", &t, e);

	if (st == CBD_OK)
		cbd_tensor_free(t);
	else
		assert_null(t);
	return st;
}

static void test_png_malformed(void **state)
{
	cbd_tensor *g = make_u8(1, 28, 28);
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_tensor_encode(g, CBD_TF_PNG, &buf, &len, &e),
			 CBD_OK);
	/* Truncated at several points. */
	for (size_t cut = 9; cut < len; cut += len / 7) {
		assert_int_not_equal(parse_str((char *)buf, cut, CBD_TF_PNG,
					       &e), CBD_OK);
		assert_non_null(strstr(e.msg, "bad.file"));
	}
	/* Huge width in the IHDR (bytes 16..19), CRC now wrong too. */
	buf[16] = 0x7f;
	assert_int_not_equal(parse_str((char *)buf, len, CBD_TF_PNG, &e),
			     CBD_OK);
	assert_int_not_equal(parse_str("\x89PNG\r\n\x1a\n", 8, CBD_TF_PNG, &e),
			     CBD_OK);
	free(buf);
	cbd_tensor_free(g);
}

static void npy_header(char *out, size_t *len, const char *dict,
		       size_t data_len)
{
	size_t h = strlen(dict);

	memcpy(out, "\x93NUMPY\x01\x00", 8);
	out[8] = (char)(h & 0xff);
	out[9] = (char)(h >> 8);
	memcpy(out + 10, dict, h);
	memset(out + 10 + h, 0, data_len);
	*len = 10 + h + data_len;
}

static void test_npy_malformed(void **state)
{
	char buf[1024];
	size_t len;
	cbd_err e = {0};

	(void)state;
	npy_header(buf, &len, "{'descr': '|u1', 'fortran_order': False, "
		   "'shape': (2, 3), }\n", 6);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e), CBD_OK);
	/* Truncated data. */
	assert_int_equal(parse_str(buf, len - 1, CBD_TF_NPY, &e),
			 CBD_E_FORMAT);
	assert_non_null(strstr(e.msg, "bad.file"));
	/* Truncated header. */
	assert_int_equal(parse_str(buf, 20, CBD_TF_NPY, &e), CBD_E_FORMAT);
	/* Wrong dtype. */
	npy_header(buf, &len, "{'descr': '<c8', 'fortran_order': False, "
		   "'shape': (2,), }\n", 16);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e),
			 CBD_E_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "descr"));
	/* Big-endian float. */
	npy_header(buf, &len, "{'descr': '>f4', 'fortran_order': False, "
		   "'shape': (2,), }\n", 8);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e),
			 CBD_E_UNSUPPORTED);
	/* Huge dims: product overflows / passes the element cap. */
	npy_header(buf, &len, "{'descr': '<f4', 'fortran_order': False, "
		   "'shape': (4294967296, 4294967296), }\n", 0);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e), CBD_E_TOOBIG);
	npy_header(buf, &len, "{'descr': '<f4', 'fortran_order': False, "
		   "'shape': (99999999999999999999999,), }\n", 0);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e), CBD_E_TOOBIG);
	/* Fortran order. */
	npy_header(buf, &len, "{'descr': '|u1', 'fortran_order': True, "
		   "'shape': (2, 3), }\n", 6);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e),
			 CBD_E_UNSUPPORTED);
	/* No shape. */
	npy_header(buf, &len, "{'descr': '|u1', 'fortran_order': False}\n", 1);
	assert_int_equal(parse_str(buf, len, CBD_TF_NPY, &e), CBD_E_FORMAT);
}

static void test_json_malformed(void **state)
{
	cbd_err e = {0};

	(void)state;
	assert_int_equal(parse_str("[[1,2],[3,4]]", 13, CBD_TF_JSON, &e),
			 CBD_OK);
	assert_int_equal(parse_str("[[1,2],[3]]", 11, CBD_TF_JSON, &e),
			 CBD_E_SHAPE);
	assert_int_equal(parse_str("[[1,2],[3,\"x\"]]", 15, CBD_TF_JSON, &e),
			 CBD_E_FORMAT);
	assert_int_equal(parse_str("[[1,2],[3,4]", 12, CBD_TF_JSON, &e),
			 CBD_E_FORMAT);
	assert_non_null(strstr(e.msg, "bad.file"));
	assert_int_equal(parse_str("{\"a\":1}", 7, CBD_TF_JSON, &e),
			 CBD_E_FORMAT);
	assert_int_equal(parse_str("[1e39]", 6, CBD_TF_JSON, &e),
			 CBD_E_FORMAT);
	assert_int_equal(parse_str("[[[[[[[[[1]]]]]]]]]", 19, CBD_TF_JSON,
				   &e),
			 CBD_E_TOOBIG);
	assert_int_equal(parse_str("[[1],[[2]]]", 11, CBD_TF_JSON, &e),
			 CBD_E_FORMAT);
}

static void test_tensor_new_limits(void **state)
{
	int64_t big[2] = {(int64_t)1 << 20, (int64_t)1 << 20};
	int64_t neg[1] = {-1};
	cbd_tensor *t;
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 2, big, &t, &e),
			 CBD_E_TOOBIG);
	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 1, neg, &t, &e),
			 CBD_E_TOOBIG);
	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 9, big, &t, &e),
			 CBD_E_TOOBIG);
	cbd_tensor_free(NULL);
}

static void test_format_from_name(void **state)
{
	(void)state;
	assert_int_equal(cbd_tensor_format_from_name("a/b.PNG"), CBD_TF_PNG);
	assert_int_equal(cbd_tensor_format_from_name("x.npy"), CBD_TF_NPY);
	assert_int_equal(cbd_tensor_format_from_name("x.json"), CBD_TF_JSON);
	assert_int_equal(cbd_tensor_format_from_name("x"), CBD_TF_AUTO);
}

static void test_argmax(void **state)
{
	float a[4] = {1, 3, 3, 2}, b[3] = {NAN, -1, -2}, c[2] = {NAN, NAN};

	(void)state;
	assert_int_equal(cbd_argmax(a, 4), 1);        /* first of a tie */
	assert_int_equal(cbd_argmax(b, 3), 1);        /* NaN never wins */
	assert_int_equal(cbd_argmax(c, 2), 0);
	assert_int_equal(cbd_argmax(a, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_png_roundtrip),
		cmocka_unit_test(test_npy_roundtrip),
		cmocka_unit_test(test_png_malformed),
		cmocka_unit_test(test_npy_malformed),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test(test_tensor_new_limits),
		cmocka_unit_test(test_format_from_name),
		cmocka_unit_test(test_argmax),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
