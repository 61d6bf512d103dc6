/*
 * move_ops.c — data movement on every element type: Slice, Expand, Tile,
 * Split, GatherElements, and the shape-making ConstantOfShape and Range.
 *
 * Slice, Expand and Tile, and Transpose and Pad in shape_ops.c, are one
 * copy between strided views (nn_copy_view): Slice reads x from its
 * starts with its steps times x's strides, Expand reads broadcast axes
 * with stride 0, Tile views each output axis as (copy, index) with the
 * copy at stride 0.  Elements are copied by size, so any dtype works;
 * sizes are checked against CBD_MAX_ELEMS by nn_val_alloc first.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* Copy the view x (rank r, dims d, strides xs) into the view y (strides
 * ys), strides in elements of es bytes, negative and zero ones allowed.
 * Axes of size 1 are dropped and neighbours that both views lay out
 * alike (outer stride = inner stride * inner size) are merged first, so a
 * Transpose that keeps the last axes together, a Slice of whole rows or
 * an Expand along outer axes moves runs of memcpy; an innermost axis that
 * is strided in either view moves element by element with the copy typed
 * by size.  (One memcpy call per 4-byte element was a quarter of a Swin
 * transformer's run.) */
#define NN_STRIDED(T)                                                    \
	for (int64_t j = 0; j < n; j++)                                  \
		((T *)(void *)py)[j * sa] = ((const T *)(const void *)px)[j * sb]

void nn_copy_view(void *y, const int64_t *ys, const void *x,
		  const int64_t *xs, size_t es, int r, const int64_t *d)
{
	int64_t dd[CBD_MAX_DIMS * 2], a[CBD_MAX_DIMS * 2], b[CBD_MAX_DIMS * 2],
		idx[CBD_MAX_DIMS * 2] = {0}, n, sa, sb;
	size_t rows = 1;
	int k = 0;

	for (int i = 0; i < r; i++) {
		if (d[i] == 0)
			return;
		if (d[i] == 1)
			continue;
		if (k > 0 && a[k - 1] == ys[i] * d[i] &&
		    b[k - 1] == xs[i] * d[i]) {
			dd[k - 1] *= d[i];
			a[k - 1] = ys[i];
			b[k - 1] = xs[i];
			continue;
		}
		dd[k] = d[i];
		a[k] = ys[i];
		b[k] = xs[i];
		k++;
	}
	if (k == 0) {
		memcpy(y, x, es);
		return;
	}
	n = dd[k - 1];
	sa = a[k - 1];
	sb = b[k - 1];
	for (int i = 0; i < k - 1; i++)
		rows *= (size_t)dd[i];
	for (size_t row = 0; row < rows; row++) {
		int64_t oy = 0, ox = 0;

		for (int i = 0; i < k - 1; i++) {
			oy += idx[i] * a[i];
			ox += idx[i] * b[i];
		}
		char *py = (char *)y + oy * (int64_t)es;
		const char *px = (const char *)x + ox * (int64_t)es;

		if (sa == 1 && sb == 1)
			memcpy(py, px, (size_t)n * es);
		else if (es == 4)
			NN_STRIDED(uint32_t);
		else if (es == 8)
			NN_STRIDED(uint64_t);
		else if (es == 2)
			NN_STRIDED(uint16_t);
		else if (es == 1)
			NN_STRIDED(uint8_t);
		else
			for (int64_t j = 0; j < n; j++)
				memcpy(py + j * sa * (int64_t)es,
				       px + j * sb * (int64_t)es, es);
		for (int i = k - 2; i >= 0; i--) {
			if (++idx[i] < dd[i])
				break;
			idx[i] = 0;
		}
	}
}
#undef NN_STRIDED

/* Row-major strides (in elements) of dims, aligned right to rank r: the
 * r - nd leading axes get stride 0 (a broadcast). */
void nn_strides(int nd, const int64_t *dims, int r, int64_t *st)
{
	int64_t acc = 1;

	for (int i = r - 1; i >= 0; i--) {
		int k = i - (r - nd);

		st[i] = k >= 0 ? acc : 0;
		acc *= k >= 0 ? dims[k] : 1;
	}
}

/* The same, read broadcast to the dims od: an axis of size 1 that od
 * spans gets stride 0. */
void nn_bcast_strides(int nd, const int64_t *dims, int r, const int64_t *od,
		      int64_t *st)
{
	nn_strides(nd, dims, r, st);
	for (int i = r - nd; i < r; i++)
		if (dims[i - (r - nd)] == 1 && od[i] != 1)
			st[i] = 0;
}

/* x viewed at element offset off with strides xs, copied into the
 * contiguous y (its own dims). */
static void view_to(const nn_val *x, int64_t off, const int64_t *xs, nn_val *y)
{
	int64_t ys[CBD_MAX_DIMS];
	size_t es = cbd_dtype_size(x->dtype);

	if (nn_val_nelem(y) == 0)
		return;
	nn_strides(y->ndim, y->dims, y->ndim, ys);
	nn_copy_view(y->data, ys, (const char *)x->data + off * (int64_t)es, xs,
		     es, y->ndim, y->dims);
}

/* ------------------------------- Slice ------------------------------- */

/* starts, ends, axes, steps: inputs from opset 10, attributes before. */
static int slice_params(cbd_nn *nn, const nn_node *n, int64_t (*p)[CBD_MAX_DIMS],
			int *na)
{
	int cnt[4];

	for (int j = 0; j < 4; j++) {
		static const char *const names[] = {"starts", "ends", "axes",
						    "steps"};
		const nn_val *v = nn_in(nn, n, j + 1);

		if (nn->opset < 10)
			cnt[j] = nn_attr_ints(n, names[j], p[j], CBD_MAX_DIMS);
		else
			cnt[j] = v ? nn_val_ints(v, p[j], CBD_MAX_DIMS) : -1;
	}
	if (cnt[0] < 0 || cnt[1] != cnt[0] || (cnt[2] >= 0 && cnt[2] != cnt[0]) ||
	    (cnt[3] >= 0 && cnt[3] != cnt[0]))
		return -1;
	for (int i = 0; i < cnt[0]; i++) {
		if (cnt[2] < 0)
			p[2][i] = i;
		if (cnt[3] < 0)
			p[3][i] = 1;
	}
	*na = cnt[0];
	return 0;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

cbd_status nn_op_slice(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t p[4][CBD_MAX_DIMS], d[CBD_MAX_DIMS], xs[CBD_MAX_DIMS],
		off = 0;
	bool seen[CBD_MAX_DIMS] = {false};
	int na;
	cbd_status s;

	if (slice_params(nn, n, p, &na) < 0)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "starts, ends, axes, steps disagree");
	nn_strides(x->ndim, x->dims, x->ndim, xs);
	for (int i = 0; i < x->ndim; i++)
		d[i] = x->dims[i];
	for (int j = 0; j < na; j++) {
		int64_t a = p[2][j] < 0 ? p[2][j] + x->ndim : p[2][j];
		int64_t dim, st = p[3][j], b, e;

		if (a < 0 || a >= x->ndim || seen[a] || st == 0)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "bad axis or zero step");
		seen[a] = true;
		dim = x->dims[a];
		b = p[0][j] < 0 ? p[0][j] + dim : p[0][j];
		e = p[1][j] < 0 ? p[1][j] + dim : p[1][j];
		b = st > 0 ? clamp64(b, 0, dim) : clamp64(b, 0, dim - 1);
		e = st > 0 ? clamp64(e, 0, dim) : clamp64(e, -1, dim - 1);
		d[a] = st > 0 ? (e > b ? (e - b + st - 1) / st : 0)
			      : (b > e ? (b - e - st - 1) / -st : 0);
		off += d[a] ? b * xs[a] : 0;
		xs[a] *= st;
	}
	s = nn_val_alloc(n, y, x->dtype, x->ndim, d, err);
	if (s != CBD_OK)
		return s;
	view_to(x, off, xs, y);
	return CBD_OK;
}

/* ------------------------------ Expand, Tile ------------------------- */

cbd_status nn_op_expand(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t sh[CBD_MAX_DIMS], od[CBD_MAX_DIMS], xs[CBD_MAX_DIMS];
	int ns = nn_val_ints(nn_in(nn, n, 1), sh, CBD_MAX_DIMS), r;
	cbd_status s;

	if (ns < 0 || nn_in(nn, n, 1)->ndim != 1)
		return nn_fail(n, err, CBD_E_FORMAT, "bad shape input");
	if (!nn_broadcast(x->ndim, x->dims, ns, sh, &r, od))
		return nn_fail(n, err, CBD_E_SHAPE, "shape does not broadcast");
	s = nn_val_alloc(n, y, x->dtype, r, od, err);
	if (s != CBD_OK)
		return s;
	nn_bcast_strides(x->ndim, x->dims, r, od, xs);
	view_to(x, 0, xs, y);
	return CBD_OK;
}

cbd_status nn_op_tile(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t rep[CBD_MAX_DIMS], od[CBD_MAX_DIMS], xs[CBD_MAX_DIMS],
		d2[CBD_MAX_DIMS * 2], xs2[CBD_MAX_DIMS * 2], ys2[CBD_MAX_DIMS * 2];
	int nr = nn_val_ints(nn_in(nn, n, 1), rep, CBD_MAX_DIMS);
	cbd_status s;

	if (nr != x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "repeats must have one entry per dimension");
	for (int i = 0; i < nr; i++) {
		if (rep[i] < 0 || (x->dims[i] && rep[i] > CBD_MAX_ELEMS /
							     x->dims[i]))
			return nn_fail(n, err, CBD_E_SHAPE, "bad repeats");
		od[i] = x->dims[i] * rep[i];
	}
	s = nn_val_alloc(n, y, x->dtype, nr, od, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	/* output axis i of size rep_i * d_i is the pair (copy, index), the
	 * copy read with stride 0: [rep_0, d_0, rep_1, d_1, ...] */
	nn_strides(x->ndim, x->dims, x->ndim, xs);
	for (int i = 0; i < nr; i++) {
		d2[2 * i] = rep[i];
		d2[2 * i + 1] = x->dims[i];
		xs2[2 * i] = 0;
		xs2[2 * i + 1] = xs[i];
	}
	nn_strides(2 * nr, d2, 2 * nr, ys2);
	nn_copy_view(y->data, ys2, x->data, xs2, cbd_dtype_size(x->dtype),
		     2 * nr, d2);
	return CBD_OK;
}

/* ------------------------- ConstantOfShape, Range -------------------- */

cbd_status nn_op_constantofshape(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *y = nn_out(nn, n, 0);
	int64_t d[CBD_MAX_DIMS];
	int nd = nn_val_ints(nn_in(nn, n, 0), d, CBD_MAX_DIMS);
	const Onnx__AttributeProto *a = nn_attr(n, "value");
	cbd_tensor *t = NULL;
	cbd_dtype dt = CBD_DT_FLOAT32;
	size_t es;
	cbd_status s;

	if (nd < 0)
		return nn_fail(n, err, CBD_E_FORMAT, "bad shape input");
	if (a && a->t) {
		s = nn_tensor_from_proto(a->t, "value", &t, err);
		if (s != CBD_OK)
			return nn_fail(n, err, s, "%s", err->msg);
		if (t->nelem != 1) {
			cbd_tensor_free(t);
			return nn_fail(n, err, CBD_E_FORMAT,
				       "value must hold one element");
		}
		dt = t->dtype;
	}
	s = nn_val_alloc(n, y, dt, nd, d, err);
	es = cbd_dtype_size(dt);
	for (size_t i = 0; s == CBD_OK && i < nn_val_nelem(y); i++)
		if (t)
			memcpy((char *)y->data + i * es, t->data, es);
		else
			memset((char *)y->data + i * es, 0, es);
	cbd_tensor_free(t);
	(void)nn;
	return s;
}

cbd_status nn_op_range(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *v[3] = {nn_in(nn, n, 0), nn_in(nn, n, 1), nn_in(nn, n, 2)};
	nn_val *y = nn_out(nn, n, 0);
	cbd_dtype dt = v[0]->dtype;
	int64_t cnt;
	cbd_status s;

	for (int i = 0; i < 3; i++)
		if (v[i]->dtype != dt || nn_val_nelem(v[i]) != 1 ||
		    dt == CBD_DT_BOOL)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "start, limit, delta: scalars of one "
				       "numeric type");
	if (nn_is_float(dt)) {
		double st = nn_get_f64(v[0], 0), d = nn_get_f64(v[2], 0);
		double c = ceil((nn_get_f64(v[1], 0) - st) / d);

		if (!(c < (double)CBD_MAX_ELEMS))
			return nn_fail(n, err, CBD_E_TOOBIG, "range too long");
		cnt = c > 0 ? (int64_t)c : 0;
		s = nn_val_alloc(n, y, dt, 1, &cnt, err);
		for (int64_t i = 0; s == CBD_OK && i < cnt; i++) {
			nn_put_f64(y->data, dt, (size_t)i, st);
			st = dt == CBD_DT_FLOAT32 ? (double)((float)st + (float)d)
						  : st + d;
		}
		return s;
	} else {
		int64_t st = nn_get_i64(v[0], 0), li = nn_get_i64(v[1], 0);
		int64_t d = nn_get_i64(v[2], 0);

		if (d == 0)
			return nn_fail(n, err, CBD_E_FORMAT, "delta is 0");
		cnt = (li - st) / d + (((li - st) % d) != 0 &&
				       ((li - st) > 0) == (d > 0));
		cnt = cnt > 0 ? cnt : 0;
		s = nn_val_alloc(n, y, dt, 1, &cnt, err);
		for (int64_t i = 0; s == CBD_OK && i < cnt; i++) {
			int64_t val = (int64_t)((uint64_t)st + (uint64_t)i *
							       (uint64_t)d);

			memcpy((char *)y->data + (size_t)i * cbd_dtype_size(dt),
			       &val, cbd_dtype_size(dt));
		}
	}
	(void)nn;
	return s;
}

/* ------------------------------- Split ------------------------------- */

static cbd_status split_sizes(cbd_nn *nn, const nn_node *n, int64_t dim,
			      int64_t *sz, cbd_err *err)
{
	const nn_val *sv = nn_in(nn, n, 1);
	int64_t tot = 0, no = n->n_out, k;
	int ns = -1;

	if (nn->opset >= 13 && sv)
		ns = nn_val_ints(sv, sz, NN_MAX_IO);
	else if (nn->opset < 13 && nn_attr_has(n, "split"))
		ns = nn_attr_ints(n, "split", sz, NN_MAX_IO);
	if (ns >= 0) {
		for (int i = 0; i < ns; i++)
			tot += sz[i] < 0 ? dim + 1 : sz[i];
		if (ns != no || tot != dim)
			return nn_fail(n, err, CBD_E_SHAPE,
				       "split sizes do not add up to %lld",
				       (long long)dim);
		return CBD_OK;
	}
	no = nn_attr_int(n, "num_outputs", no);
	if (no != n->n_out || no < 1)
		return nn_fail(n, err, CBD_E_FORMAT, "num_outputs");
	k = nn->opset >= 18 ? (dim + no - 1) / no : dim / no;
	if (nn->opset < 18 && dim % no)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "%lld does not split evenly", (long long)dim);
	for (int i = 0; i < no; i++) {
		sz[i] = dim - tot < k ? dim - tot : k;
		tot += sz[i];
	}
	return CBD_OK;
}

cbd_status nn_op_split(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), sz[NN_MAX_IO], outer = 1,
		inner = 1, at = 0;
	size_t es = cbd_dtype_size(x->dtype);
	cbd_status s;

	if (axis < -x->ndim || axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT, "axis out of range");
	axis = axis < 0 ? axis + x->ndim : axis;
	s = split_sizes(nn, n, x->dims[axis], sz, err);
	for (int i = 0; i < x->ndim; i++) {
		outer *= i < axis ? x->dims[i] : 1;
		inner *= i > axis ? x->dims[i] : 1;
	}
	for (int j = 0; s == CBD_OK && j < n->n_out; j++) {
		nn_val *y = nn_out(nn, n, j);
		int64_t d[CBD_MAX_DIMS];
		size_t chunk = (size_t)(sz[j] * inner) * es;

		memcpy(d, x->dims, sizeof(d));
		d[axis] = sz[j];
		if (!y) {
			at += sz[j];
			continue;
		}
		s = nn_val_alloc(n, y, x->dtype, x->ndim, d, err);
		for (int64_t o = 0; s == CBD_OK && chunk && o < outer; o++)
			memcpy((char *)y->data + (size_t)o * chunk,
			       (const char *)x->data +
				       ((size_t)(o * x->dims[axis] + at) *
					(size_t)inner) * es, chunk);
		at += sz[j];
	}
	return s;
}

/* --------------------------- GatherElements -------------------------- */

cbd_status nn_op_gatherelements(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *ix = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), idx[CBD_MAX_DIMS] = {0},
		st[CBD_MAX_DIMS];
	size_t es = cbd_dtype_size(x->dtype), ne;
	cbd_status s;

	if (!nn_is_int(ix->dtype) || ix->ndim != x->ndim || axis < -x->ndim ||
	    axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "indices must be integers of the data's rank");
	axis = axis < 0 ? axis + x->ndim : axis;
	nn_strides(x->ndim, x->dims, x->ndim, st);
	s = nn_val_alloc(n, y, x->dtype, ix->ndim, ix->dims, err);
	ne = s == CBD_OK ? nn_val_nelem(y) : 0;
	for (size_t o = 0; o < ne; o++) {
		int64_t k = nn_get_i64(ix, o), off = 0;

		k = k < 0 ? k + x->dims[axis] : k;
		if (k < 0 || k >= x->dims[axis])
			return nn_fail(n, err, CBD_E_SHAPE, "index out of range");
		for (int i = 0; i < x->ndim; i++) {
			if (i != axis && idx[i] >= x->dims[i])
				return nn_fail(n, err, CBD_E_SHAPE,
					       "indices larger than data");
			off += (i == axis ? k : idx[i]) * st[i];
		}
		memcpy((char *)y->data + o * es,
		       (const char *)x->data + (size_t)off * es, es);
		for (int i = x->ndim - 1; i >= 0; i--) {
			if (++idx[i] < ix->dims[i])
				break;
			idx[i] = 0;
		}
	}
	return s;
}
