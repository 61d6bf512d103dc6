/*
 * png.c — 8-bit gray and RGB PNG images as uint8 tensors, via libpng's
 * simplified API.
 *
 * Gray images become [1,H,W], colour images [3,H,W] (planar, the layout
 * classifiers take).  16-bit and alpha images are refused rather than
 * silently converted: a trigger's bytes must survive a round trip exactly.
 */
#include "tensorio_internal.h"

#include <png.h>
#include <string.h>

static cbd_status read_pixels(png_image *img, const uint8_t *buf,
			      size_t len, const char *name, cbd_tensor **out,
			      cbd_err *err)
{
	int gray = !(img->format & PNG_FORMAT_FLAG_COLOR);
	int64_t dims[3] = {gray ? 1 : 3, img->height, img->width};
	size_t hw = (size_t)img->height * img->width, nelem, nbytes;
	uint8_t *pix;
	cbd_status s;

	(void)buf;
	(void)len;
	/* The element cap before decoding: a small file can claim a huge
	 * image. */
	s = cbd_tensor_size(CBD_DT_UINT8, 3, dims, &nelem, &nbytes, err);
	if (s != CBD_OK)
		return cbd_err_prefix(err, "%s", name);
	img->format = gray ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
	pix = cbd_xmalloc(PNG_IMAGE_SIZE(*img), err);
	if (!pix)
		return CBD_E_NOMEM;
	if (!png_image_finish_read(img, NULL, pix, 0, NULL)) {
		free(pix);
		return cbd_err_set(err, CBD_E_FORMAT, "bad PNG data (%s): %s",
				   name, img->message);
	}
	s = cbd_tensor_new(CBD_DT_UINT8, 3, dims, out, err);
	if (s == CBD_OK) {
		uint8_t *d = (*out)->data;

		if (gray) {
			memcpy(d, pix, hw);
		} else {
			for (size_t i = 0; i < hw; i++)
				for (int c = 0; c < 3; c++)
					d[c * hw + i] = pix[3 * i + c];
		}
	}
	free(pix);
	return s;
}

static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D',
				 0xae, 0x42, 0x60, 0x82};

cbd_status cbd_png_parse(const uint8_t *buf, size_t len, const char *name,
			 cbd_tensor **out, cbd_err *err)
{
	png_image img;
	cbd_status s;

	*out = NULL;
	/* libpng stops after the last IDAT; a file cut inside IEND would pass,
	 * so require the exact IEND chunk at the end (no trailing bytes). */
	if (len < sizeof(iend) || memcmp(buf + len - sizeof(iend), iend,
					 sizeof(iend)) != 0)
		return cbd_err_set(err, CBD_E_FORMAT,
				   "PNG truncated or has trailing bytes (%s)",
				   name);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	if (!png_image_begin_read_from_memory(&img, buf, len))
		return cbd_err_set(err, CBD_E_FORMAT, "not a valid PNG (%s): %s",
				   name, img.message);
	if (img.width == 0 || img.height == 0 ||
	    img.width > CBD_MAX_PNG_SIDE || img.height > CBD_MAX_PNG_SIDE) {
		png_image_free(&img);
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "PNG is %ux%u, limit %dx%d (%s)", img.width,
				   img.height, CBD_MAX_PNG_SIDE,
				   CBD_MAX_PNG_SIDE, name);
	}
	if (img.format & (PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_LINEAR)) {
		png_image_free(&img);
		return cbd_err_set(err, CBD_E_UNSUPPORTED,
				   "PNG must be 8-bit gray or RGB without "
				   "alpha (%s)", name);
	}
	s = read_pixels(&img, buf, len, name, out, err);
	png_image_free(&img);
	return s;
}

cbd_status cbd_png_encode(const cbd_tensor *t, uint8_t **buf, size_t *len,
			  cbd_err *err)
{
	int64_t c, h, w;
	png_image img;
	png_alloc_size_t size = 0;
	uint8_t *pix;

	if (t->dtype != CBD_DT_UINT8 || (t->ndim != 2 && t->ndim != 3))
		return cbd_err_set(err, CBD_E_SHAPE,
				   "PNG needs a uint8 [C,H,W] or [H,W] tensor");
	c = t->ndim == 3 ? t->dims[0] : 1;
	h = t->dims[t->ndim - 2];
	w = t->dims[t->ndim - 1];
	if ((c != 1 && c != 3) || h < 1 || w < 1 || h > CBD_MAX_PNG_SIDE ||
	    w > CBD_MAX_PNG_SIDE)
		return cbd_err_set(err, CBD_E_SHAPE,
				   "PNG needs 1 or 3 channels and sides up to "
				   "%d", CBD_MAX_PNG_SIDE);
	pix = cbd_xmalloc((size_t)(c * h * w), err);
	if (!pix)
		return CBD_E_NOMEM;
	for (int64_t i = 0; i < h * w; i++)
		for (int64_t k = 0; k < c; k++)
			pix[i * c + k] = ((const uint8_t *)t->data)[k * h * w + i];
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = (png_uint_32)w;
	img.height = (png_uint_32)h;
	img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
	if (!png_image_write_get_memory_size(img, size, 0, pix, 0, NULL))
		goto fail;
	*buf = cbd_xmalloc(size, err);
	if (!*buf) {
		free(pix);
		return CBD_E_NOMEM;
	}
	if (!png_image_write_to_memory(&img, *buf, &size, 0, pix, 0, NULL)) {
		free(*buf);
		*buf = NULL;
		goto fail;
	}
	free(pix);
	*len = size;
	return CBD_OK;
fail:
	free(pix);
	return cbd_err_set(err, CBD_E_INTERNAL, "PNG encoding failed: %s",
			   img.message);
}
