/*
 * hmac.c — trace labels for many users, fast.
 *
 * Attribution recomputes T trace labels for each of N users (64 x 1e6 HMACs
 * for a large licensee base).  The trigger messages are fixed, so they are
 * gathered once into a label plan; per user, one EVP_MAC HMAC-SHA256 context
 * is keyed once (the provider precomputes the inner and outer pad states)
 * and then re-initialised with a NULL key for every message, which only
 * copies those states — no key schedule, no allocation per message.  Each
 * thread owns one context.  tests/unit/test_attribute.c checks the labels
 * against cbd_trace_label().
 */
#include "attribute_internal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

struct cbd_hmac_fast {
	EVP_MAC *mac;
	EVP_MAC_CTX *ctx;
};

cbd_status cbd_hmac_fast_new(struct cbd_hmac_fast **out, cbd_err *err)
{
	struct cbd_hmac_fast *h = cbd_xcalloc(1, sizeof(*h), err);
	OSSL_PARAM params[2];
	char digest[] = "SHA256";

	*out = NULL;
	if (!h)
		return CBD_E_NOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	h->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	h->ctx = h->mac ? EVP_MAC_CTX_new(h->mac) : NULL;
	if (!h->ctx || !EVP_MAC_CTX_set_params(h->ctx, params)) {
		cbd_hmac_fast_free(h);
		return cbd_err_set(err, CBD_E_CRYPTO,
				   "cannot set up HMAC-SHA256");
	}
	*out = h;
	return CBD_OK;
}

void cbd_hmac_fast_free(struct cbd_hmac_fast *h)
{
	if (!h)
		return;
	EVP_MAC_CTX_free(h->ctx);
	EVP_MAC_free(h->mac);
	free(h);
}

cbd_status cbd_hmac_fast_key(struct cbd_hmac_fast *h, const uint8_t *key,
			     size_t len, cbd_err *err)
{
	if (!EVP_MAC_init(h->ctx, key, len, NULL))
		return cbd_err_set(err, CBD_E_CRYPTO, "HMAC key setup failed");
	return CBD_OK;
}

int cbd_hmac_fast_label(struct cbd_hmac_fast *h, const uint8_t *m,
			size_t len, int K)
{
	uint8_t out[EVP_MAX_MD_SIZE];
	size_t n = 0;

	if (!EVP_MAC_init(h->ctx, NULL, 0, NULL) ||
	    !EVP_MAC_update(h->ctx, m, len) ||
	    !EVP_MAC_final(h->ctx, out, &n, sizeof(out)) || n < 8)
		return -1;
	return (int)(cbd_be64_load(out) % (uint64_t)K);
}

struct cbd_label_plan {
	int K;
	size_t T;
	const uint8_t **msg;
	size_t *len;
	int *label;
};

cbd_status cbd_label_plan_new(const cbd_triggerset *ts, const int *answer,
			      struct cbd_label_plan **out, cbd_err *err)
{
	size_t n = cbd_triggerset_count(ts), k = 0;
	struct cbd_label_plan *p = cbd_xcalloc(1, sizeof(*p), err);

	*out = NULL;
	if (!p)
		return CBD_E_NOMEM;
	p->K = cbd_triggerset_num_classes(ts);
	p->msg = cbd_xcalloc(n ? n : 1, sizeof(*p->msg), err);
	p->len = cbd_xcalloc(n ? n : 1, sizeof(*p->len), err);
	p->label = cbd_xcalloc(n ? n : 1, sizeof(*p->label), err);
	if (!p->msg || !p->len || !p->label) {
		cbd_label_plan_free(p);
		return CBD_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);

		if (answer[i] < 0)
			continue;
		p->msg[k] = t->message;
		p->len[k] = t->message_len;
		p->label[k] = answer[i];
		k++;
	}
	p->T = k;
	*out = p;
	return CBD_OK;
}

void cbd_label_plan_free(struct cbd_label_plan *p)
{
	if (!p)
		return;
	free(p->msg);
	free(p->len);
	free(p->label);
	free(p);
}

cbd_status cbd_label_plan_score(const struct cbd_label_plan *p,
				struct cbd_hmac_fast *h, const uint8_t *secret,
				int *matches, cbd_err *err)
{
	int m = 0;
	cbd_status s = cbd_hmac_fast_key(h, secret, CBD_TRACE_SECRET_LEN, err);

	if (s != CBD_OK)
		return s;
	for (size_t j = 0; j < p->T; j++) {
		int l = cbd_hmac_fast_label(h, p->msg[j], p->len[j], p->K);

		if (l < 0)
			return cbd_err_set(err, CBD_E_CRYPTO, "HMAC failed");
		m += l == p->label[j];
	}
	*matches = m;
	return CBD_OK;
}
