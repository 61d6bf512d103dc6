/*
 * cbd-keygen — make owner, investigator and user key pairs; keep the
 * owner's keyring of users.
 *
 *   cbd-keygen owner                      -> ./owner.key, ./owner.pub
 *   cbd-keygen investigator bob -d keys   -> keys/bob.key, keys/bob.pub
 *   cbd-keygen user alice -k keys/users.keyring
 *       -> keys/alice.key, keys/alice.pub, alice added to the keyring
 *   cbd-keygen user carol -k ring --public carol.pub   (carol keeps her
 *       private key: only her public key is added)
 *   cbd-keygen users --count 1000000 --prefix u -k ring   (one transaction)
 *   cbd-keygen convert old.json new.keyring   (JSON -> SQLite, format 2)
 *   cbd-keygen list|export-public -k ring;  show|revoke ID -k ring
 *
 * A new keyring is an SQLite database (format 2) unless its name ends in
 * ".json" or --format json is given; an existing one keeps its form.
 *
 * Thin front-end: the keys and the keyring live in libcbd (cbd_key_*,
 * cbd_keyring_*).  Private keys are written 0600 and never replace an
 * existing file unless --force; if a later step fails, the files this run
 * wrote are removed again.
 */
#include "tool.h"
#include "tool_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_OUT_DIR,
	OPT_TYPE,
	OPT_PASSPHRASE_FILE,
	OPT_ASK_PASSPHRASE,
	OPT_KEYRING,
	OPT_PUBLIC,
	OPT_FORCE,
	OPT_FORMAT,
	OPT_NOTE,
	OPT_COUNT,
	OPT_PREFIX,
	OPT_JSON,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_OUT_DIR] = {"out-dir", 'd', TOOL_ARG, "DIR",
		"write ID.key and ID.pub in DIR (default: beside the keyring, "
		"else .)", false},
	[OPT_TYPE] = {"type", 't', TOOL_ARG, "TYPE",
		"ed25519 (default) or p256", false},
	[OPT_PASSPHRASE_FILE] = TOOL_OPT_PASSPHRASE_FILE("encrypt the private "
		"key with the first line of FILE"),
	[OPT_ASK_PASSPHRASE] = {"ask-passphrase", 'p', TOOL_NOARG, NULL,
		"encrypt the private key with a passphrase asked on the "
		"terminal", false},
	[OPT_KEYRING] = TOOL_OPT_KEYRING("user: add the user to FILE (created "
		"if missing)"),
	[OPT_PUBLIC] = {"public", 0, TOOL_ARG, "PUB",
		"user: add this existing public key instead of making a "
		"pair", false},
	[OPT_FORCE] = {"force", 'f', TOOL_NOARG, NULL,
		"overwrite existing key files", false},
	[OPT_FORMAT] = {"format", 0, TOOL_ARG, "FORM",
		"a new keyring: sqlite (default) or json", false},
	[OPT_NOTE] = {"note", 'n', TOOL_ARG, "TEXT",
		"user: a note kept with the user (database keyring)", false},
	[OPT_COUNT] = {"count", 0, TOOL_ARG, "N",
		"users: how many users to add", false},
	[OPT_PREFIX] = {"prefix", 0, TOOL_ARG, "P",
		"users: ids P1..PN, zero-padded (default user)", false},
	[OPT_JSON] = TOOL_OPT_JSON("print the result as JSON"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-keygen",
	.synopsis = "owner|investigator [ID] | user ID | users --count N | "
		    "convert OLD NEW | list | show ID | revoke ID | "
		    "export-public  [options]",
	.summary = "Generate a key pair (PKCS#8/SPKI PEM) and manage the "
		   "users' keyring.",
	.opts = opts,
	.n_opts = OPT_N,
};

struct job {
	const char *role, *id, *dir, *keyring;
	char priv[4096], pub[4096];
	int wrote_priv, wrote_pub;
	cbd_key_type type;
	int encrypted;
	char key_id[CBD_KEY_ID_LEN + 1];
	size_t users;
};

/* Directory of path ("." if none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static void print_result(const struct job *j, int json)
{
	if (json) {
		printf("{\"role\": \"%s\", \"id\": \"%s\", \"key_id\": \"%s\", "
		       "\"type\": \"%s\", \"encrypted\": %s, \"private_key\": ",
		       j->role, j->id, j->key_id, cbd_key_type_name(j->type),
		       j->encrypted ? "true" : "false");
		if (j->wrote_priv)
			cbd_json_print_str(stdout, j->priv);
		else
			printf("null");
		printf(", \"public_key\": ");
		cbd_json_print_str(stdout, j->pub);
		printf(", \"keyring\": ");
		if (j->keyring) {
			cbd_json_print_str(stdout, j->keyring);
			printf(", \"users\": %zu}\n", j->users);
		} else {
			printf("null}\n");
		}
		return;
	}
	printf("%s %s: key %s (%s%s)\n", j->role, j->id, j->key_id,
	       cbd_key_type_name(j->type), j->encrypted ? ", encrypted" : "");
	if (j->wrote_priv)
		printf("  private key: %s\n", j->priv);
	printf("  public key:  %s\n", j->pub);
	if (j->keyring)
		printf("  keyring:     %s (%zu user%s)\n", j->keyring, j->users,
		       j->users == 1 ? "" : "s");
}

/* Undo the files this run created. */
static void undo(struct job *j)
{
	if (j->wrote_priv)
		(void)unlink(j->priv);
	if (j->wrote_pub)
		(void)unlink(j->pub);
	j->wrote_priv = j->wrote_pub = 0;
}

/* Make the pair (or load --public) and write the key files. */
static int make_key(struct job *j, const char *pubfile, const char *pass,
		    int force, cbd_key **key)
{
	cbd_err e = {0};
	int rc;

	if (pubfile) {
		rc = tool_load_key(&T, pubfile, NULL, TOOL_KEY_PUBLIC, key);
		if (rc)
			return rc;
		j->type = cbd_key_type_of(*key);
		snprintf(j->pub, sizeof(j->pub), "%s", pubfile);
		cbd_key_id(*key, j->key_id);
		return 0;
	}
	if (!force && access(j->pub, F_OK) == 0) {
		tool_error(&T, "%s already exists; use --force to replace it",
			   j->pub);
		return EX_CANTCREAT;
	}
	if (cbd_key_generate(j->type, key, &e) != CBD_OK)
		return tool_fail(&T, &e);
	cbd_key_id(*key, j->key_id);
	if (cbd_key_save_private(*key, j->priv, pass, force, &e) != CBD_OK) {
		if (e.code == CBD_E_CANTCREAT && access(j->priv, F_OK) == 0)
			tool_error(&T, "%s already exists; use --force to "
				   "replace it", j->priv);
		else
			tool_fail(&T, &e);
		return cbd_status_exit(e.code);
	}
	j->wrote_priv = 1;
	if (cbd_key_save_public(*key, j->pub, &e) != CBD_OK) {
		undo(j);
		return tool_fail(&T, &e);
	}
	j->wrote_pub = 1;
	return 0;
}

/* Is path a new keyring (missing, or empty: being created by another
 * process)?  Which form a new one gets. */
static int is_new(const char *path)
{
	struct stat st;

	return lstat(path, &st) != 0 ? errno == ENOENT
				     : S_ISREG(st.st_mode) && st.st_size == 0;
}

static int want_json(const char *path)
{
	const char *f = tool_get(&T, OPT_FORMAT, NULL);
	size_t n = strlen(path);

	if (f)
		return strcmp(f, "json") == 0;
	return n > 5 && strcmp(path + n - 5, ".json") == 0;
}

/* Does path start with the SQLite header?  (Another process may be
 * creating it: such a file is opened for adding, which writes the schema
 * under the lock if it is still missing.) */
static int is_sqlite(const char *path)
{
	char head[16] = "";
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(head, 1, sizeof(head), f) : 0;

	if (f)
		fclose(f);
	return n == sizeof(head) && memcmp(head, "SQLite format 3", 16) == 0;
}

/* Load the keyring, or start a new one if the file does not exist. */
static int open_keyring(const char *path, cbd_keyring **kr)
{
	cbd_err e = {0};
	cbd_status s;

	if (!is_new(path) && is_sqlite(path))
		s = cbd_keyring_open_db(path, kr, &e);
	else if (is_new(path))
		s = want_json(path) ? cbd_keyring_new(kr, &e)
				    : cbd_keyring_open_db(path, kr, &e);
	else
		s = cbd_keyring_load(path, kr, &e);
	return s == CBD_OK ? 0 : tool_fail(&T, &e);
}

static int run(struct job *j, const char *pubfile, const char *pass,
	       int force)
{
	cbd_keyring *kr = NULL;
	cbd_key *key = NULL;
	cbd_err e = {0};
	int rc = 0;

	if (j->keyring) {
		rc = open_keyring(j->keyring, &kr);
		if (rc)
			return rc;
		if (cbd_keyring_find(kr, j->id)) {
			tool_error(&T, "user %s is already in the keyring (%s)",
				   j->id, j->keyring);
			cbd_keyring_free(kr);
			return EX_DATAERR;
		}
	}
	rc = make_key(j, pubfile, pass, force, &key);
	if (rc == 0 && kr) {
		if (cbd_keyring_add_note(kr, j->id, key,
					 tool_get(&T, OPT_NOTE, NULL),
					 &e) != CBD_OK ||
		    cbd_keyring_save(kr, j->keyring, &e) != CBD_OK) {
			rc = tool_fail(&T, &e);
			undo(j);
		}
		j->users = cbd_keyring_count(kr);
	}
	cbd_key_free(key);
	cbd_keyring_free(kr);
	return rc;
}

/* ---- the registry verbs ---------------------------------------------- */

static void utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || !gmtime_r(&tt, &tm) ||
	    !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "-");
}

static void der_key_id(const cbd_keyring_row *r, char kid[CBD_KEY_ID_LEN + 1])
{
	uint8_t d[CBD_SHA256_LEN];
	static const char hx[] = "0123456789abcdef";

	if (cbd_sha256(r->public_key, r->public_key_len, d, NULL) != CBD_OK)
		memset(d, 0, sizeof(d));
	for (int i = 0; i < CBD_KEY_ID_LEN / 2; i++) {
		kid[2 * i] = hx[d[i] >> 4];
		kid[2 * i + 1] = hx[d[i] & 15];
	}
	kid[CBD_KEY_ID_LEN] = 0;
}

struct lister {
	int json, pem;
	uint64_t n, revoked;
};

static cbd_status list_row(void *ud, const cbd_keyring_row *r, cbd_err *err)
{
	struct lister *l = ud;
	char kid[CBD_KEY_ID_LEN + 1], c[32], rv[32], *pem = NULL;
	cbd_status s = CBD_OK;

	der_key_id(r, kid);
	utc(r->created, c);
	utc(r->revoked, rv);
	l->n++;
	l->revoked += r->revoked >= 0;
	if (l->pem)
		s = cbd_key_der_to_pem(r->public_key, r->public_key_len, &pem,
				       err);
	if (s != CBD_OK)
		return s;
	if (!l->json) {
		printf("%s %s %s %s %s%s\n", r->id, kid,
		       cbd_key_type_name(r->type), c,
		       r->revoked >= 0 ? "revoked " : "active",
		       r->revoked >= 0 ? rv : "");
		return CBD_OK;
	}
	printf("{\"id\": ");
	cbd_json_print_str(stdout, r->id);
	printf(", \"key_id\": \"%s\", \"type\": \"%s\", \"created\": %lld, "
	       "\"revoked\": ", kid, cbd_key_type_name(r->type),
	       (long long)r->created);
	if (r->revoked >= 0)
		printf("%lld", (long long)r->revoked);
	else
		printf("null");
	printf(", \"note\": ");
	if (r->note)
		cbd_json_print_str(stdout, r->note);
	else
		printf("null");
	if (pem) {
		printf(", \"public_key\": ");
		cbd_json_print_str(stdout, pem);
		free(pem);
	}
	printf("}\n");
	return CBD_OK;
}

static int verb_list(const char *path, int pem)
{
	struct lister l = {tool_has(&T, OPT_JSON) || pem, pem, 0, 0};
	cbd_keyring_visitor v = {NULL, list_row, &l};
	cbd_keyring *kr = NULL;
	cbd_err e = {0};
	int rc = 0;

	if (cbd_keyring_load(path, &kr, &e) != CBD_OK ||
	    cbd_keyring_scan(kr, &v, NULL, &e) != CBD_OK)
		rc = tool_fail(&T, &e);
	else if (fflush(stdout) != 0)
		rc = EX_IOERR;
	else
		fprintf(stderr, "%s: %llu users (%llu revoked) in %s\n",
			T.name, (unsigned long long)l.n,
			(unsigned long long)l.revoked, path);
	cbd_keyring_free(kr);
	return rc;
}

static int verb_show_revoke(const char *verb, const char *id,
			    const char *path)
{
	cbd_keyring *kr = NULL;
	const cbd_user *u;
	char kid[CBD_KEY_ID_LEN + 1], c[32], rv[32], *pem = NULL;
	cbd_err e = {0};
	int revoke = strcmp(verb, "revoke") == 0, rc = 0;
	/* only revoke writes; show reads, read-only */
	cbd_status s = revoke && is_sqlite(path)
			       ? cbd_keyring_open_db(path, &kr, &e)
			       : cbd_keyring_load(path, &kr, &e);

	if (s != CBD_OK || (revoke && cbd_keyring_revoke(kr, id, &e) !=
					      CBD_OK)) {
		rc = tool_fail(&T, &e);
		cbd_keyring_free(kr);
		return rc;
	}
	if (revoke) {
		printf("user %s: revoked (%s)\n", id, path);
		cbd_keyring_free(kr);
		return 0;
	}
	u = cbd_keyring_find(kr, id);
	if (!u) {
		tool_error(&T, "user %s is not in the keyring (%s)", id, path);
		cbd_keyring_free(kr);
		return EX_DATAERR;
	}
	cbd_key_id(u->key, kid);
	utc(u->created, c);
	utc(u->revoked, rv);
	if (cbd_key_public_pem(u->key, &pem, &e) != CBD_OK) {
		cbd_keyring_free(kr);
		return tool_fail(&T, &e);
	}
	printf("user %s: key %s (%s)\n  created:     %s\n  revoked:     %s\n"
	       "  note:        %s\n%s", u->id, kid,
	       cbd_key_type_name(cbd_key_type_of(u->key)), c,
	       u->revoked >= 0 ? rv : "no", u->note ? u->note : "-", pem);
	free(pem);
	cbd_keyring_free(kr);
	return 0;
}

static int verb_convert(const char *from, const char *to)
{
	cbd_keyring *kr = NULL;
	cbd_err e = {0};
	int rc = 0;

	if (cbd_keyring_load(from, &kr, &e) != CBD_OK ||
	    cbd_keyring_save_db(kr, to, &e) != CBD_OK)
		rc = tool_fail(&T, &e);
	else
		printf("converted %zu users: %s -> %s (database, format 2)\n",
		       cbd_keyring_count(kr), from, to);
	cbd_keyring_free(kr);
	return rc;
}

/* users --count N: N new users in one transaction; key files only with
 * --out-dir. */
static int verb_users(const char *path, cbd_key_type type)
{
	long n = tool_get_long(&T, OPT_COUNT, 0, 1, 100000000);
	const char *prefix = tool_get(&T, OPT_PREFIX, "user");
	const char *dir = tool_get(&T, OPT_OUT_DIR, NULL);
	int width = snprintf(NULL, 0, "%ld", n);
	cbd_keyring *kr = NULL;
	struct timespec t0, t1;
	cbd_err e = {0};
	char id[128], f[4096];
	cbd_status s;

	if (!tool_has(&T, OPT_COUNT))
		tool_usage_error(&T, "users needs --count N");
	if (strlen(prefix) + (size_t)width > 64)
		tool_usage_error(&T, "--prefix too long for %ld users", n);
	if (dir && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		tool_error(&T, "cannot create directory %s: %s", dir,
			   strerror(errno));
		return EX_CANTCREAT;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (open_keyring(path, &kr))
		return EX_DATAERR;
	if (cbd_keyring_form_of(kr) != CBD_KEYRING_DB) {
		cbd_keyring_free(kr);
		tool_error(&T, "users --count needs a database keyring; "
			   "convert %s with 'cbd-keygen convert'", path);
		return EX_DATAERR;
	}
	s = cbd_keyring_begin(kr, &e);
	for (long i = 1; i <= n && s == CBD_OK; i++) {
		cbd_key *k = NULL;

		snprintf(id, sizeof(id), "%s%0*ld", prefix, width, i);
		s = cbd_key_generate(type, &k, &e);
		if (s == CBD_OK && dir) {
			snprintf(f, sizeof(f), "%s/%s.key", dir, id);
			s = cbd_key_save_private(k, f, NULL, 0, &e);
			snprintf(f, sizeof(f), "%s/%s.pub", dir, id);
			if (s == CBD_OK)
				s = cbd_key_save_public(k, f, &e);
		}
		if (s == CBD_OK)
			s = cbd_keyring_add(kr, id, k, &e);
		cbd_key_free(k);
	}
	if (s == CBD_OK)
		s = cbd_keyring_commit(kr, &e);
	if (s != CBD_OK) {
		cbd_keyring_rollback(kr);
		cbd_keyring_free(kr);
		return tool_fail(&T, &e);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("users %s%0*d..%s%ld: %ld added in %.2f s\n  keyring:     %s "
	       "(%zu users)\n", prefix, width, 1, prefix, n, n,
	       (double)(t1.tv_sec - t0.tv_sec) +
		       (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       path, cbd_keyring_count(kr));
	cbd_keyring_free(kr);
	return 0;
}

/* The verbs other than owner/investigator/user; -1 if role is none. */
static int registry_verb(const char *role)
{
	const char *ring = tool_get(&T, OPT_KEYRING, NULL);
	const char *type = tool_get(&T, OPT_TYPE, "ed25519");
	int one = strcmp(role, "show") == 0 || strcmp(role, "revoke") == 0;

	if (strcmp(role, "convert") == 0) {
		if (T.argc != 3)
			tool_usage_error(&T, "convert wants OLD.json NEW");
		return verb_convert(T.argv[1], T.argv[2]);
	}
	if (!one && strcmp(role, "list") && strcmp(role, "export-public") &&
	    strcmp(role, "users"))
		return -1;
	if (tool_has(&T, OPT_NOTE) || tool_has(&T, OPT_PUBLIC) ||
	    tool_has(&T, OPT_PASSPHRASE_FILE) ||
	    tool_has(&T, OPT_ASK_PASSPHRASE) || tool_has(&T, OPT_FORMAT) ||
	    tool_has(&T, OPT_FORCE))
		tool_usage_error(&T, "%s takes no --note, --public, --format, "
				 "--force or passphrase", role);
	if (strcmp(role, "users") != 0 &&
	    (tool_has(&T, OPT_COUNT) || tool_has(&T, OPT_PREFIX) ||
	     tool_has(&T, OPT_TYPE) || tool_has(&T, OPT_OUT_DIR)))
		tool_usage_error(&T, "--count, --prefix, --type and --out-dir "
				 "are for users and key pairs, not %s", role);
	if (!ring)
		tool_usage_error(&T, "%s needs --keyring FILE", role);
	if (T.argc != (one ? 2 : 1))
		tool_usage_error(&T, one ? "%s wants one user ID"
					 : "%s takes no operand", role);
	if (strcmp(role, "users") == 0) {
		if (!cbd_key_type_parse(type))
			tool_usage_error(&T, "unknown key type '%s' (want "
					 "ed25519 or p256)", type);
		return verb_users(ring, cbd_key_type_parse(type));
	}
	if (one)
		return verb_show_revoke(role, T.argv[1], ring);
	return verb_list(ring, strcmp(role, "export-public") == 0);
}

static int check_args(struct job *j, const char **pubfile)
{
	const char *type = tool_get(&T, OPT_TYPE, "ed25519");
	int64_t when;

	/* the keyring records it (lib/keyring/); refuse a bad one here */
	(void)tool_source_date(&T, &when);
	if (T.argc < 1)
		tool_usage_error(&T, "missing role (owner, investigator or "
				 "user)");
	j->role = T.argv[0];
	if (strcmp(j->role, "owner") && strcmp(j->role, "investigator") &&
	    strcmp(j->role, "user"))
		tool_usage_error(&T, "unknown role '%s' (want owner, "
				 "investigator, user, users, convert, list, "
				 "show, revoke or export-public)", j->role);
	if (T.argc > 2)
		tool_usage_error(&T, "too many arguments");
	j->id = T.argc == 2 ? T.argv[1] : NULL;
	if (!j->id && strcmp(j->role, "user") == 0)
		tool_usage_error(&T, "a user needs an ID");
	if (!j->id)
		j->id = j->role;
	if (!cbd_id_valid(j->id))
		tool_usage_error(&T, "invalid ID '%s': use 1 to 64 of A-Z a-z "
				 "0-9 . _ -, starting with a letter or digit",
				 j->id);
	j->type = cbd_key_type_parse(type);
	if (!j->type)
		tool_usage_error(&T, "unknown key type '%s' (want ed25519 or "
				 "p256)", type);
	j->keyring = tool_get(&T, OPT_KEYRING, NULL);
	*pubfile = tool_get(&T, OPT_PUBLIC, NULL);
	if (j->keyring && strcmp(j->role, "user") != 0)
		tool_usage_error(&T, "--keyring is only for users");
	if (*pubfile && !j->keyring)
		tool_usage_error(&T, "--public needs --keyring");
	if (tool_has(&T, OPT_NOTE) && !j->keyring)
		tool_usage_error(&T, "--note needs --keyring");
	if (tool_has(&T, OPT_COUNT) || tool_has(&T, OPT_PREFIX))
		tool_usage_error(&T, "--count and --prefix are for 'users'");
	if (tool_has(&T, OPT_FORMAT) && strcmp(tool_get(&T, OPT_FORMAT, ""),
					      "json") &&
	    strcmp(tool_get(&T, OPT_FORMAT, ""), "sqlite"))
		tool_usage_error(&T, "--format wants sqlite or json");
	if (*pubfile && (tool_has(&T, OPT_TYPE) || tool_has(&T, OPT_OUT_DIR) ||
			 tool_has(&T, OPT_PASSPHRASE_FILE) ||
			 tool_has(&T, OPT_ASK_PASSPHRASE)))
		tool_usage_error(&T, "--public adds an existing key: no "
				 "--type, --out-dir or passphrase");
	if (tool_has(&T, OPT_PASSPHRASE_FILE) &&
	    tool_has(&T, OPT_ASK_PASSPHRASE))
		tool_usage_error(&T, "--passphrase-file and --ask-passphrase "
				 "exclude each other");
	return 0;
}

int main(int argc, char **argv)
{
	struct job j = {0};
	const char *pubfile = NULL, *dir;
	char ringdir[4096];
	char *pass = NULL;
	int rc;

	tool_parse(&T, argc, argv);
	if (T.argc >= 1 && (rc = registry_verb(T.argv[0])) >= 0)
		return rc;
	check_args(&j, &pubfile);
	if (j.keyring)
		dir_of(j.keyring, ringdir, sizeof(ringdir));
	else
		snprintf(ringdir, sizeof(ringdir), ".");
	dir = tool_get(&T, OPT_OUT_DIR, ringdir);
	if (strcmp(dir, ".") == 0)
		dir = "";
	else if (!pubfile && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		tool_error(&T, "cannot create directory %s: %s", dir,
			   strerror(errno));
		return EX_CANTCREAT;
	}
	if ((size_t)snprintf(j.priv, sizeof(j.priv), "%s%s%s.key", dir,
			     *dir ? "/" : "", j.id) >= sizeof(j.priv) ||
	    (size_t)snprintf(j.pub, sizeof(j.pub), "%s%s%s.pub", dir,
			     *dir ? "/" : "", j.id) >= sizeof(j.pub))
		tool_usage_error(&T, "--out-dir too long");
	rc = tool_passphrase(&T, tool_get(&T, OPT_PASSPHRASE_FILE, NULL),
			     tool_has(&T, OPT_ASK_PASSPHRASE), 1, &pass);
	if (rc)
		return rc;
	j.encrypted = pass != NULL;
	rc = run(&j, pubfile, pass, tool_has(&T, OPT_FORCE));
	tool_passphrase_free(pass);
	if (rc == 0)
		print_result(&j, tool_has(&T, OPT_JSON));
	return rc;
}
