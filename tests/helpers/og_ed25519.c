/*
 * og_ed25519.c — writes an ONNX model that verifies Ed25519 signatures
 * under one public key with the circuit compiler's graph fragments
 * (lib/compile/ed25519.c, SHA-512 from sha.c), for tests/cli/compile.bats
 * to run in ONNX Runtime against node's crypto (OpenSSL).
 *
 *   og_ed25519 PUBKEY-HEX OUT.onnx     write the model
 *   og_ed25519 PUBKEY-HEX              only check the key (exit 65 refused)
 *   og_ed25519 -k HEX,HEX,... OUT.onnx several keys (og_ed25519_verify_keys)
 * inputs sig [N, 64] and msg [N, 57] uint8 (and with -k kidx [N, 1] int64,
 * the signer's index); output [N] bool.
 */
#include "compile/compile_internal.h"

#include <stdio.h>
#include <string.h>

static int write_model(const uint8_t (*pks)[32], int nk, const char *path)
{
	const uint8_t *pk = pks[0];
	uint8_t *buf;
	size_t n;
	cbd_err e = {0};
	og_ctx *c = og_new("t/");
	og_graph *g;
	uint64_t aw[32];
	FILE *f;

	if (!c)
		return 70;
	g = og_main(c);
	og_t sig = og_input(g, OG_U8), msg = og_input(g, OG_U8);
	og_t kidx = nk > 1 ? og_input(g, OG_I64) : NULL;
	uint64_t kw[16 * 32];
	og_t sig64 = og_cast(g, sig, OG_U64);
	og_t r = og_op(g, "Slice", OG_U64, 4, (og_t[]){sig64,
		       og_i64s(c, 1, (int64_t[]){0}),
		       og_i64s(c, 1, (int64_t[]){32}),
		       og_i64s(c, 1, (int64_t[]){1})}, 0, NULL);
	for (int i = 0; i < 32; i++)
		aw[i] = pk[i];
	og_t a = og_expand_batch(g, og_reshape(g, og_const_words(c, OG_U64, 32,
				 aw), 2, (int64_t[]){1, 32}), sig, 32);
	if (nk > 1) {   /* A = keys[kidx] */
		for (int k = 0; k < nk; k++)
			for (int i = 0; i < 32; i++)
				kw[k * 32 + i] = pks[k][i];
		og_t keys = og_reshape(g, og_const_words(c, OG_U64, 32 * nk, kw),
				       2, (int64_t[]){nk, 32});
		a = og_reshape(g, og_gather(g, keys, kidx, 0), 2,
			       (int64_t[]){-1, 32});
	}
	og_t h = og_sha(g, og_concat(g, 1, 3, (og_t[]){r, a,
			og_cast(g, msg, OG_U64)}), 121, NULL, 0, 1);
	og_t ok = nk > 1 ? og_ed25519_verify_keys(g, pks, nk, kidx,
						 og_cast(g, sig, OG_F64),
						 og_cast(g, h, OG_F64), &e)
			 : og_ed25519_verify(g, pk, og_cast(g, sig, OG_F64),
					     og_cast(g, h, OG_F64), &e);
	if (!ok && e.code) {
		fprintf(stderr, "og_ed25519: %s\n", e.msg);
		og_free(c);
		return 65;
	}
	og_output(g, ok);
	og_set_shape(g, sig, 2, (int64_t[]){-1, 64});
	og_set_shape(g, msg, 2, (int64_t[]){-1, 57});
	og_set_shape(g, ok, 1, (int64_t[]){-1});
	if (og_pack_model(c, 8, NULL, NULL, 0, &buf, &n, &e)) {
		fprintf(stderr, "og_ed25519: %s\n", e.msg);
		og_free(c);
		return 70;
	}
	og_free(c);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) {
		free(buf);
		return 73;
	}
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t pk[32], pks[16][32];
	cbd_err e = {0};
	int nk = 0;

	if (argc == 4 && !strcmp(argv[1], "-k")) {
		for (char *t = strtok(argv[2], ","); t && nk < 16;
		     t = strtok(NULL, ","))
			if (strlen(t) != 64 || cbd_unhex(t, pks[nk++], 32, &e))
				return 64;
		return nk < 2 ? 64 : write_model((const uint8_t (*)[32])pks,
						 nk, argv[3]);
	}
	if (argc < 2 || argc > 3 || strlen(argv[1]) != 64 ||
	    cbd_unhex(argv[1], pk, 32, &e))
		return 64;
	if (argc == 2) {
		if (og_ed25519_key_check(pk, &e)) {
			printf("%s\n", e.msg);
			return 65;
		}
		return 0;
	}
	memcpy(pks[0], pk, 32);
	return write_model((const uint8_t (*)[32])pks, 1, argv[2]);
}
