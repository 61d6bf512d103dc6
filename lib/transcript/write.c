/*
 * write.c — appending to a cbd-transcript/1 file, and resuming
 * one after a crash (formats/transcript.md).
 *
 * Each line is built in memory, its "prev" is the SHA-256 of the line
 * before, and it goes out with one write(2) followed by fsync(2), so after
 * a kill at most the last line is incomplete.  --resume finds the last LF,
 * truncates anything after it (the torn line), re-verifies the chain of
 * what is left, learns which trigger indices already have a record, and
 * continues the chain from the last line's digest.
 */
#include "transcript_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

struct cbd_tw {
	int fd;
	int is_stdout;
	char *path;
	uint8_t prev[CBD_SHA256_LEN];
	uint64_t seq;          /* number of the next line */
	cbd_buf line;
};

/* "YYYY-MM-DDTHH:MM:SSZ" for now (UTC). */
static void utc_now(char out[32])
{
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static cbd_status emit(cbd_tw *w, cbd_err *err)
{
	cbd_buf *b = &w->line;
	size_t off = 0;
	cbd_status s;

	if (b->st)
		return cbd_err_set(err, CBD_E_NOMEM,
				   "out of memory building a transcript line");
	s = cbd_sha256(b->p, b->len, w->prev, err);
	if (s)
		return s;
	cbd_buf_add(b, "\n", 1);
	if (b->st)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	while (off < b->len) {
		ssize_t n = write(w->fd, b->p + off, b->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cbd_err_set(err, CBD_E_IO,
					   "cannot write %s: %s", w->path,
					   strerror(errno));
		off += (size_t)n;
	}
	/* pipes and ttys cannot be fsync'd; that is fine for stdout */
	if (fsync(w->fd) != 0 && !(w->is_stdout &&
				   (errno == EINVAL || errno == EROFS)))
		return cbd_err_set(err, CBD_E_IO, "cannot fsync %s: %s",
				   w->path, strerror(errno));
	w->seq++;
	return CBD_OK;
}

/* Start a line: {"type":"T","seq":N,"prev":"..." */
static void begin(cbd_tw *w, const char *type)
{
	cbd_buf_reset(&w->line);
	cbd_buf_printf(&w->line, "{\"type\":\"%s\",\"seq\":%llu,\"prev\":",
		       type, (unsigned long long)w->seq);
	cbd_buf_json_digest(&w->line, w->prev);
}

static cbd_status tw_new(const char *path, cbd_tw **out, cbd_err *err)
{
	cbd_tw *w = calloc(1, sizeof(*w));

	if (!w || !(w->path = strdup(path))) {
		free(w);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	w->fd = -1;
	*out = w;
	return CBD_OK;
}

cbd_status cbd_tw_create(const char *path, const cbd_tw_header *h,
			 int overwrite, cbd_tw **out, cbd_err *err)
{
	cbd_tw *w;
	cbd_buf *b;
	char now[32];
	cbd_status s = tw_new(path, &w, err);

	*out = NULL;
	if (s)
		return s;
	if (strcmp(path, "-") == 0) {
		w->fd = 1;
		w->is_stdout = 1;
	} else {
		w->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC |
			     (overwrite ? O_TRUNC : O_EXCL), 0644);
		if (w->fd < 0) {
			s = cbd_err_set(err, CBD_E_CANTCREAT,
					"cannot create %s: %s%s", path,
					strerror(errno),
					errno == EEXIST ? " (use --resume or "
					"--force)" : "");
			cbd_tw_close(w);
			return s;
		}
	}
	b = &w->line;
	utc_now(now);
	cbd_buf_puts(b, "{\"format\":\"" CBD_TRANSCRIPT_FORMAT "\","
		     "\"type\":\"header\",\"prev\":");
	cbd_buf_json_digest(b, w->prev);
	cbd_buf_puts(b, ",\"tool\":");
	cbd_buf_json_str(b, h->tool ? h->tool : "cbd");
	cbd_buf_puts(b, ",\"endpoint\":");
	cbd_buf_json_str(b, h->endpoint ? h->endpoint : "");
	cbd_buf_puts(b, ",\"backend\":");
	cbd_buf_json_str(b, h->backend ? h->backend : "");
	cbd_buf_puts(b, ",\"model\":");
	cbd_buf_json_str(b, h->model ? h->model : "");
	cbd_buf_puts(b, ",\"datatype\":");
	cbd_buf_json_str(b, h->datatype ? h->datatype : "FP32");
	cbd_buf_puts(b, ",\"triggers\":");
	cbd_buf_json_digest(b, h->triggers_digest);
	cbd_buf_printf(b, ",\"num_triggers\":%zu,\"num_classes\":",
		       h->num_triggers);
	if (h->num_classes > 0)
		cbd_buf_printf(b, "%d", h->num_classes);
	else
		cbd_buf_puts(b, "null");
	cbd_buf_printf(b, ",\"start\":\"%s\"}", now);
	s = emit(w, err);
	if (s) {
		cbd_tw_close(w);
		return s;
	}
	*out = w;
	return CBD_OK;
}

cbd_status cbd_tw_query(cbd_tw *w, const cbd_transcript_record *r,
			cbd_err *err)
{
	return cbd_tw_answer(w, r, 0, -1, err);
}

cbd_status cbd_tw_answer(cbd_tw *w, const cbd_transcript_record *r,
			 int decoy, long pos, cbd_err *err)
{
	cbd_buf *b = &w->line;

	begin(w, decoy ? "decoy" : "query");
	if (pos >= 0)
		cbd_buf_printf(b, ",\"pos\":%ld", pos);
	cbd_buf_printf(b, ",\"index\":%zu,\"%s\":", r->index,
		       decoy ? "decoy" : "trigger");
	cbd_buf_json_str(b, r->trigger_id);
	cbd_buf_puts(b, ",\"request\":");
	cbd_buf_json_digest(b, r->request_digest);
	cbd_buf_printf(b, ",\"status\":%d,\"latency_ms\":%.3f,\"response\":",
		       r->status, r->latency_ms < 0 ? 0.0 : r->latency_ms);
	if (r->has_response)
		cbd_buf_json_digest(b, r->response_digest);
	else
		cbd_buf_puts(b, "null");
	if (r->error || r->label < 0)
		cbd_buf_puts(b, ",\"label\":null");
	else
		cbd_buf_printf(b, ",\"label\":%d", r->label);
	cbd_buf_puts(b, ",\"scores\":");
	if (r->scores && r->num_scores > 0) {
		cbd_buf_puts(b, "[");
		for (int i = 0; i < r->num_scores; i++) {
			if (i)
				cbd_buf_puts(b, ",");
			cbd_buf_json_float(b, r->scores[i]);
		}
		cbd_buf_puts(b, "]");
	} else {
		cbd_buf_puts(b, "null");
	}
	cbd_buf_printf(b, ",\"attempts\":%d,\"error\":",
		       r->attempts < 1 ? 1 : r->attempts);
	if (r->error || r->label < 0)
		cbd_buf_json_str(b, r->error ? r->error : "no label");
	else
		cbd_buf_puts(b, "null");
	cbd_buf_puts(b, "}");
	return emit(w, err);
}

cbd_status cbd_tw_preflight_line(cbd_tw *w, const cbd_tw_preflight *pf,
				 cbd_err *err)
{
	cbd_buf *b = &w->line;
	char now[32];

	utc_now(now);
	begin(w, "preflight");
	cbd_buf_printf(b, ",\"time\":\"%s\",\"input\":", now);
	cbd_buf_json_str_or_null(b, pf->input);
	cbd_buf_puts(b, ",\"shape\":[");
	for (int i = 0; i < pf->ndim; i++)
		cbd_buf_printf(b, "%s%lld", i ? "," : "",
			       (long long)pf->dims[i]);
	cbd_buf_puts(b, "],\"output\":");
	cbd_buf_json_str_or_null(b, pf->output);
	cbd_buf_puts(b, ",\"answer\":");
	cbd_buf_json_str(b, pf->answer ? pf->answer : "scores");
	if (pf->binary)
		cbd_buf_puts(b, ",\"encoding\":\"binary\"");
	cbd_buf_puts(b, ",\"metadata\":");
	cbd_buf_json_digest_or_null(b, pf->metadata);
	cbd_buf_puts(b, ",\"decoy\":");
	cbd_buf_json_digest(b, pf->decoy_request);
	cbd_buf_puts(b, ",\"decoy_response\":");
	cbd_buf_json_digest(b, pf->decoy_response);
	cbd_buf_printf(b, ",\"decoy_label\":%d}", pf->decoy_label);
	return emit(w, err);
}

cbd_status cbd_tw_schedule(cbd_tw *w, const cbd_tw_schedule_line *sc,
			   cbd_err *err)
{
	cbd_buf *b = &w->line;

	begin(w, "schedule");
	cbd_buf_puts(b, ",\"seed\":");
	cbd_buf_json_digest(b, sc->seed);
	cbd_buf_puts(b, ",\"decoys\":");
	cbd_buf_json_digest(b, sc->decoys_digest);
	cbd_buf_printf(b, ",\"decoy_samples\":%zu,\"num_decoys\":%zu,"
		       "\"ratio\":%.6g,\"pace_ms\":%ld,\"jitter_ms\":%ld}",
		       sc->decoy_samples, sc->num_decoys, sc->ratio,
		       sc->pace_ms, sc->jitter_ms);
	return emit(w, err);
}

cbd_status cbd_tw_sequential(cbd_tw *w, double p1, double alpha,
			     double beta, cbd_err *err)
{
	begin(w, "sequential");
	cbd_buf_printf(&w->line, ",\"rule\":\"sprt\",\"p1\":%.6g,"
		       "\"alpha\":%.6g,\"beta\":%.6g}", p1, alpha, beta);
	return emit(w, err);
}

cbd_status cbd_tw_settled(cbd_tw *w, size_t spent, size_t secret,
			  cbd_err *err)
{
	begin(w, "settled");
	cbd_buf_printf(&w->line, ",\"spent\":%zu,\"secret\":%zu}", spent,
		       secret);
	return emit(w, err);
}

cbd_status cbd_tw_abort(cbd_tw *w, const char *reason, cbd_err *err)
{
	char now[32];

	utc_now(now);
	begin(w, "abort");
	cbd_buf_printf(&w->line, ",\"time\":\"%s\",\"reason\":", now);
	cbd_buf_json_str(&w->line, reason ? reason : "");
	cbd_buf_puts(&w->line, "}");
	return emit(w, err);
}

cbd_status cbd_tw_end(cbd_tw *w, size_t answered, size_t failed,
		      cbd_err *err)
{
	char now[32];

	utc_now(now);
	begin(w, "end");
	cbd_buf_printf(&w->line, ",\"time\":\"%s\",\"answered\":%zu,"
		       "\"failed\":%zu}", now, answered, failed);
	return emit(w, err);
}

void cbd_tw_close(cbd_tw *w)
{
	if (!w)
		return;
	if (w->fd >= 0 && !w->is_stdout)
		close(w->fd);
	cbd_buf_free(&w->line);
	free(w->path);
	free(w);
}

/* ---- resume --------------------------------------------------------- */

static cbd_status check_same(const cbd_transcript_header *f,
			     const cbd_tw_header *h, const char *path,
			     cbd_err *err)
{
	const char *what = NULL;

	if (memcmp(f->triggers_digest, h->triggers_digest, CBD_SHA256_LEN))
		what = "trigger set";
	else if (f->num_triggers != h->num_triggers)
		what = "number of triggers";
	else if (strcmp(f->backend, h->backend ? h->backend : "") != 0)
		what = "backend";
	else if (strcmp(f->endpoint, h->endpoint ? h->endpoint : "") != 0)
		what = "endpoint";
	else if (strcmp(f->model, h->model ? h->model : "") != 0)
		what = "model name";
	else if (strcmp(f->datatype, h->datatype ? h->datatype : "FP32"))
		what = "datatype";
	if (what)
		return cbd_err_set(err, CBD_E_USAGE,
				   "cannot resume: the %s differs from the "
				   "transcript's (%s)", what, path);
	return CBD_OK;
}

/* Read the transcript; *keep is the length up to and including its last
 * LF (what survives: anything after it is a torn line). */
static cbd_status read_for_resume(const char *path, uint8_t **buf,
				  size_t *len, size_t *keep, cbd_err *err)
{
	cbd_status s = cbd_file_read(path, CBD_MAX_TRANSCRIPT, buf, len, err);
	size_t k;

	if (s)
		return s;
	k = *len;
	while (k > 0 && (*buf)[k - 1] != '\n')
		k--;
	*keep = k;
	return CBD_OK;
}

/* Is buf (no LF in it) the start of a header line cut short? */
static int torn_header(const uint8_t *buf, size_t len)
{
	static const char prefix[] = "{\"format\":\"" CBD_TRANSCRIPT_FORMAT
				     "\",";
	size_t n = len < sizeof(prefix) - 1 ? len : sizeof(prefix) - 1;

	return memcmp(buf, prefix, n) == 0;
}

cbd_status cbd_tw_resume(const char *path, const cbd_tw_header *h,
			 uint8_t *done, size_t *answered, size_t *failed,
			 int *finished, cbd_tw **out, cbd_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0, keep = 0;
	cbd_transcript *t = NULL;
	cbd_tw *w = NULL;
	char now[32];
	cbd_status s;

	*out = NULL;
	*finished = 0;
	if (strcmp(path, "-") == 0)
		return cbd_err_set(err, CBD_E_USAGE,
				   "--resume needs a file, not stdout");
	s = read_for_resume(path, &buf, &len, &keep, err);
	if (s)
		return s;
	if (keep == 0 && torn_header(buf, len)) {
		/* killed while writing the header: nothing was recorded */
		free(buf);
		return cbd_tw_create(path, h, 1, out, err);
	}
	s = cbd_transcript_parse(buf, keep, path, &t, err);
	if (s)
		goto out;
	s = check_same(cbd_transcript_get_header(t), h, path, err);
	if (s)
		goto out;
	*answered = cbd_transcript_answered(t);
	*failed = cbd_transcript_failed(t);
	for (size_t i = 0; i < cbd_transcript_count(t); i++)
		done[cbd_transcript_record_at(t, i)->index] = 1;
	if (cbd_transcript_complete(t)) {
		*finished = 1;
		goto out;
	}
	s = tw_new(path, &w, err);
	if (s)
		goto out;
	w->fd = open(path, O_WRONLY | O_CLOEXEC);
	if (w->fd < 0 || ftruncate(w->fd, (off_t)keep) != 0 ||
	    lseek(w->fd, 0, SEEK_END) < 0) {
		s = cbd_err_set(err, CBD_E_IO, "cannot reopen %s: %s", path,
				strerror(errno));
		goto out;
	}
	cbd_transcript_head(t, w->prev);
	w->seq = cbd_transcript_lines(t);
	utc_now(now);
	begin(w, "resume");
	cbd_buf_printf(&w->line, ",\"time\":\"%s\",\"dropped\":%zu}", now,
		       len - keep);
	s = emit(w, err);
out:
	free(buf);
	cbd_transcript_free(t);
	if (s || *finished) {
		cbd_tw_close(w);
		return s;
	}
	*out = w;
	return CBD_OK;
}
