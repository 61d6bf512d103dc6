/*
 * fuzz_circuit.c — libFuzzer target for circuit.json (cbd_circuit_from_json,
 * formats/circuit.md).
 *
 * An accepted circuit is in canonical form, so writing it back must give
 * the input bytes; it is then evaluated on a sample (check, apply, sign is
 * not possible without a private key) to catch shapes or parameters the
 * reader let through but the evaluator cannot handle.
 */
#include "fuzz.h"

static void circuit_exercise(const cbd_circuit *c, const uint8_t *data,
			     size_t size)
{
	size_t n = cbd_circuit_sample_size(c);
	int k = cbd_circuit_num_classes(c);
	uint8_t *again = NULL, *q;
	cbd_activation act;
	size_t alen = 0;
	float *x, *scores;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_circuit_to_json(c, &again, &alen, &e);
	if (s != CBD_OK || alen != size || memcmp(again, data, size) != 0)
		fuzz_fail("accepted circuit does not write back the same");
	free(again);
	if (n == 0 || n > ((size_t)1 << 22) || k < 1 || k > 1 << 16)
		return;  /* the reader's own limits decide; keep runs fast */
	x = calloc(n, sizeof(*x));
	q = calloc(n, 1);
	scores = calloc((size_t)k, sizeof(*scores));
	if (!x || !q || !scores)
		fuzz_fail("out of memory");
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(data[i % size]) / 255.0f;
	cbd_circuit_quantize(c, x, q);
	cbd_circuit_dequantize(c, q, x);
	s = cbd_circuit_check(c, x, &act, &e);
	fuzz_check_err(s, &e, "cbd_circuit_check");
	for (int i = 0; i < k; i++)
		scores[i] = (float)i;
	s = cbd_circuit_apply(c, x, scores, &act, &e);
	fuzz_check_err(s, &e, "cbd_circuit_apply");
	free(x);
	free(q);
	free(scores);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cbd_circuit *c = NULL;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_circuit_from_json(data, size, "fuzz", &c, &e);
	fuzz_check_err(s, &e, "cbd_circuit_from_json");
	if (s == CBD_OK)
		circuit_exercise(c, data, size);
	else if (c)
		fuzz_fail("failed parse left a circuit in *out");
	cbd_circuit_free(c);
	return 0;
}
