/*
 * store.c — the keyring as an SQLite database (format 2,
 * formats/keyring.md).
 *
 * One WAL-mode database file, mode 0600, with exactly two tables:
 *
 *   cbd_keyring(format TEXT, version INTEGER)      one row: 'cbd-keyring', 2
 *   users(id, key_type, public_key, trace_secret, created, revoked, note)
 *       STRICT, WITHOUT ROWID: the table is the b-tree of ids, so
 *       "ORDER BY id" is a plain walk in byte order
 *
 * and the application id 0x63626432 ("cbd2") in the header.  The file may
 * come from anywhere, so opening it checks, before any row is read: no
 * symbolic link (O_NOFOLLOW, SQLITE_OPEN_NOFOLLOW), a regular file, mode
 * 0600, the application id, WAL mode, a schema of exactly these two tables
 * with exactly our CREATE statements (no trigger, view, index or other
 * table), and the version row.  SQLite itself runs defensive: triggers
 * and views disabled, an untrusted schema, a 64 KiB cap on any value
 * (a huge blob fails with SQLITE_TOOBIG when read).  Every row is checked
 * again on read — types, id syntax and order, the exact SPKI structure of
 * the public key, the secret's length, time ranges, the note — and rows
 * loaded into memory or looked up have their public key parsed too.
 *
 * Readers (cbd_keyring_load) never write: the database is opened
 * SQLITE_OPEN_READONLY with PRAGMA query_only, so evidence cannot be
 * changed by looking at it.  A read-only connection to a WAL database
 * would create the -wal and -shm files beside it and, unable to delete
 * them, leave them behind (and fails outright in a read-only
 * directory).  So when no -wal file exists — the database is complete in
 * its one file — a reader opens it immutable (no locks, no side files)
 * and checks afterwards that the file was not written meanwhile (no -wal
 * appeared, same inode, size and mtime), failing with
 * CBD_E_UNAVAILABLE ("run again") if it was: a writer only touches the
 * main file after creating the -wal file.  With a -wal file present a
 * writer may be at work, and the reader takes SQLite's shared locks.
 *
 * Writers (cbd_kr_db_add, _revoke) take the write lock first
 * (BEGIN IMMEDIATE) and wait up to 30 s for it, so processes adding users
 * at once are serialised by SQLite and none is lost.
 *
 * The digest of a scan (cbd_kr_db_scan) is SHA-256 over "cbd-keyring/2\n",
 * then for each user in id order
 *
 *   u8 len(id) | id | u8 key type (1 ed25519, 2 p256) | u16be len(pk) | pk |
 *   trace_secret[32] | i64be created | i64be revoked (-1: none) |
 *   u16be len(note) | note
 *
 * and at the end u64be number of users: computed in the same pass, from
 * the same bytes, as the rows handed to the visitor.
 */
#include "keyring_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_APP_ID 0x63626432             /* "cbd2" */
#define DB_VERSION 2
#define DB_MAX_VALUE 65536               /* SQLITE_LIMIT_LENGTH */
#define DB_MAX_USERS 100000000ULL
#define DB_BUSY_MS 30000

static const char SQL_META[] =
	"CREATE TABLE cbd_keyring(format TEXT NOT NULL, version INTEGER NOT "
	"NULL) STRICT";
static const char SQL_USERS[] =
	"CREATE TABLE users(id TEXT PRIMARY KEY NOT NULL CHECK(length(id) "
	"BETWEEN 1 AND 64), key_type TEXT NOT NULL CHECK(key_type IN "
	"('ed25519', 'p256')), public_key BLOB NOT NULL "
	"CHECK(length(public_key) <= 4096), trace_secret BLOB NOT NULL "
	"CHECK(length(trace_secret) = 32), created INTEGER NOT NULL "
	"CHECK(created BETWEEN 0 AND 253402300799), revoked INTEGER "
	"CHECK(revoked IS NULL OR revoked BETWEEN 0 AND 253402300799), note "
	"TEXT CHECK(note IS NULL OR length(note) <= 1024)) STRICT, WITHOUT "
	"ROWID";
#define COLS "id, key_type, public_key, trace_secret, created, revoked, note"

/* The SPKI DER of each key type, up to the key bytes. */
static const uint8_t SPKI_ED25519[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
					 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
static const uint8_t SPKI_P256[27] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
	0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01,
	0x07, 0x03, 0x42, 0x00, 0x04};

struct kr_cached {
	struct kr_cached *next;
	struct kr_user u;
};

struct kr_db {
	sqlite3 *db;
	char *path;
	char *wal;               /* path "-wal" */
	int readonly;            /* opened by a reader */
	int immutable;           /* ... with no -wal file: see the top */
	int fd;                  /* a reader's descriptor of it, or -1 */
	struct stat st;          /* the file as checked before opening */
	uint8_t hdr[20];         /* its first bytes */
	size_t count;
	sqlite3_stmt *ins;
	struct kr_cached *found;
};

int cbd_kr_db_sniff(const uint8_t *head, size_t len)
{
	return len >= 16 && memcmp(head, "SQLite format 3", 16) == 0;
}

const char *cbd_kr_db_path(const struct kr_db *db)
{
	return db->path;
}

size_t cbd_kr_db_count(const struct kr_db *db)
{
	return db->count;
}

static cbd_status db_fail(const struct kr_db *d, cbd_err *err,
			  const char *what)
{
	int rc = sqlite3_extended_errcode(d->db);
	cbd_status s = CBD_E_FORMAT;

	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		s = CBD_E_UNAVAILABLE;
	else if ((rc & 0xff) == SQLITE_IOERR || rc == SQLITE_FULL ||
		 rc == SQLITE_READONLY || (rc & 0xff) == SQLITE_CANTOPEN)
		s = CBD_E_IO;
	else if (rc == SQLITE_TOOBIG)
		s = CBD_E_TOOBIG;
	else if (rc == SQLITE_NOMEM)
		s = CBD_E_NOMEM;
	return cbd_err_set(err, s, "keyring database: %s: %s (%s)", what,
			   sqlite3_errmsg(d->db), d->path);
}

cbd_status cbd_kr_db_exec(struct kr_db *d, const char *sql, cbd_err *err)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(d, err, sql);
	return CBD_OK;
}

static void free_cached(struct kr_cached *c)
{
	while (c) {
		struct kr_cached *next = c->next;

		free(c->u.id);
		free(c->u.note);
		cbd_key_free(c->u.key);
		OPENSSL_cleanse(c, sizeof(*c));
		free(c);
		c = next;
	}
}

void cbd_kr_db_close(struct kr_db *d)
{
	if (!d)
		return;
	sqlite3_finalize(d->ins);
	sqlite3_close(d->db);
	if (d->fd >= 0)
		close(d->fd);      /* after SQLite let go of its locks */
	free_cached(d->found);
	free(d->path);
	free(d->wal);
	free(d);
}

/* ---- opening and the hostile-file checks ------------------------------ */

/* The file itself: no link, regular, mode 0600; its inode in *st, its
 * first bytes in hdr (zeros if shorter); a reader keeps the descriptor in
 * *keep. */
static cbd_status check_file(const char *path, int create, struct stat *st,
			     uint8_t hdr[20], int *keep, cbd_err *err)
{
	int fl = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	int fd = create ? open(path, fl | O_RDWR | O_CREAT, 0600)
			: open(path, fl | O_RDONLY);

	if (fd < 0 && errno == ELOOP)
		return cbd_err_set(err, CBD_E_NOPERM, "keyring is a symbolic "
				   "link; give the file itself (%s)", path);
	if (fd < 0)
		return cbd_err_set(err, errno == ENOENT ? CBD_E_NOINPUT
						       : CBD_E_IO,
				   "cannot open keyring: %s (%s)",
				   strerror(errno), path);
	memset(hdr, 0, 20);
	if (fstat(fd, st) != 0 || pread(fd, hdr, 20, 0) < 0) {
		close(fd);
		return cbd_err_set(err, CBD_E_IO, "cannot read keyring: %s "
				   "(%s)", strerror(errno), path);
	}
	if (create)
		close(fd);
	else
		*keep = fd;
	if (!S_ISREG(st->st_mode))
		return cbd_err_set(err, CBD_E_FORMAT, "keyring is not a "
				   "regular file (%s)", path);
	if (st->st_mode & 077)
		return cbd_err_set(err, CBD_E_NOPERM, "keyring is readable or "
				   "writable by others; run 'chmod 600 %s'",
				   path);
	return CBD_OK;
}

/* One integer from a one-row statement. */
static cbd_status query_int(struct kr_db *d, const char *sql, int64_t *v,
			    cbd_err *err)
{
	sqlite3_stmt *q = NULL;
	int rc = sqlite3_prepare_v2(d->db, sql, -1, &q, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(q);
		return db_fail(d, err, sql);
	}
	*v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return CBD_OK;
}

/* Exactly our two tables, with exactly our statements. */
static cbd_status check_schema(struct kr_db *d, cbd_err *err)
{
	sqlite3_stmt *q = NULL;
	int rc, seen = 0;
	cbd_status s = CBD_OK;

	rc = sqlite3_prepare_v2(d->db, "SELECT type, name, sql FROM "
				"sqlite_schema ORDER BY name", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return db_fail(d, err, "reading the schema");
	while (s == CBD_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 1);
		const char *sql = (const char *)sqlite3_column_text(q, 2);
		int meta = name && strcmp(name, "cbd_keyring") == 0;
		int users = name && strcmp(name, "users") == 0;

		if (!type || !name || strcmp(type, "table") != 0 ||
		    !(meta || users))
			s = cbd_err_set(err, CBD_E_FORMAT, "unexpected %.20s "
					"'%.60s' in the keyring database; a "
					"keyring holds only the tables "
					"cbd_keyring and users (%s)",
					type ? type : "entry",
					name ? name : "", d->path);
		else if (!sql || strcmp(sql, meta ? SQL_META : SQL_USERS))
			s = cbd_err_set(err, CBD_E_FORMAT, "table %s has the "
					"wrong schema (%s)", name, d->path);
		else
			seen |= meta ? 1 : 2;
	}
	if (s == CBD_OK && rc != SQLITE_DONE)
		s = db_fail(d, err, "reading the schema");
	sqlite3_finalize(q);
	if (s == CBD_OK && seen != 3)
		s = cbd_err_set(err, CBD_E_FORMAT, "not a cbd keyring database:"
				" table %s missing (%s)",
				seen & 1 ? "users" : "cbd_keyring", d->path);
	return s;
}

static cbd_status check_meta(struct kr_db *d, cbd_err *err)
{
	sqlite3_stmt *q = NULL;
	int rc, rows = 0, ok = 0;

	rc = sqlite3_prepare_v2(d->db, "SELECT format, version FROM "
				"cbd_keyring", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return db_fail(d, err, "reading the version");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *f = (const char *)sqlite3_column_text(q, 0);

		rows++;
		ok = f && strcmp(f, "cbd-keyring") == 0 &&
		     sqlite3_column_type(q, 1) == SQLITE_INTEGER &&
		     sqlite3_column_int64(q, 1) == DB_VERSION;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_fail(d, err, "reading the version");
	if (rows != 1 || !ok)
		return cbd_err_set(err, CBD_E_FORMAT, "keyring database has no "
				   "single version row ('cbd-keyring', %d) in "
				   "table cbd_keyring (%s)", DB_VERSION,
				   d->path);
	return CBD_OK;
}

static cbd_status check_db(struct kr_db *d, cbd_err *err)
{
	sqlite3_stmt *q = NULL;
	const unsigned char *mode;
	int64_t app = 0;
	int wal;
	cbd_status s = query_int(d, "PRAGMA application_id", &app, err);

	if (s != CBD_OK)
		return s;
	if (app != DB_APP_ID)
		return cbd_err_set(err, CBD_E_FORMAT, "not a cbd keyring "
				   "database (application id %lld) (%s)",
				   (long long)app, d->path);
	if (d->immutable) {
		/* immutable, SQLite reports "delete"; the header's read and
		 * write versions are 2 for WAL */
		wal = d->hdr[18] == 2 && d->hdr[19] == 2;
	} else if (sqlite3_prepare_v2(d->db, "PRAGMA journal_mode", -1, &q,
				      NULL) != SQLITE_OK ||
		   sqlite3_step(q) != SQLITE_ROW) {
		sqlite3_finalize(q);
		return db_fail(d, err, "PRAGMA journal_mode");
	} else {
		mode = sqlite3_column_text(q, 0);
		wal = mode && strcmp((const char *)mode, "wal") == 0;
		sqlite3_finalize(q);
	}
	if (!wal)
		return cbd_err_set(err, CBD_E_FORMAT, "keyring database is not "
				   "in WAL mode (%s)", d->path);
	s = check_schema(d, err);
	if (s == CBD_OK)
		s = check_meta(d, err);
	return s;
}

/* Switch to WAL unless it is already.  Changing the journal mode needs an
 * exclusive lock and SQLite's busy handler does not always wait for it
 * (another process creating the keyring at the same moment), so retry
 * for up to DB_BUSY_MS. */
static cbd_status set_wal(struct kr_db *d, cbd_err *err)
{
	for (int waited = 0;; waited += 10) {
		sqlite3_stmt *q = NULL;
		const unsigned char *m;
		int rc = sqlite3_prepare_v2(d->db, "PRAGMA journal_mode=WAL", -1,
					    &q, NULL);
		int wal;

		if (rc == SQLITE_OK)
			rc = sqlite3_step(q);
		m = rc == SQLITE_ROW ? sqlite3_column_text(q, 0) : NULL;
		wal = m && strcmp((const char *)m, "wal") == 0;
		sqlite3_finalize(q);
		if (wal)
			return CBD_OK;
		if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED &&
		    rc != SQLITE_ROW)
			return db_fail(d, err, "PRAGMA journal_mode=WAL");
		if (waited >= DB_BUSY_MS)
			return cbd_err_set(err, CBD_E_UNAVAILABLE, "keyring "
					   "database stays locked; cannot set "
					   "WAL mode (%s)", d->path);
		usleep(10000);
	}
}

/* A new or empty file: the schema, under the write lock (idempotent when
 * several processes create the keyring at once). */
static cbd_status init_db(struct kr_db *d, cbd_err *err)
{
	int64_t n = 0;
	char app[64];
	cbd_status s;

	s = set_wal(d, err);
	if (s == CBD_OK)
		s = cbd_kr_db_exec(d, "BEGIN IMMEDIATE", err);
	if (s == CBD_OK)
		s = query_int(d, "SELECT count(*) FROM sqlite_schema", &n, err);
	if (s == CBD_OK && n == 0) {
		snprintf(app, sizeof(app), "PRAGMA application_id=%d",
			 DB_APP_ID);
		s = cbd_kr_db_exec(d, SQL_META, err);
		if (s == CBD_OK)
			s = cbd_kr_db_exec(d, SQL_USERS, err);
		if (s == CBD_OK)
			s = cbd_kr_db_exec(d, "INSERT INTO cbd_keyring VALUES "
					   "('cbd-keyring', 2)", err);
		if (s == CBD_OK)
			s = cbd_kr_db_exec(d, app, err);
	}
	if (s == CBD_OK)
		return cbd_kr_db_exec(d, "COMMIT", err);
	(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return s;
}

/* "file:" URI of path for a reader: percent-encoded, mode=ro or
 * immutable=1.  Owned by the caller. */
static char *reader_uri(const char *path, int immutable)
{
	static const char hx[] = "0123456789ABCDEF";
	const char *opt = immutable ? "?immutable=1" : "?mode=ro";
	size_t n = strlen(path);
	char *u = n < SIZE_MAX / 4 ? malloc(5 + 3 * n + strlen(opt) + 1)
				   : NULL;
	char *o = u;

	if (!u)
		return NULL;
	o += sprintf(o, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("/._-~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hx[*p >> 4];
			*o++ = hx[*p & 15];
		}
	}
	strcpy(o, opt);
	return u;
}

static cbd_status open_sqlite(struct kr_db *d, cbd_err *err)
{
	int fl = SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX;
	char *uri = NULL;
	int rc;

	if (d->readonly) {
		uri = reader_uri(d->path, d->immutable);
		if (!uri)
			return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
		fl |= SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
	} else {
		fl |= SQLITE_OPEN_READWRITE;
	}
	rc = sqlite3_open_v2(uri ? uri : d->path, &d->db, fl, NULL);
	free(uri);
	if (rc != SQLITE_OK)
		return cbd_err_set(err, CBD_E_IO, "cannot open keyring "
				   "database: %s (%s)",
				   d->db ? sqlite3_errmsg(d->db)
					 : sqlite3_errstr(rc), d->path);
	sqlite3_extended_result_codes(d->db, 1);
	sqlite3_busy_timeout(d->db, DB_BUSY_MS);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_db_config(d->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0,
			  NULL);
	sqlite3_limit(d->db, SQLITE_LIMIT_LENGTH, DB_MAX_VALUE);
	sqlite3_limit(d->db, SQLITE_LIMIT_SQL_LENGTH, 4096);
	sqlite3_limit(d->db, SQLITE_LIMIT_ATTACHED, 0);
	sqlite3_limit(d->db, SQLITE_LIMIT_COLUMN, 16);
	if (d->readonly)
		return cbd_kr_db_exec(d, "PRAGMA query_only=1", err);
	return CBD_OK;
}

/* An immutable reader: was the file written while we read it?  (Its
 * inode, through the descriptor kept since the checks: unlinking the
 * file does not change what is read.) */
static cbd_status check_unchanged(const struct kr_db *d, cbd_err *err)
{
	struct stat now;

	if (!d->immutable)
		return CBD_OK;
	if (access(d->wal, F_OK) != 0 && fstat(d->fd, &now) == 0 &&
	    now.st_ino == d->st.st_ino && now.st_dev == d->st.st_dev &&
	    now.st_size == d->st.st_size &&
	    now.st_mtim.tv_sec == d->st.st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == d->st.st_mtim.tv_nsec)
		return CBD_OK;
	return cbd_err_set(err, CBD_E_UNAVAILABLE, "keyring was written while "
			   "being read; run again (%s)", d->path);
}

static cbd_status load_all(cbd_keyring *kr, cbd_err *err);

cbd_status cbd_kr_db_open(cbd_keyring *kr, const char *path, int create,
			  cbd_err *err)
{
	struct stat again;
	struct kr_db *d;
	int64_t n = 0;
	cbd_status s;

	d = cbd_xcalloc(1, sizeof(*d), err);
	if (!d)
		return CBD_E_NOMEM;
	kr->db = d;
	kr->form = CBD_KEYRING_DB;
	d->readonly = !create;
	d->fd = -1;
	s = check_file(path, create, &d->st, d->hdr, &d->fd, err);
	if (s != CBD_OK)
		return s;
	d->path = strdup(path);
	if (!d->path || asprintf(&d->wal, "%s-wal", path) < 0) {
		d->wal = NULL;
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	d->immutable = d->readonly && access(d->wal, F_OK) != 0 &&
		       errno == ENOENT;
	s = open_sqlite(d, err);
	/* the file SQLite opened is the one checked */
	if (s == CBD_OK && (lstat(path, &again) != 0 ||
			    again.st_ino != d->st.st_ino ||
			    again.st_dev != d->st.st_dev))
		s = cbd_err_set(err, CBD_E_NOPERM, "keyring was replaced while "
				"being opened (%s)", path);
	if (s == CBD_OK && create)
		s = init_db(d, err);
	if (s == CBD_OK)
		s = check_db(d, err);
	if (s == CBD_OK)
		s = query_int(d, "SELECT count(*) FROM users", &n, err);
	if (s == CBD_OK && (uint64_t)n > DB_MAX_USERS)
		s = cbd_err_set(err, CBD_E_TOOBIG, "keyring has more than %llu "
				"users (%s)", DB_MAX_USERS, path);
	if (s == CBD_OK)
		s = check_unchanged(d, err);
	if (s != CBD_OK)
		return s;
	d->count = (size_t)n;
	if (!create && d->count <= CBD_KEYRING_MAX_LOADED)
		s = load_all(kr, err);
	return s;
}

/* ---- rows ------------------------------------------------------------- */

/* Check the current row of q (columns COLS); prev is the previous id or
 * NULL.  Fills r (pointers into q's row). */
static cbd_status check_row(sqlite3_stmt *q, const char *path,
			    const char *prev, cbd_keyring_row *r,
			    cbd_err *err)
{
	const char *id = (const char *)sqlite3_column_text(q, 0);
	const char *type = (const char *)sqlite3_column_text(q, 1);
	const uint8_t *spki;
	size_t plen;
	int ok;

	if (sqlite3_column_type(q, 0) != SQLITE_TEXT || !id ||
	    !cbd_id_valid(id))
		return cbd_err_set(err, CBD_E_FORMAT, "invalid user id in the "
				   "keyring database (%s)", path);
	if (prev && strcmp(prev, id) >= 0)
		return cbd_err_set(err, CBD_E_FORMAT, "users not in id order "
				   "at %s (%s)", id, path);
	*r = (cbd_keyring_row){.id = id, .revoked = -1};
	r->type = sqlite3_column_type(q, 1) == SQLITE_TEXT && type
			  ? cbd_key_type_parse(type)
			  : 0;
	if (!r->type)
		return cbd_err_set(err, CBD_E_FORMAT, "user %s: unknown key "
				   "type (%s)", id, path);
	if (sqlite3_column_type(q, 2) != SQLITE_BLOB ||
	    sqlite3_column_type(q, 3) != SQLITE_BLOB)
		return cbd_err_set(err, CBD_E_FORMAT, "user %s: public key or "
				   "trace secret is not a blob (%s)", id, path);
	r->public_key = sqlite3_column_blob(q, 2);
	r->public_key_len = (size_t)sqlite3_column_bytes(q, 2);
	spki = r->type == CBD_KEY_ED25519 ? SPKI_ED25519 : SPKI_P256;
	plen = r->type == CBD_KEY_ED25519 ? sizeof(SPKI_ED25519)
					  : sizeof(SPKI_P256);
	ok = r->public_key_len == plen + (r->type == CBD_KEY_ED25519 ? 32
								     : 64) &&
	     memcmp(r->public_key, spki, plen) == 0;
	if (!ok)
		return cbd_err_set(err, CBD_E_FORMAT, "user %s: public key is "
				   "not an SPKI %s key (%zu bytes) (%s)", id,
				   cbd_key_type_name(r->type),
				   r->public_key_len, path);
	r->trace_secret = sqlite3_column_blob(q, 3);
	if (sqlite3_column_bytes(q, 3) != CBD_TRACE_SECRET_LEN)
		return cbd_err_set(err, CBD_E_FORMAT, "user %s: trace secret "
				   "is not %d bytes (%s)", id,
				   CBD_TRACE_SECRET_LEN, path);
	r->created = sqlite3_column_int64(q, 4);
	if (sqlite3_column_type(q, 4) != SQLITE_INTEGER || r->created < 0 ||
	    r->created > KEYRING_MAX_TIME)
		return cbd_err_set(err, CBD_E_FORMAT, "user %s: invalid created "
				   "time (%s)", id, path);
	if (sqlite3_column_type(q, 5) != SQLITE_NULL) {
		r->revoked = sqlite3_column_int64(q, 5);
		if (sqlite3_column_type(q, 5) != SQLITE_INTEGER ||
		    r->revoked < 0 || r->revoked > KEYRING_MAX_TIME)
			return cbd_err_set(err, CBD_E_FORMAT, "user %s: invalid "
					   "revoked time (%s)", id, path);
	}
	if (sqlite3_column_type(q, 6) != SQLITE_NULL) {
		r->note = (const char *)sqlite3_column_text(q, 6);
		if (sqlite3_column_type(q, 6) != SQLITE_TEXT || !r->note ||
		    strlen(r->note) != (size_t)sqlite3_column_bytes(q, 6) ||
		    !cbd_kr_note_valid(r->note))
			return cbd_err_set(err, CBD_E_FORMAT, "user %s: invalid "
					   "note (%s)", id, path);
	}
	return CBD_OK;
}

/* Parse a checked row into an owned user. */
static cbd_status row_user(const cbd_keyring_row *r, const char *path,
			   struct kr_user *u, cbd_err *err)
{
	cbd_status s = cbd_key_from_spki_der(r->public_key, r->public_key_len,
					     r->id, &u->key, err);

	if (s == CBD_OK && cbd_key_type_of(u->key) != r->type)
		s = cbd_err_set(err, CBD_E_FORMAT, "user %s: key type differs "
				"from its public key", r->id);
	if (s != CBD_OK) {
		cbd_key_free(u->key);
		u->key = NULL;
		if (err && !strstr(err->msg, path))
			cbd_err_prefix(err, "keyring %s", path);
		return s;
	}
	u->id = strdup(r->id);
	u->note = r->note ? strdup(r->note) : NULL;
	if (!u->id || (r->note && !u->note)) {
		free(u->id);
		free(u->note);
		cbd_key_free(u->key);
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	}
	memcpy(u->view.trace_secret, r->trace_secret, CBD_TRACE_SECRET_LEN);
	u->view.created = r->created;
	u->view.revoked = r->revoked;
	return CBD_OK;
}

static void put_be(EVP_MD_CTX *c, uint64_t v, int bytes)
{
	uint8_t b[8];

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	EVP_DigestUpdate(c, b, (size_t)bytes);
}

static void digest_row(EVP_MD_CTX *c, const cbd_keyring_row *r)
{
	size_t il = strlen(r->id), nl = r->note ? strlen(r->note) : 0;

	put_be(c, il, 1);
	EVP_DigestUpdate(c, r->id, il);
	put_be(c, (uint64_t)r->type, 1);
	put_be(c, r->public_key_len, 2);
	EVP_DigestUpdate(c, r->public_key, r->public_key_len);
	EVP_DigestUpdate(c, r->trace_secret, CBD_TRACE_SECRET_LEN);
	put_be(c, (uint64_t)r->created, 8);
	put_be(c, (uint64_t)r->revoked, 8);
	put_be(c, nl, 2);
	EVP_DigestUpdate(c, r->note ? r->note : "", nl);
}

/* Every row in id order inside one read transaction. */
static cbd_status walk(struct kr_db *d, const cbd_keyring_visitor *v,
		       uint8_t digest[CBD_SHA256_LEN], cbd_err *err)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	sqlite3_stmt *q = NULL;
	char prev[CBD_KEY_ID_LEN * 4 + 2] = "";
	uint64_t n = 0;
	int64_t total = 0;
	int rc = SQLITE_DONE;
	cbd_status s;

	if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(c);
		return cbd_err_set(err, CBD_E_CRYPTO, "SHA-256 unavailable");
	}
	EVP_DigestUpdate(c, "cbd-keyring/2\n", 14);
	s = cbd_kr_db_exec(d, "BEGIN", err);
	if (s == CBD_OK)
		s = query_int(d, "SELECT count(*) FROM users", &total, err);
	if (s == CBD_OK && (uint64_t)total > DB_MAX_USERS)
		s = cbd_err_set(err, CBD_E_TOOBIG, "keyring has more than %llu "
				"users (%s)", DB_MAX_USERS, d->path);
	if (s == CBD_OK && v->begin)
		s = v->begin(v->ud, (uint64_t)total, err);
	if (s == CBD_OK &&
	    sqlite3_prepare_v2(d->db, "SELECT " COLS " FROM users ORDER BY "
			       "id", -1, &q, NULL) != SQLITE_OK)
		s = db_fail(d, err, "reading users");
	while (s == CBD_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		cbd_keyring_row r;

		s = check_row(q, d->path, n ? prev : NULL, &r, err);
		if (s != CBD_OK)
			break;
		digest_row(c, &r);
		s = v->user(v->ud, &r, err);
		snprintf(prev, sizeof(prev), "%s", r.id);
		n++;
	}
	if (s == CBD_OK && rc != SQLITE_DONE)
		s = db_fail(d, err, "reading users");
	if (s == CBD_OK && n != (uint64_t)total)
		s = cbd_err_set(err, CBD_E_FORMAT, "keyring database counts %lld "
				"users but holds %llu (%s)", (long long)total,
				(unsigned long long)n, d->path);
	sqlite3_finalize(q);
	(void)sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL);
	if (check_unchanged(d, NULL) != CBD_OK)   /* what was read is torn */
		s = check_unchanged(d, err);
	put_be(c, n, 8);
	if (s == CBD_OK && digest &&
	    !EVP_DigestFinal_ex(c, digest, NULL))
		s = cbd_err_set(err, CBD_E_CRYPTO, "SHA-256 failed");
	EVP_MD_CTX_free(c);
	return s;
}

cbd_status cbd_kr_db_scan(const cbd_keyring *kr,
			  const cbd_keyring_visitor *v,
			  uint8_t digest[CBD_SHA256_LEN], cbd_err *err)
{
	return walk(kr->db, v, digest, err);
}

struct loader {
	cbd_keyring *kr;
};

static cbd_status load_user(void *ud, const cbd_keyring_row *r,
			    cbd_err *err)
{
	struct loader *l = ud;
	struct kr_user u = {0};
	cbd_status s = row_user(r, l->kr->db->path, &u, err);

	if (s == CBD_OK)
		s = cbd_kr_insert(l->kr, l->kr->n, u.id, u.key,
				  u.view.trace_secret, u.view.created,
				  u.view.revoked, u.note, err);
	if (s != CBD_OK && u.id) {
		free(u.id);
		free(u.note);
		cbd_key_free(u.key);
	}
	OPENSSL_cleanse(&u, sizeof(u));
	return s;
}

static cbd_status load_all(cbd_keyring *kr, cbd_err *err)
{
	struct loader l = {kr};
	cbd_keyring_visitor v = {NULL, load_user, &l};
	cbd_status s = walk(kr->db, &v, NULL, err);

	if (s == CBD_OK)
		kr->db->count = kr->n;
	return s;
}

const cbd_user *cbd_kr_db_find(cbd_keyring *kr, const char *id)
{
	struct kr_db *d = kr->db;
	struct kr_cached *c;
	sqlite3_stmt *q = NULL;
	cbd_keyring_row r;
	cbd_status s = CBD_E_FORMAT;

	for (c = d->found; c; c = c->next)
		if (strcmp(c->u.id, id) == 0)
			return &c->u.view;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (sqlite3_prepare_v2(d->db, "SELECT " COLS " FROM users WHERE id "
			       "= ?1", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(q, 1, id, -1, SQLITE_TRANSIENT) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW &&
	    check_row(q, d->path, NULL, &r, NULL) == CBD_OK)
		s = row_user(&r, d->path, &c->u, NULL);
	sqlite3_finalize(q);
	if (s != CBD_OK) {
		free(c);
		return NULL;
	}
	c->u.view.id = c->u.id;
	c->u.view.key = c->u.key;
	c->u.view.note = c->u.note;
	c->next = d->found;
	d->found = c;
	return &c->u.view;
}

/* ---- writing ---------------------------------------------------------- */

/* A keyring opened by a reader is never written. */
static cbd_status writable(const struct kr_db *d, cbd_err *err)
{
	if (!d->readonly)
		return CBD_OK;
	return cbd_err_set(err, CBD_E_USAGE, "keyring was opened read-only; "
			   "open it for adding (cbd_keyring_open_db) to change "
			   "it (%s)", d->path);
}

static cbd_status insert(struct kr_db *d, const char *id, const cbd_key *pub,
			 const uint8_t secret[CBD_TRACE_SECRET_LEN],
			 int64_t created, const char *note, cbd_err *err)
{
	uint8_t *der = NULL;
	size_t dlen = 0;
	int rc;
	cbd_status s = cbd_key_public_der(pub, &der, &dlen, err);

	if (s != CBD_OK)
		return s;
	if (!d->ins &&
	    sqlite3_prepare_v3(d->db, "INSERT INTO users (" COLS ") VALUES "
			       "(?1, ?2, ?3, ?4, ?5, NULL, ?6)", -1,
			       SQLITE_PREPARE_PERSISTENT, &d->ins,
			       NULL) != SQLITE_OK) {
		free(der);
		return db_fail(d, err, "preparing the insert");
	}
	sqlite3_reset(d->ins);
	sqlite3_bind_text(d->ins, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->ins, 2, cbd_key_type_name(cbd_key_type_of(pub)),
			  -1, SQLITE_STATIC);
	sqlite3_bind_blob(d->ins, 3, der, (int)dlen, SQLITE_STATIC);
	sqlite3_bind_blob(d->ins, 4, secret, CBD_TRACE_SECRET_LEN,
			  SQLITE_STATIC);
	sqlite3_bind_int64(d->ins, 5, created);
	if (note)
		sqlite3_bind_text(d->ins, 6, note, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(d->ins, 6);
	rc = sqlite3_step(d->ins);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		s = cbd_err_set(err, CBD_E_USAGE, "user %s is already in the "
				"keyring (%s)", id, d->path);
	else if (rc != SQLITE_DONE)
		s = db_fail(d, err, "adding a user");
	sqlite3_reset(d->ins);
	sqlite3_clear_bindings(d->ins);
	free(der);
	return s;
}

cbd_status cbd_kr_db_add(cbd_keyring *kr, const char *id,
			 const cbd_key *pub,
			 const uint8_t secret[CBD_TRACE_SECRET_LEN],
			 int64_t created, const char *note, cbd_err *err)
{
	struct kr_db *d = kr->db;
	int own = sqlite3_get_autocommit(d->db);
	int64_t n = 0;
	cbd_status s = writable(d, err);

	if (s == CBD_OK && own)
		s = cbd_kr_db_exec(d, "BEGIN IMMEDIATE", err);
	if (s != CBD_OK)
		return s;
	s = insert(d, id, pub, secret, created, note, err);
	if (s == CBD_OK && own)
		s = query_int(d, "SELECT count(*) FROM users", &n, err);
	if (s == CBD_OK && own)
		s = cbd_kr_db_exec(d, "COMMIT", err);
	if (s != CBD_OK && own)
		(void)sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	if (s == CBD_OK)
		d->count = own ? (size_t)n : d->count + 1;
	return s;
}

cbd_status cbd_kr_db_revoke(cbd_keyring *kr, const char *id, int64_t when,
			    cbd_err *err)
{
	struct kr_db *d = kr->db;
	sqlite3_stmt *q = NULL;
	int rc, changed;
	cbd_status s = writable(d, err);

	if (s != CBD_OK)
		return s;
	if (sqlite3_prepare_v2(d->db, "UPDATE users SET revoked = ?1 WHERE "
			       "id = ?2 AND revoked IS NULL", -1, &q,
			       NULL) != SQLITE_OK)
		return db_fail(d, err, "preparing the revocation");
	sqlite3_bind_int64(q, 1, when);
	sqlite3_bind_text(q, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return db_fail(d, err, "revoking a user");
	changed = sqlite3_changes(d->db);
	if (changed == 1)
		return CBD_OK;
	s = cbd_kr_db_find(kr, id) ? cbd_err_set(err, CBD_E_USAGE, "user %s "
						 "is already revoked (%s)",
						 id, d->path)
				   : cbd_err_set(err, CBD_E_USAGE, "user %s is "
						 "not in the keyring (%s)",
						 id, d->path);
	return s;
}

/* Into a private temporary file beside path, then linked into place (never
 * over an existing file). */
cbd_status cbd_keyring_save_db(const cbd_keyring *kr, const char *path,
			       cbd_err *err)
{
	cbd_keyring *out = NULL;
	char *tmp = NULL;
	cbd_status s = CBD_OK;
	int fd;

	if (kr->db)
		return cbd_err_set(err, CBD_E_UNSUPPORTED, "keyring %s is "
				   "already a database", kr->db->path);
	if (access(path, F_OK) == 0)
		return cbd_err_set(err, CBD_E_CANTCREAT, "%s already exists",
				   path);
	if (asprintf(&tmp, "%s.tmp%ld", path, (long)getpid()) < 0)
		return cbd_err_set(err, CBD_E_NOMEM, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		s = cbd_err_set(err, CBD_E_CANTCREAT, "cannot create %s: %s",
				tmp, strerror(errno));
		free(tmp);
		return s;
	}
	close(fd);
	s = cbd_keyring_new(&out, err);
	if (s == CBD_OK)
		s = cbd_kr_db_open(out, tmp, 1, err);
	if (s == CBD_OK)
		s = cbd_kr_db_exec(out->db, "BEGIN IMMEDIATE", err);
	for (size_t i = 0; s == CBD_OK && i < kr->n; i++)
		s = cbd_kr_db_add(out, kr->u[i].id, kr->u[i].key,
				  kr->u[i].view.trace_secret,
				  kr->u[i].view.created, kr->u[i].note, err);
	if (s == CBD_OK)
		s = cbd_kr_db_exec(out->db, "COMMIT", err);
	cbd_keyring_free(out);   /* checkpoints: no -wal file is left */
	if (s == CBD_OK && link(tmp, path) != 0)
		s = cbd_err_set(err, CBD_E_CANTCREAT, "cannot create %s: %s",
				path, strerror(errno));
	unlink(tmp);
	free(tmp);
	return s;
}
