/*
 * ed25519.c — Ed25519 verification (RFC 8032, decided as OpenSSL decides it)
 * as an ONNX graph fragment, for one public key A fixed when the model is
 * compiled.
 *
 * OpenSSL accepts a signature R || S of a message when S < L and the
 * canonical encoding of [S]B + [h](-A) equals the 32 bytes R, where h is
 * SHA-512(R || A || m) read little-endian.  The graph computes exactly that:
 *
 * Field elements mod p = 2^255 - 19 are 17 float64 limbs of 15 bits
 * (value = sum l[i] 2^(15 i)), tensors [N, k, 17].  A product is an outer
 * product (Mul of [..,17,1] by [..,1,17]), reshaped to 289 columns and
 * multiplied by one constant [289, 17] matrix that adds l[i] m[j] into limb
 * i + j, or 19 times into limb i + j - 17 (2^255 = 19 mod p).  Then two
 * parallel carry passes, c = Floor(x / 2^15), x += c @ C (C moves c[i] to
 * limb i+1, c[16] to limb 0 times 19), bring every limb back within
 * 1.1 * 2^15 (fe_carry2 derives the bound).  Every intermediate is an
 * integer below 2^41, so float64 is exact whatever order MatMul sums in;
 * ORT's float64 MatMul is fast where int64 MatMul is not.
 *
 * Points are extended coordinates (X, Y, Z, T), [N, n, 68].  Addition is
 * add-2008-hwcd-3 (complete for a = -1 and non-square d, so the identity
 * and doublings need no special case): two rounds of four products each,
 * stacked into one fe_mul, and the linear steps between them (Y-X, Y+X,
 * the E/F/G/H combinations, multiplying by the constant 2d) are each one
 * [68, 68] MatMul.
 *
 * Fixed-base tables, computed here in C with OpenSSL's BIGNUM: window t
 * (6 bits) holds d 64^t B, d = 0..64, for the 43 windows of S, and
 * d 64^t (-A) for the 47 windows of h' = sum h_i (256^i mod L), which one
 * MatMul and four parallel carry passes turn into digits 0..64 (h_digits);
 * h' is h plus a multiple of L, so the key must have prime order L
 * (ed_key_check).  The 90 selected points are summed in a tree.  Entries
 * of even windows are stored as (Y-X, Y+X, T, Z), of odd windows as
 * (Y-X, Y+X, 2dT, 2Z), so the first level adds pairs without converting.
 * The table is float32 (15-bit limbs are exact) and cast after the Gather.
 *
 * Encoding R' = (X/Z, Y/Z): Z^(p-2) by the usual chain (runs of squarings
 * in Loops of five), one product, a sequential carry chain to canonical
 * limbs, one conditional subtraction of p; then y's limbs and x's parity
 * are compared with R's bits.  S < L: the sign of each byte of S - L,
 * weighted by 3^i (each outweighs all lower bytes together), is negative.
 */
#include "compile_internal.h"

#include <openssl/bn.h>
#include <string.h>

#define NL 17                      /* limbs */
#define NP (4 * NL)                /* a point */
#define WBITS 6                    /* window width */
#define ENT 65                     /* entries per window: digits 0..64 */
#define WIN_S 43                   /* 6-bit windows of S (< 2^253) */
#define WIN_H 47                   /* of h' (< 2^273, see h_digits) */
#define WIN (WIN_S + WIN_H)
#define WIN_B 44                   /* several keys: S's windows, padded even */
#define NA 275                     /* several keys: binary digits of h' */
#define RADIX 32768.0

/* ---- C side: the curve over BIGNUM ----------------------------------- */

typedef struct ed_bn {
	BN_CTX *bn;
	BIGNUM *p, *d, *d2, *l;
} ed_bn;

typedef struct ed_aff {
	BIGNUM *x, *y;
} ed_aff;

static const char ED_L[] = "723700557733226221397318656304299424085711635937"
			   "9907606001950938285454250989";
static const char ED_BX[] = "151122213495354007725011514095885315114540126930"
			    "41857206046113283949847762202";
static const char ED_BY[] = "463168356949264781694283940034751631413079938662"
			    "56225615783033603165251855960";

static void ed_bn_free(ed_bn *e)
{
	BN_free(e->p);
	BN_free(e->d);
	BN_free(e->d2);
	BN_free(e->l);
	BN_CTX_free(e->bn);
}

static bool ed_bn_init(ed_bn *e)
{
	BIGNUM *t = NULL;
	bool ok;

	memset(e, 0, sizeof(*e));
	e->bn = BN_CTX_new();
	e->p = BN_new();
	e->d = BN_new();
	e->d2 = BN_new();
	e->l = NULL;
	t = BN_new();
	ok = e->bn && e->p && e->d && e->d2 && t &&
	     BN_set_bit(e->p, 255) && BN_sub_word(e->p, 19) &&
	     BN_dec2bn(&e->l, ED_L) &&
	     /* d = -121665 / 121666 */
	     BN_set_word(t, 121666) &&
	     BN_mod_inverse(e->d, t, e->p, e->bn) &&
	     BN_mul_word(e->d, 121665) &&
	     BN_mod_sub(e->d, e->p, e->d, e->p, e->bn) &&
	     BN_mod_add(e->d2, e->d, e->d, e->p, e->bn);
	BN_free(t);
	return ok;
}

static bool ed_aff_new(ed_aff *a)
{
	a->x = BN_new();
	a->y = BN_new();
	return a->x && a->y;
}

static void ed_aff_free(ed_aff *a)
{
	BN_free(a->x);
	BN_free(a->y);
}

static bool ed_aff_set(ed_aff *r, const ed_aff *a)
{
	return BN_copy(r->x, a->x) && BN_copy(r->y, a->y);
}

/* r = a + b, affine: x3 = (x1y2 + y1x2)/(1 + t), y3 = (y1y2 + x1x2)/(1 - t),
 * t = d x1 x2 y1 y2.  r may alias a or b. */
static bool ed_aff_add(ed_bn *e, ed_aff *r, const ed_aff *a, const ed_aff *b)
{
	BIGNUM *xy, *yx, *yy, *xx, *t, *u, *v;
	bool ok;

	BN_CTX_start(e->bn);
	xy = BN_CTX_get(e->bn);
	yx = BN_CTX_get(e->bn);
	yy = BN_CTX_get(e->bn);
	xx = BN_CTX_get(e->bn);
	t = BN_CTX_get(e->bn);
	u = BN_CTX_get(e->bn);
	v = BN_CTX_get(e->bn);
	ok = v && BN_mod_mul(xy, a->x, b->y, e->p, e->bn) &&
	     BN_mod_mul(yx, a->y, b->x, e->p, e->bn) &&
	     BN_mod_mul(yy, a->y, b->y, e->p, e->bn) &&
	     BN_mod_mul(xx, a->x, b->x, e->p, e->bn) &&
	     BN_mod_mul(t, xx, yy, e->p, e->bn) &&
	     BN_mod_mul(t, t, e->d, e->p, e->bn) &&
	     BN_one(u) && BN_mod_add(u, u, t, e->p, e->bn) &&   /* 1 + t */
	     BN_one(v) && BN_mod_sub(v, v, t, e->p, e->bn) &&   /* 1 - t */
	     BN_mod_inverse(u, u, e->p, e->bn) &&
	     BN_mod_inverse(v, v, e->p, e->bn) &&
	     BN_mod_add(xy, xy, yx, e->p, e->bn) &&
	     BN_mod_add(yy, yy, xx, e->p, e->bn) &&
	     BN_mod_mul(r->x, xy, u, e->p, e->bn) &&
	     BN_mod_mul(r->y, yy, v, e->p, e->bn);
	BN_CTX_end(e->bn);
	return ok;
}

/* r = k a (double and add; k >= 0). */
static bool ed_aff_mul(ed_bn *e, ed_aff *r, const BIGNUM *k, const ed_aff *a)
{
	ed_aff acc = {0};
	bool ok = ed_aff_new(&acc) && BN_set_word(acc.x, 0) && BN_one(acc.y);

	for (int i = BN_num_bits(k) - 1; ok && i >= 0; i--) {
		ok = ed_aff_add(e, &acc, &acc, &acc);
		if (ok && BN_is_bit_set(k, i))
			ok = ed_aff_add(e, &acc, &acc, a);
	}
	ok = ok && ed_aff_set(r, &acc);
	ed_aff_free(&acc);
	return ok;
}

static bool ed_is_identity(const ed_aff *a)
{
	return BN_is_zero(a->x) && BN_is_one(a->y);
}

/* Decode a 32-byte public key as RFC 8032 5.1.3; canonical y only. */
static cbd_status ed_decode(ed_bn *e, const uint8_t pk[32], ed_aff *a,
			    cbd_err *err)
{
	uint8_t be[32];
	int sign = pk[31] >> 7;
	BIGNUM *u, *v, *w;
	cbd_status st = CBD_E_CRYPTO;

	for (int i = 0; i < 32; i++)
		be[i] = pk[31 - i];
	be[0] &= 0x7f;
	BN_CTX_start(e->bn);
	u = BN_CTX_get(e->bn);
	v = BN_CTX_get(e->bn);
	w = BN_CTX_get(e->bn);
	if (!w || !BN_bin2bn(be, 32, a->y))
		goto out;
	if (BN_cmp(a->y, e->p) >= 0) {
		st = cbd_err_set(err, CBD_E_FORMAT, "Ed25519 public key: "
				 "non-canonical y coordinate");
		goto out;
	}
	/* x^2 = (y^2 - 1) / (d y^2 + 1) */
	if (!BN_mod_sqr(u, a->y, e->p, e->bn) ||
	    !BN_mod_mul(v, u, e->d, e->p, e->bn) ||
	    !BN_add_word(v, 1) || !BN_sub_word(u, 1) ||
	    !BN_mod_inverse(w, v, e->p, e->bn) ||
	    !BN_mod_mul(u, u, w, e->p, e->bn))
		goto out;
	if (BN_is_zero(u)) {
		BN_zero(a->x);
	} else if (!BN_mod_sqrt(a->x, u, e->p, e->bn)) {
		st = cbd_err_set(err, CBD_E_FORMAT, "Ed25519 public key: "
				 "not a point of the curve");
		goto out;
	}
	if (BN_is_zero(a->x) && sign) {
		st = cbd_err_set(err, CBD_E_FORMAT, "Ed25519 public key: "
				 "x = 0 with the sign bit set");
		goto out;
	}
	if (BN_is_odd(a->x) != sign && !BN_sub(a->x, e->p, a->x))
		goto out;
	st = CBD_OK;
out:
	BN_CTX_end(e->bn);
	if (st == CBD_E_CRYPTO)
		cbd_err_set(err, st, "Ed25519 public key: BIGNUM failure");
	return st;
}

/* 17 limbs of v (0 <= v < 2^255). */
static void ed_limbs(const BIGNUM *v, float *out)
{
	for (int i = 0; i < NL; i++) {
		int x = 0;

		for (int b = 0; b < 15; b++)
			x |= BN_is_bit_set(v, 15 * i + b) << b;
		out[i] = (float)x;
	}
}

/* One table entry: (Y-X, Y+X, T, Z) with Z = 1, or for odd windows
 * (Y-X, Y+X, 2dT, 2Z). */
static bool ed_entry(ed_bn *e, const ed_aff *a, bool odd, float *out)
{
	BIGNUM *s, *t;
	bool ok;

	BN_CTX_start(e->bn);
	s = BN_CTX_get(e->bn);
	t = BN_CTX_get(e->bn);
	ok = t && BN_mod_sub(s, a->y, a->x, e->p, e->bn);
	if (ok)
		ed_limbs(s, out);
	ok = ok && BN_mod_add(s, a->y, a->x, e->p, e->bn);
	if (ok)
		ed_limbs(s, out + NL);
	ok = ok && BN_mod_mul(t, a->x, a->y, e->p, e->bn) &&
	     (!odd || BN_mod_mul(t, t, e->d2, e->p, e->bn));
	if (ok)
		ed_limbs(t, out + 2 * NL);
	for (int i = 0; i < NL; i++)
		out[3 * NL + i] = (float)(i == 0 ? (odd ? 2 : 1) : 0);
	BN_CTX_end(e->bn);
	return ok;
}

/* ENT entries d 64^w base per window w, for windows [t0, t0 + nw). */
static bool ed_windows(ed_bn *e, const ed_aff *base, int t0, int nw,
		       float *table)
{
	ed_aff cur = {0}, acc = {0}, next = {0};
	bool ok = ed_aff_new(&cur) && ed_aff_new(&acc) && ed_aff_new(&next) &&
		  ed_aff_set(&cur, base);

	for (int w = 0; ok && w < nw; w++) {
		int t = t0 + w;

		ok = BN_set_word(acc.x, 0) && BN_one(acc.y);
		for (int dg = 0; ok && dg < ENT; dg++) {
			ok = ed_entry(e, &acc, t & 1,
				      table + ((size_t)t * ENT + dg) * NP);
			if (ok && dg == 1 << WBITS)      /* 64^(w+1) base */
				ok = ed_aff_set(&next, &acc);
			ok = ok && ed_aff_add(e, &acc, &acc, &cur);
		}
		ok = ok && ed_aff_set(&cur, &next);
	}
	ed_aff_free(&cur);
	ed_aff_free(&acc);
	ed_aff_free(&next);
	return ok;
}

/* hm[i * WIN_H + j]: digit j (radix 64) of 256^i mod L, i < 64. */
static bool ed_hmat(double *hm)
{
	ed_bn e;
	BIGNUM *v = BN_new();
	bool ok = v && ed_bn_init(&e) && BN_one(v);

	for (int i = 0; ok && i < 64; i++) {
		for (int j = 0; j < WIN_H; j++) {
			int d = 0;

			for (int b = 0; b < WBITS; b++)
				d |= BN_is_bit_set(v, WBITS * j + b) << b;
			hm[i * WIN_H + j] = d;
		}
		ok = BN_lshift(v, v, 8) && BN_mod(v, v, e.l, e.bn);
	}
	BN_free(v);
	ed_bn_free(&e);
	return ok;
}

cbd_status og_ed25519_key_check(const uint8_t pk[32], cbd_err *err)
{
	ed_bn e;
	ed_aff a = {0}, la = {0};
	cbd_status st = CBD_E_CRYPTO;

	if (!ed_bn_init(&e) || !ed_aff_new(&a) || !ed_aff_new(&la))
		goto out;
	st = ed_decode(&e, pk, &a, err);
	if (st)
		goto out;
	st = CBD_E_CRYPTO;
	if (!ed_aff_mul(&e, &la, e.l, &a))
		goto out;
	if (ed_is_identity(&a) || !ed_is_identity(&la)) {
		st = cbd_err_set(err, CBD_E_UNSUPPORTED, "Ed25519 public key: "
				 "not of prime order L (a small-order component "
				 "cannot be compiled into fixed-base tables)");
		goto out;
	}
	st = CBD_OK;
out:
	if (st == CBD_E_CRYPTO)
		cbd_err_set(err, st, "Ed25519 public key: BIGNUM failure");
	ed_aff_free(&a);
	ed_aff_free(&la);
	ed_bn_free(&e);
	return st;
}

/* A table builder's end: the table, or NULL with err set once. */
static float *table_done(float *tab, bool ok, cbd_err *err)
{
	if (ok)
		return tab;
	if (tab && err && !err->code)
		cbd_err_set(err, CBD_E_CRYPTO, "Ed25519 tables: BIGNUM failure");
	free(tab);
	return NULL;
}

/* The [(nb + na) * ENT, 68] float32 window table: nb windows of B, then
 * na windows of -A for key pk (pk NULL when na = 0).  Caller frees. */
static float *ed_table(const uint8_t *pk, int nb, int na, cbd_err *err)
{
	ed_bn e;
	ed_aff a = {0}, b = {0};
	float *tab = cbd_xcalloc((size_t)(nb + na) * ENT * NP, sizeof(float),
				 err);
	bool ok = tab && ed_bn_init(&e);

	ok = ok && ed_aff_new(&a) && ed_aff_new(&b) &&
	     BN_dec2bn(&b.x, ED_BX) && BN_dec2bn(&b.y, ED_BY) &&
	     ed_windows(&e, &b, 0, nb, tab);
	if (ok && na)
		ok = ed_decode(&e, pk, &a, err) == CBD_OK &&
		     BN_sub(a.x, e.p, a.x) &&            /* -A = (-x, y) */
		     ed_windows(&e, &a, nb, na, tab);
	ed_aff_free(&a);
	ed_aff_free(&b);
	if (tab)
		ed_bn_free(&e);
	return table_done(tab, ok, err);
}

/* Affine 2^j (-A_k), j < NA, as limbs (x, y): [nk * NA, 34] (caller
 * frees) — the per-key table of the several-key form. */
static float *ed_powers(const uint8_t (*pks)[32], int nk, cbd_err *err)
{
	ed_bn e;
	ed_aff a = {0};
	float *tab = cbd_xcalloc((size_t)nk * NA * 2 * NL, sizeof(float), err);
	bool ok = tab && ed_bn_init(&e) && ed_aff_new(&a);

	for (int k = 0; ok && k < nk; k++) {
		ok = ed_decode(&e, pks[k], &a, err) == CBD_OK &&
		     BN_sub(a.x, e.p, a.x);
		for (int j = 0; ok && j < NA; j++) {
			float *o = tab + ((size_t)k * NA + j) * 2 * NL;

			ed_limbs(a.x, o);
			ed_limbs(a.y, o + NL);
			ok = ed_aff_add(&e, &a, &a, &a);
		}
	}
	ed_aff_free(&a);
	if (tab)
		ed_bn_free(&e);
	return table_done(tab, ok, err);
}

/* ---- graph side ------------------------------------------------------ */

/* Constants of one fragment (large ones are not deduplicated by og). */
typedef struct ed_k {
	og_ctx *c;
	og_t fold, carry, inv15, prep, combo_l, combo_r, kd;
} ed_k;

static og_t fe_carry(const ed_k *k, og_graph *g, og_t x)
{
	og_t c = og_un(g, "Floor", og_mul(g, x, k->inv15));
	return og_add(g, x, og_matmul(g, c, k->carry));
}

/* Two passes are enough, limb by limb: with inputs |l| <= 2.2 * 2^15 (a
 * sum or difference of two carried values), product limb k sums k + 1 plain
 * and 16 - k folded (x19) terms, at most 305 * 2^32.3 < 2^41 in limb 0, but
 * limb 16 only 17 terms.  After pass 1 every limb is below 2^26; pass 2
 * moves at most 1 + 324 * 4.9 into limbs 1..16 and 19 * (1 + 35 * 4.9) into
 * limb 0 (its carry comes from limb 16, which pass 1 left below 2^23), so
 * every limb ends within 1.1 * 2^15: the bound a carried value needs.  The
 * constant 2d product (kd) has the same shape with smaller terms. */
static og_t fe_carry2(const ed_k *k, og_graph *g, og_t x)
{
	for (int i = 0; i < 2; i++)
		x = fe_carry(k, g, x);
	return x;
}

/* a, b: [N, m, 17] (either may broadcast) -> a b, carried. */
static og_t fe_mul(const ed_k *k, og_graph *g, og_t a, og_t b)
{
	og_t p = og_mul(g, og_unsqueeze(g, a, 3), og_unsqueeze(g, b, 2));

	p = og_reshape(g, p, 3, (int64_t[]){0, 0, NL * NL});
	return fe_carry2(k, g, og_matmul(g, p, k->fold));
}

static og_t as_fe(og_graph *g, og_t pts)
{
	return og_reshape(g, pts, 3, (int64_t[]){0, -1, NL});
}

static og_t as_pts(og_graph *g, og_t fe)
{
	return og_reshape(g, fe, 3, (int64_t[]){0, -1, NP});
}

static og_t pt_round(const ed_k *k, og_graph *g, og_t l, og_t r)
{
	return as_pts(g, fe_mul(k, g, as_fe(g, l), as_fe(g, r)));
}

/* (A, B, C, D) -> (EF, GH, FG, EH) = (X3, Y3, Z3, T3). */
static og_t pt_finish(const ed_k *k, og_graph *g, og_t abcd)
{
	return pt_round(k, g, og_matmul(g, abcd, k->combo_l),
			og_matmul(g, abcd, k->combo_r));
}

/* Extended p1 + p2, both [N, n, 68]. */
static og_t pt_add(const ed_k *k, og_graph *g, og_t p1, og_t p2)
{
	og_t abcd = pt_round(k, g, og_matmul(g, p1, k->prep),
			     og_matmul(g, p2, k->prep));

	/* (A, B, T1T2, Z1Z2) -> (A, B, 2d T1T2, 2 Z1Z2) */
	abcd = as_pts(g, fe_carry2(k, g, as_fe(g, og_matmul(g, abcd, k->kd))));
	return pt_finish(k, g, abcd);
}

static og_t slice1(og_graph *g, og_t a, int64_t axis, int64_t lo, int64_t hi)
{
	og_ctx *c = og_graph_ctx(g);
	og_t in[4] = {a, og_i64s(c, 1, &lo), og_i64s(c, 1, &hi),
		      og_i64s(c, 1, &axis)};

	return og_op(g, "Slice", a ? a->type : 0, 4, in, 0, NULL);
}

/* Sum of the n points of pts [N, n, 68] -> [N, 1, 68]. */
static og_t pt_sum(const ed_k *k, og_graph *g, og_t pts, int n)
{
	while (n > 1) {
		int h = n / 2;
		og_t s = pt_add(k, g, slice1(g, pts, 1, 0, h),
				slice1(g, pts, 1, h, 2 * h));

		if (n & 1)
			s = og_concat(g, 1, 2, (og_t[]){s,
					slice1(g, pts, 1, 2 * h, n)});
		pts = s;
		n = h + (n & 1);
	}
	return pts;
}

/* x^(2^n), n a multiple of 5: Loops whose body squares five times. */
static og_t fe_sqn(const ed_k *k, og_graph *g, og_t x, int n)
{
	og_ctx *c = k->c;
	og_graph *body;
	og_t in[3], y;
	og_attr at;

	if (n % 5) {
		for (int i = 0; i < n; i++)
			x = fe_mul(k, g, x, x);
		return x;
	}
	body = og_sub(c, "fe_sq5");
	(void)og_input_scalar(body, OG_I64);
	og_t cond = og_input_scalar(body, OG_BOOL);
	y = og_input(body, OG_F64);
	for (int i = 0; i < 5; i++)
		y = fe_mul(k, body, y, y);
	og_output(body, og_identity(body, cond));
	og_output(body, y);
	in[0] = og_i64(c, n / 5);
	in[1] = og_ref(c, "", OG_BOOL);
	in[2] = x;
	at = OG_AG("body", body);
	return og_op(g, "Loop", OG_F64, 3, in, 1, &at);
}

/* z^(p-2) = 1/z (ref10's addition chain). */
/* z^(2^5n - 1) from a = z^(2^n - 1), through 2^2n - 1 and 2^4n - 1: the
 * step of the inversion chain that is taken twice, from 2^10 - 1 and from
 * 2^50 - 1. */
static og_t fe_pow5n(const ed_k *k, og_graph *g, og_t a, int n)
{
	og_t b, c;

	b = fe_mul(k, g, fe_sqn(k, g, a, n), a);         /* 2^2n - 1 */
	c = fe_mul(k, g, fe_sqn(k, g, b, 2 * n), b);     /* 2^4n - 1 */
	return fe_mul(k, g, fe_sqn(k, g, c, n), a);      /* 2^5n - 1 */
}

/* z^(p-2) = 1/z (ref10's addition chain). */
static og_t fe_invert(const ed_k *k, og_graph *g, og_t z)
{
	og_t t0, t1, t2;

	t0 = fe_mul(k, g, z, z);                 /* 2 */
	t1 = fe_sqn(k, g, t0, 2);                /* 8 */
	t1 = fe_mul(k, g, z, t1);                /* 9 */
	t0 = fe_mul(k, g, t0, t1);               /* 11 */
	t2 = fe_mul(k, g, t0, t0);               /* 22 */
	t1 = fe_mul(k, g, t1, t2);               /* 2^5 - 1 */
	t2 = fe_sqn(k, g, t1, 5);
	t1 = fe_mul(k, g, t2, t1);               /* 2^10 - 1 */
	t1 = fe_pow5n(k, g, t1, 10);             /* 2^50 - 1 */
	t1 = fe_pow5n(k, g, t1, 50);             /* 2^250 - 1 */
	t1 = fe_sqn(k, g, t1, 5);                /* 2^255 - 2^5 */
	return fe_mul(k, g, t1, t0);             /* 2^255 - 21 */
}

/* Canonical limbs of x [N, m, 17] (limbs within +-2^16): two sequential
 * carry chains, each folding the carry out of limb 16 back as 19 times;
 * then x - p when x >= p. */
static og_t fe_freeze(const ed_k *k, og_graph *g, og_t x)
{
	og_ctx *c = k->c;
	og_t l[NL], cy = NULL;
	og_t r32 = og_f64(c, RADIX), n19 = og_f64(c, 19);
	double pl[NL];

	og_split(g, x, 2, NL, 1, l);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < NL; i++) {
			og_t t = cy ? og_add(g, l[i], cy) : l[i];

			cy = og_un(g, "Floor", og_mul(g, t, k->inv15));
			l[i] = og_sub_(g, t, og_mul(g, cy, r32));
		}
		l[0] = og_add(g, l[0], og_mul(g, cy, n19));
		cy = NULL;
	}
	x = og_concat(g, 2, NL, l);
	for (int i = 0; i < NL; i++)
		pl[i] = i ? RADIX - 1 : RADIX - 19;
	og_t pv = og_f64s(c, 1, (int64_t[]){NL}, pl);
	/* x >= p exactly when no limb of x - p is negative (x < 2^255). */
	og_t ge = og_cmp(g, "GreaterOrEqual",
			 og_reduce(g, "ReduceMin", og_sub_(g, x, pv), 2, 1),
			 og_f64(c, 0));
	return og_sub_(g, x, og_mul(g, pv, og_cast(g, ge, OG_F64)));
}

static og_t fconst(og_ctx *c, int64_t rows, int64_t cols, const double *v)
{
	return og_f64s(c, 2, (int64_t[]){rows, cols}, v);
}

/* The linear maps of the fragment. */
static bool ed_k_init(ed_k *k, og_ctx *c, cbd_err *err)
{
	double *m = cbd_xcalloc(NL * NL * NL, sizeof(double), err);
	double cm[NL * NL] = {0}, lin[NP * NP];
	float d2l[NL];
	ed_bn e;

	if (!m)
		return false;
	k->c = c;
	for (int i = 0; i < NL; i++)
		for (int j = 0; j < NL; j++) {
			int s = i + j;

			m[(i * NL + j) * NL + s % NL] += s < NL ? 1 : 19;
		}
	k->fold = fconst(c, NL * NL, NL, m);
	free(m);
	for (int i = 0; i < NL; i++) {
		cm[i * NL + i] = -RADIX;
		cm[i * NL + (i + 1) % NL] = i + 1 < NL ? 1 : 19;
	}
	k->carry = fconst(c, NL, NL, cm);
	k->inv15 = og_f64(c, 1.0 / RADIX);
	/* lin[in * NP + out]; coordinate blocks X0 Y1 Z2 T3 */
#define LIN(a, b, s) for (int i = 0; i < NL; i++) \
		lin[((a) * NL + i) * NP + (b) * NL + i] += (s)
	memset(lin, 0, sizeof(lin));     /* (Y-X, Y+X, T, Z) */
	LIN(1, 0, 1); LIN(0, 0, -1); LIN(1, 1, 1); LIN(0, 1, 1);
	LIN(3, 2, 1); LIN(2, 3, 1);
	k->prep = fconst(c, NP, NP, lin);
	/* from (A, B, C, D): E = B-A, F = D-C, G = D+C, H = B+A;
	 * left (E, G, F, E), right (F, H, G, H) */
	memset(lin, 0, sizeof(lin));
	LIN(1, 0, 1); LIN(0, 0, -1);             /* E */
	LIN(3, 1, 1); LIN(2, 1, 1);              /* G */
	LIN(3, 2, 1); LIN(2, 2, -1);             /* F */
	LIN(1, 3, 1); LIN(0, 3, -1);             /* E */
	k->combo_l = fconst(c, NP, NP, lin);
	memset(lin, 0, sizeof(lin));
	LIN(3, 0, 1); LIN(2, 0, -1);             /* F */
	LIN(1, 1, 1); LIN(0, 1, 1);              /* H */
	LIN(3, 2, 1); LIN(2, 2, 1);              /* G */
	LIN(1, 3, 1); LIN(0, 3, 1);              /* H */
	k->combo_r = fconst(c, NP, NP, lin);
	/* (A, B, C, D) -> (A, B, 2d C, 2 D): 2d C folded like a product */
	memset(lin, 0, sizeof(lin));
	LIN(0, 0, 1); LIN(1, 1, 1); LIN(3, 3, 2);
#undef LIN
	if (!ed_bn_init(&e)) {
		ed_bn_free(&e);
		cbd_err_set(err, CBD_E_CRYPTO, "Ed25519: BIGNUM failure");
		return false;
	}
	ed_limbs(e.d2, d2l);
	ed_bn_free(&e);
	for (int i = 0; i < NL; i++)
		for (int j = 0; j < NL; j++) {
			int s = i + j;

			lin[(2 * NL + i) * NP + 2 * NL + s % NL] +=
				d2l[j] * (s < NL ? 1 : 19);
		}
	k->kd = fconst(c, NP, NP, lin);
	return true;
}

static og_t bits_le(og_graph *g, og_t b, int64_t nb);

/* S bytes [N, 32] -> its 43 radix-64 digits [N, 43] (one MatMul of its
 * bits). */
static og_t s_digits(og_graph *g, og_t s)
{
	og_ctx *c = og_graph_ctx(g);
	double w[256 * WIN_S] = {0};

	for (int j = 0; j < 256; j++)
		w[j * WIN_S + j / WBITS] = (double)(1 << (j % WBITS));
	return og_matmul(g, bits_le(g, s, 32), fconst(c, 256, WIN_S, w));
}

/* h bytes [N, 64] -> digits 0..64 [N, 47] of h' = sum h_i (256^i mod L),
 * which is h mod L plus a multiple of L: the same point for a key of
 * order L.  D_j = sum h_i digit_j(256^i mod L) <= 64 * 255 * 63 < 2^20;
 * four parallel carry passes (c = Floor(D / 64) moves up one digit) leave
 * every digit in 0..64, and h' < 2^273 fits the 47 digits. */
static og_t h_digits(og_graph *g, og_t h, cbd_err *err)
{
	og_ctx *c = og_graph_ctx(g);
	double *hm = cbd_xcalloc(64 * WIN_H, sizeof(double), err);
	double sh[WIN_H * WIN_H] = {0};
	og_t d;

	if (!hm)
		return NULL;
	if (!ed_hmat(hm)) {
		free(hm);
		cbd_err_set(err, CBD_E_CRYPTO, "Ed25519: BIGNUM failure");
		return NULL;
	}
	d = og_matmul(g, h, fconst(c, 64, WIN_H, hm));
	free(hm);
	for (int j = 0; j + 1 < WIN_H; j++)
		sh[j * WIN_H + j + 1] = 1;
	og_t shm = fconst(c, WIN_H, WIN_H, sh);
	for (int pass = 0; pass < 4; pass++) {
		og_t hi = og_un(g, "Floor", og_mul(g, d, og_f64(c, 1.0 / 64)));
		og_t lo = og_sub_(g, d, og_mul(g, hi, og_f64(c, 64)));

		d = og_add(g, lo, og_matmul(g, hi, shm));
	}
	return d;
}

/* Bytes [N, nb] float64 -> bits [N, 8 nb], little-endian bit order. */
static og_t bits_le(og_graph *g, og_t b, int64_t nb)
{
	og_ctx *c = og_graph_ctx(g);
	double sc[8];

	for (int i = 0; i < 8; i++)
		sc[i] = 1.0 / (double)(1 << i);
	og_t t = og_un(g, "Floor", og_mul(g, og_unsqueeze(g, b, 2),
					  og_f64s(c, 1, (int64_t[]){8}, sc)));
	og_t half = og_un(g, "Floor", og_mul(g, t, og_f64(c, 0.5)));
	og_t bit = og_sub_(g, t, og_mul(g, half, og_f64(c, 2)));

	return og_reshape(g, bit, 2, (int64_t[]){0, 8 * nb});
}

/* S < L for S bytes [N, 32] float64 -> [N, 1] bool. */
static og_t s_below_l(og_graph *g, og_t s)
{
	static const uint8_t L[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
	og_ctx *c = og_graph_ctx(g);
	double lv[32], w[32], p3 = 1;

	for (int i = 0; i < 32; i++, p3 *= 3) {
		lv[i] = L[i];
		w[i] = p3;
	}
	og_t d = og_un(g, "Sign", og_sub_(g, s, og_f64s(c, 1,
							(int64_t[]){32}, lv)));
	og_t v = og_matmul(g, d, fconst(c, 32, 1, w));
	return og_cmp(g, "Less", v, og_f64(c, 0));
}

/* Select one table entry per window (digits dig [N, nw], float64) and add
 * each even window's point to the next odd one's: [N, nw / 2, 68]. */
static og_t select_pairs(const ed_k *k, og_graph *g, og_t table, og_t dig,
			 int nw)
{
	og_ctx *c = og_graph_ctx(g);
	int64_t *perm = og_alloc(c, sizeof(int64_t) * (size_t)nw);
	double *offs = og_alloc(c, sizeof(double) * (size_t)nw);
	og_t half[2];

	if (!perm || !offs)
		return NULL;
	for (int i = 0; i < nw; i++) {     /* even windows first */
		perm[i] = i < nw / 2 ? 2 * i : 2 * (i - nw / 2) + 1;
		offs[i] = (double)ENT * (double)perm[i];
	}
	og_t idx = og_add(g, og_gather(g, dig, og_i64s(c, nw, perm), 1),
			  og_f64s(c, 1, (int64_t[]){nw}, offs));
	og_t pts = og_cast(g, og_gather(g, table, og_cast(g, idx, OG_I64), 0),
			   OG_F64);
	og_split(g, pts, 1, 2, nw / 2, half);
	return pt_finish(k, g, pt_round(k, g, half[0], half[1]));
}

/* R' = pts [N, 1, 68] encoded and compared with R; and S < L.  -> [N]. */
static og_t encode_check(const ed_k *k, og_graph *g, og_t pts, og_t r,
			 og_t s)
{
	og_ctx *c = og_graph_ctx(g);
	double *wy = og_alloc(c, sizeof(double) * 256 * (NL + 1));

	if (!wy)
		return NULL;
	og_t fe = as_fe(g, pts);                          /* [N, 4, 17] */
	og_t xy = og_gather(g, fe, og_i64s(c, 2, (int64_t[]){0, 1}), 1);
	og_t z = og_gather(g, fe, og_i64s(c, 1, (int64_t[]){2}), 1);
	og_t aff = fe_freeze(k, g, fe_mul(k, g, xy, fe_invert(k, g, z)));
	og_t x0 = og_reshape(g, slice1(g, slice1(g, aff, 1, 0, 1), 2, 0, 1),
			     2, (int64_t[]){0, 1});
	og_t par = og_sub_(g, x0, og_mul(g, og_un(g, "Floor",
			   og_mul(g, x0, og_f64(c, 0.5))), og_f64(c, 2)));
	og_t yv = og_reshape(g, slice1(g, aff, 1, 1, 2), 2,
			     (int64_t[]){0, NL});
	/* R's y limbs and sign bit */
	for (int j = 0; j < 255; j++)
		wy[j * (NL + 1) + j / 15] = (double)(1 << (j % 15));
	wy[255 * (NL + 1) + NL] = 1;
	og_t rl = og_matmul(g, bits_le(g, r, 32), fconst(c, 256, NL + 1, wy));
	og_t mine = og_concat(g, 1, 2, (og_t[]){yv, par});
	og_t diff = og_reduce(g, "ReduceSum",
			      og_un(g, "Abs", og_sub_(g, mine, rl)), 1, 1);
	og_t same = og_cmp(g, "Equal", diff, og_f64(c, 0));
	og_t ok = og_and(g, same, s_below_l(g, s));

	return og_reshape(g, ok, 1, (int64_t[]){-1});
}

og_t og_ed25519_verify(og_graph *g, const uint8_t pk[32], og_t sig, og_t h,
		       cbd_err *err)
{
	og_ctx *c = og_graph_ctx(g);
	ed_k k;
	float *tab;

	if (!ed_k_init(&k, c, err))
		return NULL;
	tab = ed_table(pk, WIN_S, WIN_H, err);
	if (!tab)
		return NULL;
	og_t table = og_const(c, OG_F32, 2, (int64_t[]){WIN * ENT, NP}, tab);
	free(tab);
	og_t r = slice1(g, sig, 1, 0, 32), s = slice1(g, sig, 1, 32, 64);
	og_t hd = h_digits(g, h, err);
	if (!hd)
		return NULL;
	/* digits of S then h' in window order */
	og_t dig = og_concat(g, 1, 2, (og_t[]){s_digits(g, s), hd});
	og_t pts = pt_sum(&k, g, select_pairs(&k, g, table, dig, WIN), WIN / 2);
	return encode_check(&k, g, pts, r, s);
}

/* h bytes [N, 64] -> binary digits 0..2 [N, NA] of h' (as h_digits, radix
 * 2: D_j <= 64 * 255 < 2^14, fourteen carry passes). */
static og_t h_bits(og_graph *g, og_t h, cbd_err *err)
{
	og_ctx *c = og_graph_ctx(g);
	double *hm = cbd_xcalloc(64 * NA, sizeof(double), err);
	ed_bn e = {0};
	BIGNUM *v = BN_new();
	bool ok = hm && v && ed_bn_init(&e) && BN_one(v);
	og_t d = NULL;

	for (int i = 0; ok && i < 64; i++) {
		for (int j = 0; j < NA; j++)
			hm[i * NA + j] = BN_is_bit_set(v, j);
		ok = BN_lshift(v, v, 8) && BN_mod(v, v, e.l, e.bn);
	}
	BN_free(v);
	if (hm)
		ed_bn_free(&e);
	if (ok) {
		/* the carry moves up one digit: drop the last column, pad a
		 * zero in front (a shift matrix would be 605 kB) */
		og_t pads = og_i64s(c, 4, (int64_t[]){0, 1, 0, 0});
		og_t cut[4] = {NULL, og_i64s(c, 1, (int64_t[]){0}),
			       og_i64s(c, 1, (int64_t[]){NA - 1}),
			       og_i64s(c, 1, (int64_t[]){1})};

		d = og_matmul(g, h, fconst(c, 64, NA, hm));
		for (int pass = 0; pass < 14; pass++) {
			og_t hi = og_un(g, "Floor", og_mul(g, d, og_f64(c, 0.5)));
			og_t lo = og_sub_(g, d, og_mul(g, hi, og_f64(c, 2)));

			cut[0] = hi;
			hi = og_op(g, "Slice", OG_F64, 4, cut, 0, NULL);
			hi = og_op(g, "Pad", OG_F64, 2, (og_t[]){hi, pads}, 0,
				   NULL);
			d = og_add(g, lo, hi);
		}
	} else if (hm) {
		cbd_err_set(err, CBD_E_CRYPTO, "Ed25519: BIGNUM failure");
	}
	free(hm);
	return d;
}

og_t og_ed25519_verify_keys(og_graph *g, const uint8_t (*pks)[32], int nk,
			    og_t kidx, og_t sig, og_t h, cbd_err *err)
{
	og_ctx *c = og_graph_ctx(g);
	ed_k k;
	float *tab;
	double *jv = og_alloc(c, sizeof(double) * NA);
	double one[NL] = {1};

	if (!jv || !ed_k_init(&k, c, err))
		return NULL;
	/* [S]B: B's windows only, S's 43 digits and one 0 */
	tab = ed_table(NULL, WIN_B, 0, err);
	if (!tab)
		return NULL;
	og_t btab = og_const(c, OG_F32, 2, (int64_t[]){WIN_B * ENT, NP}, tab);
	free(tab);
	og_t r = slice1(g, sig, 1, 0, 32), s = slice1(g, sig, 1, 32, 64);
	og_t sd = og_concat(g, 1, 2, (og_t[]){s_digits(g, s),
			    og_mul(g, slice1(g, s, 1, 0, 1), og_f64(c, 0))});
	og_t sb = pt_sum(&k, g, select_pairs(&k, g, btab, sd, WIN_B),
			 WIN_B / 2);
	/* [h'](-A_k): digit d of bit j selects nothing, 2^j (-A_k) or
	 * 2^(j+1) (-A_k) from the key's row of the powers table */
	tab = ed_powers(pks, nk, err);
	if (!tab)
		return NULL;
	og_t ptab = og_const(c, OG_F32, 2, (int64_t[]){(int64_t)nk * NA, 2 * NL},
			     tab);
	free(tab);
	og_t d = h_bits(g, h, err);
	if (!d)
		return NULL;
	for (int j = 0; j < NA; j++)
		jv[j] = j;
	og_t up = og_un(g, "Floor", og_mul(g, d, og_f64(c, 0.5)));
	og_t row = og_add(g, og_add(g, og_mul(g, og_cast(g, kidx, OG_F64),
					      og_f64(c, NA)),
				    og_f64s(c, 1, (int64_t[]){NA}, jv)), up);
	og_t xy = og_cast(g, og_gather(g, ptab, og_cast(g, row, OG_I64), 0),
			  OG_F64);                         /* [N, NA, 34] */
	og_t sel = og_cast(g, og_unsqueeze(g, og_cmp(g, "Greater", d,
				og_f64(c, 0)), 2), OG_F64);  /* [N, NA, 1] */
	og_t x = og_mul(g, og_op(g, "Slice", OG_F64, 4, (og_t[]){xy,
			og_i64s(c, 1, (int64_t[]){0}),
			og_i64s(c, 1, (int64_t[]){NL}),
			og_i64s(c, 1, (int64_t[]){2})}, 0, NULL), sel);
	og_t onev = og_f64s(c, 1, (int64_t[]){NL}, one);
	og_t yl = og_op(g, "Slice", OG_F64, 4, (og_t[]){xy,
			og_i64s(c, 1, (int64_t[]){NL}),
			og_i64s(c, 1, (int64_t[]){2 * NL}),
			og_i64s(c, 1, (int64_t[]){2})}, 0, NULL);
	/* unselected: the identity (0, 1) */
	og_t y = og_add(g, og_mul(g, og_sub_(g, yl, onev), sel), onev);
	og_t zz = og_add(g, og_mul(g, x, og_f64(c, 0)), onev);
	og_t ext = og_concat(g, 2, 4, (og_t[]){x, y, zz, fe_mul(&k, g, x, y)});
	og_t sa = pt_sum(&k, g, ext, NA);
	return encode_check(&k, g, pt_add(&k, g, sb, sa), r, s);
}
