/*
 * test_archive.c — unit tests for lib/archive/: round trip with a real
 * circuit and real keys, deterministic bytes, every single-byte change of a
 * small archive refused, truncation at every length refused, the strict
 * gzip layer (header, padding, trailer, bombs), the member walk, and
 * tampered members re-signed by another key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive_internal.h"
#include "keys/keys_internal.h"
#include "fixture.h"

struct fixture {
	cbd_key *owner;
	cbd_circuit *circuit;
	uint8_t onnx[700];
	cbd_archive_params p;
	uint8_t *buf;
	size_t len;
};

static int setup(void **state)
{
	static const char *classes[10] = {"zero", "one", "two", "three",
					  "four", "five", "six", "seven",
					  "eight", "nine"};
	struct fixture *f = calloc(1, sizeof(*f));
	cbd_err e = {0};

	if (!f || cbd_key_generate(CBD_KEY_ED25519, &f->owner, &e) != CBD_OK)
		return -1;
	f->circuit = fx_circuit(CBD_MODE_WATERMARK, &f->owner, 1, NULL, NULL,
				NULL);
	for (size_t i = 0; i < sizeof(f->onnx); i++)
		f->onnx[i] = (uint8_t)(i * 7 + 3);
	f->p = (cbd_archive_params){
		.model_name = "tiny", .onnx = f->onnx,
		.onnx_len = sizeof(f->onnx), .circuit = f->circuit,
		.input_name = "input", .classes = classes, .owner = f->owner,
		.created = 1700000000};
	if (cbd_archive_encode(&f->p, &f->buf, &f->len, &e) != CBD_OK) {
		fprintf(stderr, "encode: %s\n", e.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->buf);
	cbd_circuit_free(f->circuit);
	cbd_key_free(f->owner);
	free(f);
	return 0;
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	cbd_archive *a = NULL;
	cbd_err e = {0};
	size_t n, mlen;
	const uint8_t *model;
	const char *man;
	uint8_t id1[CBD_CIRCUIT_ID_LEN], id2[CBD_CIRCUIT_ID_LEN];
	cbd_key *other = NULL;

	assert_int_equal(cbd_archive_open_mem(f->buf, f->len, "t", &a, &e),
			 CBD_OK);
	model = cbd_archive_model(a, &n);
	assert_int_equal(n, sizeof(f->onnx));
	assert_memory_equal(model, f->onnx, n);
	assert_string_equal(cbd_archive_model_name(a), "tiny");
	assert_string_equal(cbd_archive_input_name(a), "input");
	assert_string_equal(cbd_archive_class_name(a, 3), "three");
	assert_null(cbd_archive_class_name(a, 10));
	assert_null(cbd_archive_user(a));
	assert_int_equal(cbd_archive_created(a), 1700000000);
	assert_true(cbd_archive_signed_by(a, f->owner));
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &other, &e), CBD_OK);
	assert_false(cbd_archive_signed_by(a, other));
	cbd_circuit_id(f->circuit, id1);
	cbd_circuit_id(cbd_archive_circuit(a), id2);
	assert_memory_equal(id1, id2, sizeof(id1));
	man = cbd_archive_manifest(a, &mlen);
	assert_int_equal(strlen(man), mlen);
	assert_non_null(strstr(man, "\"format\": \"cbd-archive/1\""));
	assert_non_null(strstr(man, "\"mode\": \"watermark\""));
	cbd_key_free(other);
	cbd_archive_free(a);
}

static void test_deterministic(void **state)
{
	struct fixture *f = *state;
	uint8_t *b2 = NULL;
	size_t l2 = 0;
	cbd_err e = {0};

	/* Ed25519 signatures are deterministic, so the whole file is. */
	assert_int_equal(cbd_archive_encode(&f->p, &b2, &l2, &e), CBD_OK);
	assert_int_equal(l2, f->len);
	assert_memory_equal(b2, f->buf, l2);
	free(b2);
	/* gzip header: no name, no mtime, XFL 2, OS 3. */
	assert_memory_equal(f->buf, "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03",
			    10);
}

static void test_every_byte_flip_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *copy = malloc(f->len);
	cbd_err e = {0};

	assert_non_null(copy);
	for (size_t i = 0; i < f->len; i++) {
		static const uint8_t masks[] = {0x01, 0x80, 0xff};

		for (size_t k = 0; k < sizeof(masks); k++) {
			cbd_archive *a = NULL;
			cbd_status s;

			memcpy(copy, f->buf, f->len);
			copy[i] ^= masks[k];
			s = cbd_archive_open_mem(copy, f->len, "t", &a, &e);
			if (s == CBD_OK)
				fprintf(stderr, "accepted flip 0x%02x at %zu "
					"of %zu\n", masks[k], i, f->len);
			assert_int_not_equal(s, CBD_OK);
			assert_null(a);
		}
	}
	free(copy);
}

static void test_truncation_refused(void **state)
{
	struct fixture *f = *state;
	cbd_err e = {0};

	for (size_t n = 0; n < f->len; n++) {
		cbd_archive *a = NULL;

		assert_int_not_equal(cbd_archive_open_mem(f->buf, n, "t", &a,
							  &e), CBD_OK);
	}
	/* And an extra byte after the trailer. */
	{
		uint8_t *b = malloc(f->len + 1);
		cbd_archive *a = NULL;

		memcpy(b, f->buf, f->len);
		b[f->len] = 0;
		assert_int_equal(cbd_archive_open_mem(b, f->len + 1, "t", &a,
						      &e), CBD_E_FORMAT);
		free(b);
	}
}

/* Re-pack members (after an edit) into a gzip'd tar. */
static void repack(struct cbd_ar_member m[AR_NMEMBERS], int64_t mtime,
		   uint8_t **out, size_t *olen)
{
	uint8_t *tar = NULL;
	size_t tlen = 0;
	cbd_err e = {0};

	assert_int_equal(cbd_tar_encode(m, mtime, &tar, &tlen, &e), CBD_OK);
	assert_int_equal(cbd_gz_encode(tar, tlen, out, olen, &e), CBD_OK);
	free(tar);
}

static void unpack(const struct fixture *f, struct cbd_ar_member m[AR_NMEMBERS])
{
	uint8_t *tar = NULL;
	size_t tlen = 0;
	cbd_err e = {0};

	assert_int_equal(cbd_gz_decode(f->buf, f->len, 1 << 20, "t", &tar,
				       &tlen, &e), CBD_OK);
	assert_int_equal(cbd_tar_decode(tar, tlen, "t", m, &e), CBD_OK);
	free(tar);
}

static void test_tampered_members(void **state)
{
	struct fixture *f = *state;
	struct cbd_ar_member m[AR_NMEMBERS];
	uint8_t *b = NULL;
	size_t bl = 0;
	cbd_archive *a = NULL;
	cbd_err e = {0};

	/* Untouched repack is accepted (canonical form is reproducible). */
	unpack(f, m);
	repack(m, 1700000000, &b, &bl);
	assert_int_equal(cbd_archive_open_mem(b, bl, "t", &a, &e), CBD_OK);
	cbd_archive_free(a);
	free(b);
	/* Another mtime in the tar: not canonical. */
	repack(m, 1700000001, &b, &bl);
	assert_int_equal(cbd_archive_open_mem(b, bl, "t", &a, &e),
			 CBD_E_FORMAT);
	assert_non_null(strstr(e.msg, "canonical"));
	free(b);
	/* A changed model byte: digest mismatch naming model.onnx. */
	m[AR_MODEL].data[10] ^= 1;
	repack(m, 1700000000, &b, &bl);
	assert_int_equal(cbd_archive_open_mem(b, bl, "t", &a, &e),
			 CBD_E_VERIFY);
	assert_non_null(strstr(e.msg, "model.onnx"));
	free(b);
	m[AR_MODEL].data[10] ^= 1;
	/* A changed manifest: the signature fails. */
	{
		char *p = strstr((char *)m[AR_MANIFEST].data, "\"tiny\"");

		assert_non_null(p);
		p[1] = 'T';
		repack(m, 1700000000, &b, &bl);
		assert_int_equal(cbd_archive_open_mem(b, bl, "t", &a, &e),
				 CBD_E_VERIFY);
		assert_non_null(strstr(e.msg, "manifest.sig"));
		free(b);
		p[1] = 't';
	}
	cbd_ar_members_free(m);
}

static void test_resigned_by_other_key(void **state)
{
	struct fixture *f = *state;
	cbd_archive_params p = f->p;
	cbd_key *mallory = NULL;
	uint8_t *b = NULL;
	size_t bl = 0;
	cbd_archive *a = NULL;
	cbd_err e = {0};

	/* A well-formed archive by another key opens, but is not the
	 * owner's: that is what cbd_archive_signed_by() is for. */
	assert_int_equal(cbd_key_generate(CBD_KEY_P256, &mallory, &e), CBD_OK);
	p.owner = mallory;
	assert_int_equal(cbd_archive_encode(&p, &b, &bl, &e), CBD_OK);
	assert_int_equal(cbd_archive_open_mem(b, bl, "t", &a, &e), CBD_OK);
	assert_false(cbd_archive_signed_by(a, f->owner));
	assert_true(cbd_archive_signed_by(a, mallory));
	cbd_archive_free(a);
	free(b);
	cbd_key_free(mallory);
}

static void test_gzip_layer(void **state)
{
	static const uint8_t data[] = "hello hello hello hello";
	uint8_t *gz = NULL, *out = NULL;
	size_t glen = 0, olen = 0;
	cbd_err e = {0};
	uint8_t *big;
	size_t bigl = (size_t)3 << 20;

	(void)state;
	assert_int_equal(cbd_gz_encode(data, sizeof(data), &gz, &glen, &e),
			 CBD_OK);
	assert_int_equal(cbd_gz_decode(gz, glen, 100, "g", &out, &olen, &e),
			 CBD_OK);
	assert_int_equal(olen, sizeof(data));
	assert_memory_equal(out, data, olen);
	free(out);
	/* Output cap: refused before allocating (a gzip bomb). */
	assert_int_equal(cbd_gz_decode(gz, glen, 10, "g", &out, &olen, &e),
			 CBD_E_TOOBIG);
	/* A trailer whose ISIZE lies low (the one pass overruns it), lies
	 * high, or is more than deflate can produce: each refused as a
	 * mismatch, nothing returned. */
	for (int k = 0; k < 3; k++) {
		static const uint32_t lie[3] = {sizeof(data) - 1,
						sizeof(data) + 1, 0xffffff};
		uint8_t *bad = malloc(glen);

		memcpy(bad, gz, glen);
		for (int b = 0; b < 4; b++)
			bad[glen - 4 + b] = (uint8_t)(lie[k] >> (8 * b));
		assert_int_equal(cbd_gz_decode(bad, glen, (size_t)1 << 30,
					       "g", &out, &olen, &e),
				 CBD_E_VERIFY);
		assert_non_null(strstr(e.msg, "size mismatch"));
		assert_null(out);
		free(bad);
	}
	free(gz);
	big = calloc(1, bigl);
	assert_int_equal(cbd_gz_encode(big, bigl, &gz, &glen, &e), CBD_OK);
	assert_true(glen < 8192);
	assert_int_equal(cbd_gz_decode(gz, glen, (size_t)1 << 20, "g", &out,
				       &olen, &e), CBD_E_TOOBIG);
	assert_null(out);
	free(big);
	free(gz);
}

static void test_member_names(void **state)
{
	struct fixture *f = *state;
	struct cbd_ar_member m[AR_NMEMBERS];
	cbd_err e = {0};

	(void)f;
	/* Raw tar with one hostile member name, built by hand (ustar). */
	static const char *names[] = {"../model.onnx", "/etc/passwd",
				      "model.onnx/../x", "extra.txt"};
	for (size_t i = 0; i < CBD_ARRAY_LEN(names); i++) {
		uint8_t tar[512 * 4] = {0};
		unsigned sum = 0;

		snprintf((char *)tar, 100, "%s", names[i]);
		memcpy(tar + 100, "0000644", 8);
		memcpy(tar + 108, "0000000", 8);
		memcpy(tar + 116, "0000000", 8);
		memcpy(tar + 124, "00000000001", 12);
		memcpy(tar + 136, "00000000000", 12);
		memset(tar + 148, ' ', 8);
		tar[156] = '0';
		memcpy(tar + 257, "ustar", 6);
		memcpy(tar + 263, "00", 2);
		for (int k = 0; k < 512; k++)
			sum += tar[k];
		snprintf((char *)tar + 148, 8, "%06o", sum);
		tar[512] = 'x';
		assert_int_equal(cbd_tar_decode(tar, sizeof(tar), "t", m, &e),
				 CBD_E_FORMAT);
		assert_non_null(strstr(e.msg, names[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_every_byte_flip_refused),
		cmocka_unit_test(test_truncation_refused),
		cmocka_unit_test(test_tampered_members),
		cmocka_unit_test(test_resigned_by_other_key),
		cmocka_unit_test(test_gzip_layer),
		cmocka_unit_test(test_member_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
