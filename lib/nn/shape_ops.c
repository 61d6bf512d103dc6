/*
 * shape_ops.c — plain-C kernels for ops that only move data or compute
 * shapes: Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout
 * (inference), Transpose, Concat, Constant, Shape, Size, Gather, Pad.
 *
 * These work on every element type the engine holds, by element size.  Every index and size is checked against the
 * tensor it comes from; output shapes go through nn_val_alloc(), which
 * enforces CBD_MAX_ELEMS.
 */
#include "nn_internal.h"

#include <string.h>

bool nn_broadcast(int na, const int64_t *a, int nb, const int64_t *b,
		  int *nout, int64_t *out)
{
	int r = na > nb ? na : nb;

	if (r > CBD_MAX_DIMS)
		return false;
	for (int i = 0; i < r; i++) {
		int64_t x = i < r - na ? 1 : a[i - (r - na)];
		int64_t y = i < r - nb ? 1 : b[i - (r - nb)];

		if (x != y && x != 1 && y != 1)
			return false;
		out[i] = x == 1 ? y : x;
	}
	*nout = r;
	return true;
}

/* Product of dims, or -1 past CBD_MAX_ELEMS (so it never overflows). */
static int64_t prod_checked(const int64_t *d, int nd)
{
	int64_t p = 1;

	for (int i = 0; i < nd; i++) {
		if (d[i] != 0 && p > CBD_MAX_ELEMS / d[i])
			return -1;
		p *= d[i];
	}
	return p;
}

static cbd_status copy_as(const nn_node *n, const nn_val *x, nn_val *y,
			  int ndim, const int64_t *dims, cbd_err *err)
{
	int64_t d[CBD_MAX_DIMS];
	cbd_status s;

	if (ndim > CBD_MAX_DIMS)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "rank %d", ndim);
	memcpy(d, dims, sizeof(int64_t) * (size_t)ndim);
	/* Compare element counts before allocating: a hostile shape must not
	 * make us allocate what it claims (fuzz finding). */
	for (int i = 0; i < ndim; i++)
		if (d[i] < 0)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "negative dimension %lld",
				       (long long)d[i]);
	if (prod_checked(d, ndim) != (int64_t)nn_val_nelem(x))
		return nn_fail(n, err, CBD_E_SHAPE,
			       "cannot reshape %zu elements to shape of %lld",
			       nn_val_nelem(x),
			       (long long)prod_checked(d, ndim));
	s = nn_val_alloc(n, y, x->dtype, ndim, d, err);
	if (s != CBD_OK)
		return s;
	if (y->nbytes)
		memcpy(y->data, x->data, y->nbytes);
	return CBD_OK;
}

static int64_t prod(const int64_t *d, int from, int to)
{
	int64_t p = 1;

	for (int i = from; i < to; i++)
		p *= d[i];
	return p;
}

/* Normalise axis a for rank r (a in [-r, r-1], or [-r, r] if incl). */
static cbd_status norm_axis(const nn_node *n, int64_t *a, int r, bool incl,
			    cbd_err *err)
{
	int hi = incl ? r : r - 1;

	if (*a < -r || *a > hi)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "axis %lld out of range for rank %d",
			       (long long)*a, r);
	if (*a < 0)
		*a += r;
	return CBD_OK;
}

cbd_status nn_op_flatten(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 1), d[2];
	cbd_status s = norm_axis(n, &axis, x->ndim, true, err);

	if (s != CBD_OK)
		return s;
	d[0] = prod(x->dims, 0, (int)axis);
	d[1] = prod(x->dims, (int)axis, x->ndim);
	return copy_as(n, x, nn_out(nn, n, 0), 2, d, err);
}

cbd_status nn_op_reshape(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *sh = nn_in(nn, n, 1);
	int64_t d[CBD_MAX_DIMS], known = 1;
	bool allowzero = nn_attr_int(n, "allowzero", 0) != 0;
	int nd, neg = -1;

	if (!sh)
		return nn_fail(n, err, CBD_E_FORMAT, "missing shape input");
	nd = nn_val_ints(sh, d, CBD_MAX_DIMS);
	if (nd < 0 || sh->ndim != 1)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "shape must be a 1-D int64 tensor of at most %d "
			       "values", CBD_MAX_DIMS);
	for (int i = 0; i < nd; i++) {
		if (d[i] == 0 && !allowzero) {
			if (i >= x->ndim)
				return nn_fail(n, err, CBD_E_SHAPE,
					       "shape[%d] = 0 past input rank",
					       i);
			d[i] = x->dims[i];
		}
		if (d[i] == -1) {
			if (neg >= 0)
				return nn_fail(n, err, CBD_E_SHAPE,
					       "two -1 entries in shape");
			neg = i;
			continue;
		}
		if (d[i] < 0 || d[i] > CBD_MAX_ELEMS)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "bad shape entry %lld", (long long)d[i]);
		known *= d[i];
		if (known > CBD_MAX_ELEMS)
			return nn_fail(n, err, CBD_E_TOOBIG, "absurd shape");
	}
	if (neg >= 0) {
		int64_t tot = (int64_t)nn_val_nelem(x);

		if (known == 0 || tot % known)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "cannot infer -1 for %lld elements",
				       (long long)tot);
		d[neg] = tot / known;
	}
	return copy_as(n, x, nn_out(nn, n, 0), nd, d, err);
}

static cbd_status get_axes(cbd_nn *nn, nn_node *n, int64_t *ax, int *na,
			   cbd_err *err)
{
	*na = 0;
	if (nn->opset >= 13) {
		const nn_val *av = nn_in(nn, n, 1);

		if (!av)
			return CBD_OK;
		*na = nn_val_ints(av, ax, CBD_MAX_DIMS);
	} else if (nn_attr_has(n, "axes")) {
		*na = nn_attr_ints(n, "axes", ax, CBD_MAX_DIMS);
	}
	if (*na < 0)
		return nn_fail(n, err, CBD_E_FORMAT, "bad axes");
	return CBD_OK;
}

cbd_status nn_op_squeeze(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0);
	int64_t ax[CBD_MAX_DIMS], d[CBD_MAX_DIMS];
	bool drop[CBD_MAX_DIMS] = {false};
	int na, nd = 0;
	cbd_status s = get_axes(nn, n, ax, &na, err);

	if (s != CBD_OK)
		return s;
	for (int i = 0; i < na; i++) {
		s = norm_axis(n, &ax[i], x->ndim, false, err);
		if (s != CBD_OK)
			return s;
		if (x->dims[ax[i]] != 1)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "cannot squeeze dimension %lld of size "
				       "%lld", (long long)ax[i],
				       (long long)x->dims[ax[i]]);
		drop[ax[i]] = true;
	}
	for (int i = 0; i < x->ndim; i++)
		if (!(na ? drop[i] : x->dims[i] == 1))
			d[nd++] = x->dims[i];
	return copy_as(n, x, nn_out(nn, n, 0), nd, d, err);
}

cbd_status nn_op_unsqueeze(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0);
	int64_t ax[CBD_MAX_DIMS], d[CBD_MAX_DIMS];
	bool ins[CBD_MAX_DIMS] = {false};
	int na, r, k = 0;
	cbd_status s = get_axes(nn, n, ax, &na, err);

	if (s != CBD_OK)
		return s;
	r = x->ndim + na;
	if (na == 0 || r > CBD_MAX_DIMS)
		return nn_fail(n, err, na ? CBD_E_UNSUPPORTED : CBD_E_FORMAT,
			       na ? "result rank %d" : "no axes", r);
	for (int i = 0; i < na; i++) {
		s = norm_axis(n, &ax[i], r, false, err);
		if (s != CBD_OK)
			return s;
		if (ins[ax[i]])
			return nn_fail(n, err, CBD_E_FORMAT, "repeated axis");
		ins[ax[i]] = true;
	}
	for (int i = 0; i < r; i++)
		d[i] = ins[i] ? 1 : x->dims[k++];
	return copy_as(n, x, nn_out(nn, n, 0), r, d, err);
}

/* Ratio input of Dropout-12+ is zero (absent: 0.5, as the spec has it). */
static bool ratio_zero(const nn_val *r)
{
	if (!r)
		return false;
	if (r->dtype == CBD_DT_FLOAT32 && r->nbytes == sizeof(float))
		return *(const float *)r->data == 0.0f;
	if (r->dtype == CBD_DT_FLOAT64 && r->nbytes == sizeof(double))
		return *(const double *)r->data == 0.0;
	return false;
}

/* Inference-mode Dropout (and Identity): the output is the input; the
 * optional mask keeps every element, bool since opset 10 (torch's
 * exports name it), before that ones of the input's type.  Training
 * mode is the same when the ratio is 0 (torch exports F.dropout(p=0)
 * so: torchvision's Swin). */
cbd_status nn_op_dropout(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *tm = nn_in(nn, n, 2), *m;
	cbd_status s;

	if (tm && tm->nbytes && *(const uint8_t *)tm->data &&
	    !ratio_zero(nn_in(nn, n, 1)))
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "training_mode with a nonzero ratio");
	s = copy_as(n, x, nn_out(nn, n, 0), x->ndim, x->dims, err);
	if (s != CBD_OK || n->n_out < 2 || n->out[1] < 0)
		return s;
	m = nn_out(nn, n, 1);
	if (nn->opset >= 10) {
		s = nn_val_alloc(n, m, CBD_DT_BOOL, x->ndim, x->dims, err);
		if (s == CBD_OK && m->nbytes)
			memset(m->data, 1, m->nbytes);
		return s;
	}
	if (x->dtype != CBD_DT_FLOAT32)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "mask of %s",
			       cbd_dtype_name(x->dtype));
	s = nn_val_alloc(n, m, x->dtype, x->ndim, x->dims, err);
	for (size_t i = 0; s == CBD_OK && i < nn_val_nelem(m); i++)
		((float *)m->data)[i] = 1.0f;
	return s;
}

cbd_status nn_op_transpose(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t perm[CBD_MAX_DIMS], d[CBD_MAX_DIMS], st[CBD_MAX_DIMS],
		xst[CBD_MAX_DIMS], yst[CBD_MAX_DIMS];
	bool seen[CBD_MAX_DIMS] = {false};
	int r = x->ndim, np = nn_attr_ints(n, "perm", perm, CBD_MAX_DIMS);
	size_t es = cbd_dtype_size(x->dtype);
	cbd_status s;

	if (np < 0)
		for (int i = 0; i < r; i++)
			perm[i] = r - 1 - i;
	else if (np != r)
		return nn_fail(n, err, CBD_E_FORMAT, "perm has %d entries", np);
	for (int i = 0; i < r; i++) {
		if (perm[i] < 0 || perm[i] >= r || seen[perm[i]])
			return nn_fail(n, err, CBD_E_FORMAT, "bad perm");
		seen[perm[i]] = true;
		d[i] = x->dims[perm[i]];
	}
	s = nn_val_alloc(n, y, x->dtype, r, d, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	/* y's axis i reads x's axis perm[i] */
	nn_strides(r, x->dims, r, xst);
	for (int i = 0; i < r; i++)
		st[i] = xst[perm[i]];
	nn_strides(r, d, r, yst);
	nn_copy_view(y->data, yst, x->data, st, es, r, d);
	return CBD_OK;
}

cbd_status nn_op_concat(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x0 = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), d[CBD_MAX_DIMS], outer;
	size_t es, off = 0;
	cbd_status s;

	if (!x0 || !nn_attr_has(n, "axis"))
		return nn_fail(n, err, CBD_E_FORMAT, "needs inputs and axis");
	s = norm_axis(n, &axis, x0->ndim, false, err);
	if (s != CBD_OK)
		return s;
	memcpy(d, x0->dims, sizeof(d));
	d[axis] = 0;
	for (int i = 0; i < n->n_in; i++) {
		const nn_val *v = nn_in(nn, n, i);

		if (!v || v->dtype != x0->dtype || v->ndim != x0->ndim)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "input %d differs in type or rank", i);
		for (int j = 0; j < v->ndim; j++)
			if (j != axis && v->dims[j] != x0->dims[j])
				return nn_fail(n, err, CBD_E_SHAPE,
					       "input %d: dimension %d differs",
					       i, j);
		d[axis] += v->dims[axis];
	}
	s = nn_val_alloc(n, y, x0->dtype, x0->ndim, d, err);
	if (s != CBD_OK)
		return s;
	/* An empty result has nothing to copy; without this, [2^28, 0]
	 * inputs would loop 2^28 times copying nothing (fuzz finding). */
	if (nn_val_nelem(y) == 0)
		return CBD_OK;
	es = cbd_dtype_size(x0->dtype);
	outer = prod(d, 0, (int)axis);
	for (int64_t o = 0; o < outer; o++)
		for (int i = 0; i < n->n_in; i++) {
			const nn_val *v = nn_in(nn, n, i);
			size_t chunk = (size_t)prod(v->dims, (int)axis, v->ndim) *
				       es;

			memcpy((char *)y->data + off,
			       (const char *)v->data + (size_t)o * chunk, chunk);
			off += chunk;
		}
	return CBD_OK;
}

cbd_status nn_op_constant(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *y = nn_out(nn, n, 0);
	const Onnx__AttributeProto *a;
	cbd_tensor *t = NULL;
	cbd_status s;

	if ((a = nn_attr(n, "value")) && a->t) {
		s = nn_tensor_from_proto(a->t, "value", &t, err);
		if (s != CBD_OK)
			return nn_fail(n, err, s, "%s", err->msg);
	} else if ((a = nn_attr(n, "value_float")) && a->has_f) {
		s = cbd_tensor_new(CBD_DT_FLOAT32, 0, NULL, &t, err);
		if (s == CBD_OK)
			*(float *)t->data = a->f;
	} else if ((a = nn_attr(n, "value_int")) && a->has_i) {
		s = cbd_tensor_new(CBD_DT_INT64, 0, NULL, &t, err);
		if (s == CBD_OK)
			*(int64_t *)t->data = a->i;
	} else if ((a = nn_attr(n, "value_floats"))) {
		int64_t dn = (int64_t)a->n_floats;

		s = cbd_tensor_new(CBD_DT_FLOAT32, 1, &dn, &t, err);
		if (s == CBD_OK && dn)
			memcpy(t->data, a->floats, t->nbytes);
	} else if ((a = nn_attr(n, "value_ints"))) {
		int64_t dn = (int64_t)a->n_ints;

		s = cbd_tensor_new(CBD_DT_INT64, 1, &dn, &t, err);
		if (s == CBD_OK && dn)
			memcpy(t->data, a->ints, t->nbytes);
	} else {
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "no supported value attribute");
	}
	if (s != CBD_OK)
		return s;
	s = nn_val_alloc(n, y, t->dtype, t->ndim, t->dims, err);
	if (s == CBD_OK && t->nbytes)
		memcpy(y->data, t->data, t->nbytes);
	cbd_tensor_free(t);
	return s;
}

cbd_status nn_op_shape(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t r = x->ndim, st = nn_attr_int(n, "start", 0);
	int64_t en = nn_attr_int(n, "end", r), len;
	cbd_status s;

	st = st < 0 ? st + r : st;
	en = en < 0 ? en + r : en;
	st = st < 0 ? 0 : st > r ? r : st;
	en = en < 0 ? 0 : en > r ? r : en;
	len = en > st ? en - st : 0;
	s = nn_val_alloc(n, y, CBD_DT_INT64, 1, &len, err);
	if (s != CBD_OK)
		return s;
	for (int64_t i = 0; i < len; i++)
		((int64_t *)y->data)[i] = x->dims[st + i];
	return CBD_OK;
}

cbd_status nn_op_size(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *y = nn_out(nn, n, 0);
	cbd_status s = nn_val_alloc(n, y, CBD_DT_INT64, 0, NULL, err);

	if (s == CBD_OK)
		*(int64_t *)y->data = (int64_t)nn_val_nelem(nn_in(nn, n, 0));
	return s;
}

cbd_status nn_op_gather(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *ix = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), d[CBD_MAX_DIMS], outer,
		inner, ax;
	size_t es = cbd_dtype_size(x->dtype), ni;
	int nd = 0;
	cbd_status s;

	if (!ix || (ix->dtype != CBD_DT_INT64 && ix->dtype != CBD_DT_INT32))
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "indices must be int64 or int32");
	s = norm_axis(n, &axis, x->ndim, false, err);
	if (s != CBD_OK)
		return s;
	if (x->ndim - 1 + ix->ndim > CBD_MAX_DIMS)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "result rank");
	for (int i = 0; i < axis; i++)
		d[nd++] = x->dims[i];
	for (int i = 0; i < ix->ndim; i++)
		d[nd++] = ix->dims[i];
	for (int i = (int)axis + 1; i < x->ndim; i++)
		d[nd++] = x->dims[i];
	s = nn_val_alloc(n, y, x->dtype, nd, d, err);
	if (s != CBD_OK)
		return s;
	outer = prod(x->dims, 0, (int)axis);
	inner = prod(x->dims, (int)axis + 1, x->ndim);
	ax = x->dims[axis];
	ni = nn_val_nelem(ix);
	for (size_t j = 0; j < ni; j++) {
		int64_t k = ix->dtype == CBD_DT_INT64
				    ? ((const int64_t *)ix->data)[j]
				    : ((const int32_t *)ix->data)[j];

		k = k < 0 ? k + ax : k;
		if (k < 0 || k >= ax)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "index out of range");
		for (int64_t o = 0; o < outer; o++)
			memcpy((char *)y->data +
				       ((size_t)o * ni + j) * (size_t)inner * es,
			       (const char *)x->data +
				       ((size_t)(o * ax + k)) * (size_t)inner * es,
			       (size_t)inner * es);
	}
	return CBD_OK;
}

/* Pads: opset < 11 from attributes, else from inputs (and opset 18 axes). */
static cbd_status pad_params(cbd_nn *nn, nn_node *n, const nn_val *x,
			     int64_t *pb, int64_t *pe, uint8_t *cval,
			     cbd_err *err)
{
	int64_t p[2 * CBD_MAX_DIMS], ax[CBD_MAX_DIMS];
	int np, na = x->ndim;

	memset(cval, 0, 8);
	if (nn->opset < 11) {
		np = nn_attr_ints(n, "pads", p, 2 * CBD_MAX_DIMS);
		nn_put_f64(cval, x->dtype, 0, nn_attr_float(n, "value", 0.0f));
	} else {
		const nn_val *pv = nn_in(nn, n, 1), *cv = nn_in(nn, n, 2);
		const nn_val *av = nn_in(nn, n, 3);

		np = pv ? nn_val_ints(pv, p, 2 * CBD_MAX_DIMS) : -1;
		if (cv && nn_val_nelem(cv) == 1) {
			if (cv->dtype != x->dtype)
				return nn_fail(n, err, CBD_E_FORMAT,
					       "constant_value is %s, data %s",
					       cbd_dtype_name(cv->dtype),
					       cbd_dtype_name(x->dtype));
			memcpy(cval, cv->data, cbd_dtype_size(cv->dtype));
		}
		if (av) {
			na = nn_val_ints(av, ax, CBD_MAX_DIMS);
			if (na < 0)
				return nn_fail(n, err, CBD_E_FORMAT,
					       "bad axes");
		}
		if (av && np == 2 * na) {
			int64_t q[2 * CBD_MAX_DIMS] = {0};

			for (int i = 0; i < na; i++) {
				int64_t a = ax[i] < 0 ? ax[i] + x->ndim : ax[i];

				if (a < 0 || a >= x->ndim)
					return nn_fail(n, err, CBD_E_FORMAT,
						       "axis out of range");
				q[a] = p[i];
				q[a + x->ndim] = p[i + na];
			}
			memcpy(p, q, sizeof(q));
			np = 2 * x->ndim;
		}
	}
	if (np != 2 * x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "pads must have %d entries", 2 * x->ndim);
	for (int i = 0; i < x->ndim; i++) {
		pb[i] = p[i];
		pe[i] = p[i + x->ndim];
	}
	return CBD_OK;
}

static int64_t pad_src(int64_t i, int64_t len, int mode)
{
	if (i >= 0 && i < len)
		return i;
	if (mode == 0 || len == 0)
		return -1;
	if (mode == 2)   /* edge */
		return i < 0 ? 0 : len - 1;
	if (len == 1)
		return 0;
	while (i < 0 || i >= len) {   /* reflect */
		if (i < 0)
			i = -i;
		if (i >= len)
			i = 2 * (len - 1) - i;
	}
	return i;
}

/* Constant padding with no negative pad (no cropping): y is filled with
 * the value and x copied into its interior as one strided view.  False,
 * nothing written, when a pad is negative: the element loop does that. */
static bool pad_constant(const nn_val *x, nn_val *y, const int64_t *pb,
			 const int64_t *pe, const uint8_t *cval)
{
	int64_t xs[CBD_MAX_DIMS], ys[CBD_MAX_DIMS], off = 0;
	size_t es = cbd_dtype_size(x->dtype), ne = nn_val_nelem(y);
	bool zero = true;

	for (int i = 0; i < x->ndim; i++)
		if (pb[i] < 0 || pe[i] < 0)
			return false;
	if (ne == 0)
		return true;
	for (size_t j = 0; j < es; j++)
		zero &= cval[j] == 0;
	if (zero)
		memset(y->data, 0, y->nbytes);
	else
		for (size_t o = 0; o < ne; o++)
			memcpy((char *)y->data + o * es, cval, es);
	if (nn_val_nelem(x) == 0)
		return true;
	nn_strides(x->ndim, x->dims, x->ndim, xs);
	nn_strides(y->ndim, y->dims, y->ndim, ys);
	for (int i = 0; i < x->ndim; i++)
		off += pb[i] * ys[i];
	nn_copy_view((char *)y->data + off * (int64_t)es, ys, x->data, xs, es,
		     x->ndim, x->dims);
	return true;
}

cbd_status nn_op_pad(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t pb[CBD_MAX_DIMS], pe[CBD_MAX_DIMS], d[CBD_MAX_DIMS],
		idx[CBD_MAX_DIMS] = {0};
	int r = x->ndim, mode = 0;
	size_t es = cbd_dtype_size(x->dtype), ne;
	uint8_t cval[8];
	cbd_status s;

	if (nn_attr_str_is(n, "mode", "reflect"))
		mode = 1;
	else if (nn_attr_str_is(n, "mode", "edge"))
		mode = 2;
	else if (nn_attr_has(n, "mode") &&
		 !nn_attr_str_is(n, "mode", "constant"))
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "pad mode");
	s = pad_params(nn, n, x, pb, pe, cval, err);
	if (s != CBD_OK)
		return s;
	for (int i = 0; i < r; i++) {
		d[i] = x->dims[i] + pb[i] + pe[i];
		if (d[i] < 0)
			return nn_fail(n, err, CBD_E_SHAPE, "negative size");
		if (mode && x->dims[i] == 0 && d[i])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "cannot reflect an empty dimension");
	}
	s = nn_val_alloc(n, y, x->dtype, r, d, err);
	if (s != CBD_OK)
		return s;
	ne = nn_val_nelem(y);
	if (mode == 0 && pad_constant(x, y, pb, pe, cval))
		return CBD_OK;
	for (size_t o = 0; o < ne; o++) {
		int64_t off = 0;
		bool outside = false;
		char *dst = (char *)y->data + o * es;

		for (int i = 0; i < r; i++) {
			int64_t k = pad_src(idx[i] - pb[i], x->dims[i], mode);

			outside |= k < 0;
			off = off * x->dims[i] + (k < 0 ? 0 : k);
		}
		if (!outside)
			memcpy(dst, (const char *)x->data + (size_t)off * es, es);
		else
			memcpy(dst, cval, es);
		for (int i = r - 1; i >= 0; i--) {
			if (++idx[i] < d[i])
				break;
			idx[i] = 0;
		}
	}
	return CBD_OK;
}
