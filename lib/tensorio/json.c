/*
 * json.c — tensors as nested JSON arrays of numbers, via cJSON.
 *
 * [[0.1, 0.2], [0.3, 0.4]] is a float32 [2,2] tensor.  The shape is read off
 * the first element at each depth, then every sub-array is checked to have
 * that length (ragged arrays are refused).  Numbers must be finite and
 * representable as float32.  Output uses %.9g so a float32 survives the
 * round trip exactly.
 */
#include "tensorio_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static cbd_status json_shape(const cJSON *j, const char *name, int *ndim,
			     int64_t *dims, cbd_err *err)
{
	*ndim = 0;
	while (cJSON_IsArray(j)) {
		if (*ndim == CBD_MAX_DIMS)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "JSON tensor nested deeper than %d "
					   "(%s)", CBD_MAX_DIMS, name);
		dims[(*ndim)++] = cJSON_GetArraySize(j);
		j = j->child;
	}
	if (*ndim == 0)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "JSON tensor must be an array (%s)", name);
	return CBD_OK;
}

/* Walk j at depth d, writing numbers into f[*k]. */
static cbd_status json_fill(const cJSON *j, int d, int ndim,
			    const int64_t *dims, float *f, size_t *k,
			    const char *name, cbd_err *err)
{
	const cJSON *c;
	int64_t n = 0;

	if (d == ndim) {
		double v;

		if (!cJSON_IsNumber(j))
			return cbd_err_set(err, CBD_E_FORMAT,
					   "JSON tensor element %zu is not a "
					   "number (%s)", *k, name);
		v = j->valuedouble;
		if (!isfinite(v) || fabs(v) > 3.4e38)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "JSON tensor element %zu is not a "
					   "finite float32 (%s)", *k, name);
		f[(*k)++] = (float)v;
		return CBD_OK;
	}
	if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != dims[d])
		return cbd_err_set(err, CBD_E_SHAPE,
				   "JSON tensor is ragged at depth %d (%s)", d,
				   name);
	cJSON_ArrayForEach(c, j) {
		cbd_status s = json_fill(c, d + 1, ndim, dims, f, k, name, err);

		if (s != CBD_OK)
			return s;
		n++;
	}
	return n == dims[d] ? CBD_OK
			    : cbd_err_set(err, CBD_E_SHAPE,
					  "JSON tensor is ragged (%s)", name);
}

cbd_status cbd_json_tensor_parse(const uint8_t *buf, size_t len,
				 const char *name, cbd_tensor **out,
				 cbd_err *err)
{
	int64_t dims[CBD_MAX_DIMS];
	cJSON *doc;
	cbd_status s;
	size_t k = 0, nelem = 0, nbytes;
	int ndim;

	*out = NULL;
	if (len > CBD_MAX_JSON)
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "JSON larger than %zu bytes (%s)",
				   CBD_MAX_JSON, name);
	doc = cJSON_ParseWithLength((const char *)buf, len);
	if (!doc)
		return cbd_err_set(err, CBD_E_FORMAT, "invalid JSON (%s)",
				   name);
	s = json_shape(doc, name, &ndim, dims, err);
	if (s == CBD_OK)
		s = cbd_tensor_size(CBD_DT_FLOAT32, ndim, dims, &nelem, &nbytes,
				    err);
	/* The shape comes from the first element at each depth; n numbers
	 * take at least n bytes, so a shape the text cannot hold is ragged
	 * and is refused before we allocate for it. */
	if (s == CBD_OK && nelem > len)
		s = cbd_err_set(err, CBD_E_SHAPE,
				"JSON tensor is ragged: shape needs %zu "
				"numbers (%s)", nelem, name);
	if (s == CBD_OK)
		s = cbd_tensor_new(CBD_DT_FLOAT32, ndim, dims, out, err);
	if (s == CBD_OK)
		s = json_fill(doc, 0, ndim, dims, (*out)->data, &k, name, err);
	if (s != CBD_OK) {
		cbd_tensor_free(*out);
		*out = NULL;
	}
	cJSON_Delete(doc);
	return s;
}

/* Append one number of t at flat index i. */
static int put_elem(char *p, const cbd_tensor *t, size_t i)
{
	const void *d = t->data;

	switch (t->dtype) {
	case CBD_DT_FLOAT32:
		return sprintf(p, "%.9g", (double)((const float *)d)[i]);
	case CBD_DT_FLOAT64:
		return sprintf(p, "%.17g", ((const double *)d)[i]);
	case CBD_DT_INT64:
		return sprintf(p, "%lld", (long long)((const int64_t *)d)[i]);
	case CBD_DT_UINT64:
		return sprintf(p, "%llu",
			       (unsigned long long)((const uint64_t *)d)[i]);
	case CBD_DT_UINT32:
		return sprintf(p, "%lu", (unsigned long)((const uint32_t *)d)[i]);
	case CBD_DT_UINT8:
	case CBD_DT_INT32:
	case CBD_DT_UINT16:
	case CBD_DT_INT16:
	case CBD_DT_INT8:
	case CBD_DT_BOOL:
		return sprintf(p, "%.0f", cbd_tensor_get_f64(t, i));
	}
	return 0;
}

cbd_status cbd_json_tensor_encode(const cbd_tensor *t, uint8_t **buf,
				  size_t *len, cbd_err *err)
{
	size_t cap, n = 0, idx[CBD_MAX_DIMS] = {0};
	char *p;

	if (t->ndim < 1)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "JSON output needs at least one dimension");
	/* 24 bytes per number plus two brackets per element is generous. */
	if (!cbd_mul_size(t->nelem + 1, 24 + 2 * (size_t)t->ndim, &cap))
		return cbd_err_set(err, CBD_E_TOOBIG, "tensor too large");
	p = cbd_xmalloc(cap + 2, err);
	if (!p)
		return CBD_E_NOMEM;
	for (int d = 0; d < t->ndim; d++)
		p[n++] = '[';
	for (size_t i = 0; i < t->nelem; i++) {
		int d = t->ndim - 1;

		n += (size_t)put_elem(p + n, t, i);
		/* Close and reopen brackets where an index rolls over. */
		while (d >= 0 && ++idx[d] == (size_t)t->dims[d]) {
			idx[d] = 0;
			p[n++] = ']';
			d--;
		}
		if (i + 1 < t->nelem) {
			p[n++] = ',';
			for (int e = d + 1; e < t->ndim; e++)
				p[n++] = '[';
		}
	}
	if (t->nelem == 0)
		for (int d = 0; d < t->ndim; d++)
			p[n++] = ']';
	p[n++] = '\n';
	*buf = (uint8_t *)p;
	*len = n;
	return CBD_OK;
}
