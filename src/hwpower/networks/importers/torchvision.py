"""``torchvision:NAME``: any model of ``torchvision.models.list_models()`` as an operator graph.

Models are built without weights (``weights=None``, and ``weights_backbone=None`` so that no
backbone is downloaded either), in the architecture of their published default weights (the
auxiliary heads the published parameter counts include: FCN/DeepLabV3 ``aux_loss=True``,
GoogLeNet without its training-only auxiliary classifiers; quantizable models unquantized).

The input follows the default weights' preprocessing (``get_model_weights(name).DEFAULT``):

- classification: ``(batch, 3, crop, crop)`` with the transforms' ``crop_size`` (224 for most,
  EfficientNet-B1..B7 240..600, Inception-V3 299, ViT-H/14 518, RegNet-*-128GF 384 ...);
- segmentation: the transforms' ``resize_size`` square (520);
- video: ``(batch, 3, 16, crop, crop)`` clips of 16 frames (112 px for the ResNet-3D family);
- optical flow: two ``(batch, 3, 520, 960)`` frames (Sintel/Kitti-like; at least ``min_size``);
- detection: see :mod:`.tv_detection` (the backbone and heads at the model's own ``min_size``).

``resolution`` replaces the image side and ``batch`` the batch; ``input_shape`` gives the whole
first input. Models are built on the "meta" device (no memory, no random initialisation) and
rebuilt on the CPU when their builder computes with tensors (RegNet's widths).
"""

from __future__ import annotations

import difflib
import inspect
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchvision import models

from ...errors import InputError
from ..graph import GraphNetwork
from . import ImportOptions
from .torch_graph import TraceError, graph_from_module, state_on_meta

log = logging.getLogger(__name__)

FAMILIES: dict[str, Any] = {
    "classification": models, "segmentation": models.segmentation, "detection": models.detection,
    "video": models.video, "optical_flow": models.optical_flow, "quantized": models.quantization,
}
# Builder arguments that give the architecture of the published weights (their num_params).
PUBLISHED_CONFIG: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "quantized_googlenet": {"aux_logits": False, "init_weights": False}, "inception_v3": {"init_weights": False},
    "quantized_inception_v3": {"init_weights": False},
    **{n: {"aux_loss": True} for n in ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50",
                                       "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large")},
}
# Builders whose architecture depends on the input size (a position embedding, window grid), by
# the builder's module: the keyword that sets it from the image side.
SIZE_ARGUMENTS: dict[str, Callable[[int], dict[str, Any]]] = {
    "torchvision.models.vision_transformer": lambda side: {"image_size": side},
    "torchvision.models.maxvit": lambda side: {"input_size": (side, side)},
}
VIDEO_FRAMES = 16
FLOW_SIZE = (520, 960)


def family_of(name: str) -> str:
    """The torchvision family of a model name; raises with close matches for an unknown name."""
    for family, module in FAMILIES.items():
        if name in models.list_models(module=module):
            return family
    known = models.list_models()
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}?" if close else f"{len(known)} models, e.g. resnet50, vit_b_16"
    raise InputError(f"unknown torchvision model ({hint})", where=f"torchvision:{name}")


def default_weights(name: str) -> Any:
    return models.get_model_weights(name).DEFAULT


def _preset_size(weights: Any, key: str) -> int:
    value = getattr(weights.transforms, "keywords", {}).get(key)
    if value is None:
        raise InputError(f"the default weights' transforms give no {key}", where=f"torchvision:{weights}")
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def input_shapes(name: str, options: ImportOptions, model: nn.Module | None) -> dict[str, tuple[int, ...]]:
    """The example inputs' names and shapes for ``name`` (built as ``model``) by the rules above."""
    family = family_of(name)
    weights = default_weights(name)
    b = options.batch
    if family in ("classification", "quantized"):
        side = options.resolution or _preset_size(weights, "crop_size")
        shapes = [(b, 3, side, side)]
    elif family == "segmentation":
        side = options.resolution or _preset_size(weights, "resize_size")
        shapes = [(b, 3, side, side)]
    elif family == "video":
        side = options.resolution or _preset_size(weights, "crop_size")
        shapes = [(b, 3, VIDEO_FRAMES, side, side)]
    elif family == "optical_flow":
        h, w = (options.resolution, options.resolution) if options.resolution else FLOW_SIZE
        shapes = [(b, 3, h, w)] * 2
    else:
        from .tv_detection import detection_inputs

        return detection_inputs(model, options)
    if options.input_shape is not None:
        shapes = [tuple(options.input_shape)] * len(shapes)
    return dict(zip(("image1", "image2") if family == "optical_flow" else ("x",), shapes, strict=True))


def build(name: str, num_classes: int | None, device: str = "meta", side: int | None = None) -> nn.Module:
    """The model without weights, in its published architecture, on ``device``; for an image
    ``side`` when its architecture depends on it (ViT, MaxViT)."""
    builder = models.get_model_builder(name)
    params = inspect.signature(builder).parameters
    kwargs: dict[str, Any] = {"weights": None, **PUBLISHED_CONFIG.get(name, {})}
    if side is not None and builder.__module__ in SIZE_ARGUMENTS:
        kwargs.update(SIZE_ARGUMENTS[builder.__module__](side))
    if "weights_backbone" in params:
        kwargs["weights_backbone"] = None  # never download an ImageNet backbone
    if "quantize" in params:
        kwargs["quantize"] = False  # quantized kernels are not ATen operators; the float model has the same MACs
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    with torch.device(device):
        try:
            return builder(**kwargs).eval()
        except (ValueError, TypeError, AssertionError) as exc:  # e.g. MaxViT: a size its windows do not divide
            raise InputError(f"cannot be built with these options: {str(exc).strip().splitlines()[0]}",
                             where=f"torchvision:{name}") from None


def build_any_device(name: str, num_classes: int | None, side: int | None = None) -> nn.Module:
    """Built on "meta"; when the builder computes with tensors (RegNet's widths), built on the CPU
    with only its parameters and buffers moved to "meta" as they are made (no initialisation)."""
    try:
        return build(name, num_classes, "meta", side)
    except (NotImplementedError, RuntimeError) as exc:  # e.g. RegNet: "Cannot copy out of meta tensor"
        log.info("torchvision %s: cannot build on meta (%s); building on the CPU", name, str(exc).splitlines()[0])
        with state_on_meta():
            return build(name, num_classes, "cpu", side)




def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def import_torchvision(name: str, options: ImportOptions) -> GraphNetwork:
    """Build torchvision's ``name`` (e.g. ``"resnet50"``) without weights and convert it."""
    family = family_of(name)  # an unknown name fails here, with close matches
    side = None
    if family in ("classification", "quantized"):
        side = options.input_shape[-1] if options.input_shape else input_shapes(name, options, None)["x"][-1]
    model = build_any_device(name, options.num_classes, side)
    shapes = input_shapes(name, options, model)
    try:
        return _convert(model, name, shapes)
    except TraceError:
        if _device(model).type != "meta":
            raise
        log.info("torchvision %s: capture on meta failed; retrying on the CPU", name)
        return _convert(build(name, options.num_classes, "cpu", side), name, shapes)


def _convert(model: nn.Module, name: str, shapes: dict[str, tuple[int, ...]]) -> GraphNetwork:
    if family_of(name) == "detection":
        from .tv_detection import traceable_detection

        model = traceable_detection(model)
    device = _device(model)
    inputs = tuple(torch.zeros(s, device=device) for s in shapes.values())
    return graph_from_module(model, inputs, name=name, source=f"torchvision:{name}", input_names=list(shapes))


def import_torchvision_blocks(name: str, options: ImportOptions) -> Any:
    """The block form (``torchvision-blocks:NAME``) of the classification models made of known blocks."""
    from ..torchvision_import import import_torchvision as import_blocks

    return import_blocks(name, num_classes=options.num_classes or 1000, resolution=options.resolution or 224)


def published_counts(name: str) -> tuple[float, int]:
    """(MACs, parameters) torchvision publishes for ``name``'s default weights (``_ops`` is GMACs)."""
    meta = default_weights(name).meta
    return meta["_ops"] * 1e9, int(meta["num_params"])
