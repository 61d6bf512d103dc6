/*
 * triggers.c — trigger sets: the owner's signed inputs and the labels she
 * expects (formats/triggers.md).
 *
 * A set is two files: FILE, a JSON document "cbd-triggers/1" that records
 * the circuit (id, mode, K, sample shape and quantiser), the signer's public
 * key and one entry per trigger (id, key index, payload, owner label, the
 * 57-byte message and the signed byte sample in base64); and FILE.sig, a
 * small JSON document holding the signer's key id and an Ed25519/P-256
 * signature over
 *
 *     "cbd/triggers/v1" || 0x00 || SHA-256(exact bytes of FILE)
 *
 * Loading reads both under caps, checks the signature (against a given
 * owner key, or the key recorded in the file) before trusting anything,
 * then validates every trigger: length of the sample, carrier fields equal
 * to the listed key index and payload, and the message recomputed from the
 * sample.  The digest reported for a set is SHA-256 of FILE's bytes.
 */
#include "../circuit/circuit_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TS_MAX_SIG_FILE 4096
#define TS_ID_MAX 64
static const char sig_domain[] = "cbd/triggers/v1"; /* + NUL byte */

struct item {
	cbd_trigger pub;
	char *id;
	cbd_tensor *input;
	uint8_t msg[CBD_MSG_LEN];
};

struct cbd_triggerset {
	uint8_t digest[CBD_SHA256_LEN];
	cbd_mode mode;
	int num_classes;
	struct cbd_geometry g;     /* the circuit's id, shape and quantiser */
	cbd_key *signer;
	struct item *items;
	size_t count, cap;
};

/* ---- accessors ----------------------------------------------------- */

size_t cbd_triggerset_count(const cbd_triggerset *ts)
{
	return ts->count;
}

const cbd_trigger *cbd_triggerset_get(const cbd_triggerset *ts, size_t i)
{
	return i < ts->count ? &ts->items[i].pub : NULL;
}

int cbd_triggerset_num_classes(const cbd_triggerset *ts)
{
	return ts->num_classes;
}

void cbd_triggerset_circuit_id(const cbd_triggerset *ts,
			       uint8_t id[CBD_CIRCUIT_ID_LEN])
{
	memcpy(id, ts->g.id, CBD_CIRCUIT_ID_LEN);
}

void cbd_triggerset_digest(const cbd_triggerset *ts,
			   uint8_t out[CBD_SHA256_LEN])
{
	memcpy(out, ts->digest, CBD_SHA256_LEN);
}

const cbd_key *cbd_triggerset_signer(const cbd_triggerset *ts)
{
	return ts->signer;
}

cbd_mode cbd_triggerset_mode(const cbd_triggerset *ts)
{
	return ts->mode;
}

cbd_status cbd_triggerset_input_float(const cbd_triggerset *ts, size_t i,
				      float **x, cbd_err *err)
{
	*x = NULL;
	if (i >= ts->count)
		return cbd_err_set(err, CBD_E_USAGE, "no trigger %zu", i);
	*x = cbd_xcalloc(ts->g.n, sizeof(float), err);
	if (!*x)
		return CBD_E_NOMEM;
	cbd_geometry_dequantize(&ts->g, ts->items[i].input->data, *x);
	return CBD_OK;
}

void cbd_triggerset_free(cbd_triggerset *ts)
{
	if (!ts)
		return;
	for (size_t i = 0; i < ts->count; i++) {
		free(ts->items[i].id);
		cbd_tensor_free(ts->items[i].input);
	}
	free(ts->items);
	cbd_geometry_free(&ts->g);
	cbd_key_free(ts->signer);
	free(ts);
}

/* ---- building ------------------------------------------------------ */

cbd_status cbd_triggerset_new(const cbd_circuit *c, cbd_triggerset **out,
			      cbd_err *err)
{
	cbd_triggerset *ts;

	*out = NULL;
	if (c->mode != CBD_MODE_WATERMARK && c->mode != CBD_MODE_TRACE)
		return cbd_err_set(err, CBD_E_USAGE, "trigger sets are for "
				   "watermark and trace circuits, not %s",
				   cbd_mode_name(c->mode));
	ts = cbd_xcalloc(1, sizeof(*ts), err);
	if (!ts)
		return CBD_E_NOMEM;
	ts->mode = c->mode;
	ts->num_classes = c->num_classes;
	if (cbd_geometry_copy(&ts->g, &c->g, err)) {
		cbd_triggerset_free(ts);
		return CBD_E_NOMEM;
	}
	*out = ts;
	return CBD_OK;
}

/* Carrier fields of q: tag ok?, key index, payload. */
static void carrier_fields(const cbd_triggerset *ts, const uint8_t *q,
			   int *tag_ok, int *key_index, uint16_t *payload)
{
	uint8_t f[5] = {0};

	for (int k = 0; k < 40; k++)
		f[k / 8] |= (uint8_t)((q[ts->g.pos[k]] & 1) << (7 - k % 8));
	*tag_ok = f[0] == ts->g.tag[0] && f[1] == ts->g.tag[1];
	*key_index = f[2];
	*payload = (uint16_t)(f[3] << 8 | f[4]);
}

/* Append one trigger (all checks of formats/triggers.md). */
static cbd_status add_item(cbd_triggerset *ts, const char *id,
			   const uint8_t *q, int owner_label,
			   uint16_t payload, int key_index, cbd_err *err)
{
	struct item *it;
	int tag_ok, ki;
	uint16_t pl;
	cbd_status s;

	if (!cbd_text_ok(id, TS_ID_MAX))
		return cbd_err_set(err, CBD_E_FORMAT, "trigger id must be 1 "
				   "to %d printable ASCII characters",
				   TS_ID_MAX);
	if (ts->count == CBD_MAX_TRIGGERS)
		return cbd_err_set(err, CBD_E_TOOBIG, "more than %d triggers",
				   CBD_MAX_TRIGGERS);
	if (key_index < 0 || key_index > 255)
		return cbd_err_set(err, CBD_E_FORMAT, "key index %d "
				   "(trigger %s)", key_index, id);
	if (ts->mode == CBD_MODE_WATERMARK &&
	    (owner_label != payload || owner_label >= ts->num_classes))
		return cbd_err_set(err, CBD_E_FORMAT, "watermark owner label "
				   "must equal the payload and be below K "
				   "(trigger %s)", id);
	if (ts->mode == CBD_MODE_TRACE && owner_label != -1)
		return cbd_err_set(err, CBD_E_FORMAT, "trace triggers have "
				   "owner label -1 (trigger %s)", id);
	carrier_fields(ts, q, &tag_ok, &ki, &pl);
	if (!tag_ok || ki != key_index || pl != payload)
		return cbd_err_set(err, CBD_E_FORMAT, "carrier of the input "
				   "does not hold the circuit's tag, key index "
				   "and payload (trigger %s)", id);
	if (ts->count == ts->cap) {
		size_t cap = ts->cap ? 2 * ts->cap : 64;
		struct item *p = realloc(ts->items, cap * sizeof(*p));

		if (!p)
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		ts->items = p;
		ts->cap = cap;
	}
	it = &ts->items[ts->count];
	memset(it, 0, sizeof(*it));
	s = cbd_circuit_message_raw(&ts->g, q, key_index, payload, it->msg, err);
	if (s)
		return s;
	s = cbd_tensor_new(CBD_DT_UINT8, ts->g.ndim, ts->g.dims, &it->input,
			   err);
	if (s)
		return s;
	memcpy(it->input->data, q, ts->g.n);
	it->id = strdup(id);
	if (!it->id) {
		cbd_tensor_free(it->input);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	it->pub.owner_label = owner_label;
	it->pub.payload = payload;
	it->pub.key_index = key_index;
	ts->count++;
	return CBD_OK;
}

/* The public views point into items, which realloc may move: fill them in
 * only once the set is complete. */
static void fix_view(struct item *it)
{
	it->pub.id = it->id;
	it->pub.input = it->input;
	it->pub.message = it->msg;
	it->pub.message_len = CBD_MSG_LEN;
}

static void fix_views(cbd_triggerset *ts)
{
	for (size_t i = 0; i < ts->count; i++)
		fix_view(&ts->items[i]);
}

cbd_status cbd_triggerset_add(cbd_triggerset *ts, const char *id,
			      const uint8_t *q, int owner_label,
			      uint16_t payload, int key_index, cbd_err *err)
{
	struct item *before = ts->items;
	cbd_status s = add_item(ts, id, q, owner_label, payload, key_index,
				err);

	if (ts->items != before)
		fix_views(ts);          /* moved: every view, O(n) per doubling */
	else if (!s)
		fix_view(&ts->items[ts->count - 1]);
	return s;
}

/* ---- writing ------------------------------------------------------- */

static void put_header(cbd_buf *b, const cbd_triggerset *ts,
		       const cbd_key *owner, int64_t created, cbd_err *err)
{
	char kid[CBD_KEY_ID_LEN + 1], *pem = NULL;

	cbd_buf_puts(b, "{\"format\":\"cbd-triggers/1\",\"circuit_id\":");
	cbd_buf_json_hex(b, ts->g.id, CBD_CIRCUIT_ID_LEN);
	if (ts->g.version != 1)   /* absent: cbd-circuit/1, as sets were */
		cbd_buf_printf(b, ",\"circuit_format\":\"cbd-circuit/%d\"",
			       ts->g.version);
	cbd_buf_puts(b, ",\"mode\":");
	cbd_buf_json_str_ascii(b, cbd_mode_name(ts->mode));
	cbd_buf_printf(b, ",\"num_classes\":%d,\"shape\":[",
		       ts->num_classes);
	for (int i = 0; i < ts->g.ndim; i++)
		cbd_buf_printf(b, i ? ",%lld" : "%lld",
			       (long long)ts->g.dims[i]);
	cbd_buf_printf(b, "],\"quantizer\":{\"channels\":%d",
		       ts->g.channels);
	if (ts->g.axis)       /* absent: axis 0, as sets were */
		cbd_buf_printf(b, ",\"axis\":%d", ts->g.axis);
	cbd_buf_puts(b, ",\"scale\":[");
	for (int i = 0; i < ts->g.channels; i++) {
		cbd_buf_puts(b, i ? "," : "");
		cbd_circuit_put_float(b, ts->g.scale[i]);
	}
	cbd_buf_puts(b, "],\"zero\":[");
	for (int i = 0; i < ts->g.channels; i++) {
		cbd_buf_puts(b, i ? "," : "");
		cbd_circuit_put_float(b, ts->g.zero[i]);
	}
	cbd_buf_printf(b, "]},\"created\":%lld,\"signer\":{\"key_id\":",
		       (long long)created);
	if (cbd_key_public_pem(owner, &pem, err) != CBD_OK) {
		b->st = err ? err->code : CBD_E_CRYPTO;
		return;
	}
	cbd_key_id(owner, kid);
	cbd_buf_json_str_ascii(b, kid);
	cbd_buf_puts(b, ",\"public_key\":");
	cbd_buf_json_str_ascii(b, pem);
	cbd_buf_puts(b, "},\n\"triggers\":[");
	free(pem);
}

static void put_b64(cbd_buf *b, const uint8_t *data, size_t n)
{
	char out[4 * 48 / 3 + 1];

	cbd_buf_puts(b, "\"");
	for (size_t off = 0; off < n; off += 48) {
		size_t k = n - off > 48 ? 48 : n - off;
		int w = EVP_EncodeBlock((unsigned char *)out, data + off,
					(int)k);

		cbd_buf_add(b, out, (size_t)w);
	}
	cbd_buf_puts(b, "\"");
}

static cbd_status triggers_json(const cbd_triggerset *ts,
				const cbd_key *owner, int64_t created,
				uint8_t **buf, size_t *len, cbd_err *err)
{
	cbd_buf b = {.max = CBD_MAX_JSON};

	put_header(&b, ts, owner, created, err);
	for (size_t i = 0; i < ts->count; i++) {
		const struct item *it = &ts->items[i];

		cbd_buf_puts(&b, i ? ",\n{\"id\":" : "\n{\"id\":");
		cbd_buf_json_str_ascii(&b, it->id);
		cbd_buf_printf(&b, ",\"key_index\":%d,\"payload\":%u,"
			       "\"owner_label\":%d,\"message\":",
			       it->pub.key_index, it->pub.payload,
			       it->pub.owner_label);
		cbd_buf_json_hex(&b, it->msg, CBD_MSG_LEN);
		cbd_buf_puts(&b, ",\"input\":");
		put_b64(&b, it->input->data, ts->g.n);
		cbd_buf_puts(&b, "}");
	}
	cbd_buf_puts(&b, "\n]}\n");
	return cbd_buf_finish(&b, "JSON", buf, len, err);
}

/* "cbd/triggers/v1" || 0x00 || SHA-256(file bytes) */
static cbd_status sig_message(const uint8_t *buf, size_t len,
			      uint8_t msg[sizeof(sig_domain) + CBD_SHA256_LEN],
			      cbd_err *err)
{
	memcpy(msg, sig_domain, sizeof(sig_domain));
	return cbd_sha256(buf, len, msg + sizeof(sig_domain), err);
}

static char *sig_path(const char *path, cbd_err *err)
{
	char *p = cbd_sig_path(path);

	if (!p)
		cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	return p;
}

cbd_status cbd_triggerset_save(const cbd_triggerset *ts, const char *path,
			       const cbd_key *owner, int64_t created,
			       cbd_err *err)
{
	uint8_t msg[sizeof(sig_domain) + CBD_SHA256_LEN], sig[CBD_SIG_LEN];
	uint8_t *buf = NULL;
	char kid[CBD_KEY_ID_LEN + 1], hex[2 * CBD_SIG_LEN + 1], *sp;
	char sigdoc[256];
	size_t len = 0;
	cbd_status s;
	int n;

	if (strcmp(path, "-") == 0)
		return cbd_err_set(err, CBD_E_USAGE, "a trigger set needs a "
				   "file name (it is written with a .sig "
				   "beside it)");
	if (!cbd_key_is_private(owner))
		return cbd_err_set(err, CBD_E_USAGE, "signing a trigger set "
				   "needs the owner's private key");
	s = triggers_json(ts, owner, created, &buf, &len, err);
	if (!s)
		s = sig_message(buf, len, msg, err);
	if (!s)
		s = cbd_key_sign(owner, msg, sizeof(msg), sig, err);
	if (s) {
		free(buf);
		return s;
	}
	cbd_key_id(owner, kid);
	cbd_hex(sig, CBD_SIG_LEN, hex);
	n = snprintf(sigdoc, sizeof(sigdoc), "{\"format\":\"cbd-triggers-sig/"
		     "1\",\"key_id\":\"%s\",\"signature\":\"%s\"}\n", kid, hex);
	sp = sig_path(path, err);
	if (!sp) {
		free(buf);
		return CBD_E_NOMEM;
	}
	s = cbd_file_write_atomic(path, buf, len, 0644, err);
	if (!s) {
		s = cbd_file_write_atomic(sp, sigdoc, (size_t)n, 0644, err);
		if (s)
			unlink(path);
	}
	free(sp);
	free(buf);
	return s;
}

/* ---- loading ------------------------------------------------------- */

static const cJSON *get(const cJSON *o, const char *name, int type,
			const char *where, cbd_err *err)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!m || (m->type & 0xff) != type) {
		cbd_err_set(err, CBD_E_FORMAT, "%s %s (%s)",
			    m ? "wrong type for" : "missing", name, where);
		return NULL;
	}
	return m;
}

static cbd_status get_int(const cJSON *o, const char *name, double lo,
			  double hi, long long *v, const char *where,
			  cbd_err *err)
{
	const cJSON *m = get(o, name, cJSON_Number, where, err);

	if (!m)
		return CBD_E_FORMAT;
	if (!isfinite(m->valuedouble) ||
	    m->valuedouble != floor(m->valuedouble) ||
	    m->valuedouble < lo || m->valuedouble > hi)
		return cbd_err_set(err, CBD_E_FORMAT, "%s out of range (%s)",
				   name, where);
	*v = (long long)m->valuedouble;
	return CBD_OK;
}

static cbd_status get_hex(const cJSON *o, const char *name, uint8_t *out,
			  size_t n, const char *where, cbd_err *err)
{
	const cJSON *m = get(o, name, cJSON_String, where, err);

	if (!m)
		return CBD_E_FORMAT;
	if (cbd_unhex(m->valuestring, out, n, err))
		return cbd_err_prefix(err, "%s.%s", where, name);
	return CBD_OK;
}

/* Verify FILE.sig over buf with key (and that it names key's id). */
static cbd_status check_sig(const char *path, const uint8_t *buf, size_t len,
			    const cbd_key *key, cbd_err *err)
{
	uint8_t msg[sizeof(sig_domain) + CBD_SHA256_LEN], sig[CBD_SIG_LEN];
	char kid[CBD_KEY_ID_LEN + 1], *sp = sig_path(path, err);
	uint8_t *sb = NULL;
	size_t sl = 0;
	const cJSON *f, *k;
	cJSON *root = NULL;
	cbd_status s;

	if (!sp)
		return CBD_E_NOMEM;
	s = cbd_file_read(sp, TS_MAX_SIG_FILE, &sb, &sl, err);
	if (s)
		goto out;
	root = cJSON_ParseWithLength((const char *)sb, sl);
	s = cbd_err_set(err, CBD_E_FORMAT, "not a trigger-set signature "
			"(%s)", sp);
	if (!root || !cJSON_IsObject(root))
		goto out;
	f = get(root, "format", cJSON_String, sp, err);
	k = get(root, "key_id", cJSON_String, sp, err);
	if (!f || !k || strcmp(f->valuestring, "cbd-triggers-sig/1") != 0 ||
	    get_hex(root, "signature", sig, CBD_SIG_LEN, sp, err))
		goto out;
	cbd_key_id(key, kid);
	if (strcmp(k->valuestring, kid) != 0) {
		s = cbd_err_set(err, CBD_E_VERIFY, "trigger set signed by key "
				"%.16s, not %s (%s)", k->valuestring, kid, sp);
		goto out;
	}
	s = sig_message(buf, len, msg, err);
	if (!s && cbd_key_verify(key, msg, sizeof(msg), sig, err))
		s = cbd_err_set(err, CBD_E_VERIFY, "trigger-set signature "
				"does not verify (%s)", sp);
out:
	cJSON_Delete(root);
	free(sb);
	free(sp);
	return s;
}

/* The signer recorded in the file; then the signature against owner (if
 * given, it must be the same key) or that signer. */
static cbd_status load_signer(cbd_triggerset *ts, const cJSON *root,
			      const char *path, const uint8_t *buf,
			      size_t len, const cbd_key *owner, cbd_err *err)
{
	char kid[CBD_KEY_ID_LEN + 1], oid[CBD_KEY_ID_LEN + 1];
	const cJSON *sg = get(root, "signer", cJSON_Object, "triggers", err);
	const cJSON *pem, *id;
	cbd_status s;

	if (!sg)
		return CBD_E_FORMAT;
	pem = get(sg, "public_key", cJSON_String, "triggers.signer", err);
	id = get(sg, "key_id", cJSON_String, "triggers.signer", err);
	if (!pem || !id)
		return CBD_E_FORMAT;
	s = cbd_key_from_pem(pem->valuestring, strlen(pem->valuestring),
			     "triggers.signer", &ts->signer, err);
	if (s)
		return s;
	if (cbd_key_is_private(ts->signer))
		return cbd_err_set(err, CBD_E_FORMAT, "private key in a "
				   "trigger set (triggers.signer)");
	cbd_key_id(ts->signer, kid);
	if (strcmp(kid, id->valuestring) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "key_id does not match "
				   "the key (triggers.signer)");
	if (owner) {
		cbd_key_id(owner, oid);
		if (strcmp(oid, kid) != 0)
			return cbd_err_set(err, CBD_E_VERIFY, "trigger set "
					   "signed by %s, not by the owner "
					   "key %s (%s)", kid, oid, path);
	}
	return check_sig(path, buf, len, owner ? owner : ts->signer, err);
}

static cbd_status load_geometry(cbd_triggerset *ts, const cJSON *root,
				cbd_err *err)
{
	const cJSON *m, *qz, *a;
	long long v;
	cbd_status s;
	int i = 0;

	m = get(root, "mode", cJSON_String, "triggers", err);
	if (!m)
		return CBD_E_FORMAT;
	ts->mode = cbd_mode_parse(m->valuestring);
	if (ts->mode != CBD_MODE_WATERMARK && ts->mode != CBD_MODE_TRACE)
		return cbd_err_set(err, CBD_E_FORMAT, "mode must be watermark "
				   "or trace (triggers.mode)");
	s = get_hex(root, "circuit_id", ts->g.id, CBD_CIRCUIT_ID_LEN,
		    "triggers", err);
	ts->g.version = 1;
	m = cJSON_GetObjectItemCaseSensitive(root, "circuit_format");
	if (!s && m) {
		if (!cJSON_IsString(m) ||
		    strcmp(m->valuestring, "cbd-circuit/2"))
			return cbd_err_set(err, CBD_E_UNSUPPORTED, "circuit "
					   "format is not cbd-circuit/2 "
					   "(triggers.circuit_format)");
		ts->g.version = 2;
	}
	if (!s)
		s = get_int(root, "num_classes", 2, CBD_MAX_CLASSES, &v,
			    "triggers", err);
	if (s)
		return s;
	ts->num_classes = (int)v;
	a = get(root, "shape", cJSON_Array, "triggers", err);
	if (!a)
		return CBD_E_FORMAT;
	ts->g.ndim = cJSON_GetArraySize(a);
	if (ts->g.ndim < 1 || ts->g.ndim > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_FORMAT, "bad rank "
				   "(triggers.shape)");
	for (const cJSON *d = a->child; d; d = d->next, i++) {
		if (!cJSON_IsNumber(d) || d->valuedouble < 1 ||
		    d->valuedouble > (double)CBD_MAX_ELEMS ||
		    d->valuedouble != floor(d->valuedouble))
			return cbd_err_set(err, CBD_E_FORMAT, "bad dimension "
					   "(triggers.shape)");
		ts->g.dims[i] = (int64_t)d->valuedouble;
	}
	qz = get(root, "quantizer", cJSON_Object, "triggers", err);
	if (!qz || get_int(qz, "channels", 1, 65536, &v, "triggers.quantizer",
			   err))
		return CBD_E_FORMAT;
	ts->g.channels = (int)v;
	if (cJSON_GetObjectItemCaseSensitive(qz, "axis")) {
		if (get_int(qz, "axis", 0, ts->g.ndim - 1, &v,
			    "triggers.quantizer", err))
			return CBD_E_FORMAT;
		ts->g.axis = (int)v;
	}
	ts->g.scale = cbd_xcalloc((size_t)ts->g.channels, sizeof(float),
				  err);
	ts->g.zero = cbd_xcalloc((size_t)ts->g.channels, sizeof(float),
				 err);
	if (!ts->g.scale || !ts->g.zero)
		return CBD_E_NOMEM;
	for (int w = 0; w < 2; w++) {
		float *dst = w ? ts->g.zero : ts->g.scale;
		const char *nm = w ? "zero" : "scale";

		a = get(qz, nm, cJSON_Array, "triggers.quantizer", err);
		if (!a || cJSON_GetArraySize(a) != ts->g.channels)
			return cbd_err_set(err, CBD_E_FORMAT, "%s needs %d "
					   "numbers (triggers.quantizer)", nm,
					   ts->g.channels);
		i = 0;
		for (const cJSON *d = a->child; d; d = d->next, i++) {
			if (!cJSON_IsNumber(d) || !isfinite(d->valuedouble) ||
			    (double)(float)d->valuedouble != d->valuedouble)
				return cbd_err_set(err, CBD_E_FORMAT, "%s[%d] "
						   "is not float32 "
						   "(triggers.quantizer)",
						   nm, i);
			dst[i] = (float)d->valuedouble;
		}
	}
	return cbd_geometry_finish(&ts->g, err);
}

/* Strict base64 of exactly n bytes. */
static cbd_status b64_exact(const char *s, uint8_t *out, size_t n,
			    const char *where, cbd_err *err)
{
	size_t want = 4 * ((n + 2) / 3), got = strlen(s), pad = (3 - n % 3) % 3;
	uint8_t *tmp;
	int w;

	if (got != want)
		return cbd_err_set(err, CBD_E_FORMAT, "input must be base64 of "
				   "%zu bytes (%s)", n, where);
	for (size_t i = 0; i < got; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		      (c == '=' && i >= got - pad)))
			return cbd_err_set(err, CBD_E_FORMAT, "bad base64 "
					   "(%s)", where);
	}
	for (size_t i = got - pad; i < got; i++)
		if (s[i] != '=')
			return cbd_err_set(err, CBD_E_FORMAT, "bad base64 "
					   "padding (%s)", where);
	tmp = cbd_xmalloc(got / 4 * 3, err);
	if (!tmp)
		return CBD_E_NOMEM;
	w = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)got);
	if (w < 0 || (size_t)w != got / 4 * 3) {
		free(tmp);
		return cbd_err_set(err, CBD_E_FORMAT, "bad base64 (%s)",
				   where);
	}
	memcpy(out, tmp, n);
	free(tmp);
	return CBD_OK;
}

static cbd_status load_trigger(cbd_triggerset *ts, const cJSON *t,
			       size_t i, uint8_t *q, cbd_err *err)
{
	char where[48];
	uint8_t msg[CBD_MSG_LEN];
	const cJSON *id, *in;
	long long ki, pl, ol;
	cbd_status s;

	snprintf(where, sizeof(where), "triggers[%zu]", i);
	if (!cJSON_IsObject(t))
		return cbd_err_set(err, CBD_E_FORMAT, "not an object (%s)",
				   where);
	id = get(t, "id", cJSON_String, where, err);
	in = get(t, "input", cJSON_String, where, err);
	if (!id || !in)
		return CBD_E_FORMAT;
	s = get_int(t, "key_index", 0, 255, &ki, where, err);
	if (!s)
		s = get_int(t, "payload", 0, 65535, &pl, where, err);
	if (!s)
		s = get_int(t, "owner_label", -1, ts->num_classes - 1, &ol,
			    where, err);
	if (!s)
		s = get_hex(t, "message", msg, CBD_MSG_LEN, where, err);
	if (!s)
		s = b64_exact(in->valuestring, q, ts->g.n, where, err);
	if (!s)
		s = add_item(ts, id->valuestring, q, (int)ol, (uint16_t)pl,
			     (int)ki, err);
	if (s)
		return s;
	if (memcmp(ts->items[ts->count - 1].msg, msg, CBD_MSG_LEN) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "message does not match "
				   "the input (%s)", where);
	return CBD_OK;
}

static cbd_status load_tree(cbd_triggerset *ts, const cJSON *root,
			    const char *path, const uint8_t *buf, size_t len,
			    const cbd_key *owner, cbd_err *err)
{
	const cJSON *f, *arr;
	long long created;
	uint8_t *q;
	size_t i = 0;
	cbd_status s;

	if (!cJSON_IsObject(root))
		return cbd_err_set(err, CBD_E_FORMAT, "not a JSON object");
	f = get(root, "format", cJSON_String, "triggers", err);
	if (!f)
		return CBD_E_FORMAT;
	if (strcmp(f->valuestring, "cbd-triggers/1") != 0)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "format is not "
				   "cbd-triggers/1 (triggers.format)");
	s = load_signer(ts, root, path, buf, len, owner, err);
	if (!s)
		s = load_geometry(ts, root, err);
	if (!s)
		s = get_int(root, "created", 0, 9007199254740991.0, &created,
			    "triggers", err);
	if (s)
		return s;
	arr = get(root, "triggers", cJSON_Array, "triggers", err);
	if (!arr)
		return CBD_E_FORMAT;
	if (cJSON_GetArraySize(arr) > CBD_MAX_TRIGGERS)
		return cbd_err_set(err, CBD_E_TOOBIG, "more than %d triggers",
				   CBD_MAX_TRIGGERS);
	q = cbd_xmalloc(ts->g.n, err);
	if (!q)
		return CBD_E_NOMEM;
	for (const cJSON *t = arr->child; t && !s; t = t->next)
		s = load_trigger(ts, t, i++, q, err);
	free(q);
	return s;
}

cbd_status cbd_triggerset_load(const char *path, const cbd_key *owner,
			       cbd_triggerset **out, cbd_err *err)
{
	cbd_triggerset *ts = NULL;
	uint8_t *buf = NULL;
	cJSON *root = NULL;
	size_t len = 0;
	cbd_status s;

	*out = NULL;
	if (strcmp(path, "-") == 0)
		return cbd_err_set(err, CBD_E_USAGE, "a trigger set is read "
				   "from a file (its signature is FILE.sig)");
	s = cbd_file_read(path, CBD_MAX_JSON, &buf, &len, err);
	if (s)
		return s;
	ts = cbd_xcalloc(1, sizeof(*ts), err);
	if (!ts) {
		s = CBD_E_NOMEM;
		goto out;
	}
	s = cbd_sha256(buf, len, ts->digest, err);
	if (s)
		goto out;
	root = cJSON_ParseWithLength((const char *)buf, len);
	if (!root) {
		s = cbd_err_set(err, CBD_E_FORMAT, "not valid JSON (%s)", path);
		goto out;
	}
	s = load_tree(ts, root, path, buf, len, owner, err);
	if (s && err && !strstr(err->msg, path))
		cbd_err_prefix(err, "%s", path);
out:
	cJSON_Delete(root);
	free(buf);
	if (s) {
		cbd_triggerset_free(ts);
		return s;
	}
	fix_views(ts);
	*out = ts;
	return CBD_OK;
}
