/*
 * model_archive.c — the archive path of cbd_model_open()/cbd_model_run():
 * a cbd archive is a classifier plus a circuit evaluated beside it.
 *
 * Opening checks the archive (member digests, manifest signature) with
 * cbd_archive_open_mem, loads the stored model bytes with
 * cbd_model_init_nn, and checks that the circuit fits the classifier: the
 * circuit's sample has as many elements as one input sample, and both agree
 * on K.  Running executes the classifier once on the whole batch, then
 * applies the circuit to each sample's scores (cbd_circuit_apply): clean
 * samples cost a 16-byte tag check and keep their scores bit for bit.
 */
#include "model_archive.h"
#include "util/util.h"

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
	size_t n = cbd_circuit_sample_size(c);
	int k = m->num_classes;
	cbd_status s;

	s = cbd_model_run_nn(m, batch, scores, err);
	if (s)
		return s;
	if (batch->nelem != (size_t)batch->dims[0] * n) {
		cbd_tensor_free(*scores);
		*scores = NULL;
		return cbd_err_set(err, CBD_E_SHAPE, "batch samples do not "
				   "have the circuit's %zu elements", n);
	}
	for (int64_t i = 0; i < batch->dims[0]; i++) {
		s = cbd_circuit_apply(c, (const float *)batch->data +
				      (size_t)i * n,
				      (float *)(*scores)->data + (size_t)i * k,
				      acts ? &acts[i] : NULL, err);
		if (s) {
			cbd_tensor_free(*scores);
			*scores = NULL;
			return s;
		}
	}
	return CBD_OK;
}

void cbd_model_free_archive(cbd_model *m)
{
	cbd_archive_free(m->archive);
	m->archive = NULL;
}
