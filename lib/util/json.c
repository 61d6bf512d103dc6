/*
 * json.c — the one spelling of JSON string literals shared by every
 * canonical cbd format (circuit, trigger set, keyring, transcript, report).
 *
 * Each format has its own small growable buffer (a keyring's is wiped
 * because it holds secrets, a circuit's stops at CBD_MAX_JSON), so the
 * escaping is written once here and handed to the buffer through a put
 * callback: literal runs go out in one call, escapes one at a time.
 *
 * The readers' member rule (cbd_json_bad_members) is here too, so that
 * every strict format refuses unknown, repeated and missing members alike.
 */
#include "util_internal.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static bool literal(unsigned char c, bool ascii_only)
{
	if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
		return false;
	return !(ascii_only && c > 0x7e);
}

void cbd_json_put_str(const char *s, bool ascii_only, cbd_put_fn put,
		      void *ctx)
{
	put(ctx, "\"", 1);
	while (s && *s) {
		size_t n = 0;
		unsigned char c;
		char esc[8];

		while (s[n] && literal((unsigned char)s[n], ascii_only))
			n++;
		if (n) {
			put(ctx, s, n);
			s += n;
			continue;
		}
		c = (unsigned char)*s++;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(ctx, esc, 2);
		} else if (c == '\n') {
			put(ctx, "\\n", 2);
		} else {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			put(ctx, esc, 6);
		}
	}
	put(ctx, "\"", 1);
}

static void file_put(void *f, const char *s, size_t n)
{
	fwrite(s, 1, n, f);
}

void cbd_json_print_str(FILE *f, const char *s)
{
	cbd_json_put_str(s, false, file_put, f);
}

const char *cbd_json_bad_members(const struct cJSON *obj,
				 const char *const *names, int n,
				 const char **which)
{
	int seen[16] = {0};
	const cJSON *c;
	const char *dummy;

	if (!which)
		which = &dummy;
	*which = NULL;
	if (!cJSON_IsObject(obj) || n > 16)
		return "not an object";
	cJSON_ArrayForEach(c, obj) {
		int k = -1;

		for (int i = 0; i < n; i++)
			if (c->string && strcmp(c->string, names[i]) == 0)
				k = i;
		*which = c->string ? c->string : "";
		if (k < 0)
			return "unknown member";
		if (seen[k]++)
			return "duplicate member";
	}
	for (int i = 0; i < n; i++)
		if (!seen[i]) {
			*which = names[i];
			return "missing member";
		}
	*which = NULL;
	return NULL;
}
