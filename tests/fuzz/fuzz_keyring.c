/*
 * fuzz_keyring.c — libFuzzer target for the keyring readers
 * (cbd_keyring_load, formats/keyring.md): the JSON file (format 1) and,
 * for inputs that start with the SQLite header, the database (format 2,
 * lib/keyring/store.c: schema checks, row checks, cbd_keyring_scan).
 *
 * The loader takes a path and insists on mode 0600, so each input is
 * written to a private file in /dev/shm (tmpfs, no disk I/O) first.  An
 * accepted keyring must save and load back with the same users.
 */
#include "fuzz.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void keyring_path(char *p, size_t cap, const char *what)
{
	snprintf(p, cap, "/dev/shm/cbd-fuzz-keyring-%s.%ld", what,
		 (long)getpid());
}

static int keyring_write(const char *path, const uint8_t *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	(void)fchmod(fd, 0600);
	while (off < n) {
		ssize_t w = write(fd, d + off, n - off);

		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}

static void keyring_roundtrip(const cbd_keyring *kr)
{
	char path[256];
	cbd_keyring *again = NULL;
	cbd_err e = {0};
	cbd_status s;

	keyring_path(path, sizeof(path), "out");
	unlink(path);
	s = cbd_keyring_save(kr, path, &e);
	fuzz_check_err(s, &e, "cbd_keyring_save");
	if (s != CBD_OK)
		fuzz_fail("an accepted keyring cannot be saved");
	s = cbd_keyring_load(path, &again, &e);
	unlink(path);
	if (s != CBD_OK || cbd_keyring_count(again) != cbd_keyring_count(kr))
		fuzz_fail("saved keyring does not load back the same");
	for (size_t i = 0; i < cbd_keyring_count(kr); i++) {
		const cbd_user *a = cbd_keyring_user(kr, i);
		const cbd_user *b = cbd_keyring_find(again, a->id);

		if (!b || memcmp(a->trace_secret, b->trace_secret,
				 CBD_TRACE_SECRET_LEN) != 0 ||
		    a->created != b->created)
			fuzz_fail("keyring user changed in a round trip");
	}
	cbd_keyring_free(again);
}

static cbd_status count_row(void *ud, const cbd_keyring_row *r, cbd_err *e)
{
	(void)r;
	(void)e;
	++*(size_t *)ud;
	return CBD_OK;
}

static void db_scan_twice(const cbd_keyring *kr)
{
	uint8_t d1[CBD_SHA256_LEN], d2[CBD_SHA256_LEN];
	size_t n1 = 0, n2 = 0;
	cbd_keyring_visitor v1 = {NULL, count_row, &n1}, v2 = {NULL, count_row,
							       &n2};
	cbd_err e = {0};
	cbd_status s1 = cbd_keyring_scan(kr, &v1, d1, &e);
	cbd_status s2 = cbd_keyring_scan(kr, &v2, d2, &e);

	if (s1 != s2 || (s1 == CBD_OK && (n1 != n2 ||
					  n1 != cbd_keyring_count(kr) ||
					  memcmp(d1, d2, sizeof(d1)) != 0)))
		fuzz_fail("database keyring scans disagree");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256];
	cbd_keyring *kr = NULL;
	cbd_err e = {0};
	cbd_status s;

	keyring_path(path, sizeof(path), "in");
	if (keyring_write(path, data, size) != 0)
		fuzz_fail("cannot write the input file");
	s = cbd_keyring_load(path, &kr, &e);
	fuzz_check_err(s, &e, "cbd_keyring_load");
	if (s == CBD_OK) {
		for (size_t i = 0; i < cbd_keyring_count(kr); i++) {
			const cbd_user *u = cbd_keyring_user(kr, i);

			if (!u || !u->id || !u->key ||
			    cbd_keyring_find(kr, u->id) != u)
				fuzz_fail("keyring user lookup inconsistent");
		}
		if (cbd_keyring_form_of(kr) == CBD_KEYRING_DB)
			db_scan_twice(kr);
		else
			keyring_roundtrip(kr);
	} else if (kr) {
		fuzz_fail("failed load left a keyring in *out");
	}
	cbd_keyring_free(kr);
	unlink(path);   /* after the scans: the database is read lazily */
	for (int i = 0; i < 2; i++) {
		char side[300];

		snprintf(side, sizeof(side), "%s-%s", path, i ? "shm" : "wal");
		unlink(side);
	}
	return 0;
}
