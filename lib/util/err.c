/*
 * err.c — status strings, exit codes and the error detail that travels with
 * every status.
 *
 * The switch in cbd_strerror() has no default so that -Wswitch flags a new
 * status without a string (the curl_easy_strerror pattern).
 */
#include "util_internal.h"

#include <stdio.h>
#include <string.h>
#include <sysexits.h>

const char *cbd_strerror(cbd_status s)
{
	switch (s) {
	case CBD_OK: return "success";
	case CBD_E_USAGE: return "invalid argument";
	case CBD_E_NOMEM: return "out of memory";
	case CBD_E_IO: return "input/output error";
	case CBD_E_NOINPUT: return "cannot open input";
	case CBD_E_FORMAT: return "malformed data";
	case CBD_E_UNSUPPORTED: return "unsupported";
	case CBD_E_CRYPTO: return "cryptographic failure";
	case CBD_E_VERIFY: return "verification failed";
	case CBD_E_TOOBIG: return "input too large";
	case CBD_E_CANTCREAT: return "cannot create output";
	case CBD_E_NOPERM: return "permission denied";
	case CBD_E_PROTOCOL: return "protocol error";
	case CBD_E_UNAVAILABLE: return "service unavailable";
	case CBD_E_INTERNAL: return "internal error";
	case CBD_E_CONFIG: return "configuration error";
	case CBD_E_PASSPHRASE: return "wrong passphrase";
	case CBD_E_SHAPE: return "shape mismatch";
	}
	return "unknown status";
}

int cbd_status_exit(cbd_status s)
{
	switch (s) {
	case CBD_OK: return 0;
	case CBD_E_USAGE: return EX_USAGE;
	case CBD_E_NOMEM: return EX_OSERR;
	case CBD_E_IO: return EX_IOERR;
	case CBD_E_NOINPUT: return EX_NOINPUT;
	case CBD_E_FORMAT: return EX_DATAERR;
	case CBD_E_UNSUPPORTED: return EX_DATAERR;
	case CBD_E_CRYPTO: return EX_SOFTWARE;
	case CBD_E_VERIFY: return 1;
	case CBD_E_TOOBIG: return EX_DATAERR;
	case CBD_E_CANTCREAT: return EX_CANTCREAT;
	case CBD_E_NOPERM: return EX_NOPERM;
	case CBD_E_PROTOCOL: return EX_PROTOCOL;
	case CBD_E_UNAVAILABLE: return EX_UNAVAILABLE;
	case CBD_E_INTERNAL: return EX_SOFTWARE;
	case CBD_E_CONFIG: return EX_CONFIG;
	case CBD_E_PASSPHRASE: return EX_DATAERR;
	case CBD_E_SHAPE: return EX_DATAERR;
	}
	return EX_SOFTWARE;
}

cbd_status cbd_err_set(cbd_err *err, cbd_status code, const char *fmt, ...)
{
	if (err) {
		va_list ap;

		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

cbd_status cbd_err_prefix(cbd_err *err, const char *fmt, ...)
{
	char old[CBD_ERR_MSG_MAX];
	size_t n, room;
	va_list ap;

	if (!err)
		return CBD_E_INTERNAL;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	room = sizeof(err->msg) - 1 - n;
	/* Append ": old" by hand, truncating quietly: a detail is a hint. */
	if (room >= 2) {
		memcpy(err->msg + n, ": ", 2);
		n += 2;
		room -= 2;
		err->msg[n] = 0; /* strncat appends at the first NUL */
		strncat(err->msg + n, old, room);
	}
	return err->code;
}

void *cbd_xmalloc(size_t n, cbd_err *err)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		cbd_err_set(err, CBD_E_NOMEM, "out of memory (%zu bytes)", n);
	return p;
}

void *cbd_xcalloc(size_t n, size_t size, cbd_err *err)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		cbd_err_set(err, CBD_E_NOMEM, "out of memory (%zu x %zu bytes)",
			    n, size);
	return p;
}
