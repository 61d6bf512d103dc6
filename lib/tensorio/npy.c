/*
 * npy.c — NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY" | major u8 | minor u8 | header_len (u16 LE for v1,
 * u32 LE for v2/v3) | header (a Python dict literal, padded with spaces and
 * ending in '\n') | raw data in C order.  We accept the descr of every
 * cbd_dtype (the traits table: '<f4', '<f8', '|u1', '<i8', '<u4', '|b1',
 * ...; little-endian only), fortran_order False, and check that the data
 * length is exactly what the shape says.
 */
#include "tensorio_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define NPY_MAX_HEADER 65536

static const char *find_key(const char *h, const char *key)
{
	const char *p = strstr(h, key);

	if (!p)
		return NULL;
	p += strlen(key);
	while (*p == ' ')
		p++;
	if (*p != ':')
		return NULL;
	p++;
	while (*p == ' ')
		p++;
	return p;
}

static cbd_status parse_descr(const char *h, const char *name,
			      cbd_dtype *dt, cbd_err *err)
{
	const char *p = find_key(h, "'descr'");

	if (!p)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "NPY header has no descr (%s)", name);
	if (*p == '\'' && strlen(p) >= 5 && p[4] == '\'')
		*dt = cbd_dtype_from_npy(p + 1, 3);
	else
		*dt = 0;
	if (!*dt)
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "NPY dtype %.8s not supported, want a "
				   "little-endian number or bool type "
				   "(%s: descr)", p, name);
	return CBD_OK;
}

static cbd_status parse_shape(const char *h, const char *name, int *ndim,
			      int64_t *dims, cbd_err *err)
{
	const char *p = find_key(h, "'shape'");

	*ndim = 0;
	if (!p || *p != '(')
		return cbd_err_set(err, CBD_E_FORMAT,
				   "NPY header has no shape (%s)", name);
	p++;
	for (;;) {
		char *end;
		long long v;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ')')
			return CBD_OK;
		if (!isdigit((unsigned char)*p))
			return cbd_err_set(err, CBD_E_FORMAT,
					   "bad NPY shape (%s: shape)", name);
		if (*ndim == CBD_MAX_DIMS)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "NPY shape has more than %d dims "
					   "(%s: shape)", CBD_MAX_DIMS, name);
		v = strtoll(p, &end, 10);
		if (v > CBD_MAX_ELEMS)
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "NPY dimension %lld too large (%s: "
					   "shape)", v, name);
		dims[(*ndim)++] = v;
		p = end;
	}
}

cbd_status cbd_npy_parse(const uint8_t *buf, size_t len, const char *name,
			 cbd_tensor **out, cbd_err *err)
{
	size_t hlen, off, nelem, want;
	char header[NPY_MAX_HEADER + 1];
	int64_t dims[CBD_MAX_DIMS];
	cbd_dtype dt = CBD_DT_UINT8;
	cbd_status s;
	int ndim;

	*out = NULL;
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "not an NPY file (%s)",
				   name);
	if (buf[6] == 1) {
		hlen = cbd_le16_load(buf + 8);
		off = 10;
	} else if ((buf[6] == 2 || buf[6] == 3) && len >= 12) {
		hlen = cbd_le32_load(buf + 8);
		off = 12;
	} else {
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "NPY version %u not supported (%s)",
				   buf[6], name);
	}
	if (hlen > NPY_MAX_HEADER || hlen > len - off)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "NPY header truncated or too long (%s)",
				   name);
	memcpy(header, buf + off, hlen);
	header[hlen] = 0;
	s = parse_descr(header, name, &dt, err);
	if (s != CBD_OK)
		return s;
	if (strstr(header, "'fortran_order': True"))
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "NPY in Fortran order not supported (%s)",
				   name);
	s = parse_shape(header, name, &ndim, dims, err);
	if (s != CBD_OK)
		return s;
	/* Compare the shape with the data before allocating for it. */
	s = cbd_tensor_size(dt, ndim, dims, &nelem, &want, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "%s", name);
	off += hlen;
	if (len - off != want)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "NPY data is %zu bytes, shape needs %zu "
				   "(%s)", len - off, want, name);
	s = cbd_tensor_new(dt, ndim, dims, out, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "%s", name);
	memcpy((*out)->data, buf + off, (*out)->nbytes);
	return CBD_OK;
}

cbd_status cbd_npy_encode(const cbd_tensor *t, uint8_t **buf, size_t *len,
			  cbd_err *err)
{
	char header[512];
	const char *descr;
	size_t n = 0, total;

	if (!cbd_dtype_traits_of(t->dtype))
		return cbd_err_set(err, CBD_E_USAGE, "bad dtype");
	descr = cbd_dtype_traits_of(t->dtype)->npy;
	n += (size_t)snprintf(header + n, sizeof(header) - n,
			      "{'descr': '%s', 'fortran_order': False, "
			      "'shape': (", descr);
	for (int i = 0; i < t->ndim; i++)
		n += (size_t)snprintf(header + n, sizeof(header) - n,
				      "%lld,%s", (long long)t->dims[i],
				      i + 1 < t->ndim ? " " : "");
	if (t->ndim > 1)
		n--; /* (a, b) rather than (a, b,); (a,) keeps its comma */
	n += (size_t)snprintf(header + n, sizeof(header) - n, "), }");
	/* Pad so that data starts on a 64-byte boundary. */
	while ((10 + n + 1) % 64)
		header[n++] = ' ';
	header[n++] = '\n';
	total = 10 + n + t->nbytes;
	*buf = cbd_xmalloc(total, err);
	if (!*buf)
		return CBD_E_NOMEM;
	memcpy(*buf, "\x93NUMPY\x01\x00", 8);
	(*buf)[8] = (uint8_t)(n & 0xff);
	(*buf)[9] = (uint8_t)(n >> 8);
	memcpy(*buf + 10, header, n);
	memcpy(*buf + 10 + n, t->data, t->nbytes);
	*len = total;
	return CBD_OK;
}
