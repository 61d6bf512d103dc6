/*
 * fuzz_keyring.c — libFuzzer target for the keyring reader
 * (cbd_keyring_load, formats/keyring.md).
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
	unlink(path);
	fuzz_check_err(s, &e, "cbd_keyring_load");
	if (s == CBD_OK) {
		for (size_t i = 0; i < cbd_keyring_count(kr); i++) {
			const cbd_user *u = cbd_keyring_user(kr, i);

			if (!u || !u->id || !u->key ||
			    cbd_keyring_find(kr, u->id) != u)
				fuzz_fail("keyring user lookup inconsistent");
		}
		keyring_roundtrip(kr);
	} else if (kr) {
		fuzz_fail("failed load left a keyring in *out");
	}
	cbd_keyring_free(kr);
	return 0;
}
