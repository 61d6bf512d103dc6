#!/usr/bin/python3
"""make_test_models.py — build the engine's committed test models.

Usage: /usr/bin/python3 tools/make_test_models.py [OUTDIR]
       /usr/bin/python3 tools/make_test_models.py --bench [--only=A,B]
           [--size=S] [--batch=N] [OUTDIR]

Writes into OUTDIR (default models/test):

  resnet-block.onnx     a small ResNet built from torchvision's BasicBlock
                        (conv-bn-relu stem, max pool, two residual stages,
                        one with a strided downsample, global average pool,
                        linear head), input [N,3,32,32], 10 classes
  mobilenet-block.onnx  a small MobileNetV2 built from torchvision's
                        InvertedResidual blocks (ReLU6 = Clip, depthwise
                        convolutions, expansion and residuals, dropout,
                        flatten/linear head), input [N,3,32,32], 10 classes
  *-input.npy           fixed float32 inputs [4,3,32,32] for each model
  bad/*.onnx            small malformed models for tests/cli/run.bats:
                        unsupported op, missing initializer, shape mismatch,
                        absurd dimensions, an initializer whose data does
                        not match its shape; compute-heavy.onnx is valid
                        but needs 4.8e9 multiply-adds per sample
  digit-7.png           held-out MNIST sample 0 as an 8-bit gray PNG
  bad/*.npy             malformed inputs: int64 dtype, wrong dims, a header
                        claiming 78 GB of data

With --bench it instead writes torchvision's classifiers (random weights,
1000 classes) to OUTDIR (default models/bench, git-ignored), NAME.onnx and
NAME-input.npy (N images, default 32, standard normal):

  resnet18, mobilenetv2           opset 13
  efficientnet_b0, mobilenet_v3_small, convnext_tiny, swin_t,
  regnet_y_400mf                  opset 17 (LayerNormalization, HardSwish)
  vit_s_16                        torchvision's VisionTransformer code in a
                                  ViT-S/16 configuration (12 layers, width
                                  384, 6 heads; at --size below 224 2
                                  layers, width 64, 4 heads)

--only picks some, --size=S exports for SxS images (default 224; the
convnets and Swin take any size, the ViT is built for S).
tests/cli/torchvision.bats exports them at 64x64.

Weights are random with a fixed seed (torch.manual_seed(1234), again for
each model); BatchNorm running statistics and LayerNorm affine terms are
randomised too so the folded normalisation is exercised, ConvNeXt's layer
scales (1e-6 at init) and the ViT head (zero at init) too so every block
counts.  Exported with Debian's python3-torch / python3-torchvision
(torch.onnx.export, dynamic batch).  Each committed model is under 2 MB.  The golden outputs (ONNX Runtime) are produced separately by
tools/golden.sh.
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 1234


def randomise_bn(model, torch):
    """Random BatchNorm statistics and affine terms, LayerNorm affine
    terms and ConvNeXt layer scales (fixed seed)."""
    g = torch.Generator().manual_seed(SEED + 1)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
        elif isinstance(mod, torch.nn.LayerNorm):
            c = mod.weight.numel()
            mod.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.1)
        if hasattr(mod, "layer_scale"):
            # ConvNeXt starts its residual branches at 1e-6: make them count
            ls = mod.layer_scale
            ls.data.copy_(torch.rand(ls.shape, generator=g) * 0.5 + 0.5)


def small_resnet(torch, tv):
    from torchvision.models.resnet import BasicBlock

    nn = torch.nn

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
            down = nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False),
                                 nn.BatchNorm2d(32))
            self.layer1 = BasicBlock(16, 16)
            self.layer2 = BasicBlock(16, 32, stride=2, downsample=down)
            self.pool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.layer2(self.layer1(self.stem(x)))
            return self.fc(torch.flatten(self.pool(x), 1))

    return SmallResNet()


def small_mobilenet(torch, tv):
    from torchvision.models.mobilenetv2 import InvertedResidual
    from torchvision.ops.misc import Conv2dNormActivation

    nn = torch.nn

    class SmallMobileNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                Conv2dNormActivation(3, 16, stride=2,
                                     activation_layer=nn.ReLU6),
                InvertedResidual(16, 16, 1, 1),
                InvertedResidual(16, 24, 2, 6),
                InvertedResidual(24, 24, 1, 6),
                Conv2dNormActivation(24, 64, kernel_size=1,
                                     activation_layer=nn.ReLU6))
            self.classifier = nn.Sequential(nn.Dropout(0.2),
                                            nn.Linear(64, 10))

        def forward(self, x):
            x = self.features(x)
            x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
            return self.classifier(torch.flatten(x, 1))

    return SmallMobileNet()


def export(torch, model, path, shape, opset=13):
    model.eval()
    x = torch.zeros(*shape)
    torch.onnx.export(model, x, path, opset_version=opset,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"},
                                    "logits": {0: "batch"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))


def fixed_input(path, shape, seed):
    rng = np.random.default_rng(seed)
    np.save(path, rng.standard_normal(shape).astype(np.float32))


def write_bad(outdir):
    d = os.path.join(outdir, "bad")
    os.makedirs(d, exist_ok=True)
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                      ["batch", 1, 4, 4])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                      ["batch", 3])
    w = np.ones((3, 16), np.float32)

    def save(name, nodes, inits, outputs=(y,)):
        g = helper.make_graph(nodes, name, [x], list(outputs), inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.save(m, os.path.join(d, name + ".onnx"))

    flat = helper.make_node("Flatten", ["input"], ["f"], name="flat")
    # unsupported op: Erf between Flatten and Gemm
    save("unsupported-op",
         [flat, helper.make_node("Erf", ["f"], ["e"], name="erf0"),
          helper.make_node("Gemm", ["e", "W"], ["logits"], name="fc",
                           transB=1)],
         [numpy_helper.from_array(w, "W")])
    # missing initializer: the Gemm names W, nothing defines it
    save("missing-initializer",
         [flat, helper.make_node("Gemm", ["f", "W"], ["logits"], name="fc",
                                 transB=1)], [])
    # shape mismatch: W is [3,15] for 16 features
    save("shape-mismatch",
         [flat, helper.make_node("Gemm", ["f", "W"], ["logits"], name="fc",
                                 transB=1)],
         [numpy_helper.from_array(np.ones((3, 15), np.float32), "W")])
    # absurd dimensions: Reshape to 2^20 x 2^20 x 2^20
    big = np.array([1 << 20, 1 << 20, 1 << 20], np.int64)
    save("absurd-dims",
         [helper.make_node("Reshape", ["input", "S"], ["r"], name="grow"),
          helper.make_node("Flatten", ["r"], ["f"], name="flat"),
          helper.make_node("Gemm", ["f", "W"], ["logits"], name="fc",
                           transB=1)],
         [numpy_helper.from_array(big, "S"),
          numpy_helper.from_array(w, "W")])
    # an initializer claiming [1000000,16] with 48 floats of data
    t = numpy_helper.from_array(w, "W")
    del t.dims[:]
    t.dims.extend([1000000, 16])
    save("bad-initializer",
         [flat, helper.make_node("Gemm", ["f", "W"], ["logits"], name="fc",
                                 transB=1)], [t])
    # well-formed but expensive: Pad grows the 4x4 input to 8x1024x1024,
    # a 3x3 conv to 64 channels needs 4.8e9 multiply-adds (over a
    # CBD_MAX_GMAC=1 budget, under the default)
    pads = np.array([0, 0, 510, 510, 0, 7, 510, 510], np.int64)
    save("compute-heavy",
         [helper.make_node("Pad", ["input", "P"], ["p"], name="grow"),
          helper.make_node("Conv", ["p", "K"], ["c"], name="heavy",
                           kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
          helper.make_node("GlobalAveragePool", ["c"], ["g"], name="gap"),
          helper.make_node("Flatten", ["g"], ["f"], name="flat"),
          helper.make_node("Gemm", ["f", "W"], ["logits"], name="fc",
                           transB=1)],
         [numpy_helper.from_array(pads, "P"),
          numpy_helper.from_array(np.full((64, 8, 3, 3), 0.01, np.float32),
                                  "K"),
          numpy_helper.from_array(np.ones((3, 64), np.float32), "W")])


def write_inputs(outdir):
    """digit-7.png (held-out MNIST sample 0) and malformed NPY inputs."""
    import zlib
    import struct
    d = os.path.join(outdir, "bad")
    imgs = np.load("models/mnist-heldout-images.npy")
    img = imgs[0, 0]
    raw = b"".join(b"\0" + bytes(row) for row in img)

    def chunk(t, b):
        c = struct.pack(">I", len(b)) + t + b
        return c + struct.pack(">I", zlib.crc32(t + b) & 0xffffffff)

    png = (b"\x89PNG\r\n\x1a\n" +
           chunk(b"IHDR", struct.pack(">IIBBBBB", 28, 28, 8, 0, 0, 0, 0)) +
           chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
    with open(os.path.join(outdir, "digit-7.png"), "wb") as f:
        f.write(png)
    np.save(os.path.join(d, "int64.npy"),
            np.zeros((1, 28, 28), np.int64))
    np.save(os.path.join(d, "wrong-dims.npy"),
            np.zeros((2, 28, 28), np.float32))
    # header claims [100000000,1,28,28] float32, 16 bytes of data follow
    hdr = ("{'descr': '<f4', 'fortran_order': False, "
           "'shape': (100000000, 1, 28, 28), }")
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(os.path.join(d, "huge-dims.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) +
                hdr.encode() + bytes(16))


def small_vit(torch, tv, size):
    """A ViT-S/16-like configuration of torchvision's VisionTransformer
    (vit_b_16's code: patch 16, class token, pre-norm encoder blocks with
    nn.MultiheadAttention and an erf-GELU MLP), at image size SIZE."""
    from torchvision.models.vision_transformer import VisionTransformer
    if size >= 224:
        m = VisionTransformer(image_size=size, patch_size=16, num_layers=12,
                              num_heads=6, hidden_dim=384, mlp_dim=1536)
    else:
        m = VisionTransformer(image_size=size, patch_size=16, num_layers=2,
                              num_heads=4, hidden_dim=64, mlp_dim=128)
    # torchvision starts the head at zero (every logit 0): random instead
    g = torch.Generator().manual_seed(SEED + 2)
    w = m.heads.head.weight
    w.data.copy_(torch.randn(w.shape, generator=g) * 0.05)
    return m


# torchvision.models constructor (vit_s_16: small_vit), opset of the export
BENCH = (("resnet18", 13), ("mobilenetv2", 13), ("efficientnet_b0", 17),
         ("mobilenet_v3_small", 17), ("convnext_tiny", 17), ("swin_t", 17),
         ("vit_s_16", 17), ("regnet_y_400mf", 17))


def bench_model(torch, tv, name, size):
    if name == "vit_s_16":
        return small_vit(torch, tv, size)
    if name == "mobilenetv2":
        return tv.models.mobilenet_v2(weights=None)
    return getattr(tv.models, name)(weights=None)


def option(name, default):
    for a in sys.argv[1:]:
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return default


def write_bench(torch, tv, outdir):
    """The torchvision architectures for tools/bench-nn.sh and
    tests/cli/torchvision.bats: --only=a,b picks some, --size=S exports
    them for SxS images (default 224; the convnets take any size, the ViT
    is built for S), --batch=N the rows of each NAME-input.npy (32)."""
    only = option("--only", "")
    size = int(option("--size", "224"))
    batch = int(option("--batch", "32"))
    names = [n for n, _ in BENCH]
    want = only.split(",") if only else names
    for n in want:
        if n not in names:
            sys.exit("make_test_models: unknown model " + n)
    for name, opset in BENCH:
        if name not in want:
            continue
        torch.manual_seed(SEED)
        m = bench_model(torch, tv, name, size)
        randomise_bn(m, torch)
        path = os.path.join(outdir, name + ".onnx")
        export(torch, m, path, (1, 3, size, size), opset)
        fixed_input(os.path.join(outdir, name + "-input.npy"),
                    (batch, 3, size, size), SEED)
        print(path, os.path.getsize(path), "bytes")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    bench = "--bench" in sys.argv
    outdir = args[0] if args else ("models/bench" if bench else
                                   "models/test")
    os.makedirs(outdir, exist_ok=True)
    import torch
    import torchvision as tv

    torch.manual_seed(SEED)
    if bench:
        write_bench(torch, tv, outdir)
        return
    write_bad(outdir)
    write_inputs(outdir)
    for i, (name, ctor) in enumerate((("resnet-block", small_resnet),
                                      ("mobilenet-block", small_mobilenet))):
        torch.manual_seed(SEED + i)
        m = ctor(torch, tv)
        randomise_bn(m, torch)
        path = os.path.join(outdir, name + ".onnx")
        export(torch, m, path, (1, 3, 32, 32))
        fixed_input(os.path.join(outdir, name + "-input.npy"),
                    (4, 3, 32, 32), SEED + i)
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
