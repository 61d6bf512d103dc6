/*
 * fixture.h — what several unit tests build the same way, once: the
 * 1x28x28 MNIST-shaped circuit with 10 classes (N input bytes, K scores).
 * fixture.c is linked into every tests/unit binary (Makefile); a test
 * includes this after cmocka.h, because the helpers assert with it.
 */
#ifndef CBD_TEST_FIXTURE_H
#define CBD_TEST_FIXTURE_H

#include "circuit/circuit_internal.h"

#define N 784
#define K 10

/* The sample shape 1x28x28 into *ndim, dims. */
void fx_shape(int *ndim, int64_t *dims);

/* params for a 1x28x28, K-class circuit of mode with n_keys keys; the
 * rest (id, trace secret, user id) zero, for the caller to set. */
void fx_params(cbd_circuit_params *p, cbd_mode mode, cbd_key **keys,
	       int n_keys);

/* That circuit, with the given circuit id (NULL: random), trace secret
 * and user id (NULL: none); the test fails if it cannot be made. */
cbd_circuit *fx_circuit(cbd_mode mode, cbd_key **keys, int n_keys,
			const uint8_t *id, const uint8_t *secret,
			const char *user);

#endif
