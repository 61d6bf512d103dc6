/*
 * serve_internal.h — what lib/serve/serve.c (HTTP, routing, model pool)
 * and lib/serve/infer.c (Open Inference Protocol request/response bodies)
 * share.  Not public.
 */
#ifndef CBD_SERVE_INTERNAL_H
#define CBD_SERVE_INTERNAL_H

#include "../util/util_internal.h"

#define CBD_SERVE_VERSION "1"         /* the one model version we serve */
/* The protocol extensions listed by GET /v2. */
#define SERVE_EXTENSIONS "[\"binary_tensor_data\"]"

/* What a request is checked against. */
typedef struct serve_spec {
	const char *model_name;
	const char *input_name;           /* the model's own names */
	const char *output_name;
	int64_t batch_dim;                /* the model's: -1 dynamic, or fixed */
	int sample_ndim;                  /* dims after the batch */
	int64_t sample_dims[CBD_MAX_DIMS];
	size_t sample_elems;
	int num_classes;
	int64_t max_batch;
	const cbd_model *model;           /* one of the pool: its dequantiser
					   * turns UINT8 bytes into floats
					   * (cbd_model_dequantize); NULL only
					   * in the parser's tests */
} serve_spec;

/* What an inference request asks besides its batch. */
typedef struct serve_req {
	char *id;                 /* the request's "id" (malloc'd) or NULL */
	int binary_out;           /* answer the output as binary data */
} serve_req;

#define SERVE_NO_HEADER SIZE_MAX  /* no Inference-Header-Content-Length */

/* Parse an inference request body into a float32 batch [N, sample...].
 * json_len is the Inference-Header-Content-Length (the JSON's bytes,
 * binary tensor data after it), or SERVE_NO_HEADER: the whole body is
 * JSON.  Returns an HTTP status: 200, or 4xx with msg set; on 200 the
 * caller frees rq->id. */
int serve_parse_infer(const serve_spec *sp, const char *body, size_t len,
		      size_t json_len, cbd_tensor **batch, serve_req *rq,
		      char *msg, size_t msgsz);

/* The inference response for scores [N,K]: JSON, or with rq->binary_out
 * the JSON header then the scores as little-endian float32, *json_len
 * set to the header's length (SERVE_NO_HEADER for a JSON answer). */
void serve_write_infer(const serve_spec *sp, const serve_req *rq,
		       const cbd_tensor *scores, cbd_buf *out,
		       size_t *json_len);

/* The model metadata response. */
void serve_write_metadata(const serve_spec *sp, cbd_buf *out);

#endif
