/*
 * tensor.c — the plain dense tensor every module passes around.
 *
 * A cbd_tensor owns one malloc'd block of nbytes.  Creation checks each
 * dimension and the product against CBD_MAX_ELEMS and size_t overflow, so
 * readers of untrusted files can call it with whatever dims they parsed;
 * cbd_tensor_size() does the same checks without allocating, so a reader
 * can first compare what a header claims with the bytes it actually has.
 */
#include "tensorio_internal.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* The traits table: the only place that lists the element types. */
static const cbd_dtype_traits dtypes[] = {
	{CBD_DT_FLOAT32, "float32", 4, 1, "<f4", 1, 1},
	{CBD_DT_UINT8, "uint8", 1, 2, "|u1", 0, 0},
	{CBD_DT_INT64, "int64", 8, 7, "<i8", 0, 1},
	{CBD_DT_INT32, "int32", 4, 6, "<i4", 0, 1},
	{CBD_DT_FLOAT64, "float64", 8, 11, "<f8", 1, 1},
	{CBD_DT_UINT64, "uint64", 8, 13, "<u8", 0, 0},
	{CBD_DT_UINT32, "uint32", 4, 12, "<u4", 0, 0},
	{CBD_DT_UINT16, "uint16", 2, 4, "<u2", 0, 0},
	{CBD_DT_INT16, "int16", 2, 5, "<i2", 0, 1},
	{CBD_DT_INT8, "int8", 1, 3, "|i1", 0, 1},
	{CBD_DT_BOOL, "bool", 1, 9, "|b1", 0, 0},
};

const cbd_dtype_traits *cbd_dtype_traits_of(cbd_dtype dt)
{
	size_t i = (size_t)dt - 1;

	return (int)dt >= 1 && i < CBD_ARRAY_LEN(dtypes) ? &dtypes[i] : NULL;
}

cbd_dtype cbd_dtype_from_onnx(int code)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(dtypes); i++)
		if (dtypes[i].onnx == code)
			return dtypes[i].dtype;
	return 0;
}

cbd_dtype cbd_dtype_from_npy(const char *d, size_t len)
{
	for (size_t i = 0; len == 3 && i < CBD_ARRAY_LEN(dtypes); i++) {
		const char *w = dtypes[i].npy;
		bool one = dtypes[i].size == 1;
		bool order = d[0] == w[0] || d[0] == '=' ||
			     (one && (d[0] == '<' || d[0] == '|')) ||
			     (!one && d[0] == '<');

		if (order && d[1] == w[1] && d[2] == w[2])
			return dtypes[i].dtype;
	}
	return 0;
}

size_t cbd_dtype_size(cbd_dtype dt)
{
	const cbd_dtype_traits *t = cbd_dtype_traits_of(dt);

	return t ? t->size : 0;
}

const char *cbd_dtype_name(cbd_dtype dt)
{
	const cbd_dtype_traits *t = cbd_dtype_traits_of(dt);

	return t ? t->name : "unknown";
}

cbd_status cbd_tensor_size(cbd_dtype dt, int ndim, const int64_t *dims,
			   size_t *nelem_out, size_t *nbytes_out, cbd_err *err)
{
	size_t esize = cbd_dtype_size(dt), nelem = 1;

	if (!esize)
		return cbd_err_set(err, CBD_E_USAGE, "unknown dtype %d",
				   (int)dt);
	if (ndim < 0 || ndim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "tensor has %d dimensions (max %d)", ndim,
				   CBD_MAX_DIMS);
	for (int i = 0; i < ndim; i++) {
		if (dims[i] < 0 || dims[i] > CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "dimension %d is %lld (max %lld)",
					   i, (long long)dims[i],
					   (long long)CBD_MAX_ELEMS);
		if (!cbd_mul_size(nelem, (size_t)dims[i], &nelem) ||
		    nelem > (size_t)CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "tensor has more than %lld elements",
					   (long long)CBD_MAX_ELEMS);
	}
	if (!cbd_mul_size(nelem, esize, nbytes_out))
		return cbd_err_set(err, CBD_E_TOOBIG, "tensor too large");
	*nelem_out = nelem;
	return CBD_OK;
}

cbd_status cbd_tensor_new(cbd_dtype dt, int ndim, const int64_t *dims,
			  cbd_tensor **out, cbd_err *err)
{
	size_t nelem, nbytes;
	cbd_tensor *t;
	cbd_status s;

	*out = NULL;
	s = cbd_tensor_size(dt, ndim, dims, &nelem, &nbytes, err);
	if (s != CBD_OK)
		return s;
	t = cbd_xcalloc(1, sizeof(*t), err);
	if (!t)
		return CBD_E_NOMEM;
	t->data = cbd_xcalloc(nbytes ? nbytes : 1, 1, err);
	if (!t->data) {
		free(t);
		return CBD_E_NOMEM;
	}
	t->dtype = dt;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->dims[i] = dims[i];
	t->nelem = nelem;
	t->nbytes = nbytes;
	*out = t;
	return CBD_OK;
}

void cbd_tensor_free(cbd_tensor *t)
{
	if (!t)
		return;
	free(t->data);
	free(t);
}

double cbd_tensor_get_f64(const cbd_tensor *t, size_t i)
{
	const void *p = t->data;

	switch (t->dtype) {
	case CBD_DT_FLOAT32: return ((const float *)p)[i];
	case CBD_DT_FLOAT64: return ((const double *)p)[i];
	case CBD_DT_UINT8: return ((const uint8_t *)p)[i];
	case CBD_DT_INT64: return (double)((const int64_t *)p)[i];
	case CBD_DT_INT32: return ((const int32_t *)p)[i];
	case CBD_DT_UINT64: return (double)((const uint64_t *)p)[i];
	case CBD_DT_UINT32: return ((const uint32_t *)p)[i];
	case CBD_DT_UINT16: return ((const uint16_t *)p)[i];
	case CBD_DT_INT16: return ((const int16_t *)p)[i];
	case CBD_DT_INT8: return ((const int8_t *)p)[i];
	case CBD_DT_BOOL: return ((const uint8_t *)p)[i] != 0;
	}
	return 0;
}

int cbd_argmax(const float *v, int k)
{
	int best = 0;

	for (int i = 1; i < k; i++)
		if (v[i] > v[best] || (isnan(v[best]) && !isnan(v[i])))
			best = i;
	return best;
}

cbd_status cbd_tensor_to_float(const cbd_tensor *t, cbd_tensor **out,
			       cbd_err *err)
{
	cbd_status s = cbd_tensor_new(CBD_DT_FLOAT32, t->ndim, t->dims, out,
				      err);
	float *f;

	if (s != CBD_OK)
		return s;
	f = (*out)->data;
	for (size_t i = 0; i < t->nelem; i++)
		f[i] = (float)cbd_tensor_get_f64(t, i);
	return CBD_OK;
}
