/*
 * gz.c — the gzip layer of a cbd archive, strict in both directions.
 *
 * Writing: one gzip member (RFC 1952) with a fixed 10-byte header
 *
 *   1f 8b | 08 (deflate) | 00 (no flags) | 00 00 00 00 (no mtime) |
 *   02 (max compression) | 03 (Unix)
 *
 * then zlib's raw deflate (level 9, windowBits 15, memLevel 8, default
 * strategy: Python's zlib.compressobj(9, zlib.DEFLATED, -15)), then CRC-32
 * and ISIZE (little endian).  The same tar always gives the same bytes.
 *
 * Reading refuses every byte that is not needed to reproduce the content,
 * so that flipping any single byte of an archive is detected here at the
 * latest: the header must be exactly the one above, the deflate stream must
 * end with zero padding bits (checked by inflating block by block with
 * Z_BLOCK, which reports the unused bits of the last byte), CRC-32 and
 * ISIZE must match, and nothing may follow the trailer.
 *
 * An archive whose trailer is plausible (ISIZE at most `max`, and at most
 * what deflate can make of the bytes there are) is inflated once, into a
 * buffer of ISIZE + 1 bytes, and accepted when everything matches.  Any
 * other archive, and any that fails that pass, takes the careful road
 * whose errors say what is wrong: a first pass inflates into a scratch
 * window only to count the output, so a gzip bomb is refused at `max`
 * bytes without allocating them, and a second pass inflates into a buffer
 * of the exact size.  A trailer that lies low is caught when the one pass
 * reaches ISIZE + 1 bytes, so a bomb never costs more memory than an
 * honest archive of its claimed size.  (Always counting first made
 * opening a 45 MB model inflate it twice.)
 */
#include "archive_internal.h"

#include <string.h>
#include <zlib.h>

static const uint8_t gz_fixed[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};

cbd_status cbd_gz_encode(const uint8_t *in, size_t len, uint8_t **out,
			 size_t *olen, cbd_err *err)
{
	z_stream z;
	uLong bound;
	uint8_t *buf;
	size_t cap;
	int rc;

	*out = NULL;
	memset(&z, 0, sizeof(z));
	if (len > UINT32_MAX)
		return cbd_err_set(err, CBD_E_TOOBIG, "archive too large to "
				   "compress");
	if (deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return cbd_err_set(err, CBD_E_NOMEM, "deflateInit failed");
	bound = deflateBound(&z, (uLong)len);
	cap = (size_t)bound + sizeof(gz_fixed) + 8;
	buf = cbd_xmalloc(cap, err);
	if (!buf) {
		deflateEnd(&z);
		return CBD_E_NOMEM;
	}
	memcpy(buf, gz_fixed, sizeof(gz_fixed));
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf + sizeof(gz_fixed);
	z.avail_out = (uInt)bound;
	rc = deflate(&z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return cbd_err_set(err, CBD_E_INTERNAL, "deflate failed (%d)",
				   rc);
	}
	*olen = sizeof(gz_fixed) + z.total_out;
	deflateEnd(&z);
	{
		uint32_t crc = (uint32_t)crc32(0L, in, (uInt)len);

		cbd_le32_store(buf + *olen, crc);
		cbd_le32_store(buf + *olen + 4, (uint32_t)len);
		*olen += 8;
	}
	*out = buf;
	return CBD_OK;
}

/* One pass over the deflate data.  With out == NULL, output goes to a
 * scratch window and is only counted (and refused past max). */
static cbd_status inflate_pass(const uint8_t *in, size_t len, size_t max,
			       const char *name, uint8_t *out, size_t *total,
			       uint32_t *crc, size_t *consumed, cbd_err *err)
{
	uint8_t scratch[1 << 15];
	z_stream z;
	int rc = Z_OK;
	cbd_status s = CBD_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		return cbd_err_set(err, CBD_E_NOMEM, "inflateInit failed");
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	*total = 0;
	*crc = (uint32_t)crc32(0L, Z_NULL, 0);
	while (rc != Z_STREAM_END) {
		uint8_t *dst = out ? out + *total : scratch;
		/* out holds max + 1 bytes: room never drops to zero. */
		size_t room = out ? max + 1 - *total : sizeof(scratch);
		size_t got;

		z.next_out = dst;
		z.avail_out = (uInt)(room > (1u << 30) ? (1u << 30) : room);
		rc = inflate(&z, Z_BLOCK);
		got = (size_t)(z.next_out - dst);
		*crc = (uint32_t)crc32(*crc, dst, (uInt)got);
		*total += got;
		if (rc == Z_BUF_ERROR && z.avail_in == 0) {
			s = cbd_err_set(err, CBD_E_FORMAT, "truncated archive "
					"(%s)", name);
			break;
		}
		if (rc != Z_OK && rc != Z_STREAM_END) {
			s = cbd_err_set(err, CBD_E_FORMAT, "corrupted "
					"compressed data (%s)", name);
			break;
		}
		if (*total > max) {
			s = cbd_err_set(err, CBD_E_TOOBIG, "archive "
					"decompresses to more than %zu bytes "
					"(%s)", max, name);
			break;
		}
		/* At the end of the last block: the bits left unused in the
		 * last byte read must be zero. */
		if (rc == Z_OK && (z.data_type & 128) && (z.data_type & 64)) {
			int unused = z.data_type & 7;

			if (unused && z.next_in[-1] >> (8 - unused))
				s = cbd_err_set(err, CBD_E_FORMAT,
						"non-zero padding bits in "
						"compressed data (%s)", name);
			if (s != CBD_OK)
				break;
		}
		if (rc == Z_OK && z.avail_in == 0 && got == 0) {
			s = cbd_err_set(err, CBD_E_FORMAT, "truncated archive "
					"(%s)", name);
			break;
		}
	}
	*consumed = (size_t)(z.next_in - in);
	inflateEnd(&z);
	return s;
}

/* deflate's limit on expansion: zlib's technical notes give 1032:1 (a
 * 258-byte match in about two bits). */
#define GZ_MAX_RATIO 1032

/* The careful road: count, check the trailer, then inflate for real. */
static cbd_status gz_decode_counted(const uint8_t *in, size_t len,
				    size_t max, const char *name,
				    uint8_t **out, size_t *olen,
				    cbd_err *err)
{
	size_t total, total2, used, used2;
	uint32_t crc, crc2;
	uint8_t *buf;
	cbd_status s;

	s = inflate_pass(in, len, max, name, NULL, &total, &crc, &used, err);
	if (s != CBD_OK)
		return s;
	if (len - used != 8)
		return cbd_err_set(err, CBD_E_FORMAT, "%s after the "
				   "compressed data (%s)",
				   len - used < 8 ? "truncated trailer"
						  : "unexpected bytes", name);
	if (cbd_le32_load(in + used) != crc ||
	    cbd_le32_load(in + used + 4) != (uint32_t)total)
		return cbd_err_set(err, CBD_E_VERIFY, "gzip CRC-32 or size "
				   "mismatch: archive corrupted (%s)", name);
	buf = cbd_xmalloc(total + 1, err);
	if (!buf)
		return CBD_E_NOMEM;
	s = inflate_pass(in, len, total, name, buf, &total2, &crc2, &used2,
			 err);
	if (s == CBD_OK && (total2 != total || crc2 != crc))
		s = cbd_err_set(err, CBD_E_INTERNAL, "inflate not repeatable "
				"(%s)", name);
	if (s != CBD_OK) {
		free(buf);
		return s;
	}
	buf[total] = 0;
	*out = buf;
	*olen = total;
	return CBD_OK;
}

cbd_status cbd_gz_decode(const uint8_t *in, size_t len, size_t max,
			 const char *name, uint8_t **out, size_t *olen,
			 cbd_err *err)
{
	size_t total = 0, used = 0, isize;
	uint32_t crc = 0;
	uint8_t *buf;
	cbd_err e1 = {0};
	cbd_status s;

	*out = NULL;
	*olen = 0;
	if (len < sizeof(gz_fixed) + 8 || memcmp(in, gz_fixed, 2) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "not a cbd archive: no "
				   "gzip header (%s)", name);
	if (memcmp(in, gz_fixed, sizeof(gz_fixed)) != 0)
		return cbd_err_set(err, CBD_E_FORMAT, "gzip header is not the "
				   "canonical 1f8b0800000000000203 (%s)", name);
	in += sizeof(gz_fixed);
	len -= sizeof(gz_fixed);
	isize = cbd_le32_load(in + len - 4);
	if (isize > max || isize / GZ_MAX_RATIO > len - 8)
		return gz_decode_counted(in, len, max, name, out, olen, err);
	buf = cbd_xmalloc(isize + 1, err);
	if (!buf)
		return CBD_E_NOMEM;
	s = inflate_pass(in, len, isize, name, buf, &total, &crc, &used, &e1);
	if (s != CBD_OK || len - used != 8 || total != isize ||
	    cbd_le32_load(in + used) != crc) {
		free(buf);
		return gz_decode_counted(in, len, max, name, out, olen, err);
	}
	buf[total] = 0;
	*out = buf;
	*olen = total;
	return CBD_OK;
}
