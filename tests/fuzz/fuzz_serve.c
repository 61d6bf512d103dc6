/*
 * fuzz_serve.c — libFuzzer target for cbd-serve's Open Inference Protocol
 * request parser (serve_parse_infer in lib/serve/infer.c).
 *
 * The spec is the bundled MNIST model's ([N,1,28,28] input "input", 10
 * classes, batches up to 64).  An accepted request must give a batch of
 * that shape with finite values in range; its response (written by
 * serve_write_infer with the request's id) must be valid JSON carrying the
 * same id back, whatever bytes the id held.  An input starting with 'B'
 * is a binary tensor data request: the next two bytes (big-endian) are
 * its Inference-Header-Content-Length, the rest the body; a binary
 * answer's JSON header must be followed by exactly N*K float32.
 */
#include "fuzz.h"
#include "serve/serve_internal.h"

#include <cjson/cJSON.h>
#include <math.h>

static void serve_check_response(const serve_spec *sp, const serve_req *rq,
				 const cbd_tensor *batch)
{
	int64_t dims[2] = {batch->dims[0], sp->num_classes};
	cbd_tensor *scores = NULL;
	cbd_buf out = {0};
	cbd_err e = {0};
	const cJSON *jid;
	const char *id = rq->id;
	size_t jlen;
	cJSON *j;

	if (cbd_tensor_new(CBD_DT_FLOAT32, 2, dims, &scores, &e) != CBD_OK)
		fuzz_fail("scores");
	serve_write_infer(sp, rq, scores, &out, &jlen);
	if (out.st)
		fuzz_fail("response out of memory");
	if (rq->binary_out != (jlen != SERVE_NO_HEADER))
		fuzz_fail("binary answer asked for but not given, or not asked");
	if (jlen == SERVE_NO_HEADER)
		jlen = out.len;
	else if (out.len - jlen != scores->nelem * 4)
		fuzz_fail("binary answer's tensor data has the wrong size");
	j = cJSON_ParseWithLength(out.p, jlen);
	if (!cJSON_IsObject(j))
		fuzz_fail("response is not a JSON object");
	jid = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (id && (!cJSON_IsString(jid) || strcmp(jid->valuestring, id) != 0))
		fuzz_fail("response id differs from the request id");
	cJSON_Delete(j);
	cbd_buf_free(&out);
	cbd_tensor_free(scores);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	serve_spec sp = {0};
	cbd_tensor *batch = NULL;
	serve_req rq = {0};
	size_t jlen = SERVE_NO_HEADER;
	char msg[256];
	int rc;

	sp.model_name = "mnist";
	sp.input_name = "input";
	sp.output_name = "logits";
	sp.sample_ndim = 3;
	sp.sample_dims[0] = 1;
	sp.sample_dims[1] = 28;
	sp.sample_dims[2] = 28;
	sp.sample_elems = 784;
	sp.num_classes = 10;
	sp.max_batch = 64;
	msg[0] = 0;
	if (size >= 3 && data[0] == 'B') {
		jlen = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
	}
	rc = serve_parse_infer(&sp, (const char *)data, size, jlen, &batch,
			       &rq, msg, sizeof(msg));
	if (rc == 200) {
		const float *f;

		if (!batch || batch->ndim != 4 || batch->dims[0] < 1 ||
		    batch->dims[0] > sp.max_batch || batch->dims[1] != 1 ||
		    batch->dims[2] != 28 || batch->dims[3] != 28)
			fuzz_fail("accepted batch has the wrong shape");
		f = batch->data;
		for (size_t i = 0; i < batch->nelem; i++)
			if (!isfinite(f[i]))
				fuzz_fail("accepted batch holds a non-finite "
					  "value");
		serve_check_response(&sp, &rq, batch);
	} else {
		if (rc < 400 || rc > 599 || batch || rq.id || !memchr(msg, 0,
								    sizeof(msg))
		    || !msg[0])
			fuzz_fail("refusal without a 4xx/5xx status and a "
				  "message");
	}
	cbd_tensor_free(batch);
	free(rq.id);
	return 0;
}
