"""ONNX node handlers: one function per exact ``op_type``, registered in :data:`HANDLERS`.

Each handler reads a node whose inputs are not all constant (constant nodes are folded before a
handler is asked) and adds operators to the :class:`~.onnx_graph.OnnxGraph`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from onnx import NodeProto, helper

from ..layers import LayerOp
from ..ops import conv_out
from .onnx_graph import OnnxGraph

Handler = Callable[[OnnxGraph, NodeProto], None]

# Pass-throughs: the output is the input (a type cast or an inference-time no-op).
SKIPPED = frozenset({"Identity", "Dropout", "Cast", "CastLike"})

# Element-wise functions of one activation (the other operands, if any, are constants).
UNARY: dict[str, str] = {
    "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Erf": "erf", "Gelu": "gelu", "Exp": "exp",
    "Log": "log", "Sqrt": "sqrt", "Reciprocal": "div", "Neg": "neg", "Abs": "abs", "HardSigmoid": "hsigmoid",
    "HardSwish": "hswish", "LeakyRelu": "leaky_relu", "Elu": "elu", "Softplus": "softplus", "Mish": "mish",
    "Floor": "round", "Ceil": "round", "Round": "round", "Sign": "cmp", "Not": "cmp", "PRelu": "leaky_relu",
    "IsNaN": "cmp", "IsInf": "cmp",
}
# The unary functions a conv or linear layer can apply as its outputs leave the array.
FUSABLE: dict[str, str] = {op: UNARY[op] for op in ("Relu", "Sigmoid", "Tanh", "Gelu", "HardSigmoid", "HardSwish",
                                                      "LeakyRelu", "Elu", "Softplus", "Mish")}
BINARY: dict[str, str] = {
    "Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "max", "Min": "min",
    "Sum": "add", "Mean": "add", "Where": "where", "Equal": "cmp", "Less": "cmp", "Greater": "cmp",
    "LessOrEqual": "cmp", "GreaterOrEqual": "cmp", "And": "min", "Or": "max", "Mod": "div",
}
MOVES: dict[str, str] = {
    "Concat": "concat", "Slice": "slice", "Transpose": "permute", "Reshape": "view", "Flatten": "view",
    "Squeeze": "view", "Unsqueeze": "view", "Pad": "pad", "Expand": "expand", "Tile": "expand",
    "DepthToSpace": "shuffle", "SpaceToDepth": "shuffle", "GatherElements": "slice", "GatherND": "slice",
    "Trilu": "copy", "ScatterND": "copy",
}
POOLS: dict[str, str] = {"MaxPool": "max", "AveragePool": "avg", "GlobalMaxPool": "max", "GlobalAveragePool": "avg",
                         "ReduceMax": "max", "ReduceMean": "avg", "ReduceSum": "avg", "ReduceMin": "max"}
NORMS: dict[str, str] = {"LayerNormalization": "layer", "InstanceNormalization": "instance",
                         "GroupNormalization": "group", "RMSNormalization": "rms"}
RESIZE_MODES: dict[str, str] = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic"}


def attrs(node: NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _decoded(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


# -- fusion of what follows a conv or linear layer --------------------------------------------------
def _act_fn(g: OnnxGraph, node: NodeProto) -> str | None:
    if node.op_type == "Clip":
        lo, hi = (g.value(node.input[i]) if len(node.input) > i else None for i in (1, 2))
        lo, hi = (None if v is None else float(v) for v in (lo, hi))
        return {(0.0, 6.0): "relu6", (0.0, None): "relu"}.get((lo, hi), "clamp")
    return FUSABLE.get(node.op_type)


def fuse_after(g: OnnxGraph, tensor: str) -> tuple[str, str, str, list[str]]:
    """Fold a batch norm, then an activation, that alone read ``tensor``.

    Returns the tensor the fused operator writes, its norm and act, and the batch norm's constants."""
    norm, act, consts = "none", "none", []
    nxt = g.only_consumer(tensor)
    if nxt is not None and nxt.op_type == "BatchNormalization" and nxt.input[0] == tensor \
            and all(g.is_const(x) for x in nxt.input[1:]) and not any(g.consumers.get(o) for o in nxt.output[1:]):
        g.done.add(id(nxt))
        norm, consts, tensor = "batch", list(nxt.input[1:]), nxt.output[0]
        nxt = g.only_consumer(tensor)
    if nxt is not None and g.activations(nxt) == [tensor] and _act_fn(g, nxt) is not None:
        g.done.add(id(nxt))
        act, tensor = _act_fn(g, nxt), nxt.output[0]
    return tensor, norm, act, consts


def _bias_after(g: OnnxGraph, tensor: str, channels: int) -> tuple[str, str | None]:
    """An ``Add`` of a constant vector of ``channels`` elements that alone reads ``tensor``: a bias."""
    nxt = g.only_consumer(tensor)
    if nxt is None or nxt.op_type != "Add" or len(nxt.input) != 2:
        return tensor, None
    other = nxt.input[1] if nxt.input[0] == tensor else nxt.input[0]
    shape = g.shapes.get(other)
    if g.is_const(other) and shape is not None and math.prod(shape) == channels and shape[-1:] == (channels,):
        g.done.add(id(nxt))
        return nxt.output[0], other
    return tensor, None


# -- the operators with MACs -------------------------------------------------------------------------
def _padding(g: OnnxGraph, node: NodeProto, a: dict[str, Any], size: tuple[int, ...], out: tuple[int, ...],
             kernel: list[int], strides: list[int], dilations: list[int]) -> tuple[int, int]:
    """Symmetric padding per spatial dimension that reproduces the inferred output size."""
    auto = _decoded(a.get("auto_pad", "NOTSET"))
    pads = list(a.get("pads", [0] * 4))
    padding = []
    for i in range(2):
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max((out[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size[i], 0)
        else:
            total = 0 if auto == "VALID" else pads[i] + pads[i + 2]
        fits = [p for p in (total // 2, (total + 1) // 2)
                if conv_out(size[i], kernel[i], strides[i], p, dilations[i]) == out[i]]
        if not fits:
            raise g.error(f"padding {pads} does not give the inferred output size {list(out)}", node)
        padding.append(fits[0])
    return padding[0], padding[1]


def conv(g: OnnxGraph, node: NodeProto) -> None:
    x, w = node.input[0], node.input[1]
    if g.is_const(x) or not g.is_const(w):
        raise g.error("a convolution must read an activation and a constant weight", node)
    shape = g.shape(x, node)
    if len(shape) != 4:
        raise g.error(f"only 2-D convolutions are supported; the input has shape {list(shape)}", node)
    a = attrs(node)
    kernel = list(a.get("kernel_shape", g.shape(w, node)[2:]))
    strides, dilations = list(a.get("strides", [1, 1])), list(a.get("dilations", [1, 1]))
    out = g.shape(node.output[0], node)
    padding = _padding(g, node, a, shape[2:], out[2:], kernel, strides, dilations)
    bias = len(node.input) > 2 and g.is_weight(node.input[2])  # not the zeros some exporters add
    shared = g.counted_already(w)
    tensor, norm, act, consts = fuse_after(g, node.output[0])
    g.emit(node, LayerOp.CONV, [x], tensor, weights=[*node.input[1:], *consts], kernel=tuple(kernel), shared=shared,
           stride=tuple(strides), padding=padding, dilation=tuple(dilations), groups=int(a.get("group", 1)),
           bias=bias, norm=norm, act=act)


def _linear(g: OnnxGraph, node: NodeProto, x: str, weight: str, bias: str | None) -> None:
    tensor = node.output[0]
    if bias is None:
        tensor, bias = _bias_after(g, tensor, g.shape(tensor, node)[-1])
    shared = g.counted_already(weight)  # a tied weight (e.g. a language model head's)
    tensor, norm, act, consts = fuse_after(g, tensor)
    g.emit(node, LayerOp.LINEAR, [x], tensor, weights=[weight, bias or "", *consts], bias=g.is_weight(bias),
           norm=norm, act=act, shared=shared)


def matmul(g: OnnxGraph, node: NodeProto) -> None:
    a, b = node.input[0], node.input[1]
    if g.is_const(a):
        raise g.error("a MatMul of a constant by an activation (W @ x) is not supported", node)
    if len(g.shape(a, node)) < 2 or len(g.shape(b, node)) < 2:
        raise g.error("MatMul of a vector (rank 1) is not supported", node)
    if g.is_const(b):
        if len(g.shape(b, node)) != 2:
            raise g.error(f"a MatMul by a constant of shape {list(g.shape(b, node))} (not a matrix)", node)
        _linear(g, node, a, b, None)
    else:
        g.emit(node, LayerOp.MATMUL, [a, b], node.output[0])


def gemm(g: OnnxGraph, node: NodeProto) -> None:
    a = attrs(node)
    x, w = node.input[0], node.input[1]
    c = node.input[2] if len(node.input) > 2 and node.input[2] else None
    if a.get("transA", 0) or g.is_const(x):
        raise g.error("a Gemm must read an activation A, not transposed", node)
    if g.is_const(w) and (c is None or g.is_const(c)):
        _linear(g, node, x, w, c)
    elif not g.is_const(w) and not a.get("transB", 0) and c is None:
        g.emit(node, LayerOp.MATMUL, [x, w], node.output[0])
    else:
        raise g.error("a Gemm of two activations with a transposed B or an added C is not supported", node)


# -- element-wise, normalization, pooling --------------------------------------------------------------
def _eltwise(fn: str) -> Handler:
    def handle(g: OnnxGraph, node: NodeProto) -> None:
        params = g.take([x for x in node.input if x and g.is_const(x)])  # e.g. a position embedding
        g.emit(node, LayerOp.ELTWISE, g.activations(node), node.output[0], fn=fn, params=params)
    return handle


def clip(g: OnnxGraph, node: NodeProto) -> None:
    g.emit(node, LayerOp.ELTWISE, g.activations(node), node.output[0], fn=_act_fn(g, node))


def batch_norm(g: OnnxGraph, node: NodeProto) -> None:
    g.emit(node, LayerOp.NORM, [node.input[0]], node.output[0], weights=node.input[1:], fn="batch",
           affine=2 * g.shape(node.input[0], node)[1])


def _norm(fn: str) -> Handler:
    def handle(g: OnnxGraph, node: NodeProto) -> None:
        affine = g.take(node.input[1:])  # scale and shift, each counted once
        g.emit(node, LayerOp.NORM, [node.input[0]], node.output[0], fn=fn, affine=affine)
    return handle


def _reduced_axes(g: OnnxGraph, node: NodeProto, shape: tuple[int, ...]) -> list[int]:
    """The axes a reduction removes, read from the inferred shapes (the axes may be computed)."""
    out = g.shape(node.output[0], node)
    if len(out) == len(shape):
        return [i for i, (d, o) in enumerate(zip(shape, out, strict=True)) if d != o]
    if shape[:len(out)] == out:
        return list(range(len(out), len(shape)))
    raise g.error(f"a reduction of {list(shape)} to {list(out)} over other than trailing axes is not supported", node)


def _chain(g: OnnxGraph, tensor: str, op_types: tuple[str, ...]) -> list[NodeProto] | None:
    """The nodes of ``op_types`` that each alone read the previous one's output, if they all do."""
    nodes = []
    for op_type in op_types:
        nxt = g.only_consumer(tensor)
        if nxt is None or nxt.op_type != op_type:
            return None
        nodes.append(nxt)
        tensor = nxt.output[0]
    return nodes


def layer_norm_pattern(g: OnnxGraph, node: NodeProto) -> bool:
    """A layer norm exported before opset 17 as ``ReduceMean -> Sub -> Pow -> ReduceMean -> Add ->
    Sqrt -> Div``, then optionally ``Mul`` by a scale and ``Add`` of a shift: one norm operator."""
    x, mean = node.input[0], node.output[0]
    shape = g.shape(x, node)
    sub = g.only_consumer(mean)
    if g.shapes.get(mean) != (*shape[:-1], 1) or sub is None or sub.op_type != "Sub" or list(sub.input) != [x, mean]:
        return False
    users = {u.op_type: u for u in g.consumers.get(sub.output[0], [])}
    if len(g.consumers[sub.output[0]]) != 2 or set(users) != {"Pow", "Div"}:
        return False
    variance = _chain(g, users["Pow"].output[0], ("ReduceMean", "Add", "Sqrt"))
    div = users["Div"]
    if variance is None or list(div.input) != [sub.output[0], variance[-1].output[0]]:
        return False
    affine, out = [], div.output[0]
    for op_type in ("Mul", "Add"):
        nxt = g.only_consumer(out)
        if nxt is None or nxt.op_type != op_type or not any(g.is_weight(i) for i in nxt.input):
            break
        affine.append(nxt)
        out = nxt.output[0]
    g.done.update(id(n) for n in (sub, users["Pow"], *variance, div, *affine))
    params = g.take([i for n in affine for i in n.input if g.is_const(i)])
    g.emit(node, LayerOp.NORM, [x], out, fn="layer", affine=params)
    return True


def pool(g: OnnxGraph, node: NodeProto) -> None:
    x = node.input[0]
    shape = g.shape(x, node)
    if node.op_type == "ReduceMean" and layer_norm_pattern(g, node):
        return
    a = attrs(node)
    if node.op_type.startswith("Global") or node.op_type.startswith("Reduce"):
        axes = list(range(2, len(shape))) if node.op_type.startswith("Global") else _reduced_axes(g, node, shape)
        if len(shape) < 3 or not axes or min(axes) < max(2, len(shape) - 2):
            raise g.error(f"a reduction over axes {axes} of a {list(shape)} tensor is not supported "
                          "(only over the last one or two axes)", node)
        kernel = (1, shape[-1]) if len(axes) == 1 else (shape[-2], shape[-1])
        g.emit(node, LayerOp.POOL, [x], node.output[0], fn=POOLS[node.op_type], kernel=kernel, stride=kernel)
        return
    if len(shape) != 4:
        raise g.error(f"only 2-D pooling is supported; the input has shape {list(shape)}", node)
    if len(node.output) > 1 and g.consumers.get(node.output[1]):
        raise g.error("the indices output of MaxPool is not supported", node)
    pads = list(a.get("pads", [0] * 4))
    g.emit(node, LayerOp.POOL, [x], node.output[0], fn=POOLS[node.op_type], kernel=tuple(a["kernel_shape"]),
           stride=tuple(a.get("strides", [1, 1])), padding=(pads[0], pads[1]),
           ceil_mode=bool(a.get("ceil_mode", 0)))


def softmax(g: OnnxGraph, node: NodeProto) -> None:
    g.emit(node, LayerOp.SOFTMAX, [node.input[0]], node.output[0])


# -- tables, resizing, data movement -------------------------------------------------------------------
def gather(g: OnnxGraph, node: NodeProto) -> None:
    data, index = node.input[0], node.input[1]
    if g.is_const(data):  # a table look-up: an embedding
        shape = g.shape(data, node)
        if len(shape) != 2 or attrs(node).get("axis", 0) != 0:
            raise g.error(f"a Gather from a constant of shape {list(shape)} that is not an embedding table", node)
        g.emit(node, LayerOp.EMBEDDING, [index], node.output[0], weights=[data], num=shape[0])
    else:
        g.emit(node, LayerOp.MOVE, [data], node.output[0], fn="slice")


def resize(g: OnnxGraph, node: NodeProto) -> None:
    mode = _decoded(attrs(node).get("mode", "nearest"))
    if mode not in RESIZE_MODES:
        raise g.error(f"resize mode {mode!r} is not supported (known: {sorted(RESIZE_MODES)})", node)
    g.emit(node, LayerOp.UPSAMPLE, [node.input[0]], node.output[0], fn=RESIZE_MODES[mode])


def _move(fn: str) -> Handler:
    def handle(g: OnnxGraph, node: NodeProto) -> None:
        params = g.take([x for x in node.input if x and g.is_const(x)])  # e.g. a concatenated class token
        data = g.activations(node) if fn == "concat" else [node.input[0]]
        g.emit(node, LayerOp.MOVE, data, node.output[0], fn=fn, params=params)
    return handle


def split(g: OnnxGraph, node: NodeProto) -> None:
    for out in node.output:
        if out:
            g.emit(node, LayerOp.MOVE, [node.input[0]], out, fn="slice")


HANDLERS: dict[str, Handler] = {
    "Conv": conv, "MatMul": matmul, "Gemm": gemm, "Clip": clip, "BatchNormalization": batch_norm,
    "Softmax": softmax, "LogSoftmax": softmax, "Gather": gather, "Resize": resize, "Upsample": resize,
    "Split": split,
    **{op: _eltwise(fn) for op, fn in {**UNARY, **BINARY}.items()},
    **{op: _norm(fn) for op, fn in NORMS.items()},
    **{op: pool for op in POOLS},
    **{op: _move(fn) for op, fn in MOVES.items()},
}
