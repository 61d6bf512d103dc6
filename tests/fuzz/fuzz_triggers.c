/*
 * fuzz_triggers.c — libFuzzer target for trigger sets
 * (cbd_triggerset_load, formats/triggers.md).
 *
 * A trigger set is signed over its exact bytes, which mutation breaks, so
 * each input is written to /dev/shm with a fresh FILE.sig made by the fixed
 * fuzz owner key (fuzz.h): inputs whose signer is that key (the seeds)
 * get past the signature and reach the geometry and trigger checks.  An
 * accepted set's triggers are read back through the accessors.
 */
#include "fuzz.h"
#include "util/util_internal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static int triggers_put(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = d;

	if (fd < 0)
		return -1;
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return close(fd);
}

static void triggers_sign(const char *sig_path, const uint8_t *d, size_t n)
{
	static const char domain[] = "cbd/triggers/v1";   /* + its NUL */
	uint8_t msg[sizeof(domain) + CBD_SHA256_LEN], sig[CBD_SIG_LEN];
	char kid[CBD_KEY_ID_LEN + 1], hex[2 * CBD_SIG_LEN + 1], text[400];
	cbd_key *k = fuzz_owner_key();
	cbd_err e = {0};

	memcpy(msg, domain, sizeof(domain));
	cbd_sha256(d, n, msg + sizeof(domain), &e);
	if (cbd_key_sign(k, msg, sizeof(msg), sig, &e) != CBD_OK)
		fuzz_fail("cannot sign");
	cbd_key_id(k, kid);
	cbd_hex(sig, sizeof(sig), hex);
	snprintf(text, sizeof(text), "{\"format\": \"cbd-triggers-sig/1\", "
		 "\"key_id\": \"%s\", \"signature\": \"%s\"}\n", kid, hex);
	if (triggers_put(sig_path, text, strlen(text)) != 0)
		fuzz_fail("cannot write the signature file");
}

static void triggers_walk(const cbd_triggerset *ts)
{
	size_t n = cbd_triggerset_count(ts);
	int k = cbd_triggerset_num_classes(ts);
	uint8_t id[CBD_CIRCUIT_ID_LEN], d[CBD_SHA256_LEN];

	cbd_triggerset_circuit_id(ts, id);
	cbd_triggerset_digest(ts, d);
	for (size_t i = 0; i < n && i < 64; i++) {
		const cbd_trigger *t = cbd_triggerset_get(ts, i);
		float *x = NULL;
		cbd_err e = {0};
		cbd_status s;

		if (!t || !t->id || !t->input || !t->message ||
		    t->owner_label >= k)
			fuzz_fail("trigger accessor inconsistent");
		s = cbd_triggerset_input_float(ts, i, &x, &e);
		fuzz_check_err(s, &e, "cbd_triggerset_input_float");
		free(x);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], sig[300];
	cbd_triggerset *ts = NULL;
	cbd_err e = {0};
	cbd_status s;

	snprintf(path, sizeof(path), "/dev/shm/cbd-fuzz-triggers.%ld",
		 (long)getpid());
	snprintf(sig, sizeof(sig), "%s.sig", path);
	if (triggers_put(path, data, size) != 0)
		fuzz_fail("cannot write the input file");
	triggers_sign(sig, data, size);
	s = cbd_triggerset_load(path, NULL, &ts, &e);
	fuzz_check_err(s, &e, "cbd_triggerset_load");
	if (s == CBD_OK)
		triggers_walk(ts);
	else if (ts)
		fuzz_fail("failed load left a trigger set in *out");
	cbd_triggerset_free(ts);
	unlink(path);
	unlink(sig);
	return 0;
}
