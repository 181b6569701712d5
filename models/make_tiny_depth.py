#!/usr/bin/env python3
"""Writes the tiny ONNX depth models the tests run through the real ONNX Runtime path.

They stand in for Depth-Anything-V2 exports (SPEC section 4): an NCHW float32 image
normalised with ImageNet mean/std in, relative disparity (near = large) out. The "depth"
they compute is simple and predictable so tests can check it against a CPU reference:
the mean of the three normalised channels (bright = near), smoothed by a 3x3 box filter
with edge padding.

  tiny-depth.onnx         input `pixel_values` [B,3,H,W] dynamic, output `predicted_depth` [B,H,W]
  tiny-depth-static.onnx  input `image` [1,3,126,224] static,     output `depth` [1,1,126,224]
  tiny-depth-fp16.onnx    as tiny-depth.onnx, with float16 input and output
  tiny-depth-asym.onnx    channel mean, then a lopsided 1x3 filter [0.6 0.3 0.1] along x:
                          a mirrored frame gives a different map (for --tta)
  tiny-depth-half.onnx    channel mean, 2x2 average pooling: a map at half the input size
  tiny-depth-multi.onnx   three outputs: `logits` [B,4] (no map), `aux` [B,H,W] (the
                          negated mean) and `depth` [B,1,H,W] (as tiny-depth): the depth one
                          is found by name and shape, and --depth-output picks another
  tiny-video-depth.onnx   a video model: `frames` [1,32,3,H,W] in, `depth` [1,32,H,W] out:
                          g (1 + m) + m + 0.3 k for each frame's channel mean g, with m the
                          mean of the whole window and k the per-pixel mean of g over the
                          window's first 10 slots. Every window has its own scale and
                          shift (which the sliding windows must align), and the overlap
                          slots leave a pattern in every frame (so a wrong key frame shows)

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


def save(model, name):
    model.ir_version = 8
    model.doc_string = "stereosplat test model: relative disparity (near = large)"
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(HERE, name))


def opset(g):
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def fp16_model():
    # Cast in, the tiny-depth graph, cast out.
    base = graph("tiny_depth_fp16", "pixel_values_f32", ["batch", 3, "height", "width"],
                 "depth_f32", 3)
    g = base.graph
    nodes = [helper.make_node("Cast", ["pixel_values"], ["pixel_values_f32"], to=TensorProto.FLOAT)]
    nodes += list(g.node)
    nodes.append(helper.make_node("Cast", ["depth_f32"], ["predicted_depth"], to=TensorProto.FLOAT16))
    new = helper.make_graph(
        nodes,
        "tiny_depth_fp16",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT16, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT16, ["batch", "height", "width"])],
        list(g.initializer),
    )
    return opset(new)


def asym_model():
    mean_w = numpy_helper.from_array(np.full((1, 3, 1, 1), 1.0 / 3.0, np.float32), "mean_w")
    k = numpy_helper.from_array(np.array([[[[0.6, 0.3, 0.1]]]], np.float32), "k")
    pads = numpy_helper.from_array(np.array([0, 0, 0, 1, 0, 0, 0, 1], np.int64), "pads")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("Conv", ["image", "mean_w"], ["grey"]),
        helper.make_node("Pad", ["grey", "pads"], ["padded"], mode="edge"),
        helper.make_node("Conv", ["padded", "k"], ["filtered"]),
        helper.make_node("Squeeze", ["filtered", "axes"], ["depth"]),
    ]
    g = helper.make_graph(
        nodes, "tiny_depth_asym",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, ["batch", "height", "width"])],
        [mean_w, k, pads, axes],
    )
    return opset(g)


def half_model():
    mean_w = numpy_helper.from_array(np.full((1, 3, 1, 1), 1.0 / 3.0, np.float32), "mean_w")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("Conv", ["image", "mean_w"], ["grey"]),
        helper.make_node("AveragePool", ["grey"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Squeeze", ["pooled", "axes"], ["depth"]),
    ]
    g = helper.make_graph(
        nodes, "tiny_depth_half",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, ["batch", "half_height", "half_width"])],
        [mean_w, axes],
    )
    return opset(g)


def multi_model():
    base = graph("tiny_depth_multi", "image", ["batch", 3, "height", "width"], "depth", 4).graph
    nodes = list(base.node)
    mean_w2 = numpy_helper.from_array(np.full((1, 3, 1, 1), -1.0 / 3.0, np.float32), "neg_mean_w")
    axes = numpy_helper.from_array(np.array([1], np.int64), "aux_axes")
    nodes += [
        helper.make_node("Conv", ["image", "neg_mean_w"], ["neg"]),
        helper.make_node("Squeeze", ["neg", "aux_axes"], ["aux"]),
        helper.make_node("ReduceMean", ["image"], ["logits_raw"], axes=[2, 3], keepdims=0),
        helper.make_node("Concat", ["logits_raw", "logits_raw"], ["logits_pair"], axis=1),
        helper.make_node("Slice", ["logits_pair", "s0", "s1", "s2"], ["logits"]),
    ]
    inits = list(base.initializer) + [
        mean_w2, axes,
        numpy_helper.from_array(np.array([0], np.int64), "s0"),
        numpy_helper.from_array(np.array([4], np.int64), "s1"),
        numpy_helper.from_array(np.array([1], np.int64), "s2"),
    ]
    g = helper.make_graph(
        nodes, "tiny_depth_multi",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4]),
            helper.make_tensor_value_info("aux", TensorProto.FLOAT, ["batch", "height", "width"]),
            helper.make_tensor_value_info("depth", TensorProto.FLOAT, ["batch", 1, "height", "width"]),
        ],
        inits,
    )
    return opset(g)


def video_model():
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    k_weight = numpy_helper.from_array(np.array(0.3, np.float32), "k_weight")
    shape = numpy_helper.from_array(np.array([-1, 1, 1, 1], np.int64), "m_shape")
    starts = numpy_helper.from_array(np.array([0], np.int64), "starts")
    ends = numpy_helper.from_array(np.array([10], np.int64), "ends")
    slice_axes = numpy_helper.from_array(np.array([1], np.int64), "slice_axes")
    nodes = [
        helper.make_node("ReduceMean", ["frames"], ["g"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["frames"], ["m0"], axes=[1, 2, 3, 4], keepdims=0),
        helper.make_node("Reshape", ["m0", "m_shape"], ["m"]),
        helper.make_node("Add", ["m", "one"], ["scale"]),
        helper.make_node("Mul", ["g", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "m"], ["affine"]),
        helper.make_node("Slice", ["g", "starts", "ends", "slice_axes"], ["overlap"]),
        helper.make_node("ReduceMean", ["overlap"], ["k"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["k", "k_weight"], ["k_part"]),
        helper.make_node("Add", ["affine", "k_part"], ["depth"]),
    ]
    g = helper.make_graph(
        nodes, "tiny_video_depth",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, 32, 3, "height", "width"])],
        [helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 32, "height", "width"])],
        [one, k_weight, shape, starts, ends, slice_axes],
    )
    return opset(g)


def main():
    save(fp16_model(), "tiny-depth-fp16.onnx")
    save(asym_model(), "tiny-depth-asym.onnx")
    save(half_model(), "tiny-depth-half.onnx")
    save(multi_model(), "tiny-depth-multi.onnx")
    save(video_model(), "tiny-video-depth.onnx")
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
