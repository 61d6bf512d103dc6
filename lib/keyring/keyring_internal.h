/*
 * keyring_internal.h — what keyring.c (the JSON form, the in-memory user
 * list) and store.c (the SQLite form) share (not public).
 */
#ifndef CBD_KEYRING_INTERNAL_H
#define CBD_KEYRING_INTERNAL_H

#include "../keys/keys_internal.h"

#define KEYRING_MAX_TIME 253402300799LL   /* 9999-12-31T23:59:59Z */
#define KEYRING_MAX_PEM 4096

struct kr_user {
	char *id;
	cbd_key *key;
	char *note;
	cbd_user view;
};

struct kr_db;                 /* store.c */

struct cbd_keyring {
	struct kr_user *u;        /* in id order */
	size_t n, cap;
	cbd_keyring_form form;
	int has_digest;           /* JSON form loaded from a file */
	uint8_t digest[CBD_SHA256_LEN];
	struct kr_db *db;         /* database form */
};

/* Insert at position i, taking ownership of id, key and note. */
cbd_status cbd_kr_insert(cbd_keyring *kr, size_t i, char *id, cbd_key *key,
			 const uint8_t secret[CBD_TRACE_SECRET_LEN],
			 int64_t created, int64_t revoked, char *note,
			 cbd_err *err);
/* SOURCE_DATE_EPOCH when set, else the clock. */
int64_t cbd_kr_now(void);
/* Is note acceptable: at most CBD_KEYRING_MAX_NOTE bytes, no control
 * characters? */
int cbd_kr_note_valid(const char *note);

/* store.c: is this the start of an SQLite database file? */
int cbd_kr_db_sniff(const uint8_t *head, size_t len);
/* Open (create: create or initialise) the database at path into kr. */
cbd_status cbd_kr_db_open(cbd_keyring *kr, const char *path, int create,
			  cbd_err *err);
void cbd_kr_db_close(struct kr_db *db);
size_t cbd_kr_db_count(const struct kr_db *db);
const cbd_user *cbd_kr_db_find(cbd_keyring *kr, const char *id);
cbd_status cbd_kr_db_add(cbd_keyring *kr, const char *id,
			 const cbd_key *pub,
			 const uint8_t secret[CBD_TRACE_SECRET_LEN],
			 int64_t created, const char *note, cbd_err *err);
cbd_status cbd_kr_db_revoke(cbd_keyring *kr, const char *id, int64_t when,
			    cbd_err *err);
cbd_status cbd_kr_db_exec(struct kr_db *db, const char *sql, cbd_err *err);
cbd_status cbd_kr_db_scan(const cbd_keyring *kr,
			  const cbd_keyring_visitor *v,
			  uint8_t digest[CBD_SHA256_LEN], cbd_err *err);
const char *cbd_kr_db_path(const struct kr_db *db);

#endif
