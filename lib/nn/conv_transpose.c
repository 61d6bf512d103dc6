/*
 * conv_transpose.c — ConvTranspose in plain C, float32 and float64, for 1
 * to 3 spatial dimensions.
 *
 * The transposed convolution is computed as the scatter it is: every input
 * element x[n, c, i] adds x * w[c, m, k] to y[n, g*M/G + m, i*s + k*d - pb]
 * for every kernel offset k that lands inside the output.  The output is
 * accumulated in double and rounded once.  Geometry follows the operator
 * spec: out = s*(in-1) + output_padding + (k-1)*d + 1 - pads_begin -
 * pads_end, or the output_shape attribute, whose total padding is split
 * by auto_pad (SAME_UPPER puts the odd one at the end, as does NOTSET
 * with output_shape; SAME_LOWER at the beginning).  The work (one
 * multiply-add per input element, output channel of its group and
 * kernel offset) is charged to the compute budget before anything runs.
 */
#include "nn_internal.h"

#include <string.h>

#define CT_MAX 3

typedef struct ct_geom {
	int r;
	int64_t group, k[CT_MAX], s[CT_MAX], d[CT_MAX], pb[CT_MAX];
	int64_t in[CT_MAX], out[CT_MAX];
} ct_geom;

static cbd_status ct_ints(const nn_node *n, const char *name, int64_t *v,
			  int r, int64_t def, cbd_err *err)
{
	int c = nn_attr_ints(n, name, v, CT_MAX * 2);

	if (c < 0 && nn_attr_has(n, name))
		return nn_fail(n, err, CBD_E_FORMAT, "%s too long", name);
	if (c < 0)
		for (c = 0; c < r; c++)
			v[c] = def;
	if (c != r)
		return nn_fail(n, err, CBD_E_FORMAT, "%s needs %d values",
			       name, r);
	return CBD_OK;
}

static cbd_status ct_shape(const nn_node *n, const nn_val *x,
			   const nn_val *w, ct_geom *g, cbd_err *err)
{
	int64_t pads[2 * CT_MAX], op[CT_MAX], os[CT_MAX];
	int r = x->ndim - 2, nos;
	bool upper = nn_attr_str_is(n, "auto_pad", "SAME_UPPER");
	bool lower = nn_attr_str_is(n, "auto_pad", "SAME_LOWER");
	cbd_status s;

	if (r < 1 || r > CT_MAX || w->ndim != x->ndim)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "input and weights of rank 3 to 5");
	g->r = r;
	g->group = nn_attr_int(n, "group", 1);
	if (g->group < 1 || x->dims[1] % g->group || w->dims[0] != x->dims[1])
		return nn_fail(n, err, CBD_E_SHAPE,
			       "weights must be (C, M/group, k...)");
	s = ct_ints(n, "strides", g->s, r, 1, err);
	if (s == CBD_OK)
		s = ct_ints(n, "dilations", g->d, r, 1, err);
	if (s == CBD_OK)
		s = ct_ints(n, "output_padding", op, r, 0, err);
	if (s == CBD_OK && nn_attr_has(n, "pads"))
		s = ct_ints(n, "pads", pads, 2 * r, 0, err);
	else
		for (int i = 0; i < 2 * r; i++)
			pads[i] = 0;
	if (s != CBD_OK)
		return s;
	nos = nn_attr_ints(n, "output_shape", os, CT_MAX + 2);
	if (nos > r)        /* full shape given: keep the spatial part */
		memmove(os, os + nos - r, sizeof(int64_t) * (size_t)r);
	for (int i = 0; i < r; i++) {
		int64_t ext;

		g->k[i] = w->dims[2 + i];
		g->in[i] = x->dims[2 + i];
		if (g->s[i] < 1 || g->d[i] < 1 || g->k[i] < 1 || op[i] < 0 ||
		    g->s[i] > 65536 || g->d[i] > 65536 || op[i] > 65536 ||
		    pads[i] < 0 || pads[r + i] < 0)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "strides, dilations, pads");
		ext = g->s[i] * (g->in[i] - 1) + op[i] + (g->k[i] - 1) * g->d[i] + 1;
		if (nos > 0 || upper || lower) {
			int64_t want = nos > 0 ? os[i] : g->in[i] * g->s[i];
			int64_t tot = ext - want;

			g->pb[i] = lower ? tot - tot / 2 : tot / 2;
			g->out[i] = want;
		} else {
			g->pb[i] = pads[i];
			g->out[i] = ext - pads[i] - pads[r + i];
		}
		if (g->out[i] < 0)
			return nn_fail(n, err, CBD_E_SHAPE, "negative output size");
	}
	return CBD_OK;
}

static cbd_status ct_charge(const nn_node *n, const nn_val *x,
			    const nn_val *w, const ct_geom *g, cbd_err *err)
{
	uint64_t work = (uint64_t)nn_val_nelem(x), f = (uint64_t)w->dims[1];

	for (int i = 0; i < g->r; i++)
		f *= (uint64_t)g->k[i];
	if (f && work > UINT64_MAX / f)
		return nn_fail(n, err, CBD_E_TOOBIG, "absurd ConvTranspose");
	return nn_charge(n, work * f, err);
}

/* Scatter one input plane (sample q, channel c) into the accumulator. */
static void ct_plane(const nn_val *x, const nn_val *w, const ct_geom *g,
		     size_t q, int64_t c, double *acc)
{
	int64_t M = w->dims[1], cg = x->dims[1] / g->group, og = c / cg;
	int64_t in3[CT_MAX] = {1, 1, 1}, k3[CT_MAX] = {1, 1, 1};
	int64_t o3[CT_MAX] = {1, 1, 1}, s3[CT_MAX] = {1, 1, 1};
	int64_t d3[CT_MAX] = {1, 1, 1}, p3[CT_MAX] = {0, 0, 0};
	size_t xin = 1, kn = 1, on = 1;
	int sh = CT_MAX - g->r;

	for (int i = 0; i < g->r; i++) {   /* right-align to 3-D */
		in3[sh + i] = g->in[i];
		k3[sh + i] = g->k[i];
		o3[sh + i] = g->out[i];
		s3[sh + i] = g->s[i];
		d3[sh + i] = g->d[i];
		p3[sh + i] = g->pb[i];
		xin *= (size_t)g->in[i];
		kn *= (size_t)g->k[i];
		on *= (size_t)g->out[i];
	}
	for (int64_t m = 0; m < M; m++) {
		const size_t wb = ((size_t)c * (size_t)M + (size_t)m) * kn;
		double *yp = acc + ((q * (size_t)(M * g->group)) +
				    (size_t)(og * M + m)) * on;

		for (size_t e = 0; e < xin; e++) {
			int64_t i0 = (int64_t)e / (in3[1] * in3[2]);
			int64_t i1 = (int64_t)e / in3[2] % in3[1], i2 = (int64_t)e % in3[2];
			double xv = nn_get_f64(x, ((q * (size_t)x->dims[1]) +
						  (size_t)c) * xin + e);

			for (int64_t a = 0; a < k3[0]; a++) {
				int64_t y0 = i0 * s3[0] + a * d3[0] - p3[0];

				if (y0 < 0 || y0 >= o3[0])
					continue;
				for (int64_t b = 0; b < k3[1]; b++) {
					int64_t y1 = i1 * s3[1] + b * d3[1] - p3[1];

					if (y1 < 0 || y1 >= o3[1])
						continue;
					for (int64_t cc = 0; cc < k3[2]; cc++) {
						int64_t y2 = i2 * s3[2] + cc * d3[2] - p3[2];

						if (y2 < 0 || y2 >= o3[2])
							continue;
						yp[(y0 * o3[1] + y1) * o3[2] + y2] +=
							xv * nn_get_f64(w, wb + (size_t)((a * k3[1] + b) * k3[2] + cc));
					}
				}
			}
		}
	}
}

cbd_status nn_op_convtranspose(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *w = nn_in(nn, n, 1), *b = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	int64_t od[CT_MAX + 2];
	size_t on, per = 1;
	double *acc;
	ct_geom g = {0};
	cbd_status s;

	if (!nn_is_float(x->dtype) || w->dtype != x->dtype ||
	    (b && b->dtype != x->dtype))
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "inputs must be float32 or float64, of one type");
	s = ct_shape(n, x, w, &g, err);
	if (s == CBD_OK && b && nn_val_nelem(b) != (size_t)(w->dims[1] * g.group))
		s = nn_fail(n, err, CBD_E_SHAPE, "bias needs one value per "
			    "output channel");
	if (s == CBD_OK)
		s = ct_charge(n, x, w, &g, err);
	od[0] = x->dims[0];
	od[1] = w->dims[1] * g.group;
	for (int i = 0; i < g.r; i++) {
		od[2 + i] = g.out[i];
		per *= (size_t)g.out[i];
	}
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, x->dtype, x->ndim, od, err);
	if (s != CBD_OK)
		return s;
	on = nn_val_nelem(y);
	acc = calloc(on + 1, sizeof(double));
	if (!acc)
		return nn_fail(n, err, CBD_E_NOMEM, "accumulator");
	for (size_t q = 0; q < (size_t)x->dims[0]; q++)
		for (int64_t c = 0; c < x->dims[1]; c++)
			ct_plane(x, w, &g, q, c, acc);
	for (size_t o = 0; o < on; o++)
		nn_put_f64(y->data, y->dtype, o,
			   acc[o] + (b ? nn_get_f64(b, o / per % (size_t)od[1])
				       : 0.0));
	free(acc);
	return CBD_OK;
}
