/*
 * og_ed25519.c — writes an ONNX model that verifies Ed25519 signatures
 * under one public key with the circuit compiler's graph fragments
 * (lib/compile/ed25519.c, SHA-512 from sha.c), for tests/cli/compile.bats
 * to run in ONNX Runtime against node's crypto (OpenSSL).
 *
 *   og_ed25519 PUBKEY-HEX OUT.onnx     write the model
 *   og_ed25519 PUBKEY-HEX              only check the key (exit 65 refused)
 * inputs sig [N, 64] and msg [N, 57] uint8; output [N] bool.
 */
#include "compile/compile_internal.h"

#include <stdio.h>
#include <string.h>

static int write_model(const uint8_t pk[32], const char *path)
{
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
	og_t sig64 = og_cast(g, sig, OG_U64);
	og_t r = og_op(g, "Slice", OG_U64, 4, (og_t[]){sig64,
		       og_i64s(c, 1, (int64_t[]){0}),
		       og_i64s(c, 1, (int64_t[]){32}),
		       og_i64s(c, 1, (int64_t[]){1})}, 0, NULL);
	for (int i = 0; i < 32; i++)
		aw[i] = pk[i];
	og_t a = og_expand_batch(g, og_reshape(g, og_const_words(c, OG_U64, 32,
				 aw), 2, (int64_t[]){1, 32}), sig, 32);
	og_t h = og_sha(g, og_concat(g, 1, 3, (og_t[]){r, a,
			og_cast(g, msg, OG_U64)}), 121, NULL, 0, 1);
	og_t ok = og_ed25519_verify(g, pk, og_cast(g, sig, OG_F64),
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
	uint8_t pk[32];
	cbd_err e = {0};

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
	return write_model(pk, argv[2]);
}
