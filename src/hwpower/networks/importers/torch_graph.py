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
registered for its exact overload in :data:`hwpower.networks.importers.aten_registry.CONVERTERS`.

Layers, each importing only those below it: :mod:`.fx_walk` (the :class:`~.fx_walk.Walk` state),
:mod:`.aten_registry` (the converter table and argument helpers), the converters
(:mod:`.aten_ops`, :mod:`.aten_other`, :mod:`.aten_move`), and this module (capture and the walk).
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
from ..ops import Op
from . import aten_ops, aten_other  # noqa: F401 - their converters register themselves in CONVERTERS
from .aten_move import CONST_OPS, SKIP_OPS, getitem
from .aten_registry import CONVERTERS
from .fx_walk import Walk

log = logging.getLogger(__name__)


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
