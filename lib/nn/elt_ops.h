/*
 * elt_ops.h — type lists and the broadcasting row iterator shared by the
 * plain-C typed kernels (elt_ops.c, reduce_ops.c, move_ops.c).
 *
 * A type list is an X-macro over (cbd_dtype suffix, C type, wrapping type):
 * arithmetic is done in the wrapping type (unsigned, at least as wide as
 * int) so integer Add/Sub/Mul/Neg wrap modulo 2^bits exactly as ONNX
 * Runtime's two's-complement results, with no signed-overflow UB and no
 * detour through double.
 *
 * nn_bcast_apply runs a row function over the numpy broadcast of up to
 * NN_BC_MAX inputs: rows along the last output dimension, each input with
 * its own element stride there (0 when broadcast, else 1), so the inner
 * loop is a plain typed loop.
 */
#ifndef CBD_NN_ELT_OPS_H
#define CBD_NN_ELT_OPS_H

#include "nn.h"

#define NN_T_FLOAT(X, a) X(a, FLOAT32, float, float) X(a, FLOAT64, double, double)
#define NN_T_SINT(X, a)                                                     \
	X(a, INT64, int64_t, uint64_t) X(a, INT32, int32_t, uint32_t)        \
	X(a, INT16, int16_t, unsigned) X(a, INT8, int8_t, unsigned)
#define NN_T_UINT(X, a)                                                     \
	X(a, UINT64, uint64_t, uint64_t) X(a, UINT32, uint32_t, uint32_t)    \
	X(a, UINT16, uint16_t, unsigned) X(a, UINT8, uint8_t, unsigned)
#define NN_T_INT(X, a) NN_T_SINT(X, a) NN_T_UINT(X, a)
#define NN_T_NUM(X, a) NN_T_FLOAT(X, a) NN_T_INT(X, a)
#define NN_T_BOOL(X, a) X(a, BOOL, uint8_t, unsigned)
#define NN_T_ALL(X, a) NN_T_NUM(X, a) NN_T_BOOL(X, a)

#define NN_BC_MAX 3

/* One row: y[i] = f(x0[i*st[0]], x1[i*st[1]], ...) for i < len.  false
 * stops the kernel (integer division by zero). */
typedef bool (*nn_row_fn)(void *y, const void *const *x, const int64_t *st,
			  size_t len, const void *ctx);

/* Broadcast the k inputs, allocate y as yt of the broadcast shape and run
 * fn over it; a false row gives CBD_E_FORMAT with message why. */
cbd_status nn_bcast_apply(const nn_node *n, nn_val *const *x, int k,
			  nn_val *y, cbd_dtype yt, nn_row_fn fn,
			  const void *ctx, const char *why, cbd_err *err);

/* Element i of v as double / as int64 (integers exactly, floats
 * truncated), for attribute-like scalars and indices. */
double nn_get_f64(const nn_val *v, size_t i);
int64_t nn_get_i64(const nn_val *v, size_t i);
/* Store a number into element i of a buffer of dtype dt (C conversion). */
void nn_put_f64(void *buf, cbd_dtype dt, size_t i, double x);

static inline bool nn_is_float(cbd_dtype dt)
{
	return dt == CBD_DT_FLOAT32 || dt == CBD_DT_FLOAT64;
}

static inline bool nn_is_int(cbd_dtype dt)
{
	return dt != CBD_DT_BOOL && !nn_is_float(dt) &&
	       cbd_dtype_traits_of(dt) != NULL;
}

#endif
