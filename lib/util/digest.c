/*
 * digest.c — SHA-256 over OpenSSL EVP and hex encoding.
 *
 * Every digest in cbd's files (archive members, trigger sets, transcript
 * chains, reports) goes through here so there is one spelling of "hex".
 */
#include "util_internal.h"

#include <openssl/evp.h>

cbd_status cbd_sha256(const void *data, size_t len,
		      uint8_t out[CBD_SHA256_LEN], cbd_err *err)
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) ||
	    n != CBD_SHA256_LEN)
		return cbd_err_set(err, CBD_E_CRYPTO, "SHA-256 failed");
	return CBD_OK;
}

void cbd_hex(const uint8_t *bytes, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

cbd_status cbd_unhex(const char *hex, uint8_t *bytes, size_t len,
		     cbd_err *err)
{
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (!hex[2 * i] || !hex[2 * i + 1])
			return cbd_err_set(err, CBD_E_FORMAT,
					   "hex string too short (want %zu "
					   "digits)", 2 * len);
		hi = hexval(hex[2 * i]);
		lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return cbd_err_set(err, CBD_E_FORMAT,
					   "not a hex digit at offset %zu",
					   2 * i);
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[2 * len])
		return cbd_err_set(err, CBD_E_FORMAT,
				   "hex string too long (want %zu digits)",
				   2 * len);
	return CBD_OK;
}
