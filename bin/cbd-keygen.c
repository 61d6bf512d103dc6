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
 *
 * Thin front-end: the keys and the keyring live in libcbd (cbd_key_*,
 * cbd_keyring_*).  Private keys are written 0600 and never replace an
 * existing file unless --force; if a later step fails, the files this run
 * wrote are removed again.
 */
#include "tool.h"
#include "tool_argv.h"
#include "tool_key.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct tool_opt opts[] = {
	{"out-dir", 'd', TOOL_ARG, "DIR",
	 "write ID.key and ID.pub in DIR (default: beside the keyring, else .)",
	 false},
	{"type", 't', TOOL_ARG, "TYPE", "ed25519 (default) or p256", false},
	{"passphrase-file", 0, TOOL_ARG, "FILE",
	 "encrypt the private key with the first line of FILE", false},
	{"ask-passphrase", 'p', TOOL_NOARG, NULL,
	 "encrypt the private key with a passphrase asked on the terminal",
	 false},
	{"keyring", 'k', TOOL_ARG, "FILE",
	 "user: add the user to FILE (created if missing)", false},
	{"public", 0, TOOL_ARG, "PUB",
	 "user: add this existing public key instead of making a pair", false},
	{"force", 'f', TOOL_NOARG, NULL, "overwrite existing key files", false},
	{"json", 0, TOOL_NOARG, NULL, "print the result as JSON", false},
	TOOL_OPT_END
};

static struct tool T = {
	.name = "cbd-keygen",
	.synopsis = "owner|investigator [ID] | user ID [options]",
	.summary = "Generate a key pair (PKCS#8/SPKI PEM) and manage the "
		   "users' keyring.",
	.opts = opts,
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

/* Load the keyring, or start a new one if the file does not exist. */
static int open_keyring(const char *path, cbd_keyring **kr)
{
	cbd_err e = {0};

	if (access(path, F_OK) != 0 && errno == ENOENT) {
		if (cbd_keyring_new(kr, &e) != CBD_OK)
			return tool_fail(&T, &e);
		return 0;
	}
	if (cbd_keyring_load(path, kr, &e) != CBD_OK)
		return tool_fail(&T, &e);
	return 0;
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
		if (cbd_keyring_add(kr, j->id, key, &e) != CBD_OK ||
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

static int check_args(struct job *j, const char **pubfile)
{
	const char *type = tool_get(&T, "type", "ed25519");
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
				 "investigator or user)", j->role);
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
	j->keyring = tool_get(&T, "keyring", NULL);
	*pubfile = tool_get(&T, "public", NULL);
	if (j->keyring && strcmp(j->role, "user") != 0)
		tool_usage_error(&T, "--keyring is only for users");
	if (*pubfile && !j->keyring)
		tool_usage_error(&T, "--public needs --keyring");
	if (*pubfile && (tool_has(&T, "type") || tool_has(&T, "out-dir") ||
			 tool_has(&T, "passphrase-file") ||
			 tool_has(&T, "ask-passphrase")))
		tool_usage_error(&T, "--public adds an existing key: no "
				 "--type, --out-dir or passphrase");
	if (tool_has(&T, "passphrase-file") && tool_has(&T, "ask-passphrase"))
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

	argv = tool_permute(&T, &argc, argv);
	tool_parse(&T, argc, argv);
	check_args(&j, &pubfile);
	if (j.keyring)
		dir_of(j.keyring, ringdir, sizeof(ringdir));
	else
		snprintf(ringdir, sizeof(ringdir), ".");
	dir = tool_get(&T, "out-dir", ringdir);
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
	rc = tool_passphrase(&T, tool_get(&T, "passphrase-file", NULL),
			     tool_has(&T, "ask-passphrase"), 1, &pass);
	if (rc)
		return rc;
	j.encrypted = pass != NULL;
	rc = run(&j, pubfile, pass, tool_has(&T, "force"));
	tool_passphrase_free(pass);
	if (rc == 0)
		print_result(&j, tool_has(&T, "json"));
	return rc;
}
