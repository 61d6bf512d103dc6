/*
 * compile_internal.h — the circuit compiler's private interface (lib/compile/).
 *
 * The compiler turns a circuit (lib/circuit) and a classifier (an ONNX file)
 * into one ONNX model whose graph is the classifier's, unchanged, followed by
 * the circuit expressed in standard operators of the default domain
 * (formats/circuit-onnx.md).  It is built in three layers:
 *
 *   og.c       a small ONNX graph writer over the protobuf-c bindings:
 *              values with element types, nodes, deduplicated constants,
 *              subgraphs for If/Loop; everything lives in one arena owned
 *              by the og_ctx and is freed at once;
 *   sha.c      SHA-256 and SHA-512 compression as graph fragments on bit
 *              vectors and 16-bit limbs in float32 (Floor, Abs, MatMul with
 *              constant 0/1/2^k matrices, a carry chain between limbs; no
 *              Bitwise*, so the graph is valid at opset 17), and the Loop
 *              that runs them over blocks;
 *   ed25519.c  field arithmetic mod 2^255-19 on
 *              float64 limbs (17 limbs of 15 bits, products folded by one
 *              constant MatMul, three parallel carry passes), extended-
 *              coordinate point addition, fixed-base window tables for B and
 *              -A computed in C, a tree reduction of the selected points and
 *              the encoding compare of RFC 8032 as OpenSSL does it;
 *   compile.c  the per-mode circuit graph and the assembly of the
 *              model around the classifier's unchanged nodes.
 *
 * Opset: the nodes are written for the og_ctx's opset (og_set_opset, from
 * OG_OPSET = 17 to 21; compile.c takes the classifier's when it is higher).
 * 17 because Debian's python3-onnx 1.12, whose checker must accept the
 * models, knows no later opset, and older runtimes lack the opset-18
 * operators; the two forms that differ from 18 on (the axes of ReduceMin
 * and ReduceMax, Split's sizes) are written as og_reduce / og_split say.
 *
 * Error handling follows ggml: builder calls never fail individually; the
 * first allocation failure sticks in the context, later calls return NULL,
 * and og_status() reports it once at the end.
 */
#ifndef CBD_COMPILE_INTERNAL_H
#define CBD_COMPILE_INTERNAL_H

#include "../util/util_internal.h"
#include "onnx.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

/* ONNX element types used here (TensorProto.DataType). */
enum {
	OG_F32 = 1, OG_U8 = 2, OG_I8 = 3, OG_U16 = 4, OG_I32 = 6, OG_I64 = 7,
	OG_BOOL = 9, OG_F64 = 11, OG_U32 = 12, OG_U64 = 13
};

/* The lowest default-domain opset the circuit's nodes can be written for,
 * and a context's default (og_set_opset).  17: Debian's onnx 1.12 checker
 * knows no later opset, and every operator the circuit uses has its
 * current form there.  The nodes stay valid up to 21; where the form
 * differs (the axes of ReduceMin/ReduceMax from 18) og_reduce writes the
 * one of the context's opset. */
#define OG_OPSET 17

/* A value of the graph: its name and element type.  Arena-owned. */
typedef struct og_v {
	const char *name;
	int type;
} og_v;
typedef const og_v *og_t;

typedef struct og_ctx og_ctx;
typedef struct og_graph og_graph;

/* Attributes of a node. */
typedef struct og_attr {
	const char *name;
	int kind;                 /* ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__* */
	int64_t i;
	float f;
	const char *s;
	const int64_t *ints;
	int n_ints;
	og_graph *g;
} og_attr;

#define OG_AI(n, v) ((og_attr){.name = (n), .kind = 2, .i = (v)})
#define OG_AF(n, v) ((og_attr){.name = (n), .kind = 1, .f = (v)})
#define OG_AS(n, v) ((og_attr){.name = (n), .kind = 3, .s = (v)})
#define OG_AG(n, v) ((og_attr){.name = (n), .kind = 5, .g = (v)})

/* og.c: contexts, graphs, values */
og_ctx *og_new(const char *prefix);
void og_free(og_ctx *c);
cbd_status og_status(const og_ctx *c, cbd_err *err);
void *og_alloc(og_ctx *c, size_t n);          /* zeroed, arena-owned */
const char *og_strdup(og_ctx *c, const char *s);
/* The default-domain opset the nodes are written for, and the model's
 * (og_pack_model); OG_OPSET to 21, set before any node is built. */
void og_set_opset(og_ctx *c, int64_t opset);
int64_t og_opset(const og_ctx *c);
og_graph *og_main(og_ctx *c);
og_graph *og_sub(og_ctx *c, const char *name);
og_ctx *og_graph_ctx(og_graph *g);
Onnx__GraphProto *og_graph_proto(og_graph *g);
/* A value that exists already (classifier tensor, outer scope). */
og_t og_ref(og_ctx *c, const char *name, int type);
/* A fresh subgraph input / a subgraph output (type only, no shape). */
og_t og_input(og_graph *g, int type);
og_t og_input_scalar(og_graph *g, int type);   /* shape [] */
void og_output(og_graph *g, og_t v);
/* The shape of a graph input or output v (a dimension < 0: symbolic
 * "N"); the checker wants one on the main graph's. */
void og_set_shape(og_graph *g, og_t v, int ndim, const int64_t *dims);
/* Append an existing graph input / output (borrowed: the classifier's). */
void og_add_input_vi(og_graph *g, Onnx__ValueInfoProto *vi);
void og_add_output_vi(og_graph *g, Onnx__ValueInfoProto *vi);
/* Append an existing node (borrowed: the classifier's). */
void og_add_node(og_graph *g, Onnx__NodeProto *n);
void og_add_init(og_ctx *c, Onnx__TensorProto *t);

/* Nodes.  out_name NULL: a fresh name. */
og_t og_op(og_graph *g, const char *op, int out_type, int nin,
	   const og_t *in, int nattr, const og_attr *attr);
og_t og_op_named(og_graph *g, const char *op, const char *out_name,
		 int out_type, int nin, const og_t *in, int nattr,
		 const og_attr *attr);
/* Several outputs: out[i] given (non-NULL) names that output, NULL gets a
 * fresh value. */
void og_opn(og_graph *g, const char *op, int nout, og_t *out,
	    const int *out_types, int nin, const og_t *in, int nattr,
	    const og_attr *attr);

/* Constants (initializers of the main graph, deduplicated by content). */
og_t og_const(og_ctx *c, int type, int ndim, const int64_t *dims,
	      const void *data);
og_t og_u8s(og_ctx *c, int n, const uint8_t *v);
og_t og_u32(og_ctx *c, uint32_t v);
og_t og_u64(og_ctx *c, uint64_t v);
og_t og_i64(og_ctx *c, int64_t v);
og_t og_f32(og_ctx *c, float v);
og_t og_f64(og_ctx *c, double v);
og_t og_i64s(og_ctx *c, int n, const int64_t *v);
og_t og_u32s(og_ctx *c, int n, const uint32_t *v);
og_t og_u64s(og_ctx *c, int n, const uint64_t *v);
og_t og_f64s(og_ctx *c, int ndim, const int64_t *dims, const double *v);
og_t og_bool(og_ctx *c, bool v);
/* 1-D constant of any numeric type from integer values. */
og_t og_const_words(og_ctx *c, int type, int64_t n, const uint64_t *v);

/* Common operators; element types follow from the inputs. */
og_t og_bin(og_graph *g, const char *op, og_t a, og_t b);
og_t og_cmp(og_graph *g, const char *op, og_t a, og_t b); /* -> bool */
og_t og_un(og_graph *g, const char *op, og_t a);
og_t og_add(og_graph *g, og_t a, og_t b);
og_t og_sub_(og_graph *g, og_t a, og_t b);
og_t og_mul(og_graph *g, og_t a, og_t b);
og_t og_xor(og_graph *g, og_t a, og_t b);     /* Bitwise or bool */
og_t og_and(og_graph *g, og_t a, og_t b);
og_t og_or(og_graph *g, og_t a, og_t b);
og_t og_not(og_graph *g, og_t a);
og_t og_shl(og_graph *g, og_t a, og_t k);
og_t og_shr(og_graph *g, og_t a, og_t k);
og_t og_cast(og_graph *g, og_t a, int to);
og_t og_where(og_graph *g, og_t c, og_t a, og_t b);
og_t og_gather(og_graph *g, og_t a, og_t idx, int axis);
og_t og_reshape(og_graph *g, og_t a, int ndim, const int64_t *dims);
og_t og_unsqueeze(og_graph *g, og_t a, int64_t axis);
og_t og_concat(og_graph *g, int axis, int n, const og_t *v);
/* n parts of part elements along axis (the split sizes as an input, valid
 * from opset 13; n <= 128). */
void og_split(og_graph *g, og_t a, int axis, int n, int64_t part, og_t *out);
/* ReduceX over one axis: axes as an attribute up to opset 17 (ReduceSum:
 * input from 13), as an input from 18. */
og_t og_reduce(og_graph *g, const char *op, og_t a, int64_t axis, int keep);
og_t og_matmul(og_graph *g, og_t a, og_t b);
og_t og_identity(og_graph *g, og_t a);

/* Serialise a model whose graph is the main one: ir_version, the default
 * domain at the context's opset, the other domains' imports, producer and metadata of
 * like (may be NULL) followed by meta. */
typedef struct og_meta {
	const char *key, *value;
} og_meta;
cbd_status og_pack_model(og_ctx *c, int64_t ir_version,
			 const Onnx__ModelProto *like, const og_meta *meta,
			 int n_meta, uint8_t **buf, size_t *len, cbd_err *err);

/* sha.c: hashes over batches of messages, in float32 only (no Bitwise*).
 * A word is L = 2 (SHA-256) or 4 (SHA-512) limbs of 16 bits, most
 * significant first, each an exact integer in float32.  Words are
 * [N, blocks, 16 L], the state [N or 1, 8 L] (normalised limbs below 2^16);
 * og_sha256_blocks / og_sha512_blocks return the new state [N, 8 L]. */
og_t og_sha256_blocks(og_graph *g, og_t state, og_t words, int nblocks);
og_t og_sha512_blocks(og_graph *g, og_t state, og_t words, int nblocks);
/* Message bytes [N, len] (any numeric type, values 0..255) after the
 * constant prefix[plen] (may be NULL), padded as the hash pads a message of
 * plen + len bytes, as float32 words [N, blocks, 16 L]. */
og_t og_sha_words(og_graph *g, og_t bytes, int64_t len, const uint8_t *prefix,
		  int64_t plen, int wide, int *nblocks);
/* State [N, 8 L] -> digest bytes [N, 32] (SHA-256) or [N, 64] (SHA-512),
 * float32. */
og_t og_sha_bytes(og_graph *g, og_t state, int wide);
/* The whole hash: bytes as for og_sha_words -> digest bytes of the bytes'
 * element type. */
og_t og_sha(og_graph *g, og_t bytes, int64_t len, const uint8_t *prefix,
	    int64_t plen, int wide);
/* [N] or [N,1] batch broadcast helper: v [1, k] expanded to [N, k] where N
 * is the first dimension of like. */
og_t og_expand_batch(og_graph *g, og_t v, og_t like, int64_t k);

/* ed25519.c: verification under the fixed public key pk (32 bytes, RFC
 * 8032).  og_ed25519_key_check refuses keys the fixed-base tables cannot
 * serve (non-canonical, not on the curve, not of prime order L).
 * og_ed25519_verify: sig [N, 64] and h = SHA-512(R || A || m) [N, 64], both
 * float64 byte values -> [N] bool, true exactly when OpenSSL would accept.
 * NULL (with err set) when the key is refused or memory runs out. */
cbd_status og_ed25519_key_check(const uint8_t pk[32], cbd_err *err);
og_t og_ed25519_verify(og_graph *g, const uint8_t pk[32], og_t sig, og_t h,
		       cbd_err *err);
/* The same for the key pks[kidx] of nk keys (each checked as above); kidx
 * [N, 1] int64 in 0..nk-1; h over that key.  Per key a table of
 * 275 powers of two of -A (37 kB) instead of 1.5 MB of windows. */
og_t og_ed25519_verify_keys(og_graph *g, const uint8_t (*pks)[32], int nk,
			    og_t kidx, og_t sig, og_t h, cbd_err *err);

/* provenance.c: append cbd.signature (owner's signature of the model so
 * far) to the serialised model *buf, reallocating it. */
cbd_status og_sign_model(const cbd_key *owner, uint8_t **buf, size_t *len,
			 cbd_err *err);

#endif
