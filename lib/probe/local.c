/*
 * local.c — the archive backend: run the model file in this process via
 * cbd_model (a bare ONNX classifier or a cbd archive with its circuit).
 *
 * The "request" digested in the transcript is the float32 input,
 * little-endian, as the model receives it; the "response" is the float32
 * scores.  Local runs do not fail transiently, so there are no retries.
 */
#include "probe_internal.h"

#include <string.h>
#include <time.h>

/* The digest of probe_body_archive's bytes (so a reader holding the
 * trigger set rebuilds it, check.c), spelled the same on any host. */
static void request_digest(const struct probe *p,
			   const struct probe_item *it,
			   uint8_t d[CBD_SHA256_LEN])
{
	cbd_buf b = {0};
	size_t jlen;

	probe_request_body(p, it, &b, &jlen);
	cbd_sha256(b.p ? b.p : "", b.len, d, NULL);
	cbd_buf_free(&b);
}

static void run_one(struct probe *p, cbd_model *m, cbd_tensor *in,
		    struct probe_item *it)
{
	struct probe_outcome oc = {.label = -1, .retry_after_s = -1};
	cbd_tensor *out = NULL;
	cbd_err e = {0};
	float *x = in->data;
	double t0 = probe_now();

	it->attempts++;
	for (size_t i = 0; i < p->n; i++)
		x[i] = it->x[i];
	request_digest(p, it, oc.request_digest);
	if (cbd_model_run(m, in, &out, NULL, &e)) {
		snprintf(oc.error, sizeof(oc.error), "%.190s", e.msg);
	} else {
		oc.status = 200;
		oc.has_response = 1;
		cbd_sha256(out->data, out->nbytes, oc.response_digest, NULL);
		oc.num_scores = (int)out->nelem;
		oc.scores = malloc(out->nbytes);
		if (!oc.scores) {
			snprintf(oc.error, sizeof(oc.error), "out of memory");
		} else {
			memcpy(oc.scores, out->data, out->nbytes);
			oc.label = 0;
			for (int i = 1; i < oc.num_scores; i++)
				if (oc.scores[i] > oc.scores[oc.label])
					oc.label = i;
		}
	}
	oc.latency_ms = (probe_now() - t0) * 1e3;
	cbd_tensor_free(out);
	probe_finish(p, it, &oc);
}

cbd_status probe_local_run(struct probe *p, cbd_err *err)
{
	cbd_model *m = NULL;
	cbd_tensor *in = NULL;
	int64_t dims[CBD_MAX_DIMS + 1] = {1};
	cbd_status s;

	s = cbd_model_open(p->o->endpoint, NULL, &m, err);
	if (s)
		return s;
	memcpy(dims + 1, p->dims, (size_t)p->ndim * sizeof(int64_t));
	s = cbd_tensor_new(CBD_DT_FLOAT32, p->ndim + 1, dims, &in, err);
	while (!s && p->done < p->n_items && !p->fatal && !p->aborted) {
		double now = probe_now(), wake = now + 1.0;
		struct probe_item *it = probe_next(p, now, &wake);

		if (!it || !probe_rate_ok(p, now, &wake)) {
			probe_sleep_until(wake);
			continue;
		}
		it->state = 1;
		run_one(p, m, in, it);
	}
	cbd_tensor_free(in);
	cbd_model_free(m);
	return s;
}
