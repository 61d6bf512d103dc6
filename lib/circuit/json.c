/*
 * json.c — circuit.json, the canonical serialisation of a circuit
 * (formats/circuit.md, "circuit.json").
 *
 * Writing emits members in one fixed order with no insignificant
 * whitespace, so a circuit always serialises to the same bytes.  Reading
 * parses with cJSON under a size cap, checks every member's type and range,
 * refuses unknown members, rebuilds the circuit, and finally re-serialises
 * it and insists the bytes are identical: a file that is not canonical
 * (duplicate members, other spellings of numbers, escapes) is refused, so
 * one circuit has exactly one circuit.json.
 *
 * Also home of the float spelling (%.17g) shared with trigger sets.
 */
#include "circuit_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* ---- writer -------------------------------------------------------- */

void cbd_circuit_put_float(cbd_buf *b, float f)
{
	cbd_buf_printf(b, "%.17g", (double)f);
}

int cbd_text_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return 0;
	return n >= 1 && n <= max;
}

/* ---- circuit.json -------------------------------------------------- */

static void put_keys(cbd_buf *b, const cbd_circuit *c, cbd_err *err)
{
	cbd_buf_puts(b, "\"keys\":[");
	for (int i = 0; i < c->n_keys; i++) {
		char id[CBD_KEY_ID_LEN + 1], *pem = NULL;

		if (cbd_key_public_pem(c->keys[i], &pem, err) != CBD_OK) {
			b->st = err ? err->code : CBD_E_CRYPTO;
			return;
		}
		cbd_key_id(c->keys[i], id);
		cbd_buf_puts(b, i ? ",{\"key_id\":" : "{\"key_id\":");
		cbd_buf_json_str_ascii(b, id);
		cbd_buf_puts(b, ",\"public_key\":");
		cbd_buf_json_str_ascii(b, pem);
		cbd_buf_puts(b, "}");
		free(pem);
	}
	cbd_buf_puts(b, "]");
}

cbd_status cbd_circuit_to_json(const cbd_circuit *c, uint8_t **buf,
			       size_t *len, cbd_err *err)
{
	/* secret: a trace circuit holds the user's trace secret, an auth
	 * circuit its garbage key. */
	cbd_buf b = {.max = CBD_MAX_JSON, .secret = 1};

	*buf = NULL;
	cbd_buf_printf(&b, "{\"format\":\"cbd-circuit/%d\",\"mode\":",
		       c->g.version);
	cbd_buf_json_str_ascii(&b, cbd_mode_name(c->mode));
	cbd_buf_puts(&b, ",\"circuit_id\":");
	cbd_buf_json_hex(&b, c->g.id, CBD_CIRCUIT_ID_LEN);
	cbd_buf_puts(&b, ",\"shape\":[");
	for (int i = 0; i < c->g.ndim; i++)
		cbd_buf_printf(&b, i ? ",%lld" : "%lld",
			       (long long)c->g.dims[i]);
	cbd_buf_printf(&b, "],\"num_classes\":%d,\"quantizer\":{\"channels\""
		       ":%d", c->num_classes, c->g.channels);
	/* absent means 0: circuits from before the axis keep their bytes */
	if (c->g.axis)
		cbd_buf_printf(&b, ",\"axis\":%d", c->g.axis);
	cbd_buf_puts(&b, ",\"scale\":[");
	for (int i = 0; i < c->g.channels; i++) {
		if (i)
			cbd_buf_puts(&b, ",");
		cbd_circuit_put_float(&b, c->g.scale[i]);
	}
	cbd_buf_puts(&b, "],\"zero\":[");
	for (int i = 0; i < c->g.channels; i++) {
		if (i)
			cbd_buf_puts(&b, ",");
		cbd_circuit_put_float(&b, c->g.zero[i]);
	}
	cbd_buf_puts(&b, "]},");
	put_keys(&b, c, err);
	if (c->mode == CBD_MODE_TRACE) {
		cbd_buf_puts(&b, ",\"trace\":{\"secret\":");
		cbd_buf_json_hex(&b, c->trace_secret, CBD_TRACE_SECRET_LEN);
		if (c->user_id) {
			cbd_buf_puts(&b, ",\"user_id\":");
			cbd_buf_json_str_ascii(&b, c->user_id);
		}
		cbd_buf_puts(&b, "}");
	}
	if (c->mode == CBD_MODE_AUTH) {
		cbd_buf_puts(&b, ",\"garbage_key\":");
		cbd_buf_json_hex(&b, c->garbage_key, CBD_GARBAGE_KEY_LEN);
	}
	cbd_buf_puts(&b, "}\n");
	return cbd_buf_finish(&b, "JSON", buf, len, err);
}

/* ---- reader -------------------------------------------------------- */

/* Only the listed members may appear (each at most once: the canonical
 * re-serialisation check catches duplicates). */
static cbd_status only_members(const cJSON *o, const char *const *names,
			       const char *what, cbd_err *err)
{
	for (const cJSON *m = o->child; m; m = m->next) {
		int ok = 0;

		for (int i = 0; names[i]; i++)
			if (m->string && strcmp(m->string, names[i]) == 0)
				ok = 1;
		if (!ok)
			return cbd_err_set(err, CBD_E_FORMAT, "unknown member "
					   "'%.40s' (%s)", m->string ?
					   m->string : "", what);
	}
	return CBD_OK;
}

static const cJSON *member(const cJSON *o, const char *name, int type,
			   cbd_err *err, const char *path)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!m || (m->type & 0xff) != type) {
		cbd_err_set(err, CBD_E_FORMAT, "%s %s (%s)",
			    m ? "wrong type for" : "missing", name, path);
		return NULL;
	}
	return m;
}

/* A JSON integer in [lo, hi]. */
static cbd_status get_int(const cJSON *o, const char *name, long long lo,
			  long long hi, long long *v, const char *path,
			  cbd_err *err)
{
	const cJSON *m = member(o, name, cJSON_Number, err, path);
	double d;

	if (!m)
		return CBD_E_FORMAT;
	d = m->valuedouble;
	if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi)
		return cbd_err_set(err, CBD_E_FORMAT, "%s must be a whole "
				   "number in %lld..%lld (%s)", name, lo, hi,
				   path);
	*v = (long long)d;
	return CBD_OK;
}

static cbd_status get_hex(const cJSON *o, const char *name, uint8_t *out,
			  size_t n, const char *path, cbd_err *err)
{
	const cJSON *m = member(o, name, cJSON_String, err, path);

	if (!m)
		return CBD_E_FORMAT;
	if (cbd_unhex(m->valuestring, out, n, err) != CBD_OK)
		return cbd_err_prefix(err, "%s.%s", path, name);
	return CBD_OK;
}

/* An array of 1..max float32-exact numbers. */
static cbd_status get_floats(const cJSON *o, const char *name, float *out,
			     int want, const char *path, cbd_err *err)
{
	const cJSON *a = member(o, name, cJSON_Array, err, path);
	int i = 0;

	if (!a)
		return CBD_E_FORMAT;
	if (cJSON_GetArraySize(a) != want)
		return cbd_err_set(err, CBD_E_FORMAT, "%s needs %d numbers "
				   "(%s)", name, want, path);
	for (const cJSON *v = a->child; v; v = v->next, i++) {
		double d = v->valuedouble;

		if (!cJSON_IsNumber(v) || !isfinite(d) ||
		    (double)(float)d != d)
			return cbd_err_set(err, CBD_E_FORMAT, "%s[%d] is not a "
					   "float32 number (%s)", name, i,
					   path);
		out[i] = (float)d;
	}
	return CBD_OK;
}

static cbd_status get_shape(const cJSON *root, cbd_circuit *c, cbd_err *err)
{
	const cJSON *a = member(root, "shape", cJSON_Array, err, "circuit");
	int n;

	if (!a)
		return CBD_E_FORMAT;
	n = cJSON_GetArraySize(a);
	if (n < 1 || n > CBD_MAX_DIMS)
		return cbd_err_set(err, CBD_E_FORMAT, "shape needs 1 to %d "
				   "dimensions (circuit.shape)", CBD_MAX_DIMS);
	c->g.ndim = 0;
	for (const cJSON *v = a->child; v; v = v->next) {
		double d = v->valuedouble;

		if (!cJSON_IsNumber(v) || d != floor(d) || d < 1 ||
		    d > (double)CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_FORMAT, "bad dimension "
					   "(circuit.shape)");
		c->g.dims[c->g.ndim++] = (int64_t)d;
	}
	return CBD_OK;
}

static cbd_status get_quantizer(const cJSON *root, cbd_circuit *c,
				cbd_err *err)
{
	static const char *const names[] = {"channels", "axis", "scale",
					    "zero", NULL};
	const cJSON *qz = member(root, "quantizer", cJSON_Object, err,
				 "circuit");
	long long ch;
	cbd_status s;

	if (!qz)
		return CBD_E_FORMAT;
	s = only_members(qz, names, "circuit.quantizer", err);
	if (!s)
		s = get_int(qz, "channels", 1, 65536, &ch, "circuit.quantizer",
			    err);
	if (s)
		return s;
	c->g.channels = (int)ch;
	/* optional; an "axis":0 is refused as not canonical */
	if (cJSON_GetObjectItemCaseSensitive(qz, "axis")) {
		long long ax;

		s = get_int(qz, "axis", 0, c->g.ndim - 1, &ax,
			    "circuit.quantizer", err);
		if (s)
			return s;
		c->g.axis = (int)ax;
	}
	c->g.scale = cbd_xcalloc((size_t)ch, sizeof(float), err);
	c->g.zero = cbd_xcalloc((size_t)ch, sizeof(float), err);
	if (!c->g.scale || !c->g.zero)
		return CBD_E_NOMEM;
	s = get_floats(qz, "scale", c->g.scale, c->g.channels,
		       "circuit.quantizer", err);
	if (!s)
		s = get_floats(qz, "zero", c->g.zero, c->g.channels,
			       "circuit.quantizer", err);
	return s;
}

static cbd_status get_keys(const cJSON *root, cbd_circuit *c, cbd_err *err)
{
	static const char *const names[] = {"key_id", "public_key", NULL};
	const cJSON *a = member(root, "keys", cJSON_Array, err, "circuit");
	int n, i = 0;

	if (!a)
		return CBD_E_FORMAT;
	n = cJSON_GetArraySize(a);
	if (n < 1 || n > CBD_CIRCUIT_MAX_KEYS)
		return cbd_err_set(err, CBD_E_FORMAT, "circuit needs 1 to %d "
				   "keys (circuit.keys)", CBD_CIRCUIT_MAX_KEYS);
	c->keys = cbd_xcalloc((size_t)n, sizeof(*c->keys), err);
	if (!c->keys)
		return CBD_E_NOMEM;
	for (const cJSON *k = a->child; k; k = k->next, i++) {
		char path[48], id[CBD_KEY_ID_LEN + 1];
		const cJSON *pem, *kid;
		cbd_status s;

		snprintf(path, sizeof(path), "circuit.keys[%d]", i);
		if (!cJSON_IsObject(k))
			return cbd_err_set(err, CBD_E_FORMAT, "not an object "
					   "(%s)", path);
		s = only_members(k, names, path, err);
		if (s)
			return s;
		pem = member(k, "public_key", cJSON_String, err, path);
		kid = member(k, "key_id", cJSON_String, err, path);
		if (!pem || !kid)
			return CBD_E_FORMAT;
		s = cbd_key_from_pem(pem->valuestring,
				     strlen(pem->valuestring), path,
				     &c->keys[i], err);
		if (s)
			return s;
		c->n_keys = i + 1;
		if (cbd_key_is_private(c->keys[i]))
			return cbd_err_set(err, CBD_E_FORMAT, "a private key "
					   "in a circuit (%s)", path);
		cbd_key_id(c->keys[i], id);
		if (strcmp(id, kid->valuestring) != 0)
			return cbd_err_set(err, CBD_E_FORMAT, "key_id does "
					   "not match the key (%s)", path);
	}
	return CBD_OK;
}

static cbd_status get_mode_extras(const cJSON *root, cbd_circuit *c,
				  cbd_err *err)
{
	static const char *const tnames[] = {"secret", "user_id", NULL};
	const cJSON *t;
	cbd_status s;

	if (c->mode == CBD_MODE_AUTH) {
		s = get_hex(root, "garbage_key", c->garbage_key,
			    CBD_GARBAGE_KEY_LEN, "circuit", err);
		c->has_garbage_key = s == CBD_OK;
		return s;
	}
	if (c->mode != CBD_MODE_TRACE)
		return CBD_OK;
	t = member(root, "trace", cJSON_Object, err, "circuit");
	if (!t)
		return CBD_E_FORMAT;
	s = only_members(t, tnames, "circuit.trace", err);
	if (!s)
		s = get_hex(t, "secret", c->trace_secret, CBD_TRACE_SECRET_LEN,
			    "circuit.trace", err);
	if (s)
		return s;
	c->has_trace_secret = 1;
	t = cJSON_GetObjectItemCaseSensitive(t, "user_id");
	if (!t)
		return CBD_OK;
	if (!cJSON_IsString(t) || !cbd_text_ok(t->valuestring,
					       CBD_USER_ID_MAX))
		return cbd_err_set(err, CBD_E_FORMAT, "user_id must be 1 to %d "
				   "printable ASCII characters "
				   "(circuit.trace.user_id)", CBD_USER_ID_MAX);
	c->user_id = strdup(t->valuestring);
	return c->user_id ? CBD_OK : cbd_err_set(err, CBD_E_NOMEM,
						 "out of memory");
}

static cbd_status get_mode(const cJSON *root, cbd_circuit *c, cbd_err *err)
{
	const cJSON *m = member(root, "mode", cJSON_String, err, "circuit");

	if (!m)
		return CBD_E_FORMAT;
	c->mode = cbd_mode_parse(m->valuestring);
	if (!c->mode)
		return cbd_err_set(err, CBD_E_FORMAT, "unknown mode "
				   "(circuit.mode)");
	return CBD_OK;
}

static cbd_status from_tree(const cJSON *root, cbd_circuit *c, cbd_err *err)
{
	static const char *const names[] = {
		"format", "mode", "circuit_id", "shape", "num_classes",
		"quantizer", "keys", "trace", "garbage_key", NULL};
	const cJSON *f;
	long long k;
	cbd_status s;

	if (!cJSON_IsObject(root))
		return cbd_err_set(err, CBD_E_FORMAT, "not a JSON object "
				   "(circuit)");
	f = member(root, "format", cJSON_String, err, "circuit");
	if (!f)
		return CBD_E_FORMAT;
	if (strcmp(f->valuestring, "cbd-circuit/1") == 0)
		c->g.version = 1;
	else if (strcmp(f->valuestring, "cbd-circuit/2") == 0)
		c->g.version = 2;
	else
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "format is not "
				   "cbd-circuit/1 or /2 (circuit.format)");
	s = only_members(root, names, "circuit", err);
	if (!s)
		s = get_mode(root, c, err);
	if (!s)
		s = get_hex(root, "circuit_id", c->g.id, CBD_CIRCUIT_ID_LEN,
			    "circuit", err);
	if (!s)
		s = get_shape(root, c, err);
	if (!s)
		s = get_int(root, "num_classes", 2, CBD_MAX_CLASSES, &k,
			    "circuit", err);
	if (s)
		return s;
	c->num_classes = (int)k;
	s = get_quantizer(root, c, err);
	if (!s)
		s = get_keys(root, c, err);
	if (!s && c->mode != CBD_MODE_AUTH && c->n_keys != 1)
		s = cbd_err_set(err, CBD_E_FORMAT, "%s circuits have exactly "
				"one key (circuit.keys)",
				cbd_mode_name(c->mode));
	if (!s)
		s = get_mode_extras(root, c, err);
	if (!s)
		s = cbd_geometry_finish(&c->g, err);
	return s;
}

cbd_status cbd_circuit_from_json(const uint8_t *buf, size_t len,
				 const char *name, cbd_circuit **out,
				 cbd_err *err)
{
	cbd_circuit *c = NULL;
	uint8_t *again = NULL;
	size_t alen = 0;
	cJSON *root;
	cbd_status s;

	*out = NULL;
	if (!name)
		name = "circuit.json";
	if (len > CBD_CIRCUIT_MAX_JSON)
		return cbd_err_set(err, CBD_E_TOOBIG, "circuit larger than %zu "
				   "bytes (%s)", CBD_CIRCUIT_MAX_JSON, name);
	root = cJSON_ParseWithLength((const char *)buf, len);
	if (!root)
		return cbd_err_set(err, CBD_E_FORMAT, "not valid JSON (%s)",
				   name);
	c = cbd_xcalloc(1, sizeof(*c), err);
	s = c ? from_tree(root, c, err) : CBD_E_NOMEM;
	cJSON_Delete(root);
	if (!s)
		s = cbd_circuit_to_json(c, &again, &alen, err);
	if (!s && (alen != len || memcmp(again, buf, len) != 0))
		s = cbd_err_set(err, CBD_E_FORMAT, "not in canonical form "
				"(formats/circuit.md)");
	if (again) {
		OPENSSL_cleanse(again, alen);
		free(again);
	}
	if (s) {
		cbd_err_prefix(err, "%s", name);
		cbd_circuit_free(c);
		return s;
	}
	*out = c;
	return CBD_OK;
}
