/*
 * seq.c — the sequential test behind cbd-probe --until-verdict: after each
 * trigger answer, is the verdict settled for every user?
 *
 * For user u after T answers with s matches, the likelihood ratio of "the
 * suspect is u's copy, matching with probability p1" against "it is not,
 * matching with probability p0 = 1/K" is
 *
 *   E_u = (p1/p0)^s ((1-p1)/(1-p0))^(T-s)      (cbd_seq_log_e)
 *
 * Under "not u's copy" E_u is a nonnegative martingale of mean 1 whatever
 * the order of the triggers and whenever the probe stops, so by Ville's
 * inequality P[E_u ever reaches N/alpha] <= alpha/N, and over the N users
 * the chance of ever accusing an innocent one is at most alpha (the
 * Bonferroni union bound).  Symmetrically 1/E_u is a martingale under
 * "u's copy, matching at p1 or more", so a user is cleared once E_u <=
 * beta with a chance of at most beta of clearing such a copy.  The probe
 * stops once every user is accused or cleared; cbd-attribute then applies
 * the same accusation rule (cbd_attribute_seq_threshold), never the
 * fixed-sample binomial test, which optional stopping would invalidate.
 */
#include "attribute_internal.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

enum { OPEN = 0, ACCUSED = 1, CLEARED = 2 };

struct cbd_attr_seq {
	cbd_attribution *a;       /* trigger messages, K, first answers */
	const cbd_triggerset *a_ts;
	size_t n_users;
	uint8_t (*secrets)[CBD_TRACE_SECRET_LEN];
	int *s;                   /* matches per user */
	uint8_t *state;
	int T, K;
	double p1, accuse, clear; /* ln N/alpha, ln beta */
	size_t open;
};

struct collect {
	cbd_attr_seq *q;
	size_t cap;
};

static cbd_status collect_begin(void *ud, uint64_t total, cbd_err *err)
{
	struct collect *c = ud;

	if (total > CBD_SEQ_MAX_USERS)
		return cbd_err_set(err, CBD_E_TOOBIG, "%llu users: at most %d "
				   "for --until-verdict",
				   (unsigned long long)total,
				   CBD_SEQ_MAX_USERS);
	c->cap = total ? (size_t)total : 1;
	c->q->secrets = calloc(c->cap, sizeof(*c->q->secrets));
	if (!c->q->secrets)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

static cbd_status collect_row(void *ud, const cbd_keyring_row *row,
			      cbd_err *err)
{
	struct collect *c = ud;

	if (c->q->n_users >= c->cap)
		return cbd_err_set(err, CBD_E_INTERNAL, "more users than "
				   "announced");
	memcpy(c->q->secrets[c->q->n_users++], row->trace_secret,
	       CBD_TRACE_SECRET_LEN);
	return CBD_OK;
}

cbd_status cbd_attr_seq_new(const cbd_triggerset *ts, const cbd_keyring *kr,
			    double p1, double alpha, double beta,
			    cbd_attr_seq **out, cbd_err *err)
{
	cbd_attr_seq *q;
	struct collect c = {0};
	cbd_keyring_visitor v = {collect_begin, collect_row, &c};
	uint8_t digest[CBD_SHA256_LEN];
	cbd_status s;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	c.q = q;
	q->a_ts = ts;
	s = cbd_attribution_new(ts, &q->a, err);
	if (!s) {
		q->K = cbd_triggerset_num_classes(ts);
		if (!(p1 > 1.0 / q->K) || !(p1 < 1) || !(alpha > 0) ||
		    !(alpha < 1) || !(beta > 0) || !(beta < 1))
			s = cbd_err_set(err, CBD_E_USAGE, "sequential test "
					"wants 1/K < p1 < 1, 0 < alpha, beta "
					"< 1");
	}
	if (!s)
		s = cbd_keyring_scan(kr, &v, digest, err);
	if (!s) {
		q->s = calloc(q->n_users ? q->n_users : 1, sizeof(*q->s));
		q->state = calloc(q->n_users ? q->n_users : 1, 1);
		if (!q->s || !q->state)
			s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	if (s) {
		cbd_attr_seq_free(q);
		return s;
	}
	q->p1 = p1;
	q->accuse = log((double)(q->n_users > 1 ? q->n_users : 1)) -
		    log(alpha);
	q->clear = log(beta);
	q->open = q->n_users;
	*out = q;
	return CBD_OK;
}

void cbd_attr_seq_free(cbd_attr_seq *q)
{
	if (!q)
		return;
	if (q->secrets)
		OPENSSL_cleanse(q->secrets, q->n_users * sizeof(*q->secrets));
	free(q->secrets);
	free(q->s);
	free(q->state);
	cbd_attribution_free(q->a);
	free(q);
}

int cbd_attr_seq_answer(cbd_attr_seq *q, size_t i, int label)
{
	cbd_err e = {0};

	/* the first answer to a trigger counts, as in cbd-attribute; a
	 * failure, or i past the set (SIZE_MAX), only asks "settled?" */
	if (label < 0 || i >= cbd_triggerset_count(q->a_ts) ||
	    cbd_attribution_answer_of(q->a, i) >= 0 ||
	    cbd_attribution_answer(q->a, i, label, &e) != CBD_OK)
		return q->open == 0;
	q->T++;
	q->open = 0;
	for (size_t u = 0; u < q->n_users; u++) {
		double le;

		q->s[u] += cbd_attribution_label(q->a, q->secrets[u], i) ==
			   label;
		le = cbd_seq_log_e(q->T, q->s[u], q->K, q->p1);
		/* Ville's bound holds for the path: once over, always over */
		if (q->state[u] != ACCUSED)
			q->state[u] = le >= q->accuse ? ACCUSED
				      : le <= q->clear ? CLEARED : OPEN;
		q->open += q->state[u] == OPEN;
	}
	return q->open == 0;
}

void cbd_attr_seq_counts(const cbd_attr_seq *q, size_t *accused,
			 size_t *cleared, size_t *answered)
{
	size_t a = 0, c = 0;

	for (size_t u = 0; u < q->n_users; u++) {
		a += q->state[u] == ACCUSED;
		c += q->state[u] == CLEARED;
	}
	*accused = a;
	*cleared = c;
	*answered = (size_t)q->T;
}
