"""Operators: the unit of an operator-level (graph) network, with their tensor shapes and counts.

An :class:`Op` is one node of a :class:`~hwpower.networks.graph.GraphNetwork`: a kind
(:class:`~hwpower.networks.layers.LayerOp`), the names of the tensors it reads, the shapes of those
tensors and of its output, and the attributes of its kind. The kinds, with their attributes, checks
and counting rules (and the conventions the counts follow), are in :mod:`hwpower.networks.opkinds`;
their tables are importable from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .layers import LayerOp, OpGeometry
from .opkinds import (  # noqa: F401 (the kinds' tables, importable from here as before the split)
    ACT_FNS, ELTWISE_FNS, KIND_BY_NAME, KIND_NAMES, KINDS, MOVE_FNS, NORM_FNS, POOL_FNS, SOFTMAX_OPS,
    UPSAMPLE_FNS, KindSpec, Shape, as_pair, conv_out, numel,
)


@dataclass(frozen=True, slots=True)
class Op:
    """One operator: its kind, input tensor names and shapes, output shape and kind attributes.

    Build through :meth:`build` (or :func:`op_from_dict`) to validate; counts are properties.
    """

    name: str
    kind: LayerOp
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    attrs: tuple[tuple[str, Any], ...] = field(default=())

    @classmethod
    def build(cls, name: str, kind: LayerOp | str, inputs: tuple[str, ...] | list[str],
              in_shapes: tuple[Shape, ...] | list[Shape], out_shape: Shape, **attrs: Any) -> Op:
        """Validate attributes and shapes against the kind's rules; raises ``ValueError``."""
        if isinstance(kind, str):
            if kind not in KIND_BY_NAME:
                raise ValueError(f"unknown operator kind {kind!r} (known: {sorted(KIND_BY_NAME)})")
            kind = KIND_BY_NAME[kind]
        spec = KINDS[kind]
        unknown = sorted(set(attrs) - set(spec.attrs) - {"params"})
        if unknown:
            raise ValueError(f"unknown attribute(s) {unknown} for a {KIND_NAMES[kind]} operator "
                             f"(known: {sorted(spec.attrs)} and params)")
        full = {**spec.attrs, **attrs}
        full.setdefault("params", 0)
        for key in _TUPLE_ATTRS & set(full):
            full[key] = as_pair(full[key], key)
        for key, value in full.items():  # each attribute has its default's type
            default = spec.attrs.get(key, 0)
            if type(value) is not type(default) and not (isinstance(default, tuple) and isinstance(value, tuple)):
                raise ValueError(f"{name}: attribute {key!r} must be of type {type(default).__name__}, got {value!r}")
        op = cls(name, kind, tuple(inputs), tuple(tuple(int(d) for d in s) for s in in_shapes),
                 tuple(int(d) for d in out_shape), tuple(sorted(full.items())))
        op._check(spec)
        return op

    # -- attributes -------------------------------------------------------------------------------
    def attr(self, key: str) -> Any:
        for k, v in self.attrs:
            if k == key:
                return v
        raise KeyError(key)

    @property
    def attr_dict(self) -> dict[str, Any]:
        return dict(self.attrs)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    @property
    def op(self) -> LayerOp:  # the oracle's name for the kind (shared with block layers)
        return self.kind

    def _check(self, spec: KindSpec) -> None:
        if not self.name:
            raise ValueError("an operator needs a name")
        if not self.in_shapes:
            raise ValueError(f"{self.name}: a {self.kind_name} operator needs at least one input")
        if len(self.inputs) != len(self.in_shapes):
            raise ValueError(f"{self.name}: {len(self.inputs)} input names but {len(self.in_shapes)} input shapes")
        for s in (*self.in_shapes, self.out_shape):
            if not s or any(d < 1 for d in s):
                raise ValueError(f"{self.name}: tensor shape {list(s)} must have positive dimensions")
        if not isinstance(self.attr("params"), int) or self.attr("params") < 0:
            raise ValueError(f"{self.name}: params must be a non-negative integer")
        try:
            spec.check(self)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{self.name} ({self.kind_name}): {exc}") from None

    # -- counts -----------------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        return KINDS[self.kind].macs(self)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def other_ops(self) -> int:
        return KINDS[self.kind].other_ops(self)

    @property
    def weights(self) -> int:
        return KINDS[self.kind].weights(self) + self.attr("params")

    @property
    def in_act(self) -> int:
        return sum(numel(s) for s in self.in_shapes)

    @property
    def out_act(self) -> int:
        return numel(self.out_shape)

    @property
    def branch(self) -> bool:  # graph networks measure depth by longest path instead
        return False

    def geometry(self) -> OpGeometry:
        return KINDS[self.kind].geometry(self)

    def to_dict(self) -> dict[str, Any]:
        spec = KINDS[self.kind]
        out: dict[str, Any] = {"name": self.name, "kind": self.kind_name, "inputs": list(self.inputs),
                               "shape": list(self.out_shape)}
        for key, value in self.attrs:
            default = spec.attrs.get(key, 0)
            if value != default:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


_TUPLE_ATTRS = frozenset({"kernel", "stride", "padding", "dilation"})


def op_from_dict(data: Any, shapes: Mapping[str, Shape]) -> Op:
    """Build an operator from its JSON object; ``shapes`` maps every tensor name defined so far
    (graph inputs and earlier operators) to its shape. Raises ``ValueError`` with the problem."""
    if not isinstance(data, dict):
        raise ValueError(f"an operator must be a JSON object, got {type(data).__name__}")
    missing = [k for k in ("name", "kind", "inputs", "shape") if k not in data]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    name, inputs, shape = data["name"], data["inputs"], data["shape"]
    if not isinstance(name, str) or not name:
        raise ValueError(f"'name' must be a non-empty string, got {name!r}")
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise ValueError(f"{name}: 'inputs' must be a list of tensor names")
    unknown = [x for x in inputs if x not in shapes]
    if unknown:
        raise ValueError(f"{name}: input(s) {unknown} are neither graph inputs nor earlier operators")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise ValueError(f"{name}: 'shape' must be a list of integers")
    attrs = {k: (tuple(v) if k in _TUPLE_ATTRS and isinstance(v, list) else v)
             for k, v in data.items() if k not in ("name", "kind", "inputs", "shape")}
    return Op.build(name, data["kind"], inputs, [shapes[x] for x in inputs], tuple(shape), **attrs)
