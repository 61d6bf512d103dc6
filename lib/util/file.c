/*
 * file.c — bounded whole-file reads and atomic writes.
 *
 * Reads refuse anything past a caller-given cap before allocating it, so a
 * hostile file cannot make us allocate without bound.  Writes never leave a
 * half-written output: the bytes go to a temporary file beside the target
 * (O_EXCL, same directory so rename(2) is atomic), are fsync'd, renamed over
 * the target, and the directory is fsync'd so the rename survives a crash.
 * The _ex variant can refuse to replace an existing file in the same atomic
 * step (key files are never silently overwritten).
 */
#include "util_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cbd_status cbd_fd_read_all(int fd, const char *path, size_t max,
			   size_t hint, int secret, uint8_t **buf,
			   size_t *len, cbd_err *err)
{
	/* one byte past max is read to tell "exactly max" from "more" */
	cbd_buf b = {.max = max + 1, .secret = secret};
	size_t step = hint >= 65536 ? hint + 1 : 65536;

	*buf = NULL;
	*len = 0;
	for (;;) {
		size_t want = max + 1 - b.len < step ? max + 1 - b.len : step;
		char *p = cbd_buf_reserve(&b, want);
		ssize_t r;

		if (!p) {
			cbd_buf_free(&b);
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory "
					   "reading %s", path);
		}
		r = read(fd, p, want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			cbd_buf_free(&b);
			return cbd_err_set(err, CBD_E_IO, "cannot read %s: %s",
					   path, strerror(e));
		}
		if (r == 0)
			break;
		b.len += (size_t)r;
		b.p[b.len] = 0;
		if (b.len > max) {
			cbd_buf_free(&b);
			return cbd_err_set(err, CBD_E_TOOBIG,
					   "file larger than %zu bytes (%s)",
					   max, path);
		}
		step = b.len;   /* double the room each time it fills */
	}
	if (!b.p && !cbd_buf_reserve(&b, 0)) {   /* an empty file */
		cbd_buf_free(&b);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	b.p[b.len] = 0;
	*buf = (uint8_t *)b.p;
	*len = b.len;
	return CBD_OK;
}

cbd_status cbd_file_read(const char *path, size_t max, uint8_t **buf,
			 size_t *len, cbd_err *err)
{
	struct stat st;
	cbd_status s;
	int fd;

	*buf = NULL;
	*len = 0;
	if (strcmp(path, "-") == 0)
		return cbd_fd_read_all(0, "stdin", max, 0, 0, buf, len, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cbd_err_set(err, CBD_E_NOINPUT, "cannot open %s: %s",
				   path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		return cbd_err_set(err, CBD_E_NOINPUT, "%s is a directory",
				   path);
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		close(fd);
		return cbd_err_set(err, CBD_E_TOOBIG,
				   "file larger than %zu bytes (%s)", max,
				   path);
	}
	s = cbd_fd_read_all(fd, path, max, S_ISREG(st.st_mode) ?
			    (size_t)st.st_size : 0, 0, buf, len, err);
	close(fd);
	return s;
}

cbd_status cbd_fd_write_all(int fd, const void *buf, size_t len,
			     const char *path, cbd_err *err)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return cbd_err_set(err, CBD_E_IO, "cannot write %s: %s",
					   path, strerror(errno));
		p += w;
		len -= (size_t)w;
	}
	return CBD_OK;
}

/* Directory part of path ("." if none) into dir. */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		snprintf(dir, cap, ".");
	} else if (slash == path) {
		snprintf(dir, cap, "/");
	} else {
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
	}
}

static void fsync_dir(const char *path)
{
	char dir[4096];
	int fd;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* Move tmp to path without replacing an existing file: one atomic step
 * (renameat2 RENAME_NOREPLACE, or link+unlink where the file system lacks
 * it), so no check-then-create race. */
static int rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(tmp, path) != 0)
		return -1;
	(void)unlink(tmp);
	return 0;
}

cbd_status cbd_file_write_atomic_ex(const char *path, const void *buf,
				    size_t len, unsigned mode, int noreplace,
				    cbd_err *err)
{
	char tmp[4096];
	cbd_status s;
	int fd, n, rc;

	if (strcmp(path, "-") == 0)
		return cbd_fd_write_all(1, buf, len, "stdout", err);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return cbd_err_set(err, CBD_E_USAGE, "path too long (%s)",
				   path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		return cbd_err_set(err, CBD_E_CANTCREAT, "cannot create %s: %s",
				   path, strerror(errno));
	/* The umask may have narrowed mode; secrets must not be widened, and
	 * public files should be what the caller asked for. */
	(void)fchmod(fd, mode);
	s = cbd_fd_write_all(fd, buf, len, path, err);
	if (s == CBD_OK && fsync(fd) != 0)
		s = cbd_err_set(err, CBD_E_IO, "cannot sync %s: %s", path,
				strerror(errno));
	if (close(fd) != 0 && s == CBD_OK)
		s = cbd_err_set(err, CBD_E_IO, "cannot close %s: %s", path,
				strerror(errno));
	if (s == CBD_OK) {
		rc = noreplace ? rename_noreplace(tmp, path) : rename(tmp, path);
		if (rc != 0 && errno == EEXIST)
			s = cbd_err_set(err, CBD_E_CANTCREAT,
					"%s already exists (not overwritten)",
					path);
		else if (rc != 0)
			s = cbd_err_set(err, CBD_E_CANTCREAT,
					"cannot rename onto %s: %s", path,
					strerror(errno));
	}
	if (s != CBD_OK) {
		unlink(tmp);
		return s;
	}
	fsync_dir(path);
	return CBD_OK;
}

cbd_status cbd_file_write_atomic(const char *path, const void *buf,
				 size_t len, unsigned mode, cbd_err *err)
{
	return cbd_file_write_atomic_ex(path, buf, len, mode, 0, err);
}

char *cbd_sig_path(const char *path)
{
	size_t n = strlen(path);
	char *p = malloc(n + sizeof(".sig"));

	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, ".sig", sizeof(".sig"));
	}
	return p;
}
