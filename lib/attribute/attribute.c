/*
 * attribute.c — who leaked the suspect model?
 *
 * An attribution collects the suspect's answers to a trigger set (from one
 * or more transcripts), then streams over the users: for each user u and
 * each answered trigger j it recomputes the label u's copy would have given,
 * cbd_trace_label(secret_u, m_j, K), and counts the matches s_u.  Only s_u
 * (a uint16 per user) is kept, so a million users cost two megabytes; the
 * labels are computed by the HMAC fast path of hmac.c on all cores.
 *
 * Bookkeeping per trigger: UNASKED (no transcript asked it), FAILED (asked,
 * never answered) or ANSWERED (the first label heard; later answers for the
 * same trigger are counted as duplicates and ignored, so a re-probed
 * trigger is never counted twice).  T = ANSWERED triggers.  Failures are
 * reported, never scored as misses.
 *
 * The result keeps a table of rows: every significant user (s at or above
 * the threshold) plus the next `top` users by s, ordered by s descending and
 * keyring order, so the output does not depend on the thread count.
 */
#include "attribute_internal.h"

#include <math.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { UNASKED = -3, FAILED = -2 };

struct cbd_attribution {
	const cbd_triggerset *ts;
	size_t n;                 /* triggers in the set */
	int K;
	uint8_t digest[CBD_SHA256_LEN];
	int *answer;              /* UNASKED, FAILED or the label (>= 0) */
	size_t duplicates;
	double seq_p1;            /* a sequential transcript's p1, or 0 */
	int have_result;
	cbd_attr_result res;
	char **row_ids;           /* owned copies for res.rows */
};

cbd_status cbd_attribution_new(const cbd_triggerset *ts,
			       cbd_attribution **out, cbd_err *err)
{
	cbd_attribution *a;
	size_t n;

	*out = NULL;
	if (!ts)
		return cbd_err_set(err, CBD_E_USAGE, "no trigger set");
	n = cbd_triggerset_count(ts);
	if (n == 0 || n > CBD_MAX_ATTR_TRIGGERS)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "trigger set has %zu triggers (1 to %d "
				   "supported)", n, CBD_MAX_ATTR_TRIGGERS);
	if (cbd_triggerset_num_classes(ts) < 2)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "trigger set has fewer than 2 classes");
	a = cbd_xcalloc(1, sizeof(*a), err);
	if (!a)
		return CBD_E_NOMEM;
	a->answer = cbd_xmalloc(n * sizeof(int), err);
	if (!a->answer) {
		free(a);
		return CBD_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++)
		a->answer[i] = UNASKED;
	a->ts = ts;
	a->n = n;
	a->K = cbd_triggerset_num_classes(ts);
	cbd_triggerset_digest(ts, a->digest);
	*out = a;
	return CBD_OK;
}

static void free_result(cbd_attribution *a)
{
	if (a->row_ids)
		for (size_t i = 0; i < a->res.n_rows; i++)
			free(a->row_ids[i]);
	free(a->row_ids);
	free(a->res.rows);
	free(a->res.histogram);
	a->row_ids = NULL;
	memset(&a->res, 0, sizeof(a->res));
	a->have_result = 0;
}

void cbd_attribution_free(cbd_attribution *a)
{
	if (!a)
		return;
	free_result(a);
	free(a->answer);
	free(a);
}

cbd_status cbd_attribution_answer(cbd_attribution *a, size_t i, int label,
				  cbd_err *err)
{
	if (i >= a->n)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "trigger index %zu past the set's %zu", i,
				   a->n);
	if (a->answer[i] >= 0) {
		if (label >= 0)
			a->duplicates++;
		return CBD_OK;
	}
	a->answer[i] = label >= 0 ? label : FAILED;
	return CBD_OK;
}

int cbd_attribution_answer_of(const cbd_attribution *a, size_t i)
{
	return i < a->n && a->answer[i] >= 0 ? a->answer[i] : -1;
}

cbd_status cbd_attribution_add_transcript(cbd_attribution *a,
					  const cbd_transcript *t,
					  cbd_err *err)
{
	const cbd_transcript_header *h = cbd_transcript_get_header(t);
	size_t n = cbd_transcript_count(t);

	if (memcmp(h->triggers_digest, a->digest, CBD_SHA256_LEN) != 0)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "transcript was made for another trigger "
				   "set (digest differs)");
	if (h->num_classes != 0 && h->num_classes != a->K)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "transcript has %d classes, trigger set %d",
				   h->num_classes, a->K);
	if (cbd_transcript_sequential(t) > 0) {
		if (a->seq_p1 > 0 && a->seq_p1 != cbd_transcript_sequential(t))
			return cbd_err_set(err, CBD_E_FORMAT, "transcripts of "
					   "sequential tests with different "
					   "p1");
		a->seq_p1 = cbd_transcript_sequential(t);
	}
	for (size_t i = 0; i < n; i++) {
		const cbd_transcript_record *r = cbd_transcript_record_at(t, i);
		const cbd_trigger *tr;
		cbd_status s;

		if (r->index >= a->n)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "record %llu: trigger index %zu "
					   "past the set's %zu",
					   (unsigned long long)r->seq,
					   r->index, a->n);
		tr = cbd_triggerset_get(a->ts, r->index);
		if (r->trigger_id && tr->id &&
		    strcmp(r->trigger_id, tr->id) != 0)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "record %llu: trigger id %s is not "
					   "the set's %s at index %zu",
					   (unsigned long long)r->seq,
					   r->trigger_id, tr->id, r->index);
		s = cbd_attribution_answer(a, r->index,
					   r->error ? -1 : r->label, err);
		if (s != CBD_OK)
			return s;
	}
	return CBD_OK;
}

int cbd_attribution_label(const cbd_attribution *a,
			  const uint8_t secret[CBD_TRACE_SECRET_LEN], size_t i)
{
	const cbd_trigger *t;

	if (i >= a->n)
		return -1;
	t = cbd_triggerset_get(a->ts, i);
	return cbd_trace_label(secret, t->message, t->message_len, a->K);
}

const cbd_attr_result *cbd_attribution_result(const cbd_attribution *a)
{
	return a->have_result ? &a->res : NULL;
}

/* ---- scoring ---------------------------------------------------------- */

/* One batch of users to score: plain arrays. */
struct user_src {
	const uint8_t (*secrets)[CBD_TRACE_SECRET_LEN];
	size_t n;
};

struct job {
	const struct user_src *src;
	const struct cbd_label_plan *plan;
	const cbd_attribute_opts *o;
	atomic_size_t *done;      /* users scored by all threads */
	int reporter;             /* this thread calls o->progress */
	size_t from, to;
	uint16_t *s;
	cbd_status st;
	cbd_err err;
};

static double now_s(void);

/* Every 4096 users (and at the end): add to the shared count; the
 * reporting thread calls the progress callback at most 4 times a second. */
static void tick(struct job *j, size_t *pending, int last_user,
		 double *last)
{
	size_t d;

	if (++*pending < 4096 && !last_user)
		return;
	d = atomic_fetch_add(j->done, *pending) + *pending;
	*pending = 0;
	if (j->reporter && j->o->progress && now_s() - *last >= 0.25) {
		*last = now_s();
		j->o->progress(j->o->progress_ud, d, j->src->n);
	}
}

static void *score_range(void *arg)
{
	struct job *j = arg;
	struct cbd_hmac_fast *h = NULL;
	double last = now_s();
	size_t pending = 0;

	j->st = cbd_hmac_fast_new(&h, &j->err);
	if (j->st != CBD_OK)
		return NULL;
	for (size_t u = j->from; u < j->to; u++) {
		int m;

		j->st = cbd_label_plan_score(j->plan, h, j->src->secrets[u],
					     &m, &j->err);
		if (j->st != CBD_OK)
			break;
		j->s[u] = (uint16_t)m;
		tick(j, &pending, u + 1 == j->to, &last);
	}
	cbd_hmac_fast_free(h);
	return NULL;
}

static int pick_threads(const cbd_attribute_opts *o, size_t users)
{
	long n = o->threads;

	if (n <= 0) {
		const char *e = getenv("CBD_THREADS");

		n = e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	}
	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	if ((size_t)n > users / 256 + 1)
		n = (long)(users / 256 + 1);
	return (int)n;
}

static cbd_status score_all(const struct user_src *src,
			    const struct cbd_label_plan *plan,
			    const cbd_attribute_opts *o, uint16_t *s,
			    cbd_err *err)
{
	int nt = pick_threads(o, src->n);
	struct job jobs[64];
	pthread_t th[64];
	int started = 0;
	cbd_status st = CBD_OK;

	atomic_size_t done;

	atomic_init(&done, 0);
	for (int t = 0; t < nt; t++) {
		jobs[t] = (struct job){src, plan, o, &done, t == 0,
				       src->n * t / nt, src->n * (t + 1) / nt,
				       s, CBD_OK, {0}};
	}
	for (int t = 1; t < nt; t++) {
		if (pthread_create(&th[t], NULL, score_range, &jobs[t]) != 0)
			break;
		started = t;
	}
	/* Ranges whose thread could not start run here. */
	score_range(&jobs[0]);
	for (int t = started + 1; t < nt; t++)
		score_range(&jobs[t]);
	for (int t = 1; t <= started; t++)
		pthread_join(th[t], NULL);
	if (o->progress)
		o->progress(o->progress_ud, atomic_load(&done), src->n);
	for (int t = 0; t < nt; t++) {
		if (jobs[t].st != CBD_OK && st == CBD_OK) {
			st = jobs[t].st;
			if (err)
				*err = jobs[t].err;
		}
	}
	return st;
}

/* ltail[s] = ln P[Bin(T,1/K) >= s] for s = 0..T+1.  Up to a few thousand
 * triggers each entry is computed exactly; past that by a running
 * log-sum-exp from the top term down (one pass instead of T+1 sums). */
static void tail_table(int T, int K, double *ltail)
{
	double lp = log(1.0 / K), lq = log1p(-1.0 / K), acc = -INFINITY;

	ltail[T + 1] = -INFINITY;
	if (T <= 2048) {
		for (int s = 0; s <= T; s++)
			ltail[s] = cbd_binom_log_tail(T, s, 1.0 / K);
		return;
	}
	for (int k = T; k >= 0; k--) {
		double t = lgamma(T + 1.0) - lgamma(k + 1.0) -
			   lgamma(T - k + 1.0) + k * lp + (T - k) * lq;
		double hi = t > acc ? t : acc, lo = t > acc ? acc : t;

		acc = hi + log1p(exp(lo - hi));
		ltail[k] = acc > 0.0 ? 0.0 : acc;
	}
	ltail[0] = 0.0;
}

static int row_cmp(const void *x, const void *y)
{
	const cbd_attr_row *a = x, *b = y;

	if (a->matches != b->matches)
		return a->matches > b->matches ? -1 : 1;
	return a->index < b->index ? -1 : a->index > b->index;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The owner's labels: T_w = answered triggers that carry one. */
static cbd_status watermark(cbd_attribution *a, cbd_err *err)
{
	cbd_attr_result *r = &a->res;
	size_t tw = 0, labelled = 0;
	int m = 0;
	double lp;

	for (size_t i = 0; i < a->n; i++) {
		const cbd_trigger *t = cbd_triggerset_get(a->ts, i);

		if (t->owner_label < 0)
			continue;
		labelled++;
		if (a->answer[i] < 0)
			continue;
		tw++;
		m += a->answer[i] == t->owner_label;
	}
	if (labelled == 0)
		return cbd_err_set(err, CBD_E_USAGE, "the trigger set has no "
				   "owner (watermark) labels");
	lp = cbd_binom_log_tail((int)tw, m, 1.0 / a->K);
	r->watermark_tested = 1;
	r->watermark_answered = tw;
	r->watermark = (cbd_attr_row){"owner", SIZE_MAX, m, lp, lp, 0, -1};
	r->watermark.significant = tw > 0 &&
		(a->seq_p1 > 0 ? m >= cbd_attribute_seq_threshold((int)tw, a->K,
				a->seq_p1, 1, r->alpha)
			       : lp < log(r->alpha));
	return CBD_OK;
}

/* ---- streaming over the users ----------------------------------------- */

/* Users arrive one by one (cbd_keyring_scan, or plain arrays) and are
 * scored a batch at a time on all threads; only the histogram, the
 * significant users and the best `top` of the others are kept, so memory
 * does not grow with N (except with full_table). */
#define ATTR_BATCH 65536
#define ATTR_ID_MAX 64

struct stream {
	cbd_attribution *a;
	cbd_attribute_opts o;          /* progress cleared: reported here */
	const cbd_attribute_opts *user_o;
	const struct cbd_label_plan *plan;
	const double *ltail;
	uint64_t seen;
	size_t nb;                     /* users in the batch */
	char (*ids)[ATTR_ID_MAX + 1];
	uint8_t (*secrets)[CBD_TRACE_SECRET_LEN];
	int64_t *revoked;
	uint16_t *s;
	cbd_attr_row *keep;            /* rows kept so far (ids owned) */
	size_t nkeep, capkeep, nsig, top;
	int full, trimmed, floor_s;
};

static void free_keep(struct stream *st, size_t from)
{
	for (size_t i = from; i < st->nkeep; i++)
		free((char *)st->keep[i].id);
	st->nkeep = from < st->nkeep ? from : st->nkeep;
}

/* Sort, and keep the significant rows and the best `top` others. */
static void trim(struct stream *st)
{
	size_t want = st->nsig + st->top;

	if (st->nkeep == 0)
		return;   /* no users (a watermark-only run): keep is NULL */
	qsort(st->keep, st->nkeep, sizeof(*st->keep), row_cmp);
	if (st->full || st->nkeep <= want)
		return;
	free_keep(st, want);
	st->trimmed = 1;
	st->floor_s = st->keep[want - 1].matches;
}

static cbd_status keep_row(struct stream *st, const char *id, size_t index,
			   int m, int64_t revoked, cbd_err *err)
{
	cbd_attr_result *r = &st->a->res;
	char *idc;

	if (m < r->threshold && !st->full && st->trimmed && m <= st->floor_s)
		return CBD_OK;   /* worse than every kept row: never shown */
	if (st->nkeep == st->capkeep) {
		size_t ncap = st->capkeep ? 2 * st->capkeep : 64;
		cbd_attr_row *q = realloc(st->keep, ncap * sizeof(*q));

		if (!q)
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		st->keep = q;
		st->capkeep = ncap;
	}
	idc = strdup(id);
	if (!idc)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	st->keep[st->nkeep++] = (cbd_attr_row){
		idc, index, m, st->ltail[m],
		cbd_bonferroni_log(st->ltail[m], r->users_tested),
		m >= r->threshold, revoked};
	if (!st->full && st->nkeep >= st->nsig + 2 * st->top + 64)
		trim(st);
	return CBD_OK;
}

static cbd_status flush(struct stream *st, cbd_err *err)
{
	cbd_attr_result *r = &st->a->res;
	struct user_src src = {(const uint8_t(*)[CBD_TRACE_SECRET_LEN])
				       st->secrets, st->nb};
	cbd_status s;

	if (st->nb == 0)
		return CBD_OK;
	s = score_all(&src, st->plan, &st->o, st->s, err);
	for (size_t u = 0; u < st->nb && s == CBD_OK; u++) {
		int m = st->s[u];

		r->histogram[m]++;
		st->nsig += m >= r->threshold;
		r->revoked_tested += st->revoked[u] >= 0;
		s = keep_row(st, st->ids[u], st->seen + u, m, st->revoked[u],
			     err);
	}
	st->seen += st->nb;
	st->nb = 0;
	if (st->user_o->progress && s == CBD_OK)
		st->user_o->progress(st->user_o->progress_ud, st->seen,
				     r->users_tested);
	return s;
}

static cbd_status stream_begin(void *ud, uint64_t total, cbd_err *err)
{
	struct stream *st = ud;
	cbd_attr_result *r = &st->a->res;

	(void)err;
	r->users_tested = total;
	r->seq_p1 = st->a->seq_p1;
	r->threshold = r->seq_p1 > 0
		? cbd_attribute_seq_threshold((int)r->answered, st->a->K,
					      r->seq_p1, total, r->alpha)
		: cbd_attribute_threshold((int)r->answered, st->a->K, total,
					  r->alpha);
	return CBD_OK;
}

static cbd_status stream_user(struct stream *st, const char *id,
			      const uint8_t *secret, int64_t revoked,
			      cbd_err *err)
{
	size_t len = strlen(id);

	if (len > ATTR_ID_MAX)
		return cbd_err_set(err, CBD_E_FORMAT, "user id longer than %d "
				   "characters", ATTR_ID_MAX);
	if (st->seen + st->nb >= st->a->res.users_tested)
		return cbd_err_set(err, CBD_E_INTERNAL, "more users than "
				   "announced");
	memcpy(st->ids[st->nb], id, len + 1);
	memcpy(st->secrets[st->nb], secret, CBD_TRACE_SECRET_LEN);
	st->revoked[st->nb] = revoked;
	if (++st->nb == ATTR_BATCH)
		return flush(st, err);
	return CBD_OK;
}

static cbd_status stream_row(void *ud, const cbd_keyring_row *row,
			     cbd_err *err)
{
	return stream_user(ud, row->id, row->trace_secret, row->revoked, err);
}

/* Where the users come from. */
struct users_in {
	const cbd_keyring *kr;
	const char *const *ids;
	const uint8_t (*secrets)[CBD_TRACE_SECRET_LEN];
	size_t n;
};

static cbd_status feed(struct stream *st, const struct users_in *in,
		       cbd_err *err)
{
	cbd_attr_result *r = &st->a->res;
	cbd_keyring_visitor v = {stream_begin, stream_row, st};
	cbd_status s = CBD_OK;

	if (in->kr) {
		s = cbd_keyring_scan(in->kr, &v, r->keyring_sha256, err);
		r->has_keyring_digest = s == CBD_OK;
		return s;
	}
	s = stream_begin(st, in->n, err);
	for (size_t i = 0; i < in->n && s == CBD_OK; i++)
		s = stream_user(st, in->ids[i] ? in->ids[i] : "",
				in->secrets[i], -1, err);
	return s;
}

static cbd_status stream_alloc(struct stream *st, cbd_err *err)
{
	st->ids = cbd_xmalloc(ATTR_BATCH * sizeof(*st->ids), err);
	st->secrets = cbd_xmalloc(ATTR_BATCH * sizeof(*st->secrets), err);
	st->revoked = cbd_xmalloc(ATTR_BATCH * sizeof(*st->revoked), err);
	st->s = cbd_xcalloc(ATTR_BATCH, sizeof(*st->s), err);
	return st->ids && st->secrets && st->revoked && st->s ? CBD_OK
							       : CBD_E_NOMEM;
}

static void stream_free(struct stream *st)
{
	free_keep(st, 0);
	free(st->keep);
	free(st->ids);
	if (st->secrets)
		OPENSSL_cleanse(st->secrets, ATTR_BATCH * sizeof(*st->secrets));
	free(st->secrets);
	free(st->revoked);
	free(st->s);
}

/* The kept rows become the result's table. */
static cbd_status finish(struct stream *st, cbd_err *err)
{
	cbd_attr_result *r = &st->a->res;
	size_t want = st->full ? st->nkeep : st->top;

	if (st->seen != r->users_tested)
		return cbd_err_set(err, CBD_E_INTERNAL, "fewer users than "
				   "announced");
	trim(st);
	r->n_significant = st->nsig;
	if (want < st->nsig)
		want = st->nsig;
	if (want > st->nkeep)
		want = st->nkeep;
	free_keep(st, want);
	r->rows = cbd_xcalloc(want ? want : 1, sizeof(*r->rows), err);
	st->a->row_ids = cbd_xcalloc(want ? want : 1, sizeof(char *), err);
	if (!r->rows || !st->a->row_ids)
		return CBD_E_NOMEM;
	for (size_t i = 0; i < want; i++) {
		r->rows[i] = st->keep[i];
		st->a->row_ids[i] = (char *)st->keep[i].id;
	}
	r->n_rows = want;
	st->nkeep = 0;
	return CBD_OK;
}

static cbd_status run(cbd_attribution *a, const struct users_in *in,
		      const cbd_attribute_opts *o, cbd_err *err)
{
	cbd_attribute_opts def = {0};
	cbd_attr_result *r = &a->res;
	struct cbd_label_plan *plan = NULL;
	struct stream st = {0};
	double *ltail = NULL, t0;
	cbd_status s;

	if (!o)
		o = &def;
	free_result(a);
	r->num_classes = a->K;
	r->num_triggers = a->n;
	for (size_t i = 0; i < a->n; i++) {
		r->answered += a->answer[i] >= 0;
		r->failed += a->answer[i] == FAILED;
		r->unasked += a->answer[i] == UNASKED;
	}
	r->duplicates = a->duplicates;
	r->alpha = o->alpha > 0.0 ? o->alpha : CBD_ALPHA_DEFAULT;
	if (!(r->alpha < 1.0))
		return cbd_err_set(err, CBD_E_USAGE, "alpha must be below 1");
	s = CBD_E_NOMEM;
	r->histogram = cbd_xcalloc(r->answered + 1, sizeof(uint64_t), err);
	ltail = cbd_xmalloc((r->answered + 2) * sizeof(double), err);
	if (!r->histogram || !ltail)
		goto out;
	tail_table((int)r->answered, a->K, ltail);
	s = cbd_label_plan_new(a->ts, a->answer, &plan, err);
	if (s == CBD_OK)
		s = stream_alloc(&st, err);
	if (s != CBD_OK)
		goto out;
	st.a = a;
	st.o = *o;
	st.o.progress = NULL;
	st.user_o = o;
	st.plan = plan;
	st.ltail = ltail;
	st.full = o->full_table;
	st.top = o->top ? o->top : CBD_REPORT_TOP;
	t0 = now_s();
	s = feed(&st, in, err);
	if (s == CBD_OK)
		s = flush(&st, err);
	r->seconds = now_s() - t0;
	if (s == CBD_OK)
		s = finish(&st, err);
	if (s == CBD_OK && o->watermark)
		s = watermark(a, err);
	if (s == CBD_OK)
		a->have_result = 1;
out:
	stream_free(&st);
	cbd_label_plan_free(plan);
	free(ltail);
	if (s != CBD_OK)
		free_result(a);
	return s;
}

cbd_status cbd_attribution_run(cbd_attribution *a, const cbd_keyring *kr,
			       const cbd_attribute_opts *o, cbd_err *err)
{
	struct users_in in = {kr, NULL, NULL, 0};

	if (!kr && !(o && o->watermark))
		return cbd_err_set(err, CBD_E_USAGE,
				   "nothing to test: no keyring and no "
				   "watermark");
	return run(a, &in, o, err);
}

cbd_status cbd_attribution_run_secrets(cbd_attribution *a,
				       const char *const *ids,
				       const uint8_t (*secrets)[CBD_TRACE_SECRET_LEN],
				       size_t n, const cbd_attribute_opts *o,
				       cbd_err *err)
{
	struct users_in in = {NULL, ids, secrets, n};

	if (n > 0 && (!ids || !secrets))
		return cbd_err_set(err, CBD_E_USAGE, "no users given");
	return run(a, &in, o, err);
}
