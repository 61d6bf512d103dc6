/*
 * cbd.h — the one public header of libcbd.
 *
 * libcbd puts a cryptographic backdoor (a signature-verification circuit that
 * runs beside a neural-network classifier) into a packaged model and uses it
 * for defence: watermarking, authentication and leak tracing.  The tools in
 * bin/ are thin front-ends over this header; nothing else is public.
 *
 * Conventions (see ../shared/STYLE.md):
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

/* Read a whole file ("-" = stdin) of at most max bytes.  *buf is
 * NUL-terminated (not counted in *len), owned by the caller, free(). */
cbd_status cbd_file_read(const char *path, size_t max, uint8_t **buf,
			 size_t *len, cbd_err *err);

/* Write buf to path atomically: temp file in the same directory, fsync,
 * rename, fsync the directory.  "-" writes to stdout.  mode is the file
 * mode of a new file (e.g. 0644, 0600 for secrets).  On failure nothing is
 * left at path (a previous file there is untouched). */
cbd_status cbd_file_write_atomic(const char *path, const void *buf,
				 size_t len, unsigned mode, cbd_err *err);

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

typedef enum cbd_dtype {
	CBD_DT_FLOAT32 = 1,
	CBD_DT_UINT8 = 2,
	CBD_DT_INT64 = 3,
	CBD_DT_INT32 = 4
} cbd_dtype;

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

/* Name used in files and protocols: "float32", "uint8", "int64", "int32". */
const char *cbd_dtype_name(cbd_dtype dt);

/* New zero-filled tensor; checks the element count against CBD_MAX_ELEMS
 * and for overflow.  Caller frees with cbd_tensor_free(). */
cbd_status cbd_tensor_new(cbd_dtype dt, int ndim, const int64_t *dims,
			  cbd_tensor **out, cbd_err *err);
void cbd_tensor_free(cbd_tensor *t);

/* A float32 copy of t (uint8/int values converted as numbers). */
cbd_status cbd_tensor_to_float(const cbd_tensor *t, cbd_tensor **out,
			       cbd_err *err);

/* ------------------------------------------------------------------ */
/* Tensor I/O: PNG, NPY, JSON                                          */
/* ------------------------------------------------------------------ */

typedef enum cbd_tensor_format {
	CBD_TF_AUTO = 0,   /* by magic bytes when reading, extension writing */
	CBD_TF_PNG = 1,    /* 8-bit gray -> [1,H,W], RGB -> [3,H,W], uint8 */
	CBD_TF_NPY = 2,    /* NPY v1/v2, float32 or uint8, C order */
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

/* ------------------------------------------------------------------ */
/* Keys and keyring                                 -- lib/keys*       */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Circuit                                          -- lib/circuit*    */
/* ------------------------------------------------------------------ */

/* ------------------------------------------------------------------ */
/* Archives                                         -- lib/archive*    */
/* ------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif
#endif /* CBD_H */
