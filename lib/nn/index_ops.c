/*
 * index_ops.c — operators that address elements by computed indices, on
 * every element type: ScatterElements, ScatterND, GatherND, NonZero, TopK,
 * OneHot, CumSum and Trilu.
 *
 * Elements are moved by size (memcpy of cbd_dtype_size bytes), so the data
 * may be of any type; only the reductions of the Scatter ops (add, mul,
 * max, min) and CumSum compute, in typed loops generated from the lists of
 * nn_internal.h: integers wrap modulo 2^bits in their own type, float32 sums
 * stay in float in index order as ONNX Runtime's do.  Every index read
 * from a tensor is checked against the dimension it addresses (negative
 * ones count from the end) before it is used: a bad index is CBD_E_SHAPE,
 * never a read or write outside a buffer.  Output sizes go through
 * nn_val_alloc, which charges the compute budget and enforces
 * CBD_MAX_ELEMS.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

static size_t prod_of(const int64_t *d, int from, int to)
{
	size_t p = 1;

	for (int i = from; i < to; i++)
		p *= (size_t)d[i];
	return p;
}

/* Index k into a dimension of length dim, negative from the end. */
static bool fix_index(int64_t *k, int64_t dim)
{
	if (*k < 0)
		*k += dim;
	return *k >= 0 && *k < dim;
}

static cbd_status copy_input(const nn_node *n, const nn_val *x, nn_val *y,
			     cbd_err *err)
{
	cbd_status s = nn_val_alloc(n, y, x->dtype, x->ndim, x->dims, err);

	if (s == CBD_OK && y->nbytes)
		memcpy(y->data, x->data, y->nbytes);
	return s;
}

/* --------------------- reductions of the Scatter ops ------------------ */

enum { RED_NONE, RED_ADD, RED_MUL, RED_MAX, RED_MIN };

/* y[o] = reduce(y[o], u[j]) in the element's own type. */
typedef void (*scat_fn)(void *y, size_t o, const void *u, size_t j, int red);

#define SCAT_T(_, DT, T, UT)                                                \
	static void scat_##DT(void *yv, size_t o, const void *uv, size_t j,  \
			      int red)                                      \
	{                                                                   \
		T *y = yv, u = ((const T *)uv)[j];                          \
                                                                            \
		switch (red) {                                              \
		case RED_ADD: y[o] = (T)((UT)y[o] + (UT)u); break;          \
		case RED_MUL: y[o] = (T)((UT)y[o] * (UT)u); break;          \
		case RED_MAX: y[o] = y[o] < u ? u : y[o]; break;            \
		case RED_MIN: y[o] = u < y[o] ? u : y[o]; break;            \
		default: y[o] = u; break;                                   \
		}                                                           \
	}
NN_T_NUM(SCAT_T, _)
#undef SCAT_T

static scat_fn scat_pick(cbd_dtype dt)
{
	switch (dt) {
#define SCAT_CASE(_, DT, T, UT) case CBD_DT_##DT: return scat_##DT;
	NN_T_NUM(SCAT_CASE, _)
#undef SCAT_CASE
	default:
		return NULL;
	}
}

/* The reduction attribute (opset 16: add, mul; 18: max, min). */
static cbd_status scat_reduction(cbd_nn *nn, const nn_node *n, cbd_dtype dt,
				 int *red, cbd_err *err)
{
	static const char *const names[] = {"none", "add", "mul", "max", "min"};

	*red = RED_NONE;
	if (!nn_attr_has(n, "reduction"))
		return CBD_OK;
	for (int i = 0; i < 5; i++)
		if (nn_attr_str_is(n, "reduction", names[i]))
			*red = i;
	if ((*red == RED_NONE && !nn_attr_str_is(n, "reduction", "none")) ||
	    (*red >= RED_MAX && nn->opset < 18) || nn->opset < 16)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "reduction must be none, add, mul (opset 16) "
			       "or max, min (opset 18)");
	if (*red != RED_NONE && !scat_pick(dt))
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "reduction on %s",
			       cbd_dtype_name(dt));
	return CBD_OK;
}

/* Element j of updates into element o of y, reduced or replaced. */
static void scat_put(nn_val *y, size_t o, const nn_val *u, size_t j,
		     int red, scat_fn fn)
{
	size_t es = cbd_dtype_size(y->dtype);

	if (red == RED_NONE)
		memcpy((char *)y->data + o * es, (const char *)u->data + j * es,
		       es);
	else
		fn(y->data, o, u->data, j, red);
}

/* -------------------------- ScatterElements -------------------------- */

cbd_status nn_op_scatterelements(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *ix = nn_in(nn, n, 1), *u = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), idx[CBD_MAX_DIMS] = {0};
	int64_t st[CBD_MAX_DIMS];
	size_t ne = nn_val_nelem(ix);
	int red;
	cbd_status s;

	if (!nn_is_int(ix->dtype) || ix->ndim != x->ndim ||
	    u->ndim != ix->ndim || u->dtype != x->dtype ||
	    memcmp(u->dims, ix->dims, sizeof(int64_t) * (size_t)ix->ndim) ||
	    axis < -x->ndim || axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "indices and updates must have one shape, the "
			       "data's rank and type, and axis must be in range");
	axis = axis < 0 ? axis + x->ndim : axis;
	for (int i = 0; i < x->ndim; i++)
		if (i != axis && ix->dims[i] > x->dims[i])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "indices larger than data");
	s = scat_reduction(nn, n, x->dtype, &red, err);
	if (s == CBD_OK)
		s = copy_input(n, x, y, err);
	if (s != CBD_OK)
		return s;
	nn_strides(x->ndim, x->dims, x->ndim, st);
	for (size_t j = 0; j < ne; j++) {
		int64_t k = nn_get_i64(ix, j), off = 0;

		if (!fix_index(&k, x->dims[axis]))
			return nn_fail(n, err, CBD_E_SHAPE,
				       "index %lld out of range",
				       (long long)nn_get_i64(ix, j));
		for (int i = 0; i < x->ndim; i++)
			off += (i == axis ? k : idx[i]) * st[i];
		scat_put(y, (size_t)off, u, j, red, scat_pick(x->dtype));
		for (int i = ix->ndim - 1; i >= 0; i--) {
			if (++idx[i] < ix->dims[i])
				break;
			idx[i] = 0;
		}
	}
	return CBD_OK;
}

/* ------------------------- GatherND, ScatterND ----------------------- */

/* Offset (in elements of x) of the slab addressed by the k indices at
 * ix[j*k..], within batch b; false if an index is out of range. */
static bool nd_offset(const nn_val *x, const nn_val *ix, size_t j, int k,
		      int bd, size_t b, size_t *off)
{
	size_t o = b;

	for (int i = 0; i < k; i++) {
		int64_t v = nn_get_i64(ix, j * (size_t)k + (size_t)i);

		if (!fix_index(&v, x->dims[bd + i]))
			return false;
		o = o * (size_t)x->dims[bd + i] + (size_t)v;
	}
	*off = o * prod_of(x->dims, bd + k, x->ndim);
	return true;
}

cbd_status nn_op_gathernd(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *ix = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t bd = nn_attr_int(n, "batch_dims", 0), d[CBD_MAX_DIMS];
	size_t es = cbd_dtype_size(x->dtype), nb, per, slab;
	int k, nd = 0;
	cbd_status s;

	if (!nn_is_int(ix->dtype) || ix->ndim < 1 || x->ndim < 1 || bd < 0 ||
	    bd >= ix->ndim || bd >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "integer indices of rank >= 1 and batch_dims "
			       "below both ranks");
	k = (int)ix->dims[ix->ndim - 1];
	if (k < 1 || bd + k > x->ndim)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "indices address %d dimensions of %d", k,
			       x->ndim - (int)bd);
	for (int i = 0; i < bd; i++)
		if (x->dims[i] != ix->dims[i])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "batch dimensions differ");
	for (int i = 0; i < ix->ndim - 1; i++)
		d[nd++] = ix->dims[i];
	for (int i = (int)bd + k; i < x->ndim; i++)
		d[nd++] = x->dims[i];
	s = nn_val_alloc(n, y, x->dtype, nd, d, err);
	if (s != CBD_OK)
		return s;
	nb = prod_of(x->dims, 0, (int)bd);
	per = prod_of(ix->dims, (int)bd, ix->ndim - 1);
	slab = prod_of(x->dims, (int)bd + k, x->ndim) * es;
	for (size_t b = 0; b < nb; b++)
		for (size_t j = 0; j < per; j++) {
			size_t off;

			if (!nd_offset(x, ix, b * per + j, k, (int)bd, b, &off))
				return nn_fail(n, err, CBD_E_SHAPE,
					       "index out of range");
			if (slab)
				memcpy((char *)y->data + (b * per + j) * slab,
				       (const char *)x->data + off * es, slab);
		}
	return CBD_OK;
}

cbd_status nn_op_scatternd(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *ix = nn_in(nn, n, 1), *u = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	size_t per, slab;
	int k, red;
	cbd_status s;

	if (!nn_is_int(ix->dtype) || ix->ndim < 1 || u->dtype != x->dtype)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "integer indices of rank >= 1, updates of the "
			       "data's type");
	k = (int)ix->dims[ix->ndim - 1];
	if (k < 1 || k > x->ndim ||
	    u->ndim != ix->ndim - 1 + x->ndim - k ||
	    memcmp(u->dims, ix->dims, sizeof(int64_t) * (size_t)(ix->ndim - 1)) ||
	    memcmp(u->dims + ix->ndim - 1, x->dims + k,
		   sizeof(int64_t) * (size_t)(x->ndim - k)))
		return nn_fail(n, err, CBD_E_SHAPE,
			       "updates must have shape indices[:-1] + "
			       "data[k:]");
	s = scat_reduction(nn, n, x->dtype, &red, err);
	if (s == CBD_OK)
		s = copy_input(n, x, y, err);
	if (s != CBD_OK)
		return s;
	per = prod_of(ix->dims, 0, ix->ndim - 1);
	slab = prod_of(x->dims, k, x->ndim);
	for (size_t j = 0; j < per; j++) {
		size_t off;

		if (!nd_offset(x, ix, j, k, 0, 0, &off))
			return nn_fail(n, err, CBD_E_SHAPE, "index out of range");
		for (size_t e = 0; e < slab; e++)
			scat_put(y, off + e, u, j * slab + e, red,
				 scat_pick(x->dtype));
	}
	return CBD_OK;
}

/* ------------------------------ NonZero ------------------------------ */

static bool elt_nonzero(const nn_val *x, size_t i)
{
	if (nn_is_float(x->dtype))
		return nn_get_f64(x, i) != 0;
	return nn_get_i64(x, i) != 0;
}

cbd_status nn_op_nonzero(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	size_t ne = nn_val_nelem(x), cnt = 0, at = 0;
	int r = x->ndim ? x->ndim : 1;
	int64_t d[2], idx[CBD_MAX_DIMS] = {0};
	cbd_status s;

	(void)nn;
	for (size_t i = 0; i < ne; i++)
		cnt += elt_nonzero(x, i);
	d[0] = r;          /* a scalar counts as shape [1], as in ORT */
	d[1] = (int64_t)cnt;
	s = nn_val_alloc(n, y, CBD_DT_INT64, 2, d, err);
	if (s != CBD_OK)
		return s;
	for (size_t i = 0; i < ne; i++) {
		if (elt_nonzero(x, i)) {
			for (int j = 0; j < r; j++)
				((int64_t *)y->data)[(size_t)j * cnt + at] = idx[j];
			at++;
		}
		for (int j = r - 1; j >= 0; j--) {
			if (++idx[j] < x->dims[j])
				break;
			idx[j] = 0;
		}
	}
	return CBD_OK;
}

/* -------------------------------- TopK ------------------------------- */

/* x[a] before x[b] in TopK's order: larger (smaller) first, NaN as the
 * largest value, ties by lower index. */
static bool topk_before(const nn_val *x, size_t a, size_t b, bool largest)
{
	int c;

	if (nn_is_float(x->dtype)) {
		double p = nn_get_f64(x, a), q = nn_get_f64(x, b);

		c = isnan(p) ? (isnan(q) ? 0 : 1) : isnan(q) ? -1
		    : (p > q) - (p < q);
	} else if (x->dtype == CBD_DT_UINT64) {
		uint64_t p = ((const uint64_t *)x->data)[a];
		uint64_t q = ((const uint64_t *)x->data)[b];

		c = (p > q) - (p < q);
	} else {
		int64_t p = nn_get_i64(x, a), q = nn_get_i64(x, b);

		c = (p > q) - (p < q);
	}
	if (c == 0)
		return a < b;
	return largest ? c > 0 : c < 0;
}

/* Stable merge sort of the flat indices ix[0..len) by topk_before. */
static void topk_sort(const nn_val *x, size_t *ix, size_t *tmp, size_t len,
		      bool largest)
{
	for (size_t w = 1; w < len; w *= 2) {
		for (size_t lo = 0; lo < len; lo += 2 * w) {
			size_t mid = lo + w < len ? lo + w : len;
			size_t hi = lo + 2 * w < len ? lo + 2 * w : len;
			size_t i = lo, j = mid, o = lo;

			while (i < mid && j < hi)
				tmp[o++] = topk_before(x, ix[j], ix[i], largest)
						   ? ix[j++] : ix[i++];
			while (i < mid)
				tmp[o++] = ix[i++];
			while (j < hi)
				tmp[o++] = ix[j++];
		}
		memcpy(ix, tmp, sizeof(size_t) * len);
	}
}

static cbd_status topk_k(cbd_nn *nn, const nn_node *n, int64_t dim,
			 int64_t *k, cbd_err *err)
{
	const nn_val *kv = nn_in(nn, n, 1);

	if (nn->opset < 10)
		*k = nn_attr_int(n, "k", -1);
	else if (!kv || !nn_is_int(kv->dtype) || nn_val_nelem(kv) != 1)
		return nn_fail(n, err, CBD_E_FORMAT, "K must be one integer");
	else
		*k = nn_get_i64(kv, 0);
	if (*k < 0 || *k > dim)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "K = %lld for a dimension of %lld",
			       (long long)*k, (long long)dim);
	return CBD_OK;
}

cbd_status nn_op_topk(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *yv = nn_out(nn, n, 0);
	nn_val *yi = nn_out(nn, n, 1);
	int64_t axis = nn_attr_int(n, "axis", -1), k = 0, d[CBD_MAX_DIMS];
	bool largest = nn_attr_int(n, "largest", 1) != 0;
	size_t es = cbd_dtype_size(x->dtype), outer, inner, len, *ix, *tmp;
	nn_val iv = {.name = "indices"};
	cbd_status s;

	if (x->dtype == CBD_DT_BOOL || axis < -x->ndim || axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "numeric input, axis in range");
	axis = axis < 0 ? axis + x->ndim : axis;
	s = topk_k(nn, n, x->dims[axis], &k, err);
	if (s != CBD_OK)
		return s;
	memcpy(d, x->dims, sizeof(d));
	d[axis] = k;
	s = nn_val_alloc(n, yv, x->dtype, x->ndim, d, err);
	if (s == CBD_OK)
		s = nn_val_alloc(n, yi ? yi : &iv, CBD_DT_INT64, x->ndim, d, err);
	if (s != CBD_OK)
		goto out;
	outer = prod_of(x->dims, 0, (int)axis);
	inner = prod_of(x->dims, (int)axis + 1, x->ndim);
	len = (size_t)x->dims[axis];
	ix = malloc(sizeof(size_t) * (2 * len + 1));
	if (!ix) {
		s = nn_fail(n, err, CBD_E_NOMEM, "sort buffer");
		goto out;
	}
	tmp = ix + len;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++) {
			for (size_t a = 0; a < len; a++)
				ix[a] = (o * len + a) * inner + i;
			topk_sort(x, ix, tmp, len, largest);
			for (size_t a = 0; a < (size_t)k; a++) {
				size_t dst = (o * (size_t)k + a) * inner + i;

				memcpy((char *)yv->data + dst * es,
				       (const char *)x->data + ix[a] * es, es);
				((int64_t *)(yi ? yi : &iv)->data)[dst] =
					(int64_t)((ix[a] / inner) % len);
			}
		}
	free(ix);
out:
	nn_val_drop(nn, &iv);
	return s;
}

/* ------------------------------- OneHot ------------------------------ */

cbd_status nn_op_onehot(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *ix = nn_in(nn, n, 0), *dv = nn_in(nn, n, 1);
	nn_val *vv = nn_in(nn, n, 2), *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", -1), depth, d[CBD_MAX_DIMS];
	size_t es = cbd_dtype_size(vv->dtype), outer, inner;
	cbd_status s;

	(void)nn;
	if (nn_val_nelem(dv) != 1 || dv->dtype == CBD_DT_BOOL ||
	    nn_val_nelem(vv) != 2 || ix->dtype == CBD_DT_BOOL ||
	    ix->ndim + 1 > CBD_MAX_DIMS)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "depth must be one number and values two");
	depth = nn_get_i64(dv, 0);
	if (depth < 1 || depth > CBD_MAX_ELEMS)
		return nn_fail(n, err, CBD_E_SHAPE, "depth %lld",
			       (long long)depth);
	if (axis < -(ix->ndim + 1) || axis > ix->ndim)
		return nn_fail(n, err, CBD_E_FORMAT, "axis out of range");
	axis = axis < 0 ? axis + ix->ndim + 1 : axis;
	for (int i = 0, j = 0; i <= ix->ndim; i++)
		d[i] = i == axis ? depth : ix->dims[j++];
	s = nn_val_alloc(n, y, vv->dtype, ix->ndim + 1, d, err);
	if (s != CBD_OK)
		return s;
	outer = prod_of(ix->dims, 0, (int)axis);
	inner = prod_of(ix->dims, (int)axis, ix->ndim);
	for (size_t o = 0; o < outer; o++)
		for (int64_t c = 0; c < depth; c++)
			for (size_t i = 0; i < inner; i++) {
				int64_t k = nn_get_i64(ix, o * inner + i);
				bool on = fix_index(&k, depth) && k == c;
				size_t dst = (o * (size_t)depth + (size_t)c) *
						     inner + i;

				memcpy((char *)y->data + dst * es,
				       (const char *)vv->data + (on ? es : 0), es);
			}
	return CBD_OK;
}

/* ------------------------------- CumSum ------------------------------ */

#define CUM_T(_, DT, T, UT)                                                 \
	static void cum_##DT(const void *xv, void *yv, size_t len,           \
			     size_t inner, bool excl, bool rev)             \
	{                                                                   \
		const T *x = xv;                                            \
		T *y = yv;                                                  \
		UT acc = 0;                                                 \
                                                                            \
		for (size_t a = 0; a < len; a++) {                          \
			size_t i = (rev ? len - 1 - a : a) * inner;         \
			T v = x[i];                                         \
                                                                            \
			if (excl)                                           \
				y[i] = (T)acc;                              \
			acc = (UT)(acc + (UT)v);                            \
			if (!excl)                                          \
				y[i] = (T)acc;                              \
		}                                                           \
	}
NN_T_NUM(CUM_T, _)
#undef CUM_T

typedef void (*cum_fn)(const void *, void *, size_t, size_t, bool, bool);

cbd_status nn_op_cumsum(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *av = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	bool excl = nn_attr_int(n, "exclusive", 0) != 0;
	bool rev = nn_attr_int(n, "reverse", 0) != 0;
	size_t es = cbd_dtype_size(x->dtype), outer, inner, len;
	int64_t axis;
	cum_fn fn;
	cbd_status s;

	(void)nn;
	switch (x->dtype) {
#define CUM_CASE(_, DT, T, UT) case CBD_DT_##DT: fn = cum_##DT; break;
	NN_T_NUM(CUM_CASE, _)
#undef CUM_CASE
	default:
		return nn_fail_dtype(n, err, x->dtype);
	}
	if (!nn_is_int(av->dtype) || nn_val_nelem(av) != 1)
		return nn_fail(n, err, CBD_E_FORMAT, "axis must be one integer");
	axis = nn_get_i64(av, 0);
	if (axis < -x->ndim || axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT, "axis out of range");
	axis = axis < 0 ? axis + x->ndim : axis;
	s = nn_val_alloc(n, y, x->dtype, x->ndim, x->dims, err);
	if (s != CBD_OK)
		return s;
	outer = prod_of(x->dims, 0, (int)axis);
	inner = prod_of(x->dims, (int)axis + 1, x->ndim);
	len = (size_t)x->dims[axis];
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++) {
			size_t at = (o * len * inner + i) * es;

			fn((const char *)x->data + at, (char *)y->data + at, len,
			   inner, excl, rev);
		}
	return CBD_OK;
}

/* ------------------------------- Trilu ------------------------------- */

cbd_status nn_op_trilu(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *kv = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	bool upper = nn_attr_int(n, "upper", 1) != 0;
	size_t es = cbd_dtype_size(x->dtype), mats, rows, cols;
	int64_t k = 0;
	cbd_status s;

	(void)nn;
	if (x->ndim < 2)
		return nn_fail(n, err, CBD_E_SHAPE, "input rank %d (want >= 2)",
			       x->ndim);
	if (kv && (!nn_is_int(kv->dtype) || nn_val_nelem(kv) != 1))
		return nn_fail(n, err, CBD_E_FORMAT, "k must be one integer");
	if (kv)
		k = nn_get_i64(kv, 0);
	s = copy_input(n, x, y, err);
	if (s != CBD_OK)
		return s;
	rows = (size_t)x->dims[x->ndim - 2];
	cols = (size_t)x->dims[x->ndim - 1];
	mats = prod_of(x->dims, 0, x->ndim - 2);
	for (size_t m = 0; m < mats; m++)
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < cols; j++) {
				/* j - i compared with k without overflow */
				bool keep = upper ? (int64_t)j - (int64_t)i >= k
						  : (int64_t)j - (int64_t)i <= k;

				if (!keep)
					memset((char *)y->data +
						       ((m * rows + i) * cols + j) * es,
					       0, es);
			}
	return CBD_OK;
}
