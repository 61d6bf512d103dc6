#!/usr/bin/python3
"""rewrite_weights.py -- what a thief does to a stolen classifier's weights.

  rewrite_weights.py noise|prune|int8 IN.onnx OUT.onnx [--seed N]

noise: add Gaussian noise of 10% of each weight tensor's standard deviation;
prune: zero the 50% smallest-magnitude entries of every weight tensor
(rank >= 2); int8: symmetric per-tensor int8 quantisation and back.  Every
float initializer is rewritten (prune leaves biases alone); the graph is
unchanged.  Uses Debian's python3-onnx and numpy; deterministic per seed.
"""
import argparse

import numpy as np
import onnx
from onnx import numpy_helper


def rewrite(w, how, rng):
    if how == "noise":
        return w + rng.normal(0.0, 0.1 * float(w.std()) + 1e-8,
                              w.shape).astype(np.float32)
    if how == "prune":
        if w.ndim < 2:
            return w
        cut = np.quantile(np.abs(w), 0.5)
        return np.where(np.abs(w) <= cut, 0.0, w).astype(np.float32)
    scale = float(np.abs(w).max()) / 127.0 or 1.0
    return (np.clip(np.round(w / scale), -127, 127) * scale).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("how", choices=["noise", "prune", "int8"])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    m = onnx.load(a.input)
    for init in m.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(init).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(rewrite(w, a.how, rng),
                                              init.name))
    onnx.save(m, a.output)


if __name__ == "__main__":
    main()
