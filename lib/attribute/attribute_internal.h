/*
 * attribute_internal.h — the label fast path shared by attribute.c and the
 * unit tests (not public).
 *
 * A label plan holds the answered triggers' messages and the labels the
 * suspect returned; scoring a user keys one reusable HMAC-SHA256 context
 * with the user's trace secret and counts the triggers whose trace label
 * (cbd_trace_label) equals the returned one.
 */
#ifndef CBD_ATTRIBUTE_INTERNAL_H
#define CBD_ATTRIBUTE_INTERNAL_H

#include "../util/util_internal.h"

/* One thread's HMAC-SHA256 state: inner and outer SHA-256 states of the
 * current key (hmac.c). */
struct cbd_hmac_fast;

cbd_status cbd_hmac_fast_new(struct cbd_hmac_fast **out, cbd_err *err);
void cbd_hmac_fast_free(struct cbd_hmac_fast *h);
/* Set the key for the following cbd_hmac_fast_label() calls. */
cbd_status cbd_hmac_fast_key(struct cbd_hmac_fast *h, const uint8_t *key,
			     size_t len, cbd_err *err);
/* HMAC(key, m): first 8 bytes big-endian mod K (cbd_trace_label's rule);
 * -1 on a library failure. */
int cbd_hmac_fast_label(struct cbd_hmac_fast *h, const uint8_t *m,
			size_t len, int K);

struct cbd_label_plan;

/* answer[i] >= 0: trigger i answered with that label (others skipped). */
cbd_status cbd_label_plan_new(const cbd_triggerset *ts, const int *answer,
			      struct cbd_label_plan **out, cbd_err *err);
void cbd_label_plan_free(struct cbd_label_plan *p);
/* *matches = triggers whose label under secret equals the answer. */
cbd_status cbd_label_plan_score(const struct cbd_label_plan *p,
				struct cbd_hmac_fast *h, const uint8_t *secret,
				int *matches, cbd_err *err);

#endif
