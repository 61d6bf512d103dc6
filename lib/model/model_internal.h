/*
 * model_internal.h — the seam between lib/model/model.c (bare ONNX models)
 * and the archive path (lib/model/archive.c), internal to libcbd.
 *
 * cbd_model_open() reads the file; gzip data (magic 1f 8b) goes to
 * cbd_model_open_archive(), anything else is loaded as ONNX.  The archive
 * path fills the same struct cbd_model: it loads the classifier with
 * cbd_model_init_nn() on the archive's model bytes, keeps its own state in
 * m->archive / m->priv, and cbd_model_run() hands archives to
 * cbd_model_run_archive(), which can call cbd_model_run_nn() for the bare
 * scores and then apply the circuit per sample.  cbd_model_free() calls
 * cbd_model_free_archive() when m->archive or m->priv is set.
 */
#ifndef CBD_MODEL_INTERNAL_H
#define CBD_MODEL_INTERNAL_H

#include "cbd.h"

struct cbd_model {
	char *name;               /* owned */
	cbd_nn *nn;               /* the classifier, owned */
	cbd_nn_io input;          /* copy of the nn's input (name borrowed) */
	cbd_nn_io output;         /* copy of the nn's first output, [N,K] */
	int num_classes;          /* last dimension of the output */
	cbd_archive *archive;     /* archives only, owned */
	void *priv;               /* archive path's extra state, owned */
};

/* model.c: load the classifier from ONNX bytes into m->nn and set
 * m->input, m->output and m->num_classes (one float32 input with a dynamic batch,
 * one float32 output [N,K]).  name labels errors. */
cbd_status cbd_model_init_nn(cbd_model *m, const uint8_t *onnx, size_t len,
			     const char *name, const cbd_nn_opts *opts,
			     cbd_err *err);
/* model.c: the classifier's scores [N,K] for batch (no circuit). */
cbd_status cbd_model_run_nn(cbd_model *m, const cbd_tensor *batch,
			    cbd_tensor **scores, cbd_err *err);

/* archive.c: fill the zeroed *m from an archive file (buf/len are
 * its bytes, borrowed).  Must set name, nn (via cbd_model_init_nn),
 * input, num_classes and archive. */
cbd_status cbd_model_open_archive(const char *path, const uint8_t *buf,
				  size_t len, const cbd_nn_opts *opts,
				  cbd_model *m, cbd_err *err);
/* archive.c: scores with the circuit applied; acts may be NULL. */
cbd_status cbd_model_run_archive(cbd_model *m, const cbd_tensor *batch,
				 cbd_tensor **scores, cbd_activation *acts,
				 cbd_err *err);
/* archive.c: release m->archive and m->priv. */
void cbd_model_free_archive(cbd_model *m);

#endif
