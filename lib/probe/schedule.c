/*
 * schedule.c — decoys among the triggers (cbd-probe --decoys): which
 * clean samples are sent, in what order, under which request ids, all
 * drawn from one 32-byte seed that the transcript's "schedule" line
 * records (formats/transcript.md, "Schedule").
 *
 * A suspect that sees a run of triggers can learn to filter them; mixed
 * with the investigator's own clean samples, in a random order, under
 * ids that say nothing (never the trigger set's "t0000"), a trigger
 * looks like any other query.  From the seed S (RAND_bytes):
 *
 *   stream    block i = SHA-256("cbd/probe-schedule" || S || u64be(i)),
 *             read as big-endian u32 words w0, w1, ...
 *   uniform   u(n): the next word w below 2^32 - (2^32 mod n), w mod n
 *             (rejection: unbiased)
 *   decoys    D = round(ratio * P) for the P triggers still to send (at
 *             least 1); the M decoy samples are shuffled once (Fisher-
 *             Yates, i = M-1 .. 1, swap i with u(i+1)), decoy k is
 *             sample perm[k mod M]
 *   order     the P pending triggers in index order, then decoys 0..D-1,
 *             shuffled the same way; sent in that order
 *   wire id   of the query at position j (0-based): "q" and the first 8
 *             bytes, in hex, of SHA-256("cbd/probe-wire-id" || S ||
 *             u32be(j))
 */
#include "probe_internal.h"

#include <math.h>
#include <openssl/rand.h>
#include <string.h>

struct stream {
	uint8_t seed[CBD_SHA256_LEN];
	uint8_t block[CBD_SHA256_LEN];
	uint64_t counter;
	size_t used;            /* bytes of block consumed */
};

static void refill(struct stream *st)
{
	static const char tag[] = "cbd/probe-schedule";
	uint8_t buf[sizeof(tag) - 1 + CBD_SHA256_LEN + 8];
	size_t k = sizeof(tag) - 1;

	memcpy(buf, tag, k);
	memcpy(buf + k, st->seed, CBD_SHA256_LEN);
	k += CBD_SHA256_LEN;
	for (int i = 7; i >= 0; i--)
		buf[k++] = (uint8_t)(st->counter >> (8 * i));
	cbd_sha256(buf, k, st->block, NULL);
	st->counter++;
	st->used = 0;
}

static uint32_t word(struct stream *st)
{
	uint32_t w;

	if (st->used + 4 > CBD_SHA256_LEN)
		refill(st);
	w = (uint32_t)st->block[st->used] << 24 |
	    (uint32_t)st->block[st->used + 1] << 16 |
	    (uint32_t)st->block[st->used + 2] << 8 |
	    (uint32_t)st->block[st->used + 3];
	st->used += 4;
	return w;
}

static size_t uniform(struct stream *st, size_t n)
{
	uint64_t limit = (1ull << 32) - ((1ull << 32) % n);
	uint32_t w;

	do
		w = word(st);
	while (w >= limit);
	return w % n;
}

static void shuffle(struct stream *st, size_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = uniform(st, i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void wire_id(const uint8_t seed[CBD_SHA256_LEN], size_t j,
		    char out[24])
{
	static const char tag[] = "cbd/probe-wire-id";
	uint8_t buf[sizeof(tag) - 1 + CBD_SHA256_LEN + 4], d[CBD_SHA256_LEN];
	size_t k = sizeof(tag) - 1;

	memcpy(buf, tag, k);
	memcpy(buf + k, seed, CBD_SHA256_LEN);
	k += CBD_SHA256_LEN;
	for (int i = 3; i >= 0; i--)
		buf[k++] = (uint8_t)(j >> (8 * i));
	cbd_sha256(buf, k, d, NULL);
	out[0] = 'q';
	cbd_hex(d, 8, out + 1);
	out[17] = 0;
}

/* Make decoy item k from sample s of the decoy tensor. */
static cbd_status decoy_item(struct probe *p, struct probe_item *it,
			     size_t k, size_t s, cbd_err *err)
{
	const cbd_tensor *dt = p->o->decoys;

	memset(it, 0, sizeof(*it));
	it->decoy = 1;
	it->index = s;
	snprintf(it->name, sizeof(it->name), "d%zu", k);
	it->id = it->name;
	it->q = (const uint8_t *)dt->data + s * p->n;
	it->x = malloc(p->n * sizeof(float));
	if (!it->x)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	cbd_dequantize_default(it->q, p->n, it->x);
	return CBD_OK;
}

cbd_status probe_decoys_ok(const struct probe *p, cbd_err *err)
{
	const cbd_tensor *dt = p->o->decoys;

	if (!dt)
		return CBD_OK;
	if (dt->dtype != CBD_DT_UINT8 || dt->ndim < 2 || dt->dims[0] < 1 ||
	    dt->dims[0] > CBD_MAX_TRIGGERS ||
	    dt->nelem / (size_t)dt->dims[0] != p->n)
		return cbd_err_set(err, CBD_E_SHAPE, "decoys must be uint8 "
				   "[M, ...] samples of the triggers' shape "
				   "(%zu elements each), 1 <= M <= %d", p->n,
				   CBD_MAX_TRIGGERS);
	if (!(p->o->decoy_ratio > 0) || p->o->decoy_ratio > 100)
		return cbd_err_set(err, CBD_E_USAGE, "decoy ratio must be in "
				   "(0, 100]");
	return CBD_OK;
}

cbd_status probe_schedule(struct probe *p, cbd_err *err)
{
	const cbd_probe_opts *o = p->o;
	const cbd_tensor *dt = o->decoys;
	struct stream st = {0};
	size_t m, pending = 0, d, total, *perm = NULL, *order = NULL, at = 0;
	struct probe_item *items;
	cbd_status s = CBD_OK;

	if (!dt)
		return CBD_OK;
	s = probe_decoys_ok(p, err);
	if (s)
		return s;
	m = (size_t)dt->dims[0];
	for (size_t i = 0; i < p->n_items; i++)
		pending += p->items[i].state == 0;
	d = pending ? (size_t)lround(o->decoy_ratio * (double)pending) : 0;
	if (pending && d < 1)
		d = 1;
	if (m < 1 || d > (size_t)CBD_MAX_TRIGGERS * 100)
		return cbd_err_set(err, CBD_E_USAGE, "no decoy samples, or "
				   "too many decoys (%zu)", d);
	if (RAND_bytes(st.seed, sizeof(st.seed)) != 1)
		return cbd_err_set(err, CBD_E_CRYPTO, "no randomness for the "
				   "decoy schedule");
	memcpy(p->seed, st.seed, sizeof(st.seed));
	st.used = CBD_SHA256_LEN;     /* refill on the first word */
	total = p->n_items + d;
	items = calloc(total, sizeof(*items));
	perm = calloc(m, sizeof(*perm));
	order = calloc(pending + d ? pending + d : 1, sizeof(*order));
	if (!items || !perm || !order) {
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m; i++)
		perm[i] = i;
	shuffle(&st, perm, m);
	/* done items first (their order does not matter), then the rest */
	for (size_t i = 0; i < p->n_items; i++)
		if (p->items[i].state != 0)
			items[at++] = p->items[i];
	for (size_t i = 0, k = 0; i < p->n_items; i++)
		if (p->items[i].state == 0)
			order[k++] = i;
	for (size_t k = 0; k < d; k++)
		order[pending + k] = p->n_items + k;
	shuffle(&st, order, pending + d);
	for (size_t j = 0; j < pending + d && !s; j++) {
		struct probe_item *it = &items[at++];

		if (order[j] < p->n_items)
			*it = p->items[order[j]];
		else
			s = decoy_item(p, it, order[j] - p->n_items,
				       perm[(order[j] - p->n_items) % m], err);
		wire_id(st.seed, j, it->wire);
	}
	p->n_decoys = d;
	free(p->items);
	p->items = items;
	p->n_items = total;
	p->cursor = 0;
	items = NULL;
out:
	for (size_t i = 0; items && i < total; i++)
		if (items[i].decoy)
			free(items[i].x);
	free(items);
	free(perm);
	free(order);
	return s;
}
