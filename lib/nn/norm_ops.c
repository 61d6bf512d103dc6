/*
 * norm_ops.c — normalisations over computed statistics, in plain C on
 * float32 and float64: LayerNormalization (opset 17, with its optional
 * Mean and InvStdDev outputs) and InstanceNormalization.
 *
 * Both split the input into rows normalised independently (Layer: the
 * dimensions from axis on; Instance: the spatial dimensions of one sample
 * and channel).  A row's mean and variance are accumulated in double in
 * two passes (mean, then the mean of squared deviations), which keeps
 * rows of large values from cancelling, and each element is then
 * (x - mean) / sqrt(var + epsilon) * scale + bias.  LayerNormalization's
 * Scale and B broadcast to the normalised shape (numpy rules aligned to
 * its last dimensions): a table gives each position of a row its offset
 * into them.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

static cbd_status need_floats(const nn_node *n, nn_val *const *v, int k,
			      cbd_err *err)
{
	for (int i = 0; i < k; i++)
		if (v[i] && (!nn_is_float(v[i]->dtype) ||
			     v[i]->dtype != v[0]->dtype))
			return nn_fail(n, err, CBD_E_UNSUPPORTED,
				       "inputs must be float32 or float64, "
				       "all of one type");
	return CBD_OK;
}

/* Row statistics: mean and 1/sqrt(var + eps) of x[0 .. len), typed. */
#define ROW_STATS(T)                                                        \
	static void row_stats_##T(const T *x, size_t len, double eps,        \
				  double *mean, double *inv)                \
	{                                                                   \
		double m = 0, v = 0;                                        \
                                                                            \
		for (size_t i = 0; i < len; i++)                            \
			m += x[i];                                          \
		m = len ? m / (double)len : 0;                              \
		for (size_t i = 0; i < len; i++)                            \
			v += (x[i] - m) * (x[i] - m);                       \
		v = len ? v / (double)len : 0;                              \
		*mean = m;                                                  \
		*inv = 1.0 / sqrt(v + eps);                                 \
	}
ROW_STATS(float)
ROW_STATS(double)

static void row_stats(const nn_val *x, size_t at, size_t len, double eps,
		      double *mean, double *inv)
{
	if (x->dtype == CBD_DT_FLOAT32)
		row_stats_float((const float *)x->data + at, len, eps, mean, inv);
	else
		row_stats_double((const double *)x->data + at, len, eps, mean,
				 inv);
}

/* y = (x - m) * inv * scale[ts[j]] + bias[tb[j]] over one row, typed. */
#define ROW_NORM(T)                                                         \
	static void row_norm_##T(const T *x, T *y, size_t len, double m,     \
				 double inv, const T *sc, const size_t *ts, \
				 const T *b, const size_t *tb)              \
	{                                                                   \
		for (size_t j = 0; j < len; j++)                            \
			y[j] = (T)((x[j] - m) * inv * sc[ts[j]] +           \
				   (b ? b[tb[j]] : 0));                     \
	}
ROW_NORM(float)
ROW_NORM(double)

/* *out: offsets into p (broadcast to the r dims d) for every position
 * of d, len of them; the caller frees it. */
static cbd_status bcast_table(const nn_node *n, const nn_val *p, int r,
			      const int64_t *d, size_t len, size_t **out,
			      cbd_err *err)
{
	int64_t st[CBD_MAX_DIMS], acc = 1, idx[CBD_MAX_DIMS] = {0};
	size_t *t;

	*out = NULL;
	if (p->ndim > r)
		return nn_fail(n, err, CBD_E_SHAPE, "Scale or B of rank %d for "
			       "%d normalised dimensions", p->ndim, r);
	for (int i = r - 1; i >= 0; i--) {
		int k = i - (r - p->ndim);
		int64_t pd = k >= 0 ? p->dims[k] : 1;

		if (pd != 1 && pd != d[i])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "Scale or B does not broadcast to the "
				       "normalised shape");
		st[i] = pd == 1 ? 0 : acc;
		acc *= pd;
	}
	t = malloc(sizeof(size_t) * (len + 1));
	if (!t)
		return nn_fail(n, err, CBD_E_NOMEM, "broadcast table");
	for (size_t j = 0; j < len; j++) {
		int64_t off = 0;

		for (int i = 0; i < r; i++)
			off += idx[i] * st[i];
		t[j] = (size_t)off;
		for (int i = r - 1; i >= 0; i--) {
			if (++idx[i] < d[i])
				break;
			idx[i] = 0;
		}
	}
	*out = t;
	return CBD_OK;
}

/* The optional Mean / InvStdDev outputs: x's shape with the normalised
 * dimensions set to 1, of the stash type (float32 unless stash_type). */
static cbd_status stat_outputs(cbd_nn *nn, const nn_node *n, const nn_val *x,
			       int axis, cbd_err *err)
{
	int64_t d[CBD_MAX_DIMS];
	cbd_dtype st = nn_attr_int(n, "stash_type", 1) == 11 ? CBD_DT_FLOAT64
							     : CBD_DT_FLOAT32;

	for (int i = 0; i < x->ndim; i++)
		d[i] = i < axis ? x->dims[i] : 1;
	for (int k = 1; k < 3; k++) {
		nn_val *o = nn_out(nn, n, k);
		cbd_status s = o ? nn_val_alloc(n, o, st, x->ndim, d, err)
				 : CBD_OK;

		if (s != CBD_OK)
			return s;
	}
	return CBD_OK;
}

cbd_status nn_op_layernorm(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *in[3] = {nn_in(nn, n, 0), nn_in(nn, n, 1), nn_in(nn, n, 2)};
	nn_val *x = in[0], *y = nn_out(nn, n, 0);
	nn_val *mo = nn_out(nn, n, 1), *io = nn_out(nn, n, 2);
	int64_t axis = nn_attr_int(n, "axis", -1);
	double eps = nn_attr_float(n, "epsilon", 1e-5f);
	size_t outer = 1, len = 1, *ts = NULL, *tb = NULL;
	cbd_status s = need_floats(n, in, 3, err);

	if (s == CBD_OK && (axis < -x->ndim || axis >= x->ndim))
		s = nn_fail(n, err, CBD_E_FORMAT, "axis out of range");
	if (s != CBD_OK)
		return s;
	axis = axis < 0 ? axis + x->ndim : axis;
	for (int i = 0; i < x->ndim; i++)
		*(i < axis ? &outer : &len) *= (size_t)x->dims[i];
	s = nn_val_alloc(n, y, x->dtype, x->ndim, x->dims, err);
	if (s == CBD_OK)
		s = stat_outputs(nn, n, x, (int)axis, err);
	if (s != CBD_OK || len == 0)
		return s;
	s = bcast_table(n, in[1], x->ndim - (int)axis, x->dims + axis, len,
			&ts, err);
	if (s == CBD_OK && in[2])
		s = bcast_table(n, in[2], x->ndim - (int)axis, x->dims + axis,
				len, &tb, err);
	if (s != CBD_OK) {
		free(ts);
		return s;
	}
	for (size_t o = 0; o < outer; o++) {
		double m, inv;

		row_stats(x, o * len, len, eps, &m, &inv);
		if (x->dtype == CBD_DT_FLOAT32)
			row_norm_float((const float *)x->data + o * len,
				       (float *)y->data + o * len, len, m, inv,
				       in[1]->data, ts,
				       in[2] ? in[2]->data : NULL, tb);
		else
			row_norm_double((const double *)x->data + o * len,
					(double *)y->data + o * len, len, m, inv,
					in[1]->data, ts,
					in[2] ? in[2]->data : NULL, tb);
		if (mo)
			nn_put_f64(mo->data, mo->dtype, o, m);
		if (io)
			nn_put_f64(io->data, io->dtype, o, inv);
	}
	free(ts);
	free(tb);
	return CBD_OK;
}

cbd_status nn_op_instancenorm(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *in[3] = {nn_in(nn, n, 0), nn_in(nn, n, 1), nn_in(nn, n, 2)};
	nn_val *x = in[0], *y = nn_out(nn, n, 0);
	double eps = nn_attr_float(n, "epsilon", 1e-5f);
	size_t len = 1, C;
	cbd_status s = need_floats(n, in, 3, err);

	if (s != CBD_OK)
		return s;
	if (x->ndim < 3 || nn_val_nelem(in[1]) != (size_t)x->dims[1] ||
	    nn_val_nelem(in[2]) != (size_t)x->dims[1])
		return nn_fail(n, err, CBD_E_SHAPE,
			       "input (N, C, D...) with scale and B of C "
			       "values");
	C = (size_t)x->dims[1];
	for (int i = 2; i < x->ndim; i++)
		len *= (size_t)x->dims[i];
	s = nn_val_alloc(n, y, x->dtype, x->ndim, x->dims, err);
	if (s != CBD_OK)
		return s;
	for (size_t r = 0; r < (size_t)x->dims[0] * C; r++) {
		double m, inv, sc = nn_get_f64(in[1], r % C);
		double b = nn_get_f64(in[2], r % C);

		row_stats(x, r * len, len, eps, &m, &inv);
		for (size_t j = 0; j < len; j++)
			nn_put_f64(y->data, y->dtype, r * len + j,
				   (nn_get_f64(x, r * len + j) - m) * inv * sc + b);
	}
	return CBD_OK;
}
