/*
 * cbd-probe — send a trigger set to a suspect endpoint and record every
 * answer in a hash-chained transcript (cbd-transcript(5)).
 *
 * Thin front-end: options -> cbd_probe_opts -> cbd_probe_run() (or
 * cbd_probe_run_samples() for --samples NPY).  The progress bar on stderr
 * is drawn from the library's progress callback when stderr is a terminal.
 */
#include "tool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_OUTPUT,
	OPT_BACKEND,
	OPT_MODEL,
	OPT_MODEL_VERSION,
	OPT_INPUT_NAME,
	OPT_OUTPUT_NAME,
	OPT_DATATYPE,
	OPT_BINARY,
	OPT_SAMPLES,
	OPT_OWNER_KEY,
	OPT_CLASSES,
	OPT_HEADER,
	OPT_CACERT,
	OPT_INSECURE,
	OPT_FOLLOW_REDIRECTS,
	OPT_CONNECT_TIMEOUT,
	OPT_TIMEOUT,
	OPT_CONCURRENCY,
	OPT_RATE,
	OPT_RETRIES,
	OPT_BACKOFF,
	OPT_MAX_BACKOFF,
	OPT_MAX_FAILURES,
	OPT_DECOYS,
	OPT_DECOY_RATIO,
	OPT_PACE,
	OPT_UNTIL_VERDICT,
	OPT_ALPHA,
	OPT_P1,
	OPT_BETA,
	OPT_DRY_RUN,
	OPT_RESUME,
	OPT_FORCE,
	OPT_JSON,
	OPT_QUIET,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_OUTPUT] = TOOL_OPT_OUTPUT("transcript to write ('-' = stdout)"),
	[OPT_BACKEND] = {"backend", 'b', TOOL_ARG, "NAME",
		"oip, tfserving, exec or archive (oip)", false},
	[OPT_MODEL] = {"model", 'm', TOOL_ARG, "NAME",
		"model name in the endpoint's URLs", false},
	[OPT_MODEL_VERSION] = {"model-version", 0, TOOL_ARG, "V",
		"model version in the URLs", false},
	[OPT_INPUT_NAME] = {"input-name", 0, TOOL_ARG, "NAME",
		"input tensor (the model's only input)", false},
	[OPT_OUTPUT_NAME] = {"output-name", 0, TOOL_ARG, "NAME",
		"output tensor to read (the one with K scores, else a "
		"label)", false},
	[OPT_DATATYPE] = {"datatype", 0, TOOL_ARG, "TYPE",
		"FP32 (x = q/255) or UINT8 (FP32)", false},
	[OPT_BINARY] = {"binary", 0, TOOL_NOARG, NULL,
		"oip: Triton's binary tensor data for the input and the "
		"output", false},
	[OPT_SAMPLES] = {"samples", 0, TOOL_ARG, "NPY",
		"send plain uint8 samples [N,...] instead of a trigger "
		"set", false},
	[OPT_OWNER_KEY] = {"owner-key", 0, TOOL_ARG, "KEY",
		"check the trigger set's signature against this key", false},
	[OPT_CLASSES] = {"classes", 0, TOOL_ARG, "K",
		"number of classes, if not known", false},
	[OPT_HEADER] = {"header", 'H', TOOL_ARG, "LINE",
		"extra HTTP header 'Name: value'", true},
	[OPT_CACERT] = {"cacert", 0, TOOL_ARG, "FILE",
		"CA certificates to verify TLS with", false},
	[OPT_INSECURE] = {"insecure", 0, TOOL_NOARG, NULL,
		"do not verify TLS certificates", false},
	[OPT_FOLLOW_REDIRECTS] = {"follow-redirects", 0, TOOL_NOARG, NULL,
		"follow redirects to the same scheme, host and port", false},
	[OPT_CONNECT_TIMEOUT] = {"connect-timeout", 0, TOOL_ARG, "SECONDS",
		"connect timeout (10)", false},
	[OPT_TIMEOUT] = {"timeout", 0, TOOL_ARG, "SECONDS",
		"timeout per attempt (30)", false},
	[OPT_CONCURRENCY] = {"concurrency", 'c', TOOL_ARG, "N",
		"requests in flight (1)", false},
	[OPT_RATE] = {"rate", 'r', TOOL_ARG, "Q",
		"at most Q requests per second", false},
	[OPT_RETRIES] = {"retries", 0, TOOL_ARG, "N",
		"retries after a failure (3)", false},
	[OPT_BACKOFF] = {"backoff", 0, TOOL_ARG, "MS",
		"first retry delay (200)", false},
	[OPT_MAX_BACKOFF] = {"max-backoff", 0, TOOL_ARG, "MS",
		"largest retry delay (10000)", false},
	[OPT_MAX_FAILURES] = {"max-failures", 0, TOOL_ARG, "N",
		"stop after N consecutive failures of one kind (3; 0 = "
		"never)", false},
	[OPT_DECOYS] = {"decoys", 0, TOOL_ARG, "NPY",
		"clean uint8 samples [M,...] to send among the "
		"triggers", false},
	[OPT_DECOY_RATIO] = {"decoy-ratio", 0, TOOL_ARG, "R",
		"decoys per trigger, in a random order (1)", false},
	[OPT_PACE] = {"pace", 0, TOOL_ARG, "MS[:JITTER]",
		"at least MS (+ up to JITTER) ms between two queries", false},
	[OPT_UNTIL_VERDICT] = {"until-verdict", 0, TOOL_ARG, "KEYRING",
		"triggers in a random order, stop once the verdict is "
		"settled", false},
	[OPT_ALPHA] = {"alpha", 0, TOOL_ARG, "P",
		"--until-verdict: false-accusation bound (1e-9)", false},
	[OPT_P1] = {"p1", 0, TOOL_ARG, "P",
		"--until-verdict: match rate of a user's copy (0.8)", false},
	[OPT_BETA] = {"beta", 0, TOOL_ARG, "B",
		"--until-verdict: chance of clearing such a copy (1e-6)",
		false},
	[OPT_DRY_RUN] = {"dry-run", 'n', TOOL_NOARG, NULL,
		"preflight and decoy only: no trigger sent, no "
		"transcript", false},
	[OPT_RESUME] = {"resume", 0, TOOL_NOARG, NULL,
		"continue an interrupted transcript", false},
	[OPT_FORCE] = {"force", 'f', TOOL_NOARG, NULL,
		"overwrite an existing transcript", false},
	[OPT_JSON] = TOOL_OPT_JSON("print the summary as JSON on stdout"),
	[OPT_QUIET] = TOOL_OPT_QUIET("no progress or summary on stderr"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static void bar(void *ud, const cbd_probe_progress *p)
{
	double rate = p->elapsed_s > 0 ? (double)p->done / p->elapsed_s : 0;
	double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;

	(void)ud;
	fprintf(stderr, "\rcbd-probe: %zu/%zu  %.1f q/s  ETA %.0fs  errors %zu"
		"  retries %zu ", p->done, p->total, rate, eta, p->errors,
		p->retries);
	if (p->done == p->total)
		fputc('\n', stderr);
}

/* A JSON string on stdout (names from a model's metadata are untrusted). */
static void json_puts(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static double get_seconds(struct tool *t, int opt, double def)
{
	const char *s = tool_get(t, opt, NULL);
	char *end;
	double v;

	if (!s)
		return def;
	v = strtod(s, &end);
	if (*s == 0 || *end || !(v > 0) || v > 86400)
		tool_usage_error(t, "--%s wants seconds > 0, not '%s'",
				 t->opts[opt].name, s);
	return v;
}

static cbd_probe_backend parse_backend(struct tool *t)
{
	const char *b = tool_get(t, OPT_BACKEND, "oip");

	if (strcmp(b, "oip") == 0)
		return CBD_PROBE_OIP;
	if (strcmp(b, "tfserving") == 0)
		return CBD_PROBE_TFSERVING;
	if (strcmp(b, "exec") == 0)
		return CBD_PROBE_EXEC;
	if (strcmp(b, "archive") == 0)
		return CBD_PROBE_ARCHIVE;
	tool_usage_error(t, "unknown backend '%s' (oip, tfserving, exec, "
			 "archive)", b);
}

/* --decoys, --decoy-ratio, --pace (the decoy tensor is loaded in run). */
static void fill_decoy_opts(struct tool *t, cbd_probe_opts *o)
{
	const char *ratio = tool_get(t, OPT_DECOY_RATIO, NULL);
	const char *pace = tool_get(t, OPT_PACE, NULL);
	char *end;

	if (ratio && !tool_has(t, OPT_DECOYS))
		tool_usage_error(t, "--decoy-ratio needs --decoys");
	o->decoy_ratio = 1;
	if (ratio) {
		o->decoy_ratio = strtod(ratio, &end);
		if (*end || !(o->decoy_ratio > 0) || o->decoy_ratio > 100)
			tool_usage_error(t, "--decoy-ratio wants a number in "
					 "(0, 100], not '%s'", ratio);
	}
	if (pace) {
		long ms = strtol(pace, &end, 10), jit = 0;

		if (end != pace && *end == ':' && end[1])
			jit = strtol(end + 1, &end, 10);
		if (end == pace || *end || ms < 0 || jit < 0 ||
		    ms > 3600000 || jit > 3600000)
			tool_usage_error(t, "--pace wants MS or MS:JITTER "
					 "(milliseconds), not '%s'", pace);
		o->pace_ms = ms;
		o->pace_jitter_ms = jit;
	}
}

/* A probability option of --until-verdict: def if absent, else a number
 * strictly between 0 and 1 (the sequential rule checks p1 > 1/K once K
 * is known). */
static double verdict_prob(struct tool *t, int opt, double def)
{
	const char *a = tool_get(t, opt, NULL);
	char *end;
	double v;

	if (!a)
		return def;
	if (!tool_has(t, OPT_UNTIL_VERDICT))
		tool_usage_error(t, "--%s needs --until-verdict",
				 t->opts[opt].name);
	v = strtod(a, &end);
	if (end == a || *end || !(v > 0) || !(v < 1))
		tool_usage_error(t, "--%s wants a number in (0, 1), not '%s'",
				 t->opts[opt].name, a);
	return v;
}

/* --until-verdict KEYRING, --alpha, --p1, --beta (the keyring is loaded
 * in run_one). */
static void fill_verdict_opts(struct tool *t, cbd_probe_opts *o)
{
	double alpha = verdict_prob(t, OPT_ALPHA, CBD_ALPHA_DEFAULT);
	double p1 = verdict_prob(t, OPT_P1, CBD_SEQ_P1_DEFAULT);
	double beta = verdict_prob(t, OPT_BETA, CBD_SEQ_BETA_DEFAULT);

	if (!tool_has(t, OPT_UNTIL_VERDICT))
		return;
	if (tool_has(t, OPT_SAMPLES))
		tool_usage_error(t, "--until-verdict needs a trigger set (it "
				 "knows each user's labels), not --samples");
	o->seq_p1 = p1;
	o->seq_beta = beta;
	o->seq_alpha = alpha;
}

static void fill_opts(struct tool *t, cbd_probe_opts *o)
{
	const char *dt = tool_get(t, OPT_DATATYPE, "FP32");
	const char *const *hv;
	const char *rate = tool_get(t, OPT_RATE, NULL);

	o->backend = parse_backend(t);
	o->endpoint = t->argv[0];
	o->model_name = tool_get(t, OPT_MODEL, NULL);
	o->model_version = tool_get(t, OPT_MODEL_VERSION, NULL);
	o->input_name = tool_get(t, OPT_INPUT_NAME, NULL);
	o->output_name = tool_get(t, OPT_OUTPUT_NAME, NULL);
	if (strcmp(dt, "UINT8") == 0)
		o->send_uint8 = 1;
	else if (strcmp(dt, "FP32") != 0)
		tool_usage_error(t, "--datatype is FP32 or UINT8, not '%s'", dt);
	o->binary = tool_has(t, OPT_BINARY);
	if (o->binary && o->backend != CBD_PROBE_OIP)
		tool_usage_error(t, "--binary is for the oip backend (Triton's "
				 "binary tensor data extension)");
	o->n_headers = tool_get_all(t, OPT_HEADER, &hv);
	o->headers = hv;
	for (int i = 0; i < o->n_headers; i++)
		if (!strchr(hv[i], ':') || strpbrk(hv[i], "\r\n"))
			tool_usage_error(t, "--header wants 'Name: value'");
	o->cacert = tool_get(t, OPT_CACERT, NULL);
	o->insecure = tool_has(t, OPT_INSECURE);
	if (o->insecure && o->cacert)
		tool_usage_error(t, "--insecure and --cacert conflict");
	o->follow_redirects = tool_has(t, OPT_FOLLOW_REDIRECTS);
	o->connect_timeout_ms =
		lround(get_seconds(t, OPT_CONNECT_TIMEOUT, 10) * 1e3);
	o->timeout_ms = lround(get_seconds(t, OPT_TIMEOUT, 30) * 1e3);
	o->concurrency = (int)tool_get_long(t, OPT_CONCURRENCY, 1, 1, 256);
	if (rate) {
		char *end;

		o->rate = strtod(rate, &end);
		if (*end || !(o->rate > 0) || o->rate > 1e6)
			tool_usage_error(t, "--rate wants a number > 0, not "
					 "'%s'", rate);
	}
	o->retries = (int)tool_get_long(t, OPT_RETRIES, 3, 0, 100);
	o->backoff_ms = tool_get_long(t, OPT_BACKOFF, 200, 1, 3600000);
	o->max_backoff_ms = tool_get_long(t, OPT_MAX_BACKOFF, 10000, 1,
					  3600000);
	o->resume = tool_has(t, OPT_RESUME);
	o->overwrite = tool_has(t, OPT_FORCE);
	if (o->resume && o->overwrite)
		tool_usage_error(t, "--resume and --force conflict");
	o->num_classes = (int)tool_get_long(t, OPT_CLASSES, 0, 2, 65535);
	o->max_failures = (int)tool_get_long(t, OPT_MAX_FAILURES, 3, 0,
					     1000000);
	if (o->max_failures == 0)
		o->max_failures = -1;
	fill_decoy_opts(t, o);
	fill_verdict_opts(t, o);
	o->dry_run = tool_has(t, OPT_DRY_RUN);
	if (o->dry_run && (o->resume || o->overwrite))
		tool_usage_error(t, "--dry-run writes no transcript: not with "
				 "--resume or --force");
	o->tool = "cbd-probe " CBD_VERSION;
	if (!tool_has(t, OPT_QUIET) && isatty(2))
		o->progress = bar;
}

/* An NPY file and the SHA-256 of its bytes. */
static cbd_status load_npy(const char *path, cbd_tensor **x,
			   uint8_t digest[CBD_SHA256_LEN], cbd_err *e)
{
	uint8_t *buf;
	size_t len;
	cbd_status s = cbd_file_read(path, CBD_MAX_FILE, &buf, &len, e);

	if (s)
		return s;
	s = cbd_sha256(buf, len, digest, e);
	if (!s)
		s = cbd_tensor_parse(buf, len, CBD_TF_NPY, path, x, e);
	free(buf);
	return s;
}

static cbd_status run_one(struct tool *t, const cbd_probe_opts *o,
			  const char *out, cbd_probe_summary *sum,
			  cbd_err *e);

static cbd_status run(struct tool *t, const cbd_probe_opts *o,
		      const char *out, cbd_probe_summary *sum, cbd_err *e)
{
	const char *path = tool_get(t, OPT_DECOYS, NULL);
	cbd_probe_opts oo = *o;
	uint8_t digest[CBD_SHA256_LEN];
	cbd_tensor *d = NULL;
	cbd_status s;

	if (!path)
		return run_one(t, o, out, sum, e);
	s = load_npy(path, &d, digest, e);
	oo.decoys = d;
	oo.decoys_digest = digest;
	if (!s)
		s = run_one(t, &oo, out, sum, e);
	cbd_tensor_free(d);
	return s;
}

/* What the sequential test said, for the summary (--until-verdict). */
static struct {
	int on;
	size_t accused, cleared, answered;
} verdict;

static int verdict_cb(void *ud, size_t index, int label)
{
	return cbd_attr_seq_answer(ud, index, label);
}

/* --resume --until-verdict: the answers already in the transcript count
 * (up to its last LF, as --resume keeps it; a missing file is a fresh
 * start; cbd_probe_run checks the rest). */
static cbd_status feed_recorded(cbd_attr_seq *q, const char *out,
				cbd_err *e)
{
	cbd_transcript *tr = NULL;
	uint8_t *buf;
	size_t len;
	cbd_status s;

	if (access(out, F_OK) != 0)
		return CBD_OK;
	s = cbd_file_read(out, CBD_MAX_TRANSCRIPT, &buf, &len, e);
	if (s)
		return s;
	while (len > 0 && buf[len - 1] != '\n')
		len--;
	s = len ? cbd_transcript_parse(buf, len, out, &tr, e) : CBD_OK;
	free(buf);
	for (size_t i = 0; !s && tr && i < cbd_transcript_count(tr); i++) {
		const cbd_transcript_record *r = cbd_transcript_record_at(tr, i);

		cbd_attr_seq_answer(q, r->index, r->error ? -1 : r->label);
	}
	cbd_transcript_free(tr);
	return s;
}

static cbd_status run_triggers(struct tool *t, const cbd_triggerset *ts,
			       const cbd_probe_opts *o, const char *out,
			       cbd_probe_summary *sum, cbd_err *e)
{
	const char *kp = tool_get(t, OPT_UNTIL_VERDICT, NULL);
	cbd_probe_opts oo = *o;
	cbd_keyring *kr = NULL;
	cbd_attr_seq *q = NULL;
	cbd_status s;

	if (!kp)
		return cbd_probe_run(ts, o, out, sum, e);
	s = cbd_keyring_load(kp, &kr, e);
	if (!s)
		s = cbd_attr_seq_new(ts, kr, o->seq_p1, o->seq_alpha,
				     o->seq_beta, &q, e);
	if (!s && o->resume)
		s = feed_recorded(q, out, e);
	if (!s) {
		oo.verdict = verdict_cb;
		oo.verdict_ud = q;
		s = cbd_probe_run(ts, &oo, out, sum, e);
		verdict.on = 1;
		cbd_attr_seq_counts(q, &verdict.accused, &verdict.cleared,
				    &verdict.answered);
	}
	cbd_attr_seq_free(q);
	cbd_keyring_free(kr);
	return s;
}

static cbd_status run_one(struct tool *t, const cbd_probe_opts *o,
			  const char *out, cbd_probe_summary *sum,
			  cbd_err *e)
{
	const char *samples = tool_get(t, OPT_SAMPLES, NULL);
	cbd_status s;

	if (samples) {
		uint8_t *buf, digest[CBD_SHA256_LEN];
		size_t len;
		cbd_tensor *x = NULL;

		s = cbd_file_read(samples, CBD_MAX_FILE, &buf, &len, e);
		if (s)
			return s;
		s = cbd_sha256(buf, len, digest, e);
		if (!s)
			s = cbd_tensor_parse(buf, len, CBD_TF_NPY, samples, &x,
					     e);
		free(buf);
		if (!s)
			s = cbd_probe_run_samples(x, digest, o, out, sum, e);
		cbd_tensor_free(x);
	} else {
		cbd_key *owner = NULL;
		cbd_triggerset *ts = NULL;
		const char *kp = tool_get(t, OPT_OWNER_KEY, NULL);

		s = kp ? cbd_key_load(kp, NULL, &owner, e) : CBD_OK;
		if (!s)
			s = cbd_triggerset_load(t->argv[1], owner, &ts, e);
		if (!s)
			s = run_triggers(t, ts, o, out, sum, e);
		cbd_triggerset_free(ts);
		cbd_key_free(owner);
	}
	return s;
}

int main(int argc, char **argv)
{
	struct tool t = {.name = "cbd-probe",
			 .synopsis = "[options] -o TRANSCRIPT ENDPOINT "
				     "TRIGGERS",
			 .summary = "Send a trigger set to an endpoint and "
				    "record the answers in a transcript.",
			 .opts = opts,
			 .n_opts = OPT_N};
	cbd_probe_opts o = {0};
	cbd_probe_summary sum = {0};
	cbd_err e = {0};
	const char *out;

	tool_parse(&t, argc, argv);
	if (t.argc != (tool_has(&t, OPT_SAMPLES) ? 1 : 2))
		tool_usage_error(&t, tool_has(&t, OPT_SAMPLES)
					     ? "want ENDPOINT (with --samples)"
					     : "want ENDPOINT and TRIGGERS");
	out = tool_get(&t, OPT_OUTPUT, NULL);
	if (!out && !tool_has(&t, OPT_DRY_RUN))
		tool_usage_error(&t, "-o TRANSCRIPT is required");
	if (!out)
		out = "-";
	if (tool_has(&t, OPT_JSON) && strcmp(out, "-") == 0 &&
	    !tool_has(&t, OPT_DRY_RUN))
		tool_usage_error(&t, "--json and -o - both use stdout");
	fill_opts(&t, &o);
	if ((o.backend == CBD_PROBE_OIP || o.backend == CBD_PROBE_TFSERVING) &&
	    !o.model_name)
		tool_usage_error(&t, "--model NAME is required for the %s "
				 "backend", tool_get(&t, OPT_BACKEND, "oip"));
	if (run(&t, &o, out, &sum, &e))
		return tool_fail(&t, &e);
	if (o.dry_run) {
		if (tool_has(&t, OPT_JSON)) {
			printf("{\"preflight\":");
			json_puts(sum.preflight);
			printf(",\"sent\":0,\"total\":%zu}\n", sum.total);
		} else {
			printf("preflight passed: %s\n", sum.preflight[0]
			       ? sum.preflight : "nothing to check (archive)");
			printf("dry run: none of the %zu queries sent\n",
			       sum.total);
		}
		return 0;
	}
	if (tool_has(&t, OPT_JSON))
		printf("{\"total\":%zu,\"answered\":%zu,\"failed\":%zu,"
		       "\"skipped\":%zu,\"retries\":%zu,\"decoys\":%zu,"
		       "\"settled\":%s,\"secret\":%zu,\"seconds\":%.3f}\n",
		       sum.total, sum.answered, sum.failed, sum.skipped,
		       sum.retries, sum.decoys, sum.settled ? "true" : "false",
		       sum.secret, sum.elapsed_s);
	if (!tool_has(&t, OPT_QUIET) && sum.preflight[0])
		fprintf(stderr, "cbd-probe: preflight passed: %s\n",
			sum.preflight);
	if (!tool_has(&t, OPT_QUIET))
		fprintf(stderr, "cbd-probe: %zu queries: %zu answered, %zu "
			"failed, %zu retries, %zu already recorded, %.1fs\n",
			sum.total, sum.answered, sum.failed, sum.retries,
			sum.skipped, sum.elapsed_s);
	if (!tool_has(&t, OPT_QUIET) && verdict.on)
		fprintf(stderr, "cbd-probe: %s after %zu answered triggers "
			"(%zu users accused, %zu cleared): %zu of %zu "
			"triggers spent, %zu kept secret\n",
			sum.settled ? "verdict settled" : "verdict not settled",
			verdict.answered, verdict.accused, verdict.cleared,
			sum.total - sum.secret, sum.total, sum.secret);
	if (!tool_has(&t, OPT_QUIET) && sum.decoys)
		fprintf(stderr, "cbd-probe: %zu decoys among them (%zu "
			"answered), recorded apart, never scored\n",
			sum.decoys, sum.decoys_answered);
	return 0;
}
