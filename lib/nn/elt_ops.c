/*
 * elt_ops.c — typed elementwise kernels in plain C: binary arithmetic
 * with numpy broadcasting (Add/Sub/Mul/Div when oneDNN cannot take them,
 * Mod, Pow, PRelu), bitwise and boolean logic, comparisons (-> bool), variadic
 * Max/Min/Sum/Mean, Where, and the broadcast iterator they share.  Unary
 * ops, Cast and Clip live in elt_unary.c.
 *
 * Each kernel is a row function generated per element type from the type
 * lists of nn_internal.h, picked by a switch on the operand dtype: typed
 * loops, integers never through double.  Integer Add/Sub/Mul wrap modulo
 * 2^bits; integer Div truncates towards zero and Mod follows the ONNX
 * fmod attribute (0: sign of the divisor; 1: of the dividend); a zero
 * divisor is an error (ONNX Runtime would crash).  All of it is exact:
 * ONNX Runtime 1.30 rounds integer Mod with fmod=1 and int64 ReduceSum
 * through double past 2^53, cbd does not (tests/conformance/ort-compare
 * keeps those two below 2^53, where both are exact).  BitShift by the width
 * of the type or more gives 0.
 */
#include "nn_internal.h"

#include <math.h>
#include <string.h>

/* ------------------------- broadcast iterator ------------------------ */


static cbd_status bcast_shape(const nn_node *n, nn_val *const *x, int k,
			      int *r, int64_t *od, cbd_err *err)
{
	int64_t tmp[CBD_MAX_DIMS];

	*r = x[0]->ndim;
	memcpy(od, x[0]->dims, sizeof(int64_t) * CBD_MAX_DIMS);
	for (int i = 1; i < k; i++) {
		memcpy(tmp, od, sizeof(tmp));
		if (!nn_broadcast(*r, tmp, x[i]->ndim, x[i]->dims, r, od))
			return nn_fail(n, err, CBD_E_SHAPE,
				       "input shapes do not broadcast");
	}
	return CBD_OK;
}

/* Rows of the broadcast; flat when every input is whole or a scalar. */
static bool bcast_rows(nn_val *const *x, int k, nn_val *y, nn_row_fn fn,
		       const void *ctx, const int64_t (*st)[CBD_MAX_DIMS])
{
	size_t ne = nn_val_nelem(y), inner = 1, es[NN_BC_MAX];
	int64_t idx[CBD_MAX_DIMS] = {0}, ist[NN_BC_MAX];
	size_t ys = cbd_dtype_size(y->dtype);
	int r = y->ndim;
	bool flat = true;

	for (int j = 0; j < k; j++) {
		size_t m = nn_val_nelem(x[j]);

		es[j] = cbd_dtype_size(x[j]->dtype);
		flat &= m == ne || m == 1;
		ist[j] = m == ne ? 1 : 0;
	}
	if (flat) {
		const void *p[NN_BC_MAX];

		for (int j = 0; j < k; j++)
			p[j] = x[j]->data;
		return fn(y->data, p, ist, ne, ctx);
	}
	inner = (size_t)y->dims[r - 1];
	for (int j = 0; j < k; j++)
		ist[j] = st[j][r - 1];
	for (size_t o = 0; o < ne; o += inner) {
		const void *p[NN_BC_MAX];

		for (int j = 0; j < k; j++) {
			int64_t off = 0;

			for (int i = 0; i < r - 1; i++)
				off += idx[i] * st[j][i];
			p[j] = (const char *)x[j]->data + (size_t)off * es[j];
		}
		if (!fn((char *)y->data + o * ys, p, ist, inner, ctx))
			return false;
		for (int i = r - 2; i >= 0; i--) {
			if (++idx[i] < y->dims[i])
				break;
			idx[i] = 0;
		}
	}
	return true;
}

cbd_status nn_bcast_apply(const nn_node *n, nn_val *const *x, int k,
			  nn_val *y, cbd_dtype yt, nn_row_fn fn,
			  const void *ctx, const char *why, cbd_err *err)
{
	int64_t od[CBD_MAX_DIMS], st[NN_BC_MAX][CBD_MAX_DIMS];
	int r;
	cbd_status s = bcast_shape(n, x, k, &r, od, err);

	if (s == CBD_OK)
		s = nn_val_alloc(n, y, yt, r, od, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	for (int j = 0; j < k; j++)
		nn_bcast_strides(x[j]->ndim, x[j]->dims, r, od, st[j]);
	if (!bcast_rows(x, k, y, fn, ctx, (const int64_t(*)[CBD_MAX_DIMS])st))
		return nn_fail(n, err, CBD_E_FORMAT, "%s", why);
	return CBD_OK;
}

double nn_get_f64(const nn_val *v, size_t i)
{
	cbd_tensor t = {.dtype = v->dtype, .data = v->data};

	return cbd_tensor_get_f64(&t, i);
}

int64_t nn_get_i64(const nn_val *v, size_t i)
{
	const void *d = v->data;

	switch (v->dtype) {
	case CBD_DT_INT64: return ((const int64_t *)d)[i];
	case CBD_DT_UINT64: return (int64_t)((const uint64_t *)d)[i];
	case CBD_DT_INT32: return ((const int32_t *)d)[i];
	case CBD_DT_UINT32: return ((const uint32_t *)d)[i];
	case CBD_DT_INT16: return ((const int16_t *)d)[i];
	case CBD_DT_UINT16: return ((const uint16_t *)d)[i];
	case CBD_DT_INT8: return ((const int8_t *)d)[i];
	case CBD_DT_UINT8:
	case CBD_DT_BOOL: return ((const uint8_t *)d)[i];
	case CBD_DT_FLOAT32:
	case CBD_DT_FLOAT64: {
		double x = nn_get_f64(v, i);

		return x != x ? 0 : x >= 9.2e18 ? INT64_MAX
			: x <= -9.2e18 ? INT64_MIN : (int64_t)x;
	}
	}
	return 0;
}

void nn_put_f64(void *buf, cbd_dtype dt, size_t i, double x)
{
	switch (dt) {
	case CBD_DT_FLOAT32: ((float *)buf)[i] = (float)x; break;
	case CBD_DT_FLOAT64: ((double *)buf)[i] = x; break;
	case CBD_DT_BOOL: ((uint8_t *)buf)[i] = x != 0; break;
	case CBD_DT_INT64:
	case CBD_DT_UINT64:
	case CBD_DT_INT32:
	case CBD_DT_UINT32:
	case CBD_DT_INT16:
	case CBD_DT_UINT16:
	case CBD_DT_INT8:
	case CBD_DT_UINT8: {
		int64_t v = x != x ? 0 : x >= 9.2e18 ? INT64_MAX
			  : x <= -9.2e18 ? INT64_MIN : (int64_t)x;

		memcpy((char *)buf + i * cbd_dtype_size(dt), &v,
		       cbd_dtype_size(dt));   /* little-endian truncation */
		break;
	}
	}
}

/* ---------------------------- row functions -------------------------- */

/* A row function name##_DT computing OT from a, b of type T (wrap type
 * UT); ok may be cleared by the expression. */
#define ROW2(fname, T, OT, expr)                                            \
	static bool fname(void *yv, const void *const *xv, const int64_t *st, \
			  size_t len, const void *ctx)                       \
	{                                                                   \
		OT *y = yv;                                                 \
		const T *A = xv[0], *B = xv[1];                             \
		bool ok = true;                                             \
                                                                            \
		(void)ctx;                                                  \
		for (size_t i = 0; i < len; i++) {                          \
			T a = A[(int64_t)i * st[0]], b = B[(int64_t)i * st[1]]; \
                                                                            \
			y[i] = (OT)(expr);                                  \
		}                                                           \
		return ok;                                                  \
	}
#define NN_ROW(op, DT, T, UT) ROW2(op##_##DT, T, OT_##op(T), EX_##op(T, UT))
#define NN_CASE(op, DT, T, UT) case CBD_DT_##DT: return op##_##DT;

static inline int64_t sdiv(int64_t a, int64_t b)
{
	return b == -1 ? (int64_t)(0 - (uint64_t)a) : a / b;
}

static inline int64_t smod(int64_t a, int64_t b, bool fmod_)
{
	int64_t r = b == -1 ? 0 : a % b;

	if (!fmod_ && r != 0 && ((r < 0) != (b < 0)))
		r += b;
	return r;
}

#define OT_add(T) T
#define EX_add(T, UT) (UT)a + (UT)b
#define OT_sub(T) T
#define EX_sub(T, UT) (UT)a - (UT)b
#define OT_mul(T) T
#define EX_mul(T, UT) (UT)a * (UT)b
#define OT_fdiv(T) T
#define EX_fdiv(T, UT) a / b
#define OT_sdiv(T) T
#define EX_sdiv(T, UT) (b == 0 ? (ok = false, 0) : sdiv(a, b))
#define OT_udiv(T) T
#define EX_udiv(T, UT) (b == 0 ? (ok = false, 0) : a / b)
#define OT_smod(T) T
#define EX_smod(T, UT) (b == 0 ? (ok = false, 0) : smod(a, b, false))
#define OT_smodf(T) T
#define EX_smodf(T, UT) (b == 0 ? (ok = false, 0) : smod(a, b, true))
#define OT_umod(T) T
#define EX_umod(T, UT) (b == 0 ? (ok = false, 0) : a % b)
#define OT_fmod(T) T
#define EX_fmod(T, UT) fmod(a, b)
#define OT_prelu(T) T
#define EX_prelu(T, UT) (a < 0 ? (T)((UT)a * (UT)b) : a)
#define OT_band(T) T
#define EX_band(T, UT) a & b
#define OT_bor(T) T
#define EX_bor(T, UT) a | b
#define OT_bxor(T) T
#define EX_bxor(T, UT) a ^ b
#define OT_shl(T) T
#define EX_shl(T, UT) (b >= 8 * sizeof(T) ? 0 : (UT)a << b)
#define OT_shr(T) T
#define EX_shr(T, UT) (b >= 8 * sizeof(T) ? 0 : a >> b)
#define OT_land(T) uint8_t
#define EX_land(T, UT) (a != 0) & (b != 0)
#define OT_lor(T) uint8_t
#define EX_lor(T, UT) (a != 0) | (b != 0)
#define OT_lxor(T) uint8_t
#define EX_lxor(T, UT) (a != 0) ^ (b != 0)
#define OT_eq(T) uint8_t
#define EX_eq(T, UT) a == b
#define OT_lt(T) uint8_t
#define EX_lt(T, UT) a < b
#define OT_gt(T) uint8_t
#define EX_gt(T, UT) a > b
#define OT_le(T) uint8_t
#define EX_le(T, UT) a <= b
#define OT_ge(T) uint8_t
#define EX_ge(T, UT) a >= b
/* Max/Min of floats: NaN propagates (as ONNX Runtime's Max/Min do) */
#define OT_fmx(T) T
#define EX_fmx(T, UT) (isnan(a) ? a : isnan(b) ? b : a < b ? b : a)
#define OT_fmn(T) T
#define EX_fmn(T, UT) (isnan(a) ? a : isnan(b) ? b : b < a ? b : a)
#define OT_imx(T) T
#define EX_imx(T, UT) (a < b ? b : a)
#define OT_imn(T) T
#define EX_imn(T, UT) (b < a ? b : a)

NN_T_NUM(NN_ROW, add)
NN_T_NUM(NN_ROW, sub)
NN_T_NUM(NN_ROW, mul)
NN_T_FLOAT(NN_ROW, fdiv)
NN_T_SINT(NN_ROW, sdiv)
NN_T_UINT(NN_ROW, udiv)
NN_T_SINT(NN_ROW, smod)
NN_T_SINT(NN_ROW, smodf)
NN_T_UINT(NN_ROW, umod)
NN_T_FLOAT(NN_ROW, fmod)
NN_T_FLOAT(NN_ROW, prelu)
NN_T_SINT(NN_ROW, prelu)
NN_T_INT(NN_ROW, band)
NN_T_INT(NN_ROW, bor)
NN_T_INT(NN_ROW, bxor)
NN_T_UINT(NN_ROW, shl)
NN_T_UINT(NN_ROW, shr)
NN_T_BOOL(NN_ROW, land)
NN_T_BOOL(NN_ROW, lor)
NN_T_BOOL(NN_ROW, lxor)
NN_T_ALL(NN_ROW, eq)
NN_T_NUM(NN_ROW, lt)
NN_T_NUM(NN_ROW, gt)
NN_T_NUM(NN_ROW, le)
NN_T_NUM(NN_ROW, ge)
NN_T_FLOAT(NN_ROW, fmx)
NN_T_FLOAT(NN_ROW, fmn)
NN_T_INT(NN_ROW, imx)
NN_T_INT(NN_ROW, imn)

/* Pow: base and exponent may differ in type; computed in double (float32
 * bases in float, as ONNX Runtime's std::pow). */
static bool pow_row(void *y, const void *const *x, const int64_t *st,
		    size_t len, const void *ctx)
{
	const cbd_dtype *dt = ctx;
	nn_val a = {.dtype = dt[0], .data = (void *)x[0]};
	nn_val b = {.dtype = dt[1], .data = (void *)x[1]};

	for (size_t i = 0; i < len; i++) {
		double p = nn_get_f64(&a, (size_t)((int64_t)i * st[0]));
		double q = nn_get_f64(&b, (size_t)((int64_t)i * st[1]));
		double r = dt[0] == CBD_DT_FLOAT32 ? powf((float)p, (float)q)
						   : pow(p, q);

		nn_put_f64(y, dt[0], i, r);
	}
	return true;
}

/* The row function of op on dtype dt, NULL if the op does not take dt. */
static nn_row_fn pick_binary(const nn_node *n, cbd_dtype dt)
{
	bool fm = nn_attr_int(n, "fmod", 0) != 0;
	bool left = nn_attr_str_is(n, "direction", "LEFT");

#define PICK(list, op) switch (dt) { list(NN_CASE, op) default: return NULL; }
/* a float kernel for float types, else one for the integer types ilist */
#define PICK_FI(fop, ilist, iop)                                         \
	if (nn_is_float(dt))                                             \
		PICK(NN_T_FLOAT, fop)                                    \
	PICK(ilist, iop)
	switch (n->op) {
	case CBD_OP_ADD: PICK(NN_T_NUM, add)
	case CBD_OP_SUB: PICK(NN_T_NUM, sub)
	case CBD_OP_MUL: PICK(NN_T_NUM, mul)
	case CBD_OP_MAX: PICK_FI(fmx, NN_T_INT, imx)
	case CBD_OP_MIN: PICK_FI(fmn, NN_T_INT, imn)
	case CBD_OP_SUM: PICK(NN_T_NUM, add)
	case CBD_OP_DIV:
		if (nn_is_float(dt))
			PICK(NN_T_FLOAT, fdiv)
		if (cbd_dtype_traits_of(dt)->is_signed)
			PICK(NN_T_SINT, sdiv)
		PICK(NN_T_UINT, udiv)
	case CBD_OP_MOD:
		if (nn_is_float(dt))
			return fm ? (dt == CBD_DT_FLOAT32 ? fmod_FLOAT32
							  : fmod_FLOAT64)
				  : NULL;
		if (cbd_dtype_traits_of(dt)->is_signed) {
			if (fm)
				PICK(NN_T_SINT, smodf)
			PICK(NN_T_SINT, smod)
		}
		PICK(NN_T_UINT, umod)
	case CBD_OP_PRELU: PICK_FI(prelu, NN_T_SINT, prelu)
	case CBD_OP_BITWISEAND: PICK(NN_T_INT, band)
	case CBD_OP_BITWISEOR: PICK(NN_T_INT, bor)
	case CBD_OP_BITWISEXOR: PICK(NN_T_INT, bxor)
	case CBD_OP_BITSHIFT:
		if (left)
			PICK(NN_T_UINT, shl)
		PICK(NN_T_UINT, shr)
	case CBD_OP_AND: PICK(NN_T_BOOL, land)
	case CBD_OP_OR: PICK(NN_T_BOOL, lor)
	case CBD_OP_XOR: PICK(NN_T_BOOL, lxor)
	case CBD_OP_EQUAL: PICK(NN_T_ALL, eq)
	case CBD_OP_LESS: PICK(NN_T_NUM, lt)
	case CBD_OP_GREATER: PICK(NN_T_NUM, gt)
	case CBD_OP_LESSOREQUAL: PICK(NN_T_NUM, le)
	case CBD_OP_GREATEROREQUAL: PICK(NN_T_NUM, ge)
	default:
		return NULL;
	}
#undef PICK_FI
#undef PICK
}

static bool is_compare(cbd_op op)
{
	return op == CBD_OP_EQUAL || op == CBD_OP_LESS ||
	       op == CBD_OP_GREATER || op == CBD_OP_LESSOREQUAL ||
	       op == CBD_OP_GREATEROREQUAL || op == CBD_OP_AND ||
	       op == CBD_OP_OR || op == CBD_OP_XOR;
}

static cbd_status binary_bad_type(const nn_node *n, cbd_dtype dt,
				  cbd_err *err)
{
	if (n->op == CBD_OP_MOD && nn_is_float(dt))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "fmod must be 1 for %s operands",
			       cbd_dtype_name(dt));
	if (n->op == CBD_OP_BITSHIFT && !nn_attr_str_is(n, "direction",
							"LEFT") &&
	    !nn_attr_str_is(n, "direction", "RIGHT"))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "direction must be LEFT or RIGHT");
	return nn_fail(n, err, CBD_E_UNSUPPORTED, "%s operands",
		       cbd_dtype_name(dt));
}

/* PRelu before opset 7 (no numpy broadcasting): a slope of C values
 * applies per channel, along the input's dimension 1. */
static cbd_status prelu_legacy(const nn_node *n, nn_val *const *x, nn_val *y,
			       nn_row_fn fn, cbd_err *err)
{
	nn_val slope = *x[1];
	nn_val *v[2] = {x[0], &slope};
	size_t ns = nn_val_nelem(x[1]);

	if (ns != 1) {
		if (x[0]->ndim < 2 || ns != (size_t)x[0]->dims[1])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "slope must hold 1 value or one per "
				       "channel");
		slope.ndim = x[0]->ndim - 1;
		for (int i = 0; i < slope.ndim; i++)
			slope.dims[i] = i == 0 ? (int64_t)ns : 1;
	}
	return nn_bcast_apply(n, v, 2, y, x[0]->dtype, fn, NULL, "", err);
}

cbd_status nn_op_binary(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x[2] = {nn_in(nn, n, 0), nn_in(nn, n, 1)};
	nn_val *y = nn_out(nn, n, 0);
	cbd_dtype dt = x[0]->dtype, pdt[2] = {x[0]->dtype, x[1]->dtype};
	nn_row_fn fn;

	if (n->op == CBD_OP_POW) {
		if (!cbd_dtype_traits_of(dt) || dt == CBD_DT_BOOL ||
		    x[1]->dtype == CBD_DT_BOOL)
			return nn_fail(n, err, CBD_E_UNSUPPORTED, "Pow of %s",
				       cbd_dtype_name(dt));
		return nn_bcast_apply(n, x, 2, y, dt, pow_row, pdt, "", err);
	}
	if (x[1]->dtype != dt)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "operand types differ (%s, %s)",
			       cbd_dtype_name(dt), cbd_dtype_name(x[1]->dtype));
	fn = pick_binary(n, dt);
	if (!fn)
		return binary_bad_type(n, dt, err);
	if (n->op == CBD_OP_PRELU && nn->opset < 7)
		return prelu_legacy(n, x, y, fn, err);
	return nn_bcast_apply(n, x, 2, y, is_compare(n->op) ? CBD_DT_BOOL : dt,
			      fn, NULL, "integer division by zero", err);
}

/* Max, Min, Sum, Mean of 1..N inputs, folded left to right. */
cbd_status nn_op_variadic(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *y = nn_out(nn, n, 0), *x0 = nn_in(nn, n, 0);
	nn_val acc = {.name = y->name};
	nn_node fake = *n;
	cbd_status s = CBD_OK;
	nn_row_fn fn;

	if (n->op == CBD_OP_MEAN)
		fake.op = CBD_OP_SUM;
	fn = pick_binary(&fake, x0->dtype);
	if (!fn || (n->op == CBD_OP_MEAN && !nn_is_float(x0->dtype)))
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "%s inputs",
			       cbd_dtype_name(x0->dtype));
	s = nn_val_alloc(n, &acc, x0->dtype, x0->ndim, x0->dims, err);
	if (s == CBD_OK && acc.nbytes)
		memcpy(acc.data, x0->data, acc.nbytes);
	for (int i = 1; s == CBD_OK && i < n->n_in; i++) {
		nn_val *x[2] = {&acc, nn_in(nn, n, i)}, next = {.name = y->name};

		if (!x[1] || x[1]->dtype != x0->dtype) {
			s = nn_fail(n, err, CBD_E_FORMAT, "input types differ");
			break;
		}
		s = nn_bcast_apply(n, x, 2, &next, x0->dtype, fn, NULL, "", err);
		nn_pool_put(nn, acc.data, acc.cap);
		acc = next;
	}
	if (s == CBD_OK && n->op == CBD_OP_MEAN)
		for (size_t i = 0; i < nn_val_nelem(&acc); i++)
			nn_put_f64(acc.data, acc.dtype, i,
				   nn_get_f64(&acc, i) / n->n_in);
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, acc.dtype, acc.ndim, acc.dims, err);
	if (s == CBD_OK && y->nbytes)
		memcpy(y->data, acc.data, y->nbytes);
	nn_pool_put(nn, acc.data, acc.cap);
	return s;
}
