/*
 * onnx.c — ONNX model loading: protobuf bytes -> struct cbd_nn.
 *
 * The ModelProto is unpacked with the protobuf-c bindings generated from
 * onnx.proto and kept alive for the model's lifetime (value and node names
 * point into it).  Then:
 *   - the default-domain opset is read (CBD_NN_OPSET_MIN..MAX, cbd.h, is
 *     the supported range; older ones are accepted for the ops whose
 *     semantics match, ops.def);
 *   - every initializer becomes a constant value slot (raw_data or the
 *     typed float_data/int32_data/int64_data fields; external data is
 *     refused);
 *   - graph inputs that are also initializers stay constants (IR < 4
 *     models list them as inputs); the others become the model's inputs,
 *     with dims from the declared shape (-1 for symbolic dimensions);
 *   - each node's op_type is looked up in the op table (ops.c) and its
 *     inputs/outputs bound to value slots; an input must be defined by an
 *     earlier node, a graph input or an initializer.
 * Everything checks sizes before allocating; protobuf-c rejects truncated
 * or malformed bytes.
 */
#include "nn_internal.h"
#include "../tensorio/tensorio_internal.h"

#include <string.h>

cbd_dtype nn_dtype_from_onnx(int32_t t)
{
	return cbd_dtype_from_onnx(t);
}

static const char *onnx_type_name(int32_t t)
{
	static const char *names[] = {"undefined", "float", "uint8", "int8",
				      "uint16", "int16", "int32", "int64",
				      "string", "bool", "float16", "double",
				      "uint32", "uint64", "complex64",
				      "complex128", "bfloat16"};

	if (t >= 0 && (size_t)t < CBD_ARRAY_LEN(names))
		return names[t];
	return "unknown";
}

/* Which typed field of a TensorProto carries dt (without raw_data), and
 * how many values it holds. */
static size_t typed_count(const Onnx__TensorProto *tp, cbd_dtype dt)
{
	switch (dt) {
	case CBD_DT_FLOAT32: return tp->n_float_data;
	case CBD_DT_FLOAT64: return tp->n_double_data;
	case CBD_DT_INT64: return tp->n_int64_data;
	case CBD_DT_UINT64:
	case CBD_DT_UINT32: return tp->n_uint64_data;
	case CBD_DT_INT32:
	case CBD_DT_UINT16:
	case CBD_DT_INT16:
	case CBD_DT_INT8:
	case CBD_DT_UINT8:
	case CBD_DT_BOOL: return tp->n_int32_data;
	}
	return 0;
}

/* Typed field value i converted to t's element type (narrowing as the
 * ONNX spec stores them: small integers and bool in int32_data, uint32 in
 * uint64_data). */
static void typed_put(const Onnx__TensorProto *tp, cbd_tensor *t, size_t i)
{
	void *d = t->data;

	switch (t->dtype) {
	case CBD_DT_FLOAT32: ((float *)d)[i] = tp->float_data[i]; break;
	case CBD_DT_FLOAT64: ((double *)d)[i] = tp->double_data[i]; break;
	case CBD_DT_INT64: ((int64_t *)d)[i] = tp->int64_data[i]; break;
	case CBD_DT_UINT64: ((uint64_t *)d)[i] = tp->uint64_data[i]; break;
	case CBD_DT_UINT32:
		((uint32_t *)d)[i] = (uint32_t)tp->uint64_data[i];
		break;
	case CBD_DT_INT32: ((int32_t *)d)[i] = tp->int32_data[i]; break;
	case CBD_DT_UINT16:
		((uint16_t *)d)[i] = (uint16_t)tp->int32_data[i];
		break;
	case CBD_DT_INT16: ((int16_t *)d)[i] = (int16_t)tp->int32_data[i]; break;
	case CBD_DT_INT8: ((int8_t *)d)[i] = (int8_t)tp->int32_data[i]; break;
	case CBD_DT_UINT8: ((uint8_t *)d)[i] = (uint8_t)tp->int32_data[i]; break;
	case CBD_DT_BOOL: ((uint8_t *)d)[i] = tp->int32_data[i] != 0; break;
	}
}

static cbd_status proto_payload(const Onnx__TensorProto *tp, cbd_tensor *t)
{
	if (tp->has_raw_data) {
		if (t->nbytes)
			memcpy(t->data, tp->raw_data.data, t->nbytes);
		if (t->dtype == CBD_DT_BOOL)
			for (size_t i = 0; i < t->nelem; i++)
				((uint8_t *)t->data)[i] =
					((uint8_t *)t->data)[i] != 0;
		return CBD_OK;
	}
	for (size_t i = 0; i < t->nelem; i++)
		typed_put(tp, t, i);
	return CBD_OK;
}

/* Does the payload hold as many values as the shape claims?  Checked before
 * allocating, so a few bytes of dims cannot make us allocate gigabytes
 * (fuzz finding). */
static int payload_fits(const Onnx__TensorProto *tp, cbd_dtype dt,
			size_t nelem, size_t nbytes)
{
	if (tp->has_raw_data)
		return tp->raw_data.len == nbytes;
	return typed_count(tp, dt) == nelem;
}

cbd_status nn_tensor_from_proto(const Onnx__TensorProto *tp,
				const char *what, cbd_tensor **out,
				cbd_err *err)
{
	int64_t dims[CBD_MAX_DIMS];
	cbd_dtype dt = nn_dtype_from_onnx(tp->data_type);
	cbd_tensor *t = NULL;
	size_t nelem, nbytes;
	cbd_status s;

	*out = NULL;
	if (tp->has_data_location &&
	    tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "tensor %s: external data", what);
	if (!dt)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "tensor %s: element type %s", what,
				   onnx_type_name(tp->data_type));
	if (tp->n_dims > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "tensor %s: %zu dimensions", what,
				   tp->n_dims);
	for (size_t i = 0; i < tp->n_dims; i++) {
		if (tp->dims[i] < 0 || tp->dims[i] > CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "tensor %s: bad dimension %lld",
					   what, (long long)tp->dims[i]);
		dims[i] = tp->dims[i];
	}
	s = cbd_tensor_size(dt, (int)tp->n_dims, dims, &nelem, &nbytes, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "tensor %s", what);
	if (!payload_fits(tp, dt, nelem, nbytes))
		return cbd_err_set(err, CBD_E_FORMAT,
				   "tensor %s: element count does not match "
				   "its shape (%zu elements)", what, nelem);
	s = cbd_tensor_new(dt, (int)tp->n_dims, dims, &t, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "tensor %s", what);
	proto_payload(tp, t);
	*out = t;
	return CBD_OK;
}

/* The value named name visible from graph g: its own, else the nearest
 * enclosing graph's (outer-scope references of If/Loop bodies). */
static int find_val(const cbd_nn *nn, const nn_graph *g, const char *name,
		    bool outer)
{
	for (; g; g = outer ? g->parent : NULL)
		for (int i = nn->n_vals - 1; i >= 0; i--)
			if (nn->vals[i].graph == g &&
			    strcmp(nn->vals[i].name, name) == 0)
				return i;
	return -1;
}

static int add_val(cbd_nn *nn, const nn_graph *g, const char *name)
{
	nn_val *v = &nn->vals[nn->n_vals];

	memset(v, 0, sizeof(*v));
	v->name = name;
	v->graph = g;
	v->last_use = -1;
	return nn->n_vals++;
}

static cbd_status add_initializers(cbd_nn *nn, nn_graph *gr, cbd_err *err)
{
	const Onnx__GraphProto *g = gr->proto;

	if (g->n_sparse_initializer)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "sparse initializers");
	for (size_t i = 0; i < g->n_initializer; i++) {
		const Onnx__TensorProto *tp = g->initializer[i];
		const char *name = tp->name ? tp->name : "";
		cbd_tensor *t;
		cbd_status s;
		nn_val *v;

		if (!*name)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "initializer %zu has no name", i);
		s = nn_tensor_from_proto(tp, name, &t, err);
		if (s != CBD_OK)
			return cbd_err_prefix(err, "initializer");
		v = &nn->vals[add_val(nn, gr, name)];
		v->dtype = t->dtype;
		v->ndim = t->ndim;
		memcpy(v->dims, t->dims, sizeof(v->dims));
		v->nbytes = t->nbytes;
		v->data = t->data;      /* take the buffer over */
		t->data = NULL;
		cbd_tensor_free(t);
		v->is_const = true;
		v->defined = true;
	}
	return CBD_OK;
}

static cbd_status io_desc(const Onnx__ValueInfoProto *vi, cbd_nn_io *io,
			  const char *kind, cbd_err *err)
{
	const Onnx__TypeProto *tp = vi->type;
	const Onnx__TensorShapeProto *sh;

	memset(io, 0, sizeof(*io));
	io->name = vi->name ? vi->name : "";
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
	    !tp->tensor_type)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "graph %s %s is not a tensor", kind,
				   io->name);
	io->dtype = nn_dtype_from_onnx(tp->tensor_type->elem_type);
	if (!io->dtype)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "graph %s %s: element type %s", kind,
				   io->name,
				   onnx_type_name(tp->tensor_type->elem_type));
	sh = tp->tensor_type->shape;
	if (!sh) {
		io->ndim = -1;  /* unknown rank */
		return CBD_OK;
	}
	if (sh->n_dim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "graph %s %s: %zu dimensions", kind,
				   io->name, sh->n_dim);
	io->ndim = (int)sh->n_dim;
	for (size_t i = 0; i < sh->n_dim; i++) {
		const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];

		io->dims[i] = -1;
		if (d->value_case ==
		    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
			if (d->dim_value < 0 || d->dim_value > CBD_MAX_ELEMS)
				return cbd_err_set(err, CBD_E_FORMAT,
						   "graph %s %s: bad dimension "
						   "%lld", kind, io->name,
						   (long long)d->dim_value);
			io->dims[i] = d->dim_value;
		}
	}
	return CBD_OK;
}

/* Declared element type of a subgraph input/output (0: not stated). */
static cbd_dtype vi_dtype(const Onnx__ValueInfoProto *vi)
{
	const Onnx__TypeProto *tp = vi->type;

	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
	    !tp->tensor_type)
		return 0;
	return nn_dtype_from_onnx(tp->tensor_type->elem_type);
}

static cbd_status add_inputs(cbd_nn *nn, nn_graph *gr, cbd_err *err)
{
	const Onnx__GraphProto *g = gr->proto;
	bool top = gr->parent == NULL;
	cbd_status s;

	gr->in_idx = cbd_xcalloc(g->n_input + 1, sizeof(int), err);
	if (top)
		nn->in_io = cbd_xcalloc(g->n_input + 1, sizeof(cbd_nn_io), err);
	if (!gr->in_idx || (top && !nn->in_io))
		return CBD_E_NOMEM;
	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__ValueInfoProto *vi = g->input[i];
		const char *name = vi->name ? vi->name : "";
		int k;

		if (top && find_val(nn, gr, name, false) >= 0)
			continue;       /* an initializer: a constant */
		if (top) {
			s = io_desc(vi, &nn->in_io[gr->n_in], "input", err);
			if (s != CBD_OK)
				return s;
		}
		k = add_val(nn, gr, name);
		nn->vals[k].is_input = true;
		nn->vals[k].defined = true;
		gr->in_idx[gr->n_in++] = k;
	}
	return CBD_OK;
}

static cbd_status add_graph(cbd_nn *nn, nn_graph *g, cbd_err *err);

/* The subgraph in attribute attr of node n (If, Loop), built in the scope
 * of graph parent. */
static cbd_status add_sub(cbd_nn *nn, nn_graph *parent, nn_node *n,
			  const char *attr, int k, cbd_err *err)
{
	const Onnx__AttributeProto *a = nn_attr(n, attr);
	nn_graph *g, **l;
	int depth = 0;

	for (nn_graph *p = parent; p; p = p->parent)
		depth++;
	if (!a || !a->g)
		return nn_fail(n, err, CBD_E_FORMAT, "no %s graph", attr);
	if (depth > NN_MAX_DEPTH)
		return nn_fail(n, err, CBD_E_TOOBIG,
			       "subgraphs nested more than %d deep",
			       NN_MAX_DEPTH);
	g = cbd_xcalloc(1, sizeof(*g), err);
	l = g ? realloc(nn->subs, sizeof(*l) * (size_t)(nn->n_subs + 1)) : NULL;
	if (!l) {
		free(g);
		return cbd_err_set(err, CBD_E_NOMEM, "subgraph");
	}
	nn->subs = l;
	nn->subs[nn->n_subs++] = g;
	g->parent = parent;
	g->proto = a->g;
	g->owner = n;
	n->sub[k] = g;
	return add_graph(nn, g, err);
}

static cbd_status bind_inputs(cbd_nn *nn, nn_graph *g, nn_node *n,
			      const Onnx__NodeProto *np, cbd_err *err)
{
	for (int i = 0; i < n->n_in; i++) {
		const char *nm = np->input[i];

		n->in[i] = -1;
		if (!nm || !*nm)
			continue;       /* optional input left out */
		n->in[i] = find_val(nn, g, nm, true);
		if (n->in[i] < 0 || !nn->vals[n->in[i]].defined)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "missing input or initializer %s", nm);
	}
	return CBD_OK;
}

static cbd_status bind_node(cbd_nn *nn, nn_graph *g, nn_node *n,
			    const Onnx__NodeProto *np, cbd_err *err)
{
	cbd_status s = CBD_OK;

	if (np->n_input > NN_MAX_IO || np->n_output > NN_MAX_IO ||
	    np->n_output == 0)
		return nn_fail(n, err, np->n_output ? CBD_E_UNSUPPORTED
						    : CBD_E_FORMAT,
			       "%zu inputs, %zu outputs", np->n_input,
			       np->n_output);
	n->n_in = (int)np->n_input;
	n->n_out = (int)np->n_output;
	s = bind_inputs(nn, g, n, np, err);
	if (s == CBD_OK && n->op == CBD_OP_IF)
		s = add_sub(nn, g, n, "then_branch", 0, err);
	if (s == CBD_OK && n->op == CBD_OP_IF)
		s = add_sub(nn, g, n, "else_branch", 1, err);
	if (s == CBD_OK && n->op == CBD_OP_LOOP)
		s = add_sub(nn, g, n, "body", 0, err);
	for (int i = 0; s == CBD_OK && i < n->n_out; i++) {
		const char *nm = np->output[i];
		int k;

		n->out[i] = -1;
		if (!nm || !*nm)
			continue;
		k = find_val(nn, g, nm, false);
		if (k >= 0 && nn->vals[k].defined)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "value %s is defined twice", nm);
		k = add_val(nn, g, nm);
		nn->vals[k].defined = true;
		n->out[i] = k;
	}
	return s;
}

static cbd_status add_nodes(cbd_nn *nn, nn_graph *gr, cbd_err *err)
{
	const Onnx__GraphProto *g = gr->proto;

	gr->nodes = cbd_xcalloc(g->n_node + 1, sizeof(nn_node), err);
	if (!gr->nodes)
		return CBD_E_NOMEM;
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *np = g->node[i];
		nn_node *n = &gr->nodes[gr->n_nodes++];
		cbd_status s;

		n->proto = np;
		n->nn = nn;
		n->graph = gr;
		n->name = np->name && *np->name ? np->name
			: (np->n_output && np->output[0] ? np->output[0] : "?");
		n->op = nn_op_lookup(np->op_type ? np->op_type : "",
				     np->domain);
		if (n->op == CBD_OP_COUNT)
			return cbd_err_set(err, CBD_E_UNSUPPORTED,
					   "unsupported op %s%s%s (node %s)",
					   np->domain && *np->domain
						   ? np->domain : "",
					   np->domain && *np->domain ? "." : "",
					   np->op_type ? np->op_type : "?",
					   n->name);
		s = bind_node(nn, gr, n, np, err);
		if (s == CBD_OK)
			s = nn_op_check_arity(n, err);
		if (s == CBD_OK)
			s = nn_control_check(nn, n, err);
		if (s != CBD_OK)
			return s;
	}
	return CBD_OK;
}

static cbd_status add_outputs(cbd_nn *nn, nn_graph *gr, cbd_err *err)
{
	const Onnx__GraphProto *g = gr->proto;
	bool top = gr->parent == NULL;
	cbd_status s;

	if (g->n_output == 0)
		return cbd_err_set(err, CBD_E_FORMAT, "graph has no outputs");
	gr->out_idx = cbd_xcalloc(g->n_output, sizeof(int), err);
	gr->out_dtype = cbd_xcalloc(g->n_output, sizeof(cbd_dtype), err);
	if (top)
		nn->out_io = cbd_xcalloc(g->n_output, sizeof(cbd_nn_io), err);
	if (!gr->out_idx || !gr->out_dtype || (top && !nn->out_io))
		return CBD_E_NOMEM;
	for (size_t i = 0; i < g->n_output; i++) {
		const Onnx__ValueInfoProto *vi = g->output[i];
		const char *name = vi->name ? vi->name : "";
		int k = find_val(nn, gr, name, true);

		if (k < 0 || !nn->vals[k].defined)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "graph output %s is never computed",
					   name);
		if (top) {
			s = io_desc(vi, &nn->out_io[gr->n_out], "output", err);
			if (s != CBD_OK)
				return s;
		}
		gr->out_dtype[gr->n_out] = vi_dtype(vi);
		nn->vals[k].is_output = true;
		gr->out_idx[gr->n_out++] = k;
	}
	return CBD_OK;
}

static cbd_status add_graph(cbd_nn *nn, nn_graph *g, cbd_err *err)
{
	cbd_status s = add_initializers(nn, g, err);

	if (s == CBD_OK)
		s = add_inputs(nn, g, err);
	if (s == CBD_OK)
		s = add_nodes(nn, g, err);
	if (s == CBD_OK)
		s = add_outputs(nn, g, err);
	return s;
}

static cbd_status read_opset(cbd_nn *nn, cbd_err *err)
{
	const Onnx__ModelProto *m = nn->model;

	nn->opset = -1;
	for (size_t i = 0; i < m->n_opset_import; i++) {
		const Onnx__OperatorSetIdProto *o = m->opset_import[i];

		if (!o->domain || !*o->domain ||
		    strcmp(o->domain, "ai.onnx") == 0)
			nn->opset = (int)o->version;
	}
	if (nn->opset < 0)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "model imports no default-domain opset");
	if (nn->opset < 1 || nn->opset > CBD_NN_OPSET_MAX)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "opset %d (supported: %d to %d)", nn->opset,
				   CBD_NN_OPSET_MIN, CBD_NN_OPSET_MAX);
	return CBD_OK;
}

static cbd_status check_graph_ops(const cbd_nn *nn, const Onnx__GraphProto *g,
				  int depth, cbd_err *err);

/* Refuse unknown ops (and ops too old for our semantics) before anything
 * else, so the message names the op; subgraphs too. */
static cbd_status check_node_op(const cbd_nn *nn, const Onnx__NodeProto *np,
				int depth, cbd_err *err)
{
	const char *t = np->op_type ? np->op_type : "?";
	const char *nm = np->name && *np->name ? np->name
		: (np->n_output && np->output[0] ? np->output[0] : "?");
	cbd_op op = nn_op_lookup(t, np->domain);
	cbd_status s = CBD_OK;

	if (op == CBD_OP_COUNT)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "unsupported op %s%s%s (node %s)",
				   np->domain && *np->domain ? np->domain : "",
				   np->domain && *np->domain ? "." : "", t, nm);
	if (nn->opset < nn_op_min_opset(op))
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "%s at opset %d (node %s; supported: "
				   "opsets %d to %d)", t, nn->opset, nm,
				   nn_op_min_opset(op) > CBD_NN_OPSET_MIN
					   ? nn_op_min_opset(op)
					   : CBD_NN_OPSET_MIN,
				   CBD_NN_OPSET_MAX);
	for (size_t i = 0; s == CBD_OK && i < np->n_attribute; i++)
		if (np->attribute[i]->g)
			s = check_graph_ops(nn, np->attribute[i]->g, depth + 1,
					    err);
	return s;
}

static cbd_status check_graph_ops(const cbd_nn *nn, const Onnx__GraphProto *g,
				  int depth, cbd_err *err)
{
	cbd_status s = CBD_OK;

	if (depth > NN_MAX_DEPTH)
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "subgraphs nested more than %d deep",
				   NN_MAX_DEPTH);
	for (size_t i = 0; s == CBD_OK && i < g->n_node; i++)
		s = check_node_op(nn, g->node[i], depth, err);
	return s;
}

/* Value slots a graph and its subgraphs can need; false past the cap. */
static bool count_slots(const Onnx__GraphProto *g, size_t *n, size_t *nodes)
{
	*n += g->n_initializer + g->n_input + g->n_output + 2 * g->n_node + 1;
	*nodes += g->n_node;
	if (*nodes > NN_MAX_NODES || *n > NN_MAX_VALUES)
		return false;
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *np = g->node[i];

		*n += np->n_output;
		for (size_t j = 0; j < np->n_attribute; j++)
			if (np->attribute[j]->g &&
			    !count_slots(np->attribute[j]->g, n, nodes))
				return false;
	}
	return *n <= NN_MAX_VALUES;
}

static cbd_status alloc_slots(cbd_nn *nn, cbd_err *err)
{
	size_t n = 0, nodes = 0;

	if (!count_slots(nn->model->graph, &n, &nodes))
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "more than %d nodes or %d values",
				   NN_MAX_NODES, NN_MAX_VALUES);
	nn->vals = cbd_xcalloc(n, sizeof(nn_val), err);
	return nn->vals ? CBD_OK : CBD_E_NOMEM;
}

cbd_status nn_onnx_build(cbd_nn *nn, const uint8_t *buf, size_t len,
			 cbd_err *err)
{
	cbd_status s;

	nn->model = onnx__model_proto__unpack(NULL, len, buf);
	if (!nn->model)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "not a valid ONNX protobuf (truncated or "
				   "corrupt)");
	if (!nn->model->graph)
		return cbd_err_set(err, CBD_E_FORMAT, "model has no graph");
	nn->main.proto = nn->model->graph;
	s = read_opset(nn, err);
	if (s == CBD_OK)
		s = check_graph_ops(nn, nn->model->graph, 0, err);
	if (s == CBD_OK)
		s = alloc_slots(nn, err);
	if (s == CBD_OK)
		s = add_graph(nn, &nn->main, err);
	return s;
}
