"""``module:PACKAGE.MODULE:FACTORY[?KEY=VALUE&...]``: any ``nn.Module`` a Python callable returns.

The factory is imported from the module path (which must be importable: an installed package, or
a file on ``PYTHONPATH``) and called with the keyword arguments of the query string, each parsed
as a Python literal when it is one (``depth=18``, ``pretrained=False``) and kept as text
otherwise. For example::

    module:timm:create_model?model_name=resnet50            # timm's registry
    module:torchvision.models:resnet50?num_classes=10       # any builder function or class
    module:my_project.nets:build_net?width=64 --input-shape 1,3,64,64

The example input is a float tensor of ``input_shape`` (``--input-shape``), else of
``(batch, 3, resolution, resolution)`` when a resolution is given, else of the model's own
``pretrained_cfg["input_size"]`` (timm models carry one). Weights are never loaded: ``pretrained``
must not be true. The module is built on the "meta" device when its factory allows, else on the CPU.
"""

from __future__ import annotations

import ast
import importlib
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import torch
from torch import nn

from ...errors import InputError
from ..graph import GraphNetwork
from . import ImportOptions
from .torch_graph import TraceError, graph_from_module, state_on_meta

log = logging.getLogger(__name__)


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``package.module:factory?k=v`` -> (module path, factory name, keyword arguments)."""
    target, _, query = spec.partition("?")
    module_path, sep, factory = target.rpartition(":")
    if not sep or not module_path or not factory:
        raise InputError("expected module:PACKAGE.MODULE:FACTORY[?KEY=VALUE&...], "
                         "e.g. module:timm:create_model?model_name=resnet50", where=f"module:{spec}")
    kwargs = {k: _literal(v) for k, v in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))}
    if kwargs.get("pretrained"):
        raise InputError("pretrained weights are never downloaded: drop pretrained=True", where=f"module:{spec}")
    return module_path, factory, kwargs


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain word, e.g. model_name=resnet50


def load_factory(module_path: str, factory: str, where: str) -> Callable[..., Any]:
    try:
        module = importlib.import_module(module_path)
    except ImportError as exc:
        raise InputError(f"cannot import {module_path!r}: {exc}", where=where) from None
    fn = getattr(module, factory, None)
    if not callable(fn):
        raise InputError(f"{module_path!r} has no callable {factory!r}", where=where)
    return fn


def _build(fn: Callable[..., Any], kwargs: dict[str, Any], device: str, where: str) -> nn.Module:
    with torch.device(device):
        try:
            model = fn(**kwargs)
        except TypeError as exc:  # wrong keyword arguments: the user's to fix
            raise InputError(f"calling the factory failed: {exc}", where=where) from None
    if not isinstance(model, nn.Module):
        raise InputError(f"the factory returned a {type(model).__name__}, not a torch.nn.Module", where=where)
    return model.eval()


def _input_shape(model: nn.Module, options: ImportOptions, where: str) -> tuple[int, ...]:
    if options.input_shape is not None:
        return tuple(options.input_shape)
    if options.resolution is not None:
        return (options.batch, 3, options.resolution, options.resolution)
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None) or {}
    if "input_size" in cfg:
        return (options.batch, *cfg["input_size"])
    raise InputError("the input shape is unknown: give --input-shape (e.g. 1,3,224,224) or --resolution", where=where)


def import_factory(spec: str, options: ImportOptions) -> GraphNetwork:
    """Import the module the factory named by ``spec`` returns (see the module documentation)."""
    where = f"module:{spec}"
    module_path, factory, kwargs = parse_spec(spec)
    if options.num_classes is not None:
        kwargs.setdefault("num_classes", options.num_classes)
    fn = load_factory(module_path, factory, where)
    name = str(kwargs.get("model_name", factory))
    try:
        model = _build(fn, kwargs, "meta", where)
    except (NotImplementedError, RuntimeError) as exc:  # the factory computes with tensors
        log.info("%s: cannot build on meta (%s); building on the CPU", where, str(exc).splitlines()[0])
        with state_on_meta():
            model = _build(fn, kwargs, "cpu", where)
    shape = _input_shape(model, options, where)
    try:
        return _convert(model, shape, name, where)
    except TraceError:
        if next(model.parameters(), torch.empty(0)).device.type != "meta":
            raise
        return _convert(_build(fn, kwargs, "cpu", where), shape, name, where)


def _convert(model: nn.Module, shape: tuple[int, ...], name: str, source: str) -> GraphNetwork:
    p = next(model.parameters(), None)
    x = torch.zeros(shape, device=p.device if p is not None else "cpu")
    return graph_from_module(model, (x,), name=name, source=source)
