/*
 * fuzz_tensor.c — libFuzzer target for the tensor readers (PNG, NPY, JSON)
 * behind cbd_tensor_parse().
 *
 * The input goes through format sniffing (CBD_TF_AUTO), so one corpus holds
 * all three formats.  An accepted tensor is written back in the format it
 * came from and parsed again: the result must be the same tensor (JSON
 * always reads back float32, so it is compared after conversion).
 */
#include "fuzz.h"

static int tensor_same(const cbd_tensor *a, const cbd_tensor *b)
{
	return a->dtype == b->dtype && a->ndim == b->ndim &&
	       memcmp(a->dims, b->dims, sizeof(a->dims[0]) * a->ndim) == 0 &&
	       a->nbytes == b->nbytes &&
	       memcmp(a->data, b->data, a->nbytes) == 0;
}

static cbd_tensor_format tensor_sniff(const uint8_t *d, size_t n)
{
	if (n >= 8 && memcmp(d, "\x89PNG", 4) == 0)
		return CBD_TF_PNG;
	if (n >= 6 && memcmp(d, "\x93NUMPY", 6) == 0)
		return CBD_TF_NPY;
	return CBD_TF_JSON;
}

static void tensor_roundtrip(const cbd_tensor *t, cbd_tensor_format fmt)
{
	cbd_tensor *u = NULL;
	cbd_err e = {0};
	uint8_t *buf = NULL;
	size_t len = 0;
	cbd_status s;

	/* JSON cannot write an empty dimension back as the same shape. */
	if (fmt == CBD_TF_JSON && t->nelem == 0)
		return;
	s = cbd_tensor_encode(t, fmt, &buf, &len, &e);
	fuzz_check_err(s, &e, "cbd_tensor_encode");
	if (s != CBD_OK)
		fuzz_fail("an accepted tensor cannot be written back");
	s = cbd_tensor_parse(buf, len, fmt, "roundtrip", &u, &e);
	fuzz_check_err(s, &e, "cbd_tensor_parse (round trip)");
	if (s != CBD_OK || !tensor_same(t, u))
		fuzz_fail("tensor changed in a write/read round trip");
	cbd_tensor_free(u);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cbd_tensor *t = NULL;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_tensor_parse(data, size, CBD_TF_AUTO, "fuzz", &t, &e);
	fuzz_check_err(s, &e, "cbd_tensor_parse");
	if (s == CBD_OK) {
		if (!t || t->nbytes != t->nelem * cbd_dtype_size(t->dtype))
			fuzz_fail("parsed tensor is inconsistent");
		tensor_roundtrip(t, tensor_sniff(data, size));
	} else if (t) {
		fuzz_fail("failed parse left a tensor in *out");
	}
	cbd_tensor_free(t);
	return 0;
}
