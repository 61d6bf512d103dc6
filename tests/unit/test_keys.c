/*
 * test_keys.c — unit tests for lib/keys/ and lib/keyring/ against real
 * OpenSSL keys: sign/verify for both key types, PEM round trips (plain and
 * scrypt-encrypted), wrong passphrase, corrupted PEM, permission refusal,
 * key ids, and keyring add/save/load including hostile keyrings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys/keys_internal.h"

static char dir[] = "/tmp/cbd-test-keys-XXXXXX";

static int setup_dir(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text, unsigned mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
	uint8_t *buf;
	size_t len;
	cbd_err e = {0};

	assert_int_equal(cbd_file_read(path, 1 << 20, &buf, &len, &e), CBD_OK);
	return (char *)buf;
}

static void sign_verify(cbd_key_type type)
{
	static const char msg[] = "the quick brown fox";
	uint8_t sig[CBD_SIG_LEN], sig2[CBD_SIG_LEN];
	cbd_key *k = NULL, *pub = NULL, *other = NULL;
	cbd_err e = {0};
	char id[CBD_KEY_ID_LEN + 1], id2[CBD_KEY_ID_LEN + 1];

	assert_int_equal(cbd_key_generate(type, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_type_of(k), type);
	assert_true(cbd_key_is_private(k));
	assert_int_equal(cbd_key_sign(k, msg, sizeof(msg), sig, &e), CBD_OK);
	assert_int_equal(cbd_key_verify(k, msg, sizeof(msg), sig, &e), CBD_OK);
	assert_int_equal(cbd_key_public_copy(k, &pub, &e), CBD_OK);
	assert_false(cbd_key_is_private(pub));
	assert_true(cbd_key_equal(k, pub));
	cbd_key_id(k, id);
	cbd_key_id(pub, id2);
	assert_string_equal(id, id2);
	assert_int_equal(strlen(id), CBD_KEY_ID_LEN);
	assert_int_equal(cbd_key_verify(pub, msg, sizeof(msg), sig, &e), CBD_OK);
	/* Any flipped bit, another message or another key: invalid. */
	for (int bit = 0; bit < 8 * CBD_SIG_LEN; bit += 37) {
		memcpy(sig2, sig, sizeof(sig));
		sig2[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(cbd_key_verify(pub, msg, sizeof(msg), sig2,
						&e), CBD_E_VERIFY);
	}
	assert_int_equal(cbd_key_verify(pub, msg, sizeof(msg) - 1, sig, &e),
			 CBD_E_VERIFY);
	assert_int_equal(cbd_key_generate(type, &other, &e), CBD_OK);
	assert_false(cbd_key_equal(k, other));
	assert_int_equal(cbd_key_verify(other, msg, sizeof(msg), sig, &e),
			 CBD_E_VERIFY);
	/* A public key cannot sign. */
	assert_int_equal(cbd_key_sign(pub, msg, 1, sig2, &e), CBD_E_USAGE);
	/* All-zero signature (r = s = 0 for P-256) is simply invalid. */
	memset(sig2, 0, sizeof(sig2));
	assert_int_equal(cbd_key_verify(pub, msg, sizeof(msg), sig2, &e),
			 CBD_E_VERIFY);
	cbd_key_free(k);
	cbd_key_free(pub);
	cbd_key_free(other);
}

static void test_sign_verify_ed25519(void **state)
{
	(void)state;
	sign_verify(CBD_KEY_ED25519);
}

static void test_sign_verify_p256(void **state)
{
	uint8_t sig[CBD_SIG_LEN], msg[8];
	cbd_key *k = NULL, *pub = NULL;
	cbd_err e = {0};
	int short_half = 0;

	(void)state;
	sign_verify(CBD_KEY_P256);
	/* r or s below 2^248 (a leading zero byte after r||s padding) happens
	 * once in 128 signatures: 2000 miss it with probability e^-15. */
	assert_int_equal(cbd_key_generate(CBD_KEY_P256, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_public_copy(k, &pub, &e), CBD_OK);
	for (int i = 0; i < 2000; i++) {
		memcpy(msg, &i, sizeof(i));
		assert_int_equal(cbd_key_sign(k, msg, sizeof(msg), sig, &e),
				 CBD_OK);
		short_half += sig[0] == 0 || sig[32] == 0;
		assert_int_equal(cbd_key_verify(pub, msg, sizeof(msg), sig, &e),
				 CBD_OK);
	}
	assert_true(short_half > 0);
	cbd_key_free(k);
	cbd_key_free(pub);
}

/* Signatures from the library must be accepted by an independent
 * verifier: Ed25519 is deterministic, so sign twice and compare, and
 * check the P-256 r||s halves are below the group order's byte size. */
static void test_ed25519_deterministic(void **state)
{
	uint8_t a[CBD_SIG_LEN], b[CBD_SIG_LEN];
	cbd_key *k = NULL;
	cbd_err e = {0};

	(void)state;
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_sign(k, "m", 1, a, &e), CBD_OK);
	assert_int_equal(cbd_key_sign(k, "m", 1, b, &e), CBD_OK);
	assert_memory_equal(a, b, CBD_SIG_LEN);
	cbd_key_free(k);
}

static void round_trip(cbd_key_type type, const char *pass)
{
	char priv[256], pubp[256], id[17], id2[17];
	cbd_key *k = NULL, *k2 = NULL, *p2 = NULL;
	uint8_t sig[CBD_SIG_LEN];
	cbd_err e = {0};
	struct stat st;
	char *text;

	path_of(priv, sizeof(priv), "rt.key");
	path_of(pubp, sizeof(pubp), "rt.pub");
	unlink(priv);
	unlink(pubp);
	assert_int_equal(cbd_key_generate(type, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_save_private(k, priv, pass, 0, &e), CBD_OK);
	assert_int_equal(cbd_key_save_public(k, pubp, &e), CBD_OK);
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = slurp(priv);
	assert_non_null(strstr(text, pass ? "-----BEGIN ENCRYPTED PRIVATE KEY"
					  : "-----BEGIN PRIVATE KEY"));
	free(text);
	text = slurp(pubp);
	assert_non_null(strstr(text, "-----BEGIN PUBLIC KEY-----"));
	free(text);
	/* Refuses to overwrite unless asked. */
	assert_int_equal(cbd_key_save_private(k, priv, pass, 0, &e),
			 CBD_E_CANTCREAT);
	assert_int_equal(cbd_key_save_private(k, priv, pass, 1, &e), CBD_OK);
	assert_int_equal(cbd_key_load(priv, pass, &k2, &e), CBD_OK);
	assert_true(cbd_key_is_private(k2));
	assert_int_equal(cbd_key_type_of(k2), type);
	assert_int_equal(cbd_key_load(pubp, NULL, &p2, &e), CBD_OK);
	assert_false(cbd_key_is_private(p2));
	cbd_key_id(k, id);
	cbd_key_id(k2, id2);
	assert_string_equal(id, id2);
	cbd_key_id(p2, id2);
	assert_string_equal(id, id2);
	assert_int_equal(cbd_key_sign(k2, "x", 1, sig, &e), CBD_OK);
	assert_int_equal(cbd_key_verify(p2, "x", 1, sig, &e), CBD_OK);
	cbd_key_free(k);
	cbd_key_free(k2);
	cbd_key_free(p2);
}

static void test_pem_round_trip(void **state)
{
	(void)state;
	round_trip(CBD_KEY_ED25519, NULL);
	round_trip(CBD_KEY_P256, NULL);
}

static void test_passphrase_round_trip(void **state)
{
	char priv[256];
	cbd_key *k = NULL;
	cbd_err e = {0};

	(void)state;
	round_trip(CBD_KEY_ED25519, "correct horse");
	round_trip(CBD_KEY_P256, "battery staple");
	path_of(priv, sizeof(priv), "rt.key");
	/* The last round trip left a P-256 key under "battery staple". */
	assert_int_equal(cbd_key_load(priv, "wrong", &k, &e),
			 CBD_E_PASSPHRASE);
	assert_null(k);
	assert_non_null(strstr(e.msg, "wrong passphrase"));
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_PASSPHRASE);
	assert_null(k);
	/* The scrypt PBES2 parameters are what the file says. */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "openssl asn1parse -in '%s' | "
			 "grep -q :scrypt", priv);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_corrupted_pem(void **state)
{
	char priv[256], text2[4096];
	cbd_key *k = NULL;
	cbd_err e = {0};
	char *text, *body;

	(void)state;
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	path_of(priv, sizeof(priv), "corrupt.key");
	unlink(priv);
	assert_int_equal(cbd_key_save_private(k, priv, NULL, 0, &e), CBD_OK);
	cbd_key_free(k);
	k = NULL;
	text = slurp(priv);
	/* A changed base64 character inside the body. */
	snprintf(text2, sizeof(text2), "%s", text);
	body = strchr(text2, '\n') + 5;
	*body = *body == 'A' ? 'B' : 'A';
	write_file(priv, text2, 0600);
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_FORMAT);
	/* Truncated. */
	snprintf(text2, sizeof(text2), "%.40s", text);
	write_file(priv, text2, 0600);
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_FORMAT);
	/* Not PEM at all, and garbage after a good block. */
	write_file(priv, "hello\n", 0600);
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_FORMAT);
	snprintf(text2, sizeof(text2), "%sextra\n", text);
	write_file(priv, text2, 0600);
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_FORMAT);
	/* Unknown PEM label. */
	write_file(priv, "-----BEGIN CERTIFICATE-----\nAAAA\n"
		   "-----END CERTIFICATE-----\n", 0600);
	assert_int_equal(cbd_key_load(priv, NULL, &k, &e), CBD_E_FORMAT);
	assert_null(k);
	free(text);
}

static void test_wrong_key_type(void **state)
{
	char path[256], cmd[1024];
	cbd_key *k = NULL;
	cbd_err e = {0};

	(void)state;
	path_of(path, sizeof(path), "rsa.key");
	unlink(path);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm RSA -pkeyopt "
		 "rsa_keygen_bits:1024 -out '%s' 2>/dev/null && chmod 600 "
		 "'%s'", path, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cbd_key_load(path, NULL, &k, &e), CBD_E_UNSUPPORTED);
	assert_null(k);
	path_of(path, sizeof(path), "p384.key");
	unlink(path);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm EC -pkeyopt "
		 "ec_paramgen_curve:P-384 -out '%s' && chmod 600 '%s'", path,
		 path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cbd_key_load(path, NULL, &k, &e), CBD_E_UNSUPPORTED);
	/* Keys made by the openssl tool itself load (interop). */
	path_of(path, sizeof(path), "ossl.key");
	unlink(path);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ED25519 -out "
		 "'%s' && chmod 600 '%s'", path, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(cbd_key_load(path, NULL, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_type_of(k), CBD_KEY_ED25519);
	cbd_key_free(k);
}

static void test_permissions(void **state)
{
	char priv[256], pubp[256];
	cbd_key *k = NULL, *k2 = NULL;
	cbd_err e = {0};

	(void)state;
	path_of(priv, sizeof(priv), "perm.key");
	path_of(pubp, sizeof(pubp), "perm.pub");
	unlink(priv);
	unlink(pubp);
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_save_private(k, priv, NULL, 0, &e), CBD_OK);
	assert_int_equal(cbd_key_save_public(k, pubp, &e), CBD_OK);
	assert_int_equal(chmod(priv, 0640), 0);
	assert_int_equal(cbd_key_load(priv, NULL, &k2, &e), CBD_E_NOPERM);
	assert_non_null(strstr(e.msg, "chmod 600"));
	assert_int_equal(chmod(priv, 0604), 0);
	assert_int_equal(cbd_key_load(priv, NULL, &k2, &e), CBD_E_NOPERM);
	assert_int_equal(chmod(priv, 0400), 0);
	assert_int_equal(cbd_key_load(priv, NULL, &k2, &e), CBD_OK);
	cbd_key_free(k2);
	/* Public keys may be world-readable. */
	assert_int_equal(chmod(pubp, 0644), 0);
	assert_int_equal(cbd_key_load(pubp, NULL, &k2, &e), CBD_OK);
	cbd_key_free(k2);
	cbd_key_free(k);
}

static void test_ids_and_base64(void **state)
{
	static const char *good[] = {"alice", "a", "Bob_2.x-y", "0"};
	static const char *bad[] = {"", ".", "..", "-x", ".hidden", "a/b",
				    "a b", "é"};
	uint8_t raw[64], back[64];
	char text[100];
	cbd_err e = {0};

	(void)state;
	for (size_t i = 0; i < CBD_ARRAY_LEN(good); i++)
		assert_true(cbd_id_valid(good[i]));
	for (size_t i = 0; i < CBD_ARRAY_LEN(bad); i++)
		assert_false(cbd_id_valid(bad[i]));
	memset(text, 'a', 64);
	text[64] = 0;
	assert_true(cbd_id_valid(text));
	text[64] = 'a';
	text[65] = 0;
	assert_false(cbd_id_valid(text));
	for (int i = 0; i < 64; i++)
		raw[i] = (uint8_t)(i * 37);
	cbd_base64(raw, 64, text);
	assert_int_equal(strlen(text), 88);
	assert_int_equal(cbd_unbase64(text, 88, back, 64, &e), CBD_OK);
	assert_memory_equal(raw, back, 64);
	text[86] = 'B';   /* non-zero padding bits: non-canonical */
	assert_int_equal(cbd_unbase64(text, 88, back, 64, &e), CBD_E_FORMAT);
	assert_int_equal(cbd_unbase64(text, 87, back, 64, &e), CBD_E_FORMAT);
}

static void test_keyring(void **state)
{
	char path[256];
	cbd_keyring *kr = NULL, *kr2 = NULL;
	cbd_key *a = NULL, *b = NULL;
	cbd_err e = {0};
	const cbd_user *u;
	struct stat st;
	char *t1, *t2;

	(void)state;
	path_of(path, sizeof(path), "ring.json");
	unlink(path);
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &a, &e), CBD_OK);
	assert_int_equal(cbd_key_generate(CBD_KEY_P256, &b, &e), CBD_OK);
	assert_int_equal(cbd_keyring_new(&kr, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(kr, "zed", a, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(kr, "amy", b, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(kr, "amy", a, &e), CBD_E_USAGE);
	assert_int_equal(cbd_keyring_add(kr, "../x", a, &e), CBD_E_USAGE);
	assert_int_equal(cbd_keyring_count(kr), 2);
	assert_string_equal(cbd_keyring_user(kr, 0)->id, "amy");
	u = cbd_keyring_find(kr, "zed");
	assert_non_null(u);
	assert_true(cbd_key_equal(u->key, a));
	assert_false(cbd_key_is_private(u->key));
	assert_memory_not_equal(cbd_keyring_user(kr, 0)->trace_secret,
				cbd_keyring_user(kr, 1)->trace_secret,
				CBD_TRACE_SECRET_LEN);
	assert_null(cbd_keyring_find(kr, "bob"));
	assert_int_equal(cbd_keyring_save(kr, path, &e), CBD_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cbd_keyring_load(path, &kr2, &e), CBD_OK);
	assert_int_equal(cbd_keyring_count(kr2), 2);
	for (size_t i = 0; i < 2; i++) {
		const cbd_user *x = cbd_keyring_user(kr, i),
			       *y = cbd_keyring_user(kr2, i);

		assert_string_equal(x->id, y->id);
		assert_true(cbd_key_equal(x->key, y->key));
		assert_memory_equal(x->trace_secret, y->trace_secret,
				    CBD_TRACE_SECRET_LEN);
		assert_int_equal(x->created, y->created);
	}
	/* Canonical bytes: saving the loaded keyring reproduces the file. */
	t1 = slurp(path);
	assert_int_equal(cbd_keyring_save(kr2, path, &e), CBD_OK);
	t2 = slurp(path);
	assert_string_equal(t1, t2);
	free(t2);
	/* Group-readable keyring: refused. */
	assert_int_equal(chmod(path, 0640), 0);
	cbd_keyring_free(kr2);
	kr2 = NULL;
	assert_int_equal(cbd_keyring_load(path, &kr2, &e), CBD_E_NOPERM);
	assert_null(kr2);
	free(t1);
	cbd_keyring_free(kr);
	cbd_key_free(a);
	cbd_key_free(b);
}

static cbd_status count_rows(void *ud, const cbd_keyring_row *r,
			     cbd_err *err)
{
	(void)r;
	(void)err;
	++*(size_t *)ud;
	return CBD_OK;
}

/* A database keyring loaded by a reader is read-only: adds and revokes are
 * refused, the file is not touched, and a scan that a writer overlapped is
 * refused (CBD_E_UNAVAILABLE) instead of trusted. */
static void test_keyring_db_reader(void **state)
{
	char path[256], wal[300];
	cbd_keyring *w = NULL, *r = NULL;
	cbd_key *a = NULL;
	cbd_err e = {0};
	struct stat before, after;
	size_t n = 0;
	cbd_keyring_visitor v = {NULL, count_rows, &n};
	uint8_t d1[CBD_SHA256_LEN], d2[CBD_SHA256_LEN];

	(void)state;
	path_of(path, sizeof(path), "reader.keyring");
	snprintf(wal, sizeof(wal), "%s-wal", path);
	unlink(path);
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &a, &e), CBD_OK);
	assert_int_equal(cbd_keyring_open_db(path, &w, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(w, "amy", a, &e), CBD_OK);
	cbd_keyring_free(w);    /* the last writer: checkpointed, no -wal */
	assert_int_not_equal(access(wal, F_OK), 0);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(cbd_keyring_load(path, &r, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(r, "bob", a, &e), CBD_E_USAGE);
	assert_non_null(strstr(e.msg, "read-only"));
	assert_int_equal(cbd_keyring_revoke(r, "amy", &e), CBD_E_USAGE);
	assert_int_equal(cbd_keyring_scan(r, &v, d1, &e), CBD_OK);
	assert_int_equal(n, 1);
	assert_int_not_equal(access(wal, F_OK), 0);   /* no side files */
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
	assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
	/* a writer adds a user while the reader holds the file open */
	assert_int_equal(cbd_keyring_open_db(path, &w, &e), CBD_OK);
	assert_int_equal(cbd_keyring_add(w, "bob", a, &e), CBD_OK);
	assert_int_equal(cbd_keyring_scan(r, &v, d2, &e), CBD_E_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "run again"));
	cbd_keyring_free(w);
	cbd_keyring_free(r);
	/* loaded again, it sees both users, and a new digest */
	assert_int_equal(cbd_keyring_load(path, &r, &e), CBD_OK);
	n = 0;
	assert_int_equal(cbd_keyring_scan(r, &v, d2, &e), CBD_OK);
	assert_int_equal(n, 2);
	assert_memory_not_equal(d1, d2, sizeof(d1));
	cbd_keyring_free(r);
	unlink(path);
	cbd_key_free(a);
}

/* Load text as a keyring; returns the status. */
static cbd_status load_text(const char *text)
{
	char path[256];
	cbd_keyring *kr = NULL;
	cbd_err e = {0};
	cbd_status s;

	path_of(path, sizeof(path), "hostile.json");
	write_file(path, text, 0600);
	s = cbd_keyring_load(path, &kr, &e);
	if (s == CBD_OK)
		cbd_keyring_free(kr);
	else
		assert_null(kr);
	return s;
}

static void test_keyring_hostile(void **state)
{
	char user[2048], doc[8192], *pem;
	cbd_key *k = NULL;
	cbd_err e = {0};
	char kid[17], esc[1024];
	size_t j = 0;

	(void)state;
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &k, &e), CBD_OK);
	assert_int_equal(cbd_key_public_pem(k, &pem, &e), CBD_OK);
	cbd_key_id(k, kid);
	for (const char *p = pem; *p; p++) {
		if (*p == '\n') {
			esc[j++] = '\\';
			esc[j++] = 'n';
		} else {
			esc[j++] = *p;
		}
	}
	esc[j] = 0;
#define USER(id, kidv, secret, created)                                      \
	snprintf(user, sizeof(user),                                          \
		 "{\"id\":\"%s\",\"key_id\":\"%s\",\"public_key\":\"%s\","    \
		 "\"trace_secret\":\"%s\",\"created\":%s}",                   \
		 id, kidv, esc, secret, created)
#define S64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	USER("alice", kid, S64, "1700000000");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_OK);
	/* Wrong format, not JSON, trailing data, wrong types. */
	assert_int_equal(load_text("{\"format\":\"cbd-keyring/2\",\"users\":[]}"),
			 CBD_E_FORMAT);
	assert_int_equal(load_text("[1,2"), CBD_E_FORMAT);
	assert_int_equal(load_text("{\"format\":\"cbd-keyring/1\",\"users\":[]} x"),
			 CBD_E_FORMAT);
	assert_int_equal(load_text("{\"format\":\"cbd-keyring/1\",\"users\":{}}"),
			 CBD_E_FORMAT);
	assert_int_equal(load_text("{\"format\":\"cbd-keyring/1\",\"users\":[],"
				   "\"users\":[]}"), CBD_E_FORMAT);
	assert_int_equal(load_text("{\"format\":\"cbd-keyring/1\",\"users\":[7]}"),
			 CBD_E_FORMAT);
	/* Bad id, bad key id, short secret, fractional or negative time. */
	USER("../etc", kid, S64, "1");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	USER("bob", "0000000000000000", S64, "1");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	USER("bob", kid, "0011", "1");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	USER("bob", kid, S64, "1.5");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	USER("bob", kid, S64, "-1");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":[%s]}",
		 user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	/* Duplicate users. */
	USER("bob", kid, S64, "1");
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-keyring/1\",\"users\":"
		 "[%s,%s]}", user, user);
	assert_int_equal(load_text(doc), CBD_E_FORMAT);
	free(pem);
	cbd_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_verify_ed25519),
		cmocka_unit_test(test_sign_verify_p256),
		cmocka_unit_test(test_ed25519_deterministic),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_passphrase_round_trip),
		cmocka_unit_test(test_corrupted_pem),
		cmocka_unit_test(test_wrong_key_type),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_ids_and_base64),
		cmocka_unit_test(test_keyring),
		cmocka_unit_test(test_keyring_db_reader),
		cmocka_unit_test(test_keyring_hostile),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
