/*
 * tensorio_internal.h — internal codec entry points behind cbd_tensor_parse/encode.
 */
#ifndef CBD_TENSORIO_INTERNAL_H
#define CBD_TENSORIO_INTERNAL_H

#include "../util/util_internal.h"

/* The checks of cbd_tensor_new() (dims, element cap, overflow) without
 * allocating: element and byte counts of such a tensor. */
cbd_status cbd_tensor_size(cbd_dtype dt, int ndim, const int64_t *dims,
			   size_t *nelem, size_t *nbytes, cbd_err *err);
cbd_status cbd_png_parse(const uint8_t *buf, size_t len, const char *name,
			 cbd_tensor **out, cbd_err *err);
cbd_status cbd_png_encode(const cbd_tensor *t, uint8_t **buf, size_t *len,
			  cbd_err *err);
cbd_status cbd_npy_parse(const uint8_t *buf, size_t len, const char *name,
			 cbd_tensor **out, cbd_err *err);
cbd_status cbd_npy_encode(const cbd_tensor *t, uint8_t **buf, size_t *len,
			  cbd_err *err);
cbd_status cbd_json_tensor_parse(const uint8_t *buf, size_t len,
				 const char *name, cbd_tensor **out,
				 cbd_err *err);
cbd_status cbd_json_tensor_encode(const cbd_tensor *t, uint8_t **buf,
				  size_t *len, cbd_err *err);

#endif
