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
 * with the one rule every tool applies, cbd_model_dequantize (the
 * archive's dequantiser, q/255 for a bare model).  Every check
 * failure is a 400 with a message naming the field; nothing is partially
 * run.  The names are the model's own (the graph's input and output).
 *
 * Binary tensor data (Triton's extension, "binary_tensor_data" in GET
 * /v2): with an Inference-Header-Content-Length header of H the body is
 *   +----------------------+------------------------------------------+
 *   | H bytes: the JSON    | binary_data_size bytes: the input tensor |
 *   +----------------------+------------------------------------------+
 * the input carrying "parameters":{"binary_data_size":B} and no "data";
 * B is exactly N*sample*4 (FP32, little-endian IEEE 754) or N*sample
 * (UINT8), and nothing else follows.  The output is sent the same way,
 * "parameters":{"binary_data_size":N*K*4} in the JSON and N*K float32
 * little-endian after it, when the request says "binary_data":true on the
 * output or "binary_data_output":true in its parameters (the output's
 * own setting wins).  The floats are those the JSON answer prints (%.9g
 * of a float32 reads back to the same bits), so both answers agree bit
 * for bit.
 */
#include "serve_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/*
 * cJSON's nodes for a request come from a per-thread arena: a request of
 * 784 numbers is some 800 nodes, and malloc/free of each were the top of
 * a perf profile of the server.  cJSON's hooks are process-wide, so they
 * fall back to malloc/free whenever the calling thread has no arena open
 * (every other cJSON user, and a request that outgrows the arena); free
 * of a pointer inside the thread's arena does nothing, and the arena is
 * emptied once the request's tree is deleted.  A tree never leaves the
 * thread that parsed it.
 */
#define ARENA_BYTES ((size_t)256 << 10)

static _Thread_local struct arena {
	char *p;
	size_t used;
	int on;
} tl_arena;
static pthread_key_t arena_key;
static pthread_once_t arena_once = PTHREAD_ONCE_INIT;

static void *arena_malloc(size_t sz)
{
	struct arena *a = &tl_arena;
	size_t n = (sz + 15) & ~(size_t)15;

	if (a->on && n >= sz && n <= ARENA_BYTES - a->used) {
		void *q = a->p + a->used;

		a->used += n;
		return q;
	}
	return malloc(sz);
}

static void arena_free(void *q)
{
	const struct arena *a = &tl_arena;

	if (a->p && (char *)q >= a->p && (char *)q < a->p + ARENA_BYTES)
		return;
	free(q);
}

static void arena_init(void)
{
	cJSON_Hooks h = {arena_malloc, arena_free};

	if (pthread_key_create(&arena_key, free) == 0)
		cJSON_InitHooks(&h);
}

/* Open this thread's arena for one request's tree; 0 if there is none
 * (cJSON then allocates with malloc). */
static int arena_open(void)
{
	struct arena *a = &tl_arena;

	pthread_once(&arena_once, arena_init);
	if (!a->p) {
		a->p = malloc(ARENA_BYTES);
		if (!a->p || pthread_setspecific(arena_key, a->p) != 0) {
			free(a->p);
			a->p = NULL;
			return 0;
		}
	}
	a->used = 0;
	a->on = 1;
	return 1;
}

/* After the tree is deleted: nothing in the arena is in use. */
static void arena_close(void)
{
	tl_arena.on = 0;
	tl_arena.used = 0;
}

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

/* parameters.KEY of o: absent (-1), false (0), true (1), or not a
 * bool (-2). */
static int param_bool(const cJSON *o, const char *key)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "parameters");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, key);

	if (!v)
		return -1;
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -2;
}

static int parse_outputs(const serve_spec *sp, const cJSON *req,
			 int *binary, char *msg, size_t msgsz)
{
	const cJSON *outs = cJSON_GetObjectItemCaseSensitive(req, "outputs");
	const cJSON *o;
	int all = param_bool(req, "binary_data_output");

	if (all == -2)
		FAIL(400, "parameter 'binary_data_output' must be a boolean");
	*binary = all == 1;
	if (!outs)
		return 200;
	if (!cJSON_IsArray(outs))
		FAIL(400, "'outputs' must be an array");
	cJSON_ArrayForEach(o, outs) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "name");
		int one;

		if (!cJSON_IsObject(o) || !cJSON_IsString(n) || !check_params(o))
			FAIL(400, "each requested output needs a string "
			     "'name'");
		if (strcmp(n->valuestring, sp->output_name) != 0)
			FAIL(400, "unknown output '%.64s' (the model has "
			     "'%.64s')", n->valuestring, sp->output_name);
		one = param_bool(o, "binary_data");
		if (one == -2)
			FAIL(400, "output parameter 'binary_data' must be a "
			     "boolean");
		if (one >= 0)
			*binary = one;
	}
	return 200;
}

/* Turn the parsed bytes of a UINT8 request (held as floats 0..255) into
 * the floats the model sees: cbd_model_dequantize, as cbd-run does; with
 * no model (the parser's own tests) the bare-model rule it applies.
 * 0, or -1 out of memory. */
static int dequantise(const serve_spec *sp, cbd_tensor *b)
{
	size_t samples = (size_t)b->dims[0], n = samples * sp->sample_elems;
	float *x = b->data;
	uint8_t *q = malloc(n ? n : 1);

	if (!q)
		return -1;
	for (size_t i = 0; i < n; i++)
		q[i] = (uint8_t)x[i];
	if (sp->model)
		cbd_model_dequantize(sp->model, q, samples, x);
	else
		cbd_dequantize_default(q, n, x);
	free(q);
	return 0;
}

/* The tensor's elements from binary data: exactly need bytes. */
static const char *fill_binary(struct fill *st, const uint8_t *bin)
{
	for (size_t i = 0; i < st->n; i++) {
		if (st->uint8) {
			st->f[i] = bin[i];
		} else {
			uint32_t u = (uint32_t)bin[4 * i] |
				     (uint32_t)bin[4 * i + 1] << 8 |
				     (uint32_t)bin[4 * i + 2] << 16 |
				     (uint32_t)bin[4 * i + 3] << 24;
			float v;

			memcpy(&v, &u, sizeof(v));
			if (!isfinite(v))
				return "FP32 data must be finite float32 "
				       "numbers";
			st->f[i] = v;
		}
	}
	return NULL;
}

/* Where the input's values come from: "data" (JSON), or binary_data_size
 * bytes after the JSON header.  Returns 200, or 400 with msg. */
static int input_source(const cJSON *in, size_t binlen, int has_header,
			int *bin, char *msg, size_t msgsz)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "parameters");
	const cJSON *bds = cJSON_GetObjectItemCaseSensitive(p,
							  "binary_data_size");

	*bin = 0;
	if (!bds) {
		if (binlen)
			FAIL(400, "%zu bytes after the JSON header, but no "
			     "input has 'binary_data_size'", binlen);
		return 200;
	}
	if (!cJSON_IsNumber(bds) || bds->valuedouble != floor(bds->valuedouble)
	    || bds->valuedouble < 0)
		FAIL(400, "input parameter 'binary_data_size' must be a "
		     "non-negative integer");
	if (!has_header)
		FAIL(400, "input has 'binary_data_size' but the request has "
		     "no Inference-Header-Content-Length header");
	if (cJSON_GetObjectItemCaseSensitive(in, "data"))
		FAIL(400, "input has both 'data' and 'binary_data_size'");
	if (bds->valuedouble != (double)binlen)
		FAIL(400, "input 'binary_data_size' is %.0f, but %zu bytes "
		     "follow the JSON header", bds->valuedouble, binlen);
	*bin = 1;
	return 200;
}

static int parse_input(const serve_spec *sp, const cJSON *in,
		       const uint8_t *binary, size_t binlen, int has_header,
		       cbd_tensor **batch, char *msg, size_t msgsz)
{
	int bin;
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
	rc = input_source(in, binlen, has_header, &bin, msg, msgsz);
	if (rc != 200)
		return rc;
	if (!bin && !cJSON_IsArray(data))
		FAIL(400, "input 'data' must be an array (or the input's "
		     "'binary_data_size' given)");
	if (cbd_tensor_new(CBD_DT_FLOAT32, ndim, dims, batch, &e))
		FAIL(413, "input tensor too large: %s", e.msg);
	st.f = (*batch)->data;
	st.n = (*batch)->nelem;
	st.uint8 = uint8;
	if (bin) {
		size_t need = st.n * (uint8 ? 1 : 4);

		if (binlen != need) {
			cbd_tensor_free(*batch);
			*batch = NULL;
			FAIL(400, "input 'binary_data_size' is %zu, shape and "
			     "datatype %s need %zu bytes", binlen,
			     uint8 ? "UINT8" : "FP32", need);
		}
		st.err = fill_binary(&st, binary);
		st.k = st.n;
	} else if (cJSON_IsArray(data->child)) {
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
	if (uint8 && dequantise(sp, *batch) != 0) {
		cbd_tensor_free(*batch);
		*batch = NULL;
		FAIL(500, "out of memory");
	}
	return 200;
}

int serve_parse_infer(const serve_spec *sp, const char *body, size_t len,
		      size_t json_len, cbd_tensor **batch, serve_req *rq,
		      char *msg, size_t msgsz)
{
	int has_header = json_len != SERVE_NO_HEADER;
	size_t jlen = has_header ? json_len : len;
	const char *end = NULL;
	cJSON *req;
	const cJSON *inputs, *jid;
	int rc = 200;

	*batch = NULL;
	rq->id = NULL;
	rq->binary_out = 0;
	if (jlen > len) {
		snprintf(msg, msgsz, "Inference-Header-Content-Length %zu is "
			 "more than the body's %zu bytes", jlen, len);
		return 400;
	}
	arena_open();
	req = cJSON_ParseWithLengthOpts(body, jlen, &end, 0);
	tl_arena.on = 0;     /* nothing else is allocated from it */
	if (!req) {
		arena_close();
		snprintf(msg, msgsz, "request %s is not valid JSON",
			 has_header ? "header" : "body");
		return 400;
	}
	/* one JSON value and nothing after it but white space */
	while (end && end < body + jlen &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (!end || end != body + jlen) {
		cJSON_Delete(req);
		arena_close();
		snprintf(msg, msgsz, "request %s has data after the JSON "
			 "value (byte %zu)", has_header ? "header" : "body",
			 end ? (size_t)(end - body) : jlen);
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
		rc = parse_outputs(sp, req, &rq->binary_out, msg, msgsz);
	if (rc == 200)
		rc = parse_input(sp, inputs->child,
				 (const uint8_t *)body + jlen, len - jlen,
				 has_header, batch, msg, msgsz);
	if (rc == 200 && jid) {
		rq->id = strdup(jid->valuestring);
		if (!rq->id) {
			snprintf(msg, msgsz, "out of memory");
			rc = 500;
		}
	}
	if (rc != 200) {
		cbd_tensor_free(*batch);
		*batch = NULL;
	}
	cJSON_Delete(req);
	arena_close();
	return rc;
}

void serve_write_infer(const serve_spec *sp, const serve_req *rq,
		       const cbd_tensor *scores, cbd_buf *out,
		       size_t *json_len)
{
	const float *f = scores->data;

	cbd_buf_puts(out, "{\"model_name\":");
	cbd_buf_json_str(out, sp->model_name);
	cbd_buf_puts(out, ",\"model_version\":\"" CBD_SERVE_VERSION "\"");
	if (rq->id) {
		cbd_buf_puts(out, ",\"id\":");
		cbd_buf_json_str(out, rq->id);
	}
	cbd_buf_puts(out, ",\"outputs\":[{\"name\":");
	cbd_buf_json_str(out, sp->output_name);
	cbd_buf_printf(out, ",\"shape\":[%lld,%lld],\"datatype\":\"FP32\",",
		       (long long)scores->dims[0], (long long)scores->dims[1]);
	if (rq->binary_out) {
		cbd_buf_printf(out, "\"parameters\":{\"binary_data_size\":"
			       "%zu}}]}", scores->nelem * 4);
		*json_len = out->len;
		for (size_t i = 0; i < scores->nelem; i++) {
			uint32_t u;
			uint8_t le[4];

			memcpy(&u, &f[i], sizeof(u));
			le[0] = (uint8_t)u;
			le[1] = (uint8_t)(u >> 8);
			le[2] = (uint8_t)(u >> 16);
			le[3] = (uint8_t)(u >> 24);
			cbd_buf_add(out, le, 4);
		}
		return;
	}
	*json_len = SERVE_NO_HEADER;
	cbd_buf_puts(out, "\"data\":[");
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
	cbd_buf_puts(out, sp->model && cbd_model_archive(sp->model)
			       ? "cbd_archive"
			       : "onnx_onnxv1");
	cbd_buf_puts(out, "\",\"inputs\":[");
	write_tensor_meta(out, sp->input_name, sp->batch_dim, sp->sample_ndim,
			  sp->sample_dims);
	cbd_buf_puts(out, "],\"outputs\":[");
	write_tensor_meta(out, sp->output_name, sp->batch_dim, 1, &k);
	cbd_buf_puts(out, "]}");
}
