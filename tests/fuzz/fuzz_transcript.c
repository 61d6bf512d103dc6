/*
 * fuzz_transcript.c — libFuzzer target for transcripts
 * (cbd_transcript_parse / cbd_transcript_verify, formats/transcript.md).
 *
 * Each line carries the SHA-256 of the line before it, which mutation
 * cannot keep right, so the input is parsed twice: as it is (the chain
 * check), and after rewriting every "prev" value to the digest of the
 * mutated line before it, which lets mutations reach the field checks.
 * An accepted transcript's record accessors are walked to the end.
 */
#include "fuzz.h"

#include "util/util_internal.h"

static void transcript_fix_chain(uint8_t *b, size_t n)
{
	uint8_t prev[CBD_SHA256_LEN] = {0};
	size_t off = 0;

	while (off < n) {
		uint8_t *nl = memchr(b + off, '\n', n - off);
		size_t ll = nl ? (size_t)(nl - (b + off)) : n - off;
		uint8_t *p = memmem(b + off, ll, "\"prev\":\"", 8);
		char hex[2 * CBD_SHA256_LEN + 1];

		if (p && (size_t)(p - (b + off)) + 8 + 64 <= ll) {
			cbd_hex(prev, CBD_SHA256_LEN, hex);
			memcpy(p + 8, hex, 64);
		}
		cbd_sha256(b + off, ll, prev, NULL);
		off += ll + 1;
	}
}

static void transcript_walk(const cbd_transcript *t)
{
	const cbd_transcript_header *h = cbd_transcript_get_header(t);
	size_t n = cbd_transcript_count(t), answered = 0, failed = 0;
	uint8_t head[CBD_SHA256_LEN];

	if (!h || !h->format || !h->endpoint || !h->backend)
		fuzz_fail("accepted transcript has no header strings");
	for (size_t i = 0; i < n; i++) {
		const cbd_transcript_record *r = cbd_transcript_record_at(t, i);
		volatile float sum = 0;

		if (!r || r->attempts < 1)
			fuzz_fail("record missing or without attempts");
		for (int j = 0; j < r->num_scores; j++)
			sum += r->scores[j];
		if (r->trigger_id)
			(void)strlen(r->trigger_id);
		if (r->error)
			(void)strlen(r->error);
		answered += r->label >= 0;
		failed += r->error != NULL;
	}
	(void)answered;
	(void)failed;
	cbd_transcript_head(t, head);
	(void)cbd_transcript_lines(t);
	(void)cbd_transcript_complete(t);
}

static void transcript_one(const uint8_t *data, size_t size)
{
	cbd_transcript *t = NULL;
	cbd_err e = {0};
	size_t lines = 0;
	cbd_status s, v;

	s = cbd_transcript_parse(data, size, "fuzz", &t, &e);
	fuzz_check_err(s, &e, "cbd_transcript_parse");
	v = cbd_transcript_verify(data, size, "fuzz", &lines, NULL, &e);
	fuzz_check_err(v, &e, "cbd_transcript_verify");
	if (s == CBD_OK) {
		if (v != CBD_OK || lines != cbd_transcript_lines(t))
			fuzz_fail("parsed transcript does not verify");
		transcript_walk(t);
	} else if (t) {
		fuzz_fail("failed parse left a transcript in *out");
	}
	cbd_transcript_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	transcript_one(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	transcript_fix_chain(copy, size);
	transcript_one(copy, size);
	free(copy);
	return 0;
}
