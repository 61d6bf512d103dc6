/*
 * fuzz_report.c — libFuzzer target for reading attribution reports:
 * cbd_report_verify (parse, embedded investigator key, signature) and
 * cbd_report_pdf (every field drawn on the page).
 *
 * The signature is all zeros, so verification must fail cleanly; the PDF
 * is drawn from whatever the reader accepted.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_sig[CBD_SIG_LEN];
	char kid[CBD_KEY_ID_LEN + 1];
	cbd_report_pdf_opts po = {0};
	uint8_t *pdf = NULL;
	size_t pdf_len = 0;
	cbd_err e = {0};
	cbd_status s;

	(void)cbd_report_sniff(data, size);
	s = cbd_report_verify(data, size, zero_sig, NULL, kid, &e);
	fuzz_check_err(s, &e, "cbd_report_verify");
	if (s == CBD_OK)
		fuzz_fail("an all-zero signature verified");
	po.signature = "unsigned";
	po.created = 1;
	s = cbd_report_pdf(data, size, &po, &pdf, &pdf_len, &e);
	fuzz_check_err(s, &e, "cbd_report_pdf");
	if (s == CBD_OK && (pdf_len < 5 || memcmp(pdf, "%PDF-", 5) != 0))
		fuzz_fail("report PDF is not a PDF");
	free(pdf);
	return 0;
}
