/*
 * og.c — a small ONNX graph writer over the protobuf-c bindings.
 *
 * The compiler describes the circuit as calls like og_add(g, a, b); each call
 * appends one NodeProto to the graph g and returns the new value (a fresh
 * name "<prefix><n>" and its element type).  Constants become initializers of
 * the main graph — subgraphs of If and Loop read them from the outer scope,
 * so a constant is stored once however many subgraphs use it — and every
 * one is deduplicated by content, since the hash rounds use the same
 * matrices and scalars thousands of times.
 *
 * Opset: nodes are written for the context's opset (og_set_opset; default
 * OG_OPSET = 17, the highest Debian's onnx 1.12 checker knows and the
 * lowest the circuit needs), which og_pack_model writes into the model.  No
 * operator of opset 18 is used, and the forms that changed in 18 are
 * written so that they are valid either side: og_reduce gives ReduceMin /
 * ReduceMax their axes as an attribute up to 17 and as an input from 18
 * (ReduceSum: an input from 13); og_split passes the split sizes as an
 * input (valid from 13) rather than num_outputs (only from 18).
 *
 * Memory: every message, string and array lives in one arena owned by the
 * og_ctx (chunks of 1 MiB, larger requests on their own) and is released by
 * og_free().  Growing arrays are copied into a block twice the size; the old
 * block stays in the arena, which at most doubles what the final arrays need.
 * The first failed allocation sets c->failed; from then on every call returns
 * NULL and og_status() reports CBD_E_NOMEM, so the compiler checks once.
 */
#include "compile_internal.h"

#include <stdio.h>
#include <string.h>

#define OG_CHUNK ((size_t)1 << 20)
#define OG_DEDUP_MAX ((size_t)1 << 30)  /* constants up to this size are shared */
#define OG_DEDUP_SLOTS 16384

struct og_block {
	struct og_block *next;
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

struct og_graph {
	og_ctx *ctx;
	Onnx__GraphProto *gp;
	size_t cap_node, cap_in, cap_out, cap_init;
};

struct og_dedup {
	uint64_t hash;
	Onnx__TensorProto *t;
	og_t v;
};

struct og_ctx {
	struct og_block *blocks;
	bool failed;
	const char *prefix;
	uint64_t counter;
	og_graph *main;
	int64_t opset;            /* default-domain opset the nodes are for */
	struct og_dedup *dedup;   /* OG_DEDUP_SLOTS, open addressing */
	size_t n_dedup;
};

og_ctx *og_new(const char *prefix)
{
	og_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->dedup = calloc(OG_DEDUP_SLOTS, sizeof(*c->dedup));
	if (!c->dedup) {
		free(c);
		return NULL;
	}
	c->prefix = prefix;
	c->opset = OG_OPSET;
	c->main = og_sub(c, "main");
	if (!c->main) {
		og_free(c);
		return NULL;
	}
	return c;
}

void og_free(og_ctx *c)
{
	if (!c)
		return;
	for (struct og_block *b = c->blocks, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	free(c->dedup);
	free(c);
}

cbd_status og_status(const og_ctx *c, cbd_err *err)
{
	if (!c || c->failed)
		return cbd_err_set(err, CBD_E_NOMEM,
				   "out of memory building the circuit graph");
	return CBD_OK;
}

void *og_alloc(og_ctx *c, size_t n)
{
	struct og_block *b;
	size_t need = (n + 15) & ~(size_t)15;

	if (c->failed)
		return NULL;
	b = c->blocks;
	if (!b || b->cap - b->used < need) {
		size_t cap = need > OG_CHUNK / 2 ? need : OG_CHUNK;

		b = malloc(sizeof(*b) + cap);
		if (!b) {
			c->failed = true;
			return NULL;
		}
		b->cap = cap;
		b->used = 0;
		/* a large block goes behind the current one so the current
		 * one keeps filling */
		if (c->blocks && cap != OG_CHUNK) {
			b->next = c->blocks->next;
			c->blocks->next = b;
		} else {
			b->next = c->blocks;
			c->blocks = b;
		}
	}
	b->used += need;
	return memset(b->data + b->used - need, 0, need);
}

const char *og_strdup(og_ctx *c, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = og_alloc(c, n);

	if (p)
		memcpy(p, s, n);
	return p;
}

/* Append item to a growing pointer array of the arena. */
static bool og_push(og_ctx *c, void ***arr, size_t *n, size_t *cap,
		    void *item)
{
	if (!item || c->failed)
		return false;
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		void **na = og_alloc(c, nc * sizeof(*na));

		if (!na)
			return false;
		if (*n)
			memcpy(na, *arr, *n * sizeof(*na));
		*arr = na;
		*cap = nc;
	}
	(*arr)[(*n)++] = item;
	return true;
}

og_graph *og_sub(og_ctx *c, const char *name)
{
	og_graph *g = og_alloc(c, sizeof(*g));
	Onnx__GraphProto *gp = og_alloc(c, sizeof(*gp));

	if (!g || !gp)
		return NULL;
	onnx__graph_proto__init(gp);
	gp->name = (char *)og_strdup(c, name);
	g->ctx = c;
	g->gp = gp;
	return g;
}

void og_set_opset(og_ctx *c, int64_t opset)
{
	c->opset = opset;
}

int64_t og_opset(const og_ctx *c)
{
	return c->opset;
}

og_graph *og_main(og_ctx *c)
{
	return c->main;
}

og_ctx *og_graph_ctx(og_graph *g)
{
	return g->ctx;
}

Onnx__GraphProto *og_graph_proto(og_graph *g)
{
	return g ? g->gp : NULL;
}

static og_t og_val(og_ctx *c, const char *name, int type)
{
	og_v *v = og_alloc(c, sizeof(*v));

	if (!v || !name)
		return NULL;
	v->name = name;
	v->type = type;
	return v;
}

static const char *og_fresh(og_ctx *c)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s%llu", c->prefix,
		 (unsigned long long)c->counter++);
	return og_strdup(c, buf);
}

og_t og_ref(og_ctx *c, const char *name, int type)
{
	return og_val(c, og_strdup(c, name), type);
}

static Onnx__ValueInfoProto *og_vinfo_r(og_ctx *c, og_t v, bool scalar)
{
	Onnx__ValueInfoProto *vi = og_alloc(c, sizeof(*vi));
	Onnx__TypeProto *tp = og_alloc(c, sizeof(*tp));
	Onnx__TypeProto__Tensor *tt = og_alloc(c, sizeof(*tt));

	if (!vi || !tp || !tt || !v)
		return NULL;
	onnx__value_info_proto__init(vi);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	tt->has_elem_type = 1;
	tt->elem_type = v->type;
	if (scalar) {
		tt->shape = og_alloc(c, sizeof(*tt->shape));
		if (!tt->shape)
			return NULL;
		onnx__tensor_shape_proto__init(tt->shape);
	}
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	vi->name = (char *)v->name;
	vi->type = tp;
	return vi;
}

static Onnx__ValueInfoProto *og_vinfo(og_ctx *c, og_t v)
{
	return og_vinfo_r(c, v, false);
}

static og_t og_input_r(og_graph *g, int type, bool scalar)
{
	og_ctx *c = g ? g->ctx : NULL;
	og_t v;

	if (!c)
		return NULL;
	v = og_val(c, og_fresh(c), type);
	if (!og_push(c, (void ***)&g->gp->input, &g->gp->n_input, &g->cap_in,
		     og_vinfo_r(c, v, scalar)))
		return NULL;
	return v;
}

og_t og_input(og_graph *g, int type)
{
	return og_input_r(g, type, false);
}

og_t og_input_scalar(og_graph *g, int type)
{
	return og_input_r(g, type, true);
}

void og_output(og_graph *g, og_t v)
{
	if (g)
		og_push(g->ctx, (void ***)&g->gp->output, &g->gp->n_output,
			&g->cap_out, og_vinfo(g->ctx, v));
}

void og_set_shape(og_graph *g, og_t v, int ndim, const int64_t *dims)
{
	og_ctx *c = g ? g->ctx : NULL;
	Onnx__ValueInfoProto **vis[2];
	size_t nv[2];

	if (!c || !v || c->failed)
		return;
	vis[0] = g->gp->input;
	nv[0] = g->gp->n_input;
	vis[1] = g->gp->output;
	nv[1] = g->gp->n_output;
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < nv[s]; i++) {
			Onnx__ValueInfoProto *vi = vis[s][i];
			Onnx__TypeProto__Tensor *tt;
			Onnx__TensorShapeProto *sh;

			if (strcmp(vi->name, v->name) || !vi->type ||
			    !vi->type->tensor_type)
				continue;
			tt = vi->type->tensor_type;
			sh = og_alloc(c, sizeof(*sh));
			if (!sh)
				return;
			onnx__tensor_shape_proto__init(sh);
			sh->dim = og_alloc(c, (size_t)(ndim ? ndim : 1) *
						  sizeof(*sh->dim));
			if (!sh->dim)
				return;
			for (int d = 0; d < ndim; d++) {
				Onnx__TensorShapeProto__Dimension *dm =
					og_alloc(c, sizeof(*dm));

				if (!dm)
					return;
				onnx__tensor_shape_proto__dimension__init(dm);
				if (dims[d] >= 0) {
					dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
					dm->dim_value = dims[d];
				} else {
					dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
					dm->dim_param = (char *)og_strdup(c, "N");
				}
				sh->dim[d] = dm;
			}
			sh->n_dim = (size_t)ndim;
			tt->shape = sh;
		}
}

void og_add_input_vi(og_graph *g, Onnx__ValueInfoProto *vi)
{
	if (g)
		og_push(g->ctx, (void ***)&g->gp->input, &g->gp->n_input,
			&g->cap_in, vi);
}

void og_add_output_vi(og_graph *g, Onnx__ValueInfoProto *vi)
{
	if (g)
		og_push(g->ctx, (void ***)&g->gp->output, &g->gp->n_output,
			&g->cap_out, vi);
}

void og_add_node(og_graph *g, Onnx__NodeProto *n)
{
	if (g)
		og_push(g->ctx, (void ***)&g->gp->node, &g->gp->n_node,
			&g->cap_node, n);
}

void og_add_init(og_ctx *c, Onnx__TensorProto *t)
{
	og_graph *m = c->main;

	og_push(c, (void ***)&m->gp->initializer, &m->gp->n_initializer,
		&m->cap_init, t);
}

static Onnx__AttributeProto *og_attr_proto(og_ctx *c, const og_attr *a)
{
	Onnx__AttributeProto *p = og_alloc(c, sizeof(*p));

	if (!p)
		return NULL;
	onnx__attribute_proto__init(p);
	p->name = (char *)og_strdup(c, a->name);
	p->has_type = 1;
	p->type = (Onnx__AttributeProto__AttributeType)a->kind;
	switch (a->kind) {
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
		p->has_i = 1;
		p->i = a->i;
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
		p->has_f = 1;
		p->f = a->f;
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
		p->has_s = 1;
		p->s.data = (uint8_t *)og_strdup(c, a->s);
		p->s.len = strlen(a->s);
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH:
		if (!a->g)
			return NULL;
		p->g = a->g->gp;
		break;
	case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
		p->n_ints = (size_t)a->n_ints;
		p->ints = og_alloc(c, (size_t)(a->n_ints ? a->n_ints : 1) *
					 sizeof(*p->ints));
		if (!p->ints)
			return NULL;
		memcpy(p->ints, a->ints, (size_t)a->n_ints * sizeof(*p->ints));
		break;
	default:
		return NULL;    /* the compiler uses no other kind */
	}
	return p;
}

void og_opn(og_graph *g, const char *op, int nout, og_t *out,
	    const int *out_types, int nin, const og_t *in, int nattr,
	    const og_attr *attr)
{
	og_ctx *c = g ? g->ctx : NULL;
	Onnx__NodeProto *n;

	if (!c || c->failed) {
		for (int i = 0; i < nout; i++)
			out[i] = NULL;
		return;
	}
	for (int i = 0; i < nin; i++)
		if (!in[i]) {
			c->failed = true;
			return;
		}
	n = og_alloc(c, sizeof(*n));
	if (!n)
		return;
	onnx__node_proto__init(n);
	n->op_type = (char *)og_strdup(c, op);
	n->n_input = (size_t)nin;
	n->input = og_alloc(c, (size_t)(nin ? nin : 1) * sizeof(char *));
	n->n_output = (size_t)nout;
	n->output = og_alloc(c, (size_t)nout * sizeof(char *));
	n->n_attribute = (size_t)nattr;
	n->attribute = og_alloc(c, (size_t)(nattr ? nattr : 1) *
				       sizeof(*n->attribute));
	if (!n->input || !n->output || !n->attribute)
		return;
	for (int i = 0; i < nin; i++)
		n->input[i] = (char *)in[i]->name;
	for (int i = 0; i < nattr; i++)
		n->attribute[i] = og_attr_proto(c, &attr[i]);
	for (int i = 0; i < nout; i++) {
		if (!out[i])
			out[i] = og_val(c, og_fresh(c), out_types[i]);
		if (!out[i])
			return;
		n->output[i] = (char *)out[i]->name;
	}
	n->name = n->output[0];
	og_add_node(g, n);
}

og_t og_op_named(og_graph *g, const char *op, const char *out_name,
		 int out_type, int nin, const og_t *in, int nattr,
		 const og_attr *attr)
{
	og_t out = NULL;
	og_ctx *c = g ? g->ctx : NULL;

	if (!c)
		return NULL;
	/* og_opn keeps an output value it is given */
	if (out_name) {
		out = og_val(c, og_strdup(c, out_name), out_type);
		if (!out)
			return NULL;
	}
	og_opn(g, op, 1, &out, &out_type, nin, in, nattr, attr);
	/* a node named after a graph output could clash with a node of the
	 * classifier (or of the circuit a nested one completes): give it a
	 * name of the compiler's own */
	if (out_name && g->gp->n_node && !c->failed)
		g->gp->node[g->gp->n_node - 1]->name = (char *)og_fresh(c);
	return out;
}

og_t og_op(og_graph *g, const char *op, int out_type, int nin,
	   const og_t *in, int nattr, const og_attr *attr)
{
	return og_op_named(g, op, NULL, out_type, nin, in, nattr, attr);
}

/* ---- constants ----------------------------------------------------- */

static size_t og_type_size(int type)
{
	switch (type) {
	case OG_U8: case OG_I8: case OG_BOOL: return 1;
	case OG_U16: return 2;
	case OG_F32: case OG_I32: case OG_U32: return 4;
	case OG_F64: case OG_I64: case OG_U64: return 8;
	default: return 0;
	}
}

static uint64_t og_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* ONNX raw_data is little-endian whatever the host: store explicitly. */
static void og_store_le(uint8_t *dst, const void *src, size_t nelem,
			size_t size)
{
	const unsigned char *s = src;

	for (size_t i = 0; i < nelem; i++) {
		uint64_t v = 0;

		memcpy(&v, s + i * size, size);  /* host order, low bytes */
		if (size < 8)
			v &= ((uint64_t)1 << (8 * size)) - 1;
		for (size_t k = 0; k < size; k++)
			dst[i * size + k] = (uint8_t)(v >> (8 * k));
	}
}

og_t og_const(og_ctx *c, int type, int ndim, const int64_t *dims,
	      const void *data)
{
	size_t size = og_type_size(type), nelem = 1, nb;
	uint64_t h = 0xcbf29ce484222325ull;
	Onnx__TensorProto *t;
	uint8_t *raw;

	if (c->failed || !size)
		return NULL;
	for (int i = 0; i < ndim; i++)
		nelem *= (size_t)dims[i];
	nb = nelem * size;
	raw = og_alloc(c, nb ? nb : 1);
	if (!raw)
		return NULL;
	og_store_le(raw, data, nelem, size);
	h = og_fnv(h, &type, sizeof(type));
	h = og_fnv(h, dims, (size_t)ndim * sizeof(*dims));
	h = og_fnv(h, &ndim, sizeof(ndim));
	h = og_fnv(h, raw, nb);
	if (nb <= OG_DEDUP_MAX && c->n_dedup < OG_DEDUP_SLOTS / 2) {
		for (size_t s = h % OG_DEDUP_SLOTS;; s = (s + 1) % OG_DEDUP_SLOTS) {
			struct og_dedup *d = &c->dedup[s];

			if (!d->t)
				break;
			if (d->hash == h && d->t->data_type == type &&
			    d->t->n_dims == (size_t)ndim &&
			    (!ndim || !memcmp(d->t->dims, dims,
					      (size_t)ndim * sizeof(*dims))) &&
			    d->t->raw_data.len == nb &&
			    !memcmp(d->t->raw_data.data, raw, nb))
				return d->v;
		}
	}
	t = og_alloc(c, sizeof(*t));
	if (!t)
		return NULL;
	onnx__tensor_proto__init(t);
	t->name = (char *)og_fresh(c);
	t->has_data_type = 1;
	t->data_type = type;
	t->n_dims = (size_t)ndim;
	t->dims = og_alloc(c, (size_t)(ndim ? ndim : 1) * sizeof(int64_t));
	if (!t->dims)
		return NULL;
	if (ndim)
		memcpy(t->dims, dims, (size_t)ndim * sizeof(int64_t));
	t->has_raw_data = 1;
	t->raw_data.data = raw;
	t->raw_data.len = nb;
	og_add_init(c, t);
	og_t v = og_val(c, t->name, type);
	if (v && nb <= OG_DEDUP_MAX && c->n_dedup < OG_DEDUP_SLOTS / 2) {
		size_t s = h % OG_DEDUP_SLOTS;

		while (c->dedup[s].t)
			s = (s + 1) % OG_DEDUP_SLOTS;
		c->dedup[s] = (struct og_dedup){h, t, v};
		c->n_dedup++;
	}
	return v;
}

og_t og_u8s(og_ctx *c, int n, const uint8_t *v)
{
	int64_t d = n;
	return og_const(c, OG_U8, 1, &d, v);
}

og_t og_u32(og_ctx *c, uint32_t v)
{
	return og_const(c, OG_U32, 0, NULL, &v);
}

og_t og_u64(og_ctx *c, uint64_t v)
{
	return og_const(c, OG_U64, 0, NULL, &v);
}

og_t og_i64(og_ctx *c, int64_t v)
{
	return og_const(c, OG_I64, 0, NULL, &v);
}

og_t og_f32(og_ctx *c, float v)
{
	return og_const(c, OG_F32, 0, NULL, &v);
}

og_t og_f64(og_ctx *c, double v)
{
	return og_const(c, OG_F64, 0, NULL, &v);
}

og_t og_bool(og_ctx *c, bool v)
{
	uint8_t b = v;
	return og_const(c, OG_BOOL, 0, NULL, &b);
}

og_t og_i64s(og_ctx *c, int n, const int64_t *v)
{
	int64_t d = n;
	return og_const(c, OG_I64, 1, &d, v);
}

og_t og_u32s(og_ctx *c, int n, const uint32_t *v)
{
	int64_t d = n;
	return og_const(c, OG_U32, 1, &d, v);
}

og_t og_u64s(og_ctx *c, int n, const uint64_t *v)
{
	int64_t d = n;
	return og_const(c, OG_U64, 1, &d, v);
}

og_t og_f64s(og_ctx *c, int ndim, const int64_t *dims, const double *v)
{
	return og_const(c, OG_F64, ndim, dims, v);
}

/* ---- common operators ---------------------------------------------- */

og_t og_bin(og_graph *g, const char *op, og_t a, og_t b)
{
	og_t in[2] = {a, b};
	return og_op(g, op, a ? a->type : 0, 2, in, 0, NULL);
}

og_t og_cmp(og_graph *g, const char *op, og_t a, og_t b)
{
	og_t in[2] = {a, b};
	return og_op(g, op, OG_BOOL, 2, in, 0, NULL);
}

og_t og_un(og_graph *g, const char *op, og_t a)
{
	return og_op(g, op, a ? a->type : 0, 1, &a, 0, NULL);
}

og_t og_add(og_graph *g, og_t a, og_t b) { return og_bin(g, "Add", a, b); }
og_t og_sub_(og_graph *g, og_t a, og_t b) { return og_bin(g, "Sub", a, b); }
og_t og_mul(og_graph *g, og_t a, og_t b) { return og_bin(g, "Mul", a, b); }

static bool og_is_bool(og_t a)
{
	return a && a->type == OG_BOOL;
}

og_t og_xor(og_graph *g, og_t a, og_t b)
{
	return og_bin(g, og_is_bool(a) ? "Xor" : "BitwiseXor", a, b);
}

og_t og_and(og_graph *g, og_t a, og_t b)
{
	return og_bin(g, og_is_bool(a) ? "And" : "BitwiseAnd", a, b);
}

og_t og_or(og_graph *g, og_t a, og_t b)
{
	return og_bin(g, og_is_bool(a) ? "Or" : "BitwiseOr", a, b);
}

og_t og_not(og_graph *g, og_t a)
{
	return og_un(g, og_is_bool(a) ? "Not" : "BitwiseNot", a);
}

static og_t og_shift(og_graph *g, og_t a, og_t k, const char *dir)
{
	og_t in[2] = {a, k};
	og_attr at = OG_AS("direction", dir);
	return og_op(g, "BitShift", a ? a->type : 0, 2, in, 1, &at);
}

og_t og_shl(og_graph *g, og_t a, og_t k) { return og_shift(g, a, k, "LEFT"); }
og_t og_shr(og_graph *g, og_t a, og_t k) { return og_shift(g, a, k, "RIGHT"); }

og_t og_cast(og_graph *g, og_t a, int to)
{
	og_attr at = OG_AI("to", to);
	return og_op(g, "Cast", to, 1, &a, 1, &at);
}

og_t og_where(og_graph *g, og_t c, og_t a, og_t b)
{
	og_t in[3] = {c, a, b};
	return og_op(g, "Where", a ? a->type : 0, 3, in, 0, NULL);
}

og_t og_gather(og_graph *g, og_t a, og_t idx, int axis)
{
	og_t in[2] = {a, idx};
	og_attr at = OG_AI("axis", axis);
	return og_op(g, "Gather", a ? a->type : 0, 2, in, 1, &at);
}

og_t og_reshape(og_graph *g, og_t a, int ndim, const int64_t *dims)
{
	og_t in[2] = {a, og_i64s(g->ctx, ndim, dims)};
	return og_op(g, "Reshape", a ? a->type : 0, 2, in, 0, NULL);
}

og_t og_unsqueeze(og_graph *g, og_t a, int64_t axis)
{
	og_t in[2] = {a, og_i64s(g->ctx, 1, &axis)};
	return og_op(g, "Unsqueeze", a ? a->type : 0, 2, in, 0, NULL);
}

og_t og_concat(og_graph *g, int axis, int n, const og_t *v)
{
	og_attr at = OG_AI("axis", axis);
	return og_op(g, "Concat", n && v[0] ? v[0]->type : 0, n, v, 1, &at);
}

void og_split(og_graph *g, og_t a, int axis, int n, int64_t part, og_t *out)
{
	og_attr at = OG_AI("axis", axis);
	int64_t sizes[128];
	int types[128];
	og_t in[2];

	if (n > 128) {
		if (g)
			g->ctx->failed = true;
		return;
	}
	for (int i = 0; i < n; i++) {
		types[i] = a ? a->type : 0;
		sizes[i] = part;
		out[i] = NULL;
	}
	/* the sizes as an input: Split-13 to Split-18 and later all take it
	 * (num_outputs exists only from 18) */
	in[0] = a;
	in[1] = g ? og_i64s(g->ctx, n, sizes) : NULL;
	og_opn(g, "Split", n, out, types, 2, in, 1, &at);
}

/* ReduceSum takes its axes as an input from opset 13, the other reductions
 * only from 18; up to 17 they take an attribute. */
og_t og_reduce(og_graph *g, const char *op, og_t a, int64_t axis, int keep)
{
	og_attr at[2] = {OG_AI("keepdims", keep),
			 {.name = "axes", .kind = 7, .ints = &axis, .n_ints = 1}};

	if (!g)
		return NULL;
	if (g->ctx->opset >= 18 || !strcmp(op, "ReduceSum")) {
		og_t in[2] = {a, og_i64s(g->ctx, 1, &axis)};
		return og_op(g, op, a ? a->type : 0, 2, in, 1, at);
	}
	return og_op(g, op, a ? a->type : 0, 1, &a, 2, at);
}

og_t og_matmul(og_graph *g, og_t a, og_t b)
{
	return og_bin(g, "MatMul", a, b);
}

og_t og_identity(og_graph *g, og_t a)
{
	return og_un(g, "Identity", a);
}

/* ---- the model ----------------------------------------------------- */

cbd_status og_pack_model(og_ctx *c, int64_t ir_version,
			 const Onnx__ModelProto *like, const og_meta *meta,
			 int n_meta, uint8_t **buf, size_t *len, cbd_err *err)
{
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	Onnx__OperatorSetIdProto op = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	Onnx__OperatorSetIdProto **ops;
	Onnx__StringStringEntryProto *props = NULL, **pp = NULL;
	cbd_status s;
	int n_old = like ? (int)like->n_metadata_props : 0;
	size_t n_ops = 1, n_like = like ? like->n_opset_import : 0;

	ops = og_alloc(c, (n_like + 1) * sizeof(*ops));
	if (og_status(c, err))
		return CBD_E_NOMEM;
	ops[0] = &op;
	/* other domains (ai.onnx.ml, ...) as the classifier imports them */
	for (size_t i = 0; i < n_like; i++) {
		const char *d = like->opset_import[i]->domain;

		if (d && *d && strcmp(d, "ai.onnx"))
			ops[n_ops++] = like->opset_import[i];
	}
	op.domain = "";
	op.has_version = 1;
	op.version = c->opset;
	m.has_ir_version = 1;
	m.ir_version = ir_version;
	m.n_opset_import = n_ops;
	m.opset_import = ops;
	if (like) {
		m.producer_name = like->producer_name;
		m.producer_version = like->producer_version;
		m.domain = like->domain;
		m.has_model_version = like->has_model_version;
		m.model_version = like->model_version;
		m.doc_string = like->doc_string;
	}
	m.graph = c->main->gp;
	props = og_alloc(c, (size_t)(n_meta + 1) * sizeof(*props));
	pp = og_alloc(c, (size_t)(n_old + n_meta + 1) * sizeof(*pp));
	if (!props || !pp)
		return og_status(c, err);
	for (int i = 0; i < n_old; i++)
		pp[i] = like->metadata_props[i];
	for (int i = 0; i < n_meta; i++) {
		onnx__string_string_entry_proto__init(&props[i]);
		props[i].key = (char *)meta[i].key;
		props[i].value = (char *)meta[i].value;
		pp[n_old + i] = &props[i];
	}
	m.n_metadata_props = (size_t)(n_old + n_meta);
	m.metadata_props = pp;
	*len = onnx__model_proto__get_packed_size(&m);
	*buf = malloc(*len ? *len : 1);
	if (!*buf)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory packing "
				   "the model (%zu bytes)", *len);
	s = onnx__model_proto__pack(&m, *buf) == *len ? CBD_OK : CBD_E_INTERNAL;
	if (s) {
		free(*buf);
		*buf = NULL;
		return cbd_err_set(err, s, "protobuf packing size mismatch");
	}
	return CBD_OK;
}

og_t og_const_words(og_ctx *c, int type, int64_t n, const uint64_t *v)
{
	size_t size = og_type_size(type);
	unsigned char *buf = og_alloc(c, (size_t)(n ? n : 1) * (size ? size : 1));

	if (!buf || !size)
		return NULL;
	for (int64_t i = 0; i < n; i++) {
		switch (type) {
		case OG_F64: {
			double d = (double)v[i];
			memcpy(buf + i * 8, &d, 8);
			break;
		}
		case OG_F32: {
			float f = (float)v[i];
			memcpy(buf + i * 4, &f, 4);
			break;
		}
		default: {   /* integers: the low bytes, host order */
			uint8_t b8 = (uint8_t)v[i];
			uint16_t b16 = (uint16_t)v[i];
			uint32_t b32 = (uint32_t)v[i];
			const void *src = size == 1 ? (const void *)&b8 :
					  size == 2 ? (const void *)&b16 :
					  size == 4 ? (const void *)&b32 :
						      (const void *)&v[i];
			memcpy(buf + (size_t)i * size, src, size);
		}
		}
	}
	return og_const(c, type, 1, &n, buf);
}
