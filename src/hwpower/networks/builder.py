"""Write operator graphs in a few lines: :class:`GraphBuilder` infers every output shape.

Each method adds one operator (:mod:`hwpower.networks.ops`) and returns the name of its output
tensor, so layers chain like a framework's forward pass::

    from hwpower.networks.builder import GraphBuilder

    b = GraphBuilder()
    x = b.input((1, 3, 224, 224))
    x = b.conv(x, 32, 3, stride=2)                  # conv + folded batch norm + fused relu
    y = b.conv(x, 32, 3, groups=32)                 # depthwise
    x = b.act(b.add(x, b.conv(y, 32, 1, act="none")), "relu")
    x = b.linear(b.flatten(b.global_pool(x)), 1000)
    net = b.build("tiny")                           # a GraphNetwork: counts, layer_table, to_dict

Names are made from the current :meth:`scope` and the method (``s1.b0.conv0``); pass ``name=`` to
choose one. Shapes carry the batch. Problems raise ``ValueError`` naming the operator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from .graph import GraphNetwork
from .layers import LayerOp
from .ops import Op, Shape, conv_out, numel

# Parameters of a normalization's scale and shift: per channel (dim 1) or per feature (last dim).
_NORM_AFFINE = {"batch": (1, 2), "group": (1, 2), "instance": (1, 2), "layer": (-1, 2), "rms": (-1, 1)}


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _broadcast(shapes: Sequence[Shape]) -> Shape:
    """NumPy broadcasting of shapes (aligned on the right; a 1 stretches)."""
    rank = max(len(s) for s in shapes)
    out = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(f"shapes {[list(s) for s in shapes]} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


class GraphBuilder:
    """Operators in the order they are added, with shape inference; :meth:`build` validates."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.shapes: dict[str, Shape] = {}
        self.inputs: dict[str, Shape] = {}
        self._prefix: list[str] = []
        self._used: Counter[str] = Counter()

    # -- plumbing ---------------------------------------------------------------------------------
    def input(self, shape: Sequence[int], name: str = "x") -> str:
        """A graph input (images (N, C, H, W), token ids (N, L), ...)."""
        if name in self.shapes:
            raise ValueError(f"tensor name {name!r} is already used")
        self.inputs[name] = self.shapes[name] = tuple(int(d) for d in shape)
        return name

    def shape(self, x: str) -> Shape:
        if x not in self.shapes:
            raise ValueError(f"no tensor named {x!r}")
        return self.shapes[x]

    @contextmanager
    def scope(self, prefix: str) -> Iterator[None]:
        """Operators added inside get names starting with ``prefix.`` (scopes nest)."""
        self._prefix.append(prefix)
        try:
            yield
        finally:
            self._prefix.pop()

    def _name(self, base: str) -> str:
        stem = ".".join([*self._prefix, base])
        while True:  # skipping names given explicitly
            name = f"{stem}{self._used[stem]}"
            self._used[stem] += 1
            if name not in self.shapes:
                return name

    def op(self, kind: LayerOp | str, inputs: Sequence[str], out_shape: Sequence[int], *,
           name: str | None = None, base: str = "op", **attrs: Any) -> str:
        """Add any operator with a given output shape (the other methods infer it); returns its name."""
        name = name or self._name(base)
        if name in self.shapes:
            raise ValueError(f"tensor name {name!r} is already used")
        in_shapes = tuple(self.shape(x) for x in inputs)
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
        try:
            checked = _checked(kind, in_shapes, tuple(out_shape), tuple(sorted(attrs.items())))
        except ValueError:  # again under the operator's own name, for the message
            Op.build(name, kind, list(inputs), in_shapes, tuple(out_shape), **attrs)
            raise
        op = Op(name, checked.kind, tuple(inputs), checked.in_shapes, checked.out_shape, checked.attrs)
        self.ops.append(op)
        self.shapes[name] = op.out_shape
        return name

    def build(self, name: str | None = None, source: str | None = None) -> GraphNetwork:
        """The network (its output is the last operator added)."""
        return GraphNetwork.build(self.ops, self.inputs, name, source)

    # -- weight layers ----------------------------------------------------------------------------
    def conv(self, x: str, out_channels: int, kernel: int | Sequence[int] = 1, stride: int | Sequence[int] = 1,
             groups: int = 1, dilation: int = 1, padding: int | Sequence[int] | None = None, norm: bool = True,
             act: str = "relu", bias: bool = False, name: str | None = None, params: int = 0) -> str:
        """2-D convolution; ``padding`` defaults to "same" (``dilation * (kernel - 1) // 2``);
        ``norm`` folds a batch norm in, ``act`` fuses the activation."""
        n, _, h, w = self.shape(x)
        k, s = _pair(kernel), _pair(stride)
        p = _pair(padding) if padding is not None else (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
        out = (n, out_channels, conv_out(h, k[0], s[0], p[0], dilation), conv_out(w, k[1], s[1], p[1], dilation))
        return self.op(LayerOp.CONV, [x], out, name=name, base="conv", kernel=k, stride=s, padding=p,
                       dilation=(dilation, dilation), groups=groups, norm="batch" if norm else "none", act=act,
                       bias=bias, params=params)

    def linear(self, x: str, out_features: int, bias: bool = True, act: str = "none", norm: bool = False,
               name: str | None = None, params: int = 0) -> str:
        """Fully connected on the last dimension."""
        out = (*self.shape(x)[:-1], out_features)
        return self.op(LayerOp.LINEAR, [x], out, name=name, base="linear", bias=bias, act=act,
                       norm="batch" if norm else "none", params=params)

    def matmul(self, a: str, b: str, act: str = "none", name: str | None = None) -> str:
        """Product of two activations, (.., M, K) x (.., K, N) -> (.., M, N), batch dimensions broadcast."""
        sa, sb = self.shape(a), self.shape(b)
        if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2]:
            raise ValueError(f"matmul: {list(sa)} x {list(sb)} do not multiply")
        out = (*_broadcast([sa[:-2], sb[:-2]]), sa[-2], sb[-1])
        return self.op(LayerOp.MATMUL, [a, b], out, name=name, base="matmul", act=act)

    def embedding(self, ids: str, num: int, dim: int, name: str | None = None) -> str:
        """Look-up of ``dim``-wide rows of a ``num``-row table, one per index."""
        return self.op(LayerOp.EMBEDDING, [ids], (*self.shape(ids), dim), name=name, base="embed", num=num)

    # -- element-wise and normalization -----------------------------------------------------------
    def eltwise(self, fn: str, *inputs: str, params: int = 0, name: str | None = None) -> str:
        """An element-wise function of tensors that broadcast to each other; ``params`` counts a
        parameter tensor it also reads (a position embedding added, a layer scale)."""
        out = _broadcast([self.shape(x) for x in inputs])
        return self.op(LayerOp.ELTWISE, list(inputs), out, name=name, base=fn, fn=fn, params=params)

    def add(self, a: str, b: str | None = None, params: int = 0, name: str | None = None) -> str:
        return self.eltwise("add", *([a] if b is None else [a, b]), params=params, name=name)

    def mul(self, a: str, b: str, name: str | None = None) -> str:
        return self.eltwise("mul", a, b, name=name)

    def act(self, x: str, fn: str, name: str | None = None) -> str:
        """A separate activation pass; ``"none"`` adds nothing and returns ``x``."""
        return x if fn == "none" else self.eltwise(fn, x, name=name)

    def norm(self, x: str, fn: str = "layer", affine: bool = True, act: str = "none", name: str | None = None) -> str:
        """A normalization that is not folded into a layer (layer norm, pre-activation batch norm)."""
        if fn not in _NORM_AFFINE:
            raise ValueError(f"norm: fn must be one of {sorted(_NORM_AFFINE)}, got {fn!r}")
        dim, per = _NORM_AFFINE[fn]
        n_affine = per * self.shape(x)[dim] if affine else 0
        return self.op(LayerOp.NORM, [x], self.shape(x), name=name, base="norm", fn=fn, affine=n_affine, act=act)

    def softmax(self, x: str, name: str | None = None) -> str:
        return self.op(LayerOp.SOFTMAX, [x], self.shape(x), name=name, base="softmax")

    # -- spatial ------------------------------------------------------------------------------------
    def pool(self, x: str, kernel: int | Sequence[int], stride: int | Sequence[int] | None = None,
             padding: int | Sequence[int] = 0, fn: str = "max", ceil_mode: bool = False,
             name: str | None = None) -> str:
        """Max or average pooling of (N, C, H, W); ``stride`` defaults to the kernel."""
        n, c, h, w = self.shape(x)
        k, p = _pair(kernel), _pair(padding)
        s = _pair(stride) if stride is not None else k
        out = (n, c, *(_pool_out(size, k[i], s[i], p[i], ceil_mode) for i, size in enumerate((h, w))))
        return self.op(LayerOp.POOL, [x], out, name=name, base="pool", fn=fn, kernel=k, stride=s, padding=p,
                       ceil_mode=ceil_mode)

    def global_pool(self, x: str, fn: str = "avg", name: str | None = None) -> str:
        """(N, C, H, W) -> (N, C, 1, 1)."""
        _, _, h, w = self.shape(x)
        return self.pool(x, (h, w), fn=fn, name=name)

    def upsample(self, x: str, scale: int = 2, fn: str = "nearest", name: str | None = None) -> str:
        n, c, h, w = self.shape(x)
        return self.op(LayerOp.UPSAMPLE, [x], (n, c, h * scale, w * scale), name=name, base="upsample", fn=fn)

    # -- data movement --------------------------------------------------------------------------------
    def _move(self, fn: str, inputs: Sequence[str], out: Shape, name: str | None, params: int = 0) -> str:
        return self.op(LayerOp.MOVE, inputs, out, name=name, base=fn, fn=fn, params=params)

    def concat(self, xs: Sequence[str], dim: int = 1, params: int = 0, name: str | None = None) -> str:
        """Join along ``dim``; ``params`` counts a parameter tensor joined too (a class token),
        whose length along ``dim`` is ``params`` divided by the product of the other dimensions."""
        shapes = [self.shape(x) for x in xs]
        first = shapes[0]
        dim = dim % len(first)
        rest = [s[:dim] + s[dim + 1:] for s in shapes]
        if any(r != rest[0] for r in rest):
            raise ValueError(f"concat: shapes {[list(s) for s in shapes]} differ outside dimension {dim}")
        other = numel(rest[0])
        if params % other:
            raise ValueError(f"concat: {params} parameters do not make whole slices of {other} elements")
        size = sum(s[dim] for s in shapes) + params // other
        return self._move("concat", xs, (*first[:dim], size, *first[dim + 1:]), name, params)

    def slice(self, x: str, size: int, dim: int = 1, name: str | None = None) -> str:
        """``size`` consecutive entries along ``dim`` (the start does not change the cost)."""
        shape = self.shape(x)
        dim = dim % len(shape)
        if not 1 <= size <= shape[dim]:
            raise ValueError(f"slice: size {size} outside 1..{shape[dim]} (dimension {dim} of {list(shape)})")
        return self._move("slice", [x], (*shape[:dim], size, *shape[dim + 1:]), name)

    def split(self, x: str, sizes: Sequence[int], dim: int = 1) -> list[str]:
        """Consecutive slices whose sizes add up to the dimension."""
        shape = self.shape(x)
        if sum(sizes) != shape[dim % len(shape)]:
            raise ValueError(f"split: sizes {list(sizes)} do not add up to dimension {dim} of {list(shape)}")
        return [self.slice(x, s, dim) for s in sizes]

    def permute(self, x: str, order: Sequence[int], name: str | None = None) -> str:
        shape = self.shape(x)
        if sorted(order) != list(range(len(shape))):
            raise ValueError(f"permute: {list(order)} is not an order of the {len(shape)} dimensions of {list(shape)}")
        return self._move("permute", [x], tuple(shape[i] for i in order), name)

    def shuffle(self, x: str, groups: int, name: str | None = None) -> str:
        """Channel shuffle (ShuffleNet): the channels regrouped, the shape kept."""
        if self.shape(x)[1] % groups:
            raise ValueError(f"shuffle: {groups} groups do not divide {self.shape(x)[1]} channels")
        return self._move("shuffle", [x], self.shape(x), name)

    def view(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        """A reshape that moves no data; one dimension may be -1 (inferred)."""
        shape = list(shape)
        total = numel(self.shape(x))
        if shape.count(-1) == 1:
            known = -numel(shape)
            shape[shape.index(-1)] = total // known if known and total % known == 0 else 0
        if numel(shape) != total or min(shape) < 1:
            raise ValueError(f"view: {list(self.shape(x))} cannot be viewed as {shape}")
        return self._move("view", [x], tuple(shape), name)

    def flatten(self, x: str, name: str | None = None) -> str:
        """(N, ...) -> (N, product of the rest)."""
        return self.view(x, (self.shape(x)[0], -1), name=name)


@lru_cache(maxsize=8192)
def _checked(kind: LayerOp | str, in_shapes: tuple[Shape, ...], out_shape: Shape, attrs: tuple) -> Op:
    """An operator validated once per distinct kind, shapes and attributes: repeated blocks (and
    the same blocks in many sampled networks) skip the checks, which dominate building time."""
    return Op.build("op", kind, [f"in{i}" for i in range(len(in_shapes))], in_shapes, out_shape, **dict(attrs))


def _pool_out(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:  # the last window must start inside the input
        out -= 1
    return out
