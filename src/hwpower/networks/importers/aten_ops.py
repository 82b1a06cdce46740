"""ATen converters for the operators with MACs: convolution, linear, matmul, attention, einsum.

They register themselves in :data:`~.aten_registry.CONVERTERS` (see there for the converter
contract); :mod:`.aten_other` holds norms, activations, element-wise arithmetic, reductions,
pooling, softmax, embedding and upsampling; :mod:`.aten_move` data movement, no-ops and constants.
"""

from __future__ import annotations

import math

from torch import fx

from ..layers import LayerOp
from ..ops import Shape, numel
from .aten_registry import arg, aten, converts, pairs, shape_of
from .fx_walk import Walk


def _kernel_weights(walk: Walk, w: fx.Node, bias: object, n_out: int) -> dict[str, object]:
    """Weight attributes of a convolution or linear layer whose kernel is ``w``: ``shared`` when the
    kernel is no parameter of its own (another operator's, or a fixed buffer), ``bias`` when a
    parameter vector of ``n_out`` is added, ``params`` for parameters the kernel is computed from
    beyond its own elements (a standardised kernel's gain)."""
    shared = walk.reused(w) or not walk.origins(w)
    fresh = walk.take(w)
    b = walk.take(bias)
    extra = max(fresh - numel(shape_of(w)), 0)
    if shared:  # the kind counts nothing: a bias not yet counted goes to params
        return {"bias": bias is not None, "shared": True, "params": extra + b}
    return {"bias": b == n_out, "shared": False, "params": extra + (0 if b == n_out else b)}


# -- convolution -----------------------------------------------------------------------------------
def _conv_padding(walk: Walk, node: fx.Node, pad: object, k: Shape, d: tuple) -> tuple:
    if pad == "valid":
        return (0,) * len(k)
    if pad == "same":  # symmetric when the total padding is even (odd kernels)
        total = [d_ * (k_ - 1) for k_, d_ in zip(k, d, strict=True)]
        if any(t % 2 for t in total):
            raise walk.error(node, "'same' padding with an even kernel pads one side more: not expressible")
        return tuple(t // 2 for t in total)
    return pairs(pad, len(k), 0)


@converts(aten.conv1d.default, aten.conv2d.default, aten.conv3d.default, aten.conv1d.padding,
          aten.conv2d.padding, aten.conv3d.padding)
def _conv_call(walk: Walk, node: fx.Node) -> None:
    _conv_nd(walk, node, *(arg(node, i, key, default) for i, key, default in (
        (0, "input", None), (1, "weight", None), (2, "bias", None), (3, "stride", 1), (4, "padding", 0),
        (5, "dilation", 1), (6, "groups", 1))))


@converts(aten.convolution.default)
def _convolution(walk: Walk, node: fx.Node) -> None:  # make_fx's form of all convolutions
    x, w, bias, stride, padding, dilation, transposed, _, groups = node.args[:9]
    if transposed:
        _conv_transpose(walk, node, x, w, bias, groups)
    else:
        _conv_nd(walk, node, x, w, bias, stride, padding, dilation, groups)


def _conv_nd(walk: Walk, node: fx.Node, x: fx.Node, w: fx.Node, bias: object, stride: object, padding: object,
             dilation: object, groups: object) -> None:
    """conv1d / conv2d / conv3d. A 1-D convolution is a 2-D one of height 1; a 3-D one runs as a
    2-D convolution over the frames it produces, each reading ``kt`` input frames as channels
    (same MACs and weights; the input is re-read ``kt / stride`` times, as an accelerator would)."""
    if walk.is_act(w):
        raise walk.error(node, "convolution with a computed (activation) kernel")
    xs, ws, out = walk.shape(x), shape_of(w), walk.out_shape(node)
    nd = len(ws) - 2
    if len(xs) != nd + 2:
        raise walk.error(node, f"unbatched {nd}-d convolution input {list(xs)}: give a batch dimension")
    s, d = pairs(stride, nd, 1), pairs(dilation, nd, 1)
    p, g = _conv_padding(walk, node, padding, ws[2:], d), int(groups)  # type: ignore[call-overload]
    attrs = dict(groups=g, **_kernel_weights(walk, w, bias, out[1]))
    if nd == 2:
        walk.emit(node, LayerOp.CONV, [x], kernel=ws[2:], stride=s, padding=p, dilation=d, **attrs)
        return
    if nd == 1:
        flat = walk.emit(node, LayerOp.MOVE, [x], (xs[0], xs[1], 1, xs[2]), suffix="as_2d", bind=False, fn="view")
        conv = walk.emit(node, LayerOp.CONV, [flat], (out[0], out[1], 1, out[2]), bind=False, kernel=(1, ws[2]),
                         stride=(1, s[0]), padding=(0, p[0]), dilation=(1, d[0]), **attrs)
        walk.emit(node, LayerOp.MOVE, [conv], out, suffix="as_1d", fn="view")
        return
    if nd != 3:
        raise walk.error(node, f"{nd}-d convolution")
    (n, c, _, h, wd), kt = xs, ws[2]
    frames = (n * out[2], c * kt, h, wd)  # each output frame reads kt input frames (padding, stride, dilation in time)
    unrolled = walk.emit(node, LayerOp.MOVE, [x], frames, suffix="frames", bind=False, fn="expand")
    conv = walk.emit(node, LayerOp.CONV, [unrolled], (n * out[2], out[1], out[3], out[4]), bind=False,
                     kernel=ws[3:], stride=s[1:], padding=p[1:], dilation=d[1:], **attrs)
    walk.emit(node, LayerOp.MOVE, [conv], out, suffix="as_3d", fn="view")


@converts(aten.conv_transpose2d.input, aten.conv_transpose1d.default)
def _conv_transpose_call(walk: Walk, node: fx.Node) -> None:
    _conv_transpose(walk, node, node.args[0], node.args[1], arg(node, 2, "bias"), arg(node, 6, "groups", 1))


def _conv_transpose(walk: Walk, node: fx.Node, x: fx.Node, w: fx.Node, bias: object, groups: object) -> None:
    """A transposed convolution scatters each input pixel through the kernel: a 1x1 convolution to
    ``C_out * kh * kw`` channels (its MACs and weights exactly), then the overlapping add into the
    output (a data movement carrying the bias)."""
    xs, ws, out = walk.shape(x), shape_of(w), walk.out_shape(node)
    if len(xs) == 3:
        xs2 = (xs[0], xs[1], 1, xs[2])
        x = walk.emit(node, LayerOp.MOVE, [x], xs2, suffix="as_2d", bind=False, fn="view")
        xs = xs2
    if len(xs) != 4:
        raise walk.error(node, f"transposed convolution of a {len(xs)}-d input")
    g = int(groups)  # type: ignore[call-overload]
    cols = (xs[0], ws[1] * g * numel(ws[2:]), xs[2], xs[3])
    walk.take(w)
    scatter = walk.emit(node, LayerOp.CONV, [x], cols, suffix="columns", bind=False, groups=g)
    walk.emit(node, LayerOp.MOVE, [scatter], out, fn="copy", params=walk.take(bias))


# -- linear and matrix products --------------------------------------------------------------------
def _linear_op(walk: Walk, node: fx.Node, x: fx.Node, w: fx.Node, bias: object, transposed: bool) -> None:
    """``x @ W^T + b`` (``transposed``: W is (out, in)) or ``x @ W + b`` with a constant W."""
    ws, xs = shape_of(w), walk.shape(x)
    if len(ws) != 2:
        raise walk.error(node, f"a {len(ws)}-d weight {list(ws)}")
    out = walk.out_shape(node)
    c_in, c_out = (ws[1], ws[0]) if transposed else ws
    if xs[-1] != c_in:
        raise walk.error(node, f"input {list(xs)} does not match the weight {list(ws)}")
    walk.emit(node, LayerOp.LINEAR, [x], out, **_kernel_weights(walk, w, bias, c_out))


@converts(aten.linear.default)
def _linear(walk: Walk, node: fx.Node) -> None:
    x, w, bias = node.args[0], node.args[1], arg(node, 2, "bias")
    if walk.is_act(w):
        wt = walk.emit(node, LayerOp.MOVE, [w], shape_of(w)[::-1], suffix="weight_t", bind=False, fn="permute")
        _matmul_emit(walk, node, [x, wt], params=walk.take(bias))
        return
    _linear_op(walk, node, x, w, bias, transposed=True)


@converts(aten.addmm.default)
def _addmm(walk: Walk, node: fx.Node) -> None:
    bias, a, b = node.args[:3]
    if walk.is_act(bias):
        raise walk.error(node, "addmm adding an activation")
    _matmul_like(walk, node, a, b, bias)


@converts(aten.mm.default, aten.matmul.default, aten.bmm.default)
def _mm(walk: Walk, node: fx.Node) -> None:
    _matmul_like(walk, node, node.args[0], node.args[1], None)


@converts(aten.baddbmm.default)
def _baddbmm(walk: Walk, node: fx.Node) -> None:
    _matmul_like(walk, node, node.args[1], node.args[2], None)
    if walk.is_act(node.args[0]):
        walk.emit(node, LayerOp.ELTWISE, [walk.tensor[node], node.args[0]], suffix="add", fn="add")


def _matmul_like(walk: Walk, node: fx.Node, a: object, b: object, bias: object) -> None:
    if walk.is_act(a) and not walk.is_act(b) and len(shape_of(b)) == 2:
        _linear_op(walk, node, a, b, bias, transposed=False)  # type: ignore[arg-type]
    elif walk.is_act(a) and walk.is_act(b):
        _matmul_emit(walk, node, [a, b], params=walk.take(bias))
    else:  # W @ x, or a batched constant: K = the contracted size
        act = a if walk.is_act(a) else b
        _const_product(walk, node, act, shape_of(a)[-1], (a, b, bias))


def _const_product(walk: Walk, node: fx.Node, act: fx.Node, k: int, consts: object) -> None:
    """A product of an activation with a constant other than a plain weight matrix (``W @ x``, a
    relative-position table): a linear layer on the activation's rows of ``k`` contracted elements,
    its weights the constant's parameters (counted once, as ``params``)."""
    rows = numel(walk.shape(act)) // k
    out = walk.out_shape(node)
    if rows * k != numel(walk.shape(act)) or numel(out) % rows:
        raise walk.error(node, f"product of {list(walk.shape(act))} with a constant into {list(out)}")
    flat = walk.emit(node, LayerOp.MOVE, [act], (rows, k), suffix="rows", bind=False, fn="permute")
    lin = walk.emit(node, LayerOp.LINEAR, [flat], (rows, numel(out) // rows), bind=False, shared=True,
                    params=walk.take(consts))
    walk.emit(node, LayerOp.MOVE, [lin], out, suffix="out", fn="view")


def _matmul_emit(walk: Walk, node: fx.Node, inputs: list, params: int = 0) -> str:
    shapes = [walk.shape(x) if isinstance(x, fx.Node) else walk.shapes_by_name(x) for x in inputs]
    if min(len(s) for s in shapes) < 2:
        raise walk.error(node, f"a product of vectors {[list(s) for s in shapes]}")
    return walk.emit(node, LayerOp.MATMUL, inputs, params=params)


@converts(aten.scaled_dot_product_attention.default, aten._scaled_dot_product_flash_attention_for_cpu.default,
          aten._scaled_dot_product_efficient_attention.default, aten._scaled_dot_product_flash_attention.default)
def _attention(walk: Walk, node: fx.Node) -> None:
    """softmax(Q K^T * scale + mask) V: K transposed, two matmuls, a scale, the mask, a softmax."""
    q, k, v = node.args[:3]
    fused = node.target is not aten.scaled_dot_product_attention.default  # make_fx's kernels: (out, stats...)
    mask = node.kwargs.get("attn_mask") if fused else arg(node, 3, "attn_mask")
    ks, out = walk.shape(k), walk.out_shape(node)
    scores_shape = (*out[:-2], walk.shape(q)[-2], ks[-2])
    kt = walk.emit(node, LayerOp.MOVE, [k], (*ks[:-2], ks[-1], ks[-2]), suffix="k_t", bind=False, fn="permute")
    scores = walk.emit(node, LayerOp.MATMUL, [q, kt], scores_shape, suffix="qk", bind=False)
    scores = walk.emit(node, LayerOp.ELTWISE, [scores], scores_shape, suffix="scale", bind=False, fn="scale")
    if mask is not None:
        inputs = [scores, mask] if walk.is_act(mask) else [scores]
        scores = walk.emit(node, LayerOp.ELTWISE, inputs, scores_shape, suffix="mask", bind=False, fn="add",
                           params=walk.take(mask))
    probs = walk.emit(node, LayerOp.SOFTMAX, [scores], scores_shape, suffix="softmax", bind=False)
    walk.emit(node, LayerOp.MATMUL, [probs, v], out, suffix="av")
    if fused:
        walk.multi[node] = "first"


@converts(aten.einsum.default)
def _einsum(walk: Walk, node: fx.Node) -> None:
    """Two-operand einsum (MACs = product of all index sizes): of two activations, a matmul of the
    operands arranged as (batch, M, K) x (batch, K, N); of an activation and a constant (a relative
    position table), a linear layer on the activation's rows whose weights are that constant."""
    eq, operands = node.args[0], node.args[1]
    acts = [o for o in operands if walk.is_act(o)]
    if len(operands) != 2 or "..." in eq or not acts:
        raise walk.error(node, f"einsum {eq!r}: only two operands without '...' are expressible")
    lhs, out_idx = eq.replace(" ", "").split("->")
    ia, ib = lhs.split(",")
    size = {**dict(zip(ia, shape_of(operands[0]))), **dict(zip(ib, shape_of(operands[1])))}
    groups = ([i for i in out_idx if i in ia and i in ib], [i for i in ia if i not in ib],
              [i for i in ia if i in ib and i not in out_idx], [i for i in ib if i not in ia])
    batch, m, red, n_ = (math.prod(size[i] for i in g) for g in groups)
    if len(acts) == 1:
        _const_product(walk, node, acts[0], red, operands)
        return
    a = walk.emit(node, LayerOp.MOVE, [operands[0]], (batch, m, red), suffix="a", bind=False, fn="permute")
    b = walk.emit(node, LayerOp.MOVE, [operands[1]], (batch, red, n_), suffix="b", bind=False, fn="permute")
    mm = walk.emit(node, LayerOp.MATMUL, [a, b], (batch, m, n_), bind=False)
    walk.emit(node, LayerOp.MOVE, [mm], suffix="out", fn="permute")
