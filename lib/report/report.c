/*
 * report.c — the attribution report as canonical JSON, and its signature.
 *
 * formats/report.md is the normative description.  The bytes are produced
 * by hand (not by a JSON library's printer) so that they are canonical: keys
 * in a fixed order, two-space indentation, one user per line, integers in
 * decimal, p-values as "%.6f" mantissa and decimal exponent computed from
 * the logarithm (so 1e-400 prints as 1.000000e-400 instead of 0), -log10 p
 * with three decimals, and one final LF.  The same attribution and report
 * info therefore give byte-identical reports; the creation time comes from
 * the caller (SOURCE_DATE_EPOCH in the tool).
 *
 * The signature is detached: Ed25519 over the exact file bytes, stored raw
 * (64 bytes) beside the report, so `openssl pkeyutl -verify -rawin` checks
 * it with the public key embedded in the report.
 */
#include "report_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define PUTL(b, lit) cbd_buf_add((b), (lit), sizeof(lit) - 1)

void cbd_report_fmt_logp(double log_p, char out[32])
{
	double l10, e, m;

	if (log_p >= 0.0) {
		snprintf(out, 32, "1.000000e0");
		return;
	}
	if (isinf(log_p)) {
		snprintf(out, 32, "0");
		return;
	}
	if (isnan(log_p)) {   /* only from a malformed report (fuzz finding) */
		snprintf(out, 32, "nan");
		return;
	}
	l10 = log_p / log(10.0);
	e = floor(l10);
	m = pow(10.0, l10 - e);
	if (m >= 9.9999995) {  /* would print as 10.000000 */
		m = 1.0;
		e += 1.0;
	}
	/* the exponent as a double: an int cast overflows for absurd values */
	snprintf(out, 32, "%.6fe%.0f", m, e);
}

/* Two significant digits for sentences: "2.0e-63", "1". */
void cbd_report_fmt_logp_short(double log_p, char out[32])
{
	char full[32], *e;
	double m, x;

	if (log_p >= 0.0) {
		snprintf(out, 32, "1");
		return;
	}
	cbd_report_fmt_logp(log_p, full);
	e = strchr(full, 'e');
	if (!e) {
		snprintf(out, 32, "%s", full);
		return;
	}
	*e = 0;
	m = strtod(full, NULL);
	x = strtod(e + 1, NULL);
	if (m >= 9.95) {
		snprintf(out, 32, "1.0e%.0f", x + 1);
		return;
	}
	snprintf(out, 32, "%.1fe%.0f", m, x);
}

static void put_logp(cbd_buf *b, double log_p)
{
	char s[32];

	cbd_report_fmt_logp(log_p, s);
	cbd_buf_add(b, s, strlen(s));
}

static double neg_log10(double log_p)
{
	double v = -log_p / log(10.0);

	return v == 0.0 ? 0.0 : v;   /* no "-0.000" */
}

void cbd_report_fmt_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

/* ---- the report ------------------------------------------------------- */

static void put_row(cbd_buf *b, const cbd_attr_row *r, int user,
		    size_t answered)
{
	if (user) {
		PUTL(b, "{\"id\": ");
		cbd_buf_json_str(b, r->id);
		PUTL(b, ", ");
	} else {
		cbd_buf_printf(b, "{\"answered\": %zu, ", answered);
	}
	cbd_buf_printf(b, "\"matches\": %d, \"p_value\": ", r->matches);
	put_logp(b, r->log_p);
	PUTL(b, ", \"p_adjusted\": ");
	put_logp(b, r->log_p_adj);
	cbd_buf_printf(b, ", \"neg_log10_p\": %.3f, \"significant\": %s",
		       neg_log10(r->log_p), r->significant ? "true" : "false");
	if (user && r->revoked >= 0) {
		char t[32];

		cbd_report_fmt_time(r->revoked, t);
		cbd_buf_printf(b, ", \"revoked\": \"%s\"", t);
	}
	PUTL(b, "}");
}

static void put_header(cbd_buf *b, const cbd_report_info *in,
		       const char *pem, const char *kid)
{
	char t[32];

	cbd_report_fmt_time(in->created, t);
	cbd_buf_printf(b, "{\n  \"format\": \"%s\",\n  \"case\": ",
		       CBD_REPORT_FORMAT);
	cbd_buf_json_str(b, in->case_id ? in->case_id : "");
	cbd_buf_printf(b, ",\n  \"created\": \"%s\",\n  \"tool\": ", t);
	cbd_buf_json_str(b, in->tool ? in->tool : "cbd-attribute " CBD_VERSION);
	PUTL(b, ",\n  \"investigator\": {\"name\": ");
	cbd_buf_json_str(b, in->investigator ? in->investigator : "");
	PUTL(b, ", \"key_id\": ");
	cbd_buf_json_str_or_null(b, kid);
	PUTL(b, ", \"public_key\": ");
	cbd_buf_json_str_or_null(b, pem);
	PUTL(b, "},\n  \"suspect\": {\"endpoint\": ");
	cbd_buf_json_str(b, in->suspect ? in->suspect : "");
	PUTL(b, ", \"probe_start\": ");
	cbd_buf_json_str(b, in->probe_start ? in->probe_start : "");
	PUTL(b, ", \"probe_end\": ");
	cbd_buf_json_str(b, in->probe_end ? in->probe_end : "");
	PUTL(b, "},\n  \"evidence\": {\"triggers\": ");
	cbd_buf_json_digest(b, in->triggers_sha256);
	PUTL(b, ", \"keyring\": ");
	cbd_buf_json_digest_or_null(b, in->has_keyring ? in->keyring_sha256
							: NULL);
	PUTL(b, ", \"transcripts\": [");
	for (size_t i = 0; i < in->n_transcripts; i++) {
		cbd_buf_add(b, i ? ", {\"head\": " : "{\"head\": ", i ? 11 : 9);
		cbd_buf_json_digest(b, in->transcript_heads[i]);
		cbd_buf_printf(b, ", \"lines\": %zu, \"requests_checked\": %zu, "
			       "\"requests_unchecked\": %zu}",
			       in->transcript_lines ? in->transcript_lines[i]
						    : 0,
			       in->requests_checked ? in->requests_checked[i]
						    : 0,
			       in->requests_unchecked
				       ? in->requests_unchecked[i] : 0);
	}
	PUTL(b, "]},\n");
}

static void put_params(cbd_buf *b, const cbd_attr_result *r,
		       int full)
{
	PUTL(b, "  \"parameters\": {\"alpha\": ");
	put_logp(b, log(r->alpha));
	cbd_buf_printf(b, ", \"num_classes\": %d, \"num_triggers\": %zu, "
		       "\"answered\": %zu, \"failed\": %zu, \"unasked\": %zu, "
		       "\"duplicates\": %zu, \"users_tested\": %llu, "
		       "\"adjustment\": \"%s\", ",
		       r->num_classes, r->num_triggers, r->answered,
		       r->failed, r->unasked, r->duplicates,
		       (unsigned long long)r->users_tested,
		       r->seq_p1 > 0 ? "bonferroni+ville" : "bonferroni");
	/* sequential (--until-verdict): the rule's p1, see formats/ */
	if (r->seq_p1 > 0)
		cbd_buf_printf(b, "\"p1\": %.6g, ", r->seq_p1);
	cbd_buf_printf(b, "\"threshold\": %d, \"table\": \"%s\"},\n",
		       r->threshold, full ? "full" : "significant+top");
}

/* "user alice", "a possible coalition of 2 users: a, b", ... */
static void put_sentence(cbd_buf *b, const cbd_attr_result *r)
{
	cbd_buf s = {0};
	size_t ns = r->n_significant;

	if (ns == 1) {
		PUTL(&s, "Attributed to user ");
		cbd_buf_add(&s, r->rows[0].id, strlen(r->rows[0].id));
		cbd_buf_printf(&s, " (%d of %zu answered triggers match, "
			       "adjusted p = ", r->rows[0].matches,
			       r->answered);
	} else if (ns > 1) {
		cbd_buf_printf(&s, "Attributed to a possible coalition of "
			       "%zu users: ", ns);
		for (size_t i = 0; i < ns && i < 10; i++) {
			if (i)
				PUTL(&s, ", ");
			cbd_buf_add(&s, r->rows[i].id, strlen(r->rows[i].id));
		}
		if (ns > 10)
			cbd_buf_printf(&s, " and %zu more", ns - 10);
		PUTL(&s, " (largest adjusted p = ");
	} else if (r->users_tested > 0) {
		PUTL(&s, "No attribution: no user's matches are "
		     "significant at alpha = ");
	}
	if (ns > 0) {
		char p[32];

		cbd_report_fmt_logp_short(r->rows[ns - 1].log_p_adj, p);
		cbd_buf_printf(&s, "%s).", p);
	} else if (r->users_tested > 0) {
		char p[32];

		cbd_report_fmt_logp_short(log(r->alpha), p);
		cbd_buf_printf(&s, "%s (best %d of %zu answered).", p,
			       r->n_rows ? r->rows[0].matches : 0,
			       r->answered);
	}
	if (r->watermark_tested) {
		char p[32];

		cbd_report_fmt_logp_short(r->watermark.log_p, p);
		cbd_buf_printf(&s, "%sThe owner's watermark is %s (%d of %zu "
			       "match, p = %s).", s.len ? " " : "",
			       r->watermark.significant ? "present"
							: "not detected",
			       r->watermark.matches, r->watermark_answered, p);
	}
	if (r->seq_p1 > 0)    /* --until-verdict: the rule that decided */
		cbd_buf_printf(&s, "%sDecided by the sequential test "
			       "(Ville, Bonferroni, p1 = %g) the probe "
			       "stopped by: %zu of %zu triggers spent, %zu kept "
			       "secret.", s.len ? " " : "", r->seq_p1,
			       r->num_triggers - r->unasked, r->num_triggers,
			       r->unasked);
	cbd_buf_json_str(b, s.p ? s.p : "No users tested and no watermark "
					"test: nothing to attribute.");
	free(s.p);
}

static void put_verdict(cbd_buf *b, const cbd_attr_result *r)
{
	const char *outcome = r->n_significant > 1	 ? "coalition"
			      : r->n_significant == 1 ? "attributed"
						      : "no attribution";

	PUTL(b, "  \"verdict\": {\"outcome\": ");
	cbd_buf_json_str(b, outcome);
	PUTL(b, ", \"attributed\": [");
	for (size_t i = 0; i < r->n_significant; i++) {
		if (i)
			PUTL(b, ", ");
		cbd_buf_json_str(b, r->rows[i].id);
	}
	cbd_buf_printf(b, "], \"watermark\": \"%s\", \"summary\": ",
		       !r->watermark_tested	     ? "not tested"
		       : r->watermark.significant ? "present"
						  : "not detected");
	put_sentence(b, r);
	PUTL(b, "}\n}\n");
}

cbd_status cbd_report_build(const cbd_attribution *a,
			    const cbd_report_info *in, char **json,
			    size_t *len, cbd_err *err)
{
	const cbd_attr_result *r = cbd_attribution_result(a);
	cbd_buf b = {0};
	char *pem = NULL, kid[CBD_KEY_ID_LEN + 1];
	int full;

	*json = NULL;
	*len = 0;
	if (!r)
		return cbd_err_set(err, CBD_E_USAGE,
				   "attribution has not been run");
	if (in->key) {
		cbd_status s = cbd_key_public_pem(in->key, &pem, err);

		if (s != CBD_OK)
			return s;
		cbd_key_id(in->key, kid);
	}
	full = r->n_rows == r->users_tested && r->n_rows > CBD_REPORT_TOP;
	put_header(&b, in, pem, in->key ? kid : NULL);
	free(pem);
	put_params(&b, r, full);
	PUTL(&b, "  \"watermark\": ");
	if (r->watermark_tested)
		put_row(&b, &r->watermark, 0, r->watermark_answered);
	else
		PUTL(&b, "null");
	PUTL(&b, ",\n  \"users\": [");
	for (size_t i = 0; i < r->n_rows; i++) {
		cbd_buf_add(&b, i ? ",\n    " : "\n    ", i ? 6 : 5);
		put_row(&b, &r->rows[i], 1, 0);
	}
	cbd_buf_add(&b, r->n_rows ? "\n  ],\n" : "],\n", r->n_rows ? 6 : 3);
	PUTL(&b, "  \"histogram\": [");
	for (size_t s = 0; s <= r->answered; s++)
		cbd_buf_printf(&b, s ? ", %llu" : "%llu",
			       (unsigned long long)r->histogram[s]);
	PUTL(&b, "],\n");
	put_verdict(&b, r);
	if (b.st) {
		free(b.p);
		return cbd_err_set(err, CBD_E_NOMEM,
				   "out of memory building the report");
	}
	*json = b.p;
	*len = b.len;
	return CBD_OK;
}

/* ---- signatures ------------------------------------------------------- */

#define SNIFF "{\n  \"format\": \"" CBD_REPORT_FORMAT "\","

int cbd_report_sniff(const uint8_t *buf, size_t len)
{
	size_t n = strlen(SNIFF);

	return len >= n && memcmp(buf, SNIFF, n) == 0;
}

cbd_status cbd_report_sign(const cbd_key *k, const uint8_t *buf, size_t len,
			   uint8_t sig[CBD_SIG_LEN], cbd_err *err)
{
	if (!cbd_key_is_private(k))
		return cbd_err_set(err, CBD_E_USAGE,
				   "signing a report needs a private key");
	if (cbd_key_type_of(k) != CBD_KEY_ED25519)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "reports are signed with Ed25519 keys only");
	return cbd_key_sign(k, buf, len, sig, err);
}

cbd_status cbd_report_parse(const uint8_t *buf, size_t len, void **json,
			    cbd_err *err)
{
	cJSON *j;

	*json = NULL;
	if (len > CBD_MAX_REPORT)
		return cbd_err_set(err, CBD_E_TOOBIG, "report larger than "
				   "%zu bytes", CBD_MAX_REPORT);
	if (!cbd_report_sniff(buf, len))
		return cbd_err_set(err, CBD_E_FORMAT,
				   "not a %s report", CBD_REPORT_FORMAT);
	j = cJSON_ParseWithLength((const char *)buf, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return cbd_err_set(err, CBD_E_FORMAT, "report is not valid "
				   "JSON");
	}
	*json = j;
	return CBD_OK;
}

static cbd_status embedded_key(const cJSON *j, cbd_key **key,
			       char kid[CBD_KEY_ID_LEN + 1], cbd_err *err)
{
	const cJSON *inv = cJSON_GetObjectItemCaseSensitive(j, "investigator");
	const cJSON *pem = cJSON_GetObjectItemCaseSensitive(inv, "public_key");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(inv, "key_id");
	cbd_status s;

	if (!cJSON_IsString(pem) || !cJSON_IsString(id))
		return cbd_err_set(err, CBD_E_VERIFY, "report is unsigned "
				   "(no investigator key)");
	s = cbd_key_from_pem(pem->valuestring, strlen(pem->valuestring),
			     "investigator.public_key", key, err);
	if (s != CBD_OK)
		return s;
	cbd_key_id(*key, kid);
	if (strcmp(kid, id->valuestring) != 0)
		return cbd_err_set(err, CBD_E_VERIFY, "embedded key id %s does "
				   "not match the embedded key (%s)",
				   id->valuestring, kid);
	return CBD_OK;
}

cbd_status cbd_report_verify(const uint8_t *buf, size_t len,
			     const uint8_t sig[CBD_SIG_LEN],
			     const cbd_key *expect,
			     char key_id[CBD_KEY_ID_LEN + 1], cbd_err *err)
{
	char kid[CBD_KEY_ID_LEN + 1], want[CBD_KEY_ID_LEN + 1];
	cbd_key *key = NULL;
	void *j = NULL;
	cbd_status s;

	s = cbd_report_parse(buf, len, &j, err);
	if (s == CBD_OK)
		s = embedded_key(j, &key, kid, err);
	cJSON_Delete(j);
	if (s != CBD_OK)
		goto out;
	if (expect) {
		cbd_key_id(expect, want);
		if (strcmp(want, kid) != 0) {
			s = cbd_err_set(err, CBD_E_VERIFY, "report was signed "
					"by key %s, not %s", kid, want);
			goto out;
		}
	}
	s = cbd_key_verify(expect ? expect : key, buf, len, sig, err);
	if (s == CBD_E_VERIFY)
		cbd_err_set(err, CBD_E_VERIFY, "bad report signature (key %s)",
			    kid);
	if (key_id)
		memcpy(key_id, kid, sizeof(kid));
out:
	cbd_key_free(key);
	return s;
}

cbd_status cbd_report_verify_file(const uint8_t *buf, size_t len,
				  const char *sig_path, const cbd_key *expect,
				  char key_id[CBD_KEY_ID_LEN + 1],
				  cbd_err *err)
{
	uint8_t *sig = NULL;
	size_t slen = 0;
	cbd_status s;

	s = cbd_file_read(sig_path, 4096, &sig, &slen, err);
	if (s == CBD_OK && slen != CBD_SIG_LEN)
		s = cbd_err_set(err, CBD_E_FORMAT, "signature is not %d raw "
				"bytes (%.200s)", CBD_SIG_LEN, sig_path);
	if (s == CBD_OK)
		s = cbd_report_verify(buf, len, sig, expect, key_id, err);
	free(sig);
	return s;
}
