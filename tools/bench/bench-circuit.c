/*
 * bench-circuit.c — timing helper for tools/bench-circuit.sh.
 *
 *   bench-circuit verify SECONDS
 *       signed-input checks per user-CPU second on one thread: a watermark
 *       circuit with a fresh Ed25519 key, 16 signed MNIST-shaped inputs
 *       checked in a loop (tag, quantisation, SHA-256, Ed25519 verify),
 *       alternating 0.1 s slices with OpenSSL's own verify loop (one
 *       context, 57-byte message, as openssl speed runs it) so that both
 *       see the same load; also the cost of a clean (untagged) input
 *   bench-circuit model ARCHIVE ONNX IMAGES.npy SECONDS
 *       samples per second of cbd_model_run on the held-out digits for the
 *       embedded archive and the bare model, alternating runs so both see
 *       the same machine load
 *
 * Prints key=value pairs on one line; CPU time (clock_gettime
 * USER_CPU) beside wall time.
 */
#include "cbd.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define N 784

#define USER_CPU ((clockid_t)-100)

/* Wall clock, or with USER_CPU the process's user CPU time (what
 * `openssl speed` measures by default). */
static double now(clockid_t c)
{
	struct timespec ts;

	if (c == USER_CPU) {
		struct rusage ru;

		getrusage(RUSAGE_SELF, &ru);
		return (double)ru.ru_utime.tv_sec +
		       (double)ru.ru_utime.tv_usec * 1e-6;
	}
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what, const cbd_err *e)
{
	fprintf(stderr, "bench-circuit: %s: %s\n", what, e->msg);
	return 1;
}

struct raw {                 /* OpenSSL's own loop, as openssl speed */
	EVP_PKEY *k;
	EVP_MD_CTX *c;
	unsigned char m[57], sig[64];
	size_t sl;
};

static int raw_init(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->m[0] = 1;
	r->sl = sizeof(r->sig);
	r->k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	r->c = EVP_MD_CTX_new();
	return r->k && r->c &&
	       EVP_DigestSignInit_ex(r->c, NULL, NULL, NULL, NULL, r->k,
				     NULL) == 1 &&
	       EVP_DigestSign(r->c, r->sig, &r->sl, r->m, sizeof(r->m)) == 1 &&
	       EVP_DigestVerifyInit_ex(r->c, NULL, NULL, NULL, NULL, r->k,
				       NULL) == 1;
}

/* One time slice of each: returns user CPU seconds spent, adds to *n. */
static double slice_raw(struct raw *r, double secs, long *n)
{
	double t0 = now(USER_CPU), t;

	do {
		for (int i = 0; i < 16; i++)
			*n += EVP_DigestVerify(r->c, r->sig, r->sl, r->m,
					       sizeof(r->m)) == 1;
		t = now(USER_CPU) - t0;
	} while (t < secs);
	return t;
}

static double slice_cbd(const cbd_circuit *c, float (*x)[N], int S,
			double secs, long *n, long *active)
{
	double t0 = now(USER_CPU), t;
	cbd_err e = {0};

	do {
		for (int s = 0; s < S; s++) {
			cbd_activation a;

			cbd_circuit_check(c, x[s], &a, &e);
			*active += a.active;
		}
		*n += S;
		t = now(USER_CPU) - t0;
	} while (t < secs);
	return t;
}

static int bench_verify(double secs)
{
	enum { S = 16 };
	static float x[S][N], clean[S][N];
	cbd_circuit_params p = {0};
	cbd_circuit *c = NULL;
	cbd_key *k = NULL;
	cbd_err e = {0};
	struct raw r;
	uint8_t q[N], b[N];
	long done = 0, active = 0, cdone = 0, rdone = 0;
	double tc = 0, tr = 0, t0, cwall;

	if (cbd_key_generate(CBD_KEY_ED25519, &k, &e))
		return fail("key", &e);
	if (!raw_init(&r)) {
		fprintf(stderr, "bench-circuit: OpenSSL Ed25519 setup\n");
		return 1;
	}
	p.mode = CBD_MODE_WATERMARK;
	p.ndim = 3;
	p.dims[0] = 1;
	p.dims[1] = p.dims[2] = 28;
	p.num_classes = 10;
	p.keys = (const cbd_key *const *)&k;
	p.n_keys = 1;
	if (cbd_circuit_new(&p, &c, &e))
		return fail("circuit", &e);
	for (int s = 0; s < S; s++) {
		RAND_bytes(b, sizeof(b));
		for (int i = 0; i < N; i++)
			clean[s][i] = (float)b[i] / 255.0f;
		if (cbd_circuit_sign_input(c, k, 0, (uint16_t)(s % 10),
					   clean[s], q, &e))
			return fail("sign", &e);
		for (int i = 0; i < N; i++)
			x[s][i] = (float)q[i] / 255.0f;
	}
	/* alternate 0.1 s slices so both loops see the same machine */
	while (tc + tr < secs) {
		tc += slice_cbd(c, x, S, 0.1, &done, &active);
		tr += slice_raw(&r, 0.1, &rdone);
	}
	t0 = now(CLOCK_MONOTONIC);
	do {
		for (int rep = 0; rep < 1000; rep++)
			for (int s = 0; s < S; s++) {
				cbd_activation a;

				cbd_circuit_check(c, clean[s], &a, &e);
				active += a.active;
			}
		cdone += 1000 * S;
	} while (now(CLOCK_MONOTONIC) - t0 < secs / 4);
	cwall = now(CLOCK_MONOTONIC) - t0;
	printf("verifies_per_cpu_s=%.0f raw_openssl_per_cpu_s=%.0f "
	       "ratio_in_process=%.3f active=%ld of=%ld clean_ns=%.1f\n",
	       (double)done / tc, (double)rdone / tr,
	       ((double)done / tc) / ((double)rdone / tr), active, done,
	       cwall / (double)cdone * 1e9);
	EVP_MD_CTX_free(r.c);
	EVP_PKEY_free(r.k);
	cbd_circuit_free(c);
	cbd_key_free(k);
	return active == done ? 0 : 1;
}

static double run_model(cbd_model *m, const cbd_tensor *batch, double secs,
			long *n)
{
	double t0 = now(USER_CPU);
	cbd_err e = {0};

	*n = 0;
	do {
		cbd_tensor *s = NULL;

		if (cbd_model_run(m, batch, &s, NULL, &e)) {
			fail("run", &e);
			exit(1);
		}
		cbd_tensor_free(s);
		*n += batch->dims[0];
	} while (now(USER_CPU) - t0 < secs);
	return now(USER_CPU) - t0;
}

static int bench_model(const char *arch, const char *onnx, const char *imgs,
		       double secs)
{
	cbd_model *a = NULL, *m = NULL;
	cbd_tensor *t = NULL, *f = NULL;
	cbd_nn_opts o = {.threads = 1};
	cbd_err e = {0};
	double ta = 0, tm = 0;
	long na = 0, nm = 0;

	if (cbd_model_open(arch, &o, &a, &e))
		return fail(arch, &e);
	if (cbd_model_open(onnx, &o, &m, &e))
		return fail(onnx, &e);
	if (cbd_tensor_load(imgs, CBD_TF_NPY, &t, &e) ||
	    cbd_tensor_to_float(t, &f, &e))
		return fail(imgs, &e);
	for (size_t i = 0; i < f->nelem; i++)
		((float *)f->data)[i] /= 255.0f;
	/* alternate short runs so both see the same load; the ratio is the
	 * median of the ratios of adjacent pairs */
	enum { PAIRS = 12 };
	double ratios[PAIRS];

	for (int r = 0; r < PAIRS; r++) {   /* order swapped every pair */
		long k1, k2;
		double t1, t2;

		if (r % 2) {
			t2 = run_model(a, f, secs / (2 * PAIRS), &k2);
			t1 = run_model(m, f, secs / (2 * PAIRS), &k1);
		} else {
			t1 = run_model(m, f, secs / (2 * PAIRS), &k1);
			t2 = run_model(a, f, secs / (2 * PAIRS), &k2);
		}

		tm += t1;
		nm += k1;
		ta += t2;
		na += k2;
		ratios[r] = ((double)k2 / t2) / ((double)k1 / t1);
	}
	for (int i = 1; i < PAIRS; i++)     /* insertion sort */
		for (int j = i; j > 0 && ratios[j - 1] > ratios[j]; j--) {
			double t = ratios[j];

			ratios[j] = ratios[j - 1];
			ratios[j - 1] = t;
		}
	printf("archive_per_cpu_s=%.0f bare_per_cpu_s=%.0f ratio=%.4f\n",
	       (double)na / ta, (double)nm / tm,
	       (ratios[PAIRS / 2 - 1] + ratios[PAIRS / 2]) / 2);
	cbd_model_free(a);
	cbd_model_free(m);
	cbd_tensor_free(t);
	cbd_tensor_free(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "verify") == 0)
		return bench_verify(atof(argv[2]));
	if (argc == 6 && strcmp(argv[1], "model") == 0)
		return bench_model(argv[2], argv[3], argv[4], atof(argv[5]));
	fprintf(stderr, "usage: bench-circuit verify SECONDS | model ARCHIVE "
		"ONNX IMAGES SECONDS\n");
	return 2;
}
