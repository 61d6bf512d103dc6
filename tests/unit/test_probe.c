/*
 * test_probe.c — the probe's wire encoding: every byte value survives
 * q -> float32 -> "%.9g" JSON -> parse -> quantiser (ours and the real
 * circuit's); an OIP request built by the probe parses in cbd-serve's
 * parser to the same float bits; response parsing takes nested data, and
 * refuses garbage, wrong score counts and non-finite scores.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "probe/probe_internal.h"
#include "serve/serve_internal.h"
#include "fixture.h"

static void test_all_bytes_roundtrip(void **state)
{
	float x[256], back[256], img[N];
	uint8_t q[N], want[256];
	cbd_circuit *c;
	cbd_key *k = NULL;
	cbd_err e = {0};
	cbd_buf b = {0};
	cJSON *arr;
	int i = 0;
	const cJSON *it;

	(void)state;
	cbd_buf_puts(&b, "[");
	for (int v = 0; v < 256; v++)
		want[v] = (uint8_t)v;
	cbd_dequantize_default(want, 256, x);
	for (int v = 0; v < 256; v++) {
		if (v)
			cbd_buf_puts(&b, ",");
		cbd_buf_json_float(&b, x[v]);
	}
	cbd_buf_puts(&b, "]");
	arr = cJSON_Parse(b.p);
	assert_non_null(arr);
	cJSON_ArrayForEach(it, arr)
		back[i++] = (float)it->valuedouble;
	assert_int_equal(i, 256);
	/* bit-identical floats after the JSON trip (strtod, as the server) */
	assert_memory_equal(x, back, sizeof(x));
	/* and the real circuit's quantiser recovers every byte */
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	c = fx_circuit(CBD_MODE_WATERMARK, &k, 1, NULL, NULL, NULL);
	for (int j = 0; j < N; j++)
		img[j] = back[j % 256];
	cbd_circuit_quantize(c, img, q);
	for (int j = 0; j < N; j++)
		assert_int_equal(q[j], want[j % 256]);
	cbd_circuit_free(c);
	cbd_key_free(k);
	cJSON_Delete(arr);
	cbd_buf_free(&b);
}

static void setup_probe(struct probe *p, cbd_probe_opts *o,
			struct probe_item *it, uint8_t *q, float *x)
{
	memset(p, 0, sizeof(*p));
	memset(o, 0, sizeof(*o));
	p->o = o;
	fx_shape(&p->ndim, p->dims);
	p->n = N;
	p->num_classes = K;
	for (int i = 0; i < N; i++) {
		q[i] = (uint8_t)(i * 7 + 3);
		cbd_dequantize_default(q + i, 1, x + i);
	}
	memset(it, 0, sizeof(*it));
	it->id = "t\"7";
	it->q = q;
	it->x = x;
}

static void test_oip_request_parses_in_server(void **state)
{
	struct probe p;
	cbd_probe_opts o;
	struct probe_item it;
	uint8_t q[784];
	float x[784];
	serve_spec sp = {0};
	cbd_buf b = {0};
	cbd_tensor *batch;
	serve_req rq;
	size_t jlen;
	char msg[256];

	(void)state;
	setup_probe(&p, &o, &it, q, x);
	sp.model_name = "m";
	sp.input_name = "input";
	sp.output_name = "logits";
	fx_shape(&sp.sample_ndim, sp.sample_dims);
	sp.sample_elems = N;
	sp.num_classes = K;
	sp.max_batch = 4;
	for (int k = 0; k < 4; k++) {
		o.send_uint8 = k & 1;
		o.binary = k >> 1;   /* Triton's binary tensor data */
		cbd_buf_reset(&b);
		probe_body_oip(&p, &it, &b, &jlen);
		assert_true((jlen == PROBE_NO_HEADER) == !o.binary);
		if (o.binary)
			assert_int_equal(b.len - jlen, o.send_uint8 ? 784 : 3136);
		assert_int_equal(serve_parse_infer(&sp, b.p, b.len,
						   o.binary ? jlen
						   : SERVE_NO_HEADER, &batch,
						   &rq, msg, sizeof(msg)), 200);
		assert_string_equal(rq.id, "t\"7");
		assert_int_equal(rq.binary_out, o.binary);
		assert_int_equal(batch->dims[0], 1);
		assert_memory_equal(batch->data, x, sizeof(x));
		/* the server's answer, binary or JSON, read back: same bits */
		{
			int64_t d[2] = {1, 10};
			cbd_tensor *sc = NULL;
			cbd_err e = {0};
			cbd_buf ans = {0};
			struct probe_outcome oc = {.label = -1};
			size_t alen;

			assert_int_equal(cbd_tensor_new(CBD_DT_FLOAT32, 2, d, &sc,
							&e), CBD_OK);
			for (int i = 0; i < 10; i++)
				((float *)sc->data)[i] = i == 6 ? 0.7f
						       : 1.0f / (float)(i + 3);
			serve_write_infer(&sp, &rq, sc, &ans, &alen);
			probe_parse_oip(&p, it.id, ans.p, ans.len, alen, &oc);
			assert_string_equal(oc.error, "");
			assert_int_equal(oc.label, 6);
			assert_memory_equal(oc.scores, sc->data, 40);
			free(oc.scores);
			cbd_buf_free(&ans);
			cbd_tensor_free(sc);
		}
		cbd_tensor_free(batch);
		free(rq.id);
	}
	/* the server refuses a wrong datatype */
	{
		const char *bad = "{\"inputs\":[{\"name\":\"input\",\"shape\":"
				  "[1,1,28,28],\"datatype\":\"FP64\","
				  "\"data\":[]}]}";

		assert_int_equal(serve_parse_infer(&sp, bad, strlen(bad),
						   SERVE_NO_HEADER, &batch, &rq,
						   msg, sizeof(msg)), 400);
	}
	assert_non_null(strstr(msg, "datatype"));
	cbd_buf_free(&b);
}

static void test_parse_answers(void **state)
{
	struct probe p;
	cbd_probe_opts o;
	struct probe_item it;
	uint8_t q[784];
	float x[784];
	struct probe_outcome oc;
	const char *nested = "{\"outputs\":[{\"name\":\"scores\",\"shape\":"
			     "[1,10],\"data\":[[0,1,2,9.5,4,5,6,7,8,9.25]]}]}";

	(void)state;
	setup_probe(&p, &o, &it, q, x);
	memset(&oc, 0, sizeof(oc));
	probe_parse_oip(&p, "x", nested, strlen(nested), PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "");
	assert_int_equal(oc.label, 3);
	assert_int_equal(oc.num_scores, 10);
	free(oc.scores);
	memset(&oc, 0, sizeof(oc));
	probe_parse_oip(&p, "x", "{\"outputs\":[{\"data\":[1,2]}]}", 28, PROBE_NO_HEADER, &oc);
	assert_non_null(strstr(oc.error, "expected 10"));
	memset(&oc, 0, sizeof(oc));
	probe_parse_oip(&p, "x", "{\"outputs\":[", 12, PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "bad JSON in response");
	assert_true(oc.retryable);
	memset(&oc, 0, sizeof(oc));
	probe_parse_tfserving(&p, "x", "{\"predictions\":[4]}", 19, &oc);
	assert_string_equal(oc.error, "");
	assert_int_equal(oc.label, 4);
	memset(&oc, 0, sizeof(oc));
	probe_parse_exec(&p, "x", "{\"id\":\"x\",\"error\":\"boom\"}", 25, &oc);
	assert_non_null(strstr(oc.error, "boom"));
	assert_false(oc.desync);
}

/* Binding: an answer for another query is an error, never a label. */
static void test_answer_binding(void **state)
{
	struct probe p;
	cbd_probe_opts o;
	struct probe_item it;
	uint8_t q[784];
	float x[784];
	struct probe_outcome oc;
	const char *ok = "{\"id\":\"t1\",\"label\":3}";
	const char *other = "{\"id\":\"t2\",\"label\":3}";
	const char *noid = "{\"label\":3}";
	const char *oip = "{\"id\":\"t2\",\"outputs\":[{\"name\":\"l\","
			  "\"data\":[0,1,2,9,4,5,6,7,8,3]}]}";
	const char *two = "{\"outputs\":[{\"name\":\"label\",\"data\":[3]},"
			  "{\"name\":\"logits\",\"data\":[0,1,2,9,4,5,6,7,8,"
			  "3]}]}";

	(void)state;
	setup_probe(&p, &o, &it, q, x);
	memset(&oc, 0, sizeof(oc));
	probe_parse_exec(&p, "t1", ok, strlen(ok), &oc);
	assert_string_equal(oc.error, "");
	assert_int_equal(oc.label, 3);
	memset(&oc, 0, sizeof(oc));
	oc.label = -1;
	probe_parse_exec(&p, "t1", other, strlen(other), &oc);
	assert_string_equal(oc.error, "answer id 't2' is not the query's 't1'");
	assert_true(oc.desync);
	assert_int_equal(oc.label, -1);
	memset(&oc, 0, sizeof(oc));
	probe_parse_exec(&p, "t1", noid, strlen(noid), &oc);
	assert_string_equal(oc.error, "answer has no id");
	memset(&oc, 0, sizeof(oc));
	probe_parse_exec(&p, "t1", "loading... done", 15, &oc);
	assert_true(oc.desync);
	assert_non_null(strstr(oc.error, "not a JSON object"));
	memset(&oc, 0, sizeof(oc));
	oc.label = -1;
	probe_parse_oip(&p, "t1", oip, strlen(oip), PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "answer id 't2' is not the query's 't1'");
	assert_null(oc.scores);
	/* two outputs, label first: the named one is read */
	memset(&oc, 0, sizeof(oc));
	strcpy(p.pf.output, "logits");
	probe_parse_oip(&p, "t1", two, strlen(two), PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "");
	assert_int_equal(oc.label, 3);
	assert_int_equal(oc.num_scores, 10);
	free(oc.scores);
	memset(&oc, 0, sizeof(oc));
	strcpy(p.pf.output, "label");
	p.pf.answer_label = 1;
	probe_parse_oip(&p, "t1", two, strlen(two), PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "");
	assert_int_equal(oc.label, 3);
	assert_null(oc.scores);
	memset(&oc, 0, sizeof(oc));
	strcpy(p.pf.output, "probs");
	probe_parse_oip(&p, "t1", two, strlen(two), PROBE_NO_HEADER, &oc);
	assert_string_equal(oc.error, "no output 'probs' in response");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_bytes_roundtrip),
		cmocka_unit_test(test_oip_request_parses_in_server),
		cmocka_unit_test(test_parse_answers),
		cmocka_unit_test(test_answer_binding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
