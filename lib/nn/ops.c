/*
 * ops.c — the op table: ONNX names of the cbd_op enum, attribute access,
 * and the single dispatch switch from an op to its kernel.
 *
 * Adding an op: a CBD_OP_* value before CBD_OP_COUNT, its name in
 * op_names (the _Static_assert keeps the table in step), a case in
 * nn_op_run.  Kernels live in dnnl_ops.c (oneDNN) and shape_ops.c (plain C).
 */
#include "nn.h"

#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
	[CBD_OP_CONV] = "Conv",
	[CBD_OP_GEMM] = "Gemm",
	[CBD_OP_MATMUL] = "MatMul",
	[CBD_OP_ADD] = "Add",
	[CBD_OP_SUB] = "Sub",
	[CBD_OP_MUL] = "Mul",
	[CBD_OP_DIV] = "Div",
	[CBD_OP_RELU] = "Relu",
	[CBD_OP_LEAKYRELU] = "LeakyRelu",
	[CBD_OP_SIGMOID] = "Sigmoid",
	[CBD_OP_TANH] = "Tanh",
	[CBD_OP_CLIP] = "Clip",
	[CBD_OP_SOFTMAX] = "Softmax",
	[CBD_OP_LOGSOFTMAX] = "LogSoftmax",
	[CBD_OP_MAXPOOL] = "MaxPool",
	[CBD_OP_AVERAGEPOOL] = "AveragePool",
	[CBD_OP_GLOBALAVERAGEPOOL] = "GlobalAveragePool",
	[CBD_OP_BATCHNORM] = "BatchNormalization",
	[CBD_OP_FLATTEN] = "Flatten",
	[CBD_OP_RESHAPE] = "Reshape",
	[CBD_OP_TRANSPOSE] = "Transpose",
	[CBD_OP_CONCAT] = "Concat",
	[CBD_OP_CONSTANT] = "Constant",
	[CBD_OP_IDENTITY] = "Identity",
	[CBD_OP_DROPOUT] = "Dropout",
	[CBD_OP_SQUEEZE] = "Squeeze",
	[CBD_OP_UNSQUEEZE] = "Unsqueeze",
	[CBD_OP_SHAPE] = "Shape",
	[CBD_OP_GATHER] = "Gather",
	[CBD_OP_PAD] = "Pad",
	[CBD_OP_REDUCEMEAN] = "ReduceMean",
};
_Static_assert(CBD_ARRAY_LEN(op_names) == CBD_OP_COUNT,
	       "op_names must name every cbd_op");

/* Oldest default-domain opset whose semantics the kernels implement: ops
 * unchanged since opset 1 run there too; the rest need opset 6 (the last
 * before numpy broadcasting, which keeps the pytorch-converted suite). */
static const int op_min_opset[] = {
	[CBD_OP_CONV] = 1,
	[CBD_OP_GEMM] = 6,
	[CBD_OP_MATMUL] = 1,
	[CBD_OP_ADD] = 6,
	[CBD_OP_SUB] = 6,
	[CBD_OP_MUL] = 6,
	[CBD_OP_DIV] = 6,
	[CBD_OP_RELU] = 6,
	[CBD_OP_LEAKYRELU] = 6,
	[CBD_OP_SIGMOID] = 6,
	[CBD_OP_TANH] = 6,
	[CBD_OP_CLIP] = 6,
	[CBD_OP_SOFTMAX] = 1,
	[CBD_OP_LOGSOFTMAX] = 1,
	[CBD_OP_MAXPOOL] = 1,
	[CBD_OP_AVERAGEPOOL] = 1,
	[CBD_OP_GLOBALAVERAGEPOOL] = 1,
	[CBD_OP_BATCHNORM] = 6,
	[CBD_OP_FLATTEN] = 1,
	[CBD_OP_RESHAPE] = 5,
	[CBD_OP_TRANSPOSE] = 1,
	[CBD_OP_CONCAT] = 4,
	[CBD_OP_CONSTANT] = 1,
	[CBD_OP_IDENTITY] = 1,
	[CBD_OP_DROPOUT] = 6,
	[CBD_OP_SQUEEZE] = 1,
	[CBD_OP_UNSQUEEZE] = 1,
	[CBD_OP_SHAPE] = 1,
	[CBD_OP_GATHER] = 1,
	[CBD_OP_PAD] = 2,
	[CBD_OP_REDUCEMEAN] = 1,
};
_Static_assert(CBD_ARRAY_LEN(op_min_opset) == CBD_OP_COUNT,
	       "op_min_opset must cover every cbd_op");

/* Inputs an op takes: the first min must be given, at most max. */
static const struct {
	signed char min, max;
} op_arity[] = {
	[CBD_OP_CONV] = {2, 3},
	[CBD_OP_GEMM] = {2, 3},
	[CBD_OP_MATMUL] = {2, 2},
	[CBD_OP_ADD] = {2, 2},
	[CBD_OP_SUB] = {2, 2},
	[CBD_OP_MUL] = {2, 2},
	[CBD_OP_DIV] = {2, 2},
	[CBD_OP_RELU] = {1, 1},
	[CBD_OP_LEAKYRELU] = {1, 1},
	[CBD_OP_SIGMOID] = {1, 1},
	[CBD_OP_TANH] = {1, 1},
	[CBD_OP_CLIP] = {1, 3},
	[CBD_OP_SOFTMAX] = {1, 1},
	[CBD_OP_LOGSOFTMAX] = {1, 1},
	[CBD_OP_MAXPOOL] = {1, 1},
	[CBD_OP_AVERAGEPOOL] = {1, 1},
	[CBD_OP_GLOBALAVERAGEPOOL] = {1, 1},
	[CBD_OP_BATCHNORM] = {5, 5},
	[CBD_OP_FLATTEN] = {1, 1},
	[CBD_OP_RESHAPE] = {2, 2},
	[CBD_OP_TRANSPOSE] = {1, 1},
	[CBD_OP_CONCAT] = {1, NN_MAX_IO},
	[CBD_OP_CONSTANT] = {0, 0},
	[CBD_OP_IDENTITY] = {1, 1},
	[CBD_OP_DROPOUT] = {1, 3},
	[CBD_OP_SQUEEZE] = {1, 2},
	[CBD_OP_UNSQUEEZE] = {1, 2},
	[CBD_OP_SHAPE] = {1, 1},
	[CBD_OP_GATHER] = {2, 2},
	[CBD_OP_PAD] = {1, 4},
	[CBD_OP_REDUCEMEAN] = {1, 2},
};
_Static_assert(CBD_ARRAY_LEN(op_arity) == CBD_OP_COUNT,
	       "op_arity must cover every cbd_op");

static int max_out(cbd_op op)
{
	switch (op) {
	case CBD_OP_DROPOUT:
	case CBD_OP_MAXPOOL:
		return 2;
	case CBD_OP_BATCHNORM:
		return 5;
	default:
		return 1;
	}
}

cbd_status nn_op_check_arity(const nn_node *n, cbd_err *err)
{
	int lo = op_arity[n->op].min, hi = op_arity[n->op].max;

	if (n->n_in < lo || n->n_in > hi)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "%d inputs, the op takes %d to %d", n->n_in, lo,
			       hi);
	for (int i = 0; i < lo; i++)
		if (n->in[i] < 0)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "required input %d is empty", i);
	if (n->out[0] < 0)
		return nn_fail(n, err, CBD_E_FORMAT, "first output is empty");
	if (n->n_out > max_out(n->op))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "%d outputs, the op has at most %d", n->n_out,
			       max_out(n->op));
	return CBD_OK;
}

int nn_op_min_opset(cbd_op op)
{
	return op < CBD_OP_COUNT ? op_min_opset[op] : 1000;
}

const char *nn_op_name(cbd_op op)
{
	return op < CBD_OP_COUNT ? op_names[op] : "?";
}

cbd_op nn_op_lookup(const char *type, const char *domain)
{
	if (domain && *domain && strcmp(domain, "ai.onnx") != 0)
		return CBD_OP_COUNT;
	for (int i = 0; i < CBD_OP_COUNT; i++)
		if (strcmp(op_names[i], type) == 0)
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
	switch (n->op) {
	case CBD_OP_CONV:
		return nn_dnnl_conv(nn, n, err);
	case CBD_OP_GEMM:
		return nn_dnnl_gemm(nn, n, err);
	case CBD_OP_MATMUL:
		return nn_dnnl_matmul(nn, n, err);
	case CBD_OP_ADD:
	case CBD_OP_SUB:
	case CBD_OP_MUL:
	case CBD_OP_DIV:
		return nn_dnnl_binary(nn, n, err);
	case CBD_OP_RELU:
	case CBD_OP_LEAKYRELU:
	case CBD_OP_SIGMOID:
	case CBD_OP_TANH:
	case CBD_OP_CLIP:
		return nn_dnnl_eltwise(nn, n, err);
	case CBD_OP_SOFTMAX:
	case CBD_OP_LOGSOFTMAX:
		return nn_dnnl_softmax(nn, n, err);
	case CBD_OP_MAXPOOL:
	case CBD_OP_AVERAGEPOOL:
	case CBD_OP_GLOBALAVERAGEPOOL:
		return nn_dnnl_pool(nn, n, err);
	case CBD_OP_BATCHNORM:
		return nn_dnnl_batchnorm(nn, n, err);
	case CBD_OP_REDUCEMEAN:
		return nn_dnnl_reducemean(nn, n, err);
	case CBD_OP_FLATTEN:
		return nn_op_flatten(nn, n, err);
	case CBD_OP_RESHAPE:
		return nn_op_reshape(nn, n, err);
	case CBD_OP_TRANSPOSE:
		return nn_op_transpose(nn, n, err);
	case CBD_OP_CONCAT:
		return nn_op_concat(nn, n, err);
	case CBD_OP_CONSTANT:
		return nn_op_constant(nn, n, err);
	case CBD_OP_IDENTITY:
	case CBD_OP_DROPOUT:
		return nn_op_dropout(nn, n, err);
	case CBD_OP_SQUEEZE:
		return nn_op_squeeze(nn, n, err);
	case CBD_OP_UNSQUEEZE:
		return nn_op_unsqueeze(nn, n, err);
	case CBD_OP_SHAPE:
		return nn_op_shape(nn, n, err);
	case CBD_OP_GATHER:
		return nn_op_gather(nn, n, err);
	case CBD_OP_PAD:
		return nn_op_pad(nn, n, err);
	case CBD_OP_COUNT:
		break;
	}
	return nn_fail(n, err, CBD_E_INTERNAL, "no kernel");
}
