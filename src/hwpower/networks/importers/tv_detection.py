"""The traceable, MAC-carrying part of torchvision's detection models.

A detection model takes a list of images and ends in data-dependent steps: anchor decoding,
non-maximum suppression, a variable number of boxes. Those do few operations but cannot be
traced to a fixed graph. What is imported instead is every layer with parameters, on the tensor
shapes inference gives them:

- the input normalisation, the backbone (with its FPN) and the dense heads (RPN head for the
  R-CNNs; the classification / regression heads of RetinaNet, FCOS, SSD, SSDlite) on a square
  image of the size inference resizes to (``transform.min_size[-1]``: 800 for most, 320 for the
  MobileNet-320 R-CNN; SSD's fixed 300 / 320);
- for the R-CNNs, the box head and predictor on ``rpn.post_nms_top_n`` (1000 at test time) pooled
  regions per image, and the mask / keypoint heads on ``detections_per_img`` (100) regions. These
  pooled regions are extra graph inputs (``box_rois``, ``mask_rois``, ``keypoint_rois``): the
  multi-scale RoIAlign that makes them, a bilinear gather, is not counted.

So the parameters are all the model's and the MACs are those of a full image with the maximum
number of regions, as a fixed-size accelerator would be sized.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision.models.detection.fcos import FCOS
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.retinanet import RetinaNet
from torchvision.models.detection.ssd import SSD

from ...errors import InputError
from . import ImportOptions


def _image_side(model: nn.Module) -> int:
    fixed = getattr(model.transform, "fixed_size", None)
    return int(fixed[0]) if fixed else int(model.transform.min_size[-1])  # inference resizes to the last


def _rcnn_rois(model: GeneralizedRCNN, batch: int) -> dict[str, tuple[int, ...]]:
    heads = model.roi_heads
    channels = model.backbone.out_channels
    shapes = {"box_rois": (batch * heads_count(model), channels, *_pool_size(heads.box_roi_pool))}
    for key in ("mask", "keypoint"):
        pool = getattr(heads, f"{key}_roi_pool", None)
        if pool is not None:
            shapes[f"{key}_rois"] = (batch * heads.detections_per_img, channels, *_pool_size(pool))
    return shapes


def heads_count(model: GeneralizedRCNN) -> int:
    """Regions the box head sees per image at inference (after the RPN's NMS, at most this many)."""
    return int(model.rpn._post_nms_top_n["testing"])


def _pool_size(pool: nn.Module) -> tuple[int, int]:
    return tuple(int(s) for s in pool.output_size)  # type: ignore[return-value]


def detection_inputs(model: nn.Module, options: ImportOptions) -> dict[str, tuple[int, ...]]:
    """Input names and shapes: the image, then the pooled regions of each R-CNN head."""
    side = options.resolution or _image_side(model)
    image = tuple(options.input_shape) if options.input_shape else (options.batch, 3, side, side)
    rois = _rcnn_rois(model, image[0]) if isinstance(model, GeneralizedRCNN) else {}
    return {"images": image, **rois}


class DetectionParts(nn.Module):
    """Normalisation, backbone and heads of a detection model, on an image tensor and pooled regions."""

    def __init__(self, model: nn.Module, heads: Callable[[nn.Module, list, tuple], list]):
        super().__init__()
        self.model = model  # keeps the parameters' names
        self.heads = heads

    def forward(self, images: torch.Tensor, *rois: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = self.model
        features = m.backbone(m.transform.normalize(images))
        if isinstance(features, torch.Tensor):
            features = {"0": features}
        return tuple(self.heads(m, list(features.values()), rois))


def _rcnn_heads(m: GeneralizedRCNN, features: list, rois: tuple) -> list:
    objectness, deltas = m.rpn.head(features)
    heads = m.roi_heads
    outs = [*objectness, *deltas, *heads.box_predictor(heads.box_head(rois[0]))]
    rest = list(rois[1:])
    if getattr(heads, "mask_head", None) is not None:
        outs.append(heads.mask_predictor(heads.mask_head(rest.pop(0))))
    if getattr(heads, "keypoint_head", None) is not None:
        outs.append(heads.keypoint_predictor(heads.keypoint_head(rest.pop(0))))
    return outs


def _dense_heads(m: nn.Module, features: list, rois: tuple) -> list:
    return list(m.head(features).values())


HEADS: dict[type[nn.Module], Callable[[nn.Module, list, tuple], list]] = {
    GeneralizedRCNN: _rcnn_heads, RetinaNet: _dense_heads, FCOS: _dense_heads, SSD: _dense_heads,
}


def traceable_detection(model: nn.Module) -> DetectionParts:
    for cls in type(model).__mro__:
        if cls in HEADS:
            return DetectionParts(model, HEADS[cls]).eval()
    raise InputError(f"no traceable parts known for detection model class {type(model).__name__}",
                     where=type(model).__name__)
