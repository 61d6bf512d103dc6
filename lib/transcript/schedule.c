/*
 * schedule.c — the send order of a decoy schedule (cbd-probe --decoys),
 * recomputed from its seed: the probe draws it, the reader checks every
 * query and decoy line against it (formats/transcript.md, "Schedule").
 *
 * From the 32-byte seed S:
 *
 *   stream    block i = SHA-256("cbd/probe-schedule" || S || u64be(i)),
 *             read as big-endian u32 words w0, w1, ...
 *   uniform   u(n): the next word w below 2^32 - (2^32 mod n), w mod n
 *             (rejection: unbiased)
 *   shuffle   of a[0..L-1]: for i = L .. 2, swap a[i-1] and a[u(i)]
 *   decoys    the M decoy samples 0..M-1 are shuffled into perm; decoy k
 *             (id "d<k>") is sample perm[k mod M]
 *   order     the P pending triggers in index order, then decoys 0..D-1,
 *             shuffled the same way: order[j] < P is the j-th pending
 *             trigger, order[j] = P + k is decoy k
 *   wire id   of the query at position j: "q" and the first 8 bytes, in
 *             hex, of SHA-256("cbd/probe-wire-id" || S || u32be(j))
 */
#include "transcript_internal.h"

#include <stdlib.h>
#include <string.h>

struct stream {
	const uint8_t *seed;
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

static uint32_t uniform(struct stream *st, uint32_t n)
{
	uint64_t limit = (1ull << 32) - ((1ull << 32) % n);
	uint32_t w;

	do
		w = word(st);
	while (w >= limit);
	return w % n;
}

static void shuffle(struct stream *st, uint32_t *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		uint32_t j = uniform(st, (uint32_t)i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

cbd_status cbd_schedule_make(const uint8_t seed[CBD_SHA256_LEN],
			     size_t pending, size_t decoys, size_t samples,
			     uint32_t **order, uint32_t **perm, cbd_err *err)
{
	struct stream st = {.seed = seed, .used = CBD_SHA256_LEN};
	size_t n = pending + decoys;

	*order = NULL;
	*perm = NULL;
	if ((samples < 1 && decoys > 0) || samples > CBD_MAX_TRIGGERS ||
	    n < pending ||
	    n > CBD_MAX_SCHEDULE || decoys > 100 * (pending ? pending : 1))
		return cbd_err_set(err, CBD_E_TOOBIG, "schedule of %zu "
				   "triggers and %zu decoys from %zu samples: "
				   "at most %zu queries, 100 decoys a trigger, "
				   "1 to %d samples", pending, decoys, samples,
				   (size_t)CBD_MAX_SCHEDULE, CBD_MAX_TRIGGERS);
	*order = malloc((n ? n : 1) * sizeof(**order));
	*perm = malloc((samples ? samples : 1) * sizeof(**perm));
	if (!*order || !*perm) {
		free(*order);
		free(*perm);
		*order = *perm = NULL;
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < samples; i++)
		(*perm)[i] = (uint32_t)i;
	shuffle(&st, *perm, samples);
	for (size_t i = 0; i < n; i++)
		(*order)[i] = (uint32_t)i;
	shuffle(&st, *order, n);
	return CBD_OK;
}

void cbd_schedule_wire_id(const uint8_t seed[CBD_SHA256_LEN], size_t pos,
			  char out[CBD_WIRE_ID_LEN])
{
	static const char tag[] = "cbd/probe-wire-id";
	uint8_t buf[sizeof(tag) - 1 + CBD_SHA256_LEN + 4], d[CBD_SHA256_LEN];
	size_t k = sizeof(tag) - 1;

	memcpy(buf, tag, k);
	memcpy(buf + k, seed, CBD_SHA256_LEN);
	k += CBD_SHA256_LEN;
	for (int i = 3; i >= 0; i--)
		buf[k++] = (uint8_t)(pos >> (8 * i));
	cbd_sha256(buf, k, d, NULL);
	out[0] = 'q';
	cbd_hex(d, 8, out + 1);
	out[17] = 0;
}
