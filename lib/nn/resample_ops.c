/*
 * resample_ops.c — spatial rearrangement: Resize and Upsample (nearest and
 * n-linear), DepthToSpace and SpaceToDepth.
 *
 * Resize is separable: for every axis a table maps each output index to
 * at most two input indices and their weights (nearest: one index, weight
 * 1), computed once per run from the coordinate transformation; an output
 * element is then the weighted sum over the corners of the box those
 * tables span (2^(axes that interpolate) reads, all other axes contribute
 * one).  Coordinates are computed in float32, as ONNX Runtime computes
 * them, so that nearest-neighbour choices at exact halves agree with it
 * (and, like it, with the integer output length where the spec's
 * reference uses in * scale, e.g. align_corners when shrinking):
 *   half_pixel (default from opset 11)   (x + 0.5) / scale - 0.5
 *   half_pixel_symmetric (opset 19)      the same about the centre
 *   pytorch_half_pixel                   as half_pixel, 0 if out = 1
 *   align_corners                        x * (in - 1) / (out - 1)
 *   asymmetric (Upsample, Resize 10)     x / scale
 *   tf_crop_and_resize                   from roi; outside -> extrapolation
 *   tf_half_pixel_for_nn (opsets 11, 12) (x + 0.5) / scale
 * Nearest rounds by nearest_mode (round_prefer_floor by default); Resize
 * before opset 11 and Upsample truncate when enlarging and take the ceiling
 * when shrinking (ONNX Runtime's behaviour for those versions).  Linear
 * clamps the source coordinate to the input and uses weights 0.5/0.5 at
 * the last element.  Cubic, antialias and keep_aspect_ratio_policy other
 * than stretch are refused as unsupported.
 *
 * DepthToSpace (DCR and CRD) and SpaceToDepth are index permutations,
 * copied element by element by size, so any dtype works.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

enum { CT_HALF, CT_HALF_SYM, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_CROP,
       CT_TF_HALF };
enum { NM_PREFER_FLOOR, NM_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE };

typedef struct rs_params {
	bool linear;
	int ct, nm;
	float extrap;
	int r;
	float scale[CBD_MAX_DIMS];
	float roi_lo[CBD_MAX_DIMS], roi_hi[CBD_MAX_DIMS];
	int64_t out[CBD_MAX_DIMS];
} rs_params;

/* One axis: for output index k, input i0/i1 with weights w0/w1 (w1 = 0
 * when only i0 counts); bad[k] when outside the input (tf crop). */
typedef struct rs_axis {
	int64_t *i0, *i1;
	float *w0, *w1;
	bool *bad;
} rs_axis;

static int str_pick(const nn_node *n, const char *attr,
		    const char *const *names, int count, int def)
{
	if (!nn_attr_has(n, attr))
		return def;
	for (int i = 0; i < count; i++)
		if (nn_attr_str_is(n, attr, names[i]))
			return i;
	return -1;
}

static cbd_status rs_modes(cbd_nn *nn, const nn_node *n, rs_params *p,
			   cbd_err *err)
{
	static const char *const modes[] = {"nearest", "linear", "cubic",
					    "bilinear"};
	static const char *const cts[] = {"half_pixel", "half_pixel_symmetric",
					  "pytorch_half_pixel", "align_corners",
					  "asymmetric", "tf_crop_and_resize",
					  "tf_half_pixel_for_nn"};
	static const char *const nms[] = {"round_prefer_floor",
					  "round_prefer_ceil", "floor", "ceil"};
	bool old = n->op == CBD_OP_UPSAMPLE || nn->opset < 11;
	int m = str_pick(n, "mode", modes, 4, 0);

	if (m == 2)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "cubic mode");
	if (m < 0 || (m == 3 && n->op != CBD_OP_UPSAMPLE))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "mode must be nearest or linear");
	p->linear = m == 1 || m == 3;
	p->ct = old ? CT_ASYM : str_pick(n, "coordinate_transformation_mode",
					 cts, 7, CT_HALF);
	p->nm = old ? NM_SIMPLE : str_pick(n, "nearest_mode", nms, 4,
					   NM_PREFER_FLOOR);
	if (p->ct < 0 || p->nm < 0 || (p->ct == CT_HALF_SYM && nn->opset < 19) ||
	    (p->ct == CT_TF_HALF && nn->opset >= 13))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "coordinate_transformation_mode or nearest_mode");
	if (nn_attr_int(n, "antialias", 0) ||
	    (nn_attr_has(n, "keep_aspect_ratio_policy") &&
	     !nn_attr_str_is(n, "keep_aspect_ratio_policy", "stretch")))
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "antialias or keep_aspect_ratio_policy");
	p->extrap = nn_attr_float(n, "extrapolation_value", 0.0f);
	return CBD_OK;
}

/* Float values of a tensor input or attribute (count, -1 if absent). */
static int float_list(const nn_val *v, float *out, int max)
{
	size_t ne;

	if (!v || !v->data || !nn_is_float(v->dtype))
		return -1;
	ne = nn_val_nelem(v);
	if (ne == 0)
		return -1;     /* an empty input stands for "not given" */
	if (ne > (size_t)max)
		return -2;
	for (size_t i = 0; i < ne; i++)
		out[i] = (float)nn_get_f64(v, i);
	return (int)ne;
}

/* Scales or sizes, over the axes attribute (opset 18) or every axis. */
static cbd_status rs_sizes(cbd_nn *nn, const nn_node *n, const nn_val *x,
			   rs_params *p, cbd_err *err)
{
	int64_t ax[CBD_MAX_DIMS], sz[CBD_MAX_DIMS];
	float sc[CBD_MAX_DIMS], roi[2 * CBD_MAX_DIMS];
	int na = nn_attr_ints(n, "axes", ax, CBD_MAX_DIMS), ns = -1, nz = -1;
	int nr;
	const nn_val *sv;

	p->r = x->ndim;
	if (na < 0)
		for (na = 0; na < x->ndim; na++)
			ax[na] = na;
	for (int i = 0; i < na; i++)
		if (ax[i] < -x->ndim || ax[i] >= x->ndim)
			return nn_fail(n, err, CBD_E_FORMAT, "axis out of range");
	if (n->op == CBD_OP_UPSAMPLE && nn->opset < 9) {
		const Onnx__AttributeProto *a = nn_attr(n, "scales");

		ns = a && a->n_floats <= CBD_MAX_DIMS ? (int)a->n_floats : -2;
		for (int i = 0; i < ns; i++)
			sc[i] = a->floats[i];
	} else {
		int si = n->op == CBD_OP_UPSAMPLE || nn->opset < 11 ? 1 : 2;

		ns = float_list(nn_in(nn, n, si), sc, CBD_MAX_DIMS);
		sv = nn_in(nn, n, 3);
		if (si == 2 && sv && nn_val_nelem(sv) > 0) {
			nz = nn_val_ints(sv, sz, CBD_MAX_DIMS);
			if (nz < 0)
				return nn_fail(n, err, CBD_E_FORMAT,
					       "bad sizes input");
		}
	}
	if ((ns >= 0) == (nz >= 0) || ns < -1 || (ns >= 0 ? ns : nz) != na)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "exactly one of scales and sizes, one value per "
			       "axis");
	for (int i = 0; i < x->ndim; i++) {
		p->scale[i] = 1.0f;
		p->out[i] = x->dims[i];
		p->roi_lo[i] = 0.0f;
		p->roi_hi[i] = 1.0f;
	}
	for (int i = 0; i < na; i++) {
		int a = (int)(ax[i] < 0 ? ax[i] + x->ndim : ax[i]);

		if (nz >= 0) {
			p->out[a] = sz[i];
			p->scale[a] = x->dims[a] ? (float)sz[i] / (float)x->dims[a]
						 : 1.0f;
		} else {
			p->scale[a] = sc[i];
			p->out[a] = (int64_t)((float)x->dims[a] * sc[i]);
		}
		if (!(p->scale[a] > 0) || p->out[a] < 0 ||
		    p->out[a] > CBD_MAX_ELEMS)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "scale or size of axis %d", a);
	}
	nr = p->ct == CT_CROP ? float_list(nn_in(nn, n, 1), roi, 2 * CBD_MAX_DIMS)
			      : -1;
	if (p->ct == CT_CROP && nr != 2 * na)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "tf_crop_and_resize needs a roi of 2 values per "
			       "axis");
	for (int i = 0; i < na && nr > 0; i++) {
		int a = (int)(ax[i] < 0 ? ax[i] + x->ndim : ax[i]);

		p->roi_lo[a] = roi[i];
		p->roi_hi[a] = roi[na + i];
	}
	return CBD_OK;
}

static float rs_coord(const rs_params *p, int a, int64_t k, int64_t in)
{
	float x = (float)k, s = p->scale[a], out = (float)p->out[a];

	switch (p->ct) {
	case CT_HALF_SYM: {
		float adj = out / (s * (float)in), c = (float)in / 2.0f;

		return c * (1.0f - adj) + (x + 0.5f) / s - 0.5f;
	}
	case CT_PYTORCH:
		return p->out[a] > 1 ? (x + 0.5f) / s - 0.5f : 0.0f;
	case CT_ALIGN:
		return p->out[a] == 1 ? 0.0f
				      : x * (float)(in - 1) / (out - 1.0f);
	case CT_ASYM:
		return x / s;
	case CT_TF_HALF:
		return (x + 0.5f) / s;
	case CT_CROP:
		return p->out[a] > 1
			       ? p->roi_lo[a] * (float)(in - 1) +
					 x * (p->roi_hi[a] - p->roi_lo[a]) *
						 (float)(in - 1) / (out - 1.0f)
			       : 0.5f * (p->roi_lo[a] + p->roi_hi[a]) *
					 (float)(in - 1);
	default:
		return (x + 0.5f) / s - 0.5f;
	}
}

static int64_t rs_nearest(const rs_params *p, int a, float c)
{
	switch (p->nm) {
	case NM_PREFER_CEIL: return (int64_t)roundf(c);
	case NM_FLOOR: return (int64_t)floorf(c);
	case NM_CEIL: return (int64_t)ceilf(c);
	case NM_SIMPLE:
		return p->scale[a] < 1.0f ? (int64_t)ceilf(c) : (int64_t)c;
	default:
		return c == floorf(c) + 0.5f ? (int64_t)floorf(c)
					     : (int64_t)roundf(c);
	}
}

static void rs_axis_fill(const rs_params *p, int a, int64_t in, rs_axis *t)
{
	for (int64_t k = 0; k < p->out[a]; k++) {
		float c = rs_coord(p, a, k, in);

		t->bad[k] = p->ct == CT_CROP && (c < 0 || c > (float)(in - 1));
		if (!p->linear) {
			int64_t i = rs_nearest(p, a, c);

			t->i0[k] = t->i1[k] = i < 0 ? 0 : i >= in ? in - 1 : i;
			t->w0[k] = 1.0f;
			t->w1[k] = 0.0f;
			continue;
		}
		c = c < 0 ? 0 : c > (float)(in - 1) ? (float)(in - 1) : c;
		t->i0[k] = (int64_t)c < in - 1 ? (int64_t)c : in - 1;
		t->i1[k] = t->i0[k] + 1 < in ? t->i0[k] + 1 : in - 1;
		if (t->i0[k] == t->i1[k]) {
			t->w0[k] = 1.0f;
			t->w1[k] = 0.0f;
		} else {
			t->w1[k] = c - (float)t->i0[k];
			t->w0[k] = (float)t->i1[k] - c;
		}
	}
}

/* Weighted sum over the corners for output index idx (floats). */
static double rs_linear_at(const nn_val *x, const rs_axis *t,
			   const int64_t *idx, const int64_t *st, int r)
{
	double sum = 0;
	int var[CBD_MAX_DIMS], nv = 0;

	for (int a = 0; a < r; a++)
		if (t[a].w1[idx[a]] != 0.0f)
			var[nv++] = a;
	for (int c = 0; c < (1 << nv); c++) {
		double w = 1;
		int64_t off = 0;
		int v = 0;

		for (int a = 0; a < r; a++) {
			bool hi = v < nv && var[v] == a && ((c >> v++) & 1);

			off += (hi ? t[a].i1[idx[a]] : t[a].i0[idx[a]]) * st[a];
			w *= hi ? t[a].w1[idx[a]] : t[a].w0[idx[a]];
		}
		sum += w * nn_get_f64(x, (size_t)off);
	}
	return sum;
}

static void rs_run(const nn_val *x, nn_val *y, const rs_params *p,
		   const rs_axis *t)
{
	int64_t idx[CBD_MAX_DIMS] = {0}, st[CBD_MAX_DIMS], acc = 1;
	size_t ne = nn_val_nelem(y), es = cbd_dtype_size(x->dtype);
	int r = x->ndim;

	for (int a = r - 1; a >= 0; a--) {
		st[a] = acc;
		acc *= x->dims[a];
	}
	for (size_t o = 0; o < ne; o++) {
		bool bad = false;
		int64_t off = 0;

		for (int a = 0; a < r; a++) {
			bad |= t[a].bad[idx[a]];
			off += t[a].i0[idx[a]] * st[a];
		}
		if (bad)
			nn_put_f64(y->data, y->dtype, o, p->extrap);
		else if (p->linear)
			nn_put_f64(y->data, y->dtype, o,
				   rs_linear_at(x, t, idx, st, r));
		else
			memcpy((char *)y->data + o * es,
			       (const char *)x->data + (size_t)off * es, es);
		for (int a = r - 1; a >= 0; a--) {
			if (++idx[a] < y->dims[a])
				break;
			idx[a] = 0;
		}
	}
}

cbd_status nn_op_resize(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	rs_params p = {0};
	rs_axis t[CBD_MAX_DIMS];
	cbd_status s = rs_modes(nn, n, &p, err);

	memset(t, 0, sizeof(t));
	if (s == CBD_OK)
		s = rs_sizes(nn, n, x, &p, err);
	if (s == CBD_OK && p.linear && !nn_is_float(x->dtype))
		s = nn_fail(n, err, CBD_E_UNSUPPORTED, "linear on %s",
			    cbd_dtype_name(x->dtype));
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, x->dtype, x->ndim, p.out, err);
	if (s == CBD_OK && p.linear)   /* up to 2^rank reads per element */
		s = nn_charge(n, nn_val_nelem(y) * ((size_t)1 << x->ndim), err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	for (int a = 0; a < x->ndim && s == CBD_OK; a++) {
		size_t m = (size_t)p.out[a] + 1;

		t[a].i0 = malloc(m * (2 * sizeof(int64_t) + 2 * sizeof(float) + 1));
		if (!t[a].i0) {
			s = nn_fail(n, err, CBD_E_NOMEM, "index tables");
			break;
		}
		t[a].i1 = t[a].i0 + m;
		t[a].w0 = (float *)(t[a].i1 + m);
		t[a].w1 = t[a].w0 + m;
		t[a].bad = (bool *)(t[a].w1 + m);
		rs_axis_fill(&p, a, x->dims[a], &t[a]);
	}
	if (s == CBD_OK)
		rs_run(x, y, &p, t);
	for (int a = 0; a < x->ndim; a++)
		free(t[a].i0);
	return s;
}

/* -------------------- DepthToSpace, SpaceToDepth --------------------- */

/* Copy between the deep side (N, C*b*b, H, W) and the wide side
 * (N, C, H*b, W*b), walking the deep side: its channel dc is (c, i, j)
 * with i, j the position in the block, c-major for CRD, else (DCR and
 * SpaceToDepth) block-major. */
static void block_copy(nn_val *deep, nn_val *wide, int64_t C, int64_t H,
		       int64_t W, int64_t b, bool crd, bool to_wide)
{
	size_t es = cbd_dtype_size(deep->dtype);
	size_t ne = nn_val_nelem(deep);
	int64_t cd = C * b * b;

	for (size_t o = 0; o < ne; o++) {
		int64_t q = (int64_t)o / (cd * H * W), dc = ((int64_t)o / (H * W)) % cd;
		int64_t h = ((int64_t)o / W) % H, w = (int64_t)o % W, c, i, j;
		size_t at;

		if (crd) {
			c = dc / (b * b);
			i = dc / b % b;
			j = dc % b;
		} else {
			i = dc / (C * b);
			j = dc / C % b;
			c = dc % C;
		}
		at = (size_t)(((q * C + c) * H * b + h * b + i) * W * b + w * b + j);
		if (to_wide)
			memcpy((char *)wide->data + at * es,
			       (const char *)deep->data + o * es, es);
		else
			memcpy((char *)deep->data + o * es,
			       (const char *)wide->data + at * es, es);
	}
}

cbd_status nn_op_depthtospace(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t b = nn_attr_int(n, "blocksize", 0), d[4];
	bool d2s = n->op == CBD_OP_DEPTHTOSPACE;
	cbd_status s;

	(void)nn;
	if (x->ndim != 4 || b < 1 || b > 4096)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "input must be 4-D and blocksize positive");
	if (d2s ? x->dims[1] % (b * b) : x->dims[2] % b || x->dims[3] % b)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "dimensions not divisible by the block size");
	if (!d2s && x->dims[1] > CBD_MAX_ELEMS / (b * b))
		return nn_fail(n, err, CBD_E_TOOBIG, "output channels");
	d[0] = x->dims[0];
	d[1] = d2s ? x->dims[1] / (b * b) : x->dims[1] * b * b;
	d[2] = d2s ? x->dims[2] * b : x->dims[2] / b;
	d[3] = d2s ? x->dims[3] * b : x->dims[3] / b;
	s = nn_val_alloc(n, y, x->dtype, 4, d, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	if (d2s)
		block_copy(x, y, d[1], x->dims[2], x->dims[3], b,
			   nn_attr_str_is(n, "mode", "CRD"), true);
	else
		block_copy(y, x, x->dims[1], d[2], d[3], b, false, false);
	return CBD_OK;
}
