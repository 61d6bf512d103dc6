/*
 * transcript.c — reading and verifying cbd-transcript/1 files
 * (formats/transcript.md).
 *
 * The file is split at LF; each line's SHA-256 (without the LF) must equal
 * the next line's "prev", so the chain is checked over the exact bytes, not
 * over re-serialised JSON.  Lines are then parsed with cJSON and checked
 * field by field: known keys only, right types, seq = line number, no
 * trigger index twice, an "end" line only last and with matching counts.
 * Parsed records keep their strings and scores in the transcript, which
 * owns everything (one free).
 */
#include "transcript_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define PREFIX "{\"format\":\"" CBD_TRANSCRIPT_FORMAT "\","

struct cbd_transcript {
	cbd_transcript_header h;
	cbd_transcript_record *recs;
	size_t n, cap;
	size_t answered, failed, lines;
	size_t decoys, decoys_answered; /* decoy lines: never records */
	double seq_p1;          /* a "sequential" line's p1; 0 = none */
	int settled;            /* a "settled" line: */
	size_t spent, secret;   /* its counts */
	int complete;
	const char *end_time;   /* the "end" line's time, "" if none */
	uint8_t head[CBD_SHA256_LEN];
	char **strs;            /* owned strings */
	size_t nstrs, capstrs;
	float **scores;         /* owned score arrays, one per record */
	cbd_transcript_preflight *pfs; /* the preflight lines */
	int npf, cappf;
};

int cbd_transcript_sniff(const uint8_t *buf, size_t len)
{
	return len >= strlen(PREFIX) && memcmp(buf, PREFIX, strlen(PREFIX)) == 0;
}

/* Walk the lines of buf: check the chain; call fn for each line. */
typedef cbd_status (*line_fn)(void *ud, size_t i, const char *line,
			      size_t len, cbd_err *err);

static cbd_status walk(const uint8_t *buf, size_t len, const char *name,
		       line_fn fn, void *ud, size_t *lines,
		       uint8_t head[CBD_SHA256_LEN], cbd_err *err)
{
	uint8_t prev[CBD_SHA256_LEN] = {0};
	size_t off = 0, i = 0;
	cbd_status s;

	if (!cbd_transcript_sniff(buf, len))
		return cbd_err_set(err, CBD_E_FORMAT,
				   "not a %s transcript (%s)",
				   CBD_TRANSCRIPT_FORMAT, name);
	while (off < len) {
		const uint8_t *nl = memchr(buf + off, '\n', len - off);
		size_t ll;
		char want[2 * CBD_SHA256_LEN + 1], *p;

		if (!nl)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "truncated last line %zu (%s)", i + 1,
					   name);
		ll = (size_t)(nl - (buf + off));
		if (ll > CBD_MAX_TRANSCRIPT_LINE)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "line %zu longer than %zu bytes (%s)",
					   i + 1, CBD_MAX_TRANSCRIPT_LINE, name);
		if (memchr(buf + off, 0, ll))
			return cbd_err_set(err, CBD_E_FORMAT,
					   "NUL byte in line %zu (%s)", i + 1,
					   name);
		/* the prev field: cheap textual check before parsing */
		cbd_hex(prev, CBD_SHA256_LEN, want);
		p = memmem(buf + off, ll, "\"prev\":\"", 8);
		if (!p || (size_t)(p - (const char *)(buf + off)) + 8 + 64 > ll ||
		    memcmp(p + 8, want, 64) != 0 || p[8 + 64] != '"')
			return cbd_err_set(err, CBD_E_VERIFY,
					   "hash chain broken at line %zu (%s)",
					   i + 1, name);
		if (fn) {
			s = fn(ud, i, (const char *)buf + off, ll, err);
			if (s)
				return s;
		}
		s = cbd_sha256(buf + off, ll, prev, err);
		if (s)
			return s;
		off += ll + 1;
		i++;
	}
	if (lines)
		*lines = i;
	if (head)
		memcpy(head, prev, CBD_SHA256_LEN);
	return CBD_OK;
}

cbd_status cbd_transcript_verify(const uint8_t *buf, size_t len,
				 const char *name, size_t *lines,
				 uint8_t head[CBD_SHA256_LEN], cbd_err *err)
{
	return walk(buf, len, name, NULL, NULL, lines, head, err);
}

/* ---- parsing -------------------------------------------------------- */

struct parse {
	cbd_transcript *t;
	const char *name;
	uint8_t *seen;          /* per trigger index */
	int ended;
	size_t run_queries;     /* query and decoy lines of this run */
	/* this run's decoy schedule (a "schedule" line, until the next
	 * resume line), recomputed from its seed (schedule.c) */
	int sched;
	uint8_t seed[CBD_SHA256_LEN];
	uint32_t *order, *perm;
	size_t *pending;        /* trigger index of each pending slot */
	uint8_t *pos_seen;      /* per position of the send order */
	size_t sched_p, sched_d, sched_m, sched_got, max_pos;
	int sequential, settled; /* this run's --until-verdict lines */
	int run_pf;             /* this run's preflight (t->pfs), -1: none */
};

static void sched_clear(struct parse *ps)
{
	free(ps->order);
	free(ps->perm);
	free(ps->pending);
	free(ps->pos_seen);
	ps->order = ps->perm = NULL;
	ps->pending = NULL;
	ps->pos_seen = NULL;
	ps->sched = 0;
	ps->sched_got = 0;
	ps->max_pos = 0;
	ps->sequential = 0;
	ps->settled = 0;
}

static const char *keep(cbd_transcript *t, const char *s, cbd_err *err)
{
	char *c;

	if (t->nstrs == t->capstrs) {
		size_t cap = t->capstrs ? 2 * t->capstrs : 64;
		char **p = realloc(t->strs, cap * sizeof(*p));

		if (!p) {
			cbd_err_set(err, CBD_E_NOMEM, "out of memory");
			return NULL;
		}
		t->strs = p;
		t->capstrs = cap;
	}
	c = strdup(s);
	if (!c) {
		cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		return NULL;
	}
	t->strs[t->nstrs++] = c;
	return c;
}

/* Keys allowed per line type, in writer order. */
static const char *const HEADER_KEYS[] = {
	"format", "type", "prev", "tool", "endpoint", "backend", "model",
	"datatype", "triggers", "num_triggers", "num_classes", "start", NULL};
static const char *const QUERY_KEYS[] = {
	"type", "seq", "prev", "?pos", "index", "trigger", "request", "status",
	"latency_ms", "response", "label", "scores", "attempts", "error", NULL};
static const char *const DECOY_KEYS[] = {
	"type", "seq", "prev", "?pos", "index", "decoy", "request", "status",
	"latency_ms", "response", "label", "scores", "attempts", "error", NULL};
static const char *const SCHEDULE_KEYS[] = {
	"type", "seq", "prev", "seed", "decoys", "decoy_samples", "num_decoys",
	"ratio", "pace_ms", "jitter_ms", NULL};
static const char *const SEQUENTIAL_KEYS[] = {
	"type", "seq", "prev", "rule", "p1", "alpha", "beta", NULL};
static const char *const SETTLED_KEYS[] = {
	"type", "seq", "prev", "spent", "secret", NULL};
static const char *const RESUME_KEYS[] = {
	"type", "seq", "prev", "time", "dropped", NULL};
static const char *const PREFLIGHT_KEYS[] = {
	"type", "seq", "prev", "time", "input", "shape", "output", "answer",
	"?encoding", "metadata", "decoy", "decoy_response", "decoy_label",
	NULL};
static const char *const ABORT_KEYS[] = {
	"type", "seq", "prev", "time", "reason", NULL};
static const char *const END_KEYS[] = {
	"type", "seq", "prev", "time", "answered", "failed", NULL};

/* Exactly the keys listed ("?key": optional), each once. */
static cbd_status check_keys(const cJSON *o, const char *const *keys,
			     const struct parse *ps, size_t line,
			     cbd_err *err)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, o) {
		int ok = 0;

		for (int i = 0; keys[i]; i++)
			if (c->string && strcmp(c->string, keys[i] +
						(keys[i][0] == '?')) == 0)
				ok = 1;
		if (!ok)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "unknown key '%s' in line %zu (%s)",
					   c->string ? c->string : "", line,
					   ps->name);
		for (const cJSON *d = c->next; d; d = d->next)
			if (strcmp(d->string, c->string) == 0)
				return cbd_err_set(err, CBD_E_FORMAT,
						   "key '%s' twice in line %zu "
						   "(%s)", c->string, line,
						   ps->name);
	}
	for (int i = 0; keys[i]; i++)
		if (keys[i][0] != '?' &&
		    !cJSON_GetObjectItemCaseSensitive(o, keys[i]))
			return cbd_err_set(err, CBD_E_FORMAT,
					   "missing key '%s' in line %zu (%s)",
					   keys[i], line, ps->name);
	return CBD_OK;
}

static const char *get_str(const cJSON *o, const char *k, int nullable)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, k);

	if (nullable && cJSON_IsNull(c))
		return "";
	return cJSON_IsString(c) ? c->valuestring : NULL;
}

/* Integer in [min,max]; null allowed when nullable (-> *null = 1). */
static int get_int(const cJSON *o, const char *k, double min, double max,
		   int64_t *v, int *null)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, k);

	if (null)
		*null = 0;
	if (null && cJSON_IsNull(c)) {
		*null = 1;
		*v = 0;
		return 1;
	}
	if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble) ||
	    c->valuedouble < min || c->valuedouble > max)
		return 0;
	*v = (int64_t)c->valuedouble;
	return 1;
}

#define BAD(field) cbd_err_set(err, CBD_E_FORMAT, \
			       "bad '%s' in line %zu (%s)", field, line, \
			       ps->name)

static cbd_status parse_header(struct parse *ps, const cJSON *o,
			       cbd_err *err)
{
	cbd_transcript_header *h = &ps->t->h;
	size_t line = 1;
	const char *f[] = {"format", "tool", "endpoint", "backend", "model",
			   "datatype", "start"};
	const char **dst[] = {&h->format, &h->tool, &h->endpoint, &h->backend,
			      &h->model, &h->datatype, &h->start};
	const char *dig;
	int64_t v;
	int null;
	cbd_status s = check_keys(o, HEADER_KEYS, ps, line, err);

	if (s)
		return s;
	if (strcmp(get_str(o, "type", 0) ? get_str(o, "type", 0) : "",
		   "header") != 0)
		return BAD("type");
	for (size_t i = 0; i < CBD_ARRAY_LEN(f); i++) {
		const char *str = get_str(o, f[i], 0);

		if (!str)
			return BAD(f[i]);
		*dst[i] = keep(ps->t, str, err);
		if (!*dst[i])
			return CBD_E_NOMEM;
	}
	if (strcmp(h->format, CBD_TRANSCRIPT_FORMAT) != 0)
		return BAD("format");
	dig = get_str(o, "triggers", 0);
	if (!dig || strlen(dig) != 64 ||
	    cbd_unhex(dig, h->triggers_digest, CBD_SHA256_LEN, NULL))
		return BAD("triggers");
	/* the parser keeps one byte per trigger: a header must not be able
	 * to ask for gigabytes (fuzz finding) */
	if (!get_int(o, "num_triggers", 0, CBD_MAX_TRIGGERS, &v, NULL))
		return BAD("num_triggers");
	h->num_triggers = (size_t)v;
	if (!get_int(o, "num_classes", 1, 65536, &v, &null))
		return BAD("num_classes");
	h->num_classes = (int)v;
	ps->seen = calloc(h->num_triggers ? h->num_triggers : 1, 1);
	if (!ps->seen)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

static cbd_status parse_digest(const cJSON *o, const char *k, uint8_t *d,
			       int *present)
{
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, k);

	if (present && cJSON_IsNull(c)) {
		*present = 0;
		return CBD_OK;
	}
	if (!cJSON_IsString(c) || strlen(c->valuestring) != 64 ||
	    cbd_unhex(c->valuestring, d, CBD_SHA256_LEN, NULL))
		return CBD_E_FORMAT;
	if (present)
		*present = 1;
	return CBD_OK;
}

static cbd_status parse_scores(struct parse *ps, const cJSON *o,
			       cbd_transcript_record *r, size_t line,
			       cbd_err *err)
{
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(o, "scores"), *c;
	int n, k = 0;
	float *f;

	if (cJSON_IsNull(sc))
		return CBD_OK;
	if (!cJSON_IsArray(sc))
		return BAD("scores");
	n = cJSON_GetArraySize(sc);
	if (n < 1 || n > 65536)
		return BAD("scores");
	f = malloc((size_t)n * sizeof(float));
	if (!f)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	ps->t->scores[ps->t->n] = f;
	cJSON_ArrayForEach(c, sc) {
		if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
			return BAD("scores");
		f[k++] = (float)c->valuedouble;
	}
	r->scores = f;
	r->num_scores = n;
	return CBD_OK;
}

static cbd_status grow_recs(cbd_transcript *t, cbd_err *err)
{
	size_t cap;
	void *p, *q;

	if (t->n < t->cap)
		return CBD_OK;
	cap = t->cap ? 2 * t->cap : 256;
	p = realloc(t->recs, cap * sizeof(*t->recs));
	if (p)
		t->recs = p;
	q = realloc(t->scores, cap * sizeof(*t->scores));
	if (q)
		t->scores = q;
	if (!p || !q)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	t->cap = cap;
	return CBD_OK;
}

/* After a schedule line, every query and decoy line names its position
 * ("pos") in the send order, and what it recorded must be what the seed
 * puts there: that trigger, or decoy k ("d<k>") of its sample. */
static cbd_status check_pos(struct parse *ps, const cJSON *o, size_t line,
			    int decoy, size_t index, const char *id,
			    size_t *out_pos, cbd_err *err)
{
	const cJSON *pj = cJSON_GetObjectItemCaseSensitive(o, "pos");
	char want[32];
	size_t pos, slot;
	int64_t v;

	ps->run_queries++;
	if (!ps->sched) {
		if (decoy)
			return cbd_err_set(err, CBD_E_FORMAT, "decoy line %zu "
					   "without a schedule line before it "
					   "in its run (%s)", line, ps->name);
		return pj ? BAD("pos") : CBD_OK;
	}
	if (!get_int(o, "pos", 0, (double)(ps->sched_p + ps->sched_d) - 1,
		     &v, NULL))
		return BAD("pos");
	pos = (size_t)v;
	*out_pos = pos;
	if (ps->pos_seen[pos])
		return cbd_err_set(err, CBD_E_FORMAT, "schedule position %zu "
				   "recorded twice (line %zu, %s)", pos, line,
				   ps->name);
	if (ps->settled)
		return cbd_err_set(err, CBD_E_FORMAT, "line %zu after the "
				   "settled line (%s)", line, ps->name);
	ps->pos_seen[pos] = 1;
	ps->sched_got++;
	if (pos > ps->max_pos)
		ps->max_pos = pos;
	slot = ps->order[pos];
	if (slot >= ps->sched_p) {
		slot -= ps->sched_p;
		snprintf(want, sizeof(want), "d%zu", slot);
		if (decoy && strcmp(id, want) == 0 &&
		    index == ps->perm[slot % ps->sched_m])
			return CBD_OK;
	} else if (!decoy && index == ps->pending[slot]) {
		return CBD_OK;
	}
	return cbd_err_set(err, CBD_E_VERIFY, "line %zu is not what the "
			   "schedule's seed sends at position %zu (%s)", line,
			   pos, ps->name);
}

/* A query line, or (decoy) a decoy line: the same fields, but its index
 * is the decoy's in the decoy file, its id under "decoy", and it becomes
 * no record (decoys are never scored), only counted. */
static cbd_status parse_query(struct parse *ps, const cJSON *o, size_t line,
			      int decoy, cbd_err *err)
{
	cbd_transcript *t = ps->t;
	cbd_transcript_record *r;
	const char *id, *e;
	int64_t v;
	int null;
	size_t pos = 0;
	char wire[CBD_WIRE_ID_LEN];
	const cJSON *lat;
	cbd_status s = check_keys(o, decoy ? DECOY_KEYS : QUERY_KEYS, ps, line,
				  err);

	if (s || (s = grow_recs(t, err)))
		return s;
	r = &t->recs[t->n];
	memset(r, 0, sizeof(*r));
	t->scores[t->n] = NULL;
	r->seq = line - 1;
	if (!get_int(o, "index", 0, decoy ? CBD_MAX_TRIGGERS : 1e12, &v,
		     NULL) || (!decoy && (size_t)v >= t->h.num_triggers))
		return BAD("index");
	r->index = (size_t)v;
	if (!decoy && ps->seen[r->index])
		return cbd_err_set(err, CBD_E_FORMAT,
				   "trigger index %zu recorded twice (line "
				   "%zu, %s)", r->index, line, ps->name);
	if (!decoy)
		ps->seen[r->index] = 1;
	id = get_str(o, decoy ? "decoy" : "trigger", 0);
	if (!id)
		return decoy ? BAD("decoy") : BAD("trigger");
	s = check_pos(ps, o, line, decoy, r->index, id, &pos, err);
	if (s)
		return s;
	if (!(r->trigger_id = keep(t, id, err)))
		return CBD_E_NOMEM;
	r->wire_id = r->trigger_id;
	if (ps->sched) {
		cbd_schedule_wire_id(ps->seed, pos, wire);
		if (!(r->wire_id = keep(t, wire, err)))
			return CBD_E_NOMEM;
	}
	r->preflight = ps->run_pf;
	if (parse_digest(o, "request", r->request_digest, NULL))
		return BAD("request");
	if (parse_digest(o, "response", r->response_digest, &r->has_response))
		return BAD("response");
	if (!get_int(o, "status", 0, 999, &v, NULL))
		return BAD("status");
	r->status = (int)v;
	lat = cJSON_GetObjectItemCaseSensitive(o, "latency_ms");
	if (!cJSON_IsNumber(lat) || !(lat->valuedouble >= 0))
		return BAD("latency_ms");
	r->latency_ms = lat->valuedouble;
	if (!get_int(o, "label", 0, 65535, &v, &null))
		return BAD("label");
	r->label = null ? -1 : (int)v;
	if (t->h.num_classes > 0 && r->label >= t->h.num_classes)
		return BAD("label");
	if (!get_int(o, "attempts", 1, 1e9, &v, NULL))
		return BAD("attempts");
	r->attempts = (int)v;
	e = get_str(o, "error", 1);
	if (!e)
		return BAD("error");
	if (*e) {
		if (!(r->error = keep(t, e, err)))
			return CBD_E_NOMEM;
	}
	if ((r->error != NULL) == (r->label >= 0))
		return cbd_err_set(err, CBD_E_FORMAT,
				   "line %zu must have either a label or an "
				   "error (%s)", line, ps->name);
	s = parse_scores(ps, o, r, line, err);
	if (decoy) {
		free(t->scores[t->n]);
		t->scores[t->n] = NULL;
		if (!s) {
			t->decoys++;
			t->decoys_answered += r->error == NULL;
		}
		return s;
	}
	if (s) {
		t->n++;    /* so the scores array is freed */
		return s;
	}
	t->n++;
	if (r->error)
		t->failed++;
	else
		t->answered++;
	return CBD_OK;
}

/* A schedule line: the seed and the decoys of the queries after it; the
 * send order is recomputed here, so each later line can be checked. */
static cbd_status parse_schedule(struct parse *ps, const cJSON *o,
				 size_t line, cbd_err *err)
{
	uint8_t d[CBD_SHA256_LEN];
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "ratio");
	int64_t v, m, nd;
	size_t n = ps->t->h.num_triggers, k = 0;
	cbd_status s = check_keys(o, SCHEDULE_KEYS, ps, line, err);

	if (s)
		return s;
	if (ps->sched || ps->run_queries)
		return cbd_err_set(err, CBD_E_FORMAT, "schedule line %zu after "
				   "a schedule or a query of its run (%s)",
				   line, ps->name);
	if (parse_digest(o, "seed", ps->seed, NULL))
		return BAD("seed");
	if (parse_digest(o, "decoys", d, NULL))
		return BAD("decoys");
	if (!get_int(o, "decoy_samples", 0, CBD_MAX_TRIGGERS, &m, NULL))
		return BAD("decoy_samples");
	if (!get_int(o, "num_decoys", 0, (double)CBD_MAX_SCHEDULE, &nd, NULL) ||
	    (m == 0 && nd > 0))
		return BAD("num_decoys");
	if (!cJSON_IsNumber(r) || !(r->valuedouble >= 0) ||
	    r->valuedouble > 100)
		return BAD("ratio");
	if (!get_int(o, "pace_ms", 0, 3600000, &v, NULL))
		return BAD("pace_ms");
	if (!get_int(o, "jitter_ms", 0, 3600000, &v, NULL))
		return BAD("jitter_ms");
	ps->pending = malloc((n ? n : 1) * sizeof(*ps->pending));
	if (!ps->pending)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!ps->seen[i])
			ps->pending[k++] = i;
	ps->sched_p = k;
	ps->sched_d = (size_t)nd;
	ps->sched_m = (size_t)m;
	s = cbd_schedule_make(ps->seed, k, ps->sched_d, ps->sched_m,
			      &ps->order, &ps->perm, err);
	if (s == CBD_E_TOOBIG)        /* past a cap: the counts are bad */
		return BAD("num_decoys");
	if (s)
		return s;
	ps->pos_seen = calloc(k + ps->sched_d ? k + ps->sched_d : 1, 1);
	if (!ps->pos_seen)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	ps->sched = 1;
	return CBD_OK;
}

static int number_in(const cJSON *o, const char *key, double lo, double hi,
		     double *v)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(n) || !(n->valuedouble > lo) ||
	    !(n->valuedouble < hi))
		return 0;
	*v = n->valuedouble;
	return 1;
}

/* A sequential line (--until-verdict): the rule the run stops by, after
 * the run's schedule (its random order), before its first query. */
static cbd_status parse_sequential(struct parse *ps, const cJSON *o,
				   size_t line, cbd_err *err)
{
	const char *rule = get_str(o, "rule", 0);
	double p1, a, b;
	cbd_status s = check_keys(o, SEQUENTIAL_KEYS, ps, line, err);

	if (s)
		return s;
	if (!ps->sched || ps->sequential || ps->run_queries)
		return cbd_err_set(err, CBD_E_FORMAT, "sequential line %zu "
				   "not right after its run's schedule line "
				   "(%s)", line, ps->name);
	if (!rule || strcmp(rule, "sprt") != 0)
		return BAD("rule");
	if (!number_in(o, "p1", 1.0 / (ps->t->h.num_classes > 1 ?
					 ps->t->h.num_classes : 2), 1, &p1))
		return BAD("p1");
	if (!number_in(o, "alpha", 0, 1, &a))
		return BAD("alpha");
	if (!number_in(o, "beta", 0, 1, &b))
		return BAD("beta");
	if (ps->t->seq_p1 > 0 && ps->t->seq_p1 != p1)
		return BAD("p1");
	ps->t->seq_p1 = p1;
	ps->sequential = 1;
	return CBD_OK;
}

/* A settled line: the run stopped sending once the verdict was settled.
 * What was sent is a prefix of the seed's order, all of it recorded. */
static cbd_status parse_settled(struct parse *ps, const cJSON *o,
				size_t line, cbd_err *err)
{
	int64_t spent, secret;
	cbd_status s = check_keys(o, SETTLED_KEYS, ps, line, err);

	if (s)
		return s;
	if (!ps->sequential || ps->settled)
		return cbd_err_set(err, CBD_E_FORMAT, "settled line %zu without "
				   "a sequential line in its run (%s)", line,
				   ps->name);
	if (!get_int(o, "spent", 0, CBD_MAX_TRIGGERS, &spent, NULL) ||
	    (size_t)spent != ps->t->n)
		return BAD("spent");
	if (!get_int(o, "secret", 0, CBD_MAX_TRIGGERS, &secret, NULL) ||
	    (size_t)(spent + secret) != ps->t->h.num_triggers)
		return BAD("secret");
	if (ps->sched_got && ps->max_pos + 1 != ps->sched_got)
		return cbd_err_set(err, CBD_E_VERIFY, "settled line %zu: the "
				   "queries sent are not the first %zu of the "
				   "schedule's order (%s)", line, ps->sched_got,
				   ps->name);
	ps->settled = 1;
	ps->t->settled = 1;
	ps->t->spent = (size_t)spent;
	ps->t->secret = (size_t)secret;
	return CBD_OK;
}

/* A name of a preflight line, kept; NULL for JSON null. */
static cbd_status pf_name(struct parse *ps, const cJSON *o, const char *k,
			  const char **out, size_t line, cbd_err *err)
{
	const char *v = get_str(o, k, 1);

	*out = NULL;
	if (!v)
		return BAD(k);
	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k)))
		return CBD_OK;
	*out = keep(ps->t, v, err);
	return *out ? CBD_OK : CBD_E_NOMEM;
}

static cbd_status grow_pfs(cbd_transcript *t, cbd_err *err)
{
	int cap;
	cbd_transcript_preflight *p;

	if (t->npf < t->cappf)
		return CBD_OK;
	cap = t->cappf ? 2 * t->cappf : 4;
	p = realloc(t->pfs, (size_t)cap * sizeof(*p));
	if (!p)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	t->pfs = p;
	t->cappf = cap;
	return CBD_OK;
}

/* A preflight line: what the queries of its run sent (kept for readers
 * that recompute the requests), before the first of them. */
static cbd_status parse_preflight(struct parse *ps, const cJSON *o,
				  size_t line, cbd_err *err)
{
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shape"), *c;
	const char *ans, *enc;
	uint8_t d[CBD_SHA256_LEN];
	int present;
	int64_t v;
	cbd_transcript_preflight *pf;
	cbd_status s = check_keys(o, PREFLIGHT_KEYS, ps, line, err);

	if (s || (s = grow_pfs(ps->t, err)))
		return s;
	if (ps->run_queries)
		return cbd_err_set(err, CBD_E_FORMAT, "preflight line %zu after "
				   "a query of its run (%s)", line, ps->name);
	pf = &ps->t->pfs[ps->t->npf];
	memset(pf, 0, sizeof(*pf));
	if ((s = pf_name(ps, o, "input", &pf->input, line, err)) ||
	    (s = pf_name(ps, o, "output", &pf->output, line, err)))
		return s;
	ans = get_str(o, "answer", 0);
	if (!ans || (strcmp(ans, "scores") != 0 && strcmp(ans, "label") != 0))
		return BAD("answer");
	enc = get_str(o, "encoding", 0);
	if (cJSON_GetObjectItemCaseSensitive(o, "encoding") &&
	    (!enc || (strcmp(enc, "json") != 0 && strcmp(enc, "binary") != 0)))
		return BAD("encoding");
	if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > CBD_MAX_DIMS + 1)
		return BAD("shape");
	cJSON_ArrayForEach(c, sh) {
		if (!cJSON_IsNumber(c) || c->valuedouble < 1 ||
		    c->valuedouble > 1e15 ||
		    c->valuedouble != floor(c->valuedouble))
			return BAD("shape");
		pf->dims[pf->ndim++] = (int64_t)c->valuedouble;
	}
	if (parse_digest(o, "metadata", d, &present))
		return BAD("metadata");
	if (parse_digest(o, "decoy", d, NULL))
		return BAD("decoy");
	if (parse_digest(o, "decoy_response", d, NULL))
		return BAD("decoy_response");
	if (!get_int(o, "decoy_label", 0, 65535, &v, NULL))
		return BAD("decoy_label");
	pf->label = strcmp(ans, "label") == 0;
	pf->binary = enc && strcmp(enc, "binary") == 0;
	ps->run_pf = ps->t->npf++;
	return CBD_OK;
}

static cbd_status parse_line(void *ud, size_t i, const char *line_s,
			     size_t len, cbd_err *err)
{
	struct parse *ps = ud;
	size_t line = i + 1;
	cJSON *o = cJSON_ParseWithLength(line_s, len);
	const char *type;
	int64_t v;
	cbd_status s = CBD_OK;

	if (!cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return cbd_err_set(err, CBD_E_FORMAT,
				   "line %zu is not a JSON object (%s)", line,
				   ps->name);
	}
	if (ps->ended) {
		s = cbd_err_set(err, CBD_E_FORMAT,
				"line %zu after the end line (%s)", line,
				ps->name);
		goto out;
	}
	if (i == 0) {
		s = parse_header(ps, o, err);
		goto out;
	}
	type = get_str(o, "type", 0);
	if (!get_int(o, "seq", 1, 1e15, &v, NULL) || (size_t)v != i) {
		s = BAD("seq");
		goto out;
	}
	if (type && strcmp(type, "query") == 0) {
		s = parse_query(ps, o, line, 0, err);
	} else if (type && strcmp(type, "decoy") == 0) {
		s = parse_query(ps, o, line, 1, err);
	} else if (type && strcmp(type, "schedule") == 0) {
		s = parse_schedule(ps, o, line, err);
	} else if (type && strcmp(type, "sequential") == 0) {
		s = parse_sequential(ps, o, line, err);
	} else if (type && strcmp(type, "settled") == 0) {
		s = parse_settled(ps, o, line, err);
	} else if (type && strcmp(type, "resume") == 0) {
		s = check_keys(o, RESUME_KEYS, ps, line, err);
		sched_clear(ps);        /* a new run */
		ps->run_queries = 0;
		ps->run_pf = -1;
	} else if (type && strcmp(type, "preflight") == 0) {
		s = parse_preflight(ps, o, line, err);
	} else if (type && strcmp(type, "abort") == 0) {
		s = check_keys(o, ABORT_KEYS, ps, line, err);
		if (!s && !get_str(o, "reason", 0))
			s = BAD("reason");
	} else if (type && strcmp(type, "end") == 0) {
		int64_t a, f;

		s = check_keys(o, END_KEYS, ps, line, err);
		if (!s && (!get_int(o, "answered", 0, 1e12, &a, NULL) ||
			   !get_int(o, "failed", 0, 1e12, &f, NULL) ||
			   (size_t)a != ps->t->answered ||
			   (size_t)f != ps->t->failed))
			s = cbd_err_set(err, CBD_E_FORMAT,
					"end line %zu counts do not match the "
					"records (%s)", line, ps->name);
		if (!s && ps->sched && !ps->settled &&
		    ps->sched_got != ps->sched_p + ps->sched_d)
			s = cbd_err_set(err, CBD_E_VERIFY, "end line %zu: %zu "
					"of the schedule's %zu queries "
					"recorded (%s)", line, ps->sched_got,
					ps->sched_p + ps->sched_d, ps->name);
		if (!s) {
			const char *tm = get_str(o, "time", 0);

			ps->t->end_time = keep(ps->t, tm ? tm : "", err);
			if (!ps->t->end_time)
				s = CBD_E_NOMEM;
		}
		ps->ended = 1;
	} else {
		s = BAD("type");
	}
out:
	cJSON_Delete(o);
	return s;
}

cbd_status cbd_transcript_parse(const uint8_t *buf, size_t len,
				const char *name, cbd_transcript **out,
				cbd_err *err)
{
	struct parse ps = {0};
	cbd_status s;

	*out = NULL;
	ps.t = calloc(1, sizeof(*ps.t));
	ps.name = name;
	ps.run_pf = -1;
	if (!ps.t)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	/* the chain first, so tampering reports as such (not as a bad
	 * field in the changed line), then the fields */
	s = walk(buf, len, name, NULL, NULL, NULL, NULL, err);
	if (!s)
		s = walk(buf, len, name, parse_line, &ps, &ps.t->lines,
			 ps.t->head, err);
	free(ps.seen);
	sched_clear(&ps);
	if (s) {
		cbd_transcript_free(ps.t);
		return s;
	}
	ps.t->complete = ps.ended;
	*out = ps.t;
	return CBD_OK;
}

cbd_status cbd_transcript_load(const char *path, cbd_transcript **out,
			       cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	*out = NULL;
	s = cbd_file_read(path, CBD_MAX_TRANSCRIPT, &buf, &len, err);
	if (s)
		return s;
	s = cbd_transcript_parse(buf, len, strcmp(path, "-") ? path : "stdin",
				 out, err);
	free(buf);
	return s;
}

void cbd_transcript_free(cbd_transcript *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nstrs; i++)
		free(t->strs[i]);
	for (size_t i = 0; i < t->n; i++)
		free(t->scores[i]);
	free(t->strs);
	free(t->scores);
	free(t->recs);
	free(t->pfs);
	free(t);
}

const cbd_transcript_header *cbd_transcript_get_header(
	const cbd_transcript *t)
{
	return &t->h;
}

size_t cbd_transcript_count(const cbd_transcript *t)
{
	return t->n;
}

const cbd_transcript_record *cbd_transcript_record_at(
	const cbd_transcript *t, size_t i)
{
	return i < t->n ? &t->recs[i] : NULL;
}

const cbd_transcript_preflight *cbd_transcript_preflight_at(
	const cbd_transcript *t, int i)
{
	return i >= 0 && i < t->npf ? &t->pfs[i] : NULL;
}

size_t cbd_transcript_answered(const cbd_transcript *t)
{
	return t->answered;
}

double cbd_transcript_sequential(const cbd_transcript *t)
{
	return t->seq_p1;
}

int cbd_transcript_settled(const cbd_transcript *t, size_t *spent,
			   size_t *secret)
{
	*spent = t->settled ? t->spent : 0;
	*secret = t->settled ? t->secret : 0;
	return t->settled;
}

size_t cbd_transcript_decoys(const cbd_transcript *t, size_t *answered)
{
	if (answered)
		*answered = t->decoys_answered;
	return t->decoys;
}

size_t cbd_transcript_failed(const cbd_transcript *t)
{
	return t->failed;
}

int cbd_transcript_complete(const cbd_transcript *t)
{
	return t->complete;
}

const char *cbd_transcript_end_time(const cbd_transcript *t)
{
	return t->end_time ? t->end_time : "";
}

size_t cbd_transcript_lines(const cbd_transcript *t)
{
	return t->lines;
}

void cbd_transcript_head(const cbd_transcript *t,
			 uint8_t out[CBD_SHA256_LEN])
{
	memcpy(out, t->head, CBD_SHA256_LEN);
}
