/*
 * tensor.c — the plain dense tensor every module passes around.
 *
 * A cbd_tensor owns one malloc'd block of nbytes.  Creation checks each
 * dimension and the product against CBD_MAX_ELEMS and size_t overflow, so
 * readers of untrusted files can call it with whatever dims they parsed;
 * cbd_tensor_size() does the same checks without allocating, so a reader
 * can first compare what a header claims with the bytes it actually has.
 */
#include "tensorio.h"

#include <math.h>
#include <string.h>

size_t cbd_dtype_size(cbd_dtype dt)
{
	switch (dt) {
	case CBD_DT_FLOAT32: return 4;
	case CBD_DT_UINT8: return 1;
	case CBD_DT_INT64: return 8;
	case CBD_DT_INT32: return 4;
	}
	return 0;
}

const char *cbd_dtype_name(cbd_dtype dt)
{
	switch (dt) {
	case CBD_DT_FLOAT32: return "float32";
	case CBD_DT_UINT8: return "uint8";
	case CBD_DT_INT64: return "int64";
	case CBD_DT_INT32: return "int32";
	}
	return "unknown";
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
	for (size_t i = 0; i < t->nelem; i++) {
		switch (t->dtype) {
		case CBD_DT_FLOAT32: f[i] = ((const float *)t->data)[i]; break;
		case CBD_DT_UINT8: f[i] = ((const uint8_t *)t->data)[i]; break;
		case CBD_DT_INT64:
			f[i] = (float)((const int64_t *)t->data)[i];
			break;
		case CBD_DT_INT32:
			f[i] = (float)((const int32_t *)t->data)[i];
			break;
		}
	}
	return CBD_OK;
}
