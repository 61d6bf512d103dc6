/*
 * test_report.c — the pieces of lib/report that need no attribution: the
 * canonical number formats (p-values from logarithms, below the double
 * range too), the time format, sniffing, and refusing what is not a signed
 * report (wrong prefix, broken JSON, oversized, unsigned, an embedded key
 * id that is not the embedded key's) and keys that may not sign reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/report_internal.h"

static void test_p_value_format(void **state)
{
	char s[32];

	(void)state;
	cbd_report_fmt_logp(log(1e-64), s);
	assert_string_equal(s, "1.000000e-64");
	cbd_report_fmt_logp(-400 * log(10.0), s);
	assert_string_equal(s, "1.000000e-400");
	cbd_report_fmt_logp(0.0, s);
	assert_string_equal(s, "1.000000e0");
	cbd_report_fmt_logp(log(0.5), s);
	assert_string_equal(s, "5.000000e-1");
	cbd_report_fmt_logp(-INFINITY, s);
	assert_string_equal(s, "0");
	/* a mantissa that would round to 10 moves to the next decade */
	cbd_report_fmt_logp(log(9.99999999e-5), s);
	assert_string_equal(s, "1.000000e-4");
	cbd_report_fmt_logp(log(3.078292e-1), s);
	assert_string_equal(s, "3.078292e-1");
	/* every formatted value parses back within the printed precision */
	for (double l10 = -300; l10 < 0; l10 += 7.37) {
		double v;

		cbd_report_fmt_logp(l10 * log(10.0), s);
		v = strtod(s, NULL);
		assert_true(fabs(log10(v) - l10) < 1e-6);
	}
	cbd_report_fmt_logp_short(log(2.0e-63), s);
	assert_string_equal(s, "2.0e-63");
	cbd_report_fmt_logp_short(log(9.96e-23), s);
	assert_string_equal(s, "1.0e-22");
	cbd_report_fmt_logp_short(0.0, s);
	assert_string_equal(s, "1");
	/* values only a malformed report holds (fuzz finding: the PDF of a
	 * report with alpha -9 formatted log(-9) = NaN through an int cast) */
	cbd_report_fmt_logp(NAN, s);
	assert_string_equal(s, "nan");
	cbd_report_fmt_logp_short(NAN, s);
	assert_string_equal(s, "nan");
	cbd_report_fmt_logp(-1e300, s);
	assert_true(strncmp(s, "1.000000e-4342944819032518", 26) == 0);
	cbd_report_fmt_logp_short(-1e300, s);
	assert_true(strncmp(s, "1.0e-4342944819032518", 21) == 0);
}

static void test_time_format(void **state)
{
	char s[32];

	(void)state;
	cbd_report_fmt_time(0, s);
	assert_string_equal(s, "1970-01-01T00:00:00Z");
	cbd_report_fmt_time(1700000000, s);
	assert_string_equal(s, "2023-11-14T22:13:20Z");
}

static void test_sniff_and_refuse(void **state)
{
	static const char ok[] = "{\n  \"format\": \"cbd-report/1\",\n"
				 "  \"investigator\": {\"name\": \"x\", "
				 "\"key_id\": null, \"public_key\": null}\n}\n";
	static const char compact[] = "{\"format\":\"cbd-report/1\"}";
	uint8_t sig[CBD_SIG_LEN] = {0};
	cbd_key *k = NULL;
	char *pem = NULL, *doc = NULL, kid[CBD_KEY_ID_LEN + 1];
	void *j = NULL;
	cbd_err e = {0};

	(void)state;
	assert_true(cbd_report_sniff((const uint8_t *)ok, strlen(ok)));
	assert_false(cbd_report_sniff((const uint8_t *)compact,
				      strlen(compact)));
	assert_false(cbd_report_sniff((const uint8_t *)ok, 10));
	assert_int_equal(cbd_report_parse((const uint8_t *)compact,
					  strlen(compact), &j, &e),
			 CBD_E_FORMAT);
	assert_int_equal(cbd_report_parse((const uint8_t *)ok, 40, &j, &e),
			 CBD_E_FORMAT);   /* truncated JSON */
	assert_int_equal(cbd_report_parse((const uint8_t *)ok,
					  CBD_MAX_REPORT + 1, &j, &e),
			 CBD_E_TOOBIG);
	/* unsigned: nothing to verify with */
	assert_int_equal(cbd_report_verify((const uint8_t *)ok, strlen(ok),
					   sig, NULL, NULL, &e), CBD_E_VERIFY);
	/* an embedded key whose id is not the one written beside it */
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_public_pem(k, &pem, &e), CBD_OK);
	{
		size_t n = strlen(pem) * 2 + 256;
		char *esc = calloc(1, strlen(pem) * 2 + 1), *q = esc;

		for (const char *p = pem; *p; p++) {
			if (*p == '\n') {
				*q++ = '\\';
				*q++ = 'n';
			} else {
				*q++ = *p;
			}
		}
		doc = calloc(1, n);
		snprintf(doc, n, "{\n  \"format\": \"cbd-report/1\",\n"
			 "  \"investigator\": {\"name\": \"x\", \"key_id\": "
			 "\"0000000000000000\", \"public_key\": \"%s\"}\n}\n",
			 esc);
		free(esc);
	}
	assert_int_equal(cbd_report_verify((const uint8_t *)doc, strlen(doc),
					   sig, NULL, kid, &e), CBD_E_VERIFY);
	assert_non_null(strstr(e.msg, "does not match"));
	/* with the right key id it verifies through the detached file; a
	 * file of the wrong length is a format error naming it */
	{
		char want[CBD_KEY_ID_LEN + 1], path[64], *at = strstr(doc,
			"0000000000000000");
		uint8_t bad[CBD_SIG_LEN - 1] = {0};

		cbd_key_id(k, want);
		memcpy(at, want, CBD_KEY_ID_LEN);
		assert_int_equal(cbd_report_sign(k, (const uint8_t *)doc,
						 strlen(doc), sig, &e), CBD_OK);
		snprintf(path, sizeof(path), "/tmp/cbd-test-report-%d.sig",
			 (int)getpid());
		assert_int_equal(cbd_file_write_atomic(path, sig, sizeof(sig),
						       0644, &e), CBD_OK);
		assert_int_equal(cbd_report_verify_file((const uint8_t *)doc,
							strlen(doc), path, k,
							kid, &e), CBD_OK);
		assert_string_equal(kid, want);
		doc[strlen(doc) - 3] ^= 1;   /* one byte of the report */
		assert_int_equal(cbd_report_verify_file((const uint8_t *)doc,
							strlen(doc), path, NULL,
							kid, &e), CBD_E_VERIFY);
		assert_int_equal(cbd_file_write_atomic(path, bad, sizeof(bad),
						       0644, &e), CBD_OK);
		assert_int_equal(cbd_report_verify_file((const uint8_t *)doc,
							strlen(doc), path, NULL,
							kid, &e), CBD_E_FORMAT);
		assert_non_null(strstr(e.msg, "signature is not 64 raw bytes"));
		unlink(path);
	}
	/* P-256 keys do not sign reports; public keys do not sign at all */
	{
		cbd_key *p256 = NULL, *pub = NULL;

		assert_int_equal(cbd_key_generate(CBD_KEY_P256, &p256, &e),
				 CBD_OK);
		assert_int_equal(cbd_report_sign(p256, (const uint8_t *)ok,
						 strlen(ok), sig, &e),
				 CBD_E_UNSUPPORTED);
		assert_int_equal(cbd_key_public_copy(k, &pub, &e), CBD_OK);
		assert_int_equal(cbd_report_sign(pub, (const uint8_t *)ok,
						 strlen(ok), sig, &e),
				 CBD_E_USAGE);
		cbd_key_free(p256);
		cbd_key_free(pub);
	}
	free(doc);
	free(pem);
	cbd_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p_value_format),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_sniff_and_refuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
