/*
 * graph.c — the public cbd_nn_* API: load, plan (fusions, lifetimes), run.
 *
 * Planning happens once at load:
 *   0. Constant nodes are evaluated and become constants;
 *   1. Conv followed only by BatchNormalization with constant parameters:
 *      the normalisation is folded into new constant weights and bias
 *      (w' = w*s/sqrt(v+eps), b' = (b-m)*s/sqrt(v+eps) + beta) and the BN
 *      node is skipped;
 *   2. Conv followed only by Relu, or by Clip with constant bounds
 *      (ReLU6), or read only by Sigmoid and by a Mul of it with the
 *      Sigmoid (SiLU, x * sigmoid(x): EfficientNet): the activation
 *      becomes a oneDNN eltwise post-op of the convolution (relu, clip_v2,
 *      swish) and its nodes are skipped;
 *   3. the last consumer of every value is recorded so cbd_nn_run can free
 *      intermediate buffers as soon as they are dead.
 * Running copies the caller's inputs into their slots, checks them against
 * the declared dtype and static dims, runs the nodes in order through the
 * op table (within the run's compute budget, nn_charge), copies the outputs
 * into new tensors and frees the rest.  A model exported with a fixed
 * batch of 1 (every input's first dimension declared 1) given a batch of
 * N runs it one sample at a time and stacks the outputs, so every tool
 * (cbd-run, cbd-sign triggers, cbd-serve) takes batches of it.
 */
#include "nn_internal.h"
#include <errno.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

size_t nn_val_nelem(const nn_val *v)
{
	size_t n = 1;

	for (int i = 0; i < v->ndim; i++)
		n *= (size_t)v->dims[i];
	return n;
}

nn_val *nn_in(cbd_nn *nn, const nn_node *n, int i)
{
	if (i >= n->n_in || n->in[i] < 0)
		return NULL;
	return &nn->vals[n->in[i]];
}

nn_val *nn_out(cbd_nn *nn, const nn_node *n, int i)
{
	if (i >= n->n_out || n->out[i] < 0)
		return NULL;
	return &nn->vals[n->out[i]];
}

int nn_val_ints(const nn_val *v, int64_t *out, int max)
{
	size_t n = nn_val_nelem(v);

	if (n > (size_t)max || !v->data || !nn_is_int(v->dtype))
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = nn_get_i64(v, i);
	return (int)n;
}

void *nn_pool_get(cbd_nn *nn, size_t nb, size_t *cap)
{
	int best = -1;
	void *p;

	for (int i = 0; i < nn->pool_n; i++)
		if (nn->pool_cap[i] >= nb && nn->pool_cap[i] / 2 <= nb + 4096 &&
		    (best < 0 || nn->pool_cap[i] < nn->pool_cap[best]))
			best = i;
	if (best >= 0) {
		p = nn->pool[best];
		*cap = nn->pool_cap[best];
		nn->pool_n--;
		nn->pool[best] = nn->pool[nn->pool_n];
		nn->pool_cap[best] = nn->pool_cap[nn->pool_n];
		return p;
	}
	*cap = (nb + 63) / 64 * 64 + 64;
	return aligned_alloc(64, *cap);
}

void nn_pool_put(cbd_nn *nn, void *buf, size_t cap)
{
	if (!buf)
		return;
	if (nn->pool_n == nn->pool_max) {
		int m = nn->pool_max ? 2 * nn->pool_max : 16;
		void **p = realloc(nn->pool, sizeof(void *) * (size_t)m);
		size_t *c;

		if (p)
			nn->pool = p;
		c = p ? realloc(nn->pool_cap, sizeof(size_t) * (size_t)m) : NULL;
		if (c)
			nn->pool_cap = c;
		if (!p || !c) {
			free(buf);
			return;
		}
		nn->pool_max = m;
	}
	nn->pool[nn->pool_n] = buf;
	nn->pool_cap[nn->pool_n++] = cap;
}

void nn_val_drop(cbd_nn *nn, nn_val *v)
{
	nn_val_layout_clear(v);
	nn_pool_put(nn, v->data, v->cap);
	v->data = NULL;
	v->nbytes = v->cap = 0;
}

cbd_status nn_charge(const nn_node *n, uint64_t work, cbd_err *err)
{
	cbd_nn *nn = n->nn;

	if (work > nn->work_max - nn->work_used)
		return nn_fail(n, err, CBD_E_TOOBIG,
			       "the run would exceed the compute limit of "
			       "%llu multiply-adds (CBD_MAX_GMAC raises it)",
			       (unsigned long long)nn->work_max);
	nn->work_used += work;
	return CBD_OK;
}

cbd_status nn_val_alloc(const nn_node *n, nn_val *v, cbd_dtype dt, int ndim,
			const int64_t *dims, cbd_err *err)
{
	size_t ne = 1, nb;

	if (ndim < 0 || ndim > CBD_MAX_DIMS)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "output %s would have %d dimensions", v->name,
			       ndim);
	for (int i = 0; i < ndim; i++) {
		if (dims[i] < 0 || dims[i] > CBD_MAX_ELEMS ||
		    !cbd_mul_size(ne, (size_t)dims[i], &ne) ||
		    ne > (size_t)CBD_MAX_ELEMS)
			return nn_fail(n, err, CBD_E_TOOBIG,
				       "output %s: absurd dimensions", v->name);
	}
	/* every kernel writes each output element at least once */
	if (nn_charge(n, ne, err) != CBD_OK)
		return CBD_E_TOOBIG;
	nb = ne * cbd_dtype_size(dt);
	nn_val_layout_clear(v);
	if (v->is_const)
		return nn_fail(n, err, CBD_E_INTERNAL,
			       "writes constant %s", v->name);
	if (!v->data || v->cap < nb) {
		size_t cap;
		void *p = nn_pool_get(n->nn, nb, &cap);

		if (!p)
			return nn_fail(n, err, CBD_E_NOMEM, "output %s: %zu bytes",
				       v->name, nb);
		nn_val_drop(n->nn, v);
		v->data = p;
		v->cap = cap;
	}
	v->nbytes = nb;
	v->dtype = dt;
	v->ndim = ndim;
	memset(v->dims, 0, sizeof(v->dims));
	for (int i = 0; i < ndim; i++)
		v->dims[i] = dims[i];
	return CBD_OK;
}

/* Number of non-skipped nodes reading value k. */
static int consumers(const cbd_nn *nn, int k, int *only)
{
	int c = 0;

	for (int i = 0; i < nn->main.n_nodes; i++) {
		const nn_node *n = &nn->main.nodes[i];

		if (n->skip)
			continue;
		for (int j = 0; j < n->n_in; j++)
			if (n->in[j] == k) {
				c++;
				*only = i;
			}
	}
	return c;
}

static bool const_float(const cbd_nn *nn, int k, size_t count)
{
	return k >= 0 && nn->vals[k].is_const &&
	       nn->vals[k].dtype == CBD_DT_FLOAT32 &&
	       nn_val_nelem(&nn->vals[k]) == count;
}

static int new_const(cbd_nn *nn, const char *name, const int64_t *dims,
		     int ndim, float *data)
{
	nn_val *v = &nn->vals[nn->n_vals];

	memset(v, 0, sizeof(*v));
	v->name = name;
	v->graph = &nn->main;
	v->dtype = CBD_DT_FLOAT32;
	v->ndim = ndim;
	memcpy(v->dims, dims, sizeof(int64_t) * (size_t)ndim);
	v->data = data;
	v->nbytes = nn_val_nelem(v) * sizeof(float);
	v->is_const = v->defined = true;
	v->last_use = -1;
	return nn->n_vals++;
}

/* Fold BN node b into conv node c (both checked by the caller). */
static bool fold_bn(cbd_nn *nn, nn_node *c, nn_node *b)
{
	const nn_val *w = &nn->vals[c->in[0 + 1]];
	int64_t m = w->dims[0];
	size_t per = nn_val_nelem(w) / (size_t)(m ? m : 1);
	float eps = nn_attr_float(b, "epsilon", 1e-5f);
	const float *sc, *bb, *mu, *var, *cb = NULL;
	float *nw, *nb;

	for (int i = 1; i <= 4; i++)
		if (!const_float(nn, b->in[i], (size_t)m))
			return false;
	if (b->n_out != 1 || nn_attr_int(b, "training_mode", 0) ||
	    nn_attr_int(b, "spatial", 1) != 1)
		return false;
	if (c->n_in > 2 && c->in[2] >= 0) {
		if (!const_float(nn, c->in[2], (size_t)m))
			return false;
		cb = nn->vals[c->in[2]].data;
	}
	sc = nn->vals[b->in[1]].data;
	bb = nn->vals[b->in[2]].data;
	mu = nn->vals[b->in[3]].data;
	var = nn->vals[b->in[4]].data;
	nw = malloc(nn_val_nelem(w) * sizeof(float) + 1);
	nb = malloc((size_t)m * sizeof(float) + 1);
	if (!nw || !nb) {
		free(nw);
		free(nb);
		return false;
	}
	for (int64_t o = 0; o < m; o++) {
		float f = sc[o] / sqrtf(var[o] + eps);

		for (size_t j = 0; j < per; j++)
			nw[(size_t)o * per + j] =
				((const float *)w->data)[(size_t)o * per + j] * f;
		nb[o] = ((cb ? cb[o] : 0.0f) - mu[o]) * f + bb[o];
	}
	c->in[1] = new_const(nn, w->name, w->dims, w->ndim, nw);
	c->in[2] = new_const(nn, nn->vals[b->in[2]].name, &m, 1, nb);
	c->n_in = 3;
	c->out[0] = b->out[0];
	b->skip = true;
	return true;
}

/* Clip with constant bounds (attributes before opset 11, else constant
 * scalar inputs or none). */
static bool clip_bounds(const cbd_nn *nn, const nn_node *n, float *lo,
			float *hi)
{
	*lo = nn_attr_float(n, "min", -FLT_MAX);
	*hi = nn_attr_float(n, "max", FLT_MAX);
	if (nn->opset < 11)
		return true;
	*lo = -INFINITY;
	*hi = INFINITY;
	for (int i = 1; i < n->n_in && i < 3; i++) {
		if (n->in[i] < 0)
			continue;
		if (!const_float(nn, n->in[i], 1))
			return false;
		*(i == 1 ? lo : hi) = *(const float *)nn->vals[n->in[i]].data;
	}
	return true;
}

/* Evaluate Constant nodes once: their outputs become constants, so the
 * fusions below can see e.g. Clip bounds given by Constant nodes. */
static void fold_constants(cbd_nn *nn, nn_graph *g)
{
	for (int i = 0; i < g->n_nodes; i++) {
		nn_node *n = &g->nodes[i];
		cbd_err e = {0};
		nn_val *v = nn_out(nn, n, 0);

		if (n->op != CBD_OP_CONSTANT || !v || n->n_out != 1 ||
		    v->is_output || nn_op_run(nn, n, &e) != CBD_OK)
			continue;
		v->is_const = true;
		n->skip = true;
	}
}

/* Last reader of every value within its own graph; values read from
 * another graph (outer-scope references) are captured: they live until
 * the run ends. */
static void lifetimes(cbd_nn *nn, nn_graph *g)
{
	for (int i = 0; i < g->n_nodes; i++) {
		const nn_node *n = &g->nodes[i];

		if (n->skip)
			continue;
		for (int j = 0; j < n->n_in; j++) {
			nn_val *v = n->in[j] >= 0 ? &nn->vals[n->in[j]] : NULL;

			if (v && v->graph == g)
				v->last_use = i;
			else if (v)
				v->captured = true;
		}
	}
	for (int j = 0; j < g->n_out; j++)
		if (nn->vals[g->out_idx[j]].graph != g)
			nn->vals[g->out_idx[j]].captured = true;
}

/* The one node reading value v (neither a graph output nor read by a
 * subgraph), else NULL. */
static nn_node *sole_reader(cbd_nn *nn, int v)
{
	int only = -1;

	if (v < 0 || nn->vals[v].is_output || nn->vals[v].captured ||
	    consumers(nn, v, &only) != 1)
		return NULL;
	return &nn->main.nodes[only];
}

/* Binary node b of type op reading v and a rank-0 float32 constant
 * equal to want (relative 1e-6: torch writes sqrt 2 as 1.4142135381698608);
 * with want == 0, reading v and the value other instead. */
/* Conv c's output v read by exactly two nodes, s = Sigmoid(v) and
 * m = Mul(v, s) (either order), s read by m alone: m's output becomes c's,
 * computed by a swish post-op (alpha 1: x * sigmoid(x)). */
static bool fuse_silu(cbd_nn *nn, nn_node *c)
{
	int v = c->out[0], only = -1, k;
	nn_node *s = NULL, *m;

	if (nn->vals[v].is_output || nn->vals[v].captured ||
	    consumers(nn, v, &only) != 2)
		return false;
	for (int i = 0; i < nn->main.n_nodes && !s; i++) {
		nn_node *n = &nn->main.nodes[i];

		if (!n->skip && n->op == CBD_OP_SIGMOID && n->n_in == 1 &&
		    n->in[0] == v && n->n_out == 1)
			s = n;
	}
	if (!s)
		return false;
	m = sole_reader(nn, s->out[0]);
	if (!m || m->op != CBD_OP_MUL || m->n_in != 2 || m->n_out != 1)
		return false;
	k = m->in[0] == s->out[0] ? m->in[1] : m->in[0];
	if (k != v || m->in[0] == m->in[1])
		return false;
	c->post = NN_POST_SWISH;
	c->out[0] = m->out[0];
	s->skip = m->skip = true;
	return true;
}

/* Conv + BatchNormalization folding and activation fusion (main graph,
 * values no subgraph reads). */
static void fuse(cbd_nn *nn)
{
	for (int i = 0; i < nn->main.n_nodes; i++) {
		nn_node *c = &nn->main.nodes[i], *nx;
		int only = -1, v = c->out[0];

		if (c->op != CBD_OP_CONV || c->n_out != 1 || v < 0 ||
		    nn->vals[v].is_output || nn->vals[v].captured ||
		    c->in[1] < 0 || !nn->vals[c->in[1]].is_const)
			continue;
		if (consumers(nn, v, &only) == 1 &&
		    nn->main.nodes[only].op == CBD_OP_BATCHNORM &&
		    nn->main.nodes[only].in[0] == v)
			fold_bn(nn, c, &nn->main.nodes[only]);
		v = c->out[0];
		if (fuse_silu(nn, c))
			continue;
		if (nn->vals[v].is_output || nn->vals[v].captured ||
		    consumers(nn, v, &only) != 1)
			continue;
		nx = &nn->main.nodes[only];
		if (nx->in[0] != v || nx->n_out != 1)
			continue;
		if (nx->op == CBD_OP_RELU)
			c->post = NN_POST_RELU;
		else if (nx->op == CBD_OP_CLIP &&
			 clip_bounds(nn, nx, &c->post_lo, &c->post_hi))
			c->post = NN_POST_CLIP;
		else
			continue;
		c->out[0] = nx->out[0];
		nx->skip = true;
	}
}

static bool binary_with(const cbd_nn *nn, const nn_node *b, cbd_op op,
			int v, float want, int other)
{
	int k;

	if (!b || b->op != op || b->n_in != 2 || b->n_out != 1)
		return false;
	if (op != CBD_OP_DIV && b->in[1] == v)
		k = b->in[0];
	else if (b->in[0] == v)
		k = b->in[1];
	else
		return false;
	if (want == 0)
		return k == other && k != v;
	return const_float(nn, k, 1) && nn->vals[k].ndim == 0 &&
	       fabsf(*(const float *)nn->vals[k].data - want) <=
		       1e-6f * want;
}

/* The erf GELU as torch exports it, five nodes of elementwise passes,
 *   Div(x, sqrt 2) -> Erf -> Add(., 1) -> Mul(x, .) -> Mul(., 0.5),
 * becomes one Gelu node on x (oneDNN's gelu_erf eltwise): ConvNeXt, Swin
 * and ViT run one per block.  The intermediate values must have no other
 * reader. */
static void fuse_gelu(cbd_nn *nn)
{
	for (int i = 0; i < nn->main.n_nodes; i++) {
		nn_node *d = &nn->main.nodes[i], *e, *a, *m1, *m2;
		int x = d->in[0];

		if (d->skip || !binary_with(nn, d, CBD_OP_DIV, x,
					    1.41421356f, -1))
			continue;
		e = sole_reader(nn, d->out[0]);
		if (!e || e->op != CBD_OP_ERF || e->n_out != 1)
			continue;
		a = sole_reader(nn, e->out[0]);
		if (!binary_with(nn, a, CBD_OP_ADD, e->out[0], 1.0f, -1))
			continue;
		m1 = sole_reader(nn, a->out[0]);
		if (!binary_with(nn, m1, CBD_OP_MUL, a->out[0], 0, x))
			continue;
		m2 = sole_reader(nn, m1->out[0]);
		if (!binary_with(nn, m2, CBD_OP_MUL, m1->out[0], 0.5f, -1))
			continue;
		d->skip = e->skip = a->skip = m1->skip = true;
		m2->op = CBD_OP_GELU;   /* its proto (a Mul's) has no attributes */
		m2->n_in = 1;
		m2->in[0] = x;
	}
}

static void plan(cbd_nn *nn)
{
	fold_constants(nn, &nn->main);
	for (int i = 0; i < nn->n_subs; i++)
		fold_constants(nn, nn->subs[i]);
	for (int k = 0; k < nn->n_vals; k++) {
		nn->vals[k].last_use = -1;
		nn->vals[k].captured = false;
	}
	for (int i = 0; i < nn->n_subs; i++)
		lifetimes(nn, nn->subs[i]);
	fuse(nn);
	fuse_gelu(nn);
	lifetimes(nn, &nn->main);
}

/* Names in messages come from the model: keep the message on one line. */
static cbd_status one_line(cbd_err *err, cbd_status s)
{
	if (err && s != CBD_OK)
		for (char *c = err->msg; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	return s;
}

static int threads_from(const cbd_nn_opts *opts)
{
	const char *e;
	long t;

	if (opts && opts->threads > 0)
		return opts->threads;
	e = getenv("CBD_THREADS");
	if (!e || !*e)
		return 1;
	t = strtol(e, NULL, 10);
	return t > 0 && t <= 1024 ? (int)t : 1;
}

/* The compute budget: opts, else CBD_MAX_GMAC (units of 1e9, decimals
 * allowed), else the default.  A malformed variable is a configuration
 * error, not silently the default: the user meant to set a limit. */
static cbd_status work_from(const cbd_nn_opts *opts, uint64_t *out,
			    cbd_err *err)
{
	const char *e = getenv("CBD_MAX_GMAC");
	char *end;
	double g;

	*out = CBD_NN_MAX_WORK;
	if (opts && opts->max_work > 0) {
		*out = opts->max_work;
		return CBD_OK;
	}
	if (!e || !*e)
		return CBD_OK;
	errno = 0;
	g = strtod(e, &end);
	if (errno || *end || !(g >= 1e-9 && g <= 1.8e10))
		return cbd_err_set(err, CBD_E_CONFIG, "CBD_MAX_GMAC is not a "
				   "positive number of 1e9 multiply-adds "
				   "('%.40s')", e);
	*out = (uint64_t)(g * 1e9 + 0.5);
	return CBD_OK;
}

cbd_status cbd_nn_load_mem(const void *buf, size_t len, const char *name,
			   const cbd_nn_opts *opts, cbd_nn **out,
			   cbd_err *err)
{
	cbd_nn *nn;
	cbd_status s;

	*out = NULL;
	if (!buf && len)
		return cbd_err_set(err, CBD_E_USAGE, "no model bytes");
	nn = cbd_xcalloc(1, sizeof(*nn), err);
	if (!nn)
		return CBD_E_NOMEM;
	nn->threads = threads_from(opts);
	s = work_from(opts, &nn->work_max, err);
	if (s != CBD_OK) {
		free(nn);
		return s;
	}
	s = nn_onnx_build(nn, buf, len, err);
	if (s == CBD_OK)
		s = nn_dnnl_init(nn, err);
	if (s != CBD_OK) {
		cbd_nn_free(nn);
		cbd_err_prefix(err, "%s", name ? name : "model");
		return one_line(err, s);
	}
	plan(nn);
	*out = nn;
	return CBD_OK;
}

cbd_status cbd_nn_load_file(const char *path, const cbd_nn_opts *opts,
			    cbd_nn **out, cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	*out = NULL;
	s = cbd_file_read(path, CBD_MAX_FILE, &buf, &len, err);
	if (s != CBD_OK)
		return s;
	s = cbd_nn_load_mem(buf, len, path, opts, out, err);
	free(buf);
	return s;
}

static void graph_free(nn_graph *g)
{
	for (int i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].state && g->nodes[i].state_free)
			g->nodes[i].state_free(g->nodes[i].state);
	free(g->nodes);
	free(g->in_idx);
	free(g->out_idx);
	free(g->out_dtype);
}

void cbd_nn_free(cbd_nn *nn)
{
	if (!nn)
		return;
	graph_free(&nn->main);
	for (int i = 0; i < nn->n_subs; i++) {
		graph_free(nn->subs[i]);
		free(nn->subs[i]);
	}
	free(nn->subs);
	for (int k = 0; k < nn->n_vals; k++) {
		free(nn->vals[k].data);
		nn_val_dnnl_free(&nn->vals[k]);
	}
	for (int i = 0; i < nn->pool_n; i++)
		free(nn->pool[i]);
	free(nn->pool);
	free(nn->pool_cap);
	nn_dnnl_fini(nn);
	free(nn->vals);
	free(nn->in_io);
	free(nn->out_io);
	if (nn->model)
		onnx__model_proto__free_unpacked(nn->model, NULL);
	free(nn);
}

int cbd_nn_num_inputs(const cbd_nn *nn)
{
	return nn ? nn->main.n_in : 0;
}

int cbd_nn_num_outputs(const cbd_nn *nn)
{
	return nn ? nn->main.n_out : 0;
}

const cbd_nn_io *cbd_nn_input(const cbd_nn *nn, int i)
{
	return nn && i >= 0 && i < nn->main.n_in ? &nn->in_io[i] : NULL;
}

const cbd_nn_io *cbd_nn_output(const cbd_nn *nn, int i)
{
	return nn && i >= 0 && i < nn->main.n_out ? &nn->out_io[i] : NULL;
}

static cbd_status check_input(const cbd_nn_io *io, const cbd_tensor *t,
			      bool any_batch, cbd_err *err)
{
	if (!t || (t->nelem && !t->data))
		return cbd_err_set(err, CBD_E_USAGE, "input %s missing",
				   io->name);
	if (t->dtype != io->dtype)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "input %s: dtype %s, model wants %s",
				   io->name, cbd_dtype_name(t->dtype),
				   cbd_dtype_name(io->dtype));
	if (io->ndim < 0)
		return CBD_OK;
	if (t->ndim != io->ndim)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "input %s: %d dimensions, model wants %d",
				   io->name, t->ndim, io->ndim);
	for (int i = any_batch ? 1 : 0; i < t->ndim; i++)
		if (io->dims[i] >= 0 && io->dims[i] != t->dims[i])
			return cbd_err_set(err, CBD_E_SHAPE,
					   "input %s: dimension %d is %lld, "
					   "model wants %lld", io->name, i,
					   (long long)t->dims[i],
					   (long long)io->dims[i]);
	return CBD_OK;
}

static void release(cbd_nn *nn)
{
	for (int k = 0; k < nn->n_vals; k++) {
		nn_val *v = &nn->vals[k];

		if (!v->is_const)
			nn_val_drop(nn, v);
	}
}

static cbd_status set_inputs(cbd_nn *nn, const cbd_tensor *const *inputs,
			     cbd_err *err)
{
	for (int i = 0; i < nn->main.n_in; i++) {
		nn_val *v = &nn->vals[nn->main.in_idx[i]];
		nn_node fake = {.nn = nn, .name = "input",
				.op = CBD_OP_IDENTITY};
		cbd_status s = check_input(&nn->in_io[i], inputs[i], false, err);

		if (s == CBD_OK)
			s = nn_val_alloc(&fake, v, inputs[i]->dtype,
					 inputs[i]->ndim, inputs[i]->dims, err);
		if (s != CBD_OK)
			return s;
		if (v->nbytes)
			memcpy(v->data, inputs[i]->data, v->nbytes);
	}
	return CBD_OK;
}

cbd_status nn_graph_run(cbd_nn *nn, nn_graph *g, cbd_err *err)
{
	for (int i = 0; i < g->n_nodes; i++) {
		nn_node *n = &g->nodes[i];
		cbd_status s;

		if (n->skip)
			continue;
		s = nn_op_run(nn, n, err);
		if (s != CBD_OK)
			return s;
		for (int j = 0; j < n->n_in; j++) {
			nn_val *v = n->in[j] >= 0 ? &nn->vals[n->in[j]] : NULL;

			if (v && v->last_use == i && v->graph == g &&
			    !v->is_const && !v->is_output && !v->captured)
				nn_val_drop(nn, v);
		}
	}
	return CBD_OK;
}

static cbd_status get_outputs(cbd_nn *nn, cbd_tensor **outputs, int n_out,
			      cbd_err *err)
{
	for (int i = 0; i < n_out; i++) {
		nn_val *v = &nn->vals[nn->main.out_idx[i]];
		nn_node fake = {.nn = nn, .name = "output",
				.op = CBD_OP_IDENTITY};
		cbd_status s;

		if (!v->data)
			return cbd_err_set(err, CBD_E_INTERNAL,
					   "output %s not computed", v->name);
		s = nn_val_plain(nn, &fake, v, err);
		if (s != CBD_OK)
			return s;
		s = cbd_tensor_new(v->dtype, v->ndim, v->dims, &outputs[i],
				   err);
		if (s != CBD_OK)
			return s;
		if (v->nbytes)
			memcpy(outputs[i]->data, v->data, v->nbytes);
	}
	return CBD_OK;
}

static cbd_status run_once(cbd_nn *nn, const cbd_tensor *const *inputs,
			   cbd_tensor **outputs, int n_outputs, cbd_err *err)
{
	cbd_status s = set_inputs(nn, inputs, err);

	if (s == CBD_OK)
		s = nn_graph_run(nn, &nn->main, err);
	if (s == CBD_OK)
		s = get_outputs(nn, outputs, n_outputs, err);
	release(nn);
	return s;
}

/* Batch size N > 1 of inputs for a model whose every input declares a
 * batch dimension of 1, or 0 when the inputs are to run as they are. */
static int64_t split_batch(const cbd_nn *nn, const cbd_tensor *const *in)
{
	for (int i = 0; i < nn->main.n_in; i++) {
		const cbd_nn_io *io = &nn->in_io[i];

		if (io->ndim < 1 || io->dims[0] != 1 || !in[i] ||
		    in[i]->ndim != io->ndim || in[i]->dims[0] < 1 ||
		    in[i]->dims[0] != in[0]->dims[0])
			return 0;
	}
	return nn->main.n_in && in[0]->dims[0] > 1 ? in[0]->dims[0] : 0;
}

/* Sample k of a sample's output o into the batch output *all (made at
 * k = 0 with N rows); every output must have a batch dimension of 1. */
static cbd_status stack_row(const cbd_tensor *o, int64_t k, int64_t N,
			    const char *name, cbd_tensor **all, cbd_err *err)
{
	cbd_status s;

	if (o->ndim < 1 || o->dims[0] != 1 ||
	    (k > 0 && ((*all)->dtype != o->dtype || (*all)->ndim != o->ndim ||
		       memcmp((*all)->dims + 1, o->dims + 1,
			      sizeof(int64_t) * (size_t)(o->ndim - 1)))))
		return cbd_err_set(err, CBD_E_SHAPE,
				   "output %s of a fixed-batch model has no "
				   "batch dimension of 1 (run it one sample "
				   "at a time)", name);
	if (k == 0) {
		int64_t d[CBD_MAX_DIMS];

		memcpy(d, o->dims, sizeof(d));
		d[0] = N;
		s = cbd_tensor_new(o->dtype, o->ndim, d, all, err);
		if (s != CBD_OK)
			return s;
	}
	if (o->nbytes)
		memcpy((char *)(*all)->data + (size_t)k * o->nbytes, o->data,
		       o->nbytes);
	return CBD_OK;
}

/* A model exported with a fixed batch of 1 runs a batch of N one sample
 * at a time, the outputs stacked; the compute budget covers the batch. */
static cbd_status run_split(cbd_nn *nn, const cbd_tensor *const *inputs,
			    int64_t N, cbd_tensor **outputs, int n_outputs,
			    cbd_err *err)
{
	cbd_tensor view[NN_MAX_IO], *one[NN_MAX_IO];
	const cbd_tensor *vp[NN_MAX_IO];
	cbd_status s = CBD_OK;

	if (nn->main.n_in > NN_MAX_IO || n_outputs > NN_MAX_IO)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "too many inputs "
				   "or outputs to split a batch");
	for (int i = 0; i < nn->main.n_in; i++) {
		s = check_input(&nn->in_io[i], inputs[i], true, err);
		if (s != CBD_OK)
			return s;
	}
	for (int64_t k = 0; s == CBD_OK && k < N; k++) {
		for (int i = 0; i < nn->main.n_in; i++) {
			size_t nb = inputs[i]->nbytes / (size_t)N;

			view[i] = *inputs[i];
			view[i].dims[0] = 1;
			view[i].nelem /= (size_t)N;
			view[i].nbytes = nb;
			view[i].data = (char *)inputs[i]->data + (size_t)k * nb;
			vp[i] = &view[i];
		}
		for (int j = 0; j < n_outputs; j++)
			one[j] = NULL;
		s = run_once(nn, vp, one, n_outputs, err);
		for (int j = 0; s == CBD_OK && j < n_outputs; j++)
			s = stack_row(one[j], k, N, nn->out_io[j].name,
				      &outputs[j], err);
		for (int j = 0; j < n_outputs; j++)
			cbd_tensor_free(one[j]);
	}
	return s;
}

cbd_status cbd_nn_run(cbd_nn *nn, const cbd_tensor *const *inputs,
		      int n_inputs, cbd_tensor **outputs, int n_outputs,
		      cbd_err *err)
{
	cbd_status s;
	int64_t N;

	if (!nn || n_inputs != nn->main.n_in || n_outputs > nn->main.n_out ||
	    n_outputs < 0 || (n_inputs && !inputs) || (n_outputs && !outputs))
		return cbd_err_set(err, CBD_E_USAGE,
				   "model takes %d inputs and gives %d outputs",
				   nn ? nn->main.n_in : 0, nn ? nn->main.n_out : 0);
	for (int i = 0; i < n_outputs; i++)
		outputs[i] = NULL;
	nn_dnnl_set_threads(nn);
	nn->work_used = 0;
	N = split_batch(nn, inputs);
	s = N ? run_split(nn, inputs, N, outputs, n_outputs, err)
	      : run_once(nn, inputs, outputs, n_outputs, err);
	if (s != CBD_OK)
		for (int i = 0; i < n_outputs; i++) {
			cbd_tensor_free(outputs[i]);
			outputs[i] = NULL;
		}
	return one_line(err, s);
}
