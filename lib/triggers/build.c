/*
 * build.c — making a trigger set: the owner's labels and the signed
 * samples (what `cbd-sign triggers` does, as library calls).
 *
 * Watermark labels are drawn so that a copy without the circuit answers a
 * trigger correctly only by chance: for each base sample the archive's bare
 * classifier is run, and the label is a class chosen uniformly from the
 * K-1 classes it does NOT predict.  Randomness is OpenSSL's RAND_bytes,
 * with rejection sampling so every class is exactly equally likely.
 *
 * Each trigger is the base sample signed with the owner's key (the
 * circuit's key 0) through cbd_circuit_sign_input; a watermark trigger's
 * payload is its label, a trace trigger's payload is random (the per-user
 * labels come from the user's trace secret at run time, not from here).
 */
#include "../model/model_internal.h"
#include "../util/util_internal.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define BUILD_BATCH 256

/* Uniform in [0, b), b >= 1. */
static cbd_status rand_below(uint32_t b, uint32_t *out, cbd_err *err)
{
	uint64_t limit = ((uint64_t)1 << 32) - (((uint64_t)1 << 32) % b);
	uint32_t r;

	do {
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			return cbd_err_set(err, CBD_E_CRYPTO,
					   "no randomness (RAND_bytes)");
	} while (r >= limit);
	*out = r % b;
	return CBD_OK;
}

/* The bare classifier's predictions for samples [b, b+m) of xs. */
static cbd_status predict_batch(cbd_model *m, const float *xs, size_t n,
				size_t b, size_t cnt, int *pred, cbd_err *err)
{
	int64_t dims[CBD_MAX_DIMS];
	cbd_tensor *in = NULL, *out = NULL;
	cbd_status s;

	dims[0] = (int64_t)cnt;
	for (int d = 1; d < m->input.ndim; d++)
		dims[d] = m->input.dims[d];
	s = cbd_tensor_new(CBD_DT_FLOAT32, m->input.ndim, dims, &in, err);
	if (s == CBD_OK && in->nelem != cnt * n)
		s = cbd_err_set(err, CBD_E_SHAPE, "the model's input shape "
				"does not match the circuit's sample size %zu",
				n);
	if (s == CBD_OK) {
		memcpy(in->data, xs + b * n, cnt * n * sizeof(float));
		s = cbd_model_run_nn(m, in, &out, err);
	}
	for (size_t i = 0; s == CBD_OK && i < cnt; i++)
		pred[b + i] = cbd_argmax((const float *)out->data +
				     i * (size_t)m->num_classes,
				     m->num_classes);
	cbd_tensor_free(in);
	cbd_tensor_free(out);
	return s;
}

cbd_status cbd_triggers_random_labels(const struct cbd_archive *a,
				      const float *xs, size_t count,
				      int *labels, cbd_err *err)
{
	size_t len = 0;
	const uint8_t *onnx = cbd_archive_model(a, &len);

	return cbd_triggers_random_labels_onnx(cbd_archive_circuit(a), onnx,
					       len, xs, count, labels, err);
}

cbd_status cbd_triggers_random_labels_onnx(const cbd_circuit *c,
					   const uint8_t *onnx, size_t len,
					   const float *xs, size_t count,
					   int *labels, cbd_err *err)
{
	size_t n = cbd_circuit_sample_size(c);
	int K = cbd_circuit_num_classes(c);
	cbd_model m = {0};
	cbd_status s;

	if (K < 2)
		return cbd_err_set(err, CBD_E_USAGE, "%d classes: no label "
				   "differs from the prediction", K);
	s = cbd_model_init_nn(&m, onnx, len, "model.onnx", NULL, err);
	if (s == CBD_OK && m.num_classes != K)
		s = cbd_err_set(err, CBD_E_SHAPE, "the model gives %d scores, "
				"the circuit has %d classes", m.num_classes, K);
	for (size_t b = 0; s == CBD_OK && b < count; b += BUILD_BATCH)
		s = predict_batch(&m, xs, n, b, count - b < BUILD_BATCH ?
				  count - b : BUILD_BATCH, labels, err);
	for (size_t i = 0; s == CBD_OK && i < count; i++) {
		uint32_t l = 0;

		s = rand_below((uint32_t)K - 1, &l, err);
		/* skip the predicted class: uniform over the other K-1 */
		labels[i] = (int)l >= labels[i] ? (int)l + 1 : (int)l;
	}
	cbd_nn_free(m.nn);
	return s;
}

cbd_status cbd_triggerset_build(const cbd_circuit *c, const cbd_key *owner,
				const float *xs, size_t count,
				const int *labels, cbd_triggerset **out,
				cbd_err *err)
{
	bool wm = cbd_circuit_mode(c) == CBD_MODE_WATERMARK;
	size_t n = cbd_circuit_sample_size(c);
	uint8_t *q;
	cbd_status s;

	*out = NULL;
	if (wm && !labels)
		return cbd_err_set(err, CBD_E_USAGE,
				   "a watermark set needs labels");
	q = cbd_xmalloc(n ? n : 1, err);
	if (!q)
		return CBD_E_NOMEM;
	s = cbd_triggerset_new(c, out, err);
	for (size_t i = 0; s == CBD_OK && i < count; i++) {
		uint32_t payload = wm ? (uint32_t)labels[i] : 0;
		char id[32];

		if (!wm)
			s = rand_below(65536, &payload, err);
		snprintf(id, sizeof(id), "t%05zu", i);
		if (s == CBD_OK)
			s = cbd_circuit_sign_input(c, owner, 0,
						   (uint16_t)payload,
						   xs + i * n, q, err);
		if (s == CBD_OK)
			s = cbd_triggerset_add(*out, id, q,
					       wm ? labels[i] : -1,
					       (uint16_t)payload, 0, err);
	}
	free(q);
	if (s != CBD_OK) {
		cbd_triggerset_free(*out);
		*out = NULL;
	}
	return s;
}
