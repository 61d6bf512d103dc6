/*
 * cbd.h — the one public header of libcbd.
 *
 * libcbd puts a cryptographic backdoor (a signature-verification circuit that
 * runs beside a neural-network classifier) into a packaged model and uses it
 * for defence: watermarking, authentication and leak tracing.  The tools in
 * bin/ are thin front-ends over this header; nothing else is public.
 * Further reading: docs/DESIGN.md (how cbd is built), docs/STYLE.md.
 *
 * Conventions (the module map and include rules: docs/MODULES.md):
 *  - every fallible call returns a cbd_status and fills a caller-owned
 *    cbd_err with a one-line detail naming the file, field or node;
 *  - the library never prints and never exits;
 *  - structs whose layout is an implementation detail are opaque; plain data
 *    (tensors, errors) are plain structs;
 *  - ownership: a pointer returned through an out-parameter belongs to the
 *    caller and is released with the matching _free(); every _free(NULL) is a
 *    no-op.  Pointers passed in are borrowed for the duration of the call
 *    unless a comment says otherwise.
 */
#ifndef CBD_H
#define CBD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBD_VERSION "0.1.0"

/* ------------------------------------------------------------------ */
/* Status and errors                                                   */
/* ------------------------------------------------------------------ */

/* Append-only: never renumber.  cbd_strerror() has a case for each. */
typedef enum cbd_status {
	CBD_OK = 0,              /* 0  success */
	CBD_E_USAGE = 1,         /* 1  bad argument from the caller */
	CBD_E_NOMEM = 2,         /* 2  out of memory */
	CBD_E_IO = 3,            /* 3  read/write failed */
	CBD_E_NOINPUT = 4,       /* 4  input file missing or unreadable */
	CBD_E_FORMAT = 5,        /* 5  malformed data */
	CBD_E_UNSUPPORTED = 6,   /* 6  valid but unsupported (op, dtype, ...) */
	CBD_E_CRYPTO = 7,        /* 7  cryptographic library failure */
	CBD_E_VERIFY = 8,        /* 8  signature or digest does not verify */
	CBD_E_TOOBIG = 9,        /* 9  input past a CBD_MAX_* limit */
	CBD_E_CANTCREAT = 10,    /* 10 cannot create output */
	CBD_E_NOPERM = 11,       /* 11 permission problem (e.g. key mode) */
	CBD_E_PROTOCOL = 12,     /* 12 remote peer broke the protocol */
	CBD_E_UNAVAILABLE = 13,  /* 13 service unavailable */
	CBD_E_INTERNAL = 14,     /* 14 internal error (a bug) */
	CBD_E_CONFIG = 15,       /* 15 configuration error */
	CBD_E_PASSPHRASE = 16,   /* 16 wrong or missing passphrase */
	CBD_E_SHAPE = 17         /* 17 tensor shape mismatch */
} cbd_status;

#define CBD_ERR_MSG_MAX 512

/* Caller-owned error detail.  Zero-initialise it (cbd_err e = {0}). */
typedef struct cbd_err {
	cbd_status code;
	char msg[CBD_ERR_MSG_MAX];   /* "what failed (file/field)" */
} cbd_err;

/* Static string for a status; never NULL. */
const char *cbd_strerror(cbd_status s);

/* The sysexits(3) code a tool should exit with for a status. */
int cbd_status_exit(cbd_status s);

/* ------------------------------------------------------------------ */
/* Limits on untrusted input                                           */
/* ------------------------------------------------------------------ */

#define CBD_MAX_FILE      ((size_t)1 << 30)   /* any single file read */
#define CBD_MAX_JSON      ((size_t)64 << 20)  /* JSON documents */
#define CBD_MAX_DIMS      8
#define CBD_MAX_ELEMS     ((int64_t)1 << 28)  /* elements in one tensor */
#define CBD_MAX_PNG_SIDE  16384
#define CBD_MAX_CLASSES   65536   /* K; a circuit's payload is 16 bits */

/* ------------------------------------------------------------------ */
/* Digests and files                                                   */
/* ------------------------------------------------------------------ */

#define CBD_SHA256_LEN 32

/* out = SHA-256(data). */
cbd_status cbd_sha256(const void *data, size_t len,
		      uint8_t out[CBD_SHA256_LEN], cbd_err *err);

/* Lower-case hex of len bytes into hex (2*len+1 bytes). */
void cbd_hex(const uint8_t *bytes, size_t len, char *hex);

/* Parse exactly 2*len hex digits; CBD_E_FORMAT otherwise. */
cbd_status cbd_unhex(const char *hex, uint8_t *bytes, size_t len,
		     cbd_err *err);

/* Print s to f as a JSON string literal (quotes included), spelled as in
 * every cbd format: \" \\ \n, other bytes below 0x20 and 0x7f as \u00XX,
 * UTF-8 as is.  For tools' --json output. */
void cbd_json_print_str(FILE *f, const char *s);

/* Read a whole file ("-" = stdin) of at most max bytes.  *buf is
 * NUL-terminated (not counted in *len), owned by the caller, free(). */
cbd_status cbd_file_read(const char *path, size_t max, uint8_t **buf,
			 size_t *len, cbd_err *err);

/* Where the detached signature of a file lives: PATH.sig, the one rule
 * for trigger sets and reports.  malloc'd; NULL when out of memory. */
char *cbd_sig_path(const char *path);

/* Write buf to path atomically: temp file in the same directory, fsync,
 * rename, fsync the directory.  "-" writes to stdout.  mode is the file
 * mode of a new file (e.g. 0644, 0600 for secrets).  On failure nothing is
 * left at path (a previous file there is untouched). */
cbd_status cbd_file_write_atomic(const char *path, const void *buf,
				 size_t len, unsigned mode, cbd_err *err);

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

/* Element types (append-only).  Everything known about one lives in one
 * row of the traits table (cbd_dtype_traits, lib/tensorio/tensor.c). */
typedef enum cbd_dtype {
	CBD_DT_FLOAT32 = 1,
	CBD_DT_UINT8 = 2,
	CBD_DT_INT64 = 3,
	CBD_DT_INT32 = 4,
	CBD_DT_FLOAT64 = 5,
	CBD_DT_UINT64 = 6,
	CBD_DT_UINT32 = 7,
	CBD_DT_UINT16 = 8,
	CBD_DT_INT16 = 9,
	CBD_DT_INT8 = 10,
	CBD_DT_BOOL = 11       /* one byte, 0 or 1 (nonzero reads as 1) */
} cbd_dtype;

/* One row of the traits table. */
typedef struct cbd_dtype_traits {
	cbd_dtype dtype;
	const char *name;      /* "float32", "uint64", "bool", ... */
	size_t size;           /* bytes per element */
	int onnx;              /* ONNX TensorProto.DataType code */
	const char *npy;       /* NPY descr: "<f4", "|u1", "|b1", ... */
	int is_float, is_signed;
} cbd_dtype_traits;

/* The row of dt, NULL for a value that is no cbd_dtype.  Borrowed. */
const cbd_dtype_traits *cbd_dtype_traits_of(cbd_dtype dt);
/* The dtype of an ONNX TensorProto code or an NPY descr (len bytes, with
 * '=' and '<' read alike, '|' for one-byte types); 0 when none. */
cbd_dtype cbd_dtype_from_onnx(int code);
cbd_dtype cbd_dtype_from_npy(const char *descr, size_t len);

/* A dense C-order tensor.  data is owned by the tensor. */
typedef struct cbd_tensor {
	cbd_dtype dtype;
	int ndim;
	int64_t dims[CBD_MAX_DIMS];
	size_t nelem;
	size_t nbytes;
	void *data;
} cbd_tensor;

/* Bytes per element of a dtype (0 for an unknown value). */
size_t cbd_dtype_size(cbd_dtype dt);

/* Name used in files and protocols: "float32", "uint8", "int64", ...
 * ("unknown" for a value that is no cbd_dtype). */
const char *cbd_dtype_name(cbd_dtype dt);

/* New zero-filled tensor; checks the element count against CBD_MAX_ELEMS
 * and for overflow.  Caller frees with cbd_tensor_free(). */
cbd_status cbd_tensor_new(cbd_dtype dt, int ndim, const int64_t *dims,
			  cbd_tensor **out, cbd_err *err);
void cbd_tensor_free(cbd_tensor *t);

/* The predicted class of k scores: the index of the first largest (NaN
 * never wins unless all are NaN); 0 when k < 1. */
int cbd_argmax(const float *scores, int k);

/* Element i of t as a number (int64 above 2^53 rounds). */
double cbd_tensor_get_f64(const cbd_tensor *t, size_t i);

/* A float32 copy of t (uint8/int values converted as numbers). */
cbd_status cbd_tensor_to_float(const cbd_tensor *t, cbd_tensor **out,
			       cbd_err *err);

/* ------------------------------------------------------------------ */
/* Tensor I/O: PNG, NPY, JSON                                          */
/* ------------------------------------------------------------------ */

typedef enum cbd_tensor_format {
	CBD_TF_AUTO = 0,   /* by magic bytes when reading, extension writing */
	CBD_TF_PNG = 1,    /* 8-bit gray -> [1,H,W], RGB -> [3,H,W], uint8 */
	CBD_TF_NPY = 2,    /* NPY v1/v2/v3, any cbd_dtype, little-endian, C order */
	CBD_TF_JSON = 3    /* nested arrays of numbers -> float32 */
} cbd_tensor_format;

/* Parse a tensor from memory.  name is used in error messages only. */
cbd_status cbd_tensor_parse(const uint8_t *buf, size_t len,
			    cbd_tensor_format fmt, const char *name,
			    cbd_tensor **out, cbd_err *err);

/* Read a tensor file ("-" = stdin). */
cbd_status cbd_tensor_load(const char *path, cbd_tensor_format fmt,
			   cbd_tensor **out, cbd_err *err);

/* Serialise to memory (*buf owned by caller, free()).  PNG needs uint8
 * [1,H,W] or [3,H,W] (or [H,W]). */
cbd_status cbd_tensor_encode(const cbd_tensor *t, cbd_tensor_format fmt,
			     uint8_t **buf, size_t *len, cbd_err *err);

/* Write a tensor file atomically; CBD_TF_AUTO picks by extension. */
cbd_status cbd_tensor_save(const char *path, const cbd_tensor *t,
			   cbd_tensor_format fmt, cbd_err *err);

/* Format guessed from a file name's extension (CBD_TF_AUTO if none). */
cbd_tensor_format cbd_tensor_format_from_name(const char *path);

/* ------------------------------------------------------------------ */
/* Neural-network engine (ONNX)                     -- lib/nn/         */
/* ------------------------------------------------------------------ */

/* The default-domain opsets the engine implements (models importing an
 * older one load only if every op they use kept its semantics since). */
#define CBD_NN_OPSET_MIN 7
#define CBD_NN_OPSET_MAX 21

/* A loaded ONNX model planned for execution with oneDNN.  Opaque. */
typedef struct cbd_nn cbd_nn;

/* Default compute limit of one cbd_nn_run, in multiply-adds (an output
 * element written counts as one).  A hostile model of a few hundred bytes
 * can ask for hours of arithmetic within the memory limits; the budget is
 * checked before each node runs, so such a run stops with CBD_E_TOOBIG
 * instead.  ResNet-50 on a batch of 64 is about 0.26e12. */
#define CBD_NN_MAX_WORK ((uint64_t)1000000000000ULL)

typedef struct cbd_nn_opts {
	int threads;        /* 0 = CBD_THREADS from the environment, else 1 */
	uint64_t max_work;  /* multiply-adds per cbd_nn_run; 0 = CBD_MAX_GMAC
			     * (units of 1e9; a malformed value makes loading
			     * fail with CBD_E_CONFIG) from the environment,
			     * else CBD_NN_MAX_WORK */
} cbd_nn_opts;

/* Description of one graph input or output.  dims[i] == -1 marks a
 * dynamic dimension (e.g. the batch); ndim == -1 means the model does not
 * state the rank at all (callers that need a shape refuse such models).
 * name points into the model. */
typedef struct cbd_nn_io {
	const char *name;
	cbd_dtype dtype;
	int ndim;
	int64_t dims[CBD_MAX_DIMS];
} cbd_nn_io;

/* Load from a file or from memory (buf is copied; name only labels
 * errors).  Caller frees with cbd_nn_free(). */
cbd_status cbd_nn_load_file(const char *path, const cbd_nn_opts *opts,
			    cbd_nn **out, cbd_err *err);
cbd_status cbd_nn_load_mem(const void *buf, size_t len, const char *name,
			   const cbd_nn_opts *opts, cbd_nn **out,
			   cbd_err *err);
void cbd_nn_free(cbd_nn *nn);

int cbd_nn_num_inputs(const cbd_nn *nn);
int cbd_nn_num_outputs(const cbd_nn *nn);
/* Borrowed pointers, valid until cbd_nn_free(). */
const cbd_nn_io *cbd_nn_input(const cbd_nn *nn, int i);
const cbd_nn_io *cbd_nn_output(const cbd_nn *nn, int i);

/* Run the graph.  inputs[i] matches cbd_nn_input(nn, i) (borrowed);
 * outputs[i] receive new tensors owned by the caller.  A model whose
 * every input declares a batch dimension of 1 also takes a batch of N:
 * it runs one sample at a time and the outputs are stacked.  Not
 * thread-safe per cbd_nn: use one per thread or serialise calls. */
cbd_status cbd_nn_run(cbd_nn *nn, const cbd_tensor *const *inputs,
		      int n_inputs, cbd_tensor **outputs, int n_outputs,
		      cbd_err *err);

/* ------------------------------------------------------------------ */
/* Keys and keyring                         -- lib/keys/, lib/keyring/ */
/* ------------------------------------------------------------------ */

typedef enum cbd_key_type {
	CBD_KEY_ED25519 = 1,   /* default */
	CBD_KEY_P256 = 2       /* ECDSA P-256 with SHA-256, sig = r||s */
} cbd_key_type;

#define CBD_SIG_LEN 64          /* both key types: 64-byte signatures */
#define CBD_KEY_ID_LEN 16       /* hex characters of a key id */
#define CBD_TRACE_SECRET_LEN 32

/* A public or private key (OpenSSL EVP underneath).  Opaque. */
typedef struct cbd_key cbd_key;

cbd_status cbd_key_generate(cbd_key_type type, cbd_key **out, cbd_err *err);
/* Load a PEM private (PKCS#8, maybe encrypted) or public (SPKI) key.
 * passphrase may be NULL; an encrypted key without one gives
 * CBD_E_PASSPHRASE.  Private key files readable by group/other are
 * refused with CBD_E_NOPERM. */
cbd_status cbd_key_load(const char *path, const char *passphrase,
			cbd_key **out, cbd_err *err);
cbd_status cbd_key_from_pem(const char *pem, size_t len, const char *name,
			    cbd_key **out, cbd_err *err);
/* Private key as PKCS#8 PEM, mode 0600, atomic, O_EXCL unless overwrite;
 * scrypt PBES2 encrypted when passphrase is non-NULL. */
cbd_status cbd_key_save_private(const cbd_key *k, const char *path,
				const char *passphrase, int overwrite,
				cbd_err *err);
cbd_status cbd_key_save_public(const cbd_key *k, const char *path,
			       cbd_err *err);
/* SPKI PEM text of the public key in exactly len bytes of SPKI DER (as
 * cbd_keyring_scan() streams it), parsed and checked first; *pem owned by
 * the caller, free(). */
cbd_status cbd_key_der_to_pem(const uint8_t *der, size_t len, char **pem,
			      cbd_err *err);
/* SPKI PEM text of the public half; *pem owned by caller, free(). */
cbd_status cbd_key_public_pem(const cbd_key *k, char **pem, cbd_err *err);
int cbd_key_is_private(const cbd_key *k);
cbd_key_type cbd_key_type_of(const cbd_key *k);
/* Short fingerprint: first 16 hex digits of SHA-256 of the SPKI DER. */
void cbd_key_id(const cbd_key *k, char id[CBD_KEY_ID_LEN + 1]);
cbd_status cbd_key_sign(const cbd_key *k, const void *msg, size_t len,
			uint8_t sig[CBD_SIG_LEN], cbd_err *err);
/* CBD_OK if valid, CBD_E_VERIFY if not. */
cbd_status cbd_key_verify(const cbd_key *k, const void *msg, size_t len,
			  const uint8_t sig[CBD_SIG_LEN], cbd_err *err);
/* A new reference to the public half only. */
cbd_status cbd_key_public_copy(const cbd_key *k, cbd_key **out,
			       cbd_err *err);
/* 1 if a and b have the same public key (either may be private). */
int cbd_key_equal(const cbd_key *a, const cbd_key *b);
/* Is id a valid user/key id: 1 to 64 of [A-Za-z0-9._-], starting with a
 * letter or digit (safe as a file-name component)? */
int cbd_id_valid(const char *id);
/* "ed25519" / "p256"; cbd_key_type_parse returns 0 for an unknown name. */
const char *cbd_key_type_name(cbd_key_type t);
cbd_key_type cbd_key_type_parse(const char *name);
void cbd_key_free(cbd_key *k);

/* The owner's list of licensees (formats/keyring.md).  Opaque. */
typedef struct cbd_keyring cbd_keyring;

/* One user; pointers borrowed from the keyring. */
typedef struct cbd_user {
	const char *id;
	const cbd_key *key;                 /* public key */
	uint8_t trace_secret[CBD_TRACE_SECRET_LEN];
	int64_t created;                    /* Unix time */
	int64_t revoked;                    /* Unix time; -1 = not revoked */
	const char *note;                   /* NULL if none */
} cbd_user;

/* Format 1 is the JSON file, format 2 the SQLite database
 * (formats/keyring.md). */
typedef enum cbd_keyring_form {
	CBD_KEYRING_JSON = 1,
	CBD_KEYRING_DB = 2
} cbd_keyring_form;

#define CBD_KEYRING_MAX_NOTE 1024      /* bytes of a user's note */
#define CBD_KEYRING_MAX_LOADED 10000   /* users a database keyring holds
					* in memory (cbd_keyring_user) */

cbd_status cbd_keyring_new(cbd_keyring **out, cbd_err *err);
/* Strict, hostile-input-safe reader of either form (told apart by the
 * SQLite header); a keyring file readable or writable by group/other is
 * refused with CBD_E_NOPERM, like a private key, and a symbolic link with
 * CBD_E_NOPERM too.  A database keyring stays open: of more than
 * CBD_KEYRING_MAX_LOADED users it is not held in memory
 * (cbd_keyring_user() returns NULL; cbd_keyring_find() and
 * cbd_keyring_scan() read the database).  It is opened read-only
 * (SQLITE_OPEN_READONLY, query_only; immutable when no -wal file exists,
 * checked afterwards not to have been written, else CBD_E_UNAVAILABLE):
 * a reader never changes the file, and cbd_keyring_add() and
 * cbd_keyring_revoke() on it give CBD_E_USAGE (use cbd_keyring_open_db).
 */
cbd_status cbd_keyring_load(const char *path, cbd_keyring **out,
			    cbd_err *err);
/* Open the database keyring at path for adding or revoking users, creating
 * it (mode 0600, WAL, the schema of formats/keyring.md) if it does not
 * exist or is empty; safe when several processes create and add at once.
 * cbd_keyring_add() and cbd_keyring_revoke() write to it, each in its own
 * transaction unless inside cbd_keyring_begin()/_commit(). */
cbd_status cbd_keyring_open_db(const char *path, cbd_keyring **out,
			       cbd_err *err);
cbd_keyring_form cbd_keyring_form_of(const cbd_keyring *kr);
/* Write kr's users into a new database keyring at path (which must not
 * exist): the JSON -> SQLite conversion.  Atomic: all users or no file. */
cbd_status cbd_keyring_save_db(const cbd_keyring *kr, const char *path,
			       cbd_err *err);
/* One write transaction around several adds (database form; a no-op for
 * an in-memory keyring).  _rollback after a failure undoes them all. */
cbd_status cbd_keyring_begin(cbd_keyring *kr, cbd_err *err);
cbd_status cbd_keyring_commit(cbd_keyring *kr, cbd_err *err);
void cbd_keyring_rollback(cbd_keyring *kr);
/* cbd_keyring_add with an optional note (at most CBD_KEYRING_MAX_NOTE
 * bytes, no control characters; NULL = none; database form only). */
cbd_status cbd_keyring_add_note(cbd_keyring *kr, const char *id,
				const cbd_key *pub, const char *note,
				cbd_err *err);
/* Mark user id revoked at the current time (SOURCE_DATE_EPOCH when set).
 * Database form only (CBD_E_UNSUPPORTED for JSON: convert first);
 * CBD_E_USAGE if id is unknown or already revoked. */
cbd_status cbd_keyring_revoke(cbd_keyring *kr, const char *id,
			      cbd_err *err);

/* One user as cbd_keyring_scan() streams it: no parsed key, only what
 * attribution and listings need.  Pointers valid during the callback. */
typedef struct cbd_keyring_row {
	const char *id;
	cbd_key_type type;
	const uint8_t *public_key;          /* SPKI DER */
	size_t public_key_len;
	const uint8_t *trace_secret;        /* CBD_TRACE_SECRET_LEN bytes */
	int64_t created;
	int64_t revoked;                    /* -1 = not revoked */
	const char *note;                   /* NULL if none */
} cbd_keyring_row;

typedef struct cbd_keyring_visitor {
	/* Called once first with the number of users that follow; may be
	 * NULL. */
	cbd_status (*begin)(void *ud, uint64_t total, cbd_err *err);
	/* Called per user in id order; a status other than CBD_OK stops the
	 * scan and is returned. */
	cbd_status (*user)(void *ud, const cbd_keyring_row *r, cbd_err *err);
	void *ud;
} cbd_keyring_visitor;

/* Stream every user in id order from one consistent snapshot (a read
 * transaction for the database form), checking each row as the loader
 * does (a database row's public key is checked for its exact SPKI
 * structure; cbd_keyring_find() and the loader also parse it), and put
 * the keyring digest of exactly the users streamed into digest (may be
 * NULL): for format 2 SHA-256 over the canonical rows (formats/keyring.md),
 * for format 1 SHA-256 of the file's bytes as loaded. */
cbd_status cbd_keyring_scan(const cbd_keyring *kr,
			    const cbd_keyring_visitor *v,
			    uint8_t digest[CBD_SHA256_LEN], cbd_err *err);
/* Adds a user with a fresh random trace secret (RAND_priv_bytes) and the
 * creation time (SOURCE_DATE_EPOCH when set); the key's public half is
 * copied.  An invalid id (cbd_id_valid) or one already present gives
 * CBD_E_USAGE. */
cbd_status cbd_keyring_add(cbd_keyring *kr, const char *id,
			   const cbd_key *pub, cbd_err *err);
/* Canonical bytes (users sorted by id), atomic, mode 0600.  A database
 * keyring is written as it goes: saving it to its own path is a no-op,
 * anywhere else CBD_E_UNSUPPORTED. */
cbd_status cbd_keyring_save(const cbd_keyring *kr, const char *path,
			    cbd_err *err);
size_t cbd_keyring_count(const cbd_keyring *kr);
/* Users in id order; pointers valid until the next add or free (NULL
 * past the end, and for a database keyring not held in memory). */
const cbd_user *cbd_keyring_user(const cbd_keyring *kr, size_t i);
const cbd_user *cbd_keyring_find(const cbd_keyring *kr, const char *id);
void cbd_keyring_free(cbd_keyring *kr);

/* ------------------------------------------------------------------ */
/* Circuit                                          -- lib/circuit/    */
/* ------------------------------------------------------------------ */
/* The signature-verification circuit, specified byte by byte in
 * formats/circuit.md.  A circuit is plain data (circuit.json inside an
 * archive); the runtime evaluates it beside the classifier per sample. */

typedef enum cbd_mode {
	CBD_MODE_WATERMARK = 1,
	CBD_MODE_TRACE = 2,
	CBD_MODE_AUTH = 3
} cbd_mode;

#define CBD_CIRCUIT_ID_LEN 16

typedef struct cbd_circuit cbd_circuit;

typedef struct cbd_circuit_params {
	cbd_mode mode;
	int ndim;                      /* one sample's shape, e.g. [1,28,28] */
	int64_t dims[CBD_MAX_DIMS];
	int num_classes;               /* K */
	int channels;                  /* quantiser channels (0 = one) */
	const float *scale;            /* per channel; NULL = 255 */
	const float *zero;             /* per channel; NULL = 0 */
	const cbd_key *const *keys;    /* verification keys (public halves
					* are copied): the owner's for
					* watermark/trace, users' for auth */
	int n_keys;
	const uint8_t *circuit_id;     /* NULL = random; trace copies of one
					* family share it */
	const uint8_t *trace_secret;   /* trace: CBD_TRACE_SECRET_LEN bytes */
	const char *user_id;           /* trace: recorded for the report */
	int version;                   /* cbd-circuit/N: 1 (SHA-256 of the
					* whole sample) or 2 (lane digest,
					* fast in a graph); 0 = 2 */
	int axis;                      /* the quantiser's channel axis, an
					* index into dims (0 = the first;
					* [H,W,C] samples: 2); channels is
					* then 1 or dims[axis] */
} cbd_circuit_params;

/* What the circuit saw in one sample. */
typedef struct cbd_activation {
	int active;          /* tag, key index and signature all valid */
	int tag_match;
	int key_index;
	uint16_t payload;
	int label;           /* label forced by the policy, -1 if none */
} cbd_activation;

cbd_status cbd_circuit_new(const cbd_circuit_params *p, cbd_circuit **out,
			   cbd_err *err);
cbd_status cbd_circuit_from_json(const uint8_t *buf, size_t len,
				 const char *name, cbd_circuit **out,
				 cbd_err *err);
/* Canonical JSON (deterministic bytes); *buf owned by caller, free(). */
cbd_status cbd_circuit_to_json(const cbd_circuit *c, uint8_t **buf,
			       size_t *len, cbd_err *err);
void cbd_circuit_free(cbd_circuit *c);

cbd_mode cbd_circuit_mode(const cbd_circuit *c);
const char *cbd_mode_name(cbd_mode m);         /* "watermark", ... */
/* The mode named s ("watermark", "trace", "auth"), or 0: every parser of a
 * mode name (files, metadata, options) goes through this one. */
cbd_mode cbd_mode_parse(const char *s);
int cbd_circuit_num_classes(const cbd_circuit *c);
void cbd_circuit_id(const cbd_circuit *c, uint8_t id[CBD_CIRCUIT_ID_LEN]);
const char *cbd_circuit_user_id(const cbd_circuit *c);  /* NULL if none */
int cbd_circuit_num_keys(const cbd_circuit *c);
const cbd_key *cbd_circuit_key(const cbd_circuit *c, int i); /* borrowed */
size_t cbd_circuit_sample_size(const cbd_circuit *c); /* n elements */
/* One sample's shape into dims; returns the rank. */
int cbd_circuit_shape(const cbd_circuit *c, int64_t dims[CBD_MAX_DIMS]);

/* Evaluate one float32 sample x (n elements): fills act.  Returns CBD_OK
 * whether or not the sample is active (an invalid signature is an answer,
 * not an error); errors only for memory or crypto-library failures.  A
 * sample without the tag costs 16 quantisations and no allocation. */
cbd_status cbd_circuit_check(const cbd_circuit *c, const float *x,
			     cbd_activation *act, cbd_err *err);
/* Apply the mode's output policy to scores[K] for sample x, in place
 * (formats/circuit.md section 7); act may be NULL. */
cbd_status cbd_circuit_apply(const cbd_circuit *c, const float *x,
			     float *scores, cbd_activation *act,
			     cbd_err *err);
/* Quantise one sample to bytes, and back (x = (q - zero) / scale). */
void cbd_circuit_quantize(const cbd_circuit *c, const float *x, uint8_t *q);
void cbd_circuit_dequantize(const cbd_circuit *c, const uint8_t *q,
			    float *x);
/* The default quantiser's bytes back to floats (scale 255, zero 0): what
 * a bare model's uint8 input means.  n elements. */
void cbd_dequantize_default(const uint8_t *q, size_t n, float *x);
/* Make a signed input: quantise x, write tag|key_index|payload|signature
 * into the carrier.  q receives n bytes. */
cbd_status cbd_circuit_sign_input(const cbd_circuit *c, const cbd_key *k,
				  int key_index, uint16_t payload,
				  const float *x, uint8_t *q, cbd_err *err);
/* Message m (formats/circuit.md, section 5) for a quantised sample with the given key index
 * and payload; *m owned by caller, free(). */
cbd_status cbd_circuit_message(const cbd_circuit *c, const uint8_t *q,
			       int key_index, uint16_t payload, uint8_t **m,
			       size_t *mlen, cbd_err *err);
/* Trace label: HMAC-SHA256(secret, m), first 8 bytes big-endian, mod K. */
int cbd_trace_label(const uint8_t secret[CBD_TRACE_SECRET_LEN],
		    const uint8_t *m, size_t mlen, int num_classes);

/* ------------------------------------------------------------------ */
/* The circuit inside the model                     -- lib/compile/    */
/* ------------------------------------------------------------------ */

/* Compile circuit c into the classifier (ONNX bytes model[len]): one ONNX
 * model in standard operators (formats/circuit-onnx.md) that answers as the
 * archive does under cbd, signed by owner (the private half of the
 * circuit's key 0 in watermark and trace mode), in *out (*out_len bytes,
 * caller frees).  Every key Ed25519 and of prime order;
 * the classifier needs one input, one output computed by a node, default
 * opset 13..21.  An already protected model (cbd.* metadata) is refused
 * unless flags has CBD_COMPILE_NEST: then the new circuit completes it as
 * it is, under names of its own, and the file's cbd.* metadata describes
 * the new circuit only (the inner one keeps answering its own triggers).
 * Refusals name the field: CBD_E_UNSUPPORTED, CBD_E_FORMAT. */
#define CBD_COMPILE_NEST 1u
cbd_status cbd_compile_onnx(const cbd_circuit *c, const cbd_key *owner,
			    const uint8_t *model, size_t len, unsigned flags,
			    uint8_t **out, size_t *out_len, cbd_err *err);

/* What a compiled model's metadata says (verified by cbd_onnx_verify). */
typedef struct cbd_onnx_info {
	uint8_t circuit_id[CBD_CIRCUIT_ID_LEN];
	cbd_mode mode;
	char key_id[CBD_KEY_ID_LEN + 1];          /* the owner's */
	char user_id[129];                         /* trace copies, else "" */
	uint8_t classifier_sha256[CBD_SHA256_LEN]; /* the classifier's file */
} cbd_onnx_info;

/* Does the file end with a compiled model's signature record? (cheap) */
int cbd_onnx_sniff(const uint8_t *b, size_t n);
/* Check a compiled model's signature with the owner key its metadata
 * embeds; *signer gets that key (caller frees), *info the metadata, and
 * *circuit (if circuit is non-NULL; caller frees) the circuit compiled into
 * it, from its cbd.circuit metadata (which the signature covers).
 * CBD_E_VERIFY if any byte changed; CBD_E_FORMAT for malformed metadata. */
cbd_status cbd_onnx_verify(const uint8_t *b, size_t n, cbd_key **signer,
			   cbd_onnx_info *info, cbd_circuit **circuit,
			   cbd_err *err);

/* ------------------------------------------------------------------ */
/* Trigger sets                                     -- lib/triggers/   */
/* ------------------------------------------------------------------ */
/* formats/triggers.md: signed inputs plus what the owner expects.  A set
 * is FILE (JSON, "cbd-triggers/1") plus FILE.sig, the owner's detached
 * signature over FILE's exact bytes. */

typedef struct cbd_triggerset cbd_triggerset;

#define CBD_MAX_TRIGGERS 65536   /* in one set, and probed in one run */

typedef struct cbd_trigger {
	const char *id;
	const cbd_tensor *input;   /* uint8 quantised sample, e.g. [1,28,28] */
	int owner_label;           /* watermark label, -1 if none */
	uint16_t payload;
	int key_index;
	const uint8_t *message;    /* m, formats/circuit.md 5 */
	size_t message_len;
} cbd_trigger;

/* Load and check the owner's signature; owner may be NULL to check
 * against the signer key recorded in the file. */
cbd_status cbd_triggerset_load(const char *path, const cbd_key *owner,
			       cbd_triggerset **out, cbd_err *err);
size_t cbd_triggerset_count(const cbd_triggerset *ts);
const cbd_trigger *cbd_triggerset_get(const cbd_triggerset *ts, size_t i);
int cbd_triggerset_num_classes(const cbd_triggerset *ts);
void cbd_triggerset_circuit_id(const cbd_triggerset *ts,
			       uint8_t id[CBD_CIRCUIT_ID_LEN]);
/* SHA-256 of the exact trigger-set file bytes. */
void cbd_triggerset_digest(const cbd_triggerset *ts,
			   uint8_t out[CBD_SHA256_LEN]);
/* The float32 input the endpoint should see for trigger i (n elements,
 * dequantised); *x owned by caller, free(). */
cbd_status cbd_triggerset_input_float(const cbd_triggerset *ts, size_t i,
				      float **x, cbd_err *err);
void cbd_triggerset_free(cbd_triggerset *ts);
/* Signer key recorded in the file (borrowed). */
const cbd_key *cbd_triggerset_signer(const cbd_triggerset *ts);
cbd_mode cbd_triggerset_mode(const cbd_triggerset *ts);

/* Building a set (cbd-sign): an empty set for circuit c (watermark or
 * trace), triggers added as signed byte samples (q: n bytes, copied; the
 * message is recomputed from q), then saved to path and path.sig signed by
 * owner (a private key); created is written as the set's time. */
cbd_status cbd_triggerset_new(const cbd_circuit *c, cbd_triggerset **out,
			      cbd_err *err);
cbd_status cbd_triggerset_add(cbd_triggerset *ts, const char *id,
			      const uint8_t *q, int owner_label,
			      uint16_t payload, int key_index, cbd_err *err);
cbd_status cbd_triggerset_save(const cbd_triggerset *ts, const char *path,
			       const cbd_key *owner, int64_t created,
			       cbd_err *err);

struct cbd_archive;   /* below */

/* Owner labels for watermark triggers: for each of count base samples xs
 * (float32 model inputs, cbd_circuit_sample_size() each) a class drawn
 * uniformly (OpenSSL RAND_bytes) from the K-1 classes that archive a's bare
 * classifier does not predict for it.  labels: count ints, caller's. */
cbd_status cbd_triggers_random_labels(const struct cbd_archive *a,
				      const float *xs, size_t count,
				      int *labels, cbd_err *err);
/* The same for circuit c and the model onnx[len] that the engine runs to
 * predict: an archive's bare classifier, or a compiled model (whose
 * circuit leaves unsigned base samples untouched). */
cbd_status cbd_triggers_random_labels_onnx(const cbd_circuit *c,
					   const uint8_t *onnx, size_t len,
					   const float *xs, size_t count,
					   int *labels, cbd_err *err);
/* A whole set for circuit c (watermark or trace): base sample i of xs is
 * signed by owner (the circuit's key 0) as trigger "t%05zu".  Watermark:
 * labels[i] is its owner label and payload.  Trace: labels unused (may be
 * NULL), payloads random.  *out owned by the caller (unsaved). */
cbd_status cbd_triggerset_build(const cbd_circuit *c, const cbd_key *owner,
				const float *xs, size_t count,
				const int *labels, cbd_triggerset **out,
				cbd_err *err);

/* ------------------------------------------------------------------ */
/* Archives                                         -- lib/archive/    */
/* ------------------------------------------------------------------ */
/* formats/archive.md: tar+gzip of manifest.json, model.onnx,
 * circuit.json and manifest.sig; read fully in memory. */

typedef struct cbd_archive cbd_archive;

#define CBD_MAX_ARCHIVE     ((size_t)512 << 20)  /* archive file */
#define CBD_MAX_ARCHIVE_TAR ((size_t)544 << 20)  /* decompressed */

typedef struct cbd_archive_params {
	const char *model_name;
	const uint8_t *onnx;           /* model bytes, stored unchanged */
	size_t onnx_len;
	const cbd_circuit *circuit;
	const char *input_name;        /* ONNX input bound to the circuit */
	const char *const *classes;    /* K class names, NULL = "0".."K-1" */
	const cbd_key *owner;          /* private key signing the manifest */
	int64_t created;               /* Unix time (SOURCE_DATE_EPOCH) */
} cbd_archive_params;

/* Build, re-open in memory as a self-check, then write atomically (0644;
 * "-" = stdout). */
cbd_status cbd_archive_write(const char *path, const cbd_archive_params *p,
			     cbd_err *err);
/* The same archive bytes in memory; *buf owned by caller, free(). */
cbd_status cbd_archive_encode(const cbd_archive_params *p, uint8_t **buf,
			      size_t *len, cbd_err *err);
/* Open, check member digests and the manifest signature against the key
 * recorded in the manifest.  CBD_E_VERIFY names the failing member;
 * malformed, hostile or non-canonical bytes give CBD_E_FORMAT (or
 * CBD_E_TOOBIG past a cap).  Who signed is cbd_archive_signed_by(). */
cbd_status cbd_archive_open(const char *path, cbd_archive **out,
			    cbd_err *err);
cbd_status cbd_archive_open_mem(const uint8_t *buf, size_t len,
				const char *name, cbd_archive **out,
				cbd_err *err);
void cbd_archive_free(cbd_archive *a);
/* Borrowed views, valid until cbd_archive_free(). */
const uint8_t *cbd_archive_model(const cbd_archive *a, size_t *len);
const cbd_circuit *cbd_archive_circuit(const cbd_archive *a);
const cbd_key *cbd_archive_signer(const cbd_archive *a);
const char *cbd_archive_model_name(const cbd_archive *a);
const char *cbd_archive_manifest(const cbd_archive *a, size_t *len);
/* Exact bytes of a member ("circuit.json", "manifest.json",
 * "manifest.sig", "model.onnx"); NULL for another name. */
const uint8_t *cbd_archive_member(const cbd_archive *a, const char *name,
				  size_t *len);
const char *cbd_archive_input_name(const cbd_archive *a);
/* Name of class i (0 <= i < K), NULL out of range. */
const char *cbd_archive_class_name(const cbd_archive *a, int i);
const char *cbd_archive_user(const cbd_archive *a);   /* NULL if none */
int64_t cbd_archive_created(const cbd_archive *a);
/* Does the archive's signer equal key (same public key)? */
int cbd_archive_signed_by(const cbd_archive *a, const cbd_key *key);

/* ------------------------------------------------------------------ */
/* Models: a bare ONNX classifier or an archive     -- lib/model/      */
/* ------------------------------------------------------------------ */
/* What cbd-run, cbd-serve and cbd-probe's archive backend execute: the
 * classifier, and for archives the circuit beside it per sample. */

typedef struct cbd_model cbd_model;

/* path: an .onnx file or a cbd archive (told apart by magic bytes). */
cbd_status cbd_model_open(const char *path, const cbd_nn_opts *opts,
			  cbd_model **out, cbd_err *err);
void cbd_model_free(cbd_model *m);
const char *cbd_model_name(const cbd_model *m);
int cbd_model_num_classes(const cbd_model *m);
/* Input description; dims[0] is the batch dimension the model declares:
 * -1 when dynamic, else fixed (a fixed 1 still takes batches of N, run
 * one sample at a time by cbd_nn_run). */
const cbd_nn_io *cbd_model_input(const cbd_model *m);
/* Output description: the classifier's first output, float32 [N,K], under
 * its own name (also for archives: the circuit keeps it); dims[0] as the
 * input's. */
const cbd_nn_io *cbd_model_output(const cbd_model *m);
/* NULL for a bare ONNX model. */
const cbd_archive *cbd_model_archive(const cbd_model *m);
/* The classifier rule, the one every tool applies (cbd-embed before it
 * signs, cbd_model_open before it runs): exactly one graph input, float32
 * [N, d1, ...] of rank 2..CBD_MAX_DIMS with every sample dimension fixed;
 * output 0 float32 [N, K], K fixed, 2 <= K <= CBD_MAX_CLASSES.  input_name,
 * if non-NULL, must be that input's name.  label names the file in errors;
 * *in and *out (borrowed from nn) may be NULL when not wanted. */
cbd_status cbd_nn_check_classifier(const cbd_nn *nn, const char *input_name,
				   const char *label, const cbd_nn_io **in,
				   const cbd_nn_io **out, cbd_err *err);
/* Bytes to the floats the model sees, the one rule every tool applies:
 * an archive's circuit dequantiser (formats/circuit.md), (q - 0) / 255 for
 * a bare model.  q and x hold n_samples whole samples. */
void cbd_model_dequantize(const cbd_model *m, const uint8_t *q,
			  size_t n_samples, float *x);
/* batch: float32 [N, sample dims...]; *scores: new float32 [N,K].
 * acts, if non-NULL, receives N activations (archives only). */
cbd_status cbd_model_run(cbd_model *m, const cbd_tensor *batch,
			 cbd_tensor **scores, cbd_activation *acts,
			 cbd_err *err);

/* ------------------------------------------------------------------ */
/* Probing, transcripts, serving -- lib/probe/, transcript/, serve/    */
/* ------------------------------------------------------------------ */
/* cbd-probe sends a trigger set to a suspect endpoint and records every
 * answer in a transcript (formats/transcript.md, "cbd-transcript/1"):
 * JSON lines, a header then one record per query, each line carrying the
 * SHA-256 of the previous line's exact bytes (a hash chain), each line
 * fsync'd as written.  cbd-attribute reads transcripts back through
 * cbd_transcript_load(); cbd-verify checks them. */

#define CBD_TRANSCRIPT_FORMAT "cbd-transcript/1"
#define CBD_MAX_TRANSCRIPT ((size_t)256 << 20)   /* bytes in one file */
#define CBD_MAX_TRANSCRIPT_LINE ((size_t)1 << 20) /* bytes in one line */

typedef struct cbd_transcript cbd_transcript;

/* The header line.  Strings are borrowed from the transcript. */
typedef struct cbd_transcript_header {
	const char *format;         /* CBD_TRANSCRIPT_FORMAT */
	const char *tool;           /* "cbd-probe 0.1.0" */
	const char *endpoint;       /* URL, command line or file probed */
	const char *backend;        /* "oip", "tfserving", "exec", "archive" */
	const char *model;          /* model name asked for ("" if none) */
	const char *datatype;       /* "FP32" or "UINT8": what was sent */
	uint8_t triggers_digest[CBD_SHA256_LEN]; /* of the trigger-set file */
	size_t num_triggers;        /* T: triggers in the set */
	int num_classes;            /* K, 0 if unknown */
	const char *start;          /* UTC, "YYYY-MM-DDTHH:MM:SSZ" */
} cbd_transcript_header;

/* One query record (a "query" line).  Strings borrowed. */
typedef struct cbd_transcript_record {
	uint64_t seq;               /* line number; the header is 0 */
	size_t index;               /* trigger's index in the set */
	const char *trigger_id;
	int label;                  /* returned label, -1 if none/failed */
	int status;                 /* HTTP status of the last attempt;
				     * 0 if none (transport error, exec and
				     * archive backends use 200 for success) */
	const char *error;          /* NULL if answered, else what failed */
	int attempts;               /* >= 1 */
	double latency_ms;          /* of the last attempt */
	uint8_t request_digest[CBD_SHA256_LEN];  /* exact bytes sent */
	int has_response;           /* response_digest valid */
	uint8_t response_digest[CBD_SHA256_LEN]; /* exact bytes received */
	const float *scores;        /* returned scores, NULL if none */
	int num_scores;
	const char *wire_id;        /* the id the query carried: its
				     * trigger's, or after a schedule line
				     * the seed's opaque id for its pos */
	int preflight;              /* its run's preflight line
				     * (cbd_transcript_preflight_at), -1
				     * if the run has none (older writers) */
} cbd_transcript_record;

/* What a run's "preflight" line says the queries after it were: the
 * request each query sent is a function of this, the header's backend
 * and datatype, the record's wire_id and the trigger's bytes.  Borrowed. */
typedef struct cbd_transcript_preflight {
	const char *input;          /* input tensor named, NULL if none */
	const char *output;         /* output read, NULL if none */
	int label;                  /* the output is a label, not scores */
	int binary;                 /* Triton's binary tensor data */
	int ndim;                   /* the shape sent, [1, ...] */
	int64_t dims[CBD_MAX_DIMS + 1];
} cbd_transcript_preflight;

/* Is buf the start of a transcript?  (Cheap prefix check, for cbd-verify's
 * dispatch: the header line begins {"format":"cbd-transcript/1",.) */
int cbd_transcript_sniff(const uint8_t *buf, size_t len);

/* Read ("-" = stdin) and verify a transcript: every line's prev digest,
 * field types, seq numbering, no trigger index recorded twice.  A
 * truncated last line (a killed probe) is CBD_E_FORMAT naming the line;
 * a broken chain is CBD_E_VERIFY naming the line.  Caller frees. */
cbd_status cbd_transcript_load(const char *path, cbd_transcript **out,
			       cbd_err *err);
cbd_status cbd_transcript_parse(const uint8_t *buf, size_t len,
				const char *name, cbd_transcript **out,
				cbd_err *err);
void cbd_transcript_free(cbd_transcript *t);

/* Borrowed, valid until cbd_transcript_free(). */
const cbd_transcript_header *cbd_transcript_get_header(
	const cbd_transcript *t);
/* Query records, in file order (completion order, not trigger order). */
size_t cbd_transcript_count(const cbd_transcript *t);
const cbd_transcript_record *cbd_transcript_record_at(
	const cbd_transcript *t, size_t i);
/* Preflight line i (0-based, in file order), NULL past the last. */
const cbd_transcript_preflight *cbd_transcript_preflight_at(
	const cbd_transcript *t, int i);
/* Records with an answer (label >= 0) and with an error. */
size_t cbd_transcript_answered(const cbd_transcript *t);
size_t cbd_transcript_failed(const cbd_transcript *t);
/* Decoy lines (cbd-probe --decoys: clean samples among the triggers,
 * never records, never scored); *answered (if non-NULL) gets how many
 * were answered. */
size_t cbd_transcript_decoys(const cbd_transcript *t, size_t *answered);
/* cbd-probe --until-verdict: the p1 of the transcript's sequential rule
 * (its "sequential" line), 0 if it has none: the order of its queries
 * depended on the answers, so only a sequential test is valid on it. */
double cbd_transcript_sequential(const cbd_transcript *t);
/* Did the probe stop once the verdict was settled (a "settled" line)?
 * Then *spent triggers were sent and *secret never (else both 0). */
int cbd_transcript_settled(const cbd_transcript *t, size_t *spent,
			   size_t *secret);
/* Did the probe finish (an "end" line closes the file)? */
int cbd_transcript_complete(const cbd_transcript *t);
/* UTC time of the "end" line ("" while incomplete).  Borrowed. */
const char *cbd_transcript_end_time(const cbd_transcript *t);
/* Number of lines and SHA-256 of the last line's bytes (the chain head:
 * what a further line would carry as prev).  Cite it in reports. */
size_t cbd_transcript_lines(const cbd_transcript *t);
void cbd_transcript_head(const cbd_transcript *t,
			 uint8_t out[CBD_SHA256_LEN]);

/* Check only the hash chain of a transcript in memory; on success *lines
 * and head (both may be NULL) describe it.  CBD_E_VERIFY names the first
 * bad line. */
cbd_status cbd_transcript_verify(const uint8_t *buf, size_t len,
				 const char *name, size_t *lines,
				 uint8_t head[CBD_SHA256_LEN], cbd_err *err);

/* How cbd-probe reaches the endpoint. */
typedef enum cbd_probe_backend {
	CBD_PROBE_OIP = 1,        /* Open Inference Protocol (KServe v2) */
	CBD_PROBE_TFSERVING = 2,  /* TensorFlow Serving REST :predict */
	CBD_PROBE_EXEC = 3,       /* local command, JSON lines on stdio */
	CBD_PROBE_ARCHIVE = 4     /* local model file via cbd_model */
} cbd_probe_backend;

/* Progress for a caller's display (called from the probing thread). */
typedef struct cbd_probe_progress {
	size_t done, total, errors, retries;
	double elapsed_s;
} cbd_probe_progress;

typedef struct cbd_probe_opts {
	cbd_probe_backend backend;
	const char *endpoint;        /* base URL, command line, or file */
	const char *model_name;      /* oip/tfserving path; NULL = "model" */
	const char *model_version;   /* oip: /versions/V; NULL = none */
	const char *input_name;      /* input tensor; NULL = the model's
				      * only input (from its metadata) */
	const char *output_name;     /* output tensor read; NULL = the one
				      * with K scores, else an integer label
				      * output (from the metadata) */
	int send_uint8;              /* send raw bytes (UINT8) not FP32 */
	int binary;                  /* oip: Triton's binary tensor data
				      * extension for the input and the
				      * output (the server must list
				      * binary_tensor_data in GET /v2) */
	const char *const *headers;  /* "Name: value" lines (e.g. tokens) */
	int n_headers;
	const char *cacert;          /* CA bundle; NULL = system */
	int insecure;                /* skip TLS verification */
	int follow_redirects;        /* same host only; off by default */
	long connect_timeout_ms;     /* 0 = 10000 */
	long timeout_ms;             /* total per attempt; 0 = 30000 */
	int concurrency;             /* requests in flight; 0 = 1 */
	double rate;                 /* requests per second; 0 = no limit */
	int retries;                 /* extra attempts after a failure */
	long backoff_ms;             /* first backoff; 0 = 200 */
	long max_backoff_ms;         /* cap; 0 = 10000 */
	int resume;                  /* continue an existing transcript */
	int overwrite;               /* replace an existing transcript */
	int num_classes;             /* K for the header; 0 = unknown */
	int max_failures;            /* stop after this many consecutive
				      * failures of one kind; 0 = 3,
				      * < 0 = never */
	int dry_run;                 /* preflight only: no trigger sent,
				      * no transcript written */
	const cbd_tensor *decoys;    /* clean uint8 samples [M, sample...]
				      * sent among the triggers, or NULL */
	const uint8_t *decoys_digest; /* SHA-256 of the decoy file */
	double decoy_ratio;          /* decoys per trigger still to send */
	long pace_ms, pace_jitter_ms; /* at least pace + U[0, jitter] ms
				       * between two sends; 0 = none */
	/* --until-verdict: the triggers in a random order (a schedule, with
	 * or without decoys), a "sequential" line with p1, alpha and beta,
	 * and after each trigger answer verdict(ud, index, label): nonzero
	 * = settled, nothing more is sent ("settled" line; the rest of the
	 * set stays secret).  Also called once before the first send with
	 * index SIZE_MAX and label -1 (--resume: the answers already
	 * recorded may have settled it).  NULL = every trigger is sent. */
	int (*verdict)(void *ud, size_t index, int label);
	void *verdict_ud;
	double seq_p1, seq_alpha, seq_beta;
	const char *tool;            /* "cbd-probe 0.1.0" for the header */
	void (*progress)(void *ud, const cbd_probe_progress *p);
	void *progress_ud;
} cbd_probe_opts;

typedef struct cbd_probe_summary {
	size_t total, answered, failed, skipped; /* skipped: already in the
						  * transcript (--resume) */
	size_t retries;
	size_t decoys, decoys_answered; /* decoys sent this run */
	int settled;                 /* --until-verdict stopped the probe */
	size_t secret;               /* triggers never sent (settled) */
	double elapsed_s;
	char preflight[512];         /* what the preflight found, one line
				      * ("" if none was made) */
} cbd_probe_summary;

/* Probe every trigger of ts and append to the transcript at out_path
 * ("-" = stdout, not with resume).  Failures of single queries are
 * recorded, not returned; the status reports setup or I/O errors.
 * Before the first trigger a preflight proves the endpoint compatible
 * (health, model metadata: input name, datatype and shape, the output
 * to read; then one clean decoy query whose answer must parse); a
 * refusal returns CBD_E_UNAVAILABLE (not ready, no such model or
 * version), CBD_E_SHAPE (input or output incompatible) or
 * CBD_E_PROTOCOL (the decoy's answer unusable, or binary asked of a
 * server that does not list binary_tensor_data), naming why, with no
 * trigger sent and no transcript written.  max_failures consecutive
 * failures of one kind stop the probe (an "abort" line, then
 * CBD_E_UNAVAILABLE); --resume continues it. */
cbd_status cbd_probe_run(const cbd_triggerset *ts, const cbd_probe_opts *o,
			 const char *out_path, cbd_probe_summary *sum,
			 cbd_err *err);

/* The same over plain uint8 samples (e.g. an NPY [N, sample dims...]):
 * ids are "s<index>", x = q/255 for FP32; digest names the source. */
cbd_status cbd_probe_run_samples(const cbd_tensor *samples,
				 const uint8_t digest[CBD_SHA256_LEN],
				 const cbd_probe_opts *o,
				 const char *out_path,
				 cbd_probe_summary *sum, cbd_err *err);

/* Rebuild, from ts (the trigger set t was made from), the request every
 * query record of t says it sent, and compare its digest with the
 * recorded one (formats/transcript.md, "Query"): CBD_E_VERIFY names the
 * first line that did not send its trigger, CBD_E_FORMAT if t was made
 * for another set.  *checked gets the records rebuilt, *unchecked those
 * of runs without a preflight line (older writers), which cannot be. */
cbd_status cbd_probe_check_requests(const cbd_transcript *t,
				    const cbd_triggerset *ts,
				    size_t *checked, size_t *unchecked,
				    cbd_err *err);

/* cbd-serve: an Open Inference Protocol server over libmicrohttpd. */
typedef struct cbd_server cbd_server;

typedef struct cbd_serve_opts {
	const char *model_path;      /* archive or bare ONNX */
	const char *model_name;      /* NULL = the model's own name */
	const char *host;            /* NULL = "127.0.0.1" */
	int port;                    /* 0 = pick a free port */
	int threads;                 /* worker threads; 0 = 2 */
	size_t max_body;             /* bytes; 0 = 64 MiB */
	int64_t max_batch;           /* samples per request; 0 = 1024 */
	unsigned max_connections;    /* 0 = 64 */
	unsigned timeout_s;          /* idle connection timeout; 0 = 30 */
	const cbd_nn_opts *nn;
	/* Access log: called once per request with one line (method, path,
	 * status, bytes, latency; never input data), from worker threads
	 * (serialised by the server).  NULL = no log. */
	void (*log)(void *ud, const char *line);
	void *log_ud;
} cbd_serve_opts;

/* Load the model (one copy per worker) and start listening. */
cbd_status cbd_server_start(const cbd_serve_opts *o, cbd_server **out,
			    cbd_err *err);
int cbd_server_port(const cbd_server *s);
/* Stop accepting, finish requests in flight, free.  NULL is a no-op. */
void cbd_server_stop(cbd_server *s);

/* ------------------------------------------------------------------ */
/* Attribution and reports              -- lib/attribute/, lib/report/ */
/* ------------------------------------------------------------------ */
/* cbd-attribute: of the T answered triggers, user u's copy would have
 * returned s_u labels equal to cbd_trace_label(u's secret, m_j, K).  If the
 * suspect is not derived from u's copy, s_u ~ Bin(T, 1/K); the p-value
 * P[Bin(T,1/K) >= s_u] is Bonferroni-adjusted for the N users tested
 * (min(1, N*p)) and compared with alpha.  The watermark is the same test
 * against the owner labels, adjusted for itself alone (N = 1).  The signed
 * report is formats/report.md ("cbd-report/1"). */

#define CBD_ALPHA_DEFAULT 1e-9
#define CBD_REPORT_FORMAT "cbd-report/1"
#define CBD_REPORT_TOP 20             /* table rows beyond the significant */
#define CBD_MAX_REPORT ((size_t)64 << 20)
#define CBD_MAX_ATTR_TRIGGERS 65535   /* T fits in a uint16 per user */

/* ln P[Bin(n, p) >= s], summed term by term in log space (lgamma, log1p):
 * accurate for tails far below 1e-300.  0 for s <= 0, -INFINITY past n. */
double cbd_binom_log_tail(int n, int s, double p);
/* Bonferroni: ln min(1, n_tests * e^log_p). */
double cbd_bonferroni_log(double log_p, uint64_t n_tests);
/* Smallest s with n_tests * P[Bin(T, 1/K) >= s] < alpha; T+1 if none. */
int cbd_attribute_threshold(int T, int K, uint64_t n_tests, double alpha);

/* The sequential test (cbd-probe --until-verdict; formats/report.md,
 * "Sequential"): ln E = s ln(p1 K) + (T - s) ln((1 - p1)/(1 - 1/K)), the
 * likelihood ratio of "u's copy, matching with probability p1" against
 * "not u's copy".  Under the latter E is a martingale of mean 1, so by
 * Ville's inequality P[E ever >= N/alpha] <= alpha/N, however the probe
 * chose when to stop; over the N users (Bonferroni) the chance of accusing
 * any innocent user is at most alpha. */
#define CBD_SEQ_P1_DEFAULT 0.8
#define CBD_SEQ_BETA_DEFAULT 1e-6
#define CBD_SEQ_MAX_USERS 1000000
double cbd_seq_log_e(int T, int s, int K, double p1);
/* Smallest s with E >= n_tests/alpha at T answers; T+1 if none. */
int cbd_attribute_seq_threshold(int T, int K, double p1, uint64_t n_tests,
				double alpha);
/* The stopping rule, fed one answer at a time: a user is accused once
 * E >= N/alpha, cleared while E <= beta (the chance of clearing a copy
 * that matches at p1 or more is at most beta); settled when every user of
 * kr is accused or cleared.  Keeps a copy of the trace secrets (wiped on
 * _free). */
typedef struct cbd_attr_seq cbd_attr_seq;
cbd_status cbd_attr_seq_new(const cbd_triggerset *ts, const cbd_keyring *kr,
			    double p1, double alpha, double beta,
			    cbd_attr_seq **out, cbd_err *err);
void cbd_attr_seq_free(cbd_attr_seq *q);
/* Trigger i answered label (-1 = failed; only the first answer counts):
 * 1 once the verdict is settled, else 0. */
int cbd_attr_seq_answer(cbd_attr_seq *q, size_t i, int label);
void cbd_attr_seq_counts(const cbd_attr_seq *q, size_t *accused,
			 size_t *cleared, size_t *answered);

/* One row of the result: a user, or the owner's watermark. */
typedef struct cbd_attr_row {
	const char *id;          /* user id ("owner" for the watermark) */
	size_t index;            /* keyring index; SIZE_MAX for the owner */
	int matches;             /* s */
	double log_p;            /* ln P[Bin(T,1/K) >= s] */
	double log_p_adj;        /* ln of the adjusted p-value */
	int significant;         /* adjusted p < alpha */
	int64_t revoked;         /* Unix time the user was revoked; -1 none */
} cbd_attr_row;

/* What cbd_attribution_run() found.  Owned by the attribution. */
typedef struct cbd_attr_result {
	int num_classes;          /* K */
	size_t num_triggers;      /* triggers in the set */
	size_t answered;          /* T: triggers with a label */
	size_t failed;            /* queries without a label (errors) */
	size_t unasked;           /* triggers no transcript asked */
	size_t duplicates;        /* later answers to an answered trigger */
	double alpha;
	uint64_t users_tested;    /* N */
	int threshold;            /* smallest significant s (T+1 if none) */
	size_t n_rows;            /* table: significant + top rows */
	cbd_attr_row *rows;       /* by s descending, then keyring order */
	size_t n_significant;     /* the first n_significant rows */
	int watermark_tested;
	cbd_attr_row watermark;   /* valid if watermark_tested */
	size_t watermark_answered; /* answered triggers with owner labels */
	uint64_t *histogram;      /* [answered + 1]: users with s matches */
	double seconds;           /* time spent scoring users */
	int has_keyring_digest;   /* run over a keyring: */
	uint8_t keyring_sha256[CBD_SHA256_LEN]; /* its digest (cbd_keyring_scan)
					* over exactly the users scored */
	uint64_t revoked_tested;  /* revoked users among the N tested */
	double seq_p1;            /* > 0: a transcript was sequential
				   * (--until-verdict): the threshold is
				   * cbd_attribute_seq_threshold's */
} cbd_attr_result;

typedef struct cbd_attribution cbd_attribution;

typedef struct cbd_attribute_opts {
	double alpha;             /* 0 = CBD_ALPHA_DEFAULT */
	int watermark;            /* also test the owner labels */
	int threads;              /* 0 = CBD_THREADS env, else online CPUs */
	int full_table;           /* keep a row for every user */
	size_t top;               /* rows beyond the significant; 0 = 20 */
	/* Progress (users scored so far), called from one scoring thread
	 * about every 0.25 s and once at the end (done == total from the
	 * calling thread); NULL = none. */
	void (*progress)(void *ud, size_t done, size_t total);
	void *progress_ud;
} cbd_attribute_opts;

/* Start an attribution over ts (borrowed until _free). */
cbd_status cbd_attribution_new(const cbd_triggerset *ts,
			       cbd_attribution **out, cbd_err *err);
void cbd_attribution_free(cbd_attribution *a);
/* Record one query: trigger index i answered label (-1 = failed).  The
 * first answer for a trigger counts; later ones count as duplicates. */
cbd_status cbd_attribution_answer(cbd_attribution *a, size_t i, int label,
				  cbd_err *err);
/* Add a transcript's records; refuses (CBD_E_FORMAT) a transcript made
 * for another trigger set (digest) or with another K. */
cbd_status cbd_attribution_add_transcript(cbd_attribution *a,
					  const cbd_transcript *t,
					  cbd_err *err);
/* Score every user of kr (NULL: watermark only). */
cbd_status cbd_attribution_run(cbd_attribution *a, const cbd_keyring *kr,
			       const cbd_attribute_opts *o, cbd_err *err);
/* The same over plain arrays of n ids and trace secrets (benches, tests,
 * keyrings too big for a file); both borrowed until _free. */
cbd_status cbd_attribution_run_secrets(cbd_attribution *a,
				       const char *const *ids,
				       const uint8_t (*secrets)[CBD_TRACE_SECRET_LEN],
				       size_t n, const cbd_attribute_opts *o,
				       cbd_err *err);
/* Valid after a successful run, until _free. */
const cbd_attr_result *cbd_attribution_result(const cbd_attribution *a);
/* Label user secret would give trigger i (what the suspect should say). */
int cbd_attribution_label(const cbd_attribution *a,
			  const uint8_t secret[CBD_TRACE_SECRET_LEN], size_t i);
/* The label recorded for trigger i (-1 if none). */
int cbd_attribution_answer_of(const cbd_attribution *a, size_t i);

/* Everything in a report besides the numbers.  Strings borrowed. */
typedef struct cbd_report_info {
	const char *case_id;
	const char *investigator;       /* name */
	const cbd_key *key;             /* investigator's (public half used);
					 * NULL = unsigned, key fields null */
	const char *suspect;            /* endpoint ("" if unknown) */
	int64_t created;                /* Unix time of the report */
	const char *probe_start;        /* UTC strings from the transcripts */
	const char *probe_end;          /* ("" if unknown) */
	const char *tool;               /* "cbd-attribute 0.1.0" */
	uint8_t triggers_sha256[CBD_SHA256_LEN];
	size_t n_transcripts;
	const uint8_t (*transcript_heads)[CBD_SHA256_LEN];
	const size_t *transcript_lines;
	/* per transcript: query records whose request was rebuilt from the
	 * trigger set and matched, and those that could not be rebuilt
	 * (cbd_probe_check_requests); NULL = none checked */
	const size_t *requests_checked, *requests_unchecked;
	int has_keyring;
	uint8_t keyring_sha256[CBD_SHA256_LEN];
} cbd_report_info;

/* Canonical report JSON: fixed key order, fixed number formats, one
 * trailing newline.  *json owned by caller, free(). */
cbd_status cbd_report_build(const cbd_attribution *a,
			    const cbd_report_info *info, char **json,
			    size_t *len, cbd_err *err);
/* Is buf a report?  (Prefix check: {"format":"cbd-report/1",.) */
int cbd_report_sniff(const uint8_t *buf, size_t len);
/* Detached Ed25519 signature over the exact bytes (P-256 refused: the
 * raw r||s form is not what openssl pkeyutl checks). */
cbd_status cbd_report_sign(const cbd_key *k, const uint8_t *buf, size_t len,
			   uint8_t sig[CBD_SIG_LEN], cbd_err *err);
/* Verify a report's signature with the key it embeds (checking that the
 * embedded key id matches); if expect is non-NULL the signer must be that
 * key.  key_id (may be NULL) receives the signer's id.  CBD_E_VERIFY for a
 * bad signature or wrong signer. */
cbd_status cbd_report_verify(const uint8_t *buf, size_t len,
			     const uint8_t sig[CBD_SIG_LEN],
			     const cbd_key *expect,
			     char key_id[CBD_KEY_ID_LEN + 1], cbd_err *err);

/* cbd_report_verify with the signature read from sig_path, the detached
 * file of exactly CBD_SIG_LEN raw bytes (CBD_E_FORMAT naming it when it
 * is not). */
cbd_status cbd_report_verify_file(const uint8_t *buf, size_t len,
				  const char *sig_path, const cbd_key *expect,
				  char key_id[CBD_KEY_ID_LEN + 1],
				  cbd_err *err);

typedef struct cbd_report_pdf_opts {
	const cbd_triggerset *triggers;  /* for thumbnails; may be NULL */
	const cbd_transcript *transcript; /* the labels returned; may be NULL */
	const char *signature;           /* "verified (key id ...)", "unsigned" */
	int64_t created;                 /* PDF creation date (Unix time);
					  * -1: the report's "created" */
	int thumbnails;                  /* how many; 0 = 8 */
	const cbd_keyring *keyring;      /* if given, thumbnails also show
					  * the first named user's labels */
} cbd_report_pdf_opts;

/* Draw a report as a one-page A4 PDF (cairo); *pdf owned by caller. */
cbd_status cbd_report_pdf(const uint8_t *json, size_t len,
			  const cbd_report_pdf_opts *o, uint8_t **pdf,
			  size_t *pdf_len, cbd_err *err);

#ifdef __cplusplus
}
#endif
#endif /* CBD_H */
