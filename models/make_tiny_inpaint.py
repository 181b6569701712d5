#!/usr/bin/env python3
"""Writes the tiny ONNX inpainting models the tests run through the real ONNX Runtime path.

They stand in for LaMa / MI-GAN exports: an image and a mask in, the image out, with the
masked pixels filled by a normalised 7x7 box blur of the unmasked ones (the sum of the
known pixels in the window over their count; 0 where the window has none), and the known
pixels passed through. Simple and predictable, so tests check it against a CPU reference.

  tiny-inpaint.onnx      `image` [N,3,H,W] + `mask` [N,1,H,W], free size, values 0..1,
                         mask 1 at holes (LaMa's layout); output `output` [N,3,H,W]
  tiny-inpaint-512.onnx  the same at a fixed 1x512x512 (LaMa's common export)
  tiny-inpaint-4ch.onnx  one input `input` [N,4,H,W] (image, then mask), values -1..1,
                         mask 0 at holes; output `inpainted` [N,3,H,W]

Regenerate (needs `pip install onnx numpy`):  python3 models/make_tiny_inpaint.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
K = 7


def fill_nodes(image, hole, out):
    """Nodes computing `out` from `image` [N,3,H,W] and `hole` [N,1,H,W] (1 = hole)."""
    box3 = numpy_helper.from_array(np.ones((3, 1, K, K), np.float32), "box3")
    box1 = numpy_helper.from_array(np.ones((1, 1, K, K), np.float32), "box1")
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    eps = numpy_helper.from_array(np.array(1e-6, np.float32), "eps")
    pad = [K // 2] * 4
    nodes = [
        helper.make_node("Sub", ["one", hole], ["known"]),
        helper.make_node("Mul", [image, "known"], ["known_image"]),
        # Grouped convolution: each channel blurred on its own (zero padding).
        helper.make_node("Conv", ["known_image", "box3"], ["num"], group=3, pads=pad),
        helper.make_node("Conv", ["known", "box1"], ["den"], pads=pad),
        helper.make_node("Max", ["den", "eps"], ["den_safe"]),
        helper.make_node("Div", ["num", "den_safe"], ["blurred"]),
        helper.make_node("Mul", ["blurred", hole], ["filled_holes"]),
        helper.make_node("Add", ["known_image", "filled_holes"], [out]),
    ]
    return nodes, [box3, box1, one, eps]


def two_input(name, n, h, w):
    nodes, inits = fill_nodes("image", "mask", "output")
    g = helper.make_graph(
        nodes,
        name,
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, 3, h, w]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, [n, 1, h, w]),
        ],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [n, 3, h, w])],
        inits,
    )
    return g


def four_channel():
    # input: image in -1..1 (3 channels), then the mask (0 = hole).
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    zero = numpy_helper.from_array(np.array([0], np.int64), "s0")
    three = numpy_helper.from_array(np.array([3], np.int64), "e3")
    four = numpy_helper.from_array(np.array([4], np.int64), "e4")
    pre = [
        helper.make_node("Slice", ["input", "s0", "e3", "axes"], ["image"]),
        helper.make_node("Slice", ["input", "e3", "e4", "axes"], ["keep_mask"]),
        helper.make_node("Sub", ["one", "keep_mask"], ["hole"]),
    ]
    nodes, inits = fill_nodes("image", "hole", "inpainted")
    g = helper.make_graph(
        pre + nodes,
        "tiny_inpaint_4ch",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("inpainted", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        inits + [axes, zero, three, four],
    )
    return g


def save(g, file):
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, file))
    print("wrote", file)


if __name__ == "__main__":
    save(two_input("tiny_inpaint", "n", "h", "w"), "tiny-inpaint.onnx")
    save(two_input("tiny_inpaint_512", 1, 512, 512), "tiny-inpaint-512.onnx")
    save(four_channel(), "tiny-inpaint-4ch.onnx")
