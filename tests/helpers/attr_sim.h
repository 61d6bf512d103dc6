/*
 * attr_sim.h — a real licensing setup for attribution tests, in memory.
 *
 * Shared by tests/unit/test_attribute.c and the attr-sim helper program
 * (static functions, included once per program).  Everything is real: an
 * Ed25519 owner key from OpenSSL, a keyring of users with fresh trace
 * secrets (cbd_keyring_add), one trace circuit per user sharing the
 * family's circuit id, trigger sets of signed MNIST digits built with
 * cbd_circuit_sign_input, and the bundled classifier (models/mnist-cnn.onnx
 * through cbd_nn) for the scores a served copy starts from.  A copy's answer
 * to trigger j is what cbd-serve would return: the classifier's scores,
 * passed through the copy's circuit (cbd_circuit_apply), argmax.
 */
#ifndef CBD_ATTR_SIM_H
#define CBD_ATTR_SIM_H

#include "cbd.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_K 10
#define SIM_N 784

struct sim {
	cbd_key *owner;
	uint8_t cid[CBD_CIRCUIT_ID_LEN];      /* trace family */
	cbd_keyring *kr;
	cbd_circuit *wm;                      /* the owner's watermark copy */
	cbd_triggerset *ts;                   /* trace triggers */
	cbd_triggerset *wts;                  /* watermark triggers */
	size_t T;
	float (*bare)[SIM_K];                 /* classifier scores, trace set */
	float (*wbare)[SIM_K];                /* classifier scores, wm set */
	char err[CBD_ERR_MSG_MAX];
};

#define SIM_TRY(expr)                                                   \
	do {                                                            \
		cbd_err e_ = {0};                                       \
		if ((expr) != CBD_OK) {                                 \
			fprintf(stderr, "attr_sim: %s: %s\n", #expr, e_.msg); \
			return -1;                                      \
		}                                                       \
	} while (0)
#define SIM_E (&e_)

static int sim_argmax(const float *s)
{
	int best = 0;

	for (int k = 1; k < SIM_K; k++)
		if (s[k] > s[best])
			best = k;
	return best;
}

static int sim_rand_below(int n)
{
	uint32_t r;

	RAND_bytes((unsigned char *)&r, sizeof(r));
	return (int)(r % (uint32_t)n);
}

static int sim_circuit(struct sim *s, cbd_mode mode, const uint8_t *cid,
		       const uint8_t *secret, const char *uid,
		       cbd_circuit **out)
{
	cbd_circuit_params p = {0};
	const cbd_key *keys[1] = {s->owner};

	p.mode = mode;
	p.ndim = 3;
	p.dims[0] = 1;
	p.dims[1] = 28;
	p.dims[2] = 28;
	p.num_classes = SIM_K;
	p.keys = keys;
	p.n_keys = 1;
	p.circuit_id = cid;
	p.trace_secret = secret;
	p.user_id = uid;
	SIM_TRY(cbd_circuit_new(&p, out, SIM_E));
	return 0;
}

/* The held-out digits if the model directory has them, else random. */
static int sim_images(const char *top, size_t n, uint8_t **img)
{
	char path[4096];
	cbd_tensor *t = NULL;
	cbd_err e = {0};

	*img = malloc(n * SIM_N);
	if (!*img)
		return -1;
	snprintf(path, sizeof(path), "%s/models/mnist-heldout-images.npy",
		 top);
	if (cbd_tensor_load(path, CBD_TF_NPY, &t, &e) == CBD_OK &&
	    t->dtype == CBD_DT_UINT8 && t->nelem >= n * SIM_N) {
		memcpy(*img, t->data, n * SIM_N);
	} else {
		RAND_bytes(*img, (int)(n * SIM_N));
	}
	cbd_tensor_free(t);
	return 0;
}

/* Classifier scores for every trigger of ts. */
static int sim_scores(const char *top, const cbd_triggerset *ts,
		      float (**out)[SIM_K])
{
	char path[4096];
	cbd_nn *nn = NULL;
	size_t n = cbd_triggerset_count(ts);
	float (*sc)[SIM_K] = calloc(n, sizeof(*sc));
	int64_t dims[4] = {1, 1, 28, 28};

	if (!sc)
		return -1;
	snprintf(path, sizeof(path), "%s/models/mnist-cnn.onnx", top);
	SIM_TRY(cbd_nn_load_file(path, NULL, &nn, SIM_E));
	for (size_t i = 0; i < n; i++) {
		cbd_tensor *x = NULL, *y = NULL;
		float *xf = NULL;
		const cbd_tensor *in[1];

		SIM_TRY(cbd_tensor_new(CBD_DT_FLOAT32, 4, dims, &x, SIM_E));
		SIM_TRY(cbd_triggerset_input_float(ts, i, &xf, SIM_E));
		memcpy(x->data, xf, SIM_N * sizeof(float));
		free(xf);
		in[0] = x;
		SIM_TRY(cbd_nn_run(nn, in, 1, &y, 1, SIM_E));
		memcpy(sc[i], y->data, sizeof(sc[i]));
		cbd_tensor_free(x);
		cbd_tensor_free(y);
	}
	cbd_nn_free(nn);
	*out = sc;
	return 0;
}

/* Build a trigger set of T signed digits from circuit c, save it (and
 * .sig) at path, load it back (for the file digest). */
static int sim_triggers(struct sim *s, const cbd_circuit *c, size_t T,
			const uint8_t *img, const char *path,
			cbd_triggerset **out)
{
	cbd_triggerset *ts = NULL;
	int wm = cbd_circuit_mode(c) == CBD_MODE_WATERMARK;
	uint8_t q[SIM_N];
	float x[SIM_N];
	char id[32];

	SIM_TRY(cbd_triggerset_new(c, &ts, SIM_E));
	for (size_t i = 0; i < T; i++) {
		uint16_t payload = (uint16_t)sim_rand_below(SIM_K);

		for (int k = 0; k < SIM_N; k++)
			x[k] = img[i * SIM_N + k] / 255.0f;
		SIM_TRY(cbd_circuit_sign_input(c, s->owner, 0, payload, x, q,
					       SIM_E));
		snprintf(id, sizeof(id), "t%04zu", i);
		SIM_TRY(cbd_triggerset_add(ts, id, q, wm ? payload : -1,
					   payload, 0, SIM_E));
	}
	SIM_TRY(cbd_triggerset_save(ts, path, s->owner, 1700000000, SIM_E));
	cbd_triggerset_free(ts);
	SIM_TRY(cbd_triggerset_load(path, s->owner, out, SIM_E));
	return 0;
}

/* A new setup with n_users users and T triggers per set; files go to dir
 * (triggers.json, wm-triggers.json). */
static int sim_setup(struct sim *s, const char *top, const char *dir,
		     size_t n_users, size_t T)
{
	uint8_t wid[CBD_CIRCUIT_ID_LEN], *img = NULL;
	cbd_circuit *family = NULL;
	char path[4096], uid[32];

	memset(s, 0, sizeof(*s));
	s->T = T;
	RAND_bytes(s->cid, sizeof(s->cid));
	RAND_bytes(wid, sizeof(wid));
	SIM_TRY(cbd_key_generate(CBD_KEY_ED25519, &s->owner, SIM_E));
	SIM_TRY(cbd_keyring_new(&s->kr, SIM_E));
	for (size_t u = 0; u < n_users; u++) {
		snprintf(uid, sizeof(uid), "user%02zu", u);
		SIM_TRY(cbd_keyring_add(s->kr, uid, s->owner, SIM_E));
	}
	if (sim_images(top, 2 * T, &img) != 0)
		return -1;
	/* Any member of the family signs the same triggers. */
	if (sim_circuit(s, CBD_MODE_TRACE, s->cid,
			cbd_keyring_user(s->kr, 0)->trace_secret, "user00",
			&family) != 0 ||
	    sim_circuit(s, CBD_MODE_WATERMARK, wid, NULL, NULL, &s->wm) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/triggers.json", dir);
	if (sim_triggers(s, family, T, img, path, &s->ts) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/wm-triggers.json", dir);
	if (sim_triggers(s, s->wm, T, img + T * SIM_N, path, &s->wts) != 0)
		return -1;
	cbd_circuit_free(family);
	free(img);
	if (sim_scores(top, s->ts, &s->bare) != 0 ||
	    sim_scores(top, s->wts, &s->wbare) != 0)
		return -1;
	return 0;
}

static void sim_free(struct sim *s)
{
	cbd_key_free(s->owner);
	cbd_keyring_free(s->kr);
	cbd_circuit_free(s->wm);
	cbd_triggerset_free(s->ts);
	cbd_triggerset_free(s->wts);
	free(s->bare);
	free(s->wbare);
}

/* Scores of copy c (NULL: the bare classifier) for trigger j of ts. */
static int sim_copy_scores(const struct sim *s, const cbd_circuit *c,
			   const cbd_triggerset *ts, size_t j,
			   float out[SIM_K])
{
	float *x = NULL;
	cbd_activation act;

	memcpy(out, ts == s->ts ? s->bare[j] : s->wbare[j],
	       sizeof(float) * SIM_K);
	if (!c)
		return 0;
	SIM_TRY(cbd_triggerset_input_float(ts, j, &x, SIM_E));
	SIM_TRY(cbd_circuit_apply(c, x, out, &act, SIM_E));
	free(x);
	return 0;
}

/* User u's trace copy (a circuit with u's secret in the family). */
static int sim_user_copy(struct sim *s, const cbd_user *u, cbd_circuit **c)
{
	return sim_circuit(s, CBD_MODE_TRACE, s->cid, u->trace_secret, u->id,
			   c);
}

/* Labels copy c returns for every trigger of ts. */
static int sim_answers(const struct sim *s, const cbd_circuit *c,
		       const cbd_triggerset *ts, int *labels)
{
	float sc[SIM_K];

	for (size_t j = 0; j < cbd_triggerset_count(ts); j++) {
		if (sim_copy_scores(s, c, ts, j, sc) != 0)
			return -1;
		labels[j] = sim_argmax(sc);
	}
	return 0;
}

/* A coalition: the average of two copies' scores. */
static int sim_average(const struct sim *s, const cbd_circuit *a,
		       const cbd_circuit *b, int *labels)
{
	float sa[SIM_K], sb[SIM_K];

	for (size_t j = 0; j < s->T; j++) {
		if (sim_copy_scores(s, a, s->ts, j, sa) != 0 ||
		    sim_copy_scores(s, b, s->ts, j, sb) != 0)
			return -1;
		for (int k = 0; k < SIM_K; k++)
			sa[k] = (sa[k] + sb[k]) / 2;
		labels[j] = sim_argmax(sa);
	}
	return 0;
}

/* Replace a fraction of the answers by uniformly random labels. */
static void sim_noise(int *labels, size_t T, double frac)
{
	size_t n = (size_t)(frac * T + 0.5);
	size_t *idx = malloc(T * sizeof(size_t));

	for (size_t i = 0; i < T; i++)
		idx[i] = i;
	for (size_t i = 0; i < n && i < T; i++) {
		size_t j = i + (size_t)sim_rand_below((int)(T - i)), t = idx[i];

		idx[i] = idx[j];
		idx[j] = t;
		labels[idx[i]] = sim_rand_below(SIM_K);
	}
	free(idx);
}

#endif
