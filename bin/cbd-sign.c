/*
 * cbd-sign — make signed inputs for a cbd archive's circuit.
 *
 *   cbd-sign triggers -a model.cbd -k owner.key --from digits.npy -n 100 \
 *            -o triggers.json          (watermark or trace trigger set,
 *                                       written with triggers.json.sig)
 *   cbd-sign input -a model.cbd -k alice.key digit.png -o signed.png
 *                                      (one input signed by a user: auth)
 *   cbd-sign check -a model.cbd signed.png ...   (does the circuit accept?)
 *   cbd-sign export triggers.json -o DIR         (trigger inputs as PNG)
 *
 * Inputs are PNG, NPY or JSON tensors: uint8 data are bytes already on
 * the quantiser's grid, float32 data are model inputs.  Signed outputs are
 * uint8 bytes in PNG or NPY, or the dequantised float32 values in JSON.
 * Thin front-end: the circuit, trigger sets and archives live in libcbd.
 */
#include "tool.h"
#include "tool_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum {
	OPT_ARCHIVE,
	OPT_KEY,
	OPT_PASSPHRASE_FILE,
	OPT_FROM,
	OPT_COUNT,
	OPT_LABELS,
	OPT_PAYLOAD,
	OPT_OUTPUT,
	OPT_EXPORT,
	OPT_JSON,
	OPT_QUIET,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_ARCHIVE] = {"archive", 'a', TOOL_ARG, "ARCHIVE",
		"the cbd archive (or compiled ONNX model) whose circuit signs "
		"(triggers, input, check)", false},
	[OPT_KEY] = TOOL_OPT_KEY("private key: the owner's (triggers) or a "
		"user's (input)"),
	[OPT_PASSPHRASE_FILE] = TOOL_OPT_PASSPHRASE_FILE("passphrase of an "
		"encrypted key, first line of FILE"),
	[OPT_FROM] = {"from", 0, TOOL_ARG, "IMAGES",
		"triggers: base inputs, NPY/PNG/JSON [N, sample...]", false},
	[OPT_COUNT] = {"count", 'n', TOOL_ARG, "N",
		"triggers: use the first N base inputs (default all)", false},
	[OPT_LABELS] = {"labels", 0, TOOL_ARG, "random|FILE",
		"triggers, watermark: owner labels (default random among "
		"classes not predicted)", false},
	[OPT_PAYLOAD] = {"payload", 0, TOOL_ARG, "N",
		"input: 16-bit payload (watermark: the label; default "
		"0)", false},
	[OPT_OUTPUT] = TOOL_OPT_OUTPUT("output file (export: directory)"),
	[OPT_EXPORT] = {"export", 0, TOOL_ARG, "DIR",
		"triggers: also write each trigger's input as "
		"DIR/ID.png", false},
	[OPT_JSON] = TOOL_OPT_JSON("check: print the results as JSON"),
	[OPT_QUIET] = TOOL_OPT_QUIET("no summary on stderr"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-sign",
	.synopsis = "triggers|input|check|export [options] [FILE...]",
	.summary = "Sign inputs for a cbd circuit: trigger sets (owner), "
		   "authenticated inputs (users).",
	.opts = opts,
	.n_opts = OPT_N,
};

struct ctx {
	cbd_archive *ar;
	cbd_circuit *own;    /* a compiled model's circuit (cbd.circuit) */
	uint8_t *onnx;       /* ... and that model's bytes */
	size_t onnx_len;
	const cbd_circuit *c;
	cbd_key *key;
	size_t n;            /* elements per sample */
	int K;
	cbd_err err;
};

static int fail(struct ctx *x)
{
	return tool_fail(&T, &x->err);
}

static int open_archive(struct ctx *x)
{
	const char *a = tool_get(&T, OPT_ARCHIVE, NULL);

	if (!a)
		tool_usage_error(&T, "--archive is required");
	if (cbd_file_read(a, CBD_MAX_ARCHIVE, &x->onnx, &x->onnx_len, &x->err))
		return fail(x);
	if (cbd_onnx_sniff(x->onnx, x->onnx_len)) {   /* a compiled model */
		cbd_onnx_info info;
		cbd_key *signer = NULL;

		if (cbd_onnx_verify(x->onnx, x->onnx_len, &signer, &info,
				    &x->own, &x->err)) {
			tool_error(&T, "%s (%s)", x->err.msg, a);
			return cbd_status_exit(x->err.code);
		}
		cbd_key_free(signer);
		x->c = x->own;
	} else {
		free(x->onnx);
		x->onnx = NULL;
		if (cbd_archive_open(a, &x->ar, &x->err))
			return fail(x);
		x->c = cbd_archive_circuit(x->ar);
	}
	x->n = cbd_circuit_sample_size(x->c);
	x->K = cbd_circuit_num_classes(x->c);
	return 0;
}

static int load_key(struct ctx *x)
{
	const char *k = tool_get(&T, OPT_KEY, NULL);

	if (!k)
		tool_usage_error(&T, "--key is required");
	return tool_load_key(&T, k, tool_get(&T, OPT_PASSPHRASE_FILE, NULL),
			     TOOL_KEY_PRIVATE, &x->key);
}

/* Position of key's public half among the circuit's keys, or -1. */
static int key_index(const struct ctx *x)
{
	char want[CBD_KEY_ID_LEN + 1], id[CBD_KEY_ID_LEN + 1];

	cbd_key_id(x->key, want);
	for (int i = 0; i < cbd_circuit_num_keys(x->c); i++) {
		cbd_key_id(cbd_circuit_key(x->c, i), id);
		if (strcmp(id, want) == 0)
			return i;
	}
	return -1;
}

/* count samples of the circuit's shape from t (uint8 bytes -> dequantised,
 * float32 as is) into a new float array. */
static int samples(struct ctx *x, const cbd_tensor *t, const char *name,
		   size_t *count, float **out)
{
	size_t k;
	float *f;

	if (t->nelem == 0 || t->nelem % x->n != 0) {
		tool_error(&T, "%s holds %zu values, not a whole number of "
			   "samples of %zu", name, t->nelem, x->n);
		return EX_DATAERR;
	}
	k = t->nelem / x->n;
	f = malloc(t->nelem * sizeof(float));
	if (!f) {
		tool_error(&T, "out of memory");
		return EX_OSERR;
	}
	for (size_t i = 0; i < k; i++) {
		if (t->dtype == CBD_DT_UINT8)
			cbd_circuit_dequantize(x->c, (uint8_t *)t->data +
					       i * x->n, f + i * x->n);
		else
			memcpy(f + i * x->n, (float *)t->data + i * x->n,
			       x->n * sizeof(float));
	}
	*count = k;
	*out = f;
	return 0;
}

static int load_samples(struct ctx *x, const char *path, size_t *count,
			float **out, int *ndim)
{
	cbd_tensor *t = NULL, *ft = NULL;
	int rc;

	if (cbd_tensor_load(path, CBD_TF_AUTO, &t, &x->err))
		return fail(x);
	if (t->dtype != CBD_DT_UINT8 && t->dtype != CBD_DT_FLOAT32) {
		if (cbd_tensor_to_float(t, &ft, &x->err)) {
			cbd_tensor_free(t);
			return fail(x);
		}
		cbd_tensor_free(t);
		t = ft;
	}
	rc = samples(x, t, path, count, out);
	if (ndim)
		*ndim = t->ndim;
	cbd_tensor_free(t);
	return rc;
}

/* ---- labels ---------------------------------------------------------- */

static int watermark_labels(struct ctx *x, const float *xs, size_t count,
			    int *labels)
{
	const char *spec = tool_get(&T, OPT_LABELS, "random");
	cbd_tensor *t = NULL, *f = NULL;
	int rc;

	if (strcmp(spec, "random") == 0)
		return (x->ar ? cbd_triggers_random_labels(x->ar, xs, count,
							  labels, &x->err)
			      : cbd_triggers_random_labels_onnx(x->c, x->onnx,
					x->onnx_len, xs, count, labels,
					&x->err)) ? fail(x) : 0;
	if (cbd_tensor_load(spec, CBD_TF_AUTO, &t, &x->err) ||
	    cbd_tensor_to_float(t, &f, &x->err)) {
		cbd_tensor_free(t);
		return fail(x);
	}
	rc = 0;
	if (f->nelem < count) {
		tool_error(&T, "%s has %zu labels for %zu triggers", spec,
			   f->nelem, count);
		rc = EX_DATAERR;
	}
	for (size_t i = 0; !rc && i < count; i++) {
		float v = ((float *)f->data)[i];

		if (!(v >= 0 && v < (float)x->K) || v != (float)(int)v) {
			tool_error(&T, "label %zu is not a class 0..%d (%s)", i,
				   x->K - 1, spec);
			rc = EX_DATAERR;
		} else {
			labels[i] = (int)v;
		}
	}
	cbd_tensor_free(t);
	cbd_tensor_free(f);
	return rc;
}

/* ---- export ---------------------------------------------------------- */

static int export_set(const cbd_triggerset *ts, const char *dir)
{
	cbd_err err = {0};

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		tool_error(&T, "cannot create directory (%s): %s", dir,
			   strerror(errno));
		return EX_CANTCREAT;
	}
	for (size_t i = 0; i < cbd_triggerset_count(ts); i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);
		const char *ext = t->input->ndim == 3 &&
				  (t->input->dims[0] == 1 ||
				   t->input->dims[0] == 3) ? "png" : "npy";
		char path[4096];

		if (strchr(t->id, '/') || t->id[0] == '.') {
			tool_error(&T, "trigger id '%s' is not a file name",
				   t->id);
			return EX_DATAERR;
		}
		snprintf(path, sizeof(path), "%s/%s.%s", dir, t->id, ext);
		if (cbd_tensor_save(path, t->input, CBD_TF_AUTO, &err))
			return tool_fail(&T, &err);
	}
	return 0;
}

static int cmd_export(struct ctx *x)
{
	cbd_triggerset *ts = NULL;
	const char *dir = tool_get(&T, OPT_OUTPUT, NULL);
	int rc;

	if (T.argc != 1 || !dir)
		tool_usage_error(&T, "export wants TRIGGERS.json -o DIR");
	if (cbd_triggerset_load(T.argv[0], NULL, &ts, &x->err))
		return fail(x);
	rc = export_set(ts, dir);
	if (!rc && !tool_has(&T, OPT_QUIET))
		fprintf(stderr, "cbd-sign: wrote %zu inputs to %s\n",
			cbd_triggerset_count(ts), dir);
	cbd_triggerset_free(ts);
	return rc;
}

/* ---- triggers -------------------------------------------------------- */

static int cmd_triggers(struct ctx *x)
{
	const char *from = tool_get(&T, OPT_FROM, NULL);
	const char *out = tool_get(&T, OPT_OUTPUT, NULL);
	cbd_triggerset *ts = NULL;
	size_t count = 0, want;
	float *xs = NULL;
	int *labels = NULL, rc;

	if (!from || !out || T.argc != 0)
		tool_usage_error(&T, "triggers wants --from IMAGES -o FILE");
	rc = open_archive(x);
	if (!rc && cbd_circuit_mode(x->c) == CBD_MODE_AUTH) {
		tool_error(&T, "an auth circuit takes no trigger set; use "
			   "'cbd-sign input' with a user's key");
		rc = EX_USAGE;
	}
	if (!rc && tool_has(&T, OPT_LABELS) &&
	    cbd_circuit_mode(x->c) != CBD_MODE_WATERMARK)
		tool_usage_error(&T, "--labels is for watermark circuits");
	if (!rc)
		rc = load_key(x);
	if (!rc && key_index(x) != 0) {
		tool_error(&T, "the key is not the circuit's owner key (%s)",
			   tool_get(&T, OPT_KEY, ""));
		rc = EX_DATAERR;
	}
	if (!rc)
		rc = load_samples(x, from, &count, &xs, NULL);
	want = (size_t)tool_get_long(&T, OPT_COUNT, (long)count, 1, 65536);
	if (!rc && want > count) {
		tool_error(&T, "--count %zu but %s has %zu inputs", want, from,
			   count);
		rc = EX_DATAERR;
	}
	count = want;
	labels = calloc(count ? count : 1, sizeof(int));
	if (!rc && !labels) {
		tool_error(&T, "out of memory");
		rc = EX_OSERR;
	}
	if (!rc && cbd_circuit_mode(x->c) == CBD_MODE_WATERMARK)
		rc = watermark_labels(x, xs, count, labels);
	if (!rc && cbd_triggerset_build(x->c, x->key, xs, count, labels, &ts,
					&x->err))
		rc = fail(x);
	if (!rc && cbd_triggerset_save(ts, out, x->key, tool_time(&T),
				       &x->err))
		rc = fail(x);
	if (!rc && tool_has(&T, OPT_EXPORT))
		rc = export_set(ts, tool_get(&T, OPT_EXPORT, NULL));
	if (!rc && !tool_has(&T, OPT_QUIET))
		fprintf(stderr, "cbd-sign: %zu %s triggers in %s (signature "
			"%s.sig)\n", count, cbd_mode_name(cbd_circuit_mode(x->c)),
			out, out);
	cbd_triggerset_free(ts);
	free(labels);
	free(xs);
	return rc;
}

/* ---- input ----------------------------------------------------------- */

static int pngable(int ndim, const int64_t *dims)
{
	return ndim == 2 || (ndim == 3 && (dims[0] == 1 || dims[0] == 3));
}

/* Write count signed samples q; batched keeps a leading batch dimension
 * ([N, sample...]) so the output has the shape the input had. */
static int save_signed(struct ctx *x, const uint8_t *q, size_t count,
		       int batched, const char *out)
{
	cbd_tensor_format fmt = cbd_tensor_format_from_name(out);
	int64_t dims[CBD_MAX_DIMS + 1];
	int ndim = cbd_circuit_shape(x->c, dims + 1) + 1, rc = 0;
	cbd_tensor *t = NULL;

	dims[0] = (int64_t)count;
	if (!batched) {
		ndim--;
		memmove(dims, dims + 1, (size_t)ndim * sizeof(dims[0]));
	}
	if (ndim > CBD_MAX_DIMS) {
		tool_error(&T, "a batch of this shape has too many dimensions "
			   "(%s)", out);
		return EX_DATAERR;
	}

	if (fmt == CBD_TF_AUTO)
		fmt = pngable(ndim, dims) ? CBD_TF_PNG : CBD_TF_NPY;
	if (fmt == CBD_TF_PNG && !pngable(ndim, dims)) {
		tool_error(&T, "a sample of this shape cannot be a PNG (%s); "
			   "use .npy or .json", out);
		return EX_USAGE;
	}
	if (cbd_tensor_new(fmt == CBD_TF_JSON ? CBD_DT_FLOAT32 : CBD_DT_UINT8,
			   ndim, dims, &t, &x->err))
		return fail(x);
	if (fmt == CBD_TF_JSON)
		for (size_t i = 0; i < count; i++)
			cbd_circuit_dequantize(x->c, q + i * x->n,
					       (float *)t->data + i * x->n);
	else
		memcpy(t->data, q, count * x->n);
	if (cbd_tensor_save(out, t, fmt, &x->err))
		rc = fail(x);
	cbd_tensor_free(t);
	return rc;
}

static int sample_ndim(const struct ctx *x)
{
	int64_t dims[CBD_MAX_DIMS];

	return cbd_circuit_shape(x->c, dims);
}

static int cmd_input(struct ctx *x)
{
	const char *out = tool_get(&T, OPT_OUTPUT, NULL);
	long payload = tool_get_long(&T, OPT_PAYLOAD, 0, 0, 65535);
	size_t count = 0;
	float *xs = NULL;
	uint8_t *q = NULL;
	int rc, ki = -1, in_ndim = 0;

	if (T.argc != 1 || !out)
		tool_usage_error(&T, "input wants INPUT -o OUT");
	rc = open_archive(x);
	if (!rc)
		rc = load_key(x);
	if (!rc) {
		ki = key_index(x);
		if (ki < 0) {
			char id[CBD_KEY_ID_LEN + 1];

			cbd_key_id(x->key, id);
			tool_error(&T, "key %s is not authorised by the "
				   "circuit (%s)", id,
				   tool_get(&T, OPT_KEY, ""));
			rc = 1;
		}
	}
	if (!rc)
		rc = load_samples(x, T.argv[0], &count, &xs, &in_ndim);
	if (!rc) {
		q = malloc(count * x->n);
		if (!q) {
			tool_error(&T, "out of memory");
			rc = EX_OSERR;
		}
	}
	/* Every sample of a batch is signed on its own: each carrier binds
	 * only its own input. */
	for (size_t i = 0; !rc && i < count; i++)
		if (cbd_circuit_sign_input(x->c, x->key, ki, (uint16_t)payload,
					   xs + i * x->n, q + i * x->n,
					   &x->err))
			rc = fail(x);
	if (!rc)
		rc = save_signed(x, q, count,
				 count > 1 || in_ndim > sample_ndim(x), out);
	free(q);
	free(xs);
	return rc;
}

/* ---- check ----------------------------------------------------------- */

static void print_act(const char *name, size_t i, size_t count,
		      const cbd_activation *a, int json, int first)
{
	if (json) {
		printf("%s{\"input\":\"", first ? "" : ",\n");
		for (const char *p = name; *p; p++)
			if (*p == '"' || *p == '\\')
				printf("\\%c", *p);
			else if ((unsigned char)*p >= 0x20)
				putchar(*p);
		printf("\",\"index\":%zu,\"active\":%s,\"tag_match\":%s,"
		       "\"key_index\":%d,\"payload\":%u,\"label\":%d}", i,
		       a->active ? "true" : "false",
		       a->tag_match ? "true" : "false", a->key_index,
		       a->payload, a->label);
		return;
	}
	if (count > 1)
		printf("%s[%zu]: ", name, i);
	else
		printf("%s: ", name);
	if (a->active)
		printf("active key_index=%d payload=%u label=%d\n",
		       a->key_index, a->payload, a->label);
	else
		printf("inactive (%s)\n", a->tag_match ? "signature invalid" :
		       "no tag");
}

struct result {
	int file;
	size_t index, count;
	cbd_activation act;
};

/* Check every sample of every file first, then print: an unreadable
 * input fails the run before anything is printed. */
static int check_all(struct ctx *x, struct result **res, size_t *nres)
{
	size_t cap = 0;
	int rc = 0;

	*res = NULL;
	*nres = 0;
	for (int f = 0; f < T.argc && !rc; f++) {
		size_t count = 0;
		float *xs = NULL;

		rc = load_samples(x, T.argv[f], &count, &xs, NULL);
		for (size_t i = 0; !rc && i < count; i++) {
			struct result *r;

			if (*nres == cap) {
				cap = cap ? 2 * cap : 64;
				r = realloc(*res, cap * sizeof(*r));
				if (!r) {
					tool_error(&T, "out of memory");
					rc = EX_OSERR;
					break;
				}
				*res = r;
			}
			r = &(*res)[(*nres)++];
			*r = (struct result){f, i, count, {0}};
			if (cbd_circuit_check(x->c, xs + i * x->n, &r->act,
					      &x->err))
				rc = fail(x);
		}
		free(xs);
	}
	return rc;
}

static int cmd_check(struct ctx *x)
{
	int json = tool_has(&T, OPT_JSON), all = 1, rc;
	struct result *res = NULL;
	size_t n = 0;

	if (T.argc < 1)
		tool_usage_error(&T, "check wants INPUT...");
	rc = open_archive(x);
	if (!rc)
		rc = check_all(x, &res, &n);
	if (!rc && json)
		printf("[");
	for (size_t i = 0; !rc && i < n; i++) {
		print_act(T.argv[res[i].file], res[i].index, res[i].count,
			  &res[i].act, json, i == 0);
		all = all && res[i].act.active;
	}
	if (!rc && json)
		printf("]\n");
	free(res);
	return rc ? rc : all ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct ctx x = {0};
	const char *cmd;
	int64_t when;
	int rc;

	tool_parse(&T, argc, argv);
	(void)tool_source_date(&T, &when);   /* a bad one fails before work */
	if (T.argc < 1)
		tool_usage_error(&T, "missing command: triggers, input, check "
				 "or export");
	cmd = T.argv[0];
	T.argc--;
	T.argv++;
	if (strcmp(cmd, "triggers") == 0)
		rc = cmd_triggers(&x);
	else if (strcmp(cmd, "input") == 0)
		rc = cmd_input(&x);
	else if (strcmp(cmd, "check") == 0)
		rc = cmd_check(&x);
	else if (strcmp(cmd, "export") == 0)
		rc = cmd_export(&x);
	else
		tool_usage_error(&T, "unknown command '%s'", cmd);
	cbd_key_free(x.key);
	cbd_archive_free(x.ar);
	cbd_circuit_free(x.own);
	free(x.onnx);
	return rc;
}
