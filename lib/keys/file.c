/*
 * file.c — reading and writing secret files (private keys, keyrings),
 * plus the small id and base64 helpers the key modules share.
 *
 * Reading opens the file once and checks the mode on that descriptor
 * (fstat), so there is no window between the permission check and the read.
 * A secret readable or writable by group/other is refused like ssh refuses
 * an unprotected private key: CBD_E_NOPERM with a "chmod 600" hint.  The
 * bytes come through cbd_fd_read_all in secret mode (lib/util/file.c, the
 * one bounded reader), which never leaves an unwiped copy behind.
 *
 * Writing is cbd_file_write_atomic_ex() (lib/util/file.c) with the secret's
 * mode: a temporary created O_EXCL|O_NOFOLLOW with the final mode, fsync'd,
 * then moved into place; when the caller must not replace an existing file
 * the move is renameat2(RENAME_NOREPLACE), so the existence check and the
 * creation are one atomic step.
 */
#include "keys_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void cbd_secret_free(void *p, size_t len)
{
	if (!p)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static int holds_private_pem(const uint8_t *buf, size_t len)
{
	static const char tag[] = "PRIVATE KEY-----";

	return memmem(buf, len, tag, sizeof(tag) - 1) != NULL;
}

cbd_status cbd_secret_file_read(const char *path, size_t max,
				enum cbd_perm_check check, const char *what,
				uint8_t **buf, size_t *len, cbd_err *err)
{
	struct stat st;
	cbd_status s;
	int fd;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cbd_err_set(err, CBD_E_NOINPUT, "cannot open %s %s: %s",
				   what, path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return cbd_err_set(err, CBD_E_NOINPUT,
				   "%s %s is not a regular file", what, path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "%s larger than %zu bytes (%s)", what, max,
				   path);
	}
	s = cbd_fd_read_all(fd, path, max, (size_t)st.st_size, 1, buf, len,
			    err);
	close(fd);
	if (s != CBD_OK)
		return s;
	if ((st.st_mode & 077) &&
	    (check == CBD_PERM_PRIVATE ||
	     (check == CBD_PERM_BY_CONTENT && holds_private_pem(*buf, *len)))) {
		cbd_secret_free(*buf, *len);
		*buf = NULL;
		*len = 0;
		return cbd_err_set(err, CBD_E_NOPERM,
				   "%s %s is accessible by group or others "
				   "(mode %04o); run 'chmod 600 %s'", what,
				   path, (unsigned)(st.st_mode & 07777), path);
	}
	return CBD_OK;
}

cbd_status cbd_secret_file_write(const char *path, const void *buf,
				 size_t len, unsigned mode, int overwrite,
				 cbd_err *err)
{
	/* Checked first only for the plainer message; the write itself
	 * refuses to replace atomically. */
	if (!overwrite && access(path, F_OK) == 0)
		return cbd_err_set(err, CBD_E_CANTCREAT,
				   "%s already exists (not overwritten)", path);
	return cbd_file_write_atomic_ex(path, buf, len, mode, !overwrite, err);
}

int cbd_id_valid(const char *s)
{
	size_t n = 0;

	if (!s || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
		    (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (; s[n]; n++) {
		char c = s[n];

		if (n >= 64)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return n >= 1;
}

void cbd_base64(const uint8_t *in, size_t len, char *out)
{
	(void)EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

cbd_status cbd_unbase64(const char *text, size_t tlen, uint8_t *out,
			size_t want, cbd_err *err)
{
	size_t need = 4 * ((want + 2) / 3), pad = (3 - want % 3) % 3;
	uint8_t tmp[4 * 64];
	char again[4 * 64 + 1];
	int n;

	if (want > 3 * 64 || tlen != need)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "base64 text has %zu characters, want %zu",
				   tlen, need);
	n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)tlen);
	if (n < 0 || (size_t)n != need / 4 * 3)
		return cbd_err_set(err, CBD_E_FORMAT, "invalid base64");
	/* EVP_DecodeBlock counts padding as zero bytes and tolerates
	 * non-canonical forms; re-encode and compare to be strict. */
	cbd_base64(tmp, want, again);
	if (memcmp(again, text, tlen) != 0 || (pad && tmp[want] != 0))
		return cbd_err_set(err, CBD_E_FORMAT,
				   "non-canonical base64");
	memcpy(out, tmp, want);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return CBD_OK;
}
