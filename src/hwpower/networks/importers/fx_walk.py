"""The state of one fx-graph conversion (:class:`Walk`): which fx node is which hwpower tensor,
constant or parameter, and how converters append operators to the graph being built.

The lowest layer of the PyTorch importer: :mod:`.aten_registry` and the converter modules
(:mod:`.aten_ops`, :mod:`.aten_other`, :mod:`.aten_move`) read and extend a :class:`Walk`;
:mod:`.torch_graph` captures a module and drives the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import fx

from ...errors import InputError
from ..layers import LayerOp
from ..ops import Op, Shape


class Walk:
    """The state of one conversion: which fx node is which hwpower tensor, constant or parameter."""

    def __init__(self, graph: fx.Graph, params: dict[str, tuple[str, int]], model: str):
        self.model = model
        self.order = {n: i for i, n in enumerate(graph.nodes)}
        self.tensor: dict[fx.Node, str] = {}  # activation node -> tensor name
        self.const: dict[fx.Node, frozenset[str]] = {}  # constant node -> parameters it derives from
        self.multi: dict[fx.Node, Any] = {}  # multi-output node -> what getitem needs (converter's choice)
        self.inputs: dict[str, Shape] = {}
        self.ops: list[Op] = []
        self.index: dict[str, int] = {}  # tensor name -> position in ops
        self.origin: dict[str, fx.Node] = {}  # tensor name -> the node that produced it
        self.counted: set[str] = set()
        self.numel = {fqn: n for fqn, n in params.values()}  # params: placeholder -> (qualified name, numel)

    # -- what a node argument is ----------------------------------------------------------------
    def is_act(self, arg: Any) -> bool:
        return isinstance(arg, fx.Node) and arg in self.tensor

    def acts(self, args: Any) -> list[fx.Node]:
        """Activation nodes among (nested) arguments, each once, in order."""
        found: list[fx.Node] = []
        for a in _flat(args):
            if self.is_act(a) and a not in found:
                found.append(a)
        return found

    def origins(self, args: Any) -> frozenset[str]:
        return frozenset().union(*(self.const[a] for a in _flat(args) if isinstance(a, fx.Node) and a in self.const))

    def take(self, args: Any) -> int:
        """Elements of the parameters under ``args`` not yet counted; marks them counted."""
        new = self.origins(args) - self.counted
        self.counted |= new
        return sum(self.numel[p] for p in new)

    def reused(self, arg: Any) -> bool:
        """Whether ``arg`` derives from parameters that an earlier operator already counted (weight sharing)."""
        origins = self.origins(arg)
        return bool(origins) and origins <= self.counted

    def shape(self, arg: fx.Node | str) -> Shape:
        return self.shapes_by_name(self.tensor[arg] if isinstance(arg, fx.Node) else arg)

    def shapes_by_name(self, name: str) -> Shape:
        return self.ops[self.index[name]].out_shape if name in self.index else self.inputs[name]

    # -- naming and errors ----------------------------------------------------------------------
    def path(self, node: fx.Node) -> str:
        stack = node.meta.get("nn_module_stack")
        return list(stack.values())[-1][0] if stack else ""

    def where(self, node: fx.Node) -> str:
        return f"{self.path(node) or self.model} ({_target_name(node)})"

    def error(self, node: fx.Node, problem: str) -> InputError:
        return InputError(problem, where=self.where(node))

    def _unique(self, node: fx.Node, suffix: str | None) -> str:
        target = node.target
        path = self.path(node)
        own = target._opname.rstrip("_") if isinstance(target, torch._ops.OpOverload) else node.name
        short = (f"{own}.{suffix}" if not path else suffix) if suffix else own  # a top-level suffix alone says little
        stack = node.meta.get("nn_module_stack")
        leaf = stack and str(list(stack.values())[-1][1]).startswith("torch.nn.modules.")
        base = path if path and leaf and suffix is None else ".".join(filter(None, (path, short)))
        name, i = base, 1
        while name in self.index or name in self.inputs:
            i += 1
            name = f"{base}_{i}"
        return name

    # -- emitting operators ---------------------------------------------------------------------
    def out_shape(self, node: fx.Node) -> Shape:
        """The static shape of the node's output; of its first output when it has several."""
        val = node.meta.get("val")
        if isinstance(val, (list, tuple)) and val:
            val = val[0]
        if not isinstance(val, torch.Tensor):
            raise self.error(node, f"expected a tensor output, got {type(val).__name__}")
        return _static(val.shape, self, node)

    def emit(self, node: fx.Node, kind: LayerOp, inputs: list[fx.Node | str], out_shape: Shape | None = None, *,
             suffix: str | None = None, bind: bool = True, **attrs: Any) -> str:
        """Append an operator reading ``inputs`` (activation nodes or tensor names); with ``bind``
        the node's output is this operator's. Returns the operator's (tensor) name."""
        names = [self.tensor[x] if isinstance(x, fx.Node) else x for x in inputs]
        shape = self.out_shape(node) if out_shape is None else out_shape
        name = self._unique(node, suffix)
        try:
            op = Op.build(name, kind, names, [self.shapes_by_name(x) for x in names], shape, **attrs)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None
        self.index[name] = len(self.ops)
        self.ops.append(op)
        self.origin[name] = node
        if bind:
            self.bind(node, name)
        return name

    def bind(self, node: fx.Node, name: str) -> None:
        self.tensor[node] = name
        if _is_inplace(node) and self.is_act(node.args[0]):  # later readers of the mutated input see this
            self.tensor[node.args[0]] = name

    def alias(self, node: fx.Node, src: fx.Node) -> None:
        self.bind(node, self.tensor[src])

    def producer(self, node: fx.Node, consumer: fx.Node) -> Op | None:
        """The operator that made ``node``'s tensor, when ``consumer`` is its only reader (so that
        it may fold into that operator); ``None`` otherwise."""
        name = self.tensor.get(node)
        if name is None or name not in self.index or self.origin[name] is not node:
            return None
        users = [u for u in node.users if u is not consumer]
        if users and not (_is_inplace(consumer) and all(self.order[u] > self.order[consumer] for u in users)):
            return None
        return self.ops[self.index[name]]

    def replace(self, op: Op, node: fx.Node, **changes: Any) -> None:
        """Rebuild ``op`` with changed attributes and bind ``node`` to it (a folded norm or activation)."""
        attrs = {**op.attr_dict, **changes}
        try:
            new = Op.build(op.name, op.kind, op.inputs, op.in_shapes, op.out_shape, **attrs)
        except ValueError as exc:
            raise self.error(node, str(exc)) from None
        self.ops[self.index[op.name]] = new
        self.origin[op.name] = node  # what follows may fold into it in turn (conv, norm, then act)
        self.bind(node, op.name)


def _flat(args: Any) -> Iterator[Any]:
    if isinstance(args, (list, tuple)):
        for a in args:
            yield from _flat(a)
    elif isinstance(args, dict):
        for a in args.values():
            yield from _flat(a)
    else:
        yield args


def _target_name(node: fx.Node) -> str:
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target._opname}.{target._overloadname}" if target.namespace == "aten" else str(target)
    return getattr(target, "__name__", str(target))


def _is_inplace(node: fx.Node) -> bool:
    """Whether the operator writes into its first argument (``relu_``, ``add_``), by its schema."""
    target = node.target
    if not isinstance(target, torch._ops.OpOverload) or not node.args or not target._schema.arguments:
        return False
    alias = target._schema.arguments[0].alias_info
    return alias is not None and alias.is_write


def _static(shape: Any, walk: Walk, node: fx.Node) -> Shape:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, RuntimeError):
        raise walk.error(node, f"shape {list(shape)} is not static (data-dependent)") from None
    if any(d < 1 for d in dims):
        raise walk.error(node, f"empty tensor of shape {list(dims)} (data-dependent size)")
    return dims or (1,)  # a 0-d tensor is one element
