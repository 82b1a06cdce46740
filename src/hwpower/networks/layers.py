"""Layers: the unit the oracle costs. Every block of a network expands into layers.

All spatial tensors are square (H = W), batch size 1. Counting conventions, used everywhere:

- ``macs``: multiply-accumulates of convolutions and fully connected layers only.
- ``flops`` = 2 x ``macs`` (one multiply and one add per MAC), the convention torchvision's
  ``_ops`` does *not* use (torchvision's "GFLOPS" are MACs); we say MACs where we mean MACs.
- ``other_ops``: the non-MAC arithmetic (pool comparisons/adds, element-wise add or multiply),
  kept separate so it is never mixed into MACs.
- ``weights``: trainable parameters, including bias and batch-norm scale and shift (2 per channel),
  as ``sum(p.numel() for p in model.parameters())`` counts them.
- ``in_act`` / ``out_act``: input and output activation elements (all inputs of an element-wise op).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np


class LayerOp(IntEnum):
    """Operator kind; the integer is the code stored in a :class:`LayerTable` and in datasets.

    The first four are the kinds block networks expand into; the rest come with operator-level
    (graph) networks (:mod:`hwpower.networks.ops`). Codes are stable: append, never renumber.
    """

    CONV = 0  # grouped 2-D convolution: pointwise (k=1), dense (groups=1), depthwise (groups=C)
    LINEAR = 1  # fully connected
    POOL = 2  # max / average pooling, including global pooling
    ELTWISE = 3  # element-wise: add (residual), multiply (squeeze-excite scale), activations
    MATMUL = 4  # matrix product of two activations (attention's Q K^T and A V)
    NORM = 5  # batch / layer / group / instance / RMS normalization
    SOFTMAX = 6
    EMBEDDING = 7  # table look-up: gathers rows of a weight matrix
    UPSAMPLE = 8  # nearest / bilinear resize
    MOVE = 9  # pure data movement: concat, slice, permute, channel shuffle, pad (zero arithmetic)


@dataclass(frozen=True, slots=True)
class Layer:
    """One operator of a network, with the shape information needed to count and cost it."""

    name: str
    op: LayerOp
    in_channels: int
    out_channels: int
    in_size: int  # input height = width
    out_size: int  # output height = width
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    bias: bool = False
    norm: bool = False  # followed by batch norm (2 trainable parameters per output channel)
    n_inputs: int = 1  # element-wise ops read several tensors of the output's shape
    branch: bool = False  # on a shortcut branch (ResNet downsample): not counted in depth
    # The second input of an element-wise layer, for the operator graph (networks/expand.py):
    # "input" the block's input (or its shortcut branch's output), "se" the tensor the
    # squeeze-excite pooling read, "earlier" an earlier block's output of the same shape.
    joins: str = ""

    @property
    def macs(self) -> int:
        if self.op is LayerOp.CONV:
            per_out = (self.in_channels // self.groups) * self.kernel * self.kernel
            return self.out_size * self.out_size * self.out_channels * per_out
        if self.op is LayerOp.LINEAR:
            return self.in_channels * self.out_channels
        return 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def other_ops(self) -> int:
        if self.op is LayerOp.POOL:
            return self.out_size * self.out_size * self.out_channels * self.kernel * self.kernel
        if self.op is LayerOp.ELTWISE:
            return (self.n_inputs - 1) * self.out_size * self.out_size * self.out_channels
        return 0

    @property
    def weights(self) -> int:
        if self.op is LayerOp.CONV:
            w = self.out_channels * (self.in_channels // self.groups) * self.kernel * self.kernel
        elif self.op is LayerOp.LINEAR:
            w = self.in_channels * self.out_channels
        else:
            return 0
        return w + self.out_channels * (int(self.bias) + 2 * int(self.norm))

    @property
    def in_act(self) -> int:
        return self.n_inputs * self.in_channels * self.in_size * self.in_size

    @property
    def out_act(self) -> int:
        return self.out_channels * self.out_size * self.out_size

    def geometry(self) -> OpGeometry:
        """The loop nest the oracle maps (see :class:`OpGeometry`)."""
        is_mac = self.op in (LayerOp.CONV, LayerOp.LINEAR)
        if not is_mac:
            return OpGeometry(1, 1, 1, 0, 0, self.in_act, self.out_act)
        lin = self.op is LayerOp.LINEAR
        g = 1 if lin else self.groups
        rs = 1 if lin else self.kernel * self.kernel
        cg, kg = self.in_channels // g, self.out_channels // g
        return OpGeometry(g, cg * rs, kg, 1 if lin else self.out_size ** 2, g * kg * cg * rs, self.in_act, self.out_act)


@dataclass(frozen=True, slots=True)
class OpGeometry:
    """An operator as the oracle maps it: ``groups`` independent problems, each producing ``pos``
    output positions x ``kout`` output channels from a reduction of length ``red``.

    A convolution: groups G, reduction Cg*R*S, Kg outputs, N*P*Q positions; a linear layer: 1,
    C_in, C_out, rows; a matmul A (.., M, K) x B (.., K, N): batch, K, N, M. ``w_words`` is the
    stationary operand (weights, or matmul's second activation; an embedding's gathered rows);
    ``i_words`` / ``o_words`` the activation words read and written (0 for a view).
    Operators without MACs have groups = red = kout = 1 and pos = 0.
    """

    groups: int
    red: int
    kout: int
    pos: int
    w_words: int
    i_words: int
    o_words: int

    def macs_of(self) -> int:
        """Multiply-accumulates of the loop nest (0 for operators off the array)."""
        return self.groups * self.red * self.kout * self.pos


@dataclass(frozen=True)
class LayerTable:
    """Column arrays over many operators, the vectorised form the oracle consumes.

    Every array has shape (L,). ``op`` holds :class:`LayerOp` codes; the counts are those of
    :class:`Layer` / :class:`~hwpower.networks.ops.Op`; the last seven columns are the
    :class:`OpGeometry`.
    """

    op: np.ndarray
    macs: np.ndarray
    other_ops: np.ndarray
    weights: np.ndarray
    in_act: np.ndarray
    out_act: np.ndarray
    groups: np.ndarray
    red: np.ndarray
    kout: np.ndarray
    pos: np.ndarray
    w_words: np.ndarray
    i_words: np.ndarray
    o_words: np.ndarray

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @staticmethod
    def row(layer: Layer) -> tuple[int, ...]:
        """One layer's (or operator's) values in :meth:`columns` order."""
        g = layer.geometry()
        return (int(layer.op), layer.macs, layer.other_ops, layer.weights, layer.in_act, layer.out_act,
                g.groups, g.red, g.kout, g.pos, g.w_words, g.i_words, g.o_words)

    @classmethod
    def from_rows(cls, rows: list[tuple[int, ...]]) -> LayerTable:
        """Build from :meth:`row` tuples (one array allocation, then one contiguous column each)."""
        names = cls.columns()
        data = np.array(rows, dtype=np.int64).reshape(len(rows), len(names)).T.copy()
        return cls(**dict(zip(names, data, strict=True)))

    @classmethod
    def from_layers(cls, layers: list[Layer] | tuple[Layer, ...]) -> LayerTable:
        return cls.from_rows([cls.row(layer) for layer in layers])

    def __len__(self) -> int:
        return int(self.op.shape[0])

    @classmethod
    def concat(cls, tables: list[LayerTable]) -> LayerTable:
        return cls(**{f.name: np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(cls)})

    @classmethod
    def empty(cls) -> LayerTable:
        return cls.from_rows([])

    def take(self, index: np.ndarray) -> LayerTable:
        return LayerTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})
