"""Operator-level networks: a DAG of operators with tensor shapes (docs/data-format.md).

JSON form, one entry of a ``nets_*.json`` file::

    {"name": "resnet18", "source": "torchvision:resnet18",
     "inputs": {"x": [1, 3, 224, 224]},
     "ops": [{"name": "conv1", "kind": "conv2d", "inputs": ["x"], "shape": [1, 64, 112, 112],
              "kernel": [7, 7], "stride": [2, 2], "padding": [3, 3], "norm": "batch", "act": "relu"},
             ...]}

Operators are listed in execution (topological) order; each names the tensors it reads (graph
inputs or earlier operators) and gives its output shape. The network's output is its last operator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .layers import LayerOp, LayerTable
from .network import Counts
from .ops import Op, Shape, op_from_dict

MAC_KINDS = (LayerOp.CONV, LayerOp.LINEAR, LayerOp.MATMUL)


@dataclass(frozen=True)
class GraphNetwork:
    """Operators in execution order, the graph inputs and their shapes. Build through :meth:`build`."""

    ops: tuple[Op, ...]
    inputs: tuple[tuple[str, Shape], ...]
    name: str | None = None
    source: str | None = None  # where it came from, e.g. "torchvision:resnet50"

    @classmethod
    def build(cls, ops: list[Op] | tuple[Op, ...], inputs: Mapping[str, Shape], name: str | None = None,
              source: str | None = None) -> GraphNetwork:
        """Check that names are unique and every operator reads defined tensors of the right shape."""
        if not ops:
            raise ValueError("a network needs at least one operator")
        if not inputs:
            raise ValueError("a graph network needs at least one input")
        shapes: dict[str, Shape] = {}
        for key, shape in inputs.items():
            if not isinstance(key, str) or not key:
                raise ValueError(f"input names must be non-empty strings, got {key!r}")
            shape = tuple(shape)
            if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
                raise ValueError(f"input {key!r}: shape {list(shape)} must be a list of positive integers")
            shapes[key] = shape
        for i, op in enumerate(ops):
            if op.name in shapes:
                raise ValueError(f"operator {i} ({op.name}): the name is already used")
            for x, s in zip(op.inputs, op.in_shapes, strict=True):
                if shapes.get(x) != s:
                    raise ValueError(f"operator {i} ({op.name}): input {x!r} has shape "
                                     f"{list(shapes[x]) if x in shapes else 'undefined'}, the operator expects {list(s)}")
            shapes[op.name] = op.out_shape
        return cls(tuple(ops), tuple((k, tuple(v)) for k, v in inputs.items()), name, source)

    @classmethod
    def from_dict(cls, data: Any) -> GraphNetwork:
        if not isinstance(data, dict):
            raise ValueError(f"a network must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"ops", "inputs", "name", "source"})
        if unknown:
            raise ValueError(f"unknown network field(s) {unknown}")
        inputs, raw_ops = data.get("inputs"), data.get("ops")
        if not isinstance(inputs, dict) or not inputs:
            raise ValueError("'inputs' must be an object mapping input names to shapes")
        if not isinstance(raw_ops, list) or not raw_ops:
            raise ValueError("'ops' must be a non-empty list")
        for key in ("name", "source"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"{key!r} must be a string, got {data[key]!r}")
        shapes: dict[str, Shape] = {}
        for key, shape in inputs.items():
            if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
                raise ValueError(f"input {key!r}: shape must be a list of integers")
            shapes[key] = tuple(shape)
        ops = []
        for i, raw in enumerate(raw_ops):
            try:
                op = op_from_dict(raw, shapes)
            except ValueError as exc:
                raise ValueError(f"operator {i}: {exc}") from None
            if op.name in shapes:
                raise ValueError(f"operator {i} ({op.name}): the name is already used")
            shapes[op.name] = op.out_shape
            ops.append(op)
        return cls.build(ops, {k: shapes[k] for k in inputs}, data.get("name"), data.get("source"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        if self.source is not None:
            out["source"] = self.source
        out["inputs"] = {k: list(v) for k, v in self.inputs}
        out["ops"] = [op.to_dict() for op in self.ops]
        return out

    # -- the interface block networks share ---------------------------------------------------------
    @property
    def input_resolution(self) -> int:
        """The last dimension of the first input (image width; sequence length for tokens)."""
        return int(self.inputs[0][1][-1])

    @property
    def input_shape(self) -> Shape:
        return self.inputs[0][1]

    @property
    def layers(self) -> list[Op]:
        return list(self.ops)

    @cached_property
    def counts(self) -> Counts:
        ops = self.ops
        return Counts(macs=sum(o.macs for o in ops), flops=sum(o.flops for o in ops),
                      other_ops=sum(o.other_ops for o in ops), weights=sum(o.weights for o in ops),
                      in_act=sum(o.in_act for o in ops), out_act=sum(o.out_act for o in ops),
                      depth=self.depth, n_layers=len(ops))

    @cached_property
    def depth(self) -> int:
        """Weight layers (conv, linear, matmul) on the longest path: a shortcut branch is not counted."""
        longest: dict[str, int] = {}
        for op in self.ops:
            longest[op.name] = max((longest.get(x, 0) for x in op.inputs), default=0) + (op.kind in MAC_KINDS)
        return max(longest.values())

    @cached_property
    def _rows(self) -> tuple[tuple[int, ...], ...]:
        return tuple(LayerTable.row(op) for op in self.ops)

    def layer_table(self) -> LayerTable:
        """The operators as column arrays for the oracle (a fresh table each call)."""
        return LayerTable.from_rows(list(self._rows))

    def kinds(self) -> set[str]:
        return {op.kind_name for op in self.ops}
