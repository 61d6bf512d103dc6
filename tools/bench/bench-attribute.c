/*
 * bench-attribute — time attribution over a synthetic licensee base.
 *
 *   bench-attribute [USERS [TRIGGERS [THREADS]]]     (default 1000000 64 0)
 *
 * Builds a real trace trigger set in memory (Ed25519 owner key, circuit,
 * TRIGGERS signed random inputs), USERS random trace secrets (a keyring
 * that large is generated in memory, not read from a file), and the answers
 * of one leaker's copy (cbd_trace_label with the leaker's secret).  Then
 * runs cbd_attribution_run_secrets() and prints one line of key=value
 * pairs: users, triggers, threads, seconds, hmacs_per_s, and whether exactly
 * the leaker was named (ok=1).  tools/bench-attribute.sh compares the rate
 * with `openssl speed -hmac sha256`.
 */
#include "cbd.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define K 10

static void die(const char *what, const cbd_err *e)
{
	fprintf(stderr, "bench-attribute: %s: %s\n", what, e->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	size_t users = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	size_t T = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	int threads = argc > 3 ? atoi(argv[3]) : 0;
	cbd_key *owner = NULL;
	cbd_circuit *c = NULL;
	cbd_triggerset *ts = NULL;
	cbd_attribution *a = NULL;
	cbd_circuit_params p = {0};
	cbd_attribute_opts o = {0};
	const cbd_attr_result *r;
	uint8_t (*sec)[CBD_TRACE_SECRET_LEN], q[784];
	char **ids, *idbuf;
	float x[784];
	size_t leaker = users / 2 + 7 < users ? users / 2 + 7 : 0;
	struct timespec c0, c1;
	double cpu;
	cbd_err e = {0};

	if (users == 0 || T == 0)
		return 64;
	if (cbd_key_generate(CBD_KEY_ED25519, &owner, &e))
		die("key", &e);
	p.mode = CBD_MODE_TRACE;
	p.ndim = 3;
	p.dims[0] = 1;
	p.dims[1] = 28;
	p.dims[2] = 28;
	p.num_classes = K;
	p.keys = (const cbd_key *const *)&owner;
	p.n_keys = 1;
	sec = malloc(users * sizeof(*sec));
	ids = malloc(users * sizeof(*ids));
	idbuf = malloc(users * 24);
	if (!sec || !ids || !idbuf)
		return 71;
	RAND_bytes((unsigned char *)sec, (int)(users * sizeof(*sec)));
	for (size_t u = 0; u < users; u++) {
		ids[u] = idbuf + 24 * u;
		snprintf(ids[u], 24, "u%07zu", u);
	}
	p.trace_secret = sec[leaker];
	p.user_id = ids[leaker];
	if (cbd_circuit_new(&p, &c, &e) || cbd_triggerset_new(c, &ts, &e))
		die("circuit", &e);
	for (size_t i = 0; i < T; i++) {
		char id[32];

		RAND_bytes(q, sizeof(q));
		for (int k = 0; k < 784; k++)
			x[k] = q[k] / 255.0f;
		snprintf(id, sizeof(id), "t%04zu", i);
		if (cbd_circuit_sign_input(c, owner, 0, 0, x, q, &e) ||
		    cbd_triggerset_add(ts, id, q, -1, 0, 0, &e))
			die("trigger", &e);
	}
	if (cbd_attribution_new(ts, &a, &e))
		die("attribution", &e);
	for (size_t i = 0; i < T; i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);

		cbd_attribution_answer(a, i, cbd_trace_label(sec[leaker],
				       t->message, t->message_len, K), &e);
	}
	o.threads = threads;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	if (cbd_attribution_run_secrets(a, (const char *const *)ids,
					(const uint8_t(*)[32])sec, users, &o,
					&e))
		die("run", &e);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	cpu = (double)(c1.tv_sec - c0.tv_sec) + (c1.tv_nsec - c0.tv_nsec) / 1e9;
	r = cbd_attribution_result(a);
	printf("users=%zu triggers=%zu threads=%d seconds=%.3f cpu_seconds=%.3f "
	       "hmacs_per_s=%.0f hmacs_per_cpu_s=%.0f named=%zu ok=%d\n",
	       users, T, threads, r->seconds, cpu,
	       (double)users * T / r->seconds, (double)users * T / cpu,
	       r->n_significant,
	       r->n_significant == 1 && strcmp(r->rows[0].id, ids[leaker]) == 0);
	cbd_attribution_free(a);
	cbd_triggerset_free(ts);
	cbd_circuit_free(c);
	cbd_key_free(owner);
	free(sec);
	free(ids);
	free(idbuf);
	return 0;
}
