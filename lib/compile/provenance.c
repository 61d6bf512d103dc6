/*
 * provenance.c — the owner's signature on a compiled model
 * (formats/circuit-onnx.md section 7).
 *
 * A compiled model is the protobuf M0 (the model with its cbd.* metadata,
 * including the owner's public key) followed by one more metadata_props
 * entry, cbd.signature = base64(Ed25519 signature of CONTEXT || M0).
 * Protobuf readers accept a repeated field appended at the end, so the
 * signed file is still a plain ONNX model, and the verifier finds M0 by
 * cutting a trailer of fixed length and fixed bytes — no re-serialisation,
 * whose bytes no one could promise.  Cheap checks come first (trailer
 * bytes, base64, the metadata's format and key id), then the signature.
 */
#include "compile_internal.h"
#include "../circuit/circuit_internal.h"
#include "../keys/keys_internal.h"

#include <stdio.h>
#include <string.h>

#define SIG_KEY "cbd.signature"
#define SIG_B64 88                         /* base64 of 64 bytes */
/* 0x72 = field 14 (metadata_props), length-delimited */
#define ENTRY_LEN (2 + (sizeof(SIG_KEY) - 1) + 2 + SIG_B64)
#define TRAILER_LEN (2 + ENTRY_LEN)
static const char CONTEXT[] = "cbd-circuit-onnx/1 signature";

static void trailer_head(uint8_t *t)
{
	size_t k = sizeof(SIG_KEY) - 1;

	t[0] = 0x72;
	t[1] = (uint8_t)ENTRY_LEN;
	t[2] = 0x0a;                  /* key: field 1 */
	t[3] = (uint8_t)k;
	memcpy(t + 4, SIG_KEY, k);
	t[4 + k] = 0x12;              /* value: field 2 */
	t[5 + k] = SIG_B64;
}

#define HEAD_LEN (TRAILER_LEN - SIG_B64)

/* CONTEXT || 0x00 || m0, signed or verified by k. */
static cbd_status with_context(const cbd_key *k, const uint8_t *m0, size_t n,
			       uint8_t sig[CBD_SIG_LEN], int verify,
			       cbd_err *err)
{
	size_t cl = sizeof(CONTEXT);      /* with its NUL */
	uint8_t *msg = cbd_xmalloc(cl + n, err);
	cbd_status s;

	if (!msg)
		return CBD_E_NOMEM;
	memcpy(msg, CONTEXT, cl);
	memcpy(msg + cl, m0, n);
	s = verify ? cbd_key_verify(k, msg, cl + n, sig, err)
		   : cbd_key_sign(k, msg, cl + n, sig, err);
	free(msg);
	return s;
}

cbd_status og_sign_model(const cbd_key *owner, uint8_t **buf, size_t *len,
			 cbd_err *err)
{
	uint8_t sig[CBD_SIG_LEN], *out;
	char b64[SIG_B64 + 1];
	cbd_status s = with_context(owner, *buf, *len, sig, 0, err);

	if (s)
		return s;
	out = realloc(*buf, *len + TRAILER_LEN);
	if (!out)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	trailer_head(out + *len);
	cbd_base64(sig, sizeof(sig), b64);
	memcpy(out + *len + HEAD_LEN, b64, SIG_B64);
	*buf = out;
	*len += TRAILER_LEN;
	return CBD_OK;
}

int cbd_onnx_sniff(const uint8_t *b, size_t n)
{
	uint8_t t[HEAD_LEN];

	if (n <= TRAILER_LEN)
		return 0;
	trailer_head(t);
	return !memcmp(b + n - TRAILER_LEN, t, HEAD_LEN);
}

static const char *meta(const Onnx__ModelProto *m, const char *key)
{
	for (size_t i = 0; i < m->n_metadata_props; i++)
		if (m->metadata_props[i]->key &&
		    !strcmp(m->metadata_props[i]->key, key))
			return m->metadata_props[i]->value;
	return NULL;
}

/* cbd.circuit, which must agree with the other metadata. */
static cbd_status read_circuit(const Onnx__ModelProto *m,
			       const cbd_onnx_info *info, const cbd_key *owner,
			       cbd_circuit **out, cbd_err *err)
{
	const char *cj = meta(m, "cbd.circuit");
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	cbd_circuit *c = NULL;
	cbd_status s;

	if (!cj)
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.circuit: "
				   "missing");
	s = cbd_circuit_from_json((const uint8_t *)cj, strlen(cj),
				  "metadata cbd.circuit", &c, err);
	if (s)
		return s;
	cbd_circuit_id(c, id);
	if (memcmp(id, info->circuit_id, sizeof(id)) ||
	    cbd_circuit_mode(c) != info->mode ||
	    (info->mode != CBD_MODE_AUTH &&
	     !cbd_key_equal(cbd_circuit_key(c, 0), owner)) ||
	    strcmp(c->user_id ? c->user_id : "", info->user_id)) {
		cbd_circuit_free(c);
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.circuit "
				   "disagrees with cbd.circuit_id, cbd.mode, "
				   "cbd.public_key or cbd.user_id");
	}
	*out = c;
	return CBD_OK;
}

/* The cbd.* metadata of M0 into info; the embedded owner key into *owner. */
static cbd_status read_meta(const Onnx__ModelProto *m, cbd_onnx_info *info,
			    cbd_key **owner, cbd_err *err)
{
	const char *f = meta(m, "cbd.format"), *cid = meta(m, "cbd.circuit_id");
	const char *mode = meta(m, "cbd.mode"), *kid = meta(m, "cbd.key_id");
	const char *pem = meta(m, "cbd.public_key");
	const char *user = meta(m, "cbd.user_id");
	const char *cls = meta(m, "cbd.classifier_sha256");
	char id[CBD_KEY_ID_LEN + 1];
	cbd_status s;

	if (meta(m, "cbd.signature"))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata: a second "
				   "cbd.signature before the last");
	if (!f || strcmp(f, "cbd-circuit-onnx/1"))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.format: "
				   "%s, want cbd-circuit-onnx/1", f ? f : "missing");
	if (!cid || cbd_unhex(cid, info->circuit_id, CBD_CIRCUIT_ID_LEN, NULL))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.circuit_id: "
				   "want 32 hex digits");
	if (!cls || cbd_unhex(cls, info->classifier_sha256, CBD_SHA256_LEN,
			      NULL))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata "
				   "cbd.classifier_sha256: want 64 hex digits");
	info->mode = cbd_mode_parse(mode);
	if (!info->mode)
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.mode: %s",
				   mode ? mode : "missing");
	if (user && !cbd_text_ok(user, CBD_USER_ID_MAX))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.user_id: "
				   "not printable ASCII of 1..128 bytes");
	snprintf(info->user_id, sizeof(info->user_id), "%s", user ? user : "");
	if (!pem || !kid)
		return cbd_err_set(err, CBD_E_FORMAT, "metadata "
				   "cbd.public_key/cbd.key_id: missing");
	s = cbd_key_from_pem(pem, strlen(pem), "metadata cbd.public_key",
			     owner, err);
	if (s)
		return s;
	cbd_key_id(*owner, id);
	if (strcmp(id, kid) || cbd_key_is_private(*owner))
		return cbd_err_set(err, CBD_E_FORMAT, "metadata cbd.key_id %s "
				   "does not name cbd.public_key (%s)", kid, id);
	snprintf(info->key_id, sizeof(info->key_id), "%s", kid);
	return CBD_OK;
}

cbd_status cbd_onnx_verify(const uint8_t *b, size_t n, cbd_key **signer,
			   cbd_onnx_info *info, cbd_circuit **circuit,
			   cbd_err *err)
{
	uint8_t sig[CBD_SIG_LEN];
	size_t m0 = n - TRAILER_LEN;
	Onnx__ModelProto *m;
	cbd_status s;

	*signer = NULL;
	if (circuit)
		*circuit = NULL;
	memset(info, 0, sizeof(*info));
	if (!cbd_onnx_sniff(b, n))
		return cbd_err_set(err, CBD_E_FORMAT, "not a signed compiled "
				   "model: no cbd.signature at the end");
	if (cbd_unbase64((const char *)b + m0 + HEAD_LEN, SIG_B64, sig,
			 sizeof(sig), NULL))
		return cbd_err_set(err, CBD_E_FORMAT, "cbd.signature: not the "
				   "base64 of 64 bytes");
	m = onnx__model_proto__unpack(NULL, m0, b);
	if (!m)
		return cbd_err_set(err, CBD_E_FORMAT, "not a valid ONNX model "
				   "before cbd.signature");
	s = read_meta(m, info, signer, err);
	if (!s && circuit)
		s = read_circuit(m, info, *signer, circuit, err);
	onnx__model_proto__free_unpacked(m, NULL);
	if (!s && with_context(*signer, b, m0, sig, 1, NULL))
		s = cbd_err_set(err, CBD_E_VERIFY, "cbd.signature does not "
				"verify: the model was changed after signing, "
				"or not signed by key %s", info->key_id);
	if (s) {
		cbd_key_free(*signer);
		*signer = NULL;
		if (circuit) {
			cbd_circuit_free(*circuit);
			*circuit = NULL;
		}
	}
	return s;
}
