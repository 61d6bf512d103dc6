/*
 * preflight.c — prove an endpoint compatible before the first trigger
 * leaves.  A trigger set is a one-shot secret: once a suspect has seen it,
 * it can learn to filter it, so a probe that would only collect errors
 * must stop before it starts.
 *
 *   oip        GET /v2/health/ready                      must be 200
 *              GET /v2 (--binary only)                    must list the
 *                                                         binary_tensor_data
 *                                                         extension
 *              GET /v2/models/M[/versions/V]              metadata
 *   tfserving  GET /v1/models/M[/versions/V]              a version AVAILABLE
 *              GET /v1/models/M[/versions/V]/metadata     signature_def
 *   exec       (no metadata in the protocol)
 *   archive    none: the investigator's own file
 *
 * From the metadata: the input (--input-name, else the only one) must
 * take the triggers' shape ([1, dims],
 * or any shape with a dynamic or unit batch whose other dimensions hold
 * exactly the sample's elements); the output read is --output-name, else
 * the one floating output whose last dimension is K (the one floating
 * output when K is unknown), else the only output, else the one integer
 * output (a label).  Then one decoy query
 * -- a clean sample, every byte 0, id "d00000" -- goes the way the
 * triggers will, and its answer must parse exactly as theirs will
 * (retryable failures are retried like a trigger's); it also decides
 * when the datatype sent is not the metadata's (cbd-serve takes UINT8
 * beside its FP32, a strict server answers 400).  Any refusal is one
 * line saying why, and nothing of the trigger set has been sent.
 */
#include "probe_internal.h"

#include <openssl/rand.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define MAX_META ((size_t)1 << 20)
#define MAX_TENSORS 64

struct pf_tensor {
	char name[128];
	char dtype[16];        /* OIP spelling: FP32, INT64, ... */
	int ndim;              /* -1: shape unknown */
	int64_t dims[CBD_MAX_DIMS + 1];
};

struct pf_meta {
	struct pf_tensor in[MAX_TENSORS], out[MAX_TENSORS];
	int n_in, n_out;
};

#define REFUSE(code, ...) cbd_err_set(err, code, "preflight refused the " \
				      "endpoint: " __VA_ARGS__)

/* ---- HTTP ----------------------------------------------------------- */

struct get {
	cbd_buf body;
	long code;
	size_t json_len;       /* answer's Inference-Header-Content-Length */
	char error[CURL_ERROR_SIZE + 32];
};

static size_t on_data(char *ptr, size_t sz, size_t nm, void *ud)
{
	cbd_buf *b = ud;
	size_t n = sz * nm;

	if (b->len + n > MAX_META)
		return 0;
	cbd_buf_add(b, ptr, n);
	return b->st ? 0 : n;
}

/* GET (body NULL) or POST url; 0 if an HTTP answer came. */
static int request(const struct probe *p, const char *url, const cbd_buf *body,
		   size_t json_len, struct get *g)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	const cbd_probe_opts *o = p->o;
	CURLcode rc;

	cbd_buf_reset(&g->body);
	g->code = 0;
	g->error[0] = 0;
	g->json_len = PROBE_NO_HEADER;
	hdrs = probe_http_headers(o, json_len);
	if (!h || !hdrs) {
		snprintf(g->error, sizeof(g->error), "out of memory");
		curl_easy_cleanup(h);
		curl_slist_free_all(hdrs);
		return -1;
	}
	probe_http_easy_setup(o, h, hdrs);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &g->body);
	if (body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->p);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)body->len);
	}
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &g->code);
		g->json_len = probe_http_header_len(h);
	}
	else
		snprintf(g->error, sizeof(g->error), "%s",
			 rc == CURLE_WRITE_ERROR ? "answer too large"
						 : curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return rc == CURLE_OK ? 0 : -1;
}

/* GET url; refuses unless it answered 200. */
static cbd_status get_ok(const struct probe *p, const char *what,
			 const char *url, struct get *g, cbd_err *err)
{
	if (request(p, url, NULL, PROBE_NO_HEADER, g) != 0)
		return REFUSE(CBD_E_UNAVAILABLE, "cannot GET %s (%s): %s; no "
			      "trigger sent", what, url, g->error);
	if (g->code != 200)
		return REFUSE(CBD_E_UNAVAILABLE, "GET %s (%s) answered HTTP "
			      "%ld; no trigger sent", what, url, g->code);
	return CBD_OK;
}

/* --binary: the server metadata must list "binary_tensor_data". */
static cbd_status binary_ok(const struct probe *p, const char *url,
			    struct get *g, cbd_err *err)
{
	cbd_status s = get_ok(p, "the server's metadata", url, g, err);
	cJSON *j, *e;
	const cJSON *c;
	int found = 0;

	if (s)
		return s;
	j = cJSON_ParseWithLength(g->body.p ? g->body.p : "", g->body.len);
	e = cJSON_GetObjectItemCaseSensitive(j, "extensions");
	if (!cJSON_IsArray(e))
		e = NULL;
	cJSON_ArrayForEach(c, e)
		if (cJSON_IsString(c) &&
		    strcmp(c->valuestring, "binary_tensor_data") == 0)
			found = 1;
	cJSON_Delete(j);
	if (!found)
		return REFUSE(CBD_E_PROTOCOL, "--binary, but the server's metadata "
			      "(%s) does not list the binary_tensor_data "
			      "extension; no trigger sent", url);
	return CBD_OK;
}

/* ---- metadata ------------------------------------------------------- */

static const char *norm_dtype(const char *d)
{
	static const char *const map[][2] = {
		{"DT_FLOAT", "FP32"}, {"DT_DOUBLE", "FP64"},
		{"DT_HALF", "FP16"}, {"DT_INT64", "INT64"},
		{"DT_INT32", "INT32"}, {"DT_INT16", "INT16"},
		{"DT_INT8", "INT8"}, {"DT_UINT8", "UINT8"},
		{"DT_UINT16", "UINT16"}, {"DT_BOOL", "BOOL"},
		{"DT_STRING", "BYTES"}};

	for (size_t i = 0; i < CBD_ARRAY_LEN(map); i++)
		if (strcmp(d, map[i][0]) == 0)
			return map[i][1];
	return d;
}

static int is_float(const char *d)
{
	return strcmp(d, "FP32") == 0 || strcmp(d, "FP64") == 0 ||
	       strcmp(d, "FP16") == 0 || strcmp(d, "BF16") == 0;
}

static int is_int(const char *d)
{
	return strncmp(d, "INT", 3) == 0 || strncmp(d, "UINT", 4) == 0;
}

/* A dimension: a number, or a string of one (TF's int64 in JSON). */
static int dim_value(const cJSON *c, int64_t *v)
{
	char *end;
	double d;

	if (cJSON_IsNumber(c)) {
		d = c->valuedouble;
	} else if (cJSON_IsString(c)) {
		d = strtod(c->valuestring, &end);
		if (*c->valuestring == 0 || *end)
			return 0;
	} else {
		return 0;
	}
	if (d != floor(d) || d < -1 || d > 1e12)
		return 0;
	*v = (int64_t)d;
	return 1;
}

/* OIP: {"name":..,"datatype":..,"shape":[..]} */
static int oip_tensor(const cJSON *c, struct pf_tensor *t)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(c, "name");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "datatype");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(c, "shape"), *x;

	if (!cJSON_IsString(n) || !cJSON_IsString(d) ||
	    strlen(n->valuestring) >= sizeof(t->name) ||
	    strlen(d->valuestring) >= sizeof(t->dtype))
		return 0;
	strcpy(t->name, n->valuestring);
	strcpy(t->dtype, d->valuestring);
	t->ndim = -1;
	if (!cJSON_IsArray(sh))
		return 1;
	if (cJSON_GetArraySize(sh) > CBD_MAX_DIMS + 1)
		return 0;
	t->ndim = 0;
	cJSON_ArrayForEach(x, sh)
		if (!dim_value(x, &t->dims[t->ndim++]))
			return 0;
	return 1;
}

static int oip_list(const cJSON *a, struct pf_tensor *t, int *n)
{
	const cJSON *c;

	*n = 0;
	if (!cJSON_IsArray(a))
		return 0;
	cJSON_ArrayForEach(c, a) {
		if (*n == MAX_TENSORS || !oip_tensor(c, &t[*n]))
			return 0;
		(*n)++;
	}
	return 1;
}

/* TF: {"NAME":{"dtype":"DT_FLOAT","tensor_shape":{"dim":[{"size":"-1"}]}}} */
static int tf_list(const cJSON *o, struct pf_tensor *t, int *n)
{
	const cJSON *c;

	*n = 0;
	if (!cJSON_IsObject(o))
		return 0;
	cJSON_ArrayForEach(c, o) {
		struct pf_tensor *x = &t[*n];
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(c, "dtype");
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(c,
								   "tensor_shape");
		const cJSON *dims = cJSON_GetObjectItemCaseSensitive(ts, "dim");
		const cJSON *unk = cJSON_GetObjectItemCaseSensitive(
			ts, "unknown_rank");
		const cJSON *e;

		if (*n == MAX_TENSORS || !c->string || !cJSON_IsString(d) ||
		    strlen(c->string) >= sizeof(x->name) ||
		    strlen(norm_dtype(d->valuestring)) >= sizeof(x->dtype))
			return 0;
		strcpy(x->name, c->string);
		strcpy(x->dtype, norm_dtype(d->valuestring));
		x->ndim = -1;
		if (!cJSON_IsTrue(unk) && cJSON_IsObject(ts)) {
			if (cJSON_GetArraySize(dims) > CBD_MAX_DIMS + 1)
				return 0;
			x->ndim = 0;
			cJSON_ArrayForEach(e, dims) {
				const cJSON *sz =
					cJSON_GetObjectItemCaseSensitive(e,
									 "size");

				if (!dim_value(sz, &x->dims[x->ndim++]))
					return 0;
			}
		}
		(*n)++;
	}
	return 1;
}

static cbd_status parse_meta(const struct probe *p, const char *url,
			     const cbd_buf *b, struct pf_meta *m,
			     cbd_err *err)
{
	cJSON *j = cJSON_ParseWithLength(b->p ? b->p : "", b->len);
	const cJSON *sig = NULL, *sd;
	int ok;

	if (p->o->backend == CBD_PROBE_OIP) {
		ok = oip_list(cJSON_GetObjectItemCaseSensitive(j, "inputs"),
			      m->in, &m->n_in) &&
		     oip_list(cJSON_GetObjectItemCaseSensitive(j, "outputs"),
			      m->out, &m->n_out);
	} else {
		sd = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(j, "metadata"),
				"signature_def"),
			"signature_def");
		sig = cJSON_GetObjectItemCaseSensitive(sd, "serving_default");
		if (!sig && cJSON_IsObject(sd) && sd->child &&
		    !sd->child->next)
			sig = sd->child;
		ok = sig &&
		     tf_list(cJSON_GetObjectItemCaseSensitive(sig, "inputs"),
			     m->in, &m->n_in) &&
		     tf_list(cJSON_GetObjectItemCaseSensitive(sig, "outputs"),
			     m->out, &m->n_out);
	}
	cJSON_Delete(j);
	if (!ok || m->n_in < 1 || m->n_out < 1)
		return REFUSE(CBD_E_PROTOCOL, "unreadable model metadata (%s): "
			      "want %s; no trigger sent", url,
			      p->o->backend == CBD_PROBE_OIP
				      ? "inputs and outputs with name, "
					"datatype and shape"
				      : "a serving_default signature_def");
	return CBD_OK;
}

/* TF Serving model status: some version (the one asked) AVAILABLE. */
static cbd_status tf_available(const struct probe *p, const char *url,
			       const cbd_buf *b, cbd_err *err)
{
	cJSON *j = cJSON_ParseWithLength(b->p ? b->p : "", b->len);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(
		j, "model_version_status"), *c;
	const char *want = p->o->model_version;
	int ok = 0;

	cJSON_ArrayForEach(c, st) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "version");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(c, "state");
		char vs[32] = "";

		if (cJSON_IsString(v))
			snprintf(vs, sizeof(vs), "%s", v->valuestring);
		else if (cJSON_IsNumber(v))
			snprintf(vs, sizeof(vs), "%.0f", v->valuedouble);
		if (cJSON_IsString(s) &&
		    strcmp(s->valuestring, "AVAILABLE") == 0 &&
		    (!want || !*want || strcmp(vs, want) == 0))
			ok = 1;
	}
	cJSON_Delete(j);
	if (!ok)
		return REFUSE(CBD_E_UNAVAILABLE, "no %s%s of model '%s' is "
			      "AVAILABLE (%s); no trigger sent",
			      want && *want ? "version " : "version",
			      want && *want ? want : "", p->o->model_name, url);
	return CBD_OK;
}

/* ---- choosing the input and the output ------------------------------ */

static void names(const struct pf_tensor *t, int n, char *out, size_t cap)
{
	size_t k = 0;

	out[0] = 0;
	for (int i = 0; i < n && k + 4 < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s'%s'",
				      i ? ", " : "", t[i].name);
}

static void shape_str(const int64_t *d, int n, char *out, size_t cap)
{
	size_t k = (size_t)snprintf(out, cap, "[");

	for (int i = 0; i < n && k + 24 < cap; i++)
		k += (size_t)snprintf(out + k, cap - k, "%s%lld", i ? "," : "",
				      (long long)d[i]);
	snprintf(out + k, cap - k, "]");
}

/* The shape to send for input t, or 0 if the triggers cannot fit it. */
static int wire_shape(struct probe *p, const struct pf_tensor *t)
{
	struct probe_pf *pf = &p->pf;
	int64_t prod = 1;
	int ok = 1;

	pf->wire_ndim = p->ndim + 1;
	pf->wire_dims[0] = 1;
	memcpy(pf->wire_dims + 1, p->dims, (size_t)p->ndim * sizeof(int64_t));
	if (t->ndim < 0)
		return 1;
	if (t->ndim < 1 || (t->dims[0] != -1 && t->dims[0] != 1))
		return 0;
	if (t->ndim == p->ndim + 1) {
		for (int i = 1; i < t->ndim; i++)
			if (t->dims[i] != -1 && t->dims[i] != p->dims[i - 1])
				ok = 0;
		if (ok)
			return 1;
	}
	/* another layout of the same elements, e.g. [-1,784] for [1,28,28] */
	for (int i = 1; i < t->ndim; i++) {
		if (t->dims[i] < 1)
			return 0;
		prod *= t->dims[i];
		if (prod > (int64_t)p->n)
			return 0;
	}
	if (prod != (int64_t)p->n)
		return 0;
	pf->wire_ndim = t->ndim;
	pf->wire_dims[0] = 1;
	memcpy(pf->wire_dims + 1, t->dims + 1,
	       (size_t)(t->ndim - 1) * sizeof(int64_t));
	return 1;
}

static cbd_status choose_input(struct probe *p, const struct pf_meta *m,
			       cbd_err *err)
{
	const char *want = p->o->input_name, *send;
	const struct pf_tensor *t = NULL;
	char list[400], a[200], b[200];

	names(m->in, m->n_in, list, sizeof(list));
	for (int i = 0; want && i < m->n_in; i++)
		if (strcmp(m->in[i].name, want) == 0)
			t = &m->in[i];
	if (want && !t)
		return REFUSE(CBD_E_SHAPE, "the model has no input '%s' (its "
			      "inputs: %s); no trigger sent", want, list);
	if (!t && m->n_in != 1)
		return REFUSE(CBD_E_SHAPE, "the model has %d inputs (%s): name "
			      "one with --input-name; no trigger sent",
			      m->n_in, list);
	if (!t)
		t = &m->in[0];
	/* another datatype than the metadata's is for the decoy to try:
	 * some servers (cbd-serve) take UINT8 as well as their FP32 */
	send = p->o->send_uint8 ? "UINT8" : "FP32";
	if (strcmp(t->dtype, send) != 0)
		snprintf(p->dtype_note, sizeof(p->dtype_note),
			 " (input '%.80s' is %.15s by the metadata, the "
			 "probe sends %s: --datatype)", t->name, t->dtype,
			 send);
	if (!wire_shape(p, t)) {
		shape_str(t->dims, t->ndim, a, sizeof(a));
		shape_str(p->dims, p->ndim, b, sizeof(b));
		return REFUSE(CBD_E_SHAPE, "input '%s' has shape %s, the "
			      "triggers are samples of %s; no trigger sent",
			      t->name, a, b);
	}
	snprintf(p->pf.input, sizeof(p->pf.input), "%.127s", t->name);
	return CBD_OK;
}

static int last_dim(const struct pf_tensor *t)
{
	return t->ndim >= 1 ? (int)t->dims[t->ndim - 1] : -1;
}

static cbd_status choose_output(struct probe *p, const struct pf_meta *m,
				cbd_err *err)
{
	const char *want = p->o->output_name;
	const struct pf_tensor *t = NULL;
	int K = p->num_classes, nk = 0, nl = 0;
	const struct pf_tensor *tk = NULL, *tl = NULL;
	char list[400];

	names(m->out, m->n_out, list, sizeof(list));
	for (int i = 0; want && i < m->n_out; i++)
		if (strcmp(m->out[i].name, want) == 0)
			t = &m->out[i];
	if (want && !t)
		return REFUSE(CBD_E_SHAPE, "the model has no output '%s' (its "
			      "outputs: %s); no trigger sent", want, list);
	for (int i = 0; !t && i < m->n_out; i++) {
		/* K unknown (plain samples): any floating output */
		if (is_float(m->out[i].dtype) &&
		    (K <= 0 || last_dim(&m->out[i]) == K)) {
			nk++;
			tk = &m->out[i];
		}
		if (is_int(m->out[i].dtype)) {
			nl++;
			tl = &m->out[i];
		}
	}
	if (!t && nk > 1)
		return REFUSE(CBD_E_SHAPE, "%d outputs have %d scores (%s): "
			      "name one with --output-name; no trigger sent",
			      nk, K, list);
	if (!t)
		t = nk == 1 ? tk : m->n_out == 1 ? &m->out[0]
			  : nl == 1 ? tl : NULL;
	if (!t)
		return REFUSE(CBD_E_SHAPE, "no output with %d scores and no "
			      "single integer label output (outputs: %s): "
			      "name one with --output-name; no trigger sent",
			      K, list);
	if (!is_float(t->dtype) && !is_int(t->dtype))
		return REFUSE(CBD_E_SHAPE, "output '%s' is %s, neither scores "
			      "nor a label; no trigger sent", t->name,
			      t->dtype);
	if (is_float(t->dtype) && K > 0 && last_dim(t) > 0 &&
	    last_dim(t) != K)
		return REFUSE(CBD_E_SHAPE, "output '%s' has %d scores, the "
			      "triggers have %d classes; no trigger sent",
			      t->name, last_dim(t), K);
	snprintf(p->pf.output, sizeof(p->pf.output), "%.127s", t->name);
	p->pf.answer_label = is_int(t->dtype);
	return CBD_OK;
}

/* ---- the decoy ------------------------------------------------------ */

/* One decoy attempt over HTTP into oc. */
static void decoy_http(struct probe *p, struct probe_item *it,
		       const char *url, struct probe_outcome *oc)
{
	cbd_buf req = {0};
	struct get g = {0};
	size_t jlen;

	probe_request_body(p, it, &req, &jlen);
	cbd_sha256(req.p ? req.p : "", req.len, oc->request_digest, NULL);
	if (req.st || request(p, url, &req, jlen, &g) != 0) {
		snprintf(oc->error, sizeof(oc->error), "%.190s",
			 req.st ? "out of memory" : g.error);
		oc->retryable = 1;
	} else {
		oc->status = (int)g.code;
		oc->has_response = 1;
		cbd_sha256(g.body.p ? g.body.p : "", g.body.len,
			   oc->response_digest, NULL);
		if (g.code != 200) {
			snprintf(oc->error, sizeof(oc->error), "HTTP %ld",
				 g.code);
			oc->retryable = g.code == 408 || g.code == 429 ||
					g.code >= 500;
		} else if (p->o->backend == CBD_PROBE_OIP) {
			probe_parse_oip(p, it->id, g.body.p ? g.body.p : "",
					g.body.len, g.json_len, oc);
		} else {
			probe_parse_tfserving(p, it->id,
					      g.body.p ? g.body.p : "",
					      g.body.len, oc);
		}
	}
	cbd_buf_free(&req);
	cbd_buf_free(&g.body);
}

/* With --decoys the preflight's query is one of the investigator's clean
 * samples (drawn at random) under an opaque id, like every query after
 * it, not the all-zero image "d00000" that would mark a probe's start. */
static void decoy_from_file(struct probe *p, struct probe_item *it,
			    uint8_t *q, float *x)
{
	const cbd_tensor *dt = p->o->decoys;
	uint8_t r[8] = {0};
	uint64_t v = 0;

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	for (int i = 0; i < 8; i++)
		v = v << 8 | r[i];
	memcpy(q, (const uint8_t *)dt->data +
		  (size_t)(v % (uint64_t)dt->dims[0]) * p->n, p->n);
	cbd_dequantize_default(q, p->n, x);
	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0, sizeof(r));
	it->wire[0] = 'q';
	cbd_hex(r, sizeof(r), it->wire + 1);
	it->id = it->wire;
}

static cbd_status decoy(struct probe *p, cbd_err *err)
{
	struct probe_item it = {.id = "d00000"};
	struct probe_outcome oc;
	uint8_t *q = calloc(p->n ? p->n : 1, 1);
	float *x = calloc(p->n ? p->n : 1, sizeof(float));
	cbd_buf url = {0};
	cbd_status s = CBD_OK;

	if (!q || !x) {
		free(q);
		free(x);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	it.q = q;
	it.x = x;
	if (p->o->decoys)
		decoy_from_file(p, &it, q, x);
	if (p->o->backend != CBD_PROBE_EXEC)
		probe_model_url(p->o, p->o->backend == CBD_PROBE_OIP
					      ? "/infer" : ":predict", &url);
	for (int a = 0;; a++) {
		memset(&oc, 0, sizeof(oc));
		oc.label = -1;
		if (p->o->backend == CBD_PROBE_EXEC)
			probe_exec_once(p, &it, &oc);
		else
			decoy_http(p, &it, url.p ? url.p : "", &oc);
		free(oc.scores);
		if (!oc.error[0] && oc.label < 0)
			snprintf(oc.error, sizeof(oc.error),
				 "no label in answer");
		if (!oc.error[0] || !oc.retryable || a >= p->o->retries)
			break;
		probe_sleep_until(probe_now() + pow(2.0, a) / 1e3 *
				  (p->o->backoff_ms > 0 ? p->o->backoff_ms
							: 200));
	}
	if (oc.error[0])
		s = REFUSE(CBD_E_PROTOCOL, "the decoy query (a clean sample) "
			   "failed: %s%s; no trigger sent", oc.error,
			   p->dtype_note);
	memcpy(p->pf.decoy_request, oc.request_digest, CBD_SHA256_LEN);
	memcpy(p->pf.decoy_response, oc.response_digest, CBD_SHA256_LEN);
	p->pf.decoy_label = oc.label;
	cbd_buf_free(&url);
	free(q);
	free(x);
	return s;
}

/* ---- the steps ------------------------------------------------------ */

static cbd_status metadata(struct probe *p, cbd_err *err)
{
	const cbd_probe_opts *o = p->o;
	cbd_buf url = {0};
	struct get g = {0};
	struct pf_meta *m = calloc(1, sizeof(*m));
	cbd_status s;
	size_t n = strlen(o->endpoint);

	if (!m)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	while (n > 0 && o->endpoint[n - 1] == '/')
		n--;
	if (o->backend == CBD_PROBE_OIP) {
		cbd_buf_add(&url, o->endpoint, n);
		cbd_buf_puts(&url, "/v2/health/ready");
		s = get_ok(p, "the server's readiness", url.p ? url.p : "", &g,
			   err);
		cbd_buf_reset(&url);
		cbd_buf_add(&url, o->endpoint, n);
		cbd_buf_puts(&url, "/v2");
		if (!s && o->binary)
			s = binary_ok(p, url.p ? url.p : "", &g, err);
		cbd_buf_reset(&url);
		probe_model_url(o, "", &url);
		if (!s)
			s = get_ok(p, "the model's metadata",
				   url.p ? url.p : "", &g, err);
	} else {
		probe_model_url(o, "", &url);
		s = get_ok(p, "the model's status", url.p ? url.p : "", &g,
			   err);
		if (!s)
			s = tf_available(p, url.p, &g.body, err);
		cbd_buf_puts(&url, "/metadata");
		if (!s)
			s = get_ok(p, "the model's metadata",
				   url.p ? url.p : "", &g, err);
	}
	if (!s) {
		cbd_sha256(g.body.p ? g.body.p : "", g.body.len,
			   p->pf.metadata_digest, NULL);
		p->pf.has_metadata = 1;
		s = parse_meta(p, url.p ? url.p : "", &g.body, m, err);
	}
	if (!s)
		s = choose_input(p, m, err);
	if (!s)
		s = choose_output(p, m, err);
	cbd_buf_free(&url);
	cbd_buf_free(&g.body);
	free(m);
	return s;
}

cbd_status probe_preflight(struct probe *p, cbd_err *err)
{
	cbd_status s = CBD_OK;

	memset(&p->pf, 0, sizeof(p->pf));
	if (p->o->backend == CBD_PROBE_ARCHIVE)
		return CBD_OK;
	if (p->o->backend == CBD_PROBE_EXEC) {
		p->pf.wire_ndim = p->ndim + 1;
		p->pf.wire_dims[0] = 1;
		memcpy(p->pf.wire_dims + 1, p->dims,
		       (size_t)p->ndim * sizeof(int64_t));
	} else {
		if (!p->o->model_name || !*p->o->model_name)
			return cbd_err_set(err, CBD_E_USAGE,
					   "the %s backend needs a model name",
					   p->o->backend == CBD_PROBE_OIP
						   ? "oip" : "tfserving");
		curl_global_init(CURL_GLOBAL_DEFAULT);
		s = metadata(p, err);
	}
	if (!s)
		s = decoy(p, err);
	if (!s)
		p->pf.done = 1;
	return s;
}
