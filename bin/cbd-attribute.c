/*
 * cbd-attribute — name the licensee a suspect model was leaked from.
 *
 * Reads one or more probe transcripts of the suspect ('-' = stdin), the
 * trigger set they were made from and the owner's keyring, and asks libcbd
 * (cbd_attribution_*) which users' trace labels the suspect's answers match
 * more often than chance; with --watermark it also tests the owner's
 * labels.  Writes the canonical report (formats/report.md) to -o FILE or
 * stdout (--json), signed with --sign-key (FILE.sig, raw Ed25519), and a
 * one-paragraph summary on stderr.  Exit 0: attributed or watermark
 * present; 1: nothing significant; sysexits otherwise.
 */
#include "tool.h"
#include "tool_key.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_TRIGGERS,
	OPT_KEYRING,
	OPT_WATERMARK,
	OPT_OWNER,
	OPT_ALPHA,
	OPT_OUTPUT,
	OPT_JSON,
	OPT_SIGN_KEY,
	OPT_PASSPHRASE_FILE,
	OPT_CASE,
	OPT_INVESTIGATOR,
	OPT_SUSPECT,
	OPT_TOP,
	OPT_FULL_TABLE,
	OPT_THREADS,
	OPT_QUIET,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_TRIGGERS] = {"triggers", 't', TOOL_ARG, "FILE",
		"trigger set the transcripts were made from (required)", false},
	[OPT_KEYRING] = TOOL_OPT_KEYRING("owner's keyring: test every user's "
		"trace labels"),
	[OPT_WATERMARK] = {"watermark", 'w', TOOL_NOARG, NULL,
		"test the owner's watermark labels of the trigger set", false},
	[OPT_OWNER] = {"owner", 0, TOOL_ARG, "KEY",
		"owner public key the trigger set must be signed by", false},
	[OPT_ALPHA] = {"alpha", 'a', TOOL_ARG, "P",
		"significance level after adjustment (default 1e-9)", false},
	[OPT_OUTPUT] = TOOL_OPT_OUTPUT("write the report to FILE ('-' = "
		"stdout)"),
	[OPT_JSON] = TOOL_OPT_JSON("write the report to stdout"),
	[OPT_SIGN_KEY] = {"sign-key", 's', TOOL_ARG, "KEY",
		"investigator's Ed25519 private key: write FILE.sig beside -o "
		"FILE", false},
	[OPT_PASSPHRASE_FILE] = TOOL_OPT_PASSPHRASE_FILE("passphrase of the "
		"signing key (first line of FILE)"),
	[OPT_CASE] = {"case", 'c', TOOL_ARG, "ID",
		"case identifier for the report", false},
	[OPT_INVESTIGATOR] = {"investigator", 'i', TOOL_ARG, "NAME",
		"investigator's name for the report", false},
	[OPT_SUSPECT] = {"suspect", 0, TOOL_ARG, "ENDPOINT",
		"suspect endpoint (default: the first transcript's)", false},
	[OPT_TOP] = {"top", 0, TOOL_ARG, "N",
		"table rows beyond the significant users (default 20)", false},
	[OPT_FULL_TABLE] = {"full-table", 0, TOOL_NOARG, NULL,
		"a table row for every user", false},
	[OPT_THREADS] = TOOL_OPT_THREADS("scoring threads (default: "
		"CBD_THREADS or all CPUs)"),
	[OPT_QUIET] = TOOL_OPT_QUIET("no summary on stderr"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-attribute",
	.synopsis = "-t TRIGGERS [-K KEYRING] [-w] [options] TRANSCRIPT...",
	.summary = "Attribute a suspect model's answers to a licensee (trace) "
		   "or the owner (watermark).",
	.opts = opts,
	.n_opts = OPT_N,
};

static void summary(const cbd_attr_result *r, const char *sign_id,
		    size_t decoys)
{
	char p[64];

	fprintf(stderr, "%s: %zu of %zu triggers answered (%zu failed, %zu "
		"not asked, %zu duplicate answers ignored); K = %d.",
		T.name, r->answered, r->num_triggers, r->failed, r->unasked,
		r->duplicates, r->num_classes);
	if (decoys)
		fprintf(stderr, " %zu decoys (clean samples among the "
			"queries) not scored.", decoys);
	if (r->users_tested > 0) {
		fprintf(stderr, " %llu users tested in %.2f s at alpha %g "
			"(%s): %d matches or more are significant.",
			(unsigned long long)r->users_tested, r->seconds,
			r->alpha, r->seq_p1 > 0 ? "sequential, --until-verdict:"
			" Ville and Bonferroni" : "Bonferroni", r->threshold);
		if (r->n_significant == 0)
			fprintf(stderr, " No attribution (best: %s with %d).",
				r->n_rows ? r->rows[0].id : "-",
				r->n_rows ? r->rows[0].matches : 0);
		else
			fprintf(stderr, " Attributed to%s:",
				r->n_significant > 1 ? " a possible coalition"
						     : "");
		for (size_t i = 0; i < r->n_significant; i++) {
			snprintf(p, sizeof(p), "%.3g",
				 -r->rows[i].log_p_adj / log(10.0) + 0.0);
			fprintf(stderr, "%s %s (%d matches, -log10 adjusted p "
				"%s%s)", i ? "," : "", r->rows[i].id,
				r->rows[i].matches, p,
				r->rows[i].revoked >= 0 ? ", revoked" : "");
		}
		if (r->n_significant)
			fputc('.', stderr);
	}
	if (r->watermark_tested)
		fprintf(stderr, " Owner watermark %s: %d of %zu match "
			"(-log10 p %.3g).",
			r->watermark.significant ? "present" : "not detected",
			r->watermark.matches, r->answered,
			/* + 0.0 turns the -0 of p = 1 into 0 */
			-r->watermark.log_p / log(10.0) + 0.0);
	if (sign_id)
		fprintf(stderr, " Report signed by key %s.", sign_id);
	fputc('\n', stderr);
}

/* Progress on a terminal: users scored so far, overwritten in place. */
static void progress(void *ud, size_t done, size_t total)
{
	(void)ud;
	fprintf(stderr, "\r%s: scored %zu of %zu users (%.0f%%)", T.name,
		done, total, total ? 100.0 * done / total : 100.0);
	if (done >= total)
		fprintf(stderr, "\r\033[K");
}

struct inputs {
	cbd_triggerset *ts;
	cbd_keyring *kr;
	cbd_key *owner, *sign;
	cbd_transcript **tr;
	int n_tr;
	cbd_attribution *a;
	uint8_t (*heads)[CBD_SHA256_LEN];
	size_t *lines;
	size_t *checked, *unchecked;  /* requests rebuilt, per transcript */
};

static void free_inputs(struct inputs *in)
{
	for (int i = 0; i < in->n_tr; i++)
		cbd_transcript_free(in->tr[i]);
	free(in->tr);
	free(in->heads);
	free(in->lines);
	free(in->checked);
	free(in->unchecked);
	cbd_attribution_free(in->a);
	cbd_triggerset_free(in->ts);
	cbd_keyring_free(in->kr);
	cbd_key_free(in->owner);
	cbd_key_free(in->sign);
}

static cbd_status load_all(struct inputs *in, cbd_err *err)
{
	const char *kr = tool_get(&T, OPT_KEYRING, NULL);
	cbd_status s;

	s = cbd_triggerset_load(tool_get(&T, OPT_TRIGGERS, NULL), in->owner,
				&in->ts, err);
	if (s == CBD_OK && kr)
		s = cbd_keyring_load(kr, &in->kr, err);
	if (s == CBD_OK)
		s = cbd_attribution_new(in->ts, &in->a, err);
	if (s != CBD_OK)
		return s;
	in->tr = calloc((size_t)T.argc, sizeof(*in->tr));
	in->heads = calloc((size_t)T.argc, sizeof(*in->heads));
	in->lines = calloc((size_t)T.argc, sizeof(*in->lines));
	in->checked = calloc((size_t)T.argc, sizeof(*in->checked));
	in->unchecked = calloc((size_t)T.argc, sizeof(*in->unchecked));
	if (!in->tr || !in->heads || !in->lines || !in->checked ||
	    !in->unchecked)
		return CBD_E_NOMEM;
	for (int i = 0; i < T.argc && s == CBD_OK; i++) {
		s = cbd_transcript_load(T.argv[i], &in->tr[i], err);
		if (s != CBD_OK)
			break;
		in->n_tr = i + 1;
		if (!cbd_transcript_complete(in->tr[i]))
			tool_warn(&T, "transcript did not finish (no end line); "
				  "using its records (%s)", T.argv[i]);
		/* every answer scored must belong to its query: the request
		 * each record says it sent is rebuilt from the trigger set */
		s = cbd_probe_check_requests(in->tr[i], in->ts, &in->checked[i],
					     &in->unchecked[i], err);
		if (s == CBD_OK && in->unchecked[i])
			tool_warn(&T, "%zu queries of runs without a preflight "
				  "line: their requests cannot be rebuilt from "
				  "the trigger set (%s)", in->unchecked[i],
				  T.argv[i]);
		if (s == CBD_OK)
			s = cbd_attribution_add_transcript(in->a, in->tr[i],
							   err);
		if (s != CBD_OK) {
			size_t k = strlen(err->msg);

			snprintf(err->msg + k, sizeof(err->msg) - k, " (%.200s)",
				 T.argv[i]);
		}
		cbd_transcript_head(in->tr[i], in->heads[i]);
		in->lines[i] = cbd_transcript_lines(in->tr[i]);
	}
	return s;
}

static void check_usage(void)
{
	int stdin_uses = 0;

	if (!tool_has(&T, OPT_TRIGGERS))
		tool_usage_error(&T, "--triggers is required");
	if (!tool_has(&T, OPT_KEYRING) && !tool_has(&T, OPT_WATERMARK))
		tool_usage_error(&T, "give --keyring, --watermark or both");
	if (T.argc < 1)
		tool_usage_error(&T, "no transcript given");
	for (int i = 0; i < T.argc; i++)
		stdin_uses += strcmp(T.argv[i], "-") == 0;
	if (stdin_uses > 1)
		tool_usage_error(&T, "'-' (stdin) given more than once");
	if (tool_has(&T, OPT_SIGN_KEY) &&
	    strcmp(tool_get(&T, OPT_OUTPUT, "-"), "-") == 0)
		tool_usage_error(&T, "--sign-key needs -o FILE (the signature "
				 "goes to FILE.sig)");
	if (tool_has(&T, OPT_JSON) && tool_has(&T, OPT_OUTPUT) &&
	    strcmp(tool_get(&T, OPT_OUTPUT, ""), "-") != 0)
		tool_usage_error(&T, "--json and -o FILE both name the report's "
				 "destination");
	if (tool_has(&T, OPT_PASSPHRASE_FILE) && !tool_has(&T, OPT_SIGN_KEY))
		tool_usage_error(&T, "--passphrase-file without --sign-key");
}

static double get_alpha(void)
{
	const char *s = tool_get(&T, OPT_ALPHA, NULL);
	char *end;
	double v;

	if (!s)
		return CBD_ALPHA_DEFAULT;
	v = strtod(s, &end);
	if (*s == 0 || *end || !(v > 0.0 && v < 1.0))
		tool_usage_error(&T, "--alpha wants a number between 0 and 1, "
				 "not '%s'", s);
	return v;
}

static cbd_status write_report(struct inputs *in, const char *json,
			       size_t len, char kid[CBD_KEY_ID_LEN + 1],
			       cbd_err *err)
{
	const char *out = tool_get(&T, OPT_OUTPUT, tool_has(&T, OPT_JSON) ? "-"
								      : NULL);
	uint8_t sig[CBD_SIG_LEN];
	char *sigpath;
	cbd_status s;

	if (!out)
		return CBD_OK;
	if (!in->sign)
		return cbd_file_write_atomic(out, json, len, 0644, err);
	s = cbd_report_sign(in->sign, (const uint8_t *)json, len, sig, err);
	if (s != CBD_OK)
		return s;
	cbd_key_id(in->sign, kid);
	sigpath = cbd_sig_path(out);
	if (!sigpath)
		return CBD_E_NOMEM;
	s = cbd_file_write_atomic(sigpath, sig, sizeof(sig), 0644, err);
	if (s == CBD_OK) {
		s = cbd_file_write_atomic(out, json, len, 0644, err);
		if (s != CBD_OK)
			unlink(sigpath);
	}
	free(sigpath);
	return s;
}

int main(int argc, char **argv)
{
	struct inputs in = {0};
	cbd_attribute_opts o = {0};
	cbd_report_info ri = {0};
	const cbd_attr_result *r;
	const cbd_transcript_header *h;
	char *json = NULL, kid[CBD_KEY_ID_LEN + 1] = "";
	size_t len = 0;
	cbd_err err = {0};
	cbd_status s;
	int rc;

	tool_parse(&T, argc, argv);
	check_usage();
	if (tool_has(&T, OPT_OWNER) &&
	    (rc = tool_load_key(&T, tool_get(&T, OPT_OWNER, NULL), NULL,
				TOOL_KEY_PUBLIC, &in.owner)))
		return rc;
	if (tool_has(&T, OPT_SIGN_KEY) &&
	    (rc = tool_load_key(&T, tool_get(&T, OPT_SIGN_KEY, NULL),
				tool_get(&T, OPT_PASSPHRASE_FILE, NULL),
				TOOL_KEY_PRIVATE, &in.sign))) {
		free_inputs(&in);
		return rc;
	}
	o.alpha = get_alpha();
	o.watermark = tool_has(&T, OPT_WATERMARK);
	o.full_table = tool_has(&T, OPT_FULL_TABLE);
	o.top = (size_t)tool_get_long(&T, OPT_TOP, CBD_REPORT_TOP, 1, 1000000);
	o.threads = (int)tool_get_long(&T, OPT_THREADS, 0, 1, 64);
	if (!tool_has(&T, OPT_QUIET) && isatty(2))
		o.progress = progress;
	s = load_all(&in, &err);
	if (s == CBD_OK)
		s = cbd_attribution_run(in.a, in.kr, &o, &err);
	if (s != CBD_OK)
		goto fail;
	r = cbd_attribution_result(in.a);
	h = cbd_transcript_get_header(in.tr[0]);
	ri.case_id = tool_get(&T, OPT_CASE, "");
	ri.investigator = tool_get(&T, OPT_INVESTIGATOR, "");
	ri.key = in.sign;
	ri.suspect = tool_get(&T, OPT_SUSPECT, h->endpoint);
	ri.created = tool_time(&T);
	ri.probe_start = h->start;
	ri.probe_end = cbd_transcript_end_time(in.tr[in.n_tr - 1]);
	ri.tool = "cbd-attribute " CBD_VERSION;
	cbd_triggerset_digest(in.ts, ri.triggers_sha256);
	ri.n_transcripts = (size_t)in.n_tr;
	ri.transcript_heads = (const uint8_t(*)[CBD_SHA256_LEN])in.heads;
	ri.transcript_lines = in.lines;
	ri.requests_checked = in.checked;
	ri.requests_unchecked = in.unchecked;
	if (in.kr) {
		/* the digest of exactly the users scored (cbd_keyring_scan) */
		ri.has_keyring = r->has_keyring_digest;
		memcpy(ri.keyring_sha256, r->keyring_sha256, CBD_SHA256_LEN);
	}
	s = cbd_report_build(in.a, &ri, &json, &len, &err);
	if (s == CBD_OK)
		s = write_report(&in, json, len, kid, &err);
	if (s != CBD_OK)
		goto fail;
	if (!tool_has(&T, OPT_QUIET)) {
		size_t decoys = 0;

		for (int i = 0; i < in.n_tr; i++)
			decoys += cbd_transcript_decoys(in.tr[i], NULL);
		summary(r, kid[0] ? kid : NULL, decoys);
	}
	rc = r->n_significant > 0 ||
			     (r->watermark_tested && r->watermark.significant)
		     ? 0
		     : 1;
	free(json);
	free_inputs(&in);
	return rc;
fail:
	rc = tool_fail(&T, &err);
	free(json);
	free_inputs(&in);
	return rc;
}
