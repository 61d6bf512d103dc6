/*
 * archive.c — the archive path of cbd_model_open()/cbd_model_run():
 * a cbd archive is a classifier plus a circuit evaluated beside it.
 *
 * Opening checks the archive (member digests, manifest signature) with
 * cbd_archive_open_mem, loads the stored model bytes with
 * cbd_model_init_nn, and checks that the circuit fits the classifier: the
 * circuit's sample has as many elements as one input sample, and both agree
 * on K.  Running checks every sample of the batch with the circuit first
 * (while the caller's inputs are still in cache; a clean sample costs a
 * 16-element tag check), executes the classifier once on the whole batch,
 * then applies the mode's policy to each sample's scores: clean samples of
 * watermark and trace archives keep their scores bit for bit.
 */
#include "model_internal.h"
#include "../circuit/circuit_internal.h"

#include <string.h>

cbd_status cbd_model_open_archive(const char *path, const uint8_t *buf,
				  size_t len, const cbd_nn_opts *opts,
				  cbd_model *m, cbd_err *err)
{
	const cbd_circuit *c;
	const uint8_t *onnx;
	size_t olen = 0, per = 1;
	cbd_status s;

	s = cbd_archive_open_mem(buf, len, path, &m->archive, err);
	if (s)
		return s;
	c = cbd_archive_circuit(m->archive);
	onnx = cbd_archive_model(m->archive, &olen);
	m->name = strdup(cbd_archive_model_name(m->archive) ?
			 cbd_archive_model_name(m->archive) : "model");
	if (!m->name)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	s = cbd_model_init_nn(m, onnx, olen, path, opts, err);
	if (s)
		return s;
	for (int i = 1; i < m->input.ndim; i++)
		per *= (size_t)m->input.dims[i];
	if (per != cbd_circuit_sample_size(c))
		return cbd_err_set(err, CBD_E_SHAPE, "the circuit's sample has "
				   "%zu elements, the model's input %zu (%s)",
				   cbd_circuit_sample_size(c), per, path);
	if (m->num_classes != cbd_circuit_num_classes(c))
		return cbd_err_set(err, CBD_E_SHAPE, "the circuit has %d "
				   "classes, the model %d (%s)",
				   cbd_circuit_num_classes(c), m->num_classes,
				   path);
	return CBD_OK;
}

cbd_status cbd_model_run_archive(cbd_model *m, const cbd_tensor *batch,
				 cbd_tensor **scores, cbd_activation *acts,
				 cbd_err *err)
{
	const cbd_circuit *c = cbd_archive_circuit(m->archive);
	size_t n = cbd_circuit_sample_size(c), count;
	cbd_activation one[64], *a = acts;
	const float *x;
	int k = m->num_classes;
	cbd_status s;

	*scores = NULL;
	if (!batch || batch->dtype != CBD_DT_FLOAT32 || batch->ndim < 1 ||
	    batch->dims[0] < 1 || batch->nelem != (size_t)batch->dims[0] * n)
		return cbd_err_set(err, CBD_E_SHAPE, "batch samples do not "
				   "have the circuit's %zu elements", n);
	count = (size_t)batch->dims[0];
	x = batch->data;
	if (!a && count > CBD_ARRAY_LEN(one)) {
		a = cbd_xcalloc(count, sizeof(*a), err);
		if (!a)
			return CBD_E_NOMEM;
	} else if (!a) {
		a = one;
	}
	/* the circuit first, while the caller's inputs are in cache */
	s = CBD_OK;
	for (size_t i = 0; i < count && !s; i++)
		s = cbd_circuit_check(c, x + i * n, &a[i], err);
	if (!s)
		s = cbd_model_run_nn(m, batch, scores, err);
	for (size_t i = 0; i < count && !s; i++)
		s = cbd_circuit_policy(c, x + i * n, &a[i],
				       (float *)(*scores)->data + i * (size_t)k,
				       err);
	if (s) {
		cbd_tensor_free(*scores);
		*scores = NULL;
	}
	if (a != acts && a != one)
		free(a);
	return s;
}

void cbd_model_free_archive(cbd_model *m)
{
	cbd_archive_free(m->archive);
	m->archive = NULL;
}
