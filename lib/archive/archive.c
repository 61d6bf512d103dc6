/*
 * archive.c — cbd archives (formats/archive.md): a classifier, the circuit
 * that runs beside it, and the owner's signature over both.
 *
 * An archive is a gzip'd ustar stream (gz.c, tar.c) of four
 * members in this order:
 *
 *   circuit.json   cbd_circuit_to_json() bytes
 *   manifest.json  what the archive is: model name, mode, circuit id, user,
 *                  input binding, classes, the signer's public key, the
 *                  creation time, and size + SHA-256 of circuit.json and
 *                  model.onnx
 *   manifest.sig   "cbd-sig/1 key <key id>\n<base64 of 64 bytes>\n": the
 *                  signer's signature over the exact manifest bytes
 *   model.onnx     the classifier, byte-identical to the input
 *
 * Opening reads everything into memory under caps and checks, cheapest
 * first: the gzip layer (strict), the member list, the manifest's shape,
 * the signature file's shape and key id, then the signature, then every
 * member's size and digest, then the circuit, which must agree with the
 * manifest, and last that the file is byte for byte the canonical encoding
 * of its members (canonical tar, then zlib deflate level 9), so that no
 * byte of an archive can change unnoticed.  Any failure is refused naming
 * the member.
 */
#include "archive_internal.h"
#include "../keys/keys_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ARCHIVE_FORMAT "cbd-archive/1"
#define SIG_PREFIX "cbd-sig/1 key "
#define SIG_FILE_LEN (sizeof(SIG_PREFIX) - 1 + CBD_KEY_ID_LEN + 1 + 88 + 1)
#define MAX_NAME 256
#define MAX_CLASS_NAME 128
#define MAX_TIME 253402300799.0

struct cbd_archive {
	struct cbd_ar_member m[AR_NMEMBERS];
	cbd_circuit *circuit;
	cbd_key *signer;
	char *model_name, *input_name, *user;
	char **classes;
	int num_classes;
	int64_t created;
};

void cbd_archive_free(cbd_archive *a)
{
	if (!a)
		return;
	cbd_ar_members_free(a->m);
	cbd_circuit_free(a->circuit);
	cbd_key_free(a->signer);
	free(a->model_name);
	free(a->input_name);
	free(a->user);
	for (int i = 0; a->classes && i < a->num_classes; i++)
		free(a->classes[i]);
	free(a->classes);
	free(a);
}

const uint8_t *cbd_archive_model(const cbd_archive *a, size_t *len)
{
	*len = a->m[AR_MODEL].len;
	return a->m[AR_MODEL].data;
}

const cbd_circuit *cbd_archive_circuit(const cbd_archive *a)
{
	return a->circuit;
}

const cbd_key *cbd_archive_signer(const cbd_archive *a)
{
	return a->signer;
}

const char *cbd_archive_model_name(const cbd_archive *a)
{
	return a->model_name;
}

const char *cbd_archive_manifest(const cbd_archive *a, size_t *len)
{
	if (len)
		*len = a->m[AR_MANIFEST].len;
	return (const char *)a->m[AR_MANIFEST].data;
}

const uint8_t *cbd_archive_member(const cbd_archive *a, const char *name,
				  size_t *len)
{
	for (int i = 0; i < AR_NMEMBERS; i++)
		if (strcmp(name, cbd_ar_names[i]) == 0) {
			*len = a->m[i].len;
			return a->m[i].data;
		}
	*len = 0;
	return NULL;
}

const char *cbd_archive_input_name(const cbd_archive *a)
{
	return a->input_name;
}

const char *cbd_archive_class_name(const cbd_archive *a, int i)
{
	return i >= 0 && i < a->num_classes ? a->classes[i] : NULL;
}

const char *cbd_archive_user(const cbd_archive *a)
{
	return a->user;
}

int64_t cbd_archive_created(const cbd_archive *a)
{
	return a->created;
}

int cbd_archive_signed_by(const cbd_archive *a, const cbd_key *key)
{
	return a && key && cbd_key_equal(a->signer, key);
}

/* Printable ASCII (or UTF-8 bytes >= 0x80), 1..max bytes, no controls. */
static int text_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= max)
			return 0;
	return n > 0;
}

/* ---- writing ---------------------------------------------------------- */

static cbd_status check_params(const cbd_archive_params *p, cbd_err *err)
{
	int k;

	if (!p->circuit || !p->owner || !p->onnx || !p->model_name ||
	    !p->input_name)
		return cbd_err_set(err, CBD_E_USAGE, "archive parameters "
				   "incomplete");
	if (!cbd_id_valid(p->model_name))
		return cbd_err_set(err, CBD_E_USAGE, "invalid model name "
				   "'%.80s': use 1 to 64 of A-Z a-z 0-9 . _ -",
				   p->model_name);
	if (!text_ok(p->input_name, MAX_NAME))
		return cbd_err_set(err, CBD_E_USAGE, "invalid input name");
	if (!cbd_key_is_private(p->owner))
		return cbd_err_set(err, CBD_E_USAGE, "signing an archive needs "
				   "the owner's private key");
	if (p->onnx_len > cbd_ar_caps[AR_MODEL])
		return cbd_err_set(err, CBD_E_TOOBIG, "model larger than %zu "
				   "bytes", cbd_ar_caps[AR_MODEL]);
	if (p->created < 0 || (double)p->created > MAX_TIME)
		return cbd_err_set(err, CBD_E_USAGE, "creation time out of "
				   "range");
	k = cbd_circuit_num_classes(p->circuit);
	for (int i = 0; p->classes && i < k; i++)
		if (!p->classes[i] || !text_ok(p->classes[i], MAX_CLASS_NAME))
			return cbd_err_set(err, CBD_E_USAGE, "invalid class "
					   "name %d", i);
	return CBD_OK;
}

static void put_member_digest(cbd_buf *b, const char *name,
			      const struct cbd_ar_member *m, int last)
{
	uint8_t md[CBD_SHA256_LEN];
	char hex[2 * CBD_SHA256_LEN + 1];

	if (cbd_sha256(m->data, m->len, md, NULL) != CBD_OK)
		b->st = CBD_E_CRYPTO;
	cbd_hex(md, sizeof(md), hex);
	cbd_buf_printf(b, "    {\"name\": \"%s\", \"size\": %zu, "
		       "\"sha256\": \"%s\"}%s\n", name, m->len, hex,
		       last ? "" : ",");
}

/* The canonical manifest bytes (formats/archive.md). */
static cbd_status manifest_encode(const cbd_archive_params *p,
				  const struct cbd_ar_member m[AR_NMEMBERS],
				  cbd_buf *b, cbd_err *err)
{
	uint8_t cid[CBD_CIRCUIT_ID_LEN];
	char hex[2 * CBD_CIRCUIT_ID_LEN + 1], kid[CBD_KEY_ID_LEN + 1];
	const char *user = cbd_circuit_user_id(p->circuit);
	int k = cbd_circuit_num_classes(p->circuit);
	char *pem;
	cbd_status s = cbd_key_public_pem(p->owner, &pem, err);

	if (s != CBD_OK)
		return s;
	cbd_circuit_id(p->circuit, cid);
	cbd_hex(cid, sizeof(cid), hex);
	cbd_key_id(p->owner, kid);
	cbd_buf_printf(b, "{\n  \"format\": \"%s\",\n  \"model_name\": ",
		       ARCHIVE_FORMAT);
	cbd_buf_json_str(b, p->model_name);
	cbd_buf_printf(b, ",\n  \"mode\": \"%s\",\n  \"circuit_id\": \"%s\","
		       "\n  \"user\": ",
		       cbd_mode_name(cbd_circuit_mode(p->circuit)), hex);
	if (user)
		cbd_buf_json_str(b, user);
	else
		cbd_buf_add(b, "null", 4);
	cbd_buf_printf(b, ",\n  \"input\": ");
	cbd_buf_json_str(b, p->input_name);
	cbd_buf_printf(b, ",\n  \"classes\": [");
	for (int i = 0; i < k; i++) {
		char num[16];

		snprintf(num, sizeof(num), "%d", i);
		if (i)
			cbd_buf_add(b, ", ", 2);
		cbd_buf_json_str(b, p->classes ? p->classes[i] : num);
	}
	cbd_buf_printf(b, "],\n  \"signer\": {\n    \"key_id\": \"%s\",\n"
		       "    \"public_key\": ", kid);
	cbd_buf_json_str(b, pem);
	cbd_buf_printf(b, "\n  },\n  \"created\": %lld,\n  \"members\": [\n",
		       (long long)p->created);
	put_member_digest(b, cbd_ar_names[AR_CIRCUIT], &m[AR_CIRCUIT], 0);
	put_member_digest(b, cbd_ar_names[AR_MODEL], &m[AR_MODEL], 1);
	cbd_buf_printf(b, "  ]\n}\n");
	free(pem);
	if (b->st)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

static cbd_status sig_encode(const cbd_key *owner, const cbd_buf *man,
			     cbd_buf *b, cbd_err *err)
{
	uint8_t sig[CBD_SIG_LEN];
	char kid[CBD_KEY_ID_LEN + 1], b64[89];
	cbd_status s = cbd_key_sign(owner, man->p, man->len, sig, err);

	if (s != CBD_OK)
		return s;
	cbd_key_id(owner, kid);
	cbd_base64(sig, sizeof(sig), b64);
	cbd_buf_printf(b, "%s%s\n%s\n", SIG_PREFIX, kid, b64);
	if (b->st)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

cbd_status cbd_archive_encode(const cbd_archive_params *p, uint8_t **out,
			      size_t *olen, cbd_err *err)
{
	struct cbd_ar_member m[AR_NMEMBERS] = {{0}};
	cbd_buf man = {0}, sig = {0};
	uint8_t *tar = NULL, *circ = NULL;
	size_t tlen = 0, clen = 0;
	cbd_archive *check = NULL;
	cbd_status s;

	*out = NULL;
	*olen = 0;
	s = check_params(p, err);
	if (s == CBD_OK)
		s = cbd_circuit_to_json(p->circuit, &circ, &clen, err);
	m[AR_CIRCUIT] = (struct cbd_ar_member){circ, clen};
	m[AR_MODEL] = (struct cbd_ar_member){(uint8_t *)p->onnx, p->onnx_len};
	if (s == CBD_OK)
		s = manifest_encode(p, m, &man, err);
	if (s == CBD_OK)
		s = sig_encode(p->owner, &man, &sig, err);
	m[AR_MANIFEST] = (struct cbd_ar_member){(uint8_t *)man.p, man.len};
	m[AR_SIG] = (struct cbd_ar_member){(uint8_t *)sig.p, sig.len};
	if (s == CBD_OK)
		s = cbd_tar_encode(m, p->created, &tar, &tlen, err);
	if (s == CBD_OK)
		s = cbd_gz_encode(tar, tlen, out, olen, err);
	/* Never hand out an archive our own reader would refuse. */
	if (s == CBD_OK)
		s = cbd_archive_open_mem(*out, *olen, "new archive", &check,
					 err);
	if (s != CBD_OK) {
		free(*out);
		*out = NULL;
		*olen = 0;
	}
	cbd_archive_free(check);
	free(tar);
	free(circ);
	free(man.p);
	free(sig.p);
	return s;
}

cbd_status cbd_archive_write(const char *path, const cbd_archive_params *p,
			     cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s = cbd_archive_encode(p, &buf, &len, err);

	if (s != CBD_OK)
		return s;
	s = cbd_file_write_atomic(path, buf, len, 0644, err);
	free(buf);
	return s;
}

/* ---- reading ---------------------------------------------------------- */

struct manifest {
	const char *format, *model_name, *mode, *circuit_id, *user, *input;
	const cJSON *classes, *members;
	const char *key_id, *public_key;
	double created;
};

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static cbd_status manifest_fields(const cJSON *doc, struct manifest *mf,
				  const char *where, cbd_err *err)
{
	static const char *const top[] = {"format", "model_name", "mode",
					  "circuit_id", "user", "input",
					  "classes", "signer", "created",
					  "members"};
	static const char *const sg[] = {"key_id", "public_key"};
	const cJSON *signer = cJSON_GetObjectItemCaseSensitive(doc, "signer");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(doc, "user");
	const cJSON *cr = cJSON_GetObjectItemCaseSensitive(doc, "created");
	const char *why = cbd_json_bad_members(doc, top, 10, NULL);

	if (!why)
		why = cbd_json_bad_members(signer, sg, 2, NULL);
	if (why)
		return cbd_err_set(err, CBD_E_FORMAT, "%s (%s)", why, where);
	mf->format = jstr(doc, "format");
	mf->model_name = jstr(doc, "model_name");
	mf->mode = jstr(doc, "mode");
	mf->circuit_id = jstr(doc, "circuit_id");
	mf->user = jstr(doc, "user");
	mf->input = jstr(doc, "input");
	mf->classes = cJSON_GetObjectItemCaseSensitive(doc, "classes");
	mf->members = cJSON_GetObjectItemCaseSensitive(doc, "members");
	mf->key_id = jstr(signer, "key_id");
	mf->public_key = jstr(signer, "public_key");
	if (!mf->format || strcmp(mf->format, ARCHIVE_FORMAT) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "not %s (%s, format)",
				   ARCHIVE_FORMAT, where);
	if (!mf->model_name || !cbd_id_valid(mf->model_name) || !mf->mode ||
	    !mf->circuit_id || !mf->input || !text_ok(mf->input, MAX_NAME) ||
	    !(mf->user ? text_ok(mf->user, MAX_NAME) : cJSON_IsNull(user)) ||
	    !cJSON_IsArray(mf->classes) || !cJSON_IsArray(mf->members) ||
	    !mf->key_id || !mf->public_key || !cJSON_IsNumber(cr))
		return cbd_err_set(err, CBD_E_FORMAT, "missing or mistyped "
				   "field (%s)", where);
	mf->created = cr->valuedouble;
	if (mf->created < 0 || mf->created > MAX_TIME ||
	    mf->created != floor(mf->created))
		return cbd_err_set(err, CBD_E_FORMAT, "bad creation time (%s, "
				   "created)", where);
	return CBD_OK;
}

static cbd_status take_classes(cbd_archive *a, const cJSON *classes,
			       const char *where, cbd_err *err)
{
	int n = cJSON_GetArraySize(classes), i = 0;
	const cJSON *c;

	if (n < 2 || n > 65536)
		return cbd_err_set(err, CBD_E_FORMAT, "bad number of classes "
				   "(%s, classes)", where);
	a->classes = cbd_xcalloc((size_t)n, sizeof(char *), err);
	if (!a->classes)
		return CBD_E_NOMEM;
	a->num_classes = n;
	cJSON_ArrayForEach(c, classes) {
		if (!cJSON_IsString(c) || !text_ok(c->valuestring,
						   MAX_CLASS_NAME))
			return cbd_err_set(err, CBD_E_FORMAT, "bad class name "
					   "%d (%s, classes)", i, where);
		a->classes[i] = strdup(c->valuestring);
		if (!a->classes[i++])
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	return CBD_OK;
}

/* Size and SHA-256 of member k against the manifest's entry e. */
static cbd_status check_digest(const cJSON *e, const struct cbd_ar_member *m,
			       const char *member, const char *name,
			       cbd_err *err)
{
	static const char *const fields[] = {"name", "size", "sha256"};
	const cJSON *size = cJSON_GetObjectItemCaseSensitive(e, "size");
	const char *nm = jstr(e, "name"), *hex = jstr(e, "sha256");
	uint8_t want[CBD_SHA256_LEN], got[CBD_SHA256_LEN];

	if (cbd_json_bad_members(e, fields, 3, NULL) || !nm ||
	    strcmp(nm, member) != 0 || !cJSON_IsNumber(size) || !hex ||
	    cbd_unhex(hex, want, sizeof(want), NULL) != CBD_OK)
		return cbd_err_set(err, CBD_E_FORMAT, "bad members entry for "
				   "%s (manifest.json in %s)", member, name);
	if (size->valuedouble != (double)m->len)
		return cbd_err_set(err, CBD_E_VERIFY, "%s is %zu bytes, the "
				   "manifest says %.0f (%s)", member, m->len,
				   size->valuedouble, name);
	if (cbd_sha256(m->data, m->len, got, err) != CBD_OK)
		return CBD_E_CRYPTO;
	if (memcmp(got, want, sizeof(got)) != 0)
		return cbd_err_set(err, CBD_E_VERIFY, "%s does not match its "
				   "SHA-256 in the manifest (%s)", member, name);
	return CBD_OK;
}

/* Parse manifest.sig: exact length, prefix, key id, canonical base64. */
static cbd_status sig_parse(const struct cbd_ar_member *m, const char *kid,
			    uint8_t sig[CBD_SIG_LEN], const char *name,
			    cbd_err *err)
{
	const char *t = (const char *)m->data;
	size_t p = sizeof(SIG_PREFIX) - 1;

	if (m->len != SIG_FILE_LEN || memcmp(t, SIG_PREFIX, p) != 0 ||
	    t[p + CBD_KEY_ID_LEN] != '\n' || t[SIG_FILE_LEN - 1] != '\n')
		return cbd_err_set(err, CBD_E_FORMAT, "malformed signature "
				   "file (manifest.sig in %s)", name);
	if (memcmp(t + p, kid, CBD_KEY_ID_LEN) != 0)
		return cbd_err_set(err, CBD_E_VERIFY, "manifest.sig names key "
				   "%.16s, the manifest's signer is %s (%s)",
				   t + p, kid, name);
	if (cbd_unbase64(t + p + CBD_KEY_ID_LEN + 1, 88, sig, CBD_SIG_LEN,
			 NULL) != CBD_OK)
		return cbd_err_set(err, CBD_E_FORMAT, "malformed signature "
				   "(manifest.sig in %s)", name);
	return CBD_OK;
}

static cbd_status check_signature(cbd_archive *a, const struct manifest *mf,
				  const char *name, cbd_err *err)
{
	uint8_t sig[CBD_SIG_LEN];
	char kid[CBD_KEY_ID_LEN + 1];
	cbd_status s;

	s = cbd_key_from_pem(mf->public_key, strlen(mf->public_key),
			     "manifest.json signer", &a->signer, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "%s", name);
	if (cbd_key_is_private(a->signer))
		return cbd_err_set(err, CBD_E_FORMAT, "the manifest holds a "
				   "private key (manifest.json in %s)", name);
	cbd_key_id(a->signer, kid);
	if (strcmp(kid, mf->key_id) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "signer key_id %.16s is "
				   "not the id of its key %s (manifest.json in "
				   "%s)", mf->key_id, kid, name);
	s = sig_parse(&a->m[AR_SIG], kid, sig, name, err);
	if (s != CBD_OK)
		return s;
	if (cbd_key_verify(a->signer, a->m[AR_MANIFEST].data,
			   a->m[AR_MANIFEST].len, sig, err) != CBD_OK)
		return cbd_err_set(err, CBD_E_VERIFY, "manifest signature by "
				   "key %s does not verify (manifest.sig in "
				   "%s)", kid, name);
	return CBD_OK;
}

/* The circuit must say what the manifest says. */
static cbd_status check_circuit(cbd_archive *a, const struct manifest *mf,
				const char *name, cbd_err *err)
{
	const cbd_circuit *c = a->circuit;
	uint8_t cid[CBD_CIRCUIT_ID_LEN];
	char hex[2 * CBD_CIRCUIT_ID_LEN + 1];
	const char *u = cbd_circuit_user_id(c), *field = NULL;

	cbd_circuit_id(c, cid);
	cbd_hex(cid, sizeof(cid), hex);
	if (strcmp(mf->mode, cbd_mode_name(cbd_circuit_mode(c))) != 0)
		field = "mode";
	else if (strcmp(mf->circuit_id, hex) != 0)
		field = "circuit_id";
	else if ((u == NULL) != (mf->user == NULL) ||
		 (u && strcmp(u, mf->user) != 0))
		field = "user";
	else if (cbd_circuit_num_classes(c) != a->num_classes)
		field = "classes";
	if (field)
		return cbd_err_set(err, CBD_E_FORMAT, "circuit.json and "
				   "manifest.json disagree on %s (%s)", field,
				   name);
	return CBD_OK;
}

/* The file must be exactly the canonical encoding of its members: tar and
 * deflate both admit other encodings of the same content (a match copied
 * from another run of zeros, a different Huffman table), and an archive
 * that can change without its content changing is not tamper-evident. */
static cbd_status check_canonical(const cbd_archive *a, const uint8_t *file,
				  size_t flen, const uint8_t *tar, size_t tlen,
				  const char *name, cbd_err *err)
{
	uint8_t *canon = NULL, *gz = NULL;
	size_t clen = 0, glen = 0;
	cbd_status s = cbd_tar_encode(a->m, a->created, &canon, &clen, err);

	if (s == CBD_OK && (clen != tlen || memcmp(canon, tar, tlen) != 0))
		s = cbd_err_set(err, CBD_E_FORMAT, "tar stream is not in "
				"canonical form (%s)", name);
	if (s == CBD_OK)
		s = cbd_gz_encode(canon, clen, &gz, &glen, err);
	if (s == CBD_OK && (glen != flen || memcmp(gz, file, flen) != 0))
		s = cbd_err_set(err, CBD_E_FORMAT, "compressed stream is not "
				"in canonical form (%s)", name);
	free(gz);
	free(canon);
	return s;
}

static cbd_status take_strings(cbd_archive *a, const struct manifest *mf,
			       cbd_err *err)
{
	a->model_name = strdup(mf->model_name);
	a->input_name = strdup(mf->input);
	a->user = mf->user ? strdup(mf->user) : NULL;
	a->created = (int64_t)mf->created;
	if (!a->model_name || !a->input_name || (mf->user && !a->user))
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return CBD_OK;
}

static cbd_status open_members(cbd_archive *a, const uint8_t *file,
			       size_t flen, const uint8_t *tar, size_t tlen,
			       const char *name, cbd_err *err)
{
	struct manifest mf = {0};
	char where[300];
	cbd_status s;
	cJSON *doc;
	const char *end = NULL;

	snprintf(where, sizeof(where), "manifest.json in %s", name);
	doc = cJSON_ParseWithLengthOpts((const char *)a->m[AR_MANIFEST].data,
					a->m[AR_MANIFEST].len + 1, &end, 1);
	if (!doc)
		return cbd_err_set(err, CBD_E_FORMAT, "invalid JSON (%s)",
				   where);
	s = manifest_fields(doc, &mf, where, err);
	if (s == CBD_OK)
		s = take_strings(a, &mf, err);
	if (s == CBD_OK)
		s = take_classes(a, mf.classes, where, err);
	if (s == CBD_OK && cJSON_GetArraySize(mf.members) != 2)
		s = cbd_err_set(err, CBD_E_FORMAT, "members must list "
				"circuit.json and model.onnx (%s)", where);
	if (s == CBD_OK)
		s = check_signature(a, &mf, name, err);
	if (s == CBD_OK)
		s = check_digest(cJSON_GetArrayItem(mf.members, 0),
				 &a->m[AR_CIRCUIT], "circuit.json", name, err);
	if (s == CBD_OK)
		s = check_digest(cJSON_GetArrayItem(mf.members, 1),
				 &a->m[AR_MODEL], "model.onnx", name, err);
	if (s == CBD_OK) {
		s = cbd_circuit_from_json(a->m[AR_CIRCUIT].data,
					  a->m[AR_CIRCUIT].len, "circuit.json",
					  &a->circuit, err);
		if (s != CBD_OK)
			cbd_err_prefix(err, "%s", name);
	}
	if (s == CBD_OK)
		s = check_circuit(a, &mf, name, err);
	if (s == CBD_OK)
		s = check_canonical(a, file, flen, tar, tlen, name, err);
	cJSON_Delete(doc);
	return s;
}

cbd_status cbd_archive_open_mem(const uint8_t *buf, size_t len,
				const char *name, cbd_archive **out,
				cbd_err *err)
{
	uint8_t *tar = NULL;
	size_t tlen = 0;
	cbd_archive *a;
	cbd_status s;

	*out = NULL;
	name = name ? name : "archive";
	if (len > CBD_MAX_ARCHIVE)
		return cbd_err_set(err, CBD_E_TOOBIG, "archive larger than %zu "
				   "bytes (%s)", CBD_MAX_ARCHIVE, name);
	a = cbd_xcalloc(1, sizeof(*a), err);
	if (!a)
		return CBD_E_NOMEM;
	s = cbd_gz_decode(buf, len, CBD_MAX_ARCHIVE_TAR, name, &tar, &tlen,
			  err);
	if (s == CBD_OK)
		s = cbd_tar_decode(tar, tlen, name, a->m, err);
	if (s == CBD_OK)
		s = open_members(a, buf, len, tar, tlen, name, err);
	free(tar);
	if (s != CBD_OK) {
		cbd_archive_free(a);
		return s;
	}
	*out = a;
	return CBD_OK;
}

cbd_status cbd_archive_open(const char *path, cbd_archive **out,
			    cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	*out = NULL;
	s = cbd_file_read(path, CBD_MAX_ARCHIVE, &buf, &len, err);
	if (s != CBD_OK)
		return s;
	s = cbd_archive_open_mem(buf, len, path, out, err);
	free(buf);
	return s;
}
