/*
 * control.c — the control-flow operators If and Loop.
 *
 * Their subgraphs (nn_graph, built by onnx.c in the scope of the graph
 * around them) share the model's value slots: a body node reading an
 * outer value or constant reads its slot directly, so nothing is copied
 * per iteration, and such values are "captured" (kept until the run ends).
 *
 * If runs the branch its bool condition picks and hands the branch's
 * outputs to the node's outputs: a buffer the branch computed is moved,
 * anything else (an outer value, a constant) copied.  At load both
 * branches must give as many outputs as the node has, of the same
 * declared types; at run time each output is checked against the type
 * its branch declares.
 *
 * Loop (inputs M, cond, v_initial...; body inputs iter_num, cond,
 * carried...; body outputs cond, carried..., scan...): each iteration
 * charges NN_LOOP_ITER_WORK to the run's compute budget (nn_charge)
 * before it runs, so the budget (CBD_MAX_GMAC) bounds the trip count even
 * for an empty body; carried values go from the body's outputs back to
 * its inputs through temporaries (so a body may swap them), and scan
 * outputs are stacked along a new first axis.
 */
#include "nn_internal.h"

#include <string.h>

/* Declared type of output i of g, or 0. */
static cbd_dtype out_type(const nn_graph *g, int i)
{
	return g->out_dtype ? g->out_dtype[i] : 0;
}

cbd_status nn_control_check(cbd_nn *nn, const nn_node *n, cbd_err *err)
{
	const nn_graph *t = n->sub[0], *e = n->sub[1];

	(void)nn;
	if (n->op == CBD_OP_LOOP) {
		int carried = n->n_in - 2;

		if (n->n_in < 2)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "needs inputs M and cond (may be empty)");
		if (t->n_in != 2 + carried || t->n_out < 1 + carried ||
		    n->n_out != t->n_out - 1)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "body has %d inputs and %d outputs for "
				       "%d loop-carried values and %d node "
				       "outputs", t->n_in, t->n_out, carried,
				       n->n_out);
		return CBD_OK;
	}
	if (n->op != CBD_OP_IF)
		return CBD_OK;
	if (t->n_out != n->n_out || e->n_out != n->n_out)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "then_branch gives %d outputs, else_branch %d, "
			       "the node has %d", t->n_out, e->n_out, n->n_out);
	for (int i = 0; i < n->n_out; i++)
		if (out_type(t, i) && out_type(e, i) &&
		    out_type(t, i) != out_type(e, i))
			return nn_fail(n, err, CBD_E_FORMAT,
				       "branches disagree on output %d: %s in "
				       "then_branch, %s in else_branch", i,
				       cbd_dtype_name(out_type(t, i)),
				       cbd_dtype_name(out_type(e, i)));
	return CBD_OK;
}

/* Move or copy src into dst (a slot of another graph, or a temporary). */
static cbd_status take(cbd_nn *nn, const nn_node *n, const nn_graph *g,
		       nn_val *src, nn_val *dst, cbd_err *err)
{
	cbd_status s = nn_val_plain(nn, n, src, err);

	if (s != CBD_OK)
		return s;
	if (!src->data)
		return nn_fail(n, err, CBD_E_INTERNAL, "%s not computed",
			       src->name);
	if (src->graph == g && !src->is_const && !src->captured &&
	    !src->is_input) {
		nn_val_drop(nn, dst);
		dst->data = src->data;
		dst->cap = src->cap;
		dst->nbytes = src->nbytes;
		dst->dtype = src->dtype;
		dst->ndim = src->ndim;
		memcpy(dst->dims, src->dims, sizeof(dst->dims));
		src->data = NULL;
		src->nbytes = src->cap = 0;
		return CBD_OK;
	}
	s = nn_val_alloc(n, dst, src->dtype, src->ndim, src->dims, err);
	if (s == CBD_OK && dst->nbytes)
		memcpy(dst->data, src->data, dst->nbytes);
	return s;
}

static cbd_status bool_scalar(const nn_node *n, const nn_val *v,
			      const char *what, bool *out, cbd_err *err)
{
	if (!v->data || v->dtype != CBD_DT_BOOL || nn_val_nelem(v) != 1)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "%s must be one bool, not %s", what,
			       cbd_dtype_name(v->dtype));
	*out = *(const uint8_t *)v->data != 0;
	return CBD_OK;
}

/* The result of graph output i must be of its declared type. */
static cbd_status check_type(const nn_node *n, const nn_graph *g, int i,
			     const nn_val *v, cbd_err *err)
{
	cbd_dtype want = out_type(g, i);

	if (want && v->dtype != want)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "subgraph output %d (%s) is %s, declared %s", i,
			       v->name, cbd_dtype_name(v->dtype),
			       cbd_dtype_name(want));
	return CBD_OK;
}

cbd_status nn_op_if(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	bool c;
	nn_graph *g;
	cbd_status s = bool_scalar(n, nn_in(nn, n, 0), "the condition", &c,
				   err);

	if (s != CBD_OK)
		return s;
	g = n->sub[c ? 0 : 1];
	s = nn_graph_run(nn, g, err);
	for (int i = 0; s == CBD_OK && i < n->n_out; i++) {
		nn_val *src = &nn->vals[g->out_idx[i]], *dst = nn_out(nn, n, i);

		s = check_type(n, g, i, src, err);
		if (s == CBD_OK && dst)
			s = take(nn, n, g, src, dst, err);
	}
	return s;
}

/* ------------------------------- Loop -------------------------------- */

typedef struct scan_buf {
	uint8_t *data;
	size_t len, cap;
	cbd_dtype dtype;
	int ndim;
	int64_t dims[CBD_MAX_DIMS];   /* of one iteration */
} scan_buf;

static cbd_status scan_add(const nn_node *n, scan_buf *b, const nn_val *v,
			   int64_t it, cbd_err *err)
{
	if (it == 0) {
		b->dtype = v->dtype;
		b->ndim = v->ndim;
		memcpy(b->dims, v->dims, sizeof(b->dims));
	} else if (v->dtype != b->dtype || v->ndim != b->ndim ||
		   memcmp(v->dims, b->dims, sizeof(int64_t) * (size_t)v->ndim))
		return nn_fail(n, err, CBD_E_SHAPE,
			       "scan output %s changes type or shape in "
			       "iteration %lld", v->name, (long long)it);
	if (b->ndim >= CBD_MAX_DIMS ||
	    b->len + v->nbytes > (size_t)CBD_MAX_ELEMS * 8)
		return nn_fail(n, err, CBD_E_TOOBIG, "scan output %s", v->name);
	if (b->len + v->nbytes > b->cap) {
		size_t cap = 2 * (b->len + v->nbytes) + 64;
		uint8_t *p = realloc(b->data, cap);

		if (!p)
			return nn_fail(n, err, CBD_E_NOMEM, "scan output");
		b->data = p;
		b->cap = cap;
	}
	if (v->nbytes)
		memcpy(b->data + b->len, v->data, v->nbytes);
	b->len += v->nbytes;
	return CBD_OK;
}

static cbd_status scan_out(const nn_node *n, scan_buf *b, int64_t iters,
			   nn_val *y, cbd_err *err)
{
	int64_t d[CBD_MAX_DIMS];
	cbd_status s;

	if (iters == 0)
		b->dtype = b->dtype ? b->dtype : CBD_DT_FLOAT32;
	d[0] = iters;
	memcpy(d + 1, b->dims, sizeof(int64_t) * (size_t)b->ndim);
	s = nn_val_alloc(n, y, b->dtype, iters ? b->ndim + 1 : 1, d, err);
	if (s == CBD_OK && b->len)
		memcpy(y->data, b->data, b->len);
	return s;
}

static cbd_status set_scalar(const nn_node *n, nn_val *v, cbd_dtype dt,
			     int64_t x, cbd_err *err)
{
	cbd_status s = nn_val_alloc(n, v, dt, 0, NULL, err);

	if (s == CBD_OK && dt == CBD_DT_INT64)
		*(int64_t *)v->data = x;
	else if (s == CBD_OK)
		*(uint8_t *)v->data = x != 0;
	return s;
}

/* Trip count and initial condition from inputs M and cond. */
static cbd_status loop_limits(cbd_nn *nn, const nn_node *n, int64_t *max,
			      bool *cond, cbd_err *err)
{
	const nn_val *m = nn_in(nn, n, 0), *c = nn_in(nn, n, 1);

	*max = INT64_MAX;
	*cond = true;
	if (m && (!nn_is_int(m->dtype) || nn_val_nelem(m) != 1))
		return nn_fail(n, err, CBD_E_FORMAT,
			       "trip count M must be one integer");
	if (m)
		*max = nn_get_i64(m, 0);
	return c ? bool_scalar(n, c, "cond", cond, err) : CBD_OK;
}

/* One iteration's bookkeeping after the body ran: condition, carried
 * values back into the body's inputs, scan outputs appended. */
static cbd_status loop_next(cbd_nn *nn, nn_node *n, nn_graph *b,
			    scan_buf *scans, int64_t it, bool *cond,
			    cbd_err *err)
{
	int carried = n->n_in - 2;
	nn_val tmp[NN_MAX_IO];
	cbd_status s = bool_scalar(n, &nn->vals[b->out_idx[0]],
				   "the body's condition", cond, err);

	memset(tmp, 0, sizeof(tmp));
	for (int k = 0; s == CBD_OK && k < carried; k++) {
		tmp[k].name = nn->vals[b->out_idx[1 + k]].name;
		s = check_type(n, b, 1 + k, &nn->vals[b->out_idx[1 + k]], err);
		if (s == CBD_OK)
			s = take(nn, n, b, &nn->vals[b->out_idx[1 + k]],
				 &tmp[k], err);
	}
	for (int k = 0; k < carried; k++) {
		nn_val *in = &nn->vals[b->in_idx[2 + k]];

		if (s == CBD_OK)
			s = take(nn, n, NULL, &tmp[k], in, err);
		nn_val_drop(nn, &tmp[k]);
	}
	for (int j = 1 + carried; s == CBD_OK && j < b->n_out; j++)
		s = scan_add(n, &scans[j - 1 - carried],
			     &nn->vals[b->out_idx[j]], it, err);
	return s;
}

static cbd_status loop_run(cbd_nn *nn, nn_node *n, scan_buf *scans,
			   int64_t *iters, cbd_err *err)
{
	nn_graph *b = n->sub[0];
	int carried = n->n_in - 2;
	int64_t max, it;
	bool cond;
	cbd_status s = loop_limits(nn, n, &max, &cond, err);

	for (int k = 0; s == CBD_OK && k < carried; k++)
		s = take(nn, n, NULL, nn_in(nn, n, 2 + k),
			 &nn->vals[b->in_idx[2 + k]], err);
	for (it = 0; s == CBD_OK && it < max && cond; it++) {
		s = nn_charge(n, NN_LOOP_ITER_WORK, err);
		if (s == CBD_OK)
			s = set_scalar(n, &nn->vals[b->in_idx[0]], CBD_DT_INT64,
				       it, err);
		if (s == CBD_OK)
			s = set_scalar(n, &nn->vals[b->in_idx[1]], CBD_DT_BOOL,
				       cond, err);
		if (s == CBD_OK)
			s = nn_graph_run(nn, b, err);
		if (s == CBD_OK)
			s = loop_next(nn, n, b, scans, it, &cond, err);
	}
	*iters = it;
	return s;
}

cbd_status nn_op_loop(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_graph *b = n->sub[0];
	int carried = n->n_in - 2, ns = b->n_out - 1 - carried;
	scan_buf scans[NN_MAX_IO];
	int64_t iters = 0;
	cbd_status s;

	memset(scans, 0, sizeof(scans));
	s = loop_run(nn, n, scans, &iters, err);
	for (int k = 0; s == CBD_OK && k < carried; k++)
		if (nn_out(nn, n, k))
			s = take(nn, n, NULL, &nn->vals[b->in_idx[2 + k]],
				 nn_out(nn, n, k), err);
	for (int j = 0; s == CBD_OK && j < ns; j++)
		if (nn_out(nn, n, carried + j))
			s = scan_out(n, &scans[j], iters,
				     nn_out(nn, n, carried + j), err);
	for (int j = 0; j < ns; j++)
		free(scans[j].data);
	return s;
}
