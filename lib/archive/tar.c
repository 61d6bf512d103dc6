/*
 * tar.c — the tar layer of a cbd archive, with libarchive.
 *
 * Writing produces the canonical ustar stream of formats/archive.md: the
 * four members in name order, each a regular file with mode 0644, uid and
 * gid 0, empty user and group names, mtime = the manifest's creation time,
 * followed by the two zero blocks that end a tar, with no further blocking
 * (libarchive's bytes_per_block = 0).  Same members => same bytes.
 *
 * Reading walks the entries with libarchive from memory and accepts only
 * the expected four regular files, each at most its cap: a path with "..",
 * an absolute path, a symbolic or hard link, a device, FIFO or directory,
 * an unknown or repeated name, a size past the cap, and a truncated member
 * are refused, naming the member.  (archive.c additionally requires the
 * stream to be byte-identical to the canonical encoding.)
 */
#include "archive_internal.h"
#include "../keys/keys_internal.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

const char *const cbd_ar_names[AR_NMEMBERS] = {
	"circuit.json", "manifest.json", "manifest.sig", "model.onnx"
};

const size_t cbd_ar_caps[AR_NMEMBERS] = {
	(size_t)16 << 20,      /* circuit.json */
	(size_t)1 << 20,       /* manifest.json */
	(size_t)1 << 10,       /* manifest.sig */
	(size_t)512 << 20      /* model.onnx */
};

void cbd_ar_members_free(struct cbd_ar_member m[AR_NMEMBERS])
{
	for (int i = 0; i < AR_NMEMBERS; i++) {
		free(m[i].data);
		m[i].data = NULL;
		m[i].len = 0;
	}
}

static la_ssize_t write_cb(struct archive *a, void *ud, const void *buf,
			   size_t len)
{
	cbd_buf *b = ud;

	(void)a;
	cbd_buf_add(b, buf, len);
	return b->st ? -1 : (la_ssize_t)len;
}

static cbd_status tar_fail(struct archive *a, cbd_status code,
			   const char *what, const char *name, cbd_err *err)
{
	const char *msg = archive_error_string(a);

	return cbd_err_set(err, code, "%s (%s)%s%s", what, name,
			   msg ? ": " : "", msg ? msg : "");
}

static cbd_status put_member(struct archive *a, const char *name,
			     const struct cbd_ar_member *m, int64_t mtime,
			     cbd_err *err)
{
	struct archive_entry *e = archive_entry_new();
	size_t off = 0;

	if (!e)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)m->len);
	archive_entry_set_mtime(e, (time_t)mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK) {
		archive_entry_free(e);
		return tar_fail(a, CBD_E_INTERNAL, "cannot write tar header",
				name, err);
	}
	archive_entry_free(e);
	while (off < m->len) {
		la_ssize_t w = archive_write_data(a, m->data + off,
						  m->len - off);

		if (w <= 0)
			return tar_fail(a, CBD_E_NOMEM, "cannot write member",
					name, err);
		off += (size_t)w;
	}
	return CBD_OK;
}

cbd_status cbd_tar_encode(const struct cbd_ar_member m[AR_NMEMBERS],
			  int64_t mtime, uint8_t **out, size_t *olen,
			  cbd_err *err)
{
	cbd_buf b = {0};
	struct archive *a = archive_write_new();
	cbd_status s = CBD_OK;

	*out = NULL;
	if (!a)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
	    archive_write_open(a, &b, NULL, write_cb, NULL) != ARCHIVE_OK)
		s = tar_fail(a, CBD_E_INTERNAL, "cannot start tar", "archive",
			     err);
	for (int i = 0; s == CBD_OK && i < AR_NMEMBERS; i++)
		s = put_member(a, cbd_ar_names[i], &m[i], mtime, err);
	if (s == CBD_OK && archive_write_close(a) != ARCHIVE_OK)
		s = tar_fail(a, CBD_E_INTERNAL, "cannot finish tar", "archive",
			     err);
	archive_write_free(a);
	if (s == CBD_OK && b.st)
		s = cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	if (s != CBD_OK) {
		free(b.p);
		return s;
	}
	*out = (uint8_t *)b.p;
	*olen = b.len;
	return CBD_OK;
}

/* Is any component of path ".."? */
static int has_dotdot(const char *p)
{
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += n;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* Why entry e is not acceptable, or NULL. */
static const char *entry_problem(struct archive_entry *e, const char *path)
{
	mode_t type = archive_entry_filetype(e);

	if (path[0] == '/')
		return "absolute member path";
	if (has_dotdot(path))
		return "member path with \"..\"";
	if (archive_entry_hardlink(e))
		return "hard link member";
	if (type == AE_IFLNK || archive_entry_symlink(e))
		return "symbolic link member";
	if (type == AE_IFCHR || type == AE_IFBLK)
		return "device member";
	if (type == AE_IFIFO || type == AE_IFSOCK)
		return "FIFO or socket member";
	if (type == AE_IFDIR)
		return "directory member";
	if (type != AE_IFREG)
		return "member is not a regular file";
	return NULL;
}

static cbd_status read_member(struct archive *a, struct archive_entry *e,
			      const char *path, size_t cap,
			      struct cbd_ar_member *m, cbd_err *err)
{
	la_int64_t size = archive_entry_size(e);
	size_t off = 0;

	if (!archive_entry_size_is_set(e) || size < 0)
		return cbd_err_set(err, CBD_E_FORMAT, "member without a size "
				   "(%s)", path);
	if ((uint64_t)size > cap)
		return cbd_err_set(err, CBD_E_TOOBIG, "member larger than "
				   "%zu bytes (%s)", cap, path);
	m->data = cbd_xmalloc((size_t)size + 1, err);
	if (!m->data)
		return CBD_E_NOMEM;
	while (off < (size_t)size) {
		la_ssize_t r = archive_read_data(a, m->data + off,
						 (size_t)size - off);

		if (r < 0)
			return tar_fail(a, CBD_E_FORMAT, "cannot read member",
					path, err);
		if (r == 0)
			return cbd_err_set(err, CBD_E_FORMAT, "truncated "
					   "member (%s)", path);
		off += (size_t)r;
	}
	m->data[off] = 0;
	m->len = off;
	return CBD_OK;
}

static cbd_status walk(struct archive *a, const char *name,
		       struct cbd_ar_member m[AR_NMEMBERS], cbd_err *err)
{
	int seen[AR_NMEMBERS] = {0};
	struct archive_entry *e;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *path = archive_entry_pathname(e);
		const char *why;
		int k = -1;
		cbd_status s;

		if (!path || !*path)
			return cbd_err_set(err, CBD_E_FORMAT, "member without "
					   "a name (%s)", name);
		why = entry_problem(e, path);
		if (why)
			return cbd_err_set(err, CBD_E_FORMAT, "%s (%.200s in "
					   "%s)", why, path, name);
		for (int i = 0; i < AR_NMEMBERS; i++)
			if (strcmp(path, cbd_ar_names[i]) == 0)
				k = i;
		if (k < 0)
			return cbd_err_set(err, CBD_E_FORMAT, "unexpected "
					   "member (%.200s in %s)", path, name);
		if (seen[k]++)
			return cbd_err_set(err, CBD_E_FORMAT, "duplicate "
					   "member (%s in %s)", path, name);
		s = read_member(a, e, path, cbd_ar_caps[k], &m[k], err);
		if (s != CBD_OK)
			return s;
	}
	if (r != ARCHIVE_EOF)
		return tar_fail(a, CBD_E_FORMAT, "corrupted tar", name, err);
	for (int i = 0; i < AR_NMEMBERS; i++)
		if (!seen[i])
			return cbd_err_set(err, CBD_E_FORMAT, "missing member "
					   "(%s in %s)", cbd_ar_names[i], name);
	return CBD_OK;
}

cbd_status cbd_tar_decode(const uint8_t *tar, size_t len, const char *name,
			  struct cbd_ar_member m[AR_NMEMBERS], cbd_err *err)
{
	struct archive *a = archive_read_new();
	cbd_status s;

	memset(m, 0, AR_NMEMBERS * sizeof(*m));
	if (!a)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open_memory(a, tar, len) != ARCHIVE_OK)
		s = tar_fail(a, CBD_E_FORMAT, "not a tar archive", name, err);
	else
		s = walk(a, name, m, err);
	archive_read_free(a);
	if (s != CBD_OK)
		cbd_ar_members_free(m);
	return s;
}
