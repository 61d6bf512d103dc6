/*
 * test_transcript.c — cbd-transcript/1 writer and reader: a written file
 * loads back with every field; one flipped byte, a deleted line, swapped
 * lines or a duplicate record are caught; a torn last line is refused by
 * the reader and dropped by --resume, which then continues the chain.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transcript/transcript_internal.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/cbd-tt-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static cbd_tw_header header(void)
{
	cbd_tw_header h = {0};

	h.tool = "test 1";
	h.endpoint = "http://127.0.0.1:1/x\"y";
	h.backend = "oip";
	h.model = "m";
	h.datatype = "FP32";
	memset(h.triggers_digest, 0xab, sizeof(h.triggers_digest));
	h.num_triggers = 5;
	h.num_classes = 10;
	return h;
}

static void put(cbd_tw *w, size_t idx, int label)
{
	cbd_transcript_record r = {0};
	float sc[10];
	char id[16];
	cbd_err e = {0};

	for (int i = 0; i < 10; i++)
		sc[i] = (float)i / 3.0f - (i == label ? -100.0f : 0.0f);
	snprintf(id, sizeof(id), "t%zu", idx);
	r.index = idx;
	r.trigger_id = id;
	r.label = label;
	r.status = label >= 0 ? 200 : 500;
	r.error = label >= 0 ? NULL : "HTTP 500";
	r.attempts = label >= 0 ? 1 : 3;
	r.latency_ms = 1.25;
	r.has_response = 1;
	memset(r.request_digest, (int)idx, 32);
	memset(r.response_digest, (int)idx + 1, 32);
	r.scores = label >= 0 ? sc : NULL;
	r.num_scores = label >= 0 ? 10 : 0;
	assert_int_equal(cbd_tw_query(w, &r, &e), CBD_OK);
}

static char *write_full(const char *name, int end)
{
	static char path[128];
	cbd_tw_header h = header();
	cbd_tw *w;
	cbd_err e = {0};

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(cbd_tw_create(path, &h, 1, &w, &e), CBD_OK);
	put(w, 3, 7);
	put(w, 0, 2);
	put(w, 1, -1);
	if (end) {
		put(w, 2, 0);
		put(w, 4, 9);
		assert_int_equal(cbd_tw_end(w, 4, 1, &e), CBD_OK);
	}
	cbd_tw_close(w);
	return path;
}

static void test_roundtrip(void **state)
{
	const char *p = write_full("a.jsonl", 1);
	cbd_transcript *t;
	const cbd_transcript_header *h;
	const cbd_transcript_record *r;
	cbd_err e = {0};
	uint8_t head[32], head2[32], *buf;
	size_t len, lines;

	(void)state;
	assert_int_equal(cbd_transcript_load(p, &t, &e), CBD_OK);
	h = cbd_transcript_get_header(t);
	assert_string_equal(h->format, "cbd-transcript/1");
	assert_string_equal(h->endpoint, "http://127.0.0.1:1/x\"y");
	assert_string_equal(h->backend, "oip");
	assert_int_equal(h->num_triggers, 5);
	assert_int_equal(h->num_classes, 10);
	assert_int_equal(h->triggers_digest[31], 0xab);
	assert_int_equal(cbd_transcript_count(t), 5);
	assert_int_equal(cbd_transcript_answered(t), 4);
	assert_int_equal(cbd_transcript_failed(t), 1);
	assert_true(cbd_transcript_complete(t));
	assert_int_equal(cbd_transcript_lines(t), 7);
	r = cbd_transcript_record_at(t, 0);
	assert_int_equal(r->seq, 1);
	assert_int_equal(r->index, 3);
	assert_string_equal(r->trigger_id, "t3");
	assert_int_equal(r->label, 7);
	assert_null(r->error);
	assert_int_equal(r->num_scores, 10);
	assert_true(r->scores[1] == 1.0f / 3.0f);
	assert_int_equal(r->request_digest[0], 3);
	assert_int_equal(r->response_digest[0], 4);
	r = cbd_transcript_record_at(t, 2);
	assert_int_equal(r->label, -1);
	assert_string_equal(r->error, "HTTP 500");
	assert_int_equal(r->status, 500);
	assert_int_equal(r->attempts, 3);
	assert_null(r->scores);
	cbd_transcript_head(t, head);
	assert_int_equal(cbd_file_read(p, 1 << 20, &buf, &len, &e), CBD_OK);
	assert_true(cbd_transcript_sniff(buf, len));
	assert_int_equal(cbd_transcript_verify(buf, len, p, &lines, head2, &e),
			 CBD_OK);
	assert_int_equal(lines, 7);
	assert_memory_equal(head, head2, 32);
	free(buf);
	cbd_transcript_free(t);
}

static cbd_status load_modified(const char *p, void (*mod)(uint8_t *,
							   size_t *),
				cbd_err *e)
{
	uint8_t *buf;
	size_t len;
	cbd_transcript *t = NULL;
	cbd_status s;

	assert_int_equal(cbd_file_read(p, 1 << 20, &buf, &len, e), CBD_OK);
	mod(buf, &len);
	s = cbd_transcript_parse(buf, len, "mod", &t, e);
	cbd_transcript_free(t);
	free(buf);
	return s;
}

static size_t line_start(const uint8_t *b, size_t len, int n)
{
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		const uint8_t *nl = memchr(b + off, '\n', len - off);

		off = (size_t)(nl - b) + 1;
	}
	return off;
}

static void flip_label(uint8_t *b, size_t *len)
{
	uint8_t *p = (uint8_t *)strstr((char *)b, "\"label\":7");

	(void)len;
	p[8] = '8';
}

static void delete_line2(uint8_t *b, size_t *len)
{
	size_t s = line_start(b, *len, 2), e = line_start(b, *len, 3);

	memmove(b + s, b + e, *len - e);
	*len -= e - s;
}

static void drop_tail(uint8_t *b, size_t *len)
{
	(void)b;
	*len -= 5;
}

static void test_tamper(void **state)
{
	const char *p = write_full("b.jsonl", 1);
	cbd_err e = {0};

	(void)state;
	assert_int_equal(load_modified(p, flip_label, &e), CBD_E_VERIFY);
	assert_non_null(strstr(e.msg, "line 3"));
	assert_int_equal(load_modified(p, delete_line2, &e), CBD_E_VERIFY);
	assert_int_equal(load_modified(p, drop_tail, &e), CBD_E_FORMAT);
	assert_non_null(strstr(e.msg, "truncated"));
}

static void test_resume(void **state)
{
	const char *p = write_full("c.jsonl", 0);
	char path[128];
	cbd_tw_header h = header();
	uint8_t done[5] = {0};
	size_t ans = 0, fail = 0;
	int fin = 0;
	cbd_tw *w;
	cbd_transcript *t;
	cbd_err e = {0};
	FILE *f;

	(void)state;
	strcpy(path, p);
	/* a torn line, as if killed mid-write */
	f = fopen(path, "a");
	fputs("{\"type\":\"query\",\"seq\":4,\"prev\":\"12", f);
	fclose(f);
	assert_int_equal(cbd_transcript_load(path, &t, &e), CBD_E_FORMAT);
	/* resuming with another trigger set is refused */
	h.triggers_digest[0] = 0;
	assert_int_not_equal(cbd_tw_resume(path, &h, done, &ans, &fail, &fin,
					   &w, &e), CBD_OK);
	h = header();
	assert_int_equal(cbd_tw_resume(path, &h, done, &ans, &fail, &fin, &w,
				       &e), CBD_OK);
	assert_false(fin);
	assert_int_equal(ans, 1 + 1);
	assert_int_equal(fail, 1);
	assert_true(done[0] && done[1] && done[3]);
	assert_false(done[2] || done[4]);
	put(w, 2, 1);
	put(w, 4, 5);
	assert_int_equal(cbd_tw_end(w, 4, 1, &e), CBD_OK);
	cbd_tw_close(w);
	assert_int_equal(cbd_transcript_load(path, &t, &e), CBD_OK);
	assert_int_equal(cbd_transcript_count(t), 5);
	assert_true(cbd_transcript_complete(t));
	assert_int_equal(cbd_transcript_lines(t), 8); /* + resume line */
	cbd_transcript_free(t);
	/* a finished transcript resumes to nothing */
	memset(done, 0, sizeof(done));
	assert_int_equal(cbd_tw_resume(path, &h, done, &ans, &fail, &fin, &w,
				       &e), CBD_OK);
	assert_true(fin);
	assert_null(w);
}

static void test_duplicate(void **state)
{
	char path[128];
	cbd_tw_header h = header();
	cbd_tw *w;
	cbd_transcript *t;
	cbd_err e = {0};

	(void)state;
	snprintf(path, sizeof(path), "%s/d.jsonl", dir);
	assert_int_equal(cbd_tw_create(path, &h, 1, &w, &e), CBD_OK);
	put(w, 1, 2);
	put(w, 1, 2);
	cbd_tw_close(w);
	assert_int_equal(cbd_transcript_load(path, &t, &e), CBD_E_FORMAT);
	assert_non_null(strstr(e.msg, "twice"));
	/* O_EXCL: an existing file is not overwritten by accident */
	assert_int_equal(cbd_tw_create(path, &h, 0, &w, &e), CBD_E_CANTCREAT);
}

/* A header's num_triggers sizes the parser's bookkeeping: past the
 * trigger-set limit it is refused before anything is allocated (the fuzz
 * finding was a 300-byte header asking for 1.5 GB). */
static void test_num_triggers_limit(void **state)
{
	static const size_t n[3] = {CBD_MAX_TRIGGERS, CBD_MAX_TRIGGERS + 1,
				    1494010162};
	char path[128];
	cbd_tw_header h = header();
	cbd_transcript *t = NULL;
	cbd_tw *w;
	cbd_err e = {0};

	(void)state;
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/n%d.jsonl", dir, i);
		h.num_triggers = n[i];
		assert_int_equal(cbd_tw_create(path, &h, 1, &w, &e), CBD_OK);
		cbd_tw_close(w);
		assert_int_equal(cbd_transcript_load(path, &t, &e),
				 i == 0 ? CBD_OK : CBD_E_FORMAT);
		if (i == 0)
			assert_int_equal(cbd_transcript_get_header(t)
						 ->num_triggers,
					 CBD_MAX_TRIGGERS);
		else
			assert_non_null(strstr(e.msg, "num_triggers"));
		cbd_transcript_free(t);
		t = NULL;
	}
}

static void test_resume_torn_header(void **state)
{
	char path[128];
	cbd_tw_header h = header();
	uint8_t done[5] = {0};
	size_t ans = 0, fail = 0;
	int fin = 0;
	cbd_tw *w = NULL;
	cbd_transcript *t;
	cbd_err e = {0};
	FILE *f;

	(void)state;
	/* killed while writing the header: starts afresh */
	snprintf(path, sizeof(path), "%s/h.jsonl", dir);
	f = fopen(path, "w");
	fputs("{\"format\":\"cbd-tr", f);
	fclose(f);
	assert_int_equal(cbd_tw_resume(path, &h, done, &ans, &fail, &fin, &w,
				       &e), CBD_OK);
	put(w, 0, 1);
	cbd_tw_close(w);
	assert_int_equal(cbd_transcript_load(path, &t, &e), CBD_OK);
	assert_int_equal(cbd_transcript_count(t), 1);
	cbd_transcript_free(t);
	/* but some other file is never overwritten */
	snprintf(path, sizeof(path), "%s/other.txt", dir);
	f = fopen(path, "w");
	fputs("precious", f);
	fclose(f);
	assert_int_not_equal(cbd_tw_resume(path, &h, done, &ans, &fail, &fin,
					   &w, &e), CBD_OK);
	f = fopen(path, "r");
	assert_non_null(fgets(path, sizeof(path), f));
	fclose(f);
	assert_string_equal(path, "precious");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_resume_torn_header),
		cmocka_unit_test(test_num_triggers_limit),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
