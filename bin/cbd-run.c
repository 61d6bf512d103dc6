/*
 * cbd-run — run a model (bare ONNX or cbd archive) on PNG/NPY/JSON inputs.
 *
 *   cbd-run models/mnist-cnn.onnx digit.png
 *   cbd-run --json model.onnx batch.npy
 *   cbd-run --quiet --labels labels.npy model.onnx images.npy
 *       -> accuracy: 1983/2000 = 99.15%
 *
 * Each input file holds one sample (the model's sample shape, e.g.
 * [1,28,28]) or a batch [N, sample shape].  uint8 data becomes float by
 * the model's dequantiser (cbd_model_dequantize: an archive's circuit
 * quantiser, byte/255 for a bare model); float32 data is used as-is.
 * Per sample it prints the file, the sample index, the label (argmax) and
 * the scores; --json prints one JSON object per line.  With --labels
 * (uint8/int64 NPY, one label per sample of all inputs in order) it prints
 * the accuracy last.
 *
 * With --tensors DIR it runs any bare ONNX graph instead: the INPUTs are
 * the graph's inputs in order (NPY of any element type, JSON as float32),
 * passed unchanged, and output K is written to DIR/output_K.npy in the
 * type the graph gives (cbd_nn_load_file/cbd_nn_run).
 *
 * Thin front-end over cbd_model_open/cbd_model_run.  Every input is loaded
 * and checked before anything runs, and output is collected in memory and
 * written only on success, so a failure prints one error line and nothing
 * else.
 */
#include "tool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_JSON,
	OPT_THREADS,
	OPT_BATCH,
	OPT_LABELS,
	OPT_QUIET,
	OPT_TENSORS,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_JSON] = TOOL_OPT_JSON("print one JSON object per sample"),
	[OPT_THREADS] = TOOL_OPT_THREADS("worker threads (default: "
		"CBD_THREADS, else 1)"),
	[OPT_BATCH] = {"batch", 'b', TOOL_ARG, "N",
		"samples per inference (default 32)", false},
	[OPT_LABELS] = {"labels", 'l', TOOL_ARG, "FILE",
		"expected labels (uint8/int64 NPY): print the accuracy", false},
	[OPT_QUIET] = TOOL_OPT_QUIET("print no per-sample lines (only the "
		"accuracy)"),
	[OPT_TENSORS] = {"tensors", 0, TOOL_ARG, "DIR",
		"run any ONNX graph on its inputs (NPY, any type) and write "
		"DIR/output_K.npy", false},
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-run",
	.synopsis = "[options] MODEL INPUT...",
	.summary = "Run a classifier (ONNX or cbd archive) on PNG/NPY/JSON "
		   "inputs and print labels and scores.",
	.opts = opts,
	.n_opts = OPT_N,
};

struct input {
	const char *path;
	cbd_tensor *x;      /* float32 [N, sample...] */
};

/* Load path as a float32 batch matching the model's sample shape. */
static cbd_status load_input(const cbd_model *m, const char *path,
			     cbd_tensor **out, cbd_err *err)
{
	const cbd_nn_io *io = cbd_model_input(m);
	cbd_tensor *t = NULL, *f = NULL;
	int sr = io->ndim - 1;
	cbd_status s;

	*out = NULL;
	s = cbd_tensor_load(path, CBD_TF_AUTO, &t, err);
	if (s != CBD_OK)
		return s;
	if (t->dtype != CBD_DT_UINT8 && t->dtype != CBD_DT_FLOAT32) {
		s = CBD_E_FORMAT;
		snprintf(err->msg, sizeof(err->msg),
			 "input has dtype %s, want uint8 or float32 (%s)",
			 cbd_dtype_name(t->dtype), path);
		goto done;
	}
	if (t->ndim != sr && t->ndim != sr + 1)
		goto dims;
	for (int i = 0; i < sr; i++)
		if (t->dims[t->ndim - sr + i] != io->dims[1 + i])
			goto dims;
	if (t->ndim == sr + 1 && t->dims[0] < 1)
		goto dims;
	s = cbd_tensor_to_float(t, &f, err);
	if (s != CBD_OK)
		goto done;
	if (t->dtype == CBD_DT_UINT8)   /* the archive's dequantiser */
		cbd_model_dequantize(m, t->data, t->ndim == sr ? 1 :
				     (size_t)t->dims[0], f->data);
	if (t->ndim == sr) {  /* one sample: add the batch dimension */
		memmove(f->dims + 1, f->dims, sizeof(int64_t) * (size_t)sr);
		f->dims[0] = 1;
		f->ndim = sr + 1;
	}
	*out = f;
	goto done;
dims: {
	char want[256] = "";
	size_t k = 0;

	for (int i = 1; i < io->ndim && k < sizeof(want) - 24; i++)
		k += (size_t)snprintf(want + k, sizeof(want) - k, "%s%lld",
				      i > 1 ? "," : "", (long long)io->dims[i]);
	s = CBD_E_SHAPE;
	snprintf(err->msg, sizeof(err->msg),
		 "input shape does not match the model's [%s] or [N,%s] (%s)",
		 want, want, path);
}
done:
	err->code = s;
	cbd_tensor_free(t);
	return s;
}

static cbd_status load_labels(const char *path, size_t total, int64_t **lab,
			      cbd_err *err)
{
	cbd_tensor *t = NULL;
	cbd_status s;

	*lab = NULL;
	s = cbd_tensor_load(path, CBD_TF_NPY, &t, err);
	if (s != CBD_OK)
		return s;
	if ((t->dtype != CBD_DT_UINT8 && t->dtype != CBD_DT_INT64) ||
	    t->nelem != total) {
		snprintf(err->msg, sizeof(err->msg),
			 "labels must be uint8 or int64 with %zu values, got "
			 "%s with %zu (%s)", total, cbd_dtype_name(t->dtype),
			 t->nelem, path);
		cbd_tensor_free(t);
		return err->code = CBD_E_FORMAT;
	}
	*lab = malloc(total * sizeof(int64_t) + 1);
	if (!*lab) {
		cbd_tensor_free(t);
		return err->code = CBD_E_NOMEM;
	}
	for (size_t i = 0; i < total; i++)
		(*lab)[i] = t->dtype == CBD_DT_UINT8
				    ? ((const uint8_t *)t->data)[i]
				    : ((const int64_t *)t->data)[i];
	cbd_tensor_free(t);
	return CBD_OK;
}

static void print_sample(FILE *o, bool json, const char *path, int64_t idx,
			 const float *sc, int k, const cbd_activation *a,
			 bool archive)
{
	int label = cbd_argmax(sc, k);

	if (json) {
		fputs("{\"file\":", o);
		cbd_json_print_str(o, path);
		fprintf(o, ",\"index\":%lld,\"label\":%d", (long long)idx,
			label);
		if (archive)
			fprintf(o, ",\"active\":%s", a->active ? "true" : "false");
		fputs(",\"scores\":[", o);
		for (int i = 0; i < k; i++) {
			fputs(i ? "," : "", o);
			/* JSON has no NaN or infinity: strings keep it valid */
			if (isnan(sc[i]))
				fputs("\"NaN\"", o);
			else if (isinf(sc[i]))
				fputs(sc[i] > 0 ? "\"Infinity\"" : "\"-Infinity\"", o);
			else
				fprintf(o, "%.9g", sc[i]);
		}
		fputs("]}\n", o);
		return;
	}
	fprintf(o, "%s:%lld label %d%s scores", path, (long long)idx, label,
		archive && a->active ? " (active)" : "");
	for (int i = 0; i < k; i++)
		fprintf(o, " %.6g", sc[i]);
	fputc('\n', o);
}

struct run {
	cbd_model *m;
	FILE *o;
	bool json, quiet;
	long batch;
	const int64_t *labels;
	size_t seen, correct;
};

/* Run one input's samples in chunks of r->batch. */
static cbd_status run_input(struct run *r, const struct input *in,
			    cbd_err *err)
{
	const cbd_tensor *x = in->x;
	int k = cbd_model_num_classes(r->m);
	size_t per = x->nelem / (size_t)x->dims[0];
	cbd_activation *acts;
	cbd_status s = CBD_OK;

	acts = calloc((size_t)r->batch, sizeof(*acts));
	if (!acts)
		return err->code = CBD_E_NOMEM;
	for (int64_t i = 0; s == CBD_OK && i < x->dims[0]; i += r->batch) {
		int64_t n = x->dims[0] - i < r->batch ? x->dims[0] - i : r->batch;
		cbd_tensor chunk = *x, *sc = NULL;

		chunk.dims[0] = n;
		chunk.nelem = (size_t)n * per;
		chunk.nbytes = chunk.nelem * sizeof(float);
		chunk.data = (float *)x->data + (size_t)i * per;
		s = cbd_model_run(r->m, &chunk, &sc, acts, err);
		for (int64_t j = 0; s == CBD_OK && j < n; j++) {
			const float *row = (const float *)sc->data + j * k;

			if (r->labels &&
			    cbd_argmax(row, k) == r->labels[r->seen])
				r->correct++;
			r->seen++;
			if (!r->quiet)
				print_sample(r->o, r->json, in->path, i + j, row,
					     k, &acts[j],
					     cbd_model_archive(r->m) != NULL);
		}
		cbd_tensor_free(sc);
	}
	free(acts);
	return s;
}

static void print_accuracy(const struct run *r)
{
	double p = r->seen ? 100.0 * (double)r->correct / (double)r->seen : 0;

	if (r->json)
		fprintf(r->o, "{\"correct\":%zu,\"total\":%zu,"
			      "\"accuracy\":%.6f}\n", r->correct, r->seen,
			p / 100.0);
	else
		fprintf(r->o, "accuracy: %zu/%zu = %.2f%%\n", r->correct,
			r->seen, p);
}

/* Close the memory stream and write it to stdout if all went well. */
static int finish(struct run *r, char **buf, size_t *len, int rc)
{
	if (r->o)
		fclose(r->o);
	r->o = NULL;
	if (rc == 0 && *len && fwrite(*buf, 1, *len, stdout) != *len)
		rc = EX_IOERR;
	if (rc == 0 && fflush(stdout) != 0)
		rc = EX_IOERR;
	free(*buf);
	*buf = NULL;
	return rc;
}

/* --tensors: the graph on its own inputs, outputs as NPY files. */
static int run_tensors(const char *dir, const cbd_nn_opts *o)
{
	cbd_nn *nn = NULL;
	cbd_err err = {0};
	cbd_tensor **in = NULL, **out = NULL;
	int ni = T.argc - 1, no = 0, rc = 0;
	char path[4096];

	if (cbd_nn_load_file(T.argv[0], o, &nn, &err) != CBD_OK)
		return tool_fail(&T, &err);
	no = cbd_nn_num_outputs(nn);
	in = calloc((size_t)ni + 1, sizeof(*in));
	out = calloc((size_t)no + 1, sizeof(*out));
	if (!in || !out) {
		rc = EX_OSERR;
		goto out;
	}
	if (ni != cbd_nn_num_inputs(nn)) {
		err.code = CBD_E_USAGE;
		snprintf(err.msg, sizeof(err.msg), "the model has %d inputs, "
			 "%d files given (%s)", cbd_nn_num_inputs(nn), ni,
			 T.argv[0]);
		rc = tool_fail(&T, &err);
		goto out;
	}
	for (int i = 0; rc == 0 && i < ni; i++)
		if (cbd_tensor_load(T.argv[1 + i], CBD_TF_AUTO, &in[i], &err) !=
		    CBD_OK)
			rc = tool_fail(&T, &err);
	if (rc == 0 && cbd_nn_run(nn, (const cbd_tensor *const *)in, ni, out,
				  no, &err) != CBD_OK)
		rc = tool_fail(&T, &err);
	for (int k = 0; rc == 0 && k < no; k++) {
		snprintf(path, sizeof(path), "%s/output_%d.npy", dir, k);
		if (cbd_tensor_save(path, out[k], CBD_TF_NPY, &err) != CBD_OK)
			rc = tool_fail(&T, &err);
	}
out:
	for (int i = 0; in && i < ni; i++)
		cbd_tensor_free(in[i]);
	for (int k = 0; out && k < no; k++)
		cbd_tensor_free(out[k]);
	free(in);
	free(out);
	cbd_nn_free(nn);
	return rc;
}

int main(int argc, char **argv)
{
	cbd_nn_opts nopts = {0};
	cbd_err err = {0};
	struct run r = {0};
	struct input *ins;
	int64_t *labels = NULL;
	size_t total = 0, len = 0;
	char *buf = NULL;
	int rc = 0, n;

	tool_parse(&T, argc, argv);
	nopts.threads = (int)tool_get_long(&T, OPT_THREADS, 0, 1, 256);
	if (tool_has(&T, OPT_TENSORS)) {
		if (T.argc < 1)
			tool_usage_error(&T, "need a model");
		if (tool_has(&T, OPT_LABELS) || tool_has(&T, OPT_JSON))
			tool_usage_error(&T, "--tensors takes no --labels or "
					 "--json");
		return run_tensors(tool_get(&T, OPT_TENSORS, NULL), &nopts);
	}
	if (T.argc < 2)
		tool_usage_error(&T, "need a model and at least one input");
	r.batch = tool_get_long(&T, OPT_BATCH, 32, 1, 65536);
	r.json = tool_has(&T, OPT_JSON);
	r.quiet = tool_has(&T, OPT_QUIET);
	n = T.argc - 1;
	ins = calloc((size_t)n, sizeof(*ins));
	if (!ins)
		return EX_OSERR;
	if (cbd_model_open(T.argv[0], &nopts, &r.m, &err) != CBD_OK) {
		rc = tool_fail(&T, &err);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		ins[i].path = T.argv[1 + i];
		if (load_input(r.m, ins[i].path, &ins[i].x,
			       &err) != CBD_OK) {
			rc = tool_fail(&T, &err);
			goto out;
		}
		total += (size_t)ins[i].x->dims[0];
	}
	if (tool_has(&T, OPT_LABELS) &&
	    load_labels(tool_get(&T, OPT_LABELS, NULL), total, &labels, &err) !=
		    CBD_OK) {
		rc = tool_fail(&T, &err);
		goto out;
	}
	r.labels = labels;
	r.o = open_memstream(&buf, &len);
	if (!r.o) {
		rc = EX_OSERR;
		goto out;
	}
	for (int i = 0; rc == 0 && i < n; i++)
		if (run_input(&r, &ins[i], &err) != CBD_OK)
			rc = tool_fail(&T, &err);
	if (rc == 0 && labels)
		print_accuracy(&r);
	rc = finish(&r, &buf, &len, rc);
out:
	for (int i = 0; i < n; i++)
		cbd_tensor_free(ins[i].x);
	free(ins);
	free(labels);
	cbd_model_free(r.m);
	return rc;
}
