/*
 * fuzz_nn.c — libFuzzer target for the ONNX loader (cbd_nn_load_mem:
 * protobuf decoding, graph building, shape inference, oneDNN planning).
 *
 * An accepted model is run once on zero inputs (dynamic dimensions set to
 * 1; inputs of unknown rank, ndim -1, or past 1 M elements skipped) so that what the loader let through
 * is something the executor can handle, within a compute budget.
 */
#include "fuzz.h"

#define NN_MAX_RUN_ELEMS ((int64_t)1 << 20)

static void nn_run_zero(cbd_nn *nn)
{
	int ni = cbd_nn_num_inputs(nn), no = cbd_nn_num_outputs(nn);
	cbd_tensor *in[16] = {0}, *out[16] = {0};
	cbd_err e = {0};
	cbd_status s = CBD_OK;

	if (ni < 0 || no < 0)
		fuzz_fail("negative input/output count");
	if (ni > 16 || no > 16)
		return;
	for (int i = 0; i < ni && s == CBD_OK; i++) {
		const cbd_nn_io *io = cbd_nn_input(nn, i);
		int64_t dims[CBD_MAX_DIMS], total = 1;

		if (!io || io->ndim < -1 || io->ndim > CBD_MAX_DIMS)
			fuzz_fail("bad input description");
		if (io->ndim == -1)
			goto out;   /* unknown rank: nothing to feed it */
		for (int d = 0; d < io->ndim; d++) {
			dims[d] = io->dims[d] < 0 ? 1 : io->dims[d];
			total *= dims[d] ? dims[d] : 1;
			if (total > NN_MAX_RUN_ELEMS)
				goto out;
		}
		s = cbd_tensor_new(io->dtype, io->ndim, dims, &in[i], &e);
	}
	if (s == CBD_OK) {
		s = cbd_nn_run(nn, (const cbd_tensor *const *)in, ni, out, no,
			       &e);
		fuzz_check_err(s, &e, "cbd_nn_run");
	}
out:
	for (int i = 0; i < 16; i++) {
		cbd_tensor_free(in[i]);
		cbd_tensor_free(out[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a small compute budget: a few hundred bytes can describe hours of
	 * arithmetic, which the engine must refuse rather than do */
	cbd_nn_opts o = {.threads = 1, .max_work = (uint64_t)1 << 28};
	cbd_nn *nn = NULL;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_nn_load_mem(data, size, "fuzz", &o, &nn, &e);
	fuzz_check_err(s, &e, "cbd_nn_load_mem");
	if (s == CBD_OK)
		nn_run_zero(nn);
	else if (nn)
		fuzz_fail("failed load left a model in *out");
	cbd_nn_free(nn);
	return 0;
}
