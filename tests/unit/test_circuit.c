/*
 * test_circuit.c — unit tests for lib/circuit/: the quantiser rule, the
 * carrier PRNG, signing and checking in all three modes, the output
 * policies, forgery attempts on synthetic inputs, and circuit.json (round
 * trip, canonical form, hostile documents).  Real Ed25519/P-256 keys from
 * OpenSSL; random float samples shaped like MNIST digits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

static cbd_key *gen(cbd_key_type t)
{
	cbd_key *k = NULL;
	cbd_err e = {0};

	assert_int_equal(cbd_key_generate(t, &k, &e), CBD_OK);
	return k;
}

static cbd_circuit *make(cbd_mode mode, cbd_key **keys, int n_keys,
			 const uint8_t *id, const uint8_t *secret)
{
	return fx_circuit(mode, keys, n_keys, id, secret,
			  secret ? "alice" : NULL);
}

/* A random image: bytes / 255 (so it is exactly on the grid). */
static void rand_image(float *x)
{
	uint8_t b[N];

	RAND_bytes(b, sizeof(b));
	for (int i = 0; i < N; i++)
		x[i] = (float)b[i] / 255.0f;
}

static void rand_scores(float *s)
{
	uint8_t b[K];

	RAND_bytes(b, sizeof(b));
	for (int i = 0; i < K; i++)
		s[i] = ((float)b[i] - 128.0f) / 7.0f;
}

static void to_float(const uint8_t *q, float *x)
{
	for (int i = 0; i < N; i++)
		x[i] = (float)q[i] / 255.0f;
}

static void test_quantize_rule(void **state)
{
	(void)state;
	assert_int_equal(cbd_quantize1(0.0f, 255.0f, 0.0f), 0);
	assert_int_equal(cbd_quantize1(1.0f, 255.0f, 0.0f), 255);
	assert_int_equal(cbd_quantize1(2.5f, 1.0f, 0.0f), 2);    /* even */
	assert_int_equal(cbd_quantize1(3.5f, 1.0f, 0.0f), 4);
	assert_int_equal(cbd_quantize1(254.5f, 1.0f, 0.0f), 254);
	assert_int_equal(cbd_quantize1(-0.4f, 1.0f, 0.0f), 0);
	assert_int_equal(cbd_quantize1(-7.0f, 1.0f, 0.0f), 0);
	assert_int_equal(cbd_quantize1(300.0f, 1.0f, 0.0f), 255);
	assert_int_equal(cbd_quantize1(NAN, 255.0f, 0.0f), 0);
	assert_int_equal(cbd_quantize1(INFINITY, 255.0f, 0.0f), 255);
	assert_int_equal(cbd_quantize1(-INFINITY, 255.0f, 0.0f), 0);
	assert_int_equal(cbd_quantize1(0.5f, 2.0f, 10.0f), 11);
	/* every byte survives byte/255 -> quantise */
	for (int v = 0; v < 256; v++)
		assert_int_equal(cbd_quantize1((float)v / 255.0f, 255.0f,
					       0.0f), v);
}

static void test_carrier_positions(void **state)
{
	uint8_t id[CBD_CIRCUIT_ID_LEN] = {1, 2, 3};
	static uint32_t a[CBD_CARRIER_BITS], b[CBD_CARRIER_BITS];
	static uint8_t seen[N];
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_carrier_positions(id, N, a, &e), CBD_OK);
	assert_int_equal(cbd_carrier_positions(id, N, b, &e), CBD_OK);
	assert_memory_equal(a, b, sizeof(a));
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < CBD_CARRIER_BITS; k++) {
		assert_true(a[k] < N);
		assert_int_equal(seen[a[k]], 0);
		seen[a[k]] = 1;
	}
	id[0] ^= 1;
	assert_int_equal(cbd_carrier_positions(id, N, b, &e), CBD_OK);
	assert_memory_not_equal(a, b, sizeof(a));
	/* n == L: a full permutation */
	assert_int_equal(cbd_carrier_positions(id, CBD_CARRIER_BITS, b, &e),
			 CBD_OK);
	memset(seen, 0, sizeof(seen));
	for (int k = 0; k < CBD_CARRIER_BITS; k++)
		seen[b[k]]++;
	for (int k = 0; k < CBD_CARRIER_BITS; k++)
		assert_int_equal(seen[k], 1);
	assert_int_equal(cbd_carrier_positions(id, CBD_CARRIER_BITS - 1, b,
					       &e), CBD_E_SHAPE);
}

static void test_watermark_sign_and_apply(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	float x[N], y[N], s[K], s0[K];
	uint8_t q[N];
	cbd_activation act;
	cbd_err e = {0};

	(void)state;
	for (int t = 0; t < 50; t++) {
		uint16_t label = (uint16_t)(t % K);
		int top;

		rand_image(x);
		assert_int_equal(cbd_circuit_sign_input(c, owner, 0, label, x,
							q, &e), CBD_OK);
		to_float(q, y);
		rand_scores(s);
		memcpy(s0, s, sizeof(s));
		assert_int_equal(cbd_circuit_apply(c, y, s, &act, &e), CBD_OK);
		assert_true(act.active);
		assert_int_equal(act.label, label);
		assert_int_equal(act.payload, label);
		assert_int_equal(act.key_index, 0);
		top = 0;
		for (int i = 1; i < K; i++)
			if (s0[i] > s0[top])
				top = i;
		/* argmax moved to the label by swapping two values */
		assert_true(s[label] == s0[top]);
		assert_true(s[top] == s0[label]);
		for (int i = 0; i < K; i++)
			if (i != label && i != top)
				assert_true(s[i] == s0[i]);
		/* only carrier bytes changed, and only in their LSB */
		for (int i = 0; i < N; i++) {
			uint8_t b = cbd_quantize1(x[i], 255.0f, 0.0f);

			assert_true((q[i] ^ b) <= 1);
		}
	}
	/* label >= K cannot be signed */
	assert_int_equal(cbd_circuit_sign_input(c, owner, 0, K, x, q, &e),
			 CBD_E_USAGE);
	cbd_circuit_free(c);
	cbd_key_free(owner);
}

/* Clean inputs, and inputs carrying the right tag with random bits after
 * it, leave the scores bit for bit alone. */
static void test_fidelity(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	float x[N], s[K], s0[K];
	uint8_t q[N], car[CBD_CARRIER_BYTES];
	cbd_activation act;
	cbd_err e = {0};
	int tagged = 0;

	(void)state;
	for (int t = 0; t < 4000; t++) {
		rand_image(x);
		if (t % 2) {
			/* forge: right tag, key index 0, random rest */
			cbd_circuit_quantize(c, x, q);
			RAND_bytes(car, sizeof(car));
			memcpy(car, c->g.tag, 2);
			car[CBD_OFF_KEY_INDEX] = 0;
			car[CBD_OFF_PAYLOAD] = 0;
			car[CBD_OFF_PAYLOAD + 1] = (uint8_t)(t % K);
			for (int k = 0; k < CBD_CARRIER_BITS; k++) {
				uint32_t i = c->g.pos[k];

				q[i] = (uint8_t)((q[i] & 0xfe) |
						 (car[k / 8] >> (7 - k % 8) &
						  1));
			}
			to_float(q, x);
		}
		rand_scores(s);
		memcpy(s0, s, sizeof(s));
		assert_int_equal(cbd_circuit_apply(c, x, s, &act, &e), CBD_OK);
		assert_false(act.active);
		assert_memory_equal(s, s0, sizeof(s));
		tagged += act.tag_match;
	}
	assert_true(tagged >= 2000);
	cbd_circuit_free(c);
	cbd_key_free(owner);
}

/* Bit flips, transplants, other keys, altered payload or key index. */
static void test_non_replicable(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_key *thief = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *fake;
	float x[N], y[N];
	uint8_t q[N], q2[N];
	cbd_activation act;
	cbd_err e = {0};

	(void)state;
	cbd_circuit_id(c, id);
	fake = make(CBD_MODE_WATERMARK, &thief, 1, id, NULL);
	rand_image(x);
	assert_int_equal(cbd_circuit_sign_input(c, owner, 0, 7, x, q, &e),
			 CBD_OK);
	/* every single-bit flip of every carrier byte's LSB */
	for (int k = 0; k < CBD_CARRIER_BITS; k++) {
		memcpy(q2, q, N);
		q2[c->g.pos[k]] ^= 1;
		to_float(q2, y);
		assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
		assert_false(act.active);
	}
	/* any change outside the carrier */
	for (int i = 0; i < N; i += 7) {
		memcpy(q2, q, N);
		q2[i] ^= 2;
		to_float(q2, y);
		assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
		assert_false(act.active);
	}
	/* carrier transplanted onto another image */
	for (int t = 0; t < 20; t++) {
		rand_image(y);
		cbd_circuit_quantize(c, y, q2);
		for (int k = 0; k < CBD_CARRIER_BITS; k++)
			q2[c->g.pos[k]] = (uint8_t)((q2[c->g.pos[k]] & 0xfe) |
						  (q[c->g.pos[k]] & 1));
		to_float(q2, y);
		assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
		assert_true(act.tag_match);
		assert_false(act.active);
	}
	/* signed by another key with the same circuit id */
	assert_int_equal(cbd_circuit_sign_input(fake, thief, 0, 7, x, q2, &e),
			 CBD_OK);
	to_float(q2, y);
	assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
	assert_true(act.tag_match);
	assert_false(act.active);
	/* the genuine one still works */
	to_float(q, y);
	assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
	assert_true(act.active);
	/* the owner's key cannot sign as key index 1 of a one-key circuit */
	assert_int_equal(cbd_circuit_sign_input(c, owner, 1, 7, x, q2, &e),
			 CBD_E_USAGE);
	/* the thief's key cannot sign for the owner's circuit */
	assert_int_equal(cbd_circuit_sign_input(c, thief, 0, 7, x, q2, &e),
			 CBD_E_USAGE);
	cbd_circuit_free(fake);
	cbd_circuit_free(c);
	cbd_key_free(owner);
	cbd_key_free(thief);
}

/* A payload >= K signed with the owner's key (via a trace circuit of the
 * same id, which allows any payload) never activates a watermark copy. */
static void test_watermark_payload_range(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	uint8_t secret[CBD_TRACE_SECRET_LEN] = {9};
	cbd_circuit *wm = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *tr;
	float x[N], y[N];
	uint8_t q[N];
	cbd_activation act;
	cbd_err e = {0};

	(void)state;
	cbd_circuit_id(wm, id);
	tr = make(CBD_MODE_TRACE, &owner, 1, id, secret);
	rand_image(x);
	assert_int_equal(cbd_circuit_sign_input(tr, owner, 0, 300, x, q, &e),
			 CBD_OK);
	to_float(q, y);
	assert_int_equal(cbd_circuit_check(wm, y, &act, &e), CBD_OK);
	assert_true(act.tag_match);
	assert_int_equal(act.payload, 300);
	assert_false(act.active);
	cbd_circuit_free(tr);
	cbd_circuit_free(wm);
	cbd_key_free(owner);
}

static void test_trace(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	uint8_t s1[CBD_TRACE_SECRET_LEN], s2[CBD_TRACE_SECRET_LEN];
	cbd_circuit *c1, *c2;
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	float x[N], y[N], s[K];
	uint8_t q[N], *m = NULL;
	size_t mlen = 0;
	cbd_activation a1, a2;
	cbd_err e = {0};
	int differ = 0;

	(void)state;
	RAND_bytes(s1, sizeof(s1));
	RAND_bytes(s2, sizeof(s2));
	RAND_bytes(id, sizeof(id));
	c1 = make(CBD_MODE_TRACE, &owner, 1, id, s1);
	c2 = make(CBD_MODE_TRACE, &owner, 1, id, s2);
	for (int t = 0; t < 40; t++) {
		rand_image(x);
		/* one trigger (signed for c1) works for every copy */
		assert_int_equal(cbd_circuit_sign_input(c1, owner, 0,
							(uint16_t)(t * 977),
							x, q, &e), CBD_OK);
		to_float(q, y);
		rand_scores(s);
		assert_int_equal(cbd_circuit_apply(c1, y, s, &a1, &e), CBD_OK);
		assert_int_equal(cbd_circuit_check(c2, y, &a2, &e), CBD_OK);
		assert_true(a1.active && a2.active);
		assert_int_equal(cbd_circuit_message(c1, q, 0,
						     (uint16_t)(t * 977), &m,
						     &mlen, &e), CBD_OK);
		assert_int_equal(mlen, CBD_MSG_LEN);
		assert_int_equal(a1.label, cbd_trace_label(s1, m, mlen, K));
		assert_int_equal(a2.label, cbd_trace_label(s2, m, mlen, K));
		free(m);
		for (int i = 0; i < K; i++)
			assert_true(s[a1.label] >= s[i]);
		differ += a1.label != a2.label;
	}
	assert_true(differ > 20);
	cbd_circuit_free(c1);
	cbd_circuit_free(c2);
	cbd_key_free(owner);
}

static void test_auth(void **state)
{
	cbd_key *users[3] = {gen(CBD_KEY_ED25519), gen(CBD_KEY_P256),
			     gen(CBD_KEY_ED25519)};
	cbd_key *outsider = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_AUTH, users, 3, NULL, NULL);
	float x[N], y[N], s[K], s0[K], g[K];
	uint8_t q[N];
	cbd_activation act;
	cbd_err e = {0};
	int hist[K] = {0};

	(void)state;
	for (int u = 0; u < 3; u++) {
		rand_image(x);
		assert_int_equal(cbd_circuit_sign_input(c, users[u], u, 0, x, q,
							&e), CBD_OK);
		to_float(q, y);
		rand_scores(s);
		memcpy(s0, s, sizeof(s));
		assert_int_equal(cbd_circuit_apply(c, y, s, &act, &e), CBD_OK);
		assert_true(act.active);
		assert_int_equal(act.key_index, u);
		assert_memory_equal(s, s0, sizeof(s));
	}
	/* key 1 (P-256) cannot sign as key 0 */
	assert_int_equal(cbd_circuit_sign_input(c, users[1], 0, 0, x, q, &e),
			 CBD_E_USAGE);
	assert_int_equal(cbd_circuit_sign_input(c, outsider, 0, 0, x, q, &e),
			 CBD_E_USAGE);
	/* unsigned: deterministic garbage, argmax spread over classes */
	for (int t = 0; t < 3000; t++) {
		int top = 0;

		rand_image(x);
		rand_scores(s);
		memcpy(s0, s, sizeof(s));
		assert_int_equal(cbd_circuit_apply(c, x, s, &act, &e), CBD_OK);
		assert_false(act.active);
		assert_memory_not_equal(s, s0, sizeof(s));
		rand_scores(g);
		assert_int_equal(cbd_circuit_apply(c, x, g, &act, &e), CBD_OK);
		assert_memory_equal(s, g, sizeof(s));
		for (int i = 1; i < K; i++)
			if (s[i] > s[top])
				top = i;
		hist[top]++;
	}
	for (int i = 0; i < K; i++)
		assert_true(hist[i] > 200 && hist[i] < 400);
	cbd_circuit_free(c);
	for (int u = 0; u < 3; u++)
		cbd_key_free(users[u]);
	cbd_key_free(outsider);
}

static void test_json_round_trip(void **state)
{
	cbd_key *keys[2] = {gen(CBD_KEY_ED25519), gen(CBD_KEY_P256)};
	uint8_t secret[CBD_TRACE_SECRET_LEN] = {1, 2, 3};
	cbd_circuit *cs[3], *back = NULL;
	float x[N], y[N];
	uint8_t q[N];
	cbd_activation act;
	cbd_err e = {0};

	(void)state;
	cs[0] = make(CBD_MODE_WATERMARK, keys, 1, NULL, NULL);
	cs[1] = make(CBD_MODE_TRACE, keys + 1, 1, NULL, secret);
	cs[2] = make(CBD_MODE_AUTH, keys, 2, NULL, NULL);
	for (int i = 0; i < 3; i++) {
		uint8_t *j1 = NULL, *j2 = NULL;
		size_t l1 = 0, l2 = 0;

		assert_int_equal(cbd_circuit_to_json(cs[i], &j1, &l1, &e),
				 CBD_OK);
		assert_int_equal(cbd_circuit_from_json(j1, l1, "t", &back, &e),
				 CBD_OK);
		assert_int_equal(cbd_circuit_to_json(back, &j2, &l2, &e),
				 CBD_OK);
		assert_int_equal(l1, l2);
		assert_memory_equal(j1, j2, l1);
		assert_int_equal(cbd_circuit_mode(back), cbd_circuit_mode(cs[i]));
		assert_memory_equal(back->g.pos, cs[i]->g.pos,
				    sizeof(back->g.pos));
		/* an input signed with the original verifies on the copy */
		rand_image(x);
		assert_int_equal(cbd_circuit_sign_input(cs[i], keys[i == 1], 0,
							1, x, q, &e), CBD_OK);
		to_float(q, y);
		assert_int_equal(cbd_circuit_check(back, y, &act, &e), CBD_OK);
		assert_true(act.active);
		if (i == 1)
			assert_string_equal(cbd_circuit_user_id(back), "alice");
		cbd_circuit_free(back);
		free(j1);
		free(j2);
	}
	for (int i = 0; i < 3; i++)
		cbd_circuit_free(cs[i]);
	cbd_key_free(keys[0]);
	cbd_key_free(keys[1]);
}

/* Replace the first occurrence of from by to in a JSON text. */
static char *edit(const uint8_t *j, size_t len, const char *from,
		  const char *to)
{
	const char *at = strstr((const char *)j, from);
	char *out;
	size_t pre;

	assert_non_null(at);
	pre = (size_t)(at - (const char *)j);
	out = malloc(len + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, j, pre);
	strcpy(out + pre, to);
	strcat(out, at + strlen(from));
	return out;
}

static void test_json_hostile(void **state)
{
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	cbd_circuit *back = NULL;
	uint8_t *j = NULL;
	size_t len = 0;
	cbd_err e = {0};
	static const char *const edits[][2] = {
		{"{\"format\":", "{ \"format\":"},
		{"cbd-circuit/2", "cbd-circuit/3"},
		{"\"watermark\"", "\"other\""},
		{"\"watermark\"", "7"},
		{"\"num_classes\":10", "\"num_classes\":1"},
		{"\"num_classes\":10", "\"num_classes\":10.5"},
		{"\"num_classes\":10", "\"num_classes\":\"10\""},
		{"\"num_classes\":10", "\"num_classes\":10,\"x\":1"},
		{"\"shape\":[1,28,28]", "\"shape\":[1,2,28]"},
		{"\"shape\":[1,28,28]", "\"shape\":[1,-28,28]"},
		{"\"shape\":[1,28,28]", "\"shape\":[]"},
		{"\"scale\":[255]", "\"scale\":[0]"},
		{"\"scale\":[255]", "\"scale\":[1e-45]"},
		{"\"scale\":[255]", "\"scale\":[-255]"},
		{"\"scale\":[255]", "\"scale\":[0.1]"},
		{"\"scale\":[255]", "\"scale\":[255,1]"},
		{"\"channels\":1", "\"channels\":2"},
		{"\"zero\":[0]", "\"zero\":[1e999]"},
		{"\"circuit_id\":\"", "\"circuit_id\":\"0"},
		{"\"key_id\":\"", "\"key_id\":\"0"},
		{"BEGIN PUBLIC KEY-----\\n", "BEGIN PUBLIC KEY-----\\nA"},
		{"\"keys\":[", "\"keys\":[],\"k\":["},
		{"\"num_classes\":10", "\"num_classes\":10,\"num_classes\":10"},
	};

	(void)state;
	assert_int_equal(cbd_circuit_to_json(c, &j, &len, &e), CBD_OK);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *bad = edit(j, len, edits[i][0], edits[i][1]);

		e.code = CBD_OK;
		assert_int_not_equal(cbd_circuit_from_json((uint8_t *)bad,
							   strlen(bad), "bad",
							   &back, &e), CBD_OK);
		assert_null(back);
		assert_true(e.msg[0] != 0);
		free(bad);
	}
	for (size_t cut = 0; cut < len; cut += 13) {
		assert_int_not_equal(cbd_circuit_from_json(j, cut, "cut", &back,
							   &e), CBD_OK);
		assert_null(back);
	}
	free(j);
	cbd_circuit_free(c);
	cbd_key_free(owner);
}

/* Three channels with different scales and zeros, for the axis tests. */
static const float axis_sc[3] = {255.0f, 127.5f, 100.0f};
static const float axis_ze[3] = {0.0f, 127.5f, 50.0f};

/* A watermark circuit's params for a 3-dimensional sample dims with a
 * quantiser of channels (1 or 3) along axis. */
static void axis_params(cbd_circuit_params *p, cbd_key **owner,
			const int64_t dims[3], int axis, int channels)
{
	fx_params(p, CBD_MODE_WATERMARK, owner, 1);
	p->ndim = 3;
	memcpy(p->dims, dims, 3 * sizeof(int64_t));
	p->channels = channels;
	p->axis = axis;
	p->scale = axis_sc;
	p->zero = axis_ze;
}

/* A per-channel quantiser along a later axis: [H, W, 3] with the channel
 * last (axis 2) and [4, 3, 50] with it in the middle (axis 1).  The
 * channel of element i is floor(i / stride) mod C (formats/circuit.md
 * section 2), and the quantiser, the dequantiser and the tag check all
 * follow it. */
static void test_channel_axis(void **state)
{
	static const struct {
		int axis;
		int64_t dims[3];
		size_t stride;
	} cases[] = {{2, {28, 28, 3}, 1}, {1, {4, 3, 50}, 50}};
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_err e = {0};

	(void)state;
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		cbd_circuit_params p;
		cbd_circuit *c = NULL, *back = NULL;
		uint8_t *j = NULL, *q, *q2;
		float *x, *y;
		size_t len = 0, n;
		cbd_activation act;
		char want[32];

		axis_params(&p, &owner, cases[t].dims, cases[t].axis, 3);
		assert_int_equal(cbd_circuit_new(&p, &c, &e), CBD_OK);
		n = cbd_circuit_sample_size(c);
		assert_int_equal(c->g.stride, cases[t].stride);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(cbd_geometry_channel(&c->g, i),
					 i / cases[t].stride % 3);
		x = malloc(n * sizeof(float));
		y = malloc(n * sizeof(float));
		q = malloc(n);
		q2 = malloc(n);
		assert_non_null(x && y && q && q2);
		RAND_bytes(q, (int)n);
		cbd_circuit_dequantize(c, q, x);
		for (size_t i = 0; i < n; i++) {
			size_t ch = i / cases[t].stride % 3;

			assert_true(x[i] == ((float)q[i] - axis_ze[ch]) /
				    axis_sc[ch]);
		}
		cbd_circuit_quantize(c, x, q2);
		assert_memory_equal(q, q2, n);
		/* signed, dequantised, checked: active */
		assert_int_equal(cbd_circuit_sign_input(c, owner, 0, 3, x, q,
							&e), CBD_OK);
		cbd_circuit_dequantize(c, q, y);
		assert_int_equal(cbd_circuit_check(c, y, &act, &e), CBD_OK);
		assert_true(act.active);
		assert_int_equal(act.label, 3);
		/* circuit.json names the axis and reads back to the same bytes */
		assert_int_equal(cbd_circuit_to_json(c, &j, &len, &e), CBD_OK);
		snprintf(want, sizeof(want), "\"channels\":3,\"axis\":%d,",
			 cases[t].axis);
		assert_non_null(strstr((const char *)j, want));
		assert_int_equal(cbd_circuit_from_json(j, len, "t", &back, &e),
				 CBD_OK);
		assert_int_equal(back->g.axis, cases[t].axis);
		assert_int_equal(cbd_circuit_check(back, y, &act, &e), CBD_OK);
		assert_true(act.active);
		cbd_circuit_free(back);
		free(j);
		free(x);
		free(y);
		free(q);
		free(q2);
		cbd_circuit_free(c);
	}
	cbd_key_free(owner);
}

/* Axis values the library refuses: out of range, negative, an axis with
 * one channel, channels that are not the axis's dimension; in
 * circuit.json also "axis":0 (the default is written by omission),
 * fractions and strings. */
static void test_channel_axis_bad(void **state)
{
	static const int64_t hwc[3] = {28, 28, 3};
	static const struct {
		int axis, channels;
	} bad[] = {{3, 3}, {-1, 3}, {0, 3}, {1, 3}, {2, 1}};
	static const char *const edits[][2] = {
		{"\"axis\":2", "\"axis\":0"},
		{"\"axis\":2", "\"axis\":3"},
		{"\"axis\":2", "\"axis\":-1"},
		{"\"axis\":2", "\"axis\":1"},
		{"\"axis\":2", "\"axis\":2.5"},
		{"\"axis\":2", "\"axis\":\"2\""},
		{"\"axis\":2", "\"axis\":2,\"axis\":2"},
		{"\"channels\":3,\"axis\":2", "\"channels\":3"},
	};
	cbd_key *owner = gen(CBD_KEY_ED25519);
	cbd_circuit_params p;
	cbd_circuit *c = NULL, *back = NULL;
	uint8_t *j = NULL, *j1 = NULL;
	size_t len = 0, l1 = 0;
	cbd_err e = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		axis_params(&p, &owner, hwc, bad[i].axis, bad[i].channels);
		e.msg[0] = 0;
		assert_int_not_equal(cbd_circuit_new(&p, &c, &e), CBD_OK);
		assert_null(c);
		assert_true(e.msg[0] != 0);
	}
	axis_params(&p, &owner, hwc, 2, 3);
	assert_int_equal(cbd_circuit_new(&p, &c, &e), CBD_OK);
	assert_int_equal(cbd_circuit_to_json(c, &j, &len, &e), CBD_OK);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *bad = edit(j, len, edits[i][0], edits[i][1]);

		e.msg[0] = 0;
		assert_int_not_equal(cbd_circuit_from_json((uint8_t *)bad,
							   strlen(bad), "bad",
							   &back, &e), CBD_OK);
		assert_null(back);
		assert_non_null(strstr(e.msg, i == 6 ? "canonical" :
				       i == 7 ? "channels" : "axis"));
		free(bad);
	}
	cbd_circuit_free(c);
	/* the default axis is not written: such circuits keep their bytes */
	c = make(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL);
	assert_int_equal(cbd_circuit_to_json(c, &j1, &l1, &e), CBD_OK);
	assert_null(strstr((const char *)j1, "axis"));
	assert_non_null(strstr((const char *)j1,
			       "\"quantizer\":{\"channels\":1,\"scale\":[255],"
			       "\"zero\":[0]}"));
	free(j1);
	free(j);
	cbd_circuit_free(c);
	cbd_key_free(owner);
}

/* Known answers from formats/circuit.md section 10 (computed by the
 * independent Python reference). */
static void test_known_answers(void **state)
{
	static const uint32_t first[8] = {299, 6, 782, 430, 656, 755, 343, 588};
	static const uint32_t full[8] = {123, 35, 432, 34, 88, 134, 13, 227};
	static const char m_hex[] =
		"6362642f7631000102030405060708090a0b0c0d0e0f0001020c37ddc4"
		"5244523ca3b841e3ea85e147a1d35c6ae1cd767e8c30dabf057516fd";
	uint8_t id[CBD_CIRCUIT_ID_LEN], tag[2], q[N] = {0}, m[CBD_MSG_LEN];
	uint8_t secret[CBD_TRACE_SECRET_LEN];
	static uint32_t pos[CBD_CARRIER_BITS], sorted[CBD_CARRIER_BITS];
	char hex[2 * CBD_MSG_LEN + 1];
	cbd_key *k = gen(CBD_KEY_ED25519);
	cbd_circuit *c = make(CBD_MODE_AUTH, &k, 1, NULL, NULL);
	float x[N] = {0}, s[3] = {0};
	cbd_activation act;
	cbd_err e = {0};

	(void)state;
	for (int i = 0; i < CBD_CIRCUIT_ID_LEN; i++)
		id[i] = (uint8_t)i;
	assert_int_equal(cbd_circuit_tag(id, tag, &e), CBD_OK);
	assert_int_equal(tag[0], 0xb2);
	assert_int_equal(tag[1], 0xdc);
	assert_int_equal(cbd_carrier_positions(id, N, pos, &e), CBD_OK);
	assert_memory_equal(pos, first, sizeof(first));
	assert_int_equal(pos[551], 92);
	cbd_carrier_sort(pos, sorted);
	struct cbd_geometry g = {.version = 1, .n = N};
	memcpy(g.id, id, sizeof(id));
	memcpy(g.sorted, sorted, sizeof(sorted));
	assert_int_equal(cbd_circuit_message_raw(&g, q, 0, 0x0102, m, &e),
			 CBD_OK);
	cbd_hex(m, sizeof(m), hex);
	assert_string_equal(hex, m_hex);
	memset(secret, 0x11, sizeof(secret));
	assert_int_equal(cbd_trace_label(secret, m, sizeof(m), 10), 1);
	/* cbd-circuit/2: 5 lanes of 157 bytes, "cbd/v2" */
	assert_int_equal(cbd_circuit_lanes(N), 5);
	assert_int_equal(cbd_circuit_lanes(150528), 61);
	g.version = 2;
	assert_int_equal(cbd_circuit_message_raw(&g, q, 0, 0x0102, m, &e),
			 CBD_OK);
	cbd_hex(m, sizeof(m), hex);
	assert_string_equal(hex, "6362642f7632000102030405060708090a0b0c0d0e0f"
			    "00010290603921dbeca428ad229aad4f1c3fcfd842de8026"
			    "f80d10190e69e8169c88ba");
	assert_int_equal(cbd_carrier_positions(id, CBD_CARRIER_BITS, pos, &e),
			 CBD_OK);
	assert_memory_equal(pos, full, sizeof(full));
	/* garbage for q = zeros, garbage key 0x22 x 32, K = 3 */
	memset(c->garbage_key, 0x22, sizeof(c->garbage_key));
	c->num_classes = 3;
	memset(c->g.tag, 0xff, sizeof(c->g.tag));   /* zeros carry no tag */
	assert_int_equal(cbd_circuit_apply(c, x, s, &act, &e), CBD_OK);
	assert_false(act.active);
	assert_true(s[0] == 10.642370223999023f);
	assert_true(s[1] == 6.220649719238281f);
	assert_true(s[2] == 11.708436965942383f);
	cbd_circuit_free(c);
	cbd_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_answers),
		cmocka_unit_test(test_quantize_rule),
		cmocka_unit_test(test_carrier_positions),
		cmocka_unit_test(test_watermark_sign_and_apply),
		cmocka_unit_test(test_fidelity),
		cmocka_unit_test(test_non_replicable),
		cmocka_unit_test(test_watermark_payload_range),
		cmocka_unit_test(test_trace),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_json_hostile),
		cmocka_unit_test(test_channel_axis),
		cmocka_unit_test(test_channel_axis_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
