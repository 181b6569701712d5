#!/usr/bin/env python3
"""Writes the tiny ONNX depth models the tests run through the real ONNX Runtime path.

They stand in for Depth-Anything-V2 exports (SPEC section 4): an NCHW float32 image
normalised with ImageNet mean/std in, relative disparity (near = large) out. The "depth"
they compute is simple and predictable so tests can check it against a CPU reference:
the mean of the three normalised channels (bright = near), smoothed by a 3x3 box filter
with edge padding.

  tiny-depth.onnx         input `pixel_values` [B,3,H,W] dynamic, output `predicted_depth` [B,H,W]
  tiny-depth-static.onnx  input `image` [1,3,126,224] static,     output `depth` [1,1,126,224]

and, for the bad-input tests, tests/fixtures/not-an-image.onnx: a valid model whose input
is a feature vector [1,10], which stereosplat must refuse with a clear message.

Regenerate (needs `pip install onnx`):  python3 models/make_tiny_depth.py
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def graph(name, input_name, input_shape, output_name, output_rank):
    # A 1x1 convolution averages the channels; a 3x3 convolution of 1/9 blurs. The input
    # is edge-padded first so borders keep their value.
    mean_w = numpy_helper.from_array(np.full((1, 3, 1, 1), 1.0 / 3.0, np.float32), "mean_w")
    blur_w = numpy_helper.from_array(np.full((1, 1, 3, 3), 1.0 / 9.0, np.float32), "blur_w")
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    nodes = [
        helper.make_node("Conv", [input_name, "mean_w"], ["grey"], name="channel_mean"),
        helper.make_node("Pad", ["grey", "pads"], ["padded"], mode="edge", name="edge_pad"),
        helper.make_node("Conv", ["padded", "blur_w"], ["blurred"], name="box_blur"),
    ]
    initializers = [mean_w, blur_w, pads]
    if output_rank == 3:
        axes = numpy_helper.from_array(np.array([1], np.int64), "squeeze_axes")
        initializers.append(axes)
        nodes.append(helper.make_node("Squeeze", ["blurred", "squeeze_axes"], [output_name]))
        out_shape = [input_shape[0], input_shape[2], input_shape[3]]
    else:
        nodes.append(helper.make_node("Identity", ["blurred"], [output_name]))
        out_shape = [input_shape[0], 1, input_shape[2], input_shape[3]]
    g = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, out_shape)],
        initializers,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.doc_string = "stereosplat test model: relative disparity (near = large)"
    onnx.checker.check_model(model)
    return model


def main():
    dynamic = graph("tiny_depth", "pixel_values", ["batch", 3, "height", "width"],
                    "predicted_depth", 3)
    onnx.save(dynamic, os.path.join(HERE, "tiny-depth.onnx"))
    static = graph("tiny_depth_static", "image", [1, 3, 126, 224], "depth", 4)
    onnx.save(static, os.path.join(HERE, "tiny-depth-static.onnx"))

    vector = helper.make_graph(
        [helper.make_node("Relu", ["features"], ["activations"])],
        "not_an_image",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("activations", TensorProto.FLOAT, [1, 10])],
    )
    model = helper.make_model(vector, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    fixtures = os.path.join(HERE, "..", "tests", "fixtures")
    os.makedirs(fixtures, exist_ok=True)
    onnx.save(model, os.path.join(fixtures, "not-an-image.onnx"))


if __name__ == "__main__":
    main()
