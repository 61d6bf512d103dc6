/*
 * fuzz_archive.c — libFuzzer target for model archives
 * (cbd_archive_open_mem: gzip, tar members, manifest, signature, circuit).
 *
 * Each input is opened twice: as an archive file, and as the tar stream
 * inside one (compressed here with the archive's own gzip writer), so that
 * mutations get past the gzip CRC and reach the tar reader and the
 * manifest checks.  An accepted archive's views are read.
 */
#include "fuzz.h"
#include "archive/archive_internal.h"

static void archive_one(const uint8_t *d, size_t n)
{
	cbd_archive *a = NULL;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_archive_open_mem(d, n, "fuzz", &a, &e);
	fuzz_check_err(s, &e, "cbd_archive_open_mem");
	if (s == CBD_OK) {
		size_t ml = 0, nl = 0;
		const uint8_t *m = cbd_archive_model(a, &ml);
		const char *man = cbd_archive_manifest(a, &nl);

		if (!m || !man || !cbd_archive_circuit(a) ||
		    !cbd_archive_signer(a) || !cbd_archive_model_name(a))
			fuzz_fail("accepted archive has empty views");
		(void)cbd_archive_signed_by(a, cbd_archive_signer(a));
	} else if (a) {
		fuzz_fail("failed open left an archive in *out");
	}
	cbd_archive_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *gz = NULL;
	size_t glen = 0;
	cbd_err e = {0};

	archive_one(data, size);
	if (cbd_gz_encode(data, size, &gz, &glen, &e) == CBD_OK)
		archive_one(gz, glen);
	free(gz);
	return 0;
}
