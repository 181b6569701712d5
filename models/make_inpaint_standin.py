#!/usr/bin/env python3
"""Writes a stand-in for Big-LaMa's cost, for BENCHMARKS.md: random weights, LaMa's shape.

LaMa (Suvorov et al., 2022) is a fully convolutional encoder, residual blocks at 1/8 of
the input's size with 512 channels, and a decoder; Big-LaMa has 18 blocks of Fourier
convolutions and about 51 M parameters. This stand-in keeps the encoder, the decoder and
the channel widths, with 9 blocks of two plain 3x3 convolutions at 1/8 size (about 45 M
parameters, 180 MB): the same order of arithmetic per pixel. Its output is noise; it
exists to time the fill, never to look at.

  input `input` [N,4,H,W] (image 0..1 with holes zeroed, then the mask), H and W
  multiples of 32, like g-ronimo/lama's export; output `output` [N,3,H,W] in 0..1.

Not committed (180 MB): python3 models/make_inpaint_standin.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
nodes, inits = [], []


def conv(x, cin, cout, k, stride=1, act=True, name=None):
    name = name or f"c{len(nodes)}"
    w = (rng.standard_normal((cout, cin, k, k)) * (1.0 / np.sqrt(cin * k * k))).astype(np.float32)
    b = np.zeros(cout, np.float32)
    inits.extend([numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")])
    p = k // 2
    nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], pads=[p] * 4,
                                  strides=[stride, stride]))
    if not act:
        return name
    nodes.append(helper.make_node("Relu", [name], [name + "_r"]))
    return name + "_r"


def up(x, cin, cout):
    name = f"u{len(nodes)}"
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), name + "_s")
    inits.append(scales)
    nodes.append(helper.make_node("Resize", [x, "", name + "_s"], [name], mode="nearest"))
    return conv(name, cin, cout, 3)


x = conv("input", 4, 64, 7)
x = conv(x, 64, 128, 3, stride=2)
x = conv(x, 128, 256, 3, stride=2)
x = conv(x, 256, 512, 3, stride=2)
for i in range(9):
    y = conv(x, 512, 512, 3)
    y = conv(y, 512, 512, 3, act=False)
    name = f"res{i}"
    nodes.append(helper.make_node("Add", [x, y], [name]))
    x = name
x = up(x, 512, 256)
x = up(x, 256, 128)
x = up(x, 128, 64)
x = conv(x, 64, 3, 7, act=False)
nodes.append(helper.make_node("Sigmoid", [x], ["output"]))

g = helper.make_graph(
    nodes,
    "lama_size_standin",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 4, "h", "w"])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, "h", "w"])],
    inits,
)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
params = sum(int(np.prod(t.dims)) for t in inits)
onnx.save(m, sys.argv[1] if len(sys.argv) > 1 else "lama-standin.onnx")
print(f"wrote {params / 1e6:.1f} M parameters")
