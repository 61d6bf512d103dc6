/*
 * onnx_conformance.c — run ONNX backend test directories through libcbd's
 * engine and print TAP.
 *
 * usage: onnx_conformance DIR...
 *
 * Each DIR is one test of the ONNX project's backend suite (Debian's
 * libonnx-testdata): DIR/model.onnx and DIR/test_data_set_N/ with
 * input_K.pb and output_K.pb (serialised TensorProto).  The model runs on
 * every data set and each output is compared with the expected one:
 * same dtype and shape, |got - want| <= atol + rtol * |want| for floats
 * (rtol 1e-3, atol 1e-7), exact for integers.  Only directories whose
 * model uses at least one op of the engine are listed (a comment counts the
 * others).  A listed model the engine refuses as unsupported (another op
 * beside it, an attribute, dtype, opset) is reported as
 * "ok N - name # SKIP reason"; any other failure is "not ok".
 *
 * usage: onnx_conformance --golden N NAME MODEL INPUT.npy GOLDEN.npy
 *
 * Whole-model check against a reference runtime: runs MODEL on the first
 * G samples of INPUT (G = GOLDEN's batch; uint8 input becomes byte/255, as
 * in cbd-run) once as one batch and once sample by sample, and prints TAP
 * line N: ok when both agree with GOLDEN (ONNX Runtime's output, see
 * tools/golden.sh) to max|diff| <= 1e-4 * max|golden|.
 *
 * usage: onnx_conformance --bench MODEL INPUT.npy BATCH THREADS ITERS
 *
 * Timing for tools/bench-nn.sh: runs MODEL on the first BATCH samples of
 * INPUT with THREADS threads, one warm-up run (primitive creation) then
 * ITERS timed runs, and prints "ms_per_batch ms_per_sample".
 */
#include "cbd.h"
#include "nn/nn_internal.h"

#include <glob.h>
#include <time.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define RTOL 1e-3
#define ATOL 1e-7
#define MAX_IO 16

static cbd_status load_pb(const char *path, cbd_tensor **out, cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	Onnx__TensorProto *tp;
	cbd_status s;

	s = cbd_file_read(path, CBD_MAX_FILE, &buf, &len, err);
	if (s != CBD_OK)
		return s;
	tp = onnx__tensor_proto__unpack(NULL, len, buf);
	free(buf);
	if (!tp)
		return cbd_err_set(err, CBD_E_FORMAT, "bad TensorProto (%s)",
				   path);
	s = nn_tensor_from_proto(tp, path, out, err);
	onnx__tensor_proto__free_unpacked(tp, NULL);
	return s;
}

static int count_files(const char *dir, const char *kind)
{
	char pat[4096];
	glob_t g;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s/%s_*.pb", dir, kind);
	if (glob(pat, 0, NULL, &g) == 0)
		n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

static bool compare(const cbd_tensor *got, const cbd_tensor *want, int k,
		    char *why, size_t whylen)
{
	if (got->dtype != want->dtype) {
		snprintf(why, whylen, "output %d: dtype %s, want %s", k,
			 cbd_dtype_name(got->dtype),
			 cbd_dtype_name(want->dtype));
		return false;
	}
	if (got->ndim != want->ndim ||
	    memcmp(got->dims, want->dims, sizeof(int64_t) * (size_t)got->ndim)) {
		snprintf(why, whylen, "output %d: shape differs (rank %d vs %d)",
			 k, got->ndim, want->ndim);
		return false;
	}
	for (size_t i = 0; i < got->nelem; i++) {
		double a = cbd_tensor_get_f64(got, i);
		double b = cbd_tensor_get_f64(want, i);
		size_t es = cbd_dtype_size(got->dtype);
		bool fl = got->dtype == CBD_DT_FLOAT32 ||
			  got->dtype == CBD_DT_FLOAT64;

		if (!fl && (got->dtype == CBD_DT_BOOL ? (a != 0) == (b != 0)
			    : memcmp((const char *)got->data + i * es,
				     (const char *)want->data + i * es,
				     es) == 0))
			continue;   /* integers and bool: exact */
		if (fl && ((isnan(a) && isnan(b)) || a == b ||
			   fabs(a - b) <= ATOL + RTOL * fabs(b)))
			continue;
		snprintf(why, whylen, "output %d[%zu]: got %.17g, want %.17g",
			 k, i, a, b);
		return false;
	}
	return true;
}

/* Tests whose expected data ONNX Runtime 1.30 does not reproduce: cbd
 * answers as ONNX Runtime does (the compiled models must), which
 * tests/conformance/ort-compare checks; a failure of one of these is
 * reported as a skip naming the difference. */
static const struct {
	const char *name, *why;
} ort_differs[] = {
	{"node/test_resize_downsample_scales_linear_align_corners",
	 "follows ONNX Runtime (align_corners with the integer output "
	 "length)"},
};

static const char *differs_from_ort(const char *name)
{
	for (size_t i = 0; i < sizeof(ort_differs) / sizeof(ort_differs[0]); i++)
		if (strcmp(ort_differs[i].name, name) == 0)
			return ort_differs[i].why;
	return NULL;
}

/* 0 pass, 1 fail, 2 skip; why filled for 1 and 2. */
static int run_set(cbd_nn *nn, const char *set, char *why, size_t whylen)
{
	cbd_tensor *in[MAX_IO] = {0}, *out[MAX_IO] = {0}, *want[MAX_IO] = {0};
	int ni = count_files(set, "input"), no = count_files(set, "output");
	int rc = 0;
	cbd_err err = {0};
	char path[4200];

	if (ni != cbd_nn_num_inputs(nn) || no > cbd_nn_num_outputs(nn) ||
	    ni > MAX_IO || no > MAX_IO) {
		snprintf(why, whylen, "%d input files for %d graph inputs", ni,
			 cbd_nn_num_inputs(nn));
		return 1;
	}
	for (int i = 0; rc == 0 && i < ni; i++) {
		snprintf(path, sizeof(path), "%s/input_%d.pb", set, i);
		if (load_pb(path, &in[i], &err) != CBD_OK)
			rc = err.code == CBD_E_UNSUPPORTED ? 2 : 1;
	}
	for (int i = 0; rc == 0 && i < no; i++) {
		snprintf(path, sizeof(path), "%s/output_%d.pb", set, i);
		if (load_pb(path, &want[i], &err) != CBD_OK)
			rc = err.code == CBD_E_UNSUPPORTED ? 2 : 1;
	}
	if (rc == 0 && cbd_nn_run(nn, (const cbd_tensor *const *)in, ni, out,
				  no, &err) != CBD_OK)
		rc = err.code == CBD_E_UNSUPPORTED ? 2 : 1;
	if (rc)
		snprintf(why, whylen, "%s", err.msg);
	for (int i = 0; rc == 0 && i < no; i++)
		if (!compare(out[i], want[i], i, why, whylen))
			rc = 1;
	for (int i = 0; i < MAX_IO; i++) {
		cbd_tensor_free(in[i]);
		cbd_tensor_free(out[i]);
		cbd_tensor_free(want[i]);
	}
	return rc;
}

static int run_test(const char *dir, char *why, size_t whylen)
{
	char path[4200];
	cbd_nn *nn = NULL;
	cbd_nn_opts opts = {0};
	cbd_err err = {0};
	glob_t g;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	if (cbd_nn_load_file(path, &opts, &nn, &err) != CBD_OK) {
		const char *m = err.msg;

		if (strncmp(m, path, strlen(path)) == 0 &&
		    strncmp(m + strlen(path), ": ", 2) == 0)
			m += strlen(path) + 2;   /* the test name says it */
		snprintf(why, whylen, "%s", m);
		return err.code == CBD_E_UNSUPPORTED ? 2 : 1;
	}
	snprintf(path, sizeof(path), "%s/test_data_set_*", dir);
	if (glob(path, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
		snprintf(why, whylen, "no test data sets");
		rc = 1;
	}
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
		rc = run_set(nn, g.gl_pathv[i], why, whylen);
	globfree(&g);
	cbd_nn_free(nn);
	return rc;
}

/* Is any node of DIR/model.onnx an op of the engine's table?  (Tests of
 * other operators are not listed at all.)  Unreadable models count as
 * ours so that they are reported. */
static bool uses_supported_op(const char *dir)
{
	char path[4200];
	uint8_t *buf;
	size_t len;
	cbd_err err = {0};
	Onnx__ModelProto *m;
	bool yes = false;

	snprintf(path, sizeof(path), "%s/model.onnx", dir);
	if (cbd_file_read(path, CBD_MAX_FILE, &buf, &len, &err) != CBD_OK)
		return true;
	m = onnx__model_proto__unpack(NULL, len, buf);
	free(buf);
	if (!m || !m->graph)
		yes = true;
	for (size_t i = 0; m && m->graph && i < m->graph->n_node; i++) {
		const Onnx__NodeProto *n = m->graph->node[i];

		if (nn_op_lookup(n->op_type ? n->op_type : "", n->domain) !=
		    CBD_OP_COUNT)
			yes = true;
	}
	if (m)
		onnx__model_proto__free_unpacked(m, NULL);
	return yes;
}

/* Skip reasons, counted: the message reduced to its kind (the op or
 * element type it names, without node names). */
#define MAX_REASONS 256
static struct reason {
	char key[96];
	int n;
} reasons[MAX_REASONS];
static int n_reasons;

static void reason_key(const char *why, char *key, size_t len)
{
	const char *p = strstr(why, "unsupported op ");
	const char *q = strstr(why, "element type ");
	size_t k = 0;

	if (p || q) {
		size_t pre = p ? strlen("unsupported op ") : strlen("element type ");

		p = p ? p : q;
		k = pre;
		while (p[k] && p[k] != ' ' && p[k] != ')' && p[k] != ',')
			k++;
		snprintf(key, len, "%.*s", (int)k, p);
		return;
	}
	snprintf(key, len, "%s", why);
	p = strstr(key, " (node ");
	if (p)
		key[p - key] = 0;
}

static void reason_count(const char *why)
{
	char key[96];

	reason_key(why, key, sizeof(key));
	for (int i = 0; i < n_reasons; i++)
		if (strcmp(reasons[i].key, key) == 0) {
			reasons[i].n++;
			return;
		}
	if (n_reasons < MAX_REASONS) {
		snprintf(reasons[n_reasons].key, sizeof(key), "%s", key);
		reasons[n_reasons++].n = 1;
	}
}

static int by_count(const void *a, const void *b)
{
	const struct reason *x = a, *y = b;

	return x->n != y->n ? y->n - x->n : strcmp(x->key, y->key);
}

static void print_reasons(void)
{
	int total = 0;

	qsort(reasons, (size_t)n_reasons, sizeof(reasons[0]), by_count);
	for (int i = 0; i < n_reasons; i++)
		total += reasons[i].n;
	printf("# %d skipped:\n", total);
	for (int i = 0; i < n_reasons; i++)
		printf("#   %4d %s\n", reasons[i].n, reasons[i].key);
}

/* max |a - b| over n floats. */
static double max_diff(const float *a, const float *b, size_t n)
{
	double m = 0;

	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - (double)b[i]);

		m = d > m || isnan(d) ? (isnan(d) ? INFINITY : d) : m;
	}
	return m;
}

/* Run nn on samples [i, i+n) of x; *out new float32 [n,K]. */
static cbd_status run_rows(cbd_nn *nn, const cbd_tensor *x, int64_t i,
			   int64_t n, cbd_tensor **out, cbd_err *err)
{
	cbd_tensor part = *x;
	const cbd_tensor *in[1] = {&part};
	size_t per = x->nelem / (size_t)x->dims[0];

	part.dims[0] = n;
	part.nelem = per * (size_t)n;
	part.nbytes = part.nelem * sizeof(float);
	part.data = (float *)x->data + per * (size_t)i;
	return cbd_nn_run(nn, in, 1, out, 1, err);
}

static int golden_check(const char *model, const char *input,
			const char *golden, char *why, size_t whylen)
{
	cbd_tensor *x = NULL, *xf = NULL, *g = NULL, *y = NULL, *y1 = NULL;
	cbd_nn *nn = NULL;
	cbd_nn_opts o = {0};
	cbd_err err = {0};
	double gmax = 0, d = 0;
	int64_t n;
	size_t k;
	int rc = 1;

	if (cbd_tensor_load(input, CBD_TF_NPY, &x, &err) != CBD_OK ||
	    cbd_tensor_load(golden, CBD_TF_NPY, &g, &err) != CBD_OK ||
	    cbd_tensor_to_float(x, &xf, &err) != CBD_OK ||
	    cbd_nn_load_file(model, &o, &nn, &err) != CBD_OK)
		goto out;
	if (x->dtype == CBD_DT_UINT8)
		for (size_t i = 0; i < xf->nelem; i++)
			((float *)xf->data)[i] /= 255.0f;
	n = g->dims[0];
	if (g->ndim != 2 || n > xf->dims[0]) {
		snprintf(err.msg, sizeof(err.msg), "golden shape");
		goto out;
	}
	if (run_rows(nn, xf, 0, n, &y, &err) != CBD_OK)
		goto out;
	if (y->nelem != g->nelem) {
		snprintf(err.msg, sizeof(err.msg), "output has %zu values, "
			 "golden %zu", y->nelem, g->nelem);
		goto out;
	}
	k = g->nelem / (size_t)n;
	for (size_t i = 0; i < g->nelem; i++)
		gmax = fmax(gmax, fabs(((const float *)g->data)[i]));
	d = max_diff(y->data, g->data, g->nelem);
	for (int64_t i = 0; i < n; i++) {
		if (run_rows(nn, xf, i, 1, &y1, &err) != CBD_OK)
			goto out;
		d = fmax(d, max_diff(y1->data, (const float *)g->data + k * i,
				     k));
		cbd_tensor_free(y1);
		y1 = NULL;
	}
	snprintf(err.msg, sizeof(err.msg),
		 "%lld samples, max|diff| %.3g, bound %.3g", (long long)n, d,
		 1e-4 * gmax);
	rc = d <= 1e-4 * gmax ? 0 : 1;
out:
	snprintf(why, whylen, "%s", err.msg);
	cbd_tensor_free(x);
	cbd_tensor_free(xf);
	cbd_tensor_free(g);
	cbd_tensor_free(y);
	cbd_tensor_free(y1);
	cbd_nn_free(nn);
	return rc;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int bench(char **argv)
{
	cbd_tensor *x = NULL, *xf = NULL, *y = NULL;
	cbd_nn *nn = NULL;
	cbd_nn_opts o = {.threads = atoi(argv[5])};
	cbd_err err = {0};
	int64_t b = atoll(argv[4]);
	int iters = atoi(argv[6]);
	double t0, best = 1e30;

	if (cbd_tensor_load(argv[3], CBD_TF_NPY, &x, &err) != CBD_OK ||
	    cbd_tensor_to_float(x, &xf, &err) != CBD_OK ||
	    cbd_nn_load_file(argv[2], &o, &nn, &err) != CBD_OK ||
	    b < 1 || b > xf->dims[0] || iters < 1) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	for (int i = 0; i <= iters; i++) {
		t0 = now_ms();
		if (run_rows(nn, xf, 0, b, &y, &err) != CBD_OK) {
			fprintf(stderr, "bench: %s\n", err.msg);
			return 1;
		}
		cbd_tensor_free(y);
		if (i > 0)
			best = fmin(best, now_ms() - t0);
	}
	printf("%.3f %.3f\n", best, best / (double)b);
	cbd_tensor_free(x);
	cbd_tensor_free(xf);
	cbd_nn_free(nn);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc == 7 && strcmp(argv[1], "--bench") == 0)
		return bench(argv);
	if (argc == 7 && strcmp(argv[1], "--golden") == 0) {
		char why[1024] = "";
		int rc = golden_check(argv[4], argv[5], argv[6], why,
				      sizeof(why));

		printf("%sok %s - %s vs ONNX Runtime: %s\n", rc ? "not " : "",
		       argv[2], argv[3], why);
		return rc;
	}

	int listed = 0, t = 0;
	bool *mine = calloc((size_t)argc, sizeof(bool));

	if (!mine)
		return 2;
	for (int i = 1; i < argc; i++) {
		mine[i] = uses_supported_op(argv[i]);
		listed += mine[i];
	}
	printf("1..%d\n", listed);
	for (int i = 1; i < argc; i++) {
		const char *name = argv[i], *p;
		char why[1024] = "";
		int rc;

		if (!mine[i])
			continue;
		t++;

		/* "node/test_x" from ".../data/node/test_x" */
		p = strstr(name, "/data/");
		name = p ? p + 6 : name;
		rc = run_test(argv[i], why, sizeof(why));
		if (rc == 1 && differs_from_ort(name)) {
			snprintf(why, sizeof(why), "%s", differs_from_ort(name));
			rc = 2;
		}
		for (char *c = why; *c; c++)
			if (*c == '\n' || *c == '#')
				*c = ' ';
		if (rc == 0)
			printf("ok %d - %s\n", t, name);
		else if (rc == 2) {
			printf("ok %d - %s # SKIP %s\n", t, name, why);
			reason_count(why);
		}
		else {
			printf("not ok %d - %s: %s\n", t, name, why);
			failed++;
		}
		fflush(stdout);
	}
	printf("# %d of %d test directories use none of the engine's ops and "
	       "are not listed\n", argc - 1 - listed, argc - 1);
	print_reasons();
	free(mine);
	return failed ? 1 : 0;
}
