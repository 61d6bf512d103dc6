/*
 * keys_internal.h — helpers shared by lib/keys/, lib/keyring/ and
 * lib/archive/ (not public).
 *
 * Secret files (private keys, keyrings) are read through one function that
 * refuses files readable or writable by group/other, the way ssh refuses a
 * private key with loose permissions, and written through one function that
 * creates them 0600 with O_EXCL|O_NOFOLLOW and can refuse to replace an
 * existing file atomically (renameat2 RENAME_NOREPLACE, or link(2)).
 */
#ifndef CBD_KEYS_INTERNAL_H
#define CBD_KEYS_INTERNAL_H

#include "../util/util_internal.h"

/* How cbd_secret_file_read treats the file mode. */
enum cbd_perm_check {
	CBD_PERM_ANY = 0,       /* no check (public keys) */
	CBD_PERM_PRIVATE = 1,   /* refuse mode & 077 with CBD_E_NOPERM */
	CBD_PERM_BY_CONTENT = 2 /* refuse only if the file holds a PEM
				 * "PRIVATE KEY" block */
};

/* Read a whole regular file of at most max bytes (NUL-terminated, not
 * counted in *len).  what names the file kind in messages ("private
 * key", "keyring").  Free *buf with cbd_secret_free(*buf, *len). */
cbd_status cbd_secret_file_read(const char *path, size_t max,
				enum cbd_perm_check check, const char *what,
				uint8_t **buf, size_t *len, cbd_err *err);

/* Write buf to path through a temporary file created O_EXCL|O_NOFOLLOW
 * with mode, fsync'd, then moved into place: over an existing file when
 * overwrite, otherwise failing with CBD_E_CANTCREAT if path exists.
 * Nothing is left behind on failure. */
cbd_status cbd_secret_file_write(const char *path, const void *buf,
				 size_t len, unsigned mode, int overwrite,
				 cbd_err *err);

/* The 32 bytes of an Ed25519 public key (RFC 8032 encoding);
 * CBD_E_UNSUPPORTED for other key types. */
cbd_status cbd_key_ed25519_raw(const cbd_key *k, uint8_t out[32],
			       cbd_err *err);

/* SubjectPublicKeyInfo DER of the public half; *der owned by the caller
 * (free()). */
cbd_status cbd_key_public_der(const cbd_key *k, uint8_t **der, size_t *len,
			      cbd_err *err);
/* A public key from exactly len bytes of SPKI DER (at most 4096); name
 * goes into messages.  Other key types give CBD_E_UNSUPPORTED. */
cbd_status cbd_key_from_spki_der(const uint8_t *der, size_t len,
				 const char *name, cbd_key **out,
				 cbd_err *err);

/* OPENSSL_cleanse(p, len) then free(p); NULL is a no-op. */
void cbd_secret_free(void *p, size_t len);

/* Base64 (RFC 4648, padded) of len bytes into out (4*ceil(len/3)+1). */
void cbd_base64(const uint8_t *in, size_t len, char *out);
/* Decode exactly want bytes from canonical padded base64 text of length
 * tlen; CBD_E_FORMAT otherwise. */
cbd_status cbd_unbase64(const char *text, size_t tlen, uint8_t *out,
			size_t want, cbd_err *err);

#endif
