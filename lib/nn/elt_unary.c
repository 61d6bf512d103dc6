/*
 * elt_unary.c — typed one-input kernels: unary math and logic, Cast and
 * Clip, and Where (three inputs, by element size).
 *
 * float32 inputs of the activations oneDNN implements (Relu, Sigmoid,
 * Tanh, Abs, Exp, Sqrt, Elu, HardSwish, Mish, Gelu) go to its eltwise
 * primitive (nn_dnnl_eltwise), as does float32 LeakyRelu, so classifier
 * paths stay on oneDNN and keep its blocked layouts.  Clip is plain C on
 * every type: oneDNN's clip turns NaN into a bound, ONNX Runtime's keeps
 * it (ReLU6 after a Conv is fused into the convolution at load anyway).  Every
 * other type runs typed C loops generated from the lists of nn_internal.h:
 * integer Neg/Abs wrap (Neg of INT_MIN is INT_MIN), Round is half to even.
 *
 * Cast follows ONNX Runtime on x86-64 bit for bit, which is what C's
 * undefined out-of-range conversions compile to there: float to int32 and
 * narrower truncates through a 32-bit cvtt (INT32_MIN when NaN or out of
 * range) and keeps the low bits; to int64 through a 64-bit cvtt; to
 * uint32/uint64 by the compilers' unsigned sequence (x >= 2^(w-1):
 * cvtt(x - 2^(w-1)) ^ 2^(w-1)); integers to integers truncate modulo
 * 2^bits; to bool is x != 0; integers to floats are C's correctly rounded
 * conversions straight from the integer type.
 */
#include "nn_internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ------------------------------- unary ------------------------------- */

typedef struct un_ctx {
	cbd_op op;
	double alpha, beta;
	bool neg_inf, pos_inf, tanh_gelu;
} un_ctx;

static double fmath(const un_ctx *c, double x)
{
	double a = c->alpha, b = c->beta;

	switch (c->op) {
	case CBD_OP_RECIPROCAL: return 1.0 / x;
	case CBD_OP_EXP: return exp(x);
	case CBD_OP_LOG: return log(x);
	case CBD_OP_SQRT: return sqrt(x);
	case CBD_OP_ERF: return erf(x);
	case CBD_OP_SIN: return sin(x);
	case CBD_OP_COS: return cos(x);
	case CBD_OP_TANH: return tanh(x);
	case CBD_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
	case CBD_OP_SOFTPLUS: return x > 30 ? x : log1p(exp(x));
	case CBD_OP_SOFTSIGN: return x / (1.0 + fabs(x));
	case CBD_OP_ELU: return x >= 0 ? x : a * (exp(x) - 1.0);
	case CBD_OP_SELU: return b * (x > 0 ? x : a * (exp(x) - 1.0));
	case CBD_OP_HARDSIGMOID: return fmax(0.0, fmin(1.0, a * x + b));
	case CBD_OP_HARDSWISH:
		return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
	case CBD_OP_MISH: return x * tanh(x > 30 ? x : log1p(exp(x)));
	case CBD_OP_GELU:
		if (c->tanh_gelu)
			return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) *
						     (x + 0.044715 * x * x * x)));
		return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
	case CBD_OP_LEAKYRELU: return x >= 0 ? x : a * x;
	case CBD_OP_FLOOR: return floor(x);
	case CBD_OP_CEIL: return ceil(x);
	case CBD_OP_ROUND: return rint(x);
	case CBD_OP_RELU: return x > 0 ? x : 0 * x;
	case CBD_OP_NEG: return -x;
	case CBD_OP_ABS: return fabs(x);
	case CBD_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x != x ? x : 0;
	default: return x;
	}
}

static float fmathf_(const un_ctx *c, float x)
{
	switch (c->op) {
	case CBD_OP_FLOOR: return floorf(x);
	case CBD_OP_CEIL: return ceilf(x);
	case CBD_OP_ROUND: return rintf(x);
	case CBD_OP_NEG: return -x;
	case CBD_OP_ABS: return fabsf(x);
	case CBD_OP_RECIPROCAL: return 1.0f / x;
	case CBD_OP_SQRT: return sqrtf(x);
	default: return (float)fmath(c, x);
	}
}

static bool float_only(cbd_op op)
{
	switch (op) {
	case CBD_OP_NOT:
	case CBD_OP_BITWISENOT:
	case CBD_OP_NEG:
	case CBD_OP_ABS:
	case CBD_OP_SIGN:
	case CBD_OP_RELU:
		return false;
	default:
		return true;
	}
}

/* Neg, Abs, Sign, Relu or BitwiseNot (the default) of one element v of a
 * signed T, UT its unsigned twin: Neg and Abs wrap (Neg of INT_MIN is
 * INT_MIN).  Of an unsigned one, Sign and BitwiseNot: Abs and Relu are the
 * identity there, and Neg was refused. */
#define SINT_EL(T, UT, v)                                                   \
	(c->op == CBD_OP_NEG    ? (T)(0 - (UT)(v))                          \
	 : c->op == CBD_OP_ABS  ? (T)((v) < 0 ? 0 - (UT)(v) : (UT)(v))      \
	 : c->op == CBD_OP_SIGN ? (T)(((v) > 0) - ((v) < 0))                \
	 : c->op == CBD_OP_RELU ? (T)((v) > 0 ? (v) : 0)                    \
				: (T)~(UT)(v))
#define UINT_EL(T, UT, v)                                                   \
	(c->op == CBD_OP_SIGN ? (T)((v) != 0)                               \
	 : c->op == CBD_OP_BITWISENOT ? (T)~(UT)(v) : (v))
/* un_<DT>: y[i] = EL(x[i]) over n elements of one integer type. */
#define INT_UN(EL, DT, T, UT)                                               \
	static void un_##DT(const un_ctx *c, void *yv, const void *xv,      \
			    size_t n)                                       \
	{                                                                   \
		T *y = yv;                                                  \
		const T *x = xv;                                            \
                                                                            \
		for (size_t i = 0; i < n; i++)                              \
			y[i] = EL(T, UT, x[i]);                             \
	}
NN_T_SINT(INT_UN, SINT_EL)
NN_T_UINT(INT_UN, UINT_EL)

static void un_float(const un_ctx *c, nn_val *x, nn_val *y, size_t ne)
{
	bool isf = x->dtype == CBD_DT_FLOAT32;

	for (size_t i = 0; i < ne; i++) {
		double v = isf ? ((const float *)x->data)[i]
			       : ((const double *)x->data)[i];

		if (c->op == CBD_OP_ISNAN)
			((uint8_t *)y->data)[i] = isnan(v);
		else if (c->op == CBD_OP_ISINF)
			((uint8_t *)y->data)[i] = isinf(v) &&
				((v > 0 && c->pos_inf) || (v < 0 && c->neg_inf));
		else if (isf)
			((float *)y->data)[i] = fmathf_(c, (float)v);
		else
			((double *)y->data)[i] = fmath(c, v);
	}
}

static void un_ctx_init(const nn_node *n, un_ctx *c)
{
	c->op = n->op;
	c->alpha = nn_attr_float(n, "alpha", n->op == CBD_OP_HARDSIGMOID
						     ? 0.2f
					     : n->op == CBD_OP_LEAKYRELU ? 0.01f
					     : n->op == CBD_OP_SELU ? 1.67326319f
								   : 1.0f);
	c->beta = nn_attr_float(n, "beta", n->op == CBD_OP_HARDSIGMOID
						   ? 0.5f : 0.0f);
	if (n->op == CBD_OP_SELU)
		c->beta = nn_attr_float(n, "gamma", 1.05070102f);
	c->neg_inf = nn_attr_int(n, "detect_negative", 1) != 0;
	c->pos_inf = nn_attr_int(n, "detect_positive", 1) != 0;
	c->tanh_gelu = nn_attr_str_is(n, "approximate", "tanh");
}

static cbd_status un_int(const nn_node *n, const un_ctx *c, nn_val *x,
			 nn_val *y, size_t ne, cbd_err *err)
{
	switch (x->dtype) {
#define UN_CASE(_, DT, T, UT) case CBD_DT_##DT: un_##DT(c, y->data, x->data, ne); return CBD_OK;
	NN_T_INT(UN_CASE, _)
#undef UN_CASE
	default:
		return nn_fail_dtype(n, err, x->dtype);
	}
}

cbd_status nn_op_unary(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	bool to_bool = n->op == CBD_OP_ISNAN || n->op == CBD_OP_ISINF;
	cbd_dtype dt = x->dtype;
	un_ctx c = {0};
	cbd_status s;

	if (dt == CBD_DT_FLOAT32 && nn_dnnl_unary_has(n->op))
		return nn_dnnl_eltwise(nn, n, err);
	s = nn_val_plain(nn, n, x, err);
	if (s != CBD_OK)
		return s;
	if ((dt == CBD_DT_BOOL) != (n->op == CBD_OP_NOT) ||
	    (!nn_is_float(dt) && (float_only(n->op) || (n->op == CBD_OP_NEG &&
				  !cbd_dtype_traits_of(dt)->is_signed))) ||
	    (nn_is_float(dt) && n->op == CBD_OP_BITWISENOT))
		return nn_fail_dtype(n, err, dt);
	un_ctx_init(n, &c);
	s = nn_val_alloc(n, y, to_bool ? CBD_DT_BOOL : dt, x->ndim, x->dims,
			 err);
	if (s != CBD_OK)
		return s;
	if (dt == CBD_DT_BOOL) {
		for (size_t i = 0; i < nn_val_nelem(x); i++)
			((uint8_t *)y->data)[i] = !((uint8_t *)x->data)[i];
		return CBD_OK;
	}
	if (nn_is_float(dt)) {
		un_float(&c, x, y, nn_val_nelem(x));
		return CBD_OK;
	}
	return un_int(n, &c, x, y, nn_val_nelem(x), err);
}

/* -------------------------------- Cast ------------------------------- */

static int64_t cvtt64(double x)
{
	return x != x || x >= 9223372036854775808.0 ||
			       x < -9223372036854775808.0
		       ? INT64_MIN : (int64_t)x;
}

static int32_t cvtt32(double x)
{
	return x != x || x >= 2147483648.0 || x <= -2147483649.0
		       ? INT32_MIN : (int32_t)x;
}

/* A float as the integer bits ONNX Runtime's cast leaves (see above). */
static uint64_t float_to_bits(double x, cbd_dtype to)
{
	switch (to) {
	case CBD_DT_INT64: return (uint64_t)cvtt64(x);
	case CBD_DT_UINT64:
		return x >= 9223372036854775808.0
			       ? (uint64_t)cvtt64(x - 9223372036854775808.0) ^
					 (1ULL << 63)
			       : (uint64_t)cvtt64(x);
	case CBD_DT_UINT32:
		return x >= 2147483648.0
			       ? (uint32_t)cvtt32(x - 2147483648.0) ^ 0x80000000u
			       : (uint32_t)cvtt32(x);
	default: return (uint64_t)(int64_t)cvtt32(x);
	}
}

typedef union num {
	double f;
	int64_t i;
	uint64_t u;
} num;

/* Element i of x as double (floats), int64 (signed) or uint64 bits. */
static num load_num(const nn_val *x, size_t i)
{
	num v;

	if (nn_is_float(x->dtype))
		v.f = nn_get_f64(x, i);
	else
		v.i = nn_get_i64(x, i);
	return v;
}

static void store_num(const nn_val *x, num v, nn_val *y, size_t i)
{
	cbd_dtype to = y->dtype;
	bool xf = nn_is_float(x->dtype);
	bool xu = x->dtype == CBD_DT_UINT64;
	uint64_t bits;

	if (to == CBD_DT_BOOL) {
		((uint8_t *)y->data)[i] = xf ? v.f != 0 : v.u != 0;
		return;
	}
	if (to == CBD_DT_FLOAT32) {
		((float *)y->data)[i] = xf ? (float)v.f : xu ? (float)v.u
							  : (float)v.i;
		return;
	}
	if (to == CBD_DT_FLOAT64) {
		((double *)y->data)[i] = xf ? v.f : xu ? (double)v.u
						     : (double)v.i;
		return;
	}
	bits = xf ? float_to_bits(v.f, to) : v.u;
	memcpy((char *)y->data + i * cbd_dtype_size(to), &bits,
	       cbd_dtype_size(to));    /* little-endian: the low bits */
}

cbd_status nn_op_cast(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t to = nn_attr_int(n, "to", 0);
	cbd_dtype dt = cbd_dtype_from_onnx((int)to);
	size_t ne = nn_val_nelem(x);
	cbd_status s;

	(void)nn;
	if (!dt)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "cast to ONNX element type %lld", (long long)to);
	s = nn_val_alloc(n, y, dt, x->ndim, x->dims, err);
	if (s != CBD_OK)
		return s;
	if (dt == x->dtype) {
		if (y->nbytes)
			memcpy(y->data, x->data, y->nbytes);
		return CBD_OK;
	}
	if (x->dtype == CBD_DT_UINT8 && dt == CBD_DT_FLOAT32) {
		for (size_t i = 0; i < ne; i++)   /* NHWC image inputs */
			((float *)y->data)[i] = ((const uint8_t *)x->data)[i];
		return CBD_OK;
	}
	for (size_t i = 0; i < ne; i++)
		store_num(x, load_num(x, i), y, i);
	return CBD_OK;
}

/* -------------------------------- Clip ------------------------------- */

/* Bound i (1 = min, 2 = max) of Clip: an input of x's type from opset 11,
 * before that a float attribute. */
static cbd_status clip_bound(cbd_nn *nn, const nn_node *n, int i,
			     const nn_val *x, num *b, bool *has, cbd_err *err)
{
	const nn_val *v = nn_in(nn, n, i);

	*has = false;
	if (nn->opset < 11) {
		const char *nm = i == 1 ? "min" : "max";

		*has = nn_attr_has(n, nm);
		b->f = nn_attr_float(n, nm, 0);
		return CBD_OK;
	}
	if (!v)
		return CBD_OK;
	if (v->dtype != x->dtype || nn_val_nelem(v) != 1)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "bound %d must be a %s scalar", i,
			       cbd_dtype_name(x->dtype));
	*has = true;
	*b = load_num(v, 0);
	return CBD_OK;
}

cbd_status nn_op_clip(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	bool hl, hh, fl = nn_is_float(x->dtype), un;
	num lo = {0}, hi = {0};
	cbd_status s;

	if (x->dtype == CBD_DT_BOOL)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "bool input");
	s = nn_val_plain(nn, n, x, err);
	if (s == CBD_OK)
		s = clip_bound(nn, n, 1, x, &lo, &hl, err);
	if (s == CBD_OK)
		s = clip_bound(nn, n, 2, x, &hi, &hh, err);
	if (s == CBD_OK)
		s = nn_val_alloc(n, y, x->dtype, x->ndim, x->dims, err);
	if (s != CBD_OK)
		return s;
	un = x->dtype == CBD_DT_UINT64;
	if (fl) {   /* absent bounds: the type's range, as in ONNX Runtime */
		double big = x->dtype == CBD_DT_FLOAT32 ? FLT_MAX : DBL_MAX;

		lo.f = hl ? lo.f : -big;
		hi.f = hh ? hi.f : big;
		hl = hh = true;
	}
	for (size_t i = 0; i < nn_val_nelem(x); i++) {
		num v = load_num(x, i);

		if (fl) {
			v.f = hl && v.f < lo.f ? lo.f : v.f;
			v.f = hh && v.f > hi.f ? hi.f : v.f;
		} else if (un) {
			v.u = hl && v.u < lo.u ? lo.u : v.u;
			v.u = hh && v.u > hi.u ? hi.u : v.u;
		} else {
			v.i = hl && v.i < lo.i ? lo.i : v.i;
			v.i = hh && v.i > hi.i ? hi.i : v.i;
		}
		store_num(x, v, y, i);
	}
	return CBD_OK;
}

/* ------------------------------- Where ------------------------------- */

#define WHERE_ROW(bits)                                                     \
	static bool where##bits(void *yv, const void *const *x,              \
				const int64_t *st, size_t len,              \
				const void *ctx)                            \
	{                                                                   \
		uint##bits##_t *y = yv;                                     \
		const uint8_t *c = x[0];                                    \
		const uint##bits##_t *a = x[1], *b = x[2];                  \
                                                                            \
		(void)ctx;                                                  \
		for (size_t i = 0; i < len; i++)                            \
			y[i] = c[(int64_t)i * st[0]] ? a[(int64_t)i * st[1]] \
						     : b[(int64_t)i * st[2]]; \
		return true;                                                \
	}
WHERE_ROW(8)
WHERE_ROW(16)
WHERE_ROW(32)
WHERE_ROW(64)

cbd_status nn_op_where(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x[3] = {nn_in(nn, n, 0), nn_in(nn, n, 1), nn_in(nn, n, 2)};
	size_t es = cbd_dtype_size(x[1]->dtype);
	nn_row_fn fn = es == 1 ? where8 : es == 2 ? where16
		     : es == 4 ? where32 : where64;

	if (x[0]->dtype != CBD_DT_BOOL || x[1]->dtype != x[2]->dtype)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "condition must be bool and X, Y of one type");
	return nn_bcast_apply(n, x, 3, nn_out(nn, n, 0), x[1]->dtype, fn, NULL,
			      "", err);
}
