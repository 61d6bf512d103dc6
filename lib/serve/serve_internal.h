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
#define SERVE_EXTENSIONS "[]"

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
	const cbd_circuit *circuit;       /* dequantiser for UINT8, or NULL */
} serve_spec;

/* Parse an inference request body into a float32 batch [N, sample...].
 * Returns an HTTP status: 200, or 4xx with msg set.  *id is the request's
 * "id" (malloc'd) or NULL. */
int serve_parse_infer(const serve_spec *sp, const char *body, size_t len,
		      cbd_tensor **batch, char **id, char *msg,
		      size_t msgsz);

/* The inference response for scores [N,K]. */
void serve_write_infer(const serve_spec *sp, const char *id,
		       const cbd_tensor *scores, cbd_buf *out);

/* The model metadata response. */
void serve_write_metadata(const serve_spec *sp, cbd_buf *out);

#endif
