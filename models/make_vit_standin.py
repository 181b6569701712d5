#!/usr/bin/env python3
"""A benchmark stand-in for Depth-Anything-V2-Small: a ViT-S/14 encoder (12 blocks,
width 384, 6 heads, MLP 1536) with random weights and a light upsampling head, dynamic
H/W, `pixel_values` [B,3,H,W] -> `predicted_depth` [B,H,W]. Its depth is meaningless; its
compute is close to the real encoder's, so BENCHMARKS.md can put stereosplat's own
per-frame work next to a realistic model run time on machines without the real weights.

  pip install onnx numpy && python3 models/make_vit_standin.py /tmp/vit-standin.onnx
(about 90 MB: not committed.)

With `--video T` it stands in for a video depth model instead (Video Depth Anything
Small's encoder cost): `video` [B,T,3,H,W] -> `depth` [B,T,H,W], each frame through the
same encoder, so the window machinery's cost can be put beside a realistic model time:

  python3 models/make_vit_standin.py /tmp/vit-video-standin.onnx --video 32
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

D, HEADS, MLP, BLOCKS, PATCH = 384, 6, 1536, 12, 14
rng = np.random.default_rng(0)
inits, nodes = [], []


def w(name, shape, scale=0.02):
    inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
    return name


def c(name, values, dtype=np.int64):
    inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
    return name


def node(op, ins, outs, **kw):
    nodes.append(helper.make_node(op, ins, outs, **kw))
    return outs[0]


args = sys.argv[1:]
VIDEO_T = None
if "--video" in args:
    i = args.index("--video")
    VIDEO_T = int(args[i + 1])
    del args[i:i + 2]
if VIDEO_T:
    # The clip window flattened to a batch of frames: [B*T, 3, H, W].
    vshape = node("Shape", ["video"], ["vshape"])
    flat = node("Concat", [c("flat_bt", [-1, 3]), node("Slice", [vshape, c("v3", [3]), c("v5", [5])], ["vhw"])],
                ["vflat"], axis=0)
    node("Reshape", ["video", flat], ["pixel_values"])

x = node("Conv", ["pixel_values", w("patch_w", (D, 3, PATCH, PATCH)), w("patch_b", (D,))], ["patches"],
         strides=[PATCH, PATCH])
shape = node("Shape", [x], ["pshape"])
hw = node("Slice", [shape, c("s2", [2]), c("s4", [4])], ["hw"])
tokens = node("Reshape", [x, c("flat", [0, D, -1])], ["tok0"])
t = node("Transpose", [tokens], ["tok"], perm=[0, 2, 1])
for i in range(BLOCKS):
    p = f"b{i}_"
    h = node("LayerNormalization", [t, w(p + "ln1g", (D,), 1.0), w(p + "ln1b", (D,))], [p + "ln1"], axis=-1)
    qkv = node("MatMul", [h, w(p + "qkv", (D, 3 * D))], [p + "qkv_o"])
    qkv = node("Reshape", [qkv, c(p + "qs", [0, -1, 3, HEADS, D // HEADS])], [p + "qkv_r"])
    qkv = node("Transpose", [qkv], [p + "qkv_t"], perm=[2, 0, 3, 1, 4])
    q = node("Gather", [qkv, c(p + "i0", 0)], [p + "q"], axis=0)
    k = node("Gather", [qkv, c(p + "i1", 1)], [p + "k"], axis=0)
    v = node("Gather", [qkv, c(p + "i2", 2)], [p + "v"], axis=0)
    kt = node("Transpose", [k], [p + "kt"], perm=[0, 1, 3, 2])
    a = node("MatMul", [q, kt], [p + "att"])
    a = node("Mul", [a, c(p + "scale", np.float32((D // HEADS) ** -0.5), np.float32)], [p + "att_s"])
    a = node("Softmax", [a], [p + "att_p"], axis=-1)
    o = node("MatMul", [a, v], [p + "o"])
    o = node("Transpose", [o], [p + "o_t"], perm=[0, 2, 1, 3])
    o = node("Reshape", [o, c(p + "os", [0, -1, D])], [p + "o_r"])
    o = node("MatMul", [o, w(p + "proj", (D, D))], [p + "proj_o"])
    t = node("Add", [t, o], [p + "res1"])
    h = node("LayerNormalization", [t, w(p + "ln2g", (D,), 1.0), w(p + "ln2b", (D,))], [p + "ln2"], axis=-1)
    h = node("MatMul", [h, w(p + "fc1", (D, MLP))], [p + "fc1_o"])
    h = node("Gelu", [h], [p + "gelu"])
    h = node("MatMul", [h, w(p + "fc2", (MLP, D))], [p + "fc2_o"])
    t = node("Add", [t, h], [p + "res2"])
# Head: one value per patch, back to a map, then upsampled to the input size.
d = node("MatMul", [t, w("head", (D, 1))], ["head_o"])
d = node("Transpose", [d], ["head_t"], perm=[0, 2, 1])
grid = node("Concat", [c("b1", [0, 1]), hw], ["grid"], axis=0)
d = node("Reshape", [d, grid], ["dmap"])
in_shape = node("Shape", ["pixel_values"], ["ishape"])
out_hw = node("Slice", [in_shape, c("s2b", [2]), c("s4b", [4])], ["ohw"])
sizes = node("Concat", [node("Slice", [in_shape, c("s0", [0]), c("s1", [1])], ["bdim"]), c("one", [1]), out_hw],
             ["sizes"], axis=0)
d = node("Resize", [d, "", "", sizes], ["up"], mode="linear")
node("Squeeze", [d, c("ax1", [1])], ["predicted_depth"])
if VIDEO_T:
    # Back to windows: [B, T, H, W].
    bt = node("Concat", [c("win", [-1, VIDEO_T]), out_hw], ["wshape"], axis=0)
    node("Reshape", ["predicted_depth", bt], ["depth"])
    inputs = [helper.make_tensor_value_info("video", TensorProto.FLOAT, ["batch", VIDEO_T, 3, "height", "width"])]
    outputs = [helper.make_tensor_value_info("depth", TensorProto.FLOAT, ["batch", VIDEO_T, "height", "width"])]
else:
    inputs = [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", 3, "height", "width"])]
    outputs = [helper.make_tensor_value_info("predicted_depth", TensorProto.FLOAT, ["batch", "height", "width"])]

graph = helper.make_graph(nodes, "vit_s14_standin", inputs, outputs, inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
model.ir_version = 9
onnx.checker.check_model(model)
onnx.save(model, args[0] if args else "vit-standin.onnx")
