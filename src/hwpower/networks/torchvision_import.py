"""Turn a torchvision model definition into a block sequence, without downloading weights.

The model is built with ``weights=None`` and traced with :mod:`torch.fx`. A custom tracer keeps the
known torchvision blocks (ResNet ``BasicBlock``/``Bottleneck``, the MobileNetV2/V3 inverted
residuals, EfficientNet ``MBConv``, ``Conv2dNormActivation``) and the plain layers (convolution,
linear, pooling, batch norm, activations) as leaves; shape propagation gives each leaf its input
size. Each leaf is converted by a converter registered for its module class (never by name).
Batch norm and activations that follow a plain convolution or linear layer are folded into that
block; dropout, flatten and identity are skipped. Residual adds inside torchvision blocks are part
of our blocks; any other operation outside a known block is reported as unsupported.

Importing this module imports torch; :mod:`hwpower.networks.reference` does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torchvision.models import efficientnet, mobilenetv2, mobilenetv3, resnet
from torchvision.ops import Conv2dNormActivation, SqueezeExcitation

from ..errors import InputError
from .blocks import Block, ConvBlock, LinearBlock, MBConvBlock, PoolBlock, ResidualBlock
from .network import Network

log = logging.getLogger(__name__)

ACTIVATION_NAMES: dict[type[nn.Module], str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hswish", nn.Hardsigmoid: "hsigmoid",
    nn.SiLU: "swish", nn.Sigmoid: "sigmoid",
}
# Modules that change neither shape nor counted work.
PASSTHROUGH: tuple[type[nn.Module], ...] = (nn.Dropout, nn.Flatten, nn.Identity)
PASSTHROUGH_FUNCTIONS: tuple[Callable[..., Any], ...] = (torch.flatten,)

Converter = Callable[[nn.Module, tuple[int, int, int]], Block]
CONVERTERS: dict[type[nn.Module], Converter] = {}


def converts(*classes: type[nn.Module]) -> Callable[[Converter], Converter]:
    """Register a converter for module classes: ``fn(module, (channels, height, width)) -> Block``."""
    def wrap(fn: Converter) -> Converter:
        for cls in classes:
            CONVERTERS[cls] = fn
        return fn
    return wrap


def _unsupported(module: nn.Module, why: str) -> InputError:
    return InputError(f"{why} (not expressible as hwpower blocks)", where=type(module).__name__)


def _activation_of(modules: list[nn.Module]) -> str:
    for m in modules:
        if type(m) in ACTIVATION_NAMES:
            return ACTIVATION_NAMES[type(m)]
    return "none"


def _plain_conv(conv: nn.Conv2d, size: int, *, norm: bool, activation: str) -> ConvBlock:
    for attr in ("kernel_size", "stride", "padding", "dilation"):
        value = getattr(conv, attr)
        if isinstance(value, str) or len(set(value)) != 1:
            raise _unsupported(conv, f"non-square {attr} {value}")
    if conv.dilation[0] != 1:
        raise _unsupported(conv, f"dilation {conv.dilation}")
    kernel, padding = conv.kernel_size[0], conv.padding[0]
    return ConvBlock(conv.in_channels, conv.out_channels, kernel, size, stride=conv.stride[0], groups=conv.groups,
                     padding=None if padding == kernel // 2 else padding,  # None: the default, kernel // 2
                     activation=activation, bias=conv.bias is not None, norm=norm)


@converts(nn.Conv2d)
def _conv(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    return _plain_conv(module, shape[1], norm=False, activation="none")


@converts(Conv2dNormActivation)
def _conv_norm_act(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    parts = list(module.children())
    norm = any(isinstance(m, nn.BatchNorm2d) for m in parts)
    return _plain_conv(parts[0], shape[1], norm=norm, activation=_activation_of(parts))


@converts(nn.Linear)
def _linear(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    return LinearBlock(module.in_features, module.out_features, bias=module.bias is not None, activation="none")


def _pair_value(module: nn.Module, value: Any, what: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise _unsupported(module, f"non-square {what} {value}")
        value = value[0]
    return int(value)


@converts(nn.MaxPool2d, nn.AvgPool2d)
def _pool(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    if getattr(module, "ceil_mode", False) or _pair_value(module, getattr(module, "dilation", 1), "dilation") != 1:
        raise _unsupported(module, "ceil_mode or dilation")
    kernel = _pair_value(module, module.kernel_size, "kernel")
    stride = _pair_value(module, module.stride or kernel, "stride")
    mode = "max" if isinstance(module, nn.MaxPool2d) else "avg"
    return PoolBlock(shape[0], shape[1], mode=mode, kernel=kernel, stride=None if stride == kernel else stride,
                     padding=_pair_value(module, module.padding, "padding"))


def _adaptive_pool(channels: int, size: int, out_size: Any, mode: str, what: str) -> Block:
    out = out_size if isinstance(out_size, int) else out_size[0]
    if not isinstance(out_size, int) and len(set(out_size)) != 1:
        raise InputError(f"non-square output size {out_size}", where=what)
    if out == 1:
        return PoolBlock(channels, size, mode=mode, global_pool=True)
    if size % out:  # adaptive pooling with uneven windows has no fixed kernel
        raise InputError(f"output size {out} does not divide input size {size}", where=what)
    return PoolBlock(channels, size, mode=mode, kernel=size // out, stride=size // out)


@converts(nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
def _adaptive_pool_module(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    mode = "max" if isinstance(module, nn.AdaptiveMaxPool2d) else "avg"
    return _adaptive_pool(shape[0], shape[1], module.output_size, mode, type(module).__name__)


@converts(resnet.BasicBlock, resnet.Bottleneck)
def _resblock(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    convs = [module.conv1, module.conv2] + ([module.conv3] if isinstance(module, resnet.Bottleneck) else [])
    if any(c.groups != 1 or c.dilation != (1, 1) for c in convs):
        raise _unsupported(module, "grouped or dilated convolutions (ResNeXt, dilated ResNet)")
    kind = "basic" if isinstance(module, resnet.BasicBlock) else "bottleneck"
    block = ResidualBlock(convs[0].in_channels, convs[-1].out_channels, convs[0].out_channels, shape[1],
                          stride=module.conv2.stride[0] if kind == "bottleneck" else module.conv1.stride[0], kind=kind)
    has_shortcut = module.downsample is not None
    if has_shortcut != any(layer.branch for layer in block.layers()):
        raise _unsupported(module, "a shortcut projection that our block would not add")
    return block


@converts(mobilenetv2.InvertedResidual, mobilenetv3.InvertedResidual, efficientnet.MBConv)
def _inverted_residual(module: nn.Module, shape: tuple[int, int, int]) -> Block:
    se_modules = [m for m in module.modules() if isinstance(m, SqueezeExcitation)]
    in_se = {id(m) for se in se_modules for m in se.modules()}
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d) and id(m) not in in_se]
    acts = [m for m in module.modules() if type(m) in ACTIVATION_NAMES and id(m) not in in_se]
    depthwise = [c for c in convs if c.groups > 1]
    if len(depthwise) != 1 or len(convs) not in (2, 3) or len(se_modules) > 1:
        raise _unsupported(module, "an inverted residual that is not [expand], depthwise, [SE], project")
    dw, project = depthwise[0], convs[-1]
    c_in = convs[0].in_channels
    block = MBConvBlock(c_in, project.out_channels, dw.in_channels / c_in, dw.kernel_size[0], dw.stride[0], shape[1],
                        se=bool(se_modules), activation=_activation_of(acts), mid_channels=dw.in_channels,
                        se_channels=se_modules[0].fc1.out_channels if se_modules else None)
    block.check()
    if block.residual != module.use_res_connect:
        raise _unsupported(module, "a residual connection that differs from stride 1 and equal channels")
    return block


class _Tracer(fx.Tracer):
    """Keeps registered blocks and torch's own layers as leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return type(m) in CONVERTERS or super().is_leaf_module(m, module_qualified_name)


def _shape(node: fx.Node, where: str) -> tuple[int, int, int]:
    meta = node.meta.get("tensor_meta")
    dims = tuple(meta.shape) if meta is not None else ()
    if len(dims) == 4 and dims[2] == dims[3]:
        return (int(dims[1]), int(dims[2]), int(dims[3]))
    if len(dims) == 2:
        return (int(dims[1]), 1, 1)
    raise InputError(f"input shape {dims} is not (1, C, H, H) or (1, F)", where=where)


def _fold(blocks: list[Block], **changes: Any) -> bool:
    """Fold batch norm or an activation into the previous conv/linear block if it has none yet."""
    if not blocks or not isinstance(blocks[-1], (ConvBlock, LinearBlock)):
        return False
    prev = blocks[-1]
    if "norm" in changes and (not isinstance(prev, ConvBlock) or prev.norm or prev.activation != "none"):
        return False
    if "activation" in changes and prev.activation != "none":
        return False
    blocks[-1] = dataclasses.replace(prev, **changes)
    return True


def graph_to_blocks(gm: fx.GraphModule) -> list[Block]:
    """Convert a shape-propagated, traced module whose top level is a chain of leaves."""
    modules = dict(gm.named_modules())
    blocks: list[Block] = []
    current: fx.Node | None = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            current = node
            continue
        if node.op == "output":
            break
        target = node.target if node.op == "call_module" else getattr(node.target, "__name__", node.target)
        where = f"{node.op} {target}"
        inputs = list(node.all_input_nodes)
        if inputs != [current]:
            raise InputError("the model is not a chain of known blocks at the top level "
                             f"(inputs {[str(a) for a in inputs]}, expected [{current}])", where=where)
        current = node
        if node.op == "call_module":
            module = modules[node.target]
            cls = type(module)
            if cls in CONVERTERS:
                blocks.append(CONVERTERS[cls](module, _shape(inputs[0], where)))
            elif isinstance(module, nn.BatchNorm2d):
                if not _fold(blocks, norm=True):
                    raise InputError("batch norm that does not follow a plain convolution", where=where)
            elif cls in ACTIVATION_NAMES:
                _fold(blocks, activation=ACTIVATION_NAMES[cls])  # otherwise free: not counted
            elif not isinstance(module, PASSTHROUGH):
                raise InputError(f"unsupported module class {cls.__module__}.{cls.__name__}", where=where)
        elif node.op == "call_function" and node.target is nn.functional.adaptive_avg_pool2d:
            shape = _shape(inputs[0], where)
            blocks.append(_adaptive_pool(shape[0], shape[1], node.args[1], "avg", where))
        elif not (node.op == "call_function" and node.target in PASSTHROUGH_FUNCTIONS):
            raise InputError("unsupported operation outside a known block", where=where)
    return blocks


def import_module(model: nn.Module, resolution: int = 224, name: str | None = None) -> Network:
    """Trace ``model`` on a (1, 3, resolution, resolution) input and convert it to a network.

    The input is made on the device of the model's parameters ("meta" works and is fastest).
    """
    model = model.eval()  # inference mode: batch norm on a batch of one, dropout off
    tracer = _Tracer()
    try:
        graph = tracer.trace(model)
    except fx.proxy.TraceError as exc:  # data-dependent control flow outside the leaf blocks
        raise InputError(f"cannot be traced with torch.fx: {exc}", where=name) from None
    gm = fx.GraphModule(tracer.root, graph)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    # ShapeProp prints a traceback before it re-raises; we report the cause in one line instead.
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):  # "meta": shapes only, no arithmetic
            ShapeProp(gm).propagate(torch.zeros(1, 3, resolution, resolution, device=device))
    except RuntimeError as exc:  # e.g. a resolution too small for the model's downsampling
        cause = str(exc.__cause__ or exc).strip().splitlines()[0]
        raise InputError(f"fails on a {resolution} px input: {cause}", where=name) from None
    try:
        blocks = graph_to_blocks(gm)
    except InputError as exc:  # say which model the failing node belongs to
        raise InputError(exc.problem, where=", ".join(filter(None, (name, exc.where)))) from None
    try:
        return Network.build(blocks, resolution, name)
    except ValueError as exc:
        raise InputError(str(exc), where=name) from None


def import_torchvision(name: str, num_classes: int = 1000, resolution: int = 224) -> Network:
    """Build torchvision's ``name`` (e.g. ``"resnet50"``) without weights and convert it."""
    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise InputError(f"unknown torchvision classification model (known: {', '.join(sorted(known))})", where=name)
    # Built on the "meta" device: parameters have shapes but no storage, so neither memory nor
    # random initialisation is spent (AlexNet's 61 M parameters took seconds to initialise).
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes)
    log.debug("tracing torchvision %s at %d px", name, resolution)
    return import_module(model, resolution, name)


def published_counts(name: str) -> tuple[float, int]:
    """(MACs, parameters) torchvision publishes for ``name``'s first ImageNet weights.

    torchvision's ``_ops`` is in "GFLOPS" that count multiply-adds, so it is MACs / 1e9.
    Reading the meta downloads nothing.
    """
    weights = list(torchvision.models.get_model_weights(name))[0]
    return weights.meta["_ops"] * 1e9, int(weights.meta["num_params"])
