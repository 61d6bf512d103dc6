/*
 * codec.c — request bodies and response parsing for the probe backends.
 *
 * Floats go out as %.9g of the float32 the endpoint should see (q/255 for
 * the default quantiser), so parsing the JSON back to float32 gives the
 * same bits and the endpoint's quantiser recovers the trigger's bytes
 * exactly; with --datatype UINT8 the bytes go out as integers.
 *
 *   oip:       {"id":ID,"inputs":[{"name":IN,"shape":[1,d...],
 *               "datatype":"FP32","data":[flat]}]}
 *              -> {"outputs":[{"data":[scores...]},...]} (first output)
 *   tfserving: {"instances":[<one sample, nested>]}
 *              -> {"predictions":[[scores...]]} or {"predictions":[label]}
 *   exec:      {"id":ID,"shape":[1,d...],"datatype":"FP32","data":[flat]}
 *              -> {"id":ID,"scores":[...]} | {"id":ID,"label":n}
 *                 | {"id":ID,"error":"..."}
 * The label is the first maximum of the scores.
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
	cbd_buf_puts(b, "[1");
	for (int i = 0; i < p->ndim; i++)
		cbd_buf_printf(b, ",%lld", (long long)p->dims[i]);
	cbd_buf_puts(b, "]");
}

static const char *datatype(const struct probe *p)
{
	return p->o->send_uint8 ? "UINT8" : "FP32";
}

void probe_body_oip(const struct probe *p, const struct probe_item *it,
		    cbd_buf *b)
{
	cbd_buf_puts(b, "{\"id\":");
	cbd_buf_json_str(b, it->id);
	cbd_buf_puts(b, ",\"inputs\":[{\"name\":");
	cbd_buf_json_str(b, p->o->input_name ? p->o->input_name : "input");
	cbd_buf_puts(b, ",\"shape\":");
	put_shape(p, b);
	cbd_buf_printf(b, ",\"datatype\":\"%s\",\"data\":", datatype(p));
	put_flat(p, it, b);
	cbd_buf_puts(b, "}]}");
}

/* Nested sample: dims d.. of the sample starting at element *k. */
static void put_nested(const struct probe *p, const struct probe_item *it,
		       int d, size_t *k, cbd_buf *b)
{
	cbd_buf_puts(b, "[");
	for (int64_t i = 0; i < p->dims[d]; i++) {
		if (i)
			cbd_buf_add(b, ",", 1);
		if (d + 1 == p->ndim)
			put_value(p, it, (*k)++, b);
		else
			put_nested(p, it, d + 1, k, b);
	}
	cbd_buf_puts(b, "]");
}

void probe_body_tfserving(const struct probe *p,
			  const struct probe_item *it, cbd_buf *b)
{
	size_t k = 0;

	cbd_buf_puts(b, "{\"instances\":[");
	put_nested(p, it, 0, &k, b);
	cbd_buf_puts(b, "]}");
}

void probe_body_exec(const struct probe *p, const struct probe_item *it,
		     cbd_buf *b)
{
	cbd_buf_puts(b, "{\"id\":");
	cbd_buf_json_str(b, it->id);
	cbd_buf_puts(b, ",\"shape\":");
	put_shape(p, b);
	cbd_buf_printf(b, ",\"datatype\":\"%s\",\"data\":", datatype(p));
	put_flat(p, it, b);
	cbd_buf_puts(b, "}");
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

void probe_parse_oip(const struct probe *p, const char *body, size_t len,
		     struct probe_outcome *oc)
{
	cJSON *j = parse_obj(body, len, oc);
	const cJSON *outs, *data;

	if (!j)
		return;
	outs = cJSON_GetObjectItemCaseSensitive(j, "outputs");
	data = cJSON_IsArray(outs) && cJSON_IsObject(outs->child)
		       ? cJSON_GetObjectItemCaseSensitive(outs->child, "data")
		       : NULL;
	if (!data)
		fail(oc, 1, "no outputs[0].data in response");
	else
		set_scores(p, data, oc);
	cJSON_Delete(j);
}

void probe_parse_tfserving(const struct probe *p, const char *body,
			   size_t len, struct probe_outcome *oc)
{
	cJSON *j = parse_obj(body, len, oc);
	const cJSON *pred, *first;

	if (!j)
		return;
	pred = cJSON_GetObjectItemCaseSensitive(j, "predictions");
	first = cJSON_IsArray(pred) ? pred->child : NULL;
	if (cJSON_IsNumber(first) && cJSON_GetArraySize(pred) == 1)
		set_label(p, first, oc);
	else if (cJSON_IsArray(first))
		set_scores(p, first, oc);
	else
		fail(oc, 1, "no predictions[0] in response");
	cJSON_Delete(j);
}

void probe_parse_exec(const struct probe *p, const char *body, size_t len,
		      struct probe_outcome *oc)
{
	cJSON *j = parse_obj(body, len, oc);
	const cJSON *sc, *lab, *er;

	if (!j)
		return;
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

uint8_t cbd_probe_float_to_byte(float x)
{
	float v = x * 255.0f;

	if (!(v > 0.0f))
		return 0;
	if (v >= 255.0f)
		return 255;
	return (uint8_t)roundf(v);
}
