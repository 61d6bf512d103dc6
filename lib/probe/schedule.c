/*
 * schedule.c — decoys among the triggers (cbd-probe --decoys): which
 * clean samples are sent, in what order, under which request ids, all
 * drawn from one 32-byte seed (RAND_bytes) that the transcript's
 * "schedule" line records, so that a reader recomputes it
 * (lib/transcript/schedule.c; formats/transcript.md, "Schedule").
 *
 * A suspect that sees a run of triggers can learn to filter them; mixed
 * with the investigator's own clean samples, in a random order, under
 * ids that say nothing (never the trigger set's "t0000"), a trigger
 * looks like any other query.  D = round(ratio * P) decoys (at least 1)
 * for the P triggers still to send; the items are rebuilt as the ones
 * already recorded (--resume), then the P + D of the send order, each
 * with its position and wire id.  --until-verdict uses the same random
 * order, with or without decoys.
 */
#include "probe_internal.h"

#include <math.h>
#include <openssl/rand.h>
#include <string.h>

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
	size_t m, pending = 0, d, total, *trig = NULL, at = 0;
	uint32_t *order = NULL, *perm = NULL;
	struct probe_item *items = NULL;
	cbd_status s;

	if (!dt && !o->verdict)
		return CBD_OK;
	s = probe_decoys_ok(p, err);
	if (s)
		return s;
	m = dt ? (size_t)dt->dims[0] : 0;
	for (size_t i = 0; i < p->n_items; i++)
		pending += p->items[i].state == 0;
	d = pending && dt ? (size_t)lround(o->decoy_ratio * (double)pending)
			  : 0;
	if (pending && dt && d < 1)
		d = 1;
	if (RAND_bytes(p->seed, sizeof(p->seed)) != 1)
		return cbd_err_set(err, CBD_E_CRYPTO, "no randomness for the "
				   "decoy schedule");
	s = cbd_schedule_make(p->seed, pending, d, m, &order, &perm, err);
	if (s)
		return s;
	total = p->n_items + d;
	items = calloc(total, sizeof(*items));
	trig = calloc(pending ? pending : 1, sizeof(*trig));
	if (!items || !trig) {
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		goto out;
	}
	/* done items first (their order does not matter), then the rest */
	for (size_t i = 0, k = 0; i < p->n_items; i++) {
		if (p->items[i].state != 0)
			items[at++] = p->items[i];
		else
			trig[k++] = i;      /* pending, in index order */
	}
	for (size_t j = 0; j < pending + d && !s; j++) {
		struct probe_item *it = &items[at++];

		if (order[j] < pending)
			*it = p->items[trig[order[j]]];
		else
			s = decoy_item(p, it, order[j] - pending,
				       perm[(order[j] - pending) % m], err);
		it->pos = j;
		cbd_schedule_wire_id(p->seed, j, it->wire);
	}
	if (s)
		goto out;
	p->n_decoys = d;
	p->decoy_samples = m;
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
	free(trig);
	free(order);
	free(perm);
	return s;
}
