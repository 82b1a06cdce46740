"""The operator kinds of graph networks: each kind's attributes, checks and counting rules.

Each kind has one :class:`KindSpec` in :data:`KINDS`: its attributes with their defaults, the check
of an operator's shapes and attributes, and its counts (MACs of conv / linear / matmul only;
``other_ops`` the rest of the arithmetic; ``weights`` every trainable parameter the operator owns;
activations in elements, as :mod:`hwpower.networks.layers` counts them). A new kind is added here:
its enum value in :class:`~hwpower.networks.layers.LayerOp`, its JSON name in :data:`KIND_NAMES` and
its :class:`KindSpec`. Nothing matches kinds by substring. The operator itself, with its JSON form,
is :class:`hwpower.networks.ops.Op`. Shapes carry the batch: (N, C, H, W) for images, (N, L, D)
for tokens.

Two conventions keep the counts those of the frameworks and the costs those of real accelerators:

- A convolution or linear layer may carry the batch norm that follows it (``norm: "batch"``,
  folded at inference: 2 parameters per channel, no separate pass) and the activation that
  follows it (``act``: applied as outputs leave the array, no separate pass, no counted ops).
- ``params`` counts parameters an operator consumes beyond its kind's own (a layer scale, a class
  token or position embedding added or concatenated), so that weights add up exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .layers import LayerOp, OpGeometry

if TYPE_CHECKING:  # the rules take operators; ops.py imports this module, not the other way
    from .ops import Op

Shape = tuple[int, ...]

# JSON names of the kinds (``conv2d`` rather than the enum's ``CONV``).
KIND_NAMES: dict[LayerOp, str] = {
    LayerOp.CONV: "conv2d", LayerOp.LINEAR: "linear", LayerOp.MATMUL: "matmul", LayerOp.ELTWISE: "eltwise",
    LayerOp.NORM: "norm", LayerOp.POOL: "pool", LayerOp.SOFTMAX: "softmax", LayerOp.EMBEDDING: "embedding",
    LayerOp.UPSAMPLE: "upsample", LayerOp.MOVE: "move",
}
KIND_BY_NAME: dict[str, LayerOp] = {v: k for k, v in KIND_NAMES.items()}

# Arithmetic operations per output element of element-wise functions (an add or compare is 1; the
# transcendental ones as a short polynomial or table look-up with a few multiply-adds).
ELTWISE_FNS: dict[str, int] = {
    "add": 1, "sub": 1, "mul": 1, "div": 1, "max": 1, "min": 1, "where": 1,
    "relu": 1, "relu6": 1, "leaky_relu": 2, "hardtanh": 1, "neg": 1, "abs": 1, "scale": 1,
    "hswish": 4, "hsigmoid": 3, "sigmoid": 8, "swish": 9, "silu": 9, "gelu": 10, "tanh": 8, "exp": 8,
    "sqrt": 8, "rsqrt": 8, "log": 8, "pow": 8, "erf": 8, "mish": 12, "softplus": 8, "elu": 8,
    "clamp": 1, "copy": 0, "cmp": 1, "round": 1,
}
ACT_FNS = ("none", *sorted(k for k in ELTWISE_FNS
                           if k not in ("add", "sub", "mul", "div", "max", "min", "where", "copy", "cmp", "round")))
# Operations per element: folded batch norm is a scale and shift; the others compute mean and
# variance, then normalize, scale and shift.
NORM_FNS: dict[str, int] = {"batch": 2, "layer": 7, "group": 7, "instance": 7, "rms": 5}
POOL_FNS = ("max", "avg")
SOFTMAX_OPS = 5  # max, subtract, exp (a table look-up), sum, divide
UPSAMPLE_FNS: dict[str, int] = {"nearest": 0, "bilinear": 7, "bicubic": 20}
# Data movement. A view changes no byte in memory (a contiguous reshape) and so moves no data.
MOVE_FNS = ("concat", "slice", "permute", "shuffle", "pad", "expand", "copy", "view")


def numel(shape: Shape) -> int:
    return math.prod(shape)


@dataclass(frozen=True)
class KindSpec:
    """Attributes (with defaults) and counting rules of one operator kind."""

    attrs: Mapping[str, Any]
    check: Callable[[Op], None]
    macs: Callable[[Op], int] = lambda op: 0
    other_ops: Callable[[Op], int] = lambda op: 0
    weights: Callable[[Op], int] = lambda op: 0
    geometry: Callable[[Op], OpGeometry] = lambda op: OpGeometry(1, 1, 1, 0, 0, op.in_act, op.out_act)


def as_pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise ValueError(f"{name} must be an integer or a pair of integers, got {list(value)!r}")
    return value


def _one_of(value: Any, allowed: Any, name: str) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


# -- conv2d ----------------------------------------------------------------------------------------
def conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def _check_conv(op: Op) -> None:
    (n, c, h, w), out = op.in_shapes[0], op.out_shape
    k, s, p, d = (as_pair(op.attr(a), a) for a in ("kernel", "stride", "padding", "dilation"))
    g = op.attr("groups")
    if len(op.in_shapes) != 1:
        raise ValueError("a convolution reads one activation")
    if g < 1 or c % g or out[1] % g:
        raise ValueError(f"groups={g} must divide input channels {c} and output channels {out[1]}")
    want = (n, out[1], conv_out(h, k[0], s[0], p[0], d[0]), conv_out(w, k[1], s[1], p[1], d[1]))
    if tuple(out) != want:
        raise ValueError(f"output shape {list(out)} does not follow from input {[n, c, h, w]}: expected {list(want)}")
    _one_of(op.attr("norm"), ("none", "batch"), "norm")
    _one_of(op.attr("act"), ACT_FNS, "act")


def _conv_geometry(op: Op) -> OpGeometry:
    (n, c, _, _), (_, k, p, q) = op.in_shapes[0], op.out_shape
    g = op.attr("groups")
    kh, kw = as_pair(op.attr("kernel"), "kernel")
    red = c // g * kh * kw
    return OpGeometry(g, red, k // g, n * p * q, k * red, op.in_act, op.out_act)


def _conv_weights(op: Op) -> int:
    k = op.out_shape[1]
    own = 0 if op.attr("shared") else _conv_geometry(op).w_words + k * int(op.attr("bias"))
    return own + 2 * k * (op.attr("norm") == "batch")


# -- linear and matmul -----------------------------------------------------------------------------
def _check_linear(op: Op) -> None:
    if len(op.in_shapes) != 1:
        raise ValueError("a linear layer reads one activation (its weight is a parameter)")
    x, out = op.in_shapes[0], op.out_shape
    if tuple(x[:-1]) != tuple(out[:-1]):
        raise ValueError(f"input {list(x)} and output {list(out)} must agree on all but the last dimension")
    _one_of(op.attr("norm"), ("none", "batch"), "norm")
    _one_of(op.attr("act"), ACT_FNS, "act")


def _linear_geometry(op: Op) -> OpGeometry:
    c_in, c_out = op.in_shapes[0][-1], op.out_shape[-1]
    return OpGeometry(1, c_in, c_out, numel(op.out_shape[:-1]), c_in * c_out, op.in_act, op.out_act)


def _check_matmul(op: Op) -> None:
    if len(op.in_shapes) != 2:
        raise ValueError("a matmul reads two activations A (.., M, K) and B (.., K, N)")
    a, b = op.in_shapes
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise ValueError(f"A {list(a)} and B {list(b)} do not multiply (A's last dimension must be B's second last)")
    if op.out_shape[-2:] != (a[-2], b[-1]) or numel(op.out_shape[:-2]) < max(numel(a[:-2]), numel(b[:-2])):
        raise ValueError(f"output {list(op.out_shape)} does not follow from A {list(a)} x B {list(b)}")
    _one_of(op.attr("act"), ACT_FNS, "act")


def _matmul_geometry(op: Op) -> OpGeometry:
    a, b = op.in_shapes
    batch = numel(op.out_shape[:-2])
    # B is the stationary operand, fetched like weights; each of the batch's problems loads its own
    # B into the array, so a B broadcast across heads is read once per head (as ZigZag counts it).
    return OpGeometry(batch, a[-1], b[-1], a[-2], batch * a[-1] * b[-1], numel(a), op.out_act)


# -- the kinds without MACs ---------------------------------------------------------------------
def _check_eltwise(op: Op) -> None:
    fn = op.attr("fn")
    _one_of(fn, ELTWISE_FNS, "fn")
    for s in op.in_shapes:  # inputs broadcast to the output
        if len(s) > len(op.out_shape) or any(d not in (1, o) for d, o in zip(reversed(s), reversed(op.out_shape))):
            raise ValueError(f"input {list(s)} does not broadcast to the output {list(op.out_shape)}")


def _eltwise_ops(op: Op) -> int:
    return op.out_act * max(len(op.in_shapes) - 1, 1) * ELTWISE_FNS[op.attr("fn")]


def _check_same_shape(op: Op) -> None:
    if len(op.in_shapes) != 1 or op.in_shapes[0] != op.out_shape:
        raise ValueError(f"expects one input of the output's shape {list(op.out_shape)}, got {[list(s) for s in op.in_shapes]}")


def _check_norm(op: Op) -> None:
    _check_same_shape(op)
    _one_of(op.attr("fn"), NORM_FNS, "fn")
    _one_of(op.attr("act"), ACT_FNS, "act")
    if op.attr("affine") < 0:
        raise ValueError("affine (parameters of the scale and shift) must be >= 0")


def _check_pool(op: Op) -> None:
    _one_of(op.attr("fn"), POOL_FNS, "fn")
    (n, c, *_), out = op.in_shapes[0], op.out_shape
    k, s = as_pair(op.attr("kernel"), "kernel"), as_pair(op.attr("stride"), "stride")
    as_pair(op.attr("padding"), "padding")
    if len(op.in_shapes) != 1 or out[:2] != (n, c) or min(k + s) < 1:
        raise ValueError(f"pooling keeps batch and channels: input {list(op.in_shapes[0])}, output {list(out)}")


def _pool_ops(op: Op) -> int:
    kh, kw = as_pair(op.attr("kernel"), "kernel")
    return op.out_act * kh * kw


def _check_softmax(op: Op) -> None:
    _check_same_shape(op)


def _check_embedding(op: Op) -> None:
    if op.attr("num") < 1:
        raise ValueError("num (rows of the table) must be positive")
    if len(op.in_shapes) != 1 or op.out_shape[:-1] != op.in_shapes[0]:
        raise ValueError(f"indices {[list(s) for s in op.in_shapes]} must give the output {list(op.out_shape)} less its last dimension")


def _embedding_geometry(op: Op) -> OpGeometry:
    return OpGeometry(1, 1, 1, 0, op.out_act, op.in_act, op.out_act)  # gathers one row per index


def _check_upsample(op: Op) -> None:
    _one_of(op.attr("fn"), UPSAMPLE_FNS, "fn")
    if len(op.in_shapes) != 1 or op.in_shapes[0][:2] != op.out_shape[:2]:
        raise ValueError("upsampling keeps batch and channels")


def _check_move(op: Op) -> None:
    _one_of(op.attr("fn"), MOVE_FNS, "fn")
    if op.attr("fn") == "view" and numel(op.in_shapes[0]) != op.out_act:
        raise ValueError(f"a view keeps the element count: {list(op.in_shapes[0])} -> {list(op.out_shape)}")


def _move_geometry(op: Op) -> OpGeometry:
    if op.attr("fn") == "view":
        return OpGeometry(1, 1, 1, 0, 0, 0, 0)
    return OpGeometry(1, 1, 1, 0, 0, op.in_act, op.out_act)


# shared: the kernel (and bias) is another operator's, applied again (a detection head run on
# every pyramid level, tied embeddings): read like any kernel, counted among the weights once.
_MAC_ATTRS = {"norm": "none", "act": "none", "bias": False, "shared": False}
KINDS: dict[LayerOp, KindSpec] = {
    LayerOp.CONV: KindSpec({"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0), "dilation": (1, 1), "groups": 1,
                            **_MAC_ATTRS}, _check_conv,
                           macs=lambda op: _conv_geometry(op).macs_of(), weights=_conv_weights, geometry=_conv_geometry),
    LayerOp.LINEAR: KindSpec(dict(_MAC_ATTRS), _check_linear,
                             macs=lambda op: _linear_geometry(op).macs_of(),
                             weights=lambda op: 0 if op.attr("shared") else _linear_geometry(op).w_words + (
                                 op.out_shape[-1] * int(op.attr("bias"))) + 2 * op.out_shape[-1] * (
                                 op.attr("norm") == "batch"),
                             geometry=_linear_geometry),
    LayerOp.MATMUL: KindSpec({"act": "none"}, _check_matmul, macs=lambda op: _matmul_geometry(op).macs_of(),
                             geometry=_matmul_geometry),
    LayerOp.ELTWISE: KindSpec({"fn": "add"}, _check_eltwise, other_ops=_eltwise_ops),
    LayerOp.NORM: KindSpec({"fn": "layer", "affine": 0, "act": "none"}, _check_norm,
                           other_ops=lambda op: op.out_act * NORM_FNS[op.attr("fn")],
                           weights=lambda op: op.attr("affine")),
    LayerOp.POOL: KindSpec({"fn": "max", "kernel": (1, 1), "stride": (1, 1), "padding": (0, 0), "ceil_mode": False},
                           _check_pool, other_ops=_pool_ops),
    LayerOp.SOFTMAX: KindSpec({}, _check_softmax, other_ops=lambda op: op.out_act * SOFTMAX_OPS),
    LayerOp.EMBEDDING: KindSpec({"num": 1}, _check_embedding, weights=lambda op: op.attr("num") * op.out_shape[-1],
                                geometry=_embedding_geometry),
    LayerOp.UPSAMPLE: KindSpec({"fn": "nearest"}, _check_upsample,
                               other_ops=lambda op: op.out_act * UPSAMPLE_FNS[op.attr("fn")]),
    LayerOp.MOVE: KindSpec({"fn": "copy"}, _check_move, geometry=_move_geometry),
}
