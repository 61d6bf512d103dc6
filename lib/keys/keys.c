/*
 * keys.c — signing keys: Ed25519 (default) and ECDSA P-256, over OpenSSL EVP.
 *
 * A cbd_key wraps one EVP_PKEY, remembers whether it holds the private half,
 * and caches its key id: the first 16 hex digits of SHA-256 over the
 * SubjectPublicKeyInfo DER, the short name shown wherever a key is named.
 *
 * Files are PEM: private keys PKCS#8 ("PRIVATE KEY", or "ENCRYPTED PRIVATE
 * KEY" under a passphrase: PBES2 with scrypt N=2^14 r=8 p=1 and
 * AES-256-CBC), public keys SPKI ("PUBLIC KEY").  Loading reads exactly one
 * PEM block (anything but white space around it is refused), picks the
 * decoder by the block's label, and checks the key is Ed25519 or P-256
 * before anything else uses it.
 *
 * Signatures are always 64 bytes.  Ed25519 signs the message itself
 * (PureEdDSA); P-256 signs SHA-256(message) and the DER ECDSA-Sig-Value
 * OpenSSL speaks is converted to and from fixed-width r||s (32 bytes each,
 * big-endian) with ECDSA_SIG.
 *
 * Secrets: serialised private keys live in secure-memory BIOs or in buffers
 * wiped with OPENSSL_cleanse before they are freed; OpenSSL wipes the key
 * itself in EVP_PKEY_free.
 */
#include "keys_internal.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <string.h>

#define KEY_FILE_MAX ((size_t)64 << 10)   /* PEM key files */
#define SCRYPT_N 16384
#define SCRYPT_R 8
#define SCRYPT_P 1

struct cbd_key {
	EVP_PKEY *pk;
	int priv;
	cbd_key_type type;
	char id[CBD_KEY_ID_LEN + 1];
};

/* OpenSSL's error queue is per thread; a failure we report ourselves must
 * not leave entries behind for an unrelated later call to trip over. */
static cbd_status ossl_fail(cbd_err *err, cbd_status code, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char buf[160] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (buf[0])
		return cbd_err_set(err, code, "%s (%s)", what, buf);
	return cbd_err_set(err, code, "%s", what);
}

/* Which of our types pk is, or 0. */
static cbd_key_type type_of_pkey(EVP_PKEY *pk)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_ED25519)
		return CBD_KEY_ED25519;
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC)
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
					    group, sizeof(group), &glen)) {
		ERR_clear_error();
		return 0;
	}
	if (OBJ_sn2nid(group) == NID_X9_62_prime256v1 ||
	    strcmp(group, "P-256") == 0)
		return CBD_KEY_P256;
	return 0;
}

/* Wrap pk (taking ownership) into a new cbd_key. */
static cbd_status wrap(EVP_PKEY *pk, int priv, const char *name,
		       cbd_key **out, cbd_err *err)
{
	unsigned char *der = NULL;
	uint8_t md[CBD_SHA256_LEN];
	char hex[2 * CBD_SHA256_LEN + 1];
	cbd_key_type t = type_of_pkey(pk);
	cbd_key *k;
	int n;

	if (!t) {
		const char *tn = EVP_PKEY_get0_type_name(pk);

		EVP_PKEY_free(pk);
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "unsupported key type %s, want ed25519 or "
				   "p256 (%s)", tn ? tn : "?", name);
	}
	n = i2d_PUBKEY(pk, &der);
	if (n <= 0) {
		EVP_PKEY_free(pk);
		return ossl_fail(err, CBD_E_CRYPTO, "cannot encode public key");
	}
	if (cbd_sha256(der, (size_t)n, md, err) != CBD_OK) {
		OPENSSL_free(der);
		EVP_PKEY_free(pk);
		return CBD_E_CRYPTO;
	}
	OPENSSL_free(der);
	k = cbd_xcalloc(1, sizeof(*k), err);
	if (!k) {
		EVP_PKEY_free(pk);
		return CBD_E_NOMEM;
	}
	cbd_hex(md, CBD_SHA256_LEN, hex);
	memcpy(k->id, hex, CBD_KEY_ID_LEN);
	k->id[CBD_KEY_ID_LEN] = 0;
	k->pk = pk;
	k->priv = priv;
	k->type = t;
	*out = k;
	return CBD_OK;
}

cbd_status cbd_key_generate(cbd_key_type type, cbd_key **out, cbd_err *err)
{
	EVP_PKEY *pk = NULL;

	*out = NULL;
	if (type == CBD_KEY_ED25519)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else if (type == CBD_KEY_P256)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else
		return cbd_err_set(err, CBD_E_USAGE, "unknown key type %d",
				   (int)type);
	if (!pk)
		return ossl_fail(err, CBD_E_CRYPTO, "key generation failed");
	return wrap(pk, 1, "generated key", out, err);
}

/* A PKCS#8 EC key may carry its public point; a key whose stored point
 * is not d*G would sign with one key and claim another (fuzz finding), so
 * private keys must pass OpenSSL's pairwise check. */
static int pair_ok(EVP_PKEY *pk)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pk, NULL);
	int ok = ctx && EVP_PKEY_pairwise_check(ctx) == 1;

	EVP_PKEY_CTX_free(ctx);
	return ok;
}

/* Decode one DER body according to its PEM label. */
static cbd_status decode_der(const char *label, const unsigned char *der,
			     long dlen, const char *pass, const char *name,
			     EVP_PKEY **pk, int *priv, cbd_err *err)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;

	*pk = NULL;
	if (strcmp(label, "PUBLIC KEY") == 0) {
		*priv = 0;
		*pk = d2i_PUBKEY(NULL, &p, dlen);
	} else if (strcmp(label, "PRIVATE KEY") == 0) {
		*priv = 1;
		p8inf = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, dlen);
	} else if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0) {
		X509_SIG *p8 = d2i_X509_SIG(NULL, &p, dlen);

		*priv = 1;
		if (!p8 || p != der + dlen) {
			X509_SIG_free(p8);
			ERR_clear_error();
			return cbd_err_set(err, CBD_E_FORMAT,
					   "corrupted encrypted private key "
					   "(%s)", name);
		}
		if (!pass) {
			X509_SIG_free(p8);
			ERR_clear_error();
			return cbd_err_set(err, CBD_E_PASSPHRASE,
					   "private key %s is encrypted and "
					   "no passphrase was given", name);
		}
		p8inf = PKCS8_decrypt(p8, pass, (int)strlen(pass));
		X509_SIG_free(p8);
		if (!p8inf) {
			ERR_clear_error();
			return cbd_err_set(err, CBD_E_PASSPHRASE,
					   "cannot decrypt private key %s: "
					   "wrong passphrase (or a corrupted "
					   "key)", name);
		}
		p = der + dlen;
	} else {
		return cbd_err_set(err, CBD_E_FORMAT,
				   "PEM block \"%s\" is not a PKCS#8 private "
				   "key or SPKI public key (%s)", label, name);
	}
	if (p8inf) {
		*pk = EVP_PKCS82PKEY(p8inf);
		PKCS8_PRIV_KEY_INFO_free(p8inf);
	}
	if (!*pk || p != der + dlen) {
		EVP_PKEY_free(*pk);
		*pk = NULL;
		ERR_clear_error();
		return cbd_err_set(err, CBD_E_FORMAT, "corrupted %s key (%s)",
				   *priv ? "private" : "public", name);
	}
	if (*priv && !pair_ok(*pk)) {
		EVP_PKEY_free(*pk);
		*pk = NULL;
		ERR_clear_error();
		return cbd_err_set(err, CBD_E_FORMAT,
				   "corrupted private key: its public half "
				   "does not match (%s)", name);
	}
	return CBD_OK;
}

/* Only white space may surround the single PEM block. */
static int rest_is_space(BIO *bio)
{
	char c;

	while (BIO_read(bio, &c, 1) == 1)
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			return 0;
	return 1;
}

static cbd_status key_parse(const char *pem, size_t len, const char *name,
			    const char *pass, cbd_key **out, cbd_err *err)
{
	char *label = NULL, *header = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	EVP_PKEY *pk = NULL;
	cbd_status s;
	int priv = 0;
	BIO *bio;

	*out = NULL;
	if (len > KEY_FILE_MAX)
		return cbd_err_set(err, CBD_E_TOOBIG, "key larger than %zu "
				   "bytes (%s)", KEY_FILE_MAX, name);
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return ossl_fail(err, CBD_E_NOMEM, "out of memory");
	if (!PEM_read_bio(bio, &label, &header, &der, &dlen)) {
		BIO_free(bio);
		ERR_clear_error();
		return cbd_err_set(err, CBD_E_FORMAT,
				   "not a PEM key or corrupted PEM (%s)", name);
	}
	if (header && header[0]) {
		s = cbd_err_set(err, CBD_E_FORMAT, "legacy PEM encryption "
				"headers are not supported, use PKCS#8 (%s)",
				name);
	} else if (!rest_is_space(bio)) {
		s = cbd_err_set(err, CBD_E_FORMAT, "unexpected data after the "
				"PEM block (%s)", name);
	} else {
		s = decode_der(label, der, dlen, pass, name, &pk, &priv, err);
	}
	if (s == CBD_OK)
		s = wrap(pk, priv, name, out, err);
	OPENSSL_clear_free(der, (size_t)(dlen > 0 ? dlen : 0));
	OPENSSL_free(label);
	OPENSSL_free(header);
	BIO_free(bio);
	return s;
}

cbd_status cbd_key_from_pem(const char *pem, size_t len, const char *name,
			    cbd_key **out, cbd_err *err)
{
	return key_parse(pem, len, name ? name : "key", NULL, out, err);
}

cbd_status cbd_key_load(const char *path, const char *passphrase,
			cbd_key **out, cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	*out = NULL;
	s = cbd_secret_file_read(path, KEY_FILE_MAX, CBD_PERM_BY_CONTENT,
				 "key file", &buf, &len, err);
	if (s != CBD_OK)
		return s;
	s = key_parse((const char *)buf, len, path, passphrase, out, err);
	cbd_secret_free(buf, len);
	return s;
}

/* Serialise the private key as PEM into a secure-memory BIO. */
static BIO *private_pem(const cbd_key *k, const char *pass, cbd_err *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	PKCS8_PRIV_KEY_INFO *p8inf = NULL;
	X509_ALGOR *alg = NULL;
	X509_SIG *p8 = NULL;
	int ok = 0;

	if (!bio) {
		ossl_fail(err, CBD_E_NOMEM, "out of memory");
		return NULL;
	}
	if (!pass) {
		ok = PEM_write_bio_PKCS8PrivateKey(bio, k->pk, NULL, NULL, 0,
						   NULL, NULL);
	} else {
		p8inf = EVP_PKEY2PKCS8(k->pk);
		if (p8inf)
			alg = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, 16,
						    NULL, SCRYPT_N, SCRYPT_R,
						    SCRYPT_P);
		if (alg)
			p8 = PKCS8_set0_pbe(pass, (int)strlen(pass), p8inf,
					    alg);
		if (p8)
			ok = PEM_write_bio_PKCS8(bio, p8);
		else
			X509_ALGOR_free(alg);  /* owned by p8 on success */
		X509_SIG_free(p8);
		PKCS8_PRIV_KEY_INFO_free(p8inf);
	}
	if (!ok) {
		BIO_free(bio);
		ossl_fail(err, CBD_E_CRYPTO, "cannot encode private key");
		return NULL;
	}
	return bio;
}

cbd_status cbd_key_save_private(const cbd_key *k, const char *path,
				const char *passphrase, int overwrite,
				cbd_err *err)
{
	char *data = NULL;
	long n;
	cbd_status s;
	BIO *bio;

	if (!k->priv)
		return cbd_err_set(err, CBD_E_USAGE, "cannot save a public key "
				   "as a private key (%s)", path);
	if (passphrase && !passphrase[0])
		return cbd_err_set(err, CBD_E_PASSPHRASE, "empty passphrase");
	bio = private_pem(k, passphrase, err);
	if (!bio)
		return err ? err->code : CBD_E_CRYPTO;
	n = BIO_get_mem_data(bio, &data);
	s = cbd_secret_file_write(path, data, (size_t)n, 0600, overwrite,
				  err);
	BIO_free(bio);   /* secure-memory BIO: cleared on free */
	return s;
}

cbd_status cbd_key_public_pem(const cbd_key *k, char **pem, cbd_err *err)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long n;

	*pem = NULL;
	if (!bio || !PEM_write_bio_PUBKEY(bio, k->pk)) {
		BIO_free(bio);
		return ossl_fail(err, CBD_E_CRYPTO, "cannot encode public key");
	}
	n = BIO_get_mem_data(bio, &data);
	*pem = cbd_xmalloc((size_t)n + 1, err);
	if (!*pem) {
		BIO_free(bio);
		return CBD_E_NOMEM;
	}
	memcpy(*pem, data, (size_t)n);
	(*pem)[n] = 0;
	BIO_free(bio);
	return CBD_OK;
}

cbd_status cbd_key_save_public(const cbd_key *k, const char *path,
			       cbd_err *err)
{
	char *pem;
	cbd_status s = cbd_key_public_pem(k, &pem, err);

	if (s != CBD_OK)
		return s;
	s = cbd_file_write_atomic(path, pem, strlen(pem), 0644, err);
	free(pem);
	return s;
}

int cbd_key_is_private(const cbd_key *k)
{
	return k && k->priv;
}

cbd_key_type cbd_key_type_of(const cbd_key *k)
{
	return k->type;
}

void cbd_key_id(const cbd_key *k, char id[CBD_KEY_ID_LEN + 1])
{
	memcpy(id, k->id, CBD_KEY_ID_LEN + 1);
}

/* DER ECDSA-Sig-Value -> r||s. */
static cbd_status der_to_raw(const unsigned char *der, size_t dlen,
			     uint8_t sig[CBD_SIG_LEN], cbd_err *err)
{
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	const BIGNUM *r, *s;
	int ok;

	if (!es)
		return ossl_fail(err, CBD_E_CRYPTO, "bad ECDSA signature");
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, sig, 32) == 32 &&
	     BN_bn2binpad(s, sig + 32, 32) == 32;
	ECDSA_SIG_free(es);
	return ok ? CBD_OK
		  : ossl_fail(err, CBD_E_CRYPTO, "ECDSA signature too long");
}

/* r||s -> DER ECDSA-Sig-Value; *der owned by caller (OPENSSL_free). */
static int raw_to_der(const uint8_t sig[CBD_SIG_LEN], unsigned char **der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	int n = -1;

	if (es && r && s && ECDSA_SIG_set0(es, r, s)) {
		r = s = NULL;   /* owned by es now */
		*der = NULL;
		n = i2d_ECDSA_SIG(es, der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return n;
}

cbd_status cbd_key_sign(const cbd_key *k, const void *msg, size_t len,
			uint8_t sig[CBD_SIG_LEN], cbd_err *err)
{
	const char *md = k->type == CBD_KEY_P256 ? "SHA256" : NULL;
	EVP_MD_CTX *ctx;
	unsigned char der[128];
	size_t n = sizeof(der);
	cbd_status s = CBD_OK;

	if (!k->priv)
		return cbd_err_set(err, CBD_E_USAGE,
				   "key %s is a public key; signing needs the "
				   "private key", k->id);
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, md, NULL, NULL, k->pk,
					  NULL) != 1 ||
	    EVP_DigestSign(ctx, der, &n, msg, len) != 1) {
		EVP_MD_CTX_free(ctx);
		return ossl_fail(err, CBD_E_CRYPTO, "signing failed");
	}
	EVP_MD_CTX_free(ctx);
	if (k->type == CBD_KEY_P256)
		s = der_to_raw(der, n, sig, err);
	else if (n == CBD_SIG_LEN)
		memcpy(sig, der, CBD_SIG_LEN);
	else
		s = cbd_err_set(err, CBD_E_CRYPTO,
				"unexpected signature length %zu", n);
	OPENSSL_cleanse(der, sizeof(der));
	return s;
}

cbd_status cbd_key_verify(const cbd_key *k, const void *msg, size_t len,
			  const uint8_t sig[CBD_SIG_LEN], cbd_err *err)
{
	const char *md = k->type == CBD_KEY_P256 ? "SHA256" : NULL;
	unsigned char *der = NULL;
	const unsigned char *vs = sig;
	size_t vlen = CBD_SIG_LEN;
	EVP_MD_CTX *ctx;
	int rc = 0;

	if (k->type == CBD_KEY_P256) {
		int n = raw_to_der(sig, &der);

		if (n <= 0) {
			ERR_clear_error();
			return cbd_err_set(err, CBD_E_VERIFY,
					   "signature does not verify (key %s)",
					   k->id);
		}
		vs = der;
		vlen = (size_t)n;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, k->pk,
					   NULL) == 1)
		rc = EVP_DigestVerify(ctx, vs, vlen, msg, len);
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	if (rc != 1)
		return cbd_err_set(err, CBD_E_VERIFY,
				   "signature does not verify (key %s)", k->id);
	return CBD_OK;
}

cbd_status cbd_key_public_copy(const cbd_key *k, cbd_key **out, cbd_err *err)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pk;
	int n;

	*out = NULL;
	n = i2d_PUBKEY(k->pk, &der);
	if (n <= 0)
		return ossl_fail(err, CBD_E_CRYPTO, "cannot encode public key");
	p = der;
	pk = d2i_PUBKEY(NULL, &p, n);
	OPENSSL_free(der);
	if (!pk)
		return ossl_fail(err, CBD_E_CRYPTO, "cannot copy public key");
	return wrap(pk, 0, k->id, out, err);
}

int cbd_key_equal(const cbd_key *a, const cbd_key *b)
{
	int r;

	if (!a || !b)
		return 0;
	r = EVP_PKEY_eq(a->pk, b->pk);
	ERR_clear_error();
	return r == 1;
}

void cbd_key_free(cbd_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pk);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

const char *cbd_key_type_name(cbd_key_type t)
{
	switch (t) {
	case CBD_KEY_ED25519: return "ed25519";
	case CBD_KEY_P256: return "p256";
	}
	return "unknown";
}

cbd_key_type cbd_key_type_parse(const char *name)
{
	if (name && strcmp(name, "ed25519") == 0)
		return CBD_KEY_ED25519;
	if (name && strcmp(name, "p256") == 0)
		return CBD_KEY_P256;
	return 0;
}

cbd_status cbd_key_ed25519_raw(const cbd_key *k, uint8_t out[32],
			       cbd_err *err)
{
	size_t len = 32;

	if (k->type != CBD_KEY_ED25519)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "key %s is %s, not "
				   "Ed25519", k->id, cbd_key_type_name(k->type));
	if (EVP_PKEY_get_raw_public_key(k->pk, out, &len) != 1 || len != 32)
		return cbd_err_set(err, CBD_E_CRYPTO, "key %s: cannot read "
				   "the raw public key", k->id);
	return CBD_OK;
}

cbd_status cbd_key_public_der(const cbd_key *k, uint8_t **der, size_t *len,
			      cbd_err *err)
{
	unsigned char *p = NULL;
	int n = i2d_PUBKEY(k->pk, &p);

	*der = NULL;
	*len = 0;
	if (n <= 0)
		return ossl_fail(err, CBD_E_CRYPTO, "cannot encode public key");
	*der = cbd_xmalloc((size_t)n, err);
	if (!*der) {
		OPENSSL_free(p);
		return CBD_E_NOMEM;
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(p);
	return CBD_OK;
}

cbd_status cbd_key_from_spki_der(const uint8_t *der, size_t len,
				 const char *name, cbd_key **out,
				 cbd_err *err)
{
	const unsigned char *p = der;
	EVP_PKEY *pk;

	*out = NULL;
	if (len == 0 || len > 4096)
		return cbd_err_set(err, CBD_E_FORMAT, "public key of %zu bytes "
				   "(%s)", len, name);
	pk = d2i_PUBKEY(NULL, &p, (long)len);
	if (!pk || p != der + len) {
		EVP_PKEY_free(pk);
		ERR_clear_error();
		return cbd_err_set(err, CBD_E_FORMAT, "corrupted public key "
				   "(%s)", name);
	}
	return wrap(pk, 0, name, out, err);
}

cbd_status cbd_key_der_to_pem(const uint8_t *der, size_t len, char **pem,
			      cbd_err *err)
{
	cbd_key *k = NULL;
	cbd_status s = cbd_key_from_spki_der(der, len, "public key", &k, err);

	*pem = NULL;
	if (s == CBD_OK)
		s = cbd_key_public_pem(k, pem, err);
	cbd_key_free(k);
	return s;
}
