/*
 * hmac.c — trace labels for many users, fast.
 *
 * Attribution recomputes T trace labels for each of N users (64 x 1e6 HMACs
 * for a large licensee base).  The trigger messages are fixed, so they are
 * gathered once into a label plan.  Per user, HMAC-SHA256's two padded key
 * blocks are hashed once into an inner and an outer SHA-256 state (RFC 2104:
 * H(K^opad || H(K^ipad || m))); per message the states are copied by value
 * and only the message and the inner digest are hashed — three SHA-256
 * compressions for a 57-byte message, no allocation, no provider dispatch.
 * This uses OpenSSL's low-level SHA256_* functions (deprecated in 3.0 but
 * present; the same assembly as EVP), which measured about twice as fast as
 * re-initialising an EVP_MAC context per message (tools/bench-attribute.sh).
 * tests/unit/test_attribute.c checks the labels against cbd_trace_label(),
 * which goes through EVP.  Each thread owns one state.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "attribute_internal.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>

struct cbd_hmac_fast {
	SHA256_CTX inner, outer;   /* after the padded key block */
};

cbd_status cbd_hmac_fast_new(struct cbd_hmac_fast **out, cbd_err *err)
{
	*out = cbd_xcalloc(1, sizeof(**out), err);
	return *out ? CBD_OK : CBD_E_NOMEM;
}

void cbd_hmac_fast_free(struct cbd_hmac_fast *h)
{
	if (!h)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

cbd_status cbd_hmac_fast_key(struct cbd_hmac_fast *h, const uint8_t *key,
			     size_t len, cbd_err *err)
{
	uint8_t k[SHA256_CBLOCK], pad[SHA256_CBLOCK];
	int ok = 1;

	memset(k, 0, sizeof(k));
	if (len > SHA256_CBLOCK)
		ok &= SHA256(key, len, k) != NULL;
	else
		memcpy(k, key, len);
	for (int i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok &= SHA256_Init(&h->inner) && SHA256_Update(&h->inner, pad,
						      sizeof(pad));
	for (int i = 0; i < SHA256_CBLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok &= SHA256_Init(&h->outer) && SHA256_Update(&h->outer, pad,
						      sizeof(pad));
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	if (!ok)
		return cbd_err_set(err, CBD_E_CRYPTO, "HMAC key setup failed");
	return CBD_OK;
}

int cbd_hmac_fast_label(struct cbd_hmac_fast *h, const uint8_t *m,
			size_t len, int K)
{
	SHA256_CTX c = h->inner;
	uint8_t d[SHA256_DIGEST_LENGTH];

	if (!SHA256_Update(&c, m, len) || !SHA256_Final(d, &c))
		return -1;
	c = h->outer;
	if (!SHA256_Update(&c, d, sizeof(d)) || !SHA256_Final(d, &c))
		return -1;
	return (int)(cbd_be64_load(d) % (uint64_t)K);
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
