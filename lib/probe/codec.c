/*
 * codec.c — request bodies and response parsing for the probe backends.
 *
 * Floats go out as %.9g of the float32 the endpoint should see (q/255 for
 * the default quantiser), so parsing the JSON back to float32 gives the
 * same bits and the endpoint's quantiser recovers the trigger's bytes
 * exactly; with --datatype UINT8 the bytes go out as integers.
 *
 *   oip:       {"id":ID,"inputs":[{"name":IN,"shape":[1,d...],
 *               "datatype":"FP32","data":[flat]}],"outputs":[{"name":OUT}]}
 *              -> {"id":ID,"outputs":[{"name":OUT,"data":[...]},...]}
 *   tfserving: {"instances":[<one sample, nested>]}
 *              -> {"predictions":[[scores...]]}, {"predictions":[label]}
 *                 or {"predictions":[{OUT:[scores...]|label,...}]}
 *   exec:      {"id":ID,"shape":[1,d...],"datatype":"FP32","data":[flat]}
 *              -> {"id":ID,"scores":[...]} | {"id":ID,"label":n}
 *                 | {"id":ID,"error":"..."}
 * With --binary (oip only, Triton's binary tensor data extension) the
 * input goes as "parameters":{"binary_data_size":B} and B bytes after the
 * JSON (float32 little-endian, or the bytes for UINT8), the JSON's length
 * in Inference-Header-Content-Length, and the output is asked for with
 * "parameters":{"binary_data":true} (the request's "binary_data_output"
 * when no output is named).  An answer with that header has its outputs'
 * binary_data_size bytes after the JSON, in the order of the outputs
 * that carry one; the chosen output's FP32/FP64/INT64/INT32 values are
 * read from there exactly as from "data" (a float32 is the same number
 * either way), and a JSON answer is read as usual.
 * IN, OUT and the shape are what the preflight chose (preflight.c).  The
 * output read is OUT (the only one when the answer names none); an
 * integer output is a label, any other the scores, whose first maximum
 * is the label.  Binding: an oip answer whose "id" differs from the
 * query's, and an exec answer without the query's "id", are errors of
 * that query, never attributed (the exec command is restarted).
 */
#include "probe_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

static void put_value(const struct probe *p, const struct probe_item *it,
		      size_t i, cbd_buf *b)
{
	if (p->o->send_uint8)
		cbd_buf_printf(b, "%u", it->q[i]);
	else
		cbd_buf_json_float(b, it->x[i]);
}

static void put_flat(const struct probe *p, const struct probe_item *it,
		     cbd_buf *b)
{
	cbd_buf_puts(b, "[");
	for (size_t i = 0; i < p->n; i++) {
		if (i)
			cbd_buf_add(b, ",", 1);
		put_value(p, it, i, b);
	}
	cbd_buf_puts(b, "]");
}

static void put_shape(const struct probe *p, cbd_buf *b)
{
	if (p->pf.wire_ndim > 0) {
		cbd_buf_puts(b, "[");
		for (int i = 0; i < p->pf.wire_ndim; i++)
			cbd_buf_printf(b, "%s%lld", i ? "," : "",
				       (long long)p->pf.wire_dims[i]);
		cbd_buf_puts(b, "]");
		return;
	}
	cbd_buf_puts(b, "[1");
	for (int i = 0; i < p->ndim; i++)
		cbd_buf_printf(b, ",%lld", (long long)p->dims[i]);
	cbd_buf_puts(b, "]");
}

static const char *datatype(const struct probe *p)
{
	return p->o->send_uint8 ? "UINT8" : "FP32";
}

/* x as float32, little-endian. */
static void put_f32le(const struct probe *p, const struct probe_item *it,
		      cbd_buf *b)
{
	for (size_t i = 0; i < p->n; i++) {
		uint32_t u;
		uint8_t le[4];

		memcpy(&u, &it->x[i], sizeof(u));
		le[0] = (uint8_t)u;
		le[1] = (uint8_t)(u >> 8);
		le[2] = (uint8_t)(u >> 16);
		le[3] = (uint8_t)(u >> 24);
		cbd_buf_add(b, le, 4);
	}
}

/* The binary tensor data after the JSON header: x as float32 LE or q. */
static void put_binary(const struct probe *p, const struct probe_item *it,
		       cbd_buf *b)
{
	if (p->o->send_uint8)
		cbd_buf_add(b, it->q, p->n);
	else
		put_f32le(p, it, b);
}

void probe_body_archive(const struct probe *p, const struct probe_item *it,
			cbd_buf *b)
{
	put_f32le(p, it, b);
}

void probe_body_oip(const struct probe *p, const struct probe_item *it,
		    cbd_buf *b, size_t *json_len)
{
	int bin = p->o->binary;

	cbd_buf_puts(b, "{\"id\":");
	cbd_buf_json_str(b, probe_wire_id(it));
	cbd_buf_puts(b, ",\"inputs\":[{\"name\":");
	cbd_buf_json_str(b, p->pf.input[0] ? p->pf.input
			 : p->o->input_name ? p->o->input_name : "input");
	cbd_buf_puts(b, ",\"shape\":");
	put_shape(p, b);
	cbd_buf_printf(b, ",\"datatype\":\"%s\",", datatype(p));
	if (bin) {
		cbd_buf_printf(b, "\"parameters\":{\"binary_data_size\":%zu}}]",
			       p->n * (p->o->send_uint8 ? 1 : 4));
	} else {
		cbd_buf_puts(b, "\"data\":");
		put_flat(p, it, b);
		cbd_buf_puts(b, "}]");
	}
	if (p->pf.output[0]) {
		cbd_buf_puts(b, ",\"outputs\":[{\"name\":");
		cbd_buf_json_str(b, p->pf.output);
		cbd_buf_puts(b, bin ? ",\"parameters\":{\"binary_data\":true}}]"
				    : "}]");
	} else if (bin) {
		cbd_buf_puts(b, ",\"parameters\":{\"binary_data_output\":true}");
	}
	cbd_buf_puts(b, "}");
	*json_len = bin ? b->len : PROBE_NO_HEADER;
	if (bin)
		put_binary(p, it, b);
}

/* Nested sample: dims d.. (of ndim) starting at element *k. */
static void put_nested(const struct probe *p, const struct probe_item *it,
		       const int64_t *dims, int ndim, int d, size_t *k,
		       cbd_buf *b)
{
	cbd_buf_puts(b, "[");
	for (int64_t i = 0; i < dims[d]; i++) {
		if (i)
			cbd_buf_add(b, ",", 1);
		if (d + 1 == ndim)
			put_value(p, it, (*k)++, b);
		else
			put_nested(p, it, dims, ndim, d + 1, k, b);
	}
	cbd_buf_puts(b, "]");
}

void probe_body_tfserving(const struct probe *p,
			  const struct probe_item *it, cbd_buf *b)
{
	size_t k = 0;
	int wire = p->pf.wire_ndim > 1;

	cbd_buf_puts(b, "{\"instances\":[");
	put_nested(p, it, wire ? p->pf.wire_dims + 1 : p->dims,
		   wire ? p->pf.wire_ndim - 1 : p->ndim, 0, &k, b);
	cbd_buf_puts(b, "]}");
}

void probe_body_exec(const struct probe *p, const struct probe_item *it,
		     cbd_buf *b)
{
	cbd_buf_puts(b, "{\"id\":");
	cbd_buf_json_str(b, probe_wire_id(it));
	cbd_buf_puts(b, ",\"shape\":[1");
	for (int i = 0; i < p->ndim; i++)
		cbd_buf_printf(b, ",%lld", (long long)p->dims[i]);
	cbd_buf_puts(b, "]");
	cbd_buf_printf(b, ",\"datatype\":\"%s\",\"data\":", datatype(p));
	put_flat(p, it, b);
	cbd_buf_puts(b, "}");
}

void probe_request_body(const struct probe *p, const struct probe_item *it,
			cbd_buf *b, size_t *json_len)
{
	*json_len = PROBE_NO_HEADER;
	switch (p->o->backend) {
	case CBD_PROBE_OIP:
		probe_body_oip(p, it, b, json_len);
		break;
	case CBD_PROBE_TFSERVING:
		probe_body_tfserving(p, it, b);
		break;
	case CBD_PROBE_EXEC:
		probe_body_exec(p, it, b);
		break;
	case CBD_PROBE_ARCHIVE:
		probe_body_archive(p, it, b);
		break;
	}
}

/* ---- responses ------------------------------------------------------ */

static void fail(struct probe_outcome *oc, int retryable, const char *msg)
{
	snprintf(oc->error, sizeof(oc->error), "%s", msg);
	oc->retryable = retryable;
}

/* Flatten the numbers of a (nested) array into oc->scores. */
static int count_nums(const cJSON *a, int depth)
{
	const cJSON *c;
	int n = 0;

	if (depth > CBD_MAX_DIMS)
		return -1;
	if (cJSON_IsNumber(a))
		return 1;
	if (!cJSON_IsArray(a))
		return -1;
	cJSON_ArrayForEach(c, a) {
		int k = count_nums(c, depth + 1);

		if (k < 0 || n > 65536)
			return -1;
		n += k;
	}
	return n;
}

static void take_nums(const cJSON *a, float *f, int *k)
{
	const cJSON *c;

	if (cJSON_IsNumber(a)) {
		f[(*k)++] = (float)a->valuedouble;
		return;
	}
	cJSON_ArrayForEach(c, a)
		take_nums(c, f, k);
}

static void set_scores(const struct probe *p, const cJSON *a,
		       struct probe_outcome *oc)
{
	int n = count_nums(a, 0), k = 0;

	if (n < 1) {
		fail(oc, 1, "no scores in answer");
		return;
	}
	if (p->num_classes > 0 && n != p->num_classes) {
		snprintf(oc->error, sizeof(oc->error),
			 "answer has %d scores, expected %d", n,
			 p->num_classes);
		oc->retryable = 1;
		return;
	}
	oc->scores = malloc((size_t)n * sizeof(float));
	if (!oc->scores) {
		fail(oc, 1, "out of memory");
		return;
	}
	take_nums(a, oc->scores, &k);
	oc->num_scores = n;
	oc->label = 0;
	for (int i = 0; i < n; i++) {
		if (!isfinite(oc->scores[i])) {
			free(oc->scores);
			oc->scores = NULL;
			fail(oc, 1, "non-finite score in answer");
			return;
		}
		if (oc->scores[i] > oc->scores[oc->label])
			oc->label = i;
	}
}

static void set_label(const struct probe *p, const cJSON *l,
		      struct probe_outcome *oc)
{
	double v = l->valuedouble;

	if (v != floor(v) || v < 0 || v > 65535 ||
	    (p->num_classes > 0 && v >= p->num_classes)) {
		fail(oc, 1, "label out of range in answer");
		return;
	}
	oc->label = (int)v;
}

static cJSON *parse_obj(const char *body, size_t len,
			struct probe_outcome *oc)
{
	cJSON *j = cJSON_ParseWithLength(body, len);

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		fail(oc, 1, "bad JSON in response");
		return NULL;
	}
	return j;
}

/* A label-kind output: exactly one integer. */
static void take_label(const struct probe *p, const cJSON *a,
		       struct probe_outcome *oc)
{
	while (cJSON_IsArray(a) && cJSON_GetArraySize(a) == 1)
		a = a->child;
	if (!cJSON_IsNumber(a)) {
		fail(oc, 1, "label output is not one number");
		return;
	}
	set_label(p, a, oc);
}

static void take_output(const struct probe *p, const cJSON *v,
			struct probe_outcome *oc)
{
	if (p->pf.answer_label)
		take_label(p, v, oc);
	else
		set_scores(p, v, oc);
}

/* Does the answer's "id" bind it to the query?  (Absent: 1 if optional.) */
static int id_ok(const cJSON *j, const char *want, int required,
		 struct probe_outcome *oc)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");

	if (!id && !required)
		return 1;
	if (!id) {
		fail(oc, 0, "answer has no id");
	} else if (!cJSON_IsString(id)) {
		fail(oc, 0, "answer id is not a string");
	} else if (strcmp(id->valuestring, want) != 0) {
		snprintf(oc->error, sizeof(oc->error),
			 "answer id '%.60s' is not the query's '%.60s'",
			 id->valuestring, want);
		oc->retryable = 0;
	} else {
		return 1;
	}
	oc->desync = 1;
	return 0;
}

/* The chosen output among outputs[] (by name; the only one when the
 * answer names none), or NULL with oc->error set. */
static const cJSON *pick_output(const struct probe *p, const cJSON *outs,
				struct probe_outcome *oc)
{
	const cJSON *c, *name;

	if (!cJSON_IsArray(outs) || !cJSON_IsObject(outs->child)) {
		fail(oc, 1, "no outputs[0].data in response");
		return NULL;
	}
	if (!p->pf.output[0])
		return outs->child;
	cJSON_ArrayForEach(c, outs) {
		name = cJSON_GetObjectItemCaseSensitive(c, "name");
		if (cJSON_IsString(name) &&
		    strcmp(name->valuestring, p->pf.output) == 0)
			return c;
	}
	name = cJSON_GetObjectItemCaseSensitive(outs->child, "name");
	if (cJSON_GetArraySize(outs) == 1 && !name)
		return outs->child;
	snprintf(oc->error, sizeof(oc->error), "no output '%.100s' in response",
		 p->pf.output);
	oc->retryable = 1;
	return NULL;
}

/* Bytes per element of a binary output's datatype (0: not readable). */
static size_t dt_size(const char *dt)
{
	if (!strcmp(dt, "FP32") || !strcmp(dt, "INT32"))
		return 4;
	if (!strcmp(dt, "FP64") || !strcmp(dt, "INT64"))
		return 8;
	return 0;
}

static double le_value(const uint8_t *b, const char *dt)
{
	uint64_t u = 0;
	size_t n = dt_size(dt);

	for (size_t i = 0; i < n; i++)
		u |= (uint64_t)b[i] << (8 * i);
	if (!strcmp(dt, "FP32")) {
		uint32_t w = (uint32_t)u;
		float f;

		memcpy(&f, &w, sizeof(f));
		return f;
	}
	if (!strcmp(dt, "FP64")) {
		double d;

		memcpy(&d, &u, sizeof(d));
		return d;
	}
	if (!strcmp(dt, "INT32"))
		return (double)(int32_t)(uint32_t)u;
	return (double)(int64_t)u;
}

/* Binary answer: give every output carrying binary_data_size a "data"
 * array of its values, read from bin (binlen bytes after the JSON).
 * 0, or -1 with oc->error set. */
static int binary_outputs(cJSON *outs, const uint8_t *bin, size_t binlen,
			  struct probe_outcome *oc)
{
	cJSON *c;
	size_t off = 0;

	cJSON_ArrayForEach(c, outs) {
		const cJSON *pa = cJSON_GetObjectItemCaseSensitive(c,
								 "parameters");
		const cJSON *bds = cJSON_GetObjectItemCaseSensitive(
			pa, "binary_data_size");
		const cJSON *dt = cJSON_GetObjectItemCaseSensitive(c,
								 "datatype");
		size_t size, es;
		cJSON *arr;

		if (!bds)
			continue;
		if (!cJSON_IsNumber(bds) || bds->valuedouble < 0 ||
		    bds->valuedouble != floor(bds->valuedouble) ||
		    bds->valuedouble > (double)(binlen - off)) {
			fail(oc, 1, "binary_data_size of an output does not fit "
			     "the bytes after the JSON header");
			return -1;
		}
		size = (size_t)bds->valuedouble;
		es = cJSON_IsString(dt) ? dt_size(dt->valuestring) : 0;
		if (es && size % es == 0 && size / es <= 65536 &&
		    !cJSON_GetObjectItemCaseSensitive(c, "data")) {
			arr = cJSON_AddArrayToObject(c, "data");
			for (size_t i = 0; arr && i < size / es; i++)
				cJSON_AddItemToArray(arr, cJSON_CreateNumber(
					le_value(bin + off + i * es,
						 dt->valuestring)));
		}
		off += size;
	}
	if (off != binlen) {
		fail(oc, 1, "bytes after the JSON header are not the outputs' "
		     "binary_data_size");
		return -1;
	}
	return 0;
}

void probe_parse_oip(const struct probe *p, const char *id,
		     const char *body, size_t len, size_t json_len,
		     struct probe_outcome *oc)
{
	int bin = json_len != PROBE_NO_HEADER;
	cJSON *j;
	const cJSON *out, *data;

	if (bin && json_len > len) {
		fail(oc, 1, "Inference-Header-Content-Length larger than the "
		     "answer");
		return;
	}
	j = parse_obj(body, bin ? json_len : len, oc);
	if (!j)
		return;
	if (bin && binary_outputs(cJSON_GetObjectItemCaseSensitive(j,
								   "outputs"),
				  (const uint8_t *)body + json_len,
				  len - json_len, oc)) {
		cJSON_Delete(j);
		return;
	}
	if (!id_ok(j, id, 0, oc)) {
		cJSON_Delete(j);
		return;
	}
	out = pick_output(p, cJSON_GetObjectItemCaseSensitive(j, "outputs"),
			  oc);
	data = out ? cJSON_GetObjectItemCaseSensitive(out, "data") : NULL;
	if (out && !data)
		fail(oc, 1, "no outputs[0].data in response");
	else if (data)
		take_output(p, data, oc);
	cJSON_Delete(j);
}

void probe_parse_tfserving(const struct probe *p, const char *id,
			   const char *body, size_t len,
			   struct probe_outcome *oc)
{
	cJSON *j = parse_obj(body, len, oc);
	const cJSON *pred, *first, *v;

	(void)id;   /* TF Serving's REST API has no request id */
	if (!j)
		return;
	pred = cJSON_GetObjectItemCaseSensitive(j, "predictions");
	first = cJSON_IsArray(pred) ? pred->child : NULL;
	if (cJSON_IsObject(first)) {
		/* object format: one member per output */
		v = p->pf.output[0]
			    ? cJSON_GetObjectItemCaseSensitive(first,
							       p->pf.output)
			    : NULL;
		if (!v && first->child && !first->child->next)
			v = first->child;
		if (v)
			take_output(p, v, oc);
		else
			snprintf(oc->error, sizeof(oc->error),
				 "no output '%.100s' in predictions[0]",
				 p->pf.output);
		oc->retryable = oc->error[0] != 0;
	} else if (cJSON_IsNumber(first) && cJSON_GetArraySize(pred) == 1) {
		set_label(p, first, oc);
	} else if (cJSON_IsArray(first)) {
		take_output(p, first, oc);
	} else {
		fail(oc, 1, "no predictions[0] in response");
	}
	cJSON_Delete(j);
}

void probe_parse_exec(const struct probe *p, const char *id,
		      const char *body, size_t len, struct probe_outcome *oc)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *sc, *lab, *er;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		snprintf(oc->error, sizeof(oc->error),
			 "answer line is not a JSON object: '%.*s'",
			 (int)(len < 60 ? len : 60), body);
		oc->retryable = 1;
		oc->desync = 1;
		return;
	}
	if (!id_ok(j, id, 1, oc)) {
		cJSON_Delete(j);
		return;
	}
	sc = cJSON_GetObjectItemCaseSensitive(j, "scores");
	lab = cJSON_GetObjectItemCaseSensitive(j, "label");
	er = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsString(er)) {
		snprintf(oc->error, sizeof(oc->error), "endpoint error: %.160s",
			 er->valuestring);
		oc->retryable = 1;
	} else if (sc) {
		set_scores(p, sc, oc);
		if (!oc->error[0] && cJSON_IsNumber(lab))
			set_label(p, lab, oc);
	} else if (cJSON_IsNumber(lab)) {
		set_label(p, lab, oc);
	} else {
		fail(oc, 1, "no scores or label in answer");
	}
	cJSON_Delete(j);
}
