/*
 * nn_internal.h — internals of the ONNX engine (lib/nn/), not public.
 *
 * A model is loaded in three steps:
 *   onnx.c   unpacks the protobuf (protobuf-c bindings of onnx.proto), turns
 *            initializers into constant values and nodes into nn_node
 *            records that point at value slots by index;
 *   graph.c  checks the graph (topological order, missing inputs), folds
 *            BatchNormalization into a preceding Conv, fuses Relu, Clip
 *            and SiLU into Conv as post-ops and torch's erf GELU into one
 *            node, computes the last use of every value, and runs the
 *            nodes in order (cbd_nn_run);
 *   ops.c    is the op table generated from ops.def: the enum below
 *            (ending in CBD_OP_COUNT), the ONNX names, arities, opsets
 *            and kernel pointers; a node runs by an indexed call through
 *            it, not a switch.
 * Kernels are oneDNN primitives (dnnl_ops.c: conv, matmul, pooling, batch
 * norm, eltwise, softmax, binary, reduction) or plain C: data movement
 * (shape_ops.c, move_ops.c, index_ops.c: reshape, gather, scatter, TopK,
 * ...), typed elementwise and reductions (elt_ops.c, elt_unary.c,
 * reduce_ops.c), resampling (resample_ops.c), normalisation, transposed
 * convolution and Einsum (norm_ops.c, conv_transpose.c, einsum.c), and
 * control flow (control.c).
 *
 * Shapes are inferred when a node runs, from the actual input shapes, so the
 * batch dimension (and any other dynamic one) is free.  A oneDNN kernel
 * keeps its primitive in node->state together with the input shapes it was
 * built for, and rebuilds only when those change: one primitive per node and
 * input shape, reused across calls.
 *
 * Memory: constants live for the model.  Intermediate buffers come from a
 * per-model pool: a value's buffer goes back to the pool right after its
 * last consumer ran and is reused by later nodes and later runs, so the
 * footprint is the peak live set and steady-state runs do not page-fault.
 * All of it is released by cbd_nn_free().
 *
 * Compute: a model of a few hundred bytes can ask for hours of arithmetic
 * within those memory limits, so every run has a budget of multiply-adds
 * (cbd_nn_opts.max_work / CBD_MAX_GMAC).  nn_val_alloc charges one per
 * output element, and the kernels whose work per element is large (Conv,
 * pooling, MatMul, Gemm) charge it with nn_charge before they build or run
 * anything, so a run past the budget stops before the costly node.
 */
#ifndef CBD_NN_INTERNAL_H
#define CBD_NN_INTERNAL_H

#include "../util/util_internal.h"
#include "onnx.pb-c.h"

#include <oneapi/dnnl/dnnl_types.h>

#include <stdbool.h>

#define NN_MAX_IO 128        /* inputs or outputs of one node (the circuit
				 * compiler splits 64 ways) */
#define NN_MAX_NODES 100000
#define NN_MAX_VALUES 200000
#define NN_MAX_DEPTH 32      /* If/Loop subgraphs nested */
/* Compute charged per Loop iteration besides its body's own work: the
 * overhead of an iteration (about 0.5 us for an empty body, the time of
 * some 10^5 multiply-adds), so an empty body with a huge trip count meets
 * the default budget in about 5 s (it took 54 s at 10^4). */
#define NN_LOOP_ITER_WORK 100000

/* The operators, in the order of ops.def (ops.c builds the tables). */
typedef enum cbd_op {
#define NN_OP(id, name, lo, hi, out, since, k) CBD_OP_##id,
#include "ops.def"
#undef NN_OP
	CBD_OP_COUNT
} cbd_op;

struct nn_graph;

/* One tensor slot of the model (of its main graph or of a subgraph). */
typedef struct nn_val {
	const char *name;         /* points into the protobuf */
	const struct nn_graph *graph; /* the graph that defines it */
	cbd_dtype dtype;          /* 0 while unknown */
	int ndim;
	int64_t dims[CBD_MAX_DIMS];
	void *data;               /* owned; NULL when not computed */
	size_t nbytes;
	size_t cap;               /* allocated bytes of data (pool buffers) */
	dnnl_memory_desc_t *layout; /* NULL: plain C order; else the oneDNN
				     * layout data is in (float32) */
	void *to_plain;           /* cached reorder to plain (dnnl_ops.c) */
	bool is_const;            /* initializer or Constant output */
	bool is_input;            /* graph input */
	bool is_output;           /* graph output: kept after the run */
	bool defined;             /* produced by an earlier node/input */
	bool captured;            /* read by a subgraph or another graph:
				   * kept until the end of the run */
	int last_use;             /* index of the last consuming node */
} nn_val;

struct nn_node;
typedef void (*nn_state_free_fn)(void *state);

enum { NN_POST_NONE, NN_POST_RELU, NN_POST_CLIP, NN_POST_SWISH };

typedef struct nn_node {
	struct cbd_nn *nn;        /* owner (for its buffer pool) */
	struct nn_graph *graph;   /* the graph it belongs to */
	struct nn_graph *sub[2];  /* If: then, else; Loop: body */
	cbd_op op;
	const Onnx__NodeProto *proto;
	const char *name;         /* node name, or its first output */
	int n_in, n_out;
	int in[NN_MAX_IO];        /* value index, -1 = optional input absent */
	int out[NN_MAX_IO];
	bool skip;                /* folded into another node */
	int post;                 /* Conv: fused activation, NN_POST_* */
	float post_lo, post_hi;   /* NN_POST_CLIP bounds */
	void *state;              /* kernel cache (oneDNN primitive) */
	nn_state_free_fn state_free;
	int sparse_b;             /* MatMul, constant B: 0 not yet looked at,
				   * 1 mostly zeros, -1 not */
} nn_node;

/* A graph: the model's main graph or an If/Loop subgraph.  Its values
 * live in the model's one array of slots (nn_val.graph says whose), so a
 * subgraph node reads an enclosing graph's value, constants included, by
 * its slot: nothing is copied per iteration. */
typedef struct nn_graph {
	struct nn_graph *parent;  /* enclosing graph, NULL for the main one */
	nn_node *owner;           /* the If/Loop node holding it */
	const Onnx__GraphProto *proto;
	nn_node *nodes;
	int n_nodes;
	int n_in, n_out;
	int *in_idx, *out_idx;    /* value slots of inputs and outputs */
	cbd_dtype *out_dtype;     /* declared output types, 0 if unstated */
} nn_graph;

struct cbd_nn {
	Onnx__ModelProto *model;  /* owns every string named above */
	int opset;                /* default-domain opset version */
	nn_val *vals;
	int n_vals;
	nn_graph main;
	nn_graph **subs;          /* every subgraph, any depth */
	int n_subs;
	cbd_nn_io *in_io, *out_io;
	int threads;
	uint64_t work_max;        /* compute budget of one run (multiply-adds) */
	uint64_t work_used;       /* spent so far in the current run */
	void *dnnl;               /* struct nn_dnnl: engine and stream */
	void **pool;              /* free intermediate buffers, reused */
	size_t *pool_cap;
	int pool_n, pool_max;
};

/* ops.c */
const char *nn_op_name(cbd_op op);
int nn_op_min_opset(cbd_op op);
/* Input/output counts of a bound node against the op (CBD_E_FORMAT). */
cbd_status nn_op_check_arity(const struct nn_node *n, cbd_err *err);
/* CBD_OP_COUNT if type is not supported. */
cbd_op nn_op_lookup(const char *type, const char *domain);
cbd_status nn_op_run(cbd_nn *nn, nn_node *n, cbd_err *err);
/* Attribute access on a node (NULL/def when absent). */
const Onnx__AttributeProto *nn_attr(const nn_node *n, const char *name);
int64_t nn_attr_int(const nn_node *n, const char *name, int64_t def);
float nn_attr_float(const nn_node *n, const char *name, float def);
/* Up to max ints; returns the count, or -1 if absent or too many. */
int nn_attr_ints(const nn_node *n, const char *name, int64_t *out, int max);
/* String attribute compared with s (false when absent). */
bool nn_attr_str_is(const nn_node *n, const char *name, const char *s);
bool nn_attr_has(const nn_node *n, const char *name);
/* Error helper: message suffixed with "(node NAME, OP)". */
cbd_status nn_fail(const nn_node *n, cbd_err *err, cbd_status code,
		   const char *fmt, ...) CBD_PRINTF(4, 5);
/* The one refusal of an input type a kernel has no loop for:
 * CBD_E_UNSUPPORTED "<dtype> input". */
cbd_status nn_fail_dtype(const nn_node *n, cbd_err *err, cbd_dtype dt);

/* graph.c */
/* A 64-byte aligned buffer of at least nb bytes from the model's pool of
 * freed buffers (or new); *cap receives its size.  NULL when out of
 * memory.  nn_pool_put gives it back (kept until cbd_nn_free). */
void *nn_pool_get(cbd_nn *nn, size_t nb, size_t *cap);
void nn_pool_put(cbd_nn *nn, void *buf, size_t cap);
/* Allocate (or reuse) v's buffer for dtype and shape; checks limits. */
cbd_status nn_val_alloc(const nn_node *n, nn_val *v, cbd_dtype dt, int ndim,
			const int64_t *dims, cbd_err *err);
size_t nn_val_nelem(const nn_val *v);
/* Spend work multiply-adds of the run's compute budget before doing them;
 * CBD_E_TOOBIG (naming the node) once the budget would be exceeded. */
cbd_status nn_charge(const nn_node *n, uint64_t work, cbd_err *err);
/* Input i of node n (NULL if absent). */
nn_val *nn_in(cbd_nn *nn, const nn_node *n, int i);
nn_val *nn_out(cbd_nn *nn, const nn_node *n, int i);
/* Run the nodes of graph g in order, releasing each value g owns after
 * its last reader. */
cbd_status nn_graph_run(cbd_nn *nn, nn_graph *g, cbd_err *err);
/* Give v's buffer back to the pool (v keeps its name and flags). */
void nn_val_drop(cbd_nn *nn, nn_val *v);
/* Read an integer tensor as int64 values (max entries); -1 if more or
 * not integers. */
int nn_val_ints(const nn_val *v, int64_t *out, int max);

/* onnx.c */
/* Unpack buf into nn->model and bind initializers, inputs, nodes and
 * outputs to value slots. */
cbd_status nn_onnx_build(cbd_nn *nn, const uint8_t *buf, size_t len,
			 cbd_err *err);
/* Convert a TensorProto to a dense tensor of any cbd_dtype (raw_data or
 * the typed field).  Other element types give CBD_E_UNSUPPORTED. */
cbd_status nn_tensor_from_proto(const Onnx__TensorProto *tp,
				const char *what, cbd_tensor **out,
				cbd_err *err);
cbd_dtype nn_dtype_from_onnx(int32_t t);

/* dnnl_ops.c */
/* Layouts: a value computed by a oneDNN kernel may stay in the blocked
 * layout that kernel chose (v->layout); kernels that understand layouts
 * (Conv, eltwise, pooling, BatchNormalization, same-shape binary) consume
 * it directly, everything else gets the value converted to plain first
 * (nn_op_run), and so do graph outputs. */
bool nn_op_takes_layout(cbd_op op);
/* The float32 ops of nn_op_unary that oneDNN's eltwise primitive computes
 * (nn_dnnl_eltwise); they take layouts too. */
bool nn_dnnl_unary_has(cbd_op op);
cbd_status nn_val_plain(cbd_nn *nn, const nn_node *n, nn_val *v,
			cbd_err *err);
/* Allocate v in layout md (size from oneDNN; plain if md is plain). */
cbd_status nn_val_alloc_md(const nn_node *n, nn_val *v, int ndim,
			   const int64_t *dims, const dnnl_memory_desc_t *md,
			   cbd_err *err);
void nn_val_layout_clear(nn_val *v);
void nn_val_dnnl_free(nn_val *v);
cbd_status nn_dnnl_init(cbd_nn *nn, cbd_err *err);
void nn_dnnl_fini(cbd_nn *nn);
void nn_dnnl_set_threads(cbd_nn *nn);
cbd_status nn_dnnl_conv(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_gemm(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_matmul(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_binary(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_eltwise(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_softmax(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_pool(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_batchnorm(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_reducemean(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_dnnl_layernorm(cbd_nn *nn, nn_node *n, cbd_err *err);

/* shape_ops.c (Identity uses nn_op_dropout: a plain copy) */
cbd_status nn_op_flatten(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_reshape(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_squeeze(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_unsqueeze(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_dropout(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_transpose(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_concat(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_constant(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_shape(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_gather(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_pad(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_size(cbd_nn *nn, nn_node *n, cbd_err *err);

/* move_ops.c */
void nn_copy_view(void *y, const int64_t *ys, const void *x,
		  const int64_t *xs, size_t es, int r, const int64_t *d);
void nn_strides(int nd, const int64_t *dims, int r, int64_t *st);
void nn_bcast_strides(int nd, const int64_t *dims, int r, const int64_t *od,
		      int64_t *st);
cbd_status nn_op_slice(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_expand(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_tile(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_constantofshape(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_range(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_split(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_gatherelements(cbd_nn *nn, nn_node *n, cbd_err *err);

/* elt_ops.c: typed elementwise kernels (every dtype the op allows) */
cbd_status nn_op_binary(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_variadic(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_unary(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_cast(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_where(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_clip(cbd_nn *nn, nn_node *n, cbd_err *err);

/* reduce_ops.c */
cbd_status nn_op_reduce(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_argmax(cbd_nn *nn, nn_node *n, cbd_err *err);
/* MatMul of float64 or integer tensors (numpy batch broadcasting) */
cbd_status nn_matmul_plain(cbd_nn *nn, nn_node *n, cbd_err *err);
bool nn_mostly_zero(const nn_val *v);

/* index_ops.c */
cbd_status nn_op_scatterelements(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_scatternd(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_gathernd(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_nonzero(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_topk(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_onehot(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_cumsum(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_trilu(cbd_nn *nn, nn_node *n, cbd_err *err);

/* resample_ops.c (Resize and Upsample; DepthToSpace and SpaceToDepth) */
cbd_status nn_op_resize(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_depthtospace(cbd_nn *nn, nn_node *n, cbd_err *err);

/* norm_ops.c, conv_transpose.c, einsum.c */
cbd_status nn_op_layernorm(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_instancenorm(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_convtranspose(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_einsum(cbd_nn *nn, nn_node *n, cbd_err *err);

/* control.c */
/* Load-time checks of an If/Loop node against its subgraphs (counts,
 * declared types of If branches). */
cbd_status nn_control_check(cbd_nn *nn, const nn_node *n, cbd_err *err);
cbd_status nn_op_if(cbd_nn *nn, nn_node *n, cbd_err *err);
cbd_status nn_op_loop(cbd_nn *nn, nn_node *n, cbd_err *err);

/* numpy broadcast of two shapes into out (rank = max); false if they do
 * not broadcast. */
bool nn_broadcast(int na, const int64_t *a, int nb, const int64_t *b,
		  int *nout, int64_t *out);

/* ---- type lists and the broadcasting row iterator shared by the
 * plain-C typed kernels (elt_ops.c, reduce_ops.c, move_ops.c, ...): they
 * were nn_internal.h, a second header, until the module got one (rule 2 of
 * docs/MODULES.md).
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

/* The axes a Reduce* node reduces (reduce_ops.c), as red[i] per
 * dimension of x: the axes input from opset 18 (13 for ReduceSum), else
 * the attribute; none given means all, or nothing (*noop) when
 * noop_with_empty_axes says so. */
cbd_status nn_reduce_axes(cbd_nn *nn, const nn_node *n, const nn_val *x,
			  bool *red, bool *noop, cbd_err *err);

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
