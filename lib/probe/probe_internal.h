/*
 * probe_internal.h — the probe's shared state and the backend hooks
 * (lib/probe/probe.c drives; http.c, exec.c, local.c talk to endpoints).
 */
#ifndef CBD_PROBE_INTERNAL_H
#define CBD_PROBE_INTERNAL_H

#include "../transcript/transcript_internal.h"

/* One trigger (or sample) to send. */
struct probe_item {
	const char *id;
	size_t index;
	const uint8_t *q;     /* n quantised bytes */
	float *x;             /* n floats the endpoint should see */
	int attempts;
	double ready_at;      /* monotonic seconds: not before */
	int state;            /* 0 to do, 1 in flight, 2 recorded */
	int decoy;            /* a clean sample among the triggers: index
			       * is its sample in the decoy file, never
			       * scored (schedule.c) */
	char name[24];        /* a decoy's id ("d<k>"), id points here */
	char wire[CBD_WIRE_ID_LEN]; /* id sent to the endpoint; "" = id */
	size_t pos;           /* position in the schedule (if wire[0]) */
};

/* The id a query carries on the wire (and its answer must carry). */
static inline const char *probe_wire_id(const struct probe_item *it)
{
	return it->wire[0] ? it->wire : it->id;
}

/* What one attempt produced. */
struct probe_outcome {
	int status;                /* HTTP status, 200 for local success */
	char error[200];           /* "" if answered */
	int retryable;
	double retry_after_s;      /* < 0: none given */
	int label;
	float *scores;             /* malloc'd, or NULL */
	int num_scores;
	uint8_t request_digest[CBD_SHA256_LEN];
	int has_response;
	uint8_t response_digest[CBD_SHA256_LEN];
	double latency_ms;
	int desync;                /* the answer cannot be bound to its
				    * query (bad line, wrong id): exec
				    * restarts the command */
};

/* What the preflight chose (lib/probe/preflight.c). */
struct probe_pf {
	int done;                  /* a preflight was made */
	char input[128];           /* input tensor name ("" = none known) */
	char output[128];          /* output tensor read ("" = the only) */
	int answer_label;          /* the output is a label, not scores */
	int wire_ndim;             /* shape sent: [1, ...] */
	int64_t wire_dims[CBD_MAX_DIMS + 1];
	int has_metadata;
	uint8_t metadata_digest[CBD_SHA256_LEN];
	uint8_t decoy_request[CBD_SHA256_LEN];
	uint8_t decoy_response[CBD_SHA256_LEN];
	int decoy_label;
};

struct probe {
	const cbd_probe_opts *o;
	struct probe_item *items;
	size_t n_items;
	size_t n;                  /* elements per sample */
	int ndim;                  /* sample dims (no batch) */
	int64_t dims[CBD_MAX_DIMS];
	int num_classes;
	cbd_tw *tw;
	size_t answered, failed, retries, done;
	size_t cursor;             /* every item before it is recorded */
	double t0, next_send, last_progress;
	cbd_status fatal;          /* an I/O error writing the transcript */
	cbd_err *err;
	struct probe_pf pf;
	char fail_kind[64];        /* kind of the last recorded failure */
	int fail_run;              /* consecutive failures of that kind */
	int aborted;               /* fail fast: send nothing more */
	char abort_reason[256];
	char dtype_note[200];      /* preflight: datatype differs from the
				    * metadata's ("" if not) */
	size_t n_decoys;           /* decoys scheduled this run */
	size_t decoy_samples;      /* M, samples in the decoy file */
	size_t decoys_done, decoys_answered;
	uint8_t seed[CBD_SHA256_LEN]; /* the schedule's seed */
	int settled;               /* --until-verdict: stop sending */
	size_t secret;             /* triggers withheld once settled */
};

/* --decoys: add the decoys to the items and put every pending item in
 * the seed's random order, with wire ids (schedule.c).  No-op without
 * decoys. */
cbd_status probe_schedule(struct probe *p, cbd_err *err);
/* Are the decoys usable (uint8 samples of the triggers' shape)? */
cbd_status probe_decoys_ok(const struct probe *p, cbd_err *err);

/* The monotonic clock in seconds, and a sleep until a time on it (no
 * sleep when it has passed). */
double probe_now(void);
void probe_sleep_until(double t);

/* Preflight (preflight.c): health, metadata, decoy; fills p->pf. */
cbd_status probe_preflight(struct probe *p, cbd_err *err);
/* URL of the model: endpoint + /v2/models/M[/versions/V] + tail (oip) or
 * /v1/models/M[/versions/V] + tail (tfserving). */
void probe_model_url(const cbd_probe_opts *o, const char *tail, cbd_buf *b);
/* Configure a curl easy handle (void * so curl stays out of this
 * header) with the options' TLS, timeouts and headers. */
void probe_http_easy_setup(const cbd_probe_opts *o, void *curl,
			   const void *hdrs);
/* One exec attempt in a fresh command (the decoy); the command is
 * stopped after. */
void probe_exec_once(struct probe *p, struct probe_item *it,
		     struct probe_outcome *oc);

#define PROBE_NO_HEADER SIZE_MAX  /* no Inference-Header-Content-Length */

/* Body of a request for item it (oip, tfserving, exec line).  For oip,
 * *json_len is the JSON's length when binary tensor data follows it
 * (o->binary), else PROBE_NO_HEADER. */
void probe_body_oip(const struct probe *p, const struct probe_item *it,
		    cbd_buf *b, size_t *json_len);
void probe_body_tfserving(const struct probe *p,
			  const struct probe_item *it, cbd_buf *b);
void probe_body_exec(const struct probe *p, const struct probe_item *it,
		     cbd_buf *b);
/* The archive backend's "request": the float32 input, little-endian. */
void probe_body_archive(const struct probe *p, const struct probe_item *it,
			cbd_buf *b);
/* The request of item it for p->o->backend: one of the above. */
void probe_request_body(const struct probe *p, const struct probe_item *it,
			cbd_buf *b, size_t *json_len);
/* "oip", "tfserving", "exec", "archive" (check.c). */
const char *probe_backend_name(cbd_probe_backend b);
/* The sample shape from t (its first dimension skipped if skip_first). */
cbd_status probe_set_shape(struct probe *p, const cbd_tensor *t,
			   int skip_first, cbd_err *err);
/* Parse a response body into oc (scores/label or error).  json_len: the
 * answer's Inference-Header-Content-Length, or PROBE_NO_HEADER. */
void probe_parse_oip(const struct probe *p, const char *id,
		     const char *body, size_t len, size_t json_len,
		     struct probe_outcome *oc);
/* The request headers: Content-Type, no Expect, the options' headers,
 * and Inference-Header-Content-Length when json_len says so.  NULL if
 * out of memory; the caller frees with curl_slist_free_all. */
void *probe_http_headers(const cbd_probe_opts *o, size_t json_len);
/* The Inference-Header-Content-Length of curl's last answer, or
 * PROBE_NO_HEADER (absent or not a decimal number). */
size_t probe_http_header_len(void *curl);
void probe_parse_tfserving(const struct probe *p, const char *id,
			   const char *body, size_t len,
			   struct probe_outcome *oc);
void probe_parse_exec(const struct probe *p, const char *id,
		      const char *body, size_t len, struct probe_outcome *oc);

/* After an attempt: retry later or record.  Takes oc->scores. */
void probe_finish(struct probe *p, struct probe_item *it,
		  struct probe_outcome *oc);
/* Next item ready to send at time now (NULL if none); *wake is set to
 * the earliest future ready time when nothing is ready. */
struct probe_item *probe_next(struct probe *p, double now, double *wake);
/* Rate limit: may we send at now?  Books the slot if so. */
int probe_rate_ok(struct probe *p, double now, double *wake);
void probe_progress(struct probe *p, int force);

/* Backends: run until every item is recorded (or p->fatal). */
cbd_status probe_http_run(struct probe *p, cbd_err *err);
cbd_status probe_exec_run(struct probe *p, cbd_err *err);
cbd_status probe_local_run(struct probe *p, cbd_err *err);

#endif
