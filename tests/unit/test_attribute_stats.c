/*
 * test_attribute_stats.c — the binomial tail, the Bonferroni adjustment and
 * the significance threshold of lib/attribute/stats.c.
 *
 * Checked against closed forms (P[X >= n] = p^n, P[X >= n-1]), against an
 * independent long-double summation of the probability mass for every s,
 * and at tails far below the double range (1e-1000), which only a log-space
 * computation can represent.  The sequential rule (--until-verdict): its
 * threshold from the closed form, and by simulation that Ville's bound
 * holds when the test is looked at after every answer, where peeking at
 * the fixed-sample binomial test does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "util/util_internal.h"

/* Independent reference: P[Bin(n,p) >= s] by the pmf recurrence in long
 * double, pmf(k+1) = pmf(k) * (n-k)/(k+1) * p/(1-p). */
static long double ref_tail(int n, int s, long double p)
{
	long double pmf = powl(1.0L - p, n), sum = 0.0L;

	for (int k = 0; k <= n; k++) {
		if (k >= s)
			sum += pmf;
		pmf = pmf * (n - k) / (k + 1) * p / (1.0L - p);
	}
	return sum;
}

static void test_closed_forms(void **state)
{
	(void)state;
	/* P[Bin(64, 1/10) >= 64] = 1e-64 */
	assert_true(fabs(cbd_binom_log_tail(64, 64, 0.1) + 64 * log(10.0)) <
		    1e-9);
	/* P[Bin(n,p) >= n-1] = n p^(n-1) (1-p) + p^n */
	for (int n = 2; n < 200; n += 17) {
		double p = 0.1;
		double want = log(n * pow(p, n - 1) * (1 - p) + pow(p, n));

		if (!isfinite(want))
			continue;
		assert_true(fabs(cbd_binom_log_tail(n, n - 1, p) - want) <
			    1e-9 * fabs(want));
	}
	assert_true(cbd_binom_log_tail(64, 0, 0.1) == 0.0);
	assert_true(cbd_binom_log_tail(64, -3, 0.1) == 0.0);
	assert_true(isinf(cbd_binom_log_tail(64, 65, 0.1)));
}

static void test_against_reference(void **state)
{
	(void)state;
	for (int K = 2; K <= 100; K *= 5) {
		for (int s = 0; s <= 64; s++) {
			long double r = ref_tail(64, s, 1.0L / K);
			double got = cbd_binom_log_tail(64, s, 1.0 / K);
			double want = (double)logl(r);

			if (want == 0.0)
				assert_true(fabs(got) < 1e-12);
			else
				assert_true(fabs(got - want) <
					    1e-10 * fabs(want) + 1e-15);
		}
	}
}

static void test_far_tail_and_monotone(void **state)
{
	double prev = 0.0;

	(void)state;
	/* 1e-1000 is below DBL_MIN; its logarithm is not. */
	assert_true(fabs(cbd_binom_log_tail(1000, 1000, 0.1) +
			 1000 * log(10.0)) < 1e-7);
	for (int s = 0; s <= 1000; s += 7) {
		double v = cbd_binom_log_tail(1000, s, 0.1);

		assert_true(isfinite(v));
		assert_true(v <= prev + 1e-12);
		prev = v;
	}
	/* -log10 p for 60 matches of 64 at K = 10 is about 55.5 */
	assert_true(-cbd_binom_log_tail(64, 60, 0.1) / log(10.0) > 50.0);
}

static void test_bonferroni(void **state)
{
	(void)state;
	assert_true(cbd_bonferroni_log(-50.0, 1) == -50.0);
	assert_true(fabs(cbd_bonferroni_log(-50.0, 1000000) -
			 (-50.0 + log(1e6))) < 1e-12);
	assert_true(cbd_bonferroni_log(-1.0, 1000000) == 0.0);
}

static void test_threshold(void **state)
{
	(void)state;
	for (int K = 2; K <= 100; K *= 10) {
		for (uint64_t N = 1; N <= 1000000; N *= 100) {
			int T = 64;
			double la = log(1e-9);
			int t = cbd_attribute_threshold(T, K, N, 1e-9);

			assert_true(t >= 1 && t <= T + 1);
			if (t <= T)
				assert_true(cbd_bonferroni_log(
					cbd_binom_log_tail(T, t, 1.0 / K), N) <
					la);
			assert_true(cbd_bonferroni_log(
				cbd_binom_log_tail(T, t - 1, 1.0 / K), N) >=
				la);
		}
	}
	/* 5 answers at K = 2 can never reach 1e-9 */
	assert_int_equal(cbd_attribute_threshold(5, 2, 1, 1e-9), 6);
}

static void test_seq_threshold(void **state)
{
	(void)state;
	/* K = 10, p1 = 0.8, N = 5, alpha = 1e-9: ln(N/alpha) = 22.33; each
	 * match adds ln 8 = 2.079, each miss ln(0.2/0.9) = -1.504 */
	assert_int_equal(cbd_attribute_seq_threshold(11, 10, 0.8, 5, 1e-9), 11);
	assert_int_equal(cbd_attribute_seq_threshold(10, 10, 0.8, 5, 1e-9), 11);
	assert_true(fabs(cbd_seq_log_e(3, 1, 10, 0.8) -
			 (log(8.0) + 2 * log(0.2 / 0.9))) < 1e-12);
	for (int T = 1; T <= 64; T++) {
		int t = cbd_attribute_seq_threshold(T, 10, 0.8, 5, 1e-9);
		double need = log(5.0) - log(1e-9);

		if (t <= T)
			assert_true(cbd_seq_log_e(T, t, 10, 0.8) >= need);
		if (t >= 1 && t <= T + 1)
			assert_true(cbd_seq_log_e(T, t - 1, 10, 0.8) < need);
	}
	/* p1 at or below 1/K is no alternative */
	assert_int_equal(cbd_attribute_seq_threshold(64, 10, 0.1, 1, 1e-9), 65);
}

static uint64_t xs(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* 20,000 innocent suspects (each answer matches with probability 1/K),
 * each watched for 200 answers and accused at the first look where the
 * rule says so: the sequential rule accuses at most alpha of them; the
 * binomial test, looked at after every answer, far more. */
static void test_ville_under_peeking(void **state)
{
	const int K = 10, paths = 20000, len = 200;
	const double alpha = 0.05, need = -log(alpha);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int seq = 0, peek = 0;

	(void)state;
	for (int i = 0; i < paths; i++) {
		int s = 0, hit_seq = 0, hit_peek = 0;

		for (int T = 1; T <= len && !(hit_seq && hit_peek); T++) {
			s += xs(&x) % K == 0;
			hit_seq |= cbd_seq_log_e(T, s, K, 0.8) >= need;
			hit_peek |= cbd_binom_log_tail(T, s, 1.0 / K) <
				    log(alpha);
		}
		seq += hit_seq;
		peek += hit_peek;
	}
	print_message("# innocent accused: sequential %d, peeking binomial %d "
		      "of %d (alpha %g)\n", seq, peek, paths, alpha);
	assert_true(seq <= alpha * paths);
	assert_true(peek > 2 * alpha * paths);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closed_forms),
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_far_tail_and_monotone),
		cmocka_unit_test(test_bonferroni),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_seq_threshold),
		cmocka_unit_test(test_ville_under_peeking),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
