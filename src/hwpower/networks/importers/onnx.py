"""Import an ONNX file as an operator graph: ``onnx:PATH`` (docs/importers.md).

The file is read with the ``onnx`` package (external weight data is not loaded: only tensor shapes
matter), its shapes inferred by ``onnx.shape_inference`` in strict mode with data propagation, and
each node mapped to an :class:`~hwpower.networks.ops.Op` by a handler registered for its exact
``op_type`` in :data:`~.onnx_nodes.HANDLERS`, which extends the conversion state
(:class:`~.onnx_graph.OnnxGraph`).

Constant sub-graphs (initializers, ``Constant``, shape arithmetic, anything whose inputs are all
constant, the output of ``Shape``) are folded away, as a runtime would; each constant remembers the
floating-point initializers it derives from, so that every weight is counted exactly once: by the
operator kind's own rule (conv, linear, embedding, norm) or, for the constant operand of an
element-wise or data-movement operator (a position embedding, a class token, a layer scale), as its
``params``. Scalars and integer tensors (epsilons, shapes, indices) are constants, not weights.

A batch norm that is a conv's or linear layer's only consumer is folded into it (``norm="batch"``),
as is an activation that follows it alone (``act=``); a ``MatMul`` by a constant with a constant
``Add`` after it is a linear layer with bias.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import NodeProto, TensorProto, numpy_helper
from onnx.reference import ReferenceEvaluator

from ...errors import InputError
from ..graph import GraphNetwork
from ..ops import Shape
from . import ImportOptions
from .onnx_graph import OnnxGraph, is_weight_initializer, static_shape
from .onnx_nodes import HANDLERS, SKIPPED

# Shape arithmetic evaluated before conversion, on tensors of at most FOLD_LIMIT elements.
FOLDABLE = frozenset({
    "Constant", "ConstantOfShape", "Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Cast", "CastLike",
    "Identity", "Reshape", "Expand", "Tile", "Transpose", "Range", "Add", "Sub", "Mul", "Div", "Mod", "Neg",
    "Abs", "Min", "Max", "Floor", "Ceil", "Sqrt", "Equal", "Less", "Greater", "Not", "And", "Or", "Where",
    "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin",
})
FOLD_LIMIT = 4096


def _graph_inputs(model: onnx.ModelProto, path: str, overrides: Mapping[str, Shape]) -> dict[str, Shape]:
    """Each real graph input's static shape, fixing symbolic dimensions from ``overrides``."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    unknown = sorted(set(overrides) - {i.name for i in inputs})
    if unknown:
        raise InputError(f"--input-shape names {unknown}, not inputs of the model "
                         f"(inputs: {[i.name for i in inputs]})", file=path)
    shapes = {}
    for info in inputs:
        dims = info.type.tensor_type.shape.dim
        if info.name in overrides:
            shape = tuple(overrides[info.name])
            if len(shape) != len(dims):
                raise InputError(f"--input-shape gives {len(shape)} dimensions, the model's input has {len(dims)}",
                                 file=path, where=f"input {info.name!r}")
            for d, value in zip(dims, shape, strict=True):
                d.Clear()
                d.dim_value = value
        else:
            for i, d in enumerate(dims):
                if not d.HasField("dim_value"):
                    symbol = d.dim_param or "?"
                    raise InputError(f"dimension {i} is symbolic ({symbol!r}); give the shape with --input-shape",
                                     file=path, where=f"input {info.name!r}")
        shapes[info.name] = tuple(d.dim_value for d in dims)
    return shapes


def _strip_weight_data(model: onnx.ModelProto) -> None:
    """Drop the data of large initializers (only their shapes matter): inference copies the model."""
    for init in model.graph.initializer:
        if math.prod(init.dims) > FOLD_LIMIT and init.data_location != TensorProto.EXTERNAL:
            for key in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                init.ClearField(key)
            init.data_location = TensorProto.EXTERNAL
            init.external_data.add(key="location", value="(not loaded)")


def _infer(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, RuntimeError) as exc:
        raise InputError(f"ONNX shape inference failed: {str(exc).splitlines()[0]}", file=path) from None


def _evaluate(node: NodeProto, values: dict[str, np.ndarray], shapes: Mapping[str, Shape | None],
              opsets: dict[str, int], path: str) -> list[np.ndarray] | None:
    """The outputs of a shape-arithmetic node whose inputs are known, else ``None``."""
    inputs = [x for x in node.input if x]
    if all(o in values for o in node.output):  # evaluated on an earlier pass
        return [values[o] for o in node.output]
    if node.op_type in ("Shape", "Size"):
        shape = shapes.get(inputs[0])
        if shape is None:
            return None
        if node.op_type == "Size":
            return [np.array(math.prod(shape), dtype=np.int64)]
        a = {at.name: at.i for at in node.attribute}
        return [np.array(shape[a.get("start", 0):a.get("end", len(shape))], dtype=np.int64)]
    if node.op_type not in FOLDABLE or node.domain not in ("", "ai.onnx") or any(x not in values for x in inputs):
        return None
    try:
        outs = ReferenceEvaluator(node, opsets=opsets).run(None, {x: values[x] for x in inputs})
    except (ValueError, TypeError, IndexError, RuntimeError) as exc:
        raise InputError(f"cannot evaluate the constant node: {exc}", file=path,
                         where=f"node {node.name or node.output[0]!r} ({node.op_type})") from None
    return None if any(np.size(v) > FOLD_LIMIT for v in outs) else [np.asarray(v) for v in outs]


def fold_shape_arithmetic(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    """Infer shapes, evaluating the shape arithmetic exporters leave (``Shape`` -> ``Gather`` ->
    ``Concat`` -> ``Reshape``) into constants until every shape that can be static is."""
    opsets = {o.domain or "": o.version for o in model.opset_import}
    # weights stay initializers, so that the converter can count them
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer
              if i.data_location != TensorProto.EXTERNAL and math.prod(i.dims) <= FOLD_LIMIT
              and not is_weight_initializer(i)}
    while True:
        model = _infer(model, path)
        graph = model.graph
        shapes = {info.name: static_shape(info) for info in (*graph.value_info, *graph.input, *graph.output)}
        nodes, changed = [], False
        for node in graph.node:
            outs = _evaluate(node, values, shapes, opsets, path)
            if outs is None:
                nodes.append(node)
                continue
            for name, value in zip(node.output, outs, strict=False):
                values[name] = value
                nodes.append(onnx.helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
            changed |= node.op_type != "Constant"
        if not changed:
            return model
        del graph.node[:]
        graph.node.extend(nodes)


def onnx_network(path: str | Path, input_shapes: Mapping[str, Shape] | None = None, *,
                 name: str | None = None, source: str | None = None) -> GraphNetwork:
    """The operator graph of an ONNX file; ``input_shapes`` fixes inputs with symbolic dimensions."""
    path = str(path)
    try:
        model = onnx.load(path, load_external_data=False)
    except (OSError, ValueError, DecodeError) as exc:
        raise InputError(f"cannot read as ONNX: {exc}", file=path) from None
    inputs = _graph_inputs(model, path, input_shapes or {})
    _strip_weight_data(model)
    model = fold_shape_arithmetic(model, path)
    graph = OnnxGraph(model, path)
    graph.hw_shapes.update(inputs)
    for node in graph.nodes:
        convert_node(graph, node)
    if not graph.ops:
        raise InputError("the model has no operators that compute on its inputs", file=path)
    try:
        return GraphNetwork.build(graph.ops, inputs, name=name or Path(path).stem, source=source or f"onnx:{path}")
    except ValueError as exc:
        raise InputError(str(exc), file=path) from None


def convert_node(graph: OnnxGraph, node: NodeProto) -> None:
    if id(node) in graph.done:
        return
    if node.domain not in ("", "ai.onnx"):
        raise graph.error(f"operator of domain {node.domain!r} is not supported", node)
    if node.op_type in ("Shape", "Size"):
        graph.mark_shape(node)
    elif all(graph.is_const(x) for x in _data_inputs(node)):
        graph.fold_const(node)  # includes Constant, ConstantOfShape and nodes without inputs
    elif node.op_type in SKIPPED:
        graph.alias_to(node.output[0], node.input[0])
    elif node.op_type in HANDLERS:
        HANDLERS[node.op_type](graph, node)
    else:
        raise graph.error(f"unsupported ONNX operator {node.op_type!r} (supported: docs/importers.md)", node)


def _data_inputs(node: NodeProto) -> list[str]:
    """The inputs whose values matter (``CastLike`` reads only the element type of its second)."""
    inputs = [x for x in node.input if x]
    return inputs[:1] if node.op_type == "CastLike" else inputs


def parse_input_shapes(text: str) -> dict[str, Shape]:
    """``NAME=1x3x224x224[,NAME2=...]`` (``;`` also separates inputs)."""
    shapes: dict[str, Shape] = {}
    for part in text.replace(";", ",").split(","):
        key, sep, dims = part.strip().partition("=")
        try:
            shape = tuple(int(d) for d in dims.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not key or not shape or min(shape) < 1:
            raise InputError(f"expected NAME=DxDx... with positive dimensions, got {part!r}", where="--input-shape")
        shapes[key] = shape
    return shapes


def import_onnx(name: str, options: ImportOptions) -> GraphNetwork:
    """Registry entry for ``onnx:PATH`` (``options.input_shape`` fixes the first input)."""
    path = Path(name)
    if not path.is_file():
        raise InputError("no such ONNX file", file=name)
    if options.resolution is not None or options.batch != 1 or options.num_classes is not None:
        raise InputError("an ONNX file fixes its input size, batch and classes; "
                         "give the whole input shape with --input-shape", file=name)
    overrides: dict[str, Shape] = {}
    if options.input_shape is not None:
        model = onnx.load(name, load_external_data=False)
        inits = {i.name for i in model.graph.initializer}
        first = next(i.name for i in model.graph.input if i.name not in inits)
        overrides[first] = tuple(options.input_shape)
    return onnx_network(path, overrides, source=f"onnx:{name}")

