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
    """Operator class of a layer; the integer is the code stored in a :class:`LayerTable`."""

    CONV = 0  # grouped 2-D convolution: pointwise (k=1), dense (groups=1), depthwise (groups=C)
    LINEAR = 1  # fully connected
    POOL = 2  # max / average pooling, including global pooling
    ELTWISE = 3  # element-wise add (residual) or multiply (squeeze-excite scale)


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


@dataclass(frozen=True)
class LayerTable:
    """Column arrays over many layers, the vectorised form the oracle consumes.

    Every array has shape (L,). ``op`` holds :class:`LayerOp` codes.
    """

    op: np.ndarray
    in_channels: np.ndarray
    out_channels: np.ndarray
    in_size: np.ndarray
    out_size: np.ndarray
    kernel: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    macs: np.ndarray
    other_ops: np.ndarray
    weights: np.ndarray
    in_act: np.ndarray
    out_act: np.ndarray

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @staticmethod
    def row(layer: Layer) -> tuple[int, ...]:
        """One layer's values in :meth:`columns` order."""
        return tuple(int(getattr(layer, name)) for name in LayerTable.columns())

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

    def take(self, index: np.ndarray) -> LayerTable:
        return LayerTable(**{f.name: getattr(self, f.name)[index] for f in fields(self)})
