/*
 * cbd_mkarchive.c — test helper: build cbd archives through the library
 * API, independently of cbd-embed's command line.
 *
 *   cbd_mkarchive new watermark|trace|auth MODEL.onnx OWNER.key OUT.cbd
 *                 [-s TRACE_SECRET_HEX] [-i CIRCUIT_ID_HEX] [-u USER.pub]...
 *       a circuit for MNIST-shaped samples [1,28,28] with K from the model;
 *       watermark/trace verify with the owner's key, auth with the users'
 *   cbd_mkarchive repack IN.cbd MODEL.onnx SIGNER.key OUT.cbd
 *       what a thief does: keep IN's circuit, swap in other weights, and
 *       sign the manifest with her own key
 *
 * SOURCE_DATE_EPOCH (else 0) is the creation time.  Exit 0 or 1.
 */
#include "cbd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, const cbd_err *e)
{
	fprintf(stderr, "cbd_mkarchive: %s: %s\n", what, e ? e->msg : "");
	return 1;
}

static int64_t created(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");

	return s ? strtoll(s, NULL, 10) : 0;
}

static int write_archive(const char *model, const cbd_circuit *c,
			 const cbd_key *signer, const char *name,
			 const char *out)
{
	cbd_archive_params ap = {0};
	cbd_err e = {0};
	uint8_t *onnx = NULL;
	size_t len = 0;
	int rc = 0;

	if (cbd_file_read(model, CBD_MAX_FILE, &onnx, &len, &e))
		return die(model, &e);
	ap.model_name = name;
	ap.onnx = onnx;
	ap.onnx_len = len;
	ap.circuit = c;
	ap.input_name = "input";
	ap.owner = signer;
	ap.created = created();
	if (cbd_archive_write(out, &ap, &e))
		rc = die(out, &e);
	free(onnx);
	return rc;
}

static int cmd_new(int argc, char **argv)
{
	cbd_circuit_params p = {0};
	cbd_key *owner = NULL, *users[64];
	uint8_t secret[CBD_TRACE_SECRET_LEN], id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *c = NULL;
	cbd_err e = {0};
	int n_users = 0, rc;

	if (argc < 4)
		return die("usage: new MODE MODEL OWNER.key OUT", NULL);
	p.mode = strcmp(argv[0], "trace") == 0 ? CBD_MODE_TRACE :
		 strcmp(argv[0], "auth") == 0 ? CBD_MODE_AUTH :
		 CBD_MODE_WATERMARK;
	if (cbd_key_load(argv[2], NULL, &owner, &e))
		return die(argv[2], &e);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "-s") == 0) {
			if (cbd_unhex(argv[i + 1], secret, sizeof(secret), &e))
				return die("-s", &e);
			p.trace_secret = secret;
			p.user_id = "user";
		} else if (strcmp(argv[i], "-i") == 0) {
			if (cbd_unhex(argv[i + 1], id, sizeof(id), &e))
				return die("-i", &e);
			p.circuit_id = id;
		} else if (strcmp(argv[i], "-u") == 0 && n_users < 64) {
			if (cbd_key_load(argv[i + 1], NULL, &users[n_users],
					 &e))
				return die(argv[i + 1], &e);
			n_users++;
		} else {
			return die("unknown option", NULL);
		}
	}
	p.ndim = 3;
	p.dims[0] = 1;
	p.dims[1] = 28;
	p.dims[2] = 28;
	p.num_classes = 10;
	p.keys = p.mode == CBD_MODE_AUTH ? (const cbd_key *const *)users :
		 (const cbd_key *const *)&owner;
	p.n_keys = p.mode == CBD_MODE_AUTH ? n_users : 1;
	if (cbd_circuit_new(&p, &c, &e))
		return die("circuit", &e);
	rc = write_archive(argv[1], c, owner, "mnist-cnn", argv[3]);
	cbd_circuit_free(c);
	cbd_key_free(owner);
	for (int i = 0; i < n_users; i++)
		cbd_key_free(users[i]);
	return rc;
}

static int cmd_repack(int argc, char **argv)
{
	cbd_archive *a = NULL;
	cbd_key *signer = NULL;
	cbd_err e = {0};
	int rc;

	if (argc != 4)
		return die("usage: repack IN MODEL SIGNER.key OUT", NULL);
	if (cbd_archive_open(argv[0], &a, &e))
		return die(argv[0], &e);
	if (cbd_key_load(argv[2], NULL, &signer, &e))
		return die(argv[2], &e);
	rc = write_archive(argv[1], cbd_archive_circuit(a), signer,
			   cbd_archive_model_name(a), argv[3]);
	cbd_archive_free(a);
	cbd_key_free(signer);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "new") == 0)
		return cmd_new(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "repack") == 0)
		return cmd_repack(argc - 2, argv + 2);
	fprintf(stderr, "usage: cbd_mkarchive new|repack ...\n");
	return 1;
}
