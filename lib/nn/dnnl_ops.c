/*
 * dnnl_ops.c — numerical kernels on oneDNN (C API, dnnl.h, v2.6).
 *
 * Each kernel derives ONNX output shapes and oneDNN parameters from the
 * node's attributes and the actual input shapes, then runs one primitive.
 * The primitive and its memory objects are cached in node->state (struct
 * dn_prim) keyed by the input shapes (plus run-time scalars such as Clip
 * bounds): a node builds its primitive once per input shape and reuses it.
 * Memory objects are created without a buffer (DNNL_MEMORY_NONE) and
 * pointed at the value buffers before each execution.
 *
 * Layouts: Conv and the ops that follow it (nn_op_takes_layout) keep
 * oneDNN's chosen layout; a binary op keeps it when both operands share it
 * or the other is a per-channel broadcast (squeeze-excite), otherwise
 * values are reordered to plain.  Constant weights (Conv, and MatMul by a
 * constant 2-D B) are reordered into the chosen layout once.  Shapes are
 * rewritten into the forms oneDNN's JIT kernels cover: a MatMul whose B
 * has unit batch dimensions is one 2-D product of all of A's rows, a
 * binary broadcast is collapsed to its fewest dimensions.
 *
 * Fusion: a Conv with a fused activation (graph.c) gets an eltwise_relu,
 * eltwise_clip_v2 or eltwise_swish post-op;
 * its bias input may be the folded BatchNormalization.  Gemm's alpha is an
 * output scale and beta*C a "sum" post-op over a prefilled destination.
 *
 * Threads: Debian's libdnnl is built with DNNL_CPU_RUNTIME = OMP, so the
 * thread count is the OpenMP one; omp_set_num_threads (from the libgomp
 * that libdnnl already loads, found with dlsym) is called from the calling
 * thread before each run.
 */
#include "nn_internal.h"

#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#define DN_MAX_ARGS 8
#define DN_KEY_MAX (NN_MAX_IO * (CBD_MAX_DIMS + 2) + 8)

struct nn_dnnl {
	dnnl_engine_t eng;
	dnnl_stream_t strm;
};

/* A reorder between the plain layout of a value and the layout a
 * primitive chose (format_tag_any), with its own buffer. */
typedef struct dn_reo {
	dnnl_primitive_t p;
	dnnl_memory_t from, to;
	size_t size;              /* bytes of the chosen layout */
	void *buf;                /* weights only: the reordered constant */
} dn_reo;

enum { REO_SRC, REO_WEI, REO_DST, REO_N };

typedef struct dn_prim {
	int64_t key[DN_KEY_MAX];
	int nkey;
	dnnl_primitive_t p;
	int nargs;
	dnnl_exec_arg_t args[DN_MAX_ARGS];
	dn_reo reo[REO_N];        /* Conv only: NULL p when not needed */
	dnnl_memory_desc_t dst_md; /* layout the output is produced in */
	const void *wei_from;     /* constant weights already reordered */
} dn_prim;

typedef void (*omp_set_fn)(int);

cbd_status nn_dnnl_init(cbd_nn *nn, cbd_err *err)
{
	struct nn_dnnl *d = cbd_xcalloc(1, sizeof(*d), err);

	if (!d)
		return CBD_E_NOMEM;
	nn->dnnl = d;
	if (dnnl_engine_create(&d->eng, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags) !=
		    dnnl_success)
		return cbd_err_set(err, CBD_E_INTERNAL,
				   "cannot create oneDNN engine");
	return CBD_OK;
}

void nn_dnnl_fini(cbd_nn *nn)
{
	struct nn_dnnl *d = nn->dnnl;

	if (!d)
		return;
	if (d->strm)
		dnnl_stream_destroy(d->strm);
	if (d->eng)
		dnnl_engine_destroy(d->eng);
	free(d);
	nn->dnnl = NULL;
}

static omp_set_fn omp_set;
static pthread_once_t omp_once = PTHREAD_ONCE_INIT;

static void omp_lookup(void)
{
	*(void **)&omp_set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
}

/* OpenMP's thread count is per calling thread: set it before each run. */
void nn_dnnl_set_threads(cbd_nn *nn)
{
	pthread_once(&omp_once, omp_lookup);
	if (omp_set)
		omp_set(nn->threads);
}

static void dn_prim_free(void *state)
{
	dn_prim *c = state;

	if (!c)
		return;
	for (int i = 0; i < c->nargs; i++)
		if (c->args[i].memory)
			dnnl_memory_destroy(c->args[i].memory);
	for (int i = 0; i < REO_N; i++) {
		if (c->reo[i].p)
			dnnl_primitive_destroy(c->reo[i].p);
		if (c->reo[i].from)
			dnnl_memory_destroy(c->reo[i].from);
		if (c->reo[i].to)
			dnnl_memory_destroy(c->reo[i].to);
		free(c->reo[i].buf);
	}
	if (c->p)
		dnnl_primitive_destroy(c->p);
	free(c);
}

/* Key of a node's input shapes plus extra words. */
static int dn_key(cbd_nn *nn, const nn_node *n, int64_t *key,
		  const int64_t *extra, int nextra)
{
	int k = 0;

	for (int i = 0; i < n->n_in; i++) {
		const nn_val *v = nn_in(nn, n, i);
		uint64_t h = 1469598103934665603ull;

		key[k++] = v ? v->ndim : -1;
		for (int j = 0; v && j < v->ndim; j++)
			key[k++] = v->dims[j];
		if (v && v->layout) {
			const unsigned char *p = (const void *)v->layout;

			for (size_t j = 0; j < sizeof(*v->layout); j++)
				h = (h ^ p[j]) * 1099511628211ull;
		}
		key[k++] = (int64_t)(h >> 1);
	}
	for (int i = 0; i < nextra; i++)
		key[k++] = extra[i];
	return k;
}

/* The cached primitive if it was built for this key, else NULL. */
static dn_prim *dn_cached(nn_node *n, const int64_t *key, int nk)
{
	dn_prim *c = n->state;

	if (c && n->state_free == dn_prim_free && c->nkey == nk &&
	    memcmp(c->key, key, sizeof(int64_t) * (size_t)nk) == 0)
		return c;
	if (n->state && n->state_free)   /* another kernel's cache (MatMul) */
		n->state_free(n->state);
	n->state = NULL;
	n->state_free = NULL;
	return NULL;
}

static void md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims)
{
	dnnl_dims_t d, st;
	int64_t s = 1;

	if (ndim == 0) {
		d[0] = 1;
		st[0] = 1;
		dnnl_memory_desc_init_by_strides(md, 1, d, dnnl_f32, st);
		return;
	}
	for (int i = ndim - 1; i >= 0; i--) {
		d[i] = dims[i];
		st[i] = s;
		s *= dims[i] ? dims[i] : 1;
	}
	dnnl_memory_desc_init_by_strides(md, ndim, d, dnnl_f32, st);
}

static cbd_status dn_status(const nn_node *n, dnnl_status_t st,
			    const char *what, cbd_err *err)
{
	return nn_fail(n, err, st == dnnl_unimplemented ? CBD_E_UNSUPPORTED
							: CBD_E_INTERNAL,
		       "oneDNN %s: %s", what, dnnl_status2str(st));
}

/* Build the primitive for op_desc (init: the status of the desc's
 * initialisation, reported as `what` when it failed) and memory objects
 * for args. */
static cbd_status dn_create(cbd_nn *nn, nn_node *n, dnnl_status_t init,
			    const char *what, const void *op_desc,
			    dnnl_primitive_attr_t attr, int nargs,
			    const int *arg_ids,
			    const dnnl_memory_desc_t *const *mds,
			    const int64_t *key, int nk, dn_prim **out,
			    cbd_err *err)
{
	struct nn_dnnl *d = nn->dnnl;
	dnnl_primitive_desc_t pd = NULL;
	dn_prim *c;
	dnnl_status_t st;

	if (init != dnnl_success)
		return dn_status(n, init, what, err);
	c = cbd_xcalloc(1, sizeof(*c), err);
	if (!c)
		return CBD_E_NOMEM;
	memcpy(c->key, key, sizeof(int64_t) * (size_t)nk);
	c->nkey = nk;
	st = dnnl_primitive_desc_create(&pd, op_desc, attr, d->eng, NULL);
	if (st == dnnl_success)
		st = dnnl_primitive_create(&c->p, pd);
	for (int i = 0; st == dnnl_success && i < nargs; i++) {
		const dnnl_memory_desc_t *md = mds[i];

		if (md->format_kind == dnnl_format_kind_any)
			md = dnnl_primitive_desc_query_md(
				pd, dnnl_query_exec_arg_md, arg_ids[i]);
		if (arg_ids[i] == DNNL_ARG_DST)
			c->dst_md = *md;
		c->args[i].arg = arg_ids[i];
		st = dnnl_memory_create(&c->args[i].memory, md, d->eng,
					DNNL_MEMORY_NONE);
		c->nargs = i + 1;
	}
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	if (st != dnnl_success) {
		dn_prim_free(c);
		return dn_status(n, st, what, err);
	}
	n->state = c;
	n->state_free = dn_prim_free;
	*out = c;
	return CBD_OK;
}

static cbd_status dn_exec(cbd_nn *nn, const nn_node *n, dn_prim *c,
			  void *const *bufs, cbd_err *err)
{
	struct nn_dnnl *d = nn->dnnl;
	dnnl_status_t st = dnnl_success;

	for (int i = 0; st == dnnl_success && i < c->nargs; i++)
		st = dnnl_memory_set_data_handle(c->args[i].memory, bufs[i]);
	if (st == dnnl_success)
		st = dnnl_primitive_execute(c->p, d->strm, c->nargs, c->args);
	if (st == dnnl_success)
		st = dnnl_stream_wait(d->strm);
	return st == dnnl_success ? CBD_OK : dn_status(n, st, "execute", err);
}

/* The one-input kernels' run: x in, y out. */
static cbd_status dn_exec_xy(cbd_nn *nn, const nn_node *n, dn_prim *c,
			     const nn_val *x, nn_val *y, cbd_err *err)
{
	void *bufs[2] = {x->data, y->data};

	return dn_exec(nn, n, c, bufs, err);
}

static cbd_status need_float(const nn_node *n, const nn_val *v,
			     const char *what, cbd_err *err)
{
	if (!v)
		return nn_fail(n, err, CBD_E_FORMAT, "missing %s", what);
	if (v->dtype != CBD_DT_FLOAT32)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "%s is %s, only float32 is supported", what,
			       cbd_dtype_name(v->dtype));
	return CBD_OK;
}

/* ---------------- spatial geometry (Conv and pooling) ---------------- */

typedef struct geom {
	int r;                          /* spatial rank */
	int64_t k[3], s[3], d[3], pl[3], pr[3], out[3];
} geom;

/* Fill g for input spatial dims in[] with kernel k[] (already in g). */
static cbd_status geom_solve(const nn_node *n, geom *g, const int64_t *in,
			     bool ceil_mode, cbd_err *err)
{
	int64_t pads[6] = {0};
	int np = nn_attr_ints(n, "pads", pads, 6);
	bool same_u = nn_attr_str_is(n, "auto_pad", "SAME_UPPER");
	bool same_l = nn_attr_str_is(n, "auto_pad", "SAME_LOWER");
	bool valid = nn_attr_str_is(n, "auto_pad", "VALID");
	const Onnx__AttributeProto *ap = nn_attr(n, "auto_pad");

	if (ap && !same_u && !same_l && !valid &&
	    !nn_attr_str_is(n, "auto_pad", "NOTSET"))
		return nn_fail(n, err, CBD_E_FORMAT, "bad auto_pad");
	if (np >= 0 && np != 2 * g->r)
		return nn_fail(n, err, CBD_E_FORMAT, "pads has %d values", np);
	for (int i = 0; i < g->r; i++) {
		int64_t eff, o, rem;

		if (g->s[i] < 1 || g->d[i] < 1 || g->k[i] < 1 ||
		    g->s[i] > CBD_MAX_ELEMS || g->d[i] > CBD_MAX_ELEMS ||
		    g->k[i] > CBD_MAX_ELEMS)
			return nn_fail(n, err, CBD_E_FORMAT,
				       "bad kernel, stride or dilation");
		eff = (g->k[i] - 1) * g->d[i] + 1;
		if (same_u || same_l) {
			int64_t tot;

			o = (in[i] + g->s[i] - 1) / g->s[i];
			tot = (o - 1) * g->s[i] + eff - in[i];
			tot = tot < 0 ? 0 : tot;
			g->pl[i] = same_u ? tot / 2 : tot - tot / 2;
			g->pr[i] = tot - g->pl[i];
		} else {
			g->pl[i] = valid ? 0 : pads[i];
			g->pr[i] = valid ? 0 : pads[i + g->r];
			if (g->pl[i] < 0 || g->pr[i] < 0)
				return nn_fail(n, err, CBD_E_UNSUPPORTED,
					       "negative pads");
			/* a pad as wide as the kernel only makes outputs
			 * that see no input; oneDNN's kernel generator takes
			 * minutes and gigabytes over such pads (fuzz
			 * finding), and ONNX Runtime refuses them in pooling */
			if (g->pl[i] >= eff || g->pr[i] >= eff)
				return nn_fail(n, err, CBD_E_UNSUPPORTED,
					       "pads %lld,%lld not smaller than "
					       "the kernel extent %lld",
					       (long long)g->pl[i],
					       (long long)g->pr[i],
					       (long long)eff);
			rem = in[i] + g->pl[i] + g->pr[i] - eff;
			if (rem < 0)
				return nn_fail(n, err, CBD_E_SHAPE,
					       "kernel larger than the padded "
					       "input");
			o = rem / g->s[i] + 1;
			if (ceil_mode && rem % g->s[i]) {
				o++;
				if ((o - 1) * g->s[i] >= in[i] + g->pl[i])
					o--;
			}
		}
		if (o < 1)
			return nn_fail(n, err, CBD_E_SHAPE, "empty output");
		/* oneDNN wants out == (in + pl + pr - eff) / s + 1 */
		if ((in[i] + g->pl[i] + g->pr[i] - eff) / g->s[i] + 1 != o)
			g->pr[i] = (o - 1) * g->s[i] + eff - in[i] - g->pl[i];
		g->out[i] = o;
	}
	return CBD_OK;
}

static cbd_status geom_attrs(const nn_node *n, geom *g, bool dil,
			     cbd_err *err)
{
	int64_t t[3];
	int c;

	for (int i = 0; i < 3; i++)
		g->s[i] = g->d[i] = 1;
	c = nn_attr_ints(n, "strides", t, 3);
	if (c >= 0 && c != g->r)
		return nn_fail(n, err, CBD_E_FORMAT, "strides has %d values",
			       c);
	for (int i = 0; i < c; i++)
		g->s[i] = t[i];
	c = nn_attr_ints(n, "dilations", t, 3);
	if (c >= 0 && c != g->r)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "dilations has %d values", c);
	if (c > 0 && !dil)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "dilations");
	for (int i = 0; i < c; i++)
		g->d[i] = t[i];
	return CBD_OK;
}

/* ------------------------------- Conv -------------------------------- */

/* Product of the factors, saturating at UINT64_MAX (factors are >= 0). */
/* Output dims of a Conv or pooling: x's batch, ch channels, the
 * geometry's spatial sizes. */
static void geom_out_dims(const nn_val *x, int64_t ch, const geom *g,
			  int64_t *od)
{
	od[0] = x->dims[0];
	od[1] = ch;
	for (int i = 0; i < g->r; i++)
		od[2 + i] = g->out[i];
}

static uint64_t work_of(const int64_t *f, int nf)
{
	uint64_t w = 1;

	for (int i = 0; i < nf; i++) {
		if (f[i] <= 0)
			return 0;
		if (w > UINT64_MAX / (uint64_t)f[i])
			return UINT64_MAX;
		w *= (uint64_t)f[i];
	}
	return w;
}

/* Charge a sliding-window kernel: every output element (outer x out[])
 * reads inner x k[] inputs. */
static cbd_status geom_charge(const nn_node *n, const geom *g, int64_t outer,
			      int64_t inner, cbd_err *err)
{
	int64_t f[8] = {outer, inner};
	int nf = 2;

	for (int i = 0; i < g->r; i++) {
		f[nf++] = g->out[i];
		f[nf++] = g->k[i];
	}
	return nn_charge(n, work_of(f, nf), err);
}

static cbd_status conv_shape(const nn_node *n, const nn_val *x,
			     const nn_val *w, const nn_val *b, geom *g,
			     int64_t *grp, cbd_err *err)
{
	int64_t ks[3];
	int kc;
	cbd_status s;

	if (x->ndim < 3 || x->ndim > 5 || w->ndim != x->ndim)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "input rank %d, weight rank %d (want 3 to 5)",
			       x->ndim, w->ndim);
	g->r = x->ndim - 2;
	*grp = nn_attr_int(n, "group", 1);
	if (*grp < 1 || x->dims[1] != w->dims[1] * *grp ||
	    w->dims[0] % *grp)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "channels %lld do not match weights [%lld,%lld] "
			       "with group %lld", (long long)x->dims[1],
			       (long long)w->dims[0], (long long)w->dims[1],
			       (long long)*grp);
	if (b && (b->ndim != 1 || b->dims[0] != w->dims[0]))
		return nn_fail(n, err, CBD_E_SHAPE, "bias shape");
	kc = nn_attr_ints(n, "kernel_shape", ks, 3);
	for (int i = 0; i < g->r; i++) {
		g->k[i] = w->dims[2 + i];
		if (kc >= 0 && (kc != g->r || ks[i] != g->k[i]))
			return nn_fail(n, err, CBD_E_SHAPE,
				       "kernel_shape does not match weights");
	}
	s = geom_attrs(n, g, true, err);
	if (s == CBD_OK)
		s = geom_solve(n, g, x->dims + 2, false, err);
	if (s != CBD_OK)
		return s;
	return geom_charge(n, g, x->dims[0] * w->dims[0], w->dims[1], err);
}

/* Reorder between a plain layout and the one a primitive chose; nothing
 * when they are equal.  to_chosen: plain -> chosen (the buffer holds the
 * destination), else chosen -> plain (the buffer holds the source). */
static dnnl_status_t reo_make(cbd_nn *nn, dn_reo *r,
			      const dnnl_memory_desc_t *plain,
			      const dnnl_memory_desc_t *chosen, bool to_chosen)
{
	struct nn_dnnl *d = nn->dnnl;
	const dnnl_memory_desc_t *a = to_chosen ? plain : chosen;
	const dnnl_memory_desc_t *b = to_chosen ? chosen : plain;
	dnnl_primitive_desc_t rpd = NULL;
	size_t sz = dnnl_memory_desc_get_size(chosen);
	dnnl_status_t st;

	if (dnnl_memory_desc_equal(plain, chosen))
		return dnnl_success;
	r->size = sz;
	st = dnnl_reorder_primitive_desc_create(&rpd, a, d->eng, b, d->eng,
						NULL);
	if (st != dnnl_success)
		return st;
	st = dnnl_primitive_create(&r->p, rpd);
	dnnl_primitive_desc_destroy(rpd);
	if (st == dnnl_success)
		st = dnnl_memory_create(&r->from, a, d->eng, DNNL_MEMORY_NONE);
	if (st == dnnl_success)
		st = dnnl_memory_create(&r->to, b, d->eng, DNNL_MEMORY_NONE);
	return st;
}

static dnnl_status_t reo_run(cbd_nn *nn, dn_reo *r, void *from, void *to)
{
	struct nn_dnnl *d = nn->dnnl;
	dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, r->from},
				   {DNNL_ARG_TO, r->to}};
	dnnl_status_t st;

	st = dnnl_memory_set_data_handle(r->from, from);
	if (st == dnnl_success)
		st = dnnl_memory_set_data_handle(r->to, to);
	if (st == dnnl_success)
		st = dnnl_primitive_execute(r->p, d->strm, 2, args);
	return st;
}

/* The float32 unary ops oneDNN's eltwise runs, with their algorithm: one
 * list for the dispatch (elt_unary.c), the layouts (nn_op_takes_layout)
 * and the kernel (nn_dnnl_eltwise, which also runs LeakyRelu and Clip).
 * Not Log: oneDNN's is 1.4e-6 off at 1. */
static const struct {
	cbd_op op;
	dnnl_alg_kind_t alg;
} dn_unary[] = {
	{CBD_OP_RELU, dnnl_eltwise_relu},
	{CBD_OP_SIGMOID, dnnl_eltwise_logistic},
	{CBD_OP_TANH, dnnl_eltwise_tanh},
	{CBD_OP_ABS, dnnl_eltwise_abs},
	{CBD_OP_EXP, dnnl_eltwise_exp},
	{CBD_OP_SQRT, dnnl_eltwise_sqrt},
	{CBD_OP_ELU, dnnl_eltwise_elu},
	{CBD_OP_HARDSWISH, dnnl_eltwise_hardswish},
	{CBD_OP_MISH, dnnl_eltwise_mish},
	{CBD_OP_GELU, dnnl_eltwise_gelu_erf},
};

static bool dn_unary_alg(cbd_op op, dnnl_alg_kind_t *alg)
{
	for (size_t i = 0; i < sizeof(dn_unary) / sizeof(dn_unary[0]); i++)
		if (dn_unary[i].op == op) {
			*alg = dn_unary[i].alg;
			return true;
		}
	return false;
}

bool nn_dnnl_unary_has(cbd_op op)
{
	dnnl_alg_kind_t alg;

	return dn_unary_alg(op, &alg);
}

bool nn_op_takes_layout(cbd_op op)
{
	if (nn_dnnl_unary_has(op))
		return true;
	switch (op) {
	case CBD_OP_CONV:
	case CBD_OP_LEAKYRELU:
	case CBD_OP_MAXPOOL:
	case CBD_OP_AVERAGEPOOL:
	case CBD_OP_GLOBALAVERAGEPOOL:
	case CBD_OP_GLOBALMAXPOOL:
	case CBD_OP_BATCHNORM:
	case CBD_OP_ADD:
	case CBD_OP_SUB:
	case CBD_OP_MUL:
	case CBD_OP_DIV:
		return true;
	default:
		return false;
	}
}

/* The md of v's data: its layout or the plain one (in tmp). */
static const dnnl_memory_desc_t *val_md(const nn_val *v,
					dnnl_memory_desc_t *tmp)
{
	if (v->layout)
		return v->layout;
	md_plain(tmp, v->ndim, v->dims);
	return tmp;
}

typedef struct val_reo {
	dnnl_memory_desc_t md;
	dn_reo r;
} val_reo;

static void reo_clear(dn_reo *r)
{
	if (r->p)
		dnnl_primitive_destroy(r->p);
	if (r->from)
		dnnl_memory_destroy(r->from);
	if (r->to)
		dnnl_memory_destroy(r->to);
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

void nn_val_layout_clear(nn_val *v)
{
	free(v->layout);
	v->layout = NULL;
}

void nn_val_dnnl_free(nn_val *v)
{
	val_reo *c = v->to_plain;

	nn_val_layout_clear(v);
	if (c) {
		reo_clear(&c->r);
		free(c);
	}
	v->to_plain = NULL;
}

cbd_status nn_val_alloc_md(const nn_node *n, nn_val *v, int ndim,
			   const int64_t *dims, const dnnl_memory_desc_t *md,
			   cbd_err *err)
{
	dnnl_memory_desc_t plain;
	size_t need = dnnl_memory_desc_get_size(md), cap;
	cbd_status s;

	s = nn_val_alloc(n, v, CBD_DT_FLOAT32, ndim, dims, err);
	if (s != CBD_OK)
		return s;
	md_plain(&plain, ndim, dims);
	if (dnnl_memory_desc_equal(&plain, md))
		return CBD_OK;
	if (v->cap < need) {
		void *p = nn_pool_get(n->nn, need, &cap);

		if (!p)
			return nn_fail(n, err, CBD_E_NOMEM, "output %s",
				       v->name);
		nn_pool_put(n->nn, v->data, v->cap);
		v->data = p;
		v->cap = cap;
	}
	v->layout = malloc(sizeof(*md));
	if (!v->layout)
		return nn_fail(n, err, CBD_E_NOMEM, "layout");
	*v->layout = *md;
	return CBD_OK;
}

cbd_status nn_val_plain(cbd_nn *nn, const nn_node *n, nn_val *v,
			cbd_err *err)
{
	dnnl_memory_desc_t plain;
	val_reo *c = v->to_plain;
	dnnl_status_t st = dnnl_success;
	size_t cap;
	void *buf;

	if (!v->layout || !v->data)
		return CBD_OK;
	md_plain(&plain, v->ndim, v->dims);
	if (c && !dnnl_memory_desc_equal(&c->md, v->layout))
		reo_clear(&c->r);
	if (!c) {
		c = v->to_plain = calloc(1, sizeof(*c));
		if (!c)
			return nn_fail(n, err, CBD_E_NOMEM, "reorder");
	}
	if (!c->r.p) {
		c->md = *v->layout;
		st = reo_make(nn, &c->r, &plain, v->layout, false);
	}
	buf = nn_pool_get(nn, nn_val_nelem(v) * sizeof(float), &cap);
	if (!buf)
		return nn_fail(n, err, CBD_E_NOMEM, "reorder of %s", v->name);
	if (st == dnnl_success)
		st = reo_run(nn, &c->r, v->data, buf);
	if (st == dnnl_success)
		st = dnnl_stream_wait(((struct nn_dnnl *)nn->dnnl)->strm);
	if (st != dnnl_success) {
		nn_pool_put(nn, buf, cap);
		return dn_status(n, st, "reorder to plain", err);
	}
	nn_pool_put(nn, v->data, v->cap);
	v->data = buf;
	v->cap = cap;
	nn_val_layout_clear(v);
	return CBD_OK;
}

static dnnl_status_t conv_prims(cbd_nn *nn, dn_prim *c,
				const dnnl_convolution_desc_t *cd,
				dnnl_primitive_attr_t attr,
				const dnnl_memory_desc_t *plain, bool bias)
{
	struct nn_dnnl *d = nn->dnnl;
	static const dnnl_query_t q[3] = {dnnl_query_src_md,
					  dnnl_query_weights_md,
					  dnnl_query_dst_md};
	static const int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS,
				   DNNL_ARG_DST, DNNL_ARG_BIAS};
	dnnl_memory_desc_t chosen[4];
	dnnl_primitive_desc_t pd = NULL;
	dnnl_status_t st;

	st = dnnl_primitive_desc_create(&pd, cd, attr, d->eng, NULL);
	if (st != dnnl_success)
		return st;
	for (int i = 0; i < 3; i++)
		chosen[i] = *dnnl_primitive_desc_query_md(pd, q[i], 0);
	chosen[3] = plain[3];
	st = dnnl_primitive_create(&c->p, pd);
	dnnl_primitive_desc_destroy(pd);
	for (int i = 0; st == dnnl_success && i < (bias ? 4 : 3); i++) {
		c->args[i].arg = ids[i];
		st = dnnl_memory_create(&c->args[i].memory, &chosen[i],
					d->eng, DNNL_MEMORY_NONE);
		c->nargs = i + 1;
	}
	/* plain[0] is the input's actual layout; the output stays in the
	 * chosen one */
	for (int i = 0; st == dnnl_success && i < 2; i++)
		st = reo_make(nn, &c->reo[i], &plain[i], &chosen[i], true);
	c->dst_md = chosen[2];
	return st;
}

/* oneDNN picks the layouts (format_tag_any): blocked layouts get the
 * direct JIT kernels; reorders convert from and to the plain values, the
 * constant weights only once. */
static cbd_status conv_build(cbd_nn *nn, nn_node *n, const nn_val *x,
			     const nn_val *w, const nn_val *b,
			     const int64_t *od, const geom *g, int64_t grp,
			     const int64_t *key, int nk, dn_prim **out,
			     cbd_err *err)
{
	dnnl_memory_desc_t plain[4], any[3];
	dnnl_convolution_desc_t cd;
	dnnl_dims_t st, dl, pl, pr, wd, xd, yd;
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	dnnl_status_t e;
	int wn = w->ndim;
	dn_prim *c;

	memcpy(wd, w->dims, sizeof(int64_t) * (size_t)wn);
	memcpy(xd, x->dims, sizeof(int64_t) * (size_t)x->ndim);
	memcpy(yd, od, sizeof(int64_t) * (size_t)x->ndim);
	if (grp > 1) {
		wd[0] = grp;
		wd[1] = w->dims[0] / grp;
		for (int i = 1; i < w->ndim; i++)
			wd[i + 1] = w->dims[i];
		wn++;
	}
	plain[0] = *val_md(x, &plain[0]);
	md_plain(&plain[1], wn, wd);
	md_plain(&plain[2], x->ndim, od);
	md_plain(&plain[3], 1, b ? b->dims : od);
	dnnl_memory_desc_init_by_tag(&any[0], x->ndim, xd, dnnl_f32,
				     dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&any[1], wn, wd, dnnl_f32,
				     dnnl_format_tag_any);
	dnnl_memory_desc_init_by_tag(&any[2], x->ndim, yd, dnnl_f32,
				     dnnl_format_tag_any);
	for (int i = 0; i < g->r; i++) {
		st[i] = g->s[i];
		dl[i] = g->d[i] - 1;
		pl[i] = g->pl[i];
		pr[i] = g->pr[i];
	}
	e = dnnl_dilated_convolution_forward_desc_init(
		&cd, dnnl_forward_inference, dnnl_convolution_direct, &any[0],
		&any[1], b ? &plain[3] : NULL, &any[2], st, dl, pl, pr);
	if (e != dnnl_success)
		return dn_status(n, e, "convolution", err);
	if (n->post != NN_POST_NONE) {
		dnnl_primitive_attr_create(&attr);
		dnnl_post_ops_create(&po);
		if (n->post == NN_POST_RELU)
			dnnl_post_ops_append_eltwise(po, 1.0f,
						     dnnl_eltwise_relu, 0, 0);
		else if (n->post == NN_POST_SWISH)
			dnnl_post_ops_append_eltwise(po, 1.0f,
						     dnnl_eltwise_swish, 1, 0);
		else
			dnnl_post_ops_append_eltwise(po, 1.0f,
						     dnnl_eltwise_clip_v2,
						     n->post_lo, n->post_hi);
		dnnl_primitive_attr_set_post_ops(attr, po);
	}
	c = cbd_xcalloc(1, sizeof(*c), err);
	e = c ? conv_prims(nn, c, &cd, attr, plain, b != NULL)
	      : dnnl_out_of_memory;
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	if (e != dnnl_success) {
		dn_prim_free(c);
		return dn_status(n, e, "convolution", err);
	}
	memcpy(c->key, key, sizeof(int64_t) * (size_t)nk);
	c->nkey = nk;
	n->state = c;
	n->state_free = dn_prim_free;
	*out = c;
	return CBD_OK;
}

/* The weights w in the layout the primitive chose (c->reo[REO_WEI].buf):
 * a constant is reordered on its first use only, anything else on every
 * call. */
static dnnl_status_t wei_reordered(cbd_nn *nn, dn_prim *c, const nn_val *w)
{
	dn_reo *r = &c->reo[REO_WEI];
	dnnl_status_t st = dnnl_success;

	if (!r->buf)
		r->buf = aligned_alloc(64, (r->size + 63) / 64 * 64 + 64);
	if (!r->buf)
		return dnnl_out_of_memory;
	if (!w->is_const || c->wei_from != w->data)
		st = reo_run(nn, r, w->data, r->buf);
	c->wei_from = w->is_const && st == dnnl_success ? w->data : NULL;
	return st;
}

static cbd_status conv_exec(cbd_nn *nn, nn_node *n, dn_prim *c, nn_val *x,
			    nn_val *w, nn_val *b, nn_val *y, cbd_err *err)
{
	void *bufs[4] = {x->data, w->data, y->data, b ? b->data : NULL};
	dnnl_status_t st = dnnl_success;
	cbd_status s;

	void *tmp[2] = {NULL, NULL};
	size_t cap[2] = {0, 0};

	for (int i = 0; i < 2; i++) {
		dn_reo *r = &c->reo[i == 0 ? REO_SRC : REO_DST];

		if (r->p && !(tmp[i] = nn_pool_get(nn, r->size, &cap[i])))
			st = dnnl_out_of_memory;
	}
	if (st == dnnl_success && c->reo[REO_SRC].p) {
		st = reo_run(nn, &c->reo[REO_SRC], x->data, tmp[0]);
		bufs[0] = tmp[0];
	}
	if (st == dnnl_success && c->reo[REO_WEI].p) {
		st = wei_reordered(nn, c, w);
		bufs[1] = c->reo[REO_WEI].buf;
	}
	s = st == dnnl_success ? dn_exec(nn, n, c, bufs, err)
			       : dn_status(n, st, "reorder", err);
	for (int i = 0; i < 2; i++)
		nn_pool_put(nn, tmp[i], cap[i]);
	return s;
}

cbd_status nn_dnnl_conv(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *w = nn_in(nn, n, 1), *b = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], od[CBD_MAX_DIMS], grp = 1;
	dn_prim *c;
	geom g = {0};
	cbd_status s;
	int nk;

	s = need_float(n, x, "input X", err);
	if (s == CBD_OK)
		s = need_float(n, w, "weights W", err);
	if (s == CBD_OK && b)
		s = need_float(n, b, "bias B", err);
	if (s == CBD_OK)
		s = conv_shape(n, x, w, b, &g, &grp, err);
	if (s != CBD_OK)
		return s;
	geom_out_dims(x, w->dims[0], &g, od);
	for (int i = 0; i < x->ndim; i++)
		if (od[i] == 0 || x->dims[i] == 0)
			return nn_val_alloc(n, y, CBD_DT_FLOAT32, x->ndim, od,
					    err);
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		s = conv_build(nn, n, x, w, b, od, &g, grp, key, nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	s = nn_val_alloc_md(n, y, x->ndim, od, &c->dst_md, err);
	if (s != CBD_OK)
		return s;
	return conv_exec(nn, n, c, x, w, b, y, err);
}

/* ------------------------------ Pooling ------------------------------ */

static cbd_status pool_shape(const nn_node *n, const nn_val *x, geom *g,
			     cbd_err *err)
{
	int kc;
	cbd_status s;

	if (x->ndim < 3 || x->ndim > 5)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "input rank %d (want 3 to 5)", x->ndim);
	g->r = x->ndim - 2;
	if (n->op == CBD_OP_GLOBALAVERAGEPOOL || n->op == CBD_OP_GLOBALMAXPOOL) {
		for (int i = 0; i < g->r; i++) {
			g->k[i] = x->dims[2 + i];
			g->s[i] = g->d[i] = 1;
			g->pl[i] = g->pr[i] = 0;
			g->out[i] = 1;
			if (g->k[i] < 1)
				return nn_fail(n, err, CBD_E_SHAPE,
					       "empty input");
		}
		return CBD_OK;
	}
	kc = nn_attr_ints(n, "kernel_shape", g->k, 3);
	if (kc != g->r)
		return nn_fail(n, err, CBD_E_FORMAT,
			       "kernel_shape missing or of the wrong length");
	s = geom_attrs(n, g, n->op == CBD_OP_MAXPOOL, err);
	if (s == CBD_OK)
		s = geom_solve(n, g, x->dims + 2,
			       nn_attr_int(n, "ceil_mode", 0) != 0, err);
	if (s != CBD_OK)
		return s;
	return geom_charge(n, g, x->dims[0] * x->dims[1], 1, err);
}

static void md_plain_u8(dnnl_memory_desc_t *md, int ndim,
			const int64_t *dims)
{
	md_plain(md, ndim, dims);
	md->data_type = dnnl_u8;
}

/* The pooling primitive for geometry g from src to dst (cached in n). */
static cbd_status pool_build(cbd_nn *nn, nn_node *n, dnnl_alg_kind_t alg,
			     const dnnl_memory_desc_t *src,
			     const dnnl_memory_desc_t *dst, const geom *g,
			     const int64_t *key, int nk, dn_prim **c,
			     cbd_err *err)
{
	int ids[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
	const dnnl_memory_desc_t *mds[2] = {src, dst};
	dnnl_pooling_v2_desc_t pd;
	dnnl_dims_t st, kk, dl, pl, pr;
	dnnl_status_t e;

	for (int i = 0; i < g->r; i++) {
		st[i] = g->s[i];
		kk[i] = g->k[i];
		dl[i] = g->d[i] - 1;
		pl[i] = g->pl[i];
		pr[i] = g->pr[i];
	}
	e = dnnl_pooling_v2_forward_desc_init(&pd, dnnl_forward_inference, alg,
					      src, dst, st, kk, dl, pl, pr);
	return dn_create(nn, n, e, "pooling", &pd, NULL, 2, ids, mds, key, nk,
			 c, err);
}

/* float32 in any layout; MaxPool also on uint8 data, plain layout (its
 * output allocated first, plain too). */
cbd_status nn_dnnl_pool(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	bool u8 = x && x->dtype == CBD_DT_UINT8 && n->op == CBD_OP_MAXPOOL;
	int64_t key[DN_KEY_MAX], od[CBD_MAX_DIMS];
	dnnl_memory_desc_t src, dst;
	dnnl_alg_kind_t alg = dnnl_pooling_max;
	dn_prim *c;
	geom g = {0};
	cbd_status s;
	int nk;

	if (n->n_out > 1 && n->out[1] >= 0)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "Indices output");
	s = u8 ? CBD_OK : need_float(n, x, "input X", err);
	if (s == CBD_OK)
		s = pool_shape(n, x, &g, err);
	if (s != CBD_OK)
		return s;
	geom_out_dims(x, x->dims[1], &g, od);
	if (u8) {
		s = nn_val_alloc(n, y, CBD_DT_UINT8, x->ndim, od, err);
		if (s != CBD_OK || nn_val_nelem(y) == 0 ||
		    nn_val_nelem(x) == 0)
			return s;
	} else if (nn_val_nelem(x) == 0 || x->dims[1] == 0) {
		return nn_val_alloc(n, y, CBD_DT_FLOAT32, x->ndim, od, err);
	}
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		dnnl_dims_t dd;

		if (u8) {
			md_plain_u8(&src, x->ndim, x->dims);
			md_plain_u8(&dst, x->ndim, od);
		} else {
			if (n->op != CBD_OP_MAXPOOL &&
			    n->op != CBD_OP_GLOBALMAXPOOL)
				alg = nn_attr_int(n, "count_include_pad", 0)
					? dnnl_pooling_avg_include_padding
					: dnnl_pooling_avg_exclude_padding;
			src = *val_md(x, &src);
			memcpy(dd, od, sizeof(int64_t) * (size_t)x->ndim);
			dnnl_memory_desc_init_by_tag(&dst, x->ndim, dd, dnnl_f32,
						     dnnl_format_tag_any);
		}
		s = pool_build(nn, n, alg, &src, &dst, &g, key, nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	if (!u8) {
		s = nn_val_alloc_md(n, y, x->ndim, od, &c->dst_md, err);
		if (s != CBD_OK)
			return s;
	}
	return dn_exec_xy(nn, n, c, x, y, err);
}

/* ------------------------- BatchNormalization ------------------------ */

cbd_status nn_dnnl_batchnorm(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX];
	dnnl_memory_desc_t data, ch;
	dnnl_batch_normalization_desc_t bd;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk;
	static const char *what[] = {"X", "scale", "B", "mean", "var"};

	for (int i = 1; i < n->n_out; i++)
		if (n->out[i] >= 0)
			return nn_fail(n, err, CBD_E_UNSUPPORTED,
				       "training outputs");
	if (nn_attr_int(n, "training_mode", 0))
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "training_mode");
	if (nn_attr_int(n, "spatial", 1) != 1)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "spatial=0");
	for (int i = 0; i < 5; i++) {
		nn_val *v = nn_in(nn, n, i);

		s = need_float(n, v, what[i], err);
		if (s != CBD_OK)
			return s;
		if (i && (v->ndim != 1 || x->ndim < 2 ||
			  v->dims[0] != x->dims[1]))
			return nn_fail(n, err, CBD_E_SHAPE,
				       "%s must be [C]", what[i]);
	}
	if (x->ndim > 5)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "rank %d", x->ndim);
	data = *val_md(x, &data);
	s = nn_val_alloc_md(n, y, x->ndim, x->dims, &data, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[6] = {DNNL_ARG_SRC,   DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
			      DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[6] = {&data, &ch, &ch,
						    &ch,   &ch, &data};

		md_plain(&ch, 1, x->dims + 1);
		e = dnnl_batch_normalization_forward_desc_init(
			&bd, dnnl_forward_inference, &data,
			nn_attr_float(n, "epsilon", 1e-5f),
			dnnl_use_global_stats | dnnl_use_scale |
				dnnl_use_shift);
		s = dn_create(nn, n, e, "batch normalization", &bd, NULL, 6,
			      ids, mds, key, nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	void *bufs[6] = {x->data, nn_in(nn, n, 3)->data, nn_in(nn, n, 4)->data,
			 nn_in(nn, n, 1)->data, nn_in(nn, n, 2)->data, y->data};
	return dn_exec(nn, n, c, bufs, err);
}

/* ------------------------------ Eltwise ------------------------------ */

static cbd_status scalar_in(cbd_nn *nn, const nn_node *n, int i, float *out,
			    cbd_err *err)
{
	const nn_val *v = nn_in(nn, n, i);

	if (!v)
		return CBD_OK;
	if (v->dtype != CBD_DT_FLOAT32)
		return nn_fail(n, err, CBD_E_UNSUPPORTED, "%s bound is %s",
			       i == 1 ? "min" : "max", cbd_dtype_name(v->dtype));
	if (nn_val_nelem(v) != 1)
		return nn_fail(n, err, CBD_E_SHAPE, "bound is not a scalar");
	*out = *(const float *)v->data;
	return CBD_OK;
}

cbd_status nn_dnnl_eltwise(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], extra[2];
	float alpha = 0, beta = 0;
	dnnl_alg_kind_t alg = dnnl_eltwise_relu;
	dnnl_memory_desc_t md;
	dnnl_eltwise_desc_t ed;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk;

	s = need_float(n, x, "input", err);
	if (s != CBD_OK)
		return s;
	dn_unary_alg(n->op, &alg);      /* LeakyRelu: relu with a slope */
	switch (n->op) {
	case CBD_OP_LEAKYRELU:
		alpha = nn_attr_float(n, "alpha", 0.01f);
		break;
	case CBD_OP_ELU:
		alpha = nn_attr_float(n, "alpha", 1.0f);
		break;
	case CBD_OP_GELU:
		if (nn_attr_str_is(n, "approximate", "tanh"))
			alg = dnnl_eltwise_gelu_tanh;
		break;
	case CBD_OP_CLIP:
		alg = dnnl_eltwise_clip_v2;
		alpha = nn_attr_float(n, "min", -FLT_MAX);
		beta = nn_attr_float(n, "max", FLT_MAX);
		if (nn->opset >= 11) {
			alpha = -INFINITY;
			beta = INFINITY;
			s = scalar_in(nn, n, 1, &alpha, err);
			if (s == CBD_OK)
				s = scalar_in(nn, n, 2, &beta, err);
			if (s != CBD_OK)
				return s;
		}
		break;
	default:
		break;
	}
	md = *val_md(x, &md);
	s = nn_val_alloc_md(n, y, x->ndim, x->dims, &md, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	memcpy(&extra[0], &alpha, sizeof(float));
	memcpy(&extra[1], &beta, sizeof(float));
	extra[0] &= 0xffffffff;
	extra[1] &= 0xffffffff;
	nk = dn_key(nn, n, key, extra, 2);
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[2] = {&md, &md};

		e = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference,
						   alg, &md, alpha, beta);
		s = dn_create(nn, n, e, "eltwise", &ed, NULL, 2, ids, mds, key,
			      nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	return dn_exec_xy(nn, n, c, x, y, err);
}

/* ------------------------------ Softmax ------------------------------ */

cbd_status nn_dnnl_softmax(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], d2[2];
	int64_t axis = nn_attr_int(n, "axis", nn->opset >= 13 ? -1 : 1);
	dnnl_memory_desc_t md;
	dnnl_softmax_v2_desc_t sd;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk, r;

	s = need_float(n, x, "input", err);
	if (s != CBD_OK)
		return s;
	r = x->ndim;
	if (axis < -r || axis >= (r ? r : 1) + (nn->opset < 13))
		return nn_fail(n, err, CBD_E_FORMAT, "axis %lld out of range",
			       (long long)axis);
	if (axis < 0)
		axis += r;
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, x->ndim, x->dims, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[2] = {&md, &md};

		if (nn->opset < 13) {
			d2[0] = d2[1] = 1;
			for (int i = 0; i < r; i++)
				d2[i < axis ? 0 : 1] *= x->dims[i];
			md_plain(&md, 2, d2);
			axis = 1;
		} else {
			md_plain(&md, r, x->dims);
		}
		e = dnnl_softmax_v2_forward_desc_init(
			&sd, dnnl_forward_inference,
			n->op == CBD_OP_LOGSOFTMAX ? dnnl_softmax_log
						   : dnnl_softmax_accurate,
			&md, &md, (int)axis);
		s = dn_create(nn, n, e, "softmax", &sd, NULL, 2, ids, mds, key,
			      nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	return dn_exec_xy(nn, n, c, x, y, err);
}

/* ------------------------------- Binary ------------------------------ */

static void pad_dims(int n, const int64_t *d, int r, int64_t *out)
{
	for (int i = 0; i < r; i++)
		out[i] = i < r - n ? 1 : d[i - (r - n)];
}

/* Rewrite a broadcast a (op) b -> y, all of rank *r, as the fewest
 * dimensions that describe the same element mapping: dimensions of size 1
 * in y are dropped and neighbours that both operands either span or
 * broadcast alike are merged.  oneDNN's binary kernels cover only a few
 * broadcast patterns of their own (per channel, per spatial...) and fall
 * back to a reference loop for the rest; a Swin attention mask
 * [1,64,3,49,49] + [1,64,1,49,49] becomes [64,3,2401] + [64,1,2401],
 * which they cover. */
static void collapse_bcast(int *r, int64_t *ad, int64_t *bd, int64_t *od)
{
	int k = 0;

	for (int i = 0; i < *r; i++) {
		bool af = ad[i] == od[i], bf = bd[i] == od[i];

		if (od[i] == 1)
			continue;
		if (k > 0 && (ad[k - 1] == od[k - 1]) == af &&
		    (bd[k - 1] == od[k - 1]) == bf) {
			ad[k - 1] *= ad[i];
			bd[k - 1] *= bd[i];
			od[k - 1] *= od[i];
			continue;
		}
		ad[k] = ad[i];
		bd[k] = bd[i];
		od[k] = od[i];
		k++;
	}
	if (k == 0)
		ad[k] = bd[k] = od[k] = 1, k = 1;
	*r = k;
}

static cbd_status legacy_bcast(cbd_nn *nn, const nn_node *n, cbd_err *err)
{
	const nn_val *a = nn_in(nn, n, 0), *b = nn_in(nn, n, 1);

	if (nn->opset >= 7 || !nn_attr_int(n, "broadcast", 0))
		return CBD_OK;
	if (nn_attr_has(n, "axis") &&
	    nn_attr_int(n, "axis", 0) != a->ndim - b->ndim &&
	    nn_attr_int(n, "axis", 0) != -b->ndim)
		return nn_fail(n, err, CBD_E_UNSUPPORTED,
			       "legacy broadcast with axis");
	return CBD_OK;
}

static dnnl_alg_kind_t binary_alg(cbd_op op)
{
	return op == CBD_OP_ADD   ? dnnl_binary_add
	       : op == CBD_OP_SUB ? dnnl_binary_sub
	       : op == CBD_OP_MUL ? dnnl_binary_mul
				  : dnnl_binary_div;
}

/* y = s0 (op) s1 with the operands and result described by m0, m1 and
 * md (y already allocated): the primitive is built once per input shapes
 * and layouts. */
static cbd_status binary_run_to(cbd_nn *nn, nn_node *n,
				const dnnl_memory_desc_t *m0,
				const dnnl_memory_desc_t *m1,
				const dnnl_memory_desc_t *md, void *s0,
				void *s1, void *dst, cbd_err *err)
{
	int64_t key[DN_KEY_MAX];
	int nk = dn_key(nn, n, key, NULL, 0);
	dn_prim *c = dn_cached(n, key, nk);

	if (!c) {
		int ids[3] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[3] = {m0, m1, md};
		dnnl_binary_desc_t bd;
		dnnl_status_t e = dnnl_binary_desc_init(&bd, binary_alg(n->op),
							m0, m1, md);
		cbd_status s = dn_create(nn, n, e, "binary", &bd, NULL, 3, ids,
					 mds, key, nk, &c, err);

		if (s != CBD_OK)
			return s;
	}
	void *bufs[3] = {s0, s1, dst};
	return dn_exec(nn, n, c, bufs, err);
}

static cbd_status binary_run(cbd_nn *nn, nn_node *n,
			     const dnnl_memory_desc_t *m0,
			     const dnnl_memory_desc_t *m1,
			     const dnnl_memory_desc_t *md, void *s0, void *s1,
			     nn_val *y, cbd_err *err)
{
	return binary_run_to(nn, n, m0, m1, md, s0, s1, y->data, err);
}

/* The number of runs over the outer axis when the broadcast operand d1
 * (collapsed, rank r) is broadcast along it and along an inner axis that
 * a full one follows, else 1.  oneDNN's JIT binary kernels take
 * [C, 3, T] + [C, 1, T] and [N, C, T] + [1, C, 1] but fall to the
 * reference loop for [N, C, 3, T] + [1, C, 1, T] (Swin-T's attention mask
 * at batch 32: 1.1 s an Add); N runs of the first form cost N calls. */
static int64_t outer_split(int r, const int64_t *d1, const int64_t *od)
{
	if (r < 3 || d1[0] != 1 || od[0] == 1)
		return 1;
	for (int i = 1; i < r - 1; i++)   /* not the last: per channel */
		if (d1[i] == 1 && od[i] != 1)
			return od[0];
	return 1;
}

/* Both operands in the same oneDNN layout (so of the same shape): the
 * result keeps it. */
static cbd_status binary_same_layout(cbd_nn *nn, nn_node *n, nn_val *a,
				     nn_val *b, nn_val *y, cbd_err *err)
{
	dnnl_memory_desc_t md = *a->layout;
	cbd_status s = nn_val_alloc_md(n, y, a->ndim, a->dims, &md, err);

	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	return binary_run(nn, n, &md, &md, &md, a->data, b->data, y, err);
}

/* A layout that only permutes the axes (NHWC is acdb), with no inner
 * blocks: oneDNN's JIT binary kernels broadcast a plain [1,C,1,1] over it,
 * but over a channel-blocked one (aBcd8b, which grouped convolutions
 * choose) only its reference loop does, 40 times slower than two
 * reorders (RegNet's squeeze-excite). */
static bool unblocked(const dnnl_memory_desc_t *md)
{
	return md->format_kind == dnnl_blocked &&
	       md->format_desc.blocking.inner_nblks == 0;
}

/* The operand in a oneDNN layout when the other is a per-channel or
 * scalar broadcast of it (padded dims all 1 except the channel's), so
 * that the result can keep the layout: the squeeze-excite product
 * x * s[1,C,1,1] of EfficientNet and MobileNetV3 otherwise turned x to
 * plain and the next convolution turned it back, two reorders a block.
 * NULL when there is no such operand (b only when the op commutes). */
static nn_val *layout_side(const nn_node *n, nn_val *a, nn_val *b)
{
	bool comm = n->op == CBD_OP_ADD || n->op == CBD_OP_MUL;

	for (int k = 0; k < (comm ? 2 : 1); k++) {
		nn_val *big = k ? b : a, *sm = k ? a : b;
		bool ok = big->layout && unblocked(big->layout) &&
			  big->ndim >= 2 &&
			  sm->ndim <= big->ndim && sm->dtype == CBD_DT_FLOAT32 &&
			  nn_val_nelem(sm) < nn_val_nelem(big);

		for (int i = 0; ok && i < sm->ndim; i++) {
			int j = i + big->ndim - sm->ndim;

			ok = sm->dims[i] == 1 ||
			     (j == 1 && sm->dims[i] == big->dims[1]);
		}
		if (ok)
			return big;
	}
	return NULL;
}

/* big (op) sm or sm (op) big, the result in big's layout; sm made plain
 * (it is small) and read broadcast. */
static cbd_status binary_keep_layout(cbd_nn *nn, nn_node *n, nn_val *big,
				     nn_val *sm, nn_val *y, cbd_err *err)
{
	int64_t sd[CBD_MAX_DIMS];
	dnnl_memory_desc_t md, m1;
	cbd_status s = nn_val_plain(nn, n, sm, err);

	if (s != CBD_OK)
		return s;
	md = *big->layout;
	s = nn_val_alloc_md(n, y, big->ndim, big->dims, &md, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	pad_dims(sm->ndim, sm->dims, big->ndim, sd);
	md_plain(&m1, big->ndim, sd);
	return binary_run(nn, n, &md, &m1, &md, big->data, sm->data, y, err);
}

/* Results of at most this many elements skip oneDNN's binary primitive. */
#define NN_SMALL_ELT 16384

cbd_status nn_dnnl_binary(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *a = nn_in(nn, n, 0), *b = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t od[CBD_MAX_DIMS], ad[CBD_MAX_DIMS], bd[CBD_MAX_DIMS];
	dnnl_memory_desc_t m0, m1, md;
	bool swap = false, comm = n->op == CBD_OP_ADD || n->op == CBD_OP_MUL;
	cbd_status s;
	int r;

	if (!a || !b)
		return nn_fail(n, err, CBD_E_FORMAT, "needs two inputs");
	s = legacy_bcast(nn, n, err);
	if (s != CBD_OK)
		return s;
	if (a->layout || b->layout) {
		nn_val *big;

		if (a->layout && b->layout && a->ndim == b->ndim &&
		    dnnl_memory_desc_equal(a->layout, b->layout))
			return binary_same_layout(nn, n, a, b, y, err);
		if (a->dtype == CBD_DT_FLOAT32 && b->dtype == CBD_DT_FLOAT32 &&
		    (big = layout_side(n, a, b)) != NULL)
			return binary_keep_layout(nn, n, big, big == a ? b : a,
						  y, err);
		s = nn_val_plain(nn, n, a, err);
		if (s == CBD_OK)
			s = nn_val_plain(nn, n, b, err);
		if (s != CBD_OK)
			return s;
	}
	if (a->dtype != CBD_DT_FLOAT32 || b->dtype != CBD_DT_FLOAT32)
		return nn_op_binary(nn, n, err);
	if (!nn_broadcast(a->ndim, a->dims, b->ndim, b->dims, &r, od))
		return nn_fail(n, err, CBD_E_SHAPE,
			       "shapes do not broadcast");
	/* a small result costs less as a plain loop than as a oneDNN
	 * primitive call (the same IEEE float32 operation per element) */
	int64_t nel = 1;
	for (int i = 0; i < r; i++)
		nel *= od[i];
	if (nel <= NN_SMALL_ELT)
		return nn_op_binary(nn, n, err);
	pad_dims(a->ndim, a->dims, r, ad);
	pad_dims(b->ndim, b->dims, r, bd);
	if (memcmp(ad, od, sizeof(int64_t) * (size_t)r) != 0) {
		if (!comm || memcmp(bd, od, sizeof(int64_t) * (size_t)r) != 0)
			return nn_op_binary(nn, n, err);
		swap = true;
	}
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, r, od, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	collapse_bcast(&r, ad, bd, od);
	{
		int64_t *d0 = swap ? bd : ad, *d1 = swap ? ad : bd;
		char *p0 = swap ? b->data : a->data, *p1 = swap ? a->data : b->data;
		int64_t outer = outer_split(r, d1, od), step = 1;

		if (outer > 1) {      /* one run per index of the outer axis */
			r--, d0++, d1++;
			for (int i = 0; i < r; i++)
				step *= od[i + 1];
		}
		md_plain(&m0, r, d0);
		md_plain(&m1, r, d1);
		md_plain(&md, r, outer > 1 ? od + 1 : od);
		for (int64_t k = 0; k < outer; k++) {
			float *yk = (float *)y->data + k * step;

			s = binary_run_to(nn, n, &m0, &m1, &md,
					  p0 + k * step * (int64_t)sizeof(float),
					  p1, yk, err);
			if (s != CBD_OK)
				return s;
		}
		return CBD_OK;
	}
}

/* ------------------------------- MatMul ------------------------------ */

/* A [..., M, K] times a B whose batch dimensions are all 1 is one 2-D
 * product of all of A's rows, [prod(...) * M, K] x [K, N], with the same
 * row-major output.  oneDNN runs a batched matmul as one small GEMM per
 * batch entry: a ViT's qkv projection, [197, 1, 384] x [384, 1152], is
 * 197 products of one row, ten times slower than the single GEMM. */
static void fold_rows(int *r, int64_t *ad, int64_t *bd, int64_t *od)
{
	int64_t rows = 1;

	for (int i = 0; i < *r - 2; i++) {
		if (bd[i] != 1)
			return;
		rows *= ad[i];
	}
	if (*r == 2)
		return;
	ad[0] = rows * ad[*r - 2];
	ad[1] = ad[*r - 1];
	bd[0] = bd[*r - 2];
	bd[1] = bd[*r - 1];
	od[0] = ad[0];
	od[1] = od[*r - 1];
	*r = 2;
}

/* MatMul's and Gemm's A and B: float32 both. */
static cbd_status need_float_ab(const nn_node *n, const nn_val *a,
				const nn_val *b, cbd_err *err)
{
	cbd_status s = need_float(n, a, "input A", err);

	return s == CBD_OK ? need_float(n, b, "input B", err) : s;
}

/* Operands of one non-float32 type: the typed plain kernel's. */
static bool typed_operands(const nn_val *a, const nn_val *b)
{
	return a && b && a->dtype != CBD_DT_FLOAT32 && a->dtype == b->dtype;
}

/* A float32 product of at most NN_SPARSE_ROWS rows of A by a constant B
 * with at most one nonzero in 8 goes to the plain kernel, which skips the
 * zero terms: the compiled circuit's hash rounds multiply one row by
 * 0/±1/power-of-two matrices thousands of times a sample, and oneDNN
 * multiplies them densely.  B's density is looked at once per node. */
#define NN_SPARSE_ROWS 4

static bool small_by_sparse(nn_node *n, const nn_val *a, const nn_val *b)
{
	if (a->dtype != CBD_DT_FLOAT32 || b->dtype != CBD_DT_FLOAT32 ||
	    !b->is_const || b->ndim != 2 || a->ndim < 1 ||
	    a->dims[a->ndim - 1] == 0 ||
	    (a->ndim > 1 ? nn_val_nelem(a) / (size_t)a->dims[a->ndim - 1]
			 : 1) > NN_SPARSE_ROWS)
		return false;
	if (n->sparse_b == 0)
		n->sparse_b = nn_mostly_zero(b) ? 1 : -1;
	return n->sparse_b > 0;
}

/* A product by constant weights [K, N] (a Linear layer): oneDNN chooses
 * the weights' layout and the constant is reordered into it once, where
 * a matmul on plain weights packs them again on every call (a ViT's
 * MLP weights are 2.4 MB a layer). */
static cbd_status mm_exec_const_b(cbd_nn *nn, nn_node *n, dn_prim *c,
				  nn_val *a, nn_val *b, nn_val *y, cbd_err *err)
{
	dnnl_status_t st = wei_reordered(nn, c, b);

	if (st != dnnl_success)
		return dn_status(n, st, "reorder of the weights", err);
	void *bufs[3] = {a->data, c->reo[REO_WEI].buf, y->data};
	return dn_exec(nn, n, c, bufs, err);
}

static cbd_status mm_const_b(cbd_nn *nn, nn_node *n, nn_val *a, nn_val *b,
			     nn_val *y, const dnnl_memory_desc_t *m0,
			     const dnnl_memory_desc_t *m1,
			     const dnnl_memory_desc_t *md, const int64_t *key,
			     int nk, cbd_err *err)
{
	struct nn_dnnl *d = nn->dnnl;
	static const int ids[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS,
				   DNNL_ARG_DST};
	dnnl_memory_desc_t any, chosen[3] = {*m0, *m1, *md};
	dnnl_matmul_desc_t mm;
	dnnl_primitive_desc_t pd = NULL;
	dn_prim *c;
	dnnl_status_t st;

	dnnl_memory_desc_init_by_tag(&any, 2, m1->dims, dnnl_f32,
				     dnnl_format_tag_any);
	c = cbd_xcalloc(1, sizeof(*c), err);
	if (!c)
		return CBD_E_NOMEM;
	st = dnnl_matmul_desc_init(&mm, m0, &any, NULL, md);
	if (st == dnnl_success)
		st = dnnl_primitive_desc_create(&pd, &mm, NULL, d->eng, NULL);
	if (st == dnnl_success) {
		chosen[1] = *dnnl_primitive_desc_query_md(
			pd, dnnl_query_weights_md, 0);
		st = dnnl_primitive_create(&c->p, pd);
		dnnl_primitive_desc_destroy(pd);
	}
	for (int i = 0; st == dnnl_success && i < 3; i++) {
		c->args[i].arg = ids[i];
		st = dnnl_memory_create(&c->args[i].memory, &chosen[i], d->eng,
					DNNL_MEMORY_NONE);
		c->nargs = i + 1;
	}
	if (st == dnnl_success)
		st = reo_make(nn, &c->reo[REO_WEI], m1, &chosen[1], true);
	if (st != dnnl_success) {
		dn_prim_free(c);
		return dn_status(n, st, "matmul", err);
	}
	memcpy(c->key, key, sizeof(int64_t) * (size_t)nk);
	c->nkey = nk;
	c->dst_md = *md;
	n->state = c;
	n->state_free = dn_prim_free;
	if (c->reo[REO_WEI].p)
		return mm_exec_const_b(nn, n, c, a, b, y, err);
	void *bufs[3] = {a->data, b->data, y->data};
	return dn_exec(nn, n, c, bufs, err);
}

cbd_status nn_dnnl_matmul(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *a = nn_in(nn, n, 0), *b = nn_in(nn, n, 1), *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], ad[CBD_MAX_DIMS], bd[CBD_MAX_DIMS],
		od[CBD_MAX_DIMS], yd[CBD_MAX_DIMS];
	dnnl_memory_desc_t m0, m1, md;
	dnnl_matmul_desc_t mm;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk, r, ra, rb, nb, ny = 0;

	if (typed_operands(a, b))
		return nn_matmul_plain(nn, n, err);
	if (a && b && small_by_sparse(n, a, b))
		return nn_matmul_plain(nn, n, err);
	s = need_float_ab(n, a, b, err);
	if (s != CBD_OK)
		return s;
	if (a->ndim < 1 || b->ndim < 1)
		return nn_fail(n, err, CBD_E_SHAPE, "scalar operand");
	/* promote 1-D operands to matrices */
	ra = a->ndim == 1 ? 2 : a->ndim;
	rb = b->ndim == 1 ? 2 : b->ndim;
	if (a->ndim == 1) {
		ad[0] = 1;
		ad[1] = a->dims[0];
	} else {
		memcpy(ad, a->dims, sizeof(int64_t) * (size_t)ra);
	}
	if (b->ndim == 1) {
		bd[0] = b->dims[0];
		bd[1] = 1;
	} else {
		memcpy(bd, b->dims, sizeof(int64_t) * (size_t)rb);
	}
	if (ad[ra - 1] != bd[rb - 2])
		return nn_fail(n, err, CBD_E_SHAPE,
			       "inner dimensions %lld and %lld differ",
			       (long long)ad[ra - 1], (long long)bd[rb - 2]);
	if (!nn_broadcast(ra - 2, ad, rb - 2, bd, &nb, od))
		return nn_fail(n, err, CBD_E_SHAPE,
			       "batch dimensions do not broadcast");
	r = nb + 2;
	{
		int64_t t[CBD_MAX_DIMS + 2];

		pad_dims(ra, ad, r, t);
		memcpy(ad, t, sizeof(int64_t) * (size_t)r);
		pad_dims(rb, bd, r, t);
		memcpy(bd, t, sizeof(int64_t) * (size_t)r);
	}
	od[r - 2] = ad[r - 2];
	od[r - 1] = bd[r - 1];
	for (int i = 0; i < nb; i++)
		yd[ny++] = od[i];
	if (a->ndim > 1)
		yd[ny++] = od[r - 2];
	if (b->ndim > 1)
		yd[ny++] = od[r - 1];
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, ny, yd, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	if (ad[r - 1] == 0) {
		memset(y->data, 0, y->nbytes);
		return CBD_OK;
	}
	s = nn_charge(n, work_of((int64_t[2]){(int64_t)nn_val_nelem(y),
					      ad[r - 1]}, 2), err);
	if (s != CBD_OK)
		return s;
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[3] = {&m0, &m1, &md};

		fold_rows(&r, ad, bd, od);
		md_plain(&m0, r, ad);
		md_plain(&m1, r, bd);
		md_plain(&md, r, od);
		if (b->is_const && r == 2)
			return mm_const_b(nn, n, a, b, y, &m0, &m1, &md, key,
					  nk, err);
		e = dnnl_matmul_desc_init(&mm, &m0, &m1, NULL, &md);
		s = dn_create(nn, n, e, "matmul", &mm, NULL, 3, ids, mds, key,
			      nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	if (c->reo[REO_WEI].p)
		return mm_exec_const_b(nn, n, c, a, b, y, err);
	void *bufs[3] = {a->data, b->data, y->data};
	return dn_exec(nn, n, c, bufs, err);
}

/* -------------------------------- Gemm ------------------------------- */

/* y[M,N] = beta * C broadcast (C: scalar, [N], [M,1], [1,N], [M,N]...). */
static cbd_status gemm_fill_c(const nn_node *n, const nn_val *cv, float beta,
			      int64_t M, int64_t N, float *y, cbd_err *err)
{
	int64_t cd[2], od[2] = {M, N};
	const float *cp = cv->data;

	if (cv->ndim > 2 || cv->dtype != CBD_DT_FLOAT32)
		return nn_fail(n, err, CBD_E_SHAPE, "C must be float32, rank <= 2");
	pad_dims(cv->ndim, cv->dims, 2, cd);
	for (int i = 0; i < 2; i++)
		if (cd[i] != 1 && cd[i] != od[i])
			return nn_fail(n, err, CBD_E_SHAPE,
				       "C does not broadcast to [%lld,%lld]",
				       (long long)M, (long long)N);
	for (int64_t i = 0; i < M; i++)
		for (int64_t j = 0; j < N; j++)
			y[i * N + j] = beta * cp[(cd[0] > 1 ? i : 0) * cd[1] +
						  (cd[1] > 1 ? j : 0)];
	return CBD_OK;
}

static cbd_status gemm_build(cbd_nn *nn, nn_node *n, int64_t M, int64_t K,
			     int64_t N, bool ta, bool tb, float alpha,
			     bool sum, const int64_t *key, int nk,
			     dn_prim **c, cbd_err *err)
{
	dnnl_memory_desc_t m0, m1, md;
	dnnl_matmul_desc_t mm;
	dnnl_dims_t d0 = {M, K}, s0 = {ta ? 1 : K, ta ? M : 1};
	dnnl_dims_t d1 = {K, N}, s1 = {tb ? 1 : N, tb ? K : 1};
	int64_t od[2] = {M, N};
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	int ids[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
	const dnnl_memory_desc_t *mds[3] = {&m0, &m1, &md};
	dnnl_status_t e;
	cbd_status s;

	dnnl_memory_desc_init_by_strides(&m0, 2, d0, dnnl_f32, s0);
	dnnl_memory_desc_init_by_strides(&m1, 2, d1, dnnl_f32, s1);
	md_plain(&md, 2, od);
	e = dnnl_matmul_desc_init(&mm, &m0, &m1, NULL, &md);
	if (e == dnnl_success && (alpha != 1.0f || sum)) {
		dnnl_primitive_attr_create(&attr);
		if (alpha != 1.0f)
			dnnl_primitive_attr_set_output_scales(attr, 1, 0,
							      &alpha);
		if (sum) {
			dnnl_post_ops_create(&po);
			dnnl_post_ops_append_sum(po, 1.0f);
			dnnl_primitive_attr_set_post_ops(attr, po);
		}
	}
	s = dn_create(nn, n, e, "gemm", &mm, attr, 3, ids, mds, key, nk, c,
		      err);
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return s;
}

cbd_status nn_dnnl_gemm(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *a = nn_in(nn, n, 0), *b = nn_in(nn, n, 1), *cv = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	bool ta = nn_attr_int(n, "transA", 0), tb = nn_attr_int(n, "transB", 0);
	float alpha = nn_attr_float(n, "alpha", 1.0f);
	float beta = nn_attr_float(n, "beta", 1.0f);
	int64_t key[DN_KEY_MAX], M, K, N, od[2];
	bool sum;
	dn_prim *c;
	cbd_status s;
	int nk;

	if (typed_operands(a, b))
		return nn_matmul_plain(nn, n, err);
	s = need_float_ab(n, a, b, err);
	if (s != CBD_OK)
		return s;
	if (a->ndim != 2 || b->ndim != 2)
		return nn_fail(n, err, CBD_E_SHAPE, "A and B must be 2-D");
	M = a->dims[ta ? 1 : 0];
	K = a->dims[ta ? 0 : 1];
	N = b->dims[tb ? 0 : 1];
	if (b->dims[tb ? 1 : 0] != K)
		return nn_fail(n, err, CBD_E_SHAPE,
			       "inner dimensions %lld and %lld differ",
			       (long long)K, (long long)b->dims[tb ? 1 : 0]);
	od[0] = M;
	od[1] = N;
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, 2, od, err);
	if (s == CBD_OK)
		s = nn_charge(n, work_of((int64_t[2]){M * N, K}, 2), err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	sum = cv && beta != 0.0f;
	if (sum) {
		s = gemm_fill_c(n, cv, beta, M, N, y->data, err);
		if (s != CBD_OK)
			return s;
	} else {
		memset(y->data, 0, y->nbytes);
	}
	if (K == 0)
		return CBD_OK;
	{
		int64_t extra[1] = {sum};

		nk = dn_key(nn, n, key, extra, 1);
	}
	c = dn_cached(n, key, nk);
	if (!c) {
		s = gemm_build(nn, n, M, K, N, ta, tb, alpha, sum, key, nk, &c,
			       err);
		if (s != CBD_OK)
			return s;
	}
	void *bufs[3] = {a->data, b->data, y->data};
	return dn_exec(nn, n, c, bufs, err);
}

/* ----------------------------- ReduceMean ---------------------------- */

cbd_status nn_dnnl_reducemean(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], kd[CBD_MAX_DIMS], yd[CBD_MAX_DIMS];
	bool red[CBD_MAX_DIMS], noop, keep = nn_attr_int(n, "keepdims", 1);
	bool any = false;
	dnnl_memory_desc_t m0, m1;
	dnnl_reduction_desc_t rd;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk, ny = 0;

	s = need_float(n, x, "input", err);
	if (s == CBD_OK)
		s = nn_reduce_axes(nn, n, x, red, &noop, err);
	if (s != CBD_OK)
		return s;
	for (int i = 0; i < x->ndim; i++) {
		kd[i] = red[i] ? 1 : x->dims[i];
		any |= red[i] && x->dims[i] != 1;
		if (!red[i] || keep)
			yd[ny++] = kd[i];
	}
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, ny, yd, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	if (!any) {
		memcpy(y->data, x->data, y->nbytes);
		return CBD_OK;
	}
	if (nn_val_nelem(x) == 0)
		return nn_fail(n, err, CBD_E_SHAPE, "mean of nothing");
	{
		int64_t extra[CBD_MAX_DIMS];

		for (int i = 0; i < x->ndim; i++)
			extra[i] = red[i];
		nk = dn_key(nn, n, key, extra, x->ndim);
	}
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[2] = {&m0, &m1};

		md_plain(&m0, x->ndim, x->dims);
		md_plain(&m1, x->ndim, kd);
		e = dnnl_reduction_desc_init(&rd, dnnl_reduction_mean, &m0, &m1,
					     0.0f, 0.0f);
		s = dn_create(nn, n, e, "reduction", &rd, NULL, 2, ids, mds,
			      key, nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	return dn_exec_xy(nn, n, c, x, y, err);
}

/* ------------------------- LayerNormalization ------------------------ */

/* float32 over the last axis with a Scale and B of that axis' length (the
 * form every torch export has) and no Mean/InvStdDev outputs: oneDNN's
 * layer normalisation, rows [outer, C]; anything else the plain-C kernel
 * (norm_ops.c), which also checks the inputs' types and shapes. */
cbd_status nn_dnnl_layernorm(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	nn_val *x = nn_in(nn, n, 0), *sc = nn_in(nn, n, 1), *b = nn_in(nn, n, 2);
	nn_val *y = nn_out(nn, n, 0);
	int64_t key[DN_KEY_MAX], axis = nn_attr_int(n, "axis", -1), rows = 1, C;
	dnnl_memory_desc_t md, mc;
	dnnl_layer_normalization_desc_t ld;
	dn_prim *c;
	cbd_status s;
	dnnl_status_t e;
	int nk;

	if (!x || !sc || !b || x->dtype != CBD_DT_FLOAT32 || x->ndim < 1 ||
	    sc->dtype != CBD_DT_FLOAT32 || b->dtype != CBD_DT_FLOAT32 ||
	    (axis != -1 && axis != x->ndim - 1) || nn_out(nn, n, 1) ||
	    nn_out(nn, n, 2))
		return nn_op_layernorm(nn, n, err);
	C = x->dims[x->ndim - 1];
	if (C < 1 || nn_val_nelem(sc) != (size_t)C ||
	    nn_val_nelem(b) != (size_t)C || sc->ndim < 1 || b->ndim < 1 ||
	    sc->dims[sc->ndim - 1] != C || b->dims[b->ndim - 1] != C ||
	    sc->ndim > x->ndim || b->ndim > x->ndim)
		return nn_op_layernorm(nn, n, err);
	s = nn_val_alloc(n, y, CBD_DT_FLOAT32, x->ndim, x->dims, err);
	if (s != CBD_OK || nn_val_nelem(y) == 0)
		return s;
	for (int i = 0; i < x->ndim - 1; i++)
		rows *= x->dims[i];
	nk = dn_key(nn, n, key, NULL, 0);
	c = dn_cached(n, key, nk);
	if (!c) {
		int ids[4] = {DNNL_ARG_SRC, DNNL_ARG_SCALE, DNNL_ARG_SHIFT,
			      DNNL_ARG_DST};
		const dnnl_memory_desc_t *mds[4] = {&md, &mc, &mc, &md};

		md_plain(&md, 2, (int64_t[2]){rows, C});
		md_plain(&mc, 1, &C);
		e = dnnl_layer_normalization_forward_desc_init(
			&ld, dnnl_forward_inference, &md, NULL,
			nn_attr_float(n, "epsilon", 1e-5f),
			dnnl_use_scale | dnnl_use_shift);
		s = dn_create(nn, n, e, "layer normalization", &ld, NULL, 4,
			      ids, mds, key, nk, &c, err);
		if (s != CBD_OK)
			return s;
	}
	void *bufs[4] = {x->data, sc->data, b->data, y->data};
	return dn_exec(nn, n, c, bufs, err);
}
