/*
 * fuzz_seeds.c — writes the seed corpora of the fuzz targets
 * (tests/fuzz/corpus/<target>/) with libcbd's own writers.
 *
 *   build/tests/fuzz_seeds DIR        writes DIR/<target>/<name> files
 *
 * The committed seeds were made with it; rerun it when a format changes.
 * Keys are fresh each run, so the bytes differ from run to run; every file
 * is a valid instance of its format (which the regress replay in
 * tests/unit/test_fuzz_regress.c checks by parsing each seed).
 */
#include "cbd.h"
#include "transcript/transcript_internal.h"
#include "../fuzz/fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *root;

static void die(const char *what, const cbd_err *e)
{
	fprintf(stderr, "fuzz_seeds: %s: %s\n", what, e ? e->msg : "");
	exit(1);
}

static void put(const char *target, const char *name, const void *buf,
		size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path, NULL);
	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die(path, NULL);
}

static void put_file(const char *target, const char *name, const char *src)
{
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	if (cbd_file_read(src, CBD_MAX_FILE, &buf, &len, &e) != CBD_OK)
		die(src, &e);
	put(target, name, buf, len);
	free(buf);
}

static void keys_seeds(cbd_key *ed, cbd_key *p256, const char *tmp)
{
	char path[4096], *pem;
	cbd_err e = {0};

	if (cbd_key_public_pem(ed, &pem, &e) != CBD_OK)
		die("public pem", &e);
	put("keys", "ed25519.pub", pem, strlen(pem));
	free(pem);
	if (cbd_key_public_pem(p256, &pem, &e) != CBD_OK)
		die("public pem", &e);
	put("keys", "p256.pub", pem, strlen(pem));
	free(pem);
	snprintf(path, sizeof(path), "%s/k1", tmp);
	if (cbd_key_save_private(ed, path, NULL, 1, &e) != CBD_OK)
		die("save", &e);
	put_file("keys", "ed25519.key", path);
	snprintf(path, sizeof(path), "%s/k2", tmp);
	if (cbd_key_save_private(p256, path, NULL, 1, &e) != CBD_OK)
		die("save", &e);
	put_file("keys", "p256.key", path);
}

static void keyring_seeds(cbd_key *ed, cbd_key *p256, const char *tmp)
{
	char path[4096];
	cbd_keyring *kr;
	cbd_err e = {0};

	snprintf(path, sizeof(path), "%s/kr", tmp);
	if (cbd_keyring_new(&kr, &e) != CBD_OK)
		die("keyring", &e);
	if (cbd_keyring_save(kr, path, &e) != CBD_OK)
		die("keyring save", &e);
	put_file("keyring", "empty.json", path);
	if (cbd_keyring_add(kr, "alice", ed, &e) != CBD_OK ||
	    cbd_keyring_add(kr, "bob.example-2", p256, &e) != CBD_OK)
		die("keyring add", &e);
	if (cbd_keyring_save(kr, path, &e) != CBD_OK)
		die("keyring save", &e);
	put_file("keyring", "two-users.json", path);
	cbd_keyring_free(kr);
}

static void circuit_seed(const char *name, cbd_mode mode, cbd_key *k,
			 int ndim, const int64_t *dims, int classes)
{
	static const uint8_t secret[CBD_TRACE_SECRET_LEN] = {1, 2, 3};
	const cbd_key *keys[1] = {k};
	cbd_circuit_params p = {0};
	cbd_circuit *c;
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	p.mode = mode;
	p.ndim = ndim;
	memcpy(p.dims, dims, sizeof(int64_t) * (size_t)ndim);
	p.num_classes = classes;
	p.keys = keys;
	p.n_keys = 1;
	if (mode == CBD_MODE_TRACE) {
		p.trace_secret = secret;
		p.user_id = "alice";
	}
	if (cbd_circuit_new(&p, &c, &e) != CBD_OK)
		die("circuit", &e);
	if (cbd_circuit_to_json(c, &buf, &len, &e) != CBD_OK)
		die("circuit json", &e);
	put("circuit", name, buf, len);
	free(buf);
	cbd_circuit_free(c);
}

/* The header of both transcript seeds: 4 triggers, K = 3. */
static void seed_header(cbd_tw_header *h)
{
	h->tool = "fuzz_seeds 1";
	h->endpoint = "http://127.0.0.1:8000";
	h->backend = "oip";
	h->model = "mnist";
	h->datatype = "FP32";
	memset(h->triggers_digest, 0xab, sizeof(h->triggers_digest));
	h->num_triggers = 4;
	h->num_classes = 3;
}

static void transcript_seed(const char *tmp, const char *name, int end)
{
	char path[4096];
	cbd_tw_header h = {0};
	cbd_tw *w;
	cbd_err e = {0};

	seed_header(&h);
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if (cbd_tw_create(path, &h, 1, &w, &e) != CBD_OK)
		die("transcript", &e);
	for (size_t i = 0; i < 3; i++) {
		cbd_transcript_record r = {0};
		float sc[3] = {0.25f, -1.5f, 3.0f};
		char id[16];

		snprintf(id, sizeof(id), "t%zu", i);
		r.index = i;
		r.trigger_id = id;
		r.label = i == 1 ? -1 : (int)i;
		r.status = i == 1 ? 503 : 200;
		r.error = i == 1 ? "HTTP 503" : NULL;
		r.attempts = i == 1 ? 2 : 1;
		r.latency_ms = 1.5;
		r.has_response = 1;
		memset(r.request_digest, (int)i, CBD_SHA256_LEN);
		memset(r.response_digest, (int)i + 7, CBD_SHA256_LEN);
		r.scores = i == 1 ? NULL : sc;
		r.num_scores = i == 1 ? 0 : 3;
		if (cbd_tw_query(w, &r, &e) != CBD_OK)
			die("transcript query", &e);
	}
	if (end && cbd_tw_end(w, 2, 1, &e) != CBD_OK)
		die("transcript end", &e);
	cbd_tw_close(w);
	put_file("transcript", name, path);
}

/* A finished run with decoys: a schedule line (a fixed seed), then the 4
 * triggers and 3 decoys from 2 samples in the order the seed gives.  With
 * seq (--until-verdict): no decoys, a sequential line, and the run settled
 * after the first 2 of the order. */
static void decoy_seed(const char *tmp, const char *name, int seq)
{
	char path[4096];
	cbd_tw_header h = {0};
	cbd_tw_schedule_line sc = {0};
	cbd_tw *w;
	cbd_err e = {0};
	uint32_t *order, *perm;
	size_t sent = seq ? 2 : 7, d = seq ? 0 : 3;

	seed_header(&h);
	memset(sc.seed, 0x5c, sizeof(sc.seed));
	if (!seq)
		memset(sc.decoys_digest, 0xcd, sizeof(sc.decoys_digest));
	sc.num_decoys = d;
	sc.decoy_samples = seq ? 0 : 2;
	sc.ratio = seq ? 0 : 0.75;
	sc.pace_ms = 10;
	sc.jitter_ms = 5;
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	if (cbd_tw_create(path, &h, 1, &w, &e) != CBD_OK ||
	    cbd_tw_schedule(w, &sc, &e) != CBD_OK ||
	    (seq && cbd_tw_sequential(w, 0.8, 1e-9, 1e-6, &e) != CBD_OK) ||
	    cbd_schedule_make(sc.seed, 4, d, sc.decoy_samples, &order, &perm,
			      &e) != CBD_OK)
		die("transcript schedule", &e);
	for (size_t j = 0; j < sent; j++) {
		cbd_transcript_record r = {0};
		float scores[3] = {0.5f, 2.0f, -1.0f};
		int decoy = order[j] >= 4;
		char id[16];

		r.index = decoy ? perm[(order[j] - 4) % 2] : order[j];
		snprintf(id, sizeof(id), decoy ? "d%u" : "t%u",
			 decoy ? order[j] - 4 : order[j]);
		r.trigger_id = id;
		r.label = 1;
		r.status = 200;
		r.attempts = 1;
		r.latency_ms = 0.5;
		r.has_response = 1;
		memset(r.request_digest, (int)j, CBD_SHA256_LEN);
		memset(r.response_digest, (int)j + 3, CBD_SHA256_LEN);
		r.scores = scores;
		r.num_scores = 3;
		if (cbd_tw_answer(w, &r, decoy, (long)j, &e) != CBD_OK)
			die("transcript decoy", &e);
	}
	if ((seq && cbd_tw_settled(w, 2, 2, &e) != CBD_OK) ||
	    cbd_tw_end(w, seq ? 2 : 4, 0, &e) != CBD_OK)
		die("transcript end", &e);
	cbd_tw_close(w);
	free(order);
	free(perm);
	put_file("transcript", name, path);
}

/* A watermark circuit over [600] with K=3 under the fixed fuzz owner key:
 * an archive around a tiny ONNX seed, and a signed trigger set. */
static void signed_seeds(const char *tmp)
{
	static const int64_t dims[1] = {600};
	const cbd_key *keys[1] = {fuzz_owner_key()};
	cbd_circuit_params p = {0};
	cbd_archive_params ap = {0};
	cbd_triggerset *ts;
	cbd_circuit *c;
	uint8_t *onnx, *ar, q[600];
	float x[600];
	size_t olen, alen;
	char path[4096];
	cbd_err e = {0};

	p.mode = CBD_MODE_WATERMARK;
	p.ndim = 1;
	p.dims[0] = dims[0];
	p.num_classes = 3;
	p.keys = keys;
	p.n_keys = 1;
	if (cbd_circuit_new(&p, &c, &e) != CBD_OK)
		die("circuit", &e);
	snprintf(path, sizeof(path), "%s/nn/gemm-relu-softmax.onnx", root);
	if (cbd_file_read(path, CBD_MAX_FILE, &onnx, &olen, &e) != CBD_OK)
		die(path, &e);
	ap.model_name = "tiny";
	ap.onnx = onnx;
	ap.onnx_len = olen;
	ap.circuit = c;
	ap.input_name = "x";
	ap.owner = fuzz_owner_key();
	ap.created = 1764115200;
	if (cbd_archive_encode(&ap, &ar, &alen, &e) != CBD_OK)
		die("archive", &e);
	put("archive", "tiny.cbd", ar, alen);
	free(ar);
	free(onnx);
	if (cbd_triggerset_new(c, &ts, &e) != CBD_OK)
		die("triggers", &e);
	for (int i = 0; i < 3; i++) {
		char id[8];

		for (int k = 0; k < 600; k++)
			x[k] = (float)((k * 31 + i * 7) % 256) / 255.0f;
		if (cbd_circuit_sign_input(c, fuzz_owner_key(), 0,
					   (uint16_t)i, x, q, &e) != CBD_OK)
			die("sign input", &e);
		snprintf(id, sizeof(id), "t%d", i);
		if (cbd_triggerset_add(ts, id, q, i, (uint16_t)i, 0, &e) !=
		    CBD_OK)
			die("trigger add", &e);
	}
	snprintf(path, sizeof(path), "%s/ts.json", tmp);
	if (cbd_triggerset_save(ts, path, fuzz_owner_key(), 1764115200, &e) !=
	    CBD_OK)
		die("triggers save", &e);
	put_file("triggers", "three.json", path);
	cbd_triggerset_free(ts);
	cbd_circuit_free(c);
}

int main(int argc, char **argv)
{
	static const int64_t img[3] = {1, 28, 28}, vec[1] = {600};
	char tmp[] = "/tmp/fuzz_seeds.XXXXXX";
	cbd_key *ed, *p256;
	cbd_err e = {0};

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds DIR\n");
		return 64;
	}
	root = argv[1];
	if (!mkdtemp(tmp))
		die("mkdtemp", NULL);
	if (cbd_key_generate(CBD_KEY_ED25519, &ed, &e) != CBD_OK ||
	    cbd_key_generate(CBD_KEY_P256, &p256, &e) != CBD_OK)
		die("keygen", &e);
	keys_seeds(ed, p256, tmp);
	keyring_seeds(ed, p256, tmp);
	circuit_seed("watermark-28x28.json", CBD_MODE_WATERMARK, ed, 3, img,
		     10);
	circuit_seed("trace-600.json", CBD_MODE_TRACE, ed, 1, vec, 3);
	circuit_seed("auth-p256-600.json", CBD_MODE_AUTH, p256, 1, vec, 2);
	transcript_seed(tmp, "complete.jsonl", 1);
	transcript_seed(tmp, "unfinished.jsonl", 0);
	decoy_seed(tmp, "decoys.jsonl", 0);
	decoy_seed(tmp, "until-verdict.jsonl", 1);
	signed_seeds(tmp);
	cbd_key_free(ed);
	cbd_key_free(p256);
	{
		char cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd) != 0)
			die("rm", NULL);
	}
	return 0;
}
