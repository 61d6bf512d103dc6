#!/usr/bin/python3
"""Train the bundled default MNIST classifier and export it to ONNX.

Usage (run with Debian's /usr/bin/python3 + python3-torch + python3-onnx):
    /usr/bin/python3 models/train_mnist.py [--data /tmp/mnist-data]
        [--heldout-dir models] [--out models/mnist-cnn.onnx] [--epochs 40]

Inputs (produced by models/extract_mnist.py):
    DATA/mnist-train-images.npy          uint8 (8000, 1, 28, 28)
    DATA/mnist-train-labels.npy          uint8 (8000,)
    HELDOUT/mnist-heldout-images.npy     uint8 (2000, 1, 28, 28)
    HELDOUT/mnist-heldout-labels.npy     uint8 (2000,)

Model input: float32 [N, 1, 28, 28], x = byte / 255.  Output: float32 [N, 10]
raw logits.  Architecture (LeNet-style):
    Conv(1->8, 5x5, pad 2) -> ReLU -> MaxPool 2x2
    Conv(8->16, 5x5)       -> ReLU -> MaxPool 2x2
    Flatten (16*5*5 = 400) -> Gemm 400->64 -> ReLU -> Gemm 64->10

Training: Adam, batch 64, cosine-decayed learning rate, fixed seeds,
deterministic algorithms, 2 CPU threads; augmentation = random integer
translation of up to +-2 pixels in x and y (zero fill), so augmented pixels
are still exactly byte/255 values.  The held-out set is never used for
training or model selection; it is only evaluated after the last epoch.

After export the ONNX file is checked with onnx.checker, and the held-out
accuracy is recomputed by a small NumPy interpreter that executes the
exported ONNX graph itself (onnxruntime is not available here).
"""
import argparse
import hashlib
import os
import random
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 1234
ALLOWED_OPS = {"Conv", "Relu", "MaxPool", "Flatten", "Reshape", "Gemm",
               "MatMul", "Add"}


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 5)
        self.fc1 = nn.Linear(400, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def load_npy(path, dtype, shape_tail):
    a = np.load(path, allow_pickle=False)
    if a.dtype != dtype or a.shape[1:] != shape_tail:
        sys.exit("%s: unexpected dtype/shape %s %s" % (path, a.dtype, a.shape))
    return a


def shift_batch(xb, rng, max_shift=2):
    """Random integer translation by up to +-max_shift px, zero fill (uint8)."""
    n = xb.shape[0]
    p = max_shift
    padded = np.zeros((n, 1, 28 + 2 * p, 28 + 2 * p), dtype=np.uint8)
    padded[:, :, p:p + 28, p:p + 28] = xb
    dy = rng.randint(0, 2 * p + 1, size=n)
    dx = rng.randint(0, 2 * p + 1, size=n)
    out = np.empty_like(xb)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    return out


def to_float(xb):
    return torch.from_numpy(xb.astype(np.float32) / np.float32(255.0))


def torch_accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        logits = model(to_float(images))
    pred = logits.argmax(1).numpy()
    return float((pred == labels).mean()), pred


# ---------------------------------------------------------------------------
# Minimal NumPy executor for the exported graph (verification only).
# ---------------------------------------------------------------------------
def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, at):
    pads = at.get("pads", [0, 0, 0, 0])
    strides = at.get("strides", [1, 1])
    dil = at.get("dilations", [1, 1])
    if at.get("group", 1) != 1 or list(strides) != [1, 1] or list(dil) != [1, 1]:
        raise NotImplementedError("conv attrs %r" % at)
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    n, c, h, wd = x.shape
    m, _, kh, kw = w.shape
    oh, ow = h - kh + 1, wd - kw + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + oh, j:j + ow]
    y = np.einsum("nckluv,mckl->nmuv", cols, w, optimize=True)
    if b is not None:
        y = y + b.reshape(1, m, 1, 1)
    return y.astype(np.float32)


def _maxpool(x, at):
    k = at["kernel_shape"]
    s = at.get("strides", k)
    if list(k) != list(s) or any(at.get("pads", [0, 0, 0, 0])):
        raise NotImplementedError("maxpool attrs %r" % at)
    n, c, h, w = x.shape
    oh, ow = h // k[0], w // k[1]
    x = x[:, :, :oh * k[0], :ow * k[1]].reshape(n, c, oh, k[0], ow, k[1])
    return x.max(axis=(3, 5))


def run_onnx_numpy(model, x):
    env = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    env[model.graph.input[0].name] = x
    for node in model.graph.node:
        at = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Conv":
            y = _conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None, at)
        elif op == "Relu":
            y = np.maximum(ins[0], 0)
        elif op == "MaxPool":
            y = _maxpool(ins[0], at)
        elif op == "Flatten":
            ax = at.get("axis", 1)
            y = ins[0].reshape(int(np.prod(ins[0].shape[:ax])), -1)
        elif op == "Reshape":
            y = ins[0].reshape([d if d != 0 else ins[0].shape[k]
                                for k, d in enumerate(ins[1].tolist())])
        elif op == "Gemm":
            a, b = ins[0], ins[1]
            if at.get("transA", 0):
                a = a.T
            if at.get("transB", 0):
                b = b.T
            y = at.get("alpha", 1.0) * (a @ b)
            if len(ins) > 2 and ins[2] is not None:
                y = y + at.get("beta", 1.0) * ins[2]
        elif op == "MatMul":
            y = ins[0] @ ins[1]
        elif op == "Add":
            y = ins[0] + ins[1]
        else:
            raise NotImplementedError(op)
        env[node.output[0]] = np.asarray(y, dtype=np.float32)
    return env[model.graph.output[0].name]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="train + export MNIST CNN")
    ap.add_argument("--data", default="/tmp/mnist-data")
    ap.add_argument("--heldout-dir", default=here)
    ap.add_argument("--out", default=os.path.join(here, "mnist-cnn.onnx"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    a = ap.parse_args()

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)

    xtr = load_npy(os.path.join(a.data, "mnist-train-images.npy"),
                   np.uint8, (1, 28, 28))
    ytr = load_npy(os.path.join(a.data, "mnist-train-labels.npy"), np.uint8, ())
    xte = load_npy(os.path.join(a.heldout_dir, "mnist-heldout-images.npy"),
                   np.uint8, (1, 28, 28))
    yte = load_npy(os.path.join(a.heldout_dir, "mnist-heldout-labels.npy"),
                   np.uint8, ())
    print("train %s, held-out %s" % (xtr.shape, xte.shape))

    model = LeNet()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    steps_per_epoch = (len(xtr) + a.batch - 1) // a.batch
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=a.epochs * steps_per_epoch)
    rng = np.random.RandomState(SEED)
    ytr_t = torch.from_numpy(ytr.astype(np.int64))

    t0 = time.time()
    for ep in range(a.epochs):
        model.train()
        perm = rng.permutation(len(xtr))
        tot_loss, correct = 0.0, 0
        for s in range(0, len(xtr), a.batch):
            idx = perm[s:s + a.batch]
            xb = to_float(shift_batch(xtr[idx], rng))
            yb = ytr_t[idx]
            opt.zero_grad()
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            loss.backward()
            opt.step()
            sched.step()
            tot_loss += loss.item() * len(idx)
            correct += int((out.argmax(1) == yb).sum())
        print("epoch %2d  loss %.4f  train-acc(aug) %.4f  %.1fs"
              % (ep + 1, tot_loss / len(xtr), correct / len(xtr),
                 time.time() - t0), flush=True)

    train_acc, _ = torch_accuracy(model, xtr, ytr)
    held_acc, torch_pred = torch_accuracy(model, xte, yte)
    print("PyTorch accuracy: train %.4f  held-out %.4f (%d/%d)"
          % (train_acc, held_acc, int(round(held_acc * len(yte))), len(yte)))

    # ---- export ----------------------------------------------------------
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(
        model, dummy, a.out,
        opset_version=13,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        do_constant_folding=True,
        export_params=True)

    m = onnx.load(a.out)
    for n in m.graph.node:       # drop any source-location doc strings
        n.doc_string = ""
    m.doc_string = ""
    m.graph.doc_string = ""
    onnx.save(m, a.out)
    m = onnx.load(a.out)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    bad = set(ops) - ALLOWED_OPS
    if bad:
        sys.exit("unexpected ONNX ops: %s" % sorted(bad))
    opset = [(o.domain or "ai.onnx", o.version) for o in m.opset_import]
    print("ONNX ops: %s  opset: %s" % (ops, opset))
    print("nodes:", [n.op_type for n in m.graph.node])

    # ---- verify exported graph with NumPy executor -----------------------
    logits = run_onnx_numpy(m, xte.astype(np.float32) / np.float32(255.0))
    onnx_pred = logits.argmax(1)
    onnx_acc = float((onnx_pred == yte).mean())
    with torch.no_grad():
        tl = model(to_float(xte)).numpy()
    print("ONNX-graph (NumPy) held-out accuracy %.4f (%d/%d); "
          "max |logit diff| vs torch %.2e; argmax disagreements %d"
          % (onnx_acc, int((onnx_pred == yte).sum()), len(yte),
             float(np.abs(logits - tl).max()),
             int((onnx_pred != torch_pred).sum())))

    data = open(a.out, "rb").read()
    print("%s: %d bytes sha256=%s"
          % (a.out, len(data), hashlib.sha256(data).hexdigest()))


if __name__ == "__main__":
    main()
