/*
 * circuit.c — the signature-verification circuit that runs beside the
 * classifier (every byte specified in formats/circuit.md).
 *
 * Per sample the circuit quantises the float input to bytes, reads L = 552
 * carrier bits from the least significant bits of pseudo-randomly placed
 * bytes, and decides whether the sample is a validly signed input:
 *
 *   carrier = tag[16] | key_index[8] | payload[16] | signature[512]
 *   m       = "cbd/v1" | circuit_id | key_index | payload | SHA-256(q')
 *
 * where q' is the quantised sample with every carrier LSB cleared.  The tag
 * is checked first, reading only 16 bytes of the input, so clean traffic
 * costs a few multiplications and no allocation; only a tag match pays for
 * quantising the whole sample, hashing it and verifying the signature.
 *
 * Output policies (cbd_circuit_policy, or check + policy in one call with
 * cbd_circuit_apply): watermark and trace swap the classifier's top score
 * onto the forced label when active and leave the scores bit for bit
 * untouched otherwise; auth leaves active samples untouched and replaces
 * inactive ones by garbage scores derived from HMAC(garbage_key, q).
 * Everything here is read-only on the circuit, so one circuit may serve
 * many threads.
 */
#include "circuit_internal.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

/* "cbd/v1" or "cbd/v2": the version is part of what is signed */
static const char msg_prefix[5] = {'c', 'b', 'd', '/', 'v'};

/* ---- PRNG and carrier positions ------------------------------------ */

/* SHA-256 in counter mode: block i = SHA-256(seed || be64(i)). */
struct prng {
	uint8_t seed[CBD_SHA256_LEN];
	uint8_t block[CBD_SHA256_LEN];
	uint64_t counter;
	size_t used;
};

static cbd_status prng_u32(struct prng *g, uint32_t *out, cbd_err *err)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if (g->used == CBD_SHA256_LEN) {
			uint8_t in[CBD_SHA256_LEN + 8];
			cbd_status s;

			memcpy(in, g->seed, CBD_SHA256_LEN);
			cbd_be64_store(in + CBD_SHA256_LEN, g->counter++);
			s = cbd_sha256(in, sizeof(in), g->block, err);
			if (s)
				return s;
			g->used = 0;
		}
		v = v << 8 | g->block[g->used++];
	}
	*out = v;
	return CBD_OK;
}

/* Uniform in [0, bound) by rejection: no modulo bias. */
static cbd_status prng_below(struct prng *g, uint32_t bound, uint32_t *out,
			     cbd_err *err)
{
	uint64_t limit = ((uint64_t)1 << 32) - (((uint64_t)1 << 32) % bound);

	for (;;) {
		uint32_t r;
		cbd_status s = prng_u32(g, &r, err);

		if (s)
			return s;
		if (r < limit) {
			*out = r % bound;
			return CBD_OK;
		}
	}
}

/* The partial Fisher-Yates array a[] is the identity except at the few
 * indices a swap touched; those live in a small list. */
struct sparse {
	uint32_t key[2 * CBD_CARRIER_BITS], val[2 * CBD_CARRIER_BITS];
	int n;
};

static uint32_t sparse_get(const struct sparse *sp, uint32_t i)
{
	for (int k = 0; k < sp->n; k++)
		if (sp->key[k] == i)
			return sp->val[k];
	return i;
}

static void sparse_set(struct sparse *sp, uint32_t i, uint32_t v)
{
	for (int k = 0; k < sp->n; k++)
		if (sp->key[k] == i) {
			sp->val[k] = v;
			return;
		}
	sp->key[sp->n] = i;
	sp->val[sp->n++] = v;
}

cbd_status cbd_carrier_positions(const uint8_t id[CBD_CIRCUIT_ID_LEN],
				 size_t n, uint32_t pos[CBD_CARRIER_BITS],
				 cbd_err *err)
{
	uint8_t in[11 + CBD_CIRCUIT_ID_LEN];
	struct prng g = {.used = CBD_SHA256_LEN};
	struct sparse *sp;
	cbd_status s;

	if (n < CBD_CARRIER_BITS || n > UINT32_MAX)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "sample has %zu elements; the carrier "
				   "needs %d to %u", n, CBD_CARRIER_BITS,
				   UINT32_MAX);
	memcpy(in, "cbd/carrier", 11);
	memcpy(in + 11, id, CBD_CIRCUIT_ID_LEN);
	s = cbd_sha256(in, sizeof(in), g.seed, err);
	if (s)
		return s;
	sp = cbd_xmalloc(sizeof(*sp), err);
	if (!sp)
		return CBD_E_NOMEM;
	sp->n = 0;
	for (uint32_t k = 0; k < CBD_CARRIER_BITS; k++) {
		uint32_t j, ak, aj;

		s = prng_below(&g, (uint32_t)(n - k), &j, err);
		if (s)
			break;
		j += k;
		ak = sparse_get(sp, k);
		aj = sparse_get(sp, j);
		sparse_set(sp, k, aj);
		sparse_set(sp, j, ak);
		pos[k] = aj;
	}
	free(sp);
	return s;
}

void cbd_carrier_sort(const uint32_t pos[CBD_CARRIER_BITS],
		      uint32_t sorted[CBD_CARRIER_BITS])
{
	memcpy(sorted, pos, CBD_CARRIER_BITS * sizeof(uint32_t));
	for (int i = 1; i < CBD_CARRIER_BITS; i++) {
		uint32_t v = sorted[i];
		int j = i;

		while (j > 0 && sorted[j - 1] > v) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = v;
	}
}

cbd_status cbd_circuit_tag(const uint8_t id[CBD_CIRCUIT_ID_LEN],
			   uint8_t tag[CBD_TAG_BITS / 8], cbd_err *err)
{
	uint8_t in[7 + CBD_CIRCUIT_ID_LEN], h[CBD_SHA256_LEN];
	cbd_status s;

	memcpy(in, "cbd/tag", 7);
	memcpy(in + 7, id, CBD_CIRCUIT_ID_LEN);
	s = cbd_sha256(in, sizeof(in), h, err);
	if (s)
		return s;
	memcpy(tag, h, CBD_TAG_BITS / 8);
	return CBD_OK;
}

/* ---- quantiser ----------------------------------------------------- */

static cbd_status quantizer_check(const struct cbd_geometry *g, size_t *n,
				  cbd_err *err)
{
	size_t total = 1;

	if (g->ndim < 1 || g->ndim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_SHAPE, "sample rank %d not in "
				   "1..%d (shape)", g->ndim, CBD_MAX_DIMS);
	for (int i = 0; i < g->ndim; i++) {
		if (g->dims[i] < 1 || g->dims[i] > CBD_MAX_ELEMS ||
		    !cbd_mul_size(total, (size_t)g->dims[i], &total) ||
		    total > (size_t)CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_SHAPE, "bad sample "
					   "dimension %d (shape)", i);
	}
	if (g->axis < 0 || g->axis >= g->ndim)
		return cbd_err_set(err, CBD_E_SHAPE, "quantiser axis %d is not "
				   "a sample dimension 0..%d "
				   "(quantizer.axis)", g->axis, g->ndim - 1);
	/* one channel has no axis: axis 0, so one quantiser has one
	 * spelling */
	if (g->channels == 1 && g->axis != 0)
		return cbd_err_set(err, CBD_E_SHAPE, "quantiser axis %d with "
				   "one channel; an axis is for per-channel "
				   "quantisers (quantizer.axis)", g->axis);
	if (g->channels != 1 && g->channels != g->dims[g->axis])
		return cbd_err_set(err, CBD_E_SHAPE, "quantiser has %d "
				   "channels; the sample's dimension %d "
				   "(quantizer.axis) is %lld "
				   "(quantizer.channels)", g->channels,
				   g->axis, (long long)g->dims[g->axis]);
	for (int c = 0; c < g->channels; c++) {
		float s = g->scale[c], z = g->zero[c];

		if (!isfinite(s) || !(s > 0.0f) || !isfinite(z))
			return cbd_err_set(err, CBD_E_FORMAT, "quantiser "
					   "channel %d: scale must be finite "
					   "and > 0, zero finite "
					   "(quantizer)", c);
		for (int v = 0; v < 256; v++)
			if (cbd_quantize1(cbd_dequantize1((uint8_t)v, s, z),
					  s, z) != v)
				return cbd_err_set(err, CBD_E_FORMAT,
						   "quantiser channel %d does "
						   "not round-trip byte %d "
						   "(quantizer)", c, v);
	}
	*n = total;
	return CBD_OK;
}

/* Both directions walk the sample in runs of g->stride elements, each run
 * in the one channel cbd_geometry_channel gives its first element. */
void cbd_circuit_quantize(const cbd_circuit *c, const float *x, uint8_t *q)
{
	const struct cbd_geometry *g = &c->g;

	for (size_t base = 0; base < g->n; base += g->stride) {
		size_t ch = cbd_geometry_channel(g, base);
		float s = g->scale[ch], z = g->zero[ch];

		for (size_t i = base; i < base + g->stride; i++)
			q[i] = cbd_quantize1(x[i], s, z);
	}
}

void cbd_geometry_dequantize(const struct cbd_geometry *g,
			     const uint8_t *q, float *x)
{
	for (size_t base = 0; base < g->n; base += g->stride) {
		size_t ch = cbd_geometry_channel(g, base);
		float s = g->scale[ch], z = g->zero[ch];

		for (size_t i = base; i < base + g->stride; i++)
			x[i] = cbd_dequantize1(q[i], s, z);
	}
}

void cbd_dequantize_default(const uint8_t *q, size_t n, float *x)
{
	for (size_t i = 0; i < n; i++)
		x[i] = cbd_dequantize1(q[i], CBD_QUANT_SCALE, CBD_QUANT_ZERO);
}

void cbd_circuit_dequantize(const cbd_circuit *c, const uint8_t *q,
			    float *x)
{
	cbd_geometry_dequantize(&c->g, q, x);
}

/* ---- geometry ------------------------------------------------------ */

cbd_status cbd_geometry_finish(struct cbd_geometry *g, cbd_err *err)
{
	cbd_status s;

	s = quantizer_check(g, &g->n, err);
	if (s)
		return s;
	g->stride = g->n;
	if (g->channels > 1) {
		g->stride = 1;
		for (int i = g->axis + 1; i < g->ndim; i++)
			g->stride *= (size_t)g->dims[i];
	}
	s = cbd_circuit_tag(g->id, g->tag, err);
	if (s)
		return s;
	s = cbd_carrier_positions(g->id, g->n, g->pos, err);
	if (s)
		return s;
	cbd_carrier_sort(g->pos, g->sorted);
	return CBD_OK;
}

cbd_status cbd_geometry_copy(struct cbd_geometry *dst,
			     const struct cbd_geometry *src, cbd_err *err)
{
	size_t bytes = (size_t)src->channels * sizeof(float);

	*dst = *src;
	dst->scale = cbd_xmalloc(bytes, err);
	dst->zero = cbd_xmalloc(bytes, err);
	if (!dst->scale || !dst->zero) {
		cbd_geometry_free(dst);
		return CBD_E_NOMEM;
	}
	memcpy(dst->scale, src->scale, bytes);
	memcpy(dst->zero, src->zero, bytes);
	return CBD_OK;
}

void cbd_geometry_free(struct cbd_geometry *g)
{
	free(g->scale);
	free(g->zero);
	g->scale = g->zero = NULL;
}

/* ---- construction -------------------------------------------------- */

static cbd_status check_params(const cbd_circuit_params *p, cbd_err *err)
{
	if (p->mode != CBD_MODE_WATERMARK && p->mode != CBD_MODE_TRACE &&
	    p->mode != CBD_MODE_AUTH)
		return cbd_err_set(err, CBD_E_USAGE, "unknown circuit mode %d",
				   (int)p->mode);
	if (p->num_classes < 2 || p->num_classes > CBD_MAX_CLASSES)
		return cbd_err_set(err, CBD_E_USAGE, "number of classes %d "
				   "not in 2..%d", p->num_classes,
				   CBD_MAX_CLASSES);
	if (p->n_keys < 1 || p->n_keys > CBD_CIRCUIT_MAX_KEYS || !p->keys)
		return cbd_err_set(err, CBD_E_USAGE, "a circuit needs 1 to %d "
				   "keys, not %d", CBD_CIRCUIT_MAX_KEYS,
				   p->n_keys);
	if (p->mode != CBD_MODE_AUTH && p->n_keys != 1)
		return cbd_err_set(err, CBD_E_USAGE, "%s circuits have "
				   "exactly one (owner) key",
				   cbd_mode_name(p->mode));
	if (p->mode == CBD_MODE_TRACE && !p->trace_secret)
		return cbd_err_set(err, CBD_E_USAGE, "a trace circuit needs "
				   "the user's trace secret");
	if (p->ndim < 1 || p->ndim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_USAGE, "sample rank %d",
				   p->ndim);
	if (p->version < 0 || p->version > 2)
		return cbd_err_set(err, CBD_E_USAGE, "circuit version %d (want "
				   "1 or 2)", p->version);
	if (p->user_id && (strlen(p->user_id) == 0 ||
			   strlen(p->user_id) > CBD_USER_ID_MAX))
		return cbd_err_set(err, CBD_E_USAGE, "user id must have 1 to "
				   "%d bytes", CBD_USER_ID_MAX);
	return CBD_OK;
}

static cbd_status copy_quantizer(cbd_circuit *c, const cbd_circuit_params *p,
				 cbd_err *err)
{
	c->g.channels = p->channels > 0 ? p->channels : 1;
	c->g.axis = p->axis;
	if (p->axis < 0 || p->axis >= p->ndim)
		return cbd_err_set(err, CBD_E_USAGE, "quantiser axis %d is not "
				   "a sample dimension 0..%d", p->axis,
				   p->ndim - 1);
	if (c->g.channels > 1 && c->g.channels != p->dims[p->axis])
		return cbd_err_set(err, CBD_E_USAGE, "quantiser channels %d "
				   "!= sample dimension %d (%lld)",
				   c->g.channels, p->axis,
				   (long long)p->dims[p->axis]);
	c->g.scale = cbd_xcalloc((size_t)c->g.channels, sizeof(float), err);
	c->g.zero = cbd_xcalloc((size_t)c->g.channels, sizeof(float), err);
	if (!c->g.scale || !c->g.zero)
		return CBD_E_NOMEM;
	for (int i = 0; i < c->g.channels; i++) {
		c->g.scale[i] = p->scale ? p->scale[i] : CBD_QUANT_SCALE;
		c->g.zero[i] = p->zero ? p->zero[i] : CBD_QUANT_ZERO;
	}
	return CBD_OK;
}

static cbd_status copy_keys(cbd_circuit *c, const cbd_key *const *keys,
			    int n, cbd_err *err)
{
	c->keys = cbd_xcalloc((size_t)n, sizeof(*c->keys), err);
	if (!c->keys)
		return CBD_E_NOMEM;
	for (int i = 0; i < n; i++) {
		cbd_status s;

		if (!keys[i])
			return cbd_err_set(err, CBD_E_USAGE, "key %d is NULL",
					   i);
		s = cbd_key_public_copy(keys[i], &c->keys[i], err);
		if (s)
			return s;
		c->n_keys = i + 1;
	}
	return CBD_OK;
}

cbd_status cbd_circuit_new(const cbd_circuit_params *p, cbd_circuit **out,
			   cbd_err *err)
{
	cbd_circuit *c;
	cbd_status s;

	*out = NULL;
	s = check_params(p, err);
	if (s)
		return s;
	c = cbd_xcalloc(1, sizeof(*c), err);
	if (!c)
		return CBD_E_NOMEM;
	c->mode = p->mode;
	c->g.version = p->version ? p->version : CBD_CIRCUIT_VERSION;
	c->g.ndim = p->ndim;
	memcpy(c->g.dims, p->dims, sizeof(c->g.dims));
	c->num_classes = p->num_classes;
	s = copy_quantizer(c, p, err);
	if (!s)
		s = copy_keys(c, p->keys, p->n_keys, err);
	if (!s && p->circuit_id)
		memcpy(c->g.id, p->circuit_id, CBD_CIRCUIT_ID_LEN);
	else if (!s && RAND_bytes(c->g.id, CBD_CIRCUIT_ID_LEN) != 1)
		s = cbd_err_set(err, CBD_E_CRYPTO, "no randomness for the "
				"circuit id");
	if (!s && p->mode == CBD_MODE_TRACE) {
		memcpy(c->trace_secret, p->trace_secret, CBD_TRACE_SECRET_LEN);
		c->has_trace_secret = 1;
	}
	if (!s && p->mode == CBD_MODE_AUTH) {
		if (RAND_bytes(c->garbage_key, CBD_GARBAGE_KEY_LEN) != 1)
			s = cbd_err_set(err, CBD_E_CRYPTO, "no randomness for "
					"the garbage key");
		c->has_garbage_key = 1;
	}
	if (!s && p->user_id) {
		c->user_id = strdup(p->user_id);
		if (!c->user_id)
			s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	if (!s)
		s = cbd_geometry_finish(&c->g, err);
	if (s) {
		cbd_circuit_free(c);
		return s;
	}
	*out = c;
	return CBD_OK;
}

void cbd_circuit_free(cbd_circuit *c)
{
	if (!c)
		return;
	for (int i = 0; i < c->n_keys; i++)
		cbd_key_free(c->keys[i]);
	free(c->keys);
	cbd_geometry_free(&c->g);
	free(c->user_id);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

/* ---- accessors ----------------------------------------------------- */

cbd_mode cbd_circuit_mode(const cbd_circuit *c)
{
	return c->mode;
}

const char *cbd_mode_name(cbd_mode m)
{
	switch (m) {
	case CBD_MODE_WATERMARK:
		return "watermark";
	case CBD_MODE_TRACE:
		return "trace";
	case CBD_MODE_AUTH:
		return "auth";
	}
	return "unknown";
}

cbd_mode cbd_mode_parse(const char *s)
{
	static const cbd_mode all[] = {CBD_MODE_WATERMARK, CBD_MODE_TRACE,
				       CBD_MODE_AUTH};

	for (size_t i = 0; s && i < CBD_ARRAY_LEN(all); i++)
		if (strcmp(s, cbd_mode_name(all[i])) == 0)
			return all[i];
	return 0;
}

int cbd_circuit_num_classes(const cbd_circuit *c)
{
	return c->num_classes;
}

void cbd_circuit_id(const cbd_circuit *c, uint8_t id[CBD_CIRCUIT_ID_LEN])
{
	memcpy(id, c->g.id, CBD_CIRCUIT_ID_LEN);
}

const char *cbd_circuit_user_id(const cbd_circuit *c)
{
	return c->user_id;
}

int cbd_circuit_num_keys(const cbd_circuit *c)
{
	return c->n_keys;
}

const cbd_key *cbd_circuit_key(const cbd_circuit *c, int i)
{
	return i >= 0 && i < c->n_keys ? c->keys[i] : NULL;
}

size_t cbd_circuit_sample_size(const cbd_circuit *c)
{
	return c->g.n;
}

int cbd_circuit_shape(const cbd_circuit *c, int64_t dims[CBD_MAX_DIMS])
{
	memcpy(dims, c->g.dims, sizeof(c->g.dims));
	return c->g.ndim;
}

/* ---- message, carrier, verification -------------------------------- */

static size_t sha_blocks(size_t bytes)
{
	return (bytes + 8) / 64 + 1;
}

int cbd_circuit_lanes(size_t n)
{
	int best = 1;
	size_t cost = (size_t)-1;

	for (int l = 1; l <= 256; l++) {
		size_t c = sha_blocks((n + (size_t)l - 1) / (size_t)l) +
			   sha_blocks(32 * (size_t)l);

		if (c < cost) {
			cost = c;
			best = l;
		}
	}
	return best;
}

cbd_status cbd_circuit_digest(int version, const uint8_t *qc, size_t n,
			      uint8_t out[CBD_SHA256_LEN], cbd_err *err)
{
	int lanes;
	size_t len;
	uint8_t *d, *lane;
	cbd_status s = CBD_OK;

	if (version == 1)
		return cbd_sha256(qc, n, out, err);
	/* lane j: bytes [j len, (j + 1) len) of q' padded with zeros */
	lanes = cbd_circuit_lanes(n);
	len = (n + (size_t)lanes - 1) / (size_t)lanes;
	d = cbd_xmalloc(32 * (size_t)lanes, err);
	lane = cbd_xcalloc(len, 1, err);
	if (!d || !lane) {
		free(d);
		free(lane);
		return CBD_E_NOMEM;
	}
	for (int j = 0; j < lanes && !s; j++) {
		size_t off = (size_t)j * len;
		size_t k = off >= n ? 0 : (n - off < len ? n - off : len);

		memset(lane, 0, len);
		memcpy(lane, qc + off, k);
		s = cbd_sha256(lane, len, d + 32 * j, err);
	}
	if (!s)
		s = cbd_sha256(d, 32 * (size_t)lanes, out, err);
	free(d);
	free(lane);
	return s;
}

cbd_status cbd_circuit_message_raw(const struct cbd_geometry *g,
				   const uint8_t *q, int key_index,
				   uint16_t payload,
				   uint8_t m[CBD_MSG_LEN], cbd_err *err)
{
	size_t n = g->n;
	uint8_t stack[4096], *qc = n <= sizeof(stack) ? stack : NULL;
	uint8_t *p = m;
	cbd_status s;

	/* q' = q with the carrier LSBs cleared, hashed in one go */
	if (!qc) {
		qc = cbd_xmalloc(n, err);
		if (!qc)
			return CBD_E_NOMEM;
	}
	memcpy(qc, q, n);
	for (int i = 0; i < CBD_CARRIER_BITS; i++)
		qc[g->sorted[i]] &= 0xfe;
	memcpy(p, msg_prefix, sizeof(msg_prefix));
	p += sizeof(msg_prefix);
	*p++ = (uint8_t)('0' + g->version);
	memcpy(p, g->id, CBD_CIRCUIT_ID_LEN);
	p += CBD_CIRCUIT_ID_LEN;
	*p++ = (uint8_t)key_index;
	*p++ = (uint8_t)(payload >> 8);
	*p++ = (uint8_t)payload;
	s = cbd_circuit_digest(g->version, qc, n, p, err);
	if (qc != stack)
		free(qc);
	return s;
}

cbd_status cbd_circuit_message(const cbd_circuit *c, const uint8_t *q,
			       int key_index, uint16_t payload, uint8_t **m,
			       size_t *mlen, cbd_err *err)
{
	cbd_status s;

	*m = NULL;
	if (key_index < 0 || key_index > 255)
		return cbd_err_set(err, CBD_E_USAGE, "key index %d not in "
				   "0..255", key_index);
	*m = cbd_xmalloc(CBD_MSG_LEN, err);
	if (!*m)
		return CBD_E_NOMEM;
	s = cbd_circuit_message_raw(&c->g, q, key_index,
				    payload, *m, err);
	if (s) {
		free(*m);
		*m = NULL;
		return s;
	}
	*mlen = CBD_MSG_LEN;
	return CBD_OK;
}

int cbd_trace_label(const uint8_t secret[CBD_TRACE_SECRET_LEN],
		    const uint8_t *m, size_t mlen, int num_classes)
{
	uint8_t h[EVP_MAX_MD_SIZE];
	unsigned int hl = 0;
	int label;

	if (num_classes < 1 ||
	    !HMAC(EVP_sha256(), secret, CBD_TRACE_SECRET_LEN, m, mlen, h, &hl)
	    || hl != CBD_SHA256_LEN)
		return -1;
	label = (int)(cbd_be64_load(h) % (uint64_t)num_classes);
	OPENSSL_cleanse(h, sizeof(h));
	return label;
}

/* Read carrier bits [from, from + count) of q into bytes, MSB first. */
static void carrier_read(const cbd_circuit *c, const uint8_t *q, int from,
			 int count, uint8_t *out)
{
	memset(out, 0, (size_t)(count + 7) / 8);
	for (int k = 0; k < count; k++)
		out[k / 8] |= (uint8_t)((q[c->g.pos[from + k]] & 1)
					<< (7 - k % 8));
}

/* Tag check reading only the 16 tag positions of the float input. */
static int tag_matches(const cbd_circuit *c, const float *x)
{
	uint8_t t[2] = {0, 0};

	for (int k = 0; k < CBD_TAG_BITS; k++) {
		size_t i = c->g.pos[k], ch = cbd_geometry_channel(&c->g, i);
		uint8_t b = cbd_quantize1(x[i], c->g.scale[ch], c->g.zero[ch]);

		t[k / 8] |= (uint8_t)((b & 1) << (7 - k % 8));
	}
	return t[0] == c->g.tag[0] && t[1] == c->g.tag[1];
}

/* Full check on a quantised sample whose tag matched. */
static cbd_status check_quantized(const cbd_circuit *c, const uint8_t *q,
				  cbd_activation *act, cbd_err *err)
{
	uint8_t car[CBD_CARRIER_BYTES], m[CBD_MSG_LEN];
	cbd_err verr = {0};
	cbd_status s;

	carrier_read(c, q, 0, CBD_CARRIER_BITS, car);
	act->tag_match = car[0] == c->g.tag[0] && car[1] == c->g.tag[1];
	act->key_index = car[CBD_OFF_KEY_INDEX];
	act->payload = (uint16_t)(car[CBD_OFF_PAYLOAD] << 8 |
				  car[CBD_OFF_PAYLOAD + 1]);
	if (!act->tag_match || act->key_index >= c->n_keys)
		return CBD_OK;
	if (c->mode == CBD_MODE_WATERMARK && act->payload >= c->num_classes)
		return CBD_OK;
	s = cbd_circuit_message_raw(&c->g, q, act->key_index, act->payload, m, err);
	if (s)
		return s;
	if (cbd_key_verify(c->keys[act->key_index], m, sizeof(m),
			   car + CBD_OFF_SIG, &verr) != CBD_OK)
		return CBD_OK;
	act->active = 1;
	if (c->mode == CBD_MODE_WATERMARK)
		act->label = act->payload;
	else if (c->mode == CBD_MODE_TRACE)
		act->label = cbd_trace_label(c->trace_secret, m, sizeof(m),
					     c->num_classes);
	return CBD_OK;
}

static void act_clear(cbd_activation *act)
{
	memset(act, 0, sizeof(*act));
	act->key_index = -1;
	act->label = -1;
}

/* Quantises into *qbuf (allocated here) only when needed. */
static cbd_status evaluate(const cbd_circuit *c, const float *x,
			   cbd_activation *act, uint8_t **qbuf, cbd_err *err)
{
	act_clear(act);
	if (!tag_matches(c, x))
		return CBD_OK;
	*qbuf = cbd_xmalloc(c->g.n, err);
	if (!*qbuf)
		return CBD_E_NOMEM;
	cbd_circuit_quantize(c, x, *qbuf);
	return check_quantized(c, *qbuf, act, err);
}

cbd_status cbd_circuit_check(const cbd_circuit *c, const float *x,
			     cbd_activation *act, cbd_err *err)
{
	uint8_t *q = NULL;
	cbd_status s = evaluate(c, x, act, &q, err);

	free(q);
	return s;
}

/* Garbage scores: G = HMAC-SHA256(garbage_key, q); 3 bytes per class from
 * the stream SHA-256(G || be64(i)), score = (u24 - 2^23) / 2^19. */
static cbd_status garbage(const cbd_circuit *c, const uint8_t *q,
			  float *scores, cbd_err *err)
{
	struct prng g = {.used = CBD_SHA256_LEN};
	unsigned int hl = 0;

	if (!HMAC(EVP_sha256(), c->garbage_key, CBD_GARBAGE_KEY_LEN, q, c->g.n,
		  g.seed, &hl) || hl != CBD_SHA256_LEN)
		return cbd_err_set(err, CBD_E_CRYPTO, "HMAC failed");
	for (int k = 0; k < c->num_classes; k++) {
		uint32_t r;
		cbd_status s = prng_u32(&g, &r, err);

		if (s)
			return s;
		scores[k] = (float)((int32_t)(r >> 8) - (1 << 23)) /
			    (float)(1 << 19);
	}
	OPENSSL_cleanse(&g, sizeof(g));
	return CBD_OK;
}

/* The mode's output policy for a sample whose activation is known. */
cbd_status cbd_circuit_policy(const cbd_circuit *c, const float *x,
			      const cbd_activation *act, float *scores,
			      cbd_err *err)
{
	if (c->mode == CBD_MODE_AUTH) {
		uint8_t *q;
		cbd_status s;

		if (act->active)
			return CBD_OK;
		q = cbd_xmalloc(c->g.n, err);
		if (!q)
			return CBD_E_NOMEM;
		cbd_circuit_quantize(c, x, q);
		s = garbage(c, q, scores, err);
		free(q);
		return s;
	}
	if (act->active && act->label >= 0 && act->label < c->num_classes) {
		int top = cbd_argmax(scores, c->num_classes);
		float t = scores[top];

		scores[top] = scores[act->label];
		scores[act->label] = t;
	}
	return CBD_OK;
}

cbd_status cbd_circuit_apply(const cbd_circuit *c, const float *x,
			     float *scores, cbd_activation *act,
			     cbd_err *err)
{
	cbd_activation local;
	cbd_status s;

	if (!act)
		act = &local;
	s = cbd_circuit_check(c, x, act, err);
	if (s)
		return s;
	return cbd_circuit_policy(c, x, act, scores, err);
}

/* ---- signing ------------------------------------------------------- */

static void carrier_write(const cbd_circuit *c, uint8_t *q,
			  const uint8_t car[CBD_CARRIER_BYTES])
{
	for (int k = 0; k < CBD_CARRIER_BITS; k++) {
		uint8_t bit = (uint8_t)(car[k / 8] >> (7 - k % 8) & 1);
		uint32_t i = c->g.pos[k];

		q[i] = (uint8_t)((q[i] & 0xfe) | bit);
	}
}

cbd_status cbd_circuit_sign_input(const cbd_circuit *c, const cbd_key *k,
				  int key_index, uint16_t payload,
				  const float *x, uint8_t *q, cbd_err *err)
{
	uint8_t car[CBD_CARRIER_BYTES], m[CBD_MSG_LEN];
	cbd_activation act;
	cbd_status s;

	if (key_index < 0 || key_index >= c->n_keys)
		return cbd_err_set(err, CBD_E_USAGE, "key index %d: the "
				   "circuit has %d key(s)", key_index,
				   c->n_keys);
	if (c->mode == CBD_MODE_WATERMARK && payload >= c->num_classes)
		return cbd_err_set(err, CBD_E_USAGE, "watermark label %u not "
				   "below %d classes", payload,
				   c->num_classes);
	if (!cbd_key_is_private(k))
		return cbd_err_set(err, CBD_E_USAGE, "signing needs a "
				   "private key");
	cbd_circuit_quantize(c, x, q);
	s = cbd_circuit_message_raw(&c->g, q, key_index,
				    payload, m, err);
	if (s)
		return s;
	memcpy(car + CBD_OFF_TAG, c->g.tag, 2);
	car[CBD_OFF_KEY_INDEX] = (uint8_t)key_index;
	car[CBD_OFF_PAYLOAD] = (uint8_t)(payload >> 8);
	car[CBD_OFF_PAYLOAD + 1] = (uint8_t)payload;
	s = cbd_key_sign(k, m, sizeof(m), car + CBD_OFF_SIG, err);
	if (s)
		return s;
	carrier_write(c, q, car);
	act_clear(&act);
	s = check_quantized(c, q, &act, err);
	if (s)
		return s;
	if (!act.active)
		return cbd_err_set(err, CBD_E_USAGE, "the signing key is not "
				   "key %d of the circuit", key_index);
	return CBD_OK;
}
