/*
 * sha.c — SHA-256 and SHA-512 (FIPS 180-4) as ONNX graph fragments.
 *
 * A batch of N messages of equal length is hashed at once: every tensor has
 * the batch as its first dimension, so one node does the work of N.
 *
 * Only opset-17 operators on float limbs (MatMul, Floor, Abs, Add, Sub,
 * Mul, Concat, Split, Gather, Mod): no Bitwise* (opset 18, unknown to
 * Debian's onnx 1.12 checker and to older runtimes), and float Mod only on
 * the state at the end of a block.  Both hashes run in float32 (it moves
 * half the bytes of float64, and ONNX Runtime's float32 MatMul is two to
 * four times faster): a word of B bits is L = B / 16 limbs of lw = 16
 * bits, most significant first, L = 2 for SHA-256 and L = 4 for SHA-512.
 * (SHA-512 in float64 with two 32-bit limbs took twice as long.)  A limb's
 * bits come from the floors f_j = floor(limb / 2^j), j = 0..lw (one MatMul
 * by powers 2^-j, one Floor): bit q = f_q - 2 f_(q+1), linear, so it is
 * folded into the next constant matrix.  The rotations and shifts of Σ0,
 * Σ1, σ0, σ1 are linear over GF(2): one MatMul gives y, half the sum of
 * the three source bits, and the parity is 2 y - 2 floor(y).  Ch and Maj
 * are polynomials in the 0/1 bits (see the rounds below).  Additions
 * modulo 2^B are plain float sums of limbs, each limb summed on its own:
 * only the low B bits of a word are ever read, and before a sum's bits are
 * taken its carries run up a chain, lowest limb first, L - 1 steps in
 * sequence (a carry out of a limb can depend on the one it received: a
 * limb whose low 16 bits are all ones passes it on).  Each step takes
 * floor(limb / 2^lw) on its own and adds it to the limb above as an
 * integer.  (Adding limb / 2^lw to a large limb and then removing its
 * fraction rounds in float32: it did, about 1 digest in 2,000 was wrong.)
 *
 * Exactness.  Every matrix entry is 0, +-1/2, +-1, +-2 or a power of two
 * from 2^-16 to 2^16; the other constants (K_t limbs plus a bias, the IV,
 * the padding) are integers below 2^17.  A round's limb sum a' = h + Σ1 + Ch + K + W + Σ0 + Maj has
 * seven terms below 2^16 (e' has six), so it is below 2^19; its MatMul
 * adds bits, parities and o terms that cancel, and every partial sum, in
 * any order, is bounded by the sum of the absolute values of the column's
 * terms: below 1.77 * 10^6 < 2^21 (computed from the matrix with bits <= 1,
 * half-sums <= 3/2, the |..| terms <= 3, the earlier words' limb values
 * < 2^16, K + W + bias < 3 * 2^16).  A
 * schedule sum σ1 + W + σ0 + W is below 2^18, the end of a block adds
 * three words to the state, below 2^19.  A carry is then below 2^3, a limb
 * with its carry below 2^19 + 2^3, the next carry again below 2^3.  So
 * every intermediate is an integer or half-integer of magnitude below 2^21,
 * or such a number times a power of two (the floors' products: one limb
 * times 2^-j; a carry step's product: one limb times 2^-16), which
 * float32's 24-bit significand holds exactly: the digest does not depend
 * on the order in which a runtime sums.
 *
 * Blocks are consumed by a Loop whose body is one compression function
 * (64 or 80 rounds, unrolled): the trip count is the number of blocks and
 * the only loop-carried value is the state [N, 8 L]; the message words
 * [N, blocks, 16 L] are read from the outer scope with Gather on the
 * iteration number.  The schedule makes two words a step (W_t and W_t+1
 * depend only on earlier words), 11 nodes (17 for SHA-512: the carry chain
 * is three steps of three nodes, not one); a round is 15 nodes (21).  A
 * SHA-256 block is about 1,250 nodes (the Bitwise design of opset 18
 * needed 2,400), a SHA-512 block 2,250.  Cost on large batches is bytes
 * moved and multiplied: the round's concatenation is 10B + 7L columns wide
 * (the earlier rounds' words enter as limb values, not bits), a schedule
 * step reads its words from the floors, not from bit columns, and K_t + W_t
 * is a Gather of columns, not a product by a selection matrix.
 */
#include "compile_internal.h"

#include <math.h>
#include <string.h>

struct sha_alg {
	int wide;                 /* 0: SHA-256, 1: SHA-512 */
	int type, bits, rounds, block;
	int S0[3], S1[3], s0[3], s1[3];   /* s0/s1: last entry is a shift */
	const uint64_t *k, *iv;
	int lw;                   /* limb width in bits (16) */
	int ft;                   /* the limbs' float type (float32) */
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
	{17, 19, 10}, K256, IV256, 16, OG_F32};
static const struct sha_alg SHA512 = {
	1, OG_U64, 64, 80, 128, {28, 34, 39}, {14, 18, 41}, {1, 8, 7},
	{19, 61, 6}, K512, IV512, 16, OG_F32};

/* ---- constant matrices ------------------------------------------------
 *
 * A word of B = lw L bits is L limbs of lw bits, most significant limb
 * first; bit k (0 = least significant) lies in limb li(k) at place
 * q(k) = k mod lw.  A "pair" is the two words of one round, a and e: 2B
 * bits, [a bits | e bits].  Numbers become bits in two nodes (to_f): one
 * MatMul by 2^-j and one Floor give f_j = floor(limb / 2^j), and bit q =
 * f_q - 2 f_(q+1), a linear function of the floors, is folded into the
 * constant matrix of the next MatMul (as is a limb's value mod 2^lw,
 * f_0 - 2^lw f_lw).  Every entry of every matrix is 0, +-1/2 or +- a
 * power of two; every sum is of integers or half-integers below 2^21,
 * except the floors' and the carries' MatMuls, whose outputs are one limb
 * times 2^-j: all of it is exact in float32 (see the top comment). */

/* x mod m on float limbs (Mod needs fmod = 1 for floats) */
static og_t fmod_(og_graph *g, og_t x, og_t m)
{
	og_t in[2] = {x, m};
	og_attr at = OG_AI("fmod", 1);

	return og_op(g, "Mod", x ? x->type : 0, 2, in, 1, &at);
}

static int nlimbs(const struct sha_alg *a)
{
	return a->bits / a->lw;
}

static int fw(const struct sha_alg *a)       /* floors per limb */
{
	return a->lw + 1;
}

static double p2(int e)
{
	return ldexp(1.0, e);
}

static og_t fconst(og_ctx *c, const struct sha_alg *a, int ndim,
		   const int64_t *dims, const double *v)
{
	size_t n = 1;
	float *f;

	if (!v)
		return NULL;
	if (a->ft == OG_F64)
		return og_const(c, OG_F64, ndim, dims, v);
	for (int i = 0; i < ndim; i++)
		n *= (size_t)dims[i];
	f = og_alloc(c, n * sizeof(*f));
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		f[i] = (float)v[i];
	return og_const(c, OG_F32, ndim, dims, f);
}

static og_t fscalar(og_ctx *c, const struct sha_alg *a, double v)
{
	return fconst(c, a, 0, NULL, &v);
}

struct mat {
	const struct sha_alg *a;
	int rows, cols;
	double *v;
};

static struct mat mat_new(og_ctx *c, const struct sha_alg *a, int rows,
			  int cols)
{
	struct mat m = {a, rows, cols, og_alloc(c, (size_t)rows *
						   (size_t)cols *
						   sizeof(double))};
	return m;
}

static void mat_add(struct mat *m, int r, int col, double v)
{
	if (m->v)
		m->v[(size_t)r * (size_t)m->cols + (size_t)col] += v;
}

static og_t mat_const(og_ctx *c, const struct mat *m)
{
	int64_t d[2] = {m->rows, m->cols};

	return m->v ? fconst(c, m->a, 2, d, m->v) : NULL;
}

static int li(const struct sha_alg *a, int k)
{
	return nlimbs(a) - 1 - k / a->lw;
}

static double wt(const struct sha_alg *a, int k)
{
	return p2(k % a->lw);
}

/* Rows at row0 of m are the floors f of one word (fw(a) per limb): bit k of
 * the word into column col, times v. */
static void put_bit(struct mat *m, const struct sha_alg *a, int row0,
		    int col, int k, double v)
{
	int r = row0 + li(a, k) * fw(a) + k % a->lw;

	mat_add(m, r, col, v);
	mat_add(m, r + 1, col, -2 * v);
}

/* Source bits of bit k of ROTR(x, n) (rot) or SHR(x, n): -1 for none. */
static int src(const struct sha_alg *a, int k, int n, int rot)
{
	int B = a->bits;

	if (rot)
		return (k + n) % B;
	return k + n < B ? k + n : -1;
}

/* bit k of Σ/σ with the three amounts am (small: the last is a shift) */
static void put_sigma(struct mat *m, const struct sha_alg *a, int row0,
		      int col, int k, const int am[3], int small)
{
	for (int i = 0; i < 3; i++) {
		int j = src(a, k, am[i], !(small && i == 2));

		if (j >= 0)
			put_bit(m, a, row0, col, j, 0.5);
	}
}

/* t + the carry out of limb k of each of n words into limb k - 1 (limbs
 * most significant first): floor(t_k / 2^lw) by one MatMul (a single
 * 2^-lw in each column, so the product is exact) and one Floor, then one
 * integer sum.  Taking the floor before the sum matters: adding t_k / 2^lw
 * to a large limb and then removing the fraction rounds in float32 (it
 * did: about 1 digest in 2,000 was wrong). */
static og_t carry_step(og_graph *g, const struct sha_alg *a, og_t t, int n,
		       int k)
{
	og_ctx *c = og_graph_ctx(g);
	int L = nlimbs(a), nl = n * L;
	struct mat e = mat_new(c, a, nl, nl);

	for (int w = 0; w < n; w++)
		mat_add(&e, w * L + k, w * L + k - 1, p2(-a->lw));
	return og_add(g, t, og_un(g, "Floor", og_matmul(g, t, mat_const(c,
									 &e))));
}

/* The carry chain of n words [N, n L], lowest limb first: afterwards every
 * limb but the most significant is below 2^lw, which may exceed it (only
 * the low B bits of a word are ever read).  L - 1 steps in sequence: the
 * carry out of a limb depends on the one it received. */
static og_t carry_chain(og_graph *g, const struct sha_alg *a, og_t t, int n)
{
	for (int k = nlimbs(a) - 1; k >= 1; k--)
		t = carry_step(g, a, t, n, k);
	return t;
}

/* Floors f of n words from limb sums s [N, n L]: f = floor(limb / 2^j),
 * j = 0..lw, so that bit k = f_q - 2 f_(q+1) (only the low B bits of a
 * word count; a limb may exceed 2^lw and then carries into the one above
 * unless normalised).  -> [N, n L fw(a)] */
static og_t to_f(og_graph *g, const struct sha_alg *a, og_t s, int n,
		 int normalised)
{
	og_ctx *c = og_graph_ctx(g);
	int nl = n * nlimbs(a);
	struct mat rep = mat_new(c, a, nl, nl * fw(a));

	for (int x = 0; x < nl; x++)
		for (int j = 0; j < fw(a); j++)
			mat_add(&rep, x, x * fw(a) + j, p2(-j));
	if (!normalised)
		s = carry_chain(g, a, s, n);
	return og_un(g, "Floor", og_matmul(g, s, mat_const(c, &rep)));
}

/* The constant per limb that the rounds' o terms leave (the sum of w o / 2
 * over the Ch bits, o = 2), added to K_t: see the rounds below. */
#define ROUND_BIAS (p2(a->lw) - 1)

/* ---- the message schedule -------------------------------------------- */

/* Features per word j: the limbs of W_j, σ0(W_j), σ1(W_j), as columns of
 * one growing [N, F] tensor (-1: not computed). */
struct sched {
	int w[80][4], s0[80][4], s1[80][4];   /* L <= 4 */
	int nf;
};

/* K_t + W_t for every round from the block [N, 16 L]: [N, rounds L]. */
static og_t schedule(og_graph *g, const struct sha_alg *a, og_t blk)
{
	og_ctx *c = og_graph_ctx(g);
	int B = a->bits, L = nlimbs(a), T = a->rounds;
	struct sched *f = og_alloc(c, sizeof(*f));
	struct mat m, pw;

	if (!f)
		return NULL;
	/* the 16 words: their σ0 and σ1 */
	/* y: half the sums of the three bits of each σ bit; its parity is
	 * 2 y - 2 floor(y).  The same matrices for every word: [N, 16, .] */
	m = mat_new(c, a, L * fw(a), 2 * B);
	pw = mat_new(c, a, 4 * B, 2 * L);
	for (int k = 0; k < B; k++) {
		put_sigma(&m, a, 0, k, k, a->s0, 1);
		put_sigma(&m, a, 0, B + k, k, a->s1, 1);
		for (int x = 0; x < 2; x++) {
			int col = x * L + li(a, k);

			mat_add(&pw, x * B + k, col, 2 * wt(a, k));
			mat_add(&pw, 2 * B + x * B + k, col, -2 * wt(a, k));
		}
	}
	og_t f16 = to_f(g, a, og_reshape(g, blk, 3, (int64_t[]){0, 16, L}), 1,
			1);
	og_t y = og_matmul(g, f16, mat_const(c, &m));
	og_t yh = og_concat(g, 2, 2, (og_t[]){y, og_un(g, "Floor", y)});
	og_t sg = og_reshape(g, og_matmul(g, yh, mat_const(c, &pw)), 2,
			     (int64_t[]){0, 32 * L});
	og_t F = og_concat(g, 1, 2, (og_t[]){blk, sg});
	for (int j = 0; j < 16; j++)
		for (int l = 0; l < L; l++) {
			f->w[j][l] = j * L + l;
			f->s0[j][l] = 16 * L + j * 2 * L + l;
			f->s1[j][l] = 16 * L + j * 2 * L + L + l;
		}
	f->nf = 48 * L;
	/* two words a step: W_t and W_t+1 depend on words before t only */
	for (int t = 16; t < T; t += 2) {
		struct mat sel = mat_new(c, a, f->nf, 2 * L);
		struct mat dw = mat_new(c, a, 2 * L * fw(a), 4 * B);
		struct mat p3 = mat_new(c, a, 2 * L * fw(a) + 8 * B, 6 * L);
		int pf = 2 * L * fw(a);          /* where yy starts in [f, yy, ⌊yy⌋] */

		for (int i = 0; i < 2; i++)
			for (int l = 0; l < L; l++) {
				int col = i * L + l, u = t + i, r = col * fw(a);

				mat_add(&sel, f->s1[u - 2][l], col, 1);
				mat_add(&sel, f->w[u - 7][l], col, 1);
				mat_add(&sel, f->s0[u - 15][l], col, 1);
				mat_add(&sel, f->w[u - 16][l], col, 1);
				/* the word's limb mod 2^lw is f_0 - 2^lw f_lw: read
				 * from the floors, no bit columns needed */
				mat_add(&p3, r, i * 3 * L + l, 1);
				mat_add(&p3, r + a->lw, i * 3 * L + l, -p2(a->lw));
			}
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < B; k++) {
				int o = i * 2 * B;

				put_sigma(&dw, a, i * L * fw(a), o + k, k, a->s0, 1);
				put_sigma(&dw, a, i * L * fw(a), o + B + k, k, a->s1,
					  1);
				for (int x = 1; x < 3; x++) {
					int col = i * 3 * L + x * L + li(a, k);
					int r = o + (x - 1) * B + k;

					mat_add(&p3, pf + r, col, 2 * wt(a, k));
					mat_add(&p3, pf + 4 * B + r, col, -2 * wt(a, k));
				}
			}
		og_t sw = og_matmul(g, F, mat_const(c, &sel));
		og_t fl = to_f(g, a, sw, 2, 0);
		og_t yy = og_matmul(g, fl, mat_const(c, &dw));
		og_t yyh = og_concat(g, 1, 3, (og_t[]){fl, yy, og_un(g, "Floor",
								      yy)});
		F = og_concat(g, 1, 2, (og_t[]){F, og_matmul(g, yyh,
							mat_const(c, &p3))});
		for (int i = 0; i < 2; i++)
			for (int l = 0; l < L; l++) {
				int o = f->nf + i * 3 * L;

				f->w[t + i][l] = o + l;
				f->s0[t + i][l] = o + L + l;
				f->s1[t + i][l] = o + 2 * L + l;
			}
		f->nf += 6 * L;
	}
	/* K_t + W_t: the words' columns gathered (a selection, not a product:
	 * the selection matrix would be [F, rounds L], 1.2 MB for SHA-512) */
	double *k = og_alloc(c, (size_t)(T * L) * sizeof(double));
	int64_t *wi = og_alloc(c, (size_t)(T * L) * sizeof(int64_t));
	int64_t kd = T * L;

	if (!k || !wi)
		return NULL;
	for (int t = 0; t < T; t++)
		for (int l = 0; l < L; l++) {
			wi[t * L + l] = f->w[t][l];
			k[t * L + l] = (double)((a->k[t] >> (a->lw * (L - 1 - l))) &
						((UINT64_C(1) << a->lw) - 1)) +
				       ROUND_BIAS;
		}
	return og_add(g, og_gather(g, F, og_i64s(c, T * L, wi), 1),
		      fconst(c, a, 1, &kd, k));
}

/* ---- the rounds ------------------------------------------------------
 *
 * Round t works on the pair X_t = [a_t | e_t] (bits, a 0/1 float32
 * vector, 2B wide), its limb values V_t = [a_t limbs | e_t limbs] (2L
 * wide, normalised: f_0 - 2^lw f_lw of the floors) and z_t = [z0 | z1],
 * 2B wide, the half-sums of the three bits of each bit of Σ0(a_t) and
 * Σ1(e_t), so that the Σ bit is 2 z - 2 floor(z); Z_t = floor(z_t).  The
 * three are three products of the floors (not one product split: ORT's
 * Split copies, and only z needs a Floor).  b, c, d are the a of the
 * rounds before, f, g, h their e.  The non-linear functions, both halves
 * at once:
 *   u_t = [|b - c| | f - g] = |X_(t-1) - X_(t-2) + o| - o,  o = [0 | 2]
 *   2 [Maj | Ch] = X_(t-1) + X_(t-2) + u_t (2 X_t - 1)
 * (b = c: Maj = b; b != c: Maj = a; e = 1: Ch = f; e = 0: Ch = g).  The
 * limb sums of the next pair,
 *   a' = h + Σ1(e) + Ch + K_t + W_t + Σ0(a) + Maj,  e' = d + h + Σ1 + Ch + KW,
 * are one MatMul of the concatenation
 *   [X_t, z_t, Z_t, |..|_t X_t, V_(t-1), V_(t-2), V_(t-3), |..|_t, KW_t]
 * (the constant o terms go into K_t): the terms linear in the words of
 * earlier rounds (X_(t-1) / 2 + X_(t-2) / 2 and d, h) read their limb
 * values, 2L columns, not their 2B bits.  The next round's X, z, V are the
 * floors of the limb sums (after the carry chain: one MatMul, one Floor)
 * times three constant matrices, none of it a float Mod or Pow (per
 * element those cost as much as the node itself).  The concatenation and
 * the product (most of a round's time on large batches) are 10B + 7L
 * columns wide (28B + L if every term read its own bits, 16B + L with
 * bits of the earlier rounds). */
enum { P_X, P_ZH, P_Z, P_UX, P_V1, P_V2, P_V3, P_U, P_KW, P_N };

/* where piece p of the round's concatenation starts, and its width */
static int piece(const struct sha_alg *a, int p, int *width)
{
	int B = a->bits, L = nlimbs(a), o = 0;
	int wd[P_N] = {2 * B, 2 * B, 2 * B, 2 * B, 2 * L, 2 * L, 2 * L, 2 * B,
		       L};

	for (int i = 0; i < p; i++)
		o += wd[i];
	if (width)
		*width = p < P_N ? wd[p] : 0;
	return o;
}

static og_t round_w(og_ctx *c, const struct sha_alg *a)
{
	int B = a->bits, L = nlimbs(a);
	int Xo = piece(a, P_X, NULL), Zh = piece(a, P_ZH, NULL);
	int Z = piece(a, P_Z, NULL);
	int UX = piece(a, P_UX, NULL), U = piece(a, P_U, NULL);
	int V1 = piece(a, P_V1, NULL), V2 = piece(a, P_V2, NULL);
	int V3 = piece(a, P_V3, NULL), KW = piece(a, P_KW, NULL);
	struct mat m = mat_new(c, a, piece(a, P_N, NULL), 2 * L);

	for (int k = 0; k < B; k++) {
		int l = li(a, k), ca = l, ce = L + l;
		double w = wt(a, k);

		/* Σ0(a) to a', Σ1(e) to a' and e': 2 z - 2 floor(z) */
		mat_add(&m, Zh + k, ca, 2 * w);
		mat_add(&m, Z + k, ca, -2 * w);
		mat_add(&m, Zh + B + k, ca, 2 * w);
		mat_add(&m, Z + B + k, ca, -2 * w);
		mat_add(&m, Zh + B + k, ce, 2 * w);
		mat_add(&m, Z + B + k, ce, -2 * w);
		/* Maj (at k) to a', Ch (at B + k) to a' and e':
		 * X1/2 + X2/2 + v X - o X - v/2 (+ o/2 in the bias); the X1/2
		 * and X2/2 terms from the limb values below */
		for (int x = 0; x < 3; x++) {
			int p = x ? B + k : k, cc = x == 2 ? ce : ca;
			double o = x ? 2 : 0;

			mat_add(&m, UX + p, cc, w);
			mat_add(&m, Xo + p, cc, -o * w);
			mat_add(&m, U + p, cc, -w / 2);
		}
	}
	for (int l = 0; l < L; l++) {
		int ca = l, ce = L + l;

		/* (b + c) / 2 to a' (Maj), (f + g) / 2 to a' and e' (Ch) */
		mat_add(&m, V1 + l, ca, 0.5);
		mat_add(&m, V2 + l, ca, 0.5);
		mat_add(&m, V1 + L + l, ca, 0.5);
		mat_add(&m, V2 + L + l, ca, 0.5);
		mat_add(&m, V1 + L + l, ce, 0.5);
		mat_add(&m, V2 + L + l, ce, 0.5);
		mat_add(&m, V3 + L + l, ca, 1);                   /* h */
		mat_add(&m, V3 + L + l, ce, 1);
		mat_add(&m, V3 + l, ce, 1);                       /* d */
		mat_add(&m, KW + l, ca, 1);
		mat_add(&m, KW + l, ce, 1);
	}
	return mat_const(c, &m);
}

/* floors of a pair -> its bits X [N, 2B], the half-sums z of its Σ bits
 * [N, 2B] and its limb values mod 2^lw, f_0 - 2^lw f_lw, V [N, 2L]: three
 * products, so that only z is floored and nothing is split */
static void pair_y(og_graph *g, const struct sha_alg *a, og_t f, og_t out[3])
{
	og_ctx *c = og_graph_ctx(g);
	int B = a->bits, L = nlimbs(a);
	struct mat mx = mat_new(c, a, 2 * L * fw(a), 2 * B);
	struct mat mz = mat_new(c, a, 2 * L * fw(a), 2 * B);
	struct mat mv = mat_new(c, a, 2 * L * fw(a), 2 * L);

	for (int k = 0; k < B; k++) {
		put_bit(&mx, a, 0, k, k, 1);
		put_bit(&mx, a, L * fw(a), B + k, k, 1);
		put_sigma(&mz, a, 0, k, k, a->S0, 0);
		put_sigma(&mz, a, L * fw(a), B + k, k, a->S1, 0);
	}
	for (int x = 0; x < 2 * L; x++) {
		mat_add(&mv, x * fw(a), x, 1);
		mat_add(&mv, x * fw(a) + a->lw, x, -p2(a->lw));
	}
	out[0] = og_matmul(g, f, mat_const(c, &mx));
	out[1] = og_matmul(g, f, mat_const(c, &mz));
	out[2] = og_matmul(g, f, mat_const(c, &mv));
}

/* |X1 - X2 + o| */
static og_t abs_u(og_graph *g, const struct sha_alg *a, og_t x1, og_t x2)
{
	og_ctx *c = og_graph_ctx(g);
	int B = a->bits;
	double *e = og_alloc(c, (size_t)(2 * B) * sizeof(double));
	int64_t d = 2 * B;

	if (!e)
		return NULL;
	for (int i = 0; i < 2 * B; i++)
		e[i] = i >= B ? 2 : 0;
	return og_un(g, "Abs", og_add(g, og_sub_(g, x1, x2),
				      fconst(c, a, 1, &d, e)));
}

/* One compression: state [N, 8L] (normalised limbs), block [N, 16L] ->
 * the new state. */
static og_t compress(og_graph *g, const struct sha_alg *a, og_t st,
		     og_t block)
{
	og_ctx *c = og_graph_ctx(g);
	int L = nlimbs(a), T = a->rounds;
	og_t xt[80 + 3], vt[80 + 3], kw[80], y[3];
	og_t *X = xt + 3, *V = vt + 3;          /* X[-3 .. T-1], V likewise */
	og_t W = round_w(c, a);

	og_split(g, schedule(g, a, block), 1, T, L, kw);
	/* X, z, V of the pairs (a, e), (b, f), (c, g), (d, h) at once:
	 * [N, 4, .]; the Σ halves of the last three are never read */
	int64_t perm[32];
	for (int p = 0; p < 4; p++)
		for (int h = 0; h < 2; h++)
			for (int l = 0; l < L; l++)
				perm[(p * 2 + h) * L + l] = (h * 4 + p) * L + l;
	og_t pairs = og_reshape(g, og_gather(g, st, og_i64s(c, 8 * L, perm), 1),
				3, (int64_t[]){0, 4, 2 * L});
	pair_y(g, a, to_f(g, a, pairs, 2, 1), y);
	for (int p = 1; p < 4; p++) {
		X[-p] = og_gather(g, y[0], og_i64(c, p), 1);
		V[-p] = og_gather(g, y[2], og_i64(c, p), 1);
	}
	X[0] = og_gather(g, y[0], og_i64(c, 0), 1);
	V[0] = og_gather(g, y[2], og_i64(c, 0), 1);
	og_t z = og_gather(g, y[1], og_i64(c, 0), 1);
	og_t s = NULL;
	og_t u = abs_u(g, a, X[-1], X[-2]);
	for (int t = 0; t < T; t++) {
		if (t) {
			pair_y(g, a, to_f(g, a, s, 2, 0), y);
			X[t] = y[0];
			z = y[1];
			V[t] = y[2];
		}
		og_t un = t + 1 < T ? abs_u(g, a, X[t], X[t - 1]) : NULL;
		og_t cat[P_N] = {X[t], z, og_un(g, "Floor", z),
				 og_mul(g, u, X[t]), V[t - 1], V[t - 2], V[t - 3], u,
				 kw[t]};
		s = og_matmul(g, og_concat(g, 1, P_N, cat), W);
		u = un;
	}
	/* new state: st + [a_T, a_T-1, a_T-2, a_T-3, e_T, ...], the words
	 * before the last as their limb values */
	struct mat fin = mat_new(c, a, 8 * L + 2 * L + 3 * 2 * L, 8 * L);
	for (int i = 0; i < 8 * L; i++)
		mat_add(&fin, i, i, 1);
	for (int h = 0; h < 2; h++)
		for (int l = 0; l < L; l++) {
			mat_add(&fin, 8 * L + h * L + l, h * 4 * L + l, 1);
			for (int p = 0; p < 3; p++)
				mat_add(&fin, 10 * L + p * 2 * L + h * L + l,
					(h * 4 + p + 1) * L + l, 1);
		}
	og_t cat[5] = {st, s, V[T - 1], V[T - 2], V[T - 3]};
	og_t n = og_matmul(g, og_concat(g, 1, 5, cat), mat_const(c, &fin));
	og_t twolw = fscalar(c, a, p2(a->lw));
	n = carry_chain(g, a, n, 8);
	return fmod_(g, n, twolw);
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
	og_t sin = og_input(body, a->ft);
	og_t in[3];
	og_attr at;

	og_t blk = og_gather(body, wds, iter, 1);
	og_t sout = compress(body, a, sin, blk);
	og_output(body, og_identity(body, cond));
	og_output(body, sout);

	in[0] = og_i64(c, nblocks);
	in[1] = og_ref(c, "", OG_BOOL);       /* no condition */
	in[2] = state;
	at = OG_AG("body", body);
	return og_op(g, "Loop", a->ft, 3, in, 1, &at);
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
	int lenbytes = wide ? 16 : 8, L = nlimbs(a);
	int64_t total = plen + len;
	int64_t nb = (total + 1 + lenbytes + a->block - 1) / a->block;
	int64_t padlen = nb * a->block - total;
	uint64_t *pad = og_alloc(c, (size_t)(padlen + plen) * sizeof(*pad));
	int bpl = a->lw / 8;                /* bytes per limb */
	double wb[4];
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
	*nblocks = (int)nb;
	for (int i = 0; i < bpl; i++)
		wb[i] = p2(8 * (bpl - 1 - i));
	if (bytes && bytes->type != a->ft)
		bytes = og_cast(g, bytes, a->ft);
	if (plen) {
		og_t pre = og_reshape(g, og_const_words(c, a->ft, plen, pad),
				      2, (int64_t[]){1, plen});
		parts[np++] = og_expand_batch(g, pre, bytes, plen);
	}
	parts[np++] = bytes;
	og_t tail = og_reshape(g, og_const_words(c, a->ft, padlen, pad + plen),
			       2, (int64_t[]){1, padlen});
	parts[np++] = og_expand_batch(g, tail, bytes, padlen);
	og_t msg = og_concat(g, 1, np, parts);
	og_t r = og_reshape(g, msg, 4, (int64_t[]){0, nb, 16 * L, bpl});
	og_t wm = fconst(c, a, 2, (int64_t[]){bpl, 1}, wb);
	return og_reshape(g, og_matmul(g, r, wm), 3,
			  (int64_t[]){0, nb, 16 * L});
}

og_t og_sha_bytes(og_graph *g, og_t state, int wide)
{
	const struct sha_alg *a = wide ? &SHA512 : &SHA256;
	og_ctx *c = og_graph_ctx(g);
	int bpl = a->lw / 8;
	double sh[4];

	for (int i = 0; i < bpl; i++)
		sh[i] = p2(-8 * (bpl - 1 - i));
	og_t s = og_unsqueeze(g, state, 2);
	og_t b = og_un(g, "Floor", og_mul(g, s, fconst(c, a, 1,
					       (int64_t[]){bpl}, sh)));
	b = fmod_(g, b, fscalar(c, a, 256));
	return og_reshape(g, b, 2, (int64_t[]){0, a->bits});
}

og_t og_sha(og_graph *g, og_t bytes, int64_t len, const uint8_t *prefix,
	    int64_t plen, int wide)
{
	const struct sha_alg *a = wide ? &SHA512 : &SHA256;
	og_ctx *c = og_graph_ctx(g);
	int nb = 0, L = nlimbs(a), type = bytes ? bytes->type : 0;
	uint64_t iv[32];
	og_t w = og_sha_words(g, bytes, len, prefix, plen, wide, &nb);

	for (int i = 0; i < 8; i++)
		for (int l = 0; l < L; l++)
			iv[i * L + l] = (a->iv[i] >> (a->lw * (L - 1 - l))) &
					((UINT64_C(1) << a->lw) - 1);
	og_t ivc = og_reshape(g, og_const_words(c, a->ft, 8 * L, iv), 2,
			      (int64_t[]){1, 8 * L});
	og_t st = og_expand_batch(g, ivc, bytes, 8 * L);
	og_t d = og_sha_bytes(g, blocks(g, a, st, w, nb), wide);

	return type == a->ft ? d : og_cast(g, d, type);
}
