/*
 * test_circuit_mnist.c — the circuit's properties on real data: the bundled
 * MNIST classifier (models/mnist-cnn.onnx, run by cbd_nn) and its held-out
 * digits (models/mnist-heldout-*.npy).
 *
 *  - fidelity: watermark and trace copies answer bit-identically to the
 *    bare classifier on every held-out digit, 10,000 random inputs and
 *    10,000 inputs carrying the right tag with a random signature;
 *  - activation: every signed watermark trigger returns the owner's label,
 *    every trace trigger its user's HMAC label; the unsigned base images
 *    hit the owner's labels no more often than chance;
 *  - non-replicability: over 100,000 forgeries (random signatures, every
 *    single-bit flip of valid carriers, transplanted carriers, other keys,
 *    altered payload or key index, outsiders in auth mode) none activates;
 *  - authentication: signed digits keep the bare accuracy within 0.5
 *    points, unsigned ones fall to <= 20%, and the same unsigned input
 *    always gets the same answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#define BATCH 500

static cbd_nn *nn;
static cbd_tensor *images, *labels;   /* uint8 [2000,1,28,28], [2000] */
static size_t n_images;
static cbd_key *owner, *thief;

static const char *top_dir(void)
{
	const char *t = getenv("CBD_TOP");

	return t && *t ? t : ".";
}

static int setup(void **state)
{
	char p[4096];
	cbd_nn_opts o = {0};
	cbd_err e = {0};

	(void)state;
	snprintf(p, sizeof(p), "%s/models/mnist-cnn.onnx", top_dir());
	if (cbd_nn_load_file(p, &o, &nn, &e))
		return fprintf(stderr, "%s\n", e.msg), -1;
	snprintf(p, sizeof(p), "%s/models/mnist-heldout-images.npy",
		 top_dir());
	if (cbd_tensor_load(p, CBD_TF_NPY, &images, &e))
		return fprintf(stderr, "%s\n", e.msg), -1;
	snprintf(p, sizeof(p), "%s/models/mnist-heldout-labels.npy",
		 top_dir());
	if (cbd_tensor_load(p, CBD_TF_NPY, &labels, &e))
		return fprintf(stderr, "%s\n", e.msg), -1;
	n_images = images->nelem / N;
	if (images->dtype != CBD_DT_UINT8 || n_images < 1000 ||
	    labels->nelem != n_images)
		return -1;
	if (cbd_key_generate(CBD_KEY_ED25519, &owner, &e) ||
	    cbd_key_generate(CBD_KEY_ED25519, &thief, &e))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	cbd_nn_free(nn);
	cbd_tensor_free(images);
	cbd_tensor_free(labels);
	cbd_key_free(owner);
	cbd_key_free(thief);
	return 0;
}

/* Bare classifier scores for count float samples (count*K floats). */
static float *classify(const float *x, size_t count)
{
	float *s = malloc(count * K * sizeof(float));
	cbd_err e = {0};

	assert_non_null(s);
	for (size_t b = 0; b < count; b += BATCH) {
		size_t m = count - b < BATCH ? count - b : BATCH;
		int64_t dims[4] = {(int64_t)m, 1, 28, 28};
		cbd_tensor *in = NULL, *out = NULL;

		assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 4, dims, &in,
						&e), CBD_OK);
		memcpy(in->data, x + b * N, m * N * sizeof(float));
		assert_int_equal(cbd_nn_run(nn, (const cbd_tensor *const *)&in,
					    1, &out, 1, &e), CBD_OK);
		assert_int_equal(out->nelem, m * K);
		memcpy(s + b * K, out->data, m * K * sizeof(float));
		cbd_tensor_free(in);
		cbd_tensor_free(out);
	}
	return s;
}

static int argmax(const float *s)
{
	int t = 0;

	for (int i = 1; i < K; i++)
		if (s[i] > s[t])
			t = i;
	return t;
}

static float *digits_float(void)
{
	float *x = malloc(n_images * N * sizeof(float));
	const uint8_t *q = images->data;

	assert_non_null(x);
	for (size_t i = 0; i < n_images * N; i++)
		x[i] = (float)q[i] / 255.0f;
	return x;
}

static void bytes_to_float(const uint8_t *q, float *x, size_t count)
{
	for (size_t i = 0; i < count; i++)
		x[i] = (float)q[i] / 255.0f;
}

/* Put the circuit's tag, key index 0, a payload < K and random signature
 * bits into q's carrier. */
static void forge_carrier(const cbd_circuit *c, uint8_t *q)
{
	uint8_t car[CBD_CARRIER_BYTES];

	RAND_bytes(car, sizeof(car));
	memcpy(car, c->g.tag, 2);
	car[CBD_OFF_KEY_INDEX] = 0;
	car[CBD_OFF_PAYLOAD] = 0;
	car[CBD_OFF_PAYLOAD + 1] %= K;
	for (int k = 0; k < CBD_CARRIER_BITS; k++)
		q[c->g.pos[k]] = (uint8_t)((q[c->g.pos[k]] & 0xfe) |
					 (car[k / 8] >> (7 - k % 8) & 1));
}

/* apply() leaves every score of every sample bit for bit alone. */
static void assert_identical(const cbd_circuit *c, const float *x,
			     size_t count, int *tagged)
{
	float *bare = classify(x, count);
	float s[K];
	cbd_err e = {0};

	for (size_t i = 0; i < count; i++) {
		cbd_activation act;

		memcpy(s, bare + i * K, sizeof(s));
		assert_int_equal(cbd_circuit_apply(c, x + i * N, s, &act, &e),
				 CBD_OK);
		assert_false(act.active);
		assert_memory_equal(s, bare + i * K, sizeof(s));
		*tagged += act.tag_match;
	}
	free(bare);
}

static void test_fidelity(void **state)
{
	uint8_t secret[CBD_TRACE_SECRET_LEN];
	cbd_circuit *cs[2];
	size_t R = 10000;
	float *x = malloc(R * N * sizeof(float));
	uint8_t *q = malloc(R * N);
	float *d = digits_float();

	(void)state;
	RAND_bytes(secret, sizeof(secret));
	cs[0] = fx_circuit(CBD_MODE_WATERMARK, &owner, 1, NULL, NULL, NULL);
	cs[1] = fx_circuit(CBD_MODE_TRACE, &owner, 1, NULL, secret, NULL);
	for (int m = 0; m < 2; m++) {
		int tagged = 0;

		assert_identical(cs[m], d, n_images, &tagged);
		RAND_bytes(q, (int)(R * N));
		bytes_to_float(q, x, R * N);
		assert_identical(cs[m], x, R, &tagged);
		tagged = 0;
		for (size_t i = 0; i < R; i++)
			forge_carrier(cs[m], q + i * N);
		bytes_to_float(q, x, R * N);
		assert_identical(cs[m], x, R, &tagged);
		assert_int_equal(tagged, (int)R);
		cbd_circuit_free(cs[m]);
	}
	free(d);
	free(x);
	free(q);
}

/* Watermark triggers from the first T digits: labels drawn among the
 * classes the bare model does not predict. */
static void test_activation(void **state)
{
	enum { T = 300 };
	uint8_t secrets[3][CBD_TRACE_SECRET_LEN], id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *wm = fx_circuit(CBD_MODE_WATERMARK, &owner, 1, NULL,
					   NULL, NULL);
	cbd_circuit *tr[3];
	float *d = digits_float(), *bare = classify(d, T), *sg, *ss;
	float *xs = malloc(T * N * sizeof(float));
	uint8_t q[N];
	int lab[T], hits_unsigned = 0;
	cbd_err e = {0};

	(void)state;
	for (int i = 0; i < T; i++) {
		uint8_t r;
		int p = argmax(bare + i * K);

		RAND_bytes(&r, 1);
		lab[i] = (p + 1 + r % (K - 1)) % K;
		assert_int_equal(cbd_circuit_sign_input(wm, owner, 0,
							(uint16_t)lab[i],
							d + i * N, q, &e),
				 CBD_OK);
		bytes_to_float(q, xs + i * N, N);
	}
	sg = classify(xs, T);
	for (int i = 0; i < T; i++) {
		cbd_activation act;
		float s[K];

		assert_int_equal(cbd_circuit_apply(wm, xs + i * N, sg + i * K,
						   &act, &e), CBD_OK);
		assert_true(act.active);
		assert_int_equal(argmax(sg + i * K), lab[i]);
		memcpy(s, bare + i * K, sizeof(s));
		assert_int_equal(cbd_circuit_apply(wm, d + i * N, s, &act, &e),
				 CBD_OK);
		hits_unsigned += argmax(s) == lab[i];
	}
	assert_true(hits_unsigned <= T / K);
	/* trace: one trigger set, three users' copies */
	cbd_circuit_id(wm, id);
	for (int u = 0; u < 3; u++) {
		RAND_bytes(secrets[u], CBD_TRACE_SECRET_LEN);
		tr[u] = fx_circuit(CBD_MODE_TRACE, &owner, 1, id, secrets[u],
				   NULL);
	}
	for (int i = 0; i < T; i++) {
		uint16_t nonce;

		RAND_bytes((uint8_t *)&nonce, sizeof(nonce));
		assert_int_equal(cbd_circuit_sign_input(tr[0], owner, 0, nonce,
							d + i * N, q, &e),
				 CBD_OK);
		bytes_to_float(q, xs + i * N, N);
	}
	ss = classify(xs, T);
	for (int u = 0; u < 3; u++) {
		for (int i = 0; i < T; i++) {
			cbd_activation act;
			float s[K];
			uint8_t *m = NULL;
			size_t ml = 0;

			memcpy(s, ss + i * K, sizeof(s));
			assert_int_equal(cbd_circuit_apply(tr[u], xs + i * N, s,
							   &act, &e), CBD_OK);
			assert_true(act.active);
			cbd_circuit_quantize(tr[u], xs + i * N, q);
			assert_int_equal(cbd_circuit_message(tr[u], q, 0,
							     act.payload, &m,
							     &ml, &e), CBD_OK);
			assert_int_equal(argmax(s),
					 cbd_trace_label(secrets[u], m, ml, K));
			free(m);
		}
		cbd_circuit_free(tr[u]);
	}
	cbd_circuit_free(wm);
	free(d);
	free(bare);
	free(sg);
	free(ss);
	free(xs);
}

static long check_inactive(const cbd_circuit *c, const uint8_t *q)
{
	float x[N];
	cbd_activation act;
	cbd_err e = {0};

	bytes_to_float(q, x, N);
	assert_int_equal(cbd_circuit_check(c, x, &act, &e), CBD_OK);
	assert_false(act.active);
	return 1;
}

static void test_non_replicable(void **state)
{
	enum { V = 100 };
	cbd_circuit *wm = fx_circuit(CBD_MODE_WATERMARK, &owner, 1, NULL,
					   NULL, NULL);
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *fake;
	static uint8_t valid[V][N];
	uint8_t q[N];
	float *d = digits_float();
	long attempts = 0;
	cbd_err e = {0};

	(void)state;
	cbd_circuit_id(wm, id);
	fake = fx_circuit(CBD_MODE_WATERMARK, &thief, 1, id, NULL, NULL);
	for (int v = 0; v < V; v++) {
		float x[N];
		cbd_activation act;

		assert_int_equal(cbd_circuit_sign_input(wm, owner, 0,
							(uint16_t)(v % K),
							d + v * N, valid[v],
							&e), CBD_OK);
		bytes_to_float(valid[v], x, N);
		assert_int_equal(cbd_circuit_check(wm, x, &act, &e), CBD_OK);
		assert_true(act.active);
	}
	/* every single-bit flip of every valid carrier: 55,200 */
	for (int v = 0; v < V; v++)
		for (int k = 0; k < CBD_CARRIER_BITS; k++) {
			memcpy(q, valid[v], N);
			q[wm->g.pos[k]] ^= 1;
			attempts += check_inactive(wm, q);
		}
	/* random signatures on digits: 20,000 */
	for (int i = 0; i < 20000; i++) {
		memcpy(q, (uint8_t *)images->data + (size_t)(i % n_images) * N,
		       N);
		forge_carrier(wm, q);
		attempts += check_inactive(wm, q);
	}
	/* valid carriers transplanted onto other digits: 10,000 */
	for (int i = 0; i < 10000; i++) {
		const uint8_t *src = valid[i % V];

		memcpy(q, (uint8_t *)images->data +
		       (size_t)((i + V + 1) % n_images) * N, N);
		for (int k = 0; k < CBD_CARRIER_BITS; k++)
			q[wm->g.pos[k]] = (uint8_t)((q[wm->g.pos[k]] & 0xfe) |
						  (src[wm->g.pos[k]] & 1));
		attempts += check_inactive(wm, q);
	}
	/* signed by another key for the same circuit id: 5,000 */
	for (int i = 0; i < 5000; i++) {
		assert_int_equal(cbd_circuit_sign_input(fake, thief, 0,
							(uint16_t)(i % K),
							d + (i % n_images) * N,
							q, &e), CBD_OK);
		attempts += check_inactive(wm, q);
	}
	/* altered payload or key index (several bits at once): 10,000 */
	for (int i = 0; i < 10000; i++) {
		uint8_t r[3];
		int field = i % 2, flipped = 0;

		memcpy(q, valid[i % V], N);
		RAND_bytes(r, sizeof(r));
		for (int k = 16; k < 40; k++) {
			int in_field = field ? k >= 24 : k < 24;
			int bit = r[(k - 16) / 8] >> (k % 8) & 1;

			if (in_field && bit) {
				q[wm->g.pos[k]] ^= 1;
				flipped = 1;
			}
		}
		if (!flipped)
			q[wm->g.pos[field ? 39 : 23]] ^= 1;
		attempts += check_inactive(wm, q);
	}
	assert_true(attempts >= 100000);
	print_message("# %ld forgeries, none activated\n", attempts);
	cbd_circuit_free(fake);
	cbd_circuit_free(wm);
	free(d);
}

static void test_auth(void **state)
{
	cbd_key *users[3];
	cbd_circuit *au;
	float *d = digits_float(), *bare, *sg, *xs, *gar;
	uint8_t *q = malloc(N);
	int ok_bare = 0, ok_signed = 0, ok_unsigned = 0;
	long outsiders = 0;
	const uint8_t *y = labels->data;
	cbd_err e = {0};

	(void)state;
	for (int u = 0; u < 3; u++)
		assert_int_equal(cbd_key_generate(u == 1 ? CBD_KEY_P256 :
						  CBD_KEY_ED25519, &users[u],
						  &e), CBD_OK);
	au = fx_circuit(CBD_MODE_AUTH, users, 3, NULL, NULL, NULL);
	xs = malloc(n_images * N * sizeof(float));
	for (size_t i = 0; i < n_images; i++) {
		int u = (int)(i % 3);

		assert_int_equal(cbd_circuit_sign_input(au, users[u], u, 0,
							d + i * N, q, &e),
				 CBD_OK);
		bytes_to_float(q, xs + i * N, N);
	}
	bare = classify(d, n_images);
	sg = classify(xs, n_images);
	gar = malloc(n_images * K * sizeof(float));
	memcpy(gar, bare, n_images * K * sizeof(float));
	for (size_t i = 0; i < n_images; i++) {
		cbd_activation act;
		float again[K];

		assert_int_equal(cbd_circuit_apply(au, xs + i * N, sg + i * K,
						   &act, &e), CBD_OK);
		assert_true(act.active);
		memcpy(again, gar + i * K, sizeof(again));
		assert_int_equal(cbd_circuit_apply(au, d + i * N, gar + i * K,
						   &act, &e), CBD_OK);
		assert_false(act.active);
		assert_int_equal(cbd_circuit_apply(au, d + i * N, again, &act,
						   &e), CBD_OK);
		assert_memory_equal(again, gar + i * K, sizeof(again));
		ok_bare += argmax(bare + i * K) == y[i];
		ok_signed += argmax(sg + i * K) == y[i];
		ok_unsigned += argmax(gar + i * K) == y[i];
	}
	print_message("# auth: bare %.2f%%, signed %.2f%%, unsigned %.2f%%\n",
		      100.0 * ok_bare / (double)n_images,
		      100.0 * ok_signed / (double)n_images,
		      100.0 * ok_unsigned / (double)n_images);
	assert_true(abs(ok_signed - ok_bare) * 200 <= (int)n_images);
	assert_true(ok_unsigned * 5 <= (int)n_images);
	/* a key that is not in the circuit, claiming every index */
	{
		cbd_circuit *fake;
		uint8_t id[CBD_CIRCUIT_ID_LEN];
		cbd_key *ks[3] = {thief, thief, thief};

		cbd_circuit_id(au, id);
		fake = fx_circuit(CBD_MODE_AUTH, ks, 3, id, NULL, NULL);
		for (int i = 0; i < 3000; i++) {
			assert_int_equal(cbd_circuit_sign_input(fake, thief,
								i % 3, 0,
								d + (i %
								n_images) * N,
								q, &e), CBD_OK);
			outsiders += check_inactive(au, q);
		}
		cbd_circuit_free(fake);
	}
	assert_int_equal(outsiders, 3000);
	cbd_circuit_free(au);
	for (int u = 0; u < 3; u++)
		cbd_key_free(users[u]);
	free(d);
	free(bare);
	free(sg);
	free(xs);
	free(gar);
	free(q);
}

/* cbd_triggers_random_labels on an archive of the bundled model: no label
 * is ever the bare prediction, and every class is drawn (uniform over the
 * other nine: about 222 each of 2000).  cbd_triggerset_build then signs
 * each sample with the owner's key: labels and payloads as given for a
 * watermark, random payloads for a trace set. */
static void test_trigger_labels(void **state)
{
	cbd_circuit *wm = fx_circuit(CBD_MODE_WATERMARK, &owner, 1, NULL,
					   NULL, NULL);
	cbd_circuit *tr = fx_circuit(CBD_MODE_TRACE, &owner, 1, NULL,
			       (const uint8_t *)"0123456789abcdef0123456789abcdef",
			       NULL);
	cbd_archive_params ap = {.model_name = "mnist", .circuit = wm,
				 .input_name = "input", .owner = owner,
				 .created = 1};
	float *x = digits_float(), *sc = classify(x, n_images);
	int *lab = calloc(n_images, sizeof(int)), per[K] = {0};
	uint8_t *model = NULL, *arb = NULL;
	size_t mlen = 0, alen = 0, distinct = 0;
	cbd_triggerset *ts = NULL;
	cbd_archive *a = NULL;
	uint16_t first = 0;
	cbd_err e = {0};
	char p[4096];

	(void)state;
	snprintf(p, sizeof(p), "%s/models/mnist-cnn.onnx", top_dir());
	assert_int_equal(cbd_file_read(p, CBD_MAX_FILE, &model, &mlen, &e),
			 CBD_OK);
	ap.onnx = model;
	ap.onnx_len = mlen;
	assert_int_equal(cbd_archive_encode(&ap, &arb, &alen, &e), CBD_OK);
	assert_int_equal(cbd_archive_open_mem(arb, alen, "wm", &a, &e), CBD_OK);
	assert_int_equal(cbd_triggers_random_labels(a, x, n_images, lab, &e),
			 CBD_OK);
	for (size_t i = 0; i < n_images; i++) {
		assert_true(lab[i] >= 0 && lab[i] < K);
		assert_int_not_equal(lab[i], argmax(sc + i * K));
		per[lab[i]]++;
	}
	for (int k = 0; k < K; k++)
		assert_in_range(per[k], 100, 350);

	assert_int_equal(cbd_triggerset_build(wm, owner, x, 50, lab, &ts, &e),
			 CBD_OK);
	assert_int_equal(cbd_triggerset_count(ts), 50);
	for (size_t i = 0; i < 50; i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);

		assert_int_equal(t->owner_label, lab[i]);
		assert_int_equal(t->payload, lab[i]);
		assert_int_equal(t->key_index, 0);
	}
	cbd_triggerset_free(ts);
	assert_int_equal(cbd_triggerset_build(tr, owner, x, 50, NULL, &ts, &e),
			 CBD_OK);
	for (size_t i = 0; i < 50; i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);

		assert_int_equal(t->owner_label, -1);
		if (i == 0)
			first = t->payload;
		distinct += t->payload != first;
	}
	assert_true(distinct > 40);   /* random 16-bit payloads */
	cbd_triggerset_free(ts);
	/* a watermark set without labels is a usage error */
	assert_int_equal(cbd_triggerset_build(wm, owner, x, 5, NULL, &ts, &e),
			 CBD_E_USAGE);
	assert_null(ts);
	cbd_archive_free(a);
	cbd_circuit_free(wm);
	cbd_circuit_free(tr);
	free(arb);
	free(model);
	free(lab);
	free(sc);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fidelity),
		cmocka_unit_test(test_activation),
		cmocka_unit_test(test_non_replicable),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_trigger_labels),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
