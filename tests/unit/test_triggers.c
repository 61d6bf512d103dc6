/*
 * test_triggers.c — unit tests for lib/triggers/: build, save and load a
 * trigger set; the owner's detached signature (tampered bytes, other key,
 * missing or corrupt .sig); hostile but validly signed documents (wrong
 * message, wrong carrier, bad base64, out-of-range fields, truncation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/cbd-test-triggers-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static char *path(const char *name)
{
	static char p[4][128];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static cbd_circuit *make(cbd_mode mode, cbd_key *owner)
{
	static const uint8_t secret[CBD_TRACE_SECRET_LEN] = {5};

	return fx_circuit(mode, &owner, 1, NULL, secret, NULL);
}

/* A set of n signed random images saved at file. */
static void build(cbd_circuit *c, cbd_key *owner, int n, const char *file)
{
	cbd_triggerset *ts = NULL;
	cbd_err e = {0};
	float x[N];
	uint8_t q[N], b[N];

	assert_int_equal(cbd_triggerset_new(c, &ts, &e), CBD_OK);
	for (int i = 0; i < n; i++) {
		char id[16];
		uint16_t pl = cbd_circuit_mode(c) == CBD_MODE_WATERMARK ?
			      (uint16_t)(i % K) : (uint16_t)(i * 4099);
		int ol = cbd_circuit_mode(c) == CBD_MODE_WATERMARK ? pl : -1;

		RAND_bytes(b, sizeof(b));
		for (int k = 0; k < N; k++)
			x[k] = (float)b[k] / 255.0f;
		assert_int_equal(cbd_circuit_sign_input(c, owner, 0, pl, x, q,
							&e), CBD_OK);
		snprintf(id, sizeof(id), "t%04d", i);
		assert_int_equal(cbd_triggerset_add(ts, id, q, ol, pl, 0, &e),
				 CBD_OK);
	}
	assert_int_equal(cbd_triggerset_save(ts, file, owner, 1700000000, &e),
			 CBD_OK);
	cbd_triggerset_free(ts);
}

static void test_round_trip(void **state)
{
	cbd_key *owner = NULL;
	cbd_circuit *c;
	cbd_triggerset *ts = NULL;
	cbd_err e = {0};
	uint8_t id1[CBD_CIRCUIT_ID_LEN], id2[CBD_CIRCUIT_ID_LEN];
	uint8_t dg[CBD_SHA256_LEN], fd[CBD_SHA256_LEN], *buf = NULL;
	size_t len = 0;

	(void)state;
	for (int mode = CBD_MODE_WATERMARK; mode <= CBD_MODE_TRACE; mode++) {
		/* an Ed25519 owner for watermark, a P-256 one for trace */
		assert_int_equal(cbd_key_generate(mode == CBD_MODE_TRACE ?
						  CBD_KEY_P256 :
						  CBD_KEY_ED25519, &owner, &e),
				 CBD_OK);
		c = make((cbd_mode)mode, owner);
		build(c, owner, 30, path("t.json"));
		assert_int_equal(cbd_triggerset_load(path("t.json"), owner, &ts,
						     &e), CBD_OK);
		cbd_triggerset_free(ts);
		assert_int_equal(cbd_triggerset_load(path("t.json"), NULL, &ts,
						     &e), CBD_OK);
		assert_int_equal(cbd_triggerset_count(ts), 30);
		assert_int_equal(cbd_triggerset_num_classes(ts), K);
		assert_int_equal(cbd_triggerset_mode(ts), mode);
		cbd_circuit_id(c, id1);
		cbd_triggerset_circuit_id(ts, id2);
		assert_memory_equal(id1, id2, sizeof(id1));
		assert_int_equal(cbd_file_read(path("t.json"), 1 << 26, &buf,
					       &len, &e), CBD_OK);
		cbd_sha256(buf, len, fd, &e);
		cbd_triggerset_digest(ts, dg);
		assert_memory_equal(dg, fd, sizeof(dg));
		free(buf);
		for (size_t i = 0; i < 30; i++) {
			const cbd_trigger *t = cbd_triggerset_get(ts, i);
			cbd_activation act;
			uint8_t *m = NULL;
			size_t ml = 0;
			float *x = NULL;

			assert_non_null(t);
			assert_int_equal(cbd_triggerset_input_float(ts, i, &x,
								    &e),
					 CBD_OK);
			assert_int_equal(cbd_circuit_check(c, x, &act, &e),
					 CBD_OK);
			assert_true(act.active);
			assert_int_equal(act.payload, t->payload);
			if (mode == CBD_MODE_WATERMARK)
				assert_int_equal(act.label, t->owner_label);
			else
				assert_int_equal(t->owner_label, -1);
			assert_int_equal(cbd_circuit_message(c,
							     t->input->data, 0,
							     t->payload, &m,
							     &ml, &e), CBD_OK);
			assert_int_equal(ml, t->message_len);
			assert_memory_equal(m, t->message, ml);
			free(m);
			free(x);
		}
		assert_null(cbd_triggerset_get(ts, 30));
		cbd_triggerset_free(ts);
		cbd_circuit_free(c);
		cbd_key_free(owner);
	}
}

static void write_file(const char *p, const void *b, size_t n)
{
	cbd_err e = {0};

	assert_int_equal(cbd_file_write_atomic(p, b, n, 0644, &e), CBD_OK);
}

/* Re-sign arbitrary bytes as a trigger set (FILE + FILE.sig). */
static void sign_bytes(const char *file, const void *b, size_t n,
		       const cbd_key *k)
{
	uint8_t msg[16 + CBD_SHA256_LEN], sig[CBD_SIG_LEN];
	char hex[2 * CBD_SIG_LEN + 1], kid[CBD_KEY_ID_LEN + 1], doc[300];
	char sp[160];
	cbd_err e = {0};

	memcpy(msg, "cbd/triggers/v1", 16);
	cbd_sha256(b, n, msg + 16, &e);
	assert_int_equal(cbd_key_sign(k, msg, sizeof(msg), sig, &e), CBD_OK);
	cbd_hex(sig, sizeof(sig), hex);
	cbd_key_id(k, kid);
	snprintf(doc, sizeof(doc), "{\"format\":\"cbd-triggers-sig/1\","
		 "\"key_id\":\"%s\",\"signature\":\"%s\"}\n", kid, hex);
	write_file(file, b, n);
	snprintf(sp, sizeof(sp), "%s.sig", file);
	write_file(sp, doc, strlen(doc));
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	char *out;

	assert_non_null(at);
	out = malloc(strlen(s) + strlen(to) + 1);
	memcpy(out, s, (size_t)(at - s));
	strcpy(out + (at - s), to);
	strcat(out, at + strlen(from));
	return out;
}

static void test_signature_and_hostile(void **state)
{
	cbd_key *owner = NULL, *other = NULL;
	cbd_circuit *c;
	cbd_triggerset *ts = NULL;
	cbd_err e = {0};
	uint8_t *buf = NULL, *sb = NULL;
	size_t len = 0, sl = 0;
	char *t = path("t.json"), *bad = path("bad.json");
	static const char *const edits[][2] = {
		{"\"key_index\":0", "\"key_index\":1"},
		{"\"key_index\":0", "\"key_index\":256"},
		{"\"payload\":1,", "\"payload\":2,"},
		{"\"owner_label\":1", "\"owner_label\":2"},
		{"\"owner_label\":1", "\"owner_label\":10"},
		{"\"message\":\"", "\"message\":\"00"},
		{"\"input\":\"", "\"input\":\"A"},
		{"\"input\":\"", "\"input\":\"!!!!"},
		{"\"id\":\"t0001\"", "\"id\":\"\""},
		{"\"id\":\"t0001\"", "\"id\":7"},
		{"\"mode\":\"watermark\"", "\"mode\":\"auth\""},
		{"\"num_classes\":10", "\"num_classes\":1e300"},
		{"\"shape\":[1,28,28]", "\"shape\":[1,28,27]"},
		{"\"scale\":[255]", "\"scale\":[0]"},
		{"\"format\":\"cbd-triggers/1\"", "\"format\":\"x\""},
		{"\"created\":1700000000", "\"created\":-1"},
	};

	(void)state;
	assert_int_equal(cbd_key_generate(CBD_KEY_ED25519, &owner, &e), CBD_OK);
	assert_int_equal(cbd_key_generate(CBD_KEY_P256, &other, &e), CBD_OK);
	c = make(CBD_MODE_WATERMARK, owner);
	build(c, owner, 3, t);
	assert_int_equal(cbd_file_read(t, 1 << 26, &buf, &len, &e), CBD_OK);
	/* the owner's set does not verify as someone else's */
	assert_int_equal(cbd_triggerset_load(t, other, &ts, &e), CBD_E_VERIFY);
	assert_null(ts);
	/* one changed byte breaks the signature */
	buf[len / 2] ^= 1;
	write_file(t, buf, len);
	assert_int_equal(cbd_triggerset_load(t, NULL, &ts, &e), CBD_E_VERIFY);
	buf[len / 2] ^= 1;
	write_file(t, buf, len);
	assert_int_equal(cbd_triggerset_load(t, NULL, &ts, &e), CBD_OK);
	cbd_triggerset_free(ts);
	ts = NULL;
	/* re-signed by another key: fine without an owner, refused with */
	sign_bytes(bad, buf, len, other);
	assert_int_not_equal(cbd_triggerset_load(bad, NULL, &ts, &e), CBD_OK);
	assert_int_equal(cbd_triggerset_load(bad, owner, &ts, &e),
			 CBD_E_VERIFY);
	/* a corrupt or missing .sig */
	assert_int_equal(cbd_file_read(path("t.json.sig"), 4096, &sb, &sl, &e),
			 CBD_OK);
	write_file(path("bad.json.sig"), sb, sl / 2);
	write_file(bad, buf, len);
	assert_int_not_equal(cbd_triggerset_load(bad, NULL, &ts, &e), CBD_OK);
	unlink(path("bad.json.sig"));
	assert_int_equal(cbd_triggerset_load(bad, NULL, &ts, &e),
			 CBD_E_NOINPUT);
	/* validly signed but inconsistent documents */
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *doc = replace((char *)buf, edits[i][0], edits[i][1]);

		sign_bytes(bad, doc, strlen(doc), owner);
		assert_int_not_equal(cbd_triggerset_load(bad, owner, &ts, &e),
				     CBD_OK);
		assert_null(ts);
		free(doc);
	}
	for (size_t cut = 0; cut + 2 < len; cut += len / 40) {
		sign_bytes(bad, buf, cut, owner);
		assert_int_not_equal(cbd_triggerset_load(bad, owner, &ts, &e),
				     CBD_OK);
	}
	assert_int_equal(cbd_triggerset_load("-", owner, &ts, &e), CBD_E_USAGE);
	free(buf);
	free(sb);
	cbd_circuit_free(c);
	cbd_key_free(owner);
	cbd_key_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_signature_and_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
