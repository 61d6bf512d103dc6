/*
 * og_sha.c — writes an ONNX model that hashes its input with the circuit
 * compiler's SHA-256 / SHA-512 graph fragments (lib/compile/sha.c), for
 * tests/cli/compile.bats to run in ONNX Runtime against node's crypto.
 *
 *   og_sha LEN WIDE PREFIXLEN OUT.onnx
 * input [N, LEN] uint32 (WIDE 0, SHA-256) or uint64 (WIDE 1, SHA-512), byte
 * values; output the digest bytes of PREFIX || row, PREFIX[i] = 7i+1 mod 256.
 */
#include "compile/compile_internal.h"

#include <stdio.h>

int main(int argc, char **argv)
{
	uint8_t pre[256];
	uint8_t *buf;
	size_t n;
	cbd_err e = {0};
	int len, wide, plen;
	og_ctx *c;
	og_graph *g;
	FILE *f;

	if (argc != 5)
		return 64;
	len = atoi(argv[1]);
	wide = atoi(argv[2]);
	plen = atoi(argv[3]);
	if (len < 1 || plen < 0 || plen > 256)
		return 64;
	for (int i = 0; i < plen; i++)
		pre[i] = (uint8_t)(i * 7 + 1);
	c = og_new("t/");
	if (!c)
		return 70;
	g = og_main(c);
	og_t in = og_input(g, wide ? OG_U64 : OG_U32);
	og_t out = og_sha(g, in, len, plen ? pre : NULL, plen, wide);
	og_output(g, out);
	og_set_shape(g, in, 2, (int64_t[]){-1, len});
	og_set_shape(g, out, 2, (int64_t[]){-1, wide ? 64 : 32});
	if (og_pack_model(c, 8, NULL, NULL, 0, &buf, &n, &e)) {
		fprintf(stderr, "og_sha: %s\n", e.msg);
		og_free(c);
		return 70;
	}
	og_free(c);
	f = fopen(argv[4], "wb");
	if (!f || fwrite(buf, 1, n, f) != n || fclose(f)) {
		free(buf);
		return 73;
	}
	free(buf);
	return 0;
}
