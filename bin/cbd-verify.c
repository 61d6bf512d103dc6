/*
 * cbd-verify — check the signatures and digests of a cbd file and say what
 * was checked.
 *
 *   cbd-verify model.cbd                  archive: members, manifest signature
 *   cbd-verify model.cbd --key owner.pub  ... and that owner.pub signed it
 *   cbd-verify triggers.json --key owner.pub
 *   cbd-verify model-watermark.onnx --key owner.pub   compiled model
 *   cbd-verify --info --json model.cbd
 *
 * The file kind is told by content, not by name: gzip magic is an archive;
 * a protobuf ending in the cbd.signature record is a compiled model;
 * a JSON document's "format" member names a trigger set, a report or a
 * transcript.  Each kind has one checker in the table at the end; the
 * checks are libcbd's, this file only prints what was checked, in text or
 * JSON, with the same head and signer verdict for every kind.  Anything
 * else is "unknown file kind".
 *
 * Exit: 0 verified; 1 a signature or digest does not verify, or the file
 * was not signed by --key; sysexits for malformed files, I/O and usage.
 */
#include "tool.h"
#include "tool_key.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_KEY,
	OPT_INFO,
	OPT_JSON,
	OPT_QUIET,
	OPT_TRIGGERS,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_KEY] = TOOL_OPT_KEY("also require that this key signed the file"),
	[OPT_INFO] = {"info", 'i', TOOL_NOARG, NULL,
		"also print what the file says (manifest, mode, keys, "
		"user)", false},
	[OPT_JSON] = TOOL_OPT_JSON("print the result as JSON"),
	[OPT_QUIET] = TOOL_OPT_QUIET("print nothing; only the exit status"),
	[OPT_TRIGGERS] = {"triggers", 't', TOOL_ARG, "FILE",
		"transcripts: also rebuild every query's request from the "
		"trigger set FILE", false},
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-verify",
	.synopsis = "FILE [--key OWNER.pub] [--triggers SET] [--info] [--json]",
	.summary = "Verify the signatures and digests of a cbd archive, "
		   "protected ONNX model, trigger set or report.",
	.opts = opts,
	.n_opts = OPT_N,
};

struct ctx {
	const char *path;
	const cbd_key *want;     /* --key, or NULL */
	const char *triggers;    /* --triggers, or NULL */
	int info, json, quiet;
};

/* ---- kind detection -------------------------------------------------- */

enum kind { KIND_UNKNOWN, KIND_ARCHIVE, KIND_TRIGGERS, KIND_REPORT,
	    KIND_TRANSCRIPT, KIND_ONNX };

/* The value of the first "format" member in a JSON text, if it comes
 * within the first bytes (writers put it first). */
static int json_format(const uint8_t *b, size_t n, char *out, size_t cap)
{
	static const char key[] = "\"format\"";
	const char *p = memmem(b, n, key, sizeof(key) - 1), *end;
	size_t i = 0;

	while (n && isspace(*b)) {
		b++;
		n--;
	}
	if (!n || *b != '{' || !p)
		return 0;
	end = (const char *)b + n;
	p += sizeof(key) - 1;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p >= end || *p++ != ':')
		return 0;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (p >= end || *p++ != '"')
		return 0;
	while (p < end && *p != '"' && i + 1 < cap)
		out[i++] = *p++;
	out[i] = 0;
	return p < end && *p == '"';
}

static enum kind detect(const uint8_t *b, size_t n)
{
	char fmt[64];

	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return KIND_ARCHIVE;
	if (cbd_onnx_sniff(b, n))
		return KIND_ONNX;
	if (cbd_report_sniff(b, n))
		return KIND_REPORT;
	if (cbd_transcript_sniff(b, n))
		return KIND_TRANSCRIPT;
	if (json_format(b, n < 4096 ? n : 4096, fmt, sizeof(fmt)) &&
	    strcmp(fmt, "cbd-triggers/1") == 0)
		return KIND_TRIGGERS;
	return KIND_UNKNOWN;
}

/* ---- output shared by the kinds ---------------------------------------- */

/* {"file": PATH, "kind": KIND  (the caller adds members and "ok") */
static void json_head(const struct ctx *x, const char *kind)
{
	printf("{\"file\": ");
	cbd_json_print_str(stdout, x->path);
	printf(", \"kind\": \"%s\"", kind);
}

/* The --key members of a JSON result. */
static void json_expected(const struct ctx *x, const char *wid, int who_ok)
{
	if (x->want)
		printf(", \"expected_signer\": \"%s\", "
		       "\"signed_by_expected\": %s", wid,
		       who_ok ? "true" : "false");
}

/* After a file whose signature verified: did --key sign it?  Prints the
 * refusal or the final OK line; returns the exit status (0 or 1). */
static int signer_verdict(const struct ctx *x, int who_ok, const char *kid,
			  const char *wid)
{
	if (!who_ok) {
		if (!x->quiet)
			tool_error(&T, "not signed by %s: the signer is %s (%s)",
				   wid, kid, x->path);
		return 1;
	}
	if (!x->quiet && !x->json)
		printf("%s: OK%s%s\n", x->path, x->want ? ", signed by " : "",
		       x->want ? wid : "");
	return 0;
}

/* ---- archives -------------------------------------------------------- */

static void print_digest(const char *name, const uint8_t *data, size_t len,
			 int json, int last)
{
	uint8_t md[CBD_SHA256_LEN];
	char hex[2 * CBD_SHA256_LEN + 1];

	cbd_sha256(data, len, md, NULL);
	cbd_hex(md, sizeof(md), hex);
	if (json)
		printf("{\"name\": \"%s\", \"size\": %zu, \"sha256\": \"%s\"}%s",
		       name, len, hex, last ? "" : ", ");
	else
		printf("  member %-13s %8zu bytes  sha256 %s  OK\n", name, len,
		       hex);
}

static void archive_info(const cbd_archive *a, int json)
{
	const cbd_circuit *c = cbd_archive_circuit(a);
	uint8_t cid[CBD_CIRCUIT_ID_LEN];
	char hex[2 * CBD_CIRCUIT_ID_LEN + 1], kid[CBD_KEY_ID_LEN + 1];
	const char *user = cbd_archive_user(a);
	int k = cbd_circuit_num_classes(c);

	cbd_circuit_id(c, cid);
	cbd_hex(cid, sizeof(cid), hex);
	if (json) {
		printf(", \"model_name\": \"%s\", \"mode\": \"%s\", "
		       "\"circuit_id\": \"%s\", \"user\": ",
		       cbd_archive_model_name(a),
		       cbd_mode_name(cbd_circuit_mode(c)), hex);
		if (user)
			cbd_json_print_str(stdout, user);
		else
			printf("null");
		printf(", \"input\": ");
		cbd_json_print_str(stdout, cbd_archive_input_name(a));
		printf(", \"num_classes\": %d, \"created\": %lld, "
		       "\"circuit_keys\": [", k,
		       (long long)cbd_archive_created(a));
		for (int i = 0; i < cbd_circuit_num_keys(c); i++) {
			cbd_key_id(cbd_circuit_key(c, i), kid);
			printf("%s\"%s\"", i ? ", " : "", kid);
		}
		printf("]");
		return;
	}
	printf("  model %s, input %s, %d classes (%s .. %s)\n",
	       cbd_archive_model_name(a), cbd_archive_input_name(a), k,
	       cbd_archive_class_name(a, 0), cbd_archive_class_name(a, k - 1));
	printf("  mode %s, circuit %s, user %s, created %lld\n",
	       cbd_mode_name(cbd_circuit_mode(c)), hex, user ? user : "-",
	       (long long)cbd_archive_created(a));
	for (int i = 0; i < cbd_circuit_num_keys(c); i++) {
		cbd_key_id(cbd_circuit_key(c, i), kid);
		printf("  circuit key %d: %s (%s)\n", i, kid,
		       cbd_key_type_name(cbd_key_type_of(cbd_circuit_key(c,
									 i))));
	}
}

static int verify_archive(const struct ctx *x, const uint8_t *buf, size_t len)
{
	cbd_archive *a = NULL;
	cbd_err e = {0};
	char kid[CBD_KEY_ID_LEN + 1], wid[CBD_KEY_ID_LEN + 1];
	const cbd_key *signer;
	size_t n;
	const uint8_t *model;
	const char *man;
	int who_ok;

	if (cbd_archive_open_mem(buf, len, x->path, &a, &e) != CBD_OK)
		return tool_fail(&T, &e);
	signer = cbd_archive_signer(a);
	cbd_key_id(signer, kid);
	who_ok = !x->want || cbd_archive_signed_by(a, x->want);
	if (x->want)
		cbd_key_id(x->want, wid);
	model = cbd_archive_model(a, &n);
	man = cbd_archive_manifest(a, NULL);
	if (x->quiet) {
		/* nothing */
	} else if (x->json) {
		size_t clen = 0;
		const uint8_t *cj;

		json_head(x, "archive");
		printf(", \"members\": [");
		cj = cbd_archive_member(a, "circuit.json", &clen);
		print_digest("circuit.json", cj, clen, 1, 0);
		print_digest("model.onnx", model, n, 1, 1);
		printf("], \"signer\": \"%s\", \"signer_type\": \"%s\", "
		       "\"signature\": \"ok\"", kid,
		       cbd_key_type_name(cbd_key_type_of(signer)));
		json_expected(x, wid, who_ok);
		if (x->info)
			archive_info(a, 1);
		printf(", \"ok\": %s}\n", who_ok ? "true" : "false");
	} else {
		size_t clen = 0;
		const uint8_t *cj;

		printf("%s: cbd archive\n", x->path);
		cj = cbd_archive_member(a, "circuit.json", &clen);
		print_digest("circuit.json", cj, clen, 0, 0);
		print_digest("model.onnx", model, n, 0, 1);
		printf("  manifest signature by key %s (%s)  OK\n", kid,
		       cbd_key_type_name(cbd_key_type_of(signer)));
		if (x->info) {
			archive_info(a, 0);
			printf("%s", man);
		}
	}
	cbd_archive_free(a);
	return signer_verdict(x, who_ok, kid, wid);
}

/* ---- trigger sets ---------------------------------------------------- */

static int verify_triggers(const struct ctx *x, const uint8_t *buf,
			   size_t len)
{
	cbd_triggerset *ts = NULL;
	cbd_err e = {0};
	char kid[CBD_KEY_ID_LEN + 1], wid[CBD_KEY_ID_LEN + 1];
	char cidh[2 * CBD_CIRCUIT_ID_LEN + 1], dh[2 * CBD_SHA256_LEN + 1];
	uint8_t cid[CBD_CIRCUIT_ID_LEN], d[CBD_SHA256_LEN];
	int who_ok = 1;

	(void)buf;
	(void)len;
	/* The signature against the key the file names first, then WHO. */
	if (cbd_triggerset_load(x->path, NULL, &ts, &e) != CBD_OK)
		return tool_fail(&T, &e);
	cbd_key_id(cbd_triggerset_signer(ts), kid);
	if (x->want) {
		cbd_key_id(x->want, wid);
		who_ok = cbd_key_equal(cbd_triggerset_signer(ts), x->want);
	}
	cbd_triggerset_circuit_id(ts, cid);
	cbd_hex(cid, sizeof(cid), cidh);
	cbd_triggerset_digest(ts, d);
	cbd_hex(d, sizeof(d), dh);
	if (x->quiet) {
		/* nothing */
	} else if (x->json) {
		json_head(x, "triggers");
		printf(", \"sha256\": \"%s\", \"signer\": \"%s\", "
		       "\"signature\": \"ok\"", dh, kid);
		json_expected(x, wid, who_ok);
		if (x->info)
			printf(", \"mode\": \"%s\", \"circuit_id\": \"%s\", "
			       "\"num_classes\": %d, \"triggers\": %zu",
			       cbd_mode_name(cbd_triggerset_mode(ts)), cidh,
			       cbd_triggerset_num_classes(ts),
			       cbd_triggerset_count(ts));
		printf(", \"ok\": %s}\n", who_ok ? "true" : "false");
	} else {
		printf("%s: cbd trigger set\n  sha256 %s\n"
		       "  signature by key %s  OK\n", x->path, dh, kid);
		if (x->info)
			printf("  mode %s, circuit %s, %d classes, %zu "
			       "triggers\n",
			       cbd_mode_name(cbd_triggerset_mode(ts)), cidh,
			       cbd_triggerset_num_classes(ts),
			       cbd_triggerset_count(ts));
	}
	cbd_triggerset_free(ts);
	return signer_verdict(x, who_ok, kid, wid);
}

/* ---- attribution reports (owned by the attribute/report module) ------ */

/* REPORT.sig beside the file: the raw Ed25519 signature over its exact
 * bytes, checked with the key the report embeds; --key names the signer. */
static int verify_report(const struct ctx *x, const uint8_t *buf,
			 size_t len)
{
	char *sigpath = NULL, kid[CBD_KEY_ID_LEN + 1] = "";
	cbd_err e = {0};
	cbd_status s;

	if (strcmp(x->path, "-") == 0) {
		tool_error(&T, "a report from stdin has no REPORT.sig beside "
			   "it; give the file");
		return EX_USAGE;
	}
	sigpath = cbd_sig_path(x->path);
	if (!sigpath)
		return EX_OSERR;
	s = cbd_report_verify_file(buf, len, sigpath, x->want, kid, &e);
	free(sigpath);
	if (s != CBD_OK)
		return x->quiet ? cbd_status_exit(s) : tool_fail(&T, &e);
	if (x->quiet)
		return 0;
	if (x->json) {
		json_head(x, "report");
		printf(", \"signer\": \"%s\", \"signature\": \"ok\", "
		       "\"ok\": true}\n", kid);
	} else {
		printf("%s: cbd attribution report\n  signature by key %s  "
		       "OK\n%s: OK%s%s\n", x->path, kid, x->path,
		       x->want ? ", signed by " : "", x->want ? kid : "");
	}
	return 0;
}

/* ---- probe transcripts (owned by the probe module) ------------------- */

/* --triggers: rebuild every record's request from the trigger set. */
static cbd_status check_requests(const struct ctx *x, const cbd_transcript *t,
				 size_t *checked, size_t *unchecked,
				 cbd_err *e)
{
	cbd_triggerset *ts = NULL;
	cbd_status s = cbd_triggerset_load(x->triggers, NULL, &ts, e);

	if (s == CBD_OK)
		s = cbd_probe_check_requests(t, ts, checked, unchecked, e);
	cbd_triggerset_free(ts);
	return s;
}

/* The hash chain and structure of a cbd-transcript/1 file, and with
 * --triggers the requests.  Transcripts are not signed: --key does not
 * apply.  A broken chain or a request that is not its trigger's exits 1. */
static int verify_transcript(const struct ctx *x, const uint8_t *buf,
			     size_t len)
{
	cbd_transcript *t = NULL;
	const cbd_transcript_header *h;
	uint8_t head[CBD_SHA256_LEN];
	char hh[2 * CBD_SHA256_LEN + 1], th[2 * CBD_SHA256_LEN + 1];
	size_t spent, secret, checked = 0, unchecked = 0;
	cbd_err e = {0};
	cbd_status s;

	if (x->want) {
		tool_error(&T, "transcripts are not signed; --key does not "
			   "apply (%s)", x->path);
		return EX_USAGE;
	}
	s = cbd_transcript_parse(buf, len, x->path, &t, &e);
	if (s == CBD_OK && x->triggers)
		s = check_requests(x, t, &checked, &unchecked, &e);
	if (s != CBD_OK) {
		if (!x->quiet)
			tool_fail(&T, &e);
		cbd_transcript_free(t);
		return s == CBD_E_VERIFY ? 1 : cbd_status_exit(s);
	}
	h = cbd_transcript_get_header(t);
	cbd_transcript_head(t, head);
	cbd_hex(head, sizeof(head), hh);
	cbd_hex(h->triggers_digest, CBD_SHA256_LEN, th);
	if (x->quiet) {
		/* nothing */
	} else if (x->json) {
		json_head(x, "transcript");
		printf(", \"lines\": %zu, "
		       "\"queries\": %zu, \"answered\": %zu, \"failed\": %zu, "
		       "\"decoys\": %zu, \"complete\": %s, \"head\": \"%s\", "
		       "\"triggers\": \"%s\"", cbd_transcript_lines(t),
		       cbd_transcript_count(t), cbd_transcript_answered(t),
		       cbd_transcript_failed(t), cbd_transcript_decoys(t, NULL),
		       cbd_transcript_complete(t) ? "true" : "false", hh, th);
		if (cbd_transcript_settled(t, &spent, &secret))
			printf(", \"spent\": %zu, \"secret\": %zu", spent,
			       secret);
		if (x->triggers)
			printf(", \"requests_checked\": %zu, "
			       "\"requests_unchecked\": %zu", checked,
			       unchecked);
		if (x->info) {
			printf(", \"endpoint\": ");
			cbd_json_print_str(stdout, h->endpoint);
			printf(", \"backend\": ");
			cbd_json_print_str(stdout, h->backend);
			printf(", \"model\": ");
			cbd_json_print_str(stdout, h->model);
			printf(", \"start\": ");
			cbd_json_print_str(stdout, h->start);
		}
		printf(", \"ok\": true}\n");
	} else {
		printf("%s: cbd probe transcript\n  %zu lines, %zu queries "
		       "(%zu answered, %zu failed), %s\n  trigger set sha256 "
		       "%s\n  hash chain head %s  OK\n", x->path,
		       cbd_transcript_lines(t), cbd_transcript_count(t),
		       cbd_transcript_answered(t), cbd_transcript_failed(t),
		       cbd_transcript_complete(t) ? "complete"
						   : "incomplete (no end line)",
		       th, hh);
		if (cbd_transcript_decoys(t, NULL))
			printf("  %zu decoys (clean samples among the queries, "
			       "never scored)\n", cbd_transcript_decoys(t, NULL));
		if (cbd_transcript_settled(t, &spent, &secret))
			printf("  settled (--until-verdict): %zu triggers "
			       "spent, %zu kept secret\n", spent, secret);
		if (x->triggers)
			printf("  requests: %zu rebuilt from the trigger set "
			       "and matched%s\n", checked, unchecked
			       ? "" : ", all of them");
		if (x->triggers && unchecked)
			printf("  %zu requests of runs without a preflight "
			       "line could not be rebuilt\n", unchecked);
		if (x->info)
			printf("  endpoint %s, backend %s, model %s, started "
			       "%s\n", h->endpoint, h->backend, h->model,
			       h->start);
		printf("%s: OK\n", x->path);
	}
	cbd_transcript_free(t);
	return 0;
}

/* ---- compiled models (cbd-embed --format onnx) ---------------------- */

static int verify_onnx(const struct ctx *x, const uint8_t *buf, size_t len)
{
	cbd_onnx_info info;
	cbd_key *signer = NULL;
	cbd_circuit *circuit = NULL;
	cbd_err e = {0};
	char kid[CBD_KEY_ID_LEN + 1], wid[CBD_KEY_ID_LEN + 1] = "";
	char cidh[2 * CBD_CIRCUIT_ID_LEN + 1], clh[2 * CBD_SHA256_LEN + 1];
	char fh[2 * CBD_SHA256_LEN + 1];
	uint8_t md[CBD_SHA256_LEN];
	int who_ok = 1;

	if (cbd_onnx_verify(buf, len, &signer, &info, &circuit, &e) != CBD_OK) {
		if (e.code == CBD_E_VERIFY && !x->quiet)
			tool_error(&T, "%s (%s)", e.msg, x->path);
		return e.code == CBD_E_VERIFY ? 1 : tool_fail(&T, &e);
	}
	cbd_key_id(signer, kid);
	if (x->want) {
		cbd_key_id(x->want, wid);
		who_ok = cbd_key_equal(signer, x->want);
	}
	cbd_hex(info.circuit_id, sizeof(info.circuit_id), cidh);
	cbd_hex(info.classifier_sha256, sizeof(info.classifier_sha256), clh);
	cbd_sha256(buf, len, md, NULL);
	cbd_hex(md, sizeof(md), fh);
	if (x->quiet) {
		/* nothing */
	} else if (x->json) {
		json_head(x, "onnx");
		printf(", \"sha256\": \"%s\", \"signer\": \"%s\", "
		       "\"signature\": \"ok\"", fh, kid);
		json_expected(x, wid, who_ok);
		if (x->info) {
			printf(", \"mode\": \"%s\", \"circuit_id\": \"%s\", "
			       "\"classifier_sha256\": \"%s\", \"user\": ",
			       cbd_mode_name(info.mode), cidh, clh);
			if (*info.user_id)
				cbd_json_print_str(stdout, info.user_id);
			else
				printf("null");
		}
		printf(", \"ok\": %s}\n", who_ok ? "true" : "false");
	} else {
		printf("%s: cbd protected ONNX model\n  sha256 %s\n"
		       "  signature by key %s  OK\n", x->path, fh, kid);
		if (x->info)
			printf("  mode %s, circuit %s%s%s\n  classifier sha256 %s\n",
			       cbd_mode_name(info.mode), cidh,
			       *info.user_id ? ", user " : "", info.user_id, clh);
	}
	cbd_key_free(signer);
	cbd_circuit_free(circuit);
	return signer_verdict(x, who_ok, kid, wid);
}

/* ---- dispatch -------------------------------------------------------- */

static const struct checker {
	enum kind kind;
	int (*check)(const struct ctx *, const uint8_t *, size_t);
} checkers[] = {
	{KIND_ARCHIVE, verify_archive},
	{KIND_TRIGGERS, verify_triggers},
	{KIND_REPORT, verify_report},
	{KIND_TRANSCRIPT, verify_transcript},
	{KIND_ONNX, verify_onnx},
};

int main(int argc, char **argv)
{
	struct ctx x = {0};
	cbd_key *want = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	cbd_err e = {0};
	enum kind k;
	int rc = -1;

	tool_parse_n(&T, argc, argv, 1, "want exactly one FILE");
	x.path = T.argv[0];
	x.info = tool_has(&T, OPT_INFO);
	x.json = tool_has(&T, OPT_JSON);
	x.quiet = tool_has(&T, OPT_QUIET);
	x.triggers = tool_get(&T, OPT_TRIGGERS, NULL);
	if (tool_has(&T, OPT_KEY)) {
		rc = tool_load_key(&T, tool_get(&T, OPT_KEY, NULL), NULL,
				   TOOL_KEY_PUBLIC, &want);
		if (rc)
			return rc;
		x.want = want;
	}
	if (cbd_file_read(x.path, CBD_MAX_ARCHIVE, &buf, &len, &e) != CBD_OK) {
		cbd_key_free(want);
		return tool_fail(&T, &e);
	}
	k = detect(buf, len);
	if (x.triggers && k != KIND_TRANSCRIPT) {
		free(buf);
		cbd_key_free(want);
		tool_usage_error(&T, "--triggers applies to transcripts only "
				 "(%s)", x.path);
	}
	rc = -1;
	for (size_t i = 0; i < sizeof(checkers) / sizeof(checkers[0]); i++)
		if (checkers[i].kind == k)
			rc = checkers[i].check(&x, buf, len);
	if (rc < 0) {
		tool_error(&T, "unknown file kind: not a cbd archive, signed "
			   "ONNX model, trigger set, report or transcript (%s)",
			   x.path);
		rc = EX_DATAERR;
	}
	free(buf);
	cbd_key_free(want);
	return rc;
}
