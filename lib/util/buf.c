/*
 * buf.c — the growable byte buffer with JSON writers: request and response
 * bodies (probe, serve), transcript lines, manifests, tar streams, keyrings.
 *
 * We write JSON by hand rather than through cJSON's printer because the
 * bytes matter: transcript lines are hashed into a chain and request bodies
 * are digested, so the spelling of every number is fixed here (float32 as
 * %.9g, which round-trips exactly).  An allocation failure sets b->oom and
 * makes later appends no-ops; callers check oom once at the end.  A
 * secret buffer (keyrings) never goes through realloc, which would free the
 * old block without wiping it: it grows by copying, and wipes what it
 * frees.
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
	b->oom = 0;
	if (b->p)
		b->p[0] = 0;
}

static int grow(cbd_buf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return 0;
	if (!cbd_add_size(more, 1, &need) ||
	    !cbd_add_size(b->len, need, &need)) {
		b->oom = 1;
		return 0;
	}
	if (need <= b->cap)
		return 1;
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (!cbd_mul_size(cap, 2, &cap)) {
			b->oom = 1;
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
		b->oom = 1;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
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
	if (n < 0 || !grow(b, (size_t)n)) {
		b->oom = 1;
		return;
	}
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

void cbd_buf_json_digest(cbd_buf *b, const uint8_t d[CBD_SHA256_LEN])
{
	char hex[2 * CBD_SHA256_LEN + 1];

	cbd_hex(d, CBD_SHA256_LEN, hex);
	cbd_buf_add(b, "\"", 1);
	cbd_buf_add(b, hex, 2 * CBD_SHA256_LEN);
	cbd_buf_add(b, "\"", 1);
}
