/*
 * test_nn.c — unit tests of the ONNX engine's loader and planner.
 *
 * Models are built in memory with the protobuf-c bindings (so each test
 * controls exactly how initializers are stored and which graph inputs are
 * also initializers), packed to bytes and loaded through cbd_nn_load_mem
 * like a file.  Expected values are computed here by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "cbd.h"
#include "nn/nn_internal.h"

/* A graph under construction (everything static-sized and on the stack). */
struct gb {
	Onnx__ModelProto m;
	Onnx__GraphProto g;
	Onnx__OperatorSetIdProto op;
	Onnx__OperatorSetIdProto *ops[1];
	Onnx__NodeProto nodes[8], *np[8];
	Onnx__AttributeProto attrs[8], *ap[8];
	Onnx__TensorProto inits[8], *ip[8];
	Onnx__ValueInfoProto vis[8], *vin[4], *vout[4];
	Onnx__TypeProto tps[8];
	Onnx__TypeProto__Tensor tts[8];
	Onnx__TensorShapeProto shs[8];
	Onnx__TensorShapeProto__Dimension dims[8][4], *dp[8][4];
	int nn, na, ni, nv;
};

static void gb_init(struct gb *b, int opset)
{
	memset(b, 0, sizeof(*b));
	onnx__model_proto__init(&b->m);
	onnx__graph_proto__init(&b->g);
	onnx__operator_set_id_proto__init(&b->op);
	b->op.domain = "";
	b->op.has_version = 1;
	b->op.version = opset;
	b->ops[0] = &b->op;
	b->m.n_opset_import = 1;
	b->m.opset_import = b->ops;
	b->m.has_ir_version = 1;
	b->m.ir_version = 3;
	b->m.graph = &b->g;
	b->g.node = b->np;
	b->g.initializer = b->ip;
	b->g.input = b->vin;
	b->g.output = b->vout;
	b->g.name = "t";
}

/* float tensor value info; dims < 0 are symbolic ("batch") */
static void gb_io(struct gb *b, bool input, const char *name, int nd,
		  const int64_t *d)
{
	int k = b->nv++;
	Onnx__ValueInfoProto *vi = &b->vis[k];

	onnx__value_info_proto__init(vi);
	onnx__type_proto__init(&b->tps[k]);
	onnx__type_proto__tensor__init(&b->tts[k]);
	onnx__tensor_shape_proto__init(&b->shs[k]);
	vi->name = (char *)name;
	vi->type = &b->tps[k];
	b->tps[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	b->tps[k].tensor_type = &b->tts[k];
	b->tts[k].has_elem_type = 1;
	b->tts[k].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	b->tts[k].shape = &b->shs[k];
	b->shs[k].n_dim = (size_t)nd;
	b->shs[k].dim = b->dp[k];
	for (int i = 0; i < nd; i++) {
		Onnx__TensorShapeProto__Dimension *dm = &b->dims[k][i];

		onnx__tensor_shape_proto__dimension__init(dm);
		if (d[i] < 0) {
			dm->value_case =
				ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
			dm->dim_param = "batch";
		} else {
			dm->value_case =
				ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			dm->dim_value = d[i];
		}
		b->dp[k][i] = dm;
	}
	if (input)
		b->vin[b->g.n_input++] = vi;
	else
		b->vout[b->g.n_output++] = vi;
}

static void gb_init_f(struct gb *b, const char *name, int nd,
		      const int64_t *d, float *v, size_t n, bool raw)
{
	Onnx__TensorProto *t = &b->inits[b->ni];

	onnx__tensor_proto__init(t);
	t->name = (char *)name;
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	t->n_dims = (size_t)nd;
	t->dims = (int64_t *)d;
	if (raw) {
		t->has_raw_data = 1;
		t->raw_data.len = n * sizeof(float);
		t->raw_data.data = (uint8_t *)v;
	} else {
		t->n_float_data = n;
		t->float_data = v;
	}
	b->ip[b->ni++] = t;
	b->g.n_initializer = (size_t)b->ni;
}

static Onnx__NodeProto *gb_node(struct gb *b, const char *op,
				const char *name, int nin, char **in,
				char **out)
{
	Onnx__NodeProto *n = &b->nodes[b->nn];

	onnx__node_proto__init(n);
	n->op_type = (char *)op;
	n->name = (char *)name;
	n->n_input = (size_t)nin;
	n->input = in;
	n->n_output = 1;
	n->output = out;
	b->np[b->nn++] = n;
	b->g.n_node = (size_t)b->nn;
	return n;
}

static cbd_nn *gb_load_opts(struct gb *b, const cbd_nn_opts *o,
			    cbd_err *err, cbd_status want)
{
	size_t len = onnx__model_proto__get_packed_size(&b->m);
	uint8_t *buf = malloc(len + 1);
	cbd_nn *nn = NULL;

	assert_non_null(buf);
	onnx__model_proto__pack(&b->m, buf);
	assert_int_equal(cbd_nn_load_mem(buf, len, "mem", o, &nn, err), want);
	free(buf);
	return nn;
}

static cbd_nn *gb_load(struct gb *b, cbd_err *err, cbd_status want)
{
	return gb_load_opts(b, NULL, err, want);
}

static cbd_tensor *run1(cbd_nn *nn, cbd_tensor *x, cbd_status want)
{
	const cbd_tensor *in[1] = {x};
	cbd_tensor *out[1] = {NULL};
	cbd_err err = {0};

	assert_int_equal(cbd_nn_run(nn, in, 1, out, 1, &err), want);
	return out[0];
}

/* Y = Relu(X + B): B stored raw or as float_data, listed as a graph input
 * too (IR 3 style), dynamic batch. */
static void add_relu(bool raw)
{
	static int64_t bd[1] = {4}, xd[2] = {-1, 4};
	static char *in0[] = {"X", "B"}, *out0[] = {"S"}, *in1[] = {"S"},
		    *out1[] = {"Y"};
	float bias[4] = {1, -1, 0.5f, -3};
	struct gb b;
	cbd_err err = {0};
	cbd_nn *nn;
	cbd_tensor *x, *y;
	int64_t dims[2] = {3, 4};

	gb_init(&b, 13);
	gb_io(&b, true, "X", 2, xd);
	gb_io(&b, true, "B", 1, bd);
	gb_io(&b, false, "Y", 2, xd);
	gb_init_f(&b, "B", 1, bd, bias, 4, raw);
	gb_node(&b, "Add", "add", 2, in0, out0);
	gb_node(&b, "Relu", "relu", 1, in1, out1);
	nn = gb_load(&b, &err, CBD_OK);
	assert_int_equal(cbd_nn_num_inputs(nn), 1);   /* B is a constant */
	assert_string_equal(cbd_nn_input(nn, 0)->name, "X");
	assert_int_equal(cbd_nn_input(nn, 0)->dims[0], -1);
	for (int batch = 1; batch <= 3; batch += 2) {
		dims[0] = batch;
		assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 2, dims, &x,
						&err), CBD_OK);
		for (size_t i = 0; i < x->nelem; i++)
			((float *)x->data)[i] = (float)i - 2.0f;
		y = run1(nn, x, CBD_OK);
		assert_int_equal(y->dims[0], batch);
		for (size_t i = 0; i < y->nelem; i++) {
			float want = (float)i - 2.0f + bias[i % 4];

			assert_true(((float *)y->data)[i] ==
				    (want > 0 ? want : 0));
		}
		cbd_tensor_free(x);
		cbd_tensor_free(y);
	}
	/* wrong static dimension: a shape error naming the input */
	dims[1] = 5;
	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 2, dims, &x, &err),
			 CBD_OK);
	assert_null(run1(nn, x, CBD_E_SHAPE));
	cbd_tensor_free(x);
	cbd_nn_free(nn);
}

static void test_initializer_float_data(void **state)
{
	(void)state;
	add_relu(false);
}

static void test_initializer_raw_data(void **state)
{
	(void)state;
	add_relu(true);
}

static void test_missing_initializer(void **state)
{
	static int64_t xd[2] = {-1, 4};
	static char *in0[] = {"X", "B"}, *out0[] = {"Y"};
	struct gb b;
	cbd_err err = {0};

	(void)state;
	gb_init(&b, 13);
	gb_io(&b, true, "X", 2, xd);
	gb_io(&b, false, "Y", 2, xd);
	gb_node(&b, "Add", "add7", 2, in0, out0);
	assert_null(gb_load(&b, &err, CBD_E_FORMAT));
	assert_non_null(strstr(err.msg, "initializer B"));
	assert_non_null(strstr(err.msg, "node add7, Add"));
}

/* Nodes with too few inputs or too many outputs are refused at load
 * (a fuzz finding: a Shape node without input used to reach the kernel). */
static void test_arity(void **state)
{
	static int64_t xd[2] = {-1, 4};
	static char *none[] = {NULL}, *out0[] = {"Y"}, *in1[] = {"X"};
	static char *out2[] = {"Y", "Z"};
	struct gb b;
	cbd_err err = {0};
	Onnx__NodeProto *n;

	(void)state;
	gb_init(&b, 13);
	gb_io(&b, true, "X", 2, xd);
	gb_io(&b, false, "Y", 2, xd);
	gb_node(&b, "Shape", "sh", 0, none, out0);
	assert_null(gb_load(&b, &err, CBD_E_FORMAT));
	assert_non_null(strstr(err.msg, "node sh, Shape"));

	gb_init(&b, 13);
	gb_io(&b, true, "X", 2, xd);
	gb_io(&b, false, "Y", 2, xd);
	n = gb_node(&b, "Relu", "r", 1, in1, out2);
	n->n_output = 2;
	assert_null(gb_load(&b, &err, CBD_E_FORMAT));
	assert_non_null(strstr(err.msg, "node r, Relu"));
}

static void test_garbage(void **state)
{
	uint8_t junk[64];
	cbd_nn *nn = (cbd_nn *)1;
	cbd_err err = {0};

	(void)state;
	memset(junk, 0xff, sizeof(junk));
	assert_int_equal(cbd_nn_load_mem(junk, sizeof(junk), "junk", NULL,
					 &nn, &err), CBD_E_FORMAT);
	assert_null(nn);
	assert_non_null(strstr(err.msg, "junk"));
}

/* Conv -> BatchNormalization -> Relu is folded and fused: same result as
 * the unfused graph (where the conv output is also a graph output, which
 * blocks the fusions), computed by hand for one pixel. */
static void test_conv_bn_fold(void **state)
{
	static int64_t xd[4] = {-1, 2, 3, 3}, wd[4] = {2, 2, 1, 1}, cd[1] = {2};
	static char *ci[] = {"X", "W"}, *co[] = {"C"};
	static char *bi[] = {"C", "s", "b", "m", "v"}, *bo[] = {"N"};
	static char *ri[] = {"N"}, *ro[] = {"Y"};
	float w[4] = {1, 2, -1, 0.5f}, sc[2] = {2, 0.5f}, bb[2] = {0.1f, -1};
	float mu[2] = {0.5f, -0.25f}, var[2] = {4, 0.25f};
	cbd_tensor *x, *y[2];
	cbd_err err = {0};
	int64_t dims[4] = {2, 2, 3, 3};

	(void)state;
	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 4, dims, &x, &err),
			 CBD_OK);
	for (size_t i = 0; i < x->nelem; i++)
		((float *)x->data)[i] = sinf((float)i);
	for (int variant = 0; variant < 2; variant++) {
		struct gb b;
		cbd_nn *nn;

		gb_init(&b, 13);
		gb_io(&b, true, "X", 4, xd);
		gb_io(&b, false, "Y", 4, xd);
		if (variant)
			gb_io(&b, false, "C", 4, xd);
		gb_init_f(&b, "W", 4, wd, w, 4, true);
		gb_init_f(&b, "s", 1, cd, sc, 2, false);
		gb_init_f(&b, "b", 1, cd, bb, 2, true);
		gb_init_f(&b, "m", 1, cd, mu, 2, false);
		gb_init_f(&b, "v", 1, cd, var, 2, true);
		gb_node(&b, "Conv", "conv", 2, ci, co);
		gb_node(&b, "BatchNormalization", "bn", 5, bi, bo);
		gb_node(&b, "Relu", "relu", 1, ri, ro);
		nn = gb_load(&b, &err, CBD_OK);
		assert_int_equal(nn->main.nodes[1].skip, !variant);
		assert_int_equal(nn->main.nodes[0].post == NN_POST_RELU, !variant);
		y[variant] = run1(nn, x, CBD_OK);
		cbd_nn_free(nn);
	}
	for (size_t i = 0; i < y[0]->nelem; i++)
		assert_true(fabsf(((float *)y[0]->data)[i] -
				  ((float *)y[1]->data)[i]) < 1e-5f);
	/* pixel (n=1, c=1, 2, 0) by hand */
	{
		const float *xp = x->data;
		size_t p = 2 * 3 + 0, base = 1 * 18;
		float cv = w[2] * xp[base + p] + w[3] * xp[base + 9 + p];
		float nv = (cv - mu[1]) / sqrtf(var[1] + 1e-5f) * sc[1] + bb[1];

		nv = nv > 0 ? nv : 0;
		assert_true(fabsf(((float *)y[0]->data)[base + 9 + p] - nv) <
			    1e-5f);
	}
	cbd_tensor_free(x);
	cbd_tensor_free(y[0]);
	cbd_tensor_free(y[1]);
}

/* The compute budget: a 3x3 conv, 2 -> 4 channels, 8x8 with padding 1.
 * One run of batch n costs n * (input 128 + conv 4*2*64*9 + output 256)
 * = 4992 n multiply-adds; a budget of exactly that passes, one less is
 * refused before the conv runs, and the count starts afresh each run. */
static cbd_nn *conv_budget_model(uint64_t max_work, cbd_err *err,
				 cbd_status want)
{
	static int64_t xd[4] = {-1, 2, 8, 8}, wd[4] = {4, 2, 3, 3};
	static int64_t pads[4] = {1, 1, 1, 1};
	static char *ci[] = {"X", "W"}, *co[] = {"Y"};
	static float w[72];
	static struct gb b;
	static Onnx__AttributeProto pa;
	static Onnx__AttributeProto *pap[1] = {&pa};
	cbd_nn_opts o = {.threads = 1, .max_work = max_work};
	Onnx__NodeProto *n;

	gb_init(&b, 13);
	gb_io(&b, true, "X", 4, xd);
	gb_io(&b, false, "Y", 4, xd);
	gb_init_f(&b, "W", 4, wd, w, 72, true);
	n = gb_node(&b, "Conv", "conv", 2, ci, co);
	onnx__attribute_proto__init(&pa);
	pa.name = "pads";
	pa.has_type = 1;
	pa.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
	pa.n_ints = 4;
	pa.ints = pads;
	n->n_attribute = 1;
	n->attribute = pap;
	return gb_load_opts(&b, &o, err, want);
}

static cbd_tensor *zeros(int64_t batch)
{
	int64_t d[4] = {batch, 2, 8, 8};
	cbd_tensor *x = NULL;
	cbd_err err = {0};

	assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 4, d, &x, &err),
			 CBD_OK);
	return x;
}

static void test_compute_limit(void **state)
{
	const cbd_tensor *in[1];
	cbd_tensor *x1 = zeros(1), *x2 = zeros(2), *out[1] = {NULL};
	cbd_err err = {0};
	cbd_nn *nn;

	(void)state;
	nn = conv_budget_model(4992, &err, CBD_OK);
	cbd_tensor_free(run1(nn, x1, CBD_OK));
	in[0] = x2;
	assert_int_equal(cbd_nn_run(nn, in, 1, out, 1, &err), CBD_E_TOOBIG);
	assert_null(out[0]);
	assert_non_null(strstr(err.msg, "compute limit of 4992"));
	assert_non_null(strstr(err.msg, "conv"));
	cbd_tensor_free(run1(nn, x1, CBD_OK));   /* budget is per run */
	cbd_nn_free(nn);

	nn = conv_budget_model(4991, &err, CBD_OK);
	assert_null(run1(nn, x1, CBD_E_TOOBIG));
	cbd_nn_free(nn);

	/* 0 = CBD_MAX_GMAC (units of 1e9), else the default */
	setenv("CBD_MAX_GMAC", "3", 1);
	nn = conv_budget_model(0, &err, CBD_OK);
	assert_true(nn->work_max == 3000000000ULL);
	cbd_nn_free(nn);
	setenv("CBD_MAX_GMAC", "0.000004992", 1);
	nn = conv_budget_model(0, &err, CBD_OK);
	assert_true(nn->work_max == 4992);
	cbd_nn_free(nn);
	unsetenv("CBD_MAX_GMAC");
	nn = conv_budget_model(0, &err, CBD_OK);
	assert_true(nn->work_max == CBD_NN_MAX_WORK);
	cbd_nn_free(nn);
	/* a malformed limit is a configuration error, not the default */
	setenv("CBD_MAX_GMAC", "lots", 1);
	assert_null(conv_budget_model(0, &err, CBD_E_CONFIG));
	assert_non_null(strstr(err.msg, "CBD_MAX_GMAC is not a positive"));
	unsetenv("CBD_MAX_GMAC");
	cbd_tensor_free(x1);
	cbd_tensor_free(x2);
}

static void test_broadcast(void **state)
{
	int64_t a[3] = {2, 1, 4}, b[2] = {3, 1}, o[8], c[1] = {5};
	int r;

	(void)state;
	assert_true(nn_broadcast(3, a, 2, b, &r, o));
	assert_int_equal(r, 3);
	assert_int_equal(o[0], 2);
	assert_int_equal(o[1], 3);
	assert_int_equal(o[2], 4);
	assert_false(nn_broadcast(3, a, 1, c, &r, o));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initializer_float_data),
		cmocka_unit_test(test_initializer_raw_data),
		cmocka_unit_test(test_missing_initializer),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_arity),
		cmocka_unit_test(test_conv_bn_fold),
		cmocka_unit_test(test_broadcast),
		cmocka_unit_test(test_compute_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
