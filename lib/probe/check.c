/*
 * check.c — recompute, from the trigger set, the request every query of a
 * transcript says it sent.
 *
 * A query line records the SHA-256 of the exact bytes of its request.
 * Those bytes are a function of what the transcript itself says — the
 * header's backend and datatype; the run's preflight line: input and
 * output names, the shape sent, the encoding; the record's wire id (the
 * trigger's own, or the schedule seed's opaque id for its position) — and
 * of the trigger's bytes (the archive backend's request is the float32
 * input alone; its runs have no preflight line).  A reader holding the trigger set builds them
 * again with the code that sent them (codec.c) and compares.  A line whose
 * digest differs did not send its trigger, so the answer on it may belong
 * to another query: the transcript is refused (CBD_E_VERIFY).  Queries of
 * runs without a preflight line (writers before it) cannot be rebuilt and
 * are counted as unchecked, never as checked.  Decoy lines are not records
 * and are not checked here (their samples are the investigator's file).
 */
#include "probe_internal.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	cbd_probe_backend b;
} BACKENDS[] = {
	{"oip", CBD_PROBE_OIP},
	{"tfserving", CBD_PROBE_TFSERVING},
	{"exec", CBD_PROBE_EXEC},
	{"archive", CBD_PROBE_ARCHIVE},
};

const char *probe_backend_name(cbd_probe_backend b)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(BACKENDS); i++)
		if (BACKENDS[i].b == b)
			return BACKENDS[i].name;
	return "?";
}

static int backend_of(const char *name, cbd_probe_backend *b)
{
	for (size_t i = 0; i < CBD_ARRAY_LEN(BACKENDS); i++)
		if (strcmp(BACKENDS[i].name, name) == 0) {
			*b = BACKENDS[i].b;
			return 1;
		}
	return 0;
}

/* The run's preflight into the probe state the body builders read. */
static void set_preflight(struct probe *p, cbd_probe_opts *o,
			  const cbd_transcript_preflight *pf)
{
	o->binary = pf->binary;
	snprintf(p->pf.input, sizeof(p->pf.input), "%s",
		 pf->input ? pf->input : "");
	snprintf(p->pf.output, sizeof(p->pf.output), "%s",
		 pf->output ? pf->output : "");
	p->pf.wire_ndim = pf->ndim;
	memcpy(p->pf.wire_dims, pf->dims, sizeof(p->pf.wire_dims));
}

/* One record: rebuild its request and compare digests. */
static cbd_status check_one(struct probe *p, const cbd_triggerset *ts,
			    const cbd_transcript_record *r, cbd_buf *b,
			    cbd_err *err)
{
	const cbd_trigger *tr = cbd_triggerset_get(ts, r->index);
	struct probe_item it = {0};
	uint8_t d[CBD_SHA256_LEN];
	size_t json_len;
	cbd_status s;

	if (!tr || strcmp(tr->id, r->trigger_id) != 0)
		return cbd_err_set(err, CBD_E_VERIFY, "line %llu: trigger '%s' "
				   "is not trigger %zu of the set",
				   (unsigned long long)r->seq + 1,
				   r->trigger_id, r->index);
	it.id = tr->id;
	it.index = r->index;
	it.q = tr->input->data;
	if (r->wire_id && strcmp(r->wire_id, r->trigger_id) != 0)
		snprintf(it.wire, sizeof(it.wire), "%s", r->wire_id);
	s = cbd_triggerset_input_float(ts, r->index, &it.x, err);
	if (s)
		return s;
	cbd_buf_reset(b);
	probe_request_body(p, &it, b, &json_len);
	free(it.x);
	if (b->st)
		return cbd_err_set(err, b->st, "out of memory");
	cbd_sha256(b->p, b->len, d, NULL);
	if (memcmp(d, r->request_digest, sizeof(d)) != 0)
		return cbd_err_set(err, CBD_E_VERIFY, "line %llu: the request "
				   "recorded for trigger %s is not the one "
				   "its trigger makes",
				   (unsigned long long)r->seq + 1,
				   r->trigger_id);
	return CBD_OK;
}

cbd_status cbd_probe_check_requests(const cbd_transcript *t,
				    const cbd_triggerset *ts,
				    size_t *checked, size_t *unchecked,
				    cbd_err *err)
{
	const cbd_transcript_header *h = cbd_transcript_get_header(t);
	uint8_t digest[CBD_SHA256_LEN];
	cbd_probe_opts o = {0};
	struct probe p = {0};
	cbd_buf b = {0};
	cbd_status s = CBD_OK;
	int cur = -1;

	*checked = *unchecked = 0;
	cbd_triggerset_digest(ts, digest);
	if (memcmp(digest, h->triggers_digest, sizeof(digest)) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "transcript was made for "
				   "another trigger set (digest differs)");
	if (!backend_of(h->backend, &o.backend))
		return cbd_err_set(err, CBD_E_FORMAT, "unknown backend '%s' in "
				   "the transcript's header", h->backend);
	o.send_uint8 = strcmp(h->datatype, "UINT8") == 0;
	p.o = &o;
	if (cbd_triggerset_count(ts) &&
	    (s = probe_set_shape(&p, cbd_triggerset_get(ts, 0)->input, 0,
				 err)))
		return s;
	for (size_t i = 0; i < cbd_transcript_count(t) && !s; i++) {
		const cbd_transcript_record *r = cbd_transcript_record_at(t, i);
		const cbd_transcript_preflight *pf =
			cbd_transcript_preflight_at(t, r->preflight);

		/* the archive backend's request is the input alone; it
		 * writes no preflight line */
		if (!pf && o.backend != CBD_PROBE_ARCHIVE) {
			(*unchecked)++;
			continue;
		}
		if (pf && r->preflight != cur) {
			set_preflight(&p, &o, pf);
			cur = r->preflight;
		}
		s = check_one(&p, ts, r, &b, err);
		if (!s)
			(*checked)++;
	}
	cbd_buf_free(&b);
	return s;
}
