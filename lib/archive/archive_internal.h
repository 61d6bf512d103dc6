/*
 * archive_internal.h — the layers under cbd_archive_* (not public):
 * gz.c (strict gzip with zlib) and tar.c (ustar members with
 * libarchive).  archive.c puts the manifest and signature on top.
 */
#ifndef CBD_ARCHIVE_INTERNAL_H
#define CBD_ARCHIVE_INTERNAL_H

#include "../util/util_internal.h"

/* Members of an archive, in the order they are stored (sorted by name). */
enum { AR_CIRCUIT = 0, AR_MANIFEST = 1, AR_SIG = 2, AR_MODEL = 3,
       AR_NMEMBERS = 4 };

extern const char *const cbd_ar_names[AR_NMEMBERS];
extern const size_t cbd_ar_caps[AR_NMEMBERS];

struct cbd_ar_member {
	uint8_t *data;   /* owned, NUL-terminated (not counted in len) */
	size_t len;
};

/* gzip member with the fixed header 1f 8b 08 00 00000000 02 03 (no name,
 * no timestamp, maximum compression, Unix); *out owned by the caller. */
cbd_status cbd_gz_encode(const uint8_t *in, size_t len, uint8_t **out,
			 size_t *olen, cbd_err *err);
/* Strict inverse: exactly that header, one deflate stream whose padding
 * bits are zero, CRC-32 and size matching, nothing after the trailer,
 * at most max bytes of output (checked before anything is allocated). */
cbd_status cbd_gz_decode(const uint8_t *in, size_t len, size_t max,
			 const char *name, uint8_t **out, size_t *olen,
			 cbd_err *err);

/* The canonical ustar bytes of the four members (see formats/archive.md);
 * *out owned by the caller. */
cbd_status cbd_tar_encode(const struct cbd_ar_member m[AR_NMEMBERS],
			  int64_t mtime, uint8_t **out, size_t *olen,
			  cbd_err *err);
/* Read exactly the four expected regular-file members out of tar bytes,
 * each within its cap; anything else (other names, "..", absolute paths,
 * links, devices, duplicates, oversized or truncated members) is refused
 * naming the member.  m[] receives owned copies. */
cbd_status cbd_tar_decode(const uint8_t *tar, size_t len, const char *name,
			  struct cbd_ar_member m[AR_NMEMBERS], cbd_err *err);

void cbd_ar_members_free(struct cbd_ar_member m[AR_NMEMBERS]);

#endif
