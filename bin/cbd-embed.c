/*
 * cbd-embed — package an ONNX classifier with a signature-verification
 * circuit into signed cbd archive(s).
 *
 *   cbd-embed model.onnx -m watermark -k owner.key -o model.cbd
 *   cbd-embed model.onnx -m trace -k owner.key -r users.keyring -d out/
 *       -> out/model-alice.cbd, out/model-bob.cbd, ... (one circuit id)
 *   cbd-embed model.onnx -m auth -k owner.key -a alice.pub -a bob.pub
 *   cbd-embed model.cbd -f onnx -k owner.key   (compile an archive)
 *
 * The model file is read once, its input and output shapes come from
 * cbd_nn (sample shape = the input's shape without the batch dimension,
 * K = the last output dimension), and cbd_circuit_new() /
 * cbd_archive_write() do the rest.  Outputs are written atomically; in trace
 * mode, if any copy fails, the copies already written by this run are
 * removed, so a run leaves all of its archives or none.
 */
#include "tool.h"
#include "tool_key.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	OPT_MODE,
	OPT_KEY,
	OPT_PASSPHRASE_FILE,
	OPT_OUTPUT,
	OPT_OUT_DIR,
	OPT_KEYRING,
	OPT_USER,
	OPT_AUTHORIZE,
	OPT_NAME,
	OPT_INPUT,
	OPT_CLASSES,
	OPT_SCALE,
	OPT_ZERO,
	OPT_CHANNEL_AXIS,
	OPT_CIRCUIT_ID,
	OPT_CIRCUIT_VERSION,
	OPT_FORMAT,
	OPT_NEST,
	OPT_JSON,
	OPT_N
};

static const struct tool_opt opts[] = {
	[OPT_MODE] = {"mode", 'm', TOOL_ARG, "MODE",
		"watermark, trace or auth", false},
	[OPT_KEY] = TOOL_OPT_KEY("the owner's private key (signs)"),
	[OPT_PASSPHRASE_FILE] = TOOL_OPT_PASSPHRASE_FILE("passphrase of an "
		"encrypted owner key"),
	[OPT_OUTPUT] = TOOL_OPT_OUTPUT("watermark/auth: the archive (default "
		"NAME.cbd, - = stdout)"),
	[OPT_OUT_DIR] = {"out-dir", 'd', TOOL_ARG, "DIR",
		"trace: directory for NAME-USER.cbd (default .)", false},
	[OPT_KEYRING] = TOOL_OPT_KEYRING("trace/auth: users (trace secrets, "
		"public keys)"),
	[OPT_USER] = {"user", 'u', TOOL_ARG, "ID",
		"trace/auth: only this keyring user (repeatable)", true},
	[OPT_AUTHORIZE] = {"authorize", 'a', TOOL_ARG, "PUB",
		"auth: an authorised user's public key (repeatable)", true},
	[OPT_NAME] = {"name", 'n', TOOL_ARG, "NAME",
		"model name (default: file name without .onnx)", false},
	[OPT_INPUT] = {"input", 'i', TOOL_ARG, "NAME",
		"the ONNX input to guard (default: the only input)", false},
	[OPT_CLASSES] = {"classes", 'c', TOOL_ARG, "LIST",
		"comma-separated class names (default 0..K-1)", false},
	[OPT_SCALE] = {"scale", 0, TOOL_ARG, "LIST",
		"quantiser scale per channel (default 255)", false},
	[OPT_ZERO] = {"zero", 0, TOOL_ARG, "LIST",
		"quantiser zero point per channel (default 0)", false},
	[OPT_CHANNEL_AXIS] = {"channel-axis", 0, TOOL_ARG, "N",
		"the sample dimension the channels run along (default 0, "
		"the first; 2 for [H,W,C] samples)", false},
	[OPT_CIRCUIT_ID] = {"circuit-id", 0, TOOL_ARG, "HEX",
		"use this circuit id (32 hex; e.g. a new copy of a trace "
		"family)", false},
	[OPT_CIRCUIT_VERSION] = {"circuit-version", 0, TOOL_ARG, "N",
		"cbd-circuit/N: 2 (default; lane digest, fast in ONNX) or "
		"1", false},
	[OPT_FORMAT] = {"format", 'f', TOOL_ARG, "FORMAT",
		"cbd (a signed archive, default) or onnx (the circuit compiled "
		"into one ONNX model)", false},
	[OPT_NEST] = {"nest", 0, TOOL_NOARG, NULL,
		"with --format onnx: the model is already protected; compile "
		"the new circuit around it (its own keeps answering its "
		"triggers)", false},
	[OPT_JSON] = TOOL_OPT_JSON("print what was written as JSON"),
};
TOOL_OPTS_CHECK(opts, OPT_N);

static struct tool T = {
	.name = "cbd-embed",
	.synopsis = "MODEL.onnx -m watermark|trace|auth -k OWNER.key [options]",
	.summary = "Package an ONNX classifier with a signature circuit into "
		   "signed cbd archive(s).",
	.opts = opts,
	.n_opts = OPT_N,
};

#define MAX_CHANNELS 64
#define MAX_COPIES 4096   /* archives one trace run writes (and undoes) */
#define MAX_KEYS 256      /* keys an auth circuit holds */
#define MAX_OUT 64

struct embed {
	cbd_mode mode;
	const char *model_path, *name, *input_name, *output;
	char *input_copy, *class_text;
	uint8_t *onnx;
	size_t onnx_len;
	cbd_circuit_params cp;
	float scale[MAX_CHANNELS], zero[MAX_CHANNELS];
	uint8_t circuit_id[CBD_CIRCUIT_ID_LEN];
	char **classes;
	cbd_key *owner;
	cbd_keyring *kr;
	const cbd_key **keys;
	int n_keys;
	cbd_key **owned;    /* keys loaded with --authorize */
	int n_owned;
	int64_t created;
	char *written[MAX_COPIES];
	int n_written;
	const char *made_dir; /* --out-dir this run created (removed on failure) */
	int json, json_n;
	int onnx_out;       /* --format onnx */
	const char *ext;    /* ".cbd" or ".onnx" */
};

/* Model name: --name, else the file name without directory and .onnx. */
static const char *model_name(const char *path, char *buf, size_t cap)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 5 && strcmp(base + n - 5, ".onnx") == 0)
		n -= 5;
	snprintf(buf, cap, "%.*s", (int)n, base);
	return buf;
}

/* Comma-separated floats into v (at most max); returns the count. */
static int parse_floats(const char *opt, const char *s, float *v, int max)
{
	int n = 0;

	while (s && *s) {
		char *end;
		float f = strtof(s, &end);

		if (end == s || (*end && *end != ',') || n == max)
			tool_usage_error(&T, "--%s wants comma-separated "
					 "numbers, not '%s'", opt, s);
		v[n++] = f;
		s = *end ? end + 1 : end;
	}
	return n;
}

/* Sample shape and K from the ONNX graph, by the classifier rule that
 * cbd-run and cbd-serve apply too (cbd_nn_check_classifier): an archive
 * this tool signs is one they run. */
static int read_shapes(struct embed *e)
{
	const cbd_nn_io *in, *out;
	cbd_nn_opts no = {.threads = 1};
	cbd_nn *nn = NULL;
	cbd_err err = {0};

	if (cbd_nn_load_mem(e->onnx, e->onnx_len, e->model_path, &no, &nn,
			    &err) != CBD_OK ||
	    cbd_nn_check_classifier(nn, e->input_name, e->model_path, &in,
				    &out, &err) != CBD_OK) {
		cbd_nn_free(nn);
		return tool_fail(&T, &err);
	}
	e->cp.ndim = in->ndim - 1;
	for (int d = 1; d < in->ndim; d++)
		e->cp.dims[d - 1] = in->dims[d];
	e->cp.num_classes = (int)out->dims[1];
	e->input_copy = strdup(in->name);
	e->input_name = e->input_copy;
	cbd_nn_free(nn);
	if (!e->input_copy) {
		tool_error(&T, "out of memory");
		return EX_OSERR;
	}
	return 0;
}

static int read_classes(struct embed *e)
{
	const char *list = tool_get(&T, OPT_CLASSES, NULL);
	char *copy, *save = NULL, *tok;
	int k = e->cp.num_classes, n = 0;

	if (!list)
		return 0;
	e->classes = calloc((size_t)k + 1, sizeof(char *));
	copy = e->class_text = strdup(list);
	if (!e->classes || !copy) {
		tool_error(&T, "out of memory");
		return EX_OSERR;
	}
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == k)
			break;
		e->classes[n++] = tok;
	}
	if (n != k || tok)
		tool_usage_error(&T, "--classes lists %s names but the model "
				 "has K = %d classes", tok ? "more" : "fewer",
				 k);
	return 0;
}

static int add_key(struct embed *e, const cbd_key *k)
{
	if (e->n_keys == MAX_KEYS) {
		tool_error(&T, "more than %d authorised keys", MAX_KEYS);
		return EX_USAGE;
	}
	e->keys[e->n_keys++] = k;
	return 0;
}

/* Users chosen with --user, or all of the keyring: at most max of them
 * (what one run can write or authorise; a large keyring is not held in
 * memory, and its users are chosen with --user). */
static int selected_users(struct embed *e, int max, const cbd_user ***users,
			  int *n)
{
	const char *const *ids;
	int nu = tool_get_all(&T, OPT_USER, &ids);
	size_t total = cbd_keyring_count(e->kr);

	*users = NULL;
	*n = 0;
	if ((nu == 0 && total > (size_t)max) || nu > max) {
		tool_error(&T, "%s %zu users; one %s run takes at most %d: "
			   "choose them with --user (%s)",
			   nu ? "--user names" : "the keyring has",
			   nu ? (size_t)nu : total, cbd_mode_name(e->mode), max,
			   tool_get(&T, OPT_KEYRING, ""));
		return EX_USAGE;
	}
	*users = calloc((nu ? (size_t)nu : total) + 1, sizeof(**users));
	if (!*users)
		return EX_OSERR;
	if (nu == 0) {
		for (size_t i = 0; i < total; i++) {
			(*users)[*n] = cbd_keyring_user(e->kr, i);
			if (!(*users)[(*n)++]) {
				tool_error(&T, "cannot list the keyring's users; "
					   "choose them with --user (%s)",
					   tool_get(&T, OPT_KEYRING, ""));
				return EX_SOFTWARE;
			}
		}
		if (*n == 0) {
			tool_error(&T, "the keyring has no users (%s)",
				   tool_get(&T, OPT_KEYRING, ""));
			return EX_DATAERR;
		}
		return 0;
	}
	for (int i = 0; i < nu; i++) {
		const cbd_user *u = cbd_keyring_find(e->kr, ids[i]);

		if (!u) {
			tool_error(&T, "user %s is not in the keyring (%s)",
				   ids[i], tool_get(&T, OPT_KEYRING, ""));
			return EX_DATAERR;
		}
		for (int j = 0; j < *n; j++)
			if ((*users)[j] == u)
				tool_usage_error(&T, "user %s given twice",
						 ids[i]);
		(*users)[(*n)++] = u;
	}
	return 0;
}

static void report(struct embed *e, const char *path, const cbd_circuit *c,
		   size_t bytes)
{
	uint8_t cid[CBD_CIRCUIT_ID_LEN];
	char hex[2 * CBD_CIRCUIT_ID_LEN + 1], kid[CBD_KEY_ID_LEN + 1];
	const char *user = cbd_circuit_user_id(c);

	cbd_circuit_id(c, cid);
	cbd_hex(cid, sizeof(cid), hex);
	cbd_key_id(e->owner, kid);
	if (e->json) {
		printf("%s\n    {\"path\": ", e->json_n++ ? "," : "");
		cbd_json_print_str(stdout, path);
		printf(", \"model_name\": \"%s\", \"mode\": \"%s\", "
		       "\"circuit_id\": \"%s\", \"user\": %s%s%s, "
		       "\"keys\": %d, \"signer\": \"%s\", \"bytes\": %zu}",
		       e->name, cbd_mode_name(e->mode), hex, user ? "\"" : "",
		       user ? user : "null", user ? "\"" : "", e->n_keys, kid,
		       bytes);
		return;
	}
	fprintf(strcmp(path, "-") ? stdout : stderr,
		"%s: %s %s of %s, circuit %s%s%s, %d key%s, %s key %s\n", path,
		cbd_mode_name(e->mode), e->onnx_out ? "ONNX model" : "archive",
		e->name, hex,
		user ? ", user " : "", user ? user : "", e->n_keys,
		e->n_keys == 1 ? "" : "s", e->onnx_out ? "owner" : "signed by",
		kid);
}

/* --format onnx: the circuit compiled into the model. */
static int write_onnx(struct embed *e, const char *path, const cbd_circuit *c)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	cbd_err err = {0};

	struct stat a, b;

	if (stat(path, &a) == 0 && stat(e->model_path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		tool_error(&T, "refusing to write over the classifier %s",
			   e->model_path);
		return EX_CANTCREAT;
	}
	if (cbd_compile_onnx(c, e->owner, e->onnx, e->onnx_len,
			     tool_has(&T, OPT_NEST) ? CBD_COMPILE_NEST : 0,
			     &buf, &len, &err) ||
	    cbd_file_write_atomic(path, buf, len, 0644, &err)) {
		free(buf);
		tool_error(&T, "cannot compile %s into %s: %s", e->model_path,
			   path, err.msg);
		return cbd_status_exit(err.code);
	}
	free(buf);
	return 0;
}

/* Build one circuit and write one archive. */
static int write_one(struct embed *e, const char *path, const cbd_user *u,
		     uint8_t *family_id)
{
	cbd_archive_params ap = {0};
	cbd_circuit *c = NULL;
	cbd_err err = {0};
	struct stat st;

	e->cp.keys = e->keys;
	e->cp.n_keys = e->n_keys;
	if (u) {
		e->cp.trace_secret = u->trace_secret;
		e->cp.user_id = u->id;
	}
	if (cbd_circuit_new(&e->cp, &c, &err) != CBD_OK) {
		tool_error(&T, "cannot build the circuit for %s: %s",
			   e->model_path, err.msg);
		return cbd_status_exit(err.code);
	}
	if (family_id && !e->cp.circuit_id) {
		cbd_circuit_id(c, family_id);
		e->cp.circuit_id = family_id;
	}
	if (e->onnx_out) {
		int rc = write_onnx(e, path, c);

		if (rc) {
			cbd_circuit_free(c);
			return rc;
		}
		goto written;
	}
	ap = (cbd_archive_params){
		.model_name = e->name, .onnx = e->onnx,
		.onnx_len = e->onnx_len, .circuit = c,
		.input_name = e->input_name,
		.classes = (const char *const *)e->classes, .owner = e->owner,
		.created = e->created};
	if (cbd_archive_write(path, &ap, &err) != CBD_OK) {
		cbd_circuit_free(c);
		return tool_fail(&T, &err);
	}
written:
	if (strcmp(path, "-") != 0)
		e->written[e->n_written++] = strdup(path);
	report(e, path, c, stat(path, &st) == 0 ? (size_t)st.st_size : 0);
	cbd_circuit_free(c);
	return 0;
}

static int run_trace(struct embed *e)
{
	const char *dir = tool_get(&T, OPT_OUT_DIR, ".");
	uint8_t family[CBD_CIRCUIT_ID_LEN];
	const cbd_user **users = NULL;
	int n = 0, rc;

	rc = selected_users(e, MAX_COPIES, &users, &n);
	if (rc == 0 && strcmp(dir, ".")) {
		if (mkdir(dir, 0755) == 0)
			e->made_dir = dir;
		else if (errno != EEXIST) {
			tool_error(&T, "cannot create directory %s: %s", dir,
				   strerror(errno));
			rc = EX_CANTCREAT;
		}
	}
	if (rc == 0 && add_key(e, e->owner))
		rc = EX_USAGE;
	for (int i = 0; rc == 0 && i < n; i++) {
		char path[4096];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s-%s%s", dir,
				     e->name, users[i]->id, e->ext) >=
		    sizeof(path))
			tool_usage_error(&T, "--out-dir too long");
		rc = write_one(e, path, users[i], family);
	}
	free(users);
	return rc;
}

static int run_auth(struct embed *e)
{
	const char *const *pubs;
	int np = tool_get_all(&T, OPT_AUTHORIZE, &pubs), rc = 0;

	e->owned = calloc((size_t)np + 1, sizeof(*e->owned));
	if (!e->owned)
		return EX_OSERR;
	for (int i = 0; rc == 0 && i < np; i++) {
		rc = tool_load_key(&T, pubs[i], NULL, TOOL_KEY_PUBLIC,
				   &e->owned[e->n_owned]);
		if (rc == 0)
			rc = add_key(e, e->owned[e->n_owned++]);
	}
	if (rc == 0 && e->kr) {
		const cbd_user **users = NULL;
		int n = 0;

		rc = selected_users(e, MAX_KEYS - e->n_keys, &users, &n);
		for (int i = 0; rc == 0 && i < n; i++)
			rc = add_key(e, users[i]->key);
		free(users);
	}
	if (rc == 0)
		rc = write_one(e, e->output, NULL, NULL);
	return rc;
}

/* Options that make sense only in some modes. */
static void check_mode_options(struct embed *e)
{
	const char *m = tool_get(&T, OPT_MODE, NULL);

	if (!m)
		tool_usage_error(&T, "--mode is required (watermark, trace "
				 "or auth)");
	e->mode = cbd_mode_parse(m);
	if (!e->mode)
		tool_usage_error(&T, "unknown mode '%s' (want watermark, trace "
				 "or auth)", m);
	if (!tool_has(&T, OPT_KEY))
		tool_usage_error(&T, "--key (the owner's private key) is "
				 "required");
	if (e->mode == CBD_MODE_TRACE && !tool_has(&T, OPT_KEYRING))
		tool_usage_error(&T, "trace mode needs --keyring");
	if (e->mode == CBD_MODE_TRACE && tool_has(&T, OPT_OUTPUT))
		tool_usage_error(&T, "trace mode writes one archive per user "
				 "into --out-dir, not --output");
	if (e->mode != CBD_MODE_TRACE && tool_has(&T, OPT_OUT_DIR))
		tool_usage_error(&T, "--out-dir is for trace mode");
	if (e->mode == CBD_MODE_WATERMARK &&
	    (tool_has(&T, OPT_KEYRING) || tool_has(&T, OPT_USER)))
		tool_usage_error(&T, "watermark mode takes no users");
	if (e->mode != CBD_MODE_AUTH && tool_has(&T, OPT_AUTHORIZE))
		tool_usage_error(&T, "--authorize is for auth mode");
	if (e->mode == CBD_MODE_AUTH && !tool_has(&T, OPT_AUTHORIZE) &&
	    !tool_has(&T, OPT_KEYRING))
		tool_usage_error(&T, "auth mode needs --authorize or "
				 "--keyring");
	if (tool_has(&T, OPT_USER) && !tool_has(&T, OPT_KEYRING))
		tool_usage_error(&T, "--user needs --keyring");
}

static int prepare(struct embed *e, char *namebuf, size_t cap)
{
	cbd_err err = {0};
	int nc, nz, rc;

	e->model_path = T.argv[0];
	e->name = tool_get(&T, OPT_NAME, NULL);
	if (!e->name)
		e->name = model_name(e->model_path, namebuf, cap);
	if (!cbd_id_valid(e->name))
		tool_usage_error(&T, "model name '%s' is not 1 to 64 of A-Z "
				 "a-z 0-9 . _ -; use --name", e->name);
	nc = parse_floats("scale", tool_get(&T, OPT_SCALE, NULL), e->scale,
			  MAX_CHANNELS);
	nz = parse_floats("zero", tool_get(&T, OPT_ZERO, NULL), e->zero,
			  MAX_CHANNELS);
	if (nc && nz && nc != nz)
		tool_usage_error(&T, "--scale and --zero list different "
				 "numbers of channels");
	e->cp.channels = nc > nz ? nc : nz;
	if (e->cp.channels == 1)
		e->cp.channels = 0;
	e->cp.axis = (int)tool_get_long(&T, OPT_CHANNEL_AXIS, 0, 0,
					CBD_MAX_DIMS - 1);
	if (e->cp.axis && e->cp.channels == 0)
		tool_usage_error(&T, "--channel-axis is for per-channel "
				 "quantisers: give one --scale or --zero "
				 "value per channel");
	e->cp.scale = nc ? e->scale : NULL;
	e->cp.zero = nz ? e->zero : NULL;
	e->cp.mode = e->mode;
	e->cp.version = (int)tool_get_long(&T, OPT_CIRCUIT_VERSION, 2, 1, 2);
	if (tool_has(&T, OPT_CIRCUIT_ID)) {
		if (cbd_unhex(tool_get(&T, OPT_CIRCUIT_ID, NULL), e->circuit_id,
			      sizeof(e->circuit_id), &err) != CBD_OK)
			tool_usage_error(&T, "--circuit-id wants %d hex digits",
					 2 * CBD_CIRCUIT_ID_LEN);
		e->cp.circuit_id = e->circuit_id;
	}
	e->created = tool_time(&T);
	e->input_name = tool_get(&T, OPT_INPUT, NULL);
	if (cbd_file_read(e->model_path, CBD_MAX_ARCHIVE, &e->onnx,
			  &e->onnx_len, &err) != CBD_OK)
		return tool_fail(&T, &err);
	rc = read_shapes(e);
	if (rc == 0)
		rc = read_classes(e);
	if (rc == 0 && e->cp.axis >= e->cp.ndim)
		tool_usage_error(&T, "--channel-axis %d: the sample has %d "
				 "dimensions (0..%d)", e->cp.axis, e->cp.ndim,
				 e->cp.ndim - 1);
	if (rc == 0 && e->cp.channels > 1 &&
	    (int64_t)e->cp.channels != e->cp.dims[e->cp.axis])
		tool_usage_error(&T, "%d quantiser channels but the sample's "
				 "dimension %d (--channel-axis) is %lld",
				 e->cp.channels, e->cp.axis,
				 (long long)e->cp.dims[e->cp.axis]);
	if (rc == 0)
		rc = tool_load_key(&T, tool_get(&T, OPT_KEY, NULL),
				   tool_get(&T, OPT_PASSPHRASE_FILE, NULL),
				   TOOL_KEY_PRIVATE, &e->owner);
	if (rc == 0 && tool_has(&T, OPT_KEYRING) &&
	    cbd_keyring_load(tool_get(&T, OPT_KEYRING, NULL), &e->kr, &err) !=
		    CBD_OK)
		rc = tool_fail(&T, &err);
	return rc;
}

/* cbd-embed ARCHIVE.cbd -f onnx -k owner.key: the archive's own circuit
 * compiled into its classifier, so the archive and the compiled model
 * answer alike (one trigger set, one auth garbage key). */
static int compile_archive(const char *path)
{
	cbd_archive *a = NULL;
	cbd_key *owner = NULL;
	cbd_err err = {0};
	const cbd_circuit *c;
	const char *user, *out;
	char defout[4400];
	uint8_t *buf = NULL;
	size_t len = 0, mlen = 0;
	const uint8_t *model;
	int rc;

	if (tool_has(&T, OPT_MODE) || tool_has(&T, OPT_KEYRING) ||
	    tool_has(&T, OPT_AUTHORIZE) || tool_has(&T, OPT_USER) ||
	    tool_has(&T, OPT_CIRCUIT_ID) || tool_has(&T, OPT_SCALE) ||
	    tool_has(&T, OPT_CIRCUIT_VERSION) ||
	    tool_has(&T, OPT_ZERO) || tool_has(&T, OPT_CHANNEL_AXIS) ||
	    tool_has(&T, OPT_CLASSES) ||
	    tool_has(&T, OPT_INPUT) || tool_has(&T, OPT_NAME) ||
	    tool_has(&T, OPT_NEST))
		tool_usage_error(&T, "an archive brings its circuit: give only "
				 "--format onnx, --key and --output/--out-dir");
	if (strcmp(tool_get(&T, OPT_FORMAT, ""), "onnx"))
		tool_usage_error(&T, "an archive is compiled with --format onnx");
	if (!tool_has(&T, OPT_KEY))
		tool_usage_error(&T, "--key (the owner's private key) is required");
	rc = tool_load_key(&T, tool_get(&T, OPT_KEY, NULL),
			   tool_get(&T, OPT_PASSPHRASE_FILE, NULL),
			   TOOL_KEY_PRIVATE, &owner);
	if (rc)
		return rc;
	if (cbd_archive_open(path, &a, &err)) {
		cbd_key_free(owner);
		return tool_fail(&T, &err);
	}
	if (!cbd_archive_signed_by(a, owner)) {
		tool_error(&T, "%s is not signed by this owner key", path);
		rc = EX_DATAERR;
		goto done;
	}
	c = cbd_archive_circuit(a);
	user = cbd_archive_user(a);
	if (user)
		snprintf(defout, sizeof(defout), "%s/%s-%s.onnx",
			 tool_get(&T, OPT_OUT_DIR, "."),
			 cbd_archive_model_name(a), user);
	else
		snprintf(defout, sizeof(defout), "%s-%s.onnx",
			 cbd_archive_model_name(a),
			 cbd_mode_name(cbd_circuit_mode(c)));
	out = tool_get(&T, OPT_OUTPUT, defout);
	model = cbd_archive_model(a, &mlen);
	if (cbd_compile_onnx(c, owner, model, mlen, 0, &buf, &len, &err) ||
	    cbd_file_write_atomic(out, buf, len, 0644, &err)) {
		tool_error(&T, "cannot compile %s into %s: %s", path, out,
			   err.msg);
		rc = cbd_status_exit(err.code);
		goto done;
	}
	if (!tool_has(&T, OPT_JSON))
		printf("%s: %s ONNX model compiled from %s%s%s\n", out,
		       cbd_mode_name(cbd_circuit_mode(c)), path,
		       user ? ", user " : "", user ? user : "");
done:
	free(buf);
	cbd_archive_free(a);
	cbd_key_free(owner);
	return rc;
}

static int is_archive(const char *path)
{
	unsigned char m[2] = {0};
	FILE *f = fopen(path, "rb");
	int yes = f && fread(m, 1, 2, f) == 2 && m[0] == 0x1f && m[1] == 0x8b;

	if (f)
		fclose(f);
	return yes;
}

int main(int argc, char **argv)
{
	struct embed e = {0};
	char namebuf[256], defout[300];
	const cbd_key *keys[MAX_KEYS + 1];
	int rc;

	tool_parse_n(&T, argc, argv, 1, "want exactly one MODEL.onnx");
	if (is_archive(T.argv[0]))
		return compile_archive(T.argv[0]);
	check_mode_options(&e);
	e.keys = keys;
	e.json = tool_has(&T, OPT_JSON);
	{
		const char *f = tool_get(&T, OPT_FORMAT, "cbd");

		if (strcmp(f, "cbd") && strcmp(f, "onnx"))
			tool_usage_error(&T, "--format is cbd or onnx, not "
					 "'%s'", f);
		e.onnx_out = !strcmp(f, "onnx");
		if (tool_has(&T, OPT_NEST) && !e.onnx_out)
			tool_usage_error(&T, "--nest protects an ONNX model "
					 "again: it needs --format onnx");
		e.ext = e.onnx_out ? ".onnx" : ".cbd";
	}
	rc = prepare(&e, namebuf, sizeof(namebuf));
	if (e.onnx_out)    /* never NAME.onnx: that is the classifier */
		snprintf(defout, sizeof(defout), "%s-%s.onnx", e.name,
			 cbd_mode_name(e.mode));
	else
		snprintf(defout, sizeof(defout), "%s.cbd", e.name);
	e.output = tool_get(&T, OPT_OUTPUT, defout);
	if (rc == 0 && e.json)
		printf("{\"archives\": [");
	if (rc == 0 && e.mode == CBD_MODE_WATERMARK)
		rc = add_key(&e, e.owner) ? EX_USAGE
					  : write_one(&e, e.output, NULL, NULL);
	else if (rc == 0 && e.mode == CBD_MODE_TRACE)
		rc = run_trace(&e);
	else if (rc == 0)
		rc = run_auth(&e);
	if (e.json && (rc == 0 || e.json_n))
		printf("\n]}\n");
	if (rc != 0) {   /* all or nothing */
		for (int i = 0; i < e.n_written; i++)
			(void)unlink(e.written[i]);
		if (e.made_dir)
			(void)rmdir(e.made_dir);
	}
	for (int i = 0; i < e.n_written; i++)
		free(e.written[i]);
	for (int i = 0; i < e.n_owned; i++)
		cbd_key_free(e.owned[i]);
	free(e.owned);
	free(e.class_text);
	free(e.classes);
	free(e.input_copy);
	cbd_key_free(e.owner);
	cbd_keyring_free(e.kr);
	free(e.onnx);
	return rc;
}
