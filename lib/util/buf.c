/*
 * buf.c — the growable byte buffer with JSON writers: request and response
 * bodies (probe, serve), transcript lines, manifests, tar streams, keyrings.
 *
 * We write JSON by hand rather than through cJSON's printer because the
 * bytes matter: transcript lines are hashed into a chain and request bodies
 * are digested, so the spelling of every number is fixed here (float32 as
 * %.9g, which round-trips exactly).  The first failure (no memory, or
 * more than b->max bytes) sticks in b->st and makes later appends no-ops;
 * callers check st once at the end.  A secret buffer (keyrings) never goes
 * through realloc, which would free the old block without wiping it: it
 * grows by copying, and wipes what it frees.
 */
#include "util_internal.h"

#include <math.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <string.h>

void cbd_buf_free(cbd_buf *b)
{
	if (b->p && b->secret)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void cbd_buf_reset(cbd_buf *b)
{
	b->len = 0;
	b->st = CBD_OK;
	if (b->p)
		b->p[0] = 0;
}

cbd_status cbd_buf_finish(cbd_buf *b, const char *what, uint8_t **out,
			  size_t *len, cbd_err *err)
{
	cbd_status st = b->st;

	*out = NULL;
	*len = 0;
	if (st) {
		cbd_buf_free(b);
		return cbd_err_set(err, st, "cannot build %s: %s", what,
				   cbd_strerror(st));
	}
	*out = (uint8_t *)b->p;
	*len = b->len;
	b->p = NULL;
	cbd_buf_free(b);
	return CBD_OK;
}

static int grow(cbd_buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->st)
		return 0;
	if (!cbd_add_size(more, 1, &need) ||
	    !cbd_add_size(b->len, need, &need)) {
		b->st = CBD_E_NOMEM;
		return 0;
	}
	if (b->max && need - 1 > b->max) {
		b->st = CBD_E_TOOBIG;
		return 0;
	}
	if (need <= b->cap)
		return 1;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (!cbd_mul_size(cap, 2, &cap)) {
			b->st = CBD_E_NOMEM;
			return 0;
		}
	}
	if (b->secret) {
		p = malloc(cap);
		if (p && b->p) {
			memcpy(p, b->p, b->len + 1);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
	} else {
		p = realloc(b->p, cap);
	}
	if (!p) {
		b->st = CBD_E_NOMEM;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
}

char *cbd_buf_reserve(cbd_buf *b, size_t n)
{
	return grow(b, n) ? b->p + b->len : NULL;
}

void cbd_buf_add(cbd_buf *b, const void *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void cbd_buf_puts(cbd_buf *b, const char *s)
{
	cbd_buf_add(b, s, strlen(s));
}

void cbd_buf_printf(cbd_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->st = b->st ? b->st : CBD_E_INTERNAL;
		return;
	}
	if (!grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_put(void *b, const char *s, size_t n)
{
	cbd_buf_add(b, s, n);
}

void cbd_buf_json_str(cbd_buf *b, const char *s)
{
	cbd_json_put_str(s, false, buf_put, b);
}

void cbd_buf_json_str_or_null(cbd_buf *b, const char *s)
{
	if (s)
		cbd_buf_json_str(b, s);
	else
		cbd_buf_add(b, "null", 4);
}

void cbd_buf_json_str_ascii(cbd_buf *b, const char *s)
{
	cbd_json_put_str(s, true, buf_put, b);
}

void cbd_buf_json_float(cbd_buf *b, float f)
{
	char tmp[32];
	int n;

	if (!isfinite(f)) {
		cbd_buf_add(b, "null", 4);
		return;
	}
	n = snprintf(tmp, sizeof(tmp), "%.9g", (double)f);
	cbd_buf_add(b, tmp, (size_t)n);
}

void cbd_buf_json_hex(cbd_buf *b, const uint8_t *bytes, size_t n)
{
	char h[65];

	cbd_buf_add(b, "\"", 1);
	while (n > 0) {
		size_t k = n > 32 ? 32 : n;

		cbd_hex(bytes, k, h);
		cbd_buf_add(b, h, 2 * k);
		bytes += k;
		n -= k;
	}
	cbd_buf_add(b, "\"", 1);
	OPENSSL_cleanse(h, sizeof(h));
}

void cbd_buf_json_digest(cbd_buf *b, const uint8_t d[CBD_SHA256_LEN])
{
	cbd_buf_json_hex(b, d, CBD_SHA256_LEN);
}

void cbd_buf_json_digest_or_null(cbd_buf *b, const uint8_t *d)
{
	if (d)
		cbd_buf_json_digest(b, d);
	else
		cbd_buf_add(b, "null", 4);
}
