/*
 * keyring.c — the owner's list of licensees (formats/keyring.md).
 *
 * A keyring is a JSON file, mode 0600, holding for every user an id, the
 * user's public key (SPKI PEM) with its key id, a 32-byte trace secret
 * (hex) and the creation time:
 *
 *   {
 *     "format": "cbd-keyring/1",
 *     "users": [
 *       {
 *         "id": "alice",
 *         "key_id": "<16 hex>",
 *         "public_key": "-----BEGIN PUBLIC KEY-----\n...",
 *         "trace_secret": "<64 hex>",
 *         "created": 1700000000
 *       }
 *     ]
 *   }
 *
 * Users are kept sorted by id (byte order) and written in exactly this
 * layout, so the same keyring always has the same bytes.  The reader is
 * strict because a keyring may come from anywhere: size and count caps,
 * exact member sets per object, type checks, ids restricted to
 * [A-Za-z0-9._-]{1,64}, ids strictly increasing (no duplicates), key ids
 * recomputed and compared, and public keys only (a private key in a
 * keyring is refused).  Trace secrets are wiped when the keyring is freed.
 */
#include "keyring_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define KEYRING_FORMAT "cbd-keyring/1"
#define KEYRING_MAX_FILE ((size_t)16 << 20)
#define KEYRING_MAX_USERS 10000

cbd_status cbd_keyring_new(cbd_keyring **out, cbd_err *err)
{
	*out = cbd_xcalloc(1, sizeof(**out), err);
	if (*out)
		(*out)->form = CBD_KEYRING_JSON;
	return *out ? CBD_OK : CBD_E_NOMEM;
}

cbd_keyring_form cbd_keyring_form_of(const cbd_keyring *kr)
{
	return kr->form;
}

void cbd_keyring_free(cbd_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++) {
		free(kr->u[i].id);
		free(kr->u[i].note);
		cbd_key_free(kr->u[i].key);
	}
	cbd_secret_free(kr->u, kr->cap * sizeof(*kr->u));
	cbd_kr_db_close(kr->db);
	free(kr);
}

size_t cbd_keyring_count(const cbd_keyring *kr)
{
	return kr->db ? cbd_kr_db_count(kr->db) : kr->n;
}

const cbd_user *cbd_keyring_user(const cbd_keyring *kr, size_t i)
{
	return i < kr->n ? &kr->u[i].view : NULL;
}

/* Index of the first user with id >= id. */
static size_t lower_bound(const cbd_keyring *kr, const char *id)
{
	size_t lo = 0, hi = kr->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(kr->u[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const cbd_user *cbd_keyring_find(const cbd_keyring *kr, const char *id)
{
	size_t i = lower_bound(kr, id);

	if (i < kr->n && strcmp(kr->u[i].id, id) == 0)
		return &kr->u[i].view;
	/* a database keyring not held in memory: look it up (the result is
	 * kept in the keyring, hence the cast) */
	if (kr->db && cbd_kr_db_count(kr->db) > kr->n)
		return cbd_kr_db_find((cbd_keyring *)kr, id);
	return NULL;
}

/* The views point at their own entry's id and key: refresh after moves. */
static void fix_views(cbd_keyring *kr)
{
	for (size_t i = 0; i < kr->n; i++) {
		kr->u[i].view.id = kr->u[i].id;
		kr->u[i].view.key = kr->u[i].key;
		kr->u[i].view.note = kr->u[i].note;
	}
}

cbd_status cbd_kr_insert(cbd_keyring *kr, size_t i, char *id, cbd_key *key,
			 const uint8_t secret[CBD_TRACE_SECRET_LEN],
			 int64_t created, int64_t revoked, char *note,
			 cbd_err *err)
{
	if (kr->n == kr->cap) {
		size_t ncap = kr->cap ? 2 * kr->cap : 8;
		struct kr_user *q = cbd_xcalloc(ncap, sizeof(*q), err);

		if (!q)
			return CBD_E_NOMEM;
		if (kr->n)
			memcpy(q, kr->u, kr->n * sizeof(*q));
		cbd_secret_free(kr->u, kr->cap * sizeof(*kr->u));
		kr->u = q;
		kr->cap = ncap;
	}
	memmove(kr->u + i + 1, kr->u + i, (kr->n - i) * sizeof(*kr->u));
	memset(&kr->u[i], 0, sizeof(kr->u[i]));
	kr->u[i].id = id;
	kr->u[i].key = key;
	memcpy(kr->u[i].view.trace_secret, secret, CBD_TRACE_SECRET_LEN);
	kr->u[i].view.created = created;
	kr->u[i].view.revoked = revoked;
	kr->u[i].note = note;
	kr->n++;
	fix_views(kr);
	return CBD_OK;
}

int cbd_kr_note_valid(const char *note)
{
	size_t n = strlen(note);

	if (n > CBD_KEYRING_MAX_NOTE)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)note[i] < 0x20 || note[i] == 0x7f)
			return 0;
	return 1;
}

/* SOURCE_DATE_EPOCH when set (reproducible runs), else the clock. */
int64_t cbd_kr_now(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	char *end;
	long long v;

	if (s && *s) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && *end == 0 && v >= 0 &&
		    v <= (long long)KEYRING_MAX_TIME)
			return v;
	}
	return (int64_t)time(NULL);
}

cbd_status cbd_keyring_add(cbd_keyring *kr, const char *id,
			   const cbd_key *pub, cbd_err *err)
{
	return cbd_keyring_add_note(kr, id, pub, NULL, err);
}

cbd_status cbd_keyring_add_note(cbd_keyring *kr, const char *id,
				const cbd_key *pub, const char *note,
				cbd_err *err)
{
	uint8_t secret[CBD_TRACE_SECRET_LEN];
	cbd_key *copy = NULL;
	char *idc;
	size_t i;
	cbd_status s;

	if (!cbd_id_valid(id))
		return cbd_err_set(err, CBD_E_USAGE,
				   "invalid user id '%.80s': use 1 to 64 of "
				   "A-Z a-z 0-9 . _ -, starting with a letter "
				   "or digit", id ? id : "");
	if (note && !cbd_kr_note_valid(note))
		return cbd_err_set(err, CBD_E_USAGE, "invalid note: at most %d "
				   "bytes, no control characters",
				   CBD_KEYRING_MAX_NOTE);
	if (note && !kr->db)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "notes need a "
				   "database keyring (format 2)");
	if (kr->db) {
		if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
			return cbd_err_set(err, CBD_E_CRYPTO,
					   "cannot draw a trace secret");
		s = cbd_kr_db_add(kr, id, pub, secret, cbd_kr_now(), note,
				  err);
		OPENSSL_cleanse(secret, sizeof(secret));
		return s;
	}
	i = lower_bound(kr, id);
	if (i < kr->n && strcmp(kr->u[i].id, id) == 0)
		return cbd_err_set(err, CBD_E_USAGE,
				   "user %s is already in the keyring", id);
	if (kr->n >= KEYRING_MAX_USERS)
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "keyring is full (%d users)",
				   KEYRING_MAX_USERS);
	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		return cbd_err_set(err, CBD_E_CRYPTO,
				   "cannot draw a trace secret");
	s = cbd_key_public_copy(pub, &copy, err);
	idc = s == CBD_OK ? strdup(id) : NULL;
	if (s == CBD_OK && !idc)
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	if (s == CBD_OK)
		s = cbd_kr_insert(kr, i, idc, copy, secret, cbd_kr_now(), -1,
				  NULL, err);
	if (s != CBD_OK) {
		free(idc);
		cbd_key_free(copy);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	return s;
}

/* ---- writing ---------------------------------------------------------- */

static cbd_status encode(const cbd_keyring *kr, cbd_buf *b,
			 cbd_err *err)
{
	char hex[2 * CBD_TRACE_SECRET_LEN + 1], kid[CBD_KEY_ID_LEN + 1];

	cbd_buf_printf(b, "{\n  \"format\": \"%s\",\n  \"users\": [",
		       KEYRING_FORMAT);
	for (size_t i = 0; i < kr->n; i++) {
		const struct kr_user *u = &kr->u[i];
		char *pem;
		cbd_status s = cbd_key_public_pem(u->key, &pem, err);

		if (s != CBD_OK)
			return s;
		cbd_key_id(u->key, kid);
		cbd_hex(u->view.trace_secret, CBD_TRACE_SECRET_LEN, hex);
		cbd_buf_printf(b, "%s\n    {\n      \"id\": ", i ? "," : "");
		cbd_buf_json_str(b, u->id);
		cbd_buf_printf(b, ",\n      \"key_id\": \"%s\",\n"
			       "      \"public_key\": ", kid);
		cbd_buf_json_str(b, pem);
		cbd_buf_printf(b, ",\n      \"trace_secret\": \"%s\",\n"
			       "      \"created\": %lld\n    }", hex,
			       (long long)u->view.created);
		free(pem);
	}
	cbd_buf_printf(b, "%s]\n}\n", kr->n ? "\n  " : "");
	OPENSSL_cleanse(hex, sizeof(hex));
	if (b->st)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

cbd_status cbd_keyring_save(const cbd_keyring *kr, const char *path,
			    cbd_err *err)
{
	cbd_buf b = {.secret = 1};    /* holds every user's trace secret */
	cbd_status s;

	if (kr->db)
		return strcmp(path, cbd_kr_db_path(kr->db)) == 0
			       ? CBD_OK
			       : cbd_err_set(err, CBD_E_UNSUPPORTED,
					     "a database keyring is not saved "
					     "as JSON (%s)", path);
	for (size_t i = 0; i < kr->n; i++)
		if (kr->u[i].view.revoked >= 0 || kr->u[i].note)
			return cbd_err_set(err, CBD_E_UNSUPPORTED, "user %s "
					   "is revoked or has a note: only a "
					   "database keyring keeps that (%s)",
					   kr->u[i].id, path);
	s = encode(kr, &b, err);

	if (s == CBD_OK)
		s = cbd_secret_file_write(path, b.p, b.len, 0600, 1, err);
	cbd_buf_free(&b);
	return s;
}

/* ---- reading ---------------------------------------------------------- */

/* Every member of obj must be one of names[], each at most once, and all
 * of names[] must be present (cbd_json_bad_members); the error names the
 * member, where it is and the file. */
static cbd_status check_members(const cJSON *obj, const char *const *names,
				int n, const char *where, const char *path,
				cbd_err *err)
{
	const char *which;
	const char *why = cbd_json_bad_members(obj, names, n, &which);

	if (!why)
		return CBD_OK;
	if (!which)
		return cbd_err_set(err, CBD_E_FORMAT, "%s is not an object "
				   "(%s)", where, path);
	return cbd_err_set(err, CBD_E_FORMAT, "%s \"%.40s\" in %s (%s)", why,
			   which, where, path);
}

static const char *str_member(const cJSON *obj, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static cbd_status parse_user(cbd_keyring *kr, const cJSON *ju, size_t idx,
			     const char *path, cbd_err *err)
{
	static const char *const names[] = {"id", "key_id", "public_key",
					     "trace_secret", "created"};
	const char *id = str_member(ju, "id"), *kid = str_member(ju, "key_id"),
		   *pem = str_member(ju, "public_key"),
		   *hex = str_member(ju, "trace_secret");
	const cJSON *jc = cJSON_GetObjectItemCaseSensitive(ju, "created");
	uint8_t secret[CBD_TRACE_SECRET_LEN];
	char where[64], real[CBD_KEY_ID_LEN + 1];
	cbd_key *key = NULL;
	char *idc;
	cbd_status s;

	snprintf(where, sizeof(where), "users[%zu]", idx);
	s = check_members(ju, names, 5, where, path, err);
	if (s != CBD_OK)
		return s;
	if (!id || !kid || !pem || !hex || !cJSON_IsNumber(jc))
		return cbd_err_set(err, CBD_E_FORMAT, "wrong member type in %s "
				   "(%s)", where, path);
	if (!cbd_id_valid(id))
		return cbd_err_set(err, CBD_E_FORMAT, "invalid user id in %s "
				   "(%s)", where, path);
	if (kr->n && strcmp(kr->u[kr->n - 1].id, id) >= 0)
		return cbd_err_set(err, CBD_E_FORMAT, "users not sorted by id "
				   "or duplicate id %s (%s)", id, path);
	if (jc->valuedouble < 0 || jc->valuedouble > (double)KEYRING_MAX_TIME ||
	    jc->valuedouble != floor(jc->valuedouble))
		return cbd_err_set(err, CBD_E_FORMAT, "invalid created time "
				   "for user %s (%s)", id, path);
	if (strlen(pem) > KEYRING_MAX_PEM)
		return cbd_err_set(err, CBD_E_TOOBIG, "public key of user %s "
				   "too long (%s)", id, path);
	if (cbd_unhex(hex, secret, sizeof(secret), err) != CBD_OK)
		return cbd_err_set(err, CBD_E_FORMAT, "invalid trace secret "
				   "for user %s (%s)", id, path);
	s = cbd_key_from_pem(pem, strlen(pem), id, &key, err);
	if (s == CBD_OK && cbd_key_is_private(key))
		s = cbd_err_set(err, CBD_E_FORMAT, "user %s has a private key "
				"in the keyring; only public keys belong there "
				"(%s)", id, path);
	if (s == CBD_OK) {
		cbd_key_id(key, real);
		if (strcmp(real, kid) != 0)
			s = cbd_err_set(err, CBD_E_FORMAT, "key_id %.20s of "
					"user %s does not match its public key "
					"%s (%s)", kid, id, real, path);
	}
	idc = s == CBD_OK ? strdup(id) : NULL;
	if (s == CBD_OK && !idc)
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	if (s == CBD_OK)
		s = cbd_kr_insert(kr, kr->n, idc, key, secret,
				  (int64_t)jc->valuedouble, -1, NULL, err);
	if (s != CBD_OK) {
		free(idc);
		cbd_key_free(key);
		if (err && err->code != CBD_E_NOMEM && !strstr(err->msg, path))
			cbd_err_prefix(err, "keyring %s, user %s", path, id);
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	return s;
}

/* cJSON keeps its own copies of the strings: wipe the trace secrets. */
static void wipe_secrets(const cJSON *users)
{
	const cJSON *ju;

	if (!cJSON_IsArray(users))
		return;
	cJSON_ArrayForEach(ju, users) {
		const cJSON *j = cJSON_GetObjectItemCaseSensitive(ju,
								   "trace_secret");

		if (cJSON_IsString(j) && j->valuestring)
			OPENSSL_cleanse(j->valuestring, strlen(j->valuestring));
	}
}

static cbd_status parse(cbd_keyring *kr, const uint8_t *buf, size_t len,
			const char *path, cbd_err *err)
{
	static const char *const names[] = {"format", "users"};
	const char *end = NULL, *fmt;
	const cJSON *ju, *users;
	cbd_status s = CBD_OK;
	cJSON *doc;
	size_t i = 0;

	doc = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
	if (!doc)
		return cbd_err_set(err, CBD_E_FORMAT, "keyring is not valid "
				   "JSON (%s)", path);
	while (end && end < (const char *)buf + len &&
	       (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r'))
		end++;
	if (end != (const char *)buf + len)
		s = cbd_err_set(err, CBD_E_FORMAT, "data after the JSON "
				"document (%s)", path);
	if (s == CBD_OK)
		s = check_members(doc, names, 2, "keyring", path, err);
	fmt = str_member(doc, "format");
	users = cJSON_GetObjectItemCaseSensitive(doc, "users");
	if (s == CBD_OK && (!fmt || strcmp(fmt, KEYRING_FORMAT) != 0))
		s = cbd_err_set(err, CBD_E_FORMAT, "not a %s file (%s, "
				"format)", KEYRING_FORMAT, path);
	if (s == CBD_OK && !cJSON_IsArray(users))
		s = cbd_err_set(err, CBD_E_FORMAT, "users is not an array "
				"(%s)", path);
	if (s == CBD_OK && cJSON_GetArraySize(users) > KEYRING_MAX_USERS)
		s = cbd_err_set(err, CBD_E_TOOBIG, "more than %d users (%s)",
				KEYRING_MAX_USERS, path);
	if (s == CBD_OK)
		cJSON_ArrayForEach(ju, users) {
			s = parse_user(kr, ju, i++, path, err);
			if (s != CBD_OK)
				break;
		}
	wipe_secrets(users);
	cJSON_Delete(doc);
	return s;
}

/* Does the file at path start with the SQLite header?  Refuses a
 * symbolic link; a missing or unreadable file is left to the JSON reader
 * (which names the problem). */
static int is_db(const char *path, cbd_err *err, cbd_status *st)
{
	uint8_t head[16];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	ssize_t n;

	*st = CBD_OK;
	if (fd < 0) {
		if (errno == ELOOP)
			*st = cbd_err_set(err, CBD_E_NOPERM, "keyring is a "
					  "symbolic link; give the file itself "
					  "(%s)", path);
		return 0;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	return n > 0 && cbd_kr_db_sniff(head, (size_t)n);
}

cbd_status cbd_keyring_load(const char *path, cbd_keyring **out,
			    cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	*out = NULL;
	if (is_db(path, err, &s) && s == CBD_OK) {
		s = cbd_keyring_new(out, err);
		if (s == CBD_OK)
			s = cbd_kr_db_open(*out, path, 0, err);
		if (s != CBD_OK) {
			cbd_keyring_free(*out);
			*out = NULL;
		}
		return s;
	}
	if (s != CBD_OK)
		return s;
	s = cbd_secret_file_read(path, KEYRING_MAX_FILE, CBD_PERM_PRIVATE,
				 "keyring", &buf, &len, err);
	if (s != CBD_OK)
		return s;
	s = cbd_keyring_new(out, err);
	if (s == CBD_OK)
		s = parse(*out, buf, len, path, err);
	if (s == CBD_OK) {
		s = cbd_sha256(buf, len, (*out)->digest, err);
		(*out)->has_digest = 1;
	}
	cbd_secret_free(buf, len);
	if (s != CBD_OK) {
		cbd_keyring_free(*out);
		*out = NULL;
	}
	return s;
}

cbd_status cbd_keyring_open_db(const char *path, cbd_keyring **out,
			       cbd_err *err)
{
	cbd_status s = cbd_keyring_new(out, err);

	if (s == CBD_OK)
		s = cbd_kr_db_open(*out, path, 1, err);
	if (s != CBD_OK) {
		cbd_keyring_free(*out);
		*out = NULL;
	}
	return s;
}

cbd_status cbd_keyring_begin(cbd_keyring *kr, cbd_err *err)
{
	return kr->db ? cbd_kr_db_exec(kr->db, "BEGIN IMMEDIATE", err)
		      : CBD_OK;
}

cbd_status cbd_keyring_commit(cbd_keyring *kr, cbd_err *err)
{
	return kr->db ? cbd_kr_db_exec(kr->db, "COMMIT", err) : CBD_OK;
}

void cbd_keyring_rollback(cbd_keyring *kr)
{
	if (kr->db)
		(void)cbd_kr_db_exec(kr->db, "ROLLBACK", NULL);
}

cbd_status cbd_keyring_revoke(cbd_keyring *kr, const char *id,
			      cbd_err *err)
{
	if (!kr->db)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "a JSON keyring "
				   "(format 1) cannot record revocations; "
				   "convert it with 'cbd-keygen convert'");
	return cbd_kr_db_revoke(kr, id, cbd_kr_now(), err);
}

/* The JSON form (or a keyring made in memory): the users held. */
cbd_status cbd_keyring_scan(const cbd_keyring *kr,
			    const cbd_keyring_visitor *v,
			    uint8_t digest[CBD_SHA256_LEN], cbd_err *err)
{
	cbd_status s = CBD_OK;

	if (kr->db)
		return cbd_kr_db_scan(kr, v, digest, err);
	if (v->begin)
		s = v->begin(v->ud, kr->n, err);
	for (size_t i = 0; i < kr->n && s == CBD_OK; i++) {
		const struct kr_user *u = &kr->u[i];
		uint8_t *der = NULL;
		size_t dlen = 0;
		cbd_keyring_row r;

		s = cbd_key_public_der(u->key, &der, &dlen, err);
		if (s != CBD_OK)
			break;
		r = (cbd_keyring_row){u->id, cbd_key_type_of(u->key), der,
				      dlen, u->view.trace_secret,
				      u->view.created, u->view.revoked,
				      u->note};
		s = v->user(v->ud, &r, err);
		free(der);
	}
	if (s == CBD_OK && digest) {
		if (kr->has_digest) {
			memcpy(digest, kr->digest, CBD_SHA256_LEN);
		} else {
			cbd_buf b = {.secret = 1};

			s = encode(kr, &b, err);
			if (s == CBD_OK)
				s = cbd_sha256(b.p, b.len, digest, err);
			cbd_buf_free(&b);
		}
	}
	return s;
}
