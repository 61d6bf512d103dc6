/*
 * probe.c — cbd_probe_run: send every trigger to an endpoint and record
 * each answer in a transcript (formats/transcript.md).
 *
 * The driver owns the list of items (one per trigger) and the policy; the
 * backends (http.c, exec.c, local.c) only move bytes.  After each attempt
 * a backend calls probe_finish(): an answer or a final failure becomes a
 * transcript record at once (fsync'd), a retryable failure (transport
 * error, timeout, 408, 429, 5xx, unreadable answer) puts the item back
 * with a ready time: exponential backoff from backoff_ms, capped at
 * max_backoff_ms, with full jitter, or the server's Retry-After when it
 * gave one.  Nothing is dropped: when retries run out the last failure is
 * recorded.  --resume marks already-recorded indices done first.
 *
 * Before the first trigger, probe_preflight() (preflight.c) proves the
 * endpoint compatible; it is recorded as the "preflight" line.  Fail
 * fast: max_failures consecutive recorded failures of one kind (the
 * error up to its first ':' or quote, "HTTP 404" for HTTP errors) stop
 * the sending, in-flight queries are still recorded, then an "abort"
 * line; the file stays open for --resume.
 */
#include "probe_internal.h"

#include <math.h>
#include <openssl/rand.h>
#include <string.h>
#include <time.h>

double probe_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void probe_sleep_until(double t)
{
	double d = t - probe_now();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static double jitter01(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0.5;
	return (double)r / 4294967296.0;
}

void probe_progress(struct probe *p, int force)
{
	double now = probe_now();
	cbd_probe_progress pr;

	if (!p->o->progress || (!force && now - p->last_progress < 0.1))
		return;
	p->last_progress = now;
	pr.done = p->done;
	pr.total = p->n_items;
	pr.errors = p->failed;
	pr.retries = p->retries;
	pr.elapsed_s = now - p->t0;
	p->o->progress(p->o->progress_ud, &pr);
}

/* The kind of a failure: "HTTP 404", else the error up to ':' or '\''. */
static void failure_kind(const char *e, char out[64])
{
	size_t n;

	if (strncmp(e, "HTTP ", 5) == 0)
		n = strspn(e + 5, "0123456789") + 5;
	else
		n = strcspn(e, ":'");
	if (n > 63)
		n = 63;
	memcpy(out, e, n);
	out[n] = 0;
}

static void note_failure(struct probe *p, const char *e)
{
	char kind[64];
	int max = p->o->max_failures == 0 ? 3 : p->o->max_failures;

	failure_kind(e, kind);
	if (p->fail_run > 0 && strcmp(kind, p->fail_kind) == 0) {
		p->fail_run++;
	} else {
		p->fail_run = 1;
		memcpy(p->fail_kind, kind, sizeof(kind));
	}
	if (max > 0 && p->fail_run >= max && !p->aborted) {
		p->aborted = 1;
		snprintf(p->abort_reason, sizeof(p->abort_reason),
			 "%d consecutive failures: %.200s", p->fail_run, e);
	}
}

/* --until-verdict: the verdict is settled.  What was never sent stays
 * unsent (marked done without a line); what is in flight or waiting for
 * a retry is still recorded, so the sent queries are the first of the
 * schedule's order, every one with its line. */
static void settle(struct probe *p)
{
	p->settled = 1;
	for (size_t i = p->cursor; i < p->n_items; i++) {
		struct probe_item *it = &p->items[i];

		if (it->state != 0 || it->attempts > 0)
			continue;
		it->state = 2;
		p->done++;
		p->secret += !it->decoy;
	}
}

static void record(struct probe *p, struct probe_item *it,
		   struct probe_outcome *oc)
{
	cbd_transcript_record r = {0};
	cbd_status s;

	r.index = it->index;
	r.trigger_id = it->id;
	r.status = oc->status;
	r.error = oc->error[0] ? oc->error : NULL;
	r.label = oc->error[0] ? -1 : oc->label;
	r.attempts = it->attempts;
	r.latency_ms = oc->latency_ms;
	memcpy(r.request_digest, oc->request_digest, CBD_SHA256_LEN);
	r.has_response = oc->has_response;
	memcpy(r.response_digest, oc->response_digest, CBD_SHA256_LEN);
	r.scores = oc->scores;
	r.num_scores = oc->scores ? oc->num_scores : 0;
	s = cbd_tw_answer(p->tw, &r, it->decoy,
			  it->wire[0] ? (long)it->pos : -1, p->err);
	if (s && !p->fatal)
		p->fatal = s;
	it->state = 2;
	p->done++;
	if (it->decoy) {         /* never scored, counted apart */
		p->decoys_done++;
		p->decoys_answered += r.error == NULL;
	}
	if (r.error) {
		p->failed += !it->decoy;
		note_failure(p, r.error);
	} else {
		p->answered += !it->decoy;
		p->fail_run = 0;
	}
	if (!it->decoy && r.label >= 0 && p->o->verdict && !p->settled &&
	    p->o->verdict(p->o->verdict_ud, it->index, r.label))
		settle(p);
}

void probe_finish(struct probe *p, struct probe_item *it,
		  struct probe_outcome *oc)
{
	const cbd_probe_opts *o = p->o;

	if (!oc->error[0] && oc->label < 0) {
		snprintf(oc->error, sizeof(oc->error), "no label in answer");
		oc->retryable = 0;
	}
	if (oc->error[0] && oc->retryable && it->attempts <= o->retries) {
		double base = (o->backoff_ms > 0 ? o->backoff_ms : 200) / 1e3;
		double cap = (o->max_backoff_ms > 0 ? o->max_backoff_ms
						    : 10000) / 1e3;
		double wait = base * pow(2.0, it->attempts - 1);

		if (wait > cap)
			wait = cap;
		wait *= 0.5 + 0.5 * jitter01();   /* jitter in [w/2, w] */
		if (oc->retry_after_s >= 0)
			wait = fmin(oc->retry_after_s, fmax(cap, 60.0));
		it->ready_at = probe_now() + wait;
		it->state = 0;
		p->retries++;
	} else {
		record(p, it, oc);
	}
	free(oc->scores);
	oc->scores = NULL;
	probe_progress(p, 0);
}

struct probe_item *probe_next(struct probe *p, double now, double *wake)
{
	struct probe_item *best = NULL;

	/* items before the cursor are all recorded: start there, so a long
	 * probe costs O(items in flight or waiting) per call, not O(n) */
	while (p->cursor < p->n_items && p->items[p->cursor].state == 2)
		p->cursor++;
	for (size_t i = p->cursor; i < p->n_items; i++) {
		struct probe_item *it = &p->items[i];

		if (it->state != 0)
			continue;
		if (it->ready_at <= now)
			return it;
		if (!best || it->ready_at < best->ready_at)
			best = it;
	}
	if (best && wake && best->ready_at < *wake)
		*wake = best->ready_at;
	return NULL;
}

int probe_rate_ok(struct probe *p, double now, double *wake)
{
	const cbd_probe_opts *o = p->o;
	double gap = 0;

	if (o->rate <= 0 && o->pace_ms <= 0 && o->pace_jitter_ms <= 0)
		return 1;
	if (now < p->next_send) {
		if (wake && p->next_send < *wake)
			*wake = p->next_send;
		return 0;
	}
	if (o->rate > 0)
		gap = 1.0 / o->rate;
	/* --pace: the next send no sooner than pace + U[0, jitter] ms */
	gap = fmax(gap, ((double)o->pace_ms +
			 (double)o->pace_jitter_ms * jitter01()) / 1e3);
	p->next_send = fmax(now, p->next_send) + gap;
	return 1;
}

static cbd_status open_transcript(struct probe *p,
				  const uint8_t digest[CBD_SHA256_LEN],
				  const char *out_path,
				  cbd_probe_summary *sum, int *finished,
				  cbd_err *err)
{
	const cbd_probe_opts *o = p->o;
	cbd_tw_header h = {0};
	uint8_t *done;
	cbd_status s;

	h.tool = o->tool ? o->tool : "cbd-probe " CBD_VERSION;
	h.endpoint = o->endpoint;
	h.backend = probe_backend_name(o->backend);
	h.model = o->model_name ? o->model_name : "";
	h.datatype = o->send_uint8 ? "UINT8" : "FP32";
	memcpy(h.triggers_digest, digest, CBD_SHA256_LEN);
	h.num_triggers = p->n_items;
	h.num_classes = p->num_classes;
	*finished = 0;
	if (!o->resume)
		return cbd_tw_create(out_path, &h, o->overwrite, &p->tw,
				     err);
	done = calloc(p->n_items ? p->n_items : 1, 1);
	if (!done)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	s = cbd_tw_resume(out_path, &h, done, &p->answered, &p->failed,
			  finished, &p->tw, err);
	for (size_t i = 0; !s && i < p->n_items; i++) {
		if (done[i]) {
			p->items[i].state = 2;
			p->done++;
			sum->skipped++;
		}
	}
	free(done);
	return s;
}

/* --resume of a finished transcript: nothing to send, no preflight. */
static int already_finished(const cbd_probe_opts *o, const char *out_path)
{
	cbd_transcript *t = NULL;
	int done;

	if (!o->resume || cbd_transcript_load(out_path, &t, NULL))
		return 0;
	done = cbd_transcript_complete(t);
	cbd_transcript_free(t);
	return done;
}

static void describe_preflight(const struct probe *p, cbd_probe_summary *sum)
{
	const struct probe_pf *pf = &p->pf;
	char shape[128] = "";
	size_t k = 0;

	for (int i = 0; i < pf->wire_ndim && k < sizeof(shape) - 24; i++)
		k += (size_t)snprintf(shape + k, sizeof(shape) - k, "%s%lld",
				      i ? "," : "",
				      (long long)pf->wire_dims[i]);
	snprintf(sum->preflight, sizeof(sum->preflight),
		 "input '%s' %s [%s], output '%s' (%s), decoy answered "
		 "label %d%s", pf->input[0] ? pf->input : "-",
		 p->o->send_uint8 ? "UINT8" : "FP32", shape,
		 pf->output[0] ? pf->output : "-",
		 pf->answer_label ? "label" : "scores", pf->decoy_label,
		 p->o->binary ? ", binary tensor data" : "");
}

static cbd_status write_preflight(struct probe *p, cbd_err *err)
{
	const struct probe_pf *pf = &p->pf;
	cbd_tw_preflight r = {0};

	r.input = pf->input[0] ? pf->input : NULL;
	r.output = pf->output[0] ? pf->output : NULL;
	r.answer = pf->answer_label ? "label" : "scores";
	r.binary = p->o->binary;
	r.ndim = pf->wire_ndim;
	r.dims = pf->wire_dims;
	r.metadata = pf->has_metadata ? pf->metadata_digest : NULL;
	memcpy(r.decoy_request, pf->decoy_request, CBD_SHA256_LEN);
	memcpy(r.decoy_response, pf->decoy_response, CBD_SHA256_LEN);
	r.decoy_label = pf->decoy_label;
	return cbd_tw_preflight_line(p->tw, &r, err);
}

/* --decoys: mix them in and record the schedule before any query. */
static cbd_status schedule(struct probe *p, cbd_err *err)
{
	const cbd_probe_opts *o = p->o;
	cbd_tw_schedule_line sc = {0};
	cbd_status s;

	if (!o->decoys && !o->verdict)
		return CBD_OK;
	s = probe_schedule(p, err);
	if (s)
		return s;
	memcpy(sc.seed, p->seed, CBD_SHA256_LEN);
	if (o->decoys_digest)
		memcpy(sc.decoys_digest, o->decoys_digest, CBD_SHA256_LEN);
	sc.num_decoys = p->n_decoys;
	sc.decoy_samples = p->decoy_samples;
	sc.ratio = o->decoy_ratio;
	sc.pace_ms = o->pace_ms;
	sc.jitter_ms = o->pace_jitter_ms;
	s = cbd_tw_schedule(p->tw, &sc, err);
	if (!s && o->verdict)
		s = cbd_tw_sequential(p->tw, o->seq_p1, o->seq_alpha,
				      o->seq_beta, err);
	/* --resume: the answers of the earlier runs may have settled it */
	if (!s && o->verdict && o->verdict(o->verdict_ud, SIZE_MAX, -1))
		settle(p);
	return s;
}

static cbd_status send_all(struct probe *p, cbd_err *err)
{
	switch (p->o->backend) {
	case CBD_PROBE_OIP:
	case CBD_PROBE_TFSERVING:
		return probe_http_run(p, err);
	case CBD_PROBE_EXEC:
		return probe_exec_run(p, err);
	case CBD_PROBE_ARCHIVE:
		return probe_local_run(p, err);
	}
	return cbd_err_set(err, CBD_E_USAGE, "unknown backend");
}

static cbd_status drive(struct probe *p, const uint8_t *digest,
			const char *out_path, cbd_probe_summary *sum,
			cbd_err *err)
{
	const cbd_probe_opts *o = p->o;
	int finished;
	cbd_status s;

	memset(sum, 0, sizeof(*sum));
	if (!o->endpoint || !*o->endpoint)
		return cbd_err_set(err, CBD_E_USAGE, "no endpoint given");
	p->err = err;
	p->num_classes = o->num_classes;
	p->t0 = probe_now();
	s = probe_decoys_ok(p, err);
	if (s)
		return s;
	if (o->dry_run || !already_finished(o, out_path)) {
		s = probe_preflight(p, err);
		if (s)
			return s;
		if (p->pf.done)
			describe_preflight(p, sum);
		if (o->dry_run) {
			sum->total = p->n_items;
			sum->elapsed_s = probe_now() - p->t0;
			return CBD_OK;
		}
	}
	s = open_transcript(p, digest, out_path, sum, &finished, err);
	if (s)
		return s;
	if (!finished) {
		size_t triggers = p->n_items;

		if (p->pf.done)
			s = write_preflight(p, err);
		if (!s)
			s = schedule(p, err);
		if (!s)
			s = send_all(p, err);
		if (!s && p->fatal)
			s = p->fatal;
		if (!s && p->aborted) {
			size_t sent = 0;

			for (size_t i = 0; i < p->n_items; i++)
				sent += p->items[i].attempts > 0;
			s = cbd_tw_abort(p->tw, p->abort_reason, err);
			if (!s)
				s = cbd_err_set(err, CBD_E_UNAVAILABLE,
						"stopped after %s; %zu of %zu "
						"queries sent, %zu recorded "
						"(--resume continues)",
						p->abort_reason, sent,
						p->n_items, p->done);
		}
		if (!s && p->settled && p->done == p->n_items)
			s = cbd_tw_settled(p->tw, p->answered + p->failed,
					   p->secret, err);
		if (!s && p->done == p->n_items)
			s = cbd_tw_end(p->tw, p->answered, p->failed, err);
		probe_progress(p, 1);
		p->n_items = triggers;   /* the summary counts triggers */
	}
	cbd_tw_close(p->tw);
	p->tw = NULL;
	sum->total = p->n_items;
	sum->answered = p->answered;
	sum->failed = p->failed;
	sum->retries = p->retries;
	sum->decoys = p->decoys_done;
	sum->decoys_answered = p->decoys_answered;
	sum->settled = p->settled;
	sum->secret = p->secret;
	sum->elapsed_s = probe_now() - p->t0;
	return s;
}

static void free_items(struct probe *p)
{
	for (size_t i = 0; i < p->n_items + p->n_decoys; i++)
		free(p->items[i].x);
	free(p->items);
}

cbd_status probe_set_shape(struct probe *p, const cbd_tensor *t,
			   int skip_first, cbd_err *err)
{
	p->ndim = t->ndim - skip_first;
	p->n = 1;
	if (p->ndim < 1)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "samples need at least one dimension");
	for (int i = 0; i < p->ndim; i++) {
		p->dims[i] = t->dims[i + skip_first];
		p->n *= (size_t)p->dims[i];
	}
	return CBD_OK;
}

cbd_status cbd_probe_run(const cbd_triggerset *ts, const cbd_probe_opts *o,
			 const char *out_path, cbd_probe_summary *sum,
			 cbd_err *err)
{
	struct probe p = {0};
	uint8_t digest[CBD_SHA256_LEN];
	size_t n = cbd_triggerset_count(ts);
	cbd_status s = CBD_OK;

	p.o = o;
	p.items = calloc(n ? n : 1, sizeof(*p.items));
	if (!p.items)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	p.n_items = n;
	for (size_t i = 0; i < n && !s; i++) {
		const cbd_trigger *tr = cbd_triggerset_get(ts, i);

		if (i == 0)
			s = probe_set_shape(&p, tr->input, 0, err);
		if (!s && (tr->input->dtype != CBD_DT_UINT8 ||
			   tr->input->nelem != p.n))
			s = cbd_err_set(err, CBD_E_SHAPE,
					"trigger %zu has another shape", i);
		if (!s)
			s = cbd_triggerset_input_float(ts, i, &p.items[i].x,
						       err);
		p.items[i].id = tr->id;
		p.items[i].index = i;
		p.items[i].q = tr->input->data;
	}
	if (!s) {
		cbd_probe_opts oo = *o;

		if (oo.num_classes <= 0)
			oo.num_classes = cbd_triggerset_num_classes(ts);
		p.o = &oo;
		cbd_triggerset_digest(ts, digest);
		s = drive(&p, digest, out_path, sum, err);
	}
	free_items(&p);
	return s;
}

cbd_status cbd_probe_run_samples(const cbd_tensor *samples,
				 const uint8_t digest[CBD_SHA256_LEN],
				 const cbd_probe_opts *o,
				 const char *out_path,
				 cbd_probe_summary *sum, cbd_err *err)
{
	struct probe p = {0};
	size_t n;
	char (*ids)[24] = NULL;
	cbd_status s;

	if (samples->dtype != CBD_DT_UINT8 || samples->ndim < 2)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "samples must be uint8 [N, ...]");
	p.o = o;
	n = (size_t)samples->dims[0];
	if (n > CBD_MAX_TRIGGERS)   /* a transcript records at most this */
		return cbd_err_set(err, CBD_E_TOOBIG, "%zu samples, at most %d "
				   "in one probe", n, CBD_MAX_TRIGGERS);
	s = probe_set_shape(&p, samples, 1, err);
	if (s)
		return s;
	p.items = calloc(n ? n : 1, sizeof(*p.items));
	ids = calloc(n ? n : 1, sizeof(*ids));
	if (!p.items || !ids) {
		free(p.items);
		free(ids);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	p.n_items = n;
	for (size_t i = 0; i < n && !s; i++) {
		struct probe_item *it = &p.items[i];

		snprintf(ids[i], sizeof(ids[i]), "s%zu", i);
		it->id = ids[i];
		it->index = i;
		it->q = (const uint8_t *)samples->data + i * p.n;
		it->x = malloc(p.n * sizeof(float));
		if (!it->x) {
			s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
			break;
		}
		cbd_dequantize_default(it->q, p.n, it->x);
	}
	if (!s)
		s = drive(&p, digest, out_path, sum, err);
	free_items(&p);
	free(ids);
	return s;
}
