#!/usr/bin/python3
# check_compiled.py COMPILED.onnx CLASSIFIER.onnx — a compiled model as
# formats/circuit-onnx.md promises: onnx.checker (full_check) accepts it; the
# classifier's nodes and initializers are inside it byte for byte, except the
# one output of the node that produced the classifier's output, now
# "cbd/classifier/scores"; the graph keeps the classifier's input and output
# (name, type, shape); only default-domain operators are added; no external
# data; the cbd.* metadata is there.  Prints "ok" or the first problem.
import sys

import onnx


def fail(msg):
    print(msg)
    sys.exit(1)


comp_path, bare_path = sys.argv[1:3]
comp, bare = onnx.load(comp_path), onnx.load(bare_path)
try:
    onnx.checker.check_model(comp, full_check=True)
except Exception as e:    # noqa: BLE001 - report whatever the checker says
    fail(f"checker: {e}")
cg, bg = comp.graph, bare.graph
out = bg.output[0].name
if [i.SerializeToString() for i in cg.input] != \
   [i.SerializeToString() for i in bg.input]:
    fail("graph inputs differ")
if [o.SerializeToString() for o in cg.output] != \
   [o.SerializeToString() for o in bg.output]:
    fail("graph outputs differ")
n = len(bg.node)
for a, b in zip(cg.node[:n], bg.node):
    b2 = onnx.NodeProto()
    b2.CopyFrom(b)
    for k, o in enumerate(b2.output):
        if o == out:
            b2.output[k] = "cbd/classifier/scores"
    if a.SerializeToString() != b2.SerializeToString():
        fail(f"classifier node {b.name} changed")
bi = {t.name: t.SerializeToString() for t in bg.initializer}
ci = {t.name: t.SerializeToString() for t in cg.initializer}
for k, v in bi.items():
    if ci.get(k) != v:
        fail(f"initializer {k} changed")
for t in cg.initializer:
    if t.data_location == onnx.TensorProto.EXTERNAL:
        fail(f"initializer {t.name} is external data")


def walk(g):
    for nd in g.node:
        yield nd
        for at in nd.attribute:
            if at.type == onnx.AttributeProto.GRAPH:
                yield from walk(at.g)


for nd in list(walk(cg))[n:]:
    if nd.domain not in ("", "ai.onnx"):
        fail(f"node {nd.name} in domain {nd.domain}")
meta = {p.key: p.value for p in comp.metadata_props}
for k in ("cbd.format", "cbd.circuit_id", "cbd.mode", "cbd.key_id"):
    if k not in meta:
        fail(f"metadata {k} missing")
print("ok", len(list(walk(cg))), "nodes")
