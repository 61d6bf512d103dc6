/*
 * reduce_ops.c — typed reductions (ReduceSum/Max/Min/Prod/Mean/L1/L2/
 * SumSquare/LogSumExp), ArgMax/ArgMin, and MatMul of float64 and integer
 * tensors.
 *
 * A reduction splits the input's dimensions into kept and reduced ones;
 * every output element walks its reduced elements in index order.  Sums
 * and products of integers wrap modulo 2^bits in their own type; float64
 * accumulates in double in index order (exact for integer values below
 * 2^53); float32 accumulates in double and rounds once.  Max/Min start
 * from the first element and replace it only by a strictly greater
 * (smaller) one, so a leading NaN stays and later NaNs are skipped, as in
 * ONNX Runtime; ArgMax/ArgMin do the same (>= / <= with
 * select_last_index).  float32 ReduceMean stays on oneDNN.
 *
 * Axes come from the attribute before the op's axes-input opset (13 for
 * ReduceSum, 18 for the others) and from the optional second input after;
 * no axes reduces everything unless noop_with_empty_axes.
 *
 * MatMul: numpy matmul semantics (1-D operands promoted, batch dimensions
 * broadcast); each dot product accumulates in index order, integers
 * wrapping, so integer-valued float64 limbs below 2^53 are exact and
 * match any summation order.  float64 (oneDNN has no float64 kernels on
 * CPUs), and float32 products of a few rows by a mostly-zero constant
 * (dnnl_ops.c sends those here), walk b by rows and skip the exact ±0
 * terms, which leaves every sum as the index-order loop computes it
 * (mm_sparse_*); a b without batch dimensions is one product over all of
 * a's rows.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

typedef struct red_geom {
	int nk, nr;                  /* kept and reduced dimensions */
	int64_t kd[CBD_MAX_DIMS], ks[CBD_MAX_DIMS];
	int64_t rd[CBD_MAX_DIMS], rs[CBD_MAX_DIMS];
	size_t nout, nred;
} red_geom;

cbd_status nn_reduce_axes(cbd_nn *nn, const nn_node *n, const nn_val *x,
			  bool *red, bool *noop, cbd_err *err)
{
	int from = n->op == CBD_OP_REDUCESUM ? 13 : 18;
	int64_t ax[CBD_MAX_DIMS];
	int na;

	*noop = false;
	if (nn->opset >= from) {
		const nn_val *av = nn_in(nn, n, 1);

		na = av ? nn_val_ints(av, ax, CBD_MAX_DIMS) : 0;
		if (na < 0)
			return nn_fail(n, err, CBD_E_FORMAT, "bad axes input");
		*noop = na == 0 && nn_attr_int(n, "noop_with_empty_axes", 0);
	} else {
		if (n->n_in > 1)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "axes input before opset %d", from);
		na = nn_attr_ints(n, "axes", ax, CBD_MAX_DIMS);
		if (na < 0 && nn_attr_has(n, "axes"))
			return nn_fail(n, err, CBD_E_FORMAT, "too many axes");
		na = na < 0 ? 0 : na;
	}
	for (int i = 0; i < x->ndim; i++)
		red[i] = na == 0 && !*noop;
	for (int i = 0; i < na; i++) {
		int64_t a = ax[i] < 0 ? ax[i] + x->ndim : ax[i];

		if (a < 0 || a >= x->ndim)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "axis %lld out of range",
				       (long long)ax[i]);
		red[a] = true;
	}
	return CBD_OK;
}

static void red_geom_init(const nn_val *x, const bool *red, red_geom *g)
{
	int64_t st = 1;

	memset(g, 0, sizeof(*g));
	g->nout = g->nred = 1;
	for (int i = x->ndim - 1; i >= 0; i--) {
		if (red[i]) {
			g->rd[g->nr] = x->dims[i];
			g->rs[g->nr++] = st;
			g->nred *= (size_t)x->dims[i];
		} else {
			g->kd[g->nk] = x->dims[i];
			g->ks[g->nk++] = st;
			g->nout *= (size_t)x->dims[i];
		}
		st *= x->dims[i];
	}
}

/* Advance a little-endian (last dimension first) index; returns the
 * offset change. */
static int64_t step(int64_t *idx, const int64_t *d, const int64_t *s, int k)
{
	int64_t delta = 0;

	for (int i = 0; i < k; i++) {
		if (++idx[i] < d[i])
			return delta + s[i];
		delta -= (d[i] - 1) * s[i];
		idx[i] = 0;
	}
	return delta;
}

typedef struct red_acc {
	double f;        /* floats */
	uint64_t u;      /* integers: wrapping sum/product bits */
	int64_t i;       /* signed max/min */
} red_acc;

#define RED_T(_, DT, T, UT)                                                 \
	static void red_##DT(cbd_op op, const red_geom *g, const T *x, T *y) \
	{                                                                   \
		int64_t ki[CBD_MAX_DIMS] = {0}, base = 0;                   \
                                                                            \
		for (size_t o = 0; o < g->nout; o++) {                      \
			int64_t ri[CBD_MAX_DIMS] = {0}, off = base;         \
			T best = g->nred ? x[off] : 0;                      \
			UT acc = op == CBD_OP_REDUCEPROD;                   \
                                                                            \
			for (size_t j = 0; j < g->nred; j++) {              \
				T v = x[off];                               \
                                                                            \
				if (op == CBD_OP_REDUCEMAX && v > best)     \
					best = v;                           \
				if (op == CBD_OP_REDUCEMIN && v < best)     \
					best = v;                           \
				acc = op == CBD_OP_REDUCEPROD ? acc * (UT)v \
							      : acc + (UT)v; \
				off += step(ri, g->rd, g->rs, g->nr);       \
			}                                                   \
			y[o] = op == CBD_OP_REDUCEMAX || op == CBD_OP_REDUCEMIN \
				       ? best : (T)acc;                     \
			base += step(ki, g->kd, g->ks, g->nk);              \
		}                                                           \
	}
NN_T_INT(RED_T, _)
NN_T_BOOL(RED_T, _)

/* Float reductions, accumulated in double. */
static double red_float(cbd_op op, const red_geom *g, const nn_val *x,
			int64_t base)
{
	int64_t ri[CBD_MAX_DIMS] = {0}, off = base;
	double acc = op == CBD_OP_REDUCEPROD ? 1 : 0, best, mx = -INFINITY;

	best = g->nred ? nn_get_f64(x, (size_t)off)
		       : op == CBD_OP_REDUCEMAX ? -INFINITY : INFINITY;
	if (op == CBD_OP_REDUCELOGSUMEXP)
		for (size_t j = 0; j < g->nred; j++) {
			double v = nn_get_f64(x, (size_t)off);

			mx = v > mx ? v : mx;
			off += step(ri, g->rd, g->rs, g->nr);
		}
	memset(ri, 0, sizeof(ri));
	off = base;
	for (size_t j = 0; j < g->nred; j++) {
		double v = nn_get_f64(x, (size_t)off);

		switch (op) {
		case CBD_OP_REDUCEMAX: best = v > best ? v : best; break;
		case CBD_OP_REDUCEMIN: best = v < best ? v : best; break;
		case CBD_OP_REDUCEPROD: acc *= v; break;
		case CBD_OP_REDUCEL1: acc += fabs(v); break;
		case CBD_OP_REDUCEL2:
		case CBD_OP_REDUCESUMSQUARE: acc += v * v; break;
		case CBD_OP_REDUCELOGSUMEXP: acc += exp(v - mx); break;
		default: acc += v; break;
		}
		off += step(ri, g->rd, g->rs, g->nr);
	}
	switch (op) {
	case CBD_OP_REDUCEMAX:
	case CBD_OP_REDUCEMIN: return best;
	case CBD_OP_REDUCEL2: return sqrt(acc);
	case CBD_OP_REDUCEMEAN: return acc / (double)g->nred;
	case CBD_OP_REDUCELOGSUMEXP:
		return g->nred ? mx + log(acc) : -INFINITY;
	default: return acc;
	}
}

static cbd_status red_int(const nn_node *n, const red_geom *g,
			  const nn_val *x, nn_val *y, cbd_err *err)
{
	cbd_op op = n->op;

	if (op != CBD_OP_REDUCESUM && op != CBD_OP_REDUCEMAX &&
	    op != CBD_OP_REDUCEMIN && op != CBD_OP_REDUCEPROD)
		return nn_fail_dtype(n, err, x->dtype);
	if (g->nred == 0 && (op == CBD_OP_REDUCEMAX || op == CBD_OP_REDUCEMIN))
		return nn_fail(n, err, CBD_E_SHAPE, "max/min of nothing");
	switch (x->dtype) {
#define RED_CASE(_, DT, T, UT) case CBD_DT_##DT: red_##DT(op, g, x->data, y->data); return CBD_OK;
	NN_T_INT(RED_CASE, _)
	NN_T_BOOL(RED_CASE, _)
#undef RED_CASE
	default:
		return nn_fail_dtype(n, err, x->dtype);
	}
}

cbd_status nn_op_reduce(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	bool red[CBD_MAX_DIMS], noop, keep = nn_attr_int(n, "keepdims", 1);
	int64_t yd[CBD_MAX_DIMS], ki[CBD_MAX_DIMS] = {0}, base = 0;
	red_geom g;
	int ny = 0;
	cbd_status s;

	if (n->op == CBD_OP_REDUCEMEAN && x->dtype == CBD_DT_FLOAT32)
		return nn_dnnl_reducemean(nn, n, err);
	s = nn_reduce_axes(nn, n, x, red, &noop, err);
	if (s != CBD_OK)
		return s;
	for (int i = 0; i < x->ndim; i++)
		if (!red[i] || keep)
			yd[ny++] = red[i] ? 1 : x->dims[i];
	s = nn_val_alloc(n, y, x->dtype, ny, yd, err);
	if (s != CBD_OK)
		return s;
	red_geom_init(x, red, &g);
	if (!nn_is_float(x->dtype))
		return red_int(n, &g, x, y, err);
	for (size_t o = 0; o < g.nout; o++) {
		nn_put_f64(y->data, y->dtype, o, red_float(n->op, &g, x, base));
		base += step(ki, g.kd, g.ks, g.nk);
	}
	return CBD_OK;
}

/* ------------------------------ ArgMax ------------------------------- */

/* Index of the best of len elements from b, stride inner. */
static int64_t arg_best(const nn_val *x, size_t b, int64_t len,
			int64_t inner, bool mx, bool last)
{
	bool fl = nn_is_float(x->dtype), un = x->dtype == CBD_DT_UINT64;
	double bf = fl ? nn_get_f64(x, b) : 0;
	int64_t bi = fl ? 0 : nn_get_i64(x, b), best = 0;

	for (int64_t k = 1; k < len; k++) {
		size_t e = b + (size_t)(k * inner);
		int c;   /* sign of (v - best) */

		if (fl) {
			double v = nn_get_f64(x, e);

			c = v > bf ? 1 : v < bf ? -1 : v == bf ? 0 : 2;
		} else if (un) {
			uint64_t v = (uint64_t)nn_get_i64(x, e);

			c = v > (uint64_t)bi ? 1 : v < (uint64_t)bi ? -1 : 0;
		} else {
			int64_t v = nn_get_i64(x, e);

			c = v > bi ? 1 : v < bi ? -1 : 0;
		}
		if (c == 2 || !(mx ? c > 0 || (last && c == 0)
				   : c < 0 || (last && c == 0)))
			continue;     /* NaN on either side never wins */
		best = k;
		bf = fl ? nn_get_f64(x, e) : 0;
		bi = fl ? 0 : nn_get_i64(x, e);
	}
	return best;
}

cbd_status nn_op_argmax(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t axis = nn_attr_int(n, "axis", 0), yd[CBD_MAX_DIMS], outer = 1,
		inner = 1, len;
	bool keep = nn_attr_int(n, "keepdims", 1);
	bool last = nn_attr_int(n, "select_last_index", 0) != 0;
	int ny = 0;
	cbd_status s;

	(void)nn;
	if (axis < -x->ndim || axis >= x->ndim)
		return nn_fail(n, err, CBD_E_FORMAT, "axis %lld out of range",
			       (long long)axis);
	axis = axis < 0 ? axis + x->ndim : axis;
	if (x->dtype == CBD_DT_BOOL || x->dims[axis] == 0)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       x->dtype == CBD_DT_BOOL ? "bool input"
						       : "empty axis");
	for (int i = 0; i < x->ndim; i++) {
		if (i < axis)
			outer *= x->dims[i];
		if (i > axis)
			inner *= x->dims[i];
		if (i != axis || keep)
			yd[ny++] = i == axis ? 1 : x->dims[i];
	}
	len = x->dims[axis];
	s = nn_val_alloc(n, y, CBD_DT_INT64, ny, yd, err);
	for (int64_t o = 0; s == CBD_OK && o < outer; o++)
		for (int64_t i = 0; i < inner; i++)
			((int64_t *)y->data)[o * inner + i] =
				arg_best(x, (size_t)(o * len * inner + i), len,
					 inner, n->op == CBD_OP_ARGMAX, last);
	return s;
}

/* ------------------------------ MatMul ------------------------------- */

#define MM_T(_, DT, T, UT)                                                  \
	static void mm_##DT(const T *a, const T *b, T *y, int64_t M,       \
			    int64_t K, int64_t N)                           \
	{                                                                   \
		for (int64_t i = 0; i < M; i++)                             \
			for (int64_t j = 0; j < N; j++) {                   \
				UT acc = 0;                                 \
                                                                            \
				for (int64_t k = 0; k < K; k++)             \
					acc += (UT)a[i * K + k] *           \
					       (UT)b[k * N + j];            \
				y[i * N + j] = (T)acc;                      \
			}                                                   \
	}
NN_T_INT(MM_T, _)

/* Floats, the circuit's limb arithmetic (products of mostly-zero constant
 * matrices with 0/1 bits and floors): y's row i accumulates a[i,k] b[k,:]
 * for k = 0, 1, ..., so every y[i,j] still adds its terms in index order
 * starting from +0, exactly the sum of the triple loop above, but with b's
 * rows read contiguously.  Terms that are exactly ±0 are skipped: adding
 * ±0 to an accumulator that started at +0 never changes it (+0 + -0 = +0,
 * x + ±0 = x).  A term is ±0 when one factor is ±0 and the other finite, so
 * a zero a[i,k] skips row k only if that row of b is finite, a zero b[k,j]
 * is skipped only for finite a[i,k]; NaN and infinities take every term. */
/* b's nonzero columns by row (nz from rowp[k] to rowp[k+1]) and whether
 * each row is finite: built per product, or once for a constant b and
 * kept in the node's state (key: b's data, K, N). */
typedef struct mm_rows {
	const void *b;
	int64_t K, N;
	int64_t *nz, *rowp;
	bool *fin;
} mm_rows;

static void mm_rows_free(void *p)
{
	mm_rows *r = p;

	if (r) {
		free(r->nz);
		free(r->rowp);
		free(r->fin);
		free(r);
	}
}

static mm_rows *mm_rows_new(int64_t K, int64_t N, cbd_err *err)
{
	mm_rows *r = cbd_xcalloc(1, sizeof(*r), err);

	if (!r)
		return NULL;
	r->nz = cbd_xmalloc((size_t)(K * N + 1) * sizeof(*r->nz), err);
	r->rowp = r->nz ? cbd_xmalloc((size_t)(K + 1) * sizeof(*r->rowp), err)
			: NULL;
	r->fin = r->rowp ? cbd_xmalloc((size_t)K + 1, err) : NULL;
	if (!r->fin) {
		mm_rows_free(r);
		return NULL;
	}
	r->K = K;
	r->N = N;
	return r;
}

/* The scan of b's rows and the sparse product, for float32 and float64
 * (float32: small products of the compiled circuit's constant matrices,
 * which oneDNN multiplies densely; every term is again an exact
 * integer). */
#define MM_SPARSE(T, DT)                                                    \
	static void mm_rows_scan_##DT(mm_rows *r, const T *b)                \
	{                                                                   \
		int64_t K = r->K, N = r->N;                                 \
                                                                            \
		r->b = b;                                                   \
		r->rowp[0] = 0;                                             \
		for (int64_t k = 0; k < K; k++) {                           \
			int64_t c = r->rowp[k];                             \
                                                                            \
			r->fin[k] = true;                                   \
			for (int64_t j = 0; j < N; j++) {                   \
				T v = b[k * N + j];                         \
                                                                            \
				if (v != 0)                                 \
					r->nz[c++] = j;                     \
				if (!isfinite(v))                           \
					r->fin[k] = false;                  \
			}                                                   \
			r->rowp[k + 1] = c;                                 \
		}                                                           \
	}                                                                   \
	static void mm_sparse_##DT(const T *a, const T *b, T *y, int64_t M,  \
				   const mm_rows *r)                        \
	{                                                                   \
		int64_t K = r->K, N = r->N;                                 \
                                                                            \
		for (int64_t i = 0; i < M; i++) {                           \
			T *yr = y + i * N;                                  \
                                                                            \
			for (int64_t j = 0; j < N; j++)                     \
				yr[j] = 0;                                  \
			for (int64_t k = 0; k < K; k++) {                   \
				T av = a[i * K + k];                        \
				const T *br = b + k * N;                    \
                                                                            \
				if (av == 0 && r->fin[k])                   \
					continue;                           \
				if (!isfinite(av)) {                        \
					for (int64_t j = 0; j < N; j++)     \
						yr[j] += av * br[j];        \
					continue;                           \
				}                                           \
				for (int64_t c = r->rowp[k];                \
				     c < r->rowp[k + 1]; c++)               \
					yr[r->nz[c]] += av * br[r->nz[c]];  \
			}                                                   \
		}                                                           \
	}
MM_SPARSE(float, FLOAT32)
MM_SPARSE(double, FLOAT64)
#undef MM_SPARSE

/* At most one element in 8 nonzero: worth the sparse product. */
bool nn_mostly_zero(const nn_val *v)
{
	size_t ne = nn_val_nelem(v), nz = 0;

	for (size_t i = 0; i < ne; i++)
		nz += v->dtype == CBD_DT_FLOAT32 ? ((const float *)v->data)[i] != 0
						 : ((const double *)v->data)[i] != 0;
	return nz * 8 <= ne;
}

static void mm_run(cbd_dtype dt, const void *a, const void *b, void *y,
		   int64_t M, int64_t K, int64_t N)
{
	switch (dt) {
#define MM_CASE(_, DT, T, UT) case CBD_DT_##DT: mm_##DT(a, b, y, M, K, N); break;
	NN_T_INT(MM_CASE, _)
#undef MM_CASE
	default:
		break;
	}
}

/* Offset (in matrices) of batch index o of v, broadcast to od[0..nb). */
static int64_t mm_batch_off(const int64_t *vd, int vnb, const int64_t *od,
			    int nb, int64_t o)
{
	int64_t off = 0, st = 1;

	for (int i = nb - 1; i >= 0; i--) {
		int64_t oi = o % od[i], k = i - (nb - vnb);
		int64_t dim = k >= 0 ? vd[k] : 1;

		o /= od[i];
		if (dim != 1)
			off += oi * st;
		st *= dim;
	}
	return off;
}

cbd_status nn_matmul_plain(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *a = nn_in(nn, n, 0), *b = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t ad[CBD_MAX_DIMS], bd[CBD_MAX_DIMS], od[CBD_MAX_DIMS],
		yd[CBD_MAX_DIMS], M, K, N, batch = 1;
	int ra, rb, nb, ny = 0;
	size_t es = cbd_dtype_size(a->dtype);
	mm_rows *rows = NULL;
	bool keep = false;
	cbd_status s;

	(void)nn;
	if (a->dtype != b->dtype || a->ndim < 1 || b->ndim < 1 ||
	    (!nn_is_float(a->dtype) && !nn_is_int(a->dtype)))
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "MatMul of %s, %s",
			       cbd_dtype_name(a->dtype),
			       cbd_dtype_name(b->dtype));
	ra = a->ndim == 1 ? 2 : a->ndim;
	rb = b->ndim == 1 ? 2 : b->ndim;
	memcpy(ad, a->dims, sizeof(ad));
	memcpy(bd, b->dims, sizeof(bd));
	if (a->ndim == 1) {
		ad[1] = ad[0];
		ad[0] = 1;
	}
	if (b->ndim == 1)
		bd[1] = 1;
	M = ad[ra - 2];
	K = ad[ra - 1];
	N = bd[rb - 1];
	if (bd[rb - 2] != K ||
	    !nn_broadcast(ra - 2, ad, rb - 2, bd, &nb, od))
		return nn_fail(n, err, CBD_E_SHAPE, "shapes do not multiply");
	for (int i = 0; i < nb; i++) {
		yd[ny++] = od[i];
		batch *= od[i];
	}
	if (a->ndim > 1)
		yd[ny++] = M;
	if (b->ndim > 1)
		yd[ny++] = N;
	s = nn_charge(n, (uint64_t)batch * (uint64_t)M * (uint64_t)N *
				 (uint64_t)K, err);
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, a->dtype, ny, yd, err);
	if (s == CBD_OK && nn_is_float(a->dtype)) {
		/* a constant b keeps its row scan in the node */
		keep = b->is_const;
		rows = keep && n->state_free == mm_rows_free ? n->state : NULL;
		keep = keep && (rows || !n->state);
		if (rows && (rows->K != K || rows->N != N)) {
			mm_rows_free(rows);
			n->state = rows = NULL;
		}
		if (!rows && !(rows = mm_rows_new(K, N, err)))
			s = CBD_E_NOMEM;
		if (rows && keep) {
			n->state = rows;
			n->state_free = mm_rows_free;
		}
	}
	for (int64_t o = 0; s == CBD_OK && o < batch; o++) {
		int64_t oa = mm_batch_off(ad, ra - 2, od, nb, o);
		int64_t ob = mm_batch_off(bd, rb - 2, od, nb, o);
		const char *pa = (const char *)a->data + (size_t)(oa * M * K) * es;
		const char *pb = (const char *)b->data + (size_t)(ob * K * N) * es;
		char *py = (char *)y->data + (size_t)(o * M * N) * es;

		if (!rows) {
			mm_run(a->dtype, pa, pb, py, M, K, N);
			continue;
		}
		if (a->dtype == CBD_DT_FLOAT32) {
			if (rows->b != pb || !keep)
				mm_rows_scan_FLOAT32(rows, (const float *)pb);
			mm_sparse_FLOAT32((const float *)pa, (const float *)pb,
					  (float *)py, M, rows);
			continue;
		}
		if (rows->b != pb || !keep)
			mm_rows_scan_FLOAT64(rows, (const double *)pb);
		mm_sparse_FLOAT64((const double *)pa, (const double *)pb,
				  (double *)py, M, rows);
	}
	if (!keep)
		mm_rows_free(rows);
	return s;
}
