/*
 * test_attribute.c — attribution on a real setup (tests/helpers/attr_sim.h):
 * 20 users' trace copies of the bundled classifier, 64 signed MNIST
 * triggers, answers computed the way a served copy computes them.
 *
 * Checks: the HMAC fast path equals cbd_trace_label; each copy names its
 * user and nobody else; 30% random answers still name the leaker; two
 * copies averaged name both; 1,000 non-leaker suspects (bare classifier,
 * copies from another keyring, random answers) name nobody; the watermark;
 * failed queries are counted, not scored; the report is canonical, signed
 * and verifiable, and one changed byte fails verification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../helpers/attr_sim.h"
#include "attribute/attribute_internal.h"

#define USERS 20
#define TRIG 64

static struct sim S, S2;   /* S2: a 160-trigger set for coalitions */
static char dir[] = "/tmp/cbd-attr-XXXXXX";
static char dir2[] = "/tmp/cbd-attr-XXXXXX";

static int setup(void **state)
{
	const char *top = getenv("CBD_TOP");

	(void)state;
	if (!mkdtemp(dir) || !mkdtemp(dir2))
		return -1;
	if (sim_setup(&S2, top ? top : ".", dir2, USERS, 160) != 0)
		return -1;
	return sim_setup(&S, top ? top : ".", dir, USERS, TRIG);
}

static int teardown(void **state)
{
	char cmd[256];

	(void)state;
	sim_free(&S);
	sim_free(&S2);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, dir2);
	return system(cmd) == 0 ? 0 : -1;
}

/* Attribute the given answers (labels[j], -1 = failed) against kr. */
static cbd_attribution *attribute(const cbd_triggerset *ts,
				  const cbd_keyring *kr, const int *labels,
				  int watermark)
{
	cbd_attribution *a = NULL;
	cbd_attribute_opts o = {0};
	cbd_err e = {0};

	o.watermark = watermark;
	assert_int_equal(cbd_attribution_new(ts, &a, &e), CBD_OK);
	for (size_t j = 0; j < cbd_triggerset_count(ts); j++)
		assert_int_equal(cbd_attribution_answer(a, j, labels[j], &e),
				 CBD_OK);
	assert_int_equal(cbd_attribution_run(a, kr, &o, &e), CBD_OK);
	return a;
}

static void test_fast_path_matches_reference(void **state)
{
	struct cbd_hmac_fast *h = NULL;
	uint8_t key[CBD_TRACE_SECRET_LEN], m[97];
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_hmac_fast_new(&h, &e), CBD_OK);
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)sim_rand_below(sizeof(m)) + 1;
		int K = 2 + sim_rand_below(1000);

		RAND_bytes(key, sizeof(key));
		RAND_bytes(m, sizeof(m));
		assert_int_equal(cbd_hmac_fast_key(h, key, sizeof(key), &e),
				 CBD_OK);
		assert_int_equal(cbd_hmac_fast_label(h, m, len, K),
				 cbd_trace_label(key, m, len, K));
	}
	cbd_hmac_fast_free(h);
}

static void test_each_copy_names_its_user(void **state)
{
	int labels[TRIG];

	(void)state;
	for (size_t u = 0; u < USERS; u++) {
		const cbd_user *user = cbd_keyring_user(S.kr, u);
		cbd_circuit *c = NULL;
		cbd_attribution *a;
		const cbd_attr_result *r;

		assert_int_equal(sim_user_copy(&S, user, &c), 0);
		assert_int_equal(sim_answers(&S, c, S.ts, labels), 0);
		a = attribute(S.ts, S.kr, labels, 0);
		r = cbd_attribution_result(a);
		assert_int_equal(r->answered, TRIG);
		assert_int_equal(r->n_significant, 1);
		assert_string_equal(r->rows[0].id, user->id);
		assert_int_equal(r->rows[0].matches, TRIG);
		assert_false(r->watermark_tested);
		/* the library's own label for the user agrees */
		assert_int_equal(cbd_attribution_label(a, user->trace_secret,
						       5), labels[5]);
		cbd_attribution_free(a);
		cbd_circuit_free(c);
	}
}

static void test_noise_still_names_leaker(void **state)
{
	int labels[TRIG];

	(void)state;
	for (size_t u = 0; u < USERS; u += 4) {
		const cbd_user *user = cbd_keyring_user(S.kr, u);
		cbd_circuit *c = NULL;
		cbd_attribution *a;
		const cbd_attr_result *r;

		assert_int_equal(sim_user_copy(&S, user, &c), 0);
		assert_int_equal(sim_answers(&S, c, S.ts, labels), 0);
		sim_noise(labels, TRIG, 0.30);
		a = attribute(S.ts, S.kr, labels, 0);
		r = cbd_attribution_result(a);
		assert_int_equal(r->n_significant, 1);
		assert_string_equal(r->rows[0].id, user->id);
		cbd_attribution_free(a);
		cbd_circuit_free(c);
	}
}

/* Two copies averaged: on a trigger where their labels differ, the
 * average's argmax goes to one of the two, so each keeps about half of the
 * triggers.  With T = 64 that is ~32 against a threshold of 27 (N = 20,
 * K = 10, alpha = 1e-9): too close to call every time, so this uses a
 * 160-trigger set (~80 each against ~42). */
static void test_coalition_names_both(void **state)
{
	const cbd_user *ua = cbd_keyring_user(S2.kr, 3);
	const cbd_user *ub = cbd_keyring_user(S2.kr, 11);
	cbd_circuit *ca = NULL, *cb = NULL;
	int labels[160];
	cbd_attribution *a;
	const cbd_attr_result *r;

	(void)state;
	assert_int_equal(sim_user_copy(&S2, ua, &ca), 0);
	assert_int_equal(sim_user_copy(&S2, ub, &cb), 0);
	assert_int_equal(sim_average(&S2, ca, cb, labels), 0);
	a = attribute(S2.ts, S2.kr, labels, 0);
	r = cbd_attribution_result(a);
	print_message("# coalition: %s %d, %s %d, next %s %d (threshold "
		      "%d of %zu)\n", r->rows[0].id, r->rows[0].matches,
		      r->rows[1].id, r->rows[1].matches, r->rows[2].id,
		      r->rows[2].matches, r->threshold, r->answered);
	assert_int_equal(r->n_significant, 2);
	assert_true((strcmp(r->rows[0].id, ua->id) == 0 &&
		     strcmp(r->rows[1].id, ub->id) == 0) ||
		    (strcmp(r->rows[0].id, ub->id) == 0 &&
		     strcmp(r->rows[1].id, ua->id) == 0));
	cbd_attribution_free(a);
	cbd_circuit_free(ca);
	cbd_circuit_free(cb);
}

static void test_no_false_accusations(void **state)
{
	int bare[TRIG], foreign[USERS][TRIG], labels[TRIG];
	size_t accused = 0, best = 0;
	cbd_keyring *other = NULL;
	cbd_err e = {0};

	(void)state;
	assert_int_equal(sim_answers(&S, NULL, S.ts, bare), 0);
	/* copies sold from another keyring of the same family */
	assert_int_equal(cbd_keyring_new(&other, &e), CBD_OK);
	for (int u = 0; u < USERS; u++) {
		char id[32];
		cbd_circuit *c = NULL;

		snprintf(id, sizeof(id), "other%02d", u);
		assert_int_equal(cbd_keyring_add(other, id, S.owner, &e),
				 CBD_OK);
		assert_int_equal(sim_user_copy(&S, cbd_keyring_user(other,
								    (size_t)u),
					       &c), 0);
		assert_int_equal(sim_answers(&S, c, S.ts, foreign[u]), 0);
		cbd_circuit_free(c);
	}
	for (int trial = 0; trial < 1000; trial++) {
		cbd_keyring *kr = NULL;
		cbd_attribution *a;
		const cbd_attr_result *r;

		/* a fresh licensee base each time: real trace secrets */
		assert_int_equal(cbd_keyring_new(&kr, &e), CBD_OK);
		for (int u = 0; u < USERS; u++) {
			char id[32];

			snprintf(id, sizeof(id), "u%d", u);
			assert_int_equal(cbd_keyring_add(kr, id, S.owner, &e),
					 CBD_OK);
		}
		if (trial % 2 == 1) {
			/* every other trial on the SQLite form (format 2) */
			char path[64];
			cbd_keyring *db = NULL;

			snprintf(path, sizeof(path), "/tmp/cbd-innocents-%ld.db",
				 (long)getpid());
			unlink(path);
			assert_int_equal(cbd_keyring_save_db(kr, path, &e),
					 CBD_OK);
			assert_int_equal(cbd_keyring_load(path, &db, &e), CBD_OK);
			assert_int_equal(cbd_keyring_form_of(db),
					 CBD_KEYRING_DB);
			unlink(path);
			cbd_keyring_free(kr);
			kr = db;
		}
		if (trial % 3 == 0) {
			memcpy(labels, bare, sizeof(labels));
		} else if (trial % 3 == 1) {
			memcpy(labels, foreign[trial % USERS], sizeof(labels));
		} else {
			for (int j = 0; j < TRIG; j++)
				labels[j] = sim_rand_below(SIM_K);
		}
		a = attribute(S.ts, kr, labels, 0);
		r = cbd_attribution_result(a);
		accused += r->n_significant;
		if (r->n_rows && (size_t)r->rows[0].matches > best)
			best = (size_t)r->rows[0].matches;
		cbd_attribution_free(a);
		cbd_keyring_free(kr);
	}
	/* and the foreign copies against our keyring */
	for (int u = 0; u < USERS; u++) {
		cbd_attribution *a = attribute(S.ts, S.kr, foreign[u], 0);

		accused += cbd_attribution_result(a)->n_significant;
		cbd_attribution_free(a);
	}
	print_message("# 1020 non-leakers: %zu accused, best score %zu of "
		      "%d\n", accused, best, TRIG);
	assert_int_equal(accused, 0);
	cbd_keyring_free(other);
}

static void test_watermark(void **state)
{
	int labels[TRIG];
	cbd_attribution *a;
	const cbd_attr_result *r;

	(void)state;
	assert_int_equal(sim_answers(&S, S.wm, S.wts, labels), 0);
	a = attribute(S.wts, NULL, labels, 1);
	r = cbd_attribution_result(a);
	assert_true(r->watermark_tested);
	assert_true(r->watermark.significant);
	assert_int_equal(r->watermark.matches, TRIG);
	assert_int_equal(r->users_tested, 0);
	cbd_attribution_free(a);
	assert_int_equal(sim_answers(&S, NULL, S.wts, labels), 0);
	a = attribute(S.wts, NULL, labels, 1);
	assert_false(cbd_attribution_result(a)->watermark.significant);
	cbd_attribution_free(a);
	/* a trace set has no owner labels to test */
	{
		cbd_attribute_opts o = {0};
		cbd_err e = {0};

		o.watermark = 1;
		assert_int_equal(cbd_attribution_new(S.ts, &a, &e), CBD_OK);
		assert_int_equal(cbd_attribution_run(a, NULL, &o, &e),
				 CBD_E_USAGE);
		cbd_attribution_free(a);
	}
}

static void test_failures_counted_not_scored(void **state)
{
	const cbd_user *user = cbd_keyring_user(S.kr, 7);
	cbd_circuit *c = NULL;
	int labels[TRIG];
	cbd_attribution *a = NULL;
	const cbd_attr_result *r;
	cbd_attribute_opts o = {0};
	cbd_err e = {0};

	(void)state;
	assert_int_equal(sim_user_copy(&S, user, &c), 0);
	assert_int_equal(sim_answers(&S, c, S.ts, labels), 0);
	assert_int_equal(cbd_attribution_new(S.ts, &a, &e), CBD_OK);
	for (size_t j = 0; j < TRIG - 4; j++)   /* last 4 never asked */
		assert_int_equal(cbd_attribution_answer(a, j, j < 10 ? -1
						    : labels[j], &e), CBD_OK);
	/* a second answer to an answered trigger is a duplicate */
	assert_int_equal(cbd_attribution_answer(a, 20, (labels[20] + 1) % 10,
						&e), CBD_OK);
	/* a later answer to a failed trigger counts */
	assert_int_equal(cbd_attribution_answer(a, 0, labels[0], &e), CBD_OK);
	assert_int_equal(cbd_attribution_answer(a, TRIG, 1, &e),
			 CBD_E_FORMAT);
	assert_int_equal(cbd_attribution_run(a, S.kr, &o, &e), CBD_OK);
	r = cbd_attribution_result(a);
	assert_int_equal(r->answered, TRIG - 4 - 9);
	assert_int_equal(r->failed, 9);
	assert_int_equal(r->unasked, 4);
	assert_int_equal(r->duplicates, 1);
	assert_int_equal(r->rows[0].matches, (int)r->answered);
	assert_string_equal(r->rows[0].id, user->id);
	cbd_attribution_free(a);
	cbd_circuit_free(c);
}

static void test_report_signed_and_canonical(void **state)
{
	const cbd_user *user = cbd_keyring_user(S.kr, 2);
	cbd_circuit *c = NULL;
	int labels[TRIG];
	cbd_attribution *a;
	cbd_report_info ri = {0};
	cbd_key *inv = NULL, *pub = NULL;
	char *j1 = NULL, *j2 = NULL, kid[CBD_KEY_ID_LEN + 1], want[17];
	size_t l1 = 0, l2 = 0;
	uint8_t sig[CBD_SIG_LEN];
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &inv, &e), CBD_OK);
	assert_int_equal(cbd_key_public_copy(inv, &pub, &e), CBD_OK);
	assert_int_equal(sim_user_copy(&S, user, &c), 0);
	assert_int_equal(sim_answers(&S, c, S.ts, labels), 0);
	a = attribute(S.ts, S.kr, labels, 0);
	ri.case_id = "case \"42\"";
	ri.investigator = "A. Investigator";
	ri.key = inv;
	ri.suspect = "http://127.0.0.1:1/";
	ri.created = 1764000000;
	cbd_triggerset_digest(S.ts, ri.triggers_sha256);
	assert_int_equal(cbd_report_build(a, &ri, &j1, &l1, &e), CBD_OK);
	assert_int_equal(cbd_report_build(a, &ri, &j2, &l2, &e), CBD_OK);
	assert_int_equal(l1, l2);
	assert_memory_equal(j1, j2, l1);
	assert_true(cbd_report_sniff((uint8_t *)j1, l1));
	assert_non_null(strstr(j1, "\"outcome\": \"attributed\""));
	assert_non_null(strstr(j1, user->id));
	assert_non_null(strstr(j1, "\"case\": \"case \\\"42\\\"\""));
	assert_int_equal(cbd_report_sign(inv, (uint8_t *)j1, l1, sig, &e),
			 CBD_OK);
	assert_int_equal(cbd_report_verify((uint8_t *)j1, l1, sig, NULL, kid,
					   &e), CBD_OK);
	cbd_key_id(inv, want);
	assert_string_equal(kid, want);
	assert_int_equal(cbd_report_verify((uint8_t *)j1, l1, sig, pub, NULL,
					   &e), CBD_OK);
	/* another key as the expected signer */
	cbd_key_free(pub);
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &pub, &e), CBD_OK);
	assert_int_equal(cbd_report_verify((uint8_t *)j1, l1, sig, pub, NULL,
					   &e), CBD_E_VERIFY);
	/* one changed byte anywhere in the matches */
	j1[l1 / 2] ^= 1;
	assert_int_not_equal(cbd_report_verify((uint8_t *)j1, l1, sig, NULL,
					       NULL, &e), CBD_OK);
	free(j1);
	free(j2);
	cbd_attribution_free(a);
	cbd_circuit_free(c);
	cbd_key_free(inv);
	cbd_key_free(pub);
}

static void count_progress(void *ud, size_t done, size_t total)
{
	size_t *last = ud;

	assert_true(done <= total);
	assert_true(done >= last[0]);
	last[0] = done;
	last[1]++;
}

/* Plain arrays of secrets, several threads, progress to the end; the
 * table does not depend on the thread count. */
static void test_secrets_threads_progress(void **state)
{
	enum { NU = 20000 };
	static uint8_t sec[NU][CBD_TRACE_SECRET_LEN];
	static char idbuf[NU][16];
	static const char *ids[NU];
	size_t seen[2] = {0, 0};
	const cbd_attr_result *r1, *r4;
	cbd_attribution *a1 = NULL, *a4 = NULL;
	cbd_attribute_opts o = {0};
	cbd_err e = {0};

	(void)state;
	RAND_bytes(&sec[0][0], sizeof(sec));
	for (int u = 0; u < NU; u++) {
		snprintf(idbuf[u], sizeof(idbuf[u]), "s%05d", u);
		ids[u] = idbuf[u];
	}
	assert_int_equal(cbd_attribution_new(S.ts, &a1, &e), CBD_OK);
	assert_int_equal(cbd_attribution_new(S.ts, &a4, &e), CBD_OK);
	for (size_t j = 0; j < TRIG; j++) {
		int l = cbd_attribution_label(a1, sec[12345], j);

		cbd_attribution_answer(a1, j, l, &e);
		cbd_attribution_answer(a4, j, l, &e);
	}
	o.threads = 1;
	assert_int_equal(cbd_attribution_run_secrets(a1, ids,
		(const uint8_t(*)[CBD_TRACE_SECRET_LEN])sec, NU, &o, &e), CBD_OK);
	o.threads = 4;
	o.progress = count_progress;
	o.progress_ud = seen;
	assert_int_equal(cbd_attribution_run_secrets(a4, ids,
		(const uint8_t(*)[CBD_TRACE_SECRET_LEN])sec, NU, &o, &e), CBD_OK);
	assert_int_equal(seen[0], NU);
	assert_true(seen[1] >= 1);
	r1 = cbd_attribution_result(a1);
	r4 = cbd_attribution_result(a4);
	assert_int_equal(r1->n_significant, 1);
	assert_string_equal(r1->rows[0].id, "s12345");
	assert_int_equal(r1->n_rows, r4->n_rows);
	for (size_t i = 0; i < r1->n_rows; i++) {
		assert_string_equal(r1->rows[i].id, r4->rows[i].id);
		assert_int_equal(r1->rows[i].matches, r4->rows[i].matches);
	}
	assert_memory_equal(r1->histogram, r4->histogram,
			    (TRIG + 1) * sizeof(uint64_t));
	cbd_attribution_free(a1);
	cbd_attribution_free(a4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fast_path_matches_reference),
		cmocka_unit_test(test_each_copy_names_its_user),
		cmocka_unit_test(test_noise_still_names_leaker),
		cmocka_unit_test(test_coalition_names_both),
		cmocka_unit_test(test_no_false_accusations),
		cmocka_unit_test(test_watermark),
		cmocka_unit_test(test_failures_counted_not_scored),
		cmocka_unit_test(test_report_signed_and_canonical),
		cmocka_unit_test(test_secrets_threads_progress),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
