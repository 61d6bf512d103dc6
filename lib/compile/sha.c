/*
 * sha.c — SHA-256 and SHA-512 (FIPS 180-4) as ONNX graph fragments.
 *
 * A batch of N messages of equal length is hashed at once: every tensor has
 * the batch as its first dimension, so one node does the work of N.  Words
 * are uint32 (SHA-256) or uint64 (SHA-512) tensors, for which ONNX Runtime
 * has Add and Mul that wrap modulo 2^w, BitShift, and the Bitwise* ops of
 * opset 18.
 *
 * Blocks are consumed by a Loop whose body is one compression function
 * (64 or 80 rounds, unrolled): the trip count is the number of blocks and
 * the only loop-carried value is the state [N, 8]; the message words
 * [N, blocks, 16] are read from the outer scope with Gather on the
 * iteration number.  Inside a round every value is [N, 1].  The rotations
 * of one value by three amounts are computed as one [N, 3] tensor (a right
 * shift by the three amounts OR the value times 2^(w-r) modulo 2^w, with a
 * multiplier 0 for the plain shift of the small sigmas), then split and
 * XORed, which costs 6 nodes instead of 11.
 */
#include "compile_internal.h"

#include <string.h>

struct sha_alg {
	int wide;                 /* 0: SHA-256, 1: SHA-512 */
	int type, bits, rounds, block;
	int S0[3], S1[3], s0[3], s1[3];   /* s0/s1: last entry is a shift */
	const uint64_t *k, *iv;
};

static const uint64_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static const uint64_t IV256[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
				  0xa54ff53a, 0x510e527f, 0x9b05688c,
				  0x1f83d9ab, 0x5be0cd19};

static const uint64_t K512[80] = {
	0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f,
	0xe9b5dba58189dbbc, 0x3956c25bf348b538, 0x59f111f1b605d019,
	0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242,
	0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
	0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
	0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3,
	0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65, 0x2de92c6f592b0275,
	0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
	0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f,
	0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
	0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc,
	0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
	0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6,
	0x92722c851482353b, 0xa2bfe8a14cf10364, 0xa81a664bbc423001,
	0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
	0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
	0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99,
	0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb,
	0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc,
	0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
	0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915,
	0xc67178f2e372532b, 0xca273eceea26619c, 0xd186b8c721c0c207,
	0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba,
	0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
	0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
	0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a,
	0x5fcb6fab3ad6faec, 0x6c44198c4a475817};

static const uint64_t IV512[8] = {
	0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b,
	0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f,
	0x1f83d9abfb41bd6b, 0x5be0cd19137e2179};

static const struct sha_alg SHA256 = {
	0, OG_U32, 32, 64, 64, {2, 13, 22}, {6, 11, 25}, {7, 18, 3},
	{17, 19, 10}, K256, IV256};
static const struct sha_alg SHA512 = {
	1, OG_U64, 64, 80, 128, {28, 34, 39}, {14, 18, 41}, {1, 8, 7},
	{19, 61, 6}, K512, IV512};

static og_t word(og_ctx *c, const struct sha_alg *a, uint64_t v)
{
	return a->wide ? og_u64(c, v) : og_u32(c, (uint32_t)v);
}

static og_t words(og_ctx *c, const struct sha_alg *a, const uint64_t *v)
{
	uint32_t w[3];

	if (a->wide)
		return og_u64s(c, 3, v);
	for (int i = 0; i < 3; i++)
		w[i] = (uint32_t)v[i];
	return og_u32s(c, 3, w);
}

/* r0 ^ r1 ^ r2 of x [N,1]: rotations by rot[i], or for a small sigma
 * (shift != 0) the last one a plain right shift. */
static og_t sigma(og_graph *g, const struct sha_alg *a, og_t x,
		  const int rot[3], int shift)
{
	og_ctx *c = og_graph_ctx(g);
	uint64_t sr[3], ml[3];
	og_t parts[3];

	for (int i = 0; i < 3; i++) {
		sr[i] = (uint64_t)rot[i];
		ml[i] = (uint64_t)1 << (a->bits - rot[i]);
	}
	if (shift)
		ml[2] = 0;
	og_t hi = og_shr(g, x, words(c, a, sr));
	og_t lo = og_mul(g, x, words(c, a, ml));
	og_split(g, og_or(g, hi, lo), 1, 3, 1, parts);
	return og_xor(g, og_xor(g, parts[0], parts[1]), parts[2]);
}

/* One compression: st[8] values [N,1], block [N,16] -> st updated. */
static void compress(og_graph *g, const struct sha_alg *a, og_t st[8],
		     og_t block)
{
	og_ctx *c = og_graph_ctx(g);
	og_t w[80], v[8];

	og_split(g, block, 1, 16, 1, w);
	for (int t = 16; t < a->rounds; t++) {
		og_t s0 = sigma(g, a, w[t - 15], a->s0, 1);
		og_t s1 = sigma(g, a, w[t - 2], a->s1, 1);

		w[t] = og_add(g, og_add(g, s1, w[t - 7]),
			      og_add(g, s0, w[t - 16]));
	}
	memcpy(v, st, sizeof(v));
	for (int t = 0; t < a->rounds; t++) {
		og_t S1 = sigma(g, a, v[4], a->S1, 0);
		og_t ch = og_xor(g, v[6], og_and(g, v[4], og_xor(g, v[5], v[6])));
		og_t kw = og_add(g, w[t], word(c, a, a->k[t]));
		og_t t1 = og_add(g, og_add(g, v[7], S1), og_add(g, ch, kw));
		og_t S0 = sigma(g, a, v[0], a->S0, 0);
		og_t maj = og_or(g, og_and(g, v[0], v[1]),
				 og_and(g, v[2], og_or(g, v[0], v[1])));
		og_t t2 = og_add(g, S0, maj);

		v[7] = v[6];
		v[6] = v[5];
		v[5] = v[4];
		v[4] = og_add(g, v[3], t1);
		v[3] = v[2];
		v[2] = v[1];
		v[1] = v[0];
		v[0] = og_add(g, t1, t2);
	}
	for (int i = 0; i < 8; i++)
		st[i] = og_add(g, st[i], v[i]);
}

og_t og_expand_batch(og_graph *g, og_t v, og_t like, int64_t k)
{
	og_ctx *c = og_graph_ctx(g);
	og_attr at = OG_AI("end", 1);
	og_t n = og_op(g, "Shape", OG_I64, 1, &like, 1, &at);
	og_t shp[2] = {n, og_i64s(c, 1, &k)};
	og_t in[2] = {v, og_concat(g, 0, 2, shp)};

	return og_op(g, "Expand", v ? v->type : 0, 2, in, 0, NULL);
}

static og_t blocks(og_graph *g, const struct sha_alg *a, og_t state,
		   og_t wds, int nblocks)
{
	og_ctx *c = og_graph_ctx(g);
	og_graph *body = og_sub(c, a->wide ? "sha512_block" : "sha256_block");
	og_t iter = og_input_scalar(body, OG_I64);
	og_t cond = og_input_scalar(body, OG_BOOL);
	og_t sin = og_input(body, a->type);
	og_t st[8], blk, sout;
	og_t in[3];
	og_attr at;

	og_split(body, sin, 1, 8, 1, st);
	blk = og_gather(body, wds, iter, 1);
	compress(body, a, st, blk);
	sout = og_concat(body, 1, 8, st);
	og_output(body, og_identity(body, cond));
	og_output(body, sout);

	in[0] = og_i64(c, nblocks);
	in[1] = og_ref(c, "", OG_BOOL);       /* no condition */
	in[2] = state;
	at = OG_AG("body", body);
	return og_op(g, "Loop", a->type, 3, in, 1, &at);
}

og_t og_sha256_blocks(og_graph *g, og_t state, og_t words, int nblocks)
{
	return blocks(g, &SHA256, state, words, nblocks);
}

og_t og_sha512_blocks(og_graph *g, og_t state, og_t words, int nblocks)
{
	return blocks(g, &SHA512, state, words, nblocks);
}

og_t og_sha_words(og_graph *g, og_t bytes, int64_t len, const uint8_t *prefix,
		  int64_t plen, int wide, int *nblocks)
{
	const struct sha_alg *a = wide ? &SHA512 : &SHA256;
	og_ctx *c = og_graph_ctx(g);
	int lenbytes = wide ? 16 : 8, wb = a->bits / 8;
	int64_t total = plen + len;
	int64_t nb = (total + 1 + lenbytes + a->block - 1) / a->block;
	int64_t padlen = nb * a->block - total;
	uint64_t *pad = og_alloc(c, (size_t)(padlen + plen) * sizeof(*pad));
	uint64_t wt[8];
	og_t parts[3];
	int np = 0;

	if (!pad)
		return NULL;
	for (int64_t i = 0; i < plen; i++)
		pad[i] = prefix[i];
	pad[plen] = 0x80;
	for (int i = 0; i < 8; i++)    /* bit length, big-endian */
		pad[plen + padlen - 1 - i] =
			(uint8_t)((uint64_t)total * 8 >> (8 * i));
	for (int k = 0; k < wb; k++)
		wt[k] = (uint64_t)1 << (8 * (wb - 1 - k));
	*nblocks = (int)nb;
	if (plen) {
		og_t pre = og_reshape(g, og_const_words(c, a->type, plen, pad),
				      2, (int64_t[]){1, plen});
		parts[np++] = og_expand_batch(g, pre, bytes, plen);
	}
	parts[np++] = bytes;
	og_t tail = og_reshape(g, og_const_words(c, a->type, padlen, pad + plen),
			       2, (int64_t[]){1, padlen});
	parts[np++] = og_expand_batch(g, tail, bytes, padlen);
	og_t msg = og_concat(g, 1, np, parts);
	og_t r = og_reshape(g, msg, 4, (int64_t[]){0, nb, 16, wb});
	int64_t wd[2] = {wb, 1};
	og_t wm = a->wide ? og_const(c, OG_U64, 2, wd, wt)
			  : og_const_words(c, OG_U32, wb, wt);
	if (!a->wide)
		wm = og_reshape(g, wm, 2, wd);
	return og_reshape(g, og_matmul(g, r, wm), 3, (int64_t[]){0, nb, 16});
}

og_t og_sha_bytes(og_graph *g, og_t state, int wide)
{
	og_ctx *c = og_graph_ctx(g);
	int wb = wide ? 8 : 4;
	uint64_t sh[8];

	for (int k = 0; k < wb; k++)
		sh[k] = (uint64_t)(8 * (wb - 1 - k));
	og_t s = og_unsqueeze(g, state, 2);
	og_t b = og_shr(g, s, og_const_words(c, wide ? OG_U64 : OG_U32, wb, sh));
	b = og_and(g, b, wide ? og_u64(c, 255) : og_u32(c, 255));
	return og_reshape(g, b, 2, (int64_t[]){0, 8 * wb});
}

og_t og_sha(og_graph *g, og_t bytes, int64_t len, const uint8_t *prefix,
	    int64_t plen, int wide)
{
	const struct sha_alg *a = wide ? &SHA512 : &SHA256;
	og_ctx *c = og_graph_ctx(g);
	int nb = 0;
	og_t w = og_sha_words(g, bytes, len, prefix, plen, wide, &nb);
	og_t iv = og_reshape(g, og_const_words(c, a->type, 8, a->iv), 2,
			     (int64_t[]){1, 8});
	og_t st = og_expand_batch(g, iv, bytes, 8);

	return og_sha_bytes(g, blocks(g, a, st, w, nb), wide);
}
