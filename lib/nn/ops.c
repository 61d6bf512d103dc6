/*
 * ops.c — the op table: everything about an operator comes from one list,
 * ops.def (an X-macro), expanded here into the ONNX names, arities, oldest
 * opsets and kernel pointers, and in nn_internal.h into enum cbd_op; plus attribute
 * access and nn_op_run, which converts inputs out of oneDNN layouts for
 * kernels that do not take them and calls the op's kernel.
 *
 * Adding an op: a line in ops.def and its kernel (dnnl_ops.c for oneDNN,
 * the other lib/nn files in C; nn_internal.h says which holds what).
 */
#include "nn_internal.h"

#include <stdio.h>
#include <string.h>

typedef cbd_status (*nn_kernel)(cbd_nn *nn, nn_node *n, cbd_err *err);

static const struct op_info {
	const char *name;
	short min_in, max_in, max_out, since;
	nn_kernel kernel;
} op_table[] = {
#define NN_OP(id, name, lo, hi, out, since, k) \
	[CBD_OP_##id] = {name, lo, hi, out, since, k},
#include "ops.def"
#undef NN_OP
};
_Static_assert(CBD_ARRAY_LEN(op_table) == CBD_OP_COUNT,
	       "op_table must describe every cbd_op");

/* Every row must be sane: caught at compile time, one assert per op. */
#define NN_OP(id, name, lo, hi, out, since, k)                              \
	_Static_assert((lo) >= 0 && (lo) <= (hi) && (hi) <= NN_MAX_IO &&   \
			       (out) >= 1 && (out) <= NN_MAX_IO &&         \
			       (since) >= 1 && (since) <= CBD_NN_OPSET_MAX && \
			       sizeof(name) > 1,                           \
		       "bad ops.def row for " name);
#include "ops.def"
#undef NN_OP

cbd_status nn_op_check_arity(const nn_node *n, cbd_err *err)
{
	const struct op_info *o = &op_table[n->op];

	if (n->n_in < o->min_in || n->n_in > o->max_in)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "%d inputs, the op takes %d to %d", n->n_in,
			       o->min_in, o->max_in);
	for (int i = 0; i < o->min_in; i++)
		if (n->in[i] < 0)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "required input %d is empty", i);
	if (n->out[0] < 0)
		return nn_fail(n, err, CBD_E_FORMAT, "first output is empty");
	if (n->n_out > o->max_out)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "%d outputs, the op has at most %d", n->n_out,
			       o->max_out);
	return CBD_OK;
}

int nn_op_min_opset(cbd_op op)
{
	return op < CBD_OP_COUNT ? op_table[op].since : 1000;
}

const char *nn_op_name(cbd_op op)
{
	return op < CBD_OP_COUNT ? op_table[op].name : "?";
}

cbd_op nn_op_lookup(const char *type, const char *domain)
{
	if (domain && *domain && strcmp(domain, "ai.onnx") != 0)
		return CBD_OP_COUNT;
	for (int i = 0; i < CBD_OP_COUNT; i++)
		if (strcmp(op_table[i].name, type) == 0)
			return (cbd_op)i;
	return CBD_OP_COUNT;
}

cbd_status nn_fail(const nn_node *n, cbd_err *err, cbd_status code,
		   const char *fmt, ...)
{
	char msg[CBD_ERR_MSG_MAX - 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return cbd_err_set(err, code, "%s (node %.80s, %s)", msg, n->name,
			   n->proto && n->proto->op_type ? n->proto->op_type
							 : nn_op_name(n->op));
}

cbd_status nn_fail_dtype(const nn_node *n, cbd_err *err, cbd_dtype dt)
{
	return nn_fail(n, err, CBD_E_UNSUPPORTED, "%s input",
		       cbd_dtype_name(dt));
}

const Onnx__AttributeProto *nn_attr(const nn_node *n, const char *name)
{
	for (size_t i = 0; i < n->proto->n_attribute; i++) {
		const Onnx__AttributeProto *a = n->proto->attribute[i];

		if (a->name && strcmp(a->name, name) == 0)
			return a;
	}
	return NULL;
}

bool nn_attr_has(const nn_node *n, const char *name)
{
	return nn_attr(n, name) != NULL;
}

int64_t nn_attr_int(const nn_node *n, const char *name, int64_t def)
{
	const Onnx__AttributeProto *a = nn_attr(n, name);

	return a && a->has_i ? a->i : def;
}

float nn_attr_float(const nn_node *n, const char *name, float def)
{
	const Onnx__AttributeProto *a = nn_attr(n, name);

	return a && a->has_f ? a->f : def;
}

int nn_attr_ints(const nn_node *n, const char *name, int64_t *out, int max)
{
	const Onnx__AttributeProto *a = nn_attr(n, name);

	if (!a || a->n_ints > (size_t)max)
		return -1;
	for (size_t i = 0; i < a->n_ints; i++)
		out[i] = a->ints[i];
	return (int)a->n_ints;
}

bool nn_attr_str_is(const nn_node *n, const char *name, const char *s)
{
	const Onnx__AttributeProto *a = nn_attr(n, name);
	size_t l = strlen(s);

	return a && a->has_s && a->s.len == l && memcmp(a->s.data, s, l) == 0;
}

cbd_status nn_op_run(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	if (!nn_op_takes_layout(n->op))
		for (int i = 0; i < n->n_in; i++) {
			nn_val *v = nn_in(nn, n, i);
			cbd_status s = v ? nn_val_plain(nn, n, v, err) : CBD_OK;

			if (s != CBD_OK)
				return s;
		}
	return op_table[n->op].kernel(nn, n, err);
}
