/*
 * stats.c — the binomial tail behind every attribution verdict.
 *
 * If a suspect model is not derived from user u's copy, each answered
 * trigger matches u's label with probability 1/K independently, so the
 * number of matches s is Binomial(T, 1/K) and the evidence against chance
 * is the upper tail P[Bin(T,p) >= s].  That tail reaches 1e-64 and below
 * for real leaks, so it is computed in log space: every term
 *   ln C(T,k) + k ln p + (T-k) ln(1-p)
 * comes from lgamma() and log1p(), and the terms k = s..T are added with
 * the log-sum-exp trick around the largest one.  All terms are positive,
 * so there is no cancellation: the result is accurate to a few ulps of the
 * logarithm for any tail, 1e-60 or 1e-3000 alike.
 *
 * Multiple testing: N users are tested at once, so the reported p-value is
 * Bonferroni's min(1, N*p) (conservative, valid under any dependence).
 */
#include "../util/util_internal.h"

#include <math.h>

static double log_term(int n, int k, double lp, double lq)
{
	return lgamma(n + 1.0) - lgamma(k + 1.0) - lgamma(n - k + 1.0) +
	       k * lp + (n - k) * lq;
}

/* ln sum_{k=a..b} term(k), log-sum-exp around the largest term. */
static double log_sum_terms(int n, int a, int b, double lp, double lq)
{
	double mx = -INFINITY, sum = 0.0;

	for (int k = a; k <= b; k++) {
		double t = log_term(n, k, lp, lq);

		if (t > mx)
			mx = t;
	}
	if (mx == -INFINITY)
		return -INFINITY;
	for (int k = a; k <= b; k++)
		sum += exp(log_term(n, k, lp, lq) - mx);
	return mx + log(sum);
}

double cbd_binom_log_tail(int n, int s, double p)
{
	double lp, lq, v;

	if (s <= 0)
		return 0.0;
	if (s > n || p <= 0.0)
		return -INFINITY;
	if (p >= 1.0)
		return 0.0;
	lp = log(p);
	lq = log1p(-p);
	if (s - 1 < n * p) {
		/* Below the mean the tail is near 1: 1 - (lower tail) with
		 * log1p keeps the digits a direct sum would round away. */
		double lo = log_sum_terms(n, 0, s - 1, lp, lq);

		if (lo < 0.0)
			return log1p(-exp(lo));
	}
	v = log_sum_terms(n, s, n, lp, lq);
	return v > 0.0 ? 0.0 : v;
}

double cbd_bonferroni_log(double log_p, uint64_t n_tests)
{
	double v;

	if (n_tests <= 1)
		return log_p;
	v = log_p + log((double)n_tests);
	return v > 0.0 ? 0.0 : v;
}

int cbd_attribute_threshold(int T, int K, uint64_t n_tests, double alpha)
{
	double la;
	int lo = 0, hi;

	if (K < 2 || T < 0 || !(alpha > 0.0))
		return T + 1;
	/* The tail falls as s grows: binary search for the first s whose
	 * adjusted tail is below alpha (hi = T+1 means none). */
	la = log(alpha);
	hi = T + 1;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (cbd_bonferroni_log(cbd_binom_log_tail(T, mid, 1.0 / K),
				       n_tests) < la)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

double cbd_seq_log_e(int T, int s, int K, double p1)
{
	double p0 = 1.0 / K;

	return s * log(p1 / p0) + (T - s) * (log1p(-p1) - log1p(-p0));
}

int cbd_attribute_seq_threshold(int T, int K, double p1, uint64_t n_tests,
				double alpha)
{
	double need;

	if (K < 2 || T < 0 || !(alpha > 0.0) || !(p1 > 1.0 / K) ||
	    !(p1 < 1.0))
		return T + 1;
	/* ln E rises with s: the first s whose E reaches N / alpha */
	need = log((double)(n_tests > 1 ? n_tests : 1)) - log(alpha);
	for (int s = 0; s <= T; s++)
		if (cbd_seq_log_e(T, s, K, p1) >= need)
			return s;
	return T + 1;
}
