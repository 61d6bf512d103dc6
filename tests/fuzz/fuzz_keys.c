/*
 * fuzz_keys.c — libFuzzer target for PEM key parsing (cbd_key_from_pem:
 * PKCS#8 private keys and SPKI public keys, Ed25519 and P-256).
 *
 * An accepted key must be usable: its public PEM parses back to the same
 * key id, and a private key's signature verifies with its public half.
 * (Encrypted keys stop at "no passphrase": the KDF parameters come from the
 * file and are not fuzzed, see tests/cli/hardening.bats for that path.)
 */
#include "fuzz.h"

static void keys_check_usable(const cbd_key *k)
{
	char id[CBD_KEY_ID_LEN + 1], id2[CBD_KEY_ID_LEN + 1];
	uint8_t sig[CBD_SIG_LEN];
	cbd_key *pub = NULL;
	char *pem = NULL;
	cbd_err e = {0};
	cbd_status s;

	cbd_key_id(k, id);
	s = cbd_key_public_pem(k, &pem, &e);
	fuzz_check_err(s, &e, "cbd_key_public_pem");
	if (s != CBD_OK)
		fuzz_fail("accepted key has no public PEM");
	s = cbd_key_from_pem(pem, strlen(pem), "public", &pub, &e);
	if (s != CBD_OK)
		fuzz_fail("public PEM of an accepted key does not parse");
	cbd_key_id(pub, id2);
	if (strcmp(id, id2) != 0 || cbd_key_is_private(pub))
		fuzz_fail("public half has another id or is private");
	if (cbd_key_is_private(k)) {
		s = cbd_key_sign(k, "msg", 3, sig, &e);
		fuzz_check_err(s, &e, "cbd_key_sign");
		if (s == CBD_OK &&
		    cbd_key_verify(pub, "msg", 3, sig, &e) != CBD_OK)
			fuzz_fail("signature of an accepted key does not "
				  "verify");
	}
	cbd_key_free(pub);
	free(pem);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cbd_key *k = NULL;
	cbd_err e = {0};
	cbd_status s;

	s = cbd_key_from_pem((const char *)data, size, "fuzz", &k, &e);
	fuzz_check_err(s, &e, "cbd_key_from_pem");
	if (s == CBD_OK)
		keys_check_usable(k);
	else if (k)
		fuzz_fail("failed parse left a key in *out");
	cbd_key_free(k);
	return 0;
}
