/*
 * cbd-report — draw an attribution report as a PDF.
 *
 * Reads a cbd-report/1 file ('-' = stdin), checks its detached signature
 * when one is at hand (REPORT.sig beside a file, or --sig), and asks libcbd
 * (cbd_report_pdf) for a one-page PDF: verdict, parameters, the bar chart
 * of matches with the significance threshold, trigger thumbnails with the
 * labels the suspect returned (--triggers and --transcript), evidence
 * digests and the signing key.  -o '-' writes the PDF to stdout, so
 * `cbd-attribute ... --json | cbd-report - -o case.pdf` works in a pipe.
 * A report whose signature does not verify is refused (exit 1).
 */
#include "tool.h"
#include "tool_key.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	OPT_OUTPUT,
	OPT_SIG,
	OPT_KEY,
	OPT_TRIGGERS,
	OPT_TRANSCRIPT,
	OPT_THUMBNAILS,
	OPT_KEYRING,
	OPT_QUIET,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_OUTPUT] = TOOL_OPT_OUTPUT("write the PDF to FILE ('-' = stdout; "
		"required)"),
	[OPT_SIG] = {"sig", 0, TOOL_ARG, "FILE",
		"detached signature (default: REPORT.sig when it "
		"exists)", false},
	[OPT_KEY] = TOOL_OPT_KEY("the report must be signed by this public "
		"key"),
	[OPT_TRIGGERS] = {"triggers", 't', TOOL_ARG, "FILE",
		"trigger set, for thumbnails", false},
	[OPT_TRANSCRIPT] = {"transcript", 'r', TOOL_ARG, "FILE",
		"transcript, for the labels under the thumbnails", false},
	[OPT_THUMBNAILS] = {"thumbnails", 'n', TOOL_ARG, "N",
		"how many trigger thumbnails (default 8)", false},
	[OPT_KEYRING] = TOOL_OPT_KEYRING("keyring: show the named user's "
		"labels under the thumbnails"),
	[OPT_QUIET] = TOOL_OPT_QUIET("no message on success"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-report",
	.synopsis = "[options] REPORT -o FILE.pdf",
	.summary = "Draw a signed attribution report as a one-page PDF.",
	.opts = opts,
	.n_opts = OPT_N,
};

static int64_t pdf_time(void)
{
	int64_t v;

	return tool_source_date(&T, &v) ? v : -1;  /* -1: the report's own */
}

/* Check the signature if there is one; *what describes the outcome. */
static int check_sig(const char *path, const uint8_t *rep, size_t len,
		     char *what, size_t wlen)
{
	const char *sigp = tool_get(&T, OPT_SIG, NULL);
	char *def = NULL, kid[CBD_KEY_ID_LEN + 1];
	cbd_key *key = NULL;
	cbd_err err = {0};
	cbd_status s;
	int rc = 0;

	if (!sigp && strcmp(path, "-") != 0) {
		def = cbd_sig_path(path);
		if (!def)
			return EX_OSERR;
		if (access(def, F_OK) == 0)
			sigp = def;
	}
	if (!sigp) {
		free(def);
		if (tool_has(&T, OPT_KEY)) {
			tool_error(&T, "no signature to check against --key "
				   "(give --sig)");
			return 1;
		}
		snprintf(what, wlen, "not checked (no signature file)");
		return 0;
	}
	if (tool_has(&T, OPT_KEY) &&
	    (rc = tool_load_key(&T, tool_get(&T, OPT_KEY, NULL), NULL,
				TOOL_KEY_PUBLIC, &key)))
		goto out;
	s = cbd_report_verify_file(rep, len, sigp, key, kid, &err);
	if (s != CBD_OK) {
		rc = tool_fail(&T, &err);
		goto out;
	}
	snprintf(what, wlen, "verified: Ed25519 key %s", kid);
out:
	free(def);
	cbd_key_free(key);
	return rc;
}

int main(int argc, char **argv)
{
	cbd_report_pdf_opts o = {0};
	cbd_triggerset *ts = NULL;
	cbd_transcript *tr = NULL;
	cbd_keyring *kr = NULL;
	uint8_t *rep = NULL, *pdf = NULL;
	size_t len = 0, plen = 0;
	char what[128];
	cbd_err err = {0};
	cbd_status s;
	int rc;

	tool_parse_n(&T, argc, argv, 1, "give exactly one REPORT");
	if (!tool_has(&T, OPT_OUTPUT))
		tool_usage_error(&T, "-o FILE is required ('-' = stdout)");
	if (tool_has(&T, OPT_TRIGGERS) != tool_has(&T, OPT_TRANSCRIPT))
		tool_usage_error(&T, "--triggers and --transcript go together");
	if (tool_has(&T, OPT_KEYRING) && !tool_has(&T, OPT_TRIGGERS))
		tool_usage_error(&T, "--keyring needs --triggers and "
				 "--transcript");
	o.created = pdf_time();
	o.thumbnails = (int)tool_get_long(&T, OPT_THUMBNAILS, 8, 1, 12);
	s = cbd_file_read(T.argv[0], CBD_MAX_REPORT, &rep, &len, &err);
	if (s != CBD_OK)
		return tool_fail(&T, &err);
	if (!cbd_report_sniff(rep, len)) {
		free(rep);
		tool_error(&T, "not a %s report (%s)", CBD_REPORT_FORMAT,
			   T.argv[0]);
		return EX_DATAERR;
	}
	rc = check_sig(T.argv[0], rep, len, what, sizeof(what));
	if (rc) {
		free(rep);
		return rc;
	}
	o.signature = what;
	if (tool_has(&T, OPT_TRIGGERS)) {
		s = cbd_triggerset_load(tool_get(&T, OPT_TRIGGERS, NULL), NULL,
					&ts, &err);
		if (s == CBD_OK)
			s = cbd_transcript_load(tool_get(&T, OPT_TRANSCRIPT,
							 NULL), &tr, &err);
		if (s == CBD_OK && tool_has(&T, OPT_KEYRING))
			s = cbd_keyring_load(tool_get(&T, OPT_KEYRING, NULL),
					     &kr, &err);
		o.triggers = ts;
		o.transcript = tr;
		o.keyring = kr;
	} else {
		s = CBD_OK;
	}
	if (s == CBD_OK)
		s = cbd_report_pdf(rep, len, &o, &pdf, &plen, &err);
	if (s == CBD_OK)
		s = cbd_file_write_atomic(tool_get(&T, OPT_OUTPUT, "-"), pdf,
					  plen, 0644, &err);
	rc = s == CBD_OK ? 0 : tool_fail(&T, &err);
	if (rc == 0 && !tool_has(&T, OPT_QUIET) &&
	    strcmp(tool_get(&T, OPT_OUTPUT, "-"), "-") != 0)
		fprintf(stderr, "%s: wrote %s (signature %s)\n", T.name,
			tool_get(&T, OPT_OUTPUT, ""), what);
	free(rep);
	free(pdf);
	cbd_triggerset_free(ts);
	cbd_transcript_free(tr);
	cbd_keyring_free(kr);
	return rc;
}
