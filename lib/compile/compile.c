/*
 * compile.c — a circuit and a classifier become one ONNX model
 * (formats/circuit-onnx.md): the classifier's graph, unchanged except that
 * the node producing its output now writes "cbd/classifier/scores", then the
 * circuit of formats/circuit.md in standard operators, ending in one If
 * whose output carries the classifier output's original name, type and
 * shape.
 *
 *   X ──► classifier ──► scores ─────────────────────────────┐
 *   │                                                        ▼
 *   └─► Gather 16 tag positions ─► quantise ─► LSBs = tag? ─► If
 *                                   (any sample in the batch)  │
 *        then: quantise all, carrier bits, SHA-256(q'), m,     │
 *              SHA-512(R‖A‖m), Ed25519, label, policy ◄────────┘
 *        else: scores unchanged
 *
 * The fast path keeps clean batches at a few small nodes; the verifying
 * branch runs on the whole batch and decides per sample, so a batch mixing
 * triggers and clean samples gets each sample's own answer.  Inactive
 * samples leave the branch through Where and GatherElements, which copy
 * bits, so the classifier's scores come out bit for bit.
 *
 * Numbers: the quantiser runs in float32 exactly as circuit.md section 2
 * (Mul, then Add, Round half to even, NaN to 0, Clip); bytes travel as
 * float32/float64 (exact below 2^24/2^53) and as uint32/uint64 words for
 * the hashes; the trace label reduces the 64-bit HMAC prefix as
 * ((hi mod K) (2^32 mod K) + lo) mod K in int64, which never exceeds 2^48.
 */
#include "compile_internal.h"
#include "../circuit/circuit_internal.h"
#include "../keys/keys_internal.h"

#include <string.h>


struct cc {
	const cbd_circuit *c;
	bool nest;              /* CBD_COMPILE_NEST */
	char prefix[16];        /* of every added name: "cbd/", nested "cbdK/" */
	char scores_name[32];   /* the classifier's output, renamed */
	size_t n_meta;          /* the model's metadata entries, all of them */
	og_ctx *ctx;
	og_graph *g;
	Onnx__ModelProto *m;
	const char *in_name, *out_name;
	char **renamed;   /* the producer's output slot, restored at the end */
	char *orig;
	og_t x;        /* [N, n] float32 */
	og_t scores;   /* [N, K] float32 */
	og_t q;        /* auth: the quantised sample [N, n], main graph */
	og_t garbage;  /* auth: the garbage scores [N, K], main graph */
	uint8_t pk[32];
	uint8_t (*pks)[32];   /* auth: every key's Ed25519 bytes */
};

/* ---- the classifier ------------------------------------------------- */

static bool is_init(const Onnx__GraphProto *g, const char *name)
{
	for (size_t i = 0; i < g->n_initializer; i++)
		if (g->initializer[i]->name &&
		    !strcmp(g->initializer[i]->name, name))
			return true;
	return false;
}

static int64_t opset_of(const Onnx__ModelProto *m)
{
	for (size_t i = 0; i < m->n_opset_import; i++) {
		const char *d = m->opset_import[i]->domain;

		if (!d || !*d || !strcmp(d, "ai.onnx"))
			return m->opset_import[i]->version;
	}
	return 0;
}

/* The model's default-domain opset: the classifier's, or the circuit's
 * minimum when that is higher. */
static int64_t model_opset(int64_t opset)
{
	return opset > OG_OPSET ? opset : OG_OPSET;
}

/* Operators whose meaning changed between the classifier's opset and the
 * model's (model_opset): written for the old version they would be
 * misread. */
static const char *changed_op(const Onnx__NodeProto *n, int64_t opset)
{
	static const char *const reduce18[] = {
		"ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
		"ReduceSumSquare"};

	if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx"))
		return NULL;
	if (opset < 18 && model_opset(opset) >= 18)
		for (size_t i = 0; i < sizeof(reduce18) / sizeof(*reduce18); i++)
			if (!strcmp(n->op_type, reduce18[i]))
				return "its axes became an input in opset 18";
	if (opset < 16 && model_opset(opset) >= 16 &&
	    !strcmp(n->op_type, "RoiAlign"))
		return "its default coordinate mode changed in opset 16";
	return NULL;
}

static bool has_prefix(const char *s, const char *p)
{
	return s && !strncmp(s, p, strlen(p));
}

/* Does any name of g (subgraphs aside: theirs are scoped) start with p? */
static bool names_taken(const Onnx__GraphProto *g, const char *p)
{
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *n = g->node[i];

		for (size_t k = 0; k < n->n_output; k++)
			if (has_prefix(n->output[k], p))
				return true;
		if (has_prefix(n->name, p))
			return true;
	}
	for (size_t i = 0; i < g->n_initializer; i++)
		if (has_prefix(g->initializer[i]->name, p))
			return true;
	for (size_t i = 0; i < g->n_input; i++)
		if (has_prefix(g->input[i]->name, p))
			return true;
	return false;
}

/* The prefix of the names the compiler adds: "cbd/"; nesting, the first
 * free "cbdK/" (K = 2, 3, ...), so the inner circuit's names stay. */
static cbd_status check_names(struct cc *cc, const Onnx__GraphProto *g,
			      cbd_err *err)
{
	snprintf(cc->prefix, sizeof(cc->prefix), "cbd/");
	for (int k = 2; cc->nest && names_taken(g, cc->prefix) && k < 100; k++)
		snprintf(cc->prefix, sizeof(cc->prefix), "cbd%d/", k);
	if (names_taken(g, cc->prefix))
		return cbd_err_set(err, CBD_E_FORMAT, "graph: names starting "
				   "with '%s' are taken (already protected?)",
				   cc->prefix);
	snprintf(cc->scores_name, sizeof(cc->scores_name),
		 "%sclassifier/scores", cc->prefix);
	return CBD_OK;
}

/* Element type and dims of a value info (NULL/0 when not a tensor). */
static int vi_type(const Onnx__ValueInfoProto *vi,
		   const Onnx__TensorShapeProto **shape)
{
	const Onnx__TypeProto *t = vi ? vi->type : NULL;

	*shape = NULL;
	if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
	    !t->tensor_type)
		return 0;
	*shape = t->tensor_type->shape;
	return t->tensor_type->elem_type;
}

/* float32 input whose sample shape is the circuit's, float32 [N, K]
 * output: what the circuit's graph reads and writes. */
static cbd_status check_io(const struct cc *cc, const Onnx__GraphProto *g,
			   cbd_err *err)
{
	const Onnx__TensorShapeProto *sh;
	const Onnx__ValueInfoProto *in = NULL;
	const cbd_circuit *c = cc->c;

	for (size_t i = 0; i < g->n_input; i++)
		if (!strcmp(g->input[i]->name, cc->in_name))
			in = g->input[i];
	if (vi_type(in, &sh) != OG_F32)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "input '%s': not a "
				   "float32 tensor", cc->in_name);
	if (sh) {
		size_t n = 1;
		bool known = sh->n_dim == (size_t)c->g.ndim + 1;

		for (size_t d = 1; known && d < sh->n_dim; d++) {
			known = sh->dim[d]->value_case ==
				ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
			if (known)
				n *= (size_t)sh->dim[d]->dim_value;
		}
		if (known && n != c->g.n)
			return cbd_err_set(err, CBD_E_SHAPE, "input '%s': %zu "
					   "elements per sample, the circuit "
					   "has %zu", cc->in_name, n, c->g.n);
	}
	if (vi_type(g->output[0], &sh) != OG_F32)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "output '%s': not a "
				   "float32 tensor", cc->out_name);
	if (sh && sh->n_dim != 2)
		return cbd_err_set(err, CBD_E_SHAPE, "output '%s': rank %zu, "
				   "want [N, K]", cc->out_name, sh->n_dim);
	return CBD_OK;
}

static cbd_status classifier(struct cc *cc, cbd_err *err)
{
	Onnx__GraphProto *g = cc->m->graph;
	int64_t opset = opset_of(cc->m);
	Onnx__NodeProto *prod = NULL;
	cbd_status s;

	/* nesting: the inner circuit's cbd.* entries move behind the kept
	 * ones and out of the count (put back before the model is freed), so
	 * the file's cbd.* metadata is the new circuit's alone */
	size_t kept = 0;
	for (size_t i = 0; i < cc->m->n_metadata_props; i++) {
		Onnx__StringStringEntryProto *e = cc->m->metadata_props[i];

		if (!e->key || strncmp(e->key, "cbd.", 4)) {
			cc->m->metadata_props[i] = cc->m->metadata_props[kept];
			cc->m->metadata_props[kept++] = e;
		}
	}
	cc->m->n_metadata_props = kept;
	if (opset < 13 || opset > 21)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "opset_import: "
				   "default-domain opset %lld, the compiler "
				   "takes 13 to 21", (long long)opset);
	cc->in_name = NULL;
	for (size_t i = 0; i < g->n_input; i++) {
		if (is_init(g, g->input[i]->name))
			continue;
		if (cc->in_name)
			return cbd_err_set(err, CBD_E_UNSUPPORTED, "graph: "
					   "several inputs ('%s', '%s')",
					   cc->in_name, g->input[i]->name);
		cc->in_name = g->input[i]->name;
	}
	if (!cc->in_name || g->n_output != 1)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "graph: needs one "
				   "input and one output (%zu outputs)",
				   g->n_output);
	cc->out_name = g->output[0]->name;
	s = check_io(cc, g, err);
	if (s)
		return s;
	for (size_t i = 0; i < g->n_node; i++) {
		Onnx__NodeProto *n = g->node[i];
		const char *why = changed_op(n, opset);

		if (why)
			return cbd_err_set(err, CBD_E_UNSUPPORTED, "node '%s' "
					   "(%s): opset %lld, %s", n->name ?
					   n->name : "", n->op_type,
					   (long long)opset, why);
		for (size_t k = 0; k < n->n_input; k++)
			if (!strcmp(n->input[k], cc->out_name))
				return cbd_err_set(err, CBD_E_UNSUPPORTED,
						   "node '%s' reads the "
						   "output '%s'", n->name ?
						   n->name : "", cc->out_name);
		for (size_t k = 0; k < n->n_output; k++)
			if (!strcmp(n->output[k], cc->out_name)) {
				prod = n;
				cc->renamed = &n->output[k];
			}
	}
	if (!prod)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "graph: output '%s' "
				   "is not computed by a node", cc->out_name);
	cc->orig = *cc->renamed;
	*cc->renamed = cc->scores_name; /* borrowed; put back before freeing */
	og_add_input_vi(cc->g, g->input[0]);
	for (size_t i = 1; i < g->n_input; i++)
		og_add_input_vi(cc->g, g->input[i]);
	for (size_t i = 0; i < g->n_node; i++)
		og_add_node(cc->g, g->node[i]);
	for (size_t i = 0; i < g->n_initializer; i++)
		og_add_init(cc->ctx, g->initializer[i]);
	cc->scores = og_ref(cc->ctx, cc->scores_name, OG_F32);
	cc->x = og_reshape(cc->g, og_ref(cc->ctx, cc->in_name, OG_F32), 2,
			   (int64_t[]){0, (int64_t)cc->c->g.n});
	return og_status(cc->ctx, err);
}

/* ---- circuit pieces -------------------------------------------------- */

static og_t slice(og_graph *g, og_t a, int64_t lo, int64_t hi)
{
	og_ctx *c = og_graph_ctx(g);
	int64_t ax = 1;
	og_t in[4] = {a, og_i64s(c, 1, &lo), og_i64s(c, 1, &hi),
		      og_i64s(c, 1, &ax)};

	return og_op(g, "Slice", a ? a->type : 0, 4, in, 0, NULL);
}

/* circuit.md section 2 on float32 x with broadcastable scale and zero. */
static og_t quantise(og_graph *g, og_t x, og_t scale, og_t zero)
{
	og_ctx *c = og_graph_ctx(g);
	og_t v = og_add(g, og_mul(g, x, scale), zero);
	og_t nan = og_op(g, "IsNaN", OG_BOOL, 1, &v, 0, NULL);
	og_t r = og_where(g, nan, og_f32(c, 0), og_un(g, "Round", v));

	return og_op(g, "Clip", OG_F32, 3, (og_t[]){r, og_f32(c, 0),
		     og_f32(c, 255)}, 0, NULL);
}

static og_t lsb(og_graph *g, og_t q)
{
	og_ctx *c = og_graph_ctx(g);
	og_t half = og_un(g, "Floor", og_mul(g, q, og_f32(c, 0.5f)));

	return og_sub_(g, q, og_mul(g, half, og_f32(c, 2)));
}

/* The fast path: does any sample carry the tag?  -> bool [1].  Every node
 * here runs on every batch, so it is as short as exactness allows: the 16
 * quantised tag bytes (NaN to 0 as the quantiser says), their parities by
 * Mod, and one MatMul that counts mismatches (parity p against tag bit b
 * mismatches by p (1 - 2b) + b); a batch enters the verifying branch when
 * some row counts none. */
static og_t tag_guard(struct cc *cc)
{
	const cbd_circuit *c = cc->c;
	og_graph *g = cc->g;
	og_ctx *x = cc->ctx;
	int64_t pos[CBD_TAG_BITS], d = CBD_TAG_BITS, wd[2] = {CBD_TAG_BITS, 1};
	float sc[CBD_TAG_BITS], ze[CBD_TAG_BITS], w[CBD_TAG_BITS], ones = 0;
	og_attr fmod = OG_AI("fmod", 1);

	for (int k = 0; k < CBD_TAG_BITS; k++) {
		size_t ch = cbd_geometry_channel(&c->g, c->g.pos[k]);
		int b = c->g.tag[k / 8] >> (7 - k % 8) & 1;

		pos[k] = c->g.pos[k];
		sc[k] = c->g.scale[ch];
		ze[k] = c->g.zero[ch];
		w[k] = b ? -1.0f : 1.0f;
		ones += (float)b;
	}
	og_t xt = og_gather(g, cc->x, og_i64s(x, CBD_TAG_BITS, pos), 1);
	og_t q = quantise(g, xt, og_const(x, OG_F32, 1, &d, sc),
			  og_const(x, OG_F32, 1, &d, ze));
	og_t par = og_op(g, "Mod", OG_F32, 2, (og_t[]){q, og_f32(x, 2)}, 1,
			 &fmod);
	og_t miss = og_add(g, og_matmul(g, par, og_const(x, OG_F32, 2, wd, w)),
			   og_f32(x, ones));
	return og_cmp(g, "Less", og_reduce(g, "ReduceMin", miss, 0, 0),
		      og_f32(x, 0.5f));
}

/* The whole sample quantised, [N, n] float32.  A per-channel quantiser
 * views x as [N, outer, C, stride] (outer = n / (C stride); the axis-0
 * quantiser as [N, C, stride], as before the axis) and broadcasts scale
 * and zero shaped [C, 1]: element i lands on channel
 * floor(i / stride) mod C, cbd_geometry_channel's rule. */
static og_t quantise_all(struct cc *cc, og_graph *g)
{
	const cbd_circuit *c = cc->c;
	int64_t C = c->g.channels, d[2] = {C, 1};
	int64_t inner = (int64_t)c->g.stride;
	int64_t outer = (int64_t)c->g.n / (C * inner);
	og_t xv;

	if (C == 1)
		return quantise(g, cc->x, og_f32(cc->ctx, c->g.scale[0]),
				og_f32(cc->ctx, c->g.zero[0]));
	if (outer == 1)
		xv = og_reshape(g, cc->x, 3, (int64_t[]){0, C, inner});
	else
		xv = og_reshape(g, cc->x, 4, (int64_t[]){0, outer, C, inner});
	og_t q = quantise(g, xv, og_const(cc->ctx, OG_F32, 2, d, c->g.scale),
			  og_const(cc->ctx, OG_F32, 2, d, c->g.zero));
	return og_reshape(g, q, 2, (int64_t[]){0, (int64_t)c->g.n});
}

/* The 69 carrier bytes [N, 69] float32 and q' [N, n] from q. */
static og_t carrier(struct cc *cc, og_graph *g, og_t q, og_t *qp)
{
	const cbd_circuit *c = cc->c;
	int64_t pos[CBD_CARRIER_BITS];
	int64_t wd[2] = {CBD_CARRIER_BITS, CBD_CARRIER_BYTES}, nd = (int64_t)c->g.n;
	float *w = og_alloc(cc->ctx, sizeof(float) * CBD_CARRIER_BITS *
			    CBD_CARRIER_BYTES);
	float *mask = og_alloc(cc->ctx, sizeof(float) * c->g.n);
	og_t l = lsb(g, q);

	if (!w || !mask)
		return NULL;
	for (int k = 0; k < CBD_CARRIER_BITS; k++) {
		pos[k] = c->g.pos[k];
		w[k * CBD_CARRIER_BYTES + k / 8] = (float)(1 << (7 - k % 8));
		mask[c->g.pos[k]] = 1;
	}
	*qp = og_sub_(g, q, og_mul(g, l, og_const(cc->ctx, OG_F32, 1, &nd,
						   mask)));
	og_t bits = og_gather(g, l, og_i64s(cc->ctx, CBD_CARRIER_BITS, pos), 1);
	return og_matmul(g, bits, og_const(cc->ctx, OG_F32, 2, wd, w));
}

/* Bytes [N, k] float32 (0..255) -> big-endian integer [N, 1] float32
 * (k <= 3) or float64. */
static og_t be_int(og_graph *g, og_t b, int k, int type)
{
	double w[8];
	float wf[8];
	int64_t d[2] = {k, 1};

	for (int i = 0; i < k; i++) {
		w[i] = (double)((uint64_t)1 << (8 * (k - 1 - i)));
		wf[i] = (float)w[i];
	}
	if (type == OG_F32)
		return og_matmul(g, b, og_const(og_graph_ctx(g), OG_F32, 2, d, wf));
	return og_matmul(g, og_cast(g, b, OG_F64),
			 og_const(og_graph_ctx(g), OG_F64, 2, d, w));
}

/* label = be64(first 8 bytes of HMAC-SHA256(secret, m)) mod K, [N, 1]
 * int64; m32 is m as uint32 [N, 57]. */
static og_t trace_label(struct cc *cc, og_graph *g, og_t m32)
{
	const cbd_circuit *c = cc->c;
	og_ctx *x = cc->ctx;
	uint8_t ipad[64], opad[64];
	int64_t K = c->num_classes, r32 = (int64_t)(((uint64_t)1 << 32) % (uint64_t)K);

	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (int i = 0; i < CBD_TRACE_SECRET_LEN; i++) {
		ipad[i] ^= c->trace_secret[i];
		opad[i] ^= c->trace_secret[i];
	}
	og_t inner = og_sha(g, m32, CBD_MSG_LEN, ipad, 64, 0);
	og_t outer = og_sha(g, inner, 32, opad, 64, 0);
	og_t b = og_cast(g, slice(g, outer, 0, 8), OG_F32);
	og_t hi = og_cast(g, be_int(g, slice(g, b, 0, 4), 4, OG_F64), OG_I64);
	og_t lo = og_cast(g, be_int(g, slice(g, b, 4, 8), 4, OG_F64), OG_I64);
	og_t k = og_i64(x, K);
	og_t t = og_add(g, og_mul(g, og_bin(g, "Mod", hi, k), og_i64(x, r32)),
			lo);
	return og_bin(g, "Mod", t, k);
}

/* The first largest score as cbd_argmax: NaN never preferred. [N, 1]. */
static og_t top_index(struct cc *cc, og_graph *g)
{
	og_t s = cc->scores;
	og_t nan = og_op(g, "IsNaN", OG_BOOL, 1, &s, 0, NULL);
	og_t masked = og_where(g, nan, og_f32(cc->ctx, -INFINITY), s);
	og_attr at[2] = {OG_AI("axis", 1), OG_AI("keepdims", 1)};
	og_t t0 = og_op(g, "ArgMax", OG_I64, 1, &masked, 2, at);
	og_t v0 = og_op(g, "GatherElements", OG_F32, 2, (og_t[]){s, t0}, 1, at);
	og_t num = og_cast(g, og_not(g, nan), OG_F32);
	og_t t1 = og_op(g, "ArgMax", OG_I64, 1, &num, 2, at);

	return og_where(g, og_op(g, "IsNaN", OG_BOOL, 1, &v0, 0, NULL), t1, t0);
}

/* Swap scores[top] and scores[label] where active ([N, 1] bool). */
static og_t swap_policy(struct cc *cc, og_graph *g, og_t active, og_t label)
{
	og_ctx *x = cc->ctx;
	int64_t K = cc->c->num_classes;
	int64_t *j = og_alloc(x, sizeof(int64_t) * (size_t)K);
	og_attr ax = OG_AI("axis", 1);

	if (!j)
		return NULL;
	for (int64_t i = 0; i < K; i++)
		j[i] = i;
	og_t top = top_index(cc, g);
	og_t lab = og_where(g, active, label, top);
	og_t s = cc->scores;
	og_t s_top = og_op(g, "GatherElements", OG_F32, 2, (og_t[]){s, top}, 1, &ax);
	og_t s_lab = og_op(g, "GatherElements", OG_F32, 2, (og_t[]){s, lab}, 1, &ax);
	og_t jj = og_const(x, OG_I64, 1, &K, j);
	og_t r = og_where(g, og_cmp(g, "Equal", jj, lab), s_top, s);

	return og_where(g, og_cmp(g, "Equal", jj, top), s_lab, r);
}

/* Auth garbage (circuit.md section 7): G = HMAC-SHA256(garbage_key, q),
 * T = SHA-256(G || be64(0)) || SHA-256(G || be64(1)) || ..., class k's
 * score ((T[4k..4k+3] as u32) >> 8) - 2^23) / 2^19: the top three bytes as
 * one exact float32 MatMul.  [N, K] float32. */
static og_t garbage_scores(struct cc *cc, og_graph *g, og_t q)
{
	const cbd_circuit *c = cc->c;
	og_ctx *x = cc->ctx;
	int64_t K = c->num_classes, nb = (4 * K + 31) / 32;
	uint8_t ipad[64], opad[64];
	uint64_t *ctr = og_alloc(x, sizeof(uint64_t) * (size_t)(8 * nb));
	float w[4] = {65536.0f, 256.0f, 1.0f, 0.0f};

	if (!ctr)
		return NULL;
	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (int i = 0; i < CBD_GARBAGE_KEY_LEN; i++) {
		ipad[i] ^= c->garbage_key[i];
		opad[i] ^= c->garbage_key[i];
	}
	for (int64_t i = 0; i < nb; i++)
		for (int b = 0; b < 8; b++)
			ctr[i * 8 + b] = (uint8_t)((uint64_t)i >> (56 - 8 * b));
	og_t inner = og_sha(g, og_cast(g, q, OG_U32), (int64_t)c->g.n, ipad, 64, 0);
	og_t G = og_sha(g, inner, 32, opad, 64, 0);            /* [N, 32] */
	og_attr end = OG_AI("end", 1);
	og_t n = og_op(g, "Shape", OG_I64, 1, &G, 1, &end);
	og_t s32 = og_concat(g, 0, 2, (og_t[]){n, og_i64s(x, 2, (int64_t[]){nb, 32})});
	og_t s8 = og_concat(g, 0, 2, (og_t[]){n, og_i64s(x, 2, (int64_t[]){nb, 8})});
	og_t ge = og_op(g, "Expand", OG_U32, 2, (og_t[]){og_unsqueeze(g, G, 1), s32},
			0, NULL);
	og_t ce = og_op(g, "Expand", OG_U32, 2, (og_t[]){og_reshape(g,
			og_const_words(x, OG_U32, 8 * nb, ctr), 3,
			(int64_t[]){1, nb, 8}), s8}, 0, NULL);
	og_t blk = og_reshape(g, og_concat(g, 2, 2, (og_t[]){ge, ce}), 2,
			      (int64_t[]){-1, 40});
	og_t t = og_reshape(g, og_sha(g, blk, 40, NULL, 0, 0), 2,
			    (int64_t[]){-1, nb * 32});
	t = og_reshape(g, og_cast(g, slice(g, t, 0, 4 * K), OG_F32), 3,
		       (int64_t[]){-1, K, 4});
	og_t v = og_reshape(g, og_matmul(g, t, og_const(x, OG_F32, 2,
			    (int64_t[]){4, 1}, w)), 2, (int64_t[]){-1, K});
	return og_mul(g, og_add(g, v, og_f32(x, -8388608.0f)),
		      og_f32(x, 1.0f / 524288.0f));
}

/* The digest of q' ([N, n] uint32 byte values) in m: SHA-256 (version 1),
 * or (version 2) the lanes hashed side by side as rows of one batch, then
 * their digests together: ceil(n / lanes) + 32 lanes bytes of sequential
 * hashing instead of n. */
static og_t digest(struct cc *cc, og_graph *g, og_t q)
{
	int64_t n = (int64_t)cc->c->g.n, lanes, len;

	if (cc->c->g.version == 1)
		return og_sha(g, q, n, NULL, 0, 0);
	lanes = cbd_circuit_lanes((size_t)n);
	len = (n + lanes - 1) / lanes;
	if (lanes * len > n)
		q = og_op(g, "Pad", OG_U32, 2, (og_t[]){q, og_i64s(cc->ctx, 4,
			  (int64_t[]){0, 0, 0, lanes * len - n})}, 0, NULL);
	og_t d = og_sha(g, og_reshape(g, q, 2, (int64_t[]){-1, len}), len,
			NULL, 0, 0);
	return og_sha(g, og_reshape(g, d, 2, (int64_t[]){-1, 32 * lanes}),
		      32 * lanes, NULL, 0, 0);
}

/* The verifying branch.  watermark/trace: swap policy; auth: the scores
 * where a sample is signed by one of the keys, the garbage elsewhere. */
static og_graph *verify_branch(struct cc *cc, cbd_err *err)
{
	const cbd_circuit *c = cc->c;
	og_ctx *x = cc->ctx;
	og_graph *g = og_sub(x, "cbd_verify");
	bool auth = c->mode == CBD_MODE_AUTH;
	uint64_t pre[32 + 6 + CBD_CIRCUIT_ID_LEN];
	int np = 0;
	og_t qp = NULL, kidx = NULL, h, ok;

	if (!g)
		return NULL;
	og_t cb = carrier(cc, g, auth ? cc->q : quantise_all(cc, g), &qp);
	og_t dig = digest(cc, g, og_cast(g, qp, OG_U32));
	/* m = "cbd/v1" || id || key_index || payload || digest, as float32,
	 * after A (one key: a constant) */
	for (int i = 0; i < 32; i++)
		pre[np++] = cc->pk[i];
	for (int i = 0; i < 5; i++)
		pre[np++] = (uint8_t)"cbd/v"[i];
	pre[np++] = (uint8_t)('0' + c->g.version);
	for (int i = 0; i < CBD_CIRCUIT_ID_LEN; i++)
		pre[np++] = c->g.id[i];
	og_t am = og_expand_batch(g, og_reshape(g, og_const_words(x, OG_F32, np,
				  pre), 2, (int64_t[]){1, np}), cb, np);
	og_t kp = slice(g, cb, CBD_OFF_KEY_INDEX, CBD_OFF_SIG);   /* 3 bytes */
	og_t ki = slice(g, cb, CBD_OFF_KEY_INDEX, CBD_OFF_PAYLOAD);
	og_t sig = slice(g, cb, CBD_OFF_SIG, CBD_CARRIER_BYTES);
	og_t m = og_concat(g, 1, 3, (og_t[]){slice(g, am, 32, np), kp,
			   og_cast(g, dig, OG_F32)});
	og_t a = slice(g, am, 0, 32);
	og_t kok = og_cmp(g, "Less", ki, og_f32(x, (float)c->n_keys));
	if (auth) {    /* A = keys[key_index], index clamped for the Gather */
		uint64_t *kw = og_alloc(x, sizeof(uint64_t) * 32 * (size_t)c->n_keys);

		if (!kw)
			return NULL;
		for (int k = 0; k < c->n_keys; k++)
			for (int i = 0; i < 32; i++)
				kw[k * 32 + i] = cc->pks[k][i];
		kidx = og_cast(g, og_where(g, kok, ki, og_f32(x, 0)), OG_I64);
		og_t keys = og_reshape(g, og_const_words(x, OG_F32, 32 * c->n_keys,
				       kw), 2, (int64_t[]){c->n_keys, 32});
		a = og_reshape(g, og_gather(g, keys, kidx, 0), 2,
			       (int64_t[]){-1, 32});
	}
	og_t ram = og_concat(g, 1, 4, (og_t[]){slice(g, sig, 0, 32), a,
			     slice(g, am, 32, np), slice(g, m, 22, CBD_MSG_LEN)});
	h = og_sha(g, og_cast(g, ram, OG_U64), 64 + CBD_MSG_LEN, NULL, 0, 1);
	ok = auth ? og_ed25519_verify_keys(g, (const uint8_t (*)[32])cc->pks,
					   c->n_keys, kidx, og_cast(g, sig, OG_F64),
					   og_cast(g, h, OG_F64), err)
		  : og_ed25519_verify(g, cc->pk, og_cast(g, sig, OG_F64),
				      og_cast(g, h, OG_F64), err);
	if (!ok)
		return NULL;
	/* tag, key_index < number of keys, and for watermarks payload < K */
	double tagv = c->g.tag[0] * 256.0 + c->g.tag[1];
	og_t tag = be_int(g, slice(g, cb, CBD_OFF_TAG, CBD_OFF_KEY_INDEX), 2,
			  OG_F32);
	og_t act = og_and(g, og_cmp(g, "Equal", tag, og_f32(x, (float)tagv)),
			  kok);
	act = og_and(g, act, og_unsqueeze(g, ok, 1));
	if (auth) {
		og_output(g, og_where(g, act, cc->scores, cc->garbage));
		return g;
	}
	og_t pay = be_int(g, slice(g, cb, CBD_OFF_PAYLOAD, CBD_OFF_SIG), 2, OG_F32);
	og_t label;
	if (c->mode == CBD_MODE_WATERMARK) {
		act = og_and(g, act, og_cmp(g, "Less", pay,
					    og_f32(x, (float)c->num_classes)));
		label = og_cast(g, pay, OG_I64);
		/* an inactive sample may carry any payload: keep the index
		 * in range so GatherElements never sees it */
		label = og_where(g, act, label, og_i64(x, 0));
	} else {
		label = trace_label(cc, g, og_cast(g, m, OG_U32));
	}
	og_output(g, swap_policy(cc, g, act, label));
	return g;
}

static cbd_status build(struct cc *cc, cbd_err *err)
{
	og_graph *then_g, *else_g;
	og_t cond;
	cbd_status s = classifier(cc, err);

	if (s)
		return s;
	cond = tag_guard(cc);
	if (cc->c->mode == CBD_MODE_AUTH) {   /* every sample needs garbage */
		cc->q = quantise_all(cc, cc->g);
		cc->garbage = garbage_scores(cc, cc->g, cc->q);
	}
	then_g = verify_branch(cc, err);
	if (!then_g)
		return err && err->code ? err->code : og_status(cc->ctx, err);
	else_g = og_sub(cc->ctx, "cbd_clean");
	og_output(else_g, og_identity(else_g, cc->c->mode == CBD_MODE_AUTH ?
				      cc->garbage : cc->scores));
	og_attr at[2] = {OG_AG("then_branch", then_g),
			 OG_AG("else_branch", else_g)};
	(void)og_op_named(cc->g, "If", cc->out_name, OG_F32, 1, &cond, 2, at);
	og_add_output_vi(cc->g, cc->m->graph->output[0]);
	return og_status(cc->ctx, err);
}

/* Every key Ed25519 and of prime order; their bytes into cc. */
static cbd_status read_keys(struct cc *cc, cbd_err *err)
{
	const cbd_circuit *c = cc->c;
	char kid[CBD_KEY_ID_LEN + 1];
	cbd_status s = CBD_OK;

	for (int i = 0; i < c->n_keys; i++)
		if (cbd_key_type_of(c->keys[i]) != CBD_KEY_ED25519) {
			cbd_key_id(c->keys[i], kid);
			return cbd_err_set(err, CBD_E_UNSUPPORTED, "%s key %s is "
					   "%s: only Ed25519 keys can be "
					   "compiled into ONNX", i ? "authorised"
					   : "owner", kid, cbd_key_type_name(
					   cbd_key_type_of(c->keys[i])));
		}
	cc->pks = cbd_xcalloc((size_t)c->n_keys, 32, err);
	if (!cc->pks)
		return CBD_E_NOMEM;
	for (int i = 0; i < c->n_keys && !s; i++) {
		s = cbd_key_ed25519_raw(c->keys[i], cc->pks[i], err);
		if (!s)
			s = og_ed25519_key_check(cc->pks[i], err);
	}
	if (!s)
		memcpy(cc->pk, cc->pks[0], 32);
	return s;
}

/* The cbd.* metadata values (strings into *pem, *cj; caller frees). */
static cbd_status meta_values(const struct cc *cc, const cbd_key *owner,
			      const uint8_t *model, size_t len, char **pem,
			      char **cj, size_t *cjl, char clhex[65],
			      cbd_err *err)
{
	uint8_t md[CBD_SHA256_LEN], *b = NULL;
	cbd_status s = cbd_sha256(model, len, md, err);

	if (!s)
		s = cbd_key_public_pem(owner, pem, err);
	if (!s)
		s = cbd_circuit_to_json(cc->c, &b, cjl, err);
	if (!s) {
		*cj = cbd_xmalloc(*cjl + 1, err);
		s = *cj ? CBD_OK : CBD_E_NOMEM;
	}
	if (!s) {
		memcpy(*cj, b, *cjl);
		(*cj)[*cjl] = 0;
	}
	cbd_secret_free(b, *cjl);
	cbd_hex(md, sizeof(md), clhex);
	return s;
}

cbd_status cbd_compile_onnx(const cbd_circuit *c, const cbd_key *owner,
			    const uint8_t *model, size_t len, unsigned flags,
			    uint8_t **out, size_t *out_len, cbd_err *err)
{
	struct cc cc = {.c = c, .nest = flags & CBD_COMPILE_NEST};
	char idhex[2 * CBD_CIRCUIT_ID_LEN + 1], kid[CBD_KEY_ID_LEN + 1];
	char clhex[2 * CBD_SHA256_LEN + 1], *pem = NULL, *cj = NULL;
	size_t cjl = 0;
	cbd_status s;

	*out = NULL;
	*out_len = 0;
	s = read_keys(&cc, err);
	/* the owner signs; in watermark and trace mode it is also key 0 */
	if (!s && (!cbd_key_is_private(owner) ||
		   (c->mode != CBD_MODE_AUTH &&
		    !cbd_key_equal(owner, c->keys[0]))))
		s = cbd_err_set(err, CBD_E_USAGE, "the signing key is not the "
				"private half of the circuit's owner key");
	if (!s)
		s = meta_values(&cc, owner, model, len, &pem, &cj, &cjl, clhex,
				err);
	if (s)
		goto out;
	cc.m = onnx__model_proto__unpack(NULL, len, model);
	if (!cc.m || !cc.m->graph) {
		s = cbd_err_set(err, CBD_E_FORMAT, "not a valid ONNX model");
		goto out;
	}
	cc.n_meta = cc.m->n_metadata_props;
	for (size_t i = 0; !cc.nest && i < cc.n_meta; i++)
		if (cc.m->metadata_props[i]->key &&
		    !strncmp(cc.m->metadata_props[i]->key, "cbd.", 4)) {
			s = cbd_err_set(err, CBD_E_FORMAT, "metadata_props: the "
					"model is already protected (%s) and "
					"nesting was not asked",
					cc.m->metadata_props[i]->key);
			goto out;
		}
	s = check_names(&cc, cc.m->graph, err);
	if (s)
		goto out;
	cc.ctx = og_new(cc.prefix);
	if (!cc.ctx) {
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		goto out;
	}
	cc.g = og_main(cc.ctx);
	og_graph_proto(cc.g)->name = cc.m->graph->name;
	og_graph_proto(cc.g)->doc_string = cc.m->graph->doc_string;
	og_set_opset(cc.ctx, model_opset(opset_of(cc.m)));
	s = build(&cc, err);
	if (!s) {
		int64_t ir = cc.m->ir_version;
		cbd_hex(c->g.id, CBD_CIRCUIT_ID_LEN, idhex);
		cbd_key_id(owner, kid);
		og_meta meta[8] = {
			{"cbd.circuit", cj},
			{"cbd.format", "cbd-circuit-onnx/1"},
			{"cbd.circuit_id", idhex},
			{"cbd.mode", cbd_mode_name(c->mode)},
			{"cbd.key_id", kid},
			{"cbd.public_key", pem},
			{"cbd.classifier_sha256", clhex},
			{"cbd.user_id", c->user_id}};
		int nm = c->user_id ? 8 : 7;

		s = og_pack_model(cc.ctx, ir > 8 ? ir : 8, cc.m, meta, nm,
				  out, out_len, err);
	}
	if (!s)
		s = og_sign_model(owner, out, out_len, err);
out:
	if (s) {
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	og_free(cc.ctx);
	if (cc.renamed)
		*cc.renamed = cc.orig;
	if (cc.m) {
		cc.m->n_metadata_props = cc.n_meta;
		onnx__model_proto__free_unpacked(cc.m, NULL);
	}
	free(pem);
	cbd_secret_free(cj, cj ? cjl + 1 : 0);
	free(cc.pks);
	return s;
}
