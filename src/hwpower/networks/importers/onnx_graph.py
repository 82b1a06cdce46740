"""The state of one ONNX conversion (:class:`OnnxGraph`): inferred shapes, folded constants and
the weights behind them, the operators made so far.

The lowest layer of the ONNX importer: the node handlers (:mod:`.onnx_nodes`) read and extend an
:class:`OnnxGraph`; :mod:`.onnx` reads the file, folds shape arithmetic and drives the conversion.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import onnx
from onnx import NodeProto, TensorProto, numpy_helper

from ...errors import InputError
from ..layers import LayerOp
from ..ops import Op, Shape

# Element types of weights; integer and boolean initializers are indices, shapes or masks.
FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE})


class OnnxGraph:
    """The conversion state: inferred shapes, folded constants, the operators made so far."""

    def __init__(self, model: onnx.ModelProto, path: str):
        self.path = path
        graph = model.graph
        self.nodes: list[NodeProto] = list(graph.node)
        self.shapes: dict[str, Shape | None] = {}
        for info in (*graph.value_info, *graph.input, *graph.output):
            self.shapes[info.name] = static_shape(info)
        # constant tensor -> the weight initializers it derives from (empty for non-weights)
        self.consts: dict[str, frozenset[str]] = {}
        self.values: dict[str, np.ndarray] = {}  # small constants whose values are known
        self.sizes: dict[str, int] = {}
        for init in graph.initializer:
            self.consts[init.name] = frozenset({init.name}) if is_weight_initializer(init) else frozenset()
            self.sizes[init.name] = math.prod(init.dims)
            self.shapes[init.name] = tuple(init.dims)
            if init.data_location != TensorProto.EXTERNAL and math.prod(init.dims) <= 64:
                self.values[init.name] = numpy_helper.to_array(init)
        self.consumers: dict[str, list[NodeProto]] = defaultdict(list)
        for node in self.nodes:
            for x in node.input:
                if x:
                    self.consumers[x].append(node)
        self.graph_outputs = {o.name for o in graph.output}
        self.alias: dict[str, str] = {}  # ONNX activation tensor -> hwpower tensor
        self.hw_shapes: dict[str, Shape] = {}
        self.ops: list[Op] = []
        self.counted: set[str] = set()  # weight initializers already in the count
        self.done: set[int] = set()  # ids of nodes folded into an earlier operator

    # -- questions about tensors ------------------------------------------------------------------
    def is_const(self, name: str) -> bool:
        return name in self.consts

    def is_weight(self, name: str | None) -> bool:
        """A constant derived from floating-point initializers (not an exporter's zeros or shapes)."""
        return bool(name) and bool(self.consts.get(name))

    def counted_already(self, name: str) -> bool:
        """The weights behind this constant are another operator's (tied): counted once, there."""
        origin = self.consts.get(name, frozenset())
        return bool(origin) and origin <= self.counted

    def activations(self, node: NodeProto) -> list[str]:
        return [x for x in node.input if x and not self.is_const(x)]

    def shape(self, name: str, node: NodeProto) -> Shape:
        shape = self.shapes.get(name)
        if shape is None:
            raise self.error(f"shape inference left the shape of tensor {name!r} unknown or symbolic", node)
        return shape

    def value(self, name: str) -> np.ndarray | None:
        return self.values.get(name) if name else None

    def only_consumer(self, tensor: str) -> NodeProto | None:
        """The node that alone reads ``tensor``, if it is not also a graph output."""
        users = self.consumers.get(tensor, [])
        if len(users) == 1 and tensor not in self.graph_outputs and id(users[0]) not in self.done:
            return users[0]
        return None

    def error(self, problem: str, node: NodeProto) -> InputError:
        return InputError(problem, file=self.path, where=f"node {node.name or node.output[0]!r} ({node.op_type})")

    # -- recording --------------------------------------------------------------------------------
    def fold_const(self, node: NodeProto) -> None:
        origin = frozenset().union(*(self.consts.get(x, frozenset()) for x in node.input if x))
        for out in node.output:
            if out:
                self.consts[out] = origin
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    self.values[node.output[0]] = numpy_helper.to_array(attr.t)
        elif node.op_type in ("Identity", "Cast") and node.input[0] in self.values:
            self.values[node.output[0]] = self.values[node.input[0]]

    def mark_shape(self, node: NodeProto) -> None:
        """``Shape``/``Size`` of an activation: known statically, so a constant."""
        for out in node.output:
            self.consts[out] = frozenset()

    def take(self, names: Sequence[str]) -> int:
        """Elements of the weights behind constant tensors not counted yet; marks them counted."""
        inits = frozenset().union(*(self.consts.get(x, frozenset()) for x in names if x)) - self.counted
        self.counted |= inits
        return sum(self.sizes[i] for i in inits)

    def alias_to(self, tensor: str, source: str) -> None:
        self.alias[tensor] = self.alias.get(source, source)

    def emit(self, node: NodeProto, kind: LayerOp, inputs: Sequence[str], output: str, *,
             weights: Sequence[str] = (), **attrs: object) -> str:
        """Add one operator reading the activations ``inputs`` and writing ``output``.

        ``weights`` are the constant operands the kind counts by its own rule (marked counted)."""
        self.take(weights)
        hw_inputs = [self.alias.get(x, x) for x in inputs]
        missing = [x for x, h in zip(inputs, hw_inputs, strict=True) if h not in self.hw_shapes]
        if missing:
            raise self.error(f"reads {missing}, which no supported operator wrote (a secondary output?)", node)
        name = node.name or output
        if name in self.hw_shapes:
            name = output
        out_shape = self.shape(output, node)
        try:
            op = Op.build(name, kind, hw_inputs, [self.hw_shapes[x] for x in hw_inputs], out_shape, **attrs)
        except ValueError as exc:
            raise self.error(str(exc), node) from None
        self.ops.append(op)
        self.hw_shapes[name] = op.out_shape
        self.alias[output] = name
        return name


def is_weight_initializer(init: TensorProto) -> bool:
    return init.data_type in FLOAT_TYPES and math.prod(init.dims) > 1


def static_shape(info: onnx.ValueInfoProto) -> Shape | None:
    tensor = info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    return None if any(d is None or d < 0 for d in dims) else tuple(dims)
