/*
 * model_archive.c — the archive path of cbd_model_open()/cbd_model_run().
 *
 * STUB: archives are not supported yet.  The real implementation (owned by
 * the circuit/archive module) opens the archive with cbd_archive_open_mem,
 * loads its model bytes with cbd_model_init_nn, and in
 * cbd_model_run_archive applies cbd_circuit_apply to every sample's scores.
 * See model_archive.h for the contract.
 */
#include "model_archive.h"
#include "util/util.h"

cbd_status cbd_model_open_archive(const char *path, const uint8_t *buf,
				  size_t len, const cbd_nn_opts *opts,
				  cbd_model *m, cbd_err *err)
{
	(void)buf;
	(void)len;
	(void)opts;
	(void)m;
	return cbd_err_set(err, CBD_E_UNSUPPORTED,
			   "archives not supported yet (%s)", path);
}

cbd_status cbd_model_run_archive(cbd_model *m, const cbd_tensor *batch,
				 cbd_tensor **scores, cbd_activation *acts,
				 cbd_err *err)
{
	(void)m;
	(void)batch;
	(void)acts;
	*scores = NULL;
	return cbd_err_set(err, CBD_E_UNSUPPORTED, "archives not supported yet");
}

void cbd_model_free_archive(cbd_model *m)
{
	(void)m;
}
