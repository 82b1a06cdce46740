"""ATen converters for the operators without MACs: norms (folded into the convolution or linear
layer before them when they are its only reader), activations (folded likewise), element-wise
arithmetic, reductions, pooling, softmax, embedding and upsampling."""

from __future__ import annotations

import math

from torch import fx

from ..layers import LayerOp
from ..ops import Shape, numel
from .aten_registry import arg, aten, converts, pairs, shape_of
from .fx_walk import Walk

_FOLD_INTO = (LayerOp.CONV, LayerOp.LINEAR)


# -- norms -------------------------------------------------------------------------------------
@converts(aten.batch_norm.default, aten._native_batch_norm_legit_no_training.default, aten.native_batch_norm.default)
def _batch_norm(walk: Walk, node: fx.Node) -> None:
    x, w, b = node.args[:3]
    prev = walk.producer(x, node)
    channels = walk.shape(x)[1]
    if (prev is not None and prev.kind in _FOLD_INTO and prev.attr("norm") == "none" and prev.attr("act") == "none"
            and not walk.is_act(w) and w is not None and b is not None and numel(shape_of(w)) == channels
            and not walk.origins((w, b)) & walk.counted):
        walk.take((w, b))  # the folded norm's 2 parameters per channel
        walk.replace(prev, node, norm="batch")
    else:
        walk.emit(node, LayerOp.NORM, [x], walk.shape(x), fn="batch", affine=walk.take((w, b)))
    if node.target is not aten.batch_norm.default:  # make_fx's forms also return statistics
        walk.multi[node] = "first"


def _norm(fn: str, x_at: int, params_at: tuple[int, ...]):
    def convert(walk: Walk, node: fx.Node) -> None:
        x = node.args[x_at]
        params = [node.args[i] for i in params_at if i < len(node.args)]
        walk.emit(node, LayerOp.NORM, [x], walk.shape(x), fn=fn, affine=walk.take(params))
        if node.target in (aten.native_layer_norm.default, aten.native_group_norm.default):
            walk.multi[node] = "first"
    return convert


converts(aten.layer_norm.default, aten.native_layer_norm.default)(_norm("layer", 0, (2, 3)))
converts(aten.group_norm.default)(_norm("group", 0, (2, 3)))
converts(aten.native_group_norm.default)(_norm("group", 0, (1, 2)))
converts(aten.instance_norm.default)(_norm("instance", 0, (1, 2)))
converts(aten.rms_norm.default)(_norm("rms", 0, (2,)))


# -- element-wise --------------------------------------------------------------------------------
# Activations: folded into the operator before them when it has an ``act`` and they are its only reader.
ACTIVATIONS = {
    aten.relu.default: "relu", aten.relu_.default: "relu", aten.gelu.default: "gelu", aten.gelu_.default: "gelu",
    aten.silu.default: "silu", aten.silu_.default: "silu", aten.sigmoid.default: "sigmoid",
    aten.sigmoid_.default: "sigmoid", aten.hardswish.default: "hswish", aten.hardswish_.default: "hswish",
    aten.hardsigmoid.default: "hsigmoid", aten.hardsigmoid_.default: "hsigmoid", aten.tanh.default: "tanh",
    aten.tanh_.default: "tanh", aten.leaky_relu.default: "leaky_relu", aten.leaky_relu_.default: "leaky_relu",
    aten.elu.default: "elu", aten.elu_.default: "elu", aten.mish.default: "mish", aten.mish_.default: "mish",
    aten.softplus.default: "softplus", aten.relu6.default: "relu6", aten.relu6_.default: "relu6",
}
# Element-wise functions of one or more tensors (constants among them are parameters or scalars).
ELTWISE = {
    aten.add.Tensor: "add", aten.add_.Tensor: "add", aten.add.Scalar: "add", aten.sub.Tensor: "sub",
    aten.sub_.Tensor: "sub", aten.rsub.Scalar: "sub", aten.rsub.Tensor: "sub", aten.sub.Scalar: "sub",
    aten.mul.Tensor: "mul", aten.mul_.Tensor: "mul", aten.mul.Scalar: "mul", aten.div.Tensor: "div",
    aten.div_.Tensor: "div", aten.div.Scalar: "div", aten.div.Tensor_mode: "div", aten.neg.default: "neg",
    aten.abs.default: "abs", aten.exp.default: "exp", aten.sqrt.default: "sqrt", aten.rsqrt.default: "rsqrt",
    aten.log.default: "log", aten.pow.Tensor_Scalar: "pow", aten.pow.Tensor_Tensor: "pow", aten.erf.default: "erf",
    aten.clamp.default: "clamp", aten.clamp_.default: "clamp", aten.clamp_min.default: "clamp",
    aten.clamp_max.default: "clamp", aten.maximum.default: "max", aten.minimum.default: "min",
    aten.where.self: "where", aten.masked_fill.Scalar: "where", aten.masked_fill.Tensor: "where",
    aten.masked_fill_.Scalar: "where", aten.addcmul.default: "mul", aten.reciprocal.default: "div",
    aten.square.default: "mul", aten.sign.default: "cmp", aten.floor.default: "round", aten.round.default: "round",
    aten.eq.Tensor: "cmp", aten.eq.Scalar: "cmp", aten.ne.Scalar: "cmp", aten.gt.Scalar: "cmp",
    aten.lt.Scalar: "cmp", aten.ge.Scalar: "cmp", aten.le.Scalar: "cmp", aten.gt.Tensor: "cmp", aten.lt.Tensor: "cmp",
    aten.logical_and.default: "cmp", aten.logical_or.default: "cmp", aten.logical_not.default: "cmp",
    aten.mul_.Scalar: "mul", aten.div_.Scalar: "div", aten.add_.Scalar: "add", aten.lerp.Scalar: "mul",
}


def _hardtanh(node: fx.Node) -> str:
    lo, hi = arg(node, 1, "min_val", -1.0), arg(node, 2, "max_val", 1.0)
    return "relu6" if (lo, hi) == (0.0, 6.0) else "hardtanh"


@converts(*ACTIVATIONS, aten.hardtanh.default, aten.hardtanh_.default)
def _activation(walk: Walk, node: fx.Node) -> None:
    fn = ACTIVATIONS.get(node.target) or _hardtanh(node)  # type: ignore[arg-type]
    x = node.args[0]
    prev = walk.producer(x, node)
    if prev is not None and prev.kind in (*_FOLD_INTO, LayerOp.NORM, LayerOp.MATMUL) and prev.attr("act") == "none":
        walk.replace(prev, node, act=fn)
    else:
        walk.emit(node, LayerOp.ELTWISE, [x], fn=fn)


@converts(*ELTWISE)
def _eltwise(walk: Walk, node: fx.Node) -> None:
    acts = walk.acts((node.args, node.kwargs))
    walk.emit(node, LayerOp.ELTWISE, acts, fn=ELTWISE[node.target],  # type: ignore[index]
              params=walk.take((node.args, node.kwargs)))


# -- reductions and pooling ------------------------------------------------------------------------
@converts(aten.mean.dim, aten.sum.dim_IntList, aten.amax.default, aten.amin.default, aten.mean.default,
          aten.sum.default, aten.max.dim, aten.min.dim, aten.var.correction, aten.std.correction,
          aten.var_mean.correction, aten.var_mean.dim, aten.var.dim, aten.std.dim, aten.prod.dim_int,
          aten.argmax.default, aten.argmin.default,
          aten.norm.ScalarOpt_dim, aten.linalg_vector_norm.default, aten.logsumexp.default, aten.max.default)
def _reduce(walk: Walk, node: fx.Node) -> None:
    """A reduction of R elements into each output: a pooling of the input viewed as (1, out, R, 1)."""
    x = node.args[0]
    val = node.meta["val"]
    out = walk.out_shape(node)
    o, r = numel(out), numel(walk.shape(x)) // max(numel(out), 1)
    fn = "max" if node.target in _MAX_REDUCTIONS else "avg"
    rows = walk.emit(node, LayerOp.MOVE, [x], (1, o, r, 1), suffix="rows", bind=False, fn="view")
    pooled = walk.emit(node, LayerOp.POOL, [rows], (1, o, 1, 1), bind=False, fn=fn, kernel=(r, 1), stride=(r, 1))
    walk.emit(node, LayerOp.MOVE, [pooled], out, suffix="shape", fn="view")
    if isinstance(val, (list, tuple)):
        walk.multi[node] = "all"  # (values, indices), (var, mean): each output comes from the one pass


_MAX_REDUCTIONS = {aten.amax.default, aten.amin.default, aten.max.dim, aten.min.dim, aten.max.default,
                   aten.argmax.default, aten.argmin.default}


def _pool_attrs(node: fx.Node, nd: int) -> dict:
    k = pairs(node.args[1], nd, 1)
    return {"kernel": k, "stride": pairs(arg(node, 2, "stride") or k, nd, 1),
            "padding": pairs(arg(node, 3, "padding", 0), nd, 0)}


def _as_2d(t: tuple[int, ...]) -> tuple[int, int]:
    """A 1-d or 3-d window as the pair the pool operator keeps (its product is what is counted)."""
    return (1, t[0]) if len(t) == 1 else (math.prod(t[:-1]), t[-1])


def _pool(fn: str, nd: int, ceil_at: int | None):
    def convert(walk: Walk, node: fx.Node) -> None:
        a = _pool_attrs(node, nd)
        ceil = bool(arg(node, ceil_at, "ceil_mode", False)) if ceil_at is not None else False
        walk.emit(node, LayerOp.POOL, [node.args[0]], walk.out_shape(node), fn=fn, ceil_mode=ceil,
                  **{k: _as_2d(v) for k, v in a.items()})
        if isinstance(node.meta["val"], (list, tuple)):
            walk.multi[node] = "first"
    return convert


converts(aten.max_pool2d.default, aten.max_pool2d_with_indices.default)(_pool("max", 2, 5))
converts(aten.max_pool1d.default)(_pool("max", 1, 5))
converts(aten.max_pool3d.default, aten.max_pool3d_with_indices.default)(_pool("max", 3, 5))
converts(aten.avg_pool2d.default)(_pool("avg", 2, 4))
converts(aten.avg_pool1d.default)(_pool("avg", 1, 4))
converts(aten.avg_pool3d.default)(_pool("avg", 3, 4))


def _adaptive(fn: str):
    def convert(walk: Walk, node: fx.Node) -> None:
        """Window ``ceil(in / out)`` with stride ``in // out``: exact when the sizes divide (global pooling)."""
        x = node.args[0]
        xs, out = walk.shape(x), walk.out_shape(node)
        nd = len(out) - 2
        ins, outs = xs[-nd:], out[-nd:]
        k = tuple(-(-i // o) for i, o in zip(ins, outs, strict=True))
        s = tuple(max(i // o, 1) for i, o in zip(ins, outs, strict=True))
        walk.emit(node, LayerOp.POOL, [x], out, fn=fn, kernel=_as_2d(k), stride=_as_2d(s))
        if isinstance(node.meta["val"], (list, tuple)):
            walk.multi[node] = "first"
    return convert


converts(aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool1d.default,
         aten.adaptive_avg_pool3d.default, aten._adaptive_avg_pool3d.default)(_adaptive("avg"))
converts(aten.adaptive_max_pool2d.default, aten.adaptive_max_pool1d.default,
         aten.adaptive_max_pool3d.default)(_adaptive("max"))


# -- softmax, embedding, upsampling ----------------------------------------------------------------
@converts(aten.softmax.int, aten._softmax.default, aten.log_softmax.int, aten._log_softmax.default)
def _softmax(walk: Walk, node: fx.Node) -> None:
    walk.emit(node, LayerOp.SOFTMAX, [node.args[0]])


@converts(aten.embedding.default)
def _embedding(walk: Walk, node: fx.Node) -> None:
    w, idx = node.args[:2]
    if walk.is_act(w):
        raise walk.error(node, "embedding of a computed table")
    walk.take(w)
    walk.emit(node, LayerOp.EMBEDDING, [idx], num=shape_of(w)[0])


_UPSAMPLE = {
    aten.upsample_nearest2d.vec: "nearest", aten.upsample_nearest2d.default: "nearest",
    aten.upsample_nearest1d.vec: "nearest", aten.upsample_nearest3d.vec: "nearest",
    aten.upsample_bilinear2d.vec: "bilinear", aten.upsample_bilinear2d.default: "bilinear",
    aten.upsample_linear1d.vec: "bilinear", aten.upsample_trilinear3d.vec: "bilinear",
    aten.upsample_bicubic2d.vec: "bicubic", aten.upsample_bicubic2d.default: "bicubic",
    aten._upsample_bilinear2d_aa.vec: "bilinear", aten._upsample_nearest_exact2d.vec: "nearest",
    aten.grid_sampler.default: "bilinear", aten.grid_sampler_2d.default: "bilinear",  # a bilinear gather at the grid
}


@converts(*_UPSAMPLE)
def _upsample(walk: Walk, node: fx.Node) -> None:
    x = node.args[0]
    if not walk.is_act(x):
        raise walk.error(node, "sampling a constant image")
    walk.emit(node, LayerOp.UPSAMPLE, [x], fn=_UPSAMPLE[node.target])  # type: ignore[index]
