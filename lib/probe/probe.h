/*
 * probe.h — internals shared by the probe backends, the transcript writer
 * and the server (not public).
 *
 * A growable byte buffer with JSON helpers (strings escaped, float32 with
 * %.9g so it round-trips), the transcript writer used by cbd_probe_run, and
 * the quantisation helpers the float round-trip test checks.
 */
#ifndef CBD_PROBE_H
#define CBD_PROBE_H

#include "../util/util.h"

#include <stdio.h>

/* ---- growable buffer ------------------------------------------------ */

typedef struct cbd_buf {
	char *p;
	size_t len, cap;
	int oom;           /* an append failed; contents are incomplete */
} cbd_buf;

void cbd_buf_free(cbd_buf *b);
void cbd_buf_reset(cbd_buf *b);
void cbd_buf_add(cbd_buf *b, const void *s, size_t n);
void cbd_buf_puts(cbd_buf *b, const char *s);
void cbd_buf_printf(cbd_buf *b, const char *fmt, ...) CBD_PRINTF(2, 3);
/* JSON string literal with quotes and escapes. */
void cbd_buf_json_str(cbd_buf *b, const char *s);
/* float32 as a JSON number, "%.9g" (exact round trip). */
void cbd_buf_json_float(cbd_buf *b, float f);
/* "<64 hex>" of a digest, quoted. */
void cbd_buf_json_digest(cbd_buf *b, const uint8_t d[CBD_SHA256_LEN]);

/* ---- quantiser round trip ------------------------------------------- */

/* The float an endpoint sees for byte q: (float)q / 255.0f. */
static inline float cbd_probe_byte_to_float(uint8_t q)
{
	return (float)q / 255.0f;
}

/* The quantiser of DESIGN.md for scale 255, zero 0. */
uint8_t cbd_probe_float_to_byte(float x);

/* ---- transcript writer ---------------------------------------------- */

typedef struct cbd_tw cbd_tw;

/* Header fields the writer records (strings copied into the line). */
typedef struct cbd_tw_header {
	const char *tool, *endpoint, *backend, *model, *datatype;
	uint8_t triggers_digest[CBD_SHA256_LEN];
	size_t num_triggers;
	int num_classes;
} cbd_tw_header;

/* Create path (O_EXCL unless overwrite; "-" = stdout) and write the
 * header. */
cbd_status cbd_tw_create(const char *path, const cbd_tw_header *h,
			 int overwrite, cbd_tw **out, cbd_err *err);

/* Open an existing transcript for --resume: drop a truncated last line,
 * verify the chain, check the header matches h (triggers digest,
 * backend, endpoint, num_triggers), mark the recorded trigger indices in
 * done[num_triggers], write a "resume" line.  *finished is set if the
 * file already has an "end" line (then nothing is written). */
cbd_status cbd_tw_resume(const char *path, const cbd_tw_header *h,
			 uint8_t *done, size_t *answered, size_t *failed,
			 int *finished, cbd_tw **out, cbd_err *err);

/* Append one query record (seq and prev are filled in). */
cbd_status cbd_tw_query(cbd_tw *w, const cbd_transcript_record *r,
			cbd_err *err);
/* Append the end line. */
cbd_status cbd_tw_end(cbd_tw *w, size_t answered, size_t failed,
		      cbd_err *err);
void cbd_tw_close(cbd_tw *w);

/* "YYYY-MM-DDTHH:MM:SSZ" for now (UTC). */
void cbd_probe_utc_now(char out[32]);

#endif
