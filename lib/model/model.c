/*
 * model.c — cbd_model: what the tools execute, a bare ONNX classifier or a
 * cbd archive (classifier + circuit).
 *
 * cbd_model_open reads the file once and tells the two apart by magic
 * bytes: gzip (1f 8b) is an archive and goes to cbd_model_open_archive()
 * (lib/model/archive.c); anything else is ONNX.  For ONNX the name is the
 * file's basename without ".onnx", the input is the network's single input
 * (float32, dims[0] the batch), the output its first (name kept: cbd-serve
 * answers under it) and num_classes the last dimension of its
 * first output.  cbd_model_run checks the batch against the input and
 * returns float32 scores [N,K]; archives route to cbd_model_run_archive().
 */
#include "model_internal.h"
#include "../util/util_internal.h"

#include <string.h>

static char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t n;
	char *s;

	b = b ? b + 1 : path;
	n = strlen(b);
	if (n > 5 && strcmp(b + n - 5, ".onnx") == 0)
		n -= 5;
	s = malloc(n + 1);
	if (s) {
		memcpy(s, b, n);
		s[n] = 0;
	}
	return s;
}

cbd_status cbd_nn_check_classifier(const cbd_nn *nn, const char *input_name,
				   const char *label, const cbd_nn_io **inp,
				   const cbd_nn_io **outp, cbd_err *err)
{
	const cbd_nn_io *in, *out;

	if (cbd_nn_num_inputs(nn) != 1)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "model has %d inputs, a classifier has one "
				   "(%s)", cbd_nn_num_inputs(nn), label);
	in = cbd_nn_input(nn, 0);
	out = cbd_nn_output(nn, 0);
	if (input_name && strcmp(in->name, input_name) != 0)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "no input named %s; "
				   "the model's is %s (%s)", input_name,
				   in->name, label);
	if (in->dtype != CBD_DT_FLOAT32 || in->ndim < 2 ||
	    in->ndim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "input %s must be float32 [N, sample dims] "
				   "(%s)", in->name, label);
	for (int i = 1; i < in->ndim; i++)
		if (in->dims[i] < 1)
			return cbd_err_set(err, CBD_E_UNSUPPORTED,
					   "input %s: dimension %d is not fixed; "
					   "cbd needs a fixed sample shape (%s)",
					   in->name, i, label);
	if (!out || out->dtype != CBD_DT_FLOAT32 || out->ndim != 2 ||
	    out->dims[1] < 2 || out->dims[1] > CBD_MAX_CLASSES)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "output %s must be float32 [N, K] scores "
				   "with a fixed K from 2 to %d (%s)",
				   out ? out->name : "0", CBD_MAX_CLASSES,
				   label);
	if (inp)
		*inp = in;
	if (outp)
		*outp = out;
	return CBD_OK;
}

cbd_status cbd_model_init_nn(cbd_model *m, const uint8_t *onnx, size_t len,
			     const char *name, const cbd_nn_opts *opts,
			     cbd_err *err)
{
	const cbd_nn_io *in, *out;
	cbd_status s;

	s = cbd_nn_load_mem(onnx, len, name, opts, &m->nn, err);
	if (s == CBD_OK)
		s = cbd_nn_check_classifier(m->nn, NULL, name, &in, &out, err);
	if (s != CBD_OK)
		return s;
	m->input = *in;   /* dims[0] as declared: -1 (dynamic) or fixed */
	m->input.dims[0] = in->dims[0] >= 1 ? in->dims[0] : -1;
	m->output = *out; /* the classifier's own name; dims[0] as input's */
	m->output.dims[0] = m->input.dims[0];
	m->num_classes = (int)out->dims[1];
	return CBD_OK;
}

cbd_status cbd_model_open(const char *path, const cbd_nn_opts *opts,
			  cbd_model **out, cbd_err *err)
{
	cbd_model *m;
	uint8_t *buf = NULL;
	size_t len = 0;
	cbd_status s;

	*out = NULL;
	m = cbd_xcalloc(1, sizeof(*m), err);
	if (!m)
		return CBD_E_NOMEM;
	s = cbd_file_read(path, CBD_MAX_FILE, &buf, &len, err);
	if (s == CBD_OK && len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
		s = cbd_model_open_archive(path, buf, len, opts, m, err);
	} else if (s == CBD_OK) {
		m->name = base_name(path);
		s = m->name ? cbd_model_init_nn(m, buf, len, path, opts, err)
			    : cbd_err_set(err, CBD_E_NOMEM, "model name");
	}
	free(buf);
	if (s != CBD_OK) {
		cbd_model_free(m);
		return s;
	}
	*out = m;
	return CBD_OK;
}

void cbd_model_free(cbd_model *m)
{
	if (!m)
		return;
	if (m->archive || m->priv)
		cbd_model_free_archive(m);
	cbd_nn_free(m->nn);
	free(m->name);
	free(m);
}

void cbd_model_dequantize(const cbd_model *m, const uint8_t *q,
			  size_t n_samples, float *x)
{
	const cbd_circuit *c = m->archive ? cbd_archive_circuit(m->archive)
					  : NULL;
	size_t n = 1;

	for (int i = 1; i < m->input.ndim; i++)
		n *= (size_t)m->input.dims[i];
	for (size_t i = 0; i < n_samples; i++)
		if (c)
			cbd_circuit_dequantize(c, q + i * n, x + i * n);
		else
			cbd_dequantize_default(q + i * n, n, x + i * n);
}

const char *cbd_model_name(const cbd_model *m)
{
	return m->name;
}

int cbd_model_num_classes(const cbd_model *m)
{
	return m->num_classes;
}

const cbd_nn_io *cbd_model_input(const cbd_model *m)
{
	return &m->input;
}

const cbd_nn_io *cbd_model_output(const cbd_model *m)
{
	return &m->output;
}

const cbd_archive *cbd_model_archive(const cbd_model *m)
{
	return m->archive;
}

cbd_status cbd_model_run_nn(cbd_model *m, const cbd_tensor *batch,
			    cbd_tensor **scores, cbd_err *err)
{
	const cbd_tensor *in[1] = {batch};
	cbd_tensor *out[1] = {NULL};
	cbd_status s;

	*scores = NULL;
	if (!batch || batch->dtype != CBD_DT_FLOAT32 ||
	    batch->ndim != m->input.ndim || batch->dims[0] < 1)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "batch must be float32 with %d dimensions "
				   "(input %s)", m->input.ndim, m->input.name);
	s = cbd_nn_run(m->nn, in, 1, out, 1, err);
	if (s != CBD_OK)
		return s;
	if (out[0]->dtype != CBD_DT_FLOAT32 || out[0]->ndim != 2 ||
	    out[0]->dims[0] != batch->dims[0] ||
	    out[0]->dims[1] != m->num_classes) {
		cbd_tensor_free(out[0]);
		return cbd_err_set(err, CBD_E_SHAPE,
				   "model output is not float32 [%lld,%d]",
				   (long long)batch->dims[0], m->num_classes);
	}
	*scores = out[0];
	return CBD_OK;
}

cbd_status cbd_model_run(cbd_model *m, const cbd_tensor *batch,
			 cbd_tensor **scores, cbd_activation *acts,
			 cbd_err *err)
{
	if (m->archive || m->priv)
		return cbd_model_run_archive(m, batch, scores, acts, err);
	if (acts && batch && batch->ndim > 0)
		for (int64_t i = 0; i < batch->dims[0]; i++)
			acts[i] = (cbd_activation){.key_index = -1,
						   .label = -1};
	return cbd_model_run_nn(m, batch, scores, err);
}
