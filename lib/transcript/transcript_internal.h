/*
 * transcript_internal.h — the transcript writer (lib/transcript/write.c),
 * used by cbd_probe_run (lib/probe/) to record what an endpoint answered
 * (not public; reading and verifying is public: cbd_transcript_* in cbd.h).
 */
#ifndef CBD_TRANSCRIPT_INTERNAL_H
#define CBD_TRANSCRIPT_INTERNAL_H

#include "../util/util_internal.h"

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
/* What the probe's preflight found (a "preflight" line). */
typedef struct cbd_tw_preflight {
	const char *input, *output;  /* tensor names, NULL = none known */
	const char *answer;          /* "scores" or "label" */
	int binary;                  /* "encoding":"binary" (Triton's binary
				      * tensor data); 0 writes no key */
	int ndim;                    /* shape sent, [1, ...] */
	const int64_t *dims;
	const uint8_t *metadata;     /* digest of the metadata, or NULL */
	uint8_t decoy_request[CBD_SHA256_LEN];
	uint8_t decoy_response[CBD_SHA256_LEN];
	int decoy_label;
} cbd_tw_preflight;

/* Append the preflight line (before any query of this run). */
cbd_status cbd_tw_preflight_line(cbd_tw *w, const cbd_tw_preflight *pf,
				 cbd_err *err);
/* The decoy schedule of the queries that follow (cbd-probe --decoys). */
typedef struct cbd_tw_schedule_line {
	uint8_t seed[CBD_SHA256_LEN];         /* the order's seed */
	uint8_t decoys_digest[CBD_SHA256_LEN]; /* of the decoy file */
	size_t num_decoys;                    /* D */
	size_t decoy_samples;                 /* M, samples in the file */
	double ratio;
	long pace_ms, jitter_ms;
} cbd_tw_schedule_line;

cbd_status cbd_tw_schedule(cbd_tw *w, const cbd_tw_schedule_line *sc,
			   cbd_err *err);
/* A query line, or with decoy a decoy line (r->trigger_id is the decoy's
 * id, r->index its index in the decoy file); pos >= 0: its position in
 * the schedule's send order ("pos"), < 0: no schedule. */
cbd_status cbd_tw_answer(cbd_tw *w, const cbd_transcript_record *r,
			 int decoy, long pos, cbd_err *err);

/* ---- schedule.c: the send order drawn from a schedule's seed ------- */
#define CBD_MAX_SCHEDULE ((size_t)1 << 20) /* queries in one schedule */
#define CBD_WIRE_ID_LEN 24                 /* "q" + 16 hex + NUL, padded */

/* The send order of P pending triggers and D decoys drawn from M decoy
 * samples (formats/transcript.md, "Schedule"): order[j] < P is the j-th
 * pending trigger (in index order), order[j] = P + k is decoy k, whose
 * sample is perm[k mod M] (M may be 0 when D is).  CBD_E_TOOBIG past CBD_MAX_SCHEDULE queries,
 * 100 decoys a trigger or CBD_MAX_TRIGGERS samples.  The caller frees
 * both arrays. */
cbd_status cbd_schedule_make(const uint8_t seed[CBD_SHA256_LEN],
			     size_t pending, size_t decoys, size_t samples,
			     uint32_t **order, uint32_t **perm, cbd_err *err);
/* The request id of the query at position pos ("q" and 16 hex). */
void cbd_schedule_wire_id(const uint8_t seed[CBD_SHA256_LEN], size_t pos,
			  char out[CBD_WIRE_ID_LEN]);

/* cbd-probe --until-verdict: the sequential rule the run stops by (a
 * "sequential" line, after the schedule, before any query), and the stop
 * once the verdict was settled (a "settled" line, before the end line):
 * spent triggers were sent, secret ones never. */
cbd_status cbd_tw_sequential(cbd_tw *w, double p1, double alpha,
			     double beta, cbd_err *err);
cbd_status cbd_tw_settled(cbd_tw *w, size_t spent, size_t secret,
			  cbd_err *err);
/* Append an abort line: the probe stopped early (fail fast). */
cbd_status cbd_tw_abort(cbd_tw *w, const char *reason, cbd_err *err);
/* Append the end line. */
cbd_status cbd_tw_end(cbd_tw *w, size_t answered, size_t failed,
		      cbd_err *err);
void cbd_tw_close(cbd_tw *w);

#endif
