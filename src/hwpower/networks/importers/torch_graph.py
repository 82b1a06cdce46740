"""Turn any ``nn.Module`` into an operator-level :class:`~hwpower.networks.graph.GraphNetwork`.

The module is captured with ``torch.export.export(strict=False)``, which keeps the high-level ATen
operators (``aten.conv2d``, ``aten.linear``, ``aten.scaled_dot_product_attention`` ...), with each
node's output shape (``meta["val"]``) and the module it was called from (``meta["nn_module_stack"]``).
When export fails, ``make_fx`` gives the same vocabulary one level lower (no module paths).

The fx graph is walked once in order (:class:`Walk`). Parameters, buffers and everything computed
from them alone (an expanded class token, a relative-position bias gathered by a constant index,
an attention mask built from ``arange``) are *constants*: they emit no operator, and each
parameter they derive from is counted once, on the first operator that consumes it (a kind's own
weights such as a convolution's kernel, else ``params=``). So an imported network's weights equal
``sum(p.numel() for p in module.parameters())``. Each ATen operator is converted by the function
registered for its exact overload in :data:`hwpower.networks.importers.aten_ops.CONVERTERS`.
"""

from __future__ import annotations

import contextlib
import io
import logging
import operator
from collections.abc import Iterator
from typing import Any

import torch
from torch import fx, nn

from ...errors import InputError
from ..graph import GraphNetwork
from ..layers import LayerOp
from ..ops import Op, Shape

log = logging.getLogger(__name__)


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


class TraceError(InputError):
    """Neither torch.export nor make_fx could capture the module (data-dependent control flow ...)."""


# -- capture -----------------------------------------------------------------------------------
def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _capture_export(module: nn.Module, example_inputs: tuple) -> tuple[fx.Graph, dict, set, list[str]]:
    ep = torch.export.export(module, example_inputs, strict=False)
    sig = ep.graph_signature
    state = {**ep.state_dict, **ep.constants}
    params = {ph: (fqn, state[fqn].numel()) for ph, fqn in sig.inputs_to_parameters.items()}
    consts = set(sig.inputs_to_buffers) | set(sig.inputs_to_lifted_tensor_constants)
    return ep.graph, params, consts, [u for u in sig.user_inputs]


def _capture_fx(module: nn.Module, example_inputs: tuple) -> tuple[fx.Graph, dict, set, list[str]]:
    """make_fx over ``functional_call`` so parameters and buffers arrive as placeholders, in order."""
    from torch.fx.experimental.proxy_tensor import make_fx

    named_params = dict(module.named_parameters())
    buffers = dict(module.named_buffers())

    def call(p: dict, b: dict, *xs: Any) -> Any:
        return torch.func.functional_call(module, (p, b), xs)

    gm = make_fx(call, tracing_mode="fake")(named_params, buffers, *example_inputs)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    n_p, n_b = len(named_params), len(buffers)
    params = {ph.name: (fqn, p.numel()) for ph, (fqn, p) in zip(placeholders[:n_p], named_params.items())}
    consts = {ph.name for ph in placeholders[n_p:n_p + n_b]}
    return gm.graph, params, consts, [ph.name for ph in placeholders[n_p + n_b:]]


def capture(module: nn.Module, example_inputs: tuple, model: str) -> tuple[fx.Graph, dict, set, list[str]]:
    """(graph, parameters by placeholder, constant placeholders, user input placeholders)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return _capture_export(module, example_inputs)
    except Exception as exc:  # noqa: BLE001 - export raises many types; make_fx is the documented fallback
        first = exc
        log.info("%s: torch.export failed (%s); trying make_fx", model, _first_line(exc))
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return _capture_fx(module, example_inputs)
    except Exception as exc:  # noqa: BLE001 - report both failures in one line
        raise TraceError(f"cannot be traced: torch.export: {_first_line(first)}; make_fx: {_first_line(exc)}",
                         where=model) from None


# -- the walk ----------------------------------------------------------------------------------
def _walk(graph: fx.Graph, params: dict, consts: set, user_inputs: dict[str, str], model: str) -> Walk:
    from .aten_ops import CONST_OPS, CONVERTERS, SKIP_OPS, getitem

    walk = Walk(graph, params, model)
    for node in graph.nodes:
        if node.op == "placeholder":
            if node.name in params:
                walk.const[node] = frozenset({params[node.name][0]})
            elif node.name in user_inputs and isinstance(node.meta.get("val"), torch.Tensor):
                walk.inputs[user_inputs[node.name]] = walk.out_shape(node)
                walk.tensor[node] = user_inputs[node.name]
            else:
                walk.const[node] = frozenset()
        elif node.op == "get_attr":
            walk.const[node] = frozenset()
        elif node.op == "call_function":
            _convert(walk, node, CONVERTERS, SKIP_OPS, CONST_OPS, getitem)
        elif node.op == "call_module":
            raise walk.error(node, "a submodule call left in the graph")
    if not walk.ops:
        raise InputError("no operators: the model does no computation on its inputs", where=model)
    return walk


def _convert(walk: Walk, node: fx.Node, converters: dict, skip: set, const_ops: set, getitem: Any) -> None:
    target = node.target
    acts = walk.acts((node.args, node.kwargs))
    if target is operator.getitem:
        if node.args[0] in walk.const:
            walk.const[node] = walk.origins(node.args)
        else:
            getitem(walk, node)
        return
    if not acts or target in const_ops or not isinstance(node.meta.get("val"), (torch.Tensor, list, tuple)):
        walk.const[node] = walk.origins((node.args, node.kwargs))  # computed from constants alone
        return
    if target in skip:
        walk.alias(node, acts[0])
        return
    convert = converters.get(target)
    if convert is None:
        raise walk.error(node, "operator not expressible in hwpower")
    convert(walk, node)


def graph_from_module(module: nn.Module, example_inputs: tuple, *, name: str | None = None,
                      source: str | None = None, input_names: list[str] | None = None) -> GraphNetwork:
    """Capture ``module`` on ``example_inputs`` (tensors, possibly on the "meta" device) and convert
    it to an operator graph; raises :class:`InputError` naming the module path and ATen operator
    of anything that has no hwpower equivalent. Graph inputs are named ``input_names`` (default:
    the names of ``forward``'s arguments)."""
    model = name or type(module).__name__
    module = module.eval()  # inference: batch norm uses running statistics, dropout is off
    with torch.no_grad():
        graph, params, consts, user_inputs = capture(module, tuple(example_inputs), model)
    if input_names is not None and len(input_names) != len(user_inputs):
        raise InputError(f"{len(input_names)} input names for {len(user_inputs)} inputs", where=model)
    walk = _walk(graph, params, consts, dict(zip(user_inputs, input_names or user_inputs, strict=True)), model)
    _count_leftovers(walk, module)
    try:
        return GraphNetwork.build(walk.ops, walk.inputs, name=name, source=source)
    except ValueError as exc:
        raise InputError(str(exc), where=model) from None


def _count_leftovers(walk: Walk, module: nn.Module) -> None:
    """Parameters no operator consumed (unused heads, a parameter only read by shape) still belong
    to the model: the last operator carries them, so weights add up to the module's parameters."""
    tensors: dict[int, tuple[set[str], int]] = {}  # a tied tensor has several names: left over if none was read
    for fqn, p in module.named_parameters(remove_duplicate=False):
        tensors.setdefault(id(p), (set(), p.numel()))[0].add(fqn)
    left = sum(n for names, n in tensors.values() if not names & walk.counted)
    if left:
        last = walk.ops[-1]
        walk.ops[-1] = Op.build(last.name, last.kind, last.inputs, last.in_shapes, last.out_shape,
                                **{**last.attr_dict, "params": last.attr("params") + left})
        log.info("%s: %d parameter elements consumed by no operator, carried by %s", walk.model, left, last.name)


@contextlib.contextmanager
def state_on_meta() -> Iterator[None]:
    """Modules made inside keep their parameters and buffers on "meta": what ``__init__`` computes
    runs on the CPU, the (large) state is never filled. A method patch, undone on exit."""
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True) -> None:
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer
