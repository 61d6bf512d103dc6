/*
 * util_internal.h — internal helpers shared by every libcbd module (not public).
 *
 * Error setting, checked arithmetic and small byte helpers.  Anything a tool
 * needs lives in include/cbd.h instead.
 */
#ifndef CBD_UTIL_INTERNAL_H
#define CBD_UTIL_INTERNAL_H

#include "cbd.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CBD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define CBD_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CBD_PRINTF(f, a)
#endif

/* Record code and a formatted detail in err (if non-NULL); returns code so
 * callers can write `return cbd_err_set(err, CBD_E_FORMAT, "...")`. */
cbd_status cbd_err_set(cbd_err *err, cbd_status code, const char *fmt, ...)
	CBD_PRINTF(3, 4);

/* Prefix an existing detail with "ctx: " (keeps the code). */
cbd_status cbd_err_prefix(cbd_err *err, const char *fmt, ...)
	CBD_PRINTF(2, 3);

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool cbd_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline bool cbd_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* The one bounded reader: fd to its end into a new NUL-terminated block
 * (*len without the NUL), at most max bytes (CBD_E_TOOBIG naming path
 * past that); hint is the expected size (0: unknown).  secret: a cbd_buf
 * in secret mode, so no unwiped copy of the bytes is left in freed memory
 * (the caller frees with cbd_secret_free). */
cbd_status cbd_fd_read_all(int fd, const char *path, size_t max,
			   size_t hint, int secret, uint8_t **buf,
			   size_t *len, cbd_err *err);
/* Write all of buf to fd, retrying short writes and EINTR; path names the
 * file in the error. */
cbd_status cbd_fd_write_all(int fd, const void *buf, size_t len,
			    const char *path, cbd_err *err);

/* cbd_file_write_atomic(), and with noreplace an existing file at path is
 * never replaced (CBD_E_CANTCREAT "already exists"), atomically. */
cbd_status cbd_file_write_atomic_ex(const char *path, const void *buf,
				    size_t len, unsigned mode, int noreplace,
				    cbd_err *err);

/* malloc that records CBD_E_NOMEM in err on failure. */
void *cbd_xmalloc(size_t n, cbd_err *err);
void *cbd_xcalloc(size_t n, size_t size, cbd_err *err);

/* JSON string literals.  Every cbd format spells strings the same way:
 * `"` and `\` escaped with a backslash, LF as \n, every other byte below
 * 0x20 and 0x7f as \u00XX (lower-case hex), everything else as it is
 * (UTF-8).  With ascii_only, bytes above 0x7e are \u00XX too: circuit.json
 * holds printable ASCII only.  Writers hand the result to put in runs. */
typedef void (*cbd_put_fn)(void *ctx, const char *s, size_t n);
void cbd_json_put_str(const char *s, bool ascii_only, cbd_put_fn put,
		      void *ctx);

/* The member rule of the strict JSON readers (archive manifest, keyring):
 * obj is an object whose members are names[0..n-1] (n <= 16), each once,
 * none missing.  NULL when it is; else what is wrong ("not an object",
 * "unknown member", "duplicate member", "missing member") and, when which
 * is not NULL, in *which the member it is about (NULL for "not an
 * object", "" for a member without a name). */
struct cJSON;
const char *cbd_json_bad_members(const struct cJSON *obj,
				 const char *const *names, int n,
				 const char **which);

/* Big-endian / little-endian stores and loads for on-disk layouts. */
static inline void cbd_be64_store(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t cbd_be64_load(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void cbd_le32_store(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t cbd_le32_load(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint16_t cbd_le16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* ---- growable byte buffer (lib/util/buf.c) --------------------------- */

/* The one growable byte buffer of libcbd, for the bytes cbd writes by
 * hand (request and response bodies, transcript lines, circuit.json,
 * trigger sets, archive manifests, tar streams, keyrings, reports).
 * Appends never fail loudly: the first failure sticks in st (CBD_E_NOMEM,
 * or CBD_E_TOOBIG past max; a writer may store its own) and later appends
 * do nothing, so callers check st once at the end.  p is NUL-terminated
 * (not counted in len) once anything was appended, and malloc'd: a caller
 * may take it over and free() it.  Set the options before the first
 * append: max caps len (0: only size_t overflow); with secret, growth
 * copies into a new block and wipes the old one instead of realloc, and
 * cbd_buf_free wipes, so no copy of a secret is left in freed memory. */

typedef struct cbd_buf {
	char *p;
	size_t len, cap;
	size_t max;        /* most bytes it may hold, 0: no cap */
	int secret;        /* wipe on growth and on free */
	cbd_status st;     /* first failure; contents are then incomplete */
} cbd_buf;

/* Release p (wiped first if secret) and zero the struct. */
void cbd_buf_free(cbd_buf *b);
/* Empty it and clear st, keeping the block and the options. */
void cbd_buf_reset(cbd_buf *b);
/* Hand the bytes over (*out, *len; the caller frees) or, if st is set,
 * free them and report st ("cannot build <what>"). */
cbd_status cbd_buf_finish(cbd_buf *b, const char *what, uint8_t **out,
			  size_t *len, cbd_err *err);
void cbd_buf_add(cbd_buf *b, const void *s, size_t n);
/* Room for n more bytes (and the NUL) after len, to fill in place: the
 * caller writes k <= n bytes there and adds k to len (then p[len] = 0).
 * NULL when the buffer cannot grow (st says why). */
char *cbd_buf_reserve(cbd_buf *b, size_t n);
void cbd_buf_puts(cbd_buf *b, const char *s);
void cbd_buf_printf(cbd_buf *b, const char *fmt, ...) CBD_PRINTF(2, 3);
/* JSON string literal with quotes and escapes (cbd_json_put_str); the
 * _ascii form escapes every byte above 0x7e too (circuit.json). */
void cbd_buf_json_str(cbd_buf *b, const char *s);
void cbd_buf_json_str_ascii(cbd_buf *b, const char *s);
/* The same, or null when s is NULL (optional members: report, transcript). */
void cbd_buf_json_str_or_null(cbd_buf *b, const char *s);
/* float32 as a JSON number, "%.9g" (exact round trip). */
void cbd_buf_json_float(cbd_buf *b, float f);
/* n bytes as quoted lower-case hex (the stack copy is wiped: keys and
 * secrets go through here); _digest is the same for a SHA-256. */
void cbd_buf_json_hex(cbd_buf *b, const uint8_t *bytes, size_t n);
void cbd_buf_json_digest(cbd_buf *b, const uint8_t d[CBD_SHA256_LEN]);
/* The same, or null when d is NULL (optional digests). */
void cbd_buf_json_digest_or_null(cbd_buf *b, const uint8_t *d);

#endif /* CBD_UTIL_INTERNAL_H */
