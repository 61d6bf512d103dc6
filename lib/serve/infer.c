/*
 * infer.c — Open Inference Protocol (KServe v2) JSON bodies for
 * cbd-serve: parsing inference requests, writing responses and metadata.
 *
 * Request (protocol "Inference Request JSON Object"):
 *   {"id"?: str, "parameters"?: {...},
 *    "inputs": [{"name": str, "shape": [N, ...], "datatype": "FP32"|"UINT8",
 *                "parameters"?: {...}, "data": [...]}],
 *    "outputs"?: [{"name": str, "parameters"?: {...}}]}
 * data is row-major, either flat or nested exactly like shape.  UINT8
 * values are bytes; the server turns them into the floats the model sees
 * with the archive's dequantiser (q/255 for a bare model).  Every check
 * failure is a 400 with a message naming the field; nothing is partially
 * run.
 */
#include "serve_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

#define FAIL(code, ...) \
	do { \
		snprintf(msg, msgsz, __VA_ARGS__); \
		return (code); \
	} while (0)

static int check_params(const cJSON *o)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "parameters");

	return !p || cJSON_IsObject(p);
}

/* Collect numbers of a flat or shape-nested array into f (n elements). */
struct fill {
	float *f;
	size_t k, n;
	int uint8;
	const char *err;
};

static int fill_num(struct fill *st, const cJSON *c)
{
	double v;

	if (!cJSON_IsNumber(c)) {
		st->err = "non-number in data";
		return 0;
	}
	v = c->valuedouble;
	if (st->k >= st->n) {
		st->err = "data has more elements than shape";
		return 0;
	}
	if (st->uint8) {
		if (v != floor(v) || v < 0 || v > 255) {
			st->err = "UINT8 data must be whole numbers 0..255";
			return 0;
		}
	} else if (!isfinite(v) || fabs(v) > 3.4028234663852886e38) {
		st->err = "FP32 data must be finite float32 numbers";
		return 0;
	}
	st->f[st->k++] = (float)v;
	return 1;
}

static int fill_nested(struct fill *st, const cJSON *a, int d, int ndim,
		       const int64_t *dims)
{
	const cJSON *c;

	if (d == ndim)
		return fill_num(st, a);
	if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != dims[d]) {
		st->err = "data nesting does not match shape";
		return 0;
	}
	cJSON_ArrayForEach(c, a)
		if (!fill_nested(st, c, d + 1, ndim, dims))
			return 0;
	return 1;
}

static int parse_shape(const serve_spec *sp, const cJSON *shape,
		       int64_t *dims, int *ndim, char *msg, size_t msgsz)
{
	const cJSON *c;
	int i = 0;

	if (!cJSON_IsArray(shape))
		FAIL(400, "input 'shape' must be an array of integers");
	*ndim = cJSON_GetArraySize(shape);
	if (*ndim != sp->sample_ndim + 1)
		FAIL(400, "input shape has %d dimensions, model wants %d "
		     "(batch first)", *ndim, sp->sample_ndim + 1);
	cJSON_ArrayForEach(c, shape) {
		if (!cJSON_IsNumber(c) || c->valuedouble != floor(c->valuedouble)
		    || c->valuedouble < 0 || c->valuedouble > 1e15)
			FAIL(400, "input shape[%d] is not a non-negative "
			     "integer", i);
		dims[i] = (int64_t)c->valuedouble;
		if (i > 0 && dims[i] != sp->sample_dims[i - 1])
			FAIL(400, "input shape[%d] is %lld, model wants %lld",
			     i, (long long)dims[i],
			     (long long)sp->sample_dims[i - 1]);
		i++;
	}
	if (dims[0] < 1)
		FAIL(400, "input batch size must be at least 1");
	if (dims[0] > sp->max_batch)
		FAIL(413, "batch of %lld exceeds the limit of %lld",
		     (long long)dims[0], (long long)sp->max_batch);
	return 200;
}

static int parse_outputs(const serve_spec *sp, const cJSON *req, char *msg,
			 size_t msgsz)
{
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(req, "outputs");
	const cJSON *o;

	if (!outs)
		return 200;
	if (!cJSON_IsArray(outs))
		FAIL(400, "'outputs' must be an array");
	cJSON_ArrayForEach(o, outs) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");

		if (!cJSON_IsObject(o) || !cJSON_IsString(n) || !check_params(o))
			FAIL(400, "each requested output needs a string "
			     "'name'");
		if (strcmp(n->valuestring, sp->output_name) != 0)
			FAIL(400, "unknown output '%.64s' (the model has "
			     "'%.64s')", n->valuestring, sp->output_name);
	}
	return 200;
}

/* Convert the parsed values (bytes for UINT8) into the float batch. */
static void dequantise(const serve_spec *sp, cbd_tensor *b, int uint8)
{
	float *f = b->data;
	uint8_t *q;
	size_t n = sp->sample_elems;

	if (!uint8)
		return;
	q = malloc(n);
	for (int64_t s = 0; s < b->dims[0]; s++) {
		float *x = f + (size_t)s * n;

		if (sp->circuit && q) {
			for (size_t i = 0; i < n; i++)
				q[i] = (uint8_t)x[i];
			cbd_circuit_dequantize(sp->circuit, q, x);
		} else {
			for (size_t i = 0; i < n; i++)
				x[i] = x[i] / 255.0f;
		}
	}
	free(q);
}

static int parse_input(const serve_spec *sp, const cJSON *in,
		       cbd_tensor **batch, char *msg, size_t msgsz)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(in, "datatype");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(in, "data");
	int64_t dims[CBD_MAX_DIMS];
	int ndim, uint8, rc;
	struct fill st = {0};
	cbd_err e = {0};

	if (!cJSON_IsObject(in) || !cJSON_IsString(name))
		FAIL(400, "input needs a string 'name'");
	if (strcmp(name->valuestring, sp->input_name) != 0)
		FAIL(400, "unknown input '%.64s' (the model has '%s')",
		     name->valuestring, sp->input_name);
	if (!cJSON_IsString(dt))
		FAIL(400, "input needs a string 'datatype'");
	if (strcmp(dt->valuestring, "FP32") == 0)
		uint8 = 0;
	else if (strcmp(dt->valuestring, "UINT8") == 0)
		uint8 = 1;
	else
		FAIL(400, "unsupported datatype '%.32s' (FP32 or UINT8)",
		     dt->valuestring);
	if (!check_params(in))
		FAIL(400, "input 'parameters' must be an object");
	rc = parse_shape(sp, cJSON_GetObjectItemCaseSensitive(in, "shape"),
			 dims, &ndim, msg, msgsz);
	if (rc != 200)
		return rc;
	if (!cJSON_IsArray(data))
		FAIL(400, "input 'data' must be an array");
	if (cbd_tensor_new(CBD_DT_FLOAT32, ndim, dims, batch, &e))
		FAIL(413, "input tensor too large: %s", e.msg);
	st.f = (*batch)->data;
	st.n = (*batch)->nelem;
	st.uint8 = uint8;
	if (cJSON_IsArray(data->child)) {
		fill_nested(&st, data, 0, ndim, dims);
	} else {
		const cJSON *c;

		cJSON_ArrayForEach(c, data)
			if (!fill_num(&st, c))
				break;
	}
	if (!st.err && st.k != st.n)
		st.err = "data has fewer elements than shape";
	if (st.err) {
		cbd_tensor_free(*batch);
		*batch = NULL;
		FAIL(400, "%s (input '%s')", st.err, sp->input_name);
	}
	dequantise(sp, *batch, uint8);
	return 200;
}

int serve_parse_infer(const serve_spec *sp, const char *body, size_t len,
		      cbd_tensor **batch, char **id, char *msg, size_t msgsz)
{
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	const cJSON *inputs, *jid;
	int rc = 200;

	*batch = NULL;
	*id = NULL;
	if (!req) {
		snprintf(msg, msgsz, "request body is not valid JSON");
		return 400;
	}
	/* one JSON value and nothing after it but white space */
	while (end && end < body + len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (!end || end != body + len) {
		cJSON_Delete(req);
		snprintf(msg, msgsz, "request body has data after the JSON "
			 "value (byte %zu)", end ? (size_t)(end - body) : len);
		return 400;
	}
	inputs = cJSON_GetObjectItemCaseSensitive(req, "inputs");
	jid = cJSON_GetObjectItemCaseSensitive(req, "id");
	if (!cJSON_IsObject(req)) {
		snprintf(msg, msgsz, "request body must be a JSON object");
		rc = 400;
	} else if (jid && !cJSON_IsString(jid)) {
		snprintf(msg, msgsz, "'id' must be a string");
		rc = 400;
	} else if (!check_params(req)) {
		snprintf(msg, msgsz, "'parameters' must be an object");
		rc = 400;
	} else if (!cJSON_IsArray(inputs) || cJSON_GetArraySize(inputs) != 1) {
		snprintf(msg, msgsz, "'inputs' must be an array of exactly one "
			 "tensor ('%s')", sp->input_name);
		rc = 400;
	}
	if (rc == 200)
		rc = parse_outputs(sp, req, msg, msgsz);
	if (rc == 200)
		rc = parse_input(sp, inputs->child, batch, msg, msgsz);
	if (rc == 200 && jid) {
		*id = strdup(jid->valuestring);
		if (!*id) {
			snprintf(msg, msgsz, "out of memory");
			rc = 500;
		}
	}
	if (rc != 200) {
		cbd_tensor_free(*batch);
		*batch = NULL;
	}
	cJSON_Delete(req);
	return rc;
}

void serve_write_infer(const serve_spec *sp, const char *id,
		       const cbd_tensor *scores, cbd_buf *out)
{
	const float *f = scores->data;

	cbd_buf_puts(out, "{\"model_name\":");
	cbd_buf_json_str(out, sp->model_name);
	cbd_buf_puts(out, ",\"model_version\":\"" CBD_SERVE_VERSION "\"");
	if (id) {
		cbd_buf_puts(out, ",\"id\":");
		cbd_buf_json_str(out, id);
	}
	cbd_buf_puts(out, ",\"outputs\":[{\"name\":");
	cbd_buf_json_str(out, sp->output_name);
	cbd_buf_printf(out, ",\"shape\":[%lld,%lld],\"datatype\":\"FP32\","
		       "\"data\":[", (long long)scores->dims[0],
		       (long long)scores->dims[1]);
	for (size_t i = 0; i < scores->nelem; i++) {
		if (i)
			cbd_buf_add(out, ",", 1);
		cbd_buf_json_float(out, f[i]);
	}
	cbd_buf_puts(out, "]}]}");
}

/* Shape [batch, dims...]: batch is the model's own (-1 when dynamic). */
static void write_tensor_meta(cbd_buf *out, const char *name, int64_t batch,
			      int ndim, const int64_t *dims)
{
	cbd_buf_puts(out, "{\"name\":");
	cbd_buf_json_str(out, name);
	cbd_buf_printf(out, ",\"datatype\":\"FP32\",\"shape\":[%lld",
		       (long long)batch);
	for (int i = 0; i < ndim; i++)
		cbd_buf_printf(out, ",%lld", (long long)dims[i]);
	cbd_buf_puts(out, "]}");
}

void serve_write_metadata(const serve_spec *sp, cbd_buf *out)
{
	int64_t k = sp->num_classes;

	cbd_buf_puts(out, "{\"name\":");
	cbd_buf_json_str(out, sp->model_name);
	cbd_buf_puts(out, ",\"versions\":[\"" CBD_SERVE_VERSION "\"],"
		     "\"platform\":\"");
	cbd_buf_puts(out, sp->circuit ? "cbd_archive" : "onnx_onnxv1");
	cbd_buf_puts(out, "\",\"inputs\":[");
	write_tensor_meta(out, sp->input_name, sp->batch_dim, sp->sample_ndim,
			  sp->sample_dims);
	cbd_buf_puts(out, "],\"outputs\":[");
	write_tensor_meta(out, sp->output_name, sp->batch_dim, 1, &k);
	cbd_buf_puts(out, "]}");
}
