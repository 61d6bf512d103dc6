/*
 * fixture.c — the shared unit-test fixtures of fixture.h.  One file so
 * that the shape every circuit test assumes is written once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fixture.h"

void fx_shape(int *ndim, int64_t *dims)
{
	*ndim = 3;
	dims[0] = 1;
	dims[1] = 28;
	dims[2] = 28;
}

void fx_params(cbd_circuit_params *p, cbd_mode mode, cbd_key **keys,
	       int n_keys)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	fx_shape(&p->ndim, p->dims);
	p->num_classes = K;
	p->keys = (const cbd_key *const *)keys;
	p->n_keys = n_keys;
}

cbd_circuit *fx_circuit(cbd_mode mode, cbd_key **keys, int n_keys,
			const uint8_t *id, const uint8_t *secret,
			const char *user)
{
	cbd_circuit_params p;
	cbd_circuit *c = NULL;
	cbd_err e = {0};

	fx_params(&p, mode, keys, n_keys);
	p.circuit_id = id;
	p.trace_secret = secret;
	p.user_id = user;
	assert_int_equal(cbd_circuit_new(&p, &c, &e), CBD_OK);
	return c;
}
