/*
 * tensorio.c — format dispatch for tensor files (PNG, NPY, JSON).
 *
 * Reading sniffs magic bytes (PNG signature, "\x93NUMPY", else JSON) unless
 * the caller forces a format; writing picks by extension.  The per-format
 * codecs live in png.c, npy.c and json.c beside this file.
 */
#include "tensorio_internal.h"

#include <string.h>
#include <strings.h>

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a,
				     0x1a, 0x0a};

static cbd_tensor_format sniff(const uint8_t *buf, size_t len)
{
	if (len >= 8 && memcmp(buf, png_magic, 8) == 0)
		return CBD_TF_PNG;
	if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0)
		return CBD_TF_NPY;
	return CBD_TF_JSON;
}

cbd_tensor_format cbd_tensor_format_from_name(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (!dot)
		return CBD_TF_AUTO;
	if (strcasecmp(dot, ".png") == 0)
		return CBD_TF_PNG;
	if (strcasecmp(dot, ".npy") == 0)
		return CBD_TF_NPY;
	if (strcasecmp(dot, ".json") == 0)
		return CBD_TF_JSON;
	return CBD_TF_AUTO;
}

cbd_status cbd_tensor_parse(const uint8_t *buf, size_t len,
			    cbd_tensor_format fmt, const char *name,
			    cbd_tensor **out, cbd_err *err)
{
	*out = NULL;
	if (fmt == CBD_TF_AUTO)
		fmt = sniff(buf, len);
	switch (fmt) {
	case CBD_TF_PNG: return cbd_png_parse(buf, len, name, out, err);
	case CBD_TF_NPY: return cbd_npy_parse(buf, len, name, out, err);
	case CBD_TF_JSON: return cbd_json_tensor_parse(buf, len, name, out,
						      err);
	case CBD_TF_AUTO: break;
	}
	return cbd_err_set(err, CBD_E_USAGE, "unknown tensor format (%s)",
			   name);
}

cbd_status cbd_tensor_load(const char *path, cbd_tensor_format fmt,
			   cbd_tensor **out, cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s = cbd_file_read(path, CBD_MAX_FILE, &buf, &len, err);

	*out = NULL;
	if (s != CBD_OK)
		return s;
	s = cbd_tensor_parse(buf, len, fmt, path, out, err);
	free(buf);
	return s;
}

cbd_status cbd_tensor_encode(const cbd_tensor *t, cbd_tensor_format fmt,
			     uint8_t **buf, size_t *len, cbd_err *err)
{
	*buf = NULL;
	*len = 0;
	switch (fmt) {
	case CBD_TF_PNG: return cbd_png_encode(t, buf, len, err);
	case CBD_TF_NPY: return cbd_npy_encode(t, buf, len, err);
	case CBD_TF_JSON: return cbd_json_tensor_encode(t, buf, len, err);
	case CBD_TF_AUTO: break;
	}
	return cbd_err_set(err, CBD_E_USAGE, "no tensor format given");
}

cbd_status cbd_tensor_save(const char *path, const cbd_tensor *t,
			   cbd_tensor_format fmt, cbd_err *err)
{
	uint8_t *buf;
	size_t len;
	cbd_status s;

	if (fmt == CBD_TF_AUTO)
		fmt = cbd_tensor_format_from_name(path);
	if (fmt == CBD_TF_AUTO)
		return cbd_err_set(err, CBD_E_USAGE,
				   "cannot tell the format from the name "
				   "(%s): use .png, .npy or .json", path);
	s = cbd_tensor_encode(t, fmt, &buf, &len, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "%s", path);
	s = cbd_file_write_atomic(path, buf, len, 0644, err);
	free(buf);
	return s;
}
