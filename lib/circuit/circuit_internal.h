/*
 * circuit_internal.h — what the circuit, its JSON codec and trigger sets
 * share inside libcbd (not public).
 *
 * formats/circuit.md is the normative description of every constant here:
 * the carrier length, the byte layout of the carrier, the PRNG that places
 * it and the message that the signature covers.
 */
#ifndef CBD_CIRCUIT_INTERNAL_H
#define CBD_CIRCUIT_INTERNAL_H

#include "../util/util_internal.h"

#include <math.h>

#define CBD_CARRIER_BITS 552               /* L */
#define CBD_CARRIER_BYTES (CBD_CARRIER_BITS / 8)
#define CBD_TAG_BITS 16
#define CBD_MSG_LEN (6 + CBD_CIRCUIT_ID_LEN + 1 + 2 + CBD_SHA256_LEN)
#define CBD_CIRCUIT_MAX_KEYS 256           /* key_index is one byte */
#define CBD_CIRCUIT_MAX_JSON ((size_t)4 << 20)
#define CBD_GARBAGE_KEY_LEN 32
#define CBD_USER_ID_MAX 128

/* Carrier byte offsets (formats/circuit.md, "Layout"). */
#define CBD_OFF_TAG 0
#define CBD_OFF_KEY_INDEX 2
#define CBD_OFF_PAYLOAD 3
#define CBD_OFF_SIG 5

/* What a circuit and its trigger sets share: the circuit id, the sample
 * shape and quantiser (formats/circuit.md sections 1-2), and what they fix
 * (the tag and the carrier positions, sections 3-5).  A trigger set embeds
 * a copy (cbd_geometry_copy) instead of copying fields one by one. */
struct cbd_geometry {
	int version;                      /* 1 or 2: cbd-circuit/N, whose
					   * message digest differs */
	uint8_t id[CBD_CIRCUIT_ID_LEN];
	int ndim;
	int64_t dims[CBD_MAX_DIMS];
	int channels;                     /* 1, or dims[axis] */
	int axis;                         /* the channel axis, 0..ndim-1 */
	float *scale, *zero;              /* [channels], owned */
	/* derived by cbd_geometry_finish: */
	size_t n;                         /* elements per sample */
	size_t stride;                    /* elements per step along axis
					   * (product of the dims after it);
					   * n when channels = 1 */
	uint8_t tag[CBD_TAG_BITS / 8];
	uint32_t pos[CBD_CARRIER_BITS];   /* carrier positions, bit order */
	uint32_t sorted[CBD_CARRIER_BITS];/* the same, ascending */
};

struct cbd_circuit {
	cbd_mode mode;
	int num_classes;
	struct cbd_geometry g;
	cbd_key **keys;
	int n_keys;
	int has_trace_secret;
	uint8_t trace_secret[CBD_TRACE_SECRET_LEN];
	char *user_id;
	int has_garbage_key;
	uint8_t garbage_key[CBD_GARBAGE_KEY_LEN];
};

/* The first CBD_CARRIER_BITS entries of the seeded permutation of 0..n-1
 * (n >= CBD_CARRIER_BITS), seed = SHA-256("cbd/carrier" || circuit_id). */
cbd_status cbd_carrier_positions(const uint8_t id[CBD_CIRCUIT_ID_LEN],
				 size_t n, uint32_t pos[CBD_CARRIER_BITS],
				 cbd_err *err);

/* pos sorted ascending (for hashing q with the carrier LSBs cleared). */
void cbd_carrier_sort(const uint32_t pos[CBD_CARRIER_BITS],
		      uint32_t sorted[CBD_CARRIER_BITS]);

/* tag = first two bytes of SHA-256("cbd/tag" || circuit_id). */
cbd_status cbd_circuit_tag(const uint8_t id[CBD_CIRCUIT_ID_LEN],
			   uint8_t tag[CBD_TAG_BITS / 8], cbd_err *err);

/* The default quantiser (formats/circuit.md, "Quantiser"): what a bare
 * model's bytes mean too, so one rule turns bytes into floats everywhere. */
#define CBD_QUANT_SCALE 255.0f
#define CBD_QUANT_ZERO 0.0f

/* Dequantise one byte: (q - z) / s, float32 (the inverse of
 * cbd_quantize1 for every byte; quantizer_check proves it per channel). */
static inline float cbd_dequantize1(uint8_t q, float s, float z)
{
	float v = (float)q - z;

	return v / s;
}

/* Quantise one element with scale s and zero z (the rule of
 * formats/circuit.md, "Quantiser"). */
static inline uint8_t cbd_quantize1(float x, float s, float z)
{
	float v = x * s;   /* two float32 roundings, no fused multiply-add */

	v = v + z;
	if (!(v > 0.0f))   /* NaN, -inf, negatives, zero */
		return 0;
	if (v >= 255.0f)
		return 255;
	/* 0 < v < 255: adding and removing 2^23 rounds to an integer, ties
	 * to even (default rounding mode), exactly like nearbyintf(v); the
	 * results that round to 0 or 255 are right too. */
	v = (v + 0x1p23f) - 0x1p23f;
	return (uint8_t)v;
}

/* The quantiser channel of element i (formats/circuit.md section 2):
 * floor(i / stride) mod C.  The one rule: the quantiser, the dequantiser
 * (every tool's bytes to floats), trigger sets and the compiled ONNX
 * circuit all take an element's channel from here.  Elements
 * [k stride, (k + 1) stride) share one channel. */
static inline size_t cbd_geometry_channel(const struct cbd_geometry *g,
					  size_t i)
{
	return g->channels == 1 ? 0 : i / g->stride % (size_t)g->channels;
}

/* Check the shape and quantiser of g (id, ndim, dims, channels, axis,
 * scale, zero set) and fill in its derived fields. */
cbd_status cbd_geometry_finish(struct cbd_geometry *g, cbd_err *err);
/* A deep copy of a finished geometry into the zeroed *dst. */
cbd_status cbd_geometry_copy(struct cbd_geometry *dst,
			     const struct cbd_geometry *src, cbd_err *err);
/* Release scale and zero (the struct itself is the caller's). */
void cbd_geometry_free(struct cbd_geometry *g);
/* Bytes of a sample (g->n) to floats with the quantiser's inverse. */
void cbd_geometry_dequantize(const struct cbd_geometry *g,
			     const uint8_t *q, float *x);

/* Apply the output policy given the sample's activation from
 * cbd_circuit_check (so a batch can be checked while its inputs are still
 * in cache, before the classifier runs). */
cbd_status cbd_circuit_policy(const cbd_circuit *c, const float *x,
			      const cbd_activation *act, float *scores,
			      cbd_err *err);

/* m for an already quantised sample (bytes, CBD_MSG_LEN), by g's
 * version: "cbd/v1" and SHA-256(q'), or "cbd/v2" and the lane digest. */
cbd_status cbd_circuit_message_raw(const struct cbd_geometry *g,
				   const uint8_t *q, int key_index,
				   uint16_t payload,
				   uint8_t m[CBD_MSG_LEN], cbd_err *err);

/* cbd-circuit/2's lanes for n bytes (formats/circuit.md section 5): the
 * smallest count in 1..256 that minimises the sequential SHA-256 blocks
 * of one lane plus those of the lane digests. */
int cbd_circuit_lanes(size_t n);
/* The digest of q' (n bytes) for version 1 or 2. */
cbd_status cbd_circuit_digest(int version, const uint8_t *qc, size_t n,
			      uint8_t out[CBD_SHA256_LEN], cbd_err *err);

#define CBD_CIRCUIT_VERSION 2             /* what new circuits are */

/* A float32 in circuit.json and trigger sets: "%.17g" of its exact double
 * value (cbd_buf_printf; the buffers are capped at CBD_MAX_JSON). */
void cbd_circuit_put_float(cbd_buf *b, float f);

/* Is s printable ASCII (0x20..0x7e) of 1..max bytes? */
int cbd_text_ok(const char *s, size_t max);

#endif
