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
#include "../circuit_internal.h"
#include "../keys_internal.h"

#include <string.h>

#define SCORES_NAME "cbd/classifier/scores"

struct cc {
	const cbd_circuit *c;
	og_ctx *ctx;
	og_graph *g;
	Onnx__ModelProto *m;
	const char *in_name, *out_name;
	char **renamed;   /* the producer's output slot, restored at the end */
	char *orig;
	og_t x;        /* [N, n] float32 */
	og_t scores;   /* [N, K] float32 */
	uint8_t pk[32];
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

static bool has_prefix(const char *s)
{
	return s && !strncmp(s, "cbd/", 4);
}

static cbd_status check_names(const Onnx__GraphProto *g, cbd_err *err)
{
	for (size_t i = 0; i < g->n_node; i++) {
		const Onnx__NodeProto *n = g->node[i];

		for (size_t k = 0; k < n->n_output; k++)
			if (has_prefix(n->output[k]))
				goto taken;
		if (has_prefix(n->name))
			goto taken;
	}
	for (size_t i = 0; i < g->n_initializer; i++)
		if (has_prefix(g->initializer[i]->name))
			goto taken;
	return CBD_OK;
taken:
	return cbd_err_set(err, CBD_E_FORMAT, "graph: names starting with "
			   "'cbd/' are taken (already protected?)");
}

static cbd_status classifier(struct cc *cc, cbd_err *err)
{
	Onnx__GraphProto *g = cc->m->graph;
	int64_t opset = opset_of(cc->m);
	Onnx__NodeProto *prod = NULL;
	cbd_status s;

	for (size_t i = 0; i < cc->m->n_metadata_props; i++)
		if (cc->m->metadata_props[i]->key &&
		    !strncmp(cc->m->metadata_props[i]->key, "cbd.", 4))
			return cbd_err_set(err, CBD_E_FORMAT, "metadata_props: "
					   "the model is already protected "
					   "(%s)", cc->m->metadata_props[i]->key);
	if (opset < 13 || opset > 21)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "opset_import: "
				   "default-domain opset %lld, the compiler "
				   "takes 13 to 21", (long long)opset);
	s = check_names(g, err);
	if (s)
		return s;
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
	*cc->renamed = SCORES_NAME;   /* borrowed; put back before freeing */
	og_add_input_vi(cc->g, g->input[0]);
	for (size_t i = 1; i < g->n_input; i++)
		og_add_input_vi(cc->g, g->input[i]);
	for (size_t i = 0; i < g->n_node; i++)
		og_add_node(cc->g, g->node[i]);
	for (size_t i = 0; i < g->n_initializer; i++)
		og_add_init(cc->ctx, g->initializer[i]);
	cc->scores = og_ref(cc->ctx, SCORES_NAME, OG_F32);
	cc->x = og_reshape(cc->g, og_ref(cc->ctx, cc->in_name, OG_F32), 2,
			   (int64_t[]){0, (int64_t)cc->c->n});
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

static size_t channel_of(const cbd_circuit *c, size_t i)
{
	return c->channels == 1 ? 0 : i / c->per_channel;
}

/* All rows of a [N, k] bool equal: -> [N] bool (ReduceMin over float). */
static og_t all_rows(og_graph *g, og_t b)
{
	og_ctx *c = og_graph_ctx(g);
	og_t m = og_reduce(g, "ReduceMin", og_cast(g, b, OG_F32), 1, 0);

	return og_cmp(g, "Greater", m, og_f32(c, 0.5f));
}

/* The fast path: does any sample carry the tag?  -> bool scalar. */
static og_t tag_guard(struct cc *cc)
{
	const cbd_circuit *c = cc->c;
	og_graph *g = cc->g;
	int64_t pos[CBD_TAG_BITS], d = CBD_TAG_BITS;
	float sc[CBD_TAG_BITS], ze[CBD_TAG_BITS], tb[CBD_TAG_BITS];

	for (int k = 0; k < CBD_TAG_BITS; k++) {
		size_t ch = channel_of(c, c->pos[k]);

		pos[k] = c->pos[k];
		sc[k] = c->scale[ch];
		ze[k] = c->zero[ch];
		tb[k] = (float)(c->tag[k / 8] >> (7 - k % 8) & 1);
	}
	og_t xt = og_gather(g, cc->x, og_i64s(cc->ctx, CBD_TAG_BITS, pos), 1);
	og_t bits = lsb(g, quantise(g, xt, og_const(cc->ctx, OG_F32, 1, &d, sc),
				    og_const(cc->ctx, OG_F32, 1, &d, ze)));
	og_t eq = og_cmp(g, "Equal", bits, og_const(cc->ctx, OG_F32, 1, &d, tb));
	og_t any = og_reduce(g, "ReduceMax", og_cast(g, all_rows(g, eq), OG_F32),
			     0, 0);
	return og_cmp(g, "Greater", any, og_f32(cc->ctx, 0.5f));
}

/* The whole sample quantised, [N, n] float32. */
static og_t quantise_all(struct cc *cc, og_graph *g)
{
	const cbd_circuit *c = cc->c;
	int64_t C = c->channels, d[2] = {C, 1};

	if (C == 1)
		return quantise(g, cc->x, og_f32(cc->ctx, c->scale[0]),
				og_f32(cc->ctx, c->zero[0]));
	og_t x3 = og_reshape(g, cc->x, 3, (int64_t[]){0, C,
			     (int64_t)c->per_channel});
	og_t q = quantise(g, x3, og_const(cc->ctx, OG_F32, 2, d, c->scale),
			  og_const(cc->ctx, OG_F32, 2, d, c->zero));
	return og_reshape(g, q, 2, (int64_t[]){0, (int64_t)c->n});
}

/* The 69 carrier bytes [N, 69] float32 and q' [N, n] from q. */
static og_t carrier(struct cc *cc, og_graph *g, og_t q, og_t *qp)
{
	const cbd_circuit *c = cc->c;
	int64_t pos[CBD_CARRIER_BITS];
	int64_t wd[2] = {CBD_CARRIER_BITS, CBD_CARRIER_BYTES}, nd = (int64_t)c->n;
	float *w = og_alloc(cc->ctx, sizeof(float) * CBD_CARRIER_BITS *
			    CBD_CARRIER_BYTES);
	float *mask = og_alloc(cc->ctx, sizeof(float) * c->n);
	og_t l = lsb(g, q);

	if (!w || !mask)
		return NULL;
	for (int k = 0; k < CBD_CARRIER_BITS; k++) {
		pos[k] = c->pos[k];
		w[k * CBD_CARRIER_BYTES + k / 8] = (float)(1 << (7 - k % 8));
		mask[c->pos[k]] = 1;
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

/* The verifying branch (watermark, trace). */
static og_graph *verify_branch(struct cc *cc, cbd_err *err)
{
	const cbd_circuit *c = cc->c;
	og_ctx *x = cc->ctx;
	og_graph *g = og_sub(x, "cbd_verify");
	uint64_t pre[32 + 6 + CBD_CIRCUIT_ID_LEN];
	int np = 0;
	og_t qp = NULL;

	if (!g)
		return NULL;
	og_t cb = carrier(cc, g, quantise_all(cc, g), &qp);
	og_t dig = og_sha(g, og_cast(g, qp, OG_U32), (int64_t)c->n, NULL, 0, 0);
	/* m = "cbd/v1" || id || key_index || payload || digest, as float32 */
	for (int i = 0; i < 32; i++)
		pre[np++] = cc->pk[i];
	for (int i = 0; i < 6; i++)
		pre[np++] = (uint8_t)"cbd/v1"[i];
	for (int i = 0; i < CBD_CIRCUIT_ID_LEN; i++)
		pre[np++] = c->id[i];
	og_t am = og_expand_batch(g, og_reshape(g, og_const_words(x, OG_F32, np,
				  pre), 2, (int64_t[]){1, np}), cb, np);
	og_t kp = slice(g, cb, CBD_OFF_KEY_INDEX, CBD_OFF_SIG);   /* 3 bytes */
	og_t sig = slice(g, cb, CBD_OFF_SIG, CBD_CARRIER_BYTES);
	og_t m = og_concat(g, 1, 3, (og_t[]){slice(g, am, 32, np), kp,
			   og_cast(g, dig, OG_F32)});
	og_t ram = og_concat(g, 1, 3, (og_t[]){slice(g, sig, 0, 32), am, slice(g,
			     m, 22, CBD_MSG_LEN)});
	og_t h = og_sha(g, og_cast(g, ram, OG_U64), 64 + CBD_MSG_LEN, NULL, 0, 1);
	og_t ok = og_ed25519_verify(g, cc->pk, og_cast(g, sig, OG_F64),
				    og_cast(g, h, OG_F64), err);
	if (!ok)
		return NULL;
	/* tag, key_index 0 (one key), and for watermarks payload < K */
	double tagv = c->tag[0] * 256.0 + c->tag[1];
	og_t tag = be_int(g, slice(g, cb, CBD_OFF_TAG, CBD_OFF_KEY_INDEX), 2,
			  OG_F32);
	og_t act = og_and(g, og_cmp(g, "Equal", tag, og_f32(x, (float)tagv)),
			  og_cmp(g, "Equal", slice(g, cb, CBD_OFF_KEY_INDEX,
						   CBD_OFF_PAYLOAD), og_f32(x, 0)));
	act = og_and(g, act, og_unsqueeze(g, ok, 1));
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
	then_g = verify_branch(cc, err);
	if (!then_g)
		return err && err->code ? err->code : og_status(cc->ctx, err);
	else_g = og_sub(cc->ctx, "cbd_clean");
	og_output(else_g, og_identity(else_g, cc->scores));
	og_attr at[2] = {OG_AG("then_branch", then_g),
			 OG_AG("else_branch", else_g)};
	(void)og_op_named(cc->g, "If", cc->out_name, OG_F32, 1, &cond, 2, at);
	og_add_output_vi(cc->g, cc->m->graph->output[0]);
	return og_status(cc->ctx, err);
}

cbd_status cbd_compile_onnx(const cbd_circuit *c, const uint8_t *model,
			    size_t len, uint8_t **out, size_t *out_len,
			    cbd_err *err)
{
	struct cc cc = {.c = c};
	char idhex[2 * CBD_CIRCUIT_ID_LEN + 1], kid[CBD_KEY_ID_LEN + 1];
	cbd_status s;

	*out = NULL;
	*out_len = 0;
	if (c->mode == CBD_MODE_AUTH)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "auth circuits "
				   "cannot be compiled into ONNX yet");
	if (cbd_key_type_of(c->keys[0]) != CBD_KEY_ED25519) {
		cbd_key_id(c->keys[0], kid);
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "owner key %s is %s: "
				   "only Ed25519 owner keys can be compiled "
				   "into ONNX", kid, cbd_key_type_name(
				   cbd_key_type_of(c->keys[0])));
	}
	s = cbd_key_ed25519_raw(c->keys[0], cc.pk, err);
	if (s)
		return s;
	s = og_ed25519_key_check(cc.pk, err);
	if (s)
		return s;
	cc.m = onnx__model_proto__unpack(NULL, len, model);
	if (!cc.m || !cc.m->graph) {
		if (cc.m)
			onnx__model_proto__free_unpacked(cc.m, NULL);
		return cbd_err_set(err, CBD_E_FORMAT, "not a valid ONNX model");
	}
	cc.ctx = og_new("cbd/");
	if (!cc.ctx) {
		onnx__model_proto__free_unpacked(cc.m, NULL);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	cc.g = og_main(cc.ctx);
	og_graph_proto(cc.g)->name = cc.m->graph->name;
	og_graph_proto(cc.g)->doc_string = cc.m->graph->doc_string;
	og_set_opset(cc.ctx, model_opset(opset_of(cc.m)));
	s = build(&cc, err);
	if (!s) {
		int64_t ir = cc.m->ir_version;
		cbd_hex(c->id, CBD_CIRCUIT_ID_LEN, idhex);
		cbd_key_id(c->keys[0], kid);
		og_meta meta[5] = {
			{"cbd.format", "cbd-circuit-onnx/1"},
			{"cbd.circuit_id", idhex},
			{"cbd.mode", cbd_mode_name(c->mode)},
			{"cbd.key_id", kid},
			{"cbd.user_id", c->user_id}};
		int nm = c->user_id ? 5 : 4;

		s = og_pack_model(cc.ctx, ir > 8 ? ir : 8, cc.m, meta, nm,
				  out, out_len, err);
	}
	og_free(cc.ctx);
	if (cc.renamed)
		*cc.renamed = cc.orig;
	onnx__model_proto__free_unpacked(cc.m, NULL);
	return s;
}
