"""The registry of ATen converters, keyed by exact overload, and the argument helpers they share.

Each converter is ``fn(walk, node)``: it reads the node's arguments (activations are nodes the
:class:`~hwpower.networks.importers.fx_walk.Walk` knows as tensors; parameters and other
constants emit nothing themselves), appends operators with ``walk.emit`` and binds the node's
output. Converters register themselves with :func:`converts` when their module is imported:
:mod:`.aten_ops` (operators with MACs), :mod:`.aten_other` (norms, activations, element-wise,
reductions, pooling ...), :mod:`.aten_move` (data movement, no-ops, constants).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import fx
from torch._ops import OpOverload

from ..ops import Shape
from .fx_walk import Walk

aten = torch.ops.aten

Converter = Callable[[Walk, fx.Node], None]
CONVERTERS: dict[OpOverload, Converter] = {}


def converts(*overloads: OpOverload) -> Callable[[Converter], Converter]:
    def wrap(fn: Converter) -> Converter:
        for o in overloads:
            CONVERTERS[o] = fn
        return fn
    return wrap


def arg(node: fx.Node, i: int, key: str, default: object = None) -> object:
    """Positional argument ``i`` or keyword ``key`` of an ATen call."""
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(key, default)


def shape_of(node: object) -> Shape:
    return tuple(int(d) for d in node.meta["val"].shape)  # type: ignore[union-attr]


def pairs(value: object, n: int, default: int) -> tuple[int, ...]:
    """An ATen size argument (an int, or a list of one or n) as n integers."""
    if value is None or value == []:
        return (default,) * n
    values = [int(v) for v in value] if isinstance(value, (list, tuple)) else [int(value)]  # type: ignore[arg-type]
    return tuple(values * n)[:n] if len(values) == 1 else tuple(values)
