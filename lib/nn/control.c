/*
 * control.c — If and Loop (stub).
 */
#include "nn.h"

cbd_status nn_op_if(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	(void)nn;
	return nn_fail(n, err, CBD_E_UNSUPPORTED, "not yet");
}

cbd_status nn_op_loop(cbd_nn *nn, nn_node *n, cbd_err *err)
{
	(void)nn;
	return nn_fail(n, err, CBD_E_UNSUPPORTED, "not yet");
}
